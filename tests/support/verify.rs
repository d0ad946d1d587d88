//! The verifier tests' helpers: the standard problem, mutants of a program, and the
//! check that the SMT verdict equals the reference interpreter's.

use collsynth::lowered;
use collsynth::placement::Placement;
use collsynth::program::{Collective, DimRef, Program, Step};
use collsynth::semantics::{self, Goal};
use collsynth::spec::Spec;
use collsynth::verdict::Verdict;
use collsynth::verify::{self, SmtOptions};

use super::spec::SpecText;

/// The standard problem: node × gpu, data × model on matrix 2,4;2,2 (32 devices),
/// one all_reduce over data (request axes `[0]`).
pub fn standard_problem() -> (Spec, Placement) {
    let matrix = vec![vec![2, 4], vec![2, 2]];
    let spec = problem_spec(&["node", "gpu"], &["data", "model"], &matrix, &[0]);
    let placement = Placement::new(&spec, matrix).expect("the matrix fits");
    (spec, placement)
}

/// A spec whose levels and axes fit `matrix` (rows = axes, columns = levels), with
/// one all_reduce request of 1000 bytes over `request` (axis indices).
pub fn problem_spec(
    levels: &[&str],
    axes: &[&str],
    matrix: &[Vec<u64>],
    request: &[usize],
) -> Spec {
    let names: Vec<&str> = request.iter().map(|&a| axes[a]).collect();
    SpecText::fitting(levels, axes, matrix)
        .all_reduce(&names)
        .bytes(1000)
        .spec()
}

/// Every mutant of `p`: a step dropped, a dim swapped for a dim of another axis, a
/// collective replaced, roots removed, two steps swapped.
pub fn mutants(p: &Program, placement: &Placement) -> Vec<Program> {
    let mut out = Vec::new();
    let n = p.steps.len();
    for i in 0..n {
        let mut q = p.clone();
        q.steps.remove(i);
        out.push(q);
    }
    for i in 0..n {
        for j in 0..p.steps[i].dims.len() {
            let d = p.steps[i].dims[j];
            for e in &placement.dims {
                let r = DimRef {
                    level: e.level,
                    axis: e.axis,
                };
                if e.axis == d.axis || p.steps[i].dims.contains(&r) || p.steps[i].roots.contains(&r)
                {
                    continue;
                }
                let mut q = p.clone();
                let mut dims = q.steps[i].dims.clone();
                dims[j] = r;
                q.steps[i] = Step::new(q.steps[i].op, dims).at_roots(q.steps[i].roots.clone());
                out.push(q);
            }
        }
        for op in Collective::ALL {
            if op != p.steps[i].op {
                let mut q = p.clone();
                q.steps[i].op = op;
                out.push(q);
            }
        }
        if !p.steps[i].roots.is_empty() {
            let mut q = p.clone();
            q.steps[i].roots.clear();
            out.push(q);
        }
        for j in i + 1..n {
            let mut q = p.clone();
            q.steps.swap(i, j);
            out.push(q);
        }
    }
    out.sort();
    out.dedup();
    out.retain(|q| q != p);
    out
}

/// The interpreter's verdict and the SMT verdict agree; a refutation's step is the
/// interpreter's. Returns whether the program is correct.
pub fn agree(spec: &Spec, placement: &Placement, request: &[usize], program: &Program) -> bool {
    agree_goal(spec, placement, &Goal::all_reduce(request), program)
}

/// [`agree`] for any goal (all_reduce, reduce_scatter, all_gather).
pub fn agree_goal(spec: &Spec, placement: &Placement, goal: &Goal, program: &Program) -> bool {
    let low = lowered::lower(placement, program);
    let interp = semantics::run_goal(spec, placement, goal, &low);
    let smt = verify::prove_goal(spec, placement, goal, program, &SmtOptions::default())
        .unwrap_or_else(|e| panic!("inconsistent: {e}"));
    let text = program.text(spec);
    match (&interp, &smt) {
        (Ok(()), Verdict::Proved) => true,
        (Err(i), Verdict::Refuted(c)) => {
            assert_eq!(
                i.step, c.step,
                "{text} on {:?} ({goal:?}): interpreter {i:?}, smt {c:?}",
                placement.matrix
            );
            false
        }
        _ => panic!(
            "{text} on {:?} ({goal:?}): interpreter {interp:?}, smt {smt:?}",
            placement.matrix
        ),
    }
}

/// The standard programs of the foundation issue (text).
pub const STANDARD: [&str; 5] = [
    "all_reduce(node:data, gpu:data)",
    "all_reduce(gpu:data) ; all_reduce(node:data)",
    "reduce(gpu:data) ; all_reduce(node:data) @ roots(gpu:data) ; broadcast(gpu:data)",
    "broadcast(gpu:data)",
    "reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)",
];
