//! Percentile charts, drawn once for every plotters backend: the server
//! renders SVG (`/api/chart.svg`), the browser a canvas.

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
#[derive(Debug, Clone, PartialEq)]
pub struct PercentileSeries {
    /// Chart title (e.g. the sketch kind).
    pub title: String,
    /// Labels of the lines, e.g. `P50`, `P99`.
    pub labels: Vec<String>,
    /// `(time in Unix ms, one value per label)`, oldest first.
    pub points: Vec<(i64, Vec<Option<f64>>)>,
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
    let (background, foreground) = match theme {
        Theme::Light => (WHITE, RGBColor(30, 30, 30)),
        Theme::Dark => (RGBColor(18, 18, 20), RGBColor(220, 220, 220)),
    };
    root.fill(&background).map_err(|e| err(&e))?;
    let last = series.points.last().map_or(0, |p| p.0);
    let first = series.points.first().map_or(0, |p| p.0);
    // Millisecond offsets to seconds for the axis; the span is small enough for f64.
    let x_min = ((first - last) as f64 / 1000.0).min(-1.0);
    let y_max = series
        .points
        .iter()
        .flat_map(|p| p.1.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b))
        .max(1.0)
        * 1.05;
    let text = ("sans-serif", 13).into_font().color(&foreground);
    let mut chart = ChartBuilder::on(root)
        .caption(&series.title, ("sans-serif", 15).into_font().color(&foreground))
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x_min..0.0, 0.0..y_max)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("ms")
        .label_style(text.clone())
        .axis_style(foreground)
        .light_line_style(foreground.mix(0.08))
        .bold_line_style(foreground.mix(0.2))
        .draw()
        .map_err(|e| err(&e))?;
    for (i, label) in series.labels.iter().enumerate() {
        let colour = LINE_COLOURS[i % LINE_COLOURS.len()];
        let line = series.points.iter().filter_map(|(t, v)| {
            v.get(i)
                .copied()
                .flatten()
                .map(|v| ((t - last) as f64 / 1000.0, v))
        });
        chart
            .draw_series(LineSeries::new(line, colour.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .label_font(text)
        .background_style(background.mix(0.8))
        .border_style(foreground.mix(0.3))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
