"""The SQL benchmarks in pandas and DuckDB on the same data as group_sum.daph and join.daph:
python relational.py WORKLOAD ENGINE N prints the milliseconds of the best of 3."""
import sys
import time

import numpy as np
import pandas as pd

workload, engine, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
i = np.arange(n, dtype=np.int64)
if workload == "group_sum":
    f = pd.DataFrame({"k": (i * 7919) % 1000, "v": (i % 97).astype(np.float64) * 0.5})
    query = "SELECT f.k, sum(f.v) FROM f GROUP BY f.k"
    run_pandas = lambda: f.groupby("k", sort=True)["v"].sum()
else:
    f = pd.DataFrame({"id": i, "v": (i % 97).astype(np.float64) * 0.5})
    g = pd.DataFrame({"id": (i * 7919) % n, "w": i % 13})
    query = "SELECT f.v, g.w FROM f JOIN g ON f.id = g.id"
    run_pandas = lambda: f.merge(g, on="id")[["v", "w"]]
if engine == "duckdb":
    import duckdb

    con = duckdb.connect()
    con.register("f", f)
    if workload == "join":
        con.register("g", g)
    run = lambda: con.execute(query).df()
else:
    run = run_pandas
best = None
for _ in range(3):
    t0 = time.perf_counter()
    run()
    ms = (time.perf_counter() - t0) * 1000
    best = ms if best is None else min(best, ms)
print(best)
