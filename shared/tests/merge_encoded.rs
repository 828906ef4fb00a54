//! `merge_encoded` (bytes folded straight into the accumulator) against
//! decoding then merging, black-box, for every kind: same state after good
//! windows, same kind of error and an unchanged accumulator after bad ones.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::mem::discriminant;

use common::observe::{state, values, window};
use proptest::prelude::*;
use shared::{MergeEncodedError, Sketch, SketchKind, SketchParams};

/// What decoding `bytes` then merging them into `acc` gives.
fn decode_then_merge(acc: &mut Sketch, bytes: &[u8]) -> Result<(), MergeEncodedError> {
    let other = Sketch::decode(bytes)?;
    Ok(acc.merge(&other)?)
}

/// Merges `bytes` both ways into copies of `acc`; asserts that they agree
/// (same state, or the same kind of error with `acc` unchanged) and returns
/// the merged sketch.
fn both_ways(acc: &Sketch, bytes: &[u8]) -> Sketch {
    let (mut direct, mut decoded) = (acc.clone(), acc.clone());
    let (a, b) = (
        direct.merge_encoded(bytes),
        decode_then_merge(&mut decoded, bytes),
    );
    match (&a, &b) {
        (Ok(()), Ok(())) => assert_eq!(state(&direct), state(&decoded), "{}", acc.kind()),
        (Err(x), Err(y)) => {
            assert_eq!(discriminant(x), discriminant(y), "{x} vs {y}");
            if let (MergeEncodedError::Decode(x), MergeEncodedError::Decode(y)) = (x, y) {
                assert_eq!(discriminant(x), discriminant(y), "{x} vs {y}");
            }
            assert_eq!(state(&direct), state(acc), "{}: changed on error", acc.kind());
        }
        _ => panic!("{}: merge_encoded {a:?}, decode then merge {b:?}", acc.kind()),
    }
    direct
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn folding_windows_from_bytes_equals_decoding_then_merging(
        start in values(300),
        windows in prop::collection::vec(values(300), 1..8),
    ) {
        for kind in SketchKind::ALL {
            let mut acc = window(kind, &start);
            for values in &windows {
                acc = both_ways(&acc, &window(kind, values).encode());
            }
        }
    }

    #[test]
    fn truncated_or_flipped_bytes_fail_alike_and_change_nothing(
        values in values(300),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        for kind in [SketchKind::Datadog, SketchKind::HdrHistogram] {
            let acc = window(kind, &[5.0, 70.0, 70.0, 9000.0]);
            let bytes = window(kind, &values).encode();
            both_ways(&acc, &bytes[..cut.index(bytes.len())]);
            let mut flipped = bytes.clone();
            let at = flip.index(bytes.len());
            flipped[at] ^= mask;
            both_ways(&acc, &flipped);
        }
    }
}

#[test]
fn every_truncation_of_a_busy_window_fails_alike() {
    let values: Vec<f64> = (1..3000).map(|i| f64::from(i) * 37.5).collect();
    for kind in [SketchKind::Datadog, SketchKind::HdrHistogram] {
        let acc = window(kind, &[1.0, 2.0]);
        // Big enough for HDR's compressed V2.
        let bytes = window(kind, &values).encode();
        for n in 0..bytes.len() {
            both_ways(&acc, &bytes[..n]);
        }
    }
}

#[test]
fn empty_windows_and_empty_accumulators() {
    for kind in SketchKind::ALL {
        let empty = Sketch::with_defaults(kind);
        let busy = window(kind, &[0.0, 3.0, 3.0, 4000.0]);
        for (acc, w) in [(&empty, &empty), (&empty, &busy), (&busy, &empty), (&busy, &busy)] {
            both_ways(acc, &w.encode());
        }
    }
}

#[test]
fn negative_values_are_refused_by_the_kinds_without_them() {
    for kind in [SketchKind::Datadog, SketchKind::HdrHistogram] {
        let mut s = Sketch::with_defaults(kind);
        assert!(s.insert(-1.0).is_err(), "{kind}");
        assert!(s.is_empty(), "{kind}");
    }
}

#[test]
fn other_hdr_parameters_are_a_merge_error() {
    let acc = window(SketchKind::HdrHistogram, &[1.0, 50.0]);
    for params in [
        SketchParams {
            significant_digits: 2,
            ..SketchParams::default()
        },
        SketchParams {
            hdr_scale: 1.0,
            ..SketchParams::default()
        },
    ] {
        let mut other = Sketch::new(SketchKind::HdrHistogram, &params).expect("valid");
        other.insert_slice(&[3.0, 7.0, 4000.0]).expect("valid");
        let mut direct = acc.clone();
        let err = direct.merge_encoded(&other.encode());
        assert!(matches!(err, Err(MergeEncodedError::Merge(_))), "{err:?}");
        both_ways(&acc, &other.encode());
    }
}

/// A `datadog` sketch read from a protobuf with another mapping: merging
/// re-buckets its values (the general path), whichever side it is on.
#[test]
fn another_datadog_mapping_merges_as_decoding_then_merging_does() {
    use libdd_ddsketch::pb;
    use prost::Message;
    let message = pb::DdSketch {
        mapping: Some(pb::IndexMapping {
            gamma: 1.02,
            index_offset: 0.0,
            interpolation: pb::index_mapping::Interpolation::None.into(),
        }),
        positive_values: Some(pb::Store {
            contiguous_bin_counts: vec![1.0, 0.0, 2.0],
            contiguous_bin_index_offset: 40,
            ..Default::default()
        }),
        negative_values: None,
        zero_count: 1.0,
    };
    let other = Sketch::from_datadog_proto(SketchKind::Datadog, &message.encode_to_vec()).expect("valid");
    let acc = window(SketchKind::Datadog, &[1.0, 50.0]);
    let merged = both_ways(&acc, &other.encode());
    assert_eq!(merged.count(), acc.count() + other.count());
    both_ways(&other, &acc.encode());
}
