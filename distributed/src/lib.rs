//! The distributed runtime: `daphne --distributed` runs a script's pipelines on workers.
//!
//! - `worker.rs`: the gRPC service a `daphne-worker` process offers (store, compute, fetch,
//!   free, info).
//! - `coordinator/`: the executor's side (`exec::Distribute`): splits a pipeline's rows over
//!   the workers so that every worker's part is a run of whole subtrees of the canonical fold
//!   (`daphne_ir::pipeline::partition`), ships inputs once (cached by identity), keeps row
//!   outputs on the workers as remote values, folds the workers' results in the canonical order.
//! - `launch.rs`: where workers come from: `DISTRIBUTED_WORKERS`, or worker processes started
//!   on loopback for the run.
//! - `link.rs`: the coordinator's transport (`Link`): gRPC, or MPI ranks (`mpi.rs`, feature
//!   `mpi`).
//! - `codec.rs`: the wire form of values; `wire.rs`: the protocol's typed fields.
//! - `error.rs`: the crate's errors (`Error`; a worker's `Refusal`).
//!
//! Architecture Invariant: a distributed run prints the same bytes as a local one: workers cut
//! their rows by the global block size and return one result per aligned group of blocks, and
//! the coordinator folds them along the same tree as a local run.

pub mod auth;
pub mod codec;
pub mod conn;
pub mod coordinator;
pub mod error;
pub mod launch;
pub mod link;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod relay;
pub mod tls;
pub mod tree;
pub mod wire;
pub mod worker;

pub use error::{Error, Refusal};

/// The generated protocol (`proto/worker.proto`).
#[allow(clippy::all, clippy::pedantic, missing_docs)]
/// A coordinator's session: every call names it (the `daphne-session` header, a random
/// 128-bit number), and objects are held per session. A call without one is in session 0.
pub type Session = u128;

/// The largest gRPC message a worker accepts or sends (chunks are bounded by the coordinator;
/// a task with its inline inputs is small).
pub const MAX_MESSAGE_BYTES: usize = 80 << 20;

/// How long connecting to a worker may take before the run fails naming it.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// An error with its causes (tonic's transport errors say "transport error" alone).
pub(crate) fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// Why a worker's address makes no endpoint.
pub(crate) enum BadEndpoint {
    /// Not an address.
    Address(String),
    /// The TLS configuration does not apply.
    Tls(String),
}

/// The endpoint of the worker at `addr`, with the transport settings every client of a worker
/// uses (the coordinator's and a relay's): TLS when given, `CONNECT_TIMEOUT`, no Nagle, the
/// large HTTP/2 windows and frames.
pub(crate) fn endpoint(
    addr: &str,
    tls: Option<tonic::transport::ClientTlsConfig>,
) -> Result<tonic::transport::Endpoint, BadEndpoint> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = tonic::transport::Endpoint::from_shared(format!("{scheme}://{addr}"))
        .map_err(|e| BadEndpoint::Address(e.to_string()))?;
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).map_err(|e| BadEndpoint::Tls(source_chain(&e)))?;
    }
    Ok(endpoint
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .initial_stream_window_size(Some(WINDOW_BYTES))
        .initial_connection_window_size(Some(WINDOW_BYTES))
        .max_frame_size(Some(FRAME_BYTES)))
}

pub mod proto {
    tonic::include_proto!("daphne.worker");
}

/// HTTP/2 flow-control windows of both ends: the default 64 KiB stalls a large transfer
/// every 64 KiB for a round trip (measured: 0.45 GB/s storing 100 MB over loopback).
pub(crate) const WINDOW_BYTES: u32 = 32 << 20;

/// The largest HTTP/2 frame either end sends (the default is 16 KiB).
pub(crate) const FRAME_BYTES: u32 = 1 << 20;

/// The most chunks one object travels in: a store or fetch of more is refused (a fetch of 4 MB
/// in 1-byte chunks would be 4 million messages).
pub const MAX_CHUNKS: u64 = 1 << 20;

/// The chunk size for sending an object of `total` bytes with chunks of at most `max` bytes:
/// `max`, raised where that would make more than half `MAX_CHUNKS` chunks (a worker refuses
/// objects in more; a chunk never spans two segments, so half leaves room for their ends).
pub(crate) fn chunk_size(total: u64, max: usize) -> usize {
    let least = usize::try_from(total.div_ceil(MAX_CHUNKS / 2)).unwrap_or(usize::MAX);
    max.max(least).max(1)
}

/// An encoded object (its segments, in order) cut into chunks of at most `max` bytes (at
/// least one chunk), made as they are taken: a fetch holds one chunk at a time. Chunks share
/// the segments' bytes.
pub(crate) fn chunks(object: u64, segments: Vec<bytes::Bytes>, max: usize) -> Chunks {
    let total = segments.iter().map(|s| s.len() as u64).sum();
    Chunks { object, total, offset: 0, max: max.max(1), segments: segments.into_iter(), current: None, sent: false }
}

/// The chunks of [`chunks`].
pub(crate) struct Chunks {
    object: u64,
    total: u64,
    offset: u64,
    max: usize,
    segments: std::vec::IntoIter<bytes::Bytes>,
    /// What is left of the segment being cut.
    current: Option<bytes::Bytes>,
    /// Whether a chunk went out (an empty object is one empty chunk).
    sent: bool,
}

impl Chunks {
    /// How many chunks are left (all of them before the first is taken).
    pub(crate) fn remaining(&self) -> u64 {
        let max = self.max as u64;
        let left = |s: &bytes::Bytes| (s.len() as u64).div_ceil(max);
        (self.current.iter().map(left).sum::<u64>() + self.segments.as_slice().iter().map(left).sum::<u64>()).max(1)
    }
}

impl Iterator for Chunks {
    type Item = proto::Chunk;

    fn next(&mut self) -> Option<proto::Chunk> {
        loop {
            match &mut self.current {
                Some(seg) if !seg.is_empty() => {
                    let data = seg.split_to(self.max.min(seg.len()));
                    let offset = self.offset;
                    self.offset += data.len() as u64;
                    self.sent = true;
                    return Some(proto::Chunk {
                        object: self.object,
                        total_bytes: self.total,
                        offset,
                        data,
                        forward: Vec::new(),
                    });
                }
                _ => match self.segments.next() {
                    Some(seg) => self.current = Some(seg),
                    None if !self.sent => {
                        self.sent = true;
                        return Some(proto::Chunk {
                            object: self.object,
                            total_bytes: 0,
                            offset: 0,
                            data: bytes::Bytes::new(),
                            forward: Vec::new(),
                        });
                    }
                    None => return None,
                },
            }
        }
    }
}
