//! The hot paths of synthesis not covered by `cost` and `proof`: placement
//! enumeration (the suite's 4,601-placement problem), saturation per dim count, k-best
//! extraction (plan built once, then per placement), the enumeration baseline on the
//! same oracle, and a whole `--placement best` synthesis with proofs.
//! `cargo bench --bench synth`.

#![allow(clippy::result_large_err)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};

use collsynth::bench::suite::generated_toml;
use collsynth::placement::{self, Placement};
use collsynth::program::Text;
use collsynth::rules::AbsStep;
use collsynth::rules::RuleSet;
use collsynth::source::Source;
use collsynth::spec::{self, Spec};
use collsynth::synth::backend::Standard;
use collsynth::synth::egraph::{self, Budgets};
use collsynth::synth::enumerate::{self, EnumLimits};
use collsynth::synth::extract::{self, Plan, StepOracle};
use collsynth::synth::shape::Shape;
use collsynth::synth::{self, Options};

fn generated(name: &str) -> Spec {
    let text = generated_toml(name).expect("a suite problem");
    spec::parse(&Source::new(name, text), None).expect("valid")
}

/// Step costs from the cost model for one placement's reduction dims.
struct Oracle<'a> {
    spec: &'a Spec,
    placement: &'a Placement,
    shape: Shape,
    bytes: u64,
}

impl StepOracle for Oracle<'_> {
    fn cost_fs(&self, s: &AbsStep) -> u128 {
        let bytes = self.bytes as f64 / self.shape.product(s.shard) as f64;
        extract::to_fs(
            collsynth::cost::step_cost(self.spec, self.placement, &self.shape.step(s), bytes)
                .time_s,
        )
    }

    fn text(&self, s: &AbsStep) -> String {
        Text(self.spec, &self.shape.step(s)).to_string()
    }
}

fn bench(c: &mut Criterion) {
    let big = generated("gen-5l-32768-4ax");
    c.bench_function(
        "placements/enumerate 4601 (32768 devices, 5 levels, 4 axes)",
        |b| b.iter(|| placement::enumerate(black_box(&big)).len()),
    );

    let rules = RuleSet::builtin();
    let rewrites = rules.compiled();
    let mut g = c.benchmark_group("saturate");
    for dims in 1..=4 {
        g.bench_function(format!("{dims} dims"), |b| {
            b.iter(|| egraph::saturate_with(rewrites, black_box(dims), Budgets::default()))
        });
    }
    g.finish();

    // A placement of the big problem with at least 3 data dims.
    let p = placement::enumerate(&big)
        .into_iter()
        .map(Placement::from_valid_matrix)
        .find(|p| Shape::of(p, &[0]).len() >= 3)
        .expect("a placement with 3 data dims");
    let mut g = c.benchmark_group("extract");
    for dims in 1..=3 {
        let full = Shape::of(&p, &[0]);
        let shape = Shape {
            dims: full.dims[..dims].to_vec(),
            sizes: full.sizes[..dims].to_vec(),
        };
        let oracle = Oracle {
            spec: &big,
            placement: &p,
            shape,
            bytes: 1_000_000_000,
        };
        let sat = egraph::saturate(&rules, dims, Budgets::default());
        let plan = Plan::new(&sat);
        g.bench_function(format!("plan {dims} dims"), |b| {
            b.iter(|| Plan::new(black_box(&sat)))
        });
        for k in [5, synth::PIPELINE_POOL] {
            g.bench_function(format!("k_best {k}, {dims} dims"), |b| {
                b.iter(|| plan.k_best(k, &oracle))
            });
        }
        if dims <= 2 {
            for k in [5, synth::PIPELINE_POOL] {
                g.bench_function(
                    format!("enumerate k_best {k}, {dims} dims (baseline)"),
                    |b| b.iter(|| enumerate::k_best(dims, k, EnumLimits::default(), &oracle)),
                );
            }
        }
    }
    g.finish();

    // The engines as `collsynth bench` times them (`engine_s`: saturation and
    // extraction, or the search; no proofs, no pipelining) on a 2-dim problem.
    let backend = Standard::default();
    let two = Spec::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/specs/dgx-a100-x2-dp16.toml"
    )))
    .expect("the example spec");
    let mut g = c.benchmark_group("engine");
    for engine in [synth::Engine::Egraph, synth::Engine::Enumerate] {
        let opts = Options {
            engine,
            check: false,
            ..Options::default()
        };
        g.bench_function(format!("{engine:?}, 2 dims: dgx-a100-x2-dp16"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        synth::synthesize(&two, &backend, &rules, &opts)
                            .expect("synthesizes")
                            .stats
                            .engine_time
                    })
                    .sum()
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("synthesize");
    g.sample_size(10);
    for (name, spec) in [
        ("embedded default", Spec::embedded_default()),
        ("gen-2l-64-2ax", generated("gen-2l-64-2ax")),
        ("gen-5l-32768-4ax", big.clone()),
    ] {
        g.bench_function(format!("best placement, proofs on: {name}"), |b| {
            b.iter(|| synth::synthesize(&spec, &backend, &rules, &Options::default()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
