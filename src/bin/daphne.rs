//! `daphne`: run a DaphneDSL script, serve as a distributed worker (`daphne worker`), or run
//! entries interactively.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, ArgAction, CommandFactory, FromArgMatches};

use daphne_passes::{PassManager, pass};
use daphne_runtime::console;
use daphne_runtime::schedule::{Partitioning, Schedule};

use daphne::signals;

use daphne::{
    Failure, Status, UserConfig, compile_program_observed, load_program_with, read_config, read_script, script_args,
};

const INPUT: &str = "Input";
const EXECUTION: &str = "Execution";
const DISTRIBUTED: &str = "Distributed";
const DIAGNOSTICS: &str = "Explain and diagnostics";
const COMPAT_HEADING: &str = "DAPHNE compatibility (accepted, no effect in daphne-rs)";

/// What `--help` says after the options.
const AFTER_HELP: &str = "\
Modes:
  daphne SCRIPT [NAME=VALUE ...]   run a script
  daphne - [NAME=VALUE ...]        run the script read from standard input
  daphne [-i]                      interactive: entries run as typed, variables kept, a bare
                                   expression prints its value (without a script and with a
                                   terminal on stdin; else the script is read from stdin)
  daphne worker IP:PORT [...]      serve as a distributed worker (`daphne worker --help`)

Exit status:
  0    success
  1    parse error: the script, an import or the user configuration cannot be read or parsed,
       or DAPHNE's DSL checks fail (undefined names, unknown functions, argument counts); also a
       command line daphne does not take (an unknown flag, a missing script, a bad value)
  2    compile error: type and shape inference
  3    runtime error, `stop()`, or a failure of the distributed set-up (no workers)
  130  interrupted by SIGINT (Ctrl-C); what was printed is flushed first
  143  terminated by SIGTERM; what was printed is flushed first";

/// Run a DaphneDSL script.
///
/// Script arguments are given as `name=value` after the script or with `--args`, and read in
/// the script as `$name`. The exit status is DAPHNE's (see below).
#[derive(Debug, clap::Parser)]
#[command(name = "daphne", version, after_help = AFTER_HELP)]
struct Cli {
    /// The DaphneDSL script to run; `-` reads it from standard input. Without one, `daphne`
    /// runs interactively when standard input is a terminal, else reads the script from it.
    #[arg(value_name = "SCRIPT")]
    script: Option<PathBuf>,

    /// Script arguments as `name=value`.
    #[arg(value_name = "NAME=VALUE")]
    script_args: Vec<String>,

    /// Run interactively (a prompt with history and line editing; entries run as typed).
    #[arg(short = 'i', long = "interactive", help_heading = INPUT, conflicts_with = "script")]
    interactive: bool,

    /// Script arguments as a comma-separated list `name=value,name=value`.
    #[arg(long = "args", value_name = "NAME=VALUE,...", value_delimiter = ',', help_heading = INPUT)]
    args: Vec<String>,

    /// A DAPHNE user configuration (JSON): `daphnedsl_import_paths`, `sparsity_threshold`,
    /// `numberOfThreads`, `taskPartitioningScheme` and `minimumTaskSize`
    /// are used, DAPHNE's other settings are accepted.
    #[arg(long = "config", value_name = "FILE", help_heading = INPUT)]
    config: Option<PathBuf>,

    /// Give matrices whose estimated sparsity is below 0.25 the sparse (CSR) representation,
    /// as DAPHNE's option of the same name.
    #[arg(long = "select-matrix-repr", visible_alias = "select-matrix-representations", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new(), help_heading = EXECUTION)]
    select_matrix_repr: Option<bool>,

    /// Run without fusing operations into pipelines (every operation runs alone), for
    /// comparison with the default.
    #[arg(long = "no-fuse", help_heading = EXECUTION)]
    no_fuse: bool,

    /// Run the IR as lowered, without any optimizing pass.
    #[arg(long = "no-optimize", conflicts_with = "no_fuse", help_heading = EXECUTION)]
    no_optimize: bool,

    /// Run fused pipelines as JIT-compiled kernels on threads (the default; DAPHNE's flag,
    /// accepted).
    #[arg(long = "vec", conflicts_with = "no_vec", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new(), help_heading = EXECUTION)]
    vec: Option<bool>,

    /// Interpret every pipeline instead of compiling it (same output, for comparison).
    #[arg(long = "no-vec", help_heading = EXECUTION)]
    no_vec: bool,

    /// Threads of the vectorized engine (default, or 0: the machine's cores, capped by
    /// SLURM_CPUS_ON_NODE when set).
    #[arg(long = "num-threads", value_name = "N", value_parser = clap::value_parser!(u32), help_heading = EXECUTION)]
    num_threads: Option<u32>,

    /// How the engine cuts a pipeline's rows into tasks for its threads, by DAPHNE's names:
    /// STATIC (default), SS, GSS, TSS, FAC2, TFSS, FISS, VISS, PLS, MSTATIC, MFSC, PSS (AUTO is
    /// taken as STATIC, with a warning). Results are the same bytes under every scheme.
    #[arg(long = "partitioning", value_name = "SCHEME", value_parser = parse_partitioning, help_heading = EXECUTION)]
    partitioning: Option<Partitioning>,

    /// The smallest task in rows (a task is never less than one block of at least 256 rows).
    #[arg(long = "grain-size", value_name = "ROWS", value_parser = clap::value_parser!(u64).range(1..), help_heading = EXECUTION)]
    grain_size: Option<u64>,

    /// Run pipelines on distributed workers: those of DISTRIBUTED_WORKERS (host:port,...), or
    /// `--local-workers` worker processes started on this machine for the run (this program
    /// in worker mode). The output is the same bytes as a local run.
    #[arg(long = "distributed", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new(), help_heading = DISTRIBUTED)]
    distributed: Option<bool>,

    /// How the coordinator calls its workers: async-gRPC (default), sync-gRPC, or MPI (run
    /// under `mpirun -np N`: rank 0 runs the script, the other ranks serve; a build with
    /// `--features mpi`). Without --distributed it has no effect (a warning says so).
    #[arg(long = "dist_backend", visible_alias = "dist-backend", value_name = "BACKEND", value_parser = parse_backend, help_heading = DISTRIBUTED)]
    dist_backend: Option<daphne_distributed::coordinator::Backend>,

    /// The largest message of one object sent to or fetched from a worker, in bytes (at most
    /// 64 MiB, the largest chunk a worker takes).
    #[arg(long = "max-distr-chunk-size", value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..=daphne_distributed::worker::MAX_CHUNK_BYTES), help_heading = DISTRIBUTED)]
    max_distr_chunk_size: Option<u64>,

    /// How workers are found: `static` (DISTRIBUTED_WORKERS, DAPHNE's model), `local`
    /// (started on this machine for the run; the default without DISTRIBUTED_WORKERS) or
    /// `slurm` (inside an allocation, `srun daphne --distributed --launcher=slurm ...`: task 0
    /// runs the script, the other tasks serve).
    #[arg(long = "launcher", value_name = "MODEL", value_parser = ["static", "local", "slurm"], requires = "distributed", help_heading = DISTRIBUTED)]
    launcher: Option<String>,

    /// With --launcher=slurm: a file on a directory every task sees, beside which the workers
    /// announce their addresses (without it, task N serves on port --worker-port + N of its
    /// node).
    #[arg(long = "scheduler-file", value_name = "PATH", help_heading = DISTRIBUTED)]
    scheduler_file: Option<PathBuf>,

    /// With --launcher=slurm: how long the coordinator waits for the workers, in seconds.
    #[arg(long = "scheduler-timeout", value_name = "SECONDS", default_value_t = 60, help_heading = DISTRIBUTED)]
    scheduler_timeout: u64,

    /// With --launcher=slurm and no --scheduler-file: task N serves on this port + N.
    #[arg(long = "worker-port", value_name = "PORT", default_value_t = 50051, help_heading = DISTRIBUTED)]
    worker_port: u16,

    /// A file whose first line is the token every call to a worker carries (else
    /// DAPHNE_AUTH_TOKEN); workers started for the run get a fresh one without either.
    #[arg(long = "auth-token-file", value_name = "PATH", help_heading = DISTRIBUTED)]
    auth_token_file: Option<PathBuf>,

    /// Verify the workers' TLS certificates with this CA (PEM); calls go over TLS.
    #[arg(long = "tls-ca", value_name = "PEM", help_heading = DISTRIBUTED)]
    tls_ca: Option<PathBuf>,

    /// A client certificate for workers that require one (PEM; with --tls-key). Under
    /// --launcher=slurm, the worker tasks serve TLS with it.
    #[arg(long = "tls-cert", value_name = "PEM", help_heading = DISTRIBUTED)]
    tls_cert: Option<PathBuf>,

    /// The key of --tls-cert (PEM).
    #[arg(long = "tls-key", value_name = "PEM", help_heading = DISTRIBUTED)]
    tls_key: Option<PathBuf>,

    /// Accept workers that join during the run here (`daphne worker IP:PORT --join
    /// THIS_ADDRESS`); port 0 picks a free port and prints it on stderr.
    #[arg(long = "accept-joins", value_name = "IP:PORT", help_heading = DISTRIBUTED)]
    accept_joins: Option<std::net::SocketAddr>,

    /// Let --accept-joins take workers without an auth token (anyone who reaches the port
    /// could then join the run and return wrong numbers).
    #[arg(long = "insecure", help_heading = DISTRIBUTED)]
    insecure: bool,

    /// How long a worker may take to answer a health check (after a failed call) before its
    /// work moves to the other workers, in seconds.
    #[arg(long = "heartbeat-timeout", value_name = "SECONDS", default_value_t = 5.0, help_heading = DISTRIBUTED)]
    heartbeat_timeout: f64,

    /// With more workers than this taking part in a pipeline, the coordinator sends tasks and
    /// broadcasts to a few workers that forward them to the others (a tree), and relays fold
    /// their subtree's partial results (default 16; with TLS, no tree unless given: the workers
    /// then need --tls-ca to verify each other).
    #[arg(long = "tree-above", value_name = "N", help_heading = DISTRIBUTED)]
    tree_above: Option<usize>,

    /// How many workers the coordinator and each relay of a tree call (default 4).
    #[arg(long = "tree-fanout", value_name = "K", default_value_t = daphne_distributed::tree::Tree::default().fanout, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024), help_heading = DISTRIBUTED)]
    tree_fanout: usize,

    /// Without DISTRIBUTED_WORKERS: how many local worker processes to start (default 2).
    #[arg(long = "local-workers", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256), help_heading = DISTRIBUTED)]
    local_workers: Option<u32>,

    /// Pipelines over fewer cells than this run locally, unless an input is already on the
    /// workers (default 262144; 0 distributes every pipeline).
    #[arg(long = "min-distr-cells", value_name = "CELLS", help_heading = DISTRIBUTED)]
    min_distr_cells: Option<u64>,

    /// Print the IR on stderr after the named stages (comma-separated), with DAPHNE's stage
    /// names: `parsing` (after lowering), `parsing_simplified` (after dead code and common
    /// subexpression elimination), `vectorized` (after fusion into pipelines). DAPHNE's other
    /// stages are accepted with a warning (daphne-rs has no such stage).
    #[arg(long = "explain", value_name = "STAGE,...", value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(EXPLAIN_STAGES.iter().chain(DAPHNE_ONLY_STAGES)), help_heading = DIAGNOSTICS)]
    explain: Vec<String>,

    /// Print DAPHNE's timing JSON on stderr after the run (start-up, parsing, compilation,
    /// execution, total seconds), with the compile and run time of every pipeline.
    #[arg(long = "timing", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new(), help_heading = DIAGNOSTICS)]
    timing: Option<bool>,

    /// Draw no progress line on stderr (it is drawn only on a terminal, for runs longer than
    /// a second: seconds, pipelines done, workers busy, bytes moved).
    #[arg(short = 'q', long = "quiet", help_heading = DIAGNOSTICS)]
    quiet: bool,
}

/// A DAPHNE option that changes nothing in daphne-rs: accepted in DAPHNE's form, with a
/// warning on stderr when given.
struct Compat {
    name: &'static str,
    arg: CompatArg,
    /// What it does in DAPHNE.
    daphne: &'static str,
    /// Why it has no effect here.
    why: &'static str,
}

/// The argument a `Compat` option takes, as DAPHNE's LLVM option parser does.
enum CompatArg {
    /// A switch: `--name`, or `--name=true|false|1|0` (false is DAPHNE's default, no warning).
    Switch,
    /// `--name=VALUE` or `--name VALUE`.
    Value(&'static str),
    /// One of these words.
    Choice(&'static [&'static str]),
    /// An integer.
    Int,
    /// Comma-separated unsigned integers.
    Ints,
}

/// DAPHNE's options (`src/api/internal/daphne_internal.cpp`) that daphne-rs accepts without
/// effect. The others are implemented above.
const COMPAT: &[Compat] = &[
    Compat {
        name: "vec-restricted",
        arg: CompatArg::Switch,
        daphne: "vectorize only ops marked vectorizable",
        why: "fusion decides what joins a pipeline",
    },
    Compat {
        name: "pre-partition",
        arg: CompatArg::Switch,
        daphne: "partition rows into the queues first",
        why: "one queue of tasks",
    },
    Compat {
        name: "pin-workers",
        arg: CompatArg::Switch,
        daphne: "pin worker threads to CPU cores",
        why: "threads are not pinned",
    },
    Compat {
        name: "hyperthreading",
        arg: CompatArg::Switch,
        daphne: "use every logical CPU",
        why: "the default thread count already counts every logical CPU",
    },
    Compat {
        name: "debug-mt",
        arg: CompatArg::Switch,
        daphne: "debug output of the thread pool",
        why: "there is no such output",
    },
    Compat {
        name: "queue_layout",
        arg: CompatArg::Choice(&["CENTRALIZED", "PERGROUP", "PERCPU"]),
        daphne: "task queue layout",
        why: "one central queue",
    },
    Compat {
        name: "victim_selection",
        arg: CompatArg::Choice(&["SEQ", "SEQPRI", "RANDOM", "RANDOMPRI"]),
        daphne: "work-stealing victims",
        why: "one queue, no stealing",
    },
    Compat {
        name: "phy-batch-size",
        arg: CompatArg::Int,
        daphne: "bytes per batch within a task",
        why: "kernels work a block of rows at a time",
    },
    Compat {
        name: "no-obj-ref-mgnt",
        arg: CompatArg::Switch,
        daphne: "no reference counting of data objects",
        why: "values are freed when no longer used",
    },
    Compat {
        name: "no-ipa-const-propa",
        arg: CompatArg::Switch,
        daphne: "no inter-procedural constant propagation",
        why: "use --no-optimize to turn the passes off",
    },
    Compat {
        name: "no-phy-op-selection",
        arg: CompatArg::Switch,
        daphne: "no physical operator selection",
        why: "there is one kernel per op",
    },
    Compat {
        name: "columnar",
        arg: CompatArg::Switch,
        daphne: "columnar relational operators",
        why: "there are no columnar operators",
    },
    Compat {
        name: "optimistic-splitting",
        arg: CompatArg::Switch,
        daphne: "optimistic splitting for grouped sums",
        why: "there are no columnar operators",
    },
    Compat { name: "cuda", arg: CompatArg::Switch, daphne: "CUDA kernels", why: "there are no GPU kernels" },
    Compat { name: "fpgaopencl", arg: CompatArg::Switch, daphne: "FPGA kernels", why: "there are no FPGA kernels" },
    Compat {
        name: "libdir",
        arg: CompatArg::Value("DIR"),
        daphne: "the kernel catalog's directory",
        why: "kernels are built in",
    },
    Compat {
        name: "kernel-ext",
        arg: CompatArg::Value("FILE"),
        daphne: "a kernel extension's catalog",
        why: "kernels are built in; extensions cannot be loaded",
    },
    Compat {
        name: "codegen",
        arg: CompatArg::Switch,
        daphne: "MLIR code generation",
        why: "pipelines are always compiled (by Cranelift; --no-vec interprets them)",
    },
    Compat {
        name: "mlir-hybrid-codegen",
        arg: CompatArg::Switch,
        daphne: "hybrid MLIR code generation",
        why: "pipelines are always compiled (by Cranelift)",
    },
    Compat {
        name: "matmul-vec-size-bits",
        arg: CompatArg::Int,
        daphne: "MLIR matmul vector size",
        why: "products run on daphne-rs's own kernel",
    },
    Compat {
        name: "matmul-tile",
        arg: CompatArg::Switch,
        daphne: "MLIR matmul tiling",
        why: "products run on daphne-rs's own kernel",
    },
    Compat {
        name: "matmul-unroll-factor",
        arg: CompatArg::Int,
        daphne: "MLIR matmul unrolling",
        why: "products run on daphne-rs's own kernel",
    },
    Compat {
        name: "matmul-unroll-jam-factor",
        arg: CompatArg::Int,
        daphne: "MLIR matmul unroll-and-jam",
        why: "products run on daphne-rs's own kernel",
    },
    Compat {
        name: "matmul-num-vec-registers",
        arg: CompatArg::Int,
        daphne: "MLIR matmul registers",
        why: "products run on daphne-rs's own kernel",
    },
    Compat {
        name: "matmul-fixed-tile-sizes",
        arg: CompatArg::Ints,
        daphne: "MLIR matmul tile sizes",
        why: "products run on daphne-rs's own kernel",
    },
    Compat {
        name: "matmul-invert-loops",
        arg: CompatArg::Switch,
        daphne: "MLIR matmul loop order",
        why: "products run on daphne-rs's own kernel",
    },
    Compat {
        name: "statistics",
        arg: CompatArg::Switch,
        daphne: "per-kernel run-time statistics",
        why: "there are none (--timing lists every pipeline's times)",
    },
    Compat {
        name: "enable-property-recording",
        arg: CompatArg::Switch,
        daphne: "record data properties",
        why: "data properties are not recorded",
    },
    Compat {
        name: "enable-property-insert",
        arg: CompatArg::Switch,
        daphne: "insert recorded data properties",
        why: "data properties are not recorded",
    },
    Compat {
        name: "properties-file-path",
        arg: CompatArg::Value("FILE"),
        daphne: "the data properties' file",
        why: "data properties are not recorded",
    },
    Compat {
        name: "enable-profiling",
        arg: CompatArg::Switch,
        daphne: "PAPI profiling",
        why: "there is no PAPI profiling",
    },
    Compat { name: "enable-hdfs", arg: CompatArg::Switch, daphne: "HDFS files", why: "there is no HDFS support" },
    Compat {
        name: "hdfs-ip",
        arg: CompatArg::Value("IP:PORT"),
        daphne: "the HDFS address",
        why: "there is no HDFS support",
    },
    Compat {
        name: "hdfs-username",
        arg: CompatArg::Value("NAME"),
        daphne: "the HDFS user",
        why: "there is no HDFS support",
    },
];

/// The clap argument of a `Compat` option.
fn compat_arg(c: &Compat) -> Arg {
    let arg = Arg::new(c.name)
        .long(c.name)
        .help(format!("DAPHNE: {}; no effect here: {}", c.daphne, c.why))
        .help_heading(COMPAT_HEADING)
        .action(ArgAction::Set);
    match c.arg {
        CompatArg::Switch => arg
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
            .value_name("BOOL")
            .value_parser(clap::builder::BoolishValueParser::new()),
        CompatArg::Value(name) => arg.value_name(name),
        CompatArg::Choice(words) => {
            arg.value_name("NAME").value_parser(clap::builder::PossibleValuesParser::new(words))
        }
        CompatArg::Int => arg.value_name("N").value_parser(clap::value_parser!(i64)),
        CompatArg::Ints => arg
            .value_name("N,...")
            .value_delimiter(',')
            .action(ArgAction::Append)
            .value_parser(clap::value_parser!(u32)),
    }
}

/// The warnings for the `Compat` options on the command line.
fn compat_warnings(matches: &clap::ArgMatches) -> Vec<String> {
    COMPAT
        .iter()
        .filter(|c| matches.value_source(c.name) == Some(clap::parser::ValueSource::CommandLine))
        .filter(|c| !matches!(c.arg, CompatArg::Switch) || matches.get_one::<bool>(c.name) == Some(&true))
        .map(|c| format!("daphne: warning: --{} has no effect in daphne-rs: {}\n", c.name, c.why))
        .collect()
}

/// Parses the command line: the options, and the warnings to print for DAPHNE's options that
/// are accepted without effect.
fn parse_cli(args: Vec<std::ffi::OsString>) -> Result<(Cli, Vec<String>), clap::Error> {
    let command = Cli::command().args(COMPAT.iter().map(compat_arg));
    let matches = command.try_get_matches_from(args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    let mut warnings = compat_warnings(&matches);
    let raw = |id: &str| matches.get_raw(id).into_iter().flatten().map(|v| v.to_string_lossy().into_owned());
    if raw("partitioning").any(|v| v.eq_ignore_ascii_case("AUTO")) {
        warnings.push("daphne: warning: --partitioning=AUTO is not implemented in daphne-rs: STATIC is used\n".into());
    }
    for stage in cli.explain.iter().filter(|s| DAPHNE_ONLY_STAGES.contains(&s.as_str())) {
        warnings.push(format!(
            "daphne: warning: --explain={stage}: daphne-rs has no such stage, nothing is shown for it\n"
        ));
    }
    if cli.dist_backend.is_some() && cli.distributed != Some(true) {
        warnings.push("daphne: warning: --dist_backend has no effect without --distributed\n".into());
    }
    Ok((cli, warnings))
}

fn parse_backend(name: &str) -> Result<daphne_distributed::coordinator::Backend, String> {
    daphne_distributed::coordinator::Backend::parse(name)
        .ok_or_else(|| format!("unknown backend `{name}` (expected async-gRPC, sync-gRPC or MPI)"))
}

fn parse_partitioning(name: &str) -> Result<Partitioning, String> {
    if name.eq_ignore_ascii_case("AUTO") {
        // DAPHNE's automatic choice; `parse_cli` warns that STATIC is used.
        return Ok(Partitioning::default());
    }
    Partitioning::parse(name)
        .ok_or_else(|| format!("unknown scheme `{name}` (expected one of {})", Partitioning::names()))
}

/// The stages `--explain` can show, by DAPHNE's names.
const EXPLAIN_STAGES: &[&str] = &["parsing", "parsing_simplified", "sql", "vectorized"];

/// DAPHNE's other `--explain` stages, which daphne-rs does not have.
const DAPHNE_ONLY_STAGES: &[&str] = &[
    "columnar",
    "property_inference",
    "select_matrix_repr",
    "transfer_data_props",
    "phy_op_selection",
    "type_adaptation",
    "obj_ref_mgnt",
    "kernels",
    "codegen",
    "mlir_codegen_sparsity_exploiting_op_fusion",
    "mlir_codegen_daphneir_to_mlir",
    "mlir_codegen_mlir_specific",
    "llvm",
];

fn main() -> ExitCode {
    let started = std::time::Instant::now();
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "worker") {
        // `daphne worker ...`: the worker's own command line (its usage names `daphne worker`).
        argv.splice(0..2, [std::ffi::OsString::from("daphne worker")]);
        return daphne::worker::main(argv);
    }
    let (cli, warnings) = match parse_cli(argv) {
        Ok(parsed) => parsed,
        Err(e) => return daphne::usage_error(&e),
    };
    // Line by line to a terminal, in blocks to a pipe or a file.
    console::set_buffered(!std::io::stdout().is_terminal());
    for w in &warnings {
        console::eprint(w);
    }
    let distributed = cli.distributed == Some(true);
    let status = if distributed && cli.dist_backend == Some(daphne_distributed::coordinator::Backend::Mpi) {
        main_mpi(&cli, started)
    } else if distributed && cli.launcher.as_deref() == Some("slurm") {
        main_slurm(&cli, started)
    } else if cli.interactive || (cli.script.is_none() && std::io::stdin().is_terminal()) {
        repl(&cli)
    } else {
        report(run(&cli, started, None, None))
    };
    let _ = console::flush();
    status
}

/// The interactive mode: entries read with a line editor (or line by line when standard input
/// is not a terminal), each run as it is complete, the variables kept (`daphne::session`).
fn repl(cli: &Cli) -> ExitCode {
    use rustyline::error::ReadlineError;
    let prepared = (|| -> Result<_, Failure> {
        let args = script_args(cli.args.iter().chain(&cli.script_args))?;
        let config = match &cli.config {
            Some(path) => read_config(path)?,
            None => UserConfig::default(),
        };
        Ok((args, config))
    })();
    let (args, config) = match prepared {
        Ok(p) => p,
        Err(f) => return report(Err(f)),
    };
    let schedule = schedule(cli, &config);
    let remote = if cli.distributed == Some(true) {
        match connect(cli, &schedule, None, None) {
            Ok(c) => Some(c),
            Err(f) => return report(Err(f)),
        }
    } else {
        None
    };
    // On a terminal, Ctrl-C interrupts the entry that runs; through a pipe it ends the session.
    let interrupt =
        std::io::stdin().is_terminal().then(|| std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)));
    signals::install_or_warn(interrupt.clone());
    for (given, flag) in [(cli.timing == Some(true), "--timing"), (!cli.explain.is_empty(), "--explain")] {
        if given {
            console::eprint(&format!("daphne: warning: {flag} has no effect in the interactive mode\n"));
        }
    }
    let mut session =
        daphne::session::Session::new(args, config.clone(), cli.select_matrix_repr.unwrap_or(false), passes(cli));
    let mut editor = match rustyline::DefaultEditor::new() {
        Ok(e) => e,
        Err(e) => return report(Err(runtime_error(format!("cannot start the line editor: {e}")))),
    };
    let terminal = std::io::stdin().is_terminal();
    let history = terminal.then(history_file).flatten();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    if terminal {
        console::eprint(&format!(
            "daphne {} interactive: statements run as entered, a bare expression prints its value; Ctrl-D ends\n",
            env!("CARGO_PKG_VERSION")
        ));
    }
    let mut entry = String::new();
    loop {
        let _ = console::flush();
        let prompt = if entry.is_empty() { "daphne> " } else { "   ...> " };
        match editor.readline(prompt) {
            Ok(line) => {
                entry.push_str(&line);
                entry.push('\n');
                if daphne::session::is_open(&entry) {
                    continue;
                }
                let text = daphne::session::complete(&std::mem::take(&mut entry));
                if text.trim().is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(text.trim_end());
                let (distribute, progress) = track(cli, remote.clone());
                let mut options = exec_options(cli, &config, schedule, distribute, None);
                if let Some(flag) = &interrupt {
                    flag.store(false, std::sync::atomic::Ordering::Relaxed);
                    options.interrupt = Some(flag.clone());
                }
                let result = session.run(&text, options, &mut console::Stdout, &mut console::Stderr);
                drop(progress);
                if let Err(f) = result {
                    console::eprint(&f.message);
                }
            }
            // Ctrl-C at the prompt drops the entry being typed.
            Err(ReadlineError::Interrupted) => entry.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return report(Err(runtime_error(format!("cannot read the entry: {e}")))),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Status::Success.into()
}

/// Where the interactive mode keeps its history: `DAPHNE_HISTORY` (empty: nowhere), else
/// `~/.daphne_history`.
fn history_file() -> Option<PathBuf> {
    match std::env::var_os("DAPHNE_HISTORY") {
        Some(p) if p.is_empty() => None,
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".daphne_history")),
    }
}

/// `--launcher=slurm`: task 0 runs the script over the others, which serve until it stops them.
fn main_slurm(cli: &Cli, started: std::time::Instant) -> ExitCode {
    use daphne_distributed::launch::{Launcher, Role, Slurm};
    let timeout = std::time::Duration::from_secs(cli.scheduler_timeout);
    let slurm = match Slurm::from_env(cli.scheduler_file.clone(), cli.worker_port, timeout) {
        Ok(s) => s,
        Err(e) => return report(Err(runtime_error(e))),
    };
    match slurm.role() {
        Role::Worker { listen } => {
            let threads = cli
                .num_threads
                .map_or_else(|| (daphne_runtime::exec::default_threads() / slurm.tasks_here()).max(1), |n| n as usize);
            let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
                Ok(rt) => rt,
                Err(e) => return report(Err(runtime_error(format!("cannot start the worker's runtime: {e}")))),
            };
            let token = match daphne_distributed::auth::token(cli.auth_token_file.as_deref()) {
                Ok(t) => t,
                Err(e) => return report(Err(runtime_error(e))),
            };
            let options = daphne_distributed::worker::ServeOptions {
                threads,
                stoppable: true,
                token,
                tls: tls_files(cli),
                ..daphne_distributed::worker::ServeOptions::default()
            };
            let served = rt.block_on(async {
                use daphne_distributed::worker;
                let server = worker::Server::new(worker::bind(listen).await?, options)?;
                slurm.announce(server.local_addr())?;
                server.serve(worker::signalled()).await
            });
            report(served.map_err(runtime_error))
        }
        Role::Coordinator => {
            let connected = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let result = run(cli, started, None, Some((Box::new(slurm.clone()), connected.clone())));
            if !connected.load(std::sync::atomic::Ordering::Relaxed) {
                // The run ended before it reached the workers: they still wait for it.
                let mut s = slurm.clone();
                if let Ok((addrs, _)) = s.workers() {
                    let token = daphne_distributed::auth::token(cli.auth_token_file.as_deref()).ok().flatten();
                    daphne_distributed::link::stop_workers(addrs, token.as_deref(), &tls_files(cli));
                }
            }
            slurm.clean_up();
            report(result)
        }
    }
}

/// Exits as a run ended: its failure printed on stderr (after what the script printed) with
/// DAPHNE's status.
fn report(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => Status::Success.into(),
        Err(f) => {
            console::eprint(&f.message);
            f.status.into()
        }
    }
}

/// `--dist_backend=MPI`: every rank runs this; rank 0 runs the script over the others.
#[cfg(feature = "mpi")]
fn main_mpi(cli: &Cli, started: std::time::Instant) -> ExitCode {
    use daphne_distributed::mpi;
    let universe = match mpi::initialize() {
        Ok(u) => u,
        Err(e) => return report(Err(runtime_error(e))),
    };
    let threads = cli.num_threads.map_or_else(mpi::threads_per_rank, |n| n as usize);
    let status = match mpi::role() {
        mpi::Role::Worker { rank } => {
            mpi::serve(rank, threads);
            Status::Success.into()
        }
        mpi::Role::Coordinator { size } => match mpi::MpiLink::new(size) {
            // The link stops the workers when dropped, whatever the run did.
            Ok(link) => report(run(cli, started, Some(Box::new(link)), None)),
            Err(e) => report(Err(runtime_error(e))),
        },
    };
    drop(universe);
    status
}

#[cfg(not(feature = "mpi"))]
fn main_mpi(_cli: &Cli, _started: std::time::Instant) -> ExitCode {
    report(Err(runtime_error(
        "this daphne was built without the MPI backend: build it with `cargo build --release --features mpi` (needs Open MPI: apt-get install libopenmpi-dev openmpi-bin libclang-dev)".to_owned(),
    )))
}

/// The TLS files of the command line.
fn tls_files(cli: &Cli) -> daphne_distributed::tls::Files {
    daphne_distributed::tls::Files { cert: cli.tls_cert.clone(), key: cli.tls_key.clone(), ca: cli.tls_ca.clone() }
}

/// A failure of the distributed set-up: a runtime error (exit 3).
fn runtime_error(message: impl std::fmt::Display) -> Failure {
    Failure { message: format!("error: {message}\n"), status: Status::ExecutionError }
}

/// How a launcher hands the run its workers: the launcher, and a flag set once the run has
/// connected to them.
type Launch = (Box<dyn daphne_distributed::launch::Launcher>, std::sync::Arc<std::sync::atomic::AtomicBool>);

/// Runs the script; `link` is the transport to the workers when the launcher already made it
/// (MPI), `launch` the launcher that finds them (else DISTRIBUTED_WORKERS or local workers).
fn run(
    cli: &Cli,
    started: std::time::Instant,
    link: Option<Box<dyn daphne_distributed::link::Link>>,
    launch: Option<Launch>,
) -> Result<(), Failure> {
    let parse_start = std::time::Instant::now();
    let file = match &cli.script {
        Some(path) if path.as_os_str() != "-" => read_script(path)?,
        _ => daphne::read_stdin_script()?,
    };
    let args = script_args(cli.args.iter().chain(&cli.script_args))?;
    let config = match &cli.config {
        Some(path) => read_config(path)?,
        None => UserConfig::default(),
    };
    let mut program = load_program_with(file, &config)?;
    program.select_matrix_repr = cli.select_matrix_repr.unwrap_or(false);
    let explain = |stage: &str| cli.explain.iter().any(|s| s == stage);
    let compile_start = std::time::Instant::now();
    let passes = passes(cli);
    // DAPHNE's stage names, the phase that ends each stage here, and DAPHNE's headers. DAPHNE
    // rewrites `sql` ops into relational ops after simplifying; here SQL becomes relational
    // ops while lowering, so its stage is the IR right after lowering.
    let stages = [
        ("parsing", "lower", "IR after parsing:"),
        ("sql", "lower", "IR after SQL parsing:"),
        ("parsing_simplified", pass::SIMPLIFY, "IR after parsing and some simplifications:"),
        ("vectorized", pass::VECTORIZE, "IR after vectorization:"),
    ];
    let module = compile_program_observed(&program, &args, &passes, &mut |pass, module| {
        for (stage, phase, header) in stages {
            if pass == phase && explain(stage) {
                console::eprint(&format!("{header}\n{}", daphne_ir::print::module(module)));
            }
        }
    })?;
    let timings = (cli.timing == Some(true)).then(|| std::sync::Arc::new(std::sync::Mutex::new(Vec::new())));
    let schedule = schedule(cli, &config);
    let remote = if cli.distributed == Some(true) { Some(connect(cli, &schedule, link, launch)?) } else { None };
    signals::install_or_warn(None);
    let (distribute, progress) = track(cli, remote.clone());
    let options = exec_options(cli, &config, schedule, distribute, timings.clone());
    let exec_start = std::time::Instant::now();
    let result = daphne::execute_with(&module, &program.files, options, &mut console::Stdout, &mut console::Stderr);
    drop(progress);
    let transfer = remote.as_ref().map(|c| (c.transfer(), c.workers().to_vec()));
    // Frees what the run left on the workers and stops workers started for it.
    drop(remote);
    if let Some(timings) = timings {
        let end = std::time::Instant::now();
        let secs = |a: std::time::Instant, b: std::time::Instant| b.duration_since(a).as_secs_f64();
        let all = timings.lock().map(|t| t.clone()).unwrap_or_default();
        let (cells, worker_cells) =
            all.iter().fold((0u64, 0u64), |(c, w), t| (c.saturating_add(t.cells), w.saturating_add(t.worker_cells)));
        let (pipelines, ops): (Vec<_>, Vec<_>) = all.into_iter().partition(|t| t.op == "pipeline");
        let pipelines: Vec<String> = pipelines
            .into_iter()
            .map(|t| {
                serde_json::json!({
                    "function": t.function,
                    "at": t.loc.map(|l| module.describe(l)),
                    "compiled": t.compiled,
                    "compile_seconds": t.compile_seconds,
                    "compiled_ahead": t.compiled_ahead,
                    "runs": t.runs,
                    "distributed_runs": t.distributed_runs,
                    "run_seconds": t.run_seconds,
                    "cells": t.cells,
                    "worker_cells": t.worker_cells,
                    "reused_bytes": t.reused_bytes,
                })
                .to_string()
            })
            .collect();
        // The other ops that touched matrix cells, and where.
        let ops: Vec<String> = ops
            .into_iter()
            .map(|t| {
                serde_json::json!({
                    "function": t.function,
                    "op": t.op,
                    "at": t.loc.map(|l| module.describe(l)),
                    "runs": t.runs,
                    "on_workers": t.distributed_runs,
                    "run_seconds": t.run_seconds,
                    "cells": t.cells,
                    "worker_cells": t.worker_cells,
                })
                .to_string()
            })
            .collect();
        let distributed = transfer.map_or(String::new(), |(t, workers)| {
            let workers: Vec<serde_json::Value> = workers
                .iter()
                .map(
                    |w| serde_json::json!({"address": w.address, "threads": w.threads, "memory_bytes": w.memory_bytes}),
                )
                .collect();
            format!(
                ", \"distributed\": {}",
                serde_json::json!({
                    "workers": workers,
                    "pipelines": t.pipelines,
                    "created_matrices": t.created,
                    "created_cells": t.created_cells,
                    "created_frames": t.created_frames,
                    "converted_frames": t.converted,
                    "stored_bytes": t.stored_bytes,
                    "store_seconds": t.store_seconds,
                    "broadcast_bytes": t.broadcast_bytes,
                    "broadcast_seconds": t.broadcast_seconds,
                    "fetched_bytes": t.fetched_bytes,
                    "fetch_seconds": t.fetch_seconds,
                    "rebuilt_pipelines": t.rebuilt,
                    "rebuilt_depth": t.rebuilt_depth,
                    "fold_nodes": t.fold_nodes,
                    "worker_cell_share": if cells == 0 { 0.0 } else { worker_cells as f64 / cells as f64 },
                })
            )
        });
        // DAPHNE's keys in DAPHNE's order, then ours.
        let report = format!(
            "{{\"startup_seconds\": {}, \"parsing_seconds\": {}, \"compilation_seconds\": {}, \"execution_seconds\": {}, \"total_seconds\": {}, \"pipelines\": [{}], \"ops\": [{}], \"peak_rss_bytes\": {}, \"cpu_seconds\": {}{distributed}}}",
            secs(started, parse_start),
            secs(parse_start, compile_start),
            secs(compile_start, exec_start),
            secs(exec_start, end),
            secs(started, end),
            pipelines.join(", "),
            ops.join(", "),
            daphne_runtime::memory::peak_resident().unwrap_or(0),
            cpu_seconds().unwrap_or(0.0)
        );
        console::eprint(&format!("{report}\n"));
    }
    result
}

/// The optimizing passes the command line asks for.
fn passes(cli: &Cli) -> PassManager {
    if cli.no_optimize {
        PassManager::none()
    } else {
        daphne::pass_manager_for(!cli.no_fuse, cli.distributed == Some(true))
    }
}

/// The vectorized engine's threads and partitioning: the command line's, else the user
/// configuration's, else the defaults.
fn schedule(cli: &Cli, config: &UserConfig) -> Schedule {
    Schedule {
        threads: cli
            .num_threads
            .filter(|&n| n > 0)
            .map(|n| n as usize)
            .or(config.threads)
            .unwrap_or_else(daphne_runtime::exec::default_threads),
        partitioning: cli.partitioning.or(config.partitioning).unwrap_or_default(),
        grain_rows: cli.grain_size.map(|g| g as usize).or(config.grain_rows).unwrap_or(1),
    }
}

/// How the executor runs a script: the engine's schedule, where pipelines may go, timings,
/// and the configuration's CSV float format.
fn exec_options(
    cli: &Cli,
    config: &UserConfig,
    schedule: Schedule,
    remote: Option<std::sync::Arc<dyn daphne_runtime::exec::Distribute>>,
    timings: Option<std::sync::Arc<std::sync::Mutex<Vec<daphne_runtime::exec::PipelineTiming>>>>,
) -> daphne_runtime::exec::Options {
    daphne_runtime::exec::Options {
        ship_pipelines: false,
        vectorize: !cli.no_vec,
        schedule,
        timings,
        remote,
        csv_floats: config.csv_floats,
        interrupt: None,
        engine: None,
    }
}

/// Where a run's pipelines may go (the cluster of a distributed run), and its progress line
/// when stderr is a terminal and not `--quiet` (then a tracker counts the pipelines and passes
/// them on to the cluster). Dropping the progress line erases it.
fn track(
    cli: &Cli,
    cluster: Option<std::sync::Arc<daphne_distributed::coordinator::Cluster>>,
) -> (Option<std::sync::Arc<dyn daphne_runtime::exec::Distribute>>, Option<daphne::progress::Progress>) {
    if cli.quiet || !std::io::stderr().is_terminal() {
        return (cluster.map(|c| c as std::sync::Arc<dyn daphne_runtime::exec::Distribute>), None);
    }
    let tracker = std::sync::Arc::new(daphne::progress::Tracker::new(cluster));
    (Some(tracker.clone()), Some(daphne::progress::Progress::start(tracker)))
}

/// The workers of a `--distributed` run: DISTRIBUTED_WORKERS, else local worker processes.
fn connect(
    cli: &Cli,
    schedule: &Schedule,
    link: Option<Box<dyn daphne_distributed::link::Link>>,
    launch: Option<Launch>,
) -> Result<std::sync::Arc<daphne_distributed::coordinator::Cluster>, Failure> {
    use daphne_distributed::{coordinator, launch};
    let mut options = coordinator::Options {
        backend: cli.dist_backend.unwrap_or_default(),
        vectorize: !cli.no_vec,
        partitioning: schedule.partitioning,
        grain_rows: schedule.grain_rows,
        tree: daphne_distributed::tree::Tree {
            above: cli.tree_above.unwrap_or(if tls_files(cli).any() {
                usize::MAX
            } else {
                daphne_distributed::tree::Tree::default().above
            }),
            fanout: cli.tree_fanout,
        },
        ..coordinator::Options::default()
    };
    if let Some(b) = cli.max_distr_chunk_size {
        options.max_chunk_bytes = usize::try_from(b).unwrap_or(usize::MAX);
    }
    if let Some(c) = cli.min_distr_cells {
        options.min_cells = usize::try_from(c).unwrap_or(usize::MAX);
    }
    if let Some(link) = link {
        return Ok(std::sync::Arc::new(coordinator::Cluster::over(link, options, None)));
    }
    options.token = daphne_distributed::auth::token(cli.auth_token_file.as_deref()).map_err(runtime_error)?;
    options.heartbeat = std::time::Duration::from_secs_f64(cli.heartbeat_timeout.clamp(0.01, 3600.0));
    options.tls = tls_files(cli);
    let (mut launcher, connected): Launch = match launch {
        Some(l) => l,
        None => {
            let chosen: Box<dyn launch::Launcher> = match (cli.launcher.as_deref(), launch::from_env()) {
                (Some("static"), None) => {
                    return Err(runtime_error(
                        "--launcher=static needs DISTRIBUTED_WORKERS=host:port,host:port".to_owned(),
                    ));
                }
                (Some("static") | None, Some(addrs)) => Box::new(launch::StaticList(addrs)),
                _ => {
                    let n = cli.local_workers.unwrap_or(2) as usize;
                    // Workers of this run only: a fresh token unless the user gave one.
                    let token = options.token.get_or_insert_with(daphne_distributed::auth::fresh).clone();
                    Box::new(launch::Local {
                        workers: n,
                        threads: (daphne_runtime::exec::default_threads() / n).max(1),
                        token: Some(token),
                    })
                }
            };
            (chosen, std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)))
        }
    };
    options.stop_workers = launcher.stops_workers();
    let (addrs, local) = launcher.workers().map_err(runtime_error)?;
    let token = options.token.clone();
    let cluster = coordinator::Cluster::connect(addrs, options, local).map_err(runtime_error)?;
    connected.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(at) = cli.accept_joins {
        if token.is_none() && !cli.insecure {
            return Err(runtime_error(
                "--accept-joins needs an auth token (--auth-token-file or DAPHNE_AUTH_TOKEN, the same the workers have): anyone who reaches the port could join the run. Give --insecure to accept joins without one".to_owned(),
            ));
        }
        let bound = cluster.accept_joins(at, token).map_err(runtime_error)?;
        if at.port() == 0 {
            console::eprint(&format!("daphne: workers may join at {bound}\n"));
        }
    }
    Ok(std::sync::Arc::new(cluster))
}

/// The CPU time this process (all its threads, not the workers it started) has used, user and
/// system, from `/proc/self/stat` (fields 14 and 15, in the ABI's fixed 100 ticks a second).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks = |i: usize| fields.get(i - 3)?.parse::<u64>().ok();
    Some((ticks(14)? + ticks(15)?) as f64 / 100.0)
}
