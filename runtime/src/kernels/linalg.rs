//! Dense linear algebra: matrix products, solving linear systems, eigen decomposition.
//!
//! Floating-point products are `gemm::product`: every cell defined as the canonical tree fold of
//! per-block fused multiply-add chains, so a product has the same bits through a transposed view
//! or a materialized transpose, fused or not, on any number of threads (the tests check it).
//! `solve` uses faer's Cholesky (symmetric positive definite) or LU decomposition.

use daphne_ir::pipeline::blocks;
use daphne_ir::{Builtin, ValueType};

use super::args::{R, as_f64, label, wrap};
use super::cast::from_f64;
use super::context::Context;
use super::gemm::{self, Side};
use crate::error::Error;
use crate::matrix::{DenseMatrix, Matrix, MatrixElem};
use crate::value::Value;
use crate::with_elem_type;

/// The cell types of floating-point products.
trait Float: MatrixElem + gemm::Float {}

impl Float for f64 {}
impl Float for f32 {}

/// `A @ B` in the result value type. A floating-point product follows the canonical block
/// order of `daphne_ir::pipeline` along the inner dimension: the products of the blocks are
/// added along the tree, so `t(X) @ Y` gives the same bits as a pipeline that adds up
/// `t(X_b) @ Y_b` block by block.
/// Runs on `cx.threads` threads.
pub fn matmul(cx: &Context, a: &Matrix, b: &Matrix, vt: ValueType) -> R<Value> {
    check_shapes(a.cols(), b.rows(), a, b)?;
    match vt {
        ValueType::F64 => Ok(wrap(product::<f64>(&typed(a)?, &typed(b)?, cx)?)),
        ValueType::F32 => Ok(wrap(product::<f32>(&typed(a)?, &typed(b)?, cx)?)),
        _ => integer_product(&a.clone(), b, vt),
    }
}

/// `t(A) @ B` (`gemv`), or `t(A) @ A` (`syrk`) when `b` is `None`, in the result value type,
/// blocked along the rows of `A` as `matmul(t(A), B)` is along its inner dimension. With
/// `blocked` false, one block: what a pipeline body computes for its block.
pub fn tmatmul(cx: &Context, a: &Matrix, b: Option<&Matrix>, vt: ValueType, blocked: bool) -> R<Value> {
    if let Some(b) = b.filter(|b| b.rows() != a.rows()) {
        check_shapes(a.rows(), b.rows(), &super::data::transpose_m(a), b)?;
    }
    let cx = cx.on(if blocked { cx.threads } else { 1 });
    match vt {
        ValueType::F64 => {
            let b = b.map(typed::<f64>).transpose()?;
            Ok(wrap(tproduct(&typed::<f64>(a)?, b.as_ref(), blocked, &cx)?))
        }
        ValueType::F32 => {
            let b = b.map(typed::<f32>).transpose()?;
            Ok(wrap(tproduct(&typed::<f32>(a)?, b.as_ref(), blocked, &cx)?))
        }
        _ => integer_product(&super::data::transpose_m(a), b.unwrap_or(a), vt),
    }
}

fn check_shapes(inner_a: usize, inner_b: usize, a: &Matrix, b: &Matrix) -> R<()> {
    if inner_a != inner_b {
        return Err(format!(
            "`@` needs as many columns on the left as rows on the right, but the shapes are {}x{} and {}x{}",
            a.rows(),
            a.cols(),
            b.rows(),
            b.cols()
        )
        .into());
    }
    Ok(())
}

fn typed<T: MatrixElem>(m: &Matrix) -> R<DenseMatrix<T>> {
    m.to_typed::<T>().ok_or_else(|| Error::from("`@` needs numbers"))
}

/// An integer product by the plain loop, wrapping as C++ does (integer additions are
/// associative, so no order is needed).
fn integer_product(a: &Matrix, b: &Matrix, vt: ValueType) -> R<Value> {
    fn run<T: MatrixElem>(a: &DenseMatrix<T>, b: &DenseMatrix<T>) -> R<Value> {
        let (n, k, m) = (a.rows(), a.cols(), b.cols());
        let mut product = DenseMatrix::filled(n, m, T::default(), &label(Builtin::MatMul))?;
        let out = product.cells_mut();
        for i in 0..n {
            let row = &mut out[i * m..(i + 1) * m];
            for (p, &x) in a.row(i).iter().enumerate().take(k) {
                for (o, &y) in row.iter_mut().zip(b.row(p)) {
                    *o = o.add(x.mul(y));
                }
            }
        }
        Ok(wrap(product))
    }
    with_elem_type!(vt, T => {
        let strings = || "`@` is not defined on strings".to_owned();
        let (x, y) = (a.to_typed::<T>().ok_or_else(strings)?, b.to_typed::<T>().ok_or_else(strings)?);
        run(&x, &y)
    }, str => Err("`@` is not defined on strings".into()))
}

/// `a @ b`: the inner dimension in the canonical blocks (see `gemm`).
fn product<T: Float>(a: &DenseMatrix<T>, b: &DenseMatrix<T>, cx: &Context) -> R<DenseMatrix<T>> {
    let (n, k, m) = (a.rows(), a.cols(), b.cols());
    let left = Side { cells: a.cells(), ld: k, inner_major: false, outer: n };
    let right = Side { cells: b.cells(), ld: m, inner_major: true, outer: m };
    DenseMatrix::build(n, m, &label(Builtin::MatMul), |_| {
        Ok(gemm::product(left, right, &blocks(k), cx.threads, &cx.buffers))
    })
}

/// `t(a) @ b` (`t(a) @ a` for `None`): the rows of `a` in the canonical blocks when `blocked`,
/// else one block (what a pipeline body computes for its block).
fn tproduct<T: Float>(
    a: &DenseMatrix<T>,
    b: Option<&DenseMatrix<T>>,
    blocked: bool,
    cx: &Context,
) -> R<DenseMatrix<T>> {
    let (n, k) = (a.rows(), a.cols());
    let left = Side { cells: a.cells(), ld: k, inner_major: true, outer: k };
    let right = b.map_or(left, |b| Side { cells: b.cells(), ld: b.cols(), inner_major: true, outer: b.cols() });
    let parts: Vec<std::ops::Range<usize>> = if blocked { blocks(n) } else { std::iter::once(0..n).collect() };
    DenseMatrix::build(k, right.outer, &label(Builtin::Gemv), |_| {
        Ok(gemm::product(left, right, &parts, cx.threads, &cx.buffers))
    })
}

/// `solve(A, b)`: x with A x = b in double precision: by faer's Cholesky decomposition when A
/// is symmetric and positive definite, else by its LU decomposition with partial pivoting (as
/// LAPACK's `dgesv`, which DAPHNE calls). A singular A is an error.
pub fn solve(a: &Matrix, b: &Matrix, vt: ValueType) -> R<Value> {
    use faer::linalg::solvers::Solve;
    let (n, m) = (a.rows(), a.cols());
    if n != m {
        return Err(format!("`solve` needs a square matrix, not {n}x{m}").into());
    }
    if b.rows() != n {
        return Err(format!(
            "`solve`: the right side has {} but the matrix has {n}",
            daphne_ir::count(b.rows(), "row", "rows")
        )
        .into());
    }
    let (lhs, rhs) = (as_f64(Builtin::Solve, a)?, as_f64(Builtin::Solve, b)?);
    let k = rhs.cols();
    if lhs.cells().iter().any(|x| !x.is_finite()) {
        return Err("`solve`: the matrix is singular".into());
    }
    let mut x = vec![0.0; n * k];
    let a = faer::MatRef::from_row_major_slice(lhs.cells(), n, n);
    let b = faer::MatRef::from_row_major_slice(rhs.cells(), n, k);
    // A symmetric matrix with a positive diagonal (the normal equations' `t(X) @ X + λI`) is
    // first tried by Cholesky, half the work of LU, as MATLAB's `\` does; one that is not
    // positive definite falls back to LU.
    let symmetric = (0..n).all(|i| a[(i, i)] > 0.0 && (0..i).all(|j| a[(i, j)] == a[(j, i)]));
    if n > 0
        && k > 0
        && symmetric
        && let Ok(llt) = a.llt(faer::Side::Lower)
    {
        let solved = llt.solve(b);
        if (0..n).all(|i| (0..k).all(|j| solved[(i, j)].is_finite())) {
            for i in 0..n {
                for j in 0..k {
                    x[i * k + j] = solved[(i, j)];
                }
            }
            let vt = if vt.is_float() { vt } else { ValueType::F64 };
            return from_f64(DenseMatrix::from_vec(n, k, x), vt);
        }
    }
    if n > 0 && k > 0 {
        let lu = a.partial_piv_lu();
        let u = lu.U();
        if (0..n).any(|i| u[(i, i)] == 0.0 || !u[(i, i)].is_finite()) {
            return Err("`solve`: the matrix is singular".into());
        }
        let solved = lu.solve(b);
        for i in 0..n {
            for j in 0..k {
                x[i * k + j] = solved[(i, j)];
            }
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
        return Err(format!("`eigen` needs a square matrix, not {n}x{}", m.cols()).into());
    }
    let x = as_f64(Builtin::Eigen, m)?;
    let mut a = x.cells().to_vec();
    for i in 0..n {
        for j in i + 1..n {
            if a[i * n + j] != a[j * n + i] {
                return Err("EigenCal - Input matrix must be symmetric".into());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn random(rows: usize, cols: usize, seed: u64) -> DenseMatrix<f64> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let cells = (0..rows * cols)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect();
        DenseMatrix::from_vec(rows, cols, cells)
    }

    fn transpose(m: &DenseMatrix<f64>) -> DenseMatrix<f64> {
        let cells = (0..m.cols()).flat_map(|c| (0..m.rows()).map(move |r| *m.get(r, c))).collect();
        DenseMatrix::from_vec(m.cols(), m.rows(), cells)
    }

    /// The invariant fusion relies on: `t(X) @ Y` gives the same bits whether the transpose is
    /// materialized (`matmul`) or a view (`gemv`), as one triangle (`syrk`) or the full square,
    /// on any number of threads.
    #[test]
    fn products_agree_bit_for_bit_whatever_the_layout() {
        let shapes = [
            (1, 1, 1),
            (3, 2, 5),
            (300, 7, 1),
            (600, 33, 9),
            (1000, 70, 70),
            (257, 129, 64),
            (0, 4, 3),
            (2000, 300, 1),
            (700, 5, 300),
            (513, 1, 1),
            (300, 400, 2),
            (520, 250, 250),
        ];
        for (i, &(n, k, m)) in shapes.iter().enumerate() {
            let x = random(n, k, i as u64);
            let y = random(n, m, 100 + i as u64);
            let tx = transpose(&x);
            for threads in [1, 3] {
                let gemv = tproduct(&x, Some(&y), true, &Context::new(threads)).unwrap();
                assert_eq!(gemv, product(&tx, &y, &Context::new(threads)).unwrap(), "t(X) @ Y for {n}x{k}, {n}x{m}");
                let syrk = tproduct(&x, None, true, &Context::new(threads)).unwrap();
                assert_eq!(syrk, product(&tx, &x, &Context::new(threads)).unwrap(), "t(X) @ X for {n}x{k}");
                assert_eq!(
                    syrk,
                    tproduct(&x, Some(&x), true, &Context::new(threads)).unwrap(),
                    "syrk against gemv for {n}x{k}"
                );
            }
        }
    }

    #[test]
    fn products_are_right_and_split_rows_without_changing_bits() {
        let (a, b) = (random(500, 300, 1), random(300, 40, 2));
        let one = product(&a, &b, &Context::new(1)).unwrap();
        assert_eq!(one, product(&a, &b, &Context::new(3)).unwrap());
        for (i, j) in [(0, 0), (17, 39), (499, 5)] {
            let exact: f64 = (0..300).map(|p| a.get(i, p) * b.get(p, j)).sum();
            assert!((one.get(i, j) - exact).abs() < 1e-12, "{i},{j}");
        }
    }

    #[test]
    fn solve_solves_and_reports_singular_matrices() {
        let a = Matrix::F64(DenseMatrix::from_vec(2, 2, vec![2.0, 1.0, 1.0, 3.0]));
        let b = Matrix::F64(DenseMatrix::from_vec(2, 1, vec![3.0, 5.0]));
        let Value::Matrix(Matrix::F64(x)) = solve(&a, &b, ValueType::F64).unwrap() else { panic!() };
        assert!((x.cells()[0] - 0.8).abs() < 1e-15 && (x.cells()[1] - 1.4).abs() < 1e-15, "{x:?}");
        let s = Matrix::F64(DenseMatrix::from_vec(2, 2, vec![1.0, 2.0, 2.0, 4.0]));
        assert_eq!(solve(&s, &b, ValueType::F64).unwrap_err().to_string(), "`solve`: the matrix is singular");
        // Symmetric but indefinite (Cholesky fails, LU solves) and not symmetric (LU only).
        let three = Matrix::F64(DenseMatrix::from_vec(2, 1, vec![3.0, 3.0]));
        for cells in [vec![1.0, 2.0, 2.0, 1.0], vec![1.0, 2.0, 1.0, 2.5]] {
            let m = Matrix::F64(DenseMatrix::from_vec(2, 2, cells.clone()));
            let Value::Matrix(Matrix::F64(x)) = solve(&m, &three, ValueType::F64).unwrap() else { panic!() };
            let (x0, x1) = (x.cells()[0], x.cells()[1]);
            for (row, want) in [(0, 3.0), (1, 3.0)] {
                let got = cells[row * 2] * x0 + cells[row * 2 + 1] * x1;
                assert!((got - want).abs() < 1e-12, "{cells:?}: {x:?}");
            }
        }
    }
}
