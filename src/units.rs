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

const BANDWIDTH_UNITS: &[(&str, f64)] = &[
    ("TB/s", 1e12),
    ("GB/s", 1e9),
    ("MB/s", 1e6),
    ("Tb/s", 1e12 / 8.0),
    ("Gb/s", 1e9 / 8.0),
    ("Mb/s", 1e6 / 8.0),
];
const TIME_UNITS: &[(&str, f64)] = &[
    ("ns", 1e-9),
    ("us", 1e-6),
    ("µs", 1e-6),
    ("ms", 1e-3),
    ("s", 1.0),
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

fn unit_list<T>(units: &[(&str, T)]) -> String {
    units
        .iter()
        .map(|(u, _)| format!("`{u}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits "100 GB/s" into (100.0, "GB/s"); the space is optional.
fn split_number(text: &str, what: &str, example: &str) -> Result<(f64, String), UnitError> {
    let t = text.trim();
    let end = t
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E' | '_')))
        .map_or(t.len(), |(i, _)| i);
    // "e" may start a unit only if no digit follows, which none of ours does; but a
    // trailing exponent marker without digits is a unit start, not a number part.
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
    let value: f64 = num.replace('_', "").parse().map_err(|_| {
        UnitError(format!(
            "`{text}` is not a {what}: `{num}` is not a number (write it like \"{example}\")"
        ))
    })?;
    if !value.is_finite() {
        return Err(UnitError(format!(
            "`{text}` is not finite: a {what} must be a finite positive number, like \"{example}\""
        )));
    }
    if value <= 0.0 {
        return Err(UnitError(format!(
            "`{text}` is not positive: a {what} must be greater than zero, like \"{example}\""
        )));
    }
    Ok((value, unit.to_string()))
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
                "`{unit}` is not a {what} unit: use one of {} (for example \"{example}\")",
                unit_list(units)
            ))
        })
}

/// A bandwidth in bytes per second (each direction).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Bandwidth(pub f64);

impl Bandwidth {
    /// Parses "100 GB/s", "200 Gb/s", ...
    pub fn parse(text: &str) -> Result<Self, UnitError> {
        let (v, u) = split_number(text, "bandwidth", "100 GB/s")?;
        let f = lookup(text, &u, BANDWIDTH_UNITS, "bandwidth", "100 GB/s")?;
        finite_positive(v * f, text, "bandwidth").map(Bandwidth)
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
    /// Parses "5 us", "1.5 ms", ...
    pub fn parse(text: &str) -> Result<Self, UnitError> {
        let (v, u) = split_number(text, "time", "5 us")?;
        let f = lookup(text, &u, TIME_UNITS, "time", "5 us")?;
        finite_positive(v * f, text, "time").map(Duration)
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

/// Parses a size ("1 GB", "64 MiB", "4096 B" or a bare integer) into bytes.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let t = text.trim();
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '_') {
        let n: u64 = t.replace('_', "").parse().map_err(|_| {
            UnitError(format!(
                "`{text}` is too large a size (at most 2^64 - 1 bytes)"
            ))
        })?;
        if n == 0 {
            return Err(UnitError(format!(
                "`{text}` is not positive: a size must be at least 1 byte, like \"1 GB\""
            )));
        }
        return Ok(n);
    }
    let (v, u) = split_number(text, "size", "1 GB")?;
    let f = lookup(text, &u, SIZE_UNITS, "size", "1 GB")?;
    let bytes = v * f as f64;
    if !(bytes.is_finite() && bytes < 1.8e19) {
        return Err(UnitError(format!("`{text}` is too large a size")));
    }
    let rounded = bytes.round();
    if (rounded - bytes).abs() > 1e-6 * bytes.max(1.0) || rounded < 1.0 {
        return Err(UnitError(format!(
            "`{text}` is not a whole number of bytes (at least 1); use a smaller unit"
        )));
    }
    Ok(rounded as u64)
}

fn finite_positive(v: f64, text: &str, what: &str) -> Result<f64, UnitError> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(UnitError(format!(
            "`{text}` is out of range: a {what} must be finite and positive"
        )))
    }
}

fn trim_float(v: f64) -> String {
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
        assert!(Bandwidth::parse("100 GiB/s")
            .unwrap_err()
            .0
            .contains("not a bandwidth unit"));
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
            .contains("not finite"));
        assert!(parse_size("0").unwrap_err().0.contains("not positive"));
        assert!(parse_size("0.5 B").unwrap_err().0.contains("whole number"));
    }

    #[test]
    fn formatting() {
        assert_eq!(format_seconds(7.447e-3), "7.447 ms");
        assert_eq!(format_seconds(12.34e-6), "12.34 us");
        assert_eq!(format_bytes(1e9), "1 GB");
    }
}
