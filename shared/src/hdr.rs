//! `hdrhistogram`: the `hdrhistogram` crate, with a scale for sub-unit values.
//!
//! A value `v` is recorded as the integer `round(v · scale)`; quantiles are
//! divided by `scale` again. With the defaults (3 significant digits, scale
//! 1000) a latency in milliseconds keeps microsecond resolution and every
//! quantile is within 0.1 % (one part in 10^digits) of a recorded value.
//! The histogram auto-resizes, so there is no upper bound to configure.
//!
//! HdrHistogram V2 (plain and zlib-compressed, as the Java and Python libraries
//! write them) is read and written. The scale travels in the header's
//! "integer to double conversion ratio" (= 1/scale), which those libraries
//! write as 1.0 for integer histograms.

use std::io::Write;

use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;

use crate::codec::{Reader, Writer};
use crate::error::{
    ConfigError, DecodeError, EncodeError, InsertError, MergeEncodedError, MergeError, QuantileError,
};
use crate::inflate::inflate;
use crate::kind::SketchKind;

/// Default significant decimal digits.
pub const DEFAULT_SIGNIFICANT_DIGITS: u8 = 3;
/// Default scale: values are recorded in 1/1000 of their unit.
pub const DEFAULT_SCALE: f64 = 1000.0;

const V2_COOKIE: u32 = 0x1c84_9313;
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9314;
/// Plain V2 payloads from this size on are stored zlib-compressed.
pub const COMPRESS_FROM_BYTES: usize = 512;
const V2_HEADER_LEN: usize = 40;
/// Largest decompressed V2 payload accepted (bounds memory on bad input).
const MAX_V2_BYTES: usize = 64 << 20;

/// An HDR histogram of scaled values plus exact min/max/sum.
#[derive(Debug, Clone)]
pub struct HdrSketch {
    /// Counts of `round(value · scale)`.
    histogram: Histogram<u64>,
    /// Multiplier from values to recorded integers.
    scale: f64,
    /// Exact sum of the values.
    sum: f64,
    /// Exact minimum (+∞ when empty).
    min: f64,
    /// Exact maximum (−∞ when empty).
    max: f64,
}

impl HdrSketch {
    /// A histogram keeping `significant_digits` digits of values scaled by `scale`.
    pub fn new(significant_digits: u8, scale: f64) -> Result<Self, ConfigError> {
        if !(1..=5).contains(&significant_digits) {
            return Err(ConfigError::SignificantDigits(significant_digits));
        }
        if !(scale.is_finite() && scale >= 1e-9) {
            return Err(ConfigError::Scale(scale));
        }
        let histogram = Histogram::new(significant_digits)
            .map_err(|_| ConfigError::SignificantDigits(significant_digits))?;
        Ok(Self::from_histogram(histogram, scale))
    }

    fn from_histogram(histogram: Histogram<u64>, scale: f64) -> Self {
        Self {
            histogram,
            scale,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Significant decimal digits.
    pub fn significant_digits(&self) -> u8 {
        self.histogram.sigfig()
    }

    /// The value scale.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The underlying histogram (values are scaled integers).
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.histogram
    }

    /// `(value, count)` of every recorded bucket, ascending, in the
    /// caller's units (the bucket's highest equivalent value, unscaled).
    pub fn mass_points(&self) -> Vec<(f64, f64)> {
        self.histogram
            .iter_recorded()
            .map(|v| {
                let value = self.histogram.highest_equivalent(v.value_iterated_to()) as f64 / self.scale;
                (value, v.count_at_value() as f64)
            })
            .collect()
    }

    /// Every recorded bucket with the range its values lie in (for rank
    /// queries): its equivalent-value range, widened by the half unit the
    /// scaling rounds off; reported at its highest equivalent value.
    pub(crate) fn buckets(&self) -> Vec<crate::rank::Bucket> {
        let h = &self.histogram;
        h.iter_recorded()
            .map(|v| {
                let at = v.value_iterated_to();
                let (lo, hi) = (h.lowest_equivalent(at), h.highest_equivalent(at));
                crate::rank::Bucket {
                    lo: (lo as f64 - 0.5) / self.scale,
                    hi: (hi as f64 + 0.5) / self.scale,
                    count: v.count_at_value() as f64,
                }
            })
            .collect()
    }

    /// Records one value; negative, non-finite and too-large values are refused.
    #[inline]
    pub fn insert(&mut self, value: f64) -> Result<(), InsertError> {
        let scaled = self.scaled(value)?;
        self.histogram
            .record(scaled)
            .map_err(|_| InsertError::TooLarge(value))?;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        Ok(())
    }

    /// Records `value` `n` times (one weighted bucket increment);
    /// negative, non-finite and too-large values are refused.
    pub fn insert_n(&mut self, value: f64, n: u64) -> Result<(), InsertError> {
        let scaled = self.scaled(value)?;
        if n == 0 {
            return Ok(());
        }
        self.histogram
            .record_n(scaled, n)
            .map_err(|_| InsertError::TooLarge(value))?;
        self.sum += value * n as f64;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        Ok(())
    }

    #[inline]
    fn scaled(&self, value: f64) -> Result<u64, InsertError> {
        if !value.is_finite() {
            return Err(InsertError::NotFinite(value));
        }
        if value < 0.0 {
            return Err(InsertError::Negative {
                kind: SketchKind::HdrHistogram,
                value,
            });
        }
        let scaled = value * self.scale;
        if scaled >= 9.2e18 {
            return Err(InsertError::TooLarge(value));
        }
        // Non-negative and below 2^63: truncate (one instruction), then
        // round half away from zero like `f64::round`, which is a libm call
        // on baseline x86-64.
        let truncated = scaled as u64;
        Ok(if scaled - truncated as f64 >= 0.5 {
            truncated + 1
        } else {
            truncated
        })
    }

    /// Records every value, or none if any is refused.
    pub fn insert_slice(&mut self, values: &[f64]) -> Result<(), InsertError> {
        for &v in values {
            self.scaled(v)?;
        }
        values.iter().try_for_each(|&v| self.insert(v))
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Exact sum.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Exact minimum.
    pub fn min(&self) -> Option<f64> {
        (self.count() > 0).then_some(self.min)
    }

    /// Exact maximum.
    pub fn max(&self) -> Option<f64> {
        (self.count() > 0).then_some(self.max)
    }

    /// `value_at_quantile(q) / scale`: the highest value equivalent to the
    /// recorded value at that quantile (as the Java/Python libraries report).
    pub fn quantile(&self, q: f64) -> Result<f64, QuantileError> {
        if !(0.0..=1.0).contains(&q) {
            return Err(QuantileError::OutOfRange(q));
        }
        if self.count() == 0 {
            return Err(QuantileError::Empty);
        }
        // Integer counts of a histogram: the u64 → f64 cast loses nothing that matters.
        Ok(self.histogram.value_at_quantile(q) as f64 / self.scale)
    }

    /// Adds the other histogram's counts (same digits and scale required).
    pub fn merge(&mut self, other: &Self) -> Result<(), MergeError> {
        if self.scale != other.scale || self.significant_digits() != other.significant_digits() {
            return Err(MergeError::ParameterMismatch {
                kind: SketchKind::HdrHistogram,
                detail: format!(
                    "digits {} vs {}, scale {} vs {}",
                    self.significant_digits(),
                    other.significant_digits(),
                    self.scale,
                    other.scale
                ),
            });
        }
        self.histogram
            .add(&other.histogram)
            .map_err(|e| MergeError::ParameterMismatch {
                kind: SketchKind::HdrHistogram,
                detail: format!("{e:?}"),
            })?;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        Ok(())
    }

    /// Removes every value.
    pub fn reset(&mut self) {
        self.histogram.reset();
        self.sum = 0.0;
        self.min = f64::INFINITY;
        self.max = f64::NEG_INFINITY;
    }

    /// HdrHistogram V2 bytes; `compressed` selects the zlib-compressed form
    /// (what the Python library's `encode()` produces before base64).
    pub fn to_v2(&self, compressed: bool) -> Result<Vec<u8>, EncodeError> {
        let mut plain = Vec::new();
        if V2Serializer::new()
            .serialize(&self.histogram, &mut plain)
            .is_err()
        {
            // V2 writes counts as i64: a bucket past i64::MAX (9.2e18
            // values, only from weighted inserts or merges of such) is
            // written clamped rather than not at all.
            plain.clear();
            V2Serializer::new()
                .serialize(&self.clamped(), &mut plain)
                .map_err(|e| EncodeError::Hdr(format!("{e:?}")))?;
        }
        plain[32..40].copy_from_slice(&(1.0 / self.scale).to_be_bytes());
        if !compressed {
            return Ok(plain);
        }
        compress_v2(&plain)
    }

    /// The histogram with every count clamped to `i64::MAX`.
    fn clamped(&self) -> Histogram<u64> {
        let mut clamped = Histogram::new_from(&self.histogram);
        for v in self.histogram.iter_recorded() {
            let count = v.count_at_value().min(i64::MAX as u64);
            clamped.saturating_record_n(v.value_iterated_to(), count);
        }
        clamped
    }

    /// V2 bytes as our own encoding stores them: plain while they are small
    /// (a window of a few dozen values: zlib would save a few bytes and cost
    /// most of the encoding time, its state alone being ~300 KB to set up),
    /// zlib-compressed from [`COMPRESS_FROM_BYTES`] on (about a third of the
    /// plain size for a busy window). Decoding reads both.
    pub fn to_v2_sized(&self) -> Result<Vec<u8>, EncodeError> {
        let plain = self.to_v2(false)?;
        if plain.len() < COMPRESS_FROM_BYTES {
            return Ok(plain);
        }
        compress_v2(&plain)
    }

    /// Reads HdrHistogram V2 bytes (plain or compressed). The scale is
    /// 1/ratio from the header (1 for histograms from other libraries); the
    /// sum is estimated from bucket midpoints, min/max from the outer buckets.
    pub fn from_v2(bytes: &[u8]) -> Result<Self, DecodeError> {
        with_plain(bytes, Self::from_plain_v2)
    }

    /// [`Self::from_v2`] of plain V2 bytes.
    fn from_plain_v2(plain: &[u8]) -> Result<Self, DecodeError> {
        let mut sketch = Self::from_plain_v2_counts(plain)?;
        if sketch.count() > 0 {
            let scale = sketch.scale;
            sketch.min = sketch.histogram.min() as f64 / scale;
            sketch.max = sketch.histogram.max() as f64 / scale;
            sketch.sum = sketch.histogram.mean() * sketch.count() as f64 / scale;
        }
        Ok(sketch)
    }

    /// The histogram of plain V2 bytes, without min/max/sum.
    fn from_plain_v2_counts(plain: &[u8]) -> Result<Self, DecodeError> {
        let header = V2Header::parse(plain)?;
        let mut plain = plain.to_vec();
        // The crate only reads ratio 1.0; the scale is kept on our side.
        plain[32..40].copy_from_slice(&1.0f64.to_be_bytes());
        let mut histogram: Histogram<u64> = Deserializer::new()
            .deserialize(&mut plain.as_slice())
            .map_err(|e| DecodeError::Hdr(format!("{e:?}")))?;
        // Decoded histograms are bounded by their header; let them grow when
        // merged with wider ones, like the ones this crate creates.
        histogram.auto(true);
        Ok(Self::from_histogram(histogram, header.scale))
    }

    /// Adds the counts of V2 bytes straight into this histogram, without
    /// building a histogram for them (a window's histogram is mostly empty
    /// buckets: allocating and walking them is most of a decode + merge).
    /// Compressed bytes are inflated into a reused buffer. `stats` are the
    /// exact `(sum, min, max)` to fold in; `None` estimates them from the
    /// buckets, as [`Self::from_v2`] does. Unchanged on error.
    pub fn merge_v2(
        &mut self,
        bytes: &[u8],
        stats: Option<(f64, f64, f64)>,
    ) -> Result<(), MergeEncodedError> {
        with_plain(bytes, |plain| self.merge_plain_v2(plain, stats))
    }

    /// [`Self::merge_v2`] of plain V2 bytes.
    fn merge_plain_v2(
        &mut self,
        plain: &[u8],
        stats: Option<(f64, f64, f64)>,
    ) -> Result<(), MergeEncodedError> {
        let header = V2Header::parse(plain)?;
        if !self.same_layout(&header) {
            // Another layout: decode it the general way (which also checks
            // that the parameters match).
            let mut other = Self::from_plain_v2(plain)?;
            if let Some((sum, min, max)) = stats {
                (other.sum, other.min, other.max) = (sum, min, max);
            }
            return Ok(self.merge(&other)?);
        }
        let layout = BucketLayout::new(header.digits);
        // As the crate's decoder: no bucket past what the header's highest
        // trackable value allows. Everything is checked before anything changes.
        // Indices only grow, and a valid index has valid ones below it:
        // checking the last one checks them all.
        let counts_len = layout.counts_len(header.highest);
        if let Some(index) = header.counts(plain).last_index()? {
            if index >= counts_len {
                return Err(DecodeError::Hdr(format!(
                    "counts index {index} beyond the {counts_len} buckets of the header"
                ))
                .into());
            }
            layout.value_at(index)?;
        }
        self.record_counts(&layout, header.counts(plain), stats)
    }

    /// Records the (checked) `counts` and folds in `stats`, or their
    /// estimate from the buckets.
    fn record_counts(
        &mut self,
        layout: &BucketLayout,
        counts: Counts<'_>,
        stats: Option<(f64, f64, f64)>,
    ) -> Result<(), MergeEncodedError> {
        let mut total = 0u64;
        let (mut lo, mut hi, mut sum) = (u64::MAX, 0u64, 0.0);
        for bucket in counts {
            let (index, count) = bucket?;
            let value = layout.value_at(index)?;
            self.histogram
                .record_n(value, count)
                .map_err(|e| DecodeError::Hdr(format!("{e:?}")))?;
            total = total.saturating_add(count);
            lo = lo.min(value);
            hi = hi.max(value);
            if stats.is_none() {
                sum += self.histogram.median_equivalent(value) as f64 * count as f64;
            }
        }
        if total == 0 && stats.is_none() {
            // Nothing to estimate from; given stats are folded in as `merge`
            // folds those of an empty sketch.
            return Ok(());
        }
        let (sum, min, max) = stats.unwrap_or_else(|| {
            (
                sum / self.scale,
                self.histogram.lowest_equivalent(lo) as f64 / self.scale,
                self.histogram.highest_equivalent(hi) as f64 / self.scale,
            )
        });
        self.sum += sum;
        self.min = self.min.min(min);
        self.max = self.max.max(max);
        Ok(())
    }

    /// Whether V2 bytes with `header` use this histogram's bucket layout
    /// and scale, so their counts indices are this histogram's.
    fn same_layout(&self, header: &V2Header) -> bool {
        header.digits == u32::from(self.significant_digits())
            && header.lowest == self.histogram.low()
            && header.lowest == 1
            && header.highest >= 2
            && header.offset == 0
            && header.scale == self.scale
    }

    /// [`Self::merge_read`], but the counts go into `staging` (recorded by
    /// [`Self::flush_staged`]); sum, min and max are folded in at once, in
    /// window order. Unchanged (and `staging` too) on error.
    pub(crate) fn stage_read(
        &mut self,
        staging: &mut HdrStaging,
        r: &mut Reader<'_>,
    ) -> Result<(), MergeEncodedError> {
        let mut start = r.clone();
        let (sum, min, max) = (r.f64()?, r.f64()?, r.f64()?);
        let bytes = r.bytes()?;
        if r.finish().is_err() {
            return self.merge_read(&mut start);
        }
        let stats = Some((sum, min, max));
        with_plain(bytes, |plain| {
            if self.stage_plain_v2(staging, plain) {
                self.sum += sum;
                self.min = self.min.min(min);
                self.max = self.max.max(max);
                Ok(())
            } else {
                // Another layout, or bad bytes: the general path merges or
                // names the error.
                self.merge_plain_v2(plain, stats)
            }
        })
    }

    /// Stages the counts of plain V2 bytes in one pass; `false`, with
    /// nothing staged, if they are not in this histogram's layout or not
    /// valid (the bucket checks of [`Self::merge_plain_v2`], per bucket).
    fn stage_plain_v2(&self, staging: &mut HdrStaging, plain: &[u8]) -> bool {
        let Ok(header) = V2Header::parse(plain) else {
            return false;
        };
        if !self.same_layout(&header) {
            return false;
        }
        let layout = BucketLayout::new(header.digits);
        let counts_len = layout.counts_len(header.highest);
        let payload = header.counts(plain).payload;
        let (staged, complete) = staging.add_all(&layout, payload, counts_len);
        if !complete {
            staging.undo(payload, staged);
        }
        complete
    }

    /// Records the staged counts into the histogram and empties `staging`.
    pub(crate) fn flush_staged(&mut self, staging: &mut HdrStaging) -> Result<(), DecodeError> {
        let layout = BucketLayout::new(u32::from(self.significant_digits()));
        let (lo, hi) = staging.span;
        for (i, slot) in staging.counts.iter_mut().enumerate().take(hi).skip(lo) {
            let count = std::mem::take(slot);
            if count == 0 {
                continue;
            }
            // Staged indices were checked against the layout.
            let value = layout.value_at(i as u64)?;
            self.histogram
                .record_n(value, count)
                .map_err(|e| DecodeError::Hdr(format!("{e:?}")))?;
        }
        staging.span = (0, 0);
        Ok(())
    }

    pub(crate) fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.f64(self.sum);
        w.f64(self.min);
        w.f64(self.max);
        w.bytes(&self.to_v2_sized()?);
        Ok(())
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let sum = r.f64()?;
        let min = r.f64()?;
        let max = r.f64()?;
        let mut sketch = with_plain(r.bytes()?, Self::from_plain_v2_counts)?;
        sketch.sum = sum;
        sketch.min = min;
        sketch.max = max;
        Ok(sketch)
    }

    /// [`Self::read`] straight into this histogram (see [`Self::merge_v2`]).
    pub(crate) fn merge_read(&mut self, r: &mut Reader<'_>) -> Result<(), MergeEncodedError> {
        let start = r.clone();
        let sum = r.f64()?;
        let min = r.f64()?;
        let max = r.f64()?;
        let bytes = r.bytes()?;
        if r.finish().is_err() {
            // Decoding reads the V2 bytes before it finds trailing ones: let
            // it say which comes first.
            let mut r = start;
            let other = Self::read(&mut r)?;
            r.finish()?;
            return Ok(self.merge(&other)?);
        }
        self.merge_v2(bytes, Some((sum, min, max)))
    }
}

/// Counts of many windows summed by bucket index before they reach the
/// histogram ([`crate::batch::BatchMerge`]): adding a count to an array slot
/// instead of recording it through the crate (index from the value, resize
/// check, min/max and total per bucket). Indices are the V2 counts indices
/// of the accumulator's layout (lowest discernible value 1, no offset).
#[derive(Debug)]
pub(crate) struct HdrStaging {
    counts: Vec<u64>,
    /// Lowest and one past the highest index that may hold a count.
    span: (usize, usize),
}

std::thread_local! {
    /// The counts array of the last staging dropped on this thread, all
    /// zero: a dashboard range query runs one batch per chart bucket, and
    /// each would otherwise allocate and zero ~100 KB.
    static SPARE_COUNTS: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Default for HdrStaging {
    fn default() -> Self {
        let counts = SPARE_COUNTS
            .try_with(|spare| spare.try_borrow_mut().map(|mut s| std::mem::take(&mut *s)).ok())
            .ok()
            .flatten()
            .unwrap_or_default();
        Self { counts, span: (0, 0) }
    }
}

impl Drop for HdrStaging {
    fn drop(&mut self) {
        // Left unflushed (a batch dropped without `finish`): zero what may
        // hold counts, so the spare is all zero.
        let (lo, hi) = self.span;
        if let Some(held) = self.counts.get_mut(lo..hi) {
            held.fill(0);
        }
        let counts = std::mem::take(&mut self.counts);
        // At thread exit the spare may be gone already: then it is just freed.
        let _ = SPARE_COUNTS.try_with(|spare| {
            if let Ok(mut spare) = spare.try_borrow_mut() {
                if spare.capacity() < counts.capacity() {
                    *spare = counts;
                }
            }
        });
    }
}

impl HdrStaging {
    /// Adds every count of a V2 `payload` whose indices must stay below
    /// `counts_len`, in one pass; returns how many were added and whether
    /// that was all of them.
    fn add_all(&mut self, layout: &BucketLayout, payload: &[u8], counts_len: u64) -> (usize, bool) {
        let (mut staged, mut first, mut last) = (0usize, None, 0usize);
        let complete = for_each_count(payload, |index, count| {
            let Some(i) = usize::try_from(index).ok().filter(|_| index < counts_len) else {
                return false;
            };
            if !self.add_at(layout, i, count) {
                return false;
            }
            // Indices only grow: the first is the lowest, the last the highest.
            first.get_or_insert(i);
            last = i;
            staged += 1;
            true
        });
        if let Some(lo) = first.filter(|_| complete) {
            self.widen_span(lo, last + 1);
        }
        (staged, complete)
    }

    /// Adds `count` at slot `i`; `false`, with nothing changed, if the slot
    /// would overflow or stands for no value. The array only grows to a
    /// valid index (bounded by the layout, not by the bytes).
    #[inline]
    fn add_at(&mut self, layout: &BucketLayout, i: usize, count: u64) -> bool {
        if i >= self.counts.len() {
            if layout.value_at(i as u64).is_err() {
                return false;
            }
            self.counts.resize(i + 1, 0);
        }
        match self.counts[i].checked_add(count) {
            Some(sum) => {
                self.counts[i] = sum;
                true
            }
            None => false,
        }
    }

    fn widen_span(&mut self, lo: usize, end: usize) {
        if self.span.0 >= self.span.1 {
            self.span = (lo, end);
        } else {
            self.span = (self.span.0.min(lo), self.span.1.max(end));
        }
    }

    /// Takes back the first `staged` counts of `payload`, which `add_all`
    /// added (read the same way, so the same counts at the same slots).
    fn undo(&mut self, payload: &[u8], staged: usize) {
        let mut left = staged;
        for_each_count(payload, |index, count| {
            if left == 0 {
                return false;
            }
            left -= 1;
            // Added before, so the slot exists and holds at least `count`.
            if let Some(slot) = usize::try_from(index).ok().and_then(|i| self.counts.get_mut(i)) {
                *slot -= count;
            }
            true
        });
    }
}

/// Plain V2 bytes wrapped the way the compressed V2 form is (cookie, length,
/// zlib stream).
fn compress_v2(plain: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(plain)
        .map_err(|e| EncodeError::Hdr(e.to_string()))?;
    let deflated = encoder.finish().map_err(|e| EncodeError::Hdr(e.to_string()))?;
    let mut out = Vec::with_capacity(8 + deflated.len());
    out.extend_from_slice(&V2_COMPRESSED_COOKIE.to_be_bytes());
    out.extend_from_slice(
        &u32::try_from(deflated.len())
            .map_err(|e| EncodeError::Hdr(e.to_string()))?
            .to_be_bytes(),
    );
    out.extend_from_slice(&deflated);
    Ok(out)
}

/// Hands the plain V2 bytes of plain or compressed V2 `bytes` to `with`;
/// compressed ones are inflated into a reused buffer (at most
/// [`MAX_V2_BYTES`] of them are read).
fn with_plain<R, E: From<DecodeError>>(
    bytes: &[u8],
    with: impl FnOnce(&[u8]) -> Result<R, E>,
) -> Result<R, E> {
    match be_u32(bytes, 0)? {
        V2_COOKIE => with(bytes),
        V2_COMPRESSED_COOKIE => {
            let len = be_u32(bytes, 4)? as usize;
            let payload = bytes.get(8..8 + len).ok_or(DecodeError::Truncated)?;
            inflate(payload, MAX_V2_BYTES, with)?
        }
        other => Err(DecodeError::Hdr(format!("unknown cookie {other:#010x}")).into()),
    }
}

/// The header fields of plain V2 bytes that we check or use.
struct V2Header {
    /// Bytes of zig-zag LEB128 counts after the header.
    payload_len: usize,
    /// Normalizing index offset (0 unless shifted).
    offset: u32,
    digits: u32,
    lowest: u64,
    highest: u64,
    /// 1 / the integer-to-double conversion ratio.
    scale: f64,
}

impl V2Header {
    fn parse(plain: &[u8]) -> Result<Self, DecodeError> {
        if be_u32(plain, 0)? != V2_COOKIE {
            return Err(DecodeError::Hdr("inner cookie is not V2".into()));
        }
        let payload_len = be_u32(plain, 4)? as usize;
        if plain.len() < V2_HEADER_LEN || payload_len > plain.len() - V2_HEADER_LEN {
            return Err(DecodeError::Truncated);
        }
        let digits = be_u32(plain, 12)?;
        if !(1..=5).contains(&digits) {
            return Err(DecodeError::Hdr(format!(
                "significant digits {digits} out of range"
            )));
        }
        let ratio = f64::from_bits(be_u64(plain, 32)?);
        let scale = if ratio.is_finite() && ratio > 0.0 {
            1.0 / ratio
        } else {
            1.0
        };
        if !(scale.is_finite() && scale >= 1e-9) {
            return Err(DecodeError::Hdr("conversion ratio out of range".into()));
        }
        Ok(Self {
            payload_len,
            offset: be_u32(plain, 8)?,
            digits,
            lowest: be_u64(plain, 16)?,
            highest: be_u64(plain, 24)?,
            scale,
        })
    }

    /// The non-empty buckets of `plain` (whose header this is).
    fn counts<'a>(&self, plain: &'a [u8]) -> Counts<'a> {
        Counts {
            payload: plain
                .get(V2_HEADER_LEN..V2_HEADER_LEN + self.payload_len)
                .unwrap_or_default(),
            index: 0,
        }
    }
}

/// `(counts index, count)` of every non-empty bucket of a V2 payload, read
/// as they come: zig-zag LEB128 numbers, a negative one being a run of
/// empty buckets. Ends after the first error.
struct Counts<'a> {
    payload: &'a [u8],
    index: u64,
}

impl Counts<'_> {
    /// The index of the last non-empty bucket, reading every number (a
    /// leaner loop than the iterator's, for checking before recording).
    fn last_index(mut self) -> Result<Option<u64>, DecodeError> {
        let mut last = None;
        while !self.payload.is_empty() {
            let (n, used) = read_leb128(self.payload)?;
            self.payload = self.payload.get(used..).unwrap_or_default();
            if n & 1 == 1 {
                // Negative: a run of -n empty buckets.
                let run = (n >> 1) + 1;
                self.index = self.index.checked_add(run).ok_or_else(overflow)?;
            } else {
                if n != 0 {
                    last = Some(self.index);
                }
                self.index = self.index.checked_add(1).ok_or_else(overflow)?;
            }
        }
        Ok(last)
    }

    #[cold]
    fn fail(&mut self, e: DecodeError) -> Option<Result<(u64, u64), DecodeError>> {
        self.payload = &[];
        Some(Err(e))
    }
}

#[cold]
fn overflow() -> DecodeError {
    DecodeError::Hdr("run of empty buckets overflows".into())
}

impl Iterator for Counts<'_> {
    type Item = Result<(u64, u64), DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        while !self.payload.is_empty() {
            let (n, used) = match read_leb128(self.payload) {
                Ok(read) => read,
                Err(e) => return self.fail(e),
            };
            self.payload = self.payload.get(used..).unwrap_or_default();
            let n = (n >> 1) as i64 ^ -((n & 1) as i64);
            let at = self.index;
            let step = if n < 0 { n.unsigned_abs() } else { 1 };
            let Some(next) = self.index.checked_add(step) else {
                return self.fail(overflow());
            };
            self.index = next;
            if n > 0 {
                return Some(Ok((at, n as u64)));
            }
        }
        None
    }
}

/// Calls `f(index, count)` for every non-empty bucket of a V2 payload (its
/// zig-zag LEB128 numbers, a negative one being a run of empty buckets), in
/// a lean loop (most numbers are one byte, and nothing is built per bucket);
/// `false` if a number is cut, a run overflows, or `f` says stop.
#[inline]
fn for_each_count(payload: &[u8], mut f: impl FnMut(u64, u64) -> bool) -> bool {
    let (mut index, mut at) = (0u64, 0usize);
    while let Some(&b) = payload.get(at) {
        let n = if b < 0x80 {
            at += 1;
            u64::from(b)
        } else {
            let Ok((n, used)) = read_leb128(&payload[at..]) else {
                return false;
            };
            at += used;
            n
        };
        if n & 1 == 1 {
            // A run of (n >> 1) + 1 empty buckets.
            let Some(next) = index.checked_add((n >> 1) + 1) else {
                return false;
            };
            index = next;
            continue;
        }
        if n >> 1 > 0 && !f(index, n >> 1) {
            return false;
        }
        let Some(next) = index.checked_add(1) else {
            return false;
        };
        index = next;
    }
    true
}

/// LEB128 as HdrHistogram writes it: at most 9 bytes, the 9th holding a
/// whole 8 bits. Returns the number and the bytes used; a cut number is a
/// V2 error, as the crate's decoder reports it.
#[inline]
fn read_leb128(bytes: &[u8]) -> Result<(u64, usize), DecodeError> {
    // Most counts and runs of a window fit one byte.
    if let Some(&b) = bytes.first() {
        if b & 0x80 == 0 {
            return Ok((u64::from(b), 1));
        }
    }
    let mut n = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(9) {
        if i == 8 {
            return Ok((n | (u64::from(b) << 56), 9));
        }
        n |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((n, i + 1));
        }
    }
    Err(DecodeError::Hdr("counts end inside a number".into()))
}

/// Which value a counts index stands for, for a histogram with lowest
/// discernible value 1 and `digits` significant digits.
struct BucketLayout {
    /// log2 of half the sub-buckets per bucket.
    half_magnitude: u32,
}

impl BucketLayout {
    fn new(digits: u32) -> Self {
        let largest_single_unit = 2 * 10u64.pow(digits);
        let magnitude = 64 - (largest_single_unit - 1).leading_zeros();
        Self {
            half_magnitude: magnitude.max(1) - 1,
        }
    }

    /// Length of the counts array of a histogram tracking values up to
    /// `highest` (the crate's `buckets_to_cover` + 1 buckets of half size).
    fn counts_len(&self, highest: u64) -> u64 {
        let mut smallest_untrackable = 1u64 << (self.half_magnitude + 1);
        let mut buckets = 1u64;
        while smallest_untrackable <= highest {
            if smallest_untrackable > u64::MAX / 2 {
                buckets += 1;
                break;
            }
            smallest_untrackable <<= 1;
            buckets += 1;
        }
        (buckets + 1) << self.half_magnitude
    }

    /// The lowest value of the bucket at `index`.
    fn value_at(&self, index: u64) -> Result<u64, DecodeError> {
        let out_of_range = || DecodeError::Hdr(format!("counts index {index} out of range"));
        let half = 1u64 << self.half_magnitude;
        let mut sub_bucket = (index & (half - 1)) + half;
        let shift = match (index >> self.half_magnitude).checked_sub(1) {
            None => {
                sub_bucket -= half;
                0
            }
            Some(bucket) => u32::try_from(bucket).map_err(|_| out_of_range())?,
        };
        match shift.checked_add(64 - sub_bucket.leading_zeros()) {
            Some(bits) if bits <= 63 => Ok(sub_bucket << shift),
            _ => Err(out_of_range()),
        }
    }
}

fn be_u64(bytes: &[u8], at: usize) -> Result<u64, DecodeError> {
    let b: [u8; 8] = bytes
        .get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .ok_or(DecodeError::Truncated)?;
    Ok(u64::from_be_bytes(b))
}

fn be_u32(bytes: &[u8], at: usize) -> Result<u32, DecodeError> {
    let b: [u8; 4] = bytes
        .get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .ok_or(DecodeError::Truncated)?;
    Ok(u32::from_be_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_rounds_half_away_from_zero_like_f64_round() {
        let h = HdrSketch::new(3, 1000.0).expect("valid");
        let values = [
            0.0, 0.0004999, 0.0005, 0.0015, 0.0025, 1.2345, 2951.9355, 4.5e15, 9.1e15,
        ];
        for v in values
            .into_iter()
            .chain((0..5000).map(|i| f64::from(i) * 0.000_37))
        {
            let want = (v * 1000.0).round() as u64;
            assert_eq!(h.scaled(v).expect("in range"), want, "{v}");
        }
        assert!(h.scaled(9.3e15).is_err(), "too large");
    }

    /// Plain V2 bytes: digits 3, lowest 1, `highest`, ratio 1, and `counts`
    /// as zig-zag LEB128 numbers (negative: a run of empty buckets).
    fn v2(highest: u64, counts: &[i64]) -> Vec<u8> {
        let mut payload = Vec::new();
        for &n in counts {
            let mut z = ((n << 1) ^ (n >> 63)) as u64;
            for i in 0..9 {
                if i == 8 {
                    payload.push(z as u8);
                    break;
                }
                let byte = (z & 0x7f) as u8;
                z >>= 7;
                if z == 0 {
                    payload.push(byte);
                    break;
                }
                payload.push(byte | 0x80);
            }
        }
        let mut out = Vec::new();
        out.extend_from_slice(&V2_COOKIE.to_be_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&3u32.to_be_bytes());
        out.extend_from_slice(&1u64.to_be_bytes());
        out.extend_from_slice(&highest.to_be_bytes());
        out.extend_from_slice(&1.0f64.to_be_bytes());
        out.extend_from_slice(&payload);
        out
    }

    #[test]
    fn merging_v2_refuses_what_decoding_refuses_and_changes_nothing() {
        let mut acc = HdrSketch::new(3, 1.0).expect("valid");
        acc.insert(7.0).expect("valid");
        let good = v2(1000, &[-5, 3, 0, 2]);
        let cases = [
            ("highest below 2", v2(1, &[1])),
            ("index past the header's range", v2(1000, &[-3000, 1])),
            ("index near 2^42", v2(1000, &[-(1 << 42), 1])),
            ("index 2^42 + 1024", v2(1000, &[-((1 << 42) + 1024), 1])),
        ];
        for (what, bytes) in cases {
            assert!(HdrSketch::from_v2(&bytes).is_err(), "{what}: decode refuses");
            assert!(acc.merge_v2(&bytes, None).is_err(), "{what}: merge refuses");
            assert_eq!((acc.count(), acc.mass_points()), (1, vec![(7.0, 1.0)]), "{what}");
        }
        let decoded = HdrSketch::from_v2(&good).expect("valid");
        acc.merge_v2(&good, None).expect("valid");
        assert_eq!(acc.count(), 6);
        assert_eq!(decoded.mass_points(), vec![(5.0, 3.0), (7.0, 2.0)]);
    }

    #[test]
    fn huge_indices_are_errors_not_wrapped_values() {
        let layout = BucketLayout::new(3);
        assert_eq!(layout.value_at(1024 + 5).expect("in range"), 1024 + 5);
        assert_eq!(layout.value_at(2048 + 5).expect("in range"), (1024 + 5) << 1);
        for index in [1u64 << 42, (1 << 42) + 1024, u64::MAX] {
            assert!(layout.value_at(index).is_err(), "{index}");
        }
    }

    #[test]
    fn a_bucket_past_what_v2_can_write_is_written_clamped() {
        let mut h = HdrSketch::new(3, 1000.0).expect("valid");
        h.insert_n(40.0, u64::MAX - 5).expect("valid");
        h.insert(7.0).expect("valid");
        let back = HdrSketch::from_v2(&h.to_v2(false).expect("encodes")).expect("decodes");
        assert_eq!(back.count(), i64::MAX as u64 + 1);
        let mut w = Writer::new();
        h.write(&mut w).expect("encodes");
        assert!(HdrSketch::read(&mut Reader::new(&w.buf)).is_ok());
    }

    #[test]
    fn counts_len_matches_the_crate() {
        for digits in 1..=5u8 {
            let layout = BucketLayout::new(u32::from(digits));
            for highest in [
                2,
                3,
                1000,
                2047,
                2048,
                1 << 20,
                3_600_000_000,
                u64::MAX / 4,
                u64::MAX,
            ] {
                let h: Histogram<u64> = Histogram::new_with_bounds(1, highest, digits).expect("valid");
                let len = layout.counts_len(highest);
                assert_eq!(
                    len as usize,
                    h.distinct_values(),
                    "digits {digits}, highest {highest}"
                );
            }
        }
    }
}
