//! Placements: counts and matrices against a brute force written here, numbering
//! order, and the rank ↔ coordinates convention against an implementation written
//! from the words of docs/design.md.

mod support;

use collsynth::placement::{self, Placement};
use collsynth::spec::Spec;
use support::sim::convention_coords;
use support::spec::SpecText;

/// Every matrix by brute force: each row is any choice of one divisor of each level's
/// arity (nested loops over all candidates) whose product is the axis size; keep
/// the combinations of rows whose columns multiply to the arities; sort.
fn brute_force(axes: &[u64], arities: &[u64]) -> Vec<Vec<Vec<u64>>> {
    let mut rows_of: Vec<Vec<Vec<u64>>> = Vec::new();
    for &size in axes {
        let mut rows = vec![vec![]];
        for &arity in arities {
            let mut next = Vec::new();
            for r in &rows {
                for v in 1..=arity {
                    if arity.is_multiple_of(v) {
                        let mut r2: Vec<u64> = r.clone();
                        r2.push(v);
                        next.push(r2);
                    }
                }
            }
            rows = next;
        }
        rows.retain(|r| r.iter().product::<u64>() == size);
        rows_of.push(rows);
    }
    let mut out = vec![vec![]];
    for rows in &rows_of {
        let mut next = Vec::new();
        for m in &out {
            for r in rows {
                let mut m2: Vec<Vec<u64>> = m.clone();
                m2.push(r.clone());
                next.push(m2);
            }
        }
        out = next;
    }
    out.retain(|m| {
        (0..arities.len()).all(|l| m.iter().map(|r| r[l]).product::<u64>() == arities[l])
    });
    out.sort();
    out
}

/// The number of placements from the prime factorizations: a matrix is, prime by
/// prime, a table of non-negative exponents with the axis exponents as row sums and
/// the level exponents as column sums, independently for each prime.
fn count_by_primes(axes: &[u64], arities: &[u64]) -> u64 {
    let mut primes = Vec::new();
    for &x in axes.iter().chain(arities) {
        let (mut x, mut p) = (x, 2);
        while x > 1 {
            if x.is_multiple_of(p) {
                if !primes.contains(&p) {
                    primes.push(p);
                }
                x /= p;
            } else {
                p += 1;
            }
        }
    }
    let exp = |mut x: u64, p: u64| {
        let mut e = 0;
        while x.is_multiple_of(p) {
            x /= p;
            e += 1;
        }
        e
    };
    primes
        .iter()
        .map(|&p| {
            let rows: Vec<u32> = axes.iter().map(|&a| exp(a, p)).collect();
            let cols: Vec<u32> = arities.iter().map(|&a| exp(a, p)).collect();
            tables(&rows, &cols)
        })
        .product()
}

/// Non-negative integer tables with the given row and column sums.
fn tables(rows: &[u32], cols: &[u32]) -> u64 {
    let Some((&r, rest)) = rows.split_first() else {
        return u64::from(cols.iter().all(|&c| c == 0));
    };
    // Every way to split row sum r over the columns within what they have left.
    fn splits(r: u32, cols: &[u32], acc: &mut Vec<u32>, out: &mut Vec<Vec<u32>>) {
        if acc.len() == cols.len() {
            if r == 0 {
                out.push(acc.clone());
            }
            return;
        }
        for v in 0..=r.min(cols[acc.len()]) {
            acc.push(v);
            splits(r - v, cols, acc, out);
            acc.pop();
        }
    }
    let mut all = Vec::new();
    splits(r, cols, &mut vec![], &mut all);
    all.iter()
        .map(|s| {
            let left: Vec<u32> = cols.iter().zip(s).map(|(c, v)| c - v).collect();
            tables(rest, &left)
        })
        .sum()
}

/// A spec with levels `l0, l1, …` of these arities and axes `a0, a1, …` of these
/// sizes, no request.
fn generated(levels: &[u64], axes: &[u64]) -> Spec {
    let mut t = SpecText::new();
    for (i, &a) in levels.iter().enumerate() {
        t = t.level(&format!("l{i}"), a);
    }
    for (i, &s) in axes.iter().enumerate() {
        t = t.axis(&format!("a{i}"), s);
    }
    t.spec()
}

fn sizes(s: &Spec) -> (Vec<u64>, Vec<u64>) {
    (
        s.axes.iter().map(|a| a.size).collect(),
        s.system.levels.iter().map(|l| l.arity).collect(),
    )
}

fn example_specs() -> Vec<Spec> {
    let mut out = vec![Spec::embedded_default()];
    out.extend(support::example_spec_files().iter().map(support::load));
    out
}

#[test]
fn example_specs_match_brute_force_in_full_order() {
    let specs = example_specs();
    assert!(specs.len() >= 15, "{} specs", specs.len());
    for s in &specs {
        let (axes, arities) = sizes(s);
        let got = placement::enumerate(s);
        if s.devices() <= 64 {
            assert_eq!(got, brute_force(&axes, &arities), "{}", s.source);
        }
        assert_eq!(
            got.len() as u64,
            count_by_primes(&axes, &arities),
            "{}",
            s.source
        );
        assert_eq!(placement::count(s), got.len() as u64, "{}", s.source);
    }
}

#[test]
fn generated_specs_match_brute_force() {
    let small: &[(&[u64], &[u64])] = &[
        (&[4, 8], &[8, 4]),
        (&[2, 2, 4], &[4, 2, 2]),
        (&[6, 4], &[3, 8]),
        (&[12], &[2, 3, 2]),
        (&[2, 3, 4], &[6, 4]),
        (&[4, 4], &[2, 2, 2, 2]),
        (&[1, 16], &[4, 4]),
        (&[9, 4], &[6, 6]),
        (&[2, 2, 2, 2], &[4, 4]),
    ];
    for (levels, axes) in small {
        let s = generated(levels, axes);
        let want = brute_force(axes, levels);
        assert!(!want.is_empty());
        assert_eq!(
            placement::enumerate(&s),
            want,
            "levels {levels:?} axes {axes:?}"
        );
    }
    let large: &[(&[u64], &[u64])] = &[
        (&[8, 16, 8], &[32, 4, 8]),
        (&[4, 4, 4, 4], &[16, 16]),
        (&[6, 10, 12], &[30, 24]),
        (&[16, 16, 16, 16], &[64, 16, 8, 8]),
    ];
    for (levels, axes) in large {
        let s = generated(levels, axes);
        assert_eq!(
            placement::count(&s),
            count_by_primes(axes, levels),
            "{levels:?} {axes:?}"
        );
    }
}

#[test]
fn issue_7_problem_has_4601_placements() {
    let s = generated(&[2, 4, 8, 64, 8], &[128, 8, 8, 4]);
    assert_eq!(s.devices(), 32_768);
    assert_eq!(count_by_primes(&[128, 8, 8, 4], &[2, 4, 8, 64, 8]), 4_601);
    assert_eq!(placement::count(&s), 4_601);
}

#[test]
fn numbering_is_lexicographic_row_by_row_and_every_matrix_fits() {
    for s in example_specs() {
        let all = placement::enumerate(&s);
        for w in all.windows(2) {
            let flat = |m: &Vec<Vec<u64>>| m.concat();
            assert!(flat(&w[0]) < flat(&w[1]), "{}: order", s.source);
        }
        for m in &all {
            assert_eq!(Placement::new(&s, m.clone()).expect("fits").matrix, *m);
        }
    }
}

#[test]
fn coords_follow_the_convention_and_round_trip() {
    let cases: Vec<Spec> = vec![
        Spec::embedded_default(),
        generated(&[2, 2, 4], &[4, 2, 2]),
        generated(&[3, 4], &[6, 2]),
        generated(&[2, 3, 2, 2], &[2, 6, 2]),
    ];
    for s in &cases {
        let (_, arities) = sizes(s);
        let n = s.devices();
        for m in placement::enumerate(s) {
            let p = Placement::from_valid_matrix(m.clone());
            assert_eq!(p.devices(), n);
            let mut seen = std::collections::BTreeSet::new();
            for r in 0..n {
                let c = p.coords(r);
                assert_eq!(c, convention_coords(&arities, &m, r), "{m:?} rank {r}");
                assert!(c.iter().zip(&s.axes).all(|(x, a)| *x < a.size));
                assert!(seen.insert(c.clone()), "coords are a bijection");
                assert_eq!(p.rank_of_coords(&c), r);
                assert_eq!(p.rank(&p.digits(r)), r);
            }
        }
    }
}

#[test]
fn design_example_coords() {
    // docs/design.md: rank = c_node * 8 + c_gpu; with data = 8 as [2, 4] and model = 2 as
    // [1, 2] on 2 nodes × 8 GPUs, GPU digit g splits into data digit g / 2 and model
    // digit g % 2.
    let s = generated(&[2, 8], &[8, 2]);
    let p = Placement::new(&s, vec![vec![2, 4], vec![1, 2]]).unwrap();
    for node in 0..2 {
        for gpu in 0..8 {
            let r = node * 8 + gpu;
            assert_eq!(p.coords(r), vec![node * 4 + gpu / 2, gpu % 2]);
        }
    }
}

/// Every placement's text lines from `placements`, by index (the indented lines below
/// its row).
fn framework_lines(text: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for line in text.lines().skip(3) {
        if line.starts_with("       ") {
            out.last_mut()
                .expect("a placement row first")
                .push(line.trim().to_string());
        } else if line.trim_start().starts_with(|c: char| c.is_ascii_digit())
            && !line.ends_with("placements")
        {
            out.push(Vec::new());
        }
    }
    out
}

/// The lines `placements` prints for frameworks build meshes that hold every rank at
/// its axis coordinates (evaluated with real torch and numpy), `rank_order` is right
/// where there is one and `null` exactly where the text says there is none, and the
/// Megatron-shaped spec reads as Megatron's words.
#[test]
fn framework_lines_put_every_rank_at_its_coordinates() {
    use support::cli::{run, stdout, text};
    use support::e2e::{require, torch_python};
    let Some(python) = require("framework lines", torch_python()) else {
        return;
    };
    let dir = support::tempdir();
    let mut specs = support::spec_files("specs");
    specs.extend(support::spec_files("specs/e2e"));
    let mut all = Vec::new();
    for spec in &specs {
        let spec = support::path(spec);
        let t = run(&["placements", spec], None);
        assert!(t.status.success(), "{}", text(&t));
        let j = run(&["placements", spec, "--json", "--coords"], None);
        assert!(j.status.success(), "{}", text(&j));
        let doc: serde_json::Value = serde_json::from_str(&stdout(&j)).unwrap();
        let lines = framework_lines(&stdout(&t));
        let placements = doc["placements"].as_array().unwrap();
        assert_eq!(lines.len(), placements.len(), "{spec}");
        let loaded = support::load(spec);
        let axes: Vec<&str> = loaded.axes.iter().map(|a| a.name.as_str()).collect();
        let cases: Vec<serde_json::Value> = placements
            .iter()
            .zip(&lines)
            .map(|(p, l)| {
                let no_order = l.iter().any(|x| x.starts_with("no rank order"));
                assert_eq!(p["rank_order"].is_null(), no_order, "{spec}: {p:?} {l:?}");
                serde_json::json!({"index": p["index"], "axes": axes, "coords": p["coords"],
                                   "rank_order": p["rank_order"], "lines": l})
            })
            .collect();
        all.extend(cases);
    }
    let placements_seen = all.len();
    let file = dir.path().join("cases.json");
    std::fs::write(&file, serde_json::Value::Array(all).to_string()).unwrap();
    let out = std::process::Command::new(&python)
        .arg(support::root().join("tests/e2e/mesh_lines.py"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("mesh lines ok"), "{}", text(&out));
    assert!(placements_seen > 50, "{placements_seen}");
    let mega = stdout(&run(
        &["placements", "specs/dgx-h100-x16-megatron.toml"],
        None,
    ));
    let lines = framework_lines(&mega);
    assert_eq!(lines[0][0], "Megatron-Core: order=\"tp-dp-pp\"", "{mega}");
    assert_eq!(
        lines[0][1],
        "torch: init_device_mesh(\"cuda\", (4, 4, 8), mesh_dim_names=(\"pipe\", \"data\", \"tensor\"))"
    );
    assert!(lines.iter().all(|l| !l.is_empty()), "{mega}");
}
