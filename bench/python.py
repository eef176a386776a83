"""The codegen workloads (a)-(e) of bench/compute.sh through DaphneLib's Python API, beside
NumPy in the same process on the same array, and the cost of one compute() of a small
compiled program. Run by bench/python.sh (which builds the package in release).

Each workload is one lazy node over `dc.from_numpy(X)` (X used in place, no copy); its first
compute() compiles the program (timed alone: "first"), then the best of `reps` compute()s is
the figure (compiled, warm data), as the best of `reps` runs of the NumPy code. Results are
compared (relative difference) so that a fast wrong answer shows.

Usage: python bench/python.py [n m [reps]]
"""

import sys
import time

import numpy as np

from daphne.context.daphne_context import DaphneContext


def best_of(reps, fn):
    best, out = float("inf"), None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3, out


def workloads(dc, X, y, m):
    """(name, lazy node, NumPy function), each computing what bench/compute/<name>.daph times."""
    DX, Dy = dc.from_numpy(X), dc.from_numpy(y)

    def kmeans_np():
        C = X[0:10, :]
        D = -2.0 * (X @ C.T) + (X ** 2).sum(axis=1, keepdims=True) + (C ** 2).sum(axis=1)[None, :]
        A = D.argmin(axis=1)
        P = (A[:, None] == np.arange(10)[None, :]).astype(float)
        return (P.T @ X) / np.maximum(P.sum(axis=0)[:, None], 1.0)

    C = DX[0:10, :]
    D = -2.0 * (DX @ C.t()) + (DX ** 2).sum(0) + (C ** 2).sum(0).t()
    P = D.idxMin(0).asType(vtype="f64").outerEq(dc.seq(0.0, 9.0, 1.0).t())
    kmeans = (P.t() @ DX) / P.sum(1).t().max(1.0)

    return [
        ("a_chain", (((DX * 2 + 1) ** 2) / (DX + 3)).sum(),
         lambda: np.sum(((X * 2 + 1) ** 2) / (X + 3))),
        ("b_colstats", DX.mean(1).rbind(DX.stddev(1)),
         lambda: np.vstack([X.mean(axis=0), X.std(axis=0)])),
        ("c_gram", (DX.t() @ DX).cbind(DX.t() @ Dy),
         lambda: np.hstack([X.T @ X, X.T @ y])),
        ("d_linreg", (DX.t() @ DX + dc.diagMatrix(dc.fill(0.001, m, 1))).solve(DX.t() @ Dy),
         lambda: np.linalg.solve(X.T @ X + np.diag(np.full(m, 0.001)), X.T @ y)),
        ("e_kmeans", kmeans, kmeans_np),
    ]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    rng = np.random.default_rng(42)
    X, y = rng.random((n, m)), rng.random((n, 1))
    dc = DaphneContext()
    print(f"# {n}x{m} f64, best of {reps} compute()s after the first (which compiles); NumPy {np.__version__}")
    print(f"{'workload':<12} {'first':>10} {'daphne-rs':>12} {'numpy':>10} {'speedup':>8} {'rel.diff':>9}")
    for name, node, numpy_fn in workloads(dc, X, y, m):
        t0 = time.perf_counter()
        node.compute()
        first = (time.perf_counter() - t0) * 1e3
        ours, got = best_of(reps, node.compute)
        theirs, want = best_of(reps, numpy_fn)
        got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
        diff = float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))
        print(f"{name:<12} {first:7.1f} ms {ours:9.1f} ms {theirs:7.1f} ms {theirs / ours:7.2f}x {diff:9.1e}")

    # The API's own cost: compute() of a small compiled program (10 x 10 input).
    small = (dc.from_numpy(rng.random((10, 10))) * 2.0 + 1.0).sum()
    small.compute()
    calls = 2000
    t0 = time.perf_counter()
    for _ in range(calls):
        small.compute()
    per = (time.perf_counter() - t0) / calls
    print(f"compute() of a small compiled program (sum(X * 2 + 1), 10x10): {per * 1e3:.3f} ms per call "
          f"(mean of {calls})")


if __name__ == "__main__":
    main()
