//! The independent simulator of the foundation tests, written from the words of docs/design.md
//! rather than from the library: the rank ↔ coordinates convention, dim-structured
//! groups, and the collectives run on random integer buffers (for the numbers) with
//! source bitmasks and regions (for validity); counterexamples re-checked by it.

use collsynth::program::Collective;
use collsynth::spec::Spec;

use super::rng::Rng;

/// Axis coordinates of a rank, straight from the convention of docs/design.md: the rank's level
/// digits (outer level most significant), each level digit split into one digit per
/// axis (first axis most significant), each axis coordinate the mixed radix of that
/// axis's per-level digits (outer level most significant).
pub fn convention_coords(arities: &[u64], matrix: &[Vec<u64>], rank: u64) -> Vec<u64> {
    let digits = convention_digits(arities, matrix, rank);
    (0..matrix.len())
        .map(|a| (0..arities.len()).fold(0, |c, l| c * matrix[a][l] + digits[a][l]))
        .collect()
}

/// `digits[axis][level]` of a rank by the convention.
pub fn convention_digits(arities: &[u64], matrix: &[Vec<u64>], rank: u64) -> Vec<Vec<u64>> {
    let (na, nl) = (matrix.len(), arities.len());
    let mut level_digit = vec![0u64; nl];
    let mut r = rank;
    for l in (0..nl).rev() {
        level_digit[l] = r % arities[l];
        r /= arities[l];
    }
    let mut out = vec![vec![0u64; nl]; na];
    for l in 0..nl {
        let mut d = level_digit[l];
        for a in (0..na).rev() {
            out[a][l] = d % matrix[a][l];
            d /= matrix[a][l];
        }
    }
    out
}

/// The groups of `op(dims) @ roots(roots)` by the words of docs/design.md: the group of x is
/// every device agreeing with x on every digit except `dims`; only devices with digit
/// 0 on every roots dim take part; members ascending, groups by first member.
/// Dims are `(level, axis)`.
pub fn convention_groups(
    arities: &[u64],
    matrix: &[Vec<u64>],
    dims: &[(usize, usize)],
    roots: &[(usize, usize)],
) -> Vec<Vec<u64>> {
    let n: u64 = arities.iter().product();
    let mut groups: std::collections::BTreeMap<Vec<u64>, Vec<u64>> = Default::default();
    for x in 0..n {
        let d = convention_digits(arities, matrix, x);
        if roots.iter().any(|&(l, a)| d[a][l] != 0) {
            continue;
        }
        let mut key = Vec::new();
        for (a, row) in d.iter().enumerate() {
            for (l, &v) in row.iter().enumerate() {
                if !dims.contains(&(l, a)) {
                    key.push(v);
                }
            }
        }
        groups.entry(key).or_default().push(x);
    }
    let mut v: Vec<Vec<u64>> = groups.into_values().collect();
    v.sort();
    v
}

/// Reduction-group key of every rank: its coordinates on the axes not requested.
pub fn reduction_keys(arities: &[u64], matrix: &[Vec<u64>], request: &[usize]) -> Vec<Vec<u64>> {
    let n: u64 = arities.iter().product();
    (0..n)
        .map(|r| {
            convention_coords(arities, matrix, r)
                .into_iter()
                .enumerate()
                .filter(|(a, _)| !request.contains(a))
                .map(|(_, c)| c)
                .collect()
        })
        .collect()
}

// ------------------------------------------------------------------ simulator

/// What the simulator found wrong (kind as in the JSON of docs/design.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// "missing", "twice", "extra" or "ill_formed".
    pub kind: &'static str,
    /// 1-based step, `None` at the end.
    pub step: Option<usize>,
    /// The device.
    pub rank: u64,
}

/// One device: the region it holds validly (element indices) and, per element of the
/// region, its integer value and the bitmask of sources summed there.
#[derive(Debug, Clone)]
pub struct Dev {
    pub region: Option<(usize, usize)>,
    pub vals: Vec<i64>,
    pub masks: Vec<u64>,
}

/// All devices (at most 64, one mask bit each) over a buffer of `b` elements.
#[derive(Debug, Clone)]
pub struct Sim {
    pub b: usize,
    pub dev: Vec<Dev>,
}

/// Buffer length that makes every reduce_scatter chunk whole: the product over
/// reduce_scatter steps of the lcm of their group sizes.
pub fn buffer_len(steps: &[(Collective, Vec<Vec<u64>>)]) -> usize {
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let mut b = 1usize;
    for (op, groups) in steps {
        if *op == Collective::ReduceScatter {
            let l = groups
                .iter()
                .fold(1, |acc, g| acc / gcd(acc, g.len()) * g.len());
            b *= l;
        }
    }
    b
}

/// Deterministic pseudo-random buffers: `init[device][element]`.
pub fn random_buffers(n: usize, b: usize, seed: u64) -> Vec<Vec<i64>> {
    let mut rng = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|_| {
            (0..b)
                .map(|_| (rng.next() >> 24) as i64 - (1 << 39))
                .collect()
        })
        .collect()
}

impl Sim {
    /// Every device holds its own buffer, valid everywhere.
    pub fn new(b: usize, init: &[Vec<i64>]) -> Sim {
        assert!(init.len() <= 64, "the simulator tracks at most 64 sources");
        let dev = init
            .iter()
            .enumerate()
            .map(|(x, v)| Dev {
                region: Some((0, b)),
                vals: v.clone(),
                masks: vec![1u64 << x; b],
            })
            .collect();
        Sim { b, dev }
    }

    fn ill(si: usize, rank: u64) -> Fault {
        Fault {
            kind: "ill_formed",
            step: Some(si + 1),
            rank,
        }
    }

    /// Runs step `si` (0-based). With `stop_on_twice` a source summed twice is a
    /// fault; without, the sum is taken anyway (for multiplicity probes).
    pub fn step(
        &mut self,
        si: usize,
        op: Collective,
        groups: &[Vec<u64>],
        stop_on_twice: bool,
    ) -> Result<(), Fault> {
        for g in groups {
            let idx: Vec<usize> = g.iter().map(|&r| r as usize).collect();
            match op {
                Collective::AllReduce | Collective::Reduce | Collective::ReduceScatter => {
                    for &m in &idx {
                        if self.dev[m].region.is_none() {
                            return Err(Self::ill(si, m as u64));
                        }
                    }
                    let region = self.dev[idx[0]].region;
                    for &m in &idx {
                        if self.dev[m].region != region {
                            return Err(Self::ill(si, m as u64));
                        }
                    }
                    let (lo, hi) = region.expect("checked valid");
                    let len = hi - lo;
                    let k = idx.len();
                    if op == Collective::ReduceScatter && !len.is_multiple_of(k) {
                        return Err(Self::ill(si, g[0]));
                    }
                    let mut vals = vec![0i64; len];
                    let mut masks = vec![0u64; len];
                    for &m in &idx {
                        for e in 0..len {
                            if stop_on_twice && masks[e] & self.dev[m].masks[e] != 0 {
                                let receiver = if op == Collective::ReduceScatter {
                                    g[e / (len / k)]
                                } else {
                                    g[0]
                                };
                                return Err(Fault {
                                    kind: "twice",
                                    step: Some(si + 1),
                                    rank: receiver,
                                });
                            }
                            masks[e] |= self.dev[m].masks[e];
                            vals[e] = vals[e].wrapping_add(self.dev[m].vals[e]);
                        }
                    }
                    for (i, &m) in idx.iter().enumerate() {
                        let d = &mut self.dev[m];
                        match op {
                            Collective::AllReduce => {
                                d.vals.clone_from(&vals);
                                d.masks.clone_from(&masks);
                            }
                            Collective::Reduce if i == 0 => {
                                d.vals.clone_from(&vals);
                                d.masks.clone_from(&masks);
                            }
                            Collective::Reduce => {
                                *d = Dev {
                                    region: None,
                                    vals: vec![],
                                    masks: vec![],
                                }
                            }
                            _ => {
                                let c = len / k;
                                d.region = Some((lo + i * c, lo + (i + 1) * c));
                                d.vals = vals[i * c..(i + 1) * c].to_vec();
                                d.masks = masks[i * c..(i + 1) * c].to_vec();
                            }
                        }
                    }
                }
                Collective::AllGather => {
                    for &m in &idx {
                        if self.dev[m].region.is_none() {
                            return Err(Self::ill(si, m as u64));
                        }
                    }
                    let (lo, hi0) = self.dev[idx[0]].region.expect("checked valid");
                    let c = hi0 - lo;
                    for (i, &m) in idx.iter().enumerate() {
                        if self.dev[m].region != Some((lo + i * c, lo + (i + 1) * c)) {
                            return Err(Self::ill(si, m as u64));
                        }
                    }
                    let mut vals = Vec::new();
                    let mut masks = Vec::new();
                    for &m in &idx {
                        vals.extend_from_slice(&self.dev[m].vals);
                        masks.extend_from_slice(&self.dev[m].masks);
                    }
                    for &m in &idx {
                        self.dev[m] = Dev {
                            region: Some((lo, lo + c * idx.len())),
                            vals: vals.clone(),
                            masks: masks.clone(),
                        };
                    }
                }
                Collective::Broadcast => {
                    if self.dev[idx[0]].region.is_none() {
                        return Err(Self::ill(si, g[0]));
                    }
                    let root = self.dev[idx[0]].clone();
                    for &m in &idx[1..] {
                        self.dev[m] = root.clone();
                    }
                }
            }
        }
        Ok(())
    }

    /// The final condition: every device holds the whole buffer with exactly its
    /// reduction group summed (first fault in rank order, then element, then source).
    pub fn final_check(&self, keys: &[Vec<u64>]) -> Result<(), Fault> {
        let n = self.dev.len();
        for x in 0..n {
            let fault = |kind| Fault {
                kind,
                step: None,
                rank: x as u64,
            };
            let d = &self.dev[x];
            if d.region != Some((0, self.b)) {
                return Err(fault("missing"));
            }
            let want: u64 = (0..n)
                .filter(|&s| keys[s] == keys[x])
                .fold(0, |m, s| m | 1 << s);
            for &m in &d.masks {
                let low_missing = (want & !m).trailing_zeros();
                let low_extra = (m & !want).trailing_zeros();
                if low_missing < 64 || low_extra < 64 {
                    return Err(fault(if low_missing < low_extra {
                        "missing"
                    } else {
                        "extra"
                    }));
                }
            }
        }
        Ok(())
    }
}

/// Runs a whole program: first fault, or `Ok`.
pub fn simulate(
    n: usize,
    keys: &[Vec<u64>],
    steps: &[(Collective, Vec<Vec<u64>>)],
) -> Result<(), Fault> {
    let b = buffer_len(steps);
    let mut sim = Sim::new(b, &random_buffers(n, b, 7));
    for (si, (op, groups)) in steps.iter().enumerate() {
        sim.step(si, *op, groups, true)?;
    }
    // The numbers agree with the masks: each value is the sum of its sources.
    let init = random_buffers(n, b, 7);
    for d in &sim.dev {
        if let Some((lo, _)) = d.region {
            for (e, (&v, &m)) in d.vals.iter().zip(&d.masks).enumerate() {
                let s: i64 = (0..n)
                    .filter(|&s| m >> s & 1 == 1)
                    .fold(0i64, |acc, s| acc.wrapping_add(init[s][lo + e]));
                assert_eq!(v, s, "simulator values disagree with its masks");
            }
        }
    }
    sim.final_check(keys)
}

/// The state after running steps `0..=upto` (all steps when `upto` is `None`) on
/// `init`, summing twice-counted sources rather than stopping.
pub fn run_numbers(
    b: usize,
    init: &[Vec<i64>],
    steps: &[(Collective, Vec<Vec<u64>>)],
    upto: Option<usize>,
) -> Result<Sim, Fault> {
    let mut sim = Sim::new(b, init);
    let last = upto.map_or(steps.len(), |u| u + 1);
    for (si, (op, groups)) in steps.iter().enumerate().take(last) {
        match sim.step(si, *op, groups, false) {
            // A later group of the probed step may be ill-formed; the groups before
            // it (the one probed among them) have run.
            Err(f) if upto == Some(si) && f.kind == "ill_formed" => break,
            r => r?,
        }
    }
    Ok(sim)
}

/// How many times `source` is summed at element `e` of `rank` after steps
/// `0..=upto`, measured numerically: run once on random buffers and once with
/// `source`'s buffer raised by δ; by linearity the value moves by δ × multiplicity.
/// `None` when the device does not hold element `e`.
pub fn multiplicity(
    n: usize,
    b: usize,
    steps: &[(Collective, Vec<Vec<u64>>)],
    upto: Option<usize>,
    rank: u64,
    source: u64,
) -> Result<Vec<Option<i64>>, Fault> {
    const DELTA: i64 = 1 << 20;
    let base = random_buffers(n, b, 11);
    let mut bumped = base.clone();
    for v in &mut bumped[source as usize] {
        *v += DELTA;
    }
    let s0 = run_numbers(b, &base, steps, upto)?;
    let s1 = run_numbers(b, &bumped, steps, upto)?;
    let (d0, d1) = (&s0.dev[rank as usize], &s1.dev[rank as usize]);
    Ok((0..b)
        .map(|e| match d0.region {
            Some((lo, hi)) if lo <= e && e < hi => {
                let diff = d1.vals[e - lo].wrapping_sub(d0.vals[e - lo]);
                assert_eq!(diff % DELTA, 0, "values are linear in the inputs");
                Some(diff / DELTA)
            }
            _ => None,
        })
        .collect())
}

// ------------------------------------------------------------------ re-checks

/// Re-checks a counterexample of `semantics::run` independently: a missing, twice or
/// extra source by the numbers (multiplicity probes on random buffers), a missing part
/// or an ill-formed step by the simulator's validity tracking. Panics with a reason
/// when the counterexample does not hold.
pub fn recheck(
    c: &collsynth::semantics::Counterexample,
    arities: &[u64],
    matrix: &[Vec<u64>],
    keys: &[Vec<u64>],
    steps: &[(Collective, Vec<Vec<u64>>)],
) {
    use collsynth::semantics::Kind;
    let n: usize = arities.iter().product::<u64>() as usize;
    let b = buffer_len(steps);
    assert_eq!(
        c.coords,
        convention_coords(arities, matrix, c.rank),
        "{c:?}"
    );
    assert!(c.message.contains(&format!("rank {}", c.rank)), "{c:?}");
    let part = c.part.map(|p| {
        assert_eq!(
            b as u64 % p.den,
            0,
            "part {p:?} is not whole elements of {b}"
        );
        let k = b as u64 / p.den;
        ((p.lo * k) as usize, (p.hi * k) as usize)
    });
    let in_group = |s: u64| keys[s as usize] == keys[c.rank as usize];
    match (c.kind, c.step, c.source) {
        (Kind::IllFormed, Some(step), _) => {
            let mut sim = Sim::new(b, &random_buffers(n, b, 3));
            for (si, (op, groups)) in steps.iter().enumerate() {
                if let Err(f) = sim.step(si, *op, groups, true) {
                    assert_eq!(f.kind, "ill_formed", "{c:?} vs {f:?}");
                    assert_eq!(f.step, Some(step), "{c:?} vs {f:?}");
                    break;
                }
                assert!(
                    si + 1 < step,
                    "step {step} ran fine in the simulator: {c:?}"
                );
            }
            let members = &steps[step - 1].1;
            assert!(members.iter().flatten().any(|&r| r == c.rank), "{c:?}");
        }
        (Kind::Twice, Some(step), Some(s)) => {
            let (lo, hi) = part.expect("a twice counterexample names a part");
            let m = multiplicity(n, b, steps, Some(step - 1), c.rank, s)
                .expect("steps before and at a twice fault are well-formed");
            for (e, me) in m.iter().enumerate().take(hi).skip(lo) {
                assert!(
                    matches!(me, Some(k) if *k >= 2),
                    "{c:?}: element {e}: {me:?}"
                );
            }
        }
        (Kind::Missing | Kind::Extra, None, Some(s)) => {
            let (lo, hi) = part.expect("a final fault names a part");
            let m = multiplicity(n, b, steps, None, c.rank, s).expect("well-formed program");
            for (e, me) in m.iter().enumerate().take(hi).skip(lo) {
                match c.kind {
                    Kind::Missing => assert!(in_group(s) && *me == Some(0), "{c:?}: {e}: {me:?}"),
                    _ => assert!(!in_group(s) && matches!(me, Some(k) if *k >= 1), "{c:?}"),
                }
            }
            // And the numbers are wrong there: the value differs from the sum over
            // the reduction group.
            let init = random_buffers(n, b, 5);
            let sim = run_numbers(b, &init, steps, None).expect("well-formed program");
            let d = &sim.dev[c.rank as usize];
            let (rlo, _) = d.region.expect("the device holds data");
            let want = (0..n as u64)
                .filter(|&s| in_group(s))
                .fold(0i64, |a, s| a.wrapping_add(init[s as usize][lo]));
            assert_ne!(d.vals[lo - rlo], want, "{c:?}: the numbers come out right");
        }
        (Kind::Missing, None, None) => {
            let (lo, hi) = part.expect("a missing part is named");
            let sim =
                run_numbers(b, &random_buffers(n, b, 5), steps, None).expect("well-formed program");
            match sim.dev[c.rank as usize].region {
                None => {}
                Some((rlo, rhi)) => assert!(rhi <= lo || hi <= rlo, "{c:?} holds the part"),
            }
        }
        _ => panic!("counterexample of an unexpected shape: {c:?}"),
    }
}

/// Runs `program` through `semantics::run` (on `lowered::lower`) and through the
/// simulator (on groups computed here from the convention); asserts the lowering
/// matches, the verdicts agree (kind and step; the rank too for final faults), and
/// re-checks the counterexample. Returns the interpreter's verdict.
pub fn compare(
    spec: &Spec,
    placement: &collsynth::placement::Placement,
    request: &[usize],
    program: &collsynth::program::Program,
    what: &str,
) -> Result<(), collsynth::semantics::Kind> {
    let arities: Vec<u64> = spec.system.levels.iter().map(|l| l.arity).collect();
    let matrix = &placement.matrix;
    let lowered = collsynth::lowered::lower(placement, program);
    let steps: Vec<(Collective, Vec<Vec<u64>>)> = program
        .steps
        .iter()
        .map(|s| {
            let d: Vec<(usize, usize)> = s.dims.iter().map(|d| (d.level, d.axis)).collect();
            let r: Vec<(usize, usize)> = s.roots.iter().map(|d| (d.level, d.axis)).collect();
            (s.op, convention_groups(&arities, matrix, &d, &r))
        })
        .collect();
    for (l, (_, g)) in lowered.steps.iter().zip(&steps) {
        assert_eq!(&l.groups, g, "{what}: lowering");
    }
    let keys = reduction_keys(&arities, matrix, request);
    let got = collsynth::semantics::run(spec, placement, request, &lowered);
    let want = simulate(placement.devices() as usize, &keys, &steps);
    let text = program.text(spec);
    match (&got, &want) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(c), Err(f)) => {
            assert_eq!(c.kind.to_string(), f.kind, "{what}: {text}: {c:?}");
            assert_eq!(c.step, f.step, "{what}: {text}: {c:?}");
            if f.step.is_none() {
                assert_eq!(c.rank, f.rank, "{what}: {text}");
            }
            recheck(c, &arities, matrix, &keys, &steps);
            Err(c.kind)
        }
        _ => panic!("{what}: {text}: interpreter {got:?}, simulator {want:?}"),
    }
}
