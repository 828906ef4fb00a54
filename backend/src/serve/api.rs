//! JSON API handlers. Every endpoint that takes `sketch`/`q`/`from`/`to`
//! also takes `metric`, `filter` and (where it groups) `by` and `limit`;
//! parameters are parsed in [`super::params`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use shared::range::TimeRange;
use shared::{Sketch, SketchKind};

use super::params::{bad, blocking, ApiError, Cut, Group, Params, Quantiles, Selection};
use crate::ingest::Pipeline;
use crate::summary;

/// `GET /api/summary?sketch=KIND&q=..&metric=..&filter=..`: the counters
/// (process-wide) and the quantiles, mean and current record of the
/// selected series over the whole retention.
pub async fn summary(
    State(pipeline): State<Arc<Pipeline>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<summary::Summary>, ApiError> {
    let params = Params::new(params);
    params.only(&["sketch", "q", "metric", "filter", "by"])?;
    let kind = params.sketch(&pipeline)?;
    let qs = params.quantiles()?;
    let selection = params.selection(&pipeline)?;
    selection.ungrouped()?;
    let doc = blocking(move || {
        let group = selection.groups(&pipeline).pop().unwrap_or_default();
        summary::build(&pipeline, kind, &qs.0, &|id| group.has(id))
    })
    .await?;
    Ok(Json(doc))
}

/// `GET /readyz`: 200 once partitions are assigned (or the sketch log read
/// back); else 503 with what the process waits for.
pub async fn readyz(State(pipeline): State<Arc<Pipeline>>) -> (StatusCode, String) {
    match pipeline.not_ready_reason() {
        None => (StatusCode::OK, "ready".to_owned()),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason),
    }
}

/// `/api/exact`'s answer.
#[derive(Debug, Serialize)]
struct ExactDoc {
    from: i64,
    to: i64,
    count: usize,
    quantiles: BTreeMap<String, Option<f64>>,
}

/// `GET /api/exact?q=..&from=..&to=..&metric=..&filter=..`: the true
/// quantiles of the selected values whose window starts in the range (404
/// unless started with `--exact`).
pub async fn exact(
    State(pipeline): State<Arc<Pipeline>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(params);
    params.only(&["q", "from", "to", "metric", "filter", "by"])?;
    let qs = params.quantiles()?;
    let range = params.range(&pipeline, pipeline.now_ms())?;
    let selection = params.selection(&pipeline)?;
    selection.ungrouped()?;
    if pipeline.exact.is_none() {
        let body = Json(serde_json::json!({"error": "no exact reference: start mss with --exact"}));
        return Ok((StatusCode::NOT_FOUND, body).into_response());
    }
    let values = qs.values();
    let result = blocking(move || {
        let group = selection.groups(&pipeline).pop().unwrap_or_default();
        pipeline
            .exact
            .as_ref()
            .map(|e| e.quantiles(range, &|id| group.has(id), &values))
    })
    .await?
    .ok_or_else(|| ApiError::Internal("the exact reference vanished".into()))?;
    let quantiles = qs.keys().into_iter().zip(result.values).collect();
    Ok(Json(ExactDoc {
        from: range.from,
        to: range.to,
        count: result.count,
        quantiles,
    })
    .into_response())
}

/// Count, extremes, mean and quantiles of one merged sketch.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Values.
    pub count: u64,
    /// Smallest value.
    pub min: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Mean.
    pub mean: Option<f64>,
    /// Estimates by the requested key.
    pub quantiles: BTreeMap<String, Option<f64>>,
    /// Why the quantiles are missing, if they are (e.g. solver failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantile_error: Option<String>,
}

impl Stats {
    fn of(sketch: Option<&Sketch>, qs: &Quantiles) -> Self {
        let (quantiles, quantile_error) = qs.of(sketch);
        let s = sketch.filter(|s| !s.is_empty());
        Self {
            count: s.map_or(0, Sketch::count),
            min: s.and_then(Sketch::min),
            max: s.and_then(Sketch::max),
            mean: s.and_then(Sketch::mean),
            quantiles,
            quantile_error,
        }
    }
}

/// One group of `/api/quantiles?by=..`.
#[derive(Debug, Serialize)]
struct QuantilesGroup {
    tags: BTreeMap<String, String>,
    #[serde(flatten)]
    stats: Stats,
}

/// `/api/quantiles`'s answer.
#[derive(Debug, Serialize)]
struct QuantilesDoc {
    sketch: SketchKind,
    metric: String,
    from: i64,
    to: i64,
    #[serde(flatten)]
    stats: Option<Stats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<QuantilesGroup>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups_total: Option<usize>,
}

/// Keeps the `limit` groups with the most values (ties by tags).
fn top<T>(mut groups: Vec<(u64, T)>, limit: usize) -> (Vec<T>, usize) {
    let total = groups.len();
    groups.sort_by_key(|g| std::cmp::Reverse(g.0));
    groups.truncate(limit);
    (groups.into_iter().map(|(_, g)| g).collect(), total)
}

/// `read` run on the window store, or a 500 when its lock was poisoned.
fn with_store<R>(
    pipeline: &Pipeline,
    read: impl FnOnce(&crate::window::store::WindowStore) -> R,
) -> Result<R, ApiError> {
    pipeline
        .with_store(read)
        .ok_or_else(|| ApiError::Internal("window store poisoned".into()))
}

fn merged_range(
    pipeline: &Pipeline,
    kind: SketchKind,
    range: TimeRange,
    group: &Group,
) -> Result<Option<Sketch>, ApiError> {
    with_store(pipeline, |s| s.merged_range(kind, range, &|id| group.has(id)))
}

/// `GET /api/quantiles?sketch=..&q=..&from=..&to=..&metric=..&filter=..&by=..&limit=..`:
/// the windows in the range merged on the server; with `by`, one entry per group.
pub async fn quantiles(
    State(pipeline): State<Arc<Pipeline>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let params = Params::new(params);
    params.only(&["sketch", "q", "from", "to", "metric", "filter", "by", "limit"])?;
    let kind = params.sketch(&pipeline)?;
    let qs = params.quantiles()?;
    let range = params.range(&pipeline, pipeline.now_ms())?;
    let selection = params.selection(&pipeline)?;
    let doc = blocking(move || quantiles_doc(&pipeline, kind, &qs, range, &selection)).await??;
    serde_json::to_value(doc)
        .map(Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

fn quantiles_doc(
    pipeline: &Pipeline,
    kind: SketchKind,
    qs: &Quantiles,
    range: TimeRange,
    selection: &Selection,
) -> Result<QuantilesDoc, ApiError> {
    let mut doc = QuantilesDoc {
        sketch: kind,
        metric: selection.metric.clone(),
        from: range.from,
        to: range.to,
        stats: None,
        groups: None,
        groups_total: None,
    };
    let groups = selection.groups(pipeline);
    if selection.by.is_none() {
        let group = groups.into_iter().next().unwrap_or_default();
        doc.stats = Some(Stats::of(
            merged_range(pipeline, kind, range, &group)?.as_ref(),
            qs,
        ));
        return Ok(doc);
    }
    let mut answered = Vec::with_capacity(groups.len());
    for group in groups {
        let stats = Stats::of(merged_range(pipeline, kind, range, &group)?.as_ref(), qs);
        if stats.count > 0 {
            answered.push((
                stats.count,
                QuantilesGroup {
                    tags: group.tags,
                    stats,
                },
            ));
        }
    }
    let (groups, total) = top(answered, selection.limit);
    doc.groups = Some(groups);
    doc.groups_total = Some(total);
    Ok(doc)
}

/// One point of a series.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesPoint {
    /// Bucket start, Unix epoch ms (a multiple of the step).
    pub t: i64,
    /// Values in the bucket.
    pub count: u64,
    /// Quantiles of the bucket (null where the sketch cannot answer).
    pub quantiles: BTreeMap<String, Option<f64>>,
    /// With `le`/`gt`: the share of the bucket's values the cut selects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
    /// With `le`/`gt`: the bound of that share (omitted for momentsketch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound: Option<(f64, f64)>,
}

/// The points of one group of `/api/series`.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesGroup {
    /// The group's tag values.
    pub tags: BTreeMap<String, String>,
    /// Its points.
    pub points: Vec<SeriesPoint>,
    /// With `shift`: the points of the range that much earlier, each at its
    /// bucket's time plus the shift (so both lines share the axis).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shifted: Option<Vec<SeriesPoint>>,
}

/// What each point of a series holds: its quantiles, and a cut's share.
#[derive(Debug, Clone)]
pub struct PointQuery {
    /// The quantiles.
    pub qs: Quantiles,
    /// `le`/`gt`, if asked.
    pub cut: Option<Cut>,
}

/// The points of `group`'s series per step bucket (also used by the chart).
pub fn series_points(
    pipeline: &Pipeline,
    kind: SketchKind,
    query: &PointQuery,
    range: TimeRange,
    step: i64,
    group: &Group,
) -> Result<Vec<SeriesPoint>, ApiError> {
    let buckets = with_store(pipeline, |s| s.series(kind, range, step, &|id| group.has(id)))?;
    Ok(buckets
        .into_iter()
        .map(|(t, sketch)| {
            let rank = query.cut.and_then(|c| c.of(&sketch));
            SeriesPoint {
                t,
                count: sketch.count(),
                quantiles: query.qs.of(Some(&sketch)).0,
                fraction: rank.map(|r| r.fraction),
                bound: rank.and_then(|r| r.bound),
            }
        })
        .collect())
}

/// Every group's points, the `limit` with the most values; and how many groups there were.
pub fn grouped_points(
    pipeline: &Pipeline,
    kind: SketchKind,
    query: &PointQuery,
    range: TimeRange,
    step: i64,
    selection: &Selection,
) -> Result<(Vec<SeriesGroup>, usize), ApiError> {
    let mut answered = Vec::new();
    for group in selection.groups(pipeline) {
        let points = series_points(pipeline, kind, query, range, step, &group)?;
        let count: u64 = points.iter().map(|p| p.count).sum();
        if selection.by.is_none() || count > 0 {
            answered.push((
                count,
                SeriesGroup {
                    tags: group.tags,
                    points,
                    shifted: None,
                },
            ));
        }
    }
    Ok(top(answered, selection.limit))
}

/// Fills each group's `shifted` points: the same group over `range` moved
/// back by `shift`, with times moved forward again.
#[allow(clippy::too_many_arguments)]
pub fn add_shifted(
    pipeline: &Pipeline,
    kind: SketchKind,
    query: &PointQuery,
    range: TimeRange,
    step: i64,
    shift: i64,
    selection: &Selection,
    answered: &mut [SeriesGroup],
) -> Result<(), ApiError> {
    let earlier = TimeRange::new(range.from.saturating_sub(shift), range.to.saturating_sub(shift));
    let groups = selection.groups(pipeline);
    for out in answered.iter_mut() {
        let Some(group) = groups.iter().find(|g| g.tags == out.tags) else {
            out.shifted = Some(Vec::new());
            continue;
        };
        let mut points = series_points(pipeline, kind, query, earlier, step, group)?;
        for p in &mut points {
            p.t = p.t.saturating_add(shift);
        }
        out.shifted = Some(points);
    }
    Ok(())
}

/// `/api/series`'s answer.
#[derive(Debug, Serialize)]
struct SeriesDoc {
    sketch: SketchKind,
    metric: String,
    from: i64,
    to: i64,
    step: i64,
    q: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    points: Option<Vec<SeriesPoint>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shift: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shifted: Option<Vec<SeriesPoint>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<SeriesGroup>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups_total: Option<usize>,
}

/// `GET /api/series?sketch=..&q=..&from=..&to=..&step=..&metric=..&filter=..&by=..[&format=csv]`
pub async fn series(
    State(pipeline): State<Arc<Pipeline>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(params);
    params.only(&[
        "sketch", "q", "from", "to", "step", "format", "metric", "filter", "by", "limit", "le", "gt", "shift",
    ])?;
    let kind = params.sketch(&pipeline)?;
    let qs = params.quantiles()?;
    let cut = params.cut()?;
    let now = pipeline.now_ms();
    let range = params.range(&pipeline, now)?;
    let shift = params.shift(&pipeline, range, now)?;
    let step = params.step(&pipeline, range)?;
    let selection = params.selection(&pipeline)?;
    let csv = match params.get("format") {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(bad("format", format!("{other:?}: use json or csv"))),
    };
    if csv && shift.is_some() {
        return Err(bad("shift", "CSV has no shifted lines; use format=json"));
    }
    let query = PointQuery { qs: qs.clone(), cut };
    let s2 = selection.clone();
    let (groups, total) = blocking(move || {
        let (mut groups, total) = grouped_points(&pipeline, kind, &query, range, step, &s2)?;
        if let Some(shift) = shift {
            add_shifted(&pipeline, kind, &query, range, step, shift, &s2, &mut groups)?;
        }
        Ok::<_, ApiError>((groups, total))
    })
    .await??;
    if csv {
        return Ok((
            [(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            series_csv(&groups, &qs, selection.by.is_some()),
        )
            .into_response());
    }
    let mut doc = SeriesDoc {
        sketch: kind,
        metric: selection.metric.clone(),
        from: range.from,
        to: range.to,
        step,
        q: qs.keys(),
        points: None,
        shift,
        shifted: None,
        groups: None,
        groups_total: None,
    };
    if selection.by.is_some() {
        doc.groups = Some(groups);
        doc.groups_total = Some(total);
    } else {
        let group = groups.into_iter().next();
        doc.shifted = group.as_ref().and_then(|g| g.shifted.clone());
        doc.points = Some(group.map(|g| g.points).unwrap_or_default());
    }
    Ok(Json(doc).into_response())
}

/// A group's tags as one CSV cell: `key=value;key=value` (quoted when needed).
fn group_cell(tags: &BTreeMap<String, String>) -> String {
    let text: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let text = text.join(";");
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn series_csv(groups: &[SeriesGroup], qs: &Quantiles, grouped: bool) -> String {
    let mut out = String::from(if grouped { "group,t,count" } else { "t,count" });
    for k in qs.keys() {
        out.push_str(&format!(",q{k}"));
    }
    out.push('\n');
    for g in groups {
        for p in &g.points {
            if grouped {
                out.push_str(&group_cell(&g.tags));
                out.push(',');
            }
            out.push_str(&format!("{},{}", p.t, p.count));
            for k in qs.keys() {
                match p.quantiles.get(&k).copied().flatten() {
                    Some(v) => out.push_str(&format!(",{v}")),
                    None => out.push(','),
                }
            }
            out.push('\n');
        }
    }
    out
}

/// `GET /api/chart.svg?sketch=..&q=..&from=..&to=..&metric=..&filter=..&by=..&le=..&tz=..&theme=light|dark&width=..&height=..`:
/// the percentiles-over-time chart as SVG, drawn by the same code as the
/// dashboard; with `by`, one line per group of the first quantile; `le`
/// draws a threshold line; times in UTC unless `tz=±HH:MM`.
pub async fn chart_svg(
    State(pipeline): State<Arc<Pipeline>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(params);
    params.only(&[
        "sketch", "q", "from", "to", "step", "theme", "width", "height", "metric", "filter", "by", "limit",
        "le", "tz",
    ])?;
    let threshold = params.threshold()?;
    let utc_offset_min = params.utc_offset()?;
    let kind = params.sketch(&pipeline)?;
    let qs = params.quantiles()?;
    let range = params.range(&pipeline, pipeline.now_ms())?;
    let step = params.step(&pipeline, range)?;
    let selection = params.selection(&pipeline)?;
    let theme: shared::chart::Theme = params
        .get("theme")
        .unwrap_or("light")
        .parse()
        .map_err(|e: String| bad("theme", e))?;
    let width = params.bounded("width", 800, 100..=4000)?;
    let height = params.bounded("height", 320, 100..=3000)?;
    let svg = blocking(move || {
        let query = PointQuery {
            qs: qs.clone(),
            cut: None,
        };
        let (groups, _) = grouped_points(&pipeline, kind, &query, range, step, &selection)?;
        let series = shared::chart::PercentileSeries {
            threshold,
            utc_offset_min,
            unit: pipeline.catalog.unit_of(&selection.metric),
            ..chart_series(kind, &qs, range, &groups, &selection)
        };
        let mut svg = String::new();
        {
            use plotters::prelude::IntoDrawingArea;
            let root =
                plotters::backend::SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
            shared::chart::draw_percentiles(&root, &series, theme)
                .map_err(|e| ApiError::Internal(format!("the chart could not be drawn: {e}")))?;
        }
        Ok::<String, ApiError>(svg)
    })
    .await??;
    Ok(([(axum::http::header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// The lines of the chart: every quantile of one group, or the first
/// quantile of each group (labelled by its tag values).
fn chart_series(
    kind: SketchKind,
    qs: &Quantiles,
    range: TimeRange,
    groups: &[SeriesGroup],
    selection: &Selection,
) -> shared::chart::PercentileSeries {
    let label = |q: f64| format!("P{}", q * 100.0);
    let Some((first_key, first_q)) = qs.0.first().cloned() else {
        return shared::chart::PercentileSeries::default();
    };
    if selection.by.is_none() {
        let points = groups.first().map(|g| g.points.as_slice()).unwrap_or_default();
        return shared::chart::PercentileSeries {
            title: format!("{} · {kind} percentiles", selection.metric),
            range_ms: Some((range.from, range.to)),
            labels: qs.0.iter().map(|(_, q)| label(*q)).collect(),
            points: points
                .iter()
                .map(|pt| {
                    (
                        pt.t,
                        qs.keys()
                            .iter()
                            .map(|k| pt.quantiles.get(k).copied().flatten())
                            .collect(),
                    )
                })
                .collect(),
            ..Default::default()
        };
    }
    let mut times: Vec<i64> = groups.iter().flat_map(|g| g.points.iter().map(|p| p.t)).collect();
    times.sort_unstable();
    times.dedup();
    let by_time: Vec<HashMap<i64, Option<f64>>> = groups
        .iter()
        .map(|g| {
            g.points
                .iter()
                .map(|p| (p.t, p.quantiles.get(&first_key).copied().flatten()))
                .collect()
        })
        .collect();
    shared::chart::PercentileSeries {
        title: format!(
            "{} · {} by {}",
            selection.metric,
            label(first_q),
            selection.by.as_ref().map(|b| b.to_text()).unwrap_or_default()
        ),
        range_ms: Some((range.from, range.to)),
        labels: groups
            .iter()
            .map(|g| {
                g.tags
                    .values()
                    .map(|v| if v.is_empty() { "(none)" } else { v })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect(),
        points: times
            .iter()
            .map(|t| (*t, by_time.iter().map(|m| m.get(t).copied().flatten()).collect()))
            .collect(),
        ..Default::default()
    }
}

/// One tag key of a metric in `/api/metrics`.
#[derive(Debug, Serialize)]
pub struct TagInfo {
    /// Distinct values.
    pub values: usize,
    /// The most frequent values with their value counts (retained windows).
    pub top: Vec<(String, u64)>,
}

/// One metric of `/api/metrics`.
#[derive(Debug, Serialize)]
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

/// Per tag key, the value counts of each value.
type ValuesByKey = BTreeMap<String, BTreeMap<String, u64>>;

/// Values shown per tag key in `/api/metrics`.
const TOP_VALUES: usize = 10;

/// `GET /api/metrics`: every metric with its unit, series count, and per
/// tag key the number of values and the top values by count (for pickers
/// and autocomplete).
pub async fn metrics(
    State(pipeline): State<Arc<Pipeline>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<MetricInfo>>, ApiError> {
    Params::new(params).only(&[])?;
    let doc = blocking(move || {
        let counts = with_store(&pipeline, |s| s.counts_by_series(pipeline.config.default_kind))?;
        let mut metrics: BTreeMap<String, (usize, ValuesByKey)> = BTreeMap::new();
        for (id, key) in pipeline.catalog.published() {
            let n = counts.get(&id).copied().unwrap_or(0);
            let entry = metrics.entry(key.metric().to_owned()).or_default();
            entry.0 += 1;
            for (k, v) in key.tags() {
                *entry
                    .1
                    .entry(k.clone())
                    .or_default()
                    .entry(v.clone())
                    .or_default() += n;
            }
        }
        Ok::<_, ApiError>(
            metrics
                .into_iter()
                .map(|(metric, (series, tags))| MetricInfo {
                    unit: pipeline.catalog.unit_of(&metric),
                    metric,
                    series,
                    tags: tags
                        .into_iter()
                        .map(|(k, values)| {
                            let n = values.len();
                            let mut top: Vec<(String, u64)> = values.into_iter().collect();
                            top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                            top.truncate(TOP_VALUES);
                            (k, TagInfo { values: n, top })
                        })
                        .collect(),
                })
                .collect(),
        )
    })
    .await??;
    Ok(Json(doc))
}
