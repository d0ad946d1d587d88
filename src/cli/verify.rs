//! `collsynth verify`: decide whether a program is correct for a request, by the z3
//! proof (default), the reference interpreter, or both.

use std::process::ExitCode;

use super::problem::Problem;
use super::{exit, print, DecideBy, Failure, VerifyArgs};
use crate::program::Program;
use crate::report;
use crate::semantics::{self, Counterexample};
use crate::verify::{self, SmtOptions, Verdict};

fn interpret(problem: &Problem) -> Result<Result<(), Counterexample>, Failure> {
    let cells = semantics::interpreter_cells(&problem.placement, &problem.lowered);
    if cells > semantics::MAX_INTERPRETER_CELLS {
        return Err(Failure {
            code: exit::UNKNOWN,
            message: format!(
                "undecided: the reference interpreter would track {cells} counters for this placement ({} devices), more than its limit of {}; use --by smt for systems this large",
                problem.placement.devices(),
                semantics::MAX_INTERPRETER_CELLS
            ),
        });
    }
    Ok(semantics::run(
        &problem.spec,
        &problem.placement,
        &problem.request.axes,
        &problem.lowered,
    ))
}

fn undecided(problem: &Problem, json: bool, reason: &str) -> Failure {
    if json {
        let v = serde_json::json!({
            "schema_version": 1,
            "verdict": "unknown",
            "decided_by": "smt",
            "reason": reason,
            "program": problem.program.as_ref().map(|x| x.text(&problem.spec)),
            "placement": problem.index,
        });
        let _ = print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        ));
    }
    Failure {
        code: exit::UNKNOWN,
        message: format!("undecided: {reason}"),
    }
}

fn prove(
    problem: &Problem,
    program: &Program,
    a: &VerifyArgs,
) -> Result<Result<(), Counterexample>, Failure> {
    let opts = SmtOptions {
        timeout_ms: a.smt_timeout_ms,
    };
    match verify::prove(
        &problem.spec,
        &problem.placement,
        &problem.request.axes,
        program,
        &opts,
    ) {
        Verdict::Proved => Ok(Ok(())),
        Verdict::Refuted(c) => Ok(Err(c)),
        Verdict::Unknown(r) => Err(undecided(problem, a.json, &r)),
        Verdict::Inconsistent(r) => Err(Failure {
            code: exit::INTERNAL,
            message: format!("internal inconsistency: {r}"),
        }),
    }
}

pub(super) fn verify(a: VerifyArgs) -> Result<ExitCode, Failure> {
    let problem = a.problem.resolve()?;
    if let Some(path) = &a.dump_smt {
        let Some(program) = &problem.program else {
            return Err(super::usage(
                "--dump-smt: the lowered program is not dim-structured, so it has no SMT query (it is decided by the interpreter)",
            ));
        };
        let text = verify::smt2(
            &problem.spec,
            &problem.placement,
            &problem.request.axes,
            program,
        );
        std::fs::write(path, text).map_err(|e| {
            super::usage(format!("--dump-smt {}: cannot write: {e}", path.display()))
        })?;
    }
    let (result, decided_by) = match (&problem.program, a.by) {
        (None, by) => {
            if by != DecideBy::Interpreter {
                eprintln!("note: the lowered program is not dim-structured; it is decided by the reference interpreter");
            }
            (interpret(&problem)?, "interpreter")
        }
        (Some(_), DecideBy::Interpreter) => (interpret(&problem)?, "interpreter"),
        (Some(program), DecideBy::Smt) => (prove(&problem, program, &a)?, "smt"),
        (Some(program), DecideBy::Both) => {
            let smt = prove(&problem, program, &a)?;
            let interp = interpret(&problem)?;
            if smt.is_ok() != interp.is_ok() {
                return Err(Failure {
                    code: exit::INTERNAL,
                    message: format!(
                        "internal inconsistency: z3 says {} but the reference interpreter says {}",
                        describe(&smt),
                        describe(&interp)
                    ),
                });
            }
            (smt, "smt+interpreter")
        }
    };
    let out = if a.json {
        report::verify_json(&problem, &result, decided_by)
    } else {
        report::verify_text(&problem, &result, decided_by)
    };
    print(&out)?;
    Ok(match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(exit::REFUTED),
    })
}

fn describe(r: &Result<(), Counterexample>) -> String {
    match r {
        Ok(()) => "proved".into(),
        Err(c) => format!("refuted ({})", c.message),
    }
}
