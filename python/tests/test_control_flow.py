"""DaphneLib's control flow (for_loop, while_loop, do_while_loop, cond) and user functions
(@dc.function), each against the same loop run by NumPy in Python."""

import numpy as np
import pandas as pd
import pytest

from daphne import DaphneError
from daphne.context.daphne_context import DaphneContext
from daphne.operator.nodes import Frame, Matrix, Scalar

RNG = np.random.default_rng(1025)


@pytest.fixture(scope="module")
def dc():
    return DaphneContext()


def test_for_loop_against_numpy(dc):
    a = RNG.uniform(size=(6, 4))
    X = dc.from_numpy(a)
    x, s = dc.for_loop([X, 0.0], lambda x, s, i: (x * 0.5 + i, s + x.sum()), 1, 10)
    ex, es = a, 0.0
    for i in range(1, 11):  # DaphneDSL's end is inclusive
        ex, es = ex * 0.5 + i, es + ex.sum()
    np.testing.assert_allclose(x.compute(), ex, rtol=1e-14)
    assert s.compute() == pytest.approx(es, rel=1e-14)
    assert isinstance(x, Matrix) and isinstance(s, Scalar)


@pytest.mark.parametrize("start,end,step", [(1, 10, 2), (10, 1, -3), (0, 4, None), (5, 4, 1)])
def test_for_loop_steps(dc, start, end, step):
    (out,) = dc.for_loop([dc.fill(0.0, 1, 1)], lambda x, i: x * 10 + i, start, end, step)
    expected = 0.0
    for i in range(start, end + (1 if (step or 1) > 0 else -1), step or 1):
        expected = expected * 10 + i
    assert out.compute()[0, 0] == expected


def test_for_loop_bounds_from_lazy_scalars(dc):
    a = RNG.uniform(size=(7, 3))
    X = dc.from_numpy(a)
    (out,) = dc.for_loop([dc.fill(0.0, 1, 3)], lambda acc, i: acc + X[i, :], 0, X.nrow() - 1)
    np.testing.assert_allclose(out.compute(), a.sum(axis=0, keepdims=True), rtol=1e-14)


def test_while_loop_against_numpy(dc):
    a = RNG.uniform(1.0, 2.0, size=(5, 5))
    X = dc.from_numpy(a)
    x, n = dc.while_loop([X, 0], lambda x, n: x.sum() > 1.0, lambda x, n: (x * 0.5, n + 1))
    ex, en = a, 0
    while ex.sum() > 1.0:
        ex, en = ex * 0.5, en + 1
    np.testing.assert_allclose(x.compute(), ex, rtol=1e-15)
    assert n.compute() == en and en > 3


def test_while_loop_that_never_runs_and_a_complex_condition(dc):
    (x,) = dc.while_loop([dc.fill(1.0, 2, 2)], lambda x: x.sum() > 100.0, lambda x: x * 2)
    np.testing.assert_array_equal(x.compute(), np.ones((2, 2)))
    (x,) = dc.while_loop([dc.fill(9.9, 5, 5)],
                         lambda x: dc.logical_and(x.sum() > 1.0, x.aggMax() > 1.0), lambda x: x - 1)
    e = np.full((5, 5), 9.9)
    while e.sum() > 1.0 and e.max() > 1.0:
        e = e - 1
    np.testing.assert_allclose(x.compute(), e)


def test_do_while_loop_runs_the_body_at_least_once(dc):
    (x,) = dc.do_while_loop([dc.fill(1.0, 2, 2)], lambda x: x.sum() > 100.0, lambda x: x * 2)
    np.testing.assert_array_equal(x.compute(), np.full((2, 2), 2.0))
    x, y = dc.do_while_loop([dc.fill(3.8, 5, 5), dc.fill(25.0, 1, 1).sum()],
                            lambda x, y: x.sum() > 0.0, lambda x, y: (x - 1, y + 1))
    ex, ey = np.full((5, 5), 3.8), 25.0
    while True:
        ex, ey = ex - 1, ey + 1
        if not ex.sum() > 0.0:
            break
    np.testing.assert_allclose(x.compute(), ex)
    assert y.compute() == ey


def test_cond_with_and_without_else(dc):
    a = RNG.uniform(size=(4, 4))
    X = dc.from_numpy(a)
    for threshold in (0.0, 100.0):
        (out,) = dc.cond([X], lambda: X.sum() > threshold, lambda x: x + 1, lambda x: x - 1)
        np.testing.assert_allclose(out.compute(), a + 1 if a.sum() > threshold else a - 1)
        (out,) = dc.cond([X], lambda: X.sum() > threshold, lambda x: x * 3)
        np.testing.assert_allclose(out.compute(), a * 3 if a.sum() > threshold else a)
    out = dc.cond([X, 2.0], lambda: True, lambda x, s: (x.t(), s * x.sum()))
    np.testing.assert_allclose(out[0].compute(), a.T)
    assert out[1].compute() == pytest.approx(2.0 * a.sum(), rel=1e-14)


def test_a_body_that_swaps_its_variables(dc):
    x, y = dc.for_loop([dc.fill(1.0, 1, 1), dc.fill(2.0, 1, 1)], lambda x, y, i: (y, x), 1, 3)
    assert x.compute()[0, 0] == 2.0 and y.compute()[0, 0] == 1.0
    # Fibonacci: the new second value reads the old first one.
    a, b = dc.for_loop([0, 1], lambda a, b, i: (b, a + b), 1, 20)
    fa, fb = 0, 1
    for _ in range(20):
        fa, fb = fb, fa + fb
    assert (a.compute(), b.compute()) == (fa, fb)


def test_what_the_body_reads_from_outside_is_computed_once_before_the_loop(dc):
    a, b = RNG.uniform(size=(5, 5)), RNG.uniform(size=(5, 5))
    X, Y = dc.from_numpy(a), dc.from_numpy(b)
    Z = (Y @ Y).sqrt()  # made before the loop, read by its body

    def body(x, i):
        c = dc.fill(2.0, 5, 5)  # made in the body, depends on no loop variable
        return x + Z * c

    (out,) = dc.for_loop([X], body, 1, 4)
    e = a.copy()
    for _ in range(4):
        e = e + np.sqrt(b @ b) * 2.0
    np.testing.assert_allclose(out.compute(), e, rtol=1e-13)
    code = out.code()
    loop = code.index("for (")
    assert code.count("sqrt(") == 1 and code.index("sqrt(") < loop, code
    assert code.count("fill(") == 1 and code.index("fill(") < loop, code


def test_a_cond_inside_a_for_loop(dc):
    a = RNG.uniform(size=(3, 3))
    X = dc.from_numpy(a)

    def body(x, i):
        return dc.cond([x], lambda: i % 2 == 0, lambda y: y + i, lambda y: y * 0.5)

    (out,) = dc.for_loop([X], body, 1, 7)
    e = a.copy()
    for i in range(1, 8):
        e = e + i if i % 2 == 0 else e * 0.5
    np.testing.assert_allclose(out.compute(), e, rtol=1e-15)


def test_nested_loops(dc):
    def outer(x, i):
        (y,) = dc.for_loop([x], lambda y, j: y + i * j, 1, i)
        return y

    (out,) = dc.for_loop([dc.fill(0.0, 2, 2)], outer, 1, 4)
    e = sum(i * j for i in range(1, 5) for j in range(1, i + 1))
    np.testing.assert_array_equal(out.compute(), np.full((2, 2), float(e)))


def test_a_function_defined_once_and_called_several_times(dc):
    @dc.function
    def step(x, s: Scalar):
        return x * s + 1, x.sum()

    a = RNG.uniform(size=(4, 3))
    X = dc.from_numpy(a)
    y1, t1 = step(X, 2.0)
    y2, t2 = step(y1, 0.5)
    np.testing.assert_allclose(y2.compute(), (a * 2.0 + 1) * 0.5 + 1, rtol=1e-15)
    assert t2.compute() == pytest.approx((a * 2.0 + 1).sum(), rel=1e-14)
    code = y2.code()
    assert code.count("def step_") == 1 and code.count("= step_") == 2, code


def test_a_function_called_in_a_loop_and_a_loop_in_a_function(dc):
    Y = dc.fill(1.0, 3, 3)

    @dc.function
    def increment(x, by: Scalar):
        return x + Y * by  # Y comes from outside: a hidden parameter

    (out,) = dc.for_loop([dc.fill(0.0, 3, 3)], lambda x, i: increment(x, i)[0], 1, 5)
    np.testing.assert_array_equal(out.compute(), np.full((3, 3), 15.0))

    @dc.function
    def use_for_loop(x):
        return dc.for_loop([x], lambda node, i: node + i, 1, 10)

    (out,) = use_for_loop(dc.fill(3.8, 5, 5))
    np.testing.assert_allclose(out.compute(), np.full((5, 5), 3.8 + 55))

    @dc.function
    def use_condition(x):
        return dc.cond([x], lambda: x.sum() < 10.0, lambda node: node - 1, lambda node: node + 1)

    for v in (0.1, 1.0):
        (out,) = use_condition(dc.fill(v, 5, 5))
        np.testing.assert_allclose(out.compute(), np.full((5, 5), v - 1 if 25 * v < 10 else v + 1))

    @dc.function
    def twice(x):
        return increment(increment(x, 1)[0], 1)[0]

    (out,) = twice(dc.fill(0.0, 3, 3))
    np.testing.assert_array_equal(out.compute(), np.full((3, 3), 2.0))
    assert out.code().count("def ") == 2


def test_a_frame_in_a_loop(dc):
    df = pd.DataFrame({"a": [1], "b": [2.5]})
    f1 = dc.from_pandas(df)
    (out,) = dc.for_loop([dc.from_pandas(df)], lambda x, i: x.rbind(f1), 0, 3)
    assert isinstance(out, Frame)
    pd.testing.assert_frame_equal(out.compute(), pd.concat([df] * 5, ignore_index=True))


def test_misuse_is_reported(dc):
    X = dc.fill(1.0, 2, 2)
    leaked = []

    def body(x, i):
        leaked.append(x + 1)
        return leaked[-1]

    dc.for_loop([X], body, 1, 2)
    with pytest.raises(ValueError, match="inside the body of a for_loop is used outside"):
        leaked[0].compute()
    with pytest.raises(ValueError, match="returns 2 values for 1 inputs"):
        dc.for_loop([X], lambda x, i: (x, x), 1, 2)
    with pytest.raises(TypeError, match="returns a Scalar as value 0, whose input is a Matrix"):
        dc.while_loop([X], lambda x: x.sum() > 0, lambda x: x.sum())
    with pytest.raises(TypeError):
        dc.for_loop([X], lambda x, i: x, 0.5, 2)
    # The branches of an if give a variable one value type (DaphneDSL's rule): the compiler says so.
    (out,) = dc.cond([X], lambda: X.sum() > 1, lambda x: x, lambda x: x.asType(vtype="si64"))
    with pytest.raises(DaphneError) as e:
        out.compute()
    assert "ambiguous" in e.value.args[0] and e.value.args[1] == 1, e.value.args
