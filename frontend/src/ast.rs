//! The abstract syntax tree of a DaphneDSL script. Every node carries the byte span of the
//! source text it came from; parentheses leave no node behind.

use crate::span::Span;

/// A whole script: its top-level statements.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

// Statements are few and short-lived; boxing the large variants would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    /// `expr;`
    Expr(Expr),
    /// `a = e;`, `X[1:3, ] = e;`, `q, r = f(x);`
    Assign {
        targets: Vec<AssignTarget>,
        value: Expr,
    },
    /// `{ ... }`
    Block(Vec<Stmt>),
    If {
        cond: Expr,
        then_branch: Box<Stmt>,
        else_branch: Option<Box<Stmt>>,
    },
    While {
        cond: Expr,
        body: Box<Stmt>,
    },
    /// `do body while (cond);`
    DoWhile {
        body: Box<Stmt>,
        cond: Expr,
    },
    /// `for (var in from:to[:step]) body`; `to` is inclusive.
    For {
        var: Ident,
        from: Expr,
        to: Expr,
        step: Option<Expr>,
        body: Box<Stmt>,
    },
    FuncDef(FuncDef),
    Return(Vec<Expr>),
    /// `import "path" [as "alias"];`
    Import {
        path: StrLit,
        alias: Option<StrLit>,
    },
    Break,
    Continue,
    /// A statement the parser could not make sense of; a diagnostic was reported for it.
    Error,
}

/// The left side of an assignment: a possibly qualified name, optionally indexed.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignTarget {
    pub name: QualName,
    pub index: Option<Indexing>,
    pub span: Span,
}

/// `def name(params) -> ret_types { body }`
#[derive(Debug, Clone, PartialEq)]
pub struct FuncDef {
    pub name: Ident,
    pub params: Vec<Param>,
    /// `None` when the function declares no result types (untyped results).
    pub ret_types: Option<Vec<TypeExpr>>,
    pub body: Vec<Stmt>,
    pub body_span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub span: Span,
}

/// A type in a function signature: `matrix`, `matrix<f32>`, `frame`, `si64`, ...
#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeKind,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeKind {
    /// A data type with an optional value type: `matrix<f64>`, `frame`.
    Data(DataType, Option<ValueType>),
    /// A value type alone denotes a scalar of that type.
    Scalar(ValueType),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    Matrix,
    Scalar,
    Frame,
}

impl DataType {
    pub fn name(self) -> &'static str {
        match self {
            DataType::Matrix => "matrix",
            DataType::Scalar => "scalar",
            DataType::Frame => "frame",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    F64,
    F32,
    Si64,
    Si32,
    Si8,
    Ui64,
    Ui32,
    Ui8,
    Str,
    Bool,
}

impl ValueType {
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
            ValueType::Str => "str",
            ValueType::Bool => "bool",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A name with optional import prefixes: `x`, `utils.x`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QualName {
    pub parts: Vec<Ident>,
    pub span: Span,
}

impl QualName {
    /// The dotted text of the name.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self.parts.iter().map(|p| p.name.as_str()).collect();
        parts.join(".")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
}

/// An integer literal's magnitude and suffix. Without a suffix (or with `l`) it is an si64;
/// `u` and `ull` make it a ui64, `z` a size (DAPHNE's `size_t`, unsigned 64 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntLit {
    pub value: u64,
    pub suffix: IntSuffix,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntSuffix {
    None,
    L,
    U,
    Ull,
    Z,
}

/// A floating-point literal; `single` for the `f` suffix (f32, value already rounded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloatLit {
    pub value: f64,
    pub single: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Int(IntLit),
    Float(FloatLit),
    Bool(bool),
    Str(String),
    /// `$name`
    ScriptArg(Ident),
    Name(QualName),
    /// `f(args)`, `ns.f(args)`, `f::kernel(args)`
    Call {
        callee: QualName,
        kernel: Option<Ident>,
        args: Vec<Arg>,
    },
    /// `as.matrix(x)`, `as.f32(x)`, `as.matrix<f32>(x)`
    Cast {
        target: TypeKind,
        arg: Box<Expr>,
    },
    /// `obj[rows, cols]`; each side absent means "all".
    Index {
        obj: Box<Expr>,
        rows: Option<Range>,
        cols: Option<Range>,
    },
    /// `obj[[rows, cols]]`: bit-vector filters.
    Filter {
        obj: Box<Expr>,
        rows: Option<Box<Expr>>,
        cols: Option<Box<Expr>>,
    },
    Unary {
        op: UnOp,
        arg: Box<Expr>,
    },
    Binary {
        op: BinOp,
        /// A kernel hint after `*`, `/`, `+`, `-`: `a +::myAdd b`.
        kernel: Option<Ident>,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `cond ? then : else`
    Ternary {
        cond: Box<Expr>,
        then_expr: Box<Expr>,
        else_expr: Box<Expr>,
    },
    /// `[e, ...]` with an optional `(rows, cols)` shape, either dimension may be absent.
    Matrix {
        elems: Vec<Expr>,
        shape: Option<MatrixShape>,
    },
    /// `{"a": col, "b": col}`
    FrameCols(Vec<(Expr, Expr)>),
    /// `{["a", "b"], [1, 2.0], ...}`: labels first, then rows.
    FrameRows {
        labels: Vec<Expr>,
        rows: Vec<Vec<Expr>>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct MatrixShape {
    pub rows: Option<Box<Expr>>,
    pub cols: Option<Box<Expr>>,
    pub span: Span,
}

/// One side of an indexing: a single expression (a position, a position list, ...) or a
/// `lo:hi` range with the upper bound exclusive and either bound optional.
#[derive(Debug, Clone, PartialEq)]
pub enum Range {
    Single(Box<Expr>),
    Slice { lo: Option<Box<Expr>>, hi: Option<Box<Expr>>, span: Span },
}

/// Indexing on the left of an assignment: `X[rows, cols] = ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Indexing {
    pub rows: Option<Range>,
    pub cols: Option<Range>,
    pub span: Span,
}

/// A call argument, optionally named: `f(x, axis = 0)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnOp {
    Plus,
    Neg,
    Not,
}

impl UnOp {
    pub fn symbol(self) -> &'static str {
        match self {
            UnOp::Plus => "+",
            UnOp::Neg => "-",
            UnOp::Not => "!",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    MatMul,
    Pow,
    Mod,
    Mul,
    Div,
    Add,
    Sub,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::MatMul => "@",
            BinOp::Pow => "^",
            BinOp::Mod => "%",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "&&",
            BinOp::Or => "||",
        }
    }
}

/// Appends the expressions of one side of an indexing.
fn range_exprs<'a>(r: &'a Option<Range>, out: &mut Vec<&'a Expr>) {
    match r {
        None => {}
        Some(Range::Single(e)) => out.push(e),
        Some(Range::Slice { lo, hi, .. }) => out.extend(lo.iter().chain(hi).map(|b| &**b)),
    }
}

impl Expr {
    /// The direct sub-expressions, in source order.
    pub fn children(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        match &self.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Bool(_)
            | ExprKind::Str(_)
            | ExprKind::ScriptArg(_)
            | ExprKind::Name(_) => {}
            ExprKind::Call { args, .. } => out.extend(args.iter().map(|a| &a.value)),
            ExprKind::Cast { arg, .. } | ExprKind::Unary { arg, .. } => out.push(arg),
            ExprKind::Index { obj, rows, cols } => {
                out.push(obj);
                range_exprs(rows, &mut out);
                range_exprs(cols, &mut out);
            }
            ExprKind::Filter { obj, rows, cols } => {
                out.push(obj);
                out.extend(rows.iter().chain(cols).map(|b| &**b));
            }
            ExprKind::Binary { lhs, rhs, .. } => out.extend([&**lhs, &**rhs]),
            ExprKind::Ternary { cond, then_expr, else_expr } => out.extend([&**cond, &**then_expr, &**else_expr]),
            ExprKind::Matrix { elems, shape } => {
                out.extend(elems);
                if let Some(s) = shape {
                    out.extend(s.rows.iter().chain(&s.cols).map(|b| &**b));
                }
            }
            ExprKind::FrameCols(pairs) => pairs.iter().for_each(|(l, c)| out.extend([l, c])),
            ExprKind::FrameRows { labels, rows } => {
                out.extend(labels);
                rows.iter().for_each(|r| out.extend(r));
            }
        }
        out
    }
}

impl Stmt {
    /// The direct sub-statements and expressions, in source order.
    pub fn children(&self) -> (Vec<&Stmt>, Vec<&Expr>) {
        let (mut stmts, mut exprs) = (Vec::new(), Vec::new());
        match &self.kind {
            StmtKind::Expr(e) => exprs.push(e),
            StmtKind::Assign { targets, value } => {
                for t in targets {
                    if let Some(ix) = &t.index {
                        range_exprs(&ix.rows, &mut exprs);
                        range_exprs(&ix.cols, &mut exprs);
                    }
                }
                exprs.push(value);
            }
            StmtKind::Block(body) => stmts.extend(body),
            StmtKind::If { cond, then_branch, else_branch } => {
                exprs.push(cond);
                stmts.push(&**then_branch);
                stmts.extend(else_branch.as_deref());
            }
            StmtKind::While { cond, body } | StmtKind::DoWhile { body, cond } => {
                exprs.push(cond);
                stmts.push(body);
            }
            StmtKind::For { from, to, step, body, .. } => {
                exprs.extend([from, to]);
                exprs.extend(step);
                stmts.push(body);
            }
            StmtKind::FuncDef(f) => stmts.extend(&f.body),
            StmtKind::Return(values) => exprs.extend(values),
            StmtKind::Import { .. } | StmtKind::Break | StmtKind::Continue | StmtKind::Error => {}
        }
        (stmts, exprs)
    }
}

impl Script {
    /// The deepest nesting of statements and expressions, computed without recursion so that
    /// it is safe on any input.
    pub fn depth(&self) -> usize {
        enum Node<'a> {
            Stmt(&'a Stmt),
            Expr(&'a Expr),
        }
        let mut stack: Vec<(Node, usize)> = self.stmts.iter().map(|s| (Node::Stmt(s), 1)).collect();
        let mut max = 0;
        while let Some((node, depth)) = stack.pop() {
            max = max.max(depth);
            match node {
                Node::Stmt(s) => {
                    let (stmts, exprs) = s.children();
                    stack.extend(stmts.into_iter().map(|s| (Node::Stmt(s), depth + 1)));
                    stack.extend(exprs.into_iter().map(|e| (Node::Expr(e), depth + 1)));
                }
                Node::Expr(e) => stack.extend(e.children().into_iter().map(|e| (Node::Expr(e), depth + 1))),
            }
        }
        max
    }
}
