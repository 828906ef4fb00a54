//! What one redraw shows, computed from the store: quantile lines and
//! readouts of the chosen range, the comparison of the four kinds, the
//! histogram and the heatmap. Every number here is read from sketches
//! merged over its range, never from averaged percentiles. Pure Rust.

use shared::chart::axis::TimeFormat;
use shared::chart::{HeatmapChart, HistogramChart, LogBins, PercentileSeries};
use shared::{Sketch, SketchKind};

use crate::store::{step_for, ClientStore, GroupKey, SeriesWindows};
use crate::view_state::{quantile_label, DEFAULT_QS};

/// Groups drawn and listed by default (the rest are counted as not shown).
pub const GROUP_LIMIT: usize = 10;

/// How values and times are shown (the metric's unit, the browser's zone)
/// and what is drawn over the lines (the threshold, the shifted overlay,
/// alert spans).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Look {
    /// Unit of the values (`ms`).
    pub unit: String,
    /// Local time = UTC + this, minutes.
    pub utc_offset_min: i32,
    /// `le=`: the threshold line, and the share of values at or under it.
    pub threshold: Option<f64>,
    /// `shift=`: the same lines this much earlier, dashed, ms.
    pub shift_ms: Option<i64>,
    /// Spans shaded on the chart (alerts firing), Unix ms.
    pub spans: Vec<(i64, i64)>,
}

/// `1h ago`.
fn ago(shift_ms: i64) -> String {
    format!("{} ago", human_ms(shift_ms))
}

/// Lines of `[from, to)` moved back by `shift`, at their original times.
fn shifted_lines(
    windows: &mut SeriesWindows,
    kind: SketchKind,
    (from, to): (i64, i64),
    step: i64,
    qs: &[f64],
    shift: i64,
) -> Points {
    let mut points = windows.lines(kind, from - shift, to - shift, step, qs);
    for p in &mut points {
        p.0 += shift;
    }
    points
}

/// Adds `extra` lines (labelled `labels`, dashed like line `like[i]`) to `series`.
fn overlay(series: &mut PercentileSeries, extra: &[Points], labels: Vec<String>, like: Vec<usize>) {
    let solid = series.labels.len();
    let mut all: Vec<Points> = (0..solid)
        .map(|i| {
            series
                .points
                .iter()
                .map(|(t, v)| (*t, vec![v.get(i).copied().flatten()]))
                .collect()
        })
        .collect();
    all.extend(extra.iter().cloned());
    series.points = merge_lines(&all);
    series.labels.extend(labels);
    series.dashed = (0..solid)
        .map(|_| None)
        .chain(like.into_iter().map(Some))
        .collect();
}

/// The time axis of a range whose data starts after the range does: from
/// the first data (one step before it), with a note saying so, so a fresh
/// server's first seconds are not a sliver at the right edge.
fn fitted_axis(first_data: Option<i64>, from: i64, to: i64, step: i64, look: &Look) -> (i64, Option<String>) {
    match first_data {
        Some(first) if first > from.saturating_add(step) && first < to => {
            let start = (first - step).max(from);
            let at = TimeFormat::for_range(start, to, 1000, look.utc_offset_min).format(first);
            let span = human_ms(to - from);
            (
                start,
                Some(format!(
                    "from the first data at {at} (range {span}: no older data yet)"
                )),
            )
        }
        _ => (from, None),
    }
}

/// About this many points per line.
pub const LINE_POINTS: i64 = 300;
/// About this many heatmap columns.
pub const HEATMAP_COLUMNS: i64 = 60;
/// Histogram and heatmap bins.
pub const BINS: usize = 40;

/// One quantile of the whole range.
#[derive(Debug, Clone, PartialEq)]
pub struct Readout {
    /// Quantile in (0, 1].
    pub q: f64,
    /// `P99` style label.
    pub label: String,
    /// Value (ms), `None` when the range is empty or the solve failed.
    pub value: Option<f64>,
}

/// The percentile view of one kind over one range.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Sketch kind.
    pub kind: SketchKind,
    /// Range start, Unix ms.
    pub from: i64,
    /// Range end, Unix ms.
    pub to: i64,
    /// Bucket length of the lines, ms.
    pub step_ms: i64,
    /// The lines.
    pub series: PercentileSeries,
    /// The chosen quantiles of the whole range.
    pub readouts: Vec<Readout>,
    /// P50/P95/P99 of the whole range (stats panel).
    pub standard: Vec<Readout>,
    /// Values in the range.
    pub count: u64,
    /// Their mean.
    pub mean: Option<f64>,
    /// With `le`: the share of the range's values ≤ it, with its bound.
    pub share: Option<shared::rank::Rank>,
    /// Smallest value.
    pub min: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// How the MomentSketch solver got its numbers (or why it failed).
    pub solver_note: Option<String>,
    /// Histogram of the range (from the same merged sketch), if it has values.
    pub histogram: Option<HistogramChart>,
    /// The groups, when the view is grouped (then `series` has one line per
    /// shown group).
    pub groups: Option<Groups>,
}

/// Computes the percentile view of every window received (`look`: how it
/// is shown).
pub fn frame(
    store: &mut ClientStore,
    kind: SketchKind,
    qs: &[f64],
    from: i64,
    to: i64,
    window_ms: i64,
) -> Frame {
    frame_with(
        store.total_mut(),
        kind,
        qs,
        (from, to),
        window_ms,
        &Look::default(),
    )
}

/// [`frame`] of one merged view, shown with `look`.
pub fn frame_with(
    windows: &mut SeriesWindows,
    kind: SketchKind,
    qs: &[f64],
    (from, to): (i64, i64),
    window_ms: i64,
    look: &Look,
) -> Frame {
    let step_ms = step_for(to - from, LINE_POINTS, window_ms);
    let points = windows.lines(kind, from, to, step_ms, qs);
    let labels: Vec<String> = qs.iter().map(|&q| quantile_label(q)).collect();
    let merged = windows.merged(kind, from, to);
    let (axis_from, axis_note) = fitted_axis(windows.first_start(kind), from, to, step_ms, look);
    // One solve for the chosen quantiles and the stats panel's P50/P95/P99.
    let mut all_qs: Vec<f64> = qs.iter().chain(&DEFAULT_QS).copied().collect();
    all_qs.sort_by(f64::total_cmp);
    all_qs.dedup();
    let (values, solver_note) = match &merged {
        Some(s) if !s.is_empty() => match s.quantiles_with_report(&all_qs) {
            Ok((v, report)) => (
                v.into_iter().map(Some).collect(),
                report.map(|r| {
                    let mut note = format!(
                        "solver: {} scale, {} of {} moments, {} iterations",
                        r.scale, r.moments_used, r.moments_available, r.iterations
                    );
                    if r.reduced {
                        note.push_str(" — WARNING: the full solve failed; fewer moments were used");
                    }
                    note
                }),
            ),
            Err(e) => (
                vec![None; all_qs.len()],
                (kind == SketchKind::MomentSketch).then(|| format!("WARNING: solver failed: {e}")),
            ),
        },
        _ => (vec![None; all_qs.len()], None),
    };
    let readout = |q: f64| Readout {
        q,
        label: quantile_label(q),
        value: all_qs.iter().position(|&a| a == q).and_then(|i| values[i]),
    };
    let mut frame = Frame {
        kind,
        from,
        to,
        step_ms,
        series: PercentileSeries {
            title: format!("{kind} · step {}", human_ms(step_ms)),
            labels,
            range_ms: Some((axis_from, to)),
            points,
            unit: look.unit.clone(),
            threshold: look.threshold,
            utc_offset_min: look.utc_offset_min,
            axis_note,
            dashed: Vec::new(),
            spans: look.spans.clone(),
        },
        readouts: qs.iter().map(|&q| readout(q)).collect(),
        standard: DEFAULT_QS.iter().map(|&q| readout(q)).collect(),
        count: merged.as_ref().map_or(0, Sketch::count),
        mean: merged.as_ref().and_then(Sketch::mean),
        share: look
            .threshold
            .and_then(|le| merged.as_ref().and_then(|s| s.rank(le).ok())),
        min: merged.as_ref().and_then(Sketch::min),
        max: merged.as_ref().and_then(Sketch::max),
        solver_note,
        histogram: merged
            .as_ref()
            .filter(|s| !s.is_empty())
            .map(|s| histogram_of(kind, s, &look.unit)),
        groups: None,
    };
    if let Some(shift) = look.shift_ms {
        let lines: Vec<Points> = qs
            .iter()
            .map(|&q| shifted_lines(windows, kind, (from, to), step_ms, &[q], shift))
            .collect();
        let labels = qs
            .iter()
            .map(|&q| format!("{} ({})", quantile_label(q), ago(shift)))
            .collect();
        overlay(&mut frame.series, &lines, labels, (0..qs.len()).collect());
    }
    frame
}

/// One group of a grouped view.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRow {
    /// Its tag values, in group-by key order.
    pub tags: GroupKey,
    /// `dn-1 read`: the values joined, `(none)` for a missing tag.
    pub label: String,
    /// Values in the range.
    pub count: u64,
    /// Its share of all values in the range, 0–1.
    pub share: f64,
    /// The chosen quantiles of the range (same order as asked).
    pub values: Vec<Option<f64>>,
}

/// The grouped part of a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Groups {
    /// The quantile drawn per group.
    pub line_q: f64,
    /// The groups with the most values (count, then tags), at most the limit.
    pub rows: Vec<GroupRow>,
    /// Groups with values in the range that are not shown.
    pub hidden: usize,
}

/// `dn-1 read` for a group's tags.
pub fn group_label(tags: &GroupKey) -> String {
    tags.iter()
        .map(|(_, v)| if v.is_empty() { "(none)" } else { v.as_str() })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The view grouped by tags: the total's frame for readouts, stats and
/// histogram, and a chart of one `line_q` line per group with the most
/// values (as `/api/quantiles?by=` orders them: count, then tags).
#[allow(clippy::too_many_arguments)]
pub fn grouped_frame(
    store: &mut ClientStore,
    kind: SketchKind,
    qs: &[f64],
    line_q: f64,
    range: (i64, i64),
    window_ms: i64,
    look: &Look,
    limit: usize,
) -> Frame {
    let (from, to) = range;
    // The total's frame without its overlay: the chart shows groups instead.
    let plain = Look {
        shift_ms: None,
        ..look.clone()
    };
    let mut frame = frame_with(store.total_mut(), kind, qs, range, window_ms, &plain);
    let total = frame.count.max(1) as f64;
    let mut counted: Vec<(u64, GroupKey)> = store
        .group_keys()
        .into_iter()
        .filter_map(|key| {
            let n = store.group(&key)?.count_in(kind, from, to);
            (n > 0).then_some((n, key))
        })
        .collect();
    // Keys come in tag order; a stable sort by count keeps ties in it.
    counted.sort_by_key(|g| std::cmp::Reverse(g.0));
    let hidden = counted.len().saturating_sub(limit);
    counted.truncate(limit);
    let mut rows = Vec::with_capacity(counted.len());
    let mut lines = Vec::with_capacity(counted.len());
    let mut earlier = Vec::new();
    for (count, key) in counted {
        let Some(windows) = store.group_mut(&key) else {
            continue;
        };
        let values = match windows.merged(kind, from, to).map(|s| s.quantiles(qs)) {
            Some(Ok(v)) => v.into_iter().map(Some).collect(),
            _ => vec![None; qs.len()],
        };
        lines.push(windows.lines(kind, from, to, frame.step_ms, &[line_q]));
        if let Some(shift) = look.shift_ms {
            earlier.push(shifted_lines(
                windows,
                kind,
                range,
                frame.step_ms,
                &[line_q],
                shift,
            ));
        }
        rows.push(GroupRow {
            label: group_label(&key),
            tags: key,
            count,
            share: count as f64 / total,
            values,
        });
    }
    frame.series.labels = rows.iter().map(|r| r.label.clone()).collect();
    frame.series.title = format!(
        "{kind} · {} per group · step {}",
        quantile_label(line_q),
        human_ms(frame.step_ms)
    );
    frame.series.points = merge_lines(&lines);
    if let Some(shift) = look.shift_ms {
        let labels = rows
            .iter()
            .map(|r| format!("{} ({})", r.label, ago(shift)))
            .collect();
        overlay(&mut frame.series, &earlier, labels, (0..rows.len()).collect());
    }
    frame.groups = Some(Groups { line_q, rows, hidden });
    frame
}

/// Points of lines: `(bucket start, one value per line)`.
type Points = Vec<(i64, Vec<Option<f64>>)>;

/// One point per bucket start any line has, with each line's value there.
fn merge_lines(lines: &[Points]) -> Points {
    let mut times: Vec<i64> = lines.iter().flat_map(|l| l.iter().map(|p| p.0)).collect();
    times.sort_unstable();
    times.dedup();
    let maps: Vec<std::collections::HashMap<i64, Option<f64>>> = lines
        .iter()
        .map(|l| {
            l.iter()
                .map(|(t, v)| (*t, v.first().copied().flatten()))
                .collect()
        })
        .collect();
    times
        .into_iter()
        .map(|t| (t, maps.iter().map(|m| m.get(&t).copied().flatten()).collect()))
        .collect()
}

/// One kind in the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareRow {
    /// Kind.
    pub kind: SketchKind,
    /// Values in the range.
    pub count: u64,
    /// Quantiles of the range (same order as asked).
    pub values: Vec<Option<f64>>,
    /// Bytes of the merged sketch's native encoding.
    pub encoded_bytes: usize,
}

/// The kinds side by side over one range.
pub fn compare(store: &ClientStore, qs: &[f64], from: i64, to: i64) -> Vec<CompareRow> {
    store
        .kinds()
        .into_iter()
        .map(|kind| {
            let merged = store.merged(kind, from, to);
            let values = match merged.as_ref().filter(|s| !s.is_empty()).map(|s| s.quantiles(qs)) {
                Some(Ok(v)) => v.into_iter().map(Some).collect(),
                _ => vec![None; qs.len()],
            };
            CompareRow {
                kind,
                count: merged.as_ref().map_or(0, Sketch::count),
                values,
                encoded_bytes: merged.as_ref().map_or(0, |s| s.encode().len()),
            }
        })
        .collect()
}

/// Histogram of a range from its merged sketch's mass points.
fn histogram_of(kind: SketchKind, merged: &Sketch, unit: &str) -> HistogramChart {
    let points = merged.mass_points();
    let bins = LogBins::spanning([points.as_slice()], BINS);
    let counts = bins.count(&points);
    HistogramChart {
        title: format!("{kind} · {} values", merged.count()),
        bins,
        counts,
        unit: unit.to_owned(),
    }
}

/// Heatmap of the range: one column per step, bins from every column,
/// spanning the same time axis as the percentile chart of the range.
pub fn heatmap(
    store: &mut ClientStore,
    kind: SketchKind,
    (from, to): (i64, i64),
    window_ms: i64,
    look: &Look,
) -> Option<HeatmapChart> {
    let step_ms = step_for(to - from, HEATMAP_COLUMNS, window_ms);
    let line_step = step_for(to - from, LINE_POINTS, window_ms);
    let first = store.total().first_start(kind);
    let columns = store.bucket_mass_points(kind, from, to, step_ms);
    if columns.is_empty() {
        return None;
    }
    let (axis_from, axis_note) = fitted_axis(first, from, to, line_step, look);
    let bins = LogBins::spanning(columns.iter().map(|c| c.1.as_slice()), BINS);
    Some(HeatmapChart {
        title: format!("{kind} · step {}", human_ms(step_ms)),
        columns: columns.iter().map(|(t, p)| (*t, bins.count(p))).collect(),
        bins,
        step_ms,
        range_ms: Some((axis_from, to)),
        unit: look.unit.clone(),
        threshold: look.threshold,
        utc_offset_min: look.utc_offset_min,
        axis_note,
    })
}

/// The lines as CSV: `time_ms,P50,P95,..` with empty cells for gaps.
pub fn series_csv(series: &PercentileSeries) -> String {
    let mut out = format!("time_ms,{}\n", series.labels.join(","));
    for (t, values) in &series.points {
        let cells: Vec<String> = values
            .iter()
            .map(|v| v.map(|x| x.to_string()).unwrap_or_default())
            .collect();
        out.push_str(&format!("{t},{}\n", cells.join(",")));
    }
    out
}

/// `500ms`, `5s`, `2m`, `1h`.
pub fn human_ms(ms: i64) -> String {
    match ms {
        m if m >= 3_600_000 && m % 3_600_000 == 0 => format!("{}h", m / 3_600_000),
        m if m >= 60_000 && m % 60_000 == 0 => format!("{}m", m / 60_000),
        m if m >= 1_000 && m % 1_000 == 0 => format!("{}s", m / 1_000),
        m => format!("{m}ms"),
    }
}

/// A latency for display: two decimals (the precision the end-to-end test
/// compares with `/api/summary`).
pub fn fmt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::protocol::WindowSnapshot;

    fn store_with(kinds: &[SketchKind]) -> ClientStore {
        let mut store = ClientStore::new();
        for &kind in kinds {
            for sec in 0..30i64 {
                let mut s = Sketch::with_defaults(kind);
                let values: Vec<f64> = (1..=100)
                    .map(|i| f64::from(i) * (1.0 + sec as f64 / 10.0))
                    .collect();
                s.insert_slice(&values).expect("values");
                let w = WindowSnapshot {
                    series: 0,
                    topic: 0,
                    through_offset: 0,
                    partition: 0,
                    window_start_ms: sec * 1000,
                    window_ms: 1000,
                    kind,
                    count: 100,
                    sketch: s.encode(),
                    first_offset: sec * 100,
                    last_offset: sec * 100 + 99,
                };
                store.insert(&w).expect("stored");
            }
        }
        store
    }

    #[test]
    fn frame_reads_the_merged_range() {
        let mut store = store_with(&[SketchKind::QuantileFlow]);
        let f = frame(
            &mut store,
            SketchKind::QuantileFlow,
            &[0.5, 0.99],
            0,
            29_999,
            1000,
        );
        assert_eq!(f.count, 3000);
        assert_eq!(f.series.points.len(), 30);
        assert_eq!(f.readouts[0].label, "P50");
        let merged = store.merged(SketchKind::QuantileFlow, 0, 29_999).expect("merged");
        assert_eq!(f.readouts[1].value, Some(merged.quantile(0.99).expect("q")));
        let csv = series_csv(&f.series);
        assert!(csv.starts_with("time_ms,P50,P99\n0,"));
        assert_eq!(csv.lines().count(), 31);
    }

    #[test]
    fn moments_frame_reports_the_solver_and_compare_has_every_kind() {
        let mut store = store_with(&SketchKind::ALL);
        let f = frame(&mut store, SketchKind::MomentSketch, &[0.5], 0, 29_999, 1000);
        assert!(
            f.solver_note.as_deref().unwrap_or("").starts_with("solver:"),
            "{:?}",
            f.solver_note
        );
        let rows = compare(&store, &[0.5], 0, 29_999);
        assert_eq!(
            rows.iter().map(|r| r.kind).collect::<Vec<_>>(),
            SketchKind::ALL.to_vec()
        );
        assert!(rows
            .iter()
            .all(|r| r.count == 3000 && r.encoded_bytes > 0 && r.values[0].is_some()));
        let h = frame(&mut store, SketchKind::HdrHistogram, &[0.5], 0, 29_999, 1000)
            .histogram
            .expect("histogram");
        assert!((h.counts.iter().sum::<f64>() - 3000.0).abs() < 1e-9);
        let m = heatmap(
            &mut store,
            SketchKind::QuantileFlow,
            (0, 29_999),
            1000,
            &Look::default(),
        )
        .expect("heatmap");
        let total: f64 = m.columns.iter().flat_map(|c| c.1.iter()).sum();
        assert!((total - 3000.0).abs() < 1e-9);
    }

    fn grouped_store() -> ClientStore {
        let mut store = ClientStore::new();
        let kind = SketchKind::QuantileFlow;
        // Three routes with 30, 20 and 10 windows of one value each.
        for (series, (route, n, v)) in [("/a", 10, 5.0), ("/b", 30, 50.0), ("/c", 20, 500.0)]
            .into_iter()
            .enumerate()
        {
            for sec in 0..n {
                let mut s = Sketch::with_defaults(kind);
                s.insert(v).expect("value");
                let w = WindowSnapshot {
                    series: series as u32,
                    topic: 0,
                    through_offset: 0,
                    partition: 0,
                    window_start_ms: 60_000 + sec * 1000,
                    window_ms: 1000,
                    kind,
                    count: 1,
                    sketch: s.encode(),
                    first_offset: sec,
                    last_offset: sec,
                };
                let key = vec![("route".to_owned(), route.to_owned())];
                store.insert_in(&w, Some(key)).expect("stored");
            }
        }
        store
    }

    #[test]
    fn grouped_frames_list_the_biggest_groups_like_the_api() {
        let mut store = grouped_store();
        let look = Look {
            unit: "ms".into(),
            ..Look::default()
        };
        let f = grouped_frame(
            &mut store,
            SketchKind::QuantileFlow,
            &[0.5, 0.99],
            0.99,
            (0, 120_000),
            1000,
            &look,
            2,
        );
        let g = f.groups.as_ref().expect("grouped");
        let labels: Vec<&str> = g.rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["/b", "/c"], "by count, the rest not shown");
        assert_eq!((g.hidden, f.count), (1, 60));
        assert_eq!(g.rows[0].count, 30);
        assert!((g.rows[0].share - 0.5).abs() < 1e-12);
        let p99 = g.rows[1].values[1].expect("value");
        assert!((p99 - 500.0).abs() <= 5.0, "{p99}");
        // One line per shown group, of the chosen quantile.
        assert_eq!(f.series.labels, ["/b", "/c"]);
        assert!(f.series.points.iter().all(|p| p.1.len() == 2));
        assert!(f.series.title.contains("P99 per group"), "{}", f.series.title);
    }

    #[test]
    fn a_range_older_than_the_data_is_drawn_from_the_first_data() {
        let mut store = grouped_store();
        let look = Look::default();
        // Data from 60 s; a 15-minute range ending at 120 s starts long before.
        let f = frame_with(
            store.total_mut(),
            SketchKind::QuantileFlow,
            &[0.5],
            (-780_000, 120_000),
            1000,
            &look,
        );
        let (axis_from, _) = f.series.range_ms.expect("range");
        assert_eq!(axis_from, 60_000 - f.step_ms);
        assert!(
            f.series.axis_note.as_deref().unwrap_or("").contains("first data"),
            "{:?}",
            f.series.axis_note
        );
        // A range the data covers is drawn whole, without a note.
        let f = frame_with(
            store.total_mut(),
            SketchKind::QuantileFlow,
            &[0.5],
            (60_000, 120_000),
            1000,
            &look,
        );
        assert_eq!(f.series.range_ms, Some((60_000, 120_000)));
        assert_eq!(f.series.axis_note, None);
    }

    #[test]
    fn a_shifted_overlay_is_the_earlier_range_dashed_at_the_original_times() {
        let mut store = store_with(&[SketchKind::QuantileFlow]);
        let look = Look {
            shift_ms: Some(10_000),
            threshold: Some(50.0),
            spans: vec![(20_000, 25_000)],
            ..Look::default()
        };
        let f = frame_with(
            store.total_mut(),
            SketchKind::QuantileFlow,
            &[0.5, 0.99],
            (10_000, 20_000),
            1000,
            &look,
        );
        assert_eq!(f.series.labels, ["P50", "P99", "P50 (10s ago)", "P99 (10s ago)"]);
        assert_eq!(f.series.dashed, [None, None, Some(0), Some(1)]);
        assert_eq!(f.series.spans, [(20_000, 25_000)]);
        let earlier = store.lines(SketchKind::QuantileFlow, 0, 10_000, f.step_ms, &[0.5, 0.99]);
        for (t, values) in &earlier {
            let at = f
                .series
                .points
                .iter()
                .find(|p| p.0 == t + 10_000)
                .expect("the same time, shifted");
            assert_eq!(&at.1[2..], &values[..], "at {t}");
        }
        // The share ≤ 50 of the range, from the merged sketch.
        let share = f.share.expect("share");
        assert!(share.fraction > 0.2 && share.fraction < 0.5, "{share:?}");
    }
}
