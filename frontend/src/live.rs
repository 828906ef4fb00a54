//! The dashboard's live state: the window store, the server's hello and
//! counters, the connection status, and a revision that moves at most once
//! per animation frame when new windows arrive (so redraws are throttled to
//! frames and stop while the tab is hidden, where browsers pause frames).

use std::collections::HashMap;
use std::time::Duration;

use leptos::prelude::*;
use shared::filter::{Filter, GroupBy};
use shared::protocol::{
    ClientMessage, FrameError, Hello, SeriesDef, SeriesId, ServerMessage, StatsSnapshot, WindowSnapshot,
    PROTOCOL_VERSION,
};

use crate::store::{ClientStore, GroupKey, Refused};
use crate::stream::{self, Handlers, Status, Stream};

/// Handles to the live state (cheap to copy into closures).
#[derive(Clone, Copy)]
pub struct Live {
    /// Closed windows received.
    pub store: StoredValue<ClientStore>,
    /// Moves when the store changed (at most once per animation frame).
    pub revision: RwSignal<u64>,
    /// The server's hello of the current connection.
    pub hello: RwSignal<Option<Hello>>,
    /// Latest counters.
    pub stats: RwSignal<Option<StatsSnapshot>>,
    /// Browser time of the latest counters (for the refresh rate).
    pub stats_times: RwSignal<Vec<f64>>,
    /// Connection status.
    pub status: RwSignal<Status>,
    /// Whether the history of the current connection is complete.
    pub history_done: RwSignal<bool>,
    /// Server clock minus browser clock, ms.
    pub clock_offset_ms: RwSignal<i64>,
    /// Frames that did not decode, and `Error` messages from the server.
    pub bad_frames: RwSignal<u64>,
    /// Last problem reported by or about the server.
    pub last_error: RwSignal<Option<String>>,
    /// The series the server defined on this connection, by id.
    pub catalog: StoredValue<HashMap<SeriesId, SeriesDef>>,
    /// Windows of series outside the subscription (ignored).
    pub foreign_windows: RwSignal<u64>,
    subscription: StoredValue<Subscription>,
    frame_requested: StoredValue<bool>,
}

/// Why a window is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    /// Its series is outside the subscription (a window of an earlier one).
    Foreign,
    /// Its series was never defined by a catalog message.
    Undefined,
}

/// What the page subscribes to: a metric's series passing a filter, and
/// how the store groups them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Subscription {
    /// Metric (`None`: the server's `--metric`).
    pub metric: Option<String>,
    /// Series filter (sent to the server, and checked on arrival).
    pub filter: Filter,
    /// Group-by keys of the store.
    pub by: Option<GroupBy>,
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    /// Empty state, not connected.
    pub fn new() -> Self {
        Self {
            store: StoredValue::new(ClientStore::new()),
            revision: RwSignal::new(0),
            hello: RwSignal::new(None),
            stats: RwSignal::new(None),
            stats_times: RwSignal::new(Vec::new()),
            status: RwSignal::new(Status::Connecting),
            history_done: RwSignal::new(false),
            clock_offset_ms: RwSignal::new(0),
            bad_frames: RwSignal::new(0),
            last_error: RwSignal::new(None),
            catalog: StoredValue::new(HashMap::new()),
            foreign_windows: RwSignal::new(0),
            subscription: StoredValue::new(Subscription::default()),
            frame_requested: StoredValue::new(false),
        }
    }

    /// Opens the page's WebSocket subscribed to `subscription` (the store
    /// starts empty and fills with its history); the returned stream must
    /// be kept alive, and dropping it closes the connection.
    pub fn connect(self, subscription: Subscription) -> Stream {
        let subscribe = ClientMessage::Subscribe {
            protocol_version: PROTOCOL_VERSION,
            kinds: None,
            partitions: None,
            history_from_ms: None,
            metric: subscription.metric.clone(),
            filter: (!subscription.filter.is_empty()).then(|| subscription.filter.to_text()),
        };
        self.subscription.set_value(subscription);
        self.store.update_value(ClientStore::clear);
        self.history_done.set(false);
        self.changed();
        let handlers = Handlers {
            on_message: Box::new(move |m| self.apply(m)),
            on_status: Box::new(move |s| self.status.set(s)),
        };
        Stream::open(stream::default_url(), subscribe, handlers)
    }

    /// Forgets windows older than the retention, once a minute.
    pub fn forget_old_windows(self) {
        let _ = set_interval_with_handle(
            move || {
                if let Some(h) = self.hello.get_untracked() {
                    let cutoff = self.now_ms() - i64::try_from(h.retention_ms).unwrap_or(i64::MAX);
                    self.store.update_value(|s| s.forget_before(cutoff));
                }
            },
            Duration::from_secs(60),
        );
    }

    /// The group of a window's series, or why the window is skipped.
    fn group_of(&self, w: &WindowSnapshot) -> Result<Option<GroupKey>, Skip> {
        let default_metric = self
            .hello
            .with_untracked(|h| h.as_ref().map(|h| h.default_metric.clone()))
            .unwrap_or_default();
        self.subscription.with_value(|sub| {
            self.catalog.with_value(|catalog| {
                // The server defines every series before its first window.
                let def = catalog.get(&w.series).ok_or(Skip::Undefined)?;
                let metric = sub.metric.as_deref().unwrap_or(&default_metric);
                if def.key.metric() != metric || !sub.filter.matches(&def.key) {
                    return Err(Skip::Foreign);
                }
                Ok(sub.by.as_ref().map(|by| by.group_of(&def.key)))
            })
        })
    }

    /// Stores one window in the total and its group; a skipped one is counted.
    fn store_window(&self, w: &WindowSnapshot) {
        match self.group_of(w) {
            Ok(group) => {
                let stored = self.store.try_update_value(|s| s.insert_in(w, group));
                // A duplicate is counted by the store and ignored; bytes that
                // do not decode are a bad frame, shown with their error.
                if let Some(Err(Refused::BadSketch(e))) = stored {
                    self.bad_frames.update(|n| *n += 1);
                    self.last_error.set(Some(format!("window not stored: {e}")));
                }
            }
            Err(Skip::Foreign) => self.foreign_windows.update(|n| *n += 1),
            Err(Skip::Undefined) => {
                self.bad_frames.update(|n| *n += 1);
                self.last_error.set(Some(format!(
                    "a window of series {} the server never defined",
                    w.series
                )));
            }
        }
    }

    /// Server time now, Unix ms.
    pub fn now_ms(&self) -> i64 {
        // Date.now() is integral ms.
        js_sys::Date::now() as i64 + self.clock_offset_ms.get_untracked()
    }

    /// Applies one frame from the server.
    pub fn apply(&self, message: Result<ServerMessage, FrameError>) {
        match message {
            Err(e) => {
                self.bad_frames.update(|n| *n += 1);
                self.last_error.set(Some(e.to_string()));
            }
            Ok(ServerMessage::Hello(h)) => {
                self.store.update_value(ClientStore::clear);
                // Ids are per connection: a new connection defines them anew.
                self.catalog.update_value(HashMap::clear);
                self.clock_offset_ms
                    .set(h.server_time_ms - js_sys::Date::now() as i64);
                self.history_done.set(false);
                self.hello.set(Some(h));
                self.changed();
            }
            Ok(ServerMessage::History { windows, done }) => {
                for w in &windows {
                    self.store_window(w);
                }
                if done {
                    self.history_done.set(true);
                }
                self.changed();
            }
            Ok(ServerMessage::Window(w)) => {
                self.store_window(&w);
                self.changed();
            }
            Ok(ServerMessage::Stats(s)) => {
                let t = js_sys::Date::now();
                self.stats_times.update(|v| {
                    v.push(t);
                    v.retain(|&x| t - x <= 10_000.0);
                });
                self.stats.set(Some(s));
            }
            Ok(ServerMessage::Resync { reason }) => {
                self.store.update_value(ClientStore::clear);
                self.history_done.set(false);
                self.last_error.set(Some(format!("resync: {reason}")));
                self.changed();
            }
            Ok(ServerMessage::Error { message }) => {
                self.bad_frames.update(|n| *n += 1);
                self.last_error.set(Some(message));
            }
            Ok(ServerMessage::Catalog { series, topics: _ }) => {
                self.catalog.update_value(|c| {
                    for def in series {
                        c.insert(def.id, def);
                    }
                });
            }
        }
    }

    /// Moves the revision on the next animation frame (once per frame).
    fn changed(&self) {
        if self.frame_requested.get_value() {
            return;
        }
        self.frame_requested.set_value(true);
        let this = *self;
        request_animation_frame(move || {
            this.frame_requested.set_value(false);
            this.revision.update(|r| *r += 1);
        });
    }

    /// Counter messages per second over the last 10 s.
    pub fn stats_rate(&self) -> f64 {
        self.stats_times.with(|v| match (v.first(), v.last()) {
            (Some(a), Some(b)) if b > a => (v.len() - 1) as f64 * 1000.0 / (b - a),
            _ => 0.0,
        })
    }
}
