//! `collsynth simulate`: run a placement's top programs through SimGrid's SMPI and
//! compare the simulated times and ranking with the cost model's (docs/cost-model.md,
//! "SimGrid check").

use std::path::PathBuf;

use clap::Args;

use super::outcome::{usage, Error, Outcome, Result};
use super::{load_spec, print, PlacementArg, SmtArgs, SpecArg};
use crate::cost;
use crate::problem::chosen_placement;
use crate::rules::RuleSet;
use crate::simulate::{self, report, SimError};
use crate::synth::backend::Standard;
use crate::synth::{self as synthesis, Options, Selection};
use crate::units::parse_size;

/// `collsynth simulate`.
#[derive(Debug, Args)]
#[command(after_long_help = SIMULATE_HELP)]
pub struct SimulateArgs {
    /// Spec file (same as --spec).
    #[arg(value_name = "SPEC", conflicts_with = "spec")]
    pub positional: Option<PathBuf>,
    /// The spec.
    #[command(flatten)]
    pub spec: SpecArg,
    /// The placement (default: the best one synthesis finds).
    #[command(flatten)]
    pub placement: PlacementArg,
    /// Only this request (index from 0); default: every synthesized request.
    #[arg(long, value_name = "R")]
    pub request: Option<usize>,
    /// Programs per request: synthesis' top N (the flat ring is added when not among them).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub top: usize,
    /// Buffer size per device to simulate (default: the request's `bytes`), rounded
    /// down to whole floats every reduce_scatter divides evenly.
    #[arg(long, value_name = "SIZE")]
    pub bytes: Option<String>,
    /// Also write the C program, platform XML and host file into DIR.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Machine-readable output (schema_version 1).
    #[arg(long)]
    pub json: bool,
    /// z3's budgets (synthesis proves the programs it ranks).
    #[command(flatten)]
    pub smt: SmtArgs,
}

const SIMULATE_HELP: &str = "\
What runs: the platform has one SimGrid host per device and, per level, one full-duplex link per
subtree (the spec's bandwidth, per direction) and one per device where the level has a
device_bandwidth; a transfer between two devices crosses, at every level from the outermost one
where they differ inwards, the sender's subtree link up and the receiver's down, exactly the
links the cost model charges. Link latencies are set so that a route's latency is the latency of
the outermost level it crosses, the model's per-hop latency. Each program becomes MPI calls on
sub-communicators, one per step (members in rank order): rings (all_reduce, reduce_scatter,
all_gather) as rounds of nonblocking point-to-point messages to the next member, the model's
rings; reduce and broadcast as SMPI's MPI_Reduce and MPI_Bcast (segmented pipeline chains). A
pipelined program (pipeline(C)) runs each step on each chunk as soon as that chunk's previous
step is done on the rank and the step's previous chunk is too: asynchronous, where the model
prices synchronous windows; a program with a chain is simulated plain (SMPI's chains block the
rank). The time is from the first rank starting to the last finishing, plus the spec's launch
once per step and chunk. SimGrid's own calibration factors are off (flow model
CM02, no TCP window, no cross traffic, SMPI factors 1), so differences come from the model's
simplifications, not from SimGrid's empirical corrections.

Output per request: predicted and simulated time of every program, their ratio, and how the two
rankings agree: Kendall's tau over all pairs, pairs agreeing/disagreeing/tied (within 0.1%), and
whether the model's best program is SimGrid's best. Exit 0 whatever the agreement (it is a
measurement, not a check); 2 for bad input; 1 if SMPI is missing or fails.

Needs smpicc and smpirun (Debian: libsimgrid-dev; scripts/setup installs it). The ranks share
one buffer, so --bytes costs little memory; the simulation's time grows with the messages (a
pipelined program sends C times as many): a few MB on 8 devices simulate in about a second.

Example:
  collsynth simulate specs/e2e/two-node-dp8.toml --top 4 --bytes 4MB";

pub(super) fn simulate(a: SimulateArgs) -> Result {
    let spec = load_spec(a.positional.clone(), &a.spec)?;
    let chosen = chosen_placement(&spec, &a.placement.choice()?)?;
    if let Some(r) = a.request {
        if r >= spec.requests.len() {
            return Err(usage(format!(
                "--request {r}: the spec has {} request(s) (0..{})",
                spec.requests.len(),
                spec.requests.len().saturating_sub(1)
            )));
        }
    }
    let bytes_override = match &a.bytes {
        Some(b) => Some(parse_size(b).map_err(|e| usage(format!("--bytes: {}", e.0)))?),
        None => None,
    };
    if a.top == 0 {
        return Err(usage("--top 0 simulates nothing: give at least 1"));
    }
    let opts = Options {
        top: a.top,
        selection: chosen
            .as_ref()
            .map_or(Selection::Best, |(i, _)| Selection::One(*i)),
        ..Options::default()
    };
    let backend = Standard {
        smt: a.smt.options(),
    };
    let result = synthesis::synthesize(&spec, &backend, &RuleSet::builtin(), &opts)
        .map_err(|e| usage(e.to_string()))?;
    if let Some(msg) = result.unanswered(&spec) {
        return Err(Error::Undecided(msg));
    }
    super::synth::note_cut(&result.stats);
    let Some(p) = result.placements.first() else {
        return Err(usage(
            "synthesis found no placement with a program for every request",
        ));
    };
    let mut requests = Vec::new();
    for r in &p.results {
        let req = &spec.requests[r.request];
        if !req.collective.takes_programs() || a.request.is_some_and(|x| x != r.request) {
            continue;
        }
        // Trees are not simulated (the generated program runs rings and chains).
        let mut programs: Vec<_> = r
            .programs
            .iter()
            .enumerate()
            .filter(|(_, x)| !x.program.steps.iter().any(|s| s.tree))
            .map(|(i, x)| {
                let chunks = simulate::simulated_chunks(&x.program, x.chunks);
                (x.program.clone(), chunks, Some(i))
            })
            .collect();
        let flat = cost::flat_program(&p.placement, req);
        if !flat.steps.is_empty() && !programs.iter().any(|(x, c, _)| *x == flat && *c == 1) {
            programs.push((flat, 1, None));
        }
        if programs.is_empty() {
            continue;
        }
        let sized: Vec<_> = programs.iter().map(|(x, c, _)| (x, *c)).collect();
        let bytes = simulate::simulated_bytes(
            &spec,
            req,
            &p.placement,
            &sized,
            bytes_override.unwrap_or(req.bytes),
        );
        let keep = a
            .keep
            .as_ref()
            .map(|k| k.join(format!("request-{}", r.request)));
        let (programs, agreement) =
            simulate::compare(&spec, req, &p.placement, &programs, bytes, keep.as_deref())
                .map_err(|e| match e {
                    SimError::Unsupported(m) => usage(m),
                    SimError::Tool(m) | SimError::Failed(m) => Error::Failed(format!("error: {m}")),
                })?;
        requests.push(report::RequestReport {
            request: r.request,
            bytes,
            programs,
            agreement,
        });
    }
    if requests.is_empty() {
        return Err(usage(
            "no request to simulate: send_recv requests are priced, not programs",
        ));
    }
    let out = if a.json {
        report::simulate_json(&spec, p.index, &p.placement, &requests)
    } else {
        report::simulate_text(&spec, p.index, &p.placement, &requests)
    };
    print(&out);
    Ok(Outcome::Success)
}
