//! `cost` output: per-step tables and summaries for people, and the `cost --json`
//! document of `docs/design.md` (§5.5) (`total_s`, `algbw_gbs`, `busbw_gbs`, `lower_bound_s`,
//! `flat_s`, `steps`; with `--sweep`, one such row per size under `sweep`).

use serde::Serialize;

use super::{finite, problem_line, program_text, to_string};
use crate::cost::{NcclCost, PipelineCost, ProgramCost, StepCost};
use crate::lowered::RequestJson;
use crate::problem::Problem;
use crate::program::{Collective, Program};
use crate::spec::Spec;
use crate::units::{format_bytes, format_seconds};

/// Everything `cost` reports for one buffer size.
#[derive(Debug, Clone)]
pub struct CostRow {
    /// Bytes per device.
    pub bytes: u64,
    /// The program's predicted cost, step by step, run plain (one chunk).
    pub program: ProgramCost,
    /// The program run as its chunk count says (`pipeline(C):`; 1 for a plain
    /// program, equal to `program` then).
    pub pipelined: PipelineCost,
    /// The fastest chunk count for this program at this size (docs/cost-model.md,
    /// §14).
    pub best: PipelineCost,
    /// The request's lower bound at this size.
    pub lower_bound_s: f64,
    /// The flat single-step all_reduce's predicted cost.
    pub flat: ProgramCost,
    /// What NCCL would run by itself.
    pub nccl: NcclCost,
    /// nccl-tests algbw of the program.
    pub algbw_gbs: f64,
    /// nccl-tests busbw of the program.
    pub busbw_gbs: f64,
}

impl CostRow {
    /// The program's predicted time, pipelined as it says.
    pub fn total_s(&self) -> f64 {
        self.pipelined.total_s
    }

    /// Program time over the lower bound (`None` when the bound is 0).
    pub fn ratio_to_bound(&self) -> Option<f64> {
        (self.lower_bound_s > 0.0).then(|| self.total_s() / self.lower_bound_s)
    }

    /// Flat time over program time (`None` when the program takes no time).
    pub fn speedup_vs_flat(&self) -> Option<f64> {
        (self.total_s() > 0.0).then(|| self.flat.total_s / self.total_s())
    }

    /// NCCL's time over program time (`None` when the program takes no time).
    pub fn speedup_vs_nccl(&self) -> Option<f64> {
        (self.total_s() > 0.0).then(|| self.nccl.best_s / self.total_s())
    }
}

fn level_name(spec: &Spec, l: Option<usize>) -> Option<String> {
    l.and_then(|l| spec.system.levels.get(l))
        .map(|x| x.name.clone())
}

fn flat_text(spec: &Spec, flat: &Program) -> String {
    if flat.steps.is_empty() {
        "the empty program".to_string()
    } else {
        flat.text(spec)
    }
}

/// `cost --json`: the problem, then the figures of one size (flattened in) or, with
/// `--sweep`, of every size under `sweep`. Times are seconds; floats that are not
/// finite print as `null`.
#[derive(Serialize)]
struct CostDoc<'a> {
    /// Always 1.
    schema_version: u32,
    /// The program's canonical text; `null` when it is not dim-structured.
    program: Option<String>,
    /// `closed_form` (a dim-structured program) or `general` (explicit groups).
    path: &'static str,
    /// The placement's index.
    placement: usize,
    /// The placement's `matrix[axis][level]`.
    matrix: &'a [Vec<u64>],
    /// The request; its `bytes` are always the spec's (the costed size is `bytes`).
    request: RequestJson,
    /// Level names, outer to inner.
    levels: Vec<&'a str>,
    /// The flat single-step all_reduce over every reduction dim (canonical text).
    flat_program: String,
    /// Whether the flat program gives every device the shard the request numbers
    /// (always true for all_reduce); when false it would need a local relayout.
    flat_numbered: bool,
    /// The nccl-tests busbw factor used.
    busbw_factor: BusbwFactor,
    /// The figures of the costed size (without `--sweep`).
    #[serde(flatten)]
    size: Option<RowDoc<'a>>,
    /// The figures of each size `A, 4A, 16A, … < B`, then `B` (with `--sweep A..B`).
    #[serde(skip_serializing_if = "Option::is_none")]
    sweep: Option<Vec<RowDoc<'a>>>,
}

/// The nccl-tests factor turning algbw into busbw.
#[derive(Serialize)]
struct BusbwFactor {
    /// The collective whose factor it is.
    collective: &'static str,
    /// The group size in the factor.
    n: u64,
}

/// The figures of one size.
#[derive(Serialize)]
struct RowDoc<'a> {
    /// Bytes per device costed.
    bytes: u64,
    /// The program's predicted time (pipelined when the program is).
    total_s: f64,
    /// The program's chunk count (1: plain).
    chunks: u64,
    /// The program's time run plain, one chunk (the sum of `steps`).
    plain_s: f64,
    /// The fastest chunk count for this program at this size, and its time.
    best_chunks: u64,
    /// The time at `best_chunks`.
    best_chunks_s: f64,
    /// nccl-tests algbw, GB/s.
    algbw_gbs: f64,
    /// nccl-tests busbw, GB/s.
    busbw_gbs: f64,
    /// The request's lower bound.
    lower_bound_s: f64,
    /// `total_s / lower_bound_s`; `null` when the bound is 0.
    ratio_to_bound: Option<f64>,
    /// The flat all_reduce's predicted time.
    flat_s: f64,
    /// `flat_s / total_s`; `null` when the program takes no time.
    speedup_vs_flat: Option<f64>,
    /// What NCCL would run by itself (the faster of its ring and tree).
    nccl_s: f64,
    /// `ring` or `tree`: which NCCL algorithm gives `nccl_s`.
    nccl_algorithm: &'static str,
    /// `nccl_s / total_s`; `null` when the program takes no time.
    speedup_vs_nccl: Option<f64>,
    /// The program's local relayout (a `layout(L):` program's copy of the whole
    /// buffer at the system's copy bandwidth, included in `plain_s` and `total_s`);
    /// 0 without one.
    relayout_s: f64,
    /// The program's steps, in order, each on the whole buffer (one chunk).
    steps: Vec<StepDoc<'a>>,
}

/// One step's cost: `time_s = bandwidth_s + latency_s + launch_s`.
#[derive(Serialize)]
struct StepDoc<'a> {
    /// The step's collective.
    collective: &'static str,
    /// Run as a tree (absent: its ring or chain).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tree: bool,
    /// The step's time.
    time_s: f64,
    /// The level whose link decides `bandwidth_s`; `null` when nothing moves.
    bottleneck: Option<String>,
    /// Bandwidth term.
    bandwidth_s: f64,
    /// Latency term.
    latency_s: f64,
    /// Launch cost.
    launch_s: f64,
    /// Bytes each participant holds at the step's start.
    bytes_in: f64,
    /// Each level's name → the bytes on its heaviest link.
    bytes_per_level: PerLevel<'a>,
    /// Each level's name → the heaviest single device's own bytes over that level
    /// (what `device_bandwidth` limits).
    device_bytes_per_level: PerLevel<'a>,
}

/// Level name → bytes, as a JSON object in level order (level names are unique).
struct PerLevel<'a>(Vec<(&'a str, f64)>);

impl Serialize for PerLevel<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().copied())
    }
}

fn step_doc<'a>(spec: &'a Spec, s: &StepCost) -> StepDoc<'a> {
    StepDoc {
        collective: s.collective.name(),
        tree: s.tree,
        time_s: s.time_s,
        bottleneck: level_name(spec, s.bottleneck),
        bandwidth_s: s.bandwidth_s,
        latency_s: s.latency_s,
        launch_s: s.launch_s,
        bytes_in: s.bytes_in,
        bytes_per_level: per_level(spec, &s.bytes_per_level),
        device_bytes_per_level: per_level(spec, &s.device_bytes_per_level),
    }
}

fn per_level<'a>(spec: &'a Spec, bytes: &[f64]) -> PerLevel<'a> {
    PerLevel(
        spec.system
            .levels
            .iter()
            .map(|l| l.name.as_str())
            .zip(bytes.iter().copied())
            .collect(),
    )
}

fn row_doc<'a>(spec: &'a Spec, row: &CostRow) -> RowDoc<'a> {
    RowDoc {
        bytes: row.bytes,
        total_s: row.total_s(),
        chunks: row.pipelined.chunks,
        plain_s: row.program.total_s,
        best_chunks: row.best.chunks,
        best_chunks_s: row.best.total_s,
        algbw_gbs: row.algbw_gbs,
        busbw_gbs: row.busbw_gbs,
        lower_bound_s: row.lower_bound_s,
        ratio_to_bound: row.ratio_to_bound().and_then(finite),
        flat_s: row.flat.total_s,
        speedup_vs_flat: row.speedup_vs_flat().and_then(finite),
        nccl_s: row.nccl.best_s,
        nccl_algorithm: row.nccl.algorithm.name(),
        speedup_vs_nccl: row.speedup_vs_nccl().and_then(finite),
        relayout_s: crate::cost::RelayoutCost::time(&row.program.relayout),
        steps: row
            .program
            .steps
            .iter()
            .map(|s| step_doc(spec, s))
            .collect(),
    }
}

/// The document's problem keys; `size` and `sweep` are left to the caller.
fn cost_doc<'a>(p: &'a Problem, flat: &Program, busbw: (Collective, u64)) -> CostDoc<'a> {
    CostDoc {
        schema_version: 1,
        program: p
            .program
            .as_ref()
            .map(|x| x.pipelined_text(&p.spec, p.chunks)),
        path: if p.program.is_some() {
            "closed_form"
        } else {
            "general"
        },
        placement: p.index,
        matrix: &p.placement.matrix,
        request: super::request_json(&p.spec, &p.request),
        levels: p
            .spec
            .system
            .levels
            .iter()
            .map(|l| l.name.as_str())
            .collect(),
        flat_program: flat.text(&p.spec),
        flat_numbered: crate::cost::flat_is_numbered(&p.placement, &p.request),
        busbw_factor: BusbwFactor {
            collective: busbw.0.name(),
            n: busbw.1,
        },
        size: None,
        sweep: None,
    }
}

/// `cost --json` for one size.
pub fn cost_json(p: &Problem, flat: &Program, busbw: (Collective, u64), row: &CostRow) -> String {
    to_string(&CostDoc {
        size: Some(row_doc(&p.spec, row)),
        ..cost_doc(p, flat, busbw)
    })
}

/// `cost --sweep --json`: the problem keys and one row per size under `sweep`.
pub fn sweep_json(
    p: &Problem,
    flat: &Program,
    busbw: (Collective, u64),
    rows: &[CostRow],
) -> String {
    to_string(&CostDoc {
        sweep: Some(rows.iter().map(|r| row_doc(&p.spec, r)).collect()),
        ..cost_doc(p, flat, busbw)
    })
}

fn ratio(x: Option<f64>) -> String {
    x.map_or("-".to_string(), |r| format!("{r:.3}x"))
}

/// `cost` as text for one size: a table of steps, then the summary.
pub fn cost_text(p: &Problem, flat: &Program, busbw: (Collective, u64), row: &CostRow) -> String {
    let spec = &p.spec;
    let mut out = format!("cost of {}\n", program_text(p));
    out.push_str(&format!("  for {}\n", problem_line(p)));
    out.push_str(&format!(
        "  {} per device{}\n",
        format_bytes(row.bytes as f64),
        if p.program.is_some() {
            ""
        } else {
            " (general path: explicit groups)"
        }
    ));
    let levels: Vec<&str> = spec.system.levels.iter().map(|l| l.name.as_str()).collect();
    let mut head = format!(
        "{:>4}  {:<14}  {:>10}  {:>10}  {:>10}  {:>10}",
        "step", "collective", "time", "bandwidth", "latency", "launch"
    );
    for l in &levels {
        head.push_str(&format!("  {:>10}", format!("{l} link")));
    }
    head.push_str("  bottleneck\n");
    out.push_str(&head);
    // A reduce_scatter program relays its buffer out before its steps, an
    // all_gather program after them (docs/design.md, §3.7).
    let relayout_row = row.program.relayout.as_ref().map(|r| {
        let mut line = format!(
            "{:>4}  {:<14}  {:>10}  {:>10}  {:>10}  {:>10}",
            "-",
            "relayout",
            format_seconds(r.time_s),
            format_seconds(r.time_s),
            format_seconds(0.0),
            format_seconds(0.0)
        );
        for _ in &levels {
            line.push_str(&format!("  {:>10}", "-"));
        }
        line.push_str(&format!(
            "  local copy of {} at {}\n",
            format_bytes(r.bytes),
            crate::units::format_bandwidth(spec.system.copy_bandwidth_bps)
        ));
        line
    });
    let relayout_first = p.request.collective != crate::spec::RequestKind::AllGather;
    if relayout_first {
        out.push_str(relayout_row.as_deref().unwrap_or(""));
    }
    for (i, s) in row.program.steps.iter().enumerate() {
        out.push_str(&format!(
            "{:>4}  {:<14}  {:>10}  {:>10}  {:>10}  {:>10}",
            i + 1,
            s.name(),
            format_seconds(s.time_s),
            format_seconds(s.bandwidth_s),
            format_seconds(s.latency_s),
            format_seconds(s.launch_s)
        ));
        for b in &s.bytes_per_level {
            out.push_str(&format!("  {:>10}", format_bytes(*b)));
        }
        out.push_str(&format!(
            "  {}\n",
            level_name(spec, s.bottleneck).unwrap_or_else(|| "-".into())
        ));
    }
    if !relayout_first {
        out.push_str(relayout_row.as_deref().unwrap_or(""));
    }
    if row.pipelined.chunks > 1 {
        out.push_str(&format!(
            "plain        {}   the steps above, one after another on the whole buffer\n",
            format_seconds(row.program.total_s)
        ));
        out.push_str(&format!(
            "pipelined    {}   {} chunks of {}, overlapped (docs/cost-model.md, §14)\n",
            format_seconds(row.pipelined.total_s),
            row.pipelined.chunks,
            format_bytes(row.bytes as f64 / row.pipelined.chunks as f64)
        ));
    }
    out.push_str(&format!(
        "total        {}   algbw {:.2} GB/s   busbw {:.2} GB/s ({} factor, n = {})\n",
        format_seconds(row.total_s()),
        row.algbw_gbs,
        row.busbw_gbs,
        busbw.0.name(),
        busbw.1
    ));
    out.push_str(&format!(
        "lower bound  {}   program / bound = {}{}\n",
        format_seconds(row.lower_bound_s),
        ratio(row.ratio_to_bound()),
        match row.ratio_to_bound() {
            Some(r) if r < 1.0 =>
                " (faster than any correct program can be: check it with `collsynth verify`)",
            _ => "",
        }
    ));
    out.push_str(&format!(
        "flat         {}   {}{}; speedup of this program over it = {}\n",
        format_seconds(row.flat.total_s),
        flat_text(spec, flat),
        if crate::cost::flat_is_numbered(&p.placement, &p.request) {
            ""
        } else {
            " (wrong shard numbering on this placement: it would need a local relayout, not priced)"
        },
        ratio(row.speedup_vs_flat())
    ));
    out.push_str(&format!(
        "NCCL         {}   its {} over the same group (all channels); speedup of this program over it = {}\n",
        format_seconds(row.nccl.best_s),
        row.nccl.algorithm.name(),
        ratio(row.speedup_vs_nccl())
    ));
    if row.best.chunks != row.pipelined.chunks && row.best.total_s < row.total_s() {
        out.push_str(&format!(
            "pipelining   {}   with pipeline({}): in front of the program ({})\n",
            format_seconds(row.best.total_s),
            row.best.chunks,
            ratio((row.lower_bound_s > 0.0).then(|| row.best.total_s / row.lower_bound_s))
                .replace('x', "x bound")
        ));
    }
    out
}

/// `cost --sweep` as text: one line per size.
pub fn sweep_text(p: &Problem, flat: &Program, rows: &[CostRow]) -> String {
    let mut out = format!("cost of {}\n", program_text(p));
    out.push_str(&format!("  for {}\n", problem_line(p)));
    out.push_str(&format!("  flat: {}\n", flat_text(&p.spec, flat)));
    out.push_str(&format!(
        "{:>10}  {:>10}  {:>10}  {:>9}  {:>10}  {:>9}  {:>11}  {:>10}\n",
        "size", "program", "flat", "vs ring", "NCCL", "vs NCCL", "lower bound", "/ bound"
    ));
    for r in rows {
        out.push_str(&format!(
            "{:>10}  {:>10}  {:>10}  {:>9}  {:>10}  {:>9}  {:>11}  {:>10}\n",
            format_bytes(r.bytes as f64),
            format_seconds(r.total_s()),
            format_seconds(r.flat.total_s),
            ratio(r.speedup_vs_flat()),
            format_seconds(r.nccl.best_s),
            ratio(r.speedup_vs_nccl()),
            format_seconds(r.lower_bound_s),
            ratio(r.ratio_to_bound())
        ));
    }
    out
}
