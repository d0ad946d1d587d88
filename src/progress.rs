//! Progress of long loops (placements searched, rule obligations discharged, benchmark
//! problems run), reported to whoever asks: the command line draws a bar on a
//! terminal, everything else passes [`Progress::default`], which does nothing.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Receives `(done, total)` after each unit of work; safe to call from several
/// threads (counts are then reported in the order they are reached).
#[derive(Clone, Default)]
pub struct Progress {
    report: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
}

impl Progress {
    /// Reports to `f`.
    pub fn new(f: impl Fn(u64, u64) + Send + Sync + 'static) -> Progress {
        Progress {
            report: Some(Arc::new(f)),
        }
    }

    /// Whether anyone listens (so callers may skip counting).
    pub fn is_active(&self) -> bool {
        self.report.is_some()
    }

    /// `done` of `total` units are finished.
    pub fn report(&self, done: u64, total: u64) {
        if let Some(f) = &self.report {
            f(done, total);
        }
    }

    /// A counter of `total` units for a parallel loop: each [`Counter::tick`] reports
    /// one more.
    pub fn counter(&self, total: u64) -> Counter<'_> {
        Counter {
            progress: self,
            done: AtomicU64::new(0),
            total,
        }
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_active() {
            "Progress(active)"
        } else {
            "Progress(none)"
        })
    }
}

/// Counts finished units across threads (see [`Progress::counter`]).
pub struct Counter<'a> {
    progress: &'a Progress,
    done: AtomicU64,
    total: u64,
}

impl Counter<'_> {
    /// One more unit is finished.
    pub fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.progress.report(done, self.total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn a_counter_reports_every_unit_up_to_the_total() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let p = Progress::new(move |d, t| s.lock().unwrap().push((d, t)));
        let c = p.counter(3);
        (0..3).for_each(|_| c.tick());
        assert_eq!(*seen.lock().unwrap(), vec![(1, 3), (2, 3), (3, 3)]);
        assert!(!Progress::default().is_active());
        Progress::default().report(1, 1);
    }
}
