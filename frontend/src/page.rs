//! What every page (dashboard and embeds) shares: the live connection, the
//! URL state kept in the address bar, the refresh clock, pause, theme.

use std::time::Duration;

use leptos::prelude::*;
use shared::chart::Theme;
use shared::SketchKind;
use wasm_bindgen::JsValue;

use crate::live::Live;
use crate::view_state::{Problem, ViewState};

/// Handles to the page state (cheap to copy into closures).
#[derive(Clone, Copy)]
pub struct Page {
    /// Live data.
    pub live: Live,
    /// The URL state.
    pub view: RwSignal<ViewState>,
    /// URL parameters that were not understood.
    pub problems: RwSignal<Vec<Problem>>,
    /// Server time at which the view was paused.
    pub paused_at: RwSignal<Option<i64>>,
    /// Server time of the last refresh (moves every `refresh` while live).
    pub tick: RwSignal<i64>,
    /// Moves when the window is resized.
    pub resized: RwSignal<u64>,
    /// Whether this is an `/embed` page (keeps `panel` in the URL).
    pub embed: bool,
}

/// The `?token=` the page was opened with (read once, before the page
/// rewrites its URL), forwarded on its WebSocket and API requests.
pub fn access_token() -> Option<&'static str> {
    static TOKEN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    TOKEN
        .get_or_init(|| crate::view_state::token_of_query(&location_query()))
        .as_deref()
}

fn location_query() -> String {
    window().location().search().unwrap_or_default()
}

impl Page {
    /// Reads the URL, connects, and starts the refresh clock.
    pub fn start(embed: bool) -> Self {
        let (state, problems) = ViewState::from_query(&location_query());
        let live = Live::new();
        let stream = live.connect();
        // Lives as long as the page's reactive owner.
        let _ = StoredValue::new_local(stream);
        let page = Page {
            live,
            view: RwSignal::new(state),
            problems: RwSignal::new(problems),
            paused_at: RwSignal::new(None),
            tick: RwSignal::new(live.now_ms()),
            resized: RwSignal::new(0),
            embed,
        };
        page.run_clock();
        page.sync_url();
        page.apply_theme();
        let _ = window_event_listener(leptos::ev::resize, move |_| page.resized.update(|n| *n += 1));
        page
    }

    fn run_clock(self) {
        let _ = set_interval_with_handle(
            move || {
                let hidden = document().hidden();
                let live = self.view.with_untracked(ViewState::is_live);
                let refresh = self.view.with_untracked(|v| v.refresh_ms);
                let now = self.live.now_ms();
                if !hidden
                    && live
                    && self.paused_at.get_untracked().is_none()
                    && now - self.tick.get_untracked() >= refresh
                {
                    self.tick.set(now);
                }
            },
            Duration::from_millis(250),
        );
    }

    fn sync_url(self) {
        Effect::new(move |_| {
            let query = self.view.with(|v| v.to_query(self.embed));
            let path = window().location().pathname().unwrap_or_default();
            if let Ok(history) = window().history() {
                let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&format!("{path}?{query}")));
            }
        });
    }

    fn apply_theme(self) {
        Effect::new(move |_| {
            let class = match self.view.with(|v| v.theme) {
                Theme::Dark => "theme-dark",
                Theme::Light => "theme-light",
            };
            if let Some(body) = document().body() {
                body.set_class_name(class);
            }
        });
    }

    /// The kind shown (tracked): the URL's, else the server's default.
    pub fn kind(&self) -> SketchKind {
        self.view.with(|v| v.sketch).unwrap_or_else(|| {
            self.live
                .hello
                .with(|h| h.as_ref().map_or(SketchKind::QuantileFlow, |h| h.default_kind))
        })
    }

    /// The range in server ms (tracked): anchored at the pause time or the
    /// last refresh.
    pub fn range(&self) -> (i64, i64) {
        let now = self.paused_at.get().unwrap_or_else(|| self.tick.get());
        self.view.with(|v| v.resolve(now))
    }

    /// Window length (tracked).
    pub fn window_ms(&self) -> i64 {
        self.live.hello.with(|h| {
            h.as_ref()
                .map_or(1000, |h| i64::try_from(h.window_ms).unwrap_or(1000))
        })
    }

    /// Changes the view (and so the URL), and redraws now.
    pub fn set_view(&self, f: impl FnOnce(&mut ViewState)) {
        self.view.update(f);
        self.tick.set(self.live.now_ms());
    }

    /// Toggles pause.
    pub fn toggle_pause(&self) {
        if self.paused_at.get_untracked().is_some() {
            self.paused_at.set(None);
            self.tick.set(self.live.now_ms());
        } else {
            self.paused_at.set(Some(self.tick.get_untracked()));
        }
    }
}
