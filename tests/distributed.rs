//! The distributed runtime end to end, with real `daphne-worker` processes on 127.0.0.1.
//!
//! - Every script of `tests/run/` prints the same bytes (both streams) and exits the same way
//!   with `--distributed` on 1, 2 and 3 workers, with tiny chunks, and with both backends
//!   (`--min-distr-cells=0`: every pipeline goes to the workers, which `--timing` confirms).
//! - Without `DISTRIBUTED_WORKERS`, `--distributed` starts its own workers.
//! - An unreachable worker is named in an error within a few seconds (exit 3).
//! - A worker answers garbage with errors and keeps serving (tasks, stores, fetches, rows to
//!   make, scans).
//! - Large generated matrices are born on the workers, and pipelines over them run there; so
//!   do the examples' algorithms at scale (`bench/dist/`), with more than 99% of the cell work.
//! - Objects are freed on the workers: a 1000-iteration loop keeps them flat.
//! - `--no-vec` reaches the workers.

mod common;

use std::time::{Duration, Instant};

use common::{FRAME_META, Workers, check, check_env, scratch, write_frame_parts, write_frame_rows};
use daphne_distributed::proto::worker_client::WorkerClient;
use daphne_distributed::proto::{self, InfoRequest};
use daphne_runtime::value::{Scalar, Value};

const DAPHNE: &str = env!("CARGO_BIN_EXE_daphne");

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
}

async fn client(addr: &str) -> WorkerClient<tonic::transport::Channel> {
    WorkerClient::connect(format!("http://{addr}")).await.expect("the worker accepts connections")
}

fn info(addr: &str) -> proto::WorkerInfo {
    rt().block_on(async { client(addr).await.info(InfoRequest {}).await.expect("info answers").into_inner() })
}

#[test]
fn the_corpus_prints_the_same_bytes_distributed() {
    let workers = Workers::start(3, 1);
    // The first variant also reports where its pipelines ran (`--timing`, its JSON line taken
    // off stderr before the comparison).
    let variants: Vec<(usize, Vec<&str>)> = vec![
        (1, vec!["--timing"]),
        (2, vec![]),
        (3, vec!["--dist_backend=sync-gRPC", "--max-distr-chunk-size=64"]),
        (2, vec!["--dist_backend=async-gRPC", "--max-distr-chunk-size=7"]),
    ];
    let on_workers = std::sync::atomic::AtomicUsize::new(0);
    let failures = common::across_the_corpus(|rel, args| {
        let local = check(DAPHNE, args);
        let mut found = Vec::new();
        for (n, flags) in &variants {
            let mut all = vec!["--distributed", "--min-distr-cells=0"];
            all.extend(flags);
            all.extend(args);
            let list = workers.list(*n);
            let mut other = check_env(DAPHNE, &all, &[("DISTRIBUTED_WORKERS", &list)]);
            if flags.contains(&"--timing") {
                let (runs, distributed) = take_timing(&mut other);
                // With `--min-distr-cells=0` every pipeline of the corpus goes to the workers
                // (none has a frame or list operand), except that a pipeline that fails there
                // runs again here to report its error exactly (the run then fails). Another
                // one that ran here means distribution stopped happening, which the byte
                // comparison alone cannot see.
                let failed_here = u64::from(other.status != 0);
                if runs.saturating_sub(distributed) > failed_here {
                    found.push(format!("{rel}: {distributed} of {runs} pipeline runs were on a worker"));
                }
                if distributed > 0 {
                    on_workers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            found.extend(differs(&format!("{rel} on {n} workers {}", flags.join(" ")), &other, &local));
        }
        found
    });
    assert!(failures.is_empty(), "{} failures:\n\n{}", failures.len(), failures.join("\n\n"));
    // 49 scripts run pipelines today; the check above is not vacuous.
    let on_workers = on_workers.into_inner();
    assert!(on_workers >= 40, "only {on_workers} scripts ran a pipeline on a worker");
    every_worker_ran_and_freed(&workers);
}

/// Every worker ran a task, and holds nothing now that every run ended (each freed what it
/// stored).
fn every_worker_ran_and_freed(workers: &Workers) {
    for addr in &workers.addrs {
        let i = info(addr);
        assert!(i.tasks > 0, "worker {addr} of {} ran no task", workers.addrs.len());
        assert_eq!(i.objects, 0, "worker {addr} still holds objects after every run ended");
    }
}

/// What differs between a run and the local one, for a failure report.
fn differs(what: &str, other: &common::Outcome, local: &common::Outcome) -> Option<String> {
    if (other.status, &other.stdout, &other.stderr) == (local.status, &local.stdout, &local.stderr) {
        return None;
    }
    Some(format!(
        "{what}: status {} (local {}), stdout:\n{}--- local:\n{}stderr:\n{}--- local:\n{}",
        other.status, local.status, other.stdout, local.stdout, other.stderr, local.stderr
    ))
}

#[test]
fn without_a_worker_list_local_workers_are_started() {
    let script = "run/distributed/resident.daph";
    let local = check(DAPHNE, &[script]);
    assert_eq!(local.status, 0, "{}", local.stderr);
    for n in ["1", "3"] {
        let dist = check(DAPHNE, &["--distributed", &format!("--local-workers={n}"), "--min-distr-cells=0", script]);
        assert_eq!((dist.status, &dist.stdout, &dist.stderr), (0, &local.stdout, &local.stderr), "{n} local workers");
    }
}

#[test]
fn an_unreachable_worker_is_named_within_seconds() {
    // A port nobody listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let gone = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let out = check_env(DAPHNE, &["--distributed", "run/distributed/resident.daph"], &[("DISTRIBUTED_WORKERS", &gone)]);
    assert_eq!(out.status, 3, "{}", out.stderr);
    assert!(out.stderr.contains(&gone), "the error names the worker: {}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    // A blackholed address (no answer at all) times out instead of hanging.
    let started = Instant::now();
    let out = check_env(
        DAPHNE,
        &["--distributed", "run/distributed/resident.daph"],
        &[("DISTRIBUTED_WORKERS", "10.255.255.1:9")],
    );
    assert_eq!(out.status, 3, "{}", out.stderr);
    assert!(out.stderr.contains("10.255.255.1:9"), "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[test]
fn a_worker_answers_garbage_with_errors_and_keeps_serving() {
    let workers = Workers::start(1, 1);
    let addr = workers.addrs[0].clone();
    rt().block_on(async {
        // Raw bytes that are not HTTP/2 at all.
        {
            use tokio::io::AsyncWriteExt;
            let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let _ = s.write_all(b"GET / HTTP/1.1\r\n\r\n\x00\xff garbage").await;
        }
        let mut c = client(&addr).await;
        let inline = |b: Vec<u8>| proto::Input { source: Some(proto::input::Source::Inline(b.into())) };
        let task = |pipeline: Vec<u8>, inputs| proto::Task {
            pipeline: pipeline.into(),
            inputs,
            block_rows: 256,
            group_rows: 256,
            inline_limit: 1 << 20,
            keep_rows: true,
            vectorize: true,
            partitioning: proto::Partitioning::Static as i32,
            grain_rows: 1,
            first_group: 0,
            total_groups: 0,
            relay: Vec::new(),
            free: Vec::new(),
        };
        // Invalid IR, an unknown object, a malformed inline value.
        let e = c.compute(task(vec![1, 2, 3, 4], vec![])).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
        let e = c
            .compute(task(vec![], vec![proto::Input { source: Some(proto::input::Source::Object(77)) }]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
        let e = c.compute(task(vec![0; 10], vec![inline(vec![1, 9, 9])])).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
        // Chunks that do not fit together; a huge declared size; a truncated value.
        let chunk = |object, total_bytes, offset, data: Vec<u8>| proto::Chunk {
            object,
            total_bytes,
            offset,
            data: data.into(),
            forward: Vec::new(),
        };
        use tonic::Code::{InvalidArgument, ResourceExhausted};
        for (chunks, code) in [
            (vec![chunk(1, 10, 0, vec![1; 5]), chunk(1, 10, 7, vec![1; 3])], InvalidArgument),
            // More than any memory: refused before a second chunk comes.
            (vec![chunk(2, u64::MAX, 0, vec![1; 5])], ResourceExhausted),
            (vec![chunk(3, 4, 0, vec![1, 1, 0, 0])], InvalidArgument),
            (vec![chunk(4, 2, 0, vec![1; 5])], InvalidArgument),
            (vec![], InvalidArgument),
        ] {
            let e = c.store(tokio_stream::iter(chunks)).await.unwrap_err();
            assert_eq!(e.code(), code, "{e:?}");
        }
        let Err(e) = c.fetch(proto::FetchRequest { object: 123, max_chunk_bytes: 10, rows: None }).await else {
            panic!("fetching an unknown object succeeded");
        };
        assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
        // Rows made from nothing, from garbage, beyond the matrix, or too many for memory.
        let generate = |kind: proto::GenerateKind, scalars: Vec<Vec<u8>>, seed| proto::Generate {
            kind: kind as i32,
            rows: 10,
            cols: 2,
            scalars: scalars.into_iter().map(Into::into).collect(),
            sparsity: 1.0,
            seed,
        };
        let number = |x: f64| daphne_distributed::codec::encode(&Value::Scalar(Scalar::F64(x))).unwrap();
        let create = |g: Option<proto::Generate>, first_row, rows| proto::CreateTask {
            object: 5,
            first_row,
            rows,
            source: g.map(proto::create_task::Source::Generate),
            start: None,
            columns: Vec::new(),
        };
        use proto::GenerateKind::{Fill, Rand, Unspecified as GenerateKindUnspecified};
        for (task, code) in [
            (create(None, 0, 1), InvalidArgument),
            (create(Some(generate(GenerateKindUnspecified, vec![number(1.0)], 0)), 0, 1), InvalidArgument),
            (create(Some(generate(Rand, vec![number(0.0), number(1.0)], -1)), 0, 1), InvalidArgument),
            (create(Some(generate(Rand, vec![number(0.0)], 3)), 0, 1), InvalidArgument),
            (create(Some(generate(Rand, vec![number(0.0), vec![1, 9]], 3)), 0, 1), InvalidArgument),
            (create(Some(generate(Fill, vec![number(1.0)], 0)), 8, 5), InvalidArgument),
            (create(Some(generate(Fill, vec![number(1.0)], 0)), u64::MAX, 5), InvalidArgument),
            (
                create(
                    Some(proto::Generate { rows: u64::MAX >> 2, ..generate(Fill, vec![number(1.0)], 0) }),
                    0,
                    u64::MAX >> 3,
                ),
                tonic::Code::Aborted,
            ),
        ] {
            let e = c.create(task.clone()).await.unwrap_err();
            assert_eq!(e.code(), code, "{task:?}: {e:?}");
        }
        // Rows of a file that is not there, or of a value type the codec does not have.
        let read = |path: &str, value_type| proto::CreateTask {
            object: 6,
            first_row: 0,
            rows: 1,
            source: Some(proto::create_task::Source::Read(proto::ReadRows {
                path: path.into(),
                value_type,
                cols: 2,
                anchored: true,
                ..Default::default()
            })),
            start: None,
            columns: Vec::new(),
        };
        // A frame whose labels are not one per column.
        let mut frame = read("/nonexistent.csv", 1);
        if let Some(proto::create_task::Source::Read(r)) = &mut frame.source {
            r.labels = vec!["a".into()];
            r.schema = vec![1, 1];
        }
        for task in [read("/nonexistent.csv", 1), read("/nonexistent.parquet", 1), read("/nonexistent.csv", 99), frame]
        {
            let e = c.create(task.clone()).await.unwrap_err();
            assert_eq!(e.code(), tonic::Code::Aborted, "{task:?}: {e:?}");
        }
        // Frame columns converted that the worker does not hold, or to no value type.
        let convert = |columns: Vec<u64>, value_type| proto::CreateTask {
            object: 7,
            first_row: 0,
            rows: 1,
            source: Some(proto::create_task::Source::Convert(proto::Convert { columns, value_type })),
            start: None,
            columns: Vec::new(),
        };
        for (task, code) in [(convert(vec![12345], 1), tonic::Code::NotFound), (convert(vec![], 99), InvalidArgument)] {
            let e = c.create(task.clone()).await.unwrap_err();
            assert_eq!(e.code(), code, "{task:?}: {e:?}");
        }
        let scan = |piece, pieces| proto::ScanRequest {
            path: "/nonexistent".into(),
            header: false,
            delimiter: 44,
            piece,
            pieces,
        };
        assert_eq!(c.scan(scan(3, 2)).await.unwrap_err().code(), InvalidArgument);
        assert_eq!(c.scan(scan(0, 2)).await.unwrap_err().code(), tonic::Code::Aborted);
        // A good one is kept.
        let made = c.create(create(Some(generate(Fill, vec![number(1.5)], 0)), 2, 3)).await.unwrap().into_inner();
        assert_eq!(made.kept.map(|k| (k.object, k.rows, k.cols)), Some((5, 3, 2)));
        let i = c.info(InfoRequest {}).await.expect("still serving").into_inner();
        assert_eq!(i.objects, 1);
        c.free(proto::FreeRequest { objects: vec![5], end_session: false }).await.unwrap();
    });
    // And it still runs scripts.
    let local = check(DAPHNE, &["run/distributed/resident.daph"]);
    let dist = check_env(
        DAPHNE,
        &["--distributed", "--min-distr-cells=0", "run/distributed/resident.daph"],
        &[("DISTRIBUTED_WORKERS", &addr)],
    );
    assert_eq!((dist.status, &dist.stdout), (0, &local.stdout), "{}", dist.stderr);
}

#[test]
fn a_long_loop_keeps_worker_memory_flat() {
    let workers = Workers::start(2, 1);
    let list = workers.list(2);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (peak_objects, peak_bytes, out) = std::thread::scope(|s| {
        let poll = s.spawn(|| {
            let (mut objects, mut bytes) = (0u64, 0u64);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (o, b) =
                    workers.addrs.iter().map(|a| info(a)).fold((0, 0), |(o, b), i| (o + i.objects, b + i.object_bytes));
                objects = objects.max(o);
                bytes = bytes.max(b);
                std::thread::sleep(Duration::from_millis(5));
            }
            (objects, bytes)
        });
        let out = check_env(
            DAPHNE,
            &["--distributed", "--min-distr-cells=0", "run/distributed/loop.daph", "n=1000"],
            &[("DISTRIBUTED_WORKERS", &list)],
        );
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (o, b) = poll.join().unwrap();
        (o, b, out)
    });
    let local = check(DAPHNE, &["run/distributed/loop.daph", "n=1000"]);
    assert_eq!((out.status, &out.stdout), (0, &local.stdout), "{}", out.stderr);
    // One iteration holds X (2000 x 10 doubles, 160 KB) and its successor: a few objects
    // per worker at any time, never one per iteration.
    assert!(peak_objects <= 16, "workers held up to {peak_objects} objects");
    assert!(peak_bytes <= 1_000_000, "workers held up to {peak_bytes} bytes");
    for a in &workers.addrs {
        assert_eq!(info(a).objects, 0, "{a} holds objects after the run");
    }
}

#[test]
#[cfg(not(feature = "mpi"))]
fn the_mpi_backend_in_a_build_without_it_is_a_clear_error() {
    let out = check(DAPHNE, &["--distributed", "--dist_backend=MPI", "run/distributed/resident.daph"]);
    assert_eq!(out.status, 3, "{}", out.stderr);
    assert!(out.stderr.contains("--features mpi"), "{}", out.stderr);
}

#[test]
fn compiler_options_reach_the_workers() {
    for (flag, compiled) in [("--no-vec", false), ("--vec", true)] {
        let workers = Workers::start(1, 1);
        let out = check_env(
            DAPHNE,
            &["--distributed", "--min-distr-cells=0", flag, "run/distributed/resident.daph"],
            &[("DISTRIBUTED_WORKERS", &workers.addrs[0])],
        );
        assert_eq!(out.status, 0, "{}", out.stderr);
        let i = info(&workers.addrs[0]);
        assert!(i.tasks > 0);
        assert_eq!(i.kernels > 0, compiled, "{flag}: the worker compiled {} kernels", i.kernels);
    }
}

/// Takes `--timing`'s JSON line out of a run's stderr (the last line, or the one before the
/// error of a run that failed): (pipeline runs, runs on workers); (0, 0) when the run printed
/// none (it failed before running).
fn take_timing(out: &mut common::Outcome) -> (u64, u64) {
    let Some(start) = out.stderr.rfind("{\"startup_seconds\"") else {
        return (0, 0);
    };
    if start > 0 && !out.stderr[..start].ends_with('\n') {
        return (0, 0);
    }
    let end = out.stderr[start..].find('\n').map_or(out.stderr.len(), |i| start + i + 1);
    let line: String = out.stderr.drain(start..end).collect();
    let timing = common::Outcome { status: out.status, stdout: String::new(), stderr: line };
    let (distributed, runs) = where_run(&timing);
    (runs, distributed)
}

/// Where pipelines ran, from `--timing`'s pipelines (not its other ops): (runs on workers,
/// runs).
fn where_run(out: &common::Outcome) -> (u64, u64) {
    let pipelines =
        out.stderr.split("\"pipelines\": [").nth(1).and_then(|r| r.split("\"ops\": [").next()).unwrap_or("");
    let count = |key: &str| -> u64 {
        pipelines
            .split(key)
            .skip(1)
            .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse::<u64>().unwrap_or(0))
            .sum()
    };
    (count("\"distributed_runs\":"), count("\"runs\":"))
}

#[test]
fn large_inputs_go_to_the_workers_when_pipelines_use_them_again() {
    let workers = Workers::start(2, 1);
    let env = [("DISTRIBUTED_WORKERS", workers.list(2))];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = |script: &str, min: &str| {
        let min = format!("--min-distr-cells={min}");
        let out = check_env(DAPHNE, &["--distributed", &min, "--timing", script, "n=20"], &env);
        assert_eq!(out.status, 0, "{}", out.stderr);
        out
    };
    // A matrix held here in a chain: the first pipeline runs here, its output goes to the
    // workers at its second use and stays there (and the final sum runs where the last X is).
    let out = run("run/distributed/held.daph", "10000");
    assert_eq!(where_run(&out), (21, 22), "{}", out.stderr);
    // A large matrix born on the workers (`rand`): every pipeline over it runs there.
    let out = run("run/distributed/loop.daph", "10000");
    assert_eq!(where_run(&out), (21, 21), "{}", out.stderr);
    assert!(out.stderr.contains("\"created_matrices\":1,"), "{}", out.stderr);
    // One pass over a matrix held here stays here; below the size threshold too (and then
    // nothing is made on the workers).
    for (script, min) in [("run/distributed/once.daph", "10000"), ("run/distributed/loop.daph", "1000000")] {
        let out = run(script, min);
        assert_eq!(where_run(&out).0, 0, "{script}: {}", out.stderr);
    }
    assert!(run("run/distributed/loop.daph", "1000000").stderr.contains("\"created_matrices\":0,"));
}

#[test]
fn long_lineages_are_checkpointed() {
    // X (2000 x 10 doubles, 160 KB) is fetched at depths 32, 64 and 96 of a 100-iteration
    // chain: three times, not once (the final `X[0, 0:3]` fetches only the part holding row 0).
    let workers = Workers::start(2, 1);
    let out = check_env(
        DAPHNE,
        &["--distributed", "--min-distr-cells=0", "--timing", "run/distributed/loop.daph", "n=100"],
        &[("DISTRIBUTED_WORKERS", &workers.list(2))],
    );
    assert_eq!(out.status, 0, "{}", out.stderr);
    let fetched: u64 = out
        .stderr
        .split("\"fetched_bytes\":")
        .nth(1)
        .and_then(|r| r.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok())
        .expect("--timing reports fetched bytes");
    assert!(fetched >= 3 * 160_000, "fetched {fetched} bytes");
    for a in &workers.addrs {
        assert_eq!(info(a).objects, 0);
    }
}

#[test]
fn sixty_four_workers_run_the_corpus_with_the_local_bytes() {
    // 64 real worker processes of one thread each (on this machine's cores): every script of
    // the corpus prints the local run's bytes with every pipeline and large matrix on them.
    // `distributed/sample.daph` has rows for all 64 (196 blocks), so each worker ran tasks.
    let workers = Workers::start(64, 1);
    let list = workers.list(64);
    let failures = common::across_the_corpus(|rel, args| {
        let local = check(DAPHNE, args);
        let mut all = vec!["--distributed", "--min-distr-cells=0"];
        all.extend(args);
        let other = check_env(DAPHNE, &all, &[("DISTRIBUTED_WORKERS", &list)]);
        differs(&format!("{rel} on 64 workers"), &other, &local).into_iter().collect()
    });
    assert!(failures.is_empty(), "{} failures:\n\n{}", failures.len(), failures.join("\n\n"));
    every_worker_ran_and_freed(&workers);
}

#[test]
fn a_thousand_simulated_workers_run_a_loop_with_the_local_bytes() {
    // 1024 workers in one process (`daphne-worker --simulate=1024`), each its own endpoint,
    // store and compute thread: a matrix of 1024 blocks is born one block on each, and a loop
    // of pipelines over it prints the local bytes.
    let workers = Workers::simulated(1024);
    let args = ["bench/dist/dispatch.daph", "rows=262144", "k=3"];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let local = common::check_in(dir, DAPHNE, &args, &[]);
    assert_eq!(local.status, 0, "{}", local.stderr);
    let list = workers.list(1024);
    let mut all = vec!["--distributed", "--min-distr-cells=0", "--timing"];
    all.extend(args);
    let mut out = common::check_in(dir, DAPHNE, &all, &[("DISTRIBUTED_WORKERS", &list)]);
    assert!(out.stderr.contains("\"created_matrices\":1,"), "{}", out.stderr);
    let (runs, distributed) = take_timing(&mut out);
    assert_eq!(out.status, 0, "{}", out.stderr);
    // The sum; the time per iteration differs.
    assert_eq!(out.stdout.lines().next(), local.stdout.lines().next());
    assert_eq!((runs, distributed), (5, 5), "every pipeline on the workers");
    for addr in [&workers.addrs[0], &workers.addrs[1023]] {
        assert!(info(addr).tasks > 0, "worker {addr} ran no task");
    }
}

#[test]
fn folds_over_the_workers_have_the_local_bits() {
    // Each worker folds its groups into the nodes of the canonical tree that cover them, and
    // the coordinator folds the nodes: every digit written is the local run's, for 1, 2 and 3
    // workers (one node, several per worker, nodes cut at the end) and for 20 and 157 blocks.
    let workers = Workers::start(3, 1);
    let dir = std::env::temp_dir().join(format!("daphne-folds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = ["gram", "xty", "colsums", "colmeans", "sum"];
    for n in ["n=5000", "n=40000"] {
        let local = format!("out=\"{}/local_\"", dir.display());
        let out = check(DAPHNE, &["bits/folds.daph", n, &local]);
        assert_eq!(out.status, 0, "{}", out.stderr);
        // Through trees of workers too: a chain (fanout 1: each relay folds in everything
        // after it) and a root with one child beside a leaf (fanout 2).
        let mut nodes = Vec::new();
        // The last with parts too large to answer inline (kept on the workers: a relay
        // fetches them from the workers it relayed to).
        for (w, tree, chunk) in [
            (1, "--tree-fanout=4", "--max-distr-chunk-size=4194304"),
            (2, "--tree-fanout=4", "--max-distr-chunk-size=4194304"),
            (3, "--tree-fanout=4", "--max-distr-chunk-size=4194304"),
            (3, "--tree-fanout=1", "--max-distr-chunk-size=4194304"),
            (3, "--tree-fanout=2", "--max-distr-chunk-size=4194304"),
            (3, "--tree-fanout=1", "--max-distr-chunk-size=1024"),
        ] {
            let list = workers.list(w);
            let there = format!("out=\"{}/w{w}_\"", dir.display());
            // Star for the first three (three workers are below the default threshold).
            let above = if nodes.len() < 3 { "--tree-above=16" } else { "--tree-above=1" };
            let args =
                ["--distributed", "--min-distr-cells=0", "--timing", tree, above, chunk, "bits/folds.daph", n, &there];
            let out = check_env(DAPHNE, &args, &[("DISTRIBUTED_WORKERS", &list)]);
            assert_eq!(out.status, 0, "{}", out.stderr);
            for f in files {
                let read = |p: String| std::fs::read(dir.join(p)).unwrap();
                assert!(
                    read(format!("local_{f}.csv")) == read(format!("w{w}_{f}.csv")),
                    "{f}, {n}, {w} workers {tree}"
                );
            }
            nodes.push(timing_number(&out.stderr, "fold_nodes") as u64);
        }
        // The relays folded their subtrees: the coordinator added fewer nodes than from the
        // three workers directly, and from the chain only the root's.
        assert!(nodes[3] < nodes[2] && nodes[4] < nodes[2] && nodes[3] <= nodes[4], "{n}: fold nodes {nodes:?}");
        assert!(nodes[3] <= nodes[0], "{n}: the chain's root answers the nodes of all groups: {nodes:?}");
        assert_eq!(nodes[5], nodes[3], "{n}: kept parts are folded by the relays too: {nodes:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_matrix_larger_than_the_coordinators_memory_stays_on_the_workers() {
    // X: 400 000 x 100 doubles (320 MB), born on 2 workers. The coordinator runs under a
    // virtual memory limit (`ulimit -v`) that leaves room for its code, threads and results
    // but not for X, nor for one worker's half of it: the run passes only if no value as large
    // as a part of X ever comes to the coordinator.
    const LIMIT_KB: u64 = COORDINATOR_BASE_KB + 100_000;
    let n = "n=400000";
    let local = check(DAPHNE, &["big/algorithms.daph", n]);
    assert_eq!(local.status, 0, "{}", local.stderr);
    let limited = |args: &[&str], env: &[(&str, &str)]| {
        let shell = format!("ulimit -v {LIMIT_KB} && exec \"$0\" \"$@\"");
        let mut all = vec!["-c", shell.as_str(), DAPHNE];
        all.extend(args);
        check_env("sh", &all, env)
    };
    // The limit binds: the same script run here fails under it.
    let here = limited(&["big/algorithms.daph", n], &[]);
    assert_ne!(here.status, 0, "a local run fit in the limit: {}", here.stdout);
    let workers = Workers::start(2, 1);
    let list = workers.list(2);
    let out = limited(&["--distributed", "--timing", "big/algorithms.daph", n], &[("DISTRIBUTED_WORKERS", &list)]);
    assert_eq!((out.status, &out.stdout), (0, &local.stdout), "{}", out.stderr);
    // And it was the workers that did the work.
    let share = worker_cell_share(&out);
    assert!(share > 0.9, "{share} of the cells were touched on workers: {}", out.stderr);
}

/// `--timing`'s share of the cells touched on workers.
fn worker_cell_share(out: &common::Outcome) -> f64 {
    timing_number(&out.stderr, "worker_cell_share")
}

/// A number of the `distributed` part of `--timing`'s JSON on `stderr`.
fn timing_number(stderr: &str, key: &str) -> f64 {
    stderr
        .split(&format!("\"{key}\":"))
        .nth(1)
        .and_then(|r| r.split([',', '}']).next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("--timing reports {key}: {stderr}"))
}

#[test]
fn the_examples_algorithms_at_scale_run_on_the_workers() {
    // bench/dist's PageRank, connected components and k-means: the examples' algorithms over
    // generated data above the default size threshold. With the default policy, the graph and
    // the points are born on the workers and stay there: `t(G / outDegree) @ p`, the label
    // propagation `max(aggMax(E * t(c), 0), c)` and k-means' distances, assignments and
    // `t(P) @ X` (inside a function, whose shapes only inlining reveals) run where the rows
    // are, with the local run's bits.
    let workers = Workers::start(2, 1);
    let list = workers.list(2);
    for args in [
        ["../bench/dist/pagerank.daph", "n=600", "p=0.05", ""],
        ["../bench/dist/connected_components.daph", "n=600", "p=0.003", ""],
        ["../bench/dist/kmeans.daph", "n=40000", "m=8", "k=4 iter=5"],
    ] {
        let args: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
        let local = check(DAPHNE, &args);
        assert_eq!(local.status, 0, "{}", local.stderr);
        let mut all = vec!["--distributed", "--timing"];
        all.extend(&args);
        let out = check_env(DAPHNE, &all, &[("DISTRIBUTED_WORKERS", &list)]);
        assert_eq!((out.status, &out.stdout), (0, &local.stdout), "{args:?}: {}", out.stderr);
        let share = worker_cell_share(&out);
        assert!(share > 0.99, "{args:?}: {share} of the cells were touched on workers: {}", out.stderr);
    }
}

/// What a coordinator process reserves in virtual memory before it holds any data: its code,
/// the stacks (1 GB of them the interpreter's) and allocator arenas of its threads, the async
/// runtime (measured: a distributed run of a tiny script needs 1.45 GB of `ulimit -v`).
const COORDINATOR_BASE_KB: u64 = 1_500_000;

#[test]
fn frames_are_read_picked_and_converted_on_the_workers() {
    let dir = scratch("frames");
    let csv = dir.join("f.csv");
    write_frame_rows(&csv, 0..3000, &[]);
    let csv = csv.to_string_lossy().into_owned();
    let parts = write_frame_parts(&dir, "p.csv", &[]);
    // The Parquet parts, written by a local run.
    let parquet = dir.join("q.parquet");
    std::fs::create_dir_all(&parquet).expect("a part directory");
    let parquet = parquet.to_string_lossy().into_owned();
    let write = dir.join("write.daph");
    std::fs::write(&write, "F = readFrame($csv);\nwrite(F[0:1200, ], $p0);\nwrite(F[1200:nrow(F), ], $p1);\n")
        .expect("a script");
    let arg = |name: &str, value: &str| format!("{name}=\"{value}\"");
    let written = check(
        DAPHNE,
        &[
            &write.to_string_lossy(),
            &arg("csv", &csv),
            &arg("p0", &format!("{parquet}/part-0.parquet")),
            &arg("p1", &format!("{parquet}/part-1.parquet")),
        ],
    );
    assert_eq!(written.status, 0, "{}", written.stderr);
    let args = [arg("csv", &csv), arg("parts", &parts), arg("parquet", &parquet)];
    let script = |flags: &[&str]| {
        let mut all: Vec<&str> = flags.to_vec();
        all.push("dist/frames.daph");
        all.extend(args.iter().map(String::as_str));
        check(DAPHNE, &all)
    };
    let local = script(&[]);
    assert_eq!(local.status, 0, "{}", local.stderr);
    let mut out = script(&["--distributed", "--local-workers=2", "--min-distr-cells=0", "--timing"]);
    let timing = out.stderr.clone();
    let (runs, on_workers) = take_timing(&mut out);
    assert_eq!((out.status, &out.stdout, &out.stderr), (0, &local.stdout, &local.stderr));
    // The three frames were read on the workers, and every conversion of their columns made
    // a matrix there, which every pipeline after it used in place.
    let count = |what: &str| timing.matches(what).count();
    assert_eq!(count("\"on_workers\":1,\"op\":\"readFrame\""), 3, "{timing}");
    assert!(timing.contains("\"created_frames\":3,"), "{timing}");
    assert_eq!(count("\"on_workers\":1,\"op\":\"cast\""), 6, "{timing}");
    assert!(timing.contains("\"converted_frames\":6,"), "{timing}");
    assert!(runs >= 5 && on_workers == runs, "{on_workers} of {runs} pipeline runs on workers");
}

#[test]
fn a_bad_cell_of_a_frame_read_on_the_workers_is_the_local_error() {
    let dir = scratch("bad-frames");
    // Bad cells in the second worker's rows only, and in both workers' rows (the first in
    // row order is reported), of a file and of a part directory.
    // Each read, and where its first bad cell is (a line of a file).
    let mut cases = Vec::new();
    for (k, bad) in [&[2900, 2950][..], &[1200, 2900]].into_iter().enumerate() {
        let file = dir.join(format!("bad{k}.csv"));
        write_frame_rows(&file, 0..3000, bad);
        std::fs::write(dir.join(format!("bad{k}.csv.meta")), FRAME_META).expect("a meta file");
        let file = file.to_string_lossy().into_owned();
        cases.push((file.clone(), format!("{file}:{}:1: ", bad[0] + 2)));
        let parts = write_frame_parts(&dir, &format!("bad{k}-parts.csv"), bad);
        cases.push((parts.clone(), format!("{parts}/part-2.csv:{}:1: ", bad[0] - 1001 + 2)));
    }
    let script = dir.join("read.daph");
    std::fs::write(&script, "F = readFrame($f);\nprint(sum(as.matrix<f64>(F[, \"x\"])));\n").expect("a script");
    let script = script.to_string_lossy().into_owned();
    for (path, place) in &cases {
        let f = format!("f=\"{path}\"");
        let local = check(DAPHNE, &[&script, &f]);
        assert_eq!(local.status, 3, "{path}: {}", local.stderr);
        assert!(local.stderr.contains(place), "{path}: {}", local.stderr);
        let dist = check(DAPHNE, &["--distributed", "--local-workers=2", "--min-distr-cells=0", &script, &f]);
        assert_eq!((dist.status, &dist.stdout, &dist.stderr), (3, &local.stdout, &local.stderr), "{path}");
    }
}
