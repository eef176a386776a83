//! Statements and control flow.
//!
//! `break` and `continue` become flag variables: `break` sets its loop's break flag, which
//! the loop condition checks; statements after one that may break or continue run under
//! `if (!(break || continue))`. An `if` whose branch returns takes the statements after it
//! into both branches, so every path of the function ends in one `return`.

use std::collections::BTreeSet;

use daphne_frontend::Span;
use daphne_frontend::ast::{Expr, Stmt, StmtKind};
use daphne_ir::{Builtin, Literal, OpKind, Region, Type, Value, ValueType, count};

use crate::context::{
    BREAK, CONTINUE, Construct, LowerError, Lowerer, Result, Var, collect_assigned, compile_error, internal_error,
    parse_error,
};

/// Prefixes of the hidden flag variables of `break` and `continue`; the loop depth follows.
/// They cannot clash with user variables: `break` and `continue` are keywords.
fn flag(prefix: &str, depth: usize) -> String {
    format!("{prefix}#{depth}")
}

/// How a statement list ends.
pub(crate) enum Flow {
    Falls,
    Returns(Vec<Value>, Span),
}

/// Whether a statement contains `return` (outside nested function definitions).
fn contains_return(s: &Stmt) -> bool {
    match &s.kind {
        StmtKind::Return(_) => true,
        StmtKind::FuncDef(_) => false,
        _ => s.children().0.into_iter().any(contains_return),
    }
}

/// Whether every path through a statement ends in `return`.
fn always_returns(s: &Stmt) -> bool {
    match &s.kind {
        StmtKind::Return(_) => true,
        StmtKind::Block(stmts) => stmts.iter().any(always_returns),
        StmtKind::If { then_branch, else_branch: Some(e), .. } => always_returns(then_branch) && always_returns(e),
        _ => false,
    }
}

/// Whether a statement contains `break` or `continue` for the loop around it (not for loops
/// nested in it).
fn may_exit(s: &Stmt) -> bool {
    match &s.kind {
        StmtKind::Break | StmtKind::Continue => true,
        StmtKind::While { .. } | StmtKind::DoWhile { .. } | StmtKind::For { .. } | StmtKind::FuncDef(_) => false,
        _ => s.children().0.into_iter().any(may_exit),
    }
}

fn contains_break(s: &Stmt) -> bool {
    match &s.kind {
        StmtKind::Break => true,
        StmtKind::While { .. } | StmtKind::DoWhile { .. } | StmtKind::For { .. } | StmtKind::FuncDef(_) => false,
        _ => s.children().0.into_iter().any(contains_break),
    }
}

/// The type of a variable after an `if`, from its types in the two branches. DAPHNE rejects
/// differing data or value types; differing dimensions become unknown.
fn join_if(a: &Type, b: &Type) -> Option<Type> {
    match (a, b) {
        _ if a == b => Some(a.clone()),
        (Type::Unknown, _) | (_, Type::Unknown) => Some(Type::Unknown),
        (Type::Matrix(x), Type::Matrix(y)) => {
            let vt = match (x.vt, y.vt) {
                (Some(p), Some(q)) if p != q => return None,
                (Some(p), Some(_)) => Some(p),
                _ => None,
            };
            Some(join_matrix(x, y, vt))
        }
        (Type::Frame(x), Type::Frame(y)) => join_frame(x, y),
        _ => None,
    }
}

/// Two matrix types as one of value type `vt`: dimensions and representation kept where they
/// agree, unknown where they differ.
fn join_matrix(x: &daphne_ir::MatrixType, y: &daphne_ir::MatrixType, vt: Option<ValueType>) -> Type {
    let same = |p: Option<u64>, q: Option<u64>| if p == q { p } else { None };
    Type::Matrix(daphne_ir::MatrixType {
        vt,
        rows: same(x.rows, y.rows),
        cols: same(x.cols, y.cols),
        repr: if x.repr == y.repr { x.repr } else { None },
    })
}

/// The type of a loop-carried variable that enters with `a` and leaves an iteration with `b`:
/// the most general value type, dimensions kept where equal. `None` if the data type changes.
fn join_loop(a: &Type, b: &Type) -> Option<Type> {
    match (a, b) {
        _ if a == b => Some(a.clone()),
        (Type::Unknown, _) | (_, Type::Unknown) => Some(Type::Unknown),
        (Type::Scalar(x), Type::Scalar(y)) => Some(Type::Scalar(x.most_general(*y))),
        (Type::Matrix(x), Type::Matrix(y)) => {
            let vt = match (x.vt, y.vt) {
                (Some(p), Some(q)) => Some(p.most_general(q)),
                _ => None,
            };
            Some(join_matrix(x, y, vt))
        }
        (Type::Frame(x), Type::Frame(y)) => join_frame(x, y),
        _ => None,
    }
}

/// Two frame types of one schema as one, the number of rows unknown where they differ (a
/// frame that grows by `rbind` in a loop, or has other rows in each branch). `None` if the
/// schemas differ.
fn join_frame(x: &daphne_ir::FrameType, y: &daphne_ir::FrameType) -> Option<Type> {
    (x.columns == y.columns).then(|| {
        Type::Frame(daphne_ir::FrameType {
            rows: if x.rows == y.rows { x.rows } else { None },
            columns: x.columns.clone(),
        })
    })
}

/// The most rounds of type generalization for one loop before giving up. Types only grow
/// more general, so real scripts settle in two or three.
const MAX_GENERALIZATION_ROUNDS: usize = 16;

/// What a loop body region must do, for `loop_op`.
pub(crate) enum LoopKind<'s> {
    While { cond: &'s Expr, body: &'s Stmt },
    DoWhile { body: &'s Stmt, cond: &'s Expr },
    For { var: &'s str, body: &'s Stmt },
}

impl<'a> Lowerer<'a> {
    /// Lowers a statement list; used for the script, blocks, branches and function bodies.
    pub(crate) fn block(&mut self, stmts: &[&Stmt]) -> Result<Flow> {
        for (i, s) in stmts.iter().enumerate() {
            let rest = &stmts[i + 1..];
            if contains_return(s) {
                match &s.kind {
                    StmtKind::If { cond, then_branch, else_branch } => {
                        return self.if_returning(cond, then_branch, else_branch.as_deref(), rest, s.span);
                    }
                    // A block that returns somewhere continues with what follows it.
                    StmtKind::Block(inner) if !rest.is_empty() => {
                        let mut all: Vec<&Stmt> = inner.iter().collect();
                        all.extend_from_slice(rest);
                        self.push_scope();
                        let flow = self.block(&all);
                        self.pop_scope();
                        return flow;
                    }
                    _ => {}
                }
            }
            // Statements after a `return` never run; DAPHNE accepts and ignores them.
            if let Flow::Returns(values, span) = self.stmt(s)? {
                return Ok(Flow::Returns(values, span));
            }
            if !rest.is_empty() && self.loop_depth > 0 && may_exit(s) {
                self.guard_rest(rest, s.span)?;
                return Ok(Flow::Falls);
            }
        }
        Ok(Flow::Falls)
    }

    /// Lowers `rest` only if neither `break` nor `continue` of the current loop happened.
    fn guard_rest(&mut self, rest: &[&Stmt], span: Span) -> Result<()> {
        let depth = self.loop_depth;
        let flags: Vec<Value> = [flag(BREAK, depth), flag(CONTINUE, depth)]
            .iter()
            .filter_map(|n| self.lookup(n))
            .map(|v| v.value)
            .collect();
        let cond = match flags[..] {
            [] => return Err(internal_error(span, "no loop flags")),
            [one] => one,
            [a, b] => self.builtin1(Builtin::EwOr, vec![a, b], span)?,
            _ => return Err(internal_error(span, "too many loop flags")),
        };
        let names = self.assigned_outer(rest);
        self.if_merge(cond, &mut |_| Ok(()), &mut |l| l.block(rest).map(|_| ()), names, span)
    }

    /// Lowers one statement. The variables an `if`, a loop or a block creates vanish after it
    /// (DaphneDSL's scoping); they are remembered, so that a later use can say why.
    pub(crate) fn stmt(&mut self, s: &Stmt) -> Result<Flow> {
        let construct = match &s.kind {
            StmtKind::If { .. } => Some(Construct::If),
            StmtKind::While { .. } | StmtKind::DoWhile { .. } | StmtKind::For { .. } => Some(Construct::Loop),
            StmtKind::Block(_) => Some(Construct::Block),
            _ => None,
        };
        let flow = self.stmt_kind(s)?;
        if let Some(construct) = construct {
            let mut names = BTreeSet::new();
            collect_assigned(s, &mut names, self.loop_depth);
            let mut gone: Vec<(String, Construct, Span)> =
                names.into_iter().filter(|n| !n.contains('#')).map(|n| (n, construct, s.span)).collect();
            if let StmtKind::For { var, .. } = &s.kind {
                gone.push((var.name.clone(), Construct::LoopVariable, var.span));
            }
            for (name, construct, span) in gone {
                // The outermost construct explains it (an `if` rather than the block of its
                // branch); of unrelated ones, the first.
                let inner = |(_, at): &(Construct, Span)| span.start <= at.start && at.end <= span.end;
                if self.lookup(&name).is_none() && self.ctx().vanished.get(&name).is_none_or(inner) {
                    self.ctx().vanished.insert(name, (construct, span));
                }
            }
        }
        Ok(flow)
    }

    /// The error for a use of `name`, which is not defined, with a note where the variable
    /// existed only inside an `if`, a loop or a block before.
    pub(crate) fn undefined_variable(&mut self, name: &str, span: Span) -> LowerError {
        let e = parse_error(span, format!("variable `{name}` is not defined"));
        let Some(&(construct, at)) = self.ctx().vanished.get(name) else {
            // Otherwise the visible variables closest in spelling (not the hidden loop flags).
            let scopes = &self.ctx().scopes;
            let visible = scopes.iter().flat_map(|s| s.keys()).map(String::as_str).filter(|n| !n.contains('#'));
            return match crate::suggest::did_you_mean(name, visible) {
                Some(help) => e.with_help(help),
                None => e,
            };
        };
        let line = self.program.files[self.file].line_col(at.start).line;
        let (what, rule, help) = match construct {
            Construct::If => (
                "the `if` that assigns it",
                format!(
                    "`{name}` is first assigned inside the `if` at line {line}; in DaphneDSL a variable first assigned in a branch of an `if` (even in both branches) is not visible after the `if`"
                ),
                format!("assign `{name}` before the `if` (e.g. `{name} = 0;`) to use it after it"),
            ),
            Construct::Loop => (
                "the loop that assigns it",
                format!(
                    "`{name}` is first assigned inside the loop at line {line}; in DaphneDSL a variable first assigned in a loop body is not visible after the loop"
                ),
                format!("assign `{name}` before the loop (e.g. `{name} = 0;`) to use it after it"),
            ),
            Construct::Block => (
                "the block that assigns it",
                format!(
                    "`{name}` is first assigned inside the block at line {line}; in DaphneDSL a variable first assigned in a block `{{ }}` is not visible after the block"
                ),
                format!("assign `{name}` before the block (e.g. `{name} = 0;`) to use it after it"),
            ),
            Construct::LoopVariable => (
                "the loop variable",
                format!(
                    "`{name}` is the variable of the `for` loop at line {line}, which is visible only inside the loop"
                ),
                format!(
                    "to keep a value of `{name}`, assign it inside the loop to a variable that exists before the loop"
                ),
            ),
        };
        e.with_secondary(at, what).with_note(rule).with_help(help)
    }

    fn stmt_kind(&mut self, s: &Stmt) -> Result<Flow> {
        match &s.kind {
            StmtKind::Expr(e) => {
                let values = self.expr_multi(e)?;
                if let [v] = values[..]
                    && self.echo
                    && self.file == 0
                    && self.stack.len() == 1
                    && self.ctx().scopes.len() == 1
                {
                    let newline = self.constant_value(Literal::Bool(true), s.span)?;
                    let to_stderr = self.constant_value(Literal::Bool(false), s.span)?;
                    self.builtin(daphne_ir::Builtin::Print, vec![v, newline, to_stderr], s.span)?;
                }
            }
            StmtKind::Assign { targets, value } => self.assign_stmt(targets, value, s.span)?,
            StmtKind::Block(stmts) => {
                self.push_scope();
                let stmts: Vec<&Stmt> = stmts.iter().collect();
                let flow = self.block(&stmts);
                self.pop_scope_merge();
                return flow;
            }
            StmtKind::If { cond, then_branch, else_branch } => {
                let c = self.expr(cond)?;
                let c = self.condition_value(c, cond.span)?;
                let mut branch_stmts: Vec<&Stmt> = vec![then_branch];
                branch_stmts.extend(else_branch.as_deref());
                let names = self.assigned_outer(&branch_stmts);
                self.if_merge(
                    c,
                    &mut |l| l.branch(then_branch),
                    &mut |l| match else_branch {
                        Some(e) => l.branch(e),
                        None => Ok(()),
                    },
                    names,
                    s.span,
                )?;
            }
            StmtKind::While { cond, body } => self.loop_stmt(LoopKind::While { cond, body }, None, s.span)?,
            StmtKind::DoWhile { body, cond } => self.loop_stmt(LoopKind::DoWhile { body, cond }, None, s.span)?,
            StmtKind::For { var, from, to, step, body } => {
                self.for_stmt(&var.name, from, to, step.as_ref(), body, s.span)?
            }
            StmtKind::Break | StmtKind::Continue => {
                let depth = self.loop_depth;
                let what = if matches!(s.kind, StmtKind::Break) { BREAK } else { CONTINUE };
                if depth == 0 {
                    return Err(parse_error(s.span, format!("`{what}` outside of a loop")));
                }
                let t = self.constant_value(Literal::Bool(true), s.span)?;
                self.define(&flag(what, depth), t, false);
            }
            StmtKind::Return(values) => {
                if self.stack.len() < 2 {
                    return Err(parse_error(s.span, "`return` outside of a function"));
                }
                if self.loop_depth > 0 {
                    return Err(parse_error(s.span, "`return` inside a loop is not supported"));
                }
                let vals = values.iter().map(|e| self.expr(e)).collect::<Result<Vec<_>>>()?;
                return Ok(Flow::Returns(vals, s.span));
            }
            StmtKind::FuncDef(f) => {
                return Err(parse_error(
                    f.name.span,
                    "functions must be defined at the top level of a script, not inside a block or another function",
                ));
            }
            StmtKind::Import { path, alias } => self.import(path, alias.as_ref(), s.span)?,
            StmtKind::Error => return Err(internal_error(s.span, "erroneous statement reached lowering")),
        }
        Ok(Flow::Falls)
    }

    /// `import "path" [as "alias"];`: runs the imported script's statements and makes its
    /// variables and functions (not those it imported itself) visible as `prefix.name`, the
    /// prefix being the alias or the file's stem, as DAPHNE does.
    fn import(
        &mut self,
        path: &daphne_frontend::ast::StrLit,
        alias: Option<&daphne_frontend::ast::StrLit>,
        span: Span,
    ) -> Result<()> {
        if self.stack.len() != 1 || self.ctx().scopes.len() != self.top_scopes || self.loop_depth > 0 {
            return Err(parse_error(span, "imports can only be done in the main scope"));
        }
        let targets = match self.program.imports.get(&(self.file, path.value.clone())) {
            Some(Ok(targets)) => targets.clone(),
            Some(Err(e)) => return Err(parse_error(path.span, e.to_string())),
            None => return Err(parse_error(path.span, format!("the import path doesn't exist: {}", path.value))),
        };
        let written = std::path::Path::new(&path.value);
        let mut prefix = match alias {
            Some(a) => a.value.clone(),
            None => written.file_stem().map_or(String::new(), |s| s.to_string_lossy().into_owned()),
        };
        // A path without an extension names a library: each of its files gets its stem
        // appended to the prefix (`algorithms.kmeans.x`), as in DAPHNE.
        let library = written.extension().is_none();
        // A prefix already in use gets the parent directory's name in front, as in DAPHNE.
        let taken = |l: &mut Self, p: &str| {
            let clash = |n: &str| n.strip_prefix(p).is_some_and(|r| r.starts_with('.') && !r[1..].contains('.'));
            l.ctx().scopes.iter().any(|s| s.keys().any(|n| clash(n))) || l.namespaces[l.ns].keys().any(|n| clash(n))
        };
        if !library && taken(self, &prefix) {
            if let Some(a) = alias {
                return Err(parse_error(
                    a.span,
                    format!("alias \"{}\" results in a name clash with another prefix", a.value),
                ));
            }
            let parent = written
                .parent()
                .and_then(|p| p.file_name())
                .or_else(|| {
                    let file = std::path::Path::new(&self.program.files[targets[0]].name);
                    file.parent().and_then(|p| p.file_name())
                })
                .map_or(String::new(), |s| s.to_string_lossy().into_owned());
            prefix = format!("{parent}.{prefix}");
        }
        for &target in &targets {
            if self.imported.contains(&target) {
                let name = &self.program.files[target].name;
                return Err(parse_error(path.span, format!("you cannot import the same file twice: {name}")));
            }
            self.imported.push(target);
        }
        for target in targets {
            let prefix = if library {
                let name = std::path::Path::new(&self.program.files[target].name);
                format!("{prefix}.{}", name.file_stem().map_or(String::new(), |s| s.to_string_lossy().into_owned()))
            } else {
                prefix.clone()
            };
            self.import_file(target, &prefix)?;
        }
        Ok(())
    }

    /// Runs an imported script's statements and defines its variables and functions as
    /// `prefix.name` in the importer.
    fn import_file(&mut self, target: usize, prefix: &str) -> Result<()> {
        let script = &self.program.scripts[target];
        let ns = self.namespaces.len();
        self.namespaces.push(crate::context::own_functions(script, ns, target)?);
        let stmts: Vec<&Stmt> = script.stmts.iter().filter(|s| !matches!(s.kind, StmtKind::FuncDef(_))).collect();
        // The imported script sees none of the importer's variables (DAPHNE extracts the
        // importer's scope while visiting it) and its own imports start afresh.
        let saved = (self.ns, self.file, self.top_scopes, std::mem::take(&mut self.imported));
        let outer = std::mem::replace(&mut self.ctx().scopes, vec![std::collections::HashMap::new()]);
        (self.ns, self.file, self.top_scopes) = (ns, target, 1);
        let flow = self.block(&stmts);
        let vars = std::mem::replace(&mut self.ctx().scopes, outer).pop().unwrap_or_default();
        (self.ns, self.file, self.top_scopes, self.imported) = saved;
        match flow.map_err(|e| e.in_file(target))? {
            Flow::Falls => {}
            Flow::Returns(_, s) => return Err(parse_error(s, "`return` outside of a function").in_file(target)),
        }
        let mut vars: Vec<(String, crate::context::Var)> = vars.into_iter().filter(|(n, _)| !n.contains('.')).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, var) in vars {
            self.define(&format!("{prefix}.{name}"), var.value, false);
        }
        let own: Vec<(String, Vec<crate::context::FuncRef>)> =
            self.namespaces[ns].iter().filter(|(n, _)| !n.contains('.')).map(|(n, f)| (n.clone(), f.clone())).collect();
        for (name, frefs) in own {
            self.namespaces[self.ns].entry(format!("{prefix}.{name}")).or_default().extend(frefs);
        }
        Ok(())
    }

    /// A branch of an `if`: its own scope, with assignments to outer variables kept.
    fn branch(&mut self, s: &Stmt) -> Result<()> {
        self.push_scope();
        let flow = self.block(&[s]);
        self.pop_scope_merge();
        match flow? {
            Flow::Falls => Ok(()),
            Flow::Returns(_, span) => Err(internal_error(span, "unexpected return in a branch")),
        }
    }

    pub(crate) fn condition_value(&mut self, v: Value, span: Span) -> Result<Value> {
        match self.ty(v) {
            Type::Scalar(ValueType::Bool) => Ok(v),
            Type::Scalar(ValueType::Str) => Err(compile_error(span, "a condition must be a number, not a string")),
            Type::Frame(_) | Type::List(_) => Err(compile_error(span, "a condition must be a single value")),
            _ => self.emit1(OpKind::Cast, vec![v], Type::Scalar(ValueType::Bool), span),
        }
    }

    /// Emits an `if` whose branches are filled by `then_fn` and `else_fn`; the variables
    /// `names` (which exist before) leave it with the values the taken branch gave them.
    pub(crate) fn if_merge(
        &mut self,
        cond: Value,
        then_fn: &mut dyn FnMut(&mut Self) -> Result<()>,
        else_fn: &mut dyn FnMut(&mut Self) -> Result<()>,
        names: Vec<String>,
        span: Span,
    ) -> Result<()> {
        let mut branches = Vec::new();
        let fns: [BranchFn<'_, 'a>; 2] = [then_fn, else_fn];
        for f in fns {
            let (region, values) = self.region(vec![], |l| {
                l.push_scope();
                let r = f(l);
                let values: Vec<Value> = names.iter().filter_map(|n| l.lookup(n).map(|v| v.value)).collect();
                l.pop_scope();
                r.map(|_| values)
            })?;
            branches.push((region, values));
        }
        let mut types = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let a = self.ty(branches[0].1[i]);
            let b = self.ty(branches[1].1[i]);
            let t = join_if(&a, &b).ok_or_else(|| {
                parse_error(
                    span,
                    format!(
                        "type of variable `{name}` after if-statement is ambiguous, could be either {a} (then-branch) or {b} (else-branch)"
                    ),
                )
            })?;
            types.push(t);
        }
        let mut regions = Vec::new();
        for (mut region, values) in branches {
            self.finish_region(&mut region, None, values, &types, OpKind::Yield, span)?;
            regions.push(region);
        }
        let id = self.emit(OpKind::If, vec![cond], types, regions, span)?;
        let results = self.ctx().f.ops[id].results.clone();
        for (name, v) in names.iter().zip(results) {
            let readonly = self.lookup(name).is_some_and(|v| v.readonly);
            self.define(name, v, readonly);
        }
        Ok(())
    }

    /// Appends the terminator `term(first?, values...)` to a built region, casting each value
    /// to its type in `types` first.
    pub(crate) fn finish_region(
        &mut self,
        region: &mut Region,
        first: Option<Value>,
        values: Vec<Value>,
        types: &[Type],
        term: OpKind,
        span: Span,
    ) -> Result<()> {
        self.ctx().regions.push(std::mem::take(&mut region.ops));
        let result = (|| {
            let mut operands: Vec<Value> = first.into_iter().collect();
            for (v, t) in values.into_iter().zip(types) {
                operands.push(self.cast_to(v, t, span)?);
            }
            self.emit(term, operands, vec![], vec![], span)
        })();
        region.ops = self.ctx().regions.pop().unwrap_or_default();
        result.map(|_| ())
    }

    /// An `if` with a `return` in a branch: the statements after it go into both branches,
    /// each of which must then return; the `if` yields the returned values.
    fn if_returning(
        &mut self,
        cond: &Expr,
        then_branch: &Stmt,
        else_branch: Option<&Stmt>,
        rest: &[&Stmt],
        span: Span,
    ) -> Result<Flow> {
        if self.loop_depth > 0 {
            return Err(parse_error(span, "`return` inside a loop is not supported"));
        }
        let c = self.expr(cond)?;
        let c = self.condition_value(c, cond.span)?;
        let mut branches = Vec::new();
        for branch in [Some(then_branch), else_branch] {
            let (region, values) = self.region(vec![], |l| {
                l.push_scope();
                let mut stmts: Vec<&Stmt> = branch.into_iter().collect();
                // A branch that always returns never reaches the statements after the `if`.
                if !branch.is_some_and(always_returns) {
                    stmts.extend_from_slice(rest);
                }
                let flow = l.block(&stmts);
                l.pop_scope();
                match flow? {
                    Flow::Returns(values, _) => Ok(values),
                    Flow::Falls => Err(parse_error(span, "not every path through this `if` ends in `return`")),
                }
            })?;
            branches.push((region, values));
        }
        if branches[0].1.len() != branches[1].1.len() {
            return Err(parse_error(span, "the branches of this `if` return different numbers of values"));
        }
        let mut types = Vec::new();
        for i in 0..branches[0].1.len() {
            let a = self.ty(branches[0].1[i]);
            let b = self.ty(branches[1].1[i]);
            types.push(join_loop(&a, &b).ok_or_else(|| {
                compile_error(span, format!("the branches return value {i} with different types, {a} and {b}"))
            })?);
        }
        let mut regions = Vec::new();
        for (mut region, values) in branches {
            self.finish_region(&mut region, None, values, &types, OpKind::Yield, span)?;
            regions.push(region);
        }
        let id = self.emit(OpKind::If, vec![c], types, regions, span)?;
        Ok(Flow::Returns(self.ctx().f.ops[id].results.clone(), span))
    }

    fn for_stmt(
        &mut self,
        var: &str,
        from: &Expr,
        to: &Expr,
        step: Option<&Expr>,
        body: &Stmt,
        span: Span,
    ) -> Result<()> {
        let si64 = Type::Scalar(ValueType::Si64);
        let from = self.expr(from)?;
        let from = self.cast_to(from, &si64, span)?;
        let to_v = self.expr(to)?;
        let to_v = self.cast_to(to_v, &si64, span)?;
        let step = match step {
            Some(e) => {
                let s = self.expr(e)?;
                self.cast_to(s, &si64, span)?
            }
            None => {
                // As DAPHNE: -1 + 2 * (to >= from), so +1 or -1.
                let ge = self.builtin1(Builtin::EwGe, vec![to_v, from], span)?;
                let ge = self.cast_to(ge, &si64, span)?;
                let two = self.constant_value(Literal::Si64(2), span)?;
                let m1 = self.constant_value(Literal::Si64(-1), span)?;
                let twice = self.builtin1(Builtin::EwMul, vec![two, ge], span)?;
                self.builtin1(Builtin::EwAdd, vec![m1, twice], span)?
            }
        };
        self.loop_stmt(LoopKind::For { var, body }, Some([from, to_v, step]), span)
    }

    /// Lowers a loop to a `while` or `for` op, generalizing the types of the loop-carried
    /// variables until they are stable.
    pub(crate) fn loop_stmt(&mut self, kind: LoopKind, bounds: Option<[Value; 3]>, span: Span) -> Result<()> {
        let body = match &kind {
            LoopKind::While { body, .. } | LoopKind::DoWhile { body, .. } | LoopKind::For { body, .. } => *body,
        };
        // A `for` whose body breaks becomes a `while` over a hidden counter.
        if let (LoopKind::For { var, body }, Some(b)) = (&kind, bounds)
            && contains_break(body)
        {
            return self.for_as_while(var, body, b, span);
        }
        let depth = self.loop_depth + 1;
        let has_break = contains_break(body);
        // The break flag lives in a scope around the loop, so it vanishes after it.
        self.push_scope();
        if has_break {
            let f = self.constant_value(Literal::Bool(false), span)?;
            self.define(&flag(BREAK, depth), f, false);
        }
        let mut names = BTreeSet::new();
        collect_assigned(body, &mut names, depth);
        let names: Vec<String> = names.into_iter().filter(|n| self.lookup(n).is_some()).collect();
        let inits: Vec<Value> = names.iter().filter_map(|n| self.lookup(n).map(|v| v.value)).collect();
        let types: Vec<Type> = inits.iter().map(|&v| self.ty(v)).collect();

        let (regions, result_types) =
            self.generalize(&names, types, span, &mut |l, types| l.loop_regions(&kind, &names, types, depth, span))?;
        let mut operands: Vec<Value> = bounds.map(|b| b.to_vec()).unwrap_or_default();
        for (v, t) in inits.iter().zip(&result_types) {
            operands.push(self.cast_to(*v, t, span)?);
        }
        let op = if bounds.is_some() { OpKind::For } else { OpKind::While };
        let id = self.emit(op, operands, result_types, regions, span)?;
        let results = self.ctx().f.ops[id].results.clone();
        self.pop_scope();
        for (name, v) in names.iter().zip(results) {
            if !name.starts_with(BREAK) {
                let readonly = self.lookup(name).is_some_and(|v| v.readonly);
                self.define(name, v, readonly);
            }
        }
        Ok(())
    }

    /// Builds a loop's regions with `build` for carried variables of `types`, generalizing the
    /// types (and rebuilding from a snapshot) until what the body leaves equals what it gets.
    /// Returns the finished regions and the settled types.
    fn generalize(
        &mut self,
        names: &[String],
        mut types: Vec<Type>,
        span: Span,
        build: &mut dyn FnMut(&mut Self, &[Type]) -> Result<LoopRegions>,
    ) -> Result<(Vec<Region>, Vec<Type>)> {
        for _ in 0..MAX_GENERALIZATION_ROUNDS {
            let snapshot = (self.ctx().f.clone(), self.ctx().regions.clone(), self.ctx().scopes.clone());
            let built = build(self, &types)?;
            let mut next = Vec::new();
            for (i, (t, v)) in types.iter().zip(built.carried_out()).enumerate() {
                let out = self.ty(*v);
                next.push(join_loop(t, &out).ok_or_else(|| {
                    compile_error(
                        span,
                        format!("variable `{}` changes its data type in the loop, from {t} to {out}", names[i]),
                    )
                })?);
            }
            if next == types {
                return Ok((built.finish(self, &types, span)?, types));
            }
            let ctx = self.ctx();
            (ctx.f, ctx.regions, ctx.scopes) = snapshot;
            types = next;
        }
        Err(compile_error(span, "the types of the loop's variables do not settle"))
    }

    /// Builds the regions of a loop for carried variables `names` of types `types`.
    fn loop_regions(
        &mut self,
        kind: &LoopKind,
        names: &[String],
        types: &[Type],
        depth: usize,
        span: Span,
    ) -> Result<LoopRegions> {
        let new_args =
            |l: &mut Self, n: usize| -> Vec<Value> { (0..n).map(|i| l.ctx().f.new_arg(types[i].clone())).collect() };
        let bind = |l: &mut Self, args: &[Value]| {
            for (n, &a) in names.iter().zip(args) {
                let readonly = l.lookup(n).is_some_and(|v| v.readonly);
                l.define(n, a, readonly);
            }
        };
        let current =
            |l: &mut Self| -> Vec<Value> { names.iter().filter_map(|n| l.lookup(n).map(|v| v.value)).collect() };
        let brk = flag(BREAK, depth);
        // The loop condition, false once the loop's break flag is set.
        let cond_unless_break = |l: &mut Self, cond: &Expr| -> Result<Value> {
            let Some(b) = l.lookup(&brk) else {
                let c = l.expr(cond)?;
                return l.condition_value(c, cond.span);
            };
            // Once the break flag is set the condition is false, and is not evaluated.
            let bool_t = [Type::Scalar(ValueType::Bool)];
            let (mut then_r, f) = l.region(vec![], |l| l.constant_value(Literal::Bool(false), span))?;
            let (mut else_r, c) = l.region(vec![], |l| {
                let c = l.expr(cond)?;
                l.condition_value(c, cond.span)
            })?;
            l.finish_region(&mut then_r, None, vec![f], &bool_t, OpKind::Yield, span)?;
            l.finish_region(&mut else_r, None, vec![c], &bool_t, OpKind::Yield, span)?;
            let id = l.emit(OpKind::If, vec![b.value], bool_t.to_vec(), vec![then_r, else_r], span)?;
            Ok(l.ctx().f.ops[id].results[0])
        };
        let body_fn = |l: &mut Self, body: &Stmt| -> Result<()> {
            l.loop_depth += 1;
            l.push_scope();
            let f = l.constant_value(Literal::Bool(false), span);
            let r = f.and_then(|f| {
                l.define(&flag(CONTINUE, depth), f, false);
                l.block(&[body])
            });
            l.pop_scope_merge();
            l.loop_depth -= 1;
            match r? {
                Flow::Falls => Ok(()),
                Flow::Returns(_, s) => Err(parse_error(s, "`return` inside a loop is not supported")),
            }
        };
        match kind {
            LoopKind::While { cond, body } => {
                let before_args = new_args(self, names.len());
                let (before, (c, passed)) = self.region(before_args.clone(), |l| {
                    l.push_scope();
                    bind(l, &before_args);
                    let c = cond_unless_break(l, cond);
                    let passed = current(l);
                    l.pop_scope();
                    Ok((c?, passed))
                })?;
                let after_args = new_args(self, names.len());
                let (after, out) = self.region(after_args.clone(), |l| {
                    l.push_scope();
                    bind(l, &after_args);
                    let r = body_fn(l, body);
                    let out = current(l);
                    l.pop_scope();
                    r.map(|_| out)
                })?;
                Ok(LoopRegions::While { before, cond: c, passed, after, carried_out: out.clone(), out })
            }
            LoopKind::DoWhile { body, cond } => {
                let before_args = new_args(self, names.len());
                let (before, (c, passed)) = self.region(before_args.clone(), |l| {
                    l.push_scope();
                    bind(l, &before_args);
                    let r = body_fn(l, body);
                    let c = r.and_then(|_| cond_unless_break(l, cond));
                    let passed = current(l);
                    l.pop_scope();
                    Ok((c?, passed))
                })?;
                let after_args = new_args(self, names.len());
                let (after, ()) = self.region(after_args.clone(), |_| Ok(()))?;
                Ok(LoopRegions::While {
                    before,
                    cond: c,
                    passed: passed.clone(),
                    after,
                    carried_out: passed,
                    out: after_args,
                })
            }
            LoopKind::For { var, body } => {
                let iv = self.ctx().f.new_arg(Type::Scalar(ValueType::Si64));
                let args = new_args(self, names.len());
                let mut all = vec![iv];
                all.extend(&args);
                let (region, out) = self.region(all, |l| {
                    l.push_scope();
                    bind(l, &args);
                    l.define(var, iv, true);
                    let r = body_fn(l, body);
                    let out = current(l);
                    l.pop_scope();
                    r.map(|_| out)
                })?;
                Ok(LoopRegions::For { body: region, carried_out: out })
            }
        }
    }

    /// `for (v in from:to:step) body` with a `break` in the body, as a `while` loop over a
    /// hidden counter.
    fn for_as_while(&mut self, var: &str, body: &Stmt, [from, to, step]: [Value; 3], span: Span) -> Result<()> {
        let depth = self.loop_depth + 1;
        let counter = format!("for#{depth}");
        self.push_scope();
        self.define(&counter, from, false);
        let zero = self.constant_value(Literal::Si64(0), span)?;
        let up = self.builtin1(Builtin::EwGt, vec![step, zero], span)?;
        let cond_fn = ForCond { counter: counter.clone(), to, up };
        let r = self.while_with(var, body, &cond_fn, step, span);
        self.pop_scope_merge();
        r
    }

    /// The `while` form of a breaking `for` loop.
    fn while_with(&mut self, var: &str, body: &Stmt, cond: &ForCond, step: Value, span: Span) -> Result<()> {
        let depth = self.loop_depth + 1;
        let f = self.constant_value(Literal::Bool(false), span)?;
        self.define(&flag(BREAK, depth), f, false);
        let mut names = BTreeSet::new();
        collect_assigned(body, &mut names, depth);
        names.insert(cond.counter.clone());
        let names: Vec<String> = names.into_iter().filter(|n| self.lookup(n).is_some()).collect();
        let inits: Vec<Value> = names.iter().filter_map(|n| self.lookup(n).map(|v| v.value)).collect();
        let types: Vec<Type> = inits.iter().map(|&v| self.ty(v)).collect();
        let brk = flag(BREAK, depth);
        let build = &mut |l: &mut Self, types: &[Type]| -> Result<LoopRegions> {
            let before_args: Vec<Value> = types.iter().map(|t| l.ctx().f.new_arg(t.clone())).collect();
            let (before, (c, passed)) = l.region(before_args.clone(), |l| {
                l.push_scope();
                for (n, &a) in names.iter().zip(&before_args) {
                    l.define(n, a, false);
                }
                let r = (|| {
                    let i = l.lookup(&cond.counter).map(|v| v.value).ok_or_else(|| internal_error(span, "counter"))?;
                    // (up && i <= to) || (!up && i >= to)
                    let le = l.builtin1(Builtin::EwLe, vec![i, cond.to], span)?;
                    let ge = l.builtin1(Builtin::EwGe, vec![i, cond.to], span)?;
                    let down = l.builtin1(crate::context::prefix("!", span)?, vec![cond.up], span)?;
                    let a = l.builtin1(Builtin::EwAnd, vec![cond.up, le], span)?;
                    let b = l.builtin1(Builtin::EwAnd, vec![down, ge], span)?;
                    let in_range = l.builtin1(Builtin::EwOr, vec![a, b], span)?;
                    let in_range = l.condition_value(in_range, span)?;
                    let b = l.lookup(&brk).map(|v| v.value).ok_or_else(|| internal_error(span, "break flag"))?;
                    let not_b = l.builtin1(crate::context::prefix("!", span)?, vec![b], span)?;
                    let c = l.builtin1(Builtin::EwAnd, vec![not_b, in_range], span)?;
                    l.condition_value(c, span)
                })();
                let passed: Vec<Value> = names.iter().filter_map(|n| l.lookup(n).map(|v| v.value)).collect();
                l.pop_scope();
                Ok((r?, passed))
            })?;
            let after_args: Vec<Value> = types.iter().map(|t| l.ctx().f.new_arg(t.clone())).collect();
            let (after, out) = l.region(after_args.clone(), |l| {
                l.push_scope();
                for (n, &a) in names.iter().zip(&after_args) {
                    l.define(n, a, false);
                }
                let r = (|| {
                    let i = l.lookup(&cond.counter).map(|v| v.value).ok_or_else(|| internal_error(span, "counter"))?;
                    l.loop_depth += 1;
                    l.push_scope();
                    l.define(var, i, true);
                    let f = l.constant_value(Literal::Bool(false), span)?;
                    l.define(&flag(CONTINUE, depth), f, false);
                    let flow = l.block(&[body]);
                    l.pop_scope_merge();
                    l.loop_depth -= 1;
                    if let Flow::Returns(_, s) = flow? {
                        return Err(parse_error(s, "`return` inside a loop is not supported"));
                    }
                    let next = l.builtin1(Builtin::EwAdd, vec![i, step], span)?;
                    l.define(&cond.counter, next, false);
                    Ok(())
                })();
                let out: Vec<Value> = names.iter().filter_map(|n| l.lookup(n).map(|v| v.value)).collect();
                l.pop_scope();
                r.map(|_| out)
            })?;
            Ok(LoopRegions::While { before, cond: c, passed: passed.clone(), after, carried_out: out.clone(), out })
        };
        let (regions, result_types) = self.generalize(&names, types, span, build)?;
        let mut operands = Vec::new();
        for (v, t) in inits.iter().zip(&result_types) {
            operands.push(self.cast_to(*v, t, span)?);
        }
        let id = self.emit(OpKind::While, operands, result_types, regions, span)?;
        let results = self.ctx().f.ops[id].results.clone();
        for (name, v) in names.iter().zip(results) {
            self.define(name, v, false);
        }
        Ok(())
    }

    fn assign_stmt(&mut self, targets: &[daphne_frontend::ast::AssignTarget], value: &Expr, span: Span) -> Result<()> {
        let values = if targets.len() == 1 { vec![self.expr(value)?] } else { self.expr_multi(value)? };
        if values.len() != targets.len() {
            return Err(parse_error(
                span,
                format!(
                    "{} {} assigned to {}",
                    count(values.len(), "value", "values"),
                    if values.len() == 1 { "is" } else { "are" },
                    count(targets.len(), "variable", "variables")
                ),
            ));
        }
        for (t, v) in targets.iter().zip(values) {
            let name = t.name.text();
            match &t.index {
                None => self.assign(&name, v, t.span)?,
                Some(ix) => {
                    let Some(Var { value: x, .. }) = self.lookup(&name) else {
                        return Err(self.undefined_variable(&name, t.name.span));
                    };
                    let updated = self.insert(x, v, ix.rows.as_ref(), ix.cols.as_ref(), t.span)?;
                    self.assign(&name, updated, t.span)?;
                }
            }
        }
        Ok(())
    }
}

/// A closure that fills one branch of an `if`.
type BranchFn<'f, 'a> = &'f mut dyn FnMut(&mut Lowerer<'a>) -> Result<()>;

/// The regions of a loop before their terminators are added.
pub(crate) enum LoopRegions {
    While { before: Region, cond: Value, passed: Vec<Value>, after: Region, carried_out: Vec<Value>, out: Vec<Value> },
    For { body: Region, carried_out: Vec<Value> },
}

impl LoopRegions {
    /// The values the carried variables have at the end of an iteration.
    fn carried_out(&self) -> &[Value] {
        match self {
            LoopRegions::While { carried_out, .. } | LoopRegions::For { carried_out, .. } => carried_out,
        }
    }

    /// Adds the terminators (with casts to the settled types) and returns the op's regions.
    fn finish(self, l: &mut Lowerer, types: &[Type], span: Span) -> Result<Vec<Region>> {
        match self {
            LoopRegions::While { mut before, cond, passed, mut after, out, .. } => {
                l.finish_region(&mut before, Some(cond), passed, types, OpKind::Condition, span)?;
                l.finish_region(&mut after, None, out, types, OpKind::Yield, span)?;
                Ok(vec![before, after])
            }
            LoopRegions::For { mut body, carried_out } => {
                l.finish_region(&mut body, None, carried_out, types, OpKind::Yield, span)?;
                Ok(vec![body])
            }
        }
    }
}

/// The condition of a breaking `for` loop: the counter's name, the bound and the direction.
struct ForCond {
    counter: String,
    to: Value,
    up: Value,
}
