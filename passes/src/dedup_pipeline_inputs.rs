//! `dedup-pipeline-inputs`: a pipeline that takes the same value twice with the same split
//! mode takes it once, so `X + X * X` reads `X` once per block. Its body uses the first copy's
//! argument wherever it used the others.

use std::collections::HashMap;

use daphne_ir::{Module, OpKind, Split, Value};

use crate::pass::Pass;

pub struct DedupPipelineInputs;

impl Pass for DedupPipelineInputs {
    fn name(&self) -> &'static str {
        "dedup-pipeline-inputs"
    }

    fn run(&self, module: &mut Module) -> bool {
        let mut changed = false;
        for f in &mut module.functions {
            let pipelines: Vec<_> =
                f.ops.iter().filter(|(_, op)| matches!(op.kind, OpKind::Pipeline(_))).map(|(id, _)| id).collect();
            for id in pipelines {
                let op = &f.ops[id];
                let OpKind::Pipeline(spec) = &op.kind else { continue };
                let mut first: HashMap<(Value, Split), Value> = HashMap::new();
                let mut subst: HashMap<Value, Value> = HashMap::new();
                let (mut operands, mut splits, mut args) = (Vec::new(), Vec::new(), Vec::new());
                for ((&v, &split), &arg) in op.operands.iter().zip(&spec.splits).zip(&op.regions[0].args) {
                    match first.get(&(v, split)) {
                        Some(&kept) => {
                            subst.insert(arg, kept);
                        }
                        None => {
                            first.insert((v, split), arg);
                            operands.push(v);
                            splits.push(split);
                            args.push(arg);
                        }
                    }
                }
                if subst.is_empty() {
                    continue;
                }
                let body_ops = op.regions[0].ops.clone();
                let op = &mut f.ops[id];
                op.operands = operands;
                op.regions[0].args = args;
                if let OpKind::Pipeline(spec) = &mut op.kind {
                    spec.splits = splits;
                }
                for o in body_ops {
                    for v in &mut f.ops[o].operands {
                        if let Some(&to) = subst.get(v) {
                            *v = to;
                        }
                    }
                }
                changed = true;
            }
        }
        changed
    }
}
