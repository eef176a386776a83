//! The verifier: checks that a module is well-formed before anything trusts it. It never
//! panics, whatever the module holds (IR decoded from bytes a peer sent may be hostile).
//!
//! Checked: every handle is in range; every op sits in exactly one region and every value is
//! defined exactly once; operands are defined before use in an enclosing scope; regions end in
//! the terminator their op requires, with matching counts and compatible types; builtins get
//! an operand count they accept; calls match their callee's signature.

use std::collections::HashSet;

use crate::function::{FuncId, Function, Module, OpId, Region, Value, ValueDef};
use crate::op::OpKind;
use crate::types::Type;

/// The deepest nesting of regions a valid module may have; the verifier and everything after
/// it walk regions recursively, so IR from a peer must not nest without bound.
pub const MAX_NESTING: usize = 512;

/// Verifies a whole module.
pub fn module(m: &Module) -> Result<(), String> {
    if m.functions.get(m.entry.0 as usize).is_none() {
        return Err(format!("entry function #{} does not exist", m.entry.0));
    }
    // The entry may take parameters: `daphne`'s interactive mode binds the variables of
    // earlier entries so (`runtime::exec::run_entry` checks that they are given).
    let mut names = HashSet::new();
    for f in &m.functions {
        if !names.insert(f.name.as_str()) {
            return Err(format!("function @{} is defined twice", f.name));
        }
        function(f, m).map_err(|e| format!("in function @{}: {e}", f.name))?;
    }
    Ok(())
}

/// Verifies one function of `m`.
pub fn function(f: &Function, m: &Module) -> Result<(), String> {
    let mut v = Verifier { f, m, placed: HashSet::new(), defined: HashSet::new(), scopes: Vec::new() };
    v.region(&f.body, &format!("body of @{}", f.name))?;
    let ret = v.terminator(&f.body, "function body")?;
    if ret.kind != OpKind::Return {
        return Err("the function body must end in `return`".to_owned());
    }
    v.check_types(&ret.operands, &f.result_types, "return")?;
    Ok(())
}

struct Verifier<'a> {
    f: &'a Function,
    m: &'a Module,
    placed: HashSet<OpId>,
    defined: HashSet<Value>,
    scopes: Vec<Vec<Value>>,
}

impl<'a> Verifier<'a> {
    fn value_ty(&self, v: Value) -> Result<&'a Type, String> {
        self.f.values.try_get(v).map(|d| &d.ty).ok_or_else(|| format!("value #{} does not exist", v.index()))
    }

    fn define(&mut self, v: Value, def: ValueDef) -> Result<(), String> {
        let data = self.f.values.try_get(v).ok_or_else(|| format!("value #{} does not exist", v.index()))?;
        if data.def != def {
            return Err(format!("value #{} is not defined where it says", v.index()));
        }
        if !self.defined.insert(v) {
            return Err(format!("value #{} is defined twice", v.index()));
        }
        if let Some(scope) = self.scopes.last_mut() {
            scope.push(v);
        }
        Ok(())
    }

    fn in_scope(&self, v: Value) -> bool {
        self.scopes.iter().any(|s| s.contains(&v))
    }

    fn check_types(&self, values: &[Value], types: &[Type], what: &str) -> Result<(), String> {
        if values.len() != types.len() {
            return Err(format!("{what} passes {} values where {} are expected", values.len(), types.len()));
        }
        for (i, (&v, t)) in values.iter().zip(types).enumerate() {
            let vt = self.value_ty(v)?;
            if !vt.compatible(t) {
                return Err(format!("{what}: value {i} has type {vt} where {t} is expected"));
            }
        }
        Ok(())
    }

    fn terminator(&self, r: &Region, what: &str) -> Result<&'a crate::function::Op, String> {
        let last = r.ops.last().ok_or_else(|| format!("the {what} is empty but needs a terminator"))?;
        self.f.ops.try_get(*last).ok_or_else(|| format!("op #{} does not exist", last.index()))
    }

    /// Verifies the ops of a region in a new scope holding its arguments.
    fn region(&mut self, r: &Region, what: &str) -> Result<(), String> {
        if self.scopes.len() >= MAX_NESTING {
            return Err(format!("regions are nested more than {MAX_NESTING} deep"));
        }
        self.scopes.push(Vec::new());
        for &a in &r.args {
            self.define(a, ValueDef::Arg)?;
        }
        for (i, &id) in r.ops.iter().enumerate() {
            let op = self.f.ops.try_get(id).ok_or_else(|| format!("op #{} does not exist", id.index()))?;
            if !self.placed.insert(id) {
                return Err(format!("op #{} appears twice", id.index()));
            }
            if op.kind.is_terminator() && i + 1 != r.ops.len() {
                return Err(format!("`{}` must be the last op of the {what}", op.kind.name()));
            }
            for &v in &op.operands {
                self.value_ty(v)?;
                if !self.in_scope(v) {
                    return Err(format!(
                        "`{}` uses value #{} outside the scope of its definition",
                        op.kind.name(),
                        v.index()
                    ));
                }
            }
            self.op(id, op)?;
            for (i, &res) in op.results.iter().enumerate() {
                self.define(res, ValueDef::Result(id, i as u32))?;
            }
        }
        self.scopes.pop();
        Ok(())
    }

    fn op(&mut self, id: OpId, op: &'a crate::function::Op) -> Result<(), String> {
        let name = op.kind.name();
        let n_operands = op.operands.len();
        let n_regions = op.regions.len();
        let expect_regions = match op.kind {
            OpKind::If | OpKind::While => 2,
            OpKind::For | OpKind::Pipeline(_) => 1,
            _ => 0,
        };
        if n_regions != expect_regions {
            return Err(format!("`{name}` has {n_regions} regions instead of {expect_regions}"));
        }
        let result_types: Vec<Type> =
            op.results.iter().map(|&r| self.value_ty(r).cloned()).collect::<Result<_, _>>()?;
        match &op.kind {
            OpKind::Const(lit) => {
                if n_operands != 0 || result_types != [Type::Scalar(lit.value_type())] {
                    return Err(format!(
                        "`const` #{} must have no operands and one {} result",
                        id.index(),
                        lit.value_type()
                    ));
                }
            }
            OpKind::Builtin(b) => {
                let (min, max) = b.arity();
                if n_operands < min || max.is_some_and(|m| n_operands > m) {
                    return Err(format!(
                        "`{name}` takes {min}{} operands, not {n_operands}",
                        match max {
                            Some(m) if m == min => String::new(),
                            Some(m) => format!("..{m}"),
                            None => " or more".to_owned(),
                        }
                    ));
                }
            }
            OpKind::Cast => {
                if n_operands != 1 || result_types.len() != 1 {
                    return Err("`cast` takes one operand and has one result".to_owned());
                }
            }
            OpKind::Map(callee) => {
                let FuncId(i) = *callee;
                let target =
                    self.m.functions.get(i as usize).ok_or_else(|| format!("map of undefined function #{i}"))?;
                if n_operands != 1
                    || result_types.len() != 1
                    || target.params().len() != 1
                    || target.result_types.len() != 1
                {
                    return Err(format!(
                        "`map` applies a function of one parameter and one result to one matrix (@{})",
                        target.name
                    ));
                }
            }
            OpKind::Call(callee) => {
                let FuncId(i) = *callee;
                let target =
                    self.m.functions.get(i as usize).ok_or_else(|| format!("call of undefined function #{i}"))?;
                self.check_types(&op.operands, &target.param_types(), &format!("call of @{}", target.name))?;
                if result_types.len() != target.result_types.len() {
                    return Err(format!("call of @{} expects {} results", target.name, target.result_types.len()));
                }
            }
            OpKind::If => {
                if n_operands != 1 {
                    return Err("`if` takes one operand, the condition".to_owned());
                }
                for (r, what) in op.regions.iter().zip(["then", "else"]) {
                    if !r.args.is_empty() {
                        return Err(format!("the {what} region of `if` takes no arguments"));
                    }
                    self.region(r, &format!("{what} region"))?;
                    let t = self.terminator(r, &format!("{what} region"))?;
                    if t.kind != OpKind::Yield {
                        return Err(format!("the {what} region of `if` must end in `yield`"));
                    }
                    self.check_types(&t.operands, &result_types, &format!("yield of the {what} region"))?;
                }
            }
            OpKind::While => {
                let (before, after) = (&op.regions[0], &op.regions[1]);
                let init_types: Vec<Type> =
                    op.operands.iter().map(|&v| self.value_ty(v).cloned()).collect::<Result<_, _>>()?;
                self.check_types(&before.args, &init_types, "arguments of the before region")?;
                self.region(before, "before region")?;
                let cond = self.terminator(before, "before region")?;
                if cond.kind != OpKind::Condition || cond.operands.is_empty() {
                    return Err("the before region of `while` must end in `condition(cond, ...)`".to_owned());
                }
                let passed = &cond.operands[1..];
                let after_types: Vec<Type> =
                    after.args.iter().map(|&v| self.value_ty(v).cloned()).collect::<Result<_, _>>()?;
                self.check_types(passed, &after_types, "condition")?;
                self.check_types(passed, &result_types, "results of `while`")?;
                self.region(after, "after region")?;
                let y = self.terminator(after, "after region")?;
                if y.kind != OpKind::Yield {
                    return Err("the after region of `while` must end in `yield`".to_owned());
                }
                self.check_types(&y.operands, &init_types, "yield of the after region")?;
            }
            OpKind::For => {
                if n_operands < 3 {
                    return Err("`for` takes from, to, step and the initial carried values".to_owned());
                }
                let body = &op.regions[0];
                let carried: Vec<Type> =
                    op.operands[3..].iter().map(|&v| self.value_ty(v).cloned()).collect::<Result<_, _>>()?;
                if body.args.len() != carried.len() + 1 {
                    return Err("the body of `for` takes the induction variable and the carried values".to_owned());
                }
                self.check_types(&body.args[1..], &carried, "arguments of the for body")?;
                self.check_types(&op.results, &carried, "results of `for`")?;
                self.region(body, "for body")?;
                let y = self.terminator(body, "for body")?;
                if y.kind != OpKind::Yield {
                    return Err("the body of `for` must end in `yield`".to_owned());
                }
                self.check_types(&y.operands, &carried, "yield of the for body")?;
            }
            OpKind::Pipeline(spec) => self.pipeline(op, spec, &result_types)?,
            OpKind::Yield | OpKind::Condition | OpKind::Return => {
                if !result_types.is_empty() {
                    return Err(format!("`{name}` has no results"));
                }
            }
        }
        Ok(())
    }

    /// A pipeline: modes match operands and results, row-split inputs are matrices, the body
    /// uses only its arguments and holds only constants, casts and pure builtins.
    fn pipeline(
        &mut self,
        op: &'a crate::function::Op,
        spec: &crate::op::PipelineSpec,
        result_types: &[Type],
    ) -> Result<(), String> {
        use crate::op::{Combine, Split};
        let body = &op.regions[0];
        if spec.splits.len() != op.operands.len() || body.args.len() != op.operands.len() {
            return Err(format!(
                "`pipeline` has {} operands, {} split modes and {} body arguments",
                op.operands.len(),
                spec.splits.len(),
                body.args.len()
            ));
        }
        if spec.combines.len() != op.results.len() {
            return Err(format!(
                "`pipeline` has {} results and {} combine modes",
                op.results.len(),
                spec.combines.len()
            ));
        }
        for (i, ((&v, &a), split)) in op.operands.iter().zip(&body.args).zip(&spec.splits).enumerate() {
            let (outer, inner) = (self.value_ty(v)?, self.value_ty(a)?);
            let ok = match (split, outer, inner) {
                (Split::Rows, Type::Matrix(o), Type::Matrix(i)) => o.vt == i.vt && o.cols == i.cols,
                (Split::Rows, _, _) => false,
                (Split::Broadcast, o, i) => o.compatible(i),
            };
            if !ok {
                return Err(format!("pipeline input {i} ({}) of type {outer} cannot be seen as {inner}", split.name()));
            }
        }
        // The body is self-contained: verify it with no enclosing scope.
        let outer_scopes = std::mem::take(&mut self.scopes);
        let checked = self.region(body, "pipeline body");
        self.scopes = outer_scopes;
        checked?;
        for &id in &body.ops {
            let inner = &self.f.ops[id];
            let allowed = match &inner.kind {
                OpKind::Const(_) | OpKind::Cast | OpKind::Yield => true,
                OpKind::Builtin(b) => b.is_pure(),
                _ => false,
            };
            if !allowed {
                return Err(format!("`{}` cannot be part of a pipeline", inner.kind.name()));
            }
        }
        let y = self.terminator(body, "pipeline body")?;
        if y.kind != OpKind::Yield || y.operands.len() != op.results.len() {
            return Err("the body of `pipeline` must end in `yield` of one value per result".to_owned());
        }
        for (i, ((&part, ty), combine)) in y.operands.iter().zip(result_types).zip(&spec.combines).enumerate() {
            let part = self.value_ty(part)?;
            let ok = match combine {
                Combine::Rows | Combine::Cols => {
                    matches!((part, ty), (Type::Matrix(p), Type::Matrix(t)) if p.vt == t.vt)
                }
                Combine::Add | Combine::Min | Combine::Max => part.compatible(ty),
            };
            if !ok {
                return Err(format!(
                    "pipeline output {i} ({}) of type {ty} cannot combine partials of type {part}",
                    combine.name()
                ));
            }
        }
        Ok(())
    }
}

/// Verifies a module made by [`crate::pipeline::extract`]: one function whose body is one
/// pipeline and the return of its results. This is all a worker accepts.
pub fn pipeline_module(m: &Module) -> Result<(), String> {
    let [f] = m.functions.as_slice() else {
        return Err(format!("a pipeline module holds one function, not {}", m.functions.len()));
    };
    if m.entry.0 != 0 {
        return Err("the entry of a pipeline module is its only function".to_owned());
    }
    let ops: Vec<_> = f.body.ops.iter().map(|&id| f.ops.try_get(id).map(|o| &o.kind)).collect();
    if !matches!(ops.as_slice(), [Some(OpKind::Pipeline(_)), Some(OpKind::Return)]) {
        return Err("a pipeline module's function is one pipeline and a return".to_owned());
    }
    function(f, m).map_err(|e| format!("in the pipeline: {e}"))
}
