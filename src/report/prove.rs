//! `prove --check` output: one line per rule for people, and the JSON document for
//! machines (`schema_version` 1: `directory`, `ok`, `rules` with one [`RuleRow`] per
//! rule, `checks`, `time_s`).

use serde::Serialize;

use crate::soundness::{CheckReport, RuleRow};

/// The table: one line per rule, then the totals.
pub fn check_text(r: &CheckReport) -> String {
    let w = r.rows.iter().map(|o| o.rule.len()).max().unwrap_or(4);
    let mut out = String::new();
    for row in &r.rows {
        let file_state = if row.file_identical {
            "identical"
        } else {
            "DIFFERS"
        };
        out.push_str(&format!(
            "{:<w$}  {:>2} instances  {:>3} size assignments  {:>3} checks  {:<7}  covers {:<14}  file {file_state:<9}  {:.2} s\n",
            row.rule,
            row.instances,
            row.size_assignments,
            row.checks,
            row.verdict.table_word(),
            row.covers,
            row.time_s
        ));
    }
    out.push_str(&format!(
        "{} rules, {} checks, {:.2} s\n",
        r.rows.len(),
        r.checks,
        r.time_s
    ));
    out
}

/// `prove --check --json`.
#[derive(Serialize)]
struct CheckDoc<'a> {
    schema_version: u32,
    directory: String,
    ok: bool,
    rules: &'a [RuleRow],
    checks: usize,
    time_s: f64,
}

/// `prove --check --json`.
pub fn check_json(r: &CheckReport) -> String {
    let doc = CheckDoc {
        schema_version: 1,
        directory: r.directory.display().to_string(),
        ok: r.ok(),
        rules: &r.rows,
        checks: r.checks,
        time_s: r.time_s,
    };
    serde_json::to_string_pretty(&doc).expect("the document serializes") + "\n"
}
