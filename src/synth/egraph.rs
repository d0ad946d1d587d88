//! Saturation of the request under the rewrite rules, with named budgets (the
//! language itself is [`crate::rules::Prog`]).
//!
//! Sequences are right-nested binary `seq`s and the rule set has no associativity
//! rule: every rule rewrites one step into a (right-nested) sequence, so every program
//! is a tree of refinements of the request, reached without re-bracketing; extraction
//! flattens the nesting, and identifies programs by their flattened text. An
//! associativity rule would only add every bracketing of every sequence (Catalan-many)
//! to the e-graph.
//!
//! The e-graph depends only on the number of reduction dims, never on sizes, levels,
//! costs or the placement, so one saturation serves every placement and request with
//! that many dims ([`SaturationCache`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use egg::{Id, RecExpr, Searcher};

use super::state::AbsGoal;
use super::stop::StopReason;
use crate::program::Collective;
use crate::rules::{request_term, Compiled, DimSet, Prog, ProgGraph, RuleSet, Scratch, Sets};

/// Saturation budgets (egg's `Runner` limits, named the same way). Results never
/// depend on the time limit in practice: it is a safety net set far above the node
/// and iteration budgets, and hitting it is reported.
///
/// The node budget is what bounds large requests: the saturated e-graph grows about
/// 5.5 times per reduction dim (2,761 e-nodes over 4 dims, 15,737 over 5, 86,321 over
/// 6, past 400,000 over 7), because every (collective, dims, shard, roots) triple of
/// disjoint dim sets is a class with one node per split of its dims. Requests of up to
/// 6 dims saturate within [`DEFAULT_NODE_LIMIT`]; over 7 or more, saturation stops
/// at it after three or four iterations (egg checks it after every rule), so the
/// e-graph and the per-placement extraction over it stay small, and the stop is
/// reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// Most rule-application iterations.
    pub iter_limit: usize,
    /// Most e-nodes.
    pub node_limit: usize,
    /// Wall-clock safety net.
    pub time_limit: Duration,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            iter_limit: 64,
            node_limit: DEFAULT_NODE_LIMIT,
            time_limit: Duration::from_secs(3600),
        }
    }
}

/// The default node budget: above the 86,321 e-nodes of a saturated 6-dim request.
pub const DEFAULT_NODE_LIMIT: usize = 100_000;

/// Why saturation stopped, with the e-graph's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaturationReport {
    /// Number of reduction dims.
    pub dims: usize,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// Iterations run.
    pub iterations: usize,
    /// E-nodes.
    pub nodes: usize,
    /// E-classes.
    pub classes: usize,
    /// Wall time of the run.
    pub time: Duration,
}

impl SaturationReport {
    /// Whether every rule was applied to a fixpoint (no budget cut the run short).
    pub fn saturated(&self) -> bool {
        self.stop_reason == StopReason::Saturated
    }
}

/// A saturated e-graph for programs over `dims` reduction dims.
pub struct Saturated {
    /// The e-graph.
    pub egraph: ProgGraph,
    /// The class of the request: `(all_reduce {0..dims} {} {})`, or for a sharded
    /// goal the first of its seeds.
    pub root: Id,
    /// The classes of every seed of the goal ([`goal_terms`]); extraction takes the
    /// best programs over all of them.
    pub roots: Vec<Id>,
    /// How the run ended.
    pub report: SaturationReport,
}

/// Saturates the request over `dims` reduction dims under the rules and budgets.
pub fn saturate(rules: &RuleSet, dims: usize, budgets: Budgets) -> Saturated {
    saturate_with(rules.compiled(), dims, budgets)
}

/// The seeds of a goal over `dims` abstract dims. Rewrite rules are equalities, and
/// a reduce_scatter request has correct programs that are not equal to one another
/// (one that ends holding more than its shard, such as `reduce_scatter(A) ;
/// all_reduce(B)`, leaves a different state than one that ends holding exactly it),
/// so the e-graph is seeded with one term per end state the goal accepts:
/// - all_reduce: `(all_reduce G {} {})`;
/// - reduce_scatter numbered in order `N`: for every prefix `p` of `N` (the dims
///   scattered at the end, in order), the reduce-scatters of `p` (one step per run
///   of `p` in significance order) followed, when `p` is not all of `N`, by the
///   all_reduce of the other dims on the shard `p` cuts; the empty prefix is the
///   all_reduce of every dim;
/// - all_gather numbered in order `N`: the all-gathers undoing `N`, last run first.
pub fn goal_terms(dims: usize, goal: &AbsGoal) -> Vec<RecExpr<Prog>> {
    match goal {
        AbsGoal::AllReduce => vec![request_term(dims)],
        AbsGoal::ReduceScatter(order) => (0..=order.len())
            .map(|j| {
                let p = &order[..j];
                let mut steps: Vec<(Collective, DimSet, DimSet)> = Vec::new();
                let mut shard = DimSet::EMPTY;
                for run in runs(p) {
                    steps.push((Collective::ReduceScatter, run, shard));
                    shard = shard.union(run);
                }
                let rest = DimSet::all(dims).minus(shard);
                if !rest.is_empty() {
                    steps.push((Collective::AllReduce, rest, shard));
                }
                chain(&steps)
            })
            .collect(),
        AbsGoal::AllGather(order) => {
            let mut steps: Vec<(Collective, DimSet, DimSet)> = Vec::new();
            let mut shard = DimSet::all(dims);
            for run in runs(order).into_iter().rev() {
                steps.push((Collective::AllGather, run, shard));
                shard = shard.minus(run);
            }
            vec![chain(&steps)]
        }
    }
}

/// An ordered list of dims cut into maximal runs of ascending dims (a step over a
/// set scatters its dims in significance order, so one step covers one run).
fn runs(order: &[u8]) -> Vec<DimSet> {
    let mut out: Vec<DimSet> = Vec::new();
    let mut last: Option<u8> = None;
    for &d in order {
        let one = DimSet(1 << d);
        match (out.last_mut(), last) {
            (Some(run), Some(l)) if d > l => *run = run.union(one),
            _ => out.push(one),
        }
        last = Some(d);
    }
    out
}

/// The right-nested sequence of steps `(op, dims, shard)`, no roots.
fn chain(steps: &[(Collective, DimSet, DimSet)]) -> RecExpr<Prog> {
    let mut e = RecExpr::default();
    let empty = e.add(Prog::Set(DimSet::EMPTY));
    let ids: Vec<Id> = steps
        .iter()
        .map(|&(op, d, s)| {
            let d = e.add(Prog::Set(d));
            let s = e.add(Prog::Set(s));
            e.add(Prog::step(op, [d, s, empty]))
        })
        .collect();
    let mut acc = *ids.last().expect("a goal has a step");
    for &id in ids.iter().rev().skip(1) {
        acc = e.add(Prog::Seq([id, acc]));
    }
    e
}

/// [`saturate`] with the rules already compiled ([`RuleSet::compiled`]).
pub fn saturate_with(rules: &[Compiled], dims: usize, budgets: Budgets) -> Saturated {
    saturate_goal(rules, dims, &AbsGoal::AllReduce, budgets)
}

/// A match already applied: the rule's index, the matched class, and each variable
/// of the left-hand side with its class and that class's dim set (what the
/// applier reads), all as found by a search.
type Applied = Vec<u32>;

/// The keys of matches already applied (ids only: [`super::fasthash`] suffices).
type KeySet = super::fasthash::FastSet<Applied>;

/// [`saturate_with`] from the seeds of a goal ([`goal_terms`]).
///
/// This is egg's `Runner` with its `SimpleScheduler`, written out (egg 0.11,
/// `Runner::run_one`) so that it can skip work and allocates less; it builds the
/// same e-graph, ids included, and stops at the same point of the same iteration
/// for the same reason:
/// - an iteration checks the limits, searches every rule, then applies every
///   rule's matches, checking the node and iteration limits after each rule, and
///   rebuilds; it saturates when nothing was unioned and the sizes did not change;
///   after it, the limits are checked again;
/// - the wall-clock safety net is checked at the start of each iteration, after
///   the node and iteration limits (where the previous version's hook checked it;
///   egg's own clock costs a TSC calibration, ~0.6 ms, on its first use);
/// - a match that was already applied in an earlier iteration, with the same
///   classes and dim sets, is not applied again while no union is pending since
///   the last rebuild: then every node it would add is already in the hash-cons
///   and its union is already made, so applying it would change nothing (with a
///   union pending, egg would add not-yet-canonical duplicates, which count
///   towards the node limit, so it is applied as egg would).
pub fn saturate_goal(
    rules: &[Compiled],
    dims: usize,
    goal: &AbsGoal,
    budgets: Budgets,
) -> Saturated {
    let start = Instant::now();
    let mut egraph = ProgGraph::new(Sets);
    let roots: Vec<Id> = goal_terms(dims, goal)
        .iter()
        .map(|e| egraph.add_expr(e))
        .collect();
    egraph.rebuild();
    let limits = |iteration: usize, egraph: &ProgGraph| {
        if egraph.total_size() > budgets.node_limit {
            Some(StopReason::NodeLimit)
        } else if iteration >= budgets.iter_limit {
            Some(StopReason::IterationLimit)
        } else {
            None
        }
    };
    let mut applied = KeySet::default();
    let mut key: Applied = Vec::new();
    let mut scratch = Scratch::default();
    let mut iterations = 0;
    let stop_reason = loop {
        let mut stop = limits(iterations, &egraph)
            .or_else(|| (start.elapsed() > budgets.time_limit).then_some(StopReason::TimeLimit));
        let nodes = egraph.total_size();
        let classes = egraph.number_of_classes();
        let mut matches = Vec::with_capacity(rules.len());
        if stop.is_none() {
            // Searching changes nothing egg's limits read until the next rule.
            matches.extend(rules.iter().map(|r| r.lhs.search(&egraph)));
        }
        let mut unioned = false;
        if stop.is_none() {
            for (i, (rule, found)) in rules.iter().zip(matches).enumerate() {
                for m in &found {
                    for subst in &m.substs {
                        key.clear();
                        key.push(i as u32);
                        key.push(usize::from(m.eclass) as u32);
                        for v in &rule.vars {
                            let id = subst[*v];
                            key.push(usize::from(id) as u32);
                            key.push(egraph[id].data.map_or(u32::MAX, |d| d.0));
                        }
                        let seen = applied.contains(key.as_slice());
                        if seen && !unioned {
                            continue;
                        }
                        unioned |=
                            rule.applier
                                .apply_match(&mut egraph, m.eclass, subst, &mut scratch);
                        if !seen {
                            applied.insert(key.clone());
                        }
                    }
                }
                stop = limits(iterations, &egraph);
                if stop.is_some() {
                    break;
                }
            }
        }
        egraph.rebuild();
        iterations += 1;
        if stop.is_none()
            && !unioned
            && nodes == egraph.total_size()
            && classes == egraph.number_of_classes()
        {
            stop = Some(StopReason::Saturated);
        }
        if let Some(stop) = stop.or_else(|| limits(iterations, &egraph)) {
            break stop;
        }
    };
    let roots: Vec<Id> = roots.iter().map(|&r| egraph.find(r)).collect();
    let root = roots[0];
    let report = SaturationReport {
        dims,
        stop_reason,
        iterations,
        nodes: egraph.total_size(),
        classes: egraph.number_of_classes(),
        time: start.elapsed(),
    };
    tracing::info!(
        dims,
        stop_reason = %report.stop_reason,
        iterations = report.iterations,
        nodes = report.nodes,
        classes = report.classes,
        time_ms = report.time.as_secs_f64() * 1e3,
        "e-graph saturation finished"
    );
    if report.stop_reason == StopReason::TimeLimit {
        tracing::warn!(
            "saturation over {dims} dims hit its time-limit safety net ({:?}): the answer may depend on machine load; raise the node or iteration budget instead",
            budgets.time_limit
        );
    }
    Saturated {
        egraph,
        root,
        roots,
        report,
    }
}

/// One saturation per dim count, shared by every placement and request.
pub struct SaturationCache<'r> {
    rules: &'r RuleSet,
    budgets: Budgets,
    graphs: BTreeMap<(usize, AbsGoal), Saturated>,
}

impl<'r> SaturationCache<'r> {
    /// An empty cache.
    pub fn new(rules: &'r RuleSet, budgets: Budgets) -> Self {
        SaturationCache {
            rules,
            budgets,
            graphs: BTreeMap::new(),
        }
    }

    /// The saturated e-graph for `dims` reduction dims (built on first use).
    pub fn get(&mut self, dims: usize) -> &Saturated {
        self.get_goal(dims, &AbsGoal::AllReduce)
    }

    /// The saturated e-graph of a goal over `dims` reduction dims (built on first use).
    pub fn get_goal(&mut self, dims: usize, goal: &AbsGoal) -> &Saturated {
        let (rules, budgets) = (self.rules, self.budgets);
        self.graphs
            .entry((dims, goal.clone()))
            .or_insert_with(|| saturate_goal(rules.compiled(), dims, goal, budgets))
    }

    /// Saturates every goal of `keys` not saturated yet, on every core (rayon); each
    /// saturation depends on its key alone, so the thread count changes nothing.
    pub fn prepare(&mut self, keys: &[(usize, AbsGoal)]) {
        let todo: Vec<&(usize, AbsGoal)> = keys
            .iter()
            .filter(|k| !self.graphs.contains_key(*k))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let (rules, budgets) = (self.rules, self.budgets);
        let done = super::on_every_core(&todo, |(dims, goal)| {
            saturate_goal(rules.compiled(), *dims, goal, budgets)
        });
        self.graphs.extend(todo.into_iter().cloned().zip(done));
    }

    /// The saturated e-graph of a goal, if [`SaturationCache::get_goal`] or
    /// [`SaturationCache::prepare`] built it.
    pub fn saturated(&self, dims: usize, goal: &AbsGoal) -> Option<&Saturated> {
        self.graphs.get(&(dims, goal.clone()))
    }

    /// Reports of every saturation run, by dim count.
    pub fn reports(&self) -> Vec<SaturationReport> {
        self.graphs.values().map(|s| s.report.clone()).collect()
    }

    /// Reports of the saturation runs of the given (dim count, goal) keys, by dim
    /// count.
    pub fn reports_of(
        &self,
        keys: &std::collections::BTreeSet<(usize, AbsGoal)>,
    ) -> Vec<SaturationReport> {
        self.graphs
            .iter()
            .filter(|(k, _)| keys.contains(k))
            .map(|(_, s)| s.report.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use egg::{Runner, SimpleScheduler};

    /// egg's own `Runner` on the same seeds and rules, as `saturate_goal` ran it
    /// before it was written out.
    fn egg_run(rules: &RuleSet, dims: usize, goal: &AbsGoal, b: Budgets) -> Runner<Prog, Sets> {
        let mut runner = Runner::new(Sets)
            .with_scheduler(SimpleScheduler)
            .with_iter_limit(b.iter_limit)
            .with_node_limit(b.node_limit)
            .with_time_limit(b.time_limit);
        for e in goal_terms(dims, goal) {
            runner = runner.with_expr(&e);
        }
        runner.run(&rules.rewrites())
    }

    fn stop_of(r: &Option<egg::StopReason>) -> StopReason {
        match r {
            Some(egg::StopReason::Saturated) => StopReason::Saturated,
            Some(egg::StopReason::IterationLimit(_)) => StopReason::IterationLimit,
            Some(egg::StopReason::NodeLimit(_)) => StopReason::NodeLimit,
            other => panic!("unexpected stop {other:?}"),
        }
    }

    /// The written-out loop builds egg's e-graph exactly: the same classes under
    /// the same ids with the same nodes, the same roots, stop and iteration
    /// count, whether it saturates or stops at a node or iteration budget
    /// mid-iteration (where skipping a re-application would show first).
    #[test]
    fn same_egraph_as_eggs_runner() {
        let rules = RuleSet::builtin();
        let goals = [
            AbsGoal::AllReduce,
            AbsGoal::ReduceScatter(vec![0, 1, 2]),
            AbsGoal::ReduceScatter(vec![2, 0, 1]),
            AbsGoal::AllGather(vec![1, 0, 2]),
        ];
        let mut cases = Vec::new();
        for dims in 1..=4 {
            cases.push((dims, AbsGoal::AllReduce, Budgets::default()));
        }
        for node_limit in [40, 300, 1_000, 2_000, 5_000] {
            for dims in [3, 4, 5] {
                let b = Budgets {
                    node_limit,
                    ..Budgets::default()
                };
                cases.push((dims, AbsGoal::AllReduce, b));
            }
        }
        for iter_limit in [0, 1, 2] {
            let b = Budgets {
                iter_limit,
                ..Budgets::default()
            };
            cases.push((3, AbsGoal::AllReduce, b));
        }
        for g in &goals[1..] {
            cases.push((3, g.clone(), Budgets::default()));
            let b = Budgets {
                node_limit: 500,
                ..Budgets::default()
            };
            cases.push((3, g.clone(), b));
        }
        let mut stops = std::collections::BTreeSet::new();
        for (dims, goal, b) in cases {
            let ours = saturate_goal(rules.compiled(), dims, &goal, b);
            let egg = egg_run(&rules, dims, &goal, b);
            let what = format!("{dims} dims, {goal:?}, {b:?}");
            assert_eq!(ours.report.stop_reason, stop_of(&egg.stop_reason), "{what}");
            assert_eq!(ours.report.iterations, egg.iterations.len(), "{what}");
            assert_eq!(ours.egraph.total_size(), egg.egraph.total_size(), "{what}");
            assert_eq!(
                ours.egraph.number_of_classes(),
                egg.egraph.number_of_classes(),
                "{what}"
            );
            let roots: Vec<Id> = egg.roots.iter().map(|&r| egg.egraph.find(r)).collect();
            assert_eq!(ours.roots, roots, "{what}");
            for class in egg.egraph.classes() {
                assert_eq!(ours.egraph[class.id].nodes, class.nodes, "{what}");
                assert_eq!(ours.egraph.find(class.id), class.id, "{what}");
            }
            stops.insert(ours.report.stop_reason.to_string());
        }
        // Every kind of stop was compared.
        assert_eq!(stops.len(), 3, "{stops:?}");
    }
}
