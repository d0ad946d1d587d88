//! Soundness obligations of rewrite rules as SMT-LIB2, and their discharge by z3.
//!
//! An obligation is stated on a *virtual instance* of a rule ([`Instance`], made by
//! [`super::instances`] from the rule text: a few virtual dims, each standing for a
//! class of concrete dims, and the rule's two sides as steps over them) and on a
//! *size assignment*: every virtual dim a step varies or roots at takes a concrete
//! size from [`SIZES`]. The devices are then a finite grid, and the state of every
//! device — validity, region `[lo, hi)`, and whether it holds one arbitrary source at
//! one arbitrary atom `p` — is a handful of SMT constants. The starting state is
//! arbitrary (declared, not defined) up to the precondition; every step is unfolded
//! over the grid exactly as the reference interpreter runs it (`src/semantics.rs`).
//! The queries are quantifier-free linear integer problems (no division: a region
//! is `[lo, lo + coef·q)` with `q` the length unknown of the starting device and
//! `coef` a constant):
//!
//! * *forward*: the left-hand side is well-formed ⟹ the right-hand side is, and the
//!   two final states agree (validity; region and the held source where valid);
//! * *backward*: the right-hand side is well-formed ⟹ the left-hand side is (egg's
//!   unions are symmetric, so both directions are needed);
//! * *labels*: both sides well-formed, and the valid participants of the left-hand
//!   side's first step hold `ell` atoms ⟹ every right-hand-side step's valid
//!   participants hold what its shard label says.
//!
//! `unsat` is the proof. `proofs/README.md` ("Rewrite rules") gives the argument that
//! fixing one atom and one source loses nothing, and what the sizes cover.

use std::fmt::Write;

use crate::program::Collective;
use crate::verdict::Verdict;
use crate::verify::smt::{Answer, Assumption, SmtOptions, Solver};

/// The sizes every virtual dim of the grid takes, in every combination.
pub const SIZES: [u64; 3] = [2, 3, 4];

/// A step over virtual dims (indices, significance order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VStep {
    /// The collective.
    pub op: Collective,
    /// The dims its groups vary.
    pub dims: Vec<usize>,
    /// Its shard label (what participants hold: the buffer cut by these dims).
    pub shard: Vec<usize>,
    /// Only devices with digit 0 on these take part.
    pub roots: Vec<usize>,
}

/// A rule applied to virtual dims `v0, v1, …` (significance order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Number of virtual dims.
    pub dims: usize,
    /// For each virtual dim, the rule variables that contain it (`?g ?a`).
    pub classes: Vec<String>,
    /// The binding of every set variable, e.g. `?g = {v0,v1}, ?a = {v0}`.
    pub binding: String,
    /// The left-hand side.
    pub lhs: Vec<VStep>,
    /// The right-hand side.
    pub rhs: Vec<VStep>,
}

/// Which implication a query states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Left-hand side well-formed ⟹ right-hand side well-formed and the same final
    /// state.
    Forward,
    /// Right-hand side well-formed ⟹ left-hand side well-formed.
    Backward,
    /// Both sides well-formed and the left-hand side's first label right ⟹ every
    /// right-hand-side label right (what the cost model relies on).
    Labels,
}

impl Direction {
    /// The assumption literal of the implication.
    pub fn literal(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Backward => "backward",
            Direction::Labels => "labels",
        }
    }

    /// What the implication says, one line.
    pub fn describe(self) -> &'static str {
        match self {
            Direction::Forward => {
                "forward: lhs well-formed => rhs well-formed and the same final state"
            }
            Direction::Backward => "backward: rhs well-formed => lhs well-formed",
            Direction::Labels => {
                "labels: both well-formed, lhs's first label right => every rhs label right"
            }
        }
    }
}

/// One implication of a [`Query`]: asserted under the literal `literal`, so that
/// `(check-sat-assuming (literal))` asks for a counterexample; `unsat` means it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Which implication.
    pub direction: Direction,
    /// The assumption literal: `forward`, `backward` or `labels`.
    pub literal: String,
    /// The selectors of its goal (which fault or difference), in order.
    pub selectors: Vec<String>,
}

/// The query of one instance under one size assignment: shared state macros, then
/// one `check-sat-assuming` per implication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The instance and size assignment, e.g. `with ?g = {v0,v1}, … at sizes
    /// [|v0|=2 |v1|=3]`.
    pub title: String,
    /// The SMT-LIB2 declarations and assertions, without the checks.
    pub body: String,
    /// The implications, in order.
    pub checks: Vec<Check>,
}

fn or(parts: &[String]) -> String {
    match parts.len() {
        0 => "false".into(),
        1 => parts[0].clone(),
        _ => format!("(or {})", parts.join(" ")),
    }
}

/// The virtual dims that get a concrete size: the *grid* (every dim a step of either
/// side varies or roots at) and the dims a right-hand-side label differs from the
/// left-hand side's first label in. Sorted.
pub fn sized_dims(inst: &Instance) -> Vec<usize> {
    let mut out = grid_dims(inst);
    let first = inst
        .lhs
        .first()
        .map(|s| s.shard.clone())
        .unwrap_or_default();
    for s in &inst.rhs {
        for &d in s.shard.iter().chain(&first) {
            if s.shard.contains(&d) != first.contains(&d) {
                out.push(d);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The dims the devices of the grid have digits on: every dim a step varies or
/// roots at. Sorted.
fn grid_dims(inst: &Instance) -> Vec<usize> {
    step_dims(inst, true)
}

/// The dims some step of either side varies. Sorted.
fn varied_dims(inst: &Instance) -> Vec<usize> {
    step_dims(inst, false)
}

/// The dims the steps of either side vary, and with `roots` those they root at.
fn step_dims(inst: &Instance, roots: bool) -> Vec<usize> {
    let mut out: Vec<usize> = inst
        .lhs
        .iter()
        .chain(&inst.rhs)
        .flat_map(|s| s.dims.iter().chain(if roots { &s.roots[..] } else { &[] }))
        .copied()
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Every assignment of sizes to the sized dims, in lexicographic order: every dim a
/// step varies takes each of [`SIZES`]; any other sized dim takes 2 (a dim no step
/// varies splits the grid into slices that never exchange data, and every slice
/// with a non-zero digit on it runs the same steps: two slices are all there is).
pub fn size_assignments(inst: &Instance) -> Vec<Vec<(usize, u64)>> {
    size_assignments_upto(inst, &SIZES)
}

/// As [`size_assignments`], with the varied dims taking each of `sizes`.
pub fn size_assignments_upto(inst: &Instance, sizes: &[u64]) -> Vec<Vec<(usize, u64)>> {
    let varied = varied_dims(inst);
    let mut out: Vec<Vec<(usize, u64)>> = vec![vec![]];
    for d in sized_dims(inst) {
        let sizes: &[u64] = if varied.contains(&d) { sizes } else { &[2] };
        out = out
            .into_iter()
            .flat_map(|a| {
                sizes.iter().map(move |&n| {
                    let mut b = a.clone();
                    b.push((d, n));
                    b
                })
            })
            .collect();
    }
    out
}

/// What the checked sizes prove about an instance (proofs/README.md, "Sizes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Every class size: the instance has no reduce_scatter / all_gather step and
    /// each side varies each dim in at most one all_reduce / reduce step, so a
    /// counterexample at any size has one on a sub-grid of at most 4 digits per dim
    /// (Theorem S), which [`SIZES`] enumerates.
    AllSizes,
    /// Every class size, by composing equivalences proved for every size (the named
    /// paragraph of proofs/README.md, "Composition"; [`super::composition`]).
    Composed(&'static str),
    /// The class sizes in [`SIZES`] only: chunk positions of reduce_scatter /
    /// all_gather depend on the group sizes, and no reduction to small sizes is
    /// proved for the instance itself.
    Checked,
}

impl Coverage {
    /// A few words for tables, with `max` the largest size checked.
    pub fn words(self, max: u64) -> String {
        match self {
            Coverage::AllSizes => "all sizes".into(),
            Coverage::Composed(arg) => format!("all sizes ({arg})"),
            Coverage::Checked => format!("sizes 2-{max}"),
        }
    }
}

/// What the checked sizes prove about a rule of these instances: every size only if
/// they do for every instance (before composition, [`super::composition`]).
pub fn coverage_of(instances: &[Instance]) -> Coverage {
    if instances.iter().all(|i| coverage(i) == Coverage::AllSizes) {
        Coverage::AllSizes
    } else {
        Coverage::Checked
    }
}

/// What the checked sizes prove about `inst`.
pub fn coverage(inst: &Instance) -> Coverage {
    let positional = inst
        .lhs
        .iter()
        .chain(&inst.rhs)
        .any(|s| matches!(s.op, Collective::ReduceScatter | Collective::AllGather));
    let once = [&inst.lhs, &inst.rhs].iter().all(|side| {
        (0..inst.dims).all(|d| {
            side.iter()
                .filter(|s| matches!(s.op, Collective::AllReduce | Collective::Reduce))
                .filter(|s| s.dims.contains(&d))
                .count()
                <= 1
        })
    });
    if !positional && once && SIZES.iter().copied().eq(2..=4) {
        Coverage::AllSizes
    } else {
        Coverage::Checked
    }
}

/// A device's state: SMT terms (names of constants or macros). The region is
/// `[lo, lo + coef · q)`, with `q` the length unknown of the starting state the
/// region descends from: every length in a run is a starting length times a
/// constant, so no step divides a symbolic value.
#[derive(Debug, Clone)]
struct Dev {
    valid: String,
    lo: String,
    coef: u64,
    q: String,
    has: String,
}

/// A fault condition of one step: its selector name and formula.
struct Fault {
    name: String,
    cond: String,
}

/// The finite grid of one size assignment, and the SMT text being written.
struct Grid {
    /// Size per virtual dim (0: not sized).
    size: Vec<u64>,
    /// The grid dims, significance order.
    dims: Vec<usize>,
    /// Number of devices.
    devices: usize,
    out: String,
}

impl Grid {
    fn new(inst: &Instance, sizes: &[(usize, u64)]) -> Self {
        let mut size = vec![0; inst.dims];
        for &(d, n) in sizes {
            size[d] = n;
        }
        let dims = grid_dims(inst);
        let devices = dims.iter().map(|&d| size[d] as usize).product();
        Grid {
            size,
            dims,
            devices,
            out: String::new(),
        }
    }

    fn lit(&self, v: u64) -> String {
        v.to_string()
    }

    fn len(&self, d: &Dev) -> String {
        if d.coef == 1 {
            d.q.clone()
        } else {
            format!("(* {} {})", d.coef, d.q)
        }
    }

    fn hi(&self, d: &Dev) -> String {
        format!("(+ {} {})", d.lo, self.len(d))
    }

    /// `lo + j · len(d)`.
    fn offset(&self, lo: &str, j: u64, d: &Dev) -> String {
        match j {
            0 => lo.to_string(),
            _ => format!("(+ {lo} (* {} {}))", j * d.coef, d.q),
        }
    }

    /// Device `a`'s digit on virtual dim `d` (device numbers are the mixed radix of
    /// the grid digits, most significant first).
    fn digit(&self, a: usize, d: usize) -> u64 {
        let mut rest = a as u64;
        for &e in self.dims.iter().rev() {
            if e == d {
                return rest % self.size[e];
            }
            rest /= self.size[e];
        }
        unreachable!("dim v{d} is a grid dim")
    }

    /// Device `a` with its digits on `which` set to those of member index `j` (the
    /// mixed radix of those digits in significance order).
    fn member(&self, a: usize, which: &[usize], j: u64) -> usize {
        let mut digits: Vec<u64> = self.dims.iter().map(|&d| self.digit(a, d)).collect();
        let mut rest = j;
        for &d in which.iter().rev() {
            let pos = self.dims.iter().position(|&e| e == d).unwrap_or(0);
            digits[pos] = rest % self.size[d];
            rest /= self.size[d];
        }
        digits
            .iter()
            .zip(&self.dims)
            .fold(0u64, |acc, (&x, &d)| acc * self.size[d] + x) as usize
    }

    fn product(&self, which: &[usize]) -> u64 {
        which.iter().map(|&d| self.size[d]).product()
    }

    fn line(&mut self, s: String) {
        self.out.push_str(&s);
        self.out.push('\n');
    }

    fn define(&mut self, name: &str, sort: &str, body: String) -> String {
        self.line(format!("(define-fun {name} () {sort} {body})"));
        name.to_string()
    }

    /// The starting state: arbitrary, up to the precondition: `buf ≥ 1` atoms; every
    /// valid device holds a non-empty region inside `[0, buf)`
    /// whose length is a multiple of `unit` (`unit · q_a`); a device holds the source
    /// at `p` only if it is valid and `p` is in its region.
    fn start(&mut self, unit: u64) -> Vec<Dev> {
        self.line("(declare-const buf Int) (declare-const p Int) (assert (<= 1 buf))".into());
        let mut devs = vec![];
        for a in 0..self.devices {
            let d = Dev {
                valid: format!("v_{a}"),
                lo: format!("lo_{a}"),
                coef: unit,
                q: format!("q_{a}"),
                has: format!("h_{a}"),
            };
            self.line(format!(
                "(declare-const v_{a} Bool) (declare-const lo_{a} Int) (declare-const q_{a} Int) (declare-const h_{a} Bool)"
            ));
            let hi = self.hi(&d);
            self.line(format!(
                "(assert (and (=> v_{a} (and (<= 0 lo_{a}) (<= 1 q_{a}) (<= {hi} buf))) (=> h_{a} (and v_{a} (<= lo_{a} p) (< p {hi})))))"
            ));
            devs.push(d);
        }
        devs
    }

    /// Runs one side from `start`, writing its macros; returns the state before every
    /// step and at the end, and every fault condition.
    fn run(&mut self, side: char, steps: &[VStep], start: &[Dev]) -> (Vec<Vec<Dev>>, Vec<Fault>) {
        let mut states = vec![start.to_vec()];
        let mut faults = vec![];
        for (t, step) in steps.iter().enumerate() {
            let t = t + 1;
            let (next, f) = self.step(side, t, step, states.last().expect("a state"));
            states.push(next);
            faults.extend(f);
        }
        (states, faults)
    }

    fn same_region(&self, a: &Dev, b: &Dev) -> String {
        format!(
            "(and (= {} {}) (= {} {}))",
            a.lo,
            b.lo,
            self.len(a),
            self.len(b)
        )
    }

    fn step(&mut self, side: char, t: usize, step: &VStep, cur: &[Dev]) -> (Vec<Dev>, Vec<Fault>) {
        let k = self.product(&step.dims);
        let mut next = cur.to_vec();
        let mut invalid = vec![];
        let mut region = vec![];
        let mut indivisible = vec![];
        let mut misaligned = vec![];
        let mut twice = vec![];
        let participant = |g: &Self, a: usize| step.roots.iter().all(|&r| g.digit(a, r) == 0);
        let leaders: Vec<usize> = (0..self.devices)
            .filter(|&a| participant(self, a) && step.dims.iter().all(|&d| self.digit(a, d) == 0))
            .collect();
        for g in leaders {
            let members: Vec<usize> = (0..k).map(|j| self.member(g, &step.dims, j)).collect();
            let lead = cur[g].clone();
            let op = step.op;
            if op == Collective::Broadcast {
                invalid.push(format!("(not {})", lead.valid));
                for &m in &members {
                    next[m] = lead.clone();
                }
                continue;
            }
            invalid.extend(members.iter().map(|&m| format!("(not {})", cur[m].valid)));
            let sum = {
                let held: Vec<String> = members.iter().map(|&m| cur[m].has.clone()).collect();
                self.define(&format!("{side}{t}u_{g}"), "Bool", or(&held))
            };
            if op == Collective::AllGather {
                // Member j must hold chunk j of the region that starts at the
                // leader's, in chunks of the leader's length.
                for (j, &m) in members.iter().enumerate() {
                    let want = Dev {
                        lo: self.offset(&lead.lo, j as u64, &lead),
                        ..lead.clone()
                    };
                    misaligned.push(format!("(not {})", self.same_region(&cur[m], &want)));
                }
                for &m in &members {
                    next[m].lo = lead.lo.clone();
                    next[m].coef = lead.coef * k;
                    next[m].q = lead.q.clone();
                    next[m].has = sum.clone();
                }
                continue;
            }
            // all_reduce, reduce, reduce_scatter: a common region and a sum.
            region.extend(
                members[1..]
                    .iter()
                    .map(|&m| format!("(not {})", self.same_region(&cur[m], &lead))),
            );
            let count: Vec<String> = members
                .iter()
                .map(|&m| format!("(ite {} 1 0)", cur[m].has))
                .collect();
            twice.push(format!("(>= (+ {}) 2)", count.join(" ")));
            match op {
                Collective::AllReduce => {
                    for &m in &members {
                        next[m].has = sum.clone();
                    }
                }
                Collective::Reduce => {
                    next[g].has = sum.clone();
                    for &m in &members[1..] {
                        next[m].valid = "false".into();
                        next[m].has = "false".into();
                    }
                }
                Collective::ReduceScatter => {
                    // Chunks of len / k; a length whose constant factor k does not
                    // divide is checked for divisibility (never the case when the
                    // start unit covers every reduce_scatter of the rule).
                    let chunk = if lead.coef.is_multiple_of(k) {
                        Dev {
                            coef: lead.coef / k,
                            ..lead.clone()
                        }
                    } else {
                        indivisible.push(format!(
                            "(distinct (mod {} {}) {})",
                            self.len(&lead),
                            self.lit(k),
                            self.lit(0)
                        ));
                        let q = self.define(
                            &format!("{side}{t}c_{g}"),
                            "Int",
                            format!("(div {} {})", self.len(&lead), self.lit(k)),
                        );
                        Dev {
                            coef: 1,
                            q,
                            ..lead.clone()
                        }
                    };
                    for (j, &m) in members.iter().enumerate() {
                        let lo = self.offset(&lead.lo, j as u64, &chunk);
                        let lo = self.define(&format!("{side}{t}lo_{m}"), "Int", lo);
                        let piece = Dev {
                            lo,
                            ..chunk.clone()
                        };
                        let hi = self.hi(&piece);
                        let has = self.define(
                            &format!("{side}{t}h_{m}"),
                            "Bool",
                            format!("(and {sum} (<= {} p) (< p {hi}))", piece.lo),
                        );
                        next[m] = Dev {
                            valid: cur[m].valid.clone(),
                            has,
                            ..piece
                        };
                    }
                }
                Collective::AllGather | Collective::Broadcast => unreachable!("handled above"),
            }
        }
        let kinds = [
            ("invalid", invalid),
            ("region", region),
            ("indivisible", indivisible),
            ("misaligned", misaligned),
            ("twice", twice),
        ];
        let faults = kinds
            .into_iter()
            .filter(|(_, c)| !c.is_empty())
            .map(|(kind, c)| Fault {
                name: format!("{side}{t}_{kind}"),
                cond: or(&c),
            })
            .collect();
        (next, faults)
    }

    /// Declares every fault of a side as a named constant equal to its condition.
    fn name_faults(&mut self, faults: &[Fault]) {
        for f in faults {
            self.line(format!(
                "(declare-const {} Bool) (assert (= {} {}))",
                f.name, f.name, f.cond
            ));
        }
    }

    /// One implication: under its literal, no fault of the `assumed` sides, the extra
    /// hypotheses, and one of the goals: the named faults `faults`, and `goals` (each
    /// declared as a constant `<literal>_<name>` equal to its condition).
    fn check(
        &mut self,
        dir: Direction,
        assumed: &[&[Fault]],
        hyps: Vec<String>,
        faults: &[Fault],
        goals: Vec<(String, String)>,
    ) -> Check {
        let literal = dir.literal();
        let mut names: Vec<String> = faults.iter().map(|f| f.name.clone()).collect();
        for (name, cond) in goals {
            let name = format!("{literal}_{name}");
            self.line(format!(
                "(declare-const {name} Bool) (assert (= {name} {cond}))"
            ));
            names.push(name);
        }
        self.line(format!("; {}", dir.describe()));
        self.line(format!("(declare-const {literal} Bool)"));
        let mut parts: Vec<String> = assumed
            .iter()
            .flat_map(|fs| fs.iter().map(|f| format!("(not {})", f.name)))
            .collect();
        parts.extend(hyps);
        parts.push(or(&names));
        self.line(format!("(assert (=> {literal} (and {})))", parts.join(" ")));
        Check {
            direction: dir,
            literal: literal.to_string(),
            selectors: names,
        }
    }
}

/// The product of the sizes of every reduce_scatter group of the instance: start
/// regions are multiples of it (see the precondition).
fn unit(g: &Grid, inst: &Instance) -> u64 {
    inst.lhs
        .iter()
        .chain(&inst.rhs)
        .filter(|s| s.op == Collective::ReduceScatter)
        .map(|s| g.product(&s.dims))
        .product()
}

fn minus(a: &[usize], b: &[usize]) -> Vec<usize> {
    a.iter().copied().filter(|x| !b.contains(x)).collect()
}

fn step_text(s: &VStep) -> String {
    let set = |v: &[usize]| {
        let n: Vec<String> = v.iter().map(|d| format!("v{d}")).collect();
        format!("{{{}}}", n.join(","))
    };
    format!(
        "{}({}) shard {} roots {}",
        s.op,
        set(&s.dims),
        set(&s.shard),
        set(&s.roots)
    )
}

/// The query of an instance under one size assignment: the three implications share
/// the state macros; each is checked under its own assumption literal.
pub fn query(inst: &Instance, sizes: &[(usize, u64)]) -> Query {
    let mut g = Grid::new(inst, sizes);
    let shown: Vec<String> = sizes.iter().map(|(d, n)| format!("|v{d}|={n}")).collect();
    g.line(format!("; sizes [{}]", shown.join(" ")));
    let title = format!("with {} at sizes [{}]", inst.binding, shown.join(" "));
    let u = unit(&g, inst);
    let start = g.start(u);
    let (ls, lf) = g.run('l', &inst.lhs, &start);
    let (rs, rf) = g.run('r', &inst.rhs, &start);
    g.name_faults(&lf);
    g.name_faults(&rf);
    let mut checks = vec![];
    // Forward.
    let mut goals: Vec<(String, String)> = vec![];
    let (l, r) = (ls.last().expect("end"), rs.last().expect("end"));
    let mut dv = vec![];
    let mut dr = vec![];
    let mut dh = vec![];
    for (a, b) in l.iter().zip(r) {
        dv.push(format!("(distinct {} {})", a.valid, b.valid));
        dr.push(format!("(and {} (not {}))", a.valid, g.same_region(a, b)));
        dh.push(format!("(and {} (distinct {} {}))", a.valid, a.has, b.has));
    }
    goals.push(("differ_valid".into(), or(&dv)));
    goals.push(("differ_region".into(), or(&dr)));
    goals.push(("differ_sum".into(), or(&dh)));
    checks.push(g.check(Direction::Forward, &[&lf], vec![], &rf, goals));
    // Backward.
    checks.push(g.check(Direction::Backward, &[&rf], vec![], &lf, vec![]));
    // Labels.
    let first = &inst.lhs[0];
    g.line("(declare-const ell Int)".into());
    let mut hyps = vec![];
    for (a, d) in start.iter().enumerate() {
        if first.roots.iter().all(|&r| g.digit(a, r) == 0) {
            hyps.push(format!("(=> {} (= {} ell))", d.valid, g.len(d)));
        }
    }
    let mut goals = vec![];
    for (t, step) in inst.rhs.iter().enumerate() {
        let more = g.product(&minus(&step.shard, &first.shard));
        let less = g.product(&minus(&first.shard, &step.shard));
        let mut wrong = vec![];
        for (a, d) in rs[t].iter().enumerate() {
            if step.roots.iter().all(|&r| g.digit(a, r) == 0) {
                wrong.push(format!(
                    "(and {} (distinct (* {more} {}) (* {less} ell)))",
                    d.valid,
                    g.len(d)
                ));
            }
        }
        goals.push((format!("r{}_label", t + 1), or(&wrong)));
    }
    checks.push(g.check(Direction::Labels, &[&lf, &rf], hyps, &[], goals));
    Query {
        title,
        body: g.out,
        checks,
    }
}

impl Query {
    /// The SMT-LIB2 text as written to a file: the body, then one
    /// `(check-sat-assuming (literal))` per check.
    pub fn text(&self) -> String {
        let mut t = self.body.clone();
        for c in &self.checks {
            let _ = writeln!(t, "(check-sat-assuming ({}))", c.literal);
        }
        t
    }
}

/// Every query of an instance: one per size assignment.
pub fn queries(inst: &Instance) -> Vec<Query> {
    size_assignments(inst)
        .iter()
        .map(|s| query(inst, s))
        .collect()
}

/// The queries of an instance for the size assignments with some varied dim larger
/// than every size of [`SIZES`], up to `max` (checked in memory by `prove --check
/// --max-size`, never written).
pub fn deeper_queries(inst: &Instance, max: u64) -> Vec<Query> {
    let top = SIZES.iter().copied().max().unwrap_or(0);
    let sizes: Vec<u64> = (2..=max).collect();
    size_assignments_upto(inst, &sizes)
        .iter()
        .filter(|s| s.iter().any(|&(_, n)| n > top))
        .map(|s| query(inst, s))
        .collect()
}

/// Asks z3 every check of `q` under the budgets of `opts`: proved (`unsat`),
/// refuted with the goal's selectors that hold in z3's model, or unknown.
pub fn discharge(q: &Query, opts: &SmtOptions) -> Vec<Verdict<Vec<String>>> {
    // The body only: the checks are run below, one by one.
    let solver = Solver::new(None, opts, &q.body);
    q.checks
        .iter()
        .map(|c| match solver.check(&[Assumption::holds(&c.literal)]) {
            Answer::Unsat => Verdict::Proved,
            Answer::Unknown(why) => Verdict::Unknown(why),
            Answer::Sat(model) => Verdict::Refuted(
                c.selectors
                    .iter()
                    .filter(|name| model.is_true(name))
                    .cloned()
                    .collect(),
            ),
        })
        .collect()
}

/// A rule's obligation: its file and its queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleObligation {
    /// The rule's name.
    pub rule: String,
    /// The file name under `proofs/`: `<rule>.smt2`.
    pub file: String,
    /// The file's text: a header, then every query between `(push 1)` and `(pop 1)`.
    pub text: String,
    /// The virtual instances.
    pub instances: usize,
    /// What the checked sizes prove: every class size only if every instance does.
    pub coverage: Coverage,
    /// How many of `queries` (at the end) are beyond the file: larger sizes checked
    /// in memory only (`prove --check --max-size`).
    pub deeper: usize,
    /// The queries, in file order.
    pub queries: Vec<Query>,
}

impl RuleObligation {
    /// Number of implications z3 must refute.
    pub fn checks(&self) -> usize {
        self.queries.iter().map(|q| q.checks.len()).sum()
    }
}

/// The obligation of a rule, from its text (`name: lhs ==> rhs if ...`) and its
/// virtual instances. Deterministic: the same rule gives the same bytes.
pub fn rule_obligation(name: &str, rule_text: &str, instances: &[Instance]) -> RuleObligation {
    let mut t = String::new();
    let _ = writeln!(t, "; Soundness obligation of rewrite rule `{name}`:");
    let _ = writeln!(t, ";   {rule_text}");
    let _ = writeln!(
        t,
        "; Written by `collsynth prove --write proofs/`; `collsynth prove --check` re-derives it\n\
         ; from the rule and requires z3 to answer unsat to every query; proofs/README.md\n\
         ; (\"Rewrite rules\") gives the argument. `z3 {name}.smt2` prints one answer per query.\n\
         ; Each query asks for a counterexample to one implication about one virtual instance\n\
         ; of the rule (virtual dim vi stands for a class of dims) with concrete sizes from\n\
         ; {SIZES:?}, from an arbitrary starting state, at one arbitrary atom p of a buffer\n\
         ; of any number of atoms buf and for one arbitrary source: device a's state is v_a\n\
         ; (valid), [lo_a, lo_a + unit * q_a) (region), h_a (holds the source at p).\n\
         ; unsat = the implication holds."
    );
    let mut queries = vec![];
    for (i, inst) in instances.iter().enumerate() {
        let _ = writeln!(
            t,
            "\n; instance {}: {} (covers {})",
            i + 1,
            inst.binding,
            match coverage(inst) {
                Coverage::AllSizes => "all sizes",
                _ => "the checked sizes",
            }
        );
        let _ = writeln!(
            t,
            ";   lhs: {}",
            inst.lhs
                .iter()
                .map(step_text)
                .collect::<Vec<_>>()
                .join(" ; ")
        );
        let _ = writeln!(
            t,
            ";   rhs: {}",
            inst.rhs
                .iter()
                .map(step_text)
                .collect::<Vec<_>>()
                .join(" ; ")
        );
        for q in self::queries(inst) {
            let _ = writeln!(t, "(push 1)");
            t.push_str(&q.text());
            let _ = writeln!(t, "(pop 1)");
            queries.push(q);
        }
    }
    RuleObligation {
        rule: name.to_string(),
        file: format!("{name}.smt2"),
        text: t,
        instances: instances.len(),
        coverage: coverage_of(instances),
        deeper: 0,
        queries,
    }
}
