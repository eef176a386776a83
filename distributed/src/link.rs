//! How the coordinator reaches its workers: the operations of the worker protocol (store,
//! compute, create, scan, fetch, free, info) over one transport. `GrpcLink` calls `daphne-worker`
//! processes over gRPC; `mpi::MpiLink` (feature `mpi`) sends the same messages to MPI ranks.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use daphne_runtime::value::Value;
use tonic::transport::Channel;

use crate::source_chain;

use crate::MAX_MESSAGE_BYTES;
use crate::codec;
use crate::error::{Call, Error};
use crate::proto::worker_client::WorkerClient;
use crate::proto::{
    self, CreateTask, Created, FetchRequest, FreeRequest, InfoRequest, ScanRequest, Scanned, StopRequest, Task,
    TaskResult, WorkerInfo,
};

pub use crate::CONNECT_TIMEOUT;

/// An object to fetch: its worker, its id, and only these rows of it when given.
pub type Wanted = (usize, u64, Option<crate::proto::Rows>);

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The pipeline itself failed on the worker (running it locally reports the error).
    #[error("{0}")]
    Pipeline(String),
    /// The worker or the network failed, or the worker refused the request.
    #[error(transparent)]
    Worker(Error),
}

/// The worker protocol over one transport. Calls to several workers run concurrently where
/// the transport can; results come back in the order of the requests.
pub trait Link: Send + Sync {
    /// The number of workers.
    fn workers(&self) -> usize;
    /// How errors name worker `w` (its address, or its rank).
    fn name(&self, w: usize) -> String;
    /// Stores each value under its id on its worker, in chunks of at most `max_chunk` bytes;
    /// the bytes sent per object.
    fn store(&self, objects: Vec<(usize, u64, Value)>, max_chunk: usize) -> Result<Vec<u64>, Error>;
    /// Stores one value under one id on every worker of `workers` (MPI: a collective
    /// broadcast to every rank); the bytes stored, summed over the workers.
    fn broadcast(&self, workers: &[usize], id: u64, value: Value, max_chunk: usize) -> Result<u64, Error> {
        let objects = workers.iter().map(|&w| (w, id, value.clone())).collect();
        Ok(self.store(objects, max_chunk)?.into_iter().sum())
    }
    /// Runs tasks, one per (distinct) worker.
    fn compute(&self, tasks: Vec<(usize, Task)>) -> Vec<Result<TaskResult, CallError>>;
    /// Makes rows of matrices where the workers are, one task per (distinct) worker (a
    /// `CallError::Pipeline` is the making's own failure: a file's bad cell, a budget).
    fn create(&self, tasks: Vec<(usize, CreateTask)>) -> Vec<Result<Created, CallError>>;
    /// Scans pieces of a file, one per (distinct) worker.
    fn scan(&self, requests: Vec<(usize, ScanRequest)>) -> Vec<Result<Scanned, CallError>>;
    /// Fetches objects (worker, id, and only some rows of it when given); their encoded
    /// segments.
    fn fetch(&self, objects: &[Wanted], max_chunk: usize) -> Result<Vec<Vec<Bytes>>, Error>;
    /// Frees objects; `wait` for the answers (else sent in the background).
    fn free(&self, objects: Vec<(usize, Vec<u64>)>, wait: bool);
    /// Every worker's info.
    fn info(&self) -> Result<Vec<WorkerInfo>, Error>;
    /// Stops the workers (those started for this run).
    fn stop(&self) {}
    /// Adds a worker that joined (its index).
    fn add(&self, addr: &str) -> Result<usize, Error> {
        Err(Error::NoJoins(addr.to_owned()))
    }
    /// Which of `workers` answer a health check within `timeout`: each one's instance (a new
    /// instance at the same address is a restarted worker, holding nothing), `None` when it
    /// does not answer.
    fn ping(&self, workers: &[usize], _timeout: Duration) -> Vec<Option<u64>> {
        vec![Some(0); workers.len()]
    }
    /// Ends this run's session on every worker (frees everything it stored there).
    fn end_session(&self) {}
    /// Worker `w` is no longer used (dead, or restarted): its session is not renewed, so a
    /// worker that was only frozen or cut off frees this run's objects when it comes back.
    fn retire(&self, _w: usize) {}
}

/// A failed call's status: the work's own failure (`ABORTED`) or the worker's.
fn failure(s: tonic::Status, worker: String, call: Call) -> CallError {
    if s.code() == tonic::Code::Aborted {
        CallError::Pipeline(s.message().to_owned())
    } else {
        CallError::Worker(Error::Call { worker, call, message: s.message().to_owned() })
    }
}

/// How calls to several gRPC workers are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// Futures of all workers' calls awaited together on the coordinator's runtime.
    #[default]
    Async,
    /// One thread per worker, each making blocking calls.
    Sync,
    /// MPI messages to the other ranks (feature `mpi`).
    Mpi,
}

impl Backend {
    /// DAPHNE's names: `sync-gRPC`, `async-gRPC`, `MPI`.
    pub fn parse(name: &str) -> Option<Backend> {
        match name.to_ascii_lowercase().as_str() {
            "async-grpc" => Some(Backend::Async),
            "sync-grpc" => Some(Backend::Sync),
            "mpi" => Some(Backend::Mpi),
            _ => None,
        }
    }
}

type Job<T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send>>;

/// A worker client whose calls carry the auth token.
type Client = WorkerClient<tonic::service::interceptor::InterceptedService<Channel, crate::auth::Attach>>;

/// Every worker's client and address (workers may join during a run).
type Clients = std::sync::Arc<std::sync::RwLock<Vec<(Client, String)>>>;

/// Workers no longer used: their session is not renewed.
type Retired = std::sync::Arc<std::sync::Mutex<std::collections::HashSet<usize>>>;

/// gRPC workers.
pub struct GrpcLink {
    rt: tokio::runtime::Runtime,
    workers: Clients,
    retired: Retired,
    backend: Backend,
    attach: crate::auth::Attach,
    tls: Option<tonic::transport::ClientTlsConfig>,
    heartbeat: Duration,
    tree: crate::tree::Tree,
}

impl GrpcLink {
    /// Connects to the workers (all at once, each within `CONNECT_TIMEOUT`, checked with an
    /// info call); a worker that cannot be reached is left out with a warning, and only when
    /// none can be is it an error. Every call names a fresh session, renewed in the
    /// background while the link lives (so a worker frees this run's objects once the run
    /// is gone). A worker that does not answer HTTP/2 pings for `heartbeat` counts as gone
    /// (its calls fail, and the coordinator moves its work).
    pub fn connect(
        addrs: Vec<String>,
        backend: Backend,
        token: Option<&str>,
        tls: &crate::tls::Files,
        heartbeat: Duration,
    ) -> Result<GrpcLink, Error> {
        let attach = crate::auth::Attach::new(token)?.with_session(&crate::worker::fresh_session())?;
        let tls = tls.client()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("daphne-coordinator")
            .enable_all()
            .build()
            .map_err(|e| Error::Start { what: "the coordinator's runtime", cause: e.to_string() })?;
        let tried = rt.block_on(async {
            let calls: Vec<_> = addrs
                .iter()
                .map(|addr| tokio::spawn(connect_one(addr.clone(), attach.clone(), tls.clone(), heartbeat)))
                .collect();
            let mut out = Vec::with_capacity(calls.len());
            for c in calls {
                out.push(c.await.unwrap_or_else(|e| Err(Error::Panicked(e.to_string()))));
            }
            out
        });
        let mut clients = Vec::with_capacity(addrs.len());
        let mut errors = Vec::new();
        for (addr, t) in addrs.iter().zip(tried) {
            match t {
                Ok((client, timeout)) => clients.push((client, addr.clone(), timeout)),
                Err(e) => errors.push(e),
            }
        }
        if clients.is_empty() {
            return Err(Error::Unreached(errors));
        }
        for e in &errors {
            daphne_runtime::console::eprint(&format!(
                "daphne: WARNING: {e}; the run goes on with the {} other workers\n",
                clients.len()
            ));
        }
        // Renewed at a quarter of the shortest session timeout.
        let lease = clients.iter().map(|c| c.2).min().unwrap_or(crate::worker::SESSION_TIMEOUT);
        let workers: Clients =
            std::sync::Arc::new(std::sync::RwLock::new(clients.into_iter().map(|(c, a, _)| (c, a)).collect()));
        let retired = Retired::default();
        let every = (lease / 4).clamp(Duration::from_millis(100), Duration::from_secs(10));
        rt.spawn(renew(workers.clone(), retired.clone(), every));
        Ok(GrpcLink { rt, workers, retired, backend, attach, tls, heartbeat, tree: crate::tree::Tree::default() })
    }

    /// The same link, reaching its workers through a tree as `tree` says.
    pub fn with_tree(mut self, tree: crate::tree::Tree) -> GrpcLink {
        self.tree = tree;
        self
    }

    /// [`Link::compute`] through trees of workers: the coordinator calls the roots, each
    /// relaying its subtree's tasks (`tree::relay_task`); the outcomes come back depth first,
    /// which is the tasks' order.
    fn compute_tree(&self, tasks: Vec<(usize, Task)>) -> Vec<Result<TaskResult, CallError>> {
        let n = tasks.len();
        let ws: Vec<usize> = tasks.iter().map(|(w, _)| *w).collect();
        let names: Vec<String> = ws.iter().map(|&w| self.name(w)).collect();
        let mut slots: Vec<Option<Task>> = tasks.into_iter().map(|(_, t)| Some(t)).collect();
        let roots = crate::tree::shape(0..n, self.tree.fanout);
        let address = |i: usize| names[i].clone();
        let jobs: Vec<Job<Result<TaskResult, tonic::Status>>> = roots
            .iter()
            .map(|b| {
                let task = crate::tree::relay_task(b, &mut slots, &address);
                let (mut c, _) = self.client(ws[b.index]);
                Box::pin(async move { Ok(c.compute(task).await.map(tonic::Response::into_inner)) }) as Job<_>
            })
            .collect();
        let mut out = Vec::with_capacity(n);
        for (b, answer) in roots.iter().zip(self.each(jobs)) {
            let (start, len) = (b.index, b.size());
            let failed = |i: usize, code: tonic::Code, message: &str| {
                let message = if i == start {
                    message.to_owned()
                } else {
                    format!("relayed through {}: {message}", names[start])
                };
                task_failure(&tonic::Status::new(code, message), names[i].clone())
            };
            match answer {
                Ok(Ok(mut root)) => {
                    let below = std::mem::take(&mut root.relayed);
                    if below.len() + 1 != len {
                        let malformed = "a relay answered for other workers";
                        out.extend((start..start + len).map(|i| Err(failed(i, tonic::Code::Internal, malformed))));
                        continue;
                    }
                    out.push(Ok(root));
                    for (i, r) in (start + 1..).zip(below) {
                        out.push(match r.outcome {
                            Some(proto::relayed::Outcome::Result(t)) => Ok(t),
                            Some(proto::relayed::Outcome::Failure(f)) => {
                                Err(failed(i, tonic::Code::from(f.code), &f.message))
                            }
                            None => Err(failed(i, tonic::Code::Internal, "a relayed task without an outcome")),
                        });
                    }
                }
                Ok(Err(s)) => out.extend((start..start + len).map(|i| Err(failed(i, s.code(), s.message())))),
                Err(e) => {
                    let message = e.to_string();
                    out.extend((start..start + len).map(|i| Err(failed(i, tonic::Code::Unavailable, &message))));
                }
            }
        }
        out
    }
}

/// The error of a task that failed on worker `worker`: its own (`ABORTED`: run it here) or
/// the worker's.
fn task_failure(s: &tonic::Status, worker: String) -> CallError {
    if s.code() == tonic::Code::Aborted {
        CallError::Pipeline(s.message().to_owned())
    } else {
        CallError::Worker(Error::Task { worker, message: s.message().to_owned() })
    }
}

impl GrpcLink {
    /// Worker `w`'s client and address.
    fn client(&self, w: usize) -> (Client, String) {
        let workers = self.workers.read().unwrap_or_else(|e| e.into_inner());
        workers[w].clone()
    }

    /// Runs jobs (one per worker call) by the backend; results in job order.
    fn each<T: Send + 'static>(&self, jobs: Vec<Job<T>>) -> Vec<Result<T, Error>> {
        if jobs.len() == 1 {
            return jobs.into_iter().map(|j| self.rt.block_on(j)).collect();
        }
        match self.backend {
            Backend::Sync => {
                let handle = self.rt.handle();
                std::thread::scope(|s| {
                    let threads: Vec<_> = jobs.into_iter().map(|j| s.spawn(move || handle.block_on(j))).collect();
                    threads
                        .into_iter()
                        .map(|t| t.join().unwrap_or_else(|_| Err(Error::Panicked("a worker call panicked".into()))))
                        .collect()
                })
            }
            _ => self.rt.block_on(async {
                let handles: Vec<_> = jobs.into_iter().map(tokio::spawn).collect();
                let mut out = Vec::with_capacity(handles.len());
                for h in handles {
                    out.push(h.await.unwrap_or_else(|e| Err(Error::Panicked(format!("a worker call failed: {e}")))));
                }
                out
            }),
        }
    }
}

impl Link for GrpcLink {
    fn workers(&self) -> usize {
        self.workers.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn name(&self, w: usize) -> String {
        self.workers.read().unwrap_or_else(|e| e.into_inner()).get(w).map(|(_, a)| a.clone()).unwrap_or_default()
    }

    fn add(&self, addr: &str) -> Result<usize, Error> {
        let (client, _) =
            self.rt.block_on(connect_one(addr.to_owned(), self.attach.clone(), self.tls.clone(), self.heartbeat))?;
        let mut workers = self.workers.write().unwrap_or_else(|e| e.into_inner());
        workers.push((client, addr.to_owned()));
        Ok(workers.len() - 1)
    }

    fn store(&self, objects: Vec<(usize, u64, Value)>, max: usize) -> Result<Vec<u64>, Error> {
        let jobs: Vec<Job<u64>> = objects
            .into_iter()
            .map(|(w, id, value)| {
                let (mut c, addr) = self.client(w);
                // Encoded inside the job, so the workers' parts are encoded in parallel.
                Box::pin(async move {
                    let segments = codec::encode_segments(&value)?;
                    drop(value);
                    let n = segments.iter().map(|s| s.len() as u64).sum();
                    c.store(tokio_stream::iter(crate::chunks(id, segments, crate::chunk_size(n, max))))
                        .await
                        .map(|_| n)
                        .map_err(|s| Error::Call { worker: addr, call: Call::Store, message: s.message().to_owned() })
                }) as Job<u64>
            })
            .collect();
        self.each(jobs).into_iter().collect()
    }

    fn broadcast(&self, workers: &[usize], id: u64, value: Value, max: usize) -> Result<u64, Error> {
        if !self.tree.applies(workers.len()) {
            let objects = workers.iter().map(|&w| (w, id, value.clone())).collect();
            return Ok(self.store(objects, max)?.into_iter().sum());
        }
        // Encoded once; each root forwards the chunks to its subtree as they arrive.
        let segments = codec::encode_segments(&value)?;
        drop(value);
        let total: u64 = segments.iter().map(|s| s.len() as u64).sum();
        let names: Vec<String> = workers.iter().map(|&w| self.name(w)).collect();
        let roots = crate::tree::shape(0..workers.len(), self.tree.fanout);
        let jobs: Vec<Job<()>> = roots
            .iter()
            .map(|b| {
                let forward: Vec<proto::Subtree> =
                    b.children.iter().map(|c| crate::tree::subtree(c, &|i| names[i].clone())).collect();
                let mut chunks = crate::chunks(id, segments.clone(), crate::chunk_size(total, max));
                let (mut c, addr) = self.client(workers[b.index]);
                Box::pin(async move {
                    let first = chunks.next().map(|mut c| {
                        c.forward = forward;
                        c
                    });
                    c.store(tokio_stream::iter(first.into_iter().chain(chunks))).await.map(|_| ()).map_err(|s| {
                        Error::Call { worker: addr, call: Call::Broadcast, message: s.message().to_owned() }
                    })
                }) as Job<()>
            })
            .collect();
        self.each(jobs).into_iter().collect::<Result<Vec<()>, Error>>()?;
        Ok(total * workers.len() as u64)
    }

    fn compute(&self, tasks: Vec<(usize, Task)>) -> Vec<Result<TaskResult, CallError>> {
        if self.tree.applies(tasks.len()) {
            return self.compute_tree(tasks);
        }
        let jobs: Vec<Job<Result<TaskResult, CallError>>> = tasks
            .into_iter()
            .map(|(w, task)| {
                let (mut c, addr) = self.client(w);
                Box::pin(async move {
                    Ok(c.compute(task).await.map(tonic::Response::into_inner).map_err(|s| task_failure(&s, addr)))
                }) as Job<_>
            })
            .collect();
        self.each(jobs).into_iter().map(|r| r.map_err(CallError::Worker).and_then(|r| r)).collect()
    }

    fn create(&self, tasks: Vec<(usize, CreateTask)>) -> Vec<Result<Created, CallError>> {
        let jobs: Vec<Job<Result<Created, CallError>>> = tasks
            .into_iter()
            .map(|(w, task)| {
                let (mut c, addr) = self.client(w);
                Box::pin(async move {
                    Ok(c.create(task)
                        .await
                        .map(tonic::Response::into_inner)
                        .map_err(|s| failure(s, addr, Call::Create)))
                }) as Job<_>
            })
            .collect();
        self.each(jobs).into_iter().map(|r| r.map_err(CallError::Worker).and_then(|r| r)).collect()
    }

    fn scan(&self, requests: Vec<(usize, ScanRequest)>) -> Vec<Result<Scanned, CallError>> {
        let jobs: Vec<Job<Result<Scanned, CallError>>> = requests
            .into_iter()
            .map(|(w, request)| {
                let (mut c, addr) = self.client(w);
                Box::pin(async move {
                    Ok(c.scan(request).await.map(tonic::Response::into_inner).map_err(|s| failure(s, addr, Call::Scan)))
                }) as Job<_>
            })
            .collect();
        self.each(jobs).into_iter().map(|r| r.map_err(CallError::Worker).and_then(|r| r)).collect()
    }

    fn fetch(&self, objects: &[Wanted], max: usize) -> Result<Vec<Vec<Bytes>>, Error> {
        let jobs: Vec<Job<Vec<Bytes>>> = objects
            .iter()
            .map(|(w, id, rows)| {
                let (w, id, rows) = (*w, *id, *rows);
                let (mut c, addr) = self.client(w);
                Box::pin(async move {
                    let failed =
                        |m: &str| Error::Call { worker: addr.clone(), call: Call::Fetch, message: m.to_owned() };
                    let mut stream = c
                        .fetch(FetchRequest { object: id, max_chunk_bytes: max as u64, rows })
                        .await
                        .map_err(|s| failed(s.message()))?
                        .into_inner();
                    let mut segments: Vec<Bytes> = Vec::new();
                    let mut received = 0u64;
                    while let Some(chunk) = stream.message().await.map_err(|s| failed(s.message()))? {
                        if chunk.offset != received || chunk.object != id {
                            return Err(failed("chunks out of order"));
                        }
                        received += chunk.data.len() as u64;
                        segments.push(chunk.data);
                    }
                    Ok(segments)
                }) as Job<Vec<Bytes>>
            })
            .collect();
        self.each(jobs).into_iter().collect()
    }

    fn free(&self, objects: Vec<(usize, Vec<u64>)>, wait: bool) {
        let calls = objects.into_iter().filter(|(_, ids)| !ids.is_empty()).map(|(w, objects)| {
            let (mut c, _) = self.client(w);
            async move {
                let call = c.free(FreeRequest { objects, end_session: false });
                let _ = tokio::time::timeout(Duration::from_secs(2), call).await;
            }
        });
        if wait {
            let jobs: Vec<Job<()>> = calls
                .map(|f| {
                    Box::pin(async move {
                        f.await;
                        Ok(())
                    }) as Job<()>
                })
                .collect();
            let _ = self.each(jobs);
        } else {
            for f in calls {
                self.rt.spawn(f);
            }
        }
    }

    fn ping(&self, workers: &[usize], timeout: Duration) -> Vec<Option<u64>> {
        let jobs: Vec<Job<Option<u64>>> = workers
            .iter()
            .map(|&w| {
                let (mut c, _) = self.client(w);
                Box::pin(async move {
                    let answer = tokio::time::timeout(timeout, c.info(InfoRequest {})).await;
                    Ok(match answer {
                        Ok(Ok(info)) => Some(info.into_inner().instance),
                        _ => None,
                    })
                }) as Job<Option<u64>>
            })
            .collect();
        self.each(jobs).into_iter().map(|r| r.unwrap_or(None)).collect()
    }

    fn retire(&self, w: usize) {
        self.retired.lock().unwrap_or_else(|e| e.into_inner()).insert(w);
    }

    fn end_session(&self) {
        let all: Vec<usize> = (0..self.workers()).collect();
        let jobs: Vec<Job<()>> = all
            .into_iter()
            .map(|w| {
                let (mut c, _) = self.client(w);
                Box::pin(async move {
                    let call = c.free(FreeRequest { objects: Vec::new(), end_session: true });
                    let _ = tokio::time::timeout(Duration::from_secs(2), call).await;
                    Ok(())
                }) as Job<()>
            })
            .collect();
        let _ = self.each(jobs);
    }

    fn stop(&self) {
        let all: Vec<Client> =
            self.workers.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(c, _)| c.clone()).collect();
        let jobs: Vec<Job<()>> = all
            .into_iter()
            .map(|c| {
                let mut c = c;
                Box::pin(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(2), c.stop(StopRequest {})).await;
                    Ok(())
                }) as Job<()>
            })
            .collect();
        let _ = self.each(jobs);
    }

    fn info(&self) -> Result<Vec<WorkerInfo>, Error> {
        let jobs: Vec<Job<WorkerInfo>> = (0..self.workers())
            .map(|w| {
                let (mut c, addr) = self.client(w);
                Box::pin(async move {
                    c.info(InfoRequest {})
                        .await
                        .map(tonic::Response::into_inner)
                        .map_err(|s| Error::Info { worker: addr, message: s.message().to_owned() })
                }) as Job<_>
            })
            .collect();
        self.each(jobs).into_iter().collect()
    }
}

/// Keeps the session alive on every worker: an info call each `every` (the answers do not
/// matter; a worker that is gone is found by the calls that fail).
async fn renew(workers: Clients, retired: Retired, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let all: Vec<Client> = {
            let retired = retired.lock().unwrap_or_else(|e| e.into_inner());
            let workers = workers.read().unwrap_or_else(|e| e.into_inner());
            workers.iter().enumerate().filter(|(w, _)| !retired.contains(w)).map(|(_, (c, _))| c.clone()).collect()
        };
        for mut c in all {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(every, c.info(InfoRequest {})).await;
            });
        }
    }
}

/// A client of the worker at `addr`, and the worker's session timeout.
async fn connect_one(
    addr: String,
    attach: crate::auth::Attach,
    tls: Option<tonic::transport::ClientTlsConfig>,
    heartbeat: Duration,
) -> Result<(Client, Duration), Error> {
    let addr = addr.as_str();
    let unreachable = |e: &dyn std::fmt::Display| Error::Unreachable {
        addr: addr.to_owned(),
        seconds: CONNECT_TIMEOUT.as_secs(),
        cause: e.to_string(),
    };
    let endpoint = crate::endpoint(addr, tls).map_err(|e| match e {
        crate::BadEndpoint::Address(cause) => Error::NotAnAddress { addr: addr.to_owned(), cause },
        crate::BadEndpoint::Tls(cause) => unreachable(&cause),
    })?;
    let endpoint =
        endpoint.http2_keep_alive_interval(heartbeat).keep_alive_timeout(heartbeat).keep_alive_while_idle(true);
    let channel = tokio::time::timeout(CONNECT_TIMEOUT, endpoint.connect())
        .await
        .map_err(|e| unreachable(&e))?
        .map_err(|e| unreachable(&source_chain(&e)))?;
    let mut client = WorkerClient::with_interceptor(channel, attach)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let info = tokio::time::timeout(CONNECT_TIMEOUT, client.info(InfoRequest {}))
        .await
        .map_err(|e| unreachable(&e))?
        .map_err(|s| unreachable(&s.message()))?
        .into_inner();
    let timeout = match info.session_timeout_ms {
        0 => crate::worker::SESSION_TIMEOUT,
        ms => Duration::from_millis(ms),
    };
    Ok((client, timeout))
}

/// Whether the worker at `addr` serves calls with `token` (within `CONNECT_TIMEOUT`).
pub async fn probe(addr: &str, token: Option<&str>, tls: &crate::tls::Files) -> Result<(), Error> {
    let attach = crate::auth::Attach::new(token)?;
    connect_one(addr.to_owned(), attach, tls.client()?, CONNECT_TIMEOUT).await.map(|_| ())
}

/// Stops the gRPC workers at `addrs` (those a launcher started, when the run ended before it
/// connected to them).
pub fn stop_workers(addrs: Vec<String>, token: Option<&str>, tls: &crate::tls::Files) {
    if let Ok(link) = GrpcLink::connect(addrs, Backend::Async, token, tls, Duration::from_secs(5)) {
        link.stop();
    }
}
