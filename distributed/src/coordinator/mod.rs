//! The coordinator: the executor's `Distribute` over gRPC workers.
//!
//! A pipeline is distributed when it has row-split inputs, no frames or lists, and either
//! enough cells to pay for the network (`min_cells`) or an input already on the workers.
//! Its rows are cut by `daphne_ir::pipeline::partition`: every worker gets a contiguous run of
//! aligned groups of blocks and returns per group the folded reductions, which are folded here
//! along the canonical tree, so the bits are those of a local run. Row-split inputs are stored
//! on each worker as its rows, broadcast inputs whole (small ones inline in the task); both are
//! cached by the identity of their cells and reused while the script holds the value. Row
//! outputs stay on the workers as remote values (`Resident`): a later pipeline over the same
//! rows uses them in place, anything else fetches them. Objects are freed on the workers when
//! the script drops the value (remote values when their last reference goes, cached inputs at
//! the next pipeline after the script let go of them).
//!
//! The jobs, one module each, over the state they share (`state.rs`: the options, `Transfer`,
//! `Shared` and `Inner`, which imports none of them):
//! - `placement.rs`: which workers get which rows, and the ids of stored objects;
//! - `cache.rs`: the input cache, the values seen before, and the objects to free;
//! - `tasks.rs`: a pipeline's module, its inputs stored or inlined, the tasks sent;
//! - `assemble.rs`: the results from the workers' answers (remote values, folds), fetches;
//! - `recovery.rs`: lineages, health checks, and values computed again on the survivors;
//! - `joins.rs`: the join service and the workers it admits.
//!
//! Architecture Invariant: all state the coordinator's threads share is one `Shared` behind
//! one lock (`Inner::state`), held for short sections only: never across a call of the link
//! (the network), a fetch or a rebuild, and never while a remote value may be dropped (a
//! remote value's `Drop` takes it to queue its frees). A remote value's own locks
//! (`Parts::fetched`, `Parts::lineage`) may be held while it is taken, never the other way
//! round; the link's locks are taken inside link calls only, so never under it either.

mod assemble;
mod cache;
mod create;
mod joins;
mod placement;
mod recovery;
mod state;
mod tasks;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use crate::error::Error;
use crate::link::Link;
use crate::proto;
use daphne_ir::{Combine, Function, OpId, OpKind, Split, ValueType};
use daphne_runtime::exec::Distribute;
use daphne_runtime::io::{ByRows, Meta};
use daphne_runtime::pipeline::{Attempt, PipelineId};
use daphne_runtime::source::Source;
use daphne_runtime::value::{RemoteFrame, Value};

pub use crate::link::{Backend, CONNECT_TIMEOUT};

use state::{Fail, Inner, NotMade, Origin, Shared, View};
pub use state::{Options, Transfer};

/// A connection to the workers; the executor's `Distribute`.
pub struct Cluster {
    inner: Arc<Inner>,
    /// The server taking joins (`accept_joins`), kept running while the cluster lives.
    joins: Mutex<Option<tokio::runtime::Runtime>>,
    /// What the workers reported when the run connected: address, threads, memory.
    workers: Vec<proto::WorkerInfo>,
    /// Workers started for this run (stopped when the cluster goes).
    _local: Option<crate::launch::LocalWorkers>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cluster({:?})", self.names())
    }
}

impl Cluster {
    /// Connects to gRPC workers at `addrs` (each within `CONNECT_TIMEOUT`, checked with an
    /// info call); `local` are the processes behind them when this run started them.
    pub fn connect(
        addrs: Vec<String>,
        options: Options,
        local: Option<crate::launch::LocalWorkers>,
    ) -> Result<Cluster, Error> {
        if addrs.is_empty() {
            return Err(Error::NoWorkers);
        }
        let link = crate::link::GrpcLink::connect(
            addrs,
            options.backend,
            options.token.as_deref(),
            &options.tls,
            options.heartbeat,
        )?
        .with_tree(options.tree);
        Ok(Cluster::over(Box::new(link), options, local))
    }

    /// A cluster of the workers behind `link`.
    pub fn over(link: Box<dyn Link>, options: Options, local: Option<crate::launch::LocalWorkers>) -> Cluster {
        let base = {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            let mixed = (t as u64 ^ (u64::from(std::process::id()) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            (mixed >> 2) | 1
        };
        let n = link.workers();
        let workers = link.info().unwrap_or_default();
        let workers = if workers.len() == n { workers } else { vec![proto::WorkerInfo::default(); n] };
        let instances = workers.iter().map(|w| w.instance).collect();
        Cluster {
            workers,
            inner: Arc::new(Inner {
                link,
                options,
                next_id: AtomicU64::new(base),
                state: Arc::new(Mutex::new(Shared {
                    cache: HashMap::new(),
                    modules: HashMap::new(),
                    alive: vec![true; n],
                    instances,
                    seen: HashMap::new(),
                    transfer: Transfer::default(),
                    joining: Vec::new(),
                    to_free: vec![Vec::new(); n],
                })),
            }),
            joins: Mutex::new(None),
            _local: local,
        }
    }

    /// What this run sent and fetched so far.
    pub fn transfer(&self) -> Transfer {
        self.inner.state().transfer
    }

    /// What the workers reported when the run connected (address, threads, memory).
    pub fn workers(&self) -> &[proto::WorkerInfo] {
        &self.workers
    }

    /// How the workers are named (addresses, or ranks).
    pub fn names(&self) -> Vec<String> {
        (0..self.inner.link.workers()).map(|w| self.inner.link.name(w)).collect()
    }
}

impl Drop for Cluster {
    /// Frees everything this run stored on the workers (workers outlive runs when they are
    /// listed in `DISTRIBUTED_WORKERS`), waiting a little for the answers.
    fn drop(&mut self) {
        let inner = &self.inner;
        inner.drop_cache();
        let pending = inner.take_frees();
        inner.link.free(pending, true);
        // Whatever else the session holds (parts of a store that failed midway) goes too.
        inner.link.end_session();
        if let Some(rt) = self.joins.lock().unwrap_or_else(|e| e.into_inner()).take() {
            rt.shutdown_background();
        }
        if inner.options.stop_workers {
            inner.link.stop();
        }
    }
}

impl Cluster {
    /// A matrix of `cells` made on the workers from `origin`, when it is large enough to be
    /// worth it (`min_cells`); `None`: made here.
    fn born(&self, cells: usize, origin: Origin) -> Option<Result<Value, daphne_runtime::error::Error>> {
        let inner = &self.inner;
        if cells == 0 || cells < inner.options.min_cells {
            return None;
        }
        inner.admit_joined();
        inner.sweep();
        inner.flush_frees();
        match inner.create_resilient(&self.inner, &origin) {
            Ok(v) => Some(Ok(v)),
            // A read's own failure (a bad cell) is the op's error, as the whole read says it.
            Err(NotMade::Failed(m)) if let Origin::Read { path, shown, .. } = &origin => {
                Some(Err(daphne_runtime::error::Error::Failed(m.replace(path.as_str(), shown))))
            }
            // A generated matrix beyond a worker's memory is made here, which fits or reports
            // the error exactly as a local run does; so is a file not cut by byte ranges.
            Err(NotMade::Failed(_) | NotMade::Declined) => None,
            Err(NotMade::Cluster(e)) => Some(Err(e.into())),
        }
    }
}

impl Distribute for Cluster {
    fn run(&self, key: PipelineId, f: &Function, id: OpId, inputs: &[Value]) -> Attempt {
        let inner = &self.inner;
        let Some(op) = f.ops.try_get(id) else { return Attempt::Declined };
        let OpKind::Pipeline(spec) = &op.kind else { return Attempt::Declined };
        // Which pipelines go to the workers.
        let (mut n, mut cells, mut resident) = (None, 0usize, false);
        for (v, s) in inputs.iter().zip(&spec.splits) {
            let (rows, cols) = match (s, v) {
                (Split::Rows, Value::Matrix(m)) => (m.rows(), m.cols()),
                (Split::Rows, Value::Sparse(m)) => (m.rows(), m.cols()),
                (Split::Rows, Value::Remote(r)) => {
                    resident |= inner.parts_of(r).is_some();
                    (r.rows, r.cols)
                }
                (Split::Rows, _) | (_, Value::Frame(_) | Value::RemoteFrame(_) | Value::List(..)) => {
                    return Attempt::Declined;
                }
                _ => continue,
            };
            if n.is_some_and(|n| n != rows) {
                // Inputs that disagree: the local run reports it.
                return Attempt::Declined;
            }
            n = Some(rows);
            cells = cells.saturating_add(rows.saturating_mul(cols));
        }
        let Some(n) = n else { return Attempt::Declined };
        if !resident && inner.options.min_cells > 0 {
            // Shipping data for one pass never pays on its own (the transfer costs more than
            // the work); data that pipelines use again does (a loop over the same matrix, or
            // a chain of pipelines each consuming the last one's output, which then stays on
            // the workers). So a large input goes to the workers when an earlier pipeline used
            // or produced it.
            if cells < inner.options.min_cells || !inner.seen_before(inputs, &spec.splits) {
                return Attempt::Declined;
            }
        }
        inner.admit_joined();
        inner.sweep();
        // The pending frees ride on the tasks (`distribute`).
        let inputs = match inputs.iter().map(|v| inner.revive(&self.inner, v)).collect::<Result<Vec<_>, _>>() {
            Ok(v) => v,
            Err(e) => return Attempt::Ran(Err((e.into(), None))),
        };
        match inner.run_resilient(&self.inner, Some(key), f, id, inputs, n) {
            Ok(values) => {
                inner.state().transfer.pipelines += 1;
                Attempt::Ran(Ok(values))
            }
            Err(Fail::Pipeline) => Attempt::Declined,
            Err(Fail::Cluster(e)) => Attempt::Ran(Err((e.into(), None))),
        }
    }

    fn create(&self, source: &Source) -> Option<Result<Value, daphne_runtime::error::Error>> {
        let (rows, cols) = source.shape();
        self.born(rows.saturating_mul(cols), Origin::Generated(source.clone()))
    }

    fn read(&self, path: &str, meta: &Meta, by: &ByRows) -> Option<Result<Value, daphne_runtime::error::Error>> {
        let cells = match (by, meta.rows) {
            (&ByRows::Counted(n), _) | (ByRows::Scanned, Some(n)) => n.saturating_mul(meta.cols),
            // A CSV file of unknown rows: a cell is some bytes of text.
            (ByRows::Scanned, None) => {
                let bytes: u64 = daphne_runtime::io::ranges::parts(path)
                    .ok()?
                    .iter()
                    .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
                    .sum();
                usize::try_from(bytes / 8).unwrap_or(usize::MAX)
            }
        };
        // Relative to this process's directory: the workers' may be another.
        let absolute = std::path::absolute(path).ok()?.to_string_lossy().into_owned();
        let view = if meta.labels.is_some() { View::Frame } else { View::Matrix };
        let origin = Origin::Read { path: absolute, shown: path.to_owned(), meta: meta.clone(), by: by.clone(), view };
        self.born(cells, origin)
    }

    fn convert(&self, frame: &RemoteFrame, vt: ValueType) -> Option<Result<Value, daphne_runtime::error::Error>> {
        let inner = &self.inner;
        inner.admit_joined();
        inner.sweep();
        inner.flush_frees();
        match inner.convert(&self.inner, &frame.columns, vt)? {
            Ok(v) => Some(Ok(v)),
            // A cell that does not convert, or a worker lost: the frame is fetched (made again
            // where a worker is lost) and converted here, which reports what a local run does.
            Err(_) => None,
        }
    }

    fn observe(&self, _key: PipelineId, f: &Function, id: OpId, results: &[Value]) {
        let Some(OpKind::Pipeline(spec)) = f.ops.try_get(id).map(|op| &op.kind) else { return };
        let rows = results.iter().zip(&spec.combines).filter(|(_, c)| **c == Combine::Rows).map(|(v, _)| v);
        self.inner.remember(rows);
    }
}
