//! Kernels that create, reshape, combine and index matrices.

use daphne_ir::{Builtin, ValueType};

use super::args::{R, as_f64, int_arg, size_arg, wrap};
use super::cast::from_f64;
use crate::elem::Elem;
use crate::error::Error;
use crate::map_cells;
use crate::matrix::{DenseMatrix, Matrix, MatrixElem};
use crate::source::Source;
use crate::value::{Scalar, Value};
use crate::{with_elem_type, with_matrix};

/// `[e0, e1, ...](rows, cols)`: the operands are the elements, then rows and cols.
pub fn matrix_literal(args: &[Value], vt: ValueType) -> R<Value> {
    let n = args.len().saturating_sub(2);
    let rows = size_arg(Builtin::MatrixLiteral, &args[n], "the number of rows")?;
    let cols = size_arg(Builtin::MatrixLiteral, &args[n + 1], "the number of columns")?;
    let cells: Vec<Scalar> = args[..n]
        .iter()
        .map(|v| match v {
            Value::Scalar(s) => Ok(s.clone()),
            _ => Err("the elements of a matrix literal must be scalars".into()),
        })
        .collect::<R<_>>()?;
    if rows.checked_mul(cols) != Some(n) {
        return Err(format!(
            "a matrix literal of {} cannot be {rows}x{cols}",
            daphne_ir::count(n, "element", "elements")
        )
        .into());
    }
    Matrix::from_scalars(rows, cols, &cells, vt).map(Value::Matrix)
}

/// `fill(value, rows, cols)`: numbers by [`Source`].
pub fn fill(value: &Value, rows: &Value, cols: &Value) -> R<Value> {
    if let Value::Scalar(Scalar::Str(s)) = value {
        let rows = size_arg(Builtin::Fill, rows, "the number of rows")?;
        let cols = size_arg(Builtin::Fill, cols, "the number of columns")?;
        return Ok(Value::Matrix(Matrix::Str(DenseMatrix::filled(rows, cols, s.clone(), "`fill`")?)));
    }
    let args = [value.clone(), rows.clone(), cols.clone()];
    Source::of(Builtin::Fill, &args, ValueType::F64)?.ok_or_else(|| Error::Internal("fill".into()))?.make_all()
}

/// `seq(from, to, inc)`: as DAPHNE's `Seq` kernel ([`Source`]), in the result value type.
pub fn seq(from: &Value, to: &Value, inc: &Value, vt: ValueType) -> R<Value> {
    match Source::of(Builtin::Seq, &[from.clone(), to.clone(), inc.clone()], vt)? {
        Some(source) => source.make_all(),
        None => Err("`seq` needs numbers".into()),
    }
}

/// `rand(rows, cols, min, max, sparsity, seed)`, drawing exactly DAPHNE's values. A result
/// with the sparse representation (`csr`) comes from DAPHNE's CSR kernel, which draws
/// differently from the dense one (`minstd_rand0`, no redrawing of zeros).
pub fn rand(args: &[Value], vt: ValueType, csr: bool) -> R<Value> {
    // The arguments, checked as DAPHNE checks them, are a `Source`'s either way.
    let source = Source::of(Builtin::Rand, args, vt)?.ok_or_else(|| Error::Internal("rand of no source".into()))?;
    if !csr {
        return source.make_all();
    }
    let Source::Rand { rows, cols, min, max, sparsity, seed } = source else {
        return Err(Error::Internal("rand of another source".into()));
    };
    fn draw<T: MatrixElem + crate::random::RandValue>(
        (rows, cols): (usize, usize),
        (lo, hi): (&Scalar, &Scalar),
        (sparsity, seed): (f64, i64),
    ) -> R<Value> {
        let (lo, hi): (T, T) = (lo.get().unwrap_or_default(), hi.get().unwrap_or_default());
        let nnz = (rows as f64 * cols as f64 * sparsity).round();
        crate::csr::check_size::<T>(rows, nnz, "`rand`")?;
        let parts = crate::random::rand_matrix_csr::<T>(rows, cols, lo, hi, sparsity, seed)
            .map_err(|e| format!("`rand`: {e}"))?;
        let values = T::wrap(DenseMatrix::from_vec(1, parts.values.len(), parts.values));
        crate::csr::CsrMatrix::new(rows, cols, parts.row_offsets, parts.col_idxs, values).map(Value::Sparse)
    }
    let a = ((rows, cols), (&min, &max), (sparsity, seed));
    match vt {
        ValueType::F64 => draw::<f64>(a.0, a.1, a.2),
        ValueType::F32 => draw::<f32>(a.0, a.1, a.2),
        ValueType::Si64 => draw::<i64>(a.0, a.1, a.2),
        ValueType::Si32 => draw::<i32>(a.0, a.1, a.2),
        ValueType::Si8 => draw::<i8>(a.0, a.1, a.2),
        ValueType::Ui64 | ValueType::Index => draw::<u64>(a.0, a.1, a.2),
        ValueType::Ui32 => draw::<u32>(a.0, a.1, a.2),
        ValueType::Ui8 => draw::<u8>(a.0, a.1, a.2),
        ValueType::Bool | ValueType::Str => Err(format!("`rand` cannot generate values of type {vt}").into()),
    }
}

/// `diagMatrix(v)`: an n x n matrix with the n x 1 column `v` on its diagonal.
pub fn diag_matrix(m: &Matrix) -> R<Value> {
    if m.cols() != 1 {
        return Err(format!("`diagMatrix` needs a column matrix (n x 1), not {}x{}", m.rows(), m.cols()).into());
    }
    fn run<T: MatrixElem>(x: &DenseMatrix<T>) -> R<Value> {
        let n = x.rows();
        let mut out = DenseMatrix::filled(n, n, T::default(), "`diagMatrix`")?;
        let cells = out.cells_mut();
        for i in 0..n {
            cells[i * n + i] = *x.get(i, 0);
        }
        Ok(wrap(out))
    }
    with_matrix!(m, x => run(x), _s => Err("`diagMatrix` is not defined on strings".into()))
}

fn transpose_dense<T: Clone>(x: &DenseMatrix<T>) -> DenseMatrix<T> {
    let (r, c) = (x.rows(), x.cols());
    let mut cells = Vec::with_capacity(r * c);
    for j in 0..c {
        for i in 0..r {
            cells.push(x.get(i, j).clone());
        }
    }
    DenseMatrix::from_vec(c, r, cells)
}

pub fn transpose_m(m: &Matrix) -> Matrix {
    map_cells!(m, x => transpose_dense(x))
}

pub fn transpose(m: &Matrix) -> Value {
    Value::Matrix(transpose_m(m))
}

/// `reshape(X, rows, cols)`: the same cells in row-major order.
pub fn reshape(m: &Matrix, rows: &Value, cols: &Value) -> R<Value> {
    let r = size_arg(Builtin::Reshape, rows, "the number of rows")?;
    let c = size_arg(Builtin::Reshape, cols, "the number of columns")?;
    if r.checked_mul(c) != Some(m.rows() * m.cols()) {
        return Err(format!("`reshape`: a {}x{} matrix cannot be reshaped to {r}x{c}", m.rows(), m.cols()).into());
    }
    // Without cells, the new shape may still be beyond what results along its sides can hold.
    crate::memory::check_shape::<f64>(r, c, "`reshape`")?;
    Ok(Value::Matrix(map_cells!(m, x => x.reshaped(r, c))))
}

/// `cbind` and `rbind`, converting both to the result value type.
pub fn bind(op: Builtin, a: &Matrix, b: &Matrix, vt: ValueType) -> R<Value> {
    let (a, b) = (
        a.cast(vt).ok_or_else(|| Error::from(format!("`{op}`: cannot combine strings and numbers")))?,
        b.cast(vt).ok_or_else(|| Error::from(format!("`{op}`: cannot combine strings and numbers")))?,
    );
    fn run<T: Clone>(op: Builtin, a: &DenseMatrix<T>, b: &DenseMatrix<T>) -> R<DenseMatrix<T>> {
        if op == Builtin::Cbind {
            if a.rows() != b.rows() {
                return Err(format!(
                    "`cbind` needs the same number of rows, but they are {} and {}",
                    a.rows(),
                    b.rows()
                )
                .into());
            }
            let cols = a.cols().checked_add(b.cols()).ok_or("`cbind`: the result has more columns than any size")?;
            DenseMatrix::build(a.rows(), cols, "`cbind`", |n| {
                let mut cells = Vec::with_capacity(n);
                for i in 0..a.rows() {
                    cells.extend_from_slice(a.row(i));
                    cells.extend_from_slice(b.row(i));
                }
                Ok(cells)
            })
        } else {
            if a.cols() != b.cols() {
                return Err(format!(
                    "`rbind` needs the same number of columns, but they are {} and {}",
                    a.cols(),
                    b.cols()
                )
                .into());
            }
            let rows = a.rows().checked_add(b.rows()).ok_or("`rbind`: the result has more rows than any size")?;
            DenseMatrix::build(rows, a.cols(), "`rbind`", |n| {
                let mut cells = Vec::with_capacity(n);
                cells.extend_from_slice(a.cells());
                cells.extend_from_slice(b.cells());
                Ok(cells)
            })
        }
    }
    Ok(Value::Matrix(match (&a, &b) {
        (Matrix::F64(x), Matrix::F64(y)) => Matrix::F64(run(op, x, y)?),
        (Matrix::F32(x), Matrix::F32(y)) => Matrix::F32(run(op, x, y)?),
        (Matrix::Si64(x), Matrix::Si64(y)) => Matrix::Si64(run(op, x, y)?),
        (Matrix::Si32(x), Matrix::Si32(y)) => Matrix::Si32(run(op, x, y)?),
        (Matrix::Si8(x), Matrix::Si8(y)) => Matrix::Si8(run(op, x, y)?),
        (Matrix::Ui64(x), Matrix::Ui64(y)) => Matrix::Ui64(run(op, x, y)?),
        (Matrix::Ui32(x), Matrix::Ui32(y)) => Matrix::Ui32(run(op, x, y)?),
        (Matrix::Ui8(x), Matrix::Ui8(y)) => Matrix::Ui8(run(op, x, y)?),
        (Matrix::Bool(x), Matrix::Bool(y)) => Matrix::Bool(run(op, x, y)?),
        (Matrix::Str(x), Matrix::Str(y)) => Matrix::Str(run(op, x, y)?),
        _ => return Err(Error::Internal(format!("`{op}` operands of different types"))),
    }))
}

/// `reverse(X)`: the rows in reverse order.
pub fn reverse(m: &Matrix) -> Value {
    fn run<T: Clone>(x: &DenseMatrix<T>) -> DenseMatrix<T> {
        let mut cells = Vec::with_capacity(x.cells().len());
        for i in (0..x.rows()).rev() {
            cells.extend_from_slice(x.row(i));
        }
        DenseMatrix::from_vec(x.rows(), x.cols(), cells)
    }
    Value::Matrix(map_cells!(m, x => run(x)))
}

/// Picks rows (or columns) by index from a matrix of any element type.
/// A position along an axis of length `n`: negative ones count from the end.
fn position(p: i64, n: usize, inclusive_end: bool, what: &str) -> R<usize> {
    let limit = if inclusive_end { n as i64 } else { n as i64 - 1 };
    let q = if p < 0 { p + n as i64 } else { p };
    if q < 0 || q > limit {
        return Err(format!("{what} {p} is out of bounds for an axis of length {n}").into());
    }
    Ok(q as usize)
}

/// The rows (or columns) `idx` of a matrix or frame.
fn select(v: &Value, rows: bool, idx: &[usize]) -> R<Value> {
    match v {
        Value::Matrix(m) => Ok(Value::Matrix(m.pick(rows, idx))),
        Value::Frame(f) if rows => Ok(Value::Frame(f.select_rows(idx))),
        Value::Frame(f) => Ok(Value::Frame(f.select_cols(idx))),
        Value::Scalar(_) | Value::List(..) | Value::Sparse(_) | Value::Remote(_) | Value::RemoteFrame(_) => {
            Err("only matrices and frames can be indexed".into())
        }
    }
}

fn extent(v: &Value, rows: bool) -> R<usize> {
    match v {
        Value::Matrix(m) => Ok(if rows { m.rows() } else { m.cols() }),
        Value::Frame(f) => Ok(if rows { f.rows() } else { f.cols() }),
        Value::Scalar(_) | Value::List(..) | Value::Sparse(_) | Value::Remote(_) | Value::RemoteFrame(_) => {
            Err("only matrices and frames can be indexed".into())
        }
    }
}

/// `X[lo:hi, ]` and `X[, lo:hi]` (hi exclusive), for matrices and frames.
pub fn slice(op: Builtin, x: &Value, lo: &Value, hi: &Value) -> R<Value> {
    let rows = op == Builtin::SliceRow;
    let n = extent(x, rows)?;
    let what = if rows { "row" } else { "column" };
    let lo = position(int_arg(op, lo, "the lower bound")?, n, true, &format!("{what} position"))?;
    let hi = position(int_arg(op, hi, "the upper bound")?, n, true, &format!("{what} position"))?;
    if lo > hi {
        return Err(format!("the {what} range {lo}:{hi} is empty or reversed").into());
    }
    // A matrix's range is copied without a list of its positions: a matrix without columns
    // may have more rows than memory holds positions.
    match x {
        Value::Matrix(m) if rows => Ok(Value::Matrix(map_cells!(m, x => {
            let part = x.row_range(lo, hi);
            DenseMatrix::from_vec(part.rows(), part.cols(), part.cells().to_vec())
        }))),
        Value::Matrix(m) => Ok(Value::Matrix(map_cells!(m, x => x.col_range(lo, hi)))),
        _ => select(x, rows, &(lo..hi).collect::<Vec<usize>>()),
    }
}

/// `X[P, ]` with a matrix of positions; `F[, "label"]` picks a frame column by label.
pub fn extract(op: Builtin, x: &Value, positions: &Value) -> R<Value> {
    let rows = op == Builtin::ExtractRow;
    if let (Value::Frame(f), Value::Scalar(Scalar::Str(label)), false) = (x, positions, rows) {
        return Ok(Value::Frame(f.select_cols(&[f.column_index(label)?])));
    }
    let n = extent(x, rows)?;
    let what = if rows { "row position" } else { "column position" };
    let p = match positions {
        Value::Matrix(m) => m.to_typed::<i64>().ok_or("positions must be numbers")?,
        _ => return Err("positions must be given as a matrix".into()),
    };
    let idx = p.cells().iter().map(|&q| position(q, n, false, what)).collect::<R<Vec<usize>>>()?;
    select(x, rows, &idx)
}

/// `X[[mask, ]]`: the rows (columns) where the mask is non-zero.
pub fn filter(op: Builtin, x: &Value, mask: &Matrix) -> R<Value> {
    let rows = op == Builtin::FilterRow;
    let n = extent(x, rows)?;
    let flags = mask.to_typed::<bool>().ok_or("a filter mask must be numeric")?;
    if flags.cells().len() != n {
        return Err(format!(
            "the filter has {} entries but the data has {n} {}",
            flags.cells().len(),
            if rows { "rows" } else { "columns" }
        )
        .into());
    }
    let idx: Vec<usize> = flags.cells().iter().enumerate().filter(|(_, f)| **f).map(|(i, _)| i).collect();
    select(x, rows, &idx)
}

/// `X[lo:hi, ] = Y`: a copy of `X` with rows `lo..hi` replaced by `Y` (converted to `X`'s
/// value type).
pub fn insert(op: Builtin, x: &Matrix, y: &Matrix, lo: &Value, hi: &Value) -> R<Value> {
    let rows = op == Builtin::InsertRow;
    let n = if rows { x.rows() } else { x.cols() };
    let what = if rows { "row" } else { "column" };
    let lo = position(int_arg(op, lo, "the lower bound")?, n, true, &format!("{what} position"))?;
    let hi = position(int_arg(op, hi, "the upper bound")?, n, true, &format!("{what} position"))?;
    let (want_r, want_c) = if rows { (hi.saturating_sub(lo), x.cols()) } else { (x.rows(), hi.saturating_sub(lo)) };
    if y.rows() != want_r || y.cols() != want_c {
        return Err(format!(
            "the assigned matrix is {}x{} but the indexed part is {want_r}x{want_c}",
            y.rows(),
            y.cols()
        )
        .into());
    }
    let y = y.cast(x.value_type()).ok_or("cannot assign strings into numbers or numbers into strings")?;
    fn run<T: Clone>(x: &DenseMatrix<T>, y: &DenseMatrix<T>, rows: bool, lo: usize) -> DenseMatrix<T> {
        let mut out = x.clone();
        let cols = x.cols();
        let cells = out.cells_mut();
        for i in 0..y.rows() {
            for j in 0..y.cols() {
                let (r, c) = if rows { (lo + i, j) } else { (i, lo + j) };
                cells[r * cols + c] = y.get(i, j).clone();
            }
        }
        out
    }
    Ok(Value::Matrix(match (x, &y) {
        (Matrix::F64(a), Matrix::F64(b)) => Matrix::F64(run(a, b, rows, lo)),
        (Matrix::F32(a), Matrix::F32(b)) => Matrix::F32(run(a, b, rows, lo)),
        (Matrix::Si64(a), Matrix::Si64(b)) => Matrix::Si64(run(a, b, rows, lo)),
        (Matrix::Si32(a), Matrix::Si32(b)) => Matrix::Si32(run(a, b, rows, lo)),
        (Matrix::Si8(a), Matrix::Si8(b)) => Matrix::Si8(run(a, b, rows, lo)),
        (Matrix::Ui64(a), Matrix::Ui64(b)) => Matrix::Ui64(run(a, b, rows, lo)),
        (Matrix::Ui32(a), Matrix::Ui32(b)) => Matrix::Ui32(run(a, b, rows, lo)),
        (Matrix::Ui8(a), Matrix::Ui8(b)) => Matrix::Ui8(run(a, b, rows, lo)),
        (Matrix::Bool(a), Matrix::Bool(b)) => Matrix::Bool(run(a, b, rows, lo)),
        (Matrix::Str(a), Matrix::Str(b)) => Matrix::Str(run(a, b, rows, lo)),
        _ => return Err(Error::Internal("insert operands of different types".into())),
    }))
}

/// `lowerTri(X, diag, values)` / `upperTri(X, diag, values)`: the triangle of a square matrix,
/// the rest zero; `diag` keeps the diagonal, `values` false puts 1 for non-zero cells.
pub fn triangle(op: Builtin, m: &Matrix, diag: &Value, values: &Value) -> R<Value> {
    if m.rows() != m.cols() {
        return Err(format!("`{op}` needs a square matrix, not {}x{}", m.rows(), m.cols()).into());
    }
    let flag = |v: &Value| match v {
        Value::Scalar(s) => s.get::<bool>().ok_or_else(|| Error::from(format!("`{op}`: flags must be booleans"))),
        _ => Err(format!("`{op}`: flags must be scalars").into()),
    };
    let (keep_diag, keep_values) = (flag(diag)?, flag(values)?);
    let lower = op == Builtin::LowerTri;
    fn run<T: MatrixElem>(x: &DenseMatrix<T>, lower: bool, keep_diag: bool, keep_values: bool) -> Value {
        let n = x.rows();
        let mut cells = vec![T::default(); n * n];
        for i in 0..n {
            for j in 0..n {
                let inside = if i == j {
                    keep_diag
                } else if lower {
                    j < i
                } else {
                    j > i
                };
                let v = *x.get(i, j);
                if inside && !v.is_zero() {
                    cells[i * n + j] = if keep_values { v } else { T::from_i128(1) };
                }
            }
        }
        wrap(DenseMatrix::from_vec(n, n, cells))
    }
    with_matrix!(m, x => Ok(run(x, lower, keep_diag, keep_values)), _s => Err(format!("`{op}` is not defined on strings").into()))
}

/// `diagVector(X)`: the diagonal of a square matrix as a column.
pub fn diag_vector(m: &Matrix) -> R<Value> {
    if m.rows() != m.cols() {
        return Err(format!("`diagVector` needs a square matrix, not {}x{}", m.rows(), m.cols()).into());
    }
    let idx: Vec<(usize, usize)> = (0..m.rows()).map(|i| (i, i)).collect();
    let cells: Vec<Scalar> = idx.iter().map(|&(i, j)| m.cell(i, j)).collect();
    Matrix::from_scalars(m.rows(), 1, &cells, m.value_type()).map(Value::Matrix)
}

/// `replace(X, pattern, replacement)`: every cell equal to `pattern` (NaN matches NaN)
/// becomes `replacement`.
pub fn replace(m: &Matrix, pattern: &Value, replacement: &Value) -> R<Value> {
    let vt = m.value_type();
    let scalar = |v: &Value| match v {
        Value::Scalar(s) => {
            s.cast(vt).ok_or_else(|| Error::from("`replace`: pattern and replacement must fit the matrix"))
        }
        _ => Err("`replace`: pattern and replacement must be scalars".into()),
    };
    let (p, r) = (scalar(pattern)?, scalar(replacement)?);
    let is_nan = |s: &Scalar| matches!(s, Scalar::F64(x) if x.is_nan()) || matches!(s, Scalar::F32(x) if x.is_nan());
    let cells: Vec<Scalar> = (0..m.rows())
        .flat_map(|i| (0..m.cols()).map(move |j| (i, j)))
        .map(|(i, j)| {
            let c = m.cell(i, j);
            if c == p || (is_nan(&p) && is_nan(&c)) { r.clone() } else { c }
        })
        .collect();
    Matrix::from_scalars(m.rows(), m.cols(), &cells, vt).map(Value::Matrix)
}

/// `isSymmetric(X)` for a square matrix.
pub fn is_symmetric(m: &Matrix) -> R<Value> {
    if m.rows() != m.cols() {
        return Err("the provided matrix is not square".into());
    }
    for i in 0..m.rows() {
        for j in i + 1..m.cols() {
            if m.cell(i, j) != m.cell(j, i) {
                return Ok(Value::Scalar(Scalar::Bool(false)));
            }
        }
    }
    Ok(Value::Scalar(Scalar::Bool(true)))
}

/// `sample(range, size, withReplacement, seed)`, drawing exactly DAPHNE's values.
pub fn sample(args: &[Value], vt: ValueType) -> R<Value> {
    let crate::source::SampleArgs { range, size, with_replacement, seed } = crate::source::sample_args(args)?;
    fn draw<T: MatrixElem + crate::random::RandValue>(range: &Scalar, size: usize, repl: bool, seed: i64) -> R<Value> {
        let r: T = range.get().unwrap_or_default();
        let fail = |e| format!("`sample`: {e}");
        crate::random::validate_sample(r, size, repl).map_err(fail)?;
        Ok(wrap(DenseMatrix::build(size, 1, "`sample`", |_| {
            Ok(crate::random::sample_values::<T>(r, size, repl, seed).map_err(fail)?)
        })?))
    }
    match vt {
        ValueType::F64 => draw::<f64>(&range, size, with_replacement, seed),
        ValueType::F32 => draw::<f32>(&range, size, with_replacement, seed),
        ValueType::Si64 => draw::<i64>(&range, size, with_replacement, seed),
        ValueType::Si32 => draw::<i32>(&range, size, with_replacement, seed),
        ValueType::Si8 => draw::<i8>(&range, size, with_replacement, seed),
        ValueType::Ui64 | ValueType::Index => draw::<u64>(&range, size, with_replacement, seed),
        ValueType::Ui32 => draw::<u32>(&range, size, with_replacement, seed),
        ValueType::Ui8 => draw::<u8>(&range, size, with_replacement, seed),
        ValueType::Bool | ValueType::Str => Err(format!("`sample` cannot draw values of type {vt}").into()),
    }
}

/// `typeOf(x)`: `DenseMatrix(2x3, double)`, `Frame(2x1, [a:int64_t])`, or a scalar's C++ type.
pub fn type_of(v: &Value) -> Value {
    let name = match v {
        Value::Scalar(s) => match s {
            // DAPHNE keeps string scalars as C strings.
            Scalar::Str(_) => "const char*".to_owned(),
            other => other.value_type().cpp_name().to_owned(),
        },
        Value::Matrix(m) => m.header(false),
        Value::Frame(_) | Value::List(..) | Value::Sparse(_) | Value::Remote(_) | Value::RemoteFrame(_) => {
            let mut out = String::new();
            v.print(&mut out);
            out.lines().next().unwrap_or_default().to_owned()
        }
    };
    Value::Scalar(Scalar::Str(std::sync::Arc::from(name)))
}

/// `recode(X, orderPreserving)`: codes (si64, n x 1) and the dictionary of distinct values
/// (in first-seen order, or sorted when order-preserving).
pub fn recode(m: &Matrix, order_preserving: &Value) -> R<Vec<Value>> {
    if m.cols() != 1 && m.rows() > 0 {
        return Err(format!("`recode` needs a column matrix (n x 1), not {}x{}", m.rows(), m.cols()).into());
    }
    let sorted = match order_preserving {
        Value::Scalar(s) => s.get::<bool>().ok_or("`recode`: orderPreserving must be a boolean")?,
        _ => return Err("`recode`: orderPreserving must be a scalar".into()),
    };
    let cells: Vec<Scalar> = (0..m.rows()).map(|i| m.cell(i, 0)).collect();
    let mut dict: Vec<Scalar> = Vec::new();
    for c in &cells {
        if !dict.contains(c) {
            dict.push(c.clone());
        }
    }
    if sorted {
        dict.sort_by(|a, b| match (a.get::<f64>(), b.get::<f64>()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => format!("{a:?}").cmp(&format!("{b:?}")),
        });
    }
    let codes: Vec<Scalar> =
        cells.iter().map(|c| Scalar::Si64(dict.iter().position(|d| d == c).unwrap_or(0) as i64)).collect();
    Ok(vec![
        Value::Matrix(Matrix::from_scalars(codes.len(), 1, &codes, ValueType::Si64)?),
        Value::Matrix(Matrix::from_scalars(dict.len(), 1, &dict, m.value_type())?),
    ])
}

/// `bin(X, numBins, min, max)` as DAPHNE's `Bin` kernel: values at or below `min` go to bin 0,
/// others to `ceil((v - min) / width) - 1` clamped to the bins; NaN stays NaN.
pub fn bin(m: &Matrix, num_bins: &Value, min: &Value, max: &Value) -> R<Value> {
    let n = int_arg(Builtin::Bin, num_bins, "the number of bins")?;
    if n <= 0 {
        return Err(format!("`bin`: the number of bins must be positive, not {n}").into());
    }
    let get = |v: &Value| match v {
        Value::Scalar(s) => s.get::<f64>().ok_or_else(|| Error::from("`bin`: min and max must be numbers")),
        _ => Err("`bin`: min and max must be scalars".into()),
    };
    let (lo, hi) = (get(min)?, get(max)?);
    if lo > hi {
        return Err("`bin`: min must not be greater than max".into());
    }
    let width = (hi - lo) / n as f64;
    let vt = m.value_type();
    let x = as_f64(Builtin::Bin, m)?;
    let cells: Vec<f64> = x
        .cells()
        .iter()
        .map(|&v| {
            if lo == hi && n == 1 || v <= lo {
                0.0
            } else {
                let b = ((v - lo) / width).ceil() - 1.0;
                if b < 0.0 {
                    0.0
                } else if b >= n as f64 {
                    (n - 1) as f64
                } else {
                    b
                }
            }
        })
        .collect();
    from_f64(DenseMatrix::from_vec(m.rows(), m.cols(), cells), vt)
}

/// `oneHot(X, info)`: per column j of X, info[0, j] = -1 keeps it, 0 drops it, d > 0 expands it
/// into d 0/1 columns.
pub fn one_hot(m: &Matrix, info: &Matrix) -> R<Value> {
    if let Matrix::Str(s) = m {
        // As DAPHNE: each column's strings get codes in first-seen order, then are one-hot
        // encoded as numbers.
        let mut codes = vec![0i64; s.rows() * s.cols()];
        for c in 0..s.cols() {
            let mut seen: Vec<&std::sync::Arc<str>> = Vec::new();
            for r in 0..s.rows() {
                let v = s.get(r, c);
                let code = match seen.iter().position(|x| *x == v) {
                    Some(i) => i,
                    None => {
                        seen.push(v);
                        seen.len() - 1
                    }
                };
                codes[r * s.cols() + c] = code as i64;
            }
        }
        return one_hot(&Matrix::Si64(DenseMatrix::from_vec(s.rows(), s.cols(), codes)), info);
    }
    if info.rows() != 1 {
        return Err("OneHot - parameter 'info' must be a row matrix".into());
    }
    if info.cols() != m.cols() {
        return Err("OneHot - parameter 'info' must provide information for each column".into());
    }
    let d = info.to_typed::<i64>().ok_or("`oneHot`: info must be numeric")?;
    if d.cells().iter().any(|&v| v < -1) {
        return Err("OneHot: parameter 'info' must be an integer greater or equal than -1".into());
    }
    let width = d.cells().iter().fold(0usize, |w, &v| w.saturating_add(if v == -1 { 1 } else { v as usize }));
    crate::memory::check_shape::<Scalar>(m.rows(), width, "`oneHot`")?;
    let mut cells = Vec::with_capacity(m.rows() * width);
    for i in 0..m.rows() {
        for (j, &dj) in d.cells().iter().enumerate() {
            let c = m.cell(i, j);
            match dj {
                -1 => cells.push(c),
                0 => {}
                _ => {
                    let k = c.get::<i64>().unwrap_or(-1);
                    if k < 0 || k >= dj {
                        return Err(format!("oneHot: value {k} in column {j} is outside [0, {}]", dj - 1).into());
                    }
                    for b in 0..dj {
                        cells.push(Scalar::from_elem(i64::from(b == k), m.value_type()));
                    }
                }
            }
        }
    }
    Matrix::from_scalars(m.rows(), width, &cells, m.value_type()).map(Value::Matrix)
}

/// `order(X, colIdxs..., ascs..., returnIndexes)`: rows sorted stably by the given columns.
pub fn order(x: &Value, rest: &[Value]) -> R<Value> {
    let op = Builtin::Order;
    // The cells of a matrix or of a frame's columns, by row and column.
    type Cell<'a> = Box<dyn Fn(usize, usize) -> Scalar + 'a>;
    let (rows, cols_of, cell): (usize, usize, Cell) = match x {
        Value::Matrix(m) => (m.rows(), m.cols(), Box::new(|i, c| m.cell(i, c))),
        Value::Frame(f) => (f.rows(), f.cols(), Box::new(|i, c| f.columns()[c].cell(i, 0))),
        other => return Err(format!("`order` needs a matrix or a frame, not {}", other.describe()).into()),
    };
    if rest.len() < 3 || rest.len().is_multiple_of(2) {
        return Err("`order` takes the matrix, as many column indexes as sort orders, and returnIndexes".into());
    }
    let k = (rest.len() - 1) / 2;
    let cols = rest[..k].iter().map(|v| size_arg(op, v, "a column index")).collect::<R<Vec<usize>>>()?;
    let ascs = rest[k..2 * k]
        .iter()
        .map(|v| match v {
            Value::Scalar(s) => s.get::<bool>().ok_or_else(|| Error::from("`order`: sort orders must be booleans")),
            _ => Err("`order`: sort orders must be scalars".into()),
        })
        .collect::<R<Vec<bool>>>()?;
    let return_idx = match &rest[2 * k] {
        Value::Scalar(s) => s.get::<bool>().ok_or("`order`: returnIndexes must be a boolean")?,
        _ => return Err("`order`: returnIndexes must be a scalar".into()),
    };
    if let Some(&c) = cols.iter().find(|&&c| c >= cols_of) {
        return Err(format!(
            "`order`: column index {c} is out of bounds for {}",
            daphne_ir::count(cols_of, "column", "columns")
        )
        .into());
    }
    // A stable sort: rows with equal keys keep their order.
    let mut idx: Vec<usize> = (0..rows).collect();
    idx.sort_by(|&a, &b| {
        for (&c, &asc) in cols.iter().zip(&ascs) {
            let ord = cell(a, c).compare(&cell(b, c));
            let ord = if asc { ord } else { ord.reverse() };
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
        }
        std::cmp::Ordering::Equal
    });
    if return_idx {
        let cells: Vec<u64> = idx.iter().map(|&i| i as u64).collect();
        return Ok(wrap(DenseMatrix::from_vec(cells.len(), 1, cells)));
    }
    match x {
        Value::Frame(f) => Ok(Value::Frame(f.select_rows(&idx))),
        Value::Matrix(m) => Ok(Value::Matrix(m.pick(true, &idx))),
        _ => Err(Error::Internal("`order` of neither a matrix nor a frame".into())),
    }
}

/// `ctable(ys, xs, weight, numRows, numCols)`: `res[ys[k], xs[k]] += weight`; the shape is
/// the largest coordinates plus one, or the given sizes (cropping or padding) where not -1.
pub fn ctable(ys: &Matrix, xs: &Matrix, weight: &Value, rows: &Value, cols: &Value) -> R<Value> {
    let op = Builtin::Ctable;
    let (y, x) = (as_f64(op, ys)?, as_f64(op, xs)?);
    if y.cells().len() != x.cells().len() {
        return Err(
            format!("`ctable` needs inputs of the same size, not {} and {}", y.cells().len(), x.cells().len()).into()
        );
    }
    let w = match weight {
        Value::Scalar(s) => s.clone(),
        _ => return Err("`ctable`: the weight must be a scalar".into()),
    };
    let vt = w.value_type();
    let pos = |v: f64| -> R<usize> {
        if v < 0.0 || v.is_nan() {
            return Err(format!(
                "`ctable`: coordinates must not be negative, but one is {}",
                crate::format::fmt_f64(v)
            )
            .into());
        }
        Ok(v as usize)
    };
    let coords = y.cells().iter().zip(x.cells()).map(|(&a, &b)| Ok((pos(a)?, pos(b)?))).collect::<R<Vec<_>>>()?;
    let auto_r = coords.iter().map(|c| c.0.saturating_add(1)).max().unwrap_or(0);
    let auto_c = coords.iter().map(|c| c.1.saturating_add(1)).max().unwrap_or(0);
    let size = |v: &Value, auto: usize| -> R<usize> {
        let n = int_arg(op, v, "a result size")?;
        Ok(if n < 0 { auto } else { n as usize })
    };
    let (nr, nc) = (size(rows, auto_r)?, size(cols, auto_c)?);
    with_elem_type!(vt, T => {
        let wv: T = w.get().unwrap_or_default();
        let mut out = DenseMatrix::filled(nr, nc, T::default(), "`ctable`")?;
        let cells = out.cells_mut();
        for (r, c) in coords {
            if r < nr && c < nc {
                cells[r * nc + c] = cells[r * nc + c].add(wv);
            }
        }
        Ok(wrap(out))
    }, str => Err("`ctable`: the weight must be a number".into()))
}

/// `quantize(X, min, max)`: DAPHNE's min/max quantization of f32 values to ui8, in f32
/// arithmetic as `Quantize.h` computes it.
pub fn quantize(m: &Matrix, min: &Value, max: &Value) -> R<Value> {
    let Matrix::F32(x) = m else {
        return Err(format!("`quantize` needs a matrix of f32, not of {}", m.value_type()).into());
    };
    let get = |v: &Value| match v {
        Value::Scalar(s) => s.get::<f32>().ok_or_else(|| Error::from("`quantize`: min and max must be numbers")),
        _ => Err("`quantize`: min and max must be scalars".into()),
    };
    // Zero must lie in the quantized range.
    let lo = get(min)?.min(0.0);
    let hi = get(max)?.max(0.0);
    let scale: f32 = (hi - lo) / 256.0;
    let mapped_zero: f32 = 255.0 - hi / scale;
    let zero: u8 = if mapped_zero < 0.0 {
        0
    } else if mapped_zero > 255.0 {
        255
    } else {
        mapped_zero.round() as u8
    };
    let cells: Vec<u8> = x
        .cells()
        .iter()
        .map(|&a| {
            let v: f32 = f32::from(zero) + a / scale;
            v.clamp(0.0, 255.0).round() as u8
        })
        .collect();
    Ok(wrap(DenseMatrix::from_vec(x.rows(), x.cols(), cells)))
}
