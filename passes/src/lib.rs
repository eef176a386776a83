//! AST to IR lowering and the IR-to-IR passes, one per file.
//!
//! This crate is part of the workspace layout of ARCHITECTURE.md; it holds no code yet.
