//! Runs every script in `tests/run/` through `daphne` and compares with its expectations,
//! stored beside it as data:
//!
//! - `NAME.out`: the exact bytes expected on stdout (required);
//! - `NAME.status`: the expected exit status (default 0);
//! - `NAME.err`: lines that must each appear in stderr (default: stderr must be empty when
//!   the status is 0);
//! - `NAME.args`: command-line arguments after the script, one per line.
//!
//! Every script also runs with `--no-fuse`, `--no-optimize`, `--no-vec` (pipelines interpreted
//! instead of JIT-compiled) and `--num-threads=1`, and must print the same bytes on both
//! streams and exit the same way: neither the passes nor the engine change what a script does.
//!
//! Scripts run with `tests/` as the working directory, so they name data files relative to
//! it (`run/data/x.csv`).

mod common;

use std::path::Path;

use common::check;

const DAPHNE: &str = env!("CARGO_BIN_EXE_daphne");

#[test]
fn scripts_print_what_daphne_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run");
    let all = common::scripts(&root);
    assert!(all.len() >= 10, "the script corpus is missing");
    let results = common::par_map(&all, |script| {
        let rel = script.strip_prefix(&root).unwrap_or(script).to_string_lossy().replace('\\', "/");
        let read = |ext: &str| std::fs::read_to_string(script.with_extension(ext)).ok();
        let Some(expected_out) = read("out") else {
            return Some(format!("{rel}: no .out file"));
        };
        let status: i32 = read("status").map_or(0, |s| s.trim().parse().unwrap_or(-1));
        let mut args = vec![format!("run/{rel}")];
        args.extend(read("args").unwrap_or_default().lines().filter(|l| !l.is_empty()).map(str::to_owned));
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = check(DAPHNE, &arg_refs);
        let mut problems = Vec::new();
        if out.stdout != expected_out {
            problems.push(format!("stdout differs:\n--- expected\n{expected_out}--- actual\n{}", out.stdout));
        }
        if out.status != status {
            problems.push(format!("exit status {} instead of {status}", out.status));
        }
        match read("err") {
            Some(err) => {
                for line in err.lines().filter(|l| !l.is_empty()) {
                    if !out.stderr.contains(line) {
                        problems.push(format!("stderr lacks `{line}`:\n{}", out.stderr));
                    }
                }
            }
            None if status == 0 && !out.stderr.is_empty() => {
                problems.push(format!("unexpected stderr:\n{}", out.stderr))
            }
            None => {}
        }
        for flag in ["--no-fuse", "--no-optimize", "--no-vec", "--num-threads=1"] {
            let mut with_flag = vec![flag];
            with_flag.extend(&arg_refs);
            let other = check(DAPHNE, &with_flag);
            if (other.status, &other.stdout, &other.stderr) != (out.status, &out.stdout, &out.stderr) {
                problems.push(format!(
                    "with {flag}: status {}, stdout:\n{}stderr:\n{}",
                    other.status, other.stdout, other.stderr
                ));
            }
        }
        (!problems.is_empty()).then(|| format!("{rel}: {}", problems.join("\n")))
    });
    let failures: Vec<String> = results.into_iter().flatten().collect();
    assert!(failures.is_empty(), "{} of {} scripts failed:\n\n{}", failures.len(), all.len(), failures.join("\n\n"));
}

/// The pipeline scripts print the same bytes under every partitioning scheme, thread count and
/// grain size, compiled or interpreted: a scheme changes which thread runs a block, never the
/// order in which partial results are combined.
#[test]
fn pipelines_print_the_same_bytes_under_every_partitioning() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run");
    let scripts = common::scripts(&root.join("pipelines"));
    assert!(scripts.len() >= 10, "the pipeline scripts are missing");
    let mut variants: Vec<Vec<String>> = daphne_runtime::schedule::Partitioning::ALL
        .iter()
        .map(|(name, _)| vec![format!("--partitioning={name}"), "--num-threads=3".to_owned()])
        .collect();
    variants.push(vec!["--partitioning=SS".into(), "--num-threads=2".into(), "--no-vec".into()]);
    variants.push(vec!["--partitioning=FAC2".into(), "--num-threads=3".into(), "--no-vec".into()]);
    variants.push(vec!["--partitioning=GSS".into(), "--grain-size=1000".into(), "--num-threads=2".into()]);
    let failures: Vec<String> = common::par_map(&scripts, |script| {
        let rel = script.strip_prefix(&root).unwrap_or(script).to_string_lossy().replace('\\', "/");
        let path = format!("run/{rel}");
        let base = check(DAPHNE, &[path.as_str()]);
        let mut failures = Vec::new();
        for variant in &variants {
            let mut args: Vec<&str> = variant.iter().map(String::as_str).collect();
            args.push(&path);
            let other = check(DAPHNE, &args);
            if (other.status, &other.stdout, &other.stderr) != (base.status, &base.stdout, &base.stderr) {
                failures.push(format!("{rel} with {}:\n{}{}", variant.join(" "), other.stdout, other.stderr));
            }
        }
        failures
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// What a script printed is out soon after it is printed (within `console::DEADLINE` when
/// stdout is a file), not when the run ends: a run killed later (by the OOM killer, a timeout,
/// an abort) keeps it.
#[test]
fn printed_output_is_out_before_the_run_ends() {
    let dir = std::env::temp_dir().join(format!("daphne-print-flush-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let script = dir.join("forever.daph");
    std::fs::write(&script, "print(\"before\");\nprint([1, 2], true, false);\ni = 0;\nwhile (i >= 0) { i = i + 1; }\n")
        .expect("a script");
    let stdout = dir.join("stdout");
    let mut child = std::process::Command::new(DAPHNE)
        .arg(&script)
        .stdout(std::fs::File::create(&stdout).expect("a stdout file"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("daphne starts");
    let expected = "before\nDenseMatrix(2x1, int64_t)\n1\n2\n";
    let started = std::time::Instant::now();
    let mut seen = String::new();
    while started.elapsed() < std::time::Duration::from_secs(20) && seen != expected {
        std::thread::sleep(std::time::Duration::from_millis(50));
        seen = std::fs::read_to_string(&stdout).unwrap_or_default();
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(seen, expected, "the printed lines are not out while the script still runs");
}
