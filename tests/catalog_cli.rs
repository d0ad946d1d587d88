//! The built-in catalog and the spec-free command line (`docs/design.md`, "Catalog of
//! systems"): `--system NAME --nodes N --axes ... --collective ...` gives exactly what
//! the equivalent spec file gives (the one `--print-spec` writes, and one that says
//! `system = "catalog:NAME"`), errors say what to change, and plausibility warnings
//! go to stderr without touching stdout.

mod support;

use support::cli::{code, expect_code, run, stderr, stdout, success};

/// A problem given both ways.
struct Problem {
    system: &'static str,
    size: &'static [&'static str],
    /// `nodes = N` / `racks = R` lines of the equivalent catalog spec.
    size_keys: &'static str,
    axes: &'static str,
    collectives: &'static [&'static str],
    /// A placement matrix and a program on it for `cost` and `verify` (request 0).
    matrix: &'static str,
    program: &'static str,
}

const PROBLEMS: &[Problem] = &[
    Problem {
        system: "dgx-h100",
        size: &["--nodes", "16"],
        size_keys: "nodes = 16",
        axes: "tensor=8,pipe=4,data=4",
        collectives: &["all_reduce:data:2GB", "all_reduce:tensor:32MB:96"],
        matrix: "2,4;4,1;2,2",
        program: "reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)",
    },
    Problem {
        system: "gcp-a2-megagpu-16g",
        size: &["--nodes", "4"],
        size_keys: "nodes = 4",
        axes: "data=32,pipe=2",
        collectives: &["all_reduce:data:1GB", "send_recv:pipe:64MB:8"],
        matrix: "2,16;2,1",
        program: "all_reduce(vm:data, gpu:data)",
    },
    Problem {
        system: "rail-h100-cluster",
        size: &["--nodes", "16", "--racks", "2"],
        size_keys: "nodes = 16\nracks = 2",
        axes: "data=16,model=8",
        collectives: &["all_reduce:data+model:256MB:2"],
        matrix: "2,8,1;1,1,8",
        program:
            "reduce_scatter(gpu:model) ; all_reduce(rack:data, node:data) ; all_gather(gpu:model)",
    },
    Problem {
        system: "gb200-nvl72",
        size: &["--racks", "2"],
        size_keys: "racks = 2",
        axes: "data=4,model=36",
        collectives: &["all_reduce:data:512MB"],
        matrix: "2,2;1,36",
        program: "all_reduce(rack:data, gpu:data)",
    },
];

impl Problem {
    fn flags(&self) -> Vec<String> {
        let mut v = vec!["--system".to_string(), self.system.to_string()];
        v.extend(self.size.iter().map(|s| s.to_string()));
        v.push("--axes".into());
        v.push(self.axes.into());
        for c in self.collectives {
            v.push("--collective".into());
            v.push(c.to_string());
        }
        v
    }

    /// The spec a user would write by hand with a catalog reference.
    fn catalog_spec(&self) -> String {
        let axes: Vec<String> = self
            .axes
            .split(',')
            .map(|a| {
                let (n, s) = a.split_once('=').unwrap();
                format!("{{ name = \"{n}\", size = {s} }}")
            })
            .collect();
        let mut out = format!(
            "axes = [ {} ]\nsystem = \"catalog:{}\"\n{}\n",
            axes.join(", "),
            self.system,
            self.size_keys
        );
        for c in self.collectives {
            let parts: Vec<&str> = c.split(':').collect();
            let axes: Vec<String> = parts[1].split('+').map(|a| format!("\"{a}\"")).collect();
            out.push_str(&format!(
                "\n[[request]]\ncollective = \"{}\"\naxes = [{}]\nbytes = \"{}\"\n",
                parts[0],
                axes.join(", "),
                parts[2]
            ));
            if let Some(n) = parts.get(3) {
                out.push_str(&format!("count = {n}\n"));
            }
        }
        out
    }
}

fn run_owned(args: &[String]) -> std::process::Output {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&a, None)
}

/// stdout of `command` with the spec given by `how`; the text header names where the
/// spec came from, which is the one thing allowed to differ, so it is normalized.
fn output(command: &[&str], how: &[String], source: &str) -> String {
    let mut args: Vec<String> = command.iter().map(|s| s.to_string()).collect();
    args.extend(how.iter().cloned());
    let out = run_owned(&args);
    let text = expect_code(&out, 0);
    text.replace(&format!("({source})"), "(SOURCE)")
}

#[test]
fn spec_free_flags_give_exactly_what_the_spec_files_give() {
    let dir = support::tempdir();
    for (i, p) in PROBLEMS.iter().enumerate() {
        let flags = p.flags();
        let mut print = flags.clone();
        print.insert(0, "placements".into());
        print.push("--print-spec".into());
        let printed = success(&run_owned(&print));
        assert!(printed.contains("# Sources:"), "{printed}");
        let printed_path = support::write(dir.path(), &format!("printed-{i}.toml"), &printed);
        let catalog_path =
            support::write(dir.path(), &format!("catalog-{i}.toml"), &p.catalog_spec());
        let program = support::write(dir.path(), &format!("program-{i}.txt"), p.program);
        let ways = [
            (flags.clone(), "command line".to_string()),
            (vec!["--spec".into(), printed_path.clone()], printed_path),
            (vec!["--spec".into(), catalog_path.clone()], catalog_path),
        ];
        let commands: Vec<Vec<&str>> = vec![
            vec!["synth", "--top", "3"],
            vec!["synth", "--top", "3", "--json"],
            vec!["placements", "--json"],
            vec!["placements"],
            vec![
                "cost",
                &program,
                "--matrix",
                p.matrix,
                "--request",
                "0",
                "--json",
            ],
            vec![
                "verify",
                &program,
                "--matrix",
                p.matrix,
                "--request",
                "0",
                "--json",
            ],
            vec!["emit", "--target", "torch", "--request", "0"],
        ];
        for command in &commands {
            let outs: Vec<String> = ways
                .iter()
                .map(|(how, source)| output(command, how, source))
                .collect();
            assert!(!outs[0].is_empty());
            for (w, o) in outs.iter().enumerate().skip(1) {
                assert!(
                    outs[0] == *o,
                    "{} {:?}: flags and way {w} differ:\n--- flags\n{}\n--- file\n{o}",
                    p.system,
                    command,
                    outs[0]
                );
            }
        }
    }
}

#[test]
fn print_spec_writes_the_inline_system_with_its_sources() {
    let out = run(
        &[
            "synth",
            "--system",
            "dgx-h100",
            "--nodes",
            "16",
            "--axes",
            "tensor=8,pipe=4,data=4",
            "--collective",
            "all_reduce:data:2GB",
            "--collective",
            "all_reduce:tensor:32MB:96",
            "--print-spec",
        ],
        None,
    );
    insta::assert_snapshot!("print_spec_dgx_h100_x16", success(&out));
}

#[test]
fn systems_lists_every_entry_with_sources() {
    let text = success(&run(&["systems"], None));
    for name in [
        "dgx-a100",
        "dgx-h100",
        "dgx-b200",
        "gb200-nvl72",
        "gcp-a2-megagpu-16g",
        "gcp-a2-highgpu-8g",
        "gcp-a3-megagpu-8g",
        "aws-p4d-24xlarge",
        "aws-p5-48xlarge",
        "azure-nd-h100-v5",
        "amd-mi300x",
        "rail-h100-cluster",
    ] {
        assert!(
            text.contains(&format!("\n{name}  ")) || text.starts_with(name),
            "{name}"
        );
    }
    assert_eq!(text.matches("  sources: ").count(), 12, "{text}");
    let one = success(&run(&["systems", "p5.48xlarge"], None));
    assert!(one.starts_with("aws-p5-48xlarge  "), "{one}");
    let json: serde_json::Value =
        serde_json::from_str(&success(&run(&["systems", "--json"], None))).unwrap();
    assert_eq!(json["systems"].as_array().unwrap().len(), 12);
}

fn fails_with(args: &[&str], want: &[&str]) {
    let out = run(args, None);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{args:?}: {err}");
    assert!(stdout(&out).is_empty(), "{args:?}");
    for w in want {
        assert!(err.contains(w), "{args:?}: `{w}` not in: {err}");
    }
}

/// `placements --axes data=16` with `extra` flags.
fn placements_with(extra: &[&str]) -> Vec<String> {
    ["placements", "--axes", "data=16"]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn bad_spec_free_input_says_what_to_change() {
    let h100x2 = ["--system", "dgx-h100", "--nodes", "2"];
    let cases: Vec<(Vec<String>, &[&str])> = vec![
        (
            placements_with(&["--system", "dgx-h10", "--nodes", "2"]),
            &[
                "`dgx-h10` is not a built-in system",
                "did you mean `dgx-h100`?",
                "collsynth systems",
            ],
        ),
        (placements_with(&["--system", "dgx-h100"]), &["--nodes N"]),
        (
            placements_with(&["--system", "dgx-h100", "--nodes", "4"]),
            &["multiply to 16", "32 devices"],
        ),
        (
            ["placements", "--system", "dgx-h100", "--nodes", "2"]
                .map(String::from)
                .to_vec(),
            &["--axes data=8,model=4"],
        ),
        (
            placements_with(&[&h100x2[..], &["--collective", "all_reduce:dat:1GB"]].concat()),
            &["`dat` is not one of --axes", "did you mean `data`?"],
        ),
        (
            placements_with(&[&h100x2[..], &["--collective", "all_reduce:data:1 gb"]].concat()),
            &["did you mean `GB`?"],
        ),
        (
            placements_with(&[&h100x2[..], &["--collective", "all_gatherr:data:1GB"]].concat()),
            &["not a request collective", "--print-spec"],
        ),
        (placements_with(&["--nodes", "2"]), &["give --system NAME"]),
        (
            placements_with(&[&h100x2[..], &["specs/default.toml"]].concat()),
            &["both a spec file"],
        ),
        (
            ["placements", "--print-spec"].map(String::from).to_vec(),
            &["--print-spec writes"],
        ),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fails_with(&args, want);
    }
}

#[test]
fn a_catalog_reference_in_a_spec_is_checked_where_it_is_written() {
    let dir = support::tempdir();
    let bad = support::write(
        dir.path(),
        "s.toml",
        "axes = [ { name = \"data\", size = 16 } ]\nsystem = \"catalog:dgx-h10\"\nnodes = 2\n",
    );
    fails_with(
        &["placements", &bad],
        &["s.toml:2:", "did you mean `dgx-h100`?"],
    );
    let no_size = support::write(
        dir.path(),
        "u.toml",
        "axes = [ { name = \"data\", size = 16 } ]\nsystem = \"catalog:dgx-h100\"\n",
    );
    fails_with(&["placements", &no_size], &["u.toml:2:", "`nodes = N`"]);
    let stray = support::write(
        dir.path(),
        "n.toml",
        "axes = [ { name = \"data\", size = 8 } ]\nnodes = 2\n[system]\nlevels = [ { name = \"gpu\", arity = 8, bandwidth = \"235 GB/s\", latency = \"1 us\" } ]\n",
    );
    fails_with(&["placements", &stray], &["n.toml:2:", "remove the key"]);
}

/// A 2-node A100 spec whose levels are given by `node` and `gpu` (bandwidth, latency).
fn a100_spec(arity: u64, node: (&str, &str), gpu: (&str, &str)) -> String {
    format!(
        "axes = [ {{ name = \"data\", size = {} }} ]\n[system]\nname = \"t\"\nlevels = [\n  {{ name = \"vm\", arity = 2, bandwidth = \"{}\", latency = \"{}\" }},\n  {{ name = \"gpu\", arity = {arity}, bandwidth = \"{}\", latency = \"{}\" }},\n]\n[[request]]\ncollective = \"all_reduce\"\naxes = [\"data\"]\nbytes = \"1 GB\"\n",
        2 * arity,
        node.0,
        node.1,
        gpu.0,
        gpu.1
    )
}

#[test]
fn implausible_figures_warn_on_stderr_and_leave_stdout_alone() {
    let dir = support::tempdir();
    let cases = [
        (
            "nvlink-in-bits",
            a100_spec(8, ("100 GB/s", "5 us"), ("235 Gb/s", "1 us")),
            vec!["level `gpu` has 235 Gb/s", "did you mean \"235 GB/s\"?"],
        ),
        (
            "network-in-bytes",
            a100_spec(16, ("100 GB/s", "5 us"), ("235 GB/s", "1 us")),
            vec!["level `vm` has 100 GB/s, 8 times the figure of built-in system `gcp-a2-megagpu-16g`"],
        ),
        (
            "latency-in-ms",
            a100_spec(8, ("100 GB/s", "5 ms"), ("235 GB/s", "1 us")),
            vec!["level `vm` has a latency of 5 ms, outside what any interconnect has"],
        ),
        (
            "latency-in-ns",
            a100_spec(8, ("100 GB/s", "5 us"), ("235 GB/s", "1 ns")),
            vec!["level `gpu` has a latency of 1 ns"],
        ),
    ];
    for (name, text, want) in cases {
        let path = support::write(dir.path(), &format!("{name}.toml"), &text);
        let out = run(&["placements", &path], None);
        let (out_text, err) = (success(&out), stderr(&out));
        for w in &want {
            assert!(err.contains(w), "{name}: `{w}` not in: {err}");
        }
        assert!(err.contains(&format!("warning: {path}: ")), "{name}: {err}");
        // stdout is exactly the report of the spec, warnings or not.
        let spec = collsynth::catalog::load_spec(std::path::Path::new(&path)).unwrap();
        assert_eq!(
            out_text,
            collsynth::report::placements_text(&spec, false),
            "{name}"
        );
        assert!(!out_text.contains("warning"), "{name}");
    }
    // The same figures written right: no warning.
    let fine = support::write(
        dir.path(),
        "fine.toml",
        &a100_spec(16, ("100 Gb/s", "5 us"), ("235 GB/s", "1 us")),
    );
    let err = stderr(&run(&["placements", &fine], None));
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn the_repository_specs_raise_no_warnings() {
    for f in &support::example_spec_files() {
        let spec = support::load(f);
        assert_eq!(
            collsynth::catalog::warnings(&spec),
            Vec::<String>::new(),
            "{}",
            f.display()
        );
    }
    // System files are read as systems, in a spec without axes or requests.
    for f in support::spec_files("specs/systems") {
        let system = collsynth::spec::load_system(&support::root().join(&f)).unwrap();
        let spec = collsynth::Spec {
            source: f.display().to_string(),
            axes: vec![],
            system,
            requests: vec![],
        };
        assert_eq!(
            collsynth::catalog::warnings(&spec),
            Vec::<String>::new(),
            "{}",
            f.display()
        );
    }
}
