//! The branch and bound over placements (`synth`'s default search for the best
//! placement, docs/design.md §9) against the full enumeration it replaces: the same
//! best placement, programs, counts and text on every spec of `specs/`, every
//! problem of the bench suite and a few specs made to stress the bound (requests
//! over late axes, send_recv, sharded requests, weights); and the binary's output is
//! the same bytes on 1 and 4 threads.

mod support;

use collsynth::bench::suite::{self, Suite};
use collsynth::report::synth::{synth_json, synth_text};
use collsynth::rules::RuleSet;
use collsynth::source::Source;
use collsynth::spec::{self, Spec};
use collsynth::synth::backend::Standard;
use collsynth::synth::{synthesize, Engine, Options, Search, Selection, Synthesis};
use support::cli::{code, stderr};
use support::{tempdir, write};

fn parse(name: &str, text: &str) -> Spec {
    spec::parse(&Source::new(name, text), None).expect("a valid spec")
}

/// Specs whose requests the suite does not cover: a request over the last axis
/// (the bound works on partial rows longest), send_recv, reduce_scatter and
/// all_gather, counts and exposed shares, axes of size 1.
fn stress_specs() -> Vec<Spec> {
    let system = "[system]\nname = \"s\"\nlaunch = \"5 us\"\nlevels = [\n\
        { name = \"pod\", arity = 4, bandwidth = \"25 GB/s\", latency = \"10 us\" },\n\
        { name = \"node\", arity = 8, bandwidth = \"50 GB/s\", latency = \"5 us\", device_bandwidth = \"25 GB/s\" },\n\
        { name = \"gpu\", arity = 8, bandwidth = \"235 GB/s\", latency = \"1 us\" },\n]\n";
    let axes = "axes = [ { name = \"pipe\", size = 4 }, { name = \"model\", size = 8 }, { name = \"one\", size = 1 }, { name = \"data\", size = 8 } ]\n";
    let requests = [
        "[[request]]\ncollective = \"all_reduce\"\naxes = [\"data\"]\nbytes = \"1 GB\"\n",
        "[[request]]\ncollective = \"all_reduce\"\naxes = [\"model\", \"data\"]\nbytes = \"64 MB\"\ncount = 4\nexposed = 0.5\n\
         [[request]]\ncollective = \"send_recv\"\naxes = [\"pipe\"]\nbytes = \"16 MB\"\ncount = 8\n",
        "[[request]]\ncollective = \"reduce_scatter\"\naxes = [\"data\"]\nbytes = \"256 MB\"\n\
         [[request]]\ncollective = \"all_gather\"\naxes = [\"model\"]\nbytes = \"256 MB\"\n",
        "[[request]]\ncollective = \"all_reduce\"\naxes = [\"one\"]\nbytes = \"1 MB\"\n\
         [[request]]\ncollective = \"all_reduce\"\naxes = [\"pipe\"]\nbytes = \"4 KB\"\ncount = 100\n",
    ];
    requests
        .iter()
        .enumerate()
        .map(|(i, r)| parse(&format!("stress-{i}.toml"), &format!("{axes}{system}{r}")))
        .collect()
}

fn run(spec: &Spec, engine: Engine, search: Search) -> Synthesis {
    let opts = Options {
        engine,
        top: 3,
        selection: Selection::Best,
        search,
        check: false,
        ..Options::default()
    };
    synthesize(spec, &Standard::default(), &RuleSet::builtin(), &opts)
        .unwrap_or_else(|e| panic!("{}: {e}", spec.source))
}

/// The text without the branch and bound's own line, and the JSON without its keys.
fn outputs(spec: &Spec, s: &Synthesis) -> (String, String) {
    let text: String = synth_text(spec, s, &Standard::default())
        .lines()
        .filter(|l| !l.starts_with("# branch and bound over placements:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut json: serde_json::Value =
        serde_json::from_str(&synth_json(spec, s, false)).expect("synth JSON parses");
    let stats = json["stats"].as_object_mut().expect("stats");
    for key in ["search", "nodes_visited", "subtrees_pruned"] {
        assert!(stats.remove(key).is_some(), "stats.{key}");
    }
    (text, json.to_string())
}

#[test]
fn branch_and_bound_equals_the_enumeration_on_every_spec_and_suite_problem() {
    let specs = support::root().join("specs");
    let mut problems: Vec<(String, Spec)> = suite::problems(Suite::Full, &specs)
        .expect("the suite loads")
        .into_iter()
        .map(|p| (p.name, p.spec))
        .collect();
    // default.toml is the suite's embedded default; load the file too.
    problems.push((
        "specs/default.toml".into(),
        support::load("specs/default.toml"),
    ));
    problems.extend(stress_specs().into_iter().map(|s| (s.source.clone(), s)));
    // Where both run: the enumeration lists at most MAX_PLACEMENTS.
    problems.retain(|(_, spec)| {
        collsynth::placement::count_up_to(spec, collsynth::placement::MAX_PLACEMENTS).is_some()
    });
    let mut compared = 0;
    for (name, spec) in &problems {
        let engines: &[Engine] = if spec.devices() <= 64 {
            &[Engine::Egraph, Engine::Enumerate]
        } else {
            &[Engine::Egraph]
        };
        for &engine in engines {
            let tree = run(spec, engine, Search::BranchAndBound);
            let every = run(spec, engine, Search::Every);
            assert!(tree.stats.tree.is_some() && every.stats.tree.is_none());
            assert_eq!(tree.best_index, every.best_index, "{name}: best placement");
            let (a, b) = (&tree.stats, &every.stats);
            assert_eq!(
                (a.placements, a.synthesized, a.pruned, a.shapes),
                (b.placements, b.synthesized, b.pruned, b.shapes),
                "{name}: placements, synthesized, pruned, shapes"
            );
            let (ta, ja) = outputs(spec, &tree);
            let (tb, jb) = outputs(spec, &every);
            assert_eq!(ta, tb, "{name} ({engine:?}): text");
            assert_eq!(ja, jb, "{name} ({engine:?}): JSON");
            compared += 1;
        }
    }
    // 13 specs/*.toml, 6 specs/e2e, the default twice, the generated problems
    // within the cap, 4 stress specs, and the enumeration engine on the small ones.
    eprintln!("{} problems, {compared} comparisons", problems.len());
    assert!(compared >= 35, "{compared} comparisons");
}

/// A 2^20-device, 8-level, 6-axis system (about 4 x 10^8 placements): answered by
/// the branch and bound, which visits few nodes, with the best placement's index in
/// the enumeration order.
#[test]
fn branch_and_bound_answers_beyond_the_placement_cap() {
    let mut t = String::from(
        "axes = [ { name = \"data\", size = 64 }, { name = \"tensor\", size = 8 }, { name = \"pipe\", size = 8 }, { name = \"expert\", size = 4 }, { name = \"context\", size = 4 }, { name = \"seq\", size = 16 } ]\n[system]\nname = \"large\"\nlevels = [\n",
    );
    for (i, k) in [8, 8, 8, 8, 4, 4, 4, 4].iter().enumerate() {
        t.push_str(&format!(
            "  {{ name = \"l{i}\", arity = {k}, bandwidth = \"{} GB/s\", latency = \"{} us\" }},\n",
            25 << (i / 2),
            8 - i
        ));
    }
    t.push_str("]\n[[request]]\ncollective = \"all_reduce\"\naxes = [\"data\"]\nbytes = \"64 MB\"\n[[request]]\ncollective = \"all_reduce\"\naxes = [\"tensor\"]\nbytes = \"64 MB\"\n");
    let spec = parse("d20-6.toml", &t);
    let s = run(&spec, Engine::Egraph, Search::BranchAndBound);
    assert_eq!(s.stats.placements, 406_857_860);
    let tree = s.stats.tree.expect("searched by branch and bound");
    assert!(tree.visited > 0 && tree.visited < 1000, "{tree:?}");
    assert!(s.stats.pruned > 400_000_000, "{}", s.stats.pruned);
    let best = &s.placements[0];
    assert!(best.best && best.score_s.is_finite());
    assert_eq!(Some(best.index), s.best_index);
    // The index is the placement's position in the enumeration order.
    let mut t = collsynth::placement::tree::Tree::new(&spec);
    assert_eq!(t.index_of(&best.placement.matrix), best.index as u128);
}

/// The binary prints the same bytes with 1 and 4 threads (text and JSON, both
/// engines, the best placement and every placement), on the suite's largest
/// problem within the cap and on a spec of several requests.
#[test]
fn output_is_the_same_on_one_and_four_threads() {
    let dir = tempdir();
    let gen = write(
        dir.path(),
        "gen.toml",
        &suite::generated_toml("gen-5l-32768-4ax").expect("a suite problem"),
    );
    let step = "specs/dgx-h100-x4-training-step.toml";
    let mut runs: Vec<Vec<&str>> = Vec::new();
    for spec in [gen.as_str(), step] {
        runs.push(vec!["synth", spec]);
        runs.push(vec!["synth", "--json", spec]);
        runs.push(vec!["synth", "--engine", "enumerate", spec]);
    }
    // Every placement's problems are solved at once on every core.
    runs.push(vec!["synth", "--placement", "all", "--json", step]);
    {
        for args in runs {
            let outs: Vec<Vec<u8>> = ["1", "4"]
                .iter()
                .map(|n| {
                    let o = std::process::Command::new(env!("CARGO_BIN_EXE_collsynth"))
                        .args(&args)
                        .current_dir(support::root())
                        .env_remove("RUST_LOG")
                        .env("RAYON_NUM_THREADS", n)
                        .output()
                        .expect("collsynth runs");
                    assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
                    o.stdout
                })
                .collect();
            assert!(!outs[0].is_empty());
            assert!(outs[0] == outs[1], "{args:?}: 1 and 4 threads differ");
        }
    }
}
