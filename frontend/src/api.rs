//! The HTTP API calls of the page (`/api/metrics`, `/api/exact`), with the
//! page's `?token=` forwarded.

use std::collections::BTreeMap;

use leptos::prelude::window;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// One tag key of a metric (`/api/metrics`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TagInfo {
    /// Distinct values.
    pub values: usize,
    /// The most frequent values with their value counts.
    pub top: Vec<(String, u64)>,
}

/// One metric (`/api/metrics`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MetricInfo {
    /// Metric name.
    pub metric: String,
    /// Unit of its values.
    pub unit: String,
    /// Series of the metric.
    pub series: usize,
    /// Per tag key.
    pub tags: BTreeMap<String, TagInfo>,
}

/// `GET path` as JSON; `Ok(None)` on 404.
pub async fn get_json<T: DeserializeOwned>(path: &str) -> Result<Option<T>, String> {
    let err = |e: wasm_bindgen::JsValue| format!("{path}: {e:?}");
    let url = crate::view_state::with_token(path, crate::page::access_token());
    let response: web_sys::Response = JsFuture::from(window().fetch_with_str(&url))
        .await
        .map_err(err)?
        .dyn_into()
        .map_err(err)?;
    if response.status() == 404 {
        return Ok(None);
    }
    if !response.ok() {
        return Err(format!("{path} answered {}", response.status()));
    }
    let text = JsFuture::from(response.text().map_err(err)?).await.map_err(err)?;
    let text = text.as_string().unwrap_or_default();
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("{path}: {e}"))
}

/// Every metric with its unit, series and tag values.
pub async fn metrics() -> Result<Vec<MetricInfo>, String> {
    get_json("/api/metrics").await.map(Option::unwrap_or_default)
}

/// `/api/exact`'s answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct ExactDoc {
    count: u64,
    quantiles: BTreeMap<String, Option<f64>>,
}

/// The exact quantiles of a range, from `/api/exact` (servers started with
/// `--exact`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExactRow {
    /// Values in the range.
    pub count: u64,
    /// One per requested quantile.
    pub values: Vec<Option<f64>>,
}

/// Fetches `/api/exact` for the page's `selection` (`&metric=..&filter=..`
/// or empty); `Ok(None)` when the server keeps no reference.
pub async fn exact(from: i64, to: i64, qs: &[f64], selection: &str) -> Result<Option<ExactRow>, String> {
    let keys: Vec<String> = qs.iter().map(|q| q.to_string()).collect();
    let path = format!("/api/exact?q={}&from={from}&to={to}{selection}", keys.join(","));
    let doc: Option<ExactDoc> = get_json(&path).await?;
    Ok(doc.map(|d| ExactRow {
        count: d.count,
        values: keys
            .iter()
            .map(|k| d.quantiles.get(k).copied().flatten())
            .collect(),
    }))
}

/// One window of an SLO (`/api/slos`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SloWindow {
    /// `5m`, `1h`, `retention`.
    pub window: String,
    /// Values in it.
    pub count: u64,
    /// Share of them ≤ `le`.
    pub good_ratio: Option<f64>,
    /// Burn rate.
    pub burn_rate: Option<f64>,
}

/// An SLO (`/api/slos`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Slo {
    /// Name.
    pub name: String,
    /// Metric.
    pub metric: String,
    /// Filter text.
    pub filter: String,
    /// Good means ≤ this.
    pub le: f64,
    /// Target, percent.
    pub objective: f64,
    /// Per window.
    pub windows: Vec<SloWindow>,
    /// Error budget left over the retention.
    pub budget_left: Option<f64>,
    /// Whether a fast-burn page would fire.
    pub pages: bool,
}

/// A firing period of an alert.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AlertSpan {
    /// Start, Unix ms.
    pub from_ms: i64,
    /// End (`None`: still firing).
    pub to_ms: Option<i64>,
}

/// An alert (`/api/alerts`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Alert {
    /// Name.
    pub name: String,
    /// `inactive`, `pending`, `firing`, `resolved`.
    pub state: String,
    /// Since when, Unix ms.
    pub since_ms: Option<i64>,
    /// The compared value.
    pub value: Option<f64>,
    /// What it watches.
    pub summary: String,
    /// Firing periods.
    pub spans: Vec<AlertSpan>,
}

/// The server's SLOs (empty when none are defined).
pub async fn slos() -> Result<Vec<Slo>, String> {
    get_json("/api/slos").await.map(Option::unwrap_or_default)
}

/// The server's alerts (empty when none are defined).
pub async fn alerts() -> Result<Vec<Alert>, String> {
    get_json("/api/alerts").await.map(Option::unwrap_or_default)
}
