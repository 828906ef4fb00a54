//! One error enum per operation, each variant saying how to avoid it.

use crate::kind::SketchKind;

/// Why a sketch could not be created with the given parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// DDSketch relative accuracy must lie in `[1e-6, 1)`; pass e.g. `0.01`.
    #[error("relative accuracy must be in [1e-6, 1), got {0}")]
    RelativeAccuracy(f64),
    /// The bin limit must be at least 16.
    #[error("bin limit must be at least 16, got {0}")]
    BinLimit(usize),
    /// MomentSketch keeps between 2 and 20 moments.
    #[error("moment count must be in [2, 20], got {0}")]
    MomentCount(usize),
    /// HDR histograms support 1 to 5 significant digits.
    #[error("HDR significant digits must be in [1, 5], got {0}")]
    SignificantDigits(u8),
    /// The HDR scale must be a finite number ≥ 1e-9.
    #[error("HDR scale must be a finite number >= 1e-9, got {0}")]
    Scale(f64),
    /// A protobuf mapping whose gamma is not a finite number above 1.
    #[error("mapping gamma must be finite and > 1, got {0}")]
    Gamma(f64),
}

/// Why a value was not inserted. Filter these values out before inserting.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum InsertError {
    /// NaN and ±infinity have no quantile; every kind rejects them.
    #[error("value is not finite: {0}")]
    NotFinite(f64),
    /// The kind cannot hold negative values (`datadog`, `hdrhistogram`).
    #[error("{kind} does not accept negative values, got {value}")]
    Negative {
        /// The sketch kind that refused the value.
        kind: SketchKind,
        /// The refused value.
        value: f64,
    },
    /// The value (after HDR scaling) exceeds what the histogram can count.
    #[error("value {0} is too large for this sketch")]
    TooLarge(f64),
}

/// Why two sketches could not be merged. Only merge sketches built with the
/// same kind and parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    /// The two sketches are of different kinds.
    #[error("cannot merge a {right} sketch into a {left} sketch")]
    KindMismatch {
        /// Kind of the sketch merged into.
        left: SketchKind,
        /// Kind of the sketch merged from.
        right: SketchKind,
    },
    /// Same kind, different parameters (α, k, digits, scale...).
    #[error("cannot merge {kind} sketches with different parameters: {detail}")]
    ParameterMismatch {
        /// The kind of both sketches.
        kind: SketchKind,
        /// Which parameter differs, and its two values.
        detail: String,
    },
}

/// Why encoded bytes could not be merged into a sketch
/// ([`crate::Sketch::merge_encoded`]); the sketch is unchanged on error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeEncodedError {
    /// The bytes are not a valid sketch encoding.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The bytes hold a sketch of another kind or other parameters.
    #[error(transparent)]
    Merge(#[from] MergeError),
}

/// Why a quantile could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantileError {
    /// The sketch holds no values; insert some first.
    #[error("the sketch is empty")]
    Empty,
    /// Quantiles are fractions in `[0, 1]` (0.99, not 99).
    #[error("quantile must be in [0, 1], got {0}")]
    OutOfRange(f64),
    /// The MomentSketch maximum-entropy solver did not converge for these moments.
    #[error("maximum-entropy solver did not converge ({0})")]
    NotConverged(String),
}

/// Why bytes could not be decoded into a sketch. Decoding never panics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended in the middle of a field.
    #[error("input is truncated")]
    Truncated,
    /// The input is not a native sketch encoding.
    #[error("not a sketch encoding (bad magic byte {0:#04x})")]
    BadMagic(u8),
    /// Written by a newer version of this crate.
    #[error("unsupported encoding version {0}")]
    UnsupportedVersion(u8),
    /// The kind tag is unknown.
    #[error("unknown sketch kind tag {0}")]
    UnknownKind(u8),
    /// The bytes encode a different kind than the one asked for.
    #[error("expected a {expected} sketch, found {found}")]
    WrongKind {
        /// Kind asked for.
        expected: SketchKind,
        /// Kind found in the bytes.
        found: SketchKind,
    },
    /// A field holds an impossible value.
    #[error("invalid sketch: {0}")]
    Invalid(&'static str),
    /// Parameters in the bytes are not valid sketch parameters.
    #[error("invalid sketch parameters: {0}")]
    Config(#[from] ConfigError),
    /// Datadog protobuf could not be parsed.
    #[error("invalid DDSketch protobuf: {0}")]
    Protobuf(String),
    /// The HdrHistogram V2 payload could not be parsed.
    #[error("invalid HdrHistogram V2 data: {0}")]
    Hdr(String),
    /// Text input was not valid base64.
    #[error("invalid base64: {0}")]
    Base64(String),
}

/// Why a sketch could not be written in a foreign format.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodeError {
    /// This kind has no representation in the requested format.
    #[error("{kind} sketches cannot be written as {format}")]
    Unsupported {
        /// The kind of the sketch.
        kind: SketchKind,
        /// The requested format.
        format: &'static str,
    },
    /// The HDR serializer failed.
    #[error("HdrHistogram serialization failed: {0}")]
    Hdr(String),
}
