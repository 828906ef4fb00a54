//! The assertions, as plain functions both test binaries call.

use super::*;
use shared::{Sketch, SketchKind, SketchParams};

fn build(kind: SketchKind, values: &[f64]) -> Sketch {
    let mut s = Sketch::with_defaults(kind);
    s.insert_slice(values).expect("valid values");
    s
}

/// quantileflow is within α = 1% of the exact rank-⌊q(n−1)⌋ element.
pub fn quantileflow_within_alpha(dist: Distribution, seed: u64, n: usize) {
    let values = dist.sample(&mut Rng::new(seed), n);
    let exact = sorted(&values);
    let sketch = build(SketchKind::QuantileFlow, &values);
    assert_eq!(sketch.count(), n as u64);
    for q in QS {
        let est = sketch.quantile(q).expect("non-empty");
        let want = lower_rank_value(&exact, q);
        assert!(
            (est - want).abs() <= 0.01 * want.abs() * (1.0 + 1e-12),
            "{dist:?} q={q}: estimate {est}, exact {want}"
        );
    }
}

/// datadog is within its fixed α = 1/129 for positive data.
pub fn datadog_within_alpha(dist: Distribution, seed: u64, n: usize) {
    let values = dist.sample(&mut Rng::new(seed), n);
    let exact = sorted(&values);
    let sketch = build(SketchKind::Datadog, &values);
    let alpha = shared::datadog::DATADOG_RELATIVE_ACCURACY;
    for q in QS {
        let est = sketch.quantile(q).expect("non-empty");
        let want = lower_rank_value(&exact, q);
        assert!(
            (est - want).abs() <= alpha * want.abs() * (1.0 + 1e-9),
            "{dist:?} q={q}: estimate {est}, exact {want}"
        );
    }
}

/// hdrhistogram is within 10^-digits relative plus half a scale step.
pub fn hdr_within_digits(dist: Distribution, seed: u64, n: usize) {
    let values = dist.sample(&mut Rng::new(seed), n);
    let exact = sorted(&values);
    let sketch = build(SketchKind::HdrHistogram, &values);
    let params = SketchParams::default();
    let relative = 10f64.powi(-i32::from(params.significant_digits));
    for q in QS {
        let est = sketch.quantile(q).expect("non-empty");
        let want = hdr_rank_value(&exact, q);
        assert!(
            (est - want).abs() <= relative * want + 1.0 / params.hdr_scale,
            "{dist:?} q={q}: estimate {est}, exact {want}"
        );
    }
}

/// Mean (and max) rank error of momentsketch over QS (without 0 and 1).
pub fn momentsketch_rank_error(dist: Distribution, seed: u64, n: usize, compressed: bool) -> (f64, f64) {
    let values = dist.sample(&mut Rng::new(seed), n);
    let exact = sorted(&values);
    let params = SketchParams {
        compressed,
        ..SketchParams::default()
    };
    let mut sketch = Sketch::new(SketchKind::MomentSketch, &params).expect("valid params");
    sketch.insert_slice(&values).expect("valid values");
    let qs: Vec<f64> = QS.iter().copied().filter(|q| *q > 0.0 && *q < 1.0).collect();
    let est = sketch.quantiles(&qs).expect("solver converges");
    let errors: Vec<f64> = qs
        .iter()
        .zip(&est)
        .map(|(&q, &e)| rank_error(&exact, q, e))
        .collect();
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    let max = errors.iter().fold(0.0f64, |a, &b| a.max(b));
    (mean, max)
}

/// Merging two halves equals inserting everything (quantiles and count).
pub fn merge_equals_insert_all(kind: SketchKind, dist: Distribution, seed: u64, n: usize) {
    let values = dist.sample(&mut Rng::new(seed), n);
    let (left, right) = values.split_at(n / 3);
    let mut merged = build(kind, left);
    merged.merge(&build(kind, right)).expect("same kind and params");
    let whole = build(kind, &values);
    assert_eq!(merged.count(), whole.count());
    assert_eq!(merged.min(), whole.min());
    assert_eq!(merged.max(), whole.max());
    let a = merged.quantiles(&QS).expect("non-empty");
    let b = whole.quantiles(&QS).expect("non-empty");
    let exact = sorted(&values);
    assert_same_moment_sums(&merged, &whole, &values);
    for ((q, x), y) in QS.iter().zip(&a).zip(&b) {
        if kind == SketchKind::MomentSketch {
            assert_moment_answers_agree(&merged, &whole, &exact, (dist, *q, *x, *y));
        } else {
            assert_eq!(x, y, "{kind} {dist:?} q={q}");
        }
    }
    if let (Sketch::QuantileFlow(m), Sketch::QuantileFlow(w)) = (&merged, &whole) {
        let mb: Vec<_> = m.positive_store().iter().collect();
        let wb: Vec<_> = w.positive_store().iter().collect();
        assert_eq!(mb, wb, "identical buckets");
        let mb: Vec<_> = m.negative_store().iter().collect();
        let wb: Vec<_> = w.negative_store().iter().collect();
        assert_eq!(mb, wb, "identical negative buckets");
    }
}

/// Merged and whole momentsketches hold the same sums up to rounding
/// (what merging promises). When their solves took the same path, the
/// answers fall within 0.5 % of rank of each other. A rounding-sized
/// difference can also tip the Newton solve with every moment into not
/// converging, and the retry with fewer moments answers differently (found:
/// seed 12705312183898677274, n = 49, `Signed`: 11 moments for the merged
/// sketch, 12 for the whole, q = 0.5 at rank errors 0.051 and 0.010); the
/// answers are then not compared (accuracy is `accuracy.rs`'s claim).
fn assert_moment_answers_agree(
    merged: &Sketch,
    whole: &Sketch,
    exact: &[f64],
    case: (Distribution, f64, f64, f64),
) {
    let (dist, q, x, y) = case;
    let path = |s: &Sketch| match s {
        Sketch::MomentSketch(m) => m
            .quantiles(&QS)
            .ok()
            .map(|(_, report)| (report.scale, report.moments_used)),
        _ => None,
    };
    if path(merged) == path(whole) {
        let (ex, ey) = (rank_error(exact, q, x), rank_error(exact, q, y));
        assert!(
            (ex - ey).abs() <= 0.005,
            "momentsketch {dist:?} q={q}: merged {x} vs whole {y} (rank errors {ex}, {ey}; n {})",
            exact.len()
        );
    }
}

/// The power and log sums of `merged` equal `whole`'s up to rounding:
/// relative to the sums of the terms' magnitudes (the odd power sums of
/// signed values cancel).
fn assert_same_moment_sums(merged: &Sketch, whole: &Sketch, values: &[f64]) {
    let (Sketch::MomentSketch(m), Sketch::MomentSketch(w)) = (merged, whole) else {
        return;
    };
    let t = |x: f64| if w.compressed() { x.asinh() } else { x };
    let power_scale = |i: i32| values.iter().map(|&x| t(x).abs().powi(i + 1)).sum::<f64>();
    let log_scale = |i: i32| {
        values
            .iter()
            .filter(|&&x| t(x) > 0.0)
            .map(|&x| t(x).ln().abs().powi(i + 1))
            .sum::<f64>()
    };
    for (i, (a, b)) in m.power_sums().iter().zip(w.power_sums()).enumerate() {
        assert!(
            (a - b).abs() <= 1e-9 * power_scale(i as i32),
            "power sum {i}: {a} vs {b}"
        );
    }
    for (i, (a, b)) in m.log_sums().iter().zip(w.log_sums()).enumerate() {
        assert!(
            (a - b).abs() <= 1e-9 * log_scale(i as i32),
            "log sum {i}: {a} vs {b}"
        );
    }
}

/// encode → decode keeps count, extremes and quantiles.
pub fn encode_round_trip(kind: SketchKind, values: &[f64]) {
    let mut sketch = Sketch::with_defaults(kind);
    for &v in values {
        let _ = sketch.insert(v);
    }
    let decoded = Sketch::decode(&sketch.encode()).expect("own encoding decodes");
    assert_eq!(decoded.kind(), kind);
    assert_eq!(decoded.count(), sketch.count());
    assert_eq!(decoded.min(), sketch.min());
    assert_eq!(decoded.max(), sketch.max());
    if !sketch.is_empty() {
        assert_eq!(decoded.quantiles(&QS).ok(), sketch.quantiles(&QS).ok());
    }
}

/// Merging different kinds or parameters is an error, not a panic.
pub fn mismatched_merges_are_errors() {
    let mut a = Sketch::with_defaults(SketchKind::QuantileFlow);
    assert!(a.merge(&Sketch::with_defaults(SketchKind::HdrHistogram)).is_err());
    let p = SketchParams {
        relative_accuracy: 0.02,
        moments: 8,
        significant_digits: 2,
        ..SketchParams::default()
    };
    for kind in [
        SketchKind::QuantileFlow,
        SketchKind::MomentSketch,
        SketchKind::HdrHistogram,
    ] {
        let mut a = Sketch::with_defaults(kind);
        let b = Sketch::new(kind, &p).expect("valid");
        assert!(a.merge(&b).is_err(), "{kind}");
    }
}

/// Sketches decoded from bytes merge like fresh ones (decoded HDR histograms
/// must grow when a later window holds larger values).
pub fn decoded_sketches_merge_like_fresh_ones(kind: SketchKind) {
    let mut rng = Rng::new(5);
    let mut first: Option<Sketch> = None;
    let mut total = 0;
    for i in 0..6 {
        let values = Distribution::HdfsLike.sample(&mut rng, 200 + i * 50);
        total += values.len() as u64;
        let decoded = Sketch::decode(&build(kind, &values).encode()).expect("decodes");
        match &mut first {
            None => first = Some(decoded),
            Some(acc) => acc.merge(&decoded).expect("same kind and parameters"),
        }
    }
    assert_eq!(first.map(|s| s.count()), Some(total), "{kind}");
}

/// Merging native bytes straight in (`merge_encoded`) gives exactly what
/// decoding them and merging gives: same count, sum, min, max, buckets and
/// quantiles — including HDR windows wider than the accumulator.
pub fn merge_encoded_equals_decode_then_merge(kind: SketchKind, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut via_decode = build(kind, &Distribution::LogNormal.sample(&mut rng, 300));
    let mut direct = via_decode.clone();
    for i in 0..5 {
        let dist = if i % 2 == 0 {
            Distribution::HdfsLike
        } else {
            Distribution::Bimodal
        };
        let bytes = build(kind, &dist.sample(&mut rng, 100 + i * 400)).encode();
        via_decode
            .merge(&Sketch::decode(&bytes).expect("decodes"))
            .expect("same kind and parameters");
        direct.merge_encoded(&bytes).expect("same kind and parameters");
    }
    // An empty window changes nothing.
    direct
        .merge_encoded(&Sketch::with_defaults(kind).encode())
        .expect("empty merges");
    assert_eq!(direct.count(), via_decode.count(), "{kind}");
    assert_eq!(direct.min(), via_decode.min(), "{kind}");
    assert_eq!(direct.max(), via_decode.max(), "{kind}");
    let (a, b) = (direct.sum(), via_decode.sum());
    assert!((a - b).abs() <= 1e-9 * b.abs(), "{kind}: sum {a} vs {b}");
    assert_eq!(direct.mass_points(), via_decode.mass_points(), "{kind}");
    assert_eq!(
        direct.quantiles(&QS).ok(),
        via_decode.quantiles(&QS).ok(),
        "{kind}"
    );
}

/// Bad bytes, another kind or other parameters are errors that leave the
/// accumulator as it was.
pub fn merge_encoded_refuses_bad_input_and_changes_nothing(kind: SketchKind) {
    let mut rng = Rng::new(11);
    let mut acc = build(kind, &Distribution::HdfsLike.sample(&mut rng, 500));
    let before = (acc.count(), acc.mass_points(), acc.quantiles(&QS).ok());
    let good = build(kind, &Distribution::HdfsLike.sample(&mut rng, 500)).encode();
    let other_kind = SketchKind::ALL
        .into_iter()
        .find(|&k| k != kind)
        .expect("four kinds");
    let other_params = SketchParams {
        relative_accuracy: 0.02,
        moments: 8,
        significant_digits: 2,
        ..SketchParams::default()
    };
    let mut wider = Sketch::new(kind, &other_params).expect("valid");
    wider
        .insert_slice(&Distribution::HdfsLike.sample(&mut rng, 50))
        .expect("valid values");
    let mut bad: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"hello".to_vec(),
        good[..good.len() / 2].to_vec(),
        build(other_kind, &[1.0, 2.0]).encode(),
    ];
    if kind != SketchKind::Datadog {
        // datadog's accuracy is fixed: there are no other parameters.
        bad.push(wider.encode());
    }
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    bad.push(flipped);
    for (i, bytes) in bad.iter().enumerate() {
        if acc.merge_encoded(bytes).is_ok() {
            // A flipped last byte may still be a valid sketch; then it must
            // have merged like a decoded one.
            assert_eq!(i, bad.len() - 1, "{kind}: case {i} merged");
            return;
        }
        assert_eq!(
            (acc.count(), acc.mass_points(), acc.quantiles(&QS).ok()),
            before,
            "{kind}: case {i} changed the sketch"
        );
    }
}
