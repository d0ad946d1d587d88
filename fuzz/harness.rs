//! What each fuzz target does with one input, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/*.rs`) and the stable replay test (`tests/fuzz_replay.rs`),
//! so a committed corpus file is replayed exactly as it was fuzzed.
//!
//! Every function takes the raw input bytes and panics only on a bug: a parser may
//! accept or refuse an input, never panic, and the command line may end with exit
//! 0, 1, 2 or 3, never 4 (internal inconsistency).

#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use collsynth::placement::{self, Placement};
use collsynth::source::Source;
use collsynth::spec::Spec;

/// Separates the parts of a multi-part input (spec and system file; argv, spec and
/// program): a NUL byte, which none of the text formats allows.
pub const PART: u8 = 0;

/// The fuzz targets, by name (also the folders under `fuzz/corpus/`).
pub const TARGETS: &[&str] = &["spec", "program", "lowered", "rules", "cli"];

/// Runs target `name` on `data`.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "spec" => spec(data),
        "program" => program(data),
        "lowered" => lowered(data),
        "rules" => rules(data),
        "cli" => cli(data),
        _ => panic!("no fuzz target `{name}`"),
    }
}

fn parts(data: &[u8]) -> Vec<&[u8]> {
    data.split(|&b| b == PART).collect()
}

fn text(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

/// A folder for the files an input names, one per process (fuzzing is one thread).
fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary folder"))
        .path()
}

/// The specs programs are resolved against: the embedded default (2 levels,
/// 2 axes) and a 3-level, 3-axis cluster through a system file.
fn specs() -> &'static [Spec] {
    static SPECS: OnceLock<Vec<Spec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        let three =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/cluster-3level-3axes.toml");
        let three = if three.exists() {
            three
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/cluster-3level-3axes.toml")
        };
        vec![
            Spec::embedded_default(),
            Spec::load(&three).expect("specs/cluster-3level-3axes.toml is valid"),
        ]
    })
}

fn placements(spec: &Spec) -> Vec<Placement> {
    placement::enumerate(spec)
        .into_iter()
        .map(Placement::from_valid_matrix)
        .collect()
}

/// Spec text, then optionally (after a NUL) the text of `sys.toml` in the spec's
/// folder, which `system = "sys.toml"` reads. Both parts are also parsed as system
/// files.
pub fn spec(data: &[u8]) {
    let p = parts(data);
    let Some(spec_text) = text(p[0]) else { return };
    let dir = scratch().join("spec");
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let sys = dir.join("sys.toml");
    match p.get(1) {
        Some(s) => std::fs::write(&sys, s).expect("write sys.toml"),
        None => {
            let _ = std::fs::remove_file(&sys);
        }
    }
    let src = Source::new("spec.toml", spec_text);
    if let Ok(spec) = collsynth::spec::parse(&src, Some(&dir)) {
        // What every subcommand does next with a spec.
        if placement::checked_count(&spec).is_ok() {
            let _ = spec.header();
            for r in &spec.requests {
                let _ = spec.describe_request(r);
            }
        }
    }
    let _ = collsynth::spec::parse_system(&src);
    if let Some(s) = p.get(1).and_then(|s| text(s)) {
        let _ = collsynth::spec::parse_system(&Source::new("sys.toml", s));
    }
}

/// Program text: parsed, resolved against each spec of [`specs`] and on each of its
/// placements the program fits, lowered, raised back and costed.
pub fn program(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let Ok(parsed) = collsynth::program::parse(&Source::new("program.txt", t)) else {
        return;
    };
    for spec in specs() {
        if parsed.resolve(spec).is_err() {
            continue;
        }
        for (i, pl) in placements(spec).iter().enumerate() {
            let Ok(prog) = parsed.resolve_on(spec, pl, Some(i)) else {
                continue;
            };
            let _ = prog.text(spec);
            let lowered = collsynth::lowered::lower(pl, &prog);
            let _ = collsynth::lowered::raise(pl, &lowered);
            let bytes = spec.requests.first().map_or(1 << 20, |r| r.bytes);
            let _ = collsynth::cost::program_cost(spec, pl, &prog, bytes);
            let _ = collsynth::cost::lowered_cost(spec, pl, &lowered, bytes);
        }
    }
}

/// A lowered-JSON program: read, its groups checked against each spec's device
/// count, its request resolved, raised on each placement and costed.
pub fn lowered(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let Ok(doc) = collsynth::lowered::parse_json(&Source::new("program.json", t)) else {
        return;
    };
    for spec in specs() {
        let Ok(lowered) = doc.lowered(spec, "program.json") else {
            continue;
        };
        if lowered.check(spec.devices(), "program.json").is_err() {
            continue;
        }
        let _ = doc.resolve_request(spec, "program.json");
        let bytes = spec.requests.first().map_or(1 << 20, |r| r.bytes);
        for pl in placements(spec) {
            let _ = collsynth::lowered::raise(&pl, &lowered);
            let _ = collsynth::cost::lowered_cost(spec, &pl, &lowered, bytes);
        }
    }
}

/// A rules file (the format of `grammar/rules`): read, and when accepted, written
/// back and read again, which must give the same rules.
pub fn rules(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let Ok(set) = collsynth::rules::read_rules(&Source::new("rules", t)) else {
        return;
    };
    let _ = set.table();
    let written = collsynth::rules::write_rules(&set);
    let again = collsynth::rules::read_rules(&Source::new("rules (written back)", &written))
        .unwrap_or_else(|e| panic!("written-back rules are refused: {e}\n{written}"));
    assert_eq!(
        collsynth::rules::write_rules(&again),
        written,
        "rules do not survive writing and reading back"
    );
}

/// The subcommands the CLI target runs: the ones that answer in milliseconds on
/// small inputs and write no files (synth, emit, bench, prove, run-mpi, simulate and
/// calibrate run solvers or other programs for seconds, or write files).
pub const CLI_SUBCOMMANDS: &[&str] = &["placements", "verify", "cost"];

/// Flags the CLI target never passes through: they write files, or are set by the
/// target itself to bound z3.
const CLI_DROPPED: &[&str] = &["--dump-smt", "--smt-timeout-ms", "--smt-rlimit"];

/// z3's budget in the CLI target: a deterministic resource limit (about 0.1 s),
/// hitting it is "undecided" (exit 3).
const CLI_SMT_RLIMIT: &str = "2000000";

/// Turns a CLI input into a command line (without the program name): the first part
/// is the arguments, one per line; the second and third parts, when present, are
/// written to `spec.toml` and `program.txt` in a scratch folder, which the arguments
/// name as `SPEC` and `PROG`. `None` when the input is not one the target runs
/// (not UTF-8, or not one of [`CLI_SUBCOMMANDS`]).
pub fn cli_args(data: &[u8]) -> Option<Vec<OsString>> {
    let p = parts(data);
    let argv = text(p[0])?;
    let mut args: Vec<&str> = argv.lines().collect();
    let sub = *args.first()?;
    if !CLI_SUBCOMMANDS.contains(&sub) {
        return None;
    }
    let dir = scratch().join("cli");
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let spec = dir.join("spec.toml");
    let prog = dir.join("program.txt");
    for (path, part) in [(&spec, p.get(1)), (&prog, p.get(2))] {
        match part {
            Some(b) => std::fs::write(path, b).expect("write a scratch file"),
            None => {
                let _ = std::fs::remove_file(path);
            }
        }
    }
    // `-` reads stdin, which would wait for a terminal.
    args.retain(|a| {
        *a != "-" && !CLI_DROPPED.iter().any(|d| a.starts_with(d)) && !a.starts_with("-v")
    });
    let path = |p: &PathBuf| p.as_os_str().to_owned();
    let mut out: Vec<OsString> = args
        .iter()
        .map(|a| match *a {
            "SPEC" => path(&spec),
            "PROG" => path(&prog),
            a => OsString::from(a),
        })
        .collect();
    if sub == "verify" {
        out.push("--smt-rlimit".into());
        out.push(CLI_SMT_RLIMIT.into());
    }
    Some(out)
}

/// Runs a CLI input in-process, through the same entry point as the binary; exit 4
/// (internal inconsistency) is a bug.
pub fn cli(data: &[u8]) {
    let Some(args) = cli_args(data) else { return };
    let argv = std::iter::once(OsString::from("collsynth")).chain(args.iter().cloned());
    let outcome = collsynth::cli::run_args(argv);
    assert_ne!(
        outcome,
        collsynth::cli::Outcome::Internal,
        "internal inconsistency on {args:?}"
    );
}
