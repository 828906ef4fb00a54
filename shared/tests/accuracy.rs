//! Every kind stays within its error guarantee against exact quantiles.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::checks;
use common::Distribution;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn quantileflow_within_alpha_on_every_distribution(seed in any::<u64>(), n in 1usize..5000) {
        for dist in Distribution::POSITIVE.into_iter().chain([Distribution::Signed]) {
            checks::quantileflow_within_alpha(dist, seed, n);
        }
    }

    #[test]
    fn datadog_within_its_fixed_alpha(seed in any::<u64>(), n in 1usize..5000) {
        for dist in Distribution::POSITIVE {
            checks::datadog_within_alpha(dist, seed, n);
        }
    }

    #[test]
    fn hdrhistogram_within_its_digits(seed in any::<u64>(), n in 1usize..5000) {
        for dist in Distribution::POSITIVE {
            checks::hdr_within_digits(dist, seed, n);
        }
    }

    #[test]
    fn momentsketch_mean_rank_error_on_lognormal_is_below_one_percent(seed in any::<u64>()) {
        for compressed in [false, true] {
            let (mean, _) = checks::momentsketch_rank_error(Distribution::LogNormal, seed, 20_000, compressed);
            prop_assert!(mean <= 0.01, "compressed={} mean rank error {}", compressed, mean);
        }
    }

    #[test]
    fn momentsketch_rank_error_on_other_distributions(seed in any::<u64>()) {
        // Documented bounds (README): mean rank error ≤ 2 % on these shapes.
        for dist in [Distribution::Pareto, Distribution::Uniform, Distribution::Bimodal, Distribution::HdfsLike, Distribution::Signed] {
            let (mean, max) = checks::momentsketch_rank_error(dist, seed, 20_000, false);
            prop_assert!(mean <= 0.02, "{:?}: mean rank error {} (max {})", dist, mean, max);
        }
    }
}

#[test]
fn empty_sketches_report_empty_and_bad_quantiles_are_errors() {
    use shared::{QuantileError, Sketch, SketchKind};
    for kind in SketchKind::ALL {
        let mut s = Sketch::with_defaults(kind);
        assert_eq!(s.quantile(0.5), Err(QuantileError::Empty), "{kind}");
        s.insert(5.0).expect("valid");
        assert!(
            matches!(s.quantile(1.5), Err(QuantileError::OutOfRange(_))),
            "{kind}"
        );
        assert!(
            matches!(s.quantile(f64::NAN), Err(QuantileError::OutOfRange(_))),
            "{kind}"
        );
        assert!(s.insert(f64::NAN).is_err(), "{kind}");
        assert!(s.insert(f64::INFINITY).is_err(), "{kind}");
        assert_eq!(s.count(), 1, "{kind}: rejected values are not counted");
        assert_eq!(
            s.quantile(0.5).map(|v| (v - 5.0).abs() <= 0.05),
            Ok(true),
            "{kind}"
        );
        s.reset();
        assert!(s.is_empty(), "{kind}");
    }
}

#[test]
fn negative_values_are_refused_only_by_kinds_without_negative_support() {
    use shared::{Sketch, SketchKind};
    for kind in SketchKind::ALL {
        let mut s = Sketch::with_defaults(kind);
        assert_eq!(s.insert(-3.0).is_ok(), kind.supports_negative(), "{kind}");
    }
}

#[test]
fn momentsketch_handles_zeros_and_constant_input() {
    use shared::{Sketch, SketchKind};
    let mut s = Sketch::with_defaults(SketchKind::MomentSketch);
    s.insert_slice(&[7.0; 100]).expect("valid");
    assert_eq!(s.quantile(0.5), Ok(7.0));
    let mut z = Sketch::with_defaults(SketchKind::MomentSketch);
    let mut values = vec![0.0; 300];
    values.extend((1..=700).map(f64::from));
    z.insert_slice(&values).expect("valid");
    assert_eq!(z.quantile(0.2), Ok(0.0), "30% zeros: the 20th percentile is 0");
    let p60 = z.quantile(0.6).expect("converges");
    assert!((p60 - 300.0).abs() < 25.0, "p60 {p60}");
}
