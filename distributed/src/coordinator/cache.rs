//! The input cache (inputs stored on the workers, by the identity of their cells), the values
//! seen before (which large inputs pipelines use again), and the objects to free.

use daphne_ir::Split;
use daphne_runtime::value::Value;

use super::state::Inner;
pub(super) use super::state::{Cached, Identity, Role};

/// The identity of a value's cells, for caching (matrices and CSR matrices).
pub(super) fn identity(v: &Value) -> Option<Identity> {
    match v {
        Value::Matrix(m) => {
            let (a, b, c, d) = m.identity();
            Some((a, b, c, d, false))
        }
        Value::Sparse(m) => {
            let (a, b, c, d) = m.identity();
            Some((a, b, c, d, true))
        }
        _ => None,
    }
}

/// Whether only the coordinator's own clone still holds a value's cells.
fn unshared(v: &Value) -> bool {
    match v {
        Value::Matrix(m) => m.is_unshared(),
        Value::Sparse(m) => m.is_unshared(),
        _ => true,
    }
}

/// Queues the objects `ids` (one per worker, where there is one) to be freed.
fn queue(to_free: &mut [Vec<u64>], ids: &[Option<u64>]) {
    for (w, id) in ids.iter().enumerate() {
        if let Some(id) = id {
            to_free[w].push(*id);
        }
    }
}

impl Inner {
    /// Whether every large row-split input was seen by an earlier pipeline; records them.
    pub(super) fn seen_before(&self, inputs: &[Value], splits: &[Split]) -> bool {
        let mut state = self.state();
        // Only matrices are kept (they have an identity): dropping them here drops no remote
        // value, as the lock's invariant asks.
        state.seen.retain(|_, v| !unshared(v));
        let mut all = true;
        for (v, s) in inputs.iter().zip(splits) {
            if *s != Split::Rows {
                continue;
            }
            if let Some(id) = identity(v)
                && state.seen.insert(id, v.clone()).is_none()
            {
                all = false;
            }
        }
        all
    }

    /// Records the row outputs of a pipeline that ran locally (a later pipeline over them
    /// goes to the workers).
    pub(super) fn remember<'v>(&self, rows: impl Iterator<Item = &'v Value>) {
        let mut state = self.state();
        for v in rows {
            if let Some(identity) = identity(v) {
                state.seen.insert(identity, v.clone());
            }
        }
    }

    /// The cached objects of an input stored as `key`.
    pub(super) fn cached(&self, key: &(Identity, Role)) -> Option<Vec<Option<u64>>> {
        self.state().cache.get(key).map(|c| c.ids.clone())
    }

    /// Caches inputs just stored.
    pub(super) fn cache(&self, stored: Vec<((Identity, Role), Cached)>) {
        self.state().cache.extend(stored);
    }

    /// Frees the cached inputs the script no longer holds.
    pub(super) fn sweep(&self) {
        let mut state = self.state();
        let state = &mut *state;
        state.cache.retain(|_, c| {
            let gone = unshared(&c.value);
            if gone {
                queue(&mut state.to_free, &c.ids);
            }
            !gone
        });
    }

    /// Forgets every cached input, freeing its objects on the workers (they were split for
    /// another set of workers, or the run ends).
    pub(super) fn drop_cache(&self) {
        let mut state = self.state();
        let state = &mut *state;
        for (_, c) in state.cache.drain() {
            queue(&mut state.to_free, &c.ids);
        }
    }

    /// Queues objects (one per worker, where there is one) to be freed at the next pipeline.
    pub(super) fn free_later(&self, ids: &[Option<u64>]) {
        queue(&mut self.state().to_free, ids);
    }

    /// Queues objects (worker, id) to be freed at the next pipeline.
    pub(super) fn free_each(&self, objects: impl Iterator<Item = (usize, u64)>) {
        let mut state = self.state();
        for (w, id) in objects {
            state.to_free[w].push(id);
        }
    }

    /// Takes every worker's queue of objects to free.
    pub(super) fn take_frees(&self) -> Vec<(usize, Vec<u64>)> {
        self.state().to_free.iter_mut().map(std::mem::take).enumerate().collect()
    }

    /// Sends the pending frees (without waiting for the answers).
    pub(super) fn flush_frees(&self) {
        let pending: Vec<(usize, Vec<u64>)> =
            self.take_frees().into_iter().filter(|(_, ids)| !ids.is_empty()).collect();
        if !pending.is_empty() {
            self.link.free(pending, false);
        }
    }
}
