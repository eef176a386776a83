//! `fuse-pipelines`: groups vectorizable ops that work on the same rows into `pipeline` ops,
//! so that a chain like `sum(((X * 2 + 1) ^ 2) / (X + 3))` runs as one pass over `X`.
//!
//! Within each region, ops are scanned in order. An op joins a group when it works row by row
//! on values of the group (or on matrices from outside with the group's rows), and scalars or
//! single-row matrices are broadcast to it:
//!
//! - elementwise unary and binary ops, `?:` on matrices, casts between matrix types: rows;
//! - row aggregations: rows; `cbind` of two such values: rows; `X @ W` with `W` from outside
//!   the group: rows;
//! - column aggregations and full `sum`/`min`/`max`: combined by add/min/max (sinks: nothing
//!   in the group may use them);
//! - `t(X)`: combined by columns (a sink).
//!
//! Every value of a group that is used outside it becomes an output, whatever its shape, so a
//! pipeline may have several outputs and outputs used only much later. The pipeline takes the
//! place of the group's last op; a group therefore stops growing when anything outside it uses
//! one of its values, and at any op with effects or nested regions (print, calls, loops), so
//! no op moves across one. A group holds at most one op that can fail (a domain error, an
//! integer division by zero), so the first error of a pipeline is the one the ops alone
//! would report. Ops in different regions never share a pipeline. Shapes must be
//! known well enough to prove that an operand is split by rows or broadcast, and that the
//! kernels cannot fail on shapes; otherwise the op stays alone.
//!
//! Each use of an outside value becomes its own input; `dedup-pipeline-inputs` merges them.
//! Scalar constants are copied into the body, so a pipeline is self-contained.

use std::collections::{HashMap, HashSet};

use daphne_ir::{
    Axis, Builtin, Combine, Fails, Function, Fuse, Literal, MatrixType, Module, OpId, OpKind, PipelineSpec, Region,
    Repr, Split, Type, Value, ValueDef, ValueType,
};

use crate::pass::Pass;

#[derive(Default)]
pub struct FusePipelines {
    /// Compiling for a distributed run: a product of inputs alone (`t(X) @ X`) becomes a
    /// pipeline too, so it runs where the rows of X are (locally the plain kernel is faster,
    /// with the same bits).
    pub distributed: bool,
}

impl Pass for FusePipelines {
    fn name(&self) -> &'static str {
        "fuse-pipelines"
    }

    fn run(&self, module: &mut Module) -> bool {
        let mut changed = false;
        for f in &mut module.functions {
            let mut users = HashMap::new();
            crate::uses::users(f, &f.body, &mut users);
            let mut rows = HashMap::new();
            same_rows(f, &f.body, &mut rows);
            let mut subst = HashMap::new();
            let mut body = std::mem::take(&mut f.body);
            changed |= fuse_region(f, &mut body, &users, &rows, &mut subst, self.distributed);
            f.body = body;
            crate::uses::replace(f, &subst);
        }
        changed
    }
}

/// The widest outer product fusion takes in (the classes of a one-hot encoding).
const MAX_OUTER_COLS: u64 = 1024;

/// How a value of a group is laid out across the blocks.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    /// Each block holds its rows.
    Rows,
    /// Each block holds its columns (a transposed row block).
    Cols,
    /// Each block holds a partial result to combine.
    Reduced(Combine),
}

/// The row count of a group: known, or that of a given value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Dom {
    Known(u64),
    Of(Value),
}

/// How an operand enters an op of a group.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    /// A value of group `g`, laid out by rows.
    Member(usize),
    /// A matrix from outside, split by rows.
    Split(Dom),
    /// A scalar or single-row matrix from outside, given whole to every block.
    Broadcast,
}

struct Group {
    ops: Vec<OpId>,
    dom: Dom,
    open: bool,
    /// How many ops of the group can fail (at most one: with two, which error comes first
    /// would depend on the block order).
    fallible: usize,
}

/// What an op contributes when it joins a group.
struct Plan {
    roles: Vec<Role>,
    layout: Layout,
    dom: Dom,
}

/// Row classes: values known to have as many rows as another value (a representative),
/// because an op's result has its operand's rows whenever the op succeeds (elementwise ops
/// on their left operand, `X @ W`, row aggregations, `cbind`, casts).
fn same_rows(f: &Function, region: &Region, rows: &mut HashMap<Value, Value>) {
    for &id in &region.ops {
        let op = &f.ops[id];
        for r in &op.regions {
            same_rows(f, r, rows);
        }
        let [result] = op.results.as_slice() else { continue };
        let Some(&first) = op.operands.first() else { continue };
        if !f.ty(first).is_matrix() || !f.ty(*result).is_matrix() {
            continue;
        }
        let keeps_rows = match &op.kind {
            OpKind::Cast => true,
            OpKind::Builtin(b) => {
                matches!(class(&op.kind), Some(Class::Unary | Class::Binary | Class::Cond | Class::RowAgg))
                    || matches!(b.fuse(), Fuse::MatMul | Fuse::Cbind)
            }
            _ => false,
        };
        if keeps_rows {
            let rep = rows.get(&first).copied().unwrap_or(first);
            rows.insert(*result, rep);
        }
    }
}

fn fuse_region(
    f: &mut Function,
    region: &mut Region,
    users: &HashMap<Value, Vec<OpId>>,
    rows: &HashMap<Value, Value>,
    subst: &mut HashMap<Value, Value>,
    distributed: bool,
) -> bool {
    let mut changed = false;
    for &id in &region.ops {
        if matches!(f.ops[id].kind, OpKind::Pipeline(_)) {
            continue;
        }
        let mut regions = std::mem::take(&mut f.ops[id].regions);
        for r in &mut regions {
            changed |= fuse_region(f, r, users, rows, subst, distributed);
        }
        f.ops[id].regions = regions;
    }

    let mut groups: Vec<Group> = Vec::new();
    // The group (after merges) and layout of every value a group op defines.
    let mut owner: HashMap<Value, (usize, Layout)> = HashMap::new();
    let mut alias: Vec<usize> = Vec::new();
    let mut roles: HashMap<OpId, Vec<Role>> = HashMap::new();
    fn find(alias: &[usize], mut g: usize) -> usize {
        while alias[g] != g {
            g = alias[g];
        }
        g
    }
    for &id in &region.ops {
        // The right side of `X @ W` and of an outer op is used whole: the group computing
        // it ends here.
        if matches!(class(&f.ops[id].kind), Some(Class::MatMul | Class::Outer))
            && let Some(w) = f.ops[id].operands.get(1)
            && let Some(&(g, _)) = owner.get(w)
        {
            let g = find(&alias, g);
            groups[g].open = false;
        }
        let mut plan = plan(f, id, &owner, &alias, &groups, rows, distributed);
        if let Some(p) = &plan {
            let members: HashSet<usize> = p
                .roles
                .iter()
                .filter_map(|r| if let Role::Member(g) = r { Some(find(&alias, *g)) } else { None })
                .collect();
            let failing: usize =
                members.iter().map(|&g| groups[g].fallible).sum::<usize>() + usize::from(fallible(f, id));
            if failing > 1 {
                plan = None;
            }
        }
        match plan {
            Some(p) => {
                let members: Vec<usize> = p
                    .roles
                    .iter()
                    .filter_map(|r| if let Role::Member(g) = r { Some(find(&alias, *g)) } else { None })
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect();
                let g = match members.iter().min() {
                    Some(&g) => g,
                    None => {
                        groups.push(Group { ops: Vec::new(), dom: p.dom, open: true, fallible: 0 });
                        alias.push(groups.len() - 1);
                        groups.len() - 1
                    }
                };
                for &other in &members {
                    if other != g {
                        let ops = std::mem::take(&mut groups[other].ops);
                        groups[g].ops.extend(ops);
                        groups[g].fallible += groups[other].fallible;
                        groups[other].open = false;
                        alias[other] = g;
                    }
                }
                groups[g].ops.push(id);
                groups[g].fallible += usize::from(fallible(f, id));
                roles.insert(id, p.roles);
                for &r in &f.ops[id].results {
                    owner.insert(r, (g, p.layout));
                }
            }
            None => {
                if barrier(f, id) {
                    // Moving a computation that cannot fail past an effect is unobservable;
                    // moving one that can fail would reorder its error and the effect.
                    for g in &mut groups {
                        if g.fallible > 0 {
                            g.open = false;
                        }
                    }
                }
                for v in &f.ops[id].operands {
                    if let Some(&(g, _)) = owner.get(v) {
                        let g = find(&alias, g);
                        groups[g].open = false;
                    }
                }
            }
        }
    }

    let mut replaced: HashMap<OpId, Option<OpId>> = HashMap::new();
    for (gi, g) in groups.iter().enumerate() {
        if alias[gi] != gi || g.ops.is_empty() {
            continue;
        }
        let mut ops = g.ops.clone();
        let pos: HashMap<OpId, usize> = region.ops.iter().enumerate().map(|(i, &o)| (o, i)).collect();
        ops.sort_by_key(|o| pos[o]);
        let layouts: HashMap<Value, Layout> =
            owner.iter().filter(|(_, (og, _))| find(&alias, *og) == gi).map(|(&v, &(_, l))| (v, l)).collect();
        let pipeline = build(f, &ops, &layouts, &roles, users, subst);
        for &o in &ops {
            replaced.insert(o, None);
        }
        if let Some(last) = ops.last() {
            replaced.insert(*last, Some(pipeline));
        }
        changed = true;
    }
    if !replaced.is_empty() {
        region.ops = region.ops.iter().filter_map(|o| replaced.get(o).copied().unwrap_or(Some(*o))).collect();
    }
    changed
}

/// Whether an op has effects or nested regions (a pipeline's body does not count: it is pure),
/// so that nothing that can fail may be moved across it.
pub(crate) fn barrier(f: &Function, id: OpId) -> bool {
    let op = &f.ops[id];
    (!op.regions.is_empty() && !matches!(op.kind, OpKind::Pipeline(_)))
        || match &op.kind {
            OpKind::Builtin(b) => !b.is_pure(),
            OpKind::Call(_) | OpKind::Map(_) => true,
            _ => false,
        }
}

/// Whether an op of a pipeline can fail at runtime: the plan rules out shape errors, which
/// leaves what the op table says beyond them (`Fails`): integer division and remainder by
/// zero, and DAPHNE's domain checks (`sqrt`, `ln`, `asin`, `acos`).
pub(crate) fn fallible(f: &Function, id: OpId) -> bool {
    let op = &f.ops[id];
    if class(&op.kind) == Some(Class::Table) {
        // A negative coordinate (data, not shapes) fails the table.
        return true;
    }
    match op.kind {
        OpKind::Builtin(b) => match b.fails() {
            Fails::IntegerZero => op.results.iter().any(|&r| f.ty(r).value_type().is_some_and(ValueType::is_integer)),
            Fails::Domain => true,
            Fails::Never | Fails::Operands => false,
        },
        _ => false,
    }
}

/// Whether a type is one a pipeline handles: a numeric scalar or a dense numeric matrix.
fn fusable_type(t: &Type) -> bool {
    match t {
        Type::Scalar(vt) => *vt != ValueType::Str,
        Type::Matrix(m) => m.vt.is_some_and(|vt| vt != ValueType::Str) && m.repr != Some(Repr::Sparse),
        _ => false,
    }
}

/// Whether fusion may put an op of this kind into a pipeline (shapes permitting).
pub(crate) fn fusable_kind(kind: &OpKind) -> bool {
    class(kind).is_some()
}

/// The kinds of ops a pipeline holds.
#[derive(Clone, Copy, PartialEq)]
enum Class {
    Unary,
    Binary,
    Cond,
    RowAgg,
    Sink(Combine),
    Transpose,
    MatMul,
    Cbind,
    /// `syrk(X)`, `gemv(X, Y)`: `t(X) @ X` and `t(X) @ Y`, added up over the blocks.
    Gram,
    /// `outerEq(a, b)` and friends: a column `a` by rows against a whole row `b` (a one-hot
    /// encoding: `outerEq(labels, t(seq(0, k - 1)))`).
    Outer,
    /// `ctable(ys, xs, w, rows, cols)`: two columns by rows, each block's table added up.
    Table,
}

fn class(kind: &OpKind) -> Option<Class> {
    Some(match kind {
        OpKind::Cast => Class::Unary,
        OpKind::Builtin(b) => match b.fuse() {
            Fuse::EwUnary => Class::Unary,
            Fuse::EwBinary => Class::Binary,
            Fuse::Cond => Class::Cond,
            Fuse::Agg(Axis::Rows, _) => Class::RowAgg,
            Fuse::Agg(Axis::Full | Axis::Cols, reduce) => Class::Sink(reduce.combine()?),
            Fuse::Transpose => Class::Transpose,
            Fuse::MatMul => Class::MatMul,
            Fuse::Cbind => Class::Cbind,
            Fuse::Gram => Class::Gram,
            Fuse::Outer(_) => Class::Outer,
            Fuse::Table => Class::Table,
            Fuse::None => return None,
        },
        _ => return None,
    })
}

/// How op `id` would join a group, if it can.
fn plan(
    f: &Function,
    id: OpId,
    owner: &HashMap<Value, (usize, Layout)>,
    alias: &[usize],
    groups: &[Group],
    rows: &HashMap<Value, Value>,
    distributed: bool,
) -> Option<Plan> {
    let op = &f.ops[id];
    let class = class(&op.kind)?;
    if op.results.len() != 1 || !op.operands.iter().chain(&op.results).all(|&v| fusable_type(f.ty(v))) {
        return None;
    }
    let result = f.ty(op.results[0]);
    if class != Class::Sink(Combine::Add) && class != Class::Sink(Combine::Min) && class != Class::Sink(Combine::Max) {
        // Everything but full aggregations gives a matrix.
        result.is_matrix().then_some(())?;
    }
    let find = |mut g: usize| {
        while alias[g] != g {
            g = alias[g];
        }
        g
    };
    if class == Class::MatMul
        && let Some(p) = transposed_product(f, op, owner, &find, groups, rows)
    {
        return Some(p);
    }
    let mut roles = Vec::with_capacity(op.operands.len());
    for &v in &op.operands {
        let role = match owner.get(&v).map(|&(g, layout)| (find(g), layout)) {
            Some((g, Layout::Rows)) => {
                // A value of a finished group is an input like any other.
                if groups[g].open { Role::Member(g) } else { Role::Split(groups[g].dom) }
            }
            Some((g, _)) if groups[g].open => return None,
            // A finished group's columns or combined result: whole, as any outside value.
            Some(_) | None => match f.ty(v) {
                Type::Scalar(_) => Role::Broadcast,
                Type::Matrix(m) if m.rows == Some(1) => Role::Broadcast,
                Type::Matrix(m) => Role::Split(m.rows.map_or(Dom::Of(rows.get(&v).copied().unwrap_or(v)), Dom::Known)),
                _ => return None,
            },
        };
        roles.push(role);
    }
    if class == Class::MatMul && roles.len() == 2 {
        // `X @ W` takes W whole (checked below): its rows are no domain.
        roles[1] = Role::Broadcast;
    }
    let dom_of = |r: &Role| match r {
        Role::Member(g) => Some(groups[*g].dom),
        Role::Split(d) => Some(*d),
        Role::Broadcast => None,
    };
    let doms: Vec<Dom> = roles.iter().filter_map(dom_of).collect();
    let dom = *doms.first()?;
    if doms.iter().any(|d| *d != dom) {
        return None;
    }
    let cols = |v: Value| match f.ty(v) {
        Type::Matrix(m) => m.cols,
        _ => Some(1),
    };
    let split = |r: &Role| !matches!(r, Role::Broadcast);
    let layout = match class {
        Class::Unary | Class::RowAgg | Class::Transpose | Class::Sink(_) => {
            if !split(&roles[0]) {
                return None;
            }
            match class {
                Class::Transpose => Layout::Cols,
                Class::Sink(c) => Layout::Reduced(c),
                _ => Layout::Rows,
            }
        }
        Class::Binary => {
            // Broadcasting must not fail (the kernel broadcasts scalars on either side, row
            // and column vectors on the right): the left side is split or a scalar, and the
            // right side is a scalar, a column (split, or 1x1), or has the left side's columns.
            let (a, b) = (op.operands[0], op.operands[1]);
            let (ma, mb) = (f.ty(a).is_matrix(), f.ty(b).is_matrix());
            let fits = match (ma, mb) {
                (false, _) => true,
                (true, false) => split(&roles[0]),
                (true, true) => {
                    split(&roles[0])
                        && (cols(b) == Some(1) || a == b || matches!((cols(a), cols(b)), (Some(x), Some(y)) if x == y))
                }
            };
            if !fits {
                return None;
            }
            Layout::Rows
        }
        Class::Cond => {
            // Every matrix operand has the result's columns or one.
            let want = match result {
                Type::Matrix(m) => m.cols?,
                _ => return None,
            };
            for &v in &op.operands {
                if f.ty(v).is_matrix() && !matches!(cols(v), Some(c) if c == want || c == 1) {
                    return None;
                }
            }
            if class == Class::Cond && !f.ty(op.operands[0]).is_matrix() {
                return None;
            }
            Layout::Rows
        }
        Class::MatMul => {
            // `X @ W`: the rows of X, all of W.
            let w = op.operands[1];
            let known = matches!(f.ty(w), Type::Matrix(MatrixType { rows: Some(_), cols: Some(_), .. }));
            // A W that a group computes comes whole from that group, once it is closed.
            let open = owner.get(&w).is_some_and(|&(g, _)| groups[find(g)].open);
            // A product no wider than X: the kernel would find room for it wherever X fits, so
            // fusing (which never holds it whole) hides no out-of-memory error (`x @ t(x)` of
            // a column stays the kernel's, and fails for its 10^12 cells).
            let narrow = matches!((cols(op.operands[0]), cols(w)), (Some(a), Some(b)) if b <= a);
            if !split(&roles[0]) || open || !known || !narrow || cols(op.operands[0]) != rows_of(f.ty(w)) {
                return None;
            }
            roles[1] = Role::Broadcast;
            Layout::Rows
        }
        Class::Gram => {
            // Only a product of a value the group computes: of inputs alone, run block by
            // block, each block would make a partial result as large as the output (m x m
            // per 256 rows for `t(X) @ X`), more memory traffic than the arithmetic; the plain
            // kernel computes the same bits on tiles of the output. Except in a distributed
            // run, where running where the rows are saves moving them.
            if !roles.iter().all(split) || (!distributed && !roles.iter().any(|r| matches!(r, Role::Member(_)))) {
                return None;
            }
            Layout::Reduced(Combine::Add)
        }
        Class::Cbind => {
            if !roles.iter().all(split) {
                return None;
            }
            Layout::Rows
        }
        Class::Outer => {
            // An n x 1 column by rows, a 1 x k row whole, for a one-hot width of classes (a
            // wider outer product, `outerAdd(x, t(x))` of a long column, stays the kernel's,
            // which checks that its n x k cells fit before making them).
            let (a, b) = (op.operands[0], op.operands[1]);
            let few = matches!(cols(b), Some(k) if k <= MAX_OUTER_COLS);
            if !split(&roles[0]) || roles[1] != Role::Broadcast || cols(a) != Some(1) || !few || !f.ty(b).is_matrix() {
                return None;
            }
            Layout::Rows
        }
        Class::Table => {
            table_sums_exactly(f, op, dom)?;
            Layout::Reduced(Combine::Add)
        }
    };
    Some(Plan { roles, layout, dom })
}

/// Whether `ctable(ys, xs, w, rows, cols)` over `dom` rows may be the sum of its blocks'
/// tables with the kernel's bits: two columns; the sizes given (a table of the data's largest
/// coordinates would differ from block to block), at most `MAX_OUTER_COLS` cells (every block
/// makes a whole table); and every cell's sum exact in any order, so adding the blocks' tables
/// along the fold tree gives what the kernel's additions one by one give: integer cells, or
/// whole weights whose sum over all rows stays within the float's exact integers.
fn table_sums_exactly(f: &Function, op: &daphne_ir::Op, dom: Dom) -> Option<()> {
    let [ys, xs, w, rows, cols] = op.operands.as_slice() else { return None };
    for v in [ys, xs] {
        matches!(f.ty(*v), Type::Matrix(m) if m.cols == Some(1)).then_some(())?;
    }
    let int = |v: &Value| match crate::fold_constants::FoldConstants::constant(f, *v)? {
        daphne_ir::eval::Const::Scalar(Literal::Si64(x)) => u64::try_from(x).ok(),
        _ => None,
    };
    let cells = int(rows)?.checked_mul(int(cols)?)?;
    (cells <= MAX_OUTER_COLS).then_some(())?;
    let exact_bits = match f.ty(*w) {
        Type::Scalar(vt) if vt.is_integer() => return Some(()),
        Type::Scalar(ValueType::F64) => 53,
        Type::Scalar(ValueType::F32) => 24,
        _ => return None,
    };
    let weight = match crate::fold_constants::FoldConstants::constant(f, *w)? {
        daphne_ir::eval::Const::Scalar(Literal::F64(b)) => f64::from_bits(b),
        daphne_ir::eval::Const::Scalar(Literal::F32(b)) => f64::from(f32::from_bits(b)),
        _ => return None,
    };
    let Dom::Known(n) = dom else { return None };
    let total = weight.abs() * n as f64;
    (weight.fract() == 0.0 && total <= 2f64.powi(exact_bits)).then_some(())
}

/// `t(A) @ B` where the group transposed A and B has the group's rows: each block adds
/// `t(A_b) @ B_b` (the body computes it as `gemv`, or `syrk` when B is A).
fn transposed_product(
    f: &Function,
    op: &daphne_ir::Op,
    owner: &HashMap<Value, (usize, Layout)>,
    find: &dyn Fn(usize) -> usize,
    groups: &[Group],
    rows: &HashMap<Value, Value>,
) -> Option<Plan> {
    let (t, b) = (op.operands[0], op.operands[1]);
    let &(g, Layout::Cols) = owner.get(&t)? else { return None };
    let g = find(g);
    if !groups[g].open {
        return None;
    }
    let role = match owner.get(&b) {
        Some(&(h, Layout::Rows)) if find(h) == g => Role::Member(g),
        Some(_) => return None,
        None => match f.ty(b) {
            Type::Matrix(m) if m.rows != Some(1) => {
                Role::Split(m.rows.map_or(Dom::Of(rows.get(&b).copied().unwrap_or(b)), Dom::Known))
            }
            _ => return None,
        },
    };
    if let Role::Split(d) = role
        && d != groups[g].dom
    {
        return None;
    }
    Some(Plan { roles: vec![Role::Member(g), role], layout: Layout::Reduced(Combine::Add), dom: groups[g].dom })
}

fn rows_of(t: &Type) -> Option<u64> {
    match t {
        Type::Matrix(m) => m.rows,
        _ => Some(1),
    }
}

/// The type a value has inside a block: rows (or, for `cols` layout, columns) unknown.
fn block_type(t: &Type, layout: Layout) -> Type {
    match (t, layout) {
        (Type::Matrix(m), Layout::Rows) => Type::Matrix(MatrixType { rows: None, ..m.clone() }),
        (Type::Matrix(m), Layout::Cols) => Type::Matrix(MatrixType { cols: None, ..m.clone() }),
        (t, _) => t.clone(),
    }
}

/// Builds the pipeline op of a group (ops in region order); records in `subst` that the
/// group's outputs are now the pipeline's results.
fn build(
    f: &mut Function,
    ops: &[OpId],
    layouts: &HashMap<Value, Layout>,
    roles: &HashMap<OpId, Vec<Role>>,
    users: &HashMap<Value, Vec<OpId>>,
    subst: &mut HashMap<Value, Value>,
) -> OpId {
    let in_group: HashSet<OpId> = ops.iter().copied().collect();
    let mut map: HashMap<Value, Value> = HashMap::new();
    let mut consts: HashMap<Value, Value> = HashMap::new();
    let mut inputs: Vec<Value> = Vec::new();
    let mut splits: Vec<Split> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    let mut body: Vec<OpId> = Vec::new();
    for &id in ops {
        let op = f.ops[id].clone();
        let mut operands = Vec::with_capacity(op.operands.len());
        for (&v, role) in op.operands.iter().zip(&roles[&id]) {
            if let Some(&inner) = map.get(&v) {
                operands.push(inner);
                continue;
            }
            if let ValueDef::Result(def, _) = f.values[v].def
                && let OpKind::Const(lit) = &f.ops[def].kind
            {
                let inner = match consts.get(&v) {
                    Some(&c) => c,
                    None => {
                        let c = f.new_op(OpKind::Const(lit.clone()), vec![], vec![f.ty(v).clone()], vec![], f.loc(def));
                        body.push(c);
                        let r = f.ops[c].results[0];
                        consts.insert(v, r);
                        r
                    }
                };
                operands.push(inner);
                continue;
            }
            let split = match role {
                Role::Split(_) | Role::Member(_) => Split::Rows,
                Role::Broadcast => Split::Broadcast,
            };
            let ty = if split == Split::Rows { block_type(f.ty(v), Layout::Rows) } else { f.ty(v).clone() };
            let arg = f.new_arg(ty);
            inputs.push(v);
            splits.push(split);
            args.push(arg);
            operands.push(arg);
        }
        let types: Vec<Type> = op.results.iter().map(|&r| block_type(f.ty(r), layouts[&r])).collect();
        let mut kind = op.kind.clone();
        if kind == OpKind::Builtin(Builtin::MatMul) && layouts.get(&op.operands[0]) == Some(&Layout::Cols) {
            // `t(A_b) @ B_b`: A_b is what the body's transpose transposed.
            if let ValueDef::Result(t, _) = f.values[operands[0]].def {
                operands[0] = f.ops[t].operands[0];
            }
            kind = if operands[0] == operands[1] {
                operands.pop();
                OpKind::Builtin(Builtin::Syrk)
            } else {
                OpKind::Builtin(Builtin::Gemv)
            };
        }
        let copy = f.new_op(kind, operands, types, vec![], f.loc(id));
        body.push(copy);
        for (&r, &c) in op.results.iter().zip(&f.ops[copy].results.clone()) {
            map.insert(r, c);
        }
    }
    // Outputs: the values used outside the group, in the order they are defined.
    let mut outputs = Vec::new();
    for &id in ops {
        for &r in &f.ops[id].results {
            let used_outside = users.get(&r).is_some_and(|us| us.iter().any(|u| !in_group.contains(u)));
            if used_outside {
                outputs.push(r);
            }
        }
    }
    let yielded: Vec<Value> = outputs.iter().map(|o| map[o]).collect();
    let y = f.new_op(OpKind::Yield, yielded, vec![], vec![], None);
    body.push(y);
    let combines: Vec<Combine> = outputs
        .iter()
        .map(|o| match layouts[o] {
            Layout::Rows => Combine::Rows,
            Layout::Cols => Combine::Cols,
            Layout::Reduced(c) => c,
        })
        .collect();
    let types: Vec<Type> = outputs.iter().map(|&o| f.ty(o).clone()).collect();
    let loc = ops.last().and_then(|&l| f.loc(l));
    let p = f.new_op(
        OpKind::Pipeline(PipelineSpec { splits, combines }),
        inputs,
        types,
        vec![Region { args, ops: body }],
        loc,
    );
    for (&o, &r) in outputs.iter().zip(&f.ops[p].results.clone()) {
        subst.insert(o, r);
    }
    p
}
