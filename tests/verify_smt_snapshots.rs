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

/// 2 nodes × 4 GPUs, data = 4 on the GPUs, pipe = 2 across the nodes (rank =
/// 4·pipe + data); a reduce_scatter and an all_gather over [data, pipe], whose
/// shard numbering is 2·data + pipe, not the rank order.
const SHARDED: &str = r#"axes = [ { name = "data", size = 4 }, { name = "pipe", size = 2 } ]
[system]
name = "2 x 4"
levels = [
  { name = "node", arity = 2, bandwidth = "100 GB/s", latency = "5 us" },
  { name = "gpu",  arity = 4, bandwidth = "235 GB/s", latency = "1 us" },
]
[[request]]
collective = "reduce_scatter"
axes = ["data", "pipe"]
bytes = "8 MB"
[[request]]
collective = "all_gather"
axes = ["data", "pipe"]
bytes = "8 MB"
"#;

/// The SMT refutation of `text` for request `r` of [`SHARDED`], as JSON.
fn sharded_refutation(r: usize, text: &str) -> String {
    use collsynth::placement::Placement;
    use collsynth::semantics::Goal;
    use collsynth::verdict::Verdict;
    let spec = support::spec::parse(SHARDED);
    let placement = Placement::new(&spec, vec![vec![1, 4], vec![2, 1]]).unwrap();
    let program = parse_program(&spec, text).unwrap();
    let goal = Goal::of(&spec.requests[r]);
    let v = verify::prove_goal(
        &spec,
        &placement,
        &goal,
        &program,
        &verify::SmtOptions::default(),
    )
    .unwrap();
    match v {
        Verdict::Refuted(c) => serde_json::to_string_pretty(&c).unwrap(),
        v => panic!("{text}: {v:?}"),
    }
}

#[test]
fn sharded_refutations() {
    // One reduce_scatter in rank order: every device ends with the chunk of its rank,
    // not of its shard number.
    insta::assert_snapshot!(
        "reduce_scatter_wrong_shard",
        sharded_refutation(0, "reduce_scatter(node:pipe, gpu:data)")
    );
    // Gathering in rank order: member 1 (rank 1) holds shard 2, not chunk 1.
    insta::assert_snapshot!(
        "all_gather_misaligned",
        sharded_refutation(1, "all_gather(node:pipe, gpu:data)")
    );
}
