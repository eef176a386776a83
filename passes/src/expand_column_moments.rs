//! `expand-column-moments`: the column means, variances and standard deviations of a float
//! matrix become the sums they are made of, which fuse into pipelines (and so run where the
//! rows are in a distributed run):
//!
//! ```text
//! meanCol(X)   = sumCol(X) / n
//! varCol(X)    = sumCol((X - meanCol(X)) * (X - meanCol(X))) / n
//! stddevCol(X) = sqrt(varCol(X))
//! ```
//!
//! with `n = nrow(X)` in X's value type. The runtime's kernels compute these same sums (the
//! canonical blocks, folded along the tree), so the bits do not change. Integer matrices keep
//! the kernels (their mean is an integer division, done once).

use std::collections::HashMap;

use daphne_ir::{Builtin, Function, Module, OpKind, Region, Repr, Type, Value, ValueType};

use crate::pass::Pass;

pub struct ExpandColumnMoments;

impl Pass for ExpandColumnMoments {
    fn name(&self) -> &'static str {
        "expand-column-moments"
    }

    fn run(&self, module: &mut Module) -> bool {
        let mut changed = false;
        for f in &mut module.functions {
            let mut body = std::mem::take(&mut f.body);
            let mut subst = HashMap::new();
            changed |= expand(f, &mut body, &mut subst);
            f.body = body;
            crate::uses::replace(f, &subst);
        }
        changed
    }
}

fn expand(f: &mut Function, region: &mut Region, subst: &mut HashMap<Value, Value>) -> bool {
    let mut changed = false;
    let mut out = Vec::with_capacity(region.ops.len());
    for &id in &region.ops {
        let mut regions = std::mem::take(&mut f.ops[id].regions);
        for r in &mut regions {
            changed |= expand(f, r, subst);
        }
        f.ops[id].regions = regions;
        let op = &f.ops[id];
        let OpKind::Builtin(b @ (Builtin::MeanCol | Builtin::VarCol | Builtin::StddevCol)) = op.kind else {
            out.push(id);
            continue;
        };
        let [x] = op.operands[..] else {
            out.push(id);
            continue;
        };
        let (Type::Matrix(xt), Type::Matrix(rt)) = (f.ty(x).clone(), f.ty(op.results[0]).clone()) else {
            out.push(id);
            continue;
        };
        let Some(vt @ (ValueType::F64 | ValueType::F32)) = xt.vt else {
            out.push(id);
            continue;
        };
        if xt.repr == Some(Repr::Sparse) || rt.vt != Some(vt) {
            out.push(id);
            continue;
        }
        let loc = f.loc(id);
        let row = Type::Matrix(daphne_ir::MatrixType { rows: Some(1), ..xt.clone() });
        let mut emit = |f: &mut Function, kind: OpKind, operands: Vec<Value>, ty: Type| -> Value {
            let o = f.new_op(kind, operands, vec![ty], vec![], loc);
            out.push(o);
            f.ops[o].results[0]
        };
        let sum = emit(f, OpKind::Builtin(Builtin::SumCol), vec![x], row.clone());
        let rows = emit(f, OpKind::Builtin(Builtin::Nrow), vec![x], Type::Scalar(ValueType::Index));
        let n = emit(f, OpKind::Cast, vec![rows], Type::Scalar(vt));
        let mean = emit(f, OpKind::Builtin(Builtin::EwDiv), vec![sum, n], row.clone());
        let result = if b == Builtin::MeanCol {
            mean
        } else {
            let centered = emit(f, OpKind::Builtin(Builtin::EwSub), vec![x, mean], Type::Matrix(xt.clone()));
            let squares = emit(f, OpKind::Builtin(Builtin::EwMul), vec![centered, centered], Type::Matrix(xt.clone()));
            let sq = emit(f, OpKind::Builtin(Builtin::SumCol), vec![squares], row.clone());
            let var = emit(f, OpKind::Builtin(Builtin::EwDiv), vec![sq, n], row.clone());
            if b == Builtin::VarCol { var } else { emit(f, OpKind::Builtin(Builtin::EwSqrt), vec![var], row.clone()) }
        };
        // The op goes; its users take the sums' result.
        subst.insert(f.ops[id].results[0], result);
        changed = true;
    }
    region.ops = out;
    changed
}
