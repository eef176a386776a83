"""``DaphneContext``: where lazy matrices, frames and scalars come from (DaphneLib's names)."""

import re
from typing import Callable, Iterable, List, Optional, Tuple

import numpy as np

from daphne import _daphne
from daphne.operator.nodes import (Cond, ForLoop, Frame, Function, Leaf, Matrix, Scalar, WhileLoop,
                                   _Statement, literal)


class DaphneContext:
    """Builds lazy programs and runs them in this process.

    ``DaphneContext(distributed=True, workers=["host:port", ...])`` runs pipelines on workers
    started by ``daphne worker host:port``. ``threads``, ``fuse`` and ``vectorize`` are
    ``daphne``'s ``--num-threads``, ``--no-fuse`` and ``--no-vec``.
    """

    def __init__(self, distributed: bool = False, workers: Optional[List[str]] = None,
                 threads: Optional[int] = None, fuse: bool = True, vectorize: bool = True):
        if distributed and not workers:
            raise ValueError("a distributed DaphneContext needs workers=['host:port', ...]")
        self._ctx = _daphne.Context(threads=threads, fuse=fuse, vectorize=vectorize,
                                    workers=list(workers or []) if distributed else [])
        # Views registered by `Frame.registerView`, by name: a query reads those it names.
        self._views = {}

    def distributed_stats(self):
        """What the workers did for this context so far: a dict of ``pipelines`` run on them,
        ``stored_bytes`` and ``fetched_bytes`` moved, ``created`` matrices made there; ``None``
        for a local context. (Not DaphneLib's: DaphneLib has no distributed context.)"""
        return self._ctx.transfer()

    # -- data from Python ---------------------------------------------------------------------

    def from_numpy(self, mat: np.ndarray, shared_memory: bool = True, verbose: bool = False) -> Matrix:
        """A matrix over a NumPy array: used in place when it is C-contiguous and of a
        supported dtype (float64, float32, int64, int32, int8, uint64, uint32, uint8), else
        copied once. A 1-D array is a column (n x 1), as in DaphneLib."""
        a = np.asarray(mat)
        if a.ndim == 1:
            a = a.reshape(-1, 1)
        if a.ndim != 2:
            raise ValueError(f"from_numpy takes a 1-D or 2-D array, not {a.ndim}-D")
        if a.dtype == np.bool_:
            a = a.astype(np.uint8)
        a = np.ascontiguousarray(a)
        return Matrix(self, Leaf(a))

    def from_pandas(self, df, shared_memory: bool = True, verbose: bool = False, keepIndex: bool = False) -> Frame:
        """A frame over a pandas DataFrame's columns (each used in place when its values are a
        contiguous array of a supported dtype). A column of strings (object or string dtype)
        is a ``str`` column (copied)."""
        import pandas as pd
        labels = [str(c) for c in df.columns]
        cols = []
        for c in df.columns:
            s = df[c]
            if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
                cols.append(s.tolist())
                continue
            v = np.asarray(s.to_numpy())
            if v.dtype == np.bool_:
                v = v.astype(np.uint8)
            cols.append(np.ascontiguousarray(v).reshape(-1, 1))
        return Frame(self, Leaf(("frame", labels, cols)))

    def readMatrix(self, file: str) -> Matrix:
        return Matrix(self, "readMatrix", [literal(file)])

    def readFrame(self, file: str) -> Frame:
        return Frame(self, "readFrame", [literal(file)])

    read_csv = readFrame

    # -- data made by the program -------------------------------------------------------------

    def fill(self, arg, rows: int, cols: int) -> Matrix:
        return Matrix(self, "fill", [arg, rows, cols])

    def seq(self, start, end, inc=1) -> Matrix:
        return Matrix(self, "seq", [start, end, inc])

    def rand(self, rows: int, cols: int, min=None, max=None, sparsity=None, seed=None) -> Matrix:
        return Matrix(self, "rand", [rows, cols,
                                     0.0 if min is None else min, 1.0 if max is None else max,
                                     1.0 if sparsity is None else sparsity, -1 if seed is None else seed])

    def sample(self, range, size, withReplacement: bool, seed=-1) -> Matrix:
        return Matrix(self, "sample", [range, size, withReplacement, seed])

    def diagMatrix(self, arg: Matrix) -> Matrix:
        return Matrix(self, "diagMatrix", [arg])

    def createFrame(self, columns: List[Matrix], labels: Optional[List[str]] = None) -> Frame:
        args = list(columns) + [literal(l) for l in (labels or [])]
        return Frame(self, "createFrame", args)

    # -- control flow and functions (traced: see `daphne.operator.nodes`) ---------------------

    def for_loop(self, input_nodes: Iterable, callback: Callable, start, end, step=None) -> Tuple:
        """``for (i in start:end[:step])`` (``end`` included, as in DaphneDSL) over the loop
        variables ``input_nodes``: ``callback(*variables, i)`` returns their next values.
        Returns the variables' values after the loop (a tuple, one per input node)."""
        return tuple(ForLoop(self, list(input_nodes), callback, start, end, step))

    def while_loop(self, input_nodes: Iterable, cond: Callable, callback: Callable) -> Tuple:
        """``while (cond(*variables)) variables = callback(*variables)``; returns the
        variables' values after the loop."""
        return tuple(WhileLoop(self, list(input_nodes), cond, callback))

    def do_while_loop(self, input_nodes: Iterable, cond: Callable, callback: Callable) -> Tuple:
        """As ``while_loop``, with the condition tested after each iteration (the body runs at
        least once)."""
        return tuple(WhileLoop(self, list(input_nodes), cond, callback, do_while=True))

    def cond(self, input_nodes: Iterable, pred: Callable, then_fn: Callable, else_fn: Callable = None) -> Tuple:
        """If ``pred()`` (no arguments: a scalar), ``then_fn(*input_nodes)``, else
        ``else_fn(*input_nodes)`` (or the inputs unchanged without one)."""
        return tuple(Cond(self, list(input_nodes), pred, then_fn, else_fn))

    def function(self, callback: Callable) -> Function:
        """A user-defined function (also as the decorator ``@dc.function``): parameters are
        matrices unless annotated ``Scalar`` or ``Frame``; a call returns a tuple of its
        results; a program defines it once as a DaphneDSL ``def``."""
        return Function(self, callback)

    def logical_and(self, left_operand: Scalar, right_operand: Scalar) -> Scalar:
        return Scalar(self, "&&", [left_operand, right_operand])

    def logical_or(self, left_operand: Scalar, right_operand: Scalar) -> Scalar:
        return Scalar(self, "||", [left_operand, right_operand])

    # -- SQL ----------------------------------------------------------------------------------

    def _register_view(self, name: str, frame: Frame) -> _Statement:
        view = _Statement(self, "registerView", [name, frame])
        self._views[name] = view
        return view

    def sql(self, query: str) -> Frame:
        """The frame ``query`` computes over the views registered before (``F.registerView``):
        the program registers each view the query names, then runs the query."""
        views = [v for name, v in self._views.items()
                 if re.search(r"(?<![\w.])" + re.escape(name) + r"(?![\w])", query, re.IGNORECASE)]
        return Frame(self, "sql", [query] + views)
