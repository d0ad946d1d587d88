//! The program language (`docs/design.md`, §3): AST, parser, canonical printer, and the checks
//! that tie a program to a spec and a placement. Lowering to explicit rank groups and
//! the lowered JSON form live in [`crate::lowered`].
//!
//! ```text
//! text       := [ "pipeline" "(" C ")" ":" ] [ "layout" "(" dims ")" ":" ] program
//! program    := [ step (";" step)* ]          # "#" starts a comment to end of line
//! step       := collective "(" dims ")" [ "@" "roots" "(" dims ")" ]
//! collective := "all_reduce" | "reduce_scatter" | "all_gather" | "reduce" | "broadcast"
//! dims       := dim ("," dim)*
//! dim        := LEVEL ":" AXIS
//! ```
//! (`grammar/program.ebnf` is the same grammar as data.)

use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::placement::{MatrixText, Placement};
use crate::source::{suggestion, InputError, Source};
use crate::spec::{Request, Spec};

/// The five collectives a step can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Collective {
    /// Every member ends with the sum of all members' regions.
    AllReduce,
    /// Member i ends with chunk i of the sum.
    ReduceScatter,
    /// Member i contributes chunk i; every member ends with the union.
    AllGather,
    /// The first member ends with the sum; the others hold nothing valid.
    Reduce,
    /// The first member's data is copied to every member.
    Broadcast,
}

impl Collective {
    /// All collectives, in grammar order.
    pub const ALL: [Collective; 5] = [
        Collective::AllReduce,
        Collective::ReduceScatter,
        Collective::AllGather,
        Collective::Reduce,
        Collective::Broadcast,
    ];

    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            Collective::AllReduce => "all_reduce",
            Collective::ReduceScatter => "reduce_scatter",
            Collective::AllGather => "all_gather",
            Collective::Reduce => "reduce",
            Collective::Broadcast => "broadcast",
        }
    }

    /// Parses a keyword.
    pub fn from_name(s: &str) -> Option<Collective> {
        Collective::ALL.into_iter().find(|c| c.name() == s)
    }
}

impl fmt::Display for Collective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A dim named by level and axis indices (placement-independent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DimRef {
    /// Level index (outermost = 0). Field order makes `Ord` the significance order.
    pub level: usize,
    /// Axis index.
    pub axis: usize,
}

impl DimRef {
    /// `level:axis`, as programs write it (`gpu:data`).
    pub fn name(&self, spec: &Spec) -> String {
        format!(
            "{}:{}",
            spec.system.levels[self.level].name, spec.axes[self.axis].name
        )
    }
}

/// One step: a collective over a group form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Step {
    /// The collective.
    pub op: Collective,
    /// The dims the group varies over, in significance order, non-empty.
    pub dims: Vec<DimRef>,
    /// Only devices whose digits on these dims are 0 take part (significance order).
    pub roots: Vec<DimRef>,
    /// An all_reduce run as NCCL's double binary tree (`all_reduce[tree](…)`) rather
    /// than a ring: the same collective, priced differently (docs/cost-model.md, §2).
    pub tree: bool,
}

/// A sequence of steps (possibly empty).
///
/// ```
/// use collsynth::placement::Placement;
/// use collsynth::program::{parse_program, Collective};
/// use collsynth::spec::Spec;
///
/// let spec = Spec::embedded_default();
/// let p = parse_program(&spec, "reduce_scatter(gpu:data);all_reduce(node:data);all_gather(gpu:data)")
///     .unwrap();
/// assert_eq!(p.steps[1].op, Collective::AllReduce);
/// // The canonical text, used in output and for tie-breaking:
/// assert_eq!(
///     p.text(&spec),
///     "reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)"
/// );
/// // It names only dims of a placement that spreads data over nodes and GPUs.
/// assert!(p.fits(&Placement::new(&spec, vec![vec![4, 2], vec![1, 4]]).unwrap()));
/// assert!(!p.fits(&Placement::new(&spec, vec![vec![1, 8], vec![4, 1]]).unwrap()));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Program {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The `layout(L):` clause of a reduce_scatter or all_gather program: the
    /// request's dims in the order the steps number the shards, first most
    /// significant (docs/design.md, §3.7). Empty: the request's own order, the
    /// identity relayout (canonical text prints no clause then).
    pub layout: Vec<DimRef>,
}

impl Program {
    /// The program of `steps`, with no relayout.
    pub fn new(steps: Vec<Step>) -> Program {
        Program {
            steps,
            layout: Vec::new(),
        }
    }

    /// The same steps run after (reduce_scatter) or before (all_gather) a local
    /// relayout to the shard-digit order `layout` (empty: none).
    pub fn with_layout(mut self, layout: Vec<DimRef>) -> Program {
        self.layout = layout;
        self
    }
}

impl Step {
    /// A step over `dims` (sorted here) with no roots.
    pub fn new(op: Collective, mut dims: Vec<DimRef>) -> Step {
        dims.sort();
        Step {
            op,
            dims,
            roots: vec![],
            tree: false,
        }
    }

    /// The same step run as a tree (`tree`) or as its collective's ring or chain;
    /// only an all_reduce has a tree.
    pub fn as_tree(mut self, tree: bool) -> Step {
        self.tree = tree && self.op == Collective::AllReduce;
        self
    }

    /// The same step restricted to devices with zero digits on `roots`.
    pub fn at_roots(mut self, mut roots: Vec<DimRef>) -> Step {
        roots.sort();
        self.roots = roots;
        self
    }
}

/// Writes `level:axis, level:axis`.
fn write_dims(f: &mut fmt::Formatter<'_>, spec: &Spec, dims: &[DimRef]) -> fmt::Result {
    for (i, d) in dims.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        f.write_str(&d.name(spec))?;
    }
    Ok(())
}

/// Canonical text of a step or program, which needs the spec's names.
pub struct Text<'a, T>(pub &'a Spec, pub &'a T);

impl fmt::Display for Text<'_, Step> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Text(spec, s) = *self;
        write!(f, "{}{}(", s.op, if s.tree { "[tree]" } else { "" })?;
        write_dims(f, spec, &s.dims)?;
        f.write_str(")")?;
        if !s.roots.is_empty() {
            f.write_str(" @ roots(")?;
            write_dims(f, spec, &s.roots)?;
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Display for Text<'_, Program> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.1.layout.is_empty() {
            f.write_str("layout(")?;
            write_dims(f, self.0, &self.1.layout)?;
            f.write_str("): ")?;
        }
        for (i, s) in self.1.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(" ; ")?;
            }
            write!(f, "{}", Text(self.0, s))?;
        }
        Ok(())
    }
}

impl Program {
    /// Canonical text.
    pub fn text(&self, spec: &Spec) -> String {
        Text(spec, self).to_string()
    }

    /// The canonical text of the program run on `chunks` chunks: `pipeline(C): `
    /// before the steps when `chunks > 1` (docs/design.md, §3.6).
    pub fn pipelined_text(&self, spec: &Spec, chunks: u64) -> String {
        format!("{}{}", pipeline_prefix(chunks), self.text(spec))
    }

    /// Every dim the program names (steps, roots and layout), sorted, without
    /// repeats.
    pub fn named_dims(&self) -> Vec<DimRef> {
        let mut v: Vec<DimRef> = self
            .steps
            .iter()
            .flat_map(|s| s.dims.iter().chain(&s.roots).copied())
            .chain(self.layout.iter().copied())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Whether every named dim is a dim of the placement.
    pub fn fits(&self, placement: &Placement) -> bool {
        self.named_dims()
            .iter()
            .all(|d| placement.dim_index(d.level, d.axis).is_some())
    }
}

// ---------------------------------------------------------------- parsing

/// A dim as written, with its place in the text.
#[derive(Debug, Clone)]
struct SynDim {
    level: String,
    axis: String,
    span: Range<usize>,
}

#[derive(Debug, Clone)]
struct SynStep {
    op: Collective,
    tree: bool,
    dims: Vec<SynDim>,
    roots: Vec<SynDim>,
}

/// A parsed program whose names are not yet checked against a spec.
#[derive(Debug, Clone)]
pub struct ParsedProgram {
    steps: Vec<SynStep>,
    source: Source,
    chunks: u64,
    /// The `layout(...)` clause's dims, with the clause's span; `None` without one.
    layout: Option<SynLayout>,
}

/// A `layout(...)` clause as written: its dims and its span.
type SynLayout = (Vec<SynDim>, Range<usize>);

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Punct(char),
    End,
}

struct Lexer<'a> {
    src: &'a Source,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn skip_trivia(&mut self) {
        let t = &self.src.text;
        while self.pos < t.len() {
            let c = t[self.pos..].chars().next().unwrap_or(' ');
            if c == '#' {
                self.pos = t[self.pos..].find('\n').map_or(t.len(), |i| self.pos + i);
            } else if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    /// The next token and its span, without consuming it.
    fn peek(&mut self) -> (Tok, Range<usize>) {
        self.skip_trivia();
        let t = &self.src.text;
        let start = self.pos;
        let Some(c) = t[start..].chars().next() else {
            return (Tok::End, start..start);
        };
        if c.is_ascii_alphanumeric() || c == '_' {
            let end = t[start..]
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .map_or(t.len(), |i| start + i);
            (Tok::Ident(t[start..end].to_string()), start..end)
        } else {
            (Tok::Punct(c), start..start + c.len_utf8())
        }
    }

    fn next(&mut self) -> (Tok, Range<usize>) {
        let (tok, span) = self.peek();
        self.pos = span.end;
        (tok, span)
    }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Punct(c) => format!("`{c}`"),
        Tok::End => "the end of the program".into(),
    }
}

/// Parses program text (names unchecked).
pub fn parse(source: &Source) -> Result<ParsedProgram, InputError> {
    let mut lx = Lexer {
        src: source,
        pos: 0,
    };
    let mut steps = Vec::new();
    let chunks = parse_pipeline(&mut lx)?;
    let layout = parse_layout(&mut lx)?;
    if lx.peek().0 == Tok::End {
        return Ok(ParsedProgram {
            steps,
            source: source.clone(),
            chunks,
            layout,
        });
    }
    loop {
        steps.push(parse_step(&mut lx)?);
        match lx.next() {
            (Tok::End, _) => break,
            (Tok::Punct(';'), _) => {
                if lx.peek().0 == Tok::End {
                    let (_, span) = lx.peek();
                    return Err(source.error(
                        span,
                        "expected a step after `;`: remove the trailing `;` (steps are separated, not terminated, by `;`)",
                    ));
                }
            }
            (tok, span) => {
                return Err(source.error(
                    span,
                    format!(
                        "expected `;` between steps or the end of the program, found {}",
                        describe(&tok)
                    ),
                ))
            }
        }
    }
    Ok(ParsedProgram {
        steps,
        source: source.clone(),
        chunks,
        layout,
    })
}

/// `pipeline(C): ` for a pipelined program's text, nothing for a plain one (`C = 1`).
pub fn pipeline_prefix(chunks: u64) -> String {
    if chunks > 1 {
        format!("pipeline({chunks}): ")
    } else {
        String::new()
    }
}

/// The largest chunk count a pipelined program may name.
pub const MAX_PROGRAM_CHUNKS: u64 = 1 << 20;

/// An optional `pipeline(C):` prefix: the chunk count (1 without one).
fn parse_pipeline(lx: &mut Lexer) -> Result<u64, InputError> {
    if lx.peek().0 != Tok::Ident("pipeline".into()) {
        return Ok(1);
    }
    lx.next();
    expect(lx, '(', "after `pipeline`")?;
    let chunks = match lx.next() {
        (Tok::Ident(n), span) => match n.parse::<u64>() {
            Ok(c) if (1..=MAX_PROGRAM_CHUNKS).contains(&c) => c,
            _ => {
                return Err(lx.src.error(
                    span,
                    format!(
                        "`{n}` is not a chunk count: write a whole number from 1 to {MAX_PROGRAM_CHUNKS}, as in `pipeline(8): reduce_scatter(gpu:data) ; ...`"
                    ),
                ))
            }
        },
        (tok, span) => {
            return Err(lx.src.error(
                span,
                format!(
                    "expected a chunk count after `pipeline(`, found {}",
                    describe(&tok)
                ),
            ))
        }
    };
    expect(lx, ')', "after the chunk count")?;
    expect(lx, ':', "after `pipeline(C)` (the steps follow it)")?;
    Ok(chunks)
}

/// An optional `layout(dims):` clause: its dims as written and its span.
fn parse_layout(lx: &mut Lexer) -> Result<Option<SynLayout>, InputError> {
    let (tok, span) = lx.peek();
    if tok != Tok::Ident("layout".into()) {
        return Ok(None);
    }
    lx.next();
    expect(lx, '(', "after `layout`")?;
    let dims = parse_dims(lx)?;
    let end = lx.pos;
    expect(
        lx,
        ':',
        "after `layout(...)` (the steps follow it, as in `layout(gpu:data, node:data): reduce_scatter(gpu:data) ; ...`)",
    )?;
    Ok(Some((dims, span.start..end)))
}

fn expect(lx: &mut Lexer, c: char, what: &str) -> Result<(), InputError> {
    match lx.next() {
        (Tok::Punct(p), _) if p == c => Ok(()),
        (tok, span) => Err(lx.src.error(
            span,
            format!("expected `{c}` {what}, found {}", describe(&tok)),
        )),
    }
}

fn parse_step(lx: &mut Lexer) -> Result<SynStep, InputError> {
    let op = match lx.next() {
        (Tok::Ident(name), span) => Collective::from_name(&name).ok_or_else(|| {
            lx.src.error(
                span,
                format!(
                    "`{name}` is not a collective: use one of all_reduce, reduce_scatter, all_gather, reduce, broadcast"
                ),
            )
        })?,
        (tok, span) => {
            return Err(lx.src.error(
                span,
                format!(
                    "expected a collective (all_reduce, reduce_scatter, all_gather, reduce, broadcast), found {}",
                    describe(&tok)
                ),
            ))
        }
    };
    let mut tree = false;
    if lx.peek().0 == Tok::Punct('[') {
        lx.next();
        match lx.next() {
            (Tok::Ident(a), _) if a == "tree" && op == Collective::AllReduce => tree = true,
            (Tok::Ident(a), span) if a == "tree" => {
                return Err(lx.src.error(
                    span,
                    format!(
                    "`{op}` has no tree: only all_reduce runs as a tree (`all_reduce[tree](…)`)"
                ),
                ))
            }
            (tok, span) => {
                return Err(lx.src.error(
                    span,
                    format!(
                        "expected `tree` in `{op}[…]` (the only algorithm a step names), found {}",
                        describe(&tok)
                    ),
                ))
            }
        }
        expect(lx, ']', "after `tree`")?;
    }
    expect(lx, '(', &format!("after `{op}`"))?;
    let dims = parse_dims(lx)?;
    let mut roots = Vec::new();
    if lx.peek().0 == Tok::Punct('@') {
        lx.next();
        match lx.next() {
            (Tok::Ident(r), _) if r == "roots" => {}
            (tok, span) => {
                return Err(lx.src.error(
                    span,
                    format!("expected `roots` after `@`, found {}", describe(&tok)),
                ))
            }
        }
        expect(lx, '(', "after `roots`")?;
        roots = parse_dims(lx)?;
    }
    Ok(SynStep {
        op,
        tree,
        dims,
        roots,
    })
}

/// Parses `dim ("," dim)* ")"`.
fn parse_dims(lx: &mut Lexer) -> Result<Vec<SynDim>, InputError> {
    let mut dims = Vec::new();
    loop {
        let (level, lspan) = match lx.next() {
            (Tok::Ident(s), span) => (s, span),
            (tok, span) => {
                let hint = if tok == Tok::Punct(')') && dims.is_empty() {
                    " (a step names at least one dim)"
                } else {
                    ""
                };
                return Err(lx.src.error(
                    span,
                    format!(
                        "expected a dim `level:axis`, found {}{hint}",
                        describe(&tok)
                    ),
                ));
            }
        };
        expect(
            lx,
            ':',
            &format!("after level `{level}` (a dim is written `level:axis`)"),
        )?;
        let (axis, aspan) = match lx.next() {
            (Tok::Ident(s), span) => (s, span),
            (tok, span) => {
                return Err(lx.src.error(
                    span,
                    format!(
                        "expected an axis name after `{level}:`, found {}",
                        describe(&tok)
                    ),
                ))
            }
        };
        dims.push(SynDim {
            level,
            axis,
            span: lspan.start..aspan.end,
        });
        match lx.next() {
            (Tok::Punct(','), _) => continue,
            (Tok::Punct(')'), _) => break,
            (tok, span) => {
                return Err(lx.src.error(
                    span,
                    format!("expected `,` or `)` after a dim, found {}", describe(&tok)),
                ))
            }
        }
    }
    Ok(dims)
}

impl ParsedProgram {
    /// The chunk count of a `pipeline(C):` program; 1 for a plain one.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    /// Checks names against the spec: levels and axes exist, no dim twice in a step,
    /// no dim in both a step's dims and its roots.
    pub fn resolve(&self, spec: &Spec) -> Result<Program, InputError> {
        let mut steps = Vec::new();
        for s in &self.steps {
            let dims = self.resolve_dims(spec, &s.dims, &[])?;
            let roots = self.resolve_dims(spec, &s.roots, &s.dims)?;
            steps.push(Step::new(s.op, dims).at_roots(roots).as_tree(s.tree));
        }
        let layout = match &self.layout {
            Some((dims, _)) => self.resolve_dims(spec, dims, &[])?,
            None => Vec::new(),
        };
        Ok(Program { steps, layout })
    }

    /// Whether the text has a `layout(...)` clause (even the identity one).
    pub fn has_layout(&self) -> bool {
        self.layout.is_some()
    }

    /// Checks the `layout(...)` clause against the request on a placement and
    /// returns the program in canonical form: refused for an all_reduce request
    /// (a layout is meaningless there) and unless it names exactly the request's
    /// dims on the placement, each once; the request's own order is the identity and
    /// is dropped (docs/design.md, §3.7).
    pub fn check_layout(
        &self,
        spec: &Spec,
        placement: &Placement,
        request: &Request,
        program: Program,
    ) -> Result<Program, InputError> {
        let Some((_, span)) = &self.layout else {
            return Ok(program);
        };
        canonical_layout(spec, placement, request, program)
            .map_err(|msg| self.source.error(span.clone(), msg))
    }

    fn resolve_dims(
        &self,
        spec: &Spec,
        dims: &[SynDim],
        step_dims: &[SynDim],
    ) -> Result<Vec<DimRef>, InputError> {
        let mut out: Vec<DimRef> = Vec::new();
        for d in dims {
            let level = spec.level_index(&d.level).ok_or_else(|| {
                self.source.error(
                    d.span.clone(),
                    format!(
                        "`{}` is not a level of the system: {}use one of {}",
                        d.level,
                        suggestion(&d.level, spec.system.levels.iter().map(|l| l.name.as_str())),
                        names(spec.system.levels.iter().map(|l| l.name.as_str()))
                    ),
                )
            })?;
            let axis = spec.axis_index(&d.axis).ok_or_else(|| {
                self.source.error(
                    d.span.clone(),
                    format!(
                        "`{}` is not an axis of the spec: {}use one of {}",
                        d.axis,
                        suggestion(&d.axis, spec.axes.iter().map(|a| a.name.as_str())),
                        names(spec.axes.iter().map(|a| a.name.as_str()))
                    ),
                )
            })?;
            let r = DimRef { level, axis };
            if out.contains(&r) {
                return Err(self.source.error(
                    d.span.clone(),
                    format!(
                        "dim `{}:{}` is named twice in this step (or layout): name it once",
                        d.level, d.axis
                    ),
                ));
            }
            if step_dims
                .iter()
                .any(|s| s.level == d.level && s.axis == d.axis)
            {
                return Err(self.source.error(
                    d.span.clone(),
                    format!(
                        "dim `{}:{}` is both reduced over and a roots dim in this step: a step's roots must be other dims",
                        d.level, d.axis
                    ),
                ));
            }
            out.push(r);
        }
        Ok(out)
    }

    /// Resolves and checks that every named dim is a dim of `placement`.
    pub fn resolve_on(
        &self,
        spec: &Spec,
        placement: &Placement,
        index: Option<usize>,
    ) -> Result<Program, InputError> {
        let program = self.resolve(spec)?;
        let layout = self.layout.iter().flat_map(|(dims, _)| dims);
        for s in &self.steps {
            for d in s.dims.iter().chain(&s.roots).chain(layout.clone()) {
                let l = spec.level_index(&d.level).unwrap_or(0);
                let a = spec.axis_index(&d.axis).unwrap_or(0);
                if placement.dim_index(l, a).is_none() {
                    let which = index.map_or(String::new(), |i| format!(" {i}"));
                    return Err(self.source.error(
                        d.span.clone(),
                        format!(
                            "`{}:{}` is not a dim of placement{which} (matrix {}): axis `{}` is spread over {} of level `{}`'s children; its dims are {}",
                            d.level,
                            d.axis,
                            MatrixText(&placement.matrix),
                            d.axis,
                            placement.matrix[a][l],
                            d.level,
                            names(placement.dim_names(spec).iter().map(|s| s.as_str()))
                        ),
                    ));
                }
            }
        }
        Ok(program)
    }

    /// Whether the text has no steps.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The source the program was parsed from.
    pub fn source(&self) -> &Source {
        &self.source
    }
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<String> = it.map(|s| format!("`{s}`")).collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

/// The request's dims on a placement in the order that numbers its shards: by the
/// position of their axis in the request, then outer level first (docs/design.md,
/// §3.3.1). Empty for an all_reduce request.
pub fn request_layout(placement: &Placement, request: &Request) -> Vec<DimRef> {
    if !request.collective.is_sharded() {
        return Vec::new();
    }
    request
        .axes
        .iter()
        .flat_map(|&a| {
            placement
                .dims
                .iter()
                .filter(move |d| d.axis == a)
                .map(|d| DimRef {
                    level: d.level,
                    axis: d.axis,
                })
        })
        .collect()
}

/// `program` with its layout checked against the request on the placement and the
/// identity layout dropped; the error says what to change. See
/// [`ParsedProgram::check_layout`].
pub fn canonical_layout(
    spec: &Spec,
    placement: &Placement,
    request: &Request,
    mut program: Program,
) -> Result<Program, String> {
    program.layout = checked_layout(spec, placement, request, &program.layout)?;
    Ok(program)
}

/// A layout checked against the request on the placement, in canonical form (the
/// request's own order is the identity and becomes empty); the error says what to
/// change.
pub fn checked_layout(
    spec: &Spec,
    placement: &Placement,
    request: &Request,
    layout: &[DimRef],
) -> Result<Vec<DimRef>, String> {
    if layout.is_empty() {
        return Ok(Vec::new());
    }
    let shown = |dims: &[DimRef]| {
        dims.iter()
            .map(|d| d.name(spec))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !request.collective.is_sharded() {
        return Err(format!(
            "a layout renumbers the shards of a reduce_scatter or all_gather request, and this request is an {} (it has no shards): remove the layout",
            request.collective
        ));
    }
    let want = request_layout(placement, request);
    let mut got = layout.to_vec();
    got.sort();
    let mut set = want.clone();
    set.sort();
    if got != set {
        return Err(format!(
            "`layout({})` must name exactly the request's dims on this placement, each once ({}, in any order, the first most significant)",
            shown(layout),
            shown(&want)
        ));
    }
    Ok(if layout == want {
        Vec::new()
    } else {
        layout.to_vec()
    })
}

/// Parses and resolves text in one go (for tests and internal use).
pub fn parse_program(spec: &Spec, text: &str) -> Result<Program, InputError> {
    parse(&Source::new("<program>", text))?.resolve(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_p2_programs_canonically() {
        let spec = Spec::embedded_default();
        for (input, canon) in [
            (
                "all_reduce(gpu:data,node:data)",
                "all_reduce(node:data, gpu:data)",
            ),
            (
                "reduce(gpu:data) ; all_reduce(node:data) @ roots(gpu:data) ; broadcast(gpu:data)",
                "reduce(gpu:data) ; all_reduce(node:data) @ roots(gpu:data) ; broadcast(gpu:data)",
            ),
            ("  # nothing\n", ""),
            (
                "reduce_scatter(gpu:data) # intra\n;all_reduce(node:data);all_gather(gpu:data)",
                "reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)",
            ),
        ] {
            let p = parse_program(&spec, input).unwrap();
            assert_eq!(p.text(&spec), canon);
            assert_eq!(parse_program(&spec, canon).unwrap(), p);
        }
    }

    #[test]
    fn parse_errors_say_where_and_what() {
        let spec = Spec::embedded_default();
        let e = parse_program(&spec, "all_reduce(gpu:data").unwrap_err();
        assert_eq!(e.line, Some((1, 20)));
        assert!(e.message.contains("expected `,` or `)`"), "{e}");
        let e = parse_program(&spec, "allreduce(gpu:data)").unwrap_err();
        assert!(e.message.contains("not a collective"), "{e}");
        let e = parse_program(&spec, "all_reduce(gpu:data, gpu:data)").unwrap_err();
        assert!(e.message.contains("named twice"), "{e}");
        let e = parse_program(&spec, "reduce(gpu:data) @ roots(gpu:data)").unwrap_err();
        assert!(e.message.contains("roots"), "{e}");
        let e = parse_program(&spec, "all_reduce(rack:data)").unwrap_err();
        assert!(e.message.contains("not a level"), "{e}");
        let e = parse_program(&spec, "all_reduce(gpu:data);").unwrap_err();
        assert!(e.message.contains("trailing"), "{e}");
        let e = parse_program(&spec, "all_reduce()").unwrap_err();
        assert!(e.message.contains("at least one dim"), "{e}");
    }
}
