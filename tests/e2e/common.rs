//! Shared helpers of the end-to-end tests: finding Open MPI and a Python with mpi4py,
//! the programs to run, and running one `mpirun` over an emitted script.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use collsynth::emit::{Proof, Unit};
use collsynth::lowered;
use collsynth::placement::{self, Placement};
use collsynth::program::{Collective, DimRef, Program, Step};
use collsynth::semantics;
use collsynth::spec::Spec;

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

/// The dims of a placement that a request over `axes` touches, in significance order.
pub fn request_dims(p: &Placement, axes: &[usize]) -> Vec<DimRef> {
    p.dims
        .iter()
        .filter(|d| axes.contains(&d.axis))
        .map(|d| DimRef {
            level: d.level,
            axis: d.axis,
        })
        .collect()
}

/// The standard programs of a request on a placement (until the synthesizer lands):
/// the flat all_reduce over the request's dims, and for every split of those dims
/// into an outer part O and an inner part I (in significance order) P2's
/// AllReduce–AllReduce, ReduceScatter–AllReduce–AllGather and
/// Reduce–AllReduce–Broadcast.
pub fn standard_programs(p: &Placement, axes: &[usize]) -> Vec<(String, Program)> {
    let dims = request_dims(p, axes);
    let mut out = Vec::new();
    if dims.is_empty() {
        out.push(("empty".to_string(), Program::default()));
        return out;
    }
    out.push((
        "flat".to_string(),
        Program {
            steps: vec![Step::new(Collective::AllReduce, dims.clone())],
        },
    ));
    for k in 1..dims.len() {
        let (o, i) = (dims[..k].to_vec(), dims[k..].to_vec());
        let s = |op, d: &Vec<DimRef>| Step::new(op, d.clone());
        out.push((
            format!("ar_ar{k}"),
            Program {
                steps: vec![s(Collective::AllReduce, &i), s(Collective::AllReduce, &o)],
            },
        ));
        out.push((
            format!("rs_ar_ag{k}"),
            Program {
                steps: vec![
                    s(Collective::ReduceScatter, &i),
                    s(Collective::AllReduce, &o),
                    s(Collective::AllGather, &i),
                ],
            },
        ));
        out.push((
            format!("r_ar_b{k}"),
            Program {
                steps: vec![
                    s(Collective::Reduce, &i),
                    s(Collective::AllReduce, &o).at_roots(i.clone()),
                    s(Collective::Broadcast, &i),
                ],
            },
        ));
    }
    out
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

/// Every standard program of every placement and request of a spec, each proved by
/// the reference interpreter (the test fails if one is not).
pub fn all_standard_units(spec: &Spec) -> Vec<Unit> {
    let mut units = Vec::new();
    for (index, m) in placement::enumerate(spec).into_iter().enumerate() {
        let p = Placement::from_valid_matrix(m);
        for (r, req) in spec.requests.iter().enumerate() {
            for (label, program) in standard_programs(&p, &req.axes) {
                let u = unit(
                    spec,
                    index,
                    r,
                    format!("p{index}.r{r}.{label}"),
                    program,
                    Proof::Proved("the reference interpreter".into()),
                );
                if let Err(c) = semantics::run(spec, &u.placement, &req.axes, &u.lowered) {
                    panic!("{} is not correct: {c}", u.name);
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
