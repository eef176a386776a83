//! `eliminate-common-subexpressions`: an op that computes what an earlier op already computed
//! (same kind, same operands, same result types) is dropped and its results replaced by the
//! earlier op's. The earlier op must dominate: it is in the same region, before, or in an
//! enclosing region. Ops with effects or with results that differ from run to run (`rand`,
//! `sample`, `now`) are never merged; a fallible op may be, since the earlier copy fails first.

use std::collections::HashMap;

use daphne_ir::{Function, Module, OpKind, Region, Type, Value};

use crate::pass::Pass;

pub struct EliminateCommonSubexpressions;

impl Pass for EliminateCommonSubexpressions {
    fn name(&self) -> &'static str {
        "eliminate-common-subexpressions"
    }

    fn run(&self, module: &mut Module) -> bool {
        let mut changed = false;
        for f in &mut module.functions {
            let mut body = std::mem::take(&mut f.body);
            changed |= merge(f, &mut body, &HashMap::new(), &mut HashMap::new());
            f.body = body;
        }
        changed
    }
}

/// What identifies a computation.
type Key = (OpKind, Vec<Value>, Vec<Type>);

/// Whether two ops with the same key always compute the same, without effects.
fn mergeable(kind: &OpKind) -> bool {
    match kind {
        OpKind::Const(_) | OpKind::Cast => true,
        OpKind::Builtin(b) => b.is_pure(),
        _ => false,
    }
}

/// Merges within `region`, whose enclosing regions computed `outer`; `subst` maps dropped
/// results to their replacements (for the whole function).
fn merge(
    f: &mut Function,
    region: &mut Region,
    outer: &HashMap<Key, Vec<Value>>,
    subst: &mut HashMap<Value, Value>,
) -> bool {
    let mut seen = outer.clone();
    let mut changed = false;
    let mut kept = Vec::with_capacity(region.ops.len());
    for &id in &region.ops {
        for v in &mut f.ops[id].operands {
            if let Some(&to) = subst.get(v) {
                *v = to;
                changed = true;
            }
        }
        let mut regions = std::mem::take(&mut f.ops[id].regions);
        // A pipeline's body is self-contained: it may not use values from outside.
        let isolated = matches!(f.ops[id].kind, OpKind::Pipeline(_));
        let none = HashMap::new();
        for r in &mut regions {
            changed |= merge(f, r, if isolated { &none } else { &seen }, subst);
        }
        f.ops[id].regions = regions;
        let op = &f.ops[id];
        if mergeable(&op.kind) {
            let key = (op.kind.clone(), op.operands.clone(), op.results.iter().map(|&r| f.ty(r).clone()).collect());
            if let Some(earlier) = seen.get(&key) {
                for (&r, &e) in op.results.iter().zip(earlier) {
                    subst.insert(r, e);
                }
                changed = true;
                continue;
            }
            seen.insert(key, op.results.clone());
        }
        kept.push(id);
    }
    region.ops = kept;
    changed
}
