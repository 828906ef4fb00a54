//! What a caller can observe of a sketch, and windows to build sketches
//! from, for the tests that compare two ways of merging (native only).

use proptest::prelude::*;
use shared::{Sketch, SketchKind};

/// Count, min, max, sum bits, mass points and quantiles.
pub type State = (
    u64,
    Option<f64>,
    Option<f64>,
    u64,
    Vec<(f64, f64)>,
    Option<Vec<f64>>,
);

/// Everything a caller can observe of a sketch.
pub fn state(s: &Sketch) -> State {
    (
        s.count(),
        s.min(),
        s.max(),
        s.sum().to_bits(),
        s.mass_points(),
        s.quantiles(&[0.0, 0.25, 0.5, 0.9, 0.99, 1.0]).ok(),
    )
}

/// A window of `kind` holding the values it accepts (negative ones only
/// for the kinds that take them).
pub fn window(kind: SketchKind, values: &[f64]) -> Sketch {
    let mut s = Sketch::with_defaults(kind);
    for &v in values {
        let _ = s.insert(v);
    }
    s
}

/// Window values, up to `max_len`: zeros, repeats, tiny, huge and negative
/// values among HDFS-like latencies.
pub fn values(max_len: usize) -> impl Strategy<Value = Vec<f64>> {
    let value = prop_oneof![
        6 => 1.0f64..200_000.0,
        1 => Just(0.0),
        1 => Just(1234.5),
        1 => 1e-12f64..1e-6,
        1 => 1e9f64..1e13,
        1 => -5_000.0f64..-0.001,
    ];
    prop::collection::vec(value, 0..max_len)
}
