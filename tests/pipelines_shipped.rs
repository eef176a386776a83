//! Every pipeline is a self-contained IR fragment: the whole script corpus runs with each
//! pipeline extracted alone, encoded to bytes, decoded, verified and run as a worker would
//! (`runtime::pipeline::run_shipped`), and prints what it prints otherwise.

mod common;

use std::path::Path;

#[test]
fn the_corpus_runs_with_every_pipeline_shipped() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    // Scripts name their data relative to `tests/`; this is the only test in this binary.
    std::env::set_current_dir(&tests).expect("tests/ exists");
    let all = common::scripts(&tests.join("run"));
    let (mut with_pipelines, mut failures) = (0, Vec::new());
    for script in &all {
        let rel = script.strip_prefix(&tests).unwrap_or(script).to_string_lossy().replace('\\', "/");
        let read = |ext: &str| std::fs::read_to_string(script.with_extension(ext)).ok();
        let (Some(expected), status) = (read("out"), read("status")) else { continue };
        let failing = status.is_some_and(|s| s.trim() != "0");
        let (mut words, mut select, mut config) = (Vec::new(), false, daphne::UserConfig::default());
        for line in read("args").unwrap_or_default().lines().filter(|l| !l.is_empty()) {
            if line == "--select-matrix-repr" {
                select = true;
            } else if let Some(path) = line.strip_prefix("--config=") {
                match daphne::read_config(Path::new(path)) {
                    Ok(c) => config = c,
                    Err(_) => words.push("config=unreadable".to_owned()),
                }
            } else if line != "--args" {
                words.extend(line.split(',').map(str::to_owned));
            }
        }
        let Ok(file) = daphne::read_script(Path::new(&rel)) else { continue };
        let Ok(args) = daphne::script_args(&words) else { continue };
        let Ok(module) = daphne::compile(&file, &args, select, &config) else { continue };
        if daphne_ir::pipeline::describe(&module) == "no pipelines\n" {
            continue;
        }
        with_pipelines += 1;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let options = daphne_runtime::exec::Options { ship_pipelines: true, ..Default::default() };
        let files = [file];
        let result = daphne::execute_with(&module, &files, options, &mut out, &mut err);
        let out = String::from_utf8_lossy(&out);
        if out != expected || result.is_err() != failing {
            failures.push(format!("{rel}: {result:?}\n{out}{}", String::from_utf8_lossy(&err)));
        }
    }
    assert!(with_pipelines >= 30, "only {with_pipelines} scripts have pipelines");
    assert!(failures.is_empty(), "{} scripts differ when shipped:\n{}", failures.len(), failures.join("\n"));
}
