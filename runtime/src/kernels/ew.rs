//! Elementwise kernels: unary functions, binary operators with broadcasting, the
//! elementwise choice `cond ? a : b`.

use std::sync::Arc;

use daphne_ir::{Builtin, ValueType};

use crate::elem::Elem;
use crate::error::Error;
use crate::matrix::{DenseMatrix, Matrix, MatrixElem};
use crate::value::{Scalar, Value};
use crate::with_elem_type;

type R<T> = Result<T, Error>;

/// A unary function on one element type.
fn unary_fn<T: Elem>(op: Builtin) -> R<fn(T) -> T> {
    use Builtin as B;
    Ok(match op {
        B::EwMinus => |x: T| x.neg(),
        // std::abs: clears the sign bit of floats, so abs(-0.0) is 0.
        B::EwAbs => |x: T| {
            if T::IS_FLOAT {
                T::from_f64(x.to_f64().abs())
            } else if x < T::default() {
                x.neg()
            } else {
                x
            }
        },
        B::EwSign => |x: T| {
            if x > T::default() {
                T::from_i128(1)
            } else if x < T::default() {
                T::from_i128(-1)
            } else if T::IS_FLOAT && x.to_f64().is_nan() {
                x
            } else {
                T::default()
            }
        },
        B::EwRound => |x: T| if T::IS_FLOAT { T::from_f64(x.to_f64().round()) } else { x },
        B::EwFloor => |x: T| if T::IS_FLOAT { T::from_f64(x.to_f64().floor()) } else { x },
        B::EwCeil => |x: T| if T::IS_FLOAT { T::from_f64(x.to_f64().ceil()) } else { x },
        B::EwIsNan => |x: T| T::from_bool(T::IS_FLOAT && x.to_f64().is_nan()),
        B::EwNot => |x: T| T::from_bool(x.is_zero()),
        B::EwExp => |x: T| T::from_f64(x.to_f64().exp()),
        B::EwLn => |x: T| T::from_f64(x.to_f64().ln()),
        B::EwSqrt => |x: T| T::from_f64(x.to_f64().sqrt()),
        B::EwSin => |x: T| T::from_f64(x.to_f64().sin()),
        B::EwCos => |x: T| T::from_f64(x.to_f64().cos()),
        B::EwTan => |x: T| T::from_f64(x.to_f64().tan()),
        B::EwSinh => |x: T| T::from_f64(x.to_f64().sinh()),
        B::EwCosh => |x: T| T::from_f64(x.to_f64().cosh()),
        B::EwTanh => |x: T| T::from_f64(x.to_f64().tanh()),
        B::EwAsin => |x: T| T::from_f64(x.to_f64().asin()),
        B::EwAcos => |x: T| T::from_f64(x.to_f64().acos()),
        B::EwAtan => |x: T| T::from_f64(x.to_f64().atan()),
        other => return Err(format!("`{other}` is not an elementwise unary operation").into()),
    })
}

/// DAPHNE's domain checks (`EwUnarySca.h`): `sqrt` and `ln` of a number below -0, `asin`
/// and `acos` outside [-1, 1] are errors rather than NaN.
fn check_domain(op: Builtin, x: f64) -> R<()> {
    let bad = match op {
        Builtin::EwSqrt => (x < -0.0).then_some("SQRT with domain [-0, inf]"),
        Builtin::EwLn => (x < -0.0).then_some("LN with domain [-0, inf]"),
        Builtin::EwAsin => (!(-1.0..=1.0).contains(&x) && !x.is_nan()).then_some("ASIN with domain [-1, 1]"),
        Builtin::EwAcos => (!(-1.0..=1.0).contains(&x) && !x.is_nan()).then_some("ACOS with domain [-1, 1]"),
        _ => None,
    }
    .map(|m| m.to_owned());
    match bad {
        Some(m) => Err(format!("{m}: the argument {} is outside the domain", crate::format::fmt_f64(x)).into()),
        None => Ok(()),
    }
}

/// An elementwise unary op, computed in the result value type `vt`.
pub fn unary(op: Builtin, x: &Value, vt: ValueType) -> R<Value> {
    if matches!(op, Builtin::EwSqrt | Builtin::EwLn | Builtin::EwAsin | Builtin::EwAcos) {
        match x {
            Value::Scalar(s) => check_domain(op, s.get::<f64>().unwrap_or(0.0))?,
            Value::Matrix(m) => {
                if let Some(f) = m.to_typed::<f64>() {
                    f.cells().iter().try_for_each(|&v| check_domain(op, v))?;
                }
            }
            Value::Frame(_) | Value::List(..) | Value::Sparse(_) | Value::Remote(_) | Value::RemoteFrame(_) => {}
        }
    }
    with_elem_type!(vt, T => {
        let f = unary_fn::<T>(op)?;
        match x {
            Value::Scalar(s) => {
                let v: T = s.get().ok_or_else(|| Error::from(format!("`{op}` is not defined on strings")))?;
                Ok(Value::Scalar(Scalar::from_elem(f(v), vt)))
            }
            Value::Matrix(m) => {
                let m = m.to_typed::<T>().ok_or_else(|| Error::from(format!("`{op}` is not defined on strings")))?;
                Ok(Value::Matrix(T::wrap(m.map(|&v| f(v)))))
            }
            Value::Frame(_) | Value::List(..) | Value::Sparse(_) | Value::Remote(_) | Value::RemoteFrame(_) => Err(format!("`{op}` is not defined on frames").into()),
        }
    }, str => Err(format!("`{op}` is not defined on strings").into()))
}

/// A binary operation on one element type; `Err` for an integer division by zero.
fn binary_fn<T: Elem>(op: Builtin) -> R<fn(T, T) -> R<T>> {
    use Builtin as B;
    fn zero_div() -> String {
        "division by zero".to_owned()
    }
    Ok(match op {
        B::EwAdd => |a: T, b: T| Ok(a.add(b)),
        B::EwSub => |a: T, b: T| Ok(a.sub(b)),
        B::EwMul => |a: T, b: T| Ok(a.mul(b)),
        B::EwDiv => |a: T, b: T| Ok(a.div(b).ok_or_else(zero_div)?),
        B::EwMod => |a: T, b: T| Ok(a.rem(b).ok_or_else(zero_div)?),
        B::EwPow => |a: T, b: T| Ok(a.pow(b)),
        B::EwLog => |a: T, b: T| Ok(T::from_f64(a.to_f64().ln() / b.to_f64().ln())),
        B::EwMin => |a: T, b: T| Ok(if b < a { b } else { a }),
        B::EwMax => |a: T, b: T| Ok(if b > a { b } else { a }),
        B::EwAnd => |a: T, b: T| Ok(T::from_bool(!a.is_zero() && !b.is_zero())),
        B::EwOr => |a: T, b: T| Ok(T::from_bool(!a.is_zero() || !b.is_zero())),
        B::EwEq => |a: T, b: T| Ok(T::from_bool(a == b)),
        B::EwNe => |a: T, b: T| Ok(T::from_bool(a != b)),
        B::EwLt => |a: T, b: T| Ok(T::from_bool(a < b)),
        B::EwLe => |a: T, b: T| Ok(T::from_bool(a <= b)),
        B::EwGt => |a: T, b: T| Ok(T::from_bool(a > b)),
        B::EwGe => |a: T, b: T| Ok(T::from_bool(a >= b)),
        other => return Err(format!("`{other}` is not an elementwise binary operation").into()),
    })
}

/// Applies `f` cell by cell, broadcasting a scalar on either side and a row or column vector
/// (or 1x1 matrix) on the right.
fn broadcast<A: Clone, B: Clone, C: Clone>(
    op: Builtin,
    a: Either<&DenseMatrix<A>, &A>,
    b: Either<&DenseMatrix<B>, &B>,
    f: impl Fn(&A, &B) -> R<C>,
) -> R<Either<DenseMatrix<C>, C>> {
    match (a, b) {
        (Either::Right(x), Either::Right(y)) => Ok(Either::Right(f(x, y)?)),
        (Either::Left(m), Either::Right(y)) => {
            let cells = m.cells().iter().map(|x| f(x, y)).collect::<R<Vec<C>>>()?;
            Ok(Either::Left(DenseMatrix::from_vec(m.rows(), m.cols(), cells)))
        }
        (Either::Right(x), Either::Left(m)) => {
            let cells = m.cells().iter().map(|y| f(x, y)).collect::<R<Vec<C>>>()?;
            Ok(Either::Left(DenseMatrix::from_vec(m.rows(), m.cols(), cells)))
        }
        (Either::Left(l), Either::Left(r)) => {
            let (rows, cols) = (l.rows(), l.cols());
            let row_ok = r.rows() == rows || r.rows() == 1;
            let col_ok = r.cols() == cols || r.cols() == 1;
            if !row_ok || !col_ok {
                return Err(format!(
                    "`{op}`: the right operand must have the shape of the left one ({rows}x{cols}) or be a row or column vector, but is {}x{}",
                    r.rows(),
                    r.cols()
                ).into());
            }
            let mut cells = Vec::with_capacity(rows * cols);
            for i in 0..rows {
                let ri = if r.rows() == 1 { 0 } else { i };
                for j in 0..cols {
                    let rj = if r.cols() == 1 { 0 } else { j };
                    cells.push(f(l.get(i, j), r.get(ri, rj))?);
                }
            }
            Ok(Either::Left(DenseMatrix::from_vec(rows, cols, cells)))
        }
    }
}

/// A matrix or a scalar.
pub enum Either<M, S> {
    Left(M),
    Right(S),
}

/// The operand converted to element type `T`.
fn typed<T: MatrixElem>(v: &Value, op: Builtin) -> R<Either<DenseMatrix<T>, T>> {
    let strings = || format!("`{op}` is not defined on strings");
    match v {
        Value::Scalar(s) => Ok(s.get::<T>().map(Either::Right).ok_or_else(strings)?),
        Value::Matrix(m) => Ok(m.to_typed::<T>().map(Either::Left).ok_or_else(strings)?),
        Value::Frame(_) | Value::List(..) | Value::Sparse(_) | Value::Remote(_) | Value::RemoteFrame(_) => {
            Err(format!("`{op}` is not defined on frames").into())
        }
    }
}

fn as_ref<M, S>(e: &Either<M, S>) -> Either<&M, &S> {
    match e {
        Either::Left(m) => Either::Left(m),
        Either::Right(s) => Either::Right(s),
    }
}

fn string_operand(v: &Value) -> R<Either<DenseMatrix<Arc<str>>, Arc<str>>> {
    let text = |s: &Scalar| -> Arc<str> {
        match s.cast(ValueType::Str) {
            Some(Scalar::Str(t)) => t,
            _ => Arc::from(""),
        }
    };
    Ok(match v {
        Value::Scalar(s) => Either::Right(text(s)),
        Value::Matrix(Matrix::Str(m)) => Either::Left(m.clone()),
        Value::Matrix(m) => match m.cast(ValueType::Str) {
            Some(Matrix::Str(s)) => Either::Left(s),
            _ => Either::Left(DenseMatrix::from_vec(0, 0, Vec::new())),
        },
        Value::Frame(_) | Value::List(..) | Value::Sparse(_) | Value::Remote(_) | Value::RemoteFrame(_) => {
            return Err("string operations are not defined on frames".into());
        }
    })
}

/// An elementwise binary op. Both operands are converted to `arg_vt` (the result type, or
/// for comparisons the most general operand type); the result has value type `vt`.
/// `a + b` of two scalars, with the result type `+` gives them (the sums of `groupSum` and
/// `groupJoin`).
pub fn add_scalars(a: Scalar, b: Scalar) -> R<Scalar> {
    let args = [Value::Scalar(a), Value::Scalar(b)];
    let vt = super::args::result_vt(Builtin::EwAdd, &args)?;
    match binary(Builtin::EwAdd, &args[0], &args[1], vt, vt)? {
        Value::Scalar(s) => Ok(s),
        _ => Err(Error::Internal("the sum of two scalars is not a scalar".into())),
    }
}

pub fn binary(op: Builtin, a: &Value, b: &Value, arg_vt: ValueType, vt: ValueType) -> R<Value> {
    if (arg_vt, vt) == (ValueType::F64, ValueType::F64)
        && let Some(v) = binary_f64(op, a, b)
    {
        return Ok(v);
    }
    if arg_vt == ValueType::Str {
        return string_binary(op, a, b, vt);
    }
    with_elem_type!(arg_vt, T => {
        let f = binary_fn::<T>(op)?;
        let (x, y) = (typed::<T>(a, op)?, typed::<T>(b, op)?);
        let out = broadcast(op, as_ref(&x), as_ref(&y), |p, q| f(*p, *q))?;
        Ok(match out {
            Either::Right(s) => Value::Scalar(Scalar::from_elem(s, vt)),
            Either::Left(m) => {
                let m = Value::Matrix(T::wrap(m));
                if vt == arg_vt { m } else { super::cast::cast_value(&m, vt)? }
            }
        })
    }, str => unreachable_str())
}

/// `binary` for the common case, doubles and an operator that cannot fail, with the operator
/// compiled into the loop (the general path calls it through a pointer for every cell). The
/// same arithmetic as `binary_fn`; `None` for shapes the general path handles.
fn binary_f64(op: Builtin, a: &Value, b: &Value) -> Option<Value> {
    use Builtin as B;
    match op {
        B::EwAdd => apply_f64(a, b, |x, y| x + y),
        B::EwSub => apply_f64(a, b, |x, y| x - y),
        B::EwMul => apply_f64(a, b, |x, y| x * y),
        B::EwDiv => apply_f64(a, b, |x, y| x / y),
        B::EwPow => apply_f64(a, b, Elem::pow),
        B::EwMin => apply_f64(a, b, |x, y| if y < x { y } else { x }),
        B::EwMax => apply_f64(a, b, |x, y| if y > x { y } else { x }),
        _ => None,
    }
}

fn apply_f64(a: &Value, b: &Value, f: impl Fn(f64, f64) -> f64) -> Option<Value> {
    let f = &f;
    let (rows, cols, cells): (usize, usize, Vec<f64>) = match (a, b) {
        // A scalar converts to the argument type as in `typed`.
        (Value::Matrix(Matrix::F64(m)), Value::Scalar(y)) => {
            let y: f64 = y.get()?;
            (m.rows(), m.cols(), m.cells().iter().map(|&x| f(x, y)).collect())
        }
        (Value::Scalar(x), Value::Matrix(Matrix::F64(m))) => {
            let x: f64 = x.get()?;
            (m.rows(), m.cols(), m.cells().iter().map(|&y| f(x, y)).collect())
        }
        (Value::Matrix(Matrix::F64(l)), Value::Matrix(Matrix::F64(r))) => {
            let (rows, cols) = (l.rows(), l.cols());
            let cells = if (r.rows(), r.cols()) == (rows, cols) {
                l.cells().iter().zip(r.cells()).map(|(&x, &y)| f(x, y)).collect()
            } else if (r.rows(), r.cols()) == (1, cols) {
                let v = r.cells();
                (0..rows).flat_map(|i| l.row(i).iter().zip(v).map(|(&x, &y)| f(x, y))).collect()
            } else if (r.rows(), r.cols()) == (rows, 1) {
                let v = r.cells();
                (0..rows).flat_map(|i| l.row(i).iter().map(move |&x| f(x, v[i]))).collect()
            } else {
                return None;
            };
            (rows, cols, cells)
        }
        _ => return None,
    };
    Some(Value::Matrix(Matrix::F64(DenseMatrix::from_vec(rows, cols, cells))))
}

fn unreachable_str() -> R<Value> {
    Err(Error::Internal("string operands reached the numeric kernel".into()))
}

fn string_binary(op: Builtin, a: &Value, b: &Value, vt: ValueType) -> R<Value> {
    use Builtin as B;
    let (x, y) = (string_operand(a)?, string_operand(b)?);
    let cmp = |f: fn(&str, &str) -> bool| {
        broadcast(op, as_ref(&x), as_ref(&y), move |p: &Arc<str>, q: &Arc<str>| Ok(i64::from(f(p, q))))
    };
    let numeric = |r: Either<DenseMatrix<i64>, i64>| -> R<Value> {
        Ok(match r {
            Either::Right(s) => Value::Scalar(Scalar::from_elem(s, vt)),
            Either::Left(m) => super::cast::cast_value(&Value::Matrix(Matrix::Si64(m)), vt)?,
        })
    };
    let strings = |f: fn(&Arc<str>, &Arc<str>) -> Arc<str>| -> R<Value> {
        Ok(match broadcast(op, as_ref(&x), as_ref(&y), move |p, q| Ok(f(p, q)))? {
            Either::Right(s) => Value::Scalar(Scalar::Str(s)),
            Either::Left(m) => Value::Matrix(Matrix::Str(m)),
        })
    };
    match op {
        B::EwConcat | B::EwAdd => strings(|p, q| Arc::from(format!("{p}{q}"))),
        B::EwMin => strings(|p, q| if q < p { q.clone() } else { p.clone() }),
        B::EwMax => strings(|p, q| if q > p { q.clone() } else { p.clone() }),
        B::EwEq => numeric(cmp(|p, q| p == q)?),
        B::EwNe => numeric(cmp(|p, q| p != q)?),
        B::EwLt => numeric(cmp(|p, q| p < q)?),
        B::EwLe => numeric(cmp(|p, q| p <= q)?),
        B::EwGt => numeric(cmp(|p, q| p > q)?),
        B::EwGe => numeric(cmp(|p, q| p >= q)?),
        other => Err(format!("`{other}` is not defined on strings").into()),
    }
}

/// `cond ? a : b` for a matrix condition: cells of `a` where `cond` is non-zero, else `b`;
/// `a` and `b` may be scalars or matrices of `cond`'s shape.
pub fn cond(c: &Matrix, a: &Value, b: &Value, vt: ValueType) -> R<Value> {
    let mask = c.to_typed::<bool>().ok_or("the condition of `?:` must be numeric")?;
    let pick = |v: &Value, i: usize, j: usize| -> R<Scalar> {
        match v {
            Value::Scalar(s) => Ok(s.clone()),
            Value::Matrix(m) if m.rows() == mask.rows() && m.cols() == mask.cols() => Ok(m.cell(i, j)),
            Value::Matrix(m) => Err(format!(
                "`?:`: the branches must be scalars or have the condition's shape ({}x{}), not {}x{}",
                mask.rows(),
                mask.cols(),
                m.rows(),
                m.cols()
            )
            .into()),
            Value::Frame(_) | Value::List(..) | Value::Sparse(_) | Value::Remote(_) | Value::RemoteFrame(_) => {
                Err("`?:`: the branches must not be frames".into())
            }
        }
    };
    let mut cells = Vec::with_capacity(mask.rows() * mask.cols());
    for i in 0..mask.rows() {
        for j in 0..mask.cols() {
            let s = if *mask.get(i, j) { pick(a, i, j)? } else { pick(b, i, j)? };
            cells.push(s.cast(vt).ok_or("`?:`: cannot convert the chosen value")?);
        }
    }
    Matrix::from_scalars(mask.rows(), mask.cols(), &cells, vt).map(Value::Matrix)
}

/// `outerOp(a, b)` (`outer`, for example `outerAdd`): an m x 1 (or scalar) and a 1 x n (or
/// scalar) give m x n with `op(a[i], b[j])` at `(i, j)`, `op` the elementwise operation;
/// operands converted to `arg_vt`, result in `vt`.
pub fn outer(outer: Builtin, op: Builtin, a: &Value, b: &Value, arg_vt: ValueType, vt: ValueType) -> R<Value> {
    let column = |v: &Value, want_col: bool| -> R<Vec<Value>> {
        match v {
            Value::Scalar(_) => Ok(vec![v.clone()]),
            Value::Matrix(m) => {
                let ok = if want_col { m.cols() == 1 } else { m.rows() == 1 };
                if !ok {
                    let need = if want_col {
                        "a column matrix (m x 1) on the left"
                    } else {
                        "a row matrix (1 x n) on the right"
                    };
                    return Err(format!("outer operations need {need}, not {}x{}", m.rows(), m.cols()).into());
                }
                let n = if want_col { m.rows() } else { m.cols() };
                Ok((0..n).map(|k| Value::Scalar(if want_col { m.cell(k, 0) } else { m.cell(0, k) })).collect())
            }
            Value::Frame(_) | Value::List(..) | Value::Sparse(_) | Value::Remote(_) | Value::RemoteFrame(_) => {
                Err("outer operations are not defined on frames".into())
            }
        }
    };
    let (xs, ys) = (column(a, true)?, column(b, false)?);
    crate::memory::check_cells::<Scalar>(xs.len(), ys.len(), &super::args::label(outer))?;
    let mut cells = Vec::with_capacity(xs.len() * ys.len());
    for x in &xs {
        for y in &ys {
            match binary(op, x, y, arg_vt, vt)? {
                Value::Scalar(s) => cells.push(s),
                _ => return Err(Error::Internal("outer cell is not a scalar".into())),
            }
        }
    }
    Matrix::from_scalars(xs.len(), ys.len(), &cells, vt).map(Value::Matrix)
}

/// `lower(s)` and `upper(s)` on a string or a matrix of strings.
pub fn case(op: Builtin, v: &Value) -> R<Value> {
    let f =
        |s: &str| -> Arc<str> { Arc::from(if op == Builtin::EwLower { s.to_lowercase() } else { s.to_uppercase() }) };
    match v {
        Value::Scalar(Scalar::Str(s)) => Ok(Value::Scalar(Scalar::Str(f(s)))),
        Value::Matrix(Matrix::Str(m)) => Ok(Value::Matrix(Matrix::Str(m.map(|s| f(s))))),
        other => Err(format!("`{op}` needs strings, not {}", other.describe()).into()),
    }
}

/// `x LIKE pattern`: 1 where the whole string matches the pattern, else 0 (si64).
pub fn like(x: &Value, pattern: &Value) -> R<Value> {
    let Value::Scalar(Scalar::Str(p)) = pattern else {
        return Err(format!("`LIKE` needs a string pattern, not {}", pattern.describe()).into());
    };
    let p: Vec<char> = p.chars().collect();
    match x {
        Value::Scalar(Scalar::Str(s)) => Ok(Value::Scalar(Scalar::Si64(i64::from(like_match(s, &p))))),
        Value::Matrix(Matrix::Str(m)) => Ok(Value::Matrix(Matrix::Si64(m.map(|s| i64::from(like_match(s, &p)))))),
        other => Err(format!("`LIKE` needs strings, not {}", other.describe()).into()),
    }
}

/// Whether `s` matches a LIKE pattern (`%`: any run of characters, `_`: one character), in
/// time linear in their lengths times the pattern's (the greedy matcher with backtracking to
/// the last `%`).
fn like_match(s: &str, p: &[char]) -> bool {
    let s: Vec<char> = s.chars().collect();
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if j < p.len() && (p[j] == '_' || (p[j] != '%' && p[j] == s[i])) {
            i += 1;
            j += 1;
        } else if j < p.len() && p[j] == '%' {
            star = Some((j, i));
            j += 1;
        } else if let Some((sj, si)) = star {
            j = sj + 1;
            i = si + 1;
            star = Some((sj, si + 1));
        } else {
            return false;
        }
    }
    p[j..].iter().all(|&c| c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The general path, without the fast one.
    fn general(op: Builtin, a: &Value, b: &Value) -> Value {
        let f = binary_fn::<f64>(op).unwrap();
        let (x, y) = (typed::<f64>(a, op).unwrap(), typed::<f64>(b, op).unwrap());
        match broadcast(op, as_ref(&x), as_ref(&y), |p, q| f(*p, *q)).unwrap() {
            Either::Left(m) => Value::Matrix(Matrix::F64(m)),
            Either::Right(s) => Value::Scalar(Scalar::F64(s)),
        }
    }

    fn bits(v: &Value) -> Vec<u64> {
        match v {
            Value::Matrix(Matrix::F64(m)) => m.cells().iter().map(|x| x.to_bits()).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn like_matches_whole_strings_with_percent_and_underscore() {
        let m = |p: &str, s: &str| like_match(s, &p.chars().collect::<Vec<_>>());
        assert!(m("a%", "abc") && m("%c", "abc") && m("a_c", "abc") && m("%", "") && m("%b%", "abc"));
        assert!(!m("a_", "abc") && !m("b%", "abc") && !m("", "a") && !m("a%d", "abcd e"));
        assert!(m("%a%a%", "banana") && !m("%x%", "banana") && m("_%_", "ab"));
    }

    #[test]
    fn the_fast_path_computes_what_the_general_one_does() {
        let cells = vec![1.5, -0.0, 0.0, f64::NAN, f64::INFINITY, -3.0, 2.0, 1e308, -7.25, 0.1, 3.0, -1e-310];
        let m = |r: usize, c: usize| Value::Matrix(Matrix::F64(DenseMatrix::from_vec(r, c, cells[..r * c].to_vec())));
        let operands = [
            (m(3, 4), Value::Scalar(Scalar::F64(2.0))),
            (m(3, 4), Value::Scalar(Scalar::Si64(2))),
            (Value::Scalar(Scalar::F64(-0.5)), m(3, 4)),
            (m(3, 4), m(3, 4)),
            (m(3, 4), m(1, 4)),
            (m(3, 4), m(3, 1)),
            (m(4, 3), m(4, 3)),
        ];
        use Builtin as B;
        for op in [B::EwAdd, B::EwSub, B::EwMul, B::EwDiv, B::EwPow, B::EwMin, B::EwMax] {
            for (a, b) in &operands {
                let fast = binary_f64(op, a, b).expect("the fast path takes these");
                assert_eq!(bits(&fast), bits(&general(op, a, b)), "{op} on {a:?} and {b:?}");
            }
        }
        assert!(binary_f64(B::EwMod, &m(3, 4), &m(3, 4)).is_none());
    }
}
