//! Data born on the workers: a large generated matrix (`rand`, `fill`, `seq`) or a matrix or
//! frame file every worker sees (`readMatrix` of CSV, Parquet or `.dbdf`, `readFrame` of CSV or
//! Parquet, a file or a directory of part files) is made by every worker for its own rows, cut
//! as a pipeline over that many rows cuts them, so the pipelines that use it find it in place
//! and no cell passes through the coordinator. A frame's columns are kept one object each (a
//! remote frame is a remote matrix per column), and `as.matrix` of them is made where they are
//! (`convert`).
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

use daphne_ir::ValueType;
use daphne_runtime::io::{ByRows, Meta};
use daphne_runtime::source::RandPos;
use daphne_runtime::value::{Remote, RemoteFrame, Value};

use super::assemble::{Parts, Placed};
use super::recovery::Lineage;
use super::state::{Inner, NotMade, Origin, View};
use crate::codec;
use crate::error::Error;
use crate::link::CallError;
use crate::proto;

impl Inner {
    /// Makes the matrix or frame `origin` describes on the live workers, each its rows: a
    /// remote value.
    pub(super) fn create(&self, me: &Arc<Inner>, origin: &Origin) -> Result<Value, NotMade> {
        // The rows, and what each worker keeps of them: one matrix of `cols` columns of `vt`, or
        // (a frame) a matrix per column of `types`.
        let (n, anchors) = match origin {
            Origin::Generated(s) => (s.shape().0, Vec::new()),
            Origin::Read { path, meta, by, .. } => match by {
                ByRows::Counted(n) => (*n, Vec::new()),
                ByRows::Scanned => {
                    let (n, anchors) = self.scan(path, meta)?;
                    if meta.rows.is_some_and(|r| r != n) {
                        // The local read says how the file and its meta data disagree.
                        return Err(NotMade::Declined);
                    }
                    (n, anchors)
                }
            },
        };
        let (cols, vt, types) = match origin {
            Origin::Generated(s) => (s.shape().1, s.value_type(), None),
            Origin::Read { meta, view: View::Matrix, .. } => {
                (meta.cols, meta.schema.first().copied().ok_or(NotMade::Declined)?, None)
            }
            Origin::Read { meta, view: View::Frame, .. } => (meta.cols, ValueType::F64, Some(meta.column_types())),
            Origin::Read { view: View::Converted { pick, vt }, .. } => (pick.len(), *vt, None),
        };
        if n == 0 || cols == 0 {
            // Nothing to keep anywhere (a CSV file of a header line alone): made here.
            return Err(NotMade::Declined);
        }
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
                (Origin::Read { path, meta, by, view, .. }, None) => {
                    // The last anchor at or before the worker's first row.
                    let start = rows[w].start as u64;
                    let at = anchors.iter().rev().find(|(_, row)| *row <= start).copied();
                    let (anchor, anchor_row) = at.unwrap_or_default();
                    let code = |vt: ValueType| u32::from(codec::type_code(vt));
                    let (pick, as_matrix) = match view {
                        View::Converted { pick, vt } => (pick.iter().map(|&j| j as u32).collect(), Some(code(*vt))),
                        View::Matrix | View::Frame => (Vec::new(), None),
                    };
                    proto::create_task::Source::Read(proto::ReadRows {
                        path: path.clone(),
                        value_type: code(meta.schema.first().copied().unwrap_or(ValueType::F64)),
                        cols: meta.cols as u64,
                        header: meta.header,
                        delimiter: u32::from(meta.delimiter),
                        anchored: *by == ByRows::Scanned,
                        meta_rows: meta.rows.map(|r| r as u64),
                        anchor_part: anchor.part,
                        anchor_offset: anchor.offset,
                        anchor_row,
                        labels: meta.labels.clone().unwrap_or_default(),
                        schema: if meta.labels.is_some() {
                            meta.column_types().into_iter().map(code).collect()
                        } else {
                            Vec::new()
                        },
                        pick,
                        as_matrix,
                    })
                }
                (Origin::Generated(_), None) => unreachable!("a generated matrix has its message"),
            }
        };
        // Per active worker, the ids it keeps its rows under (one per column of a frame).
        let ids: Vec<Vec<u64>> =
            active.iter().map(|_| (0..types.as_ref().map_or(1, Vec::len)).map(|_| self.fresh_id()).collect()).collect();
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
                active
                    .iter()
                    .zip(answers)
                    .zip(&ids)
                    .filter(|((_, a), _)| a.is_some())
                    .flat_map(|((&w, _), ids)| ids.iter().map(move |&id| (w, id))),
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
                        object: ids[i][0],
                        first_row: rows[w].start as u64,
                        rows: rows[w].len() as u64,
                        source: Some(source_for(w)),
                        start: starts[i].map(crate::wire::stream_pos),
                        columns: if types.is_some() { ids[i].clone() } else { Vec::new() },
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
        // Per kept column (one for a matrix): its parts and the largest part's size.
        let mut columns: Vec<(Placed, u64)> =
            vec![(Vec::with_capacity(active.len()), 0); types.as_ref().map_or(1, Vec::len)];
        for ((&w, answer), ids) in active.iter().zip(&answers).zip(&ids) {
            let broken = || {
                forget(&answers);
                NotMade::Cluster(Error::Task {
                    worker: self.link.name(w),
                    message: "a malformed answer to making rows".into(),
                })
            };
            let answer = answer.as_ref().ok_or_else(broken)?;
            let kept: Vec<&proto::Kept> = match &types {
                None => answer.kept.iter().collect(),
                Some(_) => answer.columns.iter().collect(),
            };
            let width = if types.is_some() { 1 } else { cols as u64 };
            if kept.len() != ids.len()
                || kept
                    .iter()
                    .zip(ids)
                    .any(|(k, &id)| k.object != id || k.rows != rows[w].len() as u64 || k.cols != width)
            {
                return Err(broken());
            }
            for ((parts, largest), k) in columns.iter_mut().zip(kept) {
                *largest = (*largest).max(k.bytes);
                parts.push((w, rows[w].clone(), k.object));
            }
        }
        {
            let mut state = self.state();
            state.transfer.created += 1;
            state.transfer.created_cells += n.saturating_mul(cols) as u64;
            state.transfer.created_frames += u64::from(types.is_some());
        }
        let remote = |(parts, largest), origin: Origin, vt| {
            let data = Parts::new(me.clone(), parts, largest, Arc::new(Lineage::Made(origin)));
            Remote { rows: n, cols: if types.is_some() { 1 } else { cols }, value_type: vt, data: Arc::new(data) }
        };
        let (Some(types), Origin::Read { path, shown, meta, by, .. }) = (&types, origin) else {
            let column = columns.pop().ok_or(NotMade::Declined)?;
            return Ok(Value::Remote(remote(column, origin.clone(), vt)));
        };
        // A frame: each column made again alone, as a matrix of its value type.
        let columns = columns
            .into_iter()
            .zip(types)
            .enumerate()
            .map(|(j, (column, &vt))| {
                let view = View::Converted { pick: vec![j], vt };
                let origin =
                    Origin::Read { path: path.clone(), shown: shown.clone(), meta: meta.clone(), by: by.clone(), view };
                remote(column, origin, vt)
            })
            .collect();
        let labels = meta.labels.iter().flatten().map(|l| Arc::from(l.as_str())).collect();
        Ok(Value::RemoteFrame(RemoteFrame { rows: n, labels, columns }))
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

    /// A matrix of value type `vt` of a remote frame's columns, made by every worker of the
    /// columns' parts it holds (as `as.matrix` converts a frame); its lineage is the read the
    /// columns were made of, converted. `None` when the columns are not all on the same rows of
    /// the same live workers, or not all of one read.
    pub(super) fn convert(&self, me: &Arc<Inner>, columns: &[Remote], vt: ValueType) -> Option<Result<Value, NotMade>> {
        let parts = columns.iter().map(|c| self.parts_of(c)).collect::<Option<Vec<&Parts>>>()?;
        let first = *parts.first()?;
        let placed = |p: &Parts| p.parts.iter().map(|(w, r, _)| (*w, r.clone())).collect::<Vec<_>>();
        if parts.iter().any(|p| placed(p) != placed(first)) || self.any_dead(first.parts.iter().map(|(w, _, _)| *w)) {
            return None;
        }
        // The read every column was made of, and which of its columns each is.
        let mut origin: Option<Origin> = None;
        let mut pick = Vec::with_capacity(parts.len());
        for p in &parts {
            let lineage = p.lineage.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let Lineage::Made(this @ Origin::Read { view: View::Converted { pick: one, .. }, .. }) = &*lineage else {
                return None;
            };
            let [j] = one.as_slice() else { return None };
            if origin.as_ref().is_some_and(|o| !o.same_read(this)) {
                return None;
            }
            origin.get_or_insert_with(|| this.clone());
            pick.push(*j);
        }
        let Some(Origin::Read { path, shown, meta, by, .. }) = origin else { return None };
        let origin = Origin::Read { path, shown, meta, by, view: View::Converted { pick, vt } };
        let ids: Vec<u64> = first.parts.iter().map(|_| self.fresh_id()).collect();
        let tasks = first
            .parts
            .iter()
            .enumerate()
            .map(|(k, (w, r, _))| {
                let convert = proto::Convert {
                    columns: parts.iter().map(|p| p.parts[k].2).collect(),
                    value_type: u32::from(codec::type_code(vt)),
                };
                let task = proto::CreateTask {
                    object: ids[k],
                    first_row: r.start as u64,
                    rows: r.len() as u64,
                    source: Some(proto::create_task::Source::Convert(convert)),
                    start: None,
                    columns: Vec::new(),
                };
                (*w, task)
            })
            .collect();
        let answers = self.link.create(tasks);
        let mut made = Vec::with_capacity(ids.len());
        let mut failed = None;
        let mut largest = 0;
        for (((w, r, _), &id), answer) in first.parts.iter().zip(&ids).zip(answers) {
            match answer {
                Ok(proto::Created { kept: Some(k), .. })
                    if k.object == id && k.rows == r.len() as u64 && k.cols == columns.len() as u64 =>
                {
                    largest = largest.max(k.bytes);
                    made.push((*w, r.clone(), id));
                }
                Ok(_) => {
                    made.push((*w, r.clone(), id));
                    let message = "a malformed answer to converting columns".into();
                    failed = Some(NotMade::Cluster(Error::Task { worker: self.link.name(*w), message }));
                }
                Err(CallError::Pipeline(m)) => failed = failed.or(Some(NotMade::Failed(m))),
                Err(CallError::Worker(e)) => failed = Some(NotMade::Cluster(e)),
            }
        }
        if let Some(f) = failed {
            self.free_each(made.iter().map(|(w, _, id)| (*w, *id)));
            return Some(Err(f));
        }
        self.state().transfer.converted += 1;
        let data = Parts::new(me.clone(), made, largest, Arc::new(Lineage::Made(origin)));
        let rows = columns[0].rows;
        Some(Ok(Value::Remote(Remote { rows, cols: columns.len(), value_type: vt, data: Arc::new(data) })))
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
