//! How much memory the process holds, and the one budget every large allocation is checked
//! against before it happens.
//!
//! The process's allocator is [`Counting`]: the system allocator, counting the bytes live. A
//! value whose size comes from the script or from a message (`fill(0, 1e18, 1)`, a product of
//! two large matrices, a worker's store of a declared size) is checked with [`check`] or
//! [`reserve`] first, so it becomes an error naming the size instead of an abort: the bytes
//! live now, plus those reserved by operations under way, plus the request, must stay within
//! [`limit`] (the machine's memory, a cgroup's or `ulimit -v`'s limit when smaller, or what
//! [`set_limit`] gave: a worker's `--memory-limit`). A large request must also fit in the
//! memory the machine has available right now.
//!
//! Architecture Invariant: the count and the limit are per process (there is one heap); this
//! module is the only place that knows them.

use crate::error::Error;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting live bytes.
pub struct Counting;

/// Live bytes, as far as threads have reported them (wrapping: a thread may report its frees
/// before another reports the allocations).
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

/// A thread reports its allocations once they add up to this much (either way), so small
/// allocations cost no shared cache line; the count lags by less than this per thread.
const BATCH: usize = 64 << 10;

thread_local! {
    /// This thread's allocations not yet reported (a wrapping difference).
    static PENDING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts `delta` more live bytes (a wrapping difference: frees are negative).
#[inline]
fn count(delta: usize) {
    let reported = PENDING.try_with(|p| {
        let v = p.get().wrapping_add(delta);
        if (v as isize).unsigned_abs() >= BATCH {
            ALLOCATED.fetch_add(v, Ordering::Relaxed);
            p.set(0);
        } else {
            p.set(v);
        }
    });
    if reported.is_err() {
        // The thread is going away: report directly.
        ALLOCATED.fetch_add(delta, Ordering::Relaxed);
    }
}
static RESERVED: AtomicUsize = AtomicUsize::new(0);
/// The budget in bytes; 0 until it is first needed (then the machine's).
static LIMIT: AtomicUsize = AtomicUsize::new(0);

// The runtime's third `unsafe`: forwarding to the system allocator unchanged.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is the system allocator's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        count(layout.size().wrapping_neg());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as `dealloc` and `alloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size.wrapping_sub(layout.size()));
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Requests at least this large are also checked against the memory available right now.
const CHECK_AVAILABLE: usize = 256 << 20;

/// Bytes the process's heap holds now (to within `BATCH` per thread).
pub fn allocated() -> usize {
    let a = ALLOCATED.load(Ordering::Relaxed);
    // Frees reported before their allocations can make it dip below zero for a moment.
    if (a as isize) < 0 { 0 } else { a }
}

/// Bytes reserved by operations under way (see [`reserve`]).
pub fn reserved() -> usize {
    RESERVED.load(Ordering::Relaxed)
}

/// The budget: what [`set_limit`] gave, else the machine's memory (or a smaller cgroup or
/// address-space limit).
pub fn limit() -> usize {
    match LIMIT.load(Ordering::Relaxed) {
        0 => {
            let m = machine_limit();
            LIMIT.store(m, Ordering::Relaxed);
            m
        }
        l => l,
    }
}

/// Sets the budget (a worker's `--memory-limit`); `None` goes back to the machine's.
pub fn set_limit(bytes: Option<usize>) {
    LIMIT.store(bytes.unwrap_or_else(machine_limit).max(1), Ordering::Relaxed);
}

/// Fails, naming `what` and the sizes, unless `bytes` more fit in the budget now.
pub fn check(bytes: usize, what: &str) -> Result<(), Error> {
    let (held, reserved, limit) = (allocated(), reserved(), limit());
    if bytes > limit {
        // Whatever else is held: the same message on every run (scripts' outputs are compared
        // across runs, fused and not, local and distributed).
        return Err(Error::OutOfMemory(format!(
            "{what} needs {} of memory, more than the {} budget",
            human(bytes),
            human(limit)
        )));
    }
    let used = held.saturating_add(reserved);
    if used.saturating_add(bytes) > limit {
        return Err(Error::OutOfMemory(format!(
            "{what} needs {} of memory, but only {} of the {} budget is free ({} in use{})",
            human(bytes),
            human(limit.saturating_sub(used)),
            human(limit),
            human(held),
            if reserved > 0 { format!(", {} reserved", human(reserved)) } else { String::new() }
        )));
    }
    if bytes >= CHECK_AVAILABLE
        && let Some(free) = available()
        && bytes > free
    {
        return Err(Error::OutOfMemory(format!(
            "{what} needs {} of memory, but the machine has {} available",
            human(bytes),
            human(free)
        )));
    }
    if bytes >= CHECK_AVAILABLE
        && let Some(left) = address_space_left()
        && bytes > left
    {
        // Under `ulimit -v` the stacks and code count too: the allocation would fail.
        return Err(Error::OutOfMemory(format!(
            "{what} needs {} of memory, but the address space limit (ulimit -v) leaves {}",
            human(bytes),
            human(left)
        )));
    }
    Ok(())
}

/// The address space left under a `ulimit -v` (its limit less the process's virtual size),
/// when there is such a limit.
fn address_space_left() -> Option<usize> {
    let limit = address_space_limit()?;
    Some(limit.saturating_sub(proc_bytes("/proc/self/status", "VmSize:")?))
}

/// The bytes of `rows x cols` cells of `width` bytes each, if that is a size at all.
pub fn cells_bytes(rows: usize, cols: usize, width: usize) -> Option<usize> {
    rows.checked_mul(cols)?.checked_mul(width).filter(|&b| b <= isize::MAX as usize)
}

/// [`check`] for a matrix of `rows x cols` cells of type `T`: `what` names the operation.
pub fn check_cells<T>(rows: usize, cols: usize, what: &str) -> Result<(), Error> {
    let width = std::mem::size_of::<T>().max(1);
    match cells_bytes(rows, cols, width) {
        Some(b) => check(b, &format!("{what} ({rows}x{cols} cells)")),
        None => Err(Error::OutOfMemory(format!("{what} ({rows}x{cols} cells) is larger than any memory"))),
    }
}

/// [`check_cells`], and that the longer side of the matrix fits as a vector of `T` too: a
/// matrix without cells (`fill(0, 1e18, 0)`) still has results along its sides (`sum(X, 0)`,
/// `t(X)`) and work per row (the blocks of a pipeline, printing).
pub fn check_shape<T>(rows: usize, cols: usize, what: &str) -> Result<(), Error> {
    check_cells::<T>(rows, cols, what)?;
    if rows == 0 || cols == 0 {
        let side = rows.max(cols);
        let width = std::mem::size_of::<T>().max(1);
        match cells_bytes(side, 1, width) {
            Some(b) => check(b, &format!("{what} ({rows}x{cols}: results along its {side} rows or columns)"))?,
            None => {
                return Err(Error::OutOfMemory(format!(
                    "{what} ({rows}x{cols}) has more rows or columns than any memory holds"
                )));
            }
        }
    }
    Ok(())
}

/// Bytes held back for an operation under way until the reservation is dropped: what a
/// worker has promised to a store whose chunks are still arriving, or to a task's outputs.
#[derive(Debug)]
pub struct Reservation(usize);

impl Reservation {
    /// The bytes reserved.
    pub fn bytes(&self) -> usize {
        self.0
    }

    /// Gives back `bytes` of the reservation (they are now allocated, and counted as such).
    pub fn release(&mut self, bytes: usize) {
        let b = bytes.min(self.0);
        RESERVED.fetch_sub(b, Ordering::Relaxed);
        self.0 -= b;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        RESERVED.fetch_sub(self.0, Ordering::Relaxed);
    }
}

/// Reserves `bytes` if they fit ([`check`]).
pub fn reserve(bytes: usize, what: &str) -> Result<Reservation, Error> {
    check(bytes, what)?;
    RESERVED.fetch_add(bytes, Ordering::Relaxed);
    Ok(Reservation(bytes))
}

/// A byte count for people: `512 B`, `1.5 KB`, `8.0 EB` (powers of 1024).
pub fn human(bytes: usize) -> String {
    const UNITS: [&str; 7] = ["B", "KB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut x = bytes as f64;
    let mut u = 0;
    while x >= 1024.0 && u + 1 < UNITS.len() {
        x /= 1024.0;
        u += 1;
    }
    format!("{x:.1} {}", UNITS[u])
}

/// The machine's memory, or a smaller cgroup (v2 `memory.max`, v1 `memory.limit_in_bytes`) or
/// address-space (`ulimit -v`) limit.
fn machine_limit() -> usize {
    let mut limit = machine().unwrap_or(usize::MAX);
    for path in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
        if let Some(l) = std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse::<usize>().ok()) {
            limit = limit.min(l);
        }
    }
    if let Some(l) = address_space_limit() {
        limit = limit.min(l);
    }
    limit
}

/// The `ulimit -v` of the process (`RLIMIT_AS`), when it has one.
fn address_space_limit() -> Option<usize> {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    #[allow(unsafe_code)]
    // SAFETY: `getrlimit` writes one `rlimit` that we own.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &raw mut rl) } == 0;
    (ok && rl.rlim_cur != libc::RLIM_INFINITY).then(|| usize::try_from(rl.rlim_cur).unwrap_or(usize::MAX))
}

/// The machine's memory (`MemTotal`), if known.
pub fn machine() -> Option<usize> {
    meminfo("MemTotal:")
}

/// The process's resident set size (`/proc/self/statm`), if known.
pub fn resident() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages = text.split_whitespace().nth(1)?.parse::<usize>().ok()?;
    Some(pages.saturating_mul(4096))
}

/// The most memory the process has held resident so far (Linux `VmHWM`), if known.
pub fn peak_resident() -> Option<usize> {
    proc_bytes("/proc/self/status", "VmHWM:")
}

/// The memory the machine could give now (`MemAvailable` and free swap), if known.
fn available() -> Option<usize> {
    Some(meminfo("MemAvailable:")?.saturating_add(meminfo("SwapFree:").unwrap_or(0)))
}

/// A `/proc/meminfo` field in bytes.
fn meminfo(name: &str) -> Option<usize> {
    proc_bytes("/proc/meminfo", name)
}

/// A field of a `/proc` file that is a number of kB (`MemTotal:`, `VmHWM:`), in bytes.
fn proc_bytes(path: &str, name: &str) -> Option<usize> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(name))?;
    line.split_whitespace().nth(1)?.parse::<usize>().ok().map(|kb| kb.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_follows_allocations() {
        // Other tests allocate concurrently: a large block shows up regardless.
        let before = allocated();
        let v = vec![0u8; 64 << 20];
        assert!(allocated() >= before + (60 << 20), "{} -> {}", before, allocated());
        drop(v);
        assert!(allocated() < before + (32 << 20));
    }

    #[test]
    fn impossible_sizes_are_errors() {
        let e = check_cells::<f64>(10_000_000_000_000_000_000, 1, "fill").unwrap_err().to_string();
        assert!(e.contains("larger than any memory"), "{e}");
        let e = check_cells::<f64>(1_000_000_000_000_000_000, 1, "fill").unwrap_err().to_string();
        assert!(e.contains("6.9 EB"), "{e}");
        let e = check_cells::<f64>(1 << 30, 1 << 20, "fill").unwrap_err().to_string();
        assert!(e.contains("8.0 PB"), "{e}");
        assert!(check_cells::<f64>(10, 10, "fill").is_ok());
        assert_eq!(human(1536), "1.5 KB");
    }
}
