//! Ingest: a consumer group whose members run one worker per assigned
//! partition, feeding the window sketches.
//!
//! - [`Pipeline`]: the state ingest shares with serving (partitions' windows,
//!   retained windows, counters, the broadcast of closed windows).
//! - [`consumer`]: the Kafka side (group membership, rebalances, commits).

pub mod consumer;

pub mod latency_probe;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, RwLock};

use shared::{Sketch, SketchKind, SketchParams};
use tokio::sync::broadcast;

use crate::profile::{self, Stage};
use crate::record::{self, RejectReason};
use crate::stats::{RejectSource, Stats};
use crate::window::store::WindowStore;
use crate::window::{ClosedWindow, PartitionWindows, PublishedWindow, SharedWindow};
pub use latency_probe::LatencyProbe;

/// Ingest settings.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Enabled sketch kinds (every record goes into each).
    pub kinds: Vec<SketchKind>,
    /// The kind reported by default (`--sketch`).
    pub default_kind: SketchKind,
    /// Parameters of the kinds.
    pub params: SketchParams,
    /// Window length in ms.
    pub window_ms: u64,
    /// How long closed windows are kept, in ms.
    pub retention_ms: u64,
    /// How long fine windows are kept before only 1-minute rollups remain, in ms.
    pub fine_retention_ms: u64,
    /// Keep every value as an exact reference (`--exact`, `/api/exact`).
    pub exact: bool,
}

/// Per-partition Kafka positions, for the stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionPosition {
    /// Highest offset consumed.
    pub offset: Option<i64>,
    /// High watermark from the broker (next offset to be written).
    pub high_watermark: Option<i64>,
    /// Last offset committed by this process.
    pub committed: Option<i64>,
    /// First offset this process consumed (where it resumed).
    pub start: Option<i64>,
}

impl PartitionPosition {
    /// Highest offset consumed, −1 before the first record.
    pub fn offset_or_none(&self) -> i64 {
        self.offset.unwrap_or(-1)
    }

    /// Records in the partition not consumed yet (0 until the high
    /// watermark is known).
    pub fn lag(&self) -> i64 {
        self.high_watermark
            .map_or(0, |h| (h - self.offset_or_none() - 1).max(0))
    }
}

/// What ingest shares with the serving layer.
#[derive(Debug)]
pub struct Pipeline {
    /// Settings.
    pub config: IngestConfig,
    /// Counters (shared with the producer thread of `mss serve`).
    pub stats: Arc<Stats>,
    /// Every value, when `config.exact` (the compare view's reference).
    pub exact: Option<crate::exact::ExactValues>,
    /// Produce → closed-window latency of every record (`mss bench e2e` only).
    pub latency_probe: std::sync::OnceLock<LatencyProbe>,
    /// Where closed windows are made durable (set by the consumer when the
    /// sketch log is on).
    pub sketch_log: std::sync::OnceLock<crate::sketch_log::SketchPublisher>,
    /// Windows of the partitions assigned to this process.
    partitions: RwLock<BTreeMap<i32, Arc<Mutex<PartitionWindows>>>>,
    /// Kafka positions of every partition seen.
    pub positions: Mutex<BTreeMap<i32, PartitionPosition>>,
    /// Retained closed windows.
    pub store: Mutex<WindowStore>,
    /// Every closed window, as it closes.
    pub windows: broadcast::Sender<SharedWindow>,
    /// Set once the consumer has been assigned partitions.
    pub ready: std::sync::atomic::AtomicBool,
    /// Latest record of partitions no longer assigned.
    last_current: Mutex<Option<(String, f64, i64)>>,
    /// Highest offset counted per partition, kept across revocations.
    counted_through: Mutex<BTreeMap<i32, i64>>,
}

/// Current wall-clock time in Unix epoch ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Pipeline {
    /// A pipeline with no partitions yet.
    pub fn new(config: IngestConfig) -> Arc<Self> {
        let (windows, _) = broadcast::channel(4096);
        Arc::new(Self {
            store: Mutex::new(WindowStore::with_fine_retention(
                &config.kinds,
                config.params,
                config.retention_ms,
                config.fine_retention_ms,
            )),
            exact: config
                .exact
                .then(|| crate::exact::ExactValues::new(config.retention_ms)),
            latency_probe: std::sync::OnceLock::new(),
            sketch_log: std::sync::OnceLock::new(),
            config,
            stats: Arc::new(Stats::default()),
            partitions: RwLock::new(BTreeMap::new()),
            positions: Mutex::new(BTreeMap::new()),
            windows,
            ready: std::sync::atomic::AtomicBool::new(false),
            last_current: Mutex::new(None),
            counted_through: Mutex::new(BTreeMap::new()),
        })
    }

    /// The windows of `partition`, created if new.
    pub fn partition(&self, partition: i32) -> anyhow::Result<Arc<Mutex<PartitionWindows>>> {
        if let Some(p) = self
            .partitions
            .read()
            .ok()
            .and_then(|m| m.get(&partition).cloned())
        {
            return Ok(p);
        }
        let mut map = self
            .partitions
            .write()
            .map_err(|_| anyhow::anyhow!("partition map poisoned"))?;
        if let Some(p) = map.get(&partition) {
            return Ok(p.clone());
        }
        let mut windows = PartitionWindows::new(
            partition,
            self.config.window_ms,
            &self.config.kinds,
            &self.config.params,
        )?;
        if let Some(&through) = self
            .counted_through
            .lock()
            .ok()
            .as_ref()
            .and_then(|m| m.get(&partition))
        {
            // Redelivered records (e.g. after a failed commit on revoke) are
            // recognised by offset and never counted twice by this process.
            windows.resume_after(through);
        }
        let p = Arc::new(Mutex::new(windows));
        map.insert(partition, p.clone());
        Ok(p)
    }

    /// Forgets a revoked partition (after its windows were closed).
    pub fn remove_partition(&self, partition: i32) {
        if let Ok(mut map) = self.partitions.write() {
            map.remove(&partition);
        }
    }

    /// Partitions currently assigned, with their windows.
    pub fn assigned(&self) -> Vec<(i32, Arc<Mutex<PartitionWindows>>)> {
        self.partitions
            .read()
            .map(|m| m.iter().map(|(&p, w)| (p, w.clone())).collect())
            .unwrap_or_default()
    }

    /// Decodes and inserts one record of `partition` at `offset`.
    #[inline]
    ///
    /// `produced_ms` is the record's Kafka timestamp (CreateTime), used only
    /// by the latency probe of `mss bench e2e`.
    pub fn ingest(
        &self,
        windows: &Mutex<PartitionWindows>,
        offset: i64,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        produced_ms: Option<i64>,
    ) {
        let now = now_ms();
        let t = profile::start();
        let decoded = record::decode(key, payload);
        profile::record(Stage::Decode, t);
        let Ok(mut w) = windows.lock() else { return };
        if w.revoked {
            return;
        }
        if w.already_counted(offset) {
            self.stats.redelivered.fetch_add(1, Relaxed);
            return;
        }
        let closed = match decoded {
            Ok(d) => {
                let closed = w.insert(offset, d.block_id, d.latency, now);
                if let (Some(probe), Some(produced)) = (self.latency_probe.get(), produced_ms) {
                    probe.landed(w.partition(), w.window_start(now), produced);
                }
                if let Some(exact) = &self.exact {
                    exact.push(w.window_start(now), d.latency);
                }
                self.stats.messages.fetch_add(1, Relaxed);
                closed
            }
            Err(reason) => {
                self.reject_payload(reason);
                w.skip(offset, now)
            }
        };
        // Published under the partition lock: a window is always either open
        // or in the store, never in between (see `merged_all`).
        if let Some(closed) = closed {
            self.publish(closed);
        }
    }

    fn reject_payload(&self, reason: RejectReason) {
        self.stats.reject(RejectSource::Payload, reason);
    }

    /// Stores and broadcasts closed windows.
    pub fn publish(&self, closed: Vec<ClosedWindow>) {
        let started = std::time::Instant::now();
        let t = profile::start();
        let now = now_ms();
        if let Some(probe) = self.latency_probe.get() {
            for w in closed.iter().filter(|w| w.kind == self.config.default_kind) {
                probe.closed(w.partition, w.window_start_ms, now);
            }
        }
        // Each window's frame is encoded once, for the sketch log and every client.
        let shared: Vec<SharedWindow> = closed
            .into_iter()
            .map(|w| Arc::new(PublishedWindow::new(w)))
            .collect();
        if let Some(log) = self.sketch_log.get() {
            log.send(&shared);
        }
        self.store_and_broadcast(shared, now);
        metrics::histogram!("mss_window_close_seconds").record(started.elapsed().as_secs_f64());
        profile::record(Stage::Publish, t);
    }

    /// Adds windows to the retained store and streams them to subscribers.
    fn store_and_broadcast(&self, windows: Vec<SharedWindow>, now: i64) {
        if let Ok(mut store) = self.store.lock() {
            for w in &windows {
                store.add(w.clone(), now);
            }
        }
        for w in windows {
            self.stats.windows_closed.fetch_add(1, Relaxed);
            // No subscriber is fine: the store keeps the history.
            let _ = self.windows.send(w);
        }
    }

    /// Records of `partition` at or below `offset` are already in a
    /// published window: never count them again (exactly-once resumption).
    pub fn skip_through(&self, partition: i32, offset: i64) {
        if let Ok(mut counted) = self.counted_through.lock() {
            let e = counted.entry(partition).or_insert(offset);
            *e = (*e).max(offset);
        }
        if let Some(windows) = self
            .partitions
            .read()
            .ok()
            .and_then(|m| m.get(&partition).cloned())
        {
            if let Ok(mut w) = windows.lock() {
                if !w.already_counted(offset) {
                    w.resume_after(offset);
                }
            }
        }
    }

    /// A window read back from the sketch log (`mss view`): stored and
    /// streamed like a window closed here, and counted in the stats (values
    /// of the default kind) and partition positions.
    pub fn restore(&self, window: SharedWindow) {
        if window.kind == self.config.default_kind {
            self.stats.messages.fetch_add(window.count, Relaxed);
            if let Ok(mut positions) = self.positions.lock() {
                let pos = positions.entry(window.partition).or_default();
                pos.offset = Some(
                    pos.offset
                        .map_or(window.last_offset, |o| o.max(window.last_offset)),
                );
                pos.committed = pos.offset.map(|o| o + 1);
                pos.start = Some(
                    pos.start
                        .map_or(window.first_offset, |s| s.min(window.first_offset)),
                );
            }
        }
        self.store_and_broadcast(vec![window], now_ms());
    }

    /// Closes every expired window; returns `(partition, offset to commit)`
    /// for partitions whose commit point is known.
    pub fn close_expired(&self) -> Vec<(i32, i64)> {
        let now = now_ms();
        let mut commits = Vec::new();
        for (p, windows) in self.assigned() {
            if let Ok(mut w) = windows.lock() {
                if let Some(closed) = w.close_expired(now) {
                    self.publish(closed);
                }
                if let Some(c) = w.commit_offset() {
                    commits.push((p, c));
                }
            }
        }
        if let Ok(mut store) = self.store.lock() {
            store.evict(now);
        }
        commits
    }

    /// Closes the windows of `partitions` now (revocation, shutdown) and
    /// marks them revoked; returns the offsets to commit.
    pub fn close_partitions(&self, partitions: &[i32]) -> Vec<(i32, i64)> {
        let mut commits = Vec::new();
        for &p in partitions {
            let Ok(windows) = self.partition(p) else { continue };
            if let Ok(mut w) = windows.lock() {
                w.revoked = true;
                if let (Some(last), Ok(mut counted)) = (w.last_offset(), self.counted_through.lock()) {
                    counted.insert(p, last);
                }
                if let (Some(cur), Ok(mut last)) = (w.current.clone(), self.last_current.lock()) {
                    if last.as_ref().is_none_or(|l| l.2 <= cur.2) {
                        *last = Some(cur);
                    }
                }
                if let Some(closed) = w.close() {
                    self.publish(closed);
                }
                if let Some(c) = w.commit_offset() {
                    commits.push((p, c));
                }
            }
            self.remove_partition(p);
        }
        commits
    }

    /// All retained windows of `kind` plus the open ones, merged. Lock
    /// order: partitions (ascending), then the store — the order `publish`
    /// runs in — so the snapshot sees every record exactly once. Only the
    /// snapshot is taken under the locks; the merging runs after, so ingest
    /// is paused for copies, not for a whole retention's merge.
    pub fn merged_all(&self, kind: SketchKind) -> Option<Sketch> {
        let (rollups, open) = {
            let assigned = self.assigned();
            let guards: Vec<_> = assigned.iter().filter_map(|(_, w)| w.lock().ok()).collect();
            let rollups = self.store.lock().ok()?.rollups_snapshot(kind)?;
            let open: Vec<Sketch> = guards
                .iter()
                .filter_map(|w| w.open_sketch(kind).cloned())
                .collect();
            (rollups, open)
        };
        let mut acc = rollups.merge();
        for s in &open {
            let _ = acc.merge(s);
        }
        Some(acc)
    }

    /// The most recent block id and latency across partitions.
    pub fn current(&self) -> Option<(String, f64)> {
        let last = self.last_current.lock().ok().and_then(|l| l.clone());
        self.assigned()
            .into_iter()
            .filter_map(|(_, w)| w.lock().ok().and_then(|w| w.current.clone()))
            .chain(last)
            .max_by_key(|c| c.2)
            .map(|(id, v, _)| (id, v))
    }
}
