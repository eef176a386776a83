"""Errors of a generated program name the Python file and line that made the failing node."""

import sys

import numpy as np
import pytest

from daphne import DaphneError
from daphne.context.daphne_context import DaphneContext

HERE = __file__


def here():
    """The caller's line."""
    return sys._getframe(1).f_lineno


@pytest.fixture(scope="module")
def dc():
    return DaphneContext()


def located(e, line):
    message = e.value.args[0]
    assert f"{HERE}:{line}" in message, message
    assert e.value.site == (HERE, line)
    return message


def test_a_runtime_error_names_the_python_line(dc):
    X, Y = dc.from_numpy(np.ones((3, 4))), dc.from_numpy(np.ones((5, 2)))
    Z = X + 1
    bad = Z @ Y; line = here()  # noqa: E702
    result = (bad * 2).sum()
    with pytest.raises(DaphneError) as e:
        result.compute()
    message = located(e, line)
    assert message.startswith("error:") and "@" in message and e.value.args[1] == 3


def test_a_compile_error_names_the_python_line(dc):
    F = dc.from_numpy(np.ones((2, 2)))
    bad = F.ifElse(dc.fill(1.0, 3, 3), "text"); line = here()  # noqa: E702
    with pytest.raises(DaphneError) as e:
        (bad + 1).compute()
    located(e, line)
    assert e.value.args[1] in (1, 2), "rejected by the compiler, before running"


def test_an_error_in_a_loop_body_and_in_a_function_names_their_lines(dc):
    M = dc.from_numpy(np.ones((4, 4)))
    N = dc.from_numpy(np.ones((3, 3)))
    lines = {}

    def body(x, i):
        y = x * i
        lines["body"] = here(); return y + N  # noqa: E702

    (out,) = dc.for_loop([M], body, 1, 3)
    with pytest.raises(DaphneError) as e:
        out.compute()
    located(e, lines["body"])

    @dc.function
    def f(x):
        lines["f"] = here(); return x.solve(N)  # noqa: E702

    (out,) = f(M)
    with pytest.raises(DaphneError) as e:
        out.compute()
    located(e, lines["f"])


def test_an_error_outside_the_generated_text_is_left_alone(dc):
    with pytest.raises(DaphneError) as e:
        dc.readMatrix("/nonexistent/m.csv").compute()
    assert "/nonexistent/m.csv" in e.value.args[0]
