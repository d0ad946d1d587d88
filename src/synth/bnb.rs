//! Branch and bound over placements: the default `synth` search for the best
//! placement ([`super::Selection::Best`]), without listing the placements
//! (docs/design.md, §9; docs/cost-model.md, §4.2).
//!
//! The tree is [`crate::placement::tree`]'s: a node fixes the first rows of the
//! matrix (axes in spec order), its children the next row. Once every row a request
//! names is fixed (depth `1 + the largest requested axis`), every placement below
//! has the same reduction dims for every request, hence the same problems, bound
//! and score: such an *exact* node stands for all its placements, and its first
//! placement (lowest index) for the ties among them. Above it a node's bound is
//! [`crate::cost::prefix_lower_bound`] summed over the requests, which no
//! placement below beats.
//!
//! Nodes are searched best bound first (ties by the rows fixed, i.e. by index), so
//! exact nodes come in ascending order of their bound as the full enumeration's
//! placements do; a node is pruned when its bound exceeds the best score found
//! (`synth` shows one placement, so the best is the one to beat), exactly when the
//! enumeration prunes its placements. The counts (`synthesized`, `pruned`,
//! `shapes`) and the answer are therefore the enumeration's.
//!
//! Leaves are synthesized in batches on every core (`EngineRun::solve`):
//! the exact nodes that the search reaches before the batch holds `n` problems not
//! solved yet (`n` = 1, 2, 4, … up to [`MAX_BATCH`], whatever the thread count),
//! then committed one by one in order, each pruned again against the best score of
//! those before it. A problem solved ahead for a node pruned at its commit is not
//! reported, so batching changes only the time.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, BinaryHeap};

use super::{EngineRun, Problems, Shape, Stats, SynthError};
use crate::placement::tree::Tree;
use crate::placement::{self, Placement};
use crate::program::DimRef;
use crate::rules::DimSet;
use crate::spec::Spec;

/// The most problems one batch solves at once.
pub const MAX_BATCH: usize = 64;

/// The most exact nodes one batch holds.
const MAX_BATCH_NODES: usize = 4096;

/// A bound above the exact nodes' by rounding can never prune one: internal nodes'
/// bounds are scaled down by this much (rounding errors are ~1e-15 relative).
const ROUNDING: f64 = 1.0 - 1e-12;

/// What the branch and bound did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TreeStats {
    /// Nodes taken from the queue (expanded, or synthesized when exact).
    pub visited: u64,
    /// Subtrees cut: nodes whose bound exceeds the best score when made, when
    /// taken, or left in the queue at the end.
    pub pruned: u64,
}

/// The best placement.
pub(super) struct Best {
    pub score: f64,
    pub index: usize,
    pub placement: Placement,
    /// Its problem per request.
    pub row: Vec<usize>,
}

/// What the search found.
pub(super) struct Found {
    pub best: Option<Best>,
}

/// The largest number of entries above 1 a row of `size` can have over `levels`.
fn max_dims(size: u64, levels: usize) -> usize {
    let (mut n, mut rest, mut d) = (0usize, size, 2u64);
    while rest > 1 && d * d <= rest {
        while rest.is_multiple_of(d) {
            rest /= d;
            n += 1;
        }
        d += 1;
    }
    if rest > 1 {
        n += 1;
    }
    n.min(levels)
}

/// Whether the branch and bound answers as the enumeration would: no placement can
/// give a request more reduction dims than synthesis handles (the enumeration
/// refuses the spec if one does), or the spec has more placements than are listed.
pub(super) fn applies(spec: &Spec) -> bool {
    let nl = spec.system.levels.len();
    let fits = spec.requests.iter().all(|r| {
        r.axes
            .iter()
            .map(|&a| max_dims(spec.axes[a].size, nl))
            .sum::<usize>()
            <= DimSet::CAPACITY
    });
    fits || placement::count_up_to(spec, placement::MAX_PLACEMENTS).is_none()
}

/// A node of the search: its fixed rows, the columns' remaining products, its
/// bound, and when exact its problem per request.
struct Node {
    bound: f64,
    rows: Vec<Vec<u64>>,
    col_rem: Vec<u64>,
    problems: Option<Vec<usize>>,
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Node {}

impl PartialOrd for Node {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Node {
    fn cmp(&self, other: &Self) -> Ordering {
        self.bound
            .total_cmp(&other.bound)
            .then_with(|| self.rows.cmp(&other.rows))
    }
}

/// The reduction dims of `axes` once their rows are fixed: as [`Shape::of`] on any
/// placement with these rows (dims outer level first, then axis order).
fn shape_of(rows: &[Vec<u64>], axes: &[usize]) -> Shape {
    let nl = rows.first().map_or(0, |r| r.len());
    let (mut dims, mut sizes) = (Vec::new(), Vec::new());
    for level in 0..nl {
        for (axis, row) in rows.iter().enumerate() {
            if axes.contains(&axis) && row[level] > 1 {
                dims.push(DimRef { level, axis });
                sizes.push(row[level]);
            }
        }
    }
    Shape { dims, sizes }
}

fn saturate(n: u128) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The search state.
struct Search<'e, 'a, 'r> {
    engine: &'e mut EngineRun<'a, 'r>,
    tree: Tree,
    /// Depth of the exact nodes.
    exact: usize,
    best: Option<Best>,
    synthesized: u128,
    /// Placements in pruned subtrees (for progress).
    cut: u128,
    total: u128,
    stats: TreeStats,
}

impl Search<'_, '_, '_> {
    fn beaten(&self, bound: f64) -> bool {
        self.best
            .as_ref()
            .is_some_and(|b| bound > b.score * (1.0 + 1e-9))
    }

    fn prune(&mut self, node: &Node) {
        self.stats.pruned += 1;
        let n = self.tree.completions(node.rows.len(), &node.col_rem);
        self.cut = self.cut.saturating_add(n);
    }

    /// A node with its bound (and problems when exact).
    fn node(
        &mut self,
        problems: &mut Problems,
        rows: Vec<Vec<u64>>,
        col_rem: Vec<u64>,
    ) -> Result<Node, SynthError> {
        let (spec, backend) = (self.engine.spec, self.engine.backend);
        if rows.len() < self.exact {
            let bound = spec
                .requests
                .iter()
                .map(|r| r.weight() * backend.prefix_lower_bound_s(spec, r, &rows, &col_rem))
                .sum::<f64>()
                * ROUNDING;
            return Ok(Node {
                bound,
                rows,
                col_rem,
                problems: None,
            });
        }
        let mut row = Vec::with_capacity(spec.requests.len());
        for (ri, r) in spec.requests.iter().enumerate() {
            let tree = &mut self.tree;
            let k = problems.key(spec, backend, ri, shape_of(&rows, &r.axes), || {
                let m = tree
                    .first_completion(&rows, &col_rem)
                    .expect("a child of the tree has a completion");
                Placement::from_valid_matrix(m)
            })?;
            row.push(k);
        }
        Ok(Node {
            bound: problems.bound(spec, &row),
            rows,
            col_rem,
            problems: Some(row),
        })
    }

    /// Synthesizes an exact node (its problems solved), or prunes it.
    fn commit(&mut self, problems: &mut Problems, node: Node) {
        if self.beaten(node.bound) {
            self.prune(&node);
            return;
        }
        let row = node.problems.expect("an exact node");
        let spec = self.engine.spec;
        let score = problems.score(spec, &row, &mut self.engine.enumerations);
        let n = self.tree.completions(node.rows.len(), &node.col_rem);
        self.synthesized = self.synthesized.saturating_add(n);
        if self.best.as_ref().is_some_and(|b| score > b.score) {
            return;
        }
        let m = self
            .tree
            .first_completion(&node.rows, &node.col_rem)
            .expect("an exact node has a placement");
        let index = saturate(self.tree.index_of(&m));
        tracing::debug!(placement = index, score, placements = %n, "placements synthesized");
        if self
            .best
            .as_ref()
            .is_none_or(|b| score < b.score || index < b.index)
        {
            self.best = Some(Best {
                score,
                index,
                placement: Placement::from_valid_matrix(m),
                row,
            });
        }
    }

    fn report(&self) {
        let done = self.synthesized.saturating_add(self.cut).min(self.total);
        let clamp = |n: u128| u64::try_from(n).unwrap_or(u64::MAX);
        self.engine
            .opts
            .progress
            .report(clamp(done), clamp(self.total));
    }
}

/// Searches the tree for the best placement; fills the placement counts and the
/// tree's counts of `stats`.
pub(super) fn search(
    engine: &mut EngineRun,
    problems: &mut Problems,
    stats: &mut Stats,
) -> Result<Found, SynthError> {
    let spec = engine.spec;
    let mut tree = Tree::new(spec);
    let total = tree.count();
    let exact = 1 + spec
        .requests
        .iter()
        .flat_map(|r| r.axes.iter().copied())
        .max()
        .unwrap_or(0);
    let cols = tree.cols.clone();
    let mut s = Search {
        engine,
        tree,
        exact: exact.min(spec.axes.len()),
        best: None,
        synthesized: 0,
        cut: 0,
        total,
        stats: TreeStats::default(),
    };
    let mut heap: BinaryHeap<Reverse<Node>> = BinaryHeap::new();
    if total > 0 {
        heap.push(Reverse(s.node(problems, Vec::new(), cols)?));
    }
    let mut batch_size = 1usize;
    loop {
        // Gather a batch of exact nodes: those with every problem solved are
        // committed at once while the batch is empty.
        let mut batch: Vec<Node> = Vec::new();
        let mut unsolved: Vec<usize> = Vec::new();
        let mut seen = BTreeSet::new();
        while let Some(Reverse(top)) = heap.peek() {
            if s.beaten(top.bound) {
                break;
            }
            let Reverse(node) = heap.pop().expect("peeked");
            s.stats.visited += 1;
            if let Some(row) = &node.problems {
                let new: Vec<usize> = row
                    .iter()
                    .copied()
                    .filter(|&k| problems.solved[k].candidates.is_none() && seen.insert(k))
                    .collect();
                if batch.is_empty() && new.is_empty() {
                    s.commit(problems, node);
                    s.report();
                    continue;
                }
                unsolved.extend(new);
                batch.push(node);
                if unsolved.len() >= batch_size || batch.len() >= MAX_BATCH_NODES {
                    break;
                }
                continue;
            }
            let depth = node.rows.len();
            for (row, rest) in s.tree.children(depth, &node.col_rem) {
                let mut rows = node.rows.clone();
                rows.push(row);
                let child = s.node(problems, rows, rest)?;
                if s.beaten(child.bound) {
                    s.prune(&child);
                } else {
                    heap.push(Reverse(child));
                }
            }
        }
        if batch.is_empty() {
            break;
        }
        s.engine.solve(problems, &unsolved);
        for node in batch {
            s.commit(problems, node);
        }
        s.report();
        batch_size = (batch_size * 2).min(MAX_BATCH);
    }
    for Reverse(node) in std::mem::take(&mut heap) {
        s.prune(&node);
    }
    s.report();
    stats.placements = saturate(total);
    stats.synthesized = saturate(s.synthesized);
    stats.pruned = saturate(total - s.synthesized.min(total));
    stats.tree = Some(s.stats);
    tracing::info!(
        visited = s.stats.visited,
        pruned = s.stats.pruned,
        "branch and bound over placements"
    );
    Ok(Found { best: s.best })
}
