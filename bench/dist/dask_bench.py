"""Dask baselines for bench/dist.sh: a LocalCluster of 2 worker processes, one thread each
(as `daphne --distributed --local-workers=2` on this 2-core machine).

usage: dask_bench.py roundtrip K | transfer N M | a|b|c|d|e N M | files a|b|c|d|e X.parquet y.parquet
Prints the result, then the figure (ms, or GB/s for transfer) on the last line. `files`: X and
y read by the workers from Parquet files (as `daphne --distributed` reads them). With
DASK_SCHEDULER=tcp://IP:PORT it uses that cluster's workers (bench/cluster.sh: one per network
namespace) instead of starting a LocalCluster."""
import sys, time, warnings, logging
import numpy as np

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
import dask
import dask.array as da
from dask.distributed import Client, LocalCluster, wait


def main():
    what = sys.argv[1]
    import os

    if os.environ.get("DASK_SCHEDULER"):
        cluster, client = None, Client(os.environ["DASK_SCHEDULER"])
    else:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        if what == "roundtrip":
            roundtrip(client, int(sys.argv[2]))
        elif what == "transfer":
            transfer(client, int(sys.argv[2]), int(sys.argv[3]))
        elif what == "files":
            import dask.dataframe as dd

            def read(path):
                # a partition per row group (bench/cluster.sh writes one per worker)
                return dd.read_parquet(path, split_row_groups=True).to_dask_array(lengths=True).astype(float)

            X, y = read(sys.argv[3]), read(sys.argv[4])
            run(client, sys.argv[2], X, y, None)
        else:
            workload(client, what, int(sys.argv[2]), int(sys.argv[3]))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def step(a):
    return a * 0.5 + 1


def roundtrip(client, k):
    x = client.scatter(np.random.default_rng(3).random((2000, 10)))
    f = client.submit(step, x, pure=False)
    wait(f)
    times = []
    for _ in range(k):
        t0 = time.perf_counter()
        f = client.submit(step, f, pure=False)
        wait(f)
        times.append(time.perf_counter() - t0)
    print(f.result().sum())
    print(f"median {np.median(times) * 1000:.3f} ms", file=sys.stderr)
    print(np.mean(times) * 1000)


def transfer(client, n, m):
    X = np.random.default_rng(5).random((n, m))
    parts = [X[: n // 2], X[n // 2 :]]
    t0 = time.perf_counter()
    futures = client.scatter(parts)
    wait(futures)
    t1 = time.perf_counter()
    print(sum(client.submit(np.sum, f).result() for f in futures))
    print(n * m * 8 / (t1 - t0) / 1e9)


def workload(client, what, n, m):
    rng = np.random.default_rng(42)
    Xn = rng.random((n, m))
    yn = rng.random((n, 1))
    chunks = (max(1, n // 4), m)
    X = da.from_array(Xn, chunks=chunks)
    y = da.from_array(yn, chunks=(chunks[0], 1))
    run(client, what, X, y, Xn[0:10, :])


def run(client, what, X, y, C):
    """Times workload `what` on X and y (persisted on the workers first); C: k-means' first
    centers (X's first 10 rows when None)."""
    X, y = client.persist(X), client.persist(y)
    wait([X, y])
    if C is None:
        C = X[0:10, :].compute()
    m = X.shape[1]
    best = 1e9
    for _ in range(3):
        t0 = time.perf_counter()
        if what == "a":
            r = (((X * 2 + 1) ** 2) / (X + 3)).sum().compute()
        elif what == "b":
            mu, sd = dask.compute(X.mean(axis=0), X.std(axis=0))
            r = mu.sum() + sd.sum()
        elif what == "c":
            G, b = dask.compute(X.T @ X, X.T @ y)
            r = G.sum() + b.sum()
        elif what == "d":
            G, b = dask.compute(X.T @ X, X.T @ y)
            beta = np.linalg.solve(G + np.diag(np.full(m, 0.001)), b)
            r = beta.sum()
        elif what == "e":
            D = -2.0 * (X @ C.T) + (X ** 2).sum(axis=1, keepdims=True) + (C ** 2).sum(axis=1)[None, :]
            A = D.argmin(axis=1)
            P = (A[:, None] == np.arange(10)[None, :]).astype(float)
            C2 = (P.T @ X) / np.maximum(P.sum(axis=0)[:, None], 1.0)
            r = C2.compute().sum()
        t1 = time.perf_counter()
        best = min(best, (t1 - t0) * 1000)
    print(r)
    print(best)


if __name__ == "__main__":
    main()
