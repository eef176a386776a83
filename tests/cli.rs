//! The command line a new user meets: exit statuses, output that survives errors and signals
//! in order, DAPHNE's flags, `daphne worker`, scripts on stdin, the interactive mode (through
//! a pipe and a pseudo terminal) and the progress line.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DAPHNE: &str = env!("CARGO_BIN_EXE_daphne");

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Writes `text` as `name` in `dir` and returns its path as a string.
fn script(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("the script is written");
    path.to_string_lossy().into_owned()
}

/// Runs `daphne` with `args` and `input` on stdin; stdout and stderr as captured.
fn run_with_stdin(args: &[&str], input: &str) -> common::Outcome {
    let mut child = Command::new(DAPHNE)
        .args(args)
        .env("DAPHNE_HISTORY", "")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("daphne starts");
    child.stdin.take().expect("piped").write_all(input.as_bytes()).expect("the input is written");
    let out = child.wait_with_output().expect("daphne ends");
    common::Outcome {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `sh -c COMMAND` with `daphne` as `$D`, stdin from /dev/null, its stdout and stderr
/// through one pipe: what a reader of both sees, in order, and the status.
fn both_streams(command: &str) -> (i32, String) {
    let out = Command::new("sh")
        .args(["-c", &format!("{command} 2>&1")])
        .env("D", DAPHNE)
        .stdin(Stdio::null())
        .output()
        .expect("sh runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `script` of util-linux, which runs a command on a pseudo terminal; `None` where it is
/// missing (the pty tests then say so and pass).
fn script_tool() -> Option<&'static str> {
    let ok = Command::new("script").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    match ok {
        Ok(s) if s.success() => Some("script"),
        _ => {
            eprintln!("SKIPPED: `script` (util-linux) is not installed, no pseudo terminal test");
            None
        }
    }
}

/// Runs `command` on a pseudo terminal (its stdin, stdout and stderr), typing `keys` (each
/// after a pause) and then Ctrl-D; returns everything the terminal showed, with the time
/// (since the start) at which each chunk arrived.
fn on_a_terminal(command: &str, keys: &[&str]) -> Option<Vec<(Duration, String)>> {
    let tool = script_tool()?;
    let mut child = Command::new(tool)
        .args(["-qfec", command, "/dev/null"])
        .env("DAPHNE_HISTORY", "")
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script starts");
    let mut stdin = child.stdin.take().expect("piped");
    let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    let typist = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        for k in keys {
            let _ = stdin.write_all(k.as_bytes());
            let _ = stdin.flush();
            std::thread::sleep(Duration::from_millis(400));
        }
        let _ = stdin.write_all(b"\x04");
        // `script` ends when the command does; keep its stdin open until then.
        std::thread::sleep(Duration::from_secs(30));
    });
    // A session that never ends (a broken interrupt) is killed, and the test then fails.
    let pid = child.id().to_string();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(Duration::from_secs(45)).is_err() {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
    });
    let started = Instant::now();
    let mut stdout = child.stdout.take().expect("piped");
    let mut chunks = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => chunks.push((started.elapsed(), String::from_utf8_lossy(&buf[..n]).into_owned())),
        }
    }
    let _ = child.wait();
    let _ = done_tx.send(());
    let _ = watchdog.join();
    drop(typist);
    Some(chunks)
}

fn text_of(chunks: &[(Duration, String)]) -> String {
    chunks.iter().map(|(_, c)| c.as_str()).collect()
}

#[test]
fn exit_statuses_are_daphnes_and_help_lists_them() {
    let dir = scratch("exit");
    let ok = script(&dir, "ok.daph", "print(1);\n");
    let parse = script(&dir, "parse.daph", "x = ;\n");
    let compile = script(&dir, "compile.daph", "X = fill(1.0, 2, 2);\nprint(X[1, 5]);\n");
    let runtime = script(&dir, "runtime.daph", "print(\"before\");\nstop(\"enough\");\n");
    let missing = dir.join("missing.daph").to_string_lossy().into_owned();
    let cases: &[(&[&str], i32)] = &[
        (&[ok.as_str()], 0),
        (&[parse.as_str()], 1),
        (&[missing.as_str()], 1),
        (&["--no-such-flag", ok.as_str()], 1),
        (&["--num-threads=many", ok.as_str()], 1),
        (&["--explain=nothing", ok.as_str()], 1),
        (&[compile.as_str()], 2),
        (&[runtime.as_str()], 3),
        (&["--help"], 0),
        (&["--version"], 0),
    ];
    for (args, status) in cases {
        let out = common::check(DAPHNE, args);
        assert_eq!(out.status, *status, "daphne {args:?}: {}", out.stderr);
    }
    let help = common::check(DAPHNE, &["--help"]).stdout;
    for line in [
        "Exit status:",
        "  1    parse error",
        "  2    compile error",
        "  3    runtime error",
        "  130  interrupted by SIGINT",
        "  143  terminated by SIGTERM",
    ] {
        assert!(help.contains(line), "--help lacks `{line}`:\n{help}");
    }
    for heading in ["Input:", "Execution:", "Distributed:", "Explain and diagnostics:", "DAPHNE compatibility"] {
        assert!(help.contains(heading), "--help lacks the section `{heading}`");
    }
}

#[test]
fn output_before_an_error_is_kept_and_stdout_comes_before_later_stderr() {
    let dir = scratch("order");
    let s = script(
        &dir,
        "order.daph",
        "print(\"out 1\");\nprint(\"err 2\", true, true);\nprint(\"out 3\");\nx = [1, 2];\ny = x @ x;\nprint(\"never\");\n",
    );
    // Both streams into one pipe: stdout is block-buffered there, and must still come in order.
    let (status, text) = both_streams(&format!("\"$D\" {s}"));
    assert_eq!(status, 3, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..3], ["out 1", "err 2", "out 3"], "{text}");
    assert!(lines[3].starts_with("error: `@` needs"), "{text}");
    assert!(!text.contains("never"), "{text}");

    // A large output before a runtime error is all there (more than the 64 KiB buffer).
    let big = script(&dir, "big.daph", "for (i in 1:20000) { print(i); }\nstop(\"done\");\n");
    let (status, text) = both_streams(&format!("\"$D\" {big}"));
    assert_eq!(status, 3);
    let numbers: Vec<&str> = text.lines().take(20000).collect();
    assert_eq!(numbers.len(), 20000);
    assert!(numbers.iter().enumerate().all(|(i, l)| *l == (i + 1).to_string()), "lines out of order or lost");
    assert!(
        text.lines().nth(20000).is_some_and(|l| l.starts_with("error: system stopped: done")),
        "{}",
        &text[text.len() - 200..]
    );

    // A parse error in a script read from stdin, after warnings: in order too.
    let (status, text) = both_streams("echo 'x = ;' | \"$D\" --pin-workers -");
    assert_eq!(status, 1);
    assert!(text.starts_with("daphne: warning: --pin-workers"), "{text}");
    assert!(text.contains("--> <stdin>:1:5"), "{text}");
}

/// Starts a script that prints five lines (stdout a pipe, so they wait in the buffer), then
/// writes a marker file and loops for ever; sends `signal` as soon as the marker is there (well
/// within `console::DEADLINE`, so only the handler's flush can have written the lines) and
/// returns the status and what the script had printed.
fn signalled(signal: &str) -> (i32, String) {
    let dir = scratch(&format!("signal-{signal}"));
    let marker = dir.join("marker.csv");
    let s = script(
        &dir,
        "long.daph",
        &format!(
            "for (i in 1:5) {{ print(i); }}\nwrite(fill(1.0, 1, 1), \"{}\");\ni = 0;\nwhile (i >= 0) {{ i = i + 1; }}\n",
            marker.display()
        ),
    );
    let child = Command::new(DAPHNE)
        .arg(&s)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("daphne starts");
    let started = Instant::now();
    while !marker.exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(marker.exists(), "the script did not get to its marker");
    let killed = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status();
    assert!(killed.is_ok_and(|s| s.success()));
    let out = child.wait_with_output().expect("daphne ends");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn sigterm_keeps_the_printed_lines_and_exits_143() {
    let (status, text) = signalled("TERM");
    assert_eq!((status, text.as_str()), (143, "1\n2\n3\n4\n5\n"));
}

#[test]
fn sigint_keeps_the_printed_lines_and_exits_130() {
    let (status, text) = signalled("INT");
    assert_eq!((status, text.as_str()), (130, "1\n2\n3\n4\n5\n"));
}

#[test]
fn daphnes_flags_are_accepted_with_one_warning_each() {
    let dir = scratch("flags");
    let s = script(&dir, "s.daph", "X = rand(300, 4, 0.0, 1.0, 1.0, 7);\nprint(sum(X * 2 + 1));\n");
    let plain = common::check(DAPHNE, &[&s]);
    assert_eq!(plain.status, 0, "{}", plain.stderr);
    assert_eq!(plain.stderr, "");
    // DAPHNE's launch-script flags, in DAPHNE's forms (`--flag`, `--flag=V`, `--flag V`).
    let ignored = [
        "--pin-workers",
        "--libdir=/opt/daphne/lib",
        "--statistics",
        "--vec-restricted",
        "--queue_layout",
        "PERCPU",
        "--victim_selection=RANDOM",
        "--phy-batch-size=4096",
        "--hyperthreading",
        "--debug-mt",
        "--pre-partition",
        "--no-obj-ref-mgnt",
        "--no-ipa-const-propa",
        "--no-phy-op-selection",
        "--columnar",
        "--optimistic-splitting",
        "--cuda",
        "--fpgaopencl",
        "--codegen",
        "--mlir-hybrid-codegen",
        "--matmul-vec-size-bits=256",
        "--matmul-tile",
        "--matmul-unroll-factor=2",
        "--matmul-unroll-jam-factor=4",
        "--matmul-num-vec-registers=16",
        "--matmul-fixed-tile-sizes=4,4",
        "--matmul-invert-loops",
        "--kernel-ext=ext.json",
        "--enable-property-recording",
        "--enable-property-insert",
        "--properties-file-path=p.json",
        "--enable-profiling",
        "--enable-hdfs",
        "--hdfs-ip=1.2.3.4:9000",
        "--hdfs-username=me",
    ];
    let implemented = [
        "--vec",
        "--num-threads",
        "2",
        "--grain-size=1",
        "--partitioning=GSS",
        "--select-matrix-repr",
        "--timing=false",
        "--distributed=false",
        "--args",
        "unused=1",
    ];
    let mut args: Vec<&str> = ignored.iter().chain(&implemented).copied().collect();
    args.push(&s);
    let out = common::check(DAPHNE, &args);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(out.stdout, plain.stdout, "the flags change no result");
    let warnings: Vec<&str> = out.stderr.lines().collect();
    let flags: Vec<&&str> = ignored.iter().filter(|a| a.starts_with("--")).collect();
    assert_eq!(warnings.len(), flags.len(), "{}", out.stderr);
    for flag in flags {
        let name = flag.split('=').next().unwrap_or(flag);
        assert_eq!(
            warnings
                .iter()
                .filter(|w| w.starts_with(&format!("daphne: warning: {name} has no effect in daphne-rs")))
                .count(),
            1,
            "{name}: {}",
            out.stderr
        );
    }
    // A switch set to false is DAPHNE's default: nothing to warn about.
    let out = common::check(DAPHNE, &["--pin-workers=false", "--cuda=0", &s]);
    assert_eq!((out.status, out.stderr.as_str()), (0, ""));
    // DAPHNE's values are checked as DAPHNE checks them.
    let out = common::check(DAPHNE, &["--queue_layout=SIDEWAYS", &s]);
    assert_eq!(out.status, 1, "{}", out.stderr);
}

#[test]
fn daphne_worker_serves_and_distributed_runs_need_no_other_binary() {
    let dir = scratch("worker");
    let s = script(
        &dir,
        "s.daph",
        "X = rand(2000, 20, 0.0, 1.0, 1.0, 3);\nY = X * 2 + 1;\nprint(sum(Y));\nprint(sum(Y, 1));\n",
    );
    let local = common::check(DAPHNE, &[&s]);
    assert_eq!(local.status, 0, "{}", local.stderr);

    // `daphne worker` serves a coordinator as `daphne-worker` does.
    let mut worker = Command::new(DAPHNE)
        .args(["worker", "127.0.0.1:0", "--num-threads=1", "--exit-with-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the worker starts");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(worker.stdout.take().expect("piped")), &mut line)
        .expect("the worker prints its address");
    let addr = line.trim().strip_prefix("Started Distributed Worker on ").expect("DAPHNE's start line").to_owned();
    let out = common::check_env(
        DAPHNE,
        &["--distributed", "--min-distr-cells=0", "--timing", &s],
        &[("DISTRIBUTED_WORKERS", &addr)],
    );
    let _ = worker.kill();
    let _ = worker.wait();
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(out.stdout, local.stdout);
    assert!(!out.stderr.contains("\"distributed_runs\":0"), "every pipeline ran on the worker: {}", out.stderr);

    // A `daphne` alone in a directory (as `cargo install` leaves it, or a release build without
    // `daphne-worker`) starts itself as its local workers.
    let alone = dir.join("bin");
    std::fs::create_dir_all(&alone).expect("a directory");
    let exe = alone.join("daphne");
    if std::fs::hard_link(DAPHNE, &exe).is_err() {
        std::fs::copy(DAPHNE, &exe).expect("daphne is copied");
    }
    let out = Command::new(&exe)
        .args(["--distributed", "--local-workers=2", "--min-distr-cells=0", &s])
        .env_remove("DISTRIBUTED_WORKERS")
        .env_remove("DAPHNE_AUTH_TOKEN")
        .output()
        .expect("daphne runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), local.stdout);

    // The worker's usage errors are DAPHNE's bad command line too.
    let out = common::check(DAPHNE, &["worker", "--no-such-flag"]);
    assert_eq!(out.status, 1);
    assert!(out.stderr.contains("Usage: daphne worker"), "{}", out.stderr);
    let out = common::check(DAPHNE, &["worker", "127.0.0.1:0", "--simulate=0"]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    // Simulated workers on ports past the last: refused before any serves.
    let out = common::check(DAPHNE, &["worker", "127.0.0.1:65534", "--simulate=3"]);
    assert_eq!((out.status, out.stdout.as_str()), (3, ""), "{}", out.stderr);
    assert!(out.stderr.contains("3 ports from 65534 pass the last port"), "{}", out.stderr);
}

#[test]
fn a_script_on_stdin_runs() {
    let text = "x = 6 * 7;\nprint(x);\nprint($n);\n";
    for args in [&["-", "n=5"][..], &["--args", "n=5"][..]] {
        // `daphne -`, and `daphne` with a pipe on stdin and no script (as `python`).
        let out = run_with_stdin(args, text);
        assert_eq!((out.status, out.stdout.as_str(), out.stderr.as_str()), (0, "42\n5\n", ""), "{args:?}");
    }
    let out = run_with_stdin(&["-"], "print(1);\nstop(\"here\");\n");
    assert_eq!(out.status, 3);
    assert_eq!(out.stdout, "1\n");
    assert!(out.stderr.contains("--> <stdin>:2:1"), "{}", out.stderr);
}

#[test]
fn the_interactive_mode_keeps_variables_through_a_pipe() {
    let entries = "\
x = 3
x + 1
y = x * 10;
sum(y) + undefined_name
y
def twice(a) {
  return a * 2;
}
twice(y)
def twice(a) { return a * 3; }
twice(y)
M = [1, 2, 3]
m = M @ M
if (x > 2) {
  print(\"big\");
} else {
  print(\"small\");
}
print(sum(M))
";
    let out = run_with_stdin(&["-i"], entries);
    assert_eq!(out.status, 0, "{}", out.stderr);
    // A function defined again replaces the earlier definition.
    assert_eq!(out.stdout, "4\n30\n60\n90\nbig\n6\n", "{}", out.stderr);
    // Errors end their entry, not the session.
    assert!(out.stderr.contains("variable `undefined_name` is not defined"), "{}", out.stderr);
    assert!(out.stderr.contains("`@` needs as many columns"), "{}", out.stderr);
    // What the interactive mode does not do, it says.
    let out = run_with_stdin(&["-i", "--timing"], "1 + 1\n");
    assert_eq!((out.status, out.stdout.as_str()), (0, "2\n"));
    assert!(out.stderr.contains("warning: --timing has no effect in the interactive mode"), "{}", out.stderr);
}

#[test]
fn the_interactive_mode_on_a_terminal_has_a_prompt_and_keeps_variables() {
    // The endless loop is interrupted by Ctrl-C (the session and `x` stay).
    let keys = [
        "x = 20\r",
        "x + 22\r",
        "for (i in 1:2) {\r",
        "print(x + i);\r",
        "}\r",
        "nope(\r",
        ")\r",
        "while (x > 0) { x = x + 1; }\r",
        "\x03",
        "x\r",
    ];
    let Some(chunks) = on_a_terminal(DAPHNE, &keys) else { return };
    let text = text_of(&chunks);
    assert!(text.contains("daphne> "), "no prompt: {text:?}");
    assert!(text.contains("...> "), "no continuation prompt: {text:?}");
    for want in ["\r\n42\r\n", "\r\n21\r\n22\r\n", "function `nope`", "error: interrupted"] {
        assert!(text.contains(want), "{want:?} missing from {text:?}");
    }
    let after = text.find("error: interrupted").map_or("", |at| &text[at..]);
    assert!(after.contains("\r\n20\r\n"), "the session did not go on with x = 20: {text:?}");
}

#[test]
fn a_terminal_sees_each_line_when_it_is_printed() {
    let dir = scratch("line-buffered");
    let s = script(
        &dir,
        "slow.daph",
        "print(\"first\");\ns = 0.0;\nfor (i in 1:200) { s = s + sum(rand(300, 300, 0.0, 1.0, 1.0, i)); }\nprint(\"last\");\n",
    );
    let Some(chunks) = on_a_terminal(&format!("{DAPHNE} --quiet {s}"), &[]) else { return };
    let at = |word: &str| chunks.iter().find(|(_, c)| c.contains(word)).map(|(t, _)| *t);
    let (first, last) = (at("first").expect("first is shown"), at("last").expect("last is shown"));
    // Buffered, `first` would come with `last` at the end of the run.
    assert!(last - first > Duration::from_millis(500), "`first` came with the end of the run: {first:?} {last:?}");
}

#[test]
fn the_progress_line_shows_on_a_terminal_for_a_slow_run_only() {
    let dir = scratch("progress");
    let s = script(
        &dir,
        "slow.daph",
        "print(\"go\");\ns = 0.0;\nfor (i in 1:250) { s = s + sum(rand(300, 300, 0.0, 1.0, 1.0, i) * 2 + 1); }\nprint(s > 0);\n",
    );
    // In a pipe: never.
    let out = common::check(DAPHNE, &[&s]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "");
    let Some(chunks) = on_a_terminal(&format!("{DAPHNE} {s}"), &[]) else { return };
    let text = text_of(&chunks);
    assert!(text.contains("pipelines done"), "no progress line: {text:?}");
    // Erased before the last output and at the end: the final text after the line is clean.
    let last = text.rfind("pipelines done").expect("drawn");
    assert!(text[last..].contains("\r\x1b[K1\r\n"), "the line is not erased before the output: {:?}", &text[last..]);
    // A distributed run adds the workers and the bytes moved.
    let Some(chunks) = on_a_terminal(&format!("{DAPHNE} --distributed --local-workers=2 --min-distr-cells=0 {s}"), &[])
    else {
        return;
    };
    let text = text_of(&chunks);
    assert!(text.contains("/2 workers busy, ") && text.contains(" moved"), "no workers on the line: {text:?}");
    // `--quiet` turns it off.
    let Some(chunks) = on_a_terminal(&format!("{DAPHNE} --quiet {s}"), &[]) else { return };
    assert!(!text_of(&chunks).contains("pipelines done"));
}
