//! The runtime: values (scalars, dense matrices of every value type, copy-on-write), kernels
//! for the built-in operations with DAPHNE's semantics, C++-exact number formatting, DAPHNE's
//! random streams, and the reference executor that interprets IR.
//!
//! Entry point: [`exec::run`]. Architecture Invariant: the runtime never sees the AST.

pub mod console;
pub mod csr;
pub mod elem;
pub mod engine;
pub mod error;
pub mod exec;
pub mod fold;
pub mod format;
pub mod frame;
pub mod io;
pub mod kernels;
pub mod matrix;
pub mod memory;
pub mod pages;
pub mod pipeline;
pub mod random;
pub mod scalar;
pub mod schedule;
pub mod source;
pub mod spare;
pub mod value;
