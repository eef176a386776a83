//! Workers on other hosts, simulated by network namespaces: a coordinator and two workers in
//! namespaces of their own, joined by veth pairs to a bridge in a fourth namespace (nothing of
//! this reaches the machine's own network). A worker's link is cut mid-run and restored, and
//! a link is throttled with `tc ... tbf`: the run prints the local bytes each time. Needs root
//! and iproute2; elsewhere the tests say why they skip.

mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

use common::check;

const DAPHNE: &str = env!("CARGO_BIN_EXE_daphne");
const WORKER: &str = env!("CARGO_BIN_EXE_daphne-worker");
const SCRIPT: &str = "chaos/loop.daph";

/// `ip ARGS`, failing the test on an error.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// A bridge namespace and a namespace per host, removed when dropped.
struct Cluster {
    tag: String,
    hosts: Vec<String>,
    workers: Vec<std::process::Child>,
}

impl Cluster {
    /// Why namespaces cannot be made here, if they cannot.
    fn unavailable() -> Option<String> {
        // SAFETY-free check of root: `id -u`.
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Some("not root".into());
        }
        let probe = format!("dphprobe{}", std::process::id() % 100_000);
        match Command::new("ip").args(["netns", "add", &probe]).output() {
            Ok(o) if o.status.success() => {
                let _ = Command::new("ip").args(["netns", "del", &probe]).status();
                None
            }
            Ok(o) => Some(format!("ip netns add failed: {}", String::from_utf8_lossy(&o.stderr).trim())),
            Err(e) => Some(format!("no ip command: {e}")),
        }
    }

    /// Hosts `c` (the coordinator), `w0`, `w1`, ... at 10.213.N.x on one bridge, a worker
    /// serving on each `w` host.
    fn new(test: u8, workers: usize) -> Cluster {
        let tag = format!("{}{test}", std::process::id() % 10_000);
        let bridge = format!("dpb{tag}");
        ip(&["netns", "add", &bridge]);
        ip(&["-n", &bridge, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &bridge, "link", "set", "br0", "up"]);
        let mut hosts = vec![bridge.clone()];
        let names: Vec<String> = std::iter::once("c".to_owned()).chain((0..workers).map(|w| format!("w{w}"))).collect();
        for (i, name) in names.iter().enumerate() {
            let ns = format!("dp{name}{tag}");
            ip(&["netns", "add", &ns]);
            hosts.push(ns.clone());
            // One end in the host, the other on the bridge.
            let (inner, outer) = (format!("e{name}{tag}"), format!("b{name}{tag}"));
            ip(&["link", "add", &inner, "netns", &ns, "type", "veth", "peer", "name", &outer, "netns", &bridge]);
            ip(&["-n", &bridge, "link", "set", &outer, "master", "br0"]);
            ip(&["-n", &bridge, "link", "set", &outer, "up"]);
            ip(&["-n", &ns, "addr", "add", &format!("10.213.{test}.{}/24", 10 + i), "dev", &inner]);
            ip(&["-n", &ns, "link", "set", &inner, "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        let mut cluster = Cluster { tag, hosts, workers: Vec::new() };
        for w in 0..workers {
            cluster.start_worker(test, w);
        }
        cluster
    }

    /// `DISTRIBUTED_WORKERS` for the workers of test `test`.
    fn list(&self, test: u8) -> String {
        (0..self.workers.len()).map(|w| Cluster::addr(test, w)).collect::<Vec<_>>().join(",")
    }

    /// The address of worker `w`.
    fn addr(test: u8, w: usize) -> String {
        format!("10.213.{test}.{}:7000", 11 + w)
    }

    /// Starts worker `w` in its namespace.
    fn start_worker(&mut self, test: u8, w: usize) {
        let ns = format!("dpw{w}{}", self.tag);
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns, WORKER, &Cluster::addr(test, w), "--num-threads=1", "--exit-with-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the worker starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("Started Distributed Worker"), "{line}");
        self.workers.push(child);
    }

    /// Runs the chaos loop from the coordinator's namespace with `flags`, calling `at(k)` when
    /// iteration `k` is printed: status, stdout, stderr.
    fn run(&self, list: &str, flags: &[&str], mut at: impl FnMut(usize)) -> (i32, String, String) {
        let ns = format!("dpc{}", self.tag);
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns, DAPHNE, "--distributed", "--min-distr-cells=0"])
            .args(flags)
            .args([SCRIPT, "n=30"])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"))
            .env("DISTRIBUTED_WORKERS", list)
            .env_remove("DAPHNE_AUTH_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("daphne starts");
        let mut err = String::new();
        for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
            let line = line.unwrap();
            if let Ok(k) = line.trim().parse::<usize>() {
                at(k);
            }
            err.push_str(&line);
            err.push('\n');
        }
        let out = child.wait_with_output().unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), err)
    }

    /// `ip ARGS` inside the bridge namespace (where the hosts' links end).
    fn on_bridge(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.hosts[0]];
        all.extend(args);
        ip(&all);
    }

    /// The bridge end of host `name`'s link.
    fn link(&self, name: &str) -> String {
        format!("b{name}{}", self.tag)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for w in &mut self.workers {
            let _ = w.kill();
            let _ = w.wait();
        }
        for ns in &self.hosts {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Skips (with the reason on stderr) where namespaces cannot be made.
macro_rules! needs_namespaces {
    () => {
        if let Some(why) = Cluster::unavailable() {
            eprintln!("SKIPPED: network namespaces are not available here ({why})");
            return;
        }
    };
}

#[test]
fn a_worker_cut_off_mid_run_and_restored_changes_nothing() {
    needs_namespaces!();
    let local = check(DAPHNE, &[SCRIPT, "n=30"]);
    let cluster = Cluster::new(1, 2);
    let list = cluster.list(1);
    let link = cluster.link("w1");
    let (status, stdout, stderr) = cluster.run(&list, &["--heartbeat-timeout=2"], |k| match k {
        6 => cluster.on_bridge(&["link", "set", &link, "down"]),
        14 => cluster.on_bridge(&["link", "set", &link, "up"]),
        _ => {}
    });
    assert_eq!((status, &stdout), (0, &local.stdout), "{stderr}");
    assert!(stderr.contains("stopped answering"), "the cut was not noticed:\n{stderr}");
}

#[test]
fn a_throttled_link_changes_nothing() {
    needs_namespaces!();
    let local = check(DAPHNE, &[SCRIPT, "n=30"]);
    let cluster = Cluster::new(2, 2);
    // 200 Mbit/s towards worker 1 (the 16 MB it gets take about 0.7 s).
    let link = cluster.link("w1");
    cluster.on_bridge(&["link", "set", &link, "up"]);
    let tc = Command::new("ip")
        .args(["netns", "exec", &cluster.hosts[0], "tc", "qdisc", "add", "dev", &link])
        .args(["root", "tbf", "rate", "200mbit", "burst", "256kb", "latency", "100ms"])
        .output()
        .expect("tc runs");
    assert!(tc.status.success(), "tc: {}", String::from_utf8_lossy(&tc.stderr));
    let list = cluster.list(2);
    let (status, stdout, stderr) = cluster.run(&list, &[], |_| {});
    assert_eq!((status, &stdout), (0, &local.stdout), "{stderr}");
}
