//! An independent check of one refutation, cheap enough for any placement the
//! lowering can enumerate: the semantics of docs/design.md run on the explicit rank groups, but
//! tracking only one buffer atom `p` and one source `s` (plus every device's region
//! and validity). That is the reference interpreter projected onto a single
//! (position, source) pair: O(devices × steps) instead of O(devices² × atoms).
//!
//! It shares no code with the z3 encoding: it works on ranks and groups
//! ([`crate::lowered`]), not on dim digits and formulas.

use crate::lowered::Lowered;
use crate::placement::Placement;
use crate::program::Collective;
use crate::semantics::Kind;
use crate::spec::RequestKind;

/// The faults found at the first step (1-based; `None` = final state) that has any,
/// as `(kind, rank)` pairs. Twice, missing and extra faults concern atom `p` and
/// source `s` only; ill-formed faults are found for every group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProbeResult {
    /// The first step with a fault (`None`: the final state).
    pub step: Option<usize>,
    /// Every fault of that step.
    pub faults: Vec<(Kind, u64)>,
}

#[derive(Clone, Copy)]
struct Dev {
    lo: u64,
    hi: u64,
    valid: bool,
    /// Times `s` is summed at `p` (meaningful when `lo <= p < hi` and valid).
    cnt: u8,
}

/// What the request wants, seen from one source `s`: the goal's collective, the
/// atoms of the buffer and of a shard, every device's shard number, and whether `s`
/// is in a device's reduction group.
pub(crate) struct Target<'a> {
    /// all_reduce, reduce_scatter or all_gather.
    pub kind: RequestKind,
    /// Atoms of the whole buffer.
    pub atoms: u64,
    /// Atoms of one shard (`atoms` for all_reduce).
    pub shard_atoms: u64,
    /// A device's shard number (0 for all_reduce).
    pub shard: &'a dyn Fn(u64) -> u64,
    /// Whether `s` is in device `x`'s reduction group.
    pub in_group: &'a dyn Fn(u64) -> bool,
}

/// Runs the projection. `None` when the program is correct at (p, s) and well-formed
/// everywhere.
pub(crate) fn probe(
    placement: &Placement,
    program: &Lowered,
    target: &Target,
    p: u64,
    s: u64,
) -> Option<ProbeResult> {
    let n = placement.devices();
    let (atoms, sa) = (target.atoms, target.shard_atoms);
    let mut d: Vec<Dev> = (0..n)
        .map(|x| {
            // all_gather starts from the own shard only.
            let (lo, hi) = if target.kind == RequestKind::AllGather {
                let c = (target.shard)(x);
                (c * sa, (c + 1) * sa)
            } else {
                (0, atoms)
            };
            Dev {
                lo,
                hi,
                valid: true,
                cnt: u8::from(x == s),
            }
        })
        .collect();
    let at = |d: &Dev| -> u8 {
        if d.valid && d.lo <= p && p < d.hi {
            d.cnt
        } else {
            0
        }
    };
    for (si, st) in program.steps.iter().enumerate() {
        let mut faults = Vec::new();
        for g in &st.groups {
            let members: Vec<Dev> = g.iter().map(|&m| d[m as usize]).collect();
            let k = g.len() as u64;
            let root = members[0];
            match st.collective {
                Collective::Broadcast => {
                    if !root.valid {
                        faults.push((Kind::IllFormed, g[0]));
                        continue;
                    }
                    for &m in g {
                        d[m as usize] = root;
                    }
                }
                Collective::AllGather => {
                    let c = root.hi - root.lo;
                    let mut bad = false;
                    for (i, (&m, dv)) in g.iter().zip(&members).enumerate() {
                        let elo = root.lo + i as u64 * c;
                        if !dv.valid || (dv.lo, dv.hi) != (elo, elo + c) {
                            faults.push((Kind::IllFormed, m));
                            bad = true;
                        }
                    }
                    if bad {
                        continue;
                    }
                    let hi = root.lo + k * c;
                    let holder = members.iter().find(|m| m.lo <= p && p < m.hi);
                    let cnt = holder.map_or(0, |h| h.cnt);
                    for &m in g {
                        d[m as usize] = Dev {
                            lo: root.lo,
                            hi,
                            valid: true,
                            cnt,
                        };
                    }
                }
                op => {
                    let mut bad = false;
                    for (&m, dv) in g.iter().zip(&members) {
                        if !dv.valid || (dv.lo, dv.hi) != (root.lo, root.hi) {
                            faults.push((Kind::IllFormed, m));
                            bad = true;
                        }
                    }
                    if !bad
                        && op == Collective::ReduceScatter
                        && !(root.hi - root.lo).is_multiple_of(k)
                    {
                        faults.push((Kind::IllFormed, g[0]));
                        bad = true;
                    }
                    if bad {
                        continue;
                    }
                    let total: u32 = members.iter().map(|m| at(m) as u32).sum();
                    if total >= 2 {
                        faults.push((Kind::Twice, g[0]));
                        continue;
                    }
                    let cnt = total as u8;
                    let c = (root.hi - root.lo) / k;
                    for (i, &m) in g.iter().enumerate() {
                        let dv = &mut d[m as usize];
                        match op {
                            Collective::ReduceScatter => {
                                dv.lo = root.lo + i as u64 * c;
                                dv.hi = dv.lo + c;
                                dv.cnt = cnt;
                            }
                            Collective::Reduce if i > 0 => {
                                dv.valid = false;
                                dv.cnt = 0;
                            }
                            _ => dv.cnt = cnt,
                        }
                    }
                }
            }
        }
        if !faults.is_empty() {
            return Some(ProbeResult {
                step: Some(si + 1),
                faults,
            });
        }
    }
    let mut faults = Vec::new();
    for (x, dv) in d.iter().enumerate() {
        let x = x as u64;
        if !dv.valid {
            faults.push((Kind::Missing, x));
            continue;
        }
        let wanted = match target.kind {
            RequestKind::ReduceScatter => {
                let c = (target.shard)(x);
                let (lo, hi) = (c * sa, (c + 1) * sa);
                if dv.lo > lo || dv.hi < hi {
                    faults.push((Kind::WrongShard, x));
                    continue;
                }
                if !(lo <= p && p < hi) {
                    continue;
                }
                (target.in_group)(x)
            }
            kind => {
                if (dv.lo, dv.hi) != (0, atoms) {
                    faults.push((Kind::Missing, x));
                    continue;
                }
                (target.in_group)(x)
                    && (kind != RequestKind::AllGather || (target.shard)(s) == p / sa)
            }
        };
        match (dv.cnt, wanted) {
            (0, true) => faults.push((Kind::Missing, x)),
            (1, false) => faults.push((Kind::Extra, x)),
            (c, _) if c >= 2 => faults.push((Kind::Twice, x)),
            _ => {}
        }
    }
    (!faults.is_empty()).then_some(ProbeResult { step: None, faults })
}
