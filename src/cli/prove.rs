//! `collsynth prove`: the soundness obligations of the rewrite rules, as SMT-LIB2 files
//! in `proofs/` (`--write DIR`), re-derived, compared with the files and discharged
//! by z3 (`--check [DIR]`); the work is [`crate::soundness`]'s. Exit codes: 0 every
//! file identical and every query unsat; 1 a file differs (or is missing or stale), a
//! query is sat, or a rule has no obligation; 3 no such failure but z3 answered
//! unknown; 2 bad input.

use std::path::PathBuf;

use clap::Args;

use super::outcome::{usage, Error, Outcome, Result};
use super::{print, SmtArgs, SpecArg};
use crate::report;
use crate::soundness;

/// `collsynth prove`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["write", "check"])))]
pub struct ProveArgs {
    /// Write every rule's obligation to DIR (one `<rule>.smt2` each), replacing
    /// obligation files of rules that no longer exist.
    #[arg(long, value_name = "DIR")]
    pub write: Option<PathBuf>,
    /// Re-derive every obligation, fail on any difference from the files in DIR
    /// (default: proofs), and require z3 to answer unsat to every check.
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "proofs")]
    pub check: Option<PathBuf>,
    /// A rules file to use instead of the built-in grammar/rules.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// z3's budgets per check (the slowest check of the shipped rules takes about
    /// 30 ms).
    #[command(flatten)]
    pub smt: SmtArgs,
    /// With --check: also check, in memory, every size assignment whose varied dims
    /// go up to N (4 to 8; the files hold sizes 2 to 4, so 4 adds nothing) for the rules the small-model
    /// theorem does not cover (reduce_scatter / all_gather): proves them for those
    /// sizes too.
    #[arg(long, value_name = "N", requires = "check", value_parser = clap::value_parser!(u64).range(4..=8))]
    pub max_size: Option<u64>,
    /// With --check: machine-readable output (schema_version 1) instead of the table.
    #[arg(long, requires = "check")]
    pub json: bool,
    /// Accepted like every subcommand's; rule proofs do not depend on a spec.
    #[command(flatten)]
    pub spec: SpecArg,
}

pub(super) fn prove(a: ProveArgs) -> Result {
    let rules = super::synth::load_rules(&a.rules)?;
    let max = a.max_size.unwrap_or(4);
    let obligations = soundness::derive_upto(&rules, max);
    let file_error = |e: soundness::check::FileError| usage(e.to_string());
    match (&a.write, &a.check) {
        (Some(dir), None) => {
            let obligations =
                obligations.map_err(|e| usage(format!("cannot state the obligation of {e}")))?;
            let lines = soundness::check::write(dir, &obligations).map_err(file_error)?;
            print(&lines.iter().map(|l| format!("{l}\n")).collect::<String>());
            Ok(Outcome::Success)
        }
        (None, Some(dir)) => {
            if !dir.is_dir() {
                return Err(usage(format!(
                    "--check {}: no such directory; write the obligations with `collsynth prove --write {}`",
                    dir.display(),
                    dir.display()
                )));
            }
            let obligations = obligations
                .map_err(|e| Error::Failed(format!("error: cannot state the obligation of {e}")))?;
            let (pb, progress) = super::progress::bar("obligations");
            let r =
                soundness::check::check_with(dir, &obligations, &a.smt.options(), max, &progress)
                    .map_err(file_error);
            pb.finish_and_clear();
            let r = r?;
            print(&if a.json {
                report::prove::check_json(&r)
            } else {
                report::prove::check_text(&r)
            });
            if !r.problems.is_empty() {
                let all: Vec<&String> = r.problems.iter().chain(&r.undecided).collect();
                let text: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
                return Err(Error::Failed(format!("error: {}", text.join("\nerror: "))));
            }
            if !r.undecided.is_empty() {
                return Err(Error::Undecided(r.undecided.join("\nundecided: ")));
            }
            Ok(Outcome::Success)
        }
        _ => Err(usage("give exactly one of --write DIR and --check [DIR]")),
    }
}
