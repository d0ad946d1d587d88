//! Running independent checks on every core.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// How many threads [`map`] uses: `COLLSYNTH_TEST_THREADS` if set (`=1` runs the
/// checks one by one), else the machine's available parallelism.
pub fn threads() -> usize {
    std::env::var("COLLSYNTH_TEST_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .max(1)
}

/// `f` on every item, items taken from one shared queue by [`threads`] workers;
/// the results in item order. When `f` panics the workers stop taking items, and
/// the panic is raised again here for the lowest item index that panicked, its
/// message prefixed with that index.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let done: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    let failed: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads().min(items.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items.len() || stop.load(Ordering::Relaxed) {
                    break;
                }
                match panic::catch_unwind(AssertUnwindSafe(|| f(&items[i]))) {
                    Ok(r) => done.lock().unwrap().push((i, r)),
                    Err(payload) => {
                        stop.store(true, Ordering::Relaxed);
                        let message = payload
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| payload.downcast_ref::<&str>().map(|m| m.to_string()))
                            .unwrap_or_else(|| "(no message)".into());
                        failed.lock().unwrap().push((i, message));
                    }
                }
            });
        }
    });
    if let Some((i, message)) = failed.into_inner().unwrap().into_iter().min_by_key(|f| f.0) {
        panic!("item {i} of {}: {message}", items.len());
    }
    let mut done = done.into_inner().unwrap();
    done.sort_by_key(|d| d.0);
    assert_eq!(done.len(), items.len(), "every item checked");
    done.into_iter().map(|(_, r)| r).collect()
}
