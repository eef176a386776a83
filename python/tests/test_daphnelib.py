"""DaphneLib's API over daphne-rs against NumPy and pandas, in process."""

import os
import re
import time

import numpy as np
import pandas as pd
import pytest

from daphne import DaphneError
from daphne.context.daphne_context import DaphneContext

RNG = np.random.default_rng(25)


@pytest.fixture(scope="module")
def dc():
    return DaphneContext()


def rand(rows, cols):
    return RNG.uniform(0.5, 2.0, size=(rows, cols))


BINARY = [
    ("+", lambda a, b: a + b, lambda a, b: a + b),
    ("-", lambda a, b: a - b, lambda a, b: a - b),
    ("*", lambda a, b: a * b, lambda a, b: a * b),
    ("/", lambda a, b: a / b, lambda a, b: a / b),
    ("**", lambda a, b: a ** b, lambda a, b: a ** b),
    ("<", lambda a, b: a < b, lambda a, b: (a < b).astype(float)),
    ("<=", lambda a, b: a <= b, lambda a, b: (a <= b).astype(float)),
    (">", lambda a, b: a > b, lambda a, b: (a > b).astype(float)),
    (">=", lambda a, b: a >= b, lambda a, b: (a >= b).astype(float)),
    ("==", lambda a, b: a == b, lambda a, b: (a == b).astype(float)),
    ("!=", lambda a, b: a != b, lambda a, b: (a != b).astype(float)),
]


@pytest.mark.parametrize("name,ours,numpy", BINARY, ids=[b[0] for b in BINARY])
def test_binary_operators_against_numpy(dc, name, ours, numpy):
    a, b = rand(40, 7), rand(40, 7)
    b[::3] = a[::3]  # some equal cells for the comparisons
    X, Y = dc.from_numpy(a), dc.from_numpy(b)
    np.testing.assert_allclose(ours(X, Y).compute(), numpy(a, b), rtol=1e-15)
    # With a Python scalar on either side, and a row vector broadcast.
    np.testing.assert_allclose(ours(X, 1.5).compute(), numpy(a, 1.5), rtol=1e-15)
    np.testing.assert_allclose(ours(1.5, X).compute(), numpy(1.5, a), rtol=1e-15)
    row = b[:1]
    np.testing.assert_allclose(ours(X, dc.from_numpy(row)).compute(), numpy(a, row), rtol=1e-15)


def test_matmul_and_methods_against_numpy(dc):
    a, b, s = rand(50, 8), rand(8, 3), rand(8, 8)
    X, B, S = dc.from_numpy(a), dc.from_numpy(b), dc.from_numpy(s + 8 * np.eye(8))
    np.testing.assert_allclose((X @ B).compute(), a @ b, rtol=1e-12)
    np.testing.assert_allclose(X.t().compute(), a.T)
    np.testing.assert_allclose((-X).compute(), -a)
    np.testing.assert_allclose(X.sqrt().compute(), np.sqrt(a), rtol=1e-15)
    np.testing.assert_allclose(X.exp().compute(), np.exp(a), rtol=1e-15)
    np.testing.assert_allclose(X.abs().compute(), np.abs(a))
    assert X.sum().compute() == pytest.approx(a.sum(), rel=1e-13)
    assert X.mean().compute() == pytest.approx(a.mean(), rel=1e-13)
    assert X.aggMax().compute() == a.max()
    assert X.aggMin().compute() == a.min()
    # DaphneLib's (DaphneDSL's) axis: 0 aggregates each row, 1 each column.
    np.testing.assert_allclose(X.sum(0).compute(), a.sum(axis=1, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(X.sum(1).compute(), a.sum(axis=0, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(S.solve(B).compute(), np.linalg.solve(s + 8 * np.eye(8), b), rtol=1e-10)
    np.testing.assert_allclose(X.cbind(X).compute(), np.hstack([a, a]))
    np.testing.assert_allclose(X.rbind(X).compute(), np.vstack([a, a]))
    np.testing.assert_allclose(X.reshape(8, 50).compute(), a.reshape(8, 50))
    assert X.nrow().compute() == 50 and X.ncol().compute() == 8


def test_indexing_and_slicing(dc):
    a = rand(10, 6)
    X = dc.from_numpy(a)
    np.testing.assert_allclose(X[2:5, 1:3].compute(), a[2:5, 1:3])
    np.testing.assert_allclose(X[:, 4].compute(), a[:, 4:5])
    np.testing.assert_allclose(X[3].compute(), a[3:4, :])


def test_a_chain_fuses_into_one_pipeline_and_explain_shows_it(dc):
    a = rand(1000, 4)
    X = dc.from_numpy(a)
    Y = ((X - 1.0) * 2.0 + X.sqrt()).sum()
    assert Y.compute() == pytest.approx(((a - 1.0) * 2.0 + np.sqrt(a)).sum(), rel=1e-12)
    assert "pipeline" in Y.explain()


def test_generated_data(dc):
    np.testing.assert_array_equal(dc.fill(3.5, 2, 3).compute(), np.full((2, 3), 3.5))
    np.testing.assert_array_equal(dc.seq(1, 5).compute(), np.arange(1, 6).reshape(-1, 1))
    r = dc.rand(100, 3, 2.0, 3.0, 1.0, 7).compute()
    assert r.shape == (100, 3) and r.min() >= 2.0 and r.max() <= 3.0
    np.testing.assert_array_equal(r, dc.rand(100, 3, 2.0, 3.0, 1.0, 7).compute(), "a seed replays")


def test_other_dtypes_keep_their_type(dc):
    i = RNG.integers(-100, 100, size=(20, 3))
    r = (dc.from_numpy(i) * 2 + 1).compute()
    assert r.dtype == np.int64
    np.testing.assert_array_equal(r, i * 2 + 1)
    f = rand(5, 5).astype(np.float32)
    r = (dc.from_numpy(f) + 1).compute()
    assert r.dtype == np.float32
    np.testing.assert_array_equal(r, f + np.float32(1))


def test_a_round_trip_is_zero_copy(dc):
    a = rand(1000, 10)
    out = dc.from_numpy(a).compute()
    assert out.__array_interface__["data"][0] == a.__array_interface__["data"][0]
    assert out is a


def test_a_non_contiguous_array_is_copied_once_and_right(dc):
    a = rand(30, 20)
    v = a[::2, ::3]
    np.testing.assert_allclose((dc.from_numpy(v) + 0.0).compute(), v)
    np.testing.assert_allclose((dc.from_numpy(a.T) * 1.0).compute(), a.T)


def test_errors_raise_daphne_error_with_the_message(dc):
    X, Y = dc.from_numpy(rand(3, 4)), dc.from_numpy(rand(5, 2))
    with pytest.raises(DaphneError) as e:
        (X @ Y).compute()
    message, status = e.value.args
    assert "@" in message and "error" in message
    assert status == 3, "a shape mismatch found while running"
    with pytest.raises(DaphneError) as e:
        dc.readMatrix("/nonexistent/file.csv").compute()
    assert "/nonexistent/file.csv" in e.value.args[0]
    with pytest.raises(TypeError):
        dc.from_numpy(np.array([["a", "b"]], dtype=object)).compute()
    with pytest.raises(ValueError):
        dc.from_numpy(np.zeros((2, 2, 2)))


def test_frames_against_pandas(dc):
    df = pd.DataFrame({"a": RNG.uniform(size=50), "b": RNG.integers(0, 9, size=50), "c": RNG.uniform(size=50)})
    F = dc.from_pandas(df)
    out = F.compute()
    pd.testing.assert_frame_equal(out, df)
    pd.testing.assert_frame_equal(F[:, ["a", "c"][0]].compute(), df[["a"]])
    np.testing.assert_allclose(F[:, "c"].toMatrix().compute(), df[["c"]].to_numpy())
    m = F.toMatrix("f64").compute()
    np.testing.assert_allclose(m, df.to_numpy(dtype=float))
    assert F.nrow().compute() == 50 and F.ncol().compute() == 3
    pd.testing.assert_frame_equal(F.setColLabels(["x", "y", "z"]).compute(),
                                  df.set_axis(["x", "y", "z"], axis=1))
    pd.testing.assert_frame_equal(F.rbind(F).compute(), pd.concat([df, df], ignore_index=True))


def test_compute_overhead_on_a_small_program(dc):
    """The API's cost per compute() of a small compiled program (printed; see the README)."""
    X = dc.from_numpy(rand(10, 10))
    Y = (X * 2.0 + 1.0).sum()
    Y.compute()  # compiles
    n = 200
    t = time.perf_counter()
    for _ in range(n):
        Y.compute()
    per = (time.perf_counter() - t) / n
    print(f"\ncompute() of a small compiled program: {per * 1e6:.0f} us")
    assert per < 0.05


def test_the_readme_example_runs():
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "the README has a Python example"
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})


def _worker_binary():
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    for b in (os.environ.get("DAPHNE_BIN"), os.path.join(root, "target", "debug", "daphne"),
              os.path.join(root, "target", "release", "daphne")):
        if b and os.path.exists(b):
            return b
    return None


def test_a_distributed_run_on_a_worker():
    """A product and a reduction over 2^19 cells (above the coordinator's minimum) on a
    `daphne worker` on loopback, against NumPy. Needs the `daphne` binary (`cargo build`;
    `DAPHNE_BIN` names another)."""
    import subprocess
    binary = _worker_binary()
    if binary is None:
        pytest.skip("no daphne binary: cargo build first")
    worker = subprocess.Popen([binary, "worker", "127.0.0.1:0", "--exit-with-stdin"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = worker.stdout.readline()
        m = re.search(r"on (\S+:\d+)", line)
        assert m, line
        dc = DaphneContext(distributed=True, workers=[m.group(1)])
        a = rand(1 << 16, 8)
        X = dc.from_numpy(a)
        np.testing.assert_allclose((X.t() @ X).compute(), a.T @ a, rtol=1e-12)
        assert ((X * 2.0) + 1.0).sum().compute() == pytest.approx((a * 2.0 + 1.0).sum(), rel=1e-12)
    finally:
        worker.stdin.close()
        worker.wait(timeout=30)


@pytest.fixture(scope="module")
def two_workers(request):
    """Two `daphne worker` processes on free loopback ports (port 0: each binds a free one and
    prints it), killed when the module's tests end."""
    import subprocess
    binary = _worker_binary()
    if binary is None:
        pytest.skip("no daphne binary: cargo build --bin daphne first")
    addresses = []
    for _ in range(2):
        worker = subprocess.Popen([binary, "worker", "127.0.0.1:0", "--exit-with-stdin"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

        def stop(worker=worker):
            worker.kill()
            worker.wait(timeout=30)

        request.addfinalizer(stop)
        line = worker.stdout.readline()
        m = re.search(r"on (\S+:\d+)", line)
        assert m, f"the worker said {line!r}"
        addresses.append(m.group(1))
    return addresses


def test_two_workers_give_the_bytes_of_a_local_run(two_workers):
    """Programs over 2^20 cells on two workers and locally: the same bytes (results are
    combined in a canonical order). The coordinator ships a matrix that a run uses again (a
    loop over it), so each program loops."""
    local, remote = DaphneContext(), DaphneContext(distributed=True, workers=two_workers)
    a = np.random.default_rng(7).uniform(-1.0, 1.0, size=(1 << 17, 8))

    def programs(dc):
        X = dc.from_numpy(a)
        (x,) = dc.for_loop([X], lambda x, i: (x * 0.5 + i).sqrt().abs() - 0.25, 1, 4)
        (colsums,) = dc.for_loop([dc.fill(0.0, 1, 8)],
                                 lambda acc, i: acc + ((X * i + 1.0).abs().sqrt()).sum(1), 1, 5)
        (total,) = dc.for_loop([0.0], lambda t, i: t + (X * X * i).sum(), 1, 3)
        (gram,) = dc.for_loop([dc.fill(0.0, 8, 8)], lambda g, i: g + X.t() @ (X * i), 1, 3)
        return {"loop": x, "loop colsums": x.sum(1), "colsums": colsums, "total": total, "gram": gram}

    mine, theirs = programs(local), programs(remote)
    for name in mine:
        want, got = mine[name].compute(), theirs[name].compute()
        assert np.asarray(got).tobytes() == np.asarray(want).tobytes(), name
    stats = remote.distributed_stats()
    assert stats["pipelines"] > 0 and stats["stored_bytes"] > 0 and stats["fetched_bytes"] > 0, stats
    assert local.distributed_stats() is None


def _long_program(dc, n=600, steps=2500):
    """A chain of `steps` solves of n x n systems: ops that do not fuse, each a few ms."""
    A = dc.from_numpy(np.eye(n) * 2.0 + 1.0 / n)
    X = dc.from_numpy(np.ones((n, 1)))
    for _ in range(steps):
        X = A.solve(X)
    return X.sum()


def test_the_gil_is_released_and_ctrl_c_stops_a_run(dc):
    import signal
    import threading
    program = _long_program(dc)
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.01)

    ticker = threading.Thread(target=tick)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    ticker.start()
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            program.compute()
    finally:
        stop.set()
        ticker.join()
        timer.cancel()
    elapsed = time.perf_counter() - start
    # Python ran while the program did (the GIL was released), and Ctrl-C stopped it.
    assert len([t for t in ticks if t > start + 0.1]) > 10, len(ticks)
    # Stopped within a few ops of the signal, far before the whole chain would end.
    assert elapsed < 5.0, elapsed
    # The context works after an interrupted run.
    assert dc.from_numpy(np.ones((2, 2))).sum().compute() == 4.0
