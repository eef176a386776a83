//! `daphne`: run a DaphneDSL script.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use std::io::Write;

use daphne_passes::{PassManager, pass};
use daphne_runtime::schedule::{Partitioning, Schedule};

use daphne::{
    Failure, Status, UserConfig, compile_program_observed, load_program_with, read_config, read_script, script_args,
};

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

    /// Give matrices whose estimated sparsity is below 0.25 the sparse (CSR) representation,
    /// as DAPHNE's option of the same name.
    #[arg(long = "select-matrix-repr", visible_alias = "select-matrix-representations", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    select_matrix_repr: Option<bool>,

    /// Print the IR on stderr after the named stages (comma-separated), with DAPHNE's stage
    /// names: `parsing` (after lowering), `parsing_simplified` (after dead code and common
    /// subexpression elimination), `vectorized` (after fusion into pipelines).
    #[arg(long = "explain", value_name = "STAGE,...", value_delimiter = ',')]
    explain: Vec<String>,

    /// Run without fusing operations into pipelines (every operation runs alone), for
    /// comparison with the default.
    #[arg(long = "no-fuse")]
    no_fuse: bool,

    /// Run the IR as lowered, without any optimizing pass.
    #[arg(long = "no-optimize", conflicts_with = "no_fuse")]
    no_optimize: bool,

    /// Run fused pipelines as JIT-compiled kernels on threads (the default; DAPHNE's flag,
    /// accepted).
    #[arg(long = "vec", conflicts_with = "no_vec")]
    vec: bool,

    /// Interpret every pipeline instead of compiling it (same output, for comparison).
    #[arg(long = "no-vec")]
    no_vec: bool,

    /// Threads of the vectorized engine (default: the machine's cores, capped by
    /// SLURM_CPUS_ON_NODE when set).
    #[arg(long = "num-threads", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    num_threads: Option<u32>,

    /// How the engine cuts a pipeline's rows into tasks for its threads, by DAPHNE's names:
    /// STATIC (default), SS, GSS, TSS, FAC2, TFSS, FISS, VISS, PLS, MSTATIC, MFSC, PSS.
    /// Results are the same bytes under every scheme.
    #[arg(long = "partitioning", value_name = "SCHEME", value_parser = parse_partitioning)]
    partitioning: Option<Partitioning>,

    /// The smallest task in rows (a task is never less than one block of at least 256 rows).
    #[arg(long = "grain-size", value_name = "ROWS", value_parser = clap::value_parser!(u64).range(1..))]
    grain_size: Option<u64>,

    /// Print DAPHNE's timing JSON on stderr after the run (start-up, parsing, compilation,
    /// execution, total seconds), with the compile and run time of every pipeline.
    #[arg(long = "timing")]
    timing: bool,

    /// Run pipelines on distributed workers: those of DISTRIBUTED_WORKERS (host:port,...), or
    /// `--local-workers` worker processes started on this machine for the run. The output is
    /// the same bytes as a local run.
    #[arg(long = "distributed")]
    distributed: bool,

    /// How the coordinator calls its workers: async-gRPC (default), sync-gRPC, or MPI (run
    /// under `mpirun -np N`: rank 0 runs the script, the other ranks serve; a build with
    /// `--features mpi`).
    #[arg(long = "dist_backend", visible_alias = "dist-backend", value_name = "BACKEND", value_parser = parse_backend, requires = "distributed")]
    dist_backend: Option<daphne_dist::coordinator::Backend>,

    /// The largest message of one object sent to or fetched from a worker, in bytes (at most
    /// 64 MiB, the largest chunk a worker takes).
    #[arg(long = "max-distr-chunk-size", value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..=daphne_dist::worker::MAX_CHUNK_BYTES))]
    max_distr_chunk_size: Option<u64>,

    /// How workers are found: `static` (DISTRIBUTED_WORKERS, DAPHNE's model), `local`
    /// (started on this machine for the run; the default without DISTRIBUTED_WORKERS) or
    /// `slurm` (inside an allocation, `srun daphne --distributed --launcher=slurm ...`: task 0
    /// runs the script, the other tasks serve).
    #[arg(long = "launcher", value_name = "MODEL", value_parser = ["static", "local", "slurm"], requires = "distributed")]
    launcher: Option<String>,

    /// With --launcher=slurm: a file on a directory every task sees, beside which the workers
    /// announce their addresses (without it, task N serves on port --worker-port + N of its
    /// node).
    #[arg(long = "scheduler-file", value_name = "PATH")]
    scheduler_file: Option<PathBuf>,

    /// With --launcher=slurm: how long the coordinator waits for the workers, in seconds.
    #[arg(long = "scheduler-timeout", value_name = "SECONDS", default_value_t = 60)]
    scheduler_timeout: u64,

    /// With --launcher=slurm and no --scheduler-file: task N serves on this port + N.
    #[arg(long = "worker-port", value_name = "PORT", default_value_t = 50051)]
    worker_port: u16,

    /// A file whose first line is the token every call to a worker carries (else
    /// DAPHNE_AUTH_TOKEN); workers started for the run get a fresh one without either.
    #[arg(long = "auth-token-file", value_name = "PATH")]
    auth_token_file: Option<PathBuf>,

    /// Verify the workers' TLS certificates with this CA (PEM); calls go over TLS.
    #[arg(long = "tls-ca", value_name = "PEM")]
    tls_ca: Option<PathBuf>,

    /// A client certificate for workers that require one (PEM; with --tls-key). Under
    /// --launcher=slurm, the worker tasks serve TLS with it.
    #[arg(long = "tls-cert", value_name = "PEM")]
    tls_cert: Option<PathBuf>,

    /// The key of --tls-cert (PEM).
    #[arg(long = "tls-key", value_name = "PEM")]
    tls_key: Option<PathBuf>,

    /// Accept workers that join during the run here (`daphne-worker IP:PORT --join
    /// THIS_ADDRESS`); port 0 picks a free port and prints it on stderr.
    #[arg(long = "accept-joins", value_name = "IP:PORT")]
    accept_joins: Option<std::net::SocketAddr>,

    /// Let --accept-joins take workers without an auth token (anyone who reaches the port
    /// could then join the run and return wrong numbers).
    #[arg(long = "insecure")]
    insecure: bool,

    /// How long a worker may take to answer a health check (after a failed call) before its
    /// work moves to the other workers, in seconds.
    #[arg(long = "heartbeat-timeout", value_name = "SECONDS", default_value_t = 5.0)]
    heartbeat_timeout: f64,

    /// Without DISTRIBUTED_WORKERS: how many local worker processes to start (default 2).
    #[arg(long = "local-workers", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    local_workers: Option<u32>,

    /// Pipelines over fewer cells than this run locally, unless an input is already on the
    /// workers (default 262144; 0 distributes every pipeline).
    #[arg(long = "min-distr-cells", value_name = "CELLS")]
    min_distr_cells: Option<u64>,

    /// A DAPHNE user configuration (JSON): `daphnedsl_import_paths`, `sparsity_threshold`,
    /// `numberOfThreads`, `taskPartitioningScheme` and `minimumTaskSize`
    /// are used, DAPHNE's other settings are accepted.
    #[arg(long = "config", value_name = "FILE", require_equals = false)]
    config: Option<PathBuf>,
}

fn parse_backend(name: &str) -> Result<daphne_dist::coordinator::Backend, String> {
    daphne_dist::coordinator::Backend::parse(name)
        .ok_or_else(|| format!("unknown backend `{name}` (expected async-gRPC, sync-gRPC or MPI)"))
}

fn parse_partitioning(name: &str) -> Result<Partitioning, String> {
    Partitioning::parse(name)
        .ok_or_else(|| format!("unknown scheme `{name}` (expected one of {})", Partitioning::names()))
}

/// The stages `--explain` can show, by DAPHNE's names.
const EXPLAIN_STAGES: &[&str] = &["parsing", "parsing_simplified", "vectorized"];

fn main() -> ExitCode {
    let started = std::time::Instant::now();
    let cli = Cli::parse();
    if cli.distributed && cli.dist_backend == Some(daphne_dist::coordinator::Backend::Mpi) {
        return main_mpi(&cli, started);
    }
    if cli.distributed && cli.launcher.as_deref() == Some("slurm") {
        return main_slurm(&cli, started);
    }
    report(run(&cli, started, None, None))
}

/// `--launcher=slurm`: task 0 runs the script over the others, which serve until it stops them.
fn main_slurm(cli: &Cli, started: std::time::Instant) -> ExitCode {
    use daphne_dist::launch::{Launcher, Role, Slurm};
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
            let token = match daphne_dist::auth::token(cli.auth_token_file.as_deref()) {
                Ok(t) => t,
                Err(e) => return report(Err(runtime_error(e))),
            };
            let options = daphne_dist::worker::ServeOptions {
                threads,
                stoppable: true,
                token,
                tls: tls_files(cli),
                ..daphne_dist::worker::ServeOptions::default()
            };
            let served = rt.block_on(daphne_dist::worker::serve(
                listen,
                options,
                |bound| slurm.announce(bound),
                std::future::pending(),
            ));
            report(served.map_err(runtime_error))
        }
        Role::Coordinator => {
            let connected = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let result = run(cli, started, None, Some((Box::new(slurm.clone()), connected.clone())));
            if !connected.load(std::sync::atomic::Ordering::Relaxed) {
                // The run ended before it reached the workers: they still wait for it.
                let mut s = slurm.clone();
                if let Ok((addrs, _)) = s.workers() {
                    let token = daphne_dist::auth::token(cli.auth_token_file.as_deref()).ok().flatten();
                    daphne_dist::link::stop_workers(addrs, token.as_deref(), &tls_files(cli));
                }
            }
            slurm.clean_up();
            report(result)
        }
    }
}

/// Exits as a run ended: its failure printed on stderr with DAPHNE's status.
fn report(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => Status::Success.into(),
        Err(f) => {
            let _ = std::io::stdout().flush();
            eprint!("{}", f.message);
            f.status.into()
        }
    }
}

/// `--dist_backend=MPI`: every rank runs this; rank 0 runs the script over the others.
#[cfg(feature = "mpi")]
fn main_mpi(cli: &Cli, started: std::time::Instant) -> ExitCode {
    use daphne_dist::mpi;
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
        "this daphne was built without the MPI backend: build it with `cargo build --release --features mpi` (needs Open MPI: apt-get install libopenmpi-dev openmpi-bin libclang-dev)".into(),
    )))
}

/// The TLS files of the command line.
fn tls_files(cli: &Cli) -> daphne_dist::tls::Files {
    daphne_dist::tls::Files { cert: cli.tls_cert.clone(), key: cli.tls_key.clone(), ca: cli.tls_ca.clone() }
}

/// A failure of the distributed set-up: a runtime error (exit 3).
fn runtime_error(message: String) -> Failure {
    Failure { message: format!("error: {message}\n"), status: Status::ExecutionError }
}

/// How a launcher hands the run its workers: the launcher, and a flag set once the run has
/// connected to them.
type Launch = (Box<dyn daphne_dist::launch::Launcher>, std::sync::Arc<std::sync::atomic::AtomicBool>);

/// Runs the script; `link` is the transport to the workers when the launcher already made it
/// (MPI), `launch` the launcher that finds them (else DISTRIBUTED_WORKERS or local workers).
fn run(
    cli: &Cli,
    started: std::time::Instant,
    link: Option<Box<dyn daphne_dist::link::Link>>,
    launch: Option<Launch>,
) -> Result<(), Failure> {
    let parse_start = std::time::Instant::now();
    let file = read_script(&cli.script)?;
    let args = script_args(cli.args.iter().chain(&cli.script_args))?;
    let config = match &cli.config {
        Some(path) => read_config(path)?,
        None => UserConfig::default(),
    };
    let mut program = load_program_with(file, &config)?;
    program.select_matrix_repr = cli.select_matrix_repr.unwrap_or(false);
    if let Some(bad) = cli.explain.iter().find(|s| !EXPLAIN_STAGES.contains(&s.as_str())) {
        return Err(Failure {
            message: format!(
                "error: --explain: stage `{bad}` is not available; the stages are: {}\n",
                EXPLAIN_STAGES.join(", ")
            ),
            status: Status::ParserError,
        });
    }
    let explain = |stage: &str| cli.explain.iter().any(|s| s == stage);
    let compile_start = std::time::Instant::now();
    let passes = if cli.no_optimize { PassManager::none() } else { daphne::pass_manager(!cli.no_fuse) };
    // DAPHNE's stage names, the phase that ends each stage here, and DAPHNE's headers.
    let stages = [
        ("parsing", "lower", "IR after parsing:"),
        ("parsing_simplified", pass::SIMPLIFY, "IR after parsing and some simplifications:"),
        ("vectorized", pass::VECTORIZE, "IR after vectorization:"),
    ];
    let module = compile_program_observed(&program, &args, &passes, &mut |pass, module| {
        for (stage, phase, header) in stages {
            if pass == phase && explain(stage) {
                eprint!("{header}\n{}", daphne_ir::print::module(module));
            }
        }
    })?;
    // The interpreter runs on a thread of its own, so the streams are unlocked handles.
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let mut err = std::io::stderr();
    let timings = cli.timing.then(|| std::sync::Arc::new(std::sync::Mutex::new(Vec::new())));
    let schedule = Schedule {
        threads: cli
            .num_threads
            .map(|n| n as usize)
            .or(config.threads)
            .unwrap_or_else(daphne_runtime::exec::default_threads),
        partitioning: cli.partitioning.or(config.partitioning).unwrap_or_default(),
        grain_rows: cli.grain_size.map(|g| g as usize).or(config.grain_rows).unwrap_or(1),
    };
    let remote = if cli.distributed { Some(connect(cli, &schedule, link, launch)?) } else { None };
    let options = daphne_runtime::exec::Options {
        ship_pipelines: false,
        vectorize: !cli.no_vec,
        schedule,
        timings: timings.clone(),
        remote: remote.clone().map(|c| c as std::sync::Arc<dyn daphne_runtime::exec::Distribute>),
        csv_floats: config.csv_floats,
    };
    let exec_start = std::time::Instant::now();
    let result = daphne::execute_with(&module, &program.files, options, &mut out, &mut err);
    let _ = out.flush();
    let transfer = remote.as_ref().map(|c| (c.transfer(), c.workers().to_vec()));
    // Frees what the run left on the workers and stops workers started for it.
    drop(remote);
    if let Some(timings) = timings {
        let end = std::time::Instant::now();
        let secs = |a: std::time::Instant, b: std::time::Instant| b.duration_since(a).as_secs_f64();
        let pipelines: Vec<String> = timings
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                serde_json::json!({
                    "function": t.function,
                    "at": t.loc.map(|l| module.describe(l)),
                    "compiled": t.compiled,
                    "compile_seconds": t.compile_seconds,
                    "runs": t.runs,
                    "distributed_runs": t.distributed_runs,
                    "run_seconds": t.run_seconds,
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
                    "stored_bytes": t.stored_bytes,
                    "store_seconds": t.store_seconds,
                    "broadcast_bytes": t.broadcast_bytes,
                    "broadcast_seconds": t.broadcast_seconds,
                    "fetched_bytes": t.fetched_bytes,
                    "fetch_seconds": t.fetch_seconds,
                })
            )
        });
        // DAPHNE's keys in DAPHNE's order, then ours.
        let report = format!(
            "{{\"startup_seconds\": {}, \"parsing_seconds\": {}, \"compilation_seconds\": {}, \"execution_seconds\": {}, \"total_seconds\": {}, \"pipelines\": [{}]{distributed}}}",
            secs(started, parse_start),
            secs(parse_start, compile_start),
            secs(compile_start, exec_start),
            secs(exec_start, end),
            secs(started, end),
            pipelines.join(", ")
        );
        eprintln!("{report}");
    }
    result
}

/// The workers of a `--distributed` run: DISTRIBUTED_WORKERS, else local worker processes.
fn connect(
    cli: &Cli,
    schedule: &Schedule,
    link: Option<Box<dyn daphne_dist::link::Link>>,
    launch: Option<Launch>,
) -> Result<std::sync::Arc<daphne_dist::coordinator::Cluster>, Failure> {
    use daphne_dist::{coordinator, launch};
    let mut options = coordinator::Options {
        backend: cli.dist_backend.unwrap_or_default(),
        vectorize: !cli.no_vec,
        partitioning: format!("{:?}", schedule.partitioning).to_ascii_uppercase(),
        grain_rows: schedule.grain_rows,
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
    options.token = daphne_dist::auth::token(cli.auth_token_file.as_deref()).map_err(runtime_error)?;
    options.heartbeat = std::time::Duration::from_secs_f64(cli.heartbeat_timeout.clamp(0.01, 3600.0));
    options.tls = tls_files(cli);
    let (mut launcher, connected): Launch = match launch {
        Some(l) => l,
        None => {
            let chosen: Box<dyn launch::Launcher> = match (cli.launcher.as_deref(), launch::from_env()) {
                (Some("static"), None) => {
                    return Err(runtime_error(
                        "--launcher=static needs DISTRIBUTED_WORKERS=host:port,host:port".into(),
                    ));
                }
                (Some("static") | None, Some(addrs)) => Box::new(launch::StaticList(addrs)),
                _ => {
                    let n = cli.local_workers.unwrap_or(2) as usize;
                    // Workers of this run only: a fresh token unless the user gave one.
                    let token = options.token.get_or_insert_with(daphne_dist::auth::fresh).clone();
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
                "--accept-joins needs an auth token (--auth-token-file or DAPHNE_AUTH_TOKEN, the same the workers have): anyone who reaches the port could join the run. Give --insecure to accept joins without one".into(),
            ));
        }
        let bound = cluster.accept_joins(at, token).map_err(runtime_error)?;
        if at.port() == 0 {
            eprintln!("daphne: workers may join at {bound}");
        }
    }
    Ok(std::sync::Arc::new(cluster))
}
