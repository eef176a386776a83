//! `KernelCompiler`: a pipeline op becomes a native per-block kernel (see `abi.rs`).
//!
//! Supported today: pipelines whose row-split inputs and row-laid values are matrices of one
//! cell type, `f64`, `f32` (f64x2 or f32x4 vectors) or `si64` (scalar code, the operations
//! that cannot fail: `INT_OPS`), and of one width (so a block is one flat range of cells; a
//! width the types do not know is checked by the engine at run time), scalar broadcast inputs
//! of any numeric type, elementwise ops, `rows` outputs, and `sum`/`min`/`max` of all cells as
//! add/min/max outputs; and row kernels for pipelines with `sumRow`/`minRow`/`maxRow` and the
//! values that use them, or with `sumCol`/`minCol`/`maxCol` outputs (`RowShape`); a row
//! kernel also takes broadcast row vectors (`X - mean(X, 1)`, loaded at the cell's column) and
//! `sum`/`aggMin`/`aggMax` of its full-width values as outputs, and is vectorized across
//! columns where nothing accumulates along a row. Anything else returns `None`,
//! and the engine interprets that pipeline instead, so a script never depends on what the JIT covers. Every operation
//! computes what the interpreter computes, bit for bit: Cranelift's IEEE instructions where
//! they agree with Rust's `f64` (add, sub, mul, div, sqrt, floor, ceil, abs, neg,
//! comparisons), the runtime's own functions (`math.rs`) for the rest; `x ^ 2` is `x * x`
//! (both are correctly rounded).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cranelift_codegen::Context;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    AbiParam, FuncRef, InstBuilder, MemFlagsData, Type as ClifType, Value as ClifValue, types,
};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, default_libcall_names};
use daphne_ir::pipeline::LANES;
use daphne_ir::{Axis, Builtin, Combine, Function, Literal, OpId, OpKind, Split, Type, Value, ValueType};

use crate::abi::KernelFn;
use crate::error::CodegenError;
use crate::math;

/// A compiled pipeline.
#[derive(Debug)]
pub struct Kernel {
    pub code: KernelFn,
    /// Per input: its split mode and value type.
    pub inputs: Vec<(Split, ValueType)>,
    /// Per output: its combine mode.
    pub outputs: Vec<Combine>,
    /// The value type of every row-split input, row-laid value and output (`f64` or `f32`).
    pub elem: ValueType,
    /// The columns of every row-split value, when the types know them (otherwise the engine
    /// checks that the row-split inputs are equally wide: the code works on flat cells). In a
    /// row kernel (one with row aggregations), the width of the full-width values.
    pub cols: Option<u64>,
    /// Per input and per output: whether it is one column wide in a row kernel (a column
    /// vector beside full-width values); all false in a flat kernel.
    pub narrow_inputs: Vec<bool>,
    pub narrow_outputs: Vec<bool>,
    /// Per input: whether it is a broadcast row vector of a row kernel (one cell per column,
    /// the same for every row: `X - colMeans`); all false in a flat kernel.
    pub row_vector_inputs: Vec<bool>,
    /// Whether this is a row kernel (a loop per row and phase, see `RowShape`).
    pub row_kernel: bool,
    /// Per output: whether it is a column aggregation, whose block value is one cell per
    /// column (an add/min/max output of a row kernel).
    pub across_outputs: Vec<bool>,
    /// The Cranelift IR of the kernel (`daphnec --emit clif`).
    pub clif: String,
    /// How long compiling took.
    pub compile_time: Duration,
}

/// Compiles pipelines into kernels, once per distinct pipeline (keyed by its canonical text).
/// Kernel code stays valid for the life of the process.
pub struct KernelCompiler {
    module: JITModule,
    ctx: Context,
    fctx: FunctionBuilderContext,
    unary: HashMap<Builtin, FuncId>,
    binary: HashMap<Builtin, FuncId>,
    binary_f32: HashMap<Builtin, FuncId>,
    cache: HashMap<String, Option<Arc<Kernel>>>,
    count: usize,
}

impl KernelCompiler {
    pub fn new() -> Result<KernelCompiler, CodegenError> {
        let mut flags = settings::builder();
        flags.set("opt_level", "speed").map_err(|e| CodegenError::Cranelift(e.to_string()))?;
        let isa = cranelift_native::builder()
            .map_err(|e| CodegenError::NoBackend(e.to_string()))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| CodegenError::Cranelift(e.to_string()))?;
        let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
        for &(_, name, f) in math::UNARY {
            builder.symbol(name, f as *const u8);
        }
        for &(_, name, f) in math::BINARY {
            builder.symbol(name, f as *const u8);
        }
        for &(_, name, f) in math::BINARY_F32 {
            builder.symbol(name, f as *const u8);
        }
        let mut module = JITModule::new(builder);
        let mut sig1 = module.make_signature();
        sig1.params.push(AbiParam::new(types::F64));
        sig1.returns.push(AbiParam::new(types::F64));
        let mut sig2 = sig1.clone();
        sig2.params.push(AbiParam::new(types::F64));
        let mut unary = HashMap::new();
        for &(op, name, _) in math::UNARY {
            unary.insert(
                op,
                module
                    .declare_function(name, Linkage::Import, &sig1)
                    .map_err(|e| CodegenError::Cranelift(e.to_string()))?,
            );
        }
        let mut binary = HashMap::new();
        for &(op, name, _) in math::BINARY {
            binary.insert(
                op,
                module
                    .declare_function(name, Linkage::Import, &sig2)
                    .map_err(|e| CodegenError::Cranelift(e.to_string()))?,
            );
        }
        let mut sig2f = module.make_signature();
        sig2f.params.push(AbiParam::new(types::F32));
        sig2f.params.push(AbiParam::new(types::F32));
        sig2f.returns.push(AbiParam::new(types::F32));
        let mut binary_f32 = HashMap::new();
        for &(op, name, _) in math::BINARY_F32 {
            binary_f32.insert(
                op,
                module
                    .declare_function(name, Linkage::Import, &sig2f)
                    .map_err(|e| CodegenError::Cranelift(e.to_string()))?,
            );
        }
        let ctx = module.make_context();
        Ok(KernelCompiler {
            module,
            ctx,
            fctx: FunctionBuilderContext::new(),
            unary,
            binary,
            binary_f32,
            cache: HashMap::new(),
            count: 0,
        })
    }

    /// How many kernels this compiler has compiled (its cache's hits not counted).
    pub fn compiled(&self) -> usize {
        self.count
    }

    /// The kernel of pipeline `op` of `f`, compiled on first request; `None` when the
    /// pipeline uses something the JIT does not cover (the engine interprets it then).
    pub fn compile(&mut self, f: &Function, op: OpId) -> Option<Arc<Kernel>> {
        let module = daphne_ir::pipeline::extract(f, op)?;
        let key = daphne_ir::print::module(&module);
        if let Some(k) = self.cache.get(&key) {
            return k.clone();
        }
        let start = Instant::now();
        let g = &module.functions[0];
        let kernel = self.build(g, g.body.ops[0]).map(|(code, plan, clif)| {
            let row_kernel = plan.rows.is_some();
            let across_outputs: Vec<bool> = match &plan.rows {
                Some(r) => r.across_out.clone(),
                None => vec![false; plan.combines.len()],
            };
            let (narrow_inputs, narrow_outputs, row_vector_inputs) = match &plan.rows {
                Some(r) => (r.narrow_in.clone(), r.narrow_out.clone(), r.row_vector_in.clone()),
                None => {
                    (vec![false; plan.inputs.len()], vec![false; plan.combines.len()], vec![false; plan.inputs.len()])
                }
            };
            let (inputs, outputs, elem, cols) = (plan.inputs, plan.combines, plan.elem, plan.cols);
            Arc::new(Kernel {
                code,
                inputs,
                outputs,
                elem,
                cols,
                narrow_inputs,
                narrow_outputs,
                row_vector_inputs,
                row_kernel,
                across_outputs,
                clif,
                compile_time: start.elapsed(),
            })
        });
        self.ctx.clear();
        self.cache.insert(key, kernel.clone());
        kernel
    }

    fn build(&mut self, f: &Function, op: OpId) -> Option<(KernelFn, Plan, String)> {
        let plan = Plan::new(f, op).or_else(|| Plan::rows(f, op))?;
        self.ctx.clear();
        let ptr = self.module.target_config().pointer_type();
        self.ctx.func.signature.params.push(AbiParam::new(ptr));
        self.ctx.func.signature.returns.push(AbiParam::new(types::I32));
        let mut funcs = HashMap::new();
        for (b, id) in self.unary.iter().chain(&self.binary) {
            if plan.uses(*b) {
                funcs.insert(*b, *id);
            }
        }
        if plan.elem == ValueType::F32 {
            for (b, id) in &self.binary_f32 {
                if plan.uses(*b) {
                    funcs.insert(*b, *id);
                }
            }
        }
        {
            let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
            let refs: HashMap<Builtin, FuncRef> =
                funcs.iter().map(|(&op, &id)| (op, self.module.declare_func_in_func(id, b.func))).collect();
            let bad = b.declare_var(types::I8);
            let (elem, vec_ty, width) = match plan.elem {
                ValueType::F32 => (types::F32, types::F32X4, 4),
                ValueType::Si64 => (types::I64, types::I64X2, 2),
                _ => (types::F64, types::F64X2, 2),
            };
            let vector = std::cell::Cell::new(false);
            let emitter = Emitter { f, plan: &plan, refs, ptr, bad, vector, elem, vec_ty, width };
            if plan.rows.is_some() {
                emitter.emit_rows(&mut b)?
            } else {
                emitter.emit(&mut b)?
            };
            b.finalize(self.module.target_config());
        }
        let clif = self.ctx.func.display().to_string();
        self.count += 1;
        let name = format!("pipeline_{}", self.count);
        let id = self.module.declare_function(&name, Linkage::Local, &self.ctx.func.signature).ok()?;
        self.module.define_function(id, &mut self.ctx).ok()?;
        self.module.clear_context(&mut self.ctx);
        self.module.finalize_definitions().ok()?;
        let code = self.module.get_finalized_function(id);
        // SAFETY: `code` was just finalized with the kernel signature.
        #[allow(unsafe_code)]
        let code = unsafe { KernelFn::from_code(code) };
        Some((code, plan, clif))
    }
}

/// The elementwise operations of `si64` kernels (division, remainder and `pow` can fail or
/// need the runtime's functions: those pipelines are interpreted).
const INT_OPS: &[Builtin] = &[
    Builtin::EwAdd,
    Builtin::EwSub,
    Builtin::EwMul,
    Builtin::EwMin,
    Builtin::EwMax,
    Builtin::EwAnd,
    Builtin::EwOr,
    Builtin::EwEq,
    Builtin::EwNe,
    Builtin::EwLt,
    Builtin::EwLe,
    Builtin::EwGt,
    Builtin::EwGe,
    Builtin::EwMinus,
    Builtin::EwAbs,
    Builtin::EwSign,
    Builtin::EwNot,
    Builtin::EwIsNan,
    Builtin::EwFloor,
    Builtin::EwCeil,
    Builtin::EwRound,
];

/// A sum, minimum or maximum (of all cells, of each row or of each column: the op table's
/// aggregations whose block partials combine), with its axis and combine mode.
fn foldable(kind: &OpKind) -> Option<(Axis, Combine)> {
    let OpKind::Builtin(b) = kind else { return None };
    let (axis, reduce) = b.aggregation()?;
    Some((axis, reduce.combine()?))
}

/// What a pipeline needs from the kernel, checked before any code is emitted.
struct Plan {
    op: OpId,
    inputs: Vec<(Split, ValueType)>,
    combines: Vec<Combine>,
    elem: ValueType,
    cols: Option<u64>,
    /// The builtins the body uses.
    builtins: Vec<Builtin>,
    /// The shape of a row kernel; `None` for a flat one.
    rows: Option<RowShape>,
}

/// Where a value of a row kernel lives: one per block (a scalar), one per row (a column), or
/// one per cell.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Scalar,
    Col,
    Full,
    /// A column aggregation (`sumCol`, ...): one value per column for the block, an output.
    Across,
    /// A full aggregation (`sum`, `aggMin`, `aggMax` of a full-width value): one value for
    /// the block, an output; cell `k` of the block feeds sum lane `k % LANES`, as in a flat
    /// kernel.
    Total,
    /// A broadcast row vector input: one value per column, the same for every row; only the
    /// right operand of an elementwise op with a full-width value on its left.
    Row,
}

/// How an in-order reduction combines (the runtime's `reduce`: from 0, +inf or -inf).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Fold {
    Sum,
    Min,
    Max,
}

impl Fold {
    /// The fold of a full, row or column aggregation.
    fn of(op: &OpKind) -> Option<Fold> {
        match foldable(op)?.1 {
            Combine::Add => Some(Fold::Sum),
            Combine::Min => Some(Fold::Min),
            Combine::Max => Some(Fold::Max),
            Combine::Rows | Combine::Cols => None,
        }
    }

    /// The value the reduction starts from (in the cell type, infinities saturate for
    /// integers as the runtime converts them).
    fn start(self) -> f64 {
        match self {
            Fold::Sum => 0.0,
            Fold::Min => f64::INFINITY,
            Fold::Max => f64::NEG_INFINITY,
        }
    }
}

/// A row kernel: for every row, a loop over the row's cells per phase. A row aggregation of
/// a value computed in phase `p` is known after that loop, so the values that use it are of
/// phase `p + 1` (a column value is computed before the loop of its phase, a full-width value
/// in it, and again in later loops that need it).
struct RowShape {
    /// The full width, when the types know it (else the engine passes it: `BlockArgs::cols`).
    width: Option<u64>,
    narrow_in: Vec<bool>,
    /// Per input: whether it is a broadcast row vector (`Kind::Row`).
    row_vector_in: Vec<bool>,
    narrow_out: Vec<bool>,
    across_out: Vec<bool>,
    /// Every value's kind and phase.
    kinds: HashMap<Value, (Kind, usize)>,
    phases: usize,
}

impl Plan {
    fn new(f: &Function, op: OpId) -> Option<Plan> {
        let p = f.ops.try_get(op)?;
        let OpKind::Pipeline(spec) = &p.kind else { return None };
        let body = p.regions.first()?;
        let mut cols = None;
        let mut elem = None;
        let mut rows_inputs = 0;
        let mut inputs = Vec::new();
        for (&a, &split) in body.args.iter().zip(&spec.splits) {
            match (split, f.ty(a)) {
                (Split::Rows, Type::Matrix(m))
                    if matches!(m.vt, Some(ValueType::F64 | ValueType::F32 | ValueType::Si64)) =>
                {
                    if let (Some(c), Some(d)) = (cols, m.cols)
                        && c != d
                    {
                        return None;
                    }
                    if elem.is_some_and(|e| Some(e) != m.vt) {
                        return None;
                    }
                    cols = cols.or(m.cols);
                    elem = m.vt;
                    rows_inputs += 1;
                    inputs.push((split, m.vt?));
                }
                (Split::Broadcast, Type::Scalar(vt)) if *vt != ValueType::Str => inputs.push((split, *vt)),
                _ => return None,
            }
        }
        let elem = elem?;
        if rows_inputs == 0 {
            return None;
        }
        // A width the types give must be the inputs' width (unknown widths are checked at run
        // time, where all row-split inputs must be equally wide).
        let same_width = |w: Option<u64>| w.is_none() || cols.is_none() || w == cols;
        let mut builtins = Vec::new();
        let mut sinks = HashMap::new();
        let (&yield_op, ops) = body.ops.split_last()?;
        for &id in ops {
            let o = &f.ops[id];
            let [r] = o.results.as_slice() else { return None };
            // Every row-laid value is as wide as the inputs: the inputs all are, and elementwise
            // ops with scalars keep the width (a type may just not know it).
            let row_value = matches!(f.ty(*r), Type::Matrix(m) if m.vt == Some(elem) && same_width(m.cols));
            match &o.kind {
                OpKind::Const(lit) => {
                    if matches!(lit, Literal::Str(_)) {
                        return None;
                    }
                }
                OpKind::Cast if row_value && f.ty(o.operands[0]).value_type() == Some(elem) => {}
                kind if matches!(foldable(kind), Some((Axis::Full, _))) => {
                    if f.ty(*r) != &Type::Scalar(elem) {
                        return None;
                    }
                    sinks.insert(*r, foldable(kind)?.1);
                }
                OpKind::Builtin(b) if row_value && (b.is_ew_unary() || b.is_ew_binary()) => {
                    // Integer kernels have the operations that cannot fail and need no function.
                    if elem == ValueType::Si64 && !INT_OPS.contains(b) {
                        return None;
                    }
                    builtins.push(*b)
                }
                _ => return None,
            }
        }
        let y = &f.ops[yield_op];
        for (&v, &c) in y.operands.iter().zip(&spec.combines) {
            let ok = match c {
                Combine::Rows => {
                    matches!(f.ty(v), Type::Matrix(m) if m.vt == Some(elem) && same_width(m.cols))
                }
                Combine::Add | Combine::Min | Combine::Max => sinks.get(&v) == Some(&c),
                Combine::Cols => false,
            };
            if !ok {
                return None;
            }
        }
        // A sink's value may only leave the pipeline: inside, every operand is per cell.
        for &id in ops {
            if f.ops[id].operands.iter().any(|v| sinks.contains_key(v)) {
                return None;
            }
        }
        Some(Plan { op, inputs, combines: spec.combines.clone(), elem, cols, builtins, rows: None })
    }

    fn uses(&self, b: Builtin) -> bool {
        self.builtins.contains(&b)
    }

    /// The plan of a row kernel: row-split inputs of one known width `W >= 2` or one column,
    /// elementwise ops (a column vector only on the right of a full-width operand), `sumRow`,
    /// `minRow`, `maxRow`, casts within the cell type, `rows` outputs, column aggregations and
    /// full aggregations of full-width values as outputs, broadcast row vectors.
    fn rows(f: &Function, op: OpId) -> Option<Plan> {
        let p = f.ops.try_get(op)?;
        let OpKind::Pipeline(spec) = &p.kind else { return None };
        let body = p.regions.first()?;
        let mut width: Option<u64> = None;
        let mut full_inputs = 0;
        let mut elem = None;
        let mut kinds: HashMap<Value, (Kind, usize)> = HashMap::new();
        let (mut inputs, mut narrow_in, mut row_vector_in) = (Vec::new(), Vec::new(), Vec::new());
        // The widths the broadcast row vectors' types give (checked against the full width).
        let mut row_widths = Vec::new();
        for (&a, &split) in body.args.iter().zip(&spec.splits) {
            row_vector_in.push(false);
            match (split, f.ty(a)) {
                (Split::Broadcast, Type::Matrix(m))
                    if m.rows == Some(1)
                        && m.cols != Some(1)
                        && matches!(m.vt, Some(ValueType::F64 | ValueType::F32 | ValueType::Si64)) =>
                {
                    if elem.is_some_and(|e| Some(e) != m.vt) {
                        return None;
                    }
                    elem = m.vt;
                    row_widths.extend(m.cols);
                    kinds.insert(a, (Kind::Row, 0));
                    narrow_in.push(false);
                    *row_vector_in.last_mut()? = true;
                    inputs.push((split, m.vt?));
                }
                (Split::Rows, Type::Matrix(m))
                    if matches!(m.vt, Some(ValueType::F64 | ValueType::F32 | ValueType::Si64)) =>
                {
                    if elem.is_some_and(|e| Some(e) != m.vt) {
                        return None;
                    }
                    elem = m.vt;
                    // A width the types do not know is a full width, known at run time.
                    match m.cols {
                        Some(1) => {
                            kinds.insert(a, (Kind::Col, 0));
                            narrow_in.push(true);
                        }
                        w => {
                            if let (Some(x), Some(w)) = (width, w)
                                && x != w
                            {
                                return None;
                            }
                            width = width.or(w);
                            full_inputs += 1;
                            kinds.insert(a, (Kind::Full, 0));
                            narrow_in.push(false);
                        }
                    }
                    inputs.push((split, m.vt?));
                }
                (Split::Broadcast, Type::Scalar(vt)) if *vt != ValueType::Str => {
                    kinds.insert(a, (Kind::Scalar, 0));
                    narrow_in.push(false);
                    inputs.push((split, *vt));
                }
                _ => return None,
            }
        }
        let elem = elem?;
        if full_inputs == 0 || width.is_some_and(|w| row_widths.iter().any(|&r| r != w)) {
            return None;
        }
        // The kind of a matrix value of the cell type.
        let kind_of = |v: Value| match f.ty(v) {
            Type::Matrix(m) if m.vt == Some(elem) && m.cols == Some(1) => Some(Kind::Col),
            Type::Matrix(m) if m.vt == Some(elem) && (m.cols.is_none() || m.cols == width) => Some(Kind::Full),
            _ => None,
        };
        let mut builtins = Vec::new();
        let mut has_row_agg = false;
        let (&yield_op, ops) = body.ops.split_last()?;
        for &id in ops {
            let o = &f.ops[id];
            let [r] = o.results.as_slice() else { return None };
            let of = |v: &Value| kinds.get(v).copied();
            let entry = match &o.kind {
                OpKind::Const(Literal::Str(_)) => return None,
                OpKind::Const(_) => (Kind::Scalar, 0),
                OpKind::Cast => {
                    let (k, phase) = of(&o.operands[0])?;
                    if k == Kind::Scalar || f.ty(o.operands[0]).value_type() != Some(elem) || kind_of(*r) != Some(k) {
                        return None;
                    }
                    (k, phase)
                }
                kind if matches!(foldable(kind), Some((Axis::Rows, _))) => {
                    let (k, phase) = of(&o.operands[0])?;
                    if k != Kind::Full || kind_of(*r) != Some(Kind::Col) {
                        return None;
                    }
                    has_row_agg = true;
                    (Kind::Col, phase + 1)
                }
                kind if matches!(foldable(kind), Some((Axis::Cols, _))) => {
                    let (k, phase) = of(&o.operands[0])?;
                    let one_row = matches!(f.ty(*r), Type::Matrix(m) if m.vt == Some(elem) && m.rows == Some(1));
                    if k != Kind::Full || !one_row {
                        return None;
                    }
                    has_row_agg = true;
                    (Kind::Across, phase)
                }
                kind if matches!(foldable(kind), Some((Axis::Full, _))) => {
                    let (k, phase) = of(&o.operands[0])?;
                    if k != Kind::Full || f.ty(*r) != &Type::Scalar(elem) {
                        return None;
                    }
                    (Kind::Total, phase)
                }
                OpKind::Builtin(b) if b.is_ew_unary() || b.is_ew_binary() => {
                    if elem == ValueType::Si64 && !INT_OPS.contains(b) {
                        return None;
                    }
                    let args: Vec<(Kind, usize)> = o.operands.iter().map(of).collect::<Option<_>>()?;
                    let k = kind_of(*r)?;
                    let fits = match (k, args.as_slice()) {
                        (Kind::Full, [(a, _)]) => *a == Kind::Full,
                        (Kind::Col, [(a, _)]) => *a == Kind::Col,
                        // A column broadcasts only on the right of a full-width value.
                        (Kind::Full, [(a, _), (c, _)]) => matches!(
                            (a, c),
                            (Kind::Full, Kind::Full | Kind::Col | Kind::Row | Kind::Scalar)
                                | (Kind::Scalar, Kind::Full)
                        ),
                        (Kind::Col, [(a, _), (c, _)]) => {
                            matches!(a, Kind::Col | Kind::Scalar) && matches!(c, Kind::Col | Kind::Scalar)
                        }
                        _ => false,
                    };
                    if !fits {
                        return None;
                    }
                    builtins.push(*b);
                    (k, args.iter().map(|&(_, p)| p).max().unwrap_or(0))
                }
                _ => return None,
            };
            kinds.insert(*r, entry);
        }
        // Without row aggregations or row vectors a flat kernel does the work (`Plan::new`).
        if !has_row_agg && !row_vector_in.contains(&true) {
            return None;
        }
        // A column or full aggregation only leaves the pipeline.
        for &id in ops {
            if f.ops[id]
                .operands
                .iter()
                .any(|v| kinds.get(v).is_some_and(|&(k, _)| matches!(k, Kind::Across | Kind::Total)))
            {
                return None;
            }
        }
        let mut narrow_out = Vec::new();
        for (&v, &c) in f.ops[yield_op].operands.iter().zip(&spec.combines) {
            // The aggregation (and how its partials combine) that defines an output.
            let agg = |v: &Value| match f.values[*v].def {
                daphne_ir::ValueDef::Result(id, _) => foldable(&f.ops[id].kind),
                daphne_ir::ValueDef::Arg => None,
            };
            match (c, kinds.get(&v)) {
                (Combine::Rows, Some((Kind::Full, _))) => narrow_out.push(false),
                (Combine::Rows, Some((Kind::Col, _))) => narrow_out.push(true),
                (_, Some((Kind::Across, _))) if agg(&v) == Some((Axis::Cols, c)) => narrow_out.push(false),
                (_, Some((Kind::Total, _))) if agg(&v) == Some((Axis::Full, c)) => narrow_out.push(false),
                _ => return None,
            }
        }
        let phases = kinds.values().map(|&(_, p)| p).max().unwrap_or(0);
        let across_out: Vec<bool> =
            f.ops[yield_op].operands.iter().map(|v| kinds.get(v).is_some_and(|&(k, _)| k == Kind::Across)).collect();
        Some(Plan {
            op,
            inputs,
            combines: spec.combines.clone(),
            elem,
            cols: width,
            builtins,
            rows: Some(RowShape { width, narrow_in, row_vector_in, narrow_out, across_out, kinds, phases }),
        })
    }
}

/// Emits one kernel's code.
struct Emitter<'a> {
    f: &'a Function,
    plan: &'a Plan,
    refs: HashMap<Builtin, FuncRef>,
    ptr: ClifType,
    /// Set when a cell fails one of DAPHNE's domain checks; the kernel then returns 1 and the
    /// engine lets the interpreter run the pipeline, which reports the error exactly.
    bad: Variable,
    /// Whether the code being emitted works on several cells at once (`vec_ty`).
    vector: std::cell::Cell<bool>,
    /// The type of a cell (`f64` or `f32`), of a vector of cells, and the cells per vector.
    elem: ClifType,
    vec_ty: ClifType,
    width: usize,
}

/// What a kernel's entry block provides: the argument pointer, the block's cells, the base of
/// every row-split input (and of every broadcast row vector), the broadcast scalars, the output pointers.
struct Entry {
    args: ClifValue,
    cells: ClifValue,
    row_inputs: Vec<(Value, ClifValue)>,
    fixed: HashMap<Value, ClifValue>,
    out_at: Vec<ClifValue>,
}

/// A reduction's accumulators.
enum Acc {
    /// `LANES` partial sums: `LANES` scalars, or `LANES / 2` pairs (`f64x2`) when the main loop
    /// is vectorized (pair `q` holds lanes `2q` and `2q + 1`).
    Sum(Vec<Variable>, bool),
    /// One running minimum or maximum.
    Extreme(Variable, bool),
}

impl Emitter<'_> {
    /// The kernel's entry block: the arguments read, the domain flag cleared, broadcast
    /// scalars loaded and converted to the cell type once.
    fn entry(&self, b: &mut FunctionBuilder<'_>, outputs: usize) -> Entry {
        let trusted = MemFlagsData::trusted();
        let f = self.f;
        let body = &f.ops[self.plan.op].regions[0];
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let args = b.block_params(entry)[0];
        let no = b.ins().iconst(types::I8, 0);
        b.def_var(self.bad, no);
        let cells = b.ins().load(types::I64, trusted, args, 0);
        let in_ptrs = b.ins().load(self.ptr, trusted, args, 8);
        let out_ptrs = b.ins().load(self.ptr, trusted, args, 16);
        let (mut row_inputs, mut fixed) = (Vec::new(), HashMap::new());
        for (i, (&a, &(split, vt))) in body.args.iter().zip(&self.plan.inputs).enumerate() {
            let at = b.ins().load(self.ptr, trusted, in_ptrs, (8 * i) as i32);
            let row_vector = self.plan.rows.as_ref().is_some_and(|r| r.row_vector_in[i]);
            match split {
                Split::Rows => row_inputs.push((a, at)),
                // A row vector is read per column, from its base, like the row-split inputs.
                Split::Broadcast if row_vector => row_inputs.push((a, at)),
                Split::Broadcast => {
                    fixed.insert(a, load_scalar(b, vt, at, self.elem));
                }
            }
        }
        let out_at = (0..outputs).map(|i| b.ins().load(self.ptr, trusted, out_ptrs, (8 * i) as i32)).collect();
        Entry { args, cells, row_inputs, fixed, out_at }
    }

    /// A row kernel (see `RowShape`): row by row, a loop over the row's cells per phase (on
    /// vectors of columns where it can); row and column aggregations accumulate in row order,
    /// as the runtime's `reduce`.
    fn emit_rows(&self, b: &mut FunctionBuilder<'_>) -> Option<()> {
        let f = self.f;
        let shape = self.plan.rows.as_ref()?;
        let p = &f.ops[self.plan.op];
        let body = &p.regions[0];
        let (&yield_op, ops) = body.ops.split_last()?;
        let outputs = &f.ops[yield_op].operands;
        let trusted = MemFlagsData::trusted();
        let size: i64 = if self.elem == types::F32 { 4 } else { 8 };
        let kind = |v: &Value| shape.kinds.get(v).copied();
        let load = |b: &mut FunctionBuilder<'_>, base: ClifValue, offset: ClifValue| {
            let at = b.ins().iadd(base, offset);
            b.ins().load(self.elem, trusted, at, 0)
        };
        let store = |b: &mut FunctionBuilder<'_>, x: ClifValue, base: ClifValue, offset: ClifValue| {
            let at = b.ins().iadd(base, offset);
            b.ins().store(trusted, x, at, 0);
        };

        let Entry { args, cells, row_inputs, mut fixed, out_at } = self.entry(b, outputs.len());
        let width = match shape.width {
            Some(w) => b.ins().iconst(types::I64, w as i64),
            None => b.ins().load(types::I64, trusted, args, 24),
        };
        let rows = b.ins().udiv(cells, width);
        // The bases of the row-split inputs with their kinds; constants once.
        let bases: Vec<(Value, Kind, ClifValue)> =
            row_inputs.iter().map(|&(a, at)| Some((a, kind(&a)?.0, at))).collect::<Option<_>>()?;
        for &id in ops {
            let o = &f.ops[id];
            if let OpKind::Const(lit) = &o.kind {
                let c = self.literal(b, lit)?;
                fixed.insert(o.results[0], c);
            }
        }
        // The op defining `v`.
        let def = |v: &Value| match f.values[*v].def {
            daphne_ir::ValueDef::Result(id, _) => Some(&f.ops[id]),
            daphne_ir::ValueDef::Arg => None,
        };

        // Column aggregations accumulate into their outputs (one cell per column), which start
        // at the aggregation's start value.
        let mut across: Vec<(usize, Fold, Value, usize)> = Vec::new();
        for (i, v) in outputs.iter().enumerate() {
            if kind(v)?.0 == Kind::Across {
                let o = def(v)?;
                across.push((i, Fold::of(&o.kind)?, o.operands[0], kind(&o.operands[0])?.1));
            }
        }
        // Full aggregations: a sum's `LANES` partial sums live in a stack slot (the lane of a
        // cell is its index in the block modulo `LANES`, known only at run time here); a
        // minimum or maximum is one running value.
        let mut totals: Vec<(usize, Fold, Value, usize, Variable, Option<ClifValue>)> = Vec::new();
        for (i, v) in outputs.iter().enumerate() {
            if kind(v)?.0 == Kind::Total {
                let o = def(v)?;
                let how = Fold::of(&o.kind)?;
                let running = b.declare_var(self.elem);
                let start = self.scalar_const(b, how.start());
                b.def_var(running, start);
                let lanes = (how == Fold::Sum).then(|| {
                    let data = cranelift_codegen::ir::StackSlotData::new(
                        cranelift_codegen::ir::StackSlotKind::ExplicitSlot,
                        (LANES as i64 * size) as u32,
                        3,
                    );
                    let slot = b.create_sized_stack_slot(data);
                    let at = b.ins().stack_addr(self.ptr, slot, 0);
                    for lane in 0..LANES {
                        b.ins().store(trusted, start, at, (lane as i64 * size) as i32);
                    }
                    at
                });
                totals.push((i, how, o.operands[0], kind(&o.operands[0])?.1, running, lanes));
            }
        }
        if !across.is_empty() {
            self.counted_loop(b, width, |b, c| {
                let column = b.ins().imul_imm_u(c, size);
                for &(i, how, _, _) in &across {
                    let x = self.scalar_const(b, how.start());
                    store(b, x, out_at[i], column);
                }
                Some(())
            })?;
        }

        // Full-width values a later phase uses are kept for the row in a stack buffer (one
        // cell per column) rather than computed again, when the buffers are small.
        let mut later: Vec<Value> = Vec::new();
        for &id in ops {
            let o = &f.ops[id];
            let Some((Kind::Full, p)) = kind(&o.results[0]) else { continue };
            for v in &o.operands {
                if let Some((Kind::Full, q)) = kind(v)
                    && q < p
                    && def(v).is_some()
                    && !later.contains(v)
                {
                    later.push(*v);
                }
            }
        }
        let bytes = shape.width.unwrap_or(u64::MAX).saturating_mul(size as u64);
        let cache: HashMap<Value, ClifValue> = if bytes.saturating_mul(later.len() as u64) <= 256 << 10 {
            later
                .iter()
                .map(|&v| {
                    let data = cranelift_codegen::ir::StackSlotData::new(
                        cranelift_codegen::ir::StackSlotKind::ExplicitSlot,
                        bytes as u32,
                        3,
                    );
                    let slot = b.create_sized_stack_slot(data);
                    (v, b.ins().stack_addr(self.ptr, slot, 0))
                })
                .collect()
        } else {
            HashMap::new()
        };

        // Computes op `o` from `vals` (an elementwise op or a cast).
        let compute = |b: &mut FunctionBuilder<'_>, o: &daphne_ir::Op, vals: &HashMap<Value, ClifValue>| {
            let arg = |i: usize| vals.get(&o.operands[i]).copied();
            match &o.kind {
                OpKind::Cast => arg(0),
                OpKind::Builtin(op) if op.is_ew_unary() => self.unary(b, *op, arg(0)?),
                OpKind::Builtin(op) if op.is_ew_binary() => {
                    let two = matches!(const_of(f, o.operands[1]), Some(x) if x == 2.0);
                    self.binary(b, *op, arg(0)?, arg(1)?, two)
                }
                _ => None,
            }
        };
        // Row aggregations: (fold, operand, result).
        let row_aggs: Vec<(Fold, Value, Value)> = ops
            .iter()
            .map(|&id| &f.ops[id])
            .filter(|o| kind(&o.results[0]).is_some_and(|(k, _)| k == Kind::Col))
            .filter_map(|o| Some((Fold::of(&o.kind)?, o.operands[0], o.results[0])))
            .collect();
        let is_row_agg = |v: &Value| row_aggs.iter().any(|&(_, _, r)| r == *v);

        self.counted_loop(b, rows, |b, r| {
            let row_offset = b.ins().imul_imm_u(r, size);
            let first = b.ins().imul(r, width);
            let mut vals = fixed.clone();
            for &(a, k, base) in &bases {
                if k == Kind::Col {
                    vals.insert(a, load(b, base, row_offset));
                }
            }
            for phase in 0..=shape.phases {
                // The column values of this phase, then its column outputs.
                for &id in ops {
                    let o = &f.ops[id];
                    if kind(&o.results[0])? == (Kind::Col, phase) && !is_row_agg(&o.results[0]) {
                        let v = compute(b, o, &vals)?;
                        vals.insert(o.results[0], v);
                    }
                }
                for (i, v) in outputs.iter().enumerate() {
                    if kind(v)? == (Kind::Col, phase) {
                        store(b, *vals.get(v)?, out_at[i], row_offset);
                    }
                }
                // The loop over the row's cells, when this phase has aggregations or outputs.
                let in_phase = |v: &Value| kind(v) == Some((Kind::Full, phase));
                let aggs: Vec<(Fold, Value, Value)> =
                    row_aggs.iter().copied().filter(|(_, x, _)| in_phase(x)).collect();
                let full_out: Vec<usize> = (0..outputs.len()).filter(|&i| in_phase(&outputs[i])).collect();
                let across_now: Vec<(usize, Fold, Value)> =
                    across.iter().filter(|a| a.3 == phase).map(|&(i, how, x, _)| (i, how, x)).collect();
                let totals_now: Vec<(Fold, Value, Variable, Option<ClifValue>)> =
                    totals.iter().filter(|t| t.3 == phase).map(|&(_, how, x, _, v, l)| (how, x, v, l)).collect();
                if aggs.is_empty() && full_out.is_empty() && across_now.is_empty() && totals_now.is_empty() {
                    continue;
                }
                let accs: Vec<Variable> = aggs
                    .iter()
                    .map(|(how, _, _)| {
                        let v = b.declare_var(self.elem);
                        let c = self.scalar_const(b, how.start());
                        b.def_var(v, c);
                        v
                    })
                    .collect();
                // The cells of column `c` (of `self.width` columns from `c` when vectorized).
                let cell = |b: &mut FunctionBuilder<'_>, c: ClifValue, vals: &HashMap<Value, ClifValue>| {
                    let vector = self.vector.get();
                    let (ty, flags) =
                        if vector { (self.vec_ty, MemFlagsData::new().with_notrap()) } else { (self.elem, trusted) };
                    let load = |b: &mut FunctionBuilder<'_>, base: ClifValue, offset: ClifValue| {
                        let at = b.ins().iadd(base, offset);
                        b.ins().load(ty, flags, at, 0)
                    };
                    let store = |b: &mut FunctionBuilder<'_>, x: ClifValue, base: ClifValue, offset: ClifValue| {
                        let at = b.ins().iadd(base, offset);
                        b.ins().store(flags, x, at, 0);
                    };
                    let idx = b.ins().iadd(first, c);
                    let offset = b.ins().imul_imm_u(idx, size);
                    let column = b.ins().imul_imm_u(c, size);
                    let mut cell_vals = vals.clone();
                    for &(a, k, base) in &bases {
                        match k {
                            Kind::Full => {
                                cell_vals.insert(a, load(b, base, offset));
                            }
                            Kind::Row => {
                                cell_vals.insert(a, load(b, base, column));
                            }
                            _ => {}
                        }
                    }
                    for (&v, &buf) in &cache {
                        if kind(&v)?.1 < phase {
                            cell_vals.insert(v, load(b, buf, column));
                        }
                    }
                    for &id in ops {
                        let o = &f.ops[id];
                        let (k, ph) = kind(&o.results[0])?;
                        let kept = ph < phase && cache.contains_key(&o.results[0]);
                        if k == Kind::Full && ph <= phase && !kept {
                            let v = compute(b, o, &cell_vals)?;
                            cell_vals.insert(o.results[0], v);
                            if ph == phase
                                && let Some(&buf) = cache.get(&o.results[0])
                            {
                                store(b, v, buf, column);
                            }
                        }
                    }
                    for (&(how, x, _), &acc) in aggs.iter().zip(&accs) {
                        let a = b.use_var(acc);
                        let next = self.step(b, how, a, *cell_vals.get(&x)?);
                        b.def_var(acc, next);
                    }
                    for &i in &full_out {
                        store(b, *cell_vals.get(&outputs[i])?, out_at[i], offset);
                    }
                    for &(i, how, x) in &across_now {
                        let a = load(b, out_at[i], column);
                        let next = self.step(b, how, a, *cell_vals.get(&x)?);
                        store(b, next, out_at[i], column);
                    }
                    for &(how, x, running, lanes) in &totals_now {
                        let x = *cell_vals.get(&x)?;
                        match lanes {
                            Some(at) => {
                                let lane = b.ins().band_imm_s(idx, LANES as i64 - 1);
                                let lane = b.ins().imul_imm_u(lane, size);
                                let a = load(b, at, lane);
                                let next = self.add(b, a, x);
                                store(b, next, at, lane);
                            }
                            None => {
                                let a = b.use_var(running);
                                let next = self.step(b, how, a, x);
                                b.def_var(running, next);
                            }
                        }
                    }
                    Some(())
                };
                // Several columns at once when every cell op has a vector instruction and
                // nothing accumulates along the row (a row or full aggregation keeps its
                // order): each cell is computed as alone, and each column's aggregation still
                // adds the rows in order, so the bits are the scalar loop's.
                let vector = !self.is_int()
                    && aggs.is_empty()
                    && totals_now.is_empty()
                    && ops.iter().all(|&id| {
                        let (k, ph) = kind(&f.ops[id].results[0]).unwrap_or((Kind::Scalar, usize::MAX));
                        k != Kind::Full || ph > phase || self.vectorizable(id)
                    });
                let scalar_from = if vector {
                    // Two vectors per step; the last `width % (2 * self.width)` columns alone.
                    let step = 2 * self.width as i64;
                    let steps = b.ins().udiv_imm_u(width, step);
                    let splat: HashMap<Value, ClifValue> =
                        vals.iter().map(|(&v, &x)| (v, b.ins().splat(self.vec_ty, x))).collect();
                    self.vector.set(true);
                    let done = self.counted_loop(b, steps, |b, s| {
                        let c = b.ins().imul_imm_u(s, step);
                        cell(b, c, &splat)?;
                        let c = b.ins().iadd_imm_u(c, self.width as i64);
                        cell(b, c, &splat)
                    });
                    self.vector.set(false);
                    done?;
                    b.ins().imul_imm_u(steps, step)
                } else {
                    b.ins().iconst(types::I64, 0)
                };
                let rest = b.ins().isub(width, scalar_from);
                self.counted_loop(b, rest, |b, i| {
                    let c = b.ins().iadd(scalar_from, i);
                    cell(b, c, &vals)
                })?;
                for (&(_, _, result), &acc) in aggs.iter().zip(&accs) {
                    vals.insert(result, b.use_var(acc));
                }
            }
            Some(())
        })?;
        // The sums' lanes folded along the tree of `ir::pipeline`, as a flat kernel does.
        for &(i, _, _, _, running, lanes) in &totals {
            let result = match lanes {
                Some(at) => {
                    let parts: Vec<ClifValue> = (0..LANES)
                        .map(|lane| b.ins().load(self.elem, trusted, at, (lane as i64 * size) as i32))
                        .collect();
                    daphne_ir::pipeline::fold_tree(parts, |x, y| self.add(b, x, y))?
                }
                None => b.use_var(running),
            };
            b.ins().store(trusted, result, out_at[i], 0);
        }

        let bad = b.use_var(self.bad);
        let status = b.ins().uextend(types::I32, bad);
        b.ins().return_(&[status]);
        b.seal_all_blocks();
        Some(())
    }

    fn emit(&self, b: &mut FunctionBuilder<'_>) -> Option<()> {
        let f = self.f;
        let p = &f.ops[self.plan.op];
        let body = &p.regions[0];
        let (&yield_op, ops) = body.ops.split_last()?;
        let outputs = &f.ops[yield_op].operands;
        let trusted = MemFlagsData::trusted();
        let Entry { cells, row_inputs, fixed, out_at, .. } = self.entry(b, outputs.len());

        // Two cells at a time when every op has a vector instruction and no reduction needs
        // the strict order of a single accumulator (min and max keep the first of equals).
        let vector = !self.is_int() && ops.iter().all(|&id| self.vectorizable(id));
        let mut fixed_vec: HashMap<Value, ClifValue> = HashMap::new();
        if vector {
            for (&a, &v) in &fixed {
                fixed_vec.insert(a, b.ins().splat(self.vec_ty, v));
            }
        }

        // Accumulators of the reductions, by the value they compute.
        let mut accs: HashMap<Value, Acc> = HashMap::new();
        for &id in ops {
            let o = &f.ops[id];
            let init = |b: &mut FunctionBuilder<'_>, x: f64| {
                let v = b.declare_var(self.elem);
                let c = self.scalar_const(b, x);
                b.def_var(v, c);
                v
            };
            let init_pair = |b: &mut FunctionBuilder<'_>| {
                let v = b.declare_var(self.vec_ty);
                let c = self.scalar_const(b, 0.0);
                let c = b.ins().splat(self.vec_ty, c);
                b.def_var(v, c);
                v
            };
            let acc = match o.kind {
                OpKind::Builtin(Builtin::SumAll) if vector => {
                    Acc::Sum((0..LANES / self.width).map(|_| init_pair(b)).collect(), true)
                }
                OpKind::Builtin(Builtin::SumAll) => Acc::Sum((0..LANES).map(|_| init(b, 0.0)).collect(), false),
                OpKind::Builtin(Builtin::MinAll) => Acc::Extreme(init(b, Fold::Min.start()), true),
                OpKind::Builtin(Builtin::MaxAll) => Acc::Extreme(init(b, Fold::Max.start()), false),
                _ => continue,
            };
            accs.insert(o.results[0], acc);
        }

        let k = b.declare_var(types::I64);
        let zero = b.ins().iconst(types::I64, 0);
        b.def_var(k, zero);
        let full = b.ins().band_imm_s(cells, !(LANES as i64 - 1));
        let head = b.create_block();
        let main = b.create_block();
        let tail = b.create_block();
        b.ins().jump(head, &[]);

        b.switch_to_block(head);
        let kv = b.use_var(k);
        let more = b.ins().icmp(IntCC::UnsignedLessThan, kv, full);
        b.ins().brif(more, main, &[], tail, &[]);

        b.switch_to_block(main);
        let kv = b.use_var(k);
        if vector {
            self.vector.set(true);
            for group in 0..LANES / self.width {
                let first = group * self.width;
                let idx = b.ins().iadd_imm_u(kv, first as i64);
                self.cell(b, idx, first, &row_inputs, &fixed_vec, &accs, outputs, &out_at)?;
            }
            self.vector.set(false);
        } else {
            for lane in 0..LANES {
                let idx = b.ins().iadd_imm_u(kv, lane as i64);
                self.cell(b, idx, lane, &row_inputs, &fixed, &accs, outputs, &out_at)?;
            }
        }
        let next = b.ins().iadd_imm_u(kv, LANES as i64);
        b.def_var(k, next);
        b.ins().jump(head, &[]);

        // The last `cells % LANES` cells, cell j of them into lane j.
        b.switch_to_block(tail);
        let done = b.create_block();
        for lane in 0..LANES - 1 {
            let idx = b.ins().iadd_imm_u(full, lane as i64);
            let inside = b.ins().icmp(IntCC::UnsignedLessThan, idx, cells);
            let then = b.create_block();
            b.ins().brif(inside, then, &[], done, &[]);
            b.switch_to_block(then);
            self.cell(b, idx, lane, &row_inputs, &fixed, &accs, outputs, &out_at)?;
        }
        b.ins().jump(done, &[]);

        b.switch_to_block(done);
        for (i, &v) in outputs.iter().enumerate() {
            let Some(acc) = accs.get(&v) else { continue };
            let result = match acc {
                Acc::Sum(lanes, pairs) => {
                    let mut parts: Vec<ClifValue> = Vec::with_capacity(LANES);
                    for &l in lanes {
                        let v = b.use_var(l);
                        if *pairs {
                            for lane in 0..self.width {
                                parts.push(b.ins().extractlane(v, lane as u8));
                            }
                        } else {
                            parts.push(v);
                        }
                    }
                    daphne_ir::pipeline::fold_tree(parts, |x, y| self.add(b, x, y))?
                }
                Acc::Extreme(v, _) => b.use_var(*v),
            };
            b.ins().store(trusted, result, out_at[i], 0);
        }
        let bad = b.use_var(self.bad);
        let status = b.ins().uextend(types::I32, bad);
        b.ins().return_(&[status]);
        b.seal_all_blocks();
        Some(())
    }

    /// The body on cell `idx` (which feeds accumulator `lane`): stores `rows` outputs and
    /// updates the reductions.
    #[allow(clippy::too_many_arguments)]
    fn cell(
        &self,
        b: &mut FunctionBuilder<'_>,
        idx: ClifValue,
        lane: usize,
        row_inputs: &[(Value, ClifValue)],
        fixed: &HashMap<Value, ClifValue>,
        accs: &HashMap<Value, Acc>,
        outputs: &[Value],
        out_at: &[ClifValue],
    ) -> Option<()> {
        let f = self.f;
        let vector = self.vector.get();
        // Cells are 8-byte aligned; a pair of them need not be 16-byte aligned.
        let flags = if vector { MemFlagsData::new().with_notrap() } else { MemFlagsData::trusted() };
        let ty = if vector { self.vec_ty } else { self.elem };
        let offset = b.ins().ishl_imm_u(idx, if self.elem == types::F32 { 2 } else { 3 });
        let mut vals: HashMap<Value, ClifValue> = fixed.clone();
        for &(a, base) in row_inputs {
            let at = b.ins().iadd(base, offset);
            vals.insert(a, b.ins().load(ty, flags, at, 0));
        }
        let body = &f.ops[self.plan.op].regions[0];
        let (_, ops) = body.ops.split_last()?;
        for &id in ops {
            let o = &f.ops[id];
            let r = o.results[0];
            let arg = |i: usize| vals.get(&o.operands[i]).copied();
            let v = match &o.kind {
                OpKind::Const(lit) => {
                    let c = self.literal(b, lit)?;
                    if self.vector.get() { b.ins().splat(self.vec_ty, c) } else { c }
                }
                OpKind::Cast => arg(0)?,
                OpKind::Builtin(op @ (Builtin::SumAll | Builtin::MinAll | Builtin::MaxAll)) => {
                    let x = arg(0)?;
                    match accs.get(&r)? {
                        Acc::Sum(lanes, false) => {
                            let a = b.use_var(lanes[lane]);
                            let s = self.add(b, a, x);
                            b.def_var(lanes[lane], s);
                        }
                        Acc::Sum(groups, true) if vector => {
                            let g = lane / self.width;
                            let a = b.use_var(groups[g]);
                            let s = self.add(b, a, x);
                            b.def_var(groups[g], s);
                        }
                        Acc::Sum(groups, true) => {
                            // A tail cell of a vectorized kernel: its lane is one of a vector's.
                            let (g, l) = (lane / self.width, (lane % self.width) as u8);
                            let group = b.use_var(groups[g]);
                            let a = b.ins().extractlane(group, l);
                            let s = self.add(b, a, x);
                            let group = b.ins().insertlane(group, s, l);
                            b.def_var(groups[g], group);
                        }
                        Acc::Extreme(var, min) => {
                            let a = b.use_var(*var);
                            let s = self.pick(b, *min, x, a);
                            b.def_var(*var, s);
                        }
                    }
                    let _ = op;
                    continue;
                }
                OpKind::Builtin(op) if op.is_ew_unary() => self.unary(b, *op, arg(0)?)?,
                OpKind::Builtin(op) if op.is_ew_binary() => {
                    let two = matches!(const_of(f, o.operands[1]), Some(x) if x == 2.0);
                    self.binary(b, *op, arg(0)?, arg(1)?, two)?
                }
                _ => return None,
            };
            vals.insert(r, v);
        }
        for (i, v) in outputs.iter().enumerate() {
            if accs.contains_key(v) {
                continue;
            }
            let x = *vals.get(v)?;
            let at = b.ins().iadd(out_at[i], offset);
            b.ins().store(flags, x, at, 0);
        }
        Some(())
    }

    /// Whether op `id` of the body can work on two cells at once.
    fn vectorizable(&self, id: OpId) -> bool {
        use Builtin as B;
        let o = &self.f.ops[id];
        match o.kind {
            OpKind::Const(_) | OpKind::Cast => true,
            OpKind::Builtin(B::SumAll) => true,
            OpKind::Builtin(B::EwPow) => matches!(const_of(self.f, o.operands[1]), Some(x) if x == 2.0),
            OpKind::Builtin(b) if b.is_ew_unary() => {
                matches!(
                    b,
                    B::EwMinus | B::EwAbs | B::EwSqrt | B::EwFloor | B::EwCeil | B::EwIsNan | B::EwNot | B::EwSign
                )
            }
            OpKind::Builtin(b) if b.is_ew_binary() => !matches!(b, B::EwMod | B::EwLog),
            _ => false,
        }
    }

    /// A constant, as one value or a pair.
    fn konst(&self, b: &mut FunctionBuilder<'_>, x: f64) -> ClifValue {
        let c = self.scalar_const(b, x);
        if self.vector.get() { b.ins().splat(self.vec_ty, c) } else { c }
    }

    /// A constant cell (`x` is exact in both types: 0, 1, -1, -0, infinities).
    fn scalar_const(&self, b: &mut FunctionBuilder<'_>, x: f64) -> ClifValue {
        if self.is_int() {
            // As the runtime converts: infinities saturate (the start of an integer `min`).
            b.ins().iconst(types::I64, x as i64)
        } else if self.elem == types::F32 {
            b.ins().f32const(x as f32)
        } else {
            b.ins().f64const(x)
        }
    }

    fn is_int(&self) -> bool {
        self.elem == types::I64
    }

    /// `x + y` in the cell type (wrapping for integers).
    fn add(&self, b: &mut FunctionBuilder<'_>, x: ClifValue, y: ClifValue) -> ClifValue {
        if self.is_int() { b.ins().iadd(x, y) } else { b.ins().fadd(x, y) }
    }

    /// A running minimum (`min`) or maximum after `x`: `x` replaces `a` only when strictly
    /// smaller (larger), so the first of equals stays, as in the runtime's loops.
    fn pick(&self, b: &mut FunctionBuilder<'_>, min: bool, x: ClifValue, a: ClifValue) -> ClifValue {
        let better = if self.is_int() {
            b.ins().icmp(if min { IntCC::SignedLessThan } else { IntCC::SignedGreaterThan }, x, a)
        } else {
            b.ins().fcmp(if min { FloatCC::LessThan } else { FloatCC::GreaterThan }, x, a)
        };
        self.sel(b, better, x, a)
    }

    /// One step of an in-order reduction.
    fn step(&self, b: &mut FunctionBuilder<'_>, how: Fold, acc: ClifValue, x: ClifValue) -> ClifValue {
        match how {
            Fold::Sum => self.add(b, acc, x),
            Fold::Min => self.pick(b, true, x, acc),
            Fold::Max => self.pick(b, false, x, acc),
        }
    }

    /// A constant of the body as one cell.
    fn literal(&self, b: &mut FunctionBuilder<'_>, lit: &Literal) -> Option<ClifValue> {
        Some(if self.is_int() {
            b.ins().iconst(types::I64, literal_i64(lit)?)
        } else if self.elem == types::F32 {
            b.ins().f32const(literal_f32(lit)?)
        } else {
            b.ins().f64const(literal_f64(lit)?)
        })
    }

    /// `for i in 0..bound { body(i) }`; the code after it goes on in the block the loop leaves
    /// to.
    fn counted_loop(
        &self,
        b: &mut FunctionBuilder<'_>,
        bound: ClifValue,
        body: impl FnOnce(&mut FunctionBuilder<'_>, ClifValue) -> Option<()>,
    ) -> Option<()> {
        let i = b.declare_var(types::I64);
        let zero = b.ins().iconst(types::I64, 0);
        b.def_var(i, zero);
        let (head, inside, after) = (b.create_block(), b.create_block(), b.create_block());
        b.ins().jump(head, &[]);
        b.switch_to_block(head);
        let iv = b.use_var(i);
        let more = b.ins().icmp(IntCC::UnsignedLessThan, iv, bound);
        b.ins().brif(more, inside, &[], after, &[]);
        b.switch_to_block(inside);
        let iv = b.use_var(i);
        body(b, iv)?;
        let next = b.ins().iadd_imm_u(iv, 1);
        b.def_var(i, next);
        b.ins().jump(head, &[]);
        b.switch_to_block(after);
        Some(())
    }

    /// `c ? x : y`, for a condition of one value or a lane mask.
    fn sel(&self, b: &mut FunctionBuilder<'_>, c: ClifValue, x: ClifValue, y: ClifValue) -> ClifValue {
        if self.vector.get() {
            // The lane mask of a vector comparison, as the bits to select with.
            let bits = MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little);
            let mask = b.ins().bitcast(self.vec_ty, bits, c);
            b.ins().bitselect(mask, x, y)
        } else {
            b.ins().select(c, x, y)
        }
    }

    fn call(&self, b: &mut FunctionBuilder<'_>, op: Builtin, args: &[ClifValue]) -> Option<ClifValue> {
        let r = *self.refs.get(&op)?;
        // The runtime computes these functions of a float in f64 and rounds the result,
        // except those it has in f32 (`math::BINARY_F32`).
        let widen = self.elem == types::F32 && !math::BINARY_F32.iter().any(|&(o, _, _)| o == op);
        let args: Vec<ClifValue> =
            if widen { args.iter().map(|&a| b.ins().fpromote(types::F64, a)).collect() } else { args.to_vec() };
        let inst = b.ins().call(r, &args);
        let result = b.inst_results(inst).first().copied()?;
        Some(if widen { b.ins().fdemote(types::F32, result) } else { result })
    }

    fn flag(&self, b: &mut FunctionBuilder<'_>, c: ClifValue) -> ClifValue {
        let one = self.konst(b, 1.0);
        let zero = self.konst(b, 0.0);
        self.sel(b, c, one, zero)
    }

    /// Records whether `x` is outside the domain DAPHNE checks for `op`.
    fn check_domain(&self, b: &mut FunctionBuilder<'_>, op: Builtin, x: ClifValue) {
        let outside = match op {
            Builtin::EwSqrt | Builtin::EwLn => {
                let m0 = self.konst(b, -0.0);
                b.ins().fcmp(FloatCC::LessThan, x, m0)
            }
            Builtin::EwAsin | Builtin::EwAcos => {
                let (lo, hi) = (self.konst(b, -1.0), self.konst(b, 1.0));
                let below = b.ins().fcmp(FloatCC::LessThan, x, lo);
                let above = b.ins().fcmp(FloatCC::GreaterThan, x, hi);
                b.ins().bor(below, above)
            }
            _ => return,
        };
        let outside = if self.vector.get() { b.ins().vany_true(outside) } else { outside };
        let bad = b.use_var(self.bad);
        let bad = b.ins().bor(bad, outside);
        b.def_var(self.bad, bad);
    }

    fn unary(&self, b: &mut FunctionBuilder<'_>, op: Builtin, x: ClifValue) -> Option<ClifValue> {
        use Builtin as B;
        if self.is_int() {
            let zero = b.ins().iconst(types::I64, 0);
            return Some(match op {
                B::EwMinus => b.ins().ineg(x),
                B::EwAbs => b.ins().iabs(x),
                B::EwFloor | B::EwCeil | B::EwRound => x,
                B::EwIsNan => zero,
                B::EwNot => {
                    let c = b.ins().icmp(IntCC::Equal, x, zero);
                    self.flag(b, c)
                }
                B::EwSign => {
                    let one = b.ins().iconst(types::I64, 1);
                    let minus = b.ins().iconst(types::I64, -1);
                    let pos = b.ins().icmp(IntCC::SignedGreaterThan, x, zero);
                    let neg = b.ins().icmp(IntCC::SignedLessThan, x, zero);
                    let low = b.ins().select(neg, minus, zero);
                    b.ins().select(pos, one, low)
                }
                _ => return None,
            });
        }
        self.check_domain(b, op, x);
        Some(match op {
            B::EwMinus => b.ins().fneg(x),
            B::EwAbs => b.ins().fabs(x),
            B::EwSqrt => b.ins().sqrt(x),
            B::EwFloor => b.ins().floor(x),
            B::EwCeil => b.ins().ceil(x),
            B::EwIsNan => {
                let c = b.ins().fcmp(FloatCC::Unordered, x, x);
                self.flag(b, c)
            }
            B::EwNot => {
                let zero = self.konst(b, 0.0);
                let c = b.ins().fcmp(FloatCC::Equal, x, zero);
                self.flag(b, c)
            }
            B::EwSign => {
                // 1 above zero, -1 below, NaN stays, zeros become +0.
                let zero = self.konst(b, 0.0);
                let one = self.konst(b, 1.0);
                let minus = self.konst(b, -1.0);
                let pos = b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                let neg = b.ins().fcmp(FloatCC::LessThan, x, zero);
                let nan = b.ins().fcmp(FloatCC::Unordered, x, x);
                let other = self.sel(b, nan, x, zero);
                let low = self.sel(b, neg, minus, other);
                self.sel(b, pos, one, low)
            }
            _ => return self.call(b, op, &[x]),
        })
    }

    fn binary(
        &self,
        b: &mut FunctionBuilder<'_>,
        op: Builtin,
        x: ClifValue,
        y: ClifValue,
        y_is_two: bool,
    ) -> Option<ClifValue> {
        use Builtin as B;
        if self.is_int() {
            let icmp = |b: &mut FunctionBuilder<'_>, cc: IntCC| {
                let c = b.ins().icmp(cc, x, y);
                self.flag(b, c)
            };
            return Some(match op {
                B::EwAdd => b.ins().iadd(x, y),
                B::EwSub => b.ins().isub(x, y),
                B::EwMul => b.ins().imul(x, y),
                B::EwMin => {
                    let c = b.ins().icmp(IntCC::SignedLessThan, y, x);
                    b.ins().select(c, y, x)
                }
                B::EwMax => {
                    let c = b.ins().icmp(IntCC::SignedGreaterThan, y, x);
                    b.ins().select(c, y, x)
                }
                B::EwAnd | B::EwOr => {
                    let zero = b.ins().iconst(types::I64, 0);
                    let a = b.ins().icmp(IntCC::NotEqual, x, zero);
                    let c = b.ins().icmp(IntCC::NotEqual, y, zero);
                    let both = if op == B::EwAnd { b.ins().band(a, c) } else { b.ins().bor(a, c) };
                    self.flag(b, both)
                }
                B::EwEq => icmp(b, IntCC::Equal),
                B::EwNe => icmp(b, IntCC::NotEqual),
                B::EwLt => icmp(b, IntCC::SignedLessThan),
                B::EwLe => icmp(b, IntCC::SignedLessThanOrEqual),
                B::EwGt => icmp(b, IntCC::SignedGreaterThan),
                B::EwGe => icmp(b, IntCC::SignedGreaterThanOrEqual),
                _ => return None,
            });
        }
        let cmp = |b: &mut FunctionBuilder<'_>, cc: FloatCC| {
            let c = b.ins().fcmp(cc, x, y);
            self.flag(b, c)
        };
        Some(match op {
            B::EwAdd => b.ins().fadd(x, y),
            B::EwSub => b.ins().fsub(x, y),
            B::EwMul => b.ins().fmul(x, y),
            B::EwDiv => b.ins().fdiv(x, y),
            B::EwPow if y_is_two => b.ins().fmul(x, x),
            B::EwMin => {
                let c = b.ins().fcmp(FloatCC::LessThan, y, x);
                self.sel(b, c, y, x)
            }
            B::EwMax => {
                let c = b.ins().fcmp(FloatCC::GreaterThan, y, x);
                self.sel(b, c, y, x)
            }
            B::EwAnd | B::EwOr => {
                let zero = self.konst(b, 0.0);
                let a = b.ins().fcmp(FloatCC::NotEqual, x, zero);
                let c = b.ins().fcmp(FloatCC::NotEqual, y, zero);
                let both = if op == B::EwAnd { b.ins().band(a, c) } else { b.ins().bor(a, c) };
                self.flag(b, both)
            }
            B::EwEq => cmp(b, FloatCC::Equal),
            B::EwNe => cmp(b, FloatCC::NotEqual),
            B::EwLt => cmp(b, FloatCC::LessThan),
            B::EwLe => cmp(b, FloatCC::LessThanOrEqual),
            B::EwGt => cmp(b, FloatCC::GreaterThan),
            B::EwGe => cmp(b, FloatCC::GreaterThanOrEqual),
            _ => return self.call(b, op, &[x, y]),
        })
    }
}

/// A constant's value as an `f32`, as the runtime converts it (through `f64`).
fn literal_f32(lit: &Literal) -> Option<f32> {
    Some(literal_f64(lit)? as f32)
}

/// A constant's value as an `i64`, as the runtime converts it (a float saturating toward
/// zero, an integer wrapping).
fn literal_i64(lit: &Literal) -> Option<i64> {
    Some(match lit {
        Literal::F64(_) | Literal::F32(_) => literal_f64(lit)? as i64,
        Literal::Si64(v) => *v,
        Literal::Si32(v) => i64::from(*v),
        Literal::Si8(v) => i64::from(*v),
        Literal::Ui64(v) | Literal::Index(v) => *v as i64,
        Literal::Ui32(v) => i64::from(*v),
        Literal::Ui8(v) => i64::from(*v),
        Literal::Bool(v) => i64::from(*v),
        Literal::Str(_) => return None,
    })
}

/// A constant's value as an `f64`, as the runtime converts it (`as f64`).
fn literal_f64(lit: &Literal) -> Option<f64> {
    Some(match lit {
        Literal::F64(bits) => f64::from_bits(*bits),
        Literal::F32(bits) => f64::from(f32::from_bits(*bits)),
        Literal::Si64(v) => *v as f64,
        Literal::Si32(v) => f64::from(*v),
        Literal::Si8(v) => f64::from(*v),
        Literal::Ui64(v) | Literal::Index(v) => *v as f64,
        Literal::Ui32(v) => f64::from(*v),
        Literal::Ui8(v) => f64::from(*v),
        Literal::Bool(v) => f64::from(u8::from(*v)),
        Literal::Str(_) => return None,
    })
}

/// The value of `v` when a constant defines it.
fn const_of(f: &Function, v: Value) -> Option<f64> {
    match f.values[v].def {
        daphne_ir::ValueDef::Result(op, _) => match &f.ops[op].kind {
            OpKind::Const(lit) => literal_f64(lit),
            _ => None,
        },
        daphne_ir::ValueDef::Arg => None,
    }
}

/// Loads a broadcast scalar of value type `vt` and converts it to the cell type `elem` as the
/// runtime does (`Elem::cast`: through `f64` when either side is a float, else wrapping).
fn load_scalar(b: &mut FunctionBuilder<'_>, vt: ValueType, at: ClifValue, elem: ClifType) -> ClifValue {
    let trusted = MemFlagsData::trusted();
    if elem == types::I64 {
        return match vt {
            ValueType::F64 | ValueType::F32 => {
                let x = load_f64(b, vt, at);
                b.ins().fcvt_to_sint_sat(types::I64, x)
            }
            ValueType::Si64 | ValueType::Ui64 | ValueType::Index => b.ins().load(types::I64, trusted, at, 0),
            ValueType::Si32 => b.ins().sload32(trusted, at, 0),
            ValueType::Si8 => b.ins().sload8(types::I64, trusted, at, 0),
            ValueType::Ui32 => b.ins().uload32(trusted, at, 0),
            ValueType::Ui8 | ValueType::Bool | ValueType::Str => b.ins().uload8(types::I64, trusted, at, 0),
        };
    }
    let x = load_f64(b, vt, at);
    if elem == types::F32 { b.ins().fdemote(types::F32, x) } else { x }
}

/// A broadcast scalar of value type `vt` as an `f64` (`as f64`).
fn load_f64(b: &mut FunctionBuilder<'_>, vt: ValueType, at: ClifValue) -> ClifValue {
    let trusted = MemFlagsData::trusted();
    match vt {
        ValueType::F64 => b.ins().load(types::F64, trusted, at, 0),
        ValueType::F32 => {
            let x = b.ins().load(types::F32, trusted, at, 0);
            b.ins().fpromote(types::F64, x)
        }
        ValueType::Si64 => {
            let x = b.ins().load(types::I64, trusted, at, 0);
            b.ins().fcvt_from_sint(types::F64, x)
        }
        ValueType::Si32 => {
            let x = b.ins().sload32(trusted, at, 0);
            b.ins().fcvt_from_sint(types::F64, x)
        }
        ValueType::Si8 => {
            let x = b.ins().sload8(types::I64, trusted, at, 0);
            b.ins().fcvt_from_sint(types::F64, x)
        }
        ValueType::Ui64 | ValueType::Index => {
            let x = b.ins().load(types::I64, trusted, at, 0);
            b.ins().fcvt_from_uint(types::F64, x)
        }
        ValueType::Ui32 => {
            let x = b.ins().uload32(trusted, at, 0);
            b.ins().fcvt_from_uint(types::F64, x)
        }
        ValueType::Ui8 | ValueType::Bool | ValueType::Str => {
            let x = b.ins().uload8(types::I64, trusted, at, 0);
            b.ins().fcvt_from_uint(types::F64, x)
        }
    }
}
