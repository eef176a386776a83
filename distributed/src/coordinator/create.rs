//! Data born on the workers: a large generated matrix (`rand`, `fill`, `seq`) is made by
//! every worker for its own rows, cut as a pipeline over that many rows cuts them, so the
//! pipelines that use it find it in place and no cell passes through the coordinator.
//!
//! `rand` is one random stream over all cells. Every worker starts where the stream would be
//! before its first row if nothing before had been re-drawn (`Source::guess`) and reports
//! where it ended; a worker's start is right when the worker before it started right and ended
//! where it starts. Those that started wrong (a zero or a rejected integer was re-drawn
//! before them, or cells are chosen at random, which has no guess) make their rows again from
//! the right position, in order, so the result is bit for bit the local `rand`'s whatever the
//! draws were. With floats a re-draw almost never happens: one round, every worker at once.

use std::sync::Arc;

use daphne_runtime::source::{RandPos, Source};
use daphne_runtime::value::{Remote, Value};

use super::assemble::Parts;
use super::recovery::Lineage;
use super::state::Inner;
use crate::error::Error;
use crate::link::CallError;
use crate::proto;

/// Why a matrix was not made on the workers.
pub(super) enum NotMade {
    /// A worker failed or left: the caller checks the workers and tries again.
    Cluster(Error),
    /// The making itself failed on a worker (its message is the op's error).
    Failed(String),
}

impl Inner {
    /// Makes the matrix `source` describes on the live workers, each its rows: a remote value.
    pub(super) fn create(&self, me: &Arc<Inner>, source: &Source) -> Result<Value, NotMade> {
        let (n, cols) = source.shape();
        let placement = self.place(n).ok_or(NotMade::Cluster(Error::NoneLeft))?;
        let (active, rows) = (&placement.active, &placement.rows);
        let generate = crate::wire::generate(source).map_err(|e| NotMade::Cluster(e.into()))?;
        let ids: Vec<u64> = active.iter().map(|_| self.fresh_id()).collect();
        // Per active worker: its start (known or guessed), its answer once it came.
        let mut starts: Vec<Option<RandPos>> = active
            .iter()
            .enumerate()
            .map(|(i, &w)| if i == 0 { Some(RandPos::default()) } else { source.guess(rows[w].start) })
            .collect();
        let mut answers: Vec<Option<proto::Created>> = vec![None; active.len()];
        // Every worker before this one started right and has its rows.
        let mut confirmed = 0;
        let forget = |answers: &[Option<proto::Created>]| {
            self.free_each(
                active.iter().zip(answers).filter(|(_, a)| a.is_some()).zip(&ids).map(|((&w, _), &id)| (w, id)),
            );
        };
        while confirmed < active.len() {
            let todo: Vec<usize> =
                (confirmed..active.len()).filter(|&i| answers[i].is_none() && starts[i].is_some()).collect();
            let tasks = todo
                .iter()
                .map(|&i| {
                    let w = active[i];
                    let task = proto::CreateTask {
                        object: ids[i],
                        first_row: rows[w].start as u64,
                        rows: rows[w].len() as u64,
                        source: Some(proto::create_task::Source::Generate(generate.clone())),
                        start: starts[i].map(crate::wire::stream_pos),
                    };
                    (w, task)
                })
                .collect();
            let mut failed = None;
            for (&i, r) in todo.iter().zip(self.link.create(tasks)) {
                match r {
                    Ok(c) => answers[i] = Some(c),
                    Err(CallError::Pipeline(m)) => failed = Some(NotMade::Failed(m)),
                    Err(CallError::Worker(e)) => failed = Some(NotMade::Cluster(e)),
                }
            }
            if let Some(f) = failed {
                forget(&answers);
                return Err(f);
            }
            // Confirm in order: the next start is where the last confirmed one ended.
            while confirmed < active.len() {
                let Some(answer) = &answers[confirmed] else { break };
                confirmed += 1;
                let end = crate::wire::rand_pos(answer.end.as_ref());
                if confirmed < active.len() && starts[confirmed] != Some(end) {
                    // Made from a wrong guess (or not yet, without one): again from here.
                    starts[confirmed] = Some(end);
                    answers[confirmed] = None;
                }
            }
        }
        let mut parts = Vec::with_capacity(active.len());
        let mut largest = 0;
        for ((&w, answer), &id) in active.iter().zip(&answers).zip(&ids) {
            let kept = answer.as_ref().and_then(|a| a.kept.as_ref());
            let broken = || {
                NotMade::Cluster(Error::Task {
                    worker: self.link.name(w),
                    message: "a malformed answer to making rows".into(),
                })
            };
            let kept = kept.ok_or_else(broken)?;
            if kept.object != id || kept.rows != rows[w].len() as u64 || kept.cols != cols as u64 {
                forget(&answers);
                return Err(broken());
            }
            largest = largest.max(kept.bytes);
            parts.push((w, rows[w].clone(), id));
        }
        {
            let mut state = self.state();
            state.transfer.created += 1;
            state.transfer.created_cells += n.saturating_mul(cols) as u64;
        }
        let data = Parts::new(me.clone(), parts, largest, Arc::new(Lineage::Made(source.clone())));
        Ok(Value::Remote(Remote { rows: n, cols, value_type: source.value_type(), data: Arc::new(data) }))
    }

    /// [`Inner::create`], moving the work of workers that die to the others.
    pub(super) fn create_resilient(&self, me: &Arc<Inner>, source: &Source) -> Result<Value, NotMade> {
        let mut tries = 0;
        loop {
            match self.create(me, source) {
                Err(NotMade::Cluster(e)) => {
                    tries += 1;
                    if (!self.check_workers() && tries > 3) || self.live().is_empty() {
                        return Err(NotMade::Cluster(e));
                    }
                }
                other => return other,
            }
        }
    }
}
