//! Who may use a worker, and how much: calls without the worker's token or with a wrong one
//! are refused and logged, and nothing runs; stores past `--memory-limit` fail cleanly and the
//! script reports it; random bytes sent to every call of the protocol get error statuses, and
//! the worker still answers afterwards.

mod common;

use std::path::Path;

use common::{Workers, check, check_env};
use daphne_distributed::proto::InfoRequest;
use daphne_distributed::proto::worker_client::WorkerClient;

const DAPHNE: &str = env!("CARGO_BIN_EXE_daphne");
const SCRIPT: &str = "run/distributed/resident.daph";

fn tmp(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("security-{name}-{}", std::process::id()))
}

#[test]
fn calls_need_the_workers_token() {
    let log = tmp("log");
    let workers = Workers::start_with(1, 1, &[], &[("DAPHNE_AUTH_TOKEN", "s3cret-token")], Some(&log));
    let addr = workers.addrs[0].clone();
    let local = check(DAPHNE, &[SCRIPT]);
    let run = |token: Option<&str>| {
        let mut env = vec![("DISTRIBUTED_WORKERS", addr.as_str())];
        if let Some(t) = token {
            env.push(("DAPHNE_AUTH_TOKEN", t));
        }
        check_env(DAPHNE, &["--distributed", "--min-distr-cells=0", SCRIPT], &env)
    };
    for bad in [None, Some("wrong")] {
        let out = run(bad);
        assert_eq!(out.status, 3, "{bad:?}: {}", out.stderr);
        assert!(out.stderr.contains(&addr) && out.stderr.contains("token"), "{}", out.stderr);
        assert_eq!(out.stdout, "", "nothing ran");
    }
    let out = run(Some("s3cret-token"));
    assert_eq!((out.status, &out.stdout), (0, &local.stdout), "{}", out.stderr);
    // The token from a file works the same.
    let file = tmp("token");
    std::fs::write(&file, "s3cret-token\n").unwrap();
    let flag = format!("--auth-token-file={}", file.display());
    let out =
        check_env(DAPHNE, &["--distributed", "--min-distr-cells=0", &flag, SCRIPT], &[("DISTRIBUTED_WORKERS", &addr)]);
    assert_eq!((out.status, &out.stdout), (0, &local.stdout), "{}", out.stderr);
    // The refusals are logged, and the worker held nothing from them.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("refused a call") && logged.contains("no token") && logged.contains("a wrong token"),
        "{logged}"
    );
    let e = rt().block_on(async { raw(&addr).await.info(InfoRequest {}).await.unwrap_err() });
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
}

#[test]
fn a_worker_without_a_token_on_a_public_address_warns() {
    let log = tmp("warn");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_daphne-worker"))
        .args(["0.0.0.0:0", "--exit-with-stdin"])
        .env_remove("DAPHNE_AUTH_TOKEN")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("WARNING") && logged.contains("without an auth token"), "{logged}");
}

#[test]
fn stores_past_the_memory_limit_fail_cleanly() {
    // The limit covers what the worker holds beyond its idle heap: its connections' buffers
    // too, so a few megabytes.
    let workers = Workers::start_with(1, 1, &["--memory-limit=8M"], &[], None);
    let addr = workers.addrs[0].clone();
    // 16 MB of input: more than the limit.
    let big = tmp("big.daph");
    std::fs::write(&big, "X = rand(100000, 20, 0.0, 1.0, 1, 7);\nY = X * 2;\nZ = Y + X;\nprint(sum(Z));\n").unwrap();
    let big = big.to_str().unwrap();
    let out = check_env(DAPHNE, &["--distributed", "--min-distr-cells=0", big], &[("DISTRIBUTED_WORKERS", &addr)]);
    assert_eq!(out.status, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("the worker's memory limit")
            && out.stderr.contains("16000018 bytes")
            && out.stderr.contains(&addr),
        "{}",
        out.stderr
    );
    // Still serving, holding nothing; a script within the limit runs.
    let info = rt().block_on(async { raw(&addr).await.info(InfoRequest {}).await.unwrap().into_inner() });
    assert_eq!(info.objects, 0);
    let local = check(DAPHNE, &["run/distributed/loop.daph", "n=3"]);
    let out = check_env(
        DAPHNE,
        &["--distributed", "--min-distr-cells=0", "run/distributed/loop.daph", "n=3"],
        &[("DISTRIBUTED_WORKERS", &addr)],
    );
    assert_eq!((out.status, &out.stdout), (0, &local.stdout), "{}", out.stderr);
}

#[test]
fn random_bytes_to_every_call_get_errors_and_the_worker_serves_on() {
    let workers = Workers::start(1, 1);
    let addr = workers.addrs[0].clone();
    rt().block_on(async {
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let methods = ["Store", "Compute", "Fetch", "Free", "Info", "Stop"];
        for round in 0..400 {
            let len = (next() % 200) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let method = methods[round % methods.len()];
            let path = http::uri::PathAndQuery::from_maybe_shared(format!("/daphne.worker.Worker/{method}")).unwrap();
            grpc.ready().await.unwrap();
            let result = if method == "Store" || method == "Fetch" {
                // Streaming calls: a stream of random messages in, any answer out.
                let parts: Vec<Vec<u8>> = bytes.chunks(len / 3 + 1).map(<[u8]>::to_vec).collect();
                grpc.streaming(tonic::Request::new(tokio_stream::iter(parts)), path, Raw).await.map(|_| ())
            } else {
                grpc.unary(tonic::Request::new(bytes), path, Raw).await.map(|_| ())
            };
            // Random bytes may happen to decode; what matters is that nothing breaks.
            let _ = result;
        }
    });
    // Still answering and holding nothing: no garbage became an object (the seed is fixed, and
    // no random message of these is a valid store), and a script still runs on it.
    let info = rt().block_on(async { raw(&addr).await.info(InfoRequest {}).await.unwrap().into_inner() });
    assert_eq!((info.objects, info.object_bytes), (0, 0), "garbage left objects behind");
    let local = check(DAPHNE, &[SCRIPT]);
    let out = check_env(DAPHNE, &["--distributed", "--min-distr-cells=0", SCRIPT], &[("DISTRIBUTED_WORKERS", &addr)]);
    assert_eq!((out.status, &out.stdout), (0, &local.stdout), "{}", out.stderr);
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn raw(addr: &str) -> WorkerClient<tonic::transport::Channel> {
    WorkerClient::connect(format!("http://{addr}")).await.unwrap()
}

/// A codec that sends and receives message bodies as raw bytes.
#[derive(Clone, Copy, Default)]
struct Raw;

impl tonic::codec::Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl tonic::codec::Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let n = bytes::Buf::remaining(src);
        Ok(Some(bytes::Buf::copy_to_bytes(src, n).to_vec()))
    }
}

/// A self-signed certificate for 127.0.0.1 and localhost: (cert, key) files.
fn certificate(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let (cert, key) = (tmp(&format!("{name}.crt")), tmp(&format!("{name}.key")));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

#[test]
fn tls_workers_serve_tls_clients_and_refuse_plaintext() {
    let (cert, key) = certificate("worker");
    let (cert_flag, key_flag) = (format!("--tls-cert={}", cert.display()), format!("--tls-key={}", key.display()));
    let workers = Workers::start_with(2, 1, &[&cert_flag, &key_flag], &[], None);
    let list = workers.list(2);
    let local = check(DAPHNE, &[SCRIPT]);
    let ca = format!("--tls-ca={}", cert.display());
    let out =
        check_env(DAPHNE, &["--distributed", "--min-distr-cells=0", &ca, SCRIPT], &[("DISTRIBUTED_WORKERS", &list)]);
    assert_eq!((out.status, &out.stdout), (0, &local.stdout), "{}", out.stderr);
    // A plaintext coordinator is refused, naming the worker.
    let out = check_env(DAPHNE, &["--distributed", "--min-distr-cells=0", SCRIPT], &[("DISTRIBUTED_WORKERS", &list)]);
    assert_eq!(out.status, 3, "{}", out.stderr);
    assert!(out.stderr.contains(&workers.addrs[0]), "{}", out.stderr);
    // A coordinator trusting another CA is refused too.
    let (other, _) = certificate("other");
    let wrong = format!("--tls-ca={}", other.display());
    let out = check_env(DAPHNE, &["--distributed", &wrong, SCRIPT], &[("DISTRIBUTED_WORKERS", &list)]);
    assert_eq!(out.status, 3, "{}", out.stderr);
}

/// `--tls-cert`, `--tls-key` and `--tls-ca` of one self-signed certificate: each end presents
/// it and trusts it (mutual TLS).
fn mutual_tls(name: &str) -> [String; 3] {
    let (cert, key) = certificate(name);
    [
        format!("--tls-cert={}", cert.display()),
        format!("--tls-key={}", key.display()),
        format!("--tls-ca={}", cert.display()),
    ]
}

#[test]
fn tls_workers_with_a_ca_require_client_certificates() {
    let flags = mutual_tls("mutual");
    let flag_refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    let workers = Workers::start_with(3, 1, &flag_refs, &[], None);
    let list = workers.list(1);
    let local = check(DAPHNE, &[SCRIPT]);
    // With the client certificate: served.
    let mut args = vec!["--distributed", "--min-distr-cells=0"];
    args.extend(&flag_refs);
    args.push(SCRIPT);
    let out = check_env(DAPHNE, &args, &[("DISTRIBUTED_WORKERS", &list)]);
    assert_eq!((out.status, &out.stdout), (0, &local.stdout), "{}", out.stderr);
    // Through a chain of relays: each worker presents its certificate to the next.
    let mut chain = vec!["--tree-above=1", "--tree-fanout=1", "--timing"];
    chain.extend(&args);
    let out = check_env(DAPHNE, &chain, &[("DISTRIBUTED_WORKERS", &workers.list(3))]);
    assert_eq!((out.status, &out.stdout), (0, &local.stdout), "{}", out.stderr);
    assert!(out.stderr.contains("\"pipelines\":") && !out.stderr.contains("\"pipelines\":0"), "{}", out.stderr);
    // Without it: refused.
    let out = check_env(DAPHNE, &["--distributed", &flags[2], SCRIPT], &[("DISTRIBUTED_WORKERS", &list)]);
    assert_eq!(out.status, 3, "{}", out.stderr);
}

#[test]
fn joins_go_over_tls_when_the_run_uses_it() {
    use std::io::BufRead;
    let flags = mutual_tls("join");
    let token = tmp("join-token");
    std::fs::write(&token, "join-secret\n").unwrap();
    let token_flag = format!("--auth-token-file={}", token.display());
    let mut worker_flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    worker_flags.push(&token_flag);
    let workers = Workers::start_with(1, 1, &worker_flags, &[], None);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let at = format!("127.0.0.1:{port}");
    let local = check(DAPHNE, &["chaos/loop.daph", "n=30"]);
    let mut coordinator = std::process::Command::new(DAPHNE)
        .args(["--distributed", "--min-distr-cells=0", &format!("--accept-joins={at}"), &token_flag])
        .args(&flags)
        .args(["chaos/loop.daph", "n=30"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"))
        .env("DISTRIBUTED_WORKERS", &workers.addrs[0])
        .env_remove("DAPHNE_AUTH_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = coordinator.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let mut err = String::new();
    // Once it runs: a plaintext joiner is refused, a TLS joiner (with the token) joins.
    let mut joiner = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        err.push_str(&line);
        err.push('\n');
        if line.trim() == "2" {
            let plain = rt().block_on(async {
                let channel = tonic::transport::Endpoint::from_shared(format!("http://{at}")).unwrap().connect().await;
                match channel {
                    Err(e) => Err(e.to_string()),
                    Ok(ch) => {
                        let attach = daphne_distributed::auth::Attach::new(Some("join-secret")).unwrap();
                        let mut c = daphne_distributed::proto::coordinator_client::CoordinatorClient::with_interceptor(
                            ch, attach,
                        );
                        c.join(daphne_distributed::proto::JoinRequest { address: workers.addrs[0].clone() })
                            .await
                            .map(|_| ())
                            .map_err(|s| s.message().to_owned())
                    }
                }
            });
            // Refused by the connection, not by the join service's own checks.
            let e = plain.expect_err("a plaintext join was taken");
            assert!(!e.contains("already") && !e.contains("cannot use"), "a plaintext join was served: {e}");
            let mut args = worker_flags.clone();
            args.extend(["--join", &at]);
            joiner = Some(Workers::start_with(1, 1, &args, &[], None));
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
    let out = coordinator.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), local.stdout, "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("joined"), "the TLS joiner did not join:\n{err}");
    drop(joiner);
}
