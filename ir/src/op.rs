//! Operations: what an op computes. Structural parts (operands, results, regions) live in
//! `function::Op`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::function::FuncId;
use crate::types::ValueType;

/// A constant's value. Floats are kept as bits so that constants compare and hash exactly
/// (a NaN constant equals itself, which is what CSE needs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Literal {
    F64(u64),
    F32(u32),
    Si64(i64),
    Si32(i32),
    Si8(i8),
    Ui64(u64),
    Ui32(u32),
    Ui8(u8),
    Index(u64),
    Bool(bool),
    Str(String),
}

impl Literal {
    pub fn f64(v: f64) -> Literal {
        Literal::F64(v.to_bits())
    }

    pub fn f32(v: f32) -> Literal {
        Literal::F32(v.to_bits())
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Literal::F64(_) => ValueType::F64,
            Literal::F32(_) => ValueType::F32,
            Literal::Si64(_) => ValueType::Si64,
            Literal::Si32(_) => ValueType::Si32,
            Literal::Si8(_) => ValueType::Si8,
            Literal::Ui64(_) => ValueType::Ui64,
            Literal::Ui32(_) => ValueType::Ui32,
            Literal::Ui8(_) => ValueType::Ui8,
            Literal::Index(_) => ValueType::Index,
            Literal::Bool(_) => ValueType::Bool,
            Literal::Str(_) => ValueType::Str,
        }
    }
}

impl fmt::Display for Literal {
    /// The text form: the value, a colon and its value type (`2.5:f64`, `"a":str`). Floats
    /// are written with Rust's shortest round-tripping form, NaN and infinities by name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn float<T: fmt::Debug>(f: &mut fmt::Formatter<'_>, v: T, nan: bool, negative: bool) -> fmt::Result {
            if nan { f.write_str(if negative { "-nan" } else { "nan" }) } else { write!(f, "{v:?}") }
        }
        match self {
            Literal::F64(b) => {
                let v = f64::from_bits(*b);
                float(f, v, v.is_nan(), v.is_sign_negative())?
            }
            Literal::F32(b) => {
                let v = f32::from_bits(*b);
                float(f, v, v.is_nan(), v.is_sign_negative())?
            }
            Literal::Si64(v) => write!(f, "{v}")?,
            Literal::Si32(v) => write!(f, "{v}")?,
            Literal::Si8(v) => write!(f, "{v}")?,
            Literal::Ui64(v) | Literal::Index(v) => write!(f, "{v}")?,
            Literal::Ui32(v) => write!(f, "{v}")?,
            Literal::Ui8(v) => write!(f, "{v}")?,
            Literal::Bool(v) => write!(f, "{v}")?,
            Literal::Str(s) => write!(f, "{s:?}")?,
        }
        write!(f, ":{}", self.value_type())
    }
}

/// Declares the built-in operations: variant, IR name, and the accepted operand counts.
macro_rules! builtins {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $min:literal..$max:tt; )*) => {
        /// A built-in operation of DaphneDSL, implemented by a runtime kernel.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Builtin {
            $( $(#[$doc])* $variant, )*
        }

        impl Builtin {
            pub const ALL: &'static [Builtin] = &[ $( Builtin::$variant, )* ];

            /// The op's name in the IR text form.
            pub fn name(self) -> &'static str {
                match self { $( Builtin::$variant => $name, )* }
            }

            pub fn from_name(name: &str) -> Option<Builtin> {
                match name { $( $name => Some(Builtin::$variant), )* _ => None }
            }

            /// The smallest and (if bounded) largest number of operands.
            pub fn arity(self) -> (usize, Option<usize>) {
                match self { $( Builtin::$variant => ($min, builtins!(@max $max)), )* }
            }
        }
    };
    (@max _) => { None };
    (@max $n:literal) => { Some($n) };
}

builtins! {
    // Elementwise unary: matrix or scalar in, same shape out.
    EwAbs = "ewAbs", 1..1;
    EwSign = "ewSign", 1..1;
    EwExp = "ewExp", 1..1;
    EwLn = "ewLn", 1..1;
    EwSqrt = "ewSqrt", 1..1;
    EwRound = "ewRound", 1..1;
    EwFloor = "ewFloor", 1..1;
    EwCeil = "ewCeil", 1..1;
    EwSin = "ewSin", 1..1;
    EwCos = "ewCos", 1..1;
    EwTan = "ewTan", 1..1;
    EwSinh = "ewSinh", 1..1;
    EwCosh = "ewCosh", 1..1;
    EwTanh = "ewTanh", 1..1;
    EwAsin = "ewAsin", 1..1;
    EwAcos = "ewAcos", 1..1;
    EwAtan = "ewAtan", 1..1;
    EwIsNan = "ewIsNan", 1..1;
    EwMinus = "ewMinus", 1..1;
    EwNot = "ewNot", 1..1;
    // Elementwise binary, with broadcasting of scalars, rows and columns.
    EwAdd = "ewAdd", 2..2;
    EwSub = "ewSub", 2..2;
    EwMul = "ewMul", 2..2;
    EwDiv = "ewDiv", 2..2;
    EwPow = "ewPow", 2..2;
    EwMod = "ewMod", 2..2;
    EwLog = "ewLog", 2..2;
    EwMin = "ewMin", 2..2;
    EwMax = "ewMax", 2..2;
    EwAnd = "ewAnd", 2..2;
    EwOr = "ewOr", 2..2;
    EwEq = "ewEq", 2..2;
    EwNe = "ewNe", 2..2;
    EwLt = "ewLt", 2..2;
    EwLe = "ewLe", 2..2;
    EwGt = "ewGt", 2..2;
    EwGe = "ewGe", 2..2;
    EwConcat = "ewConcat", 2..2;
    EwLower = "ewLower", 1..1;
    EwUpper = "ewUpper", 1..1;
    // Outer binary: an m x 1 and a 1 x n matrix give m x n.
    OuterAdd = "outerAdd", 2..2;
    OuterSub = "outerSub", 2..2;
    OuterMul = "outerMul", 2..2;
    OuterDiv = "outerDiv", 2..2;
    OuterPow = "outerPow", 2..2;
    OuterMod = "outerMod", 2..2;
    OuterLog = "outerLog", 2..2;
    OuterMin = "outerMin", 2..2;
    OuterMax = "outerMax", 2..2;
    OuterAnd = "outerAnd", 2..2;
    OuterOr = "outerOr", 2..2;
    OuterEq = "outerEq", 2..2;
    OuterNe = "outerNe", 2..2;
    OuterLt = "outerLt", 2..2;
    OuterLe = "outerLe", 2..2;
    OuterGt = "outerGt", 2..2;
    OuterGe = "outerGe", 2..2;
    // Full aggregation to a scalar.
    SumAll = "sumAll", 1..1;
    MinAll = "minAll", 1..1;
    MaxAll = "maxAll", 1..1;
    MeanAll = "meanAll", 1..1;
    VarAll = "varAll", 1..1;
    StddevAll = "stddevAll", 1..1;
    // Row-wise aggregation: n x m to n x 1.
    SumRow = "sumRow", 1..1;
    MinRow = "minRow", 1..1;
    MaxRow = "maxRow", 1..1;
    MeanRow = "meanRow", 1..1;
    VarRow = "varRow", 1..1;
    StddevRow = "stddevRow", 1..1;
    IdxMinRow = "idxMinRow", 1..1;
    IdxMaxRow = "idxMaxRow", 1..1;
    // Column-wise aggregation: n x m to 1 x m.
    SumCol = "sumCol", 1..1;
    MinCol = "minCol", 1..1;
    MaxCol = "maxCol", 1..1;
    MeanCol = "meanCol", 1..1;
    VarCol = "varCol", 1..1;
    StddevCol = "stddevCol", 1..1;
    IdxMinCol = "idxMinCol", 1..1;
    IdxMaxCol = "idxMaxCol", 1..1;
    // Cumulative aggregation down the columns.
    CumSum = "cumSum", 1..1;
    CumProd = "cumProd", 1..1;
    CumMin = "cumMin", 1..1;
    CumMax = "cumMax", 1..1;
    /// `[e0, e1, ...](rows, cols)`: operands are the elements, then rows and cols (index).
    MatrixLiteral = "matrixLiteral", 2.._;
    /// `fill(value, rows, cols)`
    Fill = "fill", 3..3;
    /// `seq(from, to, inc)`, inclusive of `to`.
    Seq = "seq", 3..3;
    /// `rand(rows, cols, min, max, sparsity, seed)`
    Rand = "rand", 6..6;
    DiagMatrix = "diagMatrix", 1..1;
    Nrow = "nrow", 1..1;
    Ncol = "ncol", 1..1;
    Ncell = "ncell", 1..1;
    Transpose = "transpose", 1..1;
    Reshape = "reshape", 3..3;
    Cbind = "cbind", 2..2;
    Rbind = "rbind", 2..2;
    Reverse = "reverse", 1..1;
    /// `lowerTri(X, diag, values)`, `upperTri(X, diag, values)`
    LowerTri = "lowerTri", 3..3;
    UpperTri = "upperTri", 3..3;
    DiagVector = "diagVector", 1..1;
    /// `replace(X, pattern, replacement)`
    Replace = "replace", 3..3;
    IsSymmetric = "isSymmetric", 1..1;
    /// `sample(range, size, withReplacement, seed)`
    Sample = "sample", 4..4;
    /// `typeOf(x)`: DAPHNE's name of the runtime type.
    TypeOf = "typeOf", 1..1;
    MatMul = "matMul", 2..2;
    Solve = "solve", 2..2;
    Syrk = "syrk", 1..1;
    Gemv = "gemv", 2..2;
    /// `X[lo:hi, ]`: operands matrix, lo, hi (index).
    SliceRow = "sliceRow", 3..3;
    SliceCol = "sliceCol", 3..3;
    /// `X[pos, ]` with a matrix of positions.
    ExtractRow = "extractRow", 2..2;
    ExtractCol = "extractCol", 2..2;
    /// `X[[mask, ]]`
    FilterRow = "filterRow", 2..2;
    FilterCol = "filterCol", 2..2;
    /// `X[lo:hi, ] = Y`: operands X, Y, lo, hi; the result is the updated copy of X.
    InsertRow = "insertRow", 4..4;
    InsertCol = "insertCol", 4..4;
    /// `createFrame(col0, col1, ..., label0, label1, ...)`: n x 1 matrices, then as many labels.
    CreateFrame = "createFrame", 0.._;
    /// `setColLabels(frame, label0, label1, ...)`
    SetColLabels = "setColLabels", 1.._;
    /// `setColLabelsPrefix(frame, prefix)`
    SetColLabelsPrefix = "setColLabelsPrefix", 2..2;
    /// `cond ? a : b` with a matrix condition: elementwise choice.
    Cond = "cond", 3..3;
    /// `readMatrix(path, header, sep)`: a CSV file described by `path.meta` or by the type the
    /// compiler inferred from it; `header` (bool) and `sep` (str) are present when not the
    /// defaults (false, ",").
    ReadMatrix = "readMatrix", 1..3;
    /// `readFrame(path)`
    ReadFrame = "readFrame", 1..3;
    /// `write(arg, path)`: a matrix or frame as CSV, with `path.meta`.
    Write = "write", 2..2;
    /// `recode(X, orderPreserving)`: two results, the si64 codes and the dictionary.
    Recode = "recode", 2..2;
    /// `bin(X, numBins, min, max)`
    Bin = "bin", 4..4;
    /// `oneHot(X, info)`
    OneHot = "oneHot", 2..2;
    /// `order(X, colIdx..., asc..., returnIndexes)`: as many column indexes as flags.
    Order = "order", 4.._;
    /// `ctable(ys, xs, weight, numRows, numCols)`: a contingency table; -1 sizes mean "from the
    /// data".
    Ctable = "ctable", 5..5;
    /// `groupSum(frame, groupCol..., sumCol)`
    GroupSum = "groupSum", 3.._;
    /// `innerJoin(lhs, rhs, lhsOn, rhsOn[, numRowRes])`
    InnerJoin = "innerJoin", 4..5;
    /// `semiJoin(lhs, rhs, lhsOn, rhsOn[, numRowRes])`: two results, the matching keys and the
    /// positions of the matching rows of `lhs`.
    SemiJoin = "semiJoin", 4..5;
    /// `cartesian(lhs, rhs)`: every pair of rows.
    Cartesian = "cartesian", 2..2;
    /// `groupJoin(lhs, rhs, lhsOn, rhsOn, rhsAgg)`: two results, the frame of the joined keys
    /// with `SUM(rhsAgg)`, and the positions of those keys' rows in `lhs`.
    GroupJoin = "groupJoin", 5..5;
    /// Set operations on the rows of two frames with the same columns: `intersect`, `merge`
    /// (union) and `except` (difference), each giving distinct rows in first-seen order.
    Intersect = "intersect", 2..2;
    Merge = "merge", 2..2;
    Except = "except", 2..2;
    /// `quantize(X: matrix<f32>, min, max)`: min/max quantization to ui8.
    Quantize = "quantize", 3..3;
    /// `eigen(X)`: two results, the eigenvalues (n x 1) and the eigenvectors (columns) of a
    /// symmetric matrix.
    Eigen = "eigen", 1..1;
    /// `createList(m0, m1, ...)`: a list of matrices of one value type.
    CreateList = "createList", 1.._;
    /// `length(list)`
    Length = "length", 1..1;
    /// `append(list, matrix)`: the list with the matrix at its end.
    Append = "append", 2..2;
    /// `remove(list, idx)`: two results, the list without the element and the element.
    Remove = "remove", 2..2;
    /// `print(arg, newline, toStderr)`
    Print = "print", 3..3;
    /// `stop(message)`
    Stop = "stop", 1..1;
    /// `now()`: nanoseconds since the epoch.
    Now = "now", 0..0;
}

impl Builtin {
    /// How a script writes the op: an operator (`+`, `@`), a built-in function's name (`sum`,
    /// `t`), or the syntax it comes from (`X[..]`). Messages use this, never the IR name.
    pub fn spelling(self) -> &'static str {
        use Builtin as B;
        match self {
            B::EwAdd => "+",
            B::EwSub | B::EwMinus => "-",
            B::EwMul => "*",
            B::EwDiv => "/",
            B::EwPow => "^",
            B::EwMod => "%",
            B::EwAnd => "&&",
            B::EwOr => "||",
            B::EwNot => "!",
            B::EwEq => "==",
            B::EwNe => "!=",
            B::EwLt => "<",
            B::EwLe => "<=",
            B::EwGt => ">",
            B::EwGe => ">=",
            B::MatMul => "@",
            B::EwAbs => "abs",
            B::EwSign => "sign",
            B::EwExp => "exp",
            B::EwLn => "ln",
            B::EwSqrt => "sqrt",
            B::EwRound => "round",
            B::EwFloor => "floor",
            B::EwCeil => "ceil",
            B::EwSin => "sin",
            B::EwCos => "cos",
            B::EwTan => "tan",
            B::EwSinh => "sinh",
            B::EwCosh => "cosh",
            B::EwTanh => "tanh",
            B::EwAsin => "asin",
            B::EwAcos => "acos",
            B::EwAtan => "atan",
            B::EwIsNan => "isNan",
            B::EwLog => "log",
            B::EwMin => "min",
            B::EwMax => "max",
            B::EwConcat => "concat",
            B::EwLower => "lower",
            B::EwUpper => "upper",
            B::OuterNe => "outerNeq",
            B::SumAll | B::SumRow | B::SumCol => "sum",
            B::MinAll | B::MinRow | B::MinCol => "aggMin",
            B::MaxAll | B::MaxRow | B::MaxCol => "aggMax",
            B::MeanAll | B::MeanRow | B::MeanCol => "mean",
            B::VarAll | B::VarRow | B::VarCol => "var",
            B::StddevAll | B::StddevRow | B::StddevCol => "stddev",
            B::IdxMinRow | B::IdxMinCol => "idxMin",
            B::IdxMaxRow | B::IdxMaxCol => "idxMax",
            B::Transpose => "t",
            B::MatrixLiteral => "[...]",
            B::SliceRow | B::SliceCol | B::ExtractRow | B::ExtractCol => "X[...]",
            B::FilterRow | B::FilterCol => "X[[...]]",
            B::InsertRow | B::InsertCol => "X[...] = ...",
            B::Cond => "?:",
            other => other.name(),
        }
    }
}

/// What the user writes ([`Builtin::spelling`]); the IR text form uses [`Builtin::name`].
impl fmt::Display for Builtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spelling())
    }
}

/// What an operation computes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OpKind {
    /// No operands, one result.
    Const(Literal),
    Builtin(Builtin),
    /// Converts its one operand to the result type (`as.f32(x)`, `as.matrix<f32>(X)`, and
    /// the casts the compiler inserts where types are generalized).
    Cast,
    /// Calls a function of the module with the operands; its results are the op's results.
    Call(FuncId),
    /// `map(X, f)`: applies a function of one scalar parameter and one scalar result to every
    /// cell of the operand matrix; the result is a matrix of the same shape.
    Map(FuncId),
    /// Operands: the condition. Regions: then, else; each ends in `Yield` of the results.
    If,
    /// Operands: initial values of the loop-carried variables. Regions: `before` (arguments:
    /// the carried values; ends in `Condition(cond, values...)`) and `after` (arguments: the
    /// values passed by `Condition`; ends in `Yield` of the next carried values). Results:
    /// the values passed by the final `Condition`. As MLIR's `scf.while`.
    While,
    /// Operands: from, to, step, then the initial carried values. Region: the body, with
    /// arguments the induction variable and the carried values, ending in `Yield` of the next
    /// carried values. `to` is inclusive; the step's sign gives the direction.
    For,
    /// Terminator of `If` and `For` regions and of a `While`'s `after` region.
    Yield,
    /// Terminator of a `While`'s `before` region: the condition, then the values for `after`
    /// (or the results when the condition is false).
    Condition,
    /// Terminator of a function body.
    Return,
    /// A fused pipeline: operands are its inputs, one per split mode; one region whose
    /// arguments are the inputs as one partition sees them and whose ops (constants, casts and
    /// pure builtins only) use nothing from outside the region; it ends in `Yield` of one
    /// partial result per output, combined into the op's results by the combine modes.
    /// See `crate::pipeline` for the semantics.
    Pipeline(PipelineSpec),
}

/// How a pipeline hands an input to its partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Split {
    /// Each partition gets a contiguous range of rows (all row-split inputs have the same
    /// number of rows: the pipeline's row count).
    Rows,
    /// Each partition gets the whole value.
    Broadcast,
}

/// How a pipeline combines the per-partition results of an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Combine {
    /// Partials are stacked vertically in partition order.
    Rows,
    /// Partials are placed side by side in partition order.
    Cols,
    /// Partials are added elementwise (in the canonical block order, see `crate::pipeline`).
    Add,
    /// Elementwise minimum of the partials.
    Min,
    /// Elementwise maximum of the partials.
    Max,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Rows => "rows",
            Split::Broadcast => "broadcast",
        }
    }

    pub fn from_name(name: &str) -> Option<Split> {
        [Split::Rows, Split::Broadcast].into_iter().find(|s| s.name() == name)
    }
}

impl Combine {
    pub const ALL: [Combine; 5] = [Combine::Rows, Combine::Cols, Combine::Add, Combine::Min, Combine::Max];

    pub fn name(self) -> &'static str {
        match self {
            Combine::Rows => "rows",
            Combine::Cols => "cols",
            Combine::Add => "add",
            Combine::Min => "min",
            Combine::Max => "max",
        }
    }

    pub fn from_name(name: &str) -> Option<Combine> {
        Combine::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// The modes of a pipeline's inputs and outputs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct PipelineSpec {
    /// One per operand.
    pub splits: Vec<Split>,
    /// One per result.
    pub combines: Vec<Combine>,
}

impl fmt::Display for PipelineSpec {
    /// `[rows, broadcast -> add, rows]`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let splits: Vec<&str> = self.splits.iter().map(|s| s.name()).collect();
        let combines: Vec<&str> = self.combines.iter().map(|c| c.name()).collect();
        write!(f, "[{} -> {}]", splits.join(", "), combines.join(", "))
    }
}

impl OpKind {
    /// Whether the op ends a region.
    pub fn is_terminator(&self) -> bool {
        matches!(self, OpKind::Yield | OpKind::Condition | OpKind::Return)
    }

    /// The name in the text form (without attributes).
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Const(_) => "const",
            OpKind::Builtin(b) => b.name(),
            OpKind::Cast => "cast",
            OpKind::Call(_) => "call",
            OpKind::Map(_) => "map",
            OpKind::If => "if",
            OpKind::While => "while",
            OpKind::For => "for",
            OpKind::Yield => "yield",
            OpKind::Condition => "condition",
            OpKind::Return => "return",
            OpKind::Pipeline(_) => "pipeline",
        }
    }
}

impl Builtin {
    /// Whether the op has no effects and always gives the same results for the same operands
    /// (it may still fail).
    pub fn is_pure(self) -> bool {
        !matches!(
            self,
            Builtin::Print
                | Builtin::Write
                | Builtin::Stop
                | Builtin::ReadMatrix
                | Builtin::ReadFrame
                | Builtin::Rand
                | Builtin::Sample
                | Builtin::Now
        )
    }

    /// A numeric elementwise op of one operand (`ewAbs` ... `ewNot`; not the string ops).
    pub fn is_ew_unary(self) -> bool {
        use Builtin as B;
        matches!(
            self,
            B::EwAbs
                | B::EwSign
                | B::EwExp
                | B::EwLn
                | B::EwSqrt
                | B::EwRound
                | B::EwFloor
                | B::EwCeil
                | B::EwSin
                | B::EwCos
                | B::EwTan
                | B::EwSinh
                | B::EwCosh
                | B::EwTanh
                | B::EwAsin
                | B::EwAcos
                | B::EwAtan
                | B::EwIsNan
                | B::EwMinus
                | B::EwNot
        )
    }

    /// An elementwise op of two operands with broadcasting (`ewAdd` ... `ewGe`; not
    /// `ewConcat`): exactly the elementwise ops that `outer_elementwise` maps to.
    pub fn is_ew_binary(self) -> bool {
        Builtin::ALL.iter().any(|b| b.outer_elementwise() == Some(self))
    }

    /// For an outer operation, the elementwise operation it applies to each pair.
    pub fn outer_elementwise(self) -> Option<Builtin> {
        use Builtin as B;
        Some(match self {
            B::OuterAdd => B::EwAdd,
            B::OuterSub => B::EwSub,
            B::OuterMul => B::EwMul,
            B::OuterDiv => B::EwDiv,
            B::OuterPow => B::EwPow,
            B::OuterMod => B::EwMod,
            B::OuterLog => B::EwLog,
            B::OuterMin => B::EwMin,
            B::OuterMax => B::EwMax,
            B::OuterAnd => B::EwAnd,
            B::OuterOr => B::EwOr,
            B::OuterEq => B::EwEq,
            B::OuterNe => B::EwNe,
            B::OuterLt => B::EwLt,
            B::OuterLe => B::EwLe,
            B::OuterGt => B::EwGt,
            B::OuterGe => B::EwGe,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_names_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &b in Builtin::ALL {
            assert!(seen.insert(b.name()), "duplicate name {}", b.name());
            assert_eq!(Builtin::from_name(b.name()), Some(b));
        }
        assert_eq!(Builtin::from_name("noSuchOp"), None);
    }

    #[test]
    fn literals_print_with_their_type() {
        assert_eq!(Literal::f64(2.5).to_string(), "2.5:f64");
        assert_eq!(Literal::f64(1.0).to_string(), "1.0:f64");
        assert_eq!(Literal::f64(f64::NAN).to_string(), "nan:f64");
        assert_eq!(Literal::Si64(-3).to_string(), "-3:si64");
        assert_eq!(Literal::Str("a\"b".into()).to_string(), "\"a\\\"b\":str");
    }
}
