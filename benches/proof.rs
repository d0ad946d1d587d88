//! Proof time of a 3-step and a 6-step program on placements of 64, 4,096 and
//! 262,144 devices (z3), next to the reference interpreter on the sizes it can run.
//! `cargo bench --bench proof`.

#![allow(clippy::result_large_err)]

use criterion::{criterion_group, criterion_main, Criterion};

use collsynth::lowered;
use collsynth::placement::Placement;
use collsynth::program::parse_program;
use collsynth::semantics;
use collsynth::source::Source;
use collsynth::spec::{self, Spec};
use collsynth::verdict::Verdict;
use collsynth::verify::{self, SmtOptions};

fn spec_for(matrix: &[Vec<u64>], request: &[&str]) -> Spec {
    let size = |a: usize| matrix[a].iter().product::<u64>();
    let arity = |l: usize| matrix.iter().map(|r| r[l]).product::<u64>();
    let t = format!(
        "axes = [{{ name = \"data\", size = {} }}, {{ name = \"model\", size = {} }}]\n\
         [system]\nname = \"bench\"\nlevels = [\n\
         {{ name = \"node\", arity = {}, bandwidth = \"100 GB/s\", latency = \"5 us\" }},\n\
         {{ name = \"gpu\", arity = {}, bandwidth = \"235 GB/s\", latency = \"1 us\" }}]\n\
         [[request]]\ncollective = \"all_reduce\"\naxes = [{}]\nbytes = 1000\n",
        size(0),
        size(1),
        arity(0),
        arity(1),
        request
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    spec::parse(&Source::new("<bench>", t), None).expect("bench spec")
}

const THREE: &str = "reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)";
const SIX: &str = "reduce_scatter(gpu:data) ; reduce_scatter(gpu:model) ; all_reduce(node:data) ; \
                   all_reduce(node:model) ; all_gather(gpu:model) ; all_gather(gpu:data)";

/// Name, program, requested axes, matrix.
type Case = (
    &'static str,
    &'static str,
    &'static [&'static str],
    Vec<Vec<u64>>,
);

fn bench(c: &mut Criterion) {
    let cases: [Case; 6] = [
        ("3-step", THREE, &["data"], vec![vec![8, 8], vec![1, 1]]),
        ("3-step", THREE, &["data"], vec![vec![64, 64], vec![1, 1]]),
        ("3-step", THREE, &["data"], vec![vec![64, 4096], vec![1, 1]]),
        (
            "6-step",
            SIX,
            &["data", "model"],
            vec![vec![2, 4], vec![2, 4]],
        ),
        (
            "6-step",
            SIX,
            &["data", "model"],
            vec![vec![8, 8], vec![8, 8]],
        ),
        (
            "6-step",
            SIX,
            &["data", "model"],
            vec![vec![8, 64], vec![8, 64]],
        ),
    ];
    let mut g = c.benchmark_group("proof");
    g.sample_size(20);
    for (name, text, request, matrix) in cases {
        let spec = spec_for(&matrix, request);
        let placement = Placement::new(&spec, matrix).expect("placement");
        let program = parse_program(&spec, text).expect("program");
        let axes = spec.requests[0].axes.clone();
        let n = placement.devices();
        let opts = SmtOptions::default();
        assert_eq!(
            verify::prove(&spec, &placement, &axes, &program, &opts),
            Ok(Verdict::Proved)
        );
        g.bench_function(format!("smt/{name}/{n}"), |b| {
            b.iter(|| verify::prove(&spec, &placement, &axes, &program, &opts))
        });
        let low = lowered::lower(&placement, &program);
        if semantics::interpreter_cells(&placement, &low) <= 1 << 24 {
            g.bench_function(format!("interpreter/{name}/{n}"), |b| {
                b.iter(|| semantics::run(&spec, &placement, &axes, &low))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
