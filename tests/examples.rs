//! Every script in `examples/` runs and prints what `examples/expected/NAME.out` holds.
//! A `# args: name=value ...` line in a script gives its arguments.

mod common;

use std::path::Path;

use common::check_in;

const DAPHNE: &str = env!("CARGO_BIN_EXE_daphne");
const DAPHNEC: &str = env!("CARGO_BIN_EXE_daphnec");

/// The example scripts' names and their arguments (`# args:` lines), sorted.
fn examples() -> Vec<(String, Vec<String>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(root.join("examples"))
        .expect("examples/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "daph"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    assert!(names.len() >= 6, "examples are missing: {names:?}");
    names
        .into_iter()
        .map(|name| {
            let script =
                std::fs::read_to_string(root.join(format!("examples/{name}.daph"))).expect("a readable example");
            let args = script
                .lines()
                .find_map(|l| l.strip_prefix("# args:"))
                .map(|l| l.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default();
            (name, args)
        })
        .collect()
}

/// The pipelines fusion chooses for each example, as `daphnec --emit pipelines` lists them.
#[test]
fn example_pipelines() {
    for (name, args) in examples() {
        let mut all = vec![format!("examples/{name}.daph"), "--emit".into(), "pipelines".into()];
        all.extend(args);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = check_in(Path::new(env!("CARGO_MANIFEST_DIR")), DAPHNEC, &refs, &[]);
        assert_eq!(out.status, 0, "{name}: {}", out.stderr);
        insta::assert_snapshot!(format!("pipelines_{name}"), out.stdout);
    }
}

#[test]
fn examples_run_and_print_their_expected_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, script_args) in examples() {
        let mut args = vec![format!("examples/{name}.daph")];
        args.extend(script_args);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = check_in(root, DAPHNE, &refs, &[]);
        assert_eq!(out.status, 0, "{name}: {}", out.stderr);
        let path = root.join(format!("examples/expected/{name}.out"));
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{name}: every example has its expected output in {}: {e}", path.display()));
        assert!(!expected.is_empty(), "{name}: an example prints something to compare");
        assert_eq!(out.stdout, expected, "{name}");
    }
}
