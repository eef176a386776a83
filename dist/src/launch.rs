//! Where workers come from: a list of addresses (`DISTRIBUTED_WORKERS`, DAPHNE's variable), or
//! worker processes started on loopback for this run and stopped at its end.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// What a worker prints once it serves (DAPHNE's wording), followed by its address.
pub const STARTED: &str = "Started Distributed Worker on ";

/// How long a started worker may take to report its address.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The addresses of `DISTRIBUTED_WORKERS` (`host:port,host:port`), if it is set and not empty.
pub fn from_env() -> Option<Vec<String>> {
    let list = std::env::var("DISTRIBUTED_WORKERS").ok()?;
    let addrs: Vec<String> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    (!addrs.is_empty()).then_some(addrs)
}

/// Worker processes started for this run; stopped (killed and reaped) when dropped. They also
/// exit by themselves when this process dies: each watches its standard input, which is a pipe
/// from here.
pub struct LocalWorkers {
    children: Vec<Child>,
    pub addrs: Vec<String>,
}

impl std::fmt::Debug for LocalWorkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalWorkers({:?})", self.addrs)
    }
}

/// The `daphne-worker` binary: `DAPHNE_WORKER` if set, else beside the running executable.
pub fn worker_binary() -> Result<std::path::PathBuf, String> {
    if let Some(p) = std::env::var_os("DAPHNE_WORKER") {
        return Ok(p.into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the running executable: {e}"))?;
    let dir = exe.parent().ok_or("cannot find the directory of the running executable")?;
    let path = dir.join("daphne-worker");
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "cannot start local workers: {} does not exist (build it with `cargo build --bins`)",
            path.display()
        ))
    }
}

/// Starts `n` workers on 127.0.0.1 with free ports, each with `threads` threads.
pub fn start_local(n: usize, threads: usize) -> Result<LocalWorkers, String> {
    let bin = worker_binary()?;
    let mut workers = LocalWorkers { children: Vec::new(), addrs: Vec::new() };
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<String, String>)>();
    for i in 0..n {
        let mut child = Command::new(&bin)
            .arg("127.0.0.1:0")
            .arg(format!("--num-threads={}", threads.max(1)))
            .arg("--exit-with-stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stdout = child.stdout.take();
        workers.children.push(child);
        let tx = tx.clone();
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            let mut lines = std::io::BufReader::new(stdout).lines();
            let first = match lines.next() {
                Some(Ok(line)) => match line.strip_prefix(STARTED) {
                    Some(addr) => Ok(addr.trim().to_owned()),
                    None => Err(format!("a local worker printed `{line}` instead of its address")),
                },
                _ => Err("a local worker exited before it served".to_owned()),
            };
            let _ = tx.send((i, first));
            // Keep draining what the worker prints, so it never blocks on a full pipe.
            for _ in lines {}
        });
    }
    let mut addrs = vec![String::new(); n];
    let deadline = std::time::Instant::now() + START_TIMEOUT;
    for _ in 0..n {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, Ok(addr))) => addrs[i] = addr,
            Ok((_, Err(e))) => return Err(e),
            Err(_) => return Err(format!("local workers did not start within {} s", START_TIMEOUT.as_secs())),
        }
    }
    workers.addrs = addrs;
    Ok(workers)
}

impl Drop for LocalWorkers {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
        }
        for c in &mut self.children {
            let _ = c.wait();
        }
    }
}

/// Blocks until standard input ends (a local worker's way of noticing its parent is gone).
pub fn wait_for_stdin_end() {
    let mut sink = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
}
