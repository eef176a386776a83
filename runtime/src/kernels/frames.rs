//! Frame kernels: creation from columns, labels, binding.

use std::collections::HashMap;
use std::sync::Arc;

use daphne_ir::Builtin;

use super::args::R;
use crate::error::Error;
use crate::frame::Frame;
use crate::matrix::Matrix;
use crate::scalar::CellKey;
use crate::value::{Scalar, Value};

fn label(v: &Value) -> R<Arc<str>> {
    match v {
        Value::Scalar(Scalar::Str(s)) => Ok(s.clone()),
        other => Err(format!("a frame column label must be a string, not {}", other.describe()).into()),
    }
}

/// `createFrame(columns..., labels...)`: the operands are the column matrices, then either no
/// labels (columns are named `col_0`, ...) or as many labels as columns.
pub fn create(args: &[Value]) -> R<Value> {
    let n_cols = args.iter().take_while(|v| matches!(v, Value::Matrix(_))).count();
    let columns = args[..n_cols]
        .iter()
        .map(|v| match v {
            Value::Matrix(m) => Ok(m.clone()),
            _ => Err(Error::Internal("not a matrix".into())),
        })
        .collect::<R<Vec<_>>>()?;
    let labels = args[n_cols..].iter().map(label).collect::<R<Vec<_>>>()?;
    let labels = if labels.is_empty() { (0..n_cols).map(crate::frame::default_label).collect() } else { labels };
    Frame::new(columns, labels).map(Value::Frame)
}

fn frame_arg(op: Builtin, v: &Value) -> R<&Frame> {
    match v {
        Value::Frame(f) => Ok(f),
        other => Err(format!("`{op}` needs a frame, not {}", other.describe()).into()),
    }
}

/// `setColLabels(F, labels...)`
pub fn set_labels(f: &Value, labels: &[Value]) -> R<Value> {
    let f = frame_arg(Builtin::SetColLabels, f)?;
    let labels = labels.iter().map(label).collect::<R<Vec<_>>>()?;
    f.with_labels(labels).map(Value::Frame)
}

/// `setColLabelsPrefix(F, prefix)`: every label becomes `prefix.label`.
pub fn set_label_prefix(f: &Value, prefix: &Value) -> R<Value> {
    let f = frame_arg(Builtin::SetColLabelsPrefix, f)?;
    let prefix = label(prefix)?;
    let labels = f.labels().iter().map(|l| Arc::from(daphne_ir::infer::prefixed_label(&prefix, l))).collect();
    f.with_labels(labels).map(Value::Frame)
}

/// `cbind` and `rbind` of frames.
pub fn bind(op: Builtin, a: &Frame, b: &Frame) -> R<Value> {
    if op == Builtin::Cbind {
        if a.rows() != b.rows() {
            return Err(
                format!("`cbind` needs the same number of rows, but they are {} and {}", a.rows(), b.rows()).into()
            );
        }
        let columns = a.columns().iter().chain(b.columns()).cloned().collect();
        let labels = a.labels().iter().chain(b.labels()).cloned().collect();
        return Frame::new(columns, labels).map(Value::Frame);
    }
    if a.schema() != b.schema() {
        return Err("`rbind` needs frames with the same column value types".into());
    }
    if a.labels() != b.labels() {
        return Err("`rbind` needs frames with the same column labels".into());
    }
    let columns = a
        .columns()
        .iter()
        .zip(b.columns())
        .map(|(x, y)| match super::data::bind(op, x, y, x.value_type())? {
            Value::Matrix(m) => Ok(m),
            _ => Err(Error::Internal("not a matrix".into())),
        })
        .collect::<R<Vec<_>>>()?;
    Frame::new(columns, a.labels().to_vec()).map(Value::Frame)
}

fn label_arg(op: Builtin, v: &Value) -> R<Arc<str>> {
    match v {
        Value::Scalar(Scalar::Str(s)) => Ok(s.clone()),
        other => Err(format!("`{op}`: a column label must be a string, not {}", other.describe()).into()),
    }
}

/// The cells of a frame row as scalars, for comparing keys.
fn row_key(f: &Frame, cols: &[usize], r: usize) -> Vec<Scalar> {
    cols.iter().map(|&c| f.columns()[c].cell(r, 0)).collect()
}

/// Orders keys cell by cell (`Scalar::compare`).
fn cmp_keys(a: &[Scalar], b: &[Scalar]) -> std::cmp::Ordering {
    a.iter().zip(b).map(|(x, y)| x.compare(y)).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal)
}

/// The hash key of a row's cells in `cols`.
fn hash_key(f: &Frame, cols: &[usize], r: usize) -> Vec<CellKey> {
    cols.iter().map(|&c| f.columns()[c].cell(r, 0).key()).collect()
}

/// `groupSum(F, groupCols..., sumCol)`: one row per distinct group, in sorted order, with the
/// group columns and `SUM(sumCol)` (a `groupAggregate`).
pub fn group_sum(f: &Value, rest: &[Value]) -> R<Value> {
    let op = Builtin::GroupSum;
    let labels = rest.iter().map(|v| label_arg(op, v)).collect::<R<Vec<_>>>()?;
    let (sum_label, group_labels) = labels.split_last().ok_or("`groupSum` needs a column to sum")?;
    let mut args = vec![f.clone(), Value::Scalar(Scalar::Si64(group_labels.len() as i64))];
    args.extend(group_labels.iter().map(|l| Value::Scalar(Scalar::Str(l.clone()))));
    for s in ["sum", sum_label, &format!("SUM({sum_label})")] {
        args.push(Value::Scalar(Scalar::Str(Arc::from(s))));
    }
    group_aggregate(&args)
}

fn column(cells: &[Scalar], vt: daphne_ir::ValueType) -> R<crate::matrix::Matrix> {
    Matrix::from_scalars(cells.len(), 1, cells, vt)
}

/// The rows of `lhs` and `rhs` whose keys match, pairwise, in the order of `lhs` then `rhs`:
/// a hash join (the rows of `rhs` by key, probed with each row of `lhs`).
fn matches(op: Builtin, lhs: &Frame, rhs: &Frame, lhs_on: &Value, rhs_on: &Value) -> R<Vec<(usize, usize)>> {
    let (a, b) = (lhs.column_index(&label_arg(op, lhs_on)?)?, rhs.column_index(&label_arg(op, rhs_on)?)?);
    equi_join(lhs, rhs, &[a], &[b])
}

/// The pairs of rows of `lhs` and `rhs` whose cells in the key columns are equal (column
/// `lhs_keys[k]` with `rhs_keys[k]`): each row of `lhs` in order, with its matches in the
/// order of `rhs`. A hash join: the rows of `rhs` are hashed by key once.
pub fn equi_join(lhs: &Frame, rhs: &Frame, lhs_keys: &[usize], rhs_keys: &[usize]) -> R<Vec<(usize, usize)>> {
    let mut table: HashMap<Vec<CellKey>, Vec<usize>> = HashMap::with_capacity(rhs.rows());
    for j in 0..rhs.rows() {
        table.entry(hash_key(rhs, rhs_keys, j)).or_default().push(j);
    }
    let mut pairs = Vec::new();
    for i in 0..lhs.rows() {
        if let Some(js) = table.get(&hash_key(lhs, lhs_keys, i)) {
            crate::memory::check_cells::<u64>(pairs.len().saturating_add(js.len()), 2, "a join")?;
            pairs.extend(js.iter().map(|&j| (i, j)));
        }
    }
    Ok(pairs)
}
/// `innerJoin(lhs, rhs, lhsOn, rhsOn)`: the columns of both frames for every matching pair.
pub fn inner_join(lhs: &Value, rhs: &Value, lhs_on: &Value, rhs_on: &Value) -> R<Value> {
    let op = Builtin::InnerJoin;
    let (l, r) = (frame_arg(op, lhs)?, frame_arg(op, rhs)?);
    let pairs = matches(op, l, r, lhs_on, rhs_on)?;
    let left = l.select_rows(&pairs.iter().map(|p| p.0).collect::<Vec<_>>());
    let right = r.select_rows(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    bind(Builtin::Cbind, &left, &right)
}

/// `semiJoin(lhs, rhs, lhsOn, rhsOn)`: the keys of the `lhs` rows that have a match, and those
/// rows' positions.
pub fn semi_join(lhs: &Value, rhs: &Value, lhs_on: &Value, rhs_on: &Value) -> R<Vec<Value>> {
    let op = Builtin::SemiJoin;
    let (l, r) = (frame_arg(op, lhs)?, frame_arg(op, rhs)?);
    let mut rows: Vec<usize> = matches(op, l, r, lhs_on, rhs_on)?.into_iter().map(|p| p.0).collect();
    rows.dedup();
    let key = l.column_index(&label_arg(op, lhs_on)?)?;
    let keys = l.select_rows(&rows).select_cols(&[key]);
    let tids: Vec<u64> = rows.iter().map(|&i| i as u64).collect();
    Ok(vec![
        Value::Frame(keys),
        Value::Matrix(crate::matrix::Matrix::Ui64(crate::matrix::DenseMatrix::from_vec(tids.len(), 1, tids))),
    ])
}

/// `cartesian(lhs, rhs)`: every row of `lhs` with every row of `rhs`.
pub fn cartesian(lhs: &Value, rhs: &Value) -> R<Value> {
    let op = Builtin::Cartesian;
    let (l, r) = (frame_arg(op, lhs)?, frame_arg(op, rhs)?);
    // Estimated at eight bytes per cell of the result.
    crate::memory::check_cells::<u64>(l.rows().saturating_mul(r.rows()), l.cols() + r.cols(), "`cartesian`")?;
    let (mut li, mut ri) = (Vec::new(), Vec::new());
    for i in 0..l.rows() {
        for j in 0..r.rows() {
            li.push(i);
            ri.push(j);
        }
    }
    bind(Builtin::Cbind, &l.select_rows(&li), &r.select_rows(&ri))
}

/// `groupJoin(lhs, rhs, lhsOn, rhsOn, rhsAgg)`: for each key of `lhs` that some `rhs` row
/// matches, the key and the sum of `rhsAgg` over the matching rows, plus the key's row in
/// `lhs`. DAPHNE emits the groups in the order of a hash table; we emit them in key order.
pub fn group_join(args: &[Value]) -> R<Vec<Value>> {
    let op = Builtin::GroupJoin;
    let (l, r) = (frame_arg(op, &args[0])?, frame_arg(op, &args[1])?);
    let (lhs_on, rhs_on, agg) = (label_arg(op, &args[2])?, label_arg(op, &args[3])?, label_arg(op, &args[4])?);
    let (a, b, s) = (l.column_index(&lhs_on)?, r.column_index(&rhs_on)?, r.column_index(&agg)?);
    let agg_vt = r.columns()[s].value_type();
    // The first lhs row holding each key, as DAPHNE's hash table keeps it.
    let mut keys: Vec<(Vec<Scalar>, usize, Option<Scalar>)> = Vec::new();
    for i in 0..l.rows() {
        let k = row_key(l, &[a], i);
        if !keys.iter().any(|e| e.0 == k) {
            keys.push((k, i, None));
        }
    }
    for j in 0..r.rows() {
        let k = row_key(r, &[b], j);
        if let Some(e) = keys.iter_mut().find(|e| cmp_keys(&e.0, &k) == std::cmp::Ordering::Equal) {
            let v = r.columns()[s].cell(j, 0);
            e.2 = Some(match e.2.take() {
                None => v,
                Some(acc) => {
                    let x = super::ew::add_scalars(acc, v)?;
                    x.cast(agg_vt).unwrap_or(x)
                }
            });
        }
    }
    let mut hits: Vec<(Vec<Scalar>, usize, Scalar)> =
        keys.into_iter().filter_map(|(k, i, s)| s.map(|s| (k, i, s))).collect();
    hits.sort_by(|x, y| cmp_keys(&x.0, &y.0));
    let key_col = column(&hits.iter().map(|h| h.0[0].clone()).collect::<Vec<_>>(), l.columns()[a].value_type())?;
    let sum_col = column(&hits.iter().map(|h| h.2.clone()).collect::<Vec<_>>(), agg_vt)?;
    let frame = Frame::new(vec![key_col, sum_col], vec![lhs_on.clone(), Arc::from(format!("SUM({agg})"))])?;
    let tids: Vec<u64> = hits.iter().map(|h| h.1 as u64).collect();
    Ok(vec![
        Value::Frame(frame),
        Value::Matrix(crate::matrix::Matrix::Ui64(crate::matrix::DenseMatrix::from_vec(tids.len(), 1, tids))),
    ])
}

/// `intersect`, `merge` and `except` on the rows of two frames with the same columns, with
/// set semantics: distinct rows, in the order they are first seen.
pub fn set_op(op: Builtin, lhs: &Value, rhs: &Value) -> R<Value> {
    let (l, r) = (frame_arg(op, lhs)?, frame_arg(op, rhs)?);
    if l.schema() != r.schema() || l.labels() != r.labels() {
        return Err(format!("`{op}` needs two frames with the same column labels and value types").into());
    }
    let all: Vec<usize> = (0..l.cols()).collect();
    let rows_of = |f: &Frame| -> Vec<Vec<Scalar>> { (0..f.rows()).map(|i| row_key(f, &all, i)).collect() };
    let (lr, rr) = (rows_of(l), rows_of(r));
    let mut picked: Vec<Vec<Scalar>> = Vec::new();
    let take = |row: &Vec<Scalar>, picked: &mut Vec<Vec<Scalar>>| {
        if !picked.contains(row) {
            picked.push(row.clone());
        }
    };
    match op {
        Builtin::Intersect => lr.iter().filter(|x| rr.contains(x)).for_each(|x| take(x, &mut picked)),
        Builtin::Except => lr.iter().filter(|x| !rr.contains(x)).for_each(|x| take(x, &mut picked)),
        _ => lr.iter().chain(&rr).for_each(|x| take(x, &mut picked)),
    }
    let columns = (0..l.cols())
        .map(|c| column(&picked.iter().map(|row| row[c].clone()).collect::<Vec<_>>(), l.schema()[c]))
        .collect::<R<Vec<_>>>()?;
    Frame::new(columns, l.labels().to_vec()).map(Value::Frame)
}

/// What `groupAggregate` computes of a column per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Count,
    Avg,
    Min,
    Max,
}

impl Aggregate {
    const ALL: [Aggregate; 5] = [Aggregate::Sum, Aggregate::Count, Aggregate::Avg, Aggregate::Min, Aggregate::Max];

    /// Its name among `daphne_ir::infer::AGGREGATES`.
    fn name(self) -> &'static str {
        daphne_ir::infer::AGGREGATES[self as usize]
    }

    fn parse(name: &str) -> R<Aggregate> {
        Aggregate::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| format!("`GROUP BY`: no aggregation function `{name}`").into())
    }
}

/// One aggregate's running value in one group.
#[derive(Debug, Clone)]
enum Acc {
    Empty,
    /// The sum, minimum or maximum so far.
    Value(Scalar),
    /// Sum (as f64) and count, for `avg`.
    Mean(f64, u64),
    Count(i64),
}

impl Acc {
    fn start(agg: Aggregate) -> Acc {
        match agg {
            Aggregate::Count => Acc::Count(0),
            Aggregate::Avg => Acc::Mean(0.0, 0),
            _ => Acc::Empty,
        }
    }

    fn add(&mut self, agg: Aggregate, v: Scalar, vt: daphne_ir::ValueType) -> R<()> {
        *self = match (std::mem::replace(self, Acc::Empty), agg) {
            (Acc::Count(n), _) => Acc::Count(n + 1),
            (Acc::Mean(s, n), _) => Acc::Mean(s + v.get::<f64>().ok_or("`avg` needs numbers, not strings")?, n + 1),
            (Acc::Empty, _) => Acc::Value(v),
            (Acc::Value(acc), Aggregate::Sum) => {
                let x = super::ew::add_scalars(acc, v)?;
                Acc::Value(x.cast(vt).unwrap_or(x))
            }
            (Acc::Value(acc), Aggregate::Min) => Acc::Value(if v.compare(&acc).is_lt() { v } else { acc }),
            (Acc::Value(acc), _) => Acc::Value(if v.compare(&acc).is_gt() { v } else { acc }),
        };
        Ok(())
    }

    /// The aggregate of a group (of no rows when the frame is empty and there are no keys).
    fn finish(self, agg: Aggregate, vt: daphne_ir::ValueType) -> R<Scalar> {
        Ok(match self {
            Acc::Count(n) => Scalar::Si64(n),
            Acc::Mean(s, n) => Scalar::F64(s / n as f64),
            Acc::Value(v) => v,
            Acc::Empty if agg == Aggregate::Sum => Scalar::from_elem(0i64, vt),
            Acc::Empty => return Err(format!("`{}` of no rows", agg.name()).into()),
        })
    }
}

/// `groupAggregate(F, numKeys, key..., (function, column, label)...)`: SQL's `GROUP BY` (and
/// `DISTINCT`, with no aggregates): one row per distinct combination of the key columns, in
/// ascending order of the keys, with the key columns (labelled as in `F`) and then each
/// aggregate (`sum`, `count`, `avg`, `min` or `max` of a column) under its label. With no keys,
/// one row of aggregates over all rows. A hash aggregation: rows are hashed to their group,
/// the groups sorted once at the end.
pub fn group_aggregate(args: &[Value]) -> R<Value> {
    let op = Builtin::GroupAggregate;
    let f = frame_arg(op, &args[0])?;
    let n_keys = match &args[1] {
        Value::Scalar(s) => s.get::<i64>().and_then(|n| usize::try_from(n).ok()),
        _ => None,
    }
    .ok_or("`GROUP BY`: the number of keys must be a non-negative integer")?;
    let rest = &args[2..];
    if rest.len() < n_keys || !(rest.len() - n_keys).is_multiple_of(3) {
        return Err(Error::Internal("`GROUP BY`: keys, then triples of function, column and label".into()));
    }
    let keys = rest[..n_keys].iter().map(|v| f.column_index(&label_arg(op, v)?)).collect::<R<Vec<usize>>>()?;
    let mut aggs = Vec::new();
    for t in rest[n_keys..].chunks(3) {
        let agg = Aggregate::parse(&label_arg(op, &t[0])?)?;
        let col = f.column_index(&label_arg(op, &t[1])?)?;
        let vt = f.columns()[col].value_type();
        if vt == daphne_ir::ValueType::Str && matches!(agg, Aggregate::Sum | Aggregate::Avg) {
            return Err(format!("`GROUP BY`: cannot sum strings (column `{}`)", f.labels()[col]).into());
        }
        aggs.push((agg, col, vt, label_arg(op, &t[2])?));
    }
    // The group of each distinct key, numbered in order of first appearance.
    let mut index: HashMap<Vec<CellKey>, usize> = HashMap::new();
    let mut first_rows: Vec<usize> = Vec::new();
    let mut accs: Vec<Vec<Acc>> = Vec::new();
    for r in 0..f.rows() {
        let g = *index.entry(hash_key(f, &keys, r)).or_insert_with(|| {
            first_rows.push(r);
            accs.push(aggs.iter().map(|a| Acc::start(a.0)).collect());
            first_rows.len() - 1
        });
        for (acc, &(agg, col, vt, _)) in accs[g].iter_mut().zip(&aggs) {
            acc.add(agg, f.columns()[col].cell(r, 0), vt)?;
        }
    }
    if n_keys == 0 && first_rows.is_empty() {
        // No keys: one row, even over no rows (as SQL).
        accs.push(aggs.iter().map(|a| Acc::start(a.0)).collect());
    }
    let mut order: Vec<usize> = (0..accs.len()).collect();
    order.sort_by(|&x, &y| cmp_keys(&row_key(f, &keys, first_rows[x]), &row_key(f, &keys, first_rows[y])));
    let picked: Vec<usize> = order.iter().filter_map(|&g| first_rows.get(g).copied()).collect();
    let mut columns: Vec<Matrix> = keys.iter().map(|&k| f.columns()[k].pick(true, &picked)).collect();
    let mut labels: Vec<Arc<str>> = keys.iter().map(|&k| f.labels()[k].clone()).collect();
    let mut accs: Vec<Option<Vec<Acc>>> = accs.into_iter().map(Some).collect();
    let ordered: Vec<Vec<Acc>> = order.iter().filter_map(|&g| accs[g].take()).collect();
    for (i, (agg, _, vt, label)) in aggs.iter().enumerate() {
        let out_vt = aggregate_type(*agg, *vt);
        let cells = ordered.iter().map(|a| a[i].clone().finish(*agg, *vt)).collect::<R<Vec<Scalar>>>()?;
        columns.push(column(&cells, out_vt)?);
        labels.push(label.clone());
    }
    if columns.is_empty() {
        return Err("`GROUP BY` needs a key or an aggregate".into());
    }
    Frame::new(columns, labels).map(Value::Frame)
}

/// The value type of an aggregate of a column of `vt`, as `ir::infer` gives it.
fn aggregate_type(agg: Aggregate, vt: daphne_ir::ValueType) -> daphne_ir::ValueType {
    daphne_ir::infer::aggregate_type(agg.name(), vt).unwrap_or(vt)
}
