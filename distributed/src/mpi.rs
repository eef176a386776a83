//! The MPI backend (`--dist_backend=MPI`, feature `mpi`): DAPHNE's model. Every rank runs the
//! same `daphne` command; rank 0 runs the script and coordinates, ranks 1..N-1 serve as workers
//! (`serve`) until rank 0 stops them. The messages are the gRPC protocol's, prost-encoded
//! (`MpiRequest`, `MpiReply`): requests with tag `REQUEST`, replies with tag `REPLY`; MPI keeps
//! the messages between two ranks in order. Broadcast inputs go by `MPI_Bcast` from rank 0,
//! in chunks of at most the chunk size.

use std::sync::Mutex;

use bytes::Bytes;
use daphne_runtime::value::Value;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use prost::Message;

use crate::codec;
use crate::error::{Call, Error, Refusal, Refused};
use crate::link::{CallError, Link};
use crate::proto::mpi_reply::Kind as ReplyKind;
use crate::proto::mpi_request::Kind as RequestKind;
use crate::proto::{
    BroadcastRequest, Chunk, CreateTask, Created, Failure, FetchRequest, FreeRequest, InfoRequest, MpiReply,
    MpiRequest, ScanRequest, Scanned, StopRequest, Stored, Task, TaskResult, WorkerInfo,
};
use crate::worker::{Assembler, Compute, State};

const REQUEST: i32 = 1;
const REPLY: i32 = 2;

pub use mpi::environment::Universe;

/// Initializes MPI (every thread may call it; rank 0's calls come from the interpreter's
/// thread). Dropping the universe finalizes MPI.
pub fn initialize() -> Result<Universe, Error> {
    mpi::initialize_with_threading(mpi::Threading::Multiple)
        .map(|(u, _)| u)
        .ok_or_else(|| Error::Config("cannot initialize MPI (was it initialized already?)".into()))
}

/// The engine threads for a rank: the machine's, shared by the ranks on this node (Open MPI
/// and MPICH say how many there are).
pub fn threads_per_rank() -> usize {
    let local = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"]
        .iter()
        .find_map(|k| std::env::var(k).ok()?.trim().parse::<usize>().ok())
        .unwrap_or(1);
    (daphne_runtime::exec::default_threads() / local.max(1)).max(1)
}

/// How a process started under `mpirun` takes part.
pub enum Role {
    /// Rank 0 of `size` ranks.
    Coordinator { size: usize },
    /// Any other rank: serve, then exit.
    Worker { rank: usize },
}

/// This process's part by its rank.
pub fn role() -> Role {
    let world = SimpleCommunicator::world();
    match world.rank() {
        0 => Role::Coordinator { size: world.size() as usize },
        r => Role::Worker { rank: r as usize },
    }
}

fn send(world: &SimpleCommunicator, rank: usize, tag: i32, msg: &impl Message) {
    world.process_at_rank(rank as i32).send_with_tag(&msg.encode_to_vec()[..], tag);
}

fn reply(world: &SimpleCommunicator, kind: ReplyKind) {
    send(world, 0, REPLY, &MpiReply { kind: Some(kind) });
}

/// A refusal as the MPI failure reply it travels as (the code is gRPC's, as over gRPC).
fn failure(r: &Refusal) -> ReplyKind {
    ReplyKind::Failure(Failure { code: r.kind.code(), message: r.message.clone() })
}

/// Serves rank 0's requests until it says stop. Malformed requests get a failure reply.
pub fn serve(rank: usize, threads: usize) {
    let world = SimpleCommunicator::world();
    // One job, one session (0), held until rank 0 says stop.
    let state = State::new(format!("rank {rank}"), threads, None, std::time::Duration::MAX);
    let mut compute = Compute::new(threads);
    let mut storing: Option<Assembler> = None;
    // A store that failed: its remaining chunks are dropped until its last one.
    let mut dropping: Option<(u64, u64)> = None;
    loop {
        let (bytes, _) = world.process_at_rank(0).receive_vec_with_tag::<u8>(REQUEST);
        let Ok(MpiRequest { kind: Some(kind) }) = MpiRequest::decode(&bytes[..]) else {
            reply(&world, failure(&Refusal::invalid("a malformed request")));
            continue;
        };
        match kind {
            RequestKind::Store(chunk) => {
                let last = chunk.offset + chunk.data.len() as u64 >= chunk.total_bytes;
                if let Some((id, _)) = dropping {
                    if id == chunk.object {
                        if last {
                            dropping = None;
                        }
                        continue;
                    }
                    dropping = None;
                }
                let (id, total) = (chunk.object, chunk.total_bytes);
                let mut a = storing.take().unwrap_or_default();
                let pushed = if chunk.forward.is_empty() {
                    a.push(chunk, &state)
                } else {
                    Err(Refusal::invalid("an MPI rank forwards no stores (trees of workers are gRPC's)"))
                };
                match pushed {
                    Err(s) => {
                        if !last {
                            dropping = Some((id, total));
                        }
                        reply(&world, failure(&s));
                    }
                    Ok(()) if a.complete() => match a.finish() {
                        Ok((id, value, total)) => {
                            state.store(0, id, value, total);
                            reply(&world, ReplyKind::Stored(Stored { object: id, bytes: total }));
                        }
                        Err(s) => reply(&world, failure(&s)),
                    },
                    Ok(()) => storing = Some(a),
                }
            }
            RequestKind::Broadcast(b) => {
                let mut received = Vec::with_capacity(usize::try_from(b.total_bytes.min(1 << 34)).unwrap_or(0));
                let max = b.max_chunk_bytes.max(1);
                let mut left = b.total_bytes;
                while left > 0 {
                    let n = left.min(max) as usize;
                    let mut buf = vec![0u8; n];
                    world.process_at_rank(0).broadcast_into(&mut buf[..]);
                    received.extend_from_slice(&buf);
                    left -= n as u64;
                }
                match codec::decode(&received) {
                    Ok(value) => {
                        state.store(0, b.object, value, b.total_bytes);
                        reply(&world, ReplyKind::Stored(Stored { object: b.object, bytes: b.total_bytes }));
                    }
                    Err(e) => reply(&world, failure(&Refusal::from(e))),
                }
            }
            RequestKind::Compute(task) if !task.relay.is_empty() => {
                reply(&world, failure(&Refusal::invalid("an MPI rank relays no tasks (trees of workers are gRPC's)")));
            }
            RequestKind::Compute(task) => {
                let result = state.resolve(0, &task).and_then(|inputs| {
                    let outputs = compute.run(0, &task, inputs, &state)?;
                    state.result_of(0, outputs, task.inline_limit, task.keep_rows)
                });
                match result {
                    Ok(r) => reply(&world, ReplyKind::Result(r)),
                    Err(s) => reply(&world, failure(&s)),
                }
            }
            RequestKind::Fetch(f) => match state.fetch(0, f.object, f.max_chunk_bytes, f.rows.as_ref()) {
                Ok(chunks) => {
                    for c in chunks {
                        reply(&world, ReplyKind::Chunk(c));
                    }
                }
                Err(s) => reply(&world, failure(&s)),
            },
            RequestKind::Free(f) => {
                state.free(0, &f.objects);
            }
            RequestKind::Info(_) => reply(&world, ReplyKind::Info(state.info())),
            RequestKind::Create(task) => match state.create(0, &task) {
                Ok(c) => reply(&world, ReplyKind::Created(c)),
                Err(r) => reply(&world, failure(&r)),
            },
            RequestKind::Scan(request) => match state.scan(&request) {
                Ok(c) => reply(&world, ReplyKind::Scanned(c)),
                Err(r) => reply(&world, failure(&r)),
            },
            RequestKind::Stop(_) => break,
        }
    }
}

/// Rank 0's side: the other ranks as workers. Calls are serialized (one request/reply
/// exchange at a time); the workers compute concurrently.
pub struct MpiLink {
    size: usize,
    lock: Mutex<()>,
}

impl MpiLink {
    /// The link of rank 0 of `size` ranks (at least 2).
    pub fn new(size: usize) -> Result<MpiLink, Error> {
        if size < 2 {
            return Err(Error::Config(format!(
                "the MPI backend needs at least 2 ranks (rank 0 runs the script, the others serve), but runs on {size}; start it with `mpirun -np N` for N >= 2"
            )));
        }
        Ok(MpiLink { size, lock: Mutex::new(()) })
    }

    /// Worker `w` answered outside the protocol.
    fn protocol(&self, w: usize, what: &'static str) -> Error {
        Error::Protocol { worker: self.name(w), what }
    }

    fn request(&self, world: &SimpleCommunicator, w: usize, kind: RequestKind) {
        send(world, w + 1, REQUEST, &MpiRequest { kind: Some(kind) });
    }

    fn receive(&self, world: &SimpleCommunicator, w: usize) -> Result<ReplyKind, Error> {
        let (bytes, _) = world.process_at_rank((w + 1) as i32).receive_vec_with_tag::<u8>(REPLY);
        match MpiReply::decode(&bytes[..]) {
            Ok(MpiReply { kind: Some(k) }) => Ok(k),
            _ => Err(self.protocol(w, "a malformed reply")),
        }
    }
}

impl Drop for MpiLink {
    /// Stops the workers.
    fn drop(&mut self) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let world = SimpleCommunicator::world();
        for w in 0..self.workers() {
            self.request(&world, w, RequestKind::Stop(StopRequest {}));
        }
    }
}

impl MpiLink {
    /// A failure reply to a call: the work's own (`ABORTED`) or the worker's.
    fn refused(&self, w: usize, call: Call, f: Failure) -> CallError {
        if f.code == Refused::Aborted.code() {
            CallError::Pipeline(f.message)
        } else {
            CallError::Worker(failed(self.name(w), call, f))
        }
    }
}

fn failed(worker: String, call: Call, f: Failure) -> Error {
    Error::Call { worker, call, message: f.message }
}

impl Link for MpiLink {
    fn workers(&self) -> usize {
        self.size - 1
    }

    fn name(&self, w: usize) -> String {
        format!("rank {}", w + 1)
    }

    fn store(&self, objects: Vec<(usize, u64, Value)>, max: usize) -> Result<Vec<u64>, Error> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let world = SimpleCommunicator::world();
        let mut sizes = Vec::with_capacity(objects.len());
        for (w, id, value) in &objects {
            let segments = codec::encode_segments(value)?;
            sizes.push(segments.iter().map(|s| s.len() as u64).sum());
            let total = segments.iter().map(|s| s.len() as u64).sum();
            for chunk in crate::chunks(*id, segments, crate::chunk_size(total, max)) {
                self.request(&world, *w, RequestKind::Store(chunk));
            }
        }
        for (w, _, _) in &objects {
            match self.receive(&world, *w)? {
                ReplyKind::Stored(_) => {}
                ReplyKind::Failure(f) => return Err(failed(self.name(*w), Call::Store, f)),
                _ => return Err(self.protocol(*w, "an unexpected reply to a store")),
            }
        }
        Ok(sizes)
    }

    fn broadcast(&self, _workers: &[usize], id: u64, value: Value, max: usize) -> Result<u64, Error> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let world = SimpleCommunicator::world();
        let bytes = codec::encode(&value)?;
        drop(value);
        let total = bytes.len() as u64;
        for w in 0..self.workers() {
            self.request(
                &world,
                w,
                RequestKind::Broadcast(BroadcastRequest {
                    object: id,
                    total_bytes: total,
                    max_chunk_bytes: max as u64,
                }),
            );
        }
        let root = world.process_at_rank(0);
        for piece in bytes.chunks(max.max(1)) {
            let mut buf = piece.to_vec();
            root.broadcast_into(&mut buf[..]);
        }
        for w in 0..self.workers() {
            match self.receive(&world, w)? {
                ReplyKind::Stored(_) => {}
                ReplyKind::Failure(f) => return Err(failed(self.name(w), Call::Broadcast, f)),
                _ => return Err(self.protocol(w, "an unexpected reply to a broadcast")),
            }
        }
        Ok(total * self.workers() as u64)
    }

    fn compute(&self, tasks: Vec<(usize, Task)>) -> Vec<Result<TaskResult, CallError>> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let world = SimpleCommunicator::world();
        let workers: Vec<usize> = tasks.iter().map(|(w, _)| *w).collect();
        for (w, task) in tasks {
            self.request(&world, w, RequestKind::Compute(task));
        }
        workers
            .into_iter()
            .map(|w| match self.receive(&world, w) {
                Ok(ReplyKind::Result(r)) => Ok(r),
                Ok(ReplyKind::Failure(f)) if f.code == Refused::Aborted.code() => Err(CallError::Pipeline(f.message)),
                Ok(ReplyKind::Failure(f)) => {
                    Err(CallError::Worker(Error::Task { worker: self.name(w), message: f.message }))
                }
                Ok(_) => Err(CallError::Worker(self.protocol(w, "an unexpected reply to a task"))),
                Err(e) => Err(CallError::Worker(e)),
            })
            .collect()
    }

    fn create(&self, tasks: Vec<(usize, CreateTask)>) -> Vec<Result<Created, CallError>> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let world = SimpleCommunicator::world();
        let workers: Vec<usize> = tasks.iter().map(|(w, _)| *w).collect();
        for (w, task) in tasks {
            self.request(&world, w, RequestKind::Create(task));
        }
        workers
            .into_iter()
            .map(|w| match self.receive(&world, w) {
                Ok(ReplyKind::Created(c)) => Ok(c),
                Ok(ReplyKind::Failure(f)) => Err(self.refused(w, Call::Create, f)),
                Ok(_) => Err(CallError::Worker(self.protocol(w, "an unexpected reply to making rows"))),
                Err(e) => Err(CallError::Worker(e)),
            })
            .collect()
    }

    fn scan(&self, requests: Vec<(usize, ScanRequest)>) -> Vec<Result<Scanned, CallError>> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let world = SimpleCommunicator::world();
        let workers: Vec<usize> = requests.iter().map(|(w, _)| *w).collect();
        for (w, request) in requests {
            self.request(&world, w, RequestKind::Scan(request));
        }
        workers
            .into_iter()
            .map(|w| match self.receive(&world, w) {
                Ok(ReplyKind::Scanned(c)) => Ok(c),
                Ok(ReplyKind::Failure(f)) => Err(self.refused(w, Call::Scan, f)),
                Ok(_) => Err(CallError::Worker(self.protocol(w, "an unexpected reply to a scan"))),
                Err(e) => Err(CallError::Worker(e)),
            })
            .collect()
    }

    fn fetch(&self, objects: &[crate::link::Wanted], max: usize) -> Result<Vec<Vec<Bytes>>, Error> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let world = SimpleCommunicator::world();
        for (w, id, rows) in objects {
            let request = FetchRequest { object: *id, max_chunk_bytes: max as u64, rows: *rows };
            self.request(&world, *w, RequestKind::Fetch(request));
        }
        let mut out = Vec::with_capacity(objects.len());
        for &(w, id, _) in objects {
            let mut segments: Vec<Bytes> = Vec::new();
            let mut received = 0u64;
            loop {
                match self.receive(&world, w)? {
                    ReplyKind::Chunk(Chunk { object, total_bytes, offset, data, .. }) => {
                        if object != id || offset != received {
                            return Err(self.protocol(w, "fetched chunks out of order"));
                        }
                        received += data.len() as u64;
                        segments.push(data);
                        if received >= total_bytes {
                            break;
                        }
                    }
                    ReplyKind::Failure(f) => return Err(failed(self.name(w), Call::Fetch, f)),
                    _ => return Err(self.protocol(w, "an unexpected reply to a fetch")),
                }
            }
            out.push(segments);
        }
        Ok(out)
    }

    fn free(&self, objects: Vec<(usize, Vec<u64>)>, _wait: bool) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let world = SimpleCommunicator::world();
        for (w, ids) in objects {
            if !ids.is_empty() {
                self.request(&world, w, RequestKind::Free(FreeRequest { objects: ids, end_session: false }));
            }
        }
    }

    fn info(&self) -> Result<Vec<WorkerInfo>, Error> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let world = SimpleCommunicator::world();
        for w in 0..self.workers() {
            self.request(&world, w, RequestKind::Info(InfoRequest {}));
        }
        (0..self.workers())
            .map(|w| match self.receive(&world, w)? {
                ReplyKind::Info(i) => Ok(i),
                _ => Err(self.protocol(w, "an unexpected reply to info")),
            })
            .collect()
    }
}
