//! Trees of workers. With many workers, a coordinator that calls every worker itself spends
//! O(N) per pipeline and sends a broadcast N times over its own link. Past `Tree::above`
//! workers, the gRPC link sends tasks and broadcasts to at most `fanout` workers, each of which
//! forwards them to at most `fanout` others, and so on: the coordinator's calls per pipeline
//! are `fanout`, a broadcast crosses each link once per child, and the time to reach every
//! worker grows with the tree's depth, `log_fanout N`. A relay folds its subtree's fold outputs
//! into the nodes of the fold tree that cover the subtree's groups (a subtree's workers hold
//! consecutive groups), so the coordinator adds `fanout` workers' nodes, not N's, with the same
//! bits.
//!
//! The shape (`shape`) is a depth-first numbering: a subtree is a run of consecutive workers,
//! its root first. Relaying is the worker's side (`relay`).

use crate::proto::{self, Relay, Task};

/// When and how wide the coordinator's calls go through a tree of workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tree {
    /// A tree is used when more than this many workers take part (`--tree-above`).
    pub above: usize,
    /// The most workers one caller (the coordinator or a relay) calls (`--tree-fanout`).
    pub fanout: usize,
}

impl Default for Tree {
    fn default() -> Tree {
        Tree { above: 16, fanout: 4 }
    }
}

impl Tree {
    /// Whether `workers` workers are reached through a tree.
    pub fn applies(&self, workers: usize) -> bool {
        workers > self.above && self.fanout >= 1
    }
}

/// A worker of a tree (an index into the caller's list) and those it forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    pub index: usize,
    pub children: Vec<Branch>,
}

impl Branch {
    /// The indices of this subtree, depth first (a run: `index..index + len`).
    pub fn size(&self) -> usize {
        1 + self.children.iter().map(Branch::size).sum::<usize>()
    }

    /// The depth of this subtree (1 for a leaf).
    pub fn depth(&self) -> usize {
        1 + self.children.iter().map(Branch::depth).max().unwrap_or(0)
    }
}

/// The trees over `range` (consecutive indices) that a caller of at most `fanout` calls
/// reaches: the range cut into at most `fanout` runs of nearly equal length, each run's first
/// the root of a tree over the rest. Depth first, so each subtree is a run.
pub fn shape(range: std::ops::Range<usize>, fanout: usize) -> Vec<Branch> {
    let (n, k) = (range.len(), fanout.max(1));
    let runs = n.min(k);
    let mut out = Vec::with_capacity(runs);
    let mut at = range.start;
    for r in 0..runs {
        let len = n / runs + usize::from(r < n % runs);
        out.push(Branch { index: at, children: shape(at + 1..at + len, k) });
        at += len;
    }
    out
}

/// The `Subtree` message of a branch, naming workers by `address`.
pub fn subtree(b: &Branch, address: &impl Fn(usize) -> String) -> proto::Subtree {
    proto::Subtree { address: address(b.index), children: b.children.iter().map(|c| subtree(c, address)).collect() }
}

/// The task of a branch's root, relaying its children's: `tasks[i]` is worker `i`'s (taken).
/// Relayed tasks leave out the pipeline (their relay's is meant).
pub fn relay_task(b: &Branch, tasks: &mut [Option<Task>], address: &impl Fn(usize) -> String) -> Task {
    let mut task = tasks[b.index].take().unwrap_or_default();
    task.relay = b
        .children
        .iter()
        .map(|c| {
            let mut t = relay_task(c, tasks, address);
            t.pipeline = bytes::Bytes::new();
            Relay { address: address(c.index), task: Some(t) }
        })
        .collect();
    task
}

/// The addresses of a relayed task's workers, depth first (its own first).
pub(crate) fn addresses(r: &Relay, out: &mut Vec<String>) {
    out.push(r.address.clone());
    for c in r.task.iter().flat_map(|t| &t.relay) {
        addresses(c, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(b: &Branch, out: &mut Vec<usize>) {
        out.push(b.index);
        for c in &b.children {
            walk(c, out);
        }
    }

    #[test]
    fn a_tree_numbers_its_workers_depth_first_and_is_log_deep() {
        for fanout in 1..6 {
            for n in 0..300 {
                let trees = shape(0..n, fanout);
                assert!(trees.len() <= fanout);
                let mut order = Vec::new();
                for t in &trees {
                    let start = order.len();
                    walk(t, &mut order);
                    assert_eq!(t.size(), order.len() - start);
                    assert_eq!(order[start], t.index, "a subtree is a run, its root first");
                }
                assert_eq!(order, (0..n).collect::<Vec<_>>(), "{n} workers, fanout {fanout}");
                if fanout >= 2 && n > 0 {
                    // Each level holds `fanout` times as many: depth about log_fanout(n).
                    let depth = trees.iter().map(Branch::depth).max().unwrap_or(0);
                    let bound = (n as f64).log(fanout as f64).ceil() as usize + 1;
                    assert!(depth <= bound, "{n} workers, fanout {fanout}: depth {depth} > {bound}");
                }
            }
        }
        assert_eq!(shape(0..1024, 4).iter().map(Branch::depth).max(), Some(5));
    }
}
