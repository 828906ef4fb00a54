//! Charts drawn once for every plotters backend: the server renders SVG
//! (`/api/chart.svg`), the browser a canvas. Percentiles over time, a
//! histogram of a range (log latency axis) and a heatmap over time, the last
//! two built from [`crate::Sketch::mass_points`] by [`LogBins`].

pub mod axis;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Light or dark colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    /// Dark lines on white.
    Light,
    /// Light lines on near-black.
    Dark,
}

impl std::str::FromStr for Theme {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "light" => Ok(Theme::Light),
            "dark" => Ok(Theme::Dark),
            other => Err(format!("unknown theme {other:?}; use light or dark")),
        }
    }
}

/// Quantile lines over time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PercentileSeries {
    /// Chart title (e.g. the sketch kind).
    pub title: String,
    /// Labels of the lines, e.g. `P50`, `P99`.
    pub labels: Vec<String>,
    /// `(time in Unix ms, one value per label)`, oldest first.
    pub points: Vec<(i64, Vec<Option<f64>>)>,
    /// The time range the x axis spans, Unix ms (`None`: the points' own span).
    pub range_ms: Option<(i64, i64)>,
    /// Unit of the values (`ms`; empty: a plain number).
    pub unit: String,
    /// A horizontal line at this value (`le=`, "share ≤ X").
    pub threshold: Option<f64>,
    /// Time labels are in UTC + this many minutes.
    pub utc_offset_min: i32,
    /// Said under the time axis instead of the zone (e.g. that the axis
    /// starts at the first data, not at the range start).
    pub axis_note: Option<String>,
    /// Lines drawn dashed (by label index; e.g. the "1 h ago" overlay),
    /// each in the colour of the solid line it compares with:
    /// `dashed[i] = Some(j)` draws line `i` dashed in line `j`'s colour.
    pub dashed: Vec<Option<usize>>,
    /// Time spans shaded behind the lines (e.g. when an alert fired), Unix ms.
    pub spans: Vec<(i64, i64)>,
}

/// Lines of fewer points than this get a marker on each point.
const MARK_POINTS_BELOW: usize = 40;

/// Colour of shaded spans (alerts firing).
const SPAN_COLOUR: RGBColor = RGBColor(214, 39, 40);

/// The tick labels a chart drew (what a reader sees on its axes), and where
/// its x axis lies (for hover readouts).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DrawnAxes {
    /// Time (or value, for histograms) labels, left to right.
    pub x: Vec<String>,
    /// Value labels, bottom to top.
    pub y: Vec<String>,
    /// Pixel columns of the plotting area, left to right.
    pub plot_px: (i32, i32),
    /// The time span of the x axis, Unix ms (time charts only).
    pub x_range_ms: Option<(i64, i64)>,
}

impl DrawnAxes {
    /// The time under pixel column `px`, if it is over the plotting area.
    pub fn time_at(&self, px: i32) -> Option<i64> {
        let (x0, x1) = self.plot_px;
        let (from, to) = self.x_range_ms?;
        if x1 <= x0 || px < x0 || px > x1 {
            return None;
        }
        let share = f64::from(px - x0) / f64::from(x1 - x0);
        // Within [from, to] by construction.
        Some(from + (share * (to - from) as f64).round() as i64)
    }
}

/// Collects each distinct label a formatter is asked for, in order.
#[derive(Default)]
struct LabelLog(std::cell::RefCell<Vec<String>>);

impl LabelLog {
    fn keep(&self, label: String) -> String {
        let mut labels = self.0.borrow_mut();
        if !labels.contains(&label) {
            labels.push(label.clone());
        }
        label
    }

    fn take(&self) -> Vec<String> {
        self.0.take()
    }
}

/// What a chart drew: the labels its two logs collected, and where its x
/// axis lies (`plot` and `range` for time charts).
fn drawn(
    x: &LabelLog,
    y: &LabelLog,
    plot: Option<std::ops::Range<i32>>,
    range: Option<(i64, i64)>,
) -> DrawnAxes {
    DrawnAxes {
        x: x.take(),
        y: y.take(),
        plot_px: plot.map_or((0, 0), |p| (p.start, p.end)),
        x_range_ms: range,
    }
}

/// Why a chart could not be drawn.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("chart drawing failed: {0}")]
pub struct ChartError(pub String);

/// Line colours, in order (ten: one per group a grouped chart shows; the
/// dashboard's legend swatches use the same).
const LINE_COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Colour of threshold lines.
const THRESHOLD_COLOUR: RGBColor = RGBColor(200, 40, 160);

/// The x axis of a time chart: the series' range, else its points' span.
fn time_span(range: Option<(i64, i64)>, first: Option<i64>, last: Option<i64>) -> (i64, i64) {
    range.unwrap_or((first.unwrap_or(0), last.unwrap_or(0)))
}

/// What is written under a time axis: the note, else the zone.
fn time_desc(note: Option<&str>, offset_min: i32) -> String {
    match note {
        Some(n) => n.to_owned(),
        None => format!("time ({})", axis::utc_offset_label(offset_min)),
    }
}

/// Draws `series` on `root`: one line per label over wall-clock time, values
/// in their unit, the threshold as a dashed line; returns the tick labels.
pub fn draw_percentiles<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    series: &PercentileSeries,
    theme: Theme,
) -> Result<DrawnAxes, ChartError> {
    let err = |e: &dyn std::fmt::Display| ChartError(e.to_string());
    let (background, foreground) = colours(theme);
    let (first, last) = time_span(
        series.range_ms,
        series.points.first().map(|p| p.0),
        series.points.last().map(|p| p.0),
    );
    let x = axis::TimeCoord::new(first, last, series.utc_offset_min);
    // Headroom above the highest point for the legend (top right, one
    // 18 px row per line), so it never covers a line.
    let (_, height) = root.dim_in_pixel();
    let lines = series.labels.len() + usize::from(series.threshold.is_some());
    let legend_px = 18.0 * lines as f64 + 16.0;
    let plot_px = (f64::from(height) - 70.0).max(legend_px * 2.0);
    let y_max = series
        .points
        .iter()
        .flat_map(|p| p.1.iter().flatten())
        .chain(series.threshold.iter())
        .fold(0.0f64, |a, &b| a.max(b))
        .max(1.0)
        / (1.0 - legend_px / plot_px - 0.02);
    let (x_log, y_log) = (LabelLog::default(), LabelLog::default());
    let x_fmt = |t: &i64| x_log.keep(x.format_ext(t));
    let y_fmt = |v: &f64| y_log.keep(axis::format_value(*v, &series.unit));
    let mut chart = themed_chart(
        root,
        ChartFrame {
            title: &series.title,
            theme,
            x_desc: &time_desc(series.axis_note.as_deref(), series.utc_offset_min),
            y_desc: "",
            y_label_area: 72,
            light_mix: 0.08,
        },
        (x, 0.0..y_max),
        (&x_fmt, &y_fmt),
    )?;
    let y_top = y_max;
    chart
        .draw_series(
            series
                .spans
                .iter()
                .filter(|(a, b)| *b > first && *a < last)
                .map(|&(a, b)| {
                    Rectangle::new(
                        [(a.max(first), 0.0), (b.min(last), y_top)],
                        SPAN_COLOUR.mix(0.15).filled(),
                    )
                }),
        )
        .map_err(|e| err(&e))?;
    // With few points, each is marked too: a line of one point draws nothing.
    let marked = series.points.len() < MARK_POINTS_BELOW;
    for (i, label) in series.labels.iter().enumerate() {
        let line = series
            .points
            .iter()
            .filter_map(|(t, v)| v.get(i).copied().flatten().map(|v| (*t, v)));
        if marked {
            let like = series.dashed.get(i).copied().flatten().unwrap_or(i);
            let colour = LINE_COLOURS[like % LINE_COLOURS.len()];
            let filled = series.dashed.get(i).copied().flatten().is_none();
            chart
                .draw_series(line.clone().map(|p| {
                    let style = if filled {
                        colour.filled()
                    } else {
                        colour.stroke_width(1)
                    };
                    Circle::new(p, 3, style)
                }))
                .map_err(|e| err(&e))?;
        }
        match series.dashed.get(i).copied().flatten() {
            Some(like) => {
                let style = LINE_COLOURS[like % LINE_COLOURS.len()].mix(0.7).stroke_width(2);
                // Dashes need every point of a run; gaps split the runs.
                chart
                    .draw_series(DashedLineSeries::new(line.collect::<Vec<_>>(), 6, 4, style))
                    .map_err(|e| err(&e))?
                    .label(label.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 6, y)], style));
            }
            None => {
                let colour = LINE_COLOURS[i % LINE_COLOURS.len()];
                chart
                    .draw_series(LineSeries::new(line, colour.stroke_width(2)))
                    .map_err(|e| err(&e))?
                    .label(label.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                    });
            }
        }
    }
    if let Some(le) = series.threshold {
        let style = THRESHOLD_COLOUR.stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new([(first, le), (last, le)], 8, 5, style))
            .map_err(|e| err(&e))?
            .label(format!("≤ {}", axis::format_value(le, &series.unit)))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 13).into_font().color(&foreground))
        .background_style(background.mix(0.8))
        .border_style(foreground.mix(0.3))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    let plot = chart.plotting_area().get_pixel_range().0;
    Ok(drawn(&x_log, &y_log, Some(plot), Some((first, last))))
}

/// Log-spaced latency bins: the x axis of histograms and the y axis of
/// heatmaps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogBins {
    /// `n + 1` ascending edges (all > 0).
    pub edges: Vec<f64>,
}

impl LogBins {
    /// `n` bins spanning `[lo, hi]` (both clamped to at least 1e-3, and
    /// widened when equal).
    pub fn new(lo: f64, hi: f64, n: usize) -> Self {
        let n = n.max(1);
        let lo = lo.max(1e-3);
        let hi = hi.max(lo * 1.01);
        let (a, b) = (lo.ln(), hi.ln());
        let edges = (0..=n)
            .map(|i| (a + (b - a) * i as f64 / n as f64).exp())
            .collect();
        Self { edges }
    }

    /// Bins spanning every mass point of `points` (positive values).
    pub fn spanning<'a>(points: impl IntoIterator<Item = &'a [(f64, f64)]>, n: usize) -> Self {
        let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
        for p in points.into_iter().flatten().filter(|p| p.0 > 0.0 && p.1 > 0.0) {
            lo = lo.min(p.0);
            hi = hi.max(p.0);
        }
        if lo > hi {
            (lo, hi) = (1.0, 10.0);
        }
        Self::new(lo / 1.01, hi * 1.01, n)
    }

    /// First and last edge (1–10 when there are no bins).
    pub fn span(&self) -> (f64, f64) {
        match (self.edges.first(), self.edges.last()) {
            (Some(&lo), Some(&hi)) if hi > lo => (lo, hi),
            _ => (1.0, 10.0),
        }
    }

    /// Number of bins.
    pub fn len(&self) -> usize {
        self.edges.len().saturating_sub(1)
    }

    /// Whether there are no bins.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts of `points` per bin; values below the first edge (zero and
    /// negatives included) go to the first bin, above the last to the last.
    pub fn count(&self, points: &[(f64, f64)]) -> Vec<f64> {
        let mut counts = vec![0.0; self.len()];
        if counts.is_empty() {
            return counts;
        }
        let last = counts.len() - 1;
        for &(value, count) in points {
            let i = self.edges.partition_point(|&e| e <= value).saturating_sub(1);
            counts[i.min(last)] += count;
        }
        counts
    }
}

/// A histogram of one time range.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistogramChart {
    /// Title.
    pub title: String,
    /// The bins.
    pub bins: LogBins,
    /// Count per bin.
    pub counts: Vec<f64>,
    /// Unit of the values.
    pub unit: String,
}

fn colours(theme: Theme) -> (RGBColor, RGBColor) {
    match theme {
        Theme::Light => (WHITE, RGBColor(30, 30, 30)),
        Theme::Dark => (RGBColor(18, 18, 20), RGBColor(220, 220, 220)),
    }
}

/// A chart over the coordinates of ranges `X` × `Y`.
type Chart<'a, DB, X, Y> = ChartContext<
    'a,
    DB,
    Cartesian2d<<X as AsRangedCoord>::CoordDescType, <Y as AsRangedCoord>::CoordDescType>,
>;

/// What every chart's frame shows besides its data.
struct ChartFrame<'t> {
    title: &'t str,
    theme: Theme,
    x_desc: &'t str,
    y_desc: &'t str,
    y_label_area: u32,
    light_mix: f64,
}

/// A tick label formatter of values of type `V`.
type Fmt<'f, V> = &'f dyn Fn(&V) -> String;

/// The value type of the coordinate a range `R` builds.
type ValueOf<R> = <<R as AsRangedCoord>::CoordDescType as Ranged>::ValueType;

/// Fills the background and builds a captioned chart over `x` × `y` with the
/// theme's axes, tick labels (from `fmts`) and grid drawn: the frame every
/// chart here shares.
fn themed_chart<'a, DB, X, Y>(
    root: &'a DrawingArea<DB, Shift>,
    frame: ChartFrame<'_>,
    ranges: (X, Y),
    fmts: (Fmt<'_, ValueOf<X>>, Fmt<'_, ValueOf<Y>>),
) -> Result<Chart<'a, DB, X, Y>, ChartError>
where
    DB: DrawingBackend,
    X: AsRangedCoord,
    Y: AsRangedCoord,
    X::CoordDescType: ValueFormatter<<X::CoordDescType as Ranged>::ValueType>,
    Y::CoordDescType: ValueFormatter<<Y::CoordDescType as Ranged>::ValueType>,
{
    let err = |e: &dyn std::fmt::Display| ChartError(e.to_string());
    let (background, foreground) = colours(frame.theme);
    root.fill(&background).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(root)
        .caption(frame.title, ("sans-serif", 15).into_font().color(&foreground))
        .margin(8)
        .margin_right(32)
        .x_label_area_size(40)
        .y_label_area_size(frame.y_label_area)
        .build_cartesian_2d(ranges.0, ranges.1)
        .map_err(|e| err(&e))?;
    let light = frame.light_mix;
    chart
        .configure_mesh()
        .x_desc(frame.x_desc)
        .y_desc(frame.y_desc)
        .x_labels(axis::TIME_TICKS)
        .x_label_formatter(fmts.0)
        .y_label_formatter(fmts.1)
        .label_style(("sans-serif", 13).into_font().color(&foreground))
        .axis_style(foreground)
        .light_line_style(foreground.mix(light))
        .bold_line_style(foreground.mix(if light > 0.0 { 0.2 } else { 0.1 }))
        .draw()
        .map_err(|e| err(&e))?;
    Ok(chart)
}

/// Draws a histogram: log values (in their unit) on x, values per bin on y.
pub fn draw_histogram<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart_data: &HistogramChart,
    theme: Theme,
) -> Result<DrawnAxes, ChartError> {
    let err = |e: &dyn std::fmt::Display| ChartError(e.to_string());
    let edges = &chart_data.bins.edges;
    let (lo, hi) = chart_data.bins.span();
    let y_max = chart_data.counts.iter().fold(0.0f64, |a, &b| a.max(b)).max(1.0) * 1.05;
    let (x_log, y_log) = (LabelLog::default(), LabelLog::default());
    let x_fmt = |v: &f64| x_log.keep(axis::format_value(*v, &chart_data.unit));
    let y_fmt = |v: &f64| y_log.keep(axis::group_thousands(*v, 0));
    let mut chart = themed_chart(
        root,
        ChartFrame {
            title: &chart_data.title,
            theme,
            x_desc: "log scale",
            y_desc: "values",
            y_label_area: 72,
            light_mix: 0.08,
        },
        ((lo..hi).log_scale(), 0.0..y_max),
        (&x_fmt, &y_fmt),
    )?;
    let bar = LINE_COLOURS[0];
    chart
        .draw_series(
            edges
                .windows(2)
                .zip(&chart_data.counts)
                .filter(|(_, &c)| c > 0.0)
                .map(|(e, &c)| Rectangle::new([(e[0], 0.0), (e[1], c)], bar.mix(0.8).filled())),
        )
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(drawn(&x_log, &y_log, None, None))
}

/// A heatmap: one column of bin counts per time step.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HeatmapChart {
    /// Title.
    pub title: String,
    /// The value bins (y axis).
    pub bins: LogBins,
    /// Length of one column in ms.
    pub step_ms: i64,
    /// `(column start, Unix ms; count per bin)`, oldest first.
    pub columns: Vec<(i64, Vec<f64>)>,
    /// The time range the x axis spans (`None`: the columns' own span), so
    /// the heatmap lines up with the percentile chart of the same range.
    pub range_ms: Option<(i64, i64)>,
    /// Unit of the values.
    pub unit: String,
    /// A marked value (`le=`): a dashed line across the map.
    pub threshold: Option<f64>,
    /// Time labels are in UTC + this many minutes.
    pub utc_offset_min: i32,
    /// Said under the time axis instead of the zone.
    pub axis_note: Option<String>,
}

/// Draws a heatmap: wall-clock time on x, log values on y, darker cells
/// holding more values (log colour scale), the threshold as a dashed line.
pub fn draw_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart_data: &HeatmapChart,
    theme: Theme,
) -> Result<DrawnAxes, ChartError> {
    let err = |e: &dyn std::fmt::Display| ChartError(e.to_string());
    let edges = &chart_data.bins.edges;
    let (lo, hi) = chart_data.bins.span();
    let step = chart_data.step_ms.max(1);
    let (first, last) = time_span(
        chart_data.range_ms,
        chart_data.columns.first().map(|c| c.0),
        chart_data.columns.last().map(|c| c.0 + step),
    );
    let x = axis::TimeCoord::new(first, last, chart_data.utc_offset_min);
    let (x_log, y_log) = (LabelLog::default(), LabelLog::default());
    let x_fmt = |t: &i64| x_log.keep(x.format_ext(t));
    let y_fmt = |v: &f64| y_log.keep(axis::format_value(*v, &chart_data.unit));
    let mut chart = themed_chart(
        root,
        ChartFrame {
            title: &chart_data.title,
            theme,
            x_desc: &time_desc(chart_data.axis_note.as_deref(), chart_data.utc_offset_min),
            y_desc: "log scale",
            y_label_area: 72,
            light_mix: 0.0,
        },
        (x, (lo..hi).log_scale()),
        (&x_fmt, &y_fmt),
    )?;
    let max = chart_data
        .columns
        .iter()
        .flat_map(|c| c.1.iter())
        .fold(0.0f64, |a, &b| a.max(b));
    let hot = LINE_COLOURS[2];
    let cells = chart_data.columns.iter().flat_map(|(t, counts)| {
        // Columns cut by the range are drawn inside it.
        let (x0, x1) = ((*t).max(first), (t + step).min(last));
        edges
            .windows(2)
            .zip(counts)
            .filter(|(_, &c)| c > 0.0)
            .map(move |(e, &c)| {
                let shade = ((1.0 + c).ln() / (1.0 + max).ln()).clamp(0.08, 1.0);
                Rectangle::new([(x0, e[0]), (x1, e[1])], hot.mix(shade).filled())
            })
    });
    chart.draw_series(cells).map_err(|e| err(&e))?;
    if let Some(le) = chart_data.threshold.filter(|&le| le > lo && le < hi) {
        let style = THRESHOLD_COLOUR.stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new([(first, le), (last, le)], 8, 5, style))
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    let plot = chart.plotting_area().get_pixel_range().0;
    Ok(drawn(&x_log, &y_log, Some(plot), Some((first, last))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters_svg::SVGBackend;

    #[test]
    fn log_bins_keep_every_count() {
        let bins = LogBins::new(1.0, 1000.0, 3);
        assert_eq!(bins.len(), 3);
        assert!((bins.edges[1] - 10.0).abs() < 1e-9 && (bins.edges[2] - 100.0).abs() < 1e-9);
        let counts = bins.count(&[(0.0, 1.0), (5.0, 2.0), (50.0, 3.0), (500.0, 4.0), (5e6, 5.0)]);
        assert_eq!(counts, vec![3.0, 3.0, 9.0]);
        let spanning = LogBins::spanning([&[(2.0, 1.0), (200.0, 1.0)][..]], 10);
        assert!(spanning.edges[0] < 2.0 && spanning.edges[10] > 200.0);
    }

    fn svg_of(s: &PercentileSeries) -> (String, DrawnAxes) {
        let mut svg = String::new();
        let axes = {
            let root = SVGBackend::with_string(&mut svg, (600, 300)).into_drawing_area();
            draw_percentiles(&root, s, Theme::Light).expect("drawn")
        };
        (svg, axes)
    }

    // 2026-12-01 18:00:00 UTC.
    const SIX_PM: i64 = 1_796_148_000_000;

    #[test]
    fn the_time_axis_reads_as_clock_times_over_the_chosen_range() {
        let s = PercentileSeries {
            title: "p".into(),
            labels: vec!["P50".into()],
            points: vec![(SIX_PM - 10_000, vec![Some(5.0)]), (SIX_PM, vec![Some(6.0)])],
            range_ms: Some((SIX_PM - 3_600_000, SIX_PM)),
            unit: "ms".into(),
            ..Default::default()
        };
        let (svg, axes) = svg_of(&s);
        // Two points: each marked, so even a one-bucket line is visible.
        assert_eq!(svg.matches("<circle").count(), 2, "{svg}");
        // An hour: ticks every 10 minutes, as 17:10 … 18:00, in the SVG text.
        assert_eq!(axes.x.first().map(String::as_str), Some("17:10"), "{axes:?}");
        assert_eq!(axes.x.last().map(String::as_str), Some("18:00"), "{axes:?}");
        for label in &axes.x {
            assert!(svg.contains(label.as_str()), "{label} not in the SVG");
        }
        assert!(svg.contains("time (UTC)"));
        // The plotting area maps back to times (hover readouts).
        let (x0, x1) = axes.plot_px;
        assert!(x0 > 0 && x1 > x0 && x1 < 600, "{:?}", axes.plot_px);
        assert_eq!(axes.time_at(x0), Some(SIX_PM - 3_600_000));
        assert_eq!(axes.time_at(x1), Some(SIX_PM));
        assert_eq!(axes.time_at(x1 + 1), None);
        // The same data in UTC+01:00 reads an hour later.
        let (_, local) = svg_of(&PercentileSeries {
            utc_offset_min: 60,
            ..s.clone()
        });
        assert_eq!(local.x.last().map(String::as_str), Some("19:00"));
        // Without a range: the points' own 10 s, with seconds.
        let (_, points) = svg_of(&PercentileSeries {
            range_ms: None,
            ..s.clone()
        });
        assert!(
            points
                .x
                .iter()
                .all(|l| l.starts_with("17:59:") || l == "18:00:00"),
            "{points:?}"
        );
    }

    #[test]
    fn the_value_axis_reads_in_the_unit_and_the_threshold_is_drawn() {
        let s = PercentileSeries {
            title: "p".into(),
            labels: vec!["P99".into()],
            points: (0..10)
                .map(|i| (SIX_PM + i * 1000, vec![Some(40_000.0 + i as f64 * 1000.0)]))
                .collect(),
            range_ms: None,
            unit: "ms".into(),
            threshold: Some(25_000.0),
            ..Default::default()
        };
        let (svg, axes) = svg_of(&s);
        assert!(axes.y.iter().any(|l| l == "50 s"), "{axes:?}");
        assert!(
            axes.y.iter().all(|l| l.ends_with(" s") || l == "0 ms"),
            "{axes:?}"
        );
        assert!(!svg.contains("50000"), "raw numbers on the axis");
        assert!(svg.contains("≤ 25 s"), "the threshold's legend entry");
        // The dashed threshold line is drawn as several short segments.
        let without = svg_of(&PercentileSeries {
            threshold: None,
            ..s.clone()
        })
        .0;
        assert!(svg.matches("<polyline").count() > without.matches("<polyline").count() + 3);
        // A shaded span is one more rectangle; a dashed copy of the line
        // ("1 h ago") is many short segments.
        let shaded = svg_of(&PercentileSeries {
            spans: vec![(SIX_PM + 2_000, SIX_PM + 5_000), (0, 1)],
            ..s.clone()
        })
        .0;
        assert_eq!(
            shaded.matches("<rect").count(),
            svg.matches("<rect").count() + 1,
            "only the span in range"
        );
        let mut overlay = s.clone();
        overlay.labels.push("P99 (1h ago)".into());
        overlay.dashed = vec![None, Some(0)];
        for p in &mut overlay.points {
            p.1.push(Some(30_000.0));
        }
        let (dashed, _) = svg_of(&overlay);
        assert!(dashed.contains("P99 (1h ago)"));
        assert!(dashed.matches("<polyline").count() > svg.matches("<polyline").count() + 3);
    }

    /// Numbers of `name="…"` in an SVG element.
    fn svg_attr(element: &str, name: &str) -> Option<f64> {
        let start = element.find(&format!(" {name}=\""))? + name.len() + 3;
        element[start..].split('"').next()?.parse().ok()
    }

    #[test]
    fn the_legend_never_covers_a_line() {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (400, 240)).into_drawing_area();
            // Every line ends at its highest point, top right, where the legend goes.
            let points = (0..60)
                .map(|i| {
                    let v = f64::from(i);
                    (i64::from(i) * 1000, vec![Some(v), Some(2.0 * v), Some(3.0 * v)])
                })
                .collect();
            let s = PercentileSeries {
                title: "p".into(),
                labels: vec!["P50".into(), "P95".into(), "P99".into()],
                points,
                range_ms: None,
                ..Default::default()
            };
            draw_percentiles(&root, &s, Theme::Light).expect("drawn");
        }
        // The legend box is the last rectangle drawn; the lines are polylines.
        let rect = svg.rsplit("<rect").next().expect("a legend box");
        let (x, y) = (svg_attr(rect, "x").expect("x"), svg_attr(rect, "y").expect("y"));
        let (w, h) = (
            svg_attr(rect, "width").expect("w"),
            svg_attr(rect, "height").expect("h"),
        );
        let mut line_points = 0;
        for polyline in svg.split("<polyline").skip(1) {
            let list = polyline
                .split("points=\"")
                .nth(1)
                .and_then(|p| p.split('"').next())
                .unwrap_or("");
            if list.split_whitespace().count() <= 2 {
                continue; // a legend sample, drawn inside the legend
            }
            for point in list.split_whitespace() {
                let (px, py) = point.split_once(',').expect("x,y");
                let (px, py): (f64, f64) = (px.parse().expect("x"), py.parse().expect("y"));
                line_points += 1;
                assert!(
                    !(px >= x && px <= x + w && py >= y && py <= y + h),
                    "line point ({px}, {py}) under the legend at ({x}, {y}) {w}×{h}"
                );
            }
        }
        assert!(line_points >= 3 * 60, "{line_points} line points");
    }

    #[test]
    fn histogram_and_heatmap_draw_bars_in_svg() {
        let bins = LogBins::new(1.0, 1000.0, 3);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (400, 300)).into_drawing_area();
            let h = HistogramChart {
                title: "h".into(),
                bins: bins.clone(),
                counts: vec![1.0, 0.0, 4.0],
                unit: "ms".into(),
            };
            draw_histogram(&root, &h, Theme::Dark).expect("drawn");
        }
        assert_eq!(
            svg.matches("<rect").count(),
            1 + 2,
            "background + two non-empty bars"
        );
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (400, 300)).into_drawing_area();
            let h = HeatmapChart {
                title: "m".into(),
                bins,
                step_ms: 1000,
                columns: vec![(0, vec![1.0, 2.0, 0.0]), (1000, vec![0.0, 0.0, 7.0])],
                ..Default::default()
            };
            draw_heatmap(&root, &h, Theme::Light).expect("drawn");
        }
        assert_eq!(
            svg.matches("<rect").count(),
            1 + 3,
            "background + three non-empty cells"
        );
    }
}
