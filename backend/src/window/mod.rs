//! Event-time windows of sketches, per partition and series.
//!
//! A record goes into the window of its own time (`ts_ms`, else the Kafka
//! timestamp), of its series. Windows are aligned to the epoch (start =
//! `t − t mod window`), so windows of different partitions and processes
//! line up and merge. Several windows of a partition may be open at once;
//! an open window holds its raw values (8 bytes each), and sketches are
//! built only when it is published, so an open window costs no sketch
//! memory however many series a partition has.
//!
//! # Watermark, grace, lateness
//! A partition's watermark is the newest event time it has seen. Once the
//! watermark (or, for a partition idle for `--grace`, the wall clock) is past
//! the end of the window that was being filled after the previous cut, plus
//! `--grace`, the partition is *cut* (so in-order data is published a whole
//! window at a time, and a late record does not force a cut of its own).
//! A record older than the watermark minus `--max-lateness` is rejected as
//! `late`, one more than a minute ahead of the wall clock as `future`;
//! anything in between goes into its window — if that window was published
//! already, into a later snapshot of it, which the stores merge.
//!
//! # Cuts: the unit of publishing and committing
//! A cut publishes a snapshot of *every* open window of the partition
//! (sketches of the values since the previous cut) and empties them; every
//! snapshot is stamped with the cut's `through_offset`, the highest offset
//! processed before it. So after a cut every record at or below
//! `through_offset` is in a published snapshot and no published snapshot
//! holds a record above it — whatever the interleaving of event times and
//! offsets (100→W1, 101→W2, 102→W1: W1 and W2 are published together).
//! The consumer commits `through_offset + 1` once the cut is acknowledged,
//! and a new owner skips the records at or below the last complete cut's
//! `through_offset` (see [`crate::sketch_log`]).

pub mod store;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use shared::protocol::{SeriesId, TopicId};
use shared::{Sketch, SketchKind, SketchParams};

use crate::profile::{self, Stage};
use crate::record::RejectReason;

/// One snapshot of one window of one series, partition and sketch kind:
/// the unit the serving layer stores and streams (the wire protocol's type).
pub use shared::protocol::WindowSnapshot as ClosedWindow;

/// How far ahead of the wall clock an event time may be.
pub const MAX_FUTURE_MS: i64 = 60_000;
/// Default `--grace`.
pub const DEFAULT_GRACE_MS: u64 = 2_000;
/// Default `--max-lateness`.
pub const DEFAULT_MAX_LATENESS_MS: u64 = 10 * 60_000;

/// Window timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowConfig {
    /// Window length, ms (`--window`).
    pub window_ms: u64,
    /// Wait past a window's end before its first snapshot, ms (`--grace`).
    pub grace_ms: u64,
    /// Records this far behind the watermark still land, ms (`--max-lateness`).
    pub max_lateness_ms: u64,
}

impl WindowConfig {
    /// `window_ms` windows with the default grace and lateness.
    pub fn with_window(window_ms: u64) -> Self {
        Self {
            window_ms: window_ms.max(1),
            grace_ms: DEFAULT_GRACE_MS,
            max_lateness_ms: DEFAULT_MAX_LATENESS_MS,
        }
    }

    fn window(&self) -> i64 {
        i64::try_from(self.window_ms.max(1)).unwrap_or(i64::MAX)
    }

    fn grace(&self) -> i64 {
        i64::try_from(self.grace_ms).unwrap_or(i64::MAX)
    }
}

/// The values of one open window since the last cut.
#[derive(Debug)]
struct OpenWindow {
    values: Vec<f64>,
    /// `(value, count)` of histogram buckets (OTLP points).
    weighted: Vec<(f64, u64)>,
    first_offset: i64,
    last_offset: i64,
}

/// Snapshots of every open window of a partition, published together.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    /// Source topic (its id in the series catalog).
    pub topic: TopicId,
    /// Source partition.
    pub partition: i32,
    /// Every record at or below this offset is in this or an earlier cut.
    pub through_offset: i64,
    /// The snapshots (may be empty: a cut over rejected records only).
    pub windows: Vec<ClosedWindow>,
    /// OTLP stream states changed since the previous cut.
    pub baselines: Vec<(u64, crate::otlp::temporality::StreamState)>,
}

/// Per-partition cache of series ids by canonical bytes (checked against
/// the catalog's generation, so freed series are looked up again).
#[derive(Debug, Default)]
pub struct SeriesCache {
    generation: u64,
    ids: HashMap<Box<[u8]>, SeriesId>,
    /// Reused buffer for the canonical bytes of a record's series.
    pub buf: Vec<u8>,
}

impl SeriesCache {
    /// The cached id of the series in `buf`, if the catalog is still at `generation`.
    pub fn get(&mut self, generation: u64) -> Option<SeriesId> {
        if generation != self.generation {
            self.ids.clear();
            self.generation = generation;
            return None;
        }
        self.ids.get(self.buf.as_slice()).copied()
    }

    /// Remembers the id of the series in `buf`.
    pub fn put(&mut self, id: SeriesId) {
        if self.ids.len() >= 65_536 {
            self.ids.clear();
        }
        self.ids.insert(self.buf.as_slice().into(), id);
    }
}

/// How a record's offset follows the records a partition's windows took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The next offset (or the first record with nothing known before it).
    Next {
        /// The first record since the windows were created or resumed.
        first: bool,
    },
    /// At or below the point the windows resumed after: counted before
    /// (a redelivery after a refused commit); skipped.
    Redelivered {
        /// The first record since the windows were created or resumed.
        first: bool,
    },
    /// Below a record these windows already took, yet after the resume
    /// point: the partition's records arrived out of offset order. Never
    /// expected (each partition is read through one queue); not counted,
    /// as it cannot be told from a repeat.
    OutOfOrder {
        /// The highest offset taken so far.
        last: i64,
    },
    /// Offsets between the last record and this one were never delivered:
    /// transaction markers, compaction, retention — or a fetch position
    /// that jumped past records nobody counted.
    AfterGap {
        /// The highest offset taken before.
        after: i64,
        /// How many offsets were never delivered.
        skipped: i64,
        /// The first record since the windows were created or resumed.
        first: bool,
    },
}

/// The open windows of one partition.
#[derive(Debug)]
pub struct PartitionWindows {
    topic: TopicId,
    partition: i32,
    config: WindowConfig,
    /// One sketch per enabled kind, reused for every snapshot.
    scratch: Vec<Sketch>,
    /// Open windows by (start, series).
    open: BTreeMap<(i64, SeriesId), OpenWindow>,
    /// Emptied value buffers, reused.
    spare: Vec<Vec<f64>>,
    /// Newest event time seen.
    watermark: Option<i64>,
    /// Highest offset processed (accepted or rejected).
    last_offset: Option<i64>,
    /// `through_offset` of the last cut.
    through_offset: Option<i64>,
    /// Records at or below this were counted before these windows took
    /// any (see [`Self::resume_after`]): delivered again, they are skipped.
    resumed_through: Option<i64>,
    /// Whether a record arrived since the windows were created or resumed.
    arrived: bool,
    /// Watermark at which the next cut is due (set by the first record
    /// after a cut: the end of its window plus the grace).
    cut_at: Option<i64>,
    /// Wall clock of the last record.
    last_record_ms: i64,
    /// Values that a sketch refused (never expected: values are validated).
    insert_failures: u64,
    /// Good records inserted.
    pub messages: u64,
    /// Set when the partition is revoked: later records are ignored.
    pub revoked: bool,
    /// Latest record: block id, value, arrival time, series.
    pub current: Option<(String, f64, i64, SeriesId)>,
    /// Series ids by canonical bytes.
    pub series_cache: SeriesCache,
    /// OTLP streams: cumulative baselines, recent delta points.
    pub baselines: crate::otlp::temporality::Baselines,
}

impl PartitionWindows {
    /// Windows of `partition` of topic `topic`, one sketch per kind.
    pub fn new(
        topic: TopicId,
        partition: i32,
        config: WindowConfig,
        kinds: &[SketchKind],
        params: &SketchParams,
    ) -> anyhow::Result<Self> {
        let scratch = kinds
            .iter()
            .map(|&k| Sketch::new(k, params))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            topic,
            partition,
            config,
            scratch,
            open: BTreeMap::new(),
            spare: Vec::new(),
            watermark: None,
            last_offset: None,
            through_offset: None,
            resumed_through: None,
            arrived: false,
            cut_at: None,
            last_record_ms: i64::MIN,
            insert_failures: 0,
            messages: 0,
            revoked: false,
            current: None,
            series_cache: SeriesCache::default(),
            baselines: Default::default(),
        })
    }

    /// Start of the window `t_ms` falls in.
    pub fn window_start(&self, t_ms: i64) -> i64 {
        shared::range::bucket_start(t_ms, self.config.window())
    }

    /// Whether a record with event time `event_ms` may be inserted now:
    /// `late` past the watermark minus `--max-lateness`, `future` more than
    /// a minute ahead of `now_ms`.
    pub fn check_time(&self, event_ms: i64, now_ms: i64) -> Result<(), RejectReason> {
        if event_ms > now_ms.saturating_add(MAX_FUTURE_MS) {
            return Err(RejectReason::Future);
        }
        let lateness = i64::try_from(self.config.max_lateness_ms).unwrap_or(i64::MAX);
        match self.watermark {
            Some(w) if event_ms < w.saturating_sub(lateness) => Err(RejectReason::Late),
            _ => Ok(()),
        }
    }

    /// Whether a cut is due once the watermark (or clock) is at `t`.
    fn due(&self, t: i64) -> bool {
        self.cut_at.is_some_and(|at| t >= at)
    }
    /// Inserts a good record (its time checked by [`Self::check_time`]) at
    /// `offset`; returns the cut that had to be made before it, if any.
    #[inline]
    pub fn insert(
        &mut self,
        offset: i64,
        series: SeriesId,
        value: f64,
        event_ms: i64,
        now_ms: i64,
        block_id: &str,
    ) -> Option<Cut> {
        let cut = self.advance(event_ms);
        self.open_window(offset, series, event_ms).values.push(value);
        self.note_offset(offset, now_ms);
        self.messages += 1;
        self.note_current(block_id, value, now_ms, series);
        cut
    }

    /// Moves the watermark to `event_ms` (the newest event time of the next
    /// record); returns the cut due before that record joins.
    pub fn advance(&mut self, event_ms: i64) -> Option<Cut> {
        let watermark = self.watermark.map_or(event_ms, |w| w.max(event_ms));
        // Cut before the record joins: it is then never in an early snapshot
        // of a window that is still filling.
        let cut = if self.due(watermark) { self.cut() } else { None };
        self.watermark = Some(watermark);
        if self.cut_at.is_none() {
            // The watermark's window (never a late record's: the watermark
            // already includes this record) ends, plus the grace.
            let newest = self.window_start(watermark);
            self.cut_at = Some(
                newest
                    .saturating_add(self.config.window())
                    .saturating_add(self.config.grace()),
            );
        }
        cut
    }

    /// Adds bucket counts of one OTLP point of the record at `offset`
    /// (after [`Self::advance`] for the record's newest point). No cut is
    /// made between the points of one record, so a cut never splits it.
    pub fn insert_weighted(&mut self, offset: i64, series: SeriesId, event_ms: i64, values: &[(f64, u64)]) {
        let open = self.open_window(offset, series, event_ms);
        open.weighted.extend_from_slice(values);
        self.messages += values.iter().map(|(_, n)| n).sum::<u64>();
    }

    /// Accounts for a record whose points were all inserted or refused.
    pub fn finish_record(&mut self, offset: i64, now_ms: i64) {
        self.note_offset(offset, now_ms);
    }

    fn open_window(&mut self, offset: i64, series: SeriesId, event_ms: i64) -> &mut OpenWindow {
        let start = self.window_start(event_ms);
        let spare = &mut self.spare;
        let open = self.open.entry((start, series)).or_insert_with(|| OpenWindow {
            values: spare.pop().unwrap_or_default(),
            weighted: Vec::new(),
            first_offset: offset,
            last_offset: offset,
        });
        open.first_offset = open.first_offset.min(offset);
        open.last_offset = open.last_offset.max(offset);
        open
    }

    fn note_current(&mut self, block_id: &str, value: f64, now_ms: i64, series: SeriesId) {
        match &mut self.current {
            Some((id, v, t, s)) => {
                id.clear();
                id.push_str(block_id);
                *v = value;
                *t = now_ms;
                *s = series;
            }
            None => self.current = Some((block_id.to_owned(), value, now_ms, series)),
        }
    }

    fn note_offset(&mut self, offset: i64, now_ms: i64) {
        self.last_offset = Some(self.last_offset.map_or(offset, |l| l.max(offset)));
        self.last_record_ms = now_ms;
    }

    /// Accounts for a record that was rejected (its offset still counts as
    /// processed, so the next cut covers it).
    pub fn skip(&mut self, offset: i64, now_ms: i64) {
        self.note_offset(offset, now_ms);
    }

    /// The ticker: cuts when the oldest open window is due by the wall clock
    /// and no record arrived for `--grace` (an idle partition), or when only
    /// rejected records arrived since the last cut (so commits move on).
    pub fn close_expired(&mut self, now_ms: i64) -> Option<Cut> {
        let idle = now_ms.saturating_sub(self.last_record_ms) >= self.config.grace().max(1);
        let uncovered = self.last_offset > self.through_offset;
        if (idle && self.due(now_ms)) || (self.open.is_empty() && uncovered) {
            self.cut()
        } else {
            None
        }
    }

    /// Cuts now (revocation, shutdown, or a due window): snapshots of every
    /// open window; `None` when nothing was processed since the last cut.
    pub fn cut(&mut self) -> Option<Cut> {
        let through = self.last_offset?;
        if self.through_offset == Some(through) && self.open.is_empty() {
            return None;
        }
        let t = profile::start();
        let mut windows = Vec::with_capacity(self.open.len() * self.scratch.len());
        for ((start, series), mut open) in std::mem::take(&mut self.open) {
            for s in &mut self.scratch {
                s.reset();
                let ti = profile::start();
                let weighted = open.weighted.iter().try_for_each(|&(v, n)| s.insert_n(v, n));
                if s.insert_slice(&open.values).and(weighted).is_err() {
                    self.insert_failures += 1;
                    tracing::error!(kind = %s.kind().name(), "a sketch refused validated values");
                }
                profile::record_many(Stage::Insert(s.kind()), ti, open.values.len() as u64);
                windows.push(ClosedWindow {
                    series,
                    topic: self.topic,
                    partition: self.partition,
                    window_start_ms: start,
                    window_ms: self.config.window_ms,
                    kind: s.kind(),
                    count: s.count(),
                    sketch: encoded_exactly(s),
                    first_offset: open.first_offset,
                    last_offset: open.last_offset,
                    through_offset: through,
                });
            }
            open.values.clear();
            if self.spare.len() < 1024 {
                self.spare.push(open.values);
            }
        }
        self.through_offset = Some(through);
        self.cut_at = None;
        profile::record(Stage::WindowClose, t);
        Some(Cut {
            topic: self.topic,
            partition: self.partition,
            baselines: self.baselines.take_changed(),
            through_offset: through,
            windows,
        })
    }

    /// Offset to commit once the last cut is acknowledged.
    pub fn commit_offset(&self) -> Option<i64> {
        self.through_offset.map(|t| t + 1)
    }

    /// Highest offset processed.
    pub fn last_offset(&self) -> Option<i64> {
        self.last_offset
    }

    /// Starts after `offset`: records at or below it are already in a
    /// published cut (read back from the sketch log, or counted by this
    /// process before the partition was revoked and assigned back).
    pub fn resume_after(&mut self, offset: i64) {
        self.last_offset = Some(offset);
        self.through_offset = Some(offset);
        self.resumed_through = Some(offset);
        self.arrived = false;
    }

    /// How a record at `offset` follows the records these windows took
    /// (see [`Arrival`]); called once per record, before it is inserted.
    pub fn arrive(&mut self, offset: i64) -> Arrival {
        let first = !std::mem::replace(&mut self.arrived, true);
        let Some(last) = self.last_offset else {
            return Arrival::Next { first };
        };
        if offset <= last {
            return if self.resumed_through.is_some_and(|r| offset <= r) {
                Arrival::Redelivered { first }
            } else {
                Arrival::OutOfOrder { last }
            };
        }
        match offset - last - 1 {
            0 => Arrival::Next { first },
            skipped => Arrival::AfterGap {
                after: last,
                skipped,
                first,
            },
        }
    }

    /// Whether a record at `offset` was already counted.
    pub fn already_counted(&self, offset: i64) -> bool {
        self.last_offset.is_some_and(|last| offset <= last)
    }

    /// The weighted values (OTLP buckets) of the open windows of the series
    /// `wanted` accepts.
    pub fn open_weighted(&self, wanted: &dyn Fn(SeriesId) -> bool) -> Vec<(f64, u64)> {
        self.open
            .iter()
            .filter(|((_, series), _)| wanted(*series))
            .flat_map(|(_, w)| w.weighted.iter().copied())
            .collect()
    }

    /// The values of the open windows of the series `wanted` accepts.
    pub fn open_values(&self, wanted: &dyn Fn(SeriesId) -> bool) -> Vec<f64> {
        self.open
            .iter()
            .filter(|((_, series), _)| wanted(*series))
            .flat_map(|(_, w)| w.values.iter().copied())
            .collect()
    }

    /// Values a sketch refused so far.
    pub fn insert_failures(&self) -> u64 {
        self.insert_failures
    }

    /// Kafka partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Source topic.
    pub fn topic(&self) -> TopicId {
        self.topic
    }
}

/// A sketch's bytes in an allocation of exactly their size: stored
/// snapshots live for the whole retention, and the encoder's growth
/// leaves up to half of a buffer unused.
pub fn encoded_exactly(sketch: &Sketch) -> Vec<u8> {
    let mut bytes = sketch.encode();
    bytes.shrink_to_fit();
    bytes
}

/// A window as the store keeps it: the snapshot alone, shared.
pub type StoredWindow = Arc<ClosedWindow>;

/// A published window with its WebSocket frame, encoded once and shared by
/// every subscriber. The store keeps only [`Self::window`]: the frame (a
/// second copy of the sketch bytes) lives as long as the broadcast needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedWindow {
    /// The window.
    pub window: StoredWindow,
    /// `ServerMessage::Window(window)` as frame bytes.
    pub frame: bytes::Bytes,
}

impl PublishedWindow {
    /// Encodes the frame of `window`.
    pub fn new(window: ClosedWindow) -> Self {
        let frame = shared::protocol::window_frame(&window).into();
        Self {
            window: Arc::new(window),
            frame,
        }
    }
}

impl std::ops::Deref for PublishedWindow {
    type Target = ClosedWindow;

    fn deref(&self) -> &ClosedWindow {
        &self.window
    }
}

/// A published window shared between the store and every subscriber.
pub type SharedWindow = Arc<PublishedWindow>;

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_764_072_000_000;

    fn windows(grace_ms: u64) -> PartitionWindows {
        let config = WindowConfig {
            window_ms: 1000,
            grace_ms,
            max_lateness_ms: 10_000,
        };
        PartitionWindows::new(0, 3, config, &SketchKind::ALL, &SketchParams::default()).expect("valid")
    }

    fn counts(cut: &Cut, kind: SketchKind) -> Vec<(SeriesId, i64, u64)> {
        cut.windows
            .iter()
            .filter(|w| w.kind == kind)
            .map(|w| (w.series, w.window_start_ms, w.count))
            .collect()
    }

    #[test]
    fn a_cut_covers_an_offset_prefix_whatever_the_interleaving() {
        let mut w = windows(2_000);
        let now = T0 + 5_000;
        // 100 → W1, 101 → W2, 102 → W1 (event times interleaved).
        assert!(w.insert(100, 7, 1.0, T0 + 100, now, "b").is_none());
        assert!(
            w.insert(101, 7, 2.0, T0 + 1_100, now, "b").is_none(),
            "within the grace"
        );
        assert!(w.insert(102, 7, 3.0, T0 + 200, now, "b").is_none());
        assert_eq!(w.commit_offset(), None, "nothing committed before a cut");
        // The watermark passes W1's end + grace: one cut holds both windows.
        let cut = w.insert(103, 7, 4.0, T0 + 3_000, now, "b").expect("due");
        assert_eq!(cut.through_offset, 102);
        assert_eq!(
            counts(&cut, SketchKind::QuantileFlow),
            [(7, T0, 2), (7, T0 + 1_000, 1)]
        );
        assert!(cut.windows.iter().all(|s| s.through_offset == 102));
        let w1 = cut.windows.iter().find(|s| s.window_start_ms == T0).expect("W1");
        assert_eq!((w1.first_offset, w1.last_offset), (100, 102));
        assert_eq!(w.commit_offset(), Some(103));
    }

    #[test]
    fn grace_delays_the_cut_and_late_records_land_in_a_later_snapshot() {
        let mut w = windows(2_000);
        let now = T0 + 10_000;
        w.insert(1, 1, 1.0, T0, now, "b");
        w.insert(2, 1, 1.0, T0 + 1_000, now, "b");
        w.insert(3, 1, 1.0, T0 + 2_500, now, "b");
        // Watermark at T0+3000 = W1's end + 2 s grace: W1, W2, W3 cut together.
        let cut = w.insert(4, 1, 1.0, T0 + 3_000, now, "b").expect("due");
        assert_eq!(cut.through_offset, 3);
        assert_eq!(
            counts(&cut, SketchKind::HdrHistogram),
            [(1, T0, 1), (1, T0 + 1_000, 1), (1, T0 + 2_000, 1)]
        );
        // A record for W1 within --max-lateness: a second snapshot of W1 later.
        assert_eq!(w.check_time(T0 + 10, now), Ok(()));
        w.insert(5, 1, 9.0, T0 + 10, now, "b");
        assert!(
            w.insert(6, 1, 1.0, T0 + 3_500, now, "b").is_none(),
            "a late record cuts nothing"
        );
        let cut = w.cut().expect("revocation");
        assert_eq!(
            counts(&cut, SketchKind::HdrHistogram),
            [(1, T0, 1), (1, T0 + 3_000, 2)]
        );
        assert_eq!(cut.through_offset, 6);
        // Past the lateness: late; too far ahead of the clock: future.
        assert_eq!(w.check_time(T0 + 3_000 - 10_001, now), Err(RejectReason::Late));
        assert_eq!(
            w.check_time(now + MAX_FUTURE_MS + 1, now),
            Err(RejectReason::Future)
        );
        assert_eq!(w.messages, 6);
    }

    #[test]
    fn an_idle_partition_is_cut_by_the_clock_and_rejected_records_still_commit() {
        let mut w = windows(2_000);
        let arrived = T0 + 500;
        w.insert(10, 1, 1.0, T0, arrived, "b");
        assert!(w.close_expired(T0 + 2_999).is_none(), "not due yet");
        let cut = w.close_expired(T0 + 3_000).expect("idle and due");
        assert_eq!((cut.through_offset, cut.windows.len()), (10, 4));
        w.skip(11, T0 + 3_100);
        let cut = w.close_expired(T0 + 3_200).expect("a cut over a rejected record");
        assert!(cut.windows.is_empty());
        assert_eq!(w.commit_offset(), Some(12));
        assert!(w.close_expired(T0 + 9_000).is_none(), "nothing new");
    }

    #[test]
    fn arrivals_tell_redelivery_reordering_and_gaps_apart() {
        let mut w = windows(0);
        w.resume_after(41);
        assert_eq!(w.arrive(40), Arrival::Redelivered { first: true });
        assert_eq!(w.arrive(41), Arrival::Redelivered { first: false });
        assert_eq!(w.arrive(42), Arrival::Next { first: false });
        w.insert(42, 1, 1.0, T0, T0, "b");
        assert_eq!(
            w.arrive(45),
            Arrival::AfterGap {
                after: 42,
                skipped: 2,
                first: false
            }
        );
        w.insert(45, 1, 1.0, T0, T0, "b");
        assert_eq!(w.arrive(43), Arrival::OutOfOrder { last: 45 });
        w.resume_after(50);
        assert_eq!(
            w.arrive(53),
            Arrival::AfterGap {
                after: 50,
                skipped: 2,
                first: true
            },
            "a fetch that starts past the resume point"
        );
        let mut fresh = windows(0);
        assert_eq!(
            fresh.arrive(7),
            Arrival::Next { first: true },
            "nothing known before"
        );
    }

    #[test]
    fn a_partition_assigned_back_recognises_records_it_already_counted() {
        let mut w = windows(0);
        w.resume_after(41);
        assert!(w.already_counted(40));
        assert!(w.already_counted(41));
        assert!(!w.already_counted(42));
        w.insert(42, 1, 1.0, T0, T0, "b");
        assert!(w.already_counted(42));
        assert_eq!(w.commit_offset(), Some(42), "resumed after 41");
    }

    #[test]
    fn series_are_windowed_apart() {
        let mut w = windows(0);
        w.insert(0, 1, 1.0, T0, T0, "b");
        w.insert(1, 2, 5.0, T0, T0, "b");
        w.insert(2, 2, 6.0, T0, T0, "b");
        assert_eq!(w.open_values(&|s| s == 2), [5.0, 6.0]);
        let cut = w.cut().expect("cut");
        assert_eq!(counts(&cut, SketchKind::MomentSketch), [(1, T0, 1), (2, T0, 2)]);
    }
}
