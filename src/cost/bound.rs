//! The lower bound of a request on a placement: the time the most loaded link of the
//! best conceivable program needs (docs/cost-model.md, "Lower bound", proves that no
//! correct program of the language is predicted faster).

use crate::placement::Placement;
use crate::spec::{Request, Spec};

/// Seconds: `max_l 2(p_l − 1)/p_l · M · G_l / B_l`, where `M` is the request's bytes,
/// `p_l` = Π of the request's dims at levels `≤ l` (the level-`l` subtrees one
/// reduction group spans) and `G_l` = Π of the other dims at levels `> l` (the
/// reduction groups per level-`l` subtree). Every reduction group is an all-reduce
/// among `p_l` parties (its level-`l` subtrees), which needs `2(p_l − 1)` inter-party
/// messages per byte (one-way gossip); spread over the `p_l` parties' outgoing links
/// and summed over concurrent groups, some link carries at least that much.
pub fn lower_bound(spec: &Spec, placement: &Placement, request: &Request) -> f64 {
    let m = request.bytes as f64;
    spec.system
        .levels
        .iter()
        .enumerate()
        .map(|(l, level)| {
            let (mut p, mut g) = (1.0f64, 1.0f64);
            for d in &placement.dims {
                let asked = request.axes.contains(&d.axis);
                if asked && d.level <= l {
                    p *= d.size as f64;
                } else if !asked && d.level > l {
                    g *= d.size as f64;
                }
            }
            2.0 * (p - 1.0) / p * m * g / level.bandwidth_bps
        })
        .fold(0.0, f64::max)
}
