//! The frontend on our script corpus, through the `daphnec` and `daphne` binaries:
//! every script in `tests/ok` parses (its AST dump is a snapshot), every script in
//! `tests/err` is rejected with exit status 1 (its rendered diagnostics are a snapshot).

mod common;

use common::{check, relative};

const DAPHNEC: &str = env!("CARGO_BIN_EXE_daphnec");
const DAPHNE: &str = env!("CARGO_BIN_EXE_daphne");

#[test]
fn ok_scripts_parse() {
    insta::glob!("ok/*.daph", |path| {
        let script = relative(path);
        let out = check(DAPHNEC, &[&script, "--emit", "ast"]);
        assert_eq!(out.status, 0, "{script} was rejected:\n{}", out.stderr);
        assert_eq!(out.stderr, "", "{script}");
        insta::assert_snapshot!(out.stdout);
    });
}

#[test]
fn err_scripts_are_rejected_with_located_diagnostics() {
    insta::glob!("err/*.daph", |path| {
        let script = relative(path);
        let out = check(DAPHNEC, &[&script, "--emit", "ast"]);
        assert_eq!(out.status, 1, "{script} was not rejected as a parse error:\n{}", out.stdout);
        assert_eq!(out.stdout, "", "{script}");
        assert!(out.stderr.contains(&format!("--> {script}:")), "{script}: no location in\n{}", out.stderr);
        insta::assert_snapshot!(out.stderr);
    });
}

#[test]
fn daphne_rejects_syntax_errors_like_daphnec() {
    insta::glob!("err/*.daph", |path| {
        let script = relative(path);
        let by_daphnec = check(DAPHNEC, &[&script]);
        let by_daphne = check(DAPHNE, &[&script]);
        assert_eq!(by_daphne.status, 1, "{script}");
        assert_eq!(by_daphne.stderr, by_daphnec.stderr, "{script}");
    });
}

#[test]
fn tokens_are_listed_with_positions() {
    let out = check(DAPHNEC, &["ok/literals_int.daph", "--emit", "tokens"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn lexical_errors_fail_the_token_dump() {
    let out = check(DAPHNEC, &["err/invalid_char_section.daph", "--emit", "tokens"]);
    assert_eq!(out.status, 1);
    assert!(out.stderr.contains("unexpected character"), "{}", out.stderr);
}

#[test]
fn a_missing_script_is_an_error_naming_it() {
    for bin in [DAPHNEC, DAPHNE] {
        let out = check(bin, &["no/such/script.daph"]);
        assert_eq!(out.status, 1, "{bin}");
        assert!(out.stderr.contains("cannot read script no/such/script.daph"), "{}", out.stderr);
    }
}

#[test]
fn help_follows_clap_conventions() {
    let out = check(DAPHNEC, &["--help"]);
    assert_eq!(out.status, 0);
    assert!(out.stdout.starts_with("Compile a DaphneDSL script"), "{}", out.stdout);
    assert!(out.stdout.contains("Usage: daphnec [OPTIONS] [SCRIPT] [NAME=VALUE]..."), "{}", out.stdout);
    assert!(out.stdout.contains("--emit <EMIT>"), "{}", out.stdout);

    let out = check(DAPHNE, &["--help"]);
    assert_eq!(out.status, 0);
    assert!(out.stdout.contains("Usage: daphne [OPTIONS] <SCRIPT> [NAME=VALUE]..."), "{}", out.stdout);
    assert!(out.stdout.contains("--args"), "{}", out.stdout);

    // A wrong flag is a usage error (clap's exit status 2) with a hint.
    let out = check(DAPHNEC, &["ok/literals_int.daph", "--emit", "bogus"]);
    assert_eq!(out.status, 2);
    assert!(out.stderr.contains("invalid value 'bogus'"), "{}", out.stderr);

    // So is an unknown partitioning scheme, naming the ones there are.
    let out = check(DAPHNE, &["--partitioning=AUTO", "ok/literals_int.daph"]);
    assert_eq!(out.status, 2);
    assert!(out.stderr.contains("unknown scheme `AUTO` (expected one of STATIC, SS, GSS"), "{}", out.stderr);
    let out = check(DAPHNE, &["--grain-size=0", "ok/literals_int.daph"]);
    assert_eq!(out.status, 2, "{}", out.stderr);
}
