//! The SMT verifier: every dim-structured program is proven correct by z3 (or refuted
//! with a confirmed counterexample) without enumerating devices. All z3 code of
//! collsynth lives here; the rest of the program sees [`Verdict`].
//!
//! # What the query says
//!
//! The device state of DESIGN.md ("Semantics and correctness"), exactly as the
//! reference interpreter [`crate::semantics`] runs it, is written as one family of
//! functions per step `t` of the device's digits `a` (one bit-vector per encoded dim):
//! `valid_t(a)`, the region `[lo_t(a), hi_t(a))` in buffer atoms, and
//! `has_t(a, q, b)`: source `b` is summed at atom `q`. A step `op(D) @ roots(R)`
//! leaves non-participants (a digit on `R` not 0) unchanged; for a participant its
//! group is `a[D := m]` for all in-range `m`, its leader (first member, lowest rank)
//! `a[D := 0]`, and its member index the mixed radix of its `D` digits:
//!
//! * all_reduce / reduce / reduce_scatter: `has_t(a,q,b) = ∃m. has_{t-1}(a[D:=m],q,b)`;
//!   reduce leaves only the leader valid; reduce_scatter gives member `i` chunk `i`
//!   of the common region (`lo + i·c`, `c = (hi − lo) / k`).
//! * all_gather: the region becomes `[lo(leader), lo(leader) + k·c(leader))` and
//!   `has_t(a,q,b) = has_{t-1}(a[D := digits of i], q, b)` with
//!   `i = (q − lo(leader)) / c(leader)`: in a well-formed all_gather member `i` holds
//!   exactly `[lo + i·c, lo + (i+1)·c)`, so the holder of `q` is a term, not a
//!   quantifier (this keeps proof times flat in the dim sizes).
//! * broadcast: everything is the leader's.
//!
//! One query asks whether top-level unknowns — a device `x`, a position `p`, a source
//! `s` and two members `y ≠ z` — witness a fault: at some step, a participant holding
//! nothing valid, a region differing from its leader's, an indivisible region, a
//! misaligned all_gather chunk, an invalid broadcast root, or two members both
//! holding `s` at `p` (the "twice" of the interpreter); or, at the end, `x` not valid,
//! not holding `[0, L)`, missing a source of its reduction group or holding one
//! outside it. Every fault has a named selector `fault_<step>_<kind>`;
//! `unsat` is [`Verdict::Proved`]. The only quantifiers are the `∃m` of the sums
//! (one per all_reduce / reduce / reduce_scatter step, over that step's dims); the
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
//! not (then an earlier real fault exists). So `unsat` ⟺ the interpreter accepts.
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
//!
//! # Refutations
//!
//! A `sat` model is decoded (`x`, `p`, `s` and the selector that holds), pushed back to
//! the earliest faulty step with assumptions, and confirmed independently before it is
//! returned: by the reference interpreter when the placement is small enough
//! ([`CONFIRM_INTERPRETER_CELLS`]), and always by the probe (`verify::probe`), the interpreter's
//! semantics projected onto the decoded position and source and run on the lowered
//! rank groups (no z3, no digits). If either disagrees, the answer is
//! [`Verdict::Inconsistent`] (the CLI exits 4).

pub mod composition;
mod decode;
mod encode;
pub mod instances;
pub mod obligation;
mod probe;

use z3::{Params, SatResult, Solver};

use crate::lowered;
use crate::placement::Placement;
use crate::program::Program;
use crate::semantics::{self, Counterexample, Kind};
use crate::spec::Spec;

pub use encode::EncodeError;

/// The answer of the verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// z3 answered `unsat`: no device, position or source witnesses a fault.
    Proved,
    /// A fault, decoded from z3's model and confirmed independently.
    Refuted(Counterexample),
    /// z3 could not decide (timeout, resource limit) or the query could not be
    /// built; never a proof.
    Unknown(String),
    /// z3's counterexample was not confirmed by the independent check: a bug in
    /// collsynth (the CLI exits 4).
    Inconsistent(String),
}

/// Solver options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmtOptions {
    /// z3's timeout per check, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for SmtOptions {
    fn default() -> Self {
        SmtOptions { timeout_ms: 10_000 }
    }
}

/// Placements whose interpreter run holds at most this many counters are also
/// confirmed by the full reference interpreter.
pub const CONFIRM_INTERPRETER_CELLS: u128 = 1 << 24;

/// Placements with more devices than this cannot have a refutation confirmed (the
/// probe walks every device), so such refutations come back as [`Verdict::Unknown`].
pub const CONFIRM_PROBE_DEVICES: u64 = 1 << 24;

/// The query as SMT-LIB2, with readable names: definitions, fault selectors, the
/// disjunction of all faults and `(check-sat)`. `unsat` means proved.
pub fn smt2(
    spec: &Spec,
    placement: &Placement,
    request_axes: &[usize],
    program: &Program,
) -> String {
    match encode::encode(spec, placement, request_axes, program) {
        Ok(e) => e.query(),
        Err(err) => format!("; no query: {err}\n"),
    }
}

/// Proves `program` correct for a request over `request_axes` (indices into
/// `spec.axes`) on `placement`. Safe to call from several threads (each thread uses
/// its own z3 context).
pub fn prove(
    spec: &Spec,
    placement: &Placement,
    request_axes: &[usize],
    program: &Program,
    opts: &SmtOptions,
) -> Verdict {
    let enc = match encode::encode(spec, placement, request_axes, program) {
        Ok(e) => e,
        Err(e) => return Verdict::Unknown(format!("cannot build the query: {e}")),
    };
    let solver = Solver::new_for_logic("BV").unwrap_or_default();
    let mut params = Params::new();
    params.set_u32("timeout", opts.timeout_ms.min(u32::MAX as u64) as u32);
    solver.set_params(&params);
    solver.from_string(enc.query());
    let model_fault = |result: SatResult| -> Result<Option<decode::Decoded>, Verdict> {
        match result {
            SatResult::Unsat => Ok(None),
            SatResult::Unknown => {
                let why = solver
                    .get_reason_unknown()
                    .unwrap_or_else(|| "no reason given".into());
                Err(Verdict::Unknown(format!(
                    "z3 could not decide within {} ms: {why}",
                    opts.timeout_ms
                )))
            }
            SatResult::Sat => {
                let model = solver
                    .get_model()
                    .ok_or_else(|| Verdict::Unknown("z3 answered sat without a model".into()))?;
                decode::decode(spec, placement, request_axes, program, &enc, &model)
                    .map(Some)
                    .ok_or_else(|| Verdict::Unknown("z3's model sets no fault selector".into()))
            }
        }
    };
    let mut found = match model_fault(solver.check()) {
        Ok(Some(f)) => f,
        Ok(None) => return Verdict::Proved,
        Err(v) => return v,
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
        match model_fault(solver.check_assumptions(&later)) {
            Ok(Some(f)) => found = f,
            Ok(None) => break,
            Err(v) => return v,
        }
    }
    // Within that step the interpreter checks the members' data before it sums: a
    // "twice" is only shown when the step has no ill-formed group.
    if let (Some(t), Kind::Twice) = (found.cex.step, found.cex.kind) {
        let others = decode::assume_not_except_ill_formed(&enc, t);
        match model_fault(solver.check_assumptions(&others)) {
            Ok(Some(f)) => found = f,
            Ok(None) => {}
            Err(v) => return v,
        }
    }
    let f = found;
    confirm(spec, placement, request_axes, program, &enc, f)
}

/// Confirms a decoded refutation with the interpreter (small placements) and the probe.
fn confirm(
    spec: &Spec,
    placement: &Placement,
    request_axes: &[usize],
    program: &Program,
    enc: &encode::Encoding,
    f: decode::Decoded,
) -> Verdict {
    let cex = f.cex;
    if placement.devices() > CONFIRM_PROBE_DEVICES {
        return Verdict::Unknown(format!(
            "z3 refutes the program ({}), but with {} devices the counterexample is too large to confirm independently",
            cex.message,
            placement.devices()
        ));
    }
    let lowered = lowered::lower(placement, program);
    if semantics::interpreter_cells(placement, &lowered) <= CONFIRM_INTERPRETER_CELLS {
        match semantics::run(spec, placement, request_axes, &lowered) {
            Ok(()) => {
                return Verdict::Inconsistent(format!(
                    "z3 refutes the program ({}) but the reference interpreter accepts it",
                    cex.message
                ))
            }
            Err(c) if c.step != cex.step => {
                return Verdict::Inconsistent(format!(
                    "z3's first fault is at {} ({}) but the reference interpreter's is at {} ({})",
                    step_name(cex.step),
                    cex.message,
                    step_name(c.step),
                    c.message
                ))
            }
            Err(_) => {}
        }
    }
    let key = |r: u64| placement.group_key(r, request_axes);
    let skey = key(f.source);
    let in_group = |x: u64| key(x) == skey;
    let got = probe::probe(placement, &lowered, enc.atoms, f.atom, f.source, &in_group);
    match got {
        Some(r) if r.step == cex.step && r.faults.contains(&(cex.kind, cex.rank)) => {
            Verdict::Refuted(cex)
        }
        Some(r) => Verdict::Inconsistent(format!(
            "z3 claims {} {} at {}, but the independent probe (atom {}, source {}) finds {:?} at {}",
            cex.kind,
            semantics::rank_text(spec, placement, cex.rank),
            step_name(cex.step),
            f.atom,
            f.source,
            r.faults.iter().take(4).collect::<Vec<_>>(),
            step_name(r.step)
        )),
        None => Verdict::Inconsistent(format!(
            "z3 claims {} ({}), but the independent probe finds no fault at atom {}, source {}",
            cex.kind, cex.message, f.atom, f.source
        )),
    }
}

fn step_name(s: Option<usize>) -> String {
    s.map_or("the final state".into(), |t| format!("step {t}"))
}

#[cfg(test)]
mod tests;
