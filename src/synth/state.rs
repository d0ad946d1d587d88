//! The abstract state of a dim-structured program: the semantics of docs/design.md, computed
//! once per *class* of devices instead of once per device.
//!
//! Devices are grouped by their zero pattern `Z` (the reduction dims on which their
//! digit is 0). Every dim-structured step treats two devices of one class alike:
//! whether a device takes part depends on its root digits being 0, and whether it is
//! a group's root (the lowest rank) on its step digits being 0. Per class the state
//! records validity, the dims summed (`summed`: the device holds the sum over the
//! sources that agree with it outside these dims) and the *scatter list* (the dims
//! reduce-scattered so far, in order; the device's region is the chunk its digits on
//! the list select, the first dim outermost). Because every dim has at least two
//! digits, every zero pattern occurs and these facts do not depend on dim sizes.
//!
//! A step whose members would hold sums over different dims leaves this domain
//! ([`Outcome::Unstructured`]); synthesis never needs such programs, and the
//! enumerator prunes them.

use crate::program::Collective;
use crate::rules::{AbsStep, DimSet};

/// One class of devices.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClassState {
    /// Holds valid data.
    pub valid: bool,
    /// The dims summed so far.
    pub summed: DimSet,
    /// The dims scattered so far, in order.
    pub scatter: Vec<u8>,
}

/// The state of every class, indexed by zero pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct State {
    /// Number of reduction dims.
    pub k: usize,
    /// `classes[z]` for zero pattern `z`.
    pub classes: Vec<ClassState>,
}

/// What a step does to a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The step is well-formed; the new state.
    Next(State),
    /// The step is ill-formed (the interpreter refutes any program with it here).
    IllFormed(&'static str),
    /// The step leaves the structured domain (members with different sums).
    Unstructured,
}

impl State {
    /// Every device holds its own contribution to the whole buffer.
    pub fn initial(k: usize) -> State {
        State {
            k,
            classes: vec![
                ClassState {
                    valid: true,
                    summed: DimSet::EMPTY,
                    scatter: vec![],
                };
                1usize << k
            ],
        }
    }

    /// Whether every device holds the whole buffer summed over every reduction dim.
    pub fn is_final(&self) -> bool {
        let all = DimSet::all(self.k);
        self.classes
            .iter()
            .all(|c| c.valid && c.summed == all && c.scatter.is_empty())
    }

    /// The dims scattered, as a set, on the devices taking part in a step with `roots`
    /// (the shard it runs under). `None` when participants disagree.
    pub fn shard(&self, roots: DimSet) -> Option<DimSet> {
        let mut out: Option<DimSet> = None;
        for (z, c) in self.classes.iter().enumerate() {
            if !roots.subset_of(DimSet(z as u32)) || !c.valid {
                continue;
            }
            let s = c
                .scatter
                .iter()
                .fold(DimSet::EMPTY, |a, &i| a.union(DimSet(1 << i)));
            match out {
                None => out = Some(s),
                Some(o) if o != s => return None,
                _ => {}
            }
        }
        Some(out.unwrap_or(DimSet::EMPTY))
    }

    /// A lower bound on the steps still needed to reach the final state.
    pub fn steps_needed(&self) -> usize {
        let all = DimSet::all(self.k);
        let unsummed = self.classes.iter().any(|c| c.valid && c.summed != all);
        let scattered = self.classes.iter().any(|c| !c.scatter.is_empty());
        let invalid = self.classes.iter().any(|c| !c.valid);
        usize::from(unsummed) + usize::from(scattered) + usize::from(invalid)
    }

    /// Runs one step (its `shard` field is ignored).
    pub fn apply(&self, s: &AbsStep) -> Outcome {
        let (d, r) = (s.dims, s.roots);
        if d.is_empty() || !d.disjoint(r) || !d.union(r).subset_of(DimSet::all(self.k)) {
            return Outcome::IllFormed("a step needs dims, disjoint from its roots");
        }
        let mut next = self.clone();
        // One group type per pattern outside D with the roots' digits 0.
        for z in 0..(1u32 << self.k) {
            let g = DimSet(z);
            if !g.disjoint(d) || !r.subset_of(g) {
                continue;
            }
            let members: Vec<usize> = d.subsets().map(|p| g.union(p).0 as usize).collect();
            let root = g.union(d).0 as usize;
            match self.group(s.op, d, &members, root) {
                Ok(result) => {
                    for (m, st) in members.iter().zip(result) {
                        next.classes[*m] = st;
                    }
                }
                Err(o) => return o,
            }
        }
        Outcome::Next(next)
    }

    /// The members' states after one group of the step.
    fn group(
        &self,
        op: Collective,
        d: DimSet,
        members: &[usize],
        root: usize,
    ) -> Result<Vec<ClassState>, Outcome> {
        let cls = |m: usize| &self.classes[m];
        let scattered = |c: &ClassState| c.scatter.iter().any(|&i| d.contains(i as usize));
        if op == Collective::Broadcast {
            let rc = cls(root);
            if !rc.valid {
                return Err(Outcome::IllFormed(
                    "broadcast from a root with nothing valid",
                ));
            }
            if scattered(rc) || !d.subset_of(rc.summed) {
                return Err(Outcome::Unstructured);
            }
            return Ok(members.iter().map(|_| rc.clone()).collect());
        }
        if members.iter().any(|&m| !cls(m).valid) {
            return Err(Outcome::IllFormed("a member holds nothing valid"));
        }
        let first = cls(members[0]);
        if members.iter().any(|&m| cls(m).summed != first.summed) {
            return Err(Outcome::Unstructured);
        }
        if op == Collective::AllGather {
            if members.iter().any(|&m| cls(m).scatter != first.scatter) {
                return Err(Outcome::Unstructured);
            }
            let n = d.len();
            let ok = first.scatter.len() >= n
                && first.scatter[first.scatter.len() - n..]
                    .iter()
                    .map(|&i| i as usize)
                    .eq(d.iter());
            if !ok {
                return Err(Outcome::IllFormed(
                    "all_gather members do not hold consecutive chunks in rank order",
                ));
            }
            let mut st = first.clone();
            st.scatter.truncate(first.scatter.len() - n);
            return Ok(members.iter().map(|_| st.clone()).collect());
        }
        // all_reduce, reduce_scatter, reduce: one common region, no source twice.
        if members.iter().any(|&m| cls(m).scatter != first.scatter) {
            return Err(Outcome::Unstructured);
        }
        if scattered(first) {
            return Err(Outcome::IllFormed("members hold different regions"));
        }
        if !first.summed.disjoint(d) {
            return Err(Outcome::IllFormed("a source would be summed twice"));
        }
        let mut st = first.clone();
        st.summed = st.summed.union(d);
        Ok(match op {
            Collective::AllReduce => members.iter().map(|_| st.clone()).collect(),
            Collective::ReduceScatter => {
                st.scatter.extend(d.iter().map(|i| i as u8));
                members.iter().map(|_| st.clone()).collect()
            }
            _ => members
                .iter()
                .map(|&m| {
                    if m == root {
                        st.clone()
                    } else {
                        ClassState {
                            valid: false,
                            summed: DimSet::EMPTY,
                            scatter: vec![],
                        }
                    }
                })
                .collect(),
        })
    }
}

/// Runs a whole abstract program from the initial state; `Ok(true)` when it is
/// correct, `Ok(false)` when it is well-formed but incomplete, `Err` when a step is
/// ill-formed or leaves the domain.
pub fn check(k: usize, steps: &[AbsStep]) -> Result<bool, Outcome> {
    let mut st = State::initial(k);
    for s in steps {
        match st.apply(s) {
            Outcome::Next(n) => st = n,
            o => return Err(o),
        }
    }
    Ok(st.is_final())
}

/// The most reduction dims whose every order synthesis tries as a relayout
/// ([`AbsGoal::layouts`]): 4, so at most 4! = 24 goals per sharded request and shape.
pub const MAX_LAYOUT_DIMS: usize = 4;

/// What a request asks of the abstract program (docs/design.md, §3.3.1), over the
/// abstract reduction dims `0..k` (0 the most significant).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AbsGoal {
    /// Every device ends with the whole buffer, summed over every reduction dim.
    AllReduce,
    /// Every device ends with (at least) its shard, summed over every reduction dim;
    /// the shard number is the mixed radix of the device's digits on the dims in this
    /// order (the request's axis order, each axis's levels outer first).
    ReduceScatter(Vec<u8>),
    /// Every device starts with its shard (numbered by the dims in this order) and
    /// ends with the whole buffer, nothing summed.
    AllGather(Vec<u8>),
}

impl AbsGoal {
    /// The numbering order of a sharded goal; `None` for all_reduce.
    pub fn order(&self) -> Option<&[u8]> {
        match self {
            AbsGoal::AllReduce => None,
            AbsGoal::ReduceScatter(o) | AbsGoal::AllGather(o) => Some(o),
        }
    }

    /// The goal a `layout(L):` program's steps must meet: the same kind with the
    /// shards numbered in `order` (all_reduce and an empty order: unchanged).
    pub fn with_order(&self, order: &[u8]) -> AbsGoal {
        match self {
            _ if order.is_empty() => self.clone(),
            AbsGoal::AllReduce => AbsGoal::AllReduce,
            AbsGoal::ReduceScatter(_) => AbsGoal::ReduceScatter(order.to_vec()),
            AbsGoal::AllGather(_) => AbsGoal::AllGather(order.to_vec()),
        }
    }

    /// The numbering orders a synthesis tries for this goal, each with its relayout
    /// (empty for the goal's own order, which comes first): for a sharded goal over
    /// at most [`MAX_LAYOUT_DIMS`] dims every order of the dims (at most 24), in
    /// lexicographic order after the goal's own; otherwise only the goal's own.
    pub fn layouts(&self) -> Vec<Vec<u8>> {
        let mut out = vec![Vec::new()];
        let Some(own) = self.order() else {
            return out;
        };
        if own.len() > MAX_LAYOUT_DIMS {
            return out;
        }
        let mut all: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..own.len() {
            all = all
                .into_iter()
                .flat_map(|p| {
                    (0..own.len() as u8)
                        .filter(|d| !p.contains(d))
                        .map(|d| {
                            let mut q = p.clone();
                            q.push(d);
                            q
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
        }
        out.extend(all.into_iter().filter(|o| o.as_slice() != own));
        out
    }
}

impl State {
    /// The start state of a goal. For all_gather every device holds only its shard,
    /// which in the abstract domain is the state a reduce-scatter in the numbering
    /// order leaves, with every dim marked summed so that no step may sum again (the
    /// interpreter refuses such a step too: its members hold different regions).
    pub fn initial_for(k: usize, goal: &AbsGoal) -> State {
        let mut st = State::initial(k);
        if let AbsGoal::AllGather(order) = goal {
            for c in &mut st.classes {
                c.summed = DimSet::all(k);
                c.scatter = order.clone();
            }
        }
        st
    }

    /// Whether the state meets the goal's end: for reduce_scatter, every device
    /// valid, summed over every dim, and its scatter list a prefix of the numbering
    /// order (so its region contains its shard).
    pub fn is_final_for(&self, goal: &AbsGoal) -> bool {
        match goal {
            AbsGoal::AllReduce | AbsGoal::AllGather(_) => self.is_final(),
            AbsGoal::ReduceScatter(order) => {
                let all = DimSet::all(self.k);
                self.classes
                    .iter()
                    .all(|c| c.valid && c.summed == all && order.starts_with(&c.scatter))
            }
        }
    }

    /// [`State::steps_needed`] for a goal: a reduce_scatter goal needs no gather
    /// unless a scatter list left the numbering order.
    pub fn steps_needed_for(&self, goal: &AbsGoal) -> usize {
        match goal {
            AbsGoal::AllReduce | AbsGoal::AllGather(_) => self.steps_needed(),
            AbsGoal::ReduceScatter(order) => {
                let all = DimSet::all(self.k);
                let unsummed = self.classes.iter().any(|c| c.valid && c.summed != all);
                let wrong = self.classes.iter().any(|c| !order.starts_with(&c.scatter));
                let invalid = self.classes.iter().any(|c| !c.valid);
                usize::from(unsummed) + usize::from(wrong) + usize::from(invalid)
            }
        }
    }
}

/// [`check`] for a goal: `Ok(true)` when the program meets it.
pub fn check_goal(k: usize, goal: &AbsGoal, steps: &[AbsStep]) -> Result<bool, Outcome> {
    let mut st = State::initial_for(k, goal);
    for s in steps {
        match st.apply(s) {
            Outcome::Next(n) => st = n,
            o => return Err(o),
        }
    }
    Ok(st.is_final_for(goal))
}
