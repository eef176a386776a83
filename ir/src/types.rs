//! Value types, data types and shapes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The element type of a scalar, a matrix or a frame column. `Index` is DAPHNE's `size_t`
/// (the type of `z` literals and of `nrow`); the others are DaphneDSL's value types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ValueType {
    Bool,
    Si8,
    Ui8,
    Si32,
    Ui32,
    Index,
    Si64,
    Ui64,
    F32,
    F64,
    Str,
}

impl ValueType {
    pub const ALL: [ValueType; 11] = [
        ValueType::Bool,
        ValueType::Si8,
        ValueType::Ui8,
        ValueType::Si32,
        ValueType::Ui32,
        ValueType::Index,
        ValueType::Si64,
        ValueType::Ui64,
        ValueType::F32,
        ValueType::F64,
        ValueType::Str,
    ];

    /// DAPHNE's generality ranking (`TypeInferenceUtils.cpp`): the result of an operation on
    /// mixed value types is the most general one. Note that f32 outranks si64 and ui64.
    pub fn generality(self) -> u8 {
        match self {
            ValueType::Bool => 0,
            ValueType::Si8 => 1,
            ValueType::Ui8 => 2,
            ValueType::Si32 => 3,
            ValueType::Ui32 => 4,
            ValueType::Index => 5,
            ValueType::Si64 => 6,
            ValueType::Ui64 => 7,
            ValueType::F32 => 8,
            ValueType::F64 => 9,
            ValueType::Str => 10,
        }
    }

    /// The more general of two value types (the first on a tie).
    pub fn most_general(self, other: ValueType) -> ValueType {
        if other.generality() > self.generality() { other } else { self }
    }

    /// The DaphneDSL name (`f64`, `si64`, ...); `index` for `Index`.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::F64 => "f64",
            ValueType::F32 => "f32",
            ValueType::Si64 => "si64",
            ValueType::Si32 => "si32",
            ValueType::Si8 => "si8",
            ValueType::Ui64 => "ui64",
            ValueType::Ui32 => "ui32",
            ValueType::Ui8 => "ui8",
            ValueType::Index => "index",
            ValueType::Str => "str",
            ValueType::Bool => "bool",
        }
    }

    pub fn from_name(name: &str) -> Option<ValueType> {
        ValueType::ALL.into_iter().find(|v| v.name() == name)
    }

    /// The C++ type name DAPHNE prints in matrix headers (`DenseMatrix(2x3, double)`).
    pub fn cpp_name(self) -> &'static str {
        match self {
            ValueType::F64 => "double",
            ValueType::F32 => "float",
            ValueType::Si64 => "int64_t",
            ValueType::Si32 => "int32_t",
            ValueType::Si8 => "int8_t",
            ValueType::Ui64 => "uint64_t",
            ValueType::Ui32 => "uint32_t",
            ValueType::Ui8 => "uint8_t",
            ValueType::Index => "uint64_t",
            ValueType::Str => "std::string",
            ValueType::Bool => "bool",
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, ValueType::F64 | ValueType::F32)
    }

    pub fn is_integer(self) -> bool {
        !matches!(self, ValueType::F64 | ValueType::F32 | ValueType::Str)
    }

    pub fn is_numeric(self) -> bool {
        self != ValueType::Str
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A matrix's storage representation, when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Repr {
    Dense,
    Sparse,
}

/// A matrix type: value type and dimensions, each possibly unknown at compile time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MatrixType {
    pub vt: Option<ValueType>,
    pub rows: Option<u64>,
    pub cols: Option<u64>,
    pub repr: Option<Repr>,
}

impl MatrixType {
    pub fn new(vt: ValueType, rows: Option<u64>, cols: Option<u64>) -> MatrixType {
        MatrixType { vt: Some(vt), rows, cols, repr: None }
    }

    /// A matrix of unknown value type and shape.
    pub fn any() -> MatrixType {
        MatrixType { vt: None, rows: None, cols: None, repr: None }
    }
}

/// A frame column: its label, when known, and value type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ColumnType {
    pub label: Option<String>,
    pub vt: ValueType,
}

/// A frame type: number of rows and the columns, each possibly unknown.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FrameType {
    pub rows: Option<u64>,
    pub columns: Option<Vec<ColumnType>>,
}

/// The type of an IR value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Type {
    /// Not known at compile time; the runtime value decides.
    Unknown,
    Scalar(ValueType),
    Matrix(MatrixType),
    Frame(FrameType),
    /// A list of matrices of this type (DaphneDSL's lists hold matrices). Types are not
    /// recursive, so decoding IR from a peer cannot nest without bound.
    List(MatrixType),
}

impl Type {
    pub fn matrix(vt: ValueType, rows: Option<u64>, cols: Option<u64>) -> Type {
        Type::Matrix(MatrixType::new(vt, rows, cols))
    }

    /// The value type of a scalar or matrix, or the single value type of all columns of a frame.
    pub fn value_type(&self) -> Option<ValueType> {
        match self {
            Type::Scalar(vt) => Some(*vt),
            Type::Matrix(m) => m.vt,
            _ => None,
        }
    }

    pub fn is_scalar(&self) -> bool {
        matches!(self, Type::Scalar(_))
    }

    pub fn is_matrix(&self) -> bool {
        matches!(self, Type::Matrix(_))
    }

    /// Whether a value of type `self` may flow where `other` is expected: equal, or equal
    /// after forgetting what either side does not know.
    pub fn compatible(&self, other: &Type) -> bool {
        fn opt<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
            a.is_none() || b.is_none() || a == b
        }
        match (self, other) {
            (Type::Unknown, _) | (_, Type::Unknown) => true,
            (Type::Scalar(a), Type::Scalar(b)) => a == b,
            (Type::Matrix(a), Type::Matrix(b)) => {
                opt(&a.vt, &b.vt) && opt(&a.rows, &b.rows) && opt(&a.cols, &b.cols) && opt(&a.repr, &b.repr)
            }
            (Type::Frame(a), Type::Frame(b)) => opt(&a.rows, &b.rows) && opt(&a.columns, &b.columns),
            (Type::List(a), Type::List(b)) => Type::Matrix(a.clone()).compatible(&Type::Matrix(b.clone())),
            _ => false,
        }
    }
}

fn dim(d: Option<u64>) -> String {
    d.map_or("?".to_owned(), |d| d.to_string())
}

impl fmt::Display for Type {
    /// The canonical text form: `si64`, `matrix<3x?xf64>`, `matrix<?x?x?:sparse>`,
    /// `frame<3x[a:si64, ?:f64]>`, `frame<?x?>`, `list<matrix<?x?xf64>>`, `unknown`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Unknown => f.write_str("unknown"),
            Type::Scalar(vt) => write!(f, "{vt}"),
            Type::Matrix(m) => {
                let vt = m.vt.map_or("?", ValueType::name);
                let repr = match m.repr {
                    None => "",
                    Some(Repr::Dense) => ":dense",
                    Some(Repr::Sparse) => ":sparse",
                };
                write!(f, "matrix<{}x{}x{vt}{repr}>", dim(m.rows), dim(m.cols))
            }
            Type::Frame(fr) => match &fr.columns {
                None => write!(f, "frame<{}x?>", dim(fr.rows)),
                Some(cols) => {
                    let cols: Vec<String> = cols
                        .iter()
                        .map(|c| format!("{}:{}", c.label.as_ref().map_or("?".to_owned(), |l| format!("{l:?}")), c.vt))
                        .collect();
                    write!(f, "frame<{}x[{}]>", dim(fr.rows), cols.join(", "))
                }
            },
            Type::List(t) => write!(f, "list<{}>", Type::Matrix(t.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_outranks_64_bit_integers() {
        assert_eq!(ValueType::Si64.most_general(ValueType::F32), ValueType::F32);
        assert_eq!(ValueType::Ui64.most_general(ValueType::Si64), ValueType::Ui64);
        assert_eq!(ValueType::Bool.most_general(ValueType::Si8), ValueType::Si8);
        assert_eq!(ValueType::F64.most_general(ValueType::Str), ValueType::Str);
    }

    #[test]
    fn names_round_trip() {
        for vt in ValueType::ALL {
            assert_eq!(ValueType::from_name(vt.name()), Some(vt));
        }
    }

    #[test]
    fn unknown_parts_are_compatible() {
        let known = Type::matrix(ValueType::F64, Some(3), Some(2));
        let partly = Type::Matrix(MatrixType { vt: Some(ValueType::F64), rows: None, cols: Some(2), repr: None });
        assert!(known.compatible(&partly));
        assert!(!known.compatible(&Type::matrix(ValueType::F32, Some(3), Some(2))));
        assert!(!known.compatible(&Type::Scalar(ValueType::F64)));
        assert_eq!(partly.to_string(), "matrix<?x2xf64>");
    }
}
