//! Kernels for the built-in operations. Result value types come from the same inference
//! rules the compiler uses (`daphne_ir::infer`), applied to the runtime operands, so the
//! interpreter and the compiler agree by construction.

pub mod agg;
pub mod data;
pub mod ew;
pub mod frames;
pub mod gemm;
pub mod linalg;

use std::sync::Arc;

use daphne_ir::{Axis, Builtin, Fuse, MatrixType, Rule, Type, ValueType};
use daphne_ir::infer::{Operand, infer};

use crate::matrix::{DenseMatrix, Matrix, MatrixElem};
use crate::value::{Scalar, Value};
use crate::{with_elem_type, with_matrix};

pub type R<T> = Result<T, String>;

/// The IR type of a runtime value.
pub fn type_of(v: &Value) -> Type {
    match v {
        Value::Scalar(s) => Type::Scalar(s.value_type()),
        Value::Matrix(m) => Type::Matrix(MatrixType {
            vt: Some(m.value_type()),
            rows: Some(m.rows() as u64),
            cols: Some(m.cols() as u64),
            repr: None,
        }),
        Value::Sparse(m) => Type::Matrix(MatrixType {
            vt: Some(m.value_type()),
            rows: Some(m.rows() as u64),
            cols: Some(m.cols() as u64),
            repr: Some(daphne_ir::Repr::Sparse),
        }),
        Value::List(vt, _) => Type::List(MatrixType { vt: Some(*vt), rows: None, cols: None, repr: None }),
        Value::Remote(r) => Type::Matrix(MatrixType {
            vt: Some(r.value_type),
            rows: Some(r.rows as u64),
            cols: Some(r.cols as u64),
            repr: None,
        }),
        Value::Frame(f) => Type::Frame(daphne_ir::FrameType {
            rows: Some(f.rows() as u64),
            columns: Some(
                f.labels()
                    .iter()
                    .zip(f.schema())
                    .map(|(l, vt)| daphne_ir::ColumnType { label: Some(l.to_string()), vt })
                    .collect(),
            ),
        }),
    }
}

/// The value type of the single result of `op` on `args`.
fn result_vt(op: Builtin, args: &[Value]) -> R<ValueType> {
    let types: Vec<Type> = args.iter().map(type_of).collect();
    let operands: Vec<Operand> = types.iter().map(|ty| Operand { ty, constant: None }).collect();
    let out = infer(op, &operands).map_err(|e| e.to_string())?;
    out.first().and_then(Type::value_type).ok_or_else(|| format!("`{op}`: cannot determine the result type"))
}

/// The cell `(i, j)` of a matrix as a scalar.
pub fn cell(m: &Matrix, i: usize, j: usize) -> Scalar {
    match m {
        Matrix::Str(s) => Scalar::Str(s.get(i, j).clone()),
        Matrix::Ui64(x) => Scalar::Ui64(*x.get(i, j)),
        other => {
            with_matrix!(other, x => Scalar::from_elem(*x.get(i, j), other.value_type()), _s => Scalar::Bool(false))
        }
    }
}

/// A matrix of value type `vt` from row-major scalars.
pub fn matrix_from_scalars(rows: usize, cols: usize, cells: &[Scalar], vt: ValueType) -> R<Value> {
    let bad = || "a matrix cell cannot be converted to the matrix's value type".to_owned();
    Ok(Value::Matrix(with_elem_type!(vt, T => {
        let v = cells.iter().map(|s| s.get::<T>()).collect::<Option<Vec<T>>>().ok_or_else(bad)?;
        T::wrap(DenseMatrix::from_vec(rows, cols, v))
    }, str => {
        let v = cells
            .iter()
            .map(|s| match s.cast(ValueType::Str) {
                Some(Scalar::Str(t)) => Ok(t),
                _ => Err(bad()),
            })
            .collect::<R<Vec<Arc<str>>>>()?;
        Matrix::Str(DenseMatrix::from_vec(rows, cols, v))
    })))
}

/// Converts a value to type `to` (the `cast` op): value type changes, scalar to 1x1 matrix,
/// 1x1 matrix to scalar.
pub fn cast(v: &Value, to: &Type) -> R<Value> {
    match (v, to) {
        (_, Type::Unknown) => Ok(v.clone()),
        (Value::Scalar(s), Type::Scalar(vt)) => {
            s.cast(*vt).map(Value::Scalar).ok_or_else(|| format!("cannot convert {} to {vt}", describe_scalar(s)))
        }
        (Value::Scalar(s), Type::Matrix(m)) => {
            let vt = m.vt.unwrap_or(s.value_type());
            matrix_from_scalars(1, 1, std::slice::from_ref(s), vt)
        }
        (Value::Matrix(m), Type::Scalar(vt)) => {
            if m.rows() != 1 || m.cols() != 1 {
                return Err(format!("cannot cast a {}x{} matrix to a scalar: it must be 1x1", m.rows(), m.cols()));
            }
            Value::Scalar(cell(m, 0, 0)).cast_scalar(*vt)
        }
        (Value::Matrix(m), Type::Matrix(t)) => match t.vt {
            None => Ok(v.clone()),
            Some(vt) => m
                .cast(vt)
                .map(Value::Matrix)
                .ok_or_else(|| format!("cannot convert a matrix of {} to {vt}", m.value_type())),
        },
        (Value::Frame(f), Type::Matrix(t)) => {
            // As DAPHNE: without a value type, the first column's.
            let vt = match t.vt {
                Some(vt) => vt,
                None => f.schema().first().copied().unwrap_or(ValueType::F64),
            };
            Ok(Value::Matrix(f.to_matrix(vt)?))
        }
        (Value::Matrix(m), Type::Frame(_)) => Ok(Value::Frame(crate::frame::Frame::from_matrix(m))),
        (Value::Frame(_), Type::Frame(_)) => Ok(v.clone()),
        (Value::Frame(f), Type::Scalar(vt)) => {
            if f.rows() != 1 || f.cols() != 1 {
                return Err(format!("cannot cast a {}x{} frame to a scalar: it must be 1x1", f.rows(), f.cols()));
            }
            Value::Scalar(cell(&f.columns()[0], 0, 0)).cast_scalar(*vt)
        }
        (Value::Scalar(s), Type::Frame(_)) => {
            let column = match matrix_from_scalars(1, 1, std::slice::from_ref(s), s.value_type())? {
                Value::Matrix(m) => m,
                _ => return Err("internal: not a matrix".into()),
            };
            crate::frame::Frame::new(vec![column], vec![crate::frame::default_label(0)]).map(Value::Frame)
        }
        (_, other) => Err(format!("cannot convert {} to {other}", v.describe())),
    }
}

fn describe_scalar(s: &Scalar) -> String {
    match s {
        Scalar::Str(t) => format!("the string \"{t}\""),
        other => format!("a {}", other.value_type()),
    }
}

impl Value {
    fn cast_scalar(&self, vt: ValueType) -> R<Value> {
        match self {
            Value::Scalar(s) => {
                s.cast(vt).map(Value::Scalar).ok_or_else(|| format!("cannot convert {} to {vt}", describe_scalar(s)))
            }
            _ => Err("internal: not a scalar".into()),
        }
    }
}

/// Converts a value's value type, keeping its data type.
pub fn cast_value(v: &Value, vt: ValueType) -> R<Value> {
    match v {
        Value::Scalar(s) => v.cast_scalar(vt).map_err(|_| format!("cannot convert {} to {vt}", describe_scalar(s))),
        Value::Matrix(m) => m
            .cast(vt)
            .map(Value::Matrix)
            .ok_or_else(|| format!("cannot convert a matrix of {} to {vt}", m.value_type())),
        Value::Frame(_) | Value::List(..) | Value::Sparse(_) | Value::Remote(_) => {
            Err(format!("cannot convert a frame to {vt}"))
        }
    }
}

/// Runs a built-in on one block of a pipeline: as `call`, except that reductions over rows
/// reduce only the block (the pipeline combines the blocks).
pub fn call_block(op: Builtin, args: &[Value]) -> R<Vec<Value>> {
    use Builtin as B;
    match op {
        B::SumAll | B::MinAll | B::MaxAll => {
            let m = matrix_arg(op, args.first().ok_or_else(|| format!("`{op}` is missing operand 0"))?)?;
            Ok(vec![agg::full_block(op, m, result_vt(op, args)?)?])
        }
        B::SumCol | B::MinCol | B::MaxCol => {
            let m = matrix_arg(op, args.first().ok_or_else(|| format!("`{op}` is missing operand 0"))?)?;
            Ok(vec![agg::along_block(op, m, result_vt(op, args)?)?])
        }
        // A block runs on one of the engine's threads already.
        B::MatMul => {
            let (a, b) = (args.first(), args.get(1));
            let a = matrix_arg(op, a.ok_or_else(|| format!("`{op}` is missing operand 0"))?)?;
            let b = matrix_arg(op, b.ok_or_else(|| format!("`{op}` is missing operand 1"))?)?;
            Ok(vec![linalg::matmul_on(a, b, result_vt(op, args)?, 1)?])
        }
        B::Syrk | B::Gemv => {
            let a = matrix_arg(op, args.first().ok_or_else(|| format!("`{op}` is missing operand 0"))?)?;
            let b = args.get(1).map(|b| matrix_arg(op, b)).transpose()?;
            Ok(vec![linalg::tmatmul(a, b, result_vt(op, args)?, false)?])
        }
        _ => call(op, args),
    }
}

/// Runs a built-in that does no I/O on its operands.
pub fn call(op: Builtin, args: &[Value]) -> R<Vec<Value>> {
    use Builtin as B;
    let arg = |i: usize| args.get(i).ok_or_else(|| format!("`{op}` is missing operand {i}"));
    let one = |v: Value| Ok(vec![v]);
    // Ops the table groups by category run by category: adding an elementwise op of one
    // operand is its row in the op table and its function in `ew::unary`.
    match op.fuse() {
        Fuse::Outer(ew) => {
            let (a, b) = (arg(0)?, arg(1)?);
            let vt = result_vt(op, args)?;
            let arg_vt = match ew.rule() {
                Rule::Compare => {
                    let va = type_of(a).value_type().unwrap_or(ValueType::F64);
                    va.most_general(type_of(b).value_type().unwrap_or(ValueType::F64))
                }
                _ => vt,
            };
            return one(ew::outer(op, ew, a, b, arg_vt, vt)?);
        }
        Fuse::EwUnary => return one(ew::unary(op, arg(0)?, result_vt(op, args)?)?),
        Fuse::Agg(Axis::Full, _) => return one(agg::full(op, matrix_arg(op, arg(0)?)?, result_vt(op, args)?)?),
        Fuse::Agg(Axis::Rows | Axis::Cols, _) => {
            return one(agg::along(op, matrix_arg(op, arg(0)?)?, result_vt(op, args)?)?);
        }
        _ => {}
    }
    match op {
        B::EwLower | B::EwUpper => one(ew::case(op, arg(0)?)?),
        B::LowerTri | B::UpperTri => one(data::triangle(op, matrix_arg(op, arg(0)?)?, arg(1)?, arg(2)?)?),
        B::DiagVector => one(data::diag_vector(matrix_arg(op, arg(0)?)?)?),
        B::Replace => {
            let vt = result_vt(op, args)?;
            let m = matrix_arg(op, arg(0)?)?.cast(vt).ok_or("`replace`: cannot mix strings and numbers")?;
            one(data::replace(&m, arg(1)?, arg(2)?)?)
        }
        B::IsSymmetric => one(data::is_symmetric(matrix_arg(op, arg(0)?)?)?),
        B::Sample => one(data::sample(args, result_vt(op, args)?)?),
        B::TypeOf => one(data::type_of(arg(0)?)),
        B::Recode => data::recode(matrix_arg(op, arg(0)?)?, arg(1)?),
        B::Bin => one(data::bin(matrix_arg(op, arg(0)?)?, arg(1)?, arg(2)?, arg(3)?)?),
        B::OneHot => one(data::one_hot(matrix_arg(op, arg(0)?)?, matrix_arg(op, arg(1)?)?)?),
        B::Order => one(data::order(matrix_arg(op, arg(0)?)?, &args[1..])?),
        B::Ctable => one(data::ctable(matrix_arg(op, arg(0)?)?, matrix_arg(op, arg(1)?)?, arg(2)?, arg(3)?, arg(4)?)?),
        B::GroupSum => one(frames::group_sum(arg(0)?, &args[1..])?),
        B::InnerJoin => one(frames::inner_join(arg(0)?, arg(1)?, arg(2)?, arg(3)?)?),
        B::SemiJoin => frames::semi_join(arg(0)?, arg(1)?, arg(2)?, arg(3)?),
        B::Cartesian => one(frames::cartesian(arg(0)?, arg(1)?)?),
        B::GroupJoin => frames::group_join(args),
        B::Intersect | B::Merge | B::Except => one(frames::set_op(op, arg(0)?, arg(1)?)?),
        B::Quantize => one(data::quantize(matrix_arg(op, arg(0)?)?, arg(1)?, arg(2)?)?),
        B::Eigen => linalg::eigen(matrix_arg(op, arg(0)?)?),
        B::CreateList => {
            let elems = args.iter().map(|v| matrix_arg(op, v).cloned()).collect::<R<Vec<Matrix>>>()?;
            let vt = elems[0].value_type();
            if let Some(m) = elems.iter().find(|m| m.value_type() != vt) {
                return Err(format!(
                    "the elements of a list must have one value type, not {vt} and {}",
                    m.value_type()
                ));
            }
            one(Value::List(vt, elems))
        }
        B::Length => match arg(0)? {
            Value::List(_, elems) => one(Value::Scalar(Scalar::Index(elems.len() as u64))),
            other => Err(format!("`length` needs a list, not {}", other.describe())),
        },
        B::Append => match (arg(0)?, arg(1)?) {
            (Value::List(vt, elems), Value::Matrix(m)) if m.value_type() == *vt => {
                let mut elems = elems.clone();
                elems.push(m.clone());
                one(Value::List(*vt, elems))
            }
            (Value::List(vt, _), Value::Matrix(m)) => {
                Err(format!("cannot append a matrix of {} to a list of {vt}", m.value_type()))
            }
            (a, b) => Err(format!("`append` needs a list and a matrix, not {} and {}", a.describe(), b.describe())),
        },
        B::Remove => match arg(0)? {
            Value::List(vt, elems) => {
                let i = int_arg(op, arg(1)?, "the position")?;
                if i < 0 || i as usize >= elems.len() {
                    return Err(format!(
                        "cannot remove element {i} from a list of {}",
                        daphne_ir::count(elems.len(), "element", "elements")
                    ));
                }
                let mut elems = elems.clone();
                let e = elems.remove(i as usize);
                Ok(vec![Value::List(*vt, elems), Value::Matrix(e)])
            }
            other => Err(format!("`remove` needs a list, not {}", other.describe())),
        },
        B::EwAdd
        | B::EwSub
        | B::EwMul
        | B::EwDiv
        | B::EwPow
        | B::EwMod
        | B::EwLog
        | B::EwMin
        | B::EwMax
        | B::EwAnd
        | B::EwOr
        | B::EwConcat => {
            let vt = result_vt(op, args)?;
            one(ew::binary(op, arg(0)?, arg(1)?, vt, vt)?)
        }
        B::EwEq | B::EwNe | B::EwLt | B::EwLe | B::EwGt | B::EwGe => {
            let vt = result_vt(op, args)?;
            let (a, b) = (arg(0)?, arg(1)?);
            let va = type_of(a).value_type().unwrap_or(ValueType::F64);
            let vb = type_of(b).value_type().unwrap_or(ValueType::F64);
            one(ew::binary(op, a, b, va.most_general(vb), vt)?)
        }
        B::Cond => match arg(0)? {
            Value::Matrix(c) => one(ew::cond(c, arg(1)?, arg(2)?, result_vt(op, args)?)?),
            Value::Scalar(s) => {
                let chosen = if s.get::<bool>().unwrap_or(false) { arg(1)? } else { arg(2)? };
                one(cast_value(chosen, result_vt(op, args)?)?)
            }
            Value::Frame(_) | Value::List(..) | Value::Sparse(_) | Value::Remote(_) => {
                Err("the condition of `?:` must not be a frame".to_owned())
            }
        },
        B::CumSum | B::CumProd | B::CumMin | B::CumMax => one(agg::cumulative(op, matrix_arg(op, arg(0)?)?)?),
        B::MatrixLiteral => one(data::matrix_literal(args, result_vt(op, args)?)?),
        B::Fill => one(data::fill(arg(0)?, arg(1)?, arg(2)?)?),
        B::Seq => one(data::seq(arg(0)?, arg(1)?, arg(2)?, result_vt(op, args)?)?),
        B::Rand => one(data::rand(args, result_vt(op, args)?, false)?),
        B::DiagMatrix => one(data::diag_matrix(matrix_arg(op, arg(0)?)?)?),
        B::Nrow | B::Ncol | B::Ncell => {
            let (r, c) = match arg(0)? {
                Value::Matrix(m) => (m.rows(), m.cols()),
                Value::Sparse(m) => (m.rows(), m.cols()),
                Value::Remote(m) => (m.rows, m.cols),
                Value::Frame(f) => (f.rows(), f.cols()),
                v @ (Value::Scalar(_) | Value::List(..)) => {
                    return Err(format!("`{op}` needs a matrix or frame, not {}", v.describe()));
                }
            };
            let n = match op {
                B::Nrow => r,
                B::Ncol => c,
                _ => r * c,
            };
            one(Value::Scalar(Scalar::Index(n as u64)))
        }
        B::Transpose => one(data::transpose(matrix_arg(op, arg(0)?)?)),
        B::Reshape => one(data::reshape(matrix_arg(op, arg(0)?)?, arg(1)?, arg(2)?)?),
        B::Cbind | B::Rbind => match (arg(0)?, arg(1)?) {
            (Value::Frame(a), Value::Frame(b)) => one(frames::bind(op, a, b)?),
            (a, b) => one(data::bind(op, matrix_arg(op, a)?, matrix_arg(op, b)?, result_vt(op, args)?)?),
        },
        B::Reverse => one(data::reverse(matrix_arg(op, arg(0)?)?)),
        B::MatMul => one(linalg::matmul(matrix_arg(op, arg(0)?)?, matrix_arg(op, arg(1)?)?, result_vt(op, args)?)?),
        B::Solve => one(linalg::solve(matrix_arg(op, arg(0)?)?, matrix_arg(op, arg(1)?)?, result_vt(op, args)?)?),
        B::Syrk => one(linalg::tmatmul(matrix_arg(op, arg(0)?)?, None, result_vt(op, args)?, true)?),
        B::Gemv => {
            let b = matrix_arg(op, arg(1)?)?;
            one(linalg::tmatmul(matrix_arg(op, arg(0)?)?, Some(b), result_vt(op, args)?, true)?)
        }
        B::SliceRow | B::SliceCol => one(data::slice(op, arg(0)?, arg(1)?, arg(2)?)?),
        B::ExtractRow | B::ExtractCol => one(data::extract(op, arg(0)?, arg(1)?)?),
        B::FilterRow | B::FilterCol => one(data::filter(op, arg(0)?, matrix_arg(op, arg(1)?)?)?),
        B::CreateFrame => one(frames::create(args)?),
        B::SetColLabels => one(frames::set_labels(arg(0)?, &args[1..])?),
        B::SetColLabelsPrefix => one(frames::set_label_prefix(arg(0)?, arg(1)?)?),
        B::InsertRow | B::InsertCol => {
            one(data::insert(op, matrix_arg(op, arg(0)?)?, matrix_arg(op, arg(1)?)?, arg(2)?, arg(3)?)?)
        }
        B::Print | B::Stop | B::Now | B::ReadMatrix | B::ReadFrame | B::Write => {
            Err(format!("internal: `{op}` is run by the executor"))
        }
        _ => Err(format!("internal: `{op}` is run by its category above")),
    }
}

/// How messages name `op`: as scripts write it (`@` for every product).
pub fn label(op: Builtin) -> String {
    match op {
        Builtin::MatMul | Builtin::Gemv | Builtin::Syrk => "`@`".to_owned(),
        other => format!("`{other}`"),
    }
}

/// The operand as a matrix; a scalar is an error.
pub fn matrix_arg(op: Builtin, v: &Value) -> R<&Matrix> {
    match v {
        Value::Matrix(m) => Ok(m),
        _ => Err(format!("`{op}` needs a matrix, not {}", v.describe())),
    }
}

/// A scalar operand as a signed integer (for sizes and positions): a float is truncated toward
/// zero, as C++'s cast does; NaN and the infinities, which that cast leaves undefined, are
/// errors.
pub fn int_arg(op: Builtin, v: &Value, what: &str) -> R<i64> {
    match v {
        Value::Scalar(Scalar::Str(_))
        | Value::Matrix(_)
        | Value::Frame(_)
        | Value::List(..)
        | Value::Sparse(_)
        | Value::Remote(_) => Err(format!("`{op}`: {what} must be a number, not {}", v.describe())),
        Value::Scalar(s) => {
            if let Some(x) = s.get::<f64>().filter(|x| s.value_type().is_float() && !x.is_finite()) {
                return Err(format!("`{op}`: {what} must be a finite number, not {}", crate::format::fmt_f64(x)));
            }
            s.get::<i64>().ok_or_else(|| format!("`{op}`: {what} must be a number"))
        }
    }
}

/// A scalar operand as a size (a non-negative integer).
pub fn size_arg(op: Builtin, v: &Value, what: &str) -> R<usize> {
    let n = int_arg(op, v, what)?;
    usize::try_from(n).map_err(|_| format!("`{op}`: {what} must not be negative, but is {n}"))
}

/// Numeric cells of a matrix as f64, for kernels that compute in double precision.
pub fn as_f64(op: Builtin, m: &Matrix) -> R<DenseMatrix<f64>> {
    m.to_typed::<f64>().ok_or_else(|| format!("`{op}` is not defined on strings"))
}

/// Wraps f64 results as a matrix of `vt`.
pub fn from_f64(m: DenseMatrix<f64>, vt: ValueType) -> R<Value> {
    let v = Value::Matrix(Matrix::F64(m));
    if vt == ValueType::F64 { Ok(v) } else { cast_value(&v, vt) }
}

/// Helper for kernels generic over the element type.
pub fn wrap<T: MatrixElem>(m: DenseMatrix<T>) -> Value {
    Value::Matrix(T::wrap(m))
}
