//! The one range convention of the server store and the browser store.
//!
//! - A range is half-open, `[from, to)`, in Unix epoch ms.
//! - A window belongs to a range when its *start* is in it.
//! - A series point `b` covers `[b, b + step) ∩ [from, to)`, with `b`
//!   aligned to the epoch (a multiple of `step`), not to `from`: the same
//!   window lands in the same point whatever range asked for it, so
//!   `/api/series` and the dashboard bucket one URL identically.

/// A half-open time range `[from, to)` in Unix epoch ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// First instant in the range.
    pub from: i64,
    /// First instant after the range.
    pub to: i64,
}

impl TimeRange {
    /// `[from, to)`; empty when `to <= from`.
    pub fn new(from: i64, to: i64) -> Self {
        Self { from, to }
    }

    /// Everything.
    pub fn all() -> Self {
        Self::new(i64::MIN, i64::MAX)
    }

    /// Whether a window starting at `start` belongs to the range.
    pub fn contains(&self, start: i64) -> bool {
        (self.from..self.to).contains(&start)
    }

    /// Whether the whole span `[start, start + len)` lies in the range.
    pub fn covers(&self, start: i64, len: i64) -> bool {
        start >= self.from && start.saturating_add(len) <= self.to
    }

    /// Whether the span `[start, start + len)` overlaps the range.
    pub fn overlaps(&self, start: i64, len: i64) -> bool {
        start < self.to && start.saturating_add(len) > self.from
    }

    /// Whether the range holds no instant.
    pub fn is_empty(&self) -> bool {
        self.to <= self.from
    }
}

/// The epoch-aligned start of the step-sized bucket holding `t`
/// (`step` ≤ 0 is treated as 1; `i64::MIN` for a bucket that would start
/// before it).
pub fn bucket_start(t: i64, step: i64) -> i64 {
    let step = step.max(1);
    t.saturating_sub(t.rem_euclid(step))
}

/// The starts of the buckets that overlap `range`, oldest first: the
/// points a series over `range` with `step` can have.
pub fn bucket_starts(range: TimeRange, step: i64) -> impl Iterator<Item = i64> {
    let step = step.max(1);
    let first = bucket_start(range.from, step);
    let count = if range.is_empty() {
        0
    } else {
        // i128: a range of the whole i64 line must not overflow.
        ((i128::from(range.to) - i128::from(first) + i128::from(step) - 1) / i128::from(step)).max(0)
    };
    (0..count).map(move |i| first.saturating_add((i as i64).saturating_mul(step)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_align_to_the_epoch_not_to_from() {
        assert_eq!(bucket_start(12_345, 1_000), 12_000);
        assert_eq!(bucket_start(-1, 1_000), -1_000);
        assert_eq!(bucket_start(5, 0), 5);
        let starts: Vec<i64> = bucket_starts(TimeRange::new(1_500, 4_000), 1_000).collect();
        assert_eq!(
            starts,
            [1_000, 2_000, 3_000],
            "the first point covers [1500, 2000)"
        );
        let starts: Vec<i64> = bucket_starts(TimeRange::new(1_500, 4_001), 1_000).collect();
        assert_eq!(starts, [1_000, 2_000, 3_000, 4_000]);
        assert_eq!(bucket_starts(TimeRange::new(5, 5), 10).count(), 0);
    }

    #[test]
    fn ranges_are_half_open() {
        let r = TimeRange::new(1_000, 2_000);
        assert!(r.contains(1_000) && r.contains(1_999) && !r.contains(2_000));
        assert!(r.covers(1_000, 1_000) && !r.covers(1_500, 1_000));
        assert!(r.overlaps(1_500, 1_000) && !r.overlaps(2_000, 10) && !r.overlaps(0, 1_000));
        assert!(TimeRange::all().contains(i64::MIN));
        assert_eq!(
            bucket_starts(TimeRange::new(i64::MAX - 10, i64::MAX), 1 << 62).count(),
            1
        );
    }
}
