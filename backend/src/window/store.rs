//! Retained window snapshots: the fine ones (as published, for streaming
//! and exact ranges) for the last `fine_retention` (15 minutes by default),
//! plus one-minute rollups per series merged across partitions (and the
//! snapshots of a window) for the whole retention,
//! so a query over the whole retention merges at most one sketch per minute
//! and memory stays bounded for long retentions.
//!
//! Every query takes the series it covers as a predicate over
//! [`SeriesId`]s (the API resolves `metric`/`filter`/`by` against the
//! catalog), and ranges follow [`shared::range`]: half-open, windows by
//! start, series points aligned to the epoch.
//!
//! A rollup is kept decoded while its minute can still receive windows; two
//! minutes after the newest window seen, once no window reached it for a
//! while, it is *sealed*: encoded once into a
//! window of its own (partition −1, 60 s long, sent as history to
//! WebSocket clients for minutes whose fine windows are gone) and its
//! decoded sketches are dropped. A late window for a sealed minute reopens it
//! (decoded and merged), and it is sealed again once idle.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use shared::protocol::{SeriesId, TopicId};
use shared::range::{bucket_start, TimeRange};
use shared::{Sketch, SketchKind, SketchParams};

use super::{ClosedWindow, StoredWindow};

/// Length of a rollup.
pub const ROLLUP_MS: i64 = 60_000;
/// Default time fine windows are kept before only their rollups remain.
pub const DEFAULT_FINE_RETENTION_MS: u64 = 15 * 60_000;
/// A rollup is sealed once windows this much newer than its end arrived…
const SEAL_AFTER_MS: i64 = 2 * ROLLUP_MS;
/// …and no window reached it during this many additions (a view reading
/// the sketch log gets one partition's whole history before the next one's).
const SEAL_IDLE_ADDS: u64 = 512;
/// The sealing pass runs once per this many additions.
const SEAL_PASS_EVERY: u64 = 64;
/// Partition of rollup windows (all partitions merged).
pub const ALL_PARTITIONS: i32 = -1;
/// Topic of rollup windows (all source topics merged).
pub const ALL_TOPICS: TopicId = TopicId::MAX;

/// Which series a query covers.
pub type SeriesFilter<'a> = &'a dyn Fn(SeriesId) -> bool;

/// One minute of one kind, all partitions.
#[derive(Debug, Clone)]
enum Rollup {
    /// Still receiving windows.
    Open(Box<Sketch>),
    /// Encoded for good.
    Sealed(StoredWindow),
}

impl Rollup {
    /// Merges into `acc`; false (and logged) if the sketches did not merge.
    fn merge_into(&self, acc: &mut Sketch) -> bool {
        // Same kind and parameters by construction: a failure is a bug.
        let ok = match self {
            Rollup::Open(s) => acc.merge(s).is_ok(),
            Rollup::Sealed(w) => acc.merge_encoded(&w.sketch).is_ok(),
        };
        if !ok {
            tracing::error!("a rollup did not merge into a query's sketch");
        }
        ok
    }
}

/// One minute: per series, one rollup slot per kind.
type Minute = HashMap<SeriesId, Vec<Option<Rollup>>>;

/// One kind's rollups taken out of the store: sealed minutes shared, open
/// ones copied (a few recent minutes).
#[derive(Debug, Clone)]
pub struct RollupsSnapshot {
    empty: Sketch,
    parts: Vec<Rollup>,
}

impl RollupsSnapshot {
    /// All of them merged.
    pub fn merge(self) -> Sketch {
        let mut acc = self.empty;
        for part in &self.parts {
            part.merge_into(&mut acc);
        }
        acc
    }
}

/// Merges a fine window's bytes into `acc`, logging a failure.
fn merge_bytes(acc: &mut Sketch, w: &ClosedWindow) {
    if acc.merge_encoded(&w.sketch).is_err() {
        tracing::error!(
            kind = w.kind.name(),
            start = w.window_start_ms,
            "a stored window did not merge into a query's sketch"
        );
    }
}

/// Closed windows kept for `retention_ms`.
#[derive(Debug)]
pub struct WindowStore {
    kinds: Vec<SketchKind>,
    params: SketchParams,
    retention_ms: i64,
    fine_retention_ms: i64,
    fine: VecDeque<StoredWindow>,
    rollups: BTreeMap<i64, Minute>,
    /// Start of the newest window added.
    newest_start: i64,
    /// Minutes before this have no fine windows any more (rollups only).
    fine_cutoff: i64,
    /// Windows added so far (the store's clock for idleness).
    adds: u64,
    /// Per minute, the value of `adds` when a window last reached it.
    touched: BTreeMap<i64, u64>,
    /// Windows that could not be decoded or merged (never expected).
    pub merge_failures: u64,
}

fn sealed(series: SeriesId, kind: SketchKind, minute: i64, sketch: &Sketch) -> StoredWindow {
    Arc::new(ClosedWindow {
        series,
        topic: ALL_TOPICS,
        partition: ALL_PARTITIONS,
        window_start_ms: minute,
        window_ms: ROLLUP_MS as u64,
        kind,
        count: sketch.count(),
        sketch: sketch.encode(),
        first_offset: -1,
        last_offset: -1,
        through_offset: -1,
    })
}

impl WindowStore {
    /// An empty store for `kinds`, keeping windows for `retention_ms` (fine
    /// windows for the default 15 minutes).
    pub fn new(kinds: &[SketchKind], params: SketchParams, retention_ms: u64) -> Self {
        Self::with_fine_retention(kinds, params, retention_ms, DEFAULT_FINE_RETENTION_MS)
    }

    /// Same, keeping fine windows for `fine_retention_ms`.
    pub fn with_fine_retention(
        kinds: &[SketchKind],
        params: SketchParams,
        retention_ms: u64,
        fine_retention_ms: u64,
    ) -> Self {
        Self {
            kinds: kinds.to_vec(),
            params,
            retention_ms: i64::try_from(retention_ms).unwrap_or(i64::MAX),
            fine_retention_ms: i64::try_from(fine_retention_ms).unwrap_or(i64::MAX),
            fine: VecDeque::new(),
            rollups: BTreeMap::new(),
            newest_start: i64::MIN,
            fine_cutoff: i64::MIN,
            adds: 0,
            touched: BTreeMap::new(),
            merge_failures: 0,
        }
    }

    /// Adds a closed window and drops what fell out of the retention.
    pub fn add(&mut self, window: StoredWindow, now_ms: i64) {
        let minute = window.window_start_ms - window.window_start_ms.rem_euclid(ROLLUP_MS);
        if let Some(slot) = self.kinds.iter().position(|&k| k == window.kind) {
            let n = self.kinds.len();
            let rollup = self
                .rollups
                .entry(minute)
                .or_default()
                .entry(window.series)
                .or_insert_with(|| vec![None; n]);
            // The window's bytes are merged straight into the rollup.
            let merged = match &mut rollup[slot] {
                Some(Rollup::Open(acc)) => acc.merge_encoded(&window.sketch).is_ok(),
                Some(Rollup::Sealed(done)) => {
                    // A late window: reopen (sealed again once idle).
                    let reopened = Sketch::decode_kind(window.kind, &done.sketch)
                        .ok()
                        .and_then(|mut acc| acc.merge_encoded(&window.sketch).is_ok().then_some(acc));
                    match reopened {
                        Some(acc) => {
                            rollup[slot] = Some(Rollup::Open(Box::new(acc)));
                            true
                        }
                        None => false,
                    }
                }
                empty => match Sketch::decode_kind(window.kind, &window.sketch) {
                    Ok(sketch) => {
                        *empty = Some(Rollup::Open(Box::new(sketch)));
                        true
                    }
                    Err(_) => false,
                },
            };
            if !merged {
                self.merge_failures += 1;
                tracing::error!(
                    kind = window.kind.name(),
                    start = window.window_start_ms,
                    "a window could not be merged into its rollup"
                );
            }
        }
        self.adds += 1;
        self.touched.insert(minute, self.adds);
        self.newest_start = self.newest_start.max(window.window_start_ms);
        if window.window_start_ms >= self.fine_cutoff {
            self.fine.push_back(window);
        }
        self.evict(now_ms);
    }

    /// Drops windows older than the retention, fine windows older than the
    /// fine retention (whole minutes), and seals rollups nothing will reach.
    pub fn evict(&mut self, now_ms: i64) {
        let horizon = now_ms.saturating_sub(self.retention_ms);
        let fine_horizon = now_ms.saturating_sub(self.fine_retention_ms);
        self.fine_cutoff = self
            .fine_cutoff
            .max(fine_horizon - fine_horizon.rem_euclid(ROLLUP_MS));
        let cutoff = self.fine_cutoff;
        while self.fine.front().is_some_and(|w| {
            w.window_start_ms + (w.window_ms as i64) <= horizon || w.window_start_ms < cutoff
        }) {
            self.fine.pop_front();
        }
        while self
            .rollups
            .first_key_value()
            .is_some_and(|(&start, _)| start + ROLLUP_MS <= horizon)
        {
            if let Some((minute, _)) = self.rollups.pop_first() {
                self.touched.remove(&minute);
            }
        }
        if self.adds.is_multiple_of(SEAL_PASS_EVERY) {
            self.seal_idle();
        }
    }

    /// Seals the open rollups of minutes well behind the newest window that
    /// no window reached for a while.
    fn seal_idle(&mut self) {
        let seal_before = self.newest_start.saturating_sub(ROLLUP_MS + SEAL_AFTER_MS);
        for (&minute, series) in self.rollups.range_mut(..seal_before) {
            let last = self.touched.get(&minute).copied().unwrap_or(0);
            if self.adds - last < SEAL_IDLE_ADDS {
                continue;
            }
            for (&id, rollup) in series.iter_mut() {
                for (slot, r) in rollup.iter_mut().enumerate() {
                    if let Some(Rollup::Open(acc)) = r {
                        *r = Some(Rollup::Sealed(sealed(id, self.kinds[slot], minute, acc)));
                    }
                }
            }
        }
    }

    /// The rollups of `slot` in `minute` of the series `wanted` accepts.
    fn rollups_in<'a>(
        &'a self,
        minute: i64,
        slot: usize,
        wanted: SeriesFilter<'a>,
    ) -> impl Iterator<Item = &'a Rollup> + 'a {
        self.rollups
            .get(&minute)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(move |(&id, _)| wanted(id))
            .filter_map(move |(_, r)| r.get(slot).and_then(Option::as_ref))
    }

    fn slot(&self, kind: SketchKind) -> Option<usize> {
        self.kinds.iter().position(|&k| k == kind)
    }

    /// Every rollup of `kind` of the series `wanted` accepts, detached from
    /// the store so the merging can happen after the store's (and the
    /// partitions') locks are released.
    pub fn rollups_snapshot(&self, kind: SketchKind, wanted: SeriesFilter<'_>) -> Option<RollupsSnapshot> {
        let slot = self.slot(kind)?;
        Some(RollupsSnapshot {
            empty: Sketch::new(kind, &self.params).ok()?,
            parts: self
                .rollups
                .keys()
                .flat_map(|&m| self.rollups_in(m, slot, wanted).cloned().collect::<Vec<_>>())
                .collect(),
        })
    }

    /// Every retained window of `kind` of the series `wanted` accepts, merged.
    pub fn merged_all(&self, kind: SketchKind, wanted: SeriesFilter<'_>) -> Option<Sketch> {
        Some(self.rollups_snapshot(kind, wanted)?.merge())
    }

    /// Windows of `kind` of the series `wanted` accepts starting in `range`,
    /// merged. Minutes older than the fine retention count whole when they
    /// start in the range.
    pub fn merged_range(
        &self,
        kind: SketchKind,
        range: TimeRange,
        wanted: SeriesFilter<'_>,
    ) -> Option<Sketch> {
        let slot = self.slot(kind)?;
        let mut acc = Sketch::new(kind, &self.params).ok()?;
        let mut partial = Vec::new();
        for &start in self.rollups.range(..range.to).map(|(s, _)| s) {
            let whole = range.covers(start, ROLLUP_MS);
            let rollup_only = start < self.fine_cutoff && range.contains(start);
            if whole || rollup_only {
                for r in self.rollups_in(start, slot, wanted) {
                    r.merge_into(&mut acc);
                }
            } else if range.overlaps(start, ROLLUP_MS) {
                partial.push(start);
            }
        }
        for w in &self.fine {
            let minute = bucket_start(w.window_start_ms, ROLLUP_MS);
            if w.kind == kind
                && range.contains(w.window_start_ms)
                && partial.contains(&minute)
                && wanted(w.series)
            {
                merge_bytes(&mut acc, w);
            }
        }
        Some(acc)
    }

    /// Windows of `kind` of the series `wanted` accepts in `range`, merged
    /// per `step_ms` bucket (aligned to the epoch, see [`shared::range`]):
    /// `(bucket start, sketch)` for every bucket that holds values (minutes
    /// older than the fine retention contribute their rollups).
    pub fn series(
        &self,
        kind: SketchKind,
        range: TimeRange,
        step_ms: i64,
        wanted: SeriesFilter<'_>,
    ) -> Vec<(i64, Sketch)> {
        let Some(slot) = self.slot(kind) else {
            return Vec::new();
        };
        let Ok(empty) = Sketch::new(kind, &self.params) else {
            return Vec::new();
        };
        let mut buckets: BTreeMap<i64, Sketch> = BTreeMap::new();
        let old_end = self.fine_cutoff.min(range.to);
        for &minute in self
            .rollups
            .range(range.from..old_end.max(range.from))
            .map(|(m, _)| m)
        {
            let acc = buckets
                .entry(bucket_start(minute, step_ms))
                .or_insert_with(|| empty.clone());
            for r in self.rollups_in(minute, slot, wanted) {
                r.merge_into(acc);
            }
        }
        for w in self
            .fine
            .iter()
            .filter(|w| w.kind == kind && range.contains(w.window_start_ms) && wanted(w.series))
        {
            let acc = buckets
                .entry(bucket_start(w.window_start_ms, step_ms))
                .or_insert_with(|| empty.clone());
            merge_bytes(acc, w);
        }
        buckets.into_iter().filter(|(_, s)| !s.is_empty()).collect()
    }

    /// The history from `from_ms` of the series `wanted` accepts, oldest
    /// first: rollup windows (partition −1, 60 s) for minutes whose fine
    /// windows are gone, then the fine windows.
    pub fn windows_since(&self, from_ms: i64, wanted: SeriesFilter<'_>) -> Vec<StoredWindow> {
        let mut out = Vec::new();
        for (&minute, series) in self.rollups.range(from_ms..) {
            if minute >= self.fine_cutoff {
                break;
            }
            let mut ids: Vec<&SeriesId> = series.keys().filter(|&&id| wanted(id)).collect();
            ids.sort_unstable();
            for id in ids {
                for (slot, r) in series[id].iter().enumerate() {
                    match r {
                        Some(Rollup::Sealed(w)) => out.push(w.clone()),
                        Some(Rollup::Open(s)) => out.push(sealed(*id, self.kinds[slot], minute, s)),
                        None => {}
                    }
                }
            }
        }
        out.extend(
            self.fine
                .iter()
                .filter(|w| w.window_start_ms >= from_ms && wanted(w.series))
                .cloned(),
        );
        out
    }

    /// Values per series over the whole retention (default kind's counts),
    /// for `/api/metrics` and group ordering.
    pub fn counts_by_series(&self, kind: SketchKind) -> HashMap<SeriesId, u64> {
        let mut out = HashMap::new();
        let Some(slot) = self.slot(kind) else {
            return out;
        };
        for minute in self.rollups.values() {
            for (&id, r) in minute {
                let n = match r.get(slot).and_then(Option::as_ref) {
                    Some(Rollup::Open(s)) => s.count(),
                    Some(Rollup::Sealed(w)) => w.count,
                    None => 0,
                };
                *out.entry(id).or_insert(0) += n;
            }
        }
        out
    }

    /// Number of retained fine windows.
    pub fn len(&self) -> usize {
        self.fine.len()
    }

    /// Whether nothing is retained.
    pub fn is_empty(&self) -> bool {
        self.fine.is_empty() && self.rollups.is_empty()
    }

    /// Minutes with a rollup.
    pub fn rollup_minutes(&self) -> usize {
        self.rollups.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::window::ClosedWindow;

    const ALL: SeriesFilter<'static> = &|_| true;

    fn window(partition: i32, start: i64, values: &[f64]) -> StoredWindow {
        series_window(0, partition, start, values)
    }

    fn series_window(series: SeriesId, partition: i32, start: i64, values: &[f64]) -> StoredWindow {
        let mut s = Sketch::with_defaults(SketchKind::QuantileFlow);
        s.insert_slice(values).expect("valid");
        Arc::new(ClosedWindow {
            series,
            topic: 0,
            partition,
            window_start_ms: start,
            window_ms: 1000,
            kind: SketchKind::QuantileFlow,
            sketch: s.encode(),
            count: s.count(),
            first_offset: 0,
            last_offset: 0,
            through_offset: 0,
        })
    }

    #[test]
    fn ranges_merge_rollups_and_edge_windows_and_retention_evicts() {
        // Fine windows for the whole retention here.
        let mut store = WindowStore::with_fine_retention(
            &[SketchKind::QuantileFlow],
            SketchParams::default(),
            3_600_000,
            3_600_000,
        );
        let now = 10 * ROLLUP_MS;
        for i in 0..180 {
            store.add(
                window(i % 2, 7 * ROLLUP_MS + i64::from(i) * 1000, &[f64::from(i + 1)]),
                now,
            );
        }
        let all = store
            .merged_all(SketchKind::QuantileFlow, ALL)
            .expect("kind kept");
        assert_eq!(all.count(), 180);
        let range = store
            .merged_range(
                SketchKind::QuantileFlow,
                TimeRange::new(7 * ROLLUP_MS + 30_000, 9 * ROLLUP_MS + 10_000),
                ALL,
            )
            .expect("kind kept");
        assert_eq!(
            range.count(),
            100,
            "30 s of the first minute, all of the second, 10 s of the third"
        );
        store.evict(now + 3_600_000 - 2 * ROLLUP_MS);
        assert_eq!(
            store.merged_all(SketchKind::QuantileFlow, ALL).map(|s| s.count()),
            Some(120)
        );
        assert_eq!(store.len(), 120);
    }

    #[test]
    fn old_minutes_keep_only_sealed_rollups_that_answer_the_same() {
        // Fine windows for 2 minutes; 10 minutes of data, 2 partitions.
        let mut store = WindowStore::with_fine_retention(
            &[SketchKind::QuantileFlow],
            SketchParams::default(),
            3_600_000,
            120_000,
        );
        let now = 10 * ROLLUP_MS;
        let mut all = Sketch::with_defaults(SketchKind::QuantileFlow);
        for i in 0..600i64 {
            for p in 0..2 {
                let v = [(i * 2 + i64::from(p) + 1) as f64];
                all.insert_slice(&v).expect("valid");
                store.add(window(p, i * 1000, &v), now);
            }
        }
        assert_eq!(
            store.len(),
            2 * 120 * 2 / 2,
            "fine windows of the last 2 minutes only"
        );
        assert_eq!(store.rollup_minutes(), 10);
        let merged = store
            .merged_all(SketchKind::QuantileFlow, ALL)
            .expect("kind kept");
        assert_eq!(merged.count(), 1200);
        assert_eq!(merged.quantile(0.5).ok(), all.quantile(0.5).ok());
        // History: one sealed rollup per old minute, then the fine windows.
        let history = store.windows_since(i64::MIN, ALL);
        let rollups: Vec<_> = history.iter().filter(|w| w.partition == ALL_PARTITIONS).collect();
        assert_eq!(rollups.len(), 8);
        assert!(rollups.iter().all(|w| w.window_ms == 60_000 && w.count == 120));
        assert_eq!(history.len(), 8 + 240);
        let total: u64 = history.iter().map(|w| w.count).sum();
        assert_eq!(total, 1200, "every value once in the history");
        // Old ranges answer at minute resolution, from the rollups.
        let old = store
            .merged_range(SketchKind::QuantileFlow, TimeRange::new(60_000, 180_000), ALL)
            .expect("kind kept");
        assert_eq!(old.count(), 240);
        let series = store.series(SketchKind::QuantileFlow, TimeRange::new(0, now), 60_000, ALL);
        assert_eq!(series.len(), 10);
        assert!(series.iter().all(|(_, s)| s.count() == 120));
        // A late window for a sealed minute is merged in.
        store.add(window(0, 5_000, &[1e6]), now);
        assert_eq!(
            store.merged_all(SketchKind::QuantileFlow, ALL).map(|s| s.count()),
            Some(1201)
        );
    }

    #[test]
    fn queries_cover_only_the_series_asked_for_and_buckets_align_to_the_epoch() {
        let mut store = WindowStore::new(&[SketchKind::QuantileFlow], SketchParams::default(), 3_600_000);
        let now = 10 * ROLLUP_MS;
        for i in 0..120i64 {
            store.add(series_window(1, 0, i * 1000, &[1.0]), now);
            store.add(series_window(2, 0, i * 1000, &[2.0, 2.0]), now);
        }
        let only_two: SeriesFilter<'_> = &|id| id == 2;
        let all = store.merged_all(SketchKind::QuantileFlow, ALL).map(|s| s.count());
        assert_eq!(all, Some(360));
        let two = store
            .merged_all(SketchKind::QuantileFlow, only_two)
            .map(|s| s.count());
        assert_eq!(two, Some(240));
        let range = TimeRange::new(1_500, 10_000);
        let got = store
            .merged_range(SketchKind::QuantileFlow, range, only_two)
            .map(|s| s.count());
        assert_eq!(got, Some(2 * 8), "windows starting at 2 s … 9 s");
        // Points at multiples of the step, whatever `from` is.
        let points = store.series(SketchKind::QuantileFlow, range, 5_000, only_two);
        let starts: Vec<(i64, u64)> = points.iter().map(|(t, s)| (*t, s.count())).collect();
        assert_eq!(starts, [(0, 2 * 3), (5_000, 2 * 5)]);
        assert_eq!(
            store.counts_by_series(SketchKind::QuantileFlow).get(&1),
            Some(&120)
        );
        let history = store.windows_since(i64::MIN, only_two);
        assert!(history.iter().all(|w| w.series == 2) && history.len() == 120);
    }

    #[test]
    fn buckets_follow_the_shared_range_convention_like_the_browser() {
        // The same vectors the browser's store is tested with.
        let cases: serde_json::Value =
            serde_json::from_str(include_str!("../../../shared/tests/fixtures/range_cases.json"))
                .expect("fixture");
        let mut store = WindowStore::new(&[SketchKind::QuantileFlow], SketchParams::default(), 3_600_000);
        for start in cases["windows_ms"].as_array().expect("windows") {
            store.add(window(0, start.as_i64().expect("ms"), &[1.0]), 60_000);
        }
        for case in cases["cases"].as_array().expect("cases") {
            let n = |k: &str| case[k].as_i64().expect("number");
            let range = TimeRange::new(n("from"), n("to"));
            let got: Vec<(i64, i64)> = store
                .series(SketchKind::QuantileFlow, range, n("step"), ALL)
                .into_iter()
                .map(|(t, s)| (t, s.count() as i64))
                .collect();
            let want: Vec<(i64, i64)> = case["points"]
                .as_array()
                .expect("points")
                .iter()
                .map(|p| (p[0].as_i64().expect("t"), p[1].as_i64().expect("count")))
                .collect();
            assert_eq!(got, want, "{case}");
        }
    }
}
