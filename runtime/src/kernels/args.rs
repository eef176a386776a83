//! What kernels share: the result type of an op on its operands (the compiler's inference
//! applied to the runtime values), operands as the types a kernel needs, and how messages
//! name ops.

use daphne_ir::infer::{Operand, infer};
use daphne_ir::{Builtin, MatrixType, Type, ValueType};

use crate::error::Error;
use crate::matrix::{DenseMatrix, Matrix, MatrixElem};
use crate::value::{Scalar, Value};

pub type R<T> = Result<T, Error>;

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
        Value::Frame(f) => frame_type(f.rows(), f.labels(), f.schema()),
        Value::RemoteFrame(f) => frame_type(f.rows, &f.labels, f.schema()),
    }
}

/// The IR type of a frame of `rows` rows, these labels and value types.
fn frame_type(rows: usize, labels: &[std::sync::Arc<str>], schema: Vec<ValueType>) -> Type {
    Type::Frame(daphne_ir::FrameType {
        rows: Some(rows as u64),
        columns: Some(
            labels.iter().zip(schema).map(|(l, vt)| daphne_ir::ColumnType { label: Some(l.to_string()), vt }).collect(),
        ),
    })
}

/// The value type of the single result of `op` on `args`.
pub(crate) fn result_vt(op: Builtin, args: &[Value]) -> R<ValueType> {
    let types: Vec<Type> = args.iter().map(type_of).collect();
    let operands: Vec<Operand> = types.iter().map(|ty| Operand { ty, constant: None }).collect();
    let out = infer(op, &operands)?;
    out.first()
        .and_then(Type::value_type)
        .ok_or_else(|| Error::from(format!("`{op}`: cannot determine the result type")))
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
        _ => Err(format!("`{op}` needs a matrix, not {}", v.describe()).into()),
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
        | Value::Remote(_)
        | Value::RemoteFrame(_) => Err(format!("`{op}`: {what} must be a number, not {}", v.describe()).into()),
        Value::Scalar(s) => {
            if let Some(x) = s.get::<f64>().filter(|x| s.value_type().is_float() && !x.is_finite()) {
                return Err(format!("`{op}`: {what} must be a finite number, not {}", crate::format::fmt_f64(x)).into());
            }
            s.get::<i64>().ok_or_else(|| Error::from(format!("`{op}`: {what} must be a number")))
        }
    }
}

/// A scalar operand as a size (a non-negative integer).
pub fn size_arg(op: Builtin, v: &Value, what: &str) -> R<usize> {
    let n = int_arg(op, v, what)?;
    usize::try_from(n).map_err(|_| Error::from(format!("`{op}`: {what} must not be negative, but is {n}")))
}

/// Numeric cells of a matrix as f64, for kernels that compute in double precision.
pub fn as_f64(op: Builtin, m: &Matrix) -> R<DenseMatrix<f64>> {
    m.to_typed::<f64>().ok_or_else(|| Error::from(format!("`{op}` is not defined on strings")))
}

/// Helper for kernels generic over the element type.
pub fn wrap<T: MatrixElem>(m: DenseMatrix<T>) -> Value {
    Value::Matrix(T::wrap(m))
}
