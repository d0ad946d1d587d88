//! A stand-in [`Backend`] used until the cost model (`cost`) and the SMT verifier
//! (`verify`) are wired in: DESIGN.md's α-β model in closed form, and the reference
//! interpreter as the checker. Engine tests also use it as an independent cost.
//!
//! Closed form of a step `op(D) @ roots(R)` on `b` bytes per participant, with `n`
//! members per group: rings (all_reduce, reduce_scatter, all_gather) and chains
//! (reduce, broadcast) run in rank order, so a group's members inside one subtree are
//! consecutive and the ring leaves each subtree it spans over one edge. The link of a
//! level-`l` subtree therefore carries one edge's bytes per group that spans more
//! than that subtree — there are (participants in the subtree) / (members of a group
//! in it) such groups. An edge carries `2(n-1)/n·b` (all_reduce), `(n-1)/n·b`
//! (reduce_scatter), `(n-1)·b` (all_gather) or `b` (chains). Time = the most loaded
//! link + hops × the latency of the outermost level crossed + launch.

use super::backend::{Backend, Check};
use crate::lowered;
use crate::placement::Placement;
use crate::program::{Collective, Program, Step};
use crate::semantics;
use crate::spec::{Request, Spec};

/// DESIGN.md's α-β model in closed form, and the interpreter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Interim;

fn size_of(placement: &Placement, level: usize, axis: usize) -> u64 {
    placement.matrix[axis][level]
}

/// Devices below one child subtree of level `l`.
fn below(spec: &Spec, l: usize) -> u64 {
    spec.system.levels[l + 1..].iter().map(|x| x.arity).product()
}

impl Backend for Interim {
    fn step_time_s(&self, spec: &Spec, placement: &Placement, step: &Step, bytes_in: f64) -> f64 {
        let launch = spec.system.launch_s;
        let n: u64 = step
            .dims
            .iter()
            .map(|d| size_of(placement, d.level, d.axis))
            .product();
        if n <= 1 {
            return launch;
        }
        let nf = n as f64;
        let edge = match step.op {
            Collective::AllReduce => 2.0 * (nf - 1.0) / nf * bytes_in,
            Collective::ReduceScatter => (nf - 1.0) / nf * bytes_in,
            Collective::AllGather => (nf - 1.0) * bytes_in,
            Collective::Reduce | Collective::Broadcast => bytes_in,
        };
        let hops = match step.op {
            Collective::AllReduce => 2 * (n - 1),
            _ => n - 1,
        } as f64;
        let outer = step.dims.iter().map(|d| d.level).min().unwrap_or(0);
        let mut worst: f64 = 0.0;
        for (l, level) in spec.system.levels.iter().enumerate().skip(outer) {
            let inside = |dims: &[crate::program::DimRef]| -> u64 {
                dims.iter()
                    .filter(|d| d.level > l)
                    .map(|d| size_of(placement, d.level, d.axis))
                    .product()
            };
            let participants = below(spec, l) / inside(&step.roots);
            let groups = participants / inside(&step.dims);
            worst = worst.max(groups as f64 * edge / level.bandwidth_bps);
        }
        worst + hops * spec.system.levels[outer].latency_s + launch
    }

    fn lower_bound_s(&self, spec: &Spec, placement: &Placement, request: &Request) -> f64 {
        let m = request.bytes as f64;
        let dims: Vec<_> = placement
            .dims
            .iter()
            .filter(|d| request.axes.contains(&d.axis))
            .collect();
        let mut bound: f64 = 0.0;
        for (l, level) in spec.system.levels.iter().enumerate() {
            let spans: u64 = dims.iter().filter(|d| d.level <= l).map(|d| d.size).product();
            if spans <= 1 {
                continue;
            }
            let inside: u64 = dims.iter().filter(|d| d.level > l).map(|d| d.size).product();
            let groups = (below(spec, l) / inside) as f64;
            let p = spans as f64;
            bound = bound.max(groups * 2.0 * (p - 1.0) / p * m / level.bandwidth_bps);
        }
        bound
    }

    fn flat_s(&self, spec: &Spec, placement: &Placement, request: &Request) -> f64 {
        let dims: Vec<_> = placement
            .dims
            .iter()
            .filter(|d| request.axes.contains(&d.axis))
            .map(|d| crate::program::DimRef {
                level: d.level,
                axis: d.axis,
            })
            .collect();
        if dims.is_empty() {
            return 0.0;
        }
        self.step_time_s(
            spec,
            placement,
            &Step::new(Collective::AllReduce, dims),
            request.bytes as f64,
        )
    }

    fn check(
        &self,
        spec: &Spec,
        placement: &Placement,
        request: &Request,
        program: &Program,
    ) -> Check {
        let low = lowered::lower(placement, program);
        if semantics::interpreter_cells(placement, &low) > semantics::MAX_INTERPRETER_CELLS {
            return Check::Unknown(format!(
                "too large for the reference interpreter ({} devices)",
                placement.devices()
            ));
        }
        match semantics::run(spec, placement, &request.axes, &low) {
            Ok(()) => Check::Proved,
            Err(c) => Check::Refuted(c.message),
        }
    }

    fn checker_name(&self) -> &'static str {
        "interpreter"
    }
}
