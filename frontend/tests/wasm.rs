//! The dashboard's data path in wasm32 (wasm-bindgen-test, Node.js):
//! frames decoded with the wire protocol, windows merged by the client store,
//! the same numbers as one sketch of every value.
#![cfg(target_arch = "wasm32")]

use frontend::frame;
use frontend::store::ClientStore;
use shared::protocol::{ServerMessage, WindowSnapshot};
use shared::{Sketch, SketchKind};
use wasm_bindgen_test::wasm_bindgen_test;

fn values(seed: u64, n: usize) -> Vec<f64> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            1.0 + (x % 100_000) as f64 / 10.0
        })
        .collect()
}

#[wasm_bindgen_test]
fn decoded_frames_merge_to_one_sketch_of_every_value() {
    for kind in SketchKind::ALL {
        let mut store = ClientStore::new();
        let mut all = Sketch::with_defaults(kind);
        let mut frames = Vec::new();
        for sec in 0..90i64 {
            for partition in 0..3 {
                let v = values((sec * 3 + partition) as u64 + 1, 50);
                all.insert_slice(&v).expect("positive values");
                let mut s = Sketch::with_defaults(kind);
                s.insert_slice(&v).expect("positive values");
                let w = WindowSnapshot {
                    series: 0,
                    topic: 0,
                    through_offset: 0,
                    partition: partition as i32,
                    window_start_ms: 1_764_072_000_000 + sec * 1000,
                    window_ms: 1000,
                    kind,
                    count: 50,
                    sketch: s.encode(),
                    first_offset: sec * 50,
                    last_offset: sec * 50 + 49,
                };
                frames.push(ServerMessage::Window(w).encode());
            }
        }
        for bytes in &frames {
            match ServerMessage::decode(bytes) {
                Ok(ServerMessage::Window(w)) => store.insert(&w).expect("stored"),
                other => panic!("unexpected {other:?}"),
            }
        }
        let (from, to) = (1_764_072_000_000, 1_764_072_089_999);
        let f = frame::frame(&mut store, kind, &[0.5, 0.99], from, to, 1000);
        assert_eq!(f.count, all.count(), "{kind}");
        let want = all.quantiles(&[0.5, 0.99]).expect("quantiles");
        for (r, w) in f.readouts.iter().zip(&want) {
            let got = r.value.expect("value");
            assert!((got - w).abs() <= 1e-6 * w, "{kind} {}: {got} vs {w}", r.label);
        }
        assert_eq!(f.series.points.len(), 90, "{kind}: one point per second");
    }
}

#[wasm_bindgen_test]
fn garbage_frames_and_sketches_are_refused_not_fatal() {
    assert!(ServerMessage::decode(&[0xff, 0x00, 0x13]).is_err());
    let mut store = ClientStore::new();
    let w = WindowSnapshot {
        series: 0,
        topic: 0,
        through_offset: 0,
        partition: 0,
        window_start_ms: 0,
        window_ms: 1000,
        kind: SketchKind::HdrHistogram,
        count: 1,
        sketch: vec![1, 2, 3],
        first_offset: 0,
        last_offset: 0,
    };
    assert!(store.insert(&w).is_err());
    assert_eq!(store.bad_sketches, 1);
    assert!(store.merged(SketchKind::HdrHistogram, 0, 10_000).is_none());
}
