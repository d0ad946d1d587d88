//! Property test: on random small placements (2–3 levels, 1–3 axes, at most 64
//! devices) and random programs (random steps over random dims, with and without
//! roots, plus mutants of correct templates), `semantics::run` agrees with the
//! independent simulator of `support::sim`, and every counterexample re-checks.

mod support;

use std::cell::Cell;

use collsynth::placement::Placement;
use collsynth::program::{Collective, DimRef, Program, Step};
use collsynth::semantics::{self, Kind};
use collsynth::spec::Spec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use support::dim_refs;
use support::sim::{buffer_len, compare};
use support::spec::SpecText;

/// Reads choices off a tape of random numbers (so proptest can shrink them).
struct Tape<'a>(&'a [u32], Cell<usize>);

impl Tape<'_> {
    fn pick(&self, k: usize) -> usize {
        let i = self.1.get();
        self.1.set(i + 1);
        self.0
            .get(i % self.0.len())
            .map_or(0, |&x| x as usize % k.max(1))
    }
    fn coin(&self) -> bool {
        self.pick(2) == 1
    }
    /// A non-empty random subset of `items` (kept in order).
    fn subset<T: Copy>(&self, items: &[T]) -> Vec<T> {
        loop {
            let v: Vec<T> = items.iter().copied().filter(|_| self.coin()).collect();
            if !v.is_empty() || items.is_empty() {
                return v;
            }
        }
    }
}

/// A random system and placement: each level's prime factors go to random axes.
fn problem(t: &Tape) -> (Spec, Placement, Vec<usize>) {
    let nl = 2 + t.pick(2);
    let na = 1 + t.pick(3);
    let arities: Vec<u64> = (0..nl).map(|_| [2, 3, 4][t.pick(3)]).collect();
    let mut matrix = vec![vec![1u64; nl]; na];
    for (l, &a) in arities.iter().enumerate() {
        let primes: &[u64] = if a == 4 {
            &[2, 2]
        } else if a == 3 {
            &[3]
        } else {
            &[2]
        };
        for &p in primes {
            matrix[t.pick(na)][l] *= p;
        }
    }
    let mut request = t.subset(&(0..na).collect::<Vec<_>>());
    if request.len() == na && na > 1 && t.coin() {
        request.remove(t.pick(na));
    }
    // Each level's arity is its column's product, by construction.
    let levels = &["rack", "node", "gpu"][3 - nl..];
    let s = SpecText::fitting(levels, &["data", "model", "pipe"][..na], &matrix).spec();
    let p = Placement::new(&s, matrix).expect("generated matrices fit");
    (s, p, request)
}

/// A random step over random dims, with roots among the other dims half the time.
fn random_step(t: &Tape, dims: &[DimRef]) -> Step {
    let op = Collective::ALL[t.pick(5)];
    let d = t.subset(dims);
    let rest: Vec<DimRef> = dims.iter().copied().filter(|x| !d.contains(x)).collect();
    let roots = if t.coin() && !rest.is_empty() {
        t.subset(&rest)
    } else {
        vec![]
    };
    Step::new(op, d).at_roots(roots)
}

/// One of the four templates over the request's dims (inner = the least significant
/// requested dims), then up to two random edits.
fn template(t: &Tape, p: &Placement, request: &[usize]) -> Program {
    let all = dim_refs(p);
    let req: Vec<DimRef> = all
        .iter()
        .copied()
        .filter(|d| request.contains(&d.axis))
        .collect();
    let mut prog = Program::default();
    if !req.is_empty() {
        let cut = if req.len() > 1 {
            1 + t.pick(req.len() - 1)
        } else {
            0
        };
        let (outer, inner) = req.split_at(cut);
        let (o, i) = (outer.to_vec(), inner.to_vec());
        use Collective::*;
        prog.steps = match (t.pick(4), o.is_empty()) {
            (_, true) | (0, _) => vec![Step::new(AllReduce, req.clone())],
            (1, _) => vec![Step::new(AllReduce, i.clone()), Step::new(AllReduce, o)],
            (2, _) => vec![
                Step::new(Reduce, i.clone()),
                Step::new(AllReduce, o).at_roots(i.clone()),
                Step::new(Broadcast, i),
            ],
            _ => vec![
                Step::new(ReduceScatter, i.clone()),
                Step::new(AllReduce, o),
                Step::new(AllGather, i),
            ],
        };
    }
    for _ in 0..t.pick(3) {
        let n = prog.steps.len();
        match t.pick(8) {
            0 if n > 0 => {
                prog.steps.remove(t.pick(n));
            }
            1 if n > 1 => prog.steps.swap(t.pick(n), t.pick(n)),
            2 if n > 0 => prog.steps[t.pick(n)].op = Collective::ALL[t.pick(5)],
            3 if n > 0 => prog.steps[t.pick(n)].roots.clear(),
            4 if n > 0 => {
                let k = t.pick(n);
                let s = prog.steps[k].clone();
                prog.steps.insert(k, s);
            }
            5 if n > 0 => {
                // A dim swapped for the dim of another axis at the same level.
                let k = t.pick(n);
                let st = prog.steps[k].clone();
                let d = st.dims[t.pick(st.dims.len())];
                let free: Vec<DimRef> = all
                    .iter()
                    .copied()
                    .filter(|x| x.level == d.level && x.axis != d.axis)
                    .filter(|x| !st.dims.contains(x) && !st.roots.contains(x))
                    .collect();
                if !free.is_empty() {
                    let new = free[t.pick(free.len())];
                    let dims = st
                        .dims
                        .iter()
                        .map(|&x| if x == d { new } else { x })
                        .collect();
                    prog.steps[k] = Step::new(st.op, dims).at_roots(st.roots);
                }
            }
            6 => {
                // An all_reduce over a dim the request does not name.
                let other: Vec<DimRef> = all
                    .iter()
                    .copied()
                    .filter(|d| !request.contains(&d.axis))
                    .collect();
                if !other.is_empty() {
                    let d = other[t.pick(other.len())];
                    prog.steps
                        .insert(t.pick(n + 1), Step::new(Collective::AllReduce, vec![d]));
                }
            }
            _ => {
                let s = random_step(t, &all);
                prog.steps.insert(t.pick(n + 1), s);
            }
        }
    }
    prog
}

/// Keeps the buffer small: reduce_scatters past a 256-element buffer become all_reduces.
fn cap_atoms(p: &Placement, prog: &mut Program) {
    loop {
        let l = collsynth::lowered::lower(p, prog);
        let steps: Vec<_> = l
            .steps
            .into_iter()
            .map(|s| (s.collective, s.groups))
            .collect();
        if buffer_len(&steps) <= 256 {
            return;
        }
        let last = prog
            .steps
            .iter()
            .rposition(|s| s.op == Collective::ReduceScatter);
        prog.steps[last.expect("only reduce_scatter grows the buffer")].op = Collective::AllReduce;
    }
}

fn case(tape: &[u32]) -> (Spec, Placement, Vec<usize>, Program) {
    let t = Tape(tape, Cell::new(0));
    let (s, p, request) = problem(&t);
    let mut prog = if t.coin() {
        template(&t, &p, &request)
    } else {
        let dims = dim_refs(&p);
        Program {
            layout: Vec::new(),
            steps: (0..t.pick(6)).map(|_| random_step(&t, &dims)).collect(),
        }
    };
    cap_atoms(&p, &mut prog);
    (s, p, request, prog)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn interpreter_agrees_with_the_simulator(tape in prop::collection::vec(any::<u32>(), 96)) {
        let (s, p, request, prog) = case(&tape);
        prop_assert!(p.devices() <= 64);
        let _ = compare(&s, &p, &request, &prog, &format!("matrix {:?}, request {request:?}", p.matrix));
    }
}

/// The generator produces both verdicts and every kind often enough to matter.
#[test]
fn generator_covers_every_verdict() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec(any::<u32>(), 96);
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..300 {
        let tape = strategy.new_tree(&mut runner).unwrap().current();
        let (s, p, request, prog) = case(&tape);
        let v = compare(&s, &p, &request, &prog, "coverage");
        let key = match v {
            Ok(()) => "proved".to_string(),
            Err(k) => k.to_string(),
        };
        *seen.entry(key).or_default() += 1;
    }
    for k in ["proved", "missing", "twice", "extra", "ill_formed"] {
        assert!(seen.get(k).copied().unwrap_or(0) >= 10, "{k}: {seen:?}");
    }
}

/// Regression: a source counted twice by a reduce_scatter is reported at the member
/// that receives the chunk where it happens, not always at the group's first member.
#[test]
fn twice_in_reduce_scatter_names_the_member_receiving_that_chunk() {
    let s = SpecText::new()
        .levels(&[("node", 2), ("gpu", 2)])
        .axes(&[("data", 4)])
        .all_reduce(&["data"])
        .spec();
    let p = Placement::new(&s, vec![vec![2, 2]]).unwrap();
    // After step 3, ranks 0 and 1 hold {0,1} everywhere; ranks 2 and 3 hold {2,3} on
    // the first half and {0,1} on the second, so step 4 counts 0 and 1 twice on the
    // second half only, which rank 2 receives.
    let steps: Vec<(Collective, Vec<Vec<u64>>)> = vec![
        (Collective::ReduceScatter, vec![vec![0, 1], vec![2, 3]]),
        (Collective::Broadcast, vec![vec![1, 3]]),
        (Collective::AllGather, vec![vec![0, 1], vec![2, 3]]),
        (Collective::ReduceScatter, vec![vec![0, 2], vec![1, 3]]),
    ];
    let lowered = collsynth::lowered::Lowered {
        layout: vec![],
        steps: steps
            .iter()
            .map(|(c, g)| collsynth::lowered::LoweredStep {
                collective: *c,
                groups: g.clone(),
                tree: false,
            })
            .collect(),
    };
    assert_eq!(collsynth::lowered::raise(&p, &lowered), None);
    let c = semantics::run(&s, &p, &[0], &lowered).unwrap_err();
    assert_eq!((c.kind, c.step, c.rank), (Kind::Twice, Some(4), 2), "{c:?}");
    let arities = [2, 2];
    let keys = support::sim::reduction_keys(&arities, &p.matrix, &[0]);
    support::sim::recheck(&c, &arities, &p.matrix, &keys, &steps);
}
