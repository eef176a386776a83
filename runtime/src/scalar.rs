//! Scalars: one cell of any value type, with C++'s conversions between them. The bottom of
//! the runtime's data types (matrices hold cells, values hold matrices).

use std::sync::Arc;

use daphne_ir::ValueType;

use crate::elem::Elem;
use crate::format::CppDisplay;

/// A cell as a hash key (`Scalar::key`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CellKey {
    Int(i128),
    /// A float that is not a whole number, by its bits.
    Float(u64),
    Nan,
    Str(Arc<str>),
}

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
            $crate::scalar::Scalar::F64($x) => $body,
            $crate::scalar::Scalar::F32($x) => $body,
            $crate::scalar::Scalar::Si64($x) => $body,
            $crate::scalar::Scalar::Si32($x) => $body,
            $crate::scalar::Scalar::Si8($x) => $body,
            $crate::scalar::Scalar::Ui64($x) | $crate::scalar::Scalar::Index($x) => $body,
            $crate::scalar::Scalar::Ui32($x) => $body,
            $crate::scalar::Scalar::Ui8($x) => $body,
            $crate::scalar::Scalar::Bool($x) => $body,
            $crate::scalar::Scalar::Str($s) => $str,
        }
    };
}

impl Scalar {
    /// A constant of the IR as a scalar.
    pub fn from_literal(lit: &daphne_ir::Literal) -> Scalar {
        use daphne_ir::Literal as L;
        match lit {
            L::F64(b) => Scalar::F64(f64::from_bits(*b)),
            L::F32(b) => Scalar::F32(f32::from_bits(*b)),
            L::Si64(v) => Scalar::Si64(*v),
            L::Si32(v) => Scalar::Si32(*v),
            L::Si8(v) => Scalar::Si8(*v),
            L::Ui64(v) => Scalar::Ui64(*v),
            L::Ui32(v) => Scalar::Ui32(*v),
            L::Ui8(v) => Scalar::Ui8(*v),
            L::Index(v) => Scalar::Index(*v),
            L::Bool(v) => Scalar::Bool(*v),
            L::Str(s) => Scalar::Str(std::sync::Arc::from(s.as_str())),
        }
    }

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

    /// The value as an integer, when it is one of an integer (or bool) value type.
    fn integer(&self) -> Option<i128> {
        match *self {
            Scalar::Si64(x) => Some(i128::from(x)),
            Scalar::Si32(x) => Some(i128::from(x)),
            Scalar::Si8(x) => Some(i128::from(x)),
            Scalar::Ui64(x) | Scalar::Index(x) => Some(i128::from(x)),
            Scalar::Ui32(x) => Some(i128::from(x)),
            Scalar::Ui8(x) => Some(i128::from(x)),
            Scalar::Bool(x) => Some(i128::from(x)),
            _ => None,
        }
    }

    /// The order of cells that sorting (`order`), grouping and joining use: numbers by value
    /// across value types (integers exactly, NaN after every other number), strings by their
    /// bytes, numbers before strings. A total order, so that sorting is well defined.
    pub fn compare(&self, other: &Scalar) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (self, other) {
            (Scalar::Str(a), Scalar::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Scalar::Str(_), _) => Ordering::Greater,
            (_, Scalar::Str(_)) => Ordering::Less,
            _ => match (self.integer(), other.integer()) {
                (Some(a), Some(b)) => a.cmp(&b),
                _ => {
                    let (a, b) = (self.get::<f64>().unwrap_or(f64::NAN), other.get::<f64>().unwrap_or(f64::NAN));
                    match (a.is_nan(), b.is_nan()) {
                        (true, true) => Ordering::Equal,
                        (true, false) => Ordering::Greater,
                        (false, true) => Ordering::Less,
                        // -0.0 and 0.0 are equal, as C++ compares them.
                        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
                    }
                }
            },
        }
    }

    /// A hashable form of the cell: two cells have equal keys exactly when `compare` finds
    /// them equal (the hash of hash joins and hash aggregation).
    pub fn key(&self) -> CellKey {
        if let Scalar::Str(s) = self {
            return CellKey::Str(s.clone());
        }
        if let Some(i) = self.integer() {
            return CellKey::Int(i);
        }
        let x = self.get::<f64>().unwrap_or(f64::NAN);
        if x.is_nan() {
            CellKey::Nan
        } else if x.fract() == 0.0 && x.abs() < 1e38 {
            // A whole float equals the integer of its value (and -0.0 equals 0).
            CellKey::Int(x as i128)
        } else {
            CellKey::Float(x.to_bits())
        }
    }

    /// As DAPHNE prints a scalar (C++ stream formatting).
    pub fn print(&self, out: &mut String) {
        with_scalar!(self, x => x.cpp_fmt(out), s => out.push_str(s));
    }
}
