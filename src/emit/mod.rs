//! Emitting runnable code for a proven program: a PyTorch module ([`torch`]), a JAX
//! module ([`jax`]) and an mpi4py script ([`mpi`]).
//!
//! Every emitter takes [`Unit`]s — a program with the placement and request it was
//! made for and how it was checked ([`synthesized`] makes them from a synthesis) —
//! and returns the text of one Python file. Each
//! file names in its header the spec, the placement (index and matrix), the request,
//! the program's canonical text and the collsynth version ([`header`]); the output is
//! a pure function of its input, so snapshots are stable. The Python that does not
//! depend on the program (region tracking, the MPI runner) lives beside this file as
//! `.py` templates and is pasted in verbatim.

pub mod check;
pub mod jax;
pub mod mpi;
pub mod synthesized;
pub mod torch;

use std::fmt::Write as _;

use crate::lowered::Lowered;
use crate::placement::Placement;
use crate::program::{Collective, Program, Text};
use crate::semantics::Goal;
use crate::spec::{Request, RequestKind, Spec};

/// The collsynth version named in every emitted header.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Region tracking shared by the torch and mpi4py runtimes (the semantics of docs/design.md).
pub(crate) const REGIONS_PY: &str = include_str!("regions.py");

/// What to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A PyTorch module (`torch.distributed`, `DeviceMesh`).
    Torch,
    /// A JAX module (`shard_map` with `psum`, `psum_scatter`, `all_gather`).
    Jax,
    /// An mpi4py script for `mpirun -np N`.
    Mpi4py,
}

impl Target {
    /// The name `--target` takes.
    pub fn name(self) -> &'static str {
        match self {
            Target::Torch => "torch",
            Target::Jax => "jax",
            Target::Mpi4py => "mpi4py",
        }
    }
}

/// How a program was checked before it was emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// Proved correct; the string names the decider (e.g. "the reference interpreter").
    Proved(String),
    /// Emitted with `--unchecked`: nothing was proved.
    Unchecked,
}

/// One program to emit, with where it came from.
#[derive(Debug, Clone)]
pub struct Unit {
    /// A short name, unique within one emitted file (letters, digits, `_`, `.`, `-`).
    pub name: String,
    /// The placement's index (numbering of `docs/design.md`, §1).
    pub placement_index: usize,
    /// The placement.
    pub placement: Placement,
    /// The request's index in the spec, if it came from there.
    pub request_index: Option<usize>,
    /// The request.
    pub request: Request,
    /// The program as explicit groups.
    pub lowered: Lowered,
    /// The program's group form, when it has one.
    pub program: Option<Program>,
    /// Pipelined over this many chunks (`docs/design.md`, §3.6); 1 for a plain run.
    pub chunks: u64,
    /// How it was checked.
    pub proof: Proof,
}

/// Why a program cannot be emitted for a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// Nothing to emit.
    #[error("no program to emit")]
    Empty,
    /// One module holds one device mesh, so all its programs need one placement.
    #[error("the {target} target puts one device mesh in a module, but the programs are for placements {first} and {other}: emit them separately")]
    MixedPlacements {
        /// The target.
        target: &'static str,
        /// The first placement index.
        first: usize,
        /// Another placement index.
        other: usize,
    },
    /// The target needs the group form (dims), which explicit groups may lack.
    #[error("program `{name}` has steps that are not over dims of the placement (explicit groups with no group form); the {target} target needs every step as a set of mesh axes: emit it for mpi4py, which takes explicit groups")]
    NotDimStructured {
        /// The target.
        target: &'static str,
        /// The program's name.
        name: String,
    },
    /// JAX runs every device through the same shapes.
    #[error("program `{name}`, step {step} ({op}) has roots: inside shard_map every device runs the same shapes, so a reduce_scatter or all_gather on only some devices cannot be written there; emit it for torch or mpi4py")]
    RootedShapeChange {
        /// The program's name.
        name: String,
        /// 1-based step.
        step: usize,
        /// The collective.
        op: Collective,
    },
}

/// The reduction groups of a request (`docs/design.md`): devices that agree on every axis
/// not requested, each ascending, ordered by their first member.
pub fn reduction_groups(placement: &Placement, request_axes: &[usize]) -> Vec<Vec<u64>> {
    let mut by_key: std::collections::BTreeMap<Vec<u64>, Vec<u64>> = Default::default();
    for r in 0..placement.devices() {
        let key = placement.group_key(r, request_axes);
        by_key.entry(key).or_default().push(r);
    }
    let mut groups: Vec<Vec<u64>> = by_key.into_values().collect();
    groups.sort();
    groups
}

/// The request's shard count `G` (docs/design.md, §3.3.1; 1 for all_reduce).
pub fn shards(spec: &Spec, unit: &Unit) -> u64 {
    Goal::of(&unit.request).shards(spec)
}

/// Every rank's shard number (the mixed radix of its coordinates on the request's
/// axes in the request's order, first most significant; all 0 for all_reduce).
pub fn shard_numbers(spec: &Spec, unit: &Unit) -> Vec<u64> {
    let goal = Goal::of(&unit.request);
    (0..unit.placement.devices())
        .map(|r| goal.shard_of(spec, &unit.placement, r))
        .collect()
}

/// Every rank's shard number as the program's steps number it: in the order of its
/// `layout(L):` clause (docs/design.md, §3.7), else as [`shard_numbers`].
pub fn program_shard_numbers(spec: &Spec, unit: &Unit) -> Vec<u64> {
    let goal = Goal::of(&unit.request).relaid(&unit.lowered.layout);
    (0..unit.placement.devices())
        .map(|r| goal.shard_of(spec, &unit.placement, r))
        .collect()
}

/// A `layout(L):` program's relayout as a block transpose, `None` without one:
/// `blocks`, the sizes of the request's dims in the request's order (the buffer is
/// `blocks + [rest]`), and `perm`, the position in that order of each dim of `L`.
/// Reshaping the whole buffer to `blocks + [rest]`, transposing its first axes to
/// `perm` and flattening moves request shard `c_N(t)` to layout shard `c_L(t)`
/// (proofs/README.md, "Relayout"); the inverse transpose moves them back.
pub fn relayout(unit: &Unit) -> Option<(Vec<u64>, Vec<usize>)> {
    let layout = &unit.lowered.layout;
    if layout.is_empty() {
        return None;
    }
    let order = crate::program::request_layout(&unit.placement, &unit.request);
    let blocks = order
        .iter()
        .map(|d| {
            unit.placement
                .dim_index(d.level, d.axis)
                .map_or(1, |i| unit.placement.dims[i].size)
        })
        .collect();
    let perm = layout
        .iter()
        .map(|d| order.iter().position(|o| o == d).unwrap_or(0))
        .collect();
    Some((blocks, perm))
}

/// [`relayout`] as Python: `None`, or `((blocks...), (perm...))`.
pub fn py_relayout(unit: &Unit) -> String {
    match relayout(unit) {
        None => "None".to_string(),
        Some((blocks, perm)) => {
            let b: Vec<String> = blocks.iter().map(|x| x.to_string()).collect();
            let p: Vec<String> = perm.iter().map(|x| x.to_string()).collect();
            format!("({}, {})", py_tuple(&b), py_tuple(&p))
        }
    }
}

/// What the whole buffer's length (of one pipelined chunk) must be a multiple of:
/// the program's atoms, times `G` for a sharded request, as the interpreter proves it.
pub fn buffer_atoms(spec: &Spec, unit: &Unit) -> u64 {
    Goal::of(&unit.request).atoms(spec, &unit.lowered)
}

/// What an emitted function of this request takes and returns, for its docstring.
pub fn interface_text(unit: &Unit) -> &'static str {
    match unit.request.collective {
        RequestKind::ReduceScatter => "takes this device's whole buffer and returns its shard (numel / SHARDS, shard SHARD_OF[rank] in the request's numbering)",
        RequestKind::AllGather => "takes this device's shard (shard SHARD_OF[rank]) and returns the whole buffer (numel x SHARDS), chunk j from the member whose shard number is j",
        RequestKind::AllReduce | RequestKind::SendRecv => "runs in place: every device ends with the sum over its reduction group",
    }
}

/// The canonical text of a unit's program, or a description of its explicit groups.
pub fn program_text(spec: &Spec, unit: &Unit) -> String {
    format!(
        "{}{}",
        crate::program::pipeline_prefix(unit.chunks),
        plain_program_text(spec, unit)
    )
}

fn plain_program_text(spec: &Spec, unit: &Unit) -> String {
    match &unit.program {
        Some(p) if p.steps.is_empty() => "(the empty program)".to_string(),
        Some(p) => p.text(spec),
        None => unit
            .lowered
            .steps
            .iter()
            .map(|s| format!("{}({} explicit groups)", s.collective, s.groups.len()))
            .collect::<Vec<_>>()
            .join(" ; "),
    }
}

/// Each step's text: `reduce_scatter(gpu:data)`, or the collective and group count.
pub fn step_texts(spec: &Spec, unit: &Unit) -> Vec<String> {
    match &unit.program {
        Some(p) => p.steps.iter().map(|s| Text(spec, s).to_string()).collect(),
        None => unit
            .lowered
            .steps
            .iter()
            .map(|s| format!("{}({} explicit groups)", s.collective, s.groups.len()))
            .collect(),
    }
}

/// A one-line description of a request: `0: all_reduce over data, 4000000 bytes per device`.
/// A sharded request's `bytes` is the whole buffer: `0: all_gather over data,
/// 4000000 bytes in all (8 shards of 500000)`.
pub fn request_text(spec: &Spec, unit: &Unit) -> String {
    let g = shards(spec, unit);
    let size = if unit.request.collective.is_sharded() {
        format!(
            "{} bytes in all ({g} shards of {})",
            unit.request.bytes,
            unit.request.bytes / g.max(1)
        )
    } else {
        format!("{} bytes per device", unit.request.bytes)
    };
    format!(
        "{}{}, {size}",
        unit.request_index
            .map(|i| format!("{i}: "))
            .unwrap_or_default(),
        spec.describe_request(&unit.request),
    )
}

/// The header comment every emitted file starts with (after its shebang, if any):
/// tool and version, spec, and for every unit its placement, request, program and
/// proof. Lines start with `# `.
pub fn header(spec: &Spec, units: &[Unit], target: &str) -> String {
    let mut h = String::new();
    let _ = writeln!(
        h,
        "# Generated by collsynth {VERSION} ({target} target). Do not edit: regenerate it."
    );
    let _ = writeln!(h, "#");
    let _ = writeln!(h, "# spec:      {}", one_line(&spec.header()));
    for u in units {
        let _ = writeln!(h, "#");
        if units.len() > 1 {
            let _ = writeln!(h, "# [{}]", u.name);
        }
        let _ = writeln!(
            h,
            "# placement: {}, matrix \"{}\" (dims {})",
            u.placement_index,
            u.placement.matrix_text(),
            u.placement.dim_names(spec).join(", ")
        );
        let _ = writeln!(h, "# request:   {}", one_line(&request_text(spec, u)));
        let _ = writeln!(h, "# program:   {}", program_text(spec, u));
        if u.lowered.steps.iter().any(|s| s.tree) {
            let _ = writeln!(
                h,
                "# trees:     an all_reduce[tree] step is the same all_reduce call; it was priced as NCCL's double binary tree, which NCCL picks by its own tuning (NCCL_ALGO=Tree forces trees for every call of the process); other libraries run their own algorithm"
            );
        }
        let _ = writeln!(
            h,
            "# proof:     {}",
            match &u.proof {
                Proof::Proved(by) => format!("proved correct by {by}"),
                Proof::Unchecked => {
                    "NONE: emitted with --unchecked; this program may compute wrong sums"
                        .to_string()
                }
            }
        );
    }
    h
}

/// Text made safe for one line of a `#` comment in the emitted code: every control
/// character (line breaks, NUL, which Python refuses anywhere in a source file, form
/// feeds...) becomes a visible `\u{..}` escape, so no name in a spec can end the
/// comment or stop the module from compiling.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

// ---------------------------------------------------------------- Python literals

/// A Python string literal (JSON's escapes are valid Python).
pub(crate) fn py_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// `[1, 2, 3]`.
pub(crate) fn py_ints(v: &[u64]) -> String {
    let items: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", items.join(", "))
}

/// `[[0, 1], [2, 3]]`.
pub(crate) fn py_groups(groups: &[Vec<u64>]) -> String {
    let items: Vec<String> = groups.iter().map(|g| py_ints(g)).collect();
    format!("[{}]", items.join(", "))
}

/// `["a", "b"]`.
pub(crate) fn py_strs(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| py_str(s)).collect();
    format!("[{}]", items.join(", "))
}

/// `(a, b)`, or `(a,)` for one item: a Python tuple of already-written items.
pub(crate) fn py_tuple(items: &[String]) -> String {
    if items.len() == 1 {
        format!("({},)", items[0])
    } else {
        format!("({})", items.join(", "))
    }
}

/// A Python identifier made from a name: other characters become `_`.
pub(crate) fn py_ident(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The one placement every unit shares, or the error naming two that differ.
pub(crate) fn common_placement<'a>(
    units: &'a [Unit],
    target: &'static str,
) -> Result<&'a Unit, EmitError> {
    let first = units.first().ok_or(EmitError::Empty)?;
    if let Some(other) = units
        .iter()
        .find(|u| u.placement.matrix != first.placement.matrix)
    {
        return Err(EmitError::MixedPlacements {
            target,
            first: first.placement_index,
            other: other.placement_index,
        });
    }
    Ok(first)
}

/// The default function name for a request: `all_reduce_data_pipe`.
pub fn request_function_name(spec: &Spec, request: &Request) -> String {
    let mut s = request.collective.to_string();
    for &a in &request.axes {
        s.push('_');
        s.push_str(&spec.axes[a].name);
    }
    py_ident(&s)
}

/// A small spec and a unit on it, for the emitters' tests.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;
    use crate::source::Source;

    /// 2 nodes x 2 GPUs, data = 2, model = 2; all_reduce over data, 1 MB.
    pub const SPEC: &str = r#"axes = [ { name = "data", size = 2 }, { name = "model", size = 2 } ]
[system]
name = "2 x 2-GPU nodes"
levels = [ { name = "node", arity = 2, bandwidth = "100 GB/s", latency = "5 us" },
           { name = "gpu", arity = 2, bandwidth = "235 GB/s", latency = "1 us" } ]
[[request]]
collective = "all_reduce"
axes = ["data"]
bytes = "1 MB"
"#;

    pub fn spec() -> Spec {
        crate::spec::parse(&Source::new("fixture.toml", SPEC), None).unwrap()
    }

    /// A unit for `text` on the placement with this matrix.
    pub fn unit(spec: &Spec, name: &str, matrix: Vec<Vec<u64>>, text: &str) -> Unit {
        let placement = Placement::new(spec, matrix).unwrap();
        let placement_index = crate::placement::enumerate(spec)
            .iter()
            .position(|m| *m == placement.matrix)
            .unwrap();
        let program = crate::program::parse_program(spec, text).unwrap();
        let lowered = crate::lowered::lower(&placement, &program);
        Unit {
            name: name.into(),
            placement_index,
            placement,
            request_index: Some(0),
            request: spec.requests[0].clone(),
            lowered,
            program: Some(program),
            chunks: 1,
            proof: Proof::Proved("the reference interpreter".into()),
        }
    }

    /// A unit for `text` for a `kind` request over `axes` (spec indices, in shard
    /// numbering order) instead of the spec's all_reduce.
    pub fn sharded_unit(
        spec: &Spec,
        name: &str,
        matrix: Vec<Vec<u64>>,
        text: &str,
        kind: RequestKind,
        axes: &[usize],
    ) -> Unit {
        let mut u = unit(spec, name, matrix, text);
        u.request.collective = kind;
        u.request.axes = axes.to_vec();
        u
    }

    /// A reduce_scatter and an all_gather over (model, data) on placement node:data,
    /// gpu:model, each the flat step made right by a relayout to rank order
    /// (docs/design.md, §3.7).
    pub fn relaid_units(spec: &Spec) -> Vec<Unit> {
        let m = vec![vec![2, 1], vec![1, 2]];
        vec![
            sharded_unit(
                spec,
                "reduce_scatter_relaid",
                m.clone(),
                "layout(node:data, gpu:model): reduce_scatter(node:data, gpu:model)",
                RequestKind::ReduceScatter,
                &[1, 0],
            ),
            sharded_unit(
                spec,
                "all_gather_relaid",
                m,
                "layout(node:data, gpu:model): all_gather(node:data, gpu:model)",
                RequestKind::AllGather,
                &[1, 0],
            ),
        ]
    }

    /// A reduce_scatter over (model, data) and an all_gather over data, on placement
    /// node:data, gpu:model, with programs one level at a time.
    pub fn sharded_units(spec: &Spec) -> Vec<Unit> {
        let m = vec![vec![2, 1], vec![1, 2]];
        vec![
            sharded_unit(
                spec,
                "reduce_scatter_model_data",
                m.clone(),
                "reduce_scatter(gpu:model) ; reduce_scatter(node:data)",
                RequestKind::ReduceScatter,
                &[1, 0],
            ),
            sharded_unit(
                spec,
                "all_gather_data",
                m,
                "all_gather(node:data)",
                RequestKind::AllGather,
                &[0],
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduction_groups_follow_the_coordinates() {
        // data = 4 over [2, 2], model = 2 over [1, 2]: dims node:data, gpu:data,
        // gpu:model; rank = 4 node:data + 2 gpu:data + gpu:model.
        let p = Placement::from_valid_matrix(vec![vec![2, 2], vec![1, 2]]);
        assert_eq!(
            reduction_groups(&p, &[0]),
            vec![vec![0, 2, 4, 6], vec![1, 3, 5, 7]]
        );
        assert_eq!(
            reduction_groups(&p, &[1]),
            vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7]]
        );
        assert_eq!(
            reduction_groups(&p, &[0, 1]),
            vec![(0..8).collect::<Vec<_>>()]
        );
    }

    #[test]
    fn atoms_multiply_reduce_scatter_group_sizes() {
        use crate::lowered::LoweredStep;
        let rs = |groups: Vec<Vec<u64>>| LoweredStep {
            collective: Collective::ReduceScatter,
            groups,
            tree: false,
        };
        let l = Lowered {
            layout: vec![],
            steps: vec![
                rs(vec![vec![0, 1], vec![2, 3, 4]]),
                LoweredStep {
                    collective: Collective::AllReduce,
                    groups: vec![vec![0, 1, 2, 3, 4, 5, 6]],
                    tree: false,
                },
                rs(vec![vec![0, 1, 2, 3]]),
            ],
        };
        assert_eq!(l.atoms(), 6 * 4);
        assert_eq!(Lowered::default().atoms(), 1);
    }

    #[test]
    fn python_identifiers() {
        assert_eq!(py_ident("all_reduce_data"), "all_reduce_data");
        assert_eq!(py_ident("p1.r0-k2"), "p1_r0_k2");
        assert_eq!(py_ident("0x"), "_0x");
        assert_eq!(py_str("a\"b\n"), "\"a\\\"b\\n\"");
    }

    #[test]
    fn comment_text_cannot_leave_its_line() {
        let evil = "x\nimport os\r\"\"\"\0y\u{c}z";
        let s = one_line(evil);
        assert!(!s.chars().any(char::is_control), "{s}");
        assert_eq!(s, "x\\u{a}import os\\u{d}\"\"\"\\u{0}y\\u{c}z");
    }
}

#[cfg(test)]
mod header_tests {
    use super::fixture::*;
    use super::*;

    #[test]
    fn a_relayout_is_the_transpose_from_the_request_order_to_the_layout() {
        let spec = fixture::spec();
        let units = fixture::relaid_units(&spec);
        // Request order (model, data): gpu:model then node:data; the layout swaps them.
        assert_eq!(relayout(&units[0]), Some((vec![2, 2], vec![1, 0])));
        // The steps number shards in rank order; the request by (model, data).
        assert_eq!(program_shard_numbers(&spec, &units[0]), vec![0, 1, 2, 3]);
        assert_eq!(shard_numbers(&spec, &units[0]), vec![0, 2, 1, 3]);
        let plain = &fixture::sharded_units(&spec)[0];
        assert_eq!(relayout(plain), None);
        assert_eq!(py_relayout(plain), "None");
        assert_eq!(py_relayout(&units[1]), "((2, 2), (1, 0))");
    }

    #[test]
    fn sharded_requests_number_shards_in_the_request_order() {
        let spec = spec();
        let us = sharded_units(&spec);
        for u in &us {
            let goal = Goal::of(&u.request);
            assert_eq!(
                crate::semantics::run_goal(&spec, &u.placement, &goal, &u.lowered),
                Ok(()),
                "{}",
                u.name
            );
        }
        // node:data, gpu:model: rank = 2 data + model; shard (model, data) = 2 model + data.
        assert_eq!(shard_numbers(&spec, &us[0]), [0, 2, 1, 3]);
        assert_eq!(shards(&spec, &us[0]), 4);
        // Two reduce_scatters of 2 make 4 atoms, times 4 shards.
        assert_eq!(buffer_atoms(&spec, &us[0]), 16);
        assert_eq!(shard_numbers(&spec, &us[1]), [0, 0, 1, 1]);
        assert_eq!(buffer_atoms(&spec, &us[1]), 2);
        let h = header(&spec, &us, "mpi4py");
        assert!(
            h.contains(
                "reduce_scatter over model, data, 1000000 bytes in all (4 shards of 250000)"
            ),
            "{h}"
        );
    }

    #[test]
    fn header_names_every_origin() {
        let spec = spec();
        let mut u = unit(
            &spec,
            "all_reduce_data",
            vec![vec![2, 1], vec![1, 2]],
            "reduce(node:data) ; broadcast(node:data)",
        );
        let h = header(&spec, std::slice::from_ref(&u), "torch");
        assert!(
            h.contains(&format!("collsynth {VERSION} (torch target)")),
            "{h}"
        );
        assert!(h.contains("fixture.toml"), "{h}");
        assert!(
            h.contains("# placement: 1, matrix \"2,1;1,2\" (dims node:data, gpu:model)"),
            "{h}"
        );
        assert!(
            h.contains("# request:   0: all_reduce over data, 1000000 bytes per device"),
            "{h}"
        );
        assert!(
            h.contains("# program:   reduce(node:data) ; broadcast(node:data)"),
            "{h}"
        );
        u.proof = Proof::Unchecked;
        let h = header(&spec, &[u], "torch");
        assert!(
            h.contains("# proof:     NONE: emitted with --unchecked"),
            "{h}"
        );
    }
}
