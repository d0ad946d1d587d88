//! Snapshots of the SMT-LIB2 queries of the standard programs, so that an encoding
//! change shows up in review; and each dump, handed back to z3 as text, answers
//! unsat for the correct programs and sat for the mutant.

mod support;

use collsynth::program::parse_program;
use collsynth::verify;
use support::verify::{standard_problem, STANDARD};

fn dump(text: &str) -> String {
    let (spec, placement) = standard_problem();
    let p = parse_program(&spec, text).unwrap();
    verify::smt2(&spec, &placement, &[0], &p)
}

fn z3_answer(query: &str) -> z3::SatResult {
    let s = z3::Solver::new();
    s.from_string(query);
    s.check()
}

#[test]
fn standard_program_dumps() {
    for (i, text) in STANDARD.iter().enumerate() {
        let q = dump(text);
        insta::assert_snapshot!(format!("standard_{i}"), q, text);
        let want = if i == 3 {
            z3::SatResult::Sat
        } else {
            z3::SatResult::Unsat
        };
        assert_eq!(z3_answer(&q), want, "{text}");
    }
}
