//! Random pipelines through the JIT and through the reference interpreter give the same bytes:
//! scripts built from random elementwise chains, row aggregations broadcast back over their
//! rows, column aggregations broadcast back over the columns (row vectors), and full or column reductions over matrices of random shapes
//! (0, 1 and many rows, several blocks), of doubles, floats or `si64` (a third of the cases
//! each), compiled once, run with the vectorized engine on two threads and with `--no-vec`,
//! outputs compared.
//!
//! One difference is allowed: the sign of a NaN. When two NaNs meet in an addition, x86 keeps
//! the one in the first operand register, and which operand that is depends on the code
//! generator (LLVM for the interpreter, Cranelift for kernels), so `-nan` and `nan` may swap.
//! Every other bit agrees.

use daphne_runtime::exec::Options;

mod common;

use common::Rng;

/// The cell type of a case.
#[derive(Clone, Copy, PartialEq)]
enum Cells {
    F64,
    F32,
    Si64,
}

/// A random elementwise expression over `X`, `Y` (same shape) and scalar `s`, `depth` deep,
/// with constants of the cell type (`f32`: integers and `as.f32(..)` keep the ops in f32).
fn expr(r: &mut Rng, depth: u32, cells: Cells) -> String {
    if depth == 0 {
        let half = match cells {
            Cells::F64 => "0.5",
            Cells::F32 => "as.f32(0.5)",
            Cells::Si64 => "7",
        };
        return r.pick(&["X", "Y", "X", "s", "2", half, "-3", "(X * 0)"]).to_string();
    }
    let a = expr(r, depth - 1, cells);
    let b = expr(r, depth - 1, cells);
    match r.next() % 19 {
        0 => format!("({a} + {b})"),
        1 => format!("({a} - {b})"),
        2 => format!("({a} * {b})"),
        3 => format!("({a} / {b})"),
        4 => format!("({a} ^ 2)"),
        5 => format!("({a} ^ {b})"),
        6 => format!("min({a}, {b})"),
        7 => format!("max({a}, {b})"),
        8 => format!("({a} < {b})"),
        9 => format!("({a} == {b})"),
        10 => format!("abs({a})"),
        11 => format!("sqrt({a})"),
        12 => format!("exp({a})"),
        // Row aggregations broadcast back over the row (row kernels).
        13 => format!("({a} - aggMax({b}, 0))"),
        14 => format!("({a} * sum({b}, 0))"),
        15 => format!("({a} + aggMin({b} * 2, 0))"),
        // Column aggregations broadcast back over the rows (row vectors into row kernels).
        16 => format!("({a} - aggMax({b}, 1))"),
        17 => format!("({a} * sum({b}, 1))"),
        _ => format!("-{a}"),
    }
}

/// The output with every NaN's sign dropped (see the module doc).
fn unsigned_nans(text: String) -> String {
    text.replace("-nan", "nan")
}

fn run(module: &daphne_ir::Module, file: &daphne_frontend::SourceFile, vectorize: bool) -> (String, bool) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let options = Options {
        ship_pipelines: false,
        vectorize,
        schedule: daphne_runtime::schedule::Schedule::on(2),
        ..Options::default()
    };
    let ok = daphne::execute_with(module, std::slice::from_ref(file), options, &mut out, &mut err).is_ok();
    (unsigned_nans(String::from_utf8_lossy(&out).into_owned()), ok)
}

#[test]
fn random_pipelines_agree_with_the_interpreter() {
    let cases: u64 = std::env::var("DAPHNE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(150);
    let mut r = Rng(0x9E37_79B9_7F4A_7C15 ^ cases);
    let (mut compiled, mut compiled_f32, mut compiled_si64, mut row_kernels, mut row_vectors) = (0, 0, 0, 0, 0);
    for case in 0..cases {
        let rows = *r.pick(&[0u64, 1, 2, 7, 64, 300, 700]);
        let cols = *r.pick(&[1u64, 3, 8, 13]);
        let depth = 1 + (r.next() % 4) as u32;
        let cells = [Cells::F32, Cells::Si64, Cells::F64][(case % 3) as usize];
        let e = expr(&mut r, depth, cells);
        let sink = r.pick(&["sum", "aggMin", "aggMax", "print", "columns"]).to_string();
        let out = match sink.as_str() {
            "print" => "print(Z);".to_owned(),
            "columns" => "print(sum(Z, 1));\nprint(aggMax(Z, 1));".to_owned(),
            _ => format!("print({sink}(Z));\nprint(sum(Z * Z));"),
        };
        let script = if cells == Cells::Si64 {
            // Integer matrices from `rand` with integer bounds; the loop keeps the pipelines
            // apart from the generators, as for f32.
            format!(
                "X = rand({rows}, {cols}, -20, 20, 1, {case});\nY = rand({rows}, {cols}, 0, 5, 1, {});\n\
                 s = as.si64(3);\nfor (i in 1:1) {{\nZ = {e};\n{out}\n}}\n",
                case + 1000
            )
        } else if cells == Cells::F32 {
            // The loop keeps the casts to f32 out of the pipelines (a kernel has one cell type).
            format!(
                "X = as.matrix<f32>(rand({rows}, {cols}, -2.0, 2.0, 1.0, {case}));\n\
                 Y = as.matrix<f32>(rand({rows}, {cols}, 0.0, 3.0, 1.0, {}));\n\
                 s = as.f32(as.scalar(rand(1, 1, 1.0, 2.0, 1.0, 5)));\nfor (i in 1:1) {{\nZ = {e};\n{out}\n}}\n",
                case + 1000
            )
        } else {
            format!(
                "X = rand({rows}, {cols}, -2.0, 2.0, 1.0, {case});\nY = rand({rows}, {cols}, 0.0, 3.0, 1.0, {});\n\
                 s = as.scalar(rand(1, 1, 1.0, 2.0, 1.0, 5));\nZ = {e};\n{out}\n",
                case + 1000
            )
        };
        let file = daphne_frontend::SourceFile::new(format!("case{case}.daph"), script.clone());
        let module = daphne::compile(&file, &daphne_lower::ScriptArgs::new(), false, &daphne::UserConfig::default())
            .unwrap_or_else(|e| panic!("case {case} does not compile: {}\n{script}", e.message));
        let mut compiler = daphne_codegen::KernelCompiler::new().expect("a JIT for this machine");
        let f = &module.functions[module.entry.0 as usize];
        for &id in &f.body.ops {
            if matches!(f.ops[id].kind, daphne_ir::OpKind::Pipeline(_))
                && let Some(k) = compiler.compile(f, id)
            {
                compiled += 1;
                row_kernels += u64::from(k.row_kernel);
                row_vectors += u64::from(k.row_vector_inputs.contains(&true));
            }
            // Pipelines inside the loop of an f32 case.
            for region in &f.ops[id].regions {
                for &inner in &region.ops {
                    if !matches!(f.ops[inner].kind, daphne_ir::OpKind::Pipeline(_)) {
                        continue;
                    }
                    let kernel = compiler.compile(f, inner);
                    row_kernels += u64::from(kernel.as_ref().is_some_and(|k| k.row_kernel));
                    row_vectors += u64::from(kernel.as_ref().is_some_and(|k| k.row_vector_inputs.contains(&true)));
                    let elem = kernel.map(|k| k.elem);
                    compiled += u64::from(elem.is_some());
                    match elem {
                        Some(daphne_ir::ValueType::F32) => compiled_f32 += 1,
                        Some(daphne_ir::ValueType::Si64) => compiled_si64 += 1,
                        _ => {}
                    }
                }
            }
        }
        let (jit, interpreted) = (run(&module, &file, true), run(&module, &file, false));
        assert_eq!(jit, interpreted, "case {case} differs:\n{script}");
    }
    assert!(compiled >= cases / 2, "only {compiled} of {cases} cases had a compiled pipeline");
    assert!(compiled_f32 >= cases / 6, "only {compiled_f32} f32 pipelines of {cases} cases compiled");
    assert!(compiled_si64 >= cases / 12, "only {compiled_si64} si64 pipelines of {cases} cases compiled");
    assert!(row_kernels >= cases / 30, "only {row_kernels} row kernels in {cases} cases");
    assert!(row_vectors >= cases / 30, "only {row_vectors} kernels with row vectors in {cases} cases");
}

/// The bits of a pipeline result (NaNs without their sign, see the module doc).
fn bits(v: &daphne_runtime::value::Value) -> Vec<u64> {
    use daphne_runtime::matrix::Matrix;
    use daphne_runtime::value::{Scalar, Value};
    let f64_bits = |x: f64| if x.is_nan() { f64::NAN.to_bits() } else { x.to_bits() };
    let f32_bits = |x: f32| u64::from(if x.is_nan() { f32::NAN.to_bits() } else { x.to_bits() });
    match v {
        Value::Scalar(Scalar::F64(x)) => vec![f64_bits(*x)],
        Value::Scalar(Scalar::F32(x)) => vec![f32_bits(*x)],
        Value::Scalar(Scalar::Si64(x)) => vec![*x as u64],
        Value::Matrix(Matrix::F64(m)) => {
            [m.rows() as u64, m.cols() as u64].into_iter().chain(m.cells().iter().map(|&x| f64_bits(x))).collect()
        }
        Value::Matrix(Matrix::F32(m)) => {
            [m.rows() as u64, m.cols() as u64].into_iter().chain(m.cells().iter().map(|&x| f32_bits(x))).collect()
        }
        Value::Matrix(Matrix::Si64(m)) => {
            [m.rows() as u64, m.cols() as u64].into_iter().chain(m.cells().iter().map(|&x| x as u64)).collect()
        }
        other => panic!("a pipeline result of another kind: {other:?}"),
    }
}

/// Inputs for pipeline `id`: every row-split matrix `rows` high (`cols` wide where the type
/// does not say), broadcast row vectors `cols` wide, scalars; cells random in the cell type,
/// a few of them zero (so divisions and logarithms meet their edge cases).
fn inputs_for(
    r: &mut Rng,
    f: &daphne_ir::Function,
    id: daphne_ir::OpId,
    rows: usize,
    cols: usize,
) -> Vec<daphne_runtime::value::Value> {
    use daphne_ir::{Split, Type, ValueType as V};
    use daphne_runtime::matrix::{DenseMatrix, Matrix};
    use daphne_runtime::value::{Scalar, Value};
    let op = &f.ops[id];
    let daphne_ir::OpKind::Pipeline(spec) = &op.kind else { unreachable!() };
    let cell = |r: &mut Rng| {
        let x = (r.next() % 4001) as f64 / 1000.0 - 2.0;
        if r.next().is_multiple_of(16) { 0.0 } else { x }
    };
    op.operands
        .iter()
        .zip(&spec.splits)
        .map(|(&v, split)| match (f.ty(v), split) {
            (Type::Matrix(m), _) => {
                let (n, w) = match split {
                    Split::Rows => (m.rows.map_or(rows, |n| n as usize), m.cols.map_or(cols, |c| c as usize)),
                    Split::Broadcast => (1, m.cols.map_or(cols, |c| c as usize)),
                };
                let xs: Vec<f64> = (0..n * w).map(|_| cell(r)).collect();
                Value::Matrix(match m.vt {
                    Some(V::F32) => Matrix::F32(DenseMatrix::from_vec(n, w, xs.iter().map(|&x| x as f32).collect())),
                    Some(V::Si64) => {
                        Matrix::Si64(DenseMatrix::from_vec(n, w, xs.iter().map(|&x| (x * 10.0) as i64).collect()))
                    }
                    _ => Matrix::F64(DenseMatrix::from_vec(n, w, xs)),
                })
            }
            (Type::Scalar(V::F32), _) => Value::Scalar(Scalar::F32(cell(r) as f32)),
            (Type::Scalar(V::Si64), _) => Value::Scalar(Scalar::Si64((cell(r) * 10.0) as i64)),
            _ => Value::Scalar(Scalar::F64(cell(r))),
        })
        .collect()
}

/// The kernels against the interpreter on the same inputs, result by result and bit by bit
/// (printing rounds to six digits, which would hide a reduction in another order): the
/// pipelines of random scripts as above, on inputs of many rows (several blocks, so the
/// blocks' partials are folded along the tree) run on two threads.
#[test]
fn random_pipelines_agree_with_the_interpreter_to_the_bit() {
    let cases: u64 = std::env::var("DAPHNE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(150);
    let mut r = Rng(0x5851_F42D_4C95_7F2D ^ cases);
    let (mut checked, mut reused) = (0, 0);
    for case in 0..cases {
        let rows = *r.pick(&[0usize, 1, 9, 300, 5000, 20000]);
        let cols = *r.pick(&[1usize, 3, 8, 13]);
        let cells = [Cells::F32, Cells::Si64, Cells::F64][(case % 3) as usize];
        let depth = 1 + (r.next() % 4) as u32;
        let e = expr(&mut r, depth, cells);
        // Half the cases in a function called on a small constant matrix (its pipelines know
        // no shapes), half at the top on matrices of the case's shape (shapes known, so
        // column aggregations broadcast back as row vectors fuse).
        let (n, m) = if case % 2 == 0 { (2, 2) } else { (rows, cols) };
        let (x, s) = match cells {
            Cells::F64 => (format!("rand({n}, {m}, 0.0, 1.0, 1.0, 1)"), "0.5"),
            Cells::F32 => (format!("as.matrix<f32>(rand({n}, {m}, 0.0, 1.0, 1.0, 1))"), "as.f32(0.5)"),
            Cells::Si64 => (format!("rand({n}, {m}, 0, 5, 1, 1)"), "as.si64(3)"),
        };
        let body = format!("Z = {e};\nprint(sum(Z));\nprint(aggMax(Z));\nprint(sum(Z, 1));\nprint(Z);\n");
        let script = if case % 2 == 0 {
            format!("def f(X, Y, s) {{\n{body}}}\nX = {x};\nf(X, X + 1, {s});\n")
        } else {
            format!("X = {x};\nY = X + 1;\ns = {s};\nfor (i in 1:1) {{\n{body}}}\n")
        };
        let file = daphne_frontend::SourceFile::new(format!("bits{case}.daph"), script.clone());
        let module = daphne::compile(&file, &daphne_lower::ScriptArgs::new(), false, &daphne::UserConfig::default())
            .unwrap_or_else(|e| panic!("case {case} does not compile: {}\n{script}", e.message));
        // An engine per module: it knows kernels by the function's address, which a later
        // module may reuse.
        let mut engine = daphne_runtime::engine::Engine::new(daphne_runtime::schedule::Schedule::on(2)).expect("a JIT");
        let number = daphne_runtime::pipeline::PipelineId::fresh();
        for (fi, f) in module.functions.iter().enumerate() {
            // Top-level pipelines and those in a loop's body.
            let ids = f.body.ops.iter().flat_map(|&id| {
                std::iter::once(id).chain(f.ops[id].regions.iter().flat_map(|r| r.ops.iter().copied()))
            });
            for id in ids.collect::<Vec<_>>() {
                let key = daphne_runtime::pipeline::PipelineId { module: number, function: fi as u32, op: id };
                if !matches!(f.ops[id].kind, daphne_ir::OpKind::Pipeline(_)) || engine.kernel(key, f, id).is_none() {
                    continue;
                }
                let inputs = inputs_for(&mut r, f, id, rows, cols);
                let daphne_runtime::pipeline::Attempt::Ran(jit) = engine.run(key, f, id, &inputs) else { continue };
                let jit = jit.unwrap_or_else(|e| panic!("case {case}: the kernel failed: {e}\n{script}"));
                let interpreted = daphne_runtime::pipeline::run_on(
                    &daphne_runtime::kernels::Context::new(2),
                    f,
                    &f.ops[id],
                    inputs.clone(),
                    &daphne_runtime::schedule::Schedule::on(2),
                )
                .unwrap_or_else(|e| panic!("case {case}: the interpreter failed: {}\n{script}", e.0));
                assert_eq!(jit.len(), interpreted.len());
                for (i, (a, b)) in jit.iter().zip(&interpreted).enumerate() {
                    assert!(
                        bits(a) == bits(b),
                        "case {case}, {rows}x{cols}: output {i} differs: {a:?} vs {b:?}\n{script}"
                    );
                }
                reused += worker_run_agrees(&mut engine, key, f, id, &inputs, case);
                checked += 1;
            }
        }
    }
    assert!(checked >= cases / 2, "only {checked} pipelines of {cases} cases ran as kernels");
    eprintln!("{reused} outputs written into kept buffers");
    assert!(reused as u64 >= cases / 20, "only {reused} outputs written into kept buffers in {cases} cases");
}

/// A worker's run of pipeline `id` (`Engine::run_groups`: the blocks of the whole, folds per
/// group of 1, 2 or 3 workers' partition, `rows` outputs written into kept buffers full of
/// other numbers) against the interpreter on each group's rows, bit by bit; how many outputs
/// were written into kept buffers.
fn worker_run_agrees(
    engine: &mut daphne_runtime::engine::Engine,
    key: daphne_runtime::pipeline::PipelineId,
    f: &daphne_ir::Function,
    id: daphne_ir::OpId,
    inputs: &[daphne_runtime::value::Value],
    case: u64,
) -> usize {
    use daphne_ir::{Combine, OpKind, Split};
    use daphne_runtime::matrix::{DenseMatrix, Matrix};
    use daphne_runtime::value::Value;
    let op = &f.ops[id];
    let OpKind::Pipeline(spec) = &op.kind else { unreachable!() };
    let n = inputs
        .iter()
        .zip(&spec.splits)
        .find_map(|(v, s)| match (s, v) {
            (Split::Rows, Value::Matrix(m)) => Some(m.rows()),
            _ => None,
        })
        .unwrap_or(0);
    let b = daphne_ir::pipeline::block_rows(n);
    let (group_rows, _) = daphne_ir::pipeline::partition(n, 1 + (case % 3) as usize);
    let (cx, schedule) = (daphne_runtime::kernels::Context::new(2), daphne_runtime::schedule::Schedule::on(2));
    // Per group, the interpreter on its rows.
    let groups: Vec<Vec<Value>> = (0..n.div_ceil(group_rows).max(1))
        .map(|g| {
            let (lo, hi) = ((g * group_rows).min(n), ((g + 1) * group_rows).min(n));
            let mine = inputs
                .iter()
                .zip(&spec.splits)
                .map(|(v, s)| match (s, v) {
                    (Split::Rows, Value::Matrix(m)) => Value::Matrix(m.row_range(lo, hi)),
                    _ => v.clone(),
                })
                .collect();
            daphne_runtime::pipeline::run_blocks(&cx, f, op, mine, &schedule, Some(b))
                .unwrap_or_else(|e| panic!("case {case}: the interpreter failed on a group: {}", e.0))
        })
        .collect();
    // Kept buffers of every `rows` output's size, holding other numbers.
    let mut spare = daphne_runtime::spare::Spare::default();
    for (k, c) in spec.combines.iter().enumerate() {
        if *c != Combine::Rows {
            continue;
        }
        let whole = Matrix::concat(
            &groups
                .iter()
                .map(|g| match &g[k] {
                    Value::Matrix(m) => m.clone(),
                    other => panic!("a rows output {other:?}"),
                })
                .collect::<Vec<_>>(),
            true,
        )
        .expect("joins");
        let (rows, cols) = (whole.rows(), whole.cols());
        let garbage = match whole {
            Matrix::F64(_) => Matrix::F64(DenseMatrix::from_vec(rows, cols, vec![12345.678; rows * cols])),
            Matrix::F32(_) => Matrix::F32(DenseMatrix::from_vec(rows, cols, vec![12345.5; rows * cols])),
            Matrix::Si64(_) => Matrix::Si64(DenseMatrix::from_vec(rows, cols, vec![0x5A5A_5A5A; rows * cols])),
            other => panic!("a rows output of {:?}", other.value_type()),
        };
        spare.give(Value::Matrix(garbage));
    }
    let kept = spare.len();
    let daphne_runtime::pipeline::Attempt::Ran(ran) =
        engine.run_groups(key, f, id, inputs, b, group_rows / b, &mut spare)
    else {
        // A cell the kernel leaves to the interpreter.
        return 0;
    };
    let ran = ran.unwrap_or_else(|e| panic!("case {case}: the kernel failed on groups: {e}"));
    assert_eq!(ran.len(), spec.combines.len());
    for (k, (c, values)) in spec.combines.iter().zip(&ran).enumerate() {
        if *c == Combine::Rows {
            let parts: Vec<Matrix> = groups
                .iter()
                .map(|g| match &g[k] {
                    Value::Matrix(m) => m.clone(),
                    _ => unreachable!(),
                })
                .collect();
            let whole = Value::Matrix(Matrix::concat(&parts, true).expect("joins"));
            assert_eq!(values.len(), 1, "case {case}: output {k} in pieces");
            assert!(
                bits(&values[0]) == bits(&whole),
                "case {case}, {n} rows in groups of {group_rows}: output {k} differs"
            );
        } else {
            assert_eq!(values.len(), groups.len(), "case {case}: output {k} per group");
            for (g, (a, e)) in values.iter().zip(&groups).enumerate() {
                assert!(bits(a) == bits(&e[k]), "case {case}: output {k} of group {g} differs: {a:?} vs {:?}", e[k]);
            }
        }
    }
    kept - spare.len()
}
