//! Peak memory of the process: `getrusage(RUSAGE_SELF).ru_maxrss`, and (on Linux)
//! resetting the peak between problems by writing `5` to `/proc/self/clear_refs`, so
//! that each problem's figure is its own peak rather than the whole run's. Before the
//! reset, freed heap is handed back to the kernel (`malloc_trim`, glibc), or the
//! previous problem's freed-but-kept memory would count as resident.

/// Whether a peak covers one problem or everything the process did so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The peak was reset before the problem ran.
    Problem,
    /// The reset is not available; the figure is the process's peak so far (an upper
    /// bound of the problem's).
    Process,
}

impl Scope {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Problem => "problem",
            Scope::Process => "process",
        }
    }
}

/// Resets the peak resident set size to the current one; `Scope::Process` when the
/// kernel does not allow it.
pub fn reset_peak() -> Scope {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
    match std::fs::write("/proc/self/clear_refs", "5") {
        Ok(()) => Scope::Problem,
        Err(_) => Scope::Process,
    }
}

/// The peak resident set size in bytes (`ru_maxrss` is in KiB on Linux); `None` if
/// `getrusage` fails.
pub fn peak_rss_bytes() -> Option<u64> {
    // SAFETY: `getrusage` writes a `rusage` into the zeroed struct we own and reads
    // nothing else; RUSAGE_SELF is always a valid `who`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return None;
    }
    u64::try_from(usage.ru_maxrss)
        .ok()
        .map(|kib| kib.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_covers_a_fresh_allocation() {
        let before = peak_rss_bytes().expect("getrusage works");
        assert!(before > 0);
        // Touch 64 MiB so that it is resident.
        let v = vec![1u8; 64 << 20];
        let sum: u64 = v.iter().step_by(4096).map(|&b| b as u64).sum();
        assert_eq!(sum, (64 << 20) / 4096);
        let after = peak_rss_bytes().expect("getrusage works");
        assert!(after >= before);
        assert!(
            after >= 64 << 20,
            "peak {after} below the 64 MiB just touched"
        );
    }
}
