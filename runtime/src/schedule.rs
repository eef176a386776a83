//! How a pipeline's blocks are handed to threads: DAPHNE's task partitioning schemes
//! (`--partitioning`, `--grain-size`). A scheme decides only the sizes of the tasks (contiguous
//! ranges of whole blocks) and threads take the next task when they become free; every block
//! still writes its own outputs and partials, which are folded in the canonical block order, so
//! the scheme changes the speed and never a bit of the result.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Work smaller than this many cells runs on the calling thread: handing it to other threads
/// costs more than it saves (measured: `sum(X * 2 + i)` on 1000x10 in a loop was 7x slower
/// on two threads when each call started a thread).
pub const MIN_PARALLEL_CELLS: usize = 1 << 15;

/// A partitioning scheme, by DAPHNE's names (`SelfSchedulingScheme`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Partitioning {
    /// One task per thread, of equal size.
    #[default]
    Static,
    /// Self-scheduling: one block per task.
    Ss,
    /// Guided self-scheduling: a thread takes its share of what remains.
    Gss,
    /// Trapezoid self-scheduling: sizes fall linearly from half a share to one block.
    Tss,
    /// Factoring: batches of one task per thread, each batch takes half of what remains.
    Fac2,
    /// Trapezoid factoring: batches as in factoring, each of the mean size of TSS's tasks.
    Tfss,
    /// Fixed increase: batches whose sizes grow by a fixed step.
    Fiss,
    /// Variable increase: batches whose sizes grow by half each time.
    Viss,
    /// Performance-based loop scheduling: half the work statically, the rest guided.
    Pls,
    /// Modified static: four tasks per thread, of equal size.
    Mstatic,
    /// Modified fixed-size chunking: equal tasks, as many as factoring would make.
    Mfsc,
    /// Probabilistic self-scheduling: what remains divided by 1.5 times the threads.
    Pss,
}

impl Partitioning {
    /// Every scheme with its name on the command line.
    pub const ALL: [(&'static str, Partitioning); 12] = [
        ("STATIC", Partitioning::Static),
        ("SS", Partitioning::Ss),
        ("GSS", Partitioning::Gss),
        ("TSS", Partitioning::Tss),
        ("FAC2", Partitioning::Fac2),
        ("TFSS", Partitioning::Tfss),
        ("FISS", Partitioning::Fiss),
        ("VISS", Partitioning::Viss),
        ("PLS", Partitioning::Pls),
        ("MSTATIC", Partitioning::Mstatic),
        ("MFSC", Partitioning::Mfsc),
        ("PSS", Partitioning::Pss),
    ];

    /// Every scheme's name, comma-separated (for messages).
    pub fn names() -> String {
        Self::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
    }

    /// The scheme of a command-line name (case-insensitive).
    pub fn parse(name: &str) -> Option<Partitioning> {
        Self::ALL.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|&(_, p)| p)
    }

    /// The sizes (in blocks) of the tasks for `total` blocks on `workers` threads, each at least
    /// `min` blocks (the last may be smaller); they add up to `total`.
    pub fn sizes(self, total: usize, workers: usize, min: usize) -> Vec<usize> {
        let p = workers.max(1);
        let (n, min) = (total, min.max(1));
        let div = |a: usize, b: f64| (a as f64 / b).ceil() as usize;
        // TSS: from f = N/2P down to 1 over C = 2N/(f+1) tasks.
        let tss_first = n.div_ceil(2 * p).max(1);
        let tss_count = (2 * n).div_ceil(tss_first + 1).max(2);
        let tss = |i: usize| {
            let delta = (tss_first - 1) as f64 / (tss_count - 1) as f64;
            ((tss_first as f64 - i as f64 * delta).ceil() as usize).max(1)
        };
        let fac2_chunks = {
            let (mut r, mut c) = (n, 0);
            while r > 0 {
                let size = r.div_ceil(2 * p).max(1);
                for _ in 0..p {
                    r = r.saturating_sub(size);
                    c += 1;
                }
            }
            c.max(1)
        };
        const FISS_STAGES: usize = 4;
        let fiss_first = div(n, ((2 + FISS_STAGES) * p) as f64).max(1);
        let fiss_step = div(2 * n, (p * FISS_STAGES * (FISS_STAGES - 1)) as f64) / (2 + FISS_STAGES);
        let mut sizes = Vec::new();
        let (mut remaining, mut batch_size) = (n, 0);
        let mut step = 0;
        while remaining > 0 {
            let batch = step / p;
            let size = match self {
                Partitioning::Static => n.div_ceil(p),
                Partitioning::Ss => 1,
                Partitioning::Gss => remaining.div_ceil(p),
                Partitioning::Tss => tss(step),
                Partitioning::Fac2 => {
                    if step % p == 0 {
                        batch_size = remaining.div_ceil(2 * p);
                    }
                    batch_size
                }
                Partitioning::Tfss => {
                    if step % p == 0 {
                        batch_size = (0..p).map(|k| tss(step + k)).sum::<usize>().div_ceil(p);
                    }
                    batch_size
                }
                Partitioning::Fiss => fiss_first + batch * fiss_step,
                Partitioning::Viss => (fiss_first as f64 * 1.5f64.powi(batch.min(64) as i32)).ceil() as usize,
                Partitioning::Pls => {
                    if n - remaining < n / 2 {
                        (n / 2).div_ceil(p)
                    } else {
                        remaining.div_ceil(p)
                    }
                }
                Partitioning::Mstatic => n.div_ceil(4 * p),
                Partitioning::Mfsc => n.div_ceil(fac2_chunks),
                Partitioning::Pss => div(remaining, 1.5 * p as f64),
            };
            let size = size.max(min).min(remaining);
            sizes.push(size);
            remaining -= size;
            step += 1;
        }
        sizes
    }
}

/// Where and how a pipeline's blocks run.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    pub threads: usize,
    pub partitioning: Partitioning,
    /// The smallest task in rows (DAPHNE's `--grain-size`); a task is never less than a block.
    pub grain_rows: usize,
}

impl Schedule {
    /// Static partitioning on `threads` threads.
    pub fn on(threads: usize) -> Schedule {
        Schedule { threads: threads.max(1), partitioning: Partitioning::Static, grain_rows: 1 }
    }

    /// This schedule for work of `cells` cells: on one thread when it is small.
    pub fn for_cells(&self, cells: usize) -> Schedule {
        if cells < MIN_PARALLEL_CELLS { Schedule { threads: 1, ..*self } } else { *self }
    }

    /// The tasks for `blocks` blocks of (at most) `block_rows` rows: ranges of block indices,
    /// in order, covering all blocks.
    pub fn tasks(&self, blocks: usize, block_rows: usize) -> Vec<Range<usize>> {
        let min = self.grain_rows.div_ceil(block_rows.max(1));
        let mut start = 0;
        self.partitioning
            .sizes(blocks, self.threads, min)
            .into_iter()
            .map(|s| {
                start += s;
                start - s..start
            })
            .collect()
    }

    /// Runs `work` on every item, on up to `threads` threads that each take the next item when
    /// they are free. The results are in item order; after an item whose result is `stop`, the
    /// items after it are not started (those before it all run, so the first stop in order is
    /// always found) and have no result.
    pub fn run<S: Send, T: Send>(
        &self,
        items: Vec<S>,
        work: impl Fn(S) -> T + Sync,
        stop: impl Fn(&T) -> bool + Sync,
    ) -> Vec<Option<T>> {
        let count = items.len();
        let threads = self.threads.min(count);
        if threads <= 1 {
            let mut out = Vec::with_capacity(count);
            for item in items {
                let t = work(item);
                let halt = stop(&t);
                out.push(Some(t));
                if halt {
                    break;
                }
            }
            out.resize_with(count, || None);
            return out;
        }
        let slots: Vec<Mutex<Option<S>>> = items.into_iter().map(|s| Mutex::new(Some(s))).collect();
        let results: Vec<Mutex<Option<T>>> = (0..count).map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let first_stop = AtomicUsize::new(usize::MAX);
        let worker = || {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || i > first_stop.load(Ordering::Relaxed) {
                    return;
                }
                let Some(item) = slots[i].lock().unwrap_or_else(|e| e.into_inner()).take() else { continue };
                let t = work(item);
                if stop(&t) {
                    first_stop.fetch_min(i, Ordering::Relaxed);
                }
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
            }
        };
        match pool(threads) {
            Some(pool) => pool.scope(|s| {
                for _ in 0..threads {
                    s.spawn(|_| worker());
                }
            }),
            None => std::thread::scope(|s| {
                for _ in 1..threads {
                    s.spawn(worker);
                }
                worker();
            }),
        }
        let first = first_stop.into_inner();
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| if i > first { None } else { r.into_inner().unwrap_or_else(|e| e.into_inner()) })
            .collect()
    }
}

/// The process's pool of `threads` threads, started on first use and kept (threads are not
/// started again for every pipeline); `None` if the system refuses threads (then `run` starts
/// scoped threads, which reports the same failure where it happens).
fn pool(threads: usize) -> Option<Arc<rayon_core::ThreadPool>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon_core::ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pools.get(&threads) {
        return Some(p.clone());
    }
    let pool = rayon_core::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("daphne-worker-{i}"))
        .build()
        .ok()?;
    let pool = Arc::new(pool);
    pools.insert(threads, pool.clone());
    Some(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_covers_the_blocks_in_tasks_of_at_least_the_grain() {
        for (name, p) in Partitioning::ALL {
            for total in [0, 1, 2, 3, 7, 40, 1000, 1024] {
                for workers in [1, 2, 3, 8] {
                    for min in [1, 3] {
                        let sizes = p.sizes(total, workers, min);
                        assert_eq!(sizes.iter().sum::<usize>(), total, "{name} {total} {workers} {min}");
                        let body = &sizes[..sizes.len().saturating_sub(1)];
                        assert!(body.iter().all(|&s| s >= min), "{name} {total} {workers}: {sizes:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_schemes_have_their_shapes() {
        assert_eq!(Partitioning::Static.sizes(10, 3, 1), [4, 4, 2]);
        assert_eq!(Partitioning::Ss.sizes(3, 2, 1), [1, 1, 1]);
        assert_eq!(Partitioning::Gss.sizes(10, 2, 1), [5, 3, 1, 1]);
        assert_eq!(Partitioning::Fac2.sizes(16, 2, 1), [4, 4, 2, 2, 1, 1, 1, 1]);
        assert_eq!(Partitioning::Mstatic.sizes(16, 2, 1), [2; 8]);
        assert_eq!(Partitioning::Pss.sizes(9, 2, 1), [3, 2, 2, 1, 1]);
        let tss = Partitioning::Tss.sizes(100, 2, 1);
        assert_eq!(tss[0], 25);
        assert!(tss.windows(2).all(|w| w[0] >= w[1]), "{tss:?}");
        let viss = Partitioning::Viss.sizes(100, 2, 1);
        assert!(viss[2] > viss[0], "{viss:?}");
        assert_eq!(Partitioning::parse("fac2"), Some(Partitioning::Fac2));
        assert_eq!(Partitioning::parse("AUTO"), None);
    }

    #[test]
    fn the_grain_is_counted_in_rows() {
        let s = Schedule { threads: 2, partitioning: Partitioning::Ss, grain_rows: 600 };
        assert_eq!(s.tasks(7, 256), [0..3, 3..6, 6..7]);
        assert_eq!(Schedule::on(2).tasks(0, 256), Vec::<Range<usize>>::new());
    }

    #[test]
    fn run_keeps_item_order_and_finds_the_first_stop() {
        for threads in [1, 2, 4] {
            let s = Schedule::on(threads);
            let out = s.run((0..50).collect(), |i: usize| i * 2, |_| false);
            assert_eq!(out, (0..50).map(|i| Some(i * 2)).collect::<Vec<_>>());
            let out = s.run((0..50).collect(), |i: usize| i, |&i| i == 7 || i == 30);
            assert_eq!(out[..8], (0..8).map(Some).collect::<Vec<_>>()[..], "{threads}");
            assert!(out[8..].iter().all(Option::is_none), "{threads}");
        }
    }
}
