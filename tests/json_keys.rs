//! Every `--json` document against `docs/design.md` §5.5 ("JSON outputs"): the tables
//! below are that section's key lists, document by document and nested object by
//! nested object, in its order. Each command runs as the binary does for a user (in a
//! temporary directory; nothing is written into the source tree), and every key §5.5
//! names must be in the output, in §5.5's order (the order is fixed). Keys the output
//! has beyond these are allowed ("keys may be added"). A key marked `?` (§5.5's
//! `part?`) may be absent from an object, but must be in one of the run's objects.
//!
//! Paths: `""` is the document; `a.b` is key `b` of object `a`; `a[]` is every element
//! of array `a`. `null` at a path (e.g. `all_placements` above 10,000 placements) is
//! skipped, but each path must reach at least one object, so no list is vacuous.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value};

/// One object's keys as §5.5 lists them.
type Keys<'a> = (&'a str, &'a [&'a str]);

/// `placements --json`.
const PLACEMENTS: &[Keys] = &[
    ("", &["schema_version", "placements"]),
    (
        "placements[]",
        &["index", "matrix", "dims", "rank_order", "coords"],
    ),
];

/// `synth --json`.
const SYNTH: &[Keys] = &[
    (
        "",
        &[
            "schema_version",
            "requests",
            "placements",
            "engine",
            "stats",
        ],
    ),
    (
        "requests[]",
        &["collective", "axes", "bytes", "count", "exposed"],
    ),
    (
        "placements[]",
        &[
            "index",
            "matrix",
            "score_s",
            "best",
            "dims",
            "rank_order",
            "coords",
            "results",
        ],
    ),
    (
        "placements[].results[]",
        &["request", "lower_bound_s", "flat_s", "nccl_s", "programs"],
    ),
    (
        "placements[].results[].programs[]",
        &["text", "chunks", "plain_s", "steps", "cost_s", "verified"],
    ),
    (
        "placements[].results[].programs[].steps[]",
        &["collective", "groups"],
    ),
    (
        "stats",
        &[
            "placements",
            "synthesized",
            "pruned",
            "pruned_because",
            "search",
            "nodes_visited",
            "subtrees_pruned",
            "shapes",
            "checker",
            "proved",
            "refuted",
            "unknown",
            "interpreted",
            "saturations",
        ],
    ),
    (
        "stats.saturations[]",
        &["dims", "stop_reason", "iterations", "nodes", "classes"],
    ),
];

/// `cost --json`'s problem keys (before the size keys).
const COST_HEAD: &[&str] = &[
    "schema_version",
    "program",
    "path",
    "placement",
    "matrix",
    "request",
    "levels",
    "flat_program",
    "flat_numbered",
    "busbw_factor",
];

/// `cost --json`'s keys for the costed size (under `sweep` with `--sweep`).
const COST_SIZE: &[&str] = &[
    "bytes",
    "total_s",
    "chunks",
    "plain_s",
    "best_chunks",
    "best_chunks_s",
    "algbw_gbs",
    "busbw_gbs",
    "lower_bound_s",
    "ratio_to_bound",
    "flat_s",
    "speedup_vs_flat",
    "nccl_s",
    "nccl_algorithm",
    "speedup_vs_nccl",
    "relayout_s",
    "steps",
];

/// A step of `cost --json`.
const COST_STEP: &[&str] = &[
    "collective",
    "time_s",
    "bottleneck",
    "bandwidth_s",
    "latency_s",
    "launch_s",
    "bytes_in",
    "bytes_per_level",
    "device_bytes_per_level",
];

/// The request of `cost --json` and `verify --json` (the lowered form's).
const REQUEST: &[&str] = &["collective", "axes", "bytes"];

/// `busbw_factor` of `cost --json`.
const BUSBW_FACTOR: &[&str] = &["collective", "n"];

/// `verify --json`, decided.
const VERIFY: &[&str] = &[
    "schema_version",
    "verdict",
    "decided_by",
    "dim_structured",
    "program",
    "chunks",
    "placement",
    "matrix",
    "request",
];

/// `counterexample` of a refuted `verify --json`.
const COUNTEREXAMPLE: &[&str] = &[
    "kind", "step", "rank", "coords", "part?", "source?", "message",
];

/// `verify --json`, undecided (exit 3).
const VERIFY_UNKNOWN: &[Keys] = &[(
    "",
    &[
        "schema_version",
        "verdict",
        "decided_by",
        "reason",
        "program",
        "placement",
    ],
)];

/// `prove --check --json`.
const PROVE: &[Keys] = &[
    (
        "",
        &[
            "schema_version",
            "directory",
            "ok",
            "rules",
            "checks",
            "time_s",
        ],
    ),
    (
        "rules[]",
        &[
            "rule",
            "file",
            "file_identical",
            "instances",
            "size_assignments",
            "checks",
            "beyond_file",
            "verdict",
            "counterexamples",
            "undecided",
            "covers",
            "time_s",
        ],
    ),
];

/// An engine of a `bench --json` problem.
const BENCH_ENGINE: &[&str] = &[
    "ran",
    "wall_s",
    "engine_s",
    "reps",
    "finished",
    "stops",
    "best_score_s",
    "best_placement",
];

/// `bench --json`.
const BENCH: &[Keys] = &[
    (
        "",
        &[
            "schema_version",
            "suite",
            "settings",
            "machine",
            "problems",
            "summary",
        ],
    ),
    (
        "settings",
        &[
            "top",
            "max_steps",
            "enum_budget",
            "enum_max_dims",
            "all_placements_up_to",
        ],
    ),
    ("machine", &["nproc", "cpu", "mem_bytes", "load"]),
    (
        "problems[]",
        &[
            "name",
            "devices",
            "levels",
            "axes",
            "requests",
            "placements",
            "engines",
            "engine_ratio",
            "wall_ratio",
            "engines_agree",
            "max_steps",
            "egraphs",
            "candidates",
            "proofs",
            "bound_ratios",
            "plain_bound_ratios",
            "chunks",
            "pruning",
            "all_placements",
            "memory",
        ],
    ),
    ("problems[].engines", &["egraph", "enumerate"]),
    ("problems[].engines.egraph", BENCH_ENGINE),
    ("problems[].engines.enumerate", BENCH_ENGINE),
    (
        "problems[].egraphs[]",
        &["dims", "nodes", "classes", "iterations", "stop_reason"],
    ),
    (
        "problems[].candidates",
        &["found", "proven", "refuted", "unknown"],
    ),
    ("problems[].proofs", &["run", "reused", "median_s", "max_s"]),
    ("problems[].pruning", &["synthesized", "pruned", "reason"]),
    (
        "problems[].all_placements",
        &[
            "placements",
            "cases",
            "wins",
            "win_share",
            "mean_speedup",
            "max_speedup",
            "placement_ratio",
            "wall_s",
            "proved",
        ],
    ),
    (
        "problems[].memory",
        &["peak_rss_bytes", "peak_rss_problem_bytes", "scope"],
    ),
    (
        "summary",
        &[
            "problems",
            "paper_scale_max_wall_s",
            "min_engine_ratio",
            "engines_compared",
            "engines_agree",
            "max_bound_ratio",
            "max_plain_bound_ratio",
            "flat_cases",
            "flat_wins",
            "flat_win_share",
            "flat_mean_speedup",
            "flat_max_speedup",
            "max_placement_ratio",
            "unproven",
        ],
    ),
];

/// `calibrate --json`.
const CALIBRATE: &[Keys] = &[
    (
        "",
        &[
            "schema_version",
            "template",
            "launch_s",
            "launch_fitted",
            "levels",
            "runs",
            "system_toml",
        ],
    ),
    ("levels[]", &["level", "key", "bandwidth_gbs", "latency_s"]),
    (
        "runs[]",
        &[
            "file",
            "level",
            "ranks",
            "collective",
            "rms_residual",
            "max_abs_residual",
            "points",
        ],
    ),
    (
        "runs[].points[]",
        &["line", "bytes", "measured_s", "model_s", "residual"],
    ),
];

/// `simulate --json`.
const SIMULATE: &[Keys] = &[
    (
        "",
        &[
            "schema_version",
            "spec",
            "placement",
            "matrix",
            "smpi_flags",
            "requests",
            "summary",
        ],
    ),
    ("requests[]", &["request", "bytes", "programs", "agreement"]),
    (
        "requests[].programs[]",
        &[
            "text",
            "synth_rank",
            "chunks",
            "predicted_s",
            "simulated_s",
            "ratio",
        ],
    ),
    (
        "requests[].agreement",
        &["kendall_tau", "concordant", "discordant", "tied", "top1"],
    ),
    (
        "summary",
        &["kendall_tau", "concordant", "discordant", "tied", "top1"],
    ),
];

/// `systems --json`.
const SYSTEMS: &[Keys] = &[
    ("", &["schema_version", "systems"]),
    (
        "systems[]",
        &[
            "name",
            "aliases",
            "summary",
            "sized_by",
            "nodes_per_rack",
            "launch_s",
            "levels",
            "sources",
        ],
    ),
    (
        "systems[].levels[]",
        &[
            "name",
            "arity",
            "sized_by",
            "bandwidth_bps",
            "bandwidth_per_node_bps",
            "latency_s",
            "device_bandwidth_bps",
        ],
    ),
];

const HIER: &str = "reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)";

fn manifest(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(rel)
        .display()
        .to_string()
}

/// A temporary directory holding `program.txt` (the program given) to run in.
fn workdir(program: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let p = dir.path().join("program.txt");
    std::fs::write(&p, program).expect("the program is written");
    (dir, p)
}

/// Runs the binary in `dir`, expects exit `code`, and parses stdout as JSON.
fn run_json(dir: &Path, args: &[&str], code: i32) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_collsynth"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {stderr}"));
    let first = doc
        .as_object()
        .and_then(|m| m.iter().next())
        .map(|(k, v)| (k.as_str(), v.clone()));
    assert_eq!(
        first,
        Some(("schema_version", Value::from(1))),
        "{args:?}: a document starts with \"schema_version\": 1"
    );
    doc
}

/// Every object at `path` (see the module comment); `null`s are skipped.
fn objects_at<'a>(doc: &'a Value, path: &str) -> Vec<&'a Map<String, Value>> {
    let mut here = vec![doc];
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        let (key, each) = match seg.strip_suffix("[]") {
            Some(k) => (k, true),
            None => (seg, false),
        };
        here = here
            .into_iter()
            .filter_map(|v| v.get(key))
            .flat_map(|v| match (each, v) {
                (true, Value::Array(a)) => a.iter().collect(),
                (true, other) => panic!("{path}: `{key}` is not an array: {other}"),
                (false, v) => vec![v],
            })
            .collect();
    }
    here.into_iter()
        .filter(|v| !v.is_null())
        .map(|v| {
            v.as_object()
                .unwrap_or_else(|| panic!("{path}: not an object: {v}"))
        })
        .collect()
}

/// Checks one object list of §5.5 against the document: presence and order.
fn check_keys(what: &str, doc: &Value, path: &str, keys: &[&str]) {
    let objects = objects_at(doc, path);
    assert!(
        !objects.is_empty(),
        "{what}: no object at `{path}` to check ({keys:?})"
    );
    for key in keys {
        if let Some(k) = key.strip_suffix('?') {
            assert!(
                objects.iter().any(|o| o.contains_key(k)),
                "{what}: `{path}` never has the optional key `{k}`"
            );
        }
    }
    for o in &objects {
        let have: Vec<&str> = o.keys().map(String::as_str).collect();
        let mut at = 0;
        for key in keys {
            let (k, optional) = match key.strip_suffix('?') {
                Some(k) => (k, true),
                None => (*key, false),
            };
            match have.iter().position(|h| *h == k) {
                Some(i) => {
                    assert!(
                        i >= at,
                        "{what}: `{path}`: `{k}` comes before a key §5.5 lists before it; keys {have:?}"
                    );
                    at = i;
                }
                None => assert!(
                    optional,
                    "{what}: `{path}` lacks `{k}`, which §5.5 names; keys {have:?}"
                ),
            }
        }
    }
}

fn check(what: &str, doc: &Value, table: &[Keys<'_>]) {
    for (path, keys) in table {
        check_keys(what, doc, path, keys);
    }
}

/// `bytes_per_level` of every step maps each level name, in level order.
fn check_bytes_per_level(what: &str, doc: &Value, steps: &str) {
    let levels: Vec<&str> = doc["levels"]
        .as_array()
        .expect("levels")
        .iter()
        .map(|l| l.as_str().expect("a level name"))
        .collect();
    let steps = objects_at(doc, steps);
    assert!(!steps.is_empty(), "{what}: no steps to check");
    for s in steps {
        let names: Vec<&str> = s["bytes_per_level"]
            .as_object()
            .expect("bytes_per_level is an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(names, levels, "{what}: bytes_per_level names each level");
    }
}

#[test]
fn placements_json_has_the_documented_keys() {
    let (dir, _) = workdir("");
    let doc = run_json(dir.path(), &["placements", "--json"], 0);
    check("placements --json", &doc, PLACEMENTS);
}

#[test]
fn coords_are_present_up_to_4096_devices_or_with_the_flag() {
    // 8,192 devices: coordinates only with --coords.
    let (dir, _) = workdir("");
    let spec = dir.path().join("big.toml");
    std::fs::write(
        &spec,
        "axes = [ { name = \"data\", size = 8192 } ]\n\n[system]\nname = \"big\"\nlevels = [\n  \
         { name = \"node\", arity = 1024, bandwidth = \"100 GB/s\", latency = \"5 us\" },\n  \
         { name = \"gpu\", arity = 8, bandwidth = \"235 GB/s\", latency = \"1 us\" },\n]\n\n\
         [[request]]\ncollective = \"all_reduce\"\naxes = [\"data\"]\nbytes = \"1 MB\"\n",
    )
    .expect("the spec is written");
    let spec = spec.display().to_string();
    let without = run_json(dir.path(), &["placements", "--spec", &spec, "--json"], 0);
    let placements = objects_at(&without, "placements[]");
    assert!(!placements.is_empty());
    assert!(placements.iter().all(|p| !p.contains_key("coords")));
    let with = run_json(
        dir.path(),
        &["placements", "--spec", &spec, "--json", "--coords"],
        0,
    );
    check("placements --json --coords", &with, PLACEMENTS);
}

#[test]
fn synth_json_has_the_documented_keys() {
    let (dir, _) = workdir("");
    let doc = run_json(dir.path(), &["synth", "--json", "--placement", "all"], 0);
    check("synth --json", &doc, SYNTH);
}

#[test]
fn cost_json_has_the_documented_keys() {
    let (dir, prog) = workdir(HIER);
    let prog = prog.display().to_string();
    let doc = run_json(
        dir.path(),
        &["cost", &prog, "--placement", "2", "--json"],
        0,
    );
    let top: Vec<&str> = COST_HEAD.iter().chain(COST_SIZE).copied().collect();
    check(
        "cost --json",
        &doc,
        &[
            ("", &top),
            ("request", REQUEST),
            ("busbw_factor", BUSBW_FACTOR),
            ("steps[]", COST_STEP),
        ],
    );
    check_bytes_per_level("cost --json", &doc, "steps[]");
}

#[test]
fn cost_sweep_json_moves_the_size_keys_into_sweep() {
    let (dir, prog) = workdir(HIER);
    let prog = prog.display().to_string();
    let doc = run_json(
        dir.path(),
        &[
            "cost",
            &prog,
            "--placement",
            "2",
            "--sweep",
            "4KB..4GB",
            "--json",
        ],
        0,
    );
    let top: Vec<&str> = COST_HEAD.iter().copied().chain(["sweep"]).collect();
    check(
        "cost --sweep --json",
        &doc,
        &[
            ("", &top),
            ("request", REQUEST),
            ("busbw_factor", BUSBW_FACTOR),
            ("sweep[]", COST_SIZE),
            ("sweep[].steps[]", COST_STEP),
        ],
    );
    for k in COST_SIZE {
        assert!(doc.get(k).is_none(), "cost --sweep --json: `{k}` moved");
    }
    // A, 4A, 16A, ... < B, then B.
    let bytes: Vec<u64> = objects_at(&doc, "sweep[]")
        .iter()
        .map(|r| r["bytes"].as_u64().expect("bytes"))
        .collect();
    assert_eq!(bytes.first(), Some(&4_000), "{bytes:?}");
    let (last, powers) = bytes.split_last().expect("rows");
    assert!(powers.windows(2).all(|w| w[1] == 4 * w[0]), "{bytes:?}");
    assert_eq!(*last, 4_000_000_000, "{bytes:?}");
    check_bytes_per_level("cost --sweep --json", &doc, "sweep[].steps[]");
}

#[test]
fn verify_json_has_the_documented_keys() {
    let (dir, prog) = workdir(HIER);
    let prog = prog.display().to_string();
    let proved = run_json(
        dir.path(),
        &["verify", &prog, "--placement", "2", "--json"],
        0,
    );
    assert_eq!(proved["verdict"], "proved");
    check(
        "verify --json (proved)",
        &proved,
        &[("", VERIFY), ("request", REQUEST)],
    );
    assert!(proved.get("counterexample").is_none());

    let (dir, prog) = workdir("all_reduce(gpu:data)");
    let prog = prog.display().to_string();
    let refuted = run_json(
        dir.path(),
        &["verify", &prog, "--placement", "2", "--json"],
        1,
    );
    assert_eq!(refuted["verdict"], "refuted");
    let with_cex: Vec<&str> = VERIFY.iter().copied().chain(["counterexample"]).collect();
    check(
        "verify --json (refuted)",
        &refuted,
        &[
            ("", &with_cex),
            ("request", REQUEST),
            ("counterexample", COUNTEREXAMPLE),
        ],
    );
}

#[test]
fn undecided_verify_json_has_the_documented_keys() {
    let (dir, prog) = workdir(HIER);
    let prog = prog.display().to_string();
    let doc = run_json(
        dir.path(),
        &[
            "verify",
            &prog,
            "--placement",
            "2",
            "--json",
            "--smt-rlimit",
            "1",
        ],
        3,
    );
    assert_eq!(doc["verdict"], "unknown");
    check("verify --json (unknown)", &doc, VERIFY_UNKNOWN);
}

#[test]
fn prove_check_json_has_the_documented_keys() {
    // An rlimit of 1 leaves every check undecided (exit 3): the same document, fast.
    let (dir, _) = workdir("");
    let doc = run_json(
        dir.path(),
        &[
            "prove",
            "--check",
            &manifest("proofs"),
            "--json",
            "--smt-rlimit",
            "1",
        ],
        3,
    );
    check("prove --check --json", &doc, PROVE);
}

#[test]
fn bench_json_has_the_documented_keys() {
    let (dir, _) = workdir("");
    let doc = run_json(
        dir.path(),
        &[
            "bench",
            "--suite",
            "quick",
            "--json",
            "--specs-dir",
            &manifest("specs"),
        ],
        0,
    );
    check("bench --json", &doc, BENCH);
}

#[test]
fn calibrate_json_has_the_documented_keys() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let doc = run_json(
        dir.path(),
        &[
            "calibrate",
            "--system",
            &manifest("tests/data/nccl-tests/mi300x-node.toml"),
            "--run",
            &format!(
                "gpu={}",
                manifest("tests/data/nccl-tests/mi300x-8gpu-all_reduce.txt")
            ),
            "--json",
        ],
        0,
    );
    check("calibrate --json", &doc, CALIBRATE);
}

#[test]
fn simulate_json_has_the_documented_keys() {
    if support::e2e::require(
        "simulate_json_has_the_documented_keys",
        support::e2e::simgrid(),
    )
    .is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let doc = run_json(
        dir.path(),
        &[
            "simulate",
            &manifest("specs/e2e/two-node-dp4-mp2.toml"),
            "--bytes",
            "64KB",
            "--json",
        ],
        0,
    );
    check("simulate --json", &doc, SIMULATE);
}

/// The checker itself: a missing key, a key out of order, and a path that reaches
/// nothing all fail.
#[test]
fn the_check_fails_on_a_missing_or_misplaced_key() {
    let doc: Value =
        serde_json::from_str(r#"{"schema_version": 1, "a": [{"x": 1, "y": 2}]}"#).expect("JSON");
    check(
        "ok",
        &doc,
        &[("", &["schema_version", "a"]), ("a[]", &["x", "y"])],
    );
    for table in [
        &[("a[]", &["x", "z"][..])][..],
        &[("a[]", &["y", "x"][..])][..],
        &[("b[]", &["x"][..])][..],
        &[("a[]", &["x", "z?"][..])][..],
    ] {
        let r = std::panic::catch_unwind(|| check("bad", &doc, table));
        assert!(r.is_err(), "{table:?} should fail");
    }
}

#[test]
fn systems_json_has_the_documented_keys() {
    let (dir, _) = workdir("");
    let doc = run_json(dir.path(), &["systems", "--json"], 0);
    check("systems --json", &doc, SYSTEMS);
}
