//! The language of programs over abstract reduction dims: the egg language
//! [`Prog`] that rules are written in and the e-graph holds, and the abstract step
//! [`AbsStep`] that extraction, enumeration and the abstract state work on.
//!
//! A step node is `(op DIMS SHARD ROOTS)`, its three children dim-set leaves such as
//! `{0,2}`: the collective over `DIMS`, run by devices with digit 0 on `ROOTS`, each
//! holding the buffer cut by the dims in `SHARD` (those reduce-scattered before it).
//! Everything a step's cost depends on is in the node, so cost is local and
//! extraction is per placement. `(seq A B)` runs A then B.

use egg::{Analysis, DidMerge, EGraph, Id, RecExpr};

use super::DimSet;
use crate::program::Collective;

/// A step over abstract dims, with the shard it runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AbsStep {
    /// The collective.
    pub op: Collective,
    /// The dims its groups vary over (non-empty).
    pub dims: DimSet,
    /// Only devices with digit 0 on these dims take part.
    pub roots: DimSet,
    /// The dims scattered before this step: each participant holds
    /// `bytes / Π sizes(shard)` at its start.
    pub shard: DimSet,
}

/// The language, in its own module: `define_language!` cannot document variants.
mod language {
    #![allow(missing_docs)]
    use crate::rules::DimSet;
    use egg::{define_language, Id};

    define_language! {
        /// Programs over abstract dims: `(seq A B)` runs A then B; a step is
        /// `(op DIMS SHARD ROOTS)` for op in all_reduce, reduce_scatter, all_gather,
        /// reduce, broadcast; `{0,2}` is a dim-set leaf.
        pub enum Prog {
            "seq" = Seq([Id; 2]),
            "all_reduce" = AllReduce([Id; 3]),
            "reduce_scatter" = ReduceScatter([Id; 3]),
            "all_gather" = AllGather([Id; 3]),
            "reduce" = Reduce([Id; 3]),
            "broadcast" = Broadcast([Id; 3]),
            Set(DimSet),
        }
    }
}
pub use language::Prog;

impl Prog {
    /// The collective and `[dims, shard, roots]` children of a step node.
    pub fn as_step(&self) -> Option<(Collective, [Id; 3])> {
        Some(match self {
            Prog::AllReduce(c) => (Collective::AllReduce, *c),
            Prog::ReduceScatter(c) => (Collective::ReduceScatter, *c),
            Prog::AllGather(c) => (Collective::AllGather, *c),
            Prog::Reduce(c) => (Collective::Reduce, *c),
            Prog::Broadcast(c) => (Collective::Broadcast, *c),
            _ => return None,
        })
    }

    /// A step node.
    pub fn step(op: Collective, children: [Id; 3]) -> Prog {
        match op {
            Collective::AllReduce => Prog::AllReduce(children),
            Collective::ReduceScatter => Prog::ReduceScatter(children),
            Collective::AllGather => Prog::AllGather(children),
            Collective::Reduce => Prog::Reduce(children),
            Collective::Broadcast => Prog::Broadcast(children),
        }
    }
}

/// The e-class analysis: the dim set a leaf class stands for.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sets;

impl Analysis<Prog> for Sets {
    type Data = Option<DimSet>;

    fn make(_egraph: &mut EGraph<Prog, Self>, enode: &Prog, _id: Id) -> Self::Data {
        match enode {
            Prog::Set(s) => Some(*s),
            _ => None,
        }
    }

    fn merge(&mut self, a: &mut Self::Data, b: Self::Data) -> DidMerge {
        egg::merge_option(a, b, |x, y| {
            // Two different constants never merge under sound rules; keep the first.
            debug_assert_eq!(*x, y, "dim-set leaves merged");
            DidMerge(false, true)
        })
    }
}

/// The e-graph type.
pub type ProgGraph = EGraph<Prog, Sets>;

/// The request as a term: all_reduce over every reduction dim, nothing scattered, no
/// roots.
pub fn request_term(dims: usize) -> RecExpr<Prog> {
    let mut e = RecExpr::default();
    let g = e.add(Prog::Set(DimSet::all(dims)));
    let empty = e.add(Prog::Set(DimSet::EMPTY));
    e.add(Prog::AllReduce([g, empty, empty]));
    e
}

/// Adds an abstract step as a node (for tests and for checking rules).
pub fn add_step(egraph: &mut ProgGraph, s: &AbsStep) -> Id {
    let d = egraph.add(Prog::Set(s.dims));
    let sh = egraph.add(Prog::Set(s.shard));
    let r = egraph.add(Prog::Set(s.roots));
    egraph.add(Prog::step(s.op, [d, sh, r]))
}
