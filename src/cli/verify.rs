//! `collsynth verify`: decide whether a program is correct for a request.

use std::process::ExitCode;

use super::problem::resolve_problem;
use super::{exit, load_spec, print, Failure, VerifyArgs};
use crate::report;
use crate::semantics;

pub(super) fn verify(a: VerifyArgs) -> Result<ExitCode, Failure> {
    let spec = load_spec(None, &a.spec)?;
    let problem = resolve_problem(spec, &a.program, &a.placement, a.request)?;
    let cells = semantics::interpreter_cells(&problem.placement, &problem.lowered);
    if cells > semantics::MAX_INTERPRETER_CELLS {
        return Err(Failure {
            code: exit::UNKNOWN,
            message: format!(
                "undecided: the reference interpreter would track {cells} counters for this placement ({} devices), more than its limit of {}; the SMT verifier is needed for systems this large",
                problem.placement.devices(),
                semantics::MAX_INTERPRETER_CELLS
            ),
        });
    }
    let result = semantics::run(
        &problem.spec,
        &problem.placement,
        &problem.request.axes,
        &problem.lowered,
    );
    let out = if a.json {
        report::verify_json(&problem, &result, "interpreter")
    } else {
        report::verify_text(&problem, &result, "interpreter")
    };
    print(&out)?;
    Ok(match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(exit::REFUTED),
    })
}
