//! merge(a, b) equals inserting everything, for every kind.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{checks, Distribution};
use proptest::prelude::*;
use shared::SketchKind;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn merging_halves_equals_inserting_everything(seed in any::<u64>(), n in 2usize..4000) {
        for kind in SketchKind::ALL {
            for dist in [Distribution::LogNormal, Distribution::Bimodal, Distribution::HdfsLike] {
                checks::merge_equals_insert_all(kind, dist, seed, n);
            }
        }
        checks::merge_equals_insert_all(SketchKind::QuantileFlow, Distribution::Signed, seed, n);
        checks::merge_equals_insert_all(SketchKind::MomentSketch, Distribution::Signed, seed, n);
    }
}

#[test]
fn merge_is_commutative_and_associative_for_quantileflow() {
    use shared::Sketch;
    let mut rng = common::Rng::new(7);
    let parts: Vec<Sketch> = (0..3)
        .map(|i| {
            let mut s = Sketch::with_defaults(SketchKind::QuantileFlow);
            s.insert_slice(&Distribution::LogNormal.sample(&mut rng, 500 + i * 300))
                .expect("valid");
            s
        })
        .collect();
    let fold = |order: [usize; 3]| {
        let mut acc = Sketch::with_defaults(SketchKind::QuantileFlow);
        for i in order {
            acc.merge(&parts[i]).expect("same params");
        }
        acc.quantiles(&common::QS).expect("non-empty")
    };
    assert_eq!(fold([0, 1, 2]), fold([2, 0, 1]));
    assert_eq!(fold([1, 2, 0]), fold([0, 2, 1]));
}

#[test]
fn mismatched_merges_are_errors() {
    checks::mismatched_merges_are_errors();
}

#[test]
fn decoded_sketches_merge_like_fresh_ones() {
    for kind in SketchKind::ALL {
        checks::decoded_sketches_merge_like_fresh_ones(kind);
    }
}

#[test]
fn merging_encoded_bytes_equals_decoding_then_merging() {
    for kind in SketchKind::ALL {
        for seed in [1, 2, 3] {
            checks::merge_encoded_equals_decode_then_merge(kind, seed);
        }
        checks::merge_encoded_refuses_bad_input_and_changes_nothing(kind);
    }
}

#[test]
fn hdr_v2_from_python_merges_straight_in_like_a_decoded_one() {
    common::interop::hdr_python_v2_merges_straight_in();
}
