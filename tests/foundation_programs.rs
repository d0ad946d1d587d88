//! The four programs of P2 (P2's AllReduce, AllReduce–AllReduce,
//! Reduce–AllReduce–Broadcast, ReduceScatter–AllReduce–AllGather) verified on 2- and
//! 3-level placements, through `semantics::run` and through `collsynth verify`; their
//! mutants refuted, every verdict matching the independent simulator and every
//! counterexample re-checked.

mod support;

use collsynth::lowered;
use collsynth::placement::Placement;
use collsynth::program::{parse_program, Collective, Program, Step};
use collsynth::semantics::{self, Kind};
use collsynth::spec::Spec;
use support::sim::compare;
use support::spec::SpecText;

/// A problem: spec, placement and request, with the dims the templates use.
struct Case {
    name: &'static str,
    spec: Spec,
    spec_arg: Option<String>,
    matrix: Vec<Vec<u64>>,
    request: usize,
    inner: &'static str,
    outer: &'static str,
}

fn cases(dir: &std::path::Path) -> Vec<Case> {
    let e2e = |f: &str| support::root().join("specs/e2e").join(f);
    let three = SpecText::new()
        .levels(&[("rack", 2), ("node", 2), ("gpu", 4)])
        .axes(&[("data", 8), ("model", 2)])
        .all_reduce(&["data"]);
    let three_path = support::write(dir, "three.toml", &three.toml());
    vec![
        Case {
            name: "default 4x8, data over node and gpu",
            spec: Spec::embedded_default(),
            spec_arg: None,
            matrix: vec![vec![2, 4], vec![2, 2]],
            request: 0,
            inner: "gpu:data",
            outer: "node:data",
        },
        Case {
            name: "two-node-dp8",
            spec: Spec::load(&e2e("two-node-dp8.toml")).unwrap(),
            spec_arg: Some(e2e("two-node-dp8.toml").display().to_string()),
            matrix: vec![vec![2, 4]],
            request: 0,
            inner: "gpu:data",
            outer: "node:data",
        },
        Case {
            name: "3 levels, inner gpu, outer rack+node",
            spec: three.spec(),
            spec_arg: Some(three_path.clone()),
            matrix: vec![vec![2, 2, 2], vec![1, 1, 2]],
            request: 0,
            inner: "gpu:data",
            outer: "rack:data, node:data",
        },
        Case {
            name: "3 levels, inner node+gpu, outer rack",
            spec: three.spec(),
            spec_arg: Some(three_path),
            matrix: vec![vec![2, 2, 2], vec![1, 1, 2]],
            request: 0,
            inner: "node:data, gpu:data",
            outer: "rack:data",
        },
        Case {
            name: "e2e three-level, request over data and pipe",
            spec: Spec::load(&e2e("three-level-dp4-mp2x2.toml")).unwrap(),
            spec_arg: Some(e2e("three-level-dp4-mp2x2.toml").display().to_string()),
            matrix: vec![vec![2, 1, 2], vec![1, 1, 2], vec![1, 2, 1]],
            request: 1,
            inner: "gpu:data",
            outer: "rack:data, node:pipe",
        },
    ]
}

fn templates(i: &str, o: &str) -> Vec<String> {
    vec![
        format!("all_reduce({i}, {o})"),
        format!("all_reduce({i}) ; all_reduce({o})"),
        format!("reduce({i}) ; all_reduce({o}) @ roots({i}) ; broadcast({i})"),
        format!("reduce_scatter({i}) ; all_reduce({o}) ; all_gather({i})"),
    ]
}

/// Mutants with what they are; `must_refute` for the kinds that are always wrong.
fn mutants(p: &Program, placement: &Placement) -> Vec<(String, Program, bool)> {
    let mut out = Vec::new();
    let steps = &p.steps;
    for i in 0..steps.len() {
        let mut m = p.clone();
        m.steps.remove(i);
        out.push((format!("drop step {}", i + 1), m, true));
        let mut m = p.clone();
        m.steps.insert(i, steps[i].clone());
        out.push((format!("duplicate step {}", i + 1), m, false));
        for op in Collective::ALL {
            if op != steps[i].op {
                let mut m = p.clone();
                m.steps[i].op = op;
                out.push((format!("step {} as {op}", i + 1), m, false));
            }
        }
        for (k, d) in steps[i].dims.iter().enumerate() {
            for axis in 0..placement.matrix.len() {
                let named = |s: &Step| {
                    s.dims
                        .iter()
                        .chain(&s.roots)
                        .any(|x| x.level == d.level && x.axis == axis)
                };
                if axis != d.axis
                    && placement.dim_index(d.level, axis).is_some()
                    && !named(&steps[i])
                {
                    let mut dims = steps[i].dims.clone();
                    dims[k].axis = axis;
                    let mut m = p.clone();
                    m.steps[i] = Step::new(steps[i].op, dims).at_roots(steps[i].roots.clone());
                    out.push((format!("step {} dim {k} to axis {axis}", i + 1), m, true));
                }
            }
        }
        if !steps[i].roots.is_empty() {
            let mut m = p.clone();
            m.steps[i].roots.clear();
            out.push((format!("step {} without roots", i + 1), m, true));
        }
        for j in i + 1..steps.len() {
            let mut m = p.clone();
            m.steps.swap(i, j);
            out.push((format!("swap steps {} and {}", i + 1, j + 1), m, false));
        }
    }
    out
}

fn check(case: &Case, placement: &Placement, program: &Program, what: &str) -> Result<(), Kind> {
    let request = &case.spec.requests[case.request].axes;
    compare(
        &case.spec,
        placement,
        request,
        program,
        &format!("{}: {what}", case.name),
    )
}

fn verify_cli(case: &Case, dir: &std::path::Path, text: &str) -> i32 {
    let file = support::write(dir, "program.txt", text);
    let matrix = collsynth::placement::MatrixText(&case.matrix).to_string();
    let request = case.request.to_string();
    let mut args = vec!["verify", &file, "--matrix", &matrix, "--request", &request];
    if let Some(s) = &case.spec_arg {
        args.extend(["--spec", s]);
    }
    let out = support::cli::run(&args, None);
    out.status.code().expect("exit code")
}

#[test]
fn the_four_programs_are_proved_and_their_mutants_refuted() {
    let dir = support::tempdir();
    let mut kinds = std::collections::BTreeSet::new();
    let mut refuted = 0;
    for case in cases(dir.path()) {
        let placement = Placement::new(&case.spec, case.matrix.clone()).unwrap();
        for (t, text) in templates(case.inner, case.outer).iter().enumerate() {
            let program = parse_program(&case.spec, text).unwrap();
            assert_eq!(
                check(&case, &placement, &program, "template"),
                Ok(()),
                "{}: {text}",
                case.name
            );
            assert_eq!(
                verify_cli(&case, dir.path(), text),
                0,
                "{}: {text}",
                case.name
            );
            for (k, (what, m, must_refute)) in mutants(&program, &placement).into_iter().enumerate()
            {
                let verdict = check(&case, &placement, &m, &what);
                if must_refute {
                    assert!(verdict.is_err(), "{}: {text}: {what} was proved", case.name);
                }
                if t == 1 && what.starts_with("swap") {
                    assert_eq!(verdict, Ok(()), "all_reduces commute: {}", case.name);
                }
                if let Err(kind) = verdict {
                    kinds.insert(kind.to_string());
                    refuted += 1;
                }
                if k < 3 {
                    let code = verify_cli(&case, dir.path(), &m.text(&case.spec));
                    assert_eq!(
                        code,
                        if verdict.is_ok() { 0 } else { 1 },
                        "{}: {what}",
                        case.name
                    );
                }
            }
        }
    }
    assert!(refuted > 150, "{refuted} mutants refuted");
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["extra", "ill_formed", "missing", "twice"]
    );
}

#[test]
fn nested_reduce_scatter_over_three_levels() {
    let dir = support::tempdir();
    let case = cases(dir.path()).remove(2);
    let placement = Placement::new(&case.spec, case.matrix.clone()).unwrap();
    let good = "reduce_scatter(gpu:data) ; reduce_scatter(node:data) ; all_reduce(rack:data) ; all_gather(node:data) ; all_gather(gpu:data)";
    let program = parse_program(&case.spec, good).unwrap();
    assert_eq!(check(&case, &placement, &program, "nested"), Ok(()));
    assert_eq!(verify_cli(&case, dir.path(), good), 0);
    // Undoing the scatters in the wrong order is ill-formed at the first gather
    // (docs/design.md: regions are contiguous).
    let bad = "reduce_scatter(gpu:data) ; reduce_scatter(node:data) ; all_reduce(rack:data) ; all_gather(gpu:data) ; all_gather(node:data)";
    let program = parse_program(&case.spec, bad).unwrap();
    assert_eq!(
        check(&case, &placement, &program, "wrong order"),
        Err(Kind::IllFormed)
    );
    let c = semantics::run(
        &case.spec,
        &placement,
        &[0],
        &lowered::lower(&placement, &program),
    )
    .unwrap_err();
    assert_eq!(c.step, Some(4));
    assert_eq!(verify_cli(&case, dir.path(), bad), 1);
    for (what, m, _) in mutants(&parse_program(&case.spec, good).unwrap(), &placement) {
        let _ = check(&case, &placement, &m, &what);
    }
}

#[test]
fn empty_program_is_correct_only_without_dims() {
    // data = 1: the request has no dims, and the empty program is correct.
    let s = SpecText::new()
        .levels(&[("node", 2), ("gpu", 4)])
        .axes(&[("data", 1), ("model", 8)])
        .all_reduce(&["data"])
        .spec();
    let p = Placement::new(&s, vec![vec![1, 1], vec![2, 4]]).unwrap();
    assert_eq!(
        semantics::run(&s, &p, &[0], &lowered::lower(&p, &Program::default())),
        Ok(())
    );
    let s = Spec::embedded_default();
    let p = Placement::new(&s, vec![vec![2, 4], vec![2, 2]]).unwrap();
    let c = semantics::run(&s, &p, &[0], &lowered::lower(&p, &Program::default())).unwrap_err();
    assert_eq!((c.kind, c.step, c.rank), (Kind::Missing, None, 0));
}
