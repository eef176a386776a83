//! `docs/builtins.md` is what `daphnec --builtins` prints from the compiler's table of
//! built-ins; this test fails when the committed page is out of date. `DAPHNE_BLESS=1 cargo
//! test --test builtins_doc` rewrites it (CI never sets it).

mod common;

use std::path::Path;

use common::check;

const DAPHNEC: &str = env!("CARGO_BIN_EXE_daphnec");

#[test]
fn the_committed_reference_is_what_the_table_generates() {
    let out = check(DAPHNEC, &["--builtins"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "");
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/builtins.md");
    if std::env::var_os("DAPHNE_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&page, &out.stdout).expect("docs/builtins.md is writable");
        return;
    }
    let committed = std::fs::read_to_string(&page).unwrap_or_default();
    assert!(
        committed == out.stdout,
        "docs/builtins.md differs from what `daphnec --builtins` generates from the table in \
         lower/src/builtins.rs and ir/src/op.rs; regenerate it with `DAPHNE_BLESS=1 cargo test --test builtins_doc`"
    );
}

#[test]
fn the_reference_lists_every_builtin_with_signature_and_example() {
    let out = check(DAPHNEC, &["--builtins"]);
    for d in daphne_lower::all_builtins() {
        let entry = format!("### `{}`\n\n", d.signature());
        assert!(out.stdout.contains(&entry), "no entry for `{}`", d.name);
        assert!(out.stdout.contains(&format!("```\n{}\n```", d.example)), "no example for `{}`", d.name);
    }
}

#[test]
fn builtins_needs_no_script_and_takes_no_other_option() {
    let out = check(DAPHNEC, &["--builtins", "x.daph"]);
    // A command line the tool does not take exits 1, as DAPHNE's option parser does.
    assert_eq!(out.status, 1, "{}", out.stdout);
    assert!(out.stderr.contains("cannot be used with"), "{}", out.stderr);
}
