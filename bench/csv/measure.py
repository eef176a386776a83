"""Runs a command and prints its wall time (s) and peak resident memory (MB)."""
import os, subprocess, sys, time

t0 = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(p.pid, 0)
t1 = time.perf_counter()
if status != 0:
    raise SystemExit(f"{sys.argv[1:]} failed with status {status}")
print(f"{t1 - t0:.3f} {usage.ru_maxrss / 1024:.0f}")
