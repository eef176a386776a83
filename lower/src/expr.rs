//! Expressions, indexing, casts and calls of user-defined functions.

use daphne_frontend::Span;
use daphne_frontend::ast::{
    Arg, BinOp, DataType, Expr, ExprKind, FloatLit, FuncDef, IntLit, IntSuffix, MatrixShape, Range, Stmt, TypeKind,
    UnOp,
};
use daphne_frontend::token::Tok;
use daphne_ir::{Builtin, FuncId, Function, Literal, MatrixType, OpKind, Type, Value, ValueType, count};

use crate::context::{
    FnCtx, Lowerer, Result, SpecKey, compile_error, declared_type, internal_error, ir_value_type, parse_error, prefix,
};
use crate::stmt::Flow;

/// The IR literal of an integer literal: unsuffixed and `l` are si64 (2^63 without suffix is
/// i64::MIN, as in DAPHNE), `u` and `ull` are ui64, `z` is an index.
pub(crate) fn int_literal(i: &IntLit) -> Literal {
    match i.suffix {
        IntSuffix::None | IntSuffix::L => Literal::Si64(i.value as i64),
        IntSuffix::U | IntSuffix::Ull => Literal::Ui64(i.value),
        IntSuffix::Z => Literal::Index(i.value),
    }
}

pub(crate) fn float_literal(f: &FloatLit) -> Literal {
    if f.single { Literal::f32(f.value as f32) } else { Literal::f64(f.value) }
}

/// Whether an argument of type `arg` may be passed to a parameter declared `param`, by
/// DAPHNE's rule (`argAndUDFParamCompatible`): the same data type, and the same value type
/// where the parameter names one. DAPHNE does not cast arguments of typed functions.
fn param_accepts(param: &Type, arg: &Type) -> bool {
    match (param, arg) {
        (Type::Unknown, _) | (_, Type::Unknown) => true,
        (Type::Scalar(p), Type::Scalar(a)) => p == a,
        (Type::Matrix(p), Type::Matrix(a)) => p.vt.is_none() || a.vt.is_none() || p.vt == a.vt,
        (Type::Frame(_), Type::Frame(_)) => true,
        _ => false,
    }
}

/// A type with its dimensions forgotten: specializations are per value and data type.
fn erase_dims(t: &Type) -> Type {
    match t {
        Type::Matrix(m) => Type::Matrix(MatrixType { vt: m.vt, rows: None, cols: None, repr: None }),
        Type::Frame(f) => Type::Frame(daphne_ir::FrameType { rows: None, columns: f.columns.clone() }),
        other => other.clone(),
    }
}

impl<'a> Lowerer<'a> {
    /// An expression with exactly one value.
    pub(crate) fn expr(&mut self, e: &Expr) -> Result<Value> {
        let values = self.expr_multi(e)?;
        match values[..] {
            [v] => Ok(v),
            _ => Err(parse_error(e.span, format!("this expression has {} values where one is expected", values.len()))),
        }
    }

    /// An expression with any number of values (only calls have other than one).
    pub(crate) fn expr_multi(&mut self, e: &Expr) -> Result<Vec<Value>> {
        let span = e.span;
        let one = |v: Value| Ok(vec![v]);
        match &e.kind {
            ExprKind::Int(i) => one(self.constant_value(int_literal(i), span)?),
            ExprKind::Float(f) => one(self.constant_value(float_literal(f), span)?),
            ExprKind::Bool(b) => one(self.constant_value(Literal::Bool(*b), span)?),
            ExprKind::Str(s) => one(self.constant_value(Literal::Str(s.clone()), span)?),
            ExprKind::ScriptArg(name) => {
                let lit = self.script_arg(&name.name, span)?;
                one(self.constant_value(lit, span)?)
            }
            ExprKind::Name(q) => {
                let name = q.text();
                match self.lookup(&name) {
                    Some(v) => one(v.value),
                    None => Err(self.undefined_variable(&name, span)),
                }
            }
            ExprKind::Unary { op, arg } => {
                let a = self.expr(arg)?;
                match op {
                    UnOp::Plus => one(a),
                    UnOp::Neg => one(self.builtin1(prefix("-", span)?, vec![a], span)?),
                    UnOp::Not => one(self.builtin1(prefix("!", span)?, vec![a], span)?),
                }
            }
            ExprKind::Binary { op, lhs, rhs, .. } => {
                let a = self.expr(lhs)?;
                let b = self.expr(rhs)?;
                let b_op = match op {
                    BinOp::MatMul => Builtin::MatMul,
                    BinOp::Pow => Builtin::EwPow,
                    BinOp::Mod => Builtin::EwMod,
                    BinOp::Mul => Builtin::EwMul,
                    BinOp::Div => Builtin::EwDiv,
                    BinOp::Add => Builtin::EwAdd,
                    BinOp::Sub => Builtin::EwSub,
                    BinOp::Eq => Builtin::EwEq,
                    BinOp::Ne => Builtin::EwNe,
                    BinOp::Lt => Builtin::EwLt,
                    BinOp::Le => Builtin::EwLe,
                    BinOp::Gt => Builtin::EwGt,
                    BinOp::Ge => Builtin::EwGe,
                    BinOp::And => Builtin::EwAnd,
                    BinOp::Or => Builtin::EwOr,
                };
                // `+` on strings concatenates, as in DAPHNE.
                let is_str = |t: &Type| t.value_type() == Some(ValueType::Str);
                let b_op = if b_op == Builtin::EwAdd && (is_str(&self.ty(a)) || is_str(&self.ty(b))) {
                    Builtin::EwConcat
                } else {
                    b_op
                };
                one(self.builtin1(b_op, vec![a, b], span)?)
            }
            ExprKind::Ternary { cond, then_expr, else_expr } => one(self.ternary(cond, then_expr, else_expr, span)?),
            ExprKind::Cast { target, arg } => {
                let a = self.expr(arg)?;
                one(self.cast_expr(a, target, span)?)
            }
            ExprKind::Index { obj, rows, cols } => {
                let x = self.expr(obj)?;
                one(self.index(x, rows.as_ref(), cols.as_ref(), span)?)
            }
            ExprKind::Filter { obj, rows, cols } => {
                let mut x = self.expr(obj)?;
                if let Some(r) = rows {
                    let m = self.expr(r)?;
                    x = self.builtin1(Builtin::FilterRow, vec![x, m], span)?;
                }
                if let Some(c) = cols {
                    let m = self.expr(c)?;
                    x = self.builtin1(Builtin::FilterCol, vec![x, m], span)?;
                }
                one(x)
            }
            ExprKind::Matrix { elems, shape } => one(self.matrix_literal(elems, shape.as_ref(), span)?),
            ExprKind::Call { callee, args, .. } => {
                let name = callee.text();
                if self.namespaces[self.ns].contains_key(&name) {
                    return self.call_udf(&name, args, span);
                }
                match self.call_builtin(&name, args, span)? {
                    Some(values) => Ok(values),
                    None => {
                        let err = parse_error(callee.span, format!("unknown function `{name}`"));
                        let own = self.namespaces[self.ns].keys().map(String::as_str);
                        let known = crate::builtins::all_builtins().map(|b| b.name).chain(own);
                        Err(match crate::suggest::unknown_function(&name, known) {
                            Some(help) => err.with_help(help),
                            None => err,
                        })
                    }
                }
            }
            ExprKind::FrameCols(pairs) => {
                let mut cols = Vec::new();
                let mut labels = Vec::new();
                for (label, col) in pairs {
                    let l = self.expr(label)?;
                    if self.ty(l) != Type::Scalar(ValueType::Str) {
                        return Err(parse_error(label.span, "labels for frame literals must be strings"));
                    }
                    let c = self.expr(col)?;
                    if !self.ty(c).is_matrix() {
                        return Err(parse_error(col.span, "columns for frame literals must be matrices"));
                    }
                    labels.push(l);
                    cols.push(c);
                }
                cols.extend(labels);
                one(self.builtin1(Builtin::CreateFrame, cols, span)?)
            }
            ExprKind::FrameRows { labels, rows } => one(self.frame_rows(labels, rows, span)?),
        }
    }

    /// The value of script argument `$name`, which must be a literal.
    fn script_arg(&mut self, name: &str, span: Span) -> Result<Literal> {
        let text = self.args.get(name).ok_or_else(|| {
            parse_error(span, format!("argument {name} referenced, but not provided as a command line argument"))
        })?;
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.as_str()),
        };
        let lexed = daphne_frontend::lex(body);
        let lit = match (&lexed.tokens[..], lexed.diagnostics.is_empty()) {
            ([(_, Tok::Int(i), _)], true) => Some(int_literal(i)),
            ([(_, Tok::Float(f), _)], true) => Some(float_literal(f)),
            ([(_, Tok::Str(s), _)], true) if !negative => Some(Literal::Str(s.clone())),
            ([(_, Tok::True, _)], true) if !negative => Some(Literal::Bool(true)),
            ([(_, Tok::False, _)], true) if !negative => Some(Literal::Bool(false)),
            _ => None,
        };
        let lit = lit.ok_or_else(|| {
            parse_error(span, format!("the value `{text}` of script argument {name} is not a literal (a number, a quoted string, true or false)"))
        })?;
        Ok(if negative { negate(lit) } else { lit })
    }

    fn ternary(&mut self, cond: &Expr, then_e: &Expr, else_e: &Expr, span: Span) -> Result<Value> {
        let c = self.expr(cond)?;
        if self.ty(c).is_matrix() {
            let a = self.expr(then_e)?;
            let b = self.expr(else_e)?;
            return self.builtin1(Builtin::Cond, vec![c, a, b], span);
        }
        // A scalar condition evaluates only the chosen side.
        let c = self.condition_value(c, cond.span)?;
        let (mut then_r, a) = self.region(vec![], |l| l.expr(then_e))?;
        let (mut else_r, b) = self.region(vec![], |l| l.expr(else_e))?;
        let (ta, tb) = (self.ty(a), self.ty(b));
        let t = match (&ta, &tb) {
            (Type::Scalar(x), Type::Scalar(y)) => Type::Scalar(x.most_general(*y)),
            (Type::Matrix(x), Type::Matrix(y)) => {
                let vt = match (x.vt, y.vt) {
                    (Some(p), Some(q)) => Some(p.most_general(q)),
                    _ => None,
                };
                let same = |p: Option<u64>, q: Option<u64>| if p == q { p } else { None };
                Type::Matrix(MatrixType { vt, rows: same(x.rows, y.rows), cols: same(x.cols, y.cols), repr: None })
            }
            _ if ta == tb => ta.clone(),
            (Type::Unknown, _) | (_, Type::Unknown) => Type::Unknown,
            (Type::Frame(x), Type::Frame(y)) => Type::Frame(daphne_ir::FrameType {
                rows: if x.rows == y.rows { x.rows } else { None },
                columns: if x.columns == y.columns { x.columns.clone() } else { None },
            }),
            _ => {
                return Err(compile_error(
                    span,
                    format!("the two sides of `?:` have different data types, {ta} and {tb}"),
                ));
            }
        };
        self.finish_region(&mut then_r, None, vec![a], std::slice::from_ref(&t), OpKind::Yield, span)?;
        self.finish_region(&mut else_r, None, vec![b], std::slice::from_ref(&t), OpKind::Yield, span)?;
        let id = self.emit(OpKind::If, vec![c], vec![t], vec![then_r, else_r], span)?;
        Ok(self.ctx().f.ops[id].results[0])
    }

    fn cast_expr(&mut self, a: Value, target: &TypeKind, span: Span) -> Result<Value> {
        let from = self.ty(a);
        let to = match *target {
            // `as.f32(x)` changes the value type and keeps the data type.
            TypeKind::Scalar(v) => {
                let vt = ir_value_type(v);
                match &from {
                    Type::Matrix(m) => Type::Matrix(MatrixType { vt: Some(vt), ..m.clone() }),
                    Type::Frame(_) => {
                        return Err(parse_error(
                            span,
                            "casting to a frame with particular column types is not supported yet",
                        ));
                    }
                    _ => Type::Scalar(vt),
                }
            }
            TypeKind::Data(DataType::Scalar, vt) => match (vt, &from) {
                (Some(v), _) => Type::Scalar(ir_value_type(v)),
                (None, Type::Matrix(m)) => m.vt.map_or(Type::Unknown, Type::Scalar),
                (None, Type::Scalar(v)) => Type::Scalar(*v),
                (None, Type::Frame(f)) => match f.columns.as_deref() {
                    Some([c]) => Type::Scalar(c.vt),
                    _ => Type::Unknown,
                },
                (None, _) => Type::Unknown,
            },
            TypeKind::Data(DataType::Matrix, vt) => {
                let (old_vt, rows, cols) = match &from {
                    Type::Matrix(m) => (m.vt, m.rows, m.cols),
                    Type::Scalar(v) => (Some(*v), Some(1), Some(1)),
                    // As DAPHNE: a frame becomes a matrix of its first column's value type.
                    Type::Frame(f) => (
                        f.columns.as_ref().and_then(|c| c.first().map(|c| c.vt)),
                        f.rows,
                        f.columns.as_ref().map(|c| c.len() as u64),
                    ),
                    _ => (None, None, None),
                };
                Type::Matrix(MatrixType { vt: vt.map(ir_value_type).or(old_vt), rows, cols, repr: None })
            }
            TypeKind::Data(DataType::Frame, _) => match &from {
                Type::Frame(_) => return Ok(a),
                Type::Matrix(m) => Type::Frame(daphne_ir::FrameType {
                    rows: m.rows,
                    columns: match (m.vt, m.cols) {
                        (Some(vt), Some(c)) => Some(
                            (0..c).map(|i| daphne_ir::ColumnType { label: Some(format!("col_{i}")), vt }).collect(),
                        ),
                        _ => None,
                    },
                }),
                Type::Scalar(vt) => Type::Frame(daphne_ir::FrameType {
                    rows: Some(1),
                    columns: Some(vec![daphne_ir::ColumnType { label: Some("col_0".to_owned()), vt: *vt }]),
                }),
                other => return Err(compile_error(span, format!("cannot convert {other} to a frame"))),
            },
        };
        if to == from { Ok(a) } else { self.emit1(OpKind::Cast, vec![a], to, span) }
    }

    /// An si64 position for indexing.
    fn position(&mut self, e: &Expr) -> Result<Value> {
        let v = self.expr(e)?;
        let si64 = Type::Scalar(ValueType::Si64);
        match self.ty(v) {
            Type::Scalar(_) | Type::Unknown => self.cast_to(v, &si64, e.span),
            t => Err(compile_error(e.span, format!("a position must be a number, not {t}"))),
        }
    }

    /// The range `p:p+1` of a single position along `axis`, a negative `p` counting from the
    /// end (`X[-1, ]` is the last row).
    fn single_position(&mut self, x: Value, p: Value, axis: usize, span: Span) -> Result<(Value, Value)> {
        let si64 = Type::Scalar(ValueType::Si64);
        let p = self.cast_to(p, &si64, span)?;
        // A constant position into a matrix of known extent folds to constant bounds (which
        // shape inference then checks, as in DAPHNE).
        let extent = match self.ty(x) {
            Type::Matrix(m) => {
                if axis == 0 {
                    m.rows
                } else {
                    m.cols
                }
            }
            _ => None,
        };
        if let (Some(Literal::Si64(q)), Some(n)) = (self.constant(p), extent) {
            let lo = if q < 0 { q.wrapping_add(n as i64) } else { q };
            let lo_v = self.constant_value(Literal::Si64(lo), span)?;
            // Wrapping, as the si64 addition the other path emits (the bounds check rejects it).
            let hi_v = self.constant_value(Literal::Si64(lo.wrapping_add(1)), span)?;
            return Ok((lo_v, hi_v));
        }
        let zero = self.constant_value(Literal::Si64(0), span)?;
        let negative = self.builtin1(Builtin::EwLt, vec![p, zero], span)?;
        let n = self.builtin1(if axis == 0 { Builtin::Nrow } else { Builtin::Ncol }, vec![x], span)?;
        let n = self.cast_to(n, &si64, span)?;
        let shift = self.builtin1(Builtin::EwMul, vec![negative, n], span)?;
        let lo = self.builtin1(Builtin::EwAdd, vec![p, shift], span)?;
        let one = self.constant_value(Literal::Si64(1), span)?;
        let hi = self.builtin1(Builtin::EwAdd, vec![lo, one], span)?;
        Ok((lo, hi))
    }

    /// `X[rows, cols]` as a value.
    pub(crate) fn index(&mut self, x: Value, rows: Option<&Range>, cols: Option<&Range>, span: Span) -> Result<Value> {
        let mut x = x;
        for (r, axis) in [(rows, 0), (cols, 1)] {
            let Some(r) = r else { continue };
            x = self.index_axis(x, r, axis, span)?;
        }
        Ok(x)
    }

    fn index_axis(&mut self, x: Value, r: &Range, axis: usize, span: Span) -> Result<Value> {
        let (slice, extract) =
            if axis == 0 { (Builtin::SliceRow, Builtin::ExtractRow) } else { (Builtin::SliceCol, Builtin::ExtractCol) };
        match r {
            Range::Single(e) => {
                let v = self.expr(e)?;
                // A matrix of positions, or a frame column label.
                if self.ty(v) == Type::Scalar(ValueType::Str) && !matches!(self.ty(x), Type::Frame(_) | Type::Unknown) {
                    return Err(parse_error(e.span, "indexing by a label is only supported for frames"));
                }
                if self.ty(v).is_matrix() || self.ty(v) == Type::Scalar(ValueType::Str) {
                    return self.builtin1(extract, vec![x, v], span);
                }
                // A single position keeps the matrix: X[i, ] is X[i:i+1, ].
                let (lo, hi) = self.single_position(x, v, axis, e.span)?;
                self.builtin1(slice, vec![x, lo, hi], span)
            }
            Range::Slice { lo, hi, .. } => {
                let lo = match lo {
                    Some(e) => self.position(e)?,
                    None => self.constant_value(Literal::Si64(0), span)?,
                };
                let hi = match hi {
                    Some(e) => self.position(e)?,
                    None => {
                        let n = self.builtin1(if axis == 0 { Builtin::Nrow } else { Builtin::Ncol }, vec![x], span)?;
                        self.cast_to(n, &Type::Scalar(ValueType::Si64), span)?
                    }
                };
                self.builtin1(slice, vec![x, lo, hi], span)
            }
        }
    }

    /// `X[rows, cols] = y`: the updated copy of `X`.
    pub(crate) fn insert(
        &mut self,
        x: Value,
        y: Value,
        rows: Option<&Range>,
        cols: Option<&Range>,
        span: Span,
    ) -> Result<Value> {
        let bounds = |l: &mut Self, r: Option<&Range>, axis: usize| -> Result<(Value, Value)> {
            let count = |l: &mut Self| -> Result<Value> {
                let n = l.builtin1(if axis == 0 { Builtin::Nrow } else { Builtin::Ncol }, vec![x], span)?;
                l.cast_to(n, &Type::Scalar(ValueType::Si64), span)
            };
            match r {
                None => Ok((l.constant_value(Literal::Si64(0), span)?, count(l)?)),
                Some(Range::Single(e)) => {
                    let v = l.expr(e)?;
                    if !matches!(l.ty(v), Type::Scalar(_)) {
                        return Err(parse_error(
                            e.span,
                            "left indexing supports single positions and ranges, not position lists",
                        ));
                    }
                    l.single_position(x, v, axis, e.span)
                }
                Some(Range::Slice { lo, hi, .. }) => {
                    let lo = match lo {
                        Some(e) => l.position(e)?,
                        None => l.constant_value(Literal::Si64(0), span)?,
                    };
                    let hi = match hi {
                        Some(e) => l.position(e)?,
                        None => count(l)?,
                    };
                    Ok((lo, hi))
                }
            }
        };
        if !self.ty(x).is_matrix() {
            return Err(compile_error(span, "only matrices can be assigned through indexing"));
        }
        let y = match self.ty(y) {
            Type::Scalar(v) => {
                let t = Type::Matrix(MatrixType { vt: Some(v), rows: Some(1), cols: Some(1), repr: None });
                self.emit1(OpKind::Cast, vec![y], t, span)?
            }
            _ => y,
        };
        match (rows, cols) {
            (r, None) => {
                let (lo, hi) = bounds(self, r, 0)?;
                self.builtin1(Builtin::InsertRow, vec![x, y, lo, hi], span)
            }
            (None, c) => {
                let (lo, hi) = bounds(self, c, 1)?;
                self.builtin1(Builtin::InsertCol, vec![x, y, lo, hi], span)
            }
            (Some(r), Some(c)) => {
                // As DAPHNE: take the rows, insert the columns into them, put the rows back.
                let (rlo, rhi) = bounds(self, Some(r), 0)?;
                let (clo, chi) = bounds(self, Some(c), 1)?;
                let strip = self.builtin1(Builtin::SliceRow, vec![x, rlo, rhi], span)?;
                let strip = self.builtin1(Builtin::InsertCol, vec![strip, y, clo, chi], span)?;
                self.builtin1(Builtin::InsertRow, vec![x, strip, rlo, rhi], span)
            }
        }
    }

    fn matrix_literal(&mut self, elems: &[Expr], shape: Option<&MatrixShape>, span: Span) -> Result<Value> {
        if elems.is_empty() {
            return Err(parse_error(span, "empty matrix literals are not supported"));
        }
        let mut operands = Vec::new();
        for e in elems {
            let v = self.expr(e)?;
            if !matches!(self.ty(v), Type::Scalar(_) | Type::Unknown) {
                return Err(compile_error(e.span, "the elements of a matrix literal must be scalars"));
            }
            operands.push(v);
        }
        let n = elems.len() as u64;
        let dim = |l: &mut Self, e: &Option<Box<Expr>>| -> Result<Option<u64>> {
            let Some(e) = e else { return Ok(None) };
            let v = l.expr(e)?;
            match l.constant(v) {
                Some(Literal::Si64(d)) if d >= 0 => Ok(Some(d as u64)),
                Some(Literal::Ui64(d) | Literal::Index(d)) => Ok(Some(d)),
                _ => Err(compile_error(
                    e.span,
                    "the shape of a matrix literal must be given by non-negative integer constants",
                )),
            }
        };
        let (rows, cols) = match shape {
            None => (n, 1),
            Some(s) => {
                let (r, c) = (dim(self, &s.rows)?, dim(self, &s.cols)?);
                let bad = || {
                    let elements = count(n as usize, "element", "elements");
                    compile_error(s.span, format!("a matrix literal of {elements} cannot have this shape"))
                };
                match (r, c) {
                    (Some(r), Some(c)) if r.checked_mul(c) == Some(n) => (r, c),
                    (Some(r), None) if r > 0 && n.is_multiple_of(r) => (r, n / r),
                    (None, Some(c)) if c > 0 && n.is_multiple_of(c) => (n / c, c),
                    (None, None) => (n, 1),
                    _ => return Err(bad()),
                }
            }
        };
        let r = self.constant_value(Literal::Index(rows), span)?;
        let c = self.constant_value(Literal::Index(cols), span)?;
        operands.extend([r, c]);
        self.builtin1(Builtin::MatrixLiteral, operands, span)
    }

    /// `{["a", "b"], [1, 2.0], [3, 4.0]}`: labels, then rows; each column becomes a matrix of
    /// the most general value type of its cells, as in DAPHNE.
    fn frame_rows(&mut self, labels: &[Expr], rows: &[Vec<Expr>], span: Span) -> Result<Value> {
        if labels.is_empty() || rows.is_empty() {
            return Err(parse_error(span, "empty frame literals are not supported"));
        }
        let mut label_values = Vec::new();
        for l in labels {
            let v = self.expr(l)?;
            if self.ty(v) != Type::Scalar(ValueType::Str) {
                return Err(parse_error(l.span, "labels for frame literals must be strings"));
            }
            label_values.push(v);
        }
        let mut cells: Vec<Vec<Value>> = vec![Vec::new(); labels.len()];
        for row in rows {
            if row.len() != labels.len() {
                return Err(parse_error(span, "size of row does not match the amount of labels"));
            }
            for (j, e) in row.iter().enumerate() {
                cells[j].push(self.expr(e)?);
            }
        }
        let mut operands = Vec::new();
        for col in cells {
            let n = col.len() as u64;
            let mut ops = col;
            ops.push(self.constant_value(Literal::Index(n), span)?);
            ops.push(self.constant_value(Literal::Index(1), span)?);
            operands.push(self.builtin1(Builtin::MatrixLiteral, ops, span)?);
        }
        operands.extend(label_values);
        self.builtin1(Builtin::CreateFrame, operands, span)
    }

    /// A call of a user-defined function, specializing it for the argument types.
    fn call_udf(&mut self, name: &str, args: &[Arg], span: Span) -> Result<Vec<Value>> {
        let defs = self.namespaces[self.ns].get(name).cloned().unwrap_or_default();
        let mut values = Vec::new();
        let mut types = Vec::new();
        for a in args {
            let v = self.expr(&a.value)?;
            types.push(self.ty(v));
            values.push((a.name.as_ref().map(|n| n.name.clone()), v, a.value.span));
        }
        // The first definition whose parameters accept the arguments.
        let mut chosen = None;
        for fref in &defs {
            if let Some(ordered) = order_args(fref.def, &values)
                && fref.def.params.iter().zip(&ordered).all(|(p, &v)| {
                    let t = self.ty(v);
                    p.ty.as_ref().is_none_or(|d| param_accepts(&declared_type(&d.kind), &t))
                })
            {
                chosen = Some((*fref, ordered));
                break;
            }
        }
        let Some((fref, ordered)) = chosen else {
            let shown: Vec<String> = types.iter().map(ToString::to_string).collect();
            return Err(parse_error(
                span,
                format!("no definition of `{name}` accepts arguments of types ({})", shown.join(", ")),
            ));
        };
        let def = fref.def;
        let arg_types: Vec<Type> = def
            .params
            .iter()
            .zip(&ordered)
            .map(|(p, &v)| match &p.ty {
                Some(d) => {
                    let declared = declared_type(&d.kind);
                    match (&declared, self.ty(v)) {
                        (Type::Matrix(m), Type::Matrix(a)) if m.vt.is_none() => {
                            Type::Matrix(MatrixType { vt: a.vt, ..m.clone() })
                        }
                        _ => declared,
                    }
                }
                None => erase_dims(&self.ty(v)),
            })
            .collect();
        let (id, result_types) = self.specialization(name, fref, arg_types.clone(), span)?;
        let mut operands = Vec::new();
        for (&v, t) in ordered.iter().zip(&arg_types) {
            operands.push(self.cast_to(v, t, span)?);
        }
        let op = self.emit(OpKind::Call(id), operands, result_types, vec![], span)?;
        Ok(self.ctx().f.ops[op].results.clone())
    }

    /// The specialization of a definition for argument types, lowered on first use. An error
    /// in its body gets a note naming the call (at `call` in the current file) that lowered it.
    fn specialization(
        &mut self,
        name: &str,
        fref: crate::context::FuncRef<'a>,
        arg_types: Vec<Type>,
        call: Span,
    ) -> Result<(FuncId, Vec<Type>)> {
        let key: SpecKey = (fref.def as *const FuncDef as usize, arg_types);
        match self.specs.get(&key).or_else(|| self.in_progress.get(&key)) {
            Some(found) => Ok(found.clone()),
            None => self.specialize(name, fref, key).map_err(|e| {
                let file = &self.program.files[self.file];
                let at = file.line_col(call.start);
                e.in_file(fref.file)
                    .with_note(format!("in the call of `{name}` at {}:{}:{}", file.name, at.line, at.col))
            }),
        }
    }

    /// `map(X, f)`: `f` is the name of a function of one parameter, applied to every cell.
    pub(crate) fn map_call(&mut self, sig: &crate::builtins::BuiltinDef, args: &[Arg], span: Span) -> Result<Value> {
        let [x, f] = args else {
            return Err(parse_error(span, crate::builtins::arity_message(sig, args.len())));
        };
        let x = self.expr(&x.value)?;
        let ExprKind::Name(q) = &f.value.kind else {
            return Err(parse_error(f.value.span, "the second argument of `map` must be the name of a function"));
        };
        let name = q.text();
        let frefs = self.namespaces[self.ns].get(&name).cloned().unwrap_or_default();
        let elem = match self.ty(x) {
            Type::Matrix(m) => m.vt.map_or(Type::Unknown, Type::Scalar),
            other => return Err(compile_error(span, format!("`map` needs a matrix, not {other}"))),
        };
        let fref = frefs
            .iter()
            .find(|r| {
                r.def.params.len() == 1
                    && r.def.params[0].ty.as_ref().is_none_or(|d| param_accepts(&declared_type(&d.kind), &elem))
            })
            .copied()
            .ok_or_else(|| {
                let e = parse_error(f.value.span, format!("no function `{name}` of one parameter accepts {elem}"));
                // A name that no function has is likely misspelled.
                let own = self.namespaces[self.ns].keys().map(String::as_str);
                match crate::suggest::did_you_mean(&name, own).filter(|_| frefs.is_empty()) {
                    Some(help) => e.with_help(help),
                    None => e,
                }
            })?;
        let param = match &fref.def.params[0].ty {
            Some(d) => declared_type(&d.kind),
            None => elem,
        };
        let (id, results) = self.specialization(&name, fref, vec![param], span)?;
        let vt = match results.as_slice() {
            [Type::Scalar(v)] => Some(*v),
            [Type::Unknown] => None,
            _ => {
                return Err(compile_error(
                    span,
                    format!("the function `{name}` given to `map` must return one scalar"),
                ));
            }
        };
        let (rows, cols) = match self.ty(x) {
            Type::Matrix(m) => (m.rows, m.cols),
            _ => (None, None),
        };
        let t = Type::Matrix(MatrixType { vt, rows, cols, repr: None });
        self.emit1(OpKind::Map(id), vec![x], t, span)
    }

    /// Lowers one specialization of a UDF, in the namespace and file it was defined in.
    fn specialize(
        &mut self,
        name: &str,
        fref: crate::context::FuncRef<'a>,
        key: SpecKey,
    ) -> Result<(FuncId, Vec<Type>)> {
        let def = fref.def;
        for (i, p) in def.params.iter().enumerate() {
            if def.params[..i].iter().any(|q| q.name.name == p.name.name) {
                return Err(parse_error(
                    p.name.span,
                    format!("parameter `{}` of `{}` is declared twice", p.name.name, def.name.name),
                ));
            }
        }
        let id = FuncId(self.functions.len() as u32);
        self.functions.push(None);
        let declared: Option<Vec<Type>> =
            def.ret_types.as_ref().map(|ts| ts.iter().map(|t| declared_type(&t.kind)).collect());
        let assumed = declared.clone().unwrap_or_else(|| vec![Type::Unknown]);
        self.in_progress.insert(key.clone(), (id, assumed));
        let taken = |n: &str, fs: &[Option<Function>]| fs.iter().flatten().any(|f| f.name == n);
        let mut fname = name.to_owned();
        let mut k = 1;
        while taken(&fname, &self.functions) || self.stack.iter().any(|c| c.f.name == fname) {
            fname = format!("{name}.{k}");
            k += 1;
        }
        let mut f = Function::new(fname);
        let params: Vec<Value> = key.1.iter().map(|t| f.new_arg(t.clone())).collect();
        f.body.args = params.clone();
        let saved = (std::mem::replace(&mut self.loop_depth, 0), self.ns, self.file);
        (self.ns, self.file) = (fref.ns, fref.file);
        self.stack.push(FnCtx::new(f));
        for (p, &v) in def.params.iter().zip(&params) {
            self.define(&p.name.name, v, false);
        }
        let body: Vec<&Stmt> = def.body.iter().collect();
        let flow = self.block(&body);
        let result = flow.and_then(|flow| {
            let (values, span) = match flow {
                Flow::Returns(values, span) => (values, span),
                Flow::Falls => (Vec::new(), def.body_span),
            };
            let expected = declared.clone().unwrap_or_else(|| values.iter().map(|&v| self.ty(v)).collect());
            if values.len() != expected.len() || (declared.is_none() && values.len() != 1 && !values.is_empty()) {
                let name = &def.name.name;
                let returned = count(values.len(), "value", "values");
                return Err(parse_error(
                    span,
                    match &declared {
                        Some(_) => format!("`{name}` returns {returned}, but its signature declares {}", expected.len()),
                        None => format!(
                            "`{name}` returns {returned}, but a function without declared result types returns one"
                        ),
                    },
                ));
            }
            // As DAPHNE: a typed function must return exactly the declared types.
            for (i, (&v, t)) in values.iter().zip(&expected).enumerate() {
                let actual = self.ty(v);
                if !actual.compatible(t) {
                    return Err(parse_error(
                        span,
                        format!(
                            "function `{}` returns a different type for return value #{i} than specified in the definition ({actual} vs. {t})",
                            def.name.name
                        ),
                    ));
                }
            }
            self.emit(OpKind::Return, values, vec![], vec![], span)?;
            Ok(expected)
        });
        let file = self.file;
        (self.loop_depth, self.ns, self.file) = saved;
        let ctx = self.stack.pop();
        self.in_progress.remove(&key);
        let result_types = result.map_err(|e| e.in_file(file))?;
        let mut f = ctx.map(FnCtx::finish).ok_or_else(|| internal_error(def.name.span, "lost function"))?;
        f.result_types = result_types.clone();
        self.functions[id.0 as usize] = Some(f);
        self.specs.insert(key, (id, result_types.clone()));
        Ok((id, result_types))
    }
}

/// Arguments in parameter order: positional ones first, then named ones by name. `None` if
/// they do not fit the parameters.
fn order_args(def: &FuncDef, args: &[(Option<String>, Value, Span)]) -> Option<Vec<Value>> {
    if args.len() != def.params.len() {
        return None;
    }
    let mut slots: Vec<Option<Value>> = vec![None; def.params.len()];
    for (i, (name, v, _)) in args.iter().enumerate() {
        let at = match name {
            None => i,
            Some(n) => def.params.iter().position(|p| &p.name.name == n)?,
        };
        if slots[at].replace(*v).is_some() {
            return None;
        }
    }
    slots.into_iter().collect()
}

fn negate(lit: Literal) -> Literal {
    match lit {
        Literal::Si64(v) => Literal::Si64(v.wrapping_neg()),
        Literal::F64(b) => Literal::f64(-f64::from_bits(b)),
        Literal::F32(b) => Literal::f32(-f32::from_bits(b)),
        Literal::Ui64(v) => Literal::Si64((v as i64).wrapping_neg()),
        Literal::Index(v) => Literal::Si64((v as i64).wrapping_neg()),
        other => other,
    }
}
