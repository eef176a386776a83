//! Every script in `examples/` runs and prints what `examples/expected/NAME.out` holds.
//! A `# args: name=value ...` line in a script gives its arguments.

mod common;

use std::path::Path;

use common::check;

const DAPHNE: &str = env!("CARGO_BIN_EXE_daphne");

#[test]
fn examples_run_and_print_their_expected_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(root.join("examples"))
        .expect("examples/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "daph"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    assert!(names.len() >= 6, "examples are missing: {names:?}");
    for name in names {
        let script = std::fs::read_to_string(root.join(format!("examples/{name}.daph"))).unwrap_or_default();
        let mut args = vec![format!("../examples/{name}.daph")];
        if let Some(line) = script.lines().find_map(|l| l.strip_prefix("# args:")) {
            args.extend(line.split_whitespace().map(str::to_owned));
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = check(DAPHNE, &refs);
        assert_eq!(out.status, 0, "{name}: {}", out.stderr);
        let expected = std::fs::read_to_string(root.join(format!("examples/expected/{name}.out"))).unwrap_or_default();
        assert_eq!(out.stdout, expected, "{name}");
    }
}
