//! reduce_scatter and all_gather requests: the spec and lowered JSON accept them, the
//! reference interpreter decides them with their start and end states
//! (docs/design.md, "Shards"), counterexamples name the shard, and the cost model
//! prices them.

mod support;

use collsynth::lowered::{self, parse_json};
use collsynth::placement::Placement;
use collsynth::program::parse_program;
use collsynth::semantics::{self, Goal, Kind};
use collsynth::source::Source;
use collsynth::spec::{self, RequestKind, Spec};

/// 2 nodes × 4 GPUs; axes data = 4, pipe = 2; requests 0: reduce_scatter over
/// [data, pipe], 1: all_gather over [data, pipe], 2: reduce_scatter over [pipe, data],
/// 3: all_gather over [pipe, data].
const SPEC: &str = r#"axes = [ { name = "data", size = 4 }, { name = "pipe", size = 2 } ]
[system]
name = "2 x 4"
launch = "5 us"
levels = [
  { name = "node", arity = 2, bandwidth = "100 GB/s", latency = "5 us" },
  { name = "gpu",  arity = 4, bandwidth = "235 GB/s", latency = "1 us" },
]
[[request]]
collective = "reduce_scatter"
axes = ["data", "pipe"]
bytes = "8 MB"
[[request]]
collective = "all_gather"
axes = ["data", "pipe"]
bytes = "8 MB"
[[request]]
collective = "reduce_scatter"
axes = ["pipe", "data"]
bytes = "8 MB"
[[request]]
collective = "all_gather"
axes = ["pipe", "data"]
bytes = "8 MB"
"#;

fn spec() -> Spec {
    spec::parse(&Source::new("t.toml", SPEC), None).unwrap()
}

/// Runs `text` on the placement `matrix` for request `r`.
fn run(
    spec: &Spec,
    matrix: Vec<Vec<u64>>,
    r: usize,
    text: &str,
) -> Result<(), Box<semantics::Counterexample>> {
    let p = Placement::new(spec, matrix).unwrap();
    let prog = parse_program(spec, text).unwrap();
    let goal = Goal::of(&spec.requests[r]);
    semantics::run_goal(spec, &p, &goal, &lowered::lower(&p, &prog)).map_err(Box::new)
}

/// data on the GPUs, pipe across the nodes: rank = 4·pipe + data.
fn data_inside() -> Vec<Vec<u64>> {
    vec![vec![1, 4], vec![2, 1]]
}

#[test]
fn spec_keeps_the_axis_order_of_sharded_requests() {
    let s = spec();
    assert_eq!(s.requests[0].collective, RequestKind::ReduceScatter);
    assert_eq!(s.requests[0].axes, vec![0, 1]);
    assert_eq!(s.requests[2].axes, vec![1, 0]);
    assert_eq!(s.requests[3].collective, RequestKind::AllGather);
    assert_ne!(s.requests[0], s.requests[2]);
    assert_eq!(s.requests[2].axis_set(), vec![0, 1]);
    assert_eq!(s.requests[0].shards(&s), 8);
    // all_reduce still lists its axes in spec order.
    let ar = spec::parse(
        &Source::new(
            "t.toml",
            SPEC.replacen("\"reduce_scatter\"", "\"all_reduce\"", 1),
        ),
        None,
    )
    .unwrap();
    assert_eq!(ar.requests[0].axes, vec![0, 1]);
    let ar = spec::parse(
        &Source::new(
            "t.toml",
            SPEC.replacen("\"reduce_scatter\"", "\"all_reduce\"", 2)
                .replacen("\"reduce_scatter\"", "\"all_reduce\"", 1),
        ),
        None,
    )
    .unwrap();
    assert_eq!(ar.requests[2].axes, vec![0, 1]);
}

#[test]
fn flat_reduce_scatter_is_right_only_when_the_rank_order_numbers_the_shards() {
    let s = spec();
    // Ranks are 4·pipe + data: the shard numbering of [pipe, data].
    let flat = "reduce_scatter(node:pipe, gpu:data)";
    assert_eq!(run(&s, data_inside(), 2, flat), Ok(()));
    let c = run(&s, data_inside(), 0, flat).unwrap_err();
    assert_eq!(c.kind, Kind::WrongShard);
    assert_eq!(c.step, None);
    assert_eq!(c.rank, 1);
    assert_eq!(c.shard, Some(2));
    assert_eq!(
        c.message,
        "rank 1 (data=1, pipe=0) ends holding shard 1 ([1/8, 1/4) of the buffer), wants shard 2 ([1/4, 3/8) of the buffer)"
    );
    // Cost-model helper agrees.
    let p = Placement::new(&s, data_inside()).unwrap();
    assert!(collsynth::cost::flat_is_numbered(&p, &s.requests[2]));
    assert!(!collsynth::cost::flat_is_numbered(&p, &s.requests[0]));
}

#[test]
fn hierarchical_reduce_scatter_then_all_gather_in_reverse() {
    let s = spec();
    // Inside the node first (gpu:data), then across nodes on the smaller shard: member
    // order of the second step is the pipe digit, least significant of the shard
    // number [data, pipe] = 2·data + pipe.
    assert_eq!(
        run(
            &s,
            data_inside(),
            0,
            "reduce_scatter(gpu:data) ; reduce_scatter(node:pipe)"
        ),
        Ok(())
    );
    // The other order gives [pipe, data]'s numbering.
    assert_eq!(
        run(
            &s,
            data_inside(),
            2,
            "reduce_scatter(node:pipe) ; reduce_scatter(gpu:data)"
        ),
        Ok(())
    );
    let c = run(
        &s,
        data_inside(),
        2,
        "reduce_scatter(gpu:data) ; reduce_scatter(node:pipe)",
    )
    .unwrap_err();
    assert_eq!(c.kind, Kind::WrongShard);
    // all_gather: the reverse order of the matching reduce_scatter.
    assert_eq!(
        run(
            &s,
            data_inside(),
            1,
            "all_gather(node:pipe) ; all_gather(gpu:data)"
        ),
        Ok(())
    );
    assert_eq!(
        run(
            &s,
            data_inside(),
            3,
            "all_gather(gpu:data) ; all_gather(node:pipe)"
        ),
        Ok(())
    );
    assert_eq!(
        run(&s, data_inside(), 3, "all_gather(node:pipe, gpu:data)"),
        Ok(())
    );
}

#[test]
fn all_gather_faults_name_the_shard() {
    let s = spec();
    // Gathering in the wrong order is ill-formed at the second step.
    let c = run(
        &s,
        data_inside(),
        1,
        "all_gather(gpu:data) ; all_gather(node:pipe)",
    )
    .unwrap_err();
    assert_eq!(c.kind, Kind::IllFormed);
    assert_eq!(c.step, Some(1));
    // Gathering only one axis leaves shards missing.
    let c = run(&s, data_inside(), 3, "all_gather(gpu:data)").unwrap_err();
    assert_eq!(c.kind, Kind::Missing);
    assert_eq!(c.rank, 0);
    // The empty program: only the own shard is held.
    let c = run(&s, data_inside(), 1, "").unwrap_err();
    assert_eq!(c.kind, Kind::Missing);
    assert!(
        c.message.contains("not every shard was gathered"),
        "{}",
        c.message
    );
    // An all_reduce sums what an all_gather must only place.
    let c = run(
        &s,
        data_inside(),
        1,
        "all_gather(node:pipe) ; all_gather(gpu:data) ; all_reduce(node:pipe)",
    )
    .unwrap_err();
    assert!(matches!(c.kind, Kind::Extra | Kind::Twice), "{c:?}");
}

#[test]
fn reduce_scatter_needs_its_whole_group_summed() {
    let s = spec();
    // Only the data axis reduced: the region holds the shard, but pipe is not summed.
    let c = run(&s, data_inside(), 0, "reduce_scatter(gpu:data)").unwrap_err();
    assert_eq!(c.kind, Kind::Missing);
    assert_eq!(c.shard, Some(0));
    assert_eq!(c.source, Some(4));
    // An all_reduce over everything holds every shard, summed: correct.
    assert_eq!(
        run(&s, data_inside(), 0, "all_reduce(node:pipe, gpu:data)"),
        Ok(())
    );
    let c = run(&s, data_inside(), 0, "all_reduce(gpu:data)").unwrap_err();
    assert_eq!(c.kind, Kind::Missing);
    assert_eq!(c.shard, Some(0));
    // Reducing over a node-level dim the request does not have would be extra, but a
    // one-axis request on the two-axis spec: reduce_scatter over data only.
    let one = spec::parse(
        &Source::new(
            "t.toml",
            SPEC.replacen("axes = [\"data\", \"pipe\"]", "axes = [\"data\"]", 1),
        ),
        None,
    )
    .unwrap();
    assert_eq!(
        run(&one, data_inside(), 0, "reduce_scatter(gpu:data)"),
        Ok(())
    );
    let c = run(
        &one,
        data_inside(),
        0,
        "reduce_scatter(gpu:data) ; all_reduce(node:pipe)",
    )
    .unwrap_err();
    assert_eq!(c.kind, Kind::Extra);
}

#[test]
fn lowered_json_carries_sharded_requests() {
    let s = spec();
    let doc = r#"{"schema_version": 1, "request": {"collective": "reduce_scatter", "axes": ["pipe", "data"], "bytes": 8000000},
      "steps": [{"collective": "reduce_scatter", "groups": [[0, 1, 2, 3, 4, 5, 6, 7]]}]}"#;
    let j = parse_json(&Source::new("p.json", doc)).unwrap();
    let r = j.resolve_request(&s, "p.json").unwrap().unwrap();
    assert_eq!(r.collective, RequestKind::ReduceScatter);
    assert_eq!(r.axes, vec![1, 0]);
    let p = Placement::new(&s, data_inside()).unwrap();
    assert_eq!(
        semantics::run_goal(&s, &p, &Goal::of(&r), &j.lowered(&s, "p.json").unwrap()),
        Ok(())
    );
    for (bad, what) in [
        (doc.replace("8000000", "8000001"), "multiple of 8"),
        (
            doc.replace("\"reduce_scatter\", \"axes\"", "\"send_recv\", \"axes\""),
            "priced",
        ),
        (
            doc.replace("\"reduce_scatter\", \"axes\"", "\"all_to_all\", \"axes\""),
            "not one of",
        ),
    ] {
        let j = parse_json(&Source::new("p.json", &bad)).unwrap();
        let e = j.resolve_request(&s, "p.json").unwrap_err();
        assert!(e.message.contains(what), "{}", e.message);
    }
}

#[test]
fn verify_cli_refutes_the_wrong_shard_order() {
    let dir = support::tempdir();
    let spec = support::write(dir.path(), "t.toml", SPEC);
    let prog = support::write(dir.path(), "p.txt", "reduce_scatter(node:pipe, gpu:data)\n");
    let args = |r: &'static str| {
        vec![
            "verify",
            "-s",
            spec.as_str(),
            "--matrix",
            "1,4;2,1",
            "--request",
            r,
            "--by",
            "interpreter",
            prog.as_str(),
        ]
    };
    let out = support::cli::run(&args("0"), None);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("wrong_shard: rank 1 (data=1, pipe=0) ends holding shard 1"),
        "{text}"
    );
    let out = support::cli::run(&args("2"), None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Time of `text` on `spec` (placement `matrix`) for request `r`, from the bytes a
/// program for the request starts with.
fn time_s(spec: &Spec, matrix: Vec<Vec<u64>>, r: usize, text: &str) -> f64 {
    let p = Placement::new(spec, matrix).unwrap();
    let prog = parse_program(spec, text).unwrap();
    let req = &spec.requests[r];
    let bytes = collsynth::cost::program_bytes(spec, req, req.bytes);
    collsynth::cost::program_cost(spec, &p, &prog, bytes).total_s
}

fn close(got: f64, want: f64) {
    assert!((got - want).abs() <= 1e-9 * want, "got {got}, want {want}");
}

/// The FSDP spec (4 × DGX H100, data = 32, 2 GB): hand-computed times
/// (docs/cost-model.md, §3): NIC 47 GB/s per GPU, NVLink 370 GB/s, α 5 us / 1 us,
/// launch 5 us. The numbering (node digit most significant) forbids the cheap order.
#[test]
fn fsdp_spec_figures_and_which_orders_are_correct() {
    let s = spec::Spec::load(std::path::Path::new("specs/dgx-h100-x4-fsdp.toml")).unwrap();
    let m = || vec![vec![4, 8]];
    let flat_rs = "reduce_scatter(node:data, gpu:data)";
    let node_first = "reduce_scatter(node:data) ; reduce_scatter(gpu:data)";
    let gpu_first = "reduce_scatter(gpu:data) ; reduce_scatter(node:data)";
    assert_eq!(run(&s, m(), 0, flat_rs), Ok(()));
    assert_eq!(run(&s, m(), 0, node_first), Ok(()));
    let c = run(&s, m(), 0, gpu_first).unwrap_err();
    assert_eq!(c.kind, Kind::WrongShard);
    assert_eq!(
        c.message,
        "rank 1 (data=1) ends holding shard 4 ([1/8, 5/32) of the buffer), wants shard 1 ([1/32, 1/16) of the buffer)"
    );
    // flat: e = 31/32 · 2 GB through one GPU's NIC, 31 hops at 5 us.
    let flat = 31.0 / 32.0 * 2e9 / 47e9 + 31.0 * 5e-6 + 5e-6;
    close(time_s(&s, m(), 0, flat_rs), flat);
    // node first: 3/4 · 2 GB per GPU over its NIC (8 groups share the node's 376 GB/s
    // = 8 · 47 GB/s), then 7/8 of the 500 MB quarter over NVLink.
    let nf =
        (0.75 * 2e9 / 47e9 + 3.0 * 5e-6 + 5e-6) + (7.0 / 8.0 * 5e8 / 370e9 + 7.0 * 1e-6 + 5e-6);
    close(time_s(&s, m(), 0, node_first), nf);
    // GPU first (cheap, but wrong shards): 7/8 · 2 GB over NVLink, then 3/4 of the
    // 250 MB eighth over the NICs.
    let gf =
        (7.0 / 8.0 * 2e9 / 370e9 + 7.0 * 1e-6 + 5e-6) + (0.75 * 2.5e8 / 47e9 + 3.0 * 5e-6 + 5e-6);
    close(time_s(&s, m(), 0, gpu_first), gf);
    assert!(nf < flat && gf < nf);
    // all_gather: the same figures in reverse, from the 62.5 MB shard.
    let ag_flat = "all_gather(node:data, gpu:data)";
    let ag_gpu_last = "all_gather(gpu:data) ; all_gather(node:data)";
    assert_eq!(run(&s, m(), 1, ag_flat), Ok(()));
    assert_eq!(run(&s, m(), 1, ag_gpu_last), Ok(()));
    assert_eq!(
        run(&s, m(), 1, "all_gather(node:data) ; all_gather(gpu:data)").map_err(|c| c.kind),
        Err(Kind::IllFormed)
    );
    close(time_s(&s, m(), 1, ag_flat), flat);
    close(time_s(&s, m(), 1, ag_gpu_last), nf);
    // The bound: (p − 1)/p · M over the heaviest link class. At the node level a
    // node's 8 NICs share 3/4 · 2 GB (3.99 ms); at the GPU level p = 32 and NVLink
    // carries 31/32 · 2 GB (5.24 ms); plus ⌈log2 4⌉ · 5 us and a launch.
    let p = Placement::new(&s, m()).unwrap();
    let bound = collsynth::cost::lower_bound(&s, &p, &s.requests[0]);
    close(
        bound,
        (31.0 / 32.0 * 2e9 / 370e9 + 2.0 * 5e-6 + 5e-6) * collsynth::cost::BOUND_SLACK,
    );
    assert!(bound <= gf);
    // NCCL's multi-channel ring spreads the crossing traffic over all 8 NICs of a
    // node: it beats every program of the language here.
    let nccl = collsynth::cost::nccl_cost(&s, &p, &s.requests[0], 2_000_000_000).best_s;
    close(
        nccl,
        (31.0f64 / 32.0 * 2e9 / 370e9).max(31.0 / 32.0 * 2e9 * 4.0 / 32.0 / 47e9)
            + (3.0 * 5e-6 + 28.0 * 1e-6)
            + 5e-6,
    );
    assert!(nccl < gf);
}

#[test]
fn hsdp_spec_parses_and_its_flat_steps_are_correct() {
    let s = spec::Spec::load(std::path::Path::new("specs/dgx-h100-x4-hsdp.toml")).unwrap();
    // replica across the nodes, shard on the GPUs.
    let m = || vec![vec![4, 1], vec![1, 8]];
    assert_eq!(run(&s, m(), 0, "reduce_scatter(gpu:shard)"), Ok(()));
    assert_eq!(run(&s, m(), 1, "all_reduce(node:replica)"), Ok(()));
    assert_eq!(run(&s, m(), 2, "all_gather(gpu:shard)"), Ok(()));
    let c = run(
        &s,
        m(),
        0,
        "reduce_scatter(gpu:shard) ; all_reduce(node:replica)",
    )
    .unwrap_err();
    assert_eq!(c.kind, Kind::Extra);
}
