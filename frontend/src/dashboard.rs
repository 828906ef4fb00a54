//! The main view at `/`: controls, the live percentile chart with its
//! readouts and exports, the distribution, the comparison of the four
//! sketches, the stats panel, and the embed code.

use leptos::html::Canvas;
use leptos::prelude::*;
use shared::chart::Theme;
use shared::SketchKind;

use crate::export;
use crate::frame::series_csv;
use crate::groups::GroupTable;
use crate::page::Page;
use crate::panels::{
    use_frame, ComparePanel, HeatmapPanel, HistogramPanel, PercentileChart, Readouts, StatsPanel,
};
use crate::series_controls::SeriesControls;
use crate::slo_panel::{AlertBanner, SloPanel};
use crate::view_state::{parse_quantiles, quantile_label, Panel, DEFAULT_QS};

/// Range presets: label and `from`.
pub const PRESETS: [(&str, &str); 3] = [("5m", "now-5m"), ("15m", "now-15m"), ("1h", "now-1h")];

/// The dashboard page.
#[component]
pub fn Dashboard() -> impl IntoView {
    let page = Page::start(false);
    let frame = use_frame(page);
    let chart_canvas = NodeRef::<Canvas>::new();
    let histogram_canvas = NodeRef::<Canvas>::new();
    view! {
        <main class="page">
            <header class="top">
                <h1>"Latency percentiles"</h1>
                <div class="actions">
                    <button data-testid="pause" on:click=move |_| page.toggle_pause()>
                        {move || if page.paused_at.get().is_some() { "resume" } else { "pause" }}
                    </button>
                    <button data-testid="theme" on:click=move |_| page.set_view(|v| v.theme = match v.theme { Theme::Dark => Theme::Light, Theme::Light => Theme::Dark })>
                        {move || match page.view.with(|v| v.theme) { Theme::Dark => "light theme", Theme::Light => "dark theme" }}
                    </button>
                </div>
            </header>
            <Problems page=page/>
            <AlertBanner page=page/>
            <SketchSelector page=page/>
            <SeriesControls page=page/>
            <div class="controls">
                <QuantileChips page=page/>
                <RangeControls page=page/>
            </div>
            <div class="grid">
                <div class="main-col">
                    <section class="card">
                        <Readouts page=page frame=frame/>
                        <PercentileChart page=page frame=frame canvas=chart_canvas/>
                        <GroupTable page=page frame=frame/>
                        <div class="row">
                            <button data-testid="export-png" on:click=move |_| {
                                if let Some(c) = chart_canvas.get() {
                                    let _ = export::download_png(&c, "percentiles.png");
                                }
                            }>"PNG"</button>
                            <button data-testid="export-csv" on:click=move |_| {
                                let csv = frame.with(|f| series_csv(&f.series));
                                let _ = export::download_text(&csv, "text/csv", "percentiles.csv");
                            }>"CSV"</button>
                            <EmbedCode page=page/>
                        </div>
                    </section>
                    <SloPanel page=page/>
                    <section class="card">
                        <h2>"Distribution"</h2>
                        <HistogramPanel page=page frame=frame canvas=histogram_canvas/>
                        <button on:click=move |_| {
                            if let Some(c) = histogram_canvas.get() {
                                let _ = export::download_png(&c, "histogram.png");
                            }
                        }>"PNG"</button>
                        <HeatmapPanel page=page/>
                    </section>
                    <section class="card">
                        <h2>"Compare sketches on this range"</h2>
                        <ComparePanel page=page/>
                    </section>
                </div>
                <aside class="side-col card">
                    <StatsPanel page=page frame=frame/>
                </aside>
            </div>
            <footer class="muted">
                <a href="/playground">"sketch playground"</a>" · "<a href="/bench">"browser merge benchmark"</a>
            </footer>
        </main>
    }
}

/// URL parameters that were not understood.
#[component]
pub fn Problems(
    /// The page.
    page: Page,
) -> impl IntoView {
    move || {
        let problems = page.problems.get();
        (!problems.is_empty()).then(|| {
            view! {
                <div class="problems" data-testid="problems">
                    {problems.into_iter().map(|p| view! { <p>{format!("{}: {} (default used)", p.param, p.message)}</p> }).collect_view()}
                </div>
            }
        })
    }
}

/// The four kinds with their guarantees.
#[component]
fn SketchSelector(page: Page) -> impl IntoView {
    let enabled = move || {
        page.live
            .hello
            .with(|h| {
                h.as_ref()
                    .map(|h| h.kinds.iter().map(|k| k.kind).collect::<Vec<_>>())
            })
            .unwrap_or_else(|| SketchKind::ALL.to_vec())
    };
    view! {
        <nav class="sketches">
            {move || enabled().into_iter().map(|kind| {
                let guarantee = move || page.live.hello.with(|h| h.as_ref().map(|h| h.params.guarantee(kind)).unwrap_or_default());
                view! {
                    <button
                        class="sketch"
                        class:active=move || page.kind() == kind
                        data-testid=format!("sketch-{}", kind.name())
                        on:click=move |_| page.set_view(|v| v.sketch = Some(kind))
                    >
                        <strong>{kind.name()}</strong>
                        <small>{guarantee}</small>
                    </button>
                }
            }).collect_view()}
        </nav>
    }
}

/// P50/P95/P99 toggles plus custom quantiles.
#[component]
fn QuantileChips(page: Page) -> impl IntoView {
    let custom = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let toggle = move |q: f64| {
        page.set_view(|v| {
            if v.qs.contains(&q) {
                if v.qs.len() > 1 {
                    v.qs.retain(|&x| x != q);
                }
            } else {
                v.qs.push(q);
                v.qs.sort_by(f64::total_cmp);
            }
        })
    };
    let add = move || match parse_quantiles(&custom.get_untracked()) {
        Ok(qs) => {
            error.set(None);
            custom.set(String::new());
            page.set_view(|v| {
                v.qs.extend(qs);
                v.qs.sort_by(f64::total_cmp);
                v.qs.dedup();
                v.qs.truncate(crate::view_state::MAX_QS);
            });
        }
        Err(e) => error.set(Some(e)),
    };
    view! {
        <div class="chips">
            {move || {
                let mut shown: Vec<f64> = DEFAULT_QS.to_vec();
                shown.extend(page.view.with(|v| v.qs.clone()));
                shown.sort_by(f64::total_cmp);
                shown.dedup();
                shown.into_iter().map(|q| view! {
                    <button class="chip" class:on=move || page.view.with(|v| v.qs.contains(&q))
                        data-testid=format!("chip-{q}") on:click=move |_| toggle(q)>{quantile_label(q)}</button>
                }).collect_view()
            }}
            <input class="custom-q" placeholder="99.9" data-testid="custom-q"
                prop:value=move || custom.get()
                on:input=move |e| custom.set(event_target_value(&e))
                on:keydown=move |e| if e.key() == "Enter" { add() } />
            <button on:click=move |_| add()>"add"</button>
            {move || error.get().map(|e| view! { <span class="error">{e}</span> })}
        </div>
    }
}

/// Presets, custom from/to and the refresh interval.
#[component]
fn RangeControls(page: Page) -> impl IntoView {
    let from = RwSignal::new(page.view.with_untracked(|v| v.from.clone()));
    let to = RwSignal::new(page.view.with_untracked(|v| v.to.clone()));
    let error = RwSignal::new(None::<String>);
    let apply = move || {
        let (f, t) = (from.get_untracked(), to.get_untracked());
        let query = format!("from={f}&to={t}");
        let (parsed, problems) = crate::view_state::ViewState::from_query(&query);
        match problems.first() {
            Some(p) => error.set(Some(format!("{}: {}", p.param, p.message))),
            None => {
                error.set(None);
                page.set_view(|v| {
                    v.from = parsed.from;
                    v.to = parsed.to;
                });
            }
        }
    };
    view! {
        <div class="ranges">
            {PRESETS.into_iter().map(|(label, f)| view! {
                <button class="chip" data-testid=format!("range-{label}")
                    class:on=move || page.view.with(|v| v.from == f && v.is_live())
                    on:click=move |_| {
                        from.set(f.to_owned());
                        to.set("now".to_owned());
                        page.set_view(|v| { v.from = f.to_owned(); v.to = "now".to_owned(); });
                    }>{label}</button>
            }).collect_view()}
            <input data-testid="from" size="12" prop:value=move || from.get() on:input=move |e| from.set(event_target_value(&e))
                on:keydown=move |e| if e.key() == "Enter" { apply() } />
            " → "
            <input data-testid="to" size="12" prop:value=move || to.get() on:input=move |e| to.set(event_target_value(&e))
                on:keydown=move |e| if e.key() == "Enter" { apply() } />
            <button data-testid="apply-range" on:click=move |_| apply()>"apply"</button>
            <select data-testid="refresh" on:change=move |e| {
                if let Some(ms) = shared::time_spec::parse_span_ms(&event_target_value(&e)) {
                    page.set_view(|v| v.refresh_ms = ms);
                }
            }>
                {["1s", "5s", "10s", "30s"].into_iter().map(|r| view! {
                    <option value=r selected=move || shared::time_spec::parse_span_ms(r) == Some(page.view.with(|v| v.refresh_ms))>{format!("refresh {r}")}</option>
                }).collect_view()}
            </select>
            {move || error.get().map(|e| view! { <span class="error">{e}</span> })}
        </div>
    }
}

/// The iframe snippet and static SVG URL of the current view.
#[component]
fn EmbedCode(page: Page) -> impl IntoView {
    let panel = RwSignal::new(Panel::Percentiles);
    let snippets = move || {
        let origin = window().location().origin().unwrap_or_default();
        let mut view = page.view.get();
        view.panel = panel.get();
        let kind = page.kind();
        view.sketch = Some(kind);
        export::embed_snippets(&origin, &view.to_query(true), &view.chart_svg_query(kind))
    };
    view! {
        <details class="embed-code">
            <summary>"embed"</summary>
            <select on:change=move |e| panel.set(match event_target_value(&e).as_str() {
                "histogram" => Panel::Histogram,
                "stats" => Panel::Stats,
                _ => Panel::Percentiles,
            })>
                <option value="percentiles">"percentiles"</option>
                <option value="histogram">"histogram"</option>
                <option value="stats">"stats"</option>
            </select>
            <textarea readonly data-testid="embed-code" rows="3">{move || snippets().0}</textarea>
            <button data-testid="copy-embed" on:click=move |_| export::copy_to_clipboard(&snippets().0)>"copy embed code"</button>
            <p class="muted">"static image: "<code data-testid="svg-url">{move || snippets().1}</code></p>
        </details>
    }
}
