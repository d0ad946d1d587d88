//! The command line: argument syntax (clap), then validation into real objects, then
//! the subcommands. Results go to stdout, diagnostics to stderr; every subcommand
//! returns an [`Outcome`] or an [`Error`], and [`exit_code`] alone turns them into the
//! exit code (`docs/design.md`, "Command line"). clap is used here and nowhere else.

pub mod bench;
pub mod calibrate;
mod cost;
pub mod emit;
pub mod outcome;
mod placements;
mod progress;
pub mod prove;
pub mod run_mpi;
pub mod simulate;
pub mod synth;
mod verify;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use outcome::{exit_code, Error, Outcome};
use outcome::{usage, Result};

use crate::problem::{self, PlacementChoice, Problem};
use crate::spec::{Spec, SpecSource};
use crate::verify::SmtOptions;

/// collsynth: where should each parallelism axis live, and how should I reduce over
/// the axes I name — provably correct and fast?
///
/// Give it a spec (system hierarchy, parallelism axes, requests), or a built-in system
/// and the problem as flags (`collsynth systems`; `--system dgx-h100 --nodes 16 --axes
/// data=16,tensor=8 --collective all_reduce:data:2GB`); without either it uses an
/// embedded default (4 × DGX A100, data = 8, model = 4, 1 GB all_reduce over data).
#[derive(Debug, Parser)]
#[command(name = "collsynth", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// More logging on stderr (-v: info, -vv: debug, -vvv: trace); RUST_LOG also works.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every placement (parallelism matrix) of a spec, with its dims.
    ///
    /// Rows of a matrix are the axes in spec order, columns the levels outer to inner;
    /// entry (a, l) says over how many of level l's children axis a is spread.
    /// Placements are numbered from 0 in lexicographic order of the matrix read row
    /// by row; that number is what --placement takes everywhere.
    ///
    /// Below each placement: the line to paste into a training script when the ranks
    /// follow one order of the axes (Megatron-Core `order="tp-dp-pp"`, torch
    /// `init_device_mesh`, JAX `Mesh`; `rank_order` in --json, fastest axis first),
    /// else why not and the explicit DeviceMesh / JAX Mesh over the rank grid.
    Placements(PlacementsArgs),
    /// Check that a program reduces exactly the requested axes (exit 0 proved,
    /// 1 refuted, 2 bad input, 3 undecided, 4 internal inconsistency).
    ///
    /// PROGRAM is a text program file, `-` for stdin, or a lowered-JSON file. Text:
    ///   reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)
    Verify(VerifyArgs),
    /// Predict a program's time with the contention-aware α-β model, against the
    /// lower bound, the flat single-step all_reduce and NCCL's own ring/tree.
    ///
    /// Per step: time, heaviest link per level, bottleneck; then the total, algbw and
    /// busbw (nccl-tests definitions), the ratio to the lower bound and the speedups
    /// over the flat ring and over NCCL. PROGRAM is a text or lowered-JSON file, `-`
    /// for stdin.
    Cost(CostArgs),
    /// Find the best programs for every request and rank the placements (every
    /// printed program checked).
    ///
    /// Programs are found by equality saturation over the rewrite rules in
    /// grammar/rules (--engine egraph, the default) or by enumerating step sequences
    /// (--engine enumerate, the baseline). Placements are ranked by score: the sum over
    /// requests of count x exposed x the best program's time (a send_recv request,
    /// pipeline traffic, is priced, not synthesized). Each program is shown against
    /// the lower bound, the flat ring and what NCCL would run by itself.
    Synth(synth::SynthArgs),
    /// Write proven programs as a PyTorch module, a JAX module or an mpi4py script
    /// (exit 1 if a program is not proved correct, unless --unchecked).
    ///
    /// By default: the best placement's best synthesized program for every request
    /// (see the end of --help). Every file names in its header the spec, placement, request, program and
    /// collsynth version it came from.
    Emit(emit::EmitArgs),
    /// Run programs under mpirun with their numerical check (mpi4py), to try the
    /// answer on a laptop before the cluster.
    ///
    /// By default the programs `emit` takes: the best placement's best synthesized
    /// program for every request. Emits the mpi4py script to a temporary file and runs
    /// `mpirun -np N python3 SCRIPT --check` (Open MPI: with --oversubscribe and
    /// --allow-run-as-root); exit 0 when every rank holds the right sums, 1 when not.
    RunMpi(run_mpi::RunMpiArgs),
    /// Run the performance suite: both engines side by side on the example specs and
    /// generated hierarchies up to 2^20 devices, with proof times, bounds, speedups
    /// over the flat all_reduce and peak memory.
    ///
    /// Every printed program is proven; exit 4 if any synthesized program is refuted
    /// or undecided. Nothing is asserted about time.
    Bench(bench::BenchArgs),
    /// Write or check the soundness obligations of the rewrite rules (proofs/*.smt2),
    /// discharged by z3 (exit 0 all unsat and files identical, 1 a difference or a
    /// counterexample, 3 undecided).
    ///
    /// `--write DIR` writes one `<rule>.smt2` per rule; `--check [DIR]` (default
    /// proofs) re-derives every obligation from the rules, fails on any difference
    /// from the files, and requires z3 to answer unsat to every check. Each rule is
    /// checked on its virtual instances (one virtual dim per class of dims) with every
    /// class size 2, 3 and 4, any buffer size, from an arbitrary starting state; the
    /// `covers` column names what extends that to every class size: a small-model
    /// theorem (rules without reduce_scatter/all_gather) or a composition of proved
    /// equivalences (C1-C6); "sizes 2-4" when neither applies. proofs/README.md gives
    /// the arguments.
    Prove(prove::ProveArgs),
    /// Fit levels' `latency` and `bandwidth` to nccl-tests output and write a system
    /// file, with every row's residual.
    ///
    /// Each --run is one nccl-tests file (all_reduce_perf, reduce_scatter_perf or
    /// all_gather_perf) whose group spans one level: `gpu:8=FILE` for 8 GPUs of one
    /// node, `node:4=FILE` for one GPU on each of 4 nodes. The fit uses the cost
    /// model's own price of that run (docs/cost-model.md, "Calibration").
    Calibrate(calibrate::CalibrateArgs),
    /// List the built-in systems (`--system NAME`, `system = "catalog:NAME"`), each
    /// with its levels, its effective figures and their sources.
    Systems(SystemsArgs),
    /// Run a placement's top programs through SimGrid's SMPI on a platform generated
    /// from the spec, and compare simulated with predicted times and rankings.
    ///
    /// An independent check of the cost model (docs/cost-model.md, "SimGrid check"):
    /// the same links, SimGrid's flow-level sharing and SMPI's own collectives instead
    /// of the model's closed form. Prints predicted vs simulated time per program and
    /// the rankings' agreement (Kendall tau, pairs, top-1).
    Simulate(simulate::SimulateArgs),
}

/// Where the spec comes from: a file, or a built-in system with the axes and
/// requests on the command line (`docs/design.md`, "Catalog of systems").
#[derive(Debug, Clone, Default, Args)]
pub struct SpecArg {
    /// Spec file (TOML). Without one (and without --system), the embedded default is
    /// used (and stderr says so).
    #[arg(short = 's', long = "spec", value_name = "SPEC")]
    pub spec: Option<PathBuf>,
    /// A built-in system instead of a spec file (`collsynth systems` lists them),
    /// with --nodes (or --racks), --axes and --collective.
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Problem without a spec file"
    )]
    pub system: Option<String>,
    /// Nodes in all, for --system.
    #[arg(long, value_name = "N", help_heading = "Problem without a spec file")]
    pub nodes: Option<u64>,
    /// Racks, for a --system that has racks.
    #[arg(long, value_name = "R", help_heading = "Problem without a spec file")]
    pub racks: Option<u64>,
    /// The parallelism axes, for --system: `data=8,model=4` (in spec order).
    #[arg(
        long,
        value_name = "NAME=SIZE,...",
        help_heading = "Problem without a spec file"
    )]
    pub axes: Option<String>,
    /// A request, for --system (repeat for several): `COLLECTIVE:AXES:BYTES[:COUNT]`,
    /// AXES joined by `+`, e.g. `all_reduce:data:2GB`, `all_reduce:tensor:32MB:96`,
    /// `send_recv:pipe:64MB:8`.
    #[arg(
        long = "collective",
        value_name = "COLLECTIVE:AXES:BYTES[:COUNT]",
        help_heading = "Problem without a spec file"
    )]
    pub collectives: Vec<String>,
    /// Write the spec that --system, --axes and --collective describe (TOML, to keep
    /// and edit) to stdout, and stop.
    #[arg(long, help_heading = "Problem without a spec file")]
    pub print_spec: bool,
}

impl SpecArg {
    /// Whether the problem comes from flags rather than a file.
    fn is_spec_free(&self) -> bool {
        self.system.is_some()
            || self.nodes.is_some()
            || self.racks.is_some()
            || self.axes.is_some()
            || !self.collectives.is_empty()
    }

    /// The spec text that the spec-free flags describe.
    pub fn problem_toml(&self) -> Result<String> {
        let Some(system) = &self.system else {
            return Err(usage(
                "--nodes, --racks, --axes and --collective describe a problem on a built-in system: give --system NAME too (`collsynth systems` lists them), or a spec file",
            ));
        };
        let Some(axes) = &self.axes else {
            return Err(usage(format!(
                "--system {system}: give the parallelism axes too, like --axes data=8,model=4 (their sizes multiply to the device count)"
            )));
        };
        let axes = crate::catalog::parse_axes_flag(axes).map_err(usage)?;
        let requests = self
            .collectives
            .iter()
            .map(|c| crate::catalog::parse_collective_flag(c))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(usage)?;
        let size = crate::spec::SystemSize {
            nodes: self.nodes,
            racks: self.racks,
        };
        crate::catalog::problem_toml(system, size, &axes, &requests)
            .map_err(|e| usage(format!("--system {system}: {e}")))
    }
}

/// Which placement.
#[derive(Debug, Clone, Args)]
pub struct PlacementArg {
    /// Placement index (see `collsynth placements`).
    #[arg(long, value_name = "N", conflicts_with = "matrix")]
    pub placement: Option<String>,
    /// Placement as a matrix: rows = axes separated by `;`, entries = levels, e.g. "2,4;1,2".
    #[arg(long, value_name = "ROWS")]
    pub matrix: Option<String>,
}

impl PlacementArg {
    /// The choice, with the index parsed.
    pub fn choice(&self) -> Result<PlacementChoice> {
        if let Some(m) = &self.matrix {
            return Ok(PlacementChoice::Matrix(m.clone()));
        }
        match &self.placement {
            None => Ok(PlacementChoice::Unspecified),
            Some(n) => n.parse().map(PlacementChoice::Index).map_err(|_| {
                usage(format!(
                    "--placement takes an index from 0 (see `collsynth placements`), not `{n}`"
                ))
            }),
        }
    }
}

/// z3's budgets, for every subcommand that proves.
#[derive(Debug, Clone, Args)]
pub struct SmtArgs {
    /// z3's timeout per check, in milliseconds (wall clock); a timeout is
    /// "undecided" (exit 3), never a proof.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub smt_timeout_ms: u64,
    /// z3's resource limit per check (`rlimit`, solver operations): a deterministic
    /// budget, the same answer on any machine; hitting it is "undecided" (exit 3).
    /// Default: none.
    #[arg(long, value_name = "N")]
    pub smt_rlimit: Option<u64>,
}

impl SmtArgs {
    /// The solver options.
    pub fn options(&self) -> SmtOptions {
        SmtOptions {
            timeout_ms: self.smt_timeout_ms,
            rlimit: self.smt_rlimit,
        }
    }
}

/// `collsynth placements`.
#[derive(Debug, Args)]
pub struct PlacementsArgs {
    /// Spec file (same as --spec).
    #[arg(value_name = "SPEC", conflicts_with = "spec")]
    pub positional: Option<PathBuf>,
    /// The spec.
    #[command(flatten)]
    pub spec: SpecArg,
    /// Machine-readable output (schema_version 1).
    #[arg(long)]
    pub json: bool,
    /// Print every rank's axis coordinates (in JSON they are included anyway for
    /// systems of at most 4,096 devices).
    #[arg(long)]
    pub coords: bool,
    /// Also write the placements as one self-contained HTML page to FILE: the
    /// hierarchy coloured by each axis, one drawing per axis, with the --json document
    /// embedded (docs/design.md, "The HTML page"). stdout keeps its usual output.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// A program and the spec, placement and request it is checked or costed on.
#[derive(Debug, Clone, Args)]
pub struct ProblemArgs {
    /// Program: a text file, a lowered-JSON file, or `-` for stdin.
    #[arg(value_name = "PROGRAM")]
    pub program: String,
    /// The spec.
    #[command(flatten)]
    pub spec: SpecArg,
    /// The placement.
    #[command(flatten)]
    pub placement: PlacementArg,
    /// Which request of the spec (index from 0). Default: the only one, or the one
    /// whose axes are exactly the axes the program names.
    #[arg(long, value_name = "R")]
    pub request: Option<usize>,
}

impl ProblemArgs {
    /// Loads the spec and resolves program, placement and request.
    pub fn resolve(&self) -> Result<Problem> {
        let spec = load_spec(None, &self.spec)?;
        Ok(problem::resolve_problem(
            spec,
            &self.program,
            &self.placement.choice()?,
            self.request,
        )?)
    }
}

/// `collsynth verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The program and what it runs on.
    #[command(flatten)]
    pub problem: ProblemArgs,
    /// Machine-readable output (schema_version 1).
    #[arg(long)]
    pub json: bool,
    /// Who decides: the z3 proof (`smt`), the reference interpreter, or both (they
    /// must agree); each decides all_reduce, reduce_scatter and all_gather requests.
    /// Lowered programs that are not dim-structured are always decided by the
    /// interpreter.
    #[arg(long, value_enum, default_value = "smt")]
    pub by: DecideBy,
    /// z3's budgets.
    #[command(flatten)]
    pub smt: SmtArgs,
    /// Write the z3 query as SMT-LIB2 to FILE.
    #[arg(long, value_name = "FILE")]
    pub dump_smt: Option<PathBuf>,
}

/// Who decides `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DecideBy {
    /// The reference interpreter (grows with the device count).
    Interpreter,
    /// The z3 proof (does not grow with the device count).
    Smt,
    /// Both; a disagreement is an internal inconsistency (exit 4).
    Both,
}

/// `collsynth cost`.
#[derive(Debug, Args)]
pub struct CostArgs {
    /// The program and what it runs on.
    #[command(flatten)]
    pub problem: ProblemArgs,
    /// Buffer size per device, e.g. "256 MB" (default: the request's `bytes`).
    #[arg(long, value_name = "SIZE", conflicts_with = "sweep")]
    pub bytes: Option<String>,
    /// Sizes A, 4A, 16A, ... below B, then B itself, e.g. "4KB..4GB": one summary row each.
    #[arg(long, value_name = "A..B")]
    pub sweep: Option<String>,
    /// Machine-readable output (schema_version 1).
    #[arg(long)]
    pub json: bool,
}

/// `collsynth systems`.
#[derive(Debug, Args)]
pub struct SystemsArgs {
    /// Only this system.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Machine-readable output (schema_version 1).
    #[arg(long)]
    pub json: bool,
}

impl Command {
    /// The spec arguments of a subcommand that takes a spec.
    fn spec_arg(&self) -> Option<&SpecArg> {
        match self {
            Command::Placements(a) => Some(&a.spec),
            Command::Verify(a) => Some(&a.problem.spec),
            Command::Cost(a) => Some(&a.problem.spec),
            Command::Synth(a) => Some(&a.spec),
            Command::Emit(a) => Some(&a.programs.spec),
            Command::RunMpi(a) => Some(&a.programs.spec),
            Command::Simulate(a) => Some(&a.spec),
            _ => None,
        }
    }
}

/// Parses a command line (the program name first, as from `std::env::args_os`), runs
/// it and returns its outcome: what the `collsynth` binary does, without leaving the
/// process. A usage error or `--help` is printed here (exit 2 or 0); logging is set up
/// once per process, on the first call.
pub fn run_args<I, T>(args: I) -> Outcome
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Outcome::BadInput
            } else {
                Outcome::Success
            };
        }
    };
    init_logging(cli.verbose);
    match run(cli) {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("{e}");
            e.outcome()
        }
    }
}

fn systems(a: SystemsArgs) -> Result {
    let only = match &a.name {
        Some(n) => Some(crate::catalog::find(n).map_err(usage)?),
        None => None,
    };
    print(&if a.json {
        let mut s = serde_json::to_string_pretty(&crate::catalog::systems_json(only))
            .expect("serializable");
        s.push('\n');
        s
    } else {
        crate::catalog::systems_text(only)
    });
    Ok(Outcome::Success)
}

/// Logs to stderr at the level `-v` asks for (RUST_LOG overrides); a second call in
/// the same process keeps the first setting.
fn init_logging(verbose: u8) {
    // egg logs every iteration at info; its summary is reported by collsynth itself.
    let default = match verbose {
        0 => "warn",
        1 => "info,egg=warn",
        2 => "debug,egg=info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result {
    if let Some(s) = cli.command.spec_arg() {
        if s.print_spec {
            if !s.is_spec_free() {
                return Err(usage(
                    "--print-spec writes the spec that --system, --axes and --collective describe; with a spec file, that file is the spec",
                ));
            }
            print(&s.problem_toml()?);
            return Ok(Outcome::Success);
        }
    }
    match cli.command {
        Command::Systems(a) => systems(a),
        Command::Placements(a) => placements::placements(a),
        Command::Verify(a) => verify::verify(a),
        Command::Cost(a) => cost::cost(a),
        Command::Synth(a) => synth::synth(a),
        Command::Emit(a) => emit::emit(a),
        Command::RunMpi(a) => run_mpi::run_mpi(a),
        Command::Bench(a) => bench::bench(a),
        Command::Prove(a) => prove::prove(a),
        Command::Calibrate(a) => calibrate::calibrate(a),
        Command::Simulate(a) => simulate::simulate(a),
    }
}

/// Loads the spec a command names (a file, or the problem of --system, --axes and
/// --collective), or the embedded default (saying so on stderr); prints the
/// plausibility warnings about its figures on stderr.
///
/// A spec of any placement count loads: what lists placements (`placements`,
/// `synth --placement all`, inferring the placement a program fits) refuses one with
/// more than [`crate::placement::MAX_PLACEMENTS`] before that work, while the best
/// placement's search and a placement chosen by index or matrix list none.
pub fn load_spec(positional: Option<PathBuf>, flag: &SpecArg) -> Result<Spec> {
    let file = positional.or_else(|| flag.spec.clone());
    let spec = if flag.is_spec_free() {
        if let Some(f) = file {
            return Err(usage(format!(
                "both a spec file ({}) and --system/--axes/--collective were given: use one (--print-spec writes the flags' problem as a file)",
                f.display()
            )));
        }
        crate::catalog::problem_spec(&flag.problem_toml()?).map_err(usage)?
    } else {
        match file {
            Some(p) => crate::catalog::load_spec(&p)?,
            None => {
                eprintln!("note: no spec given; using the embedded default (4 x DGX A100, data = 8, model = 4, 1 GB all_reduce over data)");
                SpecSource::Default.load()?
            }
        }
    };
    for w in crate::catalog::warnings(&spec) {
        eprintln!("warning: {}: {w}", spec.source);
    }
    Ok(spec)
}

/// Writes an HTML page (`--html FILE`); failing to is bad input naming the file.
pub(crate) fn write_html(path: &std::path::Path, page: &str) -> Result<()> {
    std::fs::write(path, page).map_err(|e| {
        usage(format!(
            "{}: cannot write the HTML page: {e}; give a path in a writable folder",
            path.display()
        ))
    })
}

/// Writes a result to stdout; a closed pipe (`| head`) is not an error worth a
/// message.
pub(crate) fn print(out: &str) {
    let mut so = std::io::stdout().lock();
    let _ = so.write_all(out.as_bytes());
    let _ = so.flush();
}
