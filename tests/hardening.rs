//! What an attacker or an unlucky operator does to a worker, and what must hold afterwards:
//! every hostile message is an error status at once (never an abort, a hang or an allocation
//! of what it declares), memory is one budget, objects belong to a session that ends with its
//! coordinator, connections are bounded and idle ones closed, and a worker that cannot be
//! reached at the start leaves the run to the others. After each, a normal script runs on the
//! same worker with the local bytes.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Rng, Workers, check, check_env};
use daphne_distributed::proto::worker_client::WorkerClient;
use daphne_distributed::proto::{self, InfoRequest};

const DAPHNE: &str = env!("CARGO_BIN_EXE_daphne");
const SCRIPT: &str = "run/distributed/resident.daph";

type Client = WorkerClient<tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Attach>>;
use daphne_distributed::auth::Attach;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
}

/// A client of the worker at `addr` in `session` (32 hex digits), or in none.
async fn client(addr: &str, session: Option<&str>) -> Client {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    let mut attach = Attach::new(None).unwrap();
    if let Some(s) = session {
        attach = attach.with_session(s).unwrap();
    }
    WorkerClient::with_interceptor(channel, attach)
        .max_decoding_message_size(daphne_distributed::worker::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(daphne_distributed::worker::MAX_MESSAGE_BYTES)
}

fn info(addr: &str) -> proto::WorkerInfo {
    rt().block_on(async { client(addr, None).await.info(InfoRequest {}).await.unwrap().into_inner() })
}

/// The worker still serves: a script prints the local bytes on it.
fn still_serves(addr: &str) {
    let local = check(DAPHNE, &[SCRIPT]);
    let out = check_env(DAPHNE, &["--distributed", "--min-distr-cells=0", SCRIPT], &[("DISTRIBUTED_WORKERS", addr)]);
    assert_eq!((out.status, &out.stdout), (0, &local.stdout), "{}", out.stderr);
}

/// The bytes of the first pipeline of a script: a row-split input and a row sum.
fn row_sum_pipeline() -> bytes::Bytes {
    let src = "X = rand(1000, 4, 0.0, 1.0, 1, 1);\nY = sum(X * 2 + 1, 0);\nprint(Y[0, 0]);\n";
    let file = daphne_frontend::span::SourceFile::new("hostile.daph", src);
    let module = daphne::compile(&file, &Default::default(), false, &Default::default()).expect("compiles");
    let f = &module.functions[0];
    let id = *daphne_ir::pipeline::pipelines(f).first().expect("a pipeline");
    bytes::Bytes::from(daphne_ir::pipeline::extract(f, id).expect("extracts").to_bytes())
}

/// A dense f64 matrix header declaring `rows x cols` (no cells follow).
fn declared(rows: u64, cols: u64) -> bytes::Bytes {
    let mut b = vec![1u8, daphne_distributed::codec::type_code(daphne_ir::ValueType::F64)];
    b.extend_from_slice(&rows.to_le_bytes());
    b.extend_from_slice(&cols.to_le_bytes());
    b.into()
}

fn task(pipeline: bytes::Bytes, input: bytes::Bytes, block_rows: u64, group_rows: u64) -> proto::Task {
    proto::Task {
        pipeline,
        inputs: vec![proto::Input { source: Some(proto::input::Source::Inline(input)) }],
        block_rows,
        group_rows,
        inline_limit: 1 << 20,
        keep_rows: true,
        vectorize: true,
        partitioning: proto::Partitioning::Static as i32,
        grain_rows: 1,
        first_group: 0,
        total_groups: 0,
        relay: Vec::new(),
        free: Vec::new(),
    }
}

#[test]
fn tasks_that_imply_unbounded_work_are_refused_at_once() {
    let workers = Workers::start(1, 1);
    let addr = workers.addrs[0].clone();
    let pipeline = row_sum_pipeline();
    rt().block_on(async {
        let mut c = client(&addr, None).await;
        // 2^40 x 0 cells: 18 bytes. In groups of one row it reserved 26 TB (SIGABRT); in
        // groups of 4096 rows it looped for minutes.
        for (block, group, code) in [
            (1, 1, tonic::Code::InvalidArgument),
            (4096, 4096, tonic::Code::InvalidArgument),
            // The block size such rows would have: the row sums would take 8 TB, more than
            // the worker's whole budget (the pipeline's own failure: the coordinator runs it
            // locally, which reports it exactly).
            (1 << 30, 1 << 31, tonic::Code::Aborted),
        ] {
            let started = Instant::now();
            let e = c.compute(task(pipeline.clone(), declared(1 << 40, 0), block, group)).await.unwrap_err();
            assert_eq!(e.code(), code, "blocks of {block}: {e:?}");
            assert!(started.elapsed() < Duration::from_secs(2), "blocks of {block}: {:?}", started.elapsed());
        }
    });
    still_serves(&addr);
}

#[test]
fn fetches_are_streamed_and_absurd_chunk_sizes_refused() {
    let workers = Workers::start(1, 1);
    let addr = workers.addrs[0].clone();
    let session = daphne_distributed::worker::fresh_session();
    rt().block_on(async {
        let mut c = client(&addr, Some(&session)).await;
        // A 4 MB object.
        let cells: Vec<u8> = (0..(4u64 << 20) / 8).flat_map(|i| (i as f64).to_le_bytes()).collect();
        let mut encoded = declared(512 << 10, 1).to_vec();
        encoded.extend_from_slice(&cells);
        let total = encoded.len() as u64;
        let chunks: Vec<proto::Chunk> = encoded
            .chunks(1 << 20)
            .enumerate()
            .map(|(i, d)| proto::Chunk {
                object: 9,
                total_bytes: total,
                offset: (i as u64) << 20,
                data: bytes::Bytes::copy_from_slice(d),
                forward: Vec::new(),
            })
            .collect();
        c.store(tokio_stream::iter(chunks)).await.expect("stores");
        for max in [0, 1, 1u64 << 40] {
            let started = Instant::now();
            let Err(e) = c.fetch(proto::FetchRequest { object: 9, max_chunk_bytes: max, rows: None }).await else {
                panic!("a fetch in chunks of {max} bytes was served");
            };
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
            assert!(started.elapsed() < Duration::from_secs(1));
        }
        let mut stream = c
            .fetch(proto::FetchRequest { object: 9, max_chunk_bytes: 64 << 10, rows: None })
            .await
            .expect("fetches")
            .into_inner();
        let mut back = Vec::new();
        while let Some(chunk) = stream.message().await.expect("a chunk") {
            assert!(chunk.data.len() <= 64 << 10);
            back.extend_from_slice(&chunk.data);
        }
        assert!(back == encoded, "the fetched bytes differ");
    });
    still_serves(&addr);
}

#[test]
fn stores_and_inline_inputs_share_one_memory_budget() {
    let workers = Workers::start_with(1, 1, &["--memory-limit=40M"], &[], None);
    let addr = workers.addrs[0].clone();
    let session = daphne_distributed::worker::fresh_session();
    let outcomes = rt().block_on(async {
        // Six stores of 12 MB at once: each reserves its bytes at its first chunk, so only as
        // many as fit are taken.
        let calls: Vec<_> = (0..6u64)
            .map(|k| {
                let (addr, session) = (addr.clone(), session.clone());
                tokio::spawn(async move {
                    let mut c = client(&addr, Some(&session)).await;
                    let mut encoded = declared(1536 << 10, 1).to_vec();
                    encoded.resize(encoded.len() + (12 << 20), 0);
                    let total = encoded.len() as u64;
                    let chunks: Vec<proto::Chunk> = encoded
                        .chunks(1 << 20)
                        .enumerate()
                        .map(|(i, d)| proto::Chunk {
                            object: 100 + k,
                            total_bytes: total,
                            offset: (i as u64) << 20,
                            data: bytes::Bytes::copy_from_slice(d),
                            forward: Vec::new(),
                        })
                        .collect();
                    c.store(tokio_stream::iter(chunks)).await.map(|_| ()).map_err(|s| s.code())
                })
            })
            .collect();
        let mut out = Vec::new();
        for c in calls {
            out.push(c.await.unwrap());
        }
        out
    });
    let refused = outcomes.iter().filter(|o| **o == Err(tonic::Code::ResourceExhausted)).count();
    assert!(refused >= 3, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| o.is_ok() || *o == Err(tonic::Code::ResourceExhausted)), "{outcomes:?}");
    let held = info(&addr).object_bytes;
    assert!(held <= 40 << 20, "{held} bytes held");
    // A task whose inline inputs pass what is left is refused before they are decoded.
    rt().block_on(async {
        let mut c = client(&addr, Some(&session)).await;
        let mut big = declared(4 << 20, 1).to_vec();
        big.resize(big.len() + (32 << 20), 0);
        let e = c.compute(task(row_sum_pipeline(), big.into(), 4096, 4096)).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
        // The session ends: its objects go.
        c.free(proto::FreeRequest { objects: vec![], end_session: true }).await.unwrap();
    });
    assert_eq!(info(&addr).objects, 0);
    still_serves(&addr);
}

#[test]
fn objects_belong_to_their_session() {
    let workers = Workers::start(1, 1);
    let addr = workers.addrs[0].clone();
    let (a, b) = (daphne_distributed::worker::fresh_session(), daphne_distributed::worker::fresh_session());
    rt().block_on(async {
        let mut ca = client(&addr, Some(&a)).await;
        let value = declared(0, 3);
        let chunk =
            proto::Chunk { object: 5, total_bytes: value.len() as u64, offset: 0, data: value, forward: Vec::new() };
        ca.store(tokio_stream::iter(vec![chunk])).await.expect("stores");
        // Another session, or none, can neither see nor free it.
        for other in [Some(b.as_str()), None] {
            let mut c = client(&addr, other).await;
            let freed = c.free(proto::FreeRequest { objects: vec![5], end_session: false }).await.unwrap();
            assert_eq!(freed.into_inner().objects, 0);
            let Err(e) = c.fetch(proto::FetchRequest { object: 5, max_chunk_bytes: 1024, rows: None }).await else {
                panic!("another session fetched the object");
            };
            assert_eq!(e.code(), tonic::Code::NotFound);
        }
        assert!(ca.fetch(proto::FetchRequest { object: 5, max_chunk_bytes: 1024, rows: None }).await.is_ok());
        // A malformed session is refused.
        let mut bad = client(&addr, Some("not-a-session")).await;
        let e = bad.info(InfoRequest {}).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
    });
    assert_eq!(info(&addr).objects, 1);
}

#[test]
fn a_dead_coordinators_objects_are_freed_when_its_lease_ends() {
    let workers = Workers::start_with(1, 1, &["--session-timeout=2"], &[], None);
    let addr = workers.addrs[0].clone();
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut coordinator = std::process::Command::new(DAPHNE)
        .args(["--distributed", "--min-distr-cells=0", "chaos/loop.daph", "n=100000"])
        .current_dir(&tests)
        .env("DISTRIBUTED_WORKERS", &addr)
        .env_remove("DAPHNE_AUTH_TOKEN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while info(&addr).objects == 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "the coordinator stored nothing");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Alive, it renews its lease: the objects stay past the timeout.
    std::thread::sleep(Duration::from_secs(3));
    assert!(info(&addr).objects > 0, "a live coordinator lost its objects");
    coordinator.kill().unwrap();
    coordinator.wait().unwrap();
    let killed = Instant::now();
    while info(&addr).objects > 0 {
        assert!(killed.elapsed() < Duration::from_secs(6), "objects of a dead coordinator stay");
        std::thread::sleep(Duration::from_millis(100));
    }
    still_serves(&addr);
}

#[test]
fn connections_are_bounded_and_idle_ones_closed_before_authentication() {
    use std::io::{Read, Write};
    let workers =
        Workers::start_with(1, 1, &["--max-connections=8", "--idle-timeout=1"], &[("DAPHNE_AUTH_TOKEN", "tok")], None);
    let addr = workers.addrs[0].clone();
    // Twenty idle sockets: eight are served (then closed when idle), the rest closed at once.
    let mut idle: Vec<std::net::TcpStream> = (0..20).map(|_| std::net::TcpStream::connect(&addr).unwrap()).collect();
    let started = Instant::now();
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        // Closed (0 bytes or a reset), not left open.
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
    assert!(started.elapsed() < Duration::from_secs(4), "idle sockets held {:?}", started.elapsed());
    // A client trickling its greeting a byte at a time is cut too.
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    let started = Instant::now();
    let mut cut = false;
    for b in b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" {
        if slow.write_all(&[*b]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut buf = [0u8; 16];
    slow.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    cut |= matches!(slow.read(&mut buf), Ok(0) | Err(_));
    assert!(cut && started.elapsed() < Duration::from_secs(9), "a trickling client was kept");
    // Legitimate runs still get in.
    let local = check(DAPHNE, &[SCRIPT]);
    let out = check_env(
        DAPHNE,
        &["--distributed", "--min-distr-cells=0", SCRIPT],
        &[("DISTRIBUTED_WORKERS", &addr), ("DAPHNE_AUTH_TOKEN", "tok")],
    );
    assert_eq!((out.status, &out.stdout), (0, &local.stdout), "{}", out.stderr);
}

#[test]
fn a_worker_unreachable_at_the_start_is_left_out() {
    let workers = Workers::start(1, 1);
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let list = format!("{closed},{}", workers.addrs[0]);
    let local = check(DAPHNE, &[SCRIPT]);
    let out = check_env(DAPHNE, &["--distributed", "--min-distr-cells=0", SCRIPT], &[("DISTRIBUTED_WORKERS", &list)]);
    assert_eq!((out.status, &out.stdout), (0, &local.stdout), "{}", out.stderr);
    assert!(out.stderr.contains("WARNING") && out.stderr.contains(&closed), "{}", out.stderr);
    // With none reachable, the run fails naming it.
    let out = check_env(DAPHNE, &["--distributed", "--min-distr-cells=0", SCRIPT], &[("DISTRIBUTED_WORKERS", &closed)]);
    assert_eq!(out.status, 3, "{}", out.stderr);
    assert!(out.stderr.contains(&closed), "{}", out.stderr);
}

/// A size: mostly small, sometimes at the edges.
fn size(rng: &mut Rng) -> u64 {
    match rng.below(8) {
        0 => 0,
        1 => u64::MAX - rng.below(3),
        2 => 1 << rng.below(64),
        3 => 256 << rng.below(8),
        _ => rng.below(5000),
    }
}

/// `bytes` with a few bytes changed, cut or added.
fn mutate(rng: &mut Rng, bytes: &[u8]) -> bytes::Bytes {
    let mut b = bytes.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(4) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len() as u64) as usize;
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len() as u64) as usize;
                b.truncate(i);
            }
            2 => {
                let i = rng.below(b.len() as u64 + 1) as usize;
                b.insert(i, rng.next() as u8);
            }
            _ if b.len() >= 8 => {
                // A length field made huge.
                let i = rng.below(b.len() as u64 - 7) as usize;
                b[i..i + 8].copy_from_slice(&size(rng).to_le_bytes());
            }
            _ => {}
        }
    }
    b.into()
}

#[test]
fn mutated_and_hostile_messages_of_every_kind_leave_the_worker_serving() {
    let cases: u64 = std::env::var("DAPHNE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let workers = Workers::start_with(1, 1, &["--memory-limit=256M"], &[], None);
    let addr = workers.addrs[0].clone();
    let pipeline = row_sum_pipeline();
    let mut valid = declared(300, 4).to_vec();
    valid.extend((0..1200).flat_map(|i| f64::from(i).to_le_bytes()));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let session = daphne_distributed::worker::fresh_session();
    let started = Instant::now();
    rt().block_on(async {
        let mut c = client(&addr, Some(&session)).await;
        for case in 0..cases {
            let call = async {
                match case % 5 {
                    0 => {
                        let input = if rng.below(3) == 0 {
                            proto::Input { source: Some(proto::input::Source::Object(size(&mut rng))) }
                        } else {
                            proto::Input { source: Some(proto::input::Source::Inline(mutate(&mut rng, &valid))) }
                        };
                        let module = if rng.below(2) == 0 { pipeline.clone() } else { mutate(&mut rng, &pipeline) };
                        let mut t = task(module, bytes::Bytes::new(), size(&mut rng), size(&mut rng));
                        t.inputs = vec![input; 1 + rng.below(2) as usize];
                        t.inline_limit = size(&mut rng);
                        t.grain_rows = size(&mut rng);
                        // Known schemes, unspecified, and numbers the protocol does not have.
                        t.partitioning = [1, 3, 0, 13, -7, i32::MAX][rng.below(6) as usize];
                        c.compute(t).await.map(|_| ())
                    }
                    1 => {
                        let data = mutate(&mut rng, &valid);
                        let total = if rng.below(2) == 0 { data.len() as u64 } else { size(&mut rng) };
                        let n = rng.below(4);
                        let chunks: Vec<proto::Chunk> = (0..n)
                            .map(|i| proto::Chunk {
                                object: size(&mut rng),
                                total_bytes: total,
                                offset: if rng.below(2) == 0 { i * data.len() as u64 } else { size(&mut rng) },
                                data: data.clone(),
                                forward: Vec::new(),
                            })
                            .collect();
                        c.store(tokio_stream::iter(chunks)).await.map(|_| ())
                    }
                    2 => match c
                        .fetch(proto::FetchRequest {
                            object: size(&mut rng),
                            max_chunk_bytes: size(&mut rng),
                            rows: None,
                        })
                        .await
                    {
                        Ok(s) => {
                            let mut s = s.into_inner();
                            while let Ok(Some(_)) = s.message().await {}
                            Ok(())
                        }
                        Err(e) => Err(e),
                    },
                    3 => {
                        let objects = (0..rng.below(5)).map(|_| size(&mut rng)).collect();
                        c.free(proto::FreeRequest { objects, end_session: rng.below(5) == 0 }).await.map(|_| ())
                    }
                    _ => c.info(InfoRequest {}).await.map(|_| ()),
                }
            };
            // An answer, whatever it is, and soon: never a hang.
            let answered = tokio::time::timeout(Duration::from_secs(10), call).await;
            assert!(answered.is_ok(), "case {case} hung");
        }
    });
    let i = info(&addr);
    assert!(i.rss_bytes < 1 << 30, "the worker grew to {} bytes", i.rss_bytes);
    eprintln!("{cases} messages in {:?}", started.elapsed());
    still_serves(&addr);
}

#[test]
fn a_worker_served_in_process_refuses_unknown_partitioning_schemes_and_stops_on_its_token() {
    // The test binds port 0 itself and hands the listener over: no port is picked and let go.
    let rt = rt();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = daphne_distributed::worker::ServeOptions { threads: 1, ..Default::default() };
    let served = rt.spawn(daphne_distributed::worker::serve(listener, options, async {
        let _ = stopped.await;
    }));
    let mut valid = declared(300, 4).to_vec();
    valid.extend((0..1200).flat_map(|i| f64::from(i).to_le_bytes()));
    let b = daphne_ir::pipeline::block_rows(300) as u64;
    // Every output inline (no worker-chosen object ids), so answers compare.
    let ok = proto::Task { keep_rows: false, ..task(row_sum_pipeline(), valid.into(), b, b) };
    rt.block_on(async {
        let mut c = client(&addr, None).await;
        for number in [0, 13, -1, i32::MAX] {
            let mut t = ok.clone();
            t.partitioning = number;
            let e = c.compute(t).await.unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "scheme {number}: {e:?}");
            assert!(e.message().contains("partitioning scheme"), "scheme {number}: {e:?}");
        }
        // Every scheme the protocol has runs, and gives the same sums.
        let mut answers = Vec::new();
        for (_, p) in daphne_runtime::schedule::Partitioning::ALL {
            let mut t = ok.clone();
            t.partitioning = daphne_distributed::wire::partitioning(p) as i32;
            answers.push(c.compute(t).await.unwrap_or_else(|e| panic!("{p:?}: {e:?}")).into_inner());
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "schemes disagree");
    });
    stop.send(()).unwrap();
    let ended = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), served).await });
    assert!(matches!(ended, Ok(Ok(Ok(())))), "the worker did not stop on its token: {ended:?}");
}

/// Stores object `id` of session `c`: `rows x 1` f64 cells `cell(i)`, in 1 MB chunks, the
/// second one sent a moment after the first (so the worker reserves the object's memory before
/// the transport has buffered the rest of it, and the budget's use is known then).
async fn store_column(c: &mut Client, id: u64, rows: u64, cell: impl Fn(u64) -> f64) -> Result<(), tonic::Code> {
    let mut encoded = declared(rows, 1).to_vec();
    encoded.extend((0..rows).flat_map(|i| cell(i).to_le_bytes()));
    let total = encoded.len() as u64;
    let chunks: Vec<proto::Chunk> = encoded
        .chunks(1 << 20)
        .enumerate()
        .map(|(i, d)| proto::Chunk {
            object: id,
            total_bytes: total,
            offset: (i as u64) << 20,
            data: bytes::Bytes::copy_from_slice(d),
            forward: Vec::new(),
        })
        .collect();
    let paced = tokio_stream::StreamExt::then(tokio_stream::iter(chunks), |chunk| async move {
        if chunk.offset == 1 << 20 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        chunk
    });
    c.store(paced).await.map(|_| ()).map_err(|s| s.code())
}

/// The bytes of the first pipeline of a script: `X * 2 + 1`, a `rows` output as large as X.
fn scale_pipeline() -> bytes::Bytes {
    let src = "X = rand(1000, 1, 0.0, 1.0, 1, 1);\nY = X * 2 + 1;\nprint(Y[0, 0]);\n";
    let file = daphne_frontend::span::SourceFile::new("spare.daph", src);
    let module = daphne::compile(&file, &Default::default(), false, &Default::default()).expect("compiles");
    let f = &module.functions[0];
    let id = *daphne_ir::pipeline::pipelines(f).first().expect("a pipeline");
    bytes::Bytes::from(daphne_ir::pipeline::extract(f, id).expect("extracts").to_bytes())
}

/// Runs `scale_pipeline` on object `input` of `rows` rows; the object of its result.
async fn scale(c: &mut Client, input: u64, rows: u64) -> u64 {
    let b = daphne_ir::pipeline::block_rows(rows as usize);
    let (group, _) = daphne_ir::pipeline::partition(rows as usize, 1);
    let mut t = task(scale_pipeline(), bytes::Bytes::new(), b as u64, group as u64);
    t.inputs = vec![proto::Input { source: Some(proto::input::Source::Object(input)) }];
    t.inline_limit = 0;
    let r = c.compute(t).await.expect("computes").into_inner();
    match &r.outputs[0].parts[..] {
        [proto::Output { result: Some(proto::output::Result::Kept(k)) }] => k.object,
        other => panic!("not one kept part: {other:?}"),
    }
}

/// The cells of freed objects are kept for the session's next results of their size
/// (`runtime::spare`), and a result written into them is the result, whatever they held; but
/// they never stand in the way of a store: a reservation that does not fit beside them gives
/// them back first, so the worker takes what it took without them.
#[test]
fn freed_cells_are_reused_for_results_and_given_back_to_stores() {
    let workers = Workers::start_with(1, 1, &["--memory-limit=20M"], &[], None);
    let addr = workers.addrs[0].clone();
    let session = daphne_distributed::worker::fresh_session();
    rt().block_on(async {
        let mut c = client(&addr, Some(&session)).await;
        let mut i = c.clone();
        let mut spare = async move || i.info(InfoRequest {}).await.unwrap().into_inner().spare_bytes;
        // 8 MB stored (16 MB reserved while it arrives), then freed: its cells are kept.
        store_column(&mut c, 1, 1 << 20, |i| i as f64).await.expect("stores");
        c.free(proto::FreeRequest { objects: vec![1], end_session: false }).await.unwrap();
        assert_eq!(spare().await, 8 << 20);
        // Another 8 MB: 16 MB reserved do not fit beside the kept 8 MB in the 20 MB budget,
        // so they are given back.
        store_column(&mut c, 2, 1 << 20, |i| i as f64).await.expect("a store refused for the kept cells");
        assert_eq!(spare().await, 0);
        c.free(proto::FreeRequest { objects: vec![2], end_session: false }).await.unwrap();
        // A result, freed: its cells are the next result's.
        let rows = 128u64 << 10;
        store_column(&mut c, 3, rows, |i| i as f64).await.expect("stores");
        store_column(&mut c, 4, rows, |i| -(i as f64)).await.expect("stores");
        let first = scale(&mut c, 3, rows).await;
        c.free(proto::FreeRequest { objects: vec![first], end_session: false }).await.unwrap();
        assert_eq!(spare().await, (8 << 20) + rows * 8, "the result's cells are kept");
        let second = scale(&mut c, 4, rows).await;
        assert_eq!(spare().await, 8 << 20, "the next result of their size took them");
        let mut stream = c
            .fetch(proto::FetchRequest { object: second, max_chunk_bytes: 1 << 20, rows: None })
            .await
            .unwrap()
            .into_inner();
        let mut back = Vec::new();
        while let Some(chunk) = stream.message().await.expect("a chunk") {
            back.extend_from_slice(&chunk.data);
        }
        let daphne_runtime::value::Value::Matrix(daphne_runtime::matrix::Matrix::F64(m)) =
            daphne_distributed::codec::decode(&back).expect("decodes")
        else {
            panic!("not an f64 matrix");
        };
        assert_eq!((m.rows(), m.cols()), (rows as usize, 1));
        assert!(m.cells().iter().enumerate().all(|(i, &y)| y == -(i as f64) * 2.0 + 1.0), "stale cells in the result");
        // The session ends: the kept cells go with it.
        c.free(proto::FreeRequest { objects: vec![], end_session: true }).await.unwrap();
    });
    assert_eq!(info(&addr).spare_bytes, 0);
    still_serves(&addr);
}

/// A task relayed to a worker that cannot be reached, or relayed without a task, fails alone:
/// the relay answers its own result and one failure per such relayed task (the coordinator
/// then checks its workers), and a relayed task on a worker that serves runs there. A store
/// forwarded to nowhere is refused. The worker goes on serving.
#[test]
fn relays_to_nowhere_fail_alone_and_the_worker_goes_on() {
    let workers = Workers::start(1, 1);
    let addr = workers.addrs[0].clone();
    let session = daphne_distributed::worker::fresh_session();
    rt().block_on(async {
        let mut c = client(&addr, Some(&session)).await;
        store_column(&mut c, 1, 1000, |i| i as f64).await.expect("stores");
        let b = daphne_ir::pipeline::block_rows(1000);
        let (group, _) = daphne_ir::pipeline::partition(1000, 1);
        let mut t = task(scale_pipeline(), bytes::Bytes::new(), b as u64, group as u64);
        t.inputs = vec![proto::Input { source: Some(proto::input::Source::Object(1)) }];
        let relayed = |address: &str, task: Option<proto::Task>| proto::Relay { address: address.into(), task };
        let mut leaf = t.clone();
        leaf.pipeline = bytes::Bytes::new();
        t.relay = vec![
            relayed("not an address", Some(leaf.clone())),
            relayed("127.0.0.1:1", Some(leaf.clone())),
            relayed(&addr, None),
            relayed(&addr, Some(leaf)),
        ];
        let started = Instant::now();
        let r = c.compute(t).await.expect("the relay answers").into_inner();
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        assert_eq!(r.outputs.len(), 1, "its own result");
        let outcomes: Vec<bool> =
            r.relayed.iter().map(|o| matches!(o.outcome, Some(proto::relayed::Outcome::Result(_)))).collect();
        assert_eq!(outcomes, [false, false, false, true], "{:?}", r.relayed);
        let chunk = proto::Chunk {
            object: 2,
            total_bytes: 18,
            offset: 0,
            data: declared(0, 1),
            forward: vec![proto::Subtree { address: "127.0.0.1:1".into(), children: Vec::new() }],
        };
        let e = c.store(tokio_stream::iter([chunk])).await.unwrap_err();
        assert!(e.message().contains("127.0.0.1:1"), "{e:?}");
    });
    still_serves(&addr);
}
