//! `collsynth verify`: decide whether a program is correct for a request, by the z3
//! proof (default), the reference interpreter, or both.

use super::outcome::{usage, Error, Outcome, Result};
use super::{print, DecideBy, VerifyArgs};
use crate::problem::Problem;
use crate::report;
use crate::verdict::{Checker, Verdict};

/// The verdict of z3, or of the interpreter for a program with no group form.
fn decide(problem: &Problem, a: &VerifyArgs) -> Result<(Verdict, Checker)> {
    let smt = || -> Result<Verdict> {
        Ok(problem
            .prove(&a.smt.options())
            .expect("a dim-structured program has a query")?)
    };
    Ok(match (&problem.program, a.by) {
        (None, by) => {
            if by != DecideBy::Interpreter {
                eprintln!("note: the lowered program is not dim-structured; it is decided by the reference interpreter");
            }
            (problem.interpret(), Checker::Interpreter)
        }
        (Some(_), DecideBy::Interpreter) => (problem.interpret(), Checker::Interpreter),
        (Some(_), DecideBy::Smt) => (smt()?, Checker::Smt),
        (Some(_), DecideBy::Both) => {
            let by_smt = smt()?;
            let by_interpreter = problem.interpret();
            match (&by_smt, &by_interpreter) {
                (Verdict::Unknown(_), _) => (by_smt, Checker::Smt),
                (_, Verdict::Unknown(_)) => (by_interpreter, Checker::Interpreter),
                (x, y) if x.is_proved() != y.is_proved() => {
                    return Err(Error::Internal(format!(
                        "z3 says {} but the reference interpreter says {}",
                        describe(x),
                        describe(y)
                    )))
                }
                _ => (by_smt, Checker::SmtAndInterpreter),
            }
        }
    })
}

pub(super) fn verify(a: VerifyArgs) -> Result {
    let problem = a.problem.resolve()?;
    if let Some(path) = &a.dump_smt {
        let Some(program) = &problem.program else {
            return Err(usage(
                "--dump-smt: the lowered program is not dim-structured, so it has no SMT query (it is decided by the interpreter)",
            ));
        };
        let text = crate::verify::smt2_goal(
            &problem.spec,
            &problem.placement,
            &crate::semantics::Goal::of(&problem.request),
            program,
        );
        std::fs::write(path, text)
            .map_err(|e| usage(format!("--dump-smt {}: cannot write: {e}", path.display())))?;
    }
    let (verdict, checker) = decide(&problem, &a)?;
    print(&if a.json {
        report::verify_json(&problem, &verdict, checker)
    } else {
        report::verify_text(&problem, &verdict, checker)
    });
    match &verdict {
        Verdict::Unknown(reason) if checker == Checker::Interpreter => Err(Error::Undecided(
            format!("{reason}; use --by smt for systems this large"),
        )),
        Verdict::Unknown(reason) => Err(Error::Undecided(reason.clone())),
        v => Ok(Outcome::of(v)),
    }
}

fn describe(v: &Verdict) -> String {
    match v {
        Verdict::Refuted(c) => format!("refuted ({})", c.message),
        v => v.name().to_string(),
    }
}
