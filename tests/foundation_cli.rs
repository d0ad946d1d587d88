//! The binary: `placements` output for the example specs (snapshots; JSON coords
//! against the convention; coords omitted above 4,096 devices), and `verify` on text
//! and lowered-JSON programs, stdin, exit codes, JSON keys and input errors.

mod support;

use collsynth::lowered;
use collsynth::placement::{self, Placement};
use collsynth::program::parse_program;
use collsynth::semantics;
use collsynth::spec::Spec;
use serde_json::Value;
use support::cli::{run, stderr, stdout};
use support::sim::convention_coords;
use support::spec::SpecText;
use support::{flat_snapshot_names, tempdir, write};

/// The JSON placements, one compact line each (coords included), for a reviewable
/// snapshot; the exact pretty form is snapshotted for the embedded default.
fn compact(json: &Value) -> String {
    let mut s = format!("schema_version {}\n", json["schema_version"]);
    for p in json["placements"].as_array().unwrap() {
        s.push_str(&serde_json::to_string(p).unwrap());
        s.push('\n');
    }
    s
}

/// JSON placements agree with the library and with the convention.
fn check_json(spec: &Spec, json: &Value, with_coords: bool) {
    assert_eq!(json["schema_version"], 1);
    let all = placement::enumerate(spec);
    let ps = json["placements"].as_array().unwrap();
    assert_eq!(ps.len(), all.len());
    let arities: Vec<u64> = spec.system.levels.iter().map(|l| l.arity).collect();
    for (i, (p, m)) in ps.iter().zip(&all).enumerate() {
        assert_eq!(p["index"], i);
        assert_eq!(p["matrix"], serde_json::json!(m));
        let dims = Placement::from_valid_matrix(m.clone()).dim_names(spec);
        assert_eq!(p["dims"], serde_json::json!(dims));
        assert_eq!(p.get("coords").is_some(), with_coords);
        if let Some(c) = p.get("coords") {
            let c = c.as_array().unwrap();
            assert_eq!(c.len() as u64, spec.devices());
            for (r, x) in c.iter().enumerate() {
                assert_eq!(
                    *x,
                    serde_json::json!(convention_coords(&arities, m, r as u64))
                );
            }
        }
    }
}

#[test]
fn placements_of_the_example_specs() {
    let _g = flat_snapshot_names();
    for file in support::example_spec_files() {
        let file = support::path(&file);
        let spec = support::load(file);
        let name = file.trim_end_matches(".toml").replace('/', "_");
        // From the root with a relative path, so the output is machine-independent.
        let placements = |extra: &[&str]| {
            let mut args = vec!["placements", file];
            args.extend(extra);
            run(&args, None)
        };
        let text = placements(&[]);
        assert_eq!(text.status.code(), Some(0), "{file}: {}", stderr(&text));
        assert!(stderr(&text).is_empty(), "{file}: {}", stderr(&text));
        let out = stdout(&text);
        let n = placement::count(&spec);
        assert!(out.ends_with(&format!("\n{n} placements\n")), "{file}");
        insta::assert_snapshot!(format!("placements_{name}"), out);
        if spec.devices() <= 4096 {
            let json = placements(&["--json"]);
            assert_eq!(json.status.code(), Some(0));
            let v: Value = serde_json::from_str(&stdout(&json)).unwrap();
            check_json(&spec, &v, true);
            if spec.devices() <= 64 {
                insta::assert_snapshot!(format!("placements_json_{name}"), compact(&v));
            }
        }
    }
}

#[test]
fn placements_of_the_embedded_default() {
    let _g = flat_snapshot_names();
    let text = run(&["placements"], None);
    assert_eq!(text.status.code(), Some(0));
    assert!(
        stderr(&text).contains("embedded default"),
        "{}",
        stderr(&text)
    );
    insta::assert_snapshot!("placements_embedded_default", stdout(&text));
    let json = run(&["placements", "--json"], None);
    let v: Value = serde_json::from_str(&stdout(&json)).unwrap();
    check_json(&Spec::embedded_default(), &v, true);
    insta::assert_snapshot!("placements_json_embedded_default", stdout(&json));
    // The same placements as the spec file it is a copy of.
    let file = run(
        &["placements", "specs/dgx-a100-x4-dp8-mp4.toml", "--json"],
        None,
    );
    let w: Value = serde_json::from_str(&stdout(&file)).unwrap();
    assert_eq!(v, w);
}

#[test]
fn json_coords_only_up_to_4096_devices_unless_asked() {
    let dir = tempdir();
    // node × gpu devices, all on one data axis.
    let spec_file = |name: &str, nodes: u64, gpus: u64| {
        let text = SpecText::new()
            .levels(&[("node", nodes), ("gpu", gpus)])
            .axes(&[("data", nodes * gpus)])
            .toml();
        write(dir.path(), name, &text)
    };
    let at = spec_file("4096.toml", 2, 2048);
    let over = spec_file("4098.toml", 3, 1366);
    let json = |args: &[&str]| -> Value {
        let o = run(args, None);
        assert_eq!(o.status.code(), Some(0));
        serde_json::from_str(&stdout(&o)).unwrap()
    };
    let v = json(&["placements", &at, "--json"]);
    check_json(&Spec::load(std::path::Path::new(&at)).unwrap(), &v, true);
    let v = json(&["placements", &over, "--json"]);
    let over_spec = Spec::load(std::path::Path::new(&over)).unwrap();
    check_json(&over_spec, &v, false);
    let v = json(&["placements", "--spec", &over, "--json", "--coords"]);
    check_json(&over_spec, &v, true);
}

// ------------------------------------------------------------------ verify

const RAB: &str =
    "reduce(gpu:data) ; all_reduce(node:data) @ roots(gpu:data) ; broadcast(gpu:data)";

#[test]
fn verify_text_programs_exit_codes_and_json() {
    let _g = flat_snapshot_names();
    let dir = tempdir();
    let m = "2,4;2,2";
    let good = write(
        dir.path(),
        "good.txt",
        &format!("# P2's Reduce-AllReduce-Broadcast\n{RAB}\n"),
    );
    let o = run(&["verify", &good, "--matrix", m], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!("verify_text_proved", stdout(&o));
    let o = run(&["verify", &good, "--matrix", m, "--json"], None);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["verdict"], "proved");
    assert_eq!(v["decided_by"], "smt");
    assert!(v.get("counterexample").is_none());

    // Broadcast dropped: refuted, and the JSON counterexample is the interpreter's.
    let bad_text = "reduce(gpu:data) ; all_reduce(node:data) @ roots(gpu:data)";
    let bad = write(dir.path(), "bad.txt", bad_text);
    let o = run(&["verify", &bad, "--matrix", m], None);
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!("verify_text_refuted", stdout(&o));
    let o = run(&["verify", &bad, "--matrix", m, "--json"], None);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["verdict"], "refuted");
    let s = Spec::embedded_default();
    let p = Placement::new(&s, vec![vec![2, 4], vec![2, 2]]).unwrap();
    let c = semantics::run(
        &s,
        &p,
        &[0],
        &lowered::lower(&p, &parse_program(&s, bad_text).unwrap()),
    )
    .unwrap_err();
    let cx = &v["counterexample"];
    for key in ["kind", "step", "rank", "coords", "message"] {
        assert!(cx.get(key).is_some(), "counterexample lacks `{key}`: {cx}");
    }
    // The same fault as the interpreter's first; which device z3's model names is
    // its choice (every non-root of a node holds nothing valid), confirmed by the
    // probe: a device whose gpu:data digit (its data coordinate mod 4) is not the
    // root's 0, named in the sentence.
    assert_eq!(cx["kind"], c.kind.to_string());
    assert_eq!(cx["step"], serde_json::json!(c.step));
    let rank = cx["rank"].as_u64().unwrap();
    assert_ne!(cx["coords"][0].as_u64().unwrap() % 4, 0, "a root: {cx}");
    let msg = cx["message"].as_str().unwrap();
    assert!(msg.contains(&format!("rank {rank} (")), "{msg}");
    assert!(msg.contains("holds nothing valid"), "{msg}");

    // stdin, with the placement by index.
    let index = placement::enumerate(&s)
        .iter()
        .position(|x| *x == p.matrix)
        .unwrap()
        .to_string();
    let o = run(&["verify", "-", "--placement", &index], Some(RAB));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(&["verify", "-", "--placement", &index], Some(bad_text));
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn verify_lowered_json_programs() {
    let dir = tempdir();
    let s = Spec::embedded_default();
    let p = Placement::new(&s, vec![vec![2, 4], vec![2, 2]]).unwrap();
    let prog = parse_program(&s, RAB).unwrap();
    let doc = lowered::lower(&p, &prog).to_json(&s, &p, &s.requests[0]);
    let file = write(
        dir.path(),
        "p.json",
        &serde_json::to_string_pretty(&doc).unwrap(),
    );
    // The matrix comes from the document.
    let o = run(&["verify", &file, "--json"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["verdict"], "proved");
    assert_eq!(v["dim_structured"], true);
    assert_eq!(v["program"], RAB);
    // Groups that are no group form: decided by the interpreter, and it says so.
    let mut odd = doc.clone();
    odd.steps.push(collsynth::lowered::LoweredStep {
        collective: collsynth::program::Collective::Broadcast,
        groups: vec![vec![0, 5]],
        tree: false,
    });
    let file = write(
        dir.path(),
        "odd.json",
        &serde_json::to_string(&odd).unwrap(),
    );
    let o = run(&["verify", &file], None);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("not dim-structured"), "{}", stdout(&o));
    let o = run(&["verify", &file, "--json"], None);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["dim_structured"], false);
    // Rank 5 (model = 1) now holds rank 0's sum over the model = 0 data group.
    assert_eq!(v["counterexample"]["kind"], "extra");
    assert_eq!(v["counterexample"]["rank"], 5);
    assert_eq!(v["counterexample"]["step"], Value::Null);
    // Without a matrix, the embedded default has several placements: input error.
    let mut bare = doc.clone();
    bare.matrix = None;
    let file = write(
        dir.path(),
        "bare.json",
        &serde_json::to_string(&bare).unwrap(),
    );
    let o = run(&["verify", &file], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--placement"), "{}", stderr(&o));
    // From stdin too.
    let o = run(
        &["verify", "-"],
        Some(&serde_json::to_string(&doc).unwrap()),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn verify_input_errors() {
    let _g = flat_snapshot_names();
    let dir = tempdir();
    let root = dir.path().display().to_string();
    let err = |args: &[&str], stdin: Option<&str>| {
        let o = run(args, stdin);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty());
        stderr(&o).replace(&root, "[TMP]")
    };
    let f = write(
        dir.path(),
        "p.txt",
        "all_reduce(gpu:data) ;\n  all_reduce(node:data",
    );
    let e = err(&["verify", &f, "--matrix", "2,4;2,2"], None);
    assert!(e.contains("[TMP]/p.txt:2:23:"), "{e}");
    insta::assert_snapshot!("verify_error_parse", e);
    let e = err(
        &["verify", "-", "--matrix", "2,4;2,2"],
        Some("all_reduce(gpu:data) @ roots(gpu:data)"),
    );
    assert!(e.contains("<stdin>:1:30:"), "{e}");
    // A dim that is not a dim of the chosen placement.
    let f = write(dir.path(), "q.txt", "all_reduce(node:model)");
    let e = err(&["verify", &f, "--matrix", "4,2;1,4"], None);
    assert!(e.contains("[TMP]/q.txt:1:12:"), "{e}");
    insta::assert_snapshot!("verify_error_not_a_dim", e);
    // Several placements fit and none is chosen: they are listed.
    let f = write(dir.path(), "r.txt", "all_reduce(node:data, gpu:data)");
    let e = err(&["verify", &f], None);
    let s = Spec::embedded_default();
    let fits: Vec<usize> = placement::enumerate(&s)
        .into_iter()
        .enumerate()
        .filter(|(_, m)| m[0][0] > 1 && m[0][1] > 1)
        .map(|(i, _)| i)
        .collect();
    assert!(fits.len() > 1);
    for i in &fits {
        assert!(e.contains(&format!("--placement {i} ")), "{e}");
    }
    insta::assert_snapshot!("verify_error_several_placements", e);
    // Missing program file; bad lowered JSON; bad ranks; bad --matrix.
    let e = err(&["verify", &format!("{root}/absent.txt")], None);
    assert!(e.contains("[TMP]/absent.txt"), "{e}");
    let f = write(dir.path(), "j.json", "{\"schema_version\": 1,\n \"steps\": [{\"collective\": \"all_reduce\", \"groups\": [[0, 1]], \"x\": 1}]}");
    let e = err(&["verify", &f, "--placement", "0"], None);
    assert!(e.contains("[TMP]/j.json:2:"), "{e}");
    let f = write(dir.path(), "k.json", "{\"schema_version\": 1, \"steps\": [{\"collective\": \"all_reduce\", \"groups\": [[0, 99]]}]}");
    let e = err(&["verify", &f, "--placement", "0"], None);
    assert!(e.contains("rank 99"), "{e}");
    let e = err(
        &[
            "verify",
            "-",
            "--matrix",
            "18446744073709551615,18446744073709551615;1,1",
        ],
        Some(RAB),
    );
    assert!(e.contains("--matrix"), "{e}");
    let e = err(&["verify", "-", "--placement", "999"], Some(RAB));
    assert!(e.contains("placements"), "{e}");
}
