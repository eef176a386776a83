//! Dense matrices: row-major, shared, copy-on-write.

use std::sync::Arc;

use daphne_ir::ValueType;

use crate::elem::Elem;
use crate::error::Error;
use crate::format::CppDisplay;
use crate::scalar::Scalar;

/// Cells that another owner holds: an embedding program's array (an `ndarray` array, a NumPy
/// buffer) used in place. The matrix only reads them; writing copies them first
/// (`DenseMatrix::cells_mut`). `owner` hands the owner back, so a result that is an input
/// unchanged can be returned as the very array it came from.
pub trait Foreign<T>: Send + Sync + std::fmt::Debug + std::panic::RefUnwindSafe + std::panic::UnwindSafe {
    /// The cells, row-major; they must not change while a matrix holds them.
    fn cells(&self) -> &[T];
    /// The owner, for downcasting by the program that made it.
    fn owner(&self) -> &(dyn std::any::Any + Send + Sync);
}

/// Where a matrix's cells live: a vector of its own (shared by clones), or a foreign owner's.
#[derive(Debug)]
enum Store<T> {
    Own(Arc<Vec<T>>),
    Foreign(Arc<dyn Foreign<T>>),
}

impl<T> Clone for Store<T> {
    fn clone(&self) -> Self {
        match self {
            Store::Own(v) => Store::Own(Arc::clone(v)),
            Store::Foreign(f) => Store::Foreign(Arc::clone(f)),
        }
    }
}

impl<T> Store<T> {
    fn all(&self) -> &[T] {
        match self {
            Store::Own(v) => v,
            Store::Foreign(f) => f.cells(),
        }
    }

    fn ptr(&self) -> usize {
        match self {
            Store::Own(v) => Arc::as_ptr(v) as usize,
            Store::Foreign(f) => Arc::as_ptr(f) as *const () as usize,
        }
    }

    fn strong_count(&self) -> usize {
        match self {
            Store::Own(v) => Arc::strong_count(v),
            Store::Foreign(f) => Arc::strong_count(f),
        }
    }
}

/// A dense row-major matrix. Cloning shares the cells; writing through `cells_mut` copies
/// them first if they are shared, so `B = A; B[0, 0] = 1;` leaves `A` alone. A range of rows
/// (`row_range`) shares its parent's cells too, from an offset. The cells may be a foreign
/// owner's (`DenseMatrix::foreign`), read in place.
#[derive(Debug, Clone)]
pub struct DenseMatrix<T> {
    rows: usize,
    cols: usize,
    cells: Store<T>,
    /// Where this matrix's cells start in `cells`.
    offset: usize,
}

impl<T: Clone + PartialEq> PartialEq for DenseMatrix<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.rows, self.cols) == (other.rows, other.cols) && self.cells() == other.cells()
    }
}

impl<T: Clone> DenseMatrix<T> {
    /// The rows (`rows`) or columns `idx`, in that order.
    pub fn pick(&self, rows: bool, idx: &[usize]) -> DenseMatrix<T> {
        if rows {
            let mut cells = Vec::with_capacity(idx.len() * self.cols());
            for &i in idx {
                cells.extend_from_slice(self.row(i));
            }
            DenseMatrix::from_vec(idx.len(), self.cols(), cells)
        } else {
            let mut cells = Vec::with_capacity(idx.len() * self.rows());
            for i in 0..self.rows() {
                for &j in idx {
                    cells.push(self.get(i, j).clone());
                }
            }
            DenseMatrix::from_vec(self.rows(), idx.len(), cells)
        }
    }

    /// A matrix from row-major cells; `cells.len()` must be `rows * cols`.
    pub fn from_vec(rows: usize, cols: usize, cells: Vec<T>) -> DenseMatrix<T> {
        debug_assert_eq!(cells.len(), rows * cols);
        DenseMatrix { rows, cols, cells: Store::Own(Arc::new(cells)), offset: 0 }
    }

    /// A `rows x cols` matrix over a foreign owner's row-major cells, used in place (no copy);
    /// `None` when the owner holds another number of cells.
    pub fn foreign(rows: usize, cols: usize, owner: Arc<dyn Foreign<T>>) -> Option<DenseMatrix<T>> {
        (rows.checked_mul(cols)? == owner.cells().len()).then_some(DenseMatrix {
            rows,
            cols,
            cells: Store::Foreign(owner),
            offset: 0,
        })
    }

    /// The foreign owner of all of this matrix's cells, if they are a foreign owner's and this
    /// matrix spans them all (not a range of them).
    pub fn foreign_owner(&self) -> Option<&Arc<dyn Foreign<T>>> {
        match &self.cells {
            Store::Foreign(f) if self.offset == 0 && f.cells().len() == self.rows * self.cols => Some(f),
            _ => None,
        }
    }

    /// A `rows x cols` matrix of the row-major cells `make` returns (given their number),
    /// made only once the memory budget has room for them. Every kernel whose result size
    /// comes from a script's numbers (`fill(0, 1e18, 1)`) or multiplies sizes (`x @ t(x)`)
    /// builds its result here, so an impossible size is an error naming the size and `what`
    /// (the operation), never an abort.
    pub fn build(
        rows: usize,
        cols: usize,
        what: &str,
        make: impl FnOnce(usize) -> Result<Vec<T>, Error>,
    ) -> Result<DenseMatrix<T>, Error> {
        crate::memory::check_shape::<T>(rows, cols, what)?;
        let n = rows * cols;
        let cells = make(n)?;
        if cells.len() != n {
            return Err(Error::Internal(format!("{what} made {} cells for {rows}x{cols}", cells.len())));
        }
        Ok(DenseMatrix::from_vec(rows, cols, cells))
    }

    /// A `rows x cols` matrix of `value` ([`DenseMatrix::build`]).
    pub fn filled(rows: usize, cols: usize, value: T, what: &str) -> Result<DenseMatrix<T>, Error> {
        DenseMatrix::build(rows, cols, what, |n| Ok(vec![value; n]))
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn cells(&self) -> &[T] {
        &self.cells.all()[self.offset..self.offset + self.rows * self.cols]
    }

    /// Whether `other` is this matrix (the same shape over the same shared cells).
    pub fn is_same(&self, other: &DenseMatrix<T>) -> bool {
        self.cells.ptr() == other.cells.ptr()
            && (self.rows, self.cols, self.offset) == (other.rows, other.cols, other.offset)
    }

    /// Whether no other matrix shares these cells (the distributed runtime frees a cached
    /// copy on workers when only its cache still holds the matrix).
    pub fn is_unshared(&self) -> bool {
        self.cells.strong_count() == 1
    }

    /// An identity for caching: where the cells are, from where, and the shape. Two matrices
    /// with the same identity while both are alive have the same cells (writing copies
    /// shared cells first).
    pub fn identity(&self) -> (usize, usize, usize, usize) {
        (self.cells.ptr(), self.offset, self.rows, self.cols)
    }

    /// The cells as a vector of their own, when no other matrix shares them and this matrix
    /// spans all of them (not a range of a larger one) and they are not a foreign owner's;
    /// else the matrix back. (A worker keeps the cells of a freed object for its next result
    /// of the same size; an embedding program takes a result's cells without a copy.)
    pub fn into_cells(self) -> Result<Vec<T>, DenseMatrix<T>> {
        if self.offset != 0 || self.cells.all().len() != self.rows * self.cols {
            return Err(self);
        }
        match self {
            DenseMatrix { rows, cols, cells: Store::Own(cells), offset } => {
                Arc::try_unwrap(cells).map_err(|cells| DenseMatrix { rows, cols, cells: Store::Own(cells), offset })
            }
            foreign => Err(foreign),
        }
    }

    /// The cells for writing, copied first if another matrix shares them (or a foreign owner
    /// holds them).
    pub fn cells_mut(&mut self) -> &mut [T] {
        if self.offset != 0
            || self.cells.all().len() != self.rows * self.cols
            || matches!(self.cells, Store::Foreign(_))
        {
            self.cells = Store::Own(Arc::new(self.cells().to_vec()));
            self.offset = 0;
        }
        match &mut self.cells {
            Store::Own(v) => Arc::make_mut(v).as_mut_slice(),
            Store::Foreign(_) => unreachable!("foreign cells were copied above"),
        }
    }

    pub fn get(&self, r: usize, c: usize) -> &T {
        &self.cells()[r * self.cols + c]
    }

    pub fn row(&self, r: usize) -> &[T] {
        &self.cells()[r * self.cols..(r + 1) * self.cols]
    }

    /// The same cells with another shape of the same size.
    pub fn reshaped(&self, rows: usize, cols: usize) -> DenseMatrix<T> {
        DenseMatrix { rows, cols, cells: self.cells.clone(), offset: self.offset }
    }

    /// Rows `lo..hi` as a matrix sharing these cells.
    pub fn row_range(&self, lo: usize, hi: usize) -> DenseMatrix<T> {
        debug_assert!(lo <= hi && hi <= self.rows);
        DenseMatrix { rows: hi - lo, cols: self.cols, cells: self.cells.clone(), offset: self.offset + lo * self.cols }
    }

    /// Columns `lo..hi` as a new matrix.
    pub fn col_range(&self, lo: usize, hi: usize) -> DenseMatrix<T> {
        let cells = (0..self.rows).flat_map(|r| self.row(r)[lo..hi].iter().cloned()).collect();
        DenseMatrix::from_vec(self.rows, hi - lo, cells)
    }

    /// The parts stacked vertically (`rows`) or side by side; `None` when their shapes do not
    /// fit together.
    pub fn concat(parts: &[&DenseMatrix<T>], rows: bool) -> Option<DenseMatrix<T>> {
        let first = parts.first()?;
        if rows {
            let cols = first.cols;
            if parts.iter().any(|p| p.cols != cols) {
                return None;
            }
            // One allocation of the whole (a flattening iterator gives no exact size, so
            // collecting it grew and copied the vector as it went).
            let mut cells = Vec::with_capacity(parts.iter().map(|p| p.cells().len()).sum());
            for p in parts {
                cells.extend_from_slice(p.cells());
            }
            Some(DenseMatrix::from_vec(parts.iter().map(|p| p.rows).sum(), cols, cells))
        } else {
            let n = first.rows;
            if parts.iter().any(|p| p.rows != n) {
                return None;
            }
            let cols: usize = parts.iter().map(|p| p.cols).sum();
            let mut cells = Vec::with_capacity(n * cols);
            for r in 0..n {
                for p in parts {
                    cells.extend_from_slice(p.row(r));
                }
            }
            Some(DenseMatrix::from_vec(n, cols, cells))
        }
    }

    pub fn map<U: Clone>(&self, f: impl Fn(&T) -> U) -> DenseMatrix<U> {
        DenseMatrix::from_vec(self.rows, self.cols, self.cells().iter().map(f).collect())
    }
}

/// A matrix of any value type.
#[derive(Debug, Clone, PartialEq)]
pub enum Matrix {
    F64(DenseMatrix<f64>),
    F32(DenseMatrix<f32>),
    Si64(DenseMatrix<i64>),
    Si32(DenseMatrix<i32>),
    Si8(DenseMatrix<i8>),
    Ui64(DenseMatrix<u64>),
    Ui32(DenseMatrix<u32>),
    Ui8(DenseMatrix<u8>),
    Bool(DenseMatrix<bool>),
    Str(DenseMatrix<Arc<str>>),
}

/// Runs `$body` with `$m` bound to the typed matrix inside a numeric `Matrix`, and `$str`
/// for a string matrix.
#[macro_export]
macro_rules! with_matrix {
    ($matrix:expr, $m:ident => $body:expr, $s:ident => $str:expr) => {
        match $matrix {
            $crate::matrix::Matrix::F64($m) => $body,
            $crate::matrix::Matrix::F32($m) => $body,
            $crate::matrix::Matrix::Si64($m) => $body,
            $crate::matrix::Matrix::Si32($m) => $body,
            $crate::matrix::Matrix::Si8($m) => $body,
            $crate::matrix::Matrix::Ui64($m) => $body,
            $crate::matrix::Matrix::Ui32($m) => $body,
            $crate::matrix::Matrix::Ui8($m) => $body,
            $crate::matrix::Matrix::Bool($m) => $body,
            $crate::matrix::Matrix::Str($s) => $str,
        }
    };
}

/// Runs `$body` with `$t` a type alias for the Rust element type of numeric value type `$vt`
/// (an `index` is stored as `u64`); `$str` for strings.
#[macro_export]
macro_rules! with_elem_type {
    ($vt:expr, $t:ident => $body:expr, str => $str:expr) => {
        match $vt {
            daphne_ir::ValueType::F64 => {
                type $t = f64;
                $body
            }
            daphne_ir::ValueType::F32 => {
                type $t = f32;
                $body
            }
            daphne_ir::ValueType::Si64 => {
                type $t = i64;
                $body
            }
            daphne_ir::ValueType::Si32 => {
                type $t = i32;
                $body
            }
            daphne_ir::ValueType::Si8 => {
                type $t = i8;
                $body
            }
            daphne_ir::ValueType::Ui64 | daphne_ir::ValueType::Index => {
                type $t = u64;
                $body
            }
            daphne_ir::ValueType::Ui32 => {
                type $t = u32;
                $body
            }
            daphne_ir::ValueType::Ui8 => {
                type $t = u8;
                $body
            }
            daphne_ir::ValueType::Bool => {
                type $t = bool;
                $body
            }
            daphne_ir::ValueType::Str => $str,
        }
    };
}

/// Builds a `Matrix` of the same variant by applying `$body` (which yields a
/// `DenseMatrix` of the same element type) to the typed matrix `$x` inside `$matrix`.
#[macro_export]
macro_rules! map_cells {
    ($matrix:expr, $x:ident => $body:expr) => {
        match $matrix {
            $crate::matrix::Matrix::F64($x) => $crate::matrix::Matrix::F64($body),
            $crate::matrix::Matrix::F32($x) => $crate::matrix::Matrix::F32($body),
            $crate::matrix::Matrix::Si64($x) => $crate::matrix::Matrix::Si64($body),
            $crate::matrix::Matrix::Si32($x) => $crate::matrix::Matrix::Si32($body),
            $crate::matrix::Matrix::Si8($x) => $crate::matrix::Matrix::Si8($body),
            $crate::matrix::Matrix::Ui64($x) => $crate::matrix::Matrix::Ui64($body),
            $crate::matrix::Matrix::Ui32($x) => $crate::matrix::Matrix::Ui32($body),
            $crate::matrix::Matrix::Ui8($x) => $crate::matrix::Matrix::Ui8($body),
            $crate::matrix::Matrix::Bool($x) => $crate::matrix::Matrix::Bool($body),
            $crate::matrix::Matrix::Str($x) => $crate::matrix::Matrix::Str($body),
        }
    };
}

/// Conversion between typed dense matrices and `Matrix`.
pub trait MatrixElem: Elem {
    fn wrap(m: DenseMatrix<Self>) -> Matrix;
}

macro_rules! matrix_elem {
    ($t:ty, $variant:ident) => {
        impl MatrixElem for $t {
            fn wrap(m: DenseMatrix<Self>) -> Matrix {
                Matrix::$variant(m)
            }
        }
    };
}
matrix_elem!(f64, F64);
matrix_elem!(f32, F32);
matrix_elem!(i64, Si64);
matrix_elem!(i32, Si32);
matrix_elem!(i8, Si8);
matrix_elem!(u64, Ui64);
matrix_elem!(u32, Ui32);
matrix_elem!(u8, Ui8);
matrix_elem!(bool, Bool);

impl Matrix {
    pub fn rows(&self) -> usize {
        with_matrix!(self, m => m.rows(), s => s.rows())
    }

    pub fn cols(&self) -> usize {
        with_matrix!(self, m => m.cols(), s => s.cols())
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Matrix::F64(_) => ValueType::F64,
            Matrix::F32(_) => ValueType::F32,
            Matrix::Si64(_) => ValueType::Si64,
            Matrix::Si32(_) => ValueType::Si32,
            Matrix::Si8(_) => ValueType::Si8,
            Matrix::Ui64(_) => ValueType::Ui64,
            Matrix::Ui32(_) => ValueType::Ui32,
            Matrix::Ui8(_) => ValueType::Ui8,
            Matrix::Bool(_) => ValueType::Bool,
            Matrix::Str(_) => ValueType::Str,
        }
    }

    /// The cells converted to `T` (with C++ casts); `None` for a string matrix. When the
    /// matrix already holds `T`, the cells are shared, not copied.
    pub fn to_typed<T: MatrixElem>(&self) -> Option<DenseMatrix<T>> {
        fn convert<S: MatrixElem, T: MatrixElem>(m: &DenseMatrix<S>) -> DenseMatrix<T> {
            match (m as &dyn std::any::Any).downcast_ref::<DenseMatrix<T>>() {
                Some(same) => same.clone(),
                None => m.map(|&x| x.cast::<T>()),
            }
        }
        with_matrix!(self, m => Some(convert::<_, T>(m)), _s => None)
    }

    /// The matrix converted to value type `vt`; `None` between strings and numbers.
    pub fn cast(&self, vt: ValueType) -> Option<Matrix> {
        if self.value_type() == vt || (vt == ValueType::Index && self.value_type() == ValueType::Ui64) {
            return Some(self.clone());
        }
        if let (Matrix::Str(s), true) = (self, vt != ValueType::Str) {
            // Strings convert as DAPHNE's casts read them (std::stod / std::stoll).
            let cells: Option<Vec<Scalar>> = s.cells().iter().map(|t| Scalar::Str(t.clone()).cast(vt)).collect();
            return Matrix::from_scalars(s.rows(), s.cols(), &cells?, vt).ok();
        }
        with_elem_type!(vt, T => self.to_typed::<T>().map(T::wrap), str => match self {
            Matrix::Str(s) => Some(Matrix::Str(s.clone())),
            _ => Some(Matrix::Str(with_matrix!(self, m => m.map(|x| Arc::from(x.cpp_to_string())), s => s.clone()))),
        })
    }

    /// A `rows x cols` matrix of value type `vt` with every cell zero (or the empty string):
    /// what the readers read cells into. Checked against the memory budget, as `build`.
    pub fn zeroed(vt: ValueType, rows: usize, cols: usize, what: &str) -> Result<Matrix, Error> {
        Ok(match vt {
            ValueType::F64 => Matrix::F64(DenseMatrix::filled(rows, cols, 0.0, what)?),
            ValueType::F32 => Matrix::F32(DenseMatrix::filled(rows, cols, 0.0, what)?),
            ValueType::Si64 => Matrix::Si64(DenseMatrix::filled(rows, cols, 0, what)?),
            ValueType::Si32 => Matrix::Si32(DenseMatrix::filled(rows, cols, 0, what)?),
            ValueType::Si8 => Matrix::Si8(DenseMatrix::filled(rows, cols, 0, what)?),
            ValueType::Ui64 | ValueType::Index => Matrix::Ui64(DenseMatrix::filled(rows, cols, 0, what)?),
            ValueType::Ui32 => Matrix::Ui32(DenseMatrix::filled(rows, cols, 0, what)?),
            ValueType::Ui8 => Matrix::Ui8(DenseMatrix::filled(rows, cols, 0, what)?),
            ValueType::Bool => Matrix::Bool(DenseMatrix::filled(rows, cols, false, what)?),
            ValueType::Str => Matrix::Str(DenseMatrix::filled(rows, cols, Arc::from(""), what)?),
        })
    }

    /// The rows (`rows`) or columns `idx` of the matrix, in that order.
    pub fn pick(&self, rows: bool, idx: &[usize]) -> Matrix {
        map_cells!(self, x => x.pick(rows, idx))
    }

    /// The cell `(i, j)` as a scalar.
    pub fn cell(&self, i: usize, j: usize) -> Scalar {
        match self {
            Matrix::Str(s) => Scalar::Str(s.get(i, j).clone()),
            Matrix::Ui64(x) => Scalar::Ui64(*x.get(i, j)),
            other => {
                with_matrix!(other, x => Scalar::from_elem(*x.get(i, j), other.value_type()), _s => Scalar::Bool(false))
            }
        }
    }

    /// A matrix of value type `vt` from row-major scalars (`rows * cols` of them), each
    /// converted as C++ converts; fails if one cannot be.
    pub fn from_scalars(rows: usize, cols: usize, cells: &[Scalar], vt: ValueType) -> Result<Matrix, Error> {
        let bad = || Error::from("a matrix cell cannot be converted to the matrix's value type");
        Ok(with_elem_type!(vt, T => {
            let v = cells.iter().map(|s| s.get::<T>()).collect::<Option<Vec<T>>>().ok_or_else(bad)?;
            T::wrap(DenseMatrix::from_vec(rows, cols, v))
        }, str => {
            let v = cells
                .iter()
                .map(|s| match s.cast(ValueType::Str) {
                    Some(Scalar::Str(t)) => Ok(t),
                    _ => Err(bad()),
                })
                .collect::<Result<Vec<Arc<str>>, Error>>()?;
            Matrix::Str(DenseMatrix::from_vec(rows, cols, v))
        }))
    }

    /// Rows `lo..hi` as a new matrix.
    pub fn row_range(&self, lo: usize, hi: usize) -> Matrix {
        map_cells!(self, m => m.row_range(lo, hi))
    }

    /// See `DenseMatrix::identity`.
    pub fn identity(&self) -> (usize, usize, usize, usize) {
        with_matrix!(self, m => m.identity(), s => s.identity())
    }

    /// See `DenseMatrix::is_unshared`.
    pub fn is_unshared(&self) -> bool {
        with_matrix!(self, m => m.is_unshared(), s => s.is_unshared())
    }

    /// Matrices of one value type stacked vertically (`rows`) or side by side; `None` when
    /// their value types or shapes do not fit together.
    pub fn concat(parts: &[Matrix], rows: bool) -> Option<Matrix> {
        macro_rules! cat {
            ($($v:ident),*) => {
                match parts.first()? {
                    $(Matrix::$v(_) => {
                        let typed: Option<Vec<_>> =
                            parts.iter().map(|p| if let Matrix::$v(m) = p { Some(m) } else { None }).collect();
                        Some(Matrix::$v(DenseMatrix::concat(&typed?, rows)?))
                    })*
                }
            };
        }
        cat!(F64, F32, Si64, Si32, Si8, Ui64, Ui32, Ui8, Bool, Str)
    }

    /// DAPHNE's printed form: a header line and one line per row, cells separated by spaces.
    pub fn print(&self, out: &mut String) {
        self.print_as(out, false);
    }

    /// DAPHNE's header for this matrix: `DenseMatrix(2x3, double)`, or `CSRMatrix(...)` when
    /// it has the sparse representation.
    pub fn header(&self, sparse: bool) -> String {
        header(sparse, self.rows(), self.cols(), self.value_type())
    }

    /// The printed form; a sparse (CSR) matrix prints every cell too, as DAPHNE's does.
    pub fn print_as(&self, out: &mut String, sparse: bool) {
        self.print_rows(out, sparse, &mut |_| {});
    }

    /// `print_as`, calling `row_done` with the text so far after every row: a printer takes
    /// the text from there in pieces, so a large matrix never has all its text in memory.
    pub fn print_rows(&self, out: &mut String, sparse: bool, row_done: &mut dyn FnMut(&mut String)) {
        out.push_str(&self.header(sparse));
        out.push('\n');
        fn rows<T: CppDisplay + Clone>(m: &DenseMatrix<T>, out: &mut String, row_done: &mut dyn FnMut(&mut String)) {
            for r in 0..m.rows() {
                for (c, x) in m.row(r).iter().enumerate() {
                    if c > 0 {
                        out.push(' ');
                    }
                    x.cpp_fmt(out);
                }
                out.push('\n');
                row_done(out);
            }
        }
        with_matrix!(self, m => rows(m, out, row_done), s => rows(s, out, row_done));
    }
}

impl CppDisplay for Arc<str> {
    fn cpp_fmt(&self, out: &mut String) {
        out.push_str(self);
    }
}

/// The bytes of one cell of value type `vt`.
pub fn cell_width(vt: ValueType) -> usize {
    with_elem_type!(vt, T => std::mem::size_of::<T>(), str => std::mem::size_of::<Arc<str>>())
}

/// DAPHNE's header of a `rows x cols` matrix of `vt`: `DenseMatrix(2x3, double)` or, with the
/// sparse representation, `CSRMatrix(2x3, double)`.
pub fn header(sparse: bool, rows: usize, cols: usize, vt: ValueType) -> String {
    let name = if vt == ValueType::Str { "std::string" } else { vt.cpp_name() };
    let kind = if sparse { "CSRMatrix" } else { "DenseMatrix" };
    format!("{kind}({rows}x{cols}, {name})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_range_shares_cells_until_written() {
        let m = DenseMatrix::from_vec(3, 2, vec![1, 2, 3, 4, 5, 6]);
        let mut r = m.row_range(1, 3);
        assert_eq!(r.cells(), [3, 4, 5, 6]);
        assert_eq!(r.row(1), [5, 6]);
        assert_eq!(*r.get(0, 1), 4);
        assert_eq!(r, DenseMatrix::from_vec(2, 2, vec![3, 4, 5, 6]), "equality ignores where cells start");
        assert_eq!(r.row_range(1, 2).cells(), [5, 6]);
        assert!(r.is_same(&r.clone()) && !r.is_same(&m.row_range(0, 2)));
        r.cells_mut()[0] = 30;
        assert_eq!(r.cells(), [30, 4, 5, 6]);
        assert_eq!(m.cells(), [1, 2, 3, 4, 5, 6], "the parent is unchanged");
        assert_eq!(m.row_range(3, 3).rows(), 0);
        let parts = [&m.row_range(0, 1), &m.row_range(1, 3)];
        assert_eq!(DenseMatrix::concat(&parts, true), Some(m.clone()));
        let empty = DenseMatrix::<i32>::from_vec(4, 0, vec![]);
        assert_eq!(DenseMatrix::concat(&[&empty, &empty], true).map(|c| c.rows()), Some(8));
    }

    #[derive(Debug)]
    struct Owned(Vec<f64>);

    impl Foreign<f64> for Owned {
        fn cells(&self) -> &[f64] {
            &self.0
        }
        fn owner(&self) -> &(dyn std::any::Any + Send + Sync) {
            &self.0
        }
    }

    #[test]
    fn foreign_cells_are_read_in_place_and_copied_before_a_write() {
        let owner: Arc<dyn Foreign<f64>> = Arc::new(Owned(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        assert!(DenseMatrix::foreign(4, 2, owner.clone()).is_none(), "8 cells asked of 6");
        let m = DenseMatrix::foreign(3, 2, owner.clone()).expect("6 cells");
        assert_eq!(m.cells().as_ptr(), owner.cells().as_ptr(), "read in place");
        assert!(m.foreign_owner().is_some());
        let r = m.row_range(1, 3);
        assert_eq!(r.cells(), [3.0, 4.0, 5.0, 6.0]);
        assert!(r.foreign_owner().is_none(), "a range is not all of the owner's cells");
        let mut w = m.clone();
        w.cells_mut()[0] = 10.0;
        assert_eq!(w.cells(), [10.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(owner.cells(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "the owner's cells never change");
        assert!(w.foreign_owner().is_none());
        assert!(m.into_cells().is_err(), "foreign cells are not ours to hand out");
    }
}
