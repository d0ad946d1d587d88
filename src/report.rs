//! Tables for people and JSON for machines (`docs/design.md`, §5.5).
//! Every JSON document carries `"schema_version": 1`; key order is fixed. Each
//! document is one `#[derive(Serialize)]` struct next to the function that fills
//! it: a struct's field order is its key order (serde_json's `preserve_order`).

pub mod calibrate;
pub mod cost;
pub mod html;
pub mod prove;
pub mod synth;

use serde::Serialize;

use crate::lowered::RequestJson;
use crate::placement::{self, MatrixText, Placement};
use crate::problem::Problem;
use crate::semantics::{rank_text, Counterexample};
use crate::spec::{Request, Spec};
use crate::verdict::{Checker, Verdict};

/// Systems up to this size get per-rank coordinates in JSON without `--coords`.
pub const COORDS_BY_DEFAULT_UP_TO: u64 = 4096;

/// A document as printed: pretty JSON and a final newline.
pub(crate) fn to_string<T: Serialize>(doc: &T) -> String {
    let mut s = serde_json::to_string_pretty(doc).expect("the document serializes");
    s.push('\n');
    s
}

/// A float that JSON can carry: `None` (printed `null`) when not finite.
pub(crate) fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// `coords[rank][axis]` of every rank of a placement (§2's rank ↔ coordinates).
pub(crate) fn all_coords(p: &Placement) -> Vec<Vec<u64>> {
    (0..p.devices()).map(|r| p.coords(r)).collect()
}

/// Megatron-Core's word for an axis name, when it has one.
fn framework_word(name: &str) -> Option<&'static str> {
    Some(match name {
        "data" | "dp" => "dp",
        "tensor" | "model" | "tp" => "tp",
        "pipe" | "pipeline" | "pp" => "pp",
        "context" | "cp" => "cp",
        "expert" | "ep" => "ep",
        _ => return None,
    })
}

/// A placement's `rank_order` as axis names (fastest-varying first), or `None`.
pub(crate) fn rank_order_names(spec: &Spec, p: &Placement) -> Option<Vec<String>> {
    p.rank_order()
        .map(|o| o.iter().map(|&a| spec.axes[a].name.clone()).collect())
}

/// The lines a user pastes into a training script to get this placement's rank
/// numbering, or what to use instead when no order expresses it. Each line is
/// unindented.
///
/// With an order: `Megatron-Core: order="tp-dp-pp"` when every axis of size > 1 has a
/// Megatron word (data→dp, tensor/model→tp, pipe/pipeline→pp, context→cp,
/// expert→ep; axes of size 1 are left out, Megatron-Core adds them itself) and no
/// two share one, then the row-major torch `init_device_mesh` and JAX `Mesh`
/// (slowest axis first). Without one: why, and the explicit torch `DeviceMesh` and
/// JAX `Mesh` over the placement's rank grid (one mesh dimension per axis, spec
/// order; `jax.devices()` taken in rank order).
pub fn framework_lines(spec: &Spec, p: &Placement) -> Vec<String> {
    let tuple = |v: &[String]| {
        if v.len() == 1 {
            format!("({},)", v[0])
        } else {
            format!("({})", v.join(", "))
        }
    };
    let ints = |v: &[u64]| tuple(&v.iter().map(u64::to_string).collect::<Vec<_>>());
    let names = |axes: &[usize]| {
        tuple(
            &axes
                .iter()
                .map(|&a| format!("\"{}\"", spec.axes[a].name))
                .collect::<Vec<_>>(),
        )
    };
    let Some(order) = p.rank_order() else {
        // The rank grid indexed by axis coordinates (spec order): ranks in dim order
        // reshaped to the dims' sizes, the dims regrouped axis by axis (each axis's
        // dims outer level first), then merged into one mesh dimension per axis.
        let dim_sizes: Vec<u64> = p.dims.iter().map(|d| d.size).collect();
        let perm: Vec<u64> = (0..spec.axes.len())
            .flat_map(|a| {
                p.dims
                    .iter()
                    .enumerate()
                    .filter(move |(_, d)| d.axis == a)
                    .map(|(i, _)| i as u64)
            })
            .collect();
        let sizes: Vec<u64> = spec.axes.iter().map(|a| a.size).collect();
        let all: Vec<usize> = (0..spec.axes.len()).collect();
        let grid = format!(
            "reshape{}.{}{}.reshape{}",
            ints(&dim_sizes),
            "{}",
            ints(&perm),
            ints(&sizes)
        );
        let why = match p.split_axis() {
            Some((a, b)) => format!(
                "`{}` is spread over ranks on both sides of `{}`'s",
                spec.axes[a].name, spec.axes[b].name
            ),
            None => "its axes interleave in the rank numbering".to_string(),
        };
        return vec![
            format!(
                "no rank order ({why}): Megatron-Core's order= and init_device_mesh cannot express it; build the mesh from its rank grid, or have the launcher map ranks to devices"
            ),
            format!(
                "torch: DeviceMesh(\"cuda\", torch.arange({}).{}, mesh_dim_names={})",
                p.devices(),
                grid.replace("{}", "permute"),
                names(&all)
            ),
            format!(
                "jax: Mesh(np.array(jax.devices()[:{}]).{}, {})",
                p.devices(),
                grid.replace("{}", "transpose"),
                names(&all)
            ),
        ];
    };
    let mut out = Vec::new();
    let words: Vec<Option<&str>> = order
        .iter()
        .filter(|&&a| spec.axes[a].size > 1)
        .map(|&a| framework_word(&spec.axes[a].name))
        .collect();
    let mut distinct: Vec<&str> = words.iter().flatten().copied().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if !words.is_empty() && words.iter().all(Option::is_some) && distinct.len() == words.len() {
        let w: Vec<&str> = words.into_iter().flatten().collect();
        out.push(format!("Megatron-Core: order=\"{}\"", w.join("-")));
    }
    let slow_first: Vec<usize> = order.iter().rev().copied().collect();
    let shape: Vec<u64> = slow_first.iter().map(|&a| spec.axes[a].size).collect();
    out.push(format!(
        "torch: init_device_mesh(\"cuda\", {}, mesh_dim_names={})",
        ints(&shape),
        names(&slow_first)
    ));
    out.push(format!(
        "jax: Mesh(np.array(jax.devices()[:{}]).reshape{}, {})",
        p.devices(),
        ints(&shape),
        names(&slow_first)
    ));
    out
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
        for line in framework_lines(spec, &p) {
            out.push_str(&format!("       {line}\n"));
        }
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
#[derive(Serialize)]
struct PlacementsDoc {
    /// Always 1.
    schema_version: u32,
    /// Every placement of the spec, in index order.
    placements: Vec<PlacementDoc>,
}

/// One placement of `placements --json`.
#[derive(Serialize)]
struct PlacementDoc {
    /// The placement's index (what `--placement N` takes).
    index: usize,
    /// `matrix[axis][level]`: the factor of each level's arity given to each axis.
    matrix: Vec<Vec<u64>>,
    /// The dims as `"level:axis"`, in significance order.
    dims: Vec<String>,
    /// The axes, fastest-varying first, when every rank is the mixed radix of its
    /// axis coordinates in that order; `null` otherwise.
    rank_order: Option<Vec<String>>,
    /// `coords[rank][axis]`; present when the system has at most
    /// [`COORDS_BY_DEFAULT_UP_TO`] devices or `--coords` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    coords: Option<Vec<Vec<u64>>>,
}

/// `placements --json`.
pub fn placements_json(spec: &Spec, coords: bool) -> String {
    let with_coords = coords || spec.devices() <= COORDS_BY_DEFAULT_UP_TO;
    let placements = placement::enumerate(spec)
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let p = Placement::from_valid_matrix(m);
            PlacementDoc {
                index: i,
                dims: p.dim_names(spec),
                rank_order: rank_order_names(spec, &p),
                coords: with_coords.then(|| all_coords(&p)),
                matrix: p.matrix,
            }
        })
        .collect();
    to_string(&PlacementsDoc {
        schema_version: 1,
        placements,
    })
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
    format!(
        "{}{}",
        crate::program::pipeline_prefix(p.chunks),
        plain_program_text(p)
    )
}

fn plain_program_text(p: &Problem) -> String {
    match &p.program {
        Some(prog) if prog.steps.is_empty() => "the empty program".to_string(),
        Some(prog) => prog.text(&p.spec),
        None => format!(
            "a lowered program of {} steps without a group form",
            p.lowered.as_ref().map_or(0, |l| l.steps.len())
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
    if p.chunks > 1 {
        out.push_str(&format!(
            "  pipelined: {} chunks of {} bytes; a pipelined program is correct exactly when its program is (proofs/README.md, \"Pipelined programs\")\n",
            p.chunks,
            p.request.bytes / p.chunks
        ));
    }
    let how = if p.program.is_none() {
        format!("{decided_by} (the lowered program is not dim-structured)")
    } else {
        decided_by.to_string()
    };
    out.push_str(&format!("  decided by: {how}\n"));
    out
}

/// A request as JSON: `{collective, axes, bytes}`, the lowered form's request (the
/// collective's keyword, the axis names, bytes per device).
pub fn request_json(spec: &Spec, r: &Request) -> RequestJson {
    RequestJson {
        collective: r.collective.to_string(),
        axes: r.axes.iter().map(|&a| spec.axes[a].name.clone()).collect(),
        bytes: r.bytes,
    }
}

/// `verify --json` when the verdict is decided (proved or refuted).
#[derive(Serialize)]
struct VerifyDoc<'a> {
    /// Always 1.
    schema_version: u32,
    /// `proved` or `refuted`.
    verdict: &'static str,
    /// `smt`, `interpreter`, or `smt+interpreter` (`--by both`).
    decided_by: &'static str,
    /// Whether the program has a group form (dims rather than explicit groups).
    dim_structured: bool,
    /// The program's canonical text; `null` when it is not dim-structured.
    program: Option<String>,
    /// The chunk count (1: a plain program).
    chunks: u64,
    /// The placement's index.
    placement: usize,
    /// The placement's `matrix[axis][level]`.
    matrix: &'a [Vec<u64>],
    /// The request checked.
    request: RequestJson,
    /// What shows the program wrong, `{kind, step, rank, coords, part?, source?,
    /// message}` (`step` 1-based, `null` for the final state); present when refuted.
    #[serde(skip_serializing_if = "Option::is_none")]
    counterexample: Option<&'a Counterexample>,
}

/// `verify --json` when the check is undecided (exit 3).
#[derive(Serialize)]
struct UndecidedDoc<'a> {
    /// Always 1.
    schema_version: u32,
    /// Always `unknown`.
    verdict: &'static str,
    /// `smt`, `interpreter`, or `smt+interpreter` (`--by both`).
    decided_by: &'static str,
    /// Why, in a sentence (e.g. z3's timeout in ms or resource limit was hit).
    reason: &'a str,
    /// The program's canonical text; `null` when it is not dim-structured.
    program: Option<String>,
    /// The placement's index.
    placement: usize,
}

/// `verify --json`.
pub fn verify_json(p: &Problem, verdict: &Verdict, decided_by: Checker) -> String {
    let decided_by = decided_by.name();
    let program = p
        .program
        .as_ref()
        .map(|x| x.pipelined_text(&p.spec, p.chunks));
    let counterexample = match verdict {
        Verdict::Unknown(reason) => {
            return to_string(&UndecidedDoc {
                schema_version: 1,
                verdict: "unknown",
                decided_by,
                reason,
                program,
                placement: p.index,
            });
        }
        Verdict::Proved => None,
        Verdict::Refuted(c) => Some(c),
    };
    to_string(&VerifyDoc {
        schema_version: 1,
        verdict: verdict.name(),
        decided_by,
        dim_structured: p.program.is_some(),
        program,
        chunks: p.chunks,
        placement: p.index,
        matrix: &p.placement.matrix,
        request: request_json(&p.spec, &p.request),
        counterexample,
    })
}
