//! Which verdict lets a program be emitted: the SMT verifier's, and for a sharded
//! request (reduce_scatter, all_gather) that z3 leaves undecided within its budget,
//! the reference interpreter's (as synthesis does, `synth::backend::Standard`).

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

/// Where z3 answers Unknown for a reduce_scatter or all_gather goal (its queries
/// are the largest: the holder of a position nests through every step), the exact
/// reference interpreter (`semantics::run_goal`, as `verify --by interpreter`)
/// decides instead, as synthesis does; z3's answer stands everywhere else.
fn sharded_fallback(problem: &Problem, smt: Verdict) -> (Verdict, &'static str) {
    match smt {
        Verdict::Unknown(_) if Goal::of(&problem.request).is_sharded() => (
            problem.interpret(),
            "the reference interpreter (the SMT verifier left this reduce_scatter / all_gather program undecided)",
        ),
        v => (v, "the SMT verifier (z3)"),
    }
}
