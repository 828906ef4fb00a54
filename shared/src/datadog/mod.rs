//! `datadog`: Datadog's official Rust DDSketch (`libdd-ddsketch`), wrapped.
//!
//! The crate inserts values and encodes protobuf, nothing more: its relative
//! accuracy is fixed at α = 1/129 (≈ 0.775 %, γ = 1.015625), it keeps at most
//! 2048 buckets (collapsing the lowest), and it refuses negative values. This
//! thin adapter adds what the crate lacks, computed from its own buckets:
//! count/min/max/sum, merging (re-adding the other sketch's buckets through the
//! crate's own `add_with_count`) and quantiles (the same rank walk as
//! `quantileflow`, over the crate's bucket values).
//!
//! Its index convention differs from the Python library's: bucket `i` holds
//! `[γ^(i−o), γ^(i−o+1))` and its value is the lower bound times `1+α`
//! (libdatadog, Java and Go), where Python's key is a ceiling.

mod from_bytes;

pub(crate) use from_bytes::DatadogStaging;

use libdd_ddsketch::{pb, DDSketch as LibddSketch};
use prost::Message;

use crate::codec::{Reader, Writer};
use crate::ddsketch::store::CollapsingLowestStore;
use crate::ddsketch::{read_store, write_store};
use crate::error::{DecodeError, InsertError, MergeError, QuantileError};
use crate::kind::SketchKind;

/// The crate's fixed relative accuracy, 1/129.
pub const DATADOG_RELATIVE_ACCURACY: f64 = 1.0 / 129.0;

/// `libdd-ddsketch` plus the statistics and operations it does not provide.
#[derive(Debug, Clone)]
pub struct DatadogSketch {
    /// The official sketch: owns the buckets.
    inner: LibddSketch,
    /// Number of values.
    count: u64,
    /// Exact sum.
    sum: f64,
    /// Exact minimum (+∞ when empty).
    min: f64,
    /// Exact maximum (−∞ when empty).
    max: f64,
    /// The crate's mapping (gamma, index offset) as bits, to check merges.
    mapping: (u64, u64),
}

impl Default for DatadogSketch {
    fn default() -> Self {
        Self::new()
    }
}

/// `(gamma, index offset)` bits of a sketch's mapping.
fn mapping_of(sketch: &LibddSketch) -> (u64, u64) {
    sketch
        .clone()
        .into_pb()
        .mapping
        .map_or((0, 0), |m| (m.gamma.to_bits(), m.index_offset.to_bits()))
}

impl DatadogSketch {
    /// An empty sketch with the crate's fixed parameters.
    pub fn new() -> Self {
        let inner = LibddSketch::default();
        Self {
            mapping: mapping_of(&inner),
            inner,
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Inserts one value; negative and non-finite values are refused.
    #[inline]
    pub fn insert(&mut self, value: f64) -> Result<(), InsertError> {
        check(value)?;
        self.insert_checked(value);
        Ok(())
    }

    #[inline]
    fn insert_checked(&mut self, value: f64) {
        // `check` ruled out every input the crate refuses.
        if self.inner.add(value).is_ok() {
            self.count += 1;
            self.sum += value;
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
    }

    /// Inserts `value` `n` times (one weighted bucket increment);
    /// negative and non-finite values are refused.
    pub fn insert_n(&mut self, value: f64, n: u64) -> Result<(), InsertError> {
        check(value)?;
        if n == 0 {
            return Ok(());
        }
        if self.inner.add_with_count(value, n as f64).is_ok() {
            self.count += n;
            self.sum += value * n as f64;
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        Ok(())
    }

    /// Inserts every value, or none if any is refused.
    pub fn insert_slice(&mut self, values: &[f64]) -> Result<(), InsertError> {
        values.iter().try_for_each(|&v| check(v))?;
        values.iter().for_each(|&v| self.insert_checked(v));
        Ok(())
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Exact sum.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Exact minimum.
    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    /// Exact maximum.
    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }

    /// `(bucket value, count)` of every non-empty bucket, ascending; the zero
    /// bucket is `(0.0, n)`.
    pub fn buckets(&self) -> Vec<(f64, f64)> {
        let mut bins = self.inner.ordered_bins();
        bins.retain(|&(_, c)| c > 0.0);
        bins
    }

    /// Every non-empty bin with the range its values lie in (for rank
    /// queries): `(v/(1+α), v/(1−α)]` around the bin's value `v`, mirrored
    /// for negatives, exact for zero.
    pub(crate) fn rank_buckets(&self) -> Vec<crate::rank::Bucket> {
        let a = DATADOG_RELATIVE_ACCURACY;
        // Widened by a hair so float rounding at a boundary never breaks the bound.
        let (down, up) = (1.0 - 1e-9, 1.0 + 1e-9);
        self.buckets()
            .into_iter()
            .map(|(v, count)| {
                let (lo, hi) = match v {
                    v if v > 0.0 => (v / (1.0 + a) * down, v / (1.0 - a) * up),
                    v if v < 0.0 => (v / (1.0 - a) * up, v / (1.0 + a) * down),
                    _ => (0.0, 0.0),
                };
                crate::rank::Bucket { lo, hi, count }
            })
            .collect()
    }

    /// Quantile `q` by the rank walk over the crate's buckets (rank = q·(n−1)).
    pub fn quantile(&self, q: f64) -> Result<f64, QuantileError> {
        self.quantiles(&[q]).map(|v| v[0])
    }

    /// Several quantiles from one walk over the buckets.
    pub fn quantiles(&self, qs: &[f64]) -> Result<Vec<f64>, QuantileError> {
        if let Some(&q) = qs.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return Err(QuantileError::OutOfRange(q));
        }
        let bins = self.buckets();
        let total: f64 = bins.iter().map(|b| b.1).sum();
        if total == 0.0 {
            return Err(QuantileError::Empty);
        }
        Ok(qs
            .iter()
            .map(|&q| {
                let rank = q * (total - 1.0);
                let mut running = 0.0;
                bins.iter()
                    .find(|&&(_, c)| {
                        running += c;
                        running > rank
                    })
                    .or(bins.last())
                    .map_or(0.0, |b| b.0)
            })
            .collect())
    }

    /// Adds the other sketch's buckets through the crate's own insert.
    pub fn merge(&mut self, other: &Self) -> Result<(), MergeError> {
        if other.count == 0 {
            return Ok(());
        }
        let (a, b) = (self.mapping, other.mapping);
        if a != b {
            return Err(MergeError::ParameterMismatch {
                kind: SketchKind::Datadog,
                detail: format!("mapping (gamma, offset) {a:?} vs {b:?}"),
            });
        }
        // A bucket's value maps back to the same bucket: value = lower·(1+α)
        // sits half a bucket above the lower bound.
        let buckets = other.buckets();
        // What the crate refuses is refused before anything is added.
        if let Some(&(value, _)) = buckets
            .iter()
            .find(|&&(v, c)| !(v.is_finite() && v >= 0.0 && c.is_finite()))
        {
            return Err(MergeError::ParameterMismatch {
                kind: SketchKind::Datadog,
                detail: format!("bucket value {value} refused"),
            });
        }
        for (value, count) in buckets {
            // Checked above: the crate takes every one of them.
            let _ = self.inner.add_with_count(value, count);
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        Ok(())
    }

    /// Removes every value.
    pub fn reset(&mut self) {
        let mapping = self.mapping;
        *self = Self::new();
        self.mapping = mapping;
    }

    /// The crate's own protobuf encoding.
    pub fn to_proto_bytes(&self) -> Vec<u8> {
        self.inner.clone().encode_to_vec()
    }

    /// Reads a protobuf written by `libdd-ddsketch` (or any writer using its
    /// index convention). Negative stores are refused; count and sum are
    /// estimated from the buckets, min/max from the outermost buckets.
    pub fn from_proto_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let message = pb::DdSketch::decode(bytes).map_err(|e| DecodeError::Protobuf(e.to_string()))?;
        let has_negative = message
            .negative_values
            .as_ref()
            .is_some_and(|s| s.contiguous_bin_counts.iter().any(|&c| c != 0.0) || !s.bin_counts.is_empty());
        if has_negative {
            return Err(DecodeError::Protobuf(
                "the datadog kind holds no negative values".into(),
            ));
        }
        if let Some(m) = &message.mapping {
            if m.interpolation != i32::from(pb::index_mapping::Interpolation::None) {
                return Err(DecodeError::Protobuf(
                    "only interpolation NONE is supported".into(),
                ));
            }
        }
        // The crate ignores sparse bins: fold them into the contiguous ones first.
        let message = densify(message)?;
        let inner =
            LibddSketch::from_pb(message).ok_or_else(|| DecodeError::Protobuf("invalid mapping".into()))?;
        let mut sketch = Self { inner, ..Self::new() };
        let bins = sketch.buckets();
        if bins.iter().any(|b| !(b.1.is_finite() && b.1 >= 0.0)) {
            return Err(DecodeError::Protobuf(
                "bin count is negative or not finite".into(),
            ));
        }
        let total: f64 = bins.iter().map(|b| b.1).sum();
        // Counts are whole in practice; round fractional weights.
        sketch.count = total.round() as u64;
        sketch.sum = bins.iter().map(|b| b.0 * b.1).sum();
        if let (Some(lo), Some(hi)) = (bins.first(), bins.last()) {
            sketch.min = lo.0;
            sketch.max = hi.0;
        }
        Ok(sketch)
    }

    /// Native encoding: exact statistics, the crate's mapping, and its
    /// non-empty bins sparsely (index delta + count), ~3 bytes a bin where
    /// the crate's own protobuf spends 8 bytes on every bin in its range.
    pub(crate) fn write(&self, w: &mut Writer) {
        w.varint(self.count);
        w.f64(self.sum);
        w.f64(self.min);
        w.f64(self.max);
        let message = self.inner.clone().into_pb();
        let (gamma, offset) = message.mapping.map_or((0.0, 0.0), |m| (m.gamma, m.index_offset));
        w.f64(gamma);
        w.f64(offset);
        w.f64(message.zero_count);
        let bins = message.positive_values.map_or_else(Vec::new, |store| {
            let first = store.contiguous_bin_index_offset;
            store
                .contiguous_bin_counts
                .iter()
                .enumerate()
                // Bin positions fit i32: the crate keeps at most 2048 bins.
                .map(|(i, &c)| (first.saturating_add(i as i32), c))
                .collect()
        });
        write_store(w, &CollapsingLowestStore::from_bins(1 << 20, bins));
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = r.varint()?;
        let sum = r.f64()?;
        let min = r.f64()?;
        let max = r.f64()?;
        let gamma = r.f64()?;
        let index_offset = r.f64()?;
        let zero_count = r.f64()?;
        let store = read_store(r, 1 << 20)?;
        let (first, counts) = match store.key_range() {
            Some((lo, hi)) => {
                let mut counts = vec![0.0; (i64::from(hi) - i64::from(lo) + 1) as usize];
                for (key, c) in store.iter() {
                    counts[(key - lo) as usize] = c;
                }
                (lo, counts)
            }
            None => (0, Vec::new()),
        };
        let message = pb::DdSketch {
            mapping: Some(pb::IndexMapping {
                gamma,
                index_offset,
                interpolation: pb::index_mapping::Interpolation::None.into(),
            }),
            positive_values: Some(pb::Store {
                bin_counts: Default::default(),
                contiguous_bin_counts: counts,
                contiguous_bin_index_offset: first,
            }),
            negative_values: None,
            zero_count,
        };
        let mut sketch = Self::from_proto_bytes(&message.encode_to_vec())?;
        sketch.count = count;
        sketch.sum = sum;
        sketch.min = min;
        sketch.max = max;
        Ok(sketch)
    }
}

fn check(value: f64) -> Result<(), InsertError> {
    if !value.is_finite() {
        Err(InsertError::NotFinite(value))
    } else if value < 0.0 {
        Err(InsertError::Negative {
            kind: SketchKind::Datadog,
            value,
        })
    } else {
        Ok(())
    }
}

fn densify(mut message: pb::DdSketch) -> Result<pb::DdSketch, DecodeError> {
    let Some(store) = message.positive_values.as_mut() else {
        return Ok(message);
    };
    if store.bin_counts.is_empty() {
        return Ok(message);
    }
    let offset = i64::from(store.contiguous_bin_index_offset);
    let contiguous = store.contiguous_bin_counts.len() as i64;
    let keys = store.bin_counts.keys().map(|&k| i64::from(k));
    let lo = keys
        .clone()
        .min()
        .unwrap_or(offset)
        .min(if contiguous > 0 { offset } else { i64::MAX });
    let hi = keys.max().unwrap_or(offset).max(if contiguous > 0 {
        offset + contiguous - 1
    } else {
        i64::MIN
    });
    if hi - lo >= 1 << 20 {
        return Err(DecodeError::Protobuf("bin indexes span too wide a range".into()));
    }
    let mut counts = vec![0.0; (hi - lo + 1) as usize];
    for (i, &c) in store.contiguous_bin_counts.iter().enumerate() {
        counts[(offset - lo) as usize + i] += c;
    }
    for (&k, &c) in &store.bin_counts {
        counts[(i64::from(k) - lo) as usize] += c;
    }
    store.bin_counts.clear();
    store.contiguous_bin_counts = counts;
    // lo is one of the i32 keys or the i32 offset.
    store.contiguous_bin_index_offset = lo as i32;
    Ok(message)
}
