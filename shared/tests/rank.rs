//! `Sketch::rank`: the share of values ≤ x, against the exact share of the
//! same values, for every kind, within the bound each kind states.

use shared::rank::RankError;
use shared::{Sketch, SketchKind};

fn lognormal(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed;
    let mut next = || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let z = (-2.0 * next().ln()).sqrt() * (std::f64::consts::TAU * next()).cos();
            ((5.0 + 1.2 * z).exp() * 100.0).round() / 100.0
        })
        .collect()
}

fn exact_share(values: &[f64], x: f64) -> f64 {
    values.iter().filter(|&&v| v <= x).count() as f64 / values.len() as f64
}

fn thresholds(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut out: Vec<f64> = [0.01, 0.1, 0.5, 0.9, 0.99, 0.999]
        .iter()
        .map(|q| sorted[(q * (sorted.len() - 1) as f64) as usize])
        .collect();
    // Values themselves (bucket edges land anywhere), between them, outside.
    out.extend([0.0, 1.0, 150.0, 250.0, 1e9, sorted[0], sorted[sorted.len() - 1]]);
    out
}

#[test]
fn bucketed_kinds_hold_the_exact_share_within_their_bound() {
    let values = lognormal(20_000, 7);
    for kind in [
        SketchKind::QuantileFlow,
        SketchKind::Datadog,
        SketchKind::HdrHistogram,
    ] {
        let mut s = Sketch::with_defaults(kind);
        s.insert_slice(&values).expect("values");
        for x in thresholds(&values) {
            let rank = s.rank(x).expect("rank");
            let exact = exact_share(&values, x);
            let (lo, hi) = rank.bound.expect("a bound");
            assert!(
                lo <= exact && exact <= hi,
                "{kind} x={x}: exact {exact} outside [{lo}, {hi}]"
            );
            assert!(
                lo <= rank.fraction && rank.fraction <= hi,
                "{kind} x={x}: {rank:?}"
            );
            // The bound is one bucket: at most a few percent of these values.
            assert!(hi - lo <= 0.02, "{kind} x={x}: bound [{lo}, {hi}] too wide");
            assert_eq!(rank.count, 20_000);
            let gt = rank.complement();
            assert!((gt.fraction + rank.fraction - 1.0).abs() < 1e-12);
            assert_eq!(gt.bound, Some((1.0 - hi, 1.0 - lo)));
        }
    }
}

#[test]
fn negative_values_rank_in_quantileflow() {
    let values: Vec<f64> = lognormal(5_000, 3)
        .into_iter()
        .enumerate()
        .map(|(i, v)| if i % 3 == 0 { -v } else { v })
        .chain([0.0, 0.0])
        .collect();
    {
        let kind = SketchKind::QuantileFlow;
        let mut s = Sketch::with_defaults(kind);
        s.insert_slice(&values).expect("values");
        for x in [-500.0, -100.0, -1.0, 0.0, 1.0, 100.0, 500.0] {
            let rank = s.rank(x).expect("rank");
            let exact = exact_share(&values, x);
            let (lo, hi) = rank.bound.expect("a bound");
            assert!(
                lo <= exact && exact <= hi,
                "{kind} x={x}: exact {exact} outside [{lo}, {hi}]"
            );
        }
    }
}

#[test]
fn momentsketch_ranks_from_its_fit_without_a_bound() {
    let values = lognormal(20_000, 11);
    let mut s = Sketch::with_defaults(SketchKind::MomentSketch);
    s.insert_slice(&values).expect("values");
    for x in thresholds(&values) {
        let rank = s.rank(x).expect("rank");
        let inside = x >= s.min().expect("min") && x < s.max().expect("max");
        // Outside [min, max] the answer is exact; inside, no bound is promised.
        assert_eq!(rank.bound.is_none(), inside, "x={x}: {rank:?}");
        let exact = exact_share(&values, x);
        // Not a guarantee: how close the fit was on this data.
        assert!(
            (rank.fraction - exact).abs() <= 0.03,
            "x={x}: {} vs exact {exact}",
            rank.fraction
        );
    }
    assert_eq!(s.rank(-1.0).expect("rank").fraction, 0.0);
    assert_eq!(s.rank(1e12).expect("rank").fraction, 1.0);
}

#[test]
fn empty_sketches_and_bad_thresholds_are_errors() {
    for kind in SketchKind::ALL {
        let mut s = Sketch::with_defaults(kind);
        assert_eq!(s.rank(1.0), Err(RankError::Empty), "{kind}");
        s.insert(5.0).expect("value");
        assert!(matches!(s.rank(f64::NAN), Err(RankError::NotFinite(_))), "{kind}");
        assert!(
            matches!(s.rank(f64::INFINITY), Err(RankError::NotFinite(_))),
            "{kind}"
        );
        assert_eq!(s.rank(5.0).expect("rank").fraction, 1.0, "{kind}");
    }
}
