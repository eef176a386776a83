//! The entry points of the frontend: lexing and parsing a script into an AST plus diagnostics.
//!
//! Parsing never panics and never stops at the first problem: lexical errors are recorded and
//! the offending text skipped; syntax errors are recovered at statement level (the grammar's
//! `!` rule), and follow-on errors caused by an earlier one are suppressed.

use lalrpop_util::{ErrorRecovery, ParseError};
use logos::Logos;

use crate::ast::{IntLit, IntSuffix, Script, StmtKind};
use crate::diagnostic::Diagnostic;
use crate::grammar::ScriptParser;
use crate::span::Span;
use crate::token::{LexError, Tok};

/// A token with its byte span.
pub type Spanned = (usize, Tok, usize);

/// An error found by a grammar action rather than by the LR automaton.
#[derive(Debug, Clone, PartialEq)]
pub enum SyntaxError {
    /// The left side of `=` is not `name` or `name[rows, cols]`.
    InvalidAssignTarget(Span),
}

/// The result of lexing: the tokens and the problems found on the way.
#[derive(Debug, Clone)]
pub struct Lexed {
    pub tokens: Vec<Spanned>,
    pub diagnostics: Vec<Diagnostic>,
    /// Where an unterminated string or comment swallowed the rest of the input, if anywhere.
    unterminated_at: Option<usize>,
}

/// The result of parsing: an AST, complete where the script was well-formed, with
/// `Error` nodes where it was not, and one diagnostic per independent problem.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub script: Script,
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    pub fn is_ok(&self) -> bool {
        self.diagnostics.is_empty()
    }
}

/// Splits `src` into tokens. Malformed literals still yield a token (so that parsing can go
/// on) besides their diagnostic; characters that start no token are skipped.
pub fn lex(src: &str) -> Lexed {
    let mut tokens = Vec::new();
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    let mut unterminated_at = None;
    let mut last_invalid: Option<usize> = None; // index into diagnostics of a run of bad chars
    let mut lexer = Tok::lexer(src);
    while let Some(result) = lexer.next() {
        let span = lexer.span();
        let (start, end) = (span.start, span.end);
        match result {
            Ok(tok) => {
                tokens.push((start, tok, end));
                last_invalid = None;
            }
            Err(LexError::InvalidChar) => {
                // Merge adjacent bad characters into one diagnostic.
                if let Some(i) = last_invalid
                    && diagnostics[i].span.end == start
                {
                    diagnostics[i].span.end = end;
                    continue;
                }
                last_invalid = Some(diagnostics.len());
                let text = &src[start..end];
                diagnostics.push(
                    Diagnostic::error(format!("unexpected character '{}'", text.escape_debug()), Span::new(start, end))
                        .with_label("not valid in DaphneDSL"),
                );
            }
            Err(e @ (LexError::UnterminatedString | LexError::UnterminatedComment)) => {
                last_invalid = None;
                unterminated_at = Some(start);
                let what = if e == LexError::UnterminatedString { "string" } else { "comment" };
                diagnostics.push(
                    Diagnostic::error(e.message(), Span::new(start, start + 1))
                        .with_label(format!("this {what} is never closed")),
                );
            }
            Err(e @ LexError::InvalidEscape(offset)) => {
                last_invalid = None;
                let at = start + offset;
                let esc_end = src[at + 1..].chars().next().map_or(at + 1, |c| at + 1 + c.len_utf8());
                diagnostics.push(
                    Diagnostic::error(e.message(), Span::new(at, esc_end))
                        .with_label("unknown escape")
                        .with_note("valid escapes are \\b \\f \\n \\r \\t \\\" \\\\"),
                );
                let body = &src[start + 1..end];
                let body = body.strip_suffix('"').unwrap_or(body);
                tokens.push((start, Tok::Str(body.to_owned()), end));
            }
            Err(e @ LexError::MalformedNumber(reason)) => {
                last_invalid = None;
                diagnostics.push(Diagnostic::error(e.message(), Span::new(start, end)).with_label(reason));
                tokens.push((start, Tok::Int(IntLit { value: 0, suffix: IntSuffix::None }), end));
            }
            Err(e @ LexError::IntOutOfRange) => {
                last_invalid = None;
                diagnostics.push(
                    Diagnostic::error(e.message(), Span::new(start, end))
                        .with_label("does not fit")
                        .with_note("integers without suffix are si64; `u`, `ull` and `z` make them unsigned 64-bit"),
                );
                tokens.push((start, Tok::Int(IntLit { value: 0, suffix: IntSuffix::None }), end));
            }
        }
    }
    Lexed { tokens, diagnostics, unterminated_at }
}

/// The deepest nesting of statements and expressions a script may have. Every later stage
/// walks the tree recursively; this bound keeps those walks far from the stack's end.
pub const MAX_DEPTH: usize = 500;

/// Stack for the parsing thread: large enough to build and drop a tree of any depth the
/// input can describe before the depth check rejects it (the memory is only reserved).
const PARSE_STACK_BYTES: usize = 1 << 30;

/// Parses a whole script. Never panics: on any input it returns an AST and diagnostics.
pub fn parse(src: &str) -> Parsed {
    // A pathological input (say, 100 000 nested parentheses) builds a tree whose recursive
    // drop would overflow an ordinary stack, so the tree is built, checked and, if too deep,
    // dropped on a thread with a big stack.
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("daphne-parse".into())
            .stack_size(PARSE_STACK_BYTES)
            .spawn_scoped(scope, || parse_bounded(src))
            .ok()
            .and_then(|h| h.join().ok())
    })
    .unwrap_or_else(|| parse_bounded(src))
}

fn parse_bounded(src: &str) -> Parsed {
    let mut parsed = parse_unbounded(src);
    if parsed.script.depth() > MAX_DEPTH {
        let span = parsed.script.span;
        parsed.script.stmts.clear();
        parsed.diagnostics.push(
            Diagnostic::error(
                format!("the script nests expressions or statements more than {MAX_DEPTH} levels deep"),
                Span::new(span.start, span.start),
            )
            .with_label("nesting too deep")
            .with_note("split long expressions into several statements"),
        );
    }
    parsed
}

fn parse_unbounded(src: &str) -> Parsed {
    let lexed = lex(src);
    let mut recovered = Vec::new();
    let input = lexed.tokens.iter().cloned().map(Ok::<Spanned, SyntaxError>);
    let result = ScriptParser::new().parse(&mut recovered, input);
    let mut errors: Vec<ParseError<usize, Tok, SyntaxError>> = recovered.into_iter().map(|r| r.error).collect();
    let script = match result {
        Ok(script) => script,
        Err(e) => {
            errors.push(e);
            Script { stmts: Vec::new(), span: Span::new(0, src.len()) }
        }
    };

    let mut diagnostics = lexed.diagnostics.clone();
    let mut last_reported: Option<usize> = None;
    for error in errors {
        let at = error_location(&error);
        if lexed.unterminated_at.is_some_and(|u| at >= u || matches!(error, ParseError::UnrecognizedEof { .. })) {
            continue; // The rest of the input was swallowed by an unterminated literal.
        }
        if follows_lex_error(&lexed, at) {
            continue;
        }
        if let Some(prev) = last_reported
            && !has_boundary_between(&lexed.tokens, prev, at)
        {
            continue; // A follow-on error of the previous one.
        }
        last_reported = Some(at);
        diagnostics.push(to_diagnostic(error, &lexed.tokens, src));
    }
    diagnostics.sort_by_key(|d| (d.span.start, d.span.end));
    Parsed { script, diagnostics }
}

/// The byte offset a parse error is reported at.
fn error_location(error: &ParseError<usize, Tok, SyntaxError>) -> usize {
    match error {
        ParseError::InvalidToken { location } | ParseError::UnrecognizedEof { location, .. } => *location,
        ParseError::UnrecognizedToken { token, .. } | ParseError::ExtraToken { token } => token.0,
        ParseError::User { error: SyntaxError::InvalidAssignTarget(span) } => span.start,
    }
}

/// Whether a lexical error lies between the token before `at` and `at` itself: then the parse
/// error at `at` is most likely caused by the skipped text.
fn follows_lex_error(lexed: &Lexed, at: usize) -> bool {
    let prev_end = lexed.tokens.iter().take_while(|t| t.2 <= at).last().map_or(0, |t| t.2);
    lexed.diagnostics.iter().any(|d| d.span.start >= prev_end && d.span.start <= at)
}

/// Whether a token that ends or opens a statement (`;`, `{`, `}`) lies in `from..to`.
fn has_boundary_between(tokens: &[Spanned], from: usize, to: usize) -> bool {
    tokens.iter().any(|(s, t, _)| *s >= from && *s < to && matches!(t, Tok::Semi | Tok::LBrace | Tok::RBrace))
}

fn to_diagnostic(error: ParseError<usize, Tok, SyntaxError>, tokens: &[Spanned], src: &str) -> Diagnostic {
    match error {
        ParseError::InvalidToken { location } => Diagnostic::error("invalid token", Span::new(location, location + 1)),
        ParseError::UnrecognizedEof { location, expected } => {
            let text = describe_expected(&expected);
            let d = Diagnostic::error(format!("expected {text}, found end of file"), Span::new(location, location))
                .with_label(format!("expected {text}"));
            explain_unclosed(d, tokens, location, &expected)
        }
        ParseError::UnrecognizedToken { token: (start, tok, end), expected } => {
            if let Some(d) = reserved_word_as_name(tokens, start) {
                return d;
            }
            if matches!(tok, Tok::RParen | Tok::RBracket | Tok::RBrace) && open_brackets(tokens, start).is_empty() {
                return Diagnostic::error(format!("unmatched {tok}"), Span::new(start, end))
                    .with_label("nothing to close here");
            }
            let text = describe_expected(&expected);
            let message = format!("expected {text}, found {tok}");
            let expects = |t: &str| expected.iter().any(|e| e == t);
            // A missing `;` at the end of a line is best shown where it is missing.
            let prev_end = tokens.iter().take_while(|t| t.2 <= start).last().map(|t| t.2);
            let d = match prev_end {
                Some(prev_end) if expects("\";\"") && src[prev_end..start].contains('\n') => {
                    Diagnostic::error(message, Span::new(prev_end, prev_end)).with_label("expected `;` here")
                }
                _ => Diagnostic::error(message, Span::new(start, end)).with_label(format!("expected {text}")),
            };
            let d = if tok == Tok::RBracket && expects("\",\"") && in_indexing(tokens, start) {
                d.with_note("indexing names rows and columns, separated by a comma: `X[i, ]`, `X[, j]`, `X[i, j]`")
            } else {
                d
            };
            explain_unclosed(d, tokens, start, &expected)
        }
        ParseError::ExtraToken { token: (start, tok, end) } => {
            Diagnostic::error(format!("unexpected {tok}"), Span::new(start, end)).with_label("unexpected here")
        }
        ParseError::User { error: SyntaxError::InvalidAssignTarget(span) } => {
            Diagnostic::error("invalid left-hand side of assignment", span)
                .with_label("cannot assign to this")
                .with_note("a target is a variable `x` or an indexed variable `x[rows, cols]`")
        }
    }
}

/// Whether the innermost bracket open at `at` is an indexing `[` (one that follows an
/// expression) rather than a matrix literal.
fn in_indexing(tokens: &[Spanned], at: usize) -> bool {
    let Some(&i) = open_brackets(tokens, at).last() else { return false };
    tokens[i].1 == Tok::LBracket
        && i > 0
        && matches!(
            tokens[i - 1].1,
            Tok::Ident(_) | Tok::RParen | Tok::RBracket | Tok::Int(_) | Tok::Float(_) | Tok::Str(_)
        )
}

/// Whether a token is a word DaphneDSL reserves (keywords, type names, `nan`, `inf`).
fn is_reserved_word(tok: &Tok) -> bool {
    match tok {
        Tok::Float(_) | Tok::DataType(_) | Tok::ValueType(_) => true,
        Tok::Int(_) | Tok::Str(_) | Tok::Ident(_) | Tok::MalformedNumber | Tok::BlockComment => false,
        other => other.text().chars().all(|c| c.is_ascii_alphabetic()),
    }
}

/// `for = 1;` or `matrix = 2;`: a reserved word used as a variable name, recognized by the
/// `=` next to the token the parser stumbled on.
fn reserved_word_as_name(tokens: &[Spanned], at: usize) -> Option<Diagnostic> {
    let i = tokens.iter().position(|t| t.0 == at)?;
    let candidates = [(i.checked_sub(1), i), (Some(i), i + 1)];
    for (word, next) in candidates {
        let (Some(word), Some(next)) = (word.and_then(|w| tokens.get(w)), tokens.get(next)) else { continue };
        if is_reserved_word(&word.1) && next.1 == Tok::Assign {
            return Some(
                Diagnostic::error(
                    format!("{} is reserved and cannot name a variable", word.1),
                    Span::new(word.0, word.2),
                )
                .with_label("reserved word")
                .with_note("keywords, data and value type names, `nan` and `inf` cannot be variable names"),
            );
        }
    }
    None
}

/// The indices of the brackets still open before byte `at`, outermost first.
fn open_brackets(tokens: &[Spanned], at: usize) -> Vec<usize> {
    let mut open = Vec::new();
    for (i, t) in tokens.iter().enumerate().take_while(|(_, t)| t.0 < at) {
        match t.1 {
            Tok::LParen | Tok::LBracket | Tok::LBrace => open.push(i),
            // `[[` is closed by two `]`.
            Tok::LBracket2 => open.extend([i, i]),
            Tok::RParen | Tok::RBracket | Tok::RBrace => {
                open.pop();
            }
            _ => {}
        }
    }
    open
}

/// Adds a secondary label at the innermost bracket still open at `at`, when the parser wanted
/// its closing partner.
fn explain_unclosed(d: Diagnostic, tokens: &[Spanned], at: usize, expected: &[String]) -> Diagnostic {
    let Some(&(start, ref tok, end)) = open_brackets(tokens, at).last().map(|&i| &tokens[i]) else { return d };
    let closer = match tok {
        Tok::LParen => ")",
        Tok::LBracket | Tok::LBracket2 => "]",
        _ => "}",
    };
    if expected.iter().any(|e| e.trim_matches('"') == closer) {
        d.with_secondary(Span::new(start, end), format!("this {tok} is not closed"))
    } else {
        d
    }
}

/// Terminals that can start an expression; when all the usual ones are expected they are
/// summarized as "expression".
const EXPR_START: &[&str] = &[
    "Int",
    "Float",
    "Str",
    "Ident",
    "\"true\"",
    "\"false\"",
    "\"(\"",
    "\"[\"",
    "\"$\"",
    "\"as\"",
    "\"+\"",
    "\"-\"",
    "\"!\"",
    "\"{\"",
];

/// Keywords that start a statement; summarized as "statement" with the expression starts.
const STMT_START: &[&str] =
    &["\"if\"", "\"while\"", "\"do\"", "\"for\"", "\"def\"", "\"return\"", "\"import\"", "\"break\"", "\"continue\""];

/// Binary operators and postfix indexing; when all are expected they are summarized as
/// "operator".
const OPERATORS: &[&str] = &[
    "\"@\"", "\"^\"", "\"%\"", "\"*\"", "\"/\"", "\"+\"", "\"-\"", "\"==\"", "\"!=\"", "\"<\"", "\"<=\"", "\">\"",
    "\">=\"", "\"&&\"", "\"||\"", "\"?\"", "\"[\"", "\"[[\"",
];

/// Renders lalrpop's list of expected terminals for a human: "`;`", "`)` or `,`",
/// "one of `;`, `=`, or an operator".
fn describe_expected(expected: &[String]) -> String {
    let has = |names: &[&str]| names.iter().all(|n| expected.iter().any(|e| e == n));
    let mut items: Vec<String> = Vec::new();
    // Kernel hints (`f::k(...)`, `a +::k b`) are too rare to suggest.
    let mut skip: Vec<&str> = vec!["\"::\""];
    let exprs = has(&["Int", "Ident", "\"(\"", "\"[\""]);
    let stmts = exprs && has(&["\"if\"", "\"while\"", "\"for\"", "\"def\""]);
    let ops = has(&["\"@\"", "\"&&\"", "\"*\"", "\"==\""]);
    if exprs {
        skip.extend(EXPR_START);
    }
    if stmts {
        skip.extend(STMT_START);
    }
    if ops {
        skip.extend(OPERATORS);
    }
    if has(&["\";\"", "\"=\""]) {
        // After an expression statement; an assignment is rarely what was meant.
        skip.extend(["\"=\"", "\",\""]);
    }
    for e in expected {
        if skip.contains(&e.as_str()) {
            continue;
        }
        items.push(match e.as_str() {
            "Int" | "Float" => "number".to_owned(),
            "Str" => "string literal".to_owned(),
            "Ident" => "identifier".to_owned(),
            "DataType" => "data type".to_owned(),
            "ValueType" => "value type".to_owned(),
            quoted => format!("`{}`", quoted.trim_matches('"')),
        });
    }
    items.dedup();
    if stmts {
        items.push("a statement".to_owned());
    } else if exprs {
        items.push("an expression".to_owned());
    }
    if ops {
        items.push("an operator".to_owned());
    }
    match items.len() {
        0 => "nothing more".to_owned(),
        1 => items.remove(0),
        2 => format!("{} or {}", items[0], items[1]),
        _ => {
            let last = items.pop().unwrap_or_default();
            format!("one of {}, or {last}", items.join(", "))
        }
    }
}

/// Constructors used by the grammar's actions.
pub(crate) mod build {
    use super::*;
    use crate::ast::{AssignTarget, Expr, ExprKind, Ident, Indexing, QualName, Stmt};

    pub fn stmt(l: usize, r: usize, kind: StmtKind) -> Stmt {
        Stmt { kind, span: Span::new(l, r) }
    }

    pub fn expr(l: usize, r: usize, kind: ExprKind) -> Expr {
        Expr { kind, span: Span::new(l, r) }
    }

    pub fn binary(l: usize, r: usize, op: crate::ast::BinOp, kernel: Option<Ident>, lhs: Expr, rhs: Expr) -> Expr {
        expr(l, r, ExprKind::Binary { op, kernel, lhs: Box::new(lhs), rhs: Box::new(rhs) })
    }

    pub fn for_stmt(l: usize, r: usize, head: (Ident, Expr, Expr, Option<Expr>), body: Stmt) -> Stmt {
        let (var, from, to, step) = head;
        stmt(l, r, StmtKind::For { var, from, to, step, body: Box::new(body) })
    }

    pub fn qual_name(l: usize, r: usize, first: Ident, rest: Vec<Ident>) -> QualName {
        let mut parts = vec![first];
        parts.extend(rest);
        QualName { parts, span: Span::new(l, r) }
    }

    /// Builds an assignment, checking that every target is `name` or `name[rows, cols]`.
    pub fn assign(
        errors: &mut Vec<ErrorRecovery<usize, Tok, SyntaxError>>,
        l: usize,
        r: usize,
        first: Expr,
        rest: Vec<Expr>,
        value: Expr,
    ) -> Stmt {
        let mut targets = Vec::new();
        for e in std::iter::once(first).chain(rest) {
            match target(e) {
                Ok(t) => targets.push(t),
                Err(span) => {
                    errors.push(ErrorRecovery {
                        error: ParseError::User { error: SyntaxError::InvalidAssignTarget(span) },
                        dropped_tokens: Vec::new(),
                    });
                    return stmt(l, r, StmtKind::Error);
                }
            }
        }
        stmt(l, r, StmtKind::Assign { targets, value })
    }

    /// `name` or `name[rows, cols]` as an assignment target, else the span of the culprit.
    fn target(e: Expr) -> Result<AssignTarget, Span> {
        let span = e.span;
        match e.kind {
            ExprKind::Name(name) => Ok(AssignTarget { name, index: None, span }),
            ExprKind::Index { obj, rows, cols } => match obj.kind {
                ExprKind::Name(name) => {
                    let index = Indexing { rows, cols, span: Span::new(obj.span.end, span.end) };
                    Ok(AssignTarget { name, index: Some(index), span })
                }
                _ => Err(span),
            },
            _ => Err(span),
        }
    }
}
