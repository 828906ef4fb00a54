//! Encodings round-trip, and decoding untrusted bytes never panics.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::checks;
use proptest::prelude::*;
use shared::{Sketch, SketchKind};

fn kind_strategy() -> impl Strategy<Value = SketchKind> {
    prop::sample::select(SketchKind::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn native_encoding_round_trips(kind in kind_strategy(), values in prop::collection::vec(-1e6f64..1e7, 0..600)) {
        checks::encode_round_trip(kind, &values);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = Sketch::decode(&bytes);
        let _ = Sketch::from_datadog_proto(SketchKind::QuantileFlow, &bytes);
        let _ = Sketch::from_datadog_proto(SketchKind::Datadog, &bytes);
        let _ = Sketch::from_hdr_v2(&bytes);
    }

    #[test]
    fn corrupted_encodings_never_panic(kind in kind_strategy(), seed in any::<u64>(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), cut in any::<prop::sample::Index>()) {
        let mut s = Sketch::with_defaults(kind);
        s.insert_slice(&common::Distribution::HdfsLike.sample(&mut common::Rng::new(seed), 300)).expect("valid");
        let mut bytes = s.encode();
        for (i, b) in &flips {
            let at = i.index(bytes.len());
            bytes[at] ^= b;
        }
        if let Ok(d) = Sketch::decode(&bytes) {
            let _ = d.quantiles(&common::QS);
        }
        let truncated = &s.encode()[..cut.index(s.encode().len())];
        prop_assert!(Sketch::decode(truncated).is_err());
        for foreign in [s.to_datadog_proto().ok(), s.to_hdr_v2(true).ok(), s.to_hdr_v2(false).ok()].into_iter().flatten() {
            let mut f = foreign.clone();
            for (i, b) in &flips {
                let at = i.index(f.len());
                f[at] ^= b;
            }
            let _ = Sketch::from_datadog_proto(SketchKind::QuantileFlow, &f).map(|d| d.quantiles(&common::QS));
            let _ = Sketch::from_datadog_proto(SketchKind::Datadog, &f).map(|d| d.quantiles(&common::QS));
            let _ = Sketch::from_hdr_v2(&f).map(|d| d.quantiles(&common::QS));
        }
    }
}

#[test]
fn wrong_magic_version_and_kind_are_clear_errors() {
    use shared::DecodeError;
    let s = Sketch::with_defaults(SketchKind::HdrHistogram).encode();
    let mut bad = s.clone();
    bad[0] = 0;
    assert_eq!(Sketch::decode(&bad).err(), Some(DecodeError::BadMagic(0)));
    let mut bad = s.clone();
    bad[1] = 99;
    assert_eq!(
        Sketch::decode(&bad).err(),
        Some(DecodeError::UnsupportedVersion(99))
    );
    assert!(matches!(
        Sketch::decode_kind(SketchKind::QuantileFlow, &s),
        Err(DecodeError::WrongKind { .. })
    ));
}

#[test]
fn hdfs_like_window_encodings_are_compact() {
    // One second of one partition at the seed's pace is ~300 values.
    let values = common::Distribution::HdfsLike.sample(&mut common::Rng::new(3), 300);
    for kind in SketchKind::ALL {
        let mut s = Sketch::with_defaults(kind);
        s.insert_slice(&values).expect("valid");
        let len = s.encode().len();
        assert!(len <= 4096, "{kind}: {len} bytes");
    }
}
