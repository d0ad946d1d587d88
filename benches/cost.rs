//! Costing one dim-structured step of a 32,768-device placement: the closed form
//! visits levels and dims, never devices, so this stays far under 1 ms.

use std::hint::black_box;

use collsynth::cost::{lower_bound, step_cost};
use collsynth::placement::Placement;
use collsynth::program::{Collective, DimRef, Step};
use collsynth::spec::{Axis, Level, Request, RequestKind, Spec, System};
use criterion::{criterion_group, criterion_main, Criterion};

/// 5 levels 2 × 4 × 8 × 64 × 8 = 32,768 devices; axes data 128, model 8, pipe 8,
/// expert 4.
fn big() -> (Spec, Placement) {
    let level = |name: &str, arity: u64, gbs: f64, us: f64| Level {
        name: name.into(),
        arity,
        bandwidth_bps: gbs * 1e9,
        latency_s: us * 1e-6,
    };
    let axis = |name: &str, size: u64| Axis {
        name: name.into(),
        size,
    };
    let request = Request {
        collective: RequestKind::AllReduce,
        axes: vec![0],
        bytes: 1_000_000_000,
        count: 1,
    };
    let spec = Spec {
        source: "<bench>".into(),
        axes: vec![axis("data", 128), axis("model", 8), axis("pipe", 8), axis("expert", 4)],
        system: System {
            name: "32k".into(),
            launch_s: 5e-6,
            levels: vec![
                level("pod", 2, 25.0, 10.0),
                level("rack", 4, 50.0, 5.0),
                level("node", 8, 100.0, 5.0),
                level("board", 64, 200.0, 2.0),
                level("gpu", 8, 235.0, 1.0),
            ],
        },
        requests: vec![request],
    };
    // Columns multiply to 2, 4, 8, 64, 8; rows to 128, 8, 8, 4.
    let matrix = vec![
        vec![2, 4, 2, 4, 2],
        vec![1, 1, 2, 2, 2],
        vec![1, 1, 2, 2, 2],
        vec![1, 1, 1, 4, 1],
    ];
    let placement = Placement::new(&spec, matrix).expect("the matrix fits");
    (spec, placement)
}

fn bench(c: &mut Criterion) {
    let (spec, placement) = big();
    assert_eq!(placement.devices(), 32_768);
    let data: Vec<DimRef> = placement
        .dims
        .iter()
        .filter(|d| d.axis == 0)
        .map(|d| DimRef {
            level: d.level,
            axis: d.axis,
        })
        .collect();
    let step = Step::new(Collective::AllReduce, data);
    c.bench_function("step_cost 32768 devices, 5 levels", |b| {
        b.iter(|| step_cost(black_box(&spec), black_box(&placement), black_box(&step), 1e9))
    });
    c.bench_function("lower_bound 32768 devices, 5 levels", |b| {
        b.iter(|| lower_bound(black_box(&spec), black_box(&placement), &spec.requests[0]))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
