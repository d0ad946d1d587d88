//! Pipelined programs (`pipeline(C): ...`) through `verify` and `cost`: the chunk
//! count is read from text and lowered JSON, proved by proving the program, refused
//! when it does not cut the buffer into whole atoms, and priced by the overlap model.

mod support;

use serde_json::Value;
use support::cli::{parts, run};

const SPEC: &str = "specs/dgx-a100-x2-dp16.toml";
const HIER: &str = "reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)";

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}:\n{text}"))
}

#[test]
fn a_pipelined_program_is_proved_by_its_program() {
    let program = format!("pipeline(16): {HIER}");
    let (code, out, err) = parts(&run(&["verify", "-", "--spec", SPEC], Some(&program)));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with(&format!("proved: {program}\n")), "{out}");
    assert!(
        out.contains("pipelined: 16 chunks of 62500000 bytes"),
        "{out}"
    );
    let (code, out, _) = parts(&run(
        &["verify", "-", "--spec", SPEC, "--json"],
        Some(&program),
    ));
    assert_eq!(code, 0);
    let doc = json(&out);
    assert_eq!(doc["chunks"], 16);
    assert_eq!(doc["program"], program.as_str());
    // A wrong program stays wrong pipelined.
    let wrong = "pipeline(4): reduce_scatter(gpu:data) ; all_gather(gpu:data)";
    let (code, out, _) = parts(&run(&["verify", "-", "--spec", SPEC], Some(wrong)));
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("refuted: pipeline(4): "), "{out}");
}

#[test]
fn chunks_that_do_not_cut_whole_atoms_are_refused() {
    // 1 GB = 2^9 · 5^9 bytes, 8 atoms: 3 chunks of 8 atoms do not divide it.
    let program = format!("pipeline(3): {HIER}");
    let (code, _, err) = parts(&run(&["verify", "-", "--spec", SPEC], Some(&program)));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("pipeline(3)") && err.contains("1000000000") && err.contains("8 atoms"),
        "{err}"
    );
    for (text, needle) in [
        ("pipeline(0): all_reduce(gpu:data)", "not a chunk count"),
        ("pipeline(x): all_reduce(gpu:data)", "not a chunk count"),
        ("pipeline(8) all_reduce(gpu:data)", "expected `:`"),
        ("pipeline 8: all_reduce(gpu:data)", "expected `(`"),
    ] {
        let (code, _, err) = parts(&run(&["verify", "-", "--spec", SPEC], Some(text)));
        assert_eq!(code, 2, "{text}: {err}");
        assert!(err.contains(needle), "{text}: {err}");
    }
}

#[test]
fn lowered_json_carries_the_chunk_count() {
    let doc = r#"{"schema_version": 1, "chunks": 2, "steps": [
        {"collective": "all_reduce", "groups": [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]]}]}"#;
    let (code, out, err) = parts(&run(&["verify", "-", "--spec", SPEC, "--json"], Some(doc)));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(json(&out)["chunks"], 2);
    let bad = doc.replace("\"chunks\": 2", "\"chunks\": 0");
    let (code, _, err) = parts(&run(&["verify", "-", "--spec", SPEC], Some(&bad)));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`chunks` = 0"), "{err}");
}

#[test]
fn cost_prices_the_overlap_and_suggests_a_chunk_count() {
    // Plain: 1.75x the bound on 2 x DGX A100 at 1 GB; the text suggests pipelining.
    let (code, out, _) = parts(&run(&["cost", "-", "--spec", SPEC, "--json"], Some(HIER)));
    assert_eq!(code, 0);
    let plain = json(&out);
    assert_eq!(plain["chunks"], 1);
    assert_eq!(plain["total_s"], plain["plain_s"]);
    let best = plain["best_chunks"].as_u64().unwrap();
    assert!(best > 1, "{plain}");
    let bound = plain["lower_bound_s"].as_f64().unwrap();
    let best_s = plain["best_chunks_s"].as_f64().unwrap();
    assert!(plain["ratio_to_bound"].as_f64().unwrap() > 1.7);
    assert!(best_s <= 1.15 * bound && best_s >= bound, "{plain}");
    let (_, text, _) = parts(&run(&["cost", "-", "--spec", SPEC], Some(HIER)));
    assert!(
        text.contains(&format!("with pipeline({best}): in front of the program")),
        "{text}"
    );
    // Pipelined as suggested: that time, and no further suggestion.
    let program = format!("pipeline({best}): {HIER}");
    let (code, out, _) = parts(&run(
        &["cost", "-", "--spec", SPEC, "--json"],
        Some(&program),
    ));
    assert_eq!(code, 0);
    let piped = json(&out);
    assert_eq!(piped["chunks"], best);
    assert_eq!(piped["total_s"], plain["best_chunks_s"]);
    assert_eq!(piped["plain_s"], plain["plain_s"]);
    let (_, text, _) = parts(&run(&["cost", "-", "--spec", SPEC], Some(&program)));
    assert!(
        text.contains("pipelined ") && !text.contains("pipelining "),
        "{text}"
    );
    // At 4 KB the launches dominate: one chunk is best.
    let (_, out, _) = parts(&run(
        &["cost", "-", "--spec", SPEC, "--bytes", "4KB", "--json"],
        Some(HIER),
    ));
    assert_eq!(json(&out)["best_chunks"], 1);
}

#[test]
fn a_sharded_request_needs_chunks_that_cut_every_shard() {
    // 12 bytes in 4 shards of 3: two chunks of the program's 1 atom fit the buffer,
    // but a chunk is half of every shard, and a 3-byte shard has no whole half.
    let dir = support::tempdir();
    let spec = std::fs::read_to_string("specs/e2e/two-node-dp4-mp2-fsdp.toml")
        .unwrap()
        .replace("bytes = \"4 MB\"", "bytes = \"12 B\"");
    let spec = support::write(dir.path(), "fsdp12.toml", &spec);
    let program = "pipeline(2): all_gather(gpu:data) ; all_gather(node:data)";
    let args = ["verify", "-", "--spec", &spec, "--request", "1"];
    let (code, _, err) = parts(&run(&args, Some(program)));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("pipeline(2)") && err.contains("4 atoms") && err.contains("4 shards"),
        "{err}"
    );
    // The plain program is decided (whichever verdict): the chunk rule only refuses C.
    let plain = program.trim_start_matches("pipeline(2): ");
    let (code, out, err) = parts(&run(&args, Some(plain)));
    assert!(code == 0 || code == 1, "{out}{err}");
}
