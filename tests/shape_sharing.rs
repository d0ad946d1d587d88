//! One proof for every size: a dim-structured program's verdict depends on its
//! abstract shape only — which reduction dims each step uses, in significance order,
//! which collectives and roots — and not on the sizes of its dims (each at least 2)
//! nor on the dims of other axes (proofs/README.md, "One proof for every size").
//!
//! Checked here by the reference interpreter, exhaustively over small bounds: every
//! abstract program of up to 4 steps over 1 reduction dim, 3 steps over 2 and 2
//! steps over 3 (every collective, every dim set, every root set), for all_reduce,
//! reduce_scatter and all_gather requests, on every size of each dim in {2, 3}
//! (also 4 and 5 for one dim) with a dim of another axis of size 2 or 3 in between.
//! Each program must be proved at every size or refuted at every size. (Which
//! fault a refutation reports first can change with the sizes — the first faulty
//! device in rank order differs — so refutations are never shared, only proofs.)
//! And sharing must not forget the order: the same steps over the dims in another
//! significance order can change the verdict, which a key without the order would
//! hide.

mod support;

use collsynth::lowered;
use collsynth::placement::Placement;
use collsynth::program::{Collective, DimRef, Program, Step};
use collsynth::semantics::{self, Goal, Kind};
use collsynth::spec::{RequestKind, Spec};

use support::spec::SpecText;

/// An abstract step: collective, reduction dims and root dims (indices into the
/// reduction dims, 0 most significant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Abs {
    op: Collective,
    dims: u32,
    roots: u32,
}

/// Every abstract step over `n` reduction dims: roots are dims outside the step's.
fn steps(n: usize) -> Vec<Abs> {
    let full = (1u32 << n) - 1;
    let mut out = Vec::new();
    for op in Collective::ALL {
        for dims in 1..=full {
            let rest = full & !dims;
            // Every subset of `rest`, the empty one included.
            let mut roots = rest;
            loop {
                out.push(Abs { op, dims, roots });
                if roots == 0 {
                    break;
                }
                roots = (roots - 1) & rest;
            }
        }
    }
    out
}

/// Every abstract program of 1 to `len` steps.
fn programs(n: usize, len: usize) -> Vec<Vec<Abs>> {
    let one = steps(n);
    let mut all: Vec<Vec<Abs>> = Vec::new();
    let mut frontier: Vec<Vec<Abs>> = vec![vec![]];
    for _ in 0..len {
        let mut next = Vec::new();
        for p in &frontier {
            for s in &one {
                let mut q = p.clone();
                q.push(*s);
                next.push(q);
            }
        }
        all.extend(next.iter().cloned());
        frontier = next;
    }
    all
}

/// A placement with `sizes.len()` dims of `data` (outer to inner) and one dim of
/// `model` of size `model` right after the outermost: levels `l0` (data), `m`
/// (model), `l1`, `l2`, ... (data). Returns the spec, the placement and the concrete
/// reduction dims in significance order.
fn problem(sizes: &[u64], model: u64) -> (Spec, Placement, Vec<DimRef>) {
    let n = sizes.len();
    let mut levels = vec!["l0".to_string(), "m".to_string()];
    levels.extend((1..n).map(|i| format!("l{i}")));
    let mut data = vec![sizes[0], 1];
    data.extend(&sizes[1..]);
    let mut other = vec![1, model];
    other.extend(std::iter::repeat_n(1, n - 1));
    let matrix = vec![data, other];
    let names: Vec<&str> = levels.iter().map(String::as_str).collect();
    let spec = SpecText::fitting(&names, &["data", "model"], &matrix)
        .all_reduce(&["data"])
        .bytes(1 << 20)
        .spec();
    let placement = Placement::new(&spec, matrix).expect("the matrix fits");
    let mut dims: Vec<DimRef> = placement
        .reduction_dims(&[0])
        .map(|d| DimRef {
            level: d.level,
            axis: d.axis,
        })
        .collect();
    dims.truncate(n);
    assert_eq!(dims.len(), n);
    (spec, placement, dims)
}

fn concrete(p: &[Abs], dims: &[DimRef]) -> Program {
    let pick = |set: u32| -> Vec<DimRef> {
        (0..dims.len())
            .filter(|i| set & (1 << i) != 0)
            .map(|i| dims[i])
            .collect()
    };
    Program {
        layout: Vec::new(),
        steps: p
            .iter()
            .map(|s| Step::new(s.op, pick(s.dims)).at_roots(pick(s.roots)))
            .collect(),
    }
}

/// What a verdict is, size for size: proved, or the fault's kind and step.
type Outcome = Option<(Kind, Option<usize>)>;

fn outcome(spec: &Spec, placement: &Placement, goal: &Goal, program: &Program) -> Outcome {
    let low = lowered::lower(placement, program);
    semantics::run_goal(spec, placement, goal, &low)
        .err()
        .map(|c| (c.kind, c.step))
}

const KINDS: [RequestKind; 3] = [
    RequestKind::AllReduce,
    RequestKind::ReduceScatter,
    RequestKind::AllGather,
];

/// Every size vector of `n` dims with each size in `each`.
fn size_vectors(n: usize, each: &[u64]) -> Vec<Vec<u64>> {
    let mut out = vec![vec![]];
    for _ in 0..n {
        out = out
            .into_iter()
            .flat_map(|v| {
                each.iter().map(move |&s| {
                    let mut w = v.clone();
                    w.push(s);
                    w
                })
            })
            .collect();
    }
    out
}

/// One size assignment: the data dims' sizes, the model dim's size, and the problem.
type Sized = (Vec<u64>, u64, Spec, Placement, Vec<DimRef>);

/// Checks that every program of up to `len` steps over `n` dims has one outcome
/// over all `sizes` (and model sizes 2 and 3), per request kind. Returns how many
/// (program, kind) pairs were proved at every size.
fn sizes_do_not_matter(n: usize, len: usize, each: &[u64]) -> usize {
    let problems: Vec<Sized> = size_vectors(n, each)
        .into_iter()
        .flat_map(|v| [2, 3].map(|m| (v.clone(), m)))
        .map(|(v, m)| {
            let (s, p, d) = problem(&v, m);
            (v, m, s, p, d)
        })
        .collect();
    let mut proved = 0;
    let mut differ = Vec::new();
    for p in programs(n, len) {
        for kind in KINDS {
            let goal = Goal {
                layout: vec![],
                kind,
                axes: vec![0],
            };
            let mut first: Option<(Outcome, &[u64], u64)> = None;
            for (v, m, spec, placement, dims) in &problems {
                let o = outcome(spec, placement, &goal, &concrete(&p, dims));
                match &first {
                    None => first = Some((o, v, *m)),
                    Some((f, fv, fm)) if f.is_none() != o.is_none() => {
                        differ.push(format!(
                            "{kind} by {:?}: sizes {fv:?} (model {fm}) give {f:?}, sizes {v:?} (model {m}) give {o:?}",
                            concrete(&p, dims).text(spec)
                        ));
                        break;
                    }
                    Some(_) => {}
                }
            }
            if matches!(first, Some((None, _, _))) {
                proved += 1;
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{} abstract programs over {n} dims have verdicts that depend on sizes, e.g.\n{}",
        differ.len(),
        differ[..differ.len().min(10)].join("\n")
    );
    proved
}

#[test]
fn one_dim_verdicts_do_not_depend_on_its_size() {
    let proved = sizes_do_not_matter(1, 4, &[2, 3, 4, 5]);
    eprintln!("1 dim, up to 4 steps: {proved} (program, request) pairs proved at every size");
    assert!(proved > 0);
}

#[test]
fn two_dim_verdicts_do_not_depend_on_sizes() {
    let proved = sizes_do_not_matter(2, 3, &[2, 3]);
    eprintln!("2 dims, up to 3 steps: {proved} (program, request) pairs proved at every size");
    assert!(proved > 0);
}

#[test]
fn three_dim_verdicts_do_not_depend_on_sizes() {
    let proved = sizes_do_not_matter(3, 2, &[2, 3]);
    eprintln!("3 dims, up to 2 steps: {proved} (program, request) pairs proved at every size");
    assert!(proved > 0);
}

/// A proof keyed by the dim *set* of each step, forgetting which dim is more
/// significant, would be shared between a program and its mirror image over the
/// dims in the other order; the two can differ, so the key must keep the order.
#[test]
fn sharing_without_the_significance_order_would_be_unsound() {
    let (spec, placement, dims) = problem(&[2, 3], 2);
    let swapped = [dims[1], dims[0]];
    let mut differ = Vec::new();
    for p in programs(2, 2) {
        for kind in KINDS {
            let goal = Goal {
                layout: vec![],
                kind,
                axes: vec![0],
            };
            let a = outcome(&spec, &placement, &goal, &concrete(&p, &dims));
            let b = outcome(&spec, &placement, &goal, &concrete(&p, &swapped));
            if a.is_none() != b.is_none() {
                differ.push(concrete(&p, &dims).text(&spec));
            }
        }
    }
    // reduce_scatter(l1:data) ; reduce_scatter(l0:data) numbers the shards with the
    // inner dim most significant: wrong for a reduce_scatter over data, whose shard
    // number has l0 most significant, while its mirror image is right.
    assert!(
        differ
            .iter()
            .any(|t| t == "reduce_scatter(l0:data) ; reduce_scatter(l1:data)"),
        "{differ:?}"
    );
    eprintln!(
        "{} two-step programs change verdict when the dims swap significance",
        differ.len()
    );
}
