//! Runtime values: scalars, matrices (dense and CSR), frames, lists, and matrices and frames
//! kept elsewhere (`Remote`, `RemoteFrame`).

use std::sync::Arc;

use daphne_ir::ValueType;

use crate::error::Error;
use crate::matrix::Matrix;
pub use crate::scalar::Scalar;

/// A value of the runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    Matrix(Matrix),
    Frame(crate::frame::Frame),
    /// A matrix with the sparse (CSR) representation.
    Sparse(crate::csr::CsrMatrix),
    /// A list of matrices of one value type.
    List(ValueType, Vec<Matrix>),
    /// A matrix kept on workers (`Remote`); ops other than those that pass values on see
    /// it fetched.
    Remote(Remote),
    /// A frame kept on workers, a remote matrix per column (`RemoteFrame`); fetched as
    /// `Remote` is, but for the ops that pick its columns, count them or make a matrix of them.
    RemoteFrame(RemoteFrame),
}

impl Value {
    /// The text DAPHNE's `print` writes for this value, without the trailing newline of
    /// scalars (matrices end every row with one).
    pub fn print(&self, out: &mut String) {
        match self {
            Value::Scalar(s) => s.print(out),
            Value::Matrix(m) => m.print(out),
            Value::Frame(f) => f.print(out),
            Value::Sparse(m) => m.print(out),
            Value::List(vt, elems) => {
                let name = if *vt == ValueType::Str { "std::string" } else { vt.cpp_name() };
                out.push_str(&format!("List({}, DenseMatrix, {name})\n", elems.len()));
                for m in elems {
                    m.print(out);
                }
            }
            Value::Remote(_) | Value::RemoteFrame(_) => match self.clone().local() {
                Ok(v) => v.print(out),
                Err(e) => out.push_str(&e.to_string()),
            },
        }
    }

    /// Rows `rows` of a remote matrix or frame brought here without the others, where its
    /// owner can (`Resident::rows`): a block of whole parts holding them, and the row it
    /// starts at. `None`: a value here, rows beyond it, or the owner cannot.
    pub fn remote_rows(&self, rows: std::ops::Range<usize>) -> Option<Result<(usize, Value), Error>> {
        match self {
            Value::Remote(r) if rows.end <= r.rows => r.data.rows(rows),
            Value::RemoteFrame(f) if rows.end <= f.rows => {
                let mut first = None;
                let mut columns = Vec::with_capacity(f.columns.len());
                for c in &f.columns {
                    let (at, block) = match c.data.rows(rows.clone())? {
                        Ok((at, Value::Matrix(m))) => (at, m),
                        Ok((_, other)) => {
                            return Some(Err(Error::Internal(format!(
                                "a frame column's rows are {}",
                                other.describe()
                            ))));
                        }
                        Err(e) => return Some(Err(e)),
                    };
                    if first.is_some_and(|f| f != at) {
                        return None;
                    }
                    first = Some(at);
                    columns.push(block);
                }
                let frame = crate::frame::Frame::new(columns, f.labels.clone()).map(Value::Frame);
                Some(frame.map(|v| (first.unwrap_or(rows.start), v)))
            }
            _ => None,
        }
    }

    /// Whether the value is kept elsewhere (a remote matrix or frame).
    pub fn is_remote(&self) -> bool {
        matches!(self, Value::Remote(_) | Value::RemoteFrame(_))
    }

    /// The value here: a remote value fetched, any other as it is.
    pub fn local(self) -> Result<Value, Error> {
        match self {
            Value::Remote(r) => r.fetch(),
            Value::RemoteFrame(f) => f.fetch().map(Value::Frame),
            other => Ok(other),
        }
    }

    /// The value with a sparse matrix turned dense (kernels that do not know CSR get this).
    pub fn densify(self) -> Result<Value, Error> {
        match self {
            Value::Sparse(m) => m.to_dense().map(Value::Matrix),
            Value::Remote(r) => r.fetch()?.densify(),
            Value::RemoteFrame(f) => f.fetch().map(Value::Frame),
            other => Ok(other),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Value::Scalar(s) => format!("a scalar of type {}", s.value_type()),
            Value::Matrix(m) => format!("a {}x{} matrix of {}", m.rows(), m.cols(), m.value_type()),
            Value::Frame(f) => format!("a {}x{} frame", f.rows(), f.cols()),
            Value::Sparse(m) => format!("a {}x{} sparse matrix of {}", m.rows(), m.cols(), m.value_type()),
            Value::List(_, elems) => format!("a list of {}", daphne_ir::count(elems.len(), "matrix", "matrices")),
            Value::Remote(r) => format!("a {}x{} matrix of {}", r.rows, r.cols, r.value_type),
            Value::RemoteFrame(f) => format!("a {}x{} frame", f.rows, f.columns.len()),
        }
    }
}

// Values that live elsewhere: a pipeline's row output kept on the workers that computed it.
// The executor passes such a value on (to variables, calls, loops and other pipelines)
// without touching it, and fetches it (`Remote::fetch`) when an op needs its cells: a print,
// a kernel outside pipelines, a pipeline that runs locally. What "elsewhere" is belongs to the
// distributed runtime (`daphne-distributed`), behind `Resident`.

/// The data of a remote value. Dropping the last reference lets the owner free it where it
/// lives.
pub trait Resident: Send + Sync + std::fmt::Debug {
    /// The value, brought here (a dense matrix or a CSR matrix). Fetching twice may reuse
    /// the first copy.
    fn fetch(&self) -> Result<Value, Error>;
    /// Rows `rows` brought here without the others, where the owner can: a block of whole
    /// parts holding them, and the row its first part starts at. `None`: fetch the value.
    fn rows(&self, _rows: std::ops::Range<usize>) -> Option<Result<(usize, Value), Error>> {
        None
    }
    /// For the owner to recognize its own values.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// A matrix whose cells are elsewhere.
#[derive(Debug, Clone)]
pub struct Remote {
    pub rows: usize,
    pub cols: usize,
    pub value_type: ValueType,
    pub data: Arc<dyn Resident>,
}

impl PartialEq for Remote {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
    }
}

impl Remote {
    /// The value here.
    pub fn fetch(&self) -> Result<Value, Error> {
        self.data.fetch()
    }
}

/// A frame whose cells are elsewhere: its labels and, per column, an n x 1 remote matrix of
/// the column's value type (all split over the same rows of the same workers).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteFrame {
    pub rows: usize,
    pub labels: Vec<Arc<str>>,
    pub columns: Vec<Remote>,
}

impl RemoteFrame {
    /// The frame here.
    pub fn fetch(&self) -> Result<crate::frame::Frame, Error> {
        let columns = self
            .columns
            .iter()
            .map(|c| match c.fetch()? {
                Value::Matrix(m) => Ok(m),
                other => Err(Error::Internal(format!("a remote frame column is {}", other.describe()))),
            })
            .collect::<Result<Vec<Matrix>, Error>>()?;
        crate::frame::Frame::new(columns, self.labels.clone())
    }

    /// The value types of its columns.
    pub fn schema(&self) -> Vec<ValueType> {
        self.columns.iter().map(|c| c.value_type).collect()
    }

    /// An empty frame of its labels and schema: what a kernel that only looks at the columns
    /// (which to pick, which type a cast makes) can run on.
    pub fn shape(&self) -> Result<crate::frame::Frame, Error> {
        let columns = self
            .schema()
            .into_iter()
            .map(|vt| Matrix::zeroed(vt, 0, 1, "a frame's schema"))
            .collect::<Result<_, _>>()?;
        crate::frame::Frame::new(columns, self.labels.clone())
    }

    /// The frame of the columns `idx`, in that order (they stay where they are).
    pub fn select_cols(&self, idx: &[usize]) -> RemoteFrame {
        RemoteFrame {
            rows: self.rows,
            labels: idx.iter().map(|&i| self.labels[i].clone()).collect(),
            columns: idx.iter().map(|&i| self.columns[i].clone()).collect(),
        }
    }
}
