//! `collsynth bench`: runs the performance suite ([`crate::bench`]) and prints its
//! figures as a report or JSON. Progress goes to stderr, one line per problem.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::outcome::{usage, Error, Outcome, Result};
use super::{print, SmtArgs};
use crate::bench::{self, report, Settings, Suite};
use crate::rules::RuleSet;
use crate::synth::backend::Standard;

/// `--suite`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SuiteArg {
    /// A few small problems (seconds; the CI smoke test).
    Quick,
    /// Every example spec and every generated hierarchy up to 2^20 devices.
    Full,
}

/// `collsynth bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Bench this one spec instead of the suite (same as --spec); --suite then only
    /// sets the budgets.
    #[arg(value_name = "SPEC", conflicts_with = "spec")]
    pub positional: Option<PathBuf>,
    /// Spec file to bench instead of the suite.
    #[arg(short = 's', long = "spec", value_name = "SPEC")]
    pub spec: Option<PathBuf>,
    /// Which problems (without a spec: the suite, which includes the embedded default
    /// and the example specs).
    #[arg(long, value_enum, default_value_t = SuiteArg::Quick)]
    pub suite: SuiteArg,
    /// Machine-readable output (schema_version 1).
    #[arg(long)]
    pub json: bool,
    /// The example specs folder (default: ./specs, else the source tree's).
    #[arg(long, value_name = "DIR")]
    pub specs_dir: Option<PathBuf>,
    /// Enumeration's node budget per shape (default: 300,000 quick, 5,000,000 full).
    #[arg(long, value_name = "N")]
    pub enum_budget: Option<u64>,
    /// Only the problems whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    pub only: Option<String>,
    /// Print the spec (TOML) of a generated problem of the suite, e.g.
    /// gen-5l-32768-4ax, and exit: save it to reproduce a figure with `collsynth
    /// synth FILE`.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["positional", "spec", "json", "only"])]
    pub print_spec: Option<String>,
    /// z3's budgets per proof.
    #[command(flatten)]
    pub smt: SmtArgs,
}

pub(super) fn bench(a: BenchArgs) -> Result {
    if let Some(name) = &a.print_spec {
        return match bench::suite::generated_toml(name) {
            Some(text) => {
                print(&text);
                Ok(Outcome::Success)
            }
            None => Err(usage(format!(
                "--print-spec {name}: no generated problem of that name; the suite generates {}",
                bench::suite::generated_names().join(", ")
            ))),
        };
    }
    let suite = match a.suite {
        SuiteArg::Quick => Suite::Quick,
        SuiteArg::Full => Suite::Full,
    };
    let mut settings = Settings::of(suite);
    if let Some(b) = a.enum_budget {
        settings.enum_budget = b;
    }
    let mut problems = match a.positional.as_ref().or(a.spec.as_ref()) {
        Some(path) => vec![bench::suite::Problem {
            name: path.display().to_string(),
            spec: crate::catalog::load_spec(path)?,
        }],
        None => {
            let dir = bench::suite::specs_dir(a.specs_dir.as_deref())?;
            bench::suite::problems(suite, &dir)?
        }
    };
    if let Some(only) = &a.only {
        problems.retain(|p| p.name.contains(only.as_str()));
    }
    let backend = Standard {
        smt: a.smt.options(),
    };
    let rules = RuleSet::builtin();
    let machine = report::Machine::now();
    let mut results = Vec::new();
    let (pb, progress) = super::progress::bar("bench");
    for (i, p) in problems.iter().enumerate() {
        progress.report(i as u64, problems.len() as u64);
        pb.suspend(|| eprintln!("bench: {} ...", p.name));
        let r = bench::run_problem(p, &settings, &backend, &rules)
            .map_err(|e| Error::Input(format!("{}: {e}", p.name)))?;
        pb.suspend(|| {
            eprintln!(
                "bench: {}: e-graph {:.3} ms, enumeration {}",
                p.name,
                r.egraph.engine_time.as_secs_f64() * 1e3,
                if r.enumerate.finished {
                    format!("{:.3} ms", r.enumerate.engine_time.as_secs_f64() * 1e3)
                } else {
                    "did not finish".into()
                }
            )
        });
        results.push(r);
    }
    pb.finish_and_clear();
    let out = if a.json {
        report::bench_json(&settings, &machine, &results)
    } else {
        report::bench_text(&settings, &machine, &results)
    };
    print(&out);
    let s = report::summary(&results);
    if s.unproven > 0 {
        return Err(Error::Internal(format!(
            "{} synthesized program(s) were refuted or left undecided",
            s.unproven
        )));
    }
    Ok(Outcome::Success)
}
