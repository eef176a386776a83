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
    check_env(bin, args, &[])
}

/// `check` with environment variables set (`DISTRIBUTED_WORKERS`).
#[allow(dead_code)] // not every test file runs binaries
pub fn check_env(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    check_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"), bin, args, env)
}

/// `check_env` in directory `dir` (the repository's root for the examples, as the README runs them).
#[allow(dead_code)] // not every test file runs binaries
pub fn check_in(dir: &Path, bin: &str, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let mut cmd = Command::new(bin);
    cmd.args(args).current_dir(dir).env_remove("DISTRIBUTED_WORKERS").env_remove("DAPHNE_AUTH_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the binary runs");
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

/// `f` of every item, on as many threads as the machine has cores, in the items' order: the
/// corpus tests launch thousands of processes, each waiting for one CPU.
#[allow(dead_code)] // not every test file uses it
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(items.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    let slots = std::sync::Mutex::new(&mut out);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    slots.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
            });
        }
    });
    out.into_iter().map(|r| r.expect("every item was mapped")).collect()
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

/// Starts `daphne-worker ADDR` and waits until it serves: the process and its address.
fn spawn_worker(
    addr: &str,
    threads: usize,
    args: &[&str],
    env: &[(&str, &str)],
    err: std::process::Stdio,
) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_daphne-worker"))
        .args([addr, &format!("--num-threads={threads}"), "--exit-with-stdin"])
        .args(args)
        .env_remove("DAPHNE_AUTH_TOKEN")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(err)
        .spawn()
        .expect("the worker starts");
    let stdout = child.stdout.take().expect("piped");
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).expect("the worker prints its address");
    let addr = line.trim().strip_prefix("Started Distributed Worker on ").expect("DAPHNE's start line");
    (child, addr.to_owned())
}

/// Worker processes (`daphne-worker 127.0.0.1:0`) for a test; killed when dropped.
#[allow(dead_code)] // not every test file starts workers
pub struct Workers {
    children: Vec<std::process::Child>,
    pub addrs: Vec<String>,
    /// What each worker was started with (threads, more arguments), for `restart`.
    started: (usize, Vec<String>),
}

#[allow(dead_code)]
impl Workers {
    /// Starts `n` workers with `threads` threads each and waits until they serve.
    pub fn start(n: usize, threads: usize) -> Workers {
        Workers::start_with(n, threads, &[], &[], None)
    }

    /// `start` with more worker arguments, environment variables, and a file for stderr.
    pub fn start_with(n: usize, threads: usize, args: &[&str], env: &[(&str, &str)], stderr: Option<&Path>) -> Workers {
        let mut w = Workers {
            children: Vec::new(),
            addrs: Vec::new(),
            started: (threads, args.iter().map(|a| (*a).to_owned()).collect()),
        };
        for _ in 0..n {
            let err = match stderr {
                Some(p) => std::process::Stdio::from(std::fs::File::create(p).expect("a stderr file")),
                None => std::process::Stdio::inherit(),
            };
            let (child, addr) = spawn_worker("127.0.0.1:0", threads, args, env, err);
            w.addrs.push(addr);
            w.children.push(child);
        }
        w
    }

    /// `n` workers hosted by one process (`daphne-worker --simulate=N`, one thread each),
    /// each with an endpoint of its own; `kill` and the like act on the process.
    pub fn simulated(n: usize) -> Workers {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_daphne-worker"))
            .args(["127.0.0.1:0", "--num-threads=1", "--exit-with-stdin", &format!("--simulate={n}")])
            .env_remove("DAPHNE_AUTH_TOKEN")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the workers start");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("piped"));
        let addrs: Vec<String> = stdout
            .lines()
            .take(n)
            .map(|l| {
                let l = l.expect("the workers print their addresses");
                l.strip_prefix("Started Distributed Worker on ").expect("DAPHNE's start line").to_owned()
            })
            .collect();
        assert_eq!(addrs.len(), n, "every simulated worker serves");
        Workers { children: vec![child], addrs, started: (1, vec![]) }
    }

    /// Kills worker `i` and starts a new one on the same address at once (a restart: the
    /// new one holds nothing).
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        let args: Vec<&str> = self.started.1.iter().map(String::as_str).collect();
        let (child, addr) = spawn_worker(&self.addrs[i], self.started.0, &args, &[], std::process::Stdio::inherit());
        assert_eq!(addr, self.addrs[i]);
        self.children[i] = child;
    }

    /// `DISTRIBUTED_WORKERS` for the first `n` workers.
    pub fn list(&self, n: usize) -> String {
        self.addrs[..n].join(",")
    }

    /// Asks worker `i` to stop (SIGTERM: it finishes what it is doing, then exits).
    pub fn terminate(&mut self, i: usize) {
        let pid = self.children[i].id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.children[i].wait();
    }

    /// Freezes worker `i` (SIGSTOP: its connections stay open, nothing answers), as a
    /// network that is gone looks to the coordinator.
    pub fn freeze(&mut self, i: usize) {
        let pid = self.children[i].id().to_string();
        let _ = Command::new("kill").args(["-STOP", &pid]).status();
    }

    /// Lets a frozen worker `i` go on (SIGCONT).
    pub fn thaw(&mut self, i: usize) {
        let pid = self.children[i].id().to_string();
        let _ = Command::new("kill").args(["-CONT", &pid]).status();
    }

    /// Kills worker `i` (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        let _ = self.children[i].kill();
        let _ = self.children[i].wait();
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `each` on every script of `tests/run/` (its path relative to `tests/` and its
/// arguments from `NAME.args`) on two threads, and collects what it reports as failures.
#[allow(dead_code)] // not every test file runs the corpus
pub fn across_the_corpus(each: impl Fn(&str, &[&str]) -> Vec<String> + Sync) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run");
    let all = scripts(&root);
    assert!(all.len() >= 10, "the script corpus is missing");
    let failures = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    // Two threads: the machine has two cores and each run waits on workers part of the time.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while let Some(script) = all.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                    let rel = script.strip_prefix(&root).unwrap_or(script).to_string_lossy().replace('\\', "/");
                    let read = |ext: &str| std::fs::read_to_string(script.with_extension(ext)).ok();
                    let mut args = vec![format!("run/{rel}")];
                    args.extend(read("args").unwrap_or_default().lines().filter(|l| !l.is_empty()).map(str::to_owned));
                    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
                    let found = each(&rel, &arg_refs);
                    failures.lock().unwrap_or_else(|e| e.into_inner()).extend(found);
                }
            });
        }
    });
    failures.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// A small deterministic generator (xorshift64) for the tests' random cases.
#[allow(dead_code)] // not every test file draws random cases
pub struct Rng(pub u64);

#[allow(dead_code)]
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (0 for `n` of 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// An index below `n` (0 for `n` of 0).
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// A fresh scratch directory of this test process.
#[allow(dead_code)] // for the tests of frames on the workers
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("daphne-distributed-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Row `i` of the frames `frames.daph` reads: an integer, a float, a string (some quoted, with
/// the delimiter or quotes inside) and a float.
#[allow(dead_code)] // for the tests of frames on the workers
pub fn frame_row(i: usize) -> String {
    let name = match i {
        _ if i.is_multiple_of(5) => format!("\"n,{i}\""),
        _ if i.is_multiple_of(7) => format!("\"say \"\"hi\"\" {i}\""),
        _ => format!("n{i}"),
    };
    format!("{},{},{name},{}\n", (i * 37) % 1001, i as f64 * 0.25 - 100.125, ((i * i) % 97) as f64 / 8.0)
}

#[allow(dead_code)] // for the tests of frames on the workers
pub const FRAME_HEADER: &str = "id,x,name,y\n";
#[allow(dead_code)] // for the tests of frames on the workers
pub const FRAME_META: &str = r#"{"numRows":3000,"numCols":4,"header":true,"schema":[{"label":"id","valueType":"si64"},{"label":"x","valueType":"f64"},{"label":"name","valueType":"str"},{"label":"y","valueType":"f64"}]}"#;

/// Writes `rows` of the frame (a CSV file with a header line) to `path`, with `bad` rows'
/// integer cell replaced by text.
#[allow(dead_code)] // for the tests of frames on the workers
pub fn write_frame_rows(path: &std::path::Path, rows: std::ops::Range<usize>, bad: &[usize]) {
    let mut text = String::from(FRAME_HEADER);
    for i in rows {
        let row = frame_row(i);
        text.push_str(&if bad.contains(&i) { format!("1x{}", &row[row.find(',').unwrap_or(0)..]) } else { row });
    }
    std::fs::write(path, text).expect("a CSV file");
}

/// Writes a CSV part directory `name` of the frame's 3000 rows (with its `.meta` beside it).
#[allow(dead_code)] // for the tests of frames on the workers
pub fn write_frame_parts(dir: &std::path::Path, name: &str, bad: &[usize]) -> String {
    let parts = dir.join(name);
    std::fs::create_dir_all(&parts).expect("a part directory");
    for (k, rows) in [0..1000, 1000..1001, 1001..3000].into_iter().enumerate() {
        write_frame_rows(&parts.join(format!("part-{k}.csv")), rows, bad);
    }
    std::fs::write(dir.join(format!("{name}.meta")), FRAME_META).expect("a meta file");
    parts.to_string_lossy().into_owned()
}
