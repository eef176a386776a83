//! Kernels on CSR operands: the ops that give exactly the dense result without densifying
//! (the executor densifies the operands of every other op).

use daphne_ir::{Builtin, ValueType};

use crate::error::Error;
use crate::matrix::Matrix;
use crate::value::{Scalar, Value};

/// The CSR kernels: each gives exactly what the dense kernel gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Transpose,
    /// Zeros add nothing, so the sum of the stored values is the sum of all cells.
    Sum,
    /// The stored values times or divided by a scalar: zero cells stay zero for finite factors
    /// and non-zero divisors. `left`: the CSR operand is the first.
    Scale {
        left: bool,
    },
    /// CSR (f64) @ dense.
    Product,
}

/// The CSR kernel of `op` on these operands, if one gives exactly the dense result (the
/// executor densifies the operands of every other op).
pub fn kernel(op: Builtin, args: &[Value]) -> Option<Kernel> {
    let scales = |s: &Scalar, left: bool| {
        !matches!(s, Scalar::Str(_))
            && s.get::<f64>().is_some_and(|x| x.is_finite() && (op == Builtin::EwMul || (x != 0.0 && left)))
    };
    match (op, args) {
        (Builtin::Transpose, [Value::Sparse(_)]) => Some(Kernel::Transpose),
        (Builtin::SumAll, [Value::Sparse(_)]) => Some(Kernel::Sum),
        (Builtin::EwMul | Builtin::EwDiv, [Value::Sparse(_), Value::Scalar(s)]) if scales(s, true) => {
            Some(Kernel::Scale { left: true })
        }
        (Builtin::EwMul, [Value::Scalar(s), Value::Sparse(_)]) if scales(s, false) => {
            Some(Kernel::Scale { left: false })
        }
        (Builtin::MatMul, [Value::Sparse(a), Value::Matrix(b)])
            if a.value_type() == ValueType::F64 && b.value_type() != ValueType::Str =>
        {
            Some(Kernel::Product)
        }
        _ => None,
    }
}

/// Runs `kernel` (what [`kernel`] chose for `op` on `args`).
pub fn apply(cx: &super::Context, kernel: Kernel, op: Builtin, args: &[Value]) -> Result<Value, Error> {
    let sole = |v: Vec<Value>| v.into_iter().next().ok_or_else(|| Error::Internal(format!("`{op}` gave no result")));
    match (kernel, args) {
        (Kernel::Transpose, [Value::Sparse(m)]) => m.transpose().map(Value::Sparse),
        (Kernel::Sum, [Value::Sparse(m)]) => sole(super::call(cx, op, &[Value::Matrix(m.values().clone())])?),
        (Kernel::Scale { left }, [a, b]) => {
            let (m, s) = match (a, b) {
                (Value::Sparse(m), s) | (s, Value::Sparse(m)) => (m, s.clone()),
                _ => return Err(Error::Internal("a CSR scaling without a CSR operand".into())),
            };
            let values = Value::Matrix(m.values().clone());
            let operands = if left { [values, s] } else { [s, values] };
            match sole(super::call(cx, op, &operands)?)? {
                Value::Matrix(values) => m.map_values(values).map(Value::Sparse),
                _ => Err(Error::Internal("a scaled CSR matrix is not a matrix".into())),
            }
        }
        (Kernel::Product, [Value::Sparse(a), Value::Matrix(b)]) => {
            let b = b.to_typed::<f64>().ok_or_else(|| Error::Internal("a string matrix in a CSR product".into()))?;
            a.matmul_dense(&b).map(|m| Value::Matrix(Matrix::F64(m)))
        }
        _ => Err(Error::Internal(format!("the CSR kernel {kernel:?} on other operands"))),
    }
}
