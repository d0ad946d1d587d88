//! Unit tests of the encoding against the reference interpreter.

use super::*;
use crate::program::parse_program;

fn check(matrix: Vec<Vec<u64>>, text: &str, expect_ok: bool) {
    let spec = Spec::embedded_default();
    let placement = Placement::new(&spec, matrix).unwrap();
    let program = parse_program(&spec, text).unwrap();
    let lowered = lowered::lower(&placement, &program);
    let interp = semantics::run(&spec, &placement, &[0], &lowered);
    assert_eq!(
        interp.is_ok(),
        expect_ok,
        "interpreter on {text}: {interp:?}"
    );
    let v = prove(&spec, &placement, &[0], &program, &SmtOptions::default())
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    match (&v, expect_ok) {
        (Verdict::Proved, true) => {}
        (Verdict::Refuted(c), false) => {
            assert_eq!(c.step, interp.unwrap_err().step, "{text}: {c:?}");
        }
        _ => panic!("{text}: smt says {v:?}"),
    }
}

#[test]
fn standard_programs_prove_and_mutants_refute() {
    // default: node 4, gpu 8; data = 8, model = 4. data 2 x 4, model 2 x 2.
    let m = vec![vec![2, 4], vec![2, 2]];
    check(m.clone(), "all_reduce(node:data, gpu:data)", true);
    check(
        m.clone(),
        "all_reduce(gpu:data) ; all_reduce(node:data)",
        true,
    );
    check(
        m.clone(),
        "reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)",
        true,
    );
    check(
        m.clone(),
        "reduce(gpu:data) ; all_reduce(node:data) @ roots(gpu:data) ; broadcast(gpu:data)",
        true,
    );
    check(m.clone(), "all_reduce(gpu:data)", false);
    check(
        m.clone(),
        "all_reduce(gpu:data, gpu:model) ; all_reduce(node:data)",
        false,
    );
    check(
        m.clone(),
        "reduce_scatter(gpu:data) ; all_reduce(node:data)",
        false,
    );
    check(
        m.clone(),
        "reduce(gpu:data) ; all_reduce(node:data) ; broadcast(gpu:data)",
        false,
    );
    check(
        m.clone(),
        "all_reduce(gpu:data) ; all_reduce(gpu:data)",
        false,
    );
    check(
        m.clone(),
        "reduce_scatter(gpu:data) ; all_gather(node:data) ; all_gather(gpu:data)",
        false,
    );
    check(m, "all_reduce(node:data) ; reduce(gpu:data)", false);
}
