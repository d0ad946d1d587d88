//! `collsynth emit`: write a proven program as a PyTorch module, a JAX module or an
//! mpi4py script. A program must be proved correct by the SMT verifier before it is
//! emitted ([`prove_for_emit`]); `--unchecked` skips that and says so in the file's
//! header.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::problem::{resolve_problem, Problem};
use super::{exit, load_spec, print, usage, Failure, PlacementArg, SpecArg};
use crate::emit::{self, Proof, Target, Unit};
use crate::semantics;
use crate::spec::Spec;
use crate::verify::{self, Verdict};

/// `collsynth emit`.
#[derive(Debug, Args)]
pub struct EmitArgs {
    /// What to write: a PyTorch module, a JAX module, or an mpi4py script.
    #[arg(long, value_enum)]
    pub target: Target,
    /// The spec.
    #[command(flatten)]
    pub spec: SpecArg,
    /// The placement.
    #[command(flatten)]
    pub placement: PlacementArg,
    /// Which request of the spec (index from 0). Default: the only one, or the one
    /// whose axes are the axes the program names.
    #[arg(long, value_name = "R")]
    pub request: Option<usize>,
    /// The program: the K-th best (from 0) that `collsynth synth` finds for the
    /// placement and request.
    #[command(flatten)]
    pub program: ProgramArg,
    /// Write to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Emit even if the program is not proved correct (the header says so).
    #[arg(long)]
    pub unchecked: bool,
}

/// Which program to emit.
#[derive(Debug, Clone, Args)]
pub struct ProgramArg {
    /// The K-th best program (from 0) that `collsynth synth` finds for the placement
    /// and request.
    #[arg(long = "program", value_name = "K", conflicts_with = "program_file")]
    pub rank: Option<usize>,
    /// A program file: text or lowered JSON (`-` for stdin).
    #[arg(long = "program-file", value_name = "F")]
    pub program_file: Option<String>,
}

/// The one place that decides whether a program may be emitted: `Ok(Proof::Proved)`
/// when the SMT verifier proves it correct for its request (z3 `unsat`), exit 1 with
/// the counterexample when it is refuted, exit 3 when it cannot be decided, exit 4
/// when z3 and the interpreter disagree. A lowered program with no group form (not
/// dim-structured) is decided by the reference interpreter, and the header says so.
pub fn prove_for_emit(problem: &Problem) -> Result<Proof, Failure> {
    let refused = |cex: &crate::semantics::Counterexample| {
        Failure {
        code: exit::REFUTED,
        message: format!(
            "refused: the program is not correct for {}: {}\n(emit it with --unchecked to write it anyway, e.g. to watch the numerical check fail)",
            problem.spec.describe_request(&problem.request),
            cex.message
        ),
    }
    };
    let Some(program) = &problem.program else {
        return prove_by_interpreter(problem, &refused);
    };
    match verify::prove(
        &problem.spec,
        &problem.placement,
        &problem.request.axes,
        program,
        &verify::SmtOptions::default(),
    ) {
        Verdict::Proved => Ok(Proof::Proved("the SMT verifier (z3)".to_string())),
        Verdict::Refuted(cex) => Err(refused(&cex)),
        Verdict::Unknown(why) => Err(Failure {
            code: exit::UNKNOWN,
            message: format!("undecided: {why}; emit it with --unchecked to write it anyway"),
        }),
        Verdict::Inconsistent(why) => Err(Failure {
            code: exit::INTERNAL,
            message: format!("internal inconsistency: {why}"),
        }),
    }
}

fn prove_by_interpreter(
    problem: &Problem,
    refused: &dyn Fn(&crate::semantics::Counterexample) -> Failure,
) -> Result<Proof, Failure> {
    let cells = semantics::interpreter_cells(&problem.placement, &problem.lowered);
    if cells > semantics::MAX_INTERPRETER_CELLS {
        return Err(Failure {
            code: exit::UNKNOWN,
            message: format!(
                "undecided: the program has steps with no group form, which only the reference interpreter decides, and {} devices is too large for it; emit it with --unchecked to write it anyway",
                problem.placement.devices()
            ),
        });
    }
    match semantics::run(
        &problem.spec,
        &problem.placement,
        &problem.request.axes,
        &problem.lowered,
    ) {
        Ok(()) => Ok(Proof::Proved(
            "the reference interpreter (explicit groups, not dim-structured)".to_string(),
        )),
        Err(cex) => Err(refused(&cex)),
    }
}

/// Resolves the program a command names into a [`Unit`] to emit, proving it first
/// unless `unchecked`.
pub(super) fn resolve_unit(
    spec: Spec,
    placement: &PlacementArg,
    request: Option<usize>,
    program: &ProgramArg,
    unchecked: bool,
) -> Result<(Spec, Unit), Failure> {
    let Some(file) = &program.program_file else {
        return Err(usage(format!(
            "--program {}: choosing the K-th best synthesized program needs `collsynth synth`, which this build does not have yet; give the program with --program-file F (a text or lowered-JSON file)",
            program.rank.unwrap_or(0)
        )));
    };
    let problem = resolve_problem(spec, file, placement, request)?;
    let proof = if unchecked {
        Proof::Unchecked
    } else {
        prove_for_emit(&problem)?
    };
    let name = emit::request_function_name(&problem.spec, &problem.request);
    let unit = Unit {
        name,
        placement_index: problem.index,
        placement: problem.placement,
        request_index: problem.request_index,
        request: problem.request,
        lowered: problem.lowered,
        program: problem.program,
        proof,
    };
    Ok((problem.spec, unit))
}

/// Renders units for a target; a program the target cannot express is an input error.
pub fn render(target: Target, spec: &Spec, units: &[Unit]) -> Result<String, Failure> {
    match target {
        Target::Torch => emit::torch::render(spec, units),
        Target::Jax => emit::jax::render(spec, units),
        Target::Mpi4py => emit::mpi::render(spec, units),
    }
    .map_err(|e| usage(e.to_string()))
}

pub(super) fn emit(a: EmitArgs) -> Result<ExitCode, Failure> {
    let spec = load_spec(None, &a.spec)?;
    let (spec, unit) = resolve_unit(spec, &a.placement, a.request, &a.program, a.unchecked)?;
    let text = render(a.target, &spec, std::slice::from_ref(&unit))?;
    match &a.output {
        None => print(&text)?,
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| usage(format!("cannot write {}: {e}", path.display())))?;
            if a.target == Target::Mpi4py {
                make_executable(path);
            }
            eprintln!(
                "wrote {} ({} target; placement {}, {})",
                path.display(),
                a.target.name(),
                unit.placement_index,
                emit::program_text(&spec, &unit)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(unix)]
fn make_executable(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        let mut p = m.permissions();
        p.set_mode(p.mode() | 0o111);
        let _ = std::fs::set_permissions(path, p);
    }
}

#[cfg(not(unix))]
fn make_executable(_path: &std::path::Path) {}
