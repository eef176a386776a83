//! Cranelift JIT compilation of fused pipelines into per-partition kernels.
//!
//! This crate is part of the workspace layout of ARCHITECTURE.md; it holds no code yet.
