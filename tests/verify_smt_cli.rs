//! `collsynth verify` with the proof: exit codes, `decided_by`, `--dump-smt`, and the
//! interpreter fallback for lowered programs that are not dim-structured.

mod support;

use support::cli::{parts, run};
use support::{tempdir, write};

#[test]
fn proof_is_the_default_and_both_agree() {
    let dir = tempdir();
    let good = write(
        dir.path(),
        "good.txt",
        "reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)",
    );
    let bad = write(
        dir.path(),
        "bad.txt",
        "reduce_scatter(gpu:data) ; all_reduce(node:data)",
    );
    let (code, out, _) = parts(&run(
        &["verify", &good, "--matrix", "2,4;2,2", "--json"],
        None,
    ));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"decided_by\": \"smt\""), "{out}");
    let (code, out, _) = parts(&run(
        &[
            "verify", &bad, "--matrix", "2,4;2,2", "--by", "both", "--json",
        ],
        None,
    ));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("\"decided_by\": \"smt+interpreter\""), "{out}");
    assert!(out.contains("\"kind\": \"missing\""), "{out}");
    let (code, out, _) = parts(&run(
        &[
            "verify",
            &good,
            "--matrix",
            "2,4;2,2",
            "--by",
            "interpreter",
        ],
        None,
    ));
    assert_eq!(code, 0);
    assert!(out.contains("decided by: interpreter"), "{out}");
}

#[test]
fn dump_smt_writes_the_query() {
    let dir = tempdir();
    let good = write(dir.path(), "good.txt", "all_reduce(node:data, gpu:data)");
    let q = dir.path().join("q.smt2");
    let (code, _, _) = parts(&run(
        &[
            "verify",
            &good,
            "--matrix",
            "2,4;2,2",
            "--dump-smt",
            q.to_str().unwrap(),
        ],
        None,
    ));
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(&q).unwrap();
    assert!(
        text.contains("(declare-const x.gpu.data (_ BitVec 3))"),
        "{text}"
    );
    assert!(text.ends_with("(check-sat)\n"));
}

#[test]
fn lowered_programs_without_a_group_form_go_to_the_interpreter() {
    let dir = tempdir();
    // Pairs (0,1), (2,3), ... over 32 devices, then (0,2), ...: not dim-structured on
    // matrix 2,4;2,2 where rank bit 0 is gpu:model.
    let groups: Vec<Vec<u64>> = (0..16).map(|i| vec![2 * i, 2 * i + 1]).collect();
    let json = serde_json::json!({
        "schema_version": 1,
        "matrix": [[2, 4], [2, 2]],
        "steps": [{"collective": "all_reduce", "groups": [[0, 5], [1, 4]]}, {"collective": "all_reduce", "groups": groups}]
    });
    let p = write(dir.path(), "low.json", &json.to_string());
    let (code, out, err) = parts(&run(&["verify", &p, "--json"], None));
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("\"decided_by\": \"interpreter\""), "{out}");
    assert!(err.contains("not dim-structured"), "{err}");
}

/// z3's resource limit is deterministic, so the test knows the answer: a limit of 1
/// cannot decide anything (exit 3, "undecided"), and --json says "unknown"; with no
/// limit the same six-step program is decided: refuted, since it also reduces
/// `model`, which the embedded default's request does not ask for.
#[test]
fn an_exhausted_solver_budget_exits_3_and_says_why() {
    let dir = tempdir();
    let prog = write(
        dir.path(),
        "six-steps.txt",
        "reduce_scatter(gpu:data) ; reduce_scatter(gpu:model) ; all_reduce(node:data) ; all_reduce(node:model) ; all_gather(gpu:model) ; all_gather(gpu:data)",
    );
    let args = ["verify", prog.as_str(), "--matrix", "2,4;2,2"];
    let with = |extra: &[&str]| parts(&run(&[&args[..], extra].concat(), None));
    let (code, out, err) = with(&["--smt-rlimit", "1"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("undecided") && err.contains("resource limit 1"),
        "{err}"
    );
    assert!(out.is_empty(), "{out}");
    let (code, out, _) = with(&["--smt-rlimit", "1", "--json"]);
    assert_eq!(code, 3);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(doc["verdict"], "unknown");
    assert_eq!(doc["decided_by"], "smt");
    let (code, out, err) = with(&[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with("refuted:"), "{out}");
}

/// The default proof decides reduce_scatter and all_gather requests (exit 0 / 1, not
/// undecided), agrees with the interpreter under `--by both`, and `--dump-smt` writes
/// the sharded query.
#[test]
fn the_proof_decides_sharded_requests() {
    let spec = support::root().join("specs/dgx-h100-x4-fsdp.toml");
    let spec = spec.to_str().unwrap();
    let dir = tempdir();
    let cases = [
        (
            "0",
            "reduce_scatter(node:data) ; reduce_scatter(gpu:data)",
            0,
        ),
        (
            "0",
            "reduce_scatter(gpu:data) ; reduce_scatter(node:data)",
            1,
        ),
        ("1", "all_gather(gpu:data) ; all_gather(node:data)", 0),
        ("1", "all_gather(node:data) ; all_gather(gpu:data)", 1),
    ];
    for (i, (request, text, want)) in cases.iter().enumerate() {
        let prog = write(dir.path(), &format!("p{i}.txt"), text);
        for by in ["smt", "both"] {
            let (code, out, err) = parts(&run(
                &[
                    "verify",
                    &prog,
                    "-s",
                    spec,
                    "--request",
                    request,
                    "--by",
                    by,
                ],
                None,
            ));
            assert_eq!(code, *want, "{text} --by {by}: {out}{err}");
        }
    }
    let prog = write(
        dir.path(),
        "w.txt",
        "reduce_scatter(gpu:data) ; reduce_scatter(node:data)",
    );
    let q = dir.path().join("q.smt2");
    let (code, out, _) = parts(&run(
        &[
            "verify",
            &prog,
            "-s",
            spec,
            "--request",
            "0",
            "--dump-smt",
            q.to_str().unwrap(),
        ],
        None,
    ));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("wrong_shard: rank "), "{out}");
    assert!(out.contains("decided by: smt"), "{out}");
    let dump = std::fs::read_to_string(&q).unwrap();
    assert!(dump.contains("fault_end_wrong_shard"), "{dump}");
}
