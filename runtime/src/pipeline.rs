//! Runs a `pipeline` op by interpreting its body once per block (`daphne_ir::pipeline`), then
//! combining the partial results. This is the reference for compiled pipelines, and it needs
//! nothing but the op and its inputs, as a worker has them.

use daphne_ir::pipeline::{TreeFold, blocks, blocks_of};
use daphne_ir::{Builtin, Combine, Function, Loc, Module, Op, OpId, OpKind, Split};

use crate::error::Error;
use crate::kernels::{self, Context};
use crate::matrix::Matrix;
use crate::schedule::Schedule;
use crate::value::{Scalar, Value};

/// Why a pipeline failed: the message and the source location of the body op that failed,
/// if one did.
pub type Failure = (Error, Option<Loc>);

/// What a faster way of running a pipeline (its compiled kernel, the workers) did with it.
#[derive(Debug)]
pub enum Attempt<E = Failure, T = Vec<Value>> {
    /// It ran: the results, or why the pipeline failed.
    Ran(Result<T, E>),
    /// Not for this way (no kernel, inputs it was not compiled for, a cell a kernel leaves to
    /// the interpreter, a pipeline the workers do not take): the interpreter runs it, and
    /// reports any failure exactly.
    Declined,
}

/// A pipeline's identity for caches (compiled kernels, encoded modules): the number of the
/// module it is part of, unique in the process (`PipelineId::fresh`), its function and op.
/// Never a memory address, which a later module may reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PipelineId {
    pub module: u64,
    pub function: u32,
    pub op: OpId,
}

impl PipelineId {
    /// A number no module of this process had before (an executor takes one per run, a worker
    /// one per module it decodes).
    pub fn fresh() -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

/// Runs pipeline `id` of `f` the way a worker would: extracted alone, encoded to bytes,
/// decoded, verified, then run. (The reference executor does this when asked to, so tests
/// show that every pipeline is self-contained.)
pub fn run_shipped(cx: &Context, f: &Function, id: OpId, inputs: Vec<Value>) -> Result<Vec<Value>, Failure> {
    let module = daphne_ir::pipeline::extract(f, id).ok_or_else(|| (Error::Internal("not a pipeline".into()), None))?;
    run_module(cx, &module.to_bytes(), inputs)
}

/// What a worker does with a pipeline module it received: decode, verify, run on `inputs`.
pub fn run_module(cx: &Context, bytes: &[u8], inputs: Vec<Value>) -> Result<Vec<Value>, Failure> {
    let module = Module::from_bytes(bytes).map_err(|e| (Error::from(e), None))?;
    daphne_ir::verify::pipeline_module(&module).map_err(|e| (Error::from(format!("invalid pipeline: {e}")), None))?;
    let f = &module.functions[0];
    run(cx, f, &f.ops[f.body.ops[0]], inputs)
}

/// The results of pipeline `op` of `f` on `inputs` (one per operand).
pub fn run(cx: &Context, f: &Function, op: &Op, inputs: Vec<Value>) -> Result<Vec<Value>, Failure> {
    run_on(cx, f, op, inputs, &Schedule::on(1))
}

/// `run` with the blocks spread over threads by `schedule`; the first failing block in block
/// order decides the error, as in a run on one thread.
pub fn run_on(
    cx: &Context,
    f: &Function,
    op: &Op,
    inputs: Vec<Value>,
    schedule: &Schedule,
) -> Result<Vec<Value>, Failure> {
    run_blocks(cx, f, op, inputs, schedule, None)
}

/// `run_on` with blocks of `block_rows` rows instead of those of the inputs' row count: a
/// worker runs its group of a pipeline's rows with the block size of the whole.
pub fn run_blocks(
    cx: &Context,
    f: &Function,
    op: &Op,
    inputs: Vec<Value>,
    schedule: &Schedule,
    block_rows: Option<usize>,
) -> Result<Vec<Value>, Failure> {
    let OpKind::Pipeline(spec) = &op.kind else {
        return Err((Error::Internal("not a pipeline".into()), None));
    };
    let body = op.regions.first().ok_or_else(|| (Error::Internal("a pipeline without a body".into()), None))?;
    if inputs.len() != spec.splits.len() {
        return Err((
            Error::Internal(format!("a pipeline of {} inputs got {}", spec.splits.len(), inputs.len())),
            None,
        ));
    }
    let inputs = inputs.into_iter().map(Value::densify).collect::<Result<Vec<_>, _>>().map_err(|m| (m, None))?;
    let mut n = None;
    for (v, split) in inputs.iter().zip(&spec.splits) {
        if *split == Split::Rows {
            let rows = match v {
                Value::Matrix(m) => m.rows(),
                other => {
                    return Err((Error::Internal(format!("a row-split pipeline input is {}", other.describe())), None));
                }
            };
            if n.is_some_and(|n| n != rows) {
                return Err((
                    Error::Internal(format!("row-split pipeline inputs of {} and {rows} rows", n.unwrap_or(0))),
                    None,
                ));
            }
            n = Some(rows);
        }
    }
    let n = n.unwrap_or(0);
    check_pieced_outputs(f, op, &spec.combines, n)?;
    let blocks = match block_rows {
        Some(b) => blocks_of(n, b),
        None => blocks(n),
    };
    // Outputs combined by add/min/max are folded while the blocks finish (so only a few block
    // results are alive at once, which matters for `syrk`'s m x m partials); the others are
    // kept per block and concatenated.
    let folds: Vec<Option<TreeFold<Result<Value, Error>>>> = spec
        .combines
        .iter()
        .map(|c| matches!(c, Combine::Add | Combine::Min | Combine::Max).then(|| TreeFold::new(blocks.len())))
        .collect();
    let fold_with = |k: usize| {
        let (c, r) = (spec.combines[k], op.results[k]);
        move |a: Result<Value, Error>, b: Result<Value, Error>| combine_two(f, r, c, a?, b?)
    };
    // The blocks of a task, in order, stopping at the first failure; per block the outputs
    // that are not folded.
    let task = |t: std::ops::Range<usize>| -> Vec<Result<Vec<Option<Value>>, Failure>> {
        let mut frame: Vec<Option<Value>> = vec![None; f.values.len()];
        let mut outs = Vec::with_capacity(t.len());
        for i in t {
            let b = &blocks[i];
            for ((&arg, v), split) in body.args.iter().zip(&inputs).zip(&spec.splits) {
                let seen = match (split, v) {
                    (Split::Rows, Value::Matrix(m)) => Value::Matrix(m.row_range(b.start, b.end)),
                    _ => v.clone(),
                };
                set(&mut frame, arg, seen);
            }
            let out = block(cx, f, &body.ops, &mut frame).map(|values| {
                values
                    .into_iter()
                    .enumerate()
                    .map(|(k, v)| match &folds[k] {
                        Some(fold) => {
                            fold.add(i, Ok(v), fold_with(k));
                            None
                        }
                        None => Some(v),
                    })
                    .collect()
            });
            let failed = out.is_err();
            outs.push(out);
            if failed {
                break;
            }
        }
        outs
    };
    // The cells of the row-split inputs measure the work.
    let cells: usize = inputs
        .iter()
        .zip(&spec.splits)
        .filter(|(_, s)| **s == Split::Rows)
        .map(|(v, _)| if let Value::Matrix(m) = v { m.rows() * m.cols() } else { 0 })
        .sum();
    let schedule = schedule.for_cells(cells);
    let tasks = schedule.tasks(blocks.len(), blocks.first().map_or(1, |b| b.len()));
    let per_block: Vec<Result<Vec<Option<Value>>, Failure>> = schedule
        .run(tasks, task, |outs| outs.last().is_some_and(Result::is_err))
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    let mut kept: Vec<Vec<Value>> = vec![Vec::new(); op.results.len()];
    for outs in per_block {
        for (p, v) in kept.iter_mut().zip(outs?) {
            p.extend(v);
        }
    }
    let no_blocks = || (Error::Internal("a pipeline without blocks".into()), None);
    kept.into_iter()
        .zip(folds)
        .zip(&spec.combines)
        .map(|((parts, fold), &c)| match fold {
            Some(fold) => fold.finish().ok_or_else(no_blocks)?.map_err(|m| (m, None)),
            None => Matrix::concat(&matrices(parts)?, c == Combine::Rows)
                .map(Value::Matrix)
                .ok_or_else(|| (Error::Internal("pipeline partials of different shapes".into()), None)),
        })
        .collect()
}

/// Fails unless every output put together from its blocks' pieces (combined as `rows` or
/// `cols`) fits in memory whole, where its static type gives its other side. A kernel checks
/// each piece it makes, but `x @ W` in blocks of `x`'s rows makes pieces that fit and a whole
/// that may not; the error names the op as its kernel would, fused or not.
fn check_pieced_outputs(f: &Function, op: &Op, combines: &[Combine], n: usize) -> Result<(), Failure> {
    let body = op.regions.first().map_or(&[][..], |r| &r.ops[..]);
    let yielded = body.iter().map(|&id| &f.ops[id]).find(|o| matches!(o.kind, OpKind::Yield));
    for (k, (&r, &c)) in op.results.iter().zip(combines).enumerate() {
        let daphne_ir::Type::Matrix(t) = f.ty(r) else { continue };
        let (rows, cols) = match (c, t.rows, t.cols) {
            (Combine::Rows, _, Some(cols)) => (n, cols as usize),
            (Combine::Cols, Some(rows), _) => (rows as usize, n),
            _ => continue,
        };
        // Named after the op that computes the output.
        let by = yielded.and_then(|y| y.operands.get(k)).and_then(|&v| match f.values[v].def {
            daphne_ir::ValueDef::Result(def, _) => match f.ops[def].kind {
                OpKind::Builtin(b) => Some(b),
                _ => None,
            },
            _ => None,
        });
        let what = by.map_or_else(|| "a result".to_owned(), kernels::label);
        let width = t.vt.map_or(8, crate::matrix::cell_width);
        let bytes = crate::memory::cells_bytes(rows, cols, width).ok_or_else(|| {
            (Error::OutOfMemory(format!("{what} ({rows}x{cols} cells) is larger than any memory")), None)
        })?;
        crate::memory::check(bytes, &format!("{what} ({rows}x{cols} cells)")).map_err(|m| (m, None))?;
    }
    Ok(())
}

fn set(frame: &mut [Option<Value>], v: daphne_ir::Value, x: Value) {
    if let Some(slot) = frame.get_mut(v.index()) {
        *slot = Some(x);
    }
}

/// Runs the body's ops on one block; the yielded values.
fn block(cx: &Context, f: &Function, ops: &[OpId], frame: &mut [Option<Value>]) -> Result<Vec<Value>, Failure> {
    for &id in ops {
        let op = &f.ops[id];
        let args = op
            .operands
            .iter()
            .map(|v| frame.get(v.index()).cloned().flatten())
            .collect::<Option<Vec<Value>>>()
            .ok_or_else(|| (Error::Internal("a pipeline value used before it was computed".into()), f.loc(id)))?;
        let fail = |m: Error| (m, f.loc(id));
        let results = match &op.kind {
            OpKind::Yield => return Ok(args),
            OpKind::Const(lit) => vec![Value::Scalar(Scalar::from_literal(lit))],
            OpKind::Cast => vec![kernels::cast(&args[0], f.ty(op.results[0])).map_err(fail)?],
            OpKind::Builtin(b) if b.is_pure() => kernels::call_block(cx, *b, &args).map_err(fail)?,
            other => return Err((Error::Internal(format!("`{}` in a pipeline", other.name())), f.loc(id))),
        };
        for (&r, v) in op.results.iter().zip(results) {
            set(frame, r, v);
        }
    }
    Err((Error::Internal("a pipeline body without `yield`".into()), None))
}

fn matrices(parts: Vec<Value>) -> Result<Vec<Matrix>, Failure> {
    parts
        .into_iter()
        .map(|p| match p {
            Value::Matrix(m) => Ok(m),
            other => Err((Error::Internal(format!("a pipeline partial is {}", other.describe())), None)),
        })
        .collect()
}

/// Combines two partials `a` (earlier blocks) and `b` of result `r` by `c` (add, min or max).
/// The coordinator folds the results of workers' groups with it too.
pub fn combine_two(f: &Function, r: daphne_ir::Value, c: Combine, a: Value, b: Value) -> Result<Value, Error> {
    let ew = match c {
        Combine::Min => Builtin::EwMin,
        Combine::Max => Builtin::EwMax,
        _ => Builtin::EwAdd,
    };
    // Adding up partial matrices of doubles is the common case (`syrk`, `gemv`, column
    // sums): in place, as `ewAdd` computes it.
    let (a, b) = match (c, a, b) {
        (Combine::Add, Value::Matrix(Matrix::F64(mut x)), Value::Matrix(Matrix::F64(y)))
            if (x.rows(), x.cols()) == (y.rows(), y.cols()) =>
        {
            for (p, &q) in x.cells_mut().iter_mut().zip(y.cells()) {
                *p += q;
            }
            return Ok(Value::Matrix(Matrix::F64(x)));
        }
        (_, a, b) => (a, b),
    };
    let vt = f.ty(r).value_type().or_else(|| kernels::type_of(&a).value_type());
    let vt = vt.ok_or(Error::Internal("a combined pipeline output without a value type".into()))?;
    kernels::ew::binary(ew, &a, &b, vt, vt)
}
