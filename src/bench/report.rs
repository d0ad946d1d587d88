//! `collsynth bench` output: a table per problem for people, JSON for machines
//! (`schema_version` 1), and the machine the figures came from.

use serde::Serialize;

use super::{ProblemResult, Settings};
use crate::report::{finite, to_string};
use crate::synth::stop::StopReason;
use crate::units::format_seconds;

/// The machine: CPUs, CPU model, memory, load (from `/proc`, where available). It
/// serializes as `machine` of `bench --json` (`null` where unavailable).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Machine {
    /// Logical CPUs available to the process.
    pub nproc: usize,
    /// `model name` of the first CPU in `/proc/cpuinfo`.
    pub cpu: Option<String>,
    /// `MemTotal` of `/proc/meminfo`, bytes.
    pub mem_bytes: Option<u64>,
    /// The three load averages of `/proc/loadavg`.
    pub load: Option<[f64; 3]>,
}

impl Machine {
    /// Reads the machine's description now.
    pub fn now() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let cpu = read("/proc/cpuinfo").and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        });
        let mem_bytes = read("/proc/meminfo").and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
                .map(|k| k * 1024)
        });
        let load = read("/proc/loadavg").and_then(|t| {
            let v: Vec<f64> = t
                .split_whitespace()
                .take(3)
                .filter_map(|x| x.parse().ok())
                .collect();
            (v.len() == 3).then(|| [v[0], v[1], v[2]])
        });
        Machine {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            mem_bytes,
            load,
        }
    }

    fn text(&self) -> String {
        format!(
            "{} CPUs ({}), {} memory, load {}",
            self.nproc,
            self.cpu.as_deref().unwrap_or("unknown CPU"),
            self.mem_bytes.map_or("unknown".into(), mib),
            self.load.map_or("unknown".into(), |l| format!(
                "{:.2} {:.2} {:.2}",
                l[0], l[1], l[2]
            ))
        )
    }
}

fn mib(b: u64) -> String {
    format!("{:.0} MiB", b as f64 / (1024.0 * 1024.0))
}

fn secs(d: std::time::Duration) -> f64 {
    d.as_secs_f64()
}

/// Aggregates over the problems: where the suite stands on its targets (docs/benchmarks.md).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Problems.
    pub problems: usize,
    /// Slowest e-graph `best` synthesis among problems of at most 64 devices, seconds.
    pub paper_scale_max_wall_s: Option<f64>,
    /// Smallest enumeration / e-graph engine-time ratio where enumeration finished.
    pub min_engine_ratio: Option<f64>,
    /// Problems where both engines finished, and how many of them agree.
    pub compared: usize,
    /// Of those, agreeing on the best score.
    pub agree: usize,
    /// Largest best-program / lower-bound ratio over every problem and request.
    pub max_bound_ratio: Option<f64>,
    /// Largest plain (unpipelined) best-program / lower-bound ratio.
    pub max_plain_bound_ratio: Option<f64>,
    /// Flat-speedup cases over every problem, wins, mean and max speedup.
    pub flat_cases: usize,
    /// Wins.
    pub flat_wins: usize,
    /// Mean flat / best over all cases.
    pub flat_mean: f64,
    /// Largest flat / best.
    pub flat_max: f64,
    /// The speedup over NCCL's own algorithm over every case of every problem.
    pub nccl: crate::bench::Speedup,
    /// Its median (NCCL / best).
    pub nccl_median: Option<f64>,
    /// Largest worst/best placement ratio.
    pub max_placement_ratio: Option<f64>,
    /// Printed programs refuted or undecided anywhere (must be 0).
    pub unproven: usize,
}

/// Computes the summary.
pub fn summary(results: &[ProblemResult]) -> Summary {
    let mut s = Summary {
        problems: results.len(),
        ..Summary::default()
    };
    let mut flat_sum = 0.0;
    let mut nccl: Vec<f64> = Vec::new();
    for r in results {
        if r.devices <= 64 {
            let w = secs(r.egraph.wall);
            s.paper_scale_max_wall_s = Some(s.paper_scale_max_wall_s.map_or(w, |x| x.max(w)));
        }
        if let Some(x) = r.engine_ratio() {
            s.min_engine_ratio = Some(s.min_engine_ratio.map_or(x, |m| m.min(x)));
        }
        if let Some(a) = r.engines_agree() {
            s.compared += 1;
            s.agree += usize::from(a);
        }
        for &b in &r.bound_ratios {
            s.max_bound_ratio = Some(s.max_bound_ratio.map_or(b, |m| m.max(b)));
        }
        for &b in &r.plain_bound_ratios {
            s.max_plain_bound_ratio = Some(s.max_plain_bound_ratio.map_or(b, |m| m.max(b)));
        }
        if let Some(a) = &r.all {
            s.flat_cases += a.flat.cases;
            s.flat_wins += a.flat.wins;
            flat_sum += a.flat.mean * a.flat.cases as f64;
            s.flat_max = s.flat_max.max(a.flat.max);
            nccl.extend(&a.nccl_ratios);
            let p = a.placement_ratio;
            s.max_placement_ratio = Some(s.max_placement_ratio.map_or(p, |m| m.max(p)));
        }
        s.unproven += r.refuted + r.unknown;
    }
    if s.flat_cases > 0 {
        s.flat_mean = flat_sum / s.flat_cases as f64;
    }
    s.nccl = crate::bench::Speedup::of(&nccl);
    nccl.sort_by(f64::total_cmp);
    s.nccl_median = (!nccl.is_empty()).then(|| nccl[nccl.len() / 2]);
    s
}

/// `bench --json`. Times are seconds measured on this machine; floats that are not
/// finite print as `null`.
#[derive(Serialize)]
struct BenchDoc<'a> {
    /// Always 1.
    schema_version: u32,
    /// `quick` or `full`.
    suite: &'static str,
    /// The settings the suite ran with.
    settings: SettingsDoc,
    /// The machine the figures came from.
    machine: &'a Machine,
    /// One per problem, in suite order.
    problems: Vec<ProblemDoc<'a>>,
    /// Aggregates over the problems.
    summary: SummaryDoc,
}

/// `settings` of `bench --json` (see [`Settings`]).
#[derive(Serialize)]
struct SettingsDoc {
    /// Programs per placement and request in the `best` runs.
    top: usize,
    /// Longest program enumeration tries.
    max_steps: usize,
    /// Enumeration's node budget per shape.
    enum_budget: u64,
    /// Most reduction dims enumeration is run on.
    enum_max_dims: usize,
    /// Placements above which the every-placement statistics are skipped.
    all_placements_up_to: usize,
}

/// One problem of `bench --json`.
#[derive(Serialize)]
struct ProblemDoc<'a> {
    /// Problem name (a spec path or a generated hierarchy's name).
    name: &'a str,
    /// Devices.
    devices: u64,
    /// Levels.
    levels: usize,
    /// Axes.
    axes: usize,
    /// Requests.
    requests: usize,
    /// Placements of the spec.
    placements: usize,
    /// Both engines' runs.
    engines: EnginesDoc<'a>,
    /// Enumeration / e-graph engine time; `null` unless enumeration finished.
    engine_ratio: Option<f64>,
    /// Enumeration / e-graph wall time; `null` unless enumeration finished.
    wall_ratio: Option<f64>,
    /// Whether the best scores are equal; `null` unless both engines finished.
    engines_agree: Option<bool>,
    /// Most steps enumeration was allowed.
    max_steps: usize,
    /// The e-graphs the e-graph run built.
    egraphs: Vec<EgraphDoc<'a>>,
    /// Printed programs of the e-graph run.
    candidates: CandidatesDoc,
    /// The proofs behind them.
    proofs: ProofsDoc,
    /// Per request of the best placement: best program time / lower bound.
    bound_ratios: Vec<Option<f64>>,
    /// Per request: the same best program run plain / lower bound.
    plain_bound_ratios: Vec<Option<f64>>,
    /// Per request: the best program's chunk count (1: plain).
    chunks: &'a [u64],
    /// Placements synthesized and pruned in the best run.
    pruning: PruningDoc,
    /// The `--placement all --top 1` run; `null` above `all_placements_up_to`
    /// placements.
    all_placements: Option<AllPlacementsDoc>,
    /// Peak resident memory.
    memory: MemoryDoc,
}

/// `engines` of a problem.
#[derive(Serialize)]
struct EnginesDoc<'a> {
    /// Equality saturation.
    egraph: EngineDoc<'a>,
    /// Enumeration (the baseline).
    enumerate: EngineDoc<'a>,
}

/// One engine on one problem.
#[derive(Serialize)]
struct EngineDoc<'a> {
    /// Whether it ran at all.
    ran: bool,
    /// Wall time of the synthesis with proofs.
    wall_s: f64,
    /// Median time finding candidates.
    engine_s: f64,
    /// Median time pricing them at their best chunk count (not in `engine_s`).
    pipeline_s: f64,
    /// Timing repetitions behind the median.
    reps: usize,
    /// Whether every saturation saturated / every enumeration completed.
    finished: bool,
    /// Why runs stopped, one per e-graph or enumeration.
    stops: &'a [String],
    /// The best placement's score (Σ count × best time); `null` if none.
    best_score_s: Option<f64>,
    /// The best placement's index; `null` if none.
    best_placement: Option<usize>,
}

/// An e-graph's size and how its saturation ended.
#[derive(Serialize)]
struct EgraphDoc<'a> {
    /// Reduction dims.
    dims: usize,
    /// E-nodes.
    nodes: usize,
    /// E-classes.
    classes: usize,
    /// Iterations.
    iterations: usize,
    /// Why saturation stopped.
    stop_reason: &'a StopReason,
}

/// `candidates` of a problem: printed programs of the e-graph run.
#[derive(Serialize)]
struct CandidatesDoc {
    /// Found (and checked).
    found: usize,
    /// Proven.
    proven: usize,
    /// Refuted (a rewrite rule is unsound).
    refuted: usize,
    /// Undecided.
    unknown: usize,
}

/// `proofs` of a problem.
#[derive(Serialize)]
struct ProofsDoc {
    /// Proofs run (distinct queries).
    run: usize,
    /// Verdicts reused from an identical query.
    reused: usize,
    /// Median proof time; `null` without proofs.
    median_s: Option<f64>,
    /// Slowest proof; `null` without proofs.
    max_s: Option<f64>,
}

/// `pruning` of a problem: the best run's placements.
#[derive(Serialize)]
struct PruningDoc {
    /// Synthesized.
    synthesized: usize,
    /// Pruned.
    pruned: usize,
    /// Why they were pruned.
    reason: &'static str,
}

/// `all_placements` of a problem: the every-placement run.
#[derive(Serialize)]
struct AllPlacementsDoc {
    /// Placements synthesized.
    placements: usize,
    /// Placement × request cases with a proven best program.
    cases: usize,
    /// Cases where the best program beats the flat all_reduce.
    wins: usize,
    /// `wins / cases`; `null` without cases.
    win_share: Option<f64>,
    /// Mean flat / best time over the cases.
    mean_speedup: f64,
    /// Largest flat / best time.
    max_speedup: f64,
    /// Cases where the best program beats NCCL's own algorithm.
    nccl_wins: usize,
    /// Mean NCCL / best time over the cases.
    nccl_mean_speedup: f64,
    /// Smallest NCCL / best time.
    nccl_min_speedup: Option<f64>,
    /// Largest NCCL / best time.
    nccl_max_speedup: f64,
    /// Worst finite score / best score.
    placement_ratio: f64,
    /// Wall time of the run.
    wall_s: f64,
    /// Programs proved in it.
    proved: usize,
}

/// `memory` of a problem.
#[derive(Serialize)]
struct MemoryDoc {
    /// Peak resident memory of the e-graph `best` synthesis, bytes.
    peak_rss_bytes: Option<u64>,
    /// Peak resident memory of the whole problem, bytes.
    peak_rss_problem_bytes: Option<u64>,
    /// `problem` (the peak was reset before it) or `process` (the process's peak).
    scope: &'static str,
}

/// `summary` of `bench --json` (see [`Summary`]).
#[derive(Serialize)]
struct SummaryDoc {
    /// Problems.
    problems: usize,
    /// Slowest e-graph `best` synthesis among problems of at most 64 devices.
    paper_scale_max_wall_s: Option<f64>,
    /// Smallest enumeration / e-graph engine-time ratio where enumeration finished.
    min_engine_ratio: Option<f64>,
    /// Problems where both engines finished.
    engines_compared: usize,
    /// Of those, agreeing on the best score.
    engines_agree: usize,
    /// Largest best-program / lower-bound ratio over every problem and request.
    max_bound_ratio: Option<f64>,
    /// Largest best / lower bound with every best program run plain.
    max_plain_bound_ratio: Option<f64>,
    /// Placement × request cases of the every-placement runs.
    flat_cases: usize,
    /// Cases where the best program beats the flat all_reduce.
    flat_wins: usize,
    /// `flat_wins / flat_cases`; `null` without cases.
    flat_win_share: Option<f64>,
    /// Mean flat / best time over all cases.
    flat_mean_speedup: f64,
    /// Largest flat / best time.
    flat_max_speedup: f64,
    /// Cases where the best program beats NCCL's own algorithm.
    nccl_wins: usize,
    /// `nccl_wins / flat_cases`; `null` without cases.
    nccl_win_share: Option<f64>,
    /// Mean NCCL / best time over all cases.
    nccl_mean_speedup: f64,
    /// Median NCCL / best time.
    nccl_median_speedup: Option<f64>,
    /// Smallest NCCL / best time.
    nccl_min_speedup: Option<f64>,
    /// Largest NCCL / best time.
    nccl_max_speedup: f64,
    /// Largest worst/best placement ratio.
    max_placement_ratio: Option<f64>,
    /// Printed programs refuted or undecided anywhere (must be 0).
    unproven: usize,
}

/// `Some` finite number, else `None` (`null`).
fn opt_f(x: Option<f64>) -> Option<f64> {
    x.and_then(finite)
}

/// `num / den`, `None` when `den` is 0.
fn share(num: usize, den: usize) -> Option<f64> {
    (den != 0).then(|| num as f64 / den as f64)
}

fn engine_doc(e: &super::EngineResult) -> EngineDoc<'_> {
    EngineDoc {
        ran: e.ran,
        wall_s: secs(e.wall),
        engine_s: secs(e.engine_time),
        pipeline_s: secs(e.pipeline_time),
        reps: e.reps,
        finished: e.finished,
        stops: &e.stops,
        best_score_s: opt_f(e.best_score_s),
        best_placement: e.best_index,
    }
}

fn problem_doc(r: &ProblemResult) -> ProblemDoc<'_> {
    ProblemDoc {
        name: &r.name,
        devices: r.devices,
        levels: r.levels,
        axes: r.axes,
        requests: r.requests,
        placements: r.placements,
        engines: EnginesDoc {
            egraph: engine_doc(&r.egraph),
            enumerate: engine_doc(&r.enumerate),
        },
        engine_ratio: opt_f(r.engine_ratio()),
        wall_ratio: opt_f(
            r.enumerate
                .finished
                .then(|| secs(r.enumerate.wall) / secs(r.egraph.wall).max(1e-9)),
        ),
        engines_agree: r.engines_agree(),
        max_steps: r.max_steps,
        egraphs: r
            .egraphs
            .iter()
            .map(|g| EgraphDoc {
                dims: g.dims,
                nodes: g.nodes,
                classes: g.classes,
                iterations: g.iterations,
                stop_reason: &g.stop_reason,
            })
            .collect(),
        candidates: CandidatesDoc {
            found: r.found,
            proven: r.proven,
            refuted: r.refuted,
            unknown: r.unknown,
        },
        proofs: ProofsDoc {
            run: r.proofs_run,
            reused: r.proofs_reused,
            median_s: r.proof_median.map(secs),
            max_s: r.proof_max.map(secs),
        },
        bound_ratios: r.bound_ratios.iter().map(|&b| finite(b)).collect(),
        plain_bound_ratios: r.plain_bound_ratios.iter().map(|&b| finite(b)).collect(),
        chunks: &r.chunks,
        pruning: PruningDoc {
            synthesized: r.synthesized,
            pruned: r.pruned,
            reason: r.pruned_reason,
        },
        all_placements: r.all.as_ref().map(|a| AllPlacementsDoc {
            placements: a.placements,
            cases: a.flat.cases,
            wins: a.flat.wins,
            win_share: share(a.flat.wins, a.flat.cases),
            mean_speedup: a.flat.mean,
            max_speedup: a.flat.max,
            nccl_wins: a.nccl.wins,
            nccl_mean_speedup: a.nccl.mean,
            nccl_min_speedup: finite(a.nccl.min),
            nccl_max_speedup: a.nccl.max,
            placement_ratio: a.placement_ratio,
            wall_s: secs(a.wall),
            proved: a.proved,
        }),
        memory: MemoryDoc {
            peak_rss_bytes: r.peak_rss_bytes,
            peak_rss_problem_bytes: r.peak_rss_problem_bytes,
            scope: r.memory_scope.name(),
        },
    }
}

/// The JSON document.
pub fn bench_json(settings: &Settings, machine: &Machine, results: &[ProblemResult]) -> String {
    let s = summary(results);
    to_string(&BenchDoc {
        schema_version: 1,
        suite: settings.suite.name(),
        settings: SettingsDoc {
            top: settings.top,
            max_steps: settings.max_steps,
            enum_budget: settings.enum_budget,
            enum_max_dims: settings.enum_max_dims,
            all_placements_up_to: settings.all_placements_up_to,
        },
        machine,
        problems: results.iter().map(problem_doc).collect(),
        summary: SummaryDoc {
            problems: s.problems,
            paper_scale_max_wall_s: opt_f(s.paper_scale_max_wall_s),
            min_engine_ratio: opt_f(s.min_engine_ratio),
            engines_compared: s.compared,
            engines_agree: s.agree,
            max_bound_ratio: opt_f(s.max_bound_ratio),
            max_plain_bound_ratio: opt_f(s.max_plain_bound_ratio),
            flat_cases: s.flat_cases,
            flat_wins: s.flat_wins,
            flat_win_share: share(s.flat_wins, s.flat_cases),
            flat_mean_speedup: s.flat_mean,
            flat_max_speedup: s.flat_max,
            nccl_wins: s.nccl.wins,
            nccl_win_share: share(s.nccl.wins, s.nccl.cases),
            nccl_mean_speedup: s.nccl.mean,
            nccl_median_speedup: s.nccl_median,
            nccl_min_speedup: finite(s.nccl.min),
            nccl_max_speedup: s.nccl.max,
            max_placement_ratio: opt_f(s.max_placement_ratio),
            unproven: s.unproven,
        },
    })
}

fn t(d: std::time::Duration) -> String {
    format_seconds(d.as_secs_f64())
}

fn engine_cell(e: &super::EngineResult) -> String {
    if !e.ran {
        "not run".into()
    } else if e.finished {
        format!("{} ({})", t(e.engine_time), t(e.wall))
    } else {
        format!("did not finish ({})", t(e.wall))
    }
}

/// The text report.
pub fn bench_text(settings: &Settings, machine: &Machine, results: &[ProblemResult]) -> String {
    let mut out = format!(
        "# collsynth bench --suite {}: {} problem(s); enumeration up to {} steps, {} nodes per shape; top {}\n# machine: {}\n",
        settings.suite.name(),
        results.len(),
        settings.max_steps,
        settings.enum_budget,
        settings.top,
        machine.text()
    );
    out.push_str("# engine time (wall with proofs); ratio = enumeration / e-graph engine time\n\n");
    for r in results {
        out.push_str(&format!(
            "{}: {} devices, {} levels, {} axes, {} request(s), {} placement(s)\n",
            r.name, r.devices, r.levels, r.axes, r.requests, r.placements
        ));
        let ratio = match r.engine_ratio() {
            Some(x) => format!("{x:.1}x"),
            None if !r.enumerate.ran => format!("n/a ({})", r.enumerate.stops.join("; ")),
            None => "n/a (enumeration did not finish)".into(),
        };
        let agree = match r.engines_agree() {
            Some(true) => "best programs equally good",
            Some(false) => "BEST PROGRAMS DIFFER",
            None => "not compared",
        };
        out.push_str(&format!(
            "  egraph {} | enumerate {} | ratio {ratio} | {agree}\n",
            engine_cell(&r.egraph),
            engine_cell(&r.enumerate)
        ));
        let graphs: Vec<String> = r
            .egraphs
            .iter()
            .map(|g| format!("{} dims {} nodes ({})", g.dims, g.nodes, g.stop_reason))
            .collect();
        out.push_str(&format!("  e-graphs: {}\n", graphs.join(", ")));
        out.push_str(&format!(
            "  programs: {} found, {} proven, {} refuted, {} undecided; {} proofs (median {}, max {}), {} verdicts reused\n",
            r.found,
            r.proven,
            r.refuted,
            r.unknown,
            r.proofs_run,
            r.proof_median.map_or("-".into(), t),
            r.proof_max.map_or("-".into(), t),
            r.proofs_reused
        ));
        let ratios: Vec<String> = r
            .bound_ratios
            .iter()
            .zip(&r.plain_bound_ratios)
            .zip(&r.chunks)
            .map(|((b, plain), c)| {
                if *c > 1 {
                    format!("{b:.3} (pipeline({c}); plain {plain:.3})")
                } else {
                    format!("{b:.3}")
                }
            })
            .collect();
        out.push_str(&format!(
            "  best / lower bound per request: {}; {} synthesized, {} pruned ({})\n",
            ratios.join(", "),
            r.synthesized,
            r.pruned,
            r.pruned_reason
        ));
        if let Some(a) = &r.all {
            out.push_str(&format!(
                "  every placement ({} in {}, {} proved): synthesized beats the flat ring in {}/{} cases, mean {:.3}x, max {:.3}x; beats NCCL in {}/{}, mean {:.3}x, min {:.3}x, max {:.3}x; worst/best placement {:.1}x\n",
                a.placements,
                t(a.wall),
                a.proved,
                a.flat.wins,
                a.flat.cases,
                a.flat.mean,
                a.flat.max,
                a.nccl.wins,
                a.nccl.cases,
                a.nccl.mean,
                a.nccl.min,
                a.nccl.max,
                a.placement_ratio
            ));
        } else {
            out.push_str("  every placement: skipped (too many placements)\n");
        }
        out.push_str(&format!(
            "  peak memory: {} (e-graph best run), {} (problem; scope {})\n\n",
            r.peak_rss_bytes.map_or("-".into(), mib),
            r.peak_rss_problem_bytes.map_or("-".into(), mib),
            r.memory_scope.name()
        ));
    }
    let s = summary(results);
    out.push_str("# summary\n");
    out.push_str(&format!(
        "paper-scale (<= 64 devices) slowest synth: {}\n",
        s.paper_scale_max_wall_s.map_or("-".into(), format_seconds)
    ));
    out.push_str(&format!(
        "smallest engine ratio where enumeration finished: {}\n",
        s.min_engine_ratio
            .map_or("-".into(), |x| format!("{x:.1}x"))
    ));
    out.push_str(&format!(
        "engines agree on the best program: {}/{} compared\n",
        s.agree, s.compared
    ));
    out.push_str(&format!(
        "largest best / lower bound: {} (the same programs run plain: {})\n",
        s.max_bound_ratio.map_or("-".into(), |x| format!("{x:.3}")),
        s.max_plain_bound_ratio
            .map_or("-".into(), |x| format!("{x:.3}"))
    ));
    if s.flat_cases > 0 {
        out.push_str(&format!(
            "synthesized beats flat all_reduce in {}/{} placement x request cases ({:.0}%), mean {:.3}x, max {:.3}x\n",
            s.flat_wins,
            s.flat_cases,
            100.0 * s.flat_wins as f64 / s.flat_cases as f64,
            s.flat_mean,
            s.flat_max
        ));
        out.push_str(&format!(
            "synthesized beats NCCL's own ring/tree in {}/{} cases ({:.0}%), NCCL / best: mean {:.3}x, median {:.3}x, min {:.3}x, max {:.3}x\n",
            s.nccl.wins,
            s.nccl.cases,
            100.0 * s.nccl.wins as f64 / s.nccl.cases.max(1) as f64,
            s.nccl.mean,
            s.nccl_median.unwrap_or(0.0),
            s.nccl.min,
            s.nccl.max
        ));
    }
    out.push_str(&format!(
        "largest worst/best placement ratio: {}\n",
        s.max_placement_ratio
            .map_or("-".into(), |x| format!("{x:.1}x"))
    ));
    out.push_str(&format!("printed programs not proven: {}\n", s.unproven));
    out
}
