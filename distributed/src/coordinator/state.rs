//! The state the coordinator's jobs share: its options, what `--timing` reports, and `Shared`
//! under the one lock (the invariant is `coordinator/mod.rs`'s). The other modules import
//! from here and never the other way round, so the coordinator's modules form no cycle.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use daphne_ir::{Module, ValueType};
use daphne_runtime::io::{ByRows, Meta};
use daphne_runtime::pipeline::PipelineId;
use daphne_runtime::source::Source;
use daphne_runtime::value::Value;

use crate::error::Error;
use crate::link::{Backend, Link};

/// The identity of a value's cells: where they are, and the shape (and whether CSR).
pub(super) type Identity = (usize, usize, usize, usize, bool);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Role {
    Broadcast,
    /// Row-split over `n` rows.
    Rows(usize),
}

/// An input stored on the workers.
pub(super) struct Cached {
    /// A clone of the value: it keeps the identity unique while cached; when only this clone
    /// is left, the script has dropped the value and the objects are freed.
    pub(super) value: Value,
    /// The object on each worker (for row splits only the workers that got rows).
    pub(super) ids: Vec<Option<u64>>,
}

/// A pipeline as workers get it (bytes) and as its lineage keeps it (the module).
pub(super) type Shipped = (Bytes, Arc<Module>);

/// How the coordinator works.
#[derive(Debug, Clone)]
pub struct Options {
    pub backend: Backend,
    /// The largest message of a stored or fetched object (`--max-distr-chunk-size`).
    pub max_chunk_bytes: usize,
    /// Pipelines whose row-split inputs have fewer cells run locally, unless an input is
    /// already on the workers.
    pub min_cells: usize,
    /// The engine options the workers use (`--no-vec`, `--partitioning`, `--grain-size`).
    pub vectorize: bool,
    pub partitioning: daphne_runtime::schedule::Partitioning,
    pub grain_rows: usize,
    /// Stop the workers when the run ends (a launcher started them for it).
    pub stop_workers: bool,
    /// The token every call carries (`--auth-token-file`, `DAPHNE_AUTH_TOKEN`).
    pub token: Option<String>,
    /// How long a worker may take to answer a health check before it counts as dead.
    pub heartbeat: std::time::Duration,
    /// TLS files (`--tls-ca`, and `--tls-cert`/`--tls-key` for a client certificate).
    pub tls: crate::tls::Files,
    /// When tasks and broadcasts go through a tree of workers (`--tree-above`, `--tree-fanout`).
    pub tree: crate::tree::Tree,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            backend: Backend::Async,
            max_chunk_bytes: 4 << 20,
            min_cells: 1 << 18,
            vectorize: true,
            partitioning: daphne_runtime::schedule::Partitioning::Static,
            grain_rows: 1,
            stop_workers: false,
            token: None,
            heartbeat: std::time::Duration::from_secs(5),
            tls: crate::tls::Files::default(),
            tree: crate::tree::Tree::default(),
        }
    }
}

/// What a run sent to and fetched from its workers (`--timing` reports it).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Transfer {
    pub stored_bytes: u64,
    /// Wall time of the stores (encoding included).
    pub store_seconds: f64,
    pub fetched_bytes: u64,
    /// Wall time of the fetches (decoding included).
    pub fetch_seconds: f64,
    /// Of the stores, the broadcasts (bytes summed over the workers that got them).
    pub broadcast_bytes: u64,
    pub broadcast_seconds: f64,
    /// Pipelines run on the workers.
    pub pipelines: u64,
    /// Matrices and frames made on the workers (each worker its rows), and their cells.
    pub created: u64,
    pub created_cells: u64,
    /// Of those, the frames (`readFrame`).
    pub created_frames: u64,
    /// Matrices made on the workers of a remote frame's columns (`as.matrix`).
    pub converted: u64,
    /// Pipelines run again from a lineage, to compute values lost with a worker.
    pub rebuilt: u64,
    /// The longest lineage run again (in pipelines): a lineage starts at its value's last
    /// checkpoint, so this stays below `MAX_LINEAGE`.
    pub rebuilt_depth: u64,
    /// Nodes of fold trees the workers answered (each fetched or decoded, then added here):
    /// a few per worker, or, through a tree of workers, a few per subtree the coordinator
    /// called.
    pub fold_nodes: u64,
}

/// What a matrix born on the workers is made from; made again from it when a worker dies.
#[derive(Debug, Clone)]
pub(super) enum Origin {
    Generated(Source),
    /// `readMatrix` or `readFrame` of a file every worker sees, with the meta data it is read
    /// with (labels for a frame): `path` absolute (workers run elsewhere), `shown` as the script
    /// wrote it (for messages); `view` what is kept of it.
    Read {
        path: String,
        shown: String,
        meta: Meta,
        by: ByRows,
        view: View,
    },
}

impl Origin {
    /// Whether two origins read the same file the same way (whatever each keeps of it).
    pub(super) fn same_read(&self, other: &Origin) -> bool {
        match (self, other) {
            (Origin::Read { path, meta, by, .. }, Origin::Read { path: p, meta: m, by: b, .. }) => {
                (path, meta, by) == (p, m, b)
            }
            _ => false,
        }
    }
}

/// What is kept of a read.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum View {
    /// `readMatrix`: the matrix.
    Matrix,
    /// `readFrame`: every column, a matrix of its own on each worker (a remote frame).
    Frame,
    /// A frame's columns `pick` converted to one matrix of `vt` (`as.matrix`; a column of a
    /// remote frame alone is its own value type's).
    Converted { pick: Vec<usize>, vt: ValueType },
}

/// Why a matrix was not made on the workers.
pub(super) enum NotMade {
    /// A worker failed or left: the caller checks the workers and tries again.
    Cluster(Error),
    /// The making itself failed on a worker (its message; for a read, the first in the
    /// file's order).
    Failed(String),
    /// Better made here (a file that cannot be cut by byte ranges, rows that disagree with
    /// the meta data): the local run does it, or reports its error exactly.
    Declined,
}

/// A failure of a distributed pipeline.
pub(super) enum Fail {
    /// The pipeline itself failed on a worker: running it locally reports the error exactly.
    Pipeline,
    /// The cluster failed (a worker unreachable, a broken answer).
    Cluster(Error),
}

/// Everything the coordinator's threads share (the interpreter's, the join service's, and
/// whichever thread drops a remote value), under `Inner::state`.
pub(super) struct Shared {
    /// Inputs stored on the workers, by the identity of their cells and how they are split.
    pub(super) cache: HashMap<(Identity, Role), Cached>,
    /// Pipeline modules by pipeline: extracted and encoded once.
    pub(super) modules: HashMap<PipelineId, Shipped>,
    /// Which workers still answer (a worker that fails a call and then a health check is
    /// dead; its partitions are re-created on the others).
    pub(super) alive: Vec<bool>,
    /// Every worker's instance when the run connected it: another one at the same address
    /// means the worker restarted, and holds nothing of this run.
    pub(super) instances: Vec<u64>,
    /// Row-split inputs and row outputs of pipelines that ran locally, by identity (a clone
    /// keeps each alive and unique until the script drops it).
    pub(super) seen: HashMap<Identity, Value>,
    /// What went over the network.
    pub(super) transfer: Transfer,
    /// Workers that asked to join (and answered a probe), not yet connected.
    pub(super) joining: Vec<String>,
    /// Objects to free, per worker: sent at the next pipeline.
    pub(super) to_free: Vec<Vec<u64>>,
}

pub(super) struct Inner {
    pub(super) link: Box<dyn Link>,
    pub(super) options: Options,
    /// Ids this coordinator gives objects: from a random base, so coordinators sharing
    /// workers do not collide.
    pub(super) next_id: AtomicU64,
    /// The one lock (see the module's invariant); shared with the join service.
    pub(super) state: Arc<Mutex<Shared>>,
}

impl Inner {
    /// The shared state, for a short section (see the module's invariant).
    pub(super) fn state(&self) -> MutexGuard<'_, Shared> {
        lock(&self.state)
    }
}

/// Takes the coordinator's lock (a thread that panicked holding it left consistent state:
/// every section completes its changes before anything can fail).
pub(super) fn lock(state: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}
