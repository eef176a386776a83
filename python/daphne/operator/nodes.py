"""Lazy values: ``Matrix``, ``Frame`` and ``Scalar`` nodes of a program.

A node is an operation on other nodes and Python constants; ``compute()`` writes the program
that computes it (as DaphneDSL text, one statement per node, inputs bound by name; the text
is a stepping stone, see the README) and runs it through ``daphne::api``.
"""

import math
from typing import Any, Dict, List

import numpy as np


class Leaf:
    """Data from Python: a 2-D NumPy array, or ``("frame", labels, columns)``."""

    def __init__(self, data):
        self.data = data


class _Literal:
    """A constant written into the program text."""

    def __init__(self, text: str):
        self.text = text


def literal(x) -> _Literal:
    if isinstance(x, _Literal):
        return x
    if isinstance(x, (bool, np.bool_)):
        return _Literal("true" if x else "false")
    if isinstance(x, (int, np.integer)):
        return _Literal(str(int(x)))
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if math.isnan(x):
            return _Literal("nan")
        if math.isinf(x):
            return _Literal("inf" if x > 0 else "-inf")
        text = repr(x)
        return _Literal(text if any(c in text for c in ".en") else text + ".0")
    if isinstance(x, str):
        escaped = x.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return _Literal(f'"{escaped}"')
    raise TypeError(f"cannot use a {type(x).__name__} in a DaphneDSL program")


_BINARY = {"+": "+", "-": "-", "*": "*", "/": "/", "**": "^", "%": "%", "@": "@",
           "<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!=",
           "&&": "&&", "||": "||"}


class OperationNode:
    """One operation: a function or operator (``op``) of ``args`` (nodes or constants), or a
    leaf of data from Python."""

    # NumPy defers to our reflected operators (`array + X` is `X.__radd__(array)`).
    __array_ufunc__ = None

    def __init__(self, daphne_context, op, args: List[Any] = None):
        self.daphne_context = daphne_context
        if isinstance(op, Leaf):
            self._leaf, self._op, self._args = op, None, []
        else:
            self._leaf, self._op = None, op
            self._args = [a if isinstance(a, OperationNode) else literal(a) for a in (args or [])]

    # -- the program ----------------------------------------------------------------------------

    def _program(self):
        """The program text computing this node (its result is the variable ``R``), and its
        inputs as (name, value) pairs."""  # noqa: D401
        names: Dict[int, str] = {}
        lines: List[str] = []
        inputs = []
        # Depth-first, without recursion (long chains of operators are common).
        stack = [(self, False)]
        seen = set()
        while stack:
            node, done = stack.pop()
            if id(node) in names:
                continue
            if done:
                if node._leaf is not None:
                    name = f"I{len(inputs)}"
                    inputs.append((name, node._leaf.data))
                else:
                    name = f"V{len(names)}"
                    lines.append(f"{name} = {node._expr(names)};")
                names[id(node)] = name
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for a in reversed(node._args):
                if isinstance(a, OperationNode) and id(a) not in names:
                    stack.append((a, False))
        # In a block, so that only `R` (and the inputs) outlive it: the program's variables
        # are its results, and a variable of every node would keep every intermediate.
        body = "".join(f"    {l}\n" for l in lines)
        return f"R = 0;\n{{\n{body}    R = {names[id(self)]};\n}}\n", inputs

    def _expr(self, names: Dict[int, str]) -> str:
        args = [names[id(a)] if isinstance(a, OperationNode) else a.text for a in self._args]
        op = self._op
        if op in _BINARY:
            return f"({args[0]} {_BINARY[op]} {args[1]})"
        if op == "neg":
            return f"(-{args[0]})"
        if op == "index":
            return f"{args[0]}[{args[1]}, {args[2]}]"
        if op == "cast":
            return f"as.{args[1]}({args[0]})"
        return f"{op}({', '.join(args)})"

    def compute(self):
        script, inputs = self._program()
        (value,) = self.daphne_context._ctx.run(script, inputs, ["R"])
        return self._convert(value)

    def explain(self) -> str:
        """The optimized IR of the program (its ``pipeline`` ops run fused and compiled)."""
        script, inputs = self._program()
        return self.daphne_context._ctx.explain(script, inputs)

    def _convert(self, value):
        return value

    def code(self) -> str:
        """The program's DaphneDSL text."""
        return self._program()[0]


def _result(self_, other):
    """The kind of a binary operation's result: a matrix if either side is one."""
    if isinstance(self_, Matrix) or isinstance(other, Matrix):
        return Matrix
    return Scalar


class _Arithmetic(OperationNode):
    def _bin(self, op, other, reverse=False):
        kind = _result(self, other)
        args = [other, self] if reverse else [self, other]
        return kind(self.daphne_context, op, args)

    def __add__(self, o): return self._bin("+", o)
    def __radd__(self, o): return self._bin("+", o, True)
    def __sub__(self, o): return self._bin("-", o)
    def __rsub__(self, o): return self._bin("-", o, True)
    def __mul__(self, o): return self._bin("*", o)
    def __rmul__(self, o): return self._bin("*", o, True)
    def __truediv__(self, o): return self._bin("/", o)
    def __rtruediv__(self, o): return self._bin("/", o, True)
    def __pow__(self, o): return self._bin("**", o)
    def __rpow__(self, o): return self._bin("**", o, True)
    def __mod__(self, o): return self._bin("%", o)
    def __rmod__(self, o): return self._bin("%", o, True)
    def __lt__(self, o): return self._bin("<", o)
    def __le__(self, o): return self._bin("<=", o)
    def __gt__(self, o): return self._bin(">", o)
    def __ge__(self, o): return self._bin(">=", o)
    def __eq__(self, o): return self._bin("==", o)
    def __ne__(self, o): return self._bin("!=", o)
    def __neg__(self): return type(self)(self.daphne_context, "neg", [self])
    __hash__ = object.__hash__

    def _unary(self, name):
        return type(self)(self.daphne_context, name, [self])

    def abs(self): return self._unary("abs")
    def sign(self): return self._unary("sign")
    def exp(self): return self._unary("exp")
    def ln(self): return self._unary("ln")
    def sqrt(self): return self._unary("sqrt")
    def round(self): return self._unary("round")
    def floor(self): return self._unary("floor")
    def ceil(self): return self._unary("ceil")
    def sin(self): return self._unary("sin")
    def cos(self): return self._unary("cos")
    def tan(self): return self._unary("tan")
    def sinh(self): return self._unary("sinh")
    def cosh(self): return self._unary("cosh")
    def tanh(self): return self._unary("tanh")
    def asin(self): return self._unary("asin")
    def acos(self): return self._unary("acos")
    def atan(self): return self._unary("atan")
    def isNan(self): return self._unary("isNan")


class Scalar(_Arithmetic):
    """A lazy scalar; ``compute()`` returns a Python number or string."""


class Matrix(_Arithmetic):
    """A lazy matrix; ``compute()`` returns a 2-D NumPy array."""

    def __matmul__(self, o): return Matrix(self.daphne_context, "@", [self, o])
    def __rmatmul__(self, o): return Matrix(self.daphne_context, "@", [o, self])

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key, slice(None))
        if len(key) != 2:
            raise IndexError("a matrix is indexed by rows and columns")
        return Matrix(self.daphne_context, "index", [self, _Literal(_index(key[0])), _Literal(_index(key[1]))])

    def _agg(self, name, axis):
        if axis is None:
            return Scalar(self.daphne_context, name, [self])
        return Matrix(self.daphne_context, name, [self, axis])

    # Aggregations: ``axis`` is DaphneDSL's (and DaphneLib's): 0 aggregates each row, 1 each column.
    def sum(self, axis=None): return self._agg("sum", axis)
    def aggMin(self, axis=None): return self._agg("aggMin", axis)
    def aggMax(self, axis=None): return self._agg("aggMax", axis)
    def mean(self, axis=None): return self._agg("mean", axis)
    def var(self, axis=None): return self._agg("var", axis)
    def stddev(self, axis=None): return self._agg("stddev", axis)
    def idxMin(self, axis): return Matrix(self.daphne_context, "idxMin", [self, axis])
    def idxMax(self, axis): return Matrix(self.daphne_context, "idxMax", [self, axis])
    def cumSum(self): return self._unary("cumSum")
    def cumProd(self): return self._unary("cumProd")
    def cumMin(self): return self._unary("cumMin")
    def cumMax(self): return self._unary("cumMax")
    def ncol(self): return Scalar(self.daphne_context, "ncol", [self])
    def nrow(self): return Scalar(self.daphne_context, "nrow", [self])
    def ncell(self): return Scalar(self.daphne_context, "ncell", [self])
    def diagVector(self): return self._unary("diagVector")
    def t(self): return self._unary("t")
    def reverse(self): return self._unary("reverse")
    def solve(self, other): return Matrix(self.daphne_context, "solve", [self, other])
    def reshape(self, numRows, numCols): return Matrix(self.daphne_context, "reshape", [self, numRows, numCols])
    def cbind(self, other): return Matrix(self.daphne_context, "cbind", [self, other])
    def rbind(self, other): return Matrix(self.daphne_context, "rbind", [self, other])
    def lowerTri(self, diag, values): return Matrix(self.daphne_context, "lowerTri", [self, diag, values])
    def upperTri(self, diag, values): return Matrix(self.daphne_context, "upperTri", [self, diag, values])
    def replace(self, pattern, replacement): return Matrix(self.daphne_context, "replace", [self, pattern, replacement])
    def pow(self, other): return self._bin("**", other)
    def log(self, other): return Matrix(self.daphne_context, "log", [self, other])
    def mod(self, other): return self._bin("%", other)
    def max(self, other): return Matrix(self.daphne_context, "max", [self, other])
    def min(self, other): return Matrix(self.daphne_context, "min", [self, other])
    def oneHot(self, other): return Matrix(self.daphne_context, "oneHot", [self, other])
    def ifElse(self, thenVal, elseVal): return Matrix(self.daphne_context, "ifElse", [self, thenVal, elseVal])

    def asType(self, dtype=None, vtype=None):
        vt = vtype or {np.float64: "f64", np.float32: "f32", np.int64: "si64"}.get(dtype)
        if vt is None:
            raise TypeError(f"asType: unknown value type {dtype or vtype}")
        return Matrix(self.daphne_context, "cast", [self, _Literal(f"matrix<{vt}>")])

    def _convert(self, value):
        if isinstance(value, list):
            return np.array(value, dtype=object).reshape(len(value), -1)
        return value


def _index(k) -> str:
    if isinstance(k, slice):
        if k.step not in (None, 1):
            raise IndexError("slices with a step are not supported")
        lo = "" if k.start is None else str(int(k.start))
        hi = "" if k.stop is None else str(int(k.stop))
        return "" if not lo and not hi else f"{lo}:{hi}"
    if isinstance(k, (int, np.integer)):
        return str(int(k))
    if isinstance(k, str):
        return literal(k).text
    raise IndexError(f"cannot index by a {type(k).__name__}")


class Frame(OperationNode):
    """A lazy frame; ``compute()`` returns a pandas DataFrame."""

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (slice(None), key)
        return Frame(self.daphne_context, "index", [self, _Literal(_index(key[0])), _Literal(_index(key[1]))])

    def nrow(self): return Scalar(self.daphne_context, "nrow", [self])
    def ncol(self): return Scalar(self.daphne_context, "ncol", [self])
    def ncell(self): return Scalar(self.daphne_context, "ncell", [self])
    def cbind(self, other): return Frame(self.daphne_context, "cbind", [self, other])
    def rbind(self, other): return Frame(self.daphne_context, "rbind", [self, other])
    def cartesian(self, other): return Frame(self.daphne_context, "cartesian", [self, other])

    def setColLabels(self, labels):
        return Frame(self.daphne_context, "setColLabels", [self] + [literal(l) for l in labels])

    def setColLabelsPrefix(self, prefix):
        return Frame(self.daphne_context, "setColLabelsPrefix", [self, prefix])

    def toMatrix(self, value_type="f64") -> Matrix:
        return Matrix(self.daphne_context, "cast", [self, _Literal(f"matrix<{value_type}>")])

    def _convert(self, value):
        import pandas as pd
        _, labels, columns = value
        return pd.DataFrame({l: np.asarray(c).reshape(-1) for l, c in zip(labels, columns)}, columns=labels)
