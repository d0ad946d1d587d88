//! Replays every committed fuzz input on stable: each file of `fuzz/corpus/<target>/`
//! (the seed corpora) and `fuzz/regressions/<target>/` (every crash ever found) goes
//! through the same code as its cargo-fuzz target (`fuzz/harness.rs`). Parsers run
//! in-process and must not panic; command lines run the `collsynth` binary and must
//! exit 0, 1, 2 or 3 (docs/design.md, "Fuzzing").

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The committed inputs of a target: corpus and regressions, sorted.
fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = root().join("fuzz").join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let path = e.expect("a readable folder entry").path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Runs a parser target in-process on every committed input; a panic fails the test
/// and names the file.
fn replay_in_process(target: &str) {
    let files = inputs(target);
    assert!(
        !files.is_empty(),
        "fuzz/corpus/{target}/ has no inputs; the seed corpus must be committed"
    );
    let mut panicked = Vec::new();
    for f in &files {
        let data = std::fs::read(f).expect("a committed input is readable");
        if std::panic::catch_unwind(|| harness::run(target, &data)).is_err() {
            panicked.push(f.display().to_string());
        }
    }
    assert!(
        panicked.is_empty(),
        "target `{target}` panicked on {panicked:?}"
    );
}

#[test]
fn spec_and_system_inputs_never_panic() {
    replay_in_process("spec");
}

#[test]
fn program_text_inputs_never_panic() {
    replay_in_process("program");
}

#[test]
fn lowered_json_inputs_never_panic() {
    replay_in_process("lowered");
}

#[test]
fn rules_inputs_never_panic() {
    replay_in_process("rules");
}

#[test]
fn every_target_has_a_corpus_folder() {
    for t in harness::TARGETS {
        assert!(
            root().join("fuzz/corpus").join(t).is_dir(),
            "fuzz/corpus/{t}/ is missing"
        );
    }
}

/// Command lines run the binary (a panic there is exit 101, an abort a signal); every
/// one must end with 0, 1, 2 or 3 and never print a panic.
#[test]
fn cli_inputs_exit_0_to_3() {
    let files = inputs("cli");
    assert!(!files.is_empty(), "fuzz/corpus/cli/ has no inputs");
    let mut ran = 0;
    let mut bad = Vec::new();
    for f in &files {
        let data = std::fs::read(f).expect("a committed input is readable");
        let Some(args) = harness::cli_args(&data) else {
            continue;
        };
        let out = Command::new(env!("CARGO_BIN_EXE_collsynth"))
            .args(&args)
            .current_dir(root())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("collsynth runs");
        ran += 1;
        let code = out.status.code();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !matches!(code, Some(0..=3)) || stderr.contains("panicked") {
            bad.push(format!(
                "{}: exit {code:?}, args {args:?}\n{stderr}",
                f.display()
            ));
        }
    }
    assert!(
        ran > 0,
        "no CLI input in fuzz/corpus/cli/ is one the target runs"
    );
    assert!(bad.is_empty(), "bad exits:\n{}", bad.join("\n"));
}
