//! Tables for people and JSON for machines (`docs/design.md`, §5.5).
//! Every JSON document carries `"schema_version": 1`; key order is fixed.

pub mod cost;
pub mod prove;
pub mod synth;

use serde_json::{json, Value};

use crate::placement::{self, MatrixText, Placement};
use crate::problem::Problem;
use crate::semantics::{rank_text, Counterexample};
use crate::spec::{Request, Spec};
use crate::verdict::{Checker, Verdict};

/// Systems up to this size get per-rank coordinates in JSON without `--coords`.
pub const COORDS_BY_DEFAULT_UP_TO: u64 = 4096;

fn to_string(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("JSON values serialize");
    s.push('\n');
    s
}

/// `placements` as a table.
pub fn placements_text(spec: &Spec, coords: bool) -> String {
    let mut out = String::new();
    out.push_str(&format!("# {}\n", spec.header()));
    out.push_str(&format!(
        "# matrix rows are axes ({}), columns are levels ({}); written as --matrix takes it\n",
        spec.axes
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        spec.system
            .levels
            .iter()
            .map(|l| l.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let all = placement::enumerate(spec);
    let width = all
        .iter()
        .map(|m| MatrixText(m).to_string().len())
        .max()
        .unwrap_or(6)
        .max(6);
    out.push_str(&format!("{:>5}  {:<width$}  dims\n", "index", "matrix"));
    for (i, m) in all.iter().enumerate() {
        let p = Placement::from_valid_matrix(m.clone());
        let dims = p.dim_names(spec);
        out.push_str(&format!(
            "{i:>5}  {:<width$}  {}\n",
            MatrixText(m).to_string(),
            if dims.is_empty() {
                "(none)".to_string()
            } else {
                dims.join(", ")
            }
        ));
        if coords {
            for r in 0..p.devices() {
                out.push_str(&format!("         {}\n", rank_text(spec, &p, r)));
            }
        }
    }
    out.push_str(&format!("{} placements\n", all.len()));
    out
}

/// `placements --json`.
pub fn placements_json(spec: &Spec, coords: bool) -> String {
    let with_coords = coords || spec.devices() <= COORDS_BY_DEFAULT_UP_TO;
    let placements: Vec<Value> = placement::enumerate(spec)
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let p = Placement::from_valid_matrix(m);
            let mut v = json!({
                "index": i,
                "matrix": p.matrix,
                "dims": p.dim_names(spec),
            });
            if with_coords {
                let c: Vec<Vec<u64>> = (0..p.devices()).map(|r| p.coords(r)).collect();
                v["coords"] = json!(c);
            }
            v
        })
        .collect();
    to_string(&json!({"schema_version": 1, "placements": placements}))
}

fn cex_json(c: &Counterexample) -> Value {
    let mut v = serde_json::to_value(c).expect("counterexamples serialize");
    if c.step.is_none() {
        v["step"] = Value::Null;
    }
    v
}

fn problem_line(p: &Problem) -> String {
    format!(
        "{} on placement {} (matrix {}) of {}",
        p.spec.describe_request(&p.request),
        p.index,
        MatrixText(&p.placement.matrix),
        p.spec.header()
    )
}

fn program_text(p: &Problem) -> String {
    match &p.program {
        Some(prog) if prog.steps.is_empty() => "the empty program".to_string(),
        Some(prog) => prog.text(&p.spec),
        None => format!(
            "a lowered program of {} steps without a group form",
            p.lowered.steps.len()
        ),
    }
}

/// `verify` as text.
/// An undecided verdict prints nothing: the reason goes to stderr.
pub fn verify_text(p: &Problem, verdict: &Verdict, decided_by: Checker) -> String {
    let mut out = String::new();
    match verdict {
        Verdict::Unknown(_) => return out,
        Verdict::Proved => out.push_str(&format!("proved: {}\n", program_text(p))),
        Verdict::Refuted(c) => {
            out.push_str(&format!("refuted: {}\n", program_text(p)));
            out.push_str(&format!("  {}: {}\n", c.kind, c.message));
            if let Some(part) = c.part {
                out.push_str(&format!("  part: {part}\n"));
            }
        }
    }
    out.push_str(&format!("  for {}\n", problem_line(p)));
    let how = if p.program.is_none() {
        format!("{decided_by} (the lowered program is not dim-structured)")
    } else {
        decided_by.to_string()
    };
    out.push_str(&format!("  decided by: {how}\n"));
    out
}

/// A request as JSON: `{"collective", "axes", "bytes"}` (the lowered form's shape).
pub fn request_json(spec: &Spec, r: &Request) -> Value {
    json!({
        "collective": r.collective.to_string(),
        "axes": r.axes.iter().map(|&a| spec.axes[a].name.clone()).collect::<Vec<_>>(),
        "bytes": r.bytes,
    })
}

/// `verify --json`.
pub fn verify_json(p: &Problem, verdict: &Verdict, decided_by: Checker) -> String {
    let decided_by = decided_by.name();
    if let Verdict::Unknown(reason) = verdict {
        return to_string(&json!({
            "schema_version": 1,
            "verdict": "unknown",
            "decided_by": decided_by,
            "reason": reason,
            "program": p.program.as_ref().map(|x| x.text(&p.spec)),
            "placement": p.index,
        }));
    }
    let mut v = json!({
        "schema_version": 1,
        "verdict": verdict.name(),
        "decided_by": decided_by,
        "dim_structured": p.program.is_some(),
        "program": p.program.as_ref().map(|x| x.text(&p.spec)),
        "placement": p.index,
        "matrix": p.placement.matrix,
        "request": request_json(&p.spec, &p.request),
    });
    if let Verdict::Refuted(c) = verdict {
        v["counterexample"] = cex_json(c);
    }
    to_string(&v)
}
