//! A worker's side of trees of workers (`tree`): the tasks it relays and their outcomes, the
//! fold parts it brings from its subtree, the stores it forwards. Its clients to the other
//! workers are made lazily with the run's token and TLS files, naming the caller's session.

use std::collections::HashMap;
use std::sync::Mutex;

use tonic::transport::{Channel, ClientTlsConfig};

use crate::Session;
use crate::error::Refusal;
use crate::proto::worker_client::WorkerClient;
use crate::proto::{self, Failure, FreeRequest, Relay, Relayed, TaskResult};

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
                    let c = crate::endpoint(address, self.tls.clone())
                        .map_err(|e| match e {
                            crate::BadEndpoint::Address(m) => format!("a relay to {address:?}: {m}"),
                            crate::BadEndpoint::Tls(m) => format!("a relay to {address}: {m}"),
                        })
                        .map_err(Refusal::invalid)?
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
            .max_decoding_message_size(crate::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(crate::MAX_MESSAGE_BYTES))
    }

    /// Sends relayed task `r` (with `pipeline` when it has none) and returns the outcomes of
    /// its subtree, depth first: its worker's result and those it relayed, or, when the call
    /// failed, the failure for every worker of the subtree.
    pub(crate) async fn relay(&self, r: Relay, s: Session, pipeline: bytes::Bytes) -> Vec<Relayed> {
        let mut names = Vec::new();
        crate::tree::addresses(&r, &mut names);
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
                || chunk.total_bytes > crate::MAX_MESSAGE_BYTES as u64
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
