//! An independent check of the cost model: programs run through SimGrid's SMPI, a
//! published flow-level network simulator, on a platform generated from the spec, and
//! the simulated times compared with the model's predictions (docs/cost-model.md,
//! "SimGrid check").
//!
//! The model and SimGrid share the links (one full-duplex link per subtree per level,
//! [`platform`]) and the algorithms' shape (rings in rank order, chains towards or
//! away from the first member), but nothing else: SimGrid shares every link among the
//! flows crossing it by max-min fairness over time, the rings are point-to-point
//! rounds run by the generated program ([`cprog`]) and the chains SMPI's own
//! segmented pipelines (reduce and broadcast), and a program's tasks (a step on a
//! chunk) start as soon as their inputs are ready on each rank, with no window
//! boundaries: plain programs run their steps back to back, each rank starting its
//! next step when its part of the last one is done; pipelined ones overlap chunks
//! asynchronously. SMPI's own calibration factors are switched off ([`smpi_flags`])
//! so that a link delivers its bandwidth and latency as given. The model's per-call
//! `launch` is added to the simulated time once per task (SMPI has no call cost).

pub mod cprog;
pub mod platform;
pub mod report;

use std::path::Path;
use std::process::Command;

use crate::cost;
use crate::lowered;
use crate::placement::Placement;
use crate::program::{Collective, Program};
use crate::spec::{Request, Spec};
use cprog::{CProgram, CStep};

/// The largest system simulated (routes grow with the square of the devices).
pub const MAX_DEVICES: u64 = 256;

/// Relative difference below which two times count as tied.
pub const TIE: f64 = 1e-3;

/// The SMPI configuration every run uses: the flow model without SimGrid's empirical
/// factors (CM02: max-min sharing, no TCP window cap, no reverse-direction ACK
/// traffic), SMPI's message-size factors off, computation not timed, one buffer for
/// every rank (`SMPI_SHARED_MALLOC` shared by call site: folding a gigabyte per rank
/// would exceed the kernel's map count), and the chain
/// algorithms closest to the model's (segmented pipelines; the rings are the
/// generated program's own).
pub fn smpi_flags() -> Vec<&'static str> {
    vec![
        "--cfg=network/model:CM02",
        "--cfg=network/crosstraffic:0",
        "--cfg=network/TCP-gamma:0",
        "--cfg=smpi/bw-factor:0:1",
        "--cfg=smpi/lat-factor:0:1",
        "--cfg=smpi/simulate-computation:no",
        "--cfg=smpi/host-speed:1e9",
        "--cfg=smpi/shared-malloc:local",
        "--cfg=smpi/reduce:ompi_pipeline",
        "--cfg=smpi/bcast:ompi_pipeline",
        "--log=root.thres:critical",
    ]
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A tool is missing or failed to start.
    #[error("{0}")]
    Tool(String),
    /// The simulation ran and failed, or printed something unexpected.
    #[error("{0}")]
    Failed(String),
    /// The problem is outside what is simulated.
    #[error("{0}")]
    Unsupported(String),
}

/// One program's prediction and simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramSim {
    /// Canonical text.
    pub text: String,
    /// Its rank in synthesis' ranking (`None`: the flat ring, added for comparison).
    pub synth_rank: Option<usize>,
    /// Steps.
    pub steps: usize,
    /// Chunks it ran over (1: plain).
    pub chunks: u64,
    /// The model's time at the simulated size.
    pub predicted_s: f64,
    /// SimGrid's time plus `launch` per task (chunk × step).
    pub simulated_s: f64,
}

/// How two rankings agree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agreement {
    /// Pairs ordered the same way by both (neither tied).
    pub concordant: usize,
    /// Pairs ordered oppositely.
    pub discordant: usize,
    /// Pairs tied (within [`TIE`]) in either ranking.
    pub tied: usize,
    /// Kendall's tau-a over all pairs: (concordant − discordant) / pairs (`None` with
    /// fewer than two programs).
    pub kendall_tau: Option<f64>,
    /// Whether the model's best program is also SimGrid's best (within [`TIE`]).
    pub top1: bool,
}

fn tied(a: f64, b: f64) -> bool {
    (a - b).abs() <= TIE * a.abs().max(b.abs())
}

/// The agreement of two rankings of the same programs.
pub fn agreement(predicted: &[f64], simulated: &[f64]) -> Agreement {
    let n = predicted.len();
    let (mut c, mut d, mut t) = (0, 0, 0);
    for i in 0..n {
        for j in i + 1..n {
            if tied(predicted[i], predicted[j]) || tied(simulated[i], simulated[j]) {
                t += 1;
            } else if (predicted[i] < predicted[j]) == (simulated[i] < simulated[j]) {
                c += 1;
            } else {
                d += 1;
            }
        }
    }
    let pairs = n * n.saturating_sub(1) / 2;
    let best_pred = (0..n).min_by(|&a, &b| predicted[a].total_cmp(&predicted[b]));
    let best_sim = simulated.iter().copied().fold(f64::INFINITY, f64::min);
    Agreement {
        concordant: c,
        discordant: d,
        tied: t,
        kendall_tau: (pairs > 0).then(|| (c as f64 - d as f64) / pairs as f64),
        top1: best_pred.is_some_and(|i| simulated[i] <= best_sim * (1.0 + TIE)),
    }
}

/// The simulated size of `request`'s whole buffer: `bytes` rounded down to whole
/// floats that every chunk of every program cuts into whole atoms (and shards:
/// [`cost::chunk_atoms`]) and whole ring blocks (at least one such unit).
pub fn simulated_bytes(
    spec: &Spec,
    request: &Request,
    placement: &Placement,
    programs: &[(&Program, u64)],
    bytes: u64,
) -> u64 {
    let unit = programs.iter().fold(1u64, |u, &(p, chunks)| {
        let atoms =
            chunks * cost::chunk_atoms(spec, request, crate::lowered::program_atoms(placement, p));
        p.steps.iter().fold(crate::number::lcm(u, atoms), |u, st| {
            let members = match st.op {
                Collective::AllReduce | Collective::ReduceScatter => {
                    lowered::lower_step(placement, st)
                        .first()
                        .map_or(1, |g| g.len() as u64)
                }
                _ => 1,
            };
            crate::number::lcm(u, atoms * members)
        })
    });
    let floats = (bytes / 4 / unit).max(1) * unit;
    floats * 4
}

/// The steps of a program as the C program runs them, for a buffer of `bytes`.
fn c_steps(
    spec: &Spec,
    request: &Request,
    placement: &Placement,
    program: &Program,
    bytes: u64,
) -> Vec<CStep> {
    let cost = cost::program_cost(
        spec,
        placement,
        program,
        cost::program_bytes(spec, request, bytes),
    );
    let low = lowered::lower(placement, program);
    low.steps
        .iter()
        .zip(&cost.steps)
        .map(|(ls, sc)| {
            let mut color = vec![-1i64; spec.devices() as usize];
            for (g, members) in ls.groups.iter().enumerate() {
                for &r in members {
                    color[r as usize] = g as i64;
                }
            }
            CStep {
                op: ls.collective,
                count: (sc.bytes_in / 4.0).round() as u64,
                members: ls.groups.first().map_or(1, |g| g.len() as u64),
                color,
            }
        })
        .collect()
}

/// Compiles and runs `request`'s programs, each over its chunk count, under SMPI, for
/// a whole buffer of `bytes`; returns SimGrid's time of each (without launches or
/// relayouts). `keep` writes the C source, platform and host file there as well.
pub fn run_smpi(
    spec: &Spec,
    request: &Request,
    placement: &Placement,
    programs: &[(&Program, u64)],
    bytes: u64,
    keep: Option<&Path>,
) -> Result<Vec<f64>, SimError> {
    let devices = spec.devices();
    if devices > MAX_DEVICES {
        return Err(SimError::Unsupported(format!(
            "the system has {devices} devices; simulate handles at most {MAX_DEVICES} (its routes grow with the square of the devices)"
        )));
    }
    if let Some((p, _)) = programs
        .iter()
        .find(|(p, _)| p.steps.iter().any(|s| s.tree))
    {
        return Err(SimError::Unsupported(format!(
            "`{}` has a tree step: the simulated program runs rings and chains only",
            p.text(spec)
        )));
    }
    let steps: Vec<CProgram> = programs
        .iter()
        .map(|&(p, chunks)| CProgram {
            chunks,
            steps: c_steps(spec, request, placement, p, bytes),
        })
        .collect();
    for ((p, _), c) in programs.iter().zip(&steps) {
        cprog::runnable(c).map_err(|e| {
            SimError::Unsupported(format!("`{}` over {} chunks: {e}", p.text(spec), c.chunks))
        })?;
    }
    if steps
        .iter()
        .flat_map(|p| &p.steps)
        .any(|s| s.count > i32::MAX as u64)
    {
        return Err(SimError::Unsupported(
            "the buffer is too large to simulate; give a smaller --bytes".into(),
        ));
    }
    let dir = tempfile::Builder::new()
        .prefix("collsynth-simulate-")
        .tempdir()
        .map_err(|e| SimError::Tool(format!("cannot create a temporary directory: {e}")))?;
    let d = dir.path();
    let source = cprog::c_source(devices, &steps);
    let xml = platform::platform_xml(&spec.system);
    let hosts: String = (0..devices).map(|r| format!("d{r}\n")).collect();
    for (dest, name, text) in [
        (d, "programs.c", &source),
        (d, "platform.xml", &xml),
        (d, "hostfile", &hosts),
    ] {
        std::fs::write(dest.join(name), text)
            .map_err(|e| SimError::Tool(format!("cannot write {name}: {e}")))?;
        if let Some(k) = keep {
            std::fs::create_dir_all(k)
                .and_then(|()| std::fs::write(k.join(name), text))
                .map_err(|e| {
                    SimError::Tool(format!("cannot write {}: {e}", k.join(name).display()))
                })?;
        }
    }
    let out = Command::new("smpicc")
        .current_dir(d)
        .args(["-O1", "programs.c", "-o", "programs"])
        .output()
        .map_err(|e| {
            SimError::Tool(format!(
                "cannot run smpicc: {e}; install SimGrid (Debian: apt-get install libsimgrid-dev; scripts/setup does)"
            ))
        })?;
    if !out.status.success() {
        return Err(SimError::Failed(format!(
            "smpicc failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let np = devices.to_string();
    let mut args = vec![
        "-np",
        &np,
        "-platform",
        "platform.xml",
        "-hostfile",
        "hostfile",
    ];
    args.extend(smpi_flags());
    args.push("./programs");
    let out = Command::new("smpirun")
        .current_dir(d)
        .args(&args)
        .output()
        .map_err(|e| {
            SimError::Tool(format!(
                "cannot run smpirun: {e}; install SimGrid (libsimgrid-dev)"
            ))
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(SimError::Failed(format!(
            "smpirun failed ({}):\n{}\n{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let mut times = vec![None; programs.len()];
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix(cprog::RESULT_TAG) {
            let mut w = rest.split_whitespace();
            if let (Some(Ok(p)), Some(Ok(t))) = (
                w.next().map(str::parse::<usize>),
                w.next().map(str::parse::<f64>),
            ) {
                if let Some(slot) = times.get_mut(p) {
                    *slot = Some(t);
                }
            }
        }
    }
    times
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            t.ok_or_else(|| {
                SimError::Failed(format!(
                    "smpirun printed no time for program {i}:\n{stdout}"
                ))
            })
        })
        .collect()
}

/// The chunk count a program is simulated with: its own, unless it holds a chain,
/// which SMPI's blocking chains cannot overlap ([`cprog::runnable`]), or a relayout,
/// a local copy SimGrid does not run (the model's figure is added to both sides):
/// then plain.
pub fn simulated_chunks(program: &Program, chunks: u64) -> u64 {
    let chain = program.steps.iter().any(|s| cprog::is_chain(s.op));
    if chain || !program.layout.is_empty() {
        1
    } else {
        chunks.max(1)
    }
}

/// Predicts and simulates programs, each over its chunk count (already ranked by
/// synthesis; `synth_rank` says which are), at `bytes`, and measures the rankings'
/// agreement. A pipelined program is predicted by the window model
/// (docs/cost-model.md, §14) and simulated asynchronously ([`cprog`]); both add
/// `launch` once per task, `C × S` in all, and a plain program's relayout adds the
/// model's copy to the simulated time (docs/cost-model.md, §15).
pub fn compare(
    spec: &Spec,
    request: &Request,
    placement: &Placement,
    programs: &[(Program, u64, Option<usize>)],
    bytes: u64,
    keep: Option<&Path>,
) -> Result<(Vec<ProgramSim>, Agreement), SimError> {
    let progs: Vec<(&Program, u64)> = programs.iter().map(|(p, c, _)| (p, *c)).collect();
    let network = run_smpi(spec, request, placement, &progs, bytes, keep)?;
    let sims: Vec<ProgramSim> = programs
        .iter()
        .zip(network)
        .map(|((p, chunks, rank), net)| {
            let plain = cost::program_cost(
                spec,
                placement,
                p,
                cost::program_bytes(spec, request, bytes),
            );
            let tasks = chunks * p.steps.len() as u64;
            let copy = cost::RelayoutCost::time(&plain.relayout);
            ProgramSim {
                text: format!(
                    "{}{}",
                    crate::program::pipeline_prefix(*chunks),
                    p.text(spec)
                ),
                synth_rank: *rank,
                steps: p.steps.len(),
                chunks: *chunks,
                predicted_s: cost::pipelined_cost(spec, &plain, *chunks).total_s,
                simulated_s: net + tasks as f64 * spec.system.launch_s + copy,
            }
        })
        .collect();
    let pred: Vec<f64> = sims.iter().map(|s| s.predicted_s).collect();
    let sim: Vec<f64> = sims.iter().map(|s| s.simulated_s).collect();
    Ok((sims, agreement(&pred, &sim)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_counts_pairs() {
        let a = agreement(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0]);
        assert_eq!((a.concordant, a.discordant, a.tied), (2, 1, 0));
        assert!((a.kendall_tau.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert!(a.top1);
        let b = agreement(&[1.0, 2.0], &[2.0, 1.0]);
        assert_eq!(b.kendall_tau, Some(-1.0));
        assert!(!b.top1);
        let t = agreement(&[1.0, 1.0000001], &[5.0, 1.0]);
        assert_eq!(t.tied, 1);
        assert_eq!(agreement(&[1.0], &[1.0]).kendall_tau, None);
    }
}
