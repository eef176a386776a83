//! What lowering works with: the program and the data files it reads, its errors, the
//! `Lowerer` and the state of the function being lowered. The modules that lower statements
//! (`stmt`), expressions (`expr`) and built-in calls (`builtins`) extend `Lowerer` from
//! above; this module names none of them.

#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use daphne_frontend::ast::{DataType, FuncDef, Script, Stmt, StmtKind, TypeKind};
use daphne_frontend::{Diagnostic, SourceFile, Span};
use daphne_ir::MatrixType;
use daphne_ir::{FuncId, Function, Literal, Loc, OpId, OpKind, Region, Type, Value, ValueDef, ValueType};

use daphne_ir::infer::{Operand, infer};

/// Script arguments by name, as given on the command line (`n=10`, `s="x"`).
pub type ScriptArgs = BTreeMap<String, String>;

/// The DAPHNE stage that reports an error, which decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Found while building the IR from the syntax tree (DAPHNE's DSL visitor): exit 1.
    Parse,
    /// Found by type and shape inference: exit 2.
    Compile,
    /// An invariant of lowering does not hold (a bug, whatever the script): exit 2, DAPHNE's
    /// status for a failure of the compiler.
    Internal,
}

/// A diagnostic for the script, and the stage that found it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", diagnostic.message)]
pub struct LowerError {
    pub diagnostic: Diagnostic,
    pub stage: Stage,
    /// The program file the diagnostic points into (set where lowering enters a file).
    pub file: Option<usize>,
}

impl LowerError {
    /// A broken invariant of lowering (never the script's fault), at `span`.
    pub fn internal(span: Span, what: impl Into<String>) -> LowerError {
        let bug = daphne_ir::Bug(what.into());
        LowerError { diagnostic: Diagnostic::error(bug.to_string(), span), stage: Stage::Internal, file: None }
    }

    pub(crate) fn with_note(mut self, note: impl Into<String>) -> LowerError {
        self.diagnostic.notes.push(note.into());
        self
    }

    pub(crate) fn with_label(mut self, label: impl Into<String>) -> LowerError {
        self.diagnostic.label = label.into();
        self
    }

    pub(crate) fn with_secondary(mut self, span: Span, label: impl Into<String>) -> LowerError {
        self.diagnostic.secondary.push((span, label.into()));
        self
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> LowerError {
        self.diagnostic.helps.push(help.into());
        self
    }

    /// Attributes the error to `file` unless an inner file claimed it already.
    pub(crate) fn in_file(mut self, file: usize) -> LowerError {
        self.file.get_or_insert(file);
        self
    }
}

pub(crate) type Result<T> = std::result::Result<T, LowerError>;

pub(crate) fn parse_error(span: Span, message: impl Into<String>) -> LowerError {
    LowerError { diagnostic: Diagnostic::error(message, span), stage: Stage::Parse, file: None }
}

pub(crate) fn compile_error(span: Span, message: impl Into<String>) -> LowerError {
    LowerError { diagnostic: Diagnostic::error(message, span), stage: Stage::Compile, file: None }
}

/// A broken invariant of lowering, at the construct that met it: "this is a bug" wording.
pub(crate) fn internal_error(span: Span, what: impl Into<String>) -> LowerError {
    LowerError::internal(span, what)
}

/// The op of a prefix operator (`-`, `!`), from the op table.
pub(crate) fn prefix(operator: &str, span: Span) -> Result<daphne_ir::Builtin> {
    daphne_ir::Builtin::prefix(operator).ok_or_else(|| internal_error(span, format!("no op spells `{operator}`")))
}

/// Inference's verdict on an op lowered at `span`: the script's compile error, or a bug.
pub(crate) fn infer_error(span: Span, e: daphne_ir::infer::InferError) -> LowerError {
    match e {
        daphne_ir::infer::InferError::Operands(message) => compile_error(span, message),
        daphne_ir::infer::InferError::Internal(bug) => internal_error(span, bug.0),
    }
}

/// A script and the scripts it imports, parsed; the driver reads the files.
#[derive(Debug, Clone)]
pub struct Program {
    /// All files; the main script is file 0.
    pub files: Vec<SourceFile>,
    pub scripts: Vec<Script>,
    /// `(importing file, path as written in its import statement)` to the imported files (one
    /// for a script, each file of the directory for a library of the user configuration), or
    /// why the import cannot be resolved.
    pub imports: HashMap<(usize, String), std::result::Result<Vec<usize>, FileError>>,
    /// What the data files the program reads hold (their `.meta` files, or what the driver
    /// infers from the files), asked while compiling as DAPHNE reads `.meta` files while
    /// compiling: the types of `readMatrix` results are known and a bad file is a compile
    /// error. `None`: no file is looked at and reads are typed only by their kind.
    pub data_files: Option<std::rc::Rc<dyn DataFiles>>,
    /// DAPHNE's `--select-matrix-repr`: matrices whose estimated sparsity is known and below
    /// `sparsity_threshold` get the sparse (CSR) representation.
    pub select_matrix_repr: bool,
    /// DAPHNE's `sparsity_threshold` (user configuration; `SPARSITY_THRESHOLD` by default).
    pub sparsity_threshold: f64,
}

/// DAPHNE's default `sparsity_threshold`.
pub const SPARSITY_THRESHOLD: f64 = 0.25;

/// What a data file holds: its `.meta` file's contents, or what was inferred from the file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileMeta {
    /// Unknown when the rows were not counted while compiling.
    pub rows: Option<u64>,
    pub cols: u64,
    /// One value type per column; a single entry for a matrix.
    pub schema: Vec<daphne_ir::ValueType>,
    /// Column labels, for frames.
    pub labels: Option<Vec<String>>,
    /// Whether the first line of the file holds the column labels.
    pub header: bool,
    /// The cell delimiter (CSV).
    pub delimiter: char,
}

/// How a script asks to read a file: `readFrame(path, header=true, sep=";", valueType="f64")`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadRequest {
    pub frame: bool,
    pub header: Option<bool>,
    pub sep: Option<String>,
    pub value_type: Option<daphne_ir::ValueType>,
}

/// The driver's answer to what a data file holds (passes do no I/O themselves).
pub trait DataFiles: std::fmt::Debug {
    fn describe(&self, path: &str, request: &ReadRequest) -> std::result::Result<FileMeta, FileError>;
}

/// The driver's reason why a file a script names (an import, a data file) cannot be used,
/// worded for the user; lowering reports it at the statement that names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FileError(pub String);

impl Program {
    /// A program of one script that imports nothing.
    pub fn single(file: SourceFile, script: Script) -> Program {
        Program {
            files: vec![file],
            scripts: vec![script],
            imports: HashMap::new(),
            data_files: None,
            select_matrix_repr: false,
            sparsity_threshold: SPARSITY_THRESHOLD,
        }
    }
}

/// The functions a script can call by name: its own and those of its imports, prefixed.
pub(crate) type Namespace<'a> = HashMap<String, Vec<FuncRef<'a>>>;

/// A function definition and where it lives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FuncRef<'a> {
    pub def: &'a FuncDef,
    /// The namespace its body resolves calls in.
    pub ns: usize,
    /// The file it is written in.
    pub file: usize,
}

/// The function definitions of a script, by name, in namespace `ns`.
/// A second definition with the name and parameter types of an earlier one is an error (it
/// could never be called); definitions that differ in parameter types overload the name.
pub(crate) fn own_functions(script: &Script, ns: usize, file: usize) -> Result<Namespace<'_>> {
    let mut funcs: Namespace = HashMap::new();
    let param_types = |f: &FuncDef| -> Vec<Option<Type>> {
        f.params.iter().map(|p| p.ty.as_ref().map(|t| declared_type(&t.kind))).collect()
    };
    for s in &script.stmts {
        if let StmtKind::FuncDef(f) = &s.kind {
            let same =
                funcs.get(&f.name.name).and_then(|defs| defs.iter().find(|d| param_types(d.def) == param_types(f)));
            if let Some(first) = same {
                return Err(parse_error(
                    f.name.span,
                    format!("function `{}` is defined twice with the same parameter types", f.name.name),
                )
                .with_label("second definition")
                .with_secondary(first.def.name.span, "first definition")
                .with_note("a call takes the first definition whose parameters accept its arguments, so the second could never be called")
                .with_help("rename one of them, or give their parameters different types to overload the name")
                .in_file(file));
            }
            funcs.entry(f.name.name.clone()).or_default().push(FuncRef { def: f, ns, file });
        }
    }
    Ok(funcs)
}

pub(crate) fn ir_value_type(v: daphne_frontend::ast::ValueType) -> ValueType {
    use daphne_frontend::ast::ValueType as A;
    match v {
        A::F64 => ValueType::F64,
        A::F32 => ValueType::F32,
        A::Si64 => ValueType::Si64,
        A::Si32 => ValueType::Si32,
        A::Si8 => ValueType::Si8,
        A::Ui64 => ValueType::Ui64,
        A::Ui32 => ValueType::Ui32,
        A::Ui8 => ValueType::Ui8,
        A::Str => ValueType::Str,
        A::Bool => ValueType::Bool,
    }
}

/// The IR type a parameter or return type annotation denotes.
pub(crate) fn declared_type(t: &TypeKind) -> Type {
    match *t {
        TypeKind::Scalar(v) => Type::Scalar(ir_value_type(v)),
        TypeKind::Data(DataType::Matrix, vt) => {
            Type::Matrix(MatrixType { vt: vt.map(ir_value_type), rows: None, cols: None, repr: None })
        }
        TypeKind::Data(DataType::Scalar, Some(v)) => Type::Scalar(ir_value_type(v)),
        TypeKind::Data(DataType::Scalar, None) => Type::Unknown,
        TypeKind::Data(DataType::Frame, _) => Type::Frame(daphne_ir::FrameType { rows: None, columns: None }),
    }
}

pub(crate) const BREAK: &str = "break";
pub(crate) const CONTINUE: &str = "continue";

/// A construct whose new variables are not visible after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Construct {
    If,
    Loop,
    Block,
    /// The variable of a `for` loop.
    LoopVariable,
}

/// A variable: its current SSA value, and whether it may be assigned (loop variables may not).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Var {
    pub value: Value,
    pub readonly: bool,
}

/// The state of the function being lowered.
pub(crate) struct FnCtx {
    pub f: Function,
    /// The op lists of the regions under construction, innermost last.
    pub regions: Vec<Vec<OpId>>,
    /// Variables by scope, innermost last. A scope records the variables created in it and
    /// the outer variables assigned in it.
    pub scopes: Vec<HashMap<String, Var>>,
    /// Estimated sparsity (fraction of non-zeros) of matrix values, where DAPHNE's sparsity
    /// inference knows it.
    pub sparsity: HashMap<Value, f64>,
    /// Variables that an `if`, a loop or a block created and that vanished after it: what
    /// created them and where, for the note on a later use.
    pub vanished: HashMap<String, (Construct, Span)>,
}

impl FnCtx {
    pub(crate) fn new(f: Function) -> FnCtx {
        FnCtx {
            f,
            regions: vec![Vec::new()],
            scopes: vec![HashMap::new()],
            sparsity: HashMap::new(),
            vanished: HashMap::new(),
        }
    }

    /// The finished function, its body holding the ops emitted at the top level.
    pub(crate) fn finish(mut self) -> Function {
        self.f.body.ops = self.regions.into_iter().next().unwrap_or_default();
        self.f
    }
}

/// A UDF specialization: the definition (address, which is unique per definition) and the
/// argument types.
pub(crate) type SpecKey = (usize, Vec<Type>);

pub(crate) struct Lowerer<'a> {
    pub program: &'a Program,
    /// The file whose statements are being lowered.
    pub file: usize,
    /// The namespace calls are resolved in.
    pub ns: usize,
    pub namespaces: Vec<Namespace<'a>>,
    pub args: &'a ScriptArgs,
    /// The module's functions by id; a slot is `None` while its function is being lowered.
    pub functions: Vec<Option<Function>>,
    /// Finished specializations: id and result types.
    pub specs: HashMap<SpecKey, (FuncId, Vec<Type>)>,
    /// Specializations being lowered (for recursion): id and the result types callers assume.
    pub in_progress: HashMap<SpecKey, (FuncId, Vec<Type>)>,
    pub stack: Vec<FnCtx>,
    /// How many loops enclose the statement being lowered, in the current function.
    pub loop_depth: usize,
    /// How many scopes the main function has at the top level of the file being lowered
    /// (imported scripts run in a scope of their own).
    pub top_scopes: usize,
    /// The files the file being lowered has imported so far.
    pub imported: Vec<usize>,
    /// The types of the values the script writes to files named by constants, so far: a
    /// later read of such a file has the written type (its `.meta` file may not exist yet).
    pub written: HashMap<String, Type>,
    /// Print the value of top-level expression statements of the main script (`Session::echo`).
    pub echo: bool,
}

impl<'a> Lowerer<'a> {
    pub(crate) fn ctx(&mut self) -> &mut FnCtx {
        // The stack is never empty while lowering: `lower` pushes main first.
        let last = self.stack.len() - 1;
        &mut self.stack[last]
    }

    pub(crate) fn loc(&self, span: Span) -> Loc {
        let lc = self.program.files[self.file].line_col(span.start);
        Loc { file: self.file as u32, line: lc.line as u32, col: lc.col as u32, inlined: None }
    }

    /// Appends an op to the innermost region under construction.
    pub(crate) fn emit(
        &mut self,
        kind: OpKind,
        operands: Vec<Value>,
        result_types: Vec<Type>,
        regions: Vec<Region>,
        span: Span,
    ) -> Result<OpId> {
        let loc = self.loc(span);
        let ctx = self.ctx();
        let id = ctx.f.new_op(kind, operands, result_types, regions, Some(loc));
        match ctx.regions.last_mut() {
            Some(r) => r.push(id),
            None => return Err(internal_error(span, "no region to emit into")),
        }
        Ok(id)
    }

    /// Emits an op with one result and returns the result.
    pub(crate) fn emit1(&mut self, kind: OpKind, operands: Vec<Value>, ty: Type, span: Span) -> Result<Value> {
        let id = self.emit(kind, operands, vec![ty], vec![], span)?;
        Ok(self.ctx().f.ops[id].results[0])
    }

    /// Emits a builtin, inferring its result types.
    pub(crate) fn builtin(&mut self, b: daphne_ir::Builtin, operands: Vec<Value>, span: Span) -> Result<Vec<Value>> {
        let types: Vec<Type> = operands.iter().map(|&v| self.ty(v)).collect();
        let consts: Vec<Option<Literal>> = operands.iter().map(|&v| self.constant(v)).collect();
        // DAPHNE folds integer constants while compiling and fails on a division by zero.
        if matches!(b, daphne_ir::Builtin::EwDiv | daphne_ir::Builtin::EwMod)
            && let (Some(a), Some(d)) = (&consts[0], &consts[1])
            && a.value_type().is_integer()
            && d.value_type().is_integer()
            && matches!(
                d,
                Literal::Si64(0)
                    | Literal::Ui64(0)
                    | Literal::Index(0)
                    | Literal::Si32(0)
                    | Literal::Ui32(0)
                    | Literal::Si8(0)
                    | Literal::Ui8(0)
                    | Literal::Bool(false)
            )
        {
            return Err(compile_error(span, "Can't divide by 0"));
        }
        let args: Vec<Operand> =
            types.iter().zip(&consts).map(|(ty, c)| Operand { ty, constant: c.as_ref() }).collect();
        let mut results = infer(b, &args).map_err(|e| infer_error(span, e))?;
        let sparsity = self.estimate_sparsity(b, &operands, &consts, &types);
        if let (Some(s), [Type::Matrix(m)]) = (sparsity, results.as_mut_slice())
            && self.program.select_matrix_repr
            && s < self.program.sparsity_threshold
        {
            m.repr = Some(daphne_ir::Repr::Sparse);
        }
        let id = self.emit(OpKind::Builtin(b), operands, results, vec![], span)?;
        let results = self.ctx().f.ops[id].results.clone();
        if let (Some(s), [r]) = (sparsity, results.as_slice()) {
            self.ctx().sparsity.insert(*r, s);
        }
        Ok(results)
    }

    /// DAPHNE's sparsity inference (`DaphneInferSparsityOpInterface.cpp`): the estimated
    /// fraction of non-zeros of a builtin's matrix result, where it is known.
    pub(crate) fn estimate_sparsity(
        &mut self,
        b: daphne_ir::Builtin,
        operands: &[Value],
        consts: &[Option<Literal>],
        types: &[Type],
    ) -> Option<f64> {
        use daphne_ir::Builtin as B;
        let known = |l: &mut Self, v: Value| l.ctx().sparsity.get(&v).copied();
        let number = |c: &Option<Literal>| -> Option<f64> {
            match c.as_ref()? {
                Literal::F64(x) => Some(f64::from_bits(*x)),
                Literal::F32(x) => Some(f64::from(f32::from_bits(*x))),
                Literal::Si64(x) => Some(*x as f64),
                Literal::Ui64(x) | Literal::Index(x) => Some(*x as f64),
                Literal::Si32(x) => Some(f64::from(*x)),
                Literal::Ui32(x) => Some(f64::from(*x)),
                Literal::Si8(x) => Some(f64::from(*x)),
                Literal::Ui8(x) => Some(f64::from(*x)),
                Literal::Bool(x) => Some(f64::from(u8::from(*x))),
                Literal::Str(_) => None,
            }
        };
        let dims = |t: &Type| match t {
            Type::Matrix(m) => (m.rows, m.cols),
            _ => (None, None),
        };
        match b {
            B::Rand => number(&consts[4]),
            B::Seq => Some(1.0),
            B::EwAdd | B::EwSub => Some({
                let (a, c) = (known(self, operands[0])?, known(self, operands[1])?);
                a + c - a * c
            }),
            B::EwMul => match (known(self, operands[0]), known(self, operands[1])) {
                (Some(a), Some(c)) => Some(a * c),
                (a, c) => a.or(c),
            },
            // DAPHNE computes it for constant matrices of numbers (not of bools or strings).
            B::MatrixLiteral => {
                let n = operands.len() - 2;
                let vt = types[..n].iter().filter_map(Type::value_type).reduce(ValueType::most_general);
                // DAPHNE builds one-element literals without a constant matrix, so it knows no
                // sparsity for them.
                if n < 2 || matches!(vt, Some(ValueType::Bool | ValueType::Str) | None) {
                    return None;
                }
                let values: Option<Vec<f64>> = consts[..n].iter().map(number).collect();
                let values = values?;
                (n > 0).then(|| values.iter().filter(|v| **v != 0.0).count() as f64 / n as f64)
            }
            B::DiagMatrix => {
                let s = known(self, operands[0]).unwrap_or(1.0);
                dims(&types[0]).0.map(|k| s / k as f64)
            }
            B::MatMul => {
                let (a, c) = (known(self, operands[0])?, known(self, operands[1])?);
                let k = dims(&types[0]).1.or(dims(&types[1]).0)?;
                Some(1.0 - (1.0 - a * c).powf(k as f64))
            }
            B::LowerTri | B::UpperTri => known(self, operands[0]).map(|s| s / 2.0),
            B::Reshape | B::Transpose => known(self, operands[0]),
            _ => None,
        }
    }

    /// Emits a builtin with exactly one result.
    pub(crate) fn builtin1(&mut self, b: daphne_ir::Builtin, operands: Vec<Value>, span: Span) -> Result<Value> {
        let results = self.builtin(b, operands, span)?;
        results.first().copied().ok_or_else(|| parse_error(span, format!("`{b}` has no result")))
    }

    pub(crate) fn constant_value(&mut self, lit: Literal, span: Span) -> Result<Value> {
        let t = Type::Scalar(lit.value_type());
        self.emit1(OpKind::Const(lit), vec![], t, span)
    }

    pub(crate) fn ty(&mut self, v: Value) -> Type {
        self.ctx().f.values[v].ty.clone()
    }

    /// The literal a value is, if it is the result of a constant.
    pub(crate) fn constant(&mut self, v: Value) -> Option<Literal> {
        let f = &self.ctx().f;
        match f.values[v].def {
            ValueDef::Result(op, _) => match &f.ops[op].kind {
                OpKind::Const(lit) => Some(lit.clone()),
                _ => None,
            },
            ValueDef::Arg => None,
        }
    }

    /// Converts `v` to type `to` with a cast op, unless it has that type already.
    pub(crate) fn cast_to(&mut self, v: Value, to: &Type, span: Span) -> Result<Value> {
        if &self.ty(v) == to {
            return Ok(v);
        }
        self.emit1(OpKind::Cast, vec![v], to.clone(), span)
    }

    /// Builds a region with `args`, running `body` to fill it.
    pub(crate) fn region<T>(
        &mut self,
        args: Vec<Value>,
        body: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<(Region, T)> {
        self.ctx().regions.push(Vec::new());
        let out = body(self);
        let ops = self.ctx().regions.pop().unwrap_or_default();
        Ok((Region { args, ops }, out?))
    }

    // ---- variables and scopes ----

    pub(crate) fn lookup(&mut self, name: &str) -> Option<Var> {
        self.ctx().scopes.iter().rev().find_map(|s| s.get(name).copied())
    }

    pub(crate) fn assign(&mut self, name: &str, value: Value, span: Span) -> Result<()> {
        if self.lookup(name).is_some_and(|v| v.readonly) {
            return Err(parse_error(span, format!("cannot assign to the read-only loop variable `{name}`")));
        }
        self.define(name, value, false);
        Ok(())
    }

    pub(crate) fn define(&mut self, name: &str, value: Value, readonly: bool) {
        if let Some(scope) = self.ctx().scopes.last_mut() {
            scope.insert(name.to_owned(), Var { value, readonly });
        }
    }

    pub(crate) fn push_scope(&mut self) {
        self.ctx().scopes.push(HashMap::new());
    }

    /// Ends a scope: its new variables vanish, its assignments to outer variables stay.
    pub(crate) fn pop_scope_merge(&mut self) {
        let popped = self.ctx().scopes.pop().unwrap_or_default();
        for (name, var) in popped {
            if self.lookup(&name).is_some() {
                self.define(&name, var.value, var.readonly);
            }
        }
    }

    /// Ends a scope and returns what was written in it.
    pub(crate) fn pop_scope(&mut self) -> HashMap<String, Var> {
        self.ctx().scopes.pop().unwrap_or_default()
    }

    /// The names of existing variables that `stmts` may assign (at any depth), sorted.
    pub(crate) fn assigned_outer(&mut self, stmts: &[&Stmt]) -> Vec<String> {
        let mut names = BTreeSet::new();
        for s in stmts {
            collect_assigned(s, &mut names, self.loop_depth);
        }
        names.into_iter().filter(|n| self.lookup(n).is_some()).collect()
    }
}

/// Names assigned anywhere in a statement (not inside function definitions), including the
/// flag variables that `break` and `continue` set for the loop at `depth` (loops nested in
/// the statement count one deeper).
pub(crate) fn collect_assigned(s: &Stmt, out: &mut BTreeSet<String>, depth: usize) {
    match &s.kind {
        StmtKind::Assign { targets, .. } => {
            for t in targets {
                out.insert(t.name.text());
            }
        }
        StmtKind::Break => {
            out.insert(format!("{}#{depth}", BREAK));
        }
        StmtKind::Continue => {
            out.insert(format!("{}#{depth}", CONTINUE));
        }
        StmtKind::FuncDef(_) => {}
        StmtKind::While { .. } | StmtKind::DoWhile { .. } | StmtKind::For { .. } => {
            for c in s.children().0 {
                collect_assigned(c, out, depth + 1);
            }
        }
        _ => {
            for c in s.children().0 {
                collect_assigned(c, out, depth);
            }
        }
    }
}
