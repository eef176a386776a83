//! Operator precedence and associativity, checked against DAPHNE's grammar: each expression
//! is parsed and printed fully parenthesized as an S-expression.

use daphne_frontend::ast::{Expr, ExprKind, Range, StmtKind};
use daphne_frontend::parse;

/// The S-expression of `src`'s single expression statement.
fn sexpr(src: &str) -> String {
    let parsed = parse(&format!("{src};"));
    assert!(parsed.is_ok(), "{src}: {:?}", parsed.diagnostics);
    match &parsed.script.stmts[..] {
        [s] => match &s.kind {
            StmtKind::Expr(e) => show(e),
            other => panic!("{src}: not an expression statement: {other:?}"),
        },
        other => panic!("{src}: {} statements", other.len()),
    }
}

fn show(e: &Expr) -> String {
    let range = |r: &Option<Range>| match r {
        None => "_".to_owned(),
        Some(Range::Single(e)) => show(e),
        Some(Range::Slice { lo, hi, .. }) => {
            format!("{}:{}", lo.as_deref().map_or(String::new(), show), hi.as_deref().map_or(String::new(), show))
        }
    };
    match &e.kind {
        ExprKind::Int(i) => i.value.to_string(),
        ExprKind::Float(f) => f.value.to_string(),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::ScriptArg(n) => format!("${}", n.name),
        ExprKind::Name(n) => n.text(),
        ExprKind::Call { callee, args, .. } => {
            let args: Vec<String> = args.iter().map(|a| show(&a.value)).collect();
            format!("{}({})", callee.text(), args.join(" "))
        }
        ExprKind::Cast { arg, .. } => format!("(as {})", show(arg)),
        ExprKind::Index { obj, rows, cols } => format!("{}[{} {}]", show(obj), range(rows), range(cols)),
        ExprKind::Filter { obj, rows, cols } => format!(
            "{}[[{} {}]]",
            show(obj),
            rows.as_deref().map_or("_".to_owned(), show),
            cols.as_deref().map_or("_".to_owned(), show)
        ),
        ExprKind::Unary { op, arg } => format!("({} {})", op.symbol(), show(arg)),
        ExprKind::Binary { op, lhs, rhs, .. } => format!("({} {} {})", op.symbol(), show(lhs), show(rhs)),
        ExprKind::Ternary { cond, then_expr, else_expr } => {
            format!("(? {} {} {})", show(cond), show(then_expr), show(else_expr))
        }
        ExprKind::Matrix { elems, .. } => {
            let elems: Vec<String> = elems.iter().map(show).collect();
            format!("[{}]", elems.join(" "))
        }
        ExprKind::FrameCols(_) | ExprKind::FrameRows { .. } => "{frame}".to_owned(),
    }
}

#[test]
fn binary_operators_are_left_associative() {
    assert_eq!(sexpr("2^3^2"), "(^ (^ 2 3) 2)");
    assert_eq!(sexpr("a - b - c"), "(- (- a b) c)");
    assert_eq!(sexpr("a / b / c"), "(/ (/ a b) c)");
    assert_eq!(sexpr("a % b % c"), "(% (% a b) c)");
    assert_eq!(sexpr("A @ B @ C"), "(@ (@ A B) C)");
    assert_eq!(sexpr("a < b < c"), "(< (< a b) c)");
    assert_eq!(sexpr("a || b || c"), "(|| (|| a b) c)");
}

#[test]
fn unary_minus_binds_tighter_than_pow() {
    assert_eq!(sexpr("-x^2"), "(^ (- x) 2)");
    assert_eq!(sexpr("-2 ^ 2"), "(^ (- 2) 2)");
    assert_eq!(sexpr("2 ^ -1"), "(^ 2 (- 1))");
    assert_eq!(sexpr("a * -b ^ 2"), "(* a (^ (- b) 2))");
    assert_eq!(sexpr("- - x"), "(- (- x))");
    assert_eq!(sexpr("!a && b"), "(&& (! a) b)");
    assert_eq!(sexpr("-A @ B"), "(@ (- A) B)");
}

#[test]
fn indexing_binds_tighter_than_unary() {
    assert_eq!(sexpr("-X[1, 2]"), "(- X[1 2])");
    assert_eq!(sexpr("X[1:3, ][, 0]"), "X[1:3 _][_ 0]");
    assert_eq!(sexpr("X[[m, ]] + 1"), "(+ X[[m _]] 1)");
}

#[test]
fn the_precedence_ladder_matches_daphne() {
    // Tightest first: @, ^, %, * /, + -, comparisons, &&, ||, ?:
    assert_eq!(sexpr("2 * 7 % 4"), "(* 2 (% 7 4))");
    assert_eq!(sexpr("a % b ^ c"), "(% a (^ b c))");
    assert_eq!(sexpr("a ^ B @ C"), "(^ a (@ B C))");
    assert_eq!(sexpr("a + b * c"), "(+ a (* b c))");
    assert_eq!(sexpr("a + b == c - d"), "(== (+ a b) (- c d))");
    assert_eq!(sexpr("a == b && c != d"), "(&& (== a b) (!= c d))");
    assert_eq!(sexpr("a && b || c && d"), "(|| (&& a b) (&& c d))");
    assert_eq!(sexpr("a || b ? c : d"), "(? (|| a b) c d)");
}

#[test]
fn ternary_is_left_associative_like_antlr() {
    assert_eq!(sexpr("a ? b : c ? d : e"), "(? (? a b c) d e)");
    assert_eq!(sexpr("a ? b ? c : d : e"), "(? a (? b c d) e)");
}

#[test]
fn ranges_and_ternaries_share_the_colon() {
    assert_eq!(sexpr("X[a ? b : c : d, ]"), "X[(? a b c):d _]");
    assert_eq!(sexpr("X[:, 1:]"), "X[: 1:]");
    assert_eq!(sexpr("X[-1, [4, 0, 4]]"), "X[(- 1) [4 0 4]]");
}

#[test]
fn kernel_hints_and_qualified_calls() {
    assert_eq!(sexpr("a *::myMul b + c"), "(+ (* a b) c)");
    assert_eq!(sexpr("u.f(x, axis = 0)"), "u.f(x 0)");
    assert_eq!(sexpr("sum::k(X)"), "sum(X)");
}

#[test]
fn integer_literals_follow_daphne() {
    assert_eq!(sexpr("1'000_000"), "1000000");
    // 2^63 without a suffix is allowed so that i64::MIN can be written.
    assert_eq!(sexpr("-9223372036854775808"), "(- 9223372036854775808)");
    assert!(!parse("x = 9223372036854775808l;").is_ok());
    assert!(!parse("x = 18446744073709551616u;").is_ok());
    assert!(parse("x = 18446744073709551615u;").is_ok());
}

#[test]
fn string_escapes_are_decoded_as_daphne_does() {
    assert_eq!(sexpr(r#""a\tb\"c\\""#), r#""a\tb\"c\\""#);
    // DAPHNE replaces `\n` before `\\`, so an escaped backslash before `n` becomes a
    // backslash and a newline.
    assert_eq!(sexpr(r#""x\\n""#), "\"x\\\\\\n\"");
}

#[test]
fn lenient_forms_daphne_rejects_are_accepted() {
    // DAPHNE's lexer makes `]]` one token, so nested indexing at the end fails there.
    assert_eq!(sexpr("X[1, Y[2, 3]]"), "X[1 Y[2 3]]");
    assert_eq!(sexpr("X[[m, ] ]"), "X[[m _]]");
    // A byte-order mark, as some Windows editors write, is skipped.
    assert!(parse("\u{feff}x = 1;").is_ok());
}
