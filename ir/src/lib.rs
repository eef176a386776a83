//! The dataflow IR of DaphneDSL: arena with typed handles, types and shapes, structured control flow, the Pipeline op, a text form and a verifier.
//!
//! This crate is part of the workspace layout of ARCHITECTURE.md; it holds no code yet.
