//! k-best extraction: the `k` cheapest distinct programs of an e-class, for one
//! placement's step costs (egg 0.11 extracts only the single best term).
//!
//! Every class keeps a list of at most `k` candidates, each a flattened program (its
//! steps in order) with its cost, ordered by cost and then by canonical text; two
//! derivations that flatten to the same program are one candidate. A step node gives
//! itself; a `seq` node gives every concatenation of its children's candidates. The
//! lists are recomputed in post-order until nothing changes (the e-graph may have
//! cycles; step costs are positive, so this converges). Keeping `k` per class is
//! enough: if `p ++ q` is among a class's `k` best, `p` is among its left child's `k`
//! best, since `k` better left candidates would give `k` better distinct
//! concatenations.
//!
//! Costs are whole femtoseconds ([`to_fs`], [`Fs`]), so sums are exact and
//! associative and the order never depends on how a sequence is bracketed; `u128`
//! femtoseconds hold 10^23 s, so no accepted input saturates them.

use std::cmp::Ordering;
use std::collections::HashMap;

use egg::Id;

use super::egraph::Saturated;
use crate::rules::{AbsStep, DimSet, Prog};

/// Whole femtoseconds.
pub type Fs = u128;

/// Seconds as whole femtoseconds, rounded up, so that a sum of steps is never below
/// the sum of their exact times (NaN and anything past 10^23 s count as never).
pub fn to_fs(seconds: f64) -> Fs {
    let x = (seconds * 1e15).ceil();
    if x.is_nan() || x >= Fs::MAX as f64 {
        Fs::MAX
    } else if x <= 0.0 {
        0
    } else {
        x as Fs
    }
}

/// What extraction and enumeration need from a placement: a step's cost and text.
pub trait StepOracle {
    /// The step's time in femtoseconds, run on the shard its `shard` names.
    fn cost_fs(&self, step: &AbsStep) -> Fs;
    /// The step's canonical text (its shard does not show).
    fn text(&self, step: &AbsStep) -> String;
}

/// A program found by an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its time, femtoseconds: Σ of its steps' costs, or its pipelined time when
    /// `chunks > 1`.
    pub cost_fs: Fs,
    /// Its steps, in order.
    pub steps: Vec<AbsStep>,
    /// Pipelined over this many chunks (1: plain).
    pub chunks: u64,
    /// Σ of its steps' costs (run plain), femtoseconds, plus its relayout's.
    pub plain_fs: Fs,
    /// A sharded goal's relayout (docs/design.md, §3.7): the abstract dims in the
    /// order the steps number the shards; empty for none (the request's own order).
    pub layout: Vec<u8>,
}

impl Candidate {
    /// A plain (unpipelined) program of these steps costing `cost_fs`.
    pub fn plain(cost_fs: Fs, steps: Vec<AbsStep>) -> Candidate {
        Candidate {
            cost_fs,
            steps,
            chunks: 1,
            plain_fs: cost_fs,
            layout: Vec::new(),
        }
    }
}

/// The steps an engine can name, with costs and a text order fixed for one oracle.
pub struct StepTable {
    /// Every step.
    pub steps: Vec<AbsStep>,
    /// `cost[i]` of `steps[i]`.
    pub cost: Vec<Fs>,
    /// `rank[i]`: position of `steps[i]`'s text in text order (equal texts, equal ranks).
    pub rank: Vec<u32>,
}

impl StepTable {
    /// Prices and ranks `steps` with `oracle`.
    pub fn new(steps: Vec<AbsStep>, oracle: &dyn StepOracle) -> StepTable {
        let cost = steps.iter().map(|s| oracle.cost_fs(s)).collect();
        let texts: Vec<String> = steps.iter().map(|s| oracle.text(s)).collect();
        let mut order: Vec<usize> = (0..steps.len()).collect();
        order.sort_by(|&a, &b| texts[a].cmp(&texts[b]));
        let mut rank = vec![0u32; steps.len()];
        let mut r = 0u32;
        for (i, &s) in order.iter().enumerate() {
            if i > 0 && texts[order[i - 1]] != texts[s] {
                r += 1;
            }
            rank[s] = r;
        }
        StepTable { steps, cost, rank }
    }

    /// Orders two programs (as step indices) by cost, then canonical text. Comparing
    /// step texts one by one is the order of the joined texts, because a step's text
    /// is a prefix of another's only before ` @ roots(`, and `;` sorts before `@`.
    pub fn compare(&self, a: (Fs, &[u32]), b: (Fs, &[u32])) -> Ordering {
        a.0.cmp(&b.0).then_with(|| {
            a.1.iter()
                .map(|&i| self.rank[i as usize])
                .cmp(b.1.iter().map(|&i| self.rank[i as usize]))
        })
    }

    /// Whether two programs have the same text.
    pub fn same_text(&self, a: &[u32], b: &[u32]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(&x, &y)| self.rank[x as usize] == self.rank[y as usize])
    }
}

/// A candidate as step indices.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cand {
    cost: Fs,
    steps: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
enum Node {
    Step(u32),
    Seq(usize, usize),
}

/// Most fixpoint passes (a safety net; the e-graphs built by the rules are acyclic
/// in practice and converge in one or two).
const MAX_PASSES: usize = 256;

/// The placement-independent half of extraction for one saturated e-graph: the
/// classes reachable from the request (children first where acyclic), their step and
/// `seq` nodes, and the distinct steps. Built once per e-graph, it serves every
/// placement and request with that many dims; [`Plan::k_best`] then only prices steps
/// and combines lists.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Distinct steps of the reachable classes.
    steps: Vec<AbsStep>,
    /// Per class (in post-order), its nodes.
    nodes: Vec<Vec<Node>>,
    /// Indices of the goal's seed classes (the request's class for all_reduce).
    roots: Vec<usize>,
    /// Whether every `seq` node's children come before its class: one pass in this
    /// order is then the fixpoint.
    topological: bool,
}

impl Plan {
    /// Walks the e-graph of `sat` once.
    pub fn new(sat: &Saturated) -> Plan {
        let eg = &sat.egraph;
        // Classes reachable from the root, children before parents where acyclic.
        let mut index: HashMap<Id, usize> = HashMap::new();
        let mut order: Vec<Id> = Vec::new();
        let mut stack: Vec<(Id, bool)> = sat.roots.iter().rev().map(|&r| (r, false)).collect();
        while let Some((id, done)) = stack.pop() {
            let id = eg.find(id);
            if done {
                if let std::collections::hash_map::Entry::Vacant(e) = index.entry(id) {
                    e.insert(order.len());
                    order.push(id);
                }
                continue;
            }
            if index.contains_key(&id) || stack.iter().any(|&(x, d)| d && x == id) {
                continue;
            }
            stack.push((id, true));
            for n in &eg[id].nodes {
                if let Prog::Seq([a, b]) = n {
                    for c in [*b, *a] {
                        if !index.contains_key(&eg.find(c)) {
                            stack.push((c, false));
                        }
                    }
                }
            }
        }
        // Nodes of every class, steps interned.
        let mut steps: Vec<AbsStep> = Vec::new();
        let mut step_ids: HashMap<AbsStep, u32> = HashMap::new();
        let set = |id: Id| eg[id].data.unwrap_or(DimSet::EMPTY);
        let nodes: Vec<Vec<Node>> = order
            .iter()
            .map(|&id| {
                eg[id]
                    .nodes
                    .iter()
                    .filter_map(|n| {
                        if let Some((op, [d, s, r])) = n.as_step() {
                            let st = AbsStep {
                                op,
                                dims: set(d),
                                shard: set(s),
                                roots: set(r),
                            };
                            let next = steps.len() as u32;
                            let i = *step_ids.entry(st).or_insert_with(|| {
                                steps.push(st);
                                next
                            });
                            Some(Node::Step(i))
                        } else if let Prog::Seq([a, b]) = n {
                            Some(Node::Seq(index[&eg.find(*a)], index[&eg.find(*b)]))
                        } else {
                            None
                        }
                    })
                    .collect()
            })
            .collect();
        let topological = nodes.iter().enumerate().all(|(c, ns)| {
            ns.iter().all(|n| match *n {
                Node::Step(_) => true,
                Node::Seq(a, b) => a < c && b < c,
            })
        });
        Plan {
            steps,
            nodes,
            roots: sat.roots.iter().map(|&r| index[&eg.find(r)]).collect(),
            topological,
        }
    }

    /// Distinct steps the e-graph can name (each priced once per placement).
    pub fn step_count(&self) -> usize {
        self.steps.len()
    }

    /// The `k` best distinct programs of the request class, best first, for one
    /// placement's step costs.
    pub fn k_best(&self, k: usize, oracle: &dyn StepOracle) -> Vec<Candidate> {
        let table = StepTable::new(self.steps.clone(), oracle);
        let n = self.nodes.len();
        let mut lists: Vec<Vec<Cand>> = vec![Vec::new(); n];
        let mut cands: Vec<Cand> = Vec::new();
        let passes = if self.topological { 1 } else { MAX_PASSES };
        for pass in 0..passes {
            let mut changed = false;
            for c in 0..n {
                cands.clear();
                for node in &self.nodes[c] {
                    match *node {
                        Node::Step(i) => cands.push(Cand {
                            cost: table.cost[i as usize],
                            steps: vec![i],
                        }),
                        Node::Seq(a, b) => {
                            for x in &lists[a] {
                                for y in &lists[b] {
                                    let mut s = Vec::with_capacity(x.steps.len() + y.steps.len());
                                    s.extend_from_slice(&x.steps);
                                    s.extend_from_slice(&y.steps);
                                    cands.push(Cand {
                                        cost: x.cost.saturating_add(y.cost),
                                        steps: s,
                                    });
                                }
                            }
                        }
                    }
                }
                let best = keep_best(&table, &mut cands, k);
                if best != lists[c] {
                    lists[c] = best;
                    changed = true;
                }
            }
            if !changed || self.topological {
                tracing::trace!(
                    passes = pass + 1,
                    classes = n,
                    topological = self.topological,
                    "k-best extraction converged"
                );
                break;
            }
            if pass + 1 == MAX_PASSES {
                tracing::warn!(
                    "k-best extraction stopped after {MAX_PASSES} passes without converging"
                );
            }
        }
        // The best over every seed: programs that meet the goal in different ways.
        let mut all: Vec<Cand> = self
            .roots
            .iter()
            .filter_map(|&r| lists.get(r))
            .flatten()
            .cloned()
            .collect();
        keep_best(&table, &mut all, k)
            .into_iter()
            .map(|c| {
                Candidate::plain(
                    c.cost,
                    c.steps.iter().map(|&i| table.steps[i as usize]).collect(),
                )
            })
            .collect()
    }
}

/// The `k` best distinct programs of the request class of `sat`, best first
/// ([`Plan::new`] then [`Plan::k_best`]; build the plan once to extract for many
/// placements).
pub fn k_best(sat: &Saturated, k: usize, oracle: &dyn StepOracle) -> Vec<Candidate> {
    Plan::new(sat).k_best(k, oracle)
}

/// Sorts by (cost, text), drops repeated texts, keeps `k` (drains `cands`).
fn keep_best(table: &StepTable, cands: &mut Vec<Cand>, k: usize) -> Vec<Cand> {
    cands.sort_by(|a, b| table.compare((a.cost, &a.steps), (b.cost, &b.steps)));
    let mut out: Vec<Cand> = Vec::with_capacity(k.min(cands.len()));
    for c in cands.drain(..) {
        if out.len() == k {
            break;
        }
        if !out.iter().any(|o| table.same_text(&o.steps, &c.steps)) {
            out.push(c);
        }
    }
    out
}
