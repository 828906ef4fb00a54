//! The browser dashboard: decodes the `/ws` stream with the `shared` crate,
//! merges partitions and windows in the browser, and draws with plotters on
//! canvas.
//!
//! # Layout
//! - [`stream`]: the WebSocket, subscribe, reconnect with backoff.
//! - [`live`]: live state (store, hello, counters, status) and the
//!   once-per-animation-frame revision.
//! - [`store`]: the closed windows, merged by kind and start, with minute
//!   aggregates (pure Rust, tested natively and in wasm).
//! - [`frame`]: the numbers and charts of a range, from merged sketches.
//! - [`view_state`]: the URL state (`sketch`, `q`, `from`, `to`, `refresh`,
//!   `theme`, `panel`, `metric`, `filter`, `by`, `line`, `le`).
//! - [`page`]: what every page shares (connection, URL sync, clock, pause).
//! - [`panels`]: chart, readouts, histogram, heatmap, stats, compare.
//! - [`dashboard`] (`/`), [`embed`] (`/embed`), [`bench`] (`/bench`),
//!   [`playground`] (`/playground`): the pages.
//! - [`series_controls`]: metric picker, filter chips, group-by, threshold;
//!   [`groups`]: the grouped table.
//! - [`slo_panel`]: firing alerts and the SLO panel.
//! - [`api`]: `/api/metrics`, `/api/exact`, `/api/slos`, `/api/alerts`.
//! - [`canvas`], [`export`]: drawing on canvas; PNG/CSV/clipboard.

use leptos::prelude::*;

pub mod api;
pub mod bench;
pub mod canvas;
pub mod dashboard;
pub mod embed;
pub mod export;
pub mod frame;
pub mod groups;
pub mod live;
pub mod page;
pub mod panels;
pub mod playground;
pub mod series_controls;
pub mod slo_panel;
pub mod store;
pub mod stream;
pub mod view_state;

/// The page for the current path.
#[component]
pub fn App() -> impl IntoView {
    // Read the token before any page rewrites the URL.
    let _ = page::access_token();
    let path = window().location().pathname().unwrap_or_default();
    match path.trim_end_matches('/') {
        "/embed" => view! { <embed::Embed/> }.into_any(),
        "/bench" => view! { <bench::Bench/> }.into_any(),
        "/playground" => view! {
            <main class="page">
                <h1>"Sketch playground"</h1>
                <p class="lede">"Mergeable quantile sketches, computed in your browser with the same Rust crate the service uses."</p>
                <playground::Playground/>
                <p><a href="/">"← dashboard"</a></p>
            </main>
        }
        .into_any(),
        _ => view! { <dashboard::Dashboard/> }.into_any(),
    }
}
