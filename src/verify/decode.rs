//! Reading a z3 model back as a [`Counterexample`] a person can act on.

use super::encode::{EDim, Encoding, FaultKind};
use super::smt::{Assumption, Model};
use crate::placement::Placement;
use crate::program::Program;
use crate::semantics::{rank_text, Counterexample, Kind, Part};
use crate::spec::{RequestKind, Spec};

/// A decoded refutation: the counterexample and the atom and source it concerns.
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    /// What is shown.
    pub cex: Counterexample,
    /// The buffer atom (of `Encoding::atoms`).
    pub atom: u64,
    /// The source rank.
    pub source: u64,
}

fn value(model: &Model, name: &str, width: u32) -> Option<u64> {
    model.bits(name, width)
}

/// Full digit vectors (every placement dim) of a top-level device unknown; dims not
/// encoded get digit 0.
fn digits(model: &Model, placement: &Placement, dims: &[EDim], prefix: &str) -> Option<Vec<u64>> {
    let mut v = vec![0u64; placement.dims.len()];
    for d in dims {
        v[d.index] = value(model, &format!("{prefix}.{}", d.name), d.width)?;
    }
    Some(v)
}

/// Assumptions that switch off the selectors of the steps `pred` picks.
pub(crate) fn assume_not(
    enc: &Encoding,
    pred: impl Fn(Option<usize>) -> bool,
) -> Vec<Assumption<'_>> {
    assume_not_where(enc, |f| pred(f.step))
}

/// Assumptions that leave on only the ill-formedness selectors of step `t`.
pub(crate) fn assume_not_except_ill_formed(enc: &Encoding, t: usize) -> Vec<Assumption<'_>> {
    assume_not_where(enc, |f| !(f.step == Some(t) && f.kind != FaultKind::Twice))
}

fn assume_not_where(
    enc: &Encoding,
    pred: impl Fn(&super::encode::Fault) -> bool,
) -> Vec<Assumption<'_>> {
    enc.faults
        .iter()
        .filter(|f| pred(f))
        .map(|f| Assumption::fails(&f.name))
        .collect()
}

/// What a fault selector says, before it becomes a [`Counterexample`]: the kind, the
/// device shown, the part of the buffer, the source, and the sentence.
type Found = (Kind, u64, Option<Part>, Option<u64>, String);

/// A model read at the top-level unknowns: device `x`, source `s`, position `p`.
struct Reading<'a> {
    spec: &'a Spec,
    placement: &'a Placement,
    enc: &'a Encoding,
    model: &'a Model,
    /// `x`'s digits on every placement dim.
    xd: Vec<u64>,
    x: u64,
    source: u64,
    atom: u64,
}

impl Reading<'_> {
    fn rank(&self, r: u64) -> String {
        rank_text(self.spec, self.placement, r)
    }

    fn part(&self, lo: u64, hi: u64) -> Part {
        Part::new(lo, hi, self.enc.atoms)
    }

    /// A device's shard number under the query's goal.
    fn shard(&self, r: u64) -> u64 {
        self.enc.goal.shard_of(self.spec, self.placement, r)
    }

    /// `shard j ([…) of the buffer)`.
    fn shard_text(&self, j: u64) -> String {
        let sa = self.enc.shard_atoms;
        format!("shard {j} ({})", self.part(j * sa, (j + 1) * sa))
    }

    /// A region as the interpreter names it: a shard when it is exactly one.
    fn held(&self, lo: u64, hi: u64) -> String {
        let (sa, l) = (self.enc.shard_atoms, self.enc.atoms);
        if hi > lo && hi - lo == sa && lo.is_multiple_of(sa) && hi <= l {
            self.shard_text(lo / sa)
        } else {
            self.part(lo.min(l), hi.min(l)).to_string()
        }
    }

    /// A fault of step `t`.
    fn step_fault(&self, t: usize, kind: FaultKind, program: &Program) -> Option<Found> {
        let (placement, model, enc) = (self.placement, self.model, self.enc);
        let (xd, x, source, atom) = (&self.xd, self.x, self.source, self.atom);
        let rank = |r: u64| self.rank(r);
        let part = |lo: u64, hi: u64| self.part(lo, hi);
        let step = &program.steps[t - 1];
        let op = step.op;
        let lead = {
            let mut v = xd.clone();
            for r in &step.dims {
                if let Some(i) = placement.dim_index(r.level, r.axis) {
                    v[i] = 0;
                }
            }
            placement.rank(&v)
        };
        let what = format!("step {t} ({op})");
        Some(match kind {
            FaultKind::Invalid => (
                Kind::IllFormed,
                x,
                None,
                None,
                format!("{what} is ill-formed: {} holds nothing valid (an earlier reduce left only its root with data), but {op} needs every member's data", rank(x)),
            ),
            FaultKind::Region => (
                Kind::IllFormed,
                x,
                None,
                None,
                format!("{what} is ill-formed: {} holds a different region of the buffer than {}; {op} needs every member to hold the same region", rank(x), rank(lead)),
            ),
            FaultKind::Indivisible => (
                Kind::IllFormed,
                lead,
                None,
                None,
                format!("{what} is ill-formed: the common region of the group of {} cannot be cut into equal chunks", rank(lead)),
            ),
            FaultKind::Misaligned => (
                Kind::IllFormed,
                x,
                None,
                None,
                format!("{what} is ill-formed: {} does not hold its chunk of the common region starting at {} (members must hold equal, consecutive chunks in rank order)", rank(x), rank(lead)),
            ),
            FaultKind::RootInvalid => (
                Kind::IllFormed,
                lead,
                None,
                None,
                format!("{what} is ill-formed: its root {} holds nothing valid to send", rank(lead)),
            ),
            FaultKind::Twice => {
                let y = digits(model, placement, &enc.dims, "y")?;
                let z = digits(model, placement, &enc.dims, "z")?;
                let member = |w: &[u64]| {
                    let mut v = xd.clone();
                    for r in &step.dims {
                        if let Some(i) = placement.dim_index(r.level, r.axis) {
                            v[i] = w[i];
                        }
                    }
                    placement.rank(&v)
                };
                (
                    Kind::Twice,
                    lead,
                    Some(part(atom, atom + 1)),
                    Some(source),
                    format!(
                        "{what} counts source {} twice at {} on {}: it is already summed at {} and {}",
                        rank(source),
                        part(atom, atom + 1),
                        rank(lead),
                        rank(member(&y)),
                        rank(member(&z))
                    ),
                )
            }
            _ => return None,
        })
    }

    /// A fault of the final state.
    fn end_fault(&self, kind: FaultKind) -> Option<Found> {
        let (model, enc) = (self.model, self.enc);
        let (x, source, atom, l) = (self.x, self.source, self.atom, self.enc.atoms);
        let rank = |r: u64| self.rank(r);
        let part = |lo: u64, hi: u64| self.part(lo, hi);
        let lo = value(model, "end.lo", enc.pos_width)?;
        let hi = value(model, "end.hi", enc.pos_width)?;
        Some(match kind {
            FaultKind::EndInvalid => (
                Kind::Missing,
                x,
                Some(part(0, l)),
                None,
                format!("at the end {} holds nothing valid (a reduce left only its root with the sum, and no broadcast followed)", rank(x)),
            ),
            FaultKind::EndRegion => {
                let (mlo, mhi) = if lo > 0 { (0, lo.min(l)) } else { (hi.min(l), l) };
                (
                    Kind::Missing,
                    x,
                    Some(part(mlo, mhi)),
                    None,
                    format!(
                        "at the end {} holds only {}, not the whole buffer ({} is missing: {})",
                        rank(x),
                        part(lo.min(l), hi.min(l)),
                        part(mlo, mhi),
                        if self.enc.goal.kind == RequestKind::AllGather {
                            "not every shard was gathered"
                        } else {
                            "a reduce_scatter was not undone by an all_gather"
                        }
                    ),
                )
            }
            FaultKind::EndWrongShard => {
                let (c, held) = (self.shard(x), self.held(lo, hi));
                (
                    Kind::WrongShard,
                    x,
                    Some(part(lo.min(l), hi.min(l))),
                    None,
                    format!(
                        "{} ends holding {held}, wants {}{}",
                        rank(x),
                        self.shard_text(c),
                        self.enc.goal.numbering_note(self.spec)
                    ),
                )
            }
            FaultKind::EndMissing if self.enc.goal.kind == RequestKind::AllGather => {
                let j = atom / self.enc.shard_atoms;
                (
                    Kind::Missing,
                    x,
                    Some(part(atom, atom + 1)),
                    Some(source),
                    format!(
                        "at the end {} lacks, in chunk {j} ({}), the data of {}, whose shard is {j}",
                        rank(x),
                        part(atom, atom + 1),
                        rank(source)
                    ),
                )
            }
            FaultKind::EndMissing => (
                Kind::Missing,
                x,
                Some(part(atom, atom + 1)),
                Some(source),
                format!(
                    "at the end {} is missing source {}, which is in its reduction group, on {}",
                    rank(x),
                    rank(source),
                    part(atom, atom + 1)
                ),
            ),
            FaultKind::EndExtra if self.enc.goal.kind == RequestKind::AllGather => {
                let j = atom / self.enc.shard_atoms;
                let in_group = self.placement.group_key(x, &self.enc.goal.axes)
                    == self.placement.group_key(source, &self.enc.goal.axes);
                let message = if in_group {
                    format!(
                        "at the end {} holds, in chunk {j} ({}), the data of {}, whose shard is {}: chunk {j} wants the data of shard {j}",
                        rank(x),
                        part(atom, atom + 1),
                        rank(source),
                        self.shard(source)
                    )
                } else {
                    format!(
                        "at the end {} holds, in chunk {j} ({}), the data of {}, which is outside its group (an axis was gathered that the request did not ask for)",
                        rank(x),
                        part(atom, atom + 1),
                        rank(source)
                    )
                };
                (Kind::Extra, x, Some(part(atom, atom + 1)), Some(source), message)
            }
            FaultKind::EndExtra => (
                Kind::Extra,
                x,
                Some(part(atom, atom + 1)),
                Some(source),
                format!(
                    "at the end {} sums source {}, which is outside its reduction group (an axis was reduced that the request did not ask for), on {}",
                    rank(x),
                    rank(source),
                    part(atom, atom + 1)
                ),
            ),
            _ => return None,
        })
    }
}

/// Decodes the earliest fault selector that holds in `model`.
pub(crate) fn decode(
    spec: &Spec,
    placement: &Placement,
    program: &Program,
    enc: &Encoding,
    model: &Model,
) -> Option<Decoded> {
    let fault = enc.faults.iter().find(|f| model.is_true(&f.name))?;
    let xd = digits(model, placement, &enc.dims, "x")?;
    let sd = digits(model, placement, &enc.dims, "s")?;
    let atom = value(model, "p", enc.pos_width)?;
    let r = Reading {
        spec,
        placement,
        enc,
        model,
        x: placement.rank(&xd),
        xd,
        source: placement.rank(&sd),
        atom,
    };
    let (kind, who, part, src, message) = match fault.step {
        Some(t) => r.step_fault(t, fault.kind, program)?,
        None => r.end_fault(fault.kind)?,
    };
    // As the interpreter: a sharded goal's final shard and sum faults name the shard.
    let names_shard = fault.step.is_none()
        && enc.goal.is_sharded()
        && matches!(
            fault.kind,
            FaultKind::EndWrongShard | FaultKind::EndMissing | FaultKind::EndExtra
        );
    Some(Decoded {
        cex: Counterexample {
            shard: names_shard.then(|| r.shard(who)),
            kind,
            step: fault.step,
            rank: who,
            coords: placement.coords(who),
            part,
            source: src,
            message,
        },
        atom,
        source: r.source,
    })
}
