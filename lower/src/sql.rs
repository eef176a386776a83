//! `registerView(name, frame)` and `sql(query)`: SQL over frames, lowered while compiling into
//! the relational ops of the op table, as DAPHNE's SQL visitor does. The query is a constant
//! string parsed with `sqlparser`; every name is resolved against the columns the compiler
//! knows of the views, so an unknown view or column, an ambiguous column, a comparison of a
//! string with a number and an unsupported construct are compile errors pointing into the
//! query's text in the script.
//!
//! A query becomes, in SQL's logical order: a scan of each view (`setColLabelsPrefix`: its
//! columns become `view.column`), joins (`innerJoin`, a hash join on one equality of the
//! `ON` condition; `cartesian` without one; the other conditions filter), `WHERE` (a mask of
//! elementwise ops on the columns, then `X[[mask, ]]`), `GROUP BY` and aggregates
//! (`groupAggregate`, with `HAVING` filtering its result), the projection (`createFrame` of
//! the selected columns and expressions), `DISTINCT` (`groupAggregate` of every column),
//! `ORDER BY` (`order`) and `LIMIT`/`OFFSET` (`X[lo:hi, ]`). Labels are DAPHNE's: a column
//! keeps `view.column`, an expression or aggregate is labelled with its text without blanks
//! (`sum(f.b)`, `1*2.5`), `AS` renames.

#![allow(clippy::result_large_err)]

use daphne_frontend::Span;
use daphne_ir::{Builtin, FrameType, Literal, OpKind, Type, Value, ValueType};
use sqlparser::ast as sq;
use sqlparser::ast::Spanned;

use crate::context::{LowerError, Lowerer, Result, compile_error, prefix};

/// The variable name a view is kept under (no DaphneDSL identifier has a colon, so views and
/// variables never clash; a view is scoped like a variable).
fn view_var(name: &str) -> String {
    format!("view:{name}")
}

/// Where the query is in the script: positions in the SQL text map to script spans when the
/// query is a string literal written without escapes; otherwise every error points at the
/// `sql` call's argument.
pub(crate) struct SqlText<'q> {
    text: &'q str,
    /// The script offset of the query's first character.
    base: Option<usize>,
    whole: Span,
    /// The end positions (line, column) of `GROUP BY *` wildcards (`group_by_wildcards`).
    wildcards: Vec<(u64, u64)>,
}

impl<'q> SqlText<'q> {
    /// `literal`: the span of the argument; `source`: the script's text.
    pub(crate) fn new(text: &'q str, literal: Span, source: &str) -> SqlText<'q> {
        // A literal `"..."` whose body is the query byte for byte.
        let raw = source.get(literal.start..literal.end).unwrap_or("");
        let base =
            (raw.len() == text.len() + 2 && raw.get(1..raw.len() - 1) == Some(text)).then_some(literal.start + 1);
        SqlText { text, base, whole: literal, wildcards: Vec::new() }
    }

    /// The byte offset of a line and column (1-based, columns in characters) of the query.
    fn offset(&self, line: u64, column: u64) -> Option<usize> {
        let line_start: usize =
            if line <= 1 { 0 } else { self.text.match_indices('\n').nth(usize::try_from(line - 2).ok()?)?.0 + 1 };
        let rest = &self.text[line_start..];
        let col = usize::try_from(column.checked_sub(1)?).ok()?;
        let within = rest.char_indices().nth(col).map_or(rest.len(), |(i, _)| i);
        Some(line_start + within)
    }

    /// The script span of a span of the query.
    fn span(&self, s: sqlparser::tokenizer::Span) -> Span {
        let (Some(base), true) = (self.base, s.start.line > 0) else { return self.whole };
        match (self.offset(s.start.line, s.start.column), self.offset(s.end.line, s.end.column)) {
            (Some(a), Some(b)) if b >= a => Span::new(base + a, base + b.max(a + 1)),
            (Some(a), _) => Span::new(base + a, base + a + 1),
            _ => self.whole,
        }
    }

    fn at(&self, node: &impl Spanned) -> Span {
        self.span(node.span())
    }
}

/// An expression's text and the label of the column that holds its value.
type Named = (String, String);

/// A column of the frame a query works on: its label and value type.
#[derive(Debug, Clone)]
struct Col {
    label: String,
    vt: ValueType,
}

impl Col {
    /// The view part of `view.column`, if any.
    fn table(&self) -> Option<&str> {
        self.label.split_once('.').map(|(t, _)| t)
    }

    fn name(&self) -> &str {
        self.label.split_once('.').map_or(&self.label, |(_, n)| n)
    }
}

/// A frame being built by the query and the columns it has.
#[derive(Debug, Clone)]
struct Rel {
    frame: Value,
    cols: Vec<Col>,
    /// The right sides of LEFT JOINs whose columns the frame has.
    outer: Vec<Outer>,
}

/// The right side of a LEFT JOIN: in a row without a match its columns are missing (NaN or
/// the empty string, where SQL has NULL), which the frame's hidden column `matched` (si64,
/// 1 where the row had a match; not among `Rel::cols`) tells. It follows the rows through
/// filters, joins and sorts as any column does.
#[derive(Debug, Clone)]
struct Outer {
    /// The labels of the columns that may be missing.
    labels: Vec<String>,
    /// The label of the hidden column.
    matched: String,
}

impl Rel {
    /// The LEFT JOIN that may leave column `c` missing.
    fn outer_of(&self, c: &Col) -> Option<&Outer> {
        self.outer.iter().find(|o| o.labels.contains(&c.label))
    }

    /// An error if a LEFT JOIN may leave column `c` missing: `at` uses it other than by selecting
    /// it or testing it with IS [NOT] NULL.
    fn present(&self, c: &Col, at: Span) -> Result<()> {
        match self.outer_of(c) {
            None => Ok(()),
            Some(_) => Err(compile_error(
                at,
                format!(
                    "`{}` may be missing after LEFT JOIN, and daphne-rs frames have no NULL; only selecting it and IS [NOT] NULL are supported",
                    c.label
                ),
            )
            .with_note("a row without a match holds NaN (numbers) or \"\" (strings) there, which are not NULL")
            .with_help(format!("test for a match with `{} IS NOT NULL`", c.label))),
        }
    }
}

/// What names in an expression mean: the frame's columns and, after `GROUP BY`, the
/// aggregates computed for each call (by its text) as columns of the grouped frame.
struct Scope<'r> {
    rel: &'r Rel,
    /// `None`: aggregates are not allowed here (`WHERE`, `ON`, `GROUP BY`).
    aggregates: Option<&'r [(String, String)]>,
    /// After `GROUP BY`: the columns before grouping, which may not be named unless grouped
    /// (for the error saying so).
    ungrouped: &'r [Col],
    /// After `GROUP BY` of expressions: each expression's text and its key column's label.
    grouped: &'r [(String, String)],
}

/// The aggregation functions SQL has, as `groupAggregate` names them.
fn aggregate_name(f: &sq::Function) -> Option<String> {
    let name = f.name.to_string().to_ascii_lowercase();
    daphne_ir::infer::AGGREGATES.contains(&name.as_str()).then_some(name)
}

/// The single argument of a function call.
fn single_arg(f: &sq::Function) -> Option<&sq::FunctionArgExpr> {
    match &f.args {
        sq::FunctionArguments::List(l) if l.args.len() == 1 && l.duplicate_treatment.is_none() => match &l.args[0] {
            sq::FunctionArg::Unnamed(a) => Some(a),
            _ => None,
        },
        _ => None,
    }
}

/// DAPHNE's label of an expression: its text without blanks (ANTLR's `getText`), function
/// names as written.
fn label_of(e: &sq::Expr) -> String {
    use sq::Expr as E;
    match e {
        E::Identifier(i) => i.value.clone(),
        E::CompoundIdentifier(parts) => parts.iter().map(|p| p.value.as_str()).collect::<Vec<_>>().join("."),
        E::Value(v) => match &v.value {
            sq::Value::SingleQuotedString(s) => format!("'{s}'"),
            sq::Value::DoubleQuotedString(s) => format!("\"{s}\""),
            other => other.to_string(),
        },
        E::BinaryOp { left, op, right } => format!("{}{op}{}", label_of(left), label_of(right)),
        E::UnaryOp { op, expr } => format!("{op}{}", label_of(expr)),
        E::Nested(inner) => format!("({})", label_of(inner)),
        E::Function(f) => {
            let arg = match single_arg(f) {
                Some(sq::FunctionArgExpr::Expr(a)) => label_of(a),
                Some(sq::FunctionArgExpr::Wildcard) => "*".to_owned(),
                _ => f.args.to_string(),
            };
            format!("{}({arg})", f.name)
        }
        other => other.to_string().split_whitespace().collect(),
    }
}

/// A comparison or arithmetic operator's op.
fn binary_op(op: &sq::BinaryOperator) -> Option<Builtin> {
    use sq::BinaryOperator as O;
    Some(match op {
        O::Plus => Builtin::EwAdd,
        O::Minus => Builtin::EwSub,
        O::Multiply => Builtin::EwMul,
        O::Divide => Builtin::EwDiv,
        O::Modulo => Builtin::EwMod,
        O::Eq => Builtin::EwEq,
        O::NotEq => Builtin::EwNe,
        O::Lt => Builtin::EwLt,
        O::LtEq => Builtin::EwLe,
        O::Gt => Builtin::EwGt,
        O::GtEq => Builtin::EwGe,
        O::And => Builtin::EwAnd,
        O::Or => Builtin::EwOr,
        _ => return None,
    })
}

fn is_comparison(op: Builtin) -> bool {
    matches!(op, Builtin::EwEq | Builtin::EwNe | Builtin::EwLt | Builtin::EwLe | Builtin::EwGt | Builtin::EwGe)
}

/// Splits `a AND b AND c` into its conjuncts.
fn conjuncts(e: &sq::Expr) -> Vec<&sq::Expr> {
    match e {
        sq::Expr::BinaryOp { left, op: sq::BinaryOperator::And, right } => {
            let mut out = conjuncts(left);
            out.extend(conjuncts(right));
            out
        }
        sq::Expr::Nested(inner) if matches!(**inner, sq::Expr::BinaryOp { op: sq::BinaryOperator::And, .. }) => {
            conjuncts(inner)
        }
        other => vec![other],
    }
}

/// The expressions directly inside `e`, for the forms `sql_expr` lowers (a function's
/// arguments among them).
fn children(e: &sq::Expr) -> Vec<&sq::Expr> {
    use sq::Expr as E;
    match e {
        E::BinaryOp { left, right, .. } => vec![&**left, &**right],
        E::UnaryOp { expr, .. } | E::Nested(expr) | E::IsNull(expr) | E::IsNotNull(expr) => vec![&**expr],
        E::Between { expr, low, high, .. } => vec![&**expr, &**low, &**high],
        E::In { expr, target: sq::InTarget::List(list), .. } => std::iter::once(&**expr).chain(list).collect(),
        E::Like { expr, pattern, .. } => vec![&**expr, &**pattern],
        E::Case { operand, conditions, else_result, .. } => operand
            .iter()
            .chain(else_result)
            .map(|x| &**x)
            .chain(conditions.iter().flat_map(|w| [&w.condition, &w.result]))
            .collect(),
        E::Function(f) => match &f.args {
            sq::FunctionArguments::List(l) => l
                .args
                .iter()
                .filter_map(|a| match a {
                    sq::FunctionArg::Unnamed(sq::FunctionArgExpr::Expr(x)) => Some(x),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// The aggregate calls in an expression, in order.
fn aggregate_calls<'e>(e: &'e sq::Expr, out: &mut Vec<&'e sq::Function>) {
    match e {
        sq::Expr::Function(f) if aggregate_name(f).is_some() => out.push(f),
        _ => children(e).into_iter().for_each(|x| aggregate_calls(x, out)),
    }
}

/// The column references in an expression, in order.
fn column_refs<'e>(e: &'e sq::Expr, out: &mut Vec<&'e sq::Expr>) {
    match e {
        sq::Expr::Identifier(_) | sq::Expr::CompoundIdentifier(_) => out.push(e),
        _ => children(e).into_iter().for_each(|x| column_refs(x, out)),
    }
}

/// An expression without the parentheses around it.
fn unnest(e: &sq::Expr) -> &sq::Expr {
    match e {
        sq::Expr::Nested(inner) => unnest(inner),
        other => other,
    }
}

/// The columns a frame type lists, when all are known with labels.
fn known_columns(ty: &Type) -> Option<Vec<Col>> {
    match ty {
        Type::Frame(FrameType { columns: Some(cs), .. }) => {
            cs.iter().map(|c| Some(Col { label: c.label.clone()?, vt: c.vt })).collect()
        }
        _ => None,
    }
}

/// The name a column reference writes (`a`, `f.a`), `None` for another expression.
fn column_name(e: &sq::Expr) -> Option<String> {
    matches!(e, sq::Expr::Identifier(_) | sq::Expr::CompoundIdentifier(_)).then(|| label_of(e))
}

/// The columns a column reference may denote: `f.a` the column labelled so, `a` the column
/// labelled `a` or `view.a`.
fn candidates<'c>(e: &sq::Expr, cols: &'c [Col]) -> Vec<&'c Col> {
    let Some(name) = column_name(e) else { return Vec::new() };
    let qualified = matches!(e, sq::Expr::CompoundIdentifier(p) if p.len() > 1);
    cols.iter().filter(|c| c.label == name || (!qualified && c.name() == name)).collect()
}

/// The items of ORDER BY, the forms `sql` supports.
fn order_items<'o>(sql: &SqlText, o: &'o sq::OrderBy) -> Result<&'o [sq::OrderByExpr]> {
    let sq::OrderByKind::Expressions(items) = &o.kind else {
        return Err(unsupported(sql.at(o), "ORDER BY ALL"));
    };
    if o.interpolate.is_some() {
        return Err(unsupported(sql.at(o), "INTERPOLATE"));
    }
    for item in items {
        if item.options.nulls_first.is_some()
            || matches!(item.options.sort, Some(sq::OrderBySort::Using(_)))
            || item.with_fill.is_some()
        {
            return Err(unsupported(sql.at(item), "NULLS FIRST/LAST, USING and WITH FILL"));
        }
    }
    Ok(items)
}

/// An error of the query where its text cannot locate one more precisely.
fn unsupported(at: Span, what: &str) -> LowerError {
    compile_error(at, format!("unsupported SQL: {what}"))
        .with_note("see the README's SQL section for what `sql` supports")
}

impl Lowerer<'_> {
    /// `registerView(name, frame)`: the frame is known to later `sql` calls of this scope
    /// under the constant name.
    pub(crate) fn register_view(&mut self, name: Value, name_span: Span, frame: Value, frame_span: Span) -> Result<()> {
        let Some(Literal::Str(name)) = self.constant(name) else {
            return Err(compile_error(name_span, "`registerView` needs a constant string as the view's name")
                .with_note("`sql` queries are compiled with the script, so views are named while compiling"));
        };
        match self.ty(frame) {
            Type::Frame(_) => {}
            other => {
                return Err(compile_error(frame_span, format!("`registerView` needs a frame, not {other}")));
            }
        }
        self.define(&view_var(&name), frame, false);
        Ok(())
    }

    /// The value of a constant string: a constant, or `+` of constant strings (folded here,
    /// as DAPHNE folds them before its SQL visitor runs).
    pub(crate) fn constant_string(&mut self, v: Value) -> Option<String> {
        if let Some(Literal::Str(s)) = self.constant(v) {
            return Some(s);
        }
        let f = &self.ctx().f;
        let daphne_ir::ValueDef::Result(op, _) = f.values[v].def else { return None };
        let op = &f.ops[op];
        if !matches!(op.kind, OpKind::Builtin(Builtin::EwAdd | Builtin::EwConcat)) {
            return None;
        }
        let (a, b) = (op.operands[0], op.operands[1]);
        Some(self.constant_string(a)? + &self.constant_string(b)?)
    }

    /// `sql(query)`: the result frame of the query.
    pub(crate) fn sql(&mut self, query: Value, at: Span) -> Result<Value> {
        let Some(text) = self.constant_string(query) else {
            return Err(compile_error(at, "the query of `sql` must be a constant string")
                .with_note(
                    "queries are compiled with the script (as in DAPHNE), so the text must be known while compiling",
                )
                .with_help("write the query as a string literal, or assign one to a variable first"));
        };
        let source = self.program.files[self.file].text.clone();
        let mut sql = SqlText::new(&text, at, &source);
        let (parsed, wildcards) = group_by_wildcards(&text);
        sql.wildcards = wildcards;
        // sqlparser builds a chain of operators as a tree as deep as the chain, which its
        // own walks (and ours) recurse through: a bound on operators bounds the stack.
        if operators(&text) > MAX_OPERATORS {
            return Err(unsupported(at, &format!("a query of more than {MAX_OPERATORS} operators"))
                .with_help("split the query, or write a long OR of equalities as IN (...)"));
        }
        self.query(&sql, &parsed)
    }

    /// `parsed`: the query's text as the parser reads it (`group_by_wildcards`).
    fn query(&mut self, sql: &SqlText, parsed: &str) -> Result<Value> {
        let dialect = sqlparser::dialect::MySqlDialect {};
        let statements = sqlparser::parser::Parser::parse_sql(&dialect, parsed).map_err(|e| parse_failure(sql, e))?;
        let query = match statements.as_slice() {
            [sq::Statement::Query(q)] => q,
            [] => return Err(compile_error(sql.whole, "the query of `sql` is empty")),
            [other] => return Err(unsupported(sql.at(other), "only SELECT queries are supported")),
            [_, second, ..] => return Err(unsupported(sql.at(second), "`sql` takes one query")),
        };
        if query.with.is_some() || query.fetch.is_some() || !query.locks.is_empty() {
            return Err(unsupported(sql.at(&**query), "WITH, FETCH and locking clauses"));
        }
        let select = match &*query.body {
            sq::SetExpr::Select(s) => s,
            other => return Err(unsupported(sql.at(other), "only a plain SELECT (no UNION, VALUES or subquery)")),
        };
        let mut out = self.select(sql, select, query.order_by.as_ref())?;
        if let Some(limit) = &query.limit_clause {
            out = self.limit(sql, out, limit)?;
        }
        Ok(out.frame)
    }

    /// A SELECT with its ORDER BY (which may name columns it does not select).
    fn select(&mut self, sql: &SqlText, s: &sq::Select, order: Option<&sq::OrderBy>) -> Result<Rel> {
        let whole = sql.at(s);
        if s.top.is_some()
            || s.into.is_some()
            || !s.lateral_views.is_empty()
            || s.prewhere.is_some()
            || !s.cluster_by.is_empty()
            || !s.distribute_by.is_empty()
            || !s.sort_by.is_empty()
            || !s.named_window.is_empty()
            || s.qualify.is_some()
            || !s.connect_by.is_empty()
            || s.exclude.is_some()
            || s.select_modifiers.is_some()
            || !s.optimizer_hints.is_empty()
            || s.value_table_mode.is_some()
        {
            return Err(unsupported(whole, "this SELECT has a clause `sql` does not support"));
        }
        // FROM: the views, joined.
        let mut rel: Option<Rel> = None;
        for t in &s.from {
            let mut right = self.scan(sql, &t.relation)?;
            for j in &t.joins {
                let other = self.scan(sql, &j.relation)?;
                right = self.join(sql, right, other, j)?;
            }
            rel = Some(match rel {
                None => right,
                Some(left) => self.cross(sql.at(t), left, right)?,
            });
        }
        let Some(mut rel) = rel else {
            return Err(unsupported(whole, "a SELECT without FROM"));
        };
        // WHERE
        if let Some(cond) = &s.selection {
            rel = self.filter(sql, rel, cond)?;
        }
        // GROUP BY, aggregates, HAVING
        let (keys, grouped) = self.group_keys(sql, &mut rel, &s.group_by, &s.projection)?;
        let mut calls = Vec::new();
        for item in &s.projection {
            if let sq::SelectItem::UnnamedExpr(e) | sq::SelectItem::ExprWithAlias { expr: e, .. } = item {
                aggregate_calls(e, &mut calls);
            }
        }
        if let Some(h) = &s.having {
            aggregate_calls(h, &mut calls);
        }
        let order_items = match order {
            None => &[][..],
            Some(o) => order_items(sql, o)?,
        };
        for item in order_items {
            aggregate_calls(&item.expr, &mut calls);
        }
        let is_grouped = keys.is_some() || !calls.is_empty();
        if s.having.is_some() && !is_grouped {
            return Err(unsupported(whole, "HAVING without GROUP BY or aggregates"));
        }
        let before = rel.cols.clone();
        let (rel, aggregates, key_cols) = if is_grouped {
            let keys = keys.unwrap_or_default();
            let (g, aggs) = self.group(sql, rel, &keys, &calls)?;
            (g, aggs, keys)
        } else {
            let all = rel.cols.clone();
            (rel, Vec::new(), all)
        };
        let ungrouped: &[Col] = if is_grouped { &before } else { &[] };
        let mut rel = rel;
        if let Some(h) = &s.having {
            let scope = Scope { rel: &rel, aggregates: Some(&aggregates), ungrouped, grouped: &grouped };
            let mask = self.sql_expr(sql, h, &scope)?;
            rel = self.keep_rows(sql.at(h), rel, mask)?;
        }
        // The projection.
        let scope =
            Scope { rel: &rel, aggregates: is_grouped.then_some(aggregates.as_slice()), ungrouped, grouped: &grouped };
        let mut columns: Vec<(Value, String, Span)> = Vec::new();
        // The selected columns a LEFT JOIN may leave missing, by position.
        let mut missing: Vec<(usize, Col)> = Vec::new();
        for item in &s.projection {
            let at = sql.at(item);
            if let sq::SelectItem::Wildcard(o) | sq::SelectItem::QualifiedWildcard(_, o) = item
                && (o.opt_ilike.is_some()
                    || o.opt_exclude.is_some()
                    || o.opt_except.is_some()
                    || o.opt_replace.is_some()
                    || o.opt_rename.is_some()
                    || o.opt_alias.is_some())
            {
                return Err(unsupported(at, "options of `*` (EXCLUDE, EXCEPT, REPLACE, RENAME, ILIKE, AS)"));
            }
            match item {
                sq::SelectItem::Wildcard(_) => {
                    for c in key_cols.iter() {
                        if rel.outer_of(c).is_some() {
                            missing.push((columns.len(), c.clone()));
                        }
                        columns.push((self.sql_column(&rel, c, at)?, c.label.clone(), at));
                    }
                }
                sq::SelectItem::QualifiedWildcard(kind, _) => {
                    let table = match kind {
                        sq::SelectItemQualifiedWildcardKind::ObjectName(n) => n.to_string(),
                        sq::SelectItemQualifiedWildcardKind::Expr(e) => label_of(e),
                    };
                    let picked: Vec<&Col> = key_cols.iter().filter(|c| c.table() == Some(table.as_str())).collect();
                    if picked.is_empty() && !rel.cols.iter().any(|c| c.table() == Some(table.as_str())) {
                        return Err(compile_error(at, format!("the query has no view `{table}`")));
                    }
                    for c in picked {
                        if rel.outer_of(c).is_some() {
                            missing.push((columns.len(), c.clone()));
                        }
                        columns.push((self.sql_column(&rel, c, at)?, c.label.clone(), at));
                    }
                }
                sq::SelectItem::UnnamedExpr(e) => {
                    let v = self.select_expr(sql, e, &scope, &mut missing, columns.len())?;
                    let label = match self.resolve(sql, e, &scope)? {
                        Some(c) => c.label,
                        None => label_of(e),
                    };
                    columns.push((v, label, at));
                }
                sq::SelectItem::ExprWithAlias { expr, alias } => {
                    let v = self.select_expr(sql, expr, &scope, &mut missing, columns.len())?;
                    columns.push((v, alias.value.clone(), at));
                }
                sq::SelectItem::ExprWithAliases { .. } => return Err(unsupported(at, "several aliases of one item")),
            }
        }
        // Two columns of one label fail when the frame is made, at run time, as in DAPHNE
        // (`basic_execution_failure_1`).
        // ORDER BY: a result column (by label, alias or the expression an item selects), or
        // else an expression of the rows computed as a hidden column, dropped after sorting.
        let visible = columns.len();
        let plain = s
            .projection
            .iter()
            .all(|p| matches!(p, sq::SelectItem::UnnamedExpr(_) | sq::SelectItem::ExprWithAlias { .. }));
        let mut sort: Vec<(usize, bool)> = Vec::new();
        for item in order_items {
            let text = label_of(&item.expr);
            let by_item = s.projection.iter().position(|p| match p {
                sq::SelectItem::UnnamedExpr(e) | sq::SelectItem::ExprWithAlias { expr: e, .. } => label_of(e) == text,
                _ => false,
            });
            // Positions of items are positions of columns when no item is a wildcard.
            let by_item = by_item.filter(|_| plain);
            let hidden = format!("order:{text}");
            let by_label = columns
                .iter()
                .position(|c| c.1 == text || c.1 == hidden || c.1.split_once('.').is_some_and(|(_, n)| n == text));
            let i = match by_item.or(by_label) {
                Some(i) => i,
                None if matches!(s.distinct, Some(sq::Distinct::Distinct)) => {
                    return Err(compile_error(
                        sql.at(&item.expr),
                        format!("ORDER BY `{text}`: the result has no such column"),
                    )
                    .with_note("with DISTINCT, ORDER BY takes selected columns, by their label, alias or expression"));
                }
                None => {
                    let v = self.sql_expr(sql, &item.expr, &scope)?;
                    columns.push((v, hidden, sql.at(&item.expr)));
                    columns.len() - 1
                }
            };
            if let Some((_, c)) = missing.iter().find(|m| m.0 == i) {
                rel.present(c, sql.at(&item.expr))?;
            }
            sort.push((i, !matches!(item.options.sort, Some(sq::OrderBySort::Desc))));
        }
        let distinct_at = missing.first().map(|(i, c)| (columns[*i].2, c.clone()));
        let mut out = self.make_frame(&rel, columns, whole)?;
        match &s.distinct {
            None | Some(sq::Distinct::All) => {}
            Some(sq::Distinct::Distinct) => {
                if let Some((at, c)) = distinct_at {
                    rel.present(&c, at)?;
                }
                let labels: Vec<String> = out.cols.iter().map(|c| c.label.clone()).collect();
                let mut operands = vec![out.frame, self.constant_value(Literal::Si64(labels.len() as i64), whole)?];
                for l in &labels {
                    operands.push(self.constant_value(Literal::Str(l.clone()), whole)?);
                }
                out.frame = self.builtin1(Builtin::GroupAggregate, operands, whole)?;
            }
            Some(sq::Distinct::On(_)) => return Err(unsupported(whole, "DISTINCT ON")),
        }
        if let Some(o) = order {
            out = self.sort(out, &sort, sql.at(o))?;
        }
        if out.cols.len() > visible {
            let shown: Vec<(Value, String, Span)> = out.cols[..visible]
                .iter()
                .map(|c| Ok((self.sql_column(&out, c, whole)?, c.label.clone(), whole)))
                .collect::<Result<_>>()?;
            out = self.make_frame(&out, shown, whole)?;
        }
        Ok(out)
    }

    /// A view of the FROM clause: its frame with every column labelled `view.column` (or
    /// `alias.column`).
    fn scan(&mut self, sql: &SqlText, t: &sq::TableFactor) -> Result<Rel> {
        let at = sql.at(t);
        let sq::TableFactor::Table { name, alias, args: None, with_hints, .. } = t else {
            return Err(unsupported(at, "FROM takes views by name (no subqueries or table functions)"));
        };
        if !with_hints.is_empty() || alias.as_ref().is_some_and(|a| !a.columns.is_empty()) {
            return Err(unsupported(at, "table hints and column aliases"));
        }
        let view = name.to_string();
        let Some(var) = self.lookup(&view_var(&view)) else {
            return Err(compile_error(at, format!("no view named `{view}`"))
                .with_help(format!("register a frame first: registerView(\"{view}\", frame);")));
        };
        let prefix = alias.as_ref().map_or(view.clone(), |a| a.name.value.clone());
        let p = self.constant_value(Literal::Str(prefix), at)?;
        let frame = self.builtin1(Builtin::SetColLabelsPrefix, vec![var.value, p], at)?;
        let Some(cols) = known_columns(&self.ty(frame)) else {
            return Err(compile_error(at, format!("the columns of view `{view}` are not known while compiling"))
                .with_note("`sql` resolves column names while compiling: register a frame made by createFrame, a frame literal, or read from a file with a `.meta` file"));
        };
        Ok(Rel { frame, cols, outer: Vec::new() })
    }

    fn cross(&mut self, at: Span, left: Rel, right: Rel) -> Result<Rel> {
        let frame = self.builtin1(Builtin::Cartesian, vec![left.frame, right.frame], at)?;
        self.joined(at, frame, left, right)
    }

    /// The frame of a join of `left` and `right`, with the columns of both.
    fn joined(&mut self, at: Span, frame: Value, left: Rel, right: Rel) -> Result<Rel> {
        let cols: Vec<Col> = left.cols.into_iter().chain(right.cols).collect();
        for (i, c) in cols.iter().enumerate() {
            if cols[..i].iter().any(|d| d.label == c.label) {
                return Err(compile_error(at, format!("both sides of the join have a column `{}`", c.label))
                    .with_help("give one of the views another name: FROM f JOIN f AS g ON ..."));
            }
        }
        Ok(Rel { frame, cols, outer: left.outer.into_iter().chain(right.outer).collect() })
    }

    /// `Some((l, r))` when `c` is an equality of column `l` of `left` and column `r` of `right`
    /// (in either order): a key of a hash join. Keys must both be strings or both numbers.
    fn key_pair(&mut self, sql: &SqlText, left: &Rel, right: &Rel, c: &sq::Expr) -> Result<Option<(Col, Col)>> {
        // Which side a column belongs to.
        let side = |e: &sq::Expr| -> Option<(bool, Col)> {
            match (candidates(e, &left.cols).as_slice(), candidates(e, &right.cols).as_slice()) {
                ([c], []) => Some((true, (*c).clone())),
                ([], [c]) => Some((false, (*c).clone())),
                _ => None,
            }
        };
        let sq::Expr::BinaryOp { left: a, op: sq::BinaryOperator::Eq, right: b } = unnest(c) else { return Ok(None) };
        let (Some(x), Some(y)) = (side(a), side(b)) else { return Ok(None) };
        if x.0 == y.0 {
            return Ok(None);
        }
        let ((l, l_at), (r, r_at)) = if x.0 { ((x.1, a), (y.1, b)) } else { ((y.1, b), (x.1, a)) };
        left.present(&l, sql.at(&**l_at))?;
        right.present(&r, sql.at(&**r_at))?;
        if (l.vt == ValueType::Str) != (r.vt == ValueType::Str) {
            return Err(compile_error(
                sql.at(c),
                format!("cannot compare `{}` ({}) with `{}` ({})", l.label, l.vt, r.label, r.vt),
            ));
        }
        Ok(Some((l, r)))
    }

    /// `left JOIN right ON cond`: a hash join on the first equality of a left and a right
    /// column among the conjuncts of `cond` (a cartesian product without one), the other
    /// conjuncts filtering the pairs.
    fn join(&mut self, sql: &SqlText, left: Rel, right: Rel, j: &sq::Join) -> Result<Rel> {
        let at = sql.at(j);
        let (cond, outer) = match &j.join_operator {
            sq::JoinOperator::Join(c) | sq::JoinOperator::Inner(c) => (c, false),
            sq::JoinOperator::Left(c) | sq::JoinOperator::LeftOuter(c) => (c, true),
            sq::JoinOperator::CrossJoin(sq::JoinConstraint::None) => {
                return self.cross(at, left, right);
            }
            _ => {
                return Err(unsupported(
                    at,
                    "only inner joins (JOIN ... ON, INNER JOIN ... ON), LEFT [OUTER] JOIN ... ON and CROSS JOIN",
                ));
            }
        };
        let sq::JoinConstraint::On(cond) = cond else {
            return Err(unsupported(at, "a join needs an ON condition (USING and NATURAL are not supported)"));
        };
        if outer {
            return self.left_join(sql, left, right, cond, at);
        }
        let all = conjuncts(cond);
        let mut key = None;
        for (i, c) in all.iter().enumerate() {
            if let Some((l, r)) = self.key_pair(sql, &left, &right, c)? {
                key = Some((i, l, r));
                break;
            }
        }
        let mut rel = match &key {
            Some((i, l, r)) => {
                let at = sql.at(all[*i]);
                let lk = self.constant_value(Literal::Str(l.label.clone()), at)?;
                let rk = self.constant_value(Literal::Str(r.label.clone()), at)?;
                let frame = self.builtin1(Builtin::InnerJoin, vec![left.frame, right.frame, lk, rk], at)?;
                self.joined(at, frame, left, right)?
            }
            None => self.cross(at, left, right)?,
        };
        for (i, c) in all.iter().enumerate() {
            if key.as_ref().is_some_and(|k| k.0 == i) {
                continue;
            }
            rel = self.filter(sql, rel, c)?;
        }
        Ok(rel)
    }

    /// `left LEFT JOIN right ON cond`: a hash join (`leftJoin`) on the equalities of a left and a
    /// right column among the conjuncts of `cond`; the conjuncts on the right view alone filter
    /// it before the join (which keeps the left rows they leave without a match). The right
    /// columns may be missing from then on (`Outer`).
    fn left_join(&mut self, sql: &SqlText, left: Rel, mut right: Rel, cond: &sq::Expr, at: Span) -> Result<Rel> {
        let mut keys: Vec<(Col, Col)> = Vec::new();
        for c in conjuncts(cond) {
            if let Some(k) = self.key_pair(sql, &left, &right, c)? {
                keys.push(k);
                continue;
            }
            let mut refs = Vec::new();
            column_refs(c, &mut refs);
            // An unknown or ambiguous name is that error, not an unsupported condition.
            let both = Rel { frame: left.frame, cols: [&left.cols[..], &right.cols[..]].concat(), outer: Vec::new() };
            let scope = Scope { rel: &both, aggregates: None, ungrouped: &[], grouped: &[] };
            for e in &refs {
                self.resolve(sql, e, &scope)?;
            }
            if !refs.is_empty() && refs.iter().all(|e| candidates(e, &left.cols).is_empty()) {
                right = self.filter(sql, right, c)?;
                continue;
            }
            return Err(unsupported(
                sql.at(c),
                "this condition of LEFT JOIN ... ON (it takes equalities of a left and a right column, and conditions on the right view alone, joined by AND)",
            ));
        }
        if keys.is_empty() {
            return Err(unsupported(at, "a LEFT JOIN without an equality of a left and a right column in ON"));
        }
        let mut operands = vec![left.frame, right.frame];
        for label in keys.iter().map(|k| &k.0.label).chain(keys.iter().map(|k| &k.1.label)) {
            operands.push(self.constant_value(Literal::Str(label.clone()), at)?);
        }
        let results = self.builtin(Builtin::LeftJoin, operands, at)?;
        let [frame, matched] = results[..] else {
            return Err(LowerError::internal(at, "`leftJoin` gives a frame and a mask"));
        };
        let cols: Vec<Col> = right
            .cols
            .iter()
            .map(|c| Col { label: c.label.clone(), vt: daphne_ir::infer::missing_type(c.vt) })
            .collect();
        let outer = Outer {
            labels: cols.iter().map(|c| c.label.clone()).collect(),
            matched: format!("matched:{}", right.cols.first().and_then(Col::table).unwrap_or("")),
        };
        let right = Rel { frame: right.frame, cols, outer: right.outer };
        let mut rel = self.joined(at, frame, left, right)?;
        // The mask is a hidden column, so that it follows the rows.
        self.cbind_column(&mut rel, matched, outer.matched.clone(), at)?;
        rel.outer.push(outer);
        Ok(rel)
    }

    /// The rows of `rel` where `cond` holds.
    fn filter(&mut self, sql: &SqlText, rel: Rel, cond: &sq::Expr) -> Result<Rel> {
        let scope = Scope { rel: &rel, aggregates: None, ungrouped: &[], grouped: &[] };
        let mask = self.sql_expr(sql, cond, &scope)?;
        self.keep_rows(sql.at(cond), rel, mask)
    }

    fn keep_rows(&mut self, at: Span, rel: Rel, mask: Value) -> Result<Rel> {
        let mask = self.as_column(&rel, mask, at)?;
        let frame = self.builtin1(Builtin::FilterRow, vec![rel.frame, mask], at)?;
        Ok(Rel { frame, cols: rel.cols, outer: rel.outer })
    }

    /// The key columns of GROUP BY, `None` without it, and the grouped expressions (their text
    /// and their key's label). An expression, or the alias of a selected expression, is
    /// computed as one more column of `rel` to group by.
    fn group_keys(
        &mut self,
        sql: &SqlText,
        rel: &mut Rel,
        g: &sq::GroupByExpr,
        projection: &[sq::SelectItem],
    ) -> Result<(Option<Vec<Col>>, Vec<Named>)> {
        let exprs = match g {
            sq::GroupByExpr::Expressions(e, modifiers) if modifiers.is_empty() => e,
            other => return Err(unsupported(sql.at(other), "GROUP BY ALL and grouping modifiers")),
        };
        if exprs.is_empty() {
            return Ok((None, Vec::new()));
        }
        let mut keys: Vec<Col> = Vec::new();
        let mut grouped = Vec::new();
        for e in exprs {
            // `*` and `view.*`, which the parser read as the name `_` (see `group_by_wildcards`).
            let wildcard = sql.wildcards.contains(&(e.span().end.line, e.span().end.column));
            // A name no column has may be the alias of a selected expression.
            let aliased = match e {
                sq::Expr::Identifier(i) if candidates(e, &rel.cols).is_empty() => {
                    projection.iter().find_map(|p| match p {
                        sq::SelectItem::ExprWithAlias { expr, alias } if alias.value == i.value => {
                            Some((expr, i.value.clone()))
                        }
                        _ => None,
                    })
                }
                _ => None,
            };
            let picked = match e {
                sq::Expr::Identifier(_) if wildcard => rel.cols.clone(),
                sq::Expr::CompoundIdentifier(parts) if wildcard && parts.len() == 2 => {
                    let t = parts[0].value.clone();
                    let picked: Vec<Col> = rel.cols.iter().filter(|c| c.table() == Some(t.as_str())).cloned().collect();
                    if picked.is_empty() {
                        return Err(compile_error(sql.at(e), format!("the query has no view `{t}`")));
                    }
                    picked
                }
                sq::Expr::Value(_) => {
                    return Err(unsupported(sql.at(e), "GROUP BY of a position (name the column or expression)"));
                }
                _ => {
                    let scope = Scope { rel, aggregates: None, ungrouped: &[], grouped: &[] };
                    let (expr, label) = match aliased {
                        Some((expr, alias)) => (expr, alias),
                        None => match self.resolve(sql, e, &scope)? {
                            Some(c) => (e, c.label),
                            None => (e, label_of(e)),
                        },
                    };
                    match self.resolve(sql, expr, &scope)? {
                        Some(c) if expr == e => vec![c],
                        _ => {
                            let at = sql.at(e);
                            let v = self.sql_expr(sql, expr, &scope)?;
                            let col = self.add_column(rel, v, label.clone(), at)?;
                            grouped.push((label_of(expr), label));
                            vec![col]
                        }
                    }
                }
            };
            for c in picked {
                rel.present(&c, sql.at(e))?;
                if !keys.iter().any(|k| k.label == c.label) {
                    keys.push(c);
                }
            }
        }
        Ok((Some(keys), grouped))
    }

    /// `rel` with one more column, `v` (a column or a scalar for every row), labelled `label`.
    fn add_column(&mut self, rel: &mut Rel, v: Value, label: String, at: Span) -> Result<Col> {
        let vt = self.cbind_column(rel, v, label.clone(), at)?;
        let col = Col { label, vt };
        rel.cols.push(col.clone());
        Ok(col)
    }

    /// The frame of `rel` with one more column, `v`, labelled `label` (not among `rel.cols`);
    /// its value type.
    fn cbind_column(&mut self, rel: &mut Rel, v: Value, label: String, at: Span) -> Result<ValueType> {
        let v = self.as_column(rel, v, at)?;
        let vt = self.ty(v).value_type().unwrap_or(ValueType::F64);
        let l = self.constant_value(Literal::Str(label), at)?;
        let extra = self.builtin1(Builtin::CreateFrame, vec![v, l], at)?;
        rel.frame = self.builtin1(Builtin::Cbind, vec![rel.frame, extra], at)?;
        Ok(vt)
    }

    /// `groupAggregate` of `rel` by `keys` with the aggregates `calls`: the grouped frame and
    /// the label of each call's column (by the call's text).
    fn group(
        &mut self,
        sql: &SqlText,
        mut rel: Rel,
        keys: &[Col],
        calls: &[&sq::Function],
    ) -> Result<(Rel, Vec<(String, String)>)> {
        let mut triples: Vec<(String, String, String)> = Vec::new();
        let mut done: Vec<(String, String)> = Vec::new();
        for f in calls {
            let at = sql.at(*f);
            let text = label_of(&sq::Expr::Function((*f).clone()));
            if done.iter().any(|d| d.0 == text) {
                continue;
            }
            let function = aggregate_name(f).unwrap_or_default();
            if f.filter.is_some() || f.over.is_some() || !f.within_group.is_empty() {
                return Err(unsupported(at, "FILTER, OVER and WITHIN GROUP of aggregates"));
            }
            let input = match single_arg(f) {
                Some(sq::FunctionArgExpr::Wildcard) if function == "count" => match rel.cols.first() {
                    Some(c) => c.clone(),
                    None => return Err(unsupported(at, "COUNT(*) of a frame without columns")),
                },
                Some(sq::FunctionArgExpr::Expr(e)) => {
                    let scope = Scope { rel: &rel, aggregates: None, ungrouped: &[], grouped: &[] };
                    match self.resolve(sql, e, &scope)? {
                        Some(c) => {
                            rel.present(&c, sql.at(e))?;
                            c
                        }
                        None => {
                            // An expression: computed as one more column of the frame.
                            let v = self.sql_expr(sql, e, &scope)?;
                            self.add_column(&mut rel, v, format!("{function}:{}", label_of(e)), at)?
                        }
                    }
                }
                _ => return Err(unsupported(at, "an aggregate takes one column or expression (COUNT also *)")),
            };
            if daphne_ir::infer::aggregate_type(&function, input.vt).is_none() {
                return Err(compile_error(
                    at,
                    format!("`{}` cannot aggregate `{}`, a column of {}", f.name, input.label, input.vt),
                ));
            }
            if keys.iter().any(|k| k.label == text) {
                return Err(compile_error(at, format!("the aggregate `{text}` has the label of a key column")));
            }
            triples.push((function, input.label.clone(), text.clone()));
            done.push((text.clone(), text));
        }
        let at = sql.whole;
        let mut operands = vec![rel.frame, self.constant_value(Literal::Si64(keys.len() as i64), at)?];
        for k in keys {
            operands.push(self.constant_value(Literal::Str(k.label.clone()), at)?);
        }
        for (f, c, l) in &triples {
            for s in [f, c, l] {
                operands.push(self.constant_value(Literal::Str(s.clone()), at)?);
            }
        }
        let frame = self.builtin1(Builtin::GroupAggregate, operands, at)?;
        let cols = known_columns(&self.ty(frame))
            .ok_or_else(|| LowerError::internal(at, "the columns of a GROUP BY of known columns are unknown"))?;
        Ok((Rel { frame, cols, outer: Vec::new() }, done))
    }

    /// The column a name denotes in `scope`, `None` if the expression is not a name; an
    /// unknown or ambiguous name is an error.
    fn resolve(&mut self, sql: &SqlText, e: &sq::Expr, scope: &Scope) -> Result<Option<Col>> {
        let Some(name) = column_name(e) else { return Ok(None) };
        let at = sql.at(e);
        match candidates(e, &scope.rel.cols).as_slice() {
            [c] => Ok(Some((*c).clone())),
            [] if !candidates(e, scope.ungrouped).is_empty() => {
                Err(compile_error(at, format!("`{name}` is neither grouped nor aggregated"))
                    .with_help(format!("add it to GROUP BY, or aggregate it: sum({name})")))
            }
            [] => {
                let known: Vec<&str> = scope.rel.cols.iter().map(|c| c.label.as_str()).collect();
                Err(compile_error(at, format!("no column `{name}`"))
                    .with_note(format!("the columns here are: {}", known.join(", "))))
            }
            many => {
                let labels: Vec<&str> = many.iter().map(|c| c.label.as_str()).collect();
                Err(compile_error(at, format!("the column `{name}` is ambiguous: {}", labels.join(" or ")))
                    .with_help("name it with its view: view.column"))
            }
        }
    }

    /// A selected expression (the `missing`-th column of the result): as `sql_expr`, except that
    /// a column a LEFT JOIN may leave missing can be selected as it is (noted in `missing`).
    fn select_expr(
        &mut self,
        sql: &SqlText,
        e: &sq::Expr,
        scope: &Scope,
        missing: &mut Vec<(usize, Col)>,
        position: usize,
    ) -> Result<Value> {
        if !scope.rel.outer.is_empty()
            && let Some(c) = self.resolve(sql, unnest(e), scope)?
            && scope.rel.outer_of(&c).is_some()
        {
            let v = self.sql_column(scope.rel, &c, sql.at(e))?;
            missing.push((position, c));
            return Ok(v);
        }
        self.sql_expr(sql, e, scope)
    }

    /// A column of the frame as an n x 1 matrix.
    fn sql_column(&mut self, rel: &Rel, c: &Col, at: Span) -> Result<Value> {
        let label = self.constant_value(Literal::Str(c.label.clone()), at)?;
        let picked = self.builtin1(Builtin::ExtractCol, vec![rel.frame, label], at)?;
        let rows = match self.ty(rel.frame) {
            Type::Frame(f) => f.rows,
            _ => None,
        };
        self.emit1(OpKind::Cast, vec![picked], Type::matrix(c.vt, rows, Some(1)), at)
    }

    /// A value as a column of the frame's rows: a scalar repeated, a column as it is.
    fn as_column(&mut self, rel: &Rel, v: Value, at: Span) -> Result<Value> {
        if !self.ty(v).is_scalar() {
            return Ok(v);
        }
        let n = self.builtin1(Builtin::Nrow, vec![rel.frame], at)?;
        let one = self.constant_value(Literal::Index(1), at)?;
        self.builtin1(Builtin::Fill, vec![v, n, one], at)
    }

    /// The frame of the selected columns (`createFrame`).
    fn make_frame(&mut self, rel: &Rel, columns: Vec<(Value, String, Span)>, at: Span) -> Result<Rel> {
        if columns.is_empty() {
            return Err(unsupported(at, "a SELECT of no columns"));
        }
        let mut operands = Vec::new();
        let mut labels = Vec::new();
        let mut cols = Vec::new();
        for (v, label, at) in columns {
            let v = self.as_column(rel, v, at)?;
            let vt =
                self.ty(v).value_type().ok_or_else(|| LowerError::internal(at, "a selected column of unknown type"))?;
            operands.push(v);
            labels.push(self.constant_value(Literal::Str(label.clone()), at)?);
            cols.push(Col { label, vt });
        }
        operands.extend(labels);
        let frame = self.builtin1(Builtin::CreateFrame, operands, at)?;
        Ok(Rel { frame, cols, outer: Vec::new() })
    }

    /// An expression over the rows of `scope`: an n x 1 matrix, or a scalar for a constant.
    fn sql_expr(&mut self, sql: &SqlText, e: &sq::Expr, scope: &Scope) -> Result<Value> {
        use sq::Expr as E;
        let at = sql.at(e);
        if !scope.grouped.is_empty() {
            let text = label_of(e);
            if let Some((_, label)) = scope.grouped.iter().find(|(t, _)| *t == text)
                && let Some(c) = scope.rel.cols.iter().find(|c| &c.label == label).cloned()
            {
                return self.sql_column(scope.rel, &c, at);
            }
        }
        match e {
            E::Identifier(_) | E::CompoundIdentifier(_) => {
                let c = self.resolve(sql, e, scope)?.ok_or_else(|| LowerError::internal(at, "a name that is none"))?;
                scope.rel.present(&c, at)?;
                self.sql_column(scope.rel, &c, at)
            }
            E::IsNull(x) | E::IsNotNull(x) => {
                let null = matches!(e, E::IsNull(_));
                let Some(c) = self.resolve(sql, unnest(x), scope)? else {
                    return Err(unsupported(at, "IS [NOT] NULL of an expression (it takes a column)"));
                };
                match scope.rel.outer_of(&c) {
                    Some(o) => {
                        let mask = Col { label: o.matched.clone(), vt: ValueType::Si64 };
                        let matched = self.sql_column(scope.rel, &mask, at)?;
                        if null { self.builtin1(prefix("!", at)?, vec![matched], at) } else { Ok(matched) }
                    }
                    // Frames have no NULL: a column no LEFT JOIN may leave missing never is.
                    None => self.constant_value(Literal::Si64(i64::from(!null)), at),
                }
            }
            E::Value(v) => {
                let lit = match &v.value {
                    sq::Value::Number(n, _) => match n.parse::<i64>() {
                        Ok(i) => Literal::Si64(i),
                        Err(_) => match n.parse::<f64>() {
                            Ok(x) => Literal::f64(x),
                            Err(_) => return Err(compile_error(at, format!("`{n}` is not a number"))),
                        },
                    },
                    sq::Value::SingleQuotedString(s) | sq::Value::DoubleQuotedString(s) => Literal::Str(s.clone()),
                    sq::Value::Boolean(b) => Literal::Bool(*b),
                    sq::Value::Null => {
                        return Err(unsupported(at, "NULL (frames have no missing values)"));
                    }
                    other => return Err(unsupported(at, &format!("the literal `{other}`"))),
                };
                self.constant_value(lit, at)
            }
            E::Nested(inner) => self.sql_expr(sql, inner, scope),
            E::BinaryOp { left, op, right } => {
                let Some(b) = binary_op(op) else {
                    return Err(unsupported(at, &format!("the operator `{op}`")));
                };
                let (l, r) = (self.sql_expr(sql, left, scope)?, self.sql_expr(sql, right, scope)?);
                self.sql_binary(b, l, r, at)
            }
            E::UnaryOp { op, expr } => {
                let v = self.sql_expr(sql, expr, scope)?;
                match op {
                    sq::UnaryOperator::Plus => Ok(v),
                    sq::UnaryOperator::Minus => self.builtin1(prefix("-", at)?, vec![v], at),
                    sq::UnaryOperator::Not => self.builtin1(prefix("!", at)?, vec![v], at),
                    other => Err(unsupported(at, &format!("the operator `{other}`"))),
                }
            }
            E::Between { expr, negated, low, high } => {
                let x = self.sql_expr(sql, expr, scope)?;
                let (lo, hi) = (self.sql_expr(sql, low, scope)?, self.sql_expr(sql, high, scope)?);
                // As DAPHNE: either bound may be the lower one (SQL's BETWEEN SYMMETRIC).
                let within = |l: &mut Self, lo: Value, hi: Value| -> Result<Value> {
                    let a = l.sql_binary(Builtin::EwGe, x, lo, at)?;
                    let b = l.sql_binary(Builtin::EwLe, x, hi, at)?;
                    l.builtin1(Builtin::EwAnd, vec![a, b], at)
                };
                let (up, down) = (within(self, lo, hi)?, within(self, hi, lo)?);
                let both = self.builtin1(Builtin::EwOr, vec![up, down], at)?;
                if *negated { self.builtin1(prefix("!", at)?, vec![both], at) } else { Ok(both) }
            }
            E::In { expr, target: sq::InTarget::List(list), negated, global: false } => {
                let x = self.sql_expr(sql, expr, scope)?;
                let mut any: Option<Value> = None;
                for item in list {
                    let v = self.sql_expr(sql, item, scope)?;
                    let eq = self.sql_binary(Builtin::EwEq, x, v, sql.at(item))?;
                    any = Some(match any {
                        None => eq,
                        Some(a) => self.builtin1(Builtin::EwOr, vec![a, eq], at)?,
                    });
                }
                let any = any.ok_or_else(|| compile_error(at, "IN needs at least one value"))?;
                if *negated { self.builtin1(prefix("!", at)?, vec![any], at) } else { Ok(any) }
            }
            E::Case { operand, conditions, else_result, .. } => {
                let Some(otherwise) = else_result else {
                    return Err(unsupported(at, "CASE without ELSE (frames have no missing values)"));
                };
                let mut acc = self.sql_expr(sql, otherwise, scope)?;
                let subject = match operand {
                    Some(o) => Some(self.sql_expr(sql, o, scope)?),
                    None => None,
                };
                for w in conditions.iter().rev() {
                    let mut cond = self.sql_expr(sql, &w.condition, scope)?;
                    if let Some(s) = subject {
                        cond = self.sql_binary(Builtin::EwEq, s, cond, sql.at(&w.condition))?;
                    }
                    let cond = self.as_column(scope.rel, cond, at)?;
                    let then = self.sql_expr(sql, &w.result, scope)?;
                    acc = self.builtin1(Builtin::Cond, vec![cond, then, acc], at)?;
                }
                Ok(acc)
            }
            E::Function(f) if aggregate_name(f).is_some() => {
                let Some(aggs) = scope.aggregates else {
                    return Err(compile_error(at, format!("the aggregate `{}` is not allowed here", label_of(e)))
                        .with_note("aggregates belong in the SELECT list and HAVING"));
                };
                let text = label_of(e);
                let (_, label) = aggs
                    .iter()
                    .find(|(t, _)| *t == text)
                    .ok_or_else(|| LowerError::internal(at, "an aggregate that was not computed"))?;
                let c = scope
                    .rel
                    .cols
                    .iter()
                    .find(|c| &c.label == label)
                    .cloned()
                    .ok_or_else(|| LowerError::internal(at, "an aggregate column that is missing"))?;
                self.sql_column(scope.rel, &c, at)
            }
            E::Function(f) => Err(unsupported(at, &format!("the function `{}`", f.name))),
            E::Like { negated, any: false, expr, pattern, escape_char: None } => {
                let x = self.sql_expr(sql, expr, scope)?;
                let p = self.sql_expr(sql, pattern, scope)?;
                if self.constant(p).is_none() {
                    return Err(unsupported(sql.at(&**pattern), "a LIKE pattern that is not a constant string"));
                }
                let m = self.builtin1(Builtin::EwLike, vec![x, p], at)?;
                if *negated { self.builtin1(prefix("!", at)?, vec![m], at) } else { Ok(m) }
            }
            E::Like { .. } | E::ILike { .. } => Err(unsupported(at, "LIKE with ANY or ESCAPE, and ILIKE")),
            _ => Err(unsupported(at, &format!("the expression `{e}`"))),
        }
    }

    /// An elementwise op of two operands; comparing a string with a number is an error.
    fn sql_binary(&mut self, op: Builtin, l: Value, r: Value, at: Span) -> Result<Value> {
        let (lt, rt) = (self.ty(l).value_type(), self.ty(r).value_type());
        let is_str = |t: Option<ValueType>| t == Some(ValueType::Str);
        if is_comparison(op) && is_str(lt) != is_str(rt) && lt.is_some() && rt.is_some() {
            let (a, b) = (lt.unwrap_or(ValueType::Str), rt.unwrap_or(ValueType::Str));
            return Err(compile_error(at, format!("cannot compare {a} with {b}")));
        }
        if !is_comparison(op) && (is_str(lt) || is_str(rt)) {
            return Err(compile_error(at, format!("`{op}` needs numbers, not strings")));
        }
        self.builtin1(op, vec![l, r], at)
    }

    /// The rows of `rel` sorted by columns (position, ascending), stably.
    fn sort(&mut self, rel: Rel, keys: &[(usize, bool)], at: Span) -> Result<Rel> {
        let mut operands = vec![rel.frame];
        for &(i, _) in keys {
            operands.push(self.constant_value(Literal::Index(i as u64), at)?);
        }
        for &(_, asc) in keys {
            operands.push(self.constant_value(Literal::Bool(asc), at)?);
        }
        operands.push(self.constant_value(Literal::Bool(false), at)?);
        let frame = self.builtin1(Builtin::Order, operands, at)?;
        Ok(Rel { frame, cols: rel.cols, outer: rel.outer })
    }

    /// LIMIT n [OFFSET m]: rows m to m + n (as far as there are rows).
    fn limit(&mut self, sql: &SqlText, rel: Rel, l: &sq::LimitClause) -> Result<Rel> {
        let at = sql.at(l);
        let (limit, offset) = match l {
            sq::LimitClause::LimitOffset { limit, offset, limit_by } if limit_by.is_empty() => {
                (limit.as_ref(), offset.as_ref().map(|o| &o.value))
            }
            sq::LimitClause::OffsetCommaLimit { offset, limit } => (Some(limit), Some(offset)),
            _ => return Err(unsupported(at, "LIMIT BY")),
        };
        let count = |e: &sq::Expr| -> Result<u64> {
            match e {
                sq::Expr::Value(v) => match &v.value {
                    sq::Value::Number(n, _) => n.parse::<u64>().ok(),
                    _ => None,
                },
                _ => None,
            }
            .ok_or_else(|| compile_error(sql.at(e), "LIMIT and OFFSET take a non-negative whole number"))
        };
        let n = self.builtin1(Builtin::Nrow, vec![rel.frame], at)?;
        let lo = match offset {
            Some(o) => count(o)?,
            None => 0,
        };
        let lo = self.constant_value(Literal::Index(lo), at)?;
        let lo = self.builtin1(Builtin::EwMin, vec![lo, n], at)?;
        let hi = match limit {
            Some(e) => {
                let k = self.constant_value(Literal::Index(count(e)?), at)?;
                let end = self.builtin1(Builtin::EwAdd, vec![lo, k], at)?;
                self.builtin1(Builtin::EwMin, vec![end, n], at)?
            }
            None => n,
        };
        let frame = self.builtin1(Builtin::SliceRow, vec![rel.frame, lo, hi], at)?;
        Ok(Rel { frame, cols: rel.cols, outer: rel.outer })
    }
}

/// The most operators a query may have (see `operators`).
const MAX_OPERATORS: usize = 200;

/// How many operator tokens (`=`, `+`, `AND`, `IS`, `BETWEEN`, ...) a query has: a bound on
/// how deeply its expressions nest beyond the parser's own nesting limit.
fn operators(text: &str) -> usize {
    use sqlparser::tokenizer::{Token, Tokenizer};
    const WORDS: &[&str] = &[
        "AND", "OR", "NOT", "IS", "BETWEEN", "LIKE", "ILIKE", "IN", "COLLATE", "ESCAPE", "AT", "SIMILAR", "REGEXP",
        "RLIKE", "DIV", "MOD", "XOR",
    ];
    let dialect = sqlparser::dialect::MySqlDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, text).tokenize() else { return 0 };
    tokens
        .iter()
        .filter(|t| match t {
            Token::Word(w) => WORDS.iter().any(|k| w.quote_style.is_none() && w.value.eq_ignore_ascii_case(k)),
            Token::Whitespace(_)
            | Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::Comma
            | Token::Period
            | Token::LParen
            | Token::RParen
            | Token::SemiColon
            | Token::EOF => false,
            _ => true,
        })
        .count()
}

/// DAPHNE's `GROUP BY *` and `GROUP BY view.*` (every column; every column of a view), which
/// sqlparser does not read: the query with each such `*` replaced by the name `_` (same
/// length, so positions stay), and the end positions (line, column) of those names.
fn group_by_wildcards(text: &str) -> (String, Vec<(u64, u64)>) {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let dialect = sqlparser::dialect::MySqlDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, text).tokenize_with_location() else {
        return (text.to_owned(), Vec::new());
    };
    let tokens: Vec<_> = tokens.into_iter().filter(|t| !matches!(t.token, Token::Whitespace(_))).collect();
    let keyword = |i: usize, k: &str| matches!(&tokens.get(i).map(|t| &t.token), Some(Token::Word(w)) if w.value.eq_ignore_ascii_case(k));
    let mut out = text.to_owned();
    let mut found = Vec::new();
    let mut in_group_by = false;
    for i in 0..tokens.len() {
        if keyword(i, "BY") && i > 0 && keyword(i - 1, "GROUP") {
            in_group_by = true;
            continue;
        }
        if ["HAVING", "ORDER", "LIMIT", "WINDOW"].iter().any(|k| keyword(i, k))
            || matches!(tokens[i].token, Token::SemiColon | Token::RParen)
        {
            in_group_by = false;
        }
        if !in_group_by || tokens[i].token != Token::Mul {
            continue;
        }
        let prev = &tokens[i - 1].token;
        let item_start = matches!(prev, Token::Comma) || keyword(i - 1, "BY");
        let after_view = matches!(prev, Token::Period);
        if !(item_start || after_view) {
            continue;
        }
        let start = tokens[i].span.start;
        let sql = SqlText { text, base: None, whole: Span::new(0, 0), wildcards: Vec::new() };
        if let Some(at) = sql.offset(start.line, start.column)
            && text.get(at..at + 1) == Some("*")
        {
            out.replace_range(at..at + 1, "_");
            found.push((start.line, start.column + 1));
        }
    }
    (out, found)
}

/// sqlparser's error as a compile error at the position it names ("at Line: 1, Column: 8").
fn parse_failure(sql: &SqlText, e: sqlparser::parser::ParserError) -> LowerError {
    let message = e.to_string();
    let position = message.rsplit_once("Line: ").and_then(|(_, rest)| {
        let (line, rest) = rest.split_once(", Column: ")?;
        let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
        Some((line.parse::<u64>().ok()?, column.parse::<u64>().ok()?))
    });
    let at = match position {
        Some((line, column)) => {
            let loc = sqlparser::tokenizer::Location { line, column };
            sql.span(sqlparser::tokenizer::Span::new(loc, loc))
        }
        None => sql.whole,
    };
    let text = message.strip_prefix("sql parser error: ").unwrap_or(&message);
    let text = text.split(" at Line: ").next().unwrap_or(text);
    compile_error(at, format!("the SQL query does not parse: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> sq::Expr {
        let dialect = sqlparser::dialect::MySqlDialect {};
        sqlparser::parser::Parser::new(&dialect).try_with_sql(q).and_then(|mut p| p.parse_expr()).expect("parses")
    }

    #[test]
    fn labels_are_the_text_without_blanks() {
        assert_eq!(label_of(&parse("1 * 2.5")), "1*2.5");
        assert_eq!(label_of(&parse("SUM(f.b)")), "SUM(f.b)");
        assert_eq!(label_of(&parse("count(*)")), "count(*)");
        assert_eq!(label_of(&parse("f.a + (g.b - 1)")), "f.a+(g.b-1)");
    }

    #[test]
    fn positions_in_the_query_map_into_the_script() {
        let script = "x = sql(\"SELECT a\nFROM f\");";
        let start = script.find('"').unwrap_or(0);
        let text = SqlText::new("SELECT a\nFROM f", Span::new(start, script.len() - 2), script);
        assert_eq!(text.base, Some(start + 1));
        assert_eq!(text.offset(2, 6), Some("SELECT a\nFROM ".len()));
        // With an escape the body differs from the text: errors point at the whole literal.
        let escaped = SqlText::new("a\"b", Span::new(0, 7), "\"a\\\"b\"");
        assert_eq!(escaped.base, None);
    }

    #[test]
    fn operators_are_counted_outside_names_and_literals() {
        assert_eq!(operators("SELECT f.a, f.b FROM f WHERE f.a = 1 AND f.b <> 'AND' OR NOT f.c"), 5);
        assert_eq!(operators("SELECT f.a FROM f WHERE f.a IN (1, 2, 3)"), 1);
    }

    #[test]
    fn conjuncts_split_nested_ands() {
        assert_eq!(conjuncts(&parse("a = 1 AND (b < 2 AND c > 3)")).len(), 3);
        assert_eq!(conjuncts(&parse("a = 1 OR b < 2")).len(), 1);
    }
}
