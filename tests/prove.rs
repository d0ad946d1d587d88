//! `collsynth prove`: every rewrite rule's obligation in proofs/ is what the rules
//! give, and z3 proves it; wrong rules are caught; an edited obligation file is
//! reported.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn collsynth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_collsynth"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("collsynth runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The line of grammar/rules that defines `name`.
fn rule_line(name: &str) -> String {
    let rules = std::fs::read_to_string(root().join("grammar/rules")).expect("grammar/rules");
    rules
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap_or_else(|| panic!("rule {name} in grammar/rules"))
        .to_string()
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// The fast part of `prove --check` on the shipped rules: every file in proofs/ is
/// exactly the obligation derived from grammar/rules (no z3).
#[test]
fn every_file_in_proofs_is_the_derived_obligation() {
    let rules = collsynth::synth::rules::RuleSet::builtin();
    let obligations = collsynth::cli::prove::derive(&rules).expect("every rule has an obligation");
    for o in &obligations {
        let file = std::fs::read_to_string(root().join("proofs").join(&o.file))
            .unwrap_or_else(|e| panic!("proofs/{}: {e}", o.file));
        assert_eq!(
            collsynth::cli::prove::difference(&file, &o.text),
            None,
            "proofs/{} is stale: run `collsynth prove --write proofs/`",
            o.file
        );
    }
}

/// `prove --check` with z3 on the rules whose obligations z3 discharges in seconds
/// (see proofs/README.md, "Status"): exit 0.
#[test]
fn the_symbolic_obligations_are_unsat() {
    let names = [
        "all-reduce-split",
        "all-reduce-reduce-broadcast",
        "all-reduce-via-roots",
        "reduce-split",
        "broadcast-split",
        "all-reduce-scatter-gather",
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    let lines: String = names
        .iter()
        .map(|n| format!("{}\n", rule_line(n)))
        .collect();
    std::fs::write(&rules, lines).expect("rules");
    // Check against the shipped files themselves (copied: the tempdir holds only these).
    let proofs = dir.path().join("proofs");
    std::fs::create_dir(&proofs).expect("mkdir");
    for n in names {
        std::fs::copy(
            root().join("proofs").join(format!("{n}.smt2")),
            proofs.join(format!("{n}.smt2")),
        )
        .expect("copy");
    }
    let out = collsynth(&["prove", "--rules", p(&rules), "--check", p(&proofs)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The whole `prove --check` (every rule, z3 on every query). It does not pass yet:
/// six rules have queries z3 does not decide within the timeout (proofs/README.md,
/// "Status"), and it takes about an hour on a 2-core machine. Run it with
/// `cargo test --test prove -- --ignored`.
#[test]
#[ignore = "six rules' obligations time out in z3 (proofs/README.md, Status); about an hour"]
fn every_obligation_in_proofs_is_current_and_unsat() {
    let out = collsynth(&["prove", "--check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    // One line per rule of grammar/rules, each proved and identical to its file.
    let rules = std::fs::read_to_string(root().join("grammar/rules")).expect("grammar/rules");
    let names: Vec<&str> = rules
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("==>"))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(names.len(), 12);
    for n in names {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{n} ")))
            .unwrap_or_else(|| panic!("no line for {n} in\n{stdout}"));
        assert!(
            line.contains(" unsat ") && line.contains("identical"),
            "{line}"
        );
        assert!(root().join("proofs").join(format!("{n}.smt2")).exists());
    }
}

/// Writes `rules` to a temporary file, writes their obligations, checks them.
fn check_rules(rules: &str) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rules");
    std::fs::write(&file, rules).expect("write rules");
    let proofs = dir.path().join("proofs");
    let w = collsynth(&["prove", "--rules", p(&file), "--write", p(&proofs)]);
    assert_eq!(w.status.code(), Some(0), "{}", text(&w.stderr));
    // A counterexample is found in milliseconds; a short timeout keeps the sound
    // queries of a wrong rule from slowing the test (unknown never hides a sat).
    let out = collsynth(&[
        "prove",
        "--rules",
        p(&file),
        "--check",
        p(&proofs),
        "--smt-timeout-ms",
        "1000",
    ]);
    (out, dir)
}

fn assert_refuted(rule: &str, name: &str) {
    let (out, _dir) = check_rules(&format!("{rule}\n"));
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{stderr}",
        text(&out.stdout)
    );
    assert!(
        stderr.contains(&format!("rule `{name}` is not proved sound")),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains("SAT"), "{}", text(&out.stdout));
}

#[test]
fn all_reduce_is_not_reduce_alone() {
    assert_refuted(
        "bad-reduce: (all_reduce ?g ?s ?r) ==> (reduce ?g ?s ?r)",
        "bad-reduce",
    );
}

#[test]
fn reduce_scatter_split_in_the_wrong_order_is_refuted() {
    // The less significant part first: chunk positions are not kept.
    assert_refuted(
        "bad-rs: (reduce_scatter ?g ?s ?r) ==> (seq (reduce_scatter ?b ?s ?r) (reduce_scatter ?a ?sb ?r)) if split-ordered ?g ?a ?b, union ?s ?b ?sb",
        "bad-rs",
    );
}

#[test]
fn all_gather_split_in_the_wrong_order_is_refuted() {
    // The more significant part first: the chunks do not line up.
    assert_refuted(
        "bad-ag: (all_gather ?g ?s ?r) ==> (seq (all_gather ?a ?s ?r) (all_gather ?b ?sa ?r)) if split-ordered ?g ?a ?b, diff ?s ?a ?sa",
        "bad-ag",
    );
}

#[test]
fn a_sound_rule_from_a_rules_file_is_proved() {
    // The boundary pair of the refutations above: the shipped rule, alone.
    let (out, _dir) = check_rules(&format!("{}\n", rule_line("all-reduce-split")));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn an_edited_obligation_file_is_reported_as_different() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    std::fs::write(&rules, format!("{}\n", rule_line("all-reduce-split"))).expect("rules");
    let proofs = dir.path().join("proofs");
    std::fs::create_dir(&proofs).expect("mkdir");
    let file = proofs.join("all-reduce-split.smt2");
    let original = std::fs::read_to_string(root().join("proofs/all-reduce-split.smt2"))
        .expect("proofs/all-reduce-split.smt2");
    // Unchanged, the copy checks.
    std::fs::write(&file, &original).expect("copy");
    let ok = collsynth(&["prove", "--rules", p(&rules), "--check", p(&proofs)]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    // One assertion weakened: reported, with the file and the line.
    let edited = original.replacen("(bvuge n.v0 (_ bv2 8))", "(bvuge n.v0 (_ bv1 8))", 1);
    assert_ne!(edited, original);
    std::fs::write(&file, &edited).expect("edit");
    let out = collsynth(&["prove", "--rules", p(&rules), "--check", p(&proofs)]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("all-reduce-split.smt2 differs") && stderr.contains("line "),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains("DIFFERS"));
    // A stale obligation of a rule that does not exist is reported too.
    std::fs::write(&file, &original).expect("restore");
    std::fs::write(
        proofs.join("gone.smt2"),
        "; Soundness obligation of rewrite rule `gone`:\n",
    )
    .expect("stale");
    let out = collsynth(&["prove", "--rules", p(&rules), "--check", p(&proofs)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("gone.smt2 is the obligation of a rule that no longer exists")
    );
}

#[test]
fn obligations_are_deterministic() {
    let rules = collsynth::synth::rules::RuleSet::builtin();
    let a = collsynth::cli::prove::derive(&rules).expect("every rule has an obligation");
    let b = collsynth::cli::prove::derive(&rules).expect("every rule has an obligation");
    assert_eq!(a, b);
    assert_eq!(a.len(), 12);
}
