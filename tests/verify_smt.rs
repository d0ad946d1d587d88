//! SAT/UNSAT pairs: every standard program and every one of its mutants gets the same
//! verdict from z3 as from the reference interpreter, on 2- and 3-level placements.

mod support;

use collsynth::placement::Placement;
use collsynth::program::parse_program;
use collsynth::verdict::Verdict;
use collsynth::verify::{self, SmtOptions};
use support::verify::{agree, mutants, problem_spec, standard_problem, STANDARD};

fn pairs(levels: &[&str], axes: &[&str], matrix: Vec<Vec<u64>>, expect: [bool; 5]) {
    let spec = problem_spec(levels, axes, &matrix, &[0]);
    let placement = Placement::new(&spec, matrix).unwrap();
    let (mut proved, mut refuted) = (0, 0);
    for (text, want) in STANDARD.iter().zip(expect) {
        let p = parse_program(&spec, text).unwrap();
        assert_eq!(agree(&spec, &placement, &[0], &p), want, "{text}");
        for q in mutants(&p, &placement) {
            if agree(&spec, &placement, &[0], &q) {
                proved += 1;
            } else {
                refuted += 1;
            }
        }
    }
    // Both answers occur among the mutants: the pairs have a sat and an unsat side.
    assert!(refuted > 20, "{refuted} refuted mutants");
    if expect.contains(&true) {
        assert!(proved > 0, "{proved} proved mutants");
    }
}

#[test]
fn two_levels_data_split_over_both() {
    pairs(
        &["node", "gpu"],
        &["data", "model"],
        vec![vec![2, 4], vec![2, 2]],
        [true, true, true, false, true],
    );
}

#[test]
fn two_levels_size_a_power_of_two_needs_the_extra_bit() {
    // node:data = 4 and gpu:data = 8 digits: a bound `x < 4` at 2 bits would wrap.
    pairs(
        &["node", "gpu"],
        &["data", "model"],
        vec![vec![4, 8], vec![1, 1]],
        [true, true, true, false, true],
    );
}

#[test]
fn three_levels_with_a_model_dim_at_each_level() {
    pairs(
        &["rack", "node", "gpu"],
        &["data", "model"],
        vec![vec![1, 2, 3], vec![2, 2, 2]],
        [true, true, true, false, true],
    );
}

#[test]
fn three_levels_with_an_unnamed_requested_dim() {
    // rack:data is requested but no standard program reduces over it: all refuted.
    pairs(
        &["rack", "node", "gpu"],
        &["data", "model"],
        vec![vec![2, 2, 2], vec![1, 1, 2]],
        [false, false, false, false, false],
    );
}

#[test]
fn refutations_name_a_device_a_part_and_a_source() {
    let (spec, placement) = standard_problem();
    let p = parse_program(
        &spec,
        "reduce_scatter(gpu:data) ; all_reduce(node:data, node:model) ; all_gather(gpu:data)",
    )
    .unwrap();
    match verify::prove(&spec, &placement, &[0], &p, &SmtOptions::default()) {
        Ok(Verdict::Refuted(c)) => {
            assert_eq!(c.kind.to_string(), "extra");
            assert_eq!(c.step, None);
            let s = c.source.expect("a source");
            // The extra source differs from the device on the model axis.
            assert_ne!(placement.coords(s)[1], c.coords[1], "{c:?}");
            assert!(c.part.is_some());
        }
        v => panic!("{v:?}"),
    }
}

/// z3's resource limit is deterministic: a limit of 1 cannot prove anything, so the
/// answer is "unknown", never "proved", on any machine.
#[test]
fn an_exhausted_budget_is_never_a_proof() {
    let (spec, placement) = standard_problem();
    let p = parse_program(&spec, STANDARD[4]).unwrap();
    let opts = SmtOptions {
        rlimit: Some(1),
        ..SmtOptions::default()
    };
    match verify::prove(&spec, &placement, &[0], &p, &opts) {
        Ok(Verdict::Unknown(r)) => {
            assert!(r.contains("could not decide"), "{r}");
            assert!(r.contains("resource limit 1"), "{r}");
        }
        v => panic!("{v:?}"),
    }
    // The same query with the default budgets is proved.
    assert_eq!(
        verify::prove(&spec, &placement, &[0], &p, &SmtOptions::default()),
        Ok(Verdict::Proved)
    );
}

#[test]
fn proofs_run_in_parallel_threads() {
    let handles: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let (spec, placement) = standard_problem();
                let p = parse_program(&spec, STANDARD[i % 5]).unwrap();
                matches!(
                    verify::prove(&spec, &placement, &[0], &p, &SmtOptions::default()),
                    Ok(Verdict::Proved)
                )
            })
        })
        .collect();
    let got: Vec<bool> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, vec![true, true, true, false]);
}
