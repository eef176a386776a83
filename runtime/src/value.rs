//! Runtime values: scalars and matrices.

use std::sync::Arc;

use daphne_ir::ValueType;

use crate::elem::Elem;
use crate::format::CppDisplay;
use crate::matrix::Matrix;

/// A scalar of any value type. An `index` is a `u64` that remembers it is one.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    F64(f64),
    F32(f32),
    Si64(i64),
    Si32(i32),
    Si8(i8),
    Ui64(u64),
    Ui32(u32),
    Ui8(u8),
    Index(u64),
    Bool(bool),
    Str(Arc<str>),
}

/// Runs `$body` with `$x` bound to the numeric payload of a `Scalar`, `$str` for strings.
#[macro_export]
macro_rules! with_scalar {
    ($scalar:expr, $x:ident => $body:expr, $s:ident => $str:expr) => {
        match $scalar {
            $crate::value::Scalar::F64($x) => $body,
            $crate::value::Scalar::F32($x) => $body,
            $crate::value::Scalar::Si64($x) => $body,
            $crate::value::Scalar::Si32($x) => $body,
            $crate::value::Scalar::Si8($x) => $body,
            $crate::value::Scalar::Ui64($x) | $crate::value::Scalar::Index($x) => $body,
            $crate::value::Scalar::Ui32($x) => $body,
            $crate::value::Scalar::Ui8($x) => $body,
            $crate::value::Scalar::Bool($x) => $body,
            $crate::value::Scalar::Str($s) => $str,
        }
    };
}

impl Scalar {
    pub fn value_type(&self) -> ValueType {
        match self {
            Scalar::F64(_) => ValueType::F64,
            Scalar::F32(_) => ValueType::F32,
            Scalar::Si64(_) => ValueType::Si64,
            Scalar::Si32(_) => ValueType::Si32,
            Scalar::Si8(_) => ValueType::Si8,
            Scalar::Ui64(_) => ValueType::Ui64,
            Scalar::Ui32(_) => ValueType::Ui32,
            Scalar::Ui8(_) => ValueType::Ui8,
            Scalar::Index(_) => ValueType::Index,
            Scalar::Bool(_) => ValueType::Bool,
            Scalar::Str(_) => ValueType::Str,
        }
    }

    /// The value converted to `T` with C++ casts; `None` for a string.
    pub fn get<T: Elem>(&self) -> Option<T> {
        with_scalar!(self, x => Some(x.cast::<T>()), _s => None)
    }

    /// The scalar of value type `vt` holding `x`.
    pub fn from_elem<T: Elem>(x: T, vt: ValueType) -> Scalar {
        match vt {
            ValueType::F64 => Scalar::F64(x.cast()),
            ValueType::F32 => Scalar::F32(x.cast()),
            ValueType::Si64 => Scalar::Si64(x.cast()),
            ValueType::Si32 => Scalar::Si32(x.cast()),
            ValueType::Si8 => Scalar::Si8(x.cast()),
            ValueType::Ui64 => Scalar::Ui64(x.cast()),
            ValueType::Ui32 => Scalar::Ui32(x.cast()),
            ValueType::Ui8 => Scalar::Ui8(x.cast()),
            ValueType::Index => Scalar::Index(x.cast()),
            ValueType::Bool => Scalar::Bool(x.cast()),
            // DAPHNE converts numbers to strings with `std::to_string`.
            ValueType::Str => Scalar::Str(Arc::from(x.cpp_to_string())),
        }
    }

    /// The scalar converted to `vt`. Strings convert to numbers as `std::stod`/`std::stoll`
    /// would; `None` if a string is not a number.
    pub fn cast(&self, vt: ValueType) -> Option<Scalar> {
        match self {
            Scalar::Str(s) if vt == ValueType::Str => Some(Scalar::Str(s.clone())),
            Scalar::Str(s) => {
                let t = s.trim();
                if vt.is_float() {
                    t.parse::<f64>().ok().map(|v| Scalar::from_elem(v, vt))
                } else {
                    t.parse::<i64>().ok().map(|v| Scalar::from_elem(v, vt))
                }
            }
            other => Some(with_scalar!(other, x => Scalar::from_elem(*x, vt), _s => return None)),
        }
    }

    /// As DAPHNE prints a scalar (C++ stream formatting).
    pub fn print(&self, out: &mut String) {
        with_scalar!(self, x => x.cpp_fmt(out), s => out.push_str(s));
    }
}

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
    /// A matrix kept on workers (`remote.rs`); ops other than those that pass values on see
    /// it fetched.
    Remote(crate::remote::Remote),
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
            Value::Remote(r) => match r.fetch() {
                Ok(v) => v.print(out),
                Err(e) => out.push_str(&e),
            },
        }
    }

    /// The value here: a remote value fetched, any other as it is.
    pub fn local(self) -> Result<Value, String> {
        match self {
            Value::Remote(r) => r.fetch(),
            other => Ok(other),
        }
    }

    /// The value with a sparse matrix turned dense (kernels that do not know CSR get this).
    pub fn densify(self) -> Result<Value, String> {
        match self {
            Value::Sparse(m) => m.to_dense().map(Value::Matrix),
            Value::Remote(r) => r.fetch()?.densify(),
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
        }
    }
}
