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

use egg::{Id, RecExpr, Rewrite, Runner, SimpleScheduler};

use super::state::AbsGoal;
use super::stop::StopReason;
use crate::program::Collective;
use crate::rules::{request_term, DimSet, Prog, ProgGraph, RuleSet, Sets};

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
    saturate_with(&rules.rewrites(), dims, budgets)
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

/// [`saturate`] with the rules already compiled to egg rewrites
/// ([`RuleSet::rewrites`]), for callers that saturate more than once.
///
/// egg times its iterations with `quanta`, whose first clock calibrates the TSC in a
/// busy loop (about 0.6 ms, more on a loaded machine) — longer than saturating one or
/// two dims. Nothing here reads egg's timings, so the run uses a mock quanta clock and
/// enforces the wall-clock safety net itself, with `std::time::Instant`, in a hook.
pub fn saturate_with(rewrites: &[Rewrite<Prog, Sets>], dims: usize, budgets: Budgets) -> Saturated {
    saturate_goal(rewrites, dims, &AbsGoal::AllReduce, budgets)
}

/// [`saturate_with`] from the seeds of a goal ([`goal_terms`]).
pub fn saturate_goal(
    rewrites: &[Rewrite<Prog, Sets>],
    dims: usize,
    goal: &AbsGoal,
    budgets: Budgets,
) -> Saturated {
    let start = Instant::now();
    let exprs = goal_terms(dims, goal);
    let time_limit = budgets.time_limit;
    let (clock, _mock) = quanta::Clock::mock();
    let runner: Runner<Prog, Sets> = quanta::with_clock(&clock, || {
        let mut runner = Runner::new(Sets)
            .with_scheduler(SimpleScheduler)
            .with_iter_limit(budgets.iter_limit)
            .with_node_limit(budgets.node_limit)
            .with_time_limit(time_limit)
            .with_hook(move |_| {
                if start.elapsed() > time_limit {
                    Err(TIME_LIMIT.to_string())
                } else {
                    Ok(())
                }
            });
        for expr in &exprs {
            runner = runner.with_expr(expr);
        }
        runner.run(rewrites)
    });
    let stop_reason = match &runner.stop_reason {
        Some(egg::StopReason::Saturated) => StopReason::Saturated,
        Some(egg::StopReason::IterationLimit(_)) => StopReason::IterationLimit,
        Some(egg::StopReason::NodeLimit(_)) => StopReason::NodeLimit,
        Some(egg::StopReason::TimeLimit(_)) => StopReason::TimeLimit,
        Some(egg::StopReason::Other(s)) if s == TIME_LIMIT => StopReason::TimeLimit,
        Some(egg::StopReason::Other(s)) => StopReason::Other(s.clone()),
        None => StopReason::NotRun,
    };
    let roots: Vec<Id> = runner
        .roots
        .iter()
        .map(|&r| runner.egraph.find(r))
        .collect();
    let root = roots[0];
    let report = SaturationReport {
        dims,
        stop_reason,
        iterations: runner.iterations.len(),
        nodes: runner.egraph.total_size(),
        classes: runner.egraph.number_of_classes(),
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
        egraph: runner.egraph,
        root,
        roots,
        report,
    }
}

/// What the time-limit hook reports when it stops a run.
const TIME_LIMIT: &str = "time limit";

/// One saturation per dim count, shared by every placement and request.
pub struct SaturationCache<'r> {
    rules: &'r RuleSet,
    budgets: Budgets,
    /// The rules as egg rewrites, compiled on first use.
    rewrites: Option<Vec<Rewrite<Prog, Sets>>>,
    graphs: BTreeMap<(usize, AbsGoal), Saturated>,
}

impl<'r> SaturationCache<'r> {
    /// An empty cache.
    pub fn new(rules: &'r RuleSet, budgets: Budgets) -> Self {
        SaturationCache {
            rules,
            budgets,
            rewrites: None,
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
        let rewrites = &mut self.rewrites;
        self.graphs.entry((dims, goal.clone())).or_insert_with(|| {
            saturate_goal(
                rewrites.get_or_insert_with(|| rules.rewrites()),
                dims,
                goal,
                budgets,
            )
        })
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
