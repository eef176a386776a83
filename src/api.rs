//! The library API for programs that embed daphne-rs: compile a DaphneDSL script whose free
//! variables are inputs given as [`ndarray`] arrays, run it locally (or on workers), and take
//! its variables back as arrays. The Python package (`python/`) sits on this module.
//!
//! ```
//! use daphne::api::{Daphne, Data};
//! use ndarray::array;
//!
//! let daphne = Daphne::new();
//! let x = Data::from(array![[1.0, 2.0], [3.0, 4.0]]);
//! let out = daphne.run("y = sum(X * 2);", &[("X", &x)], &["y"]).unwrap();
//! assert_eq!(out[0].as_f64(), Some(20.0));
//! ```
//!
//! Copies:
//! - In: an owned `Array2` or shared `ArcArray2` in standard (C-contiguous, row-major) layout
//!   is used in place: the runtime's matrix reads the array's buffer (`matrix::Foreign`), and
//!   because `ArcArray` is copy-on-write, the caller's later writes to its own clones copy
//!   and never change what a run sees. A view (`ArrayView2`), or an array in another layout
//!   (transposed, strided), is copied once into a row-major buffer (a view's lifetime ends
//!   before the values a run keeps could).
//! - Out: a result whose cells nobody else holds is handed over as the array's buffer without
//!   a copy; an input returned unchanged is the very array that came in (same buffer). A result
//!   that shares its cells (a variable that is also another variable, a range of rows of a
//!   larger matrix) is copied once.
//!
//! Errors are [`Failure`]s: the message `daphne` prints (a diagnostic with the script's line
//! and column, DaphneDSL's names) and DAPHNE's exit status of the failing stage.

use std::sync::Arc;

use daphne_frontend::SourceFile;
use daphne_ir::{Module, Type};
use daphne_lower::{Program as LowerProgram, ScriptArgs};
use daphne_runtime::frame::Frame as RtFrame;
use daphne_runtime::matrix::{DenseMatrix, Foreign, Matrix};
use daphne_runtime::value::Value;
use ndarray::{ArcArray2, Array2, ArrayView2};

pub use daphne_runtime::scalar::Scalar;
pub use ndarray;

use crate::{Failure, Status};

/// A matrix as the API hands it over: a 2-D array of one of DaphneDSL's value types.
#[derive(Debug, Clone, PartialEq)]
pub enum Array {
    F64(ArcArray2<f64>),
    F32(ArcArray2<f32>),
    Si64(ArcArray2<i64>),
    Si32(ArcArray2<i32>),
    Si8(ArcArray2<i8>),
    Ui64(ArcArray2<u64>),
    Ui32(ArcArray2<u32>),
    Ui8(ArcArray2<u8>),
    Bool(ArcArray2<bool>),
    Str(ArcArray2<Arc<str>>),
}

/// A frame: labelled columns, each an `n x 1` array.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub labels: Vec<String>,
    pub columns: Vec<Array>,
}

/// A value going into or coming out of a program.
#[derive(Debug, Clone)]
pub enum Data {
    Matrix(Array),
    Scalar(Scalar),
    Frame(Frame),
    /// A value in the runtime's own form (a list, a sparse matrix, or a matrix over cells an
    /// embedding program owns: `DenseMatrix::foreign`).
    Runtime(Value),
}

/// The owner of an array the runtime reads in place. `ArcArray` is copy-on-write, so the
/// cells never change while a matrix holds them.
#[derive(Debug)]
struct Shared<T>(ArcArray2<T>);

impl<T: Send + Sync + std::fmt::Debug + std::panic::RefUnwindSafe + 'static> Foreign<T> for Shared<T> {
    fn cells(&self) -> &[T] {
        // Made only from standard-layout arrays (`in_place`), whose slice always exists.
        self.0.as_slice().unwrap_or(&[])
    }

    fn owner(&self) -> &(dyn std::any::Any + Send + Sync) {
        &self.0
    }
}

/// `a` as a matrix over its own buffer, or over one row-major copy when it is not in
/// standard layout.
fn in_place<T: Clone + Send + Sync + std::fmt::Debug + std::panic::RefUnwindSafe + 'static>(
    a: &ArcArray2<T>,
) -> DenseMatrix<T> {
    let (rows, cols) = a.dim();
    if a.is_standard_layout()
        && let Some(m) = DenseMatrix::foreign(rows, cols, Arc::new(Shared(a.clone())))
    {
        return m;
    }
    DenseMatrix::from_vec(rows, cols, a.iter().cloned().collect())
}

/// A matrix's cells as an array: the input array itself when the matrix is one unchanged,
/// the matrix's own buffer when nobody else holds it, else a copy.
fn out_of<T: Clone + Send + Sync + std::fmt::Debug + 'static>(m: DenseMatrix<T>) -> Result<ArcArray2<T>, Failure> {
    let shape = (m.rows(), m.cols());
    if let Some(a) = m.foreign_owner().and_then(|f| f.owner().downcast_ref::<ArcArray2<T>>())
        && a.dim() == shape
    {
        return Ok(a.clone());
    }
    let cells = m.into_cells().unwrap_or_else(|m| m.cells().to_vec());
    Array2::from_shape_vec(shape, cells).map(Array2::into_shared).map_err(|e| Failure {
        message: format!("error: {}\n", daphne_runtime::error::Error::Internal(format!("a result's cells: {e}"))),
        status: Status::ExecutionError,
    })
}

macro_rules! each_array {
    ($m:ident) => {
        $m!(F64, f64);
        $m!(F32, f32);
        $m!(Si64, i64);
        $m!(Si32, i32);
        $m!(Si8, i8);
        $m!(Ui64, u64);
        $m!(Ui32, u32);
        $m!(Ui8, u8);
        $m!(Bool, bool);
        $m!(Str, Arc<str>);
    };
}

macro_rules! from_arrays {
    ($variant:ident, $t:ty) => {
        impl From<Array2<$t>> for Data {
            /// Zero copy when the array is in standard layout.
            fn from(a: Array2<$t>) -> Data {
                Data::Matrix(Array::$variant(a.into_shared()))
            }
        }
        impl From<ArcArray2<$t>> for Data {
            /// Zero copy when the array is in standard layout.
            fn from(a: ArcArray2<$t>) -> Data {
                Data::Matrix(Array::$variant(a))
            }
        }
        impl From<ArrayView2<'_, $t>> for Data {
            /// One copy: a view cannot outlive its owner, the values of a run can.
            fn from(a: ArrayView2<'_, $t>) -> Data {
                Data::Matrix(Array::$variant(a.as_standard_layout().into_owned().into_shared()))
            }
        }
    };
}
each_array!(from_arrays);

impl Array {
    /// The array as the runtime's matrix (in place when in standard layout).
    pub fn to_matrix(&self) -> Matrix {
        match self {
            Array::F64(a) => Matrix::F64(in_place(a)),
            Array::F32(a) => Matrix::F32(in_place(a)),
            Array::Si64(a) => Matrix::Si64(in_place(a)),
            Array::Si32(a) => Matrix::Si32(in_place(a)),
            Array::Si8(a) => Matrix::Si8(in_place(a)),
            Array::Ui64(a) => Matrix::Ui64(in_place(a)),
            Array::Ui32(a) => Matrix::Ui32(in_place(a)),
            Array::Ui8(a) => Matrix::Ui8(in_place(a)),
            Array::Bool(a) => Matrix::Bool(in_place(a)),
            Array::Str(a) => Matrix::Str(in_place(a)),
        }
    }

    /// The runtime's matrix as an array (see the module's notes on copies).
    pub fn from_matrix(m: Matrix) -> Result<Array, Failure> {
        Ok(match m {
            Matrix::F64(m) => Array::F64(out_of(m)?),
            Matrix::F32(m) => Array::F32(out_of(m)?),
            Matrix::Si64(m) => Array::Si64(out_of(m)?),
            Matrix::Si32(m) => Array::Si32(out_of(m)?),
            Matrix::Si8(m) => Array::Si8(out_of(m)?),
            Matrix::Ui64(m) => Array::Ui64(out_of(m)?),
            Matrix::Ui32(m) => Array::Ui32(out_of(m)?),
            Matrix::Ui8(m) => Array::Ui8(out_of(m)?),
            Matrix::Bool(m) => Array::Bool(out_of(m)?),
            Matrix::Str(m) => Array::Str(out_of(m)?),
        })
    }

    /// Rows and columns.
    pub fn dim(&self) -> (usize, usize) {
        match self {
            Array::F64(a) => a.dim(),
            Array::F32(a) => a.dim(),
            Array::Si64(a) => a.dim(),
            Array::Si32(a) => a.dim(),
            Array::Si8(a) => a.dim(),
            Array::Ui64(a) => a.dim(),
            Array::Ui32(a) => a.dim(),
            Array::Ui8(a) => a.dim(),
            Array::Bool(a) => a.dim(),
            Array::Str(a) => a.dim(),
        }
    }
}

impl Data {
    /// The value the runtime runs with.
    pub fn to_value(&self) -> Result<Value, Failure> {
        Ok(match self {
            Data::Matrix(a) => Value::Matrix(a.to_matrix()),
            Data::Scalar(s) => Value::Scalar(s.clone()),
            Data::Frame(f) => {
                let columns = f.columns.iter().map(Array::to_matrix).collect();
                let labels = f.labels.iter().map(|l| Arc::from(l.as_str())).collect();
                Value::Frame(RtFrame::new(columns, labels).map_err(|e| input_error(&e.to_string()))?)
            }
            Data::Runtime(v) => v.clone(),
        })
    }

    /// A value the runtime computed, as the API hands it over. Values kept on workers are
    /// fetched; lists and sparse matrices stay in the runtime's form (`Data::Runtime`).
    pub fn from_value(v: Value) -> Result<Data, Failure> {
        Ok(match v {
            Value::Matrix(m) => Data::Matrix(Array::from_matrix(m)?),
            Value::Scalar(s) => Data::Scalar(s),
            Value::Frame(f) => Data::Frame(Frame {
                labels: f.labels().iter().map(|l| l.to_string()).collect(),
                columns: f.columns().iter().cloned().map(Array::from_matrix).collect::<Result<_, _>>()?,
            }),
            Value::Remote(r) => return Data::from_value(r.fetch().map_err(|e| input_error(&e.to_string()))?),
            Value::RemoteFrame(r) => {
                return Data::from_value(Value::Frame(r.fetch().map_err(|e| input_error(&e.to_string()))?));
            }
            other => Data::Runtime(other),
        })
    }

    /// A scalar result as `f64` (numbers and booleans), else `None`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Data::Scalar(s) => match s.cast(daphne_ir::ValueType::F64) {
                Some(Scalar::F64(x)) if !matches!(s, Scalar::Str(_)) => Some(x),
                _ => None,
            },
            _ => None,
        }
    }

    /// A matrix result of `f64` cells, else `None`.
    pub fn as_f64_array(&self) -> Option<&ArcArray2<f64>> {
        match self {
            Data::Matrix(Array::F64(a)) => Some(a),
            _ => None,
        }
    }
}

impl From<f64> for Data {
    fn from(x: f64) -> Data {
        Data::Scalar(Scalar::F64(x))
    }
}

impl From<i64> for Data {
    fn from(x: i64) -> Data {
        Data::Scalar(Scalar::Si64(x))
    }
}

impl From<bool> for Data {
    fn from(x: bool) -> Data {
        Data::Scalar(Scalar::Bool(x))
    }
}

impl From<&str> for Data {
    fn from(x: &str) -> Data {
        Data::Scalar(Scalar::Str(Arc::from(x)))
    }
}

impl From<Frame> for Data {
    fn from(f: Frame) -> Data {
        Data::Frame(f)
    }
}

fn input_error(message: &str) -> Failure {
    Failure { message: format!("error: {message}\n"), status: Status::ExecutionError }
}

/// How programs run: `daphne`'s options that matter to an embedding program.
#[derive(Debug, Clone)]
pub struct Options {
    /// Engine threads (`--num-threads`); `None`: the machine's.
    pub threads: Option<usize>,
    /// Fuse vectorizable ops into pipelines (`--no-fuse` turns it off).
    pub fuse: bool,
    /// JIT-compile pipelines (`--no-vec` turns it off: they are interpreted).
    pub vectorize: bool,
    /// Run pipelines on these workers (`host:port`, started by `daphne worker`), as
    /// `daphne --distributed` with `DISTRIBUTED_WORKERS`; empty: locally.
    pub workers: Vec<String>,
    /// Set to stop a running program before its next op (an error `interrupted`).
    pub interrupt: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl Default for Options {
    fn default() -> Self {
        Options { threads: None, fuse: true, vectorize: true, workers: Vec::new(), interrupt: None }
    }
}

/// A context that compiles and runs programs (DaphneLib's `DaphneContext`).
#[derive(Debug)]
pub struct Daphne {
    options: Options,
    cluster: Option<Arc<daphne_distributed::coordinator::Cluster>>,
    /// The JIT's engine, kept across runs: a program run again finds its kernels compiled.
    engine: Option<daphne_runtime::exec::SharedEngine>,
}

impl Default for Daphne {
    fn default() -> Self {
        Daphne::new()
    }
}

/// The engine's threads: `threads`, else the machine's.
fn schedule(options: &Options) -> daphne_runtime::schedule::Schedule {
    daphne_runtime::schedule::Schedule::on(options.threads.unwrap_or_else(daphne_runtime::exec::default_threads).max(1))
}

/// A compiled program: a module whose `main` takes the inputs (in the order given when it was
/// compiled, with their types) and returns the variables that exist at its end.
#[derive(Debug)]
pub struct Program {
    module: Module,
    files: Vec<SourceFile>,
    inputs: Vec<(String, Type)>,
    outputs: Vec<String>,
}

/// The name diagnostics give a script compiled from text.
pub const SCRIPT_NAME: &str = "<script>";

impl Daphne {
    /// A context that runs programs locally with the default options.
    pub fn new() -> Daphne {
        Daphne::with_options(Options::default()).unwrap_or_else(|_| Daphne {
            options: Options::default(),
            cluster: None,
            engine: None,
        })
    }

    /// A context with `options`; with workers, it connects to them now.
    pub fn with_options(options: Options) -> Result<Daphne, Failure> {
        let cluster = if options.workers.is_empty() {
            None
        } else {
            let coordinator = daphne_distributed::coordinator::Options {
                vectorize: options.vectorize,
                token: daphne_distributed::auth::token(None).map_err(|e| input_error(&e.to_string()))?,
                ..daphne_distributed::coordinator::Options::default()
            };
            let cluster = daphne_distributed::coordinator::Cluster::connect(options.workers.clone(), coordinator, None)
                .map_err(|e| input_error(&e.to_string()))?;
            Some(Arc::new(cluster))
        };
        let engine = daphne_runtime::engine::Engine::new(schedule(&options))
            .ok()
            .map(|e| daphne_runtime::exec::SharedEngine(Arc::new(std::sync::Mutex::new(e))));
        Ok(Daphne { options, cluster, engine })
    }

    /// Compiles `script` with the inputs `inputs` (names and the types of their values): they
    /// are the script's variables before its first statement.
    pub fn compile(&self, script: &str, inputs: &[(&str, Type)]) -> Result<Program, Failure> {
        let file = SourceFile::new(SCRIPT_NAME.to_owned(), script.to_owned());
        let program: LowerProgram = crate::load_program(file)?;
        let session = daphne_lower::Session {
            inputs: inputs.iter().map(|(n, t)| ((*n).to_owned(), t.clone())).collect(),
            echo: false,
        };
        let passes = crate::pass_manager_for(self.options.fuse, self.cluster.is_some());
        let (module, outputs) =
            crate::compile_entry(&program, &ScriptArgs::new(), Some(&session), &passes, &mut |_, _| {})?;
        Ok(Program { module, files: program.files, inputs: session.inputs, outputs })
    }

    /// Compiles `script` for the given inputs, runs it, and returns the variables `outputs`.
    pub fn run(&self, script: &str, inputs: &[(&str, &Data)], outputs: &[&str]) -> Result<Vec<Data>, Failure> {
        let values = inputs.iter().map(|(_, d)| d.to_value()).collect::<Result<Vec<_>, _>>()?;
        let types: Vec<(&str, Type)> =
            inputs.iter().zip(&values).map(|((n, _), v)| (*n, daphne_runtime::kernels::type_of(v))).collect();
        let program = self.compile(script, &types)?;
        let mut results = program.run_values(self, values)?;
        outputs
            .iter()
            .map(|name| match program.outputs.iter().position(|o| o == name) {
                Some(i) => Data::from_value(std::mem::replace(&mut results[i], Value::Scalar(Scalar::Bool(false)))),
                None => Err(Failure {
                    message: format!("error: the script defines no variable `{name}` to return\n"),
                    status: Status::CompilerError,
                }),
            })
            .collect()
    }

    /// What this context's workers did so far (pipelines run on them, bytes stored and
    /// fetched); `None` for a local context.
    pub fn transfer(&self) -> Option<daphne_distributed::coordinator::Transfer> {
        self.cluster.as_ref().map(|c| c.transfer())
    }

    fn exec_options(&self) -> daphne_runtime::exec::Options {
        daphne_runtime::exec::Options {
            vectorize: self.options.vectorize,
            schedule: schedule(&self.options),
            remote: self.cluster.clone().map(|c| c as Arc<dyn daphne_runtime::exec::Distribute>),
            interrupt: self.options.interrupt.clone(),
            engine: self.engine.clone(),
            ..daphne_runtime::exec::Options::default()
        }
    }
}

impl Program {
    /// The variables `run` returns, in order.
    pub fn outputs(&self) -> &[String] {
        &self.outputs
    }

    /// The inputs it takes, in order, with the types it was compiled for.
    pub fn inputs(&self) -> &[(String, Type)] {
        &self.inputs
    }

    /// The optimized IR (its `pipeline` ops are what runs fused and compiled).
    pub fn explain(&self) -> String {
        daphne_ir::print::module(&self.module)
    }

    /// Runs the program on `inputs` (in the order of `inputs()`; each must have the type it
    /// was compiled for) and returns every output, in the order of `outputs()`.
    pub fn run(&self, daphne: &Daphne, inputs: &[&Data]) -> Result<Vec<Data>, Failure> {
        let values = inputs.iter().map(|d| d.to_value()).collect::<Result<Vec<_>, _>>()?;
        self.run_values(daphne, values)?.into_iter().map(Data::from_value).collect()
    }

    /// `run` over values in the runtime's form, returning them in that form.
    pub fn run_values(&self, daphne: &Daphne, values: Vec<Value>) -> Result<Vec<Value>, Failure> {
        if values.len() != self.inputs.len() {
            return Err(input_error(&format!(
                "the program takes {} inputs, but {} were given",
                self.inputs.len(),
                values.len()
            )));
        }
        for ((name, ty), v) in self.inputs.iter().zip(&values) {
            let given = daphne_runtime::kernels::type_of(v);
            if &given != ty {
                return Err(input_error(&format!(
                    "input `{name}` is a {given}, but the program was compiled for a {ty}"
                )));
            }
        }
        let mut out = daphne_runtime::console::Stdout;
        let mut err = daphne_runtime::console::Stderr;
        let result = crate::execute_entry(&self.module, &self.files, daphne.exec_options(), values, &mut out, &mut err);
        let _ = daphne_runtime::console::flush();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_run_again_does_not_compile_its_pipelines_again() {
        let daphne = Daphne::new();
        let x = Data::from(ndarray::Array2::from_shape_fn((100, 10), |(i, j)| (i * 10 + j) as f64));
        let compiled = || daphne.engine.as_ref().map(|e| e.0.lock().map(|e| e.compilations()).unwrap_or(0));
        let before = compiled();
        assert!(before.is_some(), "a context has an engine where the JIT is available");
        for _ in 0..3 {
            let out = daphne.run("s = sum(X * 2 + 1);", &[("X", &x)], &["s"]).expect("runs");
            assert_eq!(out[0].as_f64(), Some(1_000_000.0), "the sum of 2v + 1 over v = 0..999");
        }
        assert_eq!(compiled(), before.map(|b| b + 1), "one kernel for three runs");
    }

    #[test]
    fn a_result_nobody_shares_is_handed_over_without_a_copy() {
        let m = DenseMatrix::from_vec(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let at = m.cells().as_ptr();
        let Ok(Array::F64(a)) = Array::from_matrix(Matrix::F64(m)) else { panic!("an f64 array") };
        assert_eq!(a.as_ptr(), at, "the matrix's own buffer");
        assert_eq!(a, ndarray::array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        // Shared cells are copied (the other holder keeps its own).
        let m = DenseMatrix::from_vec(1, 2, vec![1.0, 2.0]);
        let keep = m.clone();
        let Ok(Array::F64(a)) = Array::from_matrix(Matrix::F64(m)) else { panic!("an f64 array") };
        assert_ne!(a.as_ptr(), keep.cells().as_ptr());
    }
}
