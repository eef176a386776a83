//! Every command of the README's "The first hour" section runs as written: the lines of its
//! `sh` blocks, run by `sh` in a scratch copy of `examples/` with the built binaries first on
//! `PATH` (where `cargo install --locked --path .` puts them), must succeed; a `--distributed` run
//! must print what the same command prints without it. `cargo` lines are not run here (the
//! build is this test's own); `.ci/run` runs `cargo install --locked --path .` (into a scratch root) and the installed binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The command lines of the `sh` blocks of the README section headed `heading`.
fn commands(readme: &str, heading: &str) -> Vec<String> {
    let start = readme.find(heading).unwrap_or_else(|| panic!("README.md has no section {heading:?}"));
    let section = &readme[start + heading.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in section.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            l if in_sh && !l.is_empty() && !l.starts_with('#') => out.push(l.to_owned()),
            _ => {}
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn run(dir: &Path, bin_dir: &Path, line: &str) -> (bool, String, String) {
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("DISTRIBUTED_WORKERS")
        .output()
        .expect("sh runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_first_hour_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let lines = commands(&readme, "## The first hour");
    assert!(lines.len() >= 5, "the section lists too few commands: {lines:?}");
    let bin_dir: PathBuf = Path::new(env!("CARGO_BIN_EXE_daphne")).parent().unwrap().to_path_buf();
    let dir = std::env::temp_dir().join(format!("daphne-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&root.join("examples"), &dir.join("examples"));
    let mut ran = 0;
    for line in &lines {
        let command = line.split(" # ").next().unwrap_or(line).trim();
        if let Some(cargo) = command.strip_prefix("cargo ") {
            assert_eq!(cargo, "install --locked --path .", "a cargo command this test does not know: {line}");
            continue;
        }
        let (ok, stdout, stderr) = run(&dir, &bin_dir, command);
        assert!(ok, "`{command}` failed:\n{stdout}\n{stderr}");
        if command.contains("--distributed") {
            let local = command.replace("--distributed ", "");
            let (ok, local_out, _) = run(&dir, &bin_dir, &local);
            assert!(ok && local_out == stdout, "`{command}` printed\n{stdout}\nbut without --distributed\n{local_out}");
        }
        ran += 1;
    }
    assert!(ran >= 4, "only {ran} commands ran");
    let _ = std::fs::remove_dir_all(&dir);
}
