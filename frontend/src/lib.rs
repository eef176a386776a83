//! The DaphneDSL frontend: source text to an abstract syntax tree with spans, and
//! diagnostics rendered with source snippets.
//!
//! Entry points: [`parse`] for a script, [`lex`] for its tokens, [`dump::ast`] and
//! [`dump::tokens`] for the readable forms `daphnec --emit ast|tokens` prints.

pub mod ast;
pub mod diagnostic;
pub mod dump;
pub mod parser;
pub mod span;
pub mod token;

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, unused_parens, unused_imports, dead_code)]
    grammar
);

pub use diagnostic::Diagnostic;
pub use parser::{Lexed, Parsed, lex, parse};
pub use span::{SourceFile, Span};
