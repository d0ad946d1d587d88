//! Helpers shared by the synth tests: small specs, and running abstract programs
//! through the reference interpreter on a concrete placement.
#![allow(dead_code)]

use collsynth::lowered;
use collsynth::placement::Placement;
use collsynth::program::Program;
use collsynth::semantics;
use collsynth::source::Source;
use collsynth::spec::Spec;
use collsynth::synth::shape::{AbsStep, Shape};

/// A spec with the given levels (name, arity) and axes (name, size), one all_reduce
/// request of 1 GB over `request`.
pub fn spec(levels: &[(&str, u64)], axes: &[(&str, u64)], request: &[&str]) -> Spec {
    let levels: Vec<String> = levels
        .iter()
        .enumerate()
        .map(|(i, (n, a))| {
            format!(
                "{{ name = \"{n}\", arity = {a}, bandwidth = \"{} GB/s\", latency = \"{} us\" }}",
                [25, 100, 235, 400][i % 4],
                [5, 2, 1, 1][i % 4]
            )
        })
        .collect();
    let axes: Vec<String> = axes
        .iter()
        .map(|(n, s)| format!("{{ name = \"{n}\", size = {s} }}"))
        .collect();
    let req: Vec<String> = request.iter().map(|a| format!("\"{a}\"")).collect();
    let text = format!(
        "axes = [ {} ]\n[system]\nname = \"test\"\nlevels = [ {} ]\n[[request]]\ncollective = \"all_reduce\"\naxes = [ {} ]\nbytes = \"1 GB\"\n",
        axes.join(", "),
        levels.join(", "),
        req.join(", ")
    );
    collsynth::spec::parse(&Source::new("test.toml", text), None).expect("test spec is valid")
}

/// The concrete program of abstract steps on a shape.
pub fn program(shape: &Shape, steps: &[AbsStep]) -> Program {
    Program {
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
