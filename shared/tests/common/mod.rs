//! Test support shared by the native and wasm test binaries: a seeded RNG,
//! the distributions the accuracy tests use, exact quantiles, and the checks
//! themselves (so both targets run the very same assertions).
#![allow(dead_code, missing_docs)]

pub mod checks;
pub mod interop;
#[cfg(not(target_arch = "wasm32"))]
pub mod observe;

/// SplitMix64: small, seeded, identical on every target.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// The distributions of the accuracy tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distribution {
    LogNormal,
    Pareto,
    Uniform,
    Bimodal,
    /// Normal around 0, with exact zeros and a negative exponential tail.
    Signed,
    /// Latency-like: lognormal in ms, rounded to whole ms (many repeats).
    HdfsLike,
}

impl Distribution {
    pub const POSITIVE: [Distribution; 5] = [
        Distribution::LogNormal,
        Distribution::Pareto,
        Distribution::Uniform,
        Distribution::Bimodal,
        Distribution::HdfsLike,
    ];

    pub fn sample(self, rng: &mut Rng, n: usize) -> Vec<f64> {
        (0..n)
            .map(|_| match self {
                Distribution::LogNormal => (8.0 + 1.2 * rng.normal()).exp(),
                Distribution::Pareto => 10.0 * rng.unit().powf(-1.0 / 1.5),
                Distribution::Uniform => 1.0 + 999.0 * rng.unit(),
                Distribution::Bimodal => {
                    if rng.unit() < 0.6 {
                        (100.0 + 10.0 * rng.normal()).abs() + 1.0
                    } else {
                        (5000.0 + 400.0 * rng.normal()).abs()
                    }
                }
                Distribution::Signed => {
                    let u = rng.unit();
                    if u < 0.05 {
                        0.0
                    } else if u < 0.15 {
                        100.0 * rng.unit().ln()
                    } else {
                        50.0 * rng.normal()
                    }
                }
                Distribution::HdfsLike => (8.8 + 1.1 * rng.normal()).exp().round(),
            })
            .collect()
    }
}

/// Sorted copy.
pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

/// The element DDSketch's rank walk targets: index ⌊q·(n−1)⌋.
pub fn lower_rank_value(sorted: &[f64], q: f64) -> f64 {
    sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
}

/// The element an HDR histogram targets: index ⌈q·n⌉−1 (at least 0).
pub fn hdr_rank_value(sorted: &[f64], q: f64) -> f64 {
    let idx = ((q * sorted.len() as f64).ceil() as usize).max(1) - 1;
    sorted[idx.min(sorted.len() - 1)]
}

/// |F(estimate) − q| with F the empirical CDF (mid-point for ties).
pub fn rank_error(sorted: &[f64], q: f64, estimate: f64) -> f64 {
    let below = sorted.partition_point(|&v| v < estimate);
    let at_or_below = sorted.partition_point(|&v| v <= estimate);
    let f = (below + at_or_below) as f64 / (2 * sorted.len()) as f64;
    (f - q).abs()
}

pub const QS: [f64; 11] = [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0];
