//! Tree steps (`all_reduce[tree](…)`, docs/cost-model.md §2): the text and lowered
//! JSON forms, the price (NCCL's tree, as `nccl_s` prices it, on the step's own
//! groups) and synthesis choosing a tree where the model prices it faster than the
//! ring.

use collsynth::cost::{nccl_cost, program_cost, NcclAlgorithm};
use collsynth::placement::{self, Placement};
use collsynth::program::{parse_program, Collective};
use collsynth::rules::RuleSet;
use collsynth::spec::Spec;
use collsynth::synth::backend::Standard;
use collsynth::synth::{self, Options};

fn spec(name: &str) -> Spec {
    let text = collsynth::bench::suite::generated_toml(name).expect("a suite problem");
    collsynth::spec::parse(&collsynth::source::Source::new(name, text), None).unwrap()
}

#[test]
fn tree_text_parses_prints_and_is_only_for_all_reduce() {
    let s = Spec::embedded_default();
    let p = parse_program(
        &s,
        "all_reduce[tree](gpu:data,node:data) ; all_reduce(gpu:model)",
    )
    .unwrap();
    assert!(p.steps[0].tree && !p.steps[1].tree);
    assert_eq!(p.steps[0].op, Collective::AllReduce);
    assert_eq!(
        p.text(&s),
        "all_reduce[tree](node:data, gpu:data) ; all_reduce(gpu:model)"
    );
    assert_eq!(parse_program(&s, &p.text(&s)).unwrap(), p);
    let err = parse_program(&s, "reduce[tree](gpu:data)").unwrap_err();
    assert!(
        err.message.contains("only all_reduce runs as a tree"),
        "{err:?}"
    );
    let err = parse_program(&s, "all_reduce[ring](gpu:data)").unwrap_err();
    assert!(err.message.contains("expected `tree`"), "{err:?}");
}

/// The flat tree over a request's whole group is what `nccl_s` prices as NCCL's
/// tree (two independent pieces of code: the closed form of a step and the
/// baseline's spans).
#[test]
fn the_flat_tree_step_costs_what_nccl_s_says_its_tree_costs() {
    for name in ["gen-2l-64-2ax", "gen-4l-4096-2ax", "gen-5l-32768-2ax"] {
        let spec = spec(name);
        for m in placement::enumerate(&spec).into_iter().take(20) {
            let p = Placement::from_valid_matrix(m);
            for r in &spec.requests {
                let flat = collsynth::cost::flat_program(&p, r);
                if flat.steps.is_empty() {
                    continue;
                }
                let mut tree = flat.clone();
                tree.steps[0] = tree.steps[0].clone().as_tree(true);
                let t = program_cost(&spec, &p, &tree, r.bytes).total_s;
                let n = nccl_cost(&spec, &p, r, r.bytes);
                let want = n.tree_s.expect("an all_reduce request has a tree");
                assert!(
                    (t - want).abs() <= 1e-9 * want,
                    "{name}: {} {t} vs nccl tree {want}",
                    tree.text(&spec)
                );
                if n.algorithm == NcclAlgorithm::Tree {
                    assert!(t < program_cost(&spec, &p, &flat, r.bytes).total_s);
                }
            }
        }
    }
}

/// On gen-5l-32768-2ax (512 data devices over 64 boards × 8 GPUs) every ring pays
/// 2 × 511 hops; the tree, 2(6 × 2 µs + 7 × 1 µs): the best program is the tree, within
/// 1.02× of the bound (ring-only programs: 1.220×), and proved.
#[test]
fn synthesis_runs_a_long_all_reduce_as_a_tree() {
    let spec = spec("gen-5l-32768-2ax");
    let s = synth::synthesize(
        &spec,
        &Standard::default(),
        &RuleSet::builtin(),
        &Options::default(),
    )
    .unwrap();
    let best = s.placements.iter().find(|p| p.best).unwrap();
    let r = &best.results[0];
    let top = &r.programs[0];
    assert_eq!(
        top.program.text(&spec),
        "all_reduce[tree](board:data, gpu:data)"
    );
    assert!(
        top.cost_s / r.lower_bound_s < 1.02,
        "{}",
        top.cost_s / r.lower_bound_s
    );
    assert!(top.cost_s >= r.lower_bound_s);
    assert!(top.verdict.as_ref().is_some_and(|v| v.is_proved()));
    // The ring of the same group is still priced as a ring.
    assert!(r.flat_s > top.cost_s * 1.1);
}

/// Lowered JSON carries the tree (`"tree": true`) and raising it back gives the tree
/// step; a tree on any other collective is refused with the step named.
#[test]
fn lowered_json_carries_the_tree() {
    let s = Spec::embedded_default();
    let p = Placement::from_valid_matrix(placement::enumerate(&s)[0].clone());
    let prog = parse_program(&s, "all_reduce[tree](gpu:data)").unwrap();
    let low = collsynth::lowered::lower(&p, &prog);
    assert!(low.steps[0].tree);
    let json = serde_json::to_string(&low.steps[0]).unwrap();
    assert!(json.contains("\"tree\":true"), "{json}");
    assert_eq!(collsynth::lowered::raise(&p, &low), Some(prog.clone()));
    let ring = collsynth::lowered::lower(&p, &parse_program(&s, "all_reduce(gpu:data)").unwrap());
    assert!(!serde_json::to_string(&ring.steps[0])
        .unwrap()
        .contains("tree"));
    let bad = r#"{"schema_version": 1, "steps": [{"collective": "broadcast", "groups": [[0, 1]], "tree": true}]}"#;
    let err = collsynth::lowered::parse_json(&collsynth::source::Source::new(
        "bad.json",
        bad.to_string(),
    ))
    .unwrap_err();
    assert!(err.message.contains("step 0 is a broadcast"), "{err:?}");
}

/// Both checkers read a tree step as its all_reduce: the interpreter accepts the
/// tree program and refutes a wrong one alike.
#[test]
fn the_interpreter_reads_a_tree_as_its_all_reduce() {
    let s = Spec::embedded_default();
    let p = Placement::from_valid_matrix(placement::enumerate(&s)[2].clone());
    let axes = &s.requests[0].axes;
    for (text, ok) in [
        ("all_reduce[tree](node:data, gpu:data)", true),
        ("all_reduce(node:data, gpu:data)", true),
        (
            "all_reduce[tree](node:data, gpu:data) ; all_reduce[tree](gpu:data)",
            false,
        ),
        (
            "all_reduce(node:data, gpu:data) ; all_reduce(gpu:data)",
            false,
        ),
    ] {
        let prog = parse_program(&s, text).unwrap();
        let low = collsynth::lowered::lower(&p, &prog);
        assert_eq!(
            collsynth::semantics::run(&s, &p, axes, &low).is_ok(),
            ok,
            "{text}"
        );
    }
}
