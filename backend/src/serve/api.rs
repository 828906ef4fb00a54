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
