//! AST-to-IR lowering and the IR-to-IR passes, one per file.
//!
//! Architecture Invariant: passes do no I/O; whatever they need from files (imported scripts,
//! matrix metadata) the driver reads and hands in.

pub mod dedup_pipeline_inputs;
pub mod eliminate_common_subexpressions;
pub mod eliminate_dead_code;
pub mod fold_constants;
pub mod fuse_pipelines;
pub mod fuse_sibling_pipelines;
pub mod infer;
pub mod inline_functions;
pub mod lower;
pub mod pass;
pub mod rewrite_transposed_products;
pub mod uses;

pub use lower::{DataFiles, FileMeta, LowerError, Program, ReadRequest, SPARSITY_THRESHOLD, ScriptArgs, Stage, lower};
pub use pass::{Options, Pass, PassManager};
