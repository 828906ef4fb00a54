//! `Sketch::mass_points`: where the dashboard's histograms come from.

mod common;

use common::{Distribution, Rng};
use shared::{Sketch, SketchKind};

#[test]
fn mass_points_hold_every_value_in_ascending_order() {
    let values = Distribution::LogNormal.sample(&mut Rng::new(7), 20_000);
    for kind in SketchKind::ALL {
        let mut sketch = Sketch::with_defaults(kind);
        sketch.insert_slice(&values).expect("positive values");
        let points = sketch.mass_points();
        let total: f64 = points.iter().map(|p| p.1).sum();
        assert!((total - 20_000.0).abs() < 1e-6, "{kind}: total {total}");
        assert!(
            points.windows(2).all(|w| w[0].0 <= w[1].0),
            "{kind}: not ascending"
        );
        let (lo, hi) = (sketch.min().expect("min"), sketch.max().expect("max"));
        let slack = if kind == SketchKind::MomentSketch {
            0.0
        } else {
            0.01
        };
        for p in &points {
            assert!(
                p.0 >= lo * (1.0 - slack) && p.0 <= hi * (1.0 + slack),
                "{kind}: {p:?} outside [{lo}, {hi}]"
            );
        }
    }
}

#[test]
fn ddsketch_mass_points_keep_zeros_and_negatives() {
    let mut sketch = Sketch::with_defaults(SketchKind::QuantileFlow);
    sketch
        .insert_slice(&[-5.0, 0.0, 0.0, 3.0])
        .expect("finite values");
    let points = sketch.mass_points();
    assert_eq!(points.len(), 3);
    assert!((points[0].0 + 5.0).abs() < 0.05 && points[0].1 == 1.0);
    assert_eq!(points[1], (0.0, 2.0));
    assert!((points[2].0 - 3.0).abs() < 0.03);
}
