//! The contract between constant folding (`passes::fold_constants`) and whoever computes the
//! folded values (the runtime's kernels, which the driver supplies): the compiler never links
//! the runtime, and the runtime never links the passes.

use crate::{Literal, OpKind, Type, ValueType};

/// The most cells a matrix may have to be folded (as an operand or a result).
pub const MAX_FOLD_CELLS: usize = 64;

/// A compile-time value: a scalar, or a small dense matrix (row-major cells of one type).
#[derive(Debug, Clone, PartialEq)]
pub enum Const {
    Scalar(Literal),
    Matrix { vt: ValueType, rows: u64, cols: u64, cells: Vec<Literal> },
}

/// Computes one op on constant operands, as the runtime would.
pub trait Evaluate {
    /// The op's one result, or `None` when the op fails or gives no scalar or dense matrix.
    fn eval(&self, kind: &OpKind, args: &[Const], result: &Type) -> Option<Const>;
}
