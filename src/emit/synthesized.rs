//! Units from a synthesis: the K-th best program (from 0) of each request on one
//! synthesized placement, carrying the synthesizer's verdict as its proof.
//!
//! `collsynth synth` checks every program it prints, so a synthesized program needs
//! no second proof before it is emitted: a [`Verdict::Proved`] becomes
//! [`Proof::Proved`]; an undecided one is refused unless the caller allows unproved
//! programs (`--unchecked`), and then the header says nothing was proved.

use crate::lowered;
use crate::spec::Spec;
use crate::synth::PlacementResult;
use crate::verdict::{Checker, Verdict};

use super::{request_function_name, Proof, Unit};

/// Why a synthesized program cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickError {
    /// The spec has no request with this index.
    #[error("request {request} does not exist: the spec has {count} requests")]
    NoSuchRequest {
        /// The index asked for.
        request: usize,
        /// How many there are.
        count: usize,
    },
    /// Fewer programs than `rank + 1` were found.
    #[error("--program {rank}: synthesis found {have} program(s) for request {request} on placement {placement} (ranks 0..{}); ask for a smaller rank", have.saturating_sub(1))]
    NotEnoughPrograms {
        /// The K asked for.
        rank: usize,
        /// How many there are.
        have: usize,
        /// The request index.
        request: usize,
        /// The placement index.
        placement: usize,
    },
    /// The checker did not prove the program.
    #[error("program {rank} for request {request} on placement {placement} (`{text}`) is not proved: {why}")]
    NotProved {
        /// The K asked for.
        rank: usize,
        /// The request index.
        request: usize,
        /// The placement index.
        placement: usize,
        /// The program's text.
        text: String,
        /// The checker's answer.
        why: String,
    },
}

/// What decided the programs of a synthesis, for the header (`checker` is
/// [`crate::synth::Stats::checker`]).
pub fn proved_by(checker: Checker) -> String {
    match checker {
        Checker::Smt => "the SMT verifier (z3), during synthesis".to_string(),
        Checker::Interpreter => "the reference interpreter, during synthesis".to_string(),
        Checker::SmtAndInterpreter => {
            "the SMT verifier (z3) and the reference interpreter, during synthesis".to_string()
        }
    }
}

/// The `rank`-th best program of request `request` on a synthesized placement, as a
/// unit named `name`. An undecided program is an error unless `allow_unproved`
/// (then its proof is [`Proof::Unchecked`]); a refuted one is always an error.
pub fn unit(
    spec: &Spec,
    result: &PlacementResult,
    request: usize,
    rank: usize,
    name: String,
    checker: Checker,
    allow_unproved: bool,
) -> Result<Unit, PickError> {
    let req = spec.requests.get(request).ok_or(PickError::NoSuchRequest {
        request,
        count: spec.requests.len(),
    })?;
    let programs = result
        .results
        .iter()
        .find(|r| r.request == request)
        .map(|r| r.programs.as_slice())
        .unwrap_or_default();
    let chosen = programs.get(rank).ok_or(PickError::NotEnoughPrograms {
        rank,
        have: programs.len(),
        request,
        placement: result.index,
    })?;
    let not_proved = |why: &str| PickError::NotProved {
        rank,
        request,
        placement: result.index,
        text: chosen.program.text(spec),
        why: why.to_string(),
    };
    let proof = match &chosen.verdict {
        Some(Verdict::Proved) => Proof::Proved(proved_by(checker)),
        None | Some(Verdict::Unknown(_)) if allow_unproved => Proof::Unchecked,
        None => return Err(not_proved("not checked")),
        Some(Verdict::Unknown(why)) => return Err(not_proved(&format!("undecided: {why}"))),
        Some(Verdict::Refuted(c)) => return Err(not_proved(&format!("refuted: {}", c.message))),
    };
    Ok(Unit {
        name,
        placement_index: result.index,
        placement: result.placement.clone(),
        request_index: Some(request),
        request: req.clone(),
        lowered: lowered::lower(&result.placement, &chosen.program),
        program: Some(chosen.program.clone()),
        chunks: chosen.chunks,
        proof,
    })
}

/// The `rank`-th best program of each of `requests` (spec indices, in the order
/// given) on a synthesized placement: one unit per request, named after the request
/// ([`request_function_name`]), with `_r<index>` appended when two requests would
/// share a name.
pub fn units(
    spec: &Spec,
    result: &PlacementResult,
    requests: &[usize],
    rank: usize,
    checker: Checker,
    allow_unproved: bool,
) -> Result<Vec<Unit>, PickError> {
    requests
        .iter()
        .zip(names(spec, requests)?)
        .map(|(&r, name)| unit(spec, result, r, rank, name, checker, allow_unproved))
        .collect()
}

/// The function name of each of `requests` (spec indices): named after the request
/// ([`request_function_name`]), with `_r<index>` appended when two would share a name.
pub fn names(spec: &Spec, requests: &[usize]) -> Result<Vec<String>, PickError> {
    let base: Vec<String> = requests
        .iter()
        .map(|&r| {
            spec.requests
                .get(r)
                .map(|req| request_function_name(spec, req))
                .ok_or(PickError::NoSuchRequest {
                    request: r,
                    count: spec.requests.len(),
                })
        })
        .collect::<Result<_, _>>()?;
    Ok(requests
        .iter()
        .zip(&base)
        .map(|(&r, b)| {
            if base.iter().filter(|x| *x == b).count() > 1 {
                format!("{b}_r{r}")
            } else {
                b.clone()
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::Placement;
    use crate::program::parse_program;
    use crate::source::Source;
    use crate::synth::{ProgramResult, RequestResult};

    const SPEC: &str = r#"axes = [ { name = "data", size = 4 } ]
[system]
name = "2 x 2"
levels = [ { name = "node", arity = 2, bandwidth = "100 GB/s", latency = "5 us" },
           { name = "gpu", arity = 2, bandwidth = "235 GB/s", latency = "1 us" } ]
[[request]]
collective = "all_reduce"
axes = ["data"]
bytes = "1 MB"
[[request]]
collective = "all_reduce"
axes = ["data"]
bytes = "2 MB"
"#;

    fn fixture() -> (Spec, PlacementResult) {
        let spec = crate::spec::parse(&Source::new("t.toml", SPEC), None).unwrap();
        let placement = Placement::new(&spec, vec![vec![2, 2]]).unwrap();
        let prog = |t: &str, verdict: Verdict| ProgramResult {
            program: parse_program(&spec, t).unwrap(),
            cost_s: 1.0,
            chunks: 1,
            plain_s: 1.0,
            verdict: Some(verdict),
            proved_on: None,
        };
        let results = (0..2)
            .map(|request| RequestResult {
                request,
                lower_bound_s: 0.0,
                flat_s: 0.0,
                nccl_s: 0.0,
                priced_s: None,
                group_size: 4,
                programs: vec![
                    prog("all_reduce(node:data, gpu:data)", Verdict::Proved),
                    prog(
                        "all_reduce(gpu:data) ; all_reduce(node:data)",
                        Verdict::Unknown("timeout".into()),
                    ),
                ],
            })
            .collect();
        let result = PlacementResult {
            index: 0,
            placement,
            score_s: 2.0,
            best: true,
            results,
        };
        (spec, result)
    }

    #[test]
    fn requests_sharing_a_name_get_their_index_appended() {
        let (spec, result) = fixture();
        let us = units(&spec, &result, &[0, 1], 0, Checker::Smt, false).unwrap();
        let names: Vec<&str> = us.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["all_reduce_data_r0", "all_reduce_data_r1"]);
        assert_eq!(us[1].request.bytes, 2_000_000);
        assert_eq!(
            us[0].proof,
            Proof::Proved("the SMT verifier (z3), during synthesis".into())
        );
        // One group of all four devices, lowered from the program.
        assert_eq!(us[0].lowered.steps[0].groups, vec![vec![0, 1, 2, 3]]);
        let one = units(&spec, &result, &[1], 0, Checker::Smt, false).unwrap();
        assert_eq!(one[0].name, "all_reduce_data");
    }

    #[test]
    fn undecided_programs_are_refused_unless_allowed_and_ranks_are_bounded() {
        let (spec, result) = fixture();
        let e = unit(&spec, &result, 0, 1, "x".into(), Checker::Smt, false).unwrap_err();
        assert!(matches!(e, PickError::NotProved { rank: 1, .. }), "{e}");
        assert!(e.to_string().contains("undecided: timeout"), "{e}");
        let u = unit(&spec, &result, 0, 1, "x".into(), Checker::Smt, true).unwrap();
        assert_eq!(u.proof, Proof::Unchecked);
        let e = unit(&spec, &result, 0, 2, "x".into(), Checker::Smt, false).unwrap_err();
        assert_eq!(
            e,
            PickError::NotEnoughPrograms {
                rank: 2,
                have: 2,
                request: 0,
                placement: 0
            }
        );
        assert!(e.to_string().contains("ranks 0..1"), "{e}");
        let e = unit(&spec, &result, 5, 0, "x".into(), Checker::Smt, false).unwrap_err();
        assert!(matches!(
            e,
            PickError::NoSuchRequest {
                request: 5,
                count: 2
            }
        ));
    }
}
