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

/// The message as users read it (for the places that pass messages on: the wire, the
/// executor's `RuntimeError`).
impl From<Error> for String {
    fn from(e: Error) -> String {
        e.to_string()
    }
}

pub type Result<T> = std::result::Result<T, Error>;
