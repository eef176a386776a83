//! Random pipelines through the JIT and through the reference interpreter give the same bytes:
//! scripts built from random elementwise chains, row aggregations broadcast back over their
//! rows, and full or column reductions over matrices of random shapes
//! (0, 1 and many rows, several blocks), of doubles, floats or `si64` (a third of the cases
//! each), compiled once, run with the vectorized engine on two threads and with `--no-vec`,
//! outputs compared.
//!
//! One difference is allowed: the sign of a NaN. When two NaNs meet in an addition, x86 keeps
//! the one in the first operand register, and which operand that is depends on the code
//! generator (LLVM for the interpreter, Cranelift for kernels), so `-nan` and `nan` may swap.
//! Every other bit agrees.

use daphne_runtime::exec::Options;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
}

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
    match r.next() % 17 {
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
        timings: None,
    };
    let ok = daphne::execute_with(module, std::slice::from_ref(file), options, &mut out, &mut err).is_ok();
    (unsigned_nans(String::from_utf8_lossy(&out).into_owned()), ok)
}

#[test]
fn random_pipelines_agree_with_the_interpreter() {
    let cases: u64 = std::env::var("DAPHNE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(150);
    let mut r = Rng(0x9E37_79B9_7F4A_7C15 ^ cases);
    let (mut compiled, mut compiled_f32, mut compiled_si64, mut row_kernels) = (0, 0, 0, 0);
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
        let module = daphne::compile(&file, &daphne_passes::ScriptArgs::new(), false, &daphne::UserConfig::default())
            .unwrap_or_else(|e| panic!("case {case} does not compile: {}\n{script}", e.message));
        let mut compiler = daphne_codegen::KernelCompiler::new().expect("a JIT for this machine");
        let f = &module.functions[module.entry.0 as usize];
        for &id in &f.body.ops {
            if matches!(f.ops[id].kind, daphne_ir::OpKind::Pipeline(_))
                && let Some(k) = compiler.compile(f, id)
            {
                compiled += 1;
                row_kernels += u64::from(k.row_kernel);
            }
            // Pipelines inside the loop of an f32 case.
            for region in &f.ops[id].regions {
                for &inner in &region.ops {
                    if !matches!(f.ops[inner].kind, daphne_ir::OpKind::Pipeline(_)) {
                        continue;
                    }
                    let kernel = compiler.compile(f, inner);
                    row_kernels += u64::from(kernel.as_ref().is_some_and(|k| k.row_kernel));
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
}
