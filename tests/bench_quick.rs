//! `collsynth bench --suite quick --json` as a smoke test: the JSON's structure and
//! the facts that must hold whatever the machine (nothing about time): every best
//! program at least its lower bound, both engines equally good where both finished,
//! counts that add up, every printed program proven.

mod support;

use serde_json::Value;

fn num(v: &Value, what: &str) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"))
}

fn count(v: &Value, what: &str) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{what} is not a count: {v}"))
}

#[test]
fn quick_suite_json_holds_its_invariants() {
    let out = support::cli::run(&["bench", "--suite", "quick", "--json"], None);
    let stdout = support::cli::success(&out);
    let doc: Value = serde_json::from_str(&stdout).expect("bench --json is JSON");
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["suite"], "quick");
    assert!(count(&doc["machine"]["nproc"], "nproc") >= 1);
    let problems = doc["problems"].as_array().expect("problems");
    let names: Vec<&str> = problems.iter().filter_map(|p| p["name"].as_str()).collect();
    for want in ["embedded default", "gen-2l-64-1ax", "gen-2l-64-2ax"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }

    let (mut flat_cases, mut flat_wins, mut compared, mut agree) = (0, 0, 0, 0);
    for p in problems {
        let name = p["name"].as_str().expect("name");
        let requests = count(&p["requests"], "requests");
        let placements = count(&p["placements"], "placements");

        // Best programs are never better than the lower bound.
        let ratios = p["bound_ratios"].as_array().expect("bound_ratios");
        assert_eq!(ratios.len() as u64, requests, "{name}");
        for r in ratios {
            assert!(num(r, "bound ratio") >= 1.0 - 1e-9, "{name}: ratio {r} < 1");
        }

        // Both engines: equally good wherever both finished.
        let eg = &p["engines"]["egraph"];
        let en = &p["engines"]["enumerate"];
        assert_eq!(eg["finished"], true, "{name}: the e-graph saturates");
        for e in [eg, en] {
            assert!(num(&e["wall_s"], "wall") > 0.0 && num(&e["engine_s"], "engine") > 0.0);
            // Pricing at the best chunk count is timed apart from the engine.
            let pipeline = num(&e["pipeline_s"], "pipeline");
            assert!(
                pipeline >= 0.0 && pipeline < num(&e["wall_s"], "wall"),
                "{name}"
            );
            assert!(count(&e["reps"], "reps") >= 1);
            assert!(!e["stops"].as_array().expect("stops").is_empty(), "{name}");
        }
        let both = en["finished"] == true;
        assert_eq!(p["engine_ratio"].is_null(), !both, "{name}");
        if both {
            compared += 1;
            let (a, b) = (
                num(&eg["best_score_s"], "score"),
                num(&en["best_score_s"], "score"),
            );
            assert!(
                (a - b).abs() <= 1e-9 * a.max(b),
                "{name}: e-graph best {a} s, enumeration best {b} s"
            );
            assert_eq!(p["engines_agree"], true, "{name}");
            agree += 1;
        } else {
            assert!(p["engines_agree"].is_null(), "{name}");
        }
        for g in p["egraphs"].as_array().expect("egraphs") {
            assert_eq!(g["stop_reason"], "saturated", "{name}");
            assert!(count(&g["nodes"], "nodes") >= count(&g["classes"], "classes"));
        }

        // Candidates: every printed program checked, all proven.
        let c = &p["candidates"];
        let found = count(&c["found"], "found");
        let proven = count(&c["proven"], "proven");
        assert_eq!(count(&c["refuted"], "refuted"), 0, "{name}");
        assert_eq!(count(&c["unknown"], "unknown"), 0, "{name}");
        assert_eq!(found, proven, "{name}");
        assert!(found >= requests, "{name}: a program per request at least");
        let proofs = &p["proofs"];
        assert_eq!(
            count(&proofs["run"], "run") + count(&proofs["reused"], "reused"),
            found,
            "{name}: every printed program proven or its verdict reused"
        );
        assert!(num(&proofs["median_s"], "median") <= num(&proofs["max_s"], "max"));

        // Pruning: in a `best` run every placement is synthesized or pruned.
        let pr = &p["pruning"];
        assert_eq!(
            count(&pr["synthesized"], "synthesized") + count(&pr["pruned"], "pruned"),
            placements,
            "{name}"
        );

        // Every placement × request.
        let all = &p["all_placements"];
        assert_eq!(
            count(&all["placements"], "placements"),
            placements,
            "{name}"
        );
        let cases = count(&all["cases"], "cases");
        let wins = count(&all["wins"], "wins");
        assert_eq!(cases, placements * requests, "{name}");
        assert!(wins <= cases, "{name}");
        let (mean, max) = (
            num(&all["mean_speedup"], "mean"),
            num(&all["max_speedup"], "max"),
        );
        // The flat all_reduce is one of the programs synthesis considers.
        assert!(mean >= 1.0 - 1e-9 && max >= mean - 1e-12, "{name}");
        assert!(
            num(&all["placement_ratio"], "placement ratio") >= 1.0,
            "{name}"
        );
        flat_cases += cases;
        flat_wins += wins;

        assert!(count(&p["memory"]["peak_rss_bytes"], "peak") > 0, "{name}");
    }

    let s = &doc["summary"];
    assert_eq!(count(&s["problems"], "problems"), problems.len() as u64);
    assert_eq!(count(&s["flat_cases"], "flat cases"), flat_cases);
    assert_eq!(count(&s["flat_wins"], "flat wins"), flat_wins);
    assert_eq!(count(&s["engines_compared"], "compared"), compared);
    assert_eq!(count(&s["engines_agree"], "agree"), agree);
    assert_eq!(count(&s["unproven"], "unproven"), 0);
    assert!(
        compared >= 1,
        "at least one problem where enumeration finishes"
    );
}

/// `bench --print-spec NAME` writes a generated problem's spec, which `synth` reads
/// (how docs/benchmarks.md's figures are reproduced); an unknown name lists them.
#[test]
fn print_spec_gives_a_generated_problem_synth_reads() {
    let out = support::cli::run(&["bench", "--print-spec", "gen-2l-64-2ax"], None);
    let toml = support::cli::success(&out);
    assert!(toml.contains("name = \"gen-2l-64-2ax\""), "{toml}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen-2l-64-2ax.toml");
    std::fs::write(&path, &toml).unwrap();
    let out = support::cli::run(
        &["synth", path.to_str().unwrap(), "--top", "1", "--json"],
        None,
    );
    let doc: Value = serde_json::from_str(&support::cli::success(&out)).unwrap();
    assert_eq!(doc["requests"].as_array().unwrap().len(), 2);

    let out = support::cli::run(&["bench", "--print-spec", "gen-9l"], None);
    assert_eq!(support::cli::code(&out), 2);
    let err = support::cli::stderr(&out);
    assert!(
        err.contains("gen-9l") && err.contains("gen-5l-32768-4ax"),
        "{err}"
    );
}
