//! `GET /api/slos` (each SLO's good share, burn rates and budget) and
//! `GET /api/alerts` (each alert's state since when, with its value), from
//! the monitor's latest tick; empty lists when no SLO or alert is defined.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;

use super::params::{ApiError, Params};
use crate::ingest::Pipeline;
use crate::slo::alerts::AlertStatus;
use crate::slo::evaluate::SloStatus;

/// `/api/slos`.
pub async fn slos(
    State(pipeline): State<Arc<Pipeline>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<SloStatus>>, ApiError> {
    Params::new(params).only(&[])?;
    match pipeline.monitor.get() {
        None => Ok(Json(Vec::new())),
        Some(m) => m
            .slos(&pipeline)
            .map(Json)
            .ok_or_else(|| ApiError::Internal("SLO statuses unavailable (poisoned lock)".into())),
    }
}

/// `/api/alerts`.
pub async fn alerts(
    State(pipeline): State<Arc<Pipeline>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<AlertStatus>>, ApiError> {
    Params::new(params).only(&[])?;
    match pipeline.monitor.get() {
        None => Ok(Json(Vec::new())),
        Some(m) => m
            .alerts(&pipeline)
            .map(Json)
            .ok_or_else(|| ApiError::Internal("alert states unavailable (poisoned lock)".into())),
    }
}
