//! Stalled partitions: records wait in a partition that no live member
//! consumes.
//!
//! A group coordinator can keep a member that is gone — Tansu 0.6 after a
//! broker freeze keeps the member whose session timed out and hands it
//! partitions nobody reads — and the group never rebalances by itself. Each
//! member watches the partitions it does *not* hold: when one has records
//! past its committed offset and that offset has not moved for
//! `--stall-restart`, the member restarts its consumer (leaves the group and
//! joins as a new member), which makes the coordinator form the group again.
//! The decision lives here, on times handed in; the polling is in
//! [`super::consumer`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Default of `--stall-restart`.
pub const DEFAULT_STALL_RESTART: Duration = Duration::from_secs(60);

/// A partition of a source topic, by name.
pub type TopicPartition = (String, i32);

/// A partition found stalled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stalled {
    /// The partition.
    pub partition: TopicPartition,
    /// Its committed offset (`-1`: never committed).
    pub committed: i64,
    /// Its high watermark.
    pub high_watermark: i64,
    /// How long the committed offset has not moved while records waited.
    pub for_how_long: Duration,
}

/// Tracks how long each partition's committed offset has stood still
/// while records waited behind it.
#[derive(Debug)]
pub struct StallTracker {
    after: Duration,
    /// Committed offset last seen and since when it has not moved with
    /// records waiting.
    standing: BTreeMap<TopicPartition, (i64, Instant)>,
}

impl StallTracker {
    /// A tracker reporting partitions stalled for at least `after`.
    pub fn new(after: Duration) -> Self {
        Self {
            after,
            standing: BTreeMap::new(),
        }
    }

    /// Notes a partition this member holds: it is not stalled by someone else.
    pub fn held(&mut self, partition: &TopicPartition) {
        self.standing.remove(partition);
    }

    /// Notes what the broker says of a partition this member does not hold
    /// (`committed` `-1` when never committed); returns it if it has been
    /// stalled long enough.
    pub fn observe(
        &mut self,
        now: Instant,
        partition: TopicPartition,
        committed: i64,
        high_watermark: i64,
    ) -> Option<Stalled> {
        if high_watermark <= committed.max(0) {
            // Nothing waits (or the broker's watermark cannot tell).
            self.standing.remove(&partition);
            return None;
        }
        let entry = self.standing.entry(partition.clone()).or_insert((committed, now));
        if entry.0 != committed {
            *entry = (committed, now);
        }
        let for_how_long = now.saturating_duration_since(entry.1);
        (for_how_long >= self.after).then_some(Stalled {
            partition,
            committed,
            high_watermark,
            for_how_long,
        })
    }

    /// Forgets everything (after a restart: a new member, new timers).
    pub fn reset(&mut self) {
        self.standing.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: i32) -> TopicPartition {
        ("latency-metrics".to_owned(), n)
    }

    #[test]
    fn a_partition_whose_commit_stands_still_behind_waiting_records_is_stalled_after_the_limit() {
        let t0 = Instant::now();
        let mut tracker = StallTracker::new(Duration::from_secs(60));
        assert_eq!(tracker.observe(t0, p(0), 100, 500), None);
        assert_eq!(
            tracker.observe(t0 + Duration::from_secs(59), p(0), 100, 900),
            None
        );
        let stalled = tracker
            .observe(t0 + Duration::from_secs(61), p(0), 100, 950)
            .expect("stalled");
        assert_eq!(stalled.partition, p(0));
        assert_eq!((stalled.committed, stalled.high_watermark), (100, 950));
        assert_eq!(stalled.for_how_long, Duration::from_secs(61));
    }

    #[test]
    fn a_moving_commit_restarts_the_clock() {
        let t0 = Instant::now();
        let mut tracker = StallTracker::new(Duration::from_secs(60));
        tracker.observe(t0, p(1), 100, 500);
        tracker.observe(t0 + Duration::from_secs(50), p(1), 120, 500);
        assert_eq!(
            tracker.observe(t0 + Duration::from_secs(100), p(1), 120, 500),
            None
        );
        assert!(tracker
            .observe(t0 + Duration::from_secs(111), p(1), 120, 500)
            .is_some());
    }

    #[test]
    fn nothing_waiting_or_a_partition_we_hold_is_never_stalled() {
        let t0 = Instant::now();
        let mut tracker = StallTracker::new(Duration::from_secs(10));
        // Caught up: the watermark is at the commit.
        tracker.observe(t0, p(2), 500, 500);
        assert_eq!(
            tracker.observe(t0 + Duration::from_secs(30), p(2), 500, 500),
            None
        );
        // Never committed, nothing written.
        assert_eq!(tracker.observe(t0 + Duration::from_secs(30), p(3), -1, 0), None);
        // Never committed with records waiting counts from the first look.
        tracker.observe(t0, p(4), -1, 7);
        assert!(tracker
            .observe(t0 + Duration::from_secs(10), p(4), -1, 7)
            .is_some());
        // Held by this member: the clock is dropped.
        tracker.observe(t0, p(5), 1, 9);
        tracker.held(&p(5));
        assert_eq!(tracker.observe(t0 + Duration::from_secs(10), p(5), 1, 9), None);
        tracker.reset();
        assert_eq!(tracker.observe(t0 + Duration::from_secs(20), p(4), -1, 7), None);
    }
}
