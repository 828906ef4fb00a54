//! The logarithmic index mapping of DDSketch, bit-for-bit the one of Datadog's
//! Python library `ddsketch` 3.0.1 (`LogarithmicMapping`):
//!
//! * `gamma = 1 + 2α/(1−α)`, `multiplier = ln 2 / ln1p(2α/(1−α))`
//! * `key(v) = int(ceil(log2(v) · multiplier) + offset)` with `log2(v)`
//!   evaluated as `ln(v) / ln(2)` (that is what `math.log(v, 2)` computes)
//! * `value(key) = 2^((key − offset) / multiplier) · 2/(1+gamma)`
//!
//! Computing `ln` for every insert is slow, so [`LogarithmicMapping::key`]
//! first evaluates a table-driven approximation of `log2` whose error is far
//! below `1e-9` keys. Only when that estimate lies within a guard band around
//! a bucket boundary does it fall back to the exact expression above. Outside
//! the band both expressions round up to the same integer, so the key is always
//! exactly the one the Python library computes, at a fraction of the cost.

use crate::error::ConfigError;

/// Number of mantissa bits indexing the log table.
const TABLE_BITS: u32 = 8;
const TABLE_SIZE: usize = 1 << TABLE_BITS;
const MANTISSA_MASK: u64 = (1u64 << 52) - 1;
const EXPONENT_ONE: u64 = 1023u64 << 52;
const INV_LN2: f64 = std::f64::consts::LOG2_E;

/// `log2(c)` computed at compile time from `2/ln2 · atanh((c−1)/(c+1))`.
const fn const_log2(c: f64) -> f64 {
    let z = (c - 1.0) / (c + 1.0);
    let z2 = z * z;
    let mut term = z;
    let mut sum = 0.0;
    let mut n = 0;
    while n < 30 {
        sum += term / (2 * n + 1) as f64;
        term *= z2;
        n += 1;
    }
    2.0 * INV_LN2 * sum
}

/// For each bucket of the top mantissa bits: `(log2(c), 1/c)` where `c` is the
/// bucket's midpoint in `[1, 2)`.
static LOG_TABLE: [(f64, f64); TABLE_SIZE] = {
    let mut t = [(0.0, 0.0); TABLE_SIZE];
    let mut i = 0;
    while i < TABLE_SIZE {
        let c = 1.0 + (i as f64 + 0.5) / TABLE_SIZE as f64;
        t[i] = (const_log2(c), 1.0 / c);
        i += 1;
    }
    t
};

/// Maps positive values to integer bucket keys with relative accuracy α.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogarithmicMapping {
    /// α: every value in a bucket is within α of the bucket's value.
    relative_accuracy: f64,
    /// Ratio between consecutive bucket bounds.
    gamma: f64,
    /// `ln 2 / ln gamma`: converts `log2` to `log_gamma`.
    multiplier: f64,
    /// Shift added to every key (0 unless read from a foreign protobuf).
    offset: f64,
    /// Values at or below this magnitude are counted as zero.
    min_possible: f64,
    /// `2 / (1 + gamma)`, the factor placing a bucket's value inside it.
    value_factor: f64,
}

impl LogarithmicMapping {
    /// Mapping with relative accuracy `relative_accuracy` and key offset `offset`.
    pub fn new(relative_accuracy: f64, offset: f64) -> Result<Self, ConfigError> {
        if !(1e-6..1.0).contains(&relative_accuracy) {
            return Err(ConfigError::RelativeAccuracy(relative_accuracy));
        }
        let gamma_mantissa = 2.0 * relative_accuracy / (1.0 - relative_accuracy);
        let gamma = 1.0 + gamma_mantissa;
        let multiplier = (1.0 / gamma_mantissa.ln_1p()) * 2f64.ln();
        Ok(Self {
            relative_accuracy,
            gamma,
            multiplier,
            offset: if offset.is_finite() { offset } else { 0.0 },
            min_possible: f64::MIN_POSITIVE * gamma,
            value_factor: 2.0 / (1.0 + gamma),
        })
    }

    /// Mapping from a protobuf's `gamma` and `indexOffset`, as the Python
    /// library's `from_gamma_offset` does.
    pub fn from_gamma_offset(gamma: f64, offset: f64) -> Result<Self, ConfigError> {
        if !(gamma.is_finite() && gamma > 1.0) {
            return Err(ConfigError::Gamma(gamma));
        }
        Self::new((gamma - 1.0) / (gamma + 1.0), offset)
    }

    /// α, the relative accuracy.
    pub fn relative_accuracy(&self) -> f64 {
        self.relative_accuracy
    }

    /// γ, the ratio between consecutive bucket bounds.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }

    /// The key offset.
    pub fn offset(&self) -> f64 {
        self.offset
    }

    /// Smallest magnitude that is not counted as zero.
    pub fn min_possible(&self) -> f64 {
        self.min_possible
    }

    /// The key of a positive, finite value above [`Self::min_possible`],
    /// always equal to [`Self::exact_key`].
    #[inline]
    pub fn key(&self, value: f64) -> i32 {
        let Some(log2) = fast_log2(value) else {
            return self.exact_key(value);
        };
        let log_gamma = log2 * self.multiplier;
        let ceiling = ceil_small(log_gamma);
        let distance = ceiling - log_gamma;
        let guard = 1e-9 + log_gamma.abs() * 1e-13;
        if distance < guard || distance > 1.0 - guard {
            return self.exact_key(value);
        }
        // `as` truncates toward zero (like Python's int()) and saturates.
        (ceiling + self.offset) as i32
    }

    /// The key computed exactly as the Python library does.
    pub fn exact_key(&self, value: f64) -> i32 {
        let log_gamma = (value.ln() / 2f64.ln()) * self.multiplier;
        (log_gamma.ceil() + self.offset) as i32
    }

    /// The representative value of bucket `key` (within α of every value in it).
    pub fn value(&self, key: i32) -> f64 {
        2f64.powf((f64::from(key) - self.offset) / self.multiplier) * self.value_factor
    }

    /// The smallest value whose key is `key` is just above this bound.
    pub fn lower_bound(&self, key: i32) -> f64 {
        2f64.powf((f64::from(key) - 1.0 - self.offset) / self.multiplier)
    }
}

/// `log2(value)` of a positive normal `value` from a 256-row table and a
/// 4-term series (error below 1e-14, relative once `|log2| > 1`); `None`
/// for zero, subnormals,
/// infinities and NaN. No libm call: a fraction of the cost of `ln`.
#[inline]
pub(crate) fn fast_log2(value: f64) -> Option<f64> {
    let bits = value.to_bits();
    let biased_exponent = (bits >> 52) & 0x7ff;
    if biased_exponent == 0 || biased_exponent == 0x7ff || bits >> 63 == 1 {
        return None;
    }
    // The top TABLE_BITS mantissa bits pick the table row (cast is lossless).
    let row = ((bits >> (52 - TABLE_BITS)) as usize) & (TABLE_SIZE - 1);
    let (log2_mid, inv_mid) = LOG_TABLE[row];
    let mantissa = f64::from_bits((bits & MANTISSA_MASK) | EXPONENT_ONE);
    // |r| < 2^-9, so the 4-term series for ln(1+r) errs by < 1e-14.
    let r = mantissa * inv_mid - 1.0;
    let log2_mantissa =
        log2_mid + r * (INV_LN2 + r * (-0.5 * INV_LN2 + r * (INV_LN2 / 3.0 - r * 0.25 * INV_LN2)));
    // biased_exponent < 2048, so the cast is exact.
    Some((biased_exponent as f64 - 1023.0) + log2_mantissa)
}

/// `x.ceil()` for `|x| < 2^52` without a libm call: `f64::ceil` is a
/// function call on baseline x86-64 (no SSE4.1 `roundsd`), which was a good
/// part of an insert. Larger magnitudes (never keys) use `ceil`.
#[inline]
fn ceil_small(x: f64) -> f64 {
    if x.abs() >= 4_503_599_627_370_496.0 {
        return x.ceil();
    }
    // Truncation toward zero is one instruction; below 2^52 it is exact.
    let truncated = x as i64 as f64;
    if truncated < x {
        truncated + 1.0
    } else {
        truncated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_log2_is_log2_within_1e_14() {
        let mut x = 1e-300;
        while x < 1e300 {
            for v in [x, x * 1.0001, x * 1.37, x * 1.999] {
                let (fast, exact) = (fast_log2(v).expect("normal"), v.log2());
                assert!(
                    (fast - exact).abs() <= 1e-14 * exact.abs().max(1.0),
                    "{v}: {fast} vs {exact}"
                );
            }
            x *= 3.7;
        }
        for v in [0.0, -1.0, f64::INFINITY, f64::NAN, 1e-310] {
            assert_eq!(fast_log2(v), None, "{v}");
        }
    }

    #[test]
    fn ceil_small_is_ceil() {
        let edges = [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.0,
            -1.0,
            1.0 - 1e-16,
            -1.0 + 1e-16,
            2.5e15,
            -2.5e15,
            1e300,
            -1e300,
        ];
        for x in edges
            .into_iter()
            .chain((-2000..2000).map(|i| f64::from(i) * 0.37))
        {
            assert_eq!(
                ceil_small(x).to_bits() | (1 << 63),
                x.ceil().to_bits() | (1 << 63),
                "{x}"
            );
            assert_eq!(ceil_small(x), x.ceil(), "{x}");
        }
    }

    #[test]
    fn fast_key_equals_exact_key_across_the_range() {
        for alpha in [0.01, 0.02, 0.001, 0.05, 1.0 / 129.0] {
            let m = LogarithmicMapping::new(alpha, 0.0).expect("valid alpha");
            let mut v: f64 = 1e-300;
            while v < 1e300 {
                for probe in [v, v * 1.000_000_1, v * 0.999_999_9, v.next_up(), v.next_down()] {
                    assert_eq!(m.key(probe), m.exact_key(probe), "alpha {alpha} value {probe:e}");
                }
                v *= 1.013;
            }
        }
    }

    #[test]
    fn fast_key_is_exact_at_bucket_boundaries() {
        let m = LogarithmicMapping::new(0.01, 0.0).expect("valid alpha");
        for key in -2000..2000 {
            let b = m.lower_bound(key + 1);
            for probe in [
                b.next_down().next_down(),
                b.next_down(),
                b,
                b.next_up(),
                b.next_up().next_up(),
            ] {
                assert_eq!(
                    m.key(probe),
                    m.exact_key(probe),
                    "boundary of key {key}: {probe:e}"
                );
            }
        }
    }

    #[test]
    fn value_is_within_alpha_of_every_member() {
        let m = LogarithmicMapping::new(0.01, 0.0).expect("valid alpha");
        let mut v = 1e-6;
        while v < 1e9 {
            let est = m.value(m.key(v));
            assert!((est - v).abs() <= 0.01 * v * (1.0 + 1e-12), "{v} -> {est}");
            v *= 1.0007;
        }
    }

    #[test]
    fn invalid_accuracy_is_rejected() {
        assert!(LogarithmicMapping::new(0.0, 0.0).is_err());
        assert!(LogarithmicMapping::new(1.0, 0.0).is_err());
        assert!(LogarithmicMapping::new(f64::NAN, 0.0).is_err());
        assert!(LogarithmicMapping::from_gamma_offset(0.5, 0.0).is_err());
    }
}
