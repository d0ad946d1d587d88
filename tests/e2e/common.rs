//! Shared helpers of the end-to-end tests: finding Open MPI and a Python with mpi4py,
//! the programs to run (synthesized), and running one `mpirun` over an emitted script.

#![allow(dead_code)]

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

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The e2e specs, sorted.
pub fn e2e_specs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("specs/e2e"))
        .expect("specs/e2e exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

pub fn load(path: &Path) -> Spec {
    Spec::load(path).expect("e2e specs are valid")
}

/// Why MPI end-to-end tests cannot run here, if they cannot.
pub fn mpi_missing() -> Option<String> {
    let mpirun = Command::new("mpirun").arg("--version").output();
    if !mpirun.is_ok_and(|o| o.status.success()) {
        return Some("`mpirun` is not on PATH (apt-get install openmpi-bin)".into());
    }
    let py = Command::new(PYTHON)
        .args(["-c", "import mpi4py, numpy"])
        .output();
    if !py.is_ok_and(|o| o.status.success()) {
        return Some(format!(
            "{PYTHON} cannot import mpi4py and numpy (apt-get install python3-mpi4py python3-numpy)"
        ));
    }
    None
}

/// Prints a visible notice that a test is skipped (never a silent pass).
pub fn skip(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
    println!("SKIPPED {test}: {why}");
}

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

pub fn text_of(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
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
        proof,
    }
}

/// Programs per placement and request that the end-to-end tests run.
pub const TOP: usize = 3;

/// The `top` best synthesized programs of every request on every placement of a spec
/// (the library's synthesis, every program checked by z3), named `p<placement>.r<request>.k<rank>`.
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
                    format!("p{}.r{r}.k{k}", pr.index),
                    result.stats.checker,
                    false,
                )
                .unwrap_or_else(|e| panic!("{}: {e}", spec.source));
                if let Err(c) = semantics::run(spec, &u.placement, &u.request.axes, &u.lowered) {
                    panic!("{}: {} is not correct: {c}", spec.source, u.name);
                }
                units.push(u);
            }
        }
    }
    units
}

/// A temporary directory for generated scripts (never the working directory).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("collsynth-e2e-")
        .tempdir()
        .expect("a temporary directory")
}
