//! `collsynth bench`: the performance suite. Each problem of [`suite`] is synthesized
//! by both engines side by side, with the same backend (cost model and SMT proofs of
//! every printed program), and the suite's figures are collected into a
//! [`ProblemResult`]: engine times and their ratio, the e-graph's size and stop
//! reason, candidates found / proven / refuted, proof times, the best program's
//! ratio to the lower bound, the speedup over the flat all_reduce over every
//! placement × request, the best/worst placement ratio, pruning, and peak memory.
//!
//! # How time is measured
//!
//! * `wall_s`: one call of [`synth::synthesize`] with `--placement best` semantics
//!   (every placement considered, those whose lower bound cannot win pruned), proofs
//!   included — what `collsynth synth` spends after loading the spec.
//! * `engine_s`: the part of that call spent finding candidates: saturation and
//!   k-best extraction for the e-graph engine, the search for enumeration — both
//!   pricing steps with the same cost model, neither proving. It is the median over
//!   repeated runs (the first with proofs, then up to [`MAX_REPS`] without, while the
//!   repetitions stay under [`REPEAT_BUDGET`]) so that microsecond figures are not one
//!   noisy sample. Both engines synthesize the same set of shapes (their best programs
//!   agree, so pruning stops at the same placement), so the ratio compares like work.
//! * `pipeline_s`: the same runs' median time pricing the candidates found at their
//!   best chunk count — the same code for both engines, so not in `engine_s`.
//! * Enumeration has a node budget per shape; a run that hits it is reported as not
//!   finished, never as a time.

pub mod memory;
pub mod report;
pub mod suite;

use std::time::Duration;

use crate::rules::RuleSet;
use crate::spec::Spec;
use crate::synth::backend::Backend;
use crate::synth::stop::StopReason;
use crate::synth::{self, Engine, Options, Selection, SynthError, Synthesis};
use crate::verdict::Verdict;

pub use suite::{Problem, Suite};

/// Most timing repetitions of one engine on one problem.
pub const MAX_REPS: usize = 9;
/// Repetitions stop once they have taken this long in total.
pub const REPEAT_BUDGET: Duration = Duration::from_millis(200);

/// Settings of a suite run.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Which problems.
    pub suite: Suite,
    /// Programs per placement and request in the `best` runs.
    pub top: usize,
    /// Longest program enumeration tries.
    pub max_steps: usize,
    /// Enumeration's node budget per shape.
    pub enum_budget: u64,
    /// Enumeration is not run on problems whose synthesized shapes have more
    /// reduction dims than this: it already stops at its node budget on 4 dims (and
    /// each node costs more with every dim), so it would only burn the budget.
    pub enum_max_dims: usize,
    /// Placements above which the every-placement statistics (flat speedup, placement
    /// ratio) are skipped; they need every placement synthesized and its best programs
    /// proven.
    pub all_placements_up_to: usize,
}

impl Settings {
    /// The defaults of a suite.
    pub fn of(suite: Suite) -> Settings {
        Settings {
            suite,
            top: 5,
            max_steps: 6,
            enum_budget: match suite {
                Suite::Quick => 300_000,
                Suite::Full => 5_000_000,
            },
            enum_max_dims: 4,
            all_placements_up_to: 10_000,
        }
    }
}

/// One engine on one problem.
#[derive(Debug, Clone)]
pub struct EngineResult {
    /// The engine.
    pub engine: Engine,
    /// Whether it ran at all (enumeration is skipped above `enum_max_dims`).
    pub ran: bool,
    /// Wall time of the synthesis with proofs.
    pub wall: Duration,
    /// Median time finding candidates.
    pub engine_time: Duration,
    /// Median time pricing them at their best chunk count (the same code for both
    /// engines; not in `engine_time`).
    pub pipeline_time: Duration,
    /// Timing repetitions behind the median.
    pub reps: usize,
    /// Whether every saturation saturated / every enumeration completed.
    pub finished: bool,
    /// Why runs stopped, one entry per e-graph (by dim count) or per enumeration.
    pub stops: Vec<String>,
    /// The best placement's score (Σ count × best time), if any.
    pub best_score_s: Option<f64>,
    /// Index of the best placement.
    pub best_index: Option<usize>,
}

/// An e-graph's size and how its saturation ended.
#[derive(Debug, Clone)]
pub struct EgraphSize {
    /// Reduction dims.
    pub dims: usize,
    /// E-nodes.
    pub nodes: usize,
    /// E-classes.
    pub classes: usize,
    /// Iterations.
    pub iterations: usize,
    /// Why saturation stopped.
    pub stop_reason: StopReason,
}

/// The speedup of the synthesized best program over a baseline (the flat ring, or
/// NCCL's own ring/tree), over every placement × request.
#[derive(Debug, Clone, Default)]
pub struct Speedup {
    /// Placement × request cases with a proven best program.
    pub cases: usize,
    /// Cases where the best program is strictly faster than the baseline.
    pub wins: usize,
    /// Mean of baseline / best over the cases.
    pub mean: f64,
    /// Smallest baseline / best.
    pub min: f64,
    /// Largest baseline / best.
    pub max: f64,
}

impl Speedup {
    /// The statistics of `ratios` (baseline / best).
    pub fn of(ratios: &[f64]) -> Speedup {
        Speedup {
            cases: ratios.len(),
            wins: ratios.iter().filter(|&&x| x > 1.0 + 1e-9).count(),
            mean: if ratios.is_empty() {
                0.0
            } else {
                ratios.iter().sum::<f64>() / ratios.len() as f64
            },
            min: ratios.iter().copied().fold(f64::INFINITY, f64::min),
            max: ratios.iter().copied().fold(0.0, f64::max),
        }
    }
}

/// Statistics over every placement (the `--placement all` run, top 1, proofs on).
#[derive(Debug, Clone)]
pub struct AllPlacements {
    /// Placements synthesized.
    pub placements: usize,
    /// Speedup over the flat ring.
    pub flat: Speedup,
    /// Speedup over NCCL's own algorithm.
    pub nccl: Speedup,
    /// Every baseline / best ratio over NCCL, for distributions across problems.
    pub nccl_ratios: Vec<f64>,
    /// Worst finite score / best score.
    pub placement_ratio: f64,
    /// Wall time of that run.
    pub wall: Duration,
    /// Programs proved in it.
    pub proved: usize,
}

/// Everything measured on one problem.
#[derive(Debug, Clone)]
pub struct ProblemResult {
    /// Problem name.
    pub name: String,
    /// Devices.
    pub devices: u64,
    /// Levels.
    pub levels: usize,
    /// Axes.
    pub axes: usize,
    /// Requests.
    pub requests: usize,
    /// Placements of the spec.
    pub placements: usize,
    /// The e-graph engine.
    pub egraph: EngineResult,
    /// The enumeration engine.
    pub enumerate: EngineResult,
    /// E-graphs built by the e-graph run.
    pub egraphs: Vec<EgraphSize>,
    /// Most steps in a program enumeration was allowed.
    pub max_steps: usize,
    /// Printed programs of the e-graph run: found (checked), proven, refuted, undecided.
    pub found: usize,
    /// Proven.
    pub proven: usize,
    /// Refuted (a rewrite rule is unsound).
    pub refuted: usize,
    /// Undecided.
    pub unknown: usize,
    /// Proofs run (distinct queries) and reused verdicts.
    pub proofs_run: usize,
    /// Printed programs whose verdict came from an identical query.
    pub proofs_reused: usize,
    /// Median proof time.
    pub proof_median: Option<Duration>,
    /// Slowest proof.
    pub proof_max: Option<Duration>,
    /// Per request of the best placement: best program time / lower bound.
    pub bound_ratios: Vec<f64>,
    /// The same best program run plain (its steps one after another) / lower bound.
    pub plain_bound_ratios: Vec<f64>,
    /// The best program's chunk count, per request (1: plain).
    pub chunks: Vec<u64>,
    /// Placements synthesized in the best run.
    pub synthesized: usize,
    /// Placements pruned in the best run.
    pub pruned: usize,
    /// Why they were pruned.
    pub pruned_reason: &'static str,
    /// Statistics over every placement, unless the spec has too many.
    pub all: Option<AllPlacements>,
    /// Peak resident memory of the e-graph `best` synthesis, bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Peak resident memory of the whole problem (both engines, every-placement run).
    pub peak_rss_problem_bytes: Option<u64>,
    /// What the peak covers.
    pub memory_scope: memory::Scope,
}

impl ProblemResult {
    /// Whether both engines finished and their best scores agree (relative 1e-9).
    pub fn engines_agree(&self) -> Option<bool> {
        if !(self.egraph.finished && self.enumerate.finished) {
            return None;
        }
        Some(
            match (self.egraph.best_score_s, self.enumerate.best_score_s) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()),
                (None, None) => true,
                _ => false,
            },
        )
    }

    /// enumeration / e-graph engine time, when enumeration finished.
    pub fn engine_ratio(&self) -> Option<f64> {
        self.enumerate.finished.then(|| {
            self.enumerate.engine_time.as_secs_f64()
                / self.egraph.engine_time.as_secs_f64().max(1e-9)
        })
    }
}

fn run(
    spec: &Spec,
    backend: &dyn Backend,
    rules: &RuleSet,
    opts: &Options,
) -> Result<Synthesis, SynthError> {
    synth::synthesize(spec, backend, rules, opts)
}

fn engine_result(
    spec: &Spec,
    backend: &dyn Backend,
    rules: &RuleSet,
    opts: &Options,
) -> Result<(EngineResult, Synthesis), SynthError> {
    let first = run(spec, backend, rules, opts)?;
    let mut times = vec![first.stats.engine_time];
    let mut pipeline_times = vec![first.stats.pipeline_time];
    let unchecked = Options {
        check: false,
        ..opts.clone()
    };
    let mut spent = first.stats.engine_time;
    while times.len() < MAX_REPS && spent * 2 < REPEAT_BUDGET {
        let again = run(spec, backend, rules, &unchecked)?;
        spent += again.stats.total_time;
        times.push(again.stats.engine_time);
        pipeline_times.push(again.stats.pipeline_time);
    }
    times.sort();
    pipeline_times.sort();
    let s = &first.stats;
    let (finished, stops) = match opts.engine {
        Engine::Egraph => (
            s.saturations.iter().all(|r| r.saturated()),
            s.saturations
                .iter()
                .map(|r| format!("{} dims: {}", r.dims, r.stop_reason))
                .collect(),
        ),
        Engine::Enumerate => (
            s.enumerations.iter().all(|r| r.stop_reason.exhaustive()),
            s.enumerations
                .iter()
                .map(|r| format!("{} dims: {}", r.dims, r.stop_reason))
                .collect(),
        ),
    };
    let best = first.placements.iter().find(|p| p.best);
    let result = EngineResult {
        engine: opts.engine,
        ran: true,
        wall: s.total_time,
        engine_time: times[times.len() / 2],
        pipeline_time: pipeline_times[pipeline_times.len() / 2],
        reps: times.len(),
        finished,
        stops,
        best_score_s: best.map(|p| p.score_s).filter(|x| x.is_finite()),
        best_index: first.best_index,
    };
    Ok((result, first))
}

fn all_placements(
    spec: &Spec,
    backend: &dyn Backend,
    rules: &RuleSet,
) -> Result<AllPlacements, SynthError> {
    let opts = Options {
        top: 1,
        selection: Selection::All,
        ..Options::default()
    };
    let s = run(spec, backend, rules, &opts)?;
    let (mut flat, mut nccl) = (Vec::new(), Vec::new());
    for p in &s.placements {
        for r in &p.results {
            if let Some(best) = r
                .programs
                .first()
                .filter(|b| b.verdict == Some(Verdict::Proved) && b.cost_s > 0.0)
            {
                flat.push(r.flat_s / best.cost_s);
                nccl.push(r.nccl_s / best.cost_s);
            }
        }
    }
    let scores: Vec<f64> = s
        .placements
        .iter()
        .map(|p| p.score_s)
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    let best = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let worst = scores.iter().copied().fold(0.0, f64::max);
    Ok(AllPlacements {
        placements: s.placements.len(),
        flat: Speedup::of(&flat),
        nccl: Speedup::of(&nccl),
        nccl_ratios: nccl,
        placement_ratio: if scores.is_empty() { 1.0 } else { worst / best },
        wall: s.stats.total_time,
        proved: s.stats.proved,
    })
}

/// Runs one problem.
pub fn run_problem(
    problem: &Problem,
    settings: &Settings,
    backend: &dyn Backend,
    rules: &RuleSet,
) -> Result<ProblemResult, SynthError> {
    let scope = memory::reset_peak();
    let spec = &problem.spec;
    let base = Options {
        top: settings.top,
        selection: Selection::Best,
        ..Options::default()
    };
    let mut enum_opts = Options {
        engine: Engine::Enumerate,
        ..base.clone()
    };
    enum_opts.limits.max_steps = settings.max_steps;
    enum_opts.limits.node_budget = settings.enum_budget;
    let (egraph, eg) = engine_result(spec, backend, rules, &base)?;
    let peak_rss_bytes = memory::peak_rss_bytes();
    let dims = eg
        .stats
        .saturations
        .iter()
        .map(|r| r.dims)
        .max()
        .unwrap_or(0);
    let enumerate = if dims <= settings.enum_max_dims {
        engine_result(spec, backend, rules, &enum_opts)?.0
    } else {
        EngineResult {
            engine: Engine::Enumerate,
            ran: false,
            wall: Duration::ZERO,
            engine_time: Duration::ZERO,
            pipeline_time: Duration::ZERO,
            reps: 0,
            finished: false,
            stops: vec![format!(
                "not run: shapes of {dims} dims (the suite enumerates up to {} dims; it stops at its node budget already on 4)",
                settings.enum_max_dims
            )],
            best_score_s: None,
            best_index: None,
        }
    };
    let st = &eg.stats;
    let mut proofs = st.proof_times.clone();
    proofs.sort();
    let best = eg.placements.iter().find(|p| p.best);
    let per_request = |f: &dyn Fn(&crate::synth::ProgramResult) -> f64| -> Vec<f64> {
        best.map(|p| {
            p.results
                .iter()
                .filter(|r| r.priced_s.is_none())
                .map(|r| match r.programs.first() {
                    Some(b) if r.lower_bound_s > 0.0 => f(b) / r.lower_bound_s,
                    Some(_) => 1.0,
                    None => f64::INFINITY,
                })
                .collect()
        })
        .unwrap_or_default()
    };
    let bound_ratios = per_request(&|b| b.cost_s);
    let plain_bound_ratios = per_request(&|b| b.plain_s);
    let chunks = best
        .map(|p| {
            p.results
                .iter()
                .filter(|r| r.priced_s.is_none())
                .map(|r| r.programs.first().map_or(1, |b| b.chunks))
                .collect()
        })
        .unwrap_or_default();
    let found: usize = eg
        .placements
        .iter()
        .flat_map(|p| &p.results)
        .map(|r| r.programs.len())
        .sum::<usize>()
        + st.refuted.len();
    let all = if st.placements <= settings.all_placements_up_to {
        Some(all_placements(spec, backend, rules)?)
    } else {
        None
    };
    Ok(ProblemResult {
        name: problem.name.clone(),
        devices: spec.devices(),
        levels: spec.system.levels.len(),
        axes: spec.axes.len(),
        requests: spec.requests.len(),
        placements: st.placements,
        egraph,
        enumerate,
        egraphs: st
            .saturations
            .iter()
            .map(|r| EgraphSize {
                dims: r.dims,
                nodes: r.nodes,
                classes: r.classes,
                iterations: r.iterations,
                stop_reason: r.stop_reason.clone(),
            })
            .collect(),
        max_steps: settings.max_steps,
        found,
        proven: st.proved,
        refuted: st.refuted.len(),
        unknown: st.unknown,
        proofs_run: st.proof_times.len(),
        proofs_reused: st.proofs_reused,
        proof_median: proofs.get(proofs.len() / 2).copied(),
        proof_max: proofs.last().copied(),
        bound_ratios,
        plain_bound_ratios,
        chunks,
        synthesized: st.synthesized,
        pruned: st.pruned,
        pruned_reason: "lower bound above the best score found (cannot win)",
        all,
        peak_rss_bytes,
        peak_rss_problem_bytes: memory::peak_rss_bytes(),
        memory_scope: scope,
    })
}
