//! `collsynth calibrate`: fit levels' `latency` and `bandwidth` to nccl-tests runs and
//! write a system file (docs/cost-model.md, "Calibration").

use std::path::PathBuf;

use clap::Args;

use super::outcome::{usage, Outcome, Result};
use super::print;
use crate::calibrate::{self, Run};
use crate::report;
use crate::source::{InputError, Source};
use crate::spec;

/// `collsynth calibrate`.
#[derive(Debug, Args)]
#[command(after_long_help = CALIBRATE_EXAMPLES)]
pub struct CalibrateArgs {
    /// The system to calibrate: a system file (the keys of a spec's `[system]` table:
    /// `name`, `launch`, `levels`, like specs/systems/dgx-a100-x2.toml). Its level
    /// names and arities are kept; the levels that have runs get fitted figures.
    #[arg(long, value_name = "FILE", required_unless_present = "spec")]
    pub system: Option<PathBuf>,
    /// Take the system from this spec instead.
    #[arg(short = 's', long, value_name = "SPEC", conflicts_with = "system")]
    pub spec: Option<PathBuf>,
    /// One nccl-tests run: `LEVEL[:RANKS][:COLLECTIVE]=FILE`, e.g. `gpu:8=ar_node.txt`
    /// (8 GPUs of one node) or `node:4=ar_4nodes.txt` (1 GPU on each of 4 nodes). RANKS
    /// defaults to the file's `# Rank` lines, COLLECTIVE to the file's `Collective test
    /// starting` line, else all_reduce. Repeat for more runs or levels.
    #[arg(long = "run", value_name = "SCOPE=FILE", required = true)]
    pub runs: Vec<String>,
    /// Fit the system's `launch` too (needs runs of two rank counts at one level);
    /// otherwise the template's launch is kept and the latency absorbs the rest.
    #[arg(long)]
    pub fit_launch: bool,
    /// Write the system file here; stdout then gets the summary (or the JSON).
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Machine-readable output (schema_version 1), with the system file as a string.
    #[arg(long)]
    pub json: bool,
}

const CALIBRATE_EXAMPLES: &str = "\
How it fits: each run is one collective over one group that spans one level (8 GPUs of one node:
level gpu; 1 GPU on each of N nodes: level node). The cost model prices that run as
  t(S) = c_bw(S) / R + c_lat * latency + launch
(for all_reduce over n ranks: 2(n-1)/n * S / R + 2(n-1) * latency + launch), exactly as `cost`
prices a one-step program. R and latency are fitted by least squares on the relative error of
every row (out-of-place time), so small and large messages count alike. R becomes the level's
`bandwidth`, or its `device_bandwidth` if the template level has one (a run with one rank per
subtree measures one device's own link). Rows of size 0 are skipped.

Output: the system file (stdout, or --out FILE) starts with comments giving the fit and every
row's residual (model - measured) / measured; the summary goes to stderr (stdout with --out).
The file loads as `system = \"FILE\"` in a spec.

Examples:
  all_reduce_perf -b 8 -e 8G -f 2 -g 8 > node.txt                      # on one node
  mpirun -np 4 --map-by ppr:1:node all_reduce_perf -b 8 -e 8G -f 2 -g 1 > net.txt
  collsynth calibrate --system specs/systems/dgx-a100-x2.toml \\
      --run gpu:8=node.txt --run node:4=net.txt -o my-cluster.toml
  collsynth calibrate --system sys.toml --run gpu=node.txt --json

Errors in a file name its line and column (a row cut short, a time that is not a number, a
busbw/algbw ratio that contradicts the scope's rank count or collective): exit 2.";

fn read(path: &str) -> std::result::Result<Source, InputError> {
    crate::source::read_file(
        std::path::Path::new(path),
        "nccl-tests",
        "give the file nccl-tests printed (e.g. `all_reduce_perf ... > node.txt`)",
    )
}

pub(super) fn calibrate(a: CalibrateArgs) -> Result {
    let (template, template_name) = match (&a.system, &a.spec) {
        (Some(p), _) => (spec::load_system(p)?, p.display().to_string()),
        (None, Some(p)) => (
            crate::catalog::load_spec(p)?.system,
            p.display().to_string(),
        ),
        (None, None) => {
            return Err(usage(
                "give the system to calibrate: --system FILE or --spec SPEC",
            ))
        }
    };
    let mut runs: Vec<Run> = Vec::new();
    for r in &a.runs {
        let Some((scope, file)) = r.split_once('=') else {
            return Err(usage(format!(
                "--run `{r}`: write the run as LEVEL[:RANKS][:COLLECTIVE]=FILE, like `gpu:8=node.txt`"
            )));
        };
        let scope = calibrate::parse_scope(scope).map_err(|e| usage(format!("--run {e}")))?;
        let source = read(file)?;
        let table = calibrate::parse_table(&source)?;
        runs.push(calibrate::make_run(&template, &scope, table, file)?);
    }
    let cal = calibrate::calibrate(&template, runs, a.fit_launch)
        .map_err(|e| usage(format!("calibrate: {e}")))?;
    let toml = calibrate::system_toml(&cal, &template_name);
    // The written file must load as a system file: check it here, not on the cluster.
    spec::parse_system(&Source::new("<calibrated system>", toml.clone()))
        .map_err(|e| super::Error::Internal(format!("the calibrated system does not load: {e}")))?;
    let summary = if a.json {
        report::calibrate::calibrate_json(&cal, &template_name, &toml)
    } else {
        report::calibrate::calibrate_text(&cal)
    };
    match &a.out {
        Some(path) => {
            std::fs::write(path, &toml)
                .map_err(|e| usage(format!("cannot write {}: {e}", path.display())))?;
            print(&summary);
        }
        None if a.json => print(&summary),
        None => {
            print(&toml);
            eprint!("{summary}");
        }
    }
    Ok(Outcome::Success)
}
