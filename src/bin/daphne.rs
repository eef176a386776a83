//! `daphne`: run a DaphneDSL script.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use daphne::{Status, parse_script, read_script};

/// Run a DaphneDSL script.
///
/// Script arguments are given as `name=value` after the script or with `--args`, and read in
/// the script as `$name`. Exit status: 0 success, 1 parse error, 2 compile error, 3 runtime error.
#[derive(Debug, Parser)]
#[command(name = "daphne", version)]
struct Cli {
    /// The DaphneDSL script to run.
    script: PathBuf,

    /// Script arguments as `name=value`.
    #[arg(value_name = "NAME=VALUE")]
    script_args: Vec<String>,

    /// Script arguments as a comma-separated list `name=value,name=value`.
    #[arg(long = "args", value_name = "NAME=VALUE,...", value_delimiter = ',')]
    args: Vec<String>,
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
    if let Err(f) = parse_script(&file) {
        eprint!("{}", f.message);
        return f.status.into();
    }
    for arg in cli.script_args.iter().chain(&cli.args) {
        if !arg.contains('=') {
            eprintln!("error: script argument `{arg}` is not of the form name=value");
            return Status::ParserError.into();
        }
    }
    // The frontend is all this build has: a well-formed script is checked, not run.
    eprintln!(
        "error: {}: the script is syntactically valid, but this build of daphne has no IR lowering or runtime yet, so it cannot run it",
        file.name
    );
    Status::CompilerError.into()
}
