//! `cost` output: per-step tables and summaries for people, and the `cost --json`
//! document of `docs/design.md` (§5.5) (`total_s`, `algbw_gbs`, `busbw_gbs`, `lower_bound_s`,
//! `flat_s`, `steps`; with `--sweep`, one such row per size under `sweep`).

use serde_json::{json, Map, Value};

use super::{problem_line, program_text, to_string};
use crate::cost::{ProgramCost, StepCost};
use crate::problem::Problem;
use crate::program::{Collective, Program};
use crate::spec::Spec;
use crate::units::{format_bytes, format_seconds};

/// Everything `cost` reports for one buffer size.
#[derive(Debug, Clone)]
pub struct CostRow {
    /// Bytes per device.
    pub bytes: u64,
    /// The program's predicted cost.
    pub program: ProgramCost,
    /// The request's lower bound at this size.
    pub lower_bound_s: f64,
    /// The flat single-step all_reduce's predicted cost.
    pub flat: ProgramCost,
    /// nccl-tests algbw of the program.
    pub algbw_gbs: f64,
    /// nccl-tests busbw of the program.
    pub busbw_gbs: f64,
}

impl CostRow {
    /// Program time over the lower bound (`None` when the bound is 0).
    pub fn ratio_to_bound(&self) -> Option<f64> {
        (self.lower_bound_s > 0.0).then(|| self.program.total_s / self.lower_bound_s)
    }

    /// Flat time over program time (`None` when the program takes no time).
    pub fn speedup_vs_flat(&self) -> Option<f64> {
        (self.program.total_s > 0.0).then(|| self.flat.total_s / self.program.total_s)
    }
}

/// A finite number, or JSON null.
fn num(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn opt(x: Option<f64>) -> Value {
    x.map_or(Value::Null, num)
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

fn step_json(spec: &Spec, s: &StepCost) -> Value {
    let mut per_level = Map::new();
    for (level, bytes) in spec.system.levels.iter().zip(&s.bytes_per_level) {
        per_level.insert(level.name.clone(), num(*bytes));
    }
    json!({
        "collective": s.collective.name(),
        "time_s": num(s.time_s),
        "bottleneck": level_name(spec, s.bottleneck),
        "bandwidth_s": num(s.bandwidth_s),
        "latency_s": num(s.latency_s),
        "launch_s": num(s.launch_s),
        "bytes_in": num(s.bytes_in),
        "bytes_per_level": per_level,
    })
}

fn row_json(spec: &Spec, row: &CostRow) -> Value {
    json!({
        "bytes": row.bytes,
        "total_s": num(row.program.total_s),
        "algbw_gbs": num(row.algbw_gbs),
        "busbw_gbs": num(row.busbw_gbs),
        "lower_bound_s": num(row.lower_bound_s),
        "ratio_to_bound": opt(row.ratio_to_bound()),
        "flat_s": num(row.flat.total_s),
        "speedup_vs_flat": opt(row.speedup_vs_flat()),
        "steps": row.program.steps.iter().map(|s| step_json(spec, s)).collect::<Vec<_>>(),
    })
}

fn header_json(p: &Problem, flat: &Program, busbw: (Collective, u64)) -> Map<String, Value> {
    let v = json!({
        "schema_version": 1,
        "program": p.program.as_ref().map(|x| x.text(&p.spec)),
        "path": if p.program.is_some() { "closed_form" } else { "general" },
        "placement": p.index,
        "matrix": p.placement.matrix,
        "request": super::request_json(&p.spec, &p.request),
        "levels": p.spec.system.levels.iter().map(|l| l.name.clone()).collect::<Vec<_>>(),
        "flat_program": flat.text(&p.spec),
        "busbw_factor": {"collective": busbw.0.name(), "n": busbw.1},
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `cost --json` for one size.
pub fn cost_json(p: &Problem, flat: &Program, busbw: (Collective, u64), row: &CostRow) -> String {
    let mut m = header_json(p, flat, busbw);
    if let Value::Object(r) = row_json(&p.spec, row) {
        m.extend(r);
    }
    to_string(&Value::Object(m))
}

/// `cost --sweep --json`: the header keys and one row per size under `sweep`.
pub fn sweep_json(
    p: &Problem,
    flat: &Program,
    busbw: (Collective, u64),
    rows: &[CostRow],
) -> String {
    let mut m = header_json(p, flat, busbw);
    m.insert(
        "sweep".into(),
        Value::Array(rows.iter().map(|r| row_json(&p.spec, r)).collect()),
    );
    to_string(&Value::Object(m))
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
    for (i, s) in row.program.steps.iter().enumerate() {
        out.push_str(&format!(
            "{:>4}  {:<14}  {:>10}  {:>10}  {:>10}  {:>10}",
            i + 1,
            s.collective.name(),
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
    out.push_str(&format!(
        "total        {}   algbw {:.2} GB/s   busbw {:.2} GB/s ({} factor, n = {})\n",
        format_seconds(row.program.total_s),
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
        "flat         {}   {}; speedup of this program over it = {}\n",
        format_seconds(row.flat.total_s),
        flat_text(spec, flat),
        ratio(row.speedup_vs_flat())
    ));
    out
}

/// `cost --sweep` as text: one line per size.
pub fn sweep_text(p: &Problem, flat: &Program, rows: &[CostRow]) -> String {
    let mut out = format!("cost of {}\n", program_text(p));
    out.push_str(&format!("  for {}\n", problem_line(p)));
    out.push_str(&format!("  flat: {}\n", flat_text(&p.spec, flat)));
    out.push_str(&format!(
        "{:>10}  {:>10}  {:>10}  {:>9}  {:>11}  {:>10}\n",
        "size", "program", "flat", "speedup", "lower bound", "/ bound"
    ));
    for r in rows {
        out.push_str(&format!(
            "{:>10}  {:>10}  {:>10}  {:>9}  {:>11}  {:>10}\n",
            format_bytes(r.bytes as f64),
            format_seconds(r.program.total_s),
            format_seconds(r.flat.total_s),
            ratio(r.speedup_vs_flat()),
            format_seconds(r.lower_bound_s),
            ratio(r.ratio_to_bound())
        ));
    }
    out
}
