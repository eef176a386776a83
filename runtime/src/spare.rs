//! Cells of matrices nobody holds any more, kept for the next result of the same size.
//!
//! A worker running `X = f(X)` in a loop frees the last iteration's `X` just before it computes
//! the next one of the same size; a fresh buffer of that size is new pages from the system (a
//! page fault and a page of zeros written per 4 KiB or 2 MiB: as much memory traffic as the
//! pipeline itself), while the freed one is already mapped. The engine writes every cell of a
//! `rows` output, so it takes such a buffer as it is, without zeroing it.
//!
//! Invariant: a buffer is kept only once nothing else refers to it: `give` takes the value by
//! ownership and keeps its cells only when `DenseMatrix::into_cells` finds no other matrix
//! sharing them (`Arc::try_unwrap`), so a buffer handed out again is never still referenced.

use crate::matrix::{DenseMatrix, Matrix};
use crate::value::Value;

/// At most this many buffers are kept (the oldest goes first).
pub const MAX_BUFFERS: usize = 8;

/// Buffers smaller than this are not worth keeping (the allocator reuses small blocks itself).
pub const MIN_BYTES: usize = 256 << 10;

/// The buffers kept.
#[derive(Debug, Default)]
pub struct Spare {
    buffers: Vec<Buffer>,
}

/// One kept buffer, of one of the cell types the engine computes in.
#[derive(Debug)]
pub enum Buffer {
    F64(Vec<f64>),
    F32(Vec<f32>),
    Si64(Vec<i64>),
}

impl Buffer {
    fn bytes(&self) -> usize {
        match self {
            Buffer::F64(v) => std::mem::size_of_val(v.as_slice()),
            Buffer::F32(v) => std::mem::size_of_val(v.as_slice()),
            Buffer::Si64(v) => std::mem::size_of_val(v.as_slice()),
        }
    }
}

/// The cell types whose buffers are kept.
pub trait Reusable: Copy + Sized {
    /// The buffer's cells, if it holds cells of this type.
    fn unwrap(b: Buffer) -> Result<Vec<Self>, Buffer>;
    /// The buffer's length, if it holds cells of this type.
    fn len_of(b: &Buffer) -> Option<usize>;
}

macro_rules! reusable {
    ($t:ty, $variant:ident) => {
        impl Reusable for $t {
            fn unwrap(b: Buffer) -> Result<Vec<$t>, Buffer> {
                match b {
                    Buffer::$variant(v) => Ok(v),
                    other => Err(other),
                }
            }
            fn len_of(b: &Buffer) -> Option<usize> {
                match b {
                    Buffer::$variant(v) => Some(v.len()),
                    _ => None,
                }
            }
        }
    };
}

reusable!(f64, F64);
reusable!(f32, F32);
reusable!(i64, Si64);

impl Spare {
    /// Whether `value` is of a kind and size `give` may keep (a dense matrix of `f64`, `f32`
    /// or `si64` cells of at least `MIN_BYTES`); whether nothing else shares it is known only
    /// when it is given.
    pub fn may_keep(value: &Value) -> bool {
        let bytes = |rows: usize, cols: usize, cell: usize| rows.saturating_mul(cols).saturating_mul(cell);
        match value {
            Value::Matrix(Matrix::F64(m)) => bytes(m.rows(), m.cols(), 8) >= MIN_BYTES,
            Value::Matrix(Matrix::F32(m)) => bytes(m.rows(), m.cols(), 4) >= MIN_BYTES,
            Value::Matrix(Matrix::Si64(m)) => bytes(m.rows(), m.cols(), 8) >= MIN_BYTES,
            _ => false,
        }
    }

    /// Keeps the cells of `value` when it is a dense matrix of `f64`, `f32` or `si64` cells, at
    /// least `MIN_BYTES` large, that no other value shares; else drops it. Whether it kept them.
    pub fn give(&mut self, value: Value) -> bool {
        fn own<T: Clone>(m: DenseMatrix<T>) -> Option<Vec<T>> {
            m.into_cells().ok()
        }
        if !Self::may_keep(&value) {
            return false;
        }
        let buffer = match value {
            Value::Matrix(Matrix::F64(m)) => own(m).map(Buffer::F64),
            Value::Matrix(Matrix::F32(m)) => own(m).map(Buffer::F32),
            Value::Matrix(Matrix::Si64(m)) => own(m).map(Buffer::Si64),
            _ => None,
        };
        match buffer {
            Some(b) => {
                if self.buffers.len() >= MAX_BUFFERS {
                    self.buffers.remove(0);
                }
                self.buffers.push(b);
                true
            }
            _ => false,
        }
    }

    /// Takes `other`'s buffers too, as older than these (the oldest go beyond `MAX_BUFFERS`).
    pub fn absorb(&mut self, other: Spare) {
        let mut all = other.buffers;
        all.append(&mut self.buffers);
        let excess = all.len().saturating_sub(MAX_BUFFERS);
        all.drain(..excess);
        self.buffers = all;
    }

    /// A kept buffer of exactly `len` cells of type `T` (its cells are whatever they were).
    pub fn take<T: Reusable>(&mut self, len: usize) -> Option<Vec<T>> {
        let i = self.buffers.iter().position(|b| T::len_of(b) == Some(len))?;
        T::unwrap(self.buffers.remove(i)).ok()
    }

    /// The bytes kept.
    pub fn bytes(&self) -> usize {
        self.buffers.iter().map(Buffer::bytes).sum()
    }

    /// How many buffers are kept.
    pub fn len(&self) -> usize {
        self.buffers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buffers.is_empty()
    }

    /// Gives every buffer back to the system.
    pub fn clear(&mut self) {
        self.buffers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: usize, cols: usize, x: f64) -> DenseMatrix<f64> {
        DenseMatrix::from_vec(rows, cols, vec![x; rows * cols])
    }

    #[test]
    fn keeps_only_cells_nothing_else_holds() {
        let mut spare = Spare::default();
        let held = matrix(1000, 100, 1.5);
        let clone = held.clone();
        // Shared with `clone`: not kept, and `clone`'s cells are untouched.
        assert!(!spare.give(Value::Matrix(Matrix::F64(held))));
        assert!(spare.take::<f64>(100_000).is_none());
        assert!(clone.cells().iter().all(|&x| x == 1.5));
        // A range of rows is not all of its cells.
        assert!(!spare.give(Value::Matrix(Matrix::F64(clone.row_range(1, 1000)))));
        // The last holder gives them: kept, and handed out as the same allocation.
        let at = clone.cells().as_ptr();
        assert!(spare.give(Value::Matrix(Matrix::F64(clone))));
        assert_eq!(spare.bytes(), 800_000);
        assert!(spare.take::<f32>(100_000).is_none(), "another cell type");
        assert!(spare.take::<f64>(99_999).is_none(), "another length");
        let v = spare.take::<f64>(100_000).expect("the freed cells");
        assert_eq!(v.as_ptr(), at);
        assert!(spare.is_empty());
    }

    #[test]
    fn small_and_other_values_are_dropped_and_the_count_is_bounded() {
        let mut spare = Spare::default();
        assert!(!spare.give(Value::Matrix(Matrix::F64(matrix(10, 10, 0.0)))));
        assert!(!spare.give(Value::Scalar(crate::scalar::Scalar::F64(1.0))));
        for i in 0..MAX_BUFFERS + 3 {
            assert!(spare.give(Value::Matrix(Matrix::F64(matrix(1000 + i, 100, 0.0)))));
        }
        assert_eq!(spare.len(), MAX_BUFFERS);
        // The oldest went first.
        assert!(spare.take::<f64>(100_000).is_none());
        assert!(spare.take::<f64>((1000 + MAX_BUFFERS + 2) * 100).is_some());
        spare.clear();
        assert_eq!(spare.bytes(), 0);
    }
}
