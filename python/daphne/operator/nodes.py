"""Lazy values: ``Matrix``, ``Frame`` and ``Scalar`` nodes of a program, and DaphneLib's
control flow (``for_loop``, ``while_loop``, ``do_while_loop``, ``cond``) and user functions.

A node is an operation on other nodes and Python constants; ``compute()`` writes the program
that computes it (as DaphneDSL text, one statement per node, inputs bound by name) and runs it
through ``daphne::api``, which compiles it like a script: fused, JIT-compiled.

Control flow is traced: the loop body, the condition and the branches are Python callables
called once, when the construct is made, with placeholder nodes standing for the loop's
variables; the nodes they return are the body. A node the body uses that depends on no
placeholder (a matrix made before the loop, a constant made inside it) is computed once,
before the construct. A user function is traced the same way and written once per program as
a DaphneDSL ``def``; the nodes it uses from outside become hidden parameters of the ``def``.
"""

import inspect
import itertools
import math
import os
import re
import sys
from typing import Any, Dict, List, Optional

import numpy as np

# This package's directory: frames of code in it are not the user's (see `_user_site`).
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

# Nodes are numbered in the order they are made: a node made before a construct's
# placeholders cannot depend on them, which bounds the walk that finds a body's free nodes.
_serial = itertools.count()


def _user_site():
    """The file and line of the user's code that is making a node: the innermost frame outside
    this package (a lambda passed as a loop body is the user's code too)."""
    f = sys._getframe(2)
    while f is not None and f.f_code.co_filename.startswith(_PACKAGE_DIR):
        f = f.f_back
    return (f.f_code.co_filename, f.f_lineno) if f is not None else None


def _where(site) -> str:
    return f"{site[0]}:{site[1]}" if site else "an unknown place"


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


# -- writing a program ----------------------------------------------------------------------------


class _Scope:
    """The names the nodes written so far have in one block of the program (and, through
    ``parent``, in the blocks around it). Lines go to ``lines`` at ``indent``."""

    def __init__(self, lines: list, indent: int, parent: Optional["_Scope"] = None):
        self.lines = lines
        self.indent = indent
        self.parent = parent
        self.names: Dict[int, str] = {}

    def lookup(self, node) -> Optional[str]:
        key = id(node)
        s = self
        while s is not None:
            name = s.names.get(key)
            if name is not None:
                return name
            s = s.parent
        return None

    def root(self) -> "_Scope":
        s = self
        while s.parent is not None:
            s = s.parent
        return s

    def write(self, text: str, node=None):
        self.lines.append((self.indent, text, node))

    def inner(self, indent_by: int = 1) -> "_Scope":
        """A block inside this one: it sees this block's names, and its own die with it."""
        return _Scope(self.lines, self.indent + indent_by, self)


class _Writer:
    """Writes one program: fresh variable names, the inputs, the functions it defines."""

    def __init__(self):
        self.counter = 0
        self.inputs: List[tuple] = []
        self.functions: Dict[int, str] = {}
        self.definitions: List[tuple] = []  # lines (indent, text, node) of the `def`s

    def fresh(self, prefix: str = "V") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def name(self, node: "OperationNode", scope: _Scope) -> str:
        """The variable holding ``node`` in ``scope``, writing what computes it first
        (depth first, without recursion: long chains of operators are common)."""
        found = scope.lookup(node)
        if found is not None:
            return found
        stack = [(node, False)]
        while stack:
            cur, done = stack.pop()
            if scope.lookup(cur) is not None:
                continue
            if done:
                cur._emit(self, scope)
                continue
            stack.append((cur, True))
            for a in reversed(cur._deps()):
                if scope.lookup(a) is None:
                    stack.append((a, False))
        return scope.lookup(node)

    def ref(self, x, scope: _Scope) -> str:
        """A node's variable or a constant's text."""
        if isinstance(x, OperationNode):
            return self.name(x, scope)
        return x.text

    def define(self, function: "Function") -> str:
        """The name of ``function``'s ``def`` in this program, written on first use."""
        name = self.functions.get(id(function))
        if name is not None:
            return name
        name = f"{function._name}_{len(self.functions)}"
        self.functions[id(function)] = name
        lines: list = []
        body = _Scope(lines, 1)
        params = []
        for p in function._params:
            params.append(self.fresh("A"))
            body.names[id(p)] = params[-1]
        for c in function._captured:
            params.append(self.fresh("K"))
            body.names[id(c)] = params[-1]
        results = [self.name(o, body) for o in function._outputs]
        body.write(f"return {', '.join(results)};", function)
        # DaphneDSL: a function returns one value unless it declares its result types; the
        # data types are enough (the value types and shapes follow each call's arguments).
        declared = ""
        if len(results) > 1:
            declared = " -> " + ", ".join(_DATA_TYPE[type(o)] for o in function._outputs)
        # Functions it calls were defined while its body was written: they come first.
        self.definitions.append((0, f"def {name}({', '.join(params)}){declared} {{", function))
        self.definitions.extend(lines)
        self.definitions.append((0, "}", function))
        return name

    def assign(self, scope: _Scope, variables: List[str], values: List[str], node):
        """``variables = values`` as one simultaneous assignment (a body that returns its
        variables swapped must not read one it already overwrote)."""
        values = list(values)
        for k, v in enumerate(values):
            if v in variables and v != variables[k]:
                t = self.fresh("T")
                scope.write(f"{t} = {v};", node)
                values[k] = t
        for var, v in zip(variables, values):
            if var != v:
                scope.write(f"{var} = {v};", node)


def _text(lines) -> str:
    return "".join("    " * indent + text + "\n" for indent, text, _ in lines)


# -- nodes ----------------------------------------------------------------------------------------


class OperationNode:
    """One operation: a function or operator (``op``) of ``args`` (nodes or constants), a leaf
    of data from Python, or a special node (a loop's output, a placeholder)."""

    # NumPy defers to our reflected operators (`array + X` is `X.__radd__(array)`).
    __array_ufunc__ = None

    def __init__(self, daphne_context, op, args: List[Any] = None):
        self.daphne_context = daphne_context
        self._serial = next(_serial)
        self._site = _user_site()
        if isinstance(op, Leaf):
            self._leaf, self._op, self._args = op, None, []
        else:
            self._leaf, self._op = None, op
            self._args = [a if isinstance(a, OperationNode) else literal(a) for a in (args or [])]

    # -- the program ----------------------------------------------------------------------------

    def _deps(self) -> List["OperationNode"]:
        if isinstance(self._op, _Special):
            return self._op.deps()
        return [a for a in self._args if isinstance(a, OperationNode)]

    def _emit(self, w: _Writer, scope: _Scope):
        """Writes the statement computing this node (its inputs have names in ``scope``)."""
        if self._leaf is not None:
            name = f"I{len(w.inputs)}"
            w.inputs.append((name, self._leaf.data))
            scope.root().names[id(self)] = name  # the program's inputs are seen everywhere
            return
        if isinstance(self._op, _Special):
            self._op.emit(self, w, scope)
            return
        name = w.fresh()
        scope.write(f"{name} = {self._expr(w, scope)};", self)
        scope.names[id(self)] = name

    def _expr(self, w: _Writer, scope: _Scope) -> str:
        args = [w.ref(a, scope) for a in self._args]
        op = self._op
        if op in _BINARY:
            return f"({args[0]} {_BINARY[op]} {args[1]})"
        if op == "neg":
            return f"(-{args[0]})"
        if op == "const":
            return args[0]
        if op == "index":
            # args: the value, the row and column positions (each "" for all, a position, or
            # a range "lo:hi" with either end left out), each written as a `:`-separated pair.
            rows, cols = (":".join(args[i] for i in part) if part is not None else "" for part in self._spec)
            return f"{args[0]}[{rows}, {cols}]"
        if op == "cast":
            return f"as.{args[1]}({args[0]})"
        if op == "sql":
            return f"sql({args[0]})"  # the other arguments are the views it reads
        return f"{op}({', '.join(args)})"

    def _program(self):
        """The program computing this node: its text (the result is the variable ``R``), its
        inputs as (name, value) pairs, and per line of the text the node it was written for."""
        w = _Writer()
        lines: list = []
        scope = _Scope(lines, 1)
        result = w.name(self, scope)
        # In a block, so that only `R` (and the inputs) outlive it: the program's variables
        # are its results, and a variable of every node would keep every intermediate.
        if result:
            lines = [(0, "R = 0;", None), (0, "{", None)] + lines + [(1, f"R = {result};", self)]
        else:
            lines = [(0, "{", None)] + lines
        lines = w.definitions + lines + [(0, "}", None)]
        return _text(lines), w.inputs, [node for _, _, node in lines]

    def _run(self, outputs: List[str], explain: bool = False):
        """Runs (or explains) this node's program; an error names the Python line that made
        the failing node."""
        script, inputs, nodes = self._program()
        ctx = self.daphne_context._ctx
        try:
            if explain:
                return ctx.explain(script, inputs)
            return ctx.run(script, inputs, outputs)
        except Exception as e:
            located = _locate(e, nodes)
            if located is None:
                raise
            raise located from None

    def compute(self):
        (value,) = self._run(["R"])
        return self._convert(value)

    def explain(self) -> str:
        """The optimized IR of the program (its ``pipeline`` ops run fused and compiled)."""
        return self._run([], explain=True)

    def _convert(self, value):
        return value

    def code(self) -> str:
        """The program's DaphneDSL text."""
        return self._program()[0]


_SCRIPT_LINE = re.compile(r"<script>:(\d+)(?::\d+)?")


def _locate(error, nodes):
    """``error`` (a ``DaphneError`` whose message points into the generated script) with a
    note naming the Python file and line that made the node of the failing line; ``None`` if
    it does not point at one."""
    from daphne._daphne import DaphneError
    if not isinstance(error, DaphneError) or not error.args or not isinstance(error.args[0], str):
        return None
    message = error.args[0]
    for m in _SCRIPT_LINE.finditer(message):
        line = int(m.group(1))
        node = nodes[line - 1] if 0 < line <= len(nodes) else None
        if node is not None and node._site is not None:
            note = f"note: the failing value was made by your Python code at {_where(node._site)}\n"
            if not message.endswith("\n"):
                message += "\n"
            located = DaphneError(message + note, *error.args[1:])
            located.site = node._site
            return located
    return None


class _Special:
    """The operation of a node that is not one statement: ``deps()`` are the nodes it needs,
    ``emit`` writes it."""

    def deps(self):
        return []

    def emit(self, node, w: _Writer, scope: _Scope):
        raise NotImplementedError


class _Placeholder(_Special):
    """A loop's variable, a branch's input or a function's parameter while its body is traced."""

    def __init__(self, owner: str):
        self.owner = owner

    def emit(self, node, w, scope):
        raise ValueError(
            f"a value made inside {self.owner} is used outside it (the value was made at "
            f"{_where(node._site)}); use what the construct returns instead")


class _Output(_Special):
    """The k-th result of a construct (a loop, a ``cond``, a function call)."""

    def __init__(self, source, k: int):
        self.source, self.k = source, k

    def deps(self):
        return [self.source]

    def emit(self, node, w, scope):
        # The source names its outputs when it is written; only a bug gets here.
        raise RuntimeError("a construct's output was not named by the construct")


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

    def print(self) -> "OperationNode":
        """A statement printing this value (DaphneDSL's format) when computed."""
        return _Statement(self.daphne_context, "print", [self])


class Scalar(_Arithmetic):
    """A lazy scalar; ``compute()`` returns a Python number or string."""

    def pow(self, other): return self._bin("**", other)
    def mod(self, other): return self._bin("%", other)
    def log(self, other): return _result(self, other)(self.daphne_context, "log", [self, other])
    def max(self, other): return _result(self, other)(self.daphne_context, "max", [self, other])
    def min(self, other): return _result(self, other)(self.daphne_context, "min", [self, other])


class Matrix(_Arithmetic):
    """A lazy matrix; ``compute()`` returns a 2-D NumPy array."""

    def __matmul__(self, o): return Matrix(self.daphne_context, "@", [self, o])
    def __rmatmul__(self, o): return Matrix(self.daphne_context, "@", [o, self])

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key, slice(None))
        if len(key) != 2:
            raise IndexError("a matrix is indexed by rows and columns")
        return _indexed(Matrix, self, key)

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
    def outerAdd(self, other): return Matrix(self.daphne_context, "outerAdd", [self, other])
    def outerSub(self, other): return Matrix(self.daphne_context, "outerSub", [self, other])
    def outerMul(self, other): return Matrix(self.daphne_context, "outerMul", [self, other])
    def outerDiv(self, other): return Matrix(self.daphne_context, "outerDiv", [self, other])
    def outerPow(self, other): return Matrix(self.daphne_context, "outerPow", [self, other])
    def outerLog(self, other): return Matrix(self.daphne_context, "outerLog", [self, other])
    def outerMod(self, other): return Matrix(self.daphne_context, "outerMod", [self, other])
    def outerMin(self, other): return Matrix(self.daphne_context, "outerMin", [self, other])
    def outerMax(self, other): return Matrix(self.daphne_context, "outerMax", [self, other])
    def outerAnd(self, other): return Matrix(self.daphne_context, "outerAnd", [self, other])
    def outerOr(self, other): return Matrix(self.daphne_context, "outerOr", [self, other])
    def outerEq(self, other): return Matrix(self.daphne_context, "outerEq", [self, other])
    def outerNeq(self, other): return Matrix(self.daphne_context, "outerNeq", [self, other])
    def outerLt(self, other): return Matrix(self.daphne_context, "outerLt", [self, other])
    def outerLe(self, other): return Matrix(self.daphne_context, "outerLe", [self, other])
    def outerGt(self, other): return Matrix(self.daphne_context, "outerGt", [self, other])
    def outerGe(self, other): return Matrix(self.daphne_context, "outerGe", [self, other])

    def write(self, file: str) -> "OperationNode":
        """A statement writing this matrix to ``file`` (with its ``.meta`` file) when computed."""
        return _Statement(self.daphne_context, "writeMatrix", [self, file])

    def asType(self, dtype=None, vtype=None):
        vt = vtype or {np.float64: "f64", np.float32: "f32", np.int64: "si64"}.get(dtype)
        if vt is None:
            raise TypeError(f"asType: unknown value type {dtype or vtype}")
        return Matrix(self.daphne_context, "cast", [self, _Literal(f"matrix<{vt}>")])

    def _convert(self, value):
        if isinstance(value, list):
            return np.array(value, dtype=object).reshape(len(value), -1)
        return value


def _position(x):
    """One position or range end: an integer, a lazy scalar, or (for a list of positions or a
    frame's columns) a matrix or a label."""
    if isinstance(x, (bool, np.bool_)):
        raise IndexError("cannot index by a bool")
    if isinstance(x, (int, np.integer)):
        return _Literal(str(int(x)))
    if isinstance(x, str):
        return literal(x)
    if isinstance(x, (Scalar, Matrix)):
        return x
    raise IndexError(f"cannot index by a {type(x).__name__}")


def _indexed(kind, value, key):
    """``value[rows, cols]``: each an integer, a lazy scalar, a slice of them, a matrix of
    positions, or (a frame's column) a label."""
    args = [value]
    spec = []
    for k in key:
        if isinstance(k, slice):
            if k.step not in (None, 1):
                raise IndexError("slices with a step are not supported")
            if k.start is None and k.stop is None:
                spec.append(None)
                continue
            part = []
            for end in (k.start, k.stop):
                args.append(_Literal("") if end is None else _position(end))
                part.append(len(args) - 1)
            spec.append(part)
        else:
            args.append(_position(k))
            spec.append([len(args) - 1])
    node = kind(value.daphne_context, "index", args)
    node._spec = spec
    return node


class Frame(OperationNode):
    """A lazy frame; ``compute()`` returns a pandas DataFrame."""

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (slice(None), key)
        return _indexed(Frame, self, key)

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

    def registerView(self, table_name: str) -> "OperationNode":
        """Names this frame ``table_name`` for the ``dc.sql`` queries made after this call
        (a program with such a query registers the view before it). Returns the statement
        ``registerView(...)``, as DaphneLib does; computing it is not needed."""
        return self.daphne_context._register_view(table_name, self)

    def innerJoin(self, right_frame: "Frame", left_on: str, right_on: str) -> "Frame":
        return Frame(self.daphne_context, "innerJoin", [self, right_frame, left_on, right_on])

    def toMatrix(self, value_type="f64") -> Matrix:
        return Matrix(self.daphne_context, "cast", [self, _Literal(f"matrix<{value_type}>")])

    def print(self) -> "OperationNode":
        """A statement printing this frame (DaphneDSL's format) when computed."""
        return _Statement(self.daphne_context, "print", [self])

    def write(self, file: str) -> "OperationNode":
        """A statement writing this frame to ``file`` (with its ``.meta`` file) when computed."""
        return _Statement(self.daphne_context, "writeFrame", [self, file])

    def _convert(self, value):
        import pandas as pd
        _, labels, columns = value
        # A string column comes as a list of Python strings: an object column, as pandas
        # made them before its string dtype.
        return pd.DataFrame({l: pd.Series(c, dtype=object) if isinstance(c, list) else np.asarray(c).reshape(-1)
                             for l, c in zip(labels, columns)}, columns=labels)


class _Statement(OperationNode):
    """A statement with no value (``print``, ``write``, ``registerView``): ``compute()`` runs
    it and returns ``None``."""

    def _emit(self, w, scope):
        scope.write(f"{self._expr(w, scope)};", self)
        scope.names[id(self)] = ""

    def compute(self):
        sys.stdout.flush()  # what Python printed before comes first
        self._run([])
        return None


# -- control flow and functions -----------------------------------------------------------------


_KINDS = (Matrix, Frame, Scalar)


def _kind_of(x):
    """The node class a value is (a Python number or string is a scalar)."""
    for k in _KINDS:
        if isinstance(x, k):
            return k
    if isinstance(x, (bool, int, float, str, np.bool_, np.integer, np.floating)):
        return Scalar
    raise TypeError(f"a {type(x).__name__} is not a matrix, frame or scalar")


def _as_node(dc, x) -> OperationNode:
    """A value as a node: a Python constant becomes a scalar node."""
    return x if isinstance(x, OperationNode) else Scalar(dc, "const", [x])


def _as_tuple(x) -> tuple:
    return x if isinstance(x, tuple) else (x,)


def _placeholders(dc, kinds, owner: str):
    return [k(dc, _Placeholder(owner)) for k in kinds]


def _free_nodes(results, placeholders, first_serial: int) -> List[OperationNode]:
    """The nodes a traced body reads from outside: the nodes (made before it, or made in it
    but depending on none of its ``placeholders``) used by a node that does depend on one,
    and results that depend on none."""
    held = {id(p) for p in placeholders}
    order: List[OperationNode] = []
    visited = set()
    stack = [(r, False) for r in results if isinstance(r, OperationNode)]
    while stack:
        n, done = stack.pop()
        if done:
            order.append(n)
            continue
        if id(n) in visited:
            continue
        visited.add(id(n))
        stack.append((n, True))
        if n._serial >= first_serial:  # older nodes cannot depend on the placeholders
            for a in n._deps():
                if id(a) not in visited:
                    stack.append((a, False))
    depends: Dict[int, bool] = {}
    for n in order:
        depends[id(n)] = id(n) in held or (
            n._serial >= first_serial and any(depends[id(a)] for a in n._deps()))
    free: List[OperationNode] = []
    seen = set()

    def add(x):
        if id(x) not in seen:
            seen.add(id(x))
            free.append(x)

    for n in order:
        if depends[id(n)]:
            for a in n._deps():
                if not depends[id(a)]:
                    add(a)
    for r in results:
        if isinstance(r, OperationNode) and not depends[id(r)]:
            add(r)
    return free


def _check_results(what: str, results: tuple, kinds: list):
    if len(results) != len(kinds):
        raise ValueError(f"{what} returns {len(results)} values for {len(kinds)} inputs")
    for i, (r, k) in enumerate(zip(results, kinds)):
        rk = _kind_of(r)
        if rk is not k:
            raise TypeError(f"{what} returns a {rk.__name__} as value {i}, whose input is a {k.__name__}")


def _condition(dc, c) -> Any:
    """A loop condition or predicate: a scalar node or constant (a 1 x 1 matrix is unwrapped)."""
    if isinstance(c, Matrix):
        return Scalar(dc, "as.scalar", [c])
    if isinstance(c, Frame):
        raise TypeError("a condition must be a scalar, not a frame")
    _kind_of(c)
    return c


class _Construct(OperationNode):
    """A loop or an if-then-else over ``inputs``: its results are new nodes, one per input, of
    the input's kind (``construct[k]``; iterating gives them all, as DaphneLib's tuples)."""

    def __init__(self, dc, what: str, inputs):
        inputs = [_as_node(dc, x) for x in inputs]
        if not inputs:
            raise ValueError(f"{what} needs at least one input node")
        super().__init__(dc, what, [])
        self._what = what
        self._inputs = inputs
        self._kinds = [_kind_of(x) for x in inputs]
        self._first = self._serial
        self._holders = _placeholders(dc, self._kinds, f"the body of a {what}")
        self._outputs = [k(dc, _Output(self, i)) for i, k in enumerate(self._kinds)]
        for o in self._outputs:
            o._site = self._site

    def __getitem__(self, k):
        return self._outputs[k]

    def __iter__(self):
        return iter(self._outputs)

    def __len__(self):
        return len(self._outputs)

    def _trace(self, fn, args, name: str) -> tuple:
        results = _as_tuple(fn(*args))
        _check_results(f"the {name} of a {self._what}", results, self._kinds)
        return results

    def _finish(self, results, extra_placeholders=(), extra=()):
        """Records what the construct reads from outside (its dependencies)."""
        self._free = _free_nodes(results, self._holders + list(extra_placeholders), self._first)
        self._needs = list(self._inputs) + [x for x in extra if isinstance(x, OperationNode)] + self._free

    def _deps(self):
        return self._needs

    def _start(self, w, scope):
        """Writes the loop variables' first values; a scope naming the placeholders."""
        base = w.fresh("L")
        variables = [f"{base}_{k}" for k in range(len(self._inputs))]
        w.assign(scope, variables, [w.ref(x, scope) for x in self._inputs], self)
        held = _Scope(scope.lines, scope.indent, scope)
        for v, p in zip(variables, self._holders):
            held.names[id(p)] = v
        return base, variables, held

    def _body(self, w, held: _Scope, variables, results):
        body = held.inner()
        w.assign(body, variables, [w.ref(r if isinstance(r, OperationNode) else literal(r), body)
                                   for r in results], self)
        return body

    def _end(self, scope, variables):
        for v, o in zip(variables, self._outputs):
            scope.names[id(o)] = v

    def compute(self):
        raise TypeError(f"a {self._what} is not computed itself: compute one of its results")


class ForLoop(_Construct):
    def __init__(self, dc, inputs, callback, start, end, step=None):
        super().__init__(dc, "for_loop", inputs)
        self._range = [start, end, step]
        for x in self._range:
            if x is not None and not isinstance(x, (int, np.integer, Scalar)):
                raise TypeError(f"for_loop's start, end and step are integers or scalars, not {type(x).__name__}")
        self._iter = Scalar(dc, _Placeholder("the body of a for_loop"))
        self._results = self._trace(callback, self._holders + [self._iter], "callback")
        self._finish(self._results, [self._iter], self._range)

    def _emit(self, w, scope):
        base, variables, held = self._start(w, scope)
        it = f"{base}_i"
        start, end, step = (None if x is None else w.ref(_as_node_or_literal(x), scope) for x in self._range)
        held.names[id(self._iter)] = it
        scope.write(f"for ({it} in {start}:{end}{'' if step is None else ':' + step}) {{", self)
        self._body(w, held, variables, self._results)
        scope.write("}", self)
        self._end(scope, variables)


def _as_node_or_literal(x):
    return x if isinstance(x, OperationNode) else literal(x)


class WhileLoop(_Construct):
    def __init__(self, dc, inputs, cond, callback, do_while: bool = False):
        super().__init__(dc, "do_while_loop" if do_while else "while_loop", inputs)
        self._do = do_while
        self._cond = _condition(dc, cond(*self._holders))
        self._results = self._trace(callback, self._holders, "callback")
        self._finish(list(self._results) + [self._cond])

    def _emit(self, w, scope):
        base, variables, held = self._start(w, scope)
        c = f"{base}_c"
        if not self._do:
            # The condition on the first values, then again after each iteration (its nodes
            # get new names there: the values they stand for are new).
            first = _Scope(scope.lines, scope.indent, held)
            scope.write(f"{c} = {w.ref(_as_node_or_literal(self._cond), first)};", self)
            scope.write(f"while ({c}) {{", self)
        else:
            # What the body defines is not visible in `while (...)` after it: the condition
            # goes through a variable defined before (as a bool: a variable keeps its type).
            scope.write(f"{c} = true;", self)
            scope.write("do {", self)
        body = self._body(w, held, variables, self._results)
        again = _Scope(scope.lines, body.indent, held)
        cond = w.ref(_as_node_or_literal(self._cond), again)
        if self._do:
            again.write(f"{c} = as.bool({cond});", self)
            scope.write(f"}} while ({c});", self)
        else:
            again.write(f"{c} = {cond};", self)
            scope.write("}", self)
        self._end(scope, variables)


class Cond(_Construct):
    def __init__(self, dc, inputs, pred, then_fn, else_fn=None):
        super().__init__(dc, "cond", inputs)
        self._pred = _condition(dc, pred())
        self._then = self._trace(then_fn, self._holders, "then_fn")
        self._else = self._trace(else_fn, self._holders, "else_fn") if else_fn is not None else None
        self._finish(list(self._then) + list(self._else or []), extra=[self._pred])

    def _emit(self, w, scope):
        pred = w.ref(_as_node_or_literal(self._pred), scope)
        base, variables, held = self._start(w, scope)
        scope.write(f"if ({pred}) {{", self)
        self._body(w, held, variables, self._then)
        if self._else is not None:
            scope.write("} else {", self)
            self._body(w, held, variables, self._else)
        scope.write("}", self)
        self._end(scope, variables)


def _annotation_kind(a):
    if a is inspect.Parameter.empty:
        return Matrix
    if isinstance(a, str):
        a = {"Matrix": Matrix, "Frame": Frame, "Scalar": Scalar}.get(a.rsplit(".", 1)[-1], a)
    if a in _KINDS:
        return a
    raise TypeError(f"a function's parameter is a Matrix, Frame or Scalar, not {a}")


_DATA_TYPE = {Matrix: "matrix", Frame: "frame", Scalar: "scalar"}


class Function:
    """A user-defined function (``@dc.function``): traced once, with a placeholder per
    parameter (a ``Matrix`` unless annotated ``Scalar`` or ``Frame``, as in DaphneLib); each
    call returns a tuple of its results, and a program that calls it defines it once."""

    def __init__(self, dc, fn):
        self.daphne_context = dc
        self._fn = fn
        self._site = _user_site()
        self.__name__ = getattr(fn, "__name__", "function")
        self.__doc__ = getattr(fn, "__doc__", None)
        self._name = re.sub(r"\W", "_", self.__name__).lstrip("_") or "function"
        if not self._name[0].isalpha():
            self._name = "f" + self._name
        params = list(inspect.signature(fn).parameters.values())
        for p in params:
            if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                raise TypeError(f"function {self.__name__}: only positional parameters are supported, not {p.name}")
        self._kinds = [_annotation_kind(p.annotation) for p in params]
        first = next(_serial)
        self._params = _placeholders(dc, self._kinds, f"function {self.__name__}")
        outputs = _as_tuple(fn(*self._params))
        for i, o in enumerate(outputs):
            if not isinstance(o, _KINDS):
                raise TypeError(f"function {self.__name__} returns a {type(o).__name__} as value {i}, "
                                "not a Matrix, Frame or Scalar")
        self._outputs = list(outputs)
        self._captured = _free_nodes(self._outputs, self._params, first)

    def __call__(self, *args):
        if len(args) != len(self._params):
            raise TypeError(f"function {self.__name__} takes {len(self._params)} arguments, {len(args)} given")
        call = _Call(self.daphne_context, self, args)
        return tuple(call._outputs)


class _Call(OperationNode):
    """A call of a user function; its results are ``_Output`` nodes."""

    def __init__(self, dc, function: Function, args):
        super().__init__(dc, "call", list(args))
        self._function = function
        self._outputs = [type(o)(dc, _Output(self, i)) for i, o in enumerate(function._outputs)]
        for o in self._outputs:
            o._site = self._site

    def _deps(self):
        return [a for a in self._args if isinstance(a, OperationNode)] + self._function._captured

    def _emit(self, w, scope):
        name = w.define(self._function)
        args = [w.ref(a, scope) for a in self._args] + [w.name(c, scope) for c in self._function._captured]
        base = w.fresh("C")
        results = [f"{base}_{k}" for k in range(len(self._outputs))]
        scope.write(f"{', '.join(results)} = {name}({', '.join(args)});", self)
        scope.names[id(self)] = ""
        for r, o in zip(results, self._outputs):
            scope.names[id(o)] = r
