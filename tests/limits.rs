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

#[test]
fn equal_quantities_give_equal_answers() {
    let dir = tempdir();
    let default = std::fs::read_to_string(support::root().join("specs/default.toml")).unwrap();
    assert!(default.contains("launch = \"5 us\""));
    let without = write(
        dir.path(),
        "a.toml",
        &default.replace("launch = \"5 us\"", ""),
    );
    let ns = write(
        dir.path(),
        "b.toml",
        &default.replace("launch = \"5 us\"", "launch = \"5000 ns\""),
    );
    let with = write(dir.path(), "c.toml", &default);
    let json = |p: &str| support::cli::success(&run(&["synth", "--json", p], None));
    let a = json(&without);
    assert_eq!(a, json(&ns));
    assert_eq!(a, json(&with));
}

#[test]
fn quantities_out_of_range_are_refused_with_the_range() {
    let dir = tempdir();
    let default = std::fs::read_to_string(support::root().join("specs/default.toml")).unwrap();
    let cases = [
        (
            "bandwidth = \"100 GB/s\"",
            "bandwidth = \"4e-9 Mb/s\"",
            "between 1 MB/s and 1000 TB/s",
        ),
        (
            "bandwidth = \"100 GB/s\"",
            "bandwidth = \"1e-300 GB/s\"",
            "between 1 MB/s and 1000 TB/s",
        ),
        (
            "latency = \"5 us\"",
            "latency = \"1e300 s\"",
            "between 0.001 ns and 10 s",
        ),
        (
            "launch = \"5 us\"",
            "launch = \"1e300 s\"",
            "between 0.001 ns and 10 s",
        ),
        ("bytes = \"1 GB\"", "bytes = 9223372036854775807", "2^50"),
        (
            "bytes = \"1 GB\"",
            "bytes = \"9223372036854775808\"",
            "2^50",
        ),
        (
            "bytes = \"1 GB\"",
            "bytes = \"1.0000001 B\"",
            "whole number",
        ),
    ];
    for (from, to, want) in cases {
        assert!(default.contains(from), "{from}");
        let p = write(dir.path(), "s.toml", &default.replacen(from, to, 1));
        refused(&run(&["synth", &p], None), &["s.toml:", want]);
    }
}
