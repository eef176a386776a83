//! Recovery: every row output keeps its lineage (how to compute it again from values the
//! coordinator holds, checkpointed at depth `MAX_LINEAGE`); after a failed call the workers
//! are health-checked, dead and restarted ones dropped, and lost values computed again on the
//! survivors.

use std::sync::Arc;

use daphne_ir::{Function, Module, OpId, OpKind, Split};
use daphne_runtime::pipeline::PipelineId;
use daphne_runtime::value::Value;

use super::state::{Fail, Inner, NotMade, Origin};
use crate::error::Error;

/// How long the coordinator waits before each new try of a pipeline whose call failed while
/// every worker still answers (a blip): then the run fails.
const RETRY_WAITS: [std::time::Duration; 3] = [
    std::time::Duration::from_millis(100),
    std::time::Duration::from_millis(400),
    std::time::Duration::from_millis(1600),
];

/// Lineages longer than this end in a checkpoint (the value fetched to the coordinator).
pub(super) const MAX_LINEAGE: usize = 32;

/// How a row output can be computed again when a worker holding part of it dies: from values
/// the coordinator holds, through the pipelines that made it.
pub(super) enum Lineage {
    Here(Value),
    /// Made on the workers (`create`): made again on the live ones.
    Made(Origin),
    /// Output `output` of the pipeline `module` on the inputs' lineages.
    Computed {
        module: Arc<Module>,
        output: usize,
        inputs: Vec<Arc<Lineage>>,
        depth: usize,
    },
}

impl Lineage {
    pub(super) fn depth(&self) -> usize {
        match self {
            Lineage::Here(_) | Lineage::Made(_) => 0,
            Lineage::Computed { depth, .. } => *depth,
        }
    }
}

impl Inner {
    /// How to compute an input again: a remote value of ours by its own lineage, anything
    /// else is here.
    pub(super) fn lineage_of(&self, v: &Value) -> Arc<Lineage> {
        if let Value::Remote(r) = v
            && let Some(p) = self.parts_of(r)
        {
            return p.lineage.lock().unwrap_or_else(|e| e.into_inner()).clone();
        }
        Arc::new(Lineage::Here(v.clone()))
    }

    /// After a failed call: health-checks the live workers. Those that do not answer are
    /// dead; those that answer as another instance restarted and hold nothing of this run:
    /// both are dropped (what they held is computed again from its lineage), and a restarted
    /// one joins again as a new worker. Whether any worker was dropped.
    pub(super) fn check_workers(&self) -> bool {
        let live = self.live();
        let answers = self.link.ping(&live, self.options.heartbeat);
        let instances = self.state().instances.clone();
        let mut dropped = Vec::new();
        let mut restarted = Vec::new();
        for (&w, answer) in live.iter().zip(answers) {
            match answer {
                None => {
                    daphne_runtime::console::eprint(&format!(
                        "daphne: distributed worker {} stopped answering; its work moves to the others\n",
                        self.link.name(w)
                    ));
                    dropped.push(w);
                }
                Some(i) if instances.get(w).is_some_and(|&old| old != 0 && old != i) => {
                    daphne_runtime::console::eprint(&format!(
                        "daphne: distributed worker {} restarted; what it held is computed again\n",
                        self.link.name(w)
                    ));
                    dropped.push(w);
                    restarted.push(self.link.name(w));
                }
                Some(_) => {}
            }
        }
        if dropped.is_empty() {
            return false;
        }
        self.state().alive.iter_mut().enumerate().filter(|(w, _)| dropped.contains(w)).for_each(|(_, a)| *a = false);
        for &w in &dropped {
            self.link.retire(w);
        }
        // Cached inputs were split for the old set of workers: free them on the survivors.
        self.drop_cache();
        {
            let mut state = self.state();
            for &w in &dropped {
                state.to_free[w].clear();
            }
        }
        for addr in restarted {
            if let Err(e) = self.add_worker(&addr) {
                daphne_runtime::console::eprint(&format!("daphne: distributed worker {addr} restarted, but {e}\n"));
            }
        }
        true
    }

    /// A value whose parts are all on live workers (a remote value with parts on a dead
    /// worker is computed again from its lineage).
    pub(super) fn revive(&self, me: &Arc<Inner>, v: &Value) -> Result<Value, Error> {
        if let Value::Remote(r) = v
            && let Some(p) = self.parts_of(r)
            && self.any_dead(p.parts.iter().map(|(w, _, _)| *w))
        {
            let lineage = p.lineage.lock().unwrap_or_else(|e| e.into_inner()).clone();
            return self.rebuild(me, &lineage);
        }
        Ok(v.clone())
    }

    /// Computes a value again from its lineage, on the live workers.
    pub(super) fn rebuild(&self, me: &Arc<Inner>, lineage: &Lineage) -> Result<Value, Error> {
        match lineage {
            Lineage::Here(v) => Ok(v.clone()),
            Lineage::Made(origin) => {
                let v = self.create_resilient(me, origin).map_err(|e| match e {
                    NotMade::Cluster(e) => e,
                    NotMade::Failed(m) => Error::Task { worker: "a worker".into(), message: m },
                    NotMade::Declined => Error::internal("a matrix made before is declined now"),
                })?;
                self.state().transfer.rebuilt += 1;
                Ok(v)
            }
            Lineage::Computed { module, output, inputs, depth } => {
                let values = inputs.iter().map(|l| self.rebuild(me, l)).collect::<Result<Vec<_>, _>>()?;
                let f = &module.functions[0];
                let id = *f.body.ops.first().ok_or_else(|| Error::internal("an empty lineage module"))?;
                let OpKind::Pipeline(spec) = &f.ops[id].kind else { return Err(Error::internal("not a pipeline")) };
                let n = values
                    .iter()
                    .zip(&spec.splits)
                    .find(|(_, s)| **s == Split::Rows)
                    .map(|(v, _)| match v {
                        Value::Matrix(m) => m.rows(),
                        Value::Sparse(m) => m.rows(),
                        Value::Remote(r) => r.rows,
                        _ => 0,
                    })
                    .unwrap_or(0);
                let out = self.run_resilient(me, None, f, id, values, n).map_err(|e| match e {
                    Fail::Pipeline => Error::internal("a pipeline failed when it ran again"),
                    Fail::Cluster(m) => m,
                })?;
                {
                    let mut state = self.state();
                    state.transfer.rebuilt += 1;
                    state.transfer.rebuilt_depth = state.transfer.rebuilt_depth.max(*depth as u64);
                }
                out.into_iter().nth(*output).ok_or_else(|| Error::internal("a lineage output is missing"))
            }
        }
    }

    /// `distribute`, moving the work of workers that die to the others, until it succeeds,
    /// the pipeline fails, or no worker is left.
    pub(super) fn run_resilient(
        &self,
        me: &Arc<Inner>,
        key: Option<PipelineId>,
        f: &Function,
        id: OpId,
        mut inputs: Vec<Value>,
        n: usize,
    ) -> Result<Vec<Value>, Fail> {
        let mut retries = 0;
        loop {
            match self.distribute(me, key, f, id, &inputs, n) {
                Err(Fail::Cluster(message)) => {
                    if !self.check_workers() {
                        // Every worker answers as before: a blip (a reset connection, a
                        // refused call). Tried again a few times, waiting longer each time.
                        if retries == RETRY_WAITS.len() {
                            return Err(Fail::Cluster(message));
                        }
                        std::thread::sleep(RETRY_WAITS[retries]);
                        retries += 1;
                        continue;
                    }
                    if self.live().is_empty() {
                        return Err(Fail::Cluster(Error::NoneLeftAfter(Box::new(message))));
                    }
                    inputs =
                        inputs.iter().map(|v| self.revive(me, v)).collect::<Result<_, _>>().map_err(Fail::Cluster)?;
                }
                other => return other,
            }
        }
    }
}
