//! Wall-clock time, injected: the pipeline asks its [`Clock`] rather than
//! the system, so tests can hold time still or step it
//! ([`ManualClock`]) and the process edges (a producer stamping records, a
//! benchmark) read [`now_ms`] directly.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

/// A source of Unix epoch milliseconds.
pub trait Clock: Send + Sync + Debug {
    /// The time now, Unix epoch ms.
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// A clock that moves only when told (tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `ms`.
    pub fn at(ms: i64) -> Self {
        Self(AtomicI64::new(ms))
    }

    /// Sets the time.
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Relaxed);
    }

    /// Moves the time forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Relaxed)
    }
}

/// The system's wall-clock time now, Unix epoch ms (0 before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
