//! The verifier: checks that a module is well-formed before anything trusts it. It never
//! panics, whatever the module holds (IR decoded from bytes a peer sent may be hostile).
//!
//! Checked: every handle is in range; every op sits in exactly one region and every value is
//! defined exactly once; operands are defined before use in an enclosing scope; regions end in
//! the terminator their op requires, with matching counts and compatible types; builtins get
//! an operand count they accept and have the result types their rule (`crate::infer`) gives
//! for their operand types, up to what either side does not know ([`agrees`]); calls match
//! their callee's signature.
//!
//! It runs after lowering and after every pass that changed the module, in every build, so
//! each check is linear in the module: a value's scope is the depth of the region that
//! defined it, looked up by its index.

use std::collections::HashSet;

use crate::function::{FuncId, Function, Module, OpId, Region, Value, ValueDef};
use crate::infer::{InferError, Operand, infer};
use crate::op::{Builtin, OpKind};
use crate::types::{FrameType, Type};

/// Why a module is not well-formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("in function @{function}: {error}")]
    InFunction { function: String, error: Box<VerifyError> },
    #[error("in the pipeline: {0}")]
    InPipeline(Box<VerifyError>),
    /// A builtin's recorded result type contradicts its rule.
    #[error("`{op}` result {index} has type {recorded} where its operands give {inferred}")]
    ResultType { op: &'static str, index: usize, recorded: Type, inferred: Type },
    #[error("`{op}` has {recorded} results where its operands give {inferred}")]
    ResultCount { op: &'static str, recorded: usize, inferred: usize },
    /// A builtin's operand types do not fit its rule.
    #[error("`{op}` does not type-check: {error}")]
    Operands { op: &'static str, error: InferError },
    /// Anything else: handles, definitions, scopes, terminators, counts, signatures.
    #[error("{0}")]
    Malformed(String),
}

fn bad(message: impl Into<String>) -> VerifyError {
    VerifyError::Malformed(message.into())
}

type Result<T> = std::result::Result<T, VerifyError>;

/// Whether a builtin's recorded result type `recorded` agrees with the type its rule gives
/// (`inferred`): equal where both know a fact (value type, each dimension, representation, a
/// frame column's value type and label), anything where either does not. Lowering often
/// knows more than the rule (constants, `.meta` files, casts it inserted), never something
/// else.
pub fn agrees(recorded: &Type, inferred: &Type) -> bool {
    fn opt<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
        a.is_none() || b.is_none() || a == b
    }
    match (recorded, inferred) {
        (Type::Frame(a), Type::Frame(b)) => frames_agree(a, b),
        (Type::Matrix(a), Type::Matrix(b)) | (Type::List(a), Type::List(b)) => {
            opt(&a.vt, &b.vt) && opt(&a.rows, &b.rows) && opt(&a.cols, &b.cols) && opt(&a.repr, &b.repr)
        }
        _ => recorded.compatible(inferred),
    }
}

fn frames_agree(a: &FrameType, b: &FrameType) -> bool {
    let rows = a.rows.is_none() || b.rows.is_none() || a.rows == b.rows;
    let columns = match (&a.columns, &b.columns) {
        (Some(x), Some(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(c, d)| c.vt == d.vt && (c.label.is_none() || d.label.is_none() || c.label == d.label))
        }
        _ => true,
    };
    rows && columns
}

/// The deepest nesting of regions a valid module may have; the verifier and everything after
/// it walk regions recursively, so IR from a peer must not nest without bound.
pub const MAX_NESTING: usize = 512;

/// Verifies a whole module.
pub fn module(m: &Module) -> Result<()> {
    if m.functions.get(m.entry.0 as usize).is_none() {
        return Err(bad(format!("entry function #{} does not exist", m.entry.0)));
    }
    // The entry may take parameters: `daphne`'s interactive mode binds the variables of
    // earlier entries so (`runtime::exec::run_entry` checks that they are given).
    let mut names = HashSet::new();
    for f in &m.functions {
        if !names.insert(f.name.as_str()) {
            return Err(bad(format!("function @{} is defined twice", f.name)));
        }
        function(f, m).map_err(|e| VerifyError::InFunction { function: f.name.clone(), error: Box::new(e) })?;
    }
    Ok(())
}

/// Verifies one function of `m`.
pub fn function(f: &Function, m: &Module) -> Result<()> {
    let mut v =
        Verifier { f, m, placed: HashSet::new(), depth: vec![UNDEFINED; f.values.len()], scopes: Vec::new(), floor: 1 };
    v.region(&f.body, &format!("body of @{}", f.name))?;
    let ret = v.terminator(&f.body, "function body")?;
    if ret.kind != OpKind::Return {
        return Err(bad("the function body must end in `return`"));
    }
    v.check_types(&ret.operands, &f.result_types, "return")?;
    Ok(())
}

/// `Verifier::depth` of a value not defined yet.
const UNDEFINED: u32 = 0;
/// `Verifier::depth` of a value whose region has ended.
const ENDED: u32 = u32::MAX;

struct Verifier<'a> {
    f: &'a Function,
    m: &'a Module,
    placed: HashSet<OpId>,
    /// Per value (by index): the nesting depth (from 1) of the region that defined it while
    /// that region is being verified, `UNDEFINED` before, `ENDED` after.
    depth: Vec<u32>,
    /// The values each open region defined, to end them when it ends.
    scopes: Vec<Vec<Value>>,
    /// The shallowest depth whose values are visible: a pipeline body sees nothing outside.
    floor: u32,
}

impl<'a> Verifier<'a> {
    fn value_ty(&self, v: Value) -> Result<&'a Type> {
        self.f.values.try_get(v).map(|d| &d.ty).ok_or_else(|| bad(format!("value #{} does not exist", v.index())))
    }

    fn define(&mut self, v: Value, def: ValueDef) -> Result<()> {
        let data = self.f.values.try_get(v).ok_or_else(|| bad(format!("value #{} does not exist", v.index())))?;
        if data.def != def {
            return Err(bad(format!("value #{} is not defined where it says", v.index())));
        }
        let depth = self.scopes.len() as u32;
        match self.depth.get_mut(v.index()) {
            Some(d) if *d == UNDEFINED => *d = depth,
            _ => return Err(bad(format!("value #{} is defined twice", v.index()))),
        }
        if let Some(scope) = self.scopes.last_mut() {
            scope.push(v);
        }
        Ok(())
    }

    /// Whether `v` is defined in a region being verified and visible from the current one.
    fn in_scope(&self, v: Value) -> bool {
        self.depth.get(v.index()).is_some_and(|&d| d != UNDEFINED && d != ENDED && d >= self.floor)
    }

    fn check_types(&self, values: &[Value], types: &[Type], what: &str) -> Result<()> {
        if values.len() != types.len() {
            return Err(bad(format!("{what} passes {} values where {} are expected", values.len(), types.len())));
        }
        for (i, (&v, t)) in values.iter().zip(types).enumerate() {
            let vt = self.value_ty(v)?;
            if !vt.compatible(t) {
                return Err(bad(format!("{what}: value {i} has type {vt} where {t} is expected")));
            }
        }
        Ok(())
    }

    fn terminator(&self, r: &Region, what: &str) -> Result<&'a crate::function::Op> {
        let last = r.ops.last().ok_or_else(|| bad(format!("the {what} is empty but needs a terminator")))?;
        self.f.ops.try_get(*last).ok_or_else(|| bad(format!("op #{} does not exist", last.index())))
    }

    /// Verifies the ops of a region in a new scope holding its arguments.
    fn region(&mut self, r: &Region, what: &str) -> Result<()> {
        if self.scopes.len() >= MAX_NESTING {
            return Err(bad(format!("regions are nested more than {MAX_NESTING} deep")));
        }
        self.scopes.push(Vec::new());
        for &a in &r.args {
            self.define(a, ValueDef::Arg)?;
        }
        for (i, &id) in r.ops.iter().enumerate() {
            let op = self.f.ops.try_get(id).ok_or_else(|| bad(format!("op #{} does not exist", id.index())))?;
            if !self.placed.insert(id) {
                return Err(bad(format!("op #{} appears twice", id.index())));
            }
            if op.kind.is_terminator() && i + 1 != r.ops.len() {
                return Err(bad(format!("`{}` must be the last op of the {what}", op.kind.name())));
            }
            for &v in &op.operands {
                self.value_ty(v)?;
                if !self.in_scope(v) {
                    return Err(bad(format!(
                        "`{}` uses value #{} outside the scope of its definition",
                        op.kind.name(),
                        v.index()
                    )));
                }
            }
            self.op(id, op)?;
            for (i, &res) in op.results.iter().enumerate() {
                self.define(res, ValueDef::Result(id, i as u32))?;
            }
        }
        for v in self.scopes.pop().unwrap_or_default() {
            self.depth[v.index()] = ENDED;
        }
        Ok(())
    }

    fn op(&mut self, id: OpId, op: &'a crate::function::Op) -> Result<()> {
        let name = op.kind.name();
        let n_operands = op.operands.len();
        let n_regions = op.regions.len();
        let expect_regions = match op.kind {
            OpKind::If | OpKind::While => 2,
            OpKind::For | OpKind::Pipeline(_) => 1,
            _ => 0,
        };
        if n_regions != expect_regions {
            return Err(bad(format!("`{name}` has {n_regions} regions instead of {expect_regions}")));
        }
        let result_types: Vec<Type> = op.results.iter().map(|&r| self.value_ty(r).cloned()).collect::<Result<_>>()?;
        match &op.kind {
            OpKind::Const(lit) => {
                if n_operands != 0 || result_types != [Type::Scalar(lit.value_type())] {
                    return Err(bad(format!(
                        "`const` #{} must have no operands and one {} result",
                        id.index(),
                        lit.value_type()
                    )));
                }
            }
            OpKind::Builtin(b) => {
                let (min, max) = b.arity();
                if n_operands < min || max.is_some_and(|m| n_operands > m) {
                    return Err(bad(format!(
                        "`{name}` takes {min}{} operands, not {n_operands}",
                        match max {
                            Some(m) if m == min => String::new(),
                            Some(m) => format!("..{m}"),
                            None => " or more".to_owned(),
                        }
                    )));
                }
                self.builtin_types(*b, op, &result_types)?;
            }
            OpKind::Cast => {
                if n_operands != 1 || result_types.len() != 1 {
                    return Err(bad("`cast` takes one operand and has one result"));
                }
            }
            OpKind::Map(callee) => {
                let FuncId(i) = *callee;
                let target =
                    self.m.functions.get(i as usize).ok_or_else(|| bad(format!("map of undefined function #{i}")))?;
                if n_operands != 1
                    || result_types.len() != 1
                    || target.params().len() != 1
                    || target.result_types.len() != 1
                {
                    return Err(bad(format!(
                        "`map` applies a function of one parameter and one result to one matrix (@{})",
                        target.name
                    )));
                }
            }
            OpKind::Call(callee) => {
                let FuncId(i) = *callee;
                let target =
                    self.m.functions.get(i as usize).ok_or_else(|| bad(format!("call of undefined function #{i}")))?;
                self.check_types(&op.operands, &target.param_types(), &format!("call of @{}", target.name))?;
                if result_types.len() != target.result_types.len() {
                    return Err(bad(format!("call of @{} expects {} results", target.name, target.result_types.len())));
                }
            }
            OpKind::If => {
                if n_operands != 1 {
                    return Err(bad("`if` takes one operand, the condition"));
                }
                for (r, what) in op.regions.iter().zip(["then", "else"]) {
                    if !r.args.is_empty() {
                        return Err(bad(format!("the {what} region of `if` takes no arguments")));
                    }
                    self.region(r, &format!("{what} region"))?;
                    let t = self.terminator(r, &format!("{what} region"))?;
                    if t.kind != OpKind::Yield {
                        return Err(bad(format!("the {what} region of `if` must end in `yield`")));
                    }
                    self.check_types(&t.operands, &result_types, &format!("yield of the {what} region"))?;
                }
            }
            OpKind::While => {
                let (before, after) = (&op.regions[0], &op.regions[1]);
                let init_types: Vec<Type> =
                    op.operands.iter().map(|&v| self.value_ty(v).cloned()).collect::<Result<_>>()?;
                self.check_types(&before.args, &init_types, "arguments of the before region")?;
                self.region(before, "before region")?;
                let cond = self.terminator(before, "before region")?;
                if cond.kind != OpKind::Condition || cond.operands.is_empty() {
                    return Err(bad("the before region of `while` must end in `condition(cond, ...)`"));
                }
                let passed = &cond.operands[1..];
                let after_types: Vec<Type> =
                    after.args.iter().map(|&v| self.value_ty(v).cloned()).collect::<Result<_>>()?;
                self.check_types(passed, &after_types, "condition")?;
                self.check_types(passed, &result_types, "results of `while`")?;
                self.region(after, "after region")?;
                let y = self.terminator(after, "after region")?;
                if y.kind != OpKind::Yield {
                    return Err(bad("the after region of `while` must end in `yield`"));
                }
                self.check_types(&y.operands, &init_types, "yield of the after region")?;
            }
            OpKind::For => {
                if n_operands < 3 {
                    return Err(bad("`for` takes from, to, step and the initial carried values"));
                }
                let body = &op.regions[0];
                let carried: Vec<Type> =
                    op.operands[3..].iter().map(|&v| self.value_ty(v).cloned()).collect::<Result<_>>()?;
                if body.args.len() != carried.len() + 1 {
                    return Err(bad("the body of `for` takes the induction variable and the carried values"));
                }
                self.check_types(&body.args[1..], &carried, "arguments of the for body")?;
                self.check_types(&op.results, &carried, "results of `for`")?;
                self.region(body, "for body")?;
                let y = self.terminator(body, "for body")?;
                if y.kind != OpKind::Yield {
                    return Err(bad("the body of `for` must end in `yield`"));
                }
                self.check_types(&y.operands, &carried, "yield of the for body")?;
            }
            OpKind::Pipeline(spec) => self.pipeline(op, spec, &result_types)?,
            OpKind::Yield | OpKind::Condition | OpKind::Return => {
                if !result_types.is_empty() {
                    return Err(bad(format!("`{name}` has no results")));
                }
            }
        }
        Ok(())
    }

    /// A builtin's results have the types its rule gives for its operand types, up to what
    /// either side does not know. Constants are not consulted: folding may turn an operand
    /// into one after lowering, and a constant only makes the rule's answer more precise.
    fn builtin_types(&self, b: Builtin, op: &crate::function::Op, result_types: &[Type]) -> Result<()> {
        let operand_types: Vec<&Type> = op.operands.iter().map(|&v| self.value_ty(v)).collect::<Result<_>>()?;
        let operands: Vec<Operand> = operand_types.iter().map(|ty| Operand { ty, constant: None }).collect();
        let inferred = match infer(b, &operands) {
            Ok(inferred) => inferred,
            // What an operand of unknown type holds is decided at run time, where the kernel
            // applies the same rule to the values.
            Err(_) if operand_types.iter().any(|t| **t == Type::Unknown) => return Ok(()),
            Err(error) => return Err(VerifyError::Operands { op: b.name(), error }),
        };
        if inferred.len() != result_types.len() {
            return Err(VerifyError::ResultCount {
                op: b.name(),
                recorded: result_types.len(),
                inferred: inferred.len(),
            });
        }
        for (index, (recorded, inferred)) in result_types.iter().zip(inferred).enumerate() {
            if !agrees(recorded, &inferred) {
                return Err(VerifyError::ResultType { op: b.name(), index, recorded: recorded.clone(), inferred });
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
    ) -> Result<()> {
        use crate::op::{Combine, Split};
        let body = &op.regions[0];
        if spec.splits.len() != op.operands.len() || body.args.len() != op.operands.len() {
            return Err(bad(format!(
                "`pipeline` has {} operands, {} split modes and {} body arguments",
                op.operands.len(),
                spec.splits.len(),
                body.args.len()
            )));
        }
        if spec.combines.len() != op.results.len() {
            return Err(bad(format!(
                "`pipeline` has {} results and {} combine modes",
                op.results.len(),
                spec.combines.len()
            )));
        }
        for (i, ((&v, &a), split)) in op.operands.iter().zip(&body.args).zip(&spec.splits).enumerate() {
            let (outer, inner) = (self.value_ty(v)?, self.value_ty(a)?);
            let ok = match (split, outer, inner) {
                // The body may know less of the columns than the input (a pipeline of a
                // function, inlined where its argument's shape is known), not more.
                (Split::Rows, Type::Matrix(o), Type::Matrix(i)) => {
                    o.vt == i.vt && (i.cols.is_none() || o.cols == i.cols)
                }
                (Split::Rows, _, _) => false,
                (Split::Broadcast, o, i) => o.compatible(i),
            };
            if !ok {
                return Err(bad(format!(
                    "pipeline input {i} ({}) of type {outer} cannot be seen as {inner}",
                    split.name()
                )));
            }
        }
        // The body is self-contained: verify it with no enclosing scope.
        let outer_floor = std::mem::replace(&mut self.floor, self.scopes.len() as u32 + 1);
        let checked = self.region(body, "pipeline body");
        self.floor = outer_floor;
        checked?;
        for &id in &body.ops {
            let inner = &self.f.ops[id];
            let allowed = match &inner.kind {
                OpKind::Const(_) | OpKind::Cast | OpKind::Yield => true,
                OpKind::Builtin(b) => b.is_pure(),
                _ => false,
            };
            if !allowed {
                return Err(bad(format!("`{}` cannot be part of a pipeline", inner.kind.name())));
            }
        }
        let y = self.terminator(body, "pipeline body")?;
        if y.kind != OpKind::Yield || y.operands.len() != op.results.len() {
            return Err(bad("the body of `pipeline` must end in `yield` of one value per result"));
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
                return Err(bad(format!(
                    "pipeline output {i} ({}) of type {ty} cannot combine partials of type {part}",
                    combine.name()
                )));
            }
        }
        Ok(())
    }
}

/// Verifies a module made by [`crate::pipeline::extract`]: one function whose body is one
/// pipeline and the return of its results. This is all a worker accepts.
pub fn pipeline_module(m: &Module) -> Result<()> {
    let [f] = m.functions.as_slice() else {
        return Err(bad(format!("a pipeline module holds one function, not {}", m.functions.len())));
    };
    if m.entry.0 != 0 {
        return Err(bad("the entry of a pipeline module is its only function"));
    }
    let ops: Vec<_> = f.body.ops.iter().map(|&id| f.ops.try_get(id).map(|o| &o.kind)).collect();
    if !matches!(ops.as_slice(), [Some(OpKind::Pipeline(_)), Some(OpKind::Return)]) {
        return Err(bad("a pipeline module's function is one pipeline and a return"));
    }
    function(f, m).map_err(|e| VerifyError::InPipeline(Box::new(e)))
}
