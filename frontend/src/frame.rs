//! What one redraw shows, computed from the store: quantile lines and
//! readouts of the chosen range, the comparison of the four kinds, the
//! histogram and the heatmap. Every number here is read from sketches
//! merged over its range, never from averaged percentiles. Pure Rust.

use shared::chart::{HeatmapChart, HistogramChart, LogBins, PercentileSeries};
use shared::{Sketch, SketchKind};

use crate::store::{step_for, ClientStore};
use crate::view_state::{quantile_label, DEFAULT_QS};

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
    /// Smallest value.
    pub min: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// How the MomentSketch solver got its numbers (or why it failed).
    pub solver_note: Option<String>,
    /// Histogram of the range (from the same merged sketch), if it has values.
    pub histogram: Option<HistogramChart>,
}

/// Computes the percentile view.
pub fn frame(
    store: &mut ClientStore,
    kind: SketchKind,
    qs: &[f64],
    from: i64,
    to: i64,
    window_ms: i64,
) -> Frame {
    let step_ms = step_for(to - from, LINE_POINTS, window_ms);
    let points = store.lines(kind, from, to, step_ms, qs);
    let labels: Vec<String> = qs.iter().map(|&q| quantile_label(q)).collect();
    let merged = store.merged(kind, from, to);
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
    Frame {
        kind,
        from,
        to,
        step_ms,
        series: PercentileSeries {
            title: format!("{kind} · step {}", human_ms(step_ms)),
            labels,
            range_ms: Some((from, to)),
            points,
        },
        readouts: qs.iter().map(|&q| readout(q)).collect(),
        standard: DEFAULT_QS.iter().map(|&q| readout(q)).collect(),
        count: merged.as_ref().map_or(0, Sketch::count),
        mean: merged.as_ref().and_then(Sketch::mean),
        min: merged.as_ref().and_then(Sketch::min),
        max: merged.as_ref().and_then(Sketch::max),
        solver_note,
        histogram: merged
            .as_ref()
            .filter(|s| !s.is_empty())
            .map(|s| histogram_of(kind, s)),
    }
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
fn histogram_of(kind: SketchKind, merged: &Sketch) -> HistogramChart {
    let points = merged.mass_points();
    let bins = LogBins::spanning([points.as_slice()], BINS);
    let counts = bins.count(&points);
    HistogramChart {
        title: format!("{kind} · {} values", merged.count()),
        bins,
        counts,
    }
}

/// Heatmap of the range: one column per step, bins from every column.
pub fn heatmap(
    store: &mut ClientStore,
    kind: SketchKind,
    from: i64,
    to: i64,
    window_ms: i64,
) -> Option<HeatmapChart> {
    let step_ms = step_for(to - from, HEATMAP_COLUMNS, window_ms);
    let columns = store.bucket_mass_points(kind, from, to, step_ms);
    if columns.is_empty() {
        return None;
    }
    let bins = LogBins::spanning(columns.iter().map(|c| c.1.as_slice()), BINS);
    Some(HeatmapChart {
        title: format!("{kind} · step {}", human_ms(step_ms)),
        columns: columns.iter().map(|(t, p)| (*t, bins.count(p))).collect(),
        bins,
        step_ms,
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
        let m = heatmap(&mut store, SketchKind::QuantileFlow, 0, 29_999, 1000).expect("heatmap");
        let total: f64 = m.columns.iter().flat_map(|c| c.1.iter()).sum();
        assert!((total - 3000.0).abs() < 1e-9);
    }
}
