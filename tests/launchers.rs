//! The Slurm launcher without Slurm: the processes `srun` would start, with the variables it
//! would set, on loopback. Task 0 runs the script over the others (through a scheduler file
//! on a shared directory, or the node list and fixed ports), prints what the local run prints,
//! and stops them; misuse gets clear errors.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{check, check_env};

const DAPHNE: &str = env!("CARGO_BIN_EXE_daphne");
const SCRIPT: &str = "run/distributed/resident.daph";

/// Starts task `procid` of `ntasks` with `args` (a worker task: it serves until stopped).
fn task(procid: usize, ntasks: usize, env: &[(&str, &str)], args: &[&str]) -> Child {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    Command::new(DAPHNE)
        .args(["--distributed", "--launcher=slurm"])
        .args(args)
        .arg(SCRIPT)
        .current_dir(tests)
        .env_remove("DISTRIBUTED_WORKERS")
        .env("SLURM_PROCID", procid.to_string())
        .env("SLURM_NTASKS", ntasks.to_string())
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("a task starts")
}

/// Waits for a worker task to exit (it must, once the coordinator is done), at most 20 s.
fn exits(mut child: Child) -> (i32, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            return (status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a worker task did not stop after its coordinator ended");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn slurm_run(ntasks: usize, env: &[(&str, &str)], flags: &[&str]) -> (common::Outcome, Vec<(i32, String)>) {
    let workers: Vec<Child> = (1..ntasks).map(|p| task(p, ntasks, env, flags)).collect();
    let (n, zero) = (ntasks.to_string(), "0".to_owned());
    let mut all_env: Vec<(&str, &str)> = vec![("SLURM_PROCID", &zero), ("SLURM_NTASKS", &n)];
    all_env.extend(env);
    let mut args = vec!["--distributed", "--launcher=slurm", "--min-distr-cells=0"];
    args.extend(flags);
    args.push(SCRIPT);
    let out = check_env(DAPHNE, &args, &all_env);
    (out, workers.into_iter().map(exits).collect())
}

#[test]
fn slurm_tasks_find_each_other_through_a_scheduler_file() {
    let dir = tempdir("sched");
    let file = dir.join("scheduler.json");
    let flag = format!("--scheduler-file={}", file.display());
    let local = check(DAPHNE, &[SCRIPT]);
    let (out, workers) = slurm_run(3, &[], &[&flag]);
    assert_eq!((out.status, &out.stdout, &out.stderr), (0, &local.stdout, &local.stderr));
    for (status, stdout) in workers {
        assert_eq!((status, stdout.as_str()), (0, ""), "a worker task prints nothing and exits 0");
    }
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "the announcements are removed: {left:?}");
}

#[test]
fn slurm_tasks_find_each_other_through_the_node_list() {
    let port = free_port_run(3);
    let port = port.to_string();
    let flag = format!("--worker-port={port}");
    let env = [("SLURM_STEP_NODELIST", "localhost"), ("SLURM_STEP_TASKS_PER_NODE", "3")];
    let local = check(DAPHNE, &[SCRIPT]);
    let (out, workers) = slurm_run(3, &env, &[&flag]);
    assert_eq!((out.status, &out.stdout, &out.stderr), (0, &local.stdout, &local.stderr));
    assert!(workers.iter().all(|(s, _)| *s == 0));
}

#[test]
fn a_coordinator_that_fails_early_still_stops_its_workers() {
    let dir = tempdir("fail");
    let flag = format!("--scheduler-file={}", dir.join("s").display());
    let worker = task(1, 2, &[], &[&flag]);
    let out = check_env(
        DAPHNE,
        &["--distributed", "--launcher=slurm", &flag, "err/unbalanced_parens.daph"],
        &[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "2")],
    );
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert_eq!(exits(worker).0, 0);
}

#[test]
fn slurm_misuse_is_a_clear_error() {
    let out = check(DAPHNE, &["--distributed", "--launcher=slurm", SCRIPT]);
    assert_eq!(out.status, 3);
    assert!(out.stderr.contains("SLURM_PROCID") && out.stderr.contains("srun"), "{}", out.stderr);
    let out = check_env(
        DAPHNE,
        &["--distributed", "--launcher=slurm", "--scheduler-file=/tmp/x", SCRIPT],
        &[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "1")],
    );
    assert_eq!(out.status, 3);
    assert!(out.stderr.contains("at least 2 tasks"), "{}", out.stderr);
    // Workers that never announce themselves: the wait ends, naming the file and the timeout.
    let dir = tempdir("never");
    let file = dir.join("sched");
    let started = Instant::now();
    let out = check_env(
        DAPHNE,
        &[
            "--distributed",
            "--launcher=slurm",
            &format!("--scheduler-file={}", file.display()),
            "--scheduler-timeout=1",
            SCRIPT,
        ],
        &[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "3")],
    );
    assert_eq!(out.status, 3, "{}", out.stderr);
    assert!(out.stderr.contains("tasks 1, 2") && out.stderr.contains(&file.display().to_string()), "{}", out.stderr);
    assert!(out.stderr.contains("1 s"), "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(10));
    // --launcher=static without a list.
    let out = check(DAPHNE, &["--distributed", "--launcher=static", SCRIPT]);
    assert_eq!(out.status, 3);
    assert!(out.stderr.contains("DISTRIBUTED_WORKERS"), "{}", out.stderr);
}

/// A fresh directory under the target directory.
fn tempdir(name: &str) -> std::path::PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("launchers-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A base port whose next `n` ports are free now.
fn free_port_run(n: u16) -> u16 {
    for _ in 0..100 {
        let base = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if base > 60000 {
            continue;
        }
        let all_free = (1..n).all(|i| std::net::TcpListener::bind(("0.0.0.0", base + i)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no free ports");
}

#[test]
fn deploy_script_starts_lists_and_stops_workers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempdir("deploy");
    let deploy = |args: &[&str]| {
        let out = Command::new("bash")
            .arg(root.join("deploy/workers.sh"))
            .args(args)
            .env("DAPHNE_WORKER", env!("CARGO_BIN_EXE_daphne-worker"))
            .env("DAPHNE_DEPLOY_DIR", &dir)
            .output()
            .expect("bash runs");
        assert!(out.status.success(), "workers.sh {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let export = deploy(&["start", "2"]);
    let list = export.trim().strip_prefix("export DISTRIBUTED_WORKERS=").expect("an export line").to_owned();
    assert_eq!(deploy(&["status"]).lines().count(), 2);
    let local = check(DAPHNE, &[SCRIPT]);
    let out = check_env(DAPHNE, &["--distributed", "--min-distr-cells=0", SCRIPT], &[("DISTRIBUTED_WORKERS", &list)]);
    assert_eq!((out.status, &out.stdout), (0, &local.stdout), "{}", out.stderr);
    deploy(&["stop"]);
    assert_eq!(deploy(&["status"]), "");
}
