//! The dataflow IR of DaphneDSL.
//!
//! A [`Module`] holds functions; a [`Function`] holds its values and ops in arenas addressed
//! by typed handles, and a body [`Region`]. Control flow is structured (`if`, `while`, `for`
//! with regions, as MLIR's `scf`), so every value is defined once (SSA) and loop-carried
//! variables are explicit. Types ([`Type`]) carry value types and shapes that may be unknown.
//!
//! Entry points: [`print::module`] and [`parse::module`] for the canonical text form,
//! [`verify::module`] before trusting a module, [`Module::to_bytes`] / [`Module::from_bytes`]
//! to ship one. Architecture Invariant: this crate pulls in no Cranelift, tokio or tonic.

pub mod arena;
pub mod eval;
pub mod function;
pub mod infer;
pub mod op;
pub mod parse;
pub mod pipeline;
pub mod print;
pub mod types;
pub mod verify;

/// "1 matrix", "2 matrices": a count and the noun in the number it takes, for messages.
pub fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

/// An invariant of the compiler does not hold: never a script's fault, always a bug of ours.
/// Every crate's internal-error variant wraps this, so the wording is the same everywhere.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("internal compiler error: {0} (this is a bug of daphne-rs: please report it)")]
pub struct Bug(pub String);

pub use function::{
    DecodeError, FuncId, Function, InlineSite, Loc, Module, Op, OpId, Region, Value, ValueData, ValueDef,
};
pub use op::{
    Axis, Builtin, Combine, Effect, Fails, FunctionDoc, Fuse, Literal, OpKind, PipelineSpec, Reduce, Rule, Split,
};
pub use types::{ColumnType, FrameType, MatrixType, Repr, Type, ValueType};
