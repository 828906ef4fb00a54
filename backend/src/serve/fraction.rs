//! `GET /api/fraction?metric=..&filter=..&le=250&from=..&to=..&sketch=..`:
//! the share of the selected values ≤ `le` (or > `gt`) over the range,
//! from the merged sketch, with the bound its kind guarantees:
//! `{"count":N,"le":250,"fraction":0.9831,"bound":[lo,hi]}` (`bound` null
//! for momentsketch; `fraction` and `bound` null when the range is empty).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use serde::Serialize;
use shared::SketchKind;

use super::params::{bad, blocking, ApiError, Cut, Params};
use crate::ingest::Pipeline;

/// `/api/fraction`'s answer.
#[derive(Debug, Serialize)]
pub struct FractionDoc {
    /// The sketch kind merged.
    pub sketch: SketchKind,
    /// The metric.
    pub metric: String,
    /// Range start, Unix ms.
    pub from: i64,
    /// Range end (exclusive), Unix ms.
    pub to: i64,
    /// Values in the range.
    pub count: u64,
    /// `le`, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub le: Option<f64>,
    /// `gt`, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gt: Option<f64>,
    /// The share of the values the cut selects.
    pub fraction: Option<f64>,
    /// `[lo, hi]` around it (null: no bound).
    pub bound: Option<(f64, f64)>,
}

/// The handler.
pub async fn fraction(
    State(pipeline): State<Arc<Pipeline>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<FractionDoc>, ApiError> {
    let params = Params::new(params);
    params.only(&["sketch", "from", "to", "metric", "filter", "by", "le", "gt"])?;
    let kind = params.sketch(&pipeline)?;
    let range = params.range(&pipeline, pipeline.now_ms())?;
    let selection = params.selection(&pipeline)?;
    selection.ungrouped()?;
    let cut = params
        .cut()?
        .ok_or_else(|| bad("le", "give le=X (share of values ≤ X) or gt=X (share > X)"))?;
    let merged = blocking(move || {
        let group = selection.groups(&pipeline).pop().unwrap_or_default();
        let merged = pipeline
            .with_store(|s| s.merged_range(kind, range, &|id| group.has(id)))
            .ok_or_else(|| ApiError::Internal("window store poisoned".into()))?;
        Ok::<_, ApiError>((merged, selection.metric))
    })
    .await??;
    let (sketch, metric) = merged;
    let rank = sketch.as_ref().and_then(|s| cut.of(s));
    Ok(Json(FractionDoc {
        sketch: kind,
        metric,
        from: range.from,
        to: range.to,
        count: sketch.as_ref().map_or(0, shared::Sketch::count),
        le: matches!(cut, Cut::Le(_)).then(|| cut.value()),
        gt: matches!(cut, Cut::Gt(_)).then(|| cut.value()),
        fraction: rank.map(|r| r.fraction),
        bound: rank.and_then(|r| r.bound),
    }))
}
