//! The `cast` op: conversions between value types and between scalars, matrices and frames.

use daphne_ir::{Type, ValueType};

use super::args::R;
use crate::error::Error;
use crate::matrix::{DenseMatrix, Matrix};
use crate::value::{Scalar, Value};

/// The value type of the matrix a cast of a frame of column types `schema` to `to` makes: as
/// DAPHNE, without one the first column's.
pub fn frame_matrix_type(schema: &[ValueType], to: &daphne_ir::MatrixType) -> ValueType {
    to.vt.unwrap_or_else(|| schema.first().copied().unwrap_or(ValueType::F64))
}

/// Converts a value to type `to` (the `cast` op): value type changes, scalar to 1x1 matrix,
/// 1x1 matrix to scalar.
pub fn cast(v: &Value, to: &Type) -> R<Value> {
    match (v, to) {
        (_, Type::Unknown) => Ok(v.clone()),
        (Value::Scalar(s), Type::Scalar(vt)) => s
            .cast(*vt)
            .map(Value::Scalar)
            .ok_or_else(|| Error::from(format!("cannot convert {} to {vt}", describe_scalar(s)))),
        (Value::Scalar(s), Type::Matrix(m)) => {
            let vt = m.vt.unwrap_or(s.value_type());
            Matrix::from_scalars(1, 1, std::slice::from_ref(s), vt).map(Value::Matrix)
        }
        (Value::Matrix(m), Type::Scalar(vt)) => {
            if m.rows() != 1 || m.cols() != 1 {
                return Err(
                    format!("cannot cast a {}x{} matrix to a scalar: it must be 1x1", m.rows(), m.cols()).into()
                );
            }
            Value::Scalar(m.cell(0, 0)).cast_scalar(*vt)
        }
        (Value::Matrix(m), Type::Matrix(t)) => match t.vt {
            None => Ok(v.clone()),
            Some(vt) => m
                .cast(vt)
                .map(Value::Matrix)
                .ok_or_else(|| Error::from(format!("cannot convert a matrix of {} to {vt}", m.value_type()))),
        },
        (Value::Frame(f), Type::Matrix(t)) => Ok(Value::Matrix(f.to_matrix(frame_matrix_type(&f.schema(), t))?)),
        (Value::Matrix(m), Type::Frame(_)) => Ok(Value::Frame(crate::frame::Frame::from_matrix(m))),
        (Value::Frame(_), Type::Frame(_)) => Ok(v.clone()),
        (Value::Frame(f), Type::Scalar(vt)) => {
            if f.rows() != 1 || f.cols() != 1 {
                return Err(format!("cannot cast a {}x{} frame to a scalar: it must be 1x1", f.rows(), f.cols()).into());
            }
            Value::Scalar(f.columns()[0].cell(0, 0)).cast_scalar(*vt)
        }
        (Value::Scalar(s), Type::Frame(_)) => {
            let column = Matrix::from_scalars(1, 1, std::slice::from_ref(s), s.value_type())?;
            crate::frame::Frame::new(vec![column], vec![crate::frame::default_label(0)]).map(Value::Frame)
        }
        (_, other) => Err(format!("cannot convert {} to {other}", v.describe()).into()),
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
            Value::Scalar(s) => s
                .cast(vt)
                .map(Value::Scalar)
                .ok_or_else(|| Error::from(format!("cannot convert {} to {vt}", describe_scalar(s)))),
            _ => Err(Error::Internal("not a scalar".into())),
        }
    }
}

/// Converts a value's value type, keeping its data type.
pub fn cast_value(v: &Value, vt: ValueType) -> R<Value> {
    match v {
        Value::Scalar(s) => {
            v.cast_scalar(vt).map_err(|_| Error::from(format!("cannot convert {} to {vt}", describe_scalar(s))))
        }
        Value::Matrix(m) => m
            .cast(vt)
            .map(Value::Matrix)
            .ok_or_else(|| Error::from(format!("cannot convert a matrix of {} to {vt}", m.value_type()))),
        Value::Frame(_) | Value::List(..) | Value::Sparse(_) | Value::Remote(_) | Value::RemoteFrame(_) => {
            Err(format!("cannot convert a frame to {vt}").into())
        }
    }
}

/// Wraps f64 results as a matrix of `vt`.
pub fn from_f64(m: DenseMatrix<f64>, vt: ValueType) -> R<Value> {
    let v = Value::Matrix(Matrix::F64(m));
    if vt == ValueType::F64 { Ok(v) } else { cast_value(&v, vt) }
}
