//! `collsynth synth` end to end: the ranked program lists of the small example specs
//! under snapshots, every program of `--json` re-run through the reference
//! interpreter, and the exit codes.

mod support;

use std::process::Output;

use collsynth::lowered::{Lowered, LoweredStep};
use collsynth::placement::Placement;
use collsynth::semantics;
use serde_json::Value;
use support::cli::success;

const SMALL_SPECS: &[&str] = &[
    "specs/default.toml",
    "specs/dgx-a100-x2-dp16.toml",
    "specs/dgx-a100-x2-dp8-mp2.toml",
    "specs/dgx-a100-x4-dp8-mp4.toml",
    "specs/dgx-h100-x4-training-step.toml",
    "specs/dgx1-v100-x4-dp32.toml",
    "specs/gcp-a2-highgpu-8g-x4-dp8-mp4.toml",
    "specs/gcp-a2-megagpu-16g-x2-dp32.toml",
    "specs/e2e/two-node-dp8.toml",
    "specs/e2e/two-node-dp4-mp2.toml",
    "specs/e2e/four-node-dp8-mp2.toml",
    "specs/e2e/three-level-dp4-mp2x2.toml",
];

/// Runs `collsynth synth` with `args` (from the repository root).
fn synth(args: &[&str]) -> Output {
    let mut all = vec!["synth"];
    all.extend(args);
    support::cli::run(&all, None)
}

#[test]
fn ranked_programs_of_the_small_example_specs() {
    for spec in SMALL_SPECS {
        let out = success(&synth(&[spec, "--placement", "all"]));
        let name = spec
            .trim_start_matches("specs/")
            .trim_end_matches(".toml")
            .replace('/', "-");
        insta::assert_snapshot!(format!("synth-{name}"), out);
    }
}

#[test]
fn every_json_program_passes_the_interpreter() {
    let mut checked = 0;
    for spec_path in SMALL_SPECS {
        let spec = support::load(spec_path);
        let doc: Value = serde_json::from_str(&success(&synth(&[
            spec_path,
            "--placement",
            "all",
            "--json",
        ])))
        .unwrap();
        assert_eq!(doc["schema_version"], 1);
        assert_eq!(
            doc["requests"].as_array().unwrap().len(),
            spec.requests.len()
        );
        let placements = doc["placements"].as_array().unwrap();
        assert_eq!(
            placements.iter().filter(|p| p["best"] == true).count(),
            1,
            "{spec_path}: exactly one best placement"
        );
        let scores: Vec<f64> = placements
            .iter()
            .map(|p| p["score_s"].as_f64().unwrap())
            .collect();
        assert!(
            scores.windows(2).all(|w| w[0] <= w[1]),
            "{spec_path}: ranked by score"
        );
        assert_eq!(placements[0]["best"], true);
        for p in placements {
            let matrix: Vec<Vec<u64>> = serde_json::from_value(p["matrix"].clone()).unwrap();
            let placement = Placement::new(&spec, matrix).unwrap();
            assert_eq!(
                p["coords"].as_array().unwrap().len() as u64,
                placement.devices()
            );
            let mut score = 0.0;
            for r in p["results"].as_array().unwrap() {
                let request = &spec.requests[r["request"].as_u64().unwrap() as usize];
                let programs = r["programs"].as_array().unwrap();
                assert!(!programs.is_empty());
                let costs: Vec<f64> = programs
                    .iter()
                    .map(|x| x["cost_s"].as_f64().unwrap())
                    .collect();
                assert!(costs.windows(2).all(|w| w[0] <= w[1]), "best first");
                assert!(costs[0] >= r["lower_bound_s"].as_f64().unwrap() * (1.0 - 1e-12));
                score += request.count as f64 * costs[0];
                for prog in programs {
                    assert_eq!(prog["verified"], true);
                    let steps: Vec<LoweredStep> =
                        serde_json::from_value(prog["steps"].clone()).unwrap();
                    let low = Lowered {
                        steps,
                        layout: vec![],
                    };
                    low.check(placement.devices(), "json").unwrap();
                    semantics::run(&spec, &placement, &request.axes, &low)
                        .unwrap_or_else(|c| panic!("{spec_path}: {}: {c}", prog["text"]));
                    checked += 1;
                }
            }
            let s = p["score_s"].as_f64().unwrap();
            assert!(
                (s - score).abs() <= 1e-12 * s,
                "{spec_path}: score_s is Σ count × best"
            );
        }
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn best_is_the_first_of_all() {
    let all: Value = serde_json::from_str(&success(&synth(&[
        "specs/dgx-h100-x4-training-step.toml",
        "--placement",
        "all",
        "--json",
    ])))
    .unwrap();
    let best: Value = serde_json::from_str(&success(&synth(&[
        "specs/dgx-h100-x4-training-step.toml",
        "--json",
    ])))
    .unwrap();
    assert_eq!(best["placements"].as_array().unwrap().len(), 1);
    assert_eq!(best["placements"][0], all["placements"][0]);
    let one: Value = serde_json::from_str(&success(&synth(&[
        "specs/dgx-h100-x4-training-step.toml",
        "--json",
        "--matrix",
        "1,8;4,1",
    ])))
    .unwrap();
    assert_eq!(
        one["placements"][0]["matrix"],
        serde_json::json!([[1, 8], [4, 1]])
    );
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        vec!["specs/default.toml", "--top", "0"],
        vec!["specs/default.toml", "--placement", "first"],
        vec!["specs/default.toml", "--placement", "99"],
        vec!["specs/default.toml", "--matrix", "8,1;4,1"],
        vec!["specs/default.toml", "--max-steps", "0"],
        vec!["specs/default.toml", "--rules", "no/such/file"],
    ] {
        let o = synth(&args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}",
            support::cli::stderr(&o)
        );
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn a_malformed_rules_file_names_its_line() {
    let dir = support::tempdir();
    let path = dir.path().join("rules");
    std::fs::write(
        &path,
        "# ok\nx: (all_reduce ?g ?s ?r) ==> (all_reduce ?g ?s ?r) if nope ?g\n",
    )
    .unwrap();
    let o = synth(&["specs/default.toml", "--rules", support::path(&path)]);
    assert_eq!(o.status.code(), Some(2));
    let err = support::cli::stderr(&o);
    assert!(
        err.contains(":2:") && err.contains("unknown relation `nope`"),
        "{err}"
    );
}

#[test]
fn an_unsound_rule_is_an_internal_inconsistency() {
    // reduce_scatter split in either order (only one order keeps chunk positions).
    let dir = support::tempdir();
    let path = dir.path().join("rules");
    std::fs::write(
        &path,
        "all-reduce-scatter-gather: (all_reduce ?g ?s ?r) ==> (seq (reduce_scatter ?g ?s ?r) (all_gather ?g ?sg ?r)) if union ?s ?g ?sg\n\
         rs-split-any: (reduce_scatter ?g ?s ?r) ==> (seq (reduce_scatter ?a ?s ?r) (reduce_scatter ?b ?sa ?r)) if split ?g ?a ?b, union ?s ?a ?sa\n\
         all-gather-split: (all_gather ?g ?s ?r) ==> (seq (all_gather ?b ?s ?r) (all_gather ?a ?sb ?r)) if split-ordered ?g ?a ?b, diff ?s ?b ?sb\n",
    )
    .unwrap();
    let o = synth(&[
        "specs/gcp-a2-megagpu-16g-x2-dp32.toml",
        "--rules",
        support::path(&path),
        "--top",
        "10",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", support::cli::stderr(&o));
    let err = support::cli::stderr(&o);
    assert!(
        err.contains("internal inconsistency") && err.contains("refuted"),
        "{err}"
    );
    let out = support::cli::stdout(&o);
    // The sound order is printed and proved; the refuted ones are named on stderr only.
    let sound =
        "reduce_scatter(vm:data) ; reduce_scatter(gpu:data) ; all_gather(gpu:data) ; all_gather(vm:data)";
    assert!(
        out.lines()
            .any(|l| l.contains("proved    ") && l.ends_with(sound)),
        "{out}"
    );
    let bad = "reduce_scatter(gpu:data) ; reduce_scatter(vm:data) ; all_gather(gpu:data) ; all_gather(vm:data)";
    assert!(!out.contains(bad) && err.contains(bad), "{err}");
    assert!(out.contains("2 refuted"));
}

#[test]
fn engines_print_the_same_best_programs() {
    for spec in [
        "specs/dgx-a100-x2-dp8-mp2.toml",
        "specs/e2e/three-level-dp4-mp2x2.toml",
    ] {
        let best = |engine: &str| -> Vec<(String, String)> {
            let doc: Value = serde_json::from_str(&success(&synth(&[
                spec,
                "--placement",
                "all",
                "--json",
                "--top",
                "1",
                "--engine",
                engine,
            ])))
            .unwrap();
            doc["placements"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|p| {
                    p["results"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| {
                            (
                                r["programs"][0]["text"].to_string(),
                                r["programs"][0]["cost_s"].to_string(),
                            )
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        assert_eq!(best("egraph"), best("enumerate"), "{spec}");
    }
}

/// `stats.proofs_carried` and the programs' `proved_on_placement` of `synth --json`.
fn carried(args: &[&str]) -> (u64, usize) {
    let mut all = vec!["--json", "--placement", "all"];
    all.extend(args);
    let v: Value = serde_json::from_str(&success(&synth(&all))).unwrap();
    let on: usize = v["placements"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["results"].as_array().unwrap())
        .flat_map(|r| r["programs"].as_array().unwrap())
        .filter(|p| {
            let q = &p["proved_on_placement"];
            assert!(q.is_null() || p["verified"] == true, "{p}");
            !q.is_null()
        })
        .count();
    (v["stats"]["proofs_carried"].as_u64().unwrap(), on)
}

/// A proof carries to other sizes only where proofs/README.md's Theorem R holds: the
/// e-graph engine with the shipped rules. Enumeration and any other rules file are
/// proved size by size.
#[test]
fn proofs_carry_across_sizes_only_for_derived_programs() {
    let spec = "specs/dgx-a100-x4-dp8-mp4.toml";
    let (n, on) = carried(&[spec]);
    assert!(
        n > 0 && n as usize == on,
        "{n} carried, {on} programs say so"
    );
    assert_eq!(carried(&[spec, "--engine", "enumerate"]), (0, 0));
    // The shipped rules under another name still carry; a subset does not.
    let dir = support::tempdir();
    let shipped = std::fs::read_to_string(support::root().join("grammar/rules")).unwrap();
    let same = dir.path().join("same");
    std::fs::write(&same, &shipped).unwrap();
    assert!(carried(&[spec, "--rules", support::path(&same)]).0 > 0);
    let fewer = dir.path().join("fewer");
    let first_rule = shipped
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .unwrap();
    std::fs::write(&fewer, shipped.replacen(first_rule, "", 1)).unwrap();
    assert_eq!(carried(&[spec, "--rules", support::path(&fewer)]), (0, 0));
}
