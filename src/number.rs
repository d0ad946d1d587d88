//! Whole-number arithmetic the conventions rest on: greatest common divisors and
//! least common multiples (atom counts of the semantics, fractions of a buffer,
//! divisors of a level's arity).

/// The greatest common divisor (`gcd(0, 0) = 0`).
pub fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The least common multiple, saturating at `u64::MAX`; with a 0, the other one.
pub fn lcm(a: u64, b: u64) -> u64 {
    if a == 0 || b == 0 {
        return a.max(b);
    }
    (a / gcd(a, b)).saturating_mul(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcd_and_lcm() {
        assert_eq!(gcd(12, 18), 6);
        assert_eq!(gcd(0, 5), 5);
        assert_eq!(lcm(4, 6), 12);
        assert_eq!(lcm(0, 7), 7);
        assert_eq!(lcm(u64::MAX, 2), u64::MAX);
    }
}
