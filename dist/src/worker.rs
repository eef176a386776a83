//! The worker: holds objects, runs pipelines on its part of their rows, answers fetches.
//!
//! Every request is checked before it touches anything: unknown objects, malformed values,
//! invalid IR and inconsistent chunks are answered with an error status, and the worker goes on
//! serving. A pipeline's own failure (a domain error, a shape mismatch) is `ABORTED`, so the
//! coordinator can tell it from a broken request and re-run the pipeline locally, where the
//! error is reported exactly as in a local run.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use daphne_ir::{Combine, Module, OpKind, Split};
use daphne_runtime::engine::Engine;
use daphne_runtime::matrix::Matrix;
use daphne_runtime::schedule::{Partitioning, Schedule};
use daphne_runtime::value::Value;
use tokio::sync::oneshot;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use crate::codec;
use crate::proto::worker_server::{Worker, WorkerServer};
use crate::proto::{
    self, Chunk, FetchRequest, FreeRequest, Freed, InfoRequest, StopRequest, Stopped, Stored, Task, TaskResult,
    WorkerInfo,
};

/// The largest gRPC message a worker accepts or sends (chunks are bounded by the coordinator;
/// a task with its inline inputs is small).
pub const MAX_MESSAGE_BYTES: usize = 1 << 30;

/// The first id a worker gives its own results (coordinators name theirs below it).
pub const WORKER_IDS: u64 = 1 << 63;

/// The most pipeline modules kept decoded; beyond it the cache and the engine's kernels are
/// dropped and rebuilt as needed.
const MAX_MODULES: usize = 256;

/// An object a worker holds.
struct Object {
    value: Arc<Value>,
    bytes: u64,
}

/// What a worker holds and counts, whatever transport its requests come by.
pub(crate) struct State {
    address: String,
    threads: usize,
    objects: Mutex<HashMap<u64, Object>>,
    /// Stores that would make the objects' bytes pass this are refused (`--memory-limit`).
    memory_limit: Option<u64>,
    next_id: AtomicU64,
    tasks: AtomicU64,
    /// Statistics the compute side keeps: modules cached, kernels compiled.
    modules: AtomicU64,
    kernels: AtomicU64,
}

impl State {
    pub(crate) fn new(address: String, threads: usize, memory_limit: Option<u64>) -> State {
        State {
            address,
            threads: threads.max(1),
            objects: Mutex::new(HashMap::new()),
            memory_limit,
            next_id: AtomicU64::new(WORKER_IDS),
            tasks: AtomicU64::new(0),
            modules: AtomicU64::new(0),
            kernels: AtomicU64::new(0),
        }
    }

    fn lookup(&self, id: u64) -> Result<Arc<Value>, Status> {
        let objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        objects.get(&id).map(|o| o.value.clone()).ok_or_else(|| Status::not_found(format!("no object {id}")))
    }

    fn keep(&self, value: Value, bytes: u64) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.insert(id, value, bytes);
        id
    }

    fn insert(&self, id: u64, value: Value, bytes: u64) {
        let mut objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        objects.insert(id, Object { value: Arc::new(value), bytes });
    }

    /// Refuses a store of `bytes` more (object `id`, replacing any old one) that would pass
    /// the memory limit.
    fn within_limit(&self, objects: &HashMap<u64, Object>, id: u64, bytes: u64) -> Result<(), Status> {
        let Some(limit) = self.memory_limit else { return Ok(()) };
        let held: u64 = objects.iter().filter(|(k, _)| **k != id).map(|(_, o)| o.bytes).sum();
        if held.saturating_add(bytes) > limit {
            return Err(Status::resource_exhausted(format!(
                "storing {bytes} bytes would pass the worker's memory limit of {limit} bytes (it holds {held})"
            )));
        }
        Ok(())
    }

    /// Refuses a store announced as `bytes` before its bytes arrive.
    pub(crate) fn admit(&self, id: u64, bytes: u64) -> Result<(), Status> {
        self.within_limit(&self.objects.lock().unwrap_or_else(|e| e.into_inner()), id, bytes)
    }

    /// Stores an assembled object, within the memory limit.
    pub(crate) fn store(&self, id: u64, value: Value, bytes: u64) -> Result<(), Status> {
        let mut objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        self.within_limit(&objects, id, bytes)?;
        objects.insert(id, Object { value: Arc::new(value), bytes });
        Ok(())
    }

    /// A task's inputs: objects looked up, inline values decoded.
    pub(crate) fn resolve(&self, task: &Task) -> Result<Vec<Value>, Status> {
        let mut inputs = Vec::with_capacity(task.inputs.len());
        for input in &task.inputs {
            inputs.push(match &input.source {
                Some(proto::input::Source::Object(id)) => (*self.lookup(*id)?).clone(),
                Some(proto::input::Source::Inline(bytes)) => codec::decode(bytes).map_err(Status::invalid_argument)?,
                None => return Err(Status::invalid_argument("an input without a source")),
            });
        }
        Ok(inputs)
    }

    /// The answer to a task: each output part inline when small, else kept here.
    pub(crate) fn result_of(&self, outputs: Outputs, inline_limit: u64, keep_rows: bool) -> Result<TaskResult, Status> {
        let mut result = TaskResult { outputs: Vec::with_capacity(outputs.len()) };
        for (c, parts) in outputs {
            let mut out = proto::OutputParts { parts: Vec::with_capacity(parts.len()) };
            for v in parts {
                let keep = keep_rows && c == Combine::Rows;
                let encoded = if keep { None } else { Some(codec::encode(&v).map_err(Status::internal)?) };
                let part = match encoded {
                    Some(bytes) if bytes.len() as u64 <= inline_limit => proto::output::Result::Inline(bytes.into()),
                    encoded => {
                        let (rows, cols, vt) = match &v {
                            Value::Matrix(m) => (m.rows(), m.cols(), m.value_type()),
                            Value::Sparse(m) => (m.rows(), m.cols(), m.value_type()),
                            Value::Scalar(s) => (1, 1, s.value_type()),
                            other => {
                                return Err(Status::internal(format!("a pipeline output is {}", other.describe())));
                            }
                        };
                        let bytes = match (&encoded, &v) {
                            (Some(b), _) => b.len() as u64,
                            (None, Value::Matrix(m)) => codec::dense_size(m) as u64,
                            _ => 0,
                        };
                        let object = self.keep(v, bytes);
                        proto::output::Result::Kept(proto::Kept {
                            object,
                            rows: rows as u64,
                            cols: cols as u64,
                            value_type: u32::from(codec::type_code(vt)),
                            bytes,
                        })
                    }
                };
                out.parts.push(proto::Output { result: Some(part) });
            }
            result.outputs.push(out);
        }
        Ok(result)
    }

    /// An object as chunks of at most `max` bytes.
    pub(crate) fn fetch(&self, id: u64, max: usize) -> Result<Vec<Chunk>, Status> {
        let value = self.lookup(id)?;
        let segments = codec::encode_segments(&value).map_err(Status::internal)?;
        Ok(crate::chunks(id, segments, max))
    }

    /// Forgets objects; how many there were.
    pub(crate) fn free(&self, ids: &[u64]) -> u64 {
        let mut objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        ids.iter().filter(|id| objects.remove(id).is_some()).count() as u64
    }

    pub(crate) fn info(&self) -> WorkerInfo {
        let (objects, object_bytes) = {
            let o = self.objects.lock().unwrap_or_else(|e| e.into_inner());
            (o.len() as u64, o.values().map(|x| x.bytes).sum())
        };
        WorkerInfo {
            address: self.address.clone(),
            threads: self.threads as u32,
            objects,
            object_bytes,
            rss_bytes: rss_bytes(),
            modules: self.modules.load(Ordering::Relaxed),
            kernels: self.kernels.load(Ordering::Relaxed),
            tasks: self.tasks.load(Ordering::Relaxed),
            memory_bytes: memory_bytes(),
        }
    }
}

/// Collects the chunks of one stored object, checking that they continue each other.
#[derive(Default)]
pub(crate) struct Assembler {
    object: Option<u64>,
    total: u64,
    received: u64,
    segments: Vec<Bytes>,
}

impl Assembler {
    /// Adds the next chunk.
    pub(crate) fn push(&mut self, chunk: Chunk) -> Result<(), Status> {
        match self.object {
            None => {
                if chunk.object >= WORKER_IDS {
                    return Err(Status::invalid_argument("object ids from 2^63 up are the worker's"));
                }
                self.object = Some(chunk.object);
                self.total = chunk.total_bytes;
            }
            Some(id) if id != chunk.object || self.total != chunk.total_bytes => {
                return Err(Status::invalid_argument("chunks of different objects in one store"));
            }
            Some(_) => {}
        }
        if chunk.offset != self.received || self.received + chunk.data.len() as u64 > self.total {
            return Err(Status::invalid_argument(format!(
                "chunk at {} of {} bytes does not continue the {} bytes received of {}",
                chunk.offset,
                chunk.data.len(),
                self.received,
                self.total
            )));
        }
        self.received += chunk.data.len() as u64;
        self.segments.push(chunk.data);
        Ok(())
    }

    /// Whether no chunk arrived yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.object.is_none()
    }

    /// Whether every byte announced has arrived.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub(crate) fn complete(&self) -> bool {
        self.object.is_some() && self.received == self.total
    }

    /// The object: its id, value and encoded size.
    pub(crate) fn finish(self) -> Result<(u64, Value, u64), Status> {
        let id = self.object.ok_or_else(|| Status::invalid_argument("a store without chunks"))?;
        if self.received != self.total {
            return Err(Status::invalid_argument(format!("{} of {} bytes arrived", self.received, self.total)));
        }
        let parts: Vec<&[u8]> = self.segments.iter().map(|s| s.as_ref()).collect();
        let value = codec::decode_segments(&parts).map_err(Status::invalid_argument)?;
        Ok((id, value, self.total))
    }
}

/// Per pipeline output: its combine mode and its parts (one joined value, or one per group).
pub(crate) type Outputs = Vec<(Combine, Vec<Value>)>;

/// Runs pipelines: the engine and the decoded modules it compiled kernels for.
pub(crate) struct Compute {
    modules: HashMap<Bytes, Arc<Module>>,
    engine: Option<Engine>,
}

impl Compute {
    pub(crate) fn new(threads: usize) -> Compute {
        Compute { modules: HashMap::new(), engine: Engine::new(Schedule::on(threads)).ok() }
    }

    /// Runs a task on its resolved inputs (a panic is an error, and the worker goes on).
    pub(crate) fn run(&mut self, task: &Task, inputs: Vec<Value>, state: &State) -> Result<Outputs, Status> {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_job(task, inputs, &mut self.modules, self.engine.as_mut(), state)
        }))
        .unwrap_or_else(|_| Err(Status::internal("the worker panicked running the pipeline")));
        if let Some(e) = &self.engine {
            state.kernels.store(e.compiled() as u64, Ordering::Relaxed);
        }
        state.modules.store(self.modules.len() as u64, Ordering::Relaxed);
        result
    }
}

/// A pipeline to run on the compute thread, with its inputs resolved.
struct Job {
    task: Task,
    inputs: Vec<Value>,
    reply: oneshot::Sender<Result<Outputs, Status>>,
}

/// The gRPC worker service.
pub struct Service {
    state: Arc<State>,
    jobs: std::sync::mpsc::Sender<Job>,
    /// Set when the worker may be stopped by its coordinator (`Stop`).
    stop: Option<Mutex<Option<oneshot::Sender<()>>>>,
}

impl Service {
    /// A worker that calls itself `address` and runs pipelines on `threads` threads; `stop`
    /// lets a `Stop` call end it.
    pub fn new(
        address: String,
        threads: usize,
        memory_limit: Option<u64>,
        stop: Option<oneshot::Sender<()>>,
    ) -> Result<Service, String> {
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        let state = Arc::new(State::new(address, threads, memory_limit));
        let shared = state.clone();
        std::thread::Builder::new()
            .name("daphne-worker-compute".into())
            .stack_size(64 << 20)
            .spawn(move || {
                // Jobs one after another; each uses the engine's threads.
                let mut compute = Compute::new(shared.threads);
                while let Ok(job) = rx.recv() {
                    let _ = job.reply.send(compute.run(&job.task, job.inputs, &shared));
                }
            })
            .map_err(|e| format!("cannot start the compute thread: {e}"))?;
        Ok(Service { state, jobs, stop: stop.map(|s| Mutex::new(Some(s))) })
    }

    /// The tonic service, with the message limits raised.
    pub fn into_server(self) -> WorkerServer<Service> {
        WorkerServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

fn run_job(
    task: &Task,
    inputs: Vec<Value>,
    modules: &mut HashMap<Bytes, Arc<Module>>,
    mut engine: Option<&mut Engine>,
    state: &State,
) -> Result<Outputs, Status> {
    let module = match modules.get(&task.pipeline) {
        Some(m) => m.clone(),
        None => {
            let m = Module::from_bytes(&task.pipeline).map_err(Status::invalid_argument)?;
            daphne_ir::verify::pipeline_module(&m)
                .map_err(|e| Status::invalid_argument(format!("invalid pipeline: {e}")))?;
            if modules.len() >= MAX_MODULES {
                // Kernels are keyed by the address of their function: forget them together.
                modules.clear();
                if let Some(e) = engine.as_deref_mut() {
                    e.forget();
                }
            }
            let m = Arc::new(m);
            modules.insert(task.pipeline.clone(), m.clone());
            m
        }
    };
    let f = &module.functions[0];
    let id = f.body.ops[0];
    let op = &f.ops[id];
    let OpKind::Pipeline(spec) = &op.kind else {
        return Err(Status::invalid_argument("invalid pipeline: not a pipeline op"));
    };
    if inputs.len() != spec.splits.len() {
        return Err(Status::invalid_argument(format!(
            "a pipeline of {} inputs got {}",
            spec.splits.len(),
            inputs.len()
        )));
    }
    let mut n = None;
    for (v, s) in inputs.iter().zip(&spec.splits) {
        if *s == Split::Rows {
            let rows = match v {
                Value::Matrix(m) => m.rows(),
                Value::Sparse(m) => m.rows(),
                other => return Err(Status::invalid_argument(format!("a row-split input is {}", other.describe()))),
            };
            if n.is_some_and(|n| n != rows) {
                return Err(Status::invalid_argument("row-split inputs of different row counts"));
            }
            n = Some(rows);
        }
    }
    let n = n.unwrap_or(0);
    let (block_rows, group_rows) = (task.block_rows as usize, task.group_rows as usize);
    if block_rows == 0 || group_rows == 0 || group_rows % block_rows != 0 {
        return Err(Status::invalid_argument("group rows must be a positive multiple of the block rows"));
    }
    let schedule = Schedule {
        threads: state.threads,
        partitioning: Partitioning::parse(&task.partitioning).unwrap_or_default(),
        grain_rows: (task.grain_rows as usize).max(1),
    };
    if let Some(e) = engine.as_deref_mut() {
        e.set_schedule(schedule);
    }
    state.tasks.fetch_add(1, Ordering::Relaxed);
    let groups = n.div_ceil(group_rows).max(1);
    let mut per_group = Vec::with_capacity(groups);
    for g in 0..groups {
        let (lo, hi) = (g * group_rows, ((g + 1) * group_rows).min(n));
        let mine = inputs
            .iter()
            .zip(&spec.splits)
            .map(|(v, s)| {
                Ok(match (s, v) {
                    (Split::Rows, Value::Matrix(m)) => Value::Matrix(m.row_range(lo, hi)),
                    (Split::Rows, Value::Sparse(m)) => Value::Sparse(m.row_range(lo, hi)?),
                    _ => v.clone(),
                })
            })
            .collect::<Result<Vec<Value>, String>>()
            .map_err(Status::invalid_argument)?;
        let compiled = match (task.vectorize, engine.as_deref_mut()) {
            (true, Some(e)) => e.run_blocks(f, id, &mine, Some(block_rows)),
            _ => None,
        };
        let out = match compiled {
            Some(r) => r.map_err(Status::aborted)?,
            None => daphne_runtime::pipeline::run_blocks(f, op, mine, &schedule, Some(block_rows))
                .map_err(|(m, _)| Status::aborted(m))?,
        };
        per_group.push(out);
    }
    // Per output: `rows`/`cols` outputs joined over the groups, folds one value per group.
    let mut outputs = Vec::with_capacity(spec.combines.len());
    for (k, c) in spec.combines.iter().enumerate() {
        let parts: Vec<Value> = per_group
            .iter()
            .map(|g| g.get(k).cloned())
            .collect::<Option<_>>()
            .ok_or_else(|| Status::internal("a pipeline returned too few outputs"))?;
        outputs.push((
            *c,
            match c {
                Combine::Rows | Combine::Cols if parts.len() > 1 => {
                    let ms: Vec<Matrix> = parts
                        .into_iter()
                        .map(|p| match p {
                            Value::Matrix(m) => Ok(m),
                            _ => Err(Status::internal("a joined pipeline output is not a matrix")),
                        })
                        .collect::<Result<_, _>>()?;
                    let joined = Matrix::concat(&ms, *c == Combine::Rows)
                        .ok_or_else(|| Status::internal("pipeline outputs of different shapes"))?;
                    vec![Value::Matrix(joined)]
                }
                _ => parts,
            },
        ));
    }
    Ok(outputs)
}

#[tonic::async_trait]
impl Worker for Service {
    async fn store(&self, request: Request<Streaming<Chunk>>) -> Result<Response<Stored>, Status> {
        let mut stream = request.into_inner();
        let mut assembler = Assembler::default();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if assembler.is_empty() {
                // Refused before the bytes arrive.
                self.state.admit(chunk.object, chunk.total_bytes)?;
            }
            assembler.push(chunk)?;
        }
        let (id, value, total) = assembler.finish()?;
        self.state.store(id, value, total)?;
        Ok(Response::new(Stored { object: id, bytes: total }))
    }

    async fn compute(&self, request: Request<Task>) -> Result<Response<TaskResult>, Status> {
        let task = request.into_inner();
        let inputs = self.state.resolve(&task)?;
        let (inline_limit, keep_rows) = (task.inline_limit, task.keep_rows);
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job { task, inputs, reply })
            .map_err(|_| Status::unavailable("the worker's compute thread has stopped"))?;
        let outputs = rx.await.map_err(|_| Status::internal("the compute thread dropped the task"))??;
        Ok(Response::new(self.state.result_of(outputs, inline_limit, keep_rows)?))
    }

    type FetchStream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<Chunk, Status>> + Send>>;

    async fn fetch(&self, request: Request<FetchRequest>) -> Result<Response<Self::FetchStream>, Status> {
        let req = request.into_inner();
        let chunks = self.state.fetch(req.object, req.max_chunk_bytes as usize)?;
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks.into_iter().map(Ok)))))
    }

    async fn free(&self, request: Request<FreeRequest>) -> Result<Response<Freed>, Status> {
        Ok(Response::new(Freed { objects: self.state.free(&request.into_inner().objects) }))
    }

    async fn info(&self, _request: Request<InfoRequest>) -> Result<Response<WorkerInfo>, Status> {
        Ok(Response::new(self.state.info()))
    }

    async fn stop(&self, _request: Request<StopRequest>) -> Result<Response<Stopped>, Status> {
        match &self.stop {
            Some(stop) => {
                if let Some(tx) = stop.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    let _ = tx.send(());
                }
                Ok(Response::new(Stopped { stopping: true }))
            }
            None => Err(Status::permission_denied(
                "this worker serves until it is signalled; it was not started by a launcher",
            )),
        }
    }
}

/// The machine's memory (Linux `/proc/meminfo`), 0 where unknown.
fn memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// Tells the coordinator at `coordinator` that a worker serves at `address` (retried for
/// `timeout`, as the coordinator may not listen yet).
pub fn join(coordinator: &str, address: &str, token: Option<&str>, timeout: std::time::Duration) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let attach = crate::auth::Attach::new(token)?;
    let deadline = std::time::Instant::now() + timeout;
    rt.block_on(async {
        loop {
            let tried = async {
                let channel = tonic::transport::Endpoint::from_shared(format!("http://{coordinator}"))
                    .map_err(|e| e.to_string())?
                    .connect_timeout(std::time::Duration::from_secs(2))
                    .connect()
                    .await
                    .map_err(|e| e.to_string())?;
                let mut c = proto::coordinator_client::CoordinatorClient::with_interceptor(channel, attach.clone());
                c.join(proto::JoinRequest { address: address.to_owned() }).await.map_err(|s| s.message().to_owned())
            };
            match tried.await {
                Ok(_) => return Ok(()),
                Err(e) if std::time::Instant::now() >= deadline => {
                    return Err(format!("cannot join the coordinator at {coordinator}: {e}"));
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
    })
}

/// How a worker serves.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub threads: usize,
    /// A `Stop` call may end the worker (a launcher started it for one run).
    pub stoppable: bool,
    /// Calls must carry this token.
    pub token: Option<String>,
    /// Stores past this many bytes of objects are refused.
    pub memory_limit: Option<u64>,
    /// TLS (`--tls-cert`, `--tls-key`, `--tls-ca`).
    pub tls: crate::tls::Files,
}

/// The process's resident set size (Linux `/proc/self/statm`), 0 where unknown.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

/// Serves on `addr` until SIGINT or SIGTERM (or `stop` resolves). `ready` is called with the
/// address actually bound (a port of 0 picks a free one) before the first request is served.
/// With `stoppable`, a `Stop` call ends it too (workers a launcher started for one run).
pub async fn serve(
    addr: SocketAddr,
    options: ServeOptions,
    ready: impl FnOnce(SocketAddr) -> Result<(), String>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    if options.token.is_none() && !bound.ip().is_loopback() {
        eprintln!(
            "daphne-worker: WARNING: serving on {bound} without an auth token: anyone who can reach this port can run code here. Give --auth-token-file or DAPHNE_AUTH_TOKEN (the coordinator needs the same)."
        );
    }
    // Checked before the worker says it serves.
    options.tls.server()?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let service =
        Service::new(bound.to_string(), options.threads, options.memory_limit, options.stoppable.then_some(stop_tx))?;
    let checked = tonic::service::interceptor::InterceptedService::new(
        service.into_server(),
        crate::auth::Check::new(options.token.clone()),
    );
    ready(bound)?;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|s| {
        if let Ok(s) = &s {
            let _ = s.set_nodelay(true);
        }
        s
    });
    let shutdown = async move {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        let stopped = async {
            // Only a `Stop` call sends; without one the sender is gone and this never ends.
            if stop_rx.await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term => {}
            _ = stop => {}
            _ = stopped => {}
        }
    };
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = options.tls.server()? {
        builder = builder.tls_config(tls).map_err(|e| format!("bad TLS files: {e}"))?;
    }
    builder
        .tcp_nodelay(true)
        .initial_stream_window_size(Some(crate::WINDOW_BYTES))
        .initial_connection_window_size(Some(crate::WINDOW_BYTES))
        .max_frame_size(Some(crate::FRAME_BYTES))
        .add_service(checked)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| format!("the worker on {bound} failed: {e}"))
}
