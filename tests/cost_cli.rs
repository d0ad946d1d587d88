//! `collsynth cost` end to end: the binary's text and JSON output, and its exit codes.

mod support;

use std::process::Output;

use serde_json::Value;

/// The spec of every case, relative to the repository root (the binary runs there).
const SPEC: &str = "specs/dgx-a100-x2-dp16.toml";

/// Runs `collsynth cost` with the program on stdin.
fn cost(program: &str, args: &[&str]) -> Output {
    let mut all = vec!["cost", "-"];
    all.extend(args);
    support::cli::run(&all, Some(program))
}

const HIER: &str = "reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)";

#[test]
fn text_names_steps_bottlenecks_bound_and_flat() {
    let out = cost(HIER, &["--spec", SPEC]);
    let text = support::cli::success(&out);
    for needle in [
        "reduce_scatter",
        "node link",
        "gpu link",
        "bottleneck",
        "algbw",
        "busbw",
        "lower bound",
        "flat",
        "all_reduce(node:data, gpu:data)",
    ] {
        assert!(text.contains(needle), "no `{needle}` in:\n{text}");
    }
}

#[test]
fn json_has_the_design_keys() {
    let out = cost(HIER, &["--spec", SPEC, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["schema_version"], 1);
    for key in [
        "total_s",
        "algbw_gbs",
        "busbw_gbs",
        "lower_bound_s",
        "flat_s",
    ] {
        assert!(v[key].is_number(), "`{key}` missing in {v}");
    }
    let steps = v["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[0]["collective"], "reduce_scatter");
    assert_eq!(steps[0]["bottleneck"], "gpu");
    assert_eq!(steps[1]["bottleneck"], "node");
    assert!(steps[1]["time_s"].is_number());
    // The total is the sum of the steps.
    let sum: f64 = steps.iter().map(|s| s["time_s"].as_f64().unwrap()).sum();
    assert!((sum - v["total_s"].as_f64().unwrap()).abs() < 1e-12);
    // busbw = algbw · 2·15/16 for a 16-way all_reduce (nccl-tests).
    let (alg, bus) = (
        v["algbw_gbs"].as_f64().unwrap(),
        v["busbw_gbs"].as_f64().unwrap(),
    );
    assert!((bus - alg * 2.0 * 15.0 / 16.0).abs() < 1e-9);
}

#[test]
fn sweep_gives_one_row_per_power_of_four_and_ends_at_the_end() {
    let out = cost(HIER, &["--spec", SPEC, "--sweep", "4KB..1MB", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["sweep"].as_array().expect("sweep");
    let sizes: Vec<u64> = rows.iter().map(|r| r["bytes"].as_u64().unwrap()).collect();
    // Powers of four from 4 KB, then the end of the range itself.
    assert_eq!(sizes, vec![4_000, 16_000, 64_000, 256_000, 1_000_000]);
    assert!(rows
        .iter()
        .all(|r| r["flat_s"].is_number() && r["total_s"].is_number()));
    let text = cost(HIER, &["--spec", SPEC, "--sweep", "4KB..1MB"]);
    assert_eq!(text.status.code(), Some(0));
    assert_eq!(support::cli::stdout(&text).matches(" KB ").count(), 4);
    assert_eq!(support::cli::stdout(&text).matches(" MB ").count(), 1);
}

#[test]
fn bad_sizes_are_input_errors() {
    for args in [
        vec!["--spec", SPEC, "--bytes", "0"],
        vec!["--spec", SPEC, "--bytes", "lots"],
        vec!["--spec", SPEC, "--sweep", "4GB..4KB"],
        vec!["--spec", SPEC, "--bytes", "1GB", "--sweep", "4KB..4GB"],
    ] {
        let out = cost(HIER, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        assert!(!out.stderr.is_empty());
    }
}
