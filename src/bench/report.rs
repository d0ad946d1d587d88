//! `collsynth bench` output: a table per problem for people, JSON for machines
//! (`schema_version` 1), and the machine the figures came from.

use serde_json::{json, Value};

use super::{ProblemResult, Settings};
use crate::units::format_seconds;

/// The machine: CPUs, CPU model, memory, load (from `/proc`, where available).
#[derive(Debug, Clone, Default)]
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
    /// Flat-speedup cases over every problem, wins, mean and max speedup.
    pub flat_cases: usize,
    /// Wins.
    pub flat_wins: usize,
    /// Mean flat / best over all cases.
    pub flat_mean: f64,
    /// Largest flat / best.
    pub flat_max: f64,
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
        if let Some(a) = &r.all {
            s.flat_cases += a.flat.cases;
            s.flat_wins += a.flat.wins;
            flat_sum += a.flat.mean * a.flat.cases as f64;
            s.flat_max = s.flat_max.max(a.flat.max);
            let p = a.placement_ratio;
            s.max_placement_ratio = Some(s.max_placement_ratio.map_or(p, |m| m.max(p)));
        }
        s.unproven += r.refuted + r.unknown;
    }
    if s.flat_cases > 0 {
        s.flat_mean = flat_sum / s.flat_cases as f64;
    }
    s
}

fn opt_f(x: Option<f64>) -> Value {
    x.filter(|v| v.is_finite())
        .map_or(Value::Null, |v| json!(v))
}

fn problem_json(r: &ProblemResult) -> Value {
    let engine = |e: &super::EngineResult| {
        json!({
            "ran": e.ran,
            "wall_s": secs(e.wall),
            "engine_s": secs(e.engine_time),
            "reps": e.reps,
            "finished": e.finished,
            "stops": e.stops,
            "best_score_s": opt_f(e.best_score_s),
            "best_placement": e.best_index,
        })
    };
    let all = r.all.as_ref().map_or(Value::Null, |a| {
        json!({
            "placements": a.placements,
            "cases": a.flat.cases,
            "wins": a.flat.wins,
            "win_share": if a.flat.cases == 0 { Value::Null } else { json!(a.flat.wins as f64 / a.flat.cases as f64) },
            "mean_speedup": a.flat.mean,
            "max_speedup": a.flat.max,
            "placement_ratio": a.placement_ratio,
            "wall_s": secs(a.wall),
            "proved": a.proved,
        })
    });
    json!({
        "name": r.name,
        "devices": r.devices,
        "levels": r.levels,
        "axes": r.axes,
        "requests": r.requests,
        "placements": r.placements,
        "engines": {"egraph": engine(&r.egraph), "enumerate": engine(&r.enumerate)},
        "engine_ratio": opt_f(r.engine_ratio()),
        "wall_ratio": opt_f(r.enumerate.finished.then(|| secs(r.enumerate.wall) / secs(r.egraph.wall).max(1e-9))),
        "engines_agree": r.engines_agree(),
        "max_steps": r.max_steps,
        "egraphs": r.egraphs.iter().map(|g| json!({
            "dims": g.dims, "nodes": g.nodes, "classes": g.classes,
            "iterations": g.iterations, "stop_reason": g.stop_reason,
        })).collect::<Vec<_>>(),
        "candidates": {"found": r.found, "proven": r.proven, "refuted": r.refuted, "unknown": r.unknown},
        "proofs": {
            "run": r.proofs_run,
            "reused": r.proofs_reused,
            "median_s": r.proof_median.map(secs),
            "max_s": r.proof_max.map(secs),
        },
        "bound_ratios": r.bound_ratios.iter().map(|&b| opt_f(Some(b))).collect::<Vec<_>>(),
        "pruning": {"synthesized": r.synthesized, "pruned": r.pruned, "reason": r.pruned_reason},
        "all_placements": all,
        "memory": {
            "peak_rss_bytes": r.peak_rss_bytes,
            "peak_rss_problem_bytes": r.peak_rss_problem_bytes,
            "scope": r.memory_scope.name(),
        },
    })
}

/// The JSON document.
pub fn bench_json(settings: &Settings, machine: &Machine, results: &[ProblemResult]) -> String {
    let s = summary(results);
    let doc = json!({
        "schema_version": 1,
        "suite": settings.suite.name(),
        "settings": {
            "top": settings.top,
            "max_steps": settings.max_steps,
            "enum_budget": settings.enum_budget,
            "enum_max_dims": settings.enum_max_dims,
            "all_placements_up_to": settings.all_placements_up_to,
        },
        "machine": {
            "nproc": machine.nproc,
            "cpu": machine.cpu,
            "mem_bytes": machine.mem_bytes,
            "load": machine.load,
        },
        "problems": results.iter().map(problem_json).collect::<Vec<_>>(),
        "summary": {
            "problems": s.problems,
            "paper_scale_max_wall_s": opt_f(s.paper_scale_max_wall_s),
            "min_engine_ratio": opt_f(s.min_engine_ratio),
            "engines_compared": s.compared,
            "engines_agree": s.agree,
            "max_bound_ratio": opt_f(s.max_bound_ratio),
            "flat_cases": s.flat_cases,
            "flat_wins": s.flat_wins,
            "flat_win_share": if s.flat_cases == 0 { Value::Null } else { json!(s.flat_wins as f64 / s.flat_cases as f64) },
            "flat_mean_speedup": s.flat_mean,
            "flat_max_speedup": s.flat_max,
            "max_placement_ratio": opt_f(s.max_placement_ratio),
            "unproven": s.unproven,
        },
    });
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
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
        let ratios: Vec<String> = r.bound_ratios.iter().map(|b| format!("{b:.3}")).collect();
        out.push_str(&format!(
            "  best / lower bound per request: {}; {} synthesized, {} pruned ({})\n",
            ratios.join(", "),
            r.synthesized,
            r.pruned,
            r.pruned_reason
        ));
        if let Some(a) = &r.all {
            out.push_str(&format!(
                "  every placement ({} in {}, {} proved): synthesized beats flat in {}/{} cases, mean {:.3}x, max {:.3}x; worst/best placement {:.1}x\n",
                a.placements,
                t(a.wall),
                a.proved,
                a.flat.wins,
                a.flat.cases,
                a.flat.mean,
                a.flat.max,
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
        "largest best / lower bound: {}\n",
        s.max_bound_ratio.map_or("-".into(), |x| format!("{x:.3}"))
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
    }
    out.push_str(&format!(
        "largest worst/best placement ratio: {}\n",
        s.max_placement_ratio
            .map_or("-".into(), |x| format!("{x:.1}x"))
    ));
    out.push_str(&format!("printed programs not proven: {}\n", s.unproven));
    out
}
