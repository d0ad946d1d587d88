//! Facts about synthesis results, with the figures computed by hand from the cost
//! formulas, and the two engines measured against each other.

mod support;

use std::collections::BTreeMap;

use collsynth::rules::RuleSet;
use collsynth::spec::Spec;
use collsynth::synth::backend::Standard;
use collsynth::synth::{synthesize, Engine, Options, Selection, Synthesis};

fn run(spec: &Spec, opts: &Options) -> Synthesis {
    synthesize(spec, &Standard::default(), &RuleSet::builtin(), opts).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

#[test]
fn gcp_megagpu_hierarchical_program_ranks_first() {
    // 2 VMs x 16 A100s; data = 32 over both; 1 GB all_reduce.
    let spec = support::load("specs/gcp-a2-megagpu-16g-x2-dp32.toml");
    let s = run(&spec, &Options::default());
    let r = &s.placements[0].results[0];
    let texts: Vec<String> = r.programs.iter().map(|p| p.program.text(&spec)).collect();
    assert_eq!(
        texts[0],
        "reduce_scatter(gpu:data) ; all_reduce(vm:data) ; all_gather(gpu:data)"
    );
    // By hand: M = 1e9 B, NVLink 235 GB/s, VM 100 Gb/s = 12.5 GB/s, latencies 1 us
    // (gpu) and 5 us (vm), launch 5 us.
    let (m, nv, vm, lg, lv, launch) = (1e9, 235e9, 12.5e9, 1e-6, 5e-6, 5e-6);
    // reduce_scatter over 16 GPUs: each sends 15/16 M over its NVLink, 15 hops.
    let rs = 15.0 / 16.0 * m / nv + 15.0 * lg + launch;
    // all_gather over 16 GPUs of M/16 each: 15 x M/16 out of each GPU.
    let ag = 15.0 * (m / 16.0) / nv + 15.0 * lg + launch;
    // all_reduce over the 2 VMs on M/16: 16 concurrent pairs share each VM's link,
    // each sending 2(2-1)/2 x M/16: 16 x M/16 = M over 12.5 GB/s; 2 hops.
    let ar_vm = 16.0 * (m / 16.0) / vm + 2.0 * lv + launch;
    let hier = rs + ar_vm + ag;
    // flat ring over 32: the ring leaves each VM once, carrying 2(31/32) M; 62 hops.
    let flat = 2.0 * 31.0 / 32.0 * m / vm + 62.0 * lv + launch;
    // reduce ; all_reduce @ roots ; broadcast: chains carry M over NVLink, one pair of
    // roots carries M over the VM link.
    let chain = m / nv + 15.0 * lg + launch;
    let rab = chain + (m / vm + 2.0 * lv + launch) + chain;
    // Run plain, as priced by hand; the printed time is the pipelined one, faster.
    assert!(
        close(r.programs[0].plain_s, hier),
        "{} vs {hier}",
        r.programs[0].plain_s
    );
    assert!(r.programs[0].chunks > 1 && r.programs[0].cost_s < hier);
    assert!(close(r.flat_s, flat));
    let rab_got = r
        .programs
        .iter()
        .find(|p| {
            p.program.text(&spec)
                == "reduce(gpu:data) ; all_reduce(vm:data) @ roots(gpu:data) ; broadcast(gpu:data)"
        })
        .expect("reduce ; all_reduce @ roots ; broadcast is among the top 5");
    assert!(close(rab_got.plain_s, rab));
    // About 1.76x ahead of the flat ring, and well under 1% ahead of the roots program.
    let speedup = flat / hier;
    assert!((1.75..1.78).contains(&speedup), "{speedup}");
    assert!(close(r.flat_s / r.programs[0].plain_s, speedup));
    let margin = rab / hier - 1.0;
    assert!(margin > 0.0 && margin < 0.01, "{margin}");
    assert!(s.stats.refuted.is_empty() && s.stats.proved == 5);
}

#[test]
fn a_reduction_inside_one_node_is_one_all_reduce() {
    // Placement 0 of the default spec keeps data inside a DGX A100 (8 GPUs).
    let spec = support::load("specs/default.toml");
    let s = run(
        &spec,
        &Options {
            selection: Selection::One(0),
            ..Options::default()
        },
    );
    let r = &s.placements[0].results[0];
    assert_eq!(
        s.placements[0].placement.matrix,
        vec![vec![1, 8], vec![4, 1]]
    );
    let texts: Vec<String> = r.programs.iter().map(|p| p.program.text(&spec)).collect();
    assert_eq!(texts[0], "all_reduce(gpu:data)");
    assert_eq!(texts[1], "reduce_scatter(gpu:data) ; all_gather(gpu:data)");
    // Same bytes over NVLink and the same 14 hops: the second launch is the difference.
    let launch = spec.system.launch_s;
    assert!(close(r.programs[1].cost_s - r.programs[0].cost_s, launch));
    // And it is the flat program itself.
    assert!(close(r.programs[0].cost_s, r.flat_s));
}

#[test]
fn results_are_identical_run_to_run() {
    let spec = support::load("specs/e2e/three-level-dp4-mp2x2.toml");
    let opts = Options {
        selection: Selection::All,
        top: 8,
        ..Options::default()
    };
    let a = collsynth::report::synth::synth_json(&spec, &run(&spec, &opts), false);
    let b = collsynth::report::synth::synth_json(&spec, &run(&spec, &opts), false);
    assert_eq!(a, b);
}

#[test]
fn pruning_keeps_the_best_placement() {
    // Best with pruning = best of all placements ranked without pruning.
    for path in [
        "specs/dgx-h100-x4-training-step.toml",
        "specs/e2e/three-level-dp4-mp2x2.toml",
    ] {
        let spec = support::load(path);
        let all = run(
            &spec,
            &Options {
                selection: Selection::All,
                check: false,
                ..Options::default()
            },
        );
        let best = run(
            &spec,
            &Options {
                check: false,
                ..Options::default()
            },
        );
        assert_eq!(best.placements.len(), 1);
        assert_eq!(Some(best.placements[0].index), all.best_index, "{path}");
        assert_eq!(all.placements[0].index, best.placements[0].index);
        assert!(best.placements[0].best);
        assert_eq!(
            best.stats.synthesized + best.stats.pruned,
            best.stats.placements
        );
        assert_eq!(all.stats.pruned, 0);
    }
}

/// The engines search different programs: the e-graph every program its rules
/// derive (of any length), the enumeration every correct program of up to 6 steps.
/// Each prices its plain best (`synth::pipeline_pool`) at their best chunk counts
/// before ranking, so their answers agree where those pools hold the same best;
/// on the example specs the e-graph's is never worse (its longer programs pipeline
/// better; the programs only enumeration finds, an all_reduce followed by a rooted
/// one, say, never win), and most agree exactly.
#[test]
fn the_egraph_is_never_worse_than_enumeration_on_the_example_specs() {
    let (mut same, mut compared) = (0, 0);
    for file in support::example_spec_files() {
        let path = support::path(&file);
        let spec = support::load(path);
        let opts = |engine| Options {
            engine,
            selection: Selection::All,
            check: false,
            top: 1,
            // The budget this comparison was established with (the default is lower
            // and cuts 4-dim shapes sooner).
            limits: collsynth::synth::enumerate::EnumLimits {
                node_budget: 200_000_000,
                ..Default::default()
            },
            ..Options::default()
        };
        let e = run(&spec, &opts(Engine::Egraph));
        let n = run(&spec, &opts(Engine::Enumerate));
        assert_eq!(e.placements.len(), n.placements.len());
        let by_index = |s: &Synthesis| -> BTreeMap<usize, Vec<f64>> {
            s.placements
                .iter()
                .map(|p| {
                    let costs = p
                        .results
                        .iter()
                        .map(|r| {
                            // A send_recv request is priced, not synthesized.
                            r.priced_s
                                .or(r.programs.first().map(|b| b.cost_s))
                                .expect("a program or a price")
                        })
                        .collect();
                    (p.index, costs)
                })
                .collect()
        };
        let (be, bn) = (by_index(&e), by_index(&n));
        for (index, ce) in &be {
            for (ri, (a, b)) in ce.iter().zip(&bn[index]).enumerate() {
                assert!(
                    a <= b,
                    "{path}, placement {index}, request {ri}: egraph {a} vs enumerate {b}"
                );
                compared += 1;
                same += usize::from(a == b);
            }
        }
        assert!(n
            .stats
            .enumerations
            .iter()
            .all(|r| r.stop_reason.exhaustive()));
    }
    assert!(
        10 * same >= 9 * compared,
        "{same} of {compared} agree exactly"
    );
}

#[test]
fn printed_costs_match_the_cost_model_program_by_program() {
    // The engines add up per-step costs on the shard each step runs under; the cost
    // model's own program_cost tracks the region independently.
    for file in support::example_spec_files() {
        let path = support::path(&file);
        let spec = support::load(path);
        let s = run(
            &spec,
            &Options {
                selection: Selection::All,
                check: false,
                ..Options::default()
            },
        );
        for p in &s.placements {
            for r in &p.results {
                let req = &spec.requests[r.request];
                for pr in &r.programs {
                    // What each device holds at the start: its shard for all_gather.
                    let bytes = collsynth::cost::program_bytes(&spec, req, req.bytes);
                    let plain =
                        collsynth::cost::program_cost(&spec, &p.placement, &pr.program, bytes);
                    let want = plain.total_s;
                    assert!(
                        close(pr.plain_s, want) || (pr.plain_s - want).abs() < 1e-14,
                        "{path}: {} {} vs {want}",
                        pr.program.text(&spec),
                        pr.plain_s
                    );
                    // The printed time is the program at its chunk count, never slower
                    // than plain.
                    let piped = collsynth::cost::pipelined_cost(&spec, &plain, pr.chunks).total_s;
                    assert!(
                        close(pr.cost_s, piped) || (pr.cost_s - piped).abs() < 1e-14,
                        "{path}: {} at {} chunks: {} vs {piped}",
                        pr.program.text(&spec),
                        pr.chunks,
                        pr.cost_s
                    );
                    assert!(pr.cost_s <= pr.plain_s * (1.0 + 1e-12));
                }
            }
        }
    }
}

#[test]
fn placements_with_one_shape_have_one_cost_per_step() {
    // Synthesis solves each (request, reduction dims) once and shares the answer: the
    // cost of every step on every shard must then be the same on every placement with
    // those reduction dims.
    use collsynth::placement::{enumerate, Placement};
    use collsynth::rules::{AbsStep, DimSet};
    use collsynth::synth::enumerate::alphabet;
    use collsynth::synth::shape::Shape;
    let mut compared = 0;
    for file in support::example_spec_files() {
        let path = support::path(&file);
        let spec = support::load(path);
        for (ri, req) in spec.requests.iter().enumerate() {
            let mut seen: BTreeMap<Shape, Vec<f64>> = BTreeMap::new();
            for m in enumerate(&spec) {
                let p = Placement::from_valid_matrix(m);
                let shape = Shape::of(&p, &req.axes);
                let k = shape.len();
                let mut costs = Vec::new();
                for a in alphabet(k) {
                    for shard in DimSet::all(k).minus(a.dims).subsets() {
                        let s = AbsStep { shard, ..a };
                        let bytes = req.bytes as f64 / shape.product(shard) as f64;
                        costs.push(
                            collsynth::cost::step_cost(&spec, &p, &shape.step(&s), bytes).time_s,
                        );
                    }
                }
                if let Some(prev) = seen.get(&shape) {
                    assert_eq!(
                        prev, &costs,
                        "{path}, request {ri}: same shape, different costs"
                    );
                    compared += 1;
                } else {
                    seen.insert(shape, costs);
                }
            }
        }
    }
    assert!(compared > 10, "{compared}");
}

/// The engines pipeline a pool of at least `synth::PIPELINE_POOL` candidates, so
/// `--top` up to it changes only how many programs are shown, never which placement
/// is best or what its best programs are. On this spec a pool of `top` alone made
/// `--top 1` pick placement 10 (98.74 ms) where `--top 5` found placement 6
/// (97.17 ms): a program worse plain that pipelines better.
#[test]
fn the_best_answer_does_not_depend_on_top() {
    let spec = support::load("specs/cluster-3level-dp64-mp16.toml");
    let answer = |top: usize| {
        let s = run(
            &spec,
            &Options {
                top,
                check: false,
                ..Options::default()
            },
        );
        let p = &s.placements[0];
        let firsts: Vec<(String, f64)> = p
            .results
            .iter()
            .map(|r| (r.programs[0].program.text(&spec), r.programs[0].cost_s))
            .collect();
        (p.index, firsts)
    };
    let all: Vec<_> = (1..=collsynth::synth::PIPELINE_POOL).map(answer).collect();
    assert_eq!(all[0].0, 6, "{:?}", all[0]);
    assert!(all.iter().all(|a| *a == all[0]), "{all:?}");
}

/// The pool of candidates pipelined (`synth::PIPELINE_POOL`) reaches programs that
/// are poor plain but pipeline best. On the suite's gen-3l-4096-3ax (node 16 ×
/// board 32 × gpu 8; 256 MB over data and model) the winner is 2.74× its bound
/// plain, not among the plain best 20, and 1.481× pipelined; a pool of 5 printed
/// 1.733× (C = 8).
#[test]
fn a_program_poor_plain_wins_pipelined() {
    let text = collsynth::bench::suite::generated_toml("gen-3l-4096-3ax").expect("a suite problem");
    let source = collsynth::source::Source::new("<gen-3l-4096-3ax>", text);
    let spec = collsynth::spec::parse(&source, None).unwrap();
    let s = run(
        &spec,
        &Options {
            check: false,
            ..Options::default()
        },
    );
    let r = &s.placements[0].results[1];
    let best = &r.programs[0];
    assert!(best.chunks > 1, "{}", best.program.text(&spec));
    assert!(
        best.plain_s / r.lower_bound_s > 2.5,
        "{}",
        best.plain_s / r.lower_bound_s
    );
    assert!(
        best.cost_s / r.lower_bound_s < 1.5,
        "{}",
        best.cost_s / r.lower_bound_s
    );
}
