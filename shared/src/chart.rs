//! Charts drawn once for every plotters backend: the server renders SVG
//! (`/api/chart.svg`), the browser a canvas. Percentiles over time, a
//! histogram of a range (log latency axis) and a heatmap over time, the last
//! two built from [`crate::Sketch::mass_points`] by [`LogBins`].

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
}

/// Why a chart could not be drawn.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("chart drawing failed: {0}")]
pub struct ChartError(pub String);

const LINE_COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws `series` on `root`: one line per label, time on x (seconds
/// relative to the last point), latency in ms on y.
pub fn draw_percentiles<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    series: &PercentileSeries,
    theme: Theme,
) -> Result<(), ChartError> {
    let err = |e: &dyn std::fmt::Display| ChartError(e.to_string());
    let (background, foreground) = colours(theme);
    let (first, last) = series.range_ms.unwrap_or((
        series.points.first().map_or(0, |p| p.0),
        series.points.last().map_or(0, |p| p.0),
    ));
    // Offsets from the end of the range, in minutes past 10 minutes, else seconds.
    let (unit_ms, unit) = if last - first > 600_000 {
        (60_000.0, "minutes")
    } else {
        (1000.0, "seconds")
    };
    let x_min = ((first - last) as f64 / unit_ms).min(-1.0);
    // Headroom above the highest point for the legend (top right, one
    // 18 px row per line), so it never covers a line.
    let (_, height) = root.dim_in_pixel();
    let legend_px = 18.0 * series.labels.len() as f64 + 16.0;
    let plot_px = (f64::from(height) - 70.0).max(legend_px * 2.0);
    let y_max = series
        .points
        .iter()
        .flat_map(|p| p.1.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b))
        .max(1.0)
        / (1.0 - legend_px / plot_px - 0.02);
    let mut chart = themed_chart(
        root,
        &series.title,
        theme,
        (x_min..0.0, 0.0..y_max),
        (unit, "ms"),
        56,
        0.08,
    )?;
    for (i, label) in series.labels.iter().enumerate() {
        let colour = LINE_COLOURS[i % LINE_COLOURS.len()];
        let line = series.points.iter().filter_map(|(t, v)| {
            v.get(i)
                .copied()
                .flatten()
                .map(|v| ((t - last) as f64 / unit_ms, v))
        });
        chart
            .draw_series(LineSeries::new(line, colour.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
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
    Ok(())
}

/// Log-spaced latency bins: the x axis of histograms and the y axis of
/// heatmaps.
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramChart {
    /// Title.
    pub title: String,
    /// The bins.
    pub bins: LogBins,
    /// Count per bin.
    pub counts: Vec<f64>,
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

/// Fills the background and builds a captioned chart over `x` × `y` with the
/// theme's axes, labels and grid drawn: the frame every chart here shares.
fn themed_chart<'a, DB, X, Y>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    theme: Theme,
    ranges: (X, Y),
    descs: (&str, &str),
    y_label_area: u32,
    light_mix: f64,
) -> Result<Chart<'a, DB, X, Y>, ChartError>
where
    DB: DrawingBackend,
    X: AsRangedCoord,
    Y: AsRangedCoord,
    X::CoordDescType: ValueFormatter<<X::CoordDescType as Ranged>::ValueType>,
    Y::CoordDescType: ValueFormatter<<Y::CoordDescType as Ranged>::ValueType>,
{
    let err = |e: &dyn std::fmt::Display| ChartError(e.to_string());
    let (background, foreground) = colours(theme);
    root.fill(&background).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 15).into_font().color(&foreground))
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(y_label_area)
        .build_cartesian_2d(ranges.0, ranges.1)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc(descs.0)
        .y_desc(descs.1)
        .label_style(("sans-serif", 13).into_font().color(&foreground))
        .axis_style(foreground)
        .light_line_style(foreground.mix(light_mix))
        .bold_line_style(foreground.mix(if light_mix > 0.0 { 0.2 } else { 0.1 }))
        .draw()
        .map_err(|e| err(&e))?;
    Ok(chart)
}

/// Draws a histogram: log latency (ms) on x, values per bin on y.
pub fn draw_histogram<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart_data: &HistogramChart,
    theme: Theme,
) -> Result<(), ChartError> {
    let err = |e: &dyn std::fmt::Display| ChartError(e.to_string());
    let edges = &chart_data.bins.edges;
    let (lo, hi) = chart_data.bins.span();
    let y_max = chart_data.counts.iter().fold(0.0f64, |a, &b| a.max(b)).max(1.0) * 1.05;
    let mut chart = themed_chart(
        root,
        &chart_data.title,
        theme,
        ((lo..hi).log_scale(), 0.0..y_max),
        ("ms (log)", "values"),
        64,
        0.08,
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
    Ok(())
}

/// A heatmap: one column of bin counts per time step.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatmapChart {
    /// Title.
    pub title: String,
    /// The latency bins (y axis).
    pub bins: LogBins,
    /// Length of one column in ms.
    pub step_ms: i64,
    /// `(column start, Unix ms; count per bin)`, oldest first.
    pub columns: Vec<(i64, Vec<f64>)>,
}

/// Draws a heatmap: time on x (seconds relative to the last column), log
/// latency on y, darker cells holding more values (log colour scale).
pub fn draw_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart_data: &HeatmapChart,
    theme: Theme,
) -> Result<(), ChartError> {
    let err = |e: &dyn std::fmt::Display| ChartError(e.to_string());
    let edges = &chart_data.bins.edges;
    let (lo, hi) = chart_data.bins.span();
    let step = chart_data.step_ms.max(1);
    let last = chart_data.columns.last().map_or(0, |c| c.0) + step;
    let first = chart_data.columns.first().map_or(0, |c| c.0);
    let x_min = ((first - last) as f64 / 1000.0).min(-1.0);
    let mut chart = themed_chart(
        root,
        &chart_data.title,
        theme,
        (x_min..0.0, (lo..hi).log_scale()),
        ("seconds", "ms (log)"),
        64,
        0.0,
    )?;
    let max = chart_data
        .columns
        .iter()
        .flat_map(|c| c.1.iter())
        .fold(0.0f64, |a, &b| a.max(b));
    let hot = LINE_COLOURS[2];
    let cells = chart_data.columns.iter().flat_map(|(t, counts)| {
        let x0 = (t - last) as f64 / 1000.0;
        let x1 = (t + step - last) as f64 / 1000.0;
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
    root.present().map_err(|e| err(&e))?;
    Ok(())
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

    #[test]
    fn the_x_axis_spans_the_chosen_range() {
        let draw = |range_ms| {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (400, 300)).into_drawing_area();
                let s = PercentileSeries {
                    title: "p".into(),
                    labels: vec!["P50".into()],
                    points: vec![(3_590_000, vec![Some(5.0)]), (3_600_000, vec![Some(6.0)])],
                    range_ms,
                };
                draw_percentiles(&root, &s, Theme::Light).expect("drawn");
            }
            svg
        };
        // An hour: minutes back to −60; without a range: the points' 10 s.
        let hour = draw(Some((0, 3_600_000)));
        assert!(
            hour.contains("\nminutes\n") && hour.contains("\n-60.0\n"),
            "{hour}"
        );
        let points = draw(None);
        assert!(
            points.contains("\nseconds\n") && !points.contains("\n-60.0\n"),
            "{points}"
        );
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
