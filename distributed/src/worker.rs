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
use std::time::{Duration, Instant};

use bytes::Bytes;
use daphne_ir::{Combine, Module, OpKind, Split};
use daphne_runtime::engine::Engine;
use daphne_runtime::matrix::Matrix;
use daphne_runtime::memory;
use daphne_runtime::pipeline::{Attempt, PipelineId};
use daphne_runtime::schedule::Schedule;
use daphne_runtime::spare::Spare;
use daphne_runtime::value::Value;
use tokio::sync::oneshot;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use crate::codec;
use crate::error::{Error, Refusal, Refused};
use crate::proto::worker_server::{Worker, WorkerServer};
use crate::proto::{
    self, Chunk, FetchRequest, FreeRequest, Freed, InfoRequest, StopRequest, Stopped, Stored, Task, TaskResult,
    WorkerInfo,
};

pub use crate::MAX_MESSAGE_BYTES;

/// The largest chunk of a stored or fetched object (the coordinator's `--max-distr-chunk-size`
/// is capped to it), leaving room in a message for the chunk's other fields.
pub const MAX_CHUNK_BYTES: u64 = 64 << 20;

/// A memory budget's refusal as a status.
fn exhausted(e: daphne_runtime::error::Error) -> Refusal {
    Refusal::exhausted(format!("the worker's memory limit: {e}"))
}

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

pub use crate::Session;

/// The header that names a call's session.
pub use crate::auth::SESSION_HEADER;

/// The session a call names: 32 hex digits, or none (session 0).
pub fn session_of(metadata: &tonic::metadata::MetadataMap) -> Result<Session, Status> {
    match metadata.get(SESSION_HEADER) {
        None => Ok(0),
        Some(v) => v
            .to_str()
            .ok()
            .filter(|t| t.len() == 32)
            .and_then(|t| u128::from_str_radix(t, 16).ok())
            .ok_or_else(|| Status::invalid_argument("a session is 32 hex digits")),
    }
}

/// A fresh random session, as its header value.
pub fn fresh_session() -> String {
    crate::auth::fresh()
}

/// How long a session lives without a call, unless `--session-timeout` says otherwise: then
/// its objects are freed (its coordinator died, or dropped this worker).
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(60);

/// What a worker holds and counts, whatever transport its requests come by.
pub(crate) struct State {
    address: String,
    threads: usize,
    /// This process among all workers ever started (random): a coordinator that finds a new
    /// instance at an address knows the worker there restarted and lost its objects.
    instance: u64,
    objects: Mutex<HashMap<(Session, u64), Object>>,
    /// Every session's last call.
    sessions: Mutex<HashMap<Session, Instant>>,
    session_timeout: Duration,
    next_id: AtomicU64,
    tasks: AtomicU64,
    /// Statistics the compute side keeps: modules cached, kernels compiled.
    modules: AtomicU64,
    kernels: AtomicU64,
    /// The cells of freed objects of one session, for that session's next results of the same
    /// size (`runtime::spare`): a loop `X = f(X)` then writes each `X` into the last one's
    /// pages. They count as allocated in the memory budget; a reservation that does not fit
    /// gives them back first (`State::reserve`), so they never make the worker refuse what it
    /// would accept without them.
    spare: Mutex<(Session, Spare)>,
}

impl State {
    /// A worker's state. With `memory_limit`, the process's memory budget becomes the heap it
    /// holds now plus that many bytes: everything the worker then holds or reserves (objects,
    /// results, inputs being decoded, stores under way) counts against it.
    pub(crate) fn new(address: String, threads: usize, memory_limit: Option<u64>, session_timeout: Duration) -> State {
        if let Some(limit) = memory_limit {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            memory::set_limit(Some(memory::allocated().saturating_add(limit)));
        }
        let random = u64::from_str_radix(&crate::auth::fresh()[..16], 16).unwrap_or(1);
        State {
            address,
            threads: threads.max(1),
            instance: random | 1,
            objects: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            session_timeout,
            // Results are named from a random start, so ids say nothing about other sessions.
            next_id: AtomicU64::new(WORKER_IDS | (random >> 2)),
            tasks: AtomicU64::new(0),
            modules: AtomicU64::new(0),
            kernels: AtomicU64::new(0),
            spare: Mutex::new((0, Spare::default())),
        }
    }

    /// Reserves `bytes` in the memory budget, giving the spare buffers back to the system
    /// first if they stand in the way.
    pub(crate) fn reserve(&self, bytes: usize, what: &str) -> Result<memory::Reservation, Refusal> {
        memory::reserve(bytes, what).or_else(|_| {
            self.drop_spare();
            memory::reserve(bytes, what).map_err(exhausted)
        })
    }

    /// Gives the spare buffers back to the system.
    pub(crate) fn drop_spare(&self) {
        let buffers = std::mem::take(&mut self.spare.lock().unwrap_or_else(|e| e.into_inner()).1);
        drop(buffers);
    }

    /// The spare buffers of session `s` for a task (the others are given back to the system).
    fn take_spare(&self, s: Session) -> Spare {
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        let mine = std::mem::take(&mut spare.1);
        if spare.0 == s { mine } else { Spare::default() }
    }

    /// Keeps the cells of objects session `s` freed (those of another session are dropped);
    /// they are dropped outside the lock.
    fn give_spare(&self, s: Session, freed: Vec<Arc<Value>>) {
        let mut dropped = Vec::new();
        {
            let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
            if spare.0 != s {
                dropped.push(std::mem::take(&mut spare.1));
                spare.0 = s;
            }
            for v in freed {
                // Only the last reference: a task that still uses the object keeps it.
                if let Ok(v) = Arc::try_unwrap(v) {
                    spare.1.give(v);
                }
            }
        }
        drop(dropped);
    }

    /// Puts back what a task of session `s` left of its spare buffers.
    fn return_spare(&self, s: Session, left: Spare) {
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if spare.0 == s {
            spare.1.absorb(left);
        }
    }

    /// A call of session `s` came: its lease starts again.
    pub(crate) fn touch(&self, s: Session) {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).insert(s, Instant::now());
    }

    /// Frees the objects of sessions without a call for the session timeout; how many
    /// objects that freed.
    pub(crate) fn expire(&self) -> u64 {
        let now = Instant::now();
        let gone: Vec<Session> = {
            let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            let gone = sessions.iter().filter(|(_, t)| now - **t > self.session_timeout).map(|(s, _)| *s).collect();
            sessions.retain(|_, t| now - *t <= self.session_timeout);
            gone
        };
        self.drop_sessions(&gone)
    }

    /// Ends session `s`: frees its objects; how many.
    pub(crate) fn end(&self, s: Session) -> u64 {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(&s);
        self.drop_sessions(&[s])
    }

    fn drop_sessions(&self, gone: &[Session]) -> u64 {
        if gone.is_empty() {
            return 0;
        }
        if gone.contains(&self.spare.lock().unwrap_or_else(|e| e.into_inner()).0) {
            self.drop_spare();
        }
        let mut objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        let before = objects.len();
        objects.retain(|(s, _), _| !gone.contains(s));
        (before - objects.len()) as u64
    }

    fn lookup(&self, s: Session, id: u64) -> Result<Arc<Value>, Refusal> {
        let objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        objects.get(&(s, id)).map(|o| o.value.clone()).ok_or_else(|| Refusal::not_found(format!("no object {id}")))
    }

    fn keep(&self, s: Session, value: Value, bytes: u64) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) | WORKER_IDS;
        self.store(s, id, value, bytes);
        id
    }

    /// Stores an assembled object (its bytes were reserved when its first chunk came).
    pub(crate) fn store(&self, s: Session, id: u64, value: Value, bytes: u64) {
        let mut objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        objects.insert((s, id), Object { value: Arc::new(value), bytes });
    }

    /// A task's inputs: objects looked up, inline values decoded; the objects it frees are
    /// freed first (their cells may hold its results).
    pub(crate) fn resolve(&self, s: Session, task: &Task) -> Result<Vec<Value>, Refusal> {
        self.free(s, &task.free);
        // Decoding copies the inline bytes: reserved first.
        let inline: usize = task
            .inputs
            .iter()
            .map(|i| match &i.source {
                Some(proto::input::Source::Inline(b)) => b.len(),
                _ => 0,
            })
            .sum();
        let _decoding = self.reserve(inline, "decoding a task's inline inputs")?;
        let mut inputs = Vec::with_capacity(task.inputs.len());
        for input in &task.inputs {
            inputs.push(match &input.source {
                Some(proto::input::Source::Object(id)) => (*self.lookup(s, *id)?).clone(),
                Some(proto::input::Source::Inline(bytes)) => codec::decode(bytes)?,
                None => return Err(Refusal::invalid("an input without a source")),
            });
        }
        Ok(inputs)
    }

    /// The answer to a task: each output part inline when small, else kept here.
    pub(crate) fn result_of(
        &self,
        s: Session,
        outputs: Outputs,
        inline_limit: u64,
        keep_rows: bool,
    ) -> Result<TaskResult, Refusal> {
        let mut result = TaskResult { outputs: Vec::with_capacity(outputs.len()), relayed: Vec::new() };
        for Produced { combine: c, parts, nodes } in outputs {
            let nodes = nodes.into_iter().map(|(level, j)| proto::Node { level, index: j as u64 }).collect();
            let mut out = proto::OutputParts { parts: Vec::with_capacity(parts.len()), nodes };
            for v in parts {
                let keep = keep_rows && c == Combine::Rows;
                let encoded =
                    if keep { None } else { Some(codec::encode(&v).map_err(|e| Refusal::internal(e.to_string()))?) };
                let part = match encoded {
                    Some(bytes) if bytes.len() as u64 <= inline_limit => proto::output::Result::Inline(bytes.into()),
                    encoded => {
                        let (rows, cols, vt) = match &v {
                            Value::Matrix(m) => (m.rows(), m.cols(), m.value_type()),
                            Value::Sparse(m) => (m.rows(), m.cols(), m.value_type()),
                            Value::Scalar(s) => (1, 1, s.value_type()),
                            other => {
                                return Err(Refusal::internal(format!("a pipeline output is {}", other.describe())));
                            }
                        };
                        let bytes = match (&encoded, &v) {
                            (Some(b), _) => b.len() as u64,
                            (None, Value::Matrix(m)) => codec::dense_size(m) as u64,
                            // Offsets, column indices and values: at most 8 bytes each.
                            (None, Value::Sparse(m)) => (m.rows() as u64 + 1 + 2 * m.nnz() as u64) * 8 + 64,
                            _ => 0,
                        };
                        let object = self.keep(s, v, bytes);
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

    /// An object as chunks of at most `max` bytes, made as they are sent.
    pub(crate) fn fetch(
        &self,
        s: Session,
        id: u64,
        max: u64,
        rows: Option<&proto::Rows>,
    ) -> Result<crate::Chunks, Refusal> {
        if max == 0 || max > MAX_CHUNK_BYTES {
            return Err(Refusal::invalid(format!("chunks of {max} bytes: a chunk has 1 to {MAX_CHUNK_BYTES} bytes")));
        }
        let mut value = self.lookup(s, id)?;
        if let Some(r) = rows {
            // Only some rows of a matrix: `X[a:b, ]` of a value that lives here.
            let Value::Matrix(m) = &*value else {
                return Err(Refusal::invalid(format!("rows of object {id}, not a matrix")));
            };
            let range = usize::try_from(r.first).ok().zip(usize::try_from(r.count).ok());
            let Some((first, end)) =
                range.and_then(|(f, c)| Some((f, f.checked_add(c)?))).filter(|&(_, e)| e <= m.rows())
            else {
                return Err(Refusal::invalid(format!("rows {}+{} of a matrix of {} rows", r.first, r.count, m.rows())));
            };
            value = Arc::new(Value::Matrix(m.row_range(first, end)));
        }
        let segments = codec::encode_segments(&value).map_err(|e| Refusal::internal(e.to_string()))?;
        let chunks = crate::chunks(id, segments, max as usize);
        if chunks.remaining() > crate::MAX_CHUNKS {
            return Err(Refusal::invalid(format!(
                "object {id} in chunks of {max} bytes would be {} messages (at most {}): ask for larger chunks",
                chunks.remaining(),
                crate::MAX_CHUNKS
            )));
        }
        Ok(chunks)
    }

    /// Makes this worker's rows of a matrix (generated, read from a file it sees, or converted
    /// from frame columns it holds) or of a frame (read: a matrix per column) and keeps them
    /// under the task's ids; the rows' description and where the random stream ended.
    /// A failure of the making itself (a file's bad cell, the memory budget) is `ABORTED`.
    pub(crate) fn create(&self, s: Session, task: &proto::CreateTask) -> Result<proto::Created, Refusal> {
        let rows = usize::try_from(task.first_row).ok().zip(usize::try_from(task.rows).ok());
        let Some((first, count)) = rows else { return Err(Refusal::invalid("rows beyond this machine's")) };
        let range = first..first.checked_add(count).ok_or_else(|| Refusal::invalid("rows beyond any matrix"))?;
        let made = match &task.source {
            Some(proto::create_task::Source::Generate(g)) => {
                let source = crate::wire::source_of(g)?;
                if range.end > source.shape().0 {
                    return Err(Refusal::invalid(format!(
                        "rows {}..{} of a matrix of {} rows",
                        range.start,
                        range.end,
                        source.shape().0
                    )));
                }
                let start = crate::wire::rand_pos(task.start.as_ref());
                let made = std::panic::catch_unwind(|| source.make(range, start))
                    .map_err(|_| Refusal::internal("the worker panicked making rows"))?;
                made.map(|(m, end)| (Value::Matrix(m), Some(end)))
            }
            Some(proto::create_task::Source::Read(r)) => {
                let made = std::panic::catch_unwind(|| crate::wire::read_rows(r, range, self.threads))
                    .map_err(|_| Refusal::internal("the worker panicked reading rows"))?;
                made.map(|v| (v, None))
            }
            Some(proto::create_task::Source::Convert(c)) => {
                let vt = codec::type_of_code(c.value_type)?;
                let columns = c
                    .columns
                    .iter()
                    .map(|&id| match &*self.lookup(s, id)? {
                        Value::Matrix(m) if m.cols() == 1 && m.rows() == count => Ok(m.clone()),
                        other => Err(Refusal::invalid(format!(
                            "object {id} is {}, not a column of {count} rows",
                            other.describe()
                        ))),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let labels = (0..columns.len()).map(daphne_runtime::frame::default_label).collect();
                let made = std::panic::catch_unwind(|| {
                    daphne_runtime::frame::Frame::new(columns, labels).and_then(|f| f.to_matrix(vt))
                })
                .map_err(|_| Refusal::internal("the worker panicked converting columns"))?;
                made.map(|m| (Value::Matrix(m), None))
            }
            None => return Err(Refusal::invalid("rows made from nothing")),
        };
        let (v, end) = made.map_err(|e| Refusal::aborted(e.to_string()))?;
        let kept = |object: u64, m: &daphne_runtime::matrix::Matrix| proto::Kept {
            object,
            rows: m.rows() as u64,
            cols: m.cols() as u64,
            value_type: u32::from(codec::type_code(m.value_type())),
            bytes: codec::dense_size(m) as u64,
        };
        let mut created = proto::Created { kept: None, end: end.map(crate::wire::stream_pos), columns: Vec::new() };
        match v {
            Value::Matrix(m) => {
                let k = kept(task.object, &m);
                self.store(s, task.object, Value::Matrix(m), k.bytes);
                created.kept = Some(k);
            }
            Value::Frame(f) if f.cols() == task.columns.len() => {
                for (&id, c) in task.columns.iter().zip(f.columns()) {
                    let k = kept(id, c);
                    self.store(s, id, Value::Matrix(c.clone()), k.bytes);
                    created.columns.push(k);
                }
            }
            other => {
                return Err(Refusal::invalid(format!(
                    "{} made, for {} ids of columns",
                    other.describe(),
                    task.columns.len()
                )));
            }
        }
        Ok(created)
    }

    /// Where the records of a piece of a CSV file begin, and how many start in it.
    pub(crate) fn scan(&self, request: &proto::ScanRequest) -> Result<proto::Scanned, Refusal> {
        let delimiter = u8::try_from(request.delimiter).map_err(|_| Refusal::invalid("a delimiter beyond a byte"))?;
        if request.piece >= request.pieces {
            return Err(Refusal::invalid(format!("piece {} of {}", request.piece, request.pieces)));
        }
        let scanned = std::panic::catch_unwind(|| {
            daphne_runtime::io::ranges::scan_piece(
                &request.path,
                request.header,
                delimiter,
                request.piece as usize,
                request.pieces as usize,
            )
        })
        .map_err(|_| Refusal::internal("the worker panicked scanning a file"))?;
        let (at, records) = scanned.map_err(|e| Refusal::aborted(e.to_string()))?;
        Ok(proto::Scanned { part: at.part, offset: at.offset, records })
    }

    /// Forgets objects; how many there were. Their cells are kept for the session's next
    /// results (`spare`).
    pub(crate) fn free(&self, s: Session, ids: &[u64]) -> u64 {
        let freed: Vec<Arc<Value>> = {
            let mut objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
            ids.iter().filter_map(|&id| objects.remove(&(s, id))).map(|o| o.value).collect()
        };
        let n = freed.len() as u64;
        self.give_spare(s, freed);
        n
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
            rss_bytes: memory::resident().unwrap_or(0) as u64,
            modules: self.modules.load(Ordering::Relaxed),
            kernels: self.kernels.load(Ordering::Relaxed),
            tasks: self.tasks.load(Ordering::Relaxed),
            memory_bytes: memory::machine().unwrap_or(0) as u64,
            instance: self.instance,
            sessions: self.sessions.lock().unwrap_or_else(|e| e.into_inner()).len() as u64,
            session_timeout_ms: u64::try_from(self.session_timeout.as_millis()).unwrap_or(u64::MAX),
            memory_limit: memory::limit() as u64,
            spare_bytes: self.spare.lock().unwrap_or_else(|e| e.into_inner()).1.bytes() as u64,
        }
    }
}

/// Collects the chunks of one stored object, checking that they continue each other.
#[derive(Default)]
pub(crate) struct Assembler {
    object: Option<u64>,
    total: u64,
    received: u64,
    chunks: u64,
    /// The object decoded as its chunks arrive (a dense matrix's cells written in place).
    decoder: Option<codec::Incremental>,
    /// Twice the announced bytes, reserved at the first chunk before any other arrives: the
    /// chunks, then the decoded value; each chunk's share is given back as it arrives (it is
    /// then allocated, and counted as such).
    reserved: Option<memory::Reservation>,
}

impl Assembler {
    /// Adds the next chunk (the first reserves the object's memory in `state`'s budget).
    pub(crate) fn push(&mut self, chunk: Chunk, state: &State) -> Result<(), Refusal> {
        match self.object {
            None => {
                if chunk.object >= WORKER_IDS {
                    return Err(Refusal::invalid("object ids from 2^63 up are the worker's"));
                }
                let twice = usize::try_from(chunk.total_bytes).unwrap_or(usize::MAX).saturating_mul(2);
                let what = format!("storing object {} of {} bytes", chunk.object, chunk.total_bytes);
                self.reserved = Some(state.reserve(twice, &what)?);
                self.object = Some(chunk.object);
                self.total = chunk.total_bytes;
            }
            Some(id) if id != chunk.object || self.total != chunk.total_bytes => {
                return Err(Refusal::invalid("chunks of different objects in one store"));
            }
            Some(_) => {}
        }
        if chunk.offset != self.received || self.received + chunk.data.len() as u64 > self.total {
            return Err(Refusal::invalid(format!(
                "chunk at {} of {} bytes does not continue the {} bytes received of {}",
                chunk.offset,
                chunk.data.len(),
                self.received,
                self.total
            )));
        }
        if self.chunks >= crate::MAX_CHUNKS {
            return Err(Refusal::invalid(format!("an object in more than {} chunks", crate::MAX_CHUNKS)));
        }
        self.chunks += 1;
        self.received += chunk.data.len() as u64;
        if let Some(r) = &mut self.reserved {
            r.release(chunk.data.len());
        }
        let total = usize::try_from(self.total).unwrap_or(usize::MAX);
        self.decoder.get_or_insert_with(|| codec::Incremental::new(total)).push(chunk.data);
        Ok(())
    }

    /// Whether every byte announced has arrived.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub(crate) fn complete(&self) -> bool {
        self.object.is_some() && self.received == self.total
    }

    /// The object: its id, value and encoded size.
    pub(crate) fn finish(self) -> Result<(u64, Value, u64), Refusal> {
        let id = self.object.ok_or_else(|| Refusal::invalid("a store without chunks"))?;
        if self.received != self.total {
            return Err(Refusal::invalid(format!("{} of {} bytes arrived", self.received, self.total)));
        }
        let value = self.decoder.map_or_else(|| codec::decode(&[]), codec::Incremental::finish)?;
        Ok((id, value, self.total))
    }
}

/// One pipeline output of a task: its combine mode, its parts (one joined value, one per
/// group, or one per node of the fold tree) and, for a fold folded into nodes, their nodes.
pub(crate) struct Produced {
    pub(crate) combine: Combine,
    pub(crate) parts: Vec<Value>,
    pub(crate) nodes: Vec<(u32, usize)>,
}

/// A task's outputs.
pub(crate) type Outputs = Vec<Produced>;

/// Runs pipelines: the engine and the decoded modules it compiled kernels for.
pub(crate) struct Compute {
    /// Decoded modules by their bytes, with the number that names them in the engine's cache.
    modules: HashMap<Bytes, (u64, Arc<Module>)>,
    engine: Option<Engine>,
    /// What interpreted pipelines' kernels run with.
    cx: daphne_runtime::kernels::Context,
}

impl Compute {
    pub(crate) fn new(threads: usize) -> Compute {
        Compute {
            modules: HashMap::new(),
            engine: Engine::new(Schedule::on(threads)).ok(),
            cx: daphne_runtime::kernels::Context::new(threads),
        }
    }

    /// Runs a task of session `s` on its resolved inputs (a panic is an error, and the worker
    /// goes on).
    pub(crate) fn run(
        &mut self,
        s: Session,
        task: &Task,
        inputs: Vec<Value>,
        state: &State,
    ) -> Result<Outputs, Refusal> {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_job(s, task, inputs, &mut self.modules, self.engine.as_mut(), &self.cx, state)
        }))
        .unwrap_or_else(|_| Err(Refusal::internal("the worker panicked running the pipeline")));
        if let Some(e) = &self.engine {
            state.kernels.store(e.compiled() as u64, Ordering::Relaxed);
        }
        state.modules.store(self.modules.len() as u64, Ordering::Relaxed);
        result
    }

    /// A relay's fold outputs with those of the tasks it relayed folded in: each fold output
    /// whose nodes, this worker's and the relayed ones' (all inline), cover a run of groups is
    /// answered as the nodes of that run (`TreeFold::into_nodes`), and taken out of the relayed
    /// results; the coordinator then adds a few nodes per subtree, with the same bits.
    pub(crate) fn fold_subtree(
        &mut self,
        pipeline: &Bytes,
        total: usize,
        mut own: Outputs,
        relayed: &mut [proto::Relayed],
    ) -> Result<Outputs, Refusal> {
        let (_, module) = module_of(&mut self.modules, pipeline)?;
        let f = &module.functions[0];
        let op = &f.ops[f.body.ops[0]];
        let results: Vec<&mut TaskResult> = relayed
            .iter_mut()
            .filter_map(|r| match &mut r.outcome {
                Some(proto::relayed::Outcome::Result(t)) => Some(t),
                _ => None,
            })
            .collect();
        let mut results = results;
        for (k, (out, &r)) in own.iter_mut().zip(&op.results).enumerate() {
            if matches!(out.combine, Combine::Rows | Combine::Cols) || out.nodes.len() != out.parts.len() {
                continue;
            }
            // Every node of the subtree with its value, when all are inline and well formed.
            let mut nodes: Vec<((u32, usize), Value)> =
                out.nodes.iter().copied().zip(std::mem::take(&mut out.parts)).collect();
            let mut whole = true;
            for t in results.iter() {
                let Some(o) = t.outputs.get(k) else {
                    whole = false;
                    break;
                };
                if o.nodes.len() != o.parts.len() {
                    whole = false;
                    break;
                }
                for (n, p) in o.nodes.iter().zip(&o.parts) {
                    match &p.result {
                        Some(proto::output::Result::Inline(b)) => {
                            let j =
                                usize::try_from(n.index).map_err(|_| Refusal::invalid("a fold node out of range"))?;
                            nodes.push(((n.level, j), codec::decode(b)?));
                        }
                        _ => whole = false,
                    }
                }
            }
            let span = |&((level, j), _): &((u32, usize), Value)| {
                let start = j.checked_shl(level).filter(|s| *s < total);
                start.map(|s| s..(j + 1).checked_shl(level).unwrap_or(usize::MAX).min(total))
            };
            let spans: Option<Vec<std::ops::Range<usize>>> = nodes.iter().map(span).collect();
            let mut spans = spans.ok_or_else(|| Refusal::invalid("a fold node outside the pipeline's groups"))?;
            spans.sort_by_key(|s| s.start);
            let run = spans.windows(2).all(|w| w[0].end == w[1].start);
            if !whole || !run || spans.is_empty() {
                // Not one run (or kept parts): the coordinator adds them as they are.
                let (own_nodes, own_parts): (Vec<_>, Vec<_>) = nodes.into_iter().take(out.nodes.len()).unzip();
                out.nodes = own_nodes;
                out.parts = own_parts;
                continue;
            }
            let range = spans[0].start..spans[spans.len() - 1].end;
            let fold = daphne_ir::pipeline::TreeFold::new(total);
            let c = out.combine;
            for ((level, j), v) in nodes {
                fold.add_node(level, j, Ok(v), |a: Result<Value, Refusal>, b| {
                    daphne_runtime::pipeline::combine_two(f, r, c, a?, b?).map_err(|e| Refusal::aborted(e.to_string()))
                });
            }
            let folded = fold.into_nodes(range).ok_or_else(|| Refusal::internal("a subtree's fold nodes"))?;
            out.nodes.clear();
            for (node, v) in folded {
                out.nodes.push(node);
                out.parts.push(v?);
            }
            for t in results.iter_mut() {
                if let Some(o) = t.outputs.get_mut(k) {
                    o.parts.clear();
                    o.nodes.clear();
                }
            }
        }
        Ok(own)
    }
}

/// Work for the compute thread (which owns the engine and the decoded modules).
type Job = Box<dyn FnOnce(&mut Compute, &State) + Send>;

/// The gRPC worker service.
pub struct Service {
    state: Arc<State>,
    jobs: std::sync::mpsc::Sender<Job>,
    /// Clients to the other workers, for tasks and stores relayed through this one.
    peers: Arc<crate::relay::Peers>,
    /// Set when the worker may be stopped by its coordinator (`Stop`).
    stop: Option<Mutex<Option<oneshot::Sender<()>>>>,
}

impl Service {
    /// A worker that calls itself `address` and serves as `options` say; `stop` lets a `Stop`
    /// call end it.
    pub fn new(address: String, options: &ServeOptions, stop: Option<oneshot::Sender<()>>) -> Result<Service, Error> {
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        let timeout = options.session_timeout.unwrap_or(SESSION_TIMEOUT);
        let state = Arc::new(State::new(address, options.threads, options.memory_limit, timeout));
        let shared = state.clone();
        std::thread::Builder::new()
            .name("daphne-worker-compute".into())
            .stack_size(64 << 20)
            .spawn(move || {
                // Jobs one after another; each uses the engine's threads.
                let mut compute = Compute::new(shared.threads);
                while let Ok(job) = rx.recv() {
                    job(&mut compute, &shared);
                }
            })
            .map_err(|e| Error::Start { what: "the compute thread", cause: e.to_string() })?;
        let peers = Arc::new(crate::relay::Peers::new(options.token.clone(), &options.tls));
        Ok(Service { state, jobs, peers, stop: stop.map(|s| Mutex::new(Some(s))) })
    }

    /// Runs `work` on the compute thread and awaits its answer.
    async fn on_compute<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Compute, &State) -> Result<T, Refusal> + Send + 'static,
    ) -> Result<T, Refusal> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |c: &mut Compute, s: &State| {
                let _ = reply.send(work(c, s));
            }))
            .map_err(|_| Refusal::unavailable("the worker's compute thread has stopped"))?;
        rx.await.map_err(|_| Refusal::internal("the compute thread dropped the task"))?
    }

    /// Runs `task` here, its relayed tasks on their workers at the same time; folds the fold
    /// outputs of the subtree into this worker's when it can (`Compute::fold_subtree`).
    async fn run_relaying(&self, session: Session, mut task: Task) -> Result<TaskResult, Refusal> {
        let relays = std::mem::take(&mut task.relay);
        // The relayed tasks go out first: the tree's levels run at once.
        let forwarded: Vec<_> = relays
            .into_iter()
            .map(|r| {
                let (peers, pipeline) = (self.peers.clone(), task.pipeline.clone());
                tokio::spawn(async move { peers.relay(r, session, pipeline).await })
            })
            .collect();
        let own = async {
            let inputs = self.state.resolve(session, &task)?;
            let task = task.clone();
            self.on_compute(move |c, state| c.run(session, &task, inputs, state)).await
        }
        .await;
        let mut relayed = Vec::new();
        for f in forwarded {
            relayed.extend(f.await.unwrap_or_default());
        }
        let all_ran = relayed.iter().all(|r| matches!(r.outcome, Some(proto::relayed::Outcome::Result(_))));
        let outputs = match own {
            Ok(outputs) if all_ran && task.total_groups > 0 && !relayed.is_empty() => {
                if let Err(e) = self.peers.bring_kept(session, &mut relayed).await {
                    self.peers.forget(session, crate::relay::results(relayed)).await;
                    return Err(e);
                }
                let (pipeline, total) = (task.pipeline.clone(), task.total_groups as usize);
                let mut r = std::mem::take(&mut relayed);
                let folded = self
                    .on_compute(move |c, _| {
                        let outputs = c.fold_subtree(&pipeline, total, outputs, &mut r);
                        Ok((outputs, r))
                    })
                    .await;
                match folded {
                    Ok((outputs, r)) => {
                        relayed = r;
                        outputs
                    }
                    Err(e) => Err(e),
                }
            }
            other => other,
        };
        let result = outputs.and_then(|o| self.state.result_of(session, o, task.inline_limit, task.keep_rows));
        match result {
            Ok(mut result) => {
                result.relayed = relayed;
                Ok(result)
            }
            Err(e) => {
                // Nobody will use what the subtree kept.
                self.peers.forget(session, crate::relay::results(relayed)).await;
                Err(e)
            }
        }
    }

    /// The session a call names; its lease starts again.
    fn session<T>(&self, request: &Request<T>) -> Result<Session, Status> {
        let s = session_of(request.metadata())?;
        self.state.touch(s);
        Ok(s)
    }

    /// The tonic service, with the message limits raised.
    pub fn into_server(self) -> WorkerServer<Service> {
        WorkerServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

/// The module of a task's pipeline bytes: decoded and verified once, then kept (with the
/// number that names it in the engine's cache).
fn module_of(modules: &mut HashMap<Bytes, (u64, Arc<Module>)>, bytes: &Bytes) -> Result<(u64, Arc<Module>), Refusal> {
    if let Some(m) = modules.get(bytes) {
        return Ok(m.clone());
    }
    let m = Module::from_bytes(bytes).map_err(|e| Refusal::invalid(e.to_string()))?;
    daphne_ir::verify::pipeline_module(&m).map_err(|e| Refusal::invalid(format!("invalid pipeline: {e}")))?;
    if modules.len() >= MAX_MODULES {
        modules.clear();
    }
    let m = (PipelineId::fresh(), Arc::new(m));
    modules.insert(bytes.clone(), m.clone());
    Ok(m)
}

fn run_job(
    session: Session,
    task: &Task,
    inputs: Vec<Value>,
    modules: &mut HashMap<Bytes, (u64, Arc<Module>)>,
    mut engine: Option<&mut Engine>,
    cx: &daphne_runtime::kernels::Context,
    state: &State,
) -> Result<Outputs, Refusal> {
    // The engine's options first: a task that names no known scheme is refused before its IR
    // is decoded.
    let schedule = Schedule {
        threads: state.threads,
        partitioning: crate::wire::partitioning_of(task.partitioning)?,
        grain_rows: (task.grain_rows as usize).max(1),
    };
    let (number, module) = module_of(modules, &task.pipeline)?;
    let f = &module.functions[0];
    let id = f.body.ops[0];
    let op = &f.ops[id];
    let OpKind::Pipeline(spec) = &op.kind else {
        return Err(Refusal::invalid("invalid pipeline: not a pipeline op"));
    };
    if inputs.len() != spec.splits.len() {
        return Err(Refusal::invalid(format!("a pipeline of {} inputs got {}", spec.splits.len(), inputs.len())));
    }
    let mut n = None;
    for (v, s) in inputs.iter().zip(&spec.splits) {
        if *s == Split::Rows {
            let rows = match v {
                Value::Matrix(m) => m.rows(),
                Value::Sparse(m) => m.rows(),
                other => return Err(Refusal::invalid(format!("a row-split input is {}", other.describe()))),
            };
            if n.is_some_and(|n| n != rows) {
                return Err(Refusal::invalid("row-split inputs of different row counts"));
            }
            n = Some(rows);
        }
    }
    let n = n.unwrap_or(0);
    let (block_rows, group_rows) = (task.block_rows as usize, task.group_rows as usize);
    // The work a task implies is bounded before any of it starts: at most `MAX_BLOCKS`
    // blocks, and outputs that fit in the memory budget.
    let groups = daphne_ir::pipeline::check_part(n, block_rows, group_rows)
        .map_err(|e| Refusal::invalid(format!("a task's rows: {e}")))?;
    let nodes = fold_nodes_of(task, groups)?;
    let bytes = output_bytes(f, op, &inputs, n, groups);
    if bytes > memory::limit() {
        // Too large for this worker whatever it holds: the pipeline's own failure, so the
        // coordinator runs it where it is, which computes it or reports it exactly.
        let e = memory::check(bytes, "the task's outputs").err().map(String::from).unwrap_or_default();
        return Err(Refusal::aborted(e));
    }
    let _outputs = state.reserve(bytes, "the task's outputs")?;
    if let Some(e) = engine.as_deref_mut() {
        e.set_schedule(schedule);
    }
    state.tasks.fetch_add(1, Ordering::Relaxed);
    let key = PipelineId { module: number, function: 0, op: id };
    if let (true, Some(e)) = (task.vectorize, engine) {
        // All groups in one run of the kernel: `rows` outputs written whole (into the cells
        // of objects the session freed, when of the size), folds one value per group.
        let mut spare = state.take_spare(session);
        let ran = e.run_groups(key, f, id, &inputs, block_rows, group_rows / block_rows, &mut spare);
        state.return_spare(session, spare);
        match ran {
            Attempt::Ran(r) => {
                let values = r.map_err(|e| Refusal::aborted(e.to_string()))?;
                if values.len() != spec.combines.len() {
                    return Err(Refusal::internal("a pipeline returned too few outputs"));
                }
                let outputs = spec
                    .combines
                    .iter()
                    .zip(values)
                    .map(|(&combine, parts)| Produced { combine, parts, nodes: Vec::new() })
                    .collect();
                return fold_groups(f, op, outputs, nodes.as_deref());
            }
            Attempt::Declined => {}
        }
    }
    let mut per_group = Vec::with_capacity(groups);
    for g in 0..groups {
        let (lo, hi) = (g * group_rows, ((g + 1) * group_rows).min(n));
        let mine = inputs
            .iter()
            .zip(&spec.splits)
            .map(|(v, s)| {
                Ok(match (s, v) {
                    (Split::Rows, Value::Matrix(m)) => Value::Matrix(m.row_range(lo, hi)),
                    (Split::Rows, Value::Sparse(m)) => Value::Sparse(m.row_range(lo, hi).map_err(Refusal::invalid)?),
                    _ => v.clone(),
                })
            })
            .collect::<Result<Vec<Value>, Refusal>>()?;
        // Not covered by the JIT: interpreted group by group.
        let out = daphne_runtime::pipeline::run_blocks(cx, f, op, mine, &schedule, Some(block_rows))
            .map_err(|(m, _)| Refusal::aborted(m.to_string()))?;
        per_group.push(out);
    }
    // Per output: `rows`/`cols` outputs joined over the groups, folds one value per group.
    let mut outputs = Vec::with_capacity(spec.combines.len());
    for (k, c) in spec.combines.iter().enumerate() {
        let parts: Vec<Value> = per_group
            .iter()
            .map(|g| g.get(k).cloned())
            .collect::<Option<_>>()
            .ok_or_else(|| Refusal::internal("a pipeline returned too few outputs"))?;
        outputs.push(Produced {
            combine: *c,
            nodes: Vec::new(),
            parts: match c {
                Combine::Rows | Combine::Cols if parts.len() > 1 => {
                    let ms: Vec<Matrix> = parts
                        .into_iter()
                        .map(|p| match p {
                            Value::Matrix(m) => Ok(m),
                            _ => Err(Refusal::internal("a joined pipeline output is not a matrix")),
                        })
                        .collect::<Result<_, _>>()?;
                    let joined = Matrix::concat(&ms, *c == Combine::Rows)
                        .ok_or_else(|| Refusal::internal("pipeline outputs of different shapes"))?;
                    vec![Value::Matrix(joined)]
                }
                _ => parts,
            },
        });
    }
    fold_groups(f, op, outputs, nodes.as_deref())
}

/// The nodes of the fold tree a task's groups fold into, when the task asks for that (its
/// `total_groups`): its groups must lie among the pipeline's, at most `MAX_BLOCKS` of them.
fn fold_nodes_of(task: &Task, groups: usize) -> Result<Option<Vec<(u32, usize)>>, Refusal> {
    if task.total_groups == 0 {
        return Ok(None);
    }
    let total = usize::try_from(task.total_groups).unwrap_or(usize::MAX);
    let first = usize::try_from(task.first_group).unwrap_or(usize::MAX);
    if total > daphne_ir::pipeline::MAX_BLOCKS || first.saturating_add(groups) > total {
        return Err(Refusal::invalid(format!(
            "a task's groups: {groups} from group {first} of {total} (at most {} groups)",
            daphne_ir::pipeline::MAX_BLOCKS
        )));
    }
    Ok(Some(daphne_ir::pipeline::fold_nodes(first..first + groups, total)))
}

/// Folds each fold output's groups (one value per group, in order) into the values of `nodes`,
/// each node its groups along `fold_tree`: the coordinator gets a few values however many
/// groups the worker ran. Without nodes, the outputs as they are.
fn fold_groups(
    f: &daphne_ir::Function,
    op: &daphne_ir::Op,
    outputs: Outputs,
    nodes: Option<&[(u32, usize)]>,
) -> Result<Outputs, Refusal> {
    let Some(nodes) = nodes else { return Ok(outputs) };
    let first = nodes.first().map_or(0, |&(l, j)| j << l);
    outputs
        .into_iter()
        .zip(&op.results)
        .map(|(Produced { combine: c, parts, .. }, &r)| {
            if matches!(c, Combine::Rows | Combine::Cols) {
                return Ok(Produced { combine: c, parts, nodes: Vec::new() });
            }
            let mut parts = parts.into_iter();
            let mut folded = Vec::with_capacity(nodes.len());
            let mut at = first;
            for &(level, j) in nodes {
                let end = (j + 1) << level;
                let mine: Vec<Value> = parts.by_ref().take(end - at).collect();
                at = end;
                let value = daphne_ir::pipeline::fold_tree(mine.into_iter().map(Ok).collect(), |a, b| {
                    daphne_runtime::pipeline::combine_two(f, r, c, a?, b?)
                })
                .ok_or_else(|| Refusal::internal("a fold node without groups"))?
                .map_err(|e| Refusal::aborted(e.to_string()))?;
                folded.push(value);
            }
            Ok(Produced { combine: c, parts: folded, nodes: nodes.to_vec() })
        })
        .collect()
}

/// A bound from above on the bytes of a task's outputs: joined row and column outputs count
/// twice (the groups' parts and the whole), a fold one value per group. Shapes are the
/// outputs' static ones where known, else as wide as the widest input (elementwise results
/// are no wider than their inputs). Cells count 8 bytes, the widest numeric cell.
fn output_bytes(f: &daphne_ir::Function, op: &daphne_ir::Op, inputs: &[Value], n: usize, groups: usize) -> usize {
    let OpKind::Pipeline(spec) = &op.kind else { return 0 };
    let wide = inputs
        .iter()
        .map(|v| match v {
            Value::Matrix(m) => m.cols(),
            Value::Sparse(m) => m.cols(),
            _ => 1,
        })
        .max()
        .unwrap_or(1)
        .max(1);
    let dim = |d: Option<u64>, unknown: usize| d.map_or(unknown, |d| usize::try_from(d).unwrap_or(usize::MAX));
    let mut cells = 0usize;
    for (c, r) in spec.combines.iter().zip(&op.results) {
        let (rows, cols) = match f.values.try_get(*r).map(|v| &v.ty) {
            Some(daphne_ir::Type::Matrix(t)) => (t.rows, t.cols),
            _ => (Some(1), Some(1)),
        };
        let output = match c {
            Combine::Rows => n.saturating_mul(dim(cols, wide)).saturating_mul(2),
            Combine::Cols => dim(rows, wide).saturating_mul(n).saturating_mul(2),
            _ => groups.saturating_mul(dim(rows, 1)).saturating_mul(dim(cols, wide)),
        };
        cells = cells.saturating_add(output);
    }
    cells.saturating_mul(8)
}

/// A refusal as the gRPC status it travels as: the service's edge.
impl From<Refusal> for Status {
    fn from(r: Refusal) -> Status {
        let code = match r.kind {
            Refused::InvalidArgument => tonic::Code::InvalidArgument,
            Refused::NotFound => tonic::Code::NotFound,
            Refused::ResourceExhausted => tonic::Code::ResourceExhausted,
            Refused::Aborted => tonic::Code::Aborted,
            Refused::Internal => tonic::Code::Internal,
            Refused::Unavailable => tonic::Code::Unavailable,
        };
        Status::new(code, r.message)
    }
}

#[tonic::async_trait]
impl Worker for Service {
    async fn store(&self, request: Request<Streaming<Chunk>>) -> Result<Response<Stored>, Status> {
        let session = self.session(&request)?;
        let mut stream = request.into_inner();
        let mut assembler = Assembler::default();
        // A broadcast through a tree: each chunk goes on to the subtrees the first one names
        // as it arrives.
        let mut forwards: Vec<crate::relay::Forward> = Vec::new();
        let mut first = true;
        while let Some(chunk) = stream.next().await {
            let mut chunk = chunk?;
            if std::mem::take(&mut first) {
                for t in std::mem::take(&mut chunk.forward) {
                    forwards.push(crate::relay::Forward::start(&self.peers, session, t)?);
                }
            } else if !chunk.forward.is_empty() {
                return Err(Refusal::invalid("only a store's first chunk names where it goes on").into());
            }
            for f in &mut forwards {
                f.send(&chunk).await;
            }
            // The first chunk reserves the object's memory before the other bytes arrive.
            assembler.push(chunk, &self.state)?;
        }
        let (id, value, total) = assembler.finish()?;
        self.state.store(session, id, value, total);
        for f in forwards {
            f.finish().await?;
        }
        Ok(Response::new(Stored { object: id, bytes: total }))
    }

    async fn compute(&self, request: Request<Task>) -> Result<Response<TaskResult>, Status> {
        let session = self.session(&request)?;
        let task = request.into_inner();
        if !task.relay.is_empty() {
            return Ok(Response::new(self.run_relaying(session, task).await?));
        }
        let inputs = self.state.resolve(session, &task)?;
        let (inline_limit, keep_rows) = (task.inline_limit, task.keep_rows);
        let outputs = self.on_compute(move |c, state| c.run(session, &task, inputs, state)).await?;
        Ok(Response::new(self.state.result_of(session, outputs, inline_limit, keep_rows)?))
    }

    type FetchStream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<Chunk, Status>> + Send>>;

    async fn fetch(&self, request: Request<FetchRequest>) -> Result<Response<Self::FetchStream>, Status> {
        let session = self.session(&request)?;
        let req = request.into_inner();
        let chunks = self.state.fetch(session, req.object, req.max_chunk_bytes, req.rows.as_ref())?;
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks.map(Ok)))))
    }

    async fn free(&self, request: Request<FreeRequest>) -> Result<Response<Freed>, Status> {
        let session = self.session(&request)?;
        let req = request.into_inner();
        let mut freed = self.state.free(session, &req.objects);
        if req.end_session {
            freed += self.state.end(session);
        }
        Ok(Response::new(Freed { objects: freed }))
    }

    async fn info(&self, request: Request<InfoRequest>) -> Result<Response<WorkerInfo>, Status> {
        // An info call renews its session's lease: it is how a coordinator keeps its objects.
        self.session(&request)?;
        Ok(Response::new(self.state.info()))
    }

    async fn create(&self, request: Request<proto::CreateTask>) -> Result<Response<proto::Created>, Status> {
        let session = self.session(&request)?;
        let task = request.into_inner();
        let state = self.state.clone();
        let created = tokio::task::spawn_blocking(move || state.create(session, &task))
            .await
            .map_err(|_| Refusal::internal("making rows stopped"))??;
        Ok(Response::new(created))
    }

    async fn scan(&self, request: Request<proto::ScanRequest>) -> Result<Response<proto::Scanned>, Status> {
        self.session(&request)?;
        let req = request.into_inner();
        let state = self.state.clone();
        let scanned = tokio::task::spawn_blocking(move || state.scan(&req))
            .await
            .map_err(|_| Refusal::internal("a scan stopped"))??;
        Ok(Response::new(scanned))
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

/// Tells the coordinator at `coordinator` that a worker serves at `address` (retried for
/// `timeout`, as the coordinator may not listen yet).
/// With TLS files, the join goes over TLS (the coordinator's certificate checked against
/// `--tls-ca`).
pub fn join(
    coordinator: &str,
    address: &str,
    token: Option<&str>,
    tls: &crate::tls::Files,
    timeout: std::time::Duration,
) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Join { coordinator: coordinator.to_owned(), cause: e.to_string() })?;
    let attach = crate::auth::Attach::new(token)?;
    let tls = tls.client()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let deadline = std::time::Instant::now() + timeout;
    rt.block_on(async {
        loop {
            let tried = async {
                let mut endpoint = tonic::transport::Endpoint::from_shared(format!("{scheme}://{coordinator}"))
                    .map_err(|e| e.to_string())?;
                if let Some(tls) = tls.clone() {
                    endpoint = endpoint.tls_config(tls).map_err(|e| e.to_string())?;
                }
                let channel = endpoint
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
                    return Err(Error::Join { coordinator: coordinator.to_owned(), cause: e });
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
    /// How long a session lives without a call (`--session-timeout`; default `SESSION_TIMEOUT`).
    pub session_timeout: Option<Duration>,
    /// Connections served at once (`--max-connections`; default `conn::default_max`).
    pub max_connections: Option<usize>,
    /// How long a connection may send nothing (`--idle-timeout`; default `conn::IDLE`).
    pub idle_timeout: Option<Duration>,
}

/// Binds `addr` for `serve` (a port of 0 picks a free one: `local_addr` says which).
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, Error> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| Error::Listen { addr, cause: e.to_string() })
}

/// Resolves at SIGINT or SIGTERM: what a worker process passes `serve` (with its other
/// reasons to stop), so a worker in a test process leaves the process's signals alone.
pub async fn signalled() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// A worker ready to serve on a listener the caller bound (as mini-redis does: tests bind
/// port 0 and never race for a port): its TLS files read, its compute thread started.
pub struct Server {
    listener: tokio::net::TcpListener,
    bound: SocketAddr,
    service: Service,
    options: ServeOptions,
    stopped: oneshot::Receiver<()>,
}

impl Server {
    /// Checks `options` (the TLS files) and starts the compute thread; nothing is served yet.
    pub fn new(listener: tokio::net::TcpListener, options: ServeOptions) -> Result<Server, Error> {
        let bound = listener.local_addr().map_err(|e| Error::Start { what: "serving", cause: e.to_string() })?;
        if options.token.is_none() && !bound.ip().is_loopback() {
            eprintln!(
                "daphne-worker: WARNING: serving on {bound} without an auth token: anyone who can reach this port can run code here. Give --auth-token-file or DAPHNE_AUTH_TOKEN (the coordinator needs the same)."
            );
        }
        // Checked before the worker says it serves.
        options.tls.server()?;
        let (stop_tx, stopped) = oneshot::channel::<()>();
        let service = Service::new(bound.to_string(), &options, options.stoppable.then_some(stop_tx))?;
        Ok(Server { listener, bound, service, options, stopped })
    }

    /// The address served.
    pub fn local_addr(&self) -> SocketAddr {
        self.bound
    }

    /// Serves until `shutdown` resolves (or, with `stoppable`, a `Stop` call comes); calls in
    /// flight are finished first.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<(), Error> {
        let Server { listener, bound, service, options, stopped } = self;
        // Sessions whose coordinator stopped calling are freed.
        let state = service.state.clone();
        let reaper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tick.tick().await;
                let freed = state.expire();
                if freed > 0 {
                    eprintln!("daphne-worker: freed {freed} objects of sessions whose coordinator stopped calling");
                }
            }
        });
        let checked = tonic::service::interceptor::InterceptedService::new(
            service.into_server(),
            crate::auth::Check::new(options.token.clone()),
        );
        let gate = crate::conn::Gate::new(
            options.max_connections.unwrap_or_else(crate::conn::default_max),
            options.idle_timeout.unwrap_or(crate::conn::IDLE),
        );
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).filter_map(move |s| match s {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                gate.admit(s).map(Ok)
            }
            Err(e) => Some(Err(e)),
        });
        let shutdown = async move {
            let stop_call = async {
                // Only a `Stop` call sends; without one the sender is gone and this never ends.
                if stopped.await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = shutdown => {}
                _ = stop_call => {}
            }
        };
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = options.tls.server()? {
            builder = builder.tls_config(tls).map_err(|e| Error::Config(format!("bad TLS files: {e}")))?;
        }
        let served = builder
            .tcp_nodelay(true)
            .initial_stream_window_size(Some(crate::WINDOW_BYTES))
            .initial_connection_window_size(Some(crate::WINDOW_BYTES))
            .max_frame_size(Some(crate::FRAME_BYTES))
            .add_service(checked)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await;
        reaper.abort();
        served.map_err(|e| Error::Served { bound, cause: e.to_string() })
    }
}

/// Serves on `listener` until `shutdown` resolves (with `stoppable`, a `Stop` call ends it
/// too: workers a launcher started for one run). The process's signals are the caller's
/// (`signalled`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    Server::new(listener, options)?.serve(shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_names_groups_among_the_pipelines_or_is_refused() {
        let task = |first_group, total_groups| Task { first_group, total_groups, ..Task::default() };
        assert_eq!(fold_nodes_of(&task(0, 0), 3).unwrap(), None, "no total: every group unfolded");
        assert_eq!(fold_nodes_of(&task(2, 8), 6).unwrap(), Some(vec![(1, 1), (2, 1)]));
        for (first, total, groups) in [(5, 4, 1), (0, 4, 5), (u64::MAX, 8, 2), (0, 1 << 40, 1)] {
            let e = fold_nodes_of(&task(first, total), groups).unwrap_err();
            assert_eq!(e.kind, Refused::InvalidArgument, "{first} of {total}, {groups} groups: {}", e.message);
        }
    }
}
