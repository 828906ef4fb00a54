//! Retained window snapshots in three tiers, so memory follows the data a
//! series has and a query over any range is a bounded number of merges:
//!
//! | tier | length | kept for | what for |
//! |---|---|---|---|
//! | fine | the window (1 s) | `fine_retention` (3 min by default) | streaming, exact recent ranges |
//! | mid | 10 s | `mid_retention` (15 min by default) | the default 15-minute chart |
//! | minute | 60 s | the whole retention | long ranges, whole-retention merges |
//!
//! Fine windows are kept as published (per partition); each rollup merges
//! every partition (and every snapshot of a window) of one series and kind.
//! The tiers hand over at minute boundaries: a minute is answered from the
//! fine windows while they are kept, then from its six 10 s rollups, then
//! from its minute rollup alone ([`Resolution`]).
//!
//! A rollup is kept *encoded*, never as a decoded sketch (a decoded HDR
//! histogram is ~120 KB whatever it holds): the windows that reached it
//! since it was last folded are kept as they are (shared with the fine
//! tier), and are folded — decoded, merged and encoded once — when
//! [`FOLD_AT`] of them are pending or when the rollup has been idle a while.
//! A late window for a folded rollup is simply pending again.
//!
//! Every query takes the series it covers as a predicate over
//! [`SeriesId`]s (the API resolves `metric`/`filter`/`by` against the
//! catalog), and ranges follow [`shared::range`]: half-open, windows by
//! start, series points aligned to the epoch.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use shared::protocol::{SeriesId, TopicId};
use shared::range::{bucket_start, TimeRange};
use shared::{Sketch, SketchKind, SketchParams};

use super::{ClosedWindow, StoredWindow};

/// Length of a minute rollup.
pub const ROLLUP_MS: i64 = 60_000;
/// Length of a mid-tier rollup.
pub const MID_MS: i64 = 10_000;
/// Default time fine windows are kept before only rollups answer.
pub const DEFAULT_FINE_RETENTION_MS: u64 = 3 * 60_000;
/// Default time 10 s rollups are kept before only minute rollups answer.
pub const DEFAULT_MID_RETENTION_MS: u64 = 15 * 60_000;
/// Pending windows of a rollup that make it fold.
pub const FOLD_AT: usize = 16;
/// A rollup is folded once windows this many of its lengths newer arrived…
const SEAL_AFTER_LENGTHS: i64 = 2;
/// …and no window reached its bucket during this many additions (a view
/// reading the sketch log gets one partition's whole history before the
/// next one's).
const SEAL_IDLE_ADDS: u64 = 512;
/// The sealing pass runs once per this many additions.
const SEAL_PASS_EVERY: u64 = 64;
/// Partition of rollup windows (all partitions merged).
pub const ALL_PARTITIONS: i32 = -1;
/// Topic of rollup windows (all source topics merged).
pub const ALL_TOPICS: TopicId = TopicId::MAX;

/// Which series a query covers.
pub type SeriesFilter<'a> = &'a dyn Fn(SeriesId) -> bool;

/// Which tier answers for a minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolution {
    Fine,
    Mid,
    Minute,
}

/// What a rollup is: where it is, of what.
#[derive(Debug, Clone, Copy)]
struct RollupId {
    series: SeriesId,
    kind: SketchKind,
    start: i64,
    len_ms: i64,
}

/// One bucket of one series and kind, all partitions: a folded part and
/// the windows that reached it since.
#[derive(Debug, Clone, Default)]
struct Rollup {
    folded: Option<StoredWindow>,
    pending: Vec<StoredWindow>,
}

impl Rollup {
    /// Every encoded part.
    fn parts(&self) -> impl Iterator<Item = &StoredWindow> {
        self.folded.iter().chain(&self.pending)
    }

    fn count(&self) -> u64 {
        self.parts().map(|w| w.count).sum()
    }

    fn is_empty(&self) -> bool {
        self.folded.is_none() && self.pending.is_empty()
    }

    /// Merges every part into `acc`; the parts that did not merge (logged).
    fn merge_into(&self, acc: &mut Sketch) -> u64 {
        self.parts().map(|w| u64::from(!merge_bytes(acc, w))).sum()
    }

    /// The parts merged into one window (the folded part itself when
    /// nothing is pending); with the parts that did not merge.
    fn merged(&self, id: RollupId, params: &SketchParams) -> (Option<StoredWindow>, u64) {
        if self.pending.is_empty() {
            return (self.folded.clone(), 0);
        }
        let Ok(mut acc) = Sketch::new(id.kind, params) else {
            tracing::error!(kind = id.kind.name(), "no empty sketch for a rollup");
            return (None, self.pending.len() as u64 + u64::from(self.folded.is_some()));
        };
        let failed = self.merge_into(&mut acc);
        (Some(rollup_window(id, &acc)), failed)
    }

    /// Folds the pending windows into the folded part; the parts that did
    /// not merge (dropped, logged).
    fn fold(&mut self, id: RollupId, params: &SketchParams) -> u64 {
        if self.pending.is_empty() {
            return 0;
        }
        let (window, failed) = self.merged(id, params);
        if let Some(w) = window {
            self.folded = Some(w);
            // Freed, not cleared: most rollups get no window after folding.
            self.pending = Vec::new();
        }
        failed
    }
}

/// Merges a window's bytes into `acc`; false (and logged) if they did not
/// merge (same kind and parameters by construction: a failure is a bug or
/// a corrupt snapshot).
fn merge_bytes(acc: &mut Sketch, w: &ClosedWindow) -> bool {
    let ok = acc.merge_encoded(&w.sketch).is_ok();
    if !ok {
        tracing::error!(
            kind = w.kind.name(),
            start = w.window_start_ms,
            "a stored window did not merge into a query's sketch"
        );
    }
    ok
}

fn rollup_window(id: RollupId, sketch: &Sketch) -> StoredWindow {
    Arc::new(ClosedWindow {
        series: id.series,
        topic: ALL_TOPICS,
        partition: ALL_PARTITIONS,
        window_start_ms: id.start,
        window_ms: id.len_ms as u64,
        kind: id.kind,
        count: sketch.count(),
        sketch: super::encoded_exactly(sketch),
        first_offset: -1,
        last_offset: -1,
        through_offset: -1,
    })
}

/// One bucket of a tier: per series, one rollup per kind slot.
type Bucket = HashMap<SeriesId, Vec<Rollup>>;

/// Rollups of one length.
#[derive(Debug)]
struct Tier {
    len_ms: i64,
    buckets: BTreeMap<i64, Bucket>,
    /// Buckets that may hold pending windows, with the store's `adds` when
    /// a window last reached them (folded buckets leave it, so the idle
    /// pass visits only what changed).
    touched: BTreeMap<i64, u64>,
}

impl Tier {
    fn new(len_ms: i64) -> Self {
        Self {
            len_ms,
            buckets: BTreeMap::new(),
            touched: BTreeMap::new(),
        }
    }

    /// Adds `window` to its bucket's pending windows; folds when enough
    /// are pending. Returns the parts that did not merge.
    fn add(
        &mut self,
        window: &StoredWindow,
        slot: usize,
        kinds: usize,
        adds: u64,
        params: &SketchParams,
    ) -> u64 {
        let start = bucket_start(window.window_start_ms, self.len_ms);
        self.touched.insert(start, adds);
        let rollups = self
            .buckets
            .entry(start)
            .or_default()
            .entry(window.series)
            .or_insert_with(|| vec![Rollup::default(); kinds]);
        let rollup = &mut rollups[slot];
        rollup.pending.push(window.clone());
        if rollup.pending.len() < FOLD_AT {
            return 0;
        }
        let id = RollupId {
            series: window.series,
            kind: window.kind,
            start,
            len_ms: self.len_ms,
        };
        rollup.fold(id, params)
    }

    /// Drops the buckets before `cutoff`.
    fn evict_before(&mut self, cutoff: i64) {
        while let Some((&start, _)) = self.buckets.first_key_value() {
            if start >= cutoff {
                break;
            }
            self.buckets.pop_first();
            self.touched.remove(&start);
        }
    }

    /// Folds the rollups of buckets well behind `newest` that no window
    /// reached for a while. Returns the parts that did not merge.
    fn fold_idle(&mut self, newest: i64, adds: u64, kinds: &[SketchKind], params: &SketchParams) -> u64 {
        let before = newest.saturating_sub((1 + SEAL_AFTER_LENGTHS) * self.len_ms);
        let idle: Vec<i64> = self
            .touched
            .range(..before)
            .filter(|&(_, &last)| adds - last >= SEAL_IDLE_ADDS)
            .map(|(&start, _)| start)
            .collect();
        let mut failed = 0;
        for start in idle {
            self.touched.remove(&start);
            let Some(bucket) = self.buckets.get_mut(&start) else {
                continue;
            };
            for (&series, rollups) in bucket.iter_mut() {
                for (slot, r) in rollups.iter_mut().enumerate() {
                    let id = RollupId {
                        series,
                        kind: kinds[slot],
                        start,
                        len_ms: self.len_ms,
                    };
                    failed += r.fold(id, params);
                }
            }
        }
        failed
    }

    /// The rollups of `slot` in the bucket at `start`, of the series `wanted` accepts.
    fn rollups_at<'a>(
        &'a self,
        start: i64,
        slot: usize,
        wanted: SeriesFilter<'a>,
    ) -> impl Iterator<Item = &'a Rollup> + 'a {
        self.buckets
            .get(&start)
            .into_iter()
            .flat_map(|b| b.iter())
            .filter(move |(&id, _)| wanted(id))
            .filter_map(move |(_, r)| r.get(slot))
            .filter(|r| !r.is_empty())
    }

    /// Bucket starts in `[from, to)`.
    fn starts_in(&self, from: i64, to: i64) -> impl Iterator<Item = i64> + '_ {
        self.buckets.range(from..to.max(from)).map(|(&s, _)| s)
    }
}

/// One kind's rollups taken out of the store (shared bytes, no copies).
#[derive(Debug, Clone)]
pub struct RollupsSnapshot {
    empty: Sketch,
    parts: Vec<StoredWindow>,
}

impl RollupsSnapshot {
    /// All of them merged (a part that does not merge is logged).
    pub fn merge(self) -> Sketch {
        let mut acc = self.empty;
        for part in &self.parts {
            merge_bytes(&mut acc, part);
        }
        acc
    }
}

/// Closed windows kept for `retention_ms`, in tiers.
#[derive(Debug)]
pub struct WindowStore {
    kinds: Vec<SketchKind>,
    params: SketchParams,
    retention_ms: i64,
    fine_retention_ms: i64,
    mid_retention_ms: i64,
    fine: VecDeque<StoredWindow>,
    mid: Tier,
    minutes: Tier,
    /// Start of the newest window added.
    newest_start: i64,
    /// Minutes before this have no fine windows any more.
    fine_cutoff: i64,
    /// Minutes before this have no 10 s rollups any more.
    mid_cutoff: i64,
    /// Windows added so far (the store's clock for idleness).
    adds: u64,
    /// Windows that could not be decoded or merged (never expected).
    merge_failures: u64,
}

/// What one tier holds: units (windows or rollup parts) and their bytes.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct TierUse {
    /// Windows or rollup parts held (a pending window shared with the fine
    /// tier counts in both).
    pub units: u64,
    /// Their encoded sketch bytes.
    pub sketch_bytes: u64,
}

impl TierUse {
    fn add(&mut self, w: &ClosedWindow) {
        self.units += 1;
        self.sketch_bytes += w.sketch.len() as u64;
    }
}

/// What each tier holds (`mss bench series`).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Footprint {
    /// Fine windows.
    pub fine: TierUse,
    /// 10 s rollups.
    pub mid: TierUse,
    /// Minute rollups.
    pub minutes: TierUse,
}

/// `t` rounded down to a minute.
fn minute_of(t: i64) -> i64 {
    bucket_start(t, ROLLUP_MS)
}

impl WindowStore {
    /// An empty store for `kinds`, keeping windows for `retention_ms` (the
    /// finer tiers for their defaults).
    pub fn new(kinds: &[SketchKind], params: SketchParams, retention_ms: u64) -> Self {
        Self::with_tiers(
            kinds,
            params,
            retention_ms,
            DEFAULT_FINE_RETENTION_MS,
            DEFAULT_MID_RETENTION_MS,
        )
    }

    /// Same, keeping fine windows for `fine_retention_ms` and 10 s rollups
    /// for `mid_retention_ms` (at least as long as the fine windows).
    pub fn with_tiers(
        kinds: &[SketchKind],
        params: SketchParams,
        retention_ms: u64,
        fine_retention_ms: u64,
        mid_retention_ms: u64,
    ) -> Self {
        let ms = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        Self {
            kinds: kinds.to_vec(),
            params,
            retention_ms: ms(retention_ms),
            fine_retention_ms: ms(fine_retention_ms),
            mid_retention_ms: ms(mid_retention_ms.max(fine_retention_ms)),
            fine: VecDeque::new(),
            mid: Tier::new(MID_MS),
            minutes: Tier::new(ROLLUP_MS),
            newest_start: i64::MIN,
            fine_cutoff: i64::MIN,
            mid_cutoff: i64::MIN,
            adds: 0,
            merge_failures: 0,
        }
    }

    /// Windows that could not be decoded or merged (each logged).
    pub fn merge_failures(&self) -> u64 {
        self.merge_failures
    }

    fn resolution(&self, minute: i64) -> Resolution {
        if minute >= self.fine_cutoff {
            Resolution::Fine
        } else if minute >= self.mid_cutoff {
            Resolution::Mid
        } else {
            Resolution::Minute
        }
    }

    fn failed(&mut self, n: u64) {
        self.merge_failures += n;
    }

    /// Adds a closed window and drops what fell out of the retention.
    pub fn add(&mut self, window: StoredWindow, now_ms: i64) {
        self.adds += 1;
        if let Some(slot) = self.slot(window.kind) {
            let (n, adds) = (self.kinds.len(), self.adds);
            let mut failed = self.minutes.add(&window, slot, n, adds, &self.params);
            if minute_of(window.window_start_ms) >= self.mid_cutoff {
                failed += self.mid.add(&window, slot, n, adds, &self.params);
            }
            self.failed(failed);
        }
        self.newest_start = self.newest_start.max(window.window_start_ms);
        if window.window_start_ms >= self.fine_cutoff {
            self.fine.push_back(window);
        }
        self.evict(now_ms);
    }

    /// Drops what is older than each tier keeps, and folds rollups nothing
    /// will reach.
    pub fn evict(&mut self, now_ms: i64) {
        let horizon = now_ms.saturating_sub(self.retention_ms);
        self.fine_cutoff = self
            .fine_cutoff
            .max(minute_of(now_ms.saturating_sub(self.fine_retention_ms)));
        self.mid_cutoff = self
            .mid_cutoff
            .max(minute_of(now_ms.saturating_sub(self.mid_retention_ms)));
        let cutoff = self.fine_cutoff;
        while self.fine.front().is_some_and(|w| {
            w.window_start_ms + (w.window_ms as i64) <= horizon || w.window_start_ms < cutoff
        }) {
            self.fine.pop_front();
        }
        self.mid.evict_before(
            self.mid_cutoff
                .max(horizon.saturating_sub(MID_MS).saturating_add(1)),
        );
        // A minute goes once its end is past the horizon.
        self.minutes
            .evict_before(horizon.saturating_sub(ROLLUP_MS).saturating_add(1));
        if self.adds.is_multiple_of(SEAL_PASS_EVERY) {
            let (newest, adds) = (self.newest_start, self.adds);
            let failed = self.mid.fold_idle(newest, adds, &self.kinds, &self.params)
                + self.minutes.fold_idle(newest, adds, &self.kinds, &self.params);
            self.failed(failed);
        }
    }

    fn slot(&self, kind: SketchKind) -> Option<usize> {
        self.kinds.iter().position(|&k| k == kind)
    }

    /// Every rollup of `kind` of the series `wanted` accepts, detached from
    /// the store so the merging can happen after the store's (and the
    /// partitions') locks are released.
    pub fn rollups_snapshot(&self, kind: SketchKind, wanted: SeriesFilter<'_>) -> Option<RollupsSnapshot> {
        let slot = self.slot(kind)?;
        let parts = self
            .minutes
            .buckets
            .keys()
            .flat_map(|&m| self.minutes.rollups_at(m, slot, wanted))
            .flat_map(|r| r.parts().cloned())
            .collect();
        Some(RollupsSnapshot {
            empty: Sketch::new(kind, &self.params).ok()?,
            parts,
        })
    }

    /// Every retained window of `kind` of the series `wanted` accepts, merged.
    pub fn merged_all(&self, kind: SketchKind, wanted: SeriesFilter<'_>) -> Option<Sketch> {
        Some(self.rollups_snapshot(kind, wanted)?.merge())
    }

    /// Windows of `kind` of the series `wanted` accepts starting in `range`,
    /// merged. A minute the range covers whole is its minute rollup; in a
    /// minute it cuts, the units of the minute's [`Resolution`] that start
    /// in the range count whole (1 s windows, 10 s or 60 s rollups).
    pub fn merged_range(
        &self,
        kind: SketchKind,
        range: TimeRange,
        wanted: SeriesFilter<'_>,
    ) -> Option<Sketch> {
        let slot = self.slot(kind)?;
        let mut acc = Sketch::new(kind, &self.params).ok()?;
        let mut fine_minutes = Vec::new();
        for minute in self.minutes.starts_in(minute_of(range.from), range.to) {
            if range.covers(minute, ROLLUP_MS) {
                self.merge_rollups(&self.minutes, minute, slot, wanted, &mut acc);
                continue;
            }
            match self.resolution(minute) {
                Resolution::Minute if range.contains(minute) => {
                    self.merge_rollups(&self.minutes, minute, slot, wanted, &mut acc);
                }
                Resolution::Minute => {}
                Resolution::Mid => {
                    for b in self.mid.starts_in(minute, minute + ROLLUP_MS) {
                        if range.contains(b) {
                            self.merge_rollups(&self.mid, b, slot, wanted, &mut acc);
                        }
                    }
                }
                Resolution::Fine => fine_minutes.push(minute),
            }
        }
        for w in self.fine_windows(kind, range, wanted) {
            if fine_minutes.contains(&minute_of(w.window_start_ms)) {
                merge_bytes(&mut acc, w);
            }
        }
        Some(acc)
    }

    fn merge_rollups(
        &self,
        tier: &Tier,
        start: i64,
        slot: usize,
        wanted: SeriesFilter<'_>,
        acc: &mut Sketch,
    ) {
        let failed: u64 = tier
            .rollups_at(start, slot, wanted)
            .map(|r| r.merge_into(acc))
            .sum();
        if failed > 0 {
            tracing::error!(failed, start, "rollup parts did not merge into a query's sketch");
        }
    }

    /// The fine windows of `kind` of the series `wanted` accepts starting in
    /// `range`, in minutes the fine tier still answers for.
    fn fine_windows<'a>(
        &'a self,
        kind: SketchKind,
        range: TimeRange,
        wanted: SeriesFilter<'a>,
    ) -> impl Iterator<Item = &'a StoredWindow> + 'a {
        self.fine.iter().filter(move |w| {
            w.kind == kind
                && range.contains(w.window_start_ms)
                && w.window_start_ms >= self.fine_cutoff
                && wanted(w.series)
        })
    }

    /// Windows of `kind` of the series `wanted` accepts in `range`, merged
    /// per `step_ms` bucket (aligned to the epoch, see [`shared::range`]):
    /// `(bucket start, sketch)` for every bucket that holds values. Each
    /// unit (window or rollup) goes into the bucket of its start, so older
    /// minutes give points at 10 s or 60 s resolution.
    pub fn series(
        &self,
        kind: SketchKind,
        range: TimeRange,
        step_ms: i64,
        wanted: SeriesFilter<'_>,
    ) -> Vec<(i64, Sketch)> {
        let (Some(slot), Ok(empty)) = (self.slot(kind), Sketch::new(kind, &self.params)) else {
            return Vec::new();
        };
        let step_ms = step_ms.max(1);
        let mut buckets: BTreeMap<i64, Sketch> = BTreeMap::new();
        let into = |buckets: &mut BTreeMap<i64, Sketch>, tier: &Tier, start: i64| {
            let acc = buckets
                .entry(bucket_start(start, step_ms))
                .or_insert_with(|| empty.clone());
            self.merge_rollups(tier, start, slot, wanted, acc);
        };
        // A minute wholly inside one step and the range: its minute rollup.
        let whole = |minute: i64| step_ms % ROLLUP_MS == 0 && range.covers(minute, ROLLUP_MS);
        for minute in self.minutes.starts_in(minute_of(range.from), range.to) {
            match self.resolution(minute) {
                _ if whole(minute) => into(&mut buckets, &self.minutes, minute),
                Resolution::Minute if range.contains(minute) => into(&mut buckets, &self.minutes, minute),
                Resolution::Minute | Resolution::Fine => {}
                Resolution::Mid => {
                    for b in self.mid.starts_in(minute, minute + ROLLUP_MS) {
                        if range.contains(b) {
                            into(&mut buckets, &self.mid, b);
                        }
                    }
                }
            }
        }
        for w in self.fine_windows(kind, range, wanted) {
            if whole(minute_of(w.window_start_ms)) {
                continue;
            }
            let acc = buckets
                .entry(bucket_start(w.window_start_ms, step_ms))
                .or_insert_with(|| empty.clone());
            merge_bytes(acc, w);
        }
        buckets.into_iter().filter(|(_, s)| !s.is_empty()).collect()
    }

    /// The history from `from_ms` of the series `wanted` accepts, oldest
    /// first, each minute at its [`Resolution`]: minute rollup windows
    /// (partition −1, 60 s), then 10 s rollup windows (partition −1, 10 s),
    /// then the fine windows.
    pub fn windows_since(&self, from_ms: i64, wanted: SeriesFilter<'_>) -> Vec<StoredWindow> {
        let mut out = Vec::new();
        let mut failed = 0;
        for minute in self.minutes.starts_in(minute_of(from_ms), self.fine_cutoff) {
            let (tier, starts): (&Tier, Vec<i64>) = match self.resolution(minute) {
                Resolution::Minute => (&self.minutes, vec![minute]),
                _ => (
                    &self.mid,
                    self.mid.starts_in(minute, minute + ROLLUP_MS).collect(),
                ),
            };
            for start in starts.into_iter().filter(|&s| s >= from_ms) {
                failed += self.rollup_windows(tier, start, wanted, &mut out);
            }
        }
        if failed > 0 {
            tracing::error!(failed, "rollup parts did not merge into history windows");
        }
        out.extend(
            self.fine
                .iter()
                .filter(|w| w.window_start_ms >= from_ms.max(self.fine_cutoff) && wanted(w.series))
                .cloned(),
        );
        out
    }

    /// Appends the rollups of the bucket at `start` as windows (series in id
    /// order); returns the parts that did not merge.
    fn rollup_windows(
        &self,
        tier: &Tier,
        start: i64,
        wanted: SeriesFilter<'_>,
        out: &mut Vec<StoredWindow>,
    ) -> u64 {
        let Some(bucket) = tier.buckets.get(&start) else {
            return 0;
        };
        let mut ids: Vec<SeriesId> = bucket.keys().copied().filter(|&id| wanted(id)).collect();
        ids.sort_unstable();
        let mut failed = 0;
        for series in ids {
            for (slot, r) in bucket[&series].iter().enumerate() {
                let id = RollupId {
                    series,
                    kind: self.kinds[slot],
                    start,
                    len_ms: tier.len_ms,
                };
                let (window, bad) = r.merged(id, &self.params);
                failed += bad;
                out.extend(window);
            }
        }
        failed
    }

    /// Values per series over the whole retention (default kind's counts),
    /// for `/api/metrics` and group ordering.
    pub fn counts_by_series(&self, kind: SketchKind) -> HashMap<SeriesId, u64> {
        let mut out = HashMap::new();
        let Some(slot) = self.slot(kind) else {
            return out;
        };
        for bucket in self.minutes.buckets.values() {
            for (&id, r) in bucket {
                *out.entry(id).or_insert(0) += r.get(slot).map_or(0, Rollup::count);
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
        self.fine.is_empty() && self.minutes.buckets.is_empty()
    }

    /// Minutes with a rollup.
    pub fn rollup_minutes(&self) -> usize {
        self.minutes.buckets.len()
    }

    /// What each tier holds.
    pub fn footprint(&self) -> Footprint {
        let tier = |t: &Tier| {
            let mut u = TierUse::default();
            for r in t.buckets.values().flat_map(|b| b.values()).flatten() {
                r.parts().for_each(|w| u.add(w));
            }
            u
        };
        let mut fine = TierUse::default();
        self.fine.iter().for_each(|w| fine.add(w));
        Footprint {
            fine,
            mid: tier(&self.mid),
            minutes: tier(&self.minutes),
        }
    }

    /// 10 s buckets with a rollup.
    pub fn mid_buckets(&self) -> usize {
        self.mid.buckets.len()
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
        let mut store = WindowStore::with_tiers(
            &[SketchKind::QuantileFlow],
            SketchParams::default(),
            3_600_000,
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
        let mut store = WindowStore::with_tiers(
            &[SketchKind::QuantileFlow],
            SketchParams::default(),
            3_600_000,
            120_000,
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
    fn each_minute_answers_from_its_tier_and_every_value_counts_once() {
        // 20 minutes of 1 s windows on 2 partitions; fine for 2 minutes,
        // 10 s rollups for 6, minute rollups for the rest.
        let mut store = WindowStore::with_tiers(
            &[SketchKind::QuantileFlow],
            SketchParams::default(),
            3_600_000,
            120_000,
            360_000,
        );
        let now = 20 * ROLLUP_MS;
        for i in 0..1200i64 {
            for p in 0..2 {
                store.add(window(p, i * 1000, &[(i + 1) as f64]), now);
            }
        }
        assert_eq!(store.rollup_minutes(), 20);
        assert_eq!(store.mid_buckets(), 6 * 6, "10 s rollups of the last 6 minutes");
        assert_eq!(store.len(), 2 * 120, "fine windows of the last 2 minutes");
        let history = store.windows_since(i64::MIN, ALL);
        let lengths = |ms: u64| history.iter().filter(|w| w.window_ms == ms).count();
        assert_eq!(lengths(60_000), 14, "old minutes: one rollup each");
        assert_eq!(lengths(10_000), 4 * 6, "minutes 14–17: six 10 s rollups each");
        assert_eq!(lengths(1000), 240);
        assert_eq!(
            history.iter().map(|w| w.count).sum::<u64>(),
            2400,
            "every value once"
        );
        assert!(
            history
                .windows(2)
                .all(|p| p[0].window_start_ms <= p[1].window_start_ms),
            "oldest first"
        );
        let count = |from: i64, to: i64| {
            store
                .merged_range(SketchKind::QuantileFlow, TimeRange::new(from, to), ALL)
                .map(|s| s.count())
        };
        // Cut minutes count the units of their tier that start in the range.
        assert_eq!(
            count(15 * ROLLUP_MS + 25_000, 15 * ROLLUP_MS + 45_000),
            Some(2 * 20),
            "10 s units"
        );
        assert_eq!(
            count(15 * ROLLUP_MS + 21_000, 15 * ROLLUP_MS + 45_000),
            Some(2 * 20),
            "from 30 s"
        );
        assert_eq!(
            count(19 * ROLLUP_MS + 21_000, 19 * ROLLUP_MS + 45_000),
            Some(2 * 24),
            "1 s units"
        );
        assert_eq!(
            count(5 * ROLLUP_MS + 1, 6 * ROLLUP_MS + 1),
            Some(2 * 60),
            "one minute unit"
        );
        assert_eq!(count(0, now), Some(2400));
        // Series points at each tier's resolution, all values once.
        let points = store.series(SketchKind::QuantileFlow, TimeRange::new(0, now), 1000, ALL);
        assert_eq!(points.len(), 14 + 24 + 120);
        assert_eq!(points.iter().map(|(_, s)| s.count()).sum::<u64>(), 2400);
        let minutes = store.series(SketchKind::QuantileFlow, TimeRange::new(0, now), 60_000, ALL);
        assert_eq!(minutes.len(), 20);
        assert!(minutes.iter().all(|(_, s)| s.count() == 120));
    }

    #[test]
    fn rollups_stay_encoded_and_a_late_window_lands_in_a_folded_one() {
        let mut store = WindowStore::new(&[SketchKind::QuantileFlow], SketchParams::default(), 3_600_000);
        let now = 10 * ROLLUP_MS;
        for i in 0..(FOLD_AT as i64 + 3) {
            store.add(window(0, i * 1000, &[1.0]), now);
        }
        let bucket = &store.minutes.buckets[&0][&0][0];
        assert!(bucket.folded.is_some(), "folded at {FOLD_AT} pending windows");
        assert_eq!(bucket.pending.len(), 3);
        assert_eq!(bucket.count(), FOLD_AT as u64 + 3);
        // Much later windows make the first minute idle: it folds for good.
        for i in 0..(SEAL_IDLE_ADDS as i64 * 2) {
            store.add(window(0, 5 * ROLLUP_MS + i, &[2.0]), now);
        }
        let bucket = &store.minutes.buckets[&0][&0][0];
        assert!(bucket.pending.is_empty(), "idle rollups fold");
        store.add(window(1, 2_000, &[1e6]), now);
        let first_minute = store
            .merged_range(SketchKind::QuantileFlow, TimeRange::new(0, ROLLUP_MS), ALL)
            .map(|s| (s.count(), s.max()));
        assert_eq!(first_minute, Some((FOLD_AT as u64 + 4, Some(1e6))));
        assert_eq!(store.merge_failures(), 0);
    }

    #[test]
    fn queries_cover_only_the_series_asked_for_and_buckets_align_to_the_epoch() {
        let hour = 3_600_000;
        let mut store = WindowStore::with_tiers(
            &[SketchKind::QuantileFlow],
            SketchParams::default(),
            hour,
            hour,
            hour,
        );
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
