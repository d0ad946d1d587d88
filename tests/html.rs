//! `synth --html` and `placements --html`: the page renders in a real browser
//! (headless Chromium, as `scripts/setup` installs it) to a PNG of the expected size
//! that is not blank, the browser reads the embedded `--json` document and it equals
//! the `--json` output of the same run, hostile names cannot break out of the page,
//! and a 1,024-device system is aggregated and says so. With
//! `COLLSYNTH_KEEP_HTML=DIR` the default's and the 1,024-device pages and their
//! screenshots are copied to DIR, to look at.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::cli::{code, parts, run, stderr, stdout};
use support::e2e::require;

const WIDTH: u32 = 1400;
const HEIGHT: u32 = 2000;

/// Chromium's binary, or why it is missing.
fn chromium() -> Result<PathBuf, String> {
    for name in ["chromium", "chromium-browser"] {
        let ok = Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Ok(PathBuf::from(name));
        }
    }
    Err("`chromium` is not on PATH (scripts/setup installs Debian's chromium)".into())
}

/// The flags a headless, sandboxed root run needs, with nothing fetched.
fn chromium_command(bin: &Path, profile: &Path) -> Command {
    let mut c = Command::new(bin);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// Renders `page` to a PNG at `png`; returns the PNG's bytes.
fn screenshot(bin: &Path, page: &Path, png: &Path, profile: &Path) -> Vec<u8> {
    let out = chromium_command(bin, profile)
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(
        png.exists(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(png).expect("the screenshot reads")
}

/// The page's DOM after its script ran (`--dump-dom`).
fn dump_dom(bin: &Path, page: &Path, profile: &Path) -> String {
    let out = chromium_command(bin, profile)
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium --dump-dom failed");
    String::from_utf8(out.stdout).expect("the DOM is UTF-8")
}

/// The text of the element with `id` (first occurrence), entities decoded.
fn element_text(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = at + html[at..].find('>')? + 1;
    let end = start + html[start..].find("</")?;
    Some(
        html[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&nbsp;", "\u{a0}")
            .replace("&amp;", "&"),
    )
}

/// The embedded document as written in the file (JSON escapes decode on parse).
fn embedded(html: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"collsynth-data\">";
    let start = html.find(open).expect("the page embeds its data") + open.len();
    let end = start + html[start..].find("</script>").expect("the element closes");
    serde_json::from_str(&html[start..end]).expect("the embedded data is JSON")
}

/// Numbers compared as f64 (the browser's JSON.stringify writes 1.0 as 1).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((k, v), (l, w))| k == l && same(v, w))
        }
        _ => a == b,
    }
}

/// Width, height and a count of distinct colours of a PNG.
fn png_facts(bytes: &[u8]) -> (u32, u32, usize) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG signature");
    // IHDR is the first chunk: width and height, big-endian, at offsets 16 and 20.
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("the PNG decodes");
    let mut buf = vec![0; reader.output_buffer_size().expect("a buffer size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    let mut colours = std::collections::BTreeSet::new();
    for px in buf[..info.buffer_size()].chunks(channels).step_by(7) {
        colours.insert(px.to_vec());
        if colours.len() > 5000 {
            break;
        }
    }
    (w, h, colours.len())
}

/// Renders a page and checks it: the expected size, not blank, and the browser's
/// parse of the embedded data equals `json`. Returns the PNG path's bytes count.
fn check_in_browser(test: &str, page: &Path, json: &Value, keep: &Path) -> Option<u64> {
    let bin = require(test, chromium())?;
    let profile = support::tempdir();
    let png = keep.join("page.png");
    let bytes = screenshot(&bin, page, &png, profile.path());
    let (w, h, colours) = png_facts(&bytes);
    assert_eq!((w, h), (WIDTH, HEIGHT), "{test}: screenshot size");
    assert!(
        colours >= 20,
        "{test}: the screenshot has {colours} colours: blank or nearly"
    );
    let dom = dump_dom(&bin, page, profile.path());
    let check = element_text(&dom, "collsynth-data-check").expect("the check line");
    assert!(
        check.starts_with("embedded --json document: schema_version 1"),
        "{test}: the page's script did not read its data: {check}"
    );
    let parsed = element_text(&dom, "collsynth-data-parsed").expect("the parsed data");
    let parsed: Value = serde_json::from_str(&parsed).expect("the browser's JSON");
    assert!(
        same(&parsed, json),
        "{test}: the data the browser read differs from --json"
    );
    Some(bytes.len() as u64)
}

#[test]
fn synth_page_of_the_default_renders_in_chromium_and_embeds_the_json() {
    let dir = support::tempdir();
    let page = dir.path().join("out.html");
    let o = run(&["synth", "--html", support::path(&page)], None);
    let (c, text, err) = parts(&o);
    assert_eq!(c, 0, "{err}");
    assert!(text.contains("placement"), "stdout keeps the table: {text}");
    let html = std::fs::read_to_string(&page).expect("the page was written");
    let j = run(&["synth", "--json"], None);
    assert_eq!(code(&j), 0, "{}", stderr(&j));
    let json: Value = serde_json::from_str(&stdout(&j)).expect("--json");
    assert_eq!(embedded(&html), json, "the embedded document is --json's");
    assert!(
        !html.contains(" src=") && !html.contains("href="),
        "nothing is fetched"
    );
    for needle in ["<svg", "data = 8", "model = 4", "step 1", "lower bound"] {
        assert!(html.contains(needle), "the page shows {needle}");
    }
    assert!(
        !html.contains("aggregates or leaves out"),
        "32 devices are drawn in full"
    );
    // Deterministic bytes.
    let page2 = dir.path().join("again.html");
    let o2 = run(&["synth", "--html", support::path(&page2)], None);
    assert_eq!(code(&o2), 0);
    assert_eq!(html, std::fs::read_to_string(&page2).unwrap());
    check_in_browser(
        "synth_page_of_the_default_renders_in_chromium_and_embeds_the_json",
        &page,
        &json,
        dir.path(),
    );
    keep(&page, dir.path(), "default");
}

#[test]
fn placements_page_renders_and_embeds_placements_json() {
    let dir = support::tempdir();
    let page = dir.path().join("p.html");
    let spec = "specs/dgx-a100-x2-dp8-mp2.toml";
    let o = run(
        &["placements", spec, "--json", "--html", support::path(&page)],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let json: Value = serde_json::from_str(&stdout(&o)).expect("--json on stdout");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(embedded(&html), json);
    check_in_browser(
        "placements_page_renders_and_embeds_placements_json",
        &page,
        &json,
        dir.path(),
    );
}

#[test]
fn hostile_names_are_escaped() {
    let dir = support::tempdir();
    let name = "x\" onload=\"alert(1)</script><!--<b>bold</b>&amp;";
    let spec = support::write(
        dir.path(),
        "evil<b>&'.toml",
        &format!(
            "axes = [ {{ name = \"data\", size = 4 }} ]\n[system]\nname = {}\nlevels = [ {{ name = \"node\", arity = 2, bandwidth = \"10 GB/s\", latency = \"5 us\" }}, {{ name = \"gpu\", arity = 2, bandwidth = \"100 GB/s\", latency = \"1 us\" }} ]\n[[request]]\ncollective = \"all_reduce\"\naxes = [\"data\"]\nbytes = \"1 MB\"\n",
            toml_string(name)
        ),
    );
    let page = dir.path().join("evil.html");
    let o = run(
        &["synth", &spec, "--json", "--html", support::path(&page)],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let html = std::fs::read_to_string(&page).unwrap();
    // The only script end tags are the page's own two, the only comment opener none.
    assert_eq!(html.matches("</script>").count(), 2, "{html}");
    assert!(!html.contains("<!--"));
    assert!(!html.contains("<b>bold") && !html.contains("evil<b>"));
    assert!(!html.contains("onload=\""));
    assert!(html.contains("&lt;/script&gt;&lt;!--&lt;b&gt;bold&lt;/b&gt;&amp;amp;"));
    let json: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(embedded(&html), json, "escaping keeps the JSON value");
    check_in_browser("hostile_names_are_escaped", &page, &json, dir.path());
}

/// With `COLLSYNTH_KEEP_HTML=DIR`, copies a page and its screenshot to DIR.
fn keep(page: &Path, dir: &Path, name: &str) {
    if let Ok(keep) = std::env::var("COLLSYNTH_KEEP_HTML") {
        let _ = std::fs::copy(page, Path::new(&keep).join(format!("{name}.html")));
        let _ = std::fs::copy(
            dir.join("page.png"),
            Path::new(&keep).join(format!("{name}.png")),
        );
    }
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn a_1024_device_page_is_aggregated_and_says_so() {
    let dir = support::tempdir();
    let page = dir.path().join("big.html");
    let o = run(
        &[
            "synth",
            "specs/cluster-3level-dp64-mp16.toml",
            // A placement with whole racks alike (the best one mixes every dim).
            "--placement",
            "0",
            "--html",
            support::path(&page),
        ],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("aggregates or leaves out"),
        "the note is there"
    );
    assert!(html.contains("more like this") || html.contains("one filled box"));
    assert!(
        html.len() < 3_000_000,
        "the page stays small: {} bytes",
        html.len()
    );
    let j = run(
        &[
            "synth",
            "specs/cluster-3level-dp64-mp16.toml",
            "--placement",
            "0",
            "--json",
        ],
        None,
    );
    let json: Value = serde_json::from_str(&stdout(&j)).unwrap();
    assert_eq!(embedded(&html), json);
    check_in_browser(
        "a_1024_device_page_is_aggregated_and_says_so",
        &page,
        &json,
        dir.path(),
    );
    keep(&page, dir.path(), "big");
}

#[test]
fn an_unwritable_html_file_is_bad_input_naming_it() {
    let o = run(&["synth", "--html", "/nonexistent-dir/out.html"], None);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("/nonexistent-dir/out.html"),
        "{}",
        stderr(&o)
    );
    let o = run(&["placements", "--html", "/nonexistent-dir/p.html"], None);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("/nonexistent-dir/p.html"));
}

#[test]
fn a_page_of_2_to_the_40_devices_stays_small_and_says_what_it_left_out() {
    let dir = support::tempdir();
    let spec = support::write(
        dir.path(),
        "huge.toml",
        "axes = [ { name = \"data\", size = 1099511627776 } ]\n[system]\nlevels = [ { name = \"pod\", arity = 1024, bandwidth = \"10 GB/s\", latency = \"5 us\" }, { name = \"rack\", arity = 1024, bandwidth = \"10 GB/s\", latency = \"5 us\" }, { name = \"node\", arity = 1024, bandwidth = \"10 GB/s\", latency = \"5 us\" }, { name = \"gpu\", arity = 1024, bandwidth = \"100 GB/s\", latency = \"1 us\" } ]\n",
    );
    let page = dir.path().join("huge.html");
    let o = run(&["placements", &spec, "--html", support::path(&page)], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.len() < 1_000_000, "{} bytes", html.len());
    assert!(
        html.contains("only the first"),
        "the page says what it left out"
    );
    assert!(html.matches("<rect").count() < 3 * 2048);
}

/// Where NCCL's own collective over the whole group beats every program shown, the
/// page says so under the request's table, as the text table does (on the
/// three-level spec's worse placements); where it only ties (the default spec's
/// one-level rings), neither says anything.
#[test]
fn the_page_and_the_table_say_when_nccl_alone_is_faster() {
    let dir = support::tempdir();
    let note = "beats these programs";
    for (spec, expect) in [
        ("specs/e2e/three-level-dp4-mp2x2.toml", true),
        ("specs/default.toml", false),
    ] {
        let page = dir.path().join("p.html");
        let args = ["synth", spec, "--placement", "all", "--html"];
        let o = run(&[&args[..], &[support::path(&page)]].concat(), None);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let html = std::fs::read_to_string(&page).unwrap();
        assert_eq!(html.contains(note), expect, "{spec}: page");
        assert_eq!(stdout(&o).contains(note), expect, "{spec}: table");
    }
}
