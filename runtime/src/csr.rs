//! Sparse matrices in compressed sparse row (CSR) form: per row, the column positions and
//! values of the non-zero cells. The values are kept as a 1 x nnz dense matrix of the
//! element type, so every value type is supported without a second set of generics.
//!
//! Kernels that know CSR (printing, metadata, full aggregation, transposition, scaling by a
//! scalar, products with a dense matrix) keep matrices sparse; every other kernel gets a
//! dense copy (`to_dense`), which is always correct.

use std::sync::Arc;

use daphne_ir::ValueType;

use crate::error::Error;
use crate::matrix::{DenseMatrix, Matrix, MatrixElem};
use crate::scalar::Scalar;
use crate::with_matrix;

/// A CSR matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct CsrMatrix {
    rows: usize,
    cols: usize,
    /// `rows + 1` offsets into `col_idxs` and `values`.
    row_offsets: Arc<Vec<usize>>,
    col_idxs: Arc<Vec<usize>>,
    /// The non-zero values, row by row, as a 1 x nnz matrix.
    values: Matrix,
}

impl CsrMatrix {
    /// A CSR matrix from its parts; the offsets must be non-decreasing and end at the number
    /// of values, and the column indexes of each row increasing and below `cols`.
    pub fn new(
        rows: usize,
        cols: usize,
        row_offsets: Vec<usize>,
        col_idxs: Vec<usize>,
        values: Matrix,
    ) -> Result<CsrMatrix, Error> {
        let nnz = values.cols();
        let ok = row_offsets.len() == rows + 1
            && row_offsets.first() == Some(&0)
            && row_offsets.last() == Some(&nnz)
            && row_offsets.windows(2).all(|w| w[0] <= w[1])
            && col_idxs.len() == nnz
            && col_idxs.iter().all(|&c| c < cols)
            && values.rows() == 1
            && row_offsets.windows(2).all(|w| col_idxs[w[0]..w[1]].windows(2).all(|c| c[0] < c[1]));
        if !ok {
            return Err(Error::Internal("malformed CSR matrix".into()));
        }
        Ok(CsrMatrix { rows, cols, row_offsets: Arc::new(row_offsets), col_idxs: Arc::new(col_idxs), values })
    }

    /// The non-zero cells of a dense matrix.
    pub fn from_dense(m: &Matrix) -> Result<CsrMatrix, Error> {
        let (offsets, cols, values) = with_matrix!(m, x => {
            let (offsets, cols, vals) = compress(x, &Default::default());
            (offsets, cols, MatrixElem::wrap(DenseMatrix::from_vec(1, vals.len(), vals)))
        }, x => {
            let (offsets, cols, vals) = compress(x, &Arc::from(""));
            (offsets, cols, Matrix::Str(DenseMatrix::from_vec(1, vals.len(), vals)))
        });
        CsrMatrix::new(m.rows(), m.cols(), offsets, cols, values)
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn nnz(&self) -> usize {
        self.values.cols()
    }

    pub fn value_type(&self) -> ValueType {
        self.values.value_type()
    }

    /// The value type's zero.
    fn zero(&self) -> Scalar {
        Scalar::from_elem(0i64, self.value_type())
    }

    /// The cell at `(r, c)`.
    pub fn get(&self, r: usize, c: usize) -> Scalar {
        let (lo, hi) = (self.row_offsets[r], self.row_offsets[r + 1]);
        match self.col_idxs[lo..hi].binary_search(&c) {
            Ok(k) => self.values.cell(0, lo + k),
            Err(_) => self.zero(),
        }
    }

    /// A dense copy.
    pub fn to_dense(&self) -> Result<Matrix, Error> {
        Ok(with_matrix!(&self.values, v => MatrixElem::wrap(self.expand(v, Default::default())?),
            v => Matrix::Str(self.expand(v, Arc::from(""))?)))
    }

    /// The cells of a dense matrix with this pattern and values `v`, `zero` elsewhere.
    fn expand<T: Clone>(&self, v: &DenseMatrix<T>, zero: T) -> Result<DenseMatrix<T>, Error> {
        let mut dense = DenseMatrix::filled(self.rows, self.cols, zero, "a dense copy of a sparse matrix")?;
        let cells = dense.cells_mut();
        for r in 0..self.rows {
            for k in self.row_offsets[r]..self.row_offsets[r + 1] {
                cells[r * self.cols + self.col_idxs[k]] = v.get(0, k).clone();
            }
        }
        Ok(dense)
    }

    /// DAPHNE's printed form: the `CSRMatrix` header, then every cell, zeros included.
    pub fn print(&self, out: &mut String) {
        self.print_rows(out, &mut |_| {});
    }

    /// `print`, calling `row_done` after every row (see `Matrix::print_rows`).
    pub fn print_rows(&self, out: &mut String, row_done: &mut dyn FnMut(&mut String)) {
        out.push_str(&crate::matrix::header(true, self.rows, self.cols, self.value_type()));
        out.push('\n');
        let mut zero = String::new();
        self.zero().print(&mut zero);
        for r in 0..self.rows {
            let (lo, hi) = (self.row_offsets[r], self.row_offsets[r + 1]);
            let mut k = lo;
            for c in 0..self.cols {
                if c > 0 {
                    out.push(' ');
                }
                if k < hi && self.col_idxs[k] == c {
                    self.values.cell(0, k).print(out);
                    k += 1;
                } else {
                    out.push_str(&zero);
                }
            }
            out.push('\n');
            row_done(out);
        }
    }

    /// The transpose, still in CSR form.
    pub fn transpose(&self) -> Result<CsrMatrix, Error> {
        let mut counts = vec![0usize; self.cols + 1];
        for &c in self.col_idxs.iter() {
            counts[c + 1] += 1;
        }
        for c in 0..self.cols {
            counts[c + 1] += counts[c];
        }
        let offsets = counts.clone();
        let mut next = counts;
        let mut rows_of = vec![0usize; self.nnz()];
        let mut order = vec![0usize; self.nnz()];
        for r in 0..self.rows {
            for k in self.row_offsets[r]..self.row_offsets[r + 1] {
                let c = self.col_idxs[k];
                rows_of[next[c]] = r;
                order[next[c]] = k;
                next[c] += 1;
            }
        }
        let values = self.values.pick(false, &order);
        CsrMatrix::new(self.cols, self.rows, offsets, rows_of, values)
    }

    /// The same pattern with new values (computed from the old ones by an operation that keeps
    /// zero at zero, so the result means the same as the dense computation).
    pub fn map_values(&self, values: Matrix) -> Result<CsrMatrix, Error> {
        CsrMatrix::new(self.rows, self.cols, self.row_offsets.to_vec(), self.col_idxs.to_vec(), values)
    }

    pub fn values(&self) -> &Matrix {
        &self.values
    }

    /// Where each row's entries start in `col_idxs` and `values` (`rows + 1` offsets).
    pub fn row_offsets(&self) -> &[usize] {
        &self.row_offsets
    }

    /// The column of every entry, row by row.
    pub fn col_idxs(&self) -> &[usize] {
        &self.col_idxs
    }

    /// Rows `lo..hi` as a CSR matrix of their own.
    pub fn row_range(&self, lo: usize, hi: usize) -> Result<CsrMatrix, Error> {
        if lo > hi || hi > self.rows {
            return Err(Error::Internal(format!("rows {lo}..{hi} of a CSR matrix of {} rows", self.rows)));
        }
        let (a, b) = (self.row_offsets[lo], self.row_offsets[hi]);
        let offsets = self.row_offsets[lo..=hi].iter().map(|o| o - a).collect();
        let values = with_matrix!(&self.values, v => MatrixElem::wrap(v.row_range(0, 1).col_range(a, b)),
            v => Matrix::Str(v.col_range(a, b)));
        CsrMatrix::new(hi - lo, self.cols, offsets, self.col_idxs[a..b].to_vec(), values)
    }

    /// Whether the cells are shared with no other matrix (the distributed runtime frees a
    /// cached copy on workers when only its cache still holds the matrix).
    pub fn is_unshared(&self) -> bool {
        Arc::strong_count(&self.col_idxs) == 1
    }

    /// An identity for caching: where the cells are, and the shape.
    pub fn identity(&self) -> (usize, usize, usize, usize) {
        (Arc::as_ptr(&self.col_idxs) as usize, 0, self.rows, self.cols)
    }

    /// `self @ dense` as a dense f64 matrix.
    pub fn matmul_dense(&self, b: &DenseMatrix<f64>) -> Result<DenseMatrix<f64>, Error> {
        if self.cols != b.rows() {
            return Err(format!(
                "`@` needs as many columns on the left as rows on the right, but the shapes are {}x{} and {}x{}",
                self.rows,
                self.cols,
                b.rows(),
                b.cols()
            )
            .into());
        }
        let vals = self.values.to_typed::<f64>().ok_or("`@` needs numbers")?;
        let m = b.cols();
        let mut product = DenseMatrix::filled(self.rows, m, 0.0f64, "`@`")?;
        let out = product.cells_mut();
        for r in 0..self.rows {
            for k in self.row_offsets[r]..self.row_offsets[r + 1] {
                let (c, v) = (self.col_idxs[k], *vals.get(0, k));
                for (o, &y) in out[r * m..(r + 1) * m].iter_mut().zip(b.row(c)) {
                    *o += v * y;
                }
            }
        }
        Ok(product)
    }
}

/// Fails, naming `what` and the size, unless a CSR matrix of `rows` rows and `nnz` values of
/// `T` (and a count per row while it is made) fits in the memory budget. `nnz` is a float, as
/// kernels compute it from a sparsity; a NaN is left for the kernel to report.
pub fn check_size<T>(rows: usize, nnz: f64, what: &str) -> Result<(), Error> {
    let per_value = (std::mem::size_of::<T>() + std::mem::size_of::<usize>()) as f64;
    let bytes = (2.0 * rows as f64 + 1.0) * std::mem::size_of::<usize>() as f64 + nnz * per_value;
    let what = format!("{what} ({rows} rows, {} non-zeros)", crate::format::fmt_f64(nnz));
    if bytes.is_nan() {
        Ok(())
    } else if bytes >= isize::MAX as f64 {
        Err(format!("{what} is larger than any memory").into())
    } else {
        crate::memory::check(bytes as usize, &what)
    }
}

/// The row offsets, column indexes and values of the cells of `m` that are not `zero`.
fn compress<T: Clone + PartialEq>(m: &DenseMatrix<T>, zero: &T) -> (Vec<usize>, Vec<usize>, Vec<T>) {
    let (mut offsets, mut cols, mut vals) = (vec![0], Vec::new(), Vec::new());
    for r in 0..m.rows() {
        for (c, v) in m.row(r).iter().enumerate() {
            if v != zero {
                cols.push(c);
                vals.push(v.clone());
            }
        }
        offsets.push(cols.len());
    }
    (offsets, cols, vals)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense(rows: usize, cols: usize, cells: &[f64]) -> Matrix {
        Matrix::F64(DenseMatrix::from_vec(rows, cols, cells.to_vec()))
    }

    #[test]
    fn dense_round_trip_and_transpose() {
        let d = dense(2, 3, &[0.0, 1.5, 0.0, 2.0, 0.0, -3.0]);
        let s = CsrMatrix::from_dense(&d).unwrap();
        assert_eq!(s.nnz(), 3);
        assert_eq!(s.to_dense().unwrap(), d);
        assert_eq!(s.get(1, 2), Scalar::F64(-3.0));
        assert_eq!(s.get(0, 0), Scalar::F64(0.0));
        let t = s.transpose().unwrap();
        assert_eq!(t.to_dense().unwrap(), dense(3, 2, &[0.0, 2.0, 1.5, 0.0, 0.0, -3.0]));
    }

    #[test]
    fn malformed_parts_are_rejected() {
        let values = dense(1, 2, &[1.0, 2.0]);
        assert!(CsrMatrix::new(2, 2, vec![0, 1, 2], vec![0, 2], values.clone()).is_err());
        assert!(CsrMatrix::new(2, 2, vec![0, 2, 1], vec![0, 1], values.clone()).is_err());
        assert!(CsrMatrix::new(2, 2, vec![0, 2, 2], vec![1, 0], values.clone()).is_err());
        assert!(CsrMatrix::new(2, 2, vec![0, 1, 2], vec![1, 0], values).is_ok());
    }

    #[test]
    fn product_with_dense_matches_the_dense_product() {
        let s = CsrMatrix::from_dense(&dense(2, 3, &[0.0, 1.0, 0.0, 2.0, 0.0, 3.0])).unwrap();
        let b = DenseMatrix::from_vec(3, 2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let p = s.matmul_dense(&b).unwrap();
        assert_eq!(p.cells(), &[3.0, 4.0, 17.0, 22.0]);
        assert!(s.matmul_dense(&DenseMatrix::from_vec(2, 1, vec![1.0, 1.0])).is_err());
    }
}
