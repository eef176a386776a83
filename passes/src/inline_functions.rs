//! `inline-functions`: a call of a small, non-recursive function whose body holds ops that
//! fusion can put into pipelines is replaced by a copy of the body, so those ops can fuse with
//! the caller's (`sqrt(sum(M * M))` in `def norm(M)` joins the pipeline that made `M`).
//!
//! The copied ops keep their source locations (an error inside still points into the
//! function), extended by the call they were inlined at (`Loc::inlined`, so an error names
//! the call as it would without inlining), and their types; the function itself stays in the
//! module for other callers.

use std::collections::{HashMap, HashSet};

use daphne_ir::{FuncId, Function, InlineSite, Module, OpId, OpKind, Region};

use crate::pass::Pass;

pub struct InlineFunctions;

/// The most ops (counting nested ones) a function may have to be inlined.
pub const MAX_INLINE_OPS: usize = 64;

impl Pass for InlineFunctions {
    fn name(&self) -> &'static str {
        "inline-functions"
    }

    fn run(&self, module: &mut Module) -> bool {
        let candidates: HashSet<FuncId> = (0..module.functions.len())
            .map(|i| FuncId(i as u32))
            .filter(|&id| id != module.entry && inlinable(module, id))
            .collect();
        if candidates.is_empty() {
            return false;
        }
        let mut changed = false;
        for i in 0..module.functions.len() {
            let mut f = std::mem::replace(&mut module.functions[i], Function::new(""));
            let mut body = std::mem::take(&mut f.body);
            let mut inlined = Vec::new();
            changed |= inline_region(module, &mut f, &mut body, &candidates, FuncId(i as u32), &mut inlined);
            f.body = body;
            for (site, ops) in inlined {
                module.inline_sites.push(site);
                let outer = module.inline_sites.len() as u32 - 1;
                for op in ops {
                    if let Some(loc) = f.loc(op) {
                        f.locs[op.index()] = Some(module.inlined_at(loc, outer));
                    }
                }
            }
            module.functions[i] = f;
        }
        changed
    }
}

/// Every op of a region, nested ones included.
fn all_ops(f: &Function, region: &Region, out: &mut Vec<OpId>) {
    for &id in &region.ops {
        out.push(id);
        for r in &f.ops[id].regions {
            all_ops(f, r, out);
        }
    }
}

/// Whether calls of `id` should be inlined: small, calls nothing that leads back to it, and
/// does something fusion can use.
fn inlinable(module: &Module, id: FuncId) -> bool {
    let f = module.function(id);
    let mut ops = Vec::new();
    all_ops(f, &f.body, &mut ops);
    if ops.len() > MAX_INLINE_OPS {
        return false;
    }
    let fusable = ops.iter().any(|&o| crate::fuse_pipelines::fusable_kind(&f.ops[o].kind));
    fusable && !reaches(module, id, id, &mut HashSet::new())
}

/// Whether `from` calls (directly or not) `target`.
fn reaches(module: &Module, from: FuncId, target: FuncId, seen: &mut HashSet<FuncId>) -> bool {
    if !seen.insert(from) {
        return false;
    }
    let Some(f) = module.functions.get(from.0 as usize) else { return false };
    let mut ops = Vec::new();
    all_ops(f, &f.body, &mut ops);
    ops.iter().any(|&o| match f.ops[o].kind {
        OpKind::Call(c) | OpKind::Map(c) => c == target || reaches(module, c, target, seen),
        _ => false,
    })
}

fn inline_region(
    module: &Module,
    f: &mut Function,
    region: &mut Region,
    candidates: &HashSet<FuncId>,
    this: FuncId,
    inlined: &mut Vec<(InlineSite, Vec<OpId>)>,
) -> bool {
    let mut changed = false;
    let mut out = Vec::with_capacity(region.ops.len());
    for &id in &region.ops {
        let mut regions = std::mem::take(&mut f.ops[id].regions);
        for r in &mut regions {
            changed |= inline_region(module, f, r, candidates, this, inlined);
        }
        f.ops[id].regions = regions;
        let OpKind::Call(callee) = f.ops[id].kind else {
            out.push(id);
            continue;
        };
        if callee == this || !candidates.contains(&callee) {
            out.push(id);
            continue;
        }
        let g = module.function(callee);
        let mut map = HashMap::new();
        for (&p, &a) in g.params().iter().zip(&f.ops[id].operands) {
            map.insert(p, a);
        }
        let Some((&ret, body)) = g.body.ops.split_last() else {
            out.push(id);
            continue;
        };
        let copied: Option<Vec<OpId>> = body.iter().map(|&o| f.copy_op_from(g, o, &mut map)).collect();
        let returned: Option<Vec<_>> = g.ops[ret].operands.iter().map(|v| map.get(v).copied()).collect();
        let (Some(copied), Some(returned)) = (copied, returned) else {
            out.push(id);
            continue;
        };
        if let Some(call) = f.loc(id) {
            let mut ops = Vec::new();
            all_ops(f, &Region { args: Vec::new(), ops: copied.clone() }, &mut ops);
            inlined.push((InlineSite { callee: g.source_name().to_owned(), call }, ops));
        }
        out.extend(copied);
        let subst = f.ops[id].results.iter().copied().zip(returned).collect();
        crate::uses::replace(f, &subst);
        changed = true;
    }
    region.ops = out;
    changed
}
