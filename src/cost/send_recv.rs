//! The price of a `send_recv` request (pipeline traffic): every device sends its
//! buffer to the device whose coordinate on the request's axis is one higher (the last
//! stage sends nothing), all at once. Never synthesized: there is one way to do it.
//!
//! Closed form (docs/cost-model.md, §6): the axis coordinate is the mixed radix of the
//! axis's digits, outer level first, so `x → x + 1` increments the axis's innermost
//! digit with carry, and the transfer leaves `x`'s level-`l` subtree exactly when the
//! carry reaches a digit at a level `≤ l`, i.e. when every axis digit at the levels
//! below `l` is at its maximum. In a level-`l` subtree (not holding the last stage)
//! that is `G'_l` devices, one per choice of the other axes' digits at levels `> l`,
//! each sending `M`: `load_l = M · G'_l` (and as much in), a single device's load `M`,
//! where the axis has a dim at a level `≤ l`; 0 elsewhere. One hop, at the latency of
//! the outermost level the axis spans.

use super::bottleneck;
use crate::placement::Placement;
use crate::spec::{Request, Spec};

/// The predicted cost of a send_recv request: its sends run as one step.
#[derive(Debug, Clone, PartialEq)]
pub struct SendRecvCost {
    /// `bandwidth_s + latency_s + launch_s`.
    pub time_s: f64,
    /// The most loaded link's (or device's) bytes over its bandwidth.
    pub bandwidth_s: f64,
    /// One hop at the latency of the outermost level the axis spans.
    pub latency_s: f64,
    /// The system's fixed cost of one call (0 when the axis has size 1: nothing runs).
    pub launch_s: f64,
    /// Heaviest single link of each level (bytes, either direction).
    pub bytes_per_level: Vec<f64>,
    /// Heaviest single device's own traffic over each level's link.
    pub device_bytes_per_level: Vec<f64>,
    /// The level that decides the bandwidth term.
    pub bottleneck: Option<usize>,
}

/// The cost of the request's sends.
pub fn send_recv_cost(spec: &Spec, placement: &Placement, request: &Request) -> SendRecvCost {
    let levels = &spec.system.levels;
    let axis = request.axes.first().copied();
    let on_axis = |d: &crate::placement::Dim| Some(d.axis) == axis;
    let m = request.bytes as f64;
    let mut loads = vec![0.0; levels.len()];
    let mut device_loads = vec![0.0; levels.len()];
    for l in 0..levels.len() {
        if !placement.dims.iter().any(|d| on_axis(d) && d.level <= l) {
            continue;
        }
        let others: f64 = placement
            .dims
            .iter()
            .filter(|d| !on_axis(d) && d.level > l)
            .map(|d| d.size as f64)
            .product();
        loads[l] = m * others;
        device_loads[l] = m;
    }
    let (neck, bandwidth_s) = bottleneck(&loads, &device_loads, levels);
    let outer = placement
        .dims
        .iter()
        .filter(|d| on_axis(d))
        .map(|d| d.level)
        .min();
    let (latency_s, launch_s) = match outer {
        Some(l) => (levels[l].latency_s, spec.system.launch_s),
        None => (0.0, 0.0),
    };
    SendRecvCost {
        time_s: bandwidth_s + latency_s + launch_s,
        bandwidth_s,
        latency_s,
        launch_s,
        bytes_per_level: loads,
        device_bytes_per_level: device_loads,
        bottleneck: neck,
    }
}
