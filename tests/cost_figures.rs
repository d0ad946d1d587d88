//! The cost model against the published figures of specs/systems/*.toml, with every
//! expected time worked out by hand here, in this file's own arithmetic (never by
//! calling the model twice).
//!
//! Figures (sources as cited in the spec files):
//! - DGX A100, measured: gpu 235 GB/s (nccl-tests issues 175, 119, 100: 232–235 GB/s
//!   all_reduce busbw on 8 GPUs), node 100 GB/s (same issues: 86–96 GB/s across nodes,
//!   rounded); latency 1 us per NVLink hop, 5 us per network step (NVIDIA/nccl
//!   src/graph/tuning.cc order of magnitude); launch 5 us.
//! - DGX A100, physical (datasheet): gpu 300 GB/s per GPU per direction, node
//!   8 × 200 Gb/s HDR = 200 GB/s.
//! - GCP a2-megagpu-16g (cloud.google.com GPU network bandwidth): 100 Gb/s =
//!   12.5 GB/s per VM; 16 A100s on NVSwitch at the DGX A100 measured 235 GB/s.

mod support;

use collsynth::cost::{busbw_gbs, lower_bound, program_cost, step_cost};
use collsynth::placement::Placement;
use collsynth::program::{parse_program, Collective};
use collsynth::source::Source;
use collsynth::spec::{self, Spec};

const GB: f64 = 1e9;
const US: f64 = 1e-6;

/// A spec file of specs/.
fn load(file: &str) -> Spec {
    support::load(format!("specs/{file}"))
}

/// A spec from text, resolving `system = "systems/..."` against specs/.
fn inline(text: &str) -> Spec {
    spec::parse(
        &Source::new("<test>", text),
        Some(&support::root().join("specs")),
    )
    .expect("inline spec is valid")
}

fn time(spec: &Spec, placement: &Placement, program: &str, bytes: u64) -> f64 {
    let p = parse_program(spec, program).expect("program parses");
    program_cost(spec, placement, &p, bytes).total_s
}

fn assert_close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs(),
        "{what}: model says {got}, hand computation {want}"
    );
}

const HIER: &str = "reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)";
const FLAT: &str = "all_reduce(node:data, gpu:data)";

#[test]
fn one_dgx_a100_node_busbw_matches_the_measured_figure() {
    let spec = inline(
        r#"
axes = [ { name = "data", size = 8 } ]
[system]
name = "1 x DGX A100"
launch = "5 us"
levels = [ { name = "gpu", arity = 8, bandwidth = "235 GB/s", latency = "1 us" } ]
"#,
    );
    let p = Placement::new(&spec, vec![vec![8]]).unwrap();
    let t = time(&spec, &p, "all_reduce(gpu:data)", 1_000_000_000);
    // Ring over 8: each GPU link carries 2·7/8 GB; 14 hops of 1 us; one launch.
    let want = 2.0 * 7.0 / 8.0 * GB / (235.0 * GB) + 14.0 * US + 5.0 * US;
    assert_close(t, want, "1 GB all_reduce on 8 GPUs");
    let busbw = busbw_gbs(Collective::AllReduce, 8, 1_000_000_000, t);
    // busbw = (1 GB / t) · 2·7/8 ≈ 234.4 GB/s against the measured 232–235 GB/s.
    assert!((busbw - 235.0).abs() <= 0.1 * 235.0, "busbw {busbw} GB/s");
    assert!((busbw - 1.75 / want).abs() < 1e-6);
}

/// Hand-computed times of the flat ring and the hierarchy on 2 nodes × 8 GPUs,
/// data = 16 over both levels, for node bandwidth `bn` and gpu bandwidth `bg`.
fn dgx_x2_by_hand(bn: f64, bg: f64) -> (f64, f64) {
    let m = GB;
    // Flat ring over 16: one edge leaves each node (G = 1), 2·15/16 M per edge; the
    // node link is the bottleneck when bn < bg. 30 hops at the node latency (5 us).
    let flat =
        (2.0 * 15.0 / 16.0 * m / bn).max(2.0 * 15.0 / 16.0 * m / bg) + 30.0 * 5.0 * US + 5.0 * US;
    // reduce_scatter over the 8 GPUs: 7/8 M per GPU link, 7 hops of 1 us.
    let rs = 7.0 / 8.0 * m / bg + 7.0 * US + 5.0 * US;
    // all_reduce over the 2 nodes of the M/8 shard: 2·1/2·M/8 per edge, 8 concurrent
    // rings share each node link; each GPU link carries one edge. 2 hops of 5 us.
    let ar = (m / 8.0 * 8.0 / bn).max(m / 8.0 / bg) + 2.0 * 5.0 * US + 5.0 * US;
    // all_gather back: (8−1) · M/8 per GPU link.
    let ag = 7.0 * (m / 8.0) / bg + 7.0 * US + 5.0 * US;
    (flat, rs + ar + ag)
}

#[test]
fn dgx_a100_x2_measured_figures_favour_the_hierarchy() {
    let spec = load("dgx-a100-x2-dp16.toml");
    let p = Placement::new(&spec, vec![vec![2, 8]]).unwrap();
    let flat = time(&spec, &p, FLAT, 1_000_000_000);
    let hier = time(&spec, &p, HIER, 1_000_000_000);
    let (want_flat, want_hier) = dgx_x2_by_hand(100.0 * GB, 235.0 * GB);
    assert_close(flat, want_flat, "flat ring, measured");
    assert_close(hier, want_hier, "hierarchy, measured");
    // 18.905 ms / 17.486 ms = 1.081: the hierarchy wins by about 8 %.
    assert!((flat / hier - 1.081).abs() < 0.001, "ratio {}", flat / hier);
    // The lower bound: p = 2 nodes, G = 1, 2·1/2 · 1 GB / 100 GB/s = 10 ms.
    let req = &spec.requests[0];
    assert_close(lower_bound(&spec, &p, req), GB / (100.0 * GB), "bound");
}

#[test]
fn dgx_a100_x2_physical_figures_favour_the_flat_ring() {
    let spec = inline(
        r#"
axes = [ { name = "data", size = 16 } ]
system = "systems/dgx-a100-x2-physical.toml"
"#,
    );
    let p = Placement::new(&spec, vec![vec![2, 8]]).unwrap();
    let flat = time(&spec, &p, FLAT, 1_000_000_000);
    let hier = time(&spec, &p, HIER, 1_000_000_000);
    let (want_flat, want_hier) = dgx_x2_by_hand(200.0 * GB, 300.0 * GB);
    assert_close(flat, want_flat, "flat ring, physical");
    assert_close(hier, want_hier, "hierarchy, physical");
    // 9.530 ms vs 10.872 ms: at line rate the flat ring is 1.141× faster.
    assert!((hier / flat - 1.141).abs() < 0.001, "ratio {}", hier / flat);
}

#[test]
fn gcp_a2_megagpu_x2_hierarchy_beats_the_flat_ring() {
    let spec = load("gcp-a2-megagpu-16g-x2-dp32.toml");
    let p = Placement::new(&spec, vec![vec![2, 16]]).unwrap();
    let flat = time(&spec, &p, "all_reduce(vm:data, gpu:data)", 1_000_000_000);
    let hier = time(
        &spec,
        &p,
        "reduce_scatter(gpu:data) ; all_reduce(vm:data) ; all_gather(gpu:data)",
        1_000_000_000,
    );
    let (vm, gpu) = (12.5 * GB, 235.0 * GB);
    // Flat ring over 32: 2·31/32 GB leaves each VM; 62 hops of 5 us.
    let want_flat = 2.0 * 31.0 / 32.0 * GB / vm + 62.0 * 5.0 * US + 5.0 * US;
    // 15/16 GB per GPU link for each of reduce_scatter and all_gather (15 hops of
    // 1 us); the 16 shard rings of GB/16 share each VM link: 16 · GB/16 = 1 GB.
    let rs = 15.0 / 16.0 * GB / gpu + 15.0 * US + 5.0 * US;
    let ar = 16.0 * (GB / 16.0) / vm + 2.0 * 5.0 * US + 5.0 * US;
    let want_hier = rs + ar + rs;
    assert_close(flat, want_flat, "flat");
    assert_close(hier, want_hier, "hierarchy");
    // 155.315 ms / 88.034 ms = 1.764.
    assert!((flat / hier - 1.764).abs() < 0.001, "ratio {}", flat / hier);
}

#[test]
fn gcp_a2_megagpu_x2_keeping_data_inside_a_vm() {
    let spec = inline(
        r#"
axes = [ { name = "data", size = 16 }, { name = "model", size = 2 } ]
system = "systems/gcp-a2-megagpu-16g-x2.toml"
[[request]]
collective = "all_reduce"
axes = ["data"]
bytes = "1 GB"
"#,
    );
    let (vm, gpu) = (12.5 * GB, 235.0 * GB);
    let inside = Placement::new(&spec, vec![vec![1, 16], vec![2, 1]]).unwrap();
    let spread = Placement::new(&spec, vec![vec![2, 8], vec![1, 2]]).unwrap();
    let t_inside = time(&spec, &inside, "all_reduce(gpu:data)", 1_000_000_000);
    let t_spread = time(
        &spec,
        &spread,
        FLAT.replace("node", "vm").as_str(),
        1_000_000_000,
    );
    let t_hier = time(
        &spec,
        &spread,
        "reduce_scatter(gpu:data) ; all_reduce(vm:data) ; all_gather(gpu:data)",
        1_000_000_000,
    );
    // Inside one VM: a ring over 16 GPUs, 2·15/16 GB per GPU link, 30 hops of 1 us.
    let want_inside = 2.0 * 15.0 / 16.0 * GB / gpu + 30.0 * US + 5.0 * US;
    // Spread: the same ring edge leaves each VM once per ring, and the 2 model
    // coordinates of each VM run their own rings: 2 · 2·15/16 GB per VM link.
    let want_spread = 2.0 * 2.0 * 15.0 / 16.0 * GB / vm + 30.0 * 5.0 * US + 5.0 * US;
    // Hierarchy on the spread placement: 7/8 GB per GPU link twice (7 hops), and
    // 8 gpu:data × 2 model = 16 shard rings of GB/8 per VM link.
    let rs = 7.0 / 8.0 * GB / gpu + 7.0 * US + 5.0 * US;
    let ar = 16.0 * (GB / 8.0) / vm + 2.0 * 5.0 * US + 5.0 * US;
    let want_hier = rs + ar + rs;
    assert_close(t_inside, want_inside, "inside");
    assert_close(t_spread, want_spread, "spread, flat");
    assert_close(t_hier, want_hier, "spread, hierarchical");
    // Spreading data over the VMs costs 300.155 / 8.014 = 37.46× ...
    assert!(
        (t_spread / t_inside - 37.46).abs() < 0.01,
        "{}",
        t_spread / t_inside
    );
    // ... and the hierarchy wins back 300.155 / 167.486 = 1.792× of it.
    assert!(
        (t_spread / t_hier - 1.792).abs() < 0.001,
        "{}",
        t_spread / t_hier
    );
    // The bound on the spread placement: p = 2 VMs, G = 2 model rings per VM:
    // 2·1/2 · 1 GB · 2 / 12.5 GB/s = 160 ms, which the hierarchy's VM step meets.
    let req = &spec.requests[0];
    assert_close(
        lower_bound(&spec, &spread, req),
        2.0 * GB / vm,
        "bound, spread",
    );
    // Inside: p = 16 GPUs at the gpu level, G = 1: 2·15/16 GB / 235 GB/s.
    assert_close(
        lower_bound(&spec, &inside, req),
        2.0 * 15.0 / 16.0 * GB / gpu,
        "bound, inside",
    );
}

#[test]
fn at_4_kb_latency_and_launch_decide_the_ranking() {
    let spec = load("dgx-a100-x2-dp16.toml");
    let p = Placement::new(&spec, vec![vec![2, 8]]).unwrap();
    let m = 4000.0; // "4 KB" (decimal, as the spec files' units)
    let (node, gpu) = (100.0 * GB, 235.0 * GB);
    let launch = 5.0 * US;
    // 1. Flat ring over 16: 30 hops at 5 us.
    let flat = 2.0 * 15.0 / 16.0 * m / node + 30.0 * 5.0 * US + launch;
    // 2. all_reduce(gpu) ; all_reduce(node): 14 hops at 1 us, then 2 at 5 us with
    //    8 rings of m per node link.
    let two_ar = (2.0 * 7.0 / 8.0 * m / gpu + 14.0 * US + launch)
        + (8.0 * m / node + 2.0 * 5.0 * US + launch);
    // 3. reduce ; all_reduce @ roots ; broadcast: chains of 7 hops at 1 us carrying
    //    m; one ring of m per node link.
    let chain = m / gpu + 7.0 * US + launch;
    let rab = chain + (m / node + 2.0 * 5.0 * US + launch) + chain;
    // 4. reduce_scatter ; all_reduce ; all_gather: 7/8 m and 7 · m/8 per GPU link,
    //    8 rings of m/8 per node link.
    let rs = 7.0 / 8.0 * m / gpu + 7.0 * US + launch;
    let hier = rs + (8.0 * (m / 8.0) / node + 2.0 * 5.0 * US + launch) + rs;
    let cases = [
        (FLAT, flat),
        ("all_reduce(gpu:data) ; all_reduce(node:data)", two_ar),
        (
            "reduce(gpu:data) ; all_reduce(node:data) @ roots(gpu:data) ; broadcast(gpu:data)",
            rab,
        ),
        (HIER, hier),
    ];
    for (text, want) in cases {
        assert_close(time(&spec, &p, text, 4000), want, text);
    }
    // The ranking: two all_reduces (34.35 us) < the hierarchy (39.070 us) < reduce /
    // all_reduce / broadcast (39.074 us) < the flat ring (155.08 us).
    assert!(two_ar < hier && hier < rab && rab < flat);
    assert!((two_ar - 34.35 * US).abs() < 0.01 * US);
    assert!((flat - 155.08 * US).abs() < 0.01 * US);
}

#[test]
fn step_cost_reports_levels_and_bottleneck() {
    let spec = load("dgx-a100-x2-dp16.toml");
    let p = Placement::new(&spec, vec![vec![2, 8]]).unwrap();
    let prog = parse_program(&spec, HIER).unwrap();
    // The all_reduce over nodes of a GB/8 shard: 8 rings of GB/8 leave each node
    // (1 GB on the node link), one edge of GB/8 per GPU link.
    let s = step_cost(&spec, &p, &prog.steps[1], GB / 8.0);
    assert_eq!(s.bytes_per_level, vec![GB, GB / 8.0]);
    assert_eq!(s.bottleneck, Some(0));
    assert_close(s.bandwidth_s, GB / (100.0 * GB), "bandwidth term");
    assert_close(s.latency_s, 2.0 * 5.0 * US, "latency term");
    assert_eq!(s.launch_s, 5.0 * US);
    // The reduce_scatter touches no node link.
    let s0 = step_cost(&spec, &p, &prog.steps[0], GB);
    assert_eq!(s0.bytes_per_level[0], 0.0);
    assert_eq!(s0.bottleneck, Some(1));
}
