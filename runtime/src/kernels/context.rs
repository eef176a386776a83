//! What kernels run with: the threads they may use and the buffers one product leaves for the
//! next. An executor (and a worker process) holds one; nothing of it is process-wide, so two
//! executors in one process (tests, a worker serving two coordinators) never share it by
//! accident.

use std::sync::Arc;

use super::gemm::Buffers;

#[derive(Debug, Clone)]
pub struct Context {
    /// Threads a kernel may use (the products outside pipelines; at least one).
    pub threads: usize,
    /// Shared by every clone of this context.
    pub buffers: Arc<Buffers>,
}

impl Context {
    pub fn new(threads: usize) -> Context {
        Context { threads: threads.max(1), buffers: Arc::default() }
    }

    /// The same buffers on `threads` threads (one for a pipeline's block, which runs on a
    /// thread of the engine's already).
    pub fn on(&self, threads: usize) -> Context {
        Context { threads: threads.max(1), buffers: Arc::clone(&self.buffers) }
    }
}
