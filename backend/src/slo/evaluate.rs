//! Reading SLOs and alert rules off the retained windows: every number is
//! the merged sketch of the selection over its range, then a rank (`le`) or
//! a quantile — never an average of percentiles.

use std::collections::HashSet;

use serde::Serialize;
use shared::filter::Filter;
use shared::range::TimeRange;
use shared::{Sketch, SketchKind};

use super::spec::SloSpec;
use crate::ingest::Pipeline;

/// The windows an SLO is reported over: 5 minutes, 1 hour, the retention.
pub const SLO_WINDOWS: [(&str, Option<i64>); 3] = [
    ("5m", Some(300_000)),
    ("1h", Some(3_600_000)),
    ("retention", None),
];

/// The burn rate at which a fast-burn page fires on both the 5 m and 1 h
/// windows (Google SRE workbook: 2 % of a 30-day budget in an hour).
pub const PAGE_BURN: f64 = 14.4;

/// Why a rule could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The window store's lock was poisoned (counted and logged there).
    #[error("the window store is unavailable (poisoned lock)")]
    StorePoisoned,
}

/// The selection's windows of `kind` in `range`, merged (`None`: no values).
pub fn merged(
    pipeline: &Pipeline,
    kind: SketchKind,
    metric: &str,
    filter: &Filter,
    range: TimeRange,
) -> Result<Option<Sketch>, EvalError> {
    let ids: HashSet<_> = pipeline
        .catalog
        .matching(metric, filter)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    pipeline
        .with_store(|s| s.merged_range(kind, range, &|id| ids.contains(&id)))
        .ok_or(EvalError::StorePoisoned)
}

/// One window of an SLO.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowStatus {
    /// `5m`, `1h` or `retention`.
    pub window: String,
    /// Values in the window.
    pub count: u64,
    /// Share of them ≤ `le` (`None`: no values).
    pub good_ratio: Option<f64>,
    /// The bound of that share (`None` for momentsketch).
    pub bound: Option<(f64, f64)>,
    /// Bad share ÷ (1 − objective): 1 spends the budget exactly over the
    /// objective's period.
    pub burn_rate: Option<f64>,
}

/// An SLO now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloStatus {
    /// Name.
    pub name: String,
    /// Metric.
    pub metric: String,
    /// Filter text.
    pub filter: String,
    /// Good means ≤ this.
    pub le: f64,
    /// Target share of good values, in percent.
    pub objective: f64,
    /// The sketch kind read.
    pub sketch: SketchKind,
    /// Per window.
    pub windows: Vec<WindowStatus>,
    /// Share of the error budget left over the retention (1 − its burn
    /// rate; negative once overspent).
    pub budget_left: Option<f64>,
    /// Whether the 5 m and 1 h windows both burn faster than [`PAGE_BURN`].
    pub pages: bool,
}

/// The burn rate of a good share.
pub fn burn_rate(good: f64, objective: f64) -> f64 {
    (1.0 - good) / (1.0 - objective)
}

/// The good share of `slo` over `range`.
pub fn window_status(
    pipeline: &Pipeline,
    kind: SketchKind,
    slo: &SloSpec,
    window: &str,
    range: TimeRange,
) -> Result<WindowStatus, EvalError> {
    let sketch = merged(pipeline, kind, &slo.metric, &slo.filter, range)?;
    let rank = sketch.as_ref().and_then(|s| s.rank(slo.le).ok());
    Ok(WindowStatus {
        window: window.to_owned(),
        count: sketch.as_ref().map_or(0, Sketch::count),
        good_ratio: rank.map(|r| r.fraction),
        bound: rank.and_then(|r| r.bound),
        burn_rate: rank.map(|r| burn_rate(r.fraction, slo.objective)),
    })
}

/// `slo` at `now` over each of [`SLO_WINDOWS`].
pub fn slo_status(pipeline: &Pipeline, slo: &SloSpec, now: i64) -> Result<SloStatus, EvalError> {
    let kind = pipeline.config.default_kind;
    let retention = i64::try_from(pipeline.config.retention_ms).unwrap_or(i64::MAX);
    let mut windows = Vec::with_capacity(SLO_WINDOWS.len());
    for (name, span) in SLO_WINDOWS {
        let from = now.saturating_sub(span.unwrap_or(retention));
        let range = TimeRange::new(from, now.saturating_add(1));
        windows.push(window_status(pipeline, kind, slo, name, range)?);
    }
    let burn = |w: &str| windows.iter().find(|s| s.window == w).and_then(|s| s.burn_rate);
    let pages = matches!((burn("5m"), burn("1h")), (Some(a), Some(b)) if a > PAGE_BURN && b > PAGE_BURN);
    Ok(SloStatus {
        name: slo.name.clone(),
        metric: slo.metric.clone(),
        filter: slo.filter.to_text(),
        le: slo.le,
        objective: (slo.objective * 100_000.0).round() / 1000.0,
        sketch: kind,
        budget_left: burn("retention").map(|b| 1.0 - b),
        pages,
        windows,
    })
}
