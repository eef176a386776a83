//! Trees of workers. With many workers, a coordinator that calls every worker itself spends
//! O(N) per pipeline and sends a broadcast N times over its own link. Past `Tree::above`
//! workers, the gRPC link sends tasks and broadcasts to at most `fanout` workers, each of which
//! forwards them to at most `fanout` others, and so on: the coordinator's calls per pipeline
//! are `fanout`, a broadcast crosses each link once per child, and the time to reach every
//! worker grows with the tree's depth, `log_fanout N`. A relay folds its subtree's fold outputs
//! into the nodes of the fold tree that cover the subtree's groups (a subtree's workers hold
//! consecutive groups), so the coordinator adds `fanout` workers' nodes, not N's, with the same
//! bits.
//!
//! The shape (`shape`) is a depth-first numbering: a subtree is a run of consecutive workers,
//! its root first. Relaying is the worker's side (`Peers`): its clients to the other workers,
//! made lazily with the same token and TLS files, naming the caller's session.

use std::collections::HashMap;
use std::sync::Mutex;

use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::error::Refusal;
use crate::proto::worker_client::WorkerClient;
use crate::proto::{self, Failure, FreeRequest, Relay, Relayed, Task, TaskResult};
use crate::worker::Session;

/// When and how wide the coordinator's calls go through a tree of workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tree {
    /// A tree is used when more than this many workers take part (`--tree-above`).
    pub above: usize,
    /// The most workers one caller (the coordinator or a relay) calls (`--tree-fanout`).
    pub fanout: usize,
}

impl Default for Tree {
    fn default() -> Tree {
        Tree { above: 16, fanout: 4 }
    }
}

impl Tree {
    /// Whether `workers` workers are reached through a tree.
    pub fn applies(&self, workers: usize) -> bool {
        workers > self.above && self.fanout >= 1
    }
}

/// A worker of a tree (an index into the caller's list) and those it forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    pub index: usize,
    pub children: Vec<Branch>,
}

impl Branch {
    /// The indices of this subtree, depth first (a run: `index..index + len`).
    pub fn size(&self) -> usize {
        1 + self.children.iter().map(Branch::size).sum::<usize>()
    }

    /// The depth of this subtree (1 for a leaf).
    pub fn depth(&self) -> usize {
        1 + self.children.iter().map(Branch::depth).max().unwrap_or(0)
    }
}

/// The trees over `range` (consecutive indices) that a caller of at most `fanout` calls
/// reaches: the range cut into at most `fanout` runs of nearly equal length, each run's first
/// the root of a tree over the rest. Depth first, so each subtree is a run.
pub fn shape(range: std::ops::Range<usize>, fanout: usize) -> Vec<Branch> {
    let (n, k) = (range.len(), fanout.max(1));
    let runs = n.min(k);
    let mut out = Vec::with_capacity(runs);
    let mut at = range.start;
    for r in 0..runs {
        let len = n / runs + usize::from(r < n % runs);
        out.push(Branch { index: at, children: shape(at + 1..at + len, k) });
        at += len;
    }
    out
}

/// The `Subtree` message of a branch, naming workers by `address`.
pub fn subtree(b: &Branch, address: &impl Fn(usize) -> String) -> proto::Subtree {
    proto::Subtree { address: address(b.index), children: b.children.iter().map(|c| subtree(c, address)).collect() }
}

/// The task of a branch's root, relaying its children's: `tasks[i]` is worker `i`'s (taken).
/// Relayed tasks leave out the pipeline (their relay's is meant).
pub fn relay_task(b: &Branch, tasks: &mut [Option<Task>], address: &impl Fn(usize) -> String) -> Task {
    let mut task = tasks[b.index].take().unwrap_or_default();
    task.relay = b
        .children
        .iter()
        .map(|c| {
            let mut t = relay_task(c, tasks, address);
            t.pipeline = bytes::Bytes::new();
            Relay { address: address(c.index), task: Some(t) }
        })
        .collect();
    task
}

/// The addresses of a relayed task's workers, depth first (its own first).
fn addresses(r: &Relay, out: &mut Vec<String>) {
    out.push(r.address.clone());
    for c in r.task.iter().flat_map(|t| &t.relay) {
        addresses(c, out);
    }
}

/// A worker's clients to the other workers of a tree.
pub(crate) struct Peers {
    token: Option<String>,
    tls: Option<ClientTlsConfig>,
    /// Whether TLS was asked for without a CA to verify the others with.
    tls_unverifiable: bool,
    channels: Mutex<HashMap<String, Channel>>,
}

/// A client to another worker, naming a session.
pub(crate) type PeerClient =
    WorkerClient<tonic::service::interceptor::InterceptedService<Channel, crate::auth::Attach>>;

impl Peers {
    pub(crate) fn new(token: Option<String>, tls: &crate::tls::Files) -> Peers {
        let (tls, tls_unverifiable) = match tls.client() {
            Ok(t) => (t, false),
            Err(_) => (None, true),
        };
        Peers { token, tls, tls_unverifiable, channels: Mutex::new(HashMap::new()) }
    }

    /// A client to the worker at `address` naming session `s` (connected at its first call,
    /// then kept).
    pub(crate) fn client(&self, address: &str, s: Session) -> Result<PeerClient, Refusal> {
        if self.tls_unverifiable {
            return Err(Refusal::invalid(
                "this worker serves TLS without --tls-ca, so it cannot verify the workers it would relay to",
            ));
        }
        let channel = {
            let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
            match channels.get(address) {
                Some(c) => c.clone(),
                None => {
                    let scheme = if self.tls.is_some() { "https" } else { "http" };
                    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{address}"))
                        .map_err(|e| Refusal::invalid(format!("a relay to {address:?}: {e}")))?;
                    if let Some(tls) = &self.tls {
                        endpoint = endpoint
                            .tls_config(tls.clone())
                            .map_err(|e| Refusal::invalid(format!("a relay to {address}: {e}")))?;
                    }
                    let c = endpoint
                        .connect_timeout(crate::link::CONNECT_TIMEOUT)
                        .tcp_nodelay(true)
                        .initial_stream_window_size(Some(crate::WINDOW_BYTES))
                        .initial_connection_window_size(Some(crate::WINDOW_BYTES))
                        .max_frame_size(Some(crate::FRAME_BYTES))
                        .connect_lazy();
                    channels.insert(address.to_owned(), c.clone());
                    c
                }
            }
        };
        let attach = crate::auth::Attach::new(self.token.as_deref())
            .and_then(|a| a.with_session(&format!("{s:032x}")))
            .map_err(|e| Refusal::internal(e.to_string()))?;
        Ok(WorkerClient::with_interceptor(channel, attach)
            .max_decoding_message_size(crate::worker::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(crate::worker::MAX_MESSAGE_BYTES))
    }

    /// Sends relayed task `r` (with `pipeline` when it has none) and returns the outcomes of
    /// its subtree, depth first: its worker's result and those it relayed, or, when the call
    /// failed, the failure for every worker of the subtree.
    pub(crate) async fn relay(&self, r: Relay, s: Session, pipeline: bytes::Bytes) -> Vec<Relayed> {
        let mut names = Vec::new();
        addresses(&r, &mut names);
        let failed = |code: i32, message: String| -> Vec<Relayed> {
            names
                .iter()
                .map(|a| Relayed {
                    address: a.clone(),
                    outcome: Some(proto::relayed::Outcome::Failure(Failure {
                        code,
                        message: if *a == r.address {
                            message.clone()
                        } else {
                            format!("relayed through {}: {message}", r.address)
                        },
                    })),
                })
                .collect()
        };
        let Some(mut task) = r.task.clone() else {
            return failed(tonic::Code::InvalidArgument as i32, "a relay without a task".into());
        };
        if task.pipeline.is_empty() {
            task.pipeline = pipeline;
        }
        let mut client = match self.client(&r.address, s) {
            Ok(c) => c,
            Err(e) => return failed(e.kind.code(), e.message),
        };
        match client.compute(task).await {
            Ok(answer) => {
                let mut result = answer.into_inner();
                let below = std::mem::take(&mut result.relayed);
                if below.len() + 1 != names.len() {
                    self.forget(s, std::iter::once((r.address.clone(), result)).chain(results(below))).await;
                    return failed(tonic::Code::Internal as i32, "a relay answered for other workers".into());
                }
                let mut out = Vec::with_capacity(names.len());
                out.push(Relayed {
                    address: r.address.clone(),
                    outcome: Some(proto::relayed::Outcome::Result(result)),
                });
                out.extend(below);
                out
            }
            Err(status) => failed(status.code() as i32, status.message().to_owned()),
        }
    }

    /// Brings the fold parts the relayed tasks kept on their workers (too large to answer
    /// inline) here, as inline parts, and frees them there: the relay folds them into its own
    /// (the coordinator would otherwise fetch every worker's, over its one link).
    pub(crate) async fn bring_kept(&self, s: Session, relayed: &mut [Relayed]) -> Result<(), Refusal> {
        for r in relayed.iter_mut() {
            let Some(proto::relayed::Outcome::Result(t)) = &mut r.outcome else { continue };
            let mut brought = Vec::new();
            for o in t.outputs.iter_mut().filter(|o| !o.nodes.is_empty()) {
                for p in &mut o.parts {
                    if let Some(proto::output::Result::Kept(k)) = &p.result {
                        let object = k.object;
                        let bytes = self.fetch(&r.address, s, object).await?;
                        brought.push(object);
                        p.result = Some(proto::output::Result::Inline(bytes));
                    }
                }
            }
            if !brought.is_empty() {
                let mut c = self.client(&r.address, s)?;
                tokio::spawn(async move {
                    let call = c.free(FreeRequest { objects: brought, end_session: false });
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), call).await;
                });
            }
        }
        Ok(())
    }

    /// Object `id` of the worker at `address`, encoded.
    async fn fetch(&self, address: &str, s: Session, id: u64) -> Result<bytes::Bytes, Refusal> {
        let failed = |m: &str| Refusal::unavailable(format!("fetching a fold part from {address} (relayed): {m}"));
        let mut c = self.client(address, s)?;
        let request = proto::FetchRequest { object: id, max_chunk_bytes: 4 << 20, rows: None };
        let mut stream = c.fetch(request).await.map_err(|e| failed(e.message()))?.into_inner();
        let mut out = Vec::new();
        while let Some(chunk) = stream.message().await.map_err(|e| failed(e.message()))? {
            if chunk.object != id
                || chunk.offset != out.len() as u64
                || chunk.total_bytes > crate::worker::MAX_MESSAGE_BYTES as u64
            {
                return Err(failed("chunks out of order"));
            }
            out.extend_from_slice(&chunk.data);
        }
        Ok(out.into())
    }

    /// Frees the objects the given results kept on their workers (a relay whose own task or
    /// whose subtree failed, so that nobody will use them).
    pub(crate) async fn forget(&self, s: Session, results: impl Iterator<Item = (String, TaskResult)>) {
        let mut calls = Vec::new();
        for (address, result) in results {
            let objects: Vec<u64> = result
                .outputs
                .iter()
                .flat_map(|o| &o.parts)
                .filter_map(|p| match &p.result {
                    Some(proto::output::Result::Kept(k)) => Some(k.object),
                    _ => None,
                })
                .collect();
            if objects.is_empty() {
                continue;
            }
            if let Ok(mut c) = self.client(&address, s) {
                calls.push(async move {
                    let call = c.free(FreeRequest { objects, end_session: false });
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), call).await;
                });
            }
        }
        futures_join(calls).await;
    }
}

/// A store going on to one subtree, chunk by chunk.
pub(crate) struct Forward {
    address: String,
    /// The subtree's children, sent with the first chunk.
    children: Option<Vec<proto::Subtree>>,
    chunks: Option<tokio::sync::mpsc::Sender<proto::Chunk>>,
    call: tokio::task::JoinHandle<Result<(), tonic::Status>>,
}

impl Forward {
    /// Starts the store on subtree `t`'s root.
    pub(crate) fn start(peers: &Peers, s: Session, t: proto::Subtree) -> Result<Forward, Refusal> {
        let mut client = peers.client(&t.address, s)?;
        // A few chunks in flight: the relay reads on at the pace its children take them.
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let call =
            tokio::spawn(
                async move { client.store(tokio_stream::wrappers::ReceiverStream::new(rx)).await.map(|_| ()) },
            );
        Ok(Forward { address: t.address, children: Some(t.children), chunks: Some(tx), call })
    }

    /// Sends on a chunk (a subtree that failed is told at `finish`).
    pub(crate) async fn send(&mut self, chunk: &proto::Chunk) {
        let mut chunk = chunk.clone();
        if let Some(children) = self.children.take() {
            chunk.forward = children;
        }
        if let Some(tx) = &self.chunks
            && tx.send(chunk).await.is_err()
        {
            self.chunks = None;
        }
    }

    /// Ends the store; whether the subtree stored the object.
    pub(crate) async fn finish(mut self) -> Result<(), Refusal> {
        self.chunks = None;
        match self.call.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(s)) => Err(Refusal::unavailable(format!("storing on {} (relayed): {}", self.address, s.message()))),
            Err(_) => Err(Refusal::internal(format!("storing on {} (relayed) stopped", self.address))),
        }
    }
}

/// The results among relayed outcomes, with their workers' addresses.
pub(crate) fn results(relayed: Vec<Relayed>) -> impl Iterator<Item = (String, TaskResult)> {
    relayed.into_iter().filter_map(|r| match r.outcome {
        Some(proto::relayed::Outcome::Result(t)) => Some((r.address, t)),
        _ => None,
    })
}

/// Awaits futures together.
async fn futures_join<F: std::future::Future<Output = ()> + Send + 'static>(calls: Vec<F>) {
    let handles: Vec<_> = calls.into_iter().map(tokio::spawn).collect();
    for h in handles {
        let _ = h.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(b: &Branch, out: &mut Vec<usize>) {
        out.push(b.index);
        for c in &b.children {
            walk(c, out);
        }
    }

    #[test]
    fn a_tree_numbers_its_workers_depth_first_and_is_log_deep() {
        for fanout in 1..6 {
            for n in 0..300 {
                let trees = shape(0..n, fanout);
                assert!(trees.len() <= fanout);
                let mut order = Vec::new();
                for t in &trees {
                    let start = order.len();
                    walk(t, &mut order);
                    assert_eq!(t.size(), order.len() - start);
                    assert_eq!(order[start], t.index, "a subtree is a run, its root first");
                }
                assert_eq!(order, (0..n).collect::<Vec<_>>(), "{n} workers, fanout {fanout}");
                if fanout >= 2 && n > 0 {
                    // Each level holds `fanout` times as many: depth about log_fanout(n).
                    let depth = trees.iter().map(Branch::depth).max().unwrap_or(0);
                    let bound = (n as f64).log(fanout as f64).ceil() as usize + 1;
                    assert!(depth <= bound, "{n} workers, fanout {fanout}: depth {depth} > {bound}");
                }
            }
        }
        assert_eq!(shape(0..1024, 4).iter().map(Branch::depth).max(), Some(5));
    }
}
