//! Folding a `datadog` window's native bytes straight into a sketch.
//!
//! Decoding a window then merging it builds the crate's sketch from a
//! protobuf, lists its bins with their values, and re-inserts each value
//! (a logarithm per bin). Here the sparse bins are read from the bytes and
//! added by index to the accumulator's contiguous store: no sketch, no
//! protobuf, no vector per window. Whenever that could end differently from
//! decode-then-merge (another mapping, a store that would collapse, keys out
//! of order or far outside any real value, bad bytes), the general path runs
//! instead, so results and errors are the same by construction.

use std::ops::RangeInclusive;
use std::sync::OnceLock;

use libdd_ddsketch::DDSketch as LibddSketch;

use super::{mapping_of, DatadogSketch};
use crate::codec::Reader;
use crate::ddsketch::read_bins;
use crate::error::{DecodeError, MergeEncodedError};

/// Bin keys the direct path adds by index. Under the crate's default
/// mapping every bin in this range has a positive, finite value (from about
/// 1e-278 to 1e260) that the crate maps back to that same bin, so adding
/// its count by index is what re-inserting its value does (a test checks
/// every key of the range against the crate).
pub(crate) const DIRECT_KEYS: RangeInclusive<i64> = -40_000..=40_000;

/// Bins the crate's store holds before it collapses the lowest ones.
const STORE_BINS: i64 = 2048;

/// The crate's default mapping as `(gamma, index offset)` bits.
fn default_mapping() -> (u64, u64) {
    static MAPPING: OnceLock<(u64, u64)> = OnceLock::new();
    *MAPPING.get_or_init(|| mapping_of(&LibddSketch::default()))
}

/// The fixed-size fields of an encoded window, in their order.
struct Header {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    mapping: (u64, u64),
    zero_count: f64,
}

impl Header {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            count: r.varint()?,
            sum: r.f64()?,
            min: r.f64()?,
            max: r.f64()?,
            mapping: (r.f64()?.to_bits(), r.f64()?.to_bits()),
            zero_count: r.f64()?,
        })
    }
}

/// What a first pass over the bins found.
#[derive(Default)]
struct Scan {
    /// Lowest and highest key of a non-empty bin.
    keys: Option<(i64, i64)>,
    /// Previous key read.
    last: Option<i64>,
    /// Whether some key did not exceed the one before it.
    unordered: bool,
}

/// Largest bin count staged by [`DatadogStaging`]: whole counts up to here,
/// summed below 2^53, add exactly in any order.
const WHOLE_COUNT_MAX: f64 = (1u64 << 40) as f64;
/// Largest total of staged and stored counts: every partial sum is exact.
const EXACT_TOTAL: f64 = (1u64 << 53) as f64;

impl Scan {
    fn see(&mut self, key: i64, count: f64) {
        self.unordered |= self.last.is_some_and(|last| key <= last);
        self.last = Some(key);
        if count > 0.0 {
            self.keys = Some(
                self.keys
                    .map_or((key, key), |(lo, hi)| (lo.min(key), hi.max(key))),
            );
        }
    }

    /// Whether the bins can be added by index.
    fn direct(&self) -> bool {
        !self.unordered
            && self
                .keys
                .is_none_or(|(lo, hi)| DIRECT_KEYS.contains(&lo) && DIRECT_KEYS.contains(&hi))
    }
}

impl DatadogSketch {
    /// Adds the window whose fields `r` is positioned at (after the kind
    /// tag) and which must end the bytes: as [`Self::read`] then
    /// [`Self::merge`] would, unchanged on error.
    pub(crate) fn merge_read(&mut self, r: &mut Reader<'_>) -> Result<(), MergeEncodedError> {
        let start = r.clone();
        let Ok((header, bins, scan)) = Self::scan(r) else {
            // Malformed: decoding says how.
            return self.merge_decoded(start);
        };
        if !self.direct(&header, &scan) {
            return self.merge_decoded(start);
        }
        if header.count == 0 {
            // As `merge`: an empty window adds nothing.
            return Ok(());
        }
        if !self.add_bins(bins, scan.keys, header.zero_count) {
            return self.merge_decoded(start);
        }
        self.count += header.count;
        self.sum += header.sum;
        self.min = self.min.min(header.min);
        self.max = self.max.max(header.max);
        Ok(())
    }

    /// Whether a window with `header` and `scan` can be added by index.
    fn direct(&self, header: &Header, scan: &Scan) -> bool {
        scan.direct()
            && self.shares_default_mapping(header)
            // An infinite zero bin is refused by decoding.
            && header.zero_count != f64::INFINITY
    }

    /// Whether the window and this sketch both use the crate's default
    /// mapping, whose keys the direct paths add by index.
    fn shares_default_mapping(&self, header: &Header) -> bool {
        header.mapping == self.mapping && self.mapping == default_mapping()
    }

    /// [`Self::merge_read`], but the bins go into `staging` in one pass
    /// (added to the store by [`Self::flush_staged`]) when that ends as
    /// merging window by window does; count, sum, min and max are folded in
    /// at once, in window order. Unchanged on error.
    pub(crate) fn stage_read(
        &mut self,
        staging: &mut DatadogStaging,
        r: &mut Reader<'_>,
    ) -> Result<(), MergeEncodedError> {
        let mut start = r.clone();
        if let Ok(header) = Header::read(r) {
            let zero = header.zero_count;
            let stageable = self.shares_default_mapping(&header)
                && zero.fract() == 0.0
                && (0.0..=WHOLE_COUNT_MAX).contains(&zero);
            if header.count == 0 {
                // As `merge`: an empty window changes nothing (once its
                // bytes are checked), so nothing needs flushing.
                return self.merge_read(&mut start);
            }
            if stageable && staging.stage(self, r, zero) {
                self.count += header.count;
                self.sum += header.sum;
                self.min = self.min.min(header.min);
                self.max = self.max.max(header.max);
                return Ok(());
            }
        }
        // Another mapping, a store that would collapse, fractional counts
        // or bad bytes: window by window, after what is staged.
        self.flush_staged(staging);
        self.merge_read(&mut start)
    }

    /// Adds the staged bins to the crate's store and empties `staging`.
    pub(crate) fn flush_staged(&mut self, staging: &mut DatadogStaging) {
        // The store changes after a flush, or after the window that made it.
        staging.store = StoreView::Unread;
        let keys = staging.keys.take();
        if keys.is_none() && staging.zero_count == 0.0 {
            return;
        }
        let mut pb = std::mem::take(&mut self.inner).into_pb();
        if let Some((lo, hi)) = keys {
            let store = pb.positive_values.get_or_insert_with(Default::default);
            let start = *DIRECT_KEYS.start();
            // Staged keys lie in DIRECT_KEYS, and `fits` checked that the
            // store takes their span without collapsing.
            let staged = staging
                .counts
                .get_mut((lo - start) as usize..=(hi - start) as usize)
                .unwrap_or_default();
            let first = widen(
                &mut store.contiguous_bin_counts,
                &mut store.contiguous_bin_index_offset,
                (lo, hi),
            );
            let bins = store.contiguous_bin_counts.iter_mut().skip((lo - first) as usize);
            for (bin, count) in bins.zip(staged.iter_mut()) {
                *bin += std::mem::take(count);
            }
        }
        pb.zero_count += std::mem::take(&mut staging.zero_count);
        staging.total = 0.0;
        self.inner =
            LibddSketch::from_pb(pb).unwrap_or_else(|| unreachable!("the mapping of a valid sketch"));
    }

    /// Reads and checks every field; returns the header, a reader at the
    /// bins and what they hold.
    fn scan<'a>(r: &mut Reader<'a>) -> Result<(Header, Reader<'a>, Scan), DecodeError> {
        let header = Header::read(r)?;
        let bins = r.clone();
        let mut scan = Scan::default();
        read_bins(r, |key, count| scan.see(key, count))?;
        r.finish()?;
        Ok((header, bins, scan))
    }

    /// The general path: decode, then merge.
    fn merge_decoded(&mut self, mut r: Reader<'_>) -> Result<(), MergeEncodedError> {
        let other = Self::read(&mut r)?;
        r.finish()?;
        Ok(self.merge(&other)?)
    }

    /// Adds the (checked) bins at `bins` to the crate's store by index, and
    /// `zero_count` to its zero bin, as re-inserting them would. `false`,
    /// with nothing changed, if the store would have to collapse bins or
    /// does not use the default mapping.
    fn add_bins(&mut self, bins: Reader<'_>, keys: Option<(i64, i64)>, zero_count: f64) -> bool {
        // The crate's protobuf form hands over its store without copying.
        let mut pb = std::mem::take(&mut self.inner).into_pb();
        // The crate's own mapping, which `self.mapping` does not follow for
        // sketches read from foreign protobuf.
        let default = pb
            .mapping
            .as_ref()
            .is_some_and(|m| (m.gamma.to_bits(), m.index_offset.to_bits()) == default_mapping());
        let store = pb.positive_values.get_or_insert_with(Default::default);
        let added = match keys {
            _ if !default => false,
            None => true,
            Some(keys) => add_by_index(
                &mut store.contiguous_bin_counts,
                &mut store.contiguous_bin_index_offset,
                bins,
                keys,
            ),
        };
        if added && zero_count > 0.0 {
            pb.zero_count += zero_count;
        }
        // The mapping came out of a valid sketch, so it is valid again.
        self.inner =
            LibddSketch::from_pb(pb).unwrap_or_else(|| unreachable!("the mapping of a valid sketch"));
        added
    }
}

/// The key span of the contiguous `counts` starting at key `offset`, widened by `keys`.
fn span_with_store(counts: &[f64], offset: i32, keys: (i64, i64)) -> (i64, i64) {
    let (mut lo, mut hi) = keys;
    if !counts.is_empty() {
        let start = i64::from(offset);
        lo = lo.min(start);
        hi = hi.max(start + counts.len() as i64 - 1);
    }
    (lo, hi)
}

/// Widens the contiguous `counts` starting at key `offset` to cover `keys`
/// (as the crate's store grows); returns the new first key. The caller
/// checked that the span is at most [`STORE_BINS`] within [`DIRECT_KEYS`].
fn widen(counts: &mut Vec<f64>, offset: &mut i32, keys: (i64, i64)) -> i64 {
    let (lo, hi) = span_with_store(counts, *offset, keys);
    // Keys within DIRECT_KEYS and a span of at most STORE_BINS: the casts are lossless.
    let new_offset = lo as i32;
    if counts.is_empty() {
        *offset = new_offset;
    }
    let below = (i64::from(*offset) - lo) as usize;
    if below > 0 {
        counts.splice(0..0, std::iter::repeat_n(0.0, below));
    }
    counts.resize((hi - lo + 1) as usize, 0.0);
    *offset = new_offset;
    lo
}

/// Widens the contiguous `counts` starting at key `offset` to cover `keys`
/// (as the crate's store grows), then adds each non-empty bin's count at its
/// key; `false`, with nothing changed, if the span would exceed the store.
fn add_by_index(counts: &mut Vec<f64>, offset: &mut i32, mut bins: Reader<'_>, keys: (i64, i64)) -> bool {
    let (lo, hi) = span_with_store(counts, *offset, keys);
    if hi - lo + 1 > STORE_BINS {
        return false;
    }
    let lo = widen(counts, offset, keys);
    // The bins were read once already: reading them again cannot fail.
    let _ = read_bins(&mut bins, |key, count| {
        if count > 0.0 {
            if let Some(c) = counts.get_mut((key - lo) as usize) {
                *c += count;
            }
        }
    });
    true
}

/// Bins of many windows summed by key before they reach the crate's store
/// ([`crate::batch::BatchMerge`]): one add per bin into a flat array instead
/// of widening the store and converting it per window. Only whole counts
/// are staged, and only while the store plus every staged count stays below
/// 2^53 and within the store's 2048 bins, so every sum is exact and the
/// store ends as adding window by window leaves it.
#[derive(Debug, Default)]
pub(crate) struct DatadogStaging {
    /// Staged count of key `DIRECT_KEYS.start() + i` (allocated on first use:
    /// a fixed 80,001 slots, whatever the bytes say).
    counts: Vec<f64>,
    /// Lowest and highest staged key.
    keys: Option<(i64, i64)>,
    zero_count: f64,
    /// What the accumulator's store holds (read once per flush).
    store: StoreView,
    /// Staged counts, zero bin included.
    total: f64,
}

/// The accumulator's store as [`DatadogStaging`] needs to know it.
#[derive(Debug, Default, Clone, Copy)]
enum StoreView {
    /// Not read since the last flush.
    #[default]
    Unread,
    /// Fractional or huge counts: nothing is staged on top of them.
    Unusable,
    /// Key span of its contiguous bins, and the sum of its counts.
    Usable(Option<(i64, i64)>, f64),
}

/// One window's bins as staged.
#[derive(Debug, Clone, Copy, Default)]
struct Staged {
    /// Lowest and highest key with a count.
    keys: Option<(i64, i64)>,
    /// Sum of the counts.
    total: f64,
}

impl DatadogStaging {
    /// Stages the bins `r` is positioned at (which must end the bytes) and
    /// the `zero` bin; `false`, with nothing staged, unless every count is
    /// whole, keys ascend within [`DIRECT_KEYS`], the store takes the span
    /// without collapsing and all sums stay exact.
    fn stage(&mut self, sketch: &mut DatadogSketch, r: &mut Reader<'_>, zero: f64) -> bool {
        if matches!(self.store, StoreView::Unread) {
            self.store = store_view(sketch);
        }
        let StoreView::Usable(store_keys, store_total) = self.store else {
            return false;
        };
        let span = store_keys
            .into_iter()
            .chain(self.keys)
            .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)));
        if self.counts.is_empty() {
            self.counts = vec![0.0; (DIRECT_KEYS.end() - DIRECT_KEYS.start() + 1) as usize];
        }
        let bins = r.clone();
        let (window, added) = self.walk(r, span);
        let fits = r.remaining() == 0
            && window.is_some_and(|w| store_total + self.total + w.total + zero <= EXACT_TOTAL);
        match window.filter(|_| fits) {
            Some(w) => {
                if let Some((lo, hi)) = w.keys {
                    self.keys = Some(self.keys.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
                }
                self.zero_count += zero;
                self.total += w.total + zero;
                true
            }
            None => {
                self.walk_back(bins, added);
                false
            }
        }
    }

    /// Adds each bin's count at `r` to the staged counts, checking as it
    /// goes; returns the window (`None` at the first bin that fails a check)
    /// and how many counts were added.
    fn walk(&mut self, r: &mut Reader<'_>, span: Option<(i64, i64)>) -> (Option<Staged>, usize) {
        let mut added = 0;
        let window = self.walk_bins(r, span, |counts, i, c| {
            counts[i] += c;
            added += 1;
        });
        (window, added)
    }

    /// Subtracts the first `added` counts of the bins at `r` again.
    fn walk_back(&mut self, mut r: Reader<'_>, added: usize) {
        let mut left = added;
        let _ = self.walk_bins(&mut r, None, |counts, i, c| {
            if left > 0 {
                counts[i] -= c;
                left -= 1;
            }
        });
    }

    /// Reads whole-count bins, calling `add(counts, slot, count)` for each
    /// non-empty one that passes the checks, until one does not.
    fn walk_bins(
        &mut self,
        r: &mut Reader<'_>,
        span: Option<(i64, i64)>,
        mut add: impl FnMut(&mut [f64], usize, f64),
    ) -> Option<Staged> {
        let n = r.len(r.remaining() / 2).ok()?;
        let mut window = Staged::default();
        if n == 0 {
            return Some(window);
        }
        if r.u8().ok()? == 0 {
            return None; // fractional counts
        }
        let (mut key, mut last) = (0i64, None);
        let mut span = span;
        for _ in 0..n {
            key = key.checked_add(r.zigzag().ok()?)?;
            let count = r.varint().ok()? as f64;
            if last.is_some_and(|l| key <= l) || key.abs() >= 1 << 30 || count > WHOLE_COUNT_MAX {
                return None;
            }
            last = Some(key);
            window.total += count;
            if count > 0.0 {
                if !DIRECT_KEYS.contains(&key) {
                    return None;
                }
                let (lo, hi) = span.map_or((key, key), |(lo, hi)| (lo.min(key), hi.max(key)));
                if hi - lo >= STORE_BINS {
                    return None;
                }
                span = Some((lo, hi));
                window.keys = Some(window.keys.map_or((key, key), |(lo, _)| (lo, key)));
                add(&mut self.counts, (key - DIRECT_KEYS.start()) as usize, count);
            }
        }
        Some(window)
    }
}

/// Reads the key span and total of `sketch`'s store (moved out and back).
fn store_view(sketch: &mut DatadogSketch) -> StoreView {
    let pb = std::mem::take(&mut sketch.inner).into_pb();
    let default = pb
        .mapping
        .as_ref()
        .is_some_and(|m| (m.gamma.to_bits(), m.index_offset.to_bits()) == default_mapping());
    let (mut keys, mut total, mut whole) = (None, pb.zero_count, pb.zero_count.fract() == 0.0);
    if let Some(store) = pb
        .positive_values
        .as_ref()
        .filter(|s| !s.contiguous_bin_counts.is_empty())
    {
        // The whole contiguous range, as `add_by_index` counts it.
        let offset = i64::from(store.contiguous_bin_index_offset);
        keys = Some((offset, offset + store.contiguous_bin_counts.len() as i64 - 1));
        for &c in &store.contiguous_bin_counts {
            whole &= c.fract() == 0.0;
            total += c;
        }
    }
    sketch.inner = LibddSketch::from_pb(pb).unwrap_or_else(|| unreachable!("the mapping of a valid sketch"));
    if default && whole && total <= EXACT_TOTAL {
        StoreView::Usable(keys, total)
    } else {
        StoreView::Unusable
    }
}

#[cfg(test)]
mod tests {
    use libdd_ddsketch::pb;

    use super::*;
    use crate::codec::Writer;

    /// Native bytes (fields only) of a window with `count` in each bin of
    /// `keys`, `zero_count` in the zero bin.
    fn window(keys: RangeInclusive<i32>, count: f64, zero_count: f64) -> Vec<u8> {
        let bins = keys.clone().count();
        let message = pb::DdSketch {
            positive_values: Some(pb::Store {
                contiguous_bin_counts: vec![count; bins],
                contiguous_bin_index_offset: *keys.start(),
                ..Default::default()
            }),
            zero_count,
            ..LibddSketch::default().into_pb()
        };
        let inner = LibddSketch::from_pb(message).expect("default mapping");
        let sketch = DatadogSketch {
            count: (count * bins as f64 + zero_count) as u64,
            sum: 1.0,
            min: 1.0,
            max: 2.0,
            inner,
            ..DatadogSketch::new()
        };
        let mut w = Writer::new();
        sketch.write(&mut w);
        w.buf
    }

    fn state(s: &DatadogSketch) -> (Vec<f64>, i32, f64, u64) {
        let pb = s.inner.clone().into_pb();
        let store = pb.positive_values.unwrap_or_default();
        let counts = store.contiguous_bin_counts;
        (counts, store.contiguous_bin_index_offset, pb.zero_count, s.count)
    }

    fn both_ways(acc: &DatadogSketch, bytes: &[u8]) -> (DatadogSketch, DatadogSketch) {
        let mut direct = acc.clone();
        direct.merge_read(&mut Reader::new(bytes)).expect("valid");
        let mut decoded = acc.clone();
        decoded
            .merge(&DatadogSketch::read(&mut Reader::new(bytes)).expect("valid"))
            .expect("valid");
        (direct, decoded)
    }

    #[test]
    fn every_direct_key_lands_where_reinserting_its_value_does() {
        let (lo, hi) = (*DIRECT_KEYS.start() as i32, *DIRECT_KEYS.end() as i32);
        let mut from = lo;
        while from <= hi {
            let to = (from + 2047).min(hi);
            let bytes = window(from..=to, 3.0, 0.0);
            let (direct, decoded) = both_ways(&DatadogSketch::new(), &bytes);
            assert_eq!(state(&direct), state(&decoded), "keys {from}..={to}");
            from = to + 1;
        }
    }

    #[test]
    fn the_store_grows_like_the_crates_and_collapses_through_the_general_path() {
        let mut acc = DatadogSketch::new();
        for (keys, zero) in [
            (1000..=1100, 0.0),
            (900..=950, 2.0),
            (1500..=1600, 0.0),
            (-100..=-90, 0.0),
            // Past the store's 2048 bins: the crate collapses.
            (3000..=3010, 1.0),
            (1200..=1210, 0.0),
        ] {
            let (direct, decoded) = both_ways(&acc, &window(keys.clone(), 1.5, zero));
            assert_eq!(state(&direct), state(&decoded), "keys {keys:?}");
            acc = direct;
        }
    }

    #[test]
    fn windows_outside_the_direct_path_merge_as_decoded() {
        let acc = DatadogSketch::new();
        for bytes in [
            window(-40_100..=-39_990, 1.0, 0.0),
            window(10..=20, 0.0, 4.0),
            window(10..=20, 1.0, f64::NAN),
            window(10..=20, 1.0, -1.0),
        ] {
            let (direct, decoded) = both_ways(&acc, &bytes);
            assert_eq!(state(&direct), state(&decoded));
        }
        let infinite = window(10..=20, 1.0, f64::INFINITY);
        let mut direct = acc.clone();
        let err = direct.merge_read(&mut Reader::new(&infinite));
        assert!(err.is_err(), "an infinite zero bin is refused");
        assert_eq!(
            err.map_err(|e| e.to_string()),
            DatadogSketch::read(&mut Reader::new(&infinite))
                .map(|_| ())
                .map_err(|e| MergeEncodedError::from(e).to_string())
        );
        assert_eq!(state(&direct), state(&acc));
    }
}
