//! `collsynth prove`: every rewrite rule's obligation in proofs/ is what the rules
//! give and z3 proves it; wrong rules are refuted by z3 *and* by the independent path
//! (the rule applied inside correct programs on concrete placements, the results run
//! through the reference interpreter); an edited obligation file is reported.

mod support;

use std::process::Output;

use support::cli;
use support::{path, root};

/// The line of grammar/rules that defines `name`.
fn rule_line(name: &str) -> String {
    let rules = std::fs::read_to_string(root().join("grammar/rules")).expect("grammar/rules");
    rules
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap_or_else(|| panic!("rule {name} in grammar/rules"))
        .to_string()
}

/// The fast part of `prove --check` on the shipped rules: every file in proofs/ is
/// exactly the obligation derived from grammar/rules (no z3).
#[test]
fn every_file_in_proofs_is_the_derived_obligation() {
    let rules = collsynth::rules::RuleSet::builtin();
    let obligations = collsynth::soundness::derive(&rules).expect("every rule has an obligation");
    for o in &obligations {
        let file = std::fs::read_to_string(root().join("proofs").join(&o.file))
            .unwrap_or_else(|e| panic!("proofs/{}: {e}", o.file));
        assert_eq!(
            collsynth::soundness::difference(&file, &o.text),
            None,
            "proofs/{} is stale: run `collsynth prove --write proofs/`",
            o.file
        );
    }
}

/// The whole `prove --check`: every rule, z3 on every check, every file identical.
#[test]
fn every_obligation_in_proofs_is_current_and_unsat() {
    let out = cli::run(&["prove", "--check"], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        cli::stdout(&out),
        cli::stderr(&out)
    );
    let stdout = cli::stdout(&out);
    // One line per rule of grammar/rules, each proved and identical to its file.
    let rules = std::fs::read_to_string(root().join("grammar/rules")).expect("grammar/rules");
    let names: Vec<&str> = rules
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("==>"))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(names.len(), 13);
    for n in names {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{n} ")))
            .unwrap_or_else(|| panic!("no line for {n} in\n{stdout}"));
        assert!(
            line.contains(" unsat ") && line.contains("identical"),
            "{line}"
        );
        // Every rule is covered for every size: the small-model theorem for the rules
        // without reduce_scatter / all_gather, the composition argument (C1-C6) for
        // the others (proofs/README.md, "Sizes").
        let positional =
            rule_line(n).contains("reduce_scatter") || rule_line(n).contains("all_gather");
        let covers = if positional {
            "covers all sizes (C"
        } else {
            "covers all sizes "
        };
        assert!(line.contains(covers), "{line}");
    }
}

/// `--max-size 5` checks the reduce_scatter / all_gather rules at sizes up to 5 in
/// memory (the files hold 2 to 4) and says so; the other rules need no more sizes.
/// A composed rule is covered for every size only next to the rules its argument
/// uses, with their exact texts.
#[test]
fn larger_sizes_and_the_composition_argument() {
    let run = |lines: String, extra: &[&str]| {
        let (out, _dir) = check_rules(&lines, extra);
        let stdout = cli::stdout(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}\n{}",
            cli::stderr(&out)
        );
        stdout
    };
    let line = |stdout: &str, n: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{n} ")))
            .unwrap_or_else(|| panic!("no line for {n} in\n{stdout}"))
            .to_string()
    };
    // reduce-scatter-split next to a renamed all-reduce-split: the argument does not
    // apply, the sizes checked are what is covered.
    let renamed = rule_line("all-reduce-split").replacen("all-reduce-split", "ar-split", 1);
    let stdout = run(
        format!("{}\n{renamed}\n", rule_line("reduce-scatter-split")),
        &["--max-size", "5"],
    );
    // 4 instances × 3² size assignments in the file, 4 × (4² − 3²) more in memory.
    let rs = line(&stdout, "reduce-scatter-split");
    assert!(
        rs.contains(" 64 size assignments") && rs.contains("covers sizes 2-5"),
        "{rs}"
    );
    let ar = line(&stdout, "ar-split");
    assert!(
        ar.contains(" 36 size assignments") && ar.contains("covers all sizes"),
        "{ar}"
    );
    // Next to all-reduce-split itself, the composition argument applies (C3).
    let stdout = run(
        format!(
            "{}\n{}\n",
            rule_line("reduce-scatter-split"),
            rule_line("all-reduce-split")
        ),
        &[],
    );
    let rs = line(&stdout, "reduce-scatter-split");
    assert!(rs.contains("covers all sizes (C3)"), "{rs}");
    // Out of range: a usage error.
    let bad = cli::run(&["prove", "--check", "--max-size", "9"], None);
    assert_eq!(bad.status.code(), Some(2), "{}", cli::stderr(&bad));
}

/// Writes `rules` to a temporary file, writes their obligations, checks them with
/// `extra` arguments.
fn check_rules(rules: &str, extra: &[&str]) -> (Output, tempfile::TempDir) {
    let dir = support::tempdir();
    let file = dir.path().join("rules");
    std::fs::write(&file, rules).expect("write rules");
    let proofs = dir.path().join("proofs");
    let w = cli::run(
        &["prove", "--rules", path(&file), "--write", path(&proofs)],
        None,
    );
    assert_eq!(w.status.code(), Some(0), "{}", cli::stderr(&w));
    let mut args = vec!["prove", "--rules", path(&file), "--check", path(&proofs)];
    args.extend(extra);
    (cli::run(&args, None), dir)
}

/// `rule` is refuted twice: z3 finds a counterexample to its obligation, and the
/// rule applied inside correct programs on a concrete placement (data = 6 over dims
/// of 3 and 2 with a model dim in between) gives a program the interpreter rejects.
fn assert_refuted(rule: &str, name: &str) {
    let (out, _dir) = check_rules(&format!("{rule}\n"), &[]);
    let stderr = cli::stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{stderr}",
        cli::stdout(&out)
    );
    assert!(
        stderr.contains(&format!("rule `{name}` is not proved sound")),
        "{stderr}"
    );
    assert!(cli::stdout(&out).contains("SAT"), "{}", cli::stdout(&out));
    let rules = collsynth::rules::read_rules(&collsynth::source::Source::new("wrong", rule))
        .expect("the wrong rule parses");
    let (s2, m2) = support::synth::two_dims();
    let e = support::synth::check_rules_on(&rules, &s2, m2, 4)
        .expect_err("the interpreter rejects a rewritten program");
    assert!(e.contains(&format!("rule {name} is unsound")), "{e}");
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
fn broadcast_split_in_the_wrong_order_is_refuted() {
    // broadcast(A) first: devices off the root's B coordinate never hear from it.
    assert_refuted(
        "bad-bcast: (broadcast ?g ?s ?r) ==> (seq (broadcast ?a ?s ?r) (broadcast ?b ?s ?ra)) if split ?g ?a ?b, union ?r ?a ?ra",
        "bad-bcast",
    );
}

#[test]
fn all_reduce_split_without_one_part_is_refuted() {
    // all_reduce(A ∪ B) is not all_reduce(A): sources over B are missing.
    assert_refuted(
        "bad-part: (all_reduce ?g ?s ?r) ==> (all_reduce ?a ?s ?r) if split ?g ?a ?b",
        "bad-part",
    );
}

#[test]
fn a_sound_rule_from_a_rules_file_is_proved() {
    // The boundary pair of the refutations above: the shipped rule, alone.
    let (out, _dir) = check_rules(&format!("{}\n", rule_line("all-reduce-split")), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", cli::stderr(&out));
}

#[test]
fn an_edited_obligation_file_is_reported_as_different() {
    let dir = support::tempdir();
    let rules = dir.path().join("rules");
    std::fs::write(&rules, format!("{}\n", rule_line("all-reduce-split"))).expect("rules");
    let proofs = dir.path().join("proofs");
    std::fs::create_dir(&proofs).expect("mkdir");
    let file = proofs.join("all-reduce-split.smt2");
    let original = std::fs::read_to_string(root().join("proofs/all-reduce-split.smt2"))
        .expect("proofs/all-reduce-split.smt2");
    // Unchanged, the copy checks.
    std::fs::write(&file, &original).expect("copy");
    let ok = cli::run(
        &["prove", "--rules", path(&rules), "--check", path(&proofs)],
        None,
    );
    assert_eq!(ok.status.code(), Some(0), "{}", cli::stderr(&ok));
    // One assertion weakened: reported, with the file and the line.
    let edited = original.replacen("(assert (<= 1 buf))", "(assert (<= 0 buf))", 1);
    assert_ne!(edited, original);
    std::fs::write(&file, &edited).expect("edit");
    let out = cli::run(
        &["prove", "--rules", path(&rules), "--check", path(&proofs)],
        None,
    );
    let stderr = cli::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("all-reduce-split.smt2 differs") && stderr.contains("line "),
        "{stderr}"
    );
    assert!(cli::stdout(&out).contains("DIFFERS"));
    // A stale obligation of a rule that does not exist is reported too.
    std::fs::write(&file, &original).expect("restore");
    std::fs::write(
        proofs.join("gone.smt2"),
        "; Soundness obligation of rewrite rule `gone`:\n",
    )
    .expect("stale");
    let out = cli::run(
        &["prove", "--rules", path(&rules), "--check", path(&proofs)],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        cli::stderr(&out).contains("gone.smt2 is the obligation of a rule that no longer exists")
    );
}

#[test]
fn obligations_are_deterministic() {
    let rules = collsynth::rules::RuleSet::builtin();
    let a = collsynth::soundness::derive(&rules).expect("every rule has an obligation");
    let b = collsynth::soundness::derive(&rules).expect("every rule has an obligation");
    assert_eq!(a, b);
    assert_eq!(a.len(), 13);
}

#[test]
fn usage_errors_say_what_to_give() {
    let none = cli::run(&["prove"], None);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        cli::stderr(&none).contains("--write <DIR>|--check"),
        "{}",
        cli::stderr(&none)
    );
    let dir = support::tempdir();
    let missing = dir.path().join("nothing-here");
    let out = cli::run(&["prove", "--check", path(&missing)], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = cli::stderr(&out);
    assert!(
        stderr.contains("no such directory") && stderr.contains("collsynth prove --write"),
        "{stderr}"
    );
    let both = cli::run(
        &["prove", "--check", "proofs", "--write", path(dir.path())],
        None,
    );
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn json_output_names_every_rule_and_its_coverage() {
    let rules = format!(
        "{}\n{}\n",
        rule_line("all-reduce-split"),
        rule_line("all-gather-split")
    );
    let (out, _dir) = check_rules(&rules, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", cli::stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["ok"], true);
    let rows = doc["rules"].as_array().expect("rules");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["rule"], "all-reduce-split");
    assert_eq!(rows[0]["covers"], "all sizes");
    assert_eq!(rows[1]["covers"], "all sizes (C4)");
    for r in rows {
        assert_eq!(r["verdict"], "unsat");
        assert_eq!(r["file_identical"], true);
        assert_eq!(r["counterexamples"], 0);
    }
    let total: u64 = rows.iter().map(|r| r["checks"].as_u64().unwrap_or(0)).sum();
    assert_eq!(doc["checks"].as_u64(), Some(total));
}
