//! Fuzzing every decoder of the sketch crate with proptest: arbitrary bytes
//! and mutated valid encodings into sketch decoders (native, Datadog
//! protobuf, HDR V2, merge-from-bytes), the WebSocket protocol in both
//! directions, and the filter, group-by and time parsers. Each must answer
//! with a value or an error, never panic. The suite runs a few hundred cases
//! per target; `scripts/fuzz.sh` runs a million (`MSS_FUZZ_CASES`).

mod common;

use proptest::prelude::*;
use shared::filter::{Filter, GroupBy};
use shared::protocol::{ClientMessage, ServerMessage};
use shared::{Sketch, SketchKind};

/// Cases per target: `MSS_FUZZ_CASES`, default 256.
fn config() -> ProptestConfig {
    let cases = std::env::var("MSS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..512)
}

/// A valid encoding of `kind` in each format, mutated by `flips` and cut at `cut`.
fn mutated(
    kind: SketchKind,
    seed: u64,
    flips: &[(prop::sample::Index, u8)],
    cut: prop::sample::Index,
) -> Vec<Vec<u8>> {
    let mut s = Sketch::with_defaults(kind);
    let values = common::Distribution::HdfsLike.sample(&mut common::Rng::new(seed), 200);
    if s.insert_slice(&values).is_err() {
        return Vec::new();
    }
    let formats = [
        Some(s.encode()),
        s.to_datadog_proto().ok(),
        s.to_hdr_v2(true).ok(),
        s.to_hdr_v2(false).ok(),
    ];
    formats
        .into_iter()
        .flatten()
        .map(|mut b| {
            for (i, x) in flips {
                let at = i.index(b.len());
                b[at] ^= x;
            }
            let keep = cut.index(b.len() + 1);
            b.truncate(keep.max(1));
            b
        })
        .collect()
}

fn decode_everywhere(b: &[u8]) {
    if let Ok(s) = Sketch::decode(b) {
        let _ = s.quantiles(&[0.5, 0.99]);
        let _ = s.rank(100.0);
        let _ = s.mass_points();
    }
    for kind in [SketchKind::QuantileFlow, SketchKind::Datadog] {
        let _ = Sketch::from_datadog_proto(kind, b).map(|s| s.quantiles(&[0.5]));
    }
    let _ = Sketch::from_hdr_v2(b).map(|s| s.quantiles(&[0.5]));
    for kind in SketchKind::ALL {
        let mut s = Sketch::with_defaults(kind);
        let _ = s.merge_encoded(b);
    }
}

fn kind() -> impl Strategy<Value = SketchKind> {
    prop::sample::select(SketchKind::ALL.to_vec())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sketch_decoders_take_any_bytes(b in bytes()) {
        decode_everywhere(&b);
    }

    #[test]
    fn sketch_decoders_take_mutated_encodings(
        kind in kind(),
        seed in any::<u64>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        for b in mutated(kind, seed, &flips, cut) {
            decode_everywhere(&b);
        }
    }

    #[test]
    fn protocol_frames_take_any_bytes(b in bytes()) {
        let _ = ClientMessage::peek_version(&b);
        let _ = ClientMessage::decode(&b);
        let _ = ServerMessage::decode(&b);
    }

    #[test]
    fn protocol_frames_take_mutated_frames(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        metric in "[a-z.]{1,20}",
        filter in ".{0,40}",
    ) {
        let m = ClientMessage::Subscribe {
            protocol_version: shared::protocol::PROTOCOL_VERSION,
            kinds: Some(SketchKind::ALL.to_vec()),
            partitions: Some(vec![0, 1, 2]),
            history_from_ms: Some(1_700_000_000_000),
            metric: Some(metric),
            filter: Some(filter),
        };
        let mut b = m.encode();
        for (i, x) in &flips {
            let at = i.index(b.len());
            b[at] ^= x;
        }
        let _ = ClientMessage::decode(&b);
        let _ = ServerMessage::decode(&b);
    }

    #[test]
    fn text_parsers_take_any_text(text in ".{0,200}") {
        if let Ok(f) = Filter::parse(&text) {
            // What parses prints back to an equal filter.
            prop_assert_eq!(Filter::parse(&f.to_text()), Ok(f));
        }
        let _ = GroupBy::parse(&text);
        let _ = shared::time_spec::parse_time(&text, 1_700_000_000_000);
        let _ = shared::time_spec::parse_span_ms(&text);
    }
}
