//! Resolving what `verify`, `cost` and `emit --program-file` work on
//! ([`Problem`]): the program (text or lowered JSON), the placement (chosen,
//! embedded in the JSON, or the only one that fits) and the request (chosen, named
//! by the JSON, or the only one that matches).

use std::path::Path;

use crate::lowered::{self, Lowered};
use crate::placement::{self, MatrixText, Placement};
use crate::program::{self, Program};
use crate::semantics;
use crate::source::{InputError, Source};
use crate::spec::{Request, Spec};
use crate::verdict::{Inconsistency, Verdict};
use crate::verify::{self, SmtOptions};

/// Why a problem cannot be resolved: bad input (located) or a choice that does not
/// fit (the message says what to give instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProblemError {
    /// A file that cannot be read or parsed.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A choice (placement, request) that does not fit, or none where one is needed.
    #[error("{0}")]
    Choice(String),
}

fn usage(msg: impl Into<String>) -> ProblemError {
    ProblemError::Choice(msg.into())
}

/// Which placement a command names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PlacementChoice {
    /// None: the program or the spec must make it unambiguous.
    #[default]
    Unspecified,
    /// By index (`--placement N`).
    Index(usize),
    /// By matrix (`--matrix ROWS`), with the text as written.
    Matrix(String),
}

/// The placement a choice names, with its index (`None` when unspecified).
pub fn chosen_placement(
    spec: &Spec,
    choice: &PlacementChoice,
) -> Result<Option<(usize, Placement)>, ProblemError> {
    match choice {
        PlacementChoice::Unspecified => Ok(None),
        PlacementChoice::Matrix(m) => {
            let matrix = placement::parse_matrix(m).map_err(|e| usage(format!("--matrix: {e}")))?;
            let p = Placement::new(spec, matrix)
                .map_err(|e| usage(format!("--matrix \"{m}\": {e}")))?;
            let index = placement::index_of(spec, &p.matrix).expect("a valid matrix has an index");
            Ok(Some((index, p)))
        }
        PlacementChoice::Index(index) => match placement::nth(spec, *index) {
            Ok(m) => Ok(Some((*index, Placement::from_valid_matrix(m)))),
            Err(count) => Err(usage(format!(
                "--placement {index}: the spec has {count} placements (0..{})",
                count.saturating_sub(1)
            ))),
        },
    }
}

/// Why a program's placement cannot be inferred on a spec with more placements
/// than are listed ([`placement::MAX_PLACEMENTS`]), and what to give instead.
fn too_many_to_infer(spec: &Spec) -> String {
    format!(
        "{}: the spec has more than {} placements, too many to search for the ones the program fits: choose one with --placement N or --matrix ROWS (`collsynth synth` prints the best placement's index and matrix)",
        spec.source,
        placement::MAX_PLACEMENTS
    )
}

/// The first 20 of `indices` as --placement/--matrix lines, of `total` in all.
fn list_placements(spec: &Spec, indices: &[(usize, Vec<Vec<u64>>)], total: u128) -> String {
    let mut s = String::new();
    for (i, m) in indices.iter().take(20) {
        let p = Placement::from_valid_matrix(m.clone());
        s.push_str(&format!(
            "\n    --placement {i}  (--matrix \"{}\": {})",
            MatrixText(m),
            p.dim_names(spec).join(", ")
        ));
    }
    let shown = indices.len().min(20) as u128;
    if total > shown {
        s.push_str(&format!("\n    ... and {} more", total - shown));
    }
    s
}

/// A program read from a file or stdin, in either form.
enum ProgramInput {
    Text(program::ParsedProgram),
    Json(lowered::LoweredJson, Source),
}

fn read_program(path: &str) -> Result<ProgramInput, ProblemError> {
    let source = if path == "-" {
        crate::source::read_stdin("program")?
    } else {
        crate::source::read_file(
            Path::new(path),
            "program",
            "give a file with a text or lowered-JSON program, or `-` for stdin",
        )?
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
    /// The program as groups: always for a lowered-JSON input; for program text only
    /// up to [`lowered::MAX_LOWERED_DEVICES`] devices (nothing that proves or prices
    /// a dim-structured program needs them).
    pub lowered: Option<Lowered>,
    /// The program's group form, when it has one.
    pub program: Option<Program>,
    /// A pipelined program's chunk count; 1 for a plain program.
    pub chunks: u64,
}

impl Problem {
    /// The atoms of the program (the buffer is cut into this many equal parts).
    pub fn atoms(&self) -> u64 {
        match (&self.lowered, &self.program) {
            (Some(l), _) => l.atoms(),
            (None, Some(p)) => lowered::program_atoms(&self.placement, p),
            (None, None) => 1,
        }
    }

    /// Refuses a chunk count that does not cut the request's buffer into equal
    /// chunks of whole atoms.
    fn check_chunks(self, file: &str) -> Result<Problem, ProblemError> {
        let program_atoms = self.atoms();
        let atoms = crate::cost::chunk_atoms(&self.spec, &self.request, program_atoms);
        if crate::cost::chunks_fit(self.request.bytes, atoms, self.chunks) {
            return Ok(self);
        }
        let why = if atoms == program_atoms {
            String::new()
        } else {
            format!(
                " (every chunk cuts each of the request's {} shards, so it holds the lcm of the program's {program_atoms} atoms and the shard count)",
                self.request.shards(&self.spec)
            )
        };
        Err(ProblemError::from(InputError::file(
            file,
            format!(
                "pipeline({c}) cuts the request's {b} bytes into {c} chunks of {atoms} atoms each{why}, but {b} is not a multiple of {c} x {atoms}: choose a chunk count C with C x {atoms} dividing {b}",
                c = self.chunks,
                b = self.request.bytes,
            ),
        )))
    }
}

/// Reads the program and resolves placement and request (flags first, then what the
/// program says, then inference that must be unambiguous).
pub fn resolve_problem(
    spec: Spec,
    program_path: &str,
    placement_arg: &PlacementChoice,
    request: Option<usize>,
) -> Result<Problem, ProblemError> {
    let input = read_program(program_path)?;
    let chosen = chosen_placement(&spec, placement_arg)?;
    match input {
        ProgramInput::Text(parsed) => {
            let resolved = parsed.resolve(&spec)?;
            let (index, placement) = match chosen {
                Some(c) => c,
                None => {
                    placement::checked_count(&spec).map_err(|_| usage(too_many_to_infer(&spec)))?;
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
                                    .map(|d| d.name(&spec))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )))
                        }
                        n => {
                            return Err(usage(format!(
                                "the program fits {n} placements; choose one with --placement N or --matrix ROWS:{}",
                                list_placements(&spec, &fits, n as u128)
                            )))
                        }
                    }
                }
            };
            let program = parsed.resolve_on(&spec, &placement, Some(index))?;
            let chunks = parsed.chunks();
            let (request, request_index) = program_request(&spec, request, Some(&program))?;
            let program = parsed.check_layout(&spec, &placement, &request, program)?;
            let lowered = (placement.devices() <= lowered::MAX_LOWERED_DEVICES)
                .then(|| lowered::lower(&placement, &program));
            Ok(Problem {
                spec,
                index,
                placement,
                request,
                request_index,
                lowered,
                program: Some(program),
                chunks,
            }
            .check_chunks(program_path)?)
        }
        ProgramInput::Json(doc, source) => {
            let (index, placement) = match chosen {
                Some(c) => c,
                None => match &doc.matrix {
                    Some(m) => {
                        let p = Placement::new(&spec, m.clone()).map_err(|e| {
                            ProblemError::from(InputError::file(
                                &source.name,
                                format!("`matrix`: {e}"),
                            ))
                        })?;
                        let i = placement::index_of(&spec, &p.matrix)
                            .expect("a valid matrix has an index");
                        (i, p)
                    }
                    None => {
                        let first = placement::first(&spec, 20);
                        if first.len() == 1 {
                            let (i, m) = first.into_iter().next().expect("one");
                            (i, Placement::from_valid_matrix(m))
                        } else {
                            let total = placement::tree::Tree::new(&spec).count();
                            return Err(usage(format!(
                                "the lowered program has no `matrix`, and the spec has {total} placements; choose one with --placement N or --matrix ROWS:{}",
                                list_placements(&spec, &first, total)
                            )));
                        }
                    }
                },
            };
            let mut lowered = doc.lowered(&spec, &source.name)?;
            lowered.check(placement.devices(), &source.name)?;
            let from_doc = doc.resolve_request(&spec, &source.name)?;
            let (request, request_index) = match (request, from_doc) {
                (None, Some(r)) => (r, None),
                (r, _) => program_request(&spec, r, lowered::raise(&placement, &lowered).as_ref())?,
            };
            lowered.layout = program::checked_layout(&spec, &placement, &request, &lowered.layout)
                .map_err(|m| InputError::file(&source.name, format!("`layout`: {m}")))?;
            let program = lowered::raise(&placement, &lowered);
            Ok(Problem {
                spec,
                index,
                placement,
                request,
                request_index,
                lowered: Some(lowered),
                program,
                chunks: doc.chunks,
            }
            .check_chunks(&source.name)?)
        }
    }
}

/// The request a flag names; or the only one; or the one whose axes are the axes the
/// program names. Anything else is an input error listing the requests.
pub fn choose_request(
    spec: &Spec,
    flag: Option<usize>,
    program: Option<&Program>,
) -> Result<(Request, Option<usize>), ProblemError> {
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
            .ok_or_else(|| {
                usage(format!(
                    "--request {i}: the spec has {} requests:{}",
                    spec.requests.len(),
                    list()
                ))
            });
    }
    if spec.requests.len() == 1 {
        return Ok((spec.requests[0].clone(), Some(0)));
    }
    if let Some(p) = program {
        let mut axes: Vec<usize> = p.named_dims().iter().map(|d| d.axis).collect();
        axes.sort_unstable();
        axes.dedup();
        let matching: Vec<usize> = (0..spec.requests.len())
            .filter(|&i| spec.requests[i].collective.takes_programs())
            .filter(|&i| spec.requests[i].axis_set() == axes)
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

/// [`choose_request`] for a program: the request must be one programs are written
/// for (not a send_recv, which is only priced).
pub fn program_request(
    spec: &Spec,
    flag: Option<usize>,
    program: Option<&Program>,
) -> Result<(Request, Option<usize>), ProblemError> {
    let (r, i) = choose_request(spec, flag, program)?;
    if !r.collective.takes_programs() {
        return Err(usage(format!(
            "request {} ({}) is a send_recv: it is priced by `collsynth synth`, not run as a program; choose another with --request R",
            i.map_or("?".to_string(), |i| i.to_string()),
            spec.describe_request(&r)
        )));
    }
    Ok((r, i))
}

impl Problem {
    /// Decides the program with the reference interpreter; [`Verdict::Unknown`] when
    /// the placement is too large for it ([`semantics::MAX_INTERPRETER_CELLS`]).
    pub fn interpret(&self) -> Verdict {
        let Some(lowered) = &self.lowered else {
            return Verdict::Unknown(format!(
                "the reference interpreter runs on explicit rank groups, which collsynth builds for at most {} devices; this placement has {}",
                lowered::MAX_LOWERED_DEVICES,
                self.placement.devices()
            ));
        };
        let goal = semantics::Goal::of(&self.request);
        verify::interpret_goal(&self.spec, &self.placement, &goal, lowered)
    }

    /// Proves the program with z3; `None` when it has no group form (only the
    /// interpreter decides it).
    pub fn prove(&self, opts: &SmtOptions) -> Option<Result<Verdict, Inconsistency>> {
        let program = self.program.as_ref()?;
        Some(verify::prove_goal(
            &self.spec,
            &self.placement,
            &semantics::Goal::of(&self.request),
            program,
            opts,
        ))
    }
}
