//! The token set of DaphneDSL and its logos lexer.
//!
//! The rules follow DAPHNE's ANTLR grammar (`DaphneDSLGrammar.g4`): keywords, data and value
//! type names, `nan`/`inf` and their `f` forms win over identifiers; integer and float
//! literals accept `_` and `'` as digit separators; `[[` is a single token (the start of a
//! bit-vector filter), as in DAPHNE. We add the keywords `break` and `continue` and the
//! unary operator `!`.

use std::fmt;

use logos::{FilterResult, Lexer, Logos};

use crate::ast::{DataType, FloatLit, IntLit, IntSuffix, ValueType};

/// Why a piece of source text is not a token.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum LexError {
    /// A character that starts no token.
    #[default]
    InvalidChar,
    /// A string literal without its closing quote.
    UnterminatedString,
    /// A backslash escape other than `\b \f \n \r \t \" \\`; the offset of the backslash
    /// relative to the start of the string literal.
    InvalidEscape(usize),
    /// A `/*` comment without its `*/`.
    UnterminatedComment,
    /// An integer literal that does not fit its type (si64, or ui64 with `u`/`ull`/`z`).
    IntOutOfRange,
    /// Digits run into text that makes no number (`01.5`, `1.`, `10_`, `1e`, `0x1F`); the
    /// reason for the message.
    MalformedNumber(&'static str),
}

impl LexError {
    /// The diagnostic message for this error.
    pub fn message(&self) -> &'static str {
        match self {
            LexError::InvalidChar => "unexpected character",
            LexError::UnterminatedString => "unterminated string literal",
            LexError::InvalidEscape(_) => "unknown escape sequence in string literal",
            LexError::UnterminatedComment => "unterminated block comment",
            LexError::IntOutOfRange => "integer literal out of range for its type",
            LexError::MalformedNumber(_) => "malformed number literal",
        }
    }
}

/// A DaphneDSL token. Literal tokens carry their decoded value.
#[derive(Logos, Debug, Clone, PartialEq)]
#[logos(error = LexError)]
#[logos(skip r"[ \t\r\n\f\u{feff}]+")]
#[logos(skip(r"(#|//)[^\r\n]*", allow_greedy = true))]
pub enum Tok {
    #[token("/*", block_comment)]
    BlockComment,

    // Keywords.
    #[token("if")]
    If,
    #[token("else")]
    Else,
    #[token("while")]
    While,
    #[token("do")]
    Do,
    #[token("for")]
    For,
    #[token("in")]
    In,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("as")]
    As,
    #[token("def")]
    Def,
    #[token("return")]
    Return,
    #[token("import")]
    Import,
    #[token("break")]
    Break,
    #[token("continue")]
    Continue,

    #[token("matrix", |_| DataType::Matrix)]
    #[token("scalar", |_| DataType::Scalar)]
    #[token("frame", |_| DataType::Frame)]
    DataType(DataType),

    #[token("f64", |_| ValueType::F64)]
    #[token("f32", |_| ValueType::F32)]
    #[token("si64", |_| ValueType::Si64)]
    #[token("si32", |_| ValueType::Si32)]
    #[token("si8", |_| ValueType::Si8)]
    #[token("ui64", |_| ValueType::Ui64)]
    #[token("ui32", |_| ValueType::Ui32)]
    #[token("ui8", |_| ValueType::Ui8)]
    #[token("str", |_| ValueType::Str)]
    #[token("bool", |_| ValueType::Bool)]
    ValueType(ValueType),

    #[regex(r"(0|[1-9]([_']?[0-9])*)(l|u|ull|z)?", int_literal)]
    Int(IntLit),

    #[regex(
        r"(0|[1-9]([_']?[0-9])*)(\.[0-9]([_']?[0-9])*|(\.[0-9]([_']?[0-9])*)?[eE][-+]?(0|[1-9][0-9]*))f?",
        float_literal
    )]
    #[token("nan", |_| FloatLit { value: f64::NAN, single: false })]
    // DAPHNE stores `nanf` and `inff` in a double, so they are f64 despite the suffix.
    #[token("nanf", |_| FloatLit { value: f64::NAN, single: false })]
    #[token("inf", |_| FloatLit { value: f64::INFINITY, single: false })]
    #[token("inff", |_| FloatLit { value: f64::INFINITY, single: false })]
    Float(FloatLit),

    // Anything number-like that the two rules above do not take whole. It has the lowest
    // priority, so it only wins where a valid literal would stop early and leave the rest
    // of the number to be misread as a new token.
    #[regex(r"[0-9]([0-9a-zA-Z_'.]|[eE][-+])*", malformed_number, priority = 0)]
    MalformedNumber,

    #[token("\"", string_literal)]
    Str(String),

    #[regex(r"[a-zA-Z_][a-zA-Z0-9_]*", |lex| lex.slice().to_owned())]
    Ident(String),

    // Punctuation and operators.
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("[[")]
    LBracket2,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token(",")]
    Comma,
    #[token(";")]
    Semi,
    #[token(":")]
    Colon,
    #[token("::")]
    ColonColon,
    #[token(".")]
    Dot,
    #[token("$")]
    Dollar,
    #[token("?")]
    Question,
    #[token("->")]
    Arrow,
    #[token("=")]
    Assign,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("^")]
    Caret,
    #[token("@")]
    At,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("&&")]
    AndAnd,
    #[token("||")]
    OrOr,
    #[token("!")]
    Bang,
}

/// Skips a `/* ... */` comment, or reports it unterminated (consuming the rest of the input).
fn block_comment(lex: &mut Lexer<Tok>) -> FilterResult<(), LexError> {
    match lex.remainder().find("*/") {
        Some(end) => {
            lex.bump(end + 2);
            FilterResult::Skip
        }
        None => {
            lex.bump(lex.remainder().len());
            FilterResult::Error(LexError::UnterminatedComment)
        }
    }
}

fn int_literal(lex: &mut Lexer<Tok>) -> Result<IntLit, LexError> {
    let text = lex.slice();
    let (digits, suffix) = if let Some(d) = text.strip_suffix("ull") {
        (d, IntSuffix::Ull)
    } else if let Some(d) = text.strip_suffix('u') {
        (d, IntSuffix::U)
    } else if let Some(d) = text.strip_suffix('l') {
        (d, IntSuffix::L)
    } else if let Some(d) = text.strip_suffix('z') {
        (d, IntSuffix::Z)
    } else {
        (text, IntSuffix::None)
    };
    let clean: String = digits.chars().filter(|c| c.is_ascii_digit()).collect();
    let value: u64 = clean.parse().map_err(|_| LexError::IntOutOfRange)?;
    // DAPHNE reads `l` and `z` literals with `stoll`, `u` and `ull` with `stoull`; an
    // unsuffixed 2^63 is accepted so that `-9223372036854775808` can be written (it denotes
    // i64::MIN, as in DAPHNE).
    let limit = match suffix {
        IntSuffix::U | IntSuffix::Ull => u64::MAX,
        IntSuffix::None => i64::MAX as u64 + 1,
        IntSuffix::L | IntSuffix::Z => i64::MAX as u64,
    };
    if value > limit {
        return Err(LexError::IntOutOfRange);
    }
    Ok(IntLit { value, suffix })
}

/// Explains why a number-like word is not a literal.
fn malformed_number(lex: &mut Lexer<Tok>) -> Result<(), LexError> {
    let text = lex.slice();
    let reason = if text.starts_with("0x") || text.starts_with("0X") || text.starts_with("0b") {
        "hexadecimal and binary literals do not exist in DaphneDSL"
    } else if text.starts_with('0') && text.len() > 1 && text.as_bytes()[1].is_ascii_digit() {
        "a number cannot start with `0` followed by more digits"
    } else if text.contains(['_', '\''])
        && (text.ends_with(['_', '\''])
            || text.contains("__")
            || text.contains("''")
            || text.contains("._")
            || text.contains(".'")
            || text.contains("_.")
            || text.contains("'."))
    {
        "a digit separator (`_` or `'`) must stand between two digits"
    } else if text.ends_with('.') || text.contains(".e") || text.contains(".E") || text.contains(".f") {
        "a decimal point must be followed by digits"
    } else if text.matches('.').count() > 1 {
        "a number has at most one decimal point"
    } else if text.ends_with(['e', 'E', '+', '-']) {
        "an exponent needs digits"
    } else {
        "digits run into letters; separate a number from a name with an operator or a space"
    };
    Err(LexError::MalformedNumber(reason))
}

fn float_literal(lex: &mut Lexer<Tok>) -> FloatLit {
    let text = lex.slice();
    let (body, single) = match text.strip_suffix('f') {
        Some(b) => (b, true),
        None => (text, false),
    };
    let clean: String = body.chars().filter(|c| !matches!(c, '_' | '\'')).collect();
    // The regex admits only well-formed decimal floats, which `f64::from_str` accepts;
    // an overflowing exponent yields infinity, as strtod does in DAPHNE.
    let value = clean.parse::<f64>().unwrap_or(f64::NAN);
    let value = if single { value as f32 as f64 } else { value };
    FloatLit { value, single }
}

/// Lexes the rest of a string literal after its opening quote. The body may span lines; a
/// backslash must start one of DAPHNE's escapes `\b \f \n \r \t \" \\`.
fn string_literal(lex: &mut Lexer<Tok>) -> Result<String, LexError> {
    let rest = lex.remainder();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                lex.bump(i + 1);
                return Ok(decode_escapes(&rest[..i]));
            }
            '\\' => match chars.next() {
                Some((_, 'b' | 'f' | 'n' | 'r' | 't' | '"' | '\\')) => {}
                Some(_) => {
                    // Consume the whole literal so lexing resumes after it.
                    lex.bump(skip_string_rest(rest));
                    return Err(LexError::InvalidEscape(i + 1));
                }
                None => break,
            },
            _ => {}
        }
    }
    lex.bump(rest.len());
    Err(LexError::UnterminatedString)
}

/// Decodes escapes exactly as DAPHNE's `DaphneDSLVisitor::visitLiteral` does: one
/// replace-all pass per escape, in the order `\b \f \n \r \t \" \\`. This differs from
/// left-to-right decoding when an escaped backslash precedes one of the letters (DAPHNE reads
/// `"\\n"` as a backslash and a newline); we keep DAPHNE's reading so that scripts print the
/// same bytes.
pub fn decode_escapes(body: &str) -> String {
    body.replace("\\b", "\u{8}")
        .replace("\\f", "\u{c}")
        .replace("\\n", "\n")
        .replace("\\r", "\r")
        .replace("\\t", "\t")
        .replace("\\\"", "\"")
        .replace("\\\\", "\\")
}

/// The length of a string literal's body up to and including its closing quote, or the whole
/// rest when it has none.
fn skip_string_rest(rest: &str) -> usize {
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return i + 1,
            _ => {}
        }
    }
    rest.len()
}

impl fmt::Display for Tok {
    /// How a token is named in a diagnostic ("found `)`", "found identifier `x`").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Int(_) | Tok::Float(_) => write!(f, "number"),
            Tok::Str(_) => write!(f, "string literal"),
            Tok::Ident(name) => write!(f, "identifier `{name}`"),
            Tok::DataType(d) => write!(f, "data type `{}`", d.name()),
            Tok::ValueType(v) => write!(f, "value type `{}`", v.name()),
            other => write!(f, "`{}`", other.text()),
        }
    }
}

impl Tok {
    /// The source text of a fixed token (keywords and punctuation).
    pub fn text(&self) -> &'static str {
        match self {
            Tok::BlockComment => "/*",
            Tok::MalformedNumber => "number",
            Tok::If => "if",
            Tok::Else => "else",
            Tok::While => "while",
            Tok::Do => "do",
            Tok::For => "for",
            Tok::In => "in",
            Tok::True => "true",
            Tok::False => "false",
            Tok::As => "as",
            Tok::Def => "def",
            Tok::Return => "return",
            Tok::Import => "import",
            Tok::Break => "break",
            Tok::Continue => "continue",
            Tok::DataType(d) => d.name(),
            Tok::ValueType(v) => v.name(),
            Tok::Int(_) => "integer",
            Tok::Float(_) => "float",
            Tok::Str(_) => "string",
            Tok::Ident(_) => "identifier",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::LBracket2 => "[[",
            Tok::RBracket => "]",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::Comma => ",",
            Tok::Semi => ";",
            Tok::Colon => ":",
            Tok::ColonColon => "::",
            Tok::Dot => ".",
            Tok::Dollar => "$",
            Tok::Question => "?",
            Tok::Arrow => "->",
            Tok::Assign => "=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Percent => "%",
            Tok::Caret => "^",
            Tok::At => "@",
            Tok::EqEq => "==",
            Tok::NotEq => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::AndAnd => "&&",
            Tok::OrOr => "||",
            Tok::Bang => "!",
        }
    }
}
