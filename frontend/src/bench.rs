//! `/bench`: times, in this browser, merging 3,600 one-second window
//! sketches (an hour of history, 576,000 HDFS-like values) and reading
//! P50/P95/P99 — for each kind: a plain merge of decoded windows
//! (`merge_decoded_ms`), from their bytes as range merges do it
//! (`merge_from_bytes_ms`, [`BatchMerge`]) and window by window
//! (`merge_each_from_bytes_ms`, `Sketch::merge_encoded`), and through the
//! dashboard's store (minute aggregates, `store_range_ms`). The result is
//! shown as JSON in `[data-testid=bench-result]`.

use std::time::Duration;

use leptos::prelude::*;
use shared::protocol::WindowSnapshot;
use shared::{BatchMerge, Sketch, SketchKind};

use crate::store::ClientStore;

/// Windows merged per run.
pub const WINDOWS: usize = 3_600;
/// Values per window.
pub const VALUES_PER_WINDOW: usize = 160;

fn now_ms() -> f64 {
    window().performance().map_or(0.0, |p| p.now())
}

/// HDFS-like latencies (log-normal body, a slow mode), seeded.
fn latencies(seed: u64, n: usize) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut unit = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u, v) = (unit(), unit());
            let z = (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos();
            if unit() < 0.05 {
                50_000.0 + 4_000.0 * z.abs()
            } else {
                (8.5 + 0.9 * z).exp()
            }
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Timings of one kind, ms.
#[derive(Debug, Clone)]
struct KindResult {
    kind: SketchKind,
    merge_decoded_ms: Option<f64>,
    merge_from_bytes_ms: f64,
    merge_each_from_bytes_ms: f64,
    store_range_ms: f64,
    p99: f64,
}

fn bench_kind(kind: SketchKind, runs: usize) -> KindResult {
    let qs = [0.5, 0.95, 0.99];
    let windows: Vec<Vec<u8>> = (0..WINDOWS)
        .map(|i| {
            let mut s = Sketch::with_defaults(kind);
            let _ = s.insert_slice(&latencies(i as u64 + 1, VALUES_PER_WINDOW));
            s.encode()
        })
        .collect();
    // Decoded HDR windows would take ~140 KB each: only the others are kept decoded.
    let decoded: Option<Vec<Sketch>> = (kind != SketchKind::HdrHistogram)
        .then(|| windows.iter().filter_map(|b| Sketch::decode(b).ok()).collect());
    let mut p99 = 0.0;
    let merge_decoded_ms = decoded.as_ref().map(|decoded| {
        median(
            (0..runs)
                .map(|_| {
                    let t = now_ms();
                    let mut acc = Sketch::with_defaults(kind);
                    for s in decoded {
                        let _ = acc.merge(s);
                    }
                    p99 = acc.quantiles(&qs).map_or(0.0, |v| v[2]);
                    now_ms() - t
                })
                .collect(),
        )
    });
    // From bytes as the store's range merges do it (counts summed by index
    // and applied once), and window by window with `merge_encoded`.
    let merge_from_bytes_ms = median(
        (0..runs)
            .map(|_| {
                let t = now_ms();
                let mut acc = BatchMerge::new(Sketch::with_defaults(kind));
                for b in &windows {
                    let _ = acc.merge_encoded(b);
                }
                p99 = acc
                    .finish()
                    .ok()
                    .and_then(|s| s.quantiles(&qs).ok())
                    .map_or(0.0, |v| v[2]);
                now_ms() - t
            })
            .collect(),
    );
    let merge_each_from_bytes_ms = median(
        (0..runs.min(3))
            .map(|_| {
                let t = now_ms();
                let mut acc = Sketch::with_defaults(kind);
                for b in &windows {
                    let _ = acc.merge_encoded(b);
                }
                p99 = acc.quantiles(&qs).map_or(0.0, |v| v[2]);
                now_ms() - t
            })
            .collect(),
    );
    let mut store = ClientStore::new();
    let start = 1_764_072_000_000i64;
    for (i, b) in windows.into_iter().enumerate() {
        let _ = store.insert(&WindowSnapshot {
            series: 0,
            topic: 0,
            through_offset: 0,
            partition: 0,
            window_start_ms: start + i as i64 * 1000,
            window_ms: 1000,
            kind,
            count: VALUES_PER_WINDOW as u64,
            sketch: b,
            first_offset: 0,
            last_offset: 0,
        });
    }
    let to = start + WINDOWS as i64 * 1000 - 1;
    let store_range_ms = median(
        (0..runs)
            .map(|_| {
                let t = now_ms();
                let _ = store.merged(kind, start, to).map(|s| s.quantiles(&qs));
                now_ms() - t
            })
            .collect(),
    );
    KindResult {
        kind,
        merge_decoded_ms,
        merge_from_bytes_ms,
        merge_each_from_bytes_ms,
        store_range_ms,
        p99,
    }
}

/// The benchmark page.
#[component]
pub fn Bench() -> impl IntoView {
    let result = RwSignal::new(None::<String>);
    set_timeout(
        move || {
            let rows: Vec<String> = SketchKind::ALL
                .into_iter()
                .map(|kind| {
                    let r = bench_kind(kind, 9);
                    format!(
                        "{{\"kind\":\"{}\",\"merge_decoded_ms\":{},\"merge_from_bytes_ms\":{:.3},\"merge_each_from_bytes_ms\":{:.3},\"store_range_ms\":{:.3},\"p99\":{:.2}}}",
                        r.kind.name(),
                        r.merge_decoded_ms.map_or("null".to_owned(), |v| format!("{v:.3}")),
                        r.merge_from_bytes_ms,
                        r.merge_each_from_bytes_ms,
                        r.store_range_ms,
                        r.p99
                    )
                })
                .collect();
            result.set(Some(format!(
                "{{\"windows\":{WINDOWS},\"values_per_window\":{VALUES_PER_WINDOW},\"quantiles\":3,\"results\":[{}]}}",
                rows.join(",")
            )));
        },
        Duration::from_millis(50),
    );
    view! {
        <main class="page">
            <h1>"Browser merge benchmark"</h1>
            <p>{format!("Merging {WINDOWS} window sketches of {VALUES_PER_WINDOW} values and reading P50/P95/P99, median of runs (ms).")}</p>
            {move || match result.get() {
                None => view! { <p data-testid="bench-running">"running…"</p> }.into_any(),
                Some(json) => view! { <pre data-testid="bench-result">{json}</pre> }.into_any(),
            }}
        </main>
    }
}
