//! `collsynth prove`: the soundness obligations of the rewrite rules, as SMT-LIB2 files
//! in `proofs/` (`--write DIR`), re-derived, compared with the files and discharged
//! by z3 (`--check [DIR]`). Exit codes: 0 every file identical and every query unsat;
//! 1 a file differs (or is missing or stale), a query is sat, or a rule has no
//! obligation; 3 no such failure but z3 answered unknown; 2 bad input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use clap::Args;

use super::{exit, print, usage, Failure, SpecArg};
use crate::synth::rules::RuleSet;
use crate::verify::obligation::{self, Answer, Coverage, RuleObligation};
use crate::verify::{composition, instances};

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
    /// z3's timeout per check, in milliseconds; a timeout is "undecided" (exit 3),
    /// never a proof. The slowest check of the shipped rules takes about 30 ms.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub smt_timeout_ms: u64,
    /// With --check: also check, in memory, every size assignment whose varied dims
    /// go up to N (5 to 8; the files hold sizes 2 to 4) for the rules the small-model
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

/// The first line of every obligation file collsynth writes.
const HEADER: &str = "; Soundness obligation of rewrite rule";

/// Every rule's obligation, in file order; a rule the encoding cannot state is an error.
pub fn derive(rules: &RuleSet) -> Result<Vec<RuleObligation>, String> {
    derive_upto(rules, 0)
}

/// [`derive`], with the queries of sizes up to `max_size` beyond the files appended
/// (`--max-size`; nothing is appended up to the largest size the files hold).
pub fn derive_upto(rules: &RuleSet, max_size: u64) -> Result<Vec<RuleObligation>, String> {
    let mut out = vec![];
    for r in rules.rules() {
        let inst = instances::instances(r).map_err(|e| e.to_string())?;
        let mut o = obligation::rule_obligation(&r.name, &r.to_string(), &inst);
        // Theorem S already covers every size of the other instances.
        let extra: Vec<obligation::Query> = inst
            .iter()
            .filter(|i| obligation::coverage(i) == Coverage::Checked)
            .flat_map(|i| obligation::deeper_queries(i, max_size))
            .collect();
        o.deeper = extra.len();
        o.queries.extend(extra);
        out.push(o);
    }
    composition::extend(rules, &mut out);
    Ok(out)
}

fn io_failure(path: &Path, what: &str, e: std::io::Error) -> Failure {
    Failure {
        code: exit::INPUT,
        message: format!("error: cannot {what} {}: {e}", path.display()),
    }
}

/// Obligation files in `dir` (sorted): `*.smt2` starting with [`HEADER`].
fn existing(dir: &Path) -> Result<Vec<String>, Failure> {
    let mut out = vec![];
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_failure(dir, "read the directory", e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.ends_with(".smt2") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if text.starts_with(HEADER) {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

fn write(dir: &Path, obligations: &[RuleObligation]) -> Result<ExitCode, Failure> {
    std::fs::create_dir_all(dir).map_err(|e| io_failure(dir, "create", e))?;
    let mut out = String::new();
    for name in existing(dir)? {
        if !obligations.iter().any(|o| o.file == name) {
            let p = dir.join(&name);
            std::fs::remove_file(&p).map_err(|e| io_failure(&p, "remove", e))?;
            out.push_str(&format!("removed {} (no such rule)\n", p.display()));
        }
    }
    for o in obligations {
        let p = dir.join(&o.file);
        std::fs::write(&p, &o.text).map_err(|e| io_failure(&p, "write", e))?;
        out.push_str(&format!(
            "wrote {} ({} instances, {} size assignments, {} checks)\n",
            p.display(),
            o.instances,
            o.queries.len(),
            o.checks()
        ));
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Where `file` differs from `want`: `None` if identical, else a description.
pub fn difference(file: &str, want: &str) -> Option<String> {
    if file == want {
        return None;
    }
    let (mut a, mut b) = (file.lines(), want.lines());
    let mut n = 1;
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => n += 1,
            (Some(x), Some(y)) => {
                return Some(format!(
                    "line {n} is `{}`, the derived obligation has `{}`",
                    clip(x),
                    clip(y)
                ))
            }
            (Some(_), None) => return Some(format!("it has extra lines from line {n}")),
            (None, Some(_)) => return Some(format!("it ends at line {}", n - 1)),
            (None, None) => return Some("line endings differ".into()),
        }
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(80).collect::<String>())
    }
}

/// z3's answers to every query, in order (run on up to two threads).
fn discharge_all(obligations: &[RuleObligation], timeout_ms: u64) -> Vec<Vec<(Vec<Answer>, f64)>> {
    let jobs: Vec<(usize, usize)> = obligations
        .iter()
        .enumerate()
        .flat_map(|(r, o)| (0..o.queries.len()).map(move |q| (r, q)))
        .collect();
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 2);
    let mut results: Vec<(usize, usize, Vec<Answer>, f64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = vec![];
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(&(r, q)) = jobs.get(i) else { break };
                        let t = Instant::now();
                        let a = obligation::discharge(&obligations[r].queries[q], timeout_ms);
                        mine.push((r, q, a, t.elapsed().as_secs_f64()));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| vec![]))
            .collect()
    });
    results.sort_by_key(|(r, q, _, _)| (*r, *q));
    let mut out: Vec<Vec<(Vec<Answer>, f64)>> = obligations.iter().map(|_| vec![]).collect();
    for (r, _, a, t) in results {
        out[r].push((a, t));
    }
    out
}

/// Counterexamples shown per rule; the rest are counted.
const SHOWN: usize = 3;

fn check(
    dir: &Path,
    obligations: &[RuleObligation],
    timeout_ms: u64,
    max_size: u64,
    json: bool,
) -> Result<ExitCode, Failure> {
    let start = Instant::now();
    let mut problems: Vec<String> = vec![];
    let mut unknown: Vec<String> = vec![];
    let mut files: Vec<Option<String>> = vec![];
    for o in obligations {
        let p = dir.join(&o.file);
        files.push(match std::fs::read_to_string(&p) {
            Ok(text) => difference(&text, &o.text).map(|d| {
                format!(
                    "{} differs from the obligation derived from rule `{}`: {d}",
                    p.display(),
                    o.rule
                )
            }),
            Err(e) => Some(format!(
                "{} cannot be read ({e}); write it with `collsynth prove --write {}`",
                p.display(),
                dir.display()
            )),
        });
    }
    for name in existing(dir)? {
        if !obligations.iter().any(|o| o.file == name) {
            problems.push(format!(
                "{} is the obligation of a rule that no longer exists",
                dir.join(&name).display()
            ));
        }
    }
    let answers = discharge_all(obligations, timeout_ms);
    let w = obligations.iter().map(|o| o.rule.len()).max().unwrap_or(4);
    let mut out = String::new();
    let mut rows = vec![];
    for ((o, file), answers) in obligations.iter().zip(&files).zip(&answers) {
        let secs: f64 = answers.iter().map(|(_, t)| t).sum();
        let mut verdict = "unsat".to_string();
        let checks = o.queries.iter().zip(answers).flat_map(|(q, (a, _))| {
            q.checks
                .iter()
                .zip(a)
                .map(move |(c, a)| (format!("{} {}", c.direction.describe(), q.title), a))
        });
        let mut refuted = 0;
        let mut undecided = 0;
        for (title, a) in checks {
            match a {
                Answer::Unsat => {}
                Answer::Sat(_) if refuted >= SHOWN => refuted += 1,
                Answer::Sat(on) => {
                    refuted += 1;
                    verdict = "SAT".into();
                    problems.push(format!(
                        "rule `{}` is not proved sound: z3 finds a counterexample to `{}` ({})",
                        o.rule,
                        title,
                        if on.is_empty() {
                            "no selector named".to_string()
                        } else {
                            on.join(", ")
                        }
                    ));
                }
                Answer::Unknown(why) => {
                    undecided += 1;
                    if verdict == "unsat" {
                        verdict = "unknown".into();
                    }
                    unknown.push(format!(
                        "rule `{}`: z3 could not decide `{}` within {timeout_ms} ms: {why}",
                        o.rule, title
                    ));
                }
            }
        }
        if refuted > SHOWN {
            problems.push(format!(
                "rule `{}`: {} more checks have counterexamples",
                o.rule,
                refuted - SHOWN
            ));
        }
        rows.push(serde_json::json!({
            "rule": o.rule,
            "file": dir.join(&o.file).display().to_string(),
            "file_identical": file.is_none(),
            "instances": o.instances,
            "size_assignments": o.queries.len(),
            "checks": o.checks(),
            "beyond_file": o.deeper,
            "verdict": verdict.to_lowercase(),
            "counterexamples": refuted,
            "undecided": undecided,
            "covers": o.coverage.words(max_size),
            "time_s": secs,
        }));
        let file_state = if file.is_some() {
            "DIFFERS"
        } else {
            "identical"
        };
        out.push_str(&format!(
            "{:<w$}  {:>2} instances  {:>3} size assignments  {:>3} checks  {verdict:<7}  covers {:<14}  file {file_state:<9}  {:.2} s\n",
            o.rule,
            o.instances,
            o.queries.len(),
            o.checks(),
            o.coverage.words(max_size),
            secs
        ));
    }
    problems.extend(files.into_iter().flatten());
    let total: usize = obligations.iter().map(|o| o.checks()).sum();
    out.push_str(&format!(
        "{} rules, {total} checks, {:.2} s\n",
        obligations.len(),
        start.elapsed().as_secs_f64()
    ));
    if json {
        let doc = serde_json::json!({
            "schema_version": 1,
            "directory": dir.display().to_string(),
            "ok": problems.is_empty() && unknown.is_empty(),
            "rules": rows,
            "checks": total,
            "time_s": start.elapsed().as_secs_f64(),
        });
        out = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    }
    print(&out)?;
    if !problems.is_empty() {
        problems.extend(unknown);
        return Err(Failure {
            code: exit::REFUTED,
            message: format!("error: {}", problems.join("\nerror: ")),
        });
    }
    if !unknown.is_empty() {
        return Err(Failure {
            code: exit::UNKNOWN,
            message: format!("undecided: {}", unknown.join("\nundecided: ")),
        });
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn prove(a: ProveArgs) -> Result<ExitCode, Failure> {
    let rules = super::synth::load_rules(&a.rules)?;
    let max = a.max_size.unwrap_or(4);
    let obligations = derive_upto(&rules, max);
    match (&a.write, &a.check) {
        (Some(dir), None) => {
            let obligations =
                obligations.map_err(|e| usage(format!("cannot state the obligation of {e}")))?;
            write(dir, &obligations)
        }
        (None, Some(dir)) => {
            if !dir.is_dir() {
                return Err(usage(format!(
                    "--check {}: no such directory; write the obligations with `collsynth prove --write {}`",
                    dir.display(),
                    dir.display()
                )));
            }
            let obligations = obligations.map_err(|e| Failure {
                code: exit::REFUTED,
                message: format!("error: cannot state the obligation of {e}"),
            })?;
            check(dir, &obligations, a.smt_timeout_ms, max, a.json)
        }
        _ => Err(usage("give exactly one of --write DIR and --check [DIR]")),
    }
}
