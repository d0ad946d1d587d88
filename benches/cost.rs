//! Costing one dim-structured step of a 32,768-device placement: the closed form
//! visits levels and dims, never devices, so this stays far under 1 ms.

#[path = "../tests/support/spec.rs"]
mod spec;

use std::hint::black_box;

use collsynth::cost::{lower_bound, step_cost};
use collsynth::placement::Placement;
use collsynth::program::{Collective, DimRef, Step};
use collsynth::spec::Spec;
use criterion::{criterion_group, criterion_main, Criterion};
use spec::SpecText;

/// A 5-level system with the given arities and a placement of four axes (data,
/// model, pipe, expert) given as a matrix; the axis sizes are the row products.
fn system(arities: [u64; 5], matrix: Vec<Vec<u64>>) -> (Spec, Placement) {
    let links = [
        ("pod", "25 GB/s", "10 us"),
        ("rack", "50 GB/s", "5 us"),
        ("node", "100 GB/s", "5 us"),
        ("board", "200 GB/s", "2 us"),
        ("gpu", "235 GB/s", "1 us"),
    ];
    let mut t = SpecText::new().named("32k").launch("5 us");
    for ((name, bandwidth, latency), arity) in links.into_iter().zip(arities) {
        t = t.level(name, arity).link(bandwidth, latency);
    }
    for (name, row) in ["data", "model", "pipe", "expert"].iter().zip(&matrix) {
        t = t.axis(name, row.iter().product());
    }
    let spec = t.all_reduce(&["data"]).bytes(1_000_000_000).spec();
    let placement = Placement::new(&spec, matrix).expect("the matrix fits");
    (spec, placement)
}

/// The all_reduce over every data dim of a placement.
fn data_step(placement: &Placement) -> Step {
    let data = placement
        .dims
        .iter()
        .filter(|d| d.axis == 0)
        .map(|d| DimRef {
            level: d.level,
            axis: d.axis,
        })
        .collect();
    Step::new(Collective::AllReduce, data)
}

fn bench(c: &mut Criterion) {
    // 2 × 4 × 8 × 64 × 8 = 32,768 devices; data 128, model 8, pipe 8, expert 4.
    let (spec, placement) = system(
        [2, 4, 8, 64, 8],
        vec![
            vec![2, 4, 2, 4, 2],
            vec![1, 1, 2, 2, 2],
            vec![1, 1, 2, 2, 2],
            vec![1, 1, 1, 4, 1],
        ],
    );
    assert_eq!(placement.devices(), 32_768);
    let step = data_step(&placement);
    c.bench_function("step_cost 32768 devices, 5 levels", |b| {
        b.iter(|| {
            step_cost(
                black_box(&spec),
                black_box(&placement),
                black_box(&step),
                1e9,
            )
        })
    });
    // For comparison, 2 × 2 × 2 × 2 × 2 = 32 devices (5 dims instead of 12): the figure
    // follows levels and dims, not devices.
    let (small_spec, small) = system(
        [2, 2, 2, 2, 2],
        vec![
            vec![2, 2, 1, 2, 1],
            vec![1, 1, 2, 1, 1],
            vec![1, 1, 1, 1, 2],
            vec![1, 1, 1, 1, 1],
        ],
    );
    let small_step = data_step(&small);
    c.bench_function("step_cost 32 devices, 5 levels", |b| {
        b.iter(|| {
            step_cost(
                black_box(&small_spec),
                black_box(&small),
                black_box(&small_step),
                1e9,
            )
        })
    });
    c.bench_function("lower_bound 32768 devices, 5 levels", |b| {
        b.iter(|| lower_bound(black_box(&spec), black_box(&placement), &spec.requests[0]))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
