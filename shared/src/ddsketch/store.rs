//! A dense store of bucket counts that keeps at most `bin_limit` buckets and
//! collapses the lowest ones when the key range grows past it, with the same
//! outcome as the Python library's `CollapsingLowestDenseStore`: all counts
//! with a key below `max_key − bin_limit + 1` end up in that lowest bucket.

/// How many buckets to add beyond the needed range when growing.
const GROWTH_SLACK: i64 = 128;

/// Counts per integer key, contiguous in memory.
#[derive(Debug, Clone)]
pub struct CollapsingLowestStore {
    /// `bins[i]` counts key `offset + i`. Never longer than `bin_limit`.
    bins: Vec<f64>,
    /// Key of `bins[0]`.
    offset: i32,
    /// Maximum number of buckets.
    bin_limit: usize,
    /// Sum of the weighted counts (see `increments` for the rest).
    count: f64,
    /// Number of unit increments, kept apart from `count`: an integer add per
    /// insert is a shorter chain from one insert to the next than a float add.
    /// Whole counts below 2^53 sum exactly either way.
    increments: u64,
}

/// Equal buckets and equal total count (however it is split).
impl PartialEq for CollapsingLowestStore {
    fn eq(&self, other: &Self) -> bool {
        self.bins == other.bins
            && self.offset == other.offset
            && self.bin_limit == other.bin_limit
            && self.count() == other.count()
    }
}

impl CollapsingLowestStore {
    /// An empty store holding at most `bin_limit` buckets.
    pub fn new(bin_limit: usize) -> Self {
        Self {
            bins: Vec::new(),
            offset: 0,
            bin_limit,
            count: 0.0,
            increments: 0,
        }
    }

    /// Sum of all counts.
    pub fn count(&self) -> f64 {
        // Below 2^53 increments, the conversion is exact.
        self.count + self.increments as f64
    }

    /// The maximum number of buckets.
    pub fn bin_limit(&self) -> usize {
        self.bin_limit
    }

    /// Adds `weight` to the bucket `key` (or to the lowest bucket if `key`
    /// falls below the retained window).
    #[inline]
    pub fn add(&mut self, key: i32, weight: f64) {
        // A key below `offset` wraps to a huge index and takes the slow path.
        let index = key.wrapping_sub(self.offset) as u32 as usize;
        if let Some(bin) = self.bins.get_mut(index) {
            *bin += weight;
        } else {
            self.add_out_of_range(key, weight);
        }
        self.count += weight;
    }

    /// Adds 1 to the bucket `key` (an unweighted insert).
    #[inline(always)]
    pub(crate) fn increment(&mut self, key: i32) {
        self.increment_uncounted(key);
        self.increments += 1;
    }

    /// Adds 1 to the bucket `key` without counting it: the caller adds the
    /// number of increments with [`Self::add_increments`] (a batch does it
    /// once).
    #[inline(always)]
    pub(crate) fn increment_uncounted(&mut self, key: i32) {
        let index = key.wrapping_sub(self.offset) as u32 as usize;
        if let Some(bin) = self.bins.get_mut(index) {
            *bin += 1.0;
        } else {
            self.add_out_of_range(key, 1.0);
        }
    }

    /// Adds `n` to the total count (after `n` calls of
    /// [`Self::increment_uncounted`]).
    #[inline]
    pub(crate) fn add_increments(&mut self, n: u64) {
        self.increments += n;
    }

    #[cold]
    #[inline(never)]
    fn add_out_of_range(&mut self, key: i32, weight: f64) {
        self.reserve(key, key);
        let index = (i64::from(key) - i64::from(self.offset)).max(0) as usize;
        self.bins[index] += weight;
    }

    /// Non-empty buckets as `(key, count)`, lowest key first.
    pub fn iter(&self) -> impl Iterator<Item = (i32, f64)> + '_ {
        let offset = self.offset;
        self.bins
            .iter()
            .enumerate()
            .filter(|(_, &c)| c != 0.0)
            // index < bin_limit ≤ i32::MAX, so the cast is lossless.
            .map(move |(i, &c)| (offset + i as i32, c))
    }

    /// Lowest and highest non-empty keys.
    pub fn key_range(&self) -> Option<(i32, i32)> {
        let first = self.bins.iter().position(|&c| c != 0.0)?;
        let last = self.bins.iter().rposition(|&c| c != 0.0)?;
        Some((self.offset + first as i32, self.offset + last as i32))
    }

    /// Re-lays the bins out so that keys `lo..=hi` (plus the current
    /// content) are addressable, collapsing the lowest keys if the span
    /// exceeds the bin limit.
    fn reserve(&mut self, lo: i32, hi: i32) {
        let (lo, hi) = match self.key_range() {
            Some((a, b)) => (lo.min(a), hi.max(b)),
            None => (lo, hi),
        };
        let limit = self.bin_limit as i64;
        let (lo, hi) = (i64::from(lo), i64::from(hi));
        let lo = lo.max(hi - limit + 1);
        let span = hi - lo + 1;
        let len = (span + GROWTH_SLACK).min(limit);
        // Put the slack on both sides, but never below `lo` when collapsed.
        let new_offset = lo - (len - span) / 2;
        let mut bins = vec![0.0; len as usize];
        for (key, count) in self.iter() {
            let index = (i64::from(key) - new_offset).max(lo - new_offset);
            bins[index as usize] += count;
        }
        self.bins = bins;
        // lo ≥ i32::MIN and the slack is ≤ bin_limit/2, so this stays in range
        // for every key the mapping can produce (|key| < 4e8).
        self.offset = new_offset.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    }

    /// Adds every count of `other` into `self`.
    pub fn merge(&mut self, other: &Self) {
        if other.bins.is_empty() {
            return;
        }
        // Fast path: where the two bin arrays overlap, add slice to slice; the
        // rest of `other` (usually just its growth slack) must be empty. No
        // scan for other's occupied range, no branch per bucket.
        let (own_start, own_end) = (
            i64::from(self.offset),
            i64::from(self.offset) + self.bins.len() as i64,
        );
        let (their_start, their_end) = (
            i64::from(other.offset),
            i64::from(other.offset) + other.bins.len() as i64,
        );
        let (lo, hi) = (own_start.max(their_start), own_end.min(their_end));
        if lo < hi {
            // In range by construction: lo..hi lies inside both arrays.
            let (from, to) = ((lo - their_start) as usize, (hi - their_start) as usize);
            let outside_empty = other.bins[..from]
                .iter()
                .chain(&other.bins[to..])
                .all(|&c| c == 0.0);
            if outside_empty {
                let start = (lo - own_start) as usize;
                let dst = &mut self.bins[start..start + (to - from)];
                for (d, s) in dst.iter_mut().zip(&other.bins[from..to]) {
                    *d += *s;
                }
                self.count += other.count;
                self.increments += other.increments;
                return;
            }
        }
        // Slow path: grow (or collapse) to cover other's occupied keys.
        let Some((lo, hi)) = other.key_range() else {
            return;
        };
        self.reserve(lo, hi);
        for (key, count) in other.iter() {
            let index = (i64::from(key) - i64::from(self.offset)).max(0) as usize;
            self.bins[index] += count;
        }
        self.count += other.count;
        self.increments += other.increments;
    }

    /// The key holding rank `rank` (0-based): with `lower`, the first key whose
    /// cumulative count exceeds `rank`; otherwise the first whose cumulative
    /// count reaches `rank + 1`. Same walk as the Python `key_at_rank`.
    pub fn key_at_rank(&self, rank: f64, lower: bool) -> Option<i32> {
        let mut running = 0.0;
        for (i, &c) in self.bins.iter().enumerate() {
            running += c;
            if (lower && running > rank) || (!lower && running >= rank + 1.0) {
                return Some(self.offset + i as i32);
            }
        }
        self.key_range().map(|(_, hi)| hi)
    }

    /// Removes every count, keeping the allocation.
    pub fn clear(&mut self) {
        self.bins.iter_mut().for_each(|b| *b = 0.0);
        self.count = 0.0;
        self.increments = 0;
    }

    /// Builds a store from `(key, count)` pairs (any order, repeats summed).
    pub fn from_bins(bin_limit: usize, bins: impl IntoIterator<Item = (i32, f64)>) -> Self {
        let mut store = Self::new(bin_limit);
        let pairs: Vec<(i32, f64)> = bins.into_iter().filter(|(_, c)| *c != 0.0).collect();
        let lo = pairs.iter().map(|p| p.0).min();
        let hi = pairs.iter().map(|p| p.0).max();
        if let (Some(lo), Some(hi)) = (lo, hi) {
            store.reserve(lo, hi);
        }
        for (key, count) in pairs {
            let index = (i64::from(key) - i64::from(store.offset)).max(0) as usize;
            store.bins[index] += count;
            store.count += count;
        }
        store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_below_the_window_collapse_into_its_lowest_bucket() {
        let mut s = CollapsingLowestStore::new(16);
        for k in 0..10 {
            s.add(k, 1.0);
        }
        s.add(30, 1.0);
        // Window is now [15, 30]: keys 0..10 collapse into 15.
        assert_eq!(s.key_range(), Some((15, 30)));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(15, 10.0), (30, 1.0)]);
        s.add(-100, 2.0);
        assert_eq!(s.iter().next(), Some((15, 12.0)));
        assert_eq!(s.count(), 13.0);
    }

    #[test]
    fn merge_matches_adding_everything() {
        let mut a = CollapsingLowestStore::new(64);
        let mut b = CollapsingLowestStore::new(64);
        let mut all = CollapsingLowestStore::new(64);
        for k in (-40..40).step_by(3) {
            a.add(k, 1.0);
            all.add(k, 1.0);
        }
        for k in (0..120).step_by(7) {
            b.add(k, 2.0);
            all.add(k, 2.0);
        }
        a.merge(&b);
        assert_eq!(a.iter().collect::<Vec<_>>(), all.iter().collect::<Vec<_>>());
        assert_eq!(a.count(), all.count());
    }

    /// Overlapping, nested, disjoint and collapsing layouts: both the
    /// slice-to-slice path and the growing path give what adding gives.
    #[test]
    fn merge_matches_adding_everything_for_every_overlap() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        for case in 0..500 {
            let limit = [16, 64, 2048][case % 3];
            let (mut a, mut b, mut all) = (
                CollapsingLowestStore::new(limit),
                CollapsingLowestStore::new(limit),
                CollapsingLowestStore::new(limit),
            );
            let (a_lo, b_lo) = (next(200) as i32 - 100, next(200) as i32 - 100);
            for _ in 0..next(40) {
                let k = a_lo + next(60) as i32;
                a.add(k, 1.0);
                all.add(k, 1.0);
            }
            for _ in 0..next(40) {
                let k = b_lo + next(60) as i32;
                b.add(k, 2.0);
                all.add(k, 2.0);
            }
            a.merge(&b);
            assert_eq!(
                a.iter().collect::<Vec<_>>(),
                all.iter().collect::<Vec<_>>(),
                "case {case}"
            );
            assert_eq!(a.count(), all.count(), "case {case}");
        }
    }

    #[test]
    fn key_at_rank_walks_cumulative_counts() {
        let s = CollapsingLowestStore::from_bins(2048, [(5, 1.0), (7, 1.0)]);
        assert_eq!(s.key_at_rank(0.0, true), Some(5));
        assert_eq!(s.key_at_rank(0.99, true), Some(5));
        assert_eq!(s.key_at_rank(1.0, true), Some(7));
        assert_eq!(s.key_at_rank(0.0, false), Some(5));
        assert_eq!(s.key_at_rank(0.5, false), Some(7));
    }
}
