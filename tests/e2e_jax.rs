//! End-to-end on JAX: the emitted modules run under `shard_map` on CPU host devices
//! (`--xla_force_host_platform_device_count`) and every device ends with exactly
//! what its request asks for (the sum over its reduction group, its shard of it for
//! reduce_scatter, the group's shards in shard order for all_gather); wrong
//! programs are caught.
//!
//! Needs a Python with jax: `$COLLSYNTH_JAX_PYTHON`, else the venv that
//! `scripts/setup` makes (`${XDG_CACHE_HOME:-$HOME/.cache}/collsynth/jax-venv`).
//! Without one the test is skipped with a printed notice, and fails under `CI=true`.

mod support;

use std::process::Command;

use collsynth::emit::{self, EmitError, Proof, Unit};
use collsynth::program::parse_program;
use serde_json::json;
use support::e2e::*;
use support::{load, root, tempdir};

/// The rank of every axis-coordinate vector, row-major over the spec's axes: what
/// `axis_mesh()` must hold, device by device.
fn axis_ranks(spec: &collsynth::spec::Spec, p: &collsynth::placement::Placement) -> Vec<u64> {
    let sizes: Vec<u64> = spec.axes.iter().map(|a| a.size).collect();
    let total: u64 = sizes.iter().product();
    (0..total)
        .map(|mut i| {
            let mut coords = vec![0; sizes.len()];
            for (c, s) in coords.iter_mut().zip(&sizes).rev() {
                *c = i % s;
                i /= s;
            }
            p.rank_of_coords(&coords)
        })
        .collect()
}

#[test]
fn jax_modules_compute_exact_sums_on_cpu_host_devices() {
    let Some(python) = require("e2e_jax", jax_python()) else {
        return;
    };
    let dir = tempdir();
    let mut cases = Vec::new();
    let mut module = |spec: &collsynth::spec::Spec, units: &[Unit], file: String| {
        let path = dir.path().join(file);
        std::fs::write(&path, emit::jax::render(spec, units).unwrap()).unwrap();
        for u in units {
            let mut case = case_fields(spec, u);
            case["module"] = json!(path.to_string_lossy());
            case["function"] = json!(u.name.replace('.', "_"));
            case["axis_ranks"] = json!(axis_ranks(spec, &u.placement));
            cases.push(case);
        }
    };
    let mut expected_ok = 0;
    let mut not_expressible = Vec::new();
    for (si, path) in e2e_specs().iter().enumerate() {
        let spec = load(path);
        let mut by_placement: std::collections::BTreeMap<usize, Vec<Unit>> = Default::default();
        for u in synthesized_units(&spec, TOP).into_iter().map(plain) {
            // Inside shard_map every device runs the same shapes: a reduce_scatter or
            // all_gather at roots has no JAX form, and the emitter says so.
            match emit::jax::render(&spec, std::slice::from_ref(&u)) {
                Ok(_) => {
                    // The best of each placement again, pipelined over 3 chunks.
                    if u.name.ends_with(".k0") {
                        by_placement
                            .entry(u.placement_index)
                            .or_default()
                            .push(pipelined(&u, 3));
                    }
                    by_placement.entry(u.placement_index).or_default().push(u)
                }
                Err(EmitError::RootedShapeChange { .. }) => not_expressible.push(u.name),
                Err(e) => panic!("{}: {e}", u.name),
            }
        }
        for (p, us) in by_placement {
            expected_ok += us.len();
            module(&spec, &us, format!("s{si}_p{p}.py"));
        }
    }
    // A mutant that reduces over an extra dim of another axis.
    let spec = load("specs/e2e/two-node-dp4-mp2.toml");
    let wrong = parse_program(
        &spec,
        "all_reduce(gpu:data, gpu:model) ; all_reduce(node:data)",
    )
    .unwrap();
    module(
        &spec,
        &[unit(
            &spec,
            1,
            0,
            "mutant_extra".into(),
            wrong,
            Proof::Unchecked,
        )],
        "mutant.py".into(),
    );
    // A sharded mutant: the flat reduce_scatter where the placement's dims do not
    // follow the request's shard numbering (data, model): every device ends with a
    // shard, but not the one the request numbers.
    let spec = load("specs/e2e/two-node-dp4-mp2-shards2.toml");
    let flat = parse_program(&spec, "reduce_scatter(node:model, gpu:data)").unwrap();
    module(
        &spec,
        &[unit(
            &spec,
            0,
            0,
            "mutant_shard".into(),
            flat,
            Proof::Unchecked,
        )],
        "mutant_shard.py".into(),
    );
    let sharded = cases
        .iter()
        .filter(|c| c["collective"] != "all_reduce")
        .count();
    assert!(sharded >= 12, "{sharded} sharded cases");
    let cases_file = dir.path().join("cases.json");
    std::fs::write(
        &cases_file,
        serde_json::to_string(&json!({"devices": 16, "cases": cases})).unwrap(),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = Command::new(&python)
        .arg(root().join("tests/e2e/jax_check.py"))
        .arg(&cases_file)
        .output()
        .unwrap();
    let text = support::cli::text(&out);
    eprintln!(
        "jax: {} cases in {:.1} s with {} ({} synthesized programs have rooted reduce_scatter/all_gather, which JAX cannot express: {:?})",
        expected_ok + 2,
        started.elapsed().as_secs_f64(),
        python.display(),
        not_expressible.len(),
        not_expressible
    );
    assert_eq!(out.status.code(), Some(1), "the mutants must fail:\n{text}");
    assert!(
        text.contains(&format!("jax check: {} cases, 2 wrong", expected_ok + 2)),
        "{text}"
    );
    assert!(text.contains("FAIL mutant_extra: rank "), "{text}");
    assert!(text.contains("FAIL mutant_shard: rank "), "{text}");
}
