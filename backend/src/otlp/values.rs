//! Bucket counts as weighted values for the sketches: each bucket's count
//! is inserted once, at a representative value inside the bucket.
//!
//! - Explicit bounds: the midpoint of `(bounds[i−1], bounds[i]]`. The first
//!   bucket starts at the point's `min` when sent, else at 0 (or at its
//!   bound, if that is not positive); the last ends at `max` when sent, else
//!   at its lower bound. `min`/`max` also narrow every bucket they fall in.
//!   A value's error is at most half the width of its client bucket.
//! - Exponential: the midpoint of `(base^i, base^(i+1)]`, `base = 2^(2^−scale)`
//!   (relative error ≤ (base − 1)/(base + 1), e.g. 0.27 % at scale 8); the zero
//!   bucket at 0.
//! - Negative values are refused (`negative`) as on the JSON path, values
//!   above [`crate::record::MAX_LATENCY`] ms as `out_of_range`.

use super::temporality::Counts;
use crate::record::{RejectReason, MAX_LATENCY};

/// The weighted values of some counts, and the counts refused.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Weighted {
    /// `(value in ms, count)`.
    pub values: Vec<(f64, u64)>,
    /// Values refused, by reason.
    pub refused: Vec<(RejectReason, u64)>,
}

impl Weighted {
    /// Values accepted.
    pub fn count(&self) -> u64 {
        self.values.iter().map(|(_, n)| n).sum()
    }

    fn push(&mut self, value_in_unit: f64, n: u64, ms_per_unit: f64) {
        if n == 0 {
            return;
        }
        let ms = value_in_unit * ms_per_unit;
        if !ms.is_finite() {
            self.refused.push((RejectReason::NotFinite, n));
        } else if ms < 0.0 {
            self.refused.push((RejectReason::Negative, n));
        } else if ms > MAX_LATENCY {
            self.refused.push((RejectReason::OutOfRange, n));
        } else {
            self.values.push((ms, n));
        }
    }
}

/// The weighted values of `counts`, with the point's `min`/`max` (in the
/// client's unit) and its unit's ms.
pub fn weighted(counts: &Counts, min_max: (Option<f64>, Option<f64>), ms_per_unit: f64) -> Weighted {
    let mut out = Weighted::default();
    match counts {
        Counts::Explicit { bounds, counts } => explicit(bounds, counts, min_max, ms_per_unit, &mut out),
        Counts::Exponential {
            scale,
            zero,
            positive,
            negative,
        } => {
            out.push(0.0, *zero, ms_per_unit);
            exponential(*scale, positive, 1.0, min_max, ms_per_unit, &mut out);
            exponential(*scale, negative, -1.0, min_max, ms_per_unit, &mut out);
        }
    }
    out
}

/// `[lo, hi]` narrowed to `[min, max]` where they overlap.
fn narrowed(lo: f64, hi: f64, (min, max): (Option<f64>, Option<f64>)) -> (f64, f64) {
    let lo = min.map_or(lo, |m| lo.max(m).min(hi));
    let hi = max.map_or(hi, |m| hi.min(m).max(lo));
    (lo, hi)
}

fn explicit(
    bounds: &[f64],
    counts: &[u64],
    min_max: (Option<f64>, Option<f64>),
    ms: f64,
    out: &mut Weighted,
) {
    let n = bounds.len();
    for (i, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let lo = match i {
            0 => min_max.0.unwrap_or(match bounds.first() {
                Some(&b) if b > 0.0 => 0.0,
                Some(&b) => b,
                None => 0.0,
            }),
            _ => bounds[i - 1],
        };
        let hi = if i < n { bounds[i] } else { min_max.1.unwrap_or(lo) };
        let (lo, hi) = narrowed(lo, hi.max(lo), min_max);
        out.push(lo + (hi - lo) / 2.0, c, ms);
    }
}

fn exponential(
    scale: i32,
    (offset, counts): &(i32, Vec<u64>),
    sign: f64,
    min_max: (Option<f64>, Option<f64>),
    ms: f64,
    out: &mut Weighted,
) {
    let step = (-f64::from(scale)).exp2();
    for (i, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let index = f64::from(*offset) + i as f64;
        let (lo, hi) = ((index * step).exp2(), ((index + 1.0) * step).exp2());
        let value = if sign > 0.0 {
            let (lo, hi) = narrowed(lo, hi, min_max);
            lo + (hi - lo) / 2.0
        } else {
            -(lo + (hi - lo) / 2.0)
        };
        out.push(value, c, ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explicit_counts(bounds: &[f64], counts: &[u64]) -> Counts {
        Counts::Explicit {
            bounds: bounds.to_vec(),
            counts: counts.to_vec(),
        }
    }

    #[test]
    fn explicit_buckets_go_in_at_their_midpoints_with_min_and_max_closing_the_ends() {
        let c = explicit_counts(&[10.0, 20.0, 50.0], &[1, 2, 3, 4]);
        let w = weighted(&c, (Some(4.0), Some(80.0)), 1.0);
        assert_eq!(w.values, [(7.0, 1), (15.0, 2), (35.0, 3), (65.0, 4)]);
        let w = weighted(&c, (None, None), 1.0);
        assert_eq!(w.values, [(5.0, 1), (15.0, 2), (35.0, 3), (50.0, 4)]);
    }

    #[test]
    fn seconds_become_ms_and_negative_buckets_are_refused_as_negative() {
        let c = explicit_counts(&[-1.0, 0.0, 0.5], &[2, 0, 3, 0]);
        let w = weighted(&c, (None, None), 1000.0);
        assert_eq!(w.values, [(250.0, 3)]);
        assert_eq!(w.refused, [(RejectReason::Negative, 2)]);
    }

    #[test]
    fn exponential_buckets_go_in_at_their_midpoints() {
        // Scale 0: base 2, bucket 3 is (8, 16].
        let c = Counts::Exponential {
            scale: 0,
            zero: 1,
            positive: (3, vec![5]),
            negative: (0, vec![]),
        };
        let w = weighted(&c, (None, None), 1.0);
        assert_eq!(w.values, [(0.0, 1), (12.0, 5)]);
        assert_eq!(w.count(), 6);
    }
}
