//! The browser side of the metrics streaming service.
//!
//! # Layout
//! - [`playground`]: paste latencies, pick a sketch kind, read its quantiles,
//!   all computed in the browser by the `shared` sketch crate.
//!
//! The live dashboard (stream → store → views) arrives with the serving issue.

use leptos::prelude::*;

pub mod playground;

/// The page.
#[component]
pub fn App() -> impl IntoView {
    view! {
        <main class="page">
            <h1>"Latency percentiles"</h1>
            <p class="lede">
                "Mergeable quantile sketches, computed in your browser with the same Rust crate the service uses."
            </p>
            <playground::Playground/>
        </main>
    }
}
