//! `BatchMerge` (counts summed by index, applied once) against merging the
//! same windows one by one with `Sketch::merge_encoded`, black-box, for
//! every kind: the same state at the end, the same windows refused.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::mem::discriminant;

use common::observe::{state, values, window};
use proptest::prelude::*;
use shared::{BatchMerge, Sketch, SketchKind, SketchParams};

/// What reaches the accumulator, in order.
#[derive(Debug, Clone)]
enum Step {
    /// Encoded bytes (good or damaged).
    Bytes(Vec<u8>),
    /// A decoded sketch.
    Decoded(Box<Sketch>),
}

/// Runs `steps` both ways from `start`; asserts the same outcome per step
/// and the same final state; returns how many steps were refused.
fn both_ways(start: &Sketch, steps: &[Step]) -> usize {
    let mut one_by_one = start.clone();
    let mut batch = BatchMerge::new(start.clone());
    let mut refused = 0;
    for (i, step) in steps.iter().enumerate() {
        let (a, b) = match step {
            Step::Bytes(bytes) => (one_by_one.merge_encoded(bytes), batch.merge_encoded(bytes)),
            Step::Decoded(s) => (one_by_one.merge(s).map_err(Into::into), batch.merge(s)),
        };
        match (&a, &b) {
            (Ok(()), Ok(())) => {}
            (Err(x), Err(y)) => {
                assert_eq!(discriminant(x), discriminant(y), "step {i}: {x} vs {y}");
                refused += 1;
            }
            _ => panic!("{} step {i}: one by one {a:?}, batch {b:?}", start.kind()),
        }
    }
    let merged = batch.finish().expect("flush");
    assert_eq!(state(&merged), state(&one_by_one), "{}", start.kind());
    refused
}

/// A step: mostly good windows, some damaged bytes, some decoded sketches.
fn step(kind: SketchKind) -> impl Strategy<Value = Step> {
    (values(200), 0u8..10, any::<prop::sample::Index>(), 1u8..=255).prop_map(
        move |(values, pick, at, mask)| {
            let bytes = window(kind, &values).encode();
            match pick {
                0 => Step::Bytes(bytes[..at.index(bytes.len())].to_vec()),
                1 => {
                    let mut flipped = bytes;
                    let i = at.index(flipped.len());
                    flipped[i] ^= mask;
                    Step::Bytes(flipped)
                }
                2 => Step::Decoded(Box::new(window(kind, &values))),
                _ => Step::Bytes(bytes),
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn a_batch_ends_as_merging_one_by_one(
        start in values(200),
        hdr in prop::collection::vec(step(SketchKind::HdrHistogram), 1..12),
        datadog in prop::collection::vec(step(SketchKind::Datadog), 1..12),
        quantileflow in prop::collection::vec(step(SketchKind::QuantileFlow), 1..6),
        moments in prop::collection::vec(step(SketchKind::MomentSketch), 1..6),
    ) {
        both_ways(&window(SketchKind::HdrHistogram, &start), &hdr);
        both_ways(&window(SketchKind::Datadog, &start), &datadog);
        both_ways(&window(SketchKind::QuantileFlow, &start), &quantileflow);
        both_ways(&window(SketchKind::MomentSketch, &start), &moments);
    }
}

#[test]
fn an_hour_of_windows_ends_as_merging_one_by_one() {
    for kind in SketchKind::ALL {
        let steps: Vec<Step> = (0..600)
            .map(|w| {
                let values: Vec<f64> = (0..50)
                    .map(|i| 1.0 + ((w * 50 + i) * 7919 % 100_000) as f64)
                    .collect();
                Step::Bytes(window(kind, &values).encode())
            })
            .collect();
        assert_eq!(both_ways(&Sketch::with_defaults(kind), &steps), 0, "{kind}");
    }
}

#[test]
fn datadog_windows_that_collapse_the_store_end_alike() {
    // 1e-3 … 1e9 spans far more than the store's 2048 bins: later windows
    // collapse the lowest ones, which the batch leaves to the general path.
    let steps: Vec<Step> = [1e-3, 1.0, 10.0, 1e3, 1e6, 1e9, 5.0, 1e-2]
        .iter()
        .map(|&v| Step::Bytes(window(SketchKind::Datadog, &[v, v * 1.5, v * 3.0]).encode()))
        .collect();
    assert_eq!(both_ways(&Sketch::with_defaults(SketchKind::Datadog), &steps), 0);
}

#[test]
fn huge_and_fractional_counts_end_alike() {
    let mut huge = Sketch::with_defaults(SketchKind::Datadog);
    huge.insert_n(40.0, 1 << 45).expect("valid");
    let mut hdr_huge = Sketch::with_defaults(SketchKind::HdrHistogram);
    hdr_huge.insert_n(40.0, u64::MAX - 5).expect("valid");
    for (kind, big) in [(SketchKind::Datadog, huge), (SketchKind::HdrHistogram, hdr_huge)] {
        let small = window(kind, &[40.0, 41.0, 900.0]).encode();
        let steps = vec![
            Step::Bytes(small.clone()),
            Step::Bytes(big.encode()),
            Step::Bytes(small.clone()),
            Step::Bytes(big.encode()),
            Step::Bytes(small),
        ];
        both_ways(&Sketch::with_defaults(kind), &steps);
    }
}

#[test]
fn other_hdr_parameters_are_refused_alike() {
    let params = SketchParams {
        significant_digits: 2,
        ..SketchParams::default()
    };
    let mut other = Sketch::new(SketchKind::HdrHistogram, &params).expect("valid");
    other.insert(12.5).expect("valid");
    let good = window(SketchKind::HdrHistogram, &[3.0, 4.0]).encode();
    let steps = vec![
        Step::Bytes(good.clone()),
        Step::Bytes(other.encode()),
        Step::Bytes(good),
    ];
    assert_eq!(
        both_ways(&Sketch::with_defaults(SketchKind::HdrHistogram), &steps),
        1
    );
}

#[test]
fn a_batch_dropped_unfinished_leaves_nothing_to_the_next_one() {
    // The staging array is reused on the thread: what a dropped batch had
    // staged must not reach the next batch.
    let bytes = window(SketchKind::HdrHistogram, &[5.0, 70.0, 70.0]).encode();
    let mut dropped = BatchMerge::new(Sketch::with_defaults(SketchKind::HdrHistogram));
    dropped.merge_encoded(&bytes).expect("valid");
    drop(dropped);
    let mut next = BatchMerge::new(Sketch::with_defaults(SketchKind::HdrHistogram));
    next.merge_encoded(&bytes).expect("valid");
    let merged = next.finish().expect("flushes");
    assert_eq!(
        state(&merged),
        state(&window(SketchKind::HdrHistogram, &[5.0, 70.0, 70.0]))
    );
}
