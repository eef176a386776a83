//! Frame kernels: creation from columns, labels, binding.

use std::sync::Arc;

use daphne_ir::Builtin;

use super::args::R;
use crate::error::Error;
use crate::frame::Frame;
use crate::matrix::Matrix;
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
    let labels = f
        .labels()
        .iter()
        .map(|l| {
            // A label that already has a prefix keeps only its own name.
            let name = l.rsplit('.').next().unwrap_or(l);
            Arc::from(format!("{prefix}.{name}"))
        })
        .collect();
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

/// Orders keys: numbers numerically, strings lexically.
fn cmp_keys(a: &[Scalar], b: &[Scalar]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        let ord = match (x, y) {
            (Scalar::Str(p), Scalar::Str(q)) => p.cmp(q),
            _ => x.get::<f64>().unwrap_or(0.0).total_cmp(&y.get::<f64>().unwrap_or(0.0)),
        };
        if ord != std::cmp::Ordering::Equal {
            return ord;
        }
    }
    std::cmp::Ordering::Equal
}

/// `groupSum(F, groupCols..., sumCol)`: one row per distinct group, in sorted order, with the
/// group columns and `SUM(sumCol)`.
pub fn group_sum(f: &Value, rest: &[Value]) -> R<Value> {
    let op = Builtin::GroupSum;
    let f = frame_arg(op, f)?;
    let labels = rest.iter().map(|v| label_arg(op, v)).collect::<R<Vec<_>>>()?;
    let (sum_label, group_labels) = labels.split_last().ok_or("`groupSum` needs a column to sum")?;
    let groups = group_labels.iter().map(|l| f.column_index(l)).collect::<R<Vec<_>>>()?;
    let sum_col = f.column_index(sum_label)?;
    let mut rows: Vec<usize> = (0..f.rows()).collect();
    rows.sort_by(|&a, &b| cmp_keys(&row_key(f, &groups, a), &row_key(f, &groups, b)));
    let mut keys: Vec<Vec<Scalar>> = Vec::new();
    let mut sums: Vec<Scalar> = Vec::new();
    let sum_vt = f.columns()[sum_col].value_type();
    for r in rows {
        let key = row_key(f, &groups, r);
        let v = f.columns()[sum_col].cell(r, 0);
        if keys.last() == Some(&key) {
            let last = sums.pop().unwrap_or(Scalar::F64(0.0));
            let s = super::ew::add_scalars(last, v)?;
            sums.push(s.cast(sum_vt).unwrap_or(s));
        } else {
            keys.push(key);
            sums.push(v);
        }
    }
    let mut columns = Vec::new();
    for (i, &g) in groups.iter().enumerate() {
        let cells: Vec<Scalar> = keys.iter().map(|k| k[i].clone()).collect();
        columns.push(column(&cells, f.columns()[g].value_type())?);
    }
    columns.push(column(&sums, sum_vt)?);
    let mut out_labels: Vec<Arc<str>> = group_labels.to_vec();
    out_labels.push(Arc::from(format!("SUM({sum_label})")));
    Frame::new(columns, out_labels).map(Value::Frame)
}

fn column(cells: &[Scalar], vt: daphne_ir::ValueType) -> R<crate::matrix::Matrix> {
    Matrix::from_scalars(cells.len(), 1, cells, vt)
}

/// The rows of `lhs` and `rhs` whose keys match, pairwise, in the order of `lhs` then `rhs`.
fn matches(op: Builtin, lhs: &Frame, rhs: &Frame, lhs_on: &Value, rhs_on: &Value) -> R<Vec<(usize, usize)>> {
    let (a, b) = (lhs.column_index(&label_arg(op, lhs_on)?)?, rhs.column_index(&label_arg(op, rhs_on)?)?);
    let mut pairs = Vec::new();
    for i in 0..lhs.rows() {
        let k = row_key(lhs, &[a], i);
        for j in 0..rhs.rows() {
            if cmp_keys(&k, &row_key(rhs, &[b], j)) == std::cmp::Ordering::Equal {
                pairs.push((i, j));
            }
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
