//! Query parameters of the HTTP API, each parsed and checked in one place,
//! and the API's error type: a bad parameter is a 400 naming it, an
//! internal failure a 500.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use shared::filter::{Filter, GroupBy};
use shared::protocol::SeriesId;
use shared::range::TimeRange;
use shared::SketchKind;

use crate::ingest::Pipeline;

/// Longest range a query may cover.
pub const MAX_RANGE_MS: i64 = 31 * 24 * 3_600_000;
/// Most points a series may have.
pub const MAX_POINTS: i64 = 10_000;
/// Default `limit` of grouped answers.
pub const DEFAULT_GROUP_LIMIT: usize = 10;
/// Largest `limit`.
pub const MAX_GROUP_LIMIT: usize = 1_000;

/// Why an API request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400: a parameter is wrong.
    BadParam {
        /// The parameter.
        param: String,
        /// What is wrong with it.
        message: String,
    },
    /// 500: the server failed (a task panicked, a chart could not be drawn).
    Internal(String),
}

#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    param: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::BadParam { param, message } => {
                let body = ErrorBody {
                    error: message,
                    param: Some(param),
                };
                (StatusCode::BAD_REQUEST, Json(body)).into_response()
            }
            ApiError::Internal(message) => {
                tracing::error!("API request failed: {message}");
                let body = ErrorBody {
                    error: message,
                    param: None,
                };
                (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
            }
        }
    }
}

/// A 400 naming `param`.
pub fn bad(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::BadParam {
        param: param.to_owned(),
        message: message.into(),
    }
}

/// Runs CPU work (merging sketches) off the async workers; a panic is a 500.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("the query task failed: {e}")))
}

/// The query string. `token` is the credential of a later access check: it
/// is never an unknown parameter and never logged.
pub struct Params(HashMap<String, String>);

impl Params {
    /// Wraps parsed query pairs.
    pub fn new(params: HashMap<String, String>) -> Self {
        Self(params)
    }

    /// The raw value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Fails on any parameter not in `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self
            .0
            .keys()
            .find(|k| k.as_str() != "token" && !allowed.contains(&k.as_str()))
        {
            Some(k) => Err(bad(
                k,
                format!("unknown parameter {k:?}; allowed: {}", allowed.join(", ")),
            )),
            None => Ok(()),
        }
    }

    /// `sketch=KIND`, defaulting to the pipeline's default kind; must be enabled.
    pub fn sketch(&self, pipeline: &Pipeline) -> Result<SketchKind, ApiError> {
        let kind = match self.get("sketch") {
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
    pub fn quantiles(&self) -> Result<Quantiles, ApiError> {
        let text = self.get("q").unwrap_or("0.5,0.95,0.99");
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
        Ok(Quantiles(qs))
    }

    /// `from` and `to` (defaults: the whole retention up to now), checked;
    /// the range is half-open `[from, to)`.
    pub fn range(&self, pipeline: &Pipeline, now: i64) -> Result<TimeRange, ApiError> {
        let retention = i64::try_from(pipeline.config.retention_ms).unwrap_or(i64::MAX);
        let time = |name: &str, default: i64| match self.get(name) {
            None => Ok(default),
            Some(s) => shared::time_spec::parse_time(s, now)
                .ok_or_else(|| bad(name, format!("{s:?} is not epoch ms, now or now-<n>(ms|s|m|h|d)"))),
        };
        let from = time("from", now.saturating_sub(retention))?;
        // `to` defaults past now, so the newest window is in the range.
        let to = time("to", now.saturating_add(1))?;
        if from > to {
            return Err(bad("from", "from is after to"));
        }
        if to - from > MAX_RANGE_MS {
            return Err(bad("from", "range longer than 31 days"));
        }
        Ok(TimeRange::new(from, to))
    }

    /// `step` (ms, or with a unit like `10s`), default: range / 300, at least one window.
    pub fn step(&self, pipeline: &Pipeline, range: TimeRange) -> Result<i64, ApiError> {
        let window = i64::try_from(pipeline.config.window_ms).unwrap_or(1000).max(1);
        let span = range.to - range.from;
        let step = match self.get("step") {
            None => (span / 300).max(window),
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
        if span / step > MAX_POINTS {
            return Err(bad(
                "step",
                format!("more than {MAX_POINTS} points; use a larger step"),
            ));
        }
        Ok(step)
    }

    /// A whole number in `range`, or `default`.
    pub fn bounded(
        &self,
        name: &str,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<u32, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|v| range.contains(v))
                .ok_or_else(|| {
                    bad(
                        name,
                        format!(
                            "{s:?}: give a whole number in {}..={}",
                            range.start(),
                            range.end()
                        ),
                    )
                }),
        }
    }

    /// `name=250`: a threshold in the metric's unit (a finite number), if given.
    fn number(&self, name: &str) -> Result<Option<f64>, ApiError> {
        self.get(name)
            .map(|s| {
                s.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                    bad(
                        name,
                        format!("{s:?} is not a number (a value in the metric's unit, like 250)"),
                    )
                })
            })
            .transpose()
    }

    /// `le=250`: a threshold line (charts), if given.
    pub fn threshold(&self) -> Result<Option<f64>, ApiError> {
        self.number("le")
    }

    /// `le=X` (share of values ≤ X) or `gt=X` (share > X), at most one.
    pub fn cut(&self) -> Result<Option<Cut>, ApiError> {
        match (self.number("le")?, self.number("gt")?) {
            (Some(_), Some(_)) => Err(bad("gt", "give le or gt, not both")),
            (Some(x), None) => Ok(Some(Cut::Le(x))),
            (None, Some(x)) => Ok(Some(Cut::Gt(x))),
            (None, None) => Ok(None),
        }
    }

    /// `shift=1h`: compare with the range this much earlier; it must stay
    /// within the retention.
    pub fn shift(&self, pipeline: &Pipeline, range: TimeRange, now: i64) -> Result<Option<i64>, ApiError> {
        let Some(text) = self.get("shift") else {
            return Ok(None);
        };
        let shift = shared::time_spec::parse_span_ms(text)
            .filter(|v| *v > 0)
            .ok_or_else(|| {
                bad(
                    "shift",
                    format!("{text:?} is not a positive duration like 1h, 1d"),
                )
            })?;
        let retention = i64::try_from(pipeline.config.retention_ms).unwrap_or(i64::MAX);
        if range.from.saturating_sub(shift) < now.saturating_sub(retention) {
            return Err(bad(
                "shift",
                format!(
                    "{text} before the range start reaches past the retention ({} s): use a shorter shift or range",
                    retention / 1000
                ),
            ));
        }
        Ok(Some(shift))
    }

    /// `tz=+01:00`: the UTC offset of time labels in minutes (default UTC).
    pub fn utc_offset(&self) -> Result<i32, ApiError> {
        match self.get("tz") {
            None => Ok(0),
            Some(s) => shared::chart::axis::parse_utc_offset(s).ok_or_else(|| {
                bad(
                    "tz",
                    format!("{s:?} is not a UTC offset like +01:00, -05:30 or Z"),
                )
            }),
        }
    }

    /// `metric`, `filter`, `by` and `limit`: which series, grouped how.
    pub fn selection(&self, pipeline: &Pipeline) -> Result<Selection, ApiError> {
        let metric = self.get("metric").unwrap_or(&pipeline.config.metric).to_owned();
        shared::series::validate_metric(&metric).map_err(|e| bad("metric", e.to_string()))?;
        let filter =
            Filter::parse(self.get("filter").unwrap_or("")).map_err(|e| bad("filter", e.to_string()))?;
        let by = self
            .get("by")
            .map(GroupBy::parse)
            .transpose()
            .map_err(|e| bad("by", e.to_string()))?;
        let limit = match self.get("limit") {
            None => DEFAULT_GROUP_LIMIT,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_GROUP_LIMIT).contains(n))
                .ok_or_else(|| {
                    bad(
                        "limit",
                        format!("{s:?}: give a number of groups in 1..={MAX_GROUP_LIMIT}"),
                    )
                })?,
        };
        Ok(Selection {
            metric,
            filter,
            by,
            limit,
        })
    }
}

/// A rank query: the share of values ≤ X (`le`) or > X (`gt`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cut {
    /// `le=X`.
    Le(f64),
    /// `gt=X`.
    Gt(f64),
}

impl Cut {
    /// The threshold.
    pub fn value(self) -> f64 {
        match self {
            Cut::Le(x) | Cut::Gt(x) => x,
        }
    }

    /// The share of `sketch`'s values this cut selects, with its bound;
    /// `None` for an empty sketch or a failed solve.
    pub fn of(self, sketch: &shared::Sketch) -> Option<shared::rank::Rank> {
        let rank = sketch.rank(self.value()).ok()?;
        Some(match self {
            Cut::Le(_) => rank,
            Cut::Gt(_) => rank.complement(),
        })
    }
}

/// The requested quantiles: `(key as written, q)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantiles(pub Vec<(String, f64)>);

impl Quantiles {
    /// The q values.
    pub fn values(&self) -> Vec<f64> {
        self.0.iter().map(|q| q.1).collect()
    }

    /// The keys as written.
    pub fn keys(&self) -> Vec<String> {
        self.0.iter().map(|q| q.0.clone()).collect()
    }

    /// The map `key → estimate` of `sketch` (`None` per key when empty or
    /// the sketch cannot answer, with the reason).
    pub fn of(&self, sketch: Option<&shared::Sketch>) -> (BTreeMap<String, Option<f64>>, Option<String>) {
        crate::summary::quantile_map(&self.0, sketch)
    }
}

/// Which series a query covers and how they are grouped.
#[derive(Debug, Clone)]
pub struct Selection {
    /// `metric` (default: `--metric`).
    pub metric: String,
    /// `filter`.
    pub filter: Filter,
    /// `by`, if given.
    pub by: Option<GroupBy>,
    /// `limit` (groups kept, by count).
    pub limit: usize,
}

/// The series of one group.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// The group's tag values (empty without `by`).
    pub tags: BTreeMap<String, String>,
    /// Its series.
    pub ids: HashSet<SeriesId>,
}

impl Group {
    /// Whether series `id` is in the group.
    pub fn has(&self, id: SeriesId) -> bool {
        self.ids.contains(&id)
    }
}

impl Selection {
    /// The matching series, one group without `by`, else one per value combination.
    pub fn groups(&self, pipeline: &Pipeline) -> Vec<Group> {
        let matched = pipeline.catalog.matching(&self.metric, &self.filter);
        let Some(by) = &self.by else {
            return vec![Group {
                tags: BTreeMap::new(),
                ids: matched.into_iter().map(|(id, _)| id).collect(),
            }];
        };
        let mut groups: BTreeMap<Vec<(String, String)>, HashSet<SeriesId>> = BTreeMap::new();
        for (id, key) in matched {
            groups.entry(by.group_of(&key)).or_default().insert(id);
        }
        groups
            .into_iter()
            .map(|(tags, ids)| Group {
                tags: tags.into_iter().collect(),
                ids,
            })
            .collect()
    }

    /// Fails when `by` was given to an endpoint that does not group.
    pub fn ungrouped(&self) -> Result<(), ApiError> {
        match self.by {
            Some(_) => Err(bad(
                "by",
                "this endpoint does not group; use /api/quantiles or /api/series",
            )),
            None => Ok(()),
        }
    }
}
