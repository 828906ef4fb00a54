//! The logarithmic index mapping of DDSketch, bit-for-bit the one of Datadog's
//! Python library `ddsketch` 3.0.1 (`LogarithmicMapping`):
//!
//! * `gamma = 1 + 2α/(1−α)`, `multiplier = ln 2 / ln1p(2α/(1−α))`
//! * `key(v) = int(ceil(log2(v) · multiplier) + offset)` with `log2(v)`
//!   evaluated as `ln(v) / ln(2)` (that is what `math.log(v, 2)` computes)
//! * `value(key) = 2^((key − offset) / multiplier) · 2/(1+gamma)`
//!
//! Computing `ln` for every insert is slow, so [`LogarithmicMapping::key`]
//! estimates `log2` from the float's exponent and a line per row of its top
//! mantissa bits (module `key_table`, error below 1.4e-6), scales it by the
//! multiplier and turns it into 16-bit fixed point with one add of `1.5·2^36`
//! (integer part and fraction are then bit fields). Only when the fraction
//! lies within a guard band (the error bound times the multiplier, ≈ 5e-5 keys
//! at α = 0.01) of a bucket boundary does it compute the exact expression
//! above. Outside the band both round up to the same integer, so the key is
//! always exactly the one the Python library computes, without a libm call.

use super::key_table::{approx_log2, MAX_ERROR};
use crate::error::ConfigError;

/// Number of mantissa bits indexing the log table.
const TABLE_BITS: u32 = 8;
const TABLE_SIZE: usize = 1 << TABLE_BITS;
const MANTISSA_MASK: u64 = (1u64 << 52) - 1;
const EXPONENT_ONE: u64 = 1023u64 << 52;
const INV_LN2: f64 = std::f64::consts::LOG2_E;

/// `log2(c)` computed at compile time from `2/ln2 · atanh((c−1)/(c+1))`
/// (for `c` in [1, 2]: |z| ≤ 1/3, so 30 terms leave a truncation error far
/// below one ulp). Also builds the key table's lines.
pub(crate) const fn const_log2(c: f64) -> f64 {
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

/// `1.5 · 2^36`: for `|x| < 2^35`, `x + ROUNDER` has an ulp of `2^-16`, so its
/// bits are `bits(ROUNDER) + round(x · 2^16)`: `x` in fixed point, with its
/// 16 fraction bits in the low bits (those of `bits(ROUNDER)` are zero).
const ROUNDER: f64 = 103_079_215_104.0;
/// Fraction bits of that fixed point.
const FRACTION_BITS: u32 = 16;
/// Largest `|offset|` with which the fast path's integer key cannot overflow.
const MAX_FAST_OFFSET: f64 = 1_073_741_824.0;

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
    /// `bits(min_possible) + 1`: the bits of the smallest value with a key.
    above_min_bits: u64,
    /// `bits(+∞) − above_min_bits`: how many floats have a positive key.
    positive_span: u64,
    /// `2 / (1 + gamma)`, the factor placing a bucket's value inside it.
    value_factor: f64,
    /// The guard band in units of `2^-16` keys: the fast key is taken when
    /// the fixed-point estimate's fraction `f` has `f − guard_units <
    /// fast_span` (unsigned), i.e. lies at least the band away from 0 and 1.
    guard_units: u64,
    /// `2^16 − 2·guard_units`, or 0 (never taken) when the fast path cannot
    /// be exact.
    fast_span: u64,
    /// `offset + 1 − bits(ROUNDER)/2^16`: turns the estimate's integer bits
    /// (its floor) into the key, `ceil` of the exact log.
    key_shift: i64,
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
        let offset = if offset.is_finite() { offset } else { 0.0 };
        let above_min_bits = (f64::MIN_POSITIVE * gamma).to_bits() + 1;
        let guard_units = guard_units(multiplier);
        Ok(Self {
            relative_accuracy,
            gamma,
            multiplier,
            offset,
            min_possible: f64::MIN_POSITIVE * gamma,
            above_min_bits,
            positive_span: f64::INFINITY.to_bits() - above_min_bits,
            value_factor: 2.0 / (1.0 + gamma),
            guard_units,
            fast_span: fast_span(guard_units, multiplier, offset),
            // Only used when the offset is whole and below 2^30 (see
            // `fast_span`), where the cast is exact.
            key_shift: offset as i64 + 1 - (ROUNDER.to_bits() >> FRACTION_BITS) as i64,
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

    /// Whether `value` is finite and above [`Self::min_possible`] (so a
    /// positive normal float with a key): positive floats order as their
    /// bits, so this is one unsigned compare (negatives and NaN wrap high).
    #[inline(always)]
    pub(crate) fn has_positive_key(&self, value: f64) -> bool {
        value.to_bits().wrapping_sub(self.above_min_bits) < self.positive_span
    }

    /// The key of a positive, finite value above [`Self::min_possible`],
    /// always equal to [`Self::exact_key`] (which other inputs get).
    #[inline]
    pub fn key(&self, value: f64) -> i32 {
        // Positive normal floats: biased exponent 1..=0x7fe, sign bit clear.
        if value.to_bits().wrapping_sub(1 << 52) < 0x7fe << 52 {
            self.key_of_normal(value)
        } else {
            self.exact_key(value)
        }
    }

    /// [`Self::key`] of a positive normal `value` (the caller checked it);
    /// anything else gives a wrong key, never a panic.
    #[inline(always)]
    pub(crate) fn key_of_normal(&self, value: f64) -> i32 {
        let estimate = approx_log2(value.to_bits()) * self.multiplier;
        let fixed = (estimate + ROUNDER).to_bits();
        let fraction = fixed & ((1 << FRACTION_BITS) - 1);
        if fraction.wrapping_sub(self.guard_units) < self.fast_span {
            // Farther than the band from an integer: the exact log lies
            // strictly between floor(estimate) and that + 1, so its ceiling
            // is floor + 1. The high bits hold floor + bits(ROUNDER)/2^16;
            // below 2^31 in magnitude with a fast offset, so the cast is exact.
            ((fixed >> FRACTION_BITS) as i64 + self.key_shift) as i32
        } else {
            self.exact_key_cold(value)
        }
    }

    #[cold]
    #[inline(never)]
    fn exact_key_cold(&self, value: f64) -> i32 {
        self.exact_key(value)
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

/// The guard band in units of `2^-16` keys: the table's error scaled by the
/// multiplier plus a generous bound on every rounding (the `ln`, division and
/// product of the exact key and of the estimate, all relative to keys below
/// `1100 · multiplier`), plus the fixed point's own rounding (½ unit) and one
/// unit to spare.
fn guard_units(multiplier: f64) -> u64 {
    let guard = multiplier * (MAX_ERROR + 1e-12) + 64.0 * 1100.0 * multiplier * f64::EPSILON;
    // Saturating cast: a huge band (tiny α) only disables the fast path.
    (guard * f64::from(1u32 << FRACTION_BITS)) as u64 + 2
}

/// The span of fractions that take the fast key, 0 (none) when the band
/// would be wide (more than a quarter key, or keys beyond the fixed point's
/// 2^35), or for a fractional or huge offset (then `ceil(·) + offset` is not
/// an integer sum).
fn fast_span(units: u64, multiplier: f64, offset: f64) -> u64 {
    let whole_offset = offset.fract() == 0.0 && offset.abs() <= MAX_FAST_OFFSET;
    let small_keys = 1100.0 * multiplier < 34_359_738_368.0;
    if units < 1 << (FRACTION_BITS - 2) && whole_offset && small_keys {
        (1 << FRACTION_BITS) - 2 * units
    } else {
        0
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

    /// The smallest float whose exact key is at least `key` (keys are
    /// monotone in the value), by bisection on the bit patterns.
    fn boundary(m: &LogarithmicMapping, key: i32) -> f64 {
        let (mut lo, mut hi) = (f64::MIN_POSITIVE.to_bits(), f64::MAX.to_bits());
        let guess = m.lower_bound(key);
        if guess.is_normal() {
            lo = lo.max((guess * (1.0 - 1e-9)).to_bits());
            hi = hi.min((guess * (1.0 + 1e-9)).to_bits());
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if m.exact_key(f64::from_bits(mid)) >= key {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        f64::from_bits(lo)
    }

    /// Every bucket boundary of the whole normal range, and 4 floats either
    /// side of it, for several α and offsets (α = 0.01: 71,000 boundaries).
    #[test]
    fn key_is_exact_at_every_boundary_of_the_range() {
        for (alpha, offset) in [(0.01, 0.0), (0.01, 37.0), (0.02, -1e6), (0.001, 0.0), (0.05, 0.0)] {
            let m = LogarithmicMapping::new(alpha, offset).expect("valid alpha");
            let (first, last) = (m.exact_key(m.min_possible()), m.exact_key(f64::MAX));
            for key in first + 1..=last {
                let b = boundary(&m, key);
                assert_eq!(m.exact_key(b), key, "alpha {alpha}: boundary of {key} at {b:e}");
                let mut probe = b;
                for _ in 0..4 {
                    probe = probe.next_down();
                }
                for _ in 0..9 {
                    assert_eq!(
                        m.key(probe),
                        m.exact_key(probe),
                        "alpha {alpha} offset {offset}: {probe:e}"
                    );
                    probe = probe.next_up();
                }
            }
        }
    }

    /// Millions of values with random bits over the whole positive range
    /// (and beyond: subnormals, ∞, NaN), and densely in the HDFS-like range.
    #[test]
    fn key_is_exact_for_millions_of_random_values() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for (alpha, offset) in [(0.01, 0.0), (0.01, -3.0), (1.0 / 129.0, 0.0), (0.01, 0.5)] {
            let m = LogarithmicMapping::new(alpha, offset).expect("valid alpha");
            for _ in 0..3_000_000 {
                let any = f64::from_bits(next() >> 1);
                assert_eq!(m.key(any), m.exact_key(any), "alpha {alpha}: {any:e}");
                // 1..2^20: latencies in µs or ms.
                let dense = 1.0 + (next() >> 11) as f64 * (1.0 / 8_589_934_592.0);
                assert_eq!(m.key(dense), m.exact_key(dense), "alpha {alpha}: {dense:e}");
            }
        }
    }

    #[test]
    fn fast_path_is_off_where_it_could_not_be_exact() {
        let fractional = LogarithmicMapping::new(0.01, 0.5).expect("valid");
        assert_eq!(fractional.fast_span, 0);
        let fine = LogarithmicMapping::new(1e-6, 0.0).expect("valid");
        assert_eq!(fine.fast_span, 0);
        let default = LogarithmicMapping::new(0.01, 0.0).expect("valid");
        // α = 0.01: a band of 5e-5 keys, 4 units of 2^-16 plus 2.
        assert_eq!(default.guard_units, 5);
        assert_eq!(default.fast_span, (1 << 16) - 10);
        for v in [1.0, 2.0, 1e-300, 1e300, 12345.678] {
            assert_eq!(fractional.key(v), fractional.exact_key(v));
            assert_eq!(fine.key(v), fine.exact_key(v));
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
