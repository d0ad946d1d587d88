//! Every bad-input class gives its message: `collsynth placements
//! SPEC` on small spec files in a tempdir exits 2, and its stderr (tempdir path
//! replaced by `[TMP]`) is snapshotted. Messages with a place name file:line:col.
//! Plus: `spec::parse` never panics on random bytes or mutated valid specs.

mod support;

use collsynth::source::Source;
use proptest::prelude::*;

const AXES: &str = r#"axes = [ { name = "data", size = 8 }, { name = "model", size = 4 } ]"#;
const LEVELS: &str = r#"levels = [
  { name = "node", arity = 4, bandwidth = "100 GB/s", latency = "5 us" },
  { name = "gpu",  arity = 8, bandwidth = "235 GB/s", latency = "1 us" },
]"#;
const REQUEST: &str =
    "[[request]]\ncollective = \"all_reduce\"\naxes = [\"data\"]\nbytes = \"1 GB\"\n";

/// A valid spec with one replacement applied (the replacement must happen).
fn valid_with(from: &str, to: &str) -> String {
    let text = format!("{AXES}\n\n[system]\nname = \"t\"\n{LEVELS}\n\n{REQUEST}");
    assert!(text.contains(from), "`{from}` not in the valid spec");
    text.replacen(from, to, 1)
}

/// Runs `collsynth placements` on `text` and returns stderr with the path replaced.
fn run(dir: &std::path::Path, name: &str, text: &str) -> (i32, String) {
    let path = support::write(dir, "spec.toml", text);
    let out = support::cli::run(&["placements", &path], None);
    assert!(out.stdout.is_empty(), "{name}: no result on stdout");
    let err = support::cli::stderr(&out);
    let root = dir.display().to_string();
    (out.status.code().unwrap_or(-1), err.replace(&root, "[TMP]"))
}

fn cases() -> Vec<(&'static str, String)> {
    let v = valid_with;
    vec![
        ("unknown_top_level_key", format!("colour = \"red\"\n{}", v("", ""))),
        ("unknown_level_key", v("latency = \"1 us\" }", "latency = \"1 us\", speed = 3 }")),
        ("unknown_request_key", v("bytes = \"1 GB\"", "bytes = \"1 GB\"\nsize = 3")),
        ("axes_inside_system_table", format!("[system]\nname = \"t\"\n{LEVELS}\n{AXES}\n")),
        ("system_path_inside_request", format!("{AXES}\n{REQUEST}system = \"s.toml\"\n")),
        (
            "axes_inside_request_table",
            format!("[system]\nname = \"t\"\n{LEVELS}\n[[request]]\ncollective = \"all_reduce\"\nbytes = \"1 GB\"\n{AXES}\n"),
        ),
        ("zero_arity", v("arity = 4", "arity = 0")),
        ("negative_arity", v("arity = 4", "arity = -4")),
        ("zero_axis_size", v("size = 8", "size = 0")),
        ("negative_axis_size", v("size = 4", "size = -4")),
        ("zero_bytes", v("bytes = \"1 GB\"", "bytes = 0")),
        ("negative_bytes", v("bytes = \"1 GB\"", "bytes = \"-1 GB\"")),
        ("zero_count", v("bytes = \"1 GB\"", "bytes = \"1 GB\"\ncount = 0")),
        ("negative_count", v("bytes = \"1 GB\"", "bytes = \"1 GB\"\ncount = -2")),
        ("bandwidth_without_unit", v("\"100 GB/s\"", "100")),
        ("bandwidth_string_without_unit", v("\"100 GB/s\"", "\"100\"")),
        ("bandwidth_unknown_unit", v("\"100 GB/s\"", "\"100 gb/s\"")),
        ("bandwidth_gbps", v("\"100 GB/s\"", "\"100 Gbps\"")),
        ("latency_unknown_unit", v("\"5 us\"", "\"5 hours\"")),
        ("bytes_unknown_unit", v("\"1 GB\"", "\"1 GB/s\"")),
        ("bandwidth_infinite_float", v("\"100 GB/s\"", "inf")),
        ("bandwidth_infinite_text", v("\"100 GB/s\"", "\"inf GB/s\"")),
        ("bandwidth_overflows", v("\"100 GB/s\"", "\"1e999 GB/s\"")),
        ("latency_nan", v("\"5 us\"", "nan")),
        ("latency_zero", v("\"5 us\"", "\"0 us\"")),
        ("bandwidth_negative", v("\"100 GB/s\"", "\"-100 GB/s\"")),
        ("launch_negative", v("name = \"t\"", "name = \"t\"\nlaunch = \"-5 us\"")),
        ("axis_product_mismatch", v("size = 4", "size = 2")),
        ("request_unknown_axis", v("axes = [\"data\"]", "axes = [\"batch\"]")),
        ("duplicate_axis", v("name = \"model\"", "name = \"data\"")),
        ("duplicate_level", v("name = \"gpu\"", "name = \"node\"")),
        ("axis_name_uppercase", v("name = \"model\"", "name = \"Model\"")),
        ("level_name_starts_with_digit", v("name = \"gpu\"", "name = \"8gpu\"")),
        ("axis_name_with_dash", v("name = \"model\"", "name = \"model-x\"")),
        ("empty_axis_name", v("name = \"model\"", "name = \"\"")),
        ("empty_request_axes", v("axes = [\"data\"]", "axes = []")),
        ("request_names_axis_twice", v("axes = [\"data\"]", "axes = [\"data\", \"model\", \"data\"]")),
        (
            "request_reduce_scatter_indivisible_bytes",
            v("collective = \"all_reduce\"\naxes = [\"data\"]\nbytes = \"1 GB\"", "collective = \"reduce_scatter\"\naxes = [\"data\"]\nbytes = 1000001"),
        ),
        (
            "request_all_gather_indivisible_bytes",
            v("collective = \"all_reduce\"\naxes = [\"data\"]\nbytes = \"1 GB\"", "collective = \"all_gather\"\naxes = [\"model\", \"data\"]\nbytes = 100"),
        ),
        ("request_unknown_collective", v("\"all_reduce\"", "\"all_to_all\"")),
        (
            "too_many_devices",
            "axes = [ { name = \"data\", size = 2199023255552 } ]\n[system]\nlevels = [\n  { name = \"a\", arity = 2097152, bandwidth = \"1 GB/s\", latency = \"1 us\" },\n  { name = \"b\", arity = 1048576, bandwidth = \"1 GB/s\", latency = \"1 us\" },\n]\n".to_string(),
        ),
        (
            "axis_sizes_overflow",
            v(AXES, "axes = [ { name = \"a\", size = 4611686018427387904 }, { name = \"b\", size = 4611686018427387904 }, { name = \"c\", size = 4611686018427387904 } ]"),
        ),
        ("empty_axes", v(AXES, "axes = []")),
        ("no_axes", v(AXES, "")),
        ("no_system", format!("{AXES}\n{REQUEST}")),
        ("no_levels", v(LEVELS, "")),
        ("empty_levels", v(LEVELS, "levels = []")),
        ("axis_size_as_string", v("size = 8", "size = \"8\"")),
        ("axes_as_table", format!("[axes]\ndata = 8\n[system]\n{LEVELS}\n")),
        ("missing_system_file", format!("{AXES}\nsystem = \"nope.toml\"\n")),
        ("not_toml", "{\"axes\": [\"data\"]}\n".to_string()),
        ("not_toml_unclosed", v("name = \"t\"", "name = \"t")),
        ("duplicate_key", v("name = \"t\"", "name = \"t\"\nname = \"u\"")),
    ]
}

#[test]
fn every_bad_input_class_has_its_message() {
    let dir = support::tempdir();
    let _guard = support::flat_snapshot_names();
    for (name, text) in cases() {
        let (code, err) = run(dir.path(), name, &text);
        assert_eq!(code, 2, "{name}: exit code\n{err}");
        assert!(err.starts_with("error: "), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        // A key that is missing altogether has no place in the file.
        let placeless = ["no_axes", "no_system"].contains(&name);
        assert!(
            placeless
                || err.starts_with("error: [TMP]/spec.toml:")
                    && err
                        .split(':')
                        .nth(2)
                        .is_some_and(|l| l.parse::<u32>().is_ok()),
            "{name}: the message names no file:line:col\n{err}"
        );
        insta::assert_snapshot!(format!("spec_error_{name}"), err);
    }
}

#[test]
fn missing_spec_file() {
    let dir = support::tempdir();
    let _guard = support::flat_snapshot_names();
    let path = dir.path().join("absent.toml").display().to_string();
    let out = support::cli::run(&["placements", &path], None);
    assert_eq!(out.status.code(), Some(2));
    let err = support::cli::stderr(&out).replace(&dir.path().display().to_string(), "[TMP]");
    insta::assert_snapshot!("spec_error_missing_spec_file", err);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes).to_string();
        let dir = support::tempdir();
        let _ = collsynth::spec::parse(&Source::new("fuzz.toml", text), Some(dir.path()));
    }

    #[test]
    fn parse_never_panics_on_mutated_specs(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0..4u8, "[ -~]{0,6}|-?[0-9]{1,22}|\"[a-z ]{0,4}\"|[\\[\\]{}=,#\\n]"), 1..6)
    ) {
        let mut text = valid_with("", "");
        for (at, how, piece) in edits {
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            match how {
                0 => text.insert_str(i, &piece),
                1 => {
                    let j = (i + piece.len()).min(text.len());
                    let j = (j..=text.len()).find(|&j| text.is_char_boundary(j)).unwrap_or(text.len());
                    text.replace_range(i..j, &piece);
                }
                2 => {
                    let j = (i + 1 + piece.len() % 8).min(text.len());
                    let j = (j..=text.len()).find(|&j| text.is_char_boundary(j)).unwrap_or(text.len());
                    text.replace_range(i..j, "");
                }
                _ => text = text.replacen(&piece, "1e308", 1),
            }
        }
        let dir = support::tempdir();
        if let Ok(s) = collsynth::spec::parse(&Source::new("fuzz.toml", text), Some(dir.path())) {
            // A spec that parses is usable: its placements enumerate when small.
            if s.devices() <= 4096 {
                let _ = collsynth::placement::count(&s);
            }
        }
    }
}
