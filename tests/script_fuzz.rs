//! Random mutants of the script corpus never crash `daphne`: every run ends with one of DAPHNE's
//! exit statuses (0-3), without a panic message and without an `error: internal` one (those are
//! bugs that deserve a real message), however broken the script (the contract of
//! `tools/fuzz-pipeline.py`, bounded so that it runs with the other tests).
//!
//! Each mutant is a script of `tests/run/` with one to three edits: a number of the script
//! replaced by one that breaks sizes and positions (`inf`, `nan`, `1e18`, `-1`, `2^63 - 1`, ...),
//! a token inserted (among them builtins that allocate by their arguments), up to ten
//! characters deleted, or twenty characters copied from elsewhere in the script. The random
//! stream is a fixed xorshift, so a failure reproduces with the same case count;
//! `DAPHNE_FUZZ_CASES=N` runs more (`cargo test --release` for long runs).
//!
//! Mutants run in a copy of `tests/run` (they may write files), two at a time, with stdout
//! discarded, each under `ulimit -v` (so an allocation the runtime does not check first fails
//! here rather than exhausting the machine) and stopped after `TIMEOUT` (a mutant may loop for
//! ever, which is allowed: loops are the script's business). Failing mutants are kept in
//! `target/script-fuzz/`, and so are those that timed out.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Rng;

const DAPHNE: &str = env!("CARGO_BIN_EXE_daphne");

/// How long one mutant may run.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The address space a mutant may use, in KiB (`ulimit -v`): the runtime's memory budget
/// follows it, and the interpreter's stack (1 GiB, reserved) fits beside the heap.
const ADDRESS_SPACE_KIB: u64 = 6 << 20;

/// Tokens inserted by mutation, separated by `|`.
const TOKENS: &str = "(|)|[|]|,|;|+|-|*|/|@|^|X|0|1|-1|2.5|\"a\"|nan|inf|-inf|1e18|1e9|true|sum(|t(|X[|:|[[|if|while|\
    for|{|}|def f(a) { return a; }|print(|x|= |1e308|9223372036854775807|seq(|fill(|rand(|sample(|diagMatrix(|\
    oneHot(|ctable(|rbind(|cbind(|reshape(|outerAdd(|as.si64(|as.f32(|readMatrix(";

/// Numbers that replace a number of the script (the script still parses, and a size, a
/// position, a bound or a seed becomes extreme), separated by `|`.
const NUMBERS: &str = "0|1|-1|2.5|0.5|inf|-inf|nan|1e18|1e9|100000|4294967296|9223372036854775807|\
    -9223372036854775807|1e308|-1e308";

/// The character ranges of the numbers in `s` (digits, a point, an exponent), not parts of
/// names.
fn numbers(s: &[char]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let starts = s[i].is_ascii_digit() && (i == 0 || !(s[i - 1].is_alphanumeric() || s[i - 1] == '_'));
        if !starts {
            i += 1;
            continue;
        }
        let lo = i;
        while i < s.len() && (s[i].is_ascii_digit() || s[i] == '.' || s[i] == 'e' || s[i] == 'E') {
            i += 1;
        }
        out.push(lo..i);
    }
    out
}

/// One to three random edits of `src`, most of them numbers replaced.
fn mutate(src: &str, r: &mut Rng) -> String {
    let mut s: Vec<char> = src.chars().collect();
    for _ in 0..1 + r.index(3) {
        let i = r.index(s.len() + 1);
        match r.index(20) {
            0..=2 => {
                let tokens: Vec<&str> = TOKENS.split('|').collect();
                s.splice(i..i, tokens[r.index(tokens.len())].chars());
            }
            3..=5 => {
                let end = (i + 1 + r.index(10)).min(s.len());
                s.drain(i..end);
            }
            6..=7 => {
                let j = r.index(s.len() + 1);
                let piece: Vec<char> = s[j..(j + 20).min(s.len())].to_vec();
                s.splice(i..i, piece);
            }
            _ => {
                let found = numbers(&s);
                if !found.is_empty() {
                    let at = found[r.index(found.len())].clone();
                    let numbers: Vec<&str> = NUMBERS.split('|').collect();
                    s.splice(at, numbers[r.index(numbers.len())].chars());
                }
            }
        }
    }
    s.into_iter().collect()
}

/// Copies the directory `from` to `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a work directory");
    for entry in std::fs::read_dir(from).expect("the corpus is readable") {
        let path = entry.expect("a directory entry").path();
        let target = to.join(path.file_name().expect("a file name"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("a copy of a corpus file");
        }
    }
}

/// How one mutant ended.
enum Ending {
    Status(i32, String),
    /// Killed by a signal (an abort is SIGABRT).
    Signal(String),
    TimedOut,
}

/// Runs `daphne` on `script` in `dir` under the limits.
fn run(script: &Path, dir: &Path, stderr: &Path) -> Ending {
    let err = std::fs::File::create(stderr).expect("a stderr file");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" \"$1\""))
        .arg(DAPHNE)
        .arg(script)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .env_remove("DISTRIBUTED_WORKERS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("daphne starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for daphne") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Ending::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let text = std::fs::read_to_string(stderr).unwrap_or_default();
    match status.code() {
        Some(code) => Ending::Status(code, text),
        None => Ending::Signal(text),
    }
}

#[test]
fn mutated_scripts_never_crash_daphne() {
    let cases: usize = std::env::var("DAPHNE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus: Vec<(PathBuf, String)> = {
        let mut scripts = Vec::new();
        for path in common::scripts(&root.join("tests/run")) {
            let text = std::fs::read_to_string(&path).expect("a corpus script");
            scripts.push((path, text));
        }
        scripts
    };
    assert!(corpus.len() >= 10, "the script corpus is missing");
    let work = std::env::temp_dir().join(format!("daphne-script-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    copy_dir(&root.join("tests/run"), &work.join("run"));
    let kept = root.join("target/script-fuzz");
    let _ = std::fs::create_dir_all(&kept);

    let mut r = Rng(0x2545_F491_4F6C_DD1D ^ cases as u64);
    let mutants: Vec<(String, String)> = (0..cases)
        .map(|_| {
            let (path, text) = &corpus[r.index(corpus.len())];
            (path.strip_prefix(root).unwrap_or(path).display().to_string(), mutate(text, &mut r))
        })
        .collect();
    let started = Instant::now();
    let threads = 2;
    let results: Vec<(usize, Ending)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (mutants, work) = (&mutants, &work);
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for (i, (_, src)) in mutants.iter().enumerate().skip(t).step_by(threads) {
                        let script = work.join(format!("case{t}.daph"));
                        std::fs::write(&script, src).expect("a mutant");
                        out.push((i, run(&script, work, &work.join(format!("case{t}.err")))));
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a fuzz thread")).collect()
    });
    let _ = std::fs::remove_dir_all(&work);

    let mut counts = [0usize; 4];
    let mut timeouts = 0;
    let mut failures = Vec::new();
    for (i, ending) in results {
        let problem = match ending {
            Ending::TimedOut => {
                // Kept for a look: a loop is the script's business, a slow kernel is ours.
                timeouts += 1;
                let _ = std::fs::write(kept.join(format!("timeout{i}.daph")), &mutants[i].1);
                None
            }
            Ending::Signal(err) => Some(format!("killed by a signal\n{err}")),
            Ending::Status(code, err) if !(0..=3).contains(&code) => Some(format!("exit status {code}\n{err}")),
            Ending::Status(code, err) if err.contains("panicked at") || err.contains("RUST_BACKTRACE") => {
                Some(format!("a panic (exit status {code})\n{err}"))
            }
            // A message marked internal is a bug the script found: it deserves a real message.
            Ending::Status(code, err) if err.contains("error: internal") => {
                Some(format!("an internal error (exit status {code})\n{err}"))
            }
            Ending::Status(code, _) => {
                counts[code as usize] += 1;
                None
            }
        };
        if let Some(problem) = problem {
            let (from, src) = &mutants[i];
            let file = kept.join(format!("case{i}.daph"));
            let _ = std::fs::write(&file, src);
            let err: String = problem.lines().take(12).collect::<Vec<_>>().join("\n");
            failures.push(format!("case {i} (a mutant of {from}, kept as {}): {err}", file.display()));
        }
    }
    eprintln!(
        "{cases} mutants in {:.1} s: {} ran, {} parse errors, {} compile errors, {} runtime errors, {timeouts} timed out",
        started.elapsed().as_secs_f64(),
        counts[0],
        counts[1],
        counts[2],
        counts[3]
    );
    assert!(failures.is_empty(), "{} of {cases} mutants crashed daphne:\n\n{}", failures.len(), failures.join("\n\n"));
}
