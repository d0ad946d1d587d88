//! Which verdict lets a program be emitted: the SMT verifier's, and for a sharded
//! request (reduce_scatter, all_gather) that it cannot decide yet, the reference
//! interpreter's.

use crate::problem::Problem;
use crate::semantics::Goal;
use crate::verdict::{Inconsistency, Verdict};
use crate::verify::SmtOptions;

/// Decides `problem`'s program for its request; returns the verdict and what decided
/// it (for the emitted header). z3 decides ([`crate::verify::prove_goal`] with the
/// request's [`Goal`]); a program with no group form (explicit groups, not
/// dim-structured) is decided by the reference interpreter, which is all that can.
pub fn decide(
    problem: &Problem,
    smt: &SmtOptions,
) -> Result<(Verdict, &'static str), Inconsistency> {
    match problem.prove(smt) {
        Some(v) => Ok(sharded_fallback(problem, v?)),
        None => Ok((
            problem.interpret(),
            "the reference interpreter (explicit groups, not dim-structured)",
        )),
    }
}

/// The SMT encoding decides all_reduce requests only so far, and answers Unknown for
/// reduce_scatter and all_gather goals; only then the exact reference interpreter
/// (`semantics::run_goal`, as `verify --by interpreter`) decides instead. Once
/// `verify::prove_goal` decides sharded goals this function goes, and z3's answer
/// stands as it does for all_reduce.
fn sharded_fallback(problem: &Problem, smt: Verdict) -> (Verdict, &'static str) {
    match smt {
        Verdict::Unknown(_) if Goal::of(&problem.request).is_sharded() => (
            problem.interpret(),
            "the reference interpreter (the SMT verifier does not decide reduce_scatter or all_gather requests yet)",
        ),
        v => (v, "the SMT verifier (z3)"),
    }
}
