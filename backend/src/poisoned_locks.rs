//! Poisoned locks: a thread panicked while holding a lock, so what the lock
//! guards may be half-changed. Every one met is logged and counted, and the
//! work it guarded is skipped (never silently): the count is summed into
//! `mss_poisoned_locks_total` on `/metrics` and into the page's problems.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

/// How many poisoned locks one component met.
#[derive(Debug, Default)]
pub struct PoisonedLocks(AtomicU64);

impl PoisonedLocks {
    /// Counts a poisoned lock on `what` and logs what was skipped because of it.
    pub fn note(&self, what: &str, skipped: &str) {
        self.0.fetch_add(1, Relaxed);
        tracing::error!("{what} lock poisoned: {skipped}");
    }

    /// The poisoned locks met so far.
    pub fn count(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_note_is_counted() {
        let p = PoisonedLocks::default();
        assert_eq!(p.count(), 0);
        p.note("test", "nothing");
        p.note("test", "nothing");
        assert_eq!(p.count(), 2);
    }
}
