//! JSON API handlers and their parameter checks.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use shared::SketchKind;

use crate::ingest::Pipeline;
use crate::summary;

/// A 400 naming the parameter at fault.
#[derive(Debug)]
pub struct BadParam {
    /// The parameter.
    pub param: String,
    /// What is wrong with it.
    pub message: String,
}

impl IntoResponse for BadParam {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": self.message, "param": self.param}));
        (StatusCode::BAD_REQUEST, body).into_response()
    }
}

fn bad(param: &str, message: impl Into<String>) -> BadParam {
    BadParam {
        param: param.to_owned(),
        message: message.into(),
    }
}

/// Fails on any parameter not in `allowed`.
pub fn only(params: &HashMap<String, String>, allowed: &[&str]) -> Result<(), BadParam> {
    match params.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(bad(
            k,
            format!("unknown parameter {k:?}; allowed: {}", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

/// `sketch=KIND`, defaulting to the pipeline's default kind; must be enabled.
pub fn sketch_param(pipeline: &Pipeline, params: &HashMap<String, String>) -> Result<SketchKind, BadParam> {
    let kind = match params.get("sketch") {
        None => pipeline.config.default_kind,
        Some(s) => s
            .parse::<SketchKind>()
            .map_err(|e| bad("sketch", e.to_string()))?,
    };
    if !pipeline.config.kinds.contains(&kind) {
        return Err(bad(
            "sketch",
            format!("sketch {kind} is not enabled (see --sketches)"),
        ));
    }
    Ok(kind)
}

/// `q=0.5,0.95,0.99` (default), each in [0, 1], at most 32.
pub fn quantiles_param(params: &HashMap<String, String>) -> Result<Vec<(String, f64)>, BadParam> {
    let text = params.get("q").map_or("0.5,0.95,0.99", String::as_str);
    let qs: Vec<(String, f64)> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<f64>() {
            Ok(q) if (0.0..=1.0).contains(&q) => Ok((s.to_owned(), q)),
            _ => Err(bad(
                "q",
                format!("{s:?} is not a quantile in [0, 1] (write 0.99, not 99)"),
            )),
        })
        .collect::<Result<_, _>>()?;
    if qs.is_empty() || qs.len() > 32 {
        return Err(bad("q", "give between 1 and 32 quantiles"));
    }
    Ok(qs)
}

/// `GET /api/summary?sketch=KIND&q=0.5,0.95,0.99`
pub async fn summary(
    State(pipeline): State<Arc<Pipeline>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<summary::Summary>, BadParam> {
    only(&params, &["sketch", "q"])?;
    let kind = sketch_param(&pipeline, &params)?;
    let qs = quantiles_param(&params)?;
    let pipeline = pipeline.clone();
    // Merging the retained windows is CPU work: keep it off the async workers.
    let doc = tokio::task::spawn_blocking(move || summary::build(&pipeline, kind, &qs))
        .await
        .map_err(|e| bad("", format!("summary failed: {e}")))?;
    Ok(Json(doc))
}

/// `GET /readyz`: 200 once partitions are assigned.
pub async fn readyz(State(pipeline): State<Arc<Pipeline>>) -> (StatusCode, &'static str) {
    if pipeline.ready.load(Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for partition assignment",
        )
    }
}

/// Longest range a query may cover.
pub const MAX_RANGE_MS: i64 = 31 * 24 * 3_600_000;
/// Most points a series may have.
pub const MAX_POINTS: i64 = 10_000;

pub use shared::time_spec::parse_time;

/// `from` and `to` (defaults: the whole retention up to now), checked.
pub fn range_params(pipeline: &Pipeline, params: &HashMap<String, String>) -> Result<(i64, i64), BadParam> {
    let now = crate::ingest::now_ms();
    let retention = i64::try_from(pipeline.config.retention_ms).unwrap_or(i64::MAX);
    let from = match params.get("from") {
        None => now.saturating_sub(retention),
        Some(s) => parse_time(s, now).ok_or_else(|| {
            bad(
                "from",
                format!("{s:?} is not epoch ms, now or now-<n>(ms|s|m|h|d)"),
            )
        })?,
    };
    let to = match params.get("to") {
        None => now,
        Some(s) => parse_time(s, now)
            .ok_or_else(|| bad("to", format!("{s:?} is not epoch ms, now or now-<n>(ms|s|m|h|d)")))?,
    };
    if from > to {
        return Err(bad("from", "from is after to"));
    }
    if to - from > MAX_RANGE_MS {
        return Err(bad("from", "range longer than 31 days"));
    }
    Ok((from, to))
}

/// `GET /api/exact?q=..&from=..&to=..`: the true quantiles of the values
/// whose window starts in the range (404 unless started with `--exact`).
pub async fn exact(
    State(pipeline): State<Arc<Pipeline>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, BadParam> {
    only(&params, &["q", "from", "to"])?;
    let qs = quantiles_param(&params)?;
    let (from, to) = range_params(&pipeline, &params)?;
    if pipeline.exact.is_none() {
        let body = Json(json!({"error": "no exact reference: start mss with --exact"}));
        return Ok((StatusCode::NOT_FOUND, body).into_response());
    }
    let p = pipeline.clone();
    let q: Vec<f64> = qs.iter().map(|q| q.1).collect();
    let result = tokio::task::spawn_blocking(move || p.exact.as_ref().map(|e| e.quantiles(from, to, &q)))
        .await
        .ok()
        .flatten();
    let (count, values) = result.map_or((0, vec![None; qs.len()]), |r| (r.count, r.values));
    let quantiles: serde_json::Map<String, serde_json::Value> = qs
        .into_iter()
        .zip(values)
        .map(|((k, _), v)| (k, json!(v)))
        .collect();
    Ok(Json(json!({"from": from, "to": to, "count": count, "quantiles": quantiles})).into_response())
}

/// `GET /api/quantiles?sketch=KIND&q=..&from=..&to=..`: the closed windows
/// in the range, merged on the server.
pub async fn quantiles(
    State(pipeline): State<Arc<Pipeline>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, BadParam> {
    only(&params, &["sketch", "q", "from", "to"])?;
    let kind = sketch_param(&pipeline, &params)?;
    let qs = quantiles_param(&params)?;
    let (from, to) = range_params(&pipeline, &params)?;
    let p = pipeline.clone();
    let merged =
        tokio::task::spawn_blocking(move || p.store.lock().ok().and_then(|s| s.merged_range(kind, from, to)))
            .await
            .ok()
            .flatten();
    let mut doc =
        json!({"sketch": kind, "from": from, "to": to, "count": 0, "min": null, "max": null, "mean": null});
    let mut values = serde_json::Map::new();
    for (k, _) in &qs {
        values.insert(k.clone(), serde_json::Value::Null);
    }
    if let Some(s) = merged.filter(|s| !s.is_empty()) {
        doc["count"] = json!(s.count());
        doc["min"] = json!(s.min());
        doc["max"] = json!(s.max());
        doc["mean"] = json!(s.mean());
        match s.quantiles(&qs.iter().map(|q| q.1).collect::<Vec<_>>()) {
            Ok(v) => {
                for ((k, _), v) in qs.iter().zip(v) {
                    values.insert(k.clone(), json!(v));
                }
            }
            Err(e) => doc["quantile_error"] = json!(e.to_string()),
        }
    }
    doc["quantiles"] = serde_json::Value::Object(values);
    Ok(Json(doc))
}

/// One point of a series.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeriesPoint {
    /// Bucket start, Unix epoch ms.
    pub t: i64,
    /// Values in the bucket.
    pub count: u64,
    /// Quantiles of the bucket (null where the sketch cannot answer).
    pub quantiles: serde_json::Map<String, serde_json::Value>,
}

/// The points of `/api/series` (also used by the chart endpoint).
pub fn series_points(
    pipeline: &Pipeline,
    kind: SketchKind,
    qs: &[(String, f64)],
    from: i64,
    to: i64,
    step: i64,
) -> Vec<SeriesPoint> {
    let buckets = pipeline
        .store
        .lock()
        .map(|s| s.series(kind, from, to, step))
        .unwrap_or_default();
    let values: Vec<f64> = qs.iter().map(|q| q.1).collect();
    buckets
        .into_iter()
        .map(|(t, sketch)| {
            let estimates = sketch.quantiles(&values).ok();
            let quantiles = qs
                .iter()
                .enumerate()
                .map(|(i, (k, _))| {
                    (
                        k.clone(),
                        estimates
                            .as_ref()
                            .map_or(serde_json::Value::Null, |e| json!(e[i])),
                    )
                })
                .collect();
            SeriesPoint {
                t,
                count: sketch.count(),
                quantiles,
            }
        })
        .collect()
}

/// `step` (ms, or with a unit like `10s`), default: range / 300, at least one window.
pub fn step_param(
    pipeline: &Pipeline,
    params: &HashMap<String, String>,
    from: i64,
    to: i64,
) -> Result<i64, BadParam> {
    let window = i64::try_from(pipeline.config.window_ms).unwrap_or(1000).max(1);
    let step = match params.get("step") {
        None => ((to - from) / 300).max(window),
        Some(s) => shared::time_spec::parse_span_ms(s)
            .or_else(|| s.parse().ok())
            .filter(|v| *v > 0)
            .ok_or_else(|| {
                bad(
                    "step",
                    format!("{s:?} is not a positive duration (ms, or like 10s, 1m)"),
                )
            })?,
    };
    let step = step.max(window);
    if (to - from) / step > MAX_POINTS {
        return Err(bad(
            "step",
            format!("more than {MAX_POINTS} points; use a larger step"),
        ));
    }
    Ok(step)
}

/// `GET /api/series?sketch=..&q=..&from=..&to=..&step=..[&format=csv]`
pub async fn series(
    State(pipeline): State<Arc<Pipeline>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, BadParam> {
    only(&params, &["sketch", "q", "from", "to", "step", "format"])?;
    let kind = sketch_param(&pipeline, &params)?;
    let qs = quantiles_param(&params)?;
    let (from, to) = range_params(&pipeline, &params)?;
    let step = step_param(&pipeline, &params, from, to)?;
    let csv = match params.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(bad("format", format!("{other:?}: use json or csv"))),
    };
    let p = pipeline.clone();
    let q2 = qs.clone();
    let points = tokio::task::spawn_blocking(move || series_points(&p, kind, &q2, from, to, step))
        .await
        .map_err(|e| bad("", e.to_string()))?;
    if csv {
        let mut out = String::from("t,count");
        for (k, _) in &qs {
            out.push_str(&format!(",q{k}"));
        }
        out.push('\n');
        for p in &points {
            out.push_str(&format!("{},{}", p.t, p.count));
            for (k, _) in &qs {
                match p.quantiles.get(k).and_then(serde_json::Value::as_f64) {
                    Some(v) => out.push_str(&format!(",{v}")),
                    None => out.push(','),
                }
            }
            out.push('\n');
        }
        return Ok((
            [(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            out,
        )
            .into_response());
    }
    Ok(Json(json!({"sketch": kind, "from": from, "to": to, "step": step, "q": qs.iter().map(|q| q.0.clone()).collect::<Vec<_>>(), "points": points})).into_response())
}

fn bounded(
    params: &HashMap<String, String>,
    name: &str,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, BadParam> {
    match params.get(name) {
        None => Ok(default),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|v| range.contains(v))
            .ok_or_else(|| {
                bad(
                    name,
                    format!(
                        "{s:?}: give a whole number of pixels in {}..={}",
                        range.start(),
                        range.end()
                    ),
                )
            }),
    }
}

/// `GET /api/chart.svg?sketch=..&q=..&from=..&to=..&theme=light|dark&width=..&height=..`:
/// the percentiles-over-time chart as SVG, drawn by the same code as the dashboard.
pub async fn chart_svg(
    State(pipeline): State<Arc<Pipeline>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, BadParam> {
    only(
        &params,
        &["sketch", "q", "from", "to", "step", "theme", "width", "height"],
    )?;
    let kind = sketch_param(&pipeline, &params)?;
    let qs = quantiles_param(&params)?;
    let (from, to) = range_params(&pipeline, &params)?;
    let step = step_param(&pipeline, &params, from, to)?;
    let theme: shared::chart::Theme = params
        .get("theme")
        .map_or("light", String::as_str)
        .parse()
        .map_err(|e: String| bad("theme", e))?;
    let width = bounded(&params, "width", 800, 100..=4000)?;
    let height = bounded(&params, "height", 320, 100..=3000)?;
    let p = pipeline.clone();
    let svg = tokio::task::spawn_blocking(move || {
        let points = series_points(&p, kind, &qs, from, to, step);
        let series = shared::chart::PercentileSeries {
            title: format!("{kind} percentiles"),
            range_ms: Some((from, to)),
            labels: qs.iter().map(|(_, q)| format!("P{}", q * 100.0)).collect(),
            points: points
                .iter()
                .map(|pt| {
                    (
                        pt.t,
                        qs.iter()
                            .map(|(k, _)| pt.quantiles.get(k).and_then(serde_json::Value::as_f64))
                            .collect(),
                    )
                })
                .collect(),
        };
        let mut svg = String::new();
        {
            use plotters::prelude::IntoDrawingArea;
            let root =
                plotters::backend::SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
            shared::chart::draw_percentiles(&root, &series, theme).map_err(|e| e.to_string())?;
        }
        Ok::<String, String>(svg)
    })
    .await
    .map_err(|e| bad("", e.to_string()))?
    .map_err(|e| bad("", e))?;
    Ok(([(axum::http::header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}
