//! Parsing never panics: random text, random token soup and random mutations of our corpus
//! all come back as an AST plus diagnostics, and every diagnostic renders.
//!
//! The case counts keep the whole file under a few seconds in a debug build.

use std::path::Path;

use daphne_frontend::diagnostic::render_all;
use daphne_frontend::{SourceFile, dump, lex, parse};
use proptest::prelude::*;

/// Cases per property: 400 in the test suite; set `DAPHNE_FUZZ_CASES` for a longer hunt.
fn fuzz_cases() -> u32 {
    std::env::var("DAPHNE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(400)
}

/// Parses `src` and exercises everything that consumes the result.
fn parse_everything(src: &str) {
    let file = SourceFile::new("fuzz.daph", src);
    let parsed = parse(src);
    let rendered = render_all(&parsed.diagnostics, &file);
    for d in &parsed.diagnostics {
        assert!(d.span.start <= d.span.end && d.span.end <= src.len(), "span {:?} outside the input", d.span);
    }
    assert_eq!(parsed.diagnostics.is_empty(), rendered.is_empty());
    let _ = dump::ast(&parsed.script, &file);
    let _ = dump::tokens(&lex(src).tokens, &file);
}

const VOCABULARY: &[&str] = &[
    "if",
    "else",
    "while",
    "do",
    "for",
    "in",
    "true",
    "false",
    "as",
    "def",
    "return",
    "import",
    "break",
    "continue",
    "matrix",
    "frame",
    "scalar",
    "f64",
    "si64",
    "str",
    "x",
    "X",
    "foo",
    "u.f",
    "0",
    "1",
    "2.5",
    "1e3",
    "3f",
    "7u",
    "1'000",
    "nan",
    "inff",
    "\"s\"",
    "\"a\\nb\"",
    "(",
    ")",
    "[",
    "[[",
    "]",
    "]]",
    "{",
    "}",
    ",",
    ";",
    ":",
    "::",
    ".",
    "$",
    "?",
    "->",
    "=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "@",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "&&",
    "||",
    "!",
    "#c\n",
    "/* c */",
    "\n",
    "\"",
    "/*",
    "§",
    "`",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(VOCABULARY), prop::bool::ANY), 0..60).prop_map(|toks| {
        toks.into_iter().map(|(t, space)| if space { format!("{t} ") } else { t.to_owned() }).collect()
    })
}

static CORPUS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Our own well-formed scripts, the seeds for mutation.
fn corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ok");
    let mut scripts: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "daph"))
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    scripts.sort();
    scripts.push("def f(a: matrix<f64>, b) -> f64 { return sum(a) + b; }\nx = f([1, 2](1, ), 3);\n".to_owned());
    scripts
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, &'static str),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<usize>(), 1..20usize).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), prop::sample::select(VOCABULARY)).prop_map(|(a, t)| Edit::Insert(a, t)),
        (any::<usize>(), 1..40usize).prop_map(|(a, n)| Edit::Duplicate(a, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ];
    prop::collection::vec(edit, 1..6)
}

/// Applies edits at character positions (so the text stays valid UTF-8).
fn mutate(src: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    for e in edits {
        let len = chars.len().max(1);
        match *e {
            Edit::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(chars.len());
                chars.drain(at.min(end)..end);
            }
            Edit::Insert(at, text) => {
                let at = at % (chars.len() + 1);
                chars.splice(at..at, text.chars());
            }
            Edit::Duplicate(at, n) => {
                let at = at % len;
                let end = (at + n).min(chars.len());
                let piece: Vec<char> = chars[at.min(end)..end].to_vec();
                chars.splice(end..end, piece);
            }
            Edit::Truncate(at) => chars.truncate(at % len),
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: fuzz_cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(src in "\\PC{0,200}") {
        parse_everything(&src);
    }

    #[test]
    fn token_soup_never_panics(src in token_soup()) {
        parse_everything(&src);
    }

    #[test]
    fn mutated_scripts_never_panic(seed in any::<prop::sample::Index>(), edits in edits()) {
        let scripts = CORPUS.get_or_init(corpus);
        let original: &String = seed.get(scripts.as_slice());
        let src = mutate(original, &edits);
        parse_everything(&src);
    }
}

#[test]
fn deep_nesting_is_rejected_not_overflowed() {
    for src in [
        format!("x = {}1{};", "-(".repeat(100_000), ")".repeat(100_000)),
        format!("x = {}1;", "-".repeat(100_000)),
        format!("x = {};", vec!["1"; 100_000].join("+")),
        format!("x = {}1{};", "[".repeat(50_000), "]".repeat(50_000)),
        "{".repeat(100_000),
        format!("{}x = 1;{}", "if (1) {".repeat(20_000), "}".repeat(20_000)),
    ] {
        let parsed = parse(&src);
        assert!(!parsed.is_ok());
        let file = SourceFile::new("deep.daph", src.as_str());
        assert!(render_all(&parsed.diagnostics, &file).contains("error"));
    }
}

#[test]
fn parentheses_add_no_depth() {
    let src = format!("x = {}1{};", "(".repeat(100_000), ")".repeat(100_000));
    assert!(parse(&src).is_ok());
}

#[test]
fn nesting_up_to_the_limit_is_accepted() {
    let depth = daphne_frontend::parser::MAX_DEPTH - 10;
    let src = format!("x = {};", vec!["1"; depth].join("+"));
    let parsed = parse(&src);
    assert!(parsed.is_ok(), "{:?}", parsed.diagnostics);
    let _ = dump::ast(&parsed.script, &SourceFile::new("wide.daph", src.as_str()));
}
