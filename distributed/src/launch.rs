//! Where workers come from: a list of addresses (`DISTRIBUTED_WORKERS`, DAPHNE's variable), or
//! worker processes started on loopback for this run and stopped at its end.

use crate::error::Error;
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

/// The command that starts a local worker: the running executable in worker mode (`daphne
/// worker`), so a `daphne` serves as its own workers wherever it was installed.
pub fn worker_command() -> Result<Command, Error> {
    let exe = std::env::current_exe().map_err(|e| Error::Config(format!("cannot find the running executable: {e}")))?;
    let mut cmd = Command::new(exe);
    cmd.arg("worker");
    Ok(cmd)
}

/// Starts `n` workers on 127.0.0.1 with free ports, each with `threads` threads.
/// They get `token` (by the environment, not the command line other users can read).
pub fn start_local(n: usize, threads: usize, token: Option<&str>) -> Result<LocalWorkers, Error> {
    let mut workers = LocalWorkers { children: Vec::new(), addrs: Vec::new() };
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<String, Error>)>();
    for i in 0..n {
        let mut cmd = worker_command()?;
        match token {
            Some(t) => cmd.env(crate::auth::TOKEN_VAR, t),
            None => cmd.env_remove(crate::auth::TOKEN_VAR),
        };
        let mut child = cmd
            .arg("127.0.0.1:0")
            .arg(format!("--num-threads={}", threads.max(1)))
            .arg("--exit-with-stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::Config(format!("cannot start a local worker ({:?}): {e}", cmd.get_program())))?;
        let stdout = child.stdout.take();
        workers.children.push(child);
        let tx = tx.clone();
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            let mut lines = std::io::BufReader::new(stdout).lines();
            let first = match lines.next() {
                Some(Ok(line)) => match line.strip_prefix(STARTED) {
                    Some(addr) => Ok(addr.trim().to_owned()),
                    None => Err(Error::Config(format!("a local worker printed `{line}` instead of its address"))),
                },
                _ => Err(Error::Config("a local worker exited before it served".into())),
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
            Err(_) => {
                return Err(Error::Config(format!("local workers did not start within {} s", START_TIMEOUT.as_secs())));
            }
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
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
}

/// What a process plays in a distributed run.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// Runs the script and calls the workers.
    Coordinator,
    /// Serves on this address until the coordinator stops it.
    Worker { listen: std::net::SocketAddr },
}

/// A launch model: which part this process plays, where the workers are (starting them if
/// the model does), and how a worker tells the coordinator where it listens; as Julia's
/// ClusterManager separates launching, connecting and managing workers.
pub trait Launcher {
    /// The model's name (`--launcher=NAME`).
    fn name(&self) -> &'static str;
    /// This process's part.
    fn role(&self) -> Role;
    /// Coordinator: the workers' addresses once they serve, and the processes started for
    /// them (stopped when dropped).
    fn workers(&mut self) -> Result<(Vec<String>, Option<LocalWorkers>), Error>;
    /// Worker: announces the address it serves on.
    fn announce(&self, _bound: std::net::SocketAddr) -> Result<(), Error> {
        Ok(())
    }
    /// Whether the coordinator stops the workers when the run ends (they were started for it).
    fn stops_workers(&self) -> bool {
        false
    }
}

/// `DISTRIBUTED_WORKERS`: workers started by hand (DAPHNE's model).
pub struct StaticList(pub Vec<String>);

impl Launcher for StaticList {
    fn name(&self) -> &'static str {
        "static"
    }
    fn role(&self) -> Role {
        Role::Coordinator
    }
    fn workers(&mut self) -> Result<(Vec<String>, Option<LocalWorkers>), Error> {
        Ok((self.0.clone(), None))
    }
}

/// Worker processes on this machine, started for the run, with the run's token.
pub struct Local {
    pub workers: usize,
    pub threads: usize,
    pub token: Option<String>,
}

impl Launcher for Local {
    fn name(&self) -> &'static str {
        "local"
    }
    fn role(&self) -> Role {
        Role::Coordinator
    }
    fn workers(&mut self) -> Result<(Vec<String>, Option<LocalWorkers>), Error> {
        let local = start_local(self.workers, self.threads, self.token.as_deref())?;
        Ok((local.addrs.clone(), Some(local)))
    }
}

/// Inside a Slurm allocation (`srun daphne --distributed --launcher=slurm ...`): task 0
/// coordinates, the other tasks serve. Workers announce themselves in files beside the
/// scheduler file (`PATH.worker-N`, written atomically) on a shared directory; without one,
/// task N listens on `port + N` of its node (from `SLURM_STEP_NODELIST` and
/// `SLURM_STEP_TASKS_PER_NODE`, block distribution).
#[derive(Debug, Clone)]
pub struct Slurm {
    pub procid: usize,
    pub ntasks: usize,
    /// The node of every task.
    pub nodes: Vec<String>,
    pub scheduler_file: Option<std::path::PathBuf>,
    pub port: u16,
    pub timeout: Duration,
}

impl Slurm {
    /// The launcher of this task, from the variables Slurm sets.
    pub fn from_env(scheduler_file: Option<std::path::PathBuf>, port: u16, timeout: Duration) -> Result<Slurm, Error> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let number = |k: &str| -> Result<usize, Error> {
            let v = var(k).ok_or_else(|| {
                Error::Config(format!("--launcher=slurm needs {k} (and SLURM_PROCID, SLURM_NTASKS): run it with srun inside a Slurm allocation"))
            })?;
            v.trim().parse().map_err(|_| Error::Config(format!("{k}={v} is not a number")))
        };
        let (procid, ntasks) = (number("SLURM_PROCID")?, number("SLURM_NTASKS")?);
        if ntasks < 2 {
            return Err(Error::Config(format!(
                "--launcher=slurm needs at least 2 tasks (task 0 runs the script, the others serve), but SLURM_NTASKS={ntasks}"
            )));
        }
        if procid >= ntasks {
            return Err(Error::Config(format!("SLURM_PROCID={procid} is not below SLURM_NTASKS={ntasks}")));
        }
        let nodes = match var("SLURM_STEP_NODELIST").or_else(|| var("SLURM_JOB_NODELIST")) {
            Some(list) => {
                let hosts = expand_hostlist(&list)?;
                let per = var("SLURM_STEP_TASKS_PER_NODE")
                    .or_else(|| var("SLURM_TASKS_PER_NODE"))
                    .map(|t| tasks_per_node(&t))
                    .transpose()?
                    .unwrap_or_else(|| vec![ntasks.div_ceil(hosts.len().max(1)); hosts.len()]);
                task_nodes(&hosts, &per, ntasks)?
            }
            None if scheduler_file.is_some() => vec!["localhost".to_owned(); ntasks],
            None => {
                return Err(Error::Config(
                    "--launcher=slurm without --scheduler-file needs SLURM_STEP_NODELIST to find the workers".into(),
                ));
            }
        };
        Ok(Slurm { procid, ntasks, nodes, scheduler_file, port, timeout })
    }

    fn announcement(&self, task: usize) -> Option<std::path::PathBuf> {
        let f = self.scheduler_file.as_ref()?;
        let mut name = f.file_name()?.to_os_string();
        name.push(format!(".worker-{task}"));
        Some(f.with_file_name(name))
    }
}

impl Launcher for Slurm {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn role(&self) -> Role {
        if self.procid == 0 {
            return Role::Coordinator;
        }
        let port = if self.scheduler_file.is_some() { 0 } else { self.port.saturating_add(self.procid as u16) };
        Role::Worker { listen: std::net::SocketAddr::from(([0, 0, 0, 0], port)) }
    }

    fn workers(&mut self) -> Result<(Vec<String>, Option<LocalWorkers>), Error> {
        let deadline = std::time::Instant::now() + self.timeout;
        let tasks: Vec<usize> = (1..self.ntasks).collect();
        let addrs: Vec<String> = match &self.scheduler_file {
            Some(file) => {
                let mut found: Vec<Option<String>> = vec![None; tasks.len()];
                loop {
                    for (slot, &t) in found.iter_mut().zip(&tasks) {
                        if slot.is_none()
                            && let Some(path) = self.announcement(t)
                            && let Ok(text) = std::fs::read_to_string(&path)
                            && !text.trim().is_empty()
                        {
                            *slot = Some(text.trim().to_owned());
                        }
                    }
                    if found.iter().all(Option::is_some) {
                        break;
                    }
                    if std::time::Instant::now() >= deadline {
                        let missing: Vec<String> =
                            found.iter().zip(&tasks).filter(|(s, _)| s.is_none()).map(|(_, t)| t.to_string()).collect();
                        return Err(Error::Config(format!(
                            "the workers of tasks {} did not announce themselves beside the scheduler file {} within {} s (--scheduler-timeout)",
                            missing.join(", "),
                            file.display(),
                            self.timeout.as_secs()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                found.into_iter().flatten().collect()
            }
            None => {
                tasks.iter().map(|&t| format!("{}:{}", self.nodes[t], self.port.saturating_add(t as u16))).collect()
            }
        };
        // Wait until every worker accepts connections (they start alongside this task).
        for addr in &addrs {
            loop {
                let up = std::net::ToSocketAddrs::to_socket_addrs(addr.as_str())
                    .ok()
                    .and_then(|mut a| a.next())
                    .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok());
                if up {
                    break;
                }
                if std::time::Instant::now() >= deadline {
                    return Err(Error::Config(format!(
                        "the worker {addr} did not start serving within {} s (--scheduler-timeout)",
                        self.timeout.as_secs()
                    )));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok((addrs, None))
    }

    fn announce(&self, bound: std::net::SocketAddr) -> Result<(), Error> {
        let Some(path) = self.announcement(self.procid) else { return Ok(()) };
        // The node's name as Slurm knows it (the node list is what the coordinator can resolve).
        let host = std::env::var("SLURMD_NODENAME").unwrap_or_else(|_| self.nodes[self.procid].clone());
        let addr = format!("{host}:{}", bound.port());
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, format!("{addr}\n"))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| Error::Config(format!("cannot announce this worker in {}: {e}", path.display())))
    }

    fn stops_workers(&self) -> bool {
        true
    }
}

impl Slurm {
    /// How many tasks run on this task's node (they share its cores).
    pub fn tasks_here(&self) -> usize {
        self.nodes.iter().filter(|n| **n == self.nodes[self.procid]).count().max(1)
    }

    /// Removes the announcements (the coordinator does, at the end).
    pub fn clean_up(&self) {
        for t in 1..self.ntasks {
            if let Some(p) = self.announcement(t) {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// Slurm's host list syntax: `node[01-03,7],gpu1` is node01, node02, node03, node7, gpu1.
pub fn expand_hostlist(list: &str) -> Result<Vec<String>, Error> {
    let bad = || Error::Config(format!("`{list}` is not a Slurm host list"));
    let mut out = Vec::new();
    let mut rest = list.trim();
    while !rest.is_empty() {
        // The next item ends at a comma outside brackets.
        let mut depth = 0;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    _ => {}
                }
                c == ',' && depth == 0
            })
            .map_or(rest.len(), |(i, _)| i);
        let item = &rest[..end];
        rest = rest[end..].trim_start_matches(',');
        match item.find('[') {
            None if !item.is_empty() => out.push(item.to_owned()),
            None => {}
            Some(open) => {
                let close = item.rfind(']').filter(|&c| c > open).ok_or_else(bad)?;
                let (prefix, suffix) = (&item[..open], &item[close + 1..]);
                for range in item[open + 1..close].split(',') {
                    let (lo, hi) = range.split_once('-').unwrap_or((range, range));
                    let width = lo.len();
                    let (a, b): (u64, u64) = (lo.parse().map_err(|_| bad())?, hi.parse().map_err(|_| bad())?);
                    if b < a || b - a > 100_000 {
                        return Err(bad());
                    }
                    for i in a..=b {
                        out.push(format!("{prefix}{i:0width$}{suffix}"));
                    }
                }
            }
        }
    }
    if out.is_empty() { Err(bad()) } else { Ok(out) }
}

/// Slurm's tasks per node: `2(x3),1` is 2, 2, 2, 1.
pub fn tasks_per_node(spec: &str) -> Result<Vec<usize>, Error> {
    let bad = || Error::Config(format!("`{spec}` is not a Slurm tasks-per-node list"));
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (n, times) = match item.split_once("(x") {
            Some((n, t)) => (n, t.trim_end_matches(')')),
            None => (item, "1"),
        };
        let (n, times): (usize, usize) = (n.parse().map_err(|_| bad())?, times.parse().map_err(|_| bad())?);
        if times > 100_000 {
            return Err(bad());
        }
        out.extend(std::iter::repeat_n(n, times));
    }
    if out.is_empty() { Err(bad()) } else { Ok(out) }
}

/// The node of every task under block distribution.
fn task_nodes(hosts: &[String], per: &[usize], ntasks: usize) -> Result<Vec<String>, Error> {
    let mut out = Vec::with_capacity(ntasks);
    for (h, &n) in hosts.iter().zip(per) {
        out.extend(std::iter::repeat_n(h.clone(), n));
    }
    if out.len() < ntasks {
        return Err(Error::Config(format!("the node list places {} tasks, but SLURM_NTASKS is {ntasks}", out.len())));
    }
    out.truncate(ntasks);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_host_lists_and_task_counts_expand() {
        assert_eq!(expand_hostlist("node[01-03,7],gpu1").unwrap(), ["node01", "node02", "node03", "node7", "gpu1"]);
        assert_eq!(expand_hostlist("a[1-2]-ib").unwrap(), ["a1-ib", "a2-ib"]);
        assert_eq!(expand_hostlist("localhost").unwrap(), ["localhost"]);
        assert!(expand_hostlist("n[3-1]").is_err());
        assert!(expand_hostlist("n[1-").is_err());
        assert_eq!(tasks_per_node("2(x3),1").unwrap(), [2, 2, 2, 1]);
        assert!(tasks_per_node("x").is_err());
        let hosts: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        assert_eq!(task_nodes(&hosts, &[2, 1], 3).unwrap(), ["a", "a", "b"]);
        assert!(task_nodes(&hosts, &[1, 1], 3).is_err());
    }
}
