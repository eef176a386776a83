//! Frame kernels: creation from columns, labels, binding.

use std::collections::HashMap;
use std::sync::Arc;

use daphne_ir::Builtin;

use super::args::R;
use crate::elem::Elem;
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

/// The rows of `lhs` and `rhs` whose keys match, pairwise, in the order of `lhs` then `rhs`.
fn matches(op: Builtin, lhs: &Frame, rhs: &Frame, lhs_on: &Value, rhs_on: &Value) -> R<Pairs> {
    let (a, b) = (lhs.column_index(&label_arg(op, lhs_on)?)?, rhs.column_index(&label_arg(op, rhs_on)?)?);
    equi_join(lhs, rhs, &[a], &[b], Join::Inner)
}

/// Which rows of the left frame an equi-join keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// Those with a match (`innerJoin`, `semiJoin`).
    Inner,
    /// Every one: a row without a match once, paired with [`NONE`] (`leftJoin`).
    Left,
}

/// The rows of a join: `left[k]` with `right[k]`, which is [`NONE`] for a left row without a
/// match (in a [`Join::Left`]).
#[derive(Debug, Default)]
pub struct Pairs {
    pub left: Vec<usize>,
    pub right: Vec<usize>,
}

impl Pairs {
    /// Adds `i` with the chain of right rows from `j` (`next` links them, `NONE` ends); with
    /// `Join::Left`, `i` with `NONE` when the chain is empty.
    fn chain(&mut self, i: usize, mut j: usize, next: &[usize], join: Join) -> R<()> {
        if j == NONE && join == Join::Left {
            self.push(i, NONE)?;
        }
        while j != NONE {
            self.push(i, j)?;
            j = next[j];
        }
        Ok(())
    }

    fn push(&mut self, i: usize, j: usize) -> R<()> {
        if self.left.len() == self.left.capacity() {
            let more = self.left.len().max(1024);
            crate::memory::check_cells::<u64>(self.left.len().saturating_add(more), 2, "a join")?;
            self.left.reserve(more);
            self.right.reserve(more);
        }
        self.left.push(i);
        self.right.push(j);
        Ok(())
    }
}

/// The right row of a left row without a match.
pub const NONE: usize = usize::MAX;

/// The pairs of rows of `lhs` and `rhs` whose cells in the key columns are equal (column
/// `lhs_keys[k]` with `rhs_keys[k]`): each row of `lhs` in order, with its matches in the
/// order of `rhs` (or, in a `Join::Left`, once with `NONE` when it has none). A hash join: the
/// rows of `rhs` are chained by key once (in a table indexed by the key itself when the keys
/// are integers of a small range, else in a hash table), and each row of `lhs` walks its
/// key's chain.
pub fn equi_join(lhs: &Frame, rhs: &Frame, lhs_keys: &[usize], rhs_keys: &[usize], join: Join) -> R<Pairs> {
    match (int_keys(lhs, lhs_keys), int_keys(rhs, rhs_keys)) {
        (Some(a), Some(b)) => {
            let (lo, hi) = (b.iter().copied().min().unwrap_or(0), b.iter().copied().max().unwrap_or(-1));
            let range = i128::from(hi) - i128::from(lo) + 1;
            if range <= 2 * b.len() as i128 + 1024 {
                // Direct addressing: the key minus the smallest key is the slot.
                let mut head = vec![NONE; usize::try_from(range.max(0)).unwrap_or(0)];
                let mut next = vec![NONE; b.len()];
                for (j, &k) in b.iter().enumerate().rev() {
                    let slot = &mut head[(i128::from(k) - i128::from(lo)) as usize];
                    next[j] = *slot;
                    *slot = j;
                }
                let mut pairs = Pairs::default();
                for (i, &k) in a.iter().enumerate() {
                    let first =
                        if (lo..=hi).contains(&k) { head[(i128::from(k) - i128::from(lo)) as usize] } else { NONE };
                    pairs.chain(i, first, &next, join)?;
                }
                return Ok(pairs);
            }
            join_pairs(a.len(), b.len(), |i| a[i], |j| b[j], join)
        }
        _ => join_pairs(lhs.rows(), rhs.rows(), |i| hash_key(lhs, lhs_keys, i), |j| hash_key(rhs, rhs_keys, j), join),
    }
}

/// `equi_join` over keys of any kind, by a hash table of each key's first right row.
fn join_pairs<K: std::hash::Hash + Eq>(
    n_left: usize,
    n_right: usize,
    left: impl Fn(usize) -> K,
    right: impl Fn(usize) -> K,
    join: Join,
) -> R<Pairs> {
    let mut head: HashMap<K, usize, FastHash> = HashMap::with_capacity_and_hasher(n_right, FastHash::default());
    let mut next = vec![NONE; n_right];
    for j in (0..n_right).rev() {
        let first = head.entry(right(j)).or_insert(NONE);
        next[j] = *first;
        *first = j;
    }
    let mut pairs = Pairs::default();
    for i in 0..n_left {
        pairs.chain(i, head.get(&left(i)).copied().unwrap_or(NONE), &next, join)?;
    }
    Ok(pairs)
}

/// The keys of the rows as integers, when the key is one column of a signed or narrow integer
/// type (its cells are then equal exactly when the integers are: the fast path of hashing).
fn int_keys(f: &Frame, cols: &[usize]) -> Option<Vec<i64>> {
    let [c] = cols else { return None };
    match &f.columns()[*c] {
        Matrix::Si64(m) => Some(m.cells().to_vec()),
        Matrix::Si32(m) => Some(m.cells().iter().map(|&x| i64::from(x)).collect()),
        Matrix::Si8(m) => Some(m.cells().iter().map(|&x| i64::from(x)).collect()),
        Matrix::Ui32(m) => Some(m.cells().iter().map(|&x| i64::from(x)).collect()),
        Matrix::Ui8(m) => Some(m.cells().iter().map(|&x| i64::from(x)).collect()),
        _ => None,
    }
}

/// A fast hasher for hash joins and aggregation (FxHash's multiply-and-rotate; the keys come
/// from the script's data, and a slow adversarial case costs time, never correctness).
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl std::hash::Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_i64(&mut self, x: i64) {
        self.write_u64(x as u64);
    }

    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
}

type FastHash = std::hash::BuildHasherDefault<Fx>;

/// `innerJoin(lhs, rhs, lhsOn, rhsOn)`: the columns of both frames for every matching pair.
pub fn inner_join(lhs: &Value, rhs: &Value, lhs_on: &Value, rhs_on: &Value) -> R<Value> {
    let op = Builtin::InnerJoin;
    let (l, r) = (frame_arg(op, lhs)?, frame_arg(op, rhs)?);
    let pairs = matches(op, l, r, lhs_on, rhs_on)?;
    bind(Builtin::Cbind, &l.select_rows(&pairs.left), &r.select_rows(&pairs.right))
}

/// `leftJoin(lhs, rhs, lhsOn..., rhsOn...)`: the columns of both frames for every matching
/// pair and, once, for every `lhs` row without a match, with the `rhs` columns missing there
/// (`missing_column`); and the mask of the rows that matched (si64 1 or 0).
pub fn left_join(args: &[Value]) -> R<Vec<Value>> {
    let op = Builtin::LeftJoin;
    let (l, r) = (frame_arg(op, &args[0])?, frame_arg(op, &args[1])?);
    let keys = &args[2..];
    let n = keys.len() / 2;
    if n == 0 || keys.len() != 2 * n {
        return Err(Error::Internal("`LEFT JOIN`: as many keys of the left frame as of the right one".into()));
    }
    let on = |f: &Frame, ks: &[Value]| ks.iter().map(|k| f.column_index(&label_arg(op, k)?)).collect::<R<Vec<_>>>();
    let pairs = equi_join(l, r, &on(l, &keys[..n])?, &on(r, &keys[n..])?, Join::Left)?;
    let right = r.columns().iter().map(|c| missing_column(c, &pairs.right)).collect::<R<Vec<_>>>()?;
    let right = Frame::new(right, r.labels().to_vec())?;
    let matched: Vec<i64> = pairs.right.iter().map(|&j| i64::from(j != NONE)).collect();
    Ok(vec![
        bind(Builtin::Cbind, &l.select_rows(&pairs.left), &right)?,
        Value::Matrix(Matrix::Si64(crate::matrix::DenseMatrix::from_vec(matched.len(), 1, matched))),
    ])
}

/// The rows `rows` of a column, where `NONE` is a missing cell: NaN in a float column, the
/// empty string in a string column; other columns become f64 (`daphne_ir::infer::missing_type`).
fn missing_column(c: &Matrix, rows: &[usize]) -> R<Matrix> {
    fn pick<T: Clone>(m: &crate::matrix::DenseMatrix<T>, rows: &[usize], missing: T) -> crate::matrix::DenseMatrix<T> {
        let cells = rows.iter().map(|&i| if i == NONE { missing.clone() } else { m.get(i, 0).clone() }).collect();
        crate::matrix::DenseMatrix::from_vec(rows.len(), 1, cells)
    }
    let vt = daphne_ir::infer::missing_type(c.value_type());
    let c = c.cast(vt).ok_or_else(|| Error::Internal(format!("a column of {} as {vt}", c.value_type())))?;
    match &c {
        Matrix::F64(m) => Ok(Matrix::F64(pick(m, rows, f64::NAN))),
        Matrix::F32(m) => Ok(Matrix::F32(pick(m, rows, f32::NAN))),
        Matrix::Str(m) => Ok(Matrix::Str(pick(m, rows, Arc::from("")))),
        other => Err(Error::Internal(format!("a missing cell of {}", other.value_type()))),
    }
}

/// `semiJoin(lhs, rhs, lhsOn, rhsOn)`: the keys of the `lhs` rows that have a match, and those
/// rows' positions.
pub fn semi_join(lhs: &Value, rhs: &Value, lhs_on: &Value, rhs_on: &Value) -> R<Vec<Value>> {
    let op = Builtin::SemiJoin;
    let (l, r) = (frame_arg(op, lhs)?, frame_arg(op, rhs)?);
    let mut rows: Vec<usize> = matches(op, l, r, lhs_on, rhs_on)?.left;
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
    // The first lhs row holding each key, as DAPHNE's hash table keeps it (a hash table).
    let mut keys: Vec<(Vec<Scalar>, usize, Option<Scalar>)> = Vec::new();
    let mut index: HashMap<Vec<CellKey>, usize, FastHash> = HashMap::default();
    for i in 0..l.rows() {
        index.entry(hash_key(l, &[a], i)).or_insert_with(|| {
            keys.push((row_key(l, &[a], i), i, None));
            keys.len() - 1
        });
    }
    for j in 0..r.rows() {
        if let Some(&e) = index.get(&hash_key(r, &[b], j)) {
            let e = &mut keys[e];
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

/// Each row's group (numbered in order of first appearance) and each group's first row.
fn group_rows<K: std::hash::Hash + Eq>(n: usize, key: impl Fn(usize) -> K) -> (Vec<usize>, Vec<usize>) {
    let mut index: HashMap<K, usize, FastHash> = HashMap::default();
    let mut first_rows = Vec::new();
    let groups = (0..n)
        .map(|r| {
            *index.entry(key(r)).or_insert_with(|| {
                first_rows.push(r);
                first_rows.len() - 1
            })
        })
        .collect();
    (groups, first_rows)
}

/// Whether `x` comes before `y` in `Scalar::compare`'s order (NaN after every number).
fn before<T: Elem>(x: T, y: T) -> bool {
    #[allow(clippy::eq_op)]
    let (x_nan, y_nan) = (x != x, y != y);
    !x_nan && (y_nan || x < y)
}

/// An aggregate of a column of numbers per group: `groups[r]` is row r's group.
fn aggregate_cells<T: Elem>(cells: &[T], groups: &[usize], n: usize, agg: Aggregate) -> Vec<Scalar> {
    match agg {
        Aggregate::Count => {
            let mut counts = vec![0i64; n];
            groups.iter().for_each(|&g| counts[g] += 1);
            counts.into_iter().map(Scalar::Si64).collect()
        }
        Aggregate::Avg => {
            let mut sums = vec![(0.0f64, 0u64); n];
            for (&x, &g) in cells.iter().zip(groups) {
                sums[g] = (sums[g].0 + x.cast::<f64>(), sums[g].1 + 1);
            }
            sums.into_iter().map(|(s, c)| Scalar::F64(s / c as f64)).collect()
        }
        Aggregate::Sum | Aggregate::Min | Aggregate::Max => {
            let mut acc: Vec<Option<T>> = vec![None; n];
            for (&x, &g) in cells.iter().zip(groups) {
                acc[g] = Some(match acc[g] {
                    None => x,
                    Some(a) => match agg {
                        Aggregate::Sum => a.add(x),
                        Aggregate::Min if before(x, a) => x,
                        Aggregate::Max if before(a, x) => x,
                        _ => a,
                    },
                });
            }
            // A group of no rows exists only without keys: its sum is 0.
            acc.into_iter().map(|a| Scalar::from_elem(a.unwrap_or_default(), T::VT)).collect()
        }
    }
}

/// An aggregate of a column of strings per group (`count`, `min`, `max`).
fn aggregate_strings(cells: &[Arc<str>], groups: &[usize], n: usize, agg: Aggregate) -> R<Vec<Scalar>> {
    let mut acc: Vec<Option<&Arc<str>>> = vec![None; n];
    let mut counts = vec![0i64; n];
    for (x, &g) in cells.iter().zip(groups) {
        counts[g] += 1;
        acc[g] = Some(match acc[g] {
            Some(a) if (agg == Aggregate::Min) == (x.as_bytes() >= a.as_bytes()) => a,
            _ => x,
        });
    }
    match agg {
        Aggregate::Count => Ok(counts.into_iter().map(Scalar::Si64).collect()),
        Aggregate::Min | Aggregate::Max => acc
            .into_iter()
            .map(|a| a.map(|s| Scalar::Str(s.clone())).ok_or_else(|| format!("`{}` of no rows", agg.name()).into()))
            .collect(),
        Aggregate::Sum | Aggregate::Avg => Err(format!("`{}` cannot aggregate strings", agg.name()).into()),
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
    // Each row's group, numbered in order of first appearance.
    let (groups, first_rows) = match int_keys(f, &keys) {
        Some(k) => group_rows(f.rows(), |r| k[r]),
        None => group_rows(f.rows(), |r| hash_key(f, &keys, r)),
    };
    // No keys: one group, even of no rows (as SQL).
    let n_groups = if keys.is_empty() { 1 } else { first_rows.len() };
    let mut order: Vec<usize> = (0..first_rows.len()).collect();
    order.sort_by(|&x, &y| cmp_keys(&row_key(f, &keys, first_rows[x]), &row_key(f, &keys, first_rows[y])));
    let picked: Vec<usize> = order.iter().map(|&g| first_rows[g]).collect();
    let mut columns: Vec<Matrix> = keys.iter().map(|&k| f.columns()[k].pick(true, &picked)).collect();
    let mut labels: Vec<Arc<str>> = keys.iter().map(|&k| f.labels()[k].clone()).collect();
    let order = if keys.is_empty() { vec![0] } else { order };
    for (agg, col, vt, label) in &aggs {
        let cells = match &f.columns()[*col] {
            Matrix::Str(m) => aggregate_strings(m.cells(), &groups, n_groups, *agg)?,
            other => {
                crate::with_matrix!(other, m => aggregate_cells(m.cells(), &groups, n_groups, *agg), _s => unreachable_strings()?)
            }
        };
        if keys.is_empty() && first_rows.is_empty() && matches!(agg, Aggregate::Min | Aggregate::Max) {
            return Err(format!("`{}` of no rows", agg.name()).into());
        }
        let cells: Vec<Scalar> = order.iter().map(|&g| cells[g].clone()).collect();
        columns.push(column(&cells, aggregate_type(*agg, *vt))?);
        labels.push(label.clone());
    }
    if columns.is_empty() {
        return Err("`GROUP BY` needs a key or an aggregate".into());
    }
    Frame::new(columns, labels).map(Value::Frame)
}

/// The string arm of a `with_matrix!` whose strings were matched before.
fn unreachable_strings() -> R<Vec<Scalar>> {
    Err(Error::Internal("a column of strings where numbers were matched".into()))
}

/// The value type of an aggregate of a column of `vt`, as `ir::infer` gives it.
fn aggregate_type(agg: Aggregate, vt: daphne_ir::ValueType) -> daphne_ir::ValueType {
    daphne_ir::infer::aggregate_type(agg.name(), vt).unwrap_or(vt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::DenseMatrix;

    fn ints(cells: &[i64]) -> Matrix {
        Matrix::Si64(DenseMatrix::from_vec(cells.len(), 1, cells.to_vec()))
    }

    fn strings(cells: &[&str]) -> Matrix {
        Matrix::Str(DenseMatrix::from_vec(cells.len(), 1, cells.iter().map(|&s| Arc::from(s)).collect()))
    }

    fn frame(columns: Vec<Matrix>, labels: &[&str]) -> Frame {
        Frame::new(columns, labels.iter().map(|&l| Arc::from(l)).collect()).expect("a frame")
    }

    fn pairs(p: &Pairs) -> Vec<(usize, usize)> {
        p.left.iter().copied().zip(p.right.iter().copied()).collect()
    }

    /// A left join is the inner join's pairs with each left row without a match once, in its
    /// place, on every path: integer keys by direct addressing, integer keys of a wide range
    /// and string keys in a hash table.
    #[test]
    fn a_left_join_keeps_unmatched_rows_in_place() {
        let cases = [
            (ints(&[1, 2, 3, 4, 2]), ints(&[2, 1, 2, 9])),
            (ints(&[1, 2, 3, 4, 2]), ints(&[2, 1, 2, 1 << 40])),
            (strings(&["a", "b", "c", "d", "b"]), strings(&["b", "a", "b", "z"])),
        ];
        for (l, r) in cases {
            let (l, r) = (frame(vec![l], &["k"]), frame(vec![r], &["k"]));
            let inner = equi_join(&l, &r, &[0], &[0], Join::Inner).expect("inner");
            let left = equi_join(&l, &r, &[0], &[0], Join::Left).expect("left");
            assert_eq!(pairs(&inner), [(0, 1), (1, 0), (1, 2), (4, 0), (4, 2)]);
            assert_eq!(pairs(&left), [(0, 1), (1, 0), (1, 2), (2, NONE), (3, NONE), (4, 0), (4, 2)]);
        }
        // No right rows at all: every left row once.
        let (l, r) = (frame(vec![ints(&[5, 6])], &["k"]), frame(vec![ints(&[])], &["k"]));
        assert_eq!(pairs(&equi_join(&l, &r, &[0], &[0], Join::Left).expect("left")), [(0, NONE), (1, NONE)]);
    }

    /// The right columns of an unmatched row are missing: NaN in floats (integers become f64),
    /// the empty string in strings; the mask tells the rows that matched.
    #[test]
    fn left_join_fills_missing_cells_and_gives_the_mask() {
        let f64s = |c: &[f64]| Matrix::F64(DenseMatrix::from_vec(c.len(), 1, c.to_vec()));
        let l = frame(vec![ints(&[1, 3]), ints(&[10, 30])], &["f.k", "f.v"]);
        let r = frame(vec![ints(&[1]), ints(&[7]), f64s(&[0.5]), strings(&["x"])], &["g.k", "g.n", "g.w", "g.s"]);
        let label = |s: &str| Value::Scalar(Scalar::Str(Arc::from(s)));
        let out = left_join(&[Value::Frame(l), Value::Frame(r), label("f.k"), label("g.k")]).expect("joined");
        let [Value::Frame(joined), Value::Matrix(Matrix::Si64(mask))] = &out[..] else { panic!("{out:?}") };
        let mut text = String::new();
        joined.print(&mut text);
        assert_eq!(
            text,
            "Frame(2x6, [f.k:int64_t, f.v:int64_t, g.k:double, g.n:double, g.w:double, g.s:std::string])\n\
             1 10 1 7 0.5 x\n3 30 nan nan nan \n"
        );
        assert_eq!(mask.cells(), [1, 0]);
    }
}
