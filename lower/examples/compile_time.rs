//! How long compiling a script takes, and how much of it is the verifier:
//! `cargo run --release -p daphne-lower --example compile_time -- script.daph [reps]`.
//!
//! Parses, lowers, verifies and runs the standard passes (without constant folding, which
//! needs the runtime), `reps` times, and prints the fastest run, how often the pass manager
//! ran the verifier in it (after every pass that changed the module) and what one verifier
//! run on the final module costs.

use std::time::{Duration, Instant};

use daphne_frontend::SourceFile;
use daphne_lower::{Program, ScriptArgs, lower};
use daphne_passes::pass::{SIMPLIFY, VECTORIZE};
use daphne_passes::{Options, PassManager};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: compile_time script.daph [reps]");
    let reps: usize = args.next().map_or(20, |r| r.parse().expect("reps is a number"));
    let text = std::fs::read_to_string(&path).expect("the script is readable");
    let passes = PassManager::with_options(Options::default());
    let (mut best, mut verify, mut runs, mut ops) = (Duration::MAX, Duration::MAX, 0, 0);
    for _ in 0..reps {
        let start = Instant::now();
        let parsed = daphne_frontend::parse(&text);
        assert!(parsed.diagnostics.is_empty(), "the script parses");
        let program = Program::single(SourceFile::new(path.clone(), text.clone()), parsed.script);
        let mut module = lower(&program, &ScriptArgs::new()).expect("the script lowers");
        daphne_ir::verify::module(&module).expect("the lowered module verifies");
        let mut changed = 0;
        passes
            .run(&mut module, &mut |name, _| changed += usize::from(name != SIMPLIFY && name != VECTORIZE))
            .expect("the passes keep the module valid");
        best = best.min(start.elapsed());
        runs = changed;
        ops = module.functions.iter().map(|f| f.ops.len()).sum();
        let once = Instant::now();
        daphne_ir::verify::module(&module).expect("the result verifies");
        verify = verify.min(once.elapsed());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{path}: {ops} ops; compile {:.3} ms (best of {reps}), of which {runs} verifier runs after passes, \
         one run {:.3} ms",
        ms(best),
        ms(verify)
    );
}
