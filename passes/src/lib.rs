//! AST-to-IR lowering and the IR-to-IR passes, one per file.
//!
//! Architecture Invariant: passes do no I/O; whatever they need from files (imported scripts,
//! matrix metadata) the driver reads and hands in.

pub mod infer;
pub mod lower;

pub use lower::{FileMeta, LowerError, Program, SPARSITY_THRESHOLD, ScriptArgs, Stage, lower};
