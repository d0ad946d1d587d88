//! A request's reduction dims on a placement ([`Shape`]): the bridge between the
//! rule language's abstract dims and a placement's concrete `level:axis` dims.
//!
//! For a request on a placement, the *reduction dims* are the placement's dims whose
//! axis the request names, in significance order; abstract dim `i` is the `i`-th of
//! them (0 = most significant). Whether a program over reduction dims is correct
//! depends only on their number and order, never on their sizes, levels or the other
//! dims (which only replicate independent copies of the problem), so one e-graph per
//! dim count serves every placement and request.

use super::state::AbsGoal;
use crate::placement::Placement;
use crate::program::{DimRef, Step};
use crate::rules::{AbsStep, DimSet};
use crate::spec::{Request, RequestKind};

/// The reduction dims of a request on a placement: abstract dim `i` ↔ `dims[i]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shape {
    /// The placement's dims whose axis is requested, significance order.
    pub dims: Vec<DimRef>,
    /// Their sizes (matrix entries, each > 1).
    pub sizes: Vec<u64>,
}

impl Shape {
    /// Number of reduction dims.
    pub fn len(&self) -> usize {
        self.dims.len()
    }

    /// Whether the request has no dims (every requested axis has size 1 here).
    pub fn is_empty(&self) -> bool {
        self.dims.is_empty()
    }

    /// The reduction dims of `request_axes` on `placement`.
    pub fn of(placement: &Placement, request_axes: &[usize]) -> Shape {
        let (dims, sizes) = placement
            .reduction_dims(request_axes)
            .map(|d| {
                (
                    DimRef {
                        level: d.level,
                        axis: d.axis,
                    },
                    d.size,
                )
            })
            .unzip();
        Shape { dims, sizes }
    }

    /// Product of the sizes of a set of dims.
    pub fn product(&self, set: DimSet) -> u64 {
        set.iter()
            .map(|i| self.sizes.get(i).copied().unwrap_or(1))
            .product()
    }

    /// The concrete dims of a set, significance order.
    pub fn refs(&self, set: DimSet) -> Vec<DimRef> {
        set.iter()
            .filter_map(|i| self.dims.get(i).copied())
            .collect()
    }

    /// The concrete dims of an ordered list of abstract dims, in that order (a
    /// relayout's digit order).
    pub fn ordered_refs(&self, order: &[u8]) -> Vec<DimRef> {
        order
            .iter()
            .filter_map(|&i| self.dims.get(i as usize).copied())
            .collect()
    }

    /// The concrete step of an abstract one.
    pub fn step(&self, s: &AbsStep) -> Step {
        let mut out = Step::new(s.op, Vec::new());
        self.step_into(s, &mut out);
        out
    }

    /// [`Shape::step`] written into `out`, reusing its buffers (dims and roots
    /// sorted, as [`Step::new`] and [`Step::at_roots`] keep them); pricing every
    /// step of a plan this way allocates nothing.
    pub fn step_into(&self, s: &AbsStep, out: &mut Step) {
        let refs = |set: DimSet| set.iter().filter_map(|i| self.dims.get(i).copied());
        out.op = s.op;
        out.dims.clear();
        out.dims.extend(refs(s.dims));
        out.dims.sort();
        out.roots.clear();
        out.roots.extend(refs(s.roots));
        out.roots.sort();
    }

    /// The abstract goal of a request over this shape: for reduce_scatter and
    /// all_gather, the numbering order of the abstract dims — by the position of
    /// their axis in the request (which numbers the shards, first most significant),
    /// then by significance (an axis coordinate is the mixed radix of its level
    /// digits, outer first; docs/design.md, §3.3.1).
    pub fn goal(&self, request: &Request) -> AbsGoal {
        let order = || {
            let mut idx: Vec<u8> = (0..self.dims.len() as u8).collect();
            idx.sort_by_key(|&i| {
                let axis = self.dims[i as usize].axis;
                let pos = request.axes.iter().position(|&a| a == axis);
                (pos, i)
            });
            idx
        };
        match request.collective {
            RequestKind::ReduceScatter => AbsGoal::ReduceScatter(order()),
            RequestKind::AllGather => AbsGoal::AllGather(order()),
            _ => AbsGoal::AllReduce,
        }
    }
}
