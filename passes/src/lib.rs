//! The IR-to-IR passes, one per file, and the pass manager that runs them.
//!
//! Architecture Invariant: passes do no I/O and never see the AST (lowering is `daphne-lower`).

pub mod dedup_pipeline_inputs;
pub mod eliminate_common_subexpressions;
pub mod eliminate_dead_code;
pub mod expand_column_moments;
pub mod fold_constants;
pub mod fuse_pipelines;
pub mod fuse_sibling_pipelines;
pub mod inline_functions;
pub mod pass;
pub mod refine_shapes;
pub mod rewrite_transposed_products;
pub mod uses;

pub use pass::{Options, Pass, PassManager};
