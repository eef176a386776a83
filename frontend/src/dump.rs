//! Readable text forms of tokens and ASTs, with `line:col` spans, as `daphnec --emit` prints
//! them and the snapshot tests record them.
//!
//! Each AST node is one line, `role: Kind detail @start-end`, children indented by two spaces.

use std::fmt::Write;

use crate::ast::*;
use crate::parser::Spanned;
use crate::span::{SourceFile, Span};
use crate::token::Tok;

/// One line per token: `line:col-line:col  Kind text`.
pub fn tokens(tokens: &[Spanned], file: &SourceFile) -> String {
    let mut out = String::new();
    for (start, tok, end) in tokens {
        let what = match tok {
            Tok::Int(i) => format!("Int {}", int_text(i)),
            Tok::Float(f) => format!("Float {}", float_text(f)),
            Tok::Str(s) => format!("Str {s:?}"),
            Tok::Ident(name) => format!("Ident {name}"),
            Tok::DataType(d) => format!("DataType {}", d.name()),
            Tok::ValueType(v) => format!("ValueType {}", v.name()),
            other => format!("{:?} `{}`", other, other.text()),
        };
        let _ = writeln!(out, "{}  {what}", span_text(file, Span::new(*start, *end)));
    }
    out
}

/// The whole script as an indented tree.
pub fn ast(script: &Script, file: &SourceFile) -> String {
    let mut d = Dumper { file, out: String::new(), depth: 0 };
    d.line("", "Script", script.span);
    d.nested(|d| {
        for s in &script.stmts {
            d.stmt("", s);
        }
    });
    d.out
}

fn span_text(file: &SourceFile, span: Span) -> String {
    format!("{}-{}", file.line_col(span.start), file.line_col(span.end))
}

fn int_text(i: &IntLit) -> String {
    let suffix = match i.suffix {
        IntSuffix::None => "",
        IntSuffix::L => "l",
        IntSuffix::U => "u",
        IntSuffix::Ull => "ull",
        IntSuffix::Z => "z",
    };
    format!("{}{suffix}", i.value)
}

fn float_text(f: &FloatLit) -> String {
    // `{:?}` keeps a decimal point or exponent, so floats never read as integers.
    if f.single { format!("{:?}f", f.value as f32) } else { format!("{:?}", f.value) }
}

fn type_text(t: &TypeKind) -> String {
    match t {
        TypeKind::Data(d, Some(v)) => format!("{}<{}>", d.name(), v.name()),
        TypeKind::Data(d, None) => d.name().to_owned(),
        TypeKind::Scalar(v) => v.name().to_owned(),
    }
}

struct Dumper<'a> {
    file: &'a SourceFile,
    out: String,
    depth: usize,
}

impl Dumper<'_> {
    fn line(&mut self, role: &str, what: &str, span: Span) {
        let indent = "  ".repeat(self.depth);
        let role = if role.is_empty() { String::new() } else { format!("{role}: ") };
        let _ = writeln!(self.out, "{indent}{role}{what} @{}", span_text(self.file, span));
    }

    fn nested(&mut self, f: impl FnOnce(&mut Self)) {
        self.depth += 1;
        f(self);
        self.depth -= 1;
    }

    fn stmt(&mut self, role: &str, s: &Stmt) {
        match &s.kind {
            StmtKind::Expr(e) => {
                self.line(role, "ExprStmt", s.span);
                self.nested(|d| d.expr("", e));
            }
            StmtKind::Assign { targets, value } => {
                self.line(role, "Assign", s.span);
                self.nested(|d| {
                    for t in targets {
                        d.line("target", &format!("Target {}", t.name.text()), t.span);
                        if let Some(ix) = &t.index {
                            d.nested(|d| d.indexing(ix.rows.as_ref(), ix.cols.as_ref()));
                        }
                    }
                    d.expr("value", value);
                });
            }
            StmtKind::Block(stmts) => {
                self.line(role, "Block", s.span);
                self.nested(|d| stmts.iter().for_each(|s| d.stmt("", s)));
            }
            StmtKind::If { cond, then_branch, else_branch } => {
                self.line(role, "If", s.span);
                self.nested(|d| {
                    d.expr("cond", cond);
                    d.stmt("then", then_branch);
                    if let Some(e) = else_branch {
                        d.stmt("else", e);
                    }
                });
            }
            StmtKind::While { cond, body } => {
                self.line(role, "While", s.span);
                self.nested(|d| {
                    d.expr("cond", cond);
                    d.stmt("body", body);
                });
            }
            StmtKind::DoWhile { body, cond } => {
                self.line(role, "DoWhile", s.span);
                self.nested(|d| {
                    d.stmt("body", body);
                    d.expr("cond", cond);
                });
            }
            StmtKind::For { var, from, to, step, body } => {
                self.line(role, &format!("For {}", var.name), s.span);
                self.nested(|d| {
                    d.expr("from", from);
                    d.expr("to", to);
                    if let Some(step) = step {
                        d.expr("step", step);
                    }
                    d.stmt("body", body);
                });
            }
            StmtKind::FuncDef(f) => {
                self.line(role, &format!("FuncDef {}", f.name.name), s.span);
                self.nested(|d| {
                    for p in &f.params {
                        let ty = p.ty.as_ref().map_or("untyped".to_owned(), |t| type_text(&t.kind));
                        d.line("param", &format!("Param {}: {ty}", p.name.name), p.span);
                    }
                    if let Some(rets) = &f.ret_types {
                        for r in rets {
                            d.line("returns", &type_text(&r.kind), r.span);
                        }
                    }
                    d.line("body", "Block", f.body_span);
                    d.nested(|d| f.body.iter().for_each(|s| d.stmt("", s)));
                });
            }
            StmtKind::Return(values) => {
                self.line(role, "Return", s.span);
                self.nested(|d| values.iter().for_each(|v| d.expr("", v)));
            }
            StmtKind::Import { path, alias } => {
                let what = match alias {
                    Some(a) => format!("Import {:?} as {:?}", path.value, a.value),
                    None => format!("Import {:?}", path.value),
                };
                self.line(role, &what, s.span);
            }
            StmtKind::Break => self.line(role, "Break", s.span),
            StmtKind::Continue => self.line(role, "Continue", s.span),
            StmtKind::Error => self.line(role, "ErrorStmt", s.span),
        }
    }

    fn indexing(&mut self, rows: Option<&Range>, cols: Option<&Range>) {
        for (role, r) in [("rows", rows), ("cols", cols)] {
            match r {
                None => {}
                Some(Range::Single(e)) => self.expr(role, e),
                Some(Range::Slice { lo, hi, span }) => {
                    self.line(role, "Slice", *span);
                    self.nested(|d| {
                        if let Some(lo) = lo {
                            d.expr("lo", lo);
                        }
                        if let Some(hi) = hi {
                            d.expr("hi", hi);
                        }
                    });
                }
            }
        }
    }

    fn expr(&mut self, role: &str, e: &Expr) {
        match &e.kind {
            ExprKind::Int(i) => self.line(role, &format!("Int {}", int_text(i)), e.span),
            ExprKind::Float(f) => self.line(role, &format!("Float {}", float_text(f)), e.span),
            ExprKind::Bool(b) => self.line(role, &format!("Bool {b}"), e.span),
            ExprKind::Str(s) => self.line(role, &format!("Str {s:?}"), e.span),
            ExprKind::ScriptArg(n) => self.line(role, &format!("ScriptArg ${}", n.name), e.span),
            ExprKind::Name(n) => self.line(role, &format!("Name {}", n.text()), e.span),
            ExprKind::Call { callee, kernel, args } => {
                let kernel = kernel.as_ref().map_or(String::new(), |k| format!(" ::{}", k.name));
                self.line(role, &format!("Call {}{kernel}", callee.text()), e.span);
                self.nested(|d| {
                    for a in args {
                        match &a.name {
                            Some(n) => d.expr(&format!("arg {}", n.name), &a.value),
                            None => d.expr("arg", &a.value),
                        }
                    }
                });
            }
            ExprKind::Cast { target, arg } => {
                self.line(role, &format!("Cast as.{}", type_text(target)), e.span);
                self.nested(|d| d.expr("", arg));
            }
            ExprKind::Index { obj, rows, cols } => {
                self.line(role, "Index", e.span);
                self.nested(|d| {
                    d.expr("obj", obj);
                    d.indexing(rows.as_ref(), cols.as_ref());
                });
            }
            ExprKind::Filter { obj, rows, cols } => {
                self.line(role, "Filter", e.span);
                self.nested(|d| {
                    d.expr("obj", obj);
                    if let Some(r) = rows {
                        d.expr("rows", r);
                    }
                    if let Some(c) = cols {
                        d.expr("cols", c);
                    }
                });
            }
            ExprKind::Unary { op, arg } => {
                self.line(role, &format!("Unary {}", op.symbol()), e.span);
                self.nested(|d| d.expr("", arg));
            }
            ExprKind::Binary { op, kernel, lhs, rhs } => {
                let kernel = kernel.as_ref().map_or(String::new(), |k| format!(" ::{}", k.name));
                self.line(role, &format!("Binary {}{kernel}", op.symbol()), e.span);
                self.nested(|d| {
                    d.expr("", lhs);
                    d.expr("", rhs);
                });
            }
            ExprKind::Ternary { cond, then_expr, else_expr } => {
                self.line(role, "Ternary", e.span);
                self.nested(|d| {
                    d.expr("cond", cond);
                    d.expr("then", then_expr);
                    d.expr("else", else_expr);
                });
            }
            ExprKind::Matrix { elems, shape } => {
                self.line(role, &format!("Matrix [{}]", elems.len()), e.span);
                self.nested(|d| {
                    elems.iter().for_each(|x| d.expr("", x));
                    if let Some(s) = shape {
                        d.line("shape", "Shape", s.span);
                        d.nested(|d| {
                            if let Some(r) = &s.rows {
                                d.expr("rows", r);
                            }
                            if let Some(c) = &s.cols {
                                d.expr("cols", c);
                            }
                        });
                    }
                });
            }
            ExprKind::FrameCols(pairs) => {
                self.line(role, &format!("FrameCols [{}]", pairs.len()), e.span);
                self.nested(|d| {
                    for (label, col) in pairs {
                        d.expr("label", label);
                        d.expr("column", col);
                    }
                });
            }
            ExprKind::FrameRows { labels, rows } => {
                self.line(role, &format!("FrameRows [{}x{}]", rows.len(), labels.len()), e.span);
                self.nested(|d| {
                    labels.iter().for_each(|l| d.expr("label", l));
                    for (i, row) in rows.iter().enumerate() {
                        row.iter().for_each(|x| d.expr(&format!("row {i}"), x));
                    }
                });
            }
        }
    }
}
