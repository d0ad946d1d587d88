//! The end-to-end tests' helpers: the tools they need (Open MPI and a Python with
//! mpi4py, JAX, torch) and what happens when one is missing ([`require`]), the
//! programs to run (synthesized), and running one `mpirun` over an emitted script.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use collsynth::emit::{synthesized, Proof, Unit};
use collsynth::lowered;
use collsynth::placement::{self, Placement};
use collsynth::program::Program;
use collsynth::rules::RuleSet;
use collsynth::semantics;
use collsynth::spec::Spec;
use collsynth::synth::{self, backend::Standard, Options, Selection};

/// The Python that has mpi4py and numpy (Debian's), as the project's setup installs it.
pub const PYTHON: &str = "/usr/bin/python3";

/// The e2e specs (`specs/e2e/*.toml`), sorted, as absolute paths.
pub fn e2e_specs() -> Vec<PathBuf> {
    super::spec_files("specs/e2e")
        .into_iter()
        .map(|p| super::root().join(p))
        .collect()
}

// ------------------------------------------------------------------ tools

/// Whether this run is under CI (`CI=true`, as CI services set it): there a missing
/// tool fails the test rather than skipping it.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

/// What a test needs: `tool` is `Ok` with what was found, or `Err` saying why it is
/// missing. Found: `Some`. Missing: under CI (`CI=true`) the test fails here, naming
/// `test` and why; elsewhere a visible notice says the test is skipped (never a
/// silent pass) and the test should return on `None`.
pub fn require<T>(test: &str, tool: Result<T, String>) -> Option<T> {
    match tool {
        Ok(found) => Some(found),
        Err(why) => {
            assert!(
                !under_ci(),
                "{test}: {why}; CI=true, so a missing tool fails the test instead of skipping it"
            );
            eprintln!("SKIPPED {test}: {why}");
            println!("SKIPPED {test}: {why}");
            None
        }
    }
}

/// SimGrid's `smpicc` and `smpirun`, or why not.
pub fn simgrid() -> Result<(), String> {
    for tool in ["smpicc", "smpirun"] {
        let found = Command::new(tool).arg("--version").output();
        if !found.is_ok_and(|o| o.status.success()) {
            return Err(format!(
                "`{tool}` is not on PATH (apt-get install libsimgrid-dev)"
            ));
        }
    }
    Ok(())
}

/// Whether `python` runs `-c code` successfully.
fn python_runs(python: &Path, code: &str) -> bool {
    Command::new(python)
        .args(["-c", code])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Open MPI's `mpirun` and [`PYTHON`] with mpi4py and numpy, or why not.
pub fn mpi() -> Result<(), String> {
    let mpirun = Command::new("mpirun").arg("--version").output();
    if !mpirun.is_ok_and(|o| o.status.success()) {
        return Err("`mpirun` is not on PATH (apt-get install openmpi-bin)".into());
    }
    if !python_runs(Path::new(PYTHON), "import mpi4py, numpy") {
        return Err(format!(
            "{PYTHON} cannot import mpi4py and numpy (apt-get install python3-mpi4py python3-numpy)"
        ));
    }
    Ok(())
}

/// [`PYTHON`] if it imports `module`, or why not.
pub fn python_with(module: &str) -> Result<(), String> {
    if python_runs(Path::new(PYTHON), &format!("import {module}")) {
        Ok(())
    } else {
        Err(format!("{PYTHON} cannot import {module}"))
    }
}

/// A Python with jax and numpy: `$COLLSYNTH_JAX_PYTHON`, else the venv that
/// `scripts/setup` makes (`${XDG_CACHE_HOME:-$HOME/.cache}/collsynth/jax-venv`),
/// else [`PYTHON`]; or why there is none.
pub fn jax_python() -> Result<PathBuf, String> {
    let mut candidates = Vec::new();
    if let Ok(p) = std::env::var("COLLSYNTH_JAX_PYTHON") {
        candidates.push(PathBuf::from(p));
    }
    let cache = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".cache")));
    if let Ok(c) = cache {
        candidates.push(c.join("collsynth/jax-venv/bin/python"));
    }
    candidates.push(PathBuf::from(PYTHON));
    candidates
        .into_iter()
        .find(|p| python_runs(p, "import jax, numpy"))
        .ok_or_else(|| "no Python with jax (run scripts/setup, or set COLLSYNTH_JAX_PYTHON)".into())
}

/// A Python with torch.distributed and numpy: `$COLLSYNTH_TORCH_PYTHON`, [`PYTHON`]
/// or `python3` on PATH; or why there is none.
pub fn torch_python() -> Result<PathBuf, String> {
    std::env::var("COLLSYNTH_TORCH_PYTHON")
        .ok()
        .into_iter()
        .chain([PYTHON.to_string(), "python3".to_string()])
        .map(PathBuf::from)
        .find(|p| python_runs(p, "import torch.distributed, numpy"))
        .ok_or_else(|| "no Python with torch here (set COLLSYNTH_TORCH_PYTHON)".into())
}

// ------------------------------------------------------------------ running

/// `mpirun` for `np` processes on one machine, as root if need be.
pub fn mpirun(np: u64, script: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("mpirun");
    // --timeout: a hung collective fails the test instead of hanging CI.
    cmd.args([
        "--allow-run-as-root",
        "--oversubscribe",
        "--timeout",
        "300",
        "-np",
    ])
    .arg(np.to_string())
    .arg(PYTHON)
    .arg(script)
    .args(args)
    .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
    .env("OMPI_MCA_rmaps_base_oversubscribe", "1");
    cmd.output().expect("mpirun starts")
}

/// A unit to emit for a program on placement `index` and request `r` of a spec.
pub fn unit(
    spec: &Spec,
    index: usize,
    r: usize,
    name: String,
    program: Program,
    proof: Proof,
) -> Unit {
    let m = placement::enumerate(spec)[index].clone();
    let p = Placement::from_valid_matrix(m);
    let lowered = lowered::lower(&p, &program);
    Unit {
        name,
        placement_index: index,
        placement: p,
        request_index: Some(r),
        request: spec.requests[r].clone(),
        lowered,
        program: Some(program),
        chunks: 1,
        proof,
    }
}

/// The unit run plain, whatever chunk count synthesis chose for it (the tests add
/// pipelined copies with a fixed count of their own).
pub fn plain(mut u: Unit) -> Unit {
    u.chunks = 1;
    u
}

/// A copy of the unit pipelined over `chunks` chunks, named `NAME.c<chunks>`.
pub fn pipelined(u: &Unit, chunks: u64) -> Unit {
    let mut p = u.clone();
    p.chunks = chunks;
    p.name = format!("{}.c{chunks}", u.name);
    p
}

/// Programs per placement and request that the end-to-end tests run.
pub const TOP: usize = 3;

/// The `top` best synthesized programs of every request on every placement of a spec
/// (the library's synthesis, every program checked by z3), named `p<placement>.r<request>.k<rank>`;
/// for a reduce_scatter or all_gather request, named `p<placement>.r<request>.s<rank>`,
/// after the hand-written programs of [`sharded_units`].
/// Each is also run through the reference interpreter, independently of z3, and the
/// test fails if synthesis refutes anything, leaves a placement out, or returns a
/// program the interpreter rejects.
pub fn synthesized_units(spec: &Spec, top: usize) -> Vec<Unit> {
    let opts = Options {
        top,
        selection: Selection::All,
        ..Options::default()
    };
    let result = synth::synthesize(spec, &Standard::default(), &RuleSet::builtin(), &opts)
        .expect("e2e specs synthesize");
    assert!(
        result.stats.refuted.is_empty(),
        "{}: refuted: {:?}",
        spec.source,
        result.stats.refuted
    );
    let count = placement::enumerate(spec).len();
    let mut indices: Vec<usize> = result.placements.iter().map(|p| p.index).collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..count).collect::<Vec<_>>(), "{}", spec.source);
    let mut units = Vec::new();
    for pr in &result.placements {
        for r in 0..spec.requests.len() {
            let sharded = spec.requests[r].collective.is_sharded();
            if sharded {
                units.extend(sharded_units(spec, pr, r));
            }
            let have = pr.results[r].programs.len();
            assert!(
                have >= 1,
                "{}: placement {} request {r}: no program",
                spec.source,
                pr.index
            );
            for k in 0..have.min(top) {
                let u = synthesized::unit(
                    spec,
                    pr,
                    r,
                    k,
                    // Sharded requests also run the hand-written programs of
                    // [`sharded_units`], named `k<i>`; synthesis's are `s<k>`.
                    format!("p{}.r{r}.{}{k}", pr.index, if sharded { "s" } else { "k" }),
                    result.stats.checker,
                    false,
                )
                .unwrap_or_else(|e| panic!("{}: {e}", spec.source));
                let goal = semantics::Goal::of(&u.request);
                if let Err(c) = semantics::run_goal(spec, &u.placement, &goal, &u.lowered) {
                    panic!("{}: {} is not correct: {c}", spec.source, u.name);
                }
                units.push(u);
            }
        }
    }
    units
}

/// Programs for a reduce_scatter or all_gather request `r` on a placement, each
/// decided by the reference interpreter and kept only when proved, named
/// `p<placement>.r<request>.k<i>` in this order: the flat single step (what `emit`
/// takes by default; right only where the dims follow the shard numbering); the
/// request's dims one step each, ordered by the request's axis order and then by
/// significance (reversed for all_gather), which numbers the shards right on every
/// placement; and for reduce_scatter the first such step followed by an all_reduce
/// of the rest. Panics when the one-dim-at-a-time program is not proved, or the
/// flat one's verdict disagrees with [`collsynth::cost::flat_is_numbered`].
pub fn sharded_units(spec: &Spec, pr: &synth::PlacementResult, r: usize) -> Vec<Unit> {
    use collsynth::program::{Collective, DimRef, Step};
    use collsynth::spec::RequestKind;
    let req = &spec.requests[r];
    let p = &pr.placement;
    let op = collsynth::cost::request_collective(req);
    let mut dims: Vec<(usize, DimRef)> = p
        .reduction_dims(&req.axes)
        .map(|d| {
            let pos = req.axes.iter().position(|&a| a == d.axis).unwrap();
            (
                pos,
                DimRef {
                    level: d.level,
                    axis: d.axis,
                },
            )
        })
        .collect();
    dims.sort_by_key(|(pos, d)| (*pos, d.level));
    let mut per_dim: Vec<Step> = dims.iter().map(|(_, d)| Step::new(op, vec![*d])).collect();
    if req.collective == RequestKind::AllGather {
        per_dim.reverse();
    }
    let mut candidates = vec![collsynth::cost::flat_program(p, req)];
    candidates.push(Program::new(per_dim));
    if req.collective == RequestKind::ReduceScatter && dims.len() >= 2 {
        let rest: Vec<DimRef> = dims[1..].iter().map(|(_, d)| *d).collect();
        candidates.push(Program {
            layout: Vec::new(),
            steps: vec![
                Step::new(op, vec![dims[0].1]),
                Step::new(Collective::AllReduce, rest),
            ],
        });
    }
    // The request's dims one step each in the reverse of the numbering order, made
    // right by a relayout to that order (docs/design.md, §3.7): the inner dim
    // first on the whole buffer for reduce_scatter, undone in reverse for
    // all_gather. It must be proved on every placement with two dims or more.
    let relaid_at = candidates.len();
    if dims.len() >= 2 {
        let reversed: Vec<DimRef> = dims.iter().rev().map(|(_, d)| *d).collect();
        let mut steps: Vec<Step> = reversed.iter().map(|d| Step::new(op, vec![*d])).collect();
        if req.collective == RequestKind::AllGather {
            steps.reverse();
        }
        candidates.push(Program::new(steps).with_layout(reversed));
    }
    let goal = semantics::Goal::of(req);
    let mut units = Vec::new();
    let mut seen = Vec::new();
    for (ci, program) in candidates.into_iter().enumerate() {
        if seen.contains(&program) {
            continue;
        }
        seen.push(program.clone());
        let lowered = lowered::lower(p, &program);
        let proved = semantics::run_goal(spec, p, &goal, &lowered).is_ok();
        match ci {
            0 => assert_eq!(
                proved,
                collsynth::cost::flat_is_numbered(p, req),
                "{}: placement {} request {r}: the flat step {}",
                spec.source,
                pr.index,
                program.text(spec)
            ),
            1 => assert!(
                proved,
                "{}: placement {} request {r}: {} is not proved",
                spec.source,
                pr.index,
                program.text(spec)
            ),
            i if i == relaid_at => assert!(
                proved,
                "{}: placement {} request {r}: {} is not proved",
                spec.source,
                pr.index,
                program.text(spec)
            ),
            _ => {}
        }
        if !proved {
            continue;
        }
        units.push(Unit {
            name: format!("p{}.r{r}.k{}", pr.index, units.len()),
            placement_index: pr.index,
            placement: p.clone(),
            request_index: Some(r),
            request: req.clone(),
            lowered,
            program: Some(program),
            chunks: 1,
            proof: Proof::Proved("the reference interpreter, in the test".into()),
        });
    }
    units
}

/// What an end-to-end checker needs of a unit besides its module and function: the
/// whole buffer's length unit (`atoms`, times the shard count for a sharded request,
/// times the chunks), the request's collective, its shard count, every rank's shard
/// number (computed here from the coordinates, independently of the emitter) and the
/// reduction groups.
pub fn case_fields(spec: &Spec, u: &Unit) -> serde_json::Value {
    let goal = semantics::Goal::of(&u.request);
    let shards = goal.shards(spec);
    let shard_of: Vec<u64> = (0..u.placement.devices())
        .map(|rank| {
            let c = u.placement.coords(rank);
            if !u.request.collective.is_sharded() {
                return 0;
            }
            u.request
                .axes
                .iter()
                .fold(0, |acc, &a| acc * spec.axes[a].size + c[a])
        })
        .collect();
    serde_json::json!({
        "atoms": u.lowered.atoms() * shards * u.chunks,
        "collective": u.request.collective.to_string(),
        "shards": shards,
        "shard_of": shard_of,
        "reduction_groups": collsynth::emit::reduction_groups(&u.placement, &u.request.axes),
    })
}
