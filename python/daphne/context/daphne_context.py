"""``DaphneContext``: where lazy matrices, frames and scalars come from (DaphneLib's names)."""

from typing import List, Optional

import numpy as np

from daphne import _daphne
from daphne.operator.nodes import Frame, Matrix, Scalar, Leaf, literal


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
        contiguous array of a supported dtype)."""
        labels = [str(c) for c in df.columns]
        cols = []
        for c in df.columns:
            v = np.asarray(df[c].to_numpy())
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
