//! The runtime's errors: why an operation gave no result. The executor adds where the failing
//! op came from and the calls it was in (`exec::RuntimeError`).

/// Why an operation gave no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The operands or the data do not allow a result: a shape that does not fit, a cell of a
    /// file that is not of its column's type, a file that is not there. The message is what
    /// the user reads.
    #[error("{0}")]
    Failed(String),
    /// The result would not fit in the memory budget.
    #[error("{0}")]
    OutOfMemory(String),
    /// A state the code never reaches unless it has a bug.
    #[error("internal error: {0} (this is a bug of daphne-rs: please report it)")]
    Internal(String),
}

impl From<String> for Error {
    fn from(message: String) -> Error {
        Error::Failed(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Error {
        Error::Failed(message.to_owned())
    }
}

/// The compiler's inference on runtime types: operands that do not fit are the script's
/// failure; a rule the op table contradicts is a bug.
impl From<daphne_ir::infer::InferError> for Error {
    fn from(e: daphne_ir::infer::InferError) -> Error {
        match e {
            daphne_ir::infer::InferError::Operands(message) => Error::Failed(message),
            daphne_ir::infer::InferError::Internal(bug) => Error::Internal(bug.0),
        }
    }
}

/// A kernel that could not start or was called with what its plan does not describe.
impl From<daphne_codegen::CodegenError> for Error {
    fn from(e: daphne_codegen::CodegenError) -> Error {
        match e {
            daphne_codegen::CodegenError::Internal(bug) => Error::Internal(bug.0),
            other => Error::Failed(other.to_string()),
        }
    }
}

/// Pipeline bytes a worker could not decode.
impl From<daphne_ir::DecodeError> for Error {
    fn from(e: daphne_ir::DecodeError) -> Error {
        Error::Failed(e.to_string())
    }
}

/// The message as users read it (for the places that pass messages on: the wire, the
/// executor's `RuntimeError`).
impl From<Error> for String {
    fn from(e: Error) -> String {
        e.to_string()
    }
}

pub type Result<T> = std::result::Result<T, Error>;
