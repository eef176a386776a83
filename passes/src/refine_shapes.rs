//! `refine-shapes`: dimensions the lowering could not know become known where the operands now
//! tell them. A function's parameters forget their arguments' dimensions (specializations are
//! per value type), so after `inline-functions` copies a body into its caller, the body's ops
//! still say `matrix<?x?xf64>` of an argument whose shape the caller knows; and a size computed
//! by the script (`fill(0.0, nrow(X), 1)`, `seq(0, k - 1)`) is a constant only once
//! `fold-constants` has run. Fusion needs the shapes to prove a broadcast or that a product is
//! no wider than its left side, so without this pass such code stays out of pipelines (and, in
//! a distributed run, off the workers).
//!
//! Every matrix result of a builtin takes the dimensions `daphne_ir::infer` gives it from its
//! operands' current types and constants, a matrix-to-matrix cast those of its operand, an
//! `if` those both branches agree on; loop-carried values those the initial value and every
//! iteration agree on (found by iterating the body to a fixed point, as the lowering does).
//! A type only gains what it did not know: what the lowering recorded is kept, so the result
//! is compatible with it and the verifier's checks still hold.

use std::collections::HashMap;

use daphne_ir::infer::{Operand, infer};
use daphne_ir::{Function, Literal, Module, OpId, OpKind, Region, Split, Type, Value, ValueDef};

use crate::pass::Pass;

pub struct RefineShapes;

/// The most rounds of a loop's body before its carried values keep the lowering's types.
const MAX_ROUNDS: usize = 8;

impl Pass for RefineShapes {
    fn name(&self) -> &'static str {
        "refine-shapes"
    }

    fn run(&self, module: &mut Module) -> bool {
        let mut changed = false;
        for f in &mut module.functions {
            let lowered: HashMap<Value, Type> = f.values.iter().map(|(v, d)| (v, d.ty.clone())).collect();
            let body = std::mem::take(&mut f.body);
            refine_region(f, &body, &lowered);
            f.body = body;
            changed |= f.values.iter().any(|(v, d)| lowered.get(&v) != Some(&d.ty));
        }
        changed
    }
}

/// `lowered` with the dimensions (and value type) it does not know taken from `known`, when
/// both are matrices that agree on what both know; otherwise `lowered`.
fn refined(lowered: &Type, known: &Type) -> Type {
    match (lowered, known) {
        (Type::Matrix(l), Type::Matrix(k)) if lowered.compatible(known) => Type::Matrix(daphne_ir::MatrixType {
            vt: l.vt.or(k.vt),
            rows: l.rows.or(k.rows),
            cols: l.cols.or(k.cols),
            repr: l.repr,
        }),
        _ => lowered.clone(),
    }
}

/// The dimensions two matrix types agree on, in `a`'s type (a value that may be either).
fn agreed(a: &Type, b: &Type) -> Type {
    match (a, b) {
        (Type::Matrix(x), Type::Matrix(y)) => Type::Matrix(daphne_ir::MatrixType {
            rows: if x.rows == y.rows { x.rows } else { None },
            cols: if x.cols == y.cols { x.cols } else { None },
            ..x.clone()
        }),
        _ => a.clone(),
    }
}

fn set(f: &mut Function, v: Value, lowered: &HashMap<Value, Type>, known: &Type) {
    if let Some(l) = lowered.get(&v) {
        f.values[v].ty = refined(l, known);
    }
}

fn refine_region(f: &mut Function, region: &Region, lowered: &HashMap<Value, Type>) {
    for &id in &region.ops {
        refine_op(f, id, lowered);
    }
}

/// The operands of the terminator ending a region.
fn terminator_types(f: &Function, region: &Region) -> Vec<Type> {
    region.ops.last().map_or_else(Vec::new, |&t| f.ops[t].operands.iter().map(|&v| f.ty(v).clone()).collect())
}

/// Sets the carried values `args` to the dimensions `init` and the iterations agree on;
/// `run` runs the loop's regions once and gives the types the iteration passes back.
fn fixed_point(
    f: &mut Function,
    args: &[Value],
    init: &[Type],
    lowered: &HashMap<Value, Type>,
    run: &dyn Fn(&mut Function) -> Vec<Type>,
) {
    let mut assumed: Vec<Type> = init.to_vec();
    for _ in 0..MAX_ROUNDS {
        for (&a, t) in args.iter().zip(&assumed) {
            set(f, a, lowered, t);
        }
        let next = run(f);
        let joined: Vec<Type> = assumed.iter().zip(&next).map(|(a, n)| agreed(a, n)).collect();
        if joined == assumed || next.len() != assumed.len() {
            return;
        }
        assumed = joined;
    }
    // No fixed point: the lowering's types, and the body refined under them.
    for &a in args {
        if let Some(t) = lowered.get(&a) {
            f.values[a].ty = t.clone();
        }
    }
    run(f);
}

fn refine_op(f: &mut Function, id: OpId, lowered: &HashMap<Value, Type>) {
    let op = f.ops[id].clone();
    match &op.kind {
        OpKind::Builtin(b) => {
            let types: Vec<Type> = op.operands.iter().map(|&v| f.ty(v).clone()).collect();
            let consts: Vec<Option<Literal>> = op
                .operands
                .iter()
                .map(|&v| match f.values[v].def {
                    ValueDef::Result(d, _) => match &f.ops[d].kind {
                        OpKind::Const(lit) => Some(lit.clone()),
                        _ => None,
                    },
                    ValueDef::Arg => None,
                })
                .collect();
            let args: Vec<Operand> =
                types.iter().zip(&consts).map(|(ty, c)| Operand { ty, constant: c.as_ref() }).collect();
            if let Ok(inferred) = infer(*b, &args)
                && inferred.len() == op.results.len()
            {
                for (&r, t) in op.results.iter().zip(&inferred) {
                    set(f, r, lowered, t);
                }
            }
        }
        OpKind::Cast => {
            if let ([x], [r]) = (op.operands.as_slice(), op.results.as_slice())
                && let (Type::Matrix(from), Some(Type::Matrix(to))) = (f.ty(*x).clone(), lowered.get(r))
            {
                let dims = Type::Matrix(daphne_ir::MatrixType { rows: from.rows, cols: from.cols, ..to.clone() });
                set(f, *r, lowered, &dims);
            }
        }
        OpKind::If => {
            let mut branches = Vec::new();
            for r in &op.regions {
                refine_region(f, r, lowered);
                branches.push(terminator_types(f, r));
            }
            if let [a, b] = branches.as_slice() {
                for ((&r, x), y) in op.results.iter().zip(a).zip(b) {
                    set(f, r, lowered, &agreed(x, y));
                }
            }
        }
        OpKind::For => {
            let Some(body) = op.regions.first() else { return };
            let init: Vec<Type> = op.operands.iter().skip(3).map(|&v| f.ty(v).clone()).collect();
            let args = body.args.get(1..).unwrap_or_default();
            fixed_point(f, args, &init, lowered, &|f: &mut Function| {
                refine_region(f, body, lowered);
                terminator_types(f, body)
            });
            for (&r, &a) in op.results.iter().zip(args) {
                let t = f.ty(a).clone();
                set(f, r, lowered, &t);
            }
        }
        OpKind::While => {
            let [before, after] = op.regions.as_slice() else { return };
            let init: Vec<Type> = op.operands.iter().map(|&v| f.ty(v).clone()).collect();
            fixed_point(f, &before.args, &init, lowered, &|f: &mut Function| {
                refine_region(f, before, lowered);
                let passed = terminator_types(f, before);
                for (&a, t) in after.args.iter().zip(passed.iter().skip(1)) {
                    set(f, a, lowered, t);
                }
                refine_region(f, after, lowered);
                terminator_types(f, after)
            });
            let passed = terminator_types(f, before);
            for (&r, t) in op.results.iter().zip(passed.iter().skip(1)) {
                set(f, r, lowered, t);
            }
        }
        OpKind::Pipeline(spec) => {
            // A pipeline of an earlier round (fusion, then inlining its function): a block
            // sees its inputs' columns, or a broadcast input whole; its results stay.
            let Some(body) = op.regions.first() else { return };
            for ((&v, &a), split) in op.operands.iter().zip(&body.args).zip(&spec.splits) {
                let seen = match (split, f.ty(v).clone()) {
                    (Split::Rows, Type::Matrix(m)) => Type::Matrix(daphne_ir::MatrixType { rows: None, ..m }),
                    (_, t) => t,
                };
                set(f, a, lowered, &seen);
            }
            refine_region(f, body, lowered);
        }
        // Calls keep their callee's types; constants know theirs; terminators have nothing
        // to refine.
        _ => {
            for r in &op.regions {
                refine_region(f, r, lowered);
            }
        }
    }
}
