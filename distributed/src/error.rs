//! The crate's errors: `Error` for everything a coordinator, a launcher or a worker process
//! reports to its user, `Refusal` for what a worker answers a request it does not carry out.
//! `tonic::Status` appears only at the gRPC service's edge (`worker::Service`, the join
//! service): the MPI backend carries a `Refusal` as its `Failure` reply. The texts are the
//! ones users have always seen.

use std::net::SocketAddr;

pub use crate::codec::CodecError;

/// Why a worker did not carry out a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The request is malformed or inconsistent (bad bytes, bad IR, bad chunk order).
    InvalidArgument,
    /// It names an object the worker does not hold.
    NotFound,
    /// It does not fit the worker's memory budget.
    ResourceExhausted,
    /// The pipeline itself failed (a domain error, a shape mismatch): the coordinator runs it
    /// locally, where the error is reported exactly as in a local run.
    Aborted,
    /// The worker broke (a panic, a result it cannot encode).
    Internal,
    /// The worker is going away (its compute thread stopped).
    Unavailable,
}

impl Refused {
    /// The kind's number on the wire: gRPC's status code (the MPI failure reply uses the same).
    pub fn code(self) -> i32 {
        match self {
            Refused::InvalidArgument => 3,
            Refused::NotFound => 5,
            Refused::ResourceExhausted => 8,
            Refused::Aborted => 10,
            Refused::Internal => 13,
            Refused::Unavailable => 14,
        }
    }
}

/// A worker's answer to a request it does not carry out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub kind: Refused,
    pub message: String,
}

impl Refusal {
    pub fn invalid(message: impl Into<String>) -> Refusal {
        Refusal { kind: Refused::InvalidArgument, message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> Refusal {
        Refusal { kind: Refused::NotFound, message: message.into() }
    }

    pub fn exhausted(message: impl Into<String>) -> Refusal {
        Refusal { kind: Refused::ResourceExhausted, message: message.into() }
    }

    pub fn aborted(message: impl Into<String>) -> Refusal {
        Refusal { kind: Refused::Aborted, message: message.into() }
    }

    pub fn internal(message: impl Into<String>) -> Refusal {
        Refusal { kind: Refused::Internal, message: message.into() }
    }

    pub fn unavailable(message: impl Into<String>) -> Refusal {
        Refusal { kind: Refused::Unavailable, message: message.into() }
    }
}

impl From<CodecError> for Refusal {
    /// A value that does not decode is a malformed request.
    fn from(e: CodecError) -> Refusal {
        Refusal::invalid(e.to_string())
    }
}

/// Which call to a worker failed (as messages name it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Store,
    Broadcast,
    Fetch,
    Create,
    Scan,
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Call::Store => "storing an input",
            Call::Broadcast => "a broadcast",
            Call::Fetch => "fetching a result",
            Call::Create => "making its rows of a matrix",
            Call::Scan => "scanning its piece of a file",
        })
    }
}

/// An error of the distributed runtime, as its user reads it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A value that cannot travel, or bytes that are not a value.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A call to a worker failed.
    #[error("distributed worker {worker}: {call} failed: {message}")]
    Call { worker: String, call: Call, message: String },
    /// A worker refused a task, or its call broke.
    #[error("distributed worker {worker}: {message}")]
    Task { worker: String, message: String },
    /// A worker's info call failed.
    #[error("worker {worker}: {message}")]
    Info { worker: String, message: String },
    /// A worker answered outside the protocol.
    #[error("{worker}: {what}")]
    Protocol { worker: String, what: &'static str },
    #[error("cannot reach distributed worker {addr} (within {seconds} s): {cause}")]
    Unreachable { addr: String, seconds: u64, cause: String },
    #[error("`{addr}` is not a worker address (host:port): {cause}")]
    NotAnAddress { addr: String, cause: String },
    /// No worker answered, or the last one died.
    #[error("no distributed workers")]
    NoWorkers,
    #[error("no distributed worker is left")]
    NoneLeft,
    #[error("no distributed worker is left ({0})")]
    NoneLeftAfter(Box<Error>),
    /// Several workers could not be reached (each one's error).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Unreached(Vec<Error>),
    /// The transport takes no workers during a run.
    #[error("this transport takes no new workers ({0} asked to join)")]
    NoJoins(String),
    /// A worker that asked to join cannot be used.
    #[error("cannot join the coordinator at {coordinator}: {cause}")]
    Join { coordinator: String, cause: String },
    /// A thread or a runtime that could not be started (`what` names it).
    #[error("cannot start {what}: {cause}")]
    Start { what: &'static str, cause: String },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {cause}")]
    Listen { addr: SocketAddr, cause: String },
    #[error("cannot accept joins on {addr}: {cause}")]
    AcceptJoins { addr: SocketAddr, cause: String },
    #[error("the worker on {bound} failed: {cause}")]
    Served { bound: SocketAddr, cause: String },
    /// The user's configuration (token and TLS files, a launcher's environment, a command).
    #[error("{0}")]
    Config(String),
    /// An error of the runtime (a remote value's fetch, a matrix's rows, a fold).
    #[error(transparent)]
    Runtime(#[from] daphne_runtime::error::Error),
    /// A thread or task of the coordinator panicked, or was cancelled (what it said).
    #[error("{0}")]
    Panicked(String),
    /// A bug: the coordinator's own state or a worker's answer contradicts itself.
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// A bug of the distributed runtime.
    pub fn internal(what: impl Into<String>) -> Error {
        Error::Internal(what.into())
    }
}

/// What the executor reports for a distributed pipeline that failed: the runtime's own error
/// as it was, anything else as the text users read.
impl From<Error> for daphne_runtime::error::Error {
    fn from(e: Error) -> daphne_runtime::error::Error {
        match e {
            Error::Runtime(e) => e,
            other => daphne_runtime::error::Error::Failed(other.to_string()),
        }
    }
}
