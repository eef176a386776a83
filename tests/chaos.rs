//! Faults injected into distributed runs: a worker killed with SIGKILL at a random iteration
//! of a 30-iteration loop on 3 workers, one stopped with SIGTERM (it drains: finishes its call,
//! then exits), and a worker joining midway; the output equals the local run every time (lost
//! partitions are computed again on the survivors from their lineage). When no worker is left
//! the script fails with a clear error (exit 3).

mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Workers, check};

const DAPHNE: &str = env!("CARGO_BIN_EXE_daphne");
const SCRIPT: &str = "chaos/loop.daph";

/// Runs the chaos script on `workers`, killing worker `victim` once iteration `k` printed.
fn run_and_kill(workers: &mut Workers, n: usize, victim: usize, k: usize) -> (i32, String, String) {
    run_with(workers, n, &[], k, |w, _, _| w.kill(victim))
}

/// The seed of the tests' random choices: `DAPHNE_CHAOS_SEED` when set (to replay a failure),
/// else drawn from the clock. Every failure message says how to replay it.
fn seed() -> u64 {
    match std::env::var("DAPHNE_CHAOS_SEED") {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("DAPHNE_CHAOS_SEED={v} is not a number")),
        Err(_) => u64::from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()),
    }
}

/// How to run a test again with the same random choices.
fn replay(seed: u64, test: &str) -> String {
    format!("replay with: DAPHNE_CHAOS_SEED={seed} cargo test --test chaos {test}")
}

/// The 30-iteration loop run locally.
fn local() -> common::Outcome {
    check(DAPHNE, &[SCRIPT, "n=30"])
}

/// Runs the chaos script (or the `.daph` file among `flags`) on the first `n` of `workers` with
/// `flags` (those of the form `name=value` go to the script, `n=ITERATIONS` 30 without),
/// calling `at_k` once iteration `k` printed, with the address where the run accepts joins
/// (empty unless it printed one: `--accept-joins` of port 0).
fn run_with(
    workers: &mut Workers,
    n: usize,
    flags: &[&str],
    k: usize,
    mut at_k: impl FnMut(&mut Workers, &str, u32),
) -> (i32, String, String) {
    let mut child = Command::new(DAPHNE)
        .args(["--distributed", "--min-distr-cells=0", "--heartbeat-timeout=2"])
        .args(flags.iter().filter(|f| f.starts_with("--")))
        .arg(flags.iter().find(|f| f.ends_with(".daph")).copied().unwrap_or(SCRIPT))
        .args(flags.iter().filter(|f| !f.starts_with("--") && !f.ends_with(".daph")))
        .args(flags.iter().all(|f| !f.starts_with("n=")).then_some("n=30"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"))
        .env("DISTRIBUTED_WORKERS", workers.list(n))
        .env_remove("DAPHNE_AUTH_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("daphne starts");
    let stderr = child.stderr.take().expect("piped");
    let mut err = String::new();
    let mut joins_at = String::new();
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.expect("stderr");
        if let Some(at) = line.strip_prefix("daphne: workers may join at ") {
            joins_at = at.trim().to_owned();
        }
        if line.trim() == k.to_string() {
            at_k(workers, &joins_at, child.id());
        }
        err.push_str(&line);
        err.push('\n');
    }
    let out = child.wait_with_output().expect("daphne ends");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), err)
}

#[test]
fn a_worker_killed_mid_loop_changes_nothing() {
    let local = local();
    assert_eq!(local.status, 0, "{}", local.stderr);
    // A random iteration, and the worker it hits.
    let seed = seed();
    let replay = replay(seed, "a_worker_killed_mid_loop_changes_nothing");
    eprintln!("seed {seed} ({replay})");
    for round in 0..2u64 {
        let k = (2 + (seed / (round + 1)) % 18) as usize;
        let victim = ((seed + round) % 3) as usize;
        let mut workers = Workers::start(3, 1);
        let (status, stdout, stderr) = run_and_kill(&mut workers, 3, victim, k);
        assert_eq!(
            (status, &stdout),
            (0, &local.stdout),
            "worker {victim} killed at iteration {k}; {replay}:\n{stderr}"
        );
        assert!(stderr.contains("stopped answering"), "the kill at iteration {k} came too late; {replay}:\n{stderr}");
    }
}

#[test]
fn a_relay_killed_mid_loop_changes_nothing() {
    // Tasks through trees of fanout 2 over 5 workers: worker 0 relays to workers 1 and 2, and
    // worker 3 to worker 4. Killing a relay fails its subtree's tasks; the survivors are
    // pinged, the dead one dropped, and the loop goes on through the trees of the 4 left.
    let local = local();
    assert_eq!(local.status, 0, "{}", local.stderr);
    let seed = seed();
    let replay = replay(seed, "a_relay_killed_mid_loop_changes_nothing");
    eprintln!("seed {seed} ({replay})");
    let k = (2 + seed % 18) as usize;
    let victim = [0, 3][(seed % 2) as usize];
    let mut workers = Workers::start(5, 1);
    let flags = ["--tree-above=1", "--tree-fanout=2"];
    let (status, stdout, stderr) = run_with(&mut workers, 5, &flags, k, |w, _, _| w.kill(victim));
    assert_eq!((status, &stdout), (0, &local.stdout), "relay {victim} killed at iteration {k}; {replay}:\n{stderr}");
    assert!(stderr.contains("stopped answering"), "the kill at iteration {k} came too late; {replay}:\n{stderr}");
}

#[test]
fn a_frame_read_on_a_worker_killed_is_read_again_by_the_others() {
    // A frame of 3000 rows read on 3 workers, its columns made a matrix at every iteration; a
    // worker killed midway: its rows of every column are read again from the file.
    let dir = common::scratch("chaos-frame");
    let file = dir.join("f.csv");
    common::write_frame_rows(&file, 0..3000, &[]);
    std::fs::write(dir.join("f.csv.meta"), common::FRAME_META).expect("a meta file");
    let f = format!("f=\"{}\"", file.display());
    let local = check(DAPHNE, &["chaos/frame.daph", "n=30", &f]);
    assert_eq!(local.status, 0, "{}", local.stderr);
    let seed = seed();
    let replay = replay(seed, "a_frame_read_on_a_worker_killed_is_read_again_by_the_others");
    let (k, victim) = ((2 + seed % 18) as usize, (seed % 3) as usize);
    let mut workers = Workers::start(3, 1);
    let flags = ["chaos/frame.daph", f.as_str(), "--timing"];
    let (status, stdout, stderr) = run_with(&mut workers, 3, &flags, k, |w, _, _| w.kill(victim));
    assert_eq!((status, &stdout), (0, &local.stdout), "worker {victim} killed at iteration {k}; {replay}:\n{stderr}");
    assert!(stderr.contains("stopped answering"), "the kill at iteration {k} came too late; {replay}:\n{stderr}");
    assert!(stderr.contains("\"created_frames\":1,"), "{replay}:\n{stderr}");
    // The lost rows were read again (a column each).
    assert!(!stderr.contains("\"rebuilt_pipelines\":0,"), "{replay}:\n{stderr}");
}

#[test]
fn with_no_worker_left_the_script_fails_clearly() {
    let mut workers = Workers::start(1, 1);
    let (status, stdout, stderr) = run_and_kill(&mut workers, 1, 0, 3);
    assert_eq!(status, 3, "{stdout}{stderr}");
    assert!(stderr.contains("no distributed worker is left"), "{stderr}");
}

#[test]
fn a_worker_stopped_with_sigterm_drains_and_changes_nothing() {
    let local = local();
    let mut workers = Workers::start(3, 1);
    let (status, stdout, stderr) = run_with(&mut workers, 3, &[], 7, |w, _, _| w.terminate(1));
    assert_eq!((status, &stdout), (0, &local.stdout), "{stderr}");
    assert!(stderr.contains("stopped answering"), "{stderr}");
}

/// A run's `--accept-joins` flag (port 0: the run binds a free port and says which on
/// stderr, which `run_with` hands to its callback), and an `--auth-token-file` flag for
/// `token` (joins need the run's token, as every call does).
fn joins(token: &str) -> (&'static str, String) {
    static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("join-token-{}-{n}", std::process::id()));
    std::fs::write(&file, format!("{token}\n")).unwrap();
    ("--accept-joins=127.0.0.1:0", format!("--auth-token-file={}", file.display()))
}

#[test]
fn a_worker_joining_midway_takes_partitions() {
    let local = local();
    let (accept, token) = joins("join-token");
    let mut workers = Workers::start_with(2, 1, &[&token], &[], None);
    let mut joined: Option<Workers> = None;
    let (status, stdout, stderr) = run_with(&mut workers, 2, &[accept, &token], 5, |_, at, _| {
        assert!(!at.is_empty(), "the run did not say where it accepts joins");
        joined = Some(Workers::start_with(1, 1, &["--join", at, &token], &[], None));
        // Give the join call time to arrive before the next iterations.
        std::thread::sleep(std::time::Duration::from_millis(300));
    });
    assert_eq!((status, &stdout), (0, &local.stdout), "{stderr}");
    assert!(stderr.contains("joined"), "{stderr}");
    let joined = joined.expect("the worker started");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let tasks = rt.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", joined.addrs[0]))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let attach = daphne_distributed::auth::Attach::new(Some("join-token")).unwrap();
        let mut c = daphne_distributed::proto::worker_client::WorkerClient::with_interceptor(channel, attach);
        c.info(daphne_distributed::proto::InfoRequest {}).await.unwrap().into_inner().tasks
    });
    assert!(tasks > 0, "the joined worker ran no task");
}

#[test]
fn accepting_joins_needs_a_token_or_insecure() {
    let workers = Workers::start(1, 1);
    let out = common::check_env(
        DAPHNE,
        &["--distributed", "--min-distr-cells=0", "--accept-joins=127.0.0.1:0", SCRIPT, "n=2"],
        &[("DISTRIBUTED_WORKERS", &workers.list(1))],
    );
    assert_eq!(out.status, 3, "{}", out.stderr);
    assert!(out.stderr.contains("--accept-joins needs an auth token"), "{}", out.stderr);
    assert_eq!(out.stdout, "", "nothing ran");
    let out = common::check_env(
        DAPHNE,
        &["--distributed", "--min-distr-cells=0", "--accept-joins=127.0.0.1:0", "--insecure", SCRIPT, "n=2"],
        &[("DISTRIBUTED_WORKERS", &workers.list(1))],
    );
    assert_eq!(out.status, 0, "{}", out.stderr);
    // No tokio panic at exit (a runtime dropped inside another).
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[test]
fn a_worker_that_stops_answering_is_noticed_by_heartbeats() {
    let local = local();
    let mut workers = Workers::start_with(3, 1, &["--session-timeout=3"], &[], None);
    let started = std::time::Instant::now();
    let (status, stdout, stderr) = run_with(&mut workers, 3, &[], 6, |w, _, _| w.freeze(2));
    assert_eq!((status, &stdout), (0, &local.stdout), "{stderr}");
    assert!(stderr.contains("stopped answering"), "{stderr}");
    // Noticed within a few heartbeats (2 s here), not by a TCP timeout of minutes.
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "took {:?}", started.elapsed());
    // Resumed, the dropped worker keeps nothing of the run (its session was not renewed).
    workers.thaw(2);
    let objects = || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut c =
                daphne_distributed::proto::worker_client::WorkerClient::connect(format!("http://{}", workers.addrs[2]))
                    .await
                    .unwrap();
            c.info(daphne_distributed::proto::InfoRequest {}).await.unwrap().into_inner().objects
        })
    };
    let resumed = std::time::Instant::now();
    while objects() > 0 {
        assert!(resumed.elapsed() < std::time::Duration::from_secs(20), "a resumed worker kept its objects");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn a_worker_killed_after_a_checkpoint_is_rebuilt_from_it() {
    // Lineages are checkpointed every 32 steps: iteration 40's partitions are rebuilt from
    // the checkpoint at 32 (a lineage of some 8 pipelines), not from the start (some 40).
    let local = check(DAPHNE, &[SCRIPT, "n=45"]);
    let mut workers = Workers::start(3, 1);
    let (status, stdout, stderr) = run_with(&mut workers, 3, &["n=45", "--timing"], 40, |w, _, _| w.kill(0));
    assert_eq!((status, &stdout), (0, &local.stdout), "{stderr}");
    assert!(stderr.contains("stopped answering"), "{stderr}");
    let timing = |key: &str| -> u64 {
        stderr
            .split(&format!("\"{key}\":"))
            .nth(1)
            .and_then(|r| r.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok())
            .unwrap_or_else(|| panic!("--timing reports {key}:\n{stderr}"))
    };
    // The longest lineage run again starts after the checkpoint at 32 (the run ends at 45).
    let depth = timing("rebuilt_depth");
    assert!(
        (1..=13).contains(&depth),
        "recovery replayed a lineage of {depth} pipelines, not from the checkpoint:\n{stderr}"
    );
    assert!(timing("rebuilt_pipelines") >= depth, "{stderr}");
}

#[test]
fn a_worker_restarted_on_its_port_is_rebuilt_from_lineage() {
    let local = local();
    let mut workers = Workers::start(3, 1);
    // Killed and started again on the same port at once: it answers health checks, but as
    // another instance, holding nothing.
    // The coordinator is stopped meanwhile (SIGSTOP), so the new instance listens before the
    // coordinator's next call: the worker's own pipelines are fast enough that the coordinator
    // would otherwise find the port closed and, rightly, drop the worker as dead.
    let signal = |sig: &str, pid: u32| {
        let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
    };
    let (status, stdout, stderr) = run_with(&mut workers, 3, &[], 6, |w, _, coordinator| {
        signal("-STOP", coordinator);
        w.restart(1);
        signal("-CONT", coordinator);
    });
    assert_eq!((status, &stdout), (0, &local.stdout), "{stderr}");
    assert!(stderr.contains("restarted"), "{stderr}");
}

/// A TCP proxy in front of one worker that resets its first connection once that has carried
/// `cut_after` bytes towards the worker: a call in flight breaks, as on a flaky network or
/// behind a load balancer, while the worker stays healthy.
struct Proxy {
    addr: String,
    cuts: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Proxy {
    fn to(target: &str, cut_after: usize) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let cuts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (target, counted) = (target.to_owned(), cuts.clone());
        std::thread::spawn(move || {
            for (k, client) in listener.incoming().enumerate() {
                let Ok(client) = client else { return };
                let Ok(server) = std::net::TcpStream::connect(&target) else { continue };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                // Worker to client: as it comes.
                std::thread::spawn(move || {
                    let (mut from, mut to) = (s2, c2);
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
                let counted = counted.clone();
                std::thread::spawn(move || {
                    use std::io::{Read, Write};
                    let (mut from, mut to) = (client, server);
                    let mut buf = vec![0u8; 64 << 10];
                    let mut carried = 0usize;
                    loop {
                        let n = match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        carried += n;
                        if k == 0 && carried > cut_after {
                            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            break;
                        }
                    }
                    let _ = from.shutdown(std::net::Shutdown::Both);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Proxy { addr, cuts }
    }
}

#[test]
fn a_reset_connection_to_a_live_worker_is_retried() {
    // A matrix made here, so its rows are stored (the large ones of `loop.daph` are born on
    // the workers).
    const HELD: &str = "chaos/held.daph";
    let local = check(DAPHNE, &[HELD, "n=30"]);
    let workers = Workers::start(2, 1);
    // Cut in the middle of storing the first input (16 MB go to this worker).
    let proxy = Proxy::to(&workers.addrs[0], 4 << 20);
    let list = format!("{},{}", proxy.addr, workers.addrs[1]);
    let out = common::check_env(
        DAPHNE,
        &["--distributed", "--min-distr-cells=0", "--heartbeat-timeout=2", HELD, "n=30"],
        &[("DISTRIBUTED_WORKERS", &list)],
    );
    assert_eq!(proxy.cuts.load(std::sync::atomic::Ordering::Relaxed), 1, "the connection was not cut");
    assert_eq!((out.status, &out.stdout), (0, &local.stdout), "{}", out.stderr);
    // The worker stayed: nothing moved, the call was tried again.
    assert!(!out.stderr.contains("stopped answering"), "{}", out.stderr);
}

#[test]
fn joiners_that_do_not_serve_are_refused_without_touching_the_run() {
    let local = local();
    let (accept, token) = joins("join-token");
    let mut workers = Workers::start_with(2, 1, &[&token], &[], None);
    let mut answers = Vec::new();
    let (status, stdout, stderr) = run_with(&mut workers, 2, &[accept, &token], 3, |_, at, _| {
        // Ten fake joiners: addresses where nothing serves. Each was queued and cost the run a
        // 3 s connect attempt; now each is probed first and refused.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let channel =
                tonic::transport::Endpoint::from_shared(format!("http://{at}")).unwrap().connect().await.unwrap();
            let attach = daphne_distributed::auth::Attach::new(Some("join-token")).unwrap();
            let mut c =
                daphne_distributed::proto::coordinator_client::CoordinatorClient::with_interceptor(channel, attach);
            for _ in 0..10 {
                // An address nothing serves (the listener that had it is gone).
                let address = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
                let r = c.join(daphne_distributed::proto::JoinRequest { address }).await;
                answers.push(r.map(|_| ()).map_err(|s| s.code()));
            }
        });
    });
    assert_eq!((status, &stdout), (0, &local.stdout), "{stderr}");
    assert!(!stderr.contains("joined"), "{stderr}");
    assert!(answers.iter().all(|a| *a == Err(tonic::Code::FailedPrecondition)), "{answers:?}");
}
