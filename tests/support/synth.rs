//! The synth tests' helpers: abstract programs run through the reference interpreter
//! on a concrete placement, unit costs, and every rule applied inside correct programs.

use std::collections::BTreeMap;

use collsynth::lowered;
use collsynth::placement::Placement;
use collsynth::program::Program;
use collsynth::rules::AbsStep;
use collsynth::rules::{add_step, Prog, ProgGraph, Sets};
use collsynth::rules::{instances, RuleSet};
use collsynth::semantics;
use collsynth::spec::Spec;
use collsynth::synth::enumerate::{self, EnumLimits};
use collsynth::synth::extract::{Candidate, StepOracle};
use collsynth::synth::shape::Shape;
use collsynth::synth::state;
use egg::Id;

use super::spec::SpecText;

/// The concrete program of abstract steps on a shape.
pub fn program(shape: &Shape, steps: &[AbsStep]) -> Program {
    Program {
        layout: Vec::new(),
        steps: steps.iter().map(|s| shape.step(s)).collect(),
    }
}

/// Runs abstract steps through the interpreter on a placement, for request 0.
pub fn interpret(spec: &Spec, p: &Placement, steps: &[AbsStep]) -> Result<(), String> {
    let axes = &spec.requests[0].axes;
    let shape = Shape::of(p, axes);
    let prog = program(&shape, steps);
    let low = lowered::lower(p, &prog);
    semantics::run(spec, p, axes, &low).map_err(|c| format!("{}: {}", prog.text(spec), c.message))
}

/// Unit costs: every program is a candidate; ties are broken by text.
pub struct Unit<'a>(pub &'a Shape, pub &'a collsynth::spec::Spec);

impl StepOracle for Unit<'_> {
    fn cost_fs(&self, _: &AbsStep) -> u128 {
        1
    }
    fn text(&self, s: &AbsStep) -> String {
        collsynth::program::Text(self.1, &self.0.step(s)).to_string()
    }
}

/// The right-nested term of `steps`.
fn term(eg: &mut ProgGraph, steps: &[AbsStep]) -> Id {
    let first = add_step(eg, &steps[0]);
    if steps.len() == 1 {
        return first;
    }
    let rest = term(eg, &steps[1..]);
    eg.add(Prog::Seq([first, rest]))
}

/// The steps of a term added to a fresh e-graph (one node per class).
fn flatten(eg: &ProgGraph, id: Id, out: &mut Vec<AbsStep>) {
    let node = &eg[id].nodes[0];
    if let Prog::Seq([a, b]) = node {
        flatten(eg, *a, out);
        flatten(eg, *b, out);
    } else if let Some((op, [d, s, r])) = node.as_step() {
        let set = |i: Id| eg[i].data.expect("a dim set");
        out.push(AbsStep {
            op,
            dims: set(d),
            shard: set(s),
            roots: set(r),
        });
    }
}

/// Applies every rule at every place of every correct program of up to `max_steps`
/// steps and checks each result with the interpreter; returns applications per rule.
pub fn check_rules_on(
    rules: &RuleSet,
    spec: &collsynth::spec::Spec,
    matrix: Vec<Vec<u64>>,
    max_steps: usize,
) -> Result<BTreeMap<String, usize>, String> {
    let p = Placement::new(spec, matrix).unwrap();
    let shape = Shape::of(&p, &spec.requests[0].axes);
    let (programs, report) = enumerate::k_best(
        shape.len(),
        1_000_000,
        EnumLimits {
            max_steps,
            node_budget: u64::MAX,
        },
        &Unit(&shape, spec),
    );
    assert!(report.stop_reason.exhaustive(), "{}", report.stop_reason);
    let mut applied: BTreeMap<String, usize> = rules.rules().map(|r| (r.name.clone(), 0)).collect();
    for Candidate { steps, .. } in &programs {
        interpret(spec, &p, steps).expect("the enumerator only returns correct programs");
        for i in 0..steps.len() {
            for j in [i + 1, i + 2, steps.len()] {
                if j > steps.len() || j <= i {
                    continue;
                }
                for rule in rules.rules() {
                    let mut eg = ProgGraph::new(Sets);
                    let id = term(&mut eg, &steps[i..j]);
                    for inst in instances(rule, &mut eg, id) {
                        let mut mid = Vec::new();
                        flatten(&eg, inst, &mut mid);
                        let rewritten: Vec<AbsStep> = steps[..i]
                            .iter()
                            .chain(&mid)
                            .chain(&steps[j..])
                            .copied()
                            .collect();
                        if let Err(e) = interpret(spec, &p, &rewritten) {
                            return Err(format!("rule {} is unsound: rewriting steps {i}..{j} of a correct program gives {e}", rule.name));
                        }
                        assert_eq!(
                            state::check(shape.len(), &rewritten),
                            Ok(true),
                            "abstract state disagrees on a rule result"
                        );
                        *applied.get_mut(&rule.name).unwrap() += 1;
                    }
                }
            }
        }
    }
    Ok(applied)
}

/// The problem of the rule checks with two reduced dims: data = 6 over x (3) and
/// y (2), with y:model (2) between nothing reduced: levels x (3) and y (4), the
/// placement `3,2;1,2`, one all_reduce over data.
pub fn two_dims() -> (Spec, Vec<Vec<u64>>) {
    let spec = SpecText::new()
        .levels(&[("x", 3), ("y", 4)])
        .axes(&[("data", 6), ("model", 2)])
        .all_reduce(&["data"])
        .spec();
    (spec, vec![vec![3, 2], vec![1, 2]])
}

/// The problem of the rule checks with three reduced dims: data = 12 over a (2),
/// b (3), c (2), with b:model (2) in between: levels a (2), b (6), c (2), the
/// placement `2,3,2;1,2,1`, one all_reduce over data.
pub fn three_dims() -> (Spec, Vec<Vec<u64>>) {
    let spec = SpecText::new()
        .levels(&[("a", 2), ("b", 6), ("c", 2)])
        .axes(&[("data", 12), ("model", 2)])
        .all_reduce(&["data"])
        .spec();
    (spec, vec![vec![2, 3, 2], vec![1, 2, 1]])
}
