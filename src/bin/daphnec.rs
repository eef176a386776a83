//! `daphnec`: the DaphneDSL compiler's inspection tool. Prints a script's intermediate forms.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use daphne::{
    Status, UserConfig, compile_program_observed, load_program_with, parse_script, read_config, read_script,
    script_args,
};
use daphne_frontend::{dump, lex};

/// Compile a DaphneDSL script and print one of its intermediate forms.
#[derive(Debug, Parser)]
#[command(name = "daphnec", version)]
struct Cli {
    /// The DaphneDSL script to compile.
    #[arg(required_unless_present = "builtins")]
    script: Option<PathBuf>,

    /// Print the reference of the built-in functions (signature, what each does, an example),
    /// generated from the compiler's own table, and exit. `docs/builtins.md` is this output.
    #[arg(long, exclusive = true)]
    builtins: bool,

    /// Which form to print.
    #[arg(long, value_enum, default_value_t = Emit::Ast)]
    emit: Emit,

    /// Script arguments as `name=value`, read in the script as `$name`.
    #[arg(value_name = "NAME=VALUE")]
    script_args: Vec<String>,

    /// Script arguments as a comma-separated list `name=value,name=value`.
    #[arg(long = "args", value_name = "NAME=VALUE,...", value_delimiter = ',')]
    args: Vec<String>,

    /// Give matrices whose estimated sparsity is below 0.25 the sparse (CSR) representation,
    /// as DAPHNE's option of the same name.
    #[arg(long = "select-matrix-repr", visible_alias = "select-matrix-representations", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    select_matrix_repr: Option<bool>,

    /// With `--emit ir`: also print the IR after the named pass (`lower` or an optimizing
    /// pass; repeatable), or after every pass with `all`.
    #[arg(long = "dump-after", value_name = "PASS")]
    dump_after: Vec<String>,

    /// A DAPHNE user configuration (JSON): `daphnedsl_import_paths` and `sparsity_threshold`
    /// are used, DAPHNE's other settings are accepted.
    #[arg(long = "config", value_name = "FILE", require_equals = false)]
    config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Emit {
    /// The token stream, one token per line with its position.
    Tokens,
    /// The abstract syntax tree with line:column spans.
    Ast,
    /// The IR after the optimizing passes, in its canonical text form.
    Ir,
    /// The fused pipelines: inputs and split modes, outputs and combine modes, the ops inside
    /// and the source lines they came from.
    Pipelines,
    /// The Cranelift IR of each pipeline's kernel (or why it is interpreted).
    Clif,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return daphne::usage_error(&e),
    };
    let Some(script) = cli.script.as_deref().filter(|_| !cli.builtins) else {
        out(&daphne_lower::reference());
        return Status::Success.into();
    };
    let file = match read_script(script) {
        Ok(f) => f,
        Err(f) => {
            eprint!("{}", f.message);
            return f.status.into();
        }
    };
    let known = std::iter::once("lower").chain(daphne::pass_manager(true).names()).collect::<Vec<_>>();
    if let Some(bad) = cli.dump_after.iter().find(|p| *p != "all" && !known.contains(&p.as_str())) {
        eprintln!("error: --dump-after: no pass is named `{bad}`; the passes are: all, {}", known.join(", "));
        return Status::CompilerError.into();
    }
    match cli.emit {
        Emit::Tokens => {
            let lexed = lex(&file.text);
            out(&dump::tokens(&lexed.tokens, &file));
            if !lexed.diagnostics.is_empty() {
                eprint!("{}", daphne_frontend::diagnostic::render_all(&lexed.diagnostics, &file));
                return Status::ParserError.into();
            }
        }
        Emit::Ast => match parse_script(&file) {
            Ok(script) => out(&dump::ast(&script, &file)),
            Err(f) => {
                eprint!("{}", f.message);
                return f.status.into();
            }
        },
        Emit::Ir | Emit::Pipelines | Emit::Clif => {
            match script_args(cli.args.iter().chain(&cli.script_args)).and_then(|a| {
                let config = match &cli.config {
                    Some(path) => read_config(path)?,
                    None => UserConfig::default(),
                };
                let mut program = load_program_with(file.clone(), &config)?;
                program.select_matrix_repr = cli.select_matrix_repr.unwrap_or(false);
                let all = cli.dump_after.iter().any(|p| p == "all");
                compile_program_observed(&program, &a, &daphne::pass_manager(true), &mut |pass, module| {
                    if all || cli.dump_after.iter().any(|p| p == pass) {
                        out(&format!("// IR after {pass}\n{}\n", daphne_ir::print::module(module)));
                    }
                })
            }) {
                Ok(module) if cli.emit == Emit::Pipelines => out(&daphne_ir::pipeline::describe(&module)),
                Ok(module) if cli.emit == Emit::Clif => out(&clif(&module)),
                Ok(module) => out(&daphne_ir::print::module(&module)),
                Err(f) => {
                    eprint!("{}", f.message);
                    return f.status.into();
                }
            }
        }
    }
    Status::Success.into()
}

/// The kernel of every pipeline as Cranelift IR, numbered as `--emit pipelines` numbers them.
fn clif(module: &daphne_ir::Module) -> String {
    let mut compiler = match daphne_codegen::KernelCompiler::new() {
        Ok(c) => c,
        Err(e) => return format!("; no JIT on this machine: {e}\n"),
    };
    let mut text = String::new();
    let mut n = 0;
    for f in &module.functions {
        for id in daphne_ir::pipeline::pipelines(f) {
            n += 1;
            let at = f.loc(id).map_or(String::new(), |l| format!(" ({})", module.describe(l)));
            text.push_str(&format!("; pipeline {n} in @{}{at}\n", f.name));
            match compiler.compile(f, id) {
                Some(k) => text.push_str(&k.clif),
                None => text.push_str("; not compiled (outside what the JIT covers): interpreted\n"),
            }
            text.push('\n');
        }
    }
    if n == 0 {
        text.push_str("; no pipelines\n");
    }
    text
}

/// Writes to stdout; a closed pipe (`daphnec ... | head`) ends the output quietly instead of
/// panicking as `print!` would.
fn out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
