//! The reference executor: interprets an IR module op by op, calling one kernel per op.
//!
//! It stays the reference semantics that compiled paths are tested against. Output goes to
//! the writers it is given, so tests can capture it.

use std::collections::HashMap;
use std::io::Write;

use daphne_ir::{Builtin, FuncId, Function, Loc, Module, OpId, OpKind, Region, Repr, Type, ValueType};

use crate::error::Error;
use crate::kernels;
use crate::matrix::Matrix;
use crate::value::{RemoteFrame, Scalar, Value};

/// Why a script stopped early.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeError {
    pub message: String,
    /// Where the failing op came from.
    pub loc: Option<Loc>,
    /// `stop()` was called (DAPHNE reports these without an error prefix).
    pub stopped: bool,
    /// The calls the interpreter was in, innermost first: the callee's name as the script
    /// writes it and where the call was (`Module::call_notes` renders them).
    pub calls: Vec<(String, Option<Loc>)>,
}

type R<T> = Result<T, RuntimeError>;

/// What `--timing` reports of one pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineTiming {
    /// The function holding the op, and where in the source it is.
    pub function: String,
    pub loc: Option<Loc>,
    /// The op: `pipeline`, or another op that touched matrix cells (its IR name).
    pub op: String,
    /// Whether it ran as a compiled kernel (else interpreted).
    pub compiled: bool,
    pub compile_seconds: f64,
    /// Whether its kernel was compiled ahead, before the run reached it (`compile_ahead`).
    pub compiled_ahead: bool,
    pub runs: u64,
    /// Runs on distributed workers (`--distributed`), among `runs`.
    pub distributed_runs: u64,
    pub run_seconds: f64,
    /// Matrix cells its runs touched (operands and results), and of those the cells touched
    /// on workers (a distributed pipeline's, a matrix made on the workers).
    pub cells: u64,
    pub worker_cells: u64,
    /// Bytes of its compiled runs' outputs written into the memory of a matrix an earlier
    /// iteration of a loop left (`Executor::retire`), not into fresh pages.
    pub reused_bytes: u64,
}

impl PipelineTiming {
    /// An op's timing before its first run.
    fn new(function: &str, loc: Option<Loc>, op: &str) -> PipelineTiming {
        PipelineTiming {
            function: function.to_owned(),
            loc,
            op: op.to_owned(),
            compiled: false,
            compile_seconds: 0.0,
            compiled_ahead: false,
            runs: 0,
            distributed_runs: 0,
            run_seconds: 0.0,
            cells: 0,
            worker_cells: 0,
            reused_bytes: 0,
        }
    }
}

/// The matrix cells of values (a remote value's too).
fn cells_of(values: &[Value]) -> u64 {
    values
        .iter()
        .map(|v| {
            let (r, c) = match v {
                Value::Matrix(m) => (m.rows(), m.cols()),
                Value::Sparse(m) => (m.rows(), m.cols()),
                Value::Remote(r) => (r.rows, r.cols),
                Value::Frame(f) => (f.rows(), f.cols()),
                Value::RemoteFrame(f) => (f.rows, f.columns.len()),
                Value::List(_, ms) => (ms.iter().map(|m| m.rows() * m.cols()).sum(), 1),
                Value::Scalar(_) => (0, 0),
            };
            r.saturating_mul(c) as u64
        })
        .fold(0u64, u64::saturating_add)
}

/// How the executor runs what it runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Run every pipeline as a worker would: extracted, encoded, decoded, verified, run.
    pub ship_pipelines: bool,
    /// Run pipelines as JIT-compiled kernels where the JIT covers them (`--no-vec` turns it
    /// off: every pipeline is interpreted).
    pub vectorize: bool,
    /// Threads and partitioning of the vectorized engine (and of interpreted pipelines).
    pub schedule: crate::schedule::Schedule,
    /// Where to report pipeline timings (`--timing`), in program order.
    pub timings: Option<std::sync::Arc<std::sync::Mutex<Vec<PipelineTiming>>>>,
    /// Runs pipelines on workers (`--distributed`); a pipeline it declines runs here.
    pub remote: Option<std::sync::Arc<dyn Distribute>>,
    /// How `write` writes floats to CSV files (the user configuration's `csv_float_format`).
    pub csv_floats: crate::io::FloatFormat,
    /// Set (by Ctrl-C in `daphne`'s interactive mode) to stop the run before its next op with
    /// an error `interrupted`.
    pub interrupt: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// An engine kept across runs (an embedding program's context runs many small programs):
    /// a pipeline compiled by an earlier run is found again in its compiler's cache (by the
    /// pipeline's text) instead of being compiled again. `None`: each run makes its own.
    pub engine: Option<SharedEngine>,
}

/// An engine shared by the runs of an embedding program (`Options::engine`).
#[derive(Clone)]
pub struct SharedEngine(pub std::sync::Arc<std::sync::Mutex<crate::engine::Engine>>);

impl std::fmt::Debug for SharedEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedEngine")
    }
}

/// Runs pipelines elsewhere: the distributed runtime's side of the executor.
pub trait Distribute: Send + Sync + std::fmt::Debug {
    /// Runs pipeline `id` of `f` on `inputs` (remote values among them), or declines (the
    /// executor fetches the inputs and runs it here, which also reports a failure exactly as a
    /// local run does). Results may be remote values.
    fn run(
        &self,
        key: crate::pipeline::PipelineId,
        f: &Function,
        id: OpId,
        inputs: &[Value],
    ) -> crate::pipeline::Attempt;

    /// Makes a matrix where pipelines will use it (each worker its rows of a large `rand`,
    /// `fill` or `seq`), or declines (`None`: it is made here). The result is a remote value.
    fn create(&self, _source: &crate::source::Source) -> Option<Result<Value, Error>> {
        None
    }

    /// Reads a matrix or frame file where pipelines will use it: every worker reads its rows of
    /// a file every worker sees (`by` says how the file splits; `meta` is what the whole read
    /// would read it with, with labels for a frame), or declines (`None`: it is read here).
    fn read(&self, _path: &str, _meta: &crate::io::Meta, _by: &crate::io::ByRows) -> Option<Result<Value, Error>> {
        None
    }

    /// Makes a matrix of value type `vt` of a remote frame's columns where they are (`as.matrix`
    /// of a frame read on the workers), or declines (`None`: the frame is fetched and cast here).
    fn convert(&self, _frame: &RemoteFrame, _vt: ValueType) -> Option<Result<Value, Error>> {
        None
    }

    /// The results of a pipeline it declined, once computed here (it may decide that values
    /// pipelines produce are worth sending next time).
    fn observe(&self, _key: crate::pipeline::PipelineId, _f: &Function, _id: OpId, _results: &[Value]) {}
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ship_pipelines: false,
            vectorize: true,
            schedule: crate::schedule::Schedule::on(default_threads()),
            timings: None,
            remote: None,
            csv_floats: crate::io::FloatFormat::default(),
            interrupt: None,
            engine: None,
        }
    }
}

/// The default number of engine threads: the machine's, capped by `SLURM_CPUS_ON_NODE` when
/// a Slurm allocation sets it.
pub fn default_threads() -> usize {
    let machine = std::thread::available_parallelism().map_or(1, |n| n.get());
    let slurm = std::env::var("SLURM_CPUS_ON_NODE").ok().and_then(|v| v.trim().parse::<usize>().ok());
    slurm.map_or(machine, |s| s.clamp(1, machine))
}

/// Runs the module's entry function, printing to `out` and `err`.
pub fn run(module: &Module, out: &mut (dyn Write + Send), err: &mut (dyn Write + Send)) -> R<()> {
    run_with(module, Options::default(), out, err)
}

/// `run` with options.
///
/// The interpreter recurses once per call of a user-defined function, so it runs on a thread
/// whose stack (reserved, not committed) fits `MAX_CALL_DEPTH` nested calls.
pub fn run_with(
    module: &Module,
    options: Options,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> R<()> {
    run_entry(module, options, Vec::new(), out, err).map(|_| ())
}

/// `run_with` for an entry function with parameters (`daphne`'s interactive mode binds the
/// variables of earlier entries so): runs it on `args` and returns what it returns.
pub fn run_entry(
    module: &Module,
    options: Options,
    args: Vec<Value>,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> R<Vec<Value>> {
    let params = module.functions.get(module.entry.0 as usize).map_or(0, |f| f.params().len());
    if params != args.len() {
        return Err(RuntimeError {
            message: Error::Internal(format!(
                "the entry function takes {params} values, but {} were given",
                args.len()
            ))
            .to_string(),
            loc: None,
            stopped: false,
            calls: Vec::new(),
        });
    }
    // Products outside pipelines use the engine's threads (the setting changes no bit).
    let cx = kernels::Context::new(options.schedule.threads);
    let run = crate::pipeline::PipelineId::fresh();
    let early = if options.vectorize && !options.ship_pipelines && options.engine.is_none() && options.remote.is_none()
    {
        entry_pipelines(module)
    } else {
        Vec::new()
    };
    let ahead = (!early.is_empty()).then(|| std::sync::Arc::new(Ahead::default()));
    let schedule = options.schedule;
    std::thread::scope(|scope| {
        if let Some(a) = &ahead {
            let spawned = std::thread::Builder::new()
                .name("daphne-jit".into())
                .spawn_scoped(scope, move || compile_ahead(module, run, schedule, &early, a));
            if spawned.is_err() {
                // The executor makes its engine itself.
                let _ = a.engine.set(None);
            }
        }
        let handle = std::thread::Builder::new().name("daphne-exec".into()).stack_size(EXEC_STACK_BYTES).spawn_scoped(
            scope,
            || {
                let mut ex = Executor {
                    module,
                    run,
                    options,
                    cx,
                    out,
                    err,
                    depth: 0,
                    engine: Jit::NotMade,
                    timings: HashMap::new(),
                    spare: crate::spare::Spare::default(),
                    ahead: ahead.clone(),
                };
                let r = ex.call(module.entry, args, None);
                if let Some(a) = &ahead {
                    a.stop.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                let _ = ex.out.flush();
                if let Some(sink) = &ex.options.timings {
                    let mut all: Vec<((usize, usize), PipelineTiming)> = ex.timings.drain().collect();
                    all.sort_by_key(|(k, _)| *k);
                    if let Ok(mut sink) = sink.lock() {
                        sink.extend(all.into_iter().map(|(_, t)| t));
                    }
                }
                r
            },
        );
        match handle {
            Ok(h) => h.join().unwrap_or_else(|_| {
                Err(RuntimeError {
                    message: Error::Internal("the interpreter panicked".into()).to_string(),
                    loc: None,
                    stopped: false,
                    calls: Vec::new(),
                })
            }),
            Err(e) => Err(RuntimeError {
                message: format!("cannot start the interpreter: {e}"),
                loc: None,
                stopped: false,
                calls: Vec::new(),
            }),
        }
    })
}

/// The engine a run's kernels are compiled into ahead of their first use, on a thread of
/// their own while the script's first ops run (they read or generate its data): a pipeline's
/// first run then costs what its later runs cost, without making the engine and compiling.
#[derive(Default)]
struct Ahead {
    /// Set once the engine is made (`None`: no JIT here); the executor waits for it at its
    /// first pipeline rather than making another.
    engine: std::sync::OnceLock<Option<SharedEngine>>,
    /// Set when the run ends: pipelines not compiled yet are left.
    stop: std::sync::atomic::AtomicBool,
}

/// What `--timing` learns of a pipeline's kernel.
#[derive(Default)]
struct Compile {
    seconds: f64,
    /// Compiled before the run reached the pipeline.
    ahead: bool,
}

/// At most this many pipelines are compiled ahead.
const AHEAD_PIPELINES: usize = 64;

/// The entry function's pipelines in the order they come in its text (those in loops and
/// branches too; other functions' are compiled when they are called), at most
/// `AHEAD_PIPELINES`.
fn entry_pipelines(module: &Module) -> Vec<OpId> {
    fn pipelines(f: &Function, region: &Region, out: &mut Vec<OpId>) {
        for &id in &region.ops {
            if out.len() >= AHEAD_PIPELINES {
                return;
            }
            match f.ops[id].kind {
                OpKind::Pipeline(_) => out.push(id),
                _ => f.ops[id].regions.iter().for_each(|r| pipelines(f, r, out)),
            }
        }
    }
    let mut ids = Vec::new();
    if let Some(f) = module.functions.get(module.entry.0 as usize) {
        pipelines(f, &f.body, &mut ids);
    }
    ids
}

/// Makes the engine, then compiles pipelines `ids` of the entry function, each under the
/// engine's lock, so the executor waits at most for the one being compiled.
fn compile_ahead(module: &Module, run: u64, schedule: crate::schedule::Schedule, ids: &[OpId], ahead: &Ahead) {
    /// The executor never waits in vain: should making the engine panic, there is none.
    struct NoneUnlessSet<'a>(&'a Ahead);
    impl Drop for NoneUnlessSet<'_> {
        fn drop(&mut self) {
            let _ = self.0.engine.set(None);
        }
    }
    let _guard = NoneUnlessSet(ahead);
    let engine =
        crate::engine::Engine::new(schedule).ok().map(|e| SharedEngine(std::sync::Arc::new(std::sync::Mutex::new(e))));
    let _ = ahead.engine.set(engine.clone());
    let (Some(shared), Some(f)) = (engine, module.functions.get(module.entry.0 as usize)) else { return };
    for &id in ids {
        if ahead.stop.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let key = crate::pipeline::PipelineId { module: run, function: module.entry.0, op: id };
        match shared.0.lock() {
            Ok(mut e) => {
                e.kernel(key, f, id);
            }
            Err(_) => return,
        }
    }
}

/// The size of the pieces in which `print` writes a large value.
const PRINT_PIECE: usize = 1 << 16;

/// The deepest recursion of user-defined functions before the script is stopped.
const MAX_CALL_DEPTH: usize = 10_000;

/// The interpreter thread's stack: enough for `MAX_CALL_DEPTH` nested calls even in a debug
/// build (about 40 KiB per call there).
const EXEC_STACK_BYTES: usize = 1 << 30;

struct Executor<'m, 'w> {
    module: &'m Module,
    /// This run's number, which names its pipelines in caches (`PipelineId`).
    run: u64,
    options: Options,
    /// What kernels run with.
    cx: kernels::Context,
    /// The vectorized engine, made at the first pipeline.
    engine: Jit,
    /// Pipeline timings by (function, op) when `options.timings` asks for them.
    timings: HashMap<(usize, usize), PipelineTiming>,
    out: &'w mut dyn Write,
    err: &'w mut dyn Write,
    depth: usize,
    /// The large matrices the last iteration of a loop left and nothing else holds, for the
    /// compiled pipelines of the next iteration to write into (`retire`).
    spare: crate::spare::Spare,
    /// The engine being made and filled on another thread, if any (`compile_ahead`).
    ahead: Option<std::sync::Arc<Ahead>>,
}

/// The executor's vectorized engine.
enum Jit {
    /// No pipeline ran yet.
    NotMade,
    Ready(Box<crate::engine::Engine>),
    /// The embedding program's engine, kept across runs (`Options::engine`).
    Shared(SharedEngine),
    /// It could not be made (no JIT for this machine): pipelines are interpreted.
    Unavailable,
}

/// What ended a region: its terminator's operands.
struct Exit {
    values: Vec<Value>,
}

struct Frame {
    values: Vec<Option<Value>>,
}

impl Frame {
    fn get(&self, v: daphne_ir::Value, loc: Option<Loc>) -> R<&Value> {
        self.values.get(v.index()).and_then(Option::as_ref).ok_or_else(|| RuntimeError {
            message: Error::Internal(format!("value #{} used before it was computed", v.index())).to_string(),
            loc,
            stopped: false,
            calls: Vec::new(),
        })
    }

    fn set(&mut self, v: daphne_ir::Value, x: Value) {
        if let Some(slot) = self.values.get_mut(v.index()) {
            *slot = Some(x);
        }
    }

    /// Sets `v`, handing back what it held.
    fn replace(&mut self, v: daphne_ir::Value, x: Value) -> Option<Value> {
        self.values.get_mut(v.index()).and_then(|slot| slot.replace(x))
    }

    /// Drops the values the ops of `region` (and of the regions inside them) defined, no op
    /// outside the region can use them, except those a spare may keep, which it hands over.
    fn take_defined(&mut self, f: &Function, region: &Region, out: &mut Vec<Value>) {
        for &id in &region.ops {
            let op = &f.ops[id];
            for r in &op.results {
                // Every value goes now (a value on the workers is freed there at once); only
                // those a spare may keep are handed on.
                if let Some(v) = self.values.get_mut(r.index()).and_then(Option::take)
                    && crate::spare::Spare::may_keep(&v)
                {
                    out.push(v);
                }
            }
            for inner in &op.regions {
                self.take_defined(f, inner, out);
            }
        }
    }
}

impl Executor<'_, '_> {
    fn call(&mut self, id: FuncId, args: Vec<Value>, loc: Option<Loc>) -> R<Vec<Value>> {
        let f = self.module.functions.get(id.0 as usize).ok_or_else(|| RuntimeError {
            message: Error::Internal(format!("call of missing function #{}", id.0)).to_string(),
            loc,
            stopped: false,
            calls: Vec::new(),
        })?;
        self.depth += 1;
        if self.depth > MAX_CALL_DEPTH {
            return Err(RuntimeError {
                message: format!("recursion deeper than {MAX_CALL_DEPTH} calls (in `{}`)", f.name),
                loc,
                stopped: false,
                calls: Vec::new(),
            });
        }
        let mut frame = Frame { values: vec![None; f.values.len()] };
        for (&p, a) in f.params().iter().zip(args) {
            frame.set(p, a);
        }
        let exit = self.region(f, &mut frame, &f.body);
        self.depth -= 1;
        // The script's main function is no call of the script's.
        let exit = exit.map_err(|mut e| {
            if id != self.module.entry {
                e.calls.push((f.source_name().to_owned(), loc));
            }
            e
        })?;
        Ok(exit.values)
    }

    fn region(&mut self, f: &Function, frame: &mut Frame, region: &Region) -> R<Exit> {
        for &id in &region.ops {
            if let Some(flag) = &self.options.interrupt
                && flag.load(std::sync::atomic::Ordering::Relaxed)
            {
                return Err(self.error(f, id, "interrupted"));
            }
            if let Some(exit) = self.op(f, frame, id)? {
                return Ok(exit);
            }
        }
        Ok(Exit { values: Vec::new() })
    }

    /// Values a loop is done with (the carried values an iteration replaced, what its regions
    /// defined): the large matrices among them that nothing else holds are kept for the loop's
    /// pipelines to write into, instead of fresh memory whose first touch costs a page fault
    /// and a page of zeros per page (`A = B + 3 * C` in a loop spent half its time there).
    /// Each loop keeps its own (an inner loop's do not mix with the outer's, which wait for
    /// it), and drops them when it ends.
    fn retire(&mut self, dead: Vec<Value>) {
        for v in dead {
            self.spare.give(v);
        }
    }

    /// The end of an iteration that defined `dead`: what was kept and nothing took goes, then
    /// `dead` is kept for the next iteration. So no buffer outlives the iteration after the one
    /// that freed it; before, these values stayed in the frame until the next iteration
    /// overwrote them, so memory is never held longer than it was.
    fn next_iteration(&mut self, dead: Vec<Value>) {
        self.spare.clear();
        self.retire(dead);
    }

    fn error(&self, f: &Function, id: OpId, message: impl Into<String>) -> RuntimeError {
        RuntimeError { message: message.into(), loc: f.loc(id), stopped: false, calls: Vec::new() }
    }

    /// Runs one op; `Some` when it is a terminator.
    fn op(&mut self, f: &Function, frame: &mut Frame, id: OpId) -> R<Option<Exit>> {
        let op = &f.ops[id];
        let loc = f.loc(id);
        let mut args = op.operands.iter().map(|&v| frame.get(v, loc).cloned()).collect::<R<Vec<Value>>>()?;
        if matches!(op.kind, OpKind::Yield | OpKind::Condition | OpKind::Return) {
            return Ok(Some(Exit { values: args }));
        }
        if op.kind == OpKind::Builtin(Builtin::SliceRow)
            && let [remote, Value::Scalar(lo), Value::Scalar(hi)] = args.as_slice()
            && let (Some(lo), Some(hi)) = (lo.get::<i64>(), hi.get::<i64>())
            && 0 <= lo
            && lo <= hi
            && let Some(block) = remote.remote_rows(lo as usize..hi as usize)
        {
            // `X[a:b, ]` of a matrix or frame on the workers brings only the parts holding
            // those rows.
            let (first, block) = block.map_err(|m| self.error(f, id, m))?;
            let shift = |x: i64| Value::Scalar(Scalar::Si64(x - first as i64));
            args = vec![block, shift(lo), shift(hi)];
        }
        if fetches(&op.kind) && args.iter().any(Value::is_remote) && !on_remote_frame(&op.kind, &args) {
            args = args.into_iter().map(Value::local).collect::<Result<_, _>>().map_err(|m| self.error(f, id, m))?;
        }
        let mut sparse = None;
        if args.iter().any(|a| matches!(a, Value::Sparse(_))) {
            if let OpKind::Builtin(b) = &op.kind {
                sparse = crate::kernels::sparse::kernel(*b, &args).map(|k| (k, *b));
            }
            if sparse.is_none() && densifies(&op.kind) {
                args =
                    args.into_iter().map(Value::densify).collect::<Result<_, _>>().map_err(|m| self.error(f, id, m))?;
            }
        }
        let timed =
            self.options.timings.is_some() && matches!(op.kind, OpKind::Builtin(_) | OpKind::Cast | OpKind::Map(_));
        let (started, arg_cells) = if timed { (Some(std::time::Instant::now()), cells_of(&args)) } else { (None, 0) };
        let results: Vec<Value> = match (&op.kind, sparse) {
            (_, Some((kernel, b))) => {
                vec![crate::kernels::sparse::apply(&self.cx, kernel, b, &args).map_err(|m| self.error(f, id, m))?]
            }
            (kind, None) => self.compute(f, frame, id, kind, args)?,
        };
        if results.len() != op.results.len() {
            return Err(self.error(
                f,
                id,
                Error::Internal(format!(
                    "`{}` produced {} values for {} results",
                    op.kind.name(),
                    results.len(),
                    op.results.len()
                )),
            ));
        }
        if let Some(started) = started {
            let touched = arg_cells + cells_of(&results);
            if touched > 0 {
                let fi = self.module.functions.iter().position(|g| std::ptr::eq(g, f)).unwrap_or(0);
                // Made on the workers: a creation op whose result stayed there.
                let remote = results.iter().any(Value::is_remote);
                let t = self
                    .timings
                    .entry((fi, id.index()))
                    .or_insert_with(|| PipelineTiming::new(&f.name, loc, op.kind.name()));
                t.runs += 1;
                t.distributed_runs += u64::from(remote);
                t.run_seconds += started.elapsed().as_secs_f64();
                t.cells += touched;
                t.worker_cells += if remote { touched } else { 0 };
            }
        }
        let converts = matches!(op.kind, OpKind::Builtin(_) | OpKind::Cast | OpKind::Map(_));
        for (&r, v) in op.results.iter().zip(results) {
            // Every op result has the representation its static type says.
            let v = match (converts, f.ty(r), v) {
                (true, Type::Matrix(t), Value::Matrix(m)) if t.repr == Some(Repr::Sparse) => {
                    Value::Sparse(crate::csr::CsrMatrix::from_dense(&m).map_err(|m| self.error(f, id, m))?)
                }
                (true, Type::Matrix(t), v @ Value::Sparse(_)) if t.repr != Some(Repr::Sparse) => {
                    v.densify().map_err(|m| self.error(f, id, m))?
                }
                (_, _, v) => v,
            };
            frame.set(r, v);
        }
        Ok(None)
    }

    /// Computes the results of one op that is not a terminator.
    fn compute(&mut self, f: &Function, frame: &mut Frame, id: OpId, kind: &OpKind, args: Vec<Value>) -> R<Vec<Value>> {
        let op = &f.ops[id];
        let loc = f.loc(id);
        Ok(match kind {
            OpKind::Const(lit) => vec![Value::Scalar(Scalar::from_literal(lit))],
            OpKind::Builtin(Builtin::Print) => {
                let sparse = is_sparse(f.ty(op.operands[0]));
                self.print(&args, sparse).map_err(|m| self.error(f, id, m))?;
                vec![]
            }
            OpKind::Builtin(Builtin::TypeOf) => match &args[0] {
                Value::Sparse(m) => {
                    let sparse = is_sparse(f.ty(op.operands[0]));
                    let name = crate::matrix::header(sparse, m.rows(), m.cols(), m.value_type());
                    vec![Value::Scalar(Scalar::Str(std::sync::Arc::from(name)))]
                }
                Value::Matrix(m) => {
                    let name = m.header(is_sparse(f.ty(op.operands[0])));
                    vec![Value::Scalar(Scalar::Str(std::sync::Arc::from(name)))]
                }
                other => vec![kernels::data::type_of(other)],
            },
            OpKind::Builtin(Builtin::Rand) if is_sparse(f.ty(op.results[0])) => {
                vec![
                    kernels::data::rand(&args, f.ty(op.results[0]).value_type().unwrap_or(ValueType::F64), true)
                        .map_err(|m| self.error(f, id, m))?,
                ]
            }
            OpKind::Builtin(Builtin::Stop) => {
                let mut msg = String::new();
                if let Some(v) = args.first() {
                    v.print(&mut msg);
                }
                return Err(RuntimeError { message: msg, loc, stopped: true, calls: Vec::new() });
            }
            OpKind::Builtin(Builtin::Now) => {
                let ns = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as i64)
                    .unwrap_or(0);
                vec![Value::Scalar(Scalar::Si64(ns))]
            }
            OpKind::Builtin(b @ (Builtin::ReadMatrix | Builtin::ReadFrame | Builtin::Write)) => {
                let ty = op.results.first().map_or(&Type::Unknown, |&r| f.ty(r));
                // A large matrix or frame file is read on the workers, each its rows; any trouble
                // (a format not read by rows, a contradiction) is the whole read's to report.
                let remote = match (&self.options.remote, b) {
                    (Some(remote), Builtin::ReadMatrix | Builtin::ReadFrame) => {
                        read_args(*b, &args).ok().and_then(|(path, header, delimiter)| {
                            let frame = *b == Builtin::ReadFrame;
                            let (meta, by) = crate::io::by_rows(&path, frame, ty, header, delimiter).ok()??;
                            remote.read(&path, &meta, &by)
                        })
                    }
                    _ => None,
                };
                match remote {
                    Some(v) => vec![v.map_err(|m| self.error(f, id, m))?],
                    None => file_op(*b, &args, ty, self.options.csv_floats, self.cx.threads)
                        .map_err(|m| self.error(f, id, m))?,
                }
            }
            OpKind::Builtin(b @ (Builtin::Rand | Builtin::Fill | Builtin::Seq | Builtin::Sample))
                if self.options.remote.is_some() =>
            {
                // A large matrix is made on the workers, where pipelines use it.
                let made = match (&self.options.remote, kernels::source(*b, &args)) {
                    (Some(remote), Ok(Some(source))) => remote.create(&source),
                    _ => None,
                };
                match made {
                    Some(v) => vec![v.map_err(|m| self.error(f, id, m))?],
                    None => kernels::call(&self.cx, *b, &args).map_err(|m| self.error(f, id, m))?,
                }
            }
            _ if on_remote_frame(kind, &args) => {
                let to = op.results.first().map_or(&Type::Unknown, |&r| f.ty(r));
                vec![self.remote_frame_op(kind, to, args).map_err(|m| self.error(f, id, m))?]
            }
            OpKind::Builtin(b) => kernels::call(&self.cx, *b, &args).map_err(|m| self.error(f, id, m))?,
            OpKind::Cast => {
                let to = f.ty(op.results[0]);
                vec![kernels::cast(&args[0], to).map_err(|m| self.error(f, id, m))?]
            }
            OpKind::Call(callee) => self.call(*callee, args, loc)?,
            OpKind::Map(callee) => {
                let m = match &args[0] {
                    Value::Matrix(m) => m.clone(),
                    other => return Err(self.error(f, id, format!("`map` needs a matrix, not {}", other.describe()))),
                };
                let mut cells = Vec::with_capacity(m.rows() * m.cols());
                for i in 0..m.rows() {
                    for j in 0..m.cols() {
                        let out = self.call(*callee, vec![Value::Scalar(m.cell(i, j))], loc)?;
                        match out.into_iter().next() {
                            Some(Value::Scalar(s)) => cells.push(s),
                            _ => {
                                return Err(self.error(f, id, "the function given to `map` must return a scalar"));
                            }
                        }
                    }
                }
                let vt = match f.ty(op.results[0]).value_type() {
                    Some(vt) => vt,
                    None => cells.first().map_or(m.value_type(), |s| s.value_type()),
                };
                vec![Value::Matrix(
                    Matrix::from_scalars(m.rows(), m.cols(), &cells, vt).map_err(|e| self.error(f, id, e))?,
                )]
            }
            OpKind::If => {
                let c = truth(&args[0]).map_err(|m| self.error(f, id, m))?;
                let region = &op.regions[if c { 0 } else { 1 }];
                self.region(f, frame, region)?.values
            }
            OpKind::While => {
                let (before, after) = (&op.regions[0], &op.regions[1]);
                let mut carried = args;
                let outer = std::mem::take(&mut self.spare);
                let done = loop {
                    let mut dead = Vec::new();
                    for (&a, v) in before.args.iter().zip(carried) {
                        dead.extend(frame.replace(a, v).filter(crate::spare::Spare::may_keep));
                    }
                    self.retire(dead);
                    let exit = self.region(f, frame, before)?;
                    let mut values = exit.values.into_iter();
                    let cond =
                        values.next().ok_or_else(|| self.error(f, id, Error::Internal("empty condition".into())))?;
                    let passed: Vec<Value> = values.collect();
                    let mut dead = Vec::new();
                    frame.take_defined(f, before, &mut dead);
                    if !truth(&cond).map_err(|m| self.error(f, id, m))? {
                        break passed;
                    }
                    let mut replaced = Vec::new();
                    for (&a, v) in after.args.iter().zip(passed) {
                        replaced.extend(frame.replace(a, v).filter(crate::spare::Spare::may_keep));
                    }
                    self.retire(replaced);
                    carried = self.region(f, frame, after)?.values;
                    frame.take_defined(f, after, &mut dead);
                    self.next_iteration(dead);
                };
                self.spare = outer;
                done
            }
            OpKind::For => {
                let bound = |v: &Value| -> Result<i64, Error> {
                    match v {
                        Value::Scalar(s) => s.get::<i64>().ok_or_else(|| Error::from("a loop bound must be a number")),
                        _ => Err("a loop bound must be a scalar".into()),
                    }
                };
                let from = bound(&args[0]).map_err(|m| self.error(f, id, m))?;
                let to = bound(&args[1]).map_err(|m| self.error(f, id, m))?;
                let step = bound(&args[2]).map_err(|m| self.error(f, id, m))?;
                if step == 0 {
                    return Err(self.error(f, id, "the step of a for loop must not be zero"));
                }
                let body = &op.regions[0];
                let mut carried: Vec<Value> = args[3..].to_vec();
                let mut i = from;
                let outer = std::mem::take(&mut self.spare);
                while (step > 0 && i <= to) || (step < 0 && i >= to) {
                    frame.set(body.args[0], Value::Scalar(Scalar::Si64(i)));
                    let mut dead = Vec::new();
                    for (&a, v) in body.args[1..].iter().zip(carried) {
                        dead.extend(frame.replace(a, v).filter(crate::spare::Spare::may_keep));
                    }
                    self.retire(dead);
                    carried = self.region(f, frame, body)?.values;
                    let mut dead = Vec::new();
                    frame.take_defined(f, body, &mut dead);
                    self.next_iteration(dead);
                    i = match i.checked_add(step) {
                        Some(n) => n,
                        None => break,
                    };
                }
                self.spare = outer;
                carried
            }
            OpKind::Pipeline(_) => {
                let started = std::time::Instant::now();
                let input_cells = if self.options.timings.is_some() { cells_of(&args) } else { 0 };
                let fi = self.module.functions.iter().position(|g| std::ptr::eq(g, f)).unwrap_or(0);
                let key = crate::pipeline::PipelineId { module: self.run, function: fi as u32, op: id };
                use crate::pipeline::Attempt;
                let remote = match &self.options.remote {
                    Some(r) => r.run(key, f, id, &args),
                    None => Attempt::Declined,
                };
                let distributed = matches!(remote, Attempt::Ran(_));
                let args = if !distributed && args.iter().any(Value::is_remote) {
                    args.into_iter().map(Value::local).collect::<Result<_, _>>().map_err(|m| self.error(f, id, m))?
                } else {
                    args
                };
                let mut compile = Compile::default();
                let spare_bytes = self.spare.bytes();
                let compiled = match (remote, self.options.ship_pipelines, self.options.vectorize) {
                    (Attempt::Ran(done), _, _) => Attempt::Ran(done),
                    (Attempt::Declined, false, true) => self.jit(key, f, id, &args, &mut compile),
                    _ => Attempt::Declined,
                };
                let was_compiled = matches!(compiled, Attempt::Ran(_)) && !distributed;
                let done = match compiled {
                    Attempt::Ran(result) => result,
                    Attempt::Declined if self.options.ship_pipelines => {
                        crate::pipeline::run_shipped(&self.cx, f, id, args)
                    }
                    Attempt::Declined => crate::pipeline::run_on(&self.cx, f, op, args, &self.options.schedule),
                };
                if self.options.timings.is_some() {
                    let t = self.timings.entry((fi, id.index())).or_insert_with(|| PipelineTiming {
                        compiled: was_compiled,
                        compile_seconds: compile.seconds,
                        compiled_ahead: compile.ahead,
                        ..PipelineTiming::new(&f.name, loc, "pipeline")
                    });
                    t.runs += 1;
                    t.distributed_runs += u64::from(distributed);
                    t.run_seconds += started.elapsed().as_secs_f64();
                    t.compiled &= was_compiled;
                    let touched = input_cells + done.as_ref().map_or(0, |r| cells_of(r));
                    t.cells += touched;
                    t.worker_cells += if distributed { touched } else { 0 };
                    t.reused_bytes += (spare_bytes - self.spare.bytes().min(spare_bytes)) as u64;
                }
                let results = done.map_err(|(message, at)| RuntimeError {
                    message: message.to_string(),
                    loc: at.or(loc),
                    stopped: false,
                    calls: Vec::new(),
                })?;
                if let (Some(r), false) = (&self.options.remote, distributed) {
                    r.observe(key, f, id, &results);
                }
                results
            }
            OpKind::Yield | OpKind::Condition | OpKind::Return => {
                return Err(self.error(f, id, Error::Internal("a terminator computed as an op".into())));
            }
        })
    }

    /// Runs pipeline `id` by the JIT engine (made at the first pipeline, or the embedding
    /// program's shared one), or declines. Its own function, not inlined: the executor recurses
    /// through `compute` for every call of a script's function, and this frame's locals would
    /// otherwise weigh on every level (`functions/deep_recursion.daph`).
    #[inline(never)]
    fn jit(
        &mut self,
        key: crate::pipeline::PipelineId,
        f: &Function,
        id: OpId,
        args: &[Value],
        compile: &mut Compile,
    ) -> crate::pipeline::Attempt {
        use crate::pipeline::Attempt;
        if let Jit::NotMade = self.engine {
            self.engine = match &self.options.engine {
                Some(shared) => Jit::Shared(shared.clone()),
                None if let Some(Some(shared)) = self.ahead.as_ref().map(|a| a.engine.wait()) => {
                    Jit::Shared(shared.clone())
                }
                None => match crate::engine::Engine::new(self.options.schedule) {
                    Ok(e) => Jit::Ready(Box::new(e)),
                    Err(_) => Jit::Unavailable,
                },
            };
        }
        let mut locked;
        let engine = match &mut self.engine {
            Jit::Ready(e) => Some(&mut **e),
            Jit::Shared(shared) => match shared.0.lock() {
                Ok(guard) => {
                    locked = guard;
                    Some(&mut *locked)
                }
                // A run that panicked holding it: this one interprets.
                Err(_) => None,
            },
            Jit::NotMade | Jit::Unavailable => None,
        };
        let Some(e) = engine else { return Attempt::Declined };
        if self.options.timings.is_some() {
            compile.ahead = e.has_kernel(key);
        }
        if self.options.timings.is_some()
            && let Some(k) = e.kernel(key, f, id)
        {
            compile.seconds = k.compile_time.as_secs_f64();
        }
        match e.run_reusing(key, f, id, args, &mut self.spare) {
            Attempt::Ran(r) => Attempt::Ran(r.map_err(|m| (m, None))),
            Attempt::Declined => Attempt::Declined,
        }
    }

    /// An op on a remote frame (`on_remote_frame`) that keeps the frame's rows where they are
    /// when it can: picking columns (`F[, "a"]`, `F[, i]`, `F[, [..]]`, `F[, a:b]`) and casts
    /// (`as.matrix(F)`, made on the workers if the distributed runtime makes it there; `to` is
    /// the result's type); else the frame is fetched and the op run here.
    #[inline(never)]
    fn remote_frame_op(&self, kind: &OpKind, to: &Type, args: Vec<Value>) -> Result<Value, Error> {
        if let Some(Value::RemoteFrame(rf)) = args.first()
            && let Some(v) = self.keep_remote_frame(kind, to, rf, &args[1..])?
        {
            return Ok(v);
        }
        let args = args.into_iter().map(Value::local).collect::<Result<Vec<_>, _>>()?;
        match kind {
            OpKind::Builtin(b) => {
                kernels::call(&self.cx, *b, &args)?.pop().ok_or_else(|| Error::Internal(format!("`{b}` made no value")))
            }
            _ => kernels::cast(&args[0], to),
        }
    }

    /// [`Executor::remote_frame_op`] where the rows stay; `None`: the op needs the frame here.
    fn keep_remote_frame(
        &self,
        kind: &OpKind,
        to: &Type,
        rf: &RemoteFrame,
        rest: &[Value],
    ) -> Result<Option<Value>, Error> {
        match (kind, to) {
            (OpKind::Builtin(b @ (Builtin::ExtractCol | Builtin::SliceCol)), _) => {
                // The kernel picks from an empty frame of the same schema: the same columns, or
                // the same error.
                let mut probe = vec![Value::Frame(rf.shape()?)];
                probe.extend_from_slice(rest);
                let Some(Value::Frame(picked)) = kernels::call(&self.cx, *b, &probe)?.pop() else { return Ok(None) };
                let idx =
                    picked.labels().iter().map(|l| rf.labels.iter().position(|m| m == l)).collect::<Option<Vec<_>>>();
                Ok(idx.map(|idx| Value::RemoteFrame(rf.select_cols(&idx))))
            }
            (OpKind::Cast, Type::Frame(_)) => Ok(Some(Value::RemoteFrame(rf.clone()))),
            (OpKind::Cast, Type::Matrix(t)) => {
                let Some(remote) = &self.options.remote else { return Ok(None) };
                let vt = kernels::cast::frame_matrix_type(&rf.schema(), t);
                remote.convert(rf, vt).transpose()
            }
            _ => Ok(None),
        }
    }

    /// `print(value, newline, toStderr)`; `sparse` when the value has the CSR representation.
    ///
    /// The text goes out in pieces of at most about `PRINT_PIECE` bytes. When the bytes leave
    /// the process is the sink's business (`daphne` writes through `console`: line by line to a
    /// terminal, in blocks to a pipe, flushed on every way out); printing to stderr flushes
    /// stdout first, so the two streams keep their order.
    fn print(&mut self, args: &[Value], sparse: bool) -> Result<(), Error> {
        let flag = |v: &Value| truth(v);
        let newline = flag(&args[1])?;
        let to_stderr = flag(&args[2])?;
        if to_stderr {
            self.out.flush().map_err(|e| Error::from(format!("cannot write the output: {e}")))?;
        }
        let sink: &mut dyn Write = if to_stderr { &mut *self.err } else { &mut *self.out };
        let mut failed = None;
        let mut piece = |text: &mut String| {
            if text.len() >= PRINT_PIECE {
                if failed.is_none()
                    && let Err(e) = sink.write_all(text.as_bytes())
                {
                    failed = Some(e);
                }
                text.clear();
            }
        };
        let mut text = String::new();
        match &args[0] {
            Value::Matrix(m) => m.print_rows(&mut text, sparse, &mut piece),
            // The static type decides the representation DAPHNE would have chosen.
            Value::Sparse(m) if sparse => m.print_rows(&mut text, &mut piece),
            Value::Sparse(m) => m.to_dense()?.print_rows(&mut text, false, &mut piece),
            Value::Frame(f) => f.print_rows(&mut text, &mut piece),
            other => other.print(&mut text),
        }
        if newline && matches!(args[0], Value::Scalar(_)) {
            text.push('\n');
        }
        let written = match failed {
            Some(e) => Err(e),
            None => sink.write_all(text.as_bytes()),
        };
        written.map_err(|e| Error::from(format!("cannot write the output: {e}")))
    }
}

/// The file operations: `readMatrix(path, header, sep)`, `readFrame(...)` (typed `ty` by
/// the compiler), `write(X, path)`.
fn file_op(
    op: Builtin,
    args: &[Value],
    ty: &Type,
    floats: crate::io::FloatFormat,
    threads: usize,
) -> Result<Vec<Value>, Error> {
    if op == Builtin::Write {
        let path = match args.get(1) {
            Some(Value::Scalar(Scalar::Str(p))) => p.to_string(),
            _ => return Err(format!("`{op}` needs a file name (a string)").into()),
        };
        return crate::io::write(&args[0], &path, floats).map(|()| vec![]);
    }
    let (path, header, delimiter) = read_args(op, args)?;
    Ok(vec![crate::io::read(&path, op == Builtin::ReadFrame, ty, header, delimiter, threads)?])
}

/// A read's arguments `(path, header, sep)`.
fn read_args(op: Builtin, args: &[Value]) -> Result<(String, bool, u8), Error> {
    let path = match args.first() {
        Some(Value::Scalar(Scalar::Str(p))) => p.to_string(),
        _ => return Err(format!("`{op}` needs a file name (a string)").into()),
    };
    let header = match args.get(1) {
        None => false,
        Some(Value::Scalar(s)) => s.get::<f64>().is_some_and(|h| h != 0.0),
        Some(_) => return Err(format!("`{op}`: header must be a boolean").into()),
    };
    let delimiter = match args.get(2) {
        None => b',',
        Some(Value::Scalar(Scalar::Str(d))) => crate::io::delimiter(d)?,
        Some(_) => return Err(format!("`{op}`: sep must be a string").into()),
    };
    Ok((path, header, delimiter))
}

/// Whether an op only passes values on (calls, control flow, pipelines, which may run where
/// their inputs are) or reads their shape: such an op needs neither dense nor local operands.
fn passes_on(kind: &OpKind) -> bool {
    matches!(
        kind,
        OpKind::Call(_)
            | OpKind::If
            | OpKind::While
            | OpKind::For
            | OpKind::Yield
            | OpKind::Condition
            | OpKind::Return
            | OpKind::Pipeline(_)
            | OpKind::Builtin(Builtin::Nrow | Builtin::Ncol | Builtin::Ncell)
    )
}

/// Whether an op needs its sparse operands as dense matrices: all but those that pass values
/// on and those that print or describe them.
fn densifies(kind: &OpKind) -> bool {
    !passes_on(kind) && !matches!(kind, OpKind::Builtin(Builtin::Print | Builtin::TypeOf))
}

/// Whether an op is one that may keep a remote frame's rows where they are (its first operand,
/// the others here): `Executor::remote_frame_op` runs it.
fn on_remote_frame(kind: &OpKind, args: &[Value]) -> bool {
    matches!(kind, OpKind::Builtin(Builtin::ExtractCol | Builtin::SliceCol) | OpKind::Cast)
        && matches!(args.first(), Some(Value::RemoteFrame(_)))
        && !args[1..].iter().any(Value::is_remote)
}

/// Whether an op needs the cells of remote operands (fetched here first).
fn fetches(kind: &OpKind) -> bool {
    !passes_on(kind)
}

/// Whether a static type says the value has the sparse (CSR) representation.
fn is_sparse(t: &daphne_ir::Type) -> bool {
    matches!(t, daphne_ir::Type::Matrix(m) if m.repr == Some(daphne_ir::Repr::Sparse))
}

/// A condition's truth: a non-zero number (a 1x1 matrix counts as its cell).
fn truth(v: &Value) -> Result<bool, Error> {
    match v {
        Value::Scalar(Scalar::Str(_)) => Err("a condition must be a number, not a string".into()),
        Value::Scalar(s) => Ok(s.get::<bool>().unwrap_or(false)),
        Value::Matrix(m) if m.rows() == 1 && m.cols() == 1 => truth(&Value::Scalar(m.cell(0, 0))),
        Value::Matrix(m) => {
            Err(format!("a condition must be a single value, not a {}x{} matrix", m.rows(), m.cols()).into())
        }
        Value::Sparse(m) => truth(&Value::Matrix(m.to_dense()?)),
        Value::Remote(r) => truth(&r.fetch()?),
        Value::Frame(_) | Value::RemoteFrame(_) | Value::List(..) => {
            Err("a condition must be a single value, not a frame".into())
        }
    }
}
