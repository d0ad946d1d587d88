//! The closed form: a dim-structured step costed from its dims, the placement's dim
//! sizes and the levels, without visiting a device (see the parent module's doc and
//! docs/cost-model.md, "Closed form").

use super::{bottleneck, bytes_out, edge_bytes, hops, ProgramCost, RelayoutCost, StepCost};
use crate::placement::Placement;
use crate::program::{DimRef, Program, Step};
use crate::spec::Spec;

/// The size of a named dim on the placement (1 when it is not a dim of it).
fn size(placement: &Placement, d: DimRef) -> f64 {
    placement
        .matrix
        .get(d.axis)
        .and_then(|row| row.get(d.level))
        .copied()
        .unwrap_or(1) as f64
}

/// Members of one group of the step.
fn group_members(placement: &Placement, step: &Step) -> f64 {
    step.dims.iter().map(|&d| size(placement, d)).product()
}

/// Cost of one dim-structured step whose participants each hold `bytes_in` bytes
/// (for `all_gather`, the chunk each contributes; the output is `k × bytes_in`).
///
/// For level `l`: `p_l` = Π of the step's dims at levels `≤ l` (the level-`l`
/// subtrees one group spans), `G_l` = Π of the placement's dims neither in the step
/// nor in its roots at levels `> l` (the groups sharing one level-`l` subtree);
/// `load_l = edge_bytes · G_l` if `p_l > 1`, else 0. Costs `O(levels × dims)`.
pub fn step_cost(spec: &Spec, placement: &Placement, step: &Step, bytes_in: f64) -> StepCost {
    let n = spec.system.levels.len();
    let (mut loads, mut device_loads) = (vec![0.0; n], vec![0.0; n]);
    let (neck, bandwidth_s, latency_s) = step_terms(
        spec,
        placement,
        step,
        bytes_in,
        &mut loads,
        &mut device_loads,
    );
    StepCost::assemble(
        spec,
        (step.op, step.tree),
        bytes_in,
        (loads, device_loads),
        (neck, bandwidth_s),
        latency_s,
    )
}

/// [`step_cost`]'s `time_s` alone, without its per-level vectors (what synthesis
/// prices every step of every problem with).
pub fn step_time(spec: &Spec, placement: &Placement, step: &Step, bytes_in: f64) -> f64 {
    let mut loads = [0.0; crate::spec::MAX_LEVELS];
    let mut device_loads = [0.0; crate::spec::MAX_LEVELS];
    let n = spec.system.levels.len().min(crate::spec::MAX_LEVELS);
    let (_, bandwidth_s, latency_s) = step_terms(
        spec,
        placement,
        step,
        bytes_in,
        &mut loads[..n],
        &mut device_loads[..n],
    );
    bandwidth_s + latency_s + spec.system.launch_s
}

/// A step's per-level loads (written into `loads` and `device_loads`, one per
/// level, zero where it does not cross), its bottleneck level and bandwidth term,
/// and its latency term ([`step_cost`]).
fn step_terms(
    spec: &Spec,
    placement: &Placement,
    step: &Step,
    bytes_in: f64,
    loads: &mut [f64],
    device_loads: &mut [f64],
) -> (Option<usize>, f64, f64) {
    let levels = &spec.system.levels;
    let k = group_members(placement, step);
    let edge = edge_bytes(step.op, k, bytes_in);
    let named = |l: usize, a: usize| {
        step.dims
            .iter()
            .chain(&step.roots)
            .any(|d| d.level == l && d.axis == a)
    };
    // A tree (docs/cost-model.md, §2) moves `2b` over every crossing link, spread
    // over the group's members in each subtree, with NCCL's tree latency.
    let edge = if step.tree { 2.0 * bytes_in } else { edge };
    let mut spans = [1.0f64; crate::spec::MAX_LEVELS];
    // Every participant sends and receives one edge: a device's own load at a level
    // is one edge where the step crosses that level.
    for (l, load) in loads.iter_mut().enumerate() {
        let p: f64 = step
            .dims
            .iter()
            .filter(|d| d.level <= l)
            .map(|&d| size(placement, d))
            .product();
        if l < spans.len() {
            spans[l] = p;
        }
        if p <= 1.0 {
            continue;
        }
        let g: f64 = placement
            .dims
            .iter()
            .filter(|d| d.level > l && !named(d.level, d.axis))
            .map(|d| d.size as f64)
            .product();
        *load = edge * g;
        device_loads[l] = if step.tree { edge * p / k } else { edge };
    }
    let (neck, bandwidth_s) = bottleneck(loads, device_loads, levels);
    if step.tree {
        let n = levels.len().min(spans.len());
        let latency_s = if k > 1.0 {
            super::tree_latency(&levels[..n], &spans[..n])
        } else {
            0.0
        };
        return (neck, bandwidth_s, latency_s);
    }
    let outer = step
        .dims
        .iter()
        .filter(|&&d| size(placement, d) > 1.0)
        .map(|d| d.level)
        .min();
    let latency_s = match outer.and_then(|l| levels.get(l)) {
        Some(level) if k > 1.0 => hops(step.op, k) * level.latency_s,
        _ => 0.0,
    };
    (neck, bandwidth_s, latency_s)
}

/// Cost of a dim-structured program for a buffer of `bytes` per device (an
/// all_gather program: the shard each starts from), plus its relayout when it has a
/// `layout(L):` clause, tracking the region the participants hold: after `reduce_scatter` over `k` members the next step
/// holds `1/k` of it, after `all_gather` over `k`, `k` times it.
///
/// One size is tracked for all participants, which is exact whenever every step's
/// participants hold regions of one size (every well-formed program of `docs/design.md`'s
/// semantics whose roots never leave some participants of a later step with a
/// different region); [`super::lowered_cost`] tracks every device.
pub fn program_cost(
    spec: &Spec,
    placement: &Placement,
    program: &Program,
    bytes: u64,
) -> ProgramCost {
    let mut held = bytes as f64;
    let mut largest = held;
    let steps = program
        .steps
        .iter()
        .map(|step| {
            let c = step_cost(spec, placement, step, held);
            held = bytes_out(step.op, group_members(placement, step), held);
            largest = largest.max(held);
            c
        })
        .collect();
    // A relayout copies the whole buffer: a reduce_scatter program's input, an
    // all_gather program's output; either is the largest region held.
    let relayout = (!program.layout.is_empty()).then(|| RelayoutCost::of(spec, largest));
    ProgramCost::from_steps(steps, relayout)
}
