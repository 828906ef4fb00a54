//! `momentsketch`: the moment sketch of Gan et al., "Moment-Based Quantile
//! Sketches for Efficient High Cardinality Aggregation Queries", VLDB 2018.
//!
//! The sketch stores count, min, max and `k` power sums `Σ tⁱ` and `k` log
//! sums `Σ (ln t)ⁱ` (over `t > 0`), where `t = x` or, with arcsinh
//! compression, `t = asinh(x)`. Merging adds the sums. Quantiles come from
//! the maximum-entropy density matching the moments ([`maxent`]):
//!
//! * all values ≥ 0: values equal to 0 are a point mass; the positive part
//!   is solved on the log scale from the log sums (latencies are heavy-tailed
//!   and log-moments describe them far better than power moments);
//! * any value < 0: solved on the linear scale from the power sums.
//!
//! Only moments whose Chebyshev transform is numerically trustworthy are
//! used (error estimate below 1e-6). If the solver does not converge it
//! retries with fewer moments and says so in [`SolveReport`]; if none
//! converges the quantile is an error, never a silent guess.

pub mod maxent;

use crate::codec::{Reader, Writer};
use crate::error::{ConfigError, DecodeError, InsertError, MergeError, QuantileError};
use crate::kind::SketchKind;

/// Most moments a sketch can keep.
pub const MAX_MOMENTS: usize = 20;
/// Default number of moments `k`.
pub const DEFAULT_MOMENTS: usize = 12;
/// Largest accepted rounding-error estimate of a Chebyshev moment.
const MOMENT_ERROR: f64 = 1e-6;

/// Count, extremes and power/log sums of the inserted values.
#[derive(Debug, Clone, PartialEq)]
pub struct MomentSketch {
    /// Number of power and log sums kept.
    k: usize,
    /// Whether values are compressed with `asinh` before summing.
    compressed: bool,
    /// Number of values.
    count: f64,
    /// Values whose transform is exactly 0.
    zero_count: f64,
    /// Values whose transform is negative.
    negative_count: f64,
    /// Exact sum of the raw values.
    sum: f64,
    /// Raw minimum (+∞ when empty).
    min: f64,
    /// Raw maximum (−∞ when empty).
    max: f64,
    /// Smallest raw value > 0 (+∞ if none).
    min_positive: f64,
    /// `power_sums[i] = Σ t^(i+1)`.
    power_sums: [f64; MAX_MOMENTS],
    /// `log_sums[i] = Σ (ln t)^(i+1)` over `t > 0`.
    log_sums: [f64; MAX_MOMENTS],
}

/// How a quantile answer was obtained.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SolveReport {
    /// `"log"` or `"linear"` scale, or `"exact"` when no solve was needed.
    pub scale: String,
    /// Moments the converged solve used.
    pub moments_used: usize,
    /// Moments that were numerically usable before any retry.
    pub moments_available: usize,
    /// Newton iterations of the converged solve.
    pub iterations: usize,
    /// True when the first solve failed and fewer moments were used.
    pub reduced: bool,
}

impl Default for MomentSketch {
    fn default() -> Self {
        Self::empty(DEFAULT_MOMENTS, false)
    }
}

impl MomentSketch {
    /// A sketch keeping `k` moments (2..=20), optionally arcsinh-compressed.
    pub fn new(k: usize, compressed: bool) -> Result<Self, ConfigError> {
        if !(2..=MAX_MOMENTS).contains(&k) {
            return Err(ConfigError::MomentCount(k));
        }
        Ok(Self::empty(k, compressed))
    }

    fn empty(k: usize, compressed: bool) -> Self {
        Self {
            k,
            compressed,
            count: 0.0,
            zero_count: 0.0,
            negative_count: 0.0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            min_positive: f64::INFINITY,
            power_sums: [0.0; MAX_MOMENTS],
            log_sums: [0.0; MAX_MOMENTS],
        }
    }

    /// Number of moments kept.
    pub fn moments(&self) -> usize {
        self.k
    }

    /// Whether arcsinh compression is on.
    pub fn compressed(&self) -> bool {
        self.compressed
    }

    /// Inserts one value; NaN and ±∞ are refused.
    #[inline]
    pub fn insert(&mut self, value: f64) -> Result<(), InsertError> {
        if !value.is_finite() {
            return Err(InsertError::NotFinite(value));
        }
        self.insert_finite(value);
        Ok(())
    }

    #[inline]
    fn insert_finite(&mut self, value: f64) {
        self.insert_weighted(value, 1.0);
    }

    /// Inserts `value` `n` times: every power sum grows by `n·tⁱ` at once.
    /// NaN and ±∞ are refused.
    pub fn insert_n(&mut self, value: f64, n: u64) -> Result<(), InsertError> {
        if !value.is_finite() {
            return Err(InsertError::NotFinite(value));
        }
        if n > 0 {
            self.insert_weighted(value, n as f64);
        }
        Ok(())
    }

    #[inline]
    fn insert_weighted(&mut self, value: f64, weight: f64) {
        let t = if self.compressed { value.asinh() } else { value };
        self.count += weight;
        self.sum += value * weight;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        accumulate_powers(&mut self.power_sums[..self.k], t, weight);
        if t > 0.0 {
            self.min_positive = self.min_positive.min(value);
            // ln without a libm call (error < 1e-14, relative once |ln| > 1); subnormals take `ln`.
            let ln =
                crate::ddsketch::mapping::fast_log2(t).map_or_else(|| t.ln(), |l| l * std::f64::consts::LN_2);
            accumulate_powers(&mut self.log_sums[..self.k], ln, weight);
        } else if t == 0.0 {
            self.zero_count += weight;
        } else {
            self.negative_count += weight;
        }
    }

    /// Inserts every value, or none if any is not finite.
    pub fn insert_slice(&mut self, values: &[f64]) -> Result<(), InsertError> {
        if let Some(&bad) = values.iter().find(|v| !v.is_finite()) {
            return Err(InsertError::NotFinite(bad));
        }
        values.iter().for_each(|&v| self.insert_finite(v));
        Ok(())
    }

    /// Number of values.
    pub fn count(&self) -> f64 {
        self.count
    }

    /// Exact sum.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Exact minimum.
    pub fn min(&self) -> Option<f64> {
        (self.count > 0.0).then_some(self.min)
    }

    /// Exact maximum.
    pub fn max(&self) -> Option<f64> {
        (self.count > 0.0).then_some(self.max)
    }

    /// Adds the other sketch's sums (same `k` and compression required).
    pub fn merge(&mut self, other: &Self) -> Result<(), MergeError> {
        if self.k != other.k || self.compressed != other.compressed {
            return Err(MergeError::ParameterMismatch {
                kind: SketchKind::MomentSketch,
                detail: format!(
                    "k {} vs {}, compressed {} vs {}",
                    self.k, other.k, self.compressed, other.compressed
                ),
            });
        }
        self.count += other.count;
        self.zero_count += other.zero_count;
        self.negative_count += other.negative_count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.min_positive = self.min_positive.min(other.min_positive);
        for i in 0..self.k {
            self.power_sums[i] += other.power_sums[i];
            self.log_sums[i] += other.log_sums[i];
        }
        Ok(())
    }

    /// The power sums `Σ t^(i+1)`, `i < k`: what merging adds (with the
    /// count and the extremes).
    pub fn power_sums(&self) -> &[f64] {
        &self.power_sums[..self.k]
    }

    /// The log sums `Σ (ln t)^(i+1)` over `t > 0`, `i < k`.
    pub fn log_sums(&self) -> &[f64] {
        &self.log_sums[..self.k]
    }

    /// Removes every value.
    pub fn reset(&mut self) {
        *self = Self::empty(self.k, self.compressed);
    }

    fn transform(&self, x: f64) -> f64 {
        if self.compressed {
            x.asinh()
        } else {
            x
        }
    }

    fn untransform(&self, t: f64) -> f64 {
        if self.compressed {
            t.sinh()
        } else {
            t
        }
    }

    /// One quantile; see [`Self::quantiles`].
    pub fn quantile(&self, q: f64) -> Result<f64, QuantileError> {
        self.quantiles(&[q]).map(|(v, _)| v[0])
    }

    /// Quantiles from one maximum-entropy solve, with a report of the solve.
    pub fn quantiles(&self, qs: &[f64]) -> Result<(Vec<f64>, SolveReport), QuantileError> {
        if let Some(&q) = qs.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return Err(QuantileError::OutOfRange(q));
        }
        if self.count == 0.0 {
            return Err(QuantileError::Empty);
        }
        let exact = |scale: &str| SolveReport {
            scale: scale.into(),
            moments_used: 0,
            moments_available: 0,
            iterations: 0,
            reduced: false,
        };
        if self.min == self.max {
            return Ok((vec![self.min; qs.len()], exact("exact")));
        }
        let positive_count = self.count - self.zero_count - self.negative_count;
        if self.negative_count == 0.0 {
            // Point mass at zero plus a log-scale density for the positive part.
            let zero_fraction = self.zero_count / self.count;
            let t_lo = self.transform(self.min_positive);
            let t_hi = self.transform(self.max);
            let (y_lo, y_hi) = (t_lo.ln(), t_hi.ln());
            let solved = if positive_count > 0.0 && y_hi > y_lo {
                let raw: Vec<f64> = self.log_sums[..self.k]
                    .iter()
                    .map(|s| s / positive_count)
                    .collect();
                let center = 0.5 * (y_lo + y_hi);
                let half = 0.5 * (y_hi - y_lo);
                let magnitude = y_lo.abs().max(y_hi.abs());
                let mut mu = maxent::chebyshev_moments(&raw, center, half, magnitude, MOMENT_ERROR);
                mu.truncate(moments_for(positive_count));
                Some((solve_with_retries(&mu, "log")?, center, half))
            } else {
                None
            };
            let values = qs
                .iter()
                .map(|&q| {
                    if q == 0.0 {
                        return self.min;
                    }
                    if q == 1.0 {
                        return self.max;
                    }
                    if q <= zero_fraction {
                        return 0.0;
                    }
                    let p = (q - zero_fraction) / (1.0 - zero_fraction);
                    match &solved {
                        Some(((density, _), center, half)) => {
                            let y = center + half * density.inverse_cdf(p);
                            self.untransform(y.exp()).clamp(self.min, self.max)
                        }
                        None => self.max,
                    }
                })
                .collect();
            let report = solved.map_or_else(|| exact("exact"), |((_, r), _, _)| r);
            return Ok((values, report));
        }
        // Linear scale over all values.
        let t_lo = self.transform(self.min);
        let t_hi = self.transform(self.max);
        let raw: Vec<f64> = self.power_sums[..self.k].iter().map(|s| s / self.count).collect();
        let center = 0.5 * (t_lo + t_hi);
        let half = 0.5 * (t_hi - t_lo);
        let magnitude = t_lo.abs().max(t_hi.abs());
        let mut mu = maxent::chebyshev_moments(&raw, center, half, magnitude, MOMENT_ERROR);
        mu.truncate(moments_for(self.count));
        let (density, report) = solve_with_retries(&mu, "linear")?;
        let values = qs
            .iter()
            .map(|&q| match q {
                0.0 => self.min,
                1.0 => self.max,
                _ => self
                    .untransform(center + half * density.inverse_cdf(q))
                    .clamp(self.min, self.max),
            })
            .collect();
        Ok((values, report))
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.varint(self.k as u64);
        w.u8(u8::from(self.compressed));
        for v in [
            self.count,
            self.zero_count,
            self.negative_count,
            self.sum,
            self.min,
            self.max,
            self.min_positive,
        ] {
            w.f64(v);
        }
        self.power_sums[..self.k].iter().for_each(|&v| w.f64(v));
        self.log_sums[..self.k].iter().for_each(|&v| w.f64(v));
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let k = r.len(MAX_MOMENTS)?;
        let compressed = match r.u8()? {
            0 => false,
            1 => true,
            _ => return Err(DecodeError::Invalid("compression flag must be 0 or 1")),
        };
        let mut s = Self::new(k, compressed)?;
        s.count = r.f64()?;
        s.zero_count = r.f64()?;
        s.negative_count = r.f64()?;
        s.sum = r.f64()?;
        s.min = r.f64()?;
        s.max = r.f64()?;
        s.min_positive = r.f64()?;
        for i in 0..k {
            s.power_sums[i] = r.f64()?;
        }
        for i in 0..k {
            s.log_sums[i] = r.f64()?;
        }
        let counts_ok = [s.count, s.zero_count, s.negative_count]
            .iter()
            .all(|c| c.is_finite() && *c >= 0.0)
            && s.zero_count + s.negative_count <= s.count;
        if !counts_ok {
            return Err(DecodeError::Invalid("moment sketch counts are inconsistent"));
        }
        if s.count > 0.0 && !(s.min <= s.max && s.min.is_finite() && s.max.is_finite()) {
            return Err(DecodeError::Invalid("min/max are not finite or min > max"));
        }
        Ok(s)
    }
}

/// Moments worth fitting to `n` values: the moments of a handful of points
/// lie on the edge of the moment space, where no density matches them.
fn moments_for(n: f64) -> usize {
    // n is a whole count; the cast saturates for huge values.
    (n / 2.0) as usize
}

/// `sums[i] += weight·t^(i+1)`, with two independent multiplication chains.
#[inline]
fn accumulate_powers(sums: &mut [f64], t: f64, weight: f64) {
    let t2 = t * t;
    let mut odd = weight * t;
    let mut even = weight * t2;
    for pair in sums.chunks_mut(2) {
        pair[0] += odd;
        if let Some(e) = pair.get_mut(1) {
            *e += even;
        }
        odd *= t2;
        even *= t2;
    }
}

/// Solves with all usable moments, then with fewer if that fails.
fn solve_with_retries(
    mu: &[f64],
    scale: &str,
) -> Result<(maxent::MaxEntDensity, SolveReport), QuantileError> {
    let available = mu.len();
    let mut last_failure: Option<maxent::SolveFailure>;
    let mut m = available;
    loop {
        match maxent::solve(&mu[..m]) {
            Ok(density) => {
                let report = SolveReport {
                    scale: scale.into(),
                    moments_used: m,
                    moments_available: available,
                    iterations: density.iterations,
                    reduced: m < available,
                };
                return Ok((density, report));
            }
            Err(failure) => last_failure = Some(failure),
        }
        if m <= 2 {
            break;
        }
        m -= 1;
    }
    let detail = last_failure.map_or_else(String::new, |f| {
        format!(
            "{available} moments available, last try {} iterations, residual {:.3e}",
            f.iterations, f.residual
        )
    });
    Err(QuantileError::NotConverged(detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulated_powers_are_the_powers_for_every_k() {
        for k in 1..=16 {
            for t in [-2.5, -1.0, 0.0, 0.3, 1.0, 1.7, 9.1] {
                let mut sums = vec![1.0; k];
                accumulate_powers(&mut sums, t, 1.0);
                for (i, &s) in sums.iter().enumerate() {
                    let want = 1.0 + f64::powi(t, i as i32 + 1);
                    assert!(
                        (s - want).abs() <= 1e-14 * want.abs().max(1.0),
                        "k={k} t={t} i={i}: {s} vs {want}"
                    );
                }
            }
        }
    }
}
