//! The cost of a pipelined program: the buffer cut into `C` equal chunks, every chunk
//! running the whole program, step `s` of chunk `k` overlapping step `s − 1` of chunk
//! `k + 1` (docs/cost-model.md, "Pipelining").
//!
//! **Windows.** With `S` steps the run is `C + S − 1` windows; window `w` runs step `s`
//! of chunk `w − s` for every `s` with `0 ≤ w − s < C`. A window ends when its slowest
//! part does (a synchronous wavefront, which never predicts less time than an
//! asynchronous schedule would take):
//!
//! `window = max_l (Σ_active load_{s,l} / C) / B_l + max_active latency_s + Σ_active launch`
//!
//! - every byte is still charged to every link it crosses: concurrent steps that use
//!   the same level add their loads on it (the heaviest link of each, which is exact
//!   for dim-structured steps without roots, whose level-`l` links all carry the same
//!   load, and an upper bound otherwise);
//! - a chunk pays each step's full latency (the hops do not shrink with the bytes);
//!   concurrent chains wait at once, so a window pays the longest;
//! - every step of every chunk is one collective call, issued by one host thread: the
//!   launches of a window add up, so very large `C` pays `C × S` launches.
//!
//! With `C = 1` every window is one step and the figure is the plain program's,
//! bit for bit. The model assumes concurrent collectives do not slow each other down
//! except on shared links (enough SMs, separate streams, copy engines); it ignores
//! the memory traffic of the reductions themselves.

use super::{bottleneck, ProgramCost};
use crate::spec::{Request, Spec};

/// The largest chunk count [`best_chunks`] tries.
pub const MAX_CHUNKS: u64 = 1024;

/// A pipelined program's predicted time.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineCost {
    /// The chunk count `C`.
    pub chunks: u64,
    /// Σ over the windows.
    pub total_s: f64,
    /// Σ over the windows of their bandwidth terms.
    pub bandwidth_s: f64,
    /// Σ over the windows of their latency terms.
    pub latency_s: f64,
    /// Σ over the windows of their launches (`C × S` calls in all).
    pub launch_s: f64,
    /// The copy of the program's relayout on the whole buffer (0 without one); with
    /// `C > 1` it is spread over the windows, `1/C` per chunk.
    pub relayout_s: f64,
}

/// The time of one window running the stages `first..=last`, each on `1/chunks` of
/// its bytes: (bandwidth, latency, launch). Stage `i` is step `i − lead`; with a
/// relayout (`lead` = 1) stage 0 is its copy, which uses no link: the window's
/// bandwidth term is the slower of its links and the copy's share.
fn window(
    spec: &Spec,
    cost: &ProgramCost,
    lead: usize,
    (first, last): (usize, usize),
    chunks: f64,
) -> [f64; 3] {
    let levels = &spec.system.levels;
    let mut loads = vec![0.0; levels.len()];
    let mut device = vec![0.0; levels.len()];
    let (mut latency, mut launch) = (0.0f64, 0.0);
    let copy = match &cost.relayout {
        Some(r) if lead == 1 && first == 0 => r.time_s / chunks,
        _ => 0.0,
    };
    let steps: &[super::StepCost] = if last < lead {
        &[]
    } else {
        &cost.steps[first.max(lead) - lead..=last - lead]
    };
    for step in steps {
        for (l, (load, dev)) in loads.iter_mut().zip(device.iter_mut()).enumerate() {
            *load += step.bytes_per_level[l] / chunks;
            *dev += step.device_bytes_per_level[l] / chunks;
        }
        latency = latency.max(step.latency_s);
        launch += step.launch_s;
    }
    let (_, bandwidth) = bottleneck(&loads, &device, levels);
    [bandwidth.max(copy), latency, launch]
}

/// The cost of `cost`'s program (the plain program's step costs on the whole buffer)
/// run as `chunks ≥ 1` pipelined chunks. A relayout is one more stage, the copy of
/// each chunk's blocks as it is packed (before the steps of a reduce_scatter
/// program, after those of an all_gather one: the windows' total is the same
/// either way, since reversing the stages reverses the windows), overlapping other
/// chunks' steps; with `C = 1` it runs alone, as in the plain program.
pub fn pipelined_cost(spec: &Spec, cost: &ProgramCost, chunks: u64) -> PipelineCost {
    let chunks = chunks.max(1);
    if chunks == 1 {
        return plain_cost(cost);
    }
    let lead = usize::from(cost.relayout.is_some());
    let s = (cost.steps.len() + lead) as u64;
    let c = chunks as f64;
    let mut parts: Vec<([f64; 3], u64)> = Vec::new();
    if s > 0 {
        let active = |w: u64| (w.saturating_sub(chunks - 1), w.min(s - 1));
        let windows = chunks + s - 1;
        let mut w = 0;
        while w < windows {
            let (first, last) = active(w);
            // With C ≥ S the windows S−1..=C−1 all run every step: price one, count them.
            let same = if first == 0 && last == s - 1 && chunks >= s {
                chunks - s + 1
            } else {
                1
            };
            let stages = (first as usize, last as usize);
            parts.push((window(spec, cost, lead, stages, c), same));
            w += same;
        }
    }
    let sum = |i: usize| -> f64 { parts.iter().map(|(t, n)| t[i] * *n as f64).sum() };
    let total_s: f64 = parts
        .iter()
        .map(|(t, n)| (t[0] + t[1] + t[2]) * *n as f64)
        .sum();
    PipelineCost {
        chunks,
        total_s,
        bandwidth_s: sum(0),
        latency_s: sum(1),
        launch_s: sum(2),
        relayout_s: super::RelayoutCost::time(&cost.relayout),
    }
}

/// The plain program as a pipeline of one chunk: its steps one after another, then
/// its relayout, added in the order [`ProgramCost`] adds them (bit for bit).
fn plain_cost(cost: &ProgramCost) -> PipelineCost {
    let sum = |f: fn(&super::StepCost) -> f64| cost.steps.iter().map(f).sum::<f64>();
    PipelineCost {
        chunks: 1,
        total_s: cost.total_s,
        bandwidth_s: sum(|s| s.bandwidth_s),
        latency_s: sum(|s| s.latency_s),
        launch_s: sum(|s| s.launch_s),
        relayout_s: super::RelayoutCost::time(&cost.relayout),
    }
}

/// The atoms each chunk of a pipelined program for `request` must cut whole, for a
/// program of `program_atoms` atoms ([`crate::lowered::program_atoms`]). For
/// reduce_scatter and all_gather chunk `k` is the `k`-th `1/C` of every shard
/// (docs/design.md, §3.6), so the chunk must also cut every one of the `G` shards:
/// `lcm(program_atoms, G)`; for all_reduce the program's atoms. The one rule that
/// synthesis, `verify` and `cost` apply to a chunk count, with [`chunks_fit`] on the
/// whole buffer's bytes.
pub fn chunk_atoms(spec: &Spec, request: &Request, program_atoms: u64) -> u64 {
    if request.collective.is_sharded() {
        crate::number::lcm(program_atoms, request.shards(spec))
    } else {
        program_atoms
    }
}

/// Whether `chunks` cuts a buffer of `bytes` into equal chunks of whole atoms.
pub fn chunks_fit(bytes: u64, atoms: u64, chunks: u64) -> bool {
    chunks >= 1
        && atoms >= 1
        && chunks
            .checked_mul(atoms)
            .is_some_and(|n| bytes.is_multiple_of(n))
}

/// The fastest chunk count among the powers of two up to [`MAX_CHUNKS`] that cut
/// `bytes` into whole atoms ([`chunks_fit`]); a tie keeps the smaller count, so the
/// plain program (`C = 1`) wins unless pipelining is strictly faster.
pub fn best_chunks(spec: &Spec, cost: &ProgramCost, bytes: u64, atoms: u64) -> PipelineCost {
    let mut best = pipelined_cost(spec, cost, 1);
    let mut c = 2;
    while c <= MAX_CHUNKS && chunks_fit(bytes, atoms, c) {
        let p = pipelined_cost(spec, cost, c);
        if p.total_s < best.total_s {
            best = p;
        }
        c *= 2;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::program_cost;
    use crate::placement::Placement;
    use crate::program::parse_program;
    use crate::source::Source;

    const SPEC: &str = r#"axes = [ { name = "data", size = 8 } ]
[system]
name = "2 x 4-GPU nodes"
launch = "5 us"
levels = [ { name = "node", arity = 2, bandwidth = "25 GB/s", latency = "5 us" },
           { name = "gpu", arity = 4, bandwidth = "100 GB/s", latency = "1 us" } ]
[[request]]
collective = "all_reduce"
axes = ["data"]
bytes = "1 GB"
"#;

    fn hierarchical(bytes: u64) -> (Spec, ProgramCost) {
        let spec = crate::spec::parse(&Source::new("t.toml", SPEC), None).unwrap();
        let p = Placement::new(&spec, vec![vec![2, 4]]).unwrap();
        let prog = parse_program(
            &spec,
            "reduce_scatter(gpu:data) ; all_reduce(node:data) ; all_gather(gpu:data)",
        )
        .unwrap();
        let cost = program_cost(&spec, &p, &prog, bytes);
        (spec, cost)
    }

    #[test]
    fn one_chunk_is_the_plain_program_bit_for_bit() {
        for bytes in [4096, 1 << 20, 1 << 30] {
            let (spec, cost) = hierarchical(bytes);
            let p = pipelined_cost(&spec, &cost, 1);
            assert_eq!(p.total_s, cost.total_s);
            assert_eq!(p.chunks, 1);
        }
    }

    #[test]
    fn large_buffers_pipeline_and_small_ones_do_not() {
        let (spec, cost) = hierarchical(1 << 30);
        let best = best_chunks(&spec, &cost, 1 << 30, 4);
        assert!(best.chunks > 1, "{best:?}");
        assert!(
            best.total_s < 0.8 * cost.total_s,
            "{best:?} vs {}",
            cost.total_s
        );
        // At 4 KB every extra chunk costs more launches than it saves.
        let (spec, cost) = hierarchical(4096);
        assert_eq!(best_chunks(&spec, &cost, 4096, 4).chunks, 1);
    }

    #[test]
    fn pipelining_never_goes_below_the_lower_bound() {
        let (spec, _) = hierarchical(1);
        let p = Placement::new(&spec, vec![vec![2, 4]]).unwrap();
        for bytes in [1u64 << 12, 1 << 20, 1 << 26, 1 << 30] {
            let (_, cost) = hierarchical(bytes);
            let mut request = spec.requests[0].clone();
            request.bytes = bytes;
            let bound = crate::cost::lower_bound(&spec, &p, &request);
            for c in [1u64, 2, 8, 64, 1024] {
                let t = pipelined_cost(&spec, &cost, c).total_s;
                assert!(t >= bound, "{bytes} B, C = {c}: {t} < bound {bound}");
            }
            // The hierarchical all-reduce runs 1.38x its bound plain at 64 MB and 1 GB;
            // pipelined it comes within 15% (C = 8: 1.12x; C = 32: 1.03x).
            if bytes >= 1 << 26 {
                let best = best_chunks(&spec, &cost, bytes, 4);
                assert!(cost.total_s > 1.3 * bound);
                assert!(best.total_s <= 1.15 * bound, "{bytes} B: {best:?}");
            }
        }
    }

    #[test]
    fn the_steady_state_shortcut_equals_window_by_window() {
        let (spec, cost) = hierarchical(1 << 30);
        for c in [1u64, 2, 3, 4, 7, 64] {
            let p = pipelined_cost(&spec, &cost, c);
            let s = cost.steps.len() as u64;
            let mut total = 0.0;
            for w in 0..c + s - 1 {
                let first = w.saturating_sub(c - 1) as usize;
                let last = w.min(s - 1) as usize;
                let t = window(&spec, &cost, 0, (first, last), c as f64);
                total += t[0] + t[1] + t[2];
            }
            assert!((p.total_s - total).abs() <= 1e-12 * total, "C = {c}");
            // Launches: C × S calls.
            assert!((p.launch_s - (c * s) as f64 * 5e-6).abs() < 1e-12);
        }
    }

    #[test]
    fn chunks_must_cut_whole_atoms() {
        assert!(chunks_fit(1024, 4, 256));
        assert!(!chunks_fit(1024, 4, 512));
        assert!(!chunks_fit(1024, 3, 2));
        assert!(!chunks_fit(u64::MAX, u64::MAX, 2));
    }
}
