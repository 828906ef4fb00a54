//! `GET /metrics`: Prometheus text exposition.
//!
//! Counters recorded where things happen (`mss_rejected_total{source,reason}`,
//! `mss_ws_resyncs_total`, `mss_ws_dropped_windows_total`), gauges and
//! histograms (`mss_ws_clients`, `mss_window_close_seconds`), plus values
//! read from the pipeline at scrape time: `mss_messages_processed_total`,
//! `mss_ignored_after_revoke_total`, `mss_out_of_order_total`,
//! `mss_offsets_skipped_total`,
//! `mss_produced_total`, `mss_windows_closed_total`, `mss_poisoned_locks_total`,
//! `mss_partition_lag{partition}`, `mss_partition_offset{partition}`.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::ingest::Pipeline;

/// The process-wide Prometheus recorder (installed on first use).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (tests); then ours only renders.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Renders the metrics.
pub async fn render(State(pipeline): State<Arc<Pipeline>>) -> impl IntoResponse {
    let s = &pipeline.stats;
    metrics::counter!("mss_messages_processed_total").absolute(s.messages.load(Relaxed));
    metrics::counter!("mss_ignored_after_revoke_total").absolute(s.ignored_after_revoke.load(Relaxed));
    metrics::counter!("mss_out_of_order_total").absolute(s.out_of_order.load(Relaxed));
    metrics::counter!("mss_offsets_skipped_total").absolute(s.offsets_skipped.load(Relaxed));
    metrics::counter!("mss_produced_total").absolute(s.produced.load(Relaxed));
    metrics::counter!("mss_windows_closed_total").absolute(s.windows_closed.load(Relaxed));
    metrics::counter!("mss_poisoned_locks_total").absolute(pipeline.poisoned_locks());
    for (p, pos) in &pipeline.positions() {
        let (topic, partition) = (pipeline.topic_name(p.topic), p.partition.to_string());
        metrics::gauge!("mss_partition_lag", "topic" => topic.clone(), "partition" => partition.clone())
            .set(pos.lag() as f64);
        metrics::gauge!("mss_partition_offset", "topic" => topic, "partition" => partition)
            .set(pos.offset_or_none() as f64);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle().render(),
    )
}
