//! The pass pipeline: a `Pass` rewrites a module in place, and the `PassManager` runs the
//! passes in phases, each phase's passes in the order of one commented list until none changes
//! anything (with a cap), checking the IR with the verifier after every pass that changed it,
//! in every build (the verifier is linear in the module).

use daphne_ir::Module;

/// An IR-to-IR rewrite. Passes do no I/O and keep the module verifiable.
pub trait Pass {
    /// The pass's name in verb-object form, as `--dump-after` takes it.
    fn name(&self) -> &'static str;
    /// Rewrites `module`; whether anything changed.
    fn run(&self, module: &mut Module) -> bool;
}

/// A pass broke the IR: always a bug of the compiler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("after `{pass}`: {error}")]
pub struct PassError {
    /// The pass after which the module no longer verified.
    pub pass: &'static str,
    pub error: Box<daphne_ir::verify::VerifyError>,
}

/// The most rounds of a phase's list the fixed-point driver runs.
pub const MAX_ROUNDS: usize = 8;

/// What the standard pass list includes.
#[derive(Clone)]
pub struct Options {
    /// Fuse vectorizable ops into pipelines (`daphne --no-fuse` turns it off).
    pub fuse: bool,
    /// Fold constants, computing them with this (the runtime's kernels; the driver supplies
    /// it, as passes cannot depend on the runtime).
    pub evaluator: Option<std::rc::Rc<dyn daphne_ir::eval::Evaluate>>,
    /// Compile for a distributed run (`FusePipelines::distributed`).
    pub distributed: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { fuse: true, evaluator: None, distributed: false }
    }
}

/// Passes run together to a fixed point; the observer sees the module after each phase under
/// the phase's name (DAPHNE's `--explain` stages map onto phases).
struct Phase {
    name: &'static str,
    passes: Vec<Box<dyn Pass>>,
}

pub struct PassManager {
    phases: Vec<Phase>,
}

/// The name of the phase that cleans up the lowered IR (DAPHNE's `parsing_simplified`).
pub const SIMPLIFY: &str = "simplify";
/// The name of the phase that fuses pipelines (DAPHNE's `vectorized`).
pub const VECTORIZE: &str = "vectorize";

impl PassManager {
    /// The passes `daphne` runs, in order.
    pub fn standard() -> PassManager {
        PassManager::with_options(Options::default())
    }

    /// No passes at all: the IR runs as lowered (`daphne --no-optimize`).
    pub fn none() -> PassManager {
        PassManager { phases: Vec::new() }
    }

    /// The standard list, with the parts `options` turns off left out.
    pub fn with_options(options: Options) -> PassManager {
        let evaluator = options.evaluator.clone();
        let simplify = || -> Vec<Box<dyn Pass>> {
            let mut passes: Vec<Box<dyn Pass>> = Vec::new();
            if let Some(eval) = &evaluator {
                // Scalar computations on constants (`2 * 3`, `nrow(X)` of a known shape) are
                // done now, so fusion and codegen see constants.
                passes.push(Box::new(crate::fold_constants::FoldConstants { eval: eval.clone() }));
            }
            passes.extend::<[Box<dyn Pass>; 2]>([
                // Unused pure values (often left by lowering: casts, constants, the unused
                // results of multi-result ops) go first, so later passes see less.
                Box::new(crate::eliminate_dead_code::EliminateDeadCode),
                // Repeated computations (`X * X` twice, the same cast of a loop variable) become
                // one, so fusion sees each input once.
                Box::new(crate::eliminate_common_subexpressions::EliminateCommonSubexpressions),
            ]);
            passes
        };
        let mut phases = vec![Phase { name: SIMPLIFY, passes: simplify() }];
        if options.fuse {
            let mut passes: Vec<Box<dyn Pass>> = vec![
                // `t(A) @ B` is `gemv(A, B)`: no transpose materialized, one triangle for
                // `t(X) @ X`; fusion then sees the product's real operands.
                Box::new(crate::rewrite_transposed_products::RewriteTransposedProducts),
                // Column means and deviations become the column sums they are made of, which
                // fuse (and run where the rows are).
                Box::new(crate::expand_column_moments::ExpandColumnMoments),
                // Their shared sums (`mean(X, 1)` and `stddev(X, 1)` both sum X) become one.
                Box::new(crate::eliminate_common_subexpressions::EliminateCommonSubexpressions),
                // The transposes that fed them only, before fusion takes them in.
                Box::new(crate::eliminate_dead_code::EliminateDeadCode),
                // Small functions that do fusable work are inlined first, so their ops can
                // fuse with the caller's.
                Box::new(crate::inline_functions::InlineFunctions),
            ];
            // The shapes the inlined bodies and computed sizes now tell (`nrow(C)` of an
            // inlined argument folds, then `seq(0, k - 1)` has k rows), so fusion can prove
            // its broadcasts and products.
            passes.push(Box::new(crate::refine_shapes::RefineShapes));
            if let Some(eval) = &evaluator {
                passes.push(Box::new(crate::fold_constants::FoldConstants { eval: eval.clone() }));
                passes.push(Box::new(crate::refine_shapes::RefineShapes));
            }
            passes.extend::<[Box<dyn Pass>; 3]>([
                // Vectorizable ops on the same rows become pipelines: one pass over the data,
                // no intermediates. After CSE, so a repeated subexpression is one value.
                Box::new(crate::fuse_pipelines::FusePipelines { distributed: options.distributed }),
                // Independent pipelines over the same rows (`sum(X)`, `aggMax(X)`) become one,
                // so X is read once for both.
                Box::new(crate::fuse_sibling_pipelines::FuseSiblingPipelines),
                // A value a pipeline takes several times (`X + X * X`) is read once.
                Box::new(crate::dedup_pipeline_inputs::DedupPipelineInputs),
            ]);
            // Fusion leaves constants behind (copied into bodies) and may repeat them.
            passes.extend(simplify());
            phases.push(Phase { name: VECTORIZE, passes });
        }
        PassManager { phases }
    }

    /// The pass named `name` (as `--dump-after` and the IR file tests name it).
    pub fn pass(&self, name: &str) -> Option<&dyn Pass> {
        self.phases.iter().flat_map(|phase| &phase.passes).find(|p| p.name() == name).map(|p| p.as_ref())
    }

    /// The names of the passes and phases, in order (a pass in several phases once).
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        for phase in &self.phases {
            for p in &phase.passes {
                if !names.contains(&p.name()) {
                    names.push(p.name());
                }
            }
            names.push(phase.name);
        }
        names
    }

    /// Runs the phases in order, each to a fixed point; `after` sees the module after every
    /// pass that changed it, and after every phase. An `Err` is an internal compiler error: a
    /// pass broke the IR (the verifier runs after every pass that changed the module).
    pub fn run(&self, module: &mut Module, after: &mut dyn FnMut(&str, &Module)) -> Result<(), PassError> {
        for phase in &self.phases {
            for _ in 0..MAX_ROUNDS {
                let mut changed = false;
                for pass in &phase.passes {
                    if pass.run(module) {
                        changed = true;
                        daphne_ir::verify::module(module)
                            .map_err(|error| PassError { pass: pass.name(), error: Box::new(error) })?;
                        after(pass.name(), module);
                    }
                }
                if !changed {
                    break;
                }
            }
            after(phase.name, module);
        }
        Ok(())
    }
}
