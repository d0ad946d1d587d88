//! The obligation files and the whole check: writing `proofs/`, comparing it with
//! the obligations derived from the rules, and discharging every query with z3 (on
//! every core, in a fixed order of results).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use super::obligation;
use super::RuleObligation;
use crate::progress::Progress;
use crate::verdict::Verdict;
use crate::verify::smt::SmtOptions;

/// The first line of every obligation file collsynth writes.
pub const HEADER: &str = "; Soundness obligation of rewrite rule";

/// Counterexamples described per rule; the rest are counted.
const SHOWN: usize = 3;

/// A file operation that failed, with its path.
#[derive(Debug, thiserror::Error)]
#[error("cannot {what} {}: {source}", path.display())]
pub struct FileError {
    /// What was being done: `read the directory`, `write`, ...
    pub what: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The operating system's error.
    pub source: io::Error,
}

fn file_error<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> FileError + 'p {
    move |source| FileError {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Obligation files in `dir` (sorted): `*.smt2` starting with [`HEADER`]. A missing
/// directory has none.
pub fn existing(dir: &Path) -> Result<Vec<String>, FileError> {
    let mut out = vec![];
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(file_error("read the directory", dir)(e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.ends_with(".smt2") {
            continue;
        }
        let text = crate::source::read_file(&entry.path(), "obligation", "")
            .map(|s| s.text)
            .unwrap_or_default();
        if text.starts_with(HEADER) {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Writes every obligation to `dir` and removes obligation files of rules that no
/// longer exist; returns one line per file written or removed.
pub fn write(dir: &Path, obligations: &[RuleObligation]) -> Result<Vec<String>, FileError> {
    std::fs::create_dir_all(dir).map_err(file_error("create", dir))?;
    let mut out = vec![];
    for name in existing(dir)? {
        if !obligations.iter().any(|o| o.file == name) {
            let p = dir.join(&name);
            std::fs::remove_file(&p).map_err(file_error("remove", &p))?;
            out.push(format!("removed {} (no such rule)", p.display()));
        }
    }
    for o in obligations {
        let p = dir.join(&o.file);
        std::fs::write(&p, &o.text).map_err(file_error("write", &p))?;
        out.push(format!(
            "wrote {} ({} instances, {} size assignments, {} checks)",
            p.display(),
            o.instances,
            o.queries.len(),
            o.checks()
        ));
    }
    Ok(out)
}

/// Where `file` differs from `want`: `None` if identical, else the first differing
/// line, followed by the first hunk of a unified diff (file → derived obligation).
pub fn difference(file: &str, want: &str) -> Option<String> {
    if file == want {
        return None;
    }
    let what = first_difference(file, want);
    let diff = similar::TextDiff::from_lines(file, want);
    let hunk = diff
        .unified_diff()
        .context_radius(1)
        .header("file", "derived")
        .iter_hunks()
        .next()
        .map(|h| {
            let text = h.to_string();
            let mut lines: Vec<String> = text.lines().take(9).map(clip).collect();
            if text.lines().count() > 9 {
                lines.push("…".into());
            }
            lines.join("\n")
        });
    Some(match hunk {
        Some(h) if !h.is_empty() => format!("{what}\n{h}"),
        _ => what,
    })
}

fn first_difference(file: &str, want: &str) -> String {
    let (mut a, mut b) = (file.lines(), want.lines());
    let mut n = 1;
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => n += 1,
            (Some(x), Some(y)) => {
                return format!(
                    "line {n} is `{}`, the derived obligation has `{}`",
                    clip(x),
                    clip(y)
                )
            }
            (Some(_), None) => return format!("it has extra lines from line {n}"),
            (None, Some(_)) => return format!("it ends at line {}", n - 1),
            (None, None) => return "line endings differ".into(),
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

/// z3's answers to one query's checks (the selectors that hold, for a
/// counterexample), and the seconds they took.
pub type QueryAnswers = (Vec<Verdict<Vec<String>>>, f64);

/// z3's answers to every query of every obligation, in order; queries run on every
/// core (rayon), results in a fixed order.
pub fn discharge_all(obligations: &[RuleObligation], opts: &SmtOptions) -> Vec<Vec<QueryAnswers>> {
    discharge_all_with(obligations, opts, &Progress::default())
}

/// [`discharge_all`], telling `progress` of every query discharged.
pub fn discharge_all_with(
    obligations: &[RuleObligation],
    opts: &SmtOptions,
    progress: &Progress,
) -> Vec<Vec<QueryAnswers>> {
    let counter = progress.counter(obligations.iter().map(|o| o.queries.len() as u64).sum());
    obligations
        .iter()
        .map(|o| {
            o.queries
                .par_iter()
                .map(|q| {
                    let t = Instant::now();
                    let a = obligation::discharge(q, opts);
                    counter.tick();
                    (a, t.elapsed().as_secs_f64())
                })
                .collect()
        })
        .collect()
}

/// A rule's verdict over all its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObligationVerdict {
    /// Every check `unsat`.
    Unsat,
    /// Some check has a counterexample.
    Sat,
    /// No counterexample, but some check undecided.
    Unknown,
}

impl ObligationVerdict {
    /// The table's word: `unsat`, `SAT` or `unknown`.
    pub fn table_word(self) -> &'static str {
        match self {
            ObligationVerdict::Unsat => "unsat",
            ObligationVerdict::Sat => "SAT",
            ObligationVerdict::Unknown => "unknown",
        }
    }
}

/// One rule of the check: the row of the table and of `prove --check --json`.
#[derive(Debug, Clone, Serialize)]
pub struct RuleRow {
    /// The rule's name.
    pub rule: String,
    /// Its obligation file.
    pub file: String,
    /// Whether the file is exactly the derived obligation.
    pub file_identical: bool,
    /// Virtual instances.
    pub instances: usize,
    /// Size assignments (queries), the file's and those beyond it.
    pub size_assignments: usize,
    /// Implications z3 must refute.
    pub checks: usize,
    /// Queries checked in memory beyond the file (`--max-size`).
    pub beyond_file: usize,
    /// The rule's verdict.
    pub verdict: ObligationVerdict,
    /// Checks with a counterexample.
    pub counterexamples: usize,
    /// Checks z3 could not decide.
    pub undecided: usize,
    /// What the checked sizes extend to (`all sizes`, `all sizes (C4)`, `sizes 2-4`).
    pub covers: String,
    /// z3's time on the rule's queries.
    pub time_s: f64,
}

/// The outcome of `prove --check`.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The directory checked.
    pub directory: PathBuf,
    /// One row per rule, in file order.
    pub rows: Vec<RuleRow>,
    /// Failures: counterexamples, differing, missing or stale files.
    pub problems: Vec<String>,
    /// Checks z3 could not decide.
    pub undecided: Vec<String>,
    /// Checks in all.
    pub checks: usize,
    /// Wall time of the whole check.
    pub time_s: f64,
}

impl CheckReport {
    /// Whether every file is identical and every check unsat.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.undecided.is_empty()
    }
}

/// Compares the files in `dir` with the derived obligations and discharges every
/// query; `max_size` is the largest size checked (for the `covers` words).
pub fn check(
    dir: &Path,
    obligations: &[RuleObligation],
    opts: &SmtOptions,
    max_size: u64,
) -> Result<CheckReport, FileError> {
    check_with(dir, obligations, opts, max_size, &Progress::default())
}

/// [`check`], telling `progress` of every query discharged.
pub fn check_with(
    dir: &Path,
    obligations: &[RuleObligation],
    opts: &SmtOptions,
    max_size: u64,
    progress: &Progress,
) -> Result<CheckReport, FileError> {
    let start = Instant::now();
    let mut problems: Vec<String> = vec![];
    let mut undecided: Vec<String> = vec![];
    let files: Vec<Option<String>> = obligations
        .iter()
        .map(|o| file_difference(dir, o))
        .collect();
    for name in existing(dir)? {
        if !obligations.iter().any(|o| o.file == name) {
            problems.push(format!(
                "{} is the obligation of a rule that no longer exists",
                dir.join(&name).display()
            ));
        }
    }
    let answers = discharge_all_with(obligations, opts, progress);
    let mut rows = vec![];
    for ((o, file), answers) in obligations.iter().zip(&files).zip(&answers) {
        let mut verdict = ObligationVerdict::Unsat;
        let (mut refuted, mut open) = (0, 0);
        let checks = o.queries.iter().zip(answers).flat_map(|(q, (a, _))| {
            q.checks
                .iter()
                .zip(a)
                .map(move |(c, a)| (format!("{} {}", c.direction.describe(), q.title), a))
        });
        for (title, a) in checks {
            match a {
                Verdict::Proved => {}
                Verdict::Refuted(_) if refuted >= SHOWN => refuted += 1,
                Verdict::Refuted(on) => {
                    refuted += 1;
                    verdict = ObligationVerdict::Sat;
                    problems.push(format!(
                        "rule `{}` is not proved sound: z3 finds a counterexample to `{title}` ({})",
                        o.rule,
                        if on.is_empty() {
                            "no selector named".to_string()
                        } else {
                            on.join(", ")
                        }
                    ));
                }
                Verdict::Unknown(why) => {
                    open += 1;
                    if verdict == ObligationVerdict::Unsat {
                        verdict = ObligationVerdict::Unknown;
                    }
                    undecided.push(format!(
                        "rule `{}`: z3 could not decide `{title}` within {}: {why}",
                        o.rule,
                        opts.budget_text()
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
        rows.push(RuleRow {
            rule: o.rule.clone(),
            file: dir.join(&o.file).display().to_string(),
            file_identical: file.is_none(),
            instances: o.instances,
            size_assignments: o.queries.len(),
            checks: o.checks(),
            beyond_file: o.deeper,
            verdict,
            counterexamples: refuted,
            undecided: open,
            covers: o.coverage.words(max_size),
            time_s: answers.iter().map(|(_, t)| t).sum(),
        });
    }
    problems.extend(files.into_iter().flatten());
    Ok(CheckReport {
        directory: dir.to_path_buf(),
        rows,
        problems,
        undecided,
        checks: obligations.iter().map(|o| o.checks()).sum(),
        time_s: start.elapsed().as_secs_f64(),
    })
}

/// How the file of `o` in `dir` differs from the derived obligation, if it does.
fn file_difference(dir: &Path, o: &RuleObligation) -> Option<String> {
    let p = dir.join(&o.file);
    match crate::source::read_file(&p, "obligation", "") {
        Ok(source) => difference(&source.text, &o.text).map(|d| {
            format!(
                "{} differs from the obligation derived from rule `{}`: {d}",
                p.display(),
                o.rule
            )
        }),
        Err(e) => Some(format!(
            "{} cannot be read ({}); write it with `collsynth prove --write {}`",
            p.display(),
            e.message,
            dir.display()
        )),
    }
}
