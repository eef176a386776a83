//! Matrices, frames and kernels; the local vectorized engine; the distributed coordinator and worker.
//!
//! This crate is part of the workspace layout of ARCHITECTURE.md; it holds no code yet.
