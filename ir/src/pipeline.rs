//! What a `pipeline` op means, and the canonical order of its reductions.
//!
//! A pipeline has a row count `n`: the number of rows of its row-split inputs (they all have
//! it). The rows `0..n` are cut into **blocks** of [`block_rows`]`(n)` rows (one empty block
//! when `n == 0`). The body runs once per block: a row-split input is seen as the block's rows
//! of that input, a broadcast input whole. The body's partial results are combined per output:
//!
//! - `rows`: the partials stacked vertically, in block order;
//! - `cols`: side by side, in block order (a transposed row block is a column block);
//! - `add`, `min`, `max`: folded pairwise along a balanced binary tree over the block indices
//!   ([`fold_tree`]), elementwise.
//!
//! A row-wise reduction inside the body (`sumAll`, `sumCol`, `minAll`, ...) reduces only its
//! block. The same definition holds for the plain kernels outside any pipeline: `sumAll(X)` is
//! the tree fold of the block sums of `X`, and a block sum adds the block's cells in row-major
//! order into [`LANES`] accumulators (cell `k` into lane `k % LANES`), folded by the same tree.
//! `min`/`max` scan in order and keep the earlier value unless the new one is smaller (larger).
//!
//! So a result never depends on how blocks are grouped into tasks, threads or workers, nor on
//! whether an op ran fused or alone: a partition of a parallel run is a range of whole blocks.
//!
//! Architecture Invariant: every engine (the interpreter, the JIT kernels, the workers) uses
//! these functions for block boundaries and combine order, and nothing else.

use crate::function::{FuncId, Function, Module, OpId, Region};
use crate::op::OpKind;

/// The smallest number of rows in a block (except the last). Small enough that a pipeline over
/// a few thousand rows has tasks for several threads; large enough that the block products of
/// `t(X) @ X` are efficient products and few partials (measured: 64 made `t(X) @ X` on
/// 4000x500 2.5x slower than one product; 256 costs about 10%).
pub const MIN_BLOCK_ROWS: usize = 256;

/// The most blocks a pipeline is cut into.
pub const MAX_BLOCKS: usize = 1024;

/// The number of accumulators of a block's full sum.
pub const LANES: usize = 8;

/// The rows per block for a row count of `n`: at least `MIN_BLOCK_ROWS`, and few enough that
/// there are at most `MAX_BLOCKS` blocks.
pub fn block_rows(n: usize) -> usize {
    MIN_BLOCK_ROWS.max(n.div_ceil(MAX_BLOCKS))
}

/// The blocks of `0..n`, in order: one empty block when `n` is 0.
pub fn blocks(n: usize) -> Vec<std::ops::Range<usize>> {
    blocks_of(n, block_rows(n))
}

/// The blocks of `0..n` when a block has `b` rows: a worker cuts its part of a pipeline's
/// rows by the block size of the whole (`block_rows` of the global row count), not of its part.
pub fn blocks_of(n: usize, b: usize) -> Vec<std::ops::Range<usize>> {
    if n == 0 {
        return std::iter::once(0..0).collect();
    }
    let b = b.max(1);
    (0..n).step_by(b).map(|lo| lo..(lo + b).min(n)).collect()
}

/// How a pipeline over `n` rows is split among `workers` so that the result keeps the
/// canonical order: the blocks are grouped into aligned runs of `2^level` blocks (the subtrees
/// of the fold tree at that level), so a group's own fold is a node of the global tree and
/// folding the groups' results along `fold_tree` gives the root. The level is the highest that
/// still leaves at least four groups per worker (or one group per block), for balance.
/// Returns the rows per group and, per worker, its contiguous range of groups.
pub fn partition(n: usize, workers: usize) -> (usize, Vec<std::ops::Range<usize>>) {
    let b = block_rows(n);
    let nb = n.div_ceil(b).max(1);
    let want = nb.min(4 * workers.max(1));
    let mut level = 0u32;
    while (1usize << level) < nb && nb.div_ceil(1 << (level + 1)) >= want {
        level += 1;
    }
    let group_rows = b << level;
    let groups = nb.div_ceil(1 << level);
    let w = workers.max(1);
    let ranges = (0..w).map(|i| (i * groups / w)..((i + 1) * groups / w)).collect();
    (group_rows, ranges)
}

/// Why a part of a pipeline's rows is not one [`partition`] can give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartError {
    #[error("a block of {block_rows} rows is below the least of {MIN_BLOCK_ROWS}")]
    SmallBlocks { block_rows: usize },
    #[error("groups of {group_rows} rows are not 2^l blocks of {block_rows} rows")]
    Groups { group_rows: usize, block_rows: usize },
    #[error(
        "{n} rows in blocks of {block_rows} make more than {MAX_BLOCKS} blocks (the block size of the whole is at least 1/{MAX_BLOCKS} of its rows)"
    )]
    TooManyBlocks { n: usize, block_rows: usize },
}

/// Checks a part of a pipeline's rows as a worker gets it (`n` rows, cut into blocks of
/// `block_rows` and folded in groups of `group_rows`) against what [`partition`] can give: a
/// block size of the whole of at least `MIN_BLOCK_ROWS`, groups of `2^l` blocks, and at most
/// `MAX_BLOCKS` blocks. So a task implies at most `MAX_BLOCKS` blocks of work, whatever it
/// declares. Returns the number of groups.
pub fn check_part(n: usize, block_rows: usize, group_rows: usize) -> Result<usize, PartError> {
    if block_rows < MIN_BLOCK_ROWS {
        return Err(PartError::SmallBlocks { block_rows });
    }
    let per_group = group_rows / block_rows;
    if !group_rows.is_multiple_of(block_rows) || !per_group.is_power_of_two() || per_group > MAX_BLOCKS {
        return Err(PartError::Groups { group_rows, block_rows });
    }
    if n.div_ceil(block_rows) > MAX_BLOCKS {
        return Err(PartError::TooManyBlocks { n, block_rows });
    }
    Ok(n.div_ceil(group_rows).max(1))
}

/// Folds `parts` pairwise along a balanced binary tree: neighbours are combined level by level
/// from the left, and an odd one out moves up a level unchanged. `None` for no parts.
pub fn fold_tree<T>(parts: Vec<T>, mut combine: impl FnMut(T, T) -> T) -> Option<T> {
    let mut level = parts;
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        let mut it = level.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => combine(a, b),
                None => a,
            });
        }
        level = next;
    }
    level.pop()
}

/// [`fold_tree`] computed while the parts arrive, in any order and from several threads: a
/// node of the tree is combined as soon as both its children are there (the left child always
/// on the left), so only a few partial results are alive at once, and the result is exactly
/// `fold_tree` of the parts in index order.
///
/// The tree of `fold_tree` over `n` parts: node `(level, j)` covers the parts
/// `j * 2^level .. (j + 1) * 2^level` (cut at `n`); it is its two children combined, or its
/// left child alone when the right one covers nothing.
pub struct TreeFold<T> {
    n: usize,
    top: u32,
    nodes: std::sync::Mutex<std::collections::HashMap<(u32, usize), T>>,
}

impl<T> TreeFold<T> {
    /// A fold of `n` parts.
    pub fn new(n: usize) -> TreeFold<T> {
        let top = n.max(1).next_power_of_two().trailing_zeros();
        TreeFold { n, top, nodes: Default::default() }
    }

    /// Adds part `index` (each index once, `index < n`).
    pub fn add(&self, index: usize, value: T, combine: impl Fn(T, T) -> T) {
        self.add_node(0, index, value, combine);
    }

    /// Adds the value of node `(level, j)`: its parts folded alone (`fold_tree` of them in
    /// order). The nodes added must cover every part exactly once, as [`fold_nodes`] cuts a
    /// range; a part is node `(0, index)`.
    pub fn add_node(&self, level: u32, j: usize, value: T, combine: impl Fn(T, T) -> T) {
        let (mut level, mut j, mut v) = (level, j, value);
        loop {
            if level >= self.top {
                break;
            }
            let sibling = j ^ 1;
            if j % 2 == 0 && (sibling << level) >= self.n {
                // No right child: the parent is this node alone.
                (level, j) = (level + 1, j / 2);
                continue;
            }
            let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
            match nodes.remove(&(level, sibling)) {
                Some(other) => {
                    drop(nodes);
                    v = if j % 2 == 0 { combine(v, other) } else { combine(other, v) };
                    (level, j) = (level + 1, j / 2);
                }
                None => {
                    nodes.insert((level, j), v);
                    return;
                }
            }
        }
        self.nodes.lock().unwrap_or_else(|e| e.into_inner()).insert((self.top, 0), v);
    }

    /// The root, once every part was added (`None` for no parts or a part missing).
    pub fn finish(self) -> Option<T> {
        let mut nodes = self.nodes.into_inner().unwrap_or_else(|e| e.into_inner());
        nodes.remove(&(self.top, 0)).filter(|_| self.n > 0 && nodes.is_empty())
    }

    /// The nodes folded so far, from the left, when the parts added cover exactly `range`:
    /// then they are `fold_nodes(range, n)` (a relay's groups and those it relayed, folded
    /// into the nodes it answers with); `None` when the parts added cover anything else.
    pub fn into_nodes(self, range: std::ops::Range<usize>) -> Option<Vec<((u32, usize), T)>> {
        let mut nodes: Vec<_> = self.nodes.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().collect();
        nodes.sort_by_key(|&((level, j), _)| j << level);
        let wanted = fold_nodes(range, self.n);
        (nodes.len() == wanted.len() && nodes.iter().zip(&wanted).all(|((node, _), w)| node == w)).then_some(nodes)
    }
}

/// The nodes of the fold tree over `n` parts (see [`TreeFold`]) that cover exactly the parts
/// `range`, from the left: at each step the highest node that starts at the next part and ends
/// inside the range. Folding a node's parts alone gives the node, so whoever holds a run of
/// parts (a worker its groups) can fold it into these few values, and [`TreeFold::add_node`]
/// of every holder's nodes gives `fold_tree` of all the parts, bit for bit. At most about
/// `2 log2(n)` nodes; none for an empty range. `range` must lie in `0..n`.
pub fn fold_nodes(range: std::ops::Range<usize>, n: usize) -> Vec<(u32, usize)> {
    let top = n.max(1).next_power_of_two().trailing_zeros();
    let mut nodes = Vec::new();
    let mut at = range.start;
    while at < range.end.min(n) {
        let mut level = 0u32;
        while level < top && at.is_multiple_of(1 << (level + 1)) && (at + (1usize << (level + 1))).min(n) <= range.end {
            level += 1;
        }
        nodes.push((level, at >> level));
        at = (at + (1usize << level)).min(n);
    }
    nodes
}

/// A module holding one pipeline of `f` alone: its entry function takes the pipeline's inputs
/// as parameters and returns its results. This is what a worker receives; it passes
/// [`crate::verify::pipeline_module`].
pub fn extract(f: &Function, op: OpId) -> Option<Module> {
    let p = f.ops.try_get(op)?;
    if !matches!(p.kind, OpKind::Pipeline(_)) {
        return None;
    }
    let mut out = Function::new("pipeline");
    let mut map = std::collections::HashMap::new();
    let params: Vec<_> = p.operands.iter().map(|&v| out.new_arg(f.ty(v).clone())).collect();
    for (&v, &n) in p.operands.iter().zip(&params) {
        map.insert(v, n);
    }
    let id = out.copy_op_from(f, op, &mut map)?;
    let results = out.ops[id].results.clone();
    out.result_types = results.iter().map(|&r| out.ty(r).clone()).collect();
    let ret = out.new_op(OpKind::Return, results, Vec::new(), Vec::new(), None);
    out.body = Region { args: params, ops: vec![id, ret] };
    Some(Module { functions: vec![out], entry: FuncId(0), files: Vec::new(), inline_sites: Vec::new() })
}

/// Every pipeline op of `f`, in program order (nested regions included).
pub fn pipelines(f: &Function) -> Vec<OpId> {
    fn walk(f: &Function, r: &Region, depth: usize, found: &mut Vec<OpId>) {
        if depth > crate::verify::MAX_NESTING {
            return;
        }
        for &id in &r.ops {
            let Some(op) = f.ops.try_get(id) else { continue };
            if matches!(op.kind, OpKind::Pipeline(_)) {
                found.push(id);
            } else {
                for inner in &op.regions {
                    walk(f, inner, depth + 1, found);
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(f, &f.body, 0, &mut found);
    found
}

/// A readable list of every pipeline of a module (`daphnec --emit pipelines`): where it is,
/// its inputs with their split modes, its outputs with their combine modes, and the ops inside
/// with the source positions they came from.
pub fn describe(m: &Module) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut n = 0;
    for f in &m.functions {
        let found = pipelines(f);
        for id in found {
            let op = &f.ops[id];
            let OpKind::Pipeline(spec) = &op.kind else { continue };
            n += 1;
            let at = |o: OpId| f.loc(o).map_or(String::new(), |l| format!(" ({})", m.describe(l)));
            let _ = writeln!(out, "pipeline {n} in @{}{}", f.name, at(id));
            for (i, (&v, s)) in op.operands.iter().zip(&spec.splits).enumerate() {
                let _ = writeln!(out, "  input {i}: {} split {}", f.ty(v), s.name());
            }
            for (i, (&v, c)) in op.results.iter().zip(&spec.combines).enumerate() {
                let _ = writeln!(out, "  output {i}: {} combine {}", f.ty(v), c.name());
            }
            let body = op.regions.first().map(|r| r.ops.as_slice()).unwrap_or_default();
            out.push_str("  ops:\n");
            let mut lines: Vec<u32> = Vec::new();
            for &o in body {
                let inner = &f.ops[o];
                if matches!(inner.kind, OpKind::Const(_) | OpKind::Yield) {
                    continue;
                }
                let _ = writeln!(out, "    {}{}", inner.kind.name(), at(o));
                if let Some(l) = f.loc(o)
                    && !lines.contains(&l.line)
                {
                    lines.push(l.line);
                }
            }
            lines.sort_unstable();
            let lines: Vec<String> = lines.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "  source lines: {}", lines.join(", "));
        }
    }
    if n == 0 {
        out.push_str("no pipelines\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_the_rows_in_order() {
        assert_eq!(blocks(0).len(), 1);
        assert!(blocks(0)[0].is_empty());
        assert_eq!(blocks(10), vec![0..10]);
        assert_eq!(blocks(520), vec![0..256, 256..512, 512..520]);
        let big = blocks(1_000_000);
        assert!(big.len() <= MAX_BLOCKS);
        assert_eq!(big.last().map(|r| r.end), Some(1_000_000));
        assert!(big.windows(2).all(|w| w[0].end == w[1].start));
    }

    #[test]
    fn partitions_are_aligned_subtrees_that_fold_to_the_root() {
        let combine = |a: String, b: String| format!("({a}+{b})");
        for n in [0usize, 1, 255, 256, 257, 5000, 10_240, 100_000, 262_144, 1_000_000] {
            let bl = blocks(n);
            let whole = fold_tree(bl.iter().map(|r| r.start.to_string()).collect(), combine);
            for workers in 1..=5 {
                let (group_rows, ranges) = partition(n, workers);
                assert_eq!(ranges.len(), workers);
                assert_eq!(group_rows % block_rows(n), 0);
                let groups = ranges.last().map_or(0, |r| r.end);
                assert_eq!(groups, n.div_ceil(group_rows).max(1), "{n} rows on {workers}");
                // Each group folded alone (cut by the global block size), then the groups.
                let parts: Vec<String> = (0..groups)
                    .map(|g| {
                        let (lo, hi) = (g * group_rows, ((g + 1) * group_rows).min(n));
                        let inner = blocks_of(hi - lo, block_rows(n));
                        fold_tree(inner.iter().map(|r| (r.start + lo).to_string()).collect(), combine).unwrap()
                    })
                    .collect();
                assert_eq!(fold_tree(parts, combine), whole, "{n} rows on {workers} workers");
                // Every worker's part is one a worker accepts.
                for r in &ranges {
                    let rows = (r.end * group_rows).min(n) - (r.start * group_rows).min(n);
                    assert_eq!(check_part(rows, block_rows(n), group_rows), Ok(rows.div_ceil(group_rows).max(1)));
                }
            }
        }
    }

    #[test]
    fn parts_no_partition_gives_are_refused() {
        // 2^40 rows (of no columns) in groups of one row, or of 4096: billions of groups.
        assert!(check_part(1 << 40, 1, 1).is_err());
        assert!(check_part(1 << 40, 4096, 4096).is_err());
        assert!(check_part(1000, 256, 768).is_err());
        assert!(check_part(1000, 256, 0).is_err());
        assert_eq!(check_part(1 << 40, 1 << 30, 1 << 31), Ok(512));
    }

    #[test]
    fn fold_tree_is_pairwise() {
        let s = |v: Vec<&str>| fold_tree(v.into_iter().map(String::from).collect(), |a, b| format!("({a}+{b})"));
        assert_eq!(s(vec![]), None);
        assert_eq!(s(vec!["a"]).as_deref(), Some("a"));
        assert_eq!(s(vec!["a", "b", "c"]).as_deref(), Some("((a+b)+c)"));
        assert_eq!(s(vec!["a", "b", "c", "d", "e"]).as_deref(), Some("(((a+b)+(c+d))+e)"));
    }

    #[test]
    fn tree_fold_is_fold_tree_in_any_order_and_on_threads() {
        let combine = |a: String, b: String| format!("({a}+{b})");
        for n in 0..70usize {
            let parts: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            let expected = fold_tree(parts.clone(), combine);
            // Index order, reverse order and a scrambled order.
            for order in
                [(0..n).collect::<Vec<_>>(), (0..n).rev().collect(), (0..n).map(|i| (i * 37 + 11) % n.max(1)).collect()]
            {
                if n > 0 && order.iter().collect::<std::collections::HashSet<_>>().len() != n {
                    continue;
                }
                let fold = TreeFold::new(n);
                for &i in &order {
                    fold.add(i, parts[i].clone(), combine);
                }
                assert_eq!(fold.finish(), expected, "{n} parts in order {order:?}");
            }
            let fold = TreeFold::new(n);
            std::thread::scope(|s| {
                for t in 0..3 {
                    let (fold, parts) = (&fold, &parts);
                    s.spawn(move || (t..n).step_by(3).for_each(|i| fold.add(i, parts[i].clone(), combine)));
                }
            });
            assert_eq!(fold.finish(), expected, "{n} parts on threads");
        }
        let fold = TreeFold::new(3);
        fold.add(0, "a".to_owned(), combine);
        assert_eq!(fold.finish(), None, "a part is missing");
    }

    #[test]
    fn the_nodes_of_runs_fold_to_fold_tree() {
        let combine = |a: String, b: String| format!("({a}+{b})");
        for n in 1..70usize {
            let parts: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            let expected = fold_tree(parts.clone(), combine);
            // Every cut of 0..n into three runs: each run's nodes, folded alone.
            for a in 0..=n {
                for b in a..=n {
                    let fold = TreeFold::new(n);
                    let mut count = 0;
                    for run in [0..a, a..b, b..n] {
                        let nodes = fold_nodes(run.clone(), n);
                        count += nodes.len();
                        let mut at = run.start;
                        for (level, j) in nodes {
                            assert_eq!(at, j << level, "{n} parts, run {run:?}: nodes cover it in order");
                            let end = ((j + 1) << level).min(n);
                            assert!(end <= run.end, "{n} parts, run {run:?}: node ({level}, {j}) leaves it");
                            let value = fold_tree(parts[at..end].to_vec(), combine).unwrap();
                            fold.add_node(level, j, value, combine);
                            at = end;
                        }
                        assert_eq!(at, run.end.max(run.start), "{n} parts, run {run:?}: covered");
                    }
                    assert!(count <= 3 * 2 * (usize::BITS - n.leading_zeros()) as usize + 3);
                    assert_eq!(fold.finish(), expected, "{n} parts cut at {a} and {b}");
                }
            }
        }
        assert_eq!(fold_nodes(0..8, 8), vec![(3, 0)]);
        assert_eq!(fold_nodes(0..5, 5), vec![(3, 0)]);
        assert_eq!(fold_nodes(1..7, 8), vec![(0, 1), (1, 1), (1, 2), (0, 6)]);
        assert_eq!(fold_nodes(3..3, 8), vec![]);
    }

    #[test]
    fn a_relay_folds_the_nodes_of_consecutive_runs_into_the_nodes_of_their_union() {
        let combine = |a: String, b: String| format!("({a}+{b})");
        for n in 1..40usize {
            let parts: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            let node_value = |level: u32, j: usize| {
                let (at, end) = (j << level, ((j + 1) << level).min(n));
                fold_tree(parts[at..end].to_vec(), combine).unwrap()
            };
            // A relay's run a..b and what it relayed, b..c, each as its holder's nodes.
            for a in 0..n {
                for b in a..=n {
                    for c in b..=n {
                        let fold = TreeFold::new(n);
                        for run in [a..b, b..c] {
                            for (level, j) in fold_nodes(run, n) {
                                fold.add_node(level, j, node_value(level, j), combine);
                            }
                        }
                        let nodes = fold.into_nodes(a..c).unwrap_or_else(|| panic!("{n} parts, {a}..{b}..{c}"));
                        let expected: Vec<_> =
                            fold_nodes(a..c, n).into_iter().map(|(l, j)| ((l, j), node_value(l, j))).collect();
                        assert_eq!(nodes, expected, "{n} parts, {a}..{b}..{c}");
                    }
                }
            }
        }
        // Parts that do not cover the range exactly are not its nodes.
        let fold = TreeFold::new(8);
        fold.add_node(1, 1, "x".to_owned(), combine);
        assert!(fold.into_nodes(2..6).is_none(), "4..6 missing");
        let fold = TreeFold::new(8);
        fold.add_node(2, 0, "x".to_owned(), combine);
        assert!(fold.into_nodes(2..4).is_none(), "0..2 added too");
    }
}
