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

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// `performance.now()` of the JS engine running the test (ms).
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// The `/bench` page's "merge from bytes" in this engine: 3,600 encoded
/// windows of 160 HDFS-like values folded into one sketch with
/// `merge_encoded`, then P50/P95/P99; one warm-up run (the engine compiles
/// hot code again after it), then median and best of 9 runs per kind,
/// printed (not asserted: timings depend on the machine). Run with
/// `--profile wasm-release -- --nocapture merge_encoded_3600` for the
/// dashboard's code generation and the printout.
#[wasm_bindgen_test]
fn merge_encoded_3600_timing_in_wasm() {
    let mut rng = common::Rng::new(71);
    let windows: Vec<Vec<f64>> = (0..3_600)
        .map(|_| Distribution::HdfsLike.sample(&mut rng, 160))
        .collect();
    for kind in SketchKind::ALL {
        let encoded: Vec<Vec<u8>> = windows
            .iter()
            .map(|values| {
                let mut s = shared::Sketch::with_defaults(kind);
                s.insert_slice(values).expect("valid values");
                s.encode()
            })
            .collect();
        for batch in [false, true] {
            let mut runs: Vec<f64> = (0..10)
                .map(|_| {
                    let start = performance_now();
                    let acc = merge_all(kind, &encoded, batch);
                    let p99 = acc.quantiles(&[0.5, 0.95, 0.99]).expect("not empty")[2];
                    assert!(p99 > 0.0);
                    performance_now() - start
                })
                .collect();
            runs.remove(0);
            runs.sort_by(f64::total_cmp);
            wasm_bindgen_test::console_log!(
                "merge_encoded_3600 {}{}: median {:.2} ms, best {:.2} ms (9 runs after a warm-up)",
                kind.name(),
                if batch { " (BatchMerge)" } else { "" },
                runs[4],
                runs[0]
            );
        }
    }
}

/// `encoded` folded into a sketch of `kind`, window by window with
/// `merge_encoded` or through `BatchMerge`.
fn merge_all(kind: SketchKind, encoded: &[Vec<u8>], batch: bool) -> shared::Sketch {
    let start = shared::Sketch::with_defaults(kind);
    if batch {
        let mut acc = shared::BatchMerge::new(start);
        for bytes in encoded {
            acc.merge_encoded(bytes).expect("same kind and parameters");
        }
        acc.finish().expect("flushes")
    } else {
        let mut acc = start;
        for bytes in encoded {
            acc.merge_encoded(bytes).expect("same kind and parameters");
        }
        acc
    }
}
