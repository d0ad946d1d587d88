//! Property test: on 1,200 random problems (2–4 levels, 1–3 axes; all_reduce,
//! reduce_scatter and all_gather requests over 1–2 axes, the sharded ones in a random
//! axis order; programs from correct templates — all_reduce chains, reduce_scatter …
//! all_gather sandwiches, reduce … broadcast with roots, chains of reduce_scatters
//! or all_gathers over cuts of the shard digits — often mutated, and fully random
//! programs), z3's verdict equals the reference interpreter's, and every refutation
//! is confirmed (the verifier itself confirms it with the interpreter and the probe;
//! `agree_goal` also checks the step). Deterministic: a fixed seed.

mod support;

use collsynth::placement::Placement;
use collsynth::program::{Collective, DimRef, Program, Step};
use collsynth::semantics::Goal;
use collsynth::spec::{RequestKind, Spec};
use support::rng::Rng;
use support::verify::{agree_goal, mutants, problem_spec};

fn matrix(rng: &mut Rng, levels: usize, axes: usize) -> Vec<Vec<u64>> {
    loop {
        let m: Vec<Vec<u64>> = (0..axes)
            .map(|_| {
                (0..levels)
                    .map(|_| [1, 1, 2, 2, 3][rng.below(5) as usize])
                    .collect()
            })
            .collect();
        let rows_ok = m.iter().all(|r| r.iter().product::<u64>() >= 2);
        let cols_ok = (0..levels).all(|l| m.iter().map(|r| r[l]).product::<u64>() >= 2);
        let n: u64 = m.iter().flatten().product();
        if rows_ok && cols_ok && n <= 36 {
            return m;
        }
    }
}

fn subset(rng: &mut Rng, from: &[DimRef]) -> Vec<DimRef> {
    let mut v: Vec<DimRef> = from.iter().copied().filter(|_| rng.chance(50)).collect();
    if v.is_empty() {
        v.push(from[rng.below(from.len() as u64) as usize]);
    }
    v
}

/// A correct program reducing `q` for devices whose `roots` digits are 0.
fn template(rng: &mut Rng, q: &[DimRef], roots: &[DimRef], out: &mut Vec<Step>) {
    if q.is_empty() {
        return;
    }
    let b = subset(rng, q);
    let rest: Vec<DimRef> = q.iter().copied().filter(|d| !b.contains(d)).collect();
    let at = |op, dims: &[DimRef], roots: &[DimRef]| {
        Step::new(op, dims.to_vec()).at_roots(roots.to_vec())
    };
    match rng.below(3) {
        0 => {
            out.push(at(Collective::AllReduce, &b, roots));
            template(rng, &rest, roots, out);
        }
        1 => {
            out.push(at(Collective::ReduceScatter, &b, roots));
            template(rng, &rest, roots, out);
            out.push(at(Collective::AllGather, &b, roots));
        }
        _ => {
            out.push(at(Collective::Reduce, &b, roots));
            let mut r2 = roots.to_vec();
            r2.extend(&b);
            template(rng, &rest, &r2, out);
            out.push(at(Collective::Broadcast, &b, roots));
        }
    }
}

fn random_program(rng: &mut Rng, dims: &[DimRef]) -> Program {
    let n = 1 + rng.below(4);
    let steps = (0..n)
        .map(|_| {
            let op = Collective::ALL[rng.below(5) as usize];
            let d = subset(rng, dims);
            let d: Vec<DimRef> = d.into_iter().take(2).collect();
            let others: Vec<DimRef> = dims.iter().copied().filter(|x| !d.contains(x)).collect();
            let roots = if !others.is_empty() && rng.chance(30) {
                vec![others[rng.below(others.len() as u64) as usize]]
            } else {
                vec![]
            };
            Step::new(op, d).at_roots(roots)
        })
        .collect();
    Program::new(steps)
}

/// The requested dims in shard-numbering order (request axes in order, each axis's
/// dims outer level first), cut into consecutive pieces: one step per piece.
fn cuts(rng: &mut Rng, placement: &Placement, goal: &Goal) -> Vec<Vec<DimRef>> {
    let order: Vec<DimRef> = goal
        .axes
        .iter()
        .flat_map(|&a| {
            support::dim_refs(placement)
                .into_iter()
                .filter(move |d| d.axis == a)
        })
        .collect();
    let mut out: Vec<Vec<DimRef>> = Vec::new();
    for d in order {
        match out.last_mut() {
            Some(piece) if rng.chance(40) => piece.push(d),
            _ => out.push(vec![d]),
        }
    }
    out
}

/// A program for a sharded goal that is correct when every piece of `cuts` is in
/// significance order: reduce_scatter — scatter the first pieces, then all_reduce
/// the rest; all_gather — gather the pieces from the last to the first.
fn sharded_template(rng: &mut Rng, placement: &Placement, goal: &Goal) -> Program {
    let pieces = cuts(rng, placement, goal);
    let mut steps = Vec::new();
    if goal.kind == RequestKind::AllGather {
        for p in pieces.iter().rev() {
            steps.push(Step::new(Collective::AllGather, p.clone()));
        }
    } else {
        let scattered = rng.below(pieces.len() as u64 + 1) as usize;
        for p in &pieces[..scattered] {
            steps.push(Step::new(Collective::ReduceScatter, p.clone()));
        }
        let rest: Vec<DimRef> = pieces[scattered..].iter().flatten().copied().collect();
        template(rng, &rest, &[], &mut steps);
    }
    Program::new(steps)
}

/// One random problem: a spec, a placement, the goal and a program.
struct Problem {
    spec: Spec,
    placement: Placement,
    goal: Goal,
    program: Program,
}

/// `n` random problems from a fixed seed, one after another from one generator (so
/// the same problems whatever checks them, and however many threads).
fn problems(n: usize) -> Vec<Problem> {
    const LEVELS: [&str; 4] = ["rack", "node", "board", "gpu"];
    const AXES: [&str; 3] = ["data", "model", "pipe"];
    let mut rng = Rng(0x5eed_c011_5917);
    (0..n)
        .map(|_| {
            let levels = 2 + rng.below(3) as usize;
            let axes = 1 + rng.below(3) as usize;
            let m = matrix(&mut rng, levels, axes);
            let mut request: Vec<usize> = (0..axes).filter(|_| rng.chance(50)).take(2).collect();
            if request.is_empty() {
                request.push(rng.below(axes as u64) as usize);
            }
            let kind = [
                RequestKind::AllReduce,
                RequestKind::ReduceScatter,
                RequestKind::AllGather,
            ][rng.below(3) as usize];
            if kind != RequestKind::AllReduce && rng.chance(50) {
                request.reverse();
            }
            let goal = Goal {
                layout: vec![],
                kind,
                axes: request.clone(),
            };
            let mut set = request.clone();
            set.sort_unstable();
            let spec = problem_spec(&LEVELS[4 - levels..], &AXES[..axes], &m, &set);
            let placement = Placement::new(&spec, m).unwrap();
            let all = support::dim_refs(&placement);
            let q: Vec<DimRef> = all
                .iter()
                .copied()
                .filter(|d| request.contains(&d.axis))
                .collect();
            let program = if q.is_empty() || rng.chance(25) {
                random_program(&mut rng, &all)
            } else {
                let p = if kind == RequestKind::AllReduce || rng.chance(25) {
                    let mut steps = Vec::new();
                    template(&mut rng, &q, &[], &mut steps);
                    Program::new(steps)
                } else {
                    sharded_template(&mut rng, &placement, &goal)
                };
                if rng.chance(50) {
                    let ms = mutants(&p, &placement);
                    if ms.is_empty() {
                        p
                    } else {
                        ms[rng.below(ms.len() as u64) as usize].clone()
                    }
                } else {
                    p
                }
            };
            Problem {
                spec,
                placement,
                goal,
                program,
            }
        })
        .collect()
}

/// Nearly all the time is z3's (each problem is one solver, refutations a few
/// checks), so the problems are checked on every core.
#[test]
fn smt_agrees_with_the_interpreter_on_1200_random_problems() {
    let problems = problems(1200);
    let correct = support::par::map(&problems, |p| {
        agree_goal(&p.spec, &p.placement, &p.goal, &p.program)
    });
    for kind in [
        RequestKind::AllReduce,
        RequestKind::ReduceScatter,
        RequestKind::AllGather,
    ] {
        let of_kind: Vec<bool> = problems
            .iter()
            .zip(&correct)
            .filter(|(p, _)| p.goal.kind == kind)
            .map(|(_, &c)| c)
            .collect();
        let proved = of_kind.iter().filter(|&&c| c).count();
        let refuted = of_kind.len() - proved;
        eprintln!("{kind}: {proved} proved, {refuted} refuted");
        assert!(proved >= 80, "{kind}: only {proved} correct programs");
        assert!(refuted >= 80, "{kind}: only {refuted} refuted programs");
    }
}
