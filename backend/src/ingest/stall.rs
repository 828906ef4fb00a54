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
//! A gap that holds only control records (a transaction's marker) is not a
//! stall: before restarting, the watchdog reads the partition
//! ([`super::stall_probe`]) and marks such a gap quiet.
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
    /// Per partition: what was last seen and since when it stood still.
    standing: BTreeMap<TopicPartition, Standing>,
}

/// A partition's committed offset standing still behind its high watermark.
#[derive(Debug, Clone, Copy)]
struct Standing {
    committed: i64,
    since: Instant,
    /// The high watermark at which a probe found only control records
    /// (e.g. a transaction's COMMIT marker) between the commit and it.
    quiet_at: Option<i64>,
    /// Looks in a row that could not tell whether records wait.
    inconclusive: u32,
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
        let fresh = Standing {
            committed,
            since: now,
            quiet_at: None,
            inconclusive: 0,
        };
        let entry = self.standing.entry(partition.clone()).or_insert(fresh);
        if entry.committed != committed {
            *entry = fresh;
        }
        match entry.quiet_at {
            // Only control records wait: not a stall while nothing is added.
            Some(high) if high == high_watermark => return None,
            // Records were added after the quiet look: a new clock.
            Some(_) => *entry = fresh,
            None => {}
        }
        let for_how_long = now.saturating_duration_since(entry.since);
        (for_how_long >= self.after).then_some(Stalled {
            partition,
            committed,
            high_watermark,
            for_how_long,
        })
    }

    /// Notes that a look into a stalled partition found no record past
    /// its commit (only control records up to `stalled.high_watermark`):
    /// it is not reported again until its commit or watermark moves.
    pub fn quiet(&mut self, stalled: &Stalled) {
        if let Some(entry) = self.standing.get_mut(&stalled.partition) {
            if entry.committed == stalled.committed {
                entry.quiet_at = Some(stalled.high_watermark);
            }
        }
    }

    /// Notes a look into a stalled partition that could not tell whether
    /// records wait; returns how many such looks came in a row (for the
    /// same commit).
    pub fn inconclusive(&mut self, stalled: &Stalled) -> u32 {
        match self.standing.get_mut(&stalled.partition) {
            Some(entry) if entry.committed == stalled.committed => {
                entry.inconclusive += 1;
                entry.inconclusive
            }
            _ => 0,
        }
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

    #[test]
    fn a_gap_of_control_records_is_not_reported_again_until_records_are_added() {
        let t0 = Instant::now();
        let secs = |n| t0 + Duration::from_secs(n);
        let mut tracker = StallTracker::new(Duration::from_secs(10));
        tracker.observe(t0, p(0), 15, 16);
        let stalled = tracker.observe(secs(11), p(0), 15, 16).expect("reported once");
        tracker.quiet(&stalled);
        assert_eq!(tracker.observe(secs(100), p(0), 15, 16), None);
        // A record added behind the marker: a new clock, reported again
        // only after the limit.
        assert_eq!(tracker.observe(secs(101), p(0), 15, 17), None);
        assert_eq!(tracker.observe(secs(110), p(0), 15, 17), None);
        assert!(tracker.observe(secs(112), p(0), 15, 17).is_some());
        // Inconclusive looks are counted in a row per commit.
        tracker.observe(secs(200), p(2), 5, 9);
        let stalled = tracker.observe(secs(211), p(2), 5, 9).expect("stalled");
        assert_eq!(tracker.inconclusive(&stalled), 1);
        assert_eq!(tracker.inconclusive(&stalled), 2);
        tracker.observe(secs(212), p(2), 6, 9);
        let moved = tracker.observe(secs(223), p(2), 6, 9).expect("stalled again");
        assert_eq!(
            tracker.inconclusive(&moved),
            1,
            "a new commit starts the count over"
        );
        // A quiet mark for an older commit does not silence a newer one.
        tracker.observe(secs(120), p(1), 30, 40);
        let old = Stalled {
            partition: p(1),
            committed: 29,
            high_watermark: 40,
            for_how_long: Duration::from_secs(60),
        };
        tracker.quiet(&old);
        assert!(tracker.observe(secs(131), p(1), 30, 40).is_some());
    }
}
