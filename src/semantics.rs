//! The reference interpreter: the semantics of `docs/design.md`, run device by device.
//!
//! Simple, explicit and obviously right, at the price of growing with the device
//! count: every device holds a region `[lo, hi)` of the buffer (in atoms, see below),
//! a validity flag, and for every atom of its region how many times each source
//! device is summed there. Each step is checked for well-formedness before it runs;
//! the first ill-formed step (or a sum that would count a source twice) refutes the
//! program. At the end every device must hold the whole buffer, validly, with every
//! source of its reduction group exactly once and no other.
//!
//! Atoms: the buffer is cut into `L` equal atoms, where `L` is the product over the
//! program's reduce_scatter steps of the least common multiple of their group sizes,
//! so every chunk a reduce_scatter makes is a whole number of atoms.

use std::fmt;

use serde::Serialize;

use crate::lowered::Lowered;
use crate::number::gcd;
use crate::placement::Placement;
use crate::program::Collective;
use crate::spec::Spec;

/// What a refutation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A source of the device's reduction group is not summed (or the device does not
    /// hold that part of the buffer, or holds nothing valid).
    Missing,
    /// A source would be summed twice.
    Twice,
    /// A source outside the device's reduction group is summed.
    Extra,
    /// A step's members do not hold what the collective needs.
    IllFormed,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Missing => "missing",
            Kind::Twice => "twice",
            Kind::Extra => "extra",
            Kind::IllFormed => "ill_formed",
        })
    }
}

/// A part of the buffer, as fractions of its length: `[lo_num/den, hi_num/den)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Start, in `den`ths.
    pub lo: u64,
    /// End (exclusive), in `den`ths.
    pub hi: u64,
    /// The denominator.
    pub den: u64,
}

impl Part {
    /// `[lo/den, hi/den)`, reduced.
    pub fn new(lo: u64, hi: u64, den: u64) -> Part {
        let g = gcd(gcd(lo, hi), den).max(1);
        Part {
            lo: lo / g,
            hi: hi / g,
            den: den / g,
        }
    }

    /// Whether this is the whole buffer.
    pub fn is_whole(&self) -> bool {
        self.lo == 0 && self.hi == self.den
    }
}

fn frac(n: u64, d: u64) -> String {
    if n == 0 {
        "0".into()
    } else if n == d {
        "1".into()
    } else {
        let g = gcd(n, d);
        format!("{}/{}", n / g, d / g)
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_whole() {
            f.write_str("the whole buffer")
        } else {
            write!(
                f,
                "[{}, {}) of the buffer",
                frac(self.lo, self.den),
                frac(self.hi, self.den)
            )
        }
    }
}

impl Serialize for Part {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!(
            "[{}, {})",
            frac(self.lo, self.den),
            frac(self.hi, self.den)
        ))
    }
}

/// A refutation a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counterexample {
    /// What went wrong.
    pub kind: Kind,
    /// The step (1-based) where it went wrong; `None` for the final state.
    pub step: Option<usize>,
    /// The device.
    pub rank: u64,
    /// The device's axis coordinates, in spec axis order.
    pub coords: Vec<u64>,
    /// The part of the buffer concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<Part>,
    /// The source device missing, twice or extra.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<u64>,
    /// One sentence: what happened.
    pub message: String,
}

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Describes a rank with its coordinates: `rank 5 (data=2, model=1)`.
pub fn rank_text(spec: &Spec, placement: &Placement, rank: u64) -> String {
    let c = placement.coords(rank);
    format!(
        "rank {rank} ({})",
        spec.axes
            .iter()
            .zip(c)
            .map(|(a, x)| format!("{}={x}", a.name))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// One device's state.
#[derive(Debug, Clone)]
struct Device {
    lo: u64,
    hi: u64,
    valid: bool,
    /// `sums[(p - lo) * n + s]`: times source `s` is summed at atom `p` (saturating).
    sums: Vec<u8>,
}

/// The interpreter for one program on one placement and request.
pub struct Interpreter<'a> {
    spec: &'a Spec,
    placement: &'a Placement,
    n: usize,
    atoms: u64,
    devices: Vec<Device>,
    /// Reduction-group key of every device: its coordinates on the non-requested axes.
    keys: Vec<Vec<u64>>,
}

impl<'a> Interpreter<'a> {
    fn new(
        spec: &'a Spec,
        placement: &'a Placement,
        request_axes: &[usize],
        program: &Lowered,
    ) -> Self {
        let n = placement.devices() as usize;
        let atoms = program.atoms();
        let devices = (0..n)
            .map(|x| {
                let mut sums = vec![0u8; atoms as usize * n];
                for p in 0..atoms as usize {
                    sums[p * n + x] = 1;
                }
                Device {
                    lo: 0,
                    hi: atoms,
                    valid: true,
                    sums,
                }
            })
            .collect();
        let keys = (0..n as u64)
            .map(|r| placement.group_key(r, request_axes))
            .collect();
        Interpreter {
            spec,
            placement,
            n,
            atoms,
            devices,
            keys,
        }
    }

    fn cex(
        &self,
        kind: Kind,
        step: Option<usize>,
        rank: u64,
        part: Option<(u64, u64)>,
        source: Option<u64>,
        message: String,
    ) -> Counterexample {
        Counterexample {
            kind,
            step,
            rank,
            coords: self.placement.coords(rank),
            part: part.map(|(lo, hi)| Part::new(lo, hi, self.atoms)),
            source,
            message,
        }
    }

    fn rank(&self, r: u64) -> String {
        rank_text(self.spec, self.placement, r)
    }

    fn part(&self, lo: u64, hi: u64) -> String {
        Part::new(lo, hi, self.atoms).to_string()
    }

    /// Every member holds valid data on one common region.
    fn check_common_region(
        &self,
        si: usize,
        op: Collective,
        g: &[u64],
    ) -> Result<(u64, u64), Counterexample> {
        for &m in g {
            if !self.devices[m as usize].valid {
                return Err(self.cex(
                    Kind::IllFormed,
                    Some(si + 1),
                    m,
                    None,
                    None,
                    format!(
                        "step {} ({op}) is ill-formed: {} holds nothing valid (an earlier reduce left only its root with data), but {op} needs every member's data",
                        si + 1,
                        self.rank(m)
                    ),
                ));
            }
        }
        let d0 = &self.devices[g[0] as usize];
        for &m in &g[1..] {
            let d = &self.devices[m as usize];
            if (d.lo, d.hi) != (d0.lo, d0.hi) {
                return Err(self.cex(
                    Kind::IllFormed,
                    Some(si + 1),
                    m,
                    Some((d.lo, d.hi)),
                    None,
                    format!(
                        "step {} ({op}) is ill-formed: {} holds {} but {} holds {}; {op} needs every member to hold the same region",
                        si + 1,
                        self.rank(m),
                        self.part(d.lo, d.hi),
                        self.rank(g[0]),
                        self.part(d0.lo, d0.hi)
                    ),
                ));
            }
        }
        Ok((d0.lo, d0.hi))
    }

    /// The members' sums over `[lo, hi)`, or the first source that would be counted twice.
    fn sum(
        &self,
        si: usize,
        op: Collective,
        g: &[u64],
        lo: u64,
        hi: u64,
        receiver: u64,
    ) -> Result<Vec<u8>, Counterexample> {
        let n = self.n;
        let len = (hi - lo) as usize;
        let mut out = vec![0u8; len * n];
        for &m in g {
            let d = &self.devices[m as usize];
            let off = (lo - d.lo) as usize * n;
            for (o, &x) in out.iter_mut().zip(&d.sums[off..off + len * n]) {
                *o = o.saturating_add(x);
            }
        }
        if let Some(i) = out.iter().position(|&c| c >= 2) {
            let (p, s) = (lo + (i / n) as u64, (i % n) as u64);
            // A reduce_scatter delivers atom p to the member whose chunk holds it.
            let receiver = if op == Collective::ReduceScatter {
                g[((p - lo) / ((hi - lo) / g.len() as u64)) as usize]
            } else {
                receiver
            };
            let holders: Vec<String> = g
                .iter()
                .filter(|&&m| {
                    let d = &self.devices[m as usize];
                    d.sums[(p - d.lo) as usize * n + s as usize] > 0
                })
                .map(|&m| self.rank(m))
                .collect();
            return Err(self.cex(
                Kind::Twice,
                Some(si + 1),
                receiver,
                Some((p, p + 1)),
                Some(s),
                format!(
                    "step {} ({op}) counts source {} twice at {} on {}: it is already summed at {}",
                    si + 1,
                    self.rank(s),
                    self.part(p, p + 1),
                    self.rank(receiver),
                    holders.join(" and ")
                ),
            ));
        }
        Ok(out)
    }

    fn step(
        &mut self,
        si: usize,
        op: Collective,
        groups: &[Vec<u64>],
    ) -> Result<(), Counterexample> {
        for g in groups {
            match op {
                Collective::AllReduce | Collective::Reduce => {
                    let (lo, hi) = self.check_common_region(si, op, g)?;
                    let sums = self.sum(si, op, g, lo, hi, g[0])?;
                    for (i, &m) in g.iter().enumerate() {
                        let d = &mut self.devices[m as usize];
                        if op == Collective::AllReduce || i == 0 {
                            d.sums.clone_from(&sums);
                        } else {
                            d.valid = false;
                            d.sums.clear();
                        }
                    }
                }
                Collective::ReduceScatter => {
                    let (lo, hi) = self.check_common_region(si, op, g)?;
                    let k = g.len() as u64;
                    if (hi - lo) % k != 0 {
                        return Err(self.cex(
                            Kind::IllFormed,
                            Some(si + 1),
                            g[0],
                            Some((lo, hi)),
                            None,
                            format!(
                                "step {} (reduce_scatter) is ill-formed: the common region {} cannot be cut into {k} equal chunks",
                                si + 1,
                                self.part(lo, hi)
                            ),
                        ));
                    }
                    let sums = self.sum(si, op, g, lo, hi, g[0])?;
                    let c = (hi - lo) / k;
                    let n = self.n;
                    for (i, &m) in g.iter().enumerate() {
                        let (clo, chi) = (lo + i as u64 * c, lo + (i as u64 + 1) * c);
                        let d = &mut self.devices[m as usize];
                        d.lo = clo;
                        d.hi = chi;
                        d.sums = sums[(clo - lo) as usize * n..(chi - lo) as usize * n].to_vec();
                    }
                }
                Collective::AllGather => {
                    for &m in g {
                        if !self.devices[m as usize].valid {
                            return Err(self.cex(
                                Kind::IllFormed,
                                Some(si + 1),
                                m,
                                None,
                                None,
                                format!(
                                    "step {} (all_gather) is ill-formed: {} holds nothing valid to contribute",
                                    si + 1,
                                    self.rank(m)
                                ),
                            ));
                        }
                    }
                    let d0 = &self.devices[g[0] as usize];
                    let (lo, c) = (d0.lo, d0.hi - d0.lo);
                    for (i, &m) in g.iter().enumerate() {
                        let d = &self.devices[m as usize];
                        let (elo, ehi) = (lo + i as u64 * c, lo + (i as u64 + 1) * c);
                        if (d.lo, d.hi) != (elo, ehi) {
                            return Err(self.cex(
                                Kind::IllFormed,
                                Some(si + 1),
                                m,
                                Some((d.lo, d.hi)),
                                None,
                                format!(
                                    "step {} (all_gather) is ill-formed: member {i} ({}) holds {}, but chunk {i} of the common region starting at {} would be {} (members must hold equal, consecutive chunks in rank order)",
                                    si + 1,
                                    self.rank(m),
                                    self.part(d.lo, d.hi),
                                    self.rank(g[0]),
                                    if ehi <= self.atoms { self.part(elo, ehi) } else { "past the end of the buffer".into() }
                                ),
                            ));
                        }
                    }
                    let hi = lo + c * g.len() as u64;
                    let mut sums = Vec::with_capacity((hi - lo) as usize * self.n);
                    for &m in g {
                        sums.extend_from_slice(&self.devices[m as usize].sums);
                    }
                    for &m in g {
                        let d = &mut self.devices[m as usize];
                        d.lo = lo;
                        d.hi = hi;
                        d.sums.clone_from(&sums);
                    }
                }
                Collective::Broadcast => {
                    let root = self.devices[g[0] as usize].clone();
                    if !root.valid {
                        return Err(self.cex(
                            Kind::IllFormed,
                            Some(si + 1),
                            g[0],
                            None,
                            None,
                            format!(
                                "step {} (broadcast) is ill-formed: its root {} holds nothing valid to send",
                                si + 1,
                                self.rank(g[0])
                            ),
                        ));
                    }
                    for &m in &g[1..] {
                        self.devices[m as usize] = root.clone();
                    }
                }
            }
        }
        Ok(())
    }

    /// The final-state condition.
    fn check_final(&self) -> Result<(), Counterexample> {
        let n = self.n;
        for x in 0..n as u64 {
            let d = &self.devices[x as usize];
            if !d.valid {
                return Err(self.cex(
                    Kind::Missing,
                    None,
                    x,
                    Some((0, self.atoms)),
                    None,
                    format!(
                        "at the end {} holds nothing valid (a reduce left only its root with the sum, and no broadcast followed)",
                        self.rank(x)
                    ),
                ));
            }
            if (d.lo, d.hi) != (0, self.atoms) {
                let (mlo, mhi) = if d.lo > 0 {
                    (0, d.lo)
                } else {
                    (d.hi, self.atoms)
                };
                return Err(self.cex(
                    Kind::Missing,
                    None,
                    x,
                    Some((mlo, mhi)),
                    None,
                    format!(
                        "at the end {} holds only {}, not the whole buffer ({} is missing: a reduce_scatter was not undone by an all_gather)",
                        self.rank(x),
                        self.part(d.lo, d.hi),
                        self.part(mlo, mhi)
                    ),
                ));
            }
            for p in 0..self.atoms as usize {
                for s in 0..n {
                    let c = d.sums[p * n + s];
                    let in_group = self.keys[s] == self.keys[x as usize];
                    let kind = match (c, in_group) {
                        (0, true) => Kind::Missing,
                        (1, true) | (0, false) => continue,
                        (1, false) => Kind::Extra,
                        _ => Kind::Twice,
                    };
                    // Extend to the run of atoms with the same fault for this source.
                    let mut q = p + 1;
                    while q < self.atoms as usize && d.sums[q * n + s] == c {
                        q += 1;
                    }
                    let what = match kind {
                        Kind::Missing => "is missing source",
                        Kind::Extra => "sums source",
                        _ => "sums more than once source",
                    };
                    let why = match kind {
                        Kind::Extra => ", which is outside its reduction group (an axis was reduced that the request did not ask for)",
                        Kind::Missing => ", which is in its reduction group",
                        _ => "",
                    };
                    return Err(self.cex(
                        kind,
                        None,
                        x,
                        Some((p as u64, q as u64)),
                        Some(s as u64),
                        format!(
                            "at the end {} {what} {}{why}, on {}",
                            self.rank(x),
                            self.rank(s as u64),
                            self.part(p as u64, q as u64)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Runs `program` on `placement` for a request over `request_axes` (indices into the
/// spec's axes): `Ok(())` when it is correct, otherwise the first fault found (in
/// step order, then rank order).
///
/// The program's groups must have been checked with [`Lowered::check`].
pub fn run(
    spec: &Spec,
    placement: &Placement,
    request_axes: &[usize],
    program: &Lowered,
) -> Result<(), Counterexample> {
    let mut it = Interpreter::new(spec, placement, request_axes, program);
    for (si, s) in program.steps.iter().enumerate() {
        it.step(si, s.collective, &s.groups)?;
    }
    it.check_final()
}

/// The largest problem the interpreter is asked to run: devices² × atoms counters.
pub const MAX_INTERPRETER_CELLS: u128 = 1 << 31;

/// How many counters the interpreter would hold for this program.
pub fn interpreter_cells(placement: &Placement, program: &Lowered) -> u128 {
    let n = placement.devices() as u128;
    n.saturating_mul(n).saturating_mul(program.atoms() as u128)
}
