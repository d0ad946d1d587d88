//! The placement-independent vocabulary of synthesis: a request's reduction dims as
//! abstract indices, sets of them ([`DimSet`]), and abstract steps ([`AbsStep`]).
//!
//! For a request on a placement, the *reduction dims* are the placement's dims whose
//! axis the request names, in significance order; abstract dim `i` is the `i`-th of
//! them (0 = most significant). Whether a program over reduction dims is correct
//! depends only on their number and order, never on their sizes, levels or the other
//! dims (which only replicate independent copies of the problem), so one e-graph per
//! dim count serves every placement and request. An abstract step also carries the
//! *shard* it runs under (the dims scattered before it), which fixes the bytes each
//! participant holds and makes a step's cost local.

use std::fmt;
use std::str::FromStr;

use crate::program::{Collective, DimRef, Step};

/// A set of abstract dims, bit `i` = dim `i`. Written `{0,2}`; `{}` is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DimSet(pub u32);

/// The most reduction dims synthesis handles (the width of [`DimSet`]).
pub const MAX_DIMS: usize = 32;

impl DimSet {
    /// The empty set.
    pub const EMPTY: DimSet = DimSet(0);

    /// `{0, 1, …, k-1}`.
    pub fn all(k: usize) -> DimSet {
        if k >= 32 {
            DimSet(u32::MAX)
        } else {
            DimSet((1u32 << k) - 1)
        }
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of dims.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether dim `i` is in the set.
    pub fn contains(self, i: usize) -> bool {
        i < 32 && self.0 & (1 << i) != 0
    }

    /// Union.
    pub fn union(self, o: DimSet) -> DimSet {
        DimSet(self.0 | o.0)
    }

    /// Difference.
    pub fn minus(self, o: DimSet) -> DimSet {
        DimSet(self.0 & !o.0)
    }

    /// Intersection.
    pub fn meet(self, o: DimSet) -> DimSet {
        DimSet(self.0 & o.0)
    }

    /// Whether the sets share no dim.
    pub fn disjoint(self, o: DimSet) -> bool {
        self.0 & o.0 == 0
    }

    /// Whether every dim of `self` is in `o`.
    pub fn subset_of(self, o: DimSet) -> bool {
        self.0 & !o.0 == 0
    }

    /// The dims, most significant (lowest index) first.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..32usize).filter(move |&i| self.0 & (1 << i) != 0)
    }

    /// Every subset of `self`, in ascending order of the bit pattern.
    pub fn subsets(self) -> impl Iterator<Item = DimSet> {
        // Enumerate submasks upwards: next = ((s | !m) + 1) & m.
        let m = self.0;
        let mut next = Some(0u32);
        std::iter::from_fn(move || {
            let s = next?;
            next = if s == m {
                None
            } else {
                Some(((s | !m).wrapping_add(1)) & m)
            };
            Some(DimSet(s))
        })
    }

    /// Whether every dim of `self` is more significant than every dim of `o`.
    pub fn all_before(self, o: DimSet) -> bool {
        match (self.iter().last(), o.iter().next()) {
            (Some(a), Some(b)) => a < b,
            _ => true,
        }
    }
}

impl fmt::Display for DimSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (n, i) in self.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write!(f, "{i}")?;
        }
        f.write_str("}")
    }
}

/// Why a token is not a dim set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a dim set: write `{{0,2}}` (abstract dim indices) or `{{}}`")]
pub struct DimSetError(pub String);

impl FromStr for DimSet {
    type Err = DimSetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DimSetError(s.to_string());
        let inner = s
            .strip_prefix('{')
            .and_then(|r| r.strip_suffix('}'))
            .ok_or_else(err)?;
        let mut m = 0u32;
        if inner.is_empty() {
            return Ok(DimSet(0));
        }
        for part in inner.split(',') {
            let i: usize = part.parse().map_err(|_| err())?;
            if i >= MAX_DIMS || m & (1 << i) != 0 {
                return Err(err());
            }
            m |= 1 << i;
        }
        Ok(DimSet(m))
    }
}

/// A step over abstract dims, with the shard it runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AbsStep {
    /// The collective.
    pub op: Collective,
    /// The dims its groups vary over (non-empty).
    pub dims: DimSet,
    /// Only devices with digit 0 on these dims take part.
    pub roots: DimSet,
    /// The dims scattered before this step: each participant holds
    /// `bytes / Π sizes(shard)` at its start.
    pub shard: DimSet,
}

/// The reduction dims of a request on a placement: abstract dim `i` ↔ `dims[i]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shape {
    /// The placement's dims whose axis is requested, significance order.
    pub dims: Vec<DimRef>,
    /// Their sizes (matrix entries, each > 1).
    pub sizes: Vec<u64>,
}

impl Shape {
    /// Number of reduction dims.
    pub fn len(&self) -> usize {
        self.dims.len()
    }

    /// Whether the request has no dims (every requested axis has size 1 here).
    pub fn is_empty(&self) -> bool {
        self.dims.is_empty()
    }

    /// The reduction dims of `request_axes` on `placement`.
    pub fn of(placement: &crate::placement::Placement, request_axes: &[usize]) -> Shape {
        let (dims, sizes) = placement
            .dims
            .iter()
            .filter(|d| request_axes.contains(&d.axis))
            .map(|d| {
                (
                    DimRef {
                        level: d.level,
                        axis: d.axis,
                    },
                    d.size,
                )
            })
            .unzip();
        Shape { dims, sizes }
    }

    /// Product of the sizes of a set of dims.
    pub fn product(&self, set: DimSet) -> u64 {
        set.iter()
            .map(|i| self.sizes.get(i).copied().unwrap_or(1))
            .product()
    }

    /// The concrete dims of a set, significance order.
    pub fn refs(&self, set: DimSet) -> Vec<DimRef> {
        set.iter()
            .filter_map(|i| self.dims.get(i).copied())
            .collect()
    }

    /// The concrete step of an abstract one.
    pub fn step(&self, s: &AbsStep) -> Step {
        Step::new(s.op, self.refs(s.dims)).at_roots(self.refs(s.roots))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dim_sets_print_and_parse() {
        for (m, t) in [(0u32, "{}"), (0b101, "{0,2}"), (1 << 31, "{31}")] {
            assert_eq!(DimSet(m).to_string(), t);
            assert_eq!(t.parse::<DimSet>(), Ok(DimSet(m)));
        }
        for bad in ["0,2", "{0,0}", "{x}", "{32}", "{0,}"] {
            assert!(bad.parse::<DimSet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn subsets_enumerates_every_submask_once() {
        let s: Vec<u32> = DimSet(0b1010).subsets().map(|d| d.0).collect();
        assert_eq!(s, vec![0b0000, 0b0010, 0b1000, 0b1010]);
        assert_eq!(DimSet(0).subsets().count(), 1);
        assert_eq!(DimSet::all(5).subsets().count(), 32);
    }

    #[test]
    fn significance_order() {
        assert!(DimSet(0b0011).all_before(DimSet(0b1100)));
        assert!(!DimSet(0b0101).all_before(DimSet(0b0010)));
    }
}
