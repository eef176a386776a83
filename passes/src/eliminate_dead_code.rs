//! `eliminate-dead-code`: removes ops whose results are never used and that can neither have
//! an effect beyond their results nor fail. A failure is observable (an unused out-of-bounds
//! `remove` must still stop the script with its error), so only ops that cannot fail on
//! verified IR go: constants, shape queries, transposes, clocks, casts between numeric types.

use std::collections::HashMap;

use daphne_ir::{Effect, Fails, Function, Module, OpKind, Region, Value};

use crate::pass::Pass;

pub struct EliminateDeadCode;

impl Pass for EliminateDeadCode {
    fn name(&self) -> &'static str {
        "eliminate-dead-code"
    }

    fn run(&self, module: &mut Module) -> bool {
        let mut changed = false;
        for f in &mut module.functions {
            while remove_unused(f) {
                changed = true;
            }
        }
        changed
    }
}

/// Whether removing the op (when its results are unused) changes nothing observable. (A cast
/// from a string can fail; one between numbers cannot.)
fn removable(f: &Function, op: &daphne_ir::Op) -> bool {
    match op.kind {
        OpKind::Const(_) => true,
        // Shape queries, transposes, clocks (the op table's `Fails::Never`).
        OpKind::Builtin(b) => b.fails() == Fails::Never && b.effect() != Effect::Writes,
        OpKind::Cast => {
            // Number to number, matrix to matrix or scalar to scalar (`as.scalar` of a matrix
            // fails unless it is 1x1).
            use daphne_ir::{Type, ValueType};
            let (Some(&from), Some(&to)) = (op.operands.first(), op.results.first()) else { return false };
            let numeric = |vt: &Option<ValueType>| vt.is_some_and(|vt| vt != ValueType::Str);
            match (f.ty(from), f.ty(to)) {
                (Type::Matrix(a), Type::Matrix(b)) => numeric(&a.vt) && numeric(&b.vt),
                (Type::Scalar(a), Type::Scalar(b)) => numeric(&Some(*a)) && numeric(&Some(*b)),
                _ => false,
            }
        }
        // A pipeline whose results go unused and whose body holds only such ops (fusion leaves
        // one behind when the values it took in die later).
        OpKind::Pipeline(_) => op
            .regions
            .first()
            .is_some_and(|body| body.ops.iter().all(|&o| f.ops[o].kind == OpKind::Yield || removable(f, &f.ops[o]))),
        _ => false,
    }
}

/// One sweep: counts uses, then unlinks every removable op with unused results.
fn remove_unused(f: &mut Function) -> bool {
    let mut uses: HashMap<Value, usize> = HashMap::new();
    count_uses(f, &f.body, &mut uses);
    let mut body = std::mem::take(&mut f.body);
    let changed = sweep(f, &mut body, &uses);
    f.body = body;
    changed
}

fn count_uses(f: &Function, region: &Region, uses: &mut HashMap<Value, usize>) {
    for &id in &region.ops {
        let op = &f.ops[id];
        for &v in &op.operands {
            *uses.entry(v).or_default() += 1;
        }
        for r in &op.regions {
            count_uses(f, r, uses);
        }
    }
}

fn sweep(f: &mut Function, region: &mut Region, uses: &HashMap<Value, usize>) -> bool {
    let before = region.ops.len();
    region.ops.retain(|&id| {
        let op = &f.ops[id];
        !(removable(f, op) && op.results.iter().all(|r| !uses.contains_key(r)))
    });
    let mut changed = region.ops.len() != before;
    for &id in &region.ops.clone() {
        let mut regions = std::mem::take(&mut f.ops[id].regions);
        for r in &mut regions {
            changed |= sweep(f, r, uses);
        }
        f.ops[id].regions = regions;
    }
    changed
}
