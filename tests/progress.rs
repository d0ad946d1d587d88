//! Progress bars: synthesis reports every placement it searches to the progress it is
//! given, and the command line draws a bar on stderr only when stderr is a terminal
//! (run under `script`, which gives the command a pseudo-terminal), never when piped.

mod support;

use std::sync::{Arc, Mutex};

use collsynth::progress::Progress;
use collsynth::synth::backend::Standard;
use collsynth::synth::{synthesize, Options, Selection};
use collsynth::RuleSet;
use support::cli::{run, stderr, success};

/// 1,024 devices, five axes: 199 placements, enough for the bar.
const MANY: &[&str] = &[
    "synth",
    "--placement",
    "all",
    "--top",
    "1",
    "--system",
    "rail-h100-cluster",
    "--nodes",
    "128",
    "--racks",
    "4",
    "--axes",
    "data=8,pipe=4,tensor=8,expert=2,context=2",
    "--collective",
    "all_reduce:data:1GB",
    "--collective",
    "all_reduce:tensor:16MB:8",
];

#[test]
fn synthesis_reports_every_placement_searched() {
    let spec = support::load("specs/cluster-3level-3axes.toml");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let opts = Options {
        top: 1,
        selection: Selection::All,
        progress: Progress::new(move |d, t| s.lock().unwrap().push((d, t))),
        ..Options::default()
    };
    let r = synthesize(&spec, &Standard::default(), &RuleSet::builtin(), &opts).unwrap();
    let seen = seen.lock().unwrap();
    let total = r.stats.placements as u64;
    assert!(total > 1);
    assert_eq!(seen.last(), Some(&(total, total)));
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 == total));
    assert_eq!(
        seen.len() as u64,
        total + 1,
        "one report per placement and the end"
    );
}

#[test]
fn no_bar_when_stderr_is_not_a_terminal() {
    let out = run(MANY, None);
    success(&out);
    assert_eq!(stderr(&out), "", "piped stderr stays silent");
}

#[test]
fn a_bar_on_a_terminal() {
    let cmd = std::iter::once(env!("CARGO_BIN_EXE_collsynth").to_string())
        .chain(MANY.iter().map(|a| format!("'{a}'")))
        .collect::<Vec<_>>()
        .join(" ");
    let out = std::process::Command::new("script")
        .args(["-qec", &format!("{cmd} > /dev/null"), "/dev/null"])
        .current_dir(support::root())
        .output()
        .expect("script (util-linux) runs");
    assert!(out.status.success(), "{out:?}");
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(tty.contains("placements "), "no bar drawn: {tty:?}");
    assert!(
        tty.contains("/199"),
        "the bar counts the 199 placements: {tty:?}"
    );
}
