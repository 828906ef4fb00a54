//! `quantileflow`: our own DDSketch (Masson, Rim & Lee, VLDB 2019).
//!
//! Bucket keys, bucket values and the rank walk are those of Datadog's Python
//! library `ddsketch` 3.0.1 (`LogCollapsingLowestDenseDDSketch`), so the same
//! input gives the same quantile values; see [`mapping`] for how keys stay
//! exact while being fast. Negative values have their own store, values of
//! magnitude ≤ [`LogarithmicMapping::min_possible`] count as zero.

mod key_table;
pub mod mapping;
pub mod proto;
pub mod store;

use crate::codec::{Reader, Writer};
use crate::error::{ConfigError, DecodeError, InsertError, MergeError, QuantileError};
use crate::kind::SketchKind;
pub use mapping::LogarithmicMapping;
pub use store::CollapsingLowestStore;

/// Default relative accuracy α.
pub const DEFAULT_RELATIVE_ACCURACY: f64 = 0.01;
/// Default maximum number of buckets per store (as in the official libraries).
pub const DEFAULT_BIN_LIMIT: usize = 2048;

/// A DDSketch with a logarithmic mapping and collapsing-lowest dense stores.
#[derive(Debug, Clone, PartialEq)]
pub struct DDSketch {
    /// Value ↔ key mapping.
    mapping: LogarithmicMapping,
    /// Counts of positive values.
    positive: CollapsingLowestStore,
    /// Counts of negative values, keyed by their magnitude.
    negative: CollapsingLowestStore,
    /// Count of values of magnitude ≤ `mapping.min_possible()`. The total
    /// count is this plus the two stores' counts (one sum less per insert).
    zero_count: f64,
    /// Exact sum of the inserted values.
    sum: f64,
    /// Exact minimum (+∞ when empty).
    min: f64,
    /// Exact maximum (−∞ when empty).
    max: f64,
}

impl Default for DDSketch {
    fn default() -> Self {
        Self::from_mapping(
            LogarithmicMapping::new(DEFAULT_RELATIVE_ACCURACY, 0.0)
                .unwrap_or_else(|_| unreachable!("default α is valid")),
            DEFAULT_BIN_LIMIT,
        )
    }
}

impl DDSketch {
    /// A sketch with relative accuracy α and at most `bin_limit` buckets per sign.
    pub fn new(relative_accuracy: f64, bin_limit: usize) -> Result<Self, ConfigError> {
        if bin_limit < 16 {
            return Err(ConfigError::BinLimit(bin_limit));
        }
        Ok(Self::from_mapping(
            LogarithmicMapping::new(relative_accuracy, 0.0)?,
            bin_limit,
        ))
    }

    fn from_mapping(mapping: LogarithmicMapping, bin_limit: usize) -> Self {
        Self {
            mapping,
            positive: CollapsingLowestStore::new(bin_limit),
            negative: CollapsingLowestStore::new(bin_limit),
            zero_count: 0.0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// The mapping (α, γ, offset).
    pub fn mapping(&self) -> &LogarithmicMapping {
        &self.mapping
    }

    /// Maximum number of buckets per sign.
    pub fn bin_limit(&self) -> usize {
        self.positive.bin_limit()
    }

    /// Inserts one value. NaN and ±∞ are rejected.
    #[inline(always)]
    pub fn insert(&mut self, value: f64) -> Result<(), InsertError> {
        // The common case, a positive finite value with a key, is one compare.
        if self.mapping.has_positive_key(value) {
            self.positive.increment(self.mapping.key_of_normal(value));
            self.record(value);
            Ok(())
        } else {
            self.insert_other(value)
        }
    }

    /// [`Self::insert`] of a negative, zero-like or non-finite value.
    #[inline(never)]
    fn insert_other(&mut self, value: f64) -> Result<(), InsertError> {
        if !value.is_finite() {
            return Err(InsertError::NotFinite(value));
        }
        if value < -self.mapping.min_possible() {
            // Finite and below −min_possible: a negative normal.
            self.negative.increment(self.mapping.key_of_normal(-value));
        } else if value > self.mapping.min_possible() {
            self.positive.increment(self.mapping.key_of_normal(value));
        } else {
            self.zero_count += 1.0;
        }
        self.record(value);
        Ok(())
    }

    /// Sum and extremes of an inserted value.
    #[inline(always)]
    fn record(&mut self, value: f64) {
        self.sum += value;
        // Branches, not selects: a new extreme is rare, so these are two
        // well-predicted compares and no store (a select is a store per
        // insert, and a chain through memory from one insert to the next).
        if value < self.min {
            self.min = value;
        }
        if value > self.max {
            self.max = value;
        }
    }

    /// Inserts `value` `n` times (one weighted bucket increment, as for a
    /// histogram bucket's count). NaN and ±∞ are rejected.
    pub fn insert_n(&mut self, value: f64, n: u64) -> Result<(), InsertError> {
        if !value.is_finite() {
            return Err(InsertError::NotFinite(value));
        }
        if n == 0 {
            return Ok(());
        }
        let weight = n as f64;
        let min_possible = self.mapping.min_possible();
        if value > min_possible {
            self.positive.add(self.mapping.key_of_normal(value), weight);
        } else if value < -min_possible {
            self.negative.add(self.mapping.key_of_normal(-value), weight);
        } else {
            self.zero_count += weight;
        }
        self.sum += value * weight;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        Ok(())
    }

    /// Inserts every value, or none if any is not finite.
    pub fn insert_slice(&mut self, values: &[f64]) -> Result<(), InsertError> {
        if let Some(&bad) = values.iter().find(|v| !v.is_finite()) {
            return Err(InsertError::NotFinite(bad));
        }
        let (mut sum, mut min, mut max) = (self.sum, self.min, self.max);
        let (mut positives, mut negatives, mut zeros) = (0u64, 0u64, 0u64);
        let min_possible = self.mapping.min_possible();
        // Sum, extremes and counts live in registers for the whole slice; the
        // stores only see bucket increments. Same order of additions to `sum`
        // as one insert at a time.
        for &v in values {
            if self.mapping.has_positive_key(v) {
                self.positive.increment_uncounted(self.mapping.key_of_normal(v));
                positives += 1;
            } else if v < -min_possible {
                self.negative.increment_uncounted(self.mapping.key_of_normal(-v));
                negatives += 1;
            } else {
                zeros += 1;
            }
            sum += v;
            min = if v < min { v } else { min };
            max = if v > max { v } else { max };
        }
        self.positive.add_increments(positives);
        self.negative.add_increments(negatives);
        self.zero_count += zeros as f64;
        (self.sum, self.min, self.max) = (sum, min, max);
        Ok(())
    }

    /// Number of values (sum of weights).
    pub fn count(&self) -> f64 {
        self.zero_count + self.positive.count() + self.negative.count()
    }

    /// Exact sum of the values.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Exact minimum, if any value was inserted.
    pub fn min(&self) -> Option<f64> {
        (self.count() > 0.0).then_some(self.min)
    }

    /// Exact maximum, if any value was inserted.
    pub fn max(&self) -> Option<f64> {
        (self.count() > 0.0).then_some(self.max)
    }

    /// Count of values treated as zero.
    pub fn zero_count(&self) -> f64 {
        self.zero_count
    }

    /// The positive-value store.
    pub fn positive_store(&self) -> &CollapsingLowestStore {
        &self.positive
    }

    /// The negative-value store (keys of the magnitudes).
    pub fn negative_store(&self) -> &CollapsingLowestStore {
        &self.negative
    }

    /// The value at quantile `q`, exactly as `ddsketch` 3.0.1's
    /// `get_quantile_value` computes it (rank = q·(count−1)).
    pub fn quantile(&self, q: f64) -> Result<f64, QuantileError> {
        if !(0.0..=1.0).contains(&q) {
            return Err(QuantileError::OutOfRange(q));
        }
        let count = self.count();
        if count == 0.0 {
            return Err(QuantileError::Empty);
        }
        let rank = q * (count - 1.0);
        let negative_count = self.negative.count();
        let value = if rank < negative_count {
            let reversed = negative_count - rank - 1.0;
            let key = self
                .negative
                .key_at_rank(reversed, false)
                .ok_or(QuantileError::Empty)?;
            -self.mapping.value(key)
        } else if rank < self.zero_count + negative_count {
            0.0
        } else {
            let key = self
                .positive
                .key_at_rank(rank - self.zero_count - negative_count, true)
                .ok_or(QuantileError::Empty)?;
            self.mapping.value(key)
        };
        Ok(value)
    }

    /// Every non-empty bucket with the range its values lie in (for rank
    /// queries): key `k` holds `(lower_bound(k), lower_bound(k + 1)]`,
    /// mirrored for negatives; the zero bucket is exact.
    pub(crate) fn buckets(&self) -> Vec<crate::rank::Bucket> {
        use crate::rank::Bucket;
        let m = &self.mapping;
        // Widened by a hair so float rounding at a boundary never breaks the bound.
        let (down, up) = (1.0 - 1e-12, 1.0 + 1e-12);
        let mut out: Vec<Bucket> = self
            .negative
            .iter()
            .map(|(k, count)| Bucket {
                lo: -m.lower_bound(k + 1) * up,
                hi: -m.lower_bound(k) * down,
                count,
            })
            .collect();
        if self.zero_count > 0.0 {
            out.push(Bucket {
                lo: -m.min_possible(),
                hi: m.min_possible(),
                count: self.zero_count,
            });
        }
        out.extend(self.positive.iter().map(|(k, count)| Bucket {
            lo: m.lower_bound(k) * down,
            hi: m.lower_bound(k + 1) * up,
            count,
        }));
        out.retain(|b| b.count > 0.0);
        out
    }

    /// Adds every value of `other` (same α and offset required; the bin limit
    /// of `self` is kept).
    pub fn merge(&mut self, other: &Self) -> Result<(), MergeError> {
        if self.mapping.gamma() != other.mapping.gamma() || self.mapping.offset() != other.mapping.offset() {
            return Err(MergeError::ParameterMismatch {
                kind: SketchKind::QuantileFlow,
                detail: format!(
                    "gamma {} vs {}, offset {} vs {}",
                    self.mapping.gamma(),
                    other.mapping.gamma(),
                    self.mapping.offset(),
                    other.mapping.offset()
                ),
            });
        }
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
        self.zero_count += other.zero_count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        Ok(())
    }

    /// Removes every value, keeping the parameters.
    pub fn reset(&mut self) {
        self.positive.clear();
        self.negative.clear();
        self.zero_count = 0.0;
        self.sum = 0.0;
        self.min = f64::INFINITY;
        self.max = f64::NEG_INFINITY;
    }

    /// Writes the parameters and contents (kind header not included).
    pub(crate) fn write(&self, w: &mut Writer) {
        w.f64(self.mapping.relative_accuracy());
        w.f64(self.mapping.offset());
        w.varint(self.bin_limit() as u64);
        w.f64(self.zero_count);
        w.f64(self.sum);
        w.f64(self.min);
        w.f64(self.max);
        write_store(w, &self.positive);
        write_store(w, &self.negative);
    }

    /// Reads what [`Self::write`] wrote.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let alpha = r.f64()?;
        let offset = r.f64()?;
        if !offset.is_finite() || offset.abs() > 1e9 {
            return Err(DecodeError::Invalid("key offset out of range"));
        }
        let bin_limit = r.len(1 << 20)?;
        let mut sketch = Self::new(alpha, bin_limit)?;
        sketch.mapping = LogarithmicMapping::new(alpha, offset)?;
        sketch.zero_count = read_count(r)?;
        sketch.sum = r.f64()?;
        sketch.min = r.f64()?;
        sketch.max = r.f64()?;
        sketch.positive = read_store(r, bin_limit)?;
        sketch.negative = read_store(r, bin_limit)?;
        if sketch.count() > 0.0 && sketch.min.partial_cmp(&sketch.max).is_none_or(|o| o.is_gt()) {
            return Err(DecodeError::Invalid("min is above max"));
        }
        Ok(sketch)
    }

    /// Rebuilds a sketch from its parts (used by the protobuf reader).
    pub(crate) fn from_parts(
        mapping: LogarithmicMapping,
        positive: CollapsingLowestStore,
        negative: CollapsingLowestStore,
        zero_count: f64,
    ) -> Self {
        let mut s = Self::from_mapping(mapping, positive.bin_limit());
        s.zero_count = zero_count;
        // The protobuf carries no min/max/sum: estimate them from the buckets.
        let lowest = negative
            .key_range()
            .map(|(_, hi)| -mapping.value(hi))
            .or((zero_count > 0.0).then_some(0.0))
            .or(positive.key_range().map(|(lo, _)| mapping.value(lo)));
        let highest = positive
            .key_range()
            .map(|(_, hi)| mapping.value(hi))
            .or((zero_count > 0.0).then_some(0.0))
            .or(negative.key_range().map(|(lo, _)| -mapping.value(lo)));
        s.min = lowest.unwrap_or(f64::INFINITY);
        s.max = highest.unwrap_or(f64::NEG_INFINITY);
        s.sum = positive.iter().map(|(k, c)| mapping.value(k) * c).sum::<f64>()
            - negative.iter().map(|(k, c)| mapping.value(k) * c).sum::<f64>();
        s.positive = positive;
        s.negative = negative;
        s
    }
}

/// Sparse store encoding: bucket count, then (key delta, count) per bucket.
/// Counts are varints when whole (the usual case), else raw `f64`.
pub(crate) fn write_store(w: &mut Writer, store: &CollapsingLowestStore) {
    let whole = store.iter().all(|(_, c)| c.fract() == 0.0 && c > 0.0 && c < 9e15);
    let n = store.iter().count();
    w.varint(n as u64);
    if n == 0 {
        return;
    }
    w.u8(u8::from(whole));
    let mut previous = 0i64;
    for (key, count) in store.iter() {
        w.zigzag(i64::from(key) - previous);
        previous = i64::from(key);
        if whole {
            // Whole, positive and < 2^53: the cast is exact.
            w.varint(count as u64);
        } else {
            w.f64(count);
        }
    }
}

pub(crate) fn read_store(r: &mut Reader<'_>, bin_limit: usize) -> Result<CollapsingLowestStore, DecodeError> {
    // The count read ahead (bounded by the bytes left) sizes the vector.
    let mut bins = Vec::with_capacity(r.clone().len(r.remaining() / 2).unwrap_or(0));
    // |key| < 2^30 was checked, so the cast is lossless.
    read_bins(r, |key, count| bins.push((key as i32, count)))?;
    Ok(CollapsingLowestStore::from_bins(bin_limit, bins))
}

/// Reads a [`write_store`] encoding, handing each `(key, count)` to `bin` in
/// the order written: keys are checked to satisfy |key| < 2^30, counts to
/// be finite and non-negative. Nothing is allocated, so a caller can fold
/// the bins into a store of its own.
pub(crate) fn read_bins(r: &mut Reader<'_>, mut bin: impl FnMut(i64, f64)) -> Result<(), DecodeError> {
    // Each bucket takes at least 2 bytes, which bounds the count.
    let n = r.len(r.remaining() / 2)?;
    if n == 0 {
        return Ok(());
    }
    let whole = r.u8()? != 0;
    let mut key = 0i64;
    for _ in 0..n {
        key = key
            .checked_add(r.zigzag()?)
            .filter(|k| k.abs() < 1 << 30)
            .ok_or(DecodeError::Invalid("bucket key out of range"))?;
        let count = if whole { r.varint()? as f64 } else { read_count(r)? };
        bin(key, count);
    }
    Ok(())
}

fn read_count(r: &mut Reader<'_>) -> Result<f64, DecodeError> {
    let c = r.f64()?;
    if c.is_finite() && c >= 0.0 {
        Ok(c)
    } else {
        Err(DecodeError::Invalid("count is negative or not finite"))
    }
}
