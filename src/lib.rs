//! The driver shared by the `daphne` and `daphnec` binaries: reading a script, running the
//! frontend, rendering diagnostics, and DAPHNE's exit codes.

pub mod api;
pub mod config;
pub mod progress;
pub mod session;
pub mod signals;
pub mod worker;

use std::path::{Path, PathBuf};

use daphne_frontend::ast::{Script, StmtKind};
use daphne_frontend::{SourceFile, diagnostic, parse};
use daphne_ir::Module;
use daphne_lower::{Program, ScriptArgs, Stage};

pub use config::{UserConfig, read_config};

/// DAPHNE's process exit codes (`src/api/cli/StatusCode.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    Success = 0,
    ParserError = 1,
    CompilerError = 2,
    ExecutionError = 3,
}

impl From<Status> for std::process::ExitCode {
    fn from(s: Status) -> Self {
        std::process::ExitCode::from(s as u8)
    }
}

/// Prints clap's message for a command line it did not take (or its `--help` and
/// `--version`) and returns the exit status: 0 for help and version, else 1, DAPHNE's for a
/// bad command line (LLVM's option parser exits 1 there).
pub fn usage_error(e: &clap::Error) -> std::process::ExitCode {
    let _ = e.print();
    if e.use_stderr() { Status::ParserError.into() } else { Status::Success.into() }
}

/// A failure of one stage: the rendered message for stderr and the exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub status: Status,
}

/// Reads a script file. An unreadable script is reported like a parse failure, as DAPHNE does.
pub fn read_script(path: &Path) -> Result<SourceFile, Failure> {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceFile::new(path.display().to_string(), text)),
            Err(e) => Err(Failure {
                message: format!(
                    "error: script {} is not valid UTF-8 (byte {})\n",
                    path.display(),
                    e.utf8_error().valid_up_to()
                ),
                status: Status::ParserError,
            }),
        },
        Err(e) => Err(Failure {
            message: format!("error: cannot read script {}: {e}\n", path.display()),
            status: Status::ParserError,
        }),
    }
}

/// Reads a script from standard input (`daphne -`, or `daphne` with a pipe on stdin); it is
/// named `<stdin>` in diagnostics, and imports are resolved against the working directory.
pub fn read_stdin_script() -> Result<SourceFile, Failure> {
    let mut bytes = Vec::new();
    if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes) {
        return Err(Failure {
            message: format!("error: cannot read the script from standard input: {e}\n"),
            status: Status::ParserError,
        });
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile::new(session::SESSION_NAME.to_owned(), text)),
        Err(e) => Err(Failure {
            message: format!(
                "error: the script on standard input is not valid UTF-8 (byte {})\n",
                e.utf8_error().valid_up_to()
            ),
            status: Status::ParserError,
        }),
    }
}

/// Parses a script; on syntax errors returns all diagnostics rendered against the source.
pub fn parse_script(file: &SourceFile) -> Result<Script, Failure> {
    let parsed = parse(&file.text);
    if parsed.is_ok() {
        Ok(parsed.script)
    } else {
        Err(Failure { message: diagnostic::render_all(&parsed.diagnostics, file), status: Status::ParserError })
    }
}

/// Reads and parses a script and, transitively, the scripts it imports, with no user
/// configuration.
pub fn load_program(main: SourceFile) -> Result<Program, Failure> {
    load_program_with(main, &UserConfig::default())
}

/// Reads and parses a script and, transitively, the scripts it imports. Relative import
/// paths are resolved against the directory of the importing script and the configuration's
/// `default_dirs`; a path without an extension that the configuration names is a library (all
/// files of its directory, in name order). As in DAPHNE.
pub fn load_program_with(main: SourceFile, config: &UserConfig) -> Result<Program, Failure> {
    let script = parse_script(&main)?;
    let mut program = Program::single(main, script);
    program.sparsity_threshold = config.sparsity_threshold;
    let mut next = 0;
    while next < program.scripts.len() {
        let importer = next;
        next += 1;
        let dir = Path::new(&program.files[importer].name).parent().map(Path::to_path_buf).unwrap_or_default();
        let paths: Vec<String> = program.scripts[importer]
            .stmts
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::Import { path, .. } => Some(path.value.clone()),
                _ => None,
            })
            .collect();
        for path in paths {
            let files = match resolve_import(&dir, &path, config) {
                Ok(files) => files,
                Err(message) => {
                    // Lowering reports the problem at the import statement.
                    program.imports.insert((importer, path), Err(message));
                    continue;
                }
            };
            let mut indexes = Vec::new();
            for (full, canonical) in files {
                let known =
                    program.files.iter().position(|f| std::fs::canonicalize(&f.name).ok().as_ref() == Some(&canonical));
                indexes.push(match known {
                    Some(i) => i,
                    None => {
                        let file = read_script(&full)?;
                        let script = parse_script(&file)?;
                        program.files.push(file);
                        program.scripts.push(script);
                        program.files.len() - 1
                    }
                });
            }
            program.imports.insert((importer, path), Ok(indexes));
        }
    }
    program.data_files = Some(std::rc::Rc::new(DataFiles::default()));
    Ok(program)
}

/// The files (as named and canonical) an import statement in a script in `dir` refers to.
fn resolve_import(
    dir: &Path,
    path: &str,
    config: &UserConfig,
) -> Result<Vec<(PathBuf, PathBuf)>, daphne_lower::FileError> {
    let missing = || daphne_lower::FileError(format!("the import path doesn't exist: {path}"));
    let written = Path::new(path);
    if written.is_absolute() {
        let canonical = std::fs::canonicalize(written).map_err(|_| missing())?;
        return Ok(vec![(written.to_path_buf(), canonical)]);
    }
    let mut full = dir.join(written);
    let mut canonical = std::fs::canonicalize(&full).ok();
    if written.extension().is_some() {
        for default_dir in config.import_paths.get("default_dirs").into_iter().flatten() {
            let lib_file = default_dir.join(written);
            let Ok(lib_canonical) = std::fs::canonicalize(&lib_file) else { continue };
            if canonical.as_ref().is_some_and(|c| *c != lib_canonical) {
                return Err(daphne_lower::FileError(format!(
                    "ambiguous import: {path}, found another file with the same name in default paths of the user configuration: {}",
                    lib_file.display()
                )));
            }
            (full, canonical) = (lib_file, Some(lib_canonical));
        }
    } else if let Some(lib_dir) = config.import_paths.get(path).and_then(|dirs| dirs.first()) {
        let entries = std::fs::read_dir(lib_dir).map_err(|e| {
            daphne_lower::FileError(format!("cannot read the directory {} of library {path}: {e}", lib_dir.display()))
        })?;
        let mut files: Vec<PathBuf> =
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
        files.sort();
        return files
            .into_iter()
            .map(|f| {
                let canonical = std::fs::canonicalize(&f)
                    .map_err(|e| daphne_lower::FileError(format!("cannot read {}: {e}", f.display())))?;
                Ok((f, canonical))
            })
            .collect();
    }
    match canonical {
        Some(c) => Ok(vec![(full, c)]),
        None => Err(missing()),
    }
}

/// The driver's view of the data files a program reads: each file's `.meta` file, or what
/// `daphne_runtime::io::describe` infers from the file (said once per file on stderr).
#[derive(Debug, Default)]
pub struct DataFiles {
    seen: std::cell::RefCell<
        std::collections::HashMap<(String, String), Result<daphne_lower::FileMeta, daphne_lower::FileError>>,
    >,
    /// Whether inferred schemas are reported on stderr.
    pub quiet: bool,
}

impl daphne_lower::DataFiles for DataFiles {
    fn describe(
        &self,
        path: &str,
        request: &daphne_lower::ReadRequest,
    ) -> Result<daphne_lower::FileMeta, daphne_lower::FileError> {
        let key = (path.to_owned(), format!("{request:?}"));
        if let Some(known) = self.seen.borrow().get(&key) {
            return known.clone();
        }
        let described = describe_file(path, request)
            .map(|(meta, note)| {
                if let (Some(note), false) = (note, self.quiet) {
                    daphne_runtime::console::eprint(&format!("note: {note}\n"));
                }
                meta
            })
            .map_err(|e| daphne_lower::FileError(e.to_string()));
        self.seen.borrow_mut().insert(key, described.clone());
        described
    }
}

fn describe_file(
    path: &str,
    request: &daphne_lower::ReadRequest,
) -> Result<(daphne_lower::FileMeta, Option<String>), daphne_runtime::error::Error> {
    let delimiter = request.sep.as_deref().map(daphne_runtime::io::delimiter).transpose()?;
    let opts = daphne_runtime::io::ReadOptions {
        frame: request.frame,
        header: request.header,
        delimiter,
        value_type: request.value_type,
    };
    let (m, note) = daphne_runtime::io::describe(path, &opts)?;
    let meta = daphne_lower::FileMeta {
        rows: m.rows.map(|r| r as u64),
        cols: m.cols as u64,
        schema: m.schema,
        labels: m.labels,
        header: m.header,
        delimiter: m.delimiter as char,
    };
    Ok((meta, note))
}

/// The optimizing passes `daphne` runs: the standard list, folding constants with the
/// runtime's kernels, fusing unless `fuse` is false.
pub fn pass_manager(fuse: bool) -> daphne_passes::PassManager {
    pass_manager_for(fuse, false)
}

/// [`pass_manager`] for a local or a distributed run.
pub fn pass_manager_for(fuse: bool, distributed: bool) -> daphne_passes::PassManager {
    daphne_passes::PassManager::with_options(daphne_passes::Options {
        fuse,
        evaluator: Some(std::rc::Rc::new(daphne_runtime::fold::Evaluator)),
        distributed,
    })
}

/// Parses and lowers a script (with its imports) to a verified IR module.
pub fn compile_program(program: &Program, args: &ScriptArgs) -> Result<Module, Failure> {
    compile_program_observed(program, args, &pass_manager(true), &mut |_, _| {})
}

/// `compile_program` with the given passes, showing `after` the module after lowering (as pass
/// `lower`), after every optimizing pass that changed it, and after every phase of passes.
pub fn compile_program_observed(
    program: &Program,
    args: &ScriptArgs,
    passes: &daphne_passes::PassManager,
    after: &mut dyn FnMut(&str, &Module),
) -> Result<Module, Failure> {
    compile_entry(program, args, None, passes, after).map(|(module, _)| module)
}

/// `compile_program_observed` for an entry of a session (`daphne`'s interactive mode): the
/// module's `main` takes the session's variables and returns those named by the second result.
pub fn compile_entry(
    program: &Program,
    args: &ScriptArgs,
    session: Option<&daphne_lower::Session>,
    passes: &daphne_passes::PassManager,
    after: &mut dyn FnMut(&str, &Module),
) -> Result<(Module, Vec<String>), Failure> {
    let lowered = match session {
        Some(s) => daphne_lower::lower_session(program, args, s),
        None => daphne_lower::lower(program, args).map(|m| (m, Vec::new())),
    };
    let (mut module, outputs) = lowered.map_err(|e| lower_failure(program, &e))?;
    let name = &program.files[0].name;
    daphne_ir::verify::module(&module).map_err(|e| compiler_bug(format!("the IR of {name} does not verify: {e}")))?;
    after("lower", &module);
    passes.run(&mut module, after).map_err(|e| compiler_bug(format!("in {name}: {e}")))?;
    Ok((module, outputs))
}

/// A lowering error as the user sees it: its diagnostic, and the status of the DAPHNE stage
/// that finds such an error (a broken invariant of lowering is a compiler failure, 2).
fn lower_failure(program: &Program, e: &daphne_lower::LowerError) -> Failure {
    let file = &program.files[e.file.unwrap_or(0)];
    Failure {
        message: diagnostic::render_all(std::slice::from_ref(&e.diagnostic), file),
        status: match e.stage {
            Stage::Parse => Status::ParserError,
            Stage::Compile | Stage::Internal => Status::CompilerError,
        },
    }
}

/// A broken invariant of the compiler after lowering (the verifier rejected a module): a bug,
/// said so, with DAPHNE's status for a failed compilation.
fn compiler_bug(what: String) -> Failure {
    Failure { message: format!("error: {}\n", daphne_ir::Bug(what)), status: Status::CompilerError }
}

/// Loads, parses and lowers a script file with its imports.
pub fn compile(
    file: &SourceFile,
    args: &ScriptArgs,
    select_matrix_repr: bool,
    config: &UserConfig,
) -> Result<Module, Failure> {
    let mut program = load_program_with(file.clone(), config)?;
    program.select_matrix_repr = select_matrix_repr;
    compile_program(&program, args)
}

/// Script arguments from `name=value` words; a malformed or repeated one is an error.
pub fn script_args<'a>(words: impl IntoIterator<Item = &'a String>) -> Result<ScriptArgs, Failure> {
    let mut args = ScriptArgs::new();
    for w in words {
        let Some((name, value)) = w.split_once('=') else {
            return Err(Failure {
                message: format!("error: script argument `{w}` is not of the form name=value\n"),
                status: Status::ParserError,
            });
        };
        if args.insert(name.to_owned(), value.to_owned()).is_some() {
            return Err(Failure {
                message: format!("error: script argument `{name}` is given more than once\n"),
                status: Status::ParserError,
            });
        }
    }
    Ok(args)
}

/// Runs a compiled module, writing what the script prints to `out` and `err`. A runtime
/// failure is rendered with the location of the failing statement.
pub fn execute(
    module: &Module,
    files: &[SourceFile],
    out: &mut (dyn std::io::Write + Send),
    err: &mut (dyn std::io::Write + Send),
) -> Result<(), Failure> {
    execute_with(module, files, daphne_runtime::exec::Options::default(), out, err)
}

/// `execute` with the executor's options.
pub fn execute_with(
    module: &Module,
    files: &[SourceFile],
    options: daphne_runtime::exec::Options,
    out: &mut (dyn std::io::Write + Send),
    err: &mut (dyn std::io::Write + Send),
) -> Result<(), Failure> {
    execute_entry(module, files, options, Vec::new(), out, err).map(|_| ())
}

/// `execute_with` for a module whose `main` takes `args` (an entry of `session::Session`);
/// returns what `main` returns.
pub fn execute_entry(
    module: &Module,
    files: &[SourceFile],
    options: daphne_runtime::exec::Options,
    args: Vec<daphne_runtime::value::Value>,
    out: &mut (dyn std::io::Write + Send),
    err: &mut (dyn std::io::Write + Send),
) -> Result<Vec<daphne_runtime::value::Value>, Failure> {
    daphne_runtime::exec::run_entry(module, options, args, out, err).map_err(|e| {
        let message = if e.stopped { format!("system stopped: {}", e.message) } else { e.message };
        let notes = module.call_notes(e.loc, &e.calls);
        let rendered = match e.loc.and_then(|loc| files.get(loc.file as usize).map(|f| (loc, f))) {
            Some((loc, file)) => {
                let at = file.offset(loc.line as usize, loc.col as usize);
                let d = daphne_frontend::Diagnostic::error(message, daphne_frontend::Span::new(at, at));
                notes.into_iter().fold(d, daphne_frontend::Diagnostic::with_note).render(file)
            }
            None => {
                let notes: String = notes.iter().map(|n| format!("  = note: {n}\n")).collect();
                format!("error: {message}\n{notes}")
            }
        };
        Failure { message: rendered, status: Status::ExecutionError }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No script reaches an internal failure of the compiler (that is the point of them), so
    /// the mapping is checked here: status 2, DAPHNE's for a failed compilation (not 1, as
    /// when such failures were parse errors), and the words that say it is a bug.
    #[test]
    fn an_internal_compiler_failure_exits_2_and_asks_for_a_report() {
        let file = SourceFile::new("x.daph", "print(1);\n");
        let script = parse_script(&file).expect("the script parses");
        let program = Program::single(file, script);
        let e = daphne_lower::LowerError::internal(daphne_frontend::Span::new(0, 5), "no loop flags");
        let failure = lower_failure(&program, &e);
        assert_eq!(failure.status as u8, 2);
        assert!(failure.message.starts_with("error: internal compiler error: no loop flags"), "{}", failure.message);
        assert!(failure.message.contains("this is a bug of daphne-rs: please report it"), "{}", failure.message);
        assert!(failure.message.contains("x.daph:1:1"), "{}", failure.message);

        let failure = compiler_bug("after `fuse-pipelines`: value #3 is defined twice".to_owned());
        assert_eq!(failure.status as u8, 2);
        assert_eq!(
            failure.message,
            "error: internal compiler error: after `fuse-pipelines`: value #3 is defined twice \
             (this is a bug of daphne-rs: please report it)\n"
        );
    }
}
