//! `collsynth synth`: the best programs for every request, per placement, ranked.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::outcome::{usage, Error, Outcome, Result};
use super::{load_spec, print, SmtArgs, SpecArg};
use crate::problem::{chosen_placement, PlacementChoice};
use crate::report::synth as report;
use crate::rules::{read_rules, RuleSet};
use crate::synth::backend::{Backend, Standard};
use crate::synth::{self, Engine, Options, Selection, SynthError};

/// `--engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// Equality saturation over the rewrite rules, k-best extraction.
    Egraph,
    /// Grammar-guided enumeration of step sequences (the baseline).
    Enumerate,
}

/// `collsynth synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Spec file (same as --spec).
    #[arg(value_name = "SPEC", conflicts_with = "spec")]
    pub positional: Option<PathBuf>,
    /// The spec.
    #[command(flatten)]
    pub spec: SpecArg,
    /// Programs to show per placement and request.
    #[arg(long, value_name = "K", default_value_t = 5)]
    pub top: usize,
    /// Which placements: an index, `best` (all are considered, the best is shown) or
    /// `all` (every placement, ranked).
    #[arg(long, value_name = "N|best|all", conflicts_with = "matrix")]
    pub placement: Option<String>,
    /// One placement as a matrix: rows = axes separated by `;`, e.g. "2,4;1,2".
    #[arg(long, value_name = "ROWS")]
    pub matrix: Option<String>,
    /// The synthesis engine.
    #[arg(long, value_enum, default_value_t = EngineArg::Egraph)]
    pub engine: EngineArg,
    /// Longest program the enumeration engine tries.
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub max_steps: usize,
    /// Most prefixes the enumeration engine visits per shape (a deterministic budget;
    /// when it cuts the search short a note says so, and a request left without a
    /// program is undecided, exit 3).
    #[arg(long, value_name = "N", default_value_t = crate::synth::enumerate::DEFAULT_NODE_BUDGET)]
    pub enum_budget: u64,
    /// Most e-nodes of the e-graph engine's saturation (a deterministic budget; it
    /// holds every request of up to 6 reduction dims saturated; when it cuts the
    /// search short a note says so, and a request left without a program is
    /// undecided, exit 3).
    #[arg(long, value_name = "N", default_value_t = crate::synth::egraph::DEFAULT_NODE_LIMIT)]
    pub egraph_nodes: usize,
    /// A rules file to use instead of the built-in grammar/rules.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Machine-readable output (schema_version 1).
    #[arg(long)]
    pub json: bool,
    /// Include every rank's axis coordinates in JSON even above 4,096 devices (at most
    /// 2^20 devices).
    #[arg(long)]
    pub coords: bool,
    /// Include every program's lowered steps (explicit rank groups) in JSON even above
    /// 4,096 devices (at most 2^20 devices); above, programs are given in their dim
    /// form (`text`) only.
    #[arg(long)]
    pub groups: bool,
    /// Also write the answer as one self-contained HTML page to FILE: the hierarchy
    /// coloured by each axis for every placement shown, the programs step by step
    /// with their time split into bandwidth, latency and launch against the lower
    /// bound, and the --json document embedded (docs/design.md, "The HTML page").
    /// stdout keeps its usual output.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// z3's budgets per proof.
    #[command(flatten)]
    pub smt: SmtArgs,
}

/// From how many placements `synth` shows a progress bar (on a terminal).
const PROGRESS_PLACEMENTS: u64 = 100;

/// The most programs `--top` asks for per placement and request.
pub const MAX_TOP: usize = 100;
/// The longest programs `--max-steps` lets the enumeration try (the search grows
/// exponentially with it; the best programs of real systems have at most 6 steps).
pub const MAX_MAX_STEPS: usize = 10;

/// The largest `--enum-budget`: minutes of enumeration, not hours.
pub const MAX_ENUM_BUDGET: u64 = 1_000_000_000;

/// The largest `--egraph-nodes`: a few GiB of e-graph at most.
pub const MAX_EGRAPH_NODES: usize = 2_000_000;

/// The rules file given (`--rules FILE`), or the built-in grammar/rules.
pub(super) fn load_rules(path: &Option<PathBuf>) -> Result<RuleSet> {
    let Some(path) = path else {
        return Ok(RuleSet::builtin());
    };
    let source = crate::source::read_file(
        path,
        "rules",
        "check the path; the built-in rules are grammar/rules",
    )?;
    Ok(read_rules(&source)?)
}

pub(super) fn synth(a: SynthArgs) -> Result {
    let spec = load_spec(a.positional.clone(), &a.spec)?;
    // Only `--placement all` lists every placement.
    if a.matrix.is_none() && a.placement.as_deref() == Some("all") {
        crate::placement::checked_count(&spec).map_err(|e| usage(e.0))?;
    }
    if a.top == 0 || a.top > MAX_TOP {
        return Err(usage(format!(
            "--top must be from 1 to {MAX_TOP}, not {}",
            a.top
        )));
    }
    if a.max_steps == 0 || a.max_steps > MAX_MAX_STEPS {
        return Err(usage(format!(
            "--max-steps must be from 1 to {MAX_MAX_STEPS}, not {}",
            a.max_steps
        )));
    }
    if a.enum_budget == 0 || a.enum_budget > MAX_ENUM_BUDGET {
        return Err(usage(format!(
            "--enum-budget must be from 1 to {MAX_ENUM_BUDGET} prefixes, not {}",
            a.enum_budget
        )));
    }
    if a.egraph_nodes == 0 || a.egraph_nodes > MAX_EGRAPH_NODES {
        return Err(usage(format!(
            "--egraph-nodes must be from 1 to {MAX_EGRAPH_NODES}, not {}",
            a.egraph_nodes
        )));
    }
    if (a.coords || a.groups) && spec.devices() > crate::lowered::MAX_LOWERED_DEVICES {
        return Err(usage(format!(
            "--coords and --groups give per-rank data for at most 2^20 devices; this system has {}: leave them out (programs are given in their dim form)",
            spec.devices()
        )));
    }
    let rules = load_rules(&a.rules)?;
    let selection = match (&a.placement, &a.matrix) {
        (_, Some(m)) => {
            let (i, _) = chosen_placement(&spec, &PlacementChoice::Matrix(m.clone()))?
                .expect("a matrix was given");
            Selection::One(i)
        }
        (None, None) => Selection::Best,
        (Some(s), None) if s == "best" => Selection::Best,
        (Some(s), None) if s == "all" => Selection::All,
        (Some(s), None) => Selection::One(s.parse().map_err(|_| {
            usage(format!(
                "--placement takes an index from 0 (see `collsynth placements`), `best` or `all`, not `{s}`"
            ))
        })?),
    };
    let mut opts = Options {
        engine: match a.engine {
            EngineArg::Egraph => Engine::Egraph,
            EngineArg::Enumerate => Engine::Enumerate,
        },
        top: a.top,
        selection,
        ..Options::default()
    };
    opts.limits.max_steps = a.max_steps;
    opts.limits.node_budget = a.enum_budget;
    opts.budgets.node_limit = a.egraph_nodes;
    // A bar when there are many placements to search and stderr is a terminal.
    let count = u64::try_from(crate::placement::tree::Tree::new(&spec).count()).unwrap_or(u64::MAX);
    let bar = (count >= PROGRESS_PLACEMENTS).then(|| super::progress::bar("placements"));
    if let Some((_, p)) = &bar {
        opts.progress = p.clone();
    }
    let backend: Box<dyn Backend> = Box::new(Standard {
        smt: a.smt.options(),
    });
    let result =
        synth::synthesize(&spec, backend.as_ref(), &rules, &opts).map_err(|e| match e {
            SynthError::TooManyDims(_)
            | SynthError::TooManyPlacements(_)
            | SynthError::NoRequests(_)
            | SynthError::NoSuchPlacement { .. } => usage(e.to_string()),
        })?;
    if let Some((pb, _)) = bar {
        pb.finish_and_clear();
    }
    tracing::info!(
        engine_ms = result.stats.engine_time.as_secs_f64() * 1e3,
        pipeline_ms = result.stats.pipeline_time.as_secs_f64() * 1e3,
        check_ms = result.stats.check_time.as_secs_f64() * 1e3,
        total_ms = result.stats.total_time.as_secs_f64() * 1e3,
        checker_runs = result.stats.proof_times.len(),
        checker_ms = result
            .stats
            .proof_times
            .iter()
            .map(|d| d.as_secs_f64())
            .sum::<f64>()
            * 1e3,
        proofs_reused = result.stats.proofs_reused,
        proofs_carried = result.stats.proofs_carried,
        "synth timings"
    );
    let json = (a.json || a.html.is_some())
        .then(|| report::synth_json_with(&spec, &result, a.coords, a.groups));
    let out = match &json {
        Some(j) if a.json => j.clone(),
        _ => report::synth_text(&spec, &result, backend.as_ref()),
    };
    print(&out);
    if let (Some(path), Some(json)) = (&a.html, &json) {
        let page = crate::report::html::synth_html(&spec, &result, backend.as_ref(), json);
        super::write_html(path, &page)?;
    }
    if !result.stats.refuted.is_empty() {
        let mut msg = format!(
            "{} synthesized program(s) were refuted by the {} (a rewrite rule is unsound), the verifier contradicted itself, or the cost model put them below their lower bound; they are left out of the output:",
            result.stats.refuted.len(),
            result.stats.checker
        );
        for r in &result.stats.refuted {
            msg.push_str(&format!("\n  {r}"));
        }
        return Err(Error::Internal(msg));
    }
    if let Some(msg) = result.unanswered(&spec) {
        return Err(Error::Undecided(msg));
    }
    note_cut(&result.stats);
    if result.stats.unknown > 0 {
        eprintln!(
            "warning: {} printed program(s) could not be decided by the {} and are marked unverified",
            result.stats.unknown, result.stats.checker
        );
    }
    Ok(Outcome::Success)
}

/// Says on stderr which budgets cut the search short (the printed programs are then
/// the best found, not necessarily the best there are).
pub(super) fn note_cut(stats: &synth::Stats) {
    let cut = stats.cut_by();
    if !cut.is_empty() {
        eprintln!(
            "note: the search was cut short by {}: the programs shown are the best found and checked, but cheaper ones may exist (docs/design.md, limits)",
            cut.join(" and ")
        );
    }
}
