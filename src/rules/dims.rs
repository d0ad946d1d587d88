//! Sets of abstract dims ([`DimSet`]): the values the rule language's set variables
//! take. Abstract dim `i` is the `i`-th reduction dim of a request (0 = most
//! significant); a set is a bit mask, written `{0,2}` (`{}` is empty).

use std::fmt;
use std::str::FromStr;

/// A set of abstract dims, bit `i` = dim `i`. Written `{0,2}`; `{}` is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DimSet(pub u32);

impl DimSet {
    /// The most dims a set holds (its width in bits).
    pub const CAPACITY: usize = 32;

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
            if i >= DimSet::CAPACITY || m & (1 << i) != 0 {
                return Err(err());
            }
            m |= 1 << i;
        }
        Ok(DimSet(m))
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
