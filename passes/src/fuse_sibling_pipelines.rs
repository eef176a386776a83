//! `fuse-sibling-pipelines`: horizontal fusion. Two pipelines of one region that split the same
//! value by rows, where the later one does not depend on the earlier, become one pipeline
//! with the inputs and outputs of both, so `sum(X)` and `aggMax(X)` share one pass over `X`.
//!
//! The merged pipeline takes the later one's place, so nothing between the two may use the
//! earlier one's results, and if the earlier one can fail, nothing between may have effects;
//! and, as in `fuse-pipelines`, at most one op of the merged pipeline may fail.

use std::collections::HashMap;

use daphne_ir::{Function, Module, OpId, OpKind, PipelineSpec, Region, Split, Value};

use crate::pass::Pass;

pub struct FuseSiblingPipelines;

impl Pass for FuseSiblingPipelines {
    fn name(&self) -> &'static str {
        "fuse-sibling-pipelines"
    }

    fn run(&self, module: &mut Module) -> bool {
        let mut changed = false;
        for f in &mut module.functions {
            let mut body = std::mem::take(&mut f.body);
            changed |= fuse_region(f, &mut body);
            f.body = body;
        }
        changed
    }
}

fn fuse_region(f: &mut Function, region: &mut Region) -> bool {
    let mut changed = false;
    for &id in &region.ops {
        if matches!(f.ops[id].kind, OpKind::Pipeline(_)) {
            continue;
        }
        let mut regions = std::mem::take(&mut f.ops[id].regions);
        for r in &mut regions {
            changed |= fuse_region(f, r);
        }
        f.ops[id].regions = regions;
    }
    while let Some((i, j)) = find_pair(f, region) {
        let merged = merge(f, region.ops[i], region.ops[j]);
        region.ops[j] = merged;
        region.ops.remove(i);
        changed = true;
    }
    changed
}

/// The row-split inputs of a pipeline.
fn split_inputs(f: &Function, id: OpId) -> Vec<Value> {
    match &f.ops[id].kind {
        OpKind::Pipeline(spec) => {
            f.ops[id].operands.iter().zip(&spec.splits).filter(|(_, s)| **s == Split::Rows).map(|(&v, _)| v).collect()
        }
        _ => Vec::new(),
    }
}

/// Positions `i < j` of two pipelines that can merge.
fn find_pair(f: &Function, region: &Region) -> Option<(usize, usize)> {
    for (j, &later) in region.ops.iter().enumerate() {
        let later_inputs = split_inputs(f, later);
        if later_inputs.is_empty() {
            continue;
        }
        'earlier: for i in (0..j).rev() {
            let earlier = region.ops[i];
            if !split_inputs(f, earlier).iter().any(|v| later_inputs.contains(v)) {
                continue;
            }
            let results = &f.ops[earlier].results;
            let failing =
                |p: OpId| f.ops[p].regions[0].ops.iter().filter(|&&o| crate::fuse_pipelines::fallible(f, o)).count();
            let can_fail = failing(earlier) > 0;
            if failing(earlier) + failing(later) > 1 {
                continue;
            }
            for &between in &region.ops[i + 1..=j] {
                let op = &f.ops[between];
                if op.operands.iter().any(|v| results.contains(v))
                    || (can_fail && crate::fuse_pipelines::barrier(f, between))
                {
                    continue 'earlier;
                }
                // A use inside a nested region counts too.
                let mut nested = HashMap::new();
                for r in &op.regions {
                    crate::uses::users(f, r, &mut nested);
                }
                if results.iter().any(|r| nested.contains_key(r)) {
                    continue 'earlier;
                }
            }
            return Some((i, j));
        }
    }
    None
}

/// One pipeline doing what `a` and then `b` do; uses of their results now use its results.
fn merge(f: &mut Function, a: OpId, b: OpId) -> OpId {
    let (pa, pb) = (f.ops[a].clone(), f.ops[b].clone());
    let (OpKind::Pipeline(sa), OpKind::Pipeline(sb)) = (&pa.kind, &pb.kind) else { return b };
    let spec = PipelineSpec {
        splits: sa.splits.iter().chain(&sb.splits).copied().collect(),
        combines: sa.combines.iter().chain(&sb.combines).copied().collect(),
    };
    let (ra, rb) = (&pa.regions[0], &pb.regions[0]);
    let (ya, yb) = (ra.ops.last().copied(), rb.ops.last().copied());
    let yielded: Vec<Value> = [ya, yb].into_iter().flatten().flat_map(|y| f.ops[y].operands.clone()).collect();
    let y = f.new_op(OpKind::Yield, yielded, vec![], vec![], None);
    let mut ops: Vec<OpId> =
        ra.ops.iter().chain(&rb.ops).copied().filter(|&o| Some(o) != ya && Some(o) != yb).collect();
    ops.push(y);
    let body = Region { args: ra.args.iter().chain(&rb.args).copied().collect(), ops };
    let operands = pa.operands.iter().chain(&pb.operands).copied().collect();
    let types = pa.results.iter().chain(&pb.results).map(|&r| f.ty(r).clone()).collect();
    let loc = f.loc(b).or(f.loc(a));
    let merged = f.new_op(OpKind::Pipeline(spec), operands, types, vec![body], loc);
    let subst: HashMap<Value, Value> =
        pa.results.iter().chain(&pb.results).copied().zip(f.ops[merged].results.clone()).collect();
    crate::uses::replace(f, &subst);
    merged
}
