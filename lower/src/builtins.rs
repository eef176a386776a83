//! Calls of built-in functions: argument matching (positional, then named) against each
//! built-in's parameter list, defaults, and the op each call becomes.

use std::sync::LazyLock;

use daphne_frontend::Span;
use daphne_frontend::ast::Arg;
use daphne_ir::{Builtin, ColumnType, FrameType, Literal, MatrixType, OpKind, Type, Value, ValueType, count};

use daphne_ir::infer::Operand;

use crate::context::{LowerError, Lowerer, ReadRequest, Result, compile_error, parse_error};

/// How a call of a built-in becomes IR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lowering {
    /// One op of the first argument.
    Unary(Builtin),
    /// One op of the two arguments.
    Binary(Builtin),
    /// The full, per-row and per-column op, chosen by the optional axis.
    Aggregation(Builtin, Builtin, Builtin),
    /// One op of any number (at least `required`) of positional arguments.
    Variadic(Builtin),
    /// `map(X, f)`: its second argument names a function.
    Map,
    /// Its own arm in [`Lowerer::call_builtin`].
    Own,
}

/// A built-in function: its parameters (as DAPHNE's DaphneDSLBuiltins.cpp names them), how
/// many are required, how it is lowered, and its documentation. This table is the one list of
/// the built-ins: lowering, the "did you mean" suggestions, `daphnec --builtins` and
/// `docs/builtins.md` all read it.
#[derive(Debug, Clone)]
pub struct BuiltinDef {
    pub name: &'static str,
    /// Parameter names; for a variadic built-in, names ending in `...` stand for any number.
    pub params: &'static [&'static str],
    /// How many leading parameters must be given (for a variadic one: how many arguments).
    pub required: usize,
    lowering: Lowering,
    /// What it does, in one line.
    pub summary: &'static str,
    /// A complete script that uses it (compiled by a test).
    pub example: &'static str,
}

impl BuiltinDef {
    /// Whether it takes any number of positional arguments (and no named ones).
    pub fn variadic(&self) -> bool {
        matches!(self.lowering, Lowering::Variadic(_))
    }

    /// The signature as the reference shows it: `seq(from, to[, inc])`, optional parameters in
    /// brackets, `...` after a parameter that repeats.
    pub fn signature(&self) -> String {
        let mut s = format!("{}(", self.name);
        if self.variadic() {
            s.push_str(&self.params.join(", "));
        } else {
            s.push_str(&self.params[..self.required].join(", "));
            for (i, p) in self.params[self.required..].iter().enumerate() {
                s.push_str(if i == 0 && self.required == 0 { "[" } else { "[, " });
                s.push_str(p);
            }
            s.push_str(&"]".repeat(self.params.len() - self.required));
        }
        s.push(')');
        s
    }
}

const fn def(
    name: &'static str,
    params: &'static [&'static str],
    required: usize,
    lowering: Lowering,
    summary: &'static str,
    example: &'static str,
) -> BuiltinDef {
    BuiltinDef { name, params, required, lowering, summary, example }
}

use Builtin as B;
use Lowering::{Aggregation as Agg, Binary as Bin, Own, Unary as Un, Variadic as Var};

const ARG: &[&str] = &["arg"];
const LHS_RHS: &[&str] = &["lhs", "rhs"];
const AGG: &[&str] = &["arg", "axisOrGroups"];
const READ: &[&str] = &["filename", "header", "sep", "valueType"];

/// Every built-in function, in groups as DAPHNE's Builtins.md has them: the rows of `OWN`
/// and, after them in each group, the built-ins the op table describes as one op each.
pub static BUILTINS: LazyLock<Vec<(&'static str, Vec<BuiltinDef>)>> = LazyLock::new(|| {
    OWN.iter()
        .map(|&(group, defs)| {
            let mut all = defs.to_vec();
            let in_group = |op: &&Builtin| op.function().is_some_and(|d| d.group == group);
            all.extend(Builtin::ALL.iter().filter(in_group).filter_map(|&op| from_op_table(op)));
            (group, all)
        })
        .collect()
});

/// The entry of a built-in that the op table describes (`Builtin::function`): its arguments
/// are the op's operands.
fn from_op_table(op: Builtin) -> Option<BuiltinDef> {
    let doc = op.function()?;
    let (params, lowering) = match op.arity() {
        (1, Some(1)) => (ARG, Un(op)),
        (2, Some(2)) => (LHS_RHS, Bin(op)),
        _ => return None,
    };
    Some(def(doc.name, params, params.len(), lowering, doc.summary, doc.example))
}

/// The built-ins lowering describes itself, by group.
#[rustfmt::skip]
static OWN: &[(&str, &[BuiltinDef])] = &[
    ("Data generation", &[
        def("fill", &["value", "numRows", "numCols"], 3, Own, "a numRows x numCols matrix with every cell `value`", "X = fill(0.0, 2, 3);\nprint(X);"),
        def("rand", &["numRows", "numCols", "min", "max", "sparsity", "seed"], 6, Own, "a random matrix, values uniform in [min, max], a fraction `sparsity` non-zero; seed -1 picks one", "X = rand(2, 3, 0.0, 1.0, 1.0, 42);\nprint(X);"),
        def("sample", &["range", "size", "withReplacement", "seed"], 4, Own, "a size x 1 matrix of values drawn from [0, range - 1]", "print(sample(10, 3, false, 7));"),
        def("seq", &["from", "to", "inc"], 2, Own, "the column from, from + inc, ... up to `to` (inclusive); inc defaults to 1", "print(seq(1, 9, 2));"),
        def("diagMatrix", ARG, 1, Un(B::DiagMatrix), "the square matrix with the n x 1 `arg` on its diagonal", "print(diagMatrix([1.0, 2.0]));"),
        def("createFrame", &["column...", "label..."], 1, Var(B::CreateFrame), "a frame of n x 1 matrices as columns, optionally followed by as many labels", "F = createFrame([1, 2], [0.5, 1.5], \"a\", \"b\");\nprint(F);"),
        def("createList", &["elem..."], 1, Var(B::CreateList), "a list of matrices of one value type", "l = createList([1.0, 2.0], [3.0]);\nprint(length(l));"),
    ]),
    ("Matrix and frame metadata", &[
        def("nrow", ARG, 1, Un(B::Nrow), "the number of rows", "print(nrow(fill(1, 3, 2)));"),
        def("ncol", ARG, 1, Un(B::Ncol), "the number of columns", "print(ncol(fill(1, 3, 2)));"),
        def("ncell", ARG, 1, Un(B::Ncell), "the number of cells (rows times columns)", "print(ncell(fill(1, 3, 2)));"),
        def("sparsity", ARG, 1, Own, "the compiler's estimate of the fraction of non-zero cells, -1 if unknown", "print(sparsity(rand(4, 4, 1.0, 1.0, 0.5, 1)));"),
        def("isSymmetric", ARG, 1, Un(B::IsSymmetric), "whether a square matrix equals its transpose", "print(isSymmetric([1, 2, 2, 1](2, 2)));"),
        def("typeOf", ARG, 1, Un(B::TypeOf), "DAPHNE's name of the value's runtime type", "print(typeOf([1.5, 2.5]));"),
    ]),
    // Each is one op; its row is in the op table (`ir/src/op.rs`, `Builtin::function`).
    ("Elementwise unary", &[]),
    ("Elementwise binary", &[
        def("pow", LHS_RHS, 2, Bin(B::EwPow), "lhs to the power of rhs, cell by cell (as `^`)", "print(pow([2, 3], 2));"),
        def("log", LHS_RHS, 2, Bin(B::EwLog), "the logarithm of lhs to the base rhs, cell by cell", "print(log(8.0, 2.0));"),
        def("mod", LHS_RHS, 2, Bin(B::EwMod), "the remainder of lhs divided by rhs, cell by cell (as `%`)", "print(mod(7, 3));"),
        def("min", LHS_RHS, 2, Bin(B::EwMin), "the smaller of lhs and rhs, cell by cell (the smallest cell of one matrix is `aggMin`)", "print(min([1, 5], [4, 2]));"),
        def("max", LHS_RHS, 2, Bin(B::EwMax), "the larger of lhs and rhs, cell by cell (the largest cell of one matrix is `aggMax`)", "print(max([1, 5], [4, 2]));"),
        def("concat", LHS_RHS, 2, Bin(B::EwConcat), "the two strings joined (as `+` on strings)", "print(concat(\"Daphne\", \"DSL\"));"),
    ]),
    ("Outer binary", &[
        def("outerAdd", LHS_RHS, 2, Bin(B::OuterAdd), "the m x n matrix of lhs[i] + rhs[j] for an m x 1 lhs and a 1 x n rhs", "print(outerAdd([1, 2], [10, 20, 30](1, 3)));"),
        def("outerSub", LHS_RHS, 2, Bin(B::OuterSub), "the m x n matrix of lhs[i] - rhs[j]", "print(outerSub([1, 2], [10, 20](1, 2)));"),
        def("outerMul", LHS_RHS, 2, Bin(B::OuterMul), "the m x n matrix of lhs[i] * rhs[j]", "print(outerMul([1, 2], [10, 20](1, 2)));"),
        def("outerDiv", LHS_RHS, 2, Bin(B::OuterDiv), "the m x n matrix of lhs[i] / rhs[j]", "print(outerDiv([1.0, 2.0], [4.0, 8.0](1, 2)));"),
        def("outerPow", LHS_RHS, 2, Bin(B::OuterPow), "the m x n matrix of lhs[i] ^ rhs[j]", "print(outerPow([2, 3], [1, 2](1, 2)));"),
        def("outerMod", LHS_RHS, 2, Bin(B::OuterMod), "the m x n matrix of lhs[i] % rhs[j]", "print(outerMod([7, 8], [3, 5](1, 2)));"),
        def("outerLog", LHS_RHS, 2, Bin(B::OuterLog), "the m x n matrix of log(lhs[i], rhs[j])", "print(outerLog([8.0, 16.0], [2.0, 4.0](1, 2)));"),
        def("outerMin", LHS_RHS, 2, Bin(B::OuterMin), "the m x n matrix of min(lhs[i], rhs[j])", "print(outerMin([1, 5], [2, 4](1, 2)));"),
        def("outerMax", LHS_RHS, 2, Bin(B::OuterMax), "the m x n matrix of max(lhs[i], rhs[j])", "print(outerMax([1, 5], [2, 4](1, 2)));"),
        def("outerAnd", LHS_RHS, 2, Bin(B::OuterAnd), "the m x n matrix of lhs[i] && rhs[j]", "print(outerAnd([0, 1], [1, 1](1, 2)));"),
        def("outerOr", LHS_RHS, 2, Bin(B::OuterOr), "the m x n matrix of lhs[i] || rhs[j]", "print(outerOr([0, 1], [0, 1](1, 2)));"),
        def("outerEq", LHS_RHS, 2, Bin(B::OuterEq), "the m x n matrix of lhs[i] == rhs[j]", "print(outerEq([1, 2], [1, 2](1, 2)));"),
        def("outerNeq", LHS_RHS, 2, Bin(B::OuterNe), "the m x n matrix of lhs[i] != rhs[j]", "print(outerNeq([1, 2], [1, 2](1, 2)));"),
        def("outerLt", LHS_RHS, 2, Bin(B::OuterLt), "the m x n matrix of lhs[i] < rhs[j]", "print(outerLt([1, 2], [1, 2](1, 2)));"),
        def("outerLe", LHS_RHS, 2, Bin(B::OuterLe), "the m x n matrix of lhs[i] <= rhs[j]", "print(outerLe([1, 2], [1, 2](1, 2)));"),
        def("outerGt", LHS_RHS, 2, Bin(B::OuterGt), "the m x n matrix of lhs[i] > rhs[j]", "print(outerGt([1, 2], [1, 2](1, 2)));"),
        def("outerGe", LHS_RHS, 2, Bin(B::OuterGe), "the m x n matrix of lhs[i] >= rhs[j]", "print(outerGe([1, 2], [1, 2](1, 2)));"),
    ]),
    ("Aggregation", &[
        def("sum", AGG, 1, Agg(B::SumAll, B::SumRow, B::SumCol), "the sum of all cells; with axis 0 of each row, with axis 1 of each column", "X = [1, 2, 3, 4](2, 2);\nprint(sum(X));\nprint(sum(X, 0));"),
        def("aggMin", AGG, 1, Agg(B::MinAll, B::MinRow, B::MinCol), "the smallest cell; with axis 0 of each row, with axis 1 of each column", "print(aggMin([3, 1, 2]));"),
        def("aggMax", AGG, 1, Agg(B::MaxAll, B::MaxRow, B::MaxCol), "the largest cell; with axis 0 of each row, with axis 1 of each column", "print(aggMax([3, 1, 2]));"),
        def("mean", AGG, 1, Agg(B::MeanAll, B::MeanRow, B::MeanCol), "the mean of all cells; with axis 0 of each row, with axis 1 of each column", "X = [1.0, 2.0, 3.0, 4.0](2, 2);\nprint(mean(X, 1));"),
        def("var", AGG, 1, Agg(B::VarAll, B::VarRow, B::VarCol), "the variance of all cells; with axis 0 of each row, with axis 1 of each column", "print(var([1.0, 2.0, 3.0, 4.0]));"),
        def("stddev", AGG, 1, Agg(B::StddevAll, B::StddevRow, B::StddevCol), "the standard deviation of all cells; with axis 0 of each row, with axis 1 of each column", "print(stddev([1.0, 2.0, 3.0, 4.0]));"),
        def("idxMin", &["arg", "axis"], 2, Own, "the position of the smallest cell of each row (axis 0) or column (axis 1)", "print(idxMin([3, 1, 2, 0](2, 2), 0));"),
        def("idxMax", &["arg", "axis"], 2, Own, "the position of the largest cell of each row (axis 0) or column (axis 1)", "print(idxMax([3, 1, 2, 0](2, 2), 1));"),
        def("cumSum", ARG, 1, Un(B::CumSum), "the running sum down each column", "print(cumSum([1, 2, 3]));"),
        def("cumProd", ARG, 1, Un(B::CumProd), "the running product down each column", "print(cumProd([1, 2, 3]));"),
        def("cumMin", ARG, 1, Un(B::CumMin), "the running minimum down each column", "print(cumMin([3, 1, 2]));"),
        def("cumMax", ARG, 1, Un(B::CumMax), "the running maximum down each column", "print(cumMax([1, 3, 2]));"),
    ]),
    ("Reorganization", &[
        def("t", ARG, 1, Un(B::Transpose), "the transpose", "print(t([1, 2, 3]));"),
        def("transpose", ARG, 1, Un(B::Transpose), "the transpose (as `t`)", "print(transpose([1, 2, 3]));"),
        def("reshape", &["arg", "numRows", "numCols"], 3, Own, "the cells in row-major order as a numRows x numCols matrix", "print(reshape([1, 2, 3, 4, 5, 6], 2, 3));"),
        def("cbind", LHS_RHS, 2, Bin(B::Cbind), "the columns of rhs after those of lhs (same number of rows)", "print(cbind([1, 2], [3, 4]));"),
        def("rbind", LHS_RHS, 2, Bin(B::Rbind), "the rows of rhs below those of lhs (same number of columns)", "print(rbind([1, 2](1, 2), [3, 4](1, 2)));"),
        def("reverse", ARG, 1, Un(B::Reverse), "the rows in reverse order", "print(reverse([1, 2, 3]));"),
        def("order", &["arg", "colIdx...", "asc...", "returnIndexes"], 4, Var(B::Order), "sorts the rows by the given columns, each ascending (true) or descending (false); with returnIndexes true, the row positions instead", "print(order([3, 1, 2], 0, true, false));"),
        def("replace", &["arg", "pattern", "replacement"], 3, Own, "every cell equal to pattern replaced by replacement", "print(replace([1, 2, 1], 1, 9));"),
        def("lowerTri", &["arg", "diag", "values"], 3, Own, "the lower triangle of a square matrix (with the diagonal if diag; ones instead of values unless values)", "print(lowerTri([1, 2, 3, 4](2, 2), true, true));"),
        def("upperTri", &["arg", "diag", "values"], 3, Own, "the upper triangle of a square matrix (with the diagonal if diag; ones instead of values unless values)", "print(upperTri([1, 2, 3, 4](2, 2), true, true));"),
        def("diagVector", ARG, 1, Un(B::DiagVector), "the diagonal of a square matrix as an n x 1 matrix", "print(diagVector([1, 2, 3, 4](2, 2)));"),
        def("ctable", &["lhs", "rhs", "weight", "resNumRows", "resNumCols"], 2, Own, "the contingency table of two n x 1 matrices of positions (optionally weighted, optionally of a given size)", "print(ctable([0, 1, 1], [1, 0, 1]));"),
    ]),
    ("Linear algebra", &[
        def("solve", &["A", "b"], 2, Bin(B::Solve), "x such that A @ x == b, for a square A", "print(solve([2.0, 0.0, 0.0, 4.0](2, 2), [2.0, 8.0]));"),
        def("syrk", ARG, 1, Un(B::Syrk), "t(arg) @ arg", "print(syrk([1.0, 2.0, 3.0, 4.0](2, 2)));"),
        def("gemv", &["A", "x"], 2, Bin(B::Gemv), "t(A) @ x for an n x 1 x", "print(gemv([1.0, 2.0, 3.0, 4.0](2, 2), [1.0, 1.0]));"),
        def("eigen", ARG, 1, Own, "two results: the eigenvalues and the eigenvectors (as columns) of a symmetric matrix", "vals, vecs = eigen([2.0, 0.0, 0.0, 3.0](2, 2));\nprint(vals);"),
    ]),
    ("Frames and relational algebra", &[
        def("setColLabels", &["frame", "label..."], 2, Var(B::SetColLabels), "the frame with new column labels, one per column", "F = setColLabels(createFrame([1, 2], [3, 4]), \"x\", \"y\");\nprint(F);"),
        def("setColLabelsPrefix", &["frame", "prefix"], 2, Own, "the frame with `prefix.` put before every column label", "print(setColLabelsPrefix(createFrame([1, 2], \"a\"), \"t\"));"),
        def("cartesian", LHS_RHS, 2, Own, "every pair of a row of lhs and a row of rhs", "print(cartesian(createFrame([1, 2], \"a\"), createFrame([3, 4], \"b\")));"),
        def("innerJoin", &["lhs", "rhs", "lhsOn", "rhsOn", "numRowRes"], 4, Own, "the rows of lhs and rhs joined where lhs[lhsOn] == rhs[rhsOn]", "L = createFrame([1, 2], [10, 20], \"id\", \"x\");\nR = createFrame([2, 1], [5, 6], \"ref\", \"y\");\nprint(innerJoin(L, R, \"id\", \"ref\"));"),
        def("semiJoin", &["lhs", "rhs", "lhsOn", "rhsOn", "numRowRes"], 4, Own, "two results: the keys of lhs that rhs has, and the positions of their rows in lhs", "L = createFrame([1, 2, 3], \"id\");\nR = createFrame([3, 1], \"ref\");\nkeys, rows = semiJoin(L, R, \"id\", \"ref\");\nprint(rows);"),
        def("groupJoin", &["lhs", "rhs", "lhsOn", "rhsOn", "rhsAgg"], 5, Own, "two results: the keys joined with the sum of rhsAgg per key, and the positions of the keys' rows in lhs", "L = createFrame([1, 2], \"id\");\nR = createFrame([1, 1, 2], [5, 6, 7], \"ref\", \"amount\");\nG, rows = groupJoin(L, R, \"id\", \"ref\", \"amount\");\nprint(G);"),
        def("groupSum", &["frame", "groupCol...", "sumCol"], 3, Var(B::GroupSum), "the sum of column sumCol per group of equal values in the group columns", "F = createFrame([1, 2, 1], [1.5, 2.5, 3.5], \"g\", \"v\");\nprint(groupSum(F, \"g\", \"v\"));"),
        def("registerView", &["viewName", "frame"], 2, Own, "makes the frame known to later `sql` queries of the script under the constant name", "registerView(\"f\", createFrame([1, 2], \"a\"));\nprint(sql(\"SELECT f.a FROM f;\"));"),
        def("sql", &["query"], 1, Own, "the frame a SQL query (a constant string) over registered views gives; see the README for what SQL is supported", "registerView(\"f\", createFrame([1, 2, 1], [3, 4, 5], \"a\", \"b\"));\nprint(sql(\"SELECT f.a, sum(f.b) FROM f GROUP BY f.a;\"));"),
        def("intersect", LHS_RHS, 2, Bin(B::Intersect), "the distinct rows that both frames have", "print(intersect(createFrame([1, 2], \"a\"), createFrame([2, 3], \"a\")));"),
        def("merge", LHS_RHS, 2, Bin(B::Merge), "the distinct rows of both frames (their union)", "print(merge(createFrame([1, 2], \"a\"), createFrame([2, 3], \"a\")));"),
        def("except", LHS_RHS, 2, Bin(B::Except), "the distinct rows of lhs that rhs does not have", "print(except(createFrame([1, 2], \"a\"), createFrame([2, 3], \"a\")));"),
    ]),
    ("Preprocessing", &[
        def("oneHot", &["arg", "info"], 2, Own, "one-hot encoding: column j becomes info[0, j] 0/1 columns (-1 keeps it, 0 drops it)", "print(oneHot([0, 2, 1], [3](1, 1)));"),
        def("recode", &["arg", "orderPreserving"], 2, Own, "two results: a code for each cell (distinct values numbered from 0) and the dictionary", "codes, dict = recode([5, 3, 5], true);\nprint(codes);"),
        def("bin", &["arg", "numBins", "min", "max"], 2, Own, "the equi-width bin (from 0) of each cell, bins spanning [min, max] (by default the data's range)", "print(bin([1.0, 2.0, 3.0, 4.0], 2));"),
        def("quantize", &["arg", "min", "max"], 3, Own, "min/max quantization of a matrix of f32 to ui8", "print(quantize(as.matrix<f32>([0.0, 0.5, 1.0]), as.f32(0.0), as.f32(1.0)));"),
    ]),
    ("Lists", &[
        def("length", &["list"], 1, Own, "the number of elements of a list", "print(length(createList([1.0], [2.0])));"),
        def("append", &["list", "elem"], 2, Bin(B::Append), "the list with a matrix appended", "l = append(createList([1.0]), [2.0]);\nprint(length(l));"),
        def("remove", &["list", "idx"], 2, Own, "two results: the list without its element at idx, and that element", "l, e = remove(createList([1.0], [2.0]), 0);\nprint(e);"),
    ]),
    ("Input and output", &[
        def("print", &["arg", "newline", "err"], 1, Own, "prints a value, by default with a newline and to stdout (err true: to stderr)", "print(\"hello\");\nprint(42, false);\nprint(\"!\");"),
        def("readMatrix", READ, 1, Own, "a matrix from a CSV or Matrix Market file, typed by the `.meta` file beside it or inferred from the file; header (bool), sep (str) and valueType (a value type name) are options, best given by name", "X = readMatrix(\"data.csv\", header=true, sep=\";\");"),
        def("readFrame", READ, 1, Own, "a frame from a CSV file, typed by the `.meta` file beside it or inferred from the file; options as readMatrix", "F = readFrame(\"data.csv\", header=true);"),
        def("write", &["arg", "filename"], 2, Own, "writes a matrix or frame as CSV with a `.meta` file", "write(fill(1.0, 2, 2), \"out.csv\");"),
        def("writeMatrix", &["arg", "filename"], 2, Own, "writes a matrix (as `write`)", "writeMatrix(fill(1.0, 2, 2), \"out.csv\");"),
        def("writeFrame", &["arg", "filename"], 2, Own, "writes a frame (as `write`)", "writeFrame(createFrame([1, 2], \"a\"), \"out.csv\");"),
    ]),
    ("Other", &[
        def("now", &[], 0, Own, "the time in nanoseconds since the epoch, as si64", "start = now();\nprint(now() >= start);"),
        def("stop", &["message"], 0, Own, "ends the script with the message and exit status 3", "if (1 > 2)\n    stop(\"impossible\");"),
        def("map", &["arg", "func"], 2, Lowering::Map, "applies a function of one scalar parameter to every cell", "def twice(x) { return x * 2; }\nprint(map([1, 2], twice));"),
    ]),
];

/// The built-in named `name`, if there is one.
pub fn builtin(name: &str) -> Option<&'static BuiltinDef> {
    all_builtins().find(|b| b.name == name)
}

/// Every built-in, group after group.
pub fn all_builtins() -> impl Iterator<Item = &'static BuiltinDef> {
    BUILTINS.iter().flat_map(|(_, defs)| defs.iter())
}

/// The reference of the built-ins in Markdown, as `daphnec --builtins` prints it and
/// `docs/builtins.md` holds it.
pub fn reference() -> String {
    use std::fmt::Write;
    let mut out = String::new();
    out.push_str("# DaphneDSL built-in functions\n\n");
    out.push_str(
        "Generated from the compiler's tables of built-ins (`lower/src/builtins.rs`, `ir/src/op.rs`) by\n\
         `daphnec --builtins`; do not edit by hand (`DAPHNE_BLESS=1 cargo test --test builtins_doc`\n\
         rewrites it).\n\n\
         Arguments are positional, then named: `seq(from=1, to=9, inc=2)`. Optional parameters are\n\
         in brackets, `...` marks a parameter that repeats; those built-ins take positional\n\
         arguments only. Axis 0 aggregates each row, axis 1 each column. Operators (`+ - * / ^ %\n\
         @ == != < <= > >= && || !`), indexing (`X[1:3, ]`) and casts (`as.scalar(x)`,\n\
         `as.matrix<f32>(X)`) are syntax and not listed here.\n",
    );
    for (group, defs) in BUILTINS.iter() {
        let _ = write!(out, "\n## {group}\n");
        for d in defs {
            let _ =
                write!(out, "\n### `{}`\n\n{}.\n\n```\n{}\n```\n", d.signature(), capitalized(d.summary), d.example);
        }
    }
    out
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or(String::new(), |c| c.to_uppercase().chain(chars).collect())
}

impl<'a> Lowerer<'a> {
    /// Lowers a call of built-in `name`; `None` if there is no such built-in.
    pub(crate) fn call_builtin(&mut self, name: &str, args: &[Arg], span: Span) -> Result<Option<Vec<Value>>> {
        let Some(sig) = builtin(name) else { return Ok(None) };
        match sig.lowering {
            Lowering::Map => return Ok(Some(vec![self.map_call(sig, args, span)?])),
            Lowering::Variadic(op) => {
                if args.len() < sig.required {
                    return Err(parse_error(span, arity_message(sig, args.len())));
                }
                let mut operands = Vec::new();
                for a in args {
                    if let Some(n) = &a.name {
                        return Err(parse_error(n.span, format!("`{name}` takes no named arguments")));
                    }
                    operands.push(self.expr(&a.value)?);
                }
                return Ok(Some(vec![self.builtin1(op, operands, span)?]));
            }
            _ => {}
        }
        // Match arguments to parameters: positional first, then named.
        let mut slots: Vec<Option<(Value, Span)>> = vec![None; sig.params.len()];
        let mut seen_named = false;
        for (i, a) in args.iter().enumerate() {
            let at = match &a.name {
                None if seen_named => {
                    return Err(parse_error(a.value.span, "positional arguments must come before named ones"));
                }
                None => i,
                Some(n) => {
                    seen_named = true;
                    sig.params.iter().position(|p| *p == n.name).ok_or_else(|| {
                        parse_error(n.span, format!("`{name}` has no parameter `{}`", n.name))
                            .with_note(format!("its parameters are: {}", sig.signature()))
                    })?
                }
            };
            if at >= sig.params.len() {
                return Err(arity_error(sig, args, span));
            }
            let v = self.expr(&a.value)?;
            if slots[at].replace((v, a.value.span)).is_some() {
                return Err(parse_error(
                    a.value.span,
                    format!("parameter `{}` of `{name}` is given twice", sig.params[at]),
                ));
            }
        }
        if slots[..sig.required].iter().any(Option::is_none) {
            return Err(arity_error(sig, args, span));
        }
        // As DAPHNE: an optional parameter cannot be left out when a later one is given (the
        // reading options are ours, and independent).
        if !matches!(name, "readMatrix" | "readFrame")
            && let Some(gap) = slots.iter().position(Option::is_none)
            && let Some(after) = slots[gap..].iter().flatten().next()
        {
            return Err(parse_error(
                after.1,
                format!("`{name}`: parameter `{}` must be given when a later parameter is", sig.params[gap]),
            ));
        }
        let arg = |i: usize| slots[i].map(|(v, _)| v);
        // Every parameter below `required` is given (checked above); the lowering of each
        // built-in asks only for those or checks `arg` itself.
        let req = |i: usize| {
            slots[i]
                .map(|(v, _)| v)
                .ok_or_else(|| parse_error(span, format!("`{name}` needs its parameter `{}`", sig.params[i])))
        };
        let one = |v: Value| Ok(Some(vec![v]));

        match sig.lowering {
            Lowering::Aggregation(all, row, col) => {
                let x = req(0)?;
                return match slots[1] {
                    None => one(self.builtin1(all, vec![x], span)?),
                    Some((axis, axis_span)) => {
                        let op = match self.axis(axis, axis_span)? {
                            0 => row,
                            _ => col,
                        };
                        one(self.builtin1(op, vec![x], span)?)
                    }
                };
            }
            Lowering::Unary(op) => return one(self.builtin1(op, vec![req(0)?], span)?),
            Lowering::Binary(op) => return one(self.builtin1(op, vec![req(0)?, req(1)?], span)?),
            Lowering::Variadic(_) | Lowering::Map | Lowering::Own => {}
        }
        match name {
            "idxMin" | "idxMax" => {
                let (axis, axis_span) = slots[1].ok_or_else(|| arity_error(sig, args, span))?;
                let op = match (name, self.axis(axis, axis_span)?) {
                    ("idxMin", 0) => Builtin::IdxMinRow,
                    ("idxMin", _) => Builtin::IdxMinCol,
                    (_, 0) => Builtin::IdxMaxRow,
                    _ => Builtin::IdxMaxCol,
                };
                one(self.builtin1(op, vec![req(0)?], span)?)
            }
            "print" => {
                let newline = match arg(1) {
                    Some(v) => v,
                    None => self.constant_value(Literal::Bool(true), span)?,
                };
                let stderr = match arg(2) {
                    Some(v) => v,
                    None => self.constant_value(Literal::Bool(false), span)?,
                };
                self.builtin(Builtin::Print, vec![req(0)?, newline, stderr], span)?;
                Ok(Some(vec![]))
            }
            "fill" => one(self.builtin1(Builtin::Fill, vec![req(0)?, req(1)?, req(2)?], span)?),
            "seq" => {
                let inc = match arg(2) {
                    Some(v) => v,
                    None => self.constant_value(Literal::Si64(1), span)?,
                };
                one(self.builtin1(Builtin::Seq, vec![req(0)?, req(1)?, inc], span)?)
            }
            "rand" => {
                let operands = (0..6).map(req).collect::<Result<Vec<_>>>()?;
                one(self.builtin1(Builtin::Rand, operands, span)?)
            }
            "reshape" => one(self.builtin1(Builtin::Reshape, vec![req(0)?, req(1)?, req(2)?], span)?),
            "stop" => {
                let msg = match arg(0) {
                    Some(v) => v,
                    None => self.constant_value(Literal::Str("unspecified reason".to_owned()), span)?,
                };
                self.builtin(Builtin::Stop, vec![msg], span)?;
                Ok(Some(vec![]))
            }
            "now" => one(self.builtin1(Builtin::Now, vec![], span)?),
            "setColLabelsPrefix" => one(self.builtin1(Builtin::SetColLabelsPrefix, vec![req(0)?, req(1)?], span)?),
            "readMatrix" | "readFrame" => {
                let path = req(0)?;
                let op = if name == "readMatrix" { Builtin::ReadMatrix } else { Builtin::ReadFrame };
                let mut request = ReadRequest { frame: op == Builtin::ReadFrame, ..ReadRequest::default() };
                if let Some((v, at)) = slots[1] {
                    match self.constant(v) {
                        Some(Literal::Bool(h)) => request.header = Some(h),
                        _ => return Err(compile_error(at, "`header` must be the constant true or false")),
                    }
                }
                if let Some((v, at)) = slots[2] {
                    match self.constant(v) {
                        Some(Literal::Str(sep)) => request.sep = Some(sep),
                        _ => {
                            return Err(compile_error(at, "`sep` must be a constant string, such as \";\" or \"\\t\""));
                        }
                    }
                }
                if let Some((v, at)) = slots[3] {
                    let vt = match self.constant(v) {
                        Some(Literal::Str(vt)) => ValueType::from_name(&vt).filter(|v| *v != ValueType::Index),
                        _ => None,
                    };
                    request.value_type = Some(vt.ok_or_else(|| {
                        compile_error(at, "`valueType` must be a constant value type name: \"f64\", \"f32\", \"si64\", \"si32\", \"si8\", \"ui64\", \"ui32\", \"ui8\" or \"str\"")
                    })?);
                }
                let path_text = match self.constant(path) {
                    Some(Literal::Str(p)) => Some(p),
                    _ => None,
                };
                let written = path_text.as_ref().and_then(|p| self.written.get(p)).filter(|t| {
                    matches!((op, t), (Builtin::ReadMatrix, Type::Matrix(_)) | (Builtin::ReadFrame, Type::Frame(_)))
                });
                let (ty, header, sep) = match (written, &path_text, &self.program.data_files) {
                    // The script wrote this file before: it holds what was written, as CSV.
                    (Some(t), _, _) => (t.clone(), request.header.unwrap_or(false), request.sep.clone()),
                    (None, Some(p), Some(files)) => {
                        let meta = files.describe(p, &request).map_err(|e| compile_error(span, e.to_string()))?;
                        let sep = (meta.delimiter != ',').then(|| meta.delimiter.to_string());
                        (meta_type(op, &meta), meta.header, sep)
                    }
                    _ => {
                        let path_ty = self.ty(path);
                        let operand = [Operand { ty: &path_ty, constant: None }];
                        let ty = daphne_ir::infer::infer(op, &operand)
                            .map_err(|e| crate::context::infer_error(span, e))?
                            .remove(0);
                        (ty, request.header.unwrap_or(false), request.sep.clone())
                    }
                };
                let mut operands = vec![path];
                if header || sep.is_some() {
                    operands.push(self.constant_value(Literal::Bool(header), span)?);
                    operands.push(self.constant_value(Literal::Str(sep.unwrap_or_else(|| ",".to_owned())), span)?);
                }
                one(self.emit1(OpKind::Builtin(op), operands, ty, span)?)
            }
            "lowerTri" => one(self.builtin1(Builtin::LowerTri, vec![req(0)?, req(1)?, req(2)?], span)?),
            "upperTri" => one(self.builtin1(Builtin::UpperTri, vec![req(0)?, req(1)?, req(2)?], span)?),
            "replace" => one(self.builtin1(Builtin::Replace, vec![req(0)?, req(1)?, req(2)?], span)?),
            "sample" => one(self.builtin1(Builtin::Sample, vec![req(0)?, req(1)?, req(2)?, req(3)?], span)?),
            "length" => one(self.builtin1(Builtin::Length, vec![req(0)?], span)?),
            "recode" => Ok(Some(self.builtin(Builtin::Recode, vec![req(0)?, req(1)?], span)?)),
            "eigen" => Ok(Some(self.builtin(Builtin::Eigen, vec![req(0)?], span)?)),
            // As DAPHNE: the compiler's estimate of the fraction of non-zeros, -1 if unknown.
            "sparsity" => {
                let x = req(0)?;
                if !matches!(self.ty(x), Type::Matrix(_)) {
                    return Err(compile_error(span, format!("`sparsity` needs a matrix, not {}", self.ty(x))));
                }
                let estimate = self.ctx().sparsity.get(&x).copied().unwrap_or(-1.0);
                one(self.constant_value(Literal::f64(estimate), span)?)
            }
            "ctable" => {
                // As DAPHNE: (ys, xs), (ys, xs, weight), (ys, xs, rows, cols) or all five.
                let minus_one = |l: &mut Self| l.constant_value(Literal::Si64(-1), span);
                let (weight, rows, cols) = match (arg(2), arg(3), arg(4)) {
                    (None, None, None) => {
                        (self.constant_value(Literal::f64(1.0), span)?, minus_one(self)?, minus_one(self)?)
                    }
                    (Some(w), None, None) => (w, minus_one(self)?, minus_one(self)?),
                    (Some(r), Some(c), None) => (self.constant_value(Literal::f64(1.0), span)?, r, c),
                    (Some(w), Some(r), Some(c)) => (w, r, c),
                    _ => return Err(parse_error(span, "`ctable` takes 2, 3, 4 or 5 arguments")),
                };
                one(self.builtin1(Builtin::Ctable, vec![req(0)?, req(1)?, weight, rows, cols], span)?)
            }
            "innerJoin" | "semiJoin" => {
                let op = if name == "innerJoin" { Builtin::InnerJoin } else { Builtin::SemiJoin };
                let mut operands = vec![req(0)?, req(1)?, req(2)?, req(3)?];
                operands.extend(arg(4));
                let results = self.builtin(op, operands, span)?;
                Ok(Some(results))
            }
            "cartesian" => one(self.builtin1(Builtin::Cartesian, vec![req(0)?, req(1)?], span)?),
            "registerView" => {
                let (name, frame) = (slots[0], slots[1]);
                let ((name, name_span), (frame, frame_span)) =
                    name.zip(frame).ok_or_else(|| arity_error(sig, args, span))?;
                self.register_view(name, name_span, frame, frame_span)?;
                Ok(Some(vec![]))
            }
            "sql" => {
                let (query, at) = slots[0].ok_or_else(|| arity_error(sig, args, span))?;
                one(self.sql(query, at)?)
            }
            "groupJoin" => {
                let operands = (0..5).map(req).collect::<Result<Vec<_>>>()?;
                Ok(Some(self.builtin(Builtin::GroupJoin, operands, span)?))
            }
            "oneHot" => one(self.builtin1(Builtin::OneHot, vec![req(0)?, req(1)?], span)?),
            "quantize" => one(self.builtin1(Builtin::Quantize, vec![req(0)?, req(1)?, req(2)?], span)?),
            "bin" => {
                let x = req(0)?;
                let (lo, hi) = match (arg(2), arg(3)) {
                    (Some(lo), Some(hi)) => (lo, hi),
                    (None, None) => {
                        (self.builtin1(Builtin::MinAll, vec![x], span)?, self.builtin1(Builtin::MaxAll, vec![x], span)?)
                    }
                    _ => return Err(parse_error(span, "`bin` takes 2 or 4 arguments (arg, numBins[, min, max])")),
                };
                one(self.builtin1(Builtin::Bin, vec![x, req(1)?, lo, hi], span)?)
            }
            "remove" => Ok(Some(self.builtin(Builtin::Remove, vec![req(0)?, req(1)?], span)?)),
            "write" | "writeMatrix" | "writeFrame" => {
                let (x, path) = (req(0)?, req(1)?);
                if let Some(Literal::Str(p)) = self.constant(path) {
                    let ty = self.ty(x).clone();
                    self.written.insert(p, ty);
                }
                self.builtin(Builtin::Write, vec![x, path], span)?;
                Ok(Some(vec![]))
            }
            // Every built-in of the table with its own lowering has an arm above (a test
            // compiles each one's example).
            _ => Err(parse_error(span, format!("the built-in `{name}` cannot be called here"))),
        }
    }

    /// The value of an aggregation axis, which must be the constant 0 (rows) or 1 (columns).
    fn axis(&mut self, v: Value, span: Span) -> Result<u8> {
        match self.constant(v) {
            Some(Literal::Si64(0) | Literal::Ui64(0) | Literal::Index(0)) => Ok(0),
            Some(Literal::Si64(1) | Literal::Ui64(1) | Literal::Index(1)) => Ok(1),
            _ => Err(parse_error(span, "the axis must be the constant 0 (per row) or 1 (per column)")),
        }
    }
}

/// The type a `.meta` file gives the result of `readMatrix` or `readFrame`.
fn meta_type(op: Builtin, meta: &crate::context::FileMeta) -> Type {
    if op == Builtin::ReadMatrix {
        Type::Matrix(MatrixType {
            vt: meta.schema.first().copied(),
            rows: meta.rows,
            cols: Some(meta.cols),
            repr: None,
        })
    } else {
        let vts = if meta.schema.len() == 1 { vec![meta.schema[0]; meta.cols as usize] } else { meta.schema.clone() };
        let labels: Vec<String> = match &meta.labels {
            Some(ls) => {
                ls.iter().enumerate().map(|(i, l)| if l.is_empty() { format!("col_{i}") } else { l.clone() }).collect()
            }
            None => (0..vts.len()).map(|i| format!("col_{i}")).collect(),
        };
        Type::Frame(FrameType {
            rows: meta.rows,
            columns: Some(vts.into_iter().zip(labels).map(|(vt, l)| ColumnType { label: Some(l), vt }).collect()),
        })
    }
}

/// "`fill` takes 3 arguments (value, numRows, numCols), but 2 were given".
pub(crate) fn arity_message(sig: &BuiltinDef, given: usize) -> String {
    let n = sig.params.len();
    let expected = if sig.variadic() {
        format!("at least {}", count(sig.required, "argument", "arguments"))
    } else if sig.required == n {
        count(n, "argument", "arguments")
    } else {
        format!("{} to {}", sig.required, count(n, "argument", "arguments"))
    };
    format!("`{}` takes {expected} ({}), but {}", sig.name, sig.params.join(", "), were_given(given))
}

/// The arity error of a call, with a hint where the call looks like another language's.
fn arity_error(sig: &BuiltinDef, args: &[Arg], span: Span) -> LowerError {
    let e = parse_error(span, arity_message(sig, args.len()));
    match crate::suggest::arity_hint(sig.name, args.len()) {
        Some(hint) => e.with_help(hint),
        None => e,
    }
}

/// "1 was given", "2 were given".
pub(crate) fn were_given(n: usize) -> String {
    if n == 1 { "1 was given".to_owned() } else { format!("{n} were given") }
}

#[cfg(test)]
mod tests {
    use daphne_frontend::SourceFile;

    use super::*;
    use crate::{Program, ScriptArgs, lower};

    #[test]
    fn every_example_compiles() {
        let mut failures = Vec::new();
        for d in all_builtins() {
            let file = SourceFile::new(format!("{}.daph", d.name), d.example);
            let parsed = daphne_frontend::parse(&file.text);
            if !parsed.is_ok() {
                failures.push(format!("{}: the example does not parse: {:?}", d.name, parsed.diagnostics));
                continue;
            }
            let program = Program::single(file.clone(), parsed.script);
            match lower(&program, &ScriptArgs::new()) {
                Ok(module) => {
                    if let Err(e) = daphne_ir::verify::module(&module) {
                        failures.push(format!("{}: the IR does not verify: {e}", d.name));
                    }
                }
                Err(e) => failures.push(format!("{}: {}", d.name, e.diagnostic.render(&file))),
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn every_function_of_the_op_table_is_in_its_group() {
        for &op in Builtin::ALL {
            let Some(doc) = op.function() else { continue };
            assert!(from_op_table(op).is_some(), "`{}`: the op table's functions take one or two operands", doc.name);
            let group = BUILTINS.iter().find(|(g, _)| *g == doc.group);
            let listed = group.is_some_and(|(_, defs)| defs.iter().any(|d| d.name == doc.name));
            assert!(listed, "`{}` is not in group {:?} of the reference", doc.name, doc.group);
        }
    }

    #[test]
    fn every_example_calls_its_builtin() {
        for d in all_builtins() {
            assert!(d.example.contains(&format!("{}(", d.name)), "the example of `{}` does not call it", d.name);
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = all_builtins().map(|d| d.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a built-in is listed twice");
    }

    #[test]
    fn every_op_is_spelled_as_a_script_writes_it() {
        // An op's spelling in messages is an operator or syntax, or a built-in of the table:
        // never an IR name such as `ewAdd` or `sumAll`.
        for &op in Builtin::ALL {
            let s = op.spelling();
            let identifier = s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            assert!(!identifier || builtin(s).is_some(), "`{op:?}` is spelled `{s}`, which is no built-in");
        }
    }

    #[test]
    fn signatures_mark_optional_and_repeated_parameters() {
        let sig = |n: &str| builtin(n).map(BuiltinDef::signature).unwrap_or_default();
        assert_eq!(sig("seq"), "seq(from, to[, inc])");
        assert_eq!(sig("print"), "print(arg[, newline[, err]])");
        assert_eq!(sig("stop"), "stop([message])");
        assert_eq!(sig("now"), "now()");
        assert_eq!(sig("createFrame"), "createFrame(column..., label...)");
    }

    #[test]
    fn arity_messages_agree_in_number() {
        let fill = builtin("fill").expect("fill");
        assert_eq!(arity_message(fill, 1), "`fill` takes 3 arguments (value, numRows, numCols), but 1 was given");
        assert_eq!(arity_message(fill, 2), "`fill` takes 3 arguments (value, numRows, numCols), but 2 were given");
        let length = builtin("length").expect("length");
        assert_eq!(arity_message(length, 0), "`length` takes 1 argument (list), but 0 were given");
        let list = builtin("createList").expect("createList");
        assert_eq!(arity_message(list, 0), "`createList` takes at least 1 argument (elem...), but 0 were given");
    }
}
