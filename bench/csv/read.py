"""Reads a CSV file of numbers with one of NumPy, pandas or pyarrow and prints its sum."""
import sys

tool, path = sys.argv[1], sys.argv[2]
if tool == "numpy":
    import numpy as np
    X = np.loadtxt(path, delimiter=",")
elif tool == "pandas":
    import pandas as pd
    X = pd.read_csv(path, header=None).to_numpy()
elif tool == "pyarrow":
    import numpy as np
    import pyarrow.csv as pc
    t = pc.read_csv(path, read_options=pc.ReadOptions(autogenerate_column_names=True))
    X = np.column_stack([c.to_numpy() for c in t.columns])
else:
    raise SystemExit(f"unknown tool {tool}")
print(X.sum())
