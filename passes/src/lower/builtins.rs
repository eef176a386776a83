//! Calls of built-in functions: argument matching (positional, then named) against each
//! built-in's parameter list, defaults, and the op each call becomes.

use daphne_frontend::Span;
use daphne_frontend::ast::Arg;
use daphne_ir::{Builtin, ColumnType, FrameType, Literal, MatrixType, OpKind, Type, Value, ValueType};

use crate::infer::Operand;

use super::{Lowerer, ReadRequest, Result, compile_error, parse_error};

/// A built-in's parameters: names, and how many are required.
struct Sig {
    params: &'static [&'static str],
    required: usize,
}

const fn sig(params: &'static [&'static str], required: usize) -> Sig {
    Sig { params, required }
}

/// The aggregation built-ins: full, per-row and per-column op.
fn aggregation(name: &str) -> Option<(Builtin, Builtin, Builtin)> {
    use Builtin as B;
    Some(match name {
        "sum" => (B::SumAll, B::SumRow, B::SumCol),
        "aggMin" => (B::MinAll, B::MinRow, B::MinCol),
        "aggMax" => (B::MaxAll, B::MaxRow, B::MaxCol),
        "mean" => (B::MeanAll, B::MeanRow, B::MeanCol),
        "var" => (B::VarAll, B::VarRow, B::VarCol),
        "stddev" => (B::StddevAll, B::StddevRow, B::StddevCol),
        _ => return None,
    })
}

/// The one-argument built-ins that map to one op.
fn unary(name: &str) -> Option<Builtin> {
    use Builtin as B;
    Some(match name {
        "abs" => B::EwAbs,
        "sign" => B::EwSign,
        "exp" => B::EwExp,
        "ln" => B::EwLn,
        "sqrt" => B::EwSqrt,
        "round" => B::EwRound,
        "floor" => B::EwFloor,
        "ceil" => B::EwCeil,
        "sin" => B::EwSin,
        "cos" => B::EwCos,
        "tan" => B::EwTan,
        "sinh" => B::EwSinh,
        "cosh" => B::EwCosh,
        "tanh" => B::EwTanh,
        "asin" => B::EwAsin,
        "acos" => B::EwAcos,
        "atan" => B::EwAtan,
        "isNan" => B::EwIsNan,
        "minus" => B::EwMinus,
        "t" | "transpose" => B::Transpose,
        "nrow" => B::Nrow,
        "ncol" => B::Ncol,
        "ncell" => B::Ncell,
        "reverse" => B::Reverse,
        "diagMatrix" => B::DiagMatrix,
        "syrk" => B::Syrk,
        "cumSum" => B::CumSum,
        "cumProd" => B::CumProd,
        "cumMin" => B::CumMin,
        "cumMax" => B::CumMax,
        "lower" => B::EwLower,
        "upper" => B::EwUpper,
        "diagVector" => B::DiagVector,
        "isSymmetric" => B::IsSymmetric,
        "typeOf" => B::TypeOf,
        _ => return None,
    })
}

/// The two-argument built-ins that map to one op.
fn binary(name: &str) -> Option<Builtin> {
    use Builtin as B;
    Some(match name {
        "pow" => B::EwPow,
        "log" => B::EwLog,
        "mod" => B::EwMod,
        "min" => B::EwMin,
        "max" => B::EwMax,
        "cbind" => B::Cbind,
        "concat" => B::EwConcat,
        "intersect" => B::Intersect,
        "merge" => B::Merge,
        "except" => B::Except,
        "rbind" => B::Rbind,
        "solve" => B::Solve,
        "gemv" => B::Gemv,
        "outerAdd" => B::OuterAdd,
        "outerSub" => B::OuterSub,
        "outerMul" => B::OuterMul,
        "outerDiv" => B::OuterDiv,
        "outerPow" => B::OuterPow,
        "outerMod" => B::OuterMod,
        "outerLog" => B::OuterLog,
        "outerMin" => B::OuterMin,
        "outerMax" => B::OuterMax,
        "outerAnd" => B::OuterAnd,
        "outerOr" => B::OuterOr,
        "outerEq" => B::OuterEq,
        "outerNeq" => B::OuterNe,
        "outerLt" => B::OuterLt,
        "outerLe" => B::OuterLe,
        "outerGt" => B::OuterGt,
        "outerGe" => B::OuterGe,
        _ => return None,
    })
}

fn signature(name: &str) -> Option<Sig> {
    // Parameter names as DAPHNE's DaphneDSLBuiltins.cpp declares them.
    if aggregation(name).is_some() {
        return Some(sig(&["arg", "axisOrGroups"], 1));
    }
    if unary(name).is_some() {
        return Some(sig(&["arg"], 1));
    }
    if binary(name).is_some() {
        return Some(sig(&["lhs", "rhs"], 2));
    }
    Some(match name {
        "idxMin" | "idxMax" => sig(&["arg", "axis"], 2),
        "print" => sig(&["arg", "newline", "err"], 1),
        "fill" => sig(&["value", "numRows", "numCols"], 3),
        "seq" => sig(&["from", "to", "inc"], 2),
        "rand" => sig(&["numRows", "numCols", "min", "max", "sparsity", "seed"], 6),
        "reshape" => sig(&["arg", "numRows", "numCols"], 3),
        "stop" => sig(&["message"], 0),
        "now" => sig(&[], 0),
        "setColLabelsPrefix" => sig(&["frame", "prefix"], 2),
        "readMatrix" | "readFrame" => sig(&["filename", "header", "sep", "valueType"], 1),
        "lowerTri" | "upperTri" => sig(&["arg", "diag", "values"], 3),
        "replace" => sig(&["arg", "pattern", "replacement"], 3),
        "sample" => sig(&["range", "size", "withReplacement", "seed"], 4),
        "length" => sig(&["list"], 1),
        "recode" => sig(&["arg", "orderPreserving"], 2),
        "sparsity" => sig(&["arg"], 1),
        "eigen" => sig(&["arg"], 1),
        "quantize" => sig(&["arg", "min", "max"], 3),
        "ctable" => sig(&["lhs", "rhs", "weight", "resNumRows", "resNumCols"], 2),
        "innerJoin" | "semiJoin" => sig(&["lhs", "rhs", "lhsOn", "rhsOn", "numRowRes"], 4),
        "cartesian" => sig(&["lhs", "rhs"], 2),
        "groupJoin" => sig(&["lhs", "rhs", "lhsOn", "rhsOn", "rhsAgg"], 5),
        "bin" => sig(&["arg", "numBins", "min", "max"], 2),
        "oneHot" => sig(&["arg", "info"], 2),
        "append" => sig(&["list", "elem"], 2),
        "remove" => sig(&["list", "idx"], 2),
        "write" | "writeMatrix" | "writeFrame" => sig(&["arg", "filename"], 2),
        _ => return None,
    })
}

impl<'a> Lowerer<'a> {
    /// Lowers a call of built-in `name`; `None` if there is no such built-in.
    pub(crate) fn call_builtin(&mut self, name: &str, args: &[Arg], span: Span) -> Result<Option<Vec<Value>>> {
        // Built-ins with any number of arguments.
        let variadic = match name {
            "createFrame" => Some((Builtin::CreateFrame, 1)),
            "setColLabels" => Some((Builtin::SetColLabels, 2)),
            "createList" => Some((Builtin::CreateList, 1)),
            "order" => Some((Builtin::Order, 4)),
            "groupSum" => Some((Builtin::GroupSum, 3)),
            _ => None,
        };
        if let Some((op, min)) = variadic {
            if args.len() < min {
                return Err(parse_error(
                    span,
                    format!("`{name}` takes at least {min} arguments, but {} were given", args.len()),
                ));
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
        let Some(sig) = signature(name) else { return Ok(None) };
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
                    sig.params
                        .iter()
                        .position(|p| *p == n.name)
                        .ok_or_else(|| parse_error(n.span, format!("`{name}` has no parameter `{}`", n.name)))?
                }
            };
            if at >= sig.params.len() {
                return Err(parse_error(span, arity_message(name, &sig, args.len())));
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
            return Err(parse_error(span, arity_message(name, &sig, args.len())));
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
        let req = |i: usize| slots[i].map(|(v, _)| v).ok_or_else(|| parse_error(span, "internal: missing argument"));
        let one = |v: Value| Ok(Some(vec![v]));

        if let Some((all, row, col)) = aggregation(name) {
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
        if let Some(op) = unary(name) {
            return one(self.builtin1(op, vec![req(0)?], span)?);
        }
        if let Some(op) = binary(name) {
            return one(self.builtin1(op, vec![req(0)?, req(1)?], span)?);
        }
        match name {
            "idxMin" | "idxMax" => {
                let (axis, axis_span) = slots[1].ok_or_else(|| parse_error(span, "internal: axis"))?;
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
                        let meta = files.describe(p, &request).map_err(|e| compile_error(span, e))?;
                        let sep = (meta.delimiter != ',').then(|| meta.delimiter.to_string());
                        (meta_type(op, &meta), meta.header, sep)
                    }
                    _ => {
                        let path_ty = self.ty(path);
                        let operand = [Operand { ty: &path_ty, constant: None }];
                        let ty = crate::infer::infer(op, &operand).map_err(|m| compile_error(span, m))?.remove(0);
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
            "append" => one(self.builtin1(Builtin::Append, vec![req(0)?, req(1)?], span)?),
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
            _ => Err(parse_error(span, format!("internal: built-in `{name}` has a signature but no lowering"))),
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
fn meta_type(op: Builtin, meta: &crate::lower::FileMeta) -> Type {
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

fn arity_message(name: &str, sig: &Sig, given: usize) -> String {
    let n = sig.params.len();
    let expected = if sig.required == n { format!("{n}") } else { format!("{} to {n}", sig.required) };
    format!("`{name}` takes {expected} arguments ({}), but {given} were given", sig.params.join(", "))
}
