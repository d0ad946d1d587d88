//! `collsynth cost` end to end: the binary's text and JSON output, and its exit codes.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn spec(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("specs")
        .join(file)
        .display()
        .to_string()
}

/// Runs `collsynth cost` with the program on stdin.
fn cost(program: &str, args: &[&str]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_collsynth"))
        .arg("cost")
        .arg("-")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // A binary that rejects its arguments exits before reading stdin; the broken
    // pipe that leaves is not the test's concern (the exit code is).
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(program.as_bytes());
    child.wait_with_output().expect("the binary finishes")
}

const HIER: &str = "reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)";

#[test]
fn text_names_steps_bottlenecks_bound_and_flat() {
    let out = cost(HIER, &["--spec", &spec("dgx-a100-x2-dp16.toml")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
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
    let out = cost(HIER, &["--spec", &spec("dgx-a100-x2-dp16.toml"), "--json"]);
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
fn sweep_gives_one_row_per_power_of_four() {
    let out = cost(
        HIER,
        &[
            "--spec",
            &spec("dgx-a100-x2-dp16.toml"),
            "--sweep",
            "4KB..1MB",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["sweep"].as_array().expect("sweep");
    let sizes: Vec<u64> = rows.iter().map(|r| r["bytes"].as_u64().unwrap()).collect();
    assert_eq!(sizes, vec![4_000, 16_000, 64_000, 256_000]);
    assert!(rows
        .iter()
        .all(|r| r["flat_s"].is_number() && r["total_s"].is_number()));
    let text = cost(
        HIER,
        &[
            "--spec",
            &spec("dgx-a100-x2-dp16.toml"),
            "--sweep",
            "4KB..1MB",
        ],
    );
    assert_eq!(text.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(text.stdout)
            .unwrap()
            .matches(" KB ")
            .count(),
        4
    );
}

#[test]
fn bad_sizes_are_input_errors() {
    let s = spec("dgx-a100-x2-dp16.toml");
    for args in [
        vec!["--spec", s.as_str(), "--bytes", "0"],
        vec!["--spec", s.as_str(), "--bytes", "lots"],
        vec!["--spec", s.as_str(), "--sweep", "4GB..4KB"],
        vec![
            "--spec",
            s.as_str(),
            "--bytes",
            "1GB",
            "--sweep",
            "4KB..4GB",
        ],
    ] {
        let out = cost(HIER, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        assert!(!out.stderr.is_empty());
    }
}
