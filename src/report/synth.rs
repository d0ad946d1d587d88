//! `synth` output: a table per placement and request for people, and the JSON of
//! `docs/design.md` (§5.5) for machines. Nothing printed depends on
//! wall-clock time (timings go to the log).

use serde::Serialize;

use super::{
    all_coords, finite, framework_lines, rank_order_names, request_json, to_string,
    COORDS_BY_DEFAULT_UP_TO,
};
use crate::lowered::{self, LoweredStep, RequestJson};
use crate::spec::{RequestKind, Spec};
use crate::synth::backend::Backend;
use crate::synth::stop::StopReason;
use crate::synth::{Engine, PlacementResult, ProgramResult, RequestResult, Synthesis};
use crate::units::{format_bytes, format_seconds};
use crate::verdict::Verdict;

/// A request in words, with its size, count and (when not 1) exposed share.
pub(crate) fn request_line(spec: &Spec, i: usize) -> String {
    let r = &spec.requests[i];
    format!(
        "{} ({}, count {}{})",
        spec.describe_request(r),
        format_bytes(r.bytes as f64),
        r.count,
        if r.exposed_ppm == 1_000_000 {
            String::new()
        } else {
            format!(", exposed {}", r.exposed())
        }
    )
}

/// The table's word for a printed program's verdict (refuted programs are never
/// printed): `proved*` when its proof is another placement's, carried across sizes.
pub(crate) fn verdict(pr: &ProgramResult) -> &'static str {
    if pr.proved_on.is_some() {
        return "proved*";
    }
    match &pr.verdict {
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
    if let Some(t) = st.tree {
        out.push_str(&format!(
            "# branch and bound over placements: {} node(s) visited, {} subtree(s) pruned\n",
            t.visited, t.pruned
        ));
    }
    for l in engine_lines(s) {
        out.push_str(&format!("# {l}\n"));
    }
    out.push_str(&format!(
        "# checked by {}: {} proved, {} refuted, {} undecided{}\n",
        st.checker,
        st.proved,
        st.refuted.len(),
        st.unknown,
        if st.interpreted > 0 {
            format!(
                " ({} of them, reduce_scatter or all_gather, decided by the reference interpreter: the SMT verifier leaves those undecided)",
                st.interpreted
            )
        } else {
            String::new()
        }
    ));
    if st.proofs_carried > 0 {
        out.push_str(&format!(
            "# proved*: {} of the proofs are another placement's proof of the same abstract program at other sizes, which carries to every size (proofs/README.md, \"One proof for every size\"; --json names the placement)\n",
            st.proofs_carried
        ));
    }
    out.push_str(
        "# /bound: time over the lower bound; vs ring: speedup over the flat ring (one ring in rank order); vs NCCL: over what NCCL runs by itself (its ring or tree, all channels)\n",
    );
    out.push_str(
        "# busbw: nccl-tests' bus bandwidth of the whole request, algbw x 2(n-1)/n; for a program of several steps it is an average rate, not one link's load, and can exceed the slowest link's bandwidth\n",
    );
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
    for line in framework_lines(spec, &p.placement) {
        out.push_str(&format!("  {line}\n"));
    }
    for r in &p.results {
        let req = &spec.requests[r.request];
        if let Some(t) = r.priced_s {
            out.push_str(&format!(
                "  request {}: {}: {} (priced: {} is not synthesized{})\n",
                r.request,
                request_line(spec, r.request),
                format_seconds(t),
                req.collective,
                if req.collective.is_sharded() {
                    ", at its flat single step"
                } else {
                    ""
                }
            ));
            continue;
        }
        out.push_str(&format!(
            "  request {}: {}: lower bound {}, flat ring {}, NCCL {}\n",
            r.request,
            request_line(spec, r.request),
            format_seconds(r.lower_bound_s),
            format_seconds(r.flat_s),
            format_seconds(r.nccl_s)
        ));
        if r.programs.is_empty() {
            out.push_str("    no program found\n");
            continue;
        }
        out.push_str(&format!(
            "    {:>2}  {:>10}  {:>11}  {:>7}  {:>7}  {:>7}  {:<8}  program\n",
            "#", "time", "busbw", "/bound", "vs ring", "vs NCCL", "verified"
        ));
        for (i, pr) in r.programs.iter().enumerate() {
            let busbw = backend.busbw_gbs(r.group_size, req.bytes, pr.cost_s);
            out.push_str(&format!(
                "    {:>2}  {:>10}  {:>11}  {:>7}  {:>7}  {:>7}  {:<8}  {}\n",
                i + 1,
                format_seconds(pr.cost_s),
                format!("{busbw:.1} GB/s"),
                ratio(pr.cost_s, r.lower_bound_s),
                ratio(r.flat_s, pr.cost_s),
                ratio(r.nccl_s, pr.cost_s),
                verdict(pr),
                if pr.program.steps.is_empty() {
                    "(the empty program: nothing to reduce)".to_string()
                } else {
                    pr.program.pipelined_text(spec, pr.chunks)
                }
            ));
        }
        if let Some(note) = nccl_note(req.collective, r) {
            out.push_str(&format!("    {note}\n"));
        }
    }
    out
}

/// The line under a request's programs when NCCL's own collective over the whole
/// group (`nccl_s`) beats every one of them. The programs' steps are priced as
/// rings and chains in rank order, or trees; one call over the group on NCCL runs
/// NCCL's own algorithm over all channels (its ring spreads the traffic over the
/// members' links and pays each hop at its own level). Equal figures (to rounding: a one-level group's ring is the flat
/// ring) say nothing.
pub(crate) fn nccl_note(collective: RequestKind, r: &RequestResult) -> Option<String> {
    let best = r.programs.first()?;
    if r.nccl_s >= best.cost_s * (1.0 - 1e-6) {
        return None;
    }
    let algorithm = if collective == RequestKind::AllReduce {
        "ring or tree"
    } else {
        "ring"
    };
    Some(format!(
        "on NCCL, one {collective} over the whole group, with NCCL's own {algorithm} ({}), beats these programs (priced as rank-order rings, chains and trees): issue that single call",
        format_seconds(r.nccl_s)
    ))
}

/// `a / b` as the table prints it (`1.234x`), `-` when `b` is not positive.
pub(crate) fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.3}x", a / b)
    } else {
        "-".into()
    }
}

/// `synth --json`.
#[derive(Serialize)]
struct SynthDoc<'a> {
    /// Always 1.
    schema_version: u32,
    /// The spec's requests, in spec order.
    requests: Vec<SpecRequestDoc>,
    /// The placements shown, best score first (ties by index).
    placements: Vec<PlacementDoc<'a>>,
    /// `egraph` or `enumerate`.
    engine: Option<&'static str>,
    /// What the run did.
    stats: StatsDoc<'a>,
}

/// A request of the spec: the lowered form's request and how often it runs.
#[derive(Serialize)]
struct SpecRequestDoc {
    /// `{collective, axes, bytes}` (bytes per device).
    #[serde(flatten)]
    request: RequestJson,
    /// Times the request runs per training step.
    count: u64,
    /// The share of its time on the critical path; `count × exposed` weighs it in
    /// `score_s`.
    exposed: f64,
}

/// A placement of `synth --json`.
#[derive(Serialize)]
struct PlacementDoc<'a> {
    /// The placement's index.
    index: usize,
    /// `matrix[axis][level]`.
    matrix: &'a [Vec<u64>],
    /// Σ over requests of `count` × `exposed` × the best program's `cost_s` (a
    /// send_recv request's `priced_s`), seconds; `null` when a request has no program.
    score_s: Option<f64>,
    /// Whether this is the winner.
    best: bool,
    /// The dims as `"level:axis"`, in significance order.
    dims: Vec<String>,
    /// The axes, fastest-varying first, when every rank is the mixed radix of its
    /// axis coordinates in that order; `null` otherwise.
    rank_order: Option<Vec<String>>,
    /// `coords[rank][axis]`; present when the system has at most
    /// [`COORDS_BY_DEFAULT_UP_TO`] devices or `--coords` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    coords: Option<Vec<Vec<u64>>>,
    /// One per request, in spec order.
    results: Vec<ResultDoc>,
}

/// A request on a placement.
#[derive(Serialize)]
struct ResultDoc {
    /// The request's index in the spec.
    request: usize,
    /// The request's lower bound on this placement, seconds.
    lower_bound_s: f64,
    /// The single-step all_reduce over every reduction dim (one ring in rank order),
    /// seconds.
    flat_s: f64,
    /// What NCCL would run by itself for the flat group (the faster of its ring and
    /// tree on the same links), seconds.
    nccl_s: f64,
    /// A send_recv request's price, seconds (it has no programs); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    priced_s: Option<f64>,
    /// The best programs, best first.
    programs: Vec<ProgramDoc>,
}

/// A program found for a request.
#[derive(Serialize)]
struct ProgramDoc {
    /// Canonical text, with its `pipeline(C): ` prefix when pipelined.
    text: String,
    /// The chunk count (1: plain).
    chunks: u64,
    /// Its steps' time run one after another on the whole buffer, plus its relayout's,
    /// seconds (equal to `cost_s` when `chunks` is 1).
    plain_s: f64,
    /// A `layout(L):` program's relayout order as `level:axis` names, first most
    /// significant (docs/design.md, §3.7); absent without one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    layout: Vec<String>,
    /// The lowered steps, `[{collective, groups}]` (groups of ranks); present when
    /// the system has at most [`COORDS_BY_DEFAULT_UP_TO`] devices or `--groups` is
    /// given.
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<Vec<LoweredStep>>,
    /// Predicted time, seconds.
    cost_s: f64,
    /// True when proved; false when undecided.
    verified: bool,
    /// When the proof is another placement's, at other sizes, carried here by
    /// proofs/README.md's "One proof for every size": that placement's index.
    #[serde(skip_serializing_if = "Option::is_none")]
    proved_on_placement: Option<usize>,
}

/// `stats` of `synth --json`.
#[derive(Serialize)]
struct StatsDoc<'a> {
    /// Placements of the spec.
    placements: usize,
    /// Placements whose programs were found.
    synthesized: usize,
    /// Placements skipped (see `pruned_because`).
    pruned: usize,
    /// Why placements are pruned.
    pruned_because: &'static str,
    /// How the placements were searched: `branch_and_bound` (the best placement,
    /// docs/design.md §9) or `every_placement` (listed, then pruned by bound).
    search: &'static str,
    /// Nodes of the branch and bound taken from its queue (0 for `every_placement`).
    nodes_visited: u64,
    /// Subtrees the branch and bound cut (0 for `every_placement`).
    subtrees_pruned: u64,
    /// Distinct request × reduction-dim problems solved.
    shapes: usize,
    /// What checked the programs (`smt`).
    checker: &'static str,
    /// Printed programs proved.
    proved: usize,
    /// Of `proved`, those whose proof carried from a placement with other sizes.
    proofs_carried: usize,
    /// Programs refuted (a rewrite rule is unsound).
    refuted: usize,
    /// Printed programs undecided.
    unknown: usize,
    /// Of the proved and refuted, how many the reference interpreter decided
    /// because the SMT verifier left them undecided (reduce_scatter, all_gather).
    interpreted: usize,
    /// One per e-graph built, by dim count.
    saturations: Vec<SaturationDoc<'a>>,
}

/// One e-graph's saturation.
#[derive(Serialize)]
struct SaturationDoc<'a> {
    /// Reduction dims.
    dims: usize,
    /// Why it stopped (`saturated`, `iteration limit`, ...).
    stop_reason: &'a StopReason,
    /// Iterations run.
    iterations: usize,
    /// E-nodes.
    nodes: usize,
    /// E-classes.
    classes: usize,
}

/// `synth --json`, with per-rank groups (`steps`) on small systems only.
pub fn synth_json(spec: &Spec, s: &Synthesis, coords: bool) -> String {
    synth_json_with(spec, s, coords, false)
}

/// `synth --json`: `coords` and `groups` force every rank's coordinates and every
/// program's lowered `steps`, which are otherwise given only up to
/// [`COORDS_BY_DEFAULT_UP_TO`] devices.
pub fn synth_json_with(spec: &Spec, s: &Synthesis, coords: bool, groups: bool) -> String {
    let with_coords = coords || spec.devices() <= COORDS_BY_DEFAULT_UP_TO;
    let with_groups = groups || spec.devices() <= COORDS_BY_DEFAULT_UP_TO;
    let requests = spec
        .requests
        .iter()
        .map(|r| SpecRequestDoc {
            request: request_json(spec, r),
            count: r.count,
            exposed: r.exposed(),
        })
        .collect();
    let placements = s
        .placements
        .iter()
        .map(|p| PlacementDoc {
            index: p.index,
            matrix: &p.placement.matrix,
            score_s: finite(p.score_s),
            best: p.best,
            dims: p.placement.dim_names(spec),
            rank_order: rank_order_names(spec, &p.placement),
            coords: with_coords.then(|| all_coords(&p.placement)),
            results: p
                .results
                .iter()
                .map(|r| ResultDoc {
                    request: r.request,
                    lower_bound_s: r.lower_bound_s,
                    flat_s: r.flat_s,
                    nccl_s: r.nccl_s,
                    priced_s: r.priced_s,
                    programs: r
                        .programs
                        .iter()
                        .map(|pr| ProgramDoc {
                            text: pr.program.pipelined_text(spec, pr.chunks),
                            chunks: pr.chunks,
                            plain_s: pr.plain_s,
                            layout: pr.program.layout.iter().map(|d| d.name(spec)).collect(),
                            steps: with_groups
                                .then(|| lowered::lower(&p.placement, &pr.program).steps),
                            cost_s: pr.cost_s,
                            verified: pr.verdict == Some(Verdict::Proved),
                            proved_on_placement: pr.proved_on,
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let st = &s.stats;
    to_string(&SynthDoc {
        schema_version: 1,
        requests,
        placements,
        engine: st.engine.map(Engine::name),
        stats: StatsDoc {
            placements: st.placements,
            synthesized: st.synthesized,
            pruned: st.pruned,
            pruned_because: "lower bound exceeds the best score",
            search: if st.tree.is_some() {
                "branch_and_bound"
            } else {
                "every_placement"
            },
            nodes_visited: st.tree.map_or(0, |t| t.visited),
            subtrees_pruned: st.tree.map_or(0, |t| t.pruned),
            shapes: st.shapes,
            checker: st.checker.name(),
            proved: st.proved,
            proofs_carried: st.proofs_carried,
            refuted: st.refuted.len(),
            unknown: st.unknown,
            interpreted: st.interpreted,
            saturations: st
                .saturations
                .iter()
                .map(|r| SaturationDoc {
                    dims: r.dims,
                    stop_reason: &r.stop_reason,
                    iterations: r.iterations,
                    nodes: r.nodes,
                    classes: r.classes,
                })
                .collect(),
        },
    })
}
