//! The rewrite rules: the file reads and writes back unchanged, bad files are errors
//! with line numbers, the rule table is under a snapshot, and every rule is sound —
//! applied inside correct programs on concrete placements (dim sizes 2 and 3, with a
//! dim that is not reduced in between), the result passes the reference interpreter.

mod support;

use collsynth::placement::Placement;
use collsynth::rules::AbsStep;
use collsynth::rules::{read_rules, write_rules, RuleSet, DEFAULT_RULES};
use collsynth::source::Source;
use collsynth::synth::enumerate;
use collsynth::synth::shape::Shape;
use collsynth::synth::state;
use support::synth::{check_rules_on, interpret, three_dims, two_dims, Unit};

#[test]
fn rules_file_round_trips() {
    let set = read_rules(&Source::new("grammar/rules", DEFAULT_RULES)).unwrap();
    let text = write_rules(&set);
    assert_eq!(
        text, DEFAULT_RULES,
        "grammar/rules is not in canonical form"
    );
    assert_eq!(
        read_rules(&Source::new("grammar/rules", text)).unwrap(),
        set
    );
    assert!(set.rules().count() >= 12);
}

#[test]
fn rule_table_snapshot() {
    insta::assert_snapshot!(RuleSet::builtin().table());
}

fn read_err(text: &str) -> collsynth::source::InputError {
    read_rules(&Source::new("r", text)).unwrap_err()
}

#[test]
fn bad_rule_files_name_the_line() {
    let ok = "a-rule: (all_reduce ?g ?s ?r) ==> (seq (reduce ?g ?s ?r) (broadcast ?g ?s ?r))";
    assert!(read_rules(&Source::new("r", ok)).is_ok());
    let cases = [
        (
            "# c\n\nx: (all_reduce ?g ?s ?r) ==> (all_reduce ?g ?s ?r) if spilt ?g ?a ?b",
            3,
            "unknown relation `spilt`",
        ),
        (
            "x (all_reduce ?g ?s ?r) ==> (all_reduce ?g ?s ?r)",
            1,
            "name:",
        ),
        (
            "Bad_Name: (all_reduce ?g ?s ?r) ==> (all_reduce ?g ?s ?r)",
            1,
            "kebab-case",
        ),
        (
            "x: (all_reduce ?g ?s ?r) (all_reduce ?g ?s ?r)",
            1,
            "no `==>`",
        ),
        (
            "x: (all_reduce ?g ?s ?r) ==> (all_reduce ?a ?s ?r)",
            1,
            "uses ?a",
        ),
        (
            "x: (all_reduce ?g ?s ?r) ==> (all_reduce ?a ?s ?r) if union ?q ?g ?a",
            1,
            "reads ?q",
        ),
        (
            "x: (all_reduce ?g ?s ?r) ==> (all_reduce ?a ?s ?r) if split ?g ?a",
            1,
            "takes 3 arguments",
        ),
        (
            "x: (all_reduce ?g ?s ?r ==> (all_reduce ?g ?s ?r)",
            1,
            "not a pattern",
        ),
        (
            "x: (allreduce ?g ?s ?r) ==> (all_reduce ?g ?s ?r)",
            1,
            "not a pattern",
        ),
        ("x: ?a ==> (all_reduce ?a ?a ?a)", 1, "bare variable"),
        (
            "x: (all_reduce ?g ?s-\0\"\0 ?r) ==> (all_reduce ?g ?s ?r)",
            1,
            "printable ASCII",
        ),
        (
            "x: (all_reduce ?g ?s-t ?r) ==> (all_reduce ?g ?s-t ?r)",
            1,
            "a variable is `?`",
        ),
        (
            "x: (all_reduce ?g ?s ?r) ==> (all_reduce ?g ?s ?r) if disjoint ?g ?s-",
            1,
            "not a variable",
        ),
        (&format!("{ok}\n{ok}"), 2, "defined twice"),
    ];
    for (text, line, msg) in cases {
        let e = read_err(text);
        assert_eq!(e.line.map(|l| l.0), Some(line), "{text}: {e}");
        assert!(e.message.contains(msg), "{text}: {e}");
    }
}

#[test]
fn every_rule_is_sound_on_concrete_placements() {
    // k = 2: data over x (3) and y (2), with y:model (2) between nothing reduced.
    let (s2, m2) = two_dims();
    let rules = RuleSet::builtin();
    let mut total = check_rules_on(&rules, &s2, m2, 4).unwrap();
    // k = 3: data over a (2), b (3), c (2), with b:model (2) in between.
    let (s3, m3) = three_dims();
    for (r, n) in check_rules_on(&rules, &s3, m3, 3).unwrap() {
        *total.get_mut(&r).unwrap() += n;
    }
    for (rule, n) in &total {
        assert!(*n > 0, "rule {rule} never applied in the soundness check");
    }
    eprintln!("applications per rule: {total:?}");
}

#[test]
fn an_unsound_rule_is_caught() {
    // reduce_scatter split in the wrong order: chunk positions change.
    let bad = "rs-split-any: (reduce_scatter ?g ?s ?r) ==> (seq (reduce_scatter ?a ?s ?r) (reduce_scatter ?b ?sa ?r)) if split ?g ?a ?b, union ?s ?a ?sa";
    let rules = read_rules(&Source::new("bad", bad)).unwrap();
    let (s2, m2) = two_dims();
    let e = check_rules_on(&rules, &s2, m2, 4).unwrap_err();
    assert!(e.contains("rs-split-any is unsound"), "{e}");
}

#[test]
fn abstract_state_agrees_with_the_interpreter() {
    // Every program of up to 3 steps over 2 dims of sizes 3 and 2 (plus a dim not
    // reduced): whenever the abstract state decides, the interpreter agrees.
    let (s, m) = two_dims();
    let p = Placement::new(&s, m).unwrap();
    let alphabet = enumerate::alphabet(2);
    let (mut decided, mut correct, mut ill) = (0, 0, 0);
    for len in 1..=3u32 {
        for code in 0..alphabet.len().pow(len) {
            let mut c = code;
            let prog: Vec<AbsStep> = (0..len)
                .map(|_| {
                    let a = alphabet[c % alphabet.len()];
                    c /= alphabet.len();
                    a
                })
                .collect();
            let mut st = state::State::initial(2);
            let mut verdict = None;
            for (i, a) in prog.iter().enumerate() {
                let Some(shard) = st.shard(a.roots) else {
                    break;
                };
                match st.apply(&AbsStep { shard, ..*a }) {
                    state::Outcome::Next(n) => st = n,
                    state::Outcome::IllFormed(_) => {
                        verdict = Some(false);
                        ill += 1;
                        break;
                    }
                    state::Outcome::Unstructured => break,
                }
                if i + 1 == prog.len() {
                    verdict = Some(st.is_final());
                }
            }
            let Some(v) = verdict else { continue };
            decided += 1;
            correct += usize::from(v);
            let got = interpret(&s, &p, &prog);
            assert_eq!(got.is_ok(), v, "abstract says {v}, interpreter {got:?}");
        }
    }
    // all_reduce(x, y); rs+ag of each; hierarchical forms ...: many correct programs.
    assert!(
        correct >= 20 && ill > 1000 && decided > 9000,
        "{correct} {ill} {decided}"
    );
}

#[test]
fn every_extracted_program_is_correct() {
    use collsynth::synth::egraph::{saturate, Budgets};
    use collsynth::synth::extract::k_best;
    let rules = RuleSet::builtin();
    let (s3, m3) = three_dims();
    let p = Placement::new(&s3, m3).unwrap();
    let shape = Shape::of(&p, &s3.requests[0].axes);
    let sat = saturate(&rules, 3, Budgets::default());
    assert!(sat.report.saturated());
    let all = k_best(&sat, 400, &Unit(&shape, &s3));
    assert_eq!(
        all.len(),
        400,
        "the e-graph holds at least 400 distinct programs over 3 dims"
    );
    for c in &all {
        interpret(&s3, &p, &c.steps).unwrap();
    }
}
