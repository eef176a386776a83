#!/usr/bin/env python3
"""Mutates the scripts of tests/run and runs each mutant through the release `daphne`,
reporting any panic or exit status other than 0-3 (the contract: bad input gets a clear
error and DAPHNE's exit code, never a panic). Mutants that run longer than 5 s are skipped.

Usage: cargo build --release && tools/fuzz-pipeline.py [SEED] [CASES]
Panicking inputs are written to /tmp/daphne-fuzz/panicN.daph.
"""
import glob
import os
import random
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAPHNE = os.path.join(ROOT, "target", "release", "daphne")
TOKENS = ["(", ")", "[", "]", ",", ";", "+", "-", "*", "/", "@", "^", "X", "0", "1", "-1", "2.5", '"a"', "nan",
          "true", "sum(", "t(", "X[", ":", "[[", "if", "while", "for", "{", "}", "def f(a) { return a; }",
          "print(", "x", "= ", "1e308", "9223372036854775807"]


def mutate(src, rng):
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(src) + 1)
        r = rng.random()
        if r < 0.4:
            src = src[:i] + rng.choice(TOKENS) + src[i:]
        elif r < 0.8:
            src = src[:i] + src[i + rng.randint(1, 10):]
        else:
            j = rng.randrange(len(src) + 1)
            src = src[:i] + src[j:j + 20] + src[i:]
    return src


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    cases = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    rng = random.Random(seed)
    files = sorted(glob.glob(os.path.join(ROOT, "tests", "run", "**", "*.daph"), recursive=True))
    out_dir = "/tmp/daphne-fuzz"
    os.makedirs(out_dir, exist_ok=True)
    # Mutants may write files: run them in a copy of tests/, never in the repository.
    work = os.path.join(out_dir, "work")
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(os.path.join(ROOT, "tests", "run"), os.path.join(work, "run"))
    case = os.path.join(out_dir, "case.daph")
    panics = 0
    for _ in range(cases):
        with open(rng.choice(files)) as f:
            src = mutate(f.read(), rng)
        with open(case, "w") as f:
            f.write(src)
        try:
            p = subprocess.run([DAPHNE, case], capture_output=True, timeout=5, cwd=work)
        except subprocess.TimeoutExpired:
            continue
        err = p.stderr.decode(errors="replace")
        if "panicked" in err or p.returncode not in (0, 1, 2, 3):
            panics += 1
            with open(os.path.join(out_dir, f"panic{panics}.daph"), "w") as f:
                f.write(src)
            print("PANIC", p.returncode, err[:300])
    print(f"cases: {cases}, panics: {panics}")
    sys.exit(1 if panics else 0)


if __name__ == "__main__":
    main()
