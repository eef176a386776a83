//! Where a pipeline's rows go: the live workers in order get the aligned groups of blocks
//! `daphne_ir::pipeline::partition` cuts; and the ids this coordinator gives objects.

use std::ops::Range;
use std::sync::atomic::Ordering;

use daphne_ir::pipeline::partition;

use super::state::Inner;

/// A pipeline's rows over the workers.
pub(super) struct Placement {
    /// The workers still alive, in order.
    pub(super) live: Vec<usize>,
    /// The live workers that got rows (and get a task).
    pub(super) active: Vec<usize>,
    /// Every worker's rows (empty for the others).
    pub(super) rows: Vec<Range<usize>>,
    /// Rows per group: each worker folds each group alone.
    pub(super) group_rows: usize,
    /// Every worker's groups (empty for the others), among `0..groups`.
    pub(super) groups: Vec<Range<usize>>,
}

impl Placement {
    /// The pipeline's number of groups.
    pub(super) fn total_groups(&self) -> usize {
        self.groups.iter().map(|g| g.end).max().unwrap_or(0)
    }
}

impl Inner {
    /// A fresh object id (below the ids workers give their results).
    pub(super) fn fresh_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) & !crate::worker::WORKER_IDS
    }

    /// The workers still alive.
    pub(super) fn live(&self) -> Vec<usize> {
        let state = self.state();
        (0..state.alive.len()).filter(|&w| state.alive[w]).collect()
    }

    /// Whether any of `workers` is dead.
    pub(super) fn any_dead(&self, mut workers: impl Iterator<Item = usize>) -> bool {
        let state = self.state();
        workers.any(|w| !state.alive[w])
    }

    /// `n` rows over the live workers (`None` when no worker is left).
    pub(super) fn place(&self, n: usize) -> Option<Placement> {
        let all = self.link.workers();
        let live = self.live();
        if live.is_empty() {
            return None;
        }
        let (group_rows, ranges) = partition(n, live.len());
        // Every worker's rows (the live ones in order get the groups); workers without groups
        // get no task.
        let mut rows: Vec<Range<usize>> = vec![0..0; all];
        let mut groups: Vec<Range<usize>> = vec![0..0; all];
        let mut active = Vec::with_capacity(live.len());
        for (&w, g) in live.iter().zip(&ranges) {
            rows[w] = (g.start * group_rows).min(n)..(g.end * group_rows).min(n);
            groups[w] = g.clone();
            if !g.is_empty() {
                active.push(w);
            }
        }
        Some(Placement { live, active, rows, group_rows, groups })
    }
}
