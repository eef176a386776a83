//! The results of a pipeline from the workers' answers: row outputs as remote values kept on
//! the workers (`Parts`, checkpointed when their lineage grows long), column outputs joined,
//! folds folded along the canonical tree; and fetches.

use std::sync::{Arc, Mutex};

use daphne_ir::pipeline::TreeFold;
use daphne_ir::{Combine, Function, Module, OpId, OpKind};
use daphne_runtime::matrix::Matrix;
use daphne_runtime::value::{Remote, Resident, Value};

use super::placement::Placement;
use super::recovery::{Lineage, MAX_LINEAGE};
use super::state::Inner;
use crate::codec;
use crate::error::Error;
use crate::proto;

impl Inner {
    /// The parts of a remote value of this cluster.
    pub(super) fn parts_of<'r>(&self, r: &'r Remote) -> Option<&'r Parts> {
        let parts = r.data.as_any().downcast_ref::<Parts>()?;
        std::ptr::eq(Arc::as_ptr(&parts.inner), self).then_some(parts)
    }

    /// Fetches objects (worker, id) and decodes them.
    /// `largest` is the size of the largest (encoded), so chunks are few enough for a worker.
    pub(super) fn fetch_all(&self, objects: &[(usize, u64)], largest: u64) -> Result<Vec<Value>, Error> {
        let wanted: Vec<crate::link::Wanted> = objects.iter().map(|&(w, id)| (w, id, None)).collect();
        self.fetch_wanted(&wanted, largest)
    }

    /// [`Inner::fetch_all`] of objects or some of their rows.
    pub(super) fn fetch_wanted(&self, objects: &[crate::link::Wanted], largest: u64) -> Result<Vec<Value>, Error> {
        let started = std::time::Instant::now();
        let got = self.link.fetch(objects, crate::chunk_size(largest, self.options.max_chunk_bytes))?;
        let mut values = Vec::with_capacity(got.len());
        let mut received = 0u64;
        for (segments, &(w, _, _)) in got.iter().zip(objects) {
            let parts: Vec<&[u8]> = segments.iter().map(|s| s.as_ref()).collect();
            received += parts.iter().map(|p| p.len() as u64).sum::<u64>();
            let v = codec::decode_segments(&parts).map_err(|e| Error::Call {
                worker: self.link.name(w),
                call: crate::error::Call::Fetch,
                message: e.to_string(),
            })?;
            values.push(v);
        }
        let mut state = self.state();
        let t = &mut state.transfer;
        t.fetched_bytes += received;
        t.fetch_seconds += started.elapsed().as_secs_f64();
        Ok(values)
    }

    /// Frees the objects workers kept for results that will not be used.
    pub(super) fn forget_results(&self, active: &[usize], results: &[proto::TaskResult]) {
        let kept = active.iter().zip(results).flat_map(|(&w, r)| {
            r.outputs.iter().flat_map(|o| &o.parts).filter_map(move |p| match &p.result {
                Some(proto::output::Result::Kept(k)) => Some((w, k.object)),
                _ => None,
            })
        });
        self.free_each(kept);
    }

    /// The pipeline's results from the workers' answers.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn assemble(
        &self,
        me: &Arc<Inner>,
        f: &Function,
        id: OpId,
        n: usize,
        placement: &Placement,
        results: Vec<proto::TaskResult>,
        (module, inputs): (Arc<Module>, Vec<Arc<Lineage>>),
    ) -> Result<Vec<Value>, Error> {
        let (active, rows) = (&placement.active, &placement.rows);
        let depth = 1 + inputs.iter().map(|l| l.depth()).max().unwrap_or(0);
        let op = &f.ops[id];
        let OpKind::Pipeline(spec) = &op.kind else { return Err(Error::internal("not a pipeline")) };
        let broken = |w: usize| Error::Task { worker: self.link.name(w), message: "a malformed task result".into() };
        for (&w, r) in active.iter().zip(&results) {
            if r.outputs.len() != spec.combines.len() {
                return Err(broken(w));
            }
        }
        let mut values = Vec::with_capacity(spec.combines.len());
        for (k, (&c, &r)) in spec.combines.iter().zip(&op.results).enumerate() {
            if c == Combine::Rows {
                let mut parts = Vec::with_capacity(active.len());
                let mut largest = 0u64;
                let (mut cols, mut vt) = (None, None);
                for (&w, res) in active.iter().zip(&results) {
                    let [proto::Output { result: Some(proto::output::Result::Kept(kept)) }] =
                        res.outputs[k].parts.as_slice()
                    else {
                        return Err(broken(w));
                    };
                    if kept.rows as usize != rows[w].len() || cols.is_some_and(|c| c != kept.cols) {
                        return Err(broken(w));
                    }
                    cols = Some(kept.cols);
                    vt = Some(codec::type_of_code(kept.value_type)?);
                    parts.push((w, rows[w].clone(), kept.object));
                    largest = largest.max(kept.bytes);
                }
                let lineage =
                    Arc::new(Lineage::Computed { module: module.clone(), output: k, inputs: inputs.clone(), depth });
                let data = Parts::new(me.clone(), parts, largest, lineage);
                let remote = Remote {
                    rows: n,
                    cols: cols.unwrap_or(0) as usize,
                    value_type: vt.ok_or_else(|| Error::internal("a row output without parts"))?,
                    data: Arc::new(data),
                };
                if depth >= MAX_LINEAGE {
                    // A checkpoint: the value is brought here once, so lineages stay short (a
                    // loop of a thousand iterations is not replayed from its start).
                    let here = remote.fetch()?;
                    if let Some(p) = self.parts_of(&remote) {
                        *p.lineage.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(Lineage::Here(here));
                    }
                }
                values.push(Value::Remote(remote));
                continue;
            }
            // The workers' objects among the parts, freed once read (or on an error).
            let kept: Vec<(usize, u64)> = active
                .iter()
                .zip(&results)
                .flat_map(|(&w, res)| {
                    res.outputs[k].parts.iter().filter_map(move |p| match &p.result {
                        Some(proto::output::Result::Kept(o)) => Some((w, o.object)),
                        _ => None,
                    })
                })
                .collect();
            let value = if c == Combine::Cols {
                self.joined_columns(active, &results, k, &broken)
            } else {
                self.folded_nodes(placement, &results, k, &broken, |a, b| {
                    daphne_runtime::pipeline::combine_two(f, r, c, a, b).map_err(Error::Runtime)
                })
            };
            self.free_each(kept.into_iter());
            values.push(value?);
        }
        Ok(values)
    }

    /// Part `p` of a task's answer from worker `w`: decoded, or fetched when kept there.
    fn bring(&self, w: usize, p: &proto::Output, broken: &impl Fn(usize) -> Error) -> Result<Value, Error> {
        match &p.result {
            Some(proto::output::Result::Inline(b)) => Ok(codec::decode(b)?),
            Some(proto::output::Result::Kept(o)) => self
                .fetch_all(&[(w, o.object)], o.bytes)?
                .pop()
                .ok_or_else(|| Error::internal("a fetch without a value")),
            None => Err(broken(w)),
        }
    }

    /// A `cols` output: every group's columns side by side, in worker and group order.
    fn joined_columns(
        &self,
        active: &[usize],
        results: &[proto::TaskResult],
        k: usize,
        broken: &impl Fn(usize) -> Error,
    ) -> Result<Value, Error> {
        let mut ms = Vec::new();
        for (&w, res) in active.iter().zip(results) {
            for p in &res.outputs[k].parts {
                match self.bring(w, p, broken)? {
                    Value::Matrix(m) => ms.push(m),
                    _ => return Err(Error::internal("a column output part is not a matrix")),
                }
            }
        }
        Ok(Value::Matrix(
            Matrix::concat(&ms, false).ok_or_else(|| Error::internal("column parts of different shapes"))?,
        ))
    }

    /// A fold output: each worker's groups came folded into the nodes of the tree over all
    /// groups that cover them (`fold_nodes`; a relay's cover its subtree's groups, the workers
    /// it relayed to answering none); the nodes, which must cover every group once, are folded
    /// up to the root as they come, fetched one at a time, so only a few partial results are
    /// alive here at once.
    fn folded_nodes(
        &self,
        placement: &Placement,
        results: &[proto::TaskResult],
        k: usize,
        broken: &impl Fn(usize) -> Error,
        combine: impl Fn(Value, Value) -> Result<Value, Error>,
    ) -> Result<Value, Error> {
        let total = placement.total_groups();
        // Every worker's nodes, which must cover the groups exactly once.
        let mut nodes = Vec::new();
        for (&w, res) in placement.active.iter().zip(results) {
            let out = &res.outputs[k];
            if out.nodes.len() != out.parts.len() {
                return Err(broken(w));
            }
            for (node, p) in out.nodes.iter().zip(&out.parts) {
                let j = usize::try_from(node.index).map_err(|_| broken(w))?;
                let start = j.checked_shl(node.level).filter(|&s| s < total).ok_or_else(|| broken(w))?;
                let end = (j + 1).checked_shl(node.level).unwrap_or(usize::MAX).min(total);
                nodes.push((start..end, (node.level, j), w, p));
            }
        }
        nodes.sort_by_key(|(span, ..)| span.start);
        let mut at = 0;
        for (span, _, w, _) in &nodes {
            if span.start != at {
                return Err(broken(*w));
            }
            at = span.end;
        }
        if at != total {
            return Err(Error::internal("a fold's parts do not cover its groups"));
        }
        self.state().transfer.fold_nodes += nodes.len() as u64;
        let fold = TreeFold::new(total);
        for (_, (level, j), w, p) in nodes {
            let v = self.bring(w, p, broken)?;
            fold.add_node(level, j, Ok(v), |a: Result<Value, Error>, b| combine(a?, b?));
        }
        fold.finish().ok_or_else(|| Error::internal("a fold's parts do not cover its groups"))?
    }
}

/// A row output kept on the workers: per worker its rows and its object.
/// Where a remote value's parts are: per worker its rows and its object.
pub(super) type Placed = Vec<(usize, std::ops::Range<usize>, u64)>;

pub(super) struct Parts {
    inner: Arc<Inner>,
    pub(super) parts: Placed,
    /// The encoded size of the largest part.
    largest: u64,
    fetched: Mutex<Option<Value>>,
    pub(super) lineage: Mutex<Arc<Lineage>>,
}

impl Parts {
    /// A value kept on the workers: per worker its rows and its object.
    pub(super) fn new(inner: Arc<Inner>, parts: Placed, largest: u64, lineage: Arc<Lineage>) -> Parts {
        Parts { inner, parts, largest, fetched: Mutex::new(None), lineage: Mutex::new(lineage) }
    }

    /// Whether the value is split over exactly these workers' rows.
    pub(super) fn matches(&self, active: &[usize], rows: &[std::ops::Range<usize>]) -> bool {
        self.parts.len() == active.len()
            && self.parts.iter().zip(active).all(|((w, r, _), &a)| *w == a && rows.get(a) == Some(r))
    }
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Parts({:?})", self.parts)
    }
}

impl Resident for Parts {
    fn fetch(&self) -> Result<Value, daphne_runtime::error::Error> {
        let mut fetched = self.fetched.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = &*fetched {
            return Ok(v.clone());
        }
        let ids: Vec<(usize, u64)> = self.parts.iter().map(|(w, _, id)| (*w, *id)).collect();
        let parts = match self.inner.fetch_all(&ids, self.largest) {
            Ok(p) => p,
            Err(e) => {
                // A worker died with part of this value: compute it again on the others.
                self.inner.check_workers();
                if !self.inner.any_dead(self.parts.iter().map(|(w, _, _)| *w)) {
                    return Err(e.into());
                }
                let lineage = self.lineage.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let v = self.inner.rebuild(&self.inner, &lineage)?.local()?;
                *fetched = Some(v.clone());
                return Ok(v);
            }
        };
        let ms: Vec<Matrix> = parts
            .into_iter()
            .map(|p| match p {
                Value::Matrix(m) => Ok(m),
                other => Err(Error::internal(format!("a fetched part is {}", other.describe()))),
            })
            .collect::<Result<_, _>>()?;
        let v = Value::Matrix(
            Matrix::concat(&ms, true).ok_or_else(|| Error::internal("fetched parts of different shapes"))?,
        );
        *fetched = Some(v.clone());
        Ok(v)
    }

    fn rows(&self, rows: std::ops::Range<usize>) -> Option<Result<(usize, Value), daphne_runtime::error::Error>> {
        if self.fetched.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
            return None;
        }
        let holding: Vec<&(usize, std::ops::Range<usize>, u64)> = self
            .parts
            .iter()
            .filter(|(_, r, _)| r.start < rows.end.max(rows.start + 1) && rows.start < r.end)
            .collect();
        // Each part's share of the rows, cut on its worker.
        let first = rows.start.max(holding.first()?.1.start);
        let wanted: Vec<crate::link::Wanted> = holding
            .iter()
            .map(|(w, r, id)| {
                let a = rows.start.max(r.start);
                let b = rows.end.min(r.end).max(a);
                (*w, *id, Some(proto::Rows { first: (a - r.start) as u64, count: (b - a) as u64 }))
            })
            .collect();
        // A failure (a worker gone) fetches the whole value, which rebuilds it.
        let parts = self.inner.fetch_wanted(&wanted, self.largest).ok()?;
        let ms: Result<Vec<Matrix>, Error> = parts
            .into_iter()
            .map(|p| match p {
                Value::Matrix(m) => Ok(m),
                other => Err(Error::internal(format!("a fetched part is {}", other.describe()))),
            })
            .collect();
        let block = ms.and_then(|ms| {
            Matrix::concat(&ms, true).ok_or_else(|| Error::internal("fetched parts of different shapes"))
        });
        Some(block.map(|m| (first, Value::Matrix(m))).map_err(Into::into))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Drop for Parts {
    /// Queues the parts to be freed (this takes the coordinator's lock: see its invariant).
    fn drop(&mut self) {
        self.inner.free_each(self.parts.iter().map(|(w, _, id)| (*w, *id)));
    }
}
