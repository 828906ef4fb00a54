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
        let direct = scan.direct()
            && header.mapping == self.mapping
            && self.mapping == default_mapping()
            // An infinite zero bin is refused by decoding.
            && header.zero_count != f64::INFINITY;
        if !direct {
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

/// Widens the contiguous `counts` starting at key `offset` to cover `keys`
/// (as the crate's store grows), then adds each non-empty bin's count at its
/// key; `false`, with nothing changed, if the span would exceed the store.
fn add_by_index(counts: &mut Vec<f64>, offset: &mut i32, mut bins: Reader<'_>, keys: (i64, i64)) -> bool {
    let (mut lo, mut hi) = keys;
    if !counts.is_empty() {
        let start = i64::from(*offset);
        lo = lo.min(start);
        hi = hi.max(start + counts.len() as i64 - 1);
    }
    let (Ok(new_offset), Ok(len)) = (i32::try_from(lo), usize::try_from(hi - lo + 1)) else {
        return false;
    };
    if hi - lo + 1 > STORE_BINS {
        return false;
    }
    if counts.is_empty() {
        *offset = new_offset;
    }
    // Keys within DIRECT_KEYS and a span of at most STORE_BINS: the casts are lossless.
    let below = (i64::from(*offset) - lo) as usize;
    if below > 0 {
        counts.splice(0..0, std::iter::repeat_n(0.0, below));
    }
    counts.resize(len, 0.0);
    *offset = new_offset;
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
