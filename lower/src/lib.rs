//! `daphne-lower`: the AST of a script becomes an IR module. This is the only crate that
//! reads both the frontend's AST and the IR; the passes, codegen and the runtime never see
//! the AST, and workers do not link the parser.
//!
//! Architecture Invariant: lowering does no I/O; whatever it needs from files (imported
//! scripts, matrix metadata) the driver reads and hands in (`Program`, `DataFiles`).
//!
//! Name resolution, scoping, script arguments, user-defined functions (typed ones checked,
//! untyped ones specialized per argument types), control flow with loop-carried variables,
//! `break`/`continue` and early `return` (rewritten into structured control flow), and type
//! and shape inference for every op, with DAPHNE's promotion rules. Loop-carried variables
//! whose type changes in the body are generalized to a fixed point (bounded; DAPHNE issue
//! 819 hangs there).
//!
//! Errors carry the stage at which DAPHNE reports them: what DAPHNE's DSL visitor detects
//! (undefined names, unknown functions, wrong argument counts, ambiguous types after an `if`)
//! is a parse error (exit 1); what its inference passes detect (shape mismatches) is a
//! compile error (exit 2).

// Lowering errors are rare and carry a rendered-ready diagnostic; their size does not matter.
#![allow(clippy::result_large_err)]

mod builtins;
mod context;
mod expr;
mod sql;
mod stmt;
mod suggest;

pub use builtins::{BUILTINS, BuiltinDef, all_builtins, builtin, reference};

use std::collections::HashMap;

use daphne_frontend::ast::{Stmt, StmtKind};
use daphne_ir::{FuncId, Function, Module, OpKind, Type, Value};

pub use context::{
    DataFiles, FileError, FileMeta, LowerError, Program, ReadRequest, SPARSITY_THRESHOLD, ScriptArgs, Stage,
};
use context::{FnCtx, Lowerer, Result, internal_error, own_functions};

/// Lowers a program to an IR module whose entry function is `main`.
pub fn lower(program: &Program, args: &ScriptArgs) -> Result<Module> {
    lower_entry(program, args, None).map(|(module, _)| module)
}

/// How `daphne`'s interactive mode lowers one entry: with the variables of earlier entries.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Variables that exist before the entry, with the types of their values: `main` takes
    /// them as parameters, in this order.
    pub inputs: Vec<(String, Type)>,
    /// Print the value of every expression statement at the top level of the main script that
    /// has exactly one value (`x + 1;` at the prompt shows its value).
    pub echo: bool,
}

/// Lowers an entry of a session: `main` takes the session's inputs and returns the values of
/// the variables that exist at its end (named by the second result, in that order).
pub fn lower_session(program: &Program, args: &ScriptArgs, session: &Session) -> Result<(Module, Vec<String>)> {
    lower_entry(program, args, Some(session))
}

fn lower_entry(program: &Program, args: &ScriptArgs, session: Option<&Session>) -> Result<(Module, Vec<String>)> {
    let script = &program.scripts[0];
    let main_stmts: Vec<&Stmt> = script.stmts.iter().filter(|s| !matches!(s.kind, StmtKind::FuncDef(_))).collect();
    let mut l = Lowerer {
        program,
        file: 0,
        ns: 0,
        namespaces: vec![own_functions(script, 0, 0)?],
        args,
        functions: vec![None],
        specs: HashMap::new(),
        in_progress: HashMap::new(),
        stack: Vec::new(),
        loop_depth: 0,
        top_scopes: 1,
        imported: Vec::new(),
        written: HashMap::new(),
        echo: session.is_some_and(|s| s.echo),
    };
    l.stack.push(FnCtx::new(Function::new("main")));
    for (name, ty) in session.map(|s| s.inputs.as_slice()).unwrap_or_default() {
        let ctx = l.ctx();
        let v = ctx.f.new_arg(ty.clone());
        ctx.f.body.args.push(v);
        l.define(name, v, false);
    }
    let mut outputs = Vec::new();
    let body = l.block(&main_stmts).and_then(|_| {
        let mut values = Vec::new();
        if session.is_some() {
            // The variables of the top level (names with `#` are the lowering's own flags).
            let mut vars: Vec<(String, Value)> = l.ctx().scopes[0]
                .iter()
                .filter(|(name, _)| !name.contains('#'))
                .map(|(name, var)| (name.clone(), var.value))
                .collect();
            vars.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, v) in vars {
                let ty = l.ty(v);
                l.ctx().f.result_types.push(ty);
                outputs.push(name);
                values.push(v);
            }
        }
        l.emit(OpKind::Return, values, vec![], vec![], script.span)
    });
    body.map_err(|e| e.in_file(0))?;
    let main = l.stack.pop().map(FnCtx::finish).ok_or_else(|| internal_error(script.span, "no main function"))?;
    l.functions[0] = Some(main);
    let functions: Vec<Function> = l.functions.into_iter().flatten().collect();
    let module = Module {
        functions,
        entry: FuncId(0),
        files: program.files.iter().map(|f| f.name.clone()).collect(),
        inline_sites: Vec::new(),
    };
    Ok((module, outputs))
}
