//! Data born on the workers: a large generated matrix (`rand`, `fill`, `seq`) or a matrix file
//! every worker sees (`readMatrix` of CSV, Parquet or `.dbdf`, a file or a directory of part
//! files) is made by every worker for its own rows, cut as a pipeline over that many rows cuts
//! them, so the pipelines that use it find it in place and no cell passes through the
//! coordinator.
//!
//! A CSV file's rows are found first: every live worker scans one even byte range of it and
//! says where its first record begins and how many records start in it; the counts summed in
//! order give the rows, and each worker then reads its rows from the nearest such anchor
//! before them (`daphne_runtime::io::ranges`). Parquet and `.dbdf` files count their rows in
//! their metadata.
//!
//! `rand` is one random stream over all cells. Every worker starts where the stream would be
//! before its first row if nothing before had been re-drawn (`Source::guess`) and reports
//! where it ended; a worker's start is right when the worker before it started right and ended
//! where it starts. Those that started wrong (a zero or a rejected integer was re-drawn
//! before them, or cells are chosen at random, which has no guess) make their rows again from
//! the right position, in order, so the result is bit for bit the local `rand`'s whatever the
//! draws were. With floats a re-draw almost never happens: one round, every worker at once.

use std::sync::Arc;

use daphne_runtime::io::{ByRows, Meta};
use daphne_runtime::source::RandPos;
use daphne_runtime::value::{Remote, Value};

use super::assemble::Parts;
use super::recovery::Lineage;
use super::state::{Inner, NotMade, Origin};
use crate::codec;
use crate::error::Error;
use crate::link::CallError;
use crate::proto;

impl Inner {
    /// Makes the matrix `origin` describes on the live workers, each its rows: a remote value.
    pub(super) fn create(&self, me: &Arc<Inner>, origin: &Origin) -> Result<Value, NotMade> {
        let (n, cols, vt, anchors) = match origin {
            Origin::Generated(s) => (s.shape().0, s.shape().1, s.value_type(), Vec::new()),
            Origin::Read { path, meta, by, .. } => {
                let vt = meta.schema.first().copied().ok_or(NotMade::Declined)?;
                match by {
                    ByRows::Counted(n) => (*n, meta.cols, vt, Vec::new()),
                    ByRows::Scanned => {
                        let (n, anchors) = self.scan(path, meta)?;
                        if meta.rows.is_some_and(|r| r != n) {
                            // The local read says how the file and its meta data disagree.
                            return Err(NotMade::Declined);
                        }
                        (n, meta.cols, vt, anchors)
                    }
                }
            }
        };
        let placement = self.place(n).ok_or(NotMade::Cluster(Error::NoneLeft))?;
        let (active, rows) = (&placement.active, &placement.rows);
        let generate = match origin {
            Origin::Generated(s) => Some(crate::wire::generate(s).map_err(|e| NotMade::Cluster(e.into()))?),
            Origin::Read { .. } => None,
        };
        // What worker `w` makes its rows from.
        let source_for = |w: usize| -> proto::create_task::Source {
            match (origin, &generate) {
                (_, Some(g)) => proto::create_task::Source::Generate(g.clone()),
                (Origin::Read { path, meta, by, .. }, None) => {
                    // The last anchor at or before the worker's first row.
                    let start = rows[w].start as u64;
                    let at = anchors.iter().rev().find(|(_, row)| *row <= start).copied();
                    let (anchor, anchor_row) = at.unwrap_or_default();
                    proto::create_task::Source::Read(proto::ReadRows {
                        path: path.clone(),
                        value_type: u32::from(codec::type_code(vt)),
                        cols: meta.cols as u64,
                        header: meta.header,
                        delimiter: u32::from(meta.delimiter),
                        anchored: *by == ByRows::Scanned,
                        meta_rows: meta.rows.map(|r| r as u64),
                        anchor_part: anchor.part,
                        anchor_offset: anchor.offset,
                        anchor_row,
                    })
                }
                (Origin::Generated(_), None) => unreachable!("a generated matrix has its message"),
            }
        };
        let ids: Vec<u64> = active.iter().map(|_| self.fresh_id()).collect();
        // Per active worker: its start (known or guessed), its answer once it came.
        let guess = |row: usize| match origin {
            Origin::Generated(s) => s.guess(row),
            Origin::Read { .. } => Some(RandPos::default()),
        };
        let mut starts: Vec<Option<RandPos>> = active
            .iter()
            .enumerate()
            .map(|(i, &w)| if i == 0 { Some(RandPos::default()) } else { guess(rows[w].start) })
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
                        source: Some(source_for(w)),
                        start: starts[i].map(crate::wire::stream_pos),
                    };
                    (w, task)
                })
                .collect();
            let mut failed = None;
            for (&i, r) in todo.iter().zip(self.link.create(tasks)) {
                match r {
                    Ok(c) => answers[i] = Some(c),
                    // The first in row order (a file's first bad cell, as the whole read finds).
                    Err(CallError::Pipeline(m)) => {
                        if !matches!(failed, Some(NotMade::Failed(_)) | Some(NotMade::Cluster(_))) {
                            failed = Some(NotMade::Failed(m));
                        }
                    }
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
        let data = Parts::new(me.clone(), parts, largest, Arc::new(Lineage::Made(origin.clone())));
        Ok(Value::Remote(Remote { rows: n, cols, value_type: vt, data: Arc::new(data) }))
    }

    /// Where the records of a CSV read begin: every live worker scans one piece; the anchors
    /// (a position, the record that begins there) in order, and the records in all.
    fn scan(&self, path: &str, meta: &Meta) -> Result<(usize, Vec<(daphne_runtime::io::ranges::Pos, u64)>), NotMade> {
        let live = self.live();
        let pieces = live.len() as u32;
        let requests = live
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let request = proto::ScanRequest {
                    path: path.to_owned(),
                    header: meta.header,
                    delimiter: u32::from(meta.delimiter),
                    piece: i as u32,
                    pieces,
                };
                (w, request)
            })
            .collect();
        let mut anchors = Vec::with_capacity(live.len());
        let mut total = 0u64;
        for r in self.link.scan(requests) {
            match r {
                Ok(s) => {
                    anchors.push((daphne_runtime::io::ranges::Pos { part: s.part, offset: s.offset }, total));
                    total = total.checked_add(s.records).ok_or(NotMade::Declined)?;
                }
                // Not cut by byte ranges (a quoted line break), or unreadable: read here.
                Err(CallError::Pipeline(_)) => return Err(NotMade::Declined),
                Err(CallError::Worker(e)) => return Err(NotMade::Cluster(e)),
            }
        }
        Ok((usize::try_from(total).map_err(|_| NotMade::Declined)?, anchors))
    }

    /// [`Inner::create`], moving the work of workers that die to the others.
    pub(super) fn create_resilient(&self, me: &Arc<Inner>, origin: &Origin) -> Result<Value, NotMade> {
        let mut tries = 0;
        loop {
            match self.create(me, origin) {
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
