//! `fold-constants`: an op whose operands are all scalar constants, and whose one result is a
//! scalar, is computed at compile time and becomes a constant; so do `nrow`, `ncol` and
//! `ncell` of values whose shape the types know. The computing is the runtime's own (through
//! [`Evaluate`], which the driver supplies), so a folded value is exactly what the op would
//! have produced. An op that would fail (an integer division by zero) is left for the runtime
//! to fail at its place.

use std::rc::Rc;

use daphne_ir::{Builtin, Function, Literal, Module, OpId, OpKind, Region, Type, ValueDef, ValueType};

use crate::pass::Pass;

/// Computes one op on constant operands, as the runtime would.
pub trait Evaluate {
    /// The op's one result, or `None` when it fails or is not a computation on scalars.
    fn eval(&self, kind: &OpKind, args: &[Literal], result: &Type) -> Option<Literal>;
}

pub struct FoldConstants {
    pub eval: Rc<dyn Evaluate>,
}

impl Pass for FoldConstants {
    fn name(&self) -> &'static str {
        "fold-constants"
    }

    fn run(&self, module: &mut Module) -> bool {
        let mut changed = false;
        for f in &mut module.functions {
            let body = std::mem::take(&mut f.body);
            changed |= self.fold(f, &body);
            f.body = body;
        }
        changed
    }
}

impl FoldConstants {
    fn fold(&self, f: &mut Function, region: &Region) -> bool {
        let mut changed = false;
        for &id in &region.ops {
            let regions = std::mem::take(&mut f.ops[id].regions);
            for r in &regions {
                changed |= self.fold(f, r);
            }
            f.ops[id].regions = regions;
            if let Some(lit) = self.value(f, id) {
                let op = &mut f.ops[id];
                op.kind = OpKind::Const(lit);
                op.operands.clear();
                changed = true;
            }
        }
        changed
    }

    /// The constant op `id` computes, if it computes one.
    fn value(&self, f: &Function, id: OpId) -> Option<Literal> {
        let op = &f.ops[id];
        let [result] = op.results.as_slice() else { return None };
        let result = f.ty(*result);
        let Type::Scalar(vt) = result else { return None };
        let foldable = match &op.kind {
            OpKind::Cast => true,
            OpKind::Builtin(b) => b.is_pure(),
            _ => false,
        };
        if !foldable || op.operands.is_empty() {
            return None;
        }
        if let OpKind::Builtin(b @ (Builtin::Nrow | Builtin::Ncol | Builtin::Ncell)) = op.kind {
            let (rows, cols) = match f.ty(op.operands[0]) {
                Type::Matrix(m) => (m.rows?, m.cols?),
                Type::Frame(fr) => (fr.rows?, fr.columns.as_ref()?.len() as u64),
                _ => return None,
            };
            let n = match b {
                Builtin::Nrow => rows,
                Builtin::Ncol => cols,
                _ => rows.checked_mul(cols)?,
            };
            return (*vt == ValueType::Index).then_some(Literal::Index(n));
        }
        let args = op
            .operands
            .iter()
            .map(|&v| match f.values[v].def {
                ValueDef::Result(def, _) => match &f.ops[def].kind {
                    OpKind::Const(lit) => Some(lit.clone()),
                    _ => None,
                },
                ValueDef::Arg => None,
            })
            .collect::<Option<Vec<Literal>>>()?;
        let lit = self.eval.eval(&op.kind, &args, result)?;
        (lit.value_type() == *vt).then_some(lit)
    }
}
