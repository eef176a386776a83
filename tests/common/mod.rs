//! The one helper of the integration tests: run a binary of this package on a script from
//! `tests/` and capture what it did.

use std::path::Path;
use std::process::Command;

/// What a run printed and how it ended.
#[derive(Debug)]
#[allow(dead_code)] // not every test file runs binaries
pub struct Outcome {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `bin` (a path from `env!("CARGO_BIN_EXE_...")`) with `args` in the `tests/`
/// directory, so that scripts are named relative to it (`err/x.daph`) in diagnostics.
#[allow(dead_code)] // not every test file runs binaries
pub fn check(bin: &str, args: &[&str]) -> Outcome {
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let out = Command::new(bin).args(args).current_dir(tests_dir).output().expect("the binary runs");
    Outcome {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The path of a test script relative to `tests/`, with `/` separators.
#[allow(dead_code)] // not every test file uses it
pub fn relative(path: &Path) -> String {
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let rel = path.strip_prefix(&tests_dir).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Every `.daph` script under `dir`, recursively, in name order.
#[allow(dead_code)] // not every test file uses it
pub fn scripts(dir: &Path) -> Vec<std::path::PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut entries: Vec<std::path::PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "daph") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out
}
