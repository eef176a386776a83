//! `rewrite-transposed-products`: `t(A) @ B` becomes `gemv(A, B)` (`t(A) @ A`, read by the
//! runtime as `syrk`), so the transpose is never materialized and `t(X) @ X` computes one
//! triangle. Both forms define the same cells (the product's inner dimension is the rows of
//! `A` either way, in the canonical blocks), so the bits do not change. Sparse operands keep
//! their CSR product. A transpose left without users goes with dead code elimination.

use daphne_ir::{Builtin, Module, OpId, OpKind, Repr, Type, ValueDef};

use crate::pass::Pass;

pub struct RewriteTransposedProducts;

impl Pass for RewriteTransposedProducts {
    fn name(&self) -> &'static str {
        "rewrite-transposed-products"
    }

    fn run(&self, module: &mut Module) -> bool {
        let mut changed = false;
        for f in &mut module.functions {
            for i in 0..f.ops.len() {
                let id = OpId::new(i);
                let op = &f.ops[id];
                if op.kind != OpKind::Builtin(Builtin::MatMul) || op.operands.len() != 2 {
                    continue;
                }
                let (t, b) = (op.operands[0], op.operands[1]);
                let ValueDef::Result(tid, 0) = f.values[t].def else { continue };
                let top = &f.ops[tid];
                if top.kind != OpKind::Builtin(Builtin::Transpose) || top.operands.len() != 1 {
                    continue;
                }
                let a = top.operands[0];
                let dense = |v| matches!(f.ty(v), Type::Matrix(m) if m.repr != Some(Repr::Sparse));
                if !dense(a) || !dense(b) || !dense(op.results[0]) {
                    continue;
                }
                let op = &mut f.ops[id];
                op.kind = OpKind::Builtin(Builtin::Gemv);
                op.operands = vec![a, b];
                changed = true;
            }
        }
        changed
    }
}
