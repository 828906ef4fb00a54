//! `/embed?panel=percentiles|histogram|stats&sketch=..&q=..&from=..&refresh=..&theme=..&metric=..&filter=..&by=..&le=..`:
//! one panel of exactly the selected series, no chrome, filling its iframe.

use leptos::html::Canvas;
use leptos::prelude::*;

use crate::dashboard::Problems;
use crate::page::Page;
use crate::panels::{use_frame, HistogramPanel, PercentileChart, StatsPanel};
use crate::view_state::Panel;

/// The embed page.
#[component]
pub fn Embed() -> impl IntoView {
    let page = Page::start(true);
    let frame = use_frame(page);
    let canvas = NodeRef::<Canvas>::new();
    let panel = page.view.with_untracked(|v| v.panel);
    let body = match panel {
        Panel::Percentiles => view! { <PercentileChart page=page frame=frame canvas=canvas/> }.into_any(),
        Panel::Histogram => view! { <HistogramPanel page=page frame=frame canvas=canvas/> }.into_any(),
        Panel::Stats => view! { <StatsPanel page=page frame=frame/> }.into_any(),
    };
    // The series this connection received (the server sends only those the
    // filter selects), for whoever checks what the embed shows.
    let series = move || {
        page.live.revision.track();
        page.live.catalog.with_value(|c| {
            let mut names: Vec<String> = c.values().map(|d| d.key.display()).collect();
            names.sort();
            names.join(" ")
        })
    };
    view! {
        <main class="embed" data-testid="embed" data-panel=panel.name()
            data-series=series data-foreign-windows=move || page.live.foreign_windows.get()>
            <Problems page=page/>
            {body}
        </main>
    }
}
