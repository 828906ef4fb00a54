//! An in-process pipeline served on a loopback port (no broker): windows
//! published straight into it, the HTTP API and `/ws` on port 0.

use std::sync::Arc;

use backend::clock::now_ms;
use backend::ingest::{IngestConfig, Pipeline};
use backend::window::{PartitionWindows, WindowConfig};
use shared::protocol::SeriesId;
use shared::{SketchKind, SketchParams};
use tokio_util::sync::CancellationToken;

/// A pipeline of every kind, 1 s windows, an hour kept fine.
pub fn pipeline() -> Arc<Pipeline> {
    Pipeline::new(IngestConfig {
        kinds: SketchKind::ALL.to_vec(),
        default_kind: SketchKind::QuantileFlow,
        params: SketchParams::default(),
        window_ms: 1000,
        retention_ms: 3_600_000,
        fine_retention_ms: 3_600_000,
        exact: false,
        ..Default::default()
    })
    .expect("valid config")
}

/// Publishes one window per kind of the default series for `partition` at `start_ms`.
pub fn publish(p: &Pipeline, partition: i32, start_ms: i64, values: &[f64]) {
    publish_series(p, p.default_series(), partition, start_ms, values);
}

/// Publishes one window per kind of `series` for `partition` at `start_ms`.
pub fn publish_series(p: &Pipeline, series: SeriesId, partition: i32, start_ms: i64, values: &[f64]) {
    let mut w = PartitionWindows::new(
        0,
        partition,
        WindowConfig::with_window(1000),
        &SketchKind::ALL,
        &SketchParams::default(),
    )
    .expect("valid");
    for (i, &v) in values.iter().enumerate() {
        let _ = w.insert(i as i64, series, v, start_ms, now_ms(), "blk_t");
    }
    if let Some(cut) = w.cut() {
        p.publish(cut);
    }
}

/// Serves `p` on a free loopback port; cancel the token to stop.
pub async fn start(p: Arc<Pipeline>) -> (u16, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let shutdown = CancellationToken::new();
    let router = backend::serve::router(p, std::path::Path::new("/nonexistent"), shutdown.clone());
    tokio::spawn(backend::serve::run(
        listener,
        router,
        shutdown.clone().cancelled_owned(),
    ));
    (port, shutdown)
}

/// `GET path` → (status, body).
pub async fn get(port: u16, path: &str) -> (u16, String) {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || super::http_get(port, &path).expect("HTTP answer"))
        .await
        .expect("request task")
}
