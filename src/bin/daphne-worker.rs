//! `daphne-worker IP:PORT`: a distributed worker (DAPHNE's `DistributedWorker`). It prints
//! `Started Distributed Worker on IP:PORT` once it serves (the port it got when given port 0)
//! and stops on SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

/// Serve pipelines to a `daphne --distributed` coordinator.
#[derive(Debug, Parser)]
#[command(name = "daphne-worker", version)]
struct Cli {
    /// The address to listen on, `IP:PORT` (port 0 picks a free port).
    address: String,

    /// Threads for running pipelines (default: the machine's cores, capped by
    /// SLURM_CPUS_ON_NODE when set).
    #[arg(long = "num-threads", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    num_threads: Option<u32>,

    /// Exit when standard input ends (how workers started by `daphne --distributed` notice
    /// that their coordinator is gone).
    #[arg(long = "exit-with-stdin")]
    exit_with_stdin: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let addr: SocketAddr = match cli.address.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: `{}` is not an address IP:PORT: {e}", cli.address);
            return ExitCode::from(1);
        }
    };
    let threads = cli.num_threads.map_or_else(daphne_runtime::exec::default_threads, |n| n as usize);
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the worker's runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    if cli.exit_with_stdin {
        std::thread::spawn(move || {
            daphne_dist::launch::wait_for_stdin_end();
            let _ = stop_tx.send(());
        });
    } else {
        std::mem::forget(stop_tx);
    }
    let stop = async move {
        let _ = stop_rx.await;
    };
    let served = rt.block_on(daphne_dist::worker::serve(
        addr,
        threads,
        false,
        |bound| {
            use std::io::Write;
            let mut out = std::io::stdout();
            let _ = writeln!(out, "{}{bound}", daphne_dist::launch::STARTED);
            let _ = out.flush();
            Ok(())
        },
        stop,
    ));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(3)
        }
    }
}
