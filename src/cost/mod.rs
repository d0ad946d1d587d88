//! The cost model: a contention-aware α-β simulator of programs on a placement, its
//! lower bound, and the nccl-tests bandwidth figures (`docs/design.md`, §8;
//! docs/cost-model.md derives every formula here).
//!
//! **Links.** Level `l` of the hierarchy gives every one of its child subtrees (the
//! devices sharing the digits of levels `0..=l`) one full-duplex link of bandwidth
//! `B_l` (per direction) and latency `α_l`. A byte sent from device `a` to device `b`
//! is charged to the outgoing link of each of `a`'s subtrees and the incoming link of
//! each of `b`'s subtrees at every level from the innermost up to `f(a, b)`, the
//! outermost level where their digits differ; that is, to every level `l ≥ f(a, b)`.
//!
//! **Algorithms.** A step runs all its groups at once. `all_reduce`, `reduce_scatter`
//! and `all_gather` are rings over the group in rank order; `reduce` and `broadcast`
//! are pipelined chains in rank order. For a group of `k` members whose first member
//! holds `b` bytes (`bytes_in`), one ring or chain edge carries
//!
//! | collective     | bytes per edge   | sequential hops |
//! |----------------|------------------|-----------------|
//! | all_reduce     | 2(k−1)/k · b     | 2(k−1)          |
//! | reduce_scatter | (k−1)/k · b      | k−1             |
//! | all_gather     | (k−1) · b        | k−1             |
//! | reduce         | b                | k−1             |
//! | broadcast      | b                | k−1             |
//!
//! **Time of a step.** `time = max_l load_l / B_l + hops · α_outer + launch`, where
//! `load_l` is the heaviest level-`l` link (either direction), `α_outer` the latency of
//! the outermost level any edge crosses and `launch` the system's per-call cost. A
//! program's time is the sum of its steps' times.
//!
//! **Closed form** ([`step_cost`]): for a dim-structured step over dims `D`, the
//! members of a group that share a level-`l` subtree are a contiguous run of the ring
//! (the dims of `D` at levels `≤ l` are more significant than the rest), so each
//! touched subtree has exactly one outgoing and one incoming edge at level `l` when
//! `p_l = Π{|d| : d ∈ D, level(d) ≤ l} > 1`, and none otherwise. `G_l = Π{|d| : d ∉ D,
//! d ∉ roots, level(d) > l}` groups share one level-`l` subtree, so
//! `load_l = edge_bytes · G_l` when `p_l > 1`. No device is visited: the cost is
//! `O(levels × dims)`.
//!
//! **General path** ([`lowered_cost`]): explicit groups, every edge charged to every
//! link it crosses, region sizes tracked per device. It agrees with the closed form
//! (property-tested in `tests/cost_props.rs`).
//!
//! **Lower bound** ([`lower_bound`]): for each level, `2(p_l−1)/p_l · M · G_l / B_l`
//! with `p_l` the level-`l` subtrees one reduction group spans and `G_l` the reduction
//! groups per level-`l` subtree; the largest over the levels. Every correct program
//! is predicted at least this slow (docs/cost-model.md proves it).

mod bound;
mod general;
mod model;
mod nccl;
mod pipeline;
mod send_recv;

pub use bound::{bandwidth_bound, latency_bound, lower_bound, prefix_lower_bound, BOUND_SLACK};
pub use general::{lowered_cost, lowered_send_recv_cost};
pub use model::{program_cost, step_cost, step_time};
pub use nccl::{nccl_cost, NcclAlgorithm, NcclCost};
pub use pipeline::{
    best_chunks, chunk_atoms, chunks_fit, pipelined_cost, PipelineCost, MAX_CHUNKS,
};
pub use send_recv::{send_recv_cost, SendRecvCost};

use crate::placement::Placement;
use crate::program::{Collective, DimRef, Program, Step};
use crate::spec::{Request, RequestKind, Spec};

/// The predicted cost of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepCost {
    /// The step's collective.
    pub collective: Collective,
    /// `bandwidth_s + latency_s + launch_s`.
    pub time_s: f64,
    /// The most loaded link's bytes over its bandwidth.
    pub bandwidth_s: f64,
    /// Sequential hops × latency of the outermost level crossed.
    pub latency_s: f64,
    /// The system's fixed cost of one collective call.
    pub launch_s: f64,
    /// Heaviest single link of each level (bytes, either direction), outer level first.
    pub bytes_per_level: Vec<f64>,
    /// Heaviest single device's own traffic over each level's link (bytes, either
    /// direction): what a level's `device_bandwidth` limits.
    pub device_bytes_per_level: Vec<f64>,
    /// Level index of the link that decides the bandwidth term (`None` when the step
    /// moves nothing). Ties go to the outer level.
    pub bottleneck: Option<usize>,
    /// The region each participant holds at the start of the step (bytes); on the
    /// general path, the largest region a group's first member holds.
    pub bytes_in: f64,
    /// An all_reduce run as a tree (docs/cost-model.md, §2).
    pub tree: bool,
}

/// The predicted cost of a program: its relayout (if any) and its steps one after
/// another.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramCost {
    /// One entry per step, in order.
    pub steps: Vec<StepCost>,
    /// The local relayout of a `layout(L):` program; `None` without one.
    pub relayout: Option<RelayoutCost>,
    /// Σ of the steps' `time_s`, plus the relayout's.
    pub total_s: f64,
}

/// The predicted cost of a local relayout: every device copies its whole buffer once
/// at the system's copy bandwidth (docs/cost-model.md, "Relayout"), before the steps
/// of a reduce_scatter program and after those of an all_gather one.
#[derive(Debug, Clone, PartialEq)]
pub struct RelayoutCost {
    /// Bytes each device copies: its whole (unsharded) buffer.
    pub bytes: f64,
    /// `bytes / copy_bandwidth`.
    pub time_s: f64,
}

impl RelayoutCost {
    /// The relayout of a buffer of `bytes` on `spec`'s system.
    pub fn of(spec: &Spec, bytes: f64) -> RelayoutCost {
        RelayoutCost {
            bytes,
            time_s: bytes / spec.system.copy_bandwidth_bps,
        }
    }

    /// The relayout's time, 0 without one.
    pub fn time(relayout: &Option<RelayoutCost>) -> f64 {
        relayout.as_ref().map_or(0.0, |r| r.time_s)
    }
}

impl StepCost {
    /// A step's cost from its collective (and whether it runs as a tree), its
    /// per-level loads, its bottleneck `(level, bandwidth term)` and its latency
    /// term; the system's launch is added.
    pub(crate) fn assemble(
        spec: &Spec,
        (collective, tree): (Collective, bool),
        bytes_in: f64,
        (bytes_per_level, device_bytes_per_level): (Vec<f64>, Vec<f64>),
        (bottleneck, bandwidth_s): (Option<usize>, f64),
        latency_s: f64,
    ) -> StepCost {
        let launch_s = spec.system.launch_s;
        StepCost {
            collective,
            time_s: bandwidth_s + latency_s + launch_s,
            bandwidth_s,
            latency_s,
            launch_s,
            bytes_per_level,
            device_bytes_per_level,
            bottleneck,
            bytes_in,
            tree,
        }
    }

    /// The step's name in tables: its collective, `all_reduce[tree]` for a tree.
    pub fn name(&self) -> &'static str {
        if self.tree {
            "all_reduce[tree]"
        } else {
            self.collective.name()
        }
    }
}

impl ProgramCost {
    /// Adds up the steps and the relayout.
    fn from_steps(steps: Vec<StepCost>, relayout: Option<RelayoutCost>) -> ProgramCost {
        let steps_s: f64 = steps.iter().map(|s| s.time_s).sum();
        let total_s = match &relayout {
            Some(r) => steps_s + r.time_s,
            None => steps_s,
        };
        ProgramCost {
            steps,
            relayout,
            total_s,
        }
    }
}

/// How a request's reduction groups sit in the hierarchy, per level `l`: `p[l]`, the
/// level-`l` subtrees one group spans (Π of the request's dims at levels `≤ l`), and
/// `g[l]`, the groups per level-`l` subtree (Π of the other dims at levels `> l`); `k`
/// is the group size. The lower bound and the NCCL baseline are written in them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spans {
    pub k: f64,
    pub p: Vec<f64>,
    pub g: Vec<f64>,
}

impl Spans {
    pub(crate) fn of(spec: &Spec, placement: &Placement, request: &Request) -> Spans {
        let levels = spec.system.levels.len();
        let (mut p, mut g) = (vec![1.0f64; levels], vec![1.0f64; levels]);
        for d in &placement.dims {
            let asked = request.axes.contains(&d.axis);
            for l in 0..levels {
                if asked && d.level <= l {
                    p[l] *= d.size as f64;
                } else if !asked && d.level > l {
                    g[l] *= d.size as f64;
                }
            }
        }
        let k = group_size(placement, request) as f64;
        Spans { k, p, g }
    }
}

/// Bytes one ring or chain edge carries for a group of `k` members holding `b` bytes.
pub(crate) fn edge_bytes(op: Collective, k: f64, b: f64) -> f64 {
    match op {
        Collective::AllReduce => 2.0 * (k - 1.0) / k * b,
        Collective::ReduceScatter => (k - 1.0) / k * b,
        Collective::AllGather => (k - 1.0) * b,
        Collective::Reduce | Collective::Broadcast => b,
    }
}

/// NCCL's tree latency for a group spanning `p[l]` level-`l` subtrees: up and down,
/// a double binary tree of `⌈log2 q⌉` hops over the `q` subtrees of the outermost
/// level the group spans, then a chain of `q_l − 1` hops over the `q_l` children
/// spanned at each inner level (`q_l = p_l / p_{l−1}`), each hop at its level's
/// latency (docs/cost-model.md, §5).
pub(crate) fn tree_latency(levels: &[crate::spec::Level], p: &[f64]) -> f64 {
    let mut outer_p = 1.0;
    let mut t = 0.0;
    let mut first = true;
    for (level, &pl) in levels.iter().zip(p) {
        let q = pl / outer_p;
        if q > 1.0 {
            let hops = if first { q.log2().ceil() } else { q - 1.0 };
            t += hops * level.latency_s;
            first = false;
        }
        outer_p = pl;
    }
    2.0 * t
}

/// Sequential hops of the algorithm over `k` members.
pub(crate) fn hops(op: Collective, k: f64) -> f64 {
    match op {
        Collective::AllReduce => 2.0 * (k - 1.0),
        _ => k - 1.0,
    }
}

/// The region each member holds after the step, given what the first member held.
pub(crate) fn bytes_out(op: Collective, k: f64, b: f64) -> f64 {
    match op {
        Collective::ReduceScatter => b / k,
        Collective::AllGather => b * k,
        _ => b,
    }
}

/// The time level `level`'s links need for a step: the heaviest subtree link's bytes
/// over the level's `bandwidth`, or the heaviest single device's bytes over its
/// `device_bandwidth`, whichever is longer.
pub(crate) fn level_time(level: &crate::spec::Level, link_bytes: f64, device_bytes: f64) -> f64 {
    let t = link_bytes / level.bandwidth_bps;
    match level.device_bandwidth_bps {
        Some(d) => t.max(device_bytes / d),
        None => t,
    }
}

/// The level whose links decide the bandwidth term, and that term.
pub(crate) fn bottleneck(
    loads: &[f64],
    device_loads: &[f64],
    levels: &[crate::spec::Level],
) -> (Option<usize>, f64) {
    let mut best: (Option<usize>, f64) = (None, 0.0);
    for (l, level) in levels.iter().enumerate() {
        let (load, dev) = (loads[l], device_loads[l]);
        let t = level_time(level, load, dev);
        if load > 0.0 && (best.0.is_none() || t > best.1) {
            best = (Some(l), t);
        }
    }
    best
}

/// The "flat" baseline: one step of the request's collective (`all_reduce`,
/// `reduce_scatter` or `all_gather`) over every dim of the placement whose axis the
/// request names; the empty program when there is none. For reduce_scatter and
/// all_gather it is correct only when [`flat_is_numbered`].
pub fn flat_program(placement: &Placement, request: &Request) -> Program {
    let op = request_collective(request);
    let dims: Vec<DimRef> = placement
        .reduction_dims(&request.axes)
        .map(|d| DimRef {
            level: d.level,
            axis: d.axis,
        })
        .collect();
    if dims.is_empty() {
        Program::default()
    } else {
        Program {
            layout: Vec::new(),
            steps: vec![Step::new(op, dims)],
        }
    }
}

/// The size of one reduction group of `request` on `placement` (nccl-tests' `n`).
/// The step collective a request's flat program runs.
pub fn request_collective(request: &Request) -> Collective {
    match request.collective {
        RequestKind::ReduceScatter => Collective::ReduceScatter,
        RequestKind::AllGather => Collective::AllGather,
        RequestKind::AllReduce | RequestKind::SendRecv => Collective::AllReduce,
    }
}

/// What each device holds when a program for the request starts, for a request of
/// `bytes`: its shard (`bytes / G`) for all_gather, the whole buffer otherwise.
pub fn program_bytes(spec: &Spec, request: &Request, bytes: u64) -> u64 {
    if request.collective == RequestKind::AllGather {
        bytes / request.shards(spec).max(1)
    } else {
        bytes
    }
}

/// Whether the flat single step gives every device the shard the request numbers
/// (always, for all_reduce): a step's members are in rank order, so the placement's
/// reduction dims, in significance order, must follow the request's axis order.
/// Otherwise the flat baseline would need a local relayout of every buffer.
pub fn flat_is_numbered(placement: &Placement, request: &Request) -> bool {
    let order: Vec<usize> = placement
        .reduction_dims(&request.axes)
        .map(|d| {
            request
                .axes
                .iter()
                .position(|&a| a == d.axis)
                .unwrap_or(usize::MAX)
        })
        .collect();
    !request.collective.is_sharded() || order.windows(2).all(|w| w[0] <= w[1])
}

/// The size of the request's reduction group on the placement.
pub fn group_size(placement: &Placement, request: &Request) -> u64 {
    placement
        .reduction_dims(&request.axes)
        .map(|d| d.size)
        .product()
}

/// nccl-tests' algorithm bandwidth `S / t` in GB/s (10^9 bytes per second); 0 when
/// `time_s` is not positive (nothing was moved).
pub fn algbw_gbs(bytes: u64, time_s: f64) -> f64 {
    if time_s > 0.0 {
        bytes as f64 / time_s / 1e9
    } else {
        0.0
    }
}

/// nccl-tests' bus bandwidth in GB/s: algbw × `2(n−1)/n` for all_reduce, `(n−1)/n`
/// for reduce_scatter and all_gather (with `bytes` the total size), 1 for reduce and
/// broadcast (NVIDIA/nccl-tests, doc/PERFORMANCE.md).
pub fn busbw_gbs(collective: Collective, n: u64, bytes: u64, time_s: f64) -> f64 {
    let n = n.max(1) as f64;
    let factor = match collective {
        Collective::AllReduce => 2.0 * (n - 1.0) / n,
        Collective::ReduceScatter | Collective::AllGather => (n - 1.0) / n,
        Collective::Reduce | Collective::Broadcast => 1.0,
    };
    algbw_gbs(bytes, time_s) * factor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nccl_tests_factors() {
        // 1 GB in 1 s: algbw 1 GB/s; all_reduce over 8: busbw 2·7/8 = 1.75 GB/s.
        assert_eq!(algbw_gbs(1_000_000_000, 1.0), 1.0);
        assert_eq!(
            busbw_gbs(Collective::AllReduce, 8, 1_000_000_000, 1.0),
            1.75
        );
        assert_eq!(
            busbw_gbs(Collective::AllGather, 4, 1_000_000_000, 1.0),
            0.75
        );
        assert_eq!(busbw_gbs(Collective::Broadcast, 4, 1_000_000_000, 1.0), 1.0);
        assert_eq!(algbw_gbs(1, 0.0), 0.0);
        assert_eq!(busbw_gbs(Collective::AllReduce, 0, 1, 1.0), 0.0);
    }
}
