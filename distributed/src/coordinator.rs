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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::codec;
use crate::error::Error;
use crate::link::{CallError, Link};
use crate::proto::{self, Task};
use bytes::Bytes;
use daphne_ir::pipeline::{block_rows, fold_tree, partition};
use daphne_ir::{Combine, Function, Module, OpId, OpKind, Split};
use daphne_runtime::exec::Distribute;
use daphne_runtime::matrix::Matrix;
use daphne_runtime::pipeline::Failure;
use daphne_runtime::remote::{Remote, Resident};
use daphne_runtime::value::Value;

/// How long the coordinator waits before each new try of a pipeline whose call failed while
/// every worker still answers (a blip): then the run fails.
const RETRY_WAITS: [std::time::Duration; 3] = [
    std::time::Duration::from_millis(100),
    std::time::Duration::from_millis(400),
    std::time::Duration::from_millis(1600),
];

/// Values at most this large (encoded) travel inside the task instead of being stored.
const INLINE_BYTES: usize = 64 << 10;

pub use crate::link::{Backend, CONNECT_TIMEOUT};

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
        }
    }
}

/// The identity of a value's cells: where they are, and the shape (and whether CSR).
type Identity = (usize, usize, usize, usize, bool);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Role {
    Broadcast,
    /// Row-split over `n` rows.
    Rows(usize),
}

/// An input stored on the workers.
struct Cached {
    /// A clone of the value: it keeps the identity unique while cached; when only this clone
    /// is left, the script has dropped the value and the objects are freed.
    value: Value,
    /// The object on each worker (for row splits only the workers that got rows).
    ids: Vec<Option<u64>>,
}

/// A failure of a distributed pipeline.
enum Fail {
    /// The pipeline itself failed on a worker: running it locally reports the error exactly.
    Pipeline,
    /// The cluster failed (a worker unreachable, a broken answer).
    Cluster(Error),
}

struct Inner {
    link: Box<dyn Link>,
    options: Options,
    /// Ids this coordinator gives objects: from a random base, so coordinators sharing
    /// workers do not collide.
    next_id: AtomicU64,
    cache: Mutex<HashMap<(Identity, Role), Cached>>,
    /// Pipeline modules by (function address, op): extracted and encoded once.
    modules: Mutex<HashMap<(usize, OpId), Shipped>>,
    /// Which workers still answer (a worker that fails a call and then a health check is
    /// dead; its partitions are re-created on the others).
    alive: Mutex<Vec<bool>>,
    /// Row-split inputs and row outputs of pipelines that ran locally, by identity (a clone
    /// keeps each alive and unique until the script drops it).
    seen: Mutex<HashMap<Identity, Value>>,
    /// What went over the network.
    transfer: Mutex<Transfer>,
    /// Workers that asked to join (and answered a probe), not yet connected; shared with the
    /// join service.
    joining: Arc<Mutex<Vec<String>>>,
    /// Every worker's instance when the run connected it: another one at the same address
    /// means the worker restarted, and holds nothing of this run.
    instances: Mutex<Vec<u64>>,
    /// Objects to free, per worker: sent at the next pipeline.
    to_free: Mutex<Vec<Vec<u64>>>,
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
}

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
        )?;
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
                cache: Mutex::new(HashMap::new()),
                seen: Mutex::new(HashMap::new()),
                modules: Mutex::new(HashMap::new()),
                alive: Mutex::new(vec![true; n]),
                to_free: Mutex::new(vec![Vec::new(); n]),
                transfer: Mutex::new(Transfer::default()),
                joining: Arc::new(Mutex::new(Vec::new())),
                instances: Mutex::new(instances),
            }),
            joins: Mutex::new(None),
            _local: local,
        }
    }

    /// Accepts workers that join during the run on `addr` (calls must carry `token`); the
    /// address bound.
    pub fn accept_joins(
        &self,
        addr: std::net::SocketAddr,
        token: Option<String>,
    ) -> Result<std::net::SocketAddr, Error> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| Error::Start { what: "the join server", cause: e.to_string() })?;
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|e| Error::AcceptJoins { addr, cause: e.to_string() })?;
        let bound = listener.local_addr().map_err(|e| Error::AcceptJoins { addr, cause: e.to_string() })?;
        let service = tonic::service::interceptor::InterceptedService::new(
            proto::coordinator_server::CoordinatorServer::new(JoinService {
                joining: self.inner.joining.clone(),
                known: self.names(),
                token: self.inner.options.token.clone(),
                tls: self.inner.options.tls.clone(),
            }),
            crate::auth::Check::new(token),
        );
        // Joins are served over TLS when the coordinator has a certificate.
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = self.inner.options.tls.server()? {
            builder = builder.tls_config(tls).map_err(|e| Error::Config(format!("bad TLS files: {e}")))?;
        }
        rt.spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let _ = builder.add_service(service).serve_with_incoming(incoming).await;
        });
        *self.joins.lock().unwrap_or_else(|e| e.into_inner()) = Some(rt);
        Ok(bound)
    }

    /// What this run sent and fetched so far.
    pub fn transfer(&self) -> Transfer {
        *self.inner.transfer.lock().unwrap_or_else(|e| e.into_inner())
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
        let pending: Vec<(usize, Vec<u64>)> = {
            let mut to_free = inner.to_free.lock().unwrap_or_else(|e| e.into_inner());
            to_free.iter_mut().map(std::mem::take).enumerate().collect()
        };
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

impl Distribute for Cluster {
    fn run(&self, f: &Function, id: OpId, inputs: &[Value]) -> Option<Result<Vec<Value>, Failure>> {
        let inner = &self.inner;
        let op = f.ops.try_get(id)?;
        let OpKind::Pipeline(spec) = &op.kind else { return None };
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
                (Split::Rows, _) | (_, Value::Frame(_) | Value::List(..)) => return None,
                _ => continue,
            };
            if n.is_some_and(|n| n != rows) {
                // Inputs that disagree: the local run reports it.
                return None;
            }
            n = Some(rows);
            cells = cells.saturating_add(rows.saturating_mul(cols));
        }
        let n = n?;
        if !resident && inner.options.min_cells > 0 {
            // Shipping data for one pass never pays on its own (the transfer costs more than
            // the work); data that pipelines use again does (a loop over the same matrix, or
            // a chain of pipelines each consuming the last one's output, which then stays on
            // the workers). So a large input goes to the workers when an earlier pipeline used
            // or produced it.
            if cells < inner.options.min_cells || !inner.seen_before(inputs, &spec.splits) {
                return None;
            }
        }
        inner.admit_joined();
        inner.sweep();
        inner.flush_frees();
        let inputs = match inputs.iter().map(|v| inner.revive(&self.inner, v)).collect::<Result<Vec<_>, _>>() {
            Ok(v) => v,
            Err(e) => return Some(Err((e.to_string(), None))),
        };
        match inner.run_resilient(&self.inner, f, id, inputs, n) {
            Ok(values) => {
                inner.transfer.lock().unwrap_or_else(|e| e.into_inner()).pipelines += 1;
                Some(Ok(values))
            }
            Err(Fail::Pipeline) => None,
            Err(Fail::Cluster(e)) => Some(Err((e.to_string(), None))),
        }
    }

    fn observe(&self, f: &Function, id: OpId, results: &[Value]) {
        let Some(OpKind::Pipeline(spec)) = f.ops.try_get(id).map(|op| &op.kind) else { return };
        let mut seen = self.inner.seen.lock().unwrap_or_else(|e| e.into_inner());
        for (v, c) in results.iter().zip(&spec.combines) {
            if *c == Combine::Rows
                && let Some(identity) = identity(v)
            {
                seen.insert(identity, v.clone());
            }
        }
    }
}

impl Inner {
    fn fresh_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) & !crate::worker::WORKER_IDS
    }

    /// The parts of a remote value of this cluster.
    fn parts_of<'r>(&self, r: &'r Remote) -> Option<&'r Parts> {
        let parts = r.data.as_any().downcast_ref::<Parts>()?;
        std::ptr::eq(Arc::as_ptr(&parts.inner), self).then_some(parts)
    }

    /// Whether every large row-split input was seen by an earlier pipeline; records them.
    fn seen_before(&self, inputs: &[Value], splits: &[Split]) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, v| !unshared(v));
        let mut all = true;
        for (v, s) in inputs.iter().zip(splits) {
            if *s != Split::Rows {
                continue;
            }
            if let Some(id) = identity(v)
                && seen.insert(id, v.clone()).is_none()
            {
                all = false;
            }
        }
        all
    }

    /// Frees the cached inputs the script no longer holds.
    fn sweep(&self) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let gone: Vec<(Identity, Role)> = cache.iter().filter(|(_, c)| unshared(&c.value)).map(|(k, _)| *k).collect();
        let mut to_free = self.to_free.lock().unwrap_or_else(|e| e.into_inner());
        for k in gone {
            if let Some(c) = cache.remove(&k) {
                for (w, id) in c.ids.iter().enumerate() {
                    if let Some(id) = id {
                        to_free[w].push(*id);
                    }
                }
            }
        }
    }

    /// Sends the pending frees (without waiting for the answers).
    fn flush_frees(&self) {
        let pending: Vec<(usize, Vec<u64>)> = {
            let mut to_free = self.to_free.lock().unwrap_or_else(|e| e.into_inner());
            to_free.iter_mut().map(std::mem::take).enumerate().filter(|(_, ids)| !ids.is_empty()).collect()
        };
        if !pending.is_empty() {
            self.link.free(pending, false);
        }
    }

    /// Stores objects (worker, id, value) and broadcasts (id, value: on every worker).
    fn store_all(&self, objects: Vec<(usize, u64, Value)>, broadcasts: Vec<(u64, Value)>) -> Result<(), Error> {
        if objects.is_empty() && broadcasts.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let max = self.options.max_chunk_bytes;
        let mut bytes: u64 = if objects.is_empty() { 0 } else { self.link.store(objects, max)?.iter().sum() };
        let broadcast_started = std::time::Instant::now();
        let mut broadcast = 0;
        for (id, value) in broadcasts {
            broadcast += self.link.broadcast(id, value, max)?;
        }
        bytes += broadcast;
        let mut t = self.transfer.lock().unwrap_or_else(|e| e.into_inner());
        t.stored_bytes += bytes;
        t.store_seconds += started.elapsed().as_secs_f64();
        if broadcast > 0 {
            t.broadcast_bytes += broadcast;
            t.broadcast_seconds += broadcast_started.elapsed().as_secs_f64();
        }
        Ok(())
    }

    /// Fetches objects (worker, id) and decodes them.
    /// `largest` is the size of the largest (encoded), so chunks are few enough for a worker.
    fn fetch_all(&self, objects: &[(usize, u64)], largest: u64) -> Result<Vec<Value>, Error> {
        let started = std::time::Instant::now();
        let got = self.link.fetch(objects, crate::chunk_size(largest, self.options.max_chunk_bytes))?;
        let mut values = Vec::with_capacity(got.len());
        let mut received = 0u64;
        for (segments, &(w, _)) in got.iter().zip(objects) {
            let parts: Vec<&[u8]> = segments.iter().map(|s| s.as_ref()).collect();
            received += parts.iter().map(|p| p.len() as u64).sum::<u64>();
            let v = codec::decode_segments(&parts).map_err(|e| Error::Call {
                worker: self.link.name(w),
                call: crate::error::Call::Fetch,
                message: e.to_string(),
            })?;
            values.push(v);
        }
        let mut t = self.transfer.lock().unwrap_or_else(|e| e.into_inner());
        t.fetched_bytes += received;
        t.fetch_seconds += started.elapsed().as_secs_f64();
        Ok(values)
    }

    /// The encoded pipeline module of pipeline `id` of `f`.
    /// The pipeline as a module of its own: its bytes (what workers get) and the module (what
    /// the lineage of its outputs keeps, to run it again).
    fn module(&self, f: &Function, id: OpId) -> Result<Shipped, Error> {
        let key = (std::ptr::from_ref(f) as usize, id);
        let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = modules.get(&key) {
            return Ok(b.clone());
        }
        let m = daphne_ir::pipeline::extract(f, id).ok_or_else(|| Error::internal("not a pipeline"))?;
        let b = (Bytes::from(m.to_bytes()), Arc::new(m));
        modules.insert(key, b.clone());
        Ok(b)
    }

    /// How to compute an input again: a remote value of ours by its own lineage, anything
    /// else is here.
    fn lineage_of(&self, v: &Value) -> Arc<Lineage> {
        if let Value::Remote(r) = v
            && let Some(p) = self.parts_of(r)
        {
            return p.lineage.lock().unwrap_or_else(|e| e.into_inner()).clone();
        }
        Arc::new(Lineage::Here(v.clone()))
    }

    /// Connects the workers that asked to join; from now on they get partitions (cached
    /// inputs were split for the old set of workers and are stored again as needed).
    fn admit_joined(&self) {
        let joining: Vec<String> = std::mem::take(&mut *self.joining.lock().unwrap_or_else(|e| e.into_inner()));
        if joining.is_empty() {
            return;
        }
        for addr in joining {
            match self.add_worker(&addr) {
                Ok(_) => daphne_runtime::console::eprint(&format!("daphne: distributed worker {addr} joined\n")),
                Err(e) => daphne_runtime::console::eprint(&format!("daphne: a worker asked to join, but {e}\n")),
            }
        }
        self.drop_cache();
    }

    /// Connects the worker at `addr` as a new one (it gets partitions from the next pipeline).
    fn add_worker(&self, addr: &str) -> Result<usize, Error> {
        let w = self.link.add(addr)?;
        let instance = self.link.ping(&[w], self.options.heartbeat).first().copied().flatten().unwrap_or(0);
        self.alive.lock().unwrap_or_else(|e| e.into_inner()).push(true);
        self.to_free.lock().unwrap_or_else(|e| e.into_inner()).push(Vec::new());
        self.instances.lock().unwrap_or_else(|e| e.into_inner()).push(instance);
        Ok(w)
    }

    /// Forgets every cached input, freeing its objects on the workers (they were split for
    /// another set of workers, or the run ends).
    fn drop_cache(&self) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let mut to_free = self.to_free.lock().unwrap_or_else(|e| e.into_inner());
        for (_, c) in cache.drain() {
            for (w, id) in c.ids.iter().enumerate() {
                if let Some(id) = id {
                    to_free[w].push(*id);
                }
            }
        }
    }

    /// The workers still alive.
    fn live(&self) -> Vec<usize> {
        let alive = self.alive.lock().unwrap_or_else(|e| e.into_inner());
        (0..alive.len()).filter(|&w| alive[w]).collect()
    }

    /// After a failed call: health-checks the live workers. Those that do not answer are
    /// dead; those that answer as another instance restarted and hold nothing of this run:
    /// both are dropped (what they held is computed again from its lineage), and a restarted
    /// one joins again as a new worker. Whether any worker was dropped.
    fn check_workers(&self) -> bool {
        let live = self.live();
        let answers = self.link.ping(&live, self.options.heartbeat);
        let instances = self.instances.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut dropped = Vec::new();
        let mut restarted = Vec::new();
        for (&w, answer) in live.iter().zip(answers) {
            match answer {
                None => {
                    daphne_runtime::console::eprint(&format!(
                        "daphne: distributed worker {} stopped answering; its work moves to the others\n",
                        self.link.name(w)
                    ));
                    dropped.push(w);
                }
                Some(i) if instances.get(w).is_some_and(|&old| old != 0 && old != i) => {
                    daphne_runtime::console::eprint(&format!(
                        "daphne: distributed worker {} restarted; what it held is computed again\n",
                        self.link.name(w)
                    ));
                    dropped.push(w);
                    restarted.push(self.link.name(w));
                }
                Some(_) => {}
            }
        }
        if dropped.is_empty() {
            return false;
        }
        {
            let mut alive = self.alive.lock().unwrap_or_else(|e| e.into_inner());
            for &w in &dropped {
                alive[w] = false;
                self.link.retire(w);
            }
        }
        // Cached inputs were split for the old set of workers: free them on the survivors.
        self.drop_cache();
        {
            let mut to_free = self.to_free.lock().unwrap_or_else(|e| e.into_inner());
            for &w in &dropped {
                to_free[w].clear();
            }
        }
        for addr in restarted {
            if let Err(e) = self.add_worker(&addr) {
                daphne_runtime::console::eprint(&format!("daphne: distributed worker {addr} restarted, but {e}\n"));
            }
        }
        true
    }

    /// A value whose parts are all on live workers (a remote value with parts on a dead
    /// worker is computed again from its lineage).
    fn revive(&self, me: &Arc<Inner>, v: &Value) -> Result<Value, Error> {
        if let Value::Remote(r) = v
            && let Some(p) = self.parts_of(r)
        {
            let alive = self.alive.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if p.parts.iter().any(|(w, _, _)| !alive[*w]) {
                let lineage = p.lineage.lock().unwrap_or_else(|e| e.into_inner()).clone();
                return self.rebuild(me, &lineage);
            }
        }
        Ok(v.clone())
    }

    /// Computes a value again from its lineage, on the live workers.
    fn rebuild(&self, me: &Arc<Inner>, lineage: &Lineage) -> Result<Value, Error> {
        match lineage {
            Lineage::Here(v) => Ok(v.clone()),
            Lineage::Computed { module, output, inputs, .. } => {
                let values = inputs.iter().map(|l| self.rebuild(me, l)).collect::<Result<Vec<_>, _>>()?;
                let f = &module.functions[0];
                let id = *f.body.ops.first().ok_or_else(|| Error::internal("an empty lineage module"))?;
                let OpKind::Pipeline(spec) = &f.ops[id].kind else { return Err(Error::internal("not a pipeline")) };
                let n = values
                    .iter()
                    .zip(&spec.splits)
                    .find(|(_, s)| **s == Split::Rows)
                    .map(|(v, _)| match v {
                        Value::Matrix(m) => m.rows(),
                        Value::Sparse(m) => m.rows(),
                        Value::Remote(r) => r.rows,
                        _ => 0,
                    })
                    .unwrap_or(0);
                let out = self.run_resilient(me, f, id, values, n).map_err(|e| match e {
                    Fail::Pipeline => Error::internal("a pipeline failed when it ran again"),
                    Fail::Cluster(m) => m,
                })?;
                out.into_iter().nth(*output).ok_or_else(|| Error::internal("a lineage output is missing"))
            }
        }
    }

    /// `distribute`, moving the work of workers that die to the others, until it succeeds,
    /// the pipeline fails, or no worker is left.
    fn run_resilient(
        &self,
        me: &Arc<Inner>,
        f: &Function,
        id: OpId,
        mut inputs: Vec<Value>,
        n: usize,
    ) -> Result<Vec<Value>, Fail> {
        let mut retries = 0;
        loop {
            match self.distribute(me, f, id, &inputs, n) {
                Err(Fail::Cluster(message)) => {
                    if !self.check_workers() {
                        // Every worker answers as before: a blip (a reset connection, a
                        // refused call). Tried again a few times, waiting longer each time.
                        if retries == RETRY_WAITS.len() {
                            return Err(Fail::Cluster(message));
                        }
                        std::thread::sleep(RETRY_WAITS[retries]);
                        retries += 1;
                        continue;
                    }
                    if self.live().is_empty() {
                        return Err(Fail::Cluster(Error::NoneLeftAfter(Box::new(message))));
                    }
                    inputs =
                        inputs.iter().map(|v| self.revive(me, v)).collect::<Result<_, _>>().map_err(Fail::Cluster)?;
                }
                other => return other,
            }
        }
    }

    fn distribute(
        &self,
        me: &Arc<Inner>,
        f: &Function,
        id: OpId,
        inputs: &[Value],
        n: usize,
    ) -> Result<Vec<Value>, Fail> {
        let op = &f.ops[id];
        let OpKind::Pipeline(spec) = &op.kind else { return Err(Fail::Pipeline) };
        let w_all = self.link.workers();
        let live = self.live();
        if live.is_empty() {
            return Err(Fail::Cluster(Error::NoneLeft));
        }
        let (group_rows, ranges) = partition(n, live.len());
        // Every worker's rows (the live ones in order get the groups); workers without groups
        // get no task.
        let mut rows: Vec<std::ops::Range<usize>> = vec![0..0; w_all];
        let mut active = Vec::with_capacity(live.len());
        for (&w, g) in live.iter().zip(&ranges) {
            rows[w] = (g.start * group_rows).min(n)..(g.end * group_rows).min(n);
            if !g.is_empty() {
                active.push(w);
            }
        }
        let (module, decoded) = self.module(f, id).map_err(Fail::Cluster)?;
        // Every input as each active worker sees it.
        let mut task_inputs: Vec<Vec<proto::Input>> = vec![Vec::with_capacity(inputs.len()); w_all];
        let mut stores: Vec<(usize, u64, Value)> = Vec::new();
        let mut broadcasts: Vec<(u64, Value)> = Vec::new();
        let mut new_cached: Vec<((Identity, Role), Cached)> = Vec::new();
        let by_object = |id: u64| proto::Input { source: Some(proto::input::Source::Object(id)) };
        for (v, split) in inputs.iter().zip(&spec.splits) {
            // A remote value already split as this pipeline splits its rows is used in place.
            if let (Split::Rows, Value::Remote(r)) = (split, v)
                && let Some(p) = self.parts_of(r)
                && p.matches(&active, &rows)
            {
                for (w, _, id) in &p.parts {
                    task_inputs[*w].push(by_object(*id));
                }
                continue;
            }
            let local = v.clone().local().map_err(|e| Fail::Cluster(Error::Runtime(e)))?;
            let identity = identity(&local);
            let role = if *split == Split::Rows { Role::Rows(n) } else { Role::Broadcast };
            let small = match &local {
                Value::Scalar(_) => true,
                Value::Matrix(m) => codec::dense_size(m) <= INLINE_BYTES,
                Value::Sparse(m) => m.nnz() * 16 + m.rows() * 8 <= INLINE_BYTES,
                _ => false,
            };
            if role == Role::Broadcast && small {
                let bytes = Bytes::from(codec::encode(&local).map_err(|e| Fail::Cluster(e.into()))?);
                for &w in &active {
                    task_inputs[w].push(proto::Input { source: Some(proto::input::Source::Inline(bytes.clone())) });
                }
                continue;
            }
            let key = identity.map(|i| (i, role));
            let cached_ids = key.and_then(|k| {
                let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                cache
                    .get(&k)
                    .map(|c| c.ids.clone())
                    .or_else(|| new_cached.iter().find(|(nk, _)| *nk == k).map(|(_, c)| c.ids.clone()))
            });
            let ids = match cached_ids {
                Some(ids) => ids,
                None => {
                    let mut ids = vec![None; w_all];
                    if role == Role::Broadcast {
                        // One id on every worker (MPI sends it by a collective broadcast).
                        let oid = self.fresh_id();
                        broadcasts.push((oid, local.clone()));
                        ids = live.iter().fold(vec![None; w_all], |mut ids, &w| {
                            ids[w] = Some(oid);
                            ids
                        });
                    }
                    for &w in active.iter().filter(|_| role != Role::Broadcast) {
                        let part = match &local {
                            Value::Matrix(m) => Value::Matrix(m.row_range(rows[w].start, rows[w].end)),
                            Value::Sparse(m) => Value::Sparse(
                                m.row_range(rows[w].start, rows[w].end)
                                    .map_err(|e| Fail::Cluster(Error::Runtime(e)))?,
                            ),
                            other => other.clone(),
                        };
                        let oid = self.fresh_id();
                        stores.push((w, oid, part));
                        ids[w] = Some(oid);
                    }
                    if let Some(k) = key {
                        new_cached.push((k, Cached { value: local.clone(), ids: ids.clone() }));
                    } else {
                        // Not cacheable (no identity): freed after this pipeline.
                        let mut to_free = self.to_free.lock().unwrap_or_else(|e| e.into_inner());
                        for (w, id) in ids.iter().enumerate() {
                            if let Some(id) = id {
                                to_free[w].push(*id);
                            }
                        }
                    }
                    ids
                }
            };
            for &w in &active {
                let id = ids[w].ok_or_else(|| Fail::Cluster(Error::internal("an input missing on a worker")))?;
                task_inputs[w].push(by_object(id));
            }
        }
        self.store_all(stores, broadcasts).map_err(Fail::Cluster)?;
        {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.extend(new_cached);
        }
        let b = block_rows(n);
        let inline_limit = self.options.max_chunk_bytes.min(4 << 20) as u64;
        let tasks: Vec<(usize, Task)> = active
            .iter()
            .map(|&w| {
                let task = Task {
                    pipeline: module.clone(),
                    inputs: std::mem::take(&mut task_inputs[w]),
                    block_rows: b as u64,
                    group_rows: group_rows as u64,
                    inline_limit,
                    keep_rows: true,
                    vectorize: self.options.vectorize,
                    partitioning: crate::wire::partitioning(self.options.partitioning) as i32,
                    grain_rows: self.options.grain_rows as u64,
                };
                (w, task)
            })
            .collect();
        let mut results = Vec::with_capacity(active.len());
        let mut done = Vec::with_capacity(active.len());
        let mut pipeline_failed = false;
        let mut cluster_error = None;
        for (&w, r) in active.iter().zip(self.link.compute(tasks)) {
            match r {
                Ok(t) => {
                    done.push(w);
                    results.push(t);
                }
                Err(CallError::Pipeline(_)) => pipeline_failed = true,
                Err(CallError::Worker(e)) => cluster_error = Some(e),
            }
        }
        if cluster_error.is_some() || pipeline_failed {
            // Free what the other workers kept.
            self.forget_results(&done, &results);
        }
        if let Some(e) = cluster_error {
            return Err(Fail::Cluster(e));
        }
        if pipeline_failed {
            return Err(Fail::Pipeline);
        }
        let lineage: Vec<Arc<Lineage>> = inputs.iter().map(|v| self.lineage_of(v)).collect();
        self.assemble(me, f, id, n, &active, &rows, results, (decoded, lineage)).map_err(Fail::Cluster)
    }

    /// Frees the objects workers kept for results that will not be used.
    fn forget_results(&self, active: &[usize], results: &[proto::TaskResult]) {
        let mut to_free = self.to_free.lock().unwrap_or_else(|e| e.into_inner());
        for (&w, r) in active.iter().zip(results) {
            for o in &r.outputs {
                for p in &o.parts {
                    if let Some(proto::output::Result::Kept(k)) = &p.result {
                        to_free[w].push(k.object);
                    }
                }
            }
        }
    }

    /// The pipeline's results from the workers' answers.
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        &self,
        me: &Arc<Inner>,
        f: &Function,
        id: OpId,
        n: usize,
        active: &[usize],
        rows: &[std::ops::Range<usize>],
        results: Vec<proto::TaskResult>,
        (module, inputs): (Arc<Module>, Vec<Arc<Lineage>>),
    ) -> Result<Vec<Value>, Error> {
        let depth = 1 + inputs.iter().map(|l| l.depth()).max().unwrap_or(0);
        let op = &f.ops[id];
        let OpKind::Pipeline(spec) = &op.kind else { return Err(Error::internal("not a pipeline")) };
        let broken = |w: usize| Error::Task { worker: self.link.name(w), message: "a malformed task result".into() };
        for (&w, r) in active.iter().zip(&results) {
            if r.outputs.len() != spec.combines.len() {
                return Err(broken(w));
            }
        }
        let mut values = Vec::with_capacity(spec.combines.len());
        for (k, (&c, &r)) in spec.combines.iter().zip(&op.results).enumerate() {
            if c == Combine::Rows {
                let mut parts = Vec::with_capacity(active.len());
                let mut largest = 0u64;
                let (mut cols, mut vt) = (None, None);
                for (&w, res) in active.iter().zip(&results) {
                    let [proto::Output { result: Some(proto::output::Result::Kept(kept)) }] =
                        res.outputs[k].parts.as_slice()
                    else {
                        return Err(broken(w));
                    };
                    if kept.rows as usize != rows[w].len() || cols.is_some_and(|c| c != kept.cols) {
                        return Err(broken(w));
                    }
                    cols = Some(kept.cols);
                    vt = Some(codec::type_of_code(kept.value_type)?);
                    parts.push((w, rows[w].clone(), kept.object));
                    largest = largest.max(kept.bytes);
                }
                let lineage =
                    Arc::new(Lineage::Computed { module: module.clone(), output: k, inputs: inputs.clone(), depth });
                let data = Parts {
                    inner: me.clone(),
                    parts,
                    largest,
                    fetched: Mutex::new(None),
                    lineage: Mutex::new(lineage),
                };
                let remote = Remote {
                    rows: n,
                    cols: cols.unwrap_or(0) as usize,
                    value_type: vt.ok_or_else(|| Error::internal("a row output without parts"))?,
                    data: Arc::new(data),
                };
                if depth >= MAX_LINEAGE {
                    // A checkpoint: the value is brought here once, so lineages stay short (a
                    // loop of a thousand iterations is not replayed from its start).
                    let here = remote.fetch().map_err(Error::Runtime)?;
                    if let Some(p) = self.parts_of(&remote) {
                        *p.lineage.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(Lineage::Here(here));
                    }
                }
                values.push(Value::Remote(remote));
                continue;
            }
            // Every part in worker and group order, brought here.
            let mut here: Vec<Option<Value>> = Vec::new();
            let mut kept: Vec<(usize, usize, u64)> = Vec::new();
            let mut largest = 0u64;
            for (&w, res) in active.iter().zip(&results) {
                for p in &res.outputs[k].parts {
                    match &p.result {
                        Some(proto::output::Result::Inline(b)) => here.push(Some(codec::decode(b)?)),
                        Some(proto::output::Result::Kept(o)) => {
                            kept.push((here.len(), w, o.object));
                            largest = largest.max(o.bytes);
                            here.push(None);
                        }
                        None => return Err(broken(w)),
                    }
                }
            }
            if !kept.is_empty() {
                let ids: Vec<(usize, u64)> = kept.iter().map(|&(_, w, id)| (w, id)).collect();
                let fetched = self.fetch_all(&ids, largest);
                let mut to_free = self.to_free.lock().unwrap_or_else(|e| e.into_inner());
                for &(_, w, id) in &kept {
                    to_free[w].push(id);
                }
                drop(to_free);
                for ((slot, _, _), v) in kept.iter().zip(fetched?) {
                    here[*slot] = Some(v);
                }
            }
            let parts: Vec<Value> =
                here.into_iter().collect::<Option<_>>().ok_or_else(|| Error::internal("a part missing"))?;
            values.push(match c {
                Combine::Cols => {
                    let ms: Vec<Matrix> = parts
                        .into_iter()
                        .map(|p| match p {
                            Value::Matrix(m) => Ok(m),
                            _ => Err(Error::internal("a column output part is not a matrix")),
                        })
                        .collect::<Result<_, _>>()?;
                    Value::Matrix(
                        Matrix::concat(&ms, false)
                            .ok_or_else(|| Error::internal("column parts of different shapes"))?,
                    )
                }
                _ => fold_tree(parts.into_iter().map(Ok).collect(), |a: Result<Value, Error>, b| {
                    daphne_runtime::pipeline::combine_two(f, r, c, a?, b?).map_err(Error::Runtime)
                })
                .ok_or_else(|| Error::internal("no parts to fold"))??,
            });
        }
        Ok(values)
    }
}

/// The most workers waiting to join at once; more are refused until the next pipeline takes
/// them.
const MAX_JOINING: usize = 16;

/// The coordinator's join service. A joining worker is probed (an info call with the run's
/// token) before it is queued, so an address that does not serve costs the run nothing.
struct JoinService {
    joining: Arc<Mutex<Vec<String>>>,
    /// The workers of the run when it started.
    known: Vec<String>,
    token: Option<String>,
    tls: crate::tls::Files,
}

#[tonic::async_trait]
impl proto::coordinator_server::Coordinator for JoinService {
    async fn join(
        &self,
        request: tonic::Request<proto::JoinRequest>,
    ) -> Result<tonic::Response<proto::Joined>, tonic::Status> {
        let addr = request.into_inner().address;
        if addr.parse::<std::net::SocketAddr>().is_err() && !addr.contains(':') {
            return Err(tonic::Status::invalid_argument(format!("`{addr}` is not host:port")));
        }
        {
            let joining = self.joining.lock().unwrap_or_else(|e| e.into_inner());
            if joining.contains(&addr) || self.known.contains(&addr) {
                return Err(tonic::Status::already_exists(format!("{addr} is a worker of this run already")));
            }
            if joining.len() >= MAX_JOINING {
                return Err(tonic::Status::resource_exhausted(format!(
                    "{MAX_JOINING} workers wait to join already; try again after the next pipeline"
                )));
            }
        }
        crate::link::probe(&addr, self.token.as_deref(), &self.tls)
            .await
            .map_err(|e| tonic::Status::failed_precondition(format!("the coordinator cannot use {addr}: {e}")))?;
        let mut joining = self.joining.lock().unwrap_or_else(|e| e.into_inner());
        if joining.len() >= MAX_JOINING {
            return Err(tonic::Status::resource_exhausted(format!("{MAX_JOINING} workers wait to join already")));
        }
        joining.push(addr);
        Ok(tonic::Response::new(proto::Joined { workers: (self.known.len() + joining.len()) as u32 }))
    }
}

/// The identity of a value's cells, for caching (matrices and CSR matrices).
fn identity(v: &Value) -> Option<Identity> {
    match v {
        Value::Matrix(m) => {
            let (a, b, c, d) = m.identity();
            Some((a, b, c, d, false))
        }
        Value::Sparse(m) => {
            let (a, b, c, d) = m.identity();
            Some((a, b, c, d, true))
        }
        _ => None,
    }
}

/// Whether only the coordinator's own clone still holds a value's cells.
fn unshared(v: &Value) -> bool {
    match v {
        Value::Matrix(m) => m.is_unshared(),
        Value::Sparse(m) => m.is_unshared(),
        _ => true,
    }
}

/// A pipeline as workers get it (bytes) and as its lineage keeps it (the module).
type Shipped = (Bytes, Arc<Module>);

/// Lineages longer than this end in a checkpoint (the value fetched to the coordinator).
const MAX_LINEAGE: usize = 32;

/// How a row output can be computed again when a worker holding part of it dies: from values
/// the coordinator holds, through the pipelines that made it.
enum Lineage {
    Here(Value),
    /// Output `output` of the pipeline `module` on the inputs' lineages.
    Computed {
        module: Arc<Module>,
        output: usize,
        inputs: Vec<Arc<Lineage>>,
        depth: usize,
    },
}

impl Lineage {
    fn depth(&self) -> usize {
        match self {
            Lineage::Here(_) => 0,
            Lineage::Computed { depth, .. } => *depth,
        }
    }
}

/// A row output kept on the workers: per worker its rows and its object.
struct Parts {
    inner: Arc<Inner>,
    parts: Vec<(usize, std::ops::Range<usize>, u64)>,
    /// The encoded size of the largest part.
    largest: u64,
    fetched: Mutex<Option<Value>>,
    lineage: Mutex<Arc<Lineage>>,
}

impl Parts {
    /// Whether the value is split over exactly these workers' rows.
    fn matches(&self, active: &[usize], rows: &[std::ops::Range<usize>]) -> bool {
        self.parts.len() == active.len()
            && self.parts.iter().zip(active).all(|((w, r, _), &a)| *w == a && rows.get(a) == Some(r))
    }
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Parts({:?})", self.parts)
    }
}

impl Resident for Parts {
    fn fetch(&self) -> Result<Value, String> {
        let mut fetched = self.fetched.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = &*fetched {
            return Ok(v.clone());
        }
        let ids: Vec<(usize, u64)> = self.parts.iter().map(|(w, _, id)| (*w, *id)).collect();
        let parts = match self.inner.fetch_all(&ids, self.largest) {
            Ok(p) => p,
            Err(e) => {
                // A worker died with part of this value: compute it again on the others.
                self.inner.check_workers();
                let alive = self.inner.alive.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if !self.parts.iter().any(|(w, _, _)| !alive[*w]) {
                    return Err(e.to_string());
                }
                let lineage = self.lineage.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let v = self.inner.rebuild(&self.inner, &lineage).map_err(|e| e.to_string())?.local()?;
                *fetched = Some(v.clone());
                return Ok(v);
            }
        };
        let ms: Vec<Matrix> = parts
            .into_iter()
            .map(|p| match p {
                Value::Matrix(m) => Ok(m),
                other => Err(Error::internal(format!("a fetched part is {}", other.describe())).to_string()),
            })
            .collect::<Result<_, _>>()?;
        let v = Value::Matrix(Matrix::concat(&ms, true).ok_or("internal: fetched parts of different shapes")?);
        *fetched = Some(v.clone());
        Ok(v)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Drop for Parts {
    fn drop(&mut self) {
        let mut to_free = self.inner.to_free.lock().unwrap_or_else(|e| e.into_inner());
        for (w, _, id) in &self.parts {
            to_free[*w].push(*id);
        }
    }
}
