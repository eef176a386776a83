//! Dense linear algebra: matrix multiplication and solving linear systems.
//!
//! These are straightforward loops; the Cranelift/library-backed versions replace them when
//! the codegen engine lands, with these kept as the reference.

use daphne_ir::{Builtin, ValueType};

use super::{R, from_f64, wrap};
use crate::matrix::{DenseMatrix, Matrix, MatrixElem};
use crate::value::Value;
use crate::with_elem_type;

/// `A @ B` in the result value type. A floating-point product follows the canonical block
/// order of `daphne_ir::pipeline` along the inner dimension: the products of the blocks are
/// added along the tree, so `t(X) @ Y` gives the same bits as a pipeline that adds up
/// `t(X_b) @ Y_b` block by block.
pub fn matmul(a: &Matrix, b: &Matrix, vt: ValueType) -> R<Value> {
    product(a, b, vt, true)
}

/// `A @ B` as one block: no splitting of the inner dimension (what a pipeline body computes
/// for its block of `syrk`/`gemv`).
pub fn matmul_block(a: &Matrix, b: &Matrix, vt: ValueType) -> R<Value> {
    product(a, b, vt, false)
}

fn product(a: &Matrix, b: &Matrix, vt: ValueType, blocked: bool) -> R<Value> {
    if a.cols() != b.rows() {
        return Err(format!(
            "`@` needs as many columns on the left as rows on the right, but the shapes are {}x{} and {}x{}",
            a.rows(),
            a.cols(),
            b.rows(),
            b.cols()
        ));
    }
    fn run<T: MatrixElem>(a: &DenseMatrix<T>, b: &DenseMatrix<T>) -> Value {
        let (n, k, m) = (a.rows(), a.cols(), b.cols());
        let mut out = vec![T::default(); n * m];
        for i in 0..n {
            let row = &mut out[i * m..(i + 1) * m];
            for (p, &x) in a.row(i).iter().enumerate().take(k) {
                for (o, &y) in row.iter_mut().zip(b.row(p)) {
                    *o = o.add(x.mul(y));
                }
            }
        }
        wrap(DenseMatrix::from_vec(n, m, out))
    }
    // Floating-point products go to matrixmultiply (through ndarray), whose blocked kernels are
    // about 50x faster than the loop; integer products keep the loop (and C++'s wrapping).
    match vt {
        ValueType::F64 => {
            let (x, y) =
                (a.to_typed::<f64>().ok_or("`@` needs numbers")?, b.to_typed::<f64>().ok_or("`@` needs numbers")?);
            return Ok(wrap(blocked_product(&x, &y, blocked)?));
        }
        ValueType::F32 => {
            let (x, y) =
                (a.to_typed::<f32>().ok_or("`@` needs numbers")?, b.to_typed::<f32>().ok_or("`@` needs numbers")?);
            return Ok(wrap(blocked_product(&x, &y, blocked)?));
        }
        _ => {}
    }
    with_elem_type!(vt, T => {
        let strings = || "`@` is not defined on strings".to_owned();
        let (x, y) = (a.to_typed::<T>().ok_or_else(strings)?, b.to_typed::<T>().ok_or_else(strings)?);
        Ok(run(&x, &y))
    }, str => Err("`@` is not defined on strings".to_owned()))
}

/// A floating-point product, split along the inner dimension into the canonical blocks (when
/// `blocked`), the block products added along the tree. (Integer products need no order:
/// their additions wrap, which is associative.)
fn blocked_product<T: ndarray::LinalgScalar + Clone>(
    a: &DenseMatrix<T>,
    b: &DenseMatrix<T>,
    blocked: bool,
) -> R<DenseMatrix<T>> {
    let parts = daphne_ir::pipeline::blocks(a.cols());
    if !blocked || parts.len() <= 1 {
        return float_product(a, b);
    }
    let products = parts
        .into_iter()
        .map(|r| float_product(&a.col_range(r.start, r.end), &b.row_range(r.start, r.end)))
        .collect::<R<Vec<_>>>()?;
    let sum = daphne_ir::pipeline::fold_tree(products, |mut x, y| {
        for (p, &q) in x.cells_mut().iter_mut().zip(y.cells()) {
            *p = *p + q;
        }
        x
    });
    sum.ok_or_else(|| "internal: a product without blocks".to_owned())
}

/// A floating-point matrix product by ndarray's `dot` (matrixmultiply's gemm).
fn float_product<T: ndarray::LinalgScalar + Clone>(a: &DenseMatrix<T>, b: &DenseMatrix<T>) -> R<DenseMatrix<T>> {
    let shape = |e: ndarray::ShapeError| format!("internal: {e}");
    let x = ndarray::ArrayView2::from_shape((a.rows(), a.cols()), a.cells()).map_err(shape)?;
    let y = ndarray::ArrayView2::from_shape((b.rows(), b.cols()), b.cells()).map_err(shape)?;
    let z = x.dot(&y);
    let (rows, cols) = z.dim();
    let cells = if z.is_standard_layout() { z.into_raw_vec_and_offset().0 } else { z.iter().cloned().collect() };
    Ok(DenseMatrix::from_vec(rows, cols, cells))
}

/// `solve(A, b)`: x with A x = b, by LU decomposition with partial pivoting in double
/// precision. A singular A is an error.
pub fn solve(a: &Matrix, b: &Matrix, vt: ValueType) -> R<Value> {
    let (n, m) = (a.rows(), a.cols());
    if n != m {
        return Err(format!("`solve` needs a square matrix, not {n}x{m}"));
    }
    if b.rows() != n {
        return Err(format!("`solve`: the right side has {} rows but the matrix has {n}", b.rows()));
    }
    let mut lu = super::as_f64(Builtin::Solve, a)?.cells().to_vec();
    let rhs = super::as_f64(Builtin::Solve, b)?;
    let k = rhs.cols();
    let mut x = rhs.cells().to_vec();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| lu[i * n + col].abs().total_cmp(&lu[j * n + col].abs())).unwrap_or(col);
        if lu[pivot * n + col] == 0.0 || !lu[pivot * n + col].is_finite() {
            return Err("`solve`: the matrix is singular".to_owned());
        }
        if pivot != col {
            for j in 0..n {
                lu.swap(col * n + j, pivot * n + j);
            }
            for j in 0..k {
                x.swap(col * k + j, pivot * k + j);
            }
        }
        for i in col + 1..n {
            let f = lu[i * n + col] / lu[col * n + col];
            if f == 0.0 {
                continue;
            }
            for j in col..n {
                lu[i * n + j] -= f * lu[col * n + j];
            }
            for j in 0..k {
                x[i * k + j] -= f * x[col * k + j];
            }
        }
    }
    for i in (0..n).rev() {
        for j in 0..k {
            let mut s = x[i * k + j];
            for p in i + 1..n {
                s -= lu[i * n + p] * x[p * k + j];
            }
            x[i * k + j] = s / lu[i * n + i];
        }
    }
    let vt = if vt.is_float() { vt } else { ValueType::F64 };
    from_f64(DenseMatrix::from_vec(n, k, x), vt)
}

/// `eigen(X)` of a symmetric matrix by cyclic Jacobi rotations: the eigenvalues in ascending
/// order (n x 1) and the matching unit eigenvectors as columns, each with its largest
/// component positive. DAPHNE uses Eigen's general solver, whose order and signs are not
/// specified; the eigenpairs agree, their order and signs may not.
pub fn eigen(m: &Matrix) -> R<Vec<Value>> {
    let n = m.rows();
    if m.cols() != n {
        return Err(format!("`eigen` needs a square matrix, not {n}x{}", m.cols()));
    }
    let x = super::as_f64(Builtin::Eigen, m)?;
    let mut a = x.cells().to_vec();
    for i in 0..n {
        for j in i + 1..n {
            if a[i * n + j] != a[j * n + i] {
                return Err("EigenCal - Input matrix must be symmetric".to_owned());
            }
        }
    }
    let mut v = vec![0.0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[i * n + i].total_cmp(&a[j * n + j]));
    let values: Vec<f64> = order.iter().map(|&i| a[i * n + i]).collect();
    let mut vectors = vec![0.0f64; n * n];
    for (col, &i) in order.iter().enumerate() {
        let largest = (0..n).max_by(|&p, &q| v[p * n + i].abs().total_cmp(&v[q * n + i].abs())).unwrap_or(0);
        let sign = if v[largest * n + i] < 0.0 { -1.0 } else { 1.0 };
        for k in 0..n {
            vectors[k * n + col] = sign * v[k * n + i];
        }
    }
    Ok(vec![wrap(DenseMatrix::from_vec(n, 1, values)), wrap(DenseMatrix::from_vec(n, n, vectors))])
}
