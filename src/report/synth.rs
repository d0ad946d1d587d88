//! `synth` output: a table per placement and request for people, and the JSON of
//! `docs/design.md` (§5.5) for machines. Nothing printed depends on
//! wall-clock time (timings go to the log).

use serde_json::{json, Value};

use super::COORDS_BY_DEFAULT_UP_TO;
use crate::lowered;
use crate::spec::Spec;
use crate::synth::backend::Backend;
use crate::synth::{Engine, PlacementResult, Synthesis};
use crate::units::{format_bytes, format_seconds};
use crate::verdict::Verdict;

fn request_line(spec: &Spec, i: usize) -> String {
    let r = &spec.requests[i];
    format!(
        "{} ({}, count {})",
        spec.describe_request(r),
        format_bytes(r.bytes as f64),
        r.count
    )
}

/// The table's word for a printed program's verdict (refuted programs are never
/// printed).
fn verdict(v: &Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::Proved) => "proved",
        Some(Verdict::Refuted(_)) => "REFUTED",
        Some(Verdict::Unknown(_)) | None => "unknown",
    }
}

/// One line per engine run: what stopped it and how big it got.
fn engine_lines(s: &Synthesis) -> Vec<String> {
    let mut out = Vec::new();
    for r in &s.stats.saturations {
        out.push(format!(
            "e-graph over {} dims: {} after {} iterations, {} nodes, {} classes",
            r.dims, r.stop_reason, r.iterations, r.nodes, r.classes
        ));
    }
    let mut by_dims: std::collections::BTreeMap<usize, (usize, u64, bool)> = Default::default();
    for r in &s.stats.enumerations {
        let e = by_dims.entry(r.dims).or_default();
        e.0 += 1;
        e.1 += r.visited;
        e.2 |= !r.stop_reason.exhaustive();
    }
    for (dims, (runs, visited, cut)) in by_dims {
        out.push(format!(
            "enumeration over {dims} dims: {runs} runs, {visited} prefixes visited{}",
            if cut {
                ", cut short by the node budget"
            } else {
                ", complete"
            }
        ));
    }
    out
}

/// `synth` as text.
pub fn synth_text(spec: &Spec, s: &Synthesis, backend: &dyn Backend) -> String {
    let st = &s.stats;
    let mut out = format!("# {}\n", spec.header());
    for i in 0..spec.requests.len() {
        out.push_str(&format!("# request {i}: {}\n", request_line(spec, i)));
    }
    out.push_str(&format!(
        "# engine {}: {} placement(s), {} synthesized ({} shape(s)), {} pruned{}\n",
        st.engine.map_or("?", Engine::name),
        st.placements,
        st.synthesized,
        st.shapes,
        st.pruned,
        if st.pruned > 0 {
            " (their lower bound exceeds the best score)"
        } else {
            ""
        }
    ));
    for l in engine_lines(s) {
        out.push_str(&format!("# {l}\n"));
    }
    out.push_str(&format!(
        "# checked by {}: {} proved, {} refuted, {} undecided\n",
        st.checker,
        st.proved,
        st.refuted.len(),
        st.unknown
    ));
    for p in &s.placements {
        out.push('\n');
        out.push_str(&placement_text(spec, p, backend));
    }
    out
}

fn placement_text(spec: &Spec, p: &PlacementResult, backend: &dyn Backend) -> String {
    let dims = p.placement.dim_names(spec);
    let mut out = format!(
        "placement {}  matrix {}  ({})  score {}{}\n",
        p.index,
        p.placement.matrix_text(),
        if dims.is_empty() {
            "no dims".to_string()
        } else {
            dims.join(", ")
        },
        if p.score_s.is_finite() {
            format_seconds(p.score_s)
        } else {
            "none (a request has no program)".into()
        },
        if p.best { "  <- best" } else { "" }
    );
    for r in &p.results {
        let req = &spec.requests[r.request];
        out.push_str(&format!(
            "  request {}: {}: lower bound {}, flat all_reduce {}\n",
            r.request,
            request_line(spec, r.request),
            format_seconds(r.lower_bound_s),
            format_seconds(r.flat_s)
        ));
        if r.programs.is_empty() {
            out.push_str("    no program found\n");
            continue;
        }
        out.push_str(&format!(
            "    {:>2}  {:>10}  {:>11}  {:>7}  {:>7}  {:<8}  program\n",
            "#", "time", "busbw", "/bound", "speedup", "verified"
        ));
        for (i, pr) in r.programs.iter().enumerate() {
            let busbw = backend.busbw_gbs(r.group_size, req.bytes, pr.cost_s);
            let ratio = |a: f64, b: f64| {
                if b > 0.0 {
                    format!("{:.3}x", a / b)
                } else {
                    "-".into()
                }
            };
            out.push_str(&format!(
                "    {:>2}  {:>10}  {:>11}  {:>7}  {:>7}  {:<8}  {}\n",
                i + 1,
                format_seconds(pr.cost_s),
                format!("{busbw:.1} GB/s"),
                ratio(pr.cost_s, r.lower_bound_s),
                ratio(r.flat_s, pr.cost_s),
                verdict(&pr.verdict),
                if pr.program.steps.is_empty() {
                    "(the empty program: nothing to reduce)".to_string()
                } else {
                    pr.program.text(spec)
                }
            ));
        }
    }
    out
}

/// `synth --json`.
pub fn synth_json(spec: &Spec, s: &Synthesis, coords: bool) -> String {
    let with_coords = coords || spec.devices() <= COORDS_BY_DEFAULT_UP_TO;
    let requests: Vec<Value> = spec
        .requests
        .iter()
        .map(|r| {
            json!({
                "collective": r.collective.to_string(),
                "axes": r.axes.iter().map(|&a| spec.axes[a].name.clone()).collect::<Vec<_>>(),
                "bytes": r.bytes,
                "count": r.count,
            })
        })
        .collect();
    let placements: Vec<Value> = s
        .placements
        .iter()
        .map(|p| {
            let results: Vec<Value> = p
                .results
                .iter()
                .map(|r| {
                    let programs: Vec<Value> = r
                        .programs
                        .iter()
                        .map(|pr| {
                            let low = lowered::lower(&p.placement, &pr.program);
                            json!({
                                "text": pr.program.text(spec),
                                "steps": low.steps,
                                "cost_s": pr.cost_s,
                                "verified": pr.verdict == Some(Verdict::Proved),
                            })
                        })
                        .collect();
                    json!({
                        "request": r.request,
                        "lower_bound_s": r.lower_bound_s,
                        "flat_s": r.flat_s,
                        "programs": programs,
                    })
                })
                .collect();
            let mut v = json!({
                "index": p.index,
                "matrix": p.placement.matrix,
                "score_s": if p.score_s.is_finite() { json!(p.score_s) } else { Value::Null },
                "best": p.best,
                "dims": p.placement.dim_names(spec),
            });
            if with_coords {
                let c: Vec<Vec<u64>> = (0..p.placement.devices())
                    .map(|r| p.placement.coords(r))
                    .collect();
                v["coords"] = json!(c);
            }
            v["results"] = json!(results);
            v
        })
        .collect();
    let st = &s.stats;
    let v = json!({
        "schema_version": 1,
        "requests": requests,
        "placements": placements,
        "engine": st.engine.map(Engine::name),
        "stats": {
            "placements": st.placements,
            "synthesized": st.synthesized,
            "pruned": st.pruned,
            "pruned_because": "lower bound exceeds the best score",
            "shapes": st.shapes,
            "checker": st.checker.name(),
            "proved": st.proved,
            "refuted": st.refuted.len(),
            "unknown": st.unknown,
            "saturations": st.saturations.iter().map(|r| json!({
                "dims": r.dims, "stop_reason": r.stop_reason, "iterations": r.iterations,
                "nodes": r.nodes, "classes": r.classes,
            })).collect::<Vec<_>>(),
        },
    });
    let mut s = serde_json::to_string_pretty(&v).expect("JSON values serialize");
    s.push('\n');
    s
}
