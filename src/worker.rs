//! A distributed worker (DAPHNE's `DistributedWorker`), the `daphne-worker` binary and
//! `daphne worker`: it prints `Started Distributed Worker on IP:PORT` once it serves (the port
//! it got when given port 0) and stops on SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

use crate::Status;

/// Serve pipelines to a `daphne --distributed` coordinator.
#[derive(Debug, Clone, Parser)]
#[command(version)]
pub struct WorkerCli {
    /// The address to listen on, `IP:PORT` (port 0 picks a free port).
    address: String,

    /// Threads for running pipelines (default: the machine's cores, capped by
    /// SLURM_CPUS_ON_NODE when set).
    #[arg(long = "num-threads", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    num_threads: Option<u32>,

    /// A file whose first line is the token every call must carry (else DAPHNE_AUTH_TOKEN;
    /// without either, calls are not checked, and a worker on a non-loopback address warns).
    #[arg(long = "auth-token-file", value_name = "PATH")]
    auth_token_file: Option<std::path::PathBuf>,

    /// The memory the worker may take beyond what it holds idle, for everything it holds or
    /// is about to allocate (objects, results, inputs, stores under way); requests past it are
    /// refused (suffixes K, M, G). Default: the machine's memory.
    #[arg(long = "memory-limit", value_name = "BYTES", value_parser = parse_bytes)]
    memory_limit: Option<u64>,

    /// Free a coordinator's objects when it has made no call for this many seconds (it died,
    /// or dropped this worker); coordinators call every few seconds while they run.
    #[arg(long = "session-timeout", value_name = "SECONDS", value_parser = parse_seconds)]
    session_timeout: Option<f64>,

    /// Serve at most this many connections at once; more are closed as they come (default:
    /// half the files the process may open, at most 1024).
    #[arg(long = "max-connections", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,

    /// Close a connection that sends nothing for this many seconds (default 30; coordinators
    /// ping every few seconds).
    #[arg(long = "idle-timeout", value_name = "SECONDS", value_parser = parse_seconds)]
    idle_timeout: Option<f64>,

    /// Serve TLS with this certificate (PEM; with --tls-key).
    #[arg(long = "tls-cert", value_name = "PEM")]
    tls_cert: Option<std::path::PathBuf>,

    /// The key of --tls-cert (PEM).
    #[arg(long = "tls-key", value_name = "PEM")]
    tls_key: Option<std::path::PathBuf>,

    /// Require clients to present a certificate signed by this CA (PEM).
    #[arg(long = "tls-ca", value_name = "PEM")]
    tls_ca: Option<std::path::PathBuf>,

    /// Join the run of the coordinator at this address (`daphne --accept-joins=IP:PORT`):
    /// it gets partitions from the next pipeline on.
    #[arg(long = "join", value_name = "COORDINATOR")]
    join: Option<String>,

    /// Exit when standard input ends (how workers started by `daphne --distributed` notice
    /// that their coordinator is gone).
    #[arg(long = "exit-with-stdin")]
    exit_with_stdin: bool,

    /// Host N workers in this process, each a worker of its own (its endpoint, object store,
    /// sessions and compute thread) on consecutive ports from the given one (free ports for
    /// port 0), each printing its `Started` line: a cluster of N workers on one machine for
    /// measuring the coordinator (they share this process's cores).
    #[arg(long = "simulate", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    simulate: Option<u32>,
}

/// Why a value on the command line is not one.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BadValue(String);

/// A positive number of seconds.
fn parse_seconds(s: &str) -> Result<f64, BadValue> {
    match s.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() && x < 1e9 => Ok(x),
        _ => Err(BadValue(format!("`{s}` is not a positive number of seconds"))),
    }
}

/// A byte count with an optional K, M or G (powers of 1024).
fn parse_bytes(s: &str) -> Result<u64, BadValue> {
    let t = s.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&t[..i], t[i..].to_ascii_uppercase()),
        None => (t, String::new()),
    };
    let n: u64 = digits.parse().map_err(|_| BadValue(format!("`{s}` is not a byte count")))?;
    let scale: u64 = match unit.trim_end_matches('B').trim_end_matches('I') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(BadValue(format!("`{s}` is not a byte count (use K, M or G)"))),
    };
    n.checked_mul(scale).ok_or_else(|| BadValue(format!("`{s}` is too large")))
}

/// Runs a worker as the command line says (the `daphne-worker` binary and `daphne worker`):
/// parses `args` (the first is the program's name as usage messages show it), serves until
/// stopped, and returns the exit status. A bad command line exits 1, as `daphne`'s does.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let cli = match WorkerCli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => return crate::usage_error(&e),
    };
    serve(&cli)
}

/// Serves as `cli` says until stopped; the exit status.
pub fn serve(cli: &WorkerCli) -> ExitCode {
    let token = match daphne_distributed::auth::token(cli.auth_token_file.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Status::ParserError.into();
        }
    };
    let addr: SocketAddr = match cli.address.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: `{}` is not an address IP:PORT: {e}", cli.address);
            return Status::ParserError.into();
        }
    };
    let threads = cli.num_threads.map_or_else(daphne_runtime::exec::default_threads, |n| n as usize);
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the worker's runtime: {e}");
            return Status::ExecutionError.into();
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    if cli.exit_with_stdin {
        std::thread::spawn(move || {
            daphne_distributed::launch::wait_for_stdin_end();
            let _ = stop_tx.send(());
        });
    } else {
        std::mem::forget(stop_tx);
    }
    let stop = async move {
        let _ = stop_rx.await;
    };
    let tls =
        daphne_distributed::tls::Files { cert: cli.tls_cert.clone(), key: cli.tls_key.clone(), ca: cli.tls_ca.clone() };
    let (join, join_token, join_tls) = (cli.join.clone(), token.clone(), tls.clone());
    let options = daphne_distributed::worker::ServeOptions {
        threads,
        stoppable: false,
        token,
        memory_limit: cli.memory_limit,
        tls,
        session_timeout: cli.session_timeout.map(std::time::Duration::from_secs_f64),
        max_connections: cli.max_connections.map(|n| n as usize),
        idle_timeout: cli.idle_timeout.map(std::time::Duration::from_secs_f64),
    };
    let count = cli.simulate.unwrap_or(1) as usize;
    let served = rt.block_on(async {
        use daphne_distributed::worker;
        // Every server bound (and its line printed) before any serves.
        if addr.port() != 0 && usize::from(addr.port()) + count - 1 > usize::from(u16::MAX) {
            return Err(daphne_distributed::error::Error::Start {
                what: "serving",
                cause: format!("{count} ports from {} pass the last port", addr.port()),
            });
        }
        let mut servers = Vec::with_capacity(count);
        for i in 0..count {
            // Below 65536 (checked above); port 0 picks a free port each time.
            let port = if addr.port() == 0 { 0 } else { addr.port() + i as u16 };
            let server = worker::Server::new(worker::bind(SocketAddr::new(addr.ip(), port)).await?, options.clone())?;
            let bound = server.local_addr();
            {
                use std::io::Write;
                let mut out = std::io::stdout();
                let _ = writeln!(out, "{}{bound}", daphne_distributed::launch::STARTED);
                let _ = out.flush();
            }
            if let Some(coordinator) = join.clone() {
                let (token, tls) = (join_token.clone(), join_tls.clone());
                std::thread::spawn(move || {
                    let me = bound.to_string();
                    let timeout = std::time::Duration::from_secs(30);
                    if let Err(e) = worker::join(&coordinator, &me, token.as_deref(), &tls, timeout) {
                        eprintln!("error: {e}");
                    }
                });
            }
            servers.push(server);
        }
        // One stop for all: stdin's end or a signal.
        let (stopped_tx, stopped_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            tokio::select! {
                _ = stop => {}
                _ = worker::signalled() => {}
            }
            let _ = stopped_tx.send(true);
        });
        let mut running = tokio::task::JoinSet::new();
        for server in servers {
            let mut stopped = stopped_rx.clone();
            running.spawn(server.serve(async move {
                let _ = stopped.wait_for(|s| *s).await;
            }));
        }
        let mut result = Ok(());
        while let Some(r) = running.join_next().await {
            match r {
                Ok(Err(e)) if result.is_ok() => result = Err(e),
                Err(e) if result.is_ok() => {
                    result = Err(daphne_distributed::error::Error::Start { what: "serving", cause: e.to_string() })
                }
                _ => {}
            }
        }
        result
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            Status::ExecutionError.into()
        }
    }
}
