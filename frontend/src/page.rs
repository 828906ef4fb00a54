//! What every page (dashboard and embeds) shares: the live connection, the
//! URL state kept in the address bar, the refresh clock, pause, theme.

use std::time::Duration;

use leptos::prelude::*;
use shared::chart::Theme;
use shared::SketchKind;
use wasm_bindgen::JsValue;

use crate::api::{Alert, MetricInfo, Slo};
use crate::frame::Look;
use crate::live::{Live, Subscription};
use crate::stream::Stream;
use crate::view_state::{Problem, ViewState};

/// How often the metric list (`/api/metrics`) is read again.
const METRICS_REFRESH: Duration = Duration::from_secs(30);
/// How often SLOs and alerts are read again.
const SLO_REFRESH: Duration = Duration::from_secs(2);

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
    /// The server's metrics (`/api/metrics`), for the picker and autocomplete.
    pub metrics: RwSignal<Vec<MetricInfo>>,
    /// The server's SLOs (`/api/slos`).
    pub slos: RwSignal<Vec<Slo>>,
    /// The server's alerts (`/api/alerts`).
    pub alerts: RwSignal<Vec<Alert>>,
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
        let page = Page {
            live,
            view: RwSignal::new(state),
            problems: RwSignal::new(problems),
            paused_at: RwSignal::new(None),
            tick: RwSignal::new(live.now_ms()),
            resized: RwSignal::new(0),
            embed,
            metrics: RwSignal::new(Vec::new()),
            slos: RwSignal::new(Vec::new()),
            alerts: RwSignal::new(Vec::new()),
        };
        page.follow_subscription();
        live.forget_old_windows();
        page.read_metrics();
        page.read_slos();
        page.run_clock();
        page.sync_url();
        page.apply_theme();
        let _ = window_event_listener(leptos::ev::resize, move |_| page.resized.update(|n| *n += 1));
        page
    }

    /// Connects, and connects anew (with a fresh store and history)
    /// whenever the metric, filter or group-by changes.
    fn follow_subscription(self) {
        let subscription = Memo::new(move |_| {
            self.view.with(|v| Subscription {
                metric: v.metric.clone(),
                filter: v.filter.clone(),
                by: v.by.clone(),
            })
        });
        // Lives as long as the page's reactive owner; replacing the stream
        // drops (closes) the previous one.
        let stream = StoredValue::new_local(None::<Stream>);
        Effect::new(move |_| {
            let sub = subscription.get();
            stream.set_value(Some(self.live.connect(sub)));
        });
    }

    /// Reads `/api/metrics` now and every [`METRICS_REFRESH`].
    fn read_metrics(self) {
        let read = move || {
            leptos::task::spawn_local(async move {
                match crate::api::metrics().await {
                    Ok(list) => self.metrics.set(list),
                    Err(e) => self.live.last_error.set(Some(e)),
                }
            })
        };
        read();
        let _ = set_interval_with_handle(read, METRICS_REFRESH);
    }

    /// Reads `/api/slos` and `/api/alerts` now and every [`SLO_REFRESH`].
    fn read_slos(self) {
        let read = move || {
            leptos::task::spawn_local(async move {
                match crate::api::slos().await {
                    Ok(list) if list != self.slos.get_untracked() => self.slos.set(list),
                    Ok(_) => {}
                    Err(e) => self.live.last_error.set(Some(e)),
                }
                match crate::api::alerts().await {
                    Ok(list) if list != self.alerts.get_untracked() => self.alerts.set(list),
                    Ok(_) => {}
                    Err(e) => self.live.last_error.set(Some(e)),
                }
            })
        };
        read();
        let _ = set_interval_with_handle(read, SLO_REFRESH);
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

    /// The metric shown (tracked): the URL's, else the server's default.
    pub fn metric(&self) -> String {
        self.view.with(|v| v.metric.clone()).unwrap_or_else(|| {
            self.live
                .hello
                .with(|h| h.as_ref().map(|h| h.default_metric.clone()).unwrap_or_default())
        })
    }

    /// The shown metric's entry of `/api/metrics` (tracked).
    pub fn metric_info(&self) -> Option<MetricInfo> {
        let metric = self.metric();
        self.metrics
            .with(|list| list.iter().find(|m| m.metric == metric).cloned())
    }

    /// How values and times are shown (tracked): the metric's unit, the
    /// browser's time zone, the `le` line.
    pub fn look(&self) -> Look {
        let unit = self.metric_info().map(|m| m.unit).unwrap_or_else(|| {
            self.live
                .hello
                .with(|h| h.as_ref().map_or_else(|| "ms".to_owned(), |h| h.unit.clone()))
        });
        // getTimezoneOffset is minutes *behind* UTC, a whole number.
        let utc_offset_min = -(js_sys::Date::new_0().get_timezone_offset() as i32);
        let now = self.live.now_ms();
        let spans = self.alerts.with(|alerts| {
            alerts
                .iter()
                .flat_map(|a| a.spans.iter().map(|s| (s.from_ms, s.to_ms.unwrap_or(now))))
                .collect()
        });
        Look {
            unit,
            utc_offset_min,
            threshold: self.view.with(|v| v.le),
            shift_ms: self.view.with(|v| v.shift_ms),
            spans,
        }
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
