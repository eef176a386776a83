"""DaphneLib's Python API over daphne-rs.

    from daphne.context.daphne_context import DaphneContext
    dc = DaphneContext()
    X = dc.from_numpy(a)
    print((X @ X.t()).sum().compute())

Objects are lazy: operators and methods build a program; ``compute()`` compiles it (once per
program text and input types), runs it in this process with the GIL released, and returns
NumPy arrays, Python scalars or pandas DataFrames.
"""

from daphne._daphne import DaphneError
from daphne.context.daphne_context import DaphneContext
from daphne.operator.nodes import Frame, Matrix, Scalar

__all__ = ["DaphneContext", "DaphneError", "Matrix", "Frame", "Scalar"]
