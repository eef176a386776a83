//! A pipeline's tasks: its module (extracted and encoded once), every input as each worker
//! gets it (in place, cached, stored now, or inline), the stores, and the tasks sent.

use std::sync::Arc;

use bytes::Bytes;
use daphne_ir::pipeline::block_rows;
use daphne_ir::{Function, OpId, OpKind, Split};
use daphne_runtime::pipeline::PipelineId;
use daphne_runtime::value::Value;

use super::cache::identity;
use super::recovery::Lineage;
use super::state::{Cached, Fail, Identity, Inner, Role, Shipped};
use crate::codec;
use crate::error::Error;
use crate::link::CallError;
use crate::proto::{self, Task};

/// Values at most this large (encoded) travel inside the task instead of being stored.
const INLINE_BYTES: usize = 64 << 10;

impl Inner {
    /// The pipeline `id` of `f` as a module of its own: its bytes (what workers get) and the
    /// module (what the lineage of its outputs keeps, to run it again). Kept by `key` (a
    /// rebuild from a lineage has none: it is rare, and its module is extracted again).
    fn module(&self, key: Option<PipelineId>, f: &Function, id: OpId) -> Result<Shipped, Error> {
        if let Some(b) = key.and_then(|k| self.state().modules.get(&k).cloned()) {
            return Ok(b);
        }
        let m = daphne_ir::pipeline::extract(f, id).ok_or_else(|| Error::internal("not a pipeline"))?;
        let b = (Bytes::from(m.to_bytes()), Arc::new(m));
        if let Some(k) = key {
            self.state().modules.insert(k, b.clone());
        }
        Ok(b)
    }

    /// Stores objects (worker, id, value) and broadcasts (id, value: on every worker).
    fn store_all(&self, objects: Vec<(usize, u64, Value)>, broadcasts: Vec<(u64, Value)>) -> Result<(), Error> {
        if objects.is_empty() && broadcasts.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let max = self.options.max_chunk_bytes;
        let mut bytes: u64 = if objects.is_empty() { 0 } else { self.link.store(objects, max)?.iter().sum() };
        let broadcast_started = std::time::Instant::now();
        let mut broadcast = 0;
        let live = self.live();
        for (id, value) in broadcasts {
            broadcast += self.link.broadcast(&live, id, value, max)?;
        }
        bytes += broadcast;
        let mut state = self.state();
        let t = &mut state.transfer;
        t.stored_bytes += bytes;
        t.store_seconds += started.elapsed().as_secs_f64();
        if broadcast > 0 {
            t.broadcast_bytes += broadcast;
            t.broadcast_seconds += broadcast_started.elapsed().as_secs_f64();
        }
        Ok(())
    }

    /// Runs pipeline `id` of `f` on `inputs` (`n` rows) over the live workers, once.
    pub(super) fn distribute(
        &self,
        me: &Arc<Inner>,
        key: Option<PipelineId>,
        f: &Function,
        id: OpId,
        inputs: &[Value],
        n: usize,
    ) -> Result<Vec<Value>, Fail> {
        let op = &f.ops[id];
        let OpKind::Pipeline(spec) = &op.kind else { return Err(Fail::Pipeline) };
        let w_all = self.link.workers();
        let placement = self.place(n).ok_or(Fail::Cluster(Error::NoneLeft))?;
        let (live, active, rows) = (&placement.live, &placement.active, &placement.rows);
        let (module, decoded) = self.module(key, f, id).map_err(Fail::Cluster)?;
        // Every input as each active worker sees it.
        let mut task_inputs: Vec<Vec<proto::Input>> = vec![Vec::with_capacity(inputs.len()); w_all];
        let mut stores: Vec<(usize, u64, Value)> = Vec::new();
        let mut broadcasts: Vec<(u64, Value)> = Vec::new();
        let mut new_cached: Vec<((Identity, Role), Cached)> = Vec::new();
        let by_object = |id: u64| proto::Input { source: Some(proto::input::Source::Object(id)) };
        for (v, split) in inputs.iter().zip(&spec.splits) {
            // A remote value already split as this pipeline splits its rows is used in place.
            if let (Split::Rows, Value::Remote(r)) = (split, v)
                && let Some(p) = self.parts_of(r)
                && p.matches(active, rows)
            {
                for (w, _, id) in &p.parts {
                    task_inputs[*w].push(by_object(*id));
                }
                continue;
            }
            let local = v.clone().local().map_err(|e| Fail::Cluster(Error::Runtime(e)))?;
            let identity = identity(&local);
            let role = if *split == Split::Rows { Role::Rows(n) } else { Role::Broadcast };
            let small = match &local {
                Value::Scalar(_) => true,
                Value::Matrix(m) => codec::dense_size(m) <= INLINE_BYTES,
                Value::Sparse(m) => m.nnz() * 16 + m.rows() * 8 <= INLINE_BYTES,
                _ => false,
            };
            if role == Role::Broadcast && small {
                let bytes = Bytes::from(codec::encode(&local).map_err(|e| Fail::Cluster(e.into()))?);
                for &w in active {
                    task_inputs[w].push(proto::Input { source: Some(proto::input::Source::Inline(bytes.clone())) });
                }
                continue;
            }
            let key = identity.map(|i| (i, role));
            let cached_ids = key.and_then(|k| {
                self.cached(&k).or_else(|| new_cached.iter().find(|(nk, _)| *nk == k).map(|(_, c)| c.ids.clone()))
            });
            let ids = match cached_ids {
                Some(ids) => ids,
                None => {
                    let mut ids = vec![None; w_all];
                    if role == Role::Broadcast {
                        // One id on every worker (MPI sends it by a collective broadcast).
                        let oid = self.fresh_id();
                        broadcasts.push((oid, local.clone()));
                        ids = live.iter().fold(vec![None; w_all], |mut ids, &w| {
                            ids[w] = Some(oid);
                            ids
                        });
                    }
                    for &w in active.iter().filter(|_| role != Role::Broadcast) {
                        let part = match &local {
                            Value::Matrix(m) => Value::Matrix(m.row_range(rows[w].start, rows[w].end)),
                            Value::Sparse(m) => Value::Sparse(
                                m.row_range(rows[w].start, rows[w].end)
                                    .map_err(|e| Fail::Cluster(Error::Runtime(e)))?,
                            ),
                            other => other.clone(),
                        };
                        let oid = self.fresh_id();
                        stores.push((w, oid, part));
                        ids[w] = Some(oid);
                    }
                    if let Some(k) = key {
                        new_cached.push((k, Cached { value: local.clone(), ids: ids.clone() }));
                    } else {
                        // Not cacheable (no identity): freed after this pipeline.
                        self.free_later(&ids);
                    }
                    ids
                }
            };
            for &w in active {
                let id = ids[w].ok_or_else(|| Fail::Cluster(Error::internal("an input missing on a worker")))?;
                task_inputs[w].push(by_object(id));
            }
        }
        self.store_all(stores, broadcasts).map_err(Fail::Cluster)?;
        self.cache(new_cached);
        let b = block_rows(n);
        let inline_limit = self.options.max_chunk_bytes.min(4 << 20) as u64;
        let tasks: Vec<(usize, Task)> = active
            .iter()
            .map(|&w| {
                let task = Task {
                    pipeline: module.clone(),
                    inputs: std::mem::take(&mut task_inputs[w]),
                    block_rows: b as u64,
                    group_rows: placement.group_rows as u64,
                    inline_limit,
                    keep_rows: true,
                    vectorize: self.options.vectorize,
                    partitioning: crate::wire::partitioning(self.options.partitioning) as i32,
                    grain_rows: self.options.grain_rows as u64,
                    first_group: placement.groups[w].start as u64,
                    total_groups: placement.total_groups() as u64,
                    relay: Vec::new(),
                    free: Vec::new(),
                };
                (w, task)
            })
            .collect();
        // What the workers are to free goes with their tasks; the others' in calls of their own.
        let mut frees = self.take_frees();
        let mut tasks = tasks;
        for (w, task) in &mut tasks {
            task.free = std::mem::take(&mut frees[*w].1);
        }
        let rest: Vec<(usize, Vec<u64>)> = frees.into_iter().filter(|(_, ids)| !ids.is_empty()).collect();
        if !rest.is_empty() {
            self.link.free(rest, false);
        }
        let sent: Vec<Vec<u64>> = tasks.iter().map(|(_, t)| t.free.clone()).collect();
        let mut results = Vec::with_capacity(active.len());
        let mut done = Vec::with_capacity(active.len());
        let mut pipeline_failed = false;
        let mut cluster_error = None;
        for ((&w, r), freed) in active.iter().zip(self.link.compute(tasks)).zip(sent) {
            match r {
                Ok(t) => {
                    done.push(w);
                    results.push(t);
                }
                Err(e) => {
                    // The task may not have reached the worker: its frees wait for the next.
                    self.free_each(freed.into_iter().map(|id| (w, id)));
                    match e {
                        CallError::Pipeline(_) => pipeline_failed = true,
                        CallError::Worker(e) => cluster_error = Some(e),
                    }
                }
            }
        }
        if cluster_error.is_some() || pipeline_failed {
            // Free what the other workers kept.
            self.forget_results(&done, &results);
        }
        if let Some(e) = cluster_error {
            return Err(Fail::Cluster(e));
        }
        if pipeline_failed {
            return Err(Fail::Pipeline);
        }
        let lineage: Vec<Arc<Lineage>> = inputs.iter().map(|v| self.lineage_of(v)).collect();
        self.assemble(me, f, id, n, &placement, results, (decoded, lineage)).map_err(Fail::Cluster)
    }
}
