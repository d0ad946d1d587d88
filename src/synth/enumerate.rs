//! The baseline engine (P2-style): grammar-guided enumeration of step sequences up to
//! a maximum length, keeping the `k` cheapest correct programs.
//!
//! Steps are drawn from the program grammar over the reduction dims: every
//! collective, every non-empty set of dims, every set of root dims disjoint from it.
//! Sequences grow one step at a time from the request's initial state, tracking the
//! abstract state of [`super::state`], and a prefix is pruned when
//! - its last step is ill-formed or leaves the structured domain;
//! - its last step changes nothing (a broadcast of what every member holds);
//! - it cannot finish in the steps left ([`State::steps_needed`]);
//! - it is a symmetric duplicate: its last two steps commute (same state and same
//!   costs in either order) and are in descending text order;
//! - it already costs more than the `k`-th best program found (branch and bound:
//!   costs never decrease along a prefix, so this never changes the answer).
//!
//! A node budget bounds the search; the report says when it cut the search short.

use std::time::{Duration, Instant};

use super::extract::{Candidate, Fs, StepOracle, StepTable};
use super::state::{AbsGoal, Outcome, State};
use super::stop::StopReason;
use crate::program::Collective;
use crate::rules::{AbsStep, DimSet};

/// How an enumeration ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumReport {
    /// Number of reduction dims.
    pub dims: usize,
    /// Prefixes visited.
    pub visited: u64,
    /// Correct programs found.
    pub complete: u64,
    /// [`StopReason::Complete`] or [`StopReason::NodeBudget`].
    pub stop_reason: StopReason,
    /// Wall time.
    pub time: Duration,
}

/// Prefixes an enumeration visits per shape by default: a few seconds of search
/// (a few million prefixes a second in a release build), deterministic because it
/// counts prefixes, not time. Shapes of up to 3 dims finish within it; the search
/// over 4 or more dims grows past any practical budget and is cut short, which the
/// report says (`docs/design.md`, §9). A cut search still gives the best programs
/// it visited, each checked; only an answer-less cut is undecided.
pub const DEFAULT_NODE_BUDGET: u64 = 10_000_000;

/// Enumeration limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnumLimits {
    /// Longest program.
    pub max_steps: usize,
    /// Most prefixes visited.
    pub node_budget: u64,
}

impl Default for EnumLimits {
    fn default() -> Self {
        EnumLimits {
            max_steps: 6,
            node_budget: DEFAULT_NODE_BUDGET,
        }
    }
}

/// Every step the grammar allows over `k` dims (shard left empty), in a fixed order.
pub fn alphabet(k: usize) -> Vec<AbsStep> {
    let all = DimSet::all(k);
    let mut out = Vec::new();
    for op in Collective::ALL {
        for dims in all.subsets().filter(|d| !d.is_empty()) {
            for roots in all.minus(dims).subsets() {
                out.push(AbsStep {
                    op,
                    dims,
                    roots,
                    shard: DimSet::EMPTY,
                });
            }
        }
    }
    out
}

struct Search<'a> {
    oracle: &'a dyn StepOracle,
    alphabet: Vec<AbsStep>,
    /// Text rank of every alphabet entry.
    table: StepTable,
    limits: EnumLimits,
    goal: AbsGoal,
    k: usize,
    visited: u64,
    complete: u64,
    out_of_budget: bool,
    /// The best programs so far: (cost, alphabet indices, steps).
    best: Vec<(Fs, Vec<u32>, Vec<AbsStep>)>,
    /// Step costs memoized by (alphabet index, shard).
    costs: super::fasthash::FastMap<(u32, DimSet), Fs>,
}

impl Search<'_> {
    fn cost(&mut self, i: u32, shard: DimSet) -> Fs {
        let oracle = self.oracle;
        let s = AbsStep {
            shard,
            ..self.alphabet[i as usize]
        };
        *self
            .costs
            .entry((i, shard))
            .or_insert_with(|| oracle.cost_fs(&s))
    }

    fn record(&mut self, cost: Fs, idx: &[u32], steps: &[AbsStep]) {
        self.complete += 1;
        let pos = self
            .best
            .iter()
            .position(|(c, ix, _)| self.table.compare((cost, idx), (*c, ix)).is_lt())
            .unwrap_or(self.best.len());
        if pos < self.k {
            self.best.insert(pos, (cost, idx.to_vec(), steps.to_vec()));
            self.best.truncate(self.k);
        }
    }

    /// Whether a prefix costing `cost` can no longer enter the `k` best: `k` programs
    /// are known and the cheapest of them all costs less. Step costs are never
    /// negative, so no completion of the prefix is cheaper than the prefix, and one
    /// costing exactly the `k`-th could still win on text, so it is kept: the pruning
    /// never changes the answer, only how many prefixes are visited.
    fn beyond_kth(&self, cost: Fs) -> bool {
        self.k > 0 && self.best.len() >= self.k && cost > self.best[self.k - 1].0
    }

    /// Depth-first search from `states.last()`.
    fn dfs(
        &mut self,
        states: &mut Vec<State>,
        idx: &mut Vec<u32>,
        steps: &mut Vec<AbsStep>,
        cost: Fs,
    ) {
        let st = states.last().expect("a state").clone();
        if st.is_final_for(&self.goal) {
            self.record(cost, idx, steps);
            return;
        }
        let left = self.limits.max_steps - idx.len();
        if left == 0 || st.steps_needed_for(&self.goal) > left {
            return;
        }
        for i in 0..self.alphabet.len() as u32 {
            if self.visited >= self.limits.node_budget {
                self.out_of_budget = true;
                return;
            }
            self.visited += 1;
            let a = self.alphabet[i as usize];
            let Some(shard) = st.shard(a.roots) else {
                continue;
            };
            let s = AbsStep { shard, ..a };
            let Outcome::Next(next) = st.apply(&s) else {
                continue;
            };
            if next == st || self.symmetric_duplicate(states, idx, steps, i, &next) {
                continue;
            }
            let c = cost.saturating_add(self.cost(i, shard));
            if self.beyond_kth(c) {
                continue;
            }
            states.push(next);
            idx.push(i);
            steps.push(s);
            self.dfs(states, idx, steps, c);
            states.pop();
            idx.pop();
            steps.pop();
        }
    }

    /// Whether `prev ; step` (ending in `next`) has a commuted twin `step ; prev`
    /// with the same end state and step costs that comes first in text order.
    fn symmetric_duplicate(
        &mut self,
        states: &[State],
        idx: &[u32],
        steps: &[AbsStep],
        i: u32,
        next: &State,
    ) -> bool {
        let (Some(&pi), Some(prev)) = (idx.last(), steps.last()) else {
            return false;
        };
        if self.table.rank[i as usize] >= self.table.rank[pi as usize] {
            return false;
        }
        let before = &states[states.len() - 2];
        let a = self.alphabet[i as usize];
        let Some(shard_i) = before.shard(a.roots) else {
            return false;
        };
        let first = AbsStep {
            shard: shard_i,
            ..a
        };
        let Outcome::Next(mid) = before.apply(&first) else {
            return false;
        };
        let Some(shard_p) = mid.shard(prev.roots) else {
            return false;
        };
        let second = AbsStep {
            shard: shard_p,
            ..*prev
        };
        let Outcome::Next(end) = mid.apply(&second) else {
            return false;
        };
        end == *next
            && shard_p == prev.shard
            && shard_i
                == states[states.len() - 1]
                    .shard(a.roots)
                    .unwrap_or(DimSet(u32::MAX))
    }
}

/// The `k` best correct programs over `dims` reduction dims of at most
/// `limits.max_steps` steps, best first (cost, then text).
pub fn k_best(
    dims: usize,
    k: usize,
    limits: EnumLimits,
    oracle: &dyn StepOracle,
) -> (Vec<Candidate>, EnumReport) {
    k_best_for(&AbsGoal::AllReduce, dims, k, limits, oracle)
}

/// [`k_best`] for any goal: the search starts from the goal's start state and
/// records the programs that meet its end (docs/design.md, §3.3.1).
pub fn k_best_for(
    goal: &AbsGoal,
    dims: usize,
    k: usize,
    limits: EnumLimits,
    oracle: &dyn StepOracle,
) -> (Vec<Candidate>, EnumReport) {
    let start = Instant::now();
    let alphabet = alphabet(dims);
    let table = StepTable::new(alphabet.clone(), oracle);
    let mut search = Search {
        oracle,
        alphabet,
        table,
        limits,
        goal: goal.clone(),
        k,
        visited: 0,
        complete: 0,
        out_of_budget: false,
        best: Vec::new(),
        costs: Default::default(),
    };
    let mut states = vec![State::initial_for(dims, goal)];
    search.dfs(&mut states, &mut Vec::new(), &mut Vec::new(), 0);
    let report = EnumReport {
        dims,
        visited: search.visited,
        complete: search.complete,
        stop_reason: if search.out_of_budget {
            StopReason::NodeBudget
        } else {
            StopReason::Complete
        },
        time: start.elapsed(),
    };
    tracing::info!(
        dims,
        visited = report.visited,
        complete = report.complete,
        stop_reason = %report.stop_reason,
        time_ms = report.time.as_secs_f64() * 1e3,
        "enumeration finished"
    );
    let best = search
        .best
        .into_iter()
        .map(|(cost_fs, _, steps)| Candidate::plain(cost_fs, steps))
        .collect();
    (best, report)
}
