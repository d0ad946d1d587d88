//! The command line: argument syntax (clap), then validation into real objects, then
//! the subcommands. Results go to stdout, diagnostics to stderr; [`Failure`] carries
//! the exit code of DESIGN.md.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::lowered::{self, Lowered};
use crate::placement::{self, MatrixText, Placement};
use crate::program::{self, Program};
use crate::report;
use crate::semantics;
use crate::source::{InputError, Source};
use crate::spec::{Request, Spec, SpecSource};

/// Exit codes (DESIGN.md, "Command line").
pub mod exit {
    /// Success, or proved.
    pub const OK: u8 = 0;
    /// Refuted, or a check failed.
    pub const REFUTED: u8 = 1;
    /// Bad input or usage.
    pub const INPUT: u8 = 2;
    /// Could not decide.
    pub const UNKNOWN: u8 = 3;
    /// Internal inconsistency.
    pub const INTERNAL: u8 = 4;
}

/// A command that could not finish: what to print on stderr and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: u8,
    /// Message for stderr.
    pub message: String,
}

impl From<InputError> for Failure {
    fn from(e: InputError) -> Self {
        Failure {
            code: exit::INPUT,
            message: format!("error: {e}"),
        }
    }
}

fn usage(msg: impl Into<String>) -> Failure {
    Failure {
        code: exit::INPUT,
        message: format!("error: {}", msg.into()),
    }
}

/// collsynth: where should each parallelism axis live, and how should I reduce over
/// the axes I name — provably correct and fast?
///
/// Give it a spec (system hierarchy, parallelism axes, requests); without one it uses
/// an embedded default (4 × DGX A100, data = 8, model = 4, 1 GB all_reduce over data).
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
    /// entry [a][l] says over how many of level l's children axis a is spread.
    /// Placements are numbered from 0 in lexicographic order of the matrix read row
    /// by row; that number is what --placement takes everywhere.
    Placements(PlacementsArgs),
    /// Check that a program reduces exactly the requested axes (exit 0 proved,
    /// 1 refuted, 2 bad input, 3 undecided, 4 internal inconsistency).
    ///
    /// PROGRAM is a text program file, `-` for stdin, or a lowered-JSON file. Text:
    ///   reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)
    Verify(VerifyArgs),
}

/// Where the spec comes from.
#[derive(Debug, Clone, Args)]
pub struct SpecArg {
    /// Spec file (TOML). Without one, the embedded default is used (and stderr says so).
    #[arg(short = 's', long = "spec", value_name = "SPEC")]
    pub spec: Option<PathBuf>,
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
}

/// `collsynth verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
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
    /// Machine-readable output (schema_version 1).
    #[arg(long)]
    pub json: bool,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Placements(a) => placements(a),
        Command::Verify(a) => verify(a),
    }
}

/// Loads the spec a command names, or the embedded default (saying so on stderr).
pub fn load_spec(positional: Option<PathBuf>, flag: &SpecArg) -> Result<Spec, Failure> {
    let src = match positional.or_else(|| flag.spec.clone()) {
        Some(p) => SpecSource::File(p),
        None => {
            eprintln!("note: no spec given; using the embedded default (4 x DGX A100, data = 8, model = 4, 1 GB all_reduce over data)");
            SpecSource::Default
        }
    };
    Ok(src.load()?)
}

fn print(out: &str) -> Result<(), Failure> {
    let mut so = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = so.write_all(out.as_bytes());
    let _ = so.flush();
    Ok(())
}

fn placements(a: PlacementsArgs) -> Result<ExitCode, Failure> {
    let spec = load_spec(a.positional, &a.spec)?;
    let out = if a.json {
        report::placements_json(&spec, a.coords)
    } else {
        report::placements_text(&spec, a.coords)
    };
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// A placement chosen on the command line, with its index.
pub fn chosen_placement(spec: &Spec, arg: &PlacementArg) -> Result<Option<(usize, Placement)>, Failure> {
    if let Some(m) = &arg.matrix {
        let matrix = placement::parse_matrix(m).map_err(|e| usage(format!("--matrix: {e}")))?;
        let p = Placement::new(spec, matrix).map_err(|e| usage(format!("--matrix \"{m}\": {e}")))?;
        let index = placement::enumerate(spec)
            .iter()
            .position(|x| *x == p.matrix)
            .expect("a valid matrix is enumerated");
        return Ok(Some((index, p)));
    }
    if let Some(n) = &arg.placement {
        let index: usize = n.parse().map_err(|_| {
            usage(format!("--placement takes an index from 0 (see `collsynth placements`), not `{n}`"))
        })?;
        let all = placement::enumerate(spec);
        let Some(m) = all.get(index) else {
            return Err(usage(format!(
                "--placement {index}: the spec has {} placements (0..{})",
                all.len(),
                all.len().saturating_sub(1)
            )));
        };
        return Ok(Some((index, Placement::from_valid_matrix(m.clone()))));
    }
    Ok(None)
}

fn list_placements(spec: &Spec, indices: &[(usize, Vec<Vec<u64>>)]) -> String {
    let mut s = String::new();
    for (i, m) in indices.iter().take(20) {
        let p = Placement::from_valid_matrix(m.clone());
        s.push_str(&format!(
            "\n    --placement {i}  (--matrix \"{}\": {})",
            MatrixText(m),
            p.dim_names(spec).join(", ")
        ));
    }
    if indices.len() > 20 {
        s.push_str(&format!("\n    ... and {} more", indices.len() - 20));
    }
    s
}

/// A program read from a file or stdin, in either form.
enum ProgramInput {
    Text(program::ParsedProgram),
    Json(lowered::LoweredJson, Source),
}

fn read_program(path: &str) -> Result<ProgramInput, Failure> {
    let source = if path == "-" {
        let mut t = String::new();
        std::io::stdin()
            .read_to_string(&mut t)
            .map_err(|e| usage(format!("cannot read the program from stdin: {e}")))?;
        Source::new("<stdin>", t)
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::from(InputError::file(
                path,
                if e.kind() == std::io::ErrorKind::NotFound {
                    "no such program file (give a file with a text or lowered-JSON program, or `-` for stdin)".to_string()
                } else {
                    format!("cannot read the program file: {e}")
                },
            ))
        })?;
        Source::new(path, text)
    };
    if source.text.trim_start().starts_with('{') {
        let doc = lowered::parse_json(&source)?;
        Ok(ProgramInput::Json(doc, source))
    } else {
        Ok(ProgramInput::Text(program::parse(&source)?))
    }
}

/// Everything a verify or cost run needs, resolved.
pub struct Problem {
    /// The spec.
    pub spec: Spec,
    /// The placement index.
    pub index: usize,
    /// The placement.
    pub placement: Placement,
    /// The request.
    pub request: Request,
    /// The request's index in the spec, if it came from there.
    pub request_index: Option<usize>,
    /// The program as groups.
    pub lowered: Lowered,
    /// The program's group form, when it has one.
    pub program: Option<Program>,
}

fn resolve_problem(
    spec: Spec,
    program_path: &str,
    placement_arg: &PlacementArg,
    request: Option<usize>,
) -> Result<Problem, Failure> {
    let input = read_program(program_path)?;
    let chosen = chosen_placement(&spec, placement_arg)?;
    match input {
        ProgramInput::Text(parsed) => {
            let resolved = parsed.resolve(&spec)?;
            let (index, placement) = match chosen {
                Some(c) => c,
                None => {
                    let fits: Vec<(usize, Vec<Vec<u64>>)> = placement::enumerate(&spec)
                        .into_iter()
                        .enumerate()
                        .filter(|(_, m)| resolved.fits(&Placement::from_valid_matrix(m.clone())))
                        .collect();
                    match fits.len() {
                        1 => {
                            let (i, m) = fits.into_iter().next().expect("one");
                            (i, Placement::from_valid_matrix(m))
                        }
                        0 => {
                            return Err(usage(format!(
                                "no placement of the spec has every dim the program names ({}); check the dims against `collsynth placements`",
                                resolved
                                    .named_dims()
                                    .iter()
                                    .map(|d| format!("{}:{}", spec.system.levels[d.level].name, spec.axes[d.axis].name))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )))
                        }
                        n => {
                            return Err(usage(format!(
                                "the program fits {n} placements; choose one with --placement N or --matrix ROWS:{}",
                                list_placements(&spec, &fits)
                            )))
                        }
                    }
                }
            };
            let program = parsed.resolve_on(&spec, &placement, Some(index))?;
            let (request, request_index) = choose_request(&spec, request, Some(&program))?;
            let lowered = lowered::lower(&placement, &program);
            Ok(Problem {
                spec,
                index,
                placement,
                request,
                request_index,
                lowered,
                program: Some(program),
            })
        }
        ProgramInput::Json(doc, source) => {
            let (index, placement) = match chosen {
                Some(c) => c,
                None => match &doc.matrix {
                    Some(m) => {
                        let p = Placement::new(&spec, m.clone()).map_err(|e| {
                            Failure::from(InputError::file(&source.name, format!("`matrix`: {e}")))
                        })?;
                        let i = placement::enumerate(&spec)
                            .iter()
                            .position(|x| *x == p.matrix)
                            .expect("valid matrices are enumerated");
                        (i, p)
                    }
                    None => {
                        let all: Vec<(usize, Vec<Vec<u64>>)> =
                            placement::enumerate(&spec).into_iter().enumerate().collect();
                        if all.len() == 1 {
                            let (i, m) = all.into_iter().next().expect("one");
                            (i, Placement::from_valid_matrix(m))
                        } else {
                            return Err(usage(format!(
                                "the lowered program has no `matrix`, and the spec has {} placements; choose one with --placement N or --matrix ROWS:{}",
                                all.len(),
                                list_placements(&spec, &all)
                            )));
                        }
                    }
                },
            };
            let lowered = doc.lowered();
            lowered.check(placement.devices(), &source.name)?;
            let from_doc = doc.resolve_request(&spec, &source.name)?;
            let (request, request_index) = match (request, from_doc) {
                (None, Some(r)) => (r, None),
                (r, _) => choose_request(&spec, r, lowered::raise(&placement, &lowered).as_ref())?,
            };
            let program = lowered::raise(&placement, &lowered);
            Ok(Problem {
                spec,
                index,
                placement,
                request,
                request_index,
                lowered,
                program,
            })
        }
    }
}

fn choose_request(
    spec: &Spec,
    flag: Option<usize>,
    program: Option<&Program>,
) -> Result<(Request, Option<usize>), Failure> {
    let list = || {
        spec.requests
            .iter()
            .enumerate()
            .map(|(i, r)| format!("\n    --request {i}  ({})", spec.describe_request(r)))
            .collect::<String>()
    };
    if spec.requests.is_empty() {
        return Err(usage(format!(
            "the spec ({}) has no [[request]]: add one, like [[request]] collective = \"all_reduce\" axes = [\"data\"] bytes = \"1 GB\"",
            spec.source
        )));
    }
    if let Some(i) = flag {
        return spec
            .requests
            .get(i)
            .cloned()
            .map(|r| (r, Some(i)))
            .ok_or_else(|| usage(format!("--request {i}: the spec has {} requests:{}", spec.requests.len(), list())));
    }
    if spec.requests.len() == 1 {
        return Ok((spec.requests[0].clone(), Some(0)));
    }
    if let Some(p) = program {
        let mut axes: Vec<usize> = p.named_dims().iter().map(|d| d.axis).collect();
        axes.sort_unstable();
        axes.dedup();
        let matching: Vec<usize> = (0..spec.requests.len())
            .filter(|&i| spec.requests[i].axes == axes)
            .collect();
        if matching.len() == 1 {
            return Ok((spec.requests[matching[0]].clone(), Some(matching[0])));
        }
    }
    Err(usage(format!(
        "the spec has {} requests; choose one with --request R:{}",
        spec.requests.len(),
        list()
    )))
}

fn verify(a: VerifyArgs) -> Result<ExitCode, Failure> {
    let spec = load_spec(None, &a.spec)?;
    let problem = resolve_problem(spec, &a.program, &a.placement, a.request)?;
    let cells = semantics::interpreter_cells(&problem.placement, &problem.lowered);
    if cells > semantics::MAX_INTERPRETER_CELLS {
        return Err(Failure {
            code: exit::UNKNOWN,
            message: format!(
                "undecided: the reference interpreter would track {cells} counters for this placement ({} devices), more than its limit of {}; the SMT verifier is needed for systems this large",
                problem.placement.devices(),
                semantics::MAX_INTERPRETER_CELLS
            ),
        });
    }
    let result = semantics::run(
        &problem.spec,
        &problem.placement,
        &problem.request.axes,
        &problem.lowered,
    );
    let out = if a.json {
        report::verify_json(&problem, &result, "interpreter")
    } else {
        report::verify_text(&problem, &result, "interpreter")
    };
    print(&out)?;
    Ok(match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(exit::REFUTED),
    })
}
