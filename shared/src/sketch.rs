//! [`Sketch`]: one API over the four kinds, and its native encoding.

use crate::codec::{Reader, Writer, FORMAT_VERSION, MAGIC};
use crate::datadog::{DatadogSketch, DATADOG_RELATIVE_ACCURACY};
use crate::ddsketch::{DDSketch, DEFAULT_BIN_LIMIT, DEFAULT_RELATIVE_ACCURACY};
use crate::error::{
    ConfigError, DecodeError, EncodeError, InsertError, MergeEncodedError, MergeError, QuantileError,
};
use crate::hdr::{HdrSketch, DEFAULT_SCALE, DEFAULT_SIGNIFICANT_DIGITS};
use crate::kind::SketchKind;
use crate::moments::{MomentSketch, SolveReport, DEFAULT_MOMENTS};
use crate::rank::{self, Rank, RankError};

/// Parameters of every kind; each sketch uses the ones of its kind.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SketchParams {
    /// `quantileflow` relative accuracy α (default 0.01).
    pub relative_accuracy: f64,
    /// `quantileflow` bucket limit per sign (default 2048).
    pub bin_limit: usize,
    /// `momentsketch` number of moments k (default 12).
    pub moments: usize,
    /// `momentsketch` arcsinh compression (default off).
    pub compressed: bool,
    /// `hdrhistogram` significant digits (default 3).
    pub significant_digits: u8,
    /// `hdrhistogram` scale: values are recorded as `round(v·scale)` (default 1000).
    pub hdr_scale: f64,
}

impl Default for SketchParams {
    fn default() -> Self {
        Self {
            relative_accuracy: DEFAULT_RELATIVE_ACCURACY,
            bin_limit: DEFAULT_BIN_LIMIT,
            moments: DEFAULT_MOMENTS,
            compressed: false,
            significant_digits: DEFAULT_SIGNIFICANT_DIGITS,
            hdr_scale: DEFAULT_SCALE,
        }
    }
}

impl SketchParams {
    /// The accuracy promise of `kind` under these parameters, for people.
    pub fn guarantee(&self, kind: SketchKind) -> String {
        match kind {
            SketchKind::QuantileFlow => format!("relative error ≤ {}", self.relative_accuracy),
            SketchKind::Datadog => {
                format!("relative error ≤ {DATADOG_RELATIVE_ACCURACY:.5} (1/129, fixed by libdd-ddsketch)")
            }
            SketchKind::MomentSketch => format!(
                "no error bound (max-entropy estimate from {} moments)",
                self.moments
            ),
            SketchKind::HdrHistogram => format!(
                "{} significant digits at resolution {}",
                self.significant_digits,
                1.0 / self.hdr_scale
            ),
        }
    }
}

/// A mergeable quantile sketch of one of the four kinds.
// MomentSketch keeps its sums inline (no pointer chase on insert); sketches
// are long-lived, so the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Sketch {
    /// Our DDSketch.
    QuantileFlow(DDSketch),
    /// `libdd-ddsketch` with an adapter.
    Datadog(DatadogSketch),
    /// MomentSketch.
    MomentSketch(MomentSketch),
    /// HDR histogram.
    HdrHistogram(HdrSketch),
}

macro_rules! each {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            Sketch::QuantileFlow($s) => $body,
            Sketch::Datadog($s) => $body,
            Sketch::MomentSketch($s) => $body,
            Sketch::HdrHistogram($s) => $body,
        }
    };
}

impl Sketch {
    /// An empty sketch of `kind` with `params`.
    pub fn new(kind: SketchKind, params: &SketchParams) -> Result<Self, ConfigError> {
        Ok(match kind {
            SketchKind::QuantileFlow => {
                Sketch::QuantileFlow(DDSketch::new(params.relative_accuracy, params.bin_limit)?)
            }
            SketchKind::Datadog => Sketch::Datadog(DatadogSketch::new()),
            SketchKind::MomentSketch => {
                Sketch::MomentSketch(MomentSketch::new(params.moments, params.compressed)?)
            }
            SketchKind::HdrHistogram => {
                Sketch::HdrHistogram(HdrSketch::new(params.significant_digits, params.hdr_scale)?)
            }
        })
    }

    /// An empty sketch of `kind` with default parameters.
    pub fn with_defaults(kind: SketchKind) -> Self {
        Self::new(kind, &SketchParams::default()).unwrap_or_else(|_| unreachable!("defaults are valid"))
    }

    /// The kind.
    pub fn kind(&self) -> SketchKind {
        match self {
            Sketch::QuantileFlow(_) => SketchKind::QuantileFlow,
            Sketch::Datadog(_) => SketchKind::Datadog,
            Sketch::MomentSketch(_) => SketchKind::MomentSketch,
            Sketch::HdrHistogram(_) => SketchKind::HdrHistogram,
        }
    }

    /// Inserts one value.
    #[inline(always)]
    pub fn insert(&mut self, value: f64) -> Result<(), InsertError> {
        // The DDSketch insert is a few dozen instructions: inlined here, so
        // it is inlined into the caller's loop; the other kinds stay calls.
        match self {
            Sketch::QuantileFlow(s) => s.insert(value),
            other => other.insert_other(value),
        }
    }

    #[inline(never)]
    fn insert_other(&mut self, value: f64) -> Result<(), InsertError> {
        each!(self, s => s.insert(value))
    }

    /// Inserts `value` `n` times at the cost of one insert (a histogram
    /// bucket's count). Refused as [`Self::insert`] refuses.
    pub fn insert_n(&mut self, value: f64, n: u64) -> Result<(), InsertError> {
        each!(self, s => s.insert_n(value, n))
    }

    /// Inserts every value, or none of them if any is refused.
    pub fn insert_slice(&mut self, values: &[f64]) -> Result<(), InsertError> {
        each!(self, s => s.insert_slice(values))
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        match self {
            // Counts are whole numbers held in f64; rounding is exact below 2^53.
            Sketch::QuantileFlow(s) => s.count().round() as u64,
            Sketch::Datadog(s) => s.count(),
            Sketch::MomentSketch(s) => s.count().round() as u64,
            Sketch::HdrHistogram(s) => s.count(),
        }
    }

    /// Whether no value was inserted.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Exact minimum (estimated for sketches decoded from foreign formats).
    pub fn min(&self) -> Option<f64> {
        each!(self, s => s.min())
    }

    /// Exact maximum (estimated for sketches decoded from foreign formats).
    pub fn max(&self) -> Option<f64> {
        each!(self, s => s.max())
    }

    /// Exact sum of the values.
    pub fn sum(&self) -> f64 {
        each!(self, s => s.sum())
    }

    /// Mean of the values.
    pub fn mean(&self) -> Option<f64> {
        let n = self.count();
        (n > 0).then(|| self.sum() / n as f64)
    }

    /// The value at quantile `q ∈ [0, 1]`.
    pub fn quantile(&self, q: f64) -> Result<f64, QuantileError> {
        each!(self, s => s.quantile(q))
    }

    /// Several quantiles at once (one solve for `momentsketch`).
    pub fn quantiles(&self, qs: &[f64]) -> Result<Vec<f64>, QuantileError> {
        match self {
            Sketch::MomentSketch(s) => s.quantiles(qs).map(|(v, _)| v),
            Sketch::Datadog(s) => s.quantiles(qs),
            _ => qs.iter().map(|&q| self.quantile(q)).collect(),
        }
    }

    /// Quantiles plus, for `momentsketch`, how the solver got them.
    pub fn quantiles_with_report(
        &self,
        qs: &[f64],
    ) -> Result<(Vec<f64>, Option<SolveReport>), QuantileError> {
        match self {
            Sketch::MomentSketch(s) => s.quantiles(qs).map(|(v, r)| (v, Some(r))),
            _ => self.quantiles(qs).map(|v| (v, None)),
        }
    }

    /// The share of values ≤ `x`, with the bound the kind guarantees (see
    /// [`crate::rank`]: the bucket holding `x` for the DDSketch kinds and
    /// HDR; none for `momentsketch`). Below the minimum and from the
    /// maximum on (both kept exactly) the answer is exact.
    pub fn rank(&self, x: f64) -> Result<Rank, RankError> {
        if !x.is_finite() {
            return Err(RankError::NotFinite(x));
        }
        let n = self.count();
        if n == 0 {
            return Err(RankError::Empty);
        }
        if let (Some(min), Some(max)) = (self.min(), self.max()) {
            if let Some(sure) = rank::outside(n, min, max, x) {
                return Ok(sure);
            }
        }
        Ok(match self {
            Sketch::QuantileFlow(s) => rank::of_buckets(s.buckets(), n, x),
            Sketch::Datadog(s) => rank::of_buckets(s.rank_buckets(), n, x),
            Sketch::HdrHistogram(s) => rank::of_buckets(s.buckets(), n, x),
            Sketch::MomentSketch(s) => {
                let last = (rank::GRID_POINTS - 1) as f64;
                let qs: Vec<f64> = (0..rank::GRID_POINTS).map(|i| i as f64 / last).collect();
                let (values, _) = s.quantiles(&qs).map_err(|e| match e {
                    QuantileError::NotConverged(m) => RankError::NotConverged(m),
                    other => RankError::NotConverged(other.to_string()),
                })?;
                let (min, max) = (s.min().unwrap_or(f64::MIN), s.max().unwrap_or(f64::MAX));
                rank::of_quantile_grid(&qs, &values, n, min, max, x)
            }
        })
    }

    /// Where the sketch's mass sits: `(value, count)` pairs in ascending
    /// value order whose counts add up to [`Sketch::count`]. The two DDSketch
    /// kinds and HDR give their buckets (representative value, count);
    /// `momentsketch` has no buckets, so it gives 100 equal-mass points at
    /// the quantiles of its max-entropy fit (empty if the solver fails).
    /// Histograms in the dashboard are drawn from these.
    pub fn mass_points(&self) -> Vec<(f64, f64)> {
        match self {
            Sketch::QuantileFlow(s) => {
                let mapping = s.mapping();
                let mut points: Vec<(f64, f64)> = s
                    .negative_store()
                    .iter()
                    .map(|(k, c)| (-mapping.value(k), c))
                    .collect();
                points.reverse();
                if s.zero_count() > 0.0 {
                    points.push((0.0, s.zero_count()));
                }
                points.extend(s.positive_store().iter().map(|(k, c)| (mapping.value(k), c)));
                points.retain(|p| p.1 > 0.0);
                points
            }
            Sketch::Datadog(s) => s.buckets(),
            Sketch::HdrHistogram(s) => s.mass_points(),
            Sketch::MomentSketch(s) => {
                const STEPS: usize = 100;
                let n = s.count();
                let qs: Vec<f64> = (0..STEPS).map(|i| (i as f64 + 0.5) / STEPS as f64).collect();
                match s.quantiles(&qs) {
                    Ok((values, _)) if n > 0.0 => values.into_iter().map(|v| (v, n / STEPS as f64)).collect(),
                    _ => Vec::new(),
                }
            }
        }
    }

    /// Adds every value of `other`: same kind and parameters required.
    pub fn merge(&mut self, other: &Sketch) -> Result<(), MergeError> {
        match (self, other) {
            (Sketch::QuantileFlow(a), Sketch::QuantileFlow(b)) => a.merge(b),
            (Sketch::Datadog(a), Sketch::Datadog(b)) => a.merge(b),
            (Sketch::MomentSketch(a), Sketch::MomentSketch(b)) => a.merge(b),
            (Sketch::HdrHistogram(a), Sketch::HdrHistogram(b)) => a.merge(b),
            (a, b) => Err(MergeError::KindMismatch {
                left: a.kind(),
                right: b.kind(),
            }),
        }
    }

    /// Removes every value, keeping the parameters.
    pub fn reset(&mut self) {
        each!(self, s => s.reset())
    }

    /// Compact native bytes: magic, version, kind tag, then the kind's fields.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(MAGIC);
        w.u8(FORMAT_VERSION);
        w.u8(self.kind().tag());
        match self {
            Sketch::QuantileFlow(s) => s.write(&mut w),
            Sketch::Datadog(s) => s.write(&mut w),
            Sketch::MomentSketch(s) => s.write(&mut w),
            Sketch::HdrHistogram(s) => {
                // Serializing an in-memory histogram to a Vec cannot fail.
                if s.write(&mut w).is_err() {
                    unreachable!("V2 serialization into memory failed");
                }
            }
        }
        w.buf
    }

    /// Decodes [`Self::encode`] output. Malformed bytes give an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let magic = r.u8()?;
        if magic != MAGIC {
            return Err(DecodeError::BadMagic(magic));
        }
        let version = r.u8()?;
        if version != FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let tag = r.u8()?;
        let kind = SketchKind::from_tag(tag).ok_or(DecodeError::UnknownKind(tag))?;
        let sketch = match kind {
            SketchKind::QuantileFlow => Sketch::QuantileFlow(DDSketch::read(&mut r)?),
            SketchKind::Datadog => Sketch::Datadog(DatadogSketch::read(&mut r)?),
            SketchKind::MomentSketch => Sketch::MomentSketch(MomentSketch::read(&mut r)?),
            SketchKind::HdrHistogram => Sketch::HdrHistogram(HdrSketch::read(&mut r)?),
        };
        r.finish()?;
        Ok(sketch)
    }

    /// Adds the values of a sketch in native bytes ([`Self::encode`]) of
    /// the same kind and parameters: what decoding then merging does, but
    /// the buckets of a `datadog` or `hdrhistogram` window go straight from
    /// the bytes into this sketch (no sketch is built for them). Unchanged
    /// on error.
    pub fn merge_encoded(&mut self, bytes: &[u8]) -> Result<(), MergeEncodedError> {
        let mut r = self.open_encoded(bytes)?;
        match self {
            Sketch::HdrHistogram(h) => h.merge_read(&mut r),
            Sketch::Datadog(d) => d.merge_read(&mut r),
            _ => Ok(self.merge(&Self::decode(bytes)?)?),
        }
    }

    /// A reader at the fields of native `bytes` whose magic, version and
    /// kind were checked against this sketch.
    pub(crate) fn open_encoded<'a>(&self, bytes: &'a [u8]) -> Result<Reader<'a>, MergeEncodedError> {
        let mut r = Reader::new(bytes);
        let magic = r.u8()?;
        if magic != MAGIC {
            return Err(DecodeError::BadMagic(magic).into());
        }
        let version = r.u8()?;
        if version != FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion(version).into());
        }
        let tag = r.u8()?;
        let kind = SketchKind::from_tag(tag).ok_or(DecodeError::UnknownKind(tag))?;
        if kind != self.kind() {
            return Err(MergeError::KindMismatch {
                left: self.kind(),
                right: kind,
            }
            .into());
        }
        Ok(r)
    }

    /// Decodes native bytes that must hold a sketch of `kind`.
    pub fn decode_kind(kind: SketchKind, bytes: &[u8]) -> Result<Self, DecodeError> {
        let sketch = Self::decode(bytes)?;
        if sketch.kind() == kind {
            Ok(sketch)
        } else {
            Err(DecodeError::WrongKind {
                expected: kind,
                found: sketch.kind(),
            })
        }
    }

    /// Datadog protobuf bytes (both DDSketch kinds).
    pub fn to_datadog_proto(&self) -> Result<Vec<u8>, EncodeError> {
        match self {
            Sketch::QuantileFlow(s) => Ok(s.to_proto_bytes()),
            Sketch::Datadog(s) => Ok(s.to_proto_bytes()),
            _ => Err(EncodeError::Unsupported {
                kind: self.kind(),
                format: "datadog-proto",
            }),
        }
    }

    /// Reads Datadog protobuf bytes as `kind` (`quantileflow` reads the
    /// Python library's key convention, `datadog` libdatadog's).
    pub fn from_datadog_proto(kind: SketchKind, bytes: &[u8]) -> Result<Self, DecodeError> {
        match kind {
            SketchKind::QuantileFlow => DDSketch::from_proto_bytes(bytes).map(Sketch::QuantileFlow),
            SketchKind::Datadog => DatadogSketch::from_proto_bytes(bytes).map(Sketch::Datadog),
            other => Err(DecodeError::WrongKind {
                expected: SketchKind::QuantileFlow,
                found: other,
            }),
        }
    }

    /// HdrHistogram V2 bytes (`hdrhistogram` only).
    pub fn to_hdr_v2(&self, compressed: bool) -> Result<Vec<u8>, EncodeError> {
        match self {
            Sketch::HdrHistogram(s) => s.to_v2(compressed),
            _ => Err(EncodeError::Unsupported {
                kind: self.kind(),
                format: "hdr-v2",
            }),
        }
    }

    /// Reads HdrHistogram V2 bytes, plain or compressed.
    pub fn from_hdr_v2(bytes: &[u8]) -> Result<Self, DecodeError> {
        HdrSketch::from_v2(bytes).map(Sketch::HdrHistogram)
    }
}
