//! The reference interpreter: the semantics of `docs/design.md`, run device by device.
//!
//! Simple, explicit and obviously right, at the price of growing with the device
//! count: every device holds a region `[lo, hi)` of the buffer (in atoms, see below),
//! a validity flag, and for every atom of its region how many times each source
//! device is summed there. Each step is checked for well-formedness before it runs;
//! the first ill-formed step (or a sum that would count a source twice) refutes the
//! program. What the start and the end must be is the request's [`Goal`]: for
//! all_reduce every device starts with the whole buffer of its own data and must end
//! holding the whole buffer, validly, with every source of its reduction group exactly
//! once and no other; for reduce_scatter it starts the same and must end holding (at
//! least) its shard, summed over its group; for all_gather it starts holding only its
//! shard of its own data and must end with the whole buffer, chunk `j` being the data
//! of the group member whose shard number is `j` (docs/design.md, "Shards").
//!
//! Atoms: the buffer is cut into `L` equal atoms, where `L` is the product over the
//! program's reduce_scatter steps of the least common multiple of their group sizes
//! (times the shard count `G` for reduce_scatter and all_gather goals), so every
//! chunk a reduce_scatter makes, and every shard, is a whole number of atoms.

use std::fmt;

use serde::Serialize;

use crate::lowered::Lowered;
use crate::number::gcd;
use crate::placement::Placement;
use crate::program::{Collective, DimRef};
use crate::spec::{Request, RequestKind, Spec};

/// What a program must achieve: a collective over the request's axes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goal {
    /// all_reduce, reduce_scatter or all_gather (send_recv has no programs).
    pub kind: RequestKind,
    /// Indices into the spec's axes; for reduce_scatter and all_gather in the order
    /// that numbers the shards, the first most significant.
    pub axes: Vec<usize>,
    /// A program's `layout(L):` clause: the requested dims in the order that numbers
    /// the shards the steps must produce (reduce_scatter) or start from (all_gather),
    /// first most significant; empty: the request's own order (docs/design.md,
    /// §3.7). The checkers set it from the program ([`Goal::relaid`]).
    pub layout: Vec<DimRef>,
}

impl Goal {
    /// The goal of a request.
    pub fn of(request: &Request) -> Goal {
        Goal {
            kind: request.collective,
            axes: request.axes.clone(),
            layout: Vec::new(),
        }
    }

    /// An all_reduce over `axes`.
    pub fn all_reduce(axes: &[usize]) -> Goal {
        Goal {
            kind: RequestKind::AllReduce,
            axes: axes.to_vec(),
            layout: Vec::new(),
        }
    }

    /// The goal the steps of a program with layout `layout` must meet: this one with
    /// its shards numbered in the layout's digit order (unchanged for an empty
    /// layout). `layout(L): P` is correct for the request exactly when `P` is correct
    /// for this goal (proofs/README.md, "Relayout").
    pub fn relaid(&self, layout: &[DimRef]) -> Goal {
        let mut g = self.clone();
        if !layout.is_empty() {
            g.layout = layout.to_vec();
        }
        g
    }

    /// What a `wrong_shard` message adds for a relaid goal, whose shard numbers are
    /// the layout's: ` (shards numbered in layout(gpu:data, node:data)'s order)`;
    /// empty without a layout.
    pub fn numbering_note(&self, spec: &Spec) -> String {
        if self.layout.is_empty() {
            return String::new();
        }
        let dims: Vec<String> = self.layout.iter().map(|d| d.name(spec)).collect();
        format!(" (shards numbered in layout({})'s order)", dims.join(", "))
    }

    /// Whether the layout (if any) is an order of exactly the requested dims on the
    /// placement, each once, on a sharded goal. Input is checked against this before
    /// it reaches a checker ([`crate::program::canonical_layout`]).
    pub fn layout_fits(&self, placement: &Placement) -> bool {
        if self.layout.is_empty() {
            return true;
        }
        let mut got = self.digit_order(placement);
        let n = got.len();
        got.sort_unstable();
        got.dedup();
        let want: Vec<usize> = (0..placement.dims.len())
            .filter(|&i| self.axes.contains(&placement.dims[i].axis))
            .collect();
        self.is_sharded() && n == self.layout.len() && got == want
    }

    /// The placement dims (indices into `placement.dims`) whose digits number the
    /// shards, first most significant: the layout's, or for none the requested axes'
    /// dims in request order, each axis outer level first (empty for all_reduce).
    pub fn digit_order(&self, placement: &Placement) -> Vec<usize> {
        if !self.is_sharded() {
            return Vec::new();
        }
        if self.layout.is_empty() {
            self.axes
                .iter()
                .flat_map(|&a| {
                    (0..placement.dims.len()).filter(move |&i| placement.dims[i].axis == a)
                })
                .collect()
        } else {
            self.layout
                .iter()
                .filter_map(|d| placement.dim_index(d.level, d.axis))
                .collect()
        }
    }

    /// Whether the start or the end state is a shard.
    pub fn is_sharded(&self) -> bool {
        self.kind.is_sharded()
    }

    /// The shard count `G` (1 for all_reduce).
    pub fn shards(&self, spec: &Spec) -> u64 {
        if self.is_sharded() {
            self.axes
                .iter()
                .fold(1u64, |g, &a| g.saturating_mul(spec.axes[a].size))
        } else {
            1
        }
    }

    /// A device's shard number: the mixed radix of its coordinates on the goal's
    /// axes in the goal's order, first most significant (0 for all_reduce).
    pub fn shard_of(&self, spec: &Spec, placement: &Placement, rank: u64) -> u64 {
        if !self.is_sharded() {
            return 0;
        }
        if !self.layout.is_empty() {
            let digits = placement.digits(rank);
            return self
                .digit_order(placement)
                .into_iter()
                .fold(0u64, |acc, i| acc * placement.dims[i].size + digits[i]);
        }
        let c = placement.coords(rank);
        self.axes
            .iter()
            .fold(0u64, |acc, &a| acc * spec.axes[a].size + c[a])
    }

    /// The atoms of the semantics for `program` under this goal: the program's
    /// [`Lowered::atoms`], times the shard count for a sharded goal (saturating).
    pub fn atoms(&self, spec: &Spec, program: &Lowered) -> u64 {
        program.atoms().saturating_mul(self.shards(spec))
    }
}

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
    /// At the end a device does not hold its shard (reduce_scatter), or a chunk of
    /// its buffer holds another member's shard (all_gather).
    WrongShard,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Missing => "missing",
            Kind::Twice => "twice",
            Kind::Extra => "extra",
            Kind::IllFormed => "ill_formed",
            Kind::WrongShard => "wrong_shard",
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
    /// The device's shard number, for a reduce_scatter or all_gather request's
    /// final state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<u64>,
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
    /// The goal's collective.
    kind: RequestKind,
    /// Atoms per shard (the whole buffer for all_reduce).
    shard_atoms: u64,
    /// Shard number of every device (0 for all_reduce).
    shard: Vec<u64>,
    /// [`Goal::numbering_note`].
    numbering: String,
}

impl<'a> Interpreter<'a> {
    fn new(spec: &'a Spec, placement: &'a Placement, goal: &Goal, program: &Lowered) -> Self {
        let n = placement.devices() as usize;
        let atoms = goal.atoms(spec, program);
        let shard_atoms = atoms / goal.shards(spec);
        let shard: Vec<u64> = (0..n as u64)
            .map(|r| goal.shard_of(spec, placement, r))
            .collect();
        let devices = (0..n)
            .map(|x| {
                // all_gather starts from the own shard only.
                let (lo, hi) = if goal.kind == RequestKind::AllGather {
                    (shard[x] * shard_atoms, (shard[x] + 1) * shard_atoms)
                } else {
                    (0, atoms)
                };
                let mut sums = vec![0u8; (hi - lo) as usize * n];
                for p in 0..(hi - lo) as usize {
                    sums[p * n + x] = 1;
                }
                Device {
                    lo,
                    hi,
                    valid: true,
                    sums,
                }
            })
            .collect();
        let keys = (0..n as u64)
            .map(|r| placement.group_key(r, &goal.axes))
            .collect();
        Interpreter {
            spec,
            placement,
            n,
            atoms,
            devices,
            keys,
            kind: goal.kind,
            shard_atoms,
            shard,
            numbering: goal.numbering_note(spec),
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
            shard: None,
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

    /// The final-state condition of the goal.
    fn check_final(&self) -> Result<(), Counterexample> {
        for x in 0..self.n as u64 {
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
            match self.kind {
                RequestKind::ReduceScatter => self.check_final_shard(x)?,
                _ => self.check_final_whole(x)?,
            }
        }
        Ok(())
    }

    /// Shard `j`'s atoms.
    fn shard_range(&self, j: u64) -> (u64, u64) {
        (j * self.shard_atoms, (j + 1) * self.shard_atoms)
    }

    fn shard_text(&self, j: u64) -> String {
        let (lo, hi) = self.shard_range(j);
        format!("shard {j} ({})", self.part(lo, hi))
    }

    /// reduce_scatter: `x` holds at least its shard, summed over its group exactly.
    fn check_final_shard(&self, x: u64) -> Result<(), Counterexample> {
        let d = &self.devices[x as usize];
        let c = self.shard[x as usize];
        let (lo, hi) = self.shard_range(c);
        if d.lo > lo || d.hi < hi {
            let held = if d.hi - d.lo == self.shard_atoms && d.lo.is_multiple_of(self.shard_atoms) {
                self.shard_text(d.lo / self.shard_atoms)
            } else {
                self.part(d.lo, d.hi)
            };
            let mut cex = self.cex(
                Kind::WrongShard,
                None,
                x,
                Some((d.lo, d.hi)),
                None,
                format!(
                    "{} ends holding {held}, wants {}{}",
                    self.rank(x),
                    self.shard_text(c),
                    self.numbering
                ),
            );
            cex.shard = Some(c);
            return Err(cex);
        }
        self.check_sums(x, lo, hi, |_, s| self.keys[s] == self.keys[x as usize])
            .map_err(|mut e| {
                e.shard = Some(c);
                e
            })
    }

    /// all_reduce and all_gather: `x` holds the whole buffer, each atom with exactly
    /// the sources it should have.
    fn check_final_whole(&self, x: u64) -> Result<(), Counterexample> {
        let d = &self.devices[x as usize];
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
                    "at the end {} holds only {}, not the whole buffer ({} is missing: {})",
                    self.rank(x),
                    self.part(d.lo, d.hi),
                    self.part(mlo, mhi),
                    if self.kind == RequestKind::AllGather {
                        "not every shard was gathered"
                    } else {
                        "a reduce_scatter was not undone by an all_gather"
                    }
                ),
            ));
        }
        if self.kind == RequestKind::AllGather {
            // Atom p belongs to the member whose shard number is p's chunk.
            let key = &self.keys[x as usize];
            return self
                .check_sums(x, 0, self.atoms, |p, s| {
                    self.keys[s] == *key && self.shard[s] == p / self.shard_atoms
                })
                .map_err(|mut e| {
                    e.shard = Some(self.shard[x as usize]);
                    e
                });
        }
        self.check_sums(x, 0, self.atoms, |_, s| {
            self.keys[s] == self.keys[x as usize]
        })
    }

    /// Every atom of `[lo, hi)` on `x` holds source `s` exactly once where
    /// `wanted(atom, s)`, and not at all elsewhere.
    fn check_sums(
        &self,
        x: u64,
        lo: u64,
        hi: u64,
        wanted: impl Fn(u64, usize) -> bool,
    ) -> Result<(), Counterexample> {
        let n = self.n;
        let d = &self.devices[x as usize];
        let at = |p: u64, s: usize| d.sums[(p - d.lo) as usize * n + s];
        for p in lo..hi {
            for s in 0..n {
                let c = at(p, s);
                let want = wanted(p, s);
                let kind = match (c, want) {
                    (0, true) => Kind::Missing,
                    (1, true) | (0, false) => continue,
                    (1, false) => Kind::Extra,
                    _ => Kind::Twice,
                };
                // Extend to the run of atoms with the same fault for this source.
                let mut q = p + 1;
                while q < hi && at(q, s) == c && wanted(q, s) == want {
                    q += 1;
                }
                let in_group = self.keys[s] == self.keys[x as usize];
                let message = if self.kind == RequestKind::AllGather {
                    let j = p / self.shard_atoms;
                    match kind {
                        Kind::Missing => format!(
                            "at the end {} lacks, in chunk {j} ({}), the data of {}, whose shard is {j}",
                            self.rank(x),
                            self.part(p, q),
                            self.rank(s as u64)
                        ),
                        Kind::Extra if in_group => format!(
                            "at the end {} holds, in chunk {j} ({}), the data of {}, whose shard is {}: chunk {j} wants the data of shard {j}",
                            self.rank(x),
                            self.part(p, q),
                            self.rank(s as u64),
                            self.shard[s]
                        ),
                        Kind::Extra => format!(
                            "at the end {} holds, in chunk {j} ({}), the data of {}, which is outside its group (an axis was gathered that the request did not ask for)",
                            self.rank(x),
                            self.part(p, q),
                            self.rank(s as u64)
                        ),
                        _ => format!(
                            "at the end {} holds, in chunk {j} ({}), the data of {} summed more than once (an all_gather sums nothing)",
                            self.rank(x),
                            self.part(p, q),
                            self.rank(s as u64)
                        ),
                    }
                } else {
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
                    format!(
                        "at the end {} {what} {}{why}, on {}",
                        self.rank(x),
                        self.rank(s as u64),
                        self.part(p, q)
                    )
                };
                return Err(self.cex(kind, None, x, Some((p, q)), Some(s as u64), message));
            }
        }
        Ok(())
    }
}

/// [`run_goal`] for an all_reduce over `request_axes` (indices into the spec's axes).
pub fn run(
    spec: &Spec,
    placement: &Placement,
    request_axes: &[usize],
    program: &Lowered,
) -> Result<(), Counterexample> {
    run_goal(spec, placement, &Goal::all_reduce(request_axes), program)
}

/// Runs `program` on `placement` for `goal`: `Ok(())` when it is correct, otherwise
/// the first fault found (in step order, then rank order).
///
/// The program's groups must have been checked with [`Lowered::check`].
pub fn run_goal(
    spec: &Spec,
    placement: &Placement,
    goal: &Goal,
    program: &Lowered,
) -> Result<(), Counterexample> {
    let goal = &goal.relaid(&program.layout);
    debug_assert!(goal.layout_fits(placement), "layout checked on input");
    let mut it = Interpreter::new(spec, placement, goal, program);
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

/// How many counters the interpreter would hold for this program under `goal`
/// (a sharded goal multiplies the atoms by the shard count).
pub fn goal_cells(spec: &Spec, placement: &Placement, goal: &Goal, program: &Lowered) -> u128 {
    interpreter_cells(placement, program).saturating_mul(goal.shards(spec) as u128)
}
