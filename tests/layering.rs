//! The module layering of `docs/design.md` ("Architecture"): a top-level module of
//! `src/` uses only modules below it, so the dependency graph has no cycle; clap is
//! used only by `cli`, z3 only by `verify/smt.rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Top-level modules, bottom first: each may use only the ones before it.
const LAYERS: &[&str] = &[
    "units",
    "source",
    "number",
    "progress",
    "spec",
    "catalog",
    "placement",
    "program",
    "lowered",
    "semantics",
    "verdict",
    "cost",
    "calibrate",
    "rules",
    "verify",
    "soundness",
    "synth",
    "problem",
    "report",
    "emit",
    "bench",
    "simulate",
    "cli",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file of a top-level module (`src/m.rs` and everything under `src/m/`).
fn files_of(module: &str) -> Vec<PathBuf> {
    let mut out = vec![];
    let file = src().join(format!("{module}.rs"));
    if file.exists() {
        out.push(file);
    }
    let mut dirs = vec![src().join(module)];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The top-level modules a file names as `crate::m`, outside comments.
fn uses(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
        // `use crate::{a, b}` names several at once.
        if let Some(i) = code.find("crate::{") {
            let inner = &code[i + "crate::{".len()..];
            for part in inner.split([',', '}']) {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out
}

#[test]
fn every_top_level_module_is_in_the_layering() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("src/lib.rs");
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l
                .strip_prefix("pub(crate) ")
                .or_else(|| l.strip_prefix("pub "))
                .unwrap_or(l);
            l.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(str::to_string)
        })
        .collect();
    let listed: BTreeSet<String> = LAYERS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        declared, listed,
        "src/lib.rs's modules and this test's LAYERS differ: add the new module to LAYERS (and to docs/design.md) at its place"
    );
}

#[test]
fn no_module_uses_one_above_it() {
    let mut violations = vec![];
    for (i, m) in LAYERS.iter().enumerate() {
        for f in files_of(m) {
            let text = std::fs::read_to_string(&f).expect("readable source");
            for used in uses(&text) {
                let Some(j) = LAYERS.iter().position(|x| *x == used) else {
                    continue;
                };
                if j > i {
                    violations.push(format!(
                        "{} ({m}) uses `crate::{used}`, which is above it",
                        f.strip_prefix(src()).unwrap_or(&f).display()
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering broken (docs/design.md, \"Architecture\"):\n{}",
        violations.join("\n")
    );
}

#[test]
fn clap_stays_in_cli_and_z3_in_verify_smt() {
    let mut violations = vec![];
    for m in LAYERS {
        for f in files_of(m) {
            let rel = f.strip_prefix(src()).unwrap_or(&f).display().to_string();
            let text = std::fs::read_to_string(&f).expect("readable source");
            let code: String = text
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            if *m != "cli" && code.contains("clap::") {
                violations.push(format!("{rel} uses clap"));
            }
            if rel != "verify/smt.rs" && code.contains("z3::") {
                violations.push(format!("{rel} uses z3 directly"));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_checker_sees_uses() {
    let found = uses("use crate::{spec::Spec, verify};\nlet x = crate::cost::f(); // crate::cli");
    let want: BTreeSet<String> = ["spec", "verify", "cost"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, want);
}
