//! [`SketchKind`]: the four sketch algorithms and their CLI/URL names.

use std::fmt;
use std::str::FromStr;

/// The sketch algorithms this crate offers. The lowercase names
/// (`quantileflow`, `datadog`, `momentsketch`, `hdrhistogram`) are used on the
/// command line, in URLs and in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SketchKind {
    /// Our own DDSketch, bucket-for-bucket equal to Datadog's Python `ddsketch`.
    QuantileFlow,
    /// Datadog's official Rust crate `libdd-ddsketch` (α = 1/129, fixed).
    Datadog,
    /// MomentSketch (Gan et al., VLDB 2018) with a maximum-entropy solver.
    MomentSketch,
    /// HDR histogram from the `hdrhistogram` crate.
    HdrHistogram,
}

impl SketchKind {
    /// Every kind, in display order.
    pub const ALL: [SketchKind; 4] = [
        SketchKind::QuantileFlow,
        SketchKind::Datadog,
        SketchKind::MomentSketch,
        SketchKind::HdrHistogram,
    ];

    /// The CLI/URL name.
    pub const fn name(self) -> &'static str {
        match self {
            SketchKind::QuantileFlow => "quantileflow",
            SketchKind::Datadog => "datadog",
            SketchKind::MomentSketch => "momentsketch",
            SketchKind::HdrHistogram => "hdrhistogram",
        }
    }

    /// The tag byte used in the native encoding.
    pub(crate) const fn tag(self) -> u8 {
        match self {
            SketchKind::QuantileFlow => 1,
            SketchKind::Datadog => 2,
            SketchKind::MomentSketch => 3,
            SketchKind::HdrHistogram => 4,
        }
    }

    /// The kind for a native-encoding tag byte.
    pub(crate) fn from_tag(tag: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.tag() == tag)
    }

    /// Whether the kind accepts negative values.
    pub const fn supports_negative(self) -> bool {
        matches!(self, SketchKind::QuantileFlow | SketchKind::MomentSketch)
    }
}

impl fmt::Display for SketchKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown sketch name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sketch {0:?}; expected one of quantileflow, datadog, momentsketch, hdrhistogram")]
pub struct UnknownKind(pub String);

impl FromStr for SketchKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_an_error() {
        for k in SketchKind::ALL {
            assert_eq!(k.name().parse::<SketchKind>(), Ok(k));
            assert_eq!(SketchKind::from_tag(k.tag()), Some(k));
        }
        assert!("tdigest".parse::<SketchKind>().is_err());
    }
}
