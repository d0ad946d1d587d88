//! Every input is answered or refused: capped reads (`/dev/zero`, huge files, bad
//! UTF-8), exact quantities and their ranges, the size limits checked before the
//! work (docs/design.md, "Limits and budgets"), and names that reach emitted code.

mod support;

use support::cli::{code, run, stderr};
use support::{tempdir, write};

/// The default spec's axes line.
const AXES: &str = "axes = [ { name = \"data\", size = 8 }, { name = \"model\", size = 4 } ]\n";

fn refused(o: &std::process::Output, words: &[&str]) {
    let e = stderr(o);
    assert_eq!(code(o), 2, "want exit 2, got {:?}: {e}", o.status.code());
    for w in words {
        assert!(e.contains(w), "`{w}` not in: {e}");
    }
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn endless_and_huge_inputs_are_refused_naming_file_and_limit() {
    for dev in ["/dev/zero", "/dev/urandom"] {
        if !std::path::Path::new(dev).exists() {
            continue;
        }
        refused(&run(&["placements", dev], None), &[dev, "16 MiB"]);
        refused(&run(&["verify", dev], None), &[dev, "16 MiB"]);
        refused(&run(&["synth", "--rules", dev], None), &[dev, "16 MiB"]);
        let dir = tempdir();
        let spec = write(dir.path(), "s.toml", &format!("{AXES}system = \"{dev}\"\n"));
        refused(
            &run(&["placements", &spec], None),
            &[dev, "16 MiB", "s.toml:"],
        );
    }
    let dir = tempdir();
    let big = " ".repeat((16 << 20) + 1);
    let f = write(dir.path(), "big.txt", &big);
    refused(&run(&["verify", &f], None), &["big.txt", "16 MiB"]);
    refused(&run(&["verify", "-"], Some(&big)), &["<stdin>", "16 MiB"]);
    // Exactly at the limit is read (and then judged as a program: blank is empty).
    let at = write(dir.path(), "at.txt", &big[1..]);
    let o = run(&["verify", &at], None);
    assert!(!stderr(&o).contains("16 MiB"), "{}", stderr(&o));
}

#[test]
fn binary_and_directory_inputs_are_refused() {
    let dir = tempdir();
    let p = dir.path().join("bin.toml");
    std::fs::write(&p, [0xff, 0xfe, 0x00, 0x41]).unwrap();
    refused(
        &run(&["placements", p.to_str().unwrap()], None),
        &["bin.toml", "UTF-8"],
    );
    refused(
        &run(&["placements", dir.path().to_str().unwrap()], None),
        &["directory"],
    );
}
