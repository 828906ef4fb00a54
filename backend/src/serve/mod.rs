//! The HTTP side: JSON API, static dashboard files with an SPA fallback,
//! health checks.

pub mod access;
pub mod api;
pub mod fraction;
pub mod metrics;
pub mod params;
pub mod slos;
pub mod ws;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use axum::http::{header, HeaderValue};
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::ingest::Pipeline;

/// Page shown when the frontend has not been built.
const NOT_BUILT: &str = "<!doctype html><title>mss</title><h1>The dashboard is not built</h1>\
<p>Build it with <code>trunk build --release</code> (or run <code>bash scripts/run.sh</code>), \
then reload. The API under <code>/api/</code> works without it.</p>";

/// The router: the API, the WebSocket stream, health checks, and the
/// dashboard from `static_dir`. `shutdown` closes the WebSocket clients.
pub fn router(pipeline: Arc<Pipeline>, static_dir: &Path, shutdown: CancellationToken) -> Router {
    // Install the recorder before anything records.
    metrics::handle();
    let ws_state = ws::WsState::new(pipeline.clone(), shutdown);
    let stream = Router::new().route("/ws", get(ws::upgrade)).with_state(ws_state);
    let api = Router::new()
        .route("/api/summary", get(api::summary))
        .route("/api/quantiles", get(api::quantiles))
        .route("/api/exact", get(api::exact))
        .route("/api/series", get(api::series))
        .route("/api/chart.svg", get(api::chart_svg))
        .route("/api/metrics", get(api::metrics))
        .route("/api/fraction", get(fraction::fraction))
        .route("/api/slos", get(slos::slos))
        .route("/api/alerts", get(slos::alerts))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(metrics::render))
        .with_state(pipeline)
        .merge(stream);
    let index = static_dir.join("index.html");
    if index.is_file() {
        // Unknown paths (deep links such as /embed?...) get index.html.
        api.fallback_service(ServeDir::new(static_dir).fallback(ServeFile::new(index)))
    } else {
        api.fallback(|| async { Html(NOT_BUILT) })
    }
}

/// Adds `Content-Security-Policy: frame-ancestors <origins>` to every
/// response: which pages may embed the dashboard and its charts in an iframe.
/// `'self'` (the default) allows only this server's own pages; add a team
/// wiki with e.g. `--embed-origins "'self',https://wiki.example.com"`.
pub fn with_embed_policy(router: Router, origins: &[String]) -> anyhow::Result<Router> {
    let list: Vec<&str> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    let list = if list.is_empty() { vec!["'self'"] } else { list };
    let value = HeaderValue::from_str(&format!("frame-ancestors {}", list.join(" ")))
        .map_err(|_| anyhow::anyhow!("--embed-origins holds characters not allowed in a header"))?;
    Ok(router.layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        value,
    )))
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
