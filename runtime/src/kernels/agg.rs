//! Aggregations: full (to a scalar), per row, per column, and cumulative, with DAPHNE's
//! semantics (`AggAll.h`, `AggRow.h`, `AggCol.h`): sequential accumulation in the result
//! value type, population variance (divided by n), the first index on ties.
//!
//! Full and column sums follow the canonical block order of `daphne_ir::pipeline`: the rows
//! are cut into blocks, each block is summed alone (a full sum into `LANES` accumulators), and
//! the block sums are folded along a tree. A fused pipeline computes the same blocks, so a sum
//! gives the same bits fused or not, on any number of threads or workers. The `*_block`
//! variants are what a pipeline body runs on one block.

use daphne_ir::pipeline::{LANES, blocks, fold_tree};
use daphne_ir::{Builtin, Reduce, ValueType};

use super::args::{R, wrap};
use crate::elem::Elem;
use crate::error::Error;
use crate::matrix::{DenseMatrix, Matrix, MatrixElem};
use crate::value::{Scalar, Value};
use crate::{with_elem_type, with_matrix};

/// What an aggregation computes: the op table's `Reduce` of the op.
type Kind = Reduce;

fn kind(op: Builtin) -> R<Kind> {
    op.aggregation().map(|(_, reduce)| reduce).ok_or_else(|| format!("`{op}` is not an aggregation").into())
}

/// Aggregates a sequence of values in type `T`.
fn reduce<T: Elem>(k: Kind, values: impl Iterator<Item = T> + Clone, n: usize) -> T {
    match k {
        Kind::Sum => values.fold(T::default(), |a, x| a.add(x)),
        // DAPHNE starts min and max from the type's extreme value.
        Kind::Min => values.fold(T::from_f64(f64::INFINITY), |a, x| if x < a { x } else { a }),
        Kind::Max => values.fold(T::from_f64(f64::NEG_INFINITY), |a, x| if x > a { x } else { a }),
        Kind::Mean | Kind::Var | Kind::Stddev => {
            let count = T::from_i128(n as i128);
            let sum = values.clone().fold(T::default(), |a, x| a.add(x));
            let mean = sum.div(count).unwrap_or_default();
            if k == Kind::Mean {
                return mean;
            }
            let sq = values.fold(T::default(), |a, x| {
                let d = x.sub(mean);
                a.add(d.mul(d))
            });
            let var = sq.div(count).unwrap_or_default();
            if k == Kind::Var { var } else { T::from_f64(var.to_f64().sqrt()) }
        }
        Kind::IdxMin | Kind::IdxMax => {
            let mut best: Option<(usize, T)> = None;
            for (i, x) in values.enumerate() {
                let better = match best {
                    None => true,
                    Some((_, b)) => (k == Kind::IdxMin && x < b) || (k == Kind::IdxMax && x > b),
                };
                if better {
                    best = Some((i, x));
                }
            }
            T::from_i128(best.map_or(0, |(i, _)| i) as i128)
        }
    }
}

/// A block's full sum: cell `k` (row-major) goes into accumulator `k % LANES`; the
/// accumulators are folded along a tree.
fn block_sum<T: Elem>(cells: impl Iterator<Item = T>) -> T {
    let mut lanes = [T::default(); LANES];
    for (k, x) in cells.enumerate() {
        lanes[k % LANES] = lanes[k % LANES].add(x);
    }
    fold_tree(lanes.to_vec(), |a, b| a.add(b)).unwrap_or_default()
}

/// `sum(X)` and friends: the whole matrix to a scalar of value type `vt`.
pub fn full(op: Builtin, m: &Matrix, vt: ValueType) -> R<Value> {
    if op == Builtin::SumAll {
        return with_elem_type!(vt, T => {
            let cols = m.cols();
            let r = with_matrix!(m, x => {
                let sums = blocks(m.rows())
                    .into_iter()
                    .map(|b| block_sum(x.cells()[b.start * cols..b.end * cols].iter().map(|&v| v.cast::<T>())))
                    .collect();
                fold_tree(sums, |a: T, b| a.add(b)).unwrap_or_default()
            }, _s => return Err(format!("`{op}` is not defined on strings").into()));
            Ok(Value::Scalar(Scalar::from_elem(r, vt)))
        }, str => Err(format!("`{op}` is not defined on strings").into()));
    }
    full_block(op, m, vt)
}

/// `full` on one block of a pipeline.
pub fn full_block(op: Builtin, m: &Matrix, vt: ValueType) -> R<Value> {
    let k = kind(op)?;
    if let Matrix::Str(s) = m {
        return match k {
            Kind::Min | Kind::Max => {
                let pick = s.cells().iter().reduce(|a, b| if (k == Kind::Min) == (b < a) { b } else { a });
                pick.map(|v| Value::Scalar(Scalar::Str(v.clone())))
                    .ok_or_else(|| Error::from(format!("`{op}` of an empty matrix")))
            }
            _ => Err(format!("`{op}` is not defined on strings").into()),
        };
    }
    with_elem_type!(vt, T => {
        let n = m.rows() * m.cols();
        let r = with_matrix!(m, x => {
            let cells = x.cells().iter().map(|&v| v.cast::<T>());
            if k == Kind::Sum { block_sum(cells) } else { reduce::<T>(k, cells, n) }
        }, _s => T::default());
        Ok(Value::Scalar(Scalar::from_elem(r, vt)))
    }, str => Err(format!("`{op}` is not defined on strings").into()))
}

/// Per-row (`n x 1`) or per-column (`1 x m`) aggregation into a matrix of value type `vt`.
pub fn along(op: Builtin, m: &Matrix, vt: ValueType) -> R<Value> {
    if op == Builtin::SumCol && m.rows() > 0 {
        let parts = blocks(m.rows())
            .into_iter()
            .map(|b| along_block(op, &m.row_range(b.start, b.end), vt))
            .map(|p| p.map(Ok))
            .collect::<R<Vec<R<Value>>>>()?;
        let folded = fold_tree(parts, |a: R<Value>, b: R<Value>| {
            let (a, b) = (a?, b?);
            crate::kernels::ew::binary(Builtin::EwAdd, &a, &b, vt, vt)
        });
        return folded.unwrap_or_else(|| Err(Error::Internal("no blocks".into())));
    }
    if matches!(op, Builtin::MeanCol | Builtin::VarCol | Builtin::StddevCol)
        && matches!(vt, ValueType::F64 | ValueType::F32)
        && m.value_type() == vt
        && m.rows() > 0
    {
        return column_moments(op, m, vt);
    }
    along_block(op, m, vt)
}

/// The column means, variances and standard deviations of a float matrix, from the column
/// sums of the canonical blocks (`sumCol(X) / n`, then `sumCol((X - mean)^2) / n`): what
/// `expand-column-moments` makes them, so fused and not they have the same bits.
fn column_moments(op: Builtin, m: &Matrix, vt: ValueType) -> R<Value> {
    use super::ew::binary;
    let x = Value::Matrix(m.clone());
    // The row count in the value type, as a cast of `nrow(X)` makes it.
    let n =
        Value::Scalar(if vt == ValueType::F32 { Scalar::F32(m.rows() as f32) } else { Scalar::F64(m.rows() as f64) });
    let sums = along(Builtin::SumCol, m, vt)?;
    let mean = binary(Builtin::EwDiv, &sums, &n, vt, vt)?;
    if op == Builtin::MeanCol {
        return Ok(mean);
    }
    let centered = binary(Builtin::EwSub, &x, &mean, vt, vt)?;
    let squares = binary(Builtin::EwMul, &centered, &centered, vt, vt)?;
    let Value::Matrix(squares) = squares else { return Err(Error::Internal("squares of a matrix".into())) };
    let var = binary(Builtin::EwDiv, &along(Builtin::SumCol, &squares, vt)?, &n, vt, vt)?;
    if op == Builtin::VarCol {
        return Ok(var);
    }
    // The square root, correctly rounded as `sqrt` is (in f64 and rounded to f32 is the f32
    // root: 53 bits hold twice 24 and two more).
    let Value::Matrix(var) = var else { return Err(Error::Internal("a variance of a matrix".into())) };
    let sd = with_elem_type!(vt, T => {
        let v = var.to_typed::<T>().ok_or_else(|| Error::Internal("a float variance".into()))?;
        wrap(DenseMatrix::from_vec(1, v.cols(), v.cells().iter().map(|x| T::from_f64(x.to_f64().sqrt())).collect()))
    }, str => return Err(Error::Internal("a string variance".into())));
    Ok(sd)
}

/// `along` on one block of a pipeline.
pub fn along_block(op: Builtin, m: &Matrix, vt: ValueType) -> R<Value> {
    use Builtin as B;
    let k = kind(op)?;
    let per_row = matches!(
        op,
        B::SumRow | B::MinRow | B::MaxRow | B::MeanRow | B::VarRow | B::StddevRow | B::IdxMinRow | B::IdxMaxRow
    );
    // Index results are computed as u64 positions over the argument's own type.
    let index_result = matches!(k, Kind::IdxMin | Kind::IdxMax);
    let work_vt = if index_result { m.value_type() } else { vt };
    let (rows, cols) = (m.rows(), m.cols());
    with_elem_type!(work_vt, T => {
        let x = m.to_typed::<T>().ok_or_else(|| Error::from(format!("`{op}` is not defined on strings")))?;
        let out: Vec<T> = if per_row {
            (0..rows).map(|i| reduce::<T>(k, x.row(i).iter().copied(), cols)).collect()
        } else {
            columns::<T>(k, &x)
        };
        let (r, c) = if per_row { (rows, 1) } else { (1, cols) };
        if index_result {
            let idx: Vec<u64> = out.iter().map(|v| v.to_i128() as u64).collect();
            return Ok(wrap(DenseMatrix::from_vec(r, c, idx)));
        }
        Ok(wrap(DenseMatrix::from_vec(r, c, out)))
    }, str => Err(format!("`{op}` is not defined on strings").into()))
}

/// `reduce` of every column, computed row by row (a walk down each column of a row-major
/// matrix would miss the cache on every cell); each column sees its values in the same order.
fn columns<T: Elem>(k: Kind, x: &DenseMatrix<T>) -> Vec<T> {
    let (rows, cols) = (x.rows(), x.cols());
    let fold = |init: T, f: &dyn Fn(T, T) -> T| {
        let mut acc = vec![init; cols];
        for i in 0..rows {
            for (a, &v) in acc.iter_mut().zip(x.row(i)) {
                *a = f(*a, v);
            }
        }
        acc
    };
    match k {
        Kind::Sum => fold(T::default(), &|a, v| a.add(v)),
        Kind::Min => fold(T::from_f64(f64::INFINITY), &|a, v| if v < a { v } else { a }),
        Kind::Max => fold(T::from_f64(f64::NEG_INFINITY), &|a, v| if v > a { v } else { a }),
        Kind::Mean | Kind::Var | Kind::Stddev => {
            let count = T::from_i128(rows as i128);
            let sums = fold(T::default(), &|a, v| a.add(v));
            let means: Vec<T> = sums.iter().map(|s| s.div(count).unwrap_or_default()).collect();
            if k == Kind::Mean {
                return means;
            }
            let mut sq = vec![T::default(); cols];
            for i in 0..rows {
                for ((a, &v), &mean) in sq.iter_mut().zip(x.row(i)).zip(&means) {
                    let d = v.sub(mean);
                    *a = a.add(d.mul(d));
                }
            }
            sq.iter()
                .map(|s| {
                    let var = s.div(count).unwrap_or_default();
                    if k == Kind::Var { var } else { T::from_f64(var.to_f64().sqrt()) }
                })
                .collect()
        }
        Kind::IdxMin | Kind::IdxMax => {
            let mut best: Vec<Option<(usize, T)>> = vec![None; cols];
            for i in 0..rows {
                for (b, &v) in best.iter_mut().zip(x.row(i)) {
                    let better = match b {
                        None => true,
                        Some((_, c)) => (k == Kind::IdxMin && v < *c) || (k == Kind::IdxMax && v > *c),
                    };
                    if better {
                        *b = Some((i, v));
                    }
                }
            }
            best.iter().map(|b| T::from_i128(b.map_or(0, |(i, _)| i) as i128)).collect()
        }
    }
}

/// Cumulative aggregation down each column.
pub fn cumulative(op: Builtin, m: &Matrix) -> R<Value> {
    fn run<T: MatrixElem>(op: Builtin, x: &DenseMatrix<T>) -> Value {
        let (rows, cols) = (x.rows(), x.cols());
        let mut out = x.cells().to_vec();
        for i in 1..rows {
            for j in 0..cols {
                let (prev, cur) = (out[(i - 1) * cols + j], out[i * cols + j]);
                out[i * cols + j] = match op {
                    Builtin::CumSum => prev.add(cur),
                    Builtin::CumProd => prev.mul(cur),
                    Builtin::CumMin => {
                        if cur < prev {
                            cur
                        } else {
                            prev
                        }
                    }
                    _ => {
                        if cur > prev {
                            cur
                        } else {
                            prev
                        }
                    }
                };
            }
        }
        wrap(DenseMatrix::from_vec(rows, cols, out))
    }
    with_matrix!(m, x => Ok(run(op, x)), _s => Err(format!("`{op}` is not defined on strings").into()))
}
