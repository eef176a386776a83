//! Type and shape inference for built-in operations, following DAPHNE's inference traits
//! (`DaphneOps.td`, `TypeInferenceUtils.h`): the value type of most operations is the most
//! general of their arguments' (`ValueTypeFromArgs`); math functions give a float
//! (`ValueTypeFromArgsFP`: non-floats become f64); logical operations give an integer
//! (`ValueTypeFromArgsInt`: non-integers become ui64); comparisons give the arguments' type
//! (strings compare to si64); index-valued results (`idxMin`, `nrow`) are `index`.

use crate::op::{Axis, Reduce, Rule};
use crate::{Builtin, ColumnType, FrameType, Literal, MatrixType, Type, ValueType};

/// Why inference rejects an op's operands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InferError {
    /// The operands do not fit the op: the script's error, said as the script writes things.
    #[error("{0}")]
    Operands(String),
    /// The op table and this file disagree: a bug.
    #[error(transparent)]
    Internal(#[from] crate::Bug),
}

impl InferError {
    fn new(message: impl Into<String>) -> InferError {
        InferError::Operands(message.into())
    }

    fn internal(op: Builtin) -> InferError {
        InferError::Internal(crate::Bug(format!("the rule of `{}` is not the one of its table row", op.name())))
    }
}

/// What inference knows about one operand: its type and, if it is a constant, its value.
#[derive(Clone, Copy)]
pub struct Operand<'a> {
    pub ty: &'a Type,
    pub constant: Option<&'a Literal>,
}

impl Operand<'_> {
    /// The operand's value as a non-negative integer, if it is such a constant.
    fn const_u64(&self) -> Option<u64> {
        match self.constant? {
            Literal::Si64(v) => u64::try_from(*v).ok(),
            Literal::Si32(v) => u64::try_from(*v).ok(),
            Literal::Si8(v) => u64::try_from(*v).ok(),
            Literal::Ui64(v) | Literal::Index(v) => Some(*v),
            Literal::Ui32(v) => Some(u64::from(*v)),
            Literal::Ui8(v) => Some(u64::from(*v)),
            Literal::F64(b) => {
                let f = f64::from_bits(*b);
                (f >= 0.0 && f.fract() == 0.0 && f < 1.8e19).then_some(f as u64)
            }
            Literal::F32(b) => {
                let f = f32::from_bits(*b);
                (f >= 0.0 && f.fract() == 0.0 && f < 1.8e19).then_some(f as u64)
            }
            Literal::Bool(b) => Some(u64::from(*b)),
            Literal::Str(_) => None,
        }
    }
}

/// The value type of a scalar or matrix; `None` when unknown.
fn vt(t: &Type) -> Option<ValueType> {
    t.value_type()
}

/// The most general of the known value types, or `None` if any is unknown.
fn most_general(types: &[&Type]) -> Option<ValueType> {
    let mut res: Option<ValueType> = None;
    for t in types {
        let v = vt(t)?;
        res = Some(res.map_or(v, |r| r.most_general(v)));
    }
    res
}

fn to_float(v: Option<ValueType>) -> Option<ValueType> {
    v.map(|v| if v.is_float() { v } else { ValueType::F64 })
}

fn to_int(v: Option<ValueType>) -> Option<ValueType> {
    v.map(|v| if v.is_integer() { v } else { ValueType::Ui64 })
}

/// The matrix among the operands whose shape an elementwise result takes (the left one when
/// both are matrices, as DAPHNE broadcasts only the right operand).
fn ew_shape(a: &Type, b: Option<&Type>) -> Option<(Option<u64>, Option<u64>)> {
    match (a, b) {
        (Type::Matrix(m), _) => Some((m.rows, m.cols)),
        (_, Some(Type::Matrix(m))) => Some((m.rows, m.cols)),
        _ => None,
    }
}

fn is_data(t: &Type) -> bool {
    matches!(t, Type::Matrix(_) | Type::Unknown)
}

/// A result that is a matrix when any operand is, else a scalar.
fn ew_result(vt: Option<ValueType>, a: &Type, b: Option<&Type>) -> Type {
    let any_unknown = matches!(a, Type::Unknown) || matches!(b, Some(Type::Unknown));
    match ew_shape(a, b) {
        Some((rows, cols)) => Type::Matrix(MatrixType { vt, rows, cols, repr: None }),
        None if any_unknown => Type::Unknown,
        None => vt.map_or(Type::Unknown, Type::Scalar),
    }
}

fn matrix(vt: Option<ValueType>, rows: Option<u64>, cols: Option<u64>) -> Type {
    Type::Matrix(MatrixType { vt, rows, cols, repr: None })
}

fn dims(t: &Type) -> (Option<u64>, Option<u64>) {
    match t {
        Type::Matrix(m) => (m.rows, m.cols),
        Type::Scalar(_) => (Some(1), Some(1)),
        Type::Frame(f) => (f.rows, f.columns.as_ref().map(|c| c.len() as u64)),
        _ => (None, None),
    }
}

/// The rows of `seq(from, to, inc)` of value type `v` when the three are constants with whole
/// values that `f64` and `si64` arithmetic hold exactly (below 2^50 in magnitude): then the
/// run-time count (`ceil(|to - from| / |inc|) + 1`, less one when the additions pass `to`) is
/// `floor(|to - from| / |inc|) + 1`, or 0 when `inc` points away from `to`. Unknown otherwise
/// (`f32`, fractions, a zero `inc`: the kernel decides, and reports).
fn seq_rows(v: Option<ValueType>, args: [&Operand; 3]) -> Option<u64> {
    if !matches!(v, Some(ValueType::F64 | ValueType::Si64 | ValueType::Ui64 | ValueType::Index)) {
        return None;
    }
    const LIMIT: i64 = 1 << 50;
    let whole = |a: &Operand| -> Option<i64> {
        let x = match a.constant? {
            Literal::F64(bits) => {
                let x = f64::from_bits(*bits);
                (x.fract() == 0.0 && x.abs() < LIMIT as f64).then_some(x as i64)?
            }
            Literal::Si64(x) => *x,
            Literal::Ui64(x) | Literal::Index(x) => i64::try_from(*x).ok()?,
            _ => return None,
        };
        (x.abs() < LIMIT).then_some(x)
    };
    let (from, to, inc) = (whole(args[0])?, whole(args[1])?, whole(args[2])?);
    if inc == 0 {
        return None;
    }
    if (from < to && inc < 0) || (from > to && inc > 0) {
        return Some(0);
    }
    Some(((to - from).unsigned_abs() / inc.unsigned_abs()) + 1)
}

/// The result types of `op` applied to `args`, or why the arguments do not fit.
pub fn infer(op: Builtin, args: &[Operand]) -> Result<Vec<Type>, InferError> {
    use Builtin as B;
    let t = |i: usize| args.get(i).map_or(&Type::Unknown, |a| a.ty);
    let one = |t: Type| Ok(vec![t]);
    let index = Type::Scalar(ValueType::Index);
    match op.rule() {
        Rule::Own => {}
        Rule::EwKeep => return one(ew_result(vt(t(0)), t(0), None)),
        Rule::EwFloat => return one(ew_result(to_float(vt(t(0))), t(0), None)),
        rule @ (Rule::Arith | Rule::ArithStr) => {
            let v = most_general(&[t(0), t(1)]);
            if v == Some(ValueType::Str) && rule == Rule::Arith {
                return Err(InferError::new(format!("`{op}` is not defined on strings")));
            }
            return one(ew_result(v, t(0), Some(t(1))));
        }
        Rule::EwFloat2 => return one(ew_result(to_float(most_general(&[t(0), t(1)])), t(0), Some(t(1)))),
        Rule::Logical => return one(ew_result(to_int(most_general(&[t(0), t(1)])), t(0), Some(t(1)))),
        Rule::Compare => {
            let v = most_general(&[t(0), t(1)]).map(|v| if v == ValueType::Str { ValueType::Si64 } else { v });
            return one(ew_result(v, t(0), Some(t(1))));
        }
        Rule::Outer => {
            let Some(ew) = op.outer_elementwise() else { return Err(InferError::internal(op)) };
            let (a, b) = (t(0), t(1));
            let (rows, cols) = (dims(a).0, dims(b).1);
            // DAPHNE checks the shapes of outer operations only at run time.
            let scalars =
                [Type::Scalar(vt(a).unwrap_or(ValueType::F64)), Type::Scalar(vt(b).unwrap_or(ValueType::F64))];
            let pair: Vec<Operand> = scalars.iter().map(|ty| Operand { ty, constant: None }).collect();
            let v = infer(ew, &pair)?.first().and_then(Type::value_type);
            return one(matrix(v, rows, cols));
        }
        Rule::Agg => {
            let Some((axis, reduce)) = op.aggregation() else { return Err(InferError::internal(op)) };
            let v = match reduce {
                Reduce::Sum | Reduce::Min | Reduce::Max => vt(t(0)),
                Reduce::Mean | Reduce::Var | Reduce::Stddev => to_float(vt(t(0))),
                Reduce::IdxMin | Reduce::IdxMax => Some(ValueType::Index),
            };
            return one(match axis {
                Axis::Full => v.map_or(Type::Unknown, Type::Scalar),
                Axis::Rows => matrix(v, dims(t(0)).0, Some(1)),
                Axis::Cols => matrix(v, Some(1), dims(t(0)).1),
            });
        }
    }
    match op {
        B::EwLower | B::EwUpper => match vt(t(0)) {
            Some(ValueType::Str) | None => one(t(0).clone()),
            Some(other) => Err(InferError::new(format!("`{op}` needs strings, not {other}"))),
        },
        B::EwLike => match (vt(t(0)), vt(t(1))) {
            (Some(ValueType::Str) | None, Some(ValueType::Str) | None) if !t(1).is_matrix() => {
                one(ew_result(Some(ValueType::Si64), t(0), None))
            }
            (a, b) => Err(InferError::new(format!(
                "`{op}` needs strings and a string pattern, not {} and {}",
                a.map_or("?", ValueType::name),
                b.map_or("?", ValueType::name)
            ))),
        },
        B::LowerTri | B::UpperTri => one(t(0).clone()),
        // As DAPHNE (`ValueTypeFromArgs`): the pattern and replacement count too.
        B::Replace => one(matrix(most_general(&[t(0), t(1), t(2)]), dims(t(0)).0, dims(t(0)).1)),
        B::DiagVector => one(matrix(vt(t(0)), dims(t(0)).0, Some(1))),
        B::IsSymmetric => one(Type::Scalar(ValueType::Bool)),
        B::Sample => one(matrix(vt(t(0)), args[1].const_u64(), Some(1))),
        B::TypeOf => one(Type::Scalar(ValueType::Str)),
        B::EwConcat => one(ew_result(Some(ValueType::Str), t(0), Some(t(1)))),
        B::CumSum | B::CumProd | B::CumMin | B::CumMax => one(t(0).clone()),
        B::MatrixLiteral => {
            let n = args.len() - 2;
            let elems: Vec<&Type> = (0..n).map(t).collect();
            for e in &elems {
                if !matches!(e, Type::Scalar(_) | Type::Unknown) {
                    return Err(InferError::new(format!("matrix literal elements must be scalars, not {e}")));
                }
            }
            let v = if n == 0 { Some(ValueType::F64) } else { most_general(&elems) };
            one(matrix(v, args[n].const_u64(), args[n + 1].const_u64()))
        }
        B::Fill => one(matrix(vt(t(0)), args[1].const_u64(), args[2].const_u64())),
        B::Seq => {
            let v = most_general(&[t(0), t(1), t(2)]);
            one(matrix(v, seq_rows(v, [&args[0], &args[1], &args[2]]), Some(1)))
        }
        // As DAPHNE: the value type of `rand` is that of `min`.
        B::Rand => one(matrix(vt(t(2)), args[0].const_u64(), args[1].const_u64())),
        B::DiagMatrix => {
            let (r, _) = dims(t(0));
            one(matrix(vt(t(0)), r, r))
        }
        B::Nrow | B::Ncol | B::Ncell => one(index),
        B::Transpose => {
            let (r, c) = dims(t(0));
            one(matrix(vt(t(0)), c, r))
        }
        B::Reshape => one(matrix(vt(t(0)), args[1].const_u64(), args[2].const_u64())),
        B::Cbind | B::Rbind if matches!(t(0), Type::Frame(_)) || matches!(t(1), Type::Frame(_)) => match (t(0), t(1)) {
            (Type::Frame(a), Type::Frame(b)) => {
                let columns = match (op, &a.columns, &b.columns) {
                    (B::Cbind, Some(x), Some(y)) => Some(x.iter().chain(y).cloned().collect()),
                    (B::Rbind, x, _) => x.clone(),
                    _ => None,
                };
                let rows = if op == B::Cbind { a.rows.or(b.rows) } else { None };
                one(Type::Frame(FrameType { rows, columns }))
            }
            _ => Err(InferError::new(format!("`{op}` cannot combine a frame with a matrix"))),
        },
        B::Cbind | B::Rbind => {
            let (ra, ca) = dims(t(0));
            let (rb, cb) = dims(t(1));
            let sum = |a: Option<u64>, b: Option<u64>| a?.checked_add(b?);
            let same = |a: Option<u64>, b: Option<u64>, what: &str| match (a, b) {
                (Some(a), Some(b)) if a != b => {
                    Err(InferError::new(format!("`{op}` needs the same number of {what}, but they are {a} and {b}")))
                }
                _ => Ok(a.or(b)),
            };
            let v = most_general(&[t(0), t(1)]);
            if op == B::Cbind {
                one(matrix(v, same(ra, rb, "rows")?, sum(ca, cb)))
            } else {
                one(matrix(v, sum(ra, rb), same(ca, cb, "columns")?))
            }
        }
        B::Reverse => one(t(0).clone()),
        B::MatMul => {
            let (ra, ca) = dims(t(0));
            let (rb, cb) = dims(t(1));
            // DAPHNE's shape inference does not compare the inner dimensions; the kernel fails
            // at run time, and so does ours.
            let _ = (ca, rb);
            one(matrix(most_general(&[t(0), t(1)]), ra, cb))
        }
        B::Solve => one(matrix(most_general(&[t(0), t(1)]), dims(t(0)).1, dims(t(1)).1)),
        B::Syrk => {
            let (_, c) = dims(t(0));
            one(matrix(vt(t(0)), c, c))
        }
        // `gemv(A, x)` of an n x 1 `x`, or `t(A) @ B` rewritten: as many columns as the right.
        B::Gemv => one(matrix(most_general(&[t(0), t(1)]), dims(t(0)).1, dims(t(1)).1.or(Some(1)))),
        B::SliceRow | B::SliceCol if args.len() == 3 && t(0).is_matrix() => {
            // As DAPHNE's shape inference: constant bounds outside the known extent are a
            // compile error.
            let n = if op == B::SliceRow { dims(t(0)).0 } else { dims(t(0)).1 };
            let bound = |a: &Operand| match a.constant {
                Some(Literal::Si64(v)) => Some(*v),
                Some(Literal::Ui64(v) | Literal::Index(v)) => i64::try_from(*v).ok(),
                _ => None,
            };
            if let (Some(n), Some(lo), Some(hi)) = (n, bound(&args[1]), bound(&args[2])) {
                let n = n as i64;
                let what = if op == B::SliceRow { "rows" } else { "columns" };
                if lo < 0 || lo >= n {
                    return Err(InferError::new(format!(
                        "the lower bound {lo} of the slice must be in [0, {n}) for {n} {what}"
                    )));
                }
                if hi < 0 || hi > n {
                    return Err(InferError::new(format!(
                        "the upper bound {hi} of the slice must be in [0, {n}] for {n} {what}"
                    )));
                }
                if lo > hi {
                    return Err(InferError::new(format!(
                        "the lower bound {lo} of the slice is greater than the upper bound {hi}"
                    )));
                }
            }
            // Constant bounds (checked above against a known extent) give the extent.
            let len = match (bound(&args[1]), bound(&args[2])) {
                (Some(lo), Some(hi)) if 0 <= lo && lo <= hi && n.is_none_or(|n| hi as u64 <= n) => {
                    u64::try_from(hi - lo).ok()
                }
                _ => None,
            };
            if op == B::SliceRow {
                one(matrix(vt(t(0)), len, dims(t(0)).1))
            } else {
                one(matrix(vt(t(0)), dims(t(0)).0, len))
            }
        }
        B::SliceRow | B::ExtractRow | B::FilterRow => match t(0) {
            Type::Frame(f) => one(Type::Frame(FrameType { rows: None, columns: f.columns.clone() })),
            _ => one(matrix(vt(t(0)), None, dims(t(0)).1)),
        },
        B::SliceCol | B::ExtractCol | B::FilterCol => match t(0) {
            Type::Frame(f) => {
                // A column picked by a constant label keeps its type.
                let columns = match (op, args.get(1).and_then(|a| a.constant), &f.columns) {
                    // With every label known, a missing one is a compile error, as in DAPHNE.
                    (B::ExtractCol, Some(Literal::Str(label)), Some(cols))
                        if cols.iter().all(|c| c.label.is_some()) =>
                    {
                        match cols.iter().find(|c| c.label.as_deref() == Some(label.as_str())) {
                            Some(c) => Some(vec![c.clone()]),
                            None => return Err(InferError::new(format!("the frame has no column labelled `{label}`"))),
                        }
                    }
                    _ => None,
                };
                one(Type::Frame(FrameType { rows: f.rows, columns }))
            }
            _ => one(matrix(vt(t(0)), dims(t(0)).0, None)),
        },
        B::CreateFrame => {
            let n_cols = args.iter().take_while(|a| a.ty.is_matrix()).count();
            let labels = &args[n_cols..];
            if !labels.is_empty() && labels.len() != n_cols {
                return Err(InferError::new(
                    "`createFrame` takes matrices followed by no labels or as many labels as matrices",
                ));
            }
            if labels.iter().any(|a| !matches!(a.ty, Type::Scalar(ValueType::Str) | Type::Unknown)) {
                return Err(InferError::new("`createFrame` takes matrices followed by string labels"));
            }
            let mut columns = Vec::new();
            for i in 0..n_cols {
                let Some(vt) = vt(t(i)) else {
                    return one(Type::Frame(FrameType { rows: dims(t(0)).0, columns: None }));
                };
                let label = match labels.get(i).map(|a| a.constant) {
                    None => Some(format!("col_{i}")),
                    Some(Some(Literal::Str(s))) => Some(s.clone()),
                    Some(_) => None,
                };
                columns.push(ColumnType { label, vt });
            }
            one(Type::Frame(FrameType {
                rows: if n_cols > 0 { dims(t(0)).0 } else { Some(0) },
                columns: Some(columns),
            }))
        }
        B::SetColLabels | B::SetColLabelsPrefix => match t(0) {
            Type::Frame(f) => {
                // Labels given as constants are known.
                let label = |i: usize, old: &Option<String>| match (op, args.get(i + 1).and_then(|a| a.constant)) {
                    (B::SetColLabels, Some(Literal::Str(l))) => Some(l.clone()),
                    (B::SetColLabelsPrefix, _) => match (args.get(1).and_then(|a| a.constant), old) {
                        (Some(Literal::Str(p)), Some(old)) => Some(prefixed_label(p, old)),
                        _ => None,
                    },
                    _ => None,
                };
                let columns = f.columns.as_ref().map(|cs| {
                    cs.iter().enumerate().map(|(i, c)| ColumnType { label: label(i, &c.label), vt: c.vt }).collect()
                });
                one(Type::Frame(FrameType { rows: f.rows, columns }))
            }
            other => Err(InferError::new(format!("`{op}` needs a frame, not {other}"))),
        },
        B::InsertRow | B::InsertCol => one(t(0).clone()),
        B::Cond => {
            let v = most_general(&[t(1), t(2)]);
            match t(0) {
                Type::Matrix(m) => one(matrix(v, m.rows, m.cols)),
                _ if is_data(t(1)) || is_data(t(2)) => {
                    Err(InferError::new("`?:` with a scalar condition needs no elementwise choice"))
                }
                _ => one(v.map_or(Type::Unknown, Type::Scalar)),
            }
        }
        B::Recode => match t(0) {
            Type::Matrix(m) => Ok(vec![matrix(Some(ValueType::Si64), m.rows, Some(1)), matrix(m.vt, None, Some(1))]),
            Type::Unknown => Ok(vec![Type::Unknown, Type::Unknown]),
            other => Err(InferError::new(format!("`recode` needs a matrix, not {other}"))),
        },
        B::Bin => one(t(0).clone()),
        // As DAPHNE: strings are first coded per column, so the result is si64.
        B::OneHot => {
            let v = vt(t(0)).map(|v| if v == ValueType::Str { ValueType::Si64 } else { v });
            one(matrix(v, dims(t(0)).0, None))
        }
        B::Order => {
            let idx = match args.last().and_then(|a| a.constant) {
                Some(Literal::Bool(true)) => true,
                Some(Literal::Bool(false)) => false,
                _ => return one(Type::Unknown),
            };
            if idx { one(matrix(Some(ValueType::Index), dims(t(0)).0, Some(1))) } else { one(t(0).clone()) }
        }
        B::Ctable => one(matrix(vt(t(2)), None, None)),
        B::GroupSum | B::InnerJoin | B::Cartesian => match (op, t(0)) {
            (B::GroupSum, Type::Frame(_) | Type::Unknown) => one(Type::Frame(FrameType { rows: None, columns: None })),
            (B::InnerJoin | B::Cartesian, _)
                if matches!(t(0), Type::Frame(_) | Type::Unknown) && matches!(t(1), Type::Frame(_) | Type::Unknown) =>
            {
                // The columns of both sides, when both are known.
                let columns = match (t(0), t(1)) {
                    (Type::Frame(a), Type::Frame(b)) => match (&a.columns, &b.columns) {
                        (Some(x), Some(y)) => Some(x.iter().chain(y).cloned().collect()),
                        _ => None,
                    },
                    _ => None,
                };
                one(Type::Frame(FrameType { rows: None, columns }))
            }
            _ => Err(InferError::new(format!("`{op}` needs frames"))),
        },
        B::LeftJoin => left_join(args),
        B::GroupAggregate => group_aggregate(args),
        B::Intersect | B::Merge | B::Except => match (t(0), t(1)) {
            (Type::Frame(f), Type::Frame(_) | Type::Unknown) => {
                one(Type::Frame(FrameType { rows: None, columns: f.columns.clone() }))
            }
            (Type::Unknown, _) => one(Type::Unknown),
            (a, b) => Err(InferError::new(format!("`{op}` needs two frames, not {a} and {b}"))),
        },
        B::GroupJoin => Ok(vec![
            Type::Frame(FrameType { rows: None, columns: None }),
            matrix(Some(ValueType::Index), None, Some(1)),
        ]),
        B::SemiJoin => Ok(vec![
            Type::Frame(FrameType { rows: None, columns: None }),
            matrix(Some(ValueType::Index), None, Some(1)),
        ]),
        B::Quantize => match vt(t(0)) {
            Some(ValueType::F32) | None => one(matrix(Some(ValueType::Ui8), dims(t(0)).0, dims(t(0)).1)),
            Some(other) => Err(InferError::new(format!("`quantize` needs a matrix of f32, not of {other}"))),
        },
        B::Eigen => {
            let (r, _) = dims(t(0));
            Ok(vec![matrix(Some(ValueType::F64), r, Some(1)), matrix(Some(ValueType::F64), r, r)])
        }
        B::CreateList => {
            let mut vt_all = None;
            for a in args {
                match a.ty {
                    Type::Matrix(m) => {
                        if let (Some(x), Some(y)) = (vt_all, m.vt)
                            && x != y
                        {
                            return Err(InferError::new(format!(
                                "the elements of a list must have one value type, not {x} and {y}"
                            )));
                        }
                        vt_all = vt_all.or(m.vt);
                    }
                    Type::Unknown => {}
                    other => {
                        return Err(InferError::new(format!("the elements of a list must be matrices, not {other}")));
                    }
                }
            }
            one(Type::List(MatrixType { vt: vt_all, rows: None, cols: None, repr: None }))
        }
        B::Length => match t(0) {
            Type::List(_) | Type::Unknown => one(Type::Scalar(ValueType::Index)),
            other => Err(InferError::new(format!("`length` needs a list, not {other}"))),
        },
        B::Append => match (t(0), t(1)) {
            (Type::List(e), Type::Matrix(m)) => {
                if let (Some(x), Some(y)) = (e.vt, m.vt)
                    && x != y
                {
                    return Err(InferError::new(format!("cannot append a matrix of {y} to a list of {x}")));
                }
                one(t(0).clone())
            }
            (Type::List(_) | Type::Unknown, Type::Unknown) | (Type::Unknown, _) => one(t(0).clone()),
            (a, b) => Err(InferError::new(format!("`append` needs a list and a matrix, not {a} and {b}"))),
        },
        B::Remove => match t(0) {
            Type::List(e) => Ok(vec![t(0).clone(), Type::Matrix(e.clone())]),
            Type::Unknown => Ok(vec![Type::Unknown, Type::Unknown]),
            other => Err(InferError::new(format!("`remove` needs a list, not {other}"))),
        },
        B::ReadMatrix => one(Type::Matrix(MatrixType::any())),
        B::ReadFrame => one(Type::Frame(FrameType { rows: None, columns: None })),
        B::Print | B::Stop | B::Write => Ok(vec![]),
        B::Now => one(Type::Scalar(ValueType::Si64)),
        // The table gives these a rule above.
        _ => Err(InferError::internal(op)),
    }
}

/// The value type a column of `vt` has on the right side of a `leftJoin`, where rows without
/// a match hold a missing cell (frames have no NULL): floats keep their type and hold NaN,
/// strings hold the empty string, other numbers become f64 holding NaN (as pandas does).
pub fn missing_type(vt: ValueType) -> ValueType {
    match vt {
        ValueType::F64 | ValueType::F32 | ValueType::Str => vt,
        _ => ValueType::F64,
    }
}

/// `leftJoin(lhs, rhs, lhsOn..., rhsOn...)`: the columns of `lhs`, those of `rhs` as they may
/// be missing ([`missing_type`]), and the mask of matched rows.
fn left_join(args: &[Operand]) -> Result<Vec<Type>, InferError> {
    let keys = &args[2..];
    if !keys.len().is_multiple_of(2) {
        return Err(InferError::new("`LEFT JOIN` needs as many keys of the left frame as of the right one"));
    }
    if let Some(k) = keys.iter().find(|k| !matches!(k.ty, Type::Scalar(ValueType::Str) | Type::Unknown)) {
        return Err(InferError::new(format!("`LEFT JOIN`: a key must be a column label (a string), not {}", k.ty)));
    }
    let columns = match (args[0].ty, args[1].ty) {
        (Type::Frame(a), Type::Frame(b)) => match (&a.columns, &b.columns) {
            (Some(x), Some(y)) => Some(
                x.iter()
                    .cloned()
                    .chain(y.iter().map(|c| ColumnType { label: c.label.clone(), vt: missing_type(c.vt) }))
                    .collect(),
            ),
            _ => None,
        },
        (Type::Frame(_) | Type::Unknown, Type::Frame(_) | Type::Unknown) => None,
        (a, b) => return Err(InferError::new(format!("`LEFT JOIN` needs two frames, not {a} and {b}"))),
    };
    Ok(vec![Type::Frame(FrameType { rows: None, columns }), matrix(Some(ValueType::Si64), None, Some(1))])
}

/// The aggregation functions of `groupAggregate`, as its operands name them.
pub const AGGREGATES: &[&str] = &["sum", "count", "avg", "min", "max"];

/// The value type of an aggregate (one of [`AGGREGATES`]) of a column of value type `vt`:
/// counts are si64, means f64, sums, minima and maxima keep the column's type; `None` for a
/// sum or mean of strings or an unknown function.
pub fn aggregate_type(function: &str, vt: ValueType) -> Option<ValueType> {
    match function {
        "count" => Some(ValueType::Si64),
        "avg" if vt != ValueType::Str => Some(ValueType::F64),
        "sum" if vt != ValueType::Str => Some(vt),
        "min" | "max" => Some(vt),
        _ => None,
    }
}

/// `groupAggregate(frame, numKeys, key..., (function, column, label)...)`: the key columns and
/// the aggregates, typed when the frame's columns and every label are known.
fn group_aggregate(args: &[Operand]) -> Result<Vec<Type>, InferError> {
    let unknown = Ok(vec![Type::Frame(FrameType { rows: None, columns: None })]);
    let columns = match args[0].ty {
        Type::Frame(FrameType { columns: Some(c), .. }) if c.iter().all(|c| c.label.is_some()) => c,
        Type::Frame(_) | Type::Unknown => return unknown,
        other => return Err(InferError::new(format!("`GROUP BY` needs a frame, not {other}"))),
    };
    let Some(n_keys) = args[1].const_u64() else { return unknown };
    let rest = &args[2..];
    let n_keys = usize::try_from(n_keys).unwrap_or(usize::MAX);
    if rest.len() < n_keys || !(rest.len() - n_keys).is_multiple_of(3) {
        return Err(InferError::new("`GROUP BY` takes keys, then triples of function, column and label"));
    }
    let text = |a: &Operand| match a.constant {
        Some(Literal::Str(s)) => Some(s.clone()),
        _ => None,
    };
    let find = |label: &str| -> Result<&ColumnType, InferError> {
        columns
            .iter()
            .find(|c| c.label.as_deref() == Some(label))
            .ok_or_else(|| InferError::new(format!("the frame has no column labelled `{label}`")))
    };
    let mut out = Vec::new();
    for k in &rest[..n_keys] {
        let Some(label) = text(k) else { return unknown };
        out.push(find(&label)?.clone());
    }
    for t in rest[n_keys..].chunks(3) {
        let (Some(function), Some(column), label) = (text(&t[0]), text(&t[1]), text(&t[2])) else { return unknown };
        let vt = find(&column)?.vt;
        let vt = aggregate_type(&function, vt)
            .ok_or_else(|| InferError::new(format!("`{function}` cannot aggregate a column of {vt}")))?;
        out.push(ColumnType { label, vt });
    }
    Ok(vec![Type::Frame(FrameType { rows: if n_keys == 0 { Some(1) } else { None }, columns: Some(out) })])
}

/// The label `setColLabelsPrefix` gives a column: `prefix.name`, where a label that has a
/// prefix already keeps only its own name.
pub fn prefixed_label(prefix: &str, label: &str) -> String {
    let name = label.rsplit('.').next().unwrap_or(label);
    format!("{prefix}.{name}")
}
