//! Ingest: a consumer group whose members run one worker per assigned
//! partition, feeding the window sketches.
//!
//! - [`Pipeline`]: the state ingest shares with serving (partitions' windows,
//!   retained windows, counters, the broadcast of closed windows).
//! - [`consumer`]: the Kafka side (group membership, rebalances, commits).
//! - [`partition_queues`]: each partition's own queue, split before its
//!   first assignment and lent to its worker.
//! - [`revoke`]: the revoke coordinator (a revocation's cut, flush and
//!   commit, off the poll loop, bounded by `--revoke-timeout`).
//! - [`stall`]: when to leave and rejoin the group because a partition's
//!   owner is gone but still in it (`--stall-restart`).
//! - [`stall_probe`]: whether a record, or only control records, wait past
//!   a partition's committed offset.
//! - [`unreadable`]: a batch the consumer cannot decode, skipped offset by
//!   offset (counted as `unreadable`) so its partition never stalls on it.

pub mod consumer;

pub mod latency_probe;

mod otlp;

pub mod partition_queues;

pub mod revoke;

pub mod stall;

pub mod stall_probe;

pub mod unreadable;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, RwLock};

use shared::protocol::{SeriesId, TopicId};
use shared::series::{self as names, SeriesKey, MAX_TAGS};
use shared::{Sketch, SketchKind, SketchParams};
use tokio::sync::broadcast;

use crate::clock::{Clock, SystemClock};
use crate::profile::{self, Stage};
use crate::record::{self, RejectReason, SeriesRef, TagBuf};
use crate::series::{InternError, SeriesCatalog};
use crate::sketch_log::record::LogCut;
use crate::stats::{RejectSource, Stats};
use crate::window::store::{SeriesFilter, WindowStore};
use crate::window::StoredWindow;
use crate::window::{
    Arrival, Cut, PartitionWindows, PublishedWindow, SeriesCache, SharedWindow, WindowConfig,
};
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
    /// Wait past a window's end before its first snapshot, ms (`--grace`).
    pub grace_ms: u64,
    /// Records this far behind the watermark still land, ms (`--max-lateness`).
    pub max_lateness_ms: u64,
    /// How long closed windows are kept, in ms.
    pub retention_ms: u64,
    /// How long fine windows are kept before only rollups answer, in ms.
    pub fine_retention_ms: u64,
    /// How long 10 s rollups are kept before only 1-minute rollups answer, in ms.
    pub mid_retention_ms: u64,
    /// Keep every value as an exact reference (`--exact`, `/api/exact`).
    pub exact: bool,
    /// Source topic (`--topic`), read with `format`.
    pub topic: String,
    /// A second source topic read as OTLP protobuf (`mss serve
    /// --otlp-listen`: its receiver writes there, `--otlp-topic`).
    pub otlp_topic: Option<String>,
    /// Metric of HDFS records and bare numbers, and of queries naming none (`--metric`).
    pub metric: String,
    /// Tags of HDFS records and bare numbers (`--tag key=value`).
    pub tags: Vec<(String, String)>,
    /// Most series at once (`--max-series`; `None`: no limit, as in a view).
    pub max_series: Option<usize>,
    /// Published windows a WebSocket client may fall behind before it is
    /// resynced (the broadcast channel's capacity; default 4096).
    pub live_queue: usize,
    /// How record values are read (`--format`).
    pub format: crate::otlp::RecordFormat,
    /// Resource attributes of OTLP points that become tags (`--otlp-resource-tags`).
    pub otlp_resource_tags: crate::otlp::points::ResourceTags,
}

/// Default [`IngestConfig::live_queue`].
pub const DEFAULT_LIVE_QUEUE: usize = 4096;

/// Default `--metric`.
pub const DEFAULT_METRIC: &str = "latency";
/// Default `--max-series`: measured with `mss bench series` (all four
/// kinds, 1 h retention, the default tiers), the costliest series seen
/// takes ~3.8 MB (10,000 values/s), so 500 of them fit in ~1.9 GB; at 20
/// values/s a series takes ~0.78 MB (see docs/benchmarks.md).
pub const DEFAULT_MAX_SERIES: usize = 500;

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            kinds: SketchKind::ALL.to_vec(),
            default_kind: SketchKind::QuantileFlow,
            params: SketchParams::default(),
            window_ms: 1000,
            grace_ms: crate::window::DEFAULT_GRACE_MS,
            max_lateness_ms: crate::window::DEFAULT_MAX_LATENESS_MS,
            retention_ms: 3_600_000,
            fine_retention_ms: crate::window::store::DEFAULT_FINE_RETENTION_MS,
            mid_retention_ms: crate::window::store::DEFAULT_MID_RETENTION_MS,
            exact: false,
            topic: crate::broker::DEFAULT_TOPIC.to_owned(),
            otlp_topic: None,
            metric: DEFAULT_METRIC.to_owned(),
            tags: Vec::new(),
            max_series: Some(DEFAULT_MAX_SERIES),
            live_queue: DEFAULT_LIVE_QUEUE,
            format: crate::otlp::RecordFormat::Json,
            otlp_resource_tags: Default::default(),
        }
    }
}

impl IngestConfig {
    /// The window timing.
    pub fn window(&self) -> WindowConfig {
        WindowConfig {
            window_ms: self.window_ms.max(1),
            grace_ms: self.grace_ms,
            max_lateness_ms: self.max_lateness_ms,
        }
    }

    /// The default series (`--metric` with the `--tag`s).
    pub fn default_series(&self) -> anyhow::Result<SeriesKey> {
        SeriesKey::new(self.metric.clone(), self.tags.iter().cloned())
            .map_err(|e| anyhow::anyhow!("--metric/--tag: {e}"))
    }
}

/// One partition of one source topic: the key of everything ingest keeps
/// per partition (a process may read `--topic` and `--otlp-topic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourcePartition {
    /// The source topic's id in the series catalog (0: `--topic`).
    pub topic: TopicId,
    /// The Kafka partition.
    pub partition: i32,
}

impl SourcePartition {
    /// Partition `partition` of the main source topic (`--topic`, id 0).
    pub fn main(partition: i32) -> Self {
        Self { topic: 0, partition }
    }
}

impl std::fmt::Display for SourcePartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
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
    /// Records at or below this offset were counted before this process
    /// took the partition (read back from the sketch log).
    pub counted_before: Option<i64>,
}

impl PartitionPosition {
    /// Highest offset consumed, −1 before the first record.
    pub fn offset_or_none(&self) -> i64 {
        self.offset.unwrap_or(-1)
    }

    /// Records in the partition not consumed yet (0 until the high
    /// watermark is known).
    pub fn lag(&self) -> i64 {
        let done = self.offset_or_none().max(self.counted_before.unwrap_or(-1));
        self.high_watermark.map_or(0, |h| (h - done - 1).max(0))
    }
}

/// What ingest shares with the serving layer: the partitions' open
/// windows, the retained store, the partition positions, the broadcast of
/// published windows and the readiness flag — all behind methods, so the
/// lock order and the handling of a poisoned lock live here — plus the
/// settings and the self-synchronised parts (counters, series catalog).
/// Time comes from an injected [`Clock`].
#[derive(Debug)]
pub struct Pipeline {
    /// Settings.
    pub config: IngestConfig,
    /// Counters (shared with the producer thread of `mss serve`).
    pub stats: Arc<Stats>,
    /// Every series and source topic this process knows.
    pub catalog: SeriesCatalog,
    /// Every value, when `config.exact` (the compare view's reference).
    pub exact: Option<crate::exact::ExactValues>,
    /// Produce → closed-window latency of every record (`mss bench e2e` only).
    pub latency_probe: std::sync::OnceLock<LatencyProbe>,
    /// Where closed windows are made durable (set by the consumer when the
    /// sketch log is on).
    pub sketch_log: std::sync::OnceLock<crate::sketch_log::SketchPublisher>,
    /// SLOs and alerts (set by the roles that see all partitions: `serve`, `view`).
    pub monitor: std::sync::OnceLock<Arc<crate::slo::Monitor>>,
    /// The series of HDFS records and bare numbers.
    default_series: SeriesId,
    /// Windows of the partitions assigned to this process.
    partitions: RwLock<BTreeMap<SourcePartition, Arc<Mutex<PartitionWindows>>>>,
    /// Kafka positions of every partition seen.
    positions: Mutex<BTreeMap<SourcePartition, PartitionPosition>>,
    /// Retained closed windows.
    store: Mutex<WindowStore>,
    /// Every closed window, as it closes.
    windows: broadcast::Sender<SharedWindow>,
    /// Set once the consumer has been assigned partitions.
    ready: std::sync::atomic::AtomicBool,
    /// Set when this process runs a consumer-group member (not a view).
    consuming: std::sync::atomic::AtomicBool,
    /// Wall-clock time (windows of idle partitions, retention).
    clock: Arc<dyn Clock>,
    /// When the series catalog was last swept, ms.
    last_sweep_ms: std::sync::atomic::AtomicI64,
    /// What the process is waiting for before it can serve (a broker, a topic).
    waiting_for: Mutex<Option<String>>,
    /// Why the broker is unreachable right now, once it was reached.
    outage: Mutex<Option<String>>,
    /// Sketch-log records of other source topics a view skipped, by topic.
    ignored_sources: Mutex<BTreeMap<String, u64>>,
    /// Partitions whose records cannot be read right now (a fetch error
    /// since the last record consumed).
    read_errors: Mutex<BTreeMap<SourcePartition, ReadError>>,
    /// Latest record of partitions no longer assigned.
    last_current: Mutex<Option<(String, f64, i64, SeriesId)>>,
    /// Highest offset counted per partition, kept across revocations.
    counted_through: Mutex<BTreeMap<SourcePartition, i64>>,
    /// OTLP stream states read back from the sketch log for partitions
    /// whose windows do not exist yet (taken when they are created).
    restored_baselines: Mutex<BTreeMap<SourcePartition, Vec<(u64, crate::otlp::temporality::StreamState)>>>,
}

/// A partition that keeps failing to deliver records.
#[derive(Debug, Clone)]
struct ReadError {
    message: String,
    since_ms: i64,
    count: u64,
    logged_ms: i64,
}

/// How often a partition's repeated read error is logged again, ms.
const READ_ERROR_LOG_EVERY_MS: i64 = 60_000;

/// Locks `m`, or logs and counts a poisoned lock (a panicked thread held it)
/// and gives `None`: callers skip the work, never silently.
pub(crate) fn locked<'a, T>(
    m: &'a Mutex<T>,
    stats: &Stats,
    what: &str,
) -> Option<std::sync::MutexGuard<'a, T>> {
    match m.lock() {
        Ok(g) => Some(g),
        Err(_) => {
            stats.lock_failures.note(what, "skipped");
            None
        }
    }
}

/// Logs and counts a poisoned lock met on a path that has no lock guard to
/// hand back (a `RwLock`, a map whose absence is answered otherwise).
fn poisoned(stats: &Stats, what: &str) {
    stats.lock_failures.note(what, "skipped");
}

/// The series catalog is swept for series with no retained window at most this often, ms.
const SWEEP_EVERY_MS: i64 = 1000;

/// Log target of per-partition offset events (first record after an
/// assignment, offsets never delivered): `RUST_LOG=mss::offsets=debug`.
pub const OFFSETS: &str = "mss::offsets";

/// How many `series_limit` rejections are logged with their series.
const LOGGED_SERIES_LIMIT: u64 = 5;

/// Whether `tags` (sorted by key) repeat a key.
fn has_duplicate_keys(tags: &[(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)]) -> bool {
    tags.windows(2).any(|p| p[0].0 == p[1].0)
}

impl Pipeline {
    /// A pipeline with no partitions yet, on the system clock.
    pub fn new(config: IngestConfig) -> anyhow::Result<Arc<Self>> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A pipeline with no partitions yet, on `clock`.
    pub fn with_clock(config: IngestConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Self>> {
        let (windows, _) = broadcast::channel(config.live_queue.max(1));
        let catalog = SeriesCatalog::new(config.max_series);
        let default_key = config.default_series()?;
        let default_series = catalog
            .intern(&default_key)
            .map_err(|e| anyhow::anyhow!("the default series: {e}"))?;
        // The source topic is topic 0, the OTLP topic (if any) topic 1.
        catalog.topic_id(&config.topic);
        if let Some(otlp) = &config.otlp_topic {
            catalog.topic_id(otlp);
        }
        Ok(Arc::new(Self {
            store: Mutex::new(WindowStore::with_tiers(
                &config.kinds,
                config.params,
                config.retention_ms,
                config.fine_retention_ms,
                config.mid_retention_ms,
            )),
            exact: config
                .exact
                .then(|| crate::exact::ExactValues::new(config.retention_ms)),
            latency_probe: std::sync::OnceLock::new(),
            sketch_log: std::sync::OnceLock::new(),
            monitor: std::sync::OnceLock::new(),
            catalog,
            default_series,
            config,
            stats: Arc::new(Stats::default()),
            partitions: RwLock::new(BTreeMap::new()),
            positions: Mutex::new(BTreeMap::new()),
            windows,
            ready: std::sync::atomic::AtomicBool::new(false),
            consuming: std::sync::atomic::AtomicBool::new(false),
            last_current: Mutex::new(None),
            counted_through: Mutex::new(BTreeMap::new()),
            restored_baselines: Mutex::new(BTreeMap::new()),
            clock,
            last_sweep_ms: std::sync::atomic::AtomicI64::new(i64::MIN),
            waiting_for: Mutex::new(None),
            ignored_sources: Mutex::new(BTreeMap::new()),
            read_errors: Mutex::new(BTreeMap::new()),
            outage: Mutex::new(None),
        }))
    }

    /// The time now on the pipeline's clock, Unix epoch ms.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Whether the process serves answers for its data (partitions
    /// assigned, or the sketch log read back).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Relaxed)
    }

    /// Marks the process ready or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Relaxed);
    }

    /// Says what the process waits for before it can serve (`None`: nothing).
    pub fn set_waiting(&self, reason: Option<String>) {
        if let Some(mut w) = locked(&self.waiting_for, &self.stats, "waiting reason") {
            *w = reason;
        }
    }

    /// Whether the broker is reported unreachable right now.
    pub fn broker_down(&self) -> bool {
        locked(&self.outage, &self.stats, "outage").is_some_and(|o| o.is_some())
    }

    /// Notes that the broker stopped answering (`Some(reason)`) or answers
    /// again (`None`): while it does not, the process is not ready.
    pub fn set_outage(&self, reason: Option<String>) {
        if let Some(mut o) = locked(&self.outage, &self.stats, "outage") {
            *o = reason;
        }
    }

    /// Counts a sketch-log record of another source topic that a view
    /// skipped; the first of each topic is logged.
    pub fn ignore_source(&self, source: &str) {
        let Some(mut ignored) = locked(&self.ignored_sources, &self.stats, "ignored sources") else {
            return;
        };
        let n = ignored.entry(source.to_owned()).or_insert(0);
        if *n == 0 {
            tracing::warn!(
                "the sketch log holds windows of source topic {source:?}; this view shows --topic {:?} \
                 and ignores them (start it with --topic {source} to show them)",
                self.config.topic
            );
        }
        *n += 1;
    }

    /// What [`Self::ignore_source`] skipped, for people; `None` if nothing.
    fn ignored_sources_note(&self) -> Option<String> {
        let ignored = locked(&self.ignored_sources, &self.stats, "ignored sources")?;
        if ignored.is_empty() {
            return None;
        }
        let list: Vec<String> = ignored.iter().map(|(t, n)| format!("{t}: {n}")).collect();
        Some(format!(
            "sketch-log records of other source topics ignored ({}); this view shows --topic {}",
            list.join(", "),
            self.config.topic
        ))
    }

    /// Why the process is not ready, for `/readyz` and the page's status:
    /// also when a view found only other source topics' windows.
    pub fn not_ready_reason(&self) -> Option<String> {
        if let Some(outage) = locked(&self.outage, &self.stats, "outage").and_then(|o| o.clone()) {
            return Some(outage);
        }
        let nothing_shown = self.stats.windows_closed.load(Relaxed) == 0;
        if let Some(note) = self.ignored_sources_note().filter(|_| nothing_shown) {
            return Some(note);
        }
        if self.is_ready() {
            return None;
        }
        let waiting = locked(&self.waiting_for, &self.stats, "waiting reason").and_then(|w| w.clone());
        Some(waiting.unwrap_or_else(|| "waiting for partition assignment".to_owned()))
    }

    /// Every window published from now on, as it is published.
    pub fn subscribe(&self) -> broadcast::Receiver<SharedWindow> {
        self.windows.subscribe()
    }

    /// A copy of the partition positions (empty on a poisoned lock, logged).
    pub fn positions(&self) -> BTreeMap<SourcePartition, PartitionPosition> {
        locked(&self.positions, &self.stats, "positions").map_or_else(BTreeMap::new, |p| p.clone())
    }

    /// Changes the positions of `partition` (skipped on a poisoned lock, logged).
    pub fn update_position(&self, partition: SourcePartition, change: impl FnOnce(&mut PartitionPosition)) {
        if let Some(mut positions) = locked(&self.positions, &self.stats, "positions") {
            change(positions.entry(partition).or_default());
        }
    }

    /// `read` run on the window store; `None` on a poisoned lock (logged, counted).
    pub fn with_store<R>(&self, read: impl FnOnce(&WindowStore) -> R) -> Option<R> {
        locked(&self.store, &self.stats, "window store").map(|s| read(&s))
    }

    /// The retained history from `from_ms` of the series `wanted` accepts
    /// (see [`WindowStore::windows_since`]); `None` on a poisoned lock.
    pub fn history_since(&self, from_ms: i64, wanted: SeriesFilter<'_>) -> Option<Vec<StoredWindow>> {
        self.with_store(|s| s.windows_since(from_ms, wanted))
    }

    /// The id of the default series.
    pub fn default_series(&self) -> SeriesId {
        self.default_series
    }

    /// Every series of `metric` (for answers about the whole metric).
    pub fn series_of_metric(&self, metric: &str) -> std::collections::HashSet<SeriesId> {
        self.catalog
            .matching(metric, &shared::filter::Filter::default())
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    /// The windows of `partition` of the main source topic, created if new.
    pub fn partition(&self, partition: i32) -> anyhow::Result<Arc<Mutex<PartitionWindows>>> {
        self.partition_of(SourcePartition::main(partition))
    }

    /// The source topic's name of `id` (`--topic` for an unknown one, logged).
    pub fn topic_name(&self, id: TopicId) -> String {
        self.catalog.topic(id).unwrap_or_else(|| {
            tracing::error!(topic = id, "unknown source topic id");
            self.config.topic.clone()
        })
    }

    /// How the records of source topic `topic` are read: OTLP protobuf on
    /// the OTLP topic, `--format` elsewhere.
    pub fn format_of(&self, topic: TopicId) -> crate::otlp::RecordFormat {
        let otlp = self.config.otlp_topic.as_deref();
        if otlp.is_some() && self.catalog.topic(topic).as_deref() == otlp {
            crate::otlp::RecordFormat::Otlp
        } else {
            self.config.format
        }
    }

    /// The windows of `partition`, created if new.
    pub fn partition_of(&self, partition: SourcePartition) -> anyhow::Result<Arc<Mutex<PartitionWindows>>> {
        if let Some(p) = self
            .partitions
            .read()
            .map_err(|_| anyhow::anyhow!("partition map poisoned"))?
            .get(&partition)
            .cloned()
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
            partition.topic,
            partition.partition,
            self.config.window(),
            &self.config.kinds,
            &self.config.params,
        )?;
        let through = self
            .counted_through
            .lock()
            .map_err(|_| anyhow::anyhow!("counted-through map poisoned"))?
            .get(&partition)
            .copied();
        if let Some(through) = through {
            // Redelivered records (e.g. after a failed commit on revoke) are
            // recognised by offset and never counted twice by this process.
            windows.resume_after(through);
        }
        if let Some(states) = locked(&self.restored_baselines, &self.stats, "restored baselines")
            .and_then(|mut pending| pending.remove(&partition))
        {
            windows.baselines.restore(states);
        }
        let p = Arc::new(Mutex::new(windows));
        map.insert(partition, p.clone());
        Ok(p)
    }

    /// Forgets a revoked partition (after its windows were closed).
    pub fn remove_partition(&self, partition: SourcePartition) {
        match self.partitions.write() {
            Ok(mut map) => {
                map.remove(&partition);
            }
            Err(_) => poisoned(&self.stats, "partition map (partition not removed)"),
        }
    }

    /// Partitions currently assigned, with their windows.
    pub fn assigned(&self) -> Vec<(SourcePartition, Arc<Mutex<PartitionWindows>>)> {
        match self.partitions.read() {
            Ok(m) => m.iter().map(|(&p, w)| (p, w.clone())).collect(),
            Err(_) => {
                poisoned(&self.stats, "partition map (no partition listed)");
                Vec::new()
            }
        }
    }

    /// The series id of a decoded record: the default series, or its own
    /// (validated, interned; looked up in the partition's cache by its
    /// canonical bytes without allocating when already seen).
    fn resolve(&self, cache: &mut SeriesCache, series: SeriesRef<'_>) -> Result<SeriesId, RejectReason> {
        let SeriesRef::Named { metric, mut tags } = series else {
            return Ok(self.default_series);
        };
        names::validate_metric(&metric).map_err(|e| RejectReason::of_series(&e))?;
        tags.sort();
        let list = tags.as_slice();
        if has_duplicate_keys(list) {
            return Err(RejectReason::BadTag);
        }
        let mut pairs: [(&str, &str); MAX_TAGS] = [("", ""); MAX_TAGS];
        for (slot, (k, v)) in pairs.iter_mut().zip(list) {
            names::validate_tag(k, v).map_err(|e| RejectReason::of_series(&e))?;
            *slot = (k, v);
        }
        cache.buf.clear();
        names::write_canonical(&metric, &pairs[..list.len()], &mut cache.buf);
        if let Some(id) = cache.get(self.catalog.generation()) {
            return Ok(id);
        }
        let id = self.intern_new(&cache.buf, &metric, &tags)?;
        cache.put(id);
        Ok(id)
    }

    fn intern_new(
        &self,
        canonical: &[u8],
        metric: &str,
        tags: &TagBuf<'_>,
    ) -> Result<SeriesId, RejectReason> {
        let key = SeriesKey::new(
            metric.to_owned(),
            tags.as_slice()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .map_err(|e| RejectReason::of_series(&e))?;
        match self.catalog.intern_with(canonical, || key.clone()) {
            Ok(id) => Ok(id),
            Err(InternError::Limit(max)) => {
                let n = self
                    .stats
                    .rejected_count(RejectSource::Payload, RejectReason::SeriesLimit);
                if n < LOGGED_SERIES_LIMIT {
                    tracing::warn!(series = %key, max, "series limit reached (--max-series): record rejected");
                }
                Err(RejectReason::SeriesLimit)
            }
            Err(InternError::Poisoned) => {
                tracing::error!("series catalog poisoned: record rejected");
                Err(RejectReason::SeriesLimit)
            }
        }
    }

    /// Decodes and inserts one record of `partition` at `offset`.
    ///
    /// `record_ms` is the record's Kafka timestamp: the event time of
    /// records without `ts_ms`, and the produce time for the latency probe
    /// of `mss bench e2e`.
    #[inline]
    pub fn ingest(
        &self,
        windows: &Mutex<PartitionWindows>,
        offset: i64,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        record_ms: Option<i64>,
    ) {
        self.ingest_as(self.config.format, windows, offset, key, payload, record_ms);
    }

    /// [`Self::ingest`] of a record read as `format` (see [`Self::format_of`]).
    #[inline]
    pub fn ingest_as(
        &self,
        format: crate::otlp::RecordFormat,
        windows: &Mutex<PartitionWindows>,
        offset: i64,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        record_ms: Option<i64>,
    ) {
        use crate::otlp::RecordFormat;
        let t = profile::start();
        match format {
            RecordFormat::Json => {
                let decoded = record::decode(key, payload);
                profile::record(Stage::Decode, t);
                self.ingest_decoded(windows, offset, decoded, record_ms);
            }
            RecordFormat::Otlp => self.ingest_otlp(windows, offset, payload, record_ms),
            // A valid JSON record is one (a JSON record with a bad value is
            // rejected with its reason); anything else is read as OTLP.
            RecordFormat::Auto => match record::decode(key, payload) {
                Err(RejectReason::Malformed) => self.ingest_otlp(windows, offset, payload, record_ms),
                decoded => {
                    profile::record(Stage::Decode, t);
                    self.ingest_decoded(windows, offset, decoded, record_ms);
                }
            },
        }
    }

    #[inline]
    fn ingest_decoded(
        &self,
        windows: &Mutex<PartitionWindows>,
        offset: i64,
        decoded: Result<record::Decoded<'_>, RejectReason>,
        record_ms: Option<i64>,
    ) {
        let now = self.now_ms();
        let Some(mut w) = self.windows_for_record(windows, offset) else {
            return;
        };
        let accepted = decoded.and_then(|d| {
            // Time first: a late or future record never takes a series slot.
            let event = d.ts_ms.or(record_ms).unwrap_or(now);
            w.check_time(event, now)?;
            let series = self.resolve(&mut w.series_cache, d.series)?;
            Ok((series, event, d.latency, d.block_id))
        });
        let cut = match accepted {
            Ok((series, event, value, block_id)) => {
                let cut = w.insert(offset, series, value, event, now, &block_id);
                if let (Some(probe), Some(produced)) = (self.latency_probe.get(), record_ms) {
                    probe.landed(w.partition(), w.window_start(event), produced);
                }
                if let Some(exact) = &self.exact {
                    exact.push(series, w.window_start(event), value);
                }
                self.stats.messages.fetch_add(1, Relaxed);
                cut
            }
            Err(reason) => {
                self.reject_payload(reason);
                w.skip(offset, now);
                None
            }
        };
        // Published under the partition lock: a record is always either in
        // an open window or in the store, never in between (see `merged_all`).
        if let Some(cut) = cut {
            self.publish(cut);
        }
    }

    /// The partition's windows, locked for the record at `offset`; `None`
    /// (nothing to do) when the partition was revoked (`ignored_after_revoke`)
    /// or the record was counted already (`redelivered`), or when the lock is poisoned (the
    /// record is then counted as `malformed`, never dropped silently).
    fn windows_for_record<'w>(
        &self,
        windows: &'w Mutex<PartitionWindows>,
        offset: i64,
    ) -> Option<std::sync::MutexGuard<'w, PartitionWindows>> {
        let Ok(mut w) = windows.lock() else {
            let skipped = format!("record at offset {offset} rejected as malformed");
            self.stats.lock_failures.note("partition", &skipped);
            self.reject_payload(RejectReason::Malformed);
            return None;
        };
        if w.revoked {
            self.stats.ignored_after_revoke.fetch_add(1, Relaxed);
            return None;
        }
        let arrival = w.arrive(offset);
        self.note_arrival(&w, offset, arrival).then_some(w)
    }

    /// Counts and logs how a record's offset followed its partition's last
    /// one (see [`Arrival`]); whether the record is to be inserted.
    fn note_arrival(&self, w: &PartitionWindows, offset: i64, arrival: Arrival) -> bool {
        let (topic, partition) = (w.topic(), w.partition());
        match arrival {
            Arrival::Next { first } => {
                if first {
                    tracing::debug!(target: OFFSETS, topic, partition, offset, "first record");
                }
                true
            }
            Arrival::Redelivered { first } => {
                if first {
                    tracing::debug!(target: OFFSETS, topic, partition, offset, "first record: counted before");
                }
                self.stats.redelivered.fetch_add(1, Relaxed);
                false
            }
            Arrival::OutOfOrder { last } => {
                // Logged at the 1st, 2nd, 4th, 8th … (a run of them is one event).
                let n = self.stats.out_of_order.fetch_add(1, Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(
                        topic,
                        partition,
                        offset,
                        last,
                        out_of_order = n,
                        "a record arrived after a newer one of its partition: not counted (out_of_order)"
                    );
                }
                false
            }
            Arrival::AfterGap {
                after,
                skipped,
                first,
            } => {
                self.stats.offsets_skipped.fetch_add(skipped as u64, Relaxed);
                tracing::debug!(
                    target: OFFSETS,
                    topic,
                    partition,
                    offset,
                    after,
                    skipped,
                    first,
                    "offsets never delivered"
                );
                true
            }
        }
    }

    fn reject_payload(&self, reason: RejectReason) {
        self.stats.reject(RejectSource::Payload, reason);
    }

    /// Stores, broadcasts and logs a cut's snapshots.
    pub fn publish(&self, cut: Cut) {
        let started = std::time::Instant::now();
        let t = profile::start();
        let now = self.now_ms();
        if let Some(probe) = self.latency_probe.get() {
            for w in cut.windows.iter().filter(|w| w.kind == self.config.default_kind) {
                probe.closed(w.partition, w.window_start_ms, now);
            }
        }
        self.catalog
            .touch(cut.windows.iter().map(|w| (w.series, w.window_start_ms)));
        if let Some(log) = self.sketch_log.get() {
            log.send_cut(&cut, &self.catalog);
        }
        // Each window's frame is encoded once, for every client.
        let shared: Vec<SharedWindow> = cut
            .windows
            .into_iter()
            .map(|w| Arc::new(PublishedWindow::new(w)))
            .collect();
        self.store_and_broadcast(shared, now);
        metrics::histogram!("mss_window_close_seconds").record(started.elapsed().as_secs_f64());
        profile::record(Stage::Publish, t);
    }

    /// Adds windows to the retained store and streams them to subscribers.
    fn store_and_broadcast(&self, windows: Vec<SharedWindow>, now: i64) {
        match self.store.lock() {
            Ok(mut store) => {
                for w in &windows {
                    store.add(w.window.clone(), now);
                }
            }
            Err(_) => {
                tracing::error!(n = windows.len(), "window store poisoned: windows not stored");
                self.stats.store_failures.fetch_add(windows.len() as u64, Relaxed);
            }
        }
        for w in windows {
            self.stats.windows_closed.fetch_add(1, Relaxed);
            // No subscriber is fine: the store keeps the history.
            let _ = self.windows.send(w);
        }
    }

    /// Records of `partition` at or below `offset` are already in a
    /// published cut: never count them again (exactly-once resumption).
    pub fn skip_through(&self, partition: SourcePartition, offset: i64) {
        self.update_position(partition, |pos| {
            pos.counted_before = Some(pos.counted_before.map_or(offset, |o| o.max(offset)));
        });
        match self.counted_through.lock() {
            Ok(mut counted) => {
                let e = counted.entry(partition).or_insert(offset);
                *e = (*e).max(offset);
            }
            Err(_) => poisoned(&self.stats, "counted-through map (skip not remembered)"),
        }
        let windows = match self.partitions.read() {
            Ok(m) => m.get(&partition).cloned(),
            Err(_) => {
                poisoned(&self.stats, "partition map (skip not applied)");
                None
            }
        };
        if let Some(windows) = windows {
            if let Some(mut w) = locked(&windows, &self.stats, "partition") {
                if !w.already_counted(offset) {
                    w.resume_after(offset);
                }
            }
        }
    }

    /// OTLP stream states read back from the sketch log for `partition`
    /// (oldest first): its cumulative baselines and recent delta points as
    /// of the last complete cut, so a new owner neither loses nor
    /// double-counts a point.
    pub fn restore_baselines(
        &self,
        partition: SourcePartition,
        states: Vec<(u64, crate::otlp::temporality::StreamState)>,
    ) {
        if states.is_empty() {
            return;
        }
        let windows = match self.partitions.read() {
            Ok(m) => m.get(&partition).cloned(),
            Err(_) => {
                poisoned(&self.stats, "partition map (OTLP baselines kept for later)");
                None
            }
        };
        match windows {
            Some(windows) => {
                if let Some(mut w) = locked(&windows, &self.stats, "partition") {
                    w.baselines.restore(states);
                }
            }
            None => {
                if let Some(mut pending) = locked(&self.restored_baselines, &self.stats, "restored baselines")
                {
                    pending.entry(partition).or_default().extend(states);
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
            if let Some(mut positions) = locked(&self.positions, &self.stats, "positions") {
                let key = SourcePartition {
                    topic: window.topic,
                    partition: window.partition,
                };
                let pos = positions.entry(key).or_default();
                let through = window.through_offset.max(window.last_offset);
                pos.offset = Some(pos.offset.map_or(through, |o| o.max(through)));
                pos.committed = pos.offset.map(|o| o + 1);
                pos.start = Some(
                    pos.start
                        .map_or(window.first_offset, |s| s.min(window.first_offset)),
                );
            }
        }
        self.catalog.touch([(window.series, window.window_start_ms)]);
        self.store_and_broadcast(vec![window], self.now_ms());
    }

    /// The series of sketch-log records written before series existed:
    /// `--metric` with no tags.
    pub fn legacy_series(&self) -> anyhow::Result<SeriesKey> {
        SeriesKey::new(self.config.metric.clone(), Vec::<(String, String)>::new())
            .map_err(|e| anyhow::anyhow!("--metric: {e}"))
    }

    /// A complete cut read back from the sketch log (`mss view`): its
    /// windows newer than `horizon_ms` restored; returns how many.
    pub fn restore_cut(&self, chunks: Vec<LogCut>, horizon_ms: i64) -> usize {
        let mut restored = 0;
        for chunk in chunks {
            let topic = self.catalog.topic_id(&chunk.source_topic);
            for (metric, unit) in &chunk.units {
                if let Err(has) = self.catalog.claim_unit(metric, unit) {
                    tracing::warn!(
                        metric,
                        unit,
                        has,
                        "sketch log: a metric in two units; shown in the first"
                    );
                }
            }
            let ids: Vec<Option<SeriesId>> = chunk
                .series
                .iter()
                .map(|key| match self.catalog.intern(key) {
                    Ok(id) => Some(id),
                    Err(e) => {
                        tracing::error!(series = %key, "sketch log: {e}; its windows are not shown");
                        self.reject_payload(RejectReason::SeriesLimit);
                        None
                    }
                })
                .collect();
            for w in chunk.windows {
                let Some(Some(series)) = ids.get(w.series as usize) else {
                    continue;
                };
                if w.window_start_ms.saturating_add(w.window_ms as i64) <= horizon_ms {
                    continue;
                }
                restored += 1;
                let window = w.into_snapshot(*series, topic, chunk.partition, chunk.through_offset);
                self.restore(Arc::new(PublishedWindow::new(window)));
            }
        }
        restored
    }

    /// Cuts every partition that is due; returns `(partition, offset to
    /// commit)` for partitions whose commit point is known. Also evicts
    /// what fell out of the retention and frees series with no window left.
    pub fn close_expired(&self) -> Vec<(SourcePartition, i64)> {
        let now = self.now_ms();
        let mut commits = Vec::new();
        for (p, windows) in self.assigned() {
            let Ok(mut w) = windows.lock() else {
                tracing::error!(partition = %p, "partition lock poisoned: not cut");
                continue;
            };
            if let Some(cut) = w.close_expired(now) {
                self.publish(cut);
            }
            if let Some(c) = w.commit_offset() {
                commits.push((p, c));
            }
        }
        self.evict(now);
        commits
    }

    /// Drops what fell out of the retention (store and catalog).
    pub fn evict(&self, now: i64) {
        if let Some(mut store) = locked(&self.store, &self.stats, "window store") {
            store.evict(now);
        }
        let retention = i64::try_from(self.config.retention_ms).unwrap_or(i64::MAX);
        // A rollup minute outlives its newest window by up to a minute.
        let horizon = now
            .saturating_sub(retention)
            .saturating_sub(crate::window::store::ROLLUP_MS);
        // The sweep walks every series under the catalog's write lock:
        // once a second is enough (a series outlives its windows by a minute anyway).
        let last = self.last_sweep_ms.load(Relaxed);
        if now.saturating_sub(last) < SWEEP_EVERY_MS
            || self
                .last_sweep_ms
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_err()
        {
            return;
        }
        let freed = self.catalog.sweep(horizon);
        if freed > 0 {
            tracing::debug!(freed, "series with no retained window freed");
        }
    }

    /// Cuts `partitions` now (revocation, shutdown) and marks them revoked;
    /// returns the offsets to commit.
    pub fn close_partitions(&self, partitions: &[SourcePartition]) -> Vec<(SourcePartition, i64)> {
        let mut commits = Vec::new();
        for &p in partitions {
            let Ok(windows) = self.partition_of(p) else {
                continue;
            };
            let Ok(mut w) = windows.lock() else {
                tracing::error!(partition = %p, "partition lock poisoned: not cut");
                continue;
            };
            w.revoked = true;
            if let (Some(last), Ok(mut counted)) = (w.last_offset(), self.counted_through.lock()) {
                counted.insert(p, last);
            }
            if let (Some(cur), Ok(mut last)) = (w.current.clone(), self.last_current.lock()) {
                if last.as_ref().is_none_or(|l| l.2 <= cur.2) {
                    *last = Some(cur);
                }
            }
            if let Some(cut) = w.cut() {
                self.publish(cut);
            }
            if let Some(c) = w.commit_offset() {
                commits.push((p, c));
            }
            drop(w);
            self.remove_partition(p);
        }
        commits
    }

    /// All retained windows of `kind` of the series `wanted` accepts, plus
    /// their open values, merged. Lock order: partitions (ascending), then
    /// the store — the order `publish` runs in — so the snapshot sees every
    /// record exactly once. Only the snapshot is taken under the locks; the
    /// merging runs after, so ingest is paused for copies, not for a whole
    /// retention's merge.
    pub fn merged_all(&self, kind: SketchKind, wanted: SeriesFilter<'_>) -> Option<Sketch> {
        let (rollups, open) = {
            let assigned = self.assigned();
            let guards: Vec<_> = assigned
                .iter()
                .filter_map(|(_, w)| locked(w, &self.stats, "partition"))
                .collect();
            let rollups = locked(&self.store, &self.stats, "window store")?.rollups_snapshot(kind, wanted)?;
            let open: Vec<f64> = guards.iter().flat_map(|w| w.open_values(wanted)).collect();
            let weighted: Vec<(f64, u64)> = guards.iter().flat_map(|w| w.open_weighted(wanted)).collect();
            (rollups, (open, weighted))
        };
        let (open, weighted) = open;
        let mut acc = rollups.merge();
        let weighted = weighted.iter().try_for_each(|&(v, n)| acc.insert_n(v, n));
        if acc.insert_slice(&open).and(weighted).is_err() {
            tracing::error!("open values did not insert into a query's sketch");
        }
        Some(acc)
    }

    /// Notes that `partition` failed to deliver a record (`message`):
    /// counted on `/metrics`, logged at first and once a minute, and listed
    /// in [`Self::problems`] until a record of it is consumed again.
    pub fn note_read_error(&self, partition: SourcePartition, message: &str) {
        let topic = self.topic_name(partition.topic);
        metrics::counter!("mss_consumer_errors_total", "topic" => topic.clone(), "partition" => partition.partition.to_string())
            .increment(1);
        let now = self.now_ms();
        let Some(mut errors) = locked(&self.read_errors, &self.stats, "read errors") else {
            return;
        };
        let e = errors.entry(partition).or_insert_with(|| ReadError {
            message: message.to_owned(),
            since_ms: now,
            count: 0,
            logged_ms: i64::MIN,
        });
        e.count += 1;
        message.clone_into(&mut e.message);
        if now.saturating_sub(e.logged_ms) >= READ_ERROR_LOG_EVERY_MS {
            e.logged_ms = now;
            tracing::warn!(
                topic,
                partition = partition.partition,
                errors = e.count,
                "cannot read records of the partition: {message}"
            );
        }
    }

    /// Clears `partition`'s read error (a record of it was consumed).
    pub fn clear_read_error(&self, partition: SourcePartition) {
        if let Some(mut errors) = locked(&self.read_errors, &self.stats, "read errors") {
            if errors.remove(&partition).is_some() {
                tracing::info!(partition = %partition, "records of the partition are read again");
            }
        }
    }

    fn read_error_notes(&self) -> Vec<String> {
        let now = self.now_ms();
        locked(&self.read_errors, &self.stats, "read errors")
            .map(|errors| {
                errors
                    .iter()
                    .map(|(p, e)| {
                        format!(
                            "{}: records cannot be read for {} s ({} errors): {}",
                            self.partition_label(*p),
                            (now - e.since_ms) / 1000,
                            e.count,
                            e.message
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How people see `partition`: `partition 3` on the main source topic,
    /// `otlp_metrics partition 3` on another.
    pub fn partition_label(&self, partition: SourcePartition) -> String {
        match partition.topic {
            0 => format!("partition {}", partition.partition),
            t => format!("{} partition {}", self.topic_name(t), partition.partition),
        }
    }

    /// What each tier of the window store holds (empty on a poisoned lock, logged).
    pub fn store_footprint(&self) -> crate::window::store::Footprint {
        self.with_store(WindowStore::footprint).unwrap_or_default()
    }

    /// Notes that this process consumes the source topics itself (a member
    /// of the consumer group), so it claims a counting guarantee.
    pub fn mark_consuming(&self) {
        self.consuming.store(true, Relaxed);
    }

    /// The counting guarantee this process can claim for what it consumed:
    /// `exactly-once` with the sketch log while every revocation was
    /// committed in time, else `at-least-once`; `None` when it consumes
    /// nothing itself (a view shows what the ingest processes published).
    pub fn delivery(&self) -> Option<&'static str> {
        if !self.consuming.load(Relaxed) {
            return None;
        }
        let uncommitted = self.stats.revoke_timeouts.load(Relaxed) + self.stats.revoke_failures.load(Relaxed);
        match self.sketch_log.get() {
            Some(_) if uncommitted == 0 => Some("exactly-once"),
            _ => Some("at-least-once"),
        }
    }

    /// Poisoned locks met by the pipeline and its series catalog (each
    /// logged where it was met; the work it guarded was skipped).
    pub fn poisoned_locks(&self) -> u64 {
        self.stats.lock_failures.count() + self.catalog.poisoned_locks()
    }

    /// What is wrong right now, for people (the dashboard's status):
    /// not ready yet, the series limit reached, windows that could not be stored.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let not_ready = self.not_ready_reason();
        out.extend(
            self.ignored_sources_note()
                .filter(|n| not_ready.as_ref() != Some(n)),
        );
        out.extend(not_ready);
        out.extend(self.read_error_notes());
        if let Some(max) = self.catalog.max_series() {
            let refused = self
                .stats
                .rejected_count(RejectSource::Payload, RejectReason::SeriesLimit);
            if refused > 0 && self.catalog.len() >= max {
                out.push(format!(
                    "series limit of {max} reached (--max-series): {refused} records of new series rejected"
                ));
            }
        }
        let unmerged = self.with_store(WindowStore::merge_failures).unwrap_or(0);
        if unmerged > 0 {
            out.push(format!(
                "{unmerged} stored windows did not merge into rollups (see the log)"
            ));
        }
        let lost = self.stats.store_failures.load(Relaxed);
        if lost > 0 {
            out.push(format!("{lost} windows could not be stored (see the log)"));
        }
        let (timeouts, failures) = (
            self.stats.revoke_timeouts.load(Relaxed),
            self.stats.revoke_failures.load(Relaxed),
        );
        if timeouts + failures > 0 {
            out.push(format!(
                "{timeouts} revocations timed out and {failures} failed before their commit \
                 (--revoke-timeout): some records may be counted twice (see the log)"
            ));
        }
        let poisoned = self.poisoned_locks();
        if poisoned > 0 {
            out.push(format!(
                "{poisoned} operations skipped on a poisoned lock (see the log)"
            ));
        }
        out
    }

    /// The most recent block id and value across partitions, if its series
    /// is one `wanted` accepts (each partition keeps only its latest record).
    pub fn current(&self, wanted: SeriesFilter<'_>) -> Option<(String, f64)> {
        let last = locked(&self.last_current, &self.stats, "last record").and_then(|l| l.clone());
        self.assigned()
            .into_iter()
            .filter_map(|(_, w)| locked(&w, &self.stats, "partition").and_then(|w| w.current.clone()))
            .chain(last)
            .filter(|c| wanted(c.3))
            .max_by_key(|c| c.2)
            .map(|(id, v, _, _)| (id, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn a_partition_that_cannot_be_read_is_a_problem_until_it_reads_again() {
        let clock = Arc::new(ManualClock::at(1_000_000));
        let pipeline = Pipeline::with_clock(IngestConfig::default(), clock.clone()).expect("config");
        let p1 = SourcePartition::main(1);
        pipeline.note_read_error(p1, "Decompression (codec 0x4) failed");
        clock.advance(30_000);
        pipeline.note_read_error(p1, "Decompression (codec 0x4) failed");
        let problems = pipeline.problems();
        assert!(
            problems
                .iter()
                .any(|p| p
                    .starts_with("partition 1: records cannot be read for 30 s (2 errors): Decompression")),
            "{problems:?}"
        );
        pipeline.clear_read_error(p1);
        assert!(pipeline.problems().iter().all(|p| !p.starts_with("partition 1")));
    }

    #[test]
    fn a_partition_resumed_from_the_sketch_log_lags_only_by_what_is_not_counted() {
        let pipeline = Pipeline::new(IngestConfig::default()).expect("pipeline");
        let p0 = SourcePartition::main(0);
        // The previous owner's cuts cover offsets 0..=41; the log ends at 42.
        pipeline.skip_through(p0, 41);
        pipeline.update_position(p0, |pos| pos.high_watermark = Some(42));
        assert_eq!(pipeline.positions()[&p0].lag(), 0, "nothing new to consume");
        pipeline.update_position(p0, |pos| pos.high_watermark = Some(50));
        assert_eq!(pipeline.positions()[&p0].lag(), 8);
        pipeline.update_position(p0, |pos| pos.offset = Some(45));
        assert_eq!(pipeline.positions()[&p0].lag(), 4, "then by what it consumed");
    }

    #[test]
    fn an_idle_partition_is_cut_and_retained_by_the_injected_clock() {
        // A year before the system clock: only the injected clock says
        // these windows are recent.
        let t0: i64 = 1_764_072_000_000;
        let clock = Arc::new(ManualClock::at(t0 + 100));
        let pipeline = Pipeline::with_clock(IngestConfig::default(), clock.clone()).expect("pipeline");
        let windows = pipeline.partition(0).expect("partition");
        let record = format!(r#"{{"block_id":"blk_1","latency":5.0,"ts_ms":{t0}}}"#);
        pipeline.ingest(&windows, 0, None, Some(record.as_bytes()), None);
        let closed = || pipeline.stats.windows_closed.load(Relaxed);
        clock.set(t0 + 1_500);
        pipeline.close_expired();
        assert_eq!(closed(), 0, "the window ends at t0 + 1 s; grace is 2 s");
        clock.set(t0 + 3_100);
        pipeline.close_expired();
        assert_eq!(closed(), SketchKind::ALL.len() as u64, "one snapshot per kind");
        let count = |kind| pipeline.with_store(|s| s.merged_all(kind, &|_| true).map(|m| m.count()));
        assert_eq!(count(SketchKind::QuantileFlow), Some(Some(1)));
        clock.advance(2 * 3_600_000);
        pipeline.evict(pipeline.now_ms());
        assert_eq!(
            count(SketchKind::QuantileFlow),
            Some(Some(0)),
            "gone after the retention"
        );
    }
}
