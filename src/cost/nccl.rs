//! What NCCL would run by itself for a request's flat group ([`nccl_cost`]): the
//! faster of its ring and (for all_reduce) its tree, priced on the same links as every
//! program, with the step counts and per-hop latencies of NCCL's own tuning model
//! (NVIDIA/nccl, `src/graph/tuning.cc`, `ncclTopoTuneModel`; read at commit 01afd20,
//! the 2.8–2.9 releases; later releases keep these formulas): a ring all_reduce takes
//! `2(n − 1)` steps of which `2(nNodes − 1)` cross nodes, a tree
//! `2((n/nNodes − 1) · intraLat + log2(nNodes) · interLat)`; a tree moves `2M` bytes
//! per link where a ring moves `2(n − 1)/n · M` (its algorithm bandwidth is half its bus
//! bandwidth). docs/cost-model.md, §5, derives every term.
//!
//! Two things NCCL does that a single rank-order ring (the "flat" baseline) does not:
//! it runs many channels, each its own ring or tree over a different pair of devices
//! (rails), so the traffic that leaves a subtree is spread over every member of the
//! group in it and over their NICs; and it attributes each step's latency to the link
//! it actually crosses, not all of them to the outermost. Its empirical corrections
//! (the 0.9 tree factor, protocol choices, `treeCorrectionFactor`) are left out: the
//! model prices links, not NCCL's kernels.

use super::{level_time, Spans};
use crate::placement::Placement;
use crate::spec::{Request, RequestKind, Spec};

/// NCCL's algorithms, as far as the baseline models them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NcclAlgorithm {
    /// Rings over all channels.
    Ring,
    /// Double binary tree across the outermost level, chains inside.
    Tree,
    /// Point-to-point sends (send_recv requests).
    SendRecv,
}

impl NcclAlgorithm {
    /// `ring`, `tree` or `send_recv`.
    pub fn name(self) -> &'static str {
        match self {
            NcclAlgorithm::Ring => "ring",
            NcclAlgorithm::Tree => "tree",
            NcclAlgorithm::SendRecv => "send_recv",
        }
    }
}

/// The baseline's time and which algorithm gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NcclCost {
    /// The ring's time.
    pub ring_s: f64,
    /// The tree's time (all_reduce only).
    pub tree_s: Option<f64>,
    /// The faster of the two.
    pub best_s: f64,
    /// Which one that is (the ring on a tie).
    pub algorithm: NcclAlgorithm,
}

/// NCCL's own choice for the request's flat group (every dim of a requested axis) on
/// the placement, for a buffer of `bytes`.
pub fn nccl_cost(spec: &Spec, placement: &Placement, request: &Request, bytes: u64) -> NcclCost {
    if request.collective == RequestKind::SendRecv {
        let mut r = request.clone();
        r.bytes = bytes;
        let t = super::send_recv_cost(spec, placement, &r).time_s;
        return NcclCost {
            ring_s: t,
            tree_s: None,
            best_s: t,
            algorithm: NcclAlgorithm::SendRecv,
        };
    }
    let d = Spans::of(spec, placement, request);
    if d.k <= 1.0 {
        return NcclCost {
            ring_s: 0.0,
            tree_s: None,
            best_s: 0.0,
            algorithm: NcclAlgorithm::Ring,
        };
    }
    let m = bytes as f64;
    if request.collective.is_sharded() {
        // NCCL runs reduce_scatter and all_gather as a ring only: one pass of k − 1
        // steps, (k − 1)/k of the whole buffer over every crossing link.
        let ring_s =
            d.time(spec, (d.k - 1.0) / d.k * m) + d.ring_latency(spec, 1.0) + spec.system.launch_s;
        return NcclCost {
            ring_s,
            tree_s: None,
            best_s: ring_s,
            algorithm: NcclAlgorithm::Ring,
        };
    }
    let ring_s = d.time(spec, 2.0 * (d.k - 1.0) / d.k * m) + d.ring_latency(spec, 2.0);
    let tree_s = d.time(spec, 2.0 * m) + d.tree_latency(spec);
    let launch = spec.system.launch_s;
    let (ring_s, tree_s) = (ring_s + launch, tree_s + launch);
    let (best_s, algorithm) = if tree_s < ring_s {
        (tree_s, NcclAlgorithm::Tree)
    } else {
        (ring_s, NcclAlgorithm::Ring)
    };
    NcclCost {
        ring_s,
        tree_s: Some(tree_s),
        best_s,
        algorithm,
    }
}

impl Spans {
    /// The bandwidth term of an algorithm whose every crossing link carries `edge`
    /// bytes per group, spread over the group's members in each subtree (channels).
    fn time(&self, spec: &Spec, edge: f64) -> f64 {
        spec.system
            .levels
            .iter()
            .enumerate()
            .filter(|&(l, _)| self.p[l] > 1.0)
            .map(|(l, level)| {
                let per_subtree = self.k / self.p[l];
                level_time(level, edge * self.g[l], edge / per_subtree)
            })
            .fold(0.0, f64::max)
    }

    /// NCCL's ring latency: every step at the latency of the outermost level it
    /// crosses; `factor` passes of `k − 1` steps (2 for all_reduce), of which
    /// `factor · (p_l − p_{l−1})` have level `l` as the outermost crossed.
    fn ring_latency(&self, spec: &Spec, factor: f64) -> f64 {
        let mut outer_p = 1.0;
        let mut t = 0.0;
        for (l, level) in spec.system.levels.iter().enumerate() {
            t += factor * (self.p[l] - outer_p) * level.latency_s;
            outer_p = self.p[l];
        }
        t
    }

    /// NCCL's tree latency ([`super::tree_latency`]).
    fn tree_latency(&self, spec: &Spec) -> f64 {
        super::tree_latency(&spec.system.levels, &self.p)
    }
}
