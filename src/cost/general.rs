//! The general path: a program of explicit rank groups costed edge by edge. Every
//! ring or chain edge is charged to every link it crosses, and the region each device
//! holds is tracked per device. It needs no group form, and it is the independent
//! check of the closed form in [`super::model`].

use std::collections::HashMap;

use super::{bottleneck, bytes_out, edge_bytes, hops, ProgramCost, RelayoutCost, StepCost};
use crate::lowered::{Lowered, LoweredStep};
use crate::placement::Placement;
use crate::program::Collective;
use crate::spec::Spec;

/// The edges of one group's algorithm, as (sender, receiver): a ring in the listed
/// order for all_reduce, reduce_scatter and all_gather (both directions when k = 2);
/// a chain towards the first member for reduce, away from it for broadcast.
fn edges(op: Collective, members: &[u64]) -> Vec<(u64, u64)> {
    let k = members.len();
    if k < 2 {
        return Vec::new();
    }
    match op {
        Collective::AllReduce | Collective::ReduceScatter | Collective::AllGather => {
            (0..k).map(|i| (members[i], members[(i + 1) % k])).collect()
        }
        Collective::Reduce => members.windows(2).map(|w| (w[1], w[0])).collect(),
        Collective::Broadcast => members.windows(2).map(|w| (w[0], w[1])).collect(),
    }
}

/// Charges of one step: for every (level, subtree) the bytes out and in, and for
/// every (level, device) the device's own bytes out and in.
struct Links {
    /// `inner[l]`: devices in one level-`l` subtree (Π of the arities below `l`).
    inner: Vec<u64>,
    out: HashMap<(usize, u64), f64>,
    inc: HashMap<(usize, u64), f64>,
    dev_out: HashMap<(usize, u64), f64>,
    dev_in: HashMap<(usize, u64), f64>,
}

impl Links {
    fn new(spec: &Spec) -> Links {
        let levels = &spec.system.levels;
        let mut inner = vec![1u64; levels.len()];
        for l in (0..levels.len().saturating_sub(1)).rev() {
            inner[l] = inner[l + 1].saturating_mul(levels[l + 1].arity);
        }
        Links {
            inner,
            out: HashMap::new(),
            inc: HashMap::new(),
            dev_out: HashMap::new(),
            dev_in: HashMap::new(),
        }
    }

    /// The outermost level at which `a` and `b` lie in different subtrees.
    fn first_difference(&self, a: u64, b: u64) -> Option<usize> {
        self.inner.iter().position(|&w| a / w != b / w)
    }

    /// Charges `bytes` from `a` to `b` to every link they cross; returns the outermost
    /// level crossed.
    fn charge(&mut self, a: u64, b: u64, bytes: f64) -> Option<usize> {
        let f = self.first_difference(a, b)?;
        for (l, &w) in self.inner.iter().enumerate().skip(f) {
            *self.out.entry((l, a / w)).or_insert(0.0) += bytes;
            *self.inc.entry((l, b / w)).or_insert(0.0) += bytes;
            *self.dev_out.entry((l, a)).or_insert(0.0) += bytes;
            *self.dev_in.entry((l, b)).or_insert(0.0) += bytes;
        }
        Some(f)
    }

    /// Charges a tree over `members` (docs/cost-model.md, §2): at every level where
    /// the group spans several subtrees, `bytes` out of and into each subtree it
    /// touches, spread over its members there; returns the tree's latency.
    fn charge_tree(&mut self, members: &[u64], bytes: f64, levels: &[crate::spec::Level]) -> f64 {
        let mut spans = vec![1.0f64; self.inner.len()];
        for (l, &w) in self.inner.iter().enumerate() {
            // Members per level-`l` subtree the group touches.
            let mut there: HashMap<u64, f64> = HashMap::new();
            for &m in members {
                *there.entry(m / w).or_insert(0.0) += 1.0;
            }
            spans[l] = there.len() as f64;
            if there.len() < 2 {
                continue;
            }
            for &t in there.keys() {
                *self.out.entry((l, t)).or_insert(0.0) += bytes;
                *self.inc.entry((l, t)).or_insert(0.0) += bytes;
            }
            for &m in members {
                let share = bytes / there[&(m / w)];
                *self.dev_out.entry((l, m)).or_insert(0.0) += share;
                *self.dev_in.entry((l, m)).or_insert(0.0) += share;
            }
        }
        if members.len() < 2 {
            return 0.0;
        }
        super::tree_latency(levels, &spans)
    }

    /// The heaviest link of each level, either direction.
    fn heaviest(&self) -> Vec<f64> {
        Self::max_per_level(self.inner.len(), self.out.iter().chain(&self.inc))
    }

    /// The heaviest single device of each level, either direction.
    fn heaviest_device(&self) -> Vec<f64> {
        Self::max_per_level(self.inner.len(), self.dev_out.iter().chain(&self.dev_in))
    }

    fn max_per_level<'a>(
        levels: usize,
        charges: impl Iterator<Item = (&'a (usize, u64), &'a f64)>,
    ) -> Vec<f64> {
        let mut v = vec![0.0f64; levels];
        for (&(l, _), &x) in charges {
            v[l] = v[l].max(x);
        }
        v
    }
}

/// Cost of one step of explicit groups; `held` maps a rank to the region it holds
/// (ranks not in it hold `initial`), and is updated to the regions after the step.
fn lowered_step_cost(
    spec: &Spec,
    step: &LoweredStep,
    held: &mut HashMap<u64, f64>,
    initial: f64,
) -> StepCost {
    let levels = &spec.system.levels;
    let mut links = Links::new(spec);
    let mut latency_s = 0.0f64;
    let mut bytes_in = 0.0f64;
    for group in &step.groups {
        let Some(&first) = group.first() else {
            continue;
        };
        let k = group.len() as f64;
        let b = held.get(&first).copied().unwrap_or(initial);
        bytes_in = bytes_in.max(b);
        if step.tree {
            latency_s = latency_s.max(links.charge_tree(group, 2.0 * b, levels));
        } else {
            let e = edge_bytes(step.collective, k, b);
            let outer = edges(step.collective, group)
                .into_iter()
                .filter_map(|(x, y)| links.charge(x, y, e))
                .min();
            if let Some(level) = outer.and_then(|l| levels.get(l)) {
                latency_s = latency_s.max(hops(step.collective, k) * level.latency_s);
            }
        }
        let after = bytes_out(step.collective, k, b);
        for &m in group {
            held.insert(m, after);
        }
    }
    let loads = links.heaviest();
    let device_loads = links.heaviest_device();
    let neck = bottleneck(&loads, &device_loads, levels);
    StepCost::assemble(
        spec,
        (step.collective, step.tree),
        bytes_in,
        (loads, device_loads),
        neck,
        latency_s,
    )
}

/// Cost of a program of explicit groups for a buffer of `bytes` per device. A group's
/// `bytes_in` is the region its first member holds (the root's, for broadcast); after
/// the step every member holds the step's output region. The step's latency is the
/// largest over its groups of hops × latency of the outermost level the group's edges
/// cross.
pub fn lowered_cost(
    spec: &Spec,
    _placement: &Placement,
    lowered: &Lowered,
    bytes: u64,
) -> ProgramCost {
    let mut held = HashMap::new();
    let initial = bytes as f64;
    let steps = lowered
        .steps
        .iter()
        .map(|s| lowered_step_cost(spec, s, &mut held, initial))
        .collect();
    // A relayout copies the whole buffer: the largest region any device holds.
    let relayout = (!lowered.layout.is_empty()).then(|| {
        let largest = held.values().copied().fold(initial, f64::max);
        RelayoutCost::of(spec, largest)
    });
    ProgramCost::from_steps(steps, relayout)
}

/// The general path of a send_recv request: every device's transfer to the next
/// stage along the axis, listed and charged edge by edge (the independent check of
/// [`super::send_recv_cost`]; it visits every device).
pub fn lowered_send_recv_cost(
    spec: &Spec,
    placement: &Placement,
    request: &crate::spec::Request,
) -> super::SendRecvCost {
    let levels = &spec.system.levels;
    let mut links = Links::new(spec);
    let mut outer: Option<usize> = None;
    let Some(&axis) = request.axes.first() else {
        return super::send_recv_cost(spec, placement, request);
    };
    let size = spec.axes[axis].size;
    for x in 0..placement.devices() {
        let mut c = placement.coords(x);
        if c[axis] + 1 >= size {
            continue;
        }
        c[axis] += 1;
        let y = placement.rank_of_coords(&c);
        if let Some(f) = links.charge(x, y, request.bytes as f64) {
            outer = Some(outer.map_or(f, |o: usize| o.min(f)));
        }
    }
    let loads = links.heaviest();
    let device_loads = links.heaviest_device();
    let (neck, bandwidth_s) = bottleneck(&loads, &device_loads, levels);
    let (latency_s, launch_s) = match outer {
        Some(l) => (levels[l].latency_s, spec.system.launch_s),
        None => (0.0, 0.0),
    };
    super::SendRecvCost {
        time_s: bandwidth_s + latency_s + launch_s,
        bandwidth_s,
        latency_s,
        launch_s,
        bytes_per_level: loads,
        device_bytes_per_level: device_loads,
        bottleneck: neck,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_and_chain_edges() {
        assert_eq!(
            edges(Collective::AllReduce, &[0, 2, 4]),
            vec![(0, 2), (2, 4), (4, 0)]
        );
        assert_eq!(edges(Collective::AllGather, &[1, 3]), vec![(1, 3), (3, 1)]);
        assert_eq!(edges(Collective::Reduce, &[0, 2, 4]), vec![(2, 0), (4, 2)]);
        assert_eq!(
            edges(Collective::Broadcast, &[0, 2, 4]),
            vec![(0, 2), (2, 4)]
        );
        assert!(edges(Collective::AllReduce, &[5]).is_empty());
    }
}
