//! The sketch checks again, compiled to `wasm32-unknown-unknown` and run by
//! `wasm-bindgen-test-runner` in Node.js:
//! `cargo test -p shared --target wasm32-unknown-unknown --test wasm`.
#![cfg(target_arch = "wasm32")]

mod common;

use common::{checks, interop, Distribution};
use shared::SketchKind;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn quantileflow_within_alpha_in_wasm() {
    for (i, dist) in Distribution::POSITIVE
        .into_iter()
        .chain([Distribution::Signed])
        .enumerate()
    {
        checks::quantileflow_within_alpha(dist, 11 + i as u64, 3000);
    }
}

#[wasm_bindgen_test]
fn other_kinds_within_their_guarantees_in_wasm() {
    for (i, dist) in Distribution::POSITIVE.into_iter().enumerate() {
        checks::datadog_within_alpha(dist, 21 + i as u64, 3000);
        checks::hdr_within_digits(dist, 31 + i as u64, 3000);
    }
    let (mean, _) = checks::momentsketch_rank_error(Distribution::LogNormal, 41, 20_000, false);
    assert!(mean <= 0.01, "momentsketch mean rank error {mean}");
}

#[wasm_bindgen_test]
fn merge_equals_insert_all_in_wasm() {
    for kind in SketchKind::ALL {
        checks::merge_equals_insert_all(kind, Distribution::HdfsLike, 51, 2500);
    }
    checks::mismatched_merges_are_errors();
    for kind in SketchKind::ALL {
        checks::decoded_sketches_merge_like_fresh_ones(kind);
        checks::merge_encoded_equals_decode_then_merge(kind, 3);
        checks::merge_encoded_refuses_bad_input_and_changes_nothing(kind);
    }
}

#[wasm_bindgen_test]
fn encodings_round_trip_in_wasm() {
    let values = Distribution::HdfsLike.sample(&mut common::Rng::new(61), 1000);
    for kind in SketchKind::ALL {
        checks::encode_round_trip(kind, &values);
    }
}

#[wasm_bindgen_test]
fn python_interop_in_wasm() {
    interop::quantileflow_matches_python_values();
    interop::quantileflow_reads_python_protobuf();
    interop::hdr_reads_python_v2();
}
