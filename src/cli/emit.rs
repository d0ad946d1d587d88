//! `collsynth emit`: write a proven program as a PyTorch module, a JAX module or an
//! mpi4py script.
//!
//! The programs come from synthesis by default (`resolve_units`): on the chosen
//! placement (default: the best, as `collsynth synth` ranks them), the K-th best
//! program (`--program K`, default 0) of the chosen request (default: every request,
//! one function each). Synthesis checks every program it returns, so its verdict is
//! the proof. A program given with `--program-file` must be proved correct before it
//! is emitted ([`prove_for_emit`]); `--unchecked` skips that
//! and says so in the file's header.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::outcome::{usage, Error, Outcome, Result};
use super::{load_spec, print, PlacementArg, SmtArgs, SpecArg};
use crate::emit::synthesized::{self, PickError};
use crate::emit::{self, Proof, Target, Unit};
use crate::problem::{choose_request, chosen_placement, program_request, resolve_problem, Problem};
use crate::rules::RuleSet;
use crate::semantics::Counterexample;
use crate::spec::Spec;
use crate::synth::backend::Standard;
use crate::synth::{self as synthesis, Options, Selection};
use crate::units::format_seconds;
use crate::verdict::Verdict;
use crate::verify::SmtOptions;

/// `--target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetArg {
    /// A PyTorch module (`torch.distributed`, `DeviceMesh`).
    Torch,
    /// A JAX module (`shard_map` with `psum`, `psum_scatter`, `all_gather`).
    Jax,
    /// An mpi4py script for `mpirun -np N`.
    #[value(name = "mpi4py")]
    Mpi4py,
}

impl From<TargetArg> for Target {
    fn from(t: TargetArg) -> Target {
        match t {
            TargetArg::Torch => Target::Torch,
            TargetArg::Jax => Target::Jax,
            TargetArg::Mpi4py => Target::Mpi4py,
        }
    }
}

/// How `emit` and `run-mpi` choose what to run; shown under `--help`.
pub const DEFAULTS_HELP: &str = "\
Which programs, by default: collsynth synthesizes (as `collsynth synth` does; every
program it returns is proved by z3) and takes, on the placement of --placement or
--matrix (default: the best placement, as `synth` ranks them), the K-th best program
(--program K, default 0: the best) of the request of --request (default: every request
of the spec, one function each). So without these flags it takes the best
placement's best program for every request of the spec (all_reduce,
reduce_scatter and all_gather alike; send_recv requests are priced, not emitted).
--program-file F takes a program from a file instead (one request), which is proved
first (by z3; by the reference interpreter where z3 leaves it undecided).";

/// `collsynth emit`.
#[derive(Debug, Args)]
#[command(after_help = DEFAULTS_HELP)]
pub struct EmitArgs {
    /// What to write: a PyTorch module, a JAX module, or an mpi4py script.
    #[arg(long, value_enum)]
    pub target: TargetArg,
    /// Which programs.
    #[command(flatten)]
    pub programs: ProgramsArgs,
    /// Write to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Which programs `emit` and `run-mpi` take (see [`DEFAULTS_HELP`]).
#[derive(Debug, Args)]
pub struct ProgramsArgs {
    /// The spec.
    #[command(flatten)]
    pub spec: SpecArg,
    /// The placement (default: the best).
    #[command(flatten)]
    pub placement: PlacementArg,
    /// Which request of the spec (index from 0). Default: every request (one program
    /// each); with --program-file, the only one or the one whose axes the program names.
    #[arg(long, value_name = "R")]
    pub request: Option<usize>,
    /// The program.
    #[command(flatten)]
    pub program: ProgramArg,
    /// Take the program even if it is not proved correct (an emitted header says so).
    #[arg(long)]
    pub unchecked: bool,
    /// z3's budgets, for synthesis and for a --program-file's proof.
    #[command(flatten)]
    pub smt: SmtArgs,
}

/// Which program to emit.
#[derive(Debug, Clone, Args)]
pub struct ProgramArg {
    /// The K-th best program (from 0) that synthesis finds for the placement and
    /// request [default: 0, the best].
    #[arg(long = "program", value_name = "K", conflicts_with = "program_file")]
    pub rank: Option<usize>,
    /// A program file: text or lowered JSON (`-` for stdin), instead of synthesis.
    #[arg(long = "program-file", value_name = "F")]
    pub program_file: Option<String>,
}

/// The one place that decides whether a program may be emitted: `Ok(Proof::Proved)`
/// when it is proved correct for its request ([`emit::check::decide`]: z3, or the
/// reference interpreter where z3 cannot decide yet, and the header says which),
/// exit 1 with the counterexample when it is refuted, exit 3 when it cannot be
/// decided, exit 4 when z3 contradicts itself.
pub fn prove_for_emit(problem: &Problem, smt: &SmtOptions) -> Result<Proof> {
    let (verdict, by) = emit::check::decide(problem, smt)?;
    let refused = |cex: &Counterexample| {
        Error::Failed(format!(
            "refused: the program is not correct for {}: {}\n(emit it with --unchecked to write it anyway, e.g. to watch the numerical check fail)",
            problem.spec.describe_request(&problem.request),
            cex.message
        ))
    };
    match verdict {
        Verdict::Proved => Ok(Proof::Proved(by.to_string())),
        Verdict::Refuted(cex) => Err(refused(&cex)),
        Verdict::Unknown(why) => Err(Error::Undecided(format!(
            "{why}; emit it with --unchecked to write it anyway"
        ))),
    }
}

/// Resolves the programs a command names into [`Unit`]s to emit: the program of
/// `--program-file` (proved first unless `--unchecked`), or synthesized ones (see
/// [`DEFAULTS_HELP`]). Says on stderr which synthesized programs were taken.
pub(super) fn resolve_units(spec: Spec, a: &ProgramsArgs) -> Result<(Spec, Vec<Unit>)> {
    if spec.devices() > crate::lowered::MAX_LOWERED_DEVICES {
        return Err(usage(format!(
            "{}: the system has {} devices; emitted programs carry every rank's groups, which collsynth builds for at most 2^20 ({}) devices: emit for a smaller system (the rank convention is the same at every size)",
            spec.source,
            spec.devices(),
            crate::lowered::MAX_LOWERED_DEVICES
        )));
    }
    match &a.program.program_file {
        Some(file) => {
            let (spec, unit) = resolve_file(spec, file, a)?;
            Ok((spec, vec![unit]))
        }
        None => {
            let units = synthesized_units(&spec, a)?;
            Ok((spec, units))
        }
    }
}

fn resolve_file(spec: Spec, file: &str, a: &ProgramsArgs) -> Result<(Spec, Unit)> {
    let problem = resolve_problem(spec, file, &a.placement.choice()?, a.request)?;
    let proof = if a.unchecked {
        Proof::Unchecked
    } else {
        prove_for_emit(&problem, &a.smt.options())?
    };
    let name = emit::request_function_name(&problem.spec, &problem.request);
    let unit = Unit {
        name,
        placement_index: problem.index,
        placement: problem.placement,
        request_index: problem.request_index,
        request: problem.request,
        lowered: problem
            .lowered
            .expect("programs are lowered up to MAX_LOWERED_DEVICES, checked above"),
        program: problem.program,
        chunks: problem.chunks,
        proof,
    };
    Ok((problem.spec, unit))
}

/// The `rank`-th best synthesized program of the chosen request (default: every
/// request) on the chosen placement (default: the best).
fn synthesized_units(spec: &Spec, a: &ProgramsArgs) -> Result<Vec<Unit>> {
    let (request, rank, unchecked) = (a.request, a.program.rank.unwrap_or(0), a.unchecked);
    let smt = a.smt.options();
    // Validate the request before the (longer) synthesis.
    let requests: Vec<usize> = match request {
        Some(r) => {
            program_request(spec, Some(r), None)?;
            vec![r]
        }
        None => {
            choose_request(spec, Some(0), None)?;
            // send_recv requests are priced, not programs: nothing to emit for them.
            let all: Vec<usize> = (0..spec.requests.len())
                .filter(|&r| spec.requests[r].collective.takes_programs())
                .collect();
            if all.is_empty() {
                return Err(usage(
                    "the spec's requests are all send_recv, which are priced, not emitted: add an all_reduce, reduce_scatter or all_gather request",
                ));
            }
            all
        }
    };
    let chosen = chosen_placement(spec, &a.placement.choice()?)?;
    let opts = Options {
        top: rank.saturating_add(1),
        selection: chosen
            .as_ref()
            .map_or(Selection::Best, |(i, _)| Selection::One(*i)),
        ..Options::default()
    };
    let backend = Standard { smt };
    let result = synthesis::synthesize(spec, &backend, &RuleSet::builtin(), &opts)
        .map_err(|e| usage(e.to_string()))?;
    if !result.stats.refuted.is_empty() {
        return Err(Error::Internal(format!(
            "synthesis produced refuted program(s) (a rewrite rule is unsound), so its ranking cannot be trusted:\n  {}",
            result.stats.refuted.join("\n  ")
        )));
    }
    if let Some(msg) = result.unanswered(spec) {
        return Err(Error::Undecided(msg));
    }
    super::synth::note_cut(&result.stats);
    let Some(p) = result.placements.first() else {
        return Err(usage(
            "synthesis found no placement with a program for every request",
        ));
    };
    let pick = |e: PickError| match e {
        PickError::NotProved { .. } => {
            Error::Undecided(format!("{e}; emit it with --unchecked to write it anyway"))
        }
        PickError::NotEnoughPrograms { .. } | PickError::NoSuchRequest { .. } => {
            usage(e.to_string())
        }
    };
    let units = synthesized::units(spec, p, &requests, rank, result.stats.checker, unchecked)
        .map_err(pick)?;

    let which = if chosen.is_some() {
        "as chosen".to_string()
    } else {
        format!("the best of {}", result.stats.placements)
    };
    for u in &units {
        let cost = p
            .results
            .iter()
            .find(|r| Some(r.request) == u.request_index)
            .and_then(|r| r.programs.get(rank).map(|x| x.cost_s).or(r.priced_s))
            .map(format_seconds)
            .unwrap_or_default();
        eprintln!(
            "note: placement {} ({which}), request {}: program {rank} of the ranking, predicted {cost}: {}",
            p.index,
            emit::request_text(spec, u),
            emit::program_text(spec, u)
        );
    }
    Ok(units)
}

/// Renders units for a target; a program the target cannot express is an input error.
pub fn render(target: Target, spec: &Spec, units: &[Unit]) -> Result<String> {
    match target {
        Target::Torch => emit::torch::render(spec, units),
        Target::Jax => emit::jax::render(spec, units),
        Target::Mpi4py => emit::mpi::render(spec, units),
    }
    .map_err(|e| usage(e.to_string()))
}

pub(super) fn emit(a: EmitArgs) -> Result {
    let target = Target::from(a.target);
    let spec = load_spec(None, &a.programs.spec)?;
    let (spec, units) = resolve_units(spec, &a.programs)?;
    let text = render(target, &spec, &units)?;
    match &a.output {
        None => print(&text),
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| usage(format!("cannot write {}: {e}", path.display())))?;
            if target == Target::Mpi4py {
                make_executable(path);
            }
            let names: Vec<&str> = units.iter().map(|u| u.name.as_str()).collect();
            eprintln!(
                "wrote {} ({} target; placement {}; {})",
                path.display(),
                target.name(),
                units[0].placement_index,
                match units.as_slice() {
                    [u] => emit::program_text(&spec, u),
                    _ => format!("functions {}", names.join(", ")),
                }
            );
        }
    }
    Ok(Outcome::Success)
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
