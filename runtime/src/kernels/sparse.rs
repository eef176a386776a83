//! Kernels on CSR operands: the ops that give exactly the dense result without densifying
//! (the executor densifies the operands of every other op).

use daphne_ir::{Builtin, ValueType};

use crate::csr::CsrMatrix;
use crate::matrix::Matrix;
use crate::value::{Scalar, Value};

/// Runs `op` on CSR operands without densifying them, where that gives exactly the dense
/// result: `None` when the op needs the dense path.
pub fn apply(cx: &super::Context, op: Builtin, args: &[Value]) -> Option<Result<Value, String>> {
    let scaled = |m: &CsrMatrix, s: &Scalar, sparse_left: bool| -> Option<Result<Value, String>> {
        // Zero cells stay zero only for finite factors and non-zero divisors.
        let x = s.get::<f64>()?;
        let keeps_zero = x.is_finite() && (op == Builtin::EwMul || (x != 0.0 && sparse_left));
        if !keeps_zero || matches!(s, Scalar::Str(_)) {
            return None;
        }
        let operands = if sparse_left {
            [Value::Matrix(m.values().clone()), Value::Scalar(s.clone())]
        } else {
            [Value::Scalar(s.clone()), Value::Matrix(m.values().clone())]
        };
        Some((|| match super::call(cx, op, &operands)?.into_iter().next() {
            Some(Value::Matrix(values)) => m.map_values(values).map(Value::Sparse),
            _ => Err("internal: a scaled CSR matrix is not a matrix".to_owned()),
        })())
    };
    match (op, args) {
        (Builtin::Transpose, [Value::Sparse(m)]) => Some(m.transpose().map(Value::Sparse)),
        // Zeros add nothing, so the sum of the stored values is the sum of all cells.
        (Builtin::SumAll, [Value::Sparse(m)]) => Some(
            super::call(cx, op, &[Value::Matrix(m.values().clone())])
                .and_then(|v| v.into_iter().next().ok_or_else(|| "internal: no sum".to_owned())),
        ),
        (Builtin::EwMul | Builtin::EwDiv, [Value::Sparse(m), Value::Scalar(s)]) => scaled(m, s, true),
        (Builtin::EwMul, [Value::Scalar(s), Value::Sparse(m)]) => scaled(m, s, false),
        (Builtin::MatMul, [Value::Sparse(a), Value::Matrix(b)]) if a.value_type() == ValueType::F64 => {
            let b = b.to_typed::<f64>()?;
            Some(a.matmul_dense(&b).map(|m| Value::Matrix(Matrix::F64(m))))
        }
        _ => None,
    }
}
