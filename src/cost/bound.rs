//! The lower bound of a request on a placement: the time the best conceivable program
//! needs, as a bandwidth part plus a latency part (docs/cost-model.md, §4, proves
//! that no correct program of the language is predicted faster).

use super::Spans;
use crate::placement::Placement;
use crate::spec::{Request, Spec};

/// The relative slack given to the bound so that the floating-point error of adding
/// up a program's steps (each within a few ulps) can never put a correct program's
/// predicted time below it: the bound is `(1 − 2^-40)` times the mathematical one.
/// Anything below the bound after that is a bug, reported as an internal
/// inconsistency (docs/cost-model.md, §4).
pub const BOUND_SLACK: f64 = 1.0 - 1.0 / (1u64 << 40) as f64;

/// Seconds: the bandwidth part ([`bandwidth_bound`]) plus the latency part
/// ([`latency_bound`]), both in the model's own terms, times [`BOUND_SLACK`].
///
/// A send_recv request has one way to run, so its bound is its price.
pub fn lower_bound(spec: &Spec, placement: &Placement, request: &Request) -> f64 {
    if !request.collective.takes_programs() {
        return super::send_recv_cost(spec, placement, request).time_s;
    }
    (bandwidth_bound(spec, placement, request) + latency_bound(spec, placement, request))
        * BOUND_SLACK
}

/// Seconds: `max_l f(p_l − 1)/p_l · M · G_l / C_l` (`f` = 2 for all_reduce, 1 for
/// reduce_scatter and all_gather), where `M` is the request's (whole) bytes
/// and `C_l = min(B_l, n_l · D_l)` the most a level-`l` subtree can send per second:
/// its link's bandwidth `B_l`, or its `n_l` devices each at the level's
/// `device_bandwidth` `D_l` (no limit when the level has none). Every reduction group
/// is an all-reduce among `p_l` parties (its level-`l` subtrees), which needs
/// `2(p_l − 1)` inter-party messages per byte (one-way gossip); spread over the
/// parties' outgoing links and summed over concurrent groups, some subtree sends at
/// least that much, and it cannot send faster than `C_l`.
pub fn bandwidth_bound(spec: &Spec, placement: &Placement, request: &Request) -> f64 {
    let m = request.bytes as f64;
    let levels = &spec.system.levels;
    let s = Spans::of(spec, placement, request);
    // reduce_scatter: every subtree's data for the shards held outside it must leave
    // it (one message per byte, combined or not); all_gather: every subtree must
    // receive the shards held outside it. Half of all_reduce's gossip.
    let factor = if request.collective.is_sharded() {
        1.0
    } else {
        2.0
    };
    levels
        .iter()
        .enumerate()
        .map(|(l, level)| {
            let (p, g) = (s.p[l], s.g[l]);
            let devices: f64 = levels[l + 1..].iter().map(|x| x.arity as f64).product();
            let capacity = match level.device_bandwidth_bps {
                Some(d) => level.bandwidth_bps.min(devices * d),
                None => level.bandwidth_bps,
            };
            factor * (p - 1.0) / p * m * g / capacity
        })
        .fold(0.0, f64::max)
}

/// Seconds: `⌈log2 p_L⌉ · α + launch`, where `L` is the outermost level a reduction
/// group spans (`p_L > 1`) and `α` the smallest latency of the levels `0..=L`; 0 when
/// the request has no dims (the empty program is correct). A step whose groups span
/// `q` level-`L` subtrees takes at least `q − 1` hops (`2(q − 1)` for all_reduce),
/// each at the latency of the outermost level it crosses, and spreads a source over
/// at most `q` times as many level-`L` subtrees as held it; every source must reach
/// all `p_L` subtrees of its group, so the hops over level `L` add up to at least
/// `⌈log2 p_L⌉`; and a correct program has at least one step.
pub fn latency_bound(spec: &Spec, placement: &Placement, request: &Request) -> f64 {
    let levels = &spec.system.levels;
    let s = Spans::of(spec, placement, request);
    let Some(l) = s.p.iter().position(|&p| p > 1.0) else {
        return 0.0;
    };
    let p = s.p[l];
    let alpha = levels[..=l]
        .iter()
        .map(|x| x.latency_s)
        .fold(f64::INFINITY, f64::min);
    p.log2().ceil() * alpha + spec.system.launch_s
}

/// Seconds: a lower bound on [`lower_bound`] over every placement whose first rows
/// (axes `0..known.len()`) are `known`, when the columns' remaining products (level
/// arities divided by the known rows' entries) are `col_rem` (docs/cost-model.md,
/// §4.2, derives it). With every requested row known it is the bound of §4 up to
/// rounding.
pub fn prefix_lower_bound(
    spec: &Spec,
    request: &Request,
    known: &[Vec<u64>],
    col_rem: &[u64],
) -> f64 {
    let levels = &spec.system.levels;
    let nl = levels.len();
    let axes = &request.axes;
    // The requested rows not fixed yet multiply to `free`.
    let free: f64 = axes
        .iter()
        .filter(|&&a| a >= known.len())
        .map(|&a| spec.axes[a].size as f64)
        .product();
    if !request.collective.takes_programs() {
        // A send_recv pays at least its outermost level's latency and one launch,
        // unless its axis has size 1 (then it costs nothing).
        let size: f64 = axes.iter().map(|&a| spec.axes[a].size as f64).product();
        if size <= 1.0 {
            return 0.0;
        }
        let alpha = levels
            .iter()
            .map(|x| x.latency_s)
            .fold(f64::INFINITY, f64::min);
        return alpha + spec.system.launch_s;
    }
    let m = request.bytes as f64;
    let factor = if request.collective.is_sharded() {
        1.0
    } else {
        2.0
    };
    let mut p_low = vec![1.0f64; nl];
    let mut bandwidth = 0.0f64;
    for l in 0..nl {
        // Known requested entries at levels <= l and > l.
        let (mut le, mut gt) = (1.0f64, 1.0f64);
        for &a in axes.iter().filter(|&&a| a < known.len()) {
            for (j, &x) in known[a].iter().enumerate() {
                if j <= l {
                    le *= x as f64;
                } else {
                    gt *= x as f64;
                }
            }
        }
        // The free requested rows put at most this much above level l.
        let room: f64 = col_rem[l + 1..].iter().map(|&c| c as f64).product();
        let free_gt = free.min(room);
        let p = le * free / free_gt;
        let above: f64 = levels[l + 1..].iter().map(|x| x.arity as f64).product();
        let g = above / (gt * free_gt);
        p_low[l] = p;
        let capacity = match levels[l].device_bandwidth_bps {
            Some(d) => levels[l].bandwidth_bps.min(above * d),
            None => levels[l].bandwidth_bps,
        };
        bandwidth = bandwidth.max(factor * (p - 1.0) / p * m * g / capacity);
    }
    // The outermost level a group spans is at most the first where `p_low > 1`
    // (one exists: at the innermost level `p_low` is the whole group).
    let Some(last) = p_low.iter().position(|&p| p > 1.0) else {
        return 0.0;
    };
    let mut alpha = f64::INFINITY;
    let mut latency = f64::INFINITY;
    for l in 0..=last {
        alpha = alpha.min(levels[l].latency_s);
        latency = latency.min(p_low[l].max(2.0).log2().ceil() * alpha);
    }
    (bandwidth + latency + spec.system.launch_s) * BOUND_SLACK
}
