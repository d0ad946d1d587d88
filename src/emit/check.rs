//! Which verdict lets a program be emitted: the SMT verifier's, and for a sharded
//! request (reduce_scatter, all_gather) that z3 leaves undecided within its budget,
//! the reference interpreter's ([`verify::prove_or_interpret`], as synthesis
//! decides).

use crate::problem::Problem;
use crate::semantics::Goal;
use crate::verdict::{Checker, Inconsistency, Verdict};
use crate::verify::{self, SmtOptions};

/// Decides `problem`'s program for its request; returns the verdict and what decided
/// it (for the emitted header). z3 decides ([`crate::verify::prove_goal`] with the
/// request's [`Goal`]); a program with no group form (explicit groups, not
/// dim-structured) is decided by the reference interpreter, which is all that can.
pub fn decide(
    problem: &Problem,
    smt: &SmtOptions,
) -> Result<(Verdict, &'static str), Inconsistency> {
    let Some(program) = &problem.program else {
        return Ok((
            problem.interpret(),
            "the reference interpreter (explicit groups, not dim-structured)",
        ));
    };
    let goal = Goal::of(&problem.request);
    let (verdict, by) =
        verify::prove_or_interpret(&problem.spec, &problem.placement, &goal, program, smt)?;
    Ok((
        verdict,
        match by {
            Checker::Interpreter => "the reference interpreter (the SMT verifier left this reduce_scatter / all_gather program undecided)",
            _ => "the SMT verifier (z3)",
        },
    ))
}
