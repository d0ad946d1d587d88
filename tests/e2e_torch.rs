//! End-to-end for the torch target. Every emitted module is byte-compiled by
//! `/usr/bin/python3 -m py_compile`, and its process groups, mesh and group handles
//! are read back with a torch stand-in (tests/e2e/torch_stub, on sys.path only for
//! that) and compared with the lowered form. With a Python that has torch
//! (`$COLLSYNTH_TORCH_PYTHON`, `/usr/bin/python3` with Debian's `python3-torch`, as
//! `scripts/setup` installs it, or `python3`), the modules also run for real on gloo
//! and are checked exactly on random integers, and the DDP hook is checked against
//! plain DDP; without one those tests are skipped with a notice, and fail under
//! `CI=true`.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use collsynth::emit::{self, Unit};
use collsynth::placement::Placement;
use collsynth::spec::Spec;
use serde_json::{json, Value};
use support::cli::{self, run};
use support::e2e::*;
use support::{load, path, root, tempdir};

fn py_compile(path: &Path) {
    let out = Command::new(PYTHON)
        .args(["-m", "py_compile"])
        .arg(path)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        cli::text(&out)
    );
}

/// `mesh[c_0][c_1]... = rank`, built rank by rank from the coordinates.
fn mesh_ranks(spec: &Spec, p: &Placement) -> Value {
    fn empty(sizes: &[u64]) -> Value {
        match sizes.split_first() {
            None => json!(null),
            Some((&s, rest)) => Value::Array((0..s).map(|_| empty(rest)).collect()),
        }
    }
    let sizes: Vec<u64> = spec.axes.iter().map(|a| a.size).collect();
    let mut mesh = empty(&sizes);
    for r in 0..p.devices() {
        let mut cell = &mut mesh;
        for c in p.coords(r) {
            cell = &mut cell[c as usize];
        }
        *cell = json!(r);
    }
    mesh
}

/// For each axis: the groups of devices that differ only on that axis.
fn axis_groups(spec: &Spec, p: &Placement) -> Vec<Vec<Vec<u64>>> {
    (0..spec.axes.len())
        .map(|a| {
            let mut by: BTreeMap<Vec<u64>, Vec<u64>> = BTreeMap::new();
            for r in 0..p.devices() {
                let mut c = p.coords(r);
                c.remove(a);
                by.entry(c).or_default().push(r);
            }
            let mut g: Vec<Vec<u64>> = by.into_values().collect();
            g.sort();
            g
        })
        .collect()
}

fn expected(spec: &Spec, units: &[Unit]) -> Value {
    let p = &units[0].placement;
    let programs: serde_json::Map<String, Value> = units
        .iter()
        .map(|u| {
            let steps: Vec<Value> = u
                .lowered
                .steps
                .iter()
                .map(|s| json!([s.collective.name(), s.groups]))
                .collect();
            (u.name.replace('.', "_"), Value::Array(steps))
        })
        .collect();
    json!({
        "devices": spec.devices(),
        "programs": programs,
        "mesh_ranks": mesh_ranks(spec, p),
        "axis_groups": axis_groups(spec, p),
    })
}

/// The top synthesized programs of every e2e placement, one module per placement,
/// run plain; with `with_pipelined`, each best one (`.k0`) also as a copy pipelined over 3 chunks
/// (`NAME.c3`: its own process group per step, chunks in flight together).
fn modules_of_every_e2e_placement(
    dir: &Path,
    with_pipelined: bool,
) -> Vec<(PathBuf, Spec, Vec<Unit>)> {
    let mut out = Vec::new();
    for (si, path) in e2e_specs().iter().enumerate() {
        let spec = load(path);
        let mut by_placement: BTreeMap<usize, Vec<Unit>> = BTreeMap::new();
        for u in synthesized_units(&spec, TOP).into_iter().map(plain) {
            if with_pipelined && u.name.ends_with(".k0") {
                by_placement
                    .entry(u.placement_index)
                    .or_default()
                    .push(pipelined(&u, 3));
            }
            by_placement.entry(u.placement_index).or_default().push(u);
        }
        for (p, units) in by_placement {
            let file = dir.join(format!("torch_s{si}_p{p}.py"));
            std::fs::write(&file, emit::torch::render(&spec, &units).unwrap()).unwrap();
            out.push((file, spec.clone(), units));
        }
    }
    out
}

#[test]
fn torch_modules_compile_and_create_exactly_the_lowered_groups() {
    if require("e2e_torch", python_with("numpy")).is_none() {
        return;
    }
    let dir = tempdir();
    let modules = modules_of_every_e2e_placement(dir.path(), false);
    assert!(modules.len() >= 10, "{} modules", modules.len());
    for (file, spec, units) in &modules {
        py_compile(file);
        let exp = dir.path().join("expected.json");
        std::fs::write(&exp, expected(spec, units).to_string()).unwrap();
        let out = Command::new(PYTHON)
            .arg(root().join("tests/e2e/torch_groups.py"))
            .arg(file)
            .arg(&exp)
            .output()
            .unwrap();
        let text = cli::text(&out);
        assert!(out.status.success(), "{}:\n{text}", file.display());
        assert!(text.contains("torch groups ok"), "{text}");
    }
}

/// The comparison can fail: a module whose groups were tampered with is caught.
#[test]
fn torch_group_comparison_catches_a_wrong_group() {
    if require("e2e_torch tamper", python_with("numpy")).is_none() {
        return;
    }
    let dir = tempdir();
    let spec = load("specs/e2e/two-node-dp4-mp2.toml");
    let units: Vec<Unit> = synthesized_units(&spec, TOP)
        .into_iter()
        .filter(|u| u.placement_index == 1)
        .map(plain)
        .collect();
    let file = dir.path().join("tampered.py");
    let text = emit::torch::render(&spec, &units).unwrap();
    // Swap the last members of the first two groups of a step with several groups.
    let groups = units
        .iter()
        .flat_map(|u| &u.lowered.steps)
        .map(|s| &s.groups)
        .find(|g| g.len() >= 2 && g[0].len() >= 2)
        .expect("a step with several groups")
        .clone();
    let mut swapped = groups.clone();
    let (a, b) = (swapped[0].len() - 1, swapped[1].len() - 1);
    let t = swapped[0][a];
    swapped[0][a] = swapped[1][b];
    swapped[1][b] = t;
    let tampered = text.replacen(&format!("{groups:?}"), &format!("{swapped:?}"), 1);
    assert_ne!(tampered, text);
    std::fs::write(&file, tampered).unwrap();
    let exp = dir.path().join("expected.json");
    std::fs::write(&exp, expected(&spec, &units).to_string()).unwrap();
    let out = Command::new(PYTHON)
        .arg(root().join("tests/e2e/torch_groups.py"))
        .arg(&file)
        .arg(&exp)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", cli::text(&out));
    assert!(cli::text(&out).contains("FAIL"), "{}", cli::text(&out));
}

/// Where torch is installed (`scripts/setup` installs Debian's), the modules of every
/// placement of every spec in `specs/e2e/` run for real on gloo (CPU), every
/// synthesized top program synchronously and with `async_op=True`, at two buffer
/// sizes, compared exactly with the sums; under `CI=true` torch must be installed.
#[test]
fn torch_modules_run_on_gloo_where_torch_is_installed() {
    let torch = torch_python().map_err(|why| {
        format!("{why}; the torch output was byte-compiled and its groups compared instead")
    });
    let Some(python) = require("e2e_torch gloo run", torch) else {
        return;
    };
    let dir = tempdir();
    let mut by_spec: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
    let mut runs = Vec::new();
    for (file, spec, units) in modules_of_every_e2e_placement(dir.path(), true) {
        let cases = by_spec.entry(spec.devices()).or_default();
        for u in &units {
            let mut case = case_fields(&spec, u);
            case["module"] = json!(file.to_string_lossy());
            case["function"] = json!(u.name.replace('.', "_"));
            cases.push(case);
        }
    }
    // One world per device count: every module of that size runs in the same processes.
    for (devices, cases) in by_spec {
        let cases_file = dir.path().join(format!("cases{devices}.json"));
        let n = cases.len();
        std::fs::write(
            &cases_file,
            json!({"devices": devices, "cases": cases}).to_string(),
        )
        .unwrap();
        let out = Command::new(&python)
            .arg(root().join("tests/e2e/torch_run.py"))
            .arg(&cases_file)
            .output()
            .unwrap();
        let text = cli::text(&out);
        assert!(out.status.success(), "{devices} devices:\n{text}");
        assert!(
            text.contains(&format!("torch check: {n} cases, 0 failing lines")),
            "{text}"
        );
        runs.push(n);
    }
    assert!(runs.iter().sum::<usize>() >= 55, "{runs:?}");
}

/// On gloo, a sharded program that leaves the wrong shards is caught: the flat
/// reduce_scatter over (data, model) where the dims do not follow that numbering,
/// and an all_gather whose steps run in the wrong order; beside them the programs
/// one level at a time pass, plain and pipelined, through the module's functions and
/// its FSDP-shaped `reduce_scatter_tensor` / `all_gather_into_tensor`.
#[test]
fn torch_sharded_mutants_fail_on_gloo_and_per_level_programs_pass() {
    let Some(python) = require("e2e_torch sharded mutants", torch_python()) else {
        return;
    };
    let dir = tempdir();
    let spec = load("specs/e2e/two-node-dp4-mp2-shards2.toml");
    let program = |t: &str| collsynth::program::parse_program(&spec, t).unwrap();
    let (good, bad) = (
        collsynth::emit::Proof::Proved("test".into()),
        collsynth::emit::Proof::Unchecked,
    );
    let units = vec![
        unit(
            &spec,
            0,
            0,
            "rs_flat".into(),
            program("reduce_scatter(node:model, gpu:data)"),
            bad.clone(),
        ),
        unit(
            &spec,
            0,
            0,
            "rs_levels".into(),
            program("reduce_scatter(gpu:data) ; reduce_scatter(node:model)"),
            good.clone(),
        ),
        pipelined(
            &unit(
                &spec,
                0,
                0,
                "rs_levels".into(),
                program("reduce_scatter(gpu:data) ; reduce_scatter(node:model)"),
                good.clone(),
            ),
            2,
        ),
        unit(
            &spec,
            0,
            2,
            "ag_swapped".into(),
            program("all_gather(node:model) ; all_gather(gpu:data)"),
            bad,
        ),
        unit(
            &spec,
            0,
            2,
            "ag_flat".into(),
            program("all_gather(node:model, gpu:data)"),
            good.clone(),
        ),
        pipelined(
            &unit(
                &spec,
                0,
                1,
                "ag_levels".into(),
                program("all_gather(node:model) ; all_gather(gpu:data)"),
                good,
            ),
            3,
        ),
    ];
    let file = dir.path().join("sharded.py");
    std::fs::write(&file, emit::torch::render(&spec, &units).unwrap()).unwrap();
    let cases: Vec<Value> = units
        .iter()
        .map(|u| {
            let mut case = case_fields(&spec, u);
            case["module"] = json!(file.to_string_lossy());
            case["function"] = json!(u.name.replace('.', "_"));
            case
        })
        .collect();
    let cases_file = dir.path().join("cases.json");
    std::fs::write(
        &cases_file,
        json!({"devices": 8, "cases": cases}).to_string(),
    )
    .unwrap();
    let out = Command::new(&python)
        .arg(root().join("tests/e2e/torch_run.py"))
        .arg(&cases_file)
        .output()
        .unwrap();
    let text = cli::text(&out);
    assert!(!out.status.success(), "{text}");
    for name in ["rs_levels", "rs_levels_c2", "ag_flat", "ag_levels_c3"] {
        assert!(
            text.contains(&format!("sharded.py {name}\n")),
            "{name} did not pass:\n{text}"
        );
    }
    for name in ["rs_flat", "ag_swapped"] {
        assert!(
            text.contains(&format!("sharded.py {name}: ")),
            "{name} not caught:\n{text}"
        );
    }
}

/// In a training loop: DistributedDataParallel with the emitted `ddp_comm_hook` gives
/// the same gradients as plain DDP (float32, rtol 1e-5, atol 1e-6, over 3 SGD steps
/// of a small model, 8 processes on gloo), `average: False` gives the sums, the gloo
/// fallback warns once, and `device_mesh()` refuses torch < 2.2 with the reason.
#[test]
fn ddp_comm_hook_matches_plain_ddp_on_gloo() {
    let Some(python) = require("e2e_torch ddp hook", torch_python()) else {
        return;
    };
    let dir = tempdir();
    let file = dir.path().join("ddp.py");
    let out = run(
        &[
            "emit",
            "--target",
            "torch",
            "--spec",
            "specs/e2e/two-node-dp8.toml",
            "-o",
            path(&file),
        ],
        None,
    );
    assert!(out.status.success(), "{}", cli::text(&out));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(
            "# program:   reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)"
        ),
        "the hook test wants a program with atoms > 1 and a reduce_scatter:\n{text}"
    );
    let out = Command::new(&python)
        .arg(root().join("tests/e2e/torch_ddp.py"))
        .arg(&file)
        .arg("8")
        .output()
        .unwrap();
    let text = cli::text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ddp ok: max |difference|"), "{text}");
    println!("{}", text.trim());
}

/// Through the command line: the torch module names its origin in the header.
#[test]
fn emit_torch_names_spec_placement_request_and_program() {
    let dir = tempdir();
    let prog = dir.path().join("p.txt");
    std::fs::write(
        &prog,
        "reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)",
    )
    .unwrap();
    let file = dir.path().join("m.py");
    let out = run(
        &[
            "emit",
            "--target",
            "torch",
            "--spec",
            "specs/e2e/two-node-dp4-mp2.toml",
            "--matrix",
            "2,2;1,2",
            "--program-file",
            path(&prog),
            "-o",
            path(&file),
        ],
        None,
    );
    assert!(out.status.success(), "{}", cli::text(&out));
    let text = std::fs::read_to_string(&file).unwrap();
    for want in [
        "# Generated by collsynth ",
        "two-node-dp4-mp2.toml",
        "# placement: 1, matrix \"2,2;1,2\" (dims node:data, gpu:data, gpu:model)",
        "# request:   0: all_reduce over data, 4000000 bytes per device",
        "# program:   reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)",
        "# proof:     proved correct by the SMT verifier (z3)",
        "def all_reduce_data(tensor, async_op=False):",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    if require("e2e_torch header py_compile", python_with("numpy")).is_some() {
        py_compile(&file);
    }
}

/// Through the command line with no program: every request of the spec gets the best
/// placement's best synthesized program, one function each; `--program K` takes the
/// K-th and names it in the header; a K past the ranking is an input error.
#[test]
fn emit_defaults_to_the_best_placements_best_program_for_every_request() {
    let spec_path = "specs/e2e/four-node-dp8-mp2.toml";
    let spec = load(spec_path);
    let result = collsynth::synth::synthesize(
        &spec,
        &collsynth::synth::backend::Standard::default(),
        &collsynth::rules::RuleSet::builtin(),
        &collsynth::synth::Options {
            top: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let best = &result.placements[0];
    assert_eq!(Some(best.index), result.best_index);
    let dir = tempdir();
    let emit = |extra: &[&str], file: &str| {
        let out_path = dir.path().join(file);
        let mut args = vec!["emit", "--target", "torch", "--spec", spec_path];
        args.extend(extra);
        args.extend(["-o", path(&out_path)]);
        (run(&args, None), out_path)
    };
    for (k, extra) in [(0, vec![]), (1, vec!["--program", "1"])] {
        let (out, path) = emit(&extra, &format!("k{k}.py"));
        assert!(out.status.success(), "{}", cli::text(&out));
        let text = std::fs::read_to_string(&path).unwrap();
        let matrix = best.placement.matrix_text();
        assert!(
            text.contains(&format!("# placement: {}, matrix \"{matrix}\"", best.index)),
            "{text}"
        );
        assert!(text.contains("# [all_reduce_data]"), "{text}");
        assert!(text.contains("# [all_reduce_model]"), "{text}");
        for (r, f) in [(0, "all_reduce_data"), (1, "all_reduce_model")] {
            let program = best.results[r].programs[k].program.text(&spec);
            assert!(
                text.contains(&format!("# program:   {program}\n")),
                "request {r} program {k} `{program}` missing:\n{text}"
            );
            assert!(
                text.contains(&format!("def {f}(tensor, async_op=False):")),
                "{text}"
            );
        }
        assert!(
            text.contains("# proof:     proved correct by the SMT verifier (z3), during synthesis"),
            "{text}"
        );
        if require("e2e_torch default py_compile", python_with("numpy")).is_some() {
            py_compile(&path);
        }
    }
    let (out, path) = emit(&["--program", "1000"], "far.py");
    assert_eq!(out.status.code(), Some(2), "{}", cli::text(&out));
    assert!(
        cli::text(&out).contains("--program 1000: synthesis found"),
        "{}",
        cli::text(&out)
    );
    assert!(!path.exists());
}
