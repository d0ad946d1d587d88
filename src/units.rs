//! Quantities with units: bandwidths, times and sizes as they appear in spec files
//! and on the command line ("100 GB/s", "5 us", "1 GB").
//!
//! Decimal prefixes are powers of 10 (1 GB = 10^9 bytes, as nccl-tests reports);
//! binary prefixes (`KiB`, `MiB`, `GiB`) are powers of 2. Bits are converted to bytes
//! (1 Gb/s = 0.125 GB/s), because NIC rates are quoted in bits and NVLink in bytes.

use std::fmt;

/// Why a quantity did not parse; the message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(pub String);

/// A unit as an exact factor `mult × 10^exp`, so that a quantity is converted to a
/// float once, correctly rounded: "5 us" is exactly the float `5e-6`.
#[derive(Debug, Clone, Copy)]
struct Factor {
    mult: u128,
    exp: i32,
}

const fn f(mult: u128, exp: i32) -> Factor {
    Factor { mult, exp }
}

const BANDWIDTH_UNITS: &[(&str, Factor)] = &[
    ("TB/s", f(1, 12)),
    ("GB/s", f(1, 9)),
    ("MB/s", f(1, 6)),
    // Bits: 1/8 = 125 × 10^-3.
    ("Tb/s", f(125, 9)),
    ("Gb/s", f(125, 6)),
    ("Mb/s", f(125, 3)),
    // Binary prefixes, as sizes accept them: 1 GiB/s = 2^30 bytes per second.
    ("TiB/s", f(1 << 40, 0)),
    ("GiB/s", f(1 << 30, 0)),
    ("MiB/s", f(1 << 20, 0)),
];
const TIME_UNITS: &[(&str, Factor)] = &[
    ("ns", f(1, -9)),
    ("us", f(1, -6)),
    ("µs", f(1, -6)),
    ("ms", f(1, -3)),
    ("s", f(1, 0)),
];
const SIZE_UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

/// The accepted bandwidths, bytes per second: 1 MB/s to 1000 TB/s. Slower than any
/// network a collective runs on, faster than any link built; inside the range (with
/// [`MAX_BYTES`] and at most 2^40 devices) every cost is a finite number of
/// femtoseconds far below `u128::MAX`.
pub const BANDWIDTH_RANGE: (f64, f64) = (1e6, 1e15);
/// The accepted latencies and launch costs, seconds: 1 ps (0.001 ns) to 10 s.
pub const TIME_RANGE: (f64, f64) = (1e-12, 10.0);
/// The largest buffer: 2^50 bytes (1 PiB), far above any device's memory.
pub const MAX_BYTES: u64 = 1 << 50;
/// Significant digits a quantity may have (more is not a measurement).
const MAX_DIGITS: usize = 30;

fn unit_list<T>(units: &[(&str, T)]) -> String {
    units
        .iter()
        .map(|(u, _)| format!("`{u}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A positive decimal number, exactly: `digits × 10^exp`, `digits` without trailing
/// zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decimal {
    digits: u128,
    exp: i32,
}

impl Decimal {
    /// The nearest float to `digits × mult × 10^(exp + by.exp)` (Rust's float parser
    /// rounds correctly): one rounding, so equal quantities are equal floats.
    fn to_f64(self, by: Factor) -> f64 {
        // At most 30 digits times 125: far below u128::MAX.
        let m = self.digits.saturating_mul(by.mult);
        format!("{m}e{}", i64::from(self.exp) + i64::from(by.exp))
            .parse()
            .unwrap_or(f64::NAN)
    }
}

enum DecimalError {
    NotNumber,
    NotPositive,
    TooManyDigits,
}

/// `[+|-]digits[.digits][(e|E)[+|-]digits]` (no `_`), exactly; it must be above zero.
fn parse_decimal(t: &str) -> Result<Decimal, DecimalError> {
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return Err(DecimalError::NotNumber);
    }
    let mut exp: i64 = match exponent {
        None => 0,
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !all_digits(digits) {
                return Err(DecimalError::NotNumber);
            }
            // Nothing beyond 10^±99,999 is in any range; keep the arithmetic small.
            let digits = digits.trim_start_matches('0');
            let v: i64 = if digits.len() > 5 {
                99_999
            } else {
                digits.parse().unwrap_or(0)
            };
            if e.starts_with('-') {
                -v
            } else {
                v
            }
        }
    };
    let all = format!("{int}{frac}");
    exp -= frac.len() as i64;
    let significant = all.trim_start_matches('0');
    let trimmed = significant.trim_end_matches('0');
    exp += (significant.len() - trimmed.len()) as i64;
    if trimmed.is_empty() || negative {
        return Err(DecimalError::NotPositive);
    }
    if trimmed.len() > MAX_DIGITS {
        return Err(DecimalError::TooManyDigits);
    }
    let digits: u128 = trimmed.parse().map_err(|_| DecimalError::NotNumber)?;
    Ok(Decimal {
        digits,
        exp: exp.clamp(-1_000_000, 1_000_000) as i32,
    })
}

/// Splits "100 GB/s" into the exact number 100 and "GB/s"; the space is optional.
fn split_number(text: &str, what: &str, example: &str) -> Result<(Decimal, String), UnitError> {
    let t = text.trim();
    let end = t
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E' | '_')))
        .map_or(t.len(), |(i, _)| i);
    let (num, unit) = t.split_at(end);
    let unit = unit.trim();
    let word = t.trim_start_matches(['+', '-']).to_ascii_lowercase();
    if word.starts_with("inf") || word.starts_with("nan") {
        return Err(UnitError(format!(
            "`{text}` is not finite: a {what} must be a finite positive number, like \"{example}\""
        )));
    }
    if num.is_empty() {
        return Err(UnitError(format!(
            "`{text}` is not a {what}: it should start with a number, like \"{example}\""
        )));
    }
    let d = parse_decimal(&num.replace('_', "")).map_err(|e| {
        UnitError(match e {
            DecimalError::NotNumber => format!(
                "`{text}` is not a {what}: `{num}` is not a number (write it like \"{example}\")"
            ),
            DecimalError::NotPositive => format!(
                "`{text}` is not positive: a {what} must be greater than zero, like \"{example}\""
            ),
            DecimalError::TooManyDigits => format!(
                "`{text}` has more than {MAX_DIGITS} significant digits: write the {what} with fewer, like \"{example}\""
            ),
        })
    })?;
    Ok((d, unit.to_string()))
}

fn lookup<T: Copy>(
    text: &str,
    unit: &str,
    units: &[(&str, T)],
    what: &str,
    example: &str,
) -> Result<T, UnitError> {
    if unit.is_empty() {
        return Err(UnitError(format!(
            "`{text}` has no unit: write the {what} with one of {} (for example \"{example}\")",
            unit_list(units)
        )));
    }
    units
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|&(_, f)| f)
        .ok_or_else(|| {
            UnitError(format!(
                "`{unit}` is not a {what} unit: {}use one of {} (for example \"{example}\")",
                unit_suggestion(unit, units),
                unit_list(units)
            ))
        })
}

/// "did you mean ...? " for a unit spelled in another case (`gb/s`: `GB/s` or `Gb/s`),
/// with `ps` for `/s` (`Gbps`), `bit`/`byte` words (`Gbit/s`) or `sec` (`usec`).
fn unit_suggestion<T>(unit: &str, units: &[(&str, T)]) -> String {
    let mut u = unit.replace(' ', "");
    for (from, to) in [("bits", "b"), ("bit", "b"), ("bytes", "B"), ("byte", "B")] {
        u = u.replace(from, to);
    }
    if let Some(stem) = u.strip_suffix("ps") {
        u = format!("{stem}/s");
    } else if let Some(stem) = u.strip_suffix("sec") {
        u = format!("{stem}s");
    }
    let u = u.replace('\u{3bc}', "\u{b5}");
    let exact: Vec<&str> = units.iter().map(|(n, _)| *n).filter(|n| *n == u).collect();
    let found = if exact.is_empty() {
        units
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| n.eq_ignore_ascii_case(&u))
            .collect()
    } else {
        exact
    };
    let what = |n: &str| {
        if n.ends_with("b/s") {
            " (bits per second)"
        } else if n.ends_with("B/s") {
            " (bytes per second)"
        } else {
            ""
        }
    };
    match found.as_slice() {
        [] => String::new(),
        [one] => format!("did you mean `{one}`? "),
        many => format!(
            "did you mean {}? ",
            many.iter()
                .map(|n| format!("`{n}`{}", what(n)))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    }
}

/// A value checked against its range, the range named in the message.
fn in_range(
    v: f64,
    text: &str,
    what: &str,
    range: (f64, f64),
    shown: &str,
) -> Result<f64, UnitError> {
    if v.is_finite() && v >= range.0 && v <= range.1 {
        Ok(v)
    } else {
        Err(UnitError(format!(
            "`{text}` is out of range: a {what} must be between {shown}"
        )))
    }
}

/// A bandwidth in bytes per second (each direction).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Bandwidth(pub f64);

impl Bandwidth {
    /// Parses "100 GB/s", "200 Gb/s", ... within [`BANDWIDTH_RANGE`].
    pub fn parse(text: &str) -> Result<Self, UnitError> {
        let (v, u) = split_number(text, "bandwidth", "100 GB/s")?;
        let f = lookup(text, &u, BANDWIDTH_UNITS, "bandwidth", "100 GB/s")?;
        in_range(
            v.to_f64(f),
            text,
            "bandwidth",
            BANDWIDTH_RANGE,
            "1 MB/s and 1000 TB/s",
        )
        .map(Bandwidth)
    }
    /// Bytes per second.
    pub fn bytes_per_s(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} GB/s", trim_float(self.0 / 1e9))
    }
}

/// A duration in seconds.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Duration(pub f64);

impl Duration {
    /// Parses "5 us", "1.5 ms", ... within [`TIME_RANGE`].
    pub fn parse(text: &str) -> Result<Self, UnitError> {
        let (v, u) = split_number(text, "time", "5 us")?;
        let f = lookup(text, &u, TIME_UNITS, "time", "5 us")?;
        in_range(v.to_f64(f), text, "time", TIME_RANGE, "0.001 ns and 10 s").map(Duration)
    }
    /// Seconds.
    pub fn seconds(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_seconds(self.0))
    }
}

/// Parses a size ("1 GB", "64 MiB", "4096 B" or a bare integer) into a whole number
/// of bytes from 1 to [`MAX_BYTES`], exactly (integer arithmetic).
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let t = text.trim();
    let bare = !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '_');
    let (d, unit) = if bare {
        (split_number(t, "size", "1 GB")?.0, 1)
    } else {
        let (d, u) = split_number(text, "size", "1 GB")?;
        (d, lookup(text, &u, SIZE_UNITS, "size", "1 GB")?)
    };
    let too_large = || {
        UnitError(format!(
            "`{text}` is too large a size: a buffer is at most 2^50 bytes (1 PiB)"
        ))
    };
    let not_whole = || {
        UnitError(format!(
            "`{text}` is not a whole number of bytes (at least 1); use a smaller unit"
        ))
    };
    // digits × unit × 10^exp: a whole number when 10^-exp divides digits × unit.
    let m = d
        .digits
        .checked_mul(u128::from(unit))
        .ok_or_else(too_large)?;
    let bytes = if d.exp >= 0 {
        if d.exp > 20 {
            return Err(too_large());
        }
        m.checked_mul(10u128.pow(d.exp as u32))
            .ok_or_else(too_large)?
    } else {
        match u32::try_from(-i64::from(d.exp)) {
            Ok(k) if k <= 38 && m % 10u128.pow(k) == 0 => m / 10u128.pow(k),
            _ => return Err(not_whole()),
        }
    };
    if bytes > u128::from(MAX_BYTES) {
        return Err(too_large());
    }
    Ok(bytes as u64)
}

/// A float without trailing zeros (`12.5`, `376`), as quantities are shown.
pub fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Formats seconds with a readable unit: "7.45 ms", "12.3 us".
pub fn format_seconds(s: f64) -> String {
    let (v, u) = if s >= 1.0 {
        (s, "s")
    } else if s >= 1e-3 {
        (s * 1e3, "ms")
    } else if s >= 1e-6 {
        (s * 1e6, "us")
    } else {
        (s * 1e9, "ns")
    };
    format!("{} {u}", sig3(v))
}

/// Formats a byte count with a decimal unit: "1 GB", "4 KB", "1.5 MB".
pub fn format_bytes(b: f64) -> String {
    let (v, u) = if b >= 1e12 {
        (b / 1e12, "TB")
    } else if b >= 1e9 {
        (b / 1e9, "GB")
    } else if b >= 1e6 {
        (b / 1e6, "MB")
    } else if b >= 1e3 {
        (b / 1e3, "KB")
    } else {
        (b, "B")
    };
    format!("{} {u}", sig3(v))
}

/// Formats a bandwidth with a decimal unit: "1 TB/s", "370 GB/s".
pub fn format_bandwidth(bps: f64) -> String {
    let b = format_bytes(bps);
    format!("{b}/s")
}

/// Three significant figures, trailing zeros trimmed.
fn sig3(v: f64) -> String {
    let decimals = if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_eighths_of_bytes() {
        assert_eq!(Bandwidth::parse("100 Gb/s").unwrap().0, 12.5e9);
        assert_eq!(Bandwidth::parse("235 GB/s").unwrap().0, 235e9);
        assert_eq!(Bandwidth::parse("1600Gb/s").unwrap().0, 200e9);
    }

    #[test]
    fn times_and_sizes() {
        assert!((Duration::parse("5 us").unwrap().0 - 5e-6).abs() < 1e-18);
        assert!((Duration::parse("5 µs").unwrap().0 - 5e-6).abs() < 1e-18);
        assert_eq!(parse_size("1 GB").unwrap(), 1_000_000_000);
        assert_eq!(parse_size("64 MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("1.5 KB").unwrap(), 1500);
    }

    #[test]
    fn bad_quantities_say_what_to_write() {
        assert!(Bandwidth::parse("100").unwrap_err().0.contains("no unit"));
        assert_eq!(Bandwidth::parse("1 GiB/s").unwrap().0, 1_073_741_824.0);
        let e = Bandwidth::parse("100 gb/s").unwrap_err().0;
        assert!(e.contains("not a bandwidth unit"), "{e}");
        assert!(
            e.contains("did you mean `GB/s` (bytes per second) or `Gb/s` (bits per second)?"),
            "{e}"
        );
        let e = Bandwidth::parse("100 Gbps").unwrap_err().0;
        assert!(e.contains("did you mean `Gb/s`?"), "{e}");
        let e = Bandwidth::parse("100 Gbit/s").unwrap_err().0;
        assert!(e.contains("did you mean `Gb/s`?"), "{e}");
        let e = Duration::parse("5 usec").unwrap_err().0;
        assert!(e.contains("did you mean `us`?"), "{e}");
        let e = parse_size("1 gb").unwrap_err().0;
        assert!(e.contains("did you mean `GB`?"), "{e}");
        assert!(!Bandwidth::parse("1 furlong/s")
            .unwrap_err()
            .0
            .contains("did you mean"));
        assert!(Duration::parse("-5 us")
            .unwrap_err()
            .0
            .contains("not positive"));
        assert!(Duration::parse("0 us")
            .unwrap_err()
            .0
            .contains("not positive"));
        assert!(Duration::parse("inf us")
            .unwrap_err()
            .0
            .contains("not finite"));
        assert!(Duration::parse("1e999 s")
            .unwrap_err()
            .0
            .contains("between 0.001 ns and 10 s"));
        assert!(parse_size("0").unwrap_err().0.contains("not positive"));
        assert!(parse_size("0.5 B").unwrap_err().0.contains("whole number"));
    }

    #[test]
    fn quantities_are_exact() {
        assert_eq!(Duration::parse("5 us").unwrap().0, 5e-6);
        assert_eq!(Duration::parse("5000 ns").unwrap().0, 5e-6);
        assert_eq!(Duration::parse("0.005 ms").unwrap().0, 5e-6);
        assert_eq!(Duration::parse("5e-6 s").unwrap().0, 5e-6);
        assert_eq!(Duration::parse("5_000e-3 us").unwrap().0, 5e-6);
        assert_eq!(Duration::parse("0.1 s").unwrap().0, 0.1);
        assert_eq!(Bandwidth::parse("0.3 GB/s").unwrap().0, 0.3e9);
        assert_eq!(Bandwidth::parse("400 Gb/s").unwrap().0, 50e9);
        assert_eq!(
            Bandwidth::parse("1 Mb/s").unwrap_err().0,
            "`1 Mb/s` is out of range: a bandwidth must be between 1 MB/s and 1000 TB/s"
        );
        for bad in ["4e-9 Mb/s", "1e-300 GB/s", "1001 TB/s"] {
            assert!(Bandwidth::parse(bad)
                .unwrap_err()
                .0
                .contains("out of range"));
        }
        assert!(Bandwidth::parse("1000 TB/s").is_ok());
        assert!(Bandwidth::parse("1 MB/s").is_ok());
        assert!(Duration::parse("1e300 s")
            .unwrap_err()
            .0
            .contains("out of range"));
        assert!(Duration::parse("10 s").is_ok());
        assert!(Duration::parse("0.001 ns").is_ok());
        assert!(Duration::parse("0.0001 ns").is_err());
        assert!(Duration::parse("1.0000000000000000000000000000001 s")
            .unwrap_err()
            .0
            .contains("significant digits"));
        for bad in [
            "1e99999999999999999999 s",
            "1e-99999999999999999999 s",
            "1e s",
            ". s",
            "1.2.3 s",
            "--1 s",
            "1e+-3 s",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_are_whole_bytes_up_to_a_pebibyte() {
        assert_eq!(parse_size("1.5 KiB").unwrap(), 1536);
        assert!(parse_size("1e3").unwrap_err().0.contains("unit"));
        assert_eq!(parse_size("1e3 B").unwrap(), 1000);
        assert_eq!(parse_size("0.001 KB").unwrap(), 1);
        assert_eq!(parse_size("1024 TiB").unwrap(), 1 << 50);
        assert_eq!(parse_size("1125899906842624").unwrap(), 1 << 50);
        for big in [
            "1125899906842625",
            "9223372036854775808",
            "1e50 B",
            "1e400 TB",
        ] {
            assert!(parse_size(big).unwrap_err().0.contains("2^50"), "{big}");
        }
        for frac in ["1.0000001 B", "0.0001 KB", "1e-50 TiB", "0.5 B"] {
            assert!(
                parse_size(frac).unwrap_err().0.contains("whole number"),
                "{frac}"
            );
        }
        assert!(parse_size("-1 B").unwrap_err().0.contains("not positive"));
    }

    #[test]
    fn formatting() {
        assert_eq!(format_seconds(7.447e-3), "7.447 ms");
        assert_eq!(format_seconds(12.34e-6), "12.34 us");
        assert_eq!(format_bytes(1e9), "1 GB");
    }
}
