//! Frame kernels: creation from columns, labels, binding.

use std::sync::Arc;

use daphne_ir::Builtin;

use super::R;
use crate::frame::Frame;
use crate::value::{Scalar, Value};

fn label(v: &Value) -> R<Arc<str>> {
    match v {
        Value::Scalar(Scalar::Str(s)) => Ok(s.clone()),
        other => Err(format!("a frame column label must be a string, not {}", other.describe())),
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
            _ => Err("internal: not a matrix".to_owned()),
        })
        .collect::<R<Vec<_>>>()?;
    let labels = args[n_cols..].iter().map(label).collect::<R<Vec<_>>>()?;
    let labels = if labels.is_empty() { (0..n_cols).map(crate::frame::default_label).collect() } else { labels };
    Frame::new(columns, labels).map(Value::Frame)
}

fn frame_arg(op: Builtin, v: &Value) -> R<&Frame> {
    match v {
        Value::Frame(f) => Ok(f),
        other => Err(format!("`{op}` needs a frame, not {}", other.describe())),
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
            return Err(format!("`cbind` needs the same number of rows, but they are {} and {}", a.rows(), b.rows()));
        }
        let columns = a.columns().iter().chain(b.columns()).cloned().collect();
        let labels = a.labels().iter().chain(b.labels()).cloned().collect();
        return Frame::new(columns, labels).map(Value::Frame);
    }
    if a.schema() != b.schema() {
        return Err("`rbind` needs frames with the same column value types".to_owned());
    }
    if a.labels() != b.labels() {
        return Err("`rbind` needs frames with the same column labels".to_owned());
    }
    let columns = a
        .columns()
        .iter()
        .zip(b.columns())
        .map(|(x, y)| match super::data::bind(op, x, y, x.value_type())? {
            Value::Matrix(m) => Ok(m),
            _ => Err("internal: not a matrix".to_owned()),
        })
        .collect::<R<Vec<_>>>()?;
    Frame::new(columns, a.labels().to_vec()).map(Value::Frame)
}
