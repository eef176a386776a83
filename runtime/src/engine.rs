//! The vectorized engine: runs a pipeline's compiled kernel over its blocks on a pool of
//! threads. Blocks are handed out in tasks of contiguous blocks (`schedule`); each block writes
//! its own slice of a `rows` output and its own partial of a reduction, and the partials are
//! folded in the canonical tree order afterwards, so results do not depend on the number of
//! threads or on their timing.

use std::sync::Arc;

use daphne_codegen::{BlockInput, BlockOutput, Kernel, KernelCompiler};
use daphne_ir::pipeline::{blocks, blocks_of, fold_tree};
use daphne_ir::{Combine, Function, OpId, Split, ValueType};

use crate::error::Error;
use crate::matrix::{DenseMatrix, Matrix};
use crate::pipeline::{Attempt, PipelineId};
use crate::schedule::Schedule;
use crate::spare::{Reusable, Spare};
use crate::value::{Scalar, Value};

/// The most kernels an engine keeps by pipeline (a worker serving many scripts sees ever new
/// pipelines).
const MAX_KERNELS: usize = 4096;

/// The outputs of a run in one group: every output one value.
fn one_group(ran: Attempt<Error, Vec<Vec<Value>>>) -> Attempt<Error> {
    match ran {
        Attempt::Ran(Ok(outputs)) => Attempt::Ran(
            outputs
                .into_iter()
                .map(|mut o| o.pop().ok_or(Error::Internal("an output without a value".into())))
                .collect(),
        ),
        Attempt::Ran(Err(e)) => Attempt::Ran(Err(e)),
        Attempt::Declined => Attempt::Declined,
    }
}

/// Compiles and runs pipelines.
pub struct Engine {
    compiler: KernelCompiler,
    schedule: Schedule,
    /// Kernels by pipeline, so a pipeline in a loop is looked up without extracting and
    /// printing it again (the compiler's own cache is by text). At most `MAX_KERNELS`.
    by_op: std::collections::HashMap<PipelineId, Option<Arc<Kernel>>>,
}

impl Engine {
    /// An engine running kernels by `schedule`.
    pub fn new(schedule: Schedule) -> Result<Engine, Error> {
        Ok(Engine { compiler: KernelCompiler::new()?, schedule, by_op: Default::default() })
    }

    /// How many kernels its compiler compiled, not counting those found in its cache by text
    /// (unlike `compiled`, which counts the pipelines that have a kernel).
    pub fn compilations(&self) -> usize {
        self.compiler.compiled()
    }

    /// Whether pipeline `key` was compiled (or found outside what the JIT covers) already.
    pub fn has_kernel(&self, key: PipelineId) -> bool {
        self.by_op.contains_key(&key)
    }

    /// The kernel of pipeline `id` of `f` (known as `key`), if the JIT covers it.
    pub fn kernel(&mut self, key: PipelineId, f: &Function, id: OpId) -> Option<Arc<Kernel>> {
        if let Some(k) = self.by_op.get(&key) {
            return k.clone();
        }
        if self.by_op.len() >= MAX_KERNELS {
            // Ids are never reused, so the old entries are only memory.
            self.by_op.clear();
        }
        let k = self.compiler.compile(f, id);
        self.by_op.insert(key, k.clone());
        k
    }

    /// Runs pipeline `id` of `f` on `inputs` with its kernel; declined when there is no
    /// kernel, the inputs are not what it was compiled for, or a cell failed a domain check (the
    /// caller interprets then, which reports the error exactly).
    pub fn run(&mut self, key: PipelineId, f: &Function, id: OpId, inputs: &[Value]) -> Attempt<Error> {
        self.run_blocks(key, f, id, inputs, None)
    }

    /// `run`, writing `rows` outputs into buffers of `spare` where it has one of their size.
    pub fn run_reusing(
        &mut self,
        key: PipelineId,
        f: &Function,
        id: OpId,
        inputs: &[Value],
        spare: &mut Spare,
    ) -> Attempt<Error> {
        one_group(self.run_parts(key, f, id, inputs, None, None, Some(spare)))
    }

    /// `run` with blocks of `block_rows` rows instead of those of the inputs' row count (a
    /// worker's group of a larger pipeline).
    pub fn run_blocks(
        &mut self,
        key: PipelineId,
        f: &Function,
        id: OpId,
        inputs: &[Value],
        block_rows: Option<usize>,
    ) -> Attempt<Error> {
        one_group(self.run_parts(key, f, id, inputs, block_rows, None, None))
    }

    /// A worker's part of a pipeline in one run: blocks of `block_rows` rows (those of the
    /// whole pipeline), reductions folded per group of `group_blocks` blocks (aligned subtrees
    /// of the canonical fold tree, `ir::pipeline::partition`): per output, the `rows` output
    /// whole, or one value per group. `rows` outputs are written into buffers of `spare` where
    /// it has one of their size (the kernel writes every cell, so nothing is zeroed first).
    /// The same bits as `run_blocks` on each group's rows with the groups' `rows` outputs
    /// joined.
    #[allow(clippy::too_many_arguments)]
    pub fn run_groups(
        &mut self,
        key: PipelineId,
        f: &Function,
        id: OpId,
        inputs: &[Value],
        block_rows: usize,
        group_blocks: usize,
        spare: &mut Spare,
    ) -> Attempt<Error, Vec<Vec<Value>>> {
        self.run_parts(key, f, id, inputs, Some(block_rows), Some(group_blocks.max(1)), Some(spare))
    }

    #[allow(clippy::too_many_arguments)]
    fn run_parts(
        &mut self,
        key: PipelineId,
        f: &Function,
        id: OpId,
        inputs: &[Value],
        block_rows: Option<usize>,
        group_blocks: Option<usize>,
        spare: Option<&mut Spare>,
    ) -> Attempt<Error, Vec<Vec<Value>>> {
        let Some(kernel) = self.kernel(key, f, id) else { return Attempt::Declined };
        let parts = Parts { block_rows, group_blocks, spare };
        let ran = match kernel.elem {
            ValueType::F32 => self.run_typed::<f32>(&kernel, inputs, parts),
            ValueType::Si64 => self.run_typed::<i64>(&kernel, inputs, parts),
            _ => self.run_typed::<f64>(&kernel, inputs, parts),
        };
        match ran {
            Ok(Some(values)) => Attempt::Ran(Ok(values)),
            Err(e) => Attempt::Ran(Err(e)),
            Ok(None) => Attempt::Declined,
        }
    }

    /// Runs kernels by `schedule` from now on.
    pub fn set_schedule(&mut self, schedule: Schedule) {
        self.schedule = schedule;
    }

    /// How many kernels were compiled (a worker reports it, so tests see compiler options
    /// arrive).
    pub fn compiled(&self) -> usize {
        self.by_op.values().filter(|k| k.is_some()).count()
    }

    fn run_typed<T: Cell>(
        &self,
        kernel: &Kernel,
        inputs: &[Value],
        parts: Parts<'_>,
    ) -> Result<Option<Vec<Vec<Value>>>, Error> {
        let Some((n, cols, prepared)) = Self::prepare::<T>(kernel, inputs) else { return Ok(None) };
        self.execute(kernel, n, cols, &prepared, parts)
    }

    /// The inputs as the kernel takes them, with the row count and width; `None` when they
    /// are not what it was compiled for.
    #[allow(clippy::type_complexity)]
    fn prepare<'v, T: Cell>(kernel: &Kernel, inputs: &'v [Value]) -> Option<(usize, usize, Vec<Prepared<'v, T>>)> {
        let mut n = None;
        let mut cols = kernel.cols.map(|c| c as usize);
        let mut prepared: Vec<Prepared<'_, T>> = Vec::with_capacity(inputs.len());
        for (((v, &(split, vt)), &narrow), &row_vector) in
            inputs.iter().zip(&kernel.inputs).zip(&kernel.narrow_inputs).zip(&kernel.row_vector_inputs)
        {
            match (split, v) {
                // A row kernel's broadcast row vector: as wide as the full-width inputs
                // (checked below, once the width is known).
                (Split::Broadcast, Value::Matrix(m)) if row_vector => {
                    let m = T::of(m)?;
                    if m.rows() != 1 {
                        return None;
                    }
                    prepared.push(Prepared::Row(m.cells()));
                }
                // A row kernel's column vector: one cell per row.
                (Split::Rows, Value::Matrix(m)) if narrow => {
                    let m = T::of(m)?;
                    if m.cols() != 1 || n.is_some_and(|n| n != m.rows()) {
                        return None;
                    }
                    n = Some(m.rows());
                    prepared.push(Prepared::Cells(m.cells(), 1));
                }
                // Every other row-split input as wide as the others: the kernel works on flat
                // cells (a row kernel on rows of known width).
                (Split::Rows, Value::Matrix(m)) => {
                    let m = T::of(m)?;
                    if cols.is_some_and(|c| c != m.cols()) || n.is_some_and(|n| n != m.rows()) {
                        return None;
                    }
                    n = Some(m.rows());
                    cols = Some(m.cols());
                    prepared.push(Prepared::Cells(m.cells(), m.cols()));
                }
                (Split::Broadcast, Value::Scalar(s)) if s.value_type() == vt => {
                    prepared.push(Prepared::Scalar(bytes(s)?))
                }
                _ => return None,
            }
        }
        let (n, cols) = (n?, cols?);
        if prepared.iter().any(|p| matches!(p, Prepared::Row(c) if c.len() != cols)) {
            // A row vector of another width: the interpreter reports the error.
            return None;
        }
        Some((n, cols, prepared))
    }

    /// Per output its values (one, or one per group of a fold); `Ok(None)` when a cell failed
    /// a domain check.
    fn execute<T: Cell>(
        &self,
        kernel: &Kernel,
        n: usize,
        cols: usize,
        inputs: &[Prepared<'_, T>],
        parts: Parts<'_>,
    ) -> Result<Option<Vec<Vec<Value>>>, Error> {
        let Parts { block_rows, group_blocks, mut spare } = parts;
        if cols == 0 && kernel.across_outputs.iter().any(|&a| a) {
            // A column aggregation of no columns: the interpreter has the shapes right.
            return Ok(None);
        }
        let blocks = match block_rows {
            Some(b) => blocks_of(n, b),
            None => blocks(n),
        };
        let mut rows_out: Vec<Vec<T>> = Vec::new();
        let mut partials: Vec<Vec<T>> = Vec::new();
        // The width of every output (a row kernel's narrow outputs have one column).
        let out_cols: Vec<usize> = kernel.narrow_outputs.iter().map(|&narrow| if narrow { 1 } else { cols }).collect();
        // Cells per block of every reduced output: one, or one per column for a column
        // aggregation.
        let per: Vec<usize> = kernel.across_outputs.iter().map(|&a| if a { cols } else { 1 }).collect();
        for ((c, w), &k) in kernel.outputs.iter().zip(&out_cols).zip(&per) {
            match c {
                // A kept buffer of the size as it is: every cell is written below.
                Combine::Rows => rows_out.push(match spare.as_deref_mut().and_then(|s| s.take::<T>(n * w)) {
                    Some(cells) => cells,
                    None => T::zeroed(n * w),
                }),
                _ => partials.push(vec![T::default(); blocks.len() * k]),
            }
        }
        // Every block's own outputs: slices of the `rows` outputs and one partial per reduction.
        let mut per_block: Vec<Vec<BlockOutput<'_>>> = blocks.iter().map(|_| Vec::new()).collect();
        {
            let mut rows_rest: Vec<&mut [T]> = rows_out.iter_mut().map(|v| v.as_mut_slice()).collect();
            let reduced_per: Vec<usize> =
                kernel.outputs.iter().zip(&per).filter(|(c, _)| **c != Combine::Rows).map(|(_, &k)| k).collect();
            let mut partial_iters: Vec<std::slice::ChunksMut<'_, T>> =
                partials.iter_mut().zip(&reduced_per).map(|(v, &k)| v.chunks_mut(k.max(1))).collect();
            for (b, outs) in blocks.iter().zip(per_block.iter_mut()) {
                let (mut r, mut p) = (0, 0);
                for ((c, w), &across) in kernel.outputs.iter().zip(&out_cols).zip(&kernel.across_outputs) {
                    if *c == Combine::Rows {
                        let rest = std::mem::take(&mut rows_rest[r]);
                        let (mine, later) = rest.split_at_mut(b.len() * w);
                        rows_rest[r] = later;
                        outs.push(T::cells_out(mine));
                        r += 1;
                    } else {
                        let slot = partial_iters[p].next().ok_or(Error::Internal("too few partials".into()))?;
                        outs.push(if across { T::cells_out(slot) } else { T::value_out(&mut slot[0]) });
                        p += 1;
                    }
                }
            }
        }
        let run = |range: &[std::ops::Range<usize>], outs: &mut [Vec<BlockOutput<'_>>]| -> Result<bool, Error> {
            for (b, out) in range.iter().zip(outs.iter_mut()) {
                let ins: Vec<BlockInput<'_>> = inputs
                    .iter()
                    .map(|p| match p {
                        Prepared::Cells(c, w) => T::cells_in(&c[b.start * w..b.end * w]),
                        Prepared::Scalar(s) => BlockInput::Scalar(*s),
                        Prepared::Row(c) => T::cells_in(c),
                    })
                    .collect();
                if !daphne_codegen::run_block(kernel, b.len() * cols, cols, &ins, out)? {
                    return Ok(false);
                }
            }
            Ok(true)
        };
        let schedule = self.schedule.for_cells(n * cols);
        let tasks = schedule.tasks(blocks.len(), blocks.first().map_or(1, |b| b.len()));
        let mut items = Vec::with_capacity(tasks.len());
        let mut rest = per_block.as_mut_slice();
        for t in &tasks {
            let (mine, later) = std::mem::take(&mut rest).split_at_mut(t.len());
            items.push((&blocks[t.clone()], mine));
            rest = later;
        }
        let results = schedule.run(items, |(range, outs)| run(range, outs), |r| !matches!(r, Ok(true)));
        let mut passed = true;
        for r in results.into_iter().flatten() {
            if !r? {
                passed = false;
                break;
            }
        }
        if !passed {
            return Ok(None);
        }
        drop(per_block);
        // Blocks per group of a fold: all of them unless a worker's groups were asked for.
        let group_blocks = group_blocks.unwrap_or(blocks.len()).max(1);
        let (mut rows_it, mut partial_it) = (rows_out.into_iter(), partials.into_iter());
        let values = kernel
            .outputs
            .iter()
            .zip(&out_cols)
            .zip(&kernel.across_outputs)
            .map(|((c, &w), &across)| {
                Ok(match c {
                    Combine::Rows => {
                        let cells = rows_it.next().ok_or(Error::Internal("missing output".into()))?;
                        vec![Value::Matrix(T::wrap(DenseMatrix::from_vec(n, w, cells)))]
                    }
                    other => {
                        let pick = |a: T, b: T| match other {
                            Combine::Min => {
                                if b < a {
                                    b
                                } else {
                                    a
                                }
                            }
                            Combine::Max => {
                                if b > a {
                                    b
                                } else {
                                    a
                                }
                            }
                            _ => a.plus(b),
                        };
                        let parts = partial_it.next().ok_or(Error::Internal("missing output".into()))?;
                        // Each group's blocks folded along the tree (a group is a subtree).
                        let per_block = if across { cols } else { 1 };
                        parts
                            .chunks(group_blocks * per_block)
                            .map(|group| {
                                Ok(if across {
                                    // One row per block, folded cell by cell along the tree.
                                    let rows: Vec<Vec<T>> = group.chunks(cols).map(<[T]>::to_vec).collect();
                                    let folded = fold_tree(rows, |mut a, b| {
                                        for (x, &y) in a.iter_mut().zip(&b) {
                                            *x = pick(*x, y);
                                        }
                                        a
                                    });
                                    Value::Matrix(T::wrap(DenseMatrix::from_vec(
                                        1,
                                        cols,
                                        folded.ok_or(Error::Internal("no blocks".into()))?,
                                    )))
                                } else {
                                    Value::Scalar(T::scalar(
                                        fold_tree(group.to_vec(), pick).ok_or(Error::Internal("no blocks".into()))?,
                                    ))
                                })
                            })
                            .collect::<Result<Vec<Value>, Error>>()?
                    }
                })
            })
            .collect::<Result<Vec<Vec<Value>>, Error>>()?;
        Ok(Some(values))
    }
}

/// How a run cuts its rows and where its `rows` outputs come from.
struct Parts<'s> {
    /// Rows per block, when not those of the inputs' row count.
    block_rows: Option<usize>,
    /// Blocks per group of a fold, when not all of them.
    group_blocks: Option<usize>,
    /// Buffers for `rows` outputs.
    spare: Option<&'s mut Spare>,
}

/// The cell types kernels work on.
trait Cell: Copy + Default + PartialOrd + Send + Sync + Reusable + 'static {
    /// Addition as the runtime adds (wrapping for integers).
    fn plus(self, other: Self) -> Self;
    fn of(m: &Matrix) -> Option<&DenseMatrix<Self>>;
    fn wrap(m: DenseMatrix<Self>) -> Matrix;
    fn scalar(x: Self) -> Scalar;
    fn zeroed(n: usize) -> Vec<Self>;
    fn cells_in(c: &[Self]) -> BlockInput<'_>;
    fn cells_out(c: &mut [Self]) -> BlockOutput<'_>;
    fn value_out(v: &mut Self) -> BlockOutput<'_>;
}

/// `Cell` for a cell type: its matrix and scalar variants, its kernel buffers, its addition.
macro_rules! cell {
    ($t:ty, $variant:ident, $input:ident, $value:ident, $plus:expr) => {
        impl Cell for $t {
            fn plus(self, other: $t) -> $t {
                $plus(self, other)
            }
            fn of(m: &Matrix) -> Option<&DenseMatrix<$t>> {
                if let Matrix::$variant(m) = m { Some(m) } else { None }
            }
            fn wrap(m: DenseMatrix<$t>) -> Matrix {
                Matrix::$variant(m)
            }
            fn scalar(x: $t) -> Scalar {
                Scalar::$variant(x)
            }
            fn zeroed(n: usize) -> Vec<$t> {
                crate::pages::zeroed(n)
            }
            fn cells_in(c: &[$t]) -> BlockInput<'_> {
                BlockInput::$input(c)
            }
            fn cells_out(c: &mut [$t]) -> BlockOutput<'_> {
                BlockOutput::$input(c)
            }
            fn value_out(v: &mut $t) -> BlockOutput<'_> {
                BlockOutput::$value(v)
            }
        }
    };
}

cell!(f64, F64, F64, ValueF64, |a: f64, b: f64| a + b);
cell!(f32, F32, F32, ValueF32, |a: f32, b: f32| a + b);
cell!(i64, Si64, I64, ValueI64, i64::wrapping_add);

/// An input ready for the kernel.
enum Prepared<'a, T> {
    /// A row-split input's cells and its width.
    Cells(&'a [T], usize),
    Scalar([u8; 8]),
    /// A broadcast row vector's cells (one per column), the same for every block.
    Row(&'a [T]),
}

/// A scalar's bytes in its value type, as the kernel loads it (native byte order).
fn bytes(s: &Scalar) -> Option<[u8; 8]> {
    let mut out = [0u8; 8];
    let b: Vec<u8> = match s {
        Scalar::F64(v) => v.to_ne_bytes().to_vec(),
        Scalar::F32(v) => v.to_ne_bytes().to_vec(),
        Scalar::Si64(v) => v.to_ne_bytes().to_vec(),
        Scalar::Si32(v) => v.to_ne_bytes().to_vec(),
        Scalar::Si8(v) => v.to_ne_bytes().to_vec(),
        Scalar::Ui64(v) | Scalar::Index(v) => v.to_ne_bytes().to_vec(),
        Scalar::Ui32(v) => v.to_ne_bytes().to_vec(),
        Scalar::Ui8(v) => vec![*v],
        Scalar::Bool(v) => vec![u8::from(*v)],
        Scalar::Str(_) => return None,
    };
    out[..b.len()].copy_from_slice(&b);
    Some(out)
}
