//! Operations: what an op computes. Structural parts (operands, results, regions) live in
//! `function::Op`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::types::ValueType;

/// The index of a function in its module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FuncId(pub u32);

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

/// Declares the built-in operations: the op table. Each row says everything the compiler and
/// the runtime know about an op apart from its kernel:
///
/// `Variant = "irName" "spelling", min..max, effect, fails, fuse, rule[, doc(...)];`
///
/// - the IR name (text form) and the spelling a script writes (`+`, `sum`, `X[...]`);
/// - the accepted operand counts (`_`: unbounded);
/// - its [`Effect`], and how it can [`Fails`];
/// - how fusion takes it into a pipeline ([`Fuse`]);
/// - its type-and-shape rule ([`Rule`]; `Own` means its own arm in `crate::infer`);
/// - for a built-in function that is this one op, its entry in the reference
///   (`doc(group, function name, summary, example)`), which lowering reads.
///
/// Adding an elementwise op is a row here plus its kernel (`tests/op_table.rs` checks that
/// nothing else names it).
macro_rules! builtins {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal $spelling:literal, $min:literal..$max:tt,
        $effect:ident, $fails:ident, $fuse:expr, $rule:ident
        $(, doc($group:literal, $func:literal, $summary:literal, $example:literal))?; )*) => {
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

            /// How a script writes the op: an operator (`+`, `@`), a built-in function's name
            /// (`sum`, `t`), or the syntax it comes from (`X[..]`). Messages use this, never
            /// the IR name.
            pub fn spelling(self) -> &'static str {
                match self { $( Builtin::$variant => $spelling, )* }
            }

            /// The smallest and (if bounded) largest number of operands.
            pub fn arity(self) -> (usize, Option<usize>) {
                match self { $( Builtin::$variant => ($min, builtins!(@max $max)), )* }
            }

            /// What the op does besides computing its results.
            pub fn effect(self) -> Effect {
                match self { $( Builtin::$variant => Effect::$effect, )* }
            }

            /// How the op can fail at run time.
            pub fn fails(self) -> Fails {
                match self { $( Builtin::$variant => Fails::$fails, )* }
            }

            /// How fusion takes the op into a pipeline.
            pub fn fuse(self) -> Fuse {
                use {Axis as Ax, Builtin as B, Fuse as F, Reduce as R};
                match self { $( Builtin::$variant => $fuse, )* }
            }

            /// The op's type-and-shape rule (applied by `crate::infer::infer`).
            pub fn rule(self) -> Rule {
                match self { $( Builtin::$variant => Rule::$rule, )* }
            }

            /// The reference entry of the built-in function that is exactly this op, if the
            /// table holds it (lowering adds these to its own table of built-ins).
            pub fn function(self) -> Option<FunctionDoc> {
                match self { $( Builtin::$variant => builtins!(@doc $($group, $func, $summary, $example)?), )* }
            }
        }
    };
    (@max _) => { None };
    (@max $n:literal) => { Some($n) };
    (@doc) => { None };
    (@doc $group:literal, $func:literal, $summary:literal, $example:literal) => {
        Some(FunctionDoc { group: $group, name: $func, summary: $summary, example: $example })
    };
}

/// What an op does besides computing its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing: the same operands always give the same results.
    Pure,
    /// It reads state outside its operands (files, the clock, a random generator), so two
    /// calls may differ; it changes nothing.
    Reads,
    /// It changes the world (prints, writes a file, stops the script).
    Writes,
}

/// How an op can fail at run time, on operands the verifier accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fails {
    /// Never (dead-code elimination may drop it when its results are unused).
    Never,
    /// When its operands do not fit (shapes, sizes, positions, types of cells, values);
    /// fusion proves the shapes of the ops it fuses, which leaves nothing to fail.
    Operands,
    /// As `Operands`, and with integer cells on a zero divisor.
    IntegerZero,
    /// As `Operands`, and on a cell outside DAPHNE's domain checks (`sqrt` of a negative).
    Domain,
}

/// The dimension an aggregation reduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// All cells to one scalar.
    Full,
    /// Each row to one cell: n x m to n x 1.
    Rows,
    /// Each column to one cell: n x m to 1 x m.
    Cols,
}

/// What an aggregation computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    Sum,
    Min,
    Max,
    Mean,
    Var,
    Stddev,
    IdxMin,
    IdxMax,
}

impl Reduce {
    /// How partial results over blocks of rows combine, when they can be combined at all.
    pub fn combine(self) -> Option<Combine> {
        match self {
            Reduce::Sum => Some(Combine::Add),
            Reduce::Min => Some(Combine::Min),
            Reduce::Max => Some(Combine::Max),
            _ => None,
        }
    }
}

/// How fusion (`passes::fuse_pipelines`) takes an op into a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fuse {
    /// Never fused.
    None,
    /// A numeric elementwise op of one operand.
    EwUnary,
    /// A numeric elementwise op of two operands, with broadcasting.
    EwBinary,
    /// The outer form (m x 1 by 1 x n) of this elementwise binary op; not fused.
    Outer(Builtin),
    /// `cond ? a : b` on matrices: cell by cell.
    Cond,
    /// An aggregation: fused by rows when it reduces each row, combined by the reduction's
    /// [`Reduce::combine`] over blocks when it reduces all cells or each column.
    Agg(Axis, Reduce),
    /// `t(X)`: combined by columns.
    Transpose,
    /// `X @ W` with `W` whole: by rows.
    MatMul,
    /// `cbind` of two row-laid values.
    Cbind,
    /// `t(X) @ X` and `t(X) @ Y`: added up over the blocks.
    Gram,
    /// `ctable(ys, xs, ...)` of two columns by rows: each block's table of its rows, added up
    /// over the blocks (when the sizes are given and the sums are exact in any order).
    Table,
}

/// The type-and-shape rule of an op, applied by `crate::infer::infer`. Elementwise results
/// are matrices of the matrix operand's shape when any operand is a matrix, else scalars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Elementwise, the operand's value type (`abs`, `-`, `round`).
    EwKeep,
    /// Elementwise, a float (non-floats become f64: `sqrt`, `exp`).
    EwFloat,
    /// Elementwise of two, the most general value type; strings are an error.
    Arith,
    /// As `Arith`, strings allowed (`+` concatenates, `min`, `max`).
    ArithStr,
    /// Elementwise of two, a float of the most general value type (`log`).
    EwFloat2,
    /// Elementwise of two, an integer (non-integers become ui64: `&&`, `||`).
    Logical,
    /// A comparison: the most general value type (strings compare to si64).
    Compare,
    /// The outer form of an elementwise op ([`Fuse::Outer`]): rows of the left, columns of
    /// the right operand, the value type the elementwise op gives.
    Outer,
    /// An aggregation ([`Fuse::Agg`]): sums, minima and maxima keep the value type, means,
    /// variances and deviations are floats, positions are `index`.
    Agg,
    /// Its own arm in `crate::infer::infer`.
    Own,
}

/// A built-in function of the reference that is one op (see [`Builtin::function`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionDoc {
    /// The reference's section.
    pub group: &'static str,
    /// The name a script calls.
    pub name: &'static str,
    pub summary: &'static str,
    /// A complete script that uses it (compiled by a test).
    pub example: &'static str,
}

builtins! {
    // Elementwise unary: matrix or scalar in, same shape out.
    EwAbs = "ewAbs" "abs", 1..1, Pure, Operands, F::EwUnary, EwKeep,
        doc("Elementwise unary", "abs", "the absolute value, cell by cell", "print(abs([-1.5, 2.0]));");
    EwSign = "ewSign" "sign", 1..1, Pure, Operands, F::EwUnary, EwKeep,
        doc("Elementwise unary", "sign", "-1, 0 or 1 by the sign, cell by cell", "print(sign([-3, 0, 5]));");
    EwExp = "ewExp" "exp", 1..1, Pure, Operands, F::EwUnary, EwFloat,
        doc("Elementwise unary", "exp", "e to the power of each cell", "print(exp(1.0));");
    EwLn = "ewLn" "ln", 1..1, Pure, Domain, F::EwUnary, EwFloat,
        doc("Elementwise unary", "ln", "the natural logarithm, cell by cell", "print(ln(2.718281828));");
    EwSqrt = "ewSqrt" "sqrt", 1..1, Pure, Domain, F::EwUnary, EwFloat,
        doc("Elementwise unary", "sqrt", "the square root, cell by cell", "print(sqrt([4.0, 9.0]));");
    EwRound = "ewRound" "round", 1..1, Pure, Operands, F::EwUnary, EwKeep,
        doc("Elementwise unary", "round", "rounds to the nearest integer (halves away from zero), cell by cell", "print(round([1.5, -2.5]));");
    EwFloor = "ewFloor" "floor", 1..1, Pure, Operands, F::EwUnary, EwKeep,
        doc("Elementwise unary", "floor", "rounds down, cell by cell", "print(floor(2.7));");
    EwCeil = "ewCeil" "ceil", 1..1, Pure, Operands, F::EwUnary, EwKeep,
        doc("Elementwise unary", "ceil", "rounds up, cell by cell", "print(ceil(2.2));");
    EwSin = "ewSin" "sin", 1..1, Pure, Operands, F::EwUnary, EwFloat,
        doc("Elementwise unary", "sin", "the sine (radians), cell by cell", "print(sin(0.5));");
    EwCos = "ewCos" "cos", 1..1, Pure, Operands, F::EwUnary, EwFloat,
        doc("Elementwise unary", "cos", "the cosine (radians), cell by cell", "print(cos(0.5));");
    EwTan = "ewTan" "tan", 1..1, Pure, Operands, F::EwUnary, EwFloat,
        doc("Elementwise unary", "tan", "the tangent (radians), cell by cell", "print(tan(0.5));");
    EwSinh = "ewSinh" "sinh", 1..1, Pure, Operands, F::EwUnary, EwFloat,
        doc("Elementwise unary", "sinh", "the hyperbolic sine, cell by cell", "print(sinh(0.5));");
    EwCosh = "ewCosh" "cosh", 1..1, Pure, Operands, F::EwUnary, EwFloat,
        doc("Elementwise unary", "cosh", "the hyperbolic cosine, cell by cell", "print(cosh(0.5));");
    EwTanh = "ewTanh" "tanh", 1..1, Pure, Operands, F::EwUnary, EwFloat,
        doc("Elementwise unary", "tanh", "the hyperbolic tangent, cell by cell", "print(tanh(0.5));");
    EwAsin = "ewAsin" "asin", 1..1, Pure, Domain, F::EwUnary, EwFloat,
        doc("Elementwise unary", "asin", "the arc sine, cell by cell", "print(asin(0.5));");
    EwAcos = "ewAcos" "acos", 1..1, Pure, Domain, F::EwUnary, EwFloat,
        doc("Elementwise unary", "acos", "the arc cosine, cell by cell", "print(acos(0.5));");
    EwAtan = "ewAtan" "atan", 1..1, Pure, Operands, F::EwUnary, EwFloat,
        doc("Elementwise unary", "atan", "the arc tangent, cell by cell", "print(atan(0.5));");
    EwIsNan = "ewIsNan" "isNan", 1..1, Pure, Operands, F::EwUnary, EwKeep,
        doc("Elementwise unary", "isNan", "1 where a cell is NaN, else 0", "print(isNan([1.0, nan]));");
    EwMinus = "ewMinus" "-", 1..1, Pure, Operands, F::EwUnary, EwKeep,
        doc("Elementwise unary", "minus", "the negation, cell by cell (as unary `-`)", "print(minus([1, -2]));");
    EwNot = "ewNot" "!", 1..1, Pure, Operands, F::EwUnary, EwKeep;
    // Elementwise binary, with broadcasting of scalars, rows and columns.
    EwAdd = "ewAdd" "+", 2..2, Pure, Operands, F::EwBinary, ArithStr;
    EwSub = "ewSub" "-", 2..2, Pure, Operands, F::EwBinary, Arith;
    EwMul = "ewMul" "*", 2..2, Pure, Operands, F::EwBinary, Arith;
    EwDiv = "ewDiv" "/", 2..2, Pure, IntegerZero, F::EwBinary, Arith;
    EwPow = "ewPow" "^", 2..2, Pure, Operands, F::EwBinary, Arith;
    EwMod = "ewMod" "%", 2..2, Pure, IntegerZero, F::EwBinary, Arith;
    EwLog = "ewLog" "log", 2..2, Pure, Operands, F::EwBinary, EwFloat2;
    EwMin = "ewMin" "min", 2..2, Pure, Operands, F::EwBinary, ArithStr;
    EwMax = "ewMax" "max", 2..2, Pure, Operands, F::EwBinary, ArithStr;
    EwAnd = "ewAnd" "&&", 2..2, Pure, Operands, F::EwBinary, Logical;
    EwOr = "ewOr" "||", 2..2, Pure, Operands, F::EwBinary, Logical;
    EwEq = "ewEq" "==", 2..2, Pure, Operands, F::EwBinary, Compare;
    EwNe = "ewNe" "!=", 2..2, Pure, Operands, F::EwBinary, Compare;
    EwLt = "ewLt" "<", 2..2, Pure, Operands, F::EwBinary, Compare;
    EwLe = "ewLe" "<=", 2..2, Pure, Operands, F::EwBinary, Compare;
    EwGt = "ewGt" ">", 2..2, Pure, Operands, F::EwBinary, Compare;
    EwGe = "ewGe" ">=", 2..2, Pure, Operands, F::EwBinary, Compare;
    EwConcat = "ewConcat" "concat", 2..2, Pure, Operands, F::None, Own;
    EwLower = "ewLower" "lower", 1..1, Pure, Operands, F::None, Own,
        doc("Elementwise unary", "lower", "a string in lower case", "print(lower(\"DaphneDSL\"));");
    EwUpper = "ewUpper" "upper", 1..1, Pure, Operands, F::None, Own,
        doc("Elementwise unary", "upper", "a string in upper case", "print(upper(\"DaphneDSL\"));");
    /// SQL's `x LIKE pattern` on strings (a string or a matrix of strings, and a string): 1
    /// where the whole string matches (`%` any run of characters, `_` one character), else 0.
    EwLike = "ewLike" "x LIKE pattern", 2..2, Pure, Operands, F::None, Own;
    // Outer binary: an m x 1 and a 1 x n matrix give m x n.
    OuterAdd = "outerAdd" "outerAdd", 2..2, Pure, Operands, F::Outer(B::EwAdd), Outer;
    OuterSub = "outerSub" "outerSub", 2..2, Pure, Operands, F::Outer(B::EwSub), Outer;
    OuterMul = "outerMul" "outerMul", 2..2, Pure, Operands, F::Outer(B::EwMul), Outer;
    OuterDiv = "outerDiv" "outerDiv", 2..2, Pure, Operands, F::Outer(B::EwDiv), Outer;
    OuterPow = "outerPow" "outerPow", 2..2, Pure, Operands, F::Outer(B::EwPow), Outer;
    OuterMod = "outerMod" "outerMod", 2..2, Pure, Operands, F::Outer(B::EwMod), Outer;
    OuterLog = "outerLog" "outerLog", 2..2, Pure, Operands, F::Outer(B::EwLog), Outer;
    OuterMin = "outerMin" "outerMin", 2..2, Pure, Operands, F::Outer(B::EwMin), Outer;
    OuterMax = "outerMax" "outerMax", 2..2, Pure, Operands, F::Outer(B::EwMax), Outer;
    OuterAnd = "outerAnd" "outerAnd", 2..2, Pure, Operands, F::Outer(B::EwAnd), Outer;
    OuterOr = "outerOr" "outerOr", 2..2, Pure, Operands, F::Outer(B::EwOr), Outer;
    OuterEq = "outerEq" "outerEq", 2..2, Pure, Operands, F::Outer(B::EwEq), Outer;
    OuterNe = "outerNe" "outerNeq", 2..2, Pure, Operands, F::Outer(B::EwNe), Outer;
    OuterLt = "outerLt" "outerLt", 2..2, Pure, Operands, F::Outer(B::EwLt), Outer;
    OuterLe = "outerLe" "outerLe", 2..2, Pure, Operands, F::Outer(B::EwLe), Outer;
    OuterGt = "outerGt" "outerGt", 2..2, Pure, Operands, F::Outer(B::EwGt), Outer;
    OuterGe = "outerGe" "outerGe", 2..2, Pure, Operands, F::Outer(B::EwGe), Outer;
    // Full aggregation to a scalar.
    SumAll = "sumAll" "sum", 1..1, Pure, Operands, F::Agg(Ax::Full, R::Sum), Agg;
    MinAll = "minAll" "aggMin", 1..1, Pure, Operands, F::Agg(Ax::Full, R::Min), Agg;
    MaxAll = "maxAll" "aggMax", 1..1, Pure, Operands, F::Agg(Ax::Full, R::Max), Agg;
    MeanAll = "meanAll" "mean", 1..1, Pure, Operands, F::Agg(Ax::Full, R::Mean), Agg;
    VarAll = "varAll" "var", 1..1, Pure, Operands, F::Agg(Ax::Full, R::Var), Agg;
    StddevAll = "stddevAll" "stddev", 1..1, Pure, Operands, F::Agg(Ax::Full, R::Stddev), Agg;
    // Row-wise aggregation: n x m to n x 1.
    SumRow = "sumRow" "sum", 1..1, Pure, Operands, F::Agg(Ax::Rows, R::Sum), Agg;
    MinRow = "minRow" "aggMin", 1..1, Pure, Operands, F::Agg(Ax::Rows, R::Min), Agg;
    MaxRow = "maxRow" "aggMax", 1..1, Pure, Operands, F::Agg(Ax::Rows, R::Max), Agg;
    MeanRow = "meanRow" "mean", 1..1, Pure, Operands, F::Agg(Ax::Rows, R::Mean), Agg;
    VarRow = "varRow" "var", 1..1, Pure, Operands, F::Agg(Ax::Rows, R::Var), Agg;
    StddevRow = "stddevRow" "stddev", 1..1, Pure, Operands, F::Agg(Ax::Rows, R::Stddev), Agg;
    IdxMinRow = "idxMinRow" "idxMin", 1..1, Pure, Operands, F::Agg(Ax::Rows, R::IdxMin), Agg;
    IdxMaxRow = "idxMaxRow" "idxMax", 1..1, Pure, Operands, F::Agg(Ax::Rows, R::IdxMax), Agg;
    // Column-wise aggregation: n x m to 1 x m.
    SumCol = "sumCol" "sum", 1..1, Pure, Operands, F::Agg(Ax::Cols, R::Sum), Agg;
    MinCol = "minCol" "aggMin", 1..1, Pure, Operands, F::Agg(Ax::Cols, R::Min), Agg;
    MaxCol = "maxCol" "aggMax", 1..1, Pure, Operands, F::Agg(Ax::Cols, R::Max), Agg;
    MeanCol = "meanCol" "mean", 1..1, Pure, Operands, F::Agg(Ax::Cols, R::Mean), Agg;
    VarCol = "varCol" "var", 1..1, Pure, Operands, F::Agg(Ax::Cols, R::Var), Agg;
    StddevCol = "stddevCol" "stddev", 1..1, Pure, Operands, F::Agg(Ax::Cols, R::Stddev), Agg;
    IdxMinCol = "idxMinCol" "idxMin", 1..1, Pure, Operands, F::Agg(Ax::Cols, R::IdxMin), Agg;
    IdxMaxCol = "idxMaxCol" "idxMax", 1..1, Pure, Operands, F::Agg(Ax::Cols, R::IdxMax), Agg;
    // Cumulative aggregation down the columns.
    CumSum = "cumSum" "cumSum", 1..1, Pure, Operands, F::None, Own;
    CumProd = "cumProd" "cumProd", 1..1, Pure, Operands, F::None, Own;
    CumMin = "cumMin" "cumMin", 1..1, Pure, Operands, F::None, Own;
    CumMax = "cumMax" "cumMax", 1..1, Pure, Operands, F::None, Own;
    /// `[e0, e1, ...](rows, cols)`: operands are the elements, then rows and cols (index).
    MatrixLiteral = "matrixLiteral" "[...]", 2.._, Pure, Operands, F::None, Own;
    /// `fill(value, rows, cols)`
    Fill = "fill" "fill", 3..3, Pure, Operands, F::None, Own;
    /// `seq(from, to, inc)`, inclusive of `to`.
    Seq = "seq" "seq", 3..3, Pure, Operands, F::None, Own;
    /// `rand(rows, cols, min, max, sparsity, seed)`
    Rand = "rand" "rand", 6..6, Reads, Operands, F::None, Own;
    DiagMatrix = "diagMatrix" "diagMatrix", 1..1, Pure, Operands, F::None, Own;
    Nrow = "nrow" "nrow", 1..1, Pure, Never, F::None, Own;
    Ncol = "ncol" "ncol", 1..1, Pure, Never, F::None, Own;
    Ncell = "ncell" "ncell", 1..1, Pure, Never, F::None, Own;
    Transpose = "transpose" "t", 1..1, Pure, Never, F::Transpose, Own;
    Reshape = "reshape" "reshape", 3..3, Pure, Operands, F::None, Own;
    Cbind = "cbind" "cbind", 2..2, Pure, Operands, F::Cbind, Own;
    Rbind = "rbind" "rbind", 2..2, Pure, Operands, F::None, Own;
    Reverse = "reverse" "reverse", 1..1, Pure, Operands, F::None, Own;
    /// `lowerTri(X, diag, values)`, `upperTri(X, diag, values)`
    LowerTri = "lowerTri" "lowerTri", 3..3, Pure, Operands, F::None, Own;
    UpperTri = "upperTri" "upperTri", 3..3, Pure, Operands, F::None, Own;
    DiagVector = "diagVector" "diagVector", 1..1, Pure, Operands, F::None, Own;
    /// `replace(X, pattern, replacement)`
    Replace = "replace" "replace", 3..3, Pure, Operands, F::None, Own;
    IsSymmetric = "isSymmetric" "isSymmetric", 1..1, Pure, Operands, F::None, Own;
    /// `sample(range, size, withReplacement, seed)`
    Sample = "sample" "sample", 4..4, Reads, Operands, F::None, Own;
    /// `typeOf(x)`: DAPHNE's name of the runtime type.
    TypeOf = "typeOf" "typeOf", 1..1, Pure, Operands, F::None, Own;
    MatMul = "matMul" "@", 2..2, Pure, Operands, F::MatMul, Own;
    Solve = "solve" "solve", 2..2, Pure, Operands, F::None, Own;
    Syrk = "syrk" "syrk", 1..1, Pure, Operands, F::Gram, Own;
    Gemv = "gemv" "gemv", 2..2, Pure, Operands, F::Gram, Own;
    /// `X[lo:hi, ]`: operands matrix, lo, hi (index).
    SliceRow = "sliceRow" "X[...]", 3..3, Pure, Operands, F::None, Own;
    SliceCol = "sliceCol" "X[...]", 3..3, Pure, Operands, F::None, Own;
    /// `X[pos, ]` with a matrix of positions.
    ExtractRow = "extractRow" "X[...]", 2..2, Pure, Operands, F::None, Own;
    ExtractCol = "extractCol" "X[...]", 2..2, Pure, Operands, F::None, Own;
    /// `X[[mask, ]]`
    FilterRow = "filterRow" "X[[...]]", 2..2, Pure, Operands, F::None, Own;
    FilterCol = "filterCol" "X[[...]]", 2..2, Pure, Operands, F::None, Own;
    /// `X[lo:hi, ] = Y`: operands X, Y, lo, hi; the result is the updated copy of X.
    InsertRow = "insertRow" "X[...] = ...", 4..4, Pure, Operands, F::None, Own;
    InsertCol = "insertCol" "X[...] = ...", 4..4, Pure, Operands, F::None, Own;
    /// `createFrame(col0, col1, ..., label0, label1, ...)`: n x 1 matrices, then as many labels.
    CreateFrame = "createFrame" "createFrame", 0.._, Pure, Operands, F::None, Own;
    /// `setColLabels(frame, label0, label1, ...)`
    SetColLabels = "setColLabels" "setColLabels", 1.._, Pure, Operands, F::None, Own;
    /// `setColLabelsPrefix(frame, prefix)`
    SetColLabelsPrefix = "setColLabelsPrefix" "setColLabelsPrefix", 2..2, Pure, Operands, F::None, Own;
    /// `cond ? a : b` with a matrix condition: elementwise choice.
    Cond = "cond" "?:", 3..3, Pure, Operands, F::Cond, Own;
    /// `readMatrix(path, header, sep)`: a CSV file described by `path.meta` or by the type the
    /// compiler inferred from it; `header` (bool) and `sep` (str) are present when not the
    /// defaults (false, ",").
    ReadMatrix = "readMatrix" "readMatrix", 1..3, Reads, Operands, F::None, Own;
    /// `readFrame(path)`
    ReadFrame = "readFrame" "readFrame", 1..3, Reads, Operands, F::None, Own;
    /// `write(arg, path)`: a matrix or frame as CSV, with `path.meta`.
    Write = "write" "write", 2..2, Writes, Operands, F::None, Own;
    /// `recode(X, orderPreserving)`: two results, the si64 codes and the dictionary.
    Recode = "recode" "recode", 2..2, Pure, Operands, F::None, Own;
    /// `bin(X, numBins, min, max)`
    Bin = "bin" "bin", 4..4, Pure, Operands, F::None, Own;
    /// `oneHot(X, info)`
    OneHot = "oneHot" "oneHot", 2..2, Pure, Operands, F::None, Own;
    /// `order(X, colIdx..., asc..., returnIndexes)`: as many column indexes as flags.
    Order = "order" "order", 4.._, Pure, Operands, F::None, Own;
    /// `ctable(ys, xs, weight, numRows, numCols)`: a contingency table; -1 sizes mean "from the
    /// data".
    Ctable = "ctable" "ctable", 5..5, Pure, Operands, F::Table, Own;
    /// `groupSum(frame, groupCol..., sumCol)`
    GroupSum = "groupSum" "groupSum", 3.._, Pure, Operands, F::None, Own;
    /// `innerJoin(lhs, rhs, lhsOn, rhsOn[, numRowRes])`
    InnerJoin = "innerJoin" "innerJoin", 4..5, Pure, Operands, F::None, Own;
    /// `semiJoin(lhs, rhs, lhsOn, rhsOn[, numRowRes])`: two results, the matching keys and the
    /// positions of the matching rows of `lhs`.
    SemiJoin = "semiJoin" "semiJoin", 4..5, Pure, Operands, F::None, Own;
    /// `leftJoin(lhs, rhs, lhsOn..., rhsOn...)`: SQL's `LEFT JOIN` on equal keys (as many
    /// labels of `lhs` as of `rhs`), a hash join: two results, the frame of each `lhs` row with
    /// its matches in `rhs` order, or once with the columns of `rhs` missing (their value types
    /// become [`crate::infer::missing_type`]), and the n x 1 si64 mask of the rows that matched.
    LeftJoin = "leftJoin" "LEFT JOIN", 4.._, Pure, Operands, F::None, Own;
    /// `cartesian(lhs, rhs)`: every pair of rows.
    Cartesian = "cartesian" "cartesian", 2..2, Pure, Operands, F::None, Own;
    /// `groupJoin(lhs, rhs, lhsOn, rhsOn, rhsAgg)`: two results, the frame of the joined keys
    /// with `SUM(rhsAgg)`, and the positions of those keys' rows in `lhs`.
    GroupJoin = "groupJoin" "groupJoin", 5..5, Pure, Operands, F::None, Own;
    /// `groupAggregate(frame, numKeys, key..., (function, column, label)...)`: SQL's `GROUP BY`
    /// and `DISTINCT` (a hash aggregation): one row per distinct key, in ascending key order,
    /// with the key columns and each aggregate (`crate::infer::AGGREGATES`) of a column under
    /// its label; no keys: one row over all rows.
    GroupAggregate = "groupAggregate" "GROUP BY", 2.._, Pure, Operands, F::None, Own;
    /// Set operations on the rows of two frames with the same columns: `intersect`, `merge`
    /// (union) and `except` (difference), each giving distinct rows in first-seen order.
    Intersect = "intersect" "intersect", 2..2, Pure, Operands, F::None, Own;
    Merge = "merge" "merge", 2..2, Pure, Operands, F::None, Own;
    Except = "except" "except", 2..2, Pure, Operands, F::None, Own;
    /// `quantize(X: matrix<f32>, min, max)`: min/max quantization to ui8.
    Quantize = "quantize" "quantize", 3..3, Pure, Operands, F::None, Own;
    /// `eigen(X)`: two results, the eigenvalues (n x 1) and the eigenvectors (columns) of a
    /// symmetric matrix.
    Eigen = "eigen" "eigen", 1..1, Pure, Operands, F::None, Own;
    /// `createList(m0, m1, ...)`: a list of matrices of one value type.
    CreateList = "createList" "createList", 1.._, Pure, Operands, F::None, Own;
    /// `length(list)`
    Length = "length" "length", 1..1, Pure, Operands, F::None, Own;
    /// `append(list, matrix)`: the list with the matrix at its end.
    Append = "append" "append", 2..2, Pure, Operands, F::None, Own;
    /// `remove(list, idx)`: two results, the list without the element and the element.
    Remove = "remove" "remove", 2..2, Pure, Operands, F::None, Own;
    /// `print(arg, newline, toStderr)`
    Print = "print" "print", 3..3, Writes, Operands, F::None, Own;
    /// `stop(message)`
    Stop = "stop" "stop", 1..1, Writes, Operands, F::None, Own;
    /// `now()`: nanoseconds since the epoch.
    Now = "now" "now", 0..0, Reads, Never, F::None, Own;
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
        self.effect() == Effect::Pure
    }

    /// A numeric elementwise op of one operand (`ewAbs` ... `ewNot`; not the string ops).
    pub fn is_ew_unary(self) -> bool {
        self.fuse() == Fuse::EwUnary
    }

    /// An elementwise op of two operands with broadcasting (`ewAdd` ... `ewGe`; not
    /// `ewConcat`).
    pub fn is_ew_binary(self) -> bool {
        self.fuse() == Fuse::EwBinary
    }

    /// For an outer operation, the elementwise operation it applies to each pair.
    pub fn outer_elementwise(self) -> Option<Builtin> {
        match self.fuse() {
            Fuse::Outer(ew) => Some(ew),
            _ => None,
        }
    }

    /// The elementwise op of one operand a prefix operator denotes (`-x`, `!x`): the one the
    /// table spells so.
    pub fn prefix(operator: &str) -> Option<Builtin> {
        Builtin::ALL.iter().copied().find(|b| b.is_ew_unary() && b.spelling() == operator)
    }

    /// For an aggregation, the axis it reduces and what it computes.
    pub fn aggregation(self) -> Option<(Axis, Reduce)> {
        match self.fuse() {
            Fuse::Agg(axis, reduce) => Some((axis, reduce)),
            _ => None,
        }
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
    fn the_outer_ops_map_onto_exactly_the_elementwise_binary_ops() {
        let mut mapped: Vec<Builtin> = Builtin::ALL.iter().filter_map(|b| b.outer_elementwise()).collect();
        mapped.sort();
        let binary: Vec<Builtin> = Builtin::ALL.iter().copied().filter(|b| b.is_ew_binary()).collect();
        assert_eq!(mapped, binary);
        for &b in Builtin::ALL {
            assert_eq!(b.outer_elementwise().is_some(), b.rule() == Rule::Outer, "{}", b.name());
            assert_eq!(b.aggregation().is_some(), b.rule() == Rule::Agg, "{}", b.name());
        }
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
