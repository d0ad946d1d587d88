//! The SMT-LIB2 text of a verification query (see the module doc of [`crate::verify`]
//! for what it states and why it is sound and complete).
//!
//! The query is written as text, not built through the z3 API, so that the dump is
//! exactly what z3 decides, names are readable (`x.gpu.data`, `has_2`, `fault_3_twice`)
//! and the output is deterministic. One `define-fun` per step and state component;
//! z3 expands them as macros when it parses the text.

use std::fmt::Write;

use crate::placement::Placement;
use crate::program::{Collective, Program, Step};
use crate::semantics::Goal;
use crate::spec::{RequestKind, Spec};

/// One dim that the query encodes.
#[derive(Debug, Clone)]
pub(crate) struct EDim {
    /// Index into `placement.dims`.
    pub index: usize,
    /// `level.axis`, used in SMT names.
    pub name: String,
    /// Number of digits.
    pub size: u64,
    /// Bit width: enough to hold `size` itself.
    pub width: u32,
    /// Whether the dim's axis is requested (sources may differ on it).
    pub requested: bool,
}

/// What a fault selector claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultKind {
    /// A member that must contribute holds nothing valid.
    Invalid,
    /// A member's region differs from the first member's.
    Region,
    /// The common region cannot be cut into equal chunks.
    Indivisible,
    /// Two members both hold source `s` at position `p`.
    Twice,
    /// An all_gather member does not hold its chunk.
    Misaligned,
    /// A broadcast root holds nothing valid.
    RootInvalid,
    /// At the end the device holds nothing valid.
    EndInvalid,
    /// At the end the device does not hold the whole buffer.
    EndRegion,
    /// At the end a source of the group is not summed.
    EndMissing,
    /// At the end a source outside the group is summed (all_gather: or a group
    /// member's data in a chunk that is not its shard's).
    EndExtra,
    /// reduce_scatter: at the end the device's region does not contain its shard.
    EndWrongShard,
}

/// A named fault: `(=> fault_<step>_<kind> <condition>)` is asserted.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    /// The selector constant.
    pub name: String,
    /// 1-based step, `None` for the final state.
    pub step: Option<usize>,
    /// What it claims.
    pub kind: FaultKind,
}

/// The query and what is needed to read a model of it.
#[derive(Debug, Clone)]
pub(crate) struct Encoding {
    /// Encoded dims, in significance order.
    pub dims: Vec<EDim>,
    /// Buffer atoms `L`.
    pub atoms: u64,
    /// The goal the query is about.
    pub goal: Goal,
    /// Atoms per shard, `L / G` (`L` for all_reduce).
    pub shard_atoms: u64,
    /// Bit width of positions and region bounds.
    pub pos_width: u32,
    /// Fault selectors, in step order (final ones last).
    pub faults: Vec<Fault>,
    /// Declarations and definitions (everything but the fault disjunction).
    pub text: String,
}

/// Bits needed to hold `n` (at least 1).
pub(crate) fn bits(n: u128) -> u32 {
    (128 - n.leading_zeros()).max(1)
}

/// Why a query cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The program names a dim the placement does not have.
    #[error("step {step} names a dim that is not a dim of the placement")]
    NotADim {
        /// 1-based step.
        step: usize,
    },
    /// The buffer would need more atoms than positions can hold.
    #[error("the program's reduce_scatter steps cut the buffer into more than 2^62 atoms")]
    TooManyAtoms,
    /// z3 would build more terms than [`MAX_QUERY_TERMS`] when it reads the query.
    #[error(
        "the query would expand to about {terms} terms when z3 reads it, more than the limit of \
         {MAX_QUERY_TERMS} (verify::MAX_QUERY_TERMS; it grows with the square of the program's \
         length): shorten the program or decide it with `--by interpreter`"
    )]
    TooLarge {
        /// The estimated count.
        terms: u128,
    },
    /// The `layout(...)` clause is not the request's dims on the placement, each once.
    #[error("the layout is not an order of the request's dims on the placement")]
    BadLayout,
}

/// The most terms a query may expand to when z3 reads it (estimated in Rust before
/// the query is written; about a second of parsing on a 2-core machine): a longer
/// program is undecided (`docs/design.md`, §9).
pub const MAX_QUERY_TERMS: u128 = 4_000_000;

/// How many terms z3 builds when it reads the query of a program with these steps
/// over `ndims` encoded dims, counted before the query is
/// written: z3 expands every `define-fun` at each application, so a definition of
/// step `t` costs its own terms plus the expanded size of the previous step's
/// functions it applies, and every fault applies step `t − 1`'s functions again.
/// `has_t` applies `has_{t−1}` once and, in an all_gather step, `lo_{t−1}` and
/// `len_{t−1}` too, so the count is quadratic in the length (cubic for gathers).
pub(crate) fn expanded_terms(ops: &[Collective], ndims: usize) -> u128 {
    // One application: its arguments, a position, a source and a few operators.
    let c = 2 * ndims as u128 + 6;
    let (mut valid, mut lo, mut len, mut has) = (c, c, c, c);
    let mut total: u128 = 4 * c;
    for op in ops {
        // This step's faults, about step t − 1's functions.
        total = total
            .saturating_add(2 * has)
            .saturating_add(3 * (lo + len))
            .saturating_add(valid);
        let (v2, lo2, len2, has2) = match op {
            Collective::AllGather => (valid, lo, len, has.saturating_add(lo + len)),
            Collective::ReduceScatter => (valid, lo + len, len, has),
            _ => (valid, lo, len, has),
        };
        valid = v2.saturating_add(c);
        lo = lo2.saturating_add(c);
        len = len2.saturating_add(c);
        has = has2.saturating_add(c);
        total = total.saturating_add(valid + lo + len + has);
    }
    total.saturating_add(valid + 2 * (lo + len) + 2 * has)
}

fn lit(v: u128, w: u32) -> String {
    format!("(_ bv{v} {w})")
}

struct Enc<'a> {
    dims: Vec<EDim>,
    /// Bits of a position.
    pw: u32,
    /// Atoms of the buffer.
    atoms: u128,
    /// The goal's collective.
    kind: RequestKind,
    /// Atoms per shard.
    shard_atoms: u128,
    /// The shard number's digits, most significant first: encoded dim and stride.
    shard_digits: Vec<(usize, u128)>,
    out: String,
    faults: Vec<Fault>,
    spec: &'a Spec,
}

impl Enc<'_> {
    fn bv(&self, d: usize) -> String {
        format!("(_ BitVec {})", self.dims[d].width)
    }

    /// Names `prefix.level.axis` for every encoded dim.
    fn names(&self, prefix: &str) -> Vec<String> {
        self.dims
            .iter()
            .map(|d| format!("{prefix}.{}", d.name))
            .collect()
    }

    /// Formal parameter list `((a.n.d (_ BitVec 3)) ...)` pieces.
    fn params(&self, prefix: &str) -> String {
        self.names(prefix)
            .iter()
            .enumerate()
            .map(|(i, n)| format!("({n} {})", self.bv(i)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `(f args...)` or `f` when there are no arguments.
    fn app(f: &str, args: &[String]) -> String {
        if args.is_empty() {
            f.to_string()
        } else {
            format!("({f} {})", args.join(" "))
        }
    }

    fn and(parts: Vec<String>) -> String {
        match parts.len() {
            0 => "true".into(),
            1 => parts.into_iter().next().unwrap_or_default(),
            _ => format!("(and {})", parts.join(" ")),
        }
    }

    fn or(parts: Vec<String>) -> String {
        match parts.len() {
            0 => "false".into(),
            1 => parts.into_iter().next().unwrap_or_default(),
            _ => format!("(or {})", parts.join(" ")),
        }
    }

    /// Digit bounds `(bvult v size)` of the given encoded dims.
    fn bounds(&self, names: &[String], which: &[usize]) -> Vec<String> {
        which
            .iter()
            .map(|&d| {
                format!(
                    "(bvult {} {})",
                    names[d],
                    lit(self.dims[d].size as u128, self.dims[d].width)
                )
            })
            .collect()
    }

    /// `base` with the digits of `which` replaced by `with[d]` (or zero).
    fn subst(&self, base: &[String], which: &[usize], with: Option<&[String]>) -> Vec<String> {
        let mut v = base.to_vec();
        for &d in which {
            v[d] = match with {
                Some(w) => w[d].clone(),
                None => lit(0, self.dims[d].width),
            };
        }
        v
    }

    /// Member index of a device in its group: mixed radix of its `which` digits.
    fn idx(&self, dev: &[String], which: &[usize]) -> String {
        let mut terms = Vec::new();
        let mut stride: u128 = 1;
        for &d in which.iter().rev() {
            let e = self.pw - self.dims[d].width;
            let z = format!("((_ zero_extend {e}) {})", dev[d]);
            terms.push(if stride == 1 {
                z
            } else {
                format!("(bvmul {} {z})", lit(stride, self.pw))
            });
            stride *= self.dims[d].size as u128;
        }
        terms.reverse();
        if terms.len() == 1 {
            terms.pop().unwrap_or_default()
        } else {
            format!("(bvadd {})", terms.join(" "))
        }
    }

    /// A device's shard number as a position-wide term: the mixed radix of its
    /// requested digits in the request's axis order (each axis's dims outer level
    /// first), the first most significant.
    fn shard(&self, dev: &[String]) -> String {
        let terms: Vec<String> = self
            .shard_digits
            .iter()
            .map(|&(d, stride)| {
                let e = self.pw - self.dims[d].width;
                let z = format!("((_ zero_extend {e}) {})", dev[d]);
                if stride == 1 {
                    z
                } else {
                    format!("(bvmul {} {z})", lit(stride, self.pw))
                }
            })
            .collect();
        match terms.len() {
            0 => lit(0, self.pw),
            1 => terms.into_iter().next().unwrap_or_default(),
            _ => format!("(bvadd {})", terms.join(" ")),
        }
    }

    /// `dev` with its `which` digits set to the mixed-radix digits of member index `i`.
    fn digits_of(&self, dev: &[String], which: &[usize], i: &str) -> Vec<String> {
        let mut v = dev.to_vec();
        let mut stride: u128 = 1;
        for &d in which.iter().rev() {
            let w = self.dims[d].width;
            let shifted = if stride == 1 {
                i.to_string()
            } else {
                format!("(bvudiv {i} {})", lit(stride, self.pw))
            };
            v[d] = format!(
                "((_ extract {} 0) (bvurem {shifted} {}))",
                w - 1,
                lit(self.dims[d].size as u128, self.pw)
            );
            stride *= self.dims[d].size as u128;
        }
        v
    }

    fn zero_all(&self, dev: &[String], which: &[usize]) -> String {
        Self::and(
            which
                .iter()
                .map(|&d| format!("(= {} {})", dev[d], lit(0, self.dims[d].width)))
                .collect(),
        )
    }

    fn fault(&mut self, step: Option<usize>, kind: FaultKind, tag: &str, cond: String) {
        let name = match step {
            Some(t) => format!("fault_{t}_{tag}"),
            None => format!("fault_end_{tag}"),
        };
        let _ = writeln!(self.out, "(declare-const {name} Bool)");
        let _ = writeln!(self.out, "(assert (=> {name} {cond}))");
        self.faults.push(Fault { name, step, kind });
    }
}

/// Encoded dim indices (into `enc.dims`) of a step's dims or roots.
fn local(dims: &[EDim], placement: &Placement, refs: &[crate::program::DimRef]) -> Vec<usize> {
    refs.iter()
        .filter_map(|r| placement.dim_index(r.level, r.axis))
        .filter_map(|i| dims.iter().position(|d| d.index == i))
        .collect()
}

/// Builds the query for `program` on `placement` for `goal`: the unknowns, one state
/// per step (its definitions, then its faults), the final state's faults.
pub(crate) fn encode(
    spec: &Spec,
    placement: &Placement,
    goal: &Goal,
    program: &Program,
) -> Result<Encoding, EncodeError> {
    let goal = &goal.relaid(&program.layout);
    if !goal.layout_fits(placement) {
        return Err(EncodeError::BadLayout);
    }
    let request_axes = &goal.axes[..];
    for (t, s) in program.steps.iter().enumerate() {
        if s.dims
            .iter()
            .chain(&s.roots)
            .any(|r| placement.dim_index(r.level, r.axis).is_none())
        {
            return Err(EncodeError::NotADim { step: t + 1 });
        }
    }
    let dims = encoded_dims(spec, placement, request_axes, program);
    let group = |s: &Step| -> u128 {
        local(&dims, placement, &s.dims)
            .iter()
            .map(|&d| dims[d].size as u128)
            .product()
    };
    let sizes: Vec<u128> = program.steps.iter().map(group).collect();
    let mut shard_atoms: u128 = 1;
    let mut kmax: u128 = 1;
    for (s, &k) in program.steps.iter().zip(&sizes) {
        kmax = kmax.max(k);
        if s.op == Collective::ReduceScatter {
            shard_atoms = shard_atoms.saturating_mul(k);
        }
    }
    // A sharded goal cuts the buffer into G shards of whole atoms.
    let atoms = shard_atoms.saturating_mul(goal.shards(spec) as u128);
    if atoms > 1 << 62 {
        return Err(EncodeError::TooManyAtoms);
    }
    let ops: Vec<Collective> = program.steps.iter().map(|s| s.op).collect();
    let terms = expanded_terms(&ops, dims.len());
    tracing::debug!(terms, limit = MAX_QUERY_TERMS, "estimated query size");
    if terms > MAX_QUERY_TERMS {
        return Err(EncodeError::TooLarge { terms });
    }
    let shard_digits = shard_digits(placement, &dims, goal);
    // Region bounds reach at most lo + k·c ≤ (k + 1)·L; one more bit keeps every
    // intermediate term of a well-formed prefix from wrapping.
    let pw = bits(atoms) + bits(kmax + 1) + 1;
    let mut e = Enc {
        dims,
        pw,
        atoms,
        kind: goal.kind,
        shard_atoms,
        shard_digits,
        out: String::new(),
        faults: Vec::new(),
        spec,
    };
    e.unknowns();
    e.initial_state();
    for (ti, step) in program.steps.iter().enumerate() {
        let dd = local(&e.dims, placement, &step.dims);
        let rr = local(&e.dims, placement, &step.roots);
        e.step_state(ti + 1, step, &dd, &rr, sizes[ti]);
        e.step_faults(ti + 1, step.op, &dd, &rr, sizes[ti]);
    }
    e.final_state(program.steps.len());
    Ok(Encoding {
        dims: e.dims,
        atoms: atoms as u64,
        goal: goal.clone(),
        shard_atoms: shard_atoms as u64,
        pos_width: pw,
        faults: e.faults,
        text: e.out,
    })
}

/// The digits of the shard number (empty for all_reduce): the encoded dims in the
/// goal's digit order ([`Goal::digit_order`]: the layout's, or each requested axis in
/// the goal's order with its dims outer level first), with the mixed-radix stride of
/// each, the first most significant.
fn shard_digits(placement: &Placement, dims: &[EDim], goal: &Goal) -> Vec<(usize, u128)> {
    if !goal.is_sharded() {
        return Vec::new();
    }
    let order: Vec<usize> = goal
        .digit_order(placement)
        .into_iter()
        .filter_map(|i| (0..dims.len()).find(|&d| dims[d].index == i))
        .collect();
    let mut stride: u128 = 1;
    let mut out: Vec<(usize, u128)> = order
        .iter()
        .rev()
        .map(|&d| {
            let s = stride;
            stride *= dims[d].size as u128;
            (d, s)
        })
        .collect();
    out.reverse();
    out
}

/// The dims the query encodes: those requested or named by the program (the others
/// only replicate independent copies of the problem).
fn encoded_dims(
    spec: &Spec,
    placement: &Placement,
    request_axes: &[usize],
    program: &Program,
) -> Vec<EDim> {
    let named = program.named_dims();
    placement
        .dims
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            request_axes.contains(&d.axis)
                || named.iter().any(|r| r.level == d.level && r.axis == d.axis)
        })
        .map(|(index, d)| EDim {
            index,
            name: format!(
                "{}.{}",
                spec.system.levels[d.level].name, spec.axes[d.axis].name
            ),
            size: d.size,
            width: bits(d.size as u128),
            requested: request_axes.contains(&d.axis),
        })
        .collect()
}

impl Enc<'_> {
    /// `(_ BitVec pw)`, the sort of positions.
    fn pos(&self) -> String {
        format!("(_ BitVec {})", self.pw)
    }

    /// The header comment and the top-level unknowns: device x, source s, two members
    /// y and z, position p.
    fn unknowns(&mut self) {
        let (pw, atoms) = (self.pw, self.atoms);
        let e = self;
        let pos = e.pos();
        let atoms_lit = lit(atoms, pw);
        let _ = writeln!(
            e.out,
            "; collsynth verification query: is there a device x, a buffer position p and a source s\n\
             ; at which some step is ill-formed or the final state is wrong? unsat = proved.\n\
             ; dims: {}\n; buffer atoms L = {atoms}; positions are {pw}-bit",
            e.dims
                .iter()
                .map(|d| format!("{} (size {}, {} bits)", d.name, d.size, d.width))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let all: Vec<usize> = (0..e.dims.len()).collect();
        for pre in ["x", "s", "y", "z"] {
            let names = e.names(pre);
            for (i, n) in names.iter().enumerate() {
                let _ = writeln!(e.out, "(declare-const {n} {})", e.bv(i));
            }
            for b in e.bounds(&names, &all) {
                let _ = writeln!(e.out, "(assert {b})");
            }
        }
        let _ = writeln!(e.out, "(declare-const p {pos})");
        let _ = writeln!(e.out, "(assert (bvult p {atoms_lit}))");
    }

    /// State 0: every device holds the whole buffer (all_gather: only its shard),
    /// validly, with itself summed.
    fn initial_state(&mut self) {
        let pw = self.pw;
        let e = self;
        let pos = e.pos();
        let (a, b) = (e.names("a"), e.names("b"));
        let (pa, pb) = (e.params("a"), e.params("b"));
        let (lo, len) = if e.kind == RequestKind::AllGather {
            let s = lit(e.shard_atoms, pw);
            (format!("(bvmul {s} {})", e.shard(&a)), s)
        } else {
            (lit(0, pw), lit(e.atoms, pw))
        };
        let _ = writeln!(e.out, "; state 0: initial");
        let _ = writeln!(e.out, "(define-fun valid_0 ({pa}) Bool true)");
        let _ = writeln!(e.out, "(define-fun lo_0 ({pa}) {pos} {lo})");
        let _ = writeln!(e.out, "(define-fun len_0 ({pa}) {pos} {len})");
        let same = Enc::and(
            a.iter()
                .zip(&b)
                .map(|(u, v)| format!("(= {u} {v})"))
                .collect(),
        );
        let _ = writeln!(
            e.out,
            "(define-fun has_0 ({pa} (q {pos}) {pb}) Bool {same})"
        );
    }

    /// The definitions of state `t`, after `step` over the encoded dims `dd` (group
    /// size `k`) at roots `rr`.
    ///
    /// Every definition applies the previous state's functions to one argument vector
    /// only, chosen digit by digit: `w = ite(part, a[D:=0], a)` (the leader, or `a`
    /// itself when it does not take part) or `v = ite(part, a[D:=m], a)` (a member).
    /// `ite(part, g(f(lead)), f(a))` is `let y = f(w) in ite(part, g(y), y)`, and
    /// `ite(part, ∃m. f(a[D:=m]), f(a))` is `∃m. f(v)` (some `m` is in range), so these
    /// are the interpreter's states as before; but z3 expands each definition once per
    /// argument vector, and two vectors per step made the expanded query grow as 2^t.
    fn step_state(&mut self, t: usize, step: &Step, dd: &[usize], rr: &[usize], k: u128) {
        let (pw, spec) = (self.pw, self.spec);
        let e = self;
        let pos = e.pos();
        let (a, b) = (e.names("a"), e.names("b"));
        let (pa, pb) = (e.params("a"), e.params("b"));
        let m = e.names("m");
        let u = t - 1;
        let _ = writeln!(e.out, "; step {t}: {}", crate::program::Text(spec, step));
        let part_a = e.zero_all(&a, rr);
        let always = part_a == "true";
        // `then` for participants, `els` for the others.
        let ite = |then: String, els: String| {
            if always || then == els {
                then
            } else {
                format!("(ite {part_a} {then} {els})")
            }
        };
        // `a` with its `dd` digits taken from `alt` when it takes part.
        let choose = |alt: &[String]| -> Vec<String> {
            let mut v = a.clone();
            for &d in dd {
                v[d] = ite(alt[d].clone(), a[d].clone());
            }
            v
        };
        let w = choose(&e.subst(&a, dd, None));
        let v = choose(&e.subst(&a, dd, Some(&m)));
        let f = |name: &str, args: &[String]| Enc::app(&format!("{name}_{u}"), args);
        let has_args = |dev: &[String]| {
            let mut v = dev.to_vec();
            v.push("q".into());
            v.extend(b.iter().cloned());
            v
        };
        let has_v = f("has", &has_args(&v));
        let mbind = dd
            .iter()
            .map(|&d| format!("({} {})", m[d], e.bv(d)))
            .collect::<Vec<_>>()
            .join(" ");
        let mbounds = e.bounds(&m, dd);
        let exists = |body: Vec<String>| {
            let mut v = mbounds.clone();
            v.extend(body);
            if mbind.is_empty() {
                Enc::and(v)
            } else {
                format!("(exists ({mbind}) {})", Enc::and(v))
            }
        };
        let (lo_a, len_a) = (f("lo", &a), f("len", &a));
        let (lo_w, len_w) = (f("lo", &w), f("len", &w));
        let idx_a = e.idx(&a, dd);
        let (valid, lo, len, has) = match step.op {
            Collective::AllReduce | Collective::Reduce | Collective::ReduceScatter => {
                let valid = if step.op == Collective::Reduce {
                    e.zero_all(&a, dd)
                } else {
                    "true".into()
                };
                let (lo, len) = if step.op == Collective::ReduceScatter {
                    let c = format!("(bvudiv {len_a} {})", lit(k, pw));
                    (
                        ite(format!("(bvadd {lo_a} (bvmul {idx_a} {c}))"), lo_a.clone()),
                        ite(c, len_a.clone()),
                    )
                } else {
                    (lo_a.clone(), len_a.clone())
                };
                (
                    ite(valid, f("valid", &a)),
                    lo,
                    len,
                    exists(vec![has_v.clone()]),
                )
            }
            Collective::AllGather => {
                // In a well-formed all_gather member i holds [lo + i·c, lo + (i+1)·c),
                // c the leader's length: the member holding q is the one whose index
                // is (q − lo) / c. For an all_gather goal the start regions depend on
                // the shard number, so that division is by a term and the holder's
                // digits nest into every earlier step's functions: there the holder
                // is the member whose region contains q (exactly one in a well-formed
                // step), a quantifier over plain digits.
                let has = if e.kind == RequestKind::AllGather {
                    let (lo_v, len_v) = (f("lo", &v), f("len", &v));
                    let inside = format!("(and (bvule {lo_v} q) (bvult q (bvadd {lo_v} {len_v})))");
                    let guard = if always {
                        inside
                    } else {
                        format!("(=> {part_a} {inside})")
                    };
                    exists(vec![guard, has_v.clone()])
                } else {
                    let i = format!("(bvudiv (bvsub q {lo_w}) {len_w})");
                    let holder = choose(&e.digits_of(&a, dd, &i));
                    f("has", &has_args(&holder))
                };
                (
                    f("valid", &a),
                    lo_w.clone(),
                    ite(format!("(bvmul {} {len_w})", lit(k, pw)), len_w.clone()),
                    has,
                )
            }
            Collective::Broadcast => (
                f("valid", &w),
                lo_w.clone(),
                len_w.clone(),
                f("has", &has_args(&w)),
            ),
        };
        let _ = writeln!(e.out, "(define-fun valid_{t} ({pa}) Bool {valid})");
        let _ = writeln!(e.out, "(define-fun lo_{t} ({pa}) {pos} {lo})");
        let _ = writeln!(e.out, "(define-fun len_{t} ({pa}) {pos} {len})");
        let _ = writeln!(
            e.out,
            "(define-fun has_{t} ({pa} (q {pos}) {pb}) Bool {has})"
        );
    }

    /// The faults of step `t` (`op` over `dd`, group size `k`, roots `rr`), about the
    /// top-level x (any participant), y, z, p, s.
    fn step_faults(&mut self, t: usize, op: Collective, dd: &[usize], rr: &[usize], k: u128) {
        let pw = self.pw;
        let e = self;
        let zero = lit(0, pw);
        let x = e.names("x");
        let (y, z, s) = (e.names("y"), e.names("z"), e.names("s"));
        let u = t - 1;
        let f = |name: &str, args: &[String]| Enc::app(&format!("{name}_{u}"), args);
        // Faults of this step, about the top-level x (any participant), y, z, p, s.
        let part_x = e.zero_all(&x, rr);
        let lead_x = e.subst(&x, dd, None);
        let (lo_x, len_x) = (f("lo", &x), f("len", &x));
        let (lo_lx, len_lx) = (f("lo", &lead_x), f("len", &lead_x));
        let with_part = |c: String| format!("(and {part_x} {c})");
        match op {
            Collective::Broadcast => {
                let c = with_part(format!("(not {})", f("valid", &lead_x)));
                e.fault(Some(t), FaultKind::RootInvalid, "root_invalid", c);
            }
            op => {
                let c = with_part(format!("(not {})", f("valid", &x)));
                e.fault(Some(t), FaultKind::Invalid, "invalid", c);
                if op == Collective::AllGather {
                    // Member i must hold [lo + i·c, lo + (i+1)·c), c the leader's length.
                    let idx_x = e.idx(&x, dd);
                    let elo = format!("(bvadd {lo_lx} (bvmul {idx_x} {len_lx}))");
                    let cond = with_part(format!(
                        "(or (not (= {lo_x} {elo})) (not (= {len_x} {len_lx})))"
                    ));
                    e.fault(Some(t), FaultKind::Misaligned, "misaligned", cond);
                } else {
                    let cond = with_part(format!(
                        "(or (not (= {lo_x} {lo_lx})) (not (= {len_x} {len_lx})))"
                    ));
                    e.fault(Some(t), FaultKind::Region, "region", cond);
                    if op == Collective::ReduceScatter {
                        let cond =
                            with_part(format!("(not (= (bvurem {len_x} {}) {zero}))", lit(k, pw)));
                        e.fault(Some(t), FaultKind::Indivisible, "indivisible", cond);
                    }
                    let my = e.subst(&x, dd, Some(&y));
                    let mz = e.subst(&x, dd, Some(&z));
                    let args = |dev: &[String]| {
                        let mut v = dev.to_vec();
                        v.push("p".into());
                        v.extend(s.iter().cloned());
                        v
                    };
                    let differ = Enc::or(
                        dd.iter()
                            .map(|&d| format!("(not (= {} {}))", y[d], z[d]))
                            .collect(),
                    );
                    let cond = with_part(Enc::and(vec![
                        differ,
                        format!("(bvule {lo_x} p)"),
                        format!("(bvult p (bvadd {lo_x} {len_x}))"),
                        f("has", &args(&my)),
                        f("has", &args(&mz)),
                    ]));
                    e.fault(Some(t), FaultKind::Twice, "twice", cond);
                }
            }
        }
    }

    /// The faults of the final state `tn`.
    fn final_state(&mut self, tn: usize) {
        let pw = self.pw;
        let e = self;
        let pos = e.pos();
        let atoms_lit = lit(e.atoms, pw);
        let zero = lit(0, pw);
        let x = e.names("x");
        let s = e.names("s");
        let _ = writeln!(e.out, "; final state");
        let valid_x = Enc::app(&format!("valid_{tn}"), &x);
        let (lo_x, len_x) = (
            Enc::app(&format!("lo_{tn}"), &x),
            Enc::app(&format!("len_{tn}"), &x),
        );
        let _ = writeln!(e.out, "(declare-const end.lo {pos})");
        let _ = writeln!(e.out, "(declare-const end.hi {pos})");
        let _ = writeln!(e.out, "(assert (= end.lo {lo_x}))");
        let _ = writeln!(e.out, "(assert (= end.hi (bvadd {lo_x} {len_x})))");
        let mut hargs = x.clone();
        hargs.push("p".into());
        hargs.extend(s.iter().cloned());
        let has_x = Enc::app(&format!("has_{tn}"), &hargs);
        let in_group = Enc::and(
            e.dims
                .iter()
                .enumerate()
                .filter(|(_, d)| !d.requested)
                .map(|(i, _)| format!("(= {} {})", x[i], s[i]))
                .collect(),
        );
        e.fault(
            None,
            FaultKind::EndInvalid,
            "invalid",
            format!("(not {valid_x})"),
        );
        if e.kind == RequestKind::ReduceScatter {
            // x must hold at least its shard [c·S, (c+1)·S), and there its group once.
            let size = lit(e.shard_atoms, pw);
            let _ = writeln!(e.out, "(declare-const end.shard_lo {pos})");
            let _ = writeln!(
                e.out,
                "(assert (= end.shard_lo (bvmul {size} {})))",
                e.shard(&x)
            );
            let holds = format!(
                "(and (bvule end.lo end.shard_lo) (bvule (bvadd end.shard_lo {size}) end.hi))"
            );
            e.fault(
                None,
                FaultKind::EndWrongShard,
                "wrong_shard",
                format!("(and {valid_x} (not {holds}))"),
            );
            let at = format!(
                "(and {valid_x} {holds} (bvule end.shard_lo p) (bvult p (bvadd end.shard_lo {size})))"
            );
            e.fault(
                None,
                FaultKind::EndMissing,
                "missing",
                format!("(and {at} {in_group} (not {has_x}))"),
            );
            e.fault(
                None,
                FaultKind::EndExtra,
                "extra",
                format!("(and {at} (not {in_group}) {has_x})"),
            );
            return;
        }
        let whole = format!("(and {valid_x} (= end.lo {zero}) (= end.hi {atoms_lit}))");
        e.fault(
            None,
            FaultKind::EndRegion,
            "region",
            format!("(and {valid_x} (not (and (= end.lo {zero}) (= end.hi {atoms_lit}))))"),
        );
        let wanted = if e.kind == RequestKind::AllGather {
            // Chunk j of the buffer is the data of the group member whose shard is j.
            let size = lit(e.shard_atoms, pw);
            let _ = writeln!(e.out, "(declare-const end.source_lo {pos})");
            let _ = writeln!(
                e.out,
                "(assert (= end.source_lo (bvmul {size} {})))",
                e.shard(&s)
            );
            format!(
                "(and {in_group} (bvule end.source_lo p) (bvult p (bvadd end.source_lo {size})))"
            )
        } else {
            in_group
        };
        e.fault(
            None,
            FaultKind::EndMissing,
            "missing",
            format!("(and {whole} {wanted} (not {has_x}))"),
        );
        e.fault(
            None,
            FaultKind::EndExtra,
            "extra",
            format!("(and {whole} (not {wanted}) {has_x})"),
        );
    }
}

impl Encoding {
    /// The whole query: definitions, the fault disjunction, `(check-sat)`.
    pub(crate) fn query(&self) -> String {
        let mut t = self.text.clone();
        t.push_str(&self.disjunction(self.faults.iter()));
        t.push_str("(check-sat)\n");
        t
    }

    /// `(assert (or selectors...))` over some faults.
    pub(crate) fn disjunction<'a>(&self, faults: impl Iterator<Item = &'a Fault>) -> String {
        let names: Vec<String> = faults.map(|f| f.name.clone()).collect();
        format!("(assert {})\n", Enc::or(names))
    }
}
