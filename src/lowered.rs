//! Lowering: programs as explicit rank groups, and the lowered JSON interchange form
//! of `docs/design.md` (§5.4).
//!
//! A dim-structured step `op(D) @ roots(R)` lowers to one group per assignment of the
//! digits outside D, restricted to devices whose R digits are 0; members are listed in
//! ascending rank order, which is the mixed-radix order of their D digits (a rank is
//! the mixed-radix number of its dim digits in significance order). [`raise_step`]
//! maps explicit groups back to their group form when they have one.

use serde::{Deserialize, Serialize};

use crate::number::lcm;
use crate::placement::Placement;
use crate::program::{Collective, DimRef, Program, Step};
use crate::source::{InputError, Source};
use crate::spec::{Request, Spec};

/// A step as explicit groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoweredStep {
    /// The collective.
    pub collective: Collective,
    /// Groups, each ascending; a rank is in at most one group.
    pub groups: Vec<Vec<u64>>,
    /// An all_reduce run as a tree (`"tree": true`; absent: its ring).
    #[serde(default, skip_serializing_if = "is_false")]
    pub tree: bool,
}

/// A program as explicit groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lowered {
    /// The steps.
    pub steps: Vec<LoweredStep>,
    /// The program's `layout(...)` clause (empty: none), as [`Program::layout`].
    pub layout: Vec<DimRef>,
}

impl Lowered {
    /// The atoms of the semantics: the buffer is cut into this many equal atoms, the
    /// product over reduce_scatter steps of the lcm of their group sizes, so that
    /// every chunk a reduce_scatter makes is whole (saturating at `u64::MAX`).
    pub fn atoms(&self) -> u64 {
        self.steps
            .iter()
            .filter(|s| s.collective == Collective::ReduceScatter)
            .map(|s| s.groups.iter().fold(1u64, |a, g| lcm(a, g.len() as u64)))
            .fold(1u64, |a, l| a.saturating_mul(l))
    }
}

/// The request as written in lowered JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestJson {
    /// `all_reduce`, `reduce_scatter` or `all_gather`.
    pub collective: String,
    /// Axis names (in shard-numbering order for reduce_scatter and all_gather).
    pub axes: Vec<String>,
    /// Bytes per device.
    pub bytes: u64,
}

/// The lowered JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoweredJson {
    /// Always 1.
    pub schema_version: u32,
    /// The placement, when the document names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<Vec<Vec<u64>>>,
    /// The request, when the document names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestJson>,
    /// The steps.
    pub steps: Vec<LoweredStep>,
    /// A pipelined program's chunk count (`docs/design.md`, §3.6);
    /// absent means 1, the plain program.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub chunks: u64,
    /// The relayout's shard-digit order as `level:axis` names, first most
    /// significant (`docs/design.md`, §3.7); absent means none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layout: Vec<String>,
}

fn one() -> u64 {
    1
}

fn is_one(c: &u64) -> bool {
    *c == 1
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The atoms of a dim-structured program on a placement: what [`Lowered::atoms`]
/// gives for its lowering, without lowering it (every group of a step has the
/// step's size).
pub fn program_atoms(placement: &Placement, program: &Program) -> u64 {
    program
        .steps
        .iter()
        .filter(|s| s.op == Collective::ReduceScatter)
        .map(|s| {
            dim_indices(placement, &s.dims)
                .iter()
                .fold(1u64, |a, &i| a.saturating_mul(placement.dims[i].size))
        })
        .fold(1u64, |a, l| a.saturating_mul(l))
}

/// Indices (into `placement.dims`) of a list of dim refs; every ref must be a dim.
pub fn dim_indices(placement: &Placement, dims: &[DimRef]) -> Vec<usize> {
    dims.iter()
        .map(|d| {
            placement
                .dim_index(d.level, d.axis)
                .expect("program checked against the placement")
        })
        .collect()
}

/// The groups of one dim-structured step, ascending, ordered by their first member.
pub fn lower_step(placement: &Placement, step: &Step) -> Vec<Vec<u64>> {
    let d = dim_indices(placement, &step.dims);
    let r = dim_indices(placement, &step.roots);
    let n = placement.devices();
    // Offsets of the members relative to the leader, ascending.
    let mut offsets = vec![0u64];
    for &i in &d {
        let (size, stride) = (placement.dims[i].size, placement.strides[i]);
        offsets = offsets
            .iter()
            .flat_map(|&o| (0..size).map(move |k| o + k * stride))
            .collect();
    }
    offsets.sort_unstable();
    let mut groups = Vec::new();
    for rank in 0..n {
        let digits = placement.digits(rank);
        if d.iter().chain(&r).any(|&i| digits[i] != 0) {
            continue;
        }
        groups.push(offsets.iter().map(|o| rank + o).collect());
    }
    groups
}

/// The most devices a program is lowered to explicit rank groups for (`emit`,
/// `synth --groups`, the reference interpreter): 2^20. Groups take 8 bytes per
/// participating rank and step, so this keeps a lowered program of the longest
/// length under 1 GiB; proofs, costs and synthesis never lower and go to 2^40.
pub const MAX_LOWERED_DEVICES: u64 = 1 << 20;

/// Lowers a dim-structured program.
pub fn lower(placement: &Placement, program: &Program) -> Lowered {
    Lowered {
        steps: program
            .steps
            .iter()
            .map(|s| LoweredStep {
                collective: s.op,
                groups: lower_step(placement, s),
                tree: s.tree,
            })
            .collect(),
        layout: program.layout.clone(),
    }
}

/// The group form of explicit groups, if they have one: the dims the first group
/// varies over, and as roots every other dim on which all participants have digit 0.
pub fn raise_step(placement: &Placement, step: &LoweredStep) -> Option<Step> {
    let first = step.groups.first()?;
    if first.len() < 2 {
        return None;
    }
    let lead = placement.digits(first[0]);
    let mut varying = vec![false; placement.dims.len()];
    for &m in &first[1..] {
        for (i, dg) in placement.digits(m).into_iter().enumerate() {
            if dg != lead[i] {
                varying[i] = true;
            }
        }
    }
    let mut zero_everywhere = vec![true; placement.dims.len()];
    for g in &step.groups {
        for &m in g {
            for (i, dg) in placement.digits(m).into_iter().enumerate() {
                if dg != 0 {
                    zero_everywhere[i] = false;
                }
            }
        }
    }
    let to_ref = |i: usize| DimRef {
        level: placement.dims[i].level,
        axis: placement.dims[i].axis,
    };
    let dims = (0..varying.len())
        .filter(|&i| varying[i])
        .map(to_ref)
        .collect();
    let roots = (0..varying.len())
        .filter(|&i| !varying[i] && zero_everywhere[i])
        .map(to_ref)
        .collect();
    let candidate = Step::new(step.collective, dims)
        .at_roots(roots)
        .as_tree(step.tree);
    (lower_step(placement, &candidate) == step.groups).then_some(candidate)
}

/// The dim-structured program of explicit groups, if every step has a group form.
pub fn raise(placement: &Placement, lowered: &Lowered) -> Option<Program> {
    lowered
        .steps
        .iter()
        .map(|s| raise_step(placement, s))
        .collect::<Option<Vec<_>>>()
        .map(|steps| Program::new(steps).with_layout(lowered.layout.clone()))
}

impl Lowered {
    /// Checks the groups against a device count: non-empty, ascending, in range, and
    /// no rank in two groups of a step.
    pub fn check(&self, devices: u64, file: &str) -> Result<(), InputError> {
        for (si, s) in self.steps.iter().enumerate() {
            let mut seen = std::collections::BTreeSet::new();
            for (gi, g) in s.groups.iter().enumerate() {
                let here = format!("step {} ({}), group {}", si + 1, s.collective, gi + 1);
                if g.is_empty() {
                    return Err(InputError::file(
                        file,
                        format!("{here} is empty: list at least one rank"),
                    ));
                }
                if g.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(InputError::file(
                        file,
                        format!("{here} is not in strictly ascending rank order: {g:?}; list ranks ascending (the order fixes chunk positions and roots)"),
                    ));
                }
                for &r in g {
                    if r >= devices {
                        return Err(InputError::file(
                            file,
                            format!("{here} names rank {r}, but the system has {devices} devices (ranks 0..{})", devices - 1),
                        ));
                    }
                    if !seen.insert(r) {
                        return Err(InputError::file(
                            file,
                            format!("{here}: rank {r} is in two groups of this step; a rank is in at most one group per step"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The JSON document for this program.
    pub fn to_json(&self, spec: &Spec, placement: &Placement, request: &Request) -> LoweredJson {
        LoweredJson {
            schema_version: 1,
            matrix: Some(placement.matrix.clone()),
            request: Some(RequestJson {
                collective: request.collective.to_string(),
                axes: request
                    .axes
                    .iter()
                    .map(|&a| spec.axes[a].name.clone())
                    .collect(),
                bytes: request.bytes,
            }),
            steps: self.steps.clone(),
            chunks: 1,
            layout: self.layout.iter().map(|d| d.name(spec)).collect(),
        }
    }
}

/// Reads a lowered JSON document; errors name the line and column.
pub fn parse_json(source: &Source) -> Result<LoweredJson, InputError> {
    let doc: LoweredJson = serde_json::from_str(&source.text).map_err(|e| InputError {
        file: source.name.clone(),
        line: Some((e.line(), e.column())),
        message: format!("not a lowered program: {e}"),
        help: Some(
            "a lowered program is {\"schema_version\": 1, \"steps\": [{\"collective\": \"all_reduce\", \"groups\": [[0, 1]]}]}"
                .into(),
        ),
    })?;
    if !(1..=crate::program::MAX_PROGRAM_CHUNKS).contains(&doc.chunks) {
        return Err(InputError::file(
            &source.name,
            format!(
                "`chunks` = {} is not a chunk count: give a whole number from 1 to {} (or leave it out for a plain program)",
                doc.chunks,
                crate::program::MAX_PROGRAM_CHUNKS
            ),
        ));
    }
    if let Some((i, s)) = doc
        .steps
        .iter()
        .enumerate()
        .find(|(_, s)| s.tree && s.collective != Collective::AllReduce)
    {
        return Err(InputError::file(
            &source.name,
            format!(
                "step {i} is a {} with `\"tree\": true`: only an all_reduce runs as a tree; remove the key",
                s.collective
            ),
        ));
    }
    if doc.schema_version != 1 {
        return Err(InputError::file(
            &source.name,
            format!(
                "schema_version {} is not supported: this collsynth reads version 1",
                doc.schema_version
            ),
        ));
    }
    Ok(doc)
}

impl LoweredJson {
    /// The steps (and layout) as a [`Lowered`] program; the layout's names must be
    /// dims of the spec, each once (the request and placement check the rest).
    pub fn lowered(&self, spec: &Spec, file: &str) -> Result<Lowered, InputError> {
        let mut layout: Vec<DimRef> = Vec::new();
        for name in &self.layout {
            let bad = |why: String| {
                InputError::file(
                    file,
                    format!("`layout` entry `{name}` {why}: write each dim as `level:axis`, e.g. [\"gpu:data\", \"node:data\"]"),
                )
            };
            let Some((l, a)) = name.split_once(':') else {
                return Err(bad("is not `level:axis`".into()));
            };
            let level = spec
                .level_index(l)
                .ok_or_else(|| bad(format!("names `{l}`, which is not a level of the system")))?;
            let axis = spec
                .axis_index(a)
                .ok_or_else(|| bad(format!("names `{a}`, which is not an axis of the spec")))?;
            let d = DimRef { level, axis };
            if layout.contains(&d) {
                return Err(bad("is listed twice".into()));
            }
            layout.push(d);
        }
        Ok(Lowered {
            steps: self.steps.clone(),
            layout,
        })
    }

    /// Resolves the embedded request against a spec.
    pub fn resolve_request(&self, spec: &Spec, file: &str) -> Result<Option<Request>, InputError> {
        let Some(r) = &self.request else {
            return Ok(None);
        };
        let collective = match crate::spec::RequestKind::from_name(&r.collective) {
            Some(k) if k.takes_programs() => k,
            Some(k) => {
                return Err(InputError::file(
                    file,
                    format!("request collective `{k}` is priced, not run as a program: use `all_reduce`, `reduce_scatter` or `all_gather`"),
                ))
            }
            None => {
                return Err(InputError::file(
                    file,
                    format!(
                        "request collective `{}` is not one of `all_reduce`, `reduce_scatter`, `all_gather`",
                        r.collective
                    ),
                ))
            }
        };
        if r.axes.is_empty() {
            return Err(InputError::file(
                file,
                "the request's `axes` is empty: name at least one axis",
            ));
        }
        let mut axes = Vec::new();
        for name in &r.axes {
            let a = spec.axis_index(name).ok_or_else(|| {
                InputError::file(
                    file,
                    format!(
                        "the request names axis `{name}`, which the spec ({}) does not have",
                        spec.source
                    ),
                )
            })?;
            if axes.contains(&a) {
                return Err(InputError::file(
                    file,
                    format!("the request names axis `{name}` twice"),
                ));
            }
            axes.push(a);
        }
        if r.bytes == 0 {
            return Err(InputError::file(
                file,
                "the request's `bytes` is 0: it must be at least 1",
            ));
        }
        if collective.is_sharded() {
            let shards = axes
                .iter()
                .fold(1u64, |g, &a| g.saturating_mul(spec.axes[a].size));
            if !r.bytes.is_multiple_of(shards) {
                return Err(InputError::file(
                    file,
                    format!(
                        "the request's `bytes` ({}) is the whole buffer of a {collective}, cut into {shards} equal shards (the product of its axes' sizes): give a multiple of {shards}",
                        r.bytes
                    ),
                ));
            }
        } else {
            axes.sort_unstable();
        }
        Ok(Some(Request {
            collective,
            axes,
            bytes: r.bytes,
            count: 1,
            exposed_ppm: 1_000_000,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::parse_program;

    fn dgx2_spec() -> Spec {
        crate::spec::parse(
            &Source::new(
                "t",
                r#"axes = [ { name = "data", size = 8 }, { name = "model", size = 2 } ]
[system]
name = "2 x DGX"
levels = [ { name = "node", arity = 2, bandwidth = "100 GB/s", latency = "5 us" },
           { name = "gpu", arity = 8, bandwidth = "235 GB/s", latency = "1 us" } ]
"#,
            ),
            None,
        )
        .unwrap()
    }

    #[test]
    fn design_example_lowers_as_documented() {
        let spec = dgx2_spec();
        let p = Placement::new(&spec, vec![vec![2, 4], vec![1, 2]]).unwrap();
        let prog = parse_program(
            &spec,
            "reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)",
        )
        .unwrap();
        let l = lower(&p, &prog);
        assert_eq!(
            l.steps[0].groups,
            vec![
                vec![0, 2, 4, 6],
                vec![1, 3, 5, 7],
                vec![8, 10, 12, 14],
                vec![9, 11, 13, 15]
            ]
        );
        assert_eq!(
            l.steps[1].groups,
            (0..8).map(|i| vec![i, i + 8]).collect::<Vec<_>>()
        );
        assert_eq!(raise(&p, &l), Some(prog));
    }

    #[test]
    fn roots_restrict_participants() {
        let spec = dgx2_spec();
        let p = Placement::new(&spec, vec![vec![2, 4], vec![1, 2]]).unwrap();
        let prog = parse_program(&spec, "all_reduce(node:data) @ roots(gpu:data)").unwrap();
        let l = lower(&p, &prog);
        assert_eq!(l.steps[0].groups, vec![vec![0, 8], vec![1, 9]]);
        assert_eq!(raise(&p, &l), Some(prog));
    }

    #[test]
    fn irregular_groups_have_no_group_form() {
        let spec = dgx2_spec();
        let p = Placement::new(&spec, vec![vec![2, 4], vec![1, 2]]).unwrap();
        let s = LoweredStep {
            collective: Collective::AllReduce,
            groups: vec![vec![0, 1], vec![2, 5]],
            tree: false,
        };
        assert_eq!(raise_step(&p, &s), None);
    }
}
