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
        // Past i64 the message still echoes the literal as written.
        (
            "bytes = \"1 GB\"",
            "bytes = 9223372036854775808",
            "`9223372036854775808` is too large",
        ),
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
        (
            "count = 1",
            "count = 99999999999999999",
            "at most 1000000 times",
        ),
    ];
    for (from, to, want) in cases {
        assert!(default.contains(from), "{from}");
        let p = write(dir.path(), "s.toml", &default.replacen(from, to, 1));
        refused(&run(&["synth", &p], None), &["s.toml:", want]);
    }
}

/// A spec of `levels` (name, arity) all 100 GB/s / 1 us, `axes`, and one all_reduce
/// over the first axis.
fn spec_text(levels: &[(&str, u64)], axes: &[(&str, u64)]) -> String {
    let mut s = String::from("axes = [");
    for (n, k) in axes {
        s.push_str(&format!(" {{ name = \"{n}\", size = {k} }},"));
    }
    s.push_str(" ]\n[system]\nlevels = [\n");
    for (n, k) in levels {
        s.push_str(&format!(
            "  {{ name = \"{n}\", arity = {k}, bandwidth = \"100 GB/s\", latency = \"1 us\" }},\n"
        ));
    }
    s.push_str(&format!(
        "]\n[[request]]\ncollective = \"all_reduce\"\naxes = [\"{}\"]\nbytes = \"1 GB\"\n",
        axes[0].0
    ));
    s
}

#[test]
fn search_budgets_have_ceilings() {
    refused(
        &run(&["synth", "--top", "18446744073709551615"], None),
        &["--top", "100"],
    );
    refused(
        &run(
            &["synth", "--engine", "enumerate", "--max-steps", "100"],
            None,
        ),
        &["--max-steps", "10"],
    );
}

#[test]
fn engine_budgets_are_ranged_and_named_when_they_cut_the_search() {
    refused(
        &run(&["synth", "--enum-budget", "0"], None),
        &["--enum-budget", "1000000000"],
    );
    refused(
        &run(&["synth", "--egraph-nodes", "3000000"], None),
        &["--egraph-nodes", "2000000"],
    );
    let dir = tempdir();
    let p = write(
        dir.path(),
        "two.toml",
        &spec_text(&[("node", 2), ("gpu", 4)], &[("data", 8)]),
    );
    // A budget that cuts the search before any program: undecided, the budget named.
    let o = run(
        &["synth", "--engine", "enumerate", "--enum-budget", "1", &p],
        None,
    );
    let e = stderr(&o);
    assert_eq!(code(&o), 3, "{e}");
    assert!(e.contains("undecided: no program found"), "{e}");
    assert!(e.contains("prefix budget (1 prefixes per shape"), "{e}");
    // Cut after some programs (the e-graph always holds the request itself): the
    // answer stands (exit 0) and a note names the budget.
    for (args, budget) in [
        (
            &["synth", "--engine", "enumerate", "--enum-budget", "200", &p][..],
            "the enumeration's prefix budget (200 prefixes per shape",
        ),
        (
            &["synth", "--egraph-nodes", "1", &p][..],
            "the e-graph's node budget (1 e-nodes",
        ),
    ] {
        let o = run(args, None);
        let e = stderr(&o);
        assert_eq!(code(&o), 0, "{args:?}: {e}");
        assert!(
            e.contains(&format!("note: the search was cut short by {budget}")),
            "{e}"
        );
    }
    // The default budgets finish this search: no note.
    let o = run(&["synth", "--engine", "enumerate", &p], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stderr(&o).contains("cut short"), "{}", stderr(&o));
}

#[test]
fn too_many_levels_axes_or_placements_are_refused_before_the_work() {
    let dir = tempdir();
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    let nine: Vec<(&str, u64)> = names.iter().map(|n| (*n, 2)).collect();
    let p = write(dir.path(), "l9.toml", &spec_text(&nine, &[("x", 512)]));
    refused(&run(&["synth", &p], None), &["l9.toml:", "at most 8"]);
    let ax: Vec<(&str, u64)> = names.iter().map(|n| (*n, 2)).collect();
    let p = write(dir.path(), "a9.toml", &spec_text(&[("n", 512)], &ax));
    refused(&run(&["placements", &p], None), &["a9.toml:", "at most 8"]);
    // 8 levels of 2^3 and 4 axes of 2^6: far more than 100,000 placements.
    let eight: Vec<(&str, u64)> = names[..8].iter().map(|n| (*n, 8)).collect();
    let four = [("w", 64), ("x", 64), ("y", 64), ("z", 64)];
    let p = write(dir.path(), "many.toml", &spec_text(&eight, &four));
    refused(
        &run(&["placements", "--json", &p], None),
        &["100000 placements"],
    );
    refused(
        &run(&["synth", "--placement", "all", &p], None),
        &["100000 placements"],
    );
    // The best placement is searched by the branch and bound, which lists none
    // (docs/design.md, §9.1): answered.
    let out = support::cli::success(&run(&["synth", "--json", &p], None));
    assert!(out.contains("\"search\": \"branch_and_bound\""), "{out}");
}

#[test]
fn huge_systems_are_answered_without_per_rank_data() {
    let dir = tempdir();
    // One level of prime arity 2^31 - 1: proved and priced, nothing per rank.
    let p = write(
        dir.path(),
        "prime.toml",
        &spec_text(&[("n", 2_147_483_647)], &[("data", 2_147_483_647)]),
    );
    let prog = write(dir.path(), "p.txt", "all_reduce(n:data)");
    support::cli::success(&run(&["verify", &prog, "-s", &p], None));
    support::cli::success(&run(&["cost", &prog, "-s", &p], None));
    let o = run(&["verify", &prog, "-s", &p, "--by", "interpreter"], None);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    refused(
        &run(&["emit", "--target", "mpi4py", "-s", &p], None),
        &["2^20"],
    );
    // 2^24 devices: synth JSON gives programs in dim form; --groups is refused.
    let s = write(
        dir.path(),
        "big.toml",
        &spec_text(
            &[("node", 4096), ("gpu", 4096)],
            &[("data", 4096), ("model", 4096)],
        ),
    );
    let out = support::cli::success(&run(&["synth", "--json", &s], None));
    assert!(out.len() < 100_000, "{} bytes", out.len());
    assert!(!out.contains("\"steps\""));
    refused(&run(&["synth", "--json", "--groups", &s], None), &["2^20"]);
}

/// A system name with line breaks, quotes, triple quotes and NUL reaches the header
/// of every emitted module; each module must still be one valid Python file in which
/// the name stays inside its comment.
#[test]
fn hostile_names_cannot_change_the_emitted_code() {
    let dir = tempdir();
    let spec = format!(
        "{AXES}[system]\nname = \"evil\\nimport os; os.system('echo PWNED')\\r\\\"\\\"\\\"'''\\u0000\\u000c\"\n\
         levels = [\n  {{ name = \"node\", arity = 4, bandwidth = \"24 GB/s\", latency = \"5 us\" }},\n\
         \x20 {{ name = \"gpu\", arity = 8, bandwidth = \"235 GB/s\", latency = \"1 us\" }},\n]\n\
         [[request]]\ncollective = \"all_reduce\"\naxes = [\"data\"]\nbytes = \"1 MB\"\n"
    );
    let p = write(dir.path(), "evil.toml", &spec);
    for target in ["torch", "jax", "mpi4py"] {
        let out = support::cli::success(&run(&["emit", "--target", target, "-s", &p], None));
        let file = write(dir.path(), &format!("evil_{target}.py"), &out);
        // Python refuses a NUL anywhere in a source file; ast.parse also catches a
        // comment that a line break ended early.
        let check = "import ast, sys\nsrc = open(sys.argv[1], 'rb').read()\n\
                     tree = ast.parse(src)\n\
                     assert not any(isinstance(n, ast.Import) and n.names[0].name == 'os' and n.lineno < 10 for n in ast.walk(tree)), 'injected'\n";
        let o = std::process::Command::new("python3")
            .args(["-c", check, &file])
            .output()
            .expect("python3 runs");
        assert!(
            o.status.success(),
            "{target}: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            out.lines().take(6).collect::<Vec<_>>().join("\n")
        );
        let first = out
            .lines()
            .find(|l| l.contains("evil"))
            .expect("name in header");
        assert!(first.starts_with('#') && first.contains("PWNED"), "{first}");
    }
}

/// The SMT query grows with the square of the program's length (z3 expands its
/// definitions as it reads them, a time `--smt-timeout-ms` does not cover): a program
/// past `verify::MAX_QUERY_TERMS` is undecided at once, naming the limit and the
/// interpreter, and a 40-step one, whose query used to double with every step, is
/// proved.
#[test]
fn long_programs_are_proved_or_refused_within_seconds() {
    let dir = tempdir();
    let levels = [
        ("pod", 2),
        ("rack", 2),
        ("node", 2),
        ("board", 2),
        ("gpu", 2),
    ];
    let spec = write(dir.path(), "s.toml", &spec_text(&levels, &[("data", 32)]));
    let all = "all_reduce(pod:data, rack:data, node:data, board:data, gpu:data)";
    let long = vec!["broadcast(gpu:data)"; 9_999].join(" ; ");
    let prog = write(dir.path(), "long.txt", &format!("{all} ; {long}\n"));
    let start = std::time::Instant::now();
    let o = run(&["verify", "-s", &spec, &prog], None);
    let took = start.elapsed();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert_eq!(code(&o), 3, "{text}");
    for w in ["MAX_QUERY_TERMS", "--by interpreter"] {
        assert!(text.contains(w), "`{w}` not in: {text}");
    }
    assert!(!text.contains("proved"), "{text}");
    // Refused before any query is written: far below the 10 s a stall would take.
    assert!(took.as_secs_f64() < 10.0, "took {took:?}");

    let mid = vec!["broadcast(gpu:data)"; 39].join(" ; ");
    let prog = write(dir.path(), "mid.txt", &format!("{all} ; {mid}\n"));
    let start = std::time::Instant::now();
    let o = run(
        &["verify", "-s", &spec, &prog, "--smt-timeout-ms", "60000"],
        None,
    );
    let took = start.elapsed();
    assert_eq!(
        code(&o),
        0,
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    assert!(took.as_secs_f64() < 10.0, "took {took:?}");
}
