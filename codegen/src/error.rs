//! The crate's errors.

/// Why the JIT could not start or run a kernel. (A pipeline it does not cover is not an
/// error: `KernelCompiler::compile` says `None` and the engine interprets it.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodegenError {
    /// Cranelift has no backend for this machine's instruction set.
    #[error("no Cranelift backend for this machine: {0}")]
    NoBackend(String),
    /// Cranelift refused a setting or a declaration.
    #[error("{0}")]
    Cranelift(String),
    /// A kernel was called with inputs or outputs its plan does not describe: a bug of the
    /// caller.
    #[error(transparent)]
    Internal(#[from] daphne_ir::Bug),
}

pub(crate) fn bug(what: impl Into<String>) -> CodegenError {
    CodegenError::Internal(daphne_ir::Bug(what.into()))
}
