//! The process's standard output and error, as `daphne` writes them.
//!
//! One buffer for stdout, shared by everything that writes it: line by line when stdout is a
//! terminal (a loop that prints shows each line at once), in blocks of `BLOCK` bytes otherwise
//! (a pipe or a file gets few large writes), and then never held longer than `DEADLINE` (a
//! thread flushes what waits): `tail -f` of a log file follows a long run, and a run killed
//! without warning (SIGKILL, the OOM killer) loses at most the last tenth of a second of its
//! output. Whatever goes to stderr first flushes stdout, so
//! the two streams keep their order when they reach the same place, and first erases the
//! progress line, if one is drawn. [`flush`] empties the buffer; the driver calls it on every
//! way out (success, errors, `stop`, SIGINT and SIGTERM).
//!
//! Before [`set_buffered`] is called, stdout is line-buffered (what a library user or a test
//! would expect of `print`).

use std::io::{self, Write};
use std::sync::{Mutex, MutexGuard};

/// The size of the stdout buffer when it is not a terminal.
const BLOCK: usize = 1 << 16;

/// How long buffered output may wait before the flushing thread writes it.
pub const DEADLINE: std::time::Duration = std::time::Duration::from_millis(100);

/// Erases the line the cursor is on (carriage return, then ANSI "erase to end of line").
const ERASE: &[u8] = b"\r\x1b[K";

struct State {
    /// Bytes written to stdout and not yet handed to the system (only when `buffered`).
    pending: Vec<u8>,
    /// Block-buffer stdout (it is not a terminal).
    buffered: bool,
    /// A progress line is drawn on stderr now.
    drawn: bool,
}

static STATE: Mutex<State> = Mutex::new(State { pending: Vec::new(), buffered: false, drawn: false });

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    fn flush_out(&mut self) -> io::Result<()> {
        let mut out = io::stdout().lock();
        if !self.pending.is_empty() {
            let written = out.write_all(&self.pending);
            self.pending.clear();
            written?;
        }
        out.flush()
    }

    fn erase(&mut self) {
        if self.drawn {
            self.drawn = false;
            let _ = io::stderr().write_all(ERASE);
        }
    }
}

/// Block-buffers stdout (`true`, for pipes and files) or writes it line by line (`false`,
/// for a terminal). What is pending is flushed first.
pub fn set_buffered(buffered: bool) {
    let mut s = state();
    let _ = s.flush_out();
    s.buffered = buffered;
    if buffered {
        static FLUSHER: std::sync::Once = std::sync::Once::new();
        FLUSHER.call_once(|| {
            let _ = std::thread::Builder::new().name("daphne-stdout".into()).spawn(|| {
                loop {
                    std::thread::sleep(DEADLINE);
                    let mut s = state();
                    if !s.pending.is_empty() {
                        let _ = s.flush_out();
                    }
                }
            });
        });
    }
}

/// Hands everything written to stdout to the system.
pub fn flush() -> io::Result<()> {
    state().flush_out()
}

/// `flush`, giving up after `limit` when another thread holds stdout (it may be blocked on a
/// pipe nobody reads): for a signal handler that must exit. Also erases the progress line.
pub fn flush_within(limit: std::time::Duration) {
    let until = std::time::Instant::now() + limit;
    loop {
        match STATE.try_lock() {
            Ok(mut s) => {
                s.erase();
                let _ = s.flush_out();
                return;
            }
            Err(std::sync::TryLockError::Poisoned(e)) => {
                let _ = e.into_inner().flush_out();
                return;
            }
            Err(std::sync::TryLockError::WouldBlock) if std::time::Instant::now() < until => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(std::sync::TryLockError::WouldBlock) => return,
        }
    }
}

/// Writes `text` on stderr after flushing stdout (and erasing the progress line).
pub fn eprint(text: &str) {
    let _ = Stderr.write_all(text.as_bytes());
}

/// Draws `line` as the progress line on stderr (replacing the one drawn), or erases it
/// (`None`). The caller decides whether stderr is a terminal.
pub fn progress(line: Option<&str>) {
    let mut s = state();
    // What the script printed goes out before the line is drawn under it.
    let _ = s.flush_out();
    match line {
        Some(l) => {
            let mut err = io::stderr().lock();
            let _ = err.write_all(ERASE).and_then(|()| err.write_all(l.as_bytes())).and_then(|()| err.flush());
            s.drawn = true;
        }
        None => s.erase(),
    }
}

/// The process's stdout through the shared buffer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut s = state();
        s.erase();
        if s.buffered {
            s.pending.extend_from_slice(buf);
            if s.pending.len() >= BLOCK {
                s.flush_out()?;
            }
            Ok(buf.len())
        } else {
            // std's stdout is line-buffered itself.
            io::stdout().write(buf)
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        state().flush_out()
    }
}

/// The process's stderr; every write flushes stdout first and erases the progress line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut s = state();
        s.erase();
        // A stdout nobody reads (a closed pipe) must not keep the message from stderr.
        let _ = s.flush_out();
        io::stderr().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
