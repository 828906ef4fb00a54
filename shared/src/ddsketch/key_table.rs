//! A piecewise-linear `log2` for the DDSketch key: the exponent of the float
//! plus one line per row of the top mantissa bits, with a proven error bound.
//!
//! For `v = 2^(E−1023) · m`, `m ∈ [1, 2)` and row `i` = the top
//! [`ROW_BITS`] bits of `m`'s fraction, `log2(v) ≈ E + intercept_i + slope_i · m`
//! (the `−1023` is folded into the intercepts). Each row's line is the chord
//! of `log2` over the row lifted by half its sag, so the error is at most half
//! the sag of the first (most curved) row: below [`MAX_ERROR`]. The mapping
//! turns that bound into a guard band and computes the exact key whenever the
//! estimate falls inside it.
//!
//! The table does not depend on α, is built at compile time and costs nothing
//! when a sketch is created.

/// Number of top mantissa bits selecting a row.
pub(crate) const ROW_BITS: u32 = 8;
const ROWS: usize = 1 << ROW_BITS;
const MANTISSA_MASK: u64 = (1u64 << 52) - 1;
const EXPONENT_ONE: u64 = 1023u64 << 52;

/// Bound on `|estimate − log2(v)|` for every positive normal `v` (the chord
/// error of the first row is `1/(16·256²·ln 2)` ≈ 1.38e-6; rounding adds
/// below 1e-12).
pub(crate) const MAX_ERROR: f64 = 1.4e-6;

const fn row_line(i: usize) -> (f64, f64) {
    let a = 1.0 + i as f64 / ROWS as f64;
    let b = 1.0 + (i + 1) as f64 / ROWS as f64;
    let (log_a, log_b) = (super::mapping::const_log2(a), super::mapping::const_log2(b));
    let slope = (log_b - log_a) * ROWS as f64;
    // The chord sags most where log2' equals the slope: x = 1/(slope·ln 2).
    let x = std::f64::consts::LOG2_E / slope;
    let sag = super::mapping::const_log2(x) - (log_a + slope * (x - a));
    (log_a - slope * a + sag / 2.0 - 1023.0, slope)
}

/// One `(intercept − 1023, slope)` line per row. A `const`, not a
/// `static`: inlined into another crate, a static is reached through the GOT
/// (one more load per key); a const array is addressed directly.
const LINES: [(f64, f64); ROWS] = {
    let mut t = [(0.0, 0.0); ROWS];
    let mut i = 0;
    while i < ROWS {
        t[i] = row_line(i);
        i += 1;
    }
    t
};

/// `log2(v)` within [`MAX_ERROR`] for a positive normal `v` given by its
/// bits; any other input gives a meaningless (but finite or NaN) number,
/// never a panic.
#[inline(always)]
pub(crate) fn approx_log2(bits: u64) -> f64 {
    // Masked, so always in bounds (no check is generated).
    let row = (bits >> (52 - ROW_BITS)) as usize & (ROWS - 1);
    let (intercept, slope) = LINES[row];
    let mantissa = f64::from_bits((bits & MANTISSA_MASK) | EXPONENT_ONE);
    // The biased exponent is below 2^12: the signed conversion is one
    // instruction and exact.
    let exponent = (bits >> 52) as i64 as f64;
    (exponent + intercept) + slope * mantissa
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approx_log2_is_within_max_error() {
        let mut worst = 0.0f64;
        // Every row, densely, in binades across the range.
        for exponent in [-1022, -300, -20, -1, 0, 1, 13, 300, 1023] {
            let scale = 2f64.powi(exponent);
            for step in 0..(ROWS * 64) {
                let m = 1.0 + step as f64 / (ROWS * 64) as f64;
                for v in [m * scale, (m * scale).next_up(), (m * scale).next_down()] {
                    if !v.is_normal() {
                        continue;
                    }
                    let error = (approx_log2(v.to_bits()) - v.log2()).abs();
                    worst = worst.max(error);
                }
            }
        }
        assert!(worst <= MAX_ERROR, "worst error {worst:e}");
        // The bound is tight, not loose by orders of magnitude.
        assert!(worst > MAX_ERROR / 2.0, "worst error {worst:e}");
    }
}
