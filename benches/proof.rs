//! Proof time of a 3-step and a 6-step program on placements of 64, 4,096 and
//! 262,144 devices (z3), next to the reference interpreter on the sizes it can run.
//! `cargo bench --bench proof`.

#![allow(clippy::result_large_err)]

#[path = "../tests/support/spec.rs"]
mod spec;

use criterion::{criterion_group, criterion_main, Criterion};

use collsynth::lowered;
use collsynth::placement::Placement;
use collsynth::program::parse_program;
use collsynth::semantics;
use collsynth::spec::Spec;
use collsynth::verdict::Verdict;
use collsynth::verify::{self, SmtOptions};
use spec::SpecText;

/// Levels node (100 GB/s, 5 us) and gpu (235 GB/s, 1 us), axes data and model, as
/// `matrix` makes them; one all_reduce of 1000 bytes over `request`.
fn spec_for(matrix: &[Vec<u64>], request: &[&str]) -> Spec {
    SpecText::fitting(&["node", "gpu"], &["data", "model"], matrix)
        .links(&[("100 GB/s", "5 us"), ("235 GB/s", "1 us")])
        .named("bench")
        .all_reduce(request)
        .bytes(1000)
        .spec()
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
