//! `fold-constants`: an op whose operands are all constants (scalar constants, or small matrix
//! literals of constants such as `[1, 2, 3]`) is computed at compile time. A scalar result
//! becomes a constant; a small dense matrix result becomes a matrix literal of constants
//! (`[1, 2] * 2` becomes `[2, 4]`). `nrow`, `ncol` and `ncell` of values whose shape the types
//! know fold too. The computing is the runtime's own (through
//! [`Evaluate`], which the driver supplies), so a folded value is exactly what the op would
//! have produced. An op that would fail (an integer division by zero) is left for the runtime
//! to fail at its place.

use std::rc::Rc;

use daphne_ir::eval::{Const, Evaluate, MAX_FOLD_CELLS};
use daphne_ir::{Builtin, Function, Literal, Module, OpId, OpKind, Region, Repr, Type, Value, ValueDef, ValueType};

use crate::pass::Pass;

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
            let mut body = std::mem::take(&mut f.body);
            changed |= self.fold(f, &mut body);
            f.body = body;
        }
        changed
    }
}

impl FoldConstants {
    fn fold(&self, f: &mut Function, region: &mut Region) -> bool {
        let mut changed = false;
        let mut out = Vec::with_capacity(region.ops.len());
        for &id in &region.ops {
            let mut regions = std::mem::take(&mut f.ops[id].regions);
            for r in &mut regions {
                changed |= self.fold(f, r);
            }
            f.ops[id].regions = regions;
            match self.value(f, id) {
                Some(Const::Scalar(lit)) => {
                    let op = &mut f.ops[id];
                    op.kind = OpKind::Const(lit);
                    op.operands.clear();
                    changed = true;
                }
                Some(Const::Matrix { rows, cols, cells, .. }) => {
                    // The op becomes a literal of constants, placed just before it.
                    let mut operands: Vec<Value> = Vec::with_capacity(cells.len() + 2);
                    for lit in cells.into_iter().chain([Literal::Index(rows), Literal::Index(cols)]) {
                        let t = Type::Scalar(lit.value_type());
                        let c = f.new_op(OpKind::Const(lit), vec![], vec![t], vec![], f.loc(id));
                        operands.push(f.ops[c].results[0]);
                        out.push(c);
                    }
                    let op = &mut f.ops[id];
                    op.kind = OpKind::Builtin(Builtin::MatrixLiteral);
                    op.operands = operands;
                    changed = true;
                }
                None => {}
            }
            out.push(id);
        }
        region.ops = out;
        changed
    }

    /// The constant (scalar or small dense matrix) operand `v` holds, if it holds one.
    pub(crate) fn constant(f: &Function, v: Value) -> Option<Const> {
        let ValueDef::Result(def, _) = f.values[v].def else { return None };
        let op = &f.ops[def];
        match &op.kind {
            OpKind::Const(lit) => Some(Const::Scalar(lit.clone())),
            OpKind::Builtin(Builtin::MatrixLiteral) => {
                let Type::Matrix(m) = f.ty(v) else { return None };
                let (vt, rows, cols) = (m.vt?, m.rows?, m.cols?);
                let n = op.operands.len().checked_sub(2)?;
                if n > MAX_FOLD_CELLS || n as u64 != rows.checked_mul(cols)? || m.repr == Some(Repr::Sparse) {
                    return None;
                }
                let cells = op.operands[..n]
                    .iter()
                    .map(|&e| match Self::constant(f, e)? {
                        Const::Scalar(l) => Some(l),
                        Const::Matrix { .. } => None,
                    })
                    .collect::<Option<Vec<_>>>()?;
                Some(Const::Matrix { vt, rows, cols, cells })
            }
            _ => None,
        }
    }

    /// What op `id` computes, if it computes a constant from constants.
    fn value(&self, f: &Function, id: OpId) -> Option<Const> {
        let op = &f.ops[id];
        let [result] = op.results.as_slice() else { return None };
        let result = f.ty(*result);
        let foldable = match &op.kind {
            OpKind::Cast => true,
            // A literal is already the constant form of a matrix.
            OpKind::Builtin(b) => b.is_pure() && *b != Builtin::MatrixLiteral,
            _ => false,
        };
        if !foldable || op.operands.is_empty() {
            return None;
        }
        let small_matrix = matches!(result, Type::Matrix(m)
            if m.repr != Some(Repr::Sparse)
                && m.rows.zip(m.cols).is_some_and(|(r, c)| r.saturating_mul(c) <= MAX_FOLD_CELLS as u64));
        let Type::Scalar(vt) = result else {
            if !small_matrix {
                return None;
            }
            let args = op.operands.iter().map(|&v| Self::constant(f, v)).collect::<Option<Vec<_>>>()?;
            return match self.eval.eval(&op.kind, &args, result)? {
                // An empty matrix stays as computed: a literal of no elements cannot carry its
                // value type (`[]` is f64 by its type rule), and folding it gains nothing.
                c @ Const::Matrix { vt, rows, cols, .. }
                    if rows * cols > 0
                        && matches!(result, Type::Matrix(m)
                        if m.vt == Some(vt) && m.rows == Some(rows) && m.cols == Some(cols)) =>
                {
                    Some(c)
                }
                _ => None,
            };
        };
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
            return (*vt == ValueType::Index).then_some(Const::Scalar(Literal::Index(n)));
        }
        let args = op.operands.iter().map(|&v| Self::constant(f, v)).collect::<Option<Vec<_>>>()?;
        match self.eval.eval(&op.kind, &args, result)? {
            Const::Scalar(lit) if lit.value_type() == *vt => Some(Const::Scalar(lit)),
            _ => None,
        }
    }
}
