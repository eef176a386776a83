//! The runtime's side of constant folding: the compiler computes constants with the same
//! kernels the interpreter runs.

use daphne_ir::eval::{Const, Evaluate, MAX_FOLD_CELLS};
use daphne_ir::{Literal, OpKind, Type};

use crate::kernels;
use crate::matrix::Matrix;
use crate::value::{Scalar, Value};

/// Computes scalar ops with the runtime's kernels.
pub struct Evaluator;

impl Evaluate for Evaluator {
    fn eval(&self, kind: &OpKind, args: &[Const], result: &Type) -> Option<Const> {
        let args = args.iter().map(value).collect::<Option<Vec<Value>>>()?;
        let value = match kind {
            OpKind::Cast => kernels::cast(args.first()?, result).ok()?,
            OpKind::Builtin(b) if b.is_pure() => {
                let mut out = kernels::call(&kernels::Context::new(1), *b, &args).ok()?;
                if out.len() != 1 {
                    return None;
                }
                out.pop()?
            }
            _ => return None,
        };
        match value {
            Value::Scalar(s) => Some(Const::Scalar(literal(s))),
            Value::Matrix(m) if m.rows() * m.cols() <= MAX_FOLD_CELLS => {
                let cells = (0..m.rows())
                    .flat_map(|i| (0..m.cols()).map(move |j| (i, j)))
                    .map(|(i, j)| literal(m.cell(i, j)))
                    .collect();
                Some(Const::Matrix { vt: m.value_type(), rows: m.rows() as u64, cols: m.cols() as u64, cells })
            }
            _ => None,
        }
    }
}

/// A runtime value for a compile-time constant.
fn value(c: &Const) -> Option<Value> {
    match c {
        Const::Scalar(l) => Some(Value::Scalar(Scalar::from_literal(l))),
        Const::Matrix { vt, rows, cols, cells } => {
            let cells: Vec<Scalar> = cells.iter().map(Scalar::from_literal).collect();
            Matrix::from_scalars(*rows as usize, *cols as usize, &cells, *vt).ok().map(Value::Matrix)
        }
    }
}

fn literal(s: Scalar) -> Literal {
    match s {
        Scalar::F64(v) => Literal::f64(v),
        Scalar::F32(v) => Literal::f32(v),
        Scalar::Si64(v) => Literal::Si64(v),
        Scalar::Si32(v) => Literal::Si32(v),
        Scalar::Si8(v) => Literal::Si8(v),
        Scalar::Ui64(v) => Literal::Ui64(v),
        Scalar::Ui32(v) => Literal::Ui32(v),
        Scalar::Ui8(v) => Literal::Ui8(v),
        Scalar::Index(v) => Literal::Index(v),
        Scalar::Bool(v) => Literal::Bool(v),
        Scalar::Str(s) => Literal::Str(s.to_string()),
    }
}
