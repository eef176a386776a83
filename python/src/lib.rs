//! `daphne._daphne`: the Python extension the lazy API (`daphne/`) calls. It sits on
//! `daphne::api`: a `Context` compiles a program (cached by its text and the types of its
//! inputs), binds NumPy arrays, Python numbers and strings and pandas columns as its inputs,
//! runs it with the GIL released and hands the results back as NumPy arrays.
//!
//! Copies: a C-contiguous array of f64, f32, int64, int32, int8, uint64, uint32 or uint8 is
//! used in place (the runtime's matrix reads the array's buffer, which a buffer export keeps
//! alive and unresizable while any matrix holds it); other arrays are made contiguous by the
//! Python layer first (one copy). A result whose cells no other value holds becomes a NumPy
//! array over that very buffer; an input returned unchanged is the input array itself.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use daphne::api::{self, Daphne, Program};
use daphne_runtime::matrix::{DenseMatrix, Foreign, Matrix};
use daphne_runtime::scalar::Scalar;
use daphne_runtime::value::Value;
use numpy::{PyArray2, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::buffer::{Element, PyBuffer};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyString, PyTuple};

pyo3::create_exception!(
    _daphne,
    DaphneError,
    pyo3::exceptions::PyRuntimeError,
    "A DaphneDSL program failed: the message is daphne's, with DAPHNE's exit status in `status`."
);

/// The cells of a C-contiguous buffer (a NumPy array's), read in place.
///
/// `AssertUnwindSafe`: the runtime only reads the cells, so a panic while it does leaves
/// nothing half-changed behind.
struct Buffer<T: Element> {
    buf: AssertUnwindSafe<PyBuffer<T>>,
    /// The array the buffer is of: handed back when a result is this input unchanged.
    array: AssertUnwindSafe<Py<PyAny>>,
}

impl<T: Element> std::fmt::Debug for Buffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a NumPy buffer of {} cells", self.buf.item_count())
    }
}

impl<T: Element + Send + Sync + std::panic::RefUnwindSafe> Foreign<T> for Buffer<T> {
    #[allow(unsafe_code)]
    fn cells(&self) -> &[T] {
        // SAFETY: `Buffer::new` checked that the buffer is C-contiguous and holds
        // `item_count()` items of `T` (`PyBuffer<T>` checked the item format and size). The
        // buffer export in `buf` keeps the memory alive and NumPy refuses to resize an array
        // with exports, so the pointer stays valid as long as `self`. The runtime only reads
        // it; Python code that writes the array while a run reads it races as with any
        // extension that releases the GIL (documented in the README).
        unsafe { std::slice::from_raw_parts(self.buf.buf_ptr() as *const T, self.buf.item_count()) }
    }

    fn owner(&self) -> &(dyn std::any::Any + Send + Sync) {
        &*self.array
    }
}

fn buffer_matrix<T>(array: &Bound<'_, PyAny>, rows: usize, cols: usize) -> PyResult<DenseMatrix<T>>
where
    T: Element + Clone + Send + Sync + std::panic::RefUnwindSafe + 'static,
{
    let buf = PyBuffer::<T>::get(array)?;
    if !buf.is_c_contiguous() {
        return Err(PyTypeError::new_err("the array is not C-contiguous (make it so with numpy.ascontiguousarray)"));
    }
    let owner = Arc::new(Buffer { buf: AssertUnwindSafe(buf), array: AssertUnwindSafe(array.clone().unbind()) });
    DenseMatrix::foreign(rows, cols, owner)
        .ok_or_else(|| PyTypeError::new_err(format!("the array's buffer does not hold {rows}x{cols} cells")))
}

/// A 2-D NumPy array as a matrix over its buffer.
fn matrix_of(array: &Bound<'_, PyUntypedArray>) -> PyResult<Matrix> {
    let shape = array.shape();
    let [rows, cols] = shape else {
        return Err(PyTypeError::new_err(format!("a matrix is a 2-D array, not {}-D", shape.len())));
    };
    let (rows, cols) = (*rows, *cols);
    let any = array.as_any();
    let py = array.py();
    let dtype = array.dtype();
    let is = |d: Bound<'_, numpy::PyArrayDescr>| dtype.is_equiv_to(&d);
    Ok(if is(numpy::dtype::<f64>(py)) {
        Matrix::F64(buffer_matrix(any, rows, cols)?)
    } else if is(numpy::dtype::<f32>(py)) {
        Matrix::F32(buffer_matrix(any, rows, cols)?)
    } else if is(numpy::dtype::<i64>(py)) {
        Matrix::Si64(buffer_matrix(any, rows, cols)?)
    } else if is(numpy::dtype::<i32>(py)) {
        Matrix::Si32(buffer_matrix(any, rows, cols)?)
    } else if is(numpy::dtype::<i8>(py)) {
        Matrix::Si8(buffer_matrix(any, rows, cols)?)
    } else if is(numpy::dtype::<u64>(py)) {
        Matrix::Ui64(buffer_matrix(any, rows, cols)?)
    } else if is(numpy::dtype::<u32>(py)) {
        Matrix::Ui32(buffer_matrix(any, rows, cols)?)
    } else if is(numpy::dtype::<u8>(py)) {
        Matrix::Ui8(buffer_matrix(any, rows, cols)?)
    } else {
        return Err(PyTypeError::new_err(format!(
            "arrays of dtype {dtype} are not supported (float64, float32, int64, int32, int8, uint64, uint32, uint8)"
        )));
    })
}

/// A Python input as a runtime value: a 2-D array, a number, a string, or a frame given as
/// `("frame", [labels], [n x 1 arrays])`.
fn value_of(x: &Bound<'_, PyAny>) -> PyResult<Value> {
    if let Ok(a) = x.cast::<PyUntypedArray>() {
        return Ok(Value::Matrix(matrix_of(a)?));
    }
    if x.is_instance_of::<PyBool>() {
        return Ok(Value::Scalar(Scalar::Bool(x.extract()?)));
    }
    if x.is_instance_of::<PyInt>() {
        return Ok(Value::Scalar(Scalar::Si64(x.extract()?)));
    }
    if x.is_instance_of::<PyFloat>() {
        return Ok(Value::Scalar(Scalar::F64(x.extract()?)));
    }
    if let Ok(s) = x.cast::<PyString>() {
        return Ok(Value::Scalar(Scalar::Str(Arc::from(s.to_str()?))));
    }
    if let Ok(t) = x.cast::<PyTuple>()
        && t.len() == 3
        && t.get_item(0)?.extract::<String>().is_ok_and(|k| k == "frame")
    {
        let labels: Vec<String> = t.get_item(1)?.extract()?;
        let columns = t.get_item(2)?.try_iter()?.map(|c| column_of(&c?)).collect::<PyResult<Vec<Matrix>>>()?;
        let labels = labels.iter().map(|l| Arc::from(l.as_str())).collect();
        let frame = daphne_runtime::frame::Frame::new(columns, labels)
            .map_err(|e| DaphneError::new_err((format!("error: {e}\n"), 3u8)))?;
        return Ok(Value::Frame(frame));
    }
    Err(PyTypeError::new_err(format!("cannot pass a {} to a DaphneDSL program", x.get_type().name()?)))
}

/// A frame's column: an n x 1 array, or a list of Python strings (a `str` column; copied).
fn column_of(c: &Bound<'_, PyAny>) -> PyResult<Matrix> {
    if let Ok(list) = c.cast::<PyList>() {
        let cells = list
            .iter()
            .map(|x| match x.cast::<PyString>() {
                Ok(s) => Ok(Arc::<str>::from(s.to_str()?)),
                Err(_) => Err(PyTypeError::new_err(format!(
                    "a string column holds a {} (frames have no missing values: fill them first)",
                    x.get_type().name()?
                ))),
            })
            .collect::<PyResult<Vec<Arc<str>>>>()?;
        return Ok(Matrix::Str(DenseMatrix::from_vec(cells.len(), 1, cells)));
    }
    matrix_of(c.cast::<PyUntypedArray>()?)
}

/// A matrix as a NumPy array: the input array itself, the matrix's own buffer, or a copy.
fn array_of<'py>(py: Python<'py>, m: Matrix) -> PyResult<Bound<'py, PyAny>> {
    macro_rules! give {
        ($m:expr, $t:ty, $variant:ident) => {{
            // The input array itself when the result is that input unchanged (same cells, same
            // shape: a reshaped input has the cells but not the shape).
            if let Some(b) = $m.foreign_owner().and_then(|f| f.owner().downcast_ref::<Py<PyAny>>())
                && let Ok(a) = b.bind(py).cast::<PyUntypedArray>()
                && a.shape() == [$m.rows(), $m.cols()]
            {
                return Ok(a.clone().into_any());
            }
            match api::Array::from_matrix(Matrix::$variant($m)).map_err(failure)? {
                api::Array::$variant(a) => Ok(PyArray2::<$t>::from_owned_array(py, a.into_owned()).into_any()),
                _ => Err(PyTypeError::new_err("a result changed its value type")),
            }
        }};
    }
    match m {
        Matrix::F64(m) => give!(m, f64, F64),
        Matrix::F32(m) => give!(m, f32, F32),
        Matrix::Si64(m) => give!(m, i64, Si64),
        Matrix::Si32(m) => give!(m, i32, Si32),
        Matrix::Si8(m) => give!(m, i8, Si8),
        Matrix::Ui64(m) => give!(m, u64, Ui64),
        Matrix::Ui32(m) => give!(m, u32, Ui32),
        Matrix::Ui8(m) => give!(m, u8, Ui8),
        Matrix::Bool(m) => match api::Array::from_matrix(Matrix::Bool(m)).map_err(failure)? {
            api::Array::Bool(a) => Ok(PyArray2::<bool>::from_owned_array(py, a.into_owned()).into_any()),
            _ => Err(PyTypeError::new_err("a result changed its value type")),
        },
        Matrix::Str(m) => {
            let rows: Vec<Vec<String>> =
                (0..m.rows()).map(|r| m.row(r).iter().map(|s| s.to_string()).collect()).collect();
            Ok(PyList::new(py, rows)?.into_any())
        }
    }
}

/// A result as a Python object: a NumPy array (a list of lists for strings), a number, a
/// string, or `("frame", [labels], [n x 1 arrays])`.
fn object_of<'py>(py: Python<'py>, v: Value) -> PyResult<Bound<'py, PyAny>> {
    let v = match v {
        Value::Remote(_) | Value::RemoteFrame(_) => match api::Data::from_value(v).map_err(failure)? {
            api::Data::Matrix(a) => Value::Matrix(a.to_matrix()),
            api::Data::Frame(f) => api::Data::Frame(f).to_value().map_err(failure)?,
            other => other.to_value().map_err(failure)?,
        },
        v => v,
    };
    Ok(match v {
        Value::Matrix(m) => array_of(py, m)?,
        Value::Scalar(s) => match s {
            Scalar::F64(x) => x.into_pyobject(py)?.into_any(),
            Scalar::F32(x) => f64::from(x).into_pyobject(py)?.into_any(),
            Scalar::Si64(x) => x.into_pyobject(py)?.into_any(),
            Scalar::Si32(x) => x.into_pyobject(py)?.into_any(),
            Scalar::Si8(x) => x.into_pyobject(py)?.into_any(),
            Scalar::Ui64(x) | Scalar::Index(x) => x.into_pyobject(py)?.into_any(),
            Scalar::Ui32(x) => x.into_pyobject(py)?.into_any(),
            Scalar::Ui8(x) => x.into_pyobject(py)?.into_any(),
            Scalar::Bool(x) => x.into_pyobject(py)?.to_owned().into_any(),
            Scalar::Str(x) => x.as_ref().into_pyobject(py)?.into_any(),
        },
        Value::Frame(f) => {
            let labels: Vec<String> = f.labels().iter().map(|l| l.to_string()).collect();
            // A string column is a flat list of Python strings (pandas makes it an object column).
            let columns = f
                .columns()
                .iter()
                .cloned()
                .map(|c| match c {
                    Matrix::Str(m) => Ok(PyList::new(py, m.cells().iter().map(|s| s.as_ref()))?.into_any()),
                    c => array_of(py, c),
                })
                .collect::<PyResult<Vec<Bound<'py, PyAny>>>>()?;
            ("frame", labels, columns).into_pyobject(py)?.into_any()
        }
        other => {
            return Err(PyTypeError::new_err(format!(
                "a {} cannot be returned to Python yet",
                daphne_runtime::kernels::type_of(&other)
            )));
        }
    })
}

fn failure(f: daphne::Failure) -> PyErr {
    DaphneError::new_err((f.message, f.status as u8))
}

/// DaphneLib's context, the Rust side: compiles and runs programs.
#[pyclass(module = "daphne._daphne")]
struct Context {
    daphne: Daphne,
    interrupt: Arc<AtomicBool>,
    /// Compiled programs by their text and the types of their inputs.
    programs: Mutex<HashMap<String, Arc<Program>>>,
}

#[pymethods]
impl Context {
    #[new]
    #[pyo3(signature = (threads=None, fuse=true, vectorize=true, workers=Vec::new()))]
    fn new(threads: Option<usize>, fuse: bool, vectorize: bool, workers: Vec<String>) -> PyResult<Context> {
        let interrupt = Arc::new(AtomicBool::new(false));
        let options = api::Options { threads, fuse, vectorize, workers, interrupt: Some(interrupt.clone()) };
        Ok(Context { daphne: Daphne::with_options(options).map_err(failure)?, interrupt, programs: Mutex::default() })
    }

    /// Runs `script` with the inputs `inputs` (name, value pairs) and returns the variables
    /// `outputs`. The GIL is released while it runs; Ctrl-C stops it before its next op.
    fn run<'py>(
        &self,
        py: Python<'py>,
        script: &str,
        inputs: Vec<(String, Bound<'py, PyAny>)>,
        outputs: Vec<String>,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let values = inputs.iter().map(|(_, v)| value_of(v)).collect::<PyResult<Vec<Value>>>()?;
        let program = self.program(py, script, &inputs, &values)?;
        let picks = outputs
            .iter()
            .map(|o| {
                program.outputs().iter().position(|n| n == o).ok_or_else(|| {
                    DaphneError::new_err((format!("error: the program defines no variable `{o}` to return\n"), 2u8))
                })
            })
            .collect::<PyResult<Vec<usize>>>()?;
        let results = self.run_interruptibly(py, &program, values)?;
        let mut results: Vec<Option<Value>> = results.into_iter().map(Some).collect();
        picks
            .into_iter()
            .map(|i| match results.get_mut(i).and_then(Option::take) {
                Some(v) => object_of(py, v),
                None => Err(DaphneError::new_err(("error: an output is asked for twice\n".to_owned(), 2u8))),
            })
            .collect()
    }

    /// What the workers did for this context so far, as a dict (`pipelines` run on them,
    /// `stored_bytes`, `fetched_bytes`, `created`: matrices made on them); `None` locally.
    fn transfer<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, pyo3::types::PyDict>>> {
        let Some(t) = self.daphne.transfer() else { return Ok(None) };
        let d = pyo3::types::PyDict::new(py);
        d.set_item("pipelines", t.pipelines)?;
        d.set_item("stored_bytes", t.stored_bytes)?;
        d.set_item("fetched_bytes", t.fetched_bytes)?;
        d.set_item("created", t.created)?;
        Ok(Some(d))
    }

    /// The optimized IR of `script` for these inputs (its `pipeline` ops run fused and
    /// JIT-compiled).
    fn explain(&self, py: Python<'_>, script: &str, inputs: Vec<(String, Bound<'_, PyAny>)>) -> PyResult<String> {
        let values = inputs.iter().map(|(_, v)| value_of(v)).collect::<PyResult<Vec<Value>>>()?;
        Ok(self.program(py, script, &inputs, &values)?.explain())
    }
}

impl Context {
    fn program(
        &self,
        py: Python<'_>,
        script: &str,
        inputs: &[(String, Bound<'_, PyAny>)],
        values: &[Value],
    ) -> PyResult<Arc<Program>> {
        let types: Vec<(&str, daphne_ir::Type)> =
            inputs.iter().zip(values).map(|((n, _), v)| (n.as_str(), daphne_runtime::kernels::type_of(v))).collect();
        let mut key = script.to_owned();
        for (n, t) in &types {
            key.push_str(&format!("\u{0}{n}:{t}"));
        }
        if let Some(p) = self.programs.lock().map_err(|_| poisoned())?.get(&key) {
            return Ok(p.clone());
        }
        let program = Arc::new(py.detach(|| self.daphne.compile(script, &types)).map_err(failure)?);
        self.programs.lock().map_err(|_| poisoned())?.insert(key, program.clone());
        Ok(program)
    }

    /// Runs on a thread of its own while this one, without the GIL, waits for it and looks
    /// for Ctrl-C every 50 ms (Python delivers signals to the main thread only).
    fn run_interruptibly(&self, py: Python<'_>, program: &Program, values: Vec<Value>) -> PyResult<Vec<Value>> {
        self.interrupt.store(false, Ordering::Relaxed);
        let daphne = &self.daphne;
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel();
            let rx = Mutex::new(rx);
            s.spawn(move || {
                let _ = tx.send(program.run_values(daphne, values));
            });
            let mut signal = None;
            loop {
                let waited = py.detach(|| match rx.lock() {
                    Ok(rx) => rx.recv_timeout(Duration::from_millis(50)),
                    Err(_) => Err(std::sync::mpsc::RecvTimeoutError::Disconnected),
                });
                match waited {
                    Ok(result) => {
                        return match signal {
                            Some(e) => Err(e),
                            None => result.map_err(failure),
                        };
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        if signal.is_none()
                            && let Err(e) = py.check_signals()
                        {
                            self.interrupt.store(true, Ordering::Relaxed);
                            signal = Some(e);
                        }
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        return Err(DaphneError::new_err((
                            "error: the run ended without a result (this is a bug of daphne-rs: please report it)\n"
                                .to_owned(),
                            3u8,
                        )));
                    }
                }
            }
        })
    }
}

fn poisoned() -> PyErr {
    DaphneError::new_err(("error: the program cache is poisoned by an earlier panic\n".to_owned(), 3u8))
}

#[pymodule]
fn _daphne(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Context>()?;
    m.add("DaphneError", m.py().get_type::<DaphneError>())?;
    Ok(())
}
