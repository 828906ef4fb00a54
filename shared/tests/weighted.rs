//! `Sketch::insert_n`: a weighted insert (a histogram bucket's count) is the
//! same sketch as that many single inserts, for every kind.

use shared::{InsertError, Sketch, SketchKind};

/// Values with their repeat counts, spanning four decades and a zero.
const POINTS: [(f64, u64); 6] = [
    (0.0, 3),
    (0.7, 1),
    (3.2, 250),
    (41.0, 17),
    (980.5, 4_000),
    (12_345.0, 2),
];

fn by_repeats(kind: SketchKind) -> Sketch {
    let mut s = Sketch::with_defaults(kind);
    for (v, n) in POINTS {
        for _ in 0..n {
            s.insert(v).expect("valid value");
        }
    }
    s
}

fn by_weights(kind: SketchKind) -> Sketch {
    let mut s = Sketch::with_defaults(kind);
    for (v, n) in POINTS {
        s.insert_n(v, n).expect("valid value");
    }
    s
}

#[test]
fn a_weighted_insert_is_that_many_inserts_for_every_kind() {
    for kind in SketchKind::ALL {
        let (a, b) = (by_repeats(kind), by_weights(kind));
        assert_eq!(a.count(), b.count(), "{kind:?} count");
        assert_eq!(a.min(), b.min(), "{kind:?} min");
        assert_eq!(a.max(), b.max(), "{kind:?} max");
        let rel = (a.sum() - b.sum()).abs() / a.sum();
        assert!(rel < 1e-12, "{kind:?} sum {} vs {}", a.sum(), b.sum());
        for q in [0.01, 0.25, 0.5, 0.9, 0.99, 0.999] {
            let (x, y) = (a.quantile(q).expect("quantile"), b.quantile(q).expect("quantile"));
            // Bucketed kinds give the same bucket; the moment solver sees
            // power sums equal to rounding.
            let tolerance = if kind == SketchKind::MomentSketch {
                1e-6 * x.abs().max(1.0)
            } else {
                0.0
            };
            assert!((x - y).abs() <= tolerance, "{kind:?} q{q}: {x} vs {y}");
        }
    }
}

#[test]
fn weight_zero_inserts_nothing_and_bad_values_are_refused_for_every_kind() {
    for kind in SketchKind::ALL {
        let mut s = Sketch::with_defaults(kind);
        s.insert_n(5.0, 0).expect("zero weight is fine");
        assert!(s.is_empty(), "{kind:?}");
        assert!(
            matches!(s.insert_n(f64::NAN, 3), Err(InsertError::NotFinite(_))),
            "{kind:?}"
        );
        assert!(
            s.is_empty(),
            "{kind:?}: a refused weighted insert leaves the sketch empty"
        );
    }
}

#[test]
fn kinds_without_negatives_refuse_a_weighted_negative() {
    for kind in [SketchKind::Datadog, SketchKind::HdrHistogram] {
        let mut s = Sketch::with_defaults(kind);
        assert!(
            matches!(s.insert_n(-1.0, 2), Err(InsertError::Negative { .. })),
            "{kind:?}"
        );
    }
    let mut s = Sketch::with_defaults(SketchKind::QuantileFlow);
    s.insert_n(-2.0, 5).expect("quantileflow keeps negatives");
    assert_eq!(s.count(), 5);
}
