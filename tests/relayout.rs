//! `layout(L): P` (docs/design.md, §3.7): the clause parses and prints canonically,
//! both checkers decide it by the relaid goal (proofs/README.md, "Relayout") — the
//! inner-first programs on the FSDP spec are proved with the right layout and refuted
//! with the wrong one or none —, lowered JSON carries it, bad layouts are refused
//! (exit 2), and `cost` prices the copy.

mod support;

use collsynth::lowered;
use collsynth::placement::Placement;
use collsynth::program::{canonical_layout, parse_program};
use collsynth::semantics::{self, Goal, Kind};
use collsynth::source::Source;
use collsynth::spec::Spec;
use collsynth::verdict::Verdict;
use collsynth::verify::{self, SmtOptions};

const FSDP: &str = "specs/dgx-h100-x4-fsdp.toml";
const RS_GPU_FIRST: &str = "reduce_scatter(gpu:data) ; reduce_scatter(node:data)";
const AG_NODE_FIRST: &str = "all_gather(node:data) ; all_gather(gpu:data)";

fn fsdp() -> (Spec, Placement) {
    let s = support::load(FSDP);
    let p = Placement::new(&s, vec![vec![4, 8]]).unwrap();
    (s, p)
}

/// Both checkers' verdicts of `text` for request `r`: the interpreter's
/// counterexample kind (or `None` for proved) and z3's.
fn both(s: &Spec, p: &Placement, r: usize, text: &str) -> (Option<Kind>, Option<Kind>) {
    let prog = parse_program(s, text).unwrap();
    let goal = Goal::of(&s.requests[r]);
    let interp = semantics::run_goal(s, p, &goal, &lowered::lower(p, &prog))
        .err()
        .map(|c| c.kind);
    let smt = match verify::prove_goal(s, p, &goal, &prog, &SmtOptions::default()).unwrap() {
        Verdict::Proved => None,
        Verdict::Refuted(c) => Some(c.kind),
        Verdict::Unknown(why) => panic!("z3 left {text} undecided: {why}"),
    };
    (interp, smt)
}

#[test]
fn layout_parses_and_prints_canonically() {
    let (s, p) = fsdp();
    let text = format!("layout(gpu:data,node:data):{RS_GPU_FIRST}");
    let prog = parse_program(&s, &text).unwrap();
    assert_eq!(prog.layout.len(), 2);
    let canon = format!("layout(gpu:data, node:data): {RS_GPU_FIRST}");
    assert_eq!(prog.text(&s), canon);
    assert_eq!(parse_program(&s, &canon).unwrap(), prog);
    // The request's own order is the identity: dropped.
    let id = parse_program(&s, &format!("layout(node:data, gpu:data): {RS_GPU_FIRST}")).unwrap();
    let id = canonical_layout(&s, &p, &s.requests[0], id).unwrap();
    assert_eq!(id.text(&s), RS_GPU_FIRST);
    // A pipelined program puts the chunk count first.
    let pl = collsynth::program::parse(&Source::new("p", format!("pipeline(4): {canon}"))).unwrap();
    assert_eq!(pl.chunks(), 4);
    assert_eq!(
        pl.resolve(&s).unwrap().pipelined_text(&s, 4),
        format!("pipeline(4): {canon}")
    );
    // Errors say where and what.
    let e = parse_program(&s, "layout(gpu:data, gpu:data): all_gather(gpu:data)").unwrap_err();
    assert!(e.message.contains("named twice"), "{e}");
    let e = parse_program(&s, "layout(gpu:data) all_gather(gpu:data)").unwrap_err();
    assert!(
        e.message.contains("expected `:` after `layout(...)`"),
        "{e}"
    );
}

#[test]
fn layout_must_name_exactly_the_request_dims_and_never_for_all_reduce() {
    let (s, p) = fsdp();
    let half = parse_program(&s, "layout(gpu:data): reduce_scatter(gpu:data)").unwrap();
    let e = canonical_layout(&s, &p, &s.requests[0], half).unwrap_err();
    assert!(e.contains("exactly the request's dims"), "{e}");
    assert!(e.contains("node:data, gpu:data"), "{e}");
    let mut ar = s.requests[0].clone();
    ar.collective = collsynth::spec::RequestKind::AllReduce;
    let prog = parse_program(&s, &format!("layout(gpu:data, node:data): {RS_GPU_FIRST}")).unwrap();
    let e = canonical_layout(&s, &p, &ar, prog).unwrap_err();
    assert!(e.contains("remove the layout"), "{e}");
}

#[test]
fn inner_first_reduce_scatter_is_proved_with_its_layout_by_both_checkers() {
    let (s, p) = fsdp();
    // Without the clause: the shards come out numbered gpu digit first.
    let wrong = Some(Kind::WrongShard);
    assert_eq!(both(&s, &p, 0, RS_GPU_FIRST), (wrong, wrong));
    // With the layout the steps produce: proved.
    let right = format!("layout(gpu:data, node:data): {RS_GPU_FIRST}");
    assert_eq!(both(&s, &p, 0, &right), (None, None));
    // The same layout on the node-first program (right without one): refuted.
    let node_first =
        "layout(gpu:data, node:data): reduce_scatter(node:data) ; reduce_scatter(gpu:data)";
    assert_eq!(both(&s, &p, 0, node_first), (wrong, wrong));
    // A layout does not excuse a missing sum.
    let short = "layout(gpu:data, node:data): reduce_scatter(gpu:data)";
    let (i, z) = both(&s, &p, 0, short);
    assert!(i.is_some() && z.is_some(), "{i:?} {z:?}");
}

#[test]
fn node_first_all_gather_is_proved_with_its_layout_by_both_checkers() {
    let (s, p) = fsdp();
    let (i, z) = both(&s, &p, 1, AG_NODE_FIRST);
    assert!(i.is_some() && z.is_some(), "{i:?} {z:?}");
    let right = format!("layout(gpu:data, node:data): {AG_NODE_FIRST}");
    assert_eq!(both(&s, &p, 1, &right), (None, None));
    // The gpu-last order is right without a layout, and wrong with this one.
    let other = "layout(gpu:data, node:data): all_gather(gpu:data) ; all_gather(node:data)";
    let (i, z) = both(&s, &p, 1, other);
    assert!(i.is_some() && z.is_some(), "{i:?} {z:?}");
}

/// Two axes over two levels: every one of the 4! layouts of the request's dims
/// against the program that reduce-scatters one dim at a time in that order — the
/// one whose order matches is proved, all others are refuted, by both checkers.
#[test]
fn every_layout_of_four_dims_matches_exactly_one_dim_order() {
    let s = collsynth::spec::parse(
        &Source::new(
            "t.toml",
            r#"axes = [ { name = "data", size = 4 }, { name = "pipe", size = 4 } ]
[system]
levels = [ { name = "node", arity = 4, bandwidth = "50 GB/s", latency = "5 us" },
           { name = "gpu", arity = 4, bandwidth = "200 GB/s", latency = "1 us" } ]
[[request]]
collective = "reduce_scatter"
axes = ["pipe", "data"]
bytes = "16 MB"
"#,
        ),
        None,
    )
    .unwrap();
    let p = Placement::new(&s, vec![vec![2, 2], vec![2, 2]]).unwrap();
    let dims = ["node:data", "gpu:data", "node:pipe", "gpu:pipe"];
    let perms = permutations(4);
    for steps in &perms {
        let prog: Vec<String> = steps
            .iter()
            .map(|&i| format!("reduce_scatter({})", dims[i]))
            .collect();
        for layout in &perms {
            let l: Vec<&str> = layout.iter().map(|&i| dims[i]).collect();
            let text = format!("layout({}): {}", l.join(", "), prog.join(" ; "));
            let (i, z) = both(&s, &p, 0, &text);
            assert_eq!(i.is_none(), z.is_none(), "{text}: {i:?} vs {z:?}");
            assert_eq!(i.is_none(), steps == layout, "{text}: {i:?}");
        }
    }
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out.sort();
    out
}

#[test]
fn lowered_json_carries_the_layout_and_round_trips() {
    let (s, p) = fsdp();
    let prog = parse_program(&s, &format!("layout(gpu:data, node:data): {RS_GPU_FIRST}")).unwrap();
    let doc = lowered::lower(&p, &prog).to_json(&s, &p, &s.requests[0]);
    assert_eq!(doc.layout, vec!["gpu:data", "node:data"]);
    let text = serde_json::to_string(&doc).unwrap();
    assert!(
        text.contains(r#""layout":["gpu:data","node:data"]"#),
        "{text}"
    );
    let read = lowered::parse_json(&Source::new("x.json", text)).unwrap();
    let low = read.lowered(&s, "x.json").unwrap();
    assert_eq!(lowered::raise(&p, &low), Some(prog));
    // Without a layout the key is absent.
    let plain = parse_program(&s, RS_GPU_FIRST).unwrap();
    let text =
        serde_json::to_string(&lowered::lower(&p, &plain).to_json(&s, &p, &s.requests[0])).unwrap();
    assert!(!text.contains("layout"), "{text}");
    // A name that is not a dim is refused, naming it.
    let bad = r#"{"schema_version": 1, "layout": ["gpu:data", "rack:data"], "steps": []}"#;
    let e = lowered::parse_json(&Source::new("b.json", bad))
        .unwrap()
        .lowered(&s, "b.json")
        .unwrap_err();
    assert!(e.message.contains("rack:data"), "{e}");
}

#[test]
fn verify_cli_proves_the_layout_program_and_refuses_bad_layouts() {
    let dir = support::tempdir();
    let run = |text: &str, extra: &[&str]| {
        let prog = support::write(dir.path(), "p.txt", text);
        let mut args = vec!["verify", "-s", FSDP, "--request", "0"];
        args.extend_from_slice(extra);
        args.push(prog.as_str());
        let out = support::cli::run(&args, None);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), all)
    };
    let (code, out) = run(
        &format!("layout(gpu:data, node:data): {RS_GPU_FIRST}\n"),
        &[],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("layout(gpu:data, node:data): {RS_GPU_FIRST}")),
        "{out}"
    );
    let (code, out) = run(&format!("layout(gpu:data): {RS_GPU_FIRST}\n"), &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("p.txt") && out.contains("exactly the request's dims"),
        "{out}"
    );
    // The identity layout is proved and printed without the clause.
    let (code, out) = run(
        "layout(node:data, gpu:data): reduce_scatter(node:data) ; reduce_scatter(gpu:data)\n",
        &[],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("layout("), "{out}");
}

#[test]
fn verify_cli_refuses_a_layout_on_an_all_reduce() {
    let dir = support::tempdir();
    let prog = support::write(
        dir.path(),
        "p.txt",
        "layout(gpu:data, node:data): all_reduce(node:data, gpu:data)\n",
    );
    let out = support::cli::run(&["verify", "--matrix", "4,2;1,4", prog.as_str()], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("p.txt") && err.contains("remove the layout"),
        "{err}"
    );
}

#[test]
fn cost_prices_the_relayout_as_a_copy_of_the_whole_buffer() {
    let dir = support::tempdir();
    let prog = support::write(
        dir.path(),
        "p.txt",
        &format!("layout(gpu:data, node:data): {RS_GPU_FIRST}\n"),
    );
    let doc = cost_json(FSDP, &prog);
    let relayout = doc["relayout_s"].as_f64().unwrap();
    // 2 GB at the default 1 TB/s.
    assert!((relayout - 2e-3).abs() < 1e-12, "{relayout}");
    let steps: f64 = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["time_s"].as_f64().unwrap())
        .sum();
    // 7/8 · 2 GB over NVLink, then 3/4 of the 250 MB eighth over the NICs (8.75 ms).
    let gf =
        (7.0 / 8.0 * 2e9 / 370e9 + 7.0 * 1e-6 + 5e-6) + (0.75 * 2.5e8 / 47e9 + 3.0 * 5e-6 + 5e-6);
    assert!((steps - gf).abs() < 1e-12, "{steps} vs {gf}");
    let total = doc["total_s"].as_f64().unwrap();
    assert!((total - (gf + 2e-3)).abs() < 1e-12, "{total}");
    // The bound is unchanged by a relayout.
    let plain = support::write(dir.path(), "q.txt", RS_GPU_FIRST);
    let plain_doc = cost_json(FSDP, &plain);
    assert_eq!(plain_doc["lower_bound_s"], doc["lower_bound_s"]);
    assert_eq!(plain_doc["relayout_s"].as_f64(), Some(0.0));
    // The text shows the copy as its own row, before the steps of a reduce_scatter.
    let out = support::cli::run(&["cost", "-s", FSDP, "--request", "0", prog.as_str()], None);
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text.find("relayout").expect("a relayout row");
    assert!(row < text.find("reduce_scatter  ").unwrap(), "{text}");
    assert!(text.contains("local copy of 2 GB at 1 TB/s"), "{text}");
    // A system's copy_bandwidth changes it: 500 GB/s doubles it.
    let sys =
        std::fs::read_to_string(support::root().join("specs/systems/dgx-h100-x4.toml")).unwrap();
    let sys = sys.replacen(
        "\nlevels = [",
        "\ncopy_bandwidth = \"500 GB/s\"\nlevels = [",
        1,
    );
    support::write(dir.path(), "dgx-h100-x4.toml", &sys);
    let spec = std::fs::read_to_string(support::root().join(FSDP)).unwrap();
    let spec = support::write(dir.path(), "fsdp.toml", &spec.replace("systems/", ""));
    let doc = cost_json(spec.as_str(), &prog);
    assert!((doc["relayout_s"].as_f64().unwrap() - 4e-3).abs() < 1e-12);
}

/// Pipelined, a relayout is one more stage: each chunk's blocks are copied as it is
/// packed while other chunks' steps run, so the program costs less than its
/// pipelined steps plus the whole copy, more than the steps alone, and with one
/// chunk exactly the steps plus the copy.
#[test]
fn a_pipelined_relayout_copies_each_chunk_beside_the_steps() {
    let dir = support::tempdir();
    let file = |name: &str, text: String| support::write(dir.path(), name, &text);
    let relaid = file(
        "r.txt",
        format!("pipeline(16): layout(gpu:data, node:data): {RS_GPU_FIRST}\n"),
    );
    let steps = file("s.txt", format!("pipeline(16): {RS_GPU_FIRST}\n"));
    let one = file(
        "o.txt",
        format!("pipeline(1): layout(gpu:data, node:data): {RS_GPU_FIRST}\n"),
    );
    let total = |p: &str| cost_json(FSDP, p)["total_s"].as_f64().unwrap();
    let (with, without) = (total(&relaid), total(&steps));
    let copy = cost_json(FSDP, &relaid)["relayout_s"].as_f64().unwrap();
    assert!((copy - 2e-3).abs() < 1e-12, "{copy}");
    assert!(with > without, "{with} vs {without}");
    assert!(with < without + copy / 2.0, "{with} vs {without} + {copy}");
    let plain = cost_json(FSDP, &one);
    let steps_s: f64 = plain["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["time_s"].as_f64().unwrap())
        .sum();
    assert_eq!(plain["total_s"].as_f64(), Some(steps_s + copy));
}

/// A refutation of a relaid program names the numbering its shard numbers are in,
/// for both checkers.
#[test]
fn counterexamples_say_the_shards_are_numbered_in_the_layout_order() {
    let (s, p) = fsdp();
    let text = "layout(gpu:data, node:data): reduce_scatter(node:data) ; reduce_scatter(gpu:data)";
    let prog = parse_program(&s, text).unwrap();
    let goal = Goal::of(&s.requests[0]);
    let c = semantics::run_goal(&s, &p, &goal, &lowered::lower(&p, &prog)).unwrap_err();
    let note = "(shards numbered in layout(gpu:data, node:data)'s order)";
    assert!(c.message.ends_with(note), "{}", c.message);
    match verify::prove_goal(&s, &p, &goal, &prog, &SmtOptions::default()).unwrap() {
        Verdict::Refuted(c) => assert!(c.message.ends_with(note), "{}", c.message),
        v => panic!("{v:?}"),
    }
    // Without a layout the message is as before.
    let plain = parse_program(&s, RS_GPU_FIRST).unwrap();
    let c = semantics::run_goal(&s, &p, &goal, &lowered::lower(&p, &plain)).unwrap_err();
    assert!(!c.message.contains("layout"), "{}", c.message);
}

/// `collsynth cost --json` of request 0 of `spec` for the program file `program`,
/// which must succeed.
fn cost_json(spec: &str, program: &str) -> serde_json::Value {
    let out = support::cli::run(
        &["cost", "-s", spec, "--request", "0", "--json", program],
        None,
    );
    serde_json::from_str(&support::cli::success(&out)).unwrap()
}
