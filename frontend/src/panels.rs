//! The panels a page is made of, each usable alone in an embed:
//! percentiles chart, quantile readouts, histogram, heatmap, stats, compare.

use leptos::html::Canvas;
use leptos::prelude::*;
use shared::chart::{
    draw_heatmap, draw_histogram, draw_percentiles, DrawnAxes, HeatmapChart, HistogramChart,
};
use shared::SketchKind;

use crate::api::ExactRow;
use crate::canvas::draw_on;
use crate::frame::{self, fmt_ms, CompareRow, Frame, GROUP_LIMIT};
use crate::page::Page;
use crate::store::ClientStore;
use crate::view_state::quantile_label;

/// The percentile frame of the page's kind, range and grouping, recomputed
/// when data arrives (once per animation frame), the view changes or the
/// clock ticks.
pub fn use_frame(page: Page) -> Memo<Frame> {
    Memo::new(move |_| {
        page.live.revision.track();
        let kind = page.kind();
        let range = page.range();
        let window_ms = page.window_ms();
        let look = page.look();
        let (qs, grouped, line_q) = page.view.with(|v| (v.qs.clone(), v.by.is_some(), v.line_q()));
        let compute = |s: &mut ClientStore| {
            if grouped {
                frame::grouped_frame(s, kind, &qs, line_q, range, window_ms, &look, GROUP_LIMIT)
            } else {
                frame::frame_with(s.total_mut(), kind, &qs, range, window_ms, &look)
            }
        };
        page.live
            .store
            .try_update_value(compute)
            .unwrap_or_else(|| compute(&mut ClientStore::new()))
    })
}

/// `a|b|c`: drawn tick labels for a `data-` attribute (what the e2e test reads).
fn joined(labels: &[String]) -> String {
    labels.join("|")
}

fn report(page: Page, result: Result<(), String>) {
    if let Err(e) = result {
        page.live.last_error.set(Some(format!("drawing failed: {e}")));
    }
}

/// Percentiles over time on a canvas.
#[component]
pub fn PercentileChart(
    /// The page.
    page: Page,
    /// The frame to draw.
    frame: Memo<Frame>,
    /// The canvas (for PNG export).
    canvas: NodeRef<Canvas>,
) -> impl IntoView {
    let axes = RwSignal::new(DrawnAxes::default());
    let hover = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        page.resized.track();
        let theme = page.view.with(|v| v.theme);
        let series = frame.with(|f| f.series.clone());
        if let Some(c) = canvas.get() {
            match draw_on(&c, |root| draw_percentiles(root, &series, theme)) {
                Ok(drawn) => axes.set(drawn),
                Err(e) => report(page, Err(e)),
            }
        }
    });
    let on_move = move |e: leptos::ev::MouseEvent| {
        let text = axes
            .with_untracked(|a| a.time_at(e.offset_x()))
            .and_then(|t| frame.with_untracked(|f| hover_text(&f.series, t)));
        hover.set(text);
    };
    view! {
        <canvas
            node_ref=canvas
            class="chart"
            id="chart-percentiles"
            data-testid="percentile-canvas"
            data-points=move || frame.with(|f| f.series.points.len())
            data-x-labels=move || axes.with(|a| joined(&a.x))
            data-y-labels=move || axes.with(|a| joined(&a.y))
            data-lines=move || frame.with(|f| joined(&f.series.labels))
            data-spans=move || frame.with(|f| f.series.spans.iter().filter(|(a, b)| *b > f.from && *a < f.to).count())
            on:mousemove=on_move
            on:mouseleave=move |_| hover.set(None)
        ></canvas>
        <p class="hover-readout muted" data-testid="hover-readout">
            {move || hover.get().unwrap_or_else(|| "hover the chart for the values at a time".to_owned())}
        </p>
    }
}

/// `18:15:30 · P50 7.2 s · P99 53.6 s`: the point nearest `t` and each
/// line's value there (the browser's local time, as on the axis).
fn hover_text(series: &shared::chart::PercentileSeries, t: i64) -> Option<String> {
    use shared::chart::axis::{format_value, TimeFormat};
    let (at, values) = series.points.iter().min_by_key(|p| (p.0 - t).abs())?;
    let time = TimeFormat::for_range(*at, *at, 1000, series.utc_offset_min).format(*at);
    let mut text = time;
    for (label, v) in series.labels.iter().zip(values) {
        let shown = v.map_or_else(|| "—".to_owned(), |v| format_value(v, &series.unit));
        text.push_str(&format!(" · {label} {shown}"));
    }
    Some(text)
}

/// The chosen quantiles of the whole range, merged.
#[component]
pub fn Readouts(
    /// The page.
    page: Page,
    /// The frame to read.
    frame: Memo<Frame>,
) -> impl IntoView {
    let unit = move || page.look().unit;
    view! {
        <div class="readouts">
            {move || {
                frame
                    .with(|f| f.readouts.clone())
                    .into_iter()
                    .map(|r| {
                        view! {
                            <div class="readout" data-testid=format!("readout-{}", r.q) data-value=r.value.map(|v| v.to_string()).unwrap_or_default()>
                                <span class="label">{r.label.clone()}</span>
                                <span class="value">{fmt_ms(r.value)}</span>
                                <span class="unit">{unit}</span>
                            </div>
                        }
                    })
                    .collect_view()
            }}
            <div class="readout count">
                <span class="label">"values"</span>
                <span class="value" data-testid="count">{move || frame.with(|f| f.count)}</span>
            </div>
            {move || {
                let le = page.view.with(|v| v.le)?;
                let share = frame.with(|f| f.share)?;
                let bound = share.bound.map_or_else(
                    || " (no bound)".to_owned(),
                    |(lo, hi)| format!(" ({:.2}–{:.2}%)", lo * 100.0, hi * 100.0),
                );
                Some(view! {
                    <div class="readout share" data-testid="share-le" data-value=share.fraction.to_string()>
                        <span class="label">{format!("≤ {}", shared::chart::axis::format_value(le, &unit()))}</span>
                        <span class="value">{format!("{:.2}%", share.fraction * 100.0)}</span>
                        <small class="muted">{bound}</small>
                    </div>
                })
            }}
        </div>
        {move || frame.with(|f| f.solver_note.clone()).map(|note| {
            let warn = note.contains("WARNING");
            view! { <p class="solver" class:warning=warn data-testid="solver-note">{note}</p> }
        })}
    }
}

/// Histogram of the range (log latency axis) from the merged sketch.
#[component]
pub fn HistogramPanel(
    /// The page.
    page: Page,
    /// The frame of the range (its merged sketch's histogram).
    frame: Memo<Frame>,
    /// The canvas (for PNG export).
    canvas: NodeRef<Canvas>,
) -> impl IntoView {
    Effect::new(move |_| {
        page.resized.track();
        let theme = page.view.with(|v| v.theme);
        let Some(c) = canvas.get() else { return };
        let result = frame.with(|f| match &f.histogram {
            Some(h) => draw_on(&c, |root| draw_histogram(root, h, theme)),
            None => draw_on(&c, |root| {
                let empty = HistogramChart {
                    title: "no values in this range yet".into(),
                    bins: shared::chart::LogBins::new(1.0, 10.0, 1),
                    counts: vec![0.0],
                    unit: String::new(),
                };
                draw_histogram(root, &empty, theme)
            }),
        });
        report(page, result.map(drop));
    });
    view! { <canvas node_ref=canvas class="chart" id="chart-histogram" data-testid="histogram-canvas"></canvas> }
}

/// Heatmap of the range: latency bins over time.
#[component]
pub fn HeatmapPanel(
    /// The page.
    page: Page,
) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let chart: Memo<Option<HeatmapChart>> = Memo::new(move |_| {
        page.live.revision.track();
        let kind = page.kind();
        let range = page.range();
        let window_ms = page.window_ms();
        let look = page.look();
        page.live
            .store
            .try_update_value(|s| frame::heatmap(s, kind, range, window_ms, &look))
            .flatten()
    });
    Effect::new(move |_| {
        page.resized.track();
        let theme = page.view.with(|v| v.theme);
        let Some(c) = canvas.get() else { return };
        let result = chart.with(|h| match h {
            Some(h) => draw_on(&c, |root| draw_heatmap(root, h, theme)).map(drop),
            None => Ok(()),
        });
        report(page, result);
    });
    view! { <canvas node_ref=canvas class="chart" id="chart-heatmap" data-testid="heatmap-canvas"></canvas> }
}

fn fmt_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_runtime(s: f64) -> String {
    // Whole seconds for display.
    let s = s.max(0.0) as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Everything the seed's terminal dashboard showed, plus partitions,
/// rejects and the connection.
#[component]
pub fn StatsPanel(
    /// The page.
    page: Page,
    /// The frame of the range.
    frame: Memo<Frame>,
) -> impl IntoView {
    let live = page.live;
    let stat = move |f: fn(&shared::protocol::StatsSnapshot) -> String| {
        move || live.stats.with(|s| s.as_ref().map_or_else(|| "—".to_owned(), f))
    };
    view! {
        <section class="stats" data-testid="stats">
            <div class="status-line">
                <span class="status" data-testid="status" class:live=move || live.status.with(|s| *s == crate::stream::Status::Live)>
                    {move || live.status.with(|s| s.label())}
                </span>
                <span class="muted">{move || if live.history_done.get() { "history loaded" } else { "loading history…" }}</span>
            </div>
            // What the server says is wrong (waiting for a broker, a wrong
            // --topic, the series limit): from each stats frame.
            {move || live.stats.with(|s| {
                let problems = s.as_ref().map(|s| s.problems.clone()).unwrap_or_default();
                (!problems.is_empty()).then(|| view! {
                    <ul class="server-problems" data-testid="server-problems">
                        {problems.into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}
                    </ul>
                })
            })}
            <dl>
                <dt>"current block"</dt>
                <dd data-testid="current-block">{stat(|s| s.current.as_ref().map_or("—".into(), |c| c.0.clone()))}</dd>
                <dt>"current latency"</dt>
                <dd>{stat(|s| s.current.as_ref().map_or("—".into(), |c| format!("{:.2} ms", c.1)))}</dd>
                <dt>"messages processed"</dt>
                <dd data-testid="messages-processed">{stat(|s| fmt_count(s.messages_processed))}</dd>
                <dt>"data points in sketch"</dt>
                <dd data-testid="data-points">{move || fmt_count(frame.with(|f| f.count))}</dd>
                <dt>"runtime"</dt>
                <dd>{stat(|s| fmt_runtime(s.runtime_s))}</dd>
                <dt>"throughput"</dt>
                <dd>{stat(|s| format!("{:.0} msg/s (now {:.0})", s.throughput_msg_s, s.recent_throughput_msg_s))}</dd>
                <dt>"refresh"</dt>
                <dd>{move || format!("every {} · stats {:.1}/s", frame::human_ms(page.view.with(|v| v.refresh_ms)), live.stats_rate())}</dd>
                <dt>"mean"</dt>
                <dd data-testid="mean">{move || format!("{} ms", fmt_ms(frame.with(|f| f.mean)))}</dd>
                {move || frame.with(|f| f.standard.clone()).into_iter().map(|r| view! {
                    <dt>{quantile_label(r.q)}</dt>
                    <dd data-testid=format!("stat-{}", r.q)>{format!("{} ms", fmt_ms(r.value))}</dd>
                }).collect_view()}
                <dt>"rejected"</dt>
                <dd data-testid="rejected">{stat(|s| {
                    let mut text = format!("{} csv · {} payload", s.rejected_csv, s.rejected_payload);
                    for (reason, n) in &s.rejected_by_reason {
                        text.push_str(&format!(" · {reason}: {n}"));
                    }
                    text
                })}</dd>
                <dt>"bad frames"</dt>
                <dd>{move || live.bad_frames.get()}</dd>
                <dt>"failed merges"</dt>
                <dd data-testid="merge-failures">{move || {
                    // Counted while the charts merge, which follows the revision.
                    live.revision.track();
                    live.store.with_value(ClientStore::merge_failures)
                }}</dd>
            </dl>
            <table class="partitions">
                <thead><tr><th>"topic"</th><th>"partition"</th><th>"offset"</th><th>"lag"</th><th>"msg/s"</th></tr></thead>
                <tbody>
                    {move || live.stats.with(|s| s.as_ref().map(|s| s.partitions.clone()).unwrap_or_default())
                        .into_iter()
                        .map(|p| view! {
                            <tr><td>{p.topic}</td><td>{p.partition}</td><td>{p.offset}</td><td>{p.lag}</td><td>{format!("{:.0}", p.msg_s)}</td></tr>
                        })
                        .collect_view()}
                </tbody>
            </table>
            {move || live.last_error.get().map(|e| view! { <p class="error">{e}</p> })}
        </section>
    }
}

/// `+0.41%`: relative difference from the exact value.
fn fmt_diff(value: Option<f64>, exact: Option<f64>) -> String {
    match (value, exact) {
        (Some(v), Some(e)) if e != 0.0 => format!("{:+.2}%", (v - e) / e * 100.0),
        _ => String::new(),
    }
}

/// The four kinds side by side on the page's range.
#[component]
pub fn ComparePanel(
    /// The page.
    page: Page,
) -> impl IntoView {
    let rows: Memo<Vec<CompareRow>> = Memo::new(move |_| {
        page.live.revision.track();
        let (from, to) = page.range();
        let qs = page.view.with(|v| v.qs.clone());
        page.live.store.with_value(|s| frame::compare(s, &qs, from, to))
    });
    let exact = RwSignal::new(None::<ExactRow>);
    Effect::new(move |_| {
        let (from, to) = page.range();
        let qs = page.view.with(|v| v.qs.clone());
        let selection = page.view.with(|v| v.selection_query());
        // Only a server started with --exact has the reference (Hello says so):
        // asking the others would only log a 404 every refresh.
        if !page.live.hello.with(|h| h.as_ref().is_some_and(|h| h.exact)) {
            exact.set(None);
            return;
        }
        leptos::task::spawn_local(async move {
            match crate::api::exact(from, to, &qs, &selection).await {
                Ok(row) => exact.set(row),
                Err(e) => page.live.last_error.set(Some(e)),
            }
        });
    });
    let guarantee = move |kind: SketchKind| {
        page.live
            .hello
            .with(|h| h.as_ref().map(|h| h.params.guarantee(kind)).unwrap_or_default())
    };
    view! {
        <table class="compare" data-testid="compare">
            <thead>
                <tr>
                    <th>"sketch"</th>
                    <th>"values"</th>
                    {move || page.view.with(|v| v.qs.clone()).into_iter().map(|q| view! { <th>{quantile_label(q)}</th> }).collect_view()}
                    <th>"merged bytes"</th>
                    <th>"guarantee"</th>
                </tr>
            </thead>
            <tbody>
                {move || rows.get().into_iter().map(|r| {
                    let reference = exact.get().map(|e| e.values).unwrap_or_default();
                    view! {
                        <tr data-testid=format!("compare-{}", r.kind.name())>
                            <td>{r.kind.name()}</td>
                            <td>{r.count}</td>
                            {r.values.iter().enumerate().map(|(i, v)| view! {
                                <td>{fmt_ms(*v)}" "<small class="diff">{fmt_diff(*v, reference.get(i).copied().flatten())}</small></td>
                            }).collect_view()}
                            <td>{r.encoded_bytes}</td>
                            <td class="muted">{guarantee(r.kind)}</td>
                        </tr>
                    }
                }).collect_view()}
                {move || exact.get().map(|e| view! {
                    <tr data-testid="compare-exact" class="exact">
                        <td>"exact (--exact)"</td>
                        <td>{e.count}</td>
                        {e.values.iter().map(|v| view! { <td>{fmt_ms(*v)}</td> }).collect_view()}
                        <td></td>
                        <td class="muted">"every value kept by the server"</td>
                    </tr>
                })}
            </tbody>
        </table>
    }
}
