//! k-best extraction: the `k` cheapest distinct programs of an e-class, for one
//! placement's step costs (egg 0.11 extracts only the single best term).
//!
//! Every class keeps a list of at most `k` candidates, each a flattened program (its
//! steps in order) with its cost, ordered by cost and then by canonical text; two
//! derivations that flatten to the same program are one candidate. A step node gives
//! itself; a `seq` node gives every concatenation of its children's candidates. The
//! lists are recomputed in post-order until nothing changes (the e-graph may have
//! cycles; step costs are positive, so this converges). Keeping `k` per class is
//! enough: if `p ++ q` is among a class's `k` best, `p` is among its left child's `k`
//! best, since `k` better left candidates would give `k` better distinct
//! concatenations.
//!
//! Costs are whole femtoseconds ([`to_fs`], [`Fs`]), so sums are exact and
//! associative and the order never depends on how a sequence is bracketed; `u128`
//! femtoseconds hold 10^23 s, so no accepted input saturates them.

use std::cmp::Ordering;

use egg::Id;

use super::egraph::Saturated;
use super::fasthash::FastMap;
use crate::rules::{AbsStep, DimSet, Prog};

/// Whole femtoseconds.
pub type Fs = u128;

/// Seconds as whole femtoseconds, rounded up, so that a sum of steps is never below
/// the sum of their exact times (NaN and anything past 10^23 s count as never).
pub fn to_fs(seconds: f64) -> Fs {
    let x = (seconds * 1e15).ceil();
    if x.is_nan() || x >= Fs::MAX as f64 {
        Fs::MAX
    } else if x <= 0.0 {
        0
    } else {
        x as Fs
    }
}

/// What extraction and enumeration need from a placement: a step's cost and text.
pub trait StepOracle {
    /// The step's time in femtoseconds, run on the shard its `shard` names.
    fn cost_fs(&self, step: &AbsStep) -> Fs;
    /// The step's canonical text: a function of its op, dims and roots, one text
    /// for each (its shard does not show).
    fn text(&self, step: &AbsStep) -> String;
}

/// A program found by an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its time, femtoseconds: Σ of its steps' costs, or its pipelined time when
    /// `chunks > 1`.
    pub cost_fs: Fs,
    /// Its steps, in order.
    pub steps: Vec<AbsStep>,
    /// Pipelined over this many chunks (1: plain).
    pub chunks: u64,
    /// Σ of its steps' costs (run plain), femtoseconds, plus its relayout's.
    pub plain_fs: Fs,
    /// A sharded goal's relayout (docs/design.md, §3.7): the abstract dims in the
    /// order the steps number the shards; empty for none (the request's own order).
    pub layout: Vec<u8>,
    /// Which steps run as a tree (docs/cost-model.md, §2), by position; empty or
    /// shorter than `steps`: the rest are rings and chains.
    pub trees: Vec<bool>,
}

impl Candidate {
    /// A plain (unpipelined) program of these steps costing `cost_fs`.
    pub fn plain(cost_fs: Fs, steps: Vec<AbsStep>) -> Candidate {
        Candidate {
            cost_fs,
            steps,
            chunks: 1,
            plain_fs: cost_fs,
            layout: Vec::new(),
            trees: Vec::new(),
        }
    }
}

/// The steps an engine can name, with costs and a text order fixed for one oracle.
pub struct StepTable {
    /// Every step.
    pub steps: Vec<AbsStep>,
    /// `cost[i]` of `steps[i]`.
    pub cost: Vec<Fs>,
    /// `rank[i]`: position of `steps[i]`'s text in text order (equal texts, equal ranks).
    pub rank: Vec<u32>,
}

impl StepTable {
    /// Prices and ranks `steps` with `oracle`.
    pub fn new(steps: Vec<AbsStep>, oracle: &dyn StepOracle) -> StepTable {
        let cost = steps.iter().map(|s| oracle.cost_fs(s)).collect();
        let rank = text_ranks(&steps, oracle);
        StepTable { steps, cost, rank }
    }

    /// Orders two programs (as step indices) by cost, then canonical text. Comparing
    /// step texts one by one is the order of the joined texts, because a step's text
    /// is a prefix of another's only before ` @ roots(`, and `;` sorts before `@`.
    pub fn compare(&self, a: (Fs, &[u32]), b: (Fs, &[u32])) -> Ordering {
        a.0.cmp(&b.0).then_with(|| {
            a.1.iter()
                .map(|&i| self.rank[i as usize])
                .cmp(b.1.iter().map(|&i| self.rank[i as usize]))
        })
    }

    /// Whether two programs have the same text.
    pub fn same_text(&self, a: &[u32], b: &[u32]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(&x, &y)| self.rank[x as usize] == self.rank[y as usize])
    }
}

/// A candidate as step indices.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cand {
    cost: Fs,
    steps: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
enum Node {
    Step(u32),
    Seq(usize, usize),
}

/// Most fixpoint passes (a safety net; the e-graphs built by the rules are acyclic
/// in practice and converge in one or two).
const MAX_PASSES: usize = 256;

/// The placement-independent half of extraction for one saturated e-graph: the
/// classes reachable from the request (children first where acyclic), their step and
/// `seq` nodes, and the distinct steps. Built once per e-graph, it serves every
/// placement and request with that many dims; [`Plan::k_best`] then only prices steps
/// and combines lists.
#[derive(Debug)]
pub struct Plan {
    /// Distinct steps of the reachable classes.
    steps: Vec<AbsStep>,
    /// `ident[i]`: which text `steps[i]` has, as the index of its (op, dims, roots)
    /// among the steps (a step's text is one per such triple, [`StepOracle::text`]),
    /// so that equal texts are found without writing any.
    ident: Vec<u32>,
    /// Per class (in post-order), its nodes.
    nodes: Vec<Vec<Node>>,
    /// Indices of the goal's seed classes (the request's class for all_reduce).
    roots: Vec<usize>,
    /// Whether every `seq` node's children come before its class: one pass in this
    /// order is then the fixpoint.
    topological: bool,
}

impl Plan {
    /// Walks the e-graph of `sat` once.
    pub fn new(sat: &Saturated) -> Plan {
        let eg = &sat.egraph;
        // Classes reachable from the root, children before parents where acyclic.
        let mut index: FastMap<Id, usize> = FastMap::default();
        let mut order: Vec<Id> = Vec::new();
        let mut stack: Vec<(Id, bool)> = sat.roots.iter().rev().map(|&r| (r, false)).collect();
        while let Some((id, done)) = stack.pop() {
            let id = eg.find(id);
            if done {
                if let std::collections::hash_map::Entry::Vacant(e) = index.entry(id) {
                    e.insert(order.len());
                    order.push(id);
                }
                continue;
            }
            if index.contains_key(&id) || stack.iter().any(|&(x, d)| d && x == id) {
                continue;
            }
            stack.push((id, true));
            for n in &eg[id].nodes {
                if let Prog::Seq([a, b]) = n {
                    for c in [*b, *a] {
                        if !index.contains_key(&eg.find(c)) {
                            stack.push((c, false));
                        }
                    }
                }
            }
        }
        // Nodes of every class, steps interned.
        let mut steps: Vec<AbsStep> = Vec::new();
        let mut step_ids: FastMap<AbsStep, u32> = FastMap::default();
        let set = |id: Id| eg[id].data.unwrap_or(DimSet::EMPTY);
        let nodes: Vec<Vec<Node>> = order
            .iter()
            .map(|&id| {
                eg[id]
                    .nodes
                    .iter()
                    .filter_map(|n| {
                        if let Some((op, [d, s, r])) = n.as_step() {
                            let st = AbsStep {
                                op,
                                dims: set(d),
                                shard: set(s),
                                roots: set(r),
                            };
                            let next = steps.len() as u32;
                            let i = *step_ids.entry(st).or_insert_with(|| {
                                steps.push(st);
                                next
                            });
                            Some(Node::Step(i))
                        } else if let Prog::Seq([a, b]) = n {
                            Some(Node::Seq(index[&eg.find(*a)], index[&eg.find(*b)]))
                        } else {
                            None
                        }
                    })
                    .collect()
            })
            .collect();
        let topological = nodes.iter().enumerate().all(|(c, ns)| {
            ns.iter().all(|n| match *n {
                Node::Step(_) => true,
                Node::Seq(a, b) => a < c && b < c,
            })
        });
        let mut texts: FastMap<AbsStep, u32> = FastMap::default();
        let ident = steps
            .iter()
            .map(|s| {
                let next = texts.len() as u32;
                let shown = AbsStep {
                    shard: DimSet::EMPTY,
                    ..*s
                };
                *texts.entry(shown).or_insert(next)
            })
            .collect();
        Plan {
            steps,
            ident,
            nodes,
            roots: sat.roots.iter().map(|&r| index[&eg.find(r)]).collect(),
            topological,
        }
    }

    /// Distinct steps the e-graph can name (each priced once per placement).
    pub fn step_count(&self) -> usize {
        self.steps.len()
    }

    /// The `k` best distinct programs of the request class, best first, for one
    /// placement's step costs.
    ///
    /// Each class's list is built by offering its candidates one by one, in node
    /// order (a `seq` node's pairs left-major), to a sorted list of at most `k`
    /// distinct texts (`Best`); a candidate is only a cost and where it comes
    /// from, and its steps are copied once it is kept. The children's lists are
    /// sorted by cost, so a `seq` node stops at the first pair costlier than a full
    /// list's last: most candidates are dropped on one comparison. Texts are
    /// written only when two candidates of equal cost are ordered. The result is
    /// that of sorting every candidate by (cost, text, offer order), dropping
    /// repeated texts and keeping `k` (the reference in this module's tests).
    ///
    /// On an acyclic e-graph the lists are first built under a cap (`Caps`): a
    /// candidate of class `c` is kept only if it can still end in a program of the
    /// request costing at most `T`, which leaves most classes of a large e-graph
    /// empty. If `k` programs come out, they are the `k` best (every program
    /// costing at most `T` is still built, and the `k`-th costs at most `T`);
    /// otherwise `T` grows, up to no cap at all.
    pub fn k_best(&self, k: usize, oracle: &dyn StepOracle) -> Vec<Candidate> {
        self.k_best_tries(k, oracle).0
    }

    /// [`Plan::k_best`], and how many extractions it took (1 or 2: under a cap; 3:
    /// the last without one; 0: no cap tried).
    fn k_best_tries(&self, k: usize, oracle: &dyn StepOracle) -> (Vec<Candidate>, usize) {
        let cost: Vec<Fs> = self.steps.iter().map(|s| oracle.cost_fs(s)).collect();
        let texts = Texts::new(self, oracle);
        let Some(caps) = self.topological.then(|| Caps::new(self, &cost)) else {
            return (self.extract(k, &cost, &texts, None), 0);
        };
        // The cheapest program costs `best`; try T = 1.0625 × and 2 × that first.
        let best = caps.best;
        for (tries, t) in [best.saturating_add(best / 16), best.saturating_mul(2)]
            .into_iter()
            .enumerate()
        {
            if t == Fs::MAX {
                break;
            }
            let found = self.extract(k, &cost, &texts, Some((&caps.outside, t)));
            if found.len() == k {
                return (found, tries + 1);
            }
        }
        (self.extract(k, &cost, &texts, None), 3)
    }

    /// [`Plan::k_best`]'s lists, each class's candidates capped at `T − outside[c]`
    /// when `cap` is `Some((outside, T))`.
    fn extract(
        &self,
        k: usize,
        cost: &[Fs],
        texts: &Texts,
        cap: Option<(&[Fs], Fs)>,
    ) -> Vec<Candidate> {
        let n = self.nodes.len();
        let mut store = Store {
            arena: Vec::new(),
            entries: Vec::new(),
        };
        // Per class, its list: a range of `store.entries`.
        let mut lists: Vec<(usize, usize)> = vec![(0, 0); n];
        let mut best = Best::new(k);
        let passes = if self.topological { 1 } else { MAX_PASSES };
        for pass in 0..passes {
            let mut changed = false;
            for c in 0..n {
                let limit = match cap {
                    Some((outside, t)) if outside[c] > t => continue,
                    Some((outside, t)) => t - outside[c],
                    None => Fs::MAX,
                };
                best.clear(limit);
                for node in &self.nodes[c] {
                    match *node {
                        Node::Step(i) => {
                            best.offer(&store, texts, cost[i as usize], Origin::Step(i));
                        }
                        Node::Seq(a, b) => {
                            let (la, lb) = (lists[a], lists[b]);
                            let ys = &store.entries[lb.0..lb.0 + lb.1];
                            for x in &store.entries[la.0..la.0 + la.1] {
                                match ys.first() {
                                    Some(y) if !best.beyond(x.cost.saturating_add(y.cost)) => {}
                                    _ => break,
                                }
                                for y in ys {
                                    let sum = x.cost.saturating_add(y.cost);
                                    if best.beyond(sum) {
                                        break;
                                    }
                                    best.offer(&store, texts, sum, Origin::Pair(*x, *y));
                                }
                            }
                        }
                    }
                }
                let mark = (store.arena.len(), store.entries.len());
                best.keep(&mut store);
                let new = (mark.1, store.entries.len() - mark.1);
                if self.topological {
                    lists[c] = new;
                } else if store.same(lists[c], new) {
                    store.arena.truncate(mark.0);
                    store.entries.truncate(mark.1);
                } else {
                    lists[c] = new;
                    changed = true;
                }
            }
            if !changed || self.topological {
                tracing::trace!(
                    passes = pass + 1,
                    classes = n,
                    topological = self.topological,
                    "k-best extraction converged"
                );
                break;
            }
            if pass + 1 == MAX_PASSES {
                tracing::warn!(
                    "k-best extraction stopped after {MAX_PASSES} passes without converging"
                );
            }
        }
        // The best over every seed: programs that meet the goal in different ways.
        best.clear(cap.map_or(Fs::MAX, |(_, t)| t));
        for &r in &self.roots {
            if let Some(&(s, len)) = lists.get(r) {
                for x in &store.entries[s..s + len] {
                    best.offer(&store, texts, x.cost, Origin::Pair(*x, Entry::EMPTY));
                }
            }
        }
        best.picks
            .iter()
            .map(|p| {
                let (a, b) = p.origin.slices(&store.arena);
                Candidate::plain(
                    p.cost,
                    a.iter().chain(b).map(|&i| self.steps[i as usize]).collect(),
                )
            })
            .collect()
    }

    /// [`Plan::k_best`] as first written: every candidate materialized, sorted, and
    /// cut to `k` (the reference the tests compare it with).
    #[cfg(test)]
    fn k_best_reference(&self, k: usize, oracle: &dyn StepOracle) -> Vec<Candidate> {
        let table = StepTable::new(self.steps.clone(), oracle);
        let n = self.nodes.len();
        let mut lists: Vec<Vec<Cand>> = vec![Vec::new(); n];
        let mut cands: Vec<Cand> = Vec::new();
        let passes = if self.topological { 1 } else { MAX_PASSES };
        for _ in 0..passes {
            let mut changed = false;
            for c in 0..n {
                cands.clear();
                for node in &self.nodes[c] {
                    match *node {
                        Node::Step(i) => cands.push(Cand {
                            cost: table.cost[i as usize],
                            steps: vec![i],
                        }),
                        Node::Seq(a, b) => {
                            for x in &lists[a] {
                                for y in &lists[b] {
                                    let mut s = x.steps.clone();
                                    s.extend_from_slice(&y.steps);
                                    cands.push(Cand {
                                        cost: x.cost.saturating_add(y.cost),
                                        steps: s,
                                    });
                                }
                            }
                        }
                    }
                }
                let best = keep_best(&table, &mut cands, k);
                if best != lists[c] {
                    lists[c] = best;
                    changed = true;
                }
            }
            if !changed || self.topological {
                break;
            }
        }
        let mut all: Vec<Cand> = self
            .roots
            .iter()
            .filter_map(|&r| lists.get(r))
            .flatten()
            .cloned()
            .collect();
        keep_best(&table, &mut all, k)
            .into_iter()
            .map(|c| {
                Candidate::plain(
                    c.cost,
                    c.steps.iter().map(|&i| table.steps[i as usize]).collect(),
                )
            })
            .collect()
    }
}

/// Every step's text rank ([`StepTable`]'s `rank`).
fn text_ranks(steps: &[AbsStep], oracle: &dyn StepOracle) -> Vec<u32> {
    let texts: Vec<String> = steps.iter().map(|s| oracle.text(s)).collect();
    let mut order: Vec<usize> = (0..steps.len()).collect();
    order.sort_by(|&a, &b| texts[a].cmp(&texts[b]));
    let mut rank = vec![0u32; steps.len()];
    let mut r = 0u32;
    for (i, &s) in order.iter().enumerate() {
        if i > 0 && texts[order[i - 1]] != texts[s] {
            r += 1;
        }
        rank[s] = r;
    }
    rank
}

/// A kept program: its cost and its steps, `arena[start..start + len]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    cost: Fs,
    start: usize,
    len: usize,
    print: Print,
}

impl Entry {
    /// No steps.
    const EMPTY: Entry = Entry {
        cost: 0,
        start: 0,
        len: 0,
        print: Print::EMPTY,
    };
}

/// Every list of one extraction: the steps of all kept programs end to end, and
/// the programs. Append-only, so an offered candidate's steps stay where they are.
struct Store {
    arena: Vec<u32>,
    entries: Vec<Entry>,
}

impl Store {
    /// Whether two lists (ranges of `entries`) hold the same programs.
    fn same(&self, a: (usize, usize), b: (usize, usize)) -> bool {
        let steps = |e: &Entry| &self.arena[e.start..e.start + e.len];
        a.1 == b.1
            && self.entries[a.0..a.0 + a.1]
                .iter()
                .zip(&self.entries[b.0..b.0 + b.1])
                .all(|(x, y)| x.cost == y.cost && steps(x) == steps(y))
    }
}

/// Where a candidate's steps are: one step, or two kept programs end to end.
#[derive(Debug, Clone, Copy)]
enum Origin {
    Step(u32),
    Pair(Entry, Entry),
}

impl Origin {
    /// Its steps, as two slices to read one after the other.
    fn slices<'a>(&'a self, arena: &'a [u32]) -> (&'a [u32], &'a [u32]) {
        match self {
            Origin::Step(i) => (std::slice::from_ref(i), &[]),
            Origin::Pair(x, y) => (
                &arena[x.start..x.start + x.len],
                &arena[y.start..y.start + y.len],
            ),
        }
    }
}

/// One extraction's view of the steps' texts: which are equal (known without
/// writing them) and their order (each text written the first time two candidates
/// of equal cost differ at it).
struct Texts<'a> {
    /// `written[t]`: text `t` (an `ident` value), once written.
    written: Vec<std::cell::OnceCell<String>>,
    plan: &'a Plan,
    oracle: &'a dyn StepOracle,
}

impl<'a> Texts<'a> {
    fn new(plan: &'a Plan, oracle: &'a dyn StepOracle) -> Texts<'a> {
        let texts = plan.ident.iter().max().map_or(0, |&m| m as usize + 1);
        Texts {
            written: (0..texts).map(|_| std::cell::OnceCell::new()).collect(),
            plan,
            oracle,
        }
    }

    /// Step `i`'s text.
    fn text(&self, i: u32) -> &str {
        self.written[self.plan.ident[i as usize] as usize]
            .get_or_init(|| self.oracle.text(&self.plan.steps[i as usize]))
    }

    /// A candidate's fingerprint: its step count and a polynomial hash of its
    /// texts (equal texts, equal fingerprints), with the base's power to extend it.
    fn print(&self, origin: &Origin) -> Print {
        match *origin {
            Origin::Step(i) => Print::one(self.plan.ident[i as usize]),
            Origin::Pair(x, y) => x.print.then(y.print),
        }
    }

    /// Whether two candidates have the same text.
    fn same(&self, arena: &[u32], a: &Origin, b: &Origin) -> bool {
        let ((a0, a1), (b0, b1)) = (a.slices(arena), b.slices(arena));
        a0.len() + a1.len() == b0.len() + b1.len()
            && a0
                .iter()
                .chain(a1)
                .zip(b0.iter().chain(b1))
                .all(|(&x, &y)| self.plan.ident[x as usize] == self.plan.ident[y as usize])
    }

    /// Orders two candidates of equal cost by text: step texts one by one
    /// ([`StepTable::compare`]).
    fn cmp(&self, arena: &[u32], a: &Origin, b: &Origin) -> Ordering {
        let ((a0, a1), (b0, b1)) = (a.slices(arena), b.slices(arena));
        let (mut xs, mut ys) = (a0.iter().chain(a1), b0.iter().chain(b1));
        loop {
            match (xs.next(), ys.next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(&x), Some(&y)) => {
                    if self.plan.ident[x as usize] != self.plan.ident[y as usize] {
                        return self.text(x).cmp(self.text(y));
                    }
                }
            }
        }
    }
}

/// A candidate's fingerprint ([`Texts::print`]): `hash` = Σ text hashes × `BASE`^(steps
/// after), wrapping; `power` = `BASE`^steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Print {
    steps: usize,
    hash: u64,
    power: u64,
}

impl Print {
    const BASE: u64 = 0x9e37_79b9_7f4a_7c15;
    const EMPTY: Print = Print {
        steps: 0,
        hash: 0,
        power: 1,
    };

    /// One step of text `t` (splitmix64 of it, so nearby texts spread).
    fn one(t: u32) -> Print {
        let mut z = (t as u64).wrapping_add(Print::BASE);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Print {
            steps: 1,
            hash: z ^ (z >> 31),
            power: Print::BASE,
        }
    }

    /// This candidate's steps, then `next`'s.
    fn then(self, next: Print) -> Print {
        Print {
            steps: self.steps + next.steps,
            hash: self.hash.wrapping_mul(next.power).wrapping_add(next.hash),
            power: self.power.wrapping_mul(next.power),
        }
    }
}

/// What caps [`Plan::k_best`]'s lists on an acyclic e-graph: per class, the cost of
/// its cheapest program (`inside`) and the least any program of the request adds
/// around one of the class's (`outside`: 0 at a seed; for `seq(a, b)` in class `c`,
/// `outside[a] ≤ outside[c] + inside[b]` and `outside[b] ≤ outside[c] + inside[a]`).
/// A candidate of class `c` costing `x` can only end in programs costing at least
/// `x + outside[c]`.
struct Caps {
    outside: Vec<Fs>,
    /// The cheapest program of the request.
    best: Fs,
}

impl Caps {
    /// Children come before parents in `plan`'s order (it is acyclic).
    fn new(plan: &Plan, cost: &[Fs]) -> Caps {
        let n = plan.nodes.len();
        let mut inside = vec![Fs::MAX; n];
        for (c, nodes) in plan.nodes.iter().enumerate() {
            for node in nodes {
                let x = match *node {
                    Node::Step(i) => cost[i as usize],
                    Node::Seq(a, b) => inside[a].saturating_add(inside[b]),
                };
                inside[c] = inside[c].min(x);
            }
        }
        let mut outside = vec![Fs::MAX; n];
        for &r in &plan.roots {
            outside[r] = 0;
        }
        for c in (0..n).rev() {
            let around = outside[c];
            if around == Fs::MAX {
                continue;
            }
            for node in &plan.nodes[c] {
                if let Node::Seq(a, b) = *node {
                    outside[a] = outside[a].min(around.saturating_add(inside[b]));
                    outside[b] = outside[b].min(around.saturating_add(inside[a]));
                }
            }
        }
        let best = plan
            .roots
            .iter()
            .map(|&r| inside[r])
            .min()
            .unwrap_or(Fs::MAX);
        Caps { outside, best }
    }
}

/// A candidate offered to a [`Best`].
#[derive(Debug, Clone, Copy)]
struct Pick {
    cost: Fs,
    origin: Origin,
    print: Print,
}

/// The best distinct texts offered so far, at most `k`, sorted by (cost, text),
/// each with its first-offered cheapest candidate.
struct Best {
    k: usize,
    /// Candidates costing more are not kept.
    limit: Fs,
    picks: Vec<Pick>,
}

impl Best {
    fn new(k: usize) -> Best {
        Best {
            k,
            limit: Fs::MAX,
            picks: Vec::with_capacity(k + 1),
        }
    }

    /// Empties the list for a class whose candidates may cost at most `limit`.
    fn clear(&mut self, limit: Fs) {
        self.picks.clear();
        self.limit = limit;
    }

    /// Whether a candidate costing `cost` (or more) cannot be kept: it costs more
    /// than the limit, or the list is full and its last costs less.
    fn beyond(&self, cost: Fs) -> bool {
        self.k == 0
            || cost > self.limit
            || (self.picks.len() == self.k && cost > self.picks[self.k - 1].cost)
    }

    /// Keeps the candidate if it is among the `k` best distinct texts so far. A
    /// text already kept keeps its candidate unless this one is cheaper (equal
    /// cost: the first offered stays, as a stable sort would have it). A text
    /// dropped earlier may come back: `k` texts better than it were kept then and
    /// stay better, so it comes back only if cheaper than it was.
    fn offer(&mut self, store: &Store, texts: &Texts, cost: Fs, origin: Origin) {
        if self.beyond(cost) {
            return;
        }
        let print = texts.print(&origin);
        if let Some(j) = self
            .picks
            .iter()
            .position(|p| p.print == print && texts.same(&store.arena, &p.origin, &origin))
        {
            if cost >= self.picks[j].cost {
                return;
            }
            self.picks.remove(j);
        }
        let at = self
            .picks
            .iter()
            .position(|p| {
                cost.cmp(&p.cost)
                    .then_with(|| texts.cmp(&store.arena, &origin, &p.origin))
                    .is_lt()
            })
            .unwrap_or(self.picks.len());
        if at < self.k {
            self.picks.insert(
                at,
                Pick {
                    cost,
                    origin,
                    print,
                },
            );
            self.picks.truncate(self.k);
        }
    }

    /// Appends the kept candidates' steps and entries to `store`.
    fn keep(&self, store: &mut Store) {
        for p in &self.picks {
            let start = store.arena.len();
            match p.origin {
                Origin::Step(i) => store.arena.push(i),
                Origin::Pair(x, y) => {
                    store.arena.extend_from_within(x.start..x.start + x.len);
                    store.arena.extend_from_within(y.start..y.start + y.len);
                }
            }
            store.entries.push(Entry {
                cost: p.cost,
                start,
                len: store.arena.len() - start,
                print: p.print,
            });
        }
    }
}

/// The `k` best distinct programs of the request class of `sat`, best first
/// ([`Plan::new`] then [`Plan::k_best`]; build the plan once to extract for many
/// placements).
pub fn k_best(sat: &Saturated, k: usize, oracle: &dyn StepOracle) -> Vec<Candidate> {
    Plan::new(sat).k_best(k, oracle)
}

/// Sorts by (cost, text), drops repeated texts, keeps `k` (drains `cands`).
#[cfg(test)]
fn keep_best(table: &StepTable, cands: &mut Vec<Cand>, k: usize) -> Vec<Cand> {
    cands.sort_by(|a, b| table.compare((a.cost, &a.steps), (b.cost, &b.steps)));
    let mut out: Vec<Cand> = Vec::with_capacity(k.min(cands.len()));
    for c in cands.drain(..) {
        if out.len() == k {
            break;
        }
        if !out.iter().any(|o| table.same_text(&o.steps, &c.steps)) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;
    use crate::synth::egraph::{saturate_goal, Budgets};
    use crate::synth::state::AbsGoal;

    /// Costs from a few values (seeds below 4), so that ties are common, or from a
    /// thousand (the caps of `k_best` then mostly hold); texts that hide the shard,
    /// so that one text has several costs (even seeds) or several step lists of
    /// one cost (odd seeds: the cost ignores the shard too).
    struct Hashed(u64);

    impl StepOracle for Hashed {
        fn cost_fs(&self, s: &AbsStep) -> Fs {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            if self.0.is_multiple_of(2) {
                (self.0, s).hash(&mut h);
            } else {
                (self.0, s.op, s.dims, s.roots).hash(&mut h);
            }
            let spread = if self.0 < 4 { 4 } else { 1000 };
            Fs::from(h.finish() % spread + 1)
        }
        fn text(&self, s: &AbsStep) -> String {
            format!("{:?} {:?} {:?}", s.op, s.dims, s.roots)
        }
    }

    #[test]
    fn k_best_is_the_sorted_cut_of_every_candidate() {
        let rules = RuleSet::shipped();
        let goals = [
            (3, AbsGoal::AllReduce),
            (4, AbsGoal::AllReduce),
            (3, AbsGoal::ReduceScatter(vec![0, 1, 2])),
            (3, AbsGoal::AllGather(vec![2, 0, 1])),
        ];
        let mut compared = 0;
        // How many extractions took 0 (uncapped), 1, 2 or 3 tries.
        let mut tries = [0; 4];
        for (dims, goal) in goals {
            let sat = saturate_goal(rules.compiled(), dims, &goal, Budgets::default());
            let plan = Plan::new(&sat);
            for seed in 0..8 {
                for k in [1, 2, 3, 5, 17] {
                    let (got, took) = plan.k_best_tries(k, &Hashed(seed));
                    let want = plan.k_best_reference(k, &Hashed(seed));
                    assert_eq!(got, want, "{dims} dims, {goal:?}, seed {seed}, k {k}");
                    compared += usize::from(got.len() == k);
                    tries[took] += 1;
                }
            }
        }
        assert!(compared > 120, "{compared} full lists compared");
        // Every way out of the caps is compared.
        assert!(tries[1..].iter().all(|&n| n > 0), "tries: {tries:?}");
    }
}
