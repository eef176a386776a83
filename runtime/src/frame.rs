//! Frames: labelled columns of possibly different value types, all of the same length.

use std::sync::Arc;

use daphne_ir::ValueType;

use crate::error::Error;
use crate::matrix::Matrix;
use crate::scalar::Scalar;

/// A frame. Each column is stored as an n x 1 matrix; columns share their cells on copy.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    rows: usize,
    labels: Vec<Arc<str>>,
    columns: Vec<Matrix>,
}

/// DAPHNE's label for an unlabelled column (`Frame::getDefaultLabel`).
pub fn default_label(i: usize) -> Arc<str> {
    Arc::from(format!("col_{i}"))
}

impl Frame {
    /// A frame from n x 1 column matrices and as many distinct labels.
    pub fn new(columns: Vec<Matrix>, labels: Vec<Arc<str>>) -> Result<Frame, Error> {
        if columns.len() != labels.len() {
            return Err(
                format!("a frame needs as many labels as columns, not {} for {}", labels.len(), columns.len()).into()
            );
        }
        let rows = columns.first().map_or(0, Matrix::rows);
        for (c, l) in columns.iter().zip(&labels) {
            if c.cols() != 1 {
                return Err(format!(
                    "frame column `{l}` must be a column matrix (n x 1), not {}x{}",
                    c.rows(),
                    c.cols()
                )
                .into());
            }
            if c.rows() != rows {
                return Err(format!(
                    "all frame columns must have the same number of rows, but `{l}` has {} instead of {rows}",
                    c.rows()
                )
                .into());
            }
        }
        for (i, l) in labels.iter().enumerate() {
            if labels[..i].contains(l) {
                return Err(format!("the frame column label `{l}` is used twice").into());
            }
        }
        Ok(Frame { rows, labels, columns })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.columns.len()
    }

    pub fn labels(&self) -> &[Arc<str>] {
        &self.labels
    }

    pub fn columns(&self) -> &[Matrix] {
        &self.columns
    }

    pub fn schema(&self) -> Vec<ValueType> {
        self.columns.iter().map(Matrix::value_type).collect()
    }

    /// The index of the column labelled `label`.
    pub fn column_index(&self, label: &str) -> Result<usize, Error> {
        self.labels
            .iter()
            .position(|l| &**l == label)
            .ok_or_else(|| Error::from(format!("the frame has no column labelled `{label}`")))
    }

    /// The frame with the given rows, in the given order.
    pub fn select_rows(&self, idx: &[usize]) -> Frame {
        // All rows in order (a join whose every left row matched once): the columns, shared.
        if idx.len() == self.rows && idx.iter().enumerate().all(|(i, &r)| i == r) {
            return self.clone();
        }
        let columns = self.columns.iter().map(|c| c.pick(true, idx)).collect();
        Frame { rows: idx.len(), labels: self.labels.clone(), columns }
    }

    /// The frame with the given columns, in the given order.
    pub fn select_cols(&self, idx: &[usize]) -> Frame {
        Frame {
            rows: self.rows,
            labels: idx.iter().map(|&i| self.labels[i].clone()).collect(),
            columns: idx.iter().map(|&i| self.columns[i].clone()).collect(),
        }
    }

    pub fn with_labels(&self, labels: Vec<Arc<str>>) -> Result<Frame, Error> {
        Frame::new(self.columns.clone(), labels)
    }

    /// The frame as a matrix of value type `vt` (every column converted).
    pub fn to_matrix(&self, vt: ValueType) -> Result<Matrix, Error> {
        // One column of that type already: its cells, shared.
        if let [c] = self.columns.as_slice()
            && c.value_type() == vt
        {
            return Ok(c.clone());
        }
        let mut cells = Vec::with_capacity(self.rows * self.cols());
        for r in 0..self.rows {
            for c in &self.columns {
                cells.push(c.cell(r, 0));
            }
        }
        Matrix::from_scalars(self.rows, self.cols(), &cells, vt)
    }

    /// A matrix as a frame: one column per matrix column, labelled `col_0`, `col_1`, ...
    pub fn from_matrix(m: &Matrix) -> Frame {
        let columns: Vec<Matrix> = (0..m.cols()).map(|j| m.pick(false, &[j])).collect();
        let labels = (0..m.cols()).map(default_label).collect();
        Frame { rows: m.rows(), labels, columns }
    }

    /// DAPHNE's printed form: `Frame(3x2, [a:int64_t, b:double])`, then one line per row.
    pub fn print(&self, out: &mut String) {
        self.print_rows(out, &mut |_| {});
    }

    /// `print`, calling `row_done` after every row (see `Matrix::print_rows`).
    pub fn print_rows(&self, out: &mut String, row_done: &mut dyn FnMut(&mut String)) {
        let schema: Vec<String> =
            self.labels.iter().zip(&self.columns).map(|(l, c)| format!("{l}:{}", cpp_name(c.value_type()))).collect();
        out.push_str(&format!("Frame({}x{}, [{}])\n", self.rows, self.cols(), schema.join(", ")));
        for r in 0..self.rows {
            for (i, c) in self.columns.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                c.cell(r, 0).print(out);
            }
            out.push('\n');
            row_done(out);
        }
    }
}

fn cpp_name(vt: ValueType) -> &'static str {
    vt.cpp_name()
}

impl Scalar {
    pub fn as_label(&self) -> Option<Arc<str>> {
        match self {
            Scalar::Str(s) => Some(s.clone()),
            _ => None,
        }
    }
}
