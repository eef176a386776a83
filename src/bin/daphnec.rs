//! `daphnec`: the DaphneDSL compiler's inspection tool. Prints a script's intermediate forms.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use daphne::{Status, UserConfig, compile, parse_script, read_config, read_script, script_args};
use daphne_frontend::{dump, lex};

/// Compile a DaphneDSL script and print one of its intermediate forms.
#[derive(Debug, Parser)]
#[command(name = "daphnec", version)]
struct Cli {
    /// The DaphneDSL script to compile.
    script: PathBuf,

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
    /// The typed IR after lowering, in its canonical text form.
    Ir,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let file = match read_script(&cli.script) {
        Ok(f) => f,
        Err(f) => {
            eprint!("{}", f.message);
            return f.status.into();
        }
    };
    match cli.emit {
        Emit::Tokens => {
            let lexed = lex(&file.text);
            print!("{}", dump::tokens(&lexed.tokens, &file));
            if !lexed.diagnostics.is_empty() {
                eprint!("{}", daphne_frontend::diagnostic::render_all(&lexed.diagnostics, &file));
                return Status::ParserError.into();
            }
        }
        Emit::Ast => match parse_script(&file) {
            Ok(script) => print!("{}", dump::ast(&script, &file)),
            Err(f) => {
                eprint!("{}", f.message);
                return f.status.into();
            }
        },
        Emit::Ir => match script_args(cli.args.iter().chain(&cli.script_args)).and_then(|a| {
            let config = match &cli.config {
                Some(path) => read_config(path)?,
                None => UserConfig::default(),
            };
            compile(&file, &a, cli.select_matrix_repr.unwrap_or(false), &config)
        }) {
            Ok(module) => print!("{}", daphne_ir::print::module(&module)),
            Err(f) => {
                eprint!("{}", f.message);
                return f.status.into();
            }
        },
    }
    Status::Success.into()
}
