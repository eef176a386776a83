//! The progress line `daphne` draws on stderr during a long run: seconds so far, pipelines
//! done, and with `--distributed` whether the workers are busy and the bytes moved. Drawn only
//! when stderr is a terminal (and not with `--quiet`), first after `DELAY`, then at most every
//! `PERIOD`; erased before anything is printed (`daphne_runtime::console`) and at the end.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use daphne_ir::{Function, OpId};
use daphne_runtime::exec::Distribute;
use daphne_runtime::value::Value;

/// How long a run goes before the line appears.
pub const DELAY: Duration = Duration::from_secs(1);
/// How often the line is redrawn.
pub const PERIOD: Duration = Duration::from_millis(250);

/// Counts the pipelines of a run as the executor offers them (the executor's `Distribute`,
/// passing them on to the cluster of a distributed run, or declining them all).
#[derive(Debug)]
pub struct Tracker {
    cluster: Option<Arc<daphne_distributed::coordinator::Cluster>>,
    done: AtomicU64,
    /// A pipeline is on the workers now.
    remote: AtomicBool,
}

impl Tracker {
    pub fn new(cluster: Option<Arc<daphne_distributed::coordinator::Cluster>>) -> Tracker {
        Tracker { cluster, done: AtomicU64::new(0), remote: AtomicBool::new(false) }
    }

    /// The line as it reads `elapsed` into the run.
    pub fn line(&self, elapsed: Duration) -> String {
        let done = self.done.load(Ordering::Relaxed);
        let mut line = format!("daphne: {:.1} s, {done} pipeline{} done", elapsed.as_secs_f64(), plural(done));
        if let Some(c) = &self.cluster {
            let n = c.workers().len();
            let busy = if self.remote.load(Ordering::Relaxed) { n } else { 0 };
            let t = c.transfer();
            let moved = t.stored_bytes + t.fetched_bytes;
            line.push_str(&format!(", {busy}/{n} workers busy, {} moved", bytes(moved)));
        }
        line
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A byte count for people: B, KB, MB, GB (powers of 1000).
fn bytes(n: u64) -> String {
    let units = [("GB", 1e9), ("MB", 1e6), ("KB", 1e3)];
    for (unit, size) in units {
        if n as f64 >= size {
            return format!("{:.1} {unit}", n as f64 / size);
        }
    }
    format!("{n} B")
}

impl Distribute for Tracker {
    fn run(
        &self,
        key: daphne_runtime::pipeline::PipelineId,
        f: &Function,
        id: OpId,
        inputs: &[Value],
    ) -> daphne_runtime::pipeline::Attempt {
        use daphne_runtime::pipeline::Attempt;
        let Some(cluster) = self.cluster.as_ref() else { return Attempt::Declined };
        self.remote.store(true, Ordering::Relaxed);
        let result = cluster.run(key, f, id, inputs);
        self.remote.store(false, Ordering::Relaxed);
        if matches!(result, Attempt::Ran(_)) {
            self.done.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn observe(&self, key: daphne_runtime::pipeline::PipelineId, f: &Function, id: OpId, results: &[Value]) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if let Some(c) = &self.cluster {
            c.observe(key, f, id, results);
        }
    }
}

/// The thread that draws the line; stopping it (or dropping it) erases the line.
pub struct Progress {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Starts drawing `tracker`'s line after `DELAY`.
    pub fn start(tracker: Arc<Tracker>) -> Progress {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = stop.clone();
        let thread = std::thread::Builder::new()
            .name("daphne-progress".into())
            .spawn(move || {
                let started = Instant::now();
                let (lock, cvar) = &*signal;
                let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
                let mut wait = DELAY;
                while !*stopped {
                    let (guard, timeout) = cvar.wait_timeout(stopped, wait).unwrap_or_else(|e| e.into_inner());
                    stopped = guard;
                    if !*stopped && timeout.timed_out() {
                        daphne_runtime::console::progress(Some(&tracker.line(started.elapsed())));
                        wait = PERIOD;
                    }
                }
            })
            .ok();
        Progress { stop, thread }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        let (lock, cvar) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cvar.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        daphne_runtime::console::progress(None);
    }
}
