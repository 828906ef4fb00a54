//! Rank queries: the share of values ≤ x ("what share of requests took
//! ≤ 250 ms"), the inverse of a quantile. For the bucketed kinds the answer
//! comes with a bound that always holds: values in buckets wholly ≤ x are
//! surely ≤ x, values in buckets wholly > x surely are not, and only the
//! bucket holding x is uncertain.
//!
//! - `quantileflow` (our DDSketch): buckets `(γ^(k−1), γ^k]` by key.
//! - `datadog` (`libdd-ddsketch`): buckets `(v/(1+α), v/(1−α)]` around each
//!   bin's value `v`, α = 1/129.
//! - `hdrhistogram`: each bucket's equivalent-value range, widened by the
//!   half unit the scaling rounds off.
//! - `momentsketch`: from the CDF of its maximum-entropy fit (interpolated
//!   between 1,001 quantiles), with **no bound** (`bound: None`).

/// The share of a sketch's values ≤ x.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rank {
    /// Values in the sketch.
    pub count: u64,
    /// The estimated share of them ≤ x, in `[0, 1]`.
    pub fraction: f64,
    /// `[lo, hi]`: the true share surely lies in it (`None`: no bound, as
    /// for `momentsketch`).
    pub bound: Option<(f64, f64)>,
}

impl Rank {
    /// The share of values > x (the complement, with the bound flipped).
    pub fn complement(self) -> Rank {
        Rank {
            count: self.count,
            fraction: 1.0 - self.fraction,
            bound: self.bound.map(|(lo, hi)| (1.0 - hi, 1.0 - lo)),
        }
    }
}

/// Why a rank could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RankError {
    /// The sketch holds no values.
    #[error("the sketch is empty")]
    Empty,
    /// The threshold is NaN or infinite.
    #[error("the threshold must be a finite number, got {0}")]
    NotFinite(f64),
    /// The MomentSketch solver did not converge.
    #[error("maximum-entropy solver did not converge ({0})")]
    NotConverged(String),
}

/// A bucket of a bucketed sketch: every value in it lies in `(lo, hi]`
/// (`lo == hi` for an exact value such as zero).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    pub lo: f64,
    pub hi: f64,
    pub count: f64,
}

/// The rank of `x` over `buckets`: the buckets wholly ≤ x, plus the share
/// of the bucket holding x that lies below x (linearly); bounded by the
/// buckets wholly ≤ x and those reaching below x.
pub(crate) fn of_buckets(buckets: impl IntoIterator<Item = Bucket>, count: u64, x: f64) -> Rank {
    let (mut sure, mut maybe, mut estimate) = (0.0, 0.0, 0.0);
    for b in buckets {
        if b.hi <= x {
            sure += b.count;
            estimate += b.count;
        } else if b.lo < x {
            maybe += b.count;
            estimate += b.count * ((x - b.lo) / (b.hi - b.lo)).clamp(0.0, 1.0);
        }
    }
    let n = count.max(1) as f64;
    Rank {
        count,
        fraction: (estimate / n).clamp(0.0, 1.0),
        bound: Some(((sure / n).clamp(0.0, 1.0), ((sure + maybe) / n).clamp(0.0, 1.0))),
    }
}

/// The rank of `x` from a quantile function sampled at `qs` (ascending
/// values `values`), interpolated linearly, exact at the extremes.
pub(crate) fn of_quantile_grid(qs: &[f64], values: &[f64], count: u64, min: f64, max: f64, x: f64) -> Rank {
    let fraction = if x < min {
        0.0
    } else if x >= max {
        1.0
    } else {
        let i = values.partition_point(|&v| v <= x);
        match (i.checked_sub(1), values.get(i)) {
            (Some(j), Some(&next)) if next > values[j] => {
                qs[j] + (x - values[j]) / (next - values[j]) * (qs[i] - qs[j])
            }
            (Some(j), _) => qs[j],
            (None, _) => 0.0,
        }
    };
    Rank {
        count,
        fraction: fraction.clamp(0.0, 1.0),
        bound: None,
    }
}

/// The rank when `x` is outside `[min, max]` (both exact): 0 below the
/// smallest value, 1 from the largest on, with no uncertainty.
pub(crate) fn outside(count: u64, min: f64, max: f64, x: f64) -> Option<Rank> {
    let sure = |fraction: f64| Rank {
        count,
        fraction,
        bound: Some((fraction, fraction)),
    };
    if x < min {
        Some(sure(0.0))
    } else if x >= max {
        Some(sure(1.0))
    } else {
        None
    }
}

/// Points of the grid [`of_quantile_grid`] is sampled at.
pub(crate) const GRID_POINTS: usize = 1_001;
