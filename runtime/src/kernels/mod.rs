//! Kernels for the built-in operations. Result value types come from the same inference
//! rules the compiler uses (`daphne_ir::infer`), applied to the runtime operands, so the
//! interpreter and the compiler agree by construction.

pub mod agg;
pub mod args;
pub mod cast;
pub mod context;
pub mod data;
pub mod ew;
pub mod frames;
pub mod gemm;
pub mod linalg;
pub mod sparse;

use daphne_ir::{Axis, Builtin, Fuse, Rule, ValueType};

pub use args::{R, label, type_of};
use args::{int_arg, matrix_arg, result_vt};
pub use cast::{cast, cast_value};
pub use context::Context;

use crate::error::Error;
use crate::matrix::Matrix;
use crate::value::{Scalar, Value};

/// Runs a built-in on one block of a pipeline: as `call`, except that reductions over rows
/// reduce only the block (the pipeline combines the blocks).
pub fn call_block(cx: &Context, op: Builtin, args: &[Value]) -> R<Vec<Value>> {
    use Builtin as B;
    match op {
        B::SumAll | B::MinAll | B::MaxAll => {
            let m = matrix_arg(op, args.first().ok_or_else(|| Error::from(format!("`{op}` is missing operand 0")))?)?;
            Ok(vec![agg::full_block(op, m, result_vt(op, args)?)?])
        }
        B::SumCol | B::MinCol | B::MaxCol => {
            let m = matrix_arg(op, args.first().ok_or_else(|| Error::from(format!("`{op}` is missing operand 0")))?)?;
            Ok(vec![agg::along_block(op, m, result_vt(op, args)?)?])
        }
        // A block runs on one of the engine's threads already.
        B::MatMul => {
            let (a, b) = (args.first(), args.get(1));
            let a = matrix_arg(op, a.ok_or_else(|| Error::from(format!("`{op}` is missing operand 0")))?)?;
            let b = matrix_arg(op, b.ok_or_else(|| Error::from(format!("`{op}` is missing operand 1")))?)?;
            Ok(vec![linalg::matmul(&cx.on(1), a, b, result_vt(op, args)?)?])
        }
        B::Syrk | B::Gemv => {
            let a = matrix_arg(op, args.first().ok_or_else(|| Error::from(format!("`{op}` is missing operand 0")))?)?;
            let b = args.get(1).map(|b| matrix_arg(op, b)).transpose()?;
            Ok(vec![linalg::tmatmul(cx, a, b, result_vt(op, args)?, false)?])
        }
        _ => call(cx, op, args),
    }
}

/// What a creation op (`rand`, `fill`, `seq`, `sample` with replacement) makes, by rows ([`crate::source::Source`]);
/// `None` for other ops and for what only the whole kernel makes (strings).
pub fn source(op: Builtin, args: &[Value]) -> R<Option<crate::source::Source>> {
    match op {
        Builtin::Rand | Builtin::Fill | Builtin::Seq | Builtin::Sample => {
            crate::source::Source::of(op, args, result_vt(op, args)?)
        }
        _ => Ok(None),
    }
}

/// Runs a built-in that does no I/O on its operands.
pub fn call(cx: &Context, op: Builtin, args: &[Value]) -> R<Vec<Value>> {
    use Builtin as B;
    let arg = |i: usize| args.get(i).ok_or_else(|| Error::from(format!("`{op}` is missing operand {i}")));
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
        B::EwLike => one(ew::like(arg(0)?, arg(1)?)?),
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
        B::Order => one(data::order(arg(0)?, &args[1..])?),
        B::Ctable => one(data::ctable(matrix_arg(op, arg(0)?)?, matrix_arg(op, arg(1)?)?, arg(2)?, arg(3)?, arg(4)?)?),
        B::GroupSum => one(frames::group_sum(arg(0)?, &args[1..])?),
        B::GroupAggregate => one(frames::group_aggregate(args)?),
        B::InnerJoin => one(frames::inner_join(arg(0)?, arg(1)?, arg(2)?, arg(3)?)?),
        B::SemiJoin => frames::semi_join(arg(0)?, arg(1)?, arg(2)?, arg(3)?),
        B::LeftJoin => frames::left_join(args),
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
                )
                .into());
            }
            one(Value::List(vt, elems))
        }
        B::Length => match arg(0)? {
            Value::List(_, elems) => one(Value::Scalar(Scalar::Index(elems.len() as u64))),
            other => Err(format!("`length` needs a list, not {}", other.describe()).into()),
        },
        B::Append => match (arg(0)?, arg(1)?) {
            (Value::List(vt, elems), Value::Matrix(m)) if m.value_type() == *vt => {
                let mut elems = elems.clone();
                elems.push(m.clone());
                one(Value::List(*vt, elems))
            }
            (Value::List(vt, _), Value::Matrix(m)) => {
                Err(format!("cannot append a matrix of {} to a list of {vt}", m.value_type()).into())
            }
            (a, b) => {
                Err(format!("`append` needs a list and a matrix, not {} and {}", a.describe(), b.describe()).into())
            }
        },
        B::Remove => match arg(0)? {
            Value::List(vt, elems) => {
                let i = int_arg(op, arg(1)?, "the position")?;
                if i < 0 || i as usize >= elems.len() {
                    return Err(format!(
                        "cannot remove element {i} from a list of {}",
                        daphne_ir::count(elems.len(), "element", "elements")
                    )
                    .into());
                }
                let mut elems = elems.clone();
                let e = elems.remove(i as usize);
                Ok(vec![Value::List(*vt, elems), Value::Matrix(e)])
            }
            other => Err(format!("`remove` needs a list, not {}", other.describe()).into()),
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
            Value::Frame(_) | Value::List(..) | Value::Sparse(_) | Value::Remote(_) | Value::RemoteFrame(_) => {
                Err("the condition of `?:` must not be a frame".into())
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
                Value::RemoteFrame(f) => (f.rows, f.columns.len()),
                v @ (Value::Scalar(_) | Value::List(..)) => {
                    return Err(format!("`{op}` needs a matrix or frame, not {}", v.describe()).into());
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
        B::MatMul => one(linalg::matmul(cx, matrix_arg(op, arg(0)?)?, matrix_arg(op, arg(1)?)?, result_vt(op, args)?)?),
        B::Solve => one(linalg::solve(matrix_arg(op, arg(0)?)?, matrix_arg(op, arg(1)?)?, result_vt(op, args)?)?),
        B::Syrk => one(linalg::tmatmul(cx, matrix_arg(op, arg(0)?)?, None, result_vt(op, args)?, true)?),
        B::Gemv => {
            let b = matrix_arg(op, arg(1)?)?;
            one(linalg::tmatmul(cx, matrix_arg(op, arg(0)?)?, Some(b), result_vt(op, args)?, true)?)
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
            Err(Error::Internal(format!("`{op}` is run by the executor")))
        }
        _ => Err(Error::Internal(format!("`{op}` is run by its category above"))),
    }
}
