//! The IR file tests: every `tests/ir/PASS/NAME.ir` holds a module, the line `// after:`, and
//! the module as the pass named by the directory leaves it (one run of the pass). Lines
//! starting with `//` before the module say what the case shows.
//!
//! The input must parse and verify, and so must the output. When the expected text equals
//! the input, the pass must also report that it changed nothing. `DAPHNE_BLESS=1` rewrites
//! the part after `// after:` with what the pass gives (review the diff before committing).

use std::path::{Path, PathBuf};
use std::rc::Rc;

use daphne_passes::{Options, PassManager};

const AFTER: &str = "// after:\n";

#[test]
fn every_pass_gives_the_ir_its_files_expect() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ir");
    let passes = PassManager::with_options(Options {
        evaluator: Some(Rc::new(daphne_runtime::fold::Evaluator)),
        ..Options::default()
    });
    let bless = std::env::var_os("DAPHNE_BLESS").is_some();
    let mut failures = Vec::new();
    let mut cases = 0;
    for dir in sorted(&root) {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let Some(pass) = passes.pass(&name) else {
            failures.push(format!("{}: no pass is named `{name}`", dir.display()));
            continue;
        };
        for file in sorted(&dir).into_iter().filter(|f| f.extension().is_some_and(|e| e == "ir")) {
            cases += 1;
            let text = std::fs::read_to_string(&file).unwrap();
            let Some((input, expected)) = text.split_once(AFTER) else {
                failures.push(format!("{}: no `{}` line", file.display(), AFTER.trim()));
                continue;
            };
            match run(pass, input) {
                Err(e) => failures.push(format!("{}: {e}", file.display())),
                Ok((actual, _)) if bless => {
                    std::fs::write(&file, format!("{input}{AFTER}{actual}")).unwrap();
                }
                Ok((actual, changed)) => {
                    if actual != expected {
                        failures.push(format!(
                            "{}: the pass gives\n{actual}\ninstead of\n{expected}\n(DAPHNE_BLESS=1 rewrites the file)",
                            file.display()
                        ));
                    } else if !changed && printed(input).is_ok_and(|i| i != actual) {
                        failures.push(format!("{}: the IR changed but the pass said it did not", file.display()));
                    } else if changed && printed(input).is_ok_and(|i| i == actual) {
                        failures.push(format!("{}: the pass said it changed the IR but did not", file.display()));
                    }
                }
            }
        }
    }
    assert!(cases >= 10, "the IR file tests are missing ({cases} found)");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Runs `pass` once on the module `input`; the printed result and whether the pass said it
/// changed something.
fn run(pass: &dyn daphne_passes::Pass, input: &str) -> Result<(String, bool), String> {
    let mut module = daphne_ir::parse::module(input).map_err(|e| format!("the input does not parse: {e}"))?;
    daphne_ir::verify::module(&module).map_err(|e| format!("the input does not verify: {e}"))?;
    let changed = pass.run(&mut module);
    daphne_ir::verify::module(&module).map_err(|e| format!("the output does not verify: {e}"))?;
    Ok((daphne_ir::print::module(&module), changed))
}

fn printed(input: &str) -> Result<String, String> {
    daphne_ir::parse::module(input).map(|m| daphne_ir::print::module(&m)).map_err(|e| e.to_string())
}

fn sorted(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    entries
}
