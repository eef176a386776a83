//! The pass pipeline: a `Pass` rewrites a module in place, and the `PassManager` runs the
//! passes in the order of one commented list until none changes anything (with a cap), checking
//! the IR with the verifier after every pass in debug builds.

use daphne_ir::Module;

/// An IR-to-IR rewrite. Passes do no I/O and keep the module verifiable.
pub trait Pass {
    /// The pass's name in verb-object form, as `--dump-after` takes it.
    fn name(&self) -> &'static str;
    /// Rewrites `module`; whether anything changed.
    fn run(&self, module: &mut Module) -> bool;
}

/// The most rounds of the whole list the fixed-point driver runs.
pub const MAX_ROUNDS: usize = 8;

pub struct PassManager {
    passes: Vec<Box<dyn Pass>>,
}

impl PassManager {
    /// The passes `daphne` runs, in order.
    pub fn standard() -> PassManager {
        PassManager {
            passes: vec![
                // Unused pure values (often left by lowering: casts, constants, the unused
                // results of multi-result ops) go first, so later passes see less.
                Box::new(crate::eliminate_dead_code::EliminateDeadCode),
                // Repeated computations (`X * X` twice, the same cast of a loop variable) become
                // one, so fusion sees each input once.
                Box::new(crate::eliminate_common_subexpressions::EliminateCommonSubexpressions),
            ],
        }
    }

    /// The names of the passes, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.passes.iter().map(|p| p.name()).collect()
    }

    /// Runs the passes to a fixed point; `after` sees the module after every pass that changed
    /// it. An `Err` is an internal compiler error: a pass broke the IR.
    pub fn run(&self, module: &mut Module, after: &mut dyn FnMut(&str, &Module)) -> Result<(), String> {
        for _ in 0..MAX_ROUNDS {
            let mut changed = false;
            for pass in &self.passes {
                if pass.run(module) {
                    changed = true;
                    if cfg!(debug_assertions) {
                        daphne_ir::verify::module(module).map_err(|e| format!("after `{}`: {e}", pass.name()))?;
                    }
                    after(pass.name(), module);
                }
            }
            if !changed {
                break;
            }
        }
        Ok(())
    }
}
