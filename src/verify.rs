//! The SMT verifier: every dim-structured program is proven correct by z3 (or refuted
//! with a confirmed counterexample) without enumerating devices. All z3 code of
//! collsynth lives here ([`smt`]); the rest of the program sees [`Verdict`].
//!
//! # What the query says
//!
//! The device state of `docs/design.md` (§3.2), exactly as the
//! reference interpreter [`crate::semantics`] runs it, is written as one family of
//! functions per step `t` of the device's digits `a` (one bit-vector per encoded dim):
//! `valid_t(a)`, the region `[lo_t(a), lo_t(a) + len_t(a))` in buffer atoms, and
//! `has_t(a, q, b)`: source `b` is summed at atom `q`. A step `op(D) @ roots(R)`
//! leaves non-participants (a digit on `R` not 0) unchanged; for a participant its
//! group is `a[D := m]` for all in-range `m`, its leader (first member, lowest rank)
//! `a[D := 0]`, and its member index the mixed radix of its `D` digits:
//!
//! * all_reduce / reduce / reduce_scatter: `has_t(a,q,b) = ∃m. has_{t-1}(a[D:=m],q,b)`;
//!   reduce leaves only the leader valid; reduce_scatter gives member `i` chunk `i`
//!   of the common region (`lo + i·c`, `len = c = len / k`).
//! * all_gather: the region becomes `[lo(leader), lo(leader) + k·len(leader))` and
//!   `has_t(a,q,b) = has_{t-1}(a[D := digits of i], q, b)` with
//!   `i = (q − lo(leader)) / len(leader)`: in a well-formed all_gather member `i` holds
//!   exactly `[lo + i·c, lo + (i+1)·c)`, so the holder of `q` is a term, not a
//!   quantifier (this keeps proof times flat in the dim sizes). For an all_gather
//!   *goal* the start regions depend on the shard number, so `len(leader)` is a term
//!   and the holder's digits would nest into every earlier step (a four-step gather
//!   chain over 24 devices took 99 s); there the holder is the member whose region
//!   contains `q`, `∃m. lo(a[D:=m]) ≤ q < lo + len ∧ has(a[D:=m], q, b)` (0.08 s).
//! * broadcast: everything is the leader's.
//!
//! A region is kept as start and length, not start and end, so that each state
//! function names the previous step's `lo` and `len` once: z3 expands `define-fun`
//! bodies when it reads the query, and with `[lo, hi)` each region term named the
//! previous one two or three times, so a six-step program's query grew
//! exponentially as it was read (20–40 s for a 12 KB query over 8 devices that the
//! solver then decided in 20 ms).
//!
//! The start and the end are the request's [`Goal`] (`docs/design.md`, §3.3.1): for
//! reduce_scatter and all_gather the buffer has `L = S·G` atoms (`G` shards of `S`),
//! and a device's shard number `c(a)` is the mixed radix of its requested digits,
//! axis by axis in the request's order, each axis's dims outer level first — a
//! linear term of the digits. all_gather starts with `lo_0(a) = c(a)·S`,
//! `len_0 = S`; the other kinds start with `[0, L)`.
//!
//! One query asks whether top-level unknowns — a device `x`, a position `p`, a source
//! `s` and two members `y ≠ z` — witness a fault: at some step, a participant holding
//! nothing valid, a region differing from its leader's, an indivisible region, a
//! misaligned all_gather chunk, an invalid broadcast root, or two members both
//! holding `s` at `p` (the "twice" of the interpreter); or, at the end, `x` not valid,
//! or (all_reduce, all_gather) not holding `[0, L)`, or (reduce_scatter) its region
//! not containing its shard `[c·S, (c+1)·S)` (`wrong_shard`); or, at `p` (inside the
//! shard for reduce_scatter), a wanted source missing or an unwanted one held. Wanted
//! is: in `x`'s reduction group, and for all_gather also `c(s)·S ≤ p < (c(s)+1)·S`
//! (chunk `j` holds exactly the member of shard `j`). Every fault has a named selector
//! `fault_<step>_<kind>`;
//! `unsat` is [`Verdict::Proved`]. The only quantifiers are the `∃m` of the sums
//! (one per all_reduce / reduce / reduce_scatter step, over that step's dims, and for
//! an all_gather goal one per all_gather step); the
//! query is decided by z3's solver for the `BV` logic.
//!
//! # Why it is sound and complete
//!
//! See `proofs/README.md` for the argument in full. In short: (1) restricted to
//! states reached by well-formed prefixes, each defined function equals the
//! interpreter's state (induction over steps; the group of a device in a
//! dim-structured step is exactly `a[D := m]`, ranks order members by the mixed radix
//! of their `D` digits, and a "twice" can only arise in a sum, where two distinct
//! members hold the source, because counts never exceed 1 before the first fault);
//! (2) the first fault of the interpreter is therefore a model of the query, and any
//! model names a fault whose step's prefix is either well-formed (a real fault) or
//! not (then an earlier real fault exists). So `unsat` ⟺ the interpreter accepts, for each of the three request kinds.
//! Dims neither requested nor named by the program are left out: no group varies
//! them and every source agrees with the device on them, so the state is a product
//! over their digits. Bit widths hold each dim size itself (`x < n` with `n = 2^k`
//! needs `k + 1` bits) and positions hold `(k_max + 1)·L` with a bit to spare, so no
//! term of a well-formed prefix wraps.
//!
//! # How the query grows
//!
//! With the program's length `T` and the number of encoded dims `d`: `4(T+1)`
//! macro definitions, each a constant number of terms per dim; bit widths grow with
//! the logarithm of dim sizes and of the atom count. Nothing is indexed by devices,
//! so 64 and 262,144 devices give queries of the same shape (see `benches/proof.rs`).
//! Each definition applies the previous step's functions at one argument vector only
//! (the leader-or-self or member-or-self, chosen digit by digit with the participation
//! test), so z3's expansion of the macros is quadratic in `T` (cubic for all_gather
//! chains) instead of doubling with every step. The expanded size is estimated before
//! the query is written; above [`MAX_QUERY_TERMS`] the verdict is
//! [`Verdict::Unknown`], naming the limit and suggesting `--by interpreter`.
//!
//! # Refutations
//!
//! A `sat` model is decoded (`x`, `p`, `s` and the selector that holds), pushed back to
//! the earliest faulty step with assumptions, and confirmed independently before it is
//! returned: by the reference interpreter when the placement is small enough
//! ([`CONFIRM_INTERPRETER_CELLS`]), and always by the probe (`verify::probe`), the interpreter's
//! semantics projected onto the decoded position and source and run on the lowered
//! rank groups (no z3, no digits). If either disagrees, the answer is
//! an [`Inconsistency`] (the CLI exits 4).

mod decode;
mod encode;
mod probe;
pub mod smt;

use crate::lowered::{self, Lowered};
use crate::placement::Placement;
use crate::program::Program;
use crate::semantics::{self, Goal, Kind};
use crate::spec::Spec;
use crate::verdict::{Checker, Inconsistency, Verdict};

pub use encode::{EncodeError, MAX_QUERY_TERMS};
pub use smt::SmtOptions;
use smt::{Answer, Assumption, Solver};

/// Placements whose interpreter run holds at most this many counters are also
/// confirmed by the full reference interpreter.
pub const CONFIRM_INTERPRETER_CELLS: u128 = 1 << 24;

/// Placements with more devices than this cannot have a refutation confirmed (the
/// probe walks every device), so such refutations come back as [`Verdict::Unknown`].
pub const CONFIRM_PROBE_DEVICES: u64 = 1 << 24;

/// The query as SMT-LIB2, with readable names, for an all_reduce over
/// `request_axes`: definitions, fault selectors, the disjunction of all faults and
/// `(check-sat)`. `unsat` means proved.
pub fn smt2(
    spec: &Spec,
    placement: &Placement,
    request_axes: &[usize],
    program: &Program,
) -> String {
    smt2_goal(spec, placement, &Goal::all_reduce(request_axes), program)
}

/// The query of [`prove_goal`] as SMT-LIB2 (see [`smt2`]).
pub fn smt2_goal(spec: &Spec, placement: &Placement, goal: &Goal, program: &Program) -> String {
    match encode::encode(spec, placement, goal, program) {
        Ok(e) => e.query(),
        Err(err) => format!("; no query: {err}\n"),
    }
}

/// Proves `program` correct for a request over `request_axes` (indices into
/// `spec.axes`) on `placement`; an [`Inconsistency`] when z3's refutation is not
/// confirmed independently. Safe to call from several threads (each thread uses its
/// own z3 context).
pub fn prove(
    spec: &Spec,
    placement: &Placement,
    request_axes: &[usize],
    program: &Program,
    opts: &SmtOptions,
) -> Result<Verdict, Inconsistency> {
    prove_goal(
        spec,
        placement,
        &Goal::all_reduce(request_axes),
        program,
        opts,
    )
}

/// Decides `program` for `goal` as synthesis and `emit` do: z3 ([`prove_goal`]),
/// and where z3 answers Unknown for a sharded goal (reduce_scatter, all_gather: its
/// largest queries, the holder of a position nests through every step,
/// docs/design.md §3.3.1) the reference interpreter on the program's explicit rank
/// groups, within the interpreter's limits ([`lowered::MAX_LOWERED_DEVICES`],
/// [`semantics::MAX_INTERPRETER_CELLS`]); beyond them z3's Unknown stands. Returns
/// the verdict and which checker gave it.
pub fn prove_or_interpret(
    spec: &Spec,
    placement: &Placement,
    goal: &Goal,
    program: &Program,
    opts: &SmtOptions,
) -> Result<(Verdict, Checker), Inconsistency> {
    let smt = prove_goal(spec, placement, goal, program, opts)?;
    if !(matches!(smt, Verdict::Unknown(_)) && goal.is_sharded())
        || placement.devices() > lowered::MAX_LOWERED_DEVICES
    {
        return Ok((smt, Checker::Smt));
    }
    let low = lowered::lower(placement, program);
    match interpret_goal(spec, placement, goal, &low) {
        Verdict::Unknown(_) => Ok((smt, Checker::Smt)),
        v => Ok((v, Checker::Interpreter)),
    }
}

/// The interpreter's verdict on `program` for `goal`, or Unknown (saying why) when
/// it would track more than [`semantics::MAX_INTERPRETER_CELLS`] counters. The one entry that
/// applies the interpreter's size limit before it allocates.
pub fn interpret_goal(
    spec: &Spec,
    placement: &Placement,
    goal: &Goal,
    program: &Lowered,
) -> Verdict {
    let cells = semantics::goal_cells(spec, placement, goal, program);
    if cells > semantics::MAX_INTERPRETER_CELLS {
        return Verdict::Unknown(format!(
            "the reference interpreter would track {cells} counters for this placement ({} devices), more than its limit of {}",
            placement.devices(),
            semantics::MAX_INTERPRETER_CELLS,
        ));
    }
    match semantics::run_goal(spec, placement, goal, program) {
        Ok(()) => Verdict::Proved,
        Err(c) => Verdict::Refuted(c),
    }
}

/// Proves `program` correct for `goal` on `placement` (see [`prove`]).
pub fn prove_goal(
    spec: &Spec,
    placement: &Placement,
    goal: &Goal,
    program: &Program,
    opts: &SmtOptions,
) -> Result<Verdict, Inconsistency> {
    // A `layout(L):` program is decided by its steps for the relaid goal, by z3, the
    // interpreter and the probe alike (proofs/README.md, "Relayout").
    let goal = &goal.relaid(&program.layout);
    let enc = match encode::encode(spec, placement, goal, program) {
        Ok(e) => e,
        Err(e) => return Ok(Verdict::Unknown(format!("cannot build the query: {e}"))),
    };
    let solver = Solver::new(Some("BV"), opts, &enc.query());
    let model_fault = |assumptions: &[Assumption]| -> Result<Option<decode::Decoded>, Verdict> {
        match solver.check(assumptions) {
            Answer::Unsat => Ok(None),
            Answer::Unknown(why) => Err(Verdict::Unknown(format!(
                "z3 could not decide within {}: {why}",
                opts.budget_text()
            ))),
            Answer::Sat(model) => decode::decode(spec, placement, program, &enc, &model)
                .map(Some)
                .ok_or_else(|| Verdict::Unknown("z3's model sets no fault selector".into())),
        }
    };
    let mut found = match model_fault(&[]) {
        Ok(Some(f)) => f,
        Ok(None) => return Ok(Verdict::Proved),
        Err(v) => return Ok(v),
    };
    // Push the fault back to the earliest faulty step: switch off every selector of
    // that step and later ones, and ask again.
    while found.cex.step != Some(1) {
        let t = found.cex.step;
        let later = decode::assume_not(&enc, |s| match (s, t) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(u), Some(t)) => u >= t,
        });
        match model_fault(&later) {
            Ok(Some(f)) => found = f,
            Ok(None) => break,
            Err(v) => return Ok(v),
        }
    }
    // Within that step the interpreter checks the members' data before it sums: a
    // "twice" is only shown when the step has no ill-formed group.
    if let (Some(t), Kind::Twice) = (found.cex.step, found.cex.kind) {
        let others = decode::assume_not_except_ill_formed(&enc, t);
        match model_fault(&others) {
            Ok(Some(f)) => found = f,
            Ok(None) => {}
            Err(v) => return Ok(v),
        }
    }
    confirm(spec, placement, goal, program, &enc, found)
}

/// Confirms a decoded refutation with the interpreter (small placements) and the probe.
fn confirm(
    spec: &Spec,
    placement: &Placement,
    goal: &Goal,
    program: &Program,
    enc: &encode::Encoding,
    f: decode::Decoded,
) -> Result<Verdict, Inconsistency> {
    let cex = f.cex;
    if placement.devices() > CONFIRM_PROBE_DEVICES {
        return Ok(Verdict::Unknown(format!(
            "z3 refutes the program ({}), but with {} devices the counterexample is too large to confirm independently",
            cex.message,
            placement.devices()
        )));
    }
    let lowered = lowered::lower(placement, program);
    if semantics::goal_cells(spec, placement, goal, &lowered) <= CONFIRM_INTERPRETER_CELLS {
        match semantics::run_goal(spec, placement, goal, &lowered) {
            Ok(()) => {
                return Err(Inconsistency(format!(
                    "z3 refutes the program ({}) but the reference interpreter accepts it",
                    cex.message
                )))
            }
            Err(c) if c.step != cex.step => {
                return Err(Inconsistency(format!(
                    "z3's first fault is at {} ({}) but the reference interpreter's is at {} ({})",
                    step_name(cex.step),
                    cex.message,
                    step_name(c.step),
                    c.message
                )))
            }
            Err(_) => {}
        }
    }
    let key = |r: u64| placement.group_key(r, &goal.axes);
    let skey = key(f.source);
    let in_group = |x: u64| key(x) == skey;
    let shard = |r: u64| goal.shard_of(spec, placement, r);
    let target = probe::Target {
        kind: goal.kind,
        atoms: enc.atoms,
        shard_atoms: enc.shard_atoms,
        shard: &shard,
        in_group: &in_group,
    };
    let got = probe::probe(placement, &lowered, &target, f.atom, f.source);
    match got {
        Some(r) if r.step == cex.step && r.faults.contains(&(cex.kind, cex.rank)) => {
            Ok(Verdict::Refuted(cex))
        }
        Some(r) => Err(Inconsistency(format!(
            "z3 claims {} {} at {}, but the independent probe (atom {}, source {}) finds {:?} at {}",
            cex.kind,
            semantics::rank_text(spec, placement, cex.rank),
            step_name(cex.step),
            f.atom,
            f.source,
            r.faults.iter().take(4).collect::<Vec<_>>(),
            step_name(r.step)
        ))),
        None => Err(Inconsistency(format!(
            "z3 claims {} ({}), but the independent probe finds no fault at atom {}, source {}",
            cex.kind, cex.message, f.atom, f.source
        ))),
    }
}

fn step_name(s: Option<usize>) -> String {
    s.map_or("the final state".into(), |t| format!("step {t}"))
}

#[cfg(test)]
mod tests;
