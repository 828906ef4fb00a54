//! Retained closed windows: the fine windows (as published, for streaming
//! and exact ranges) for the last `fine_retention` (15 minutes by default),
//! plus one-minute rollups merged across partitions for the whole retention,
//! so a query over the whole retention merges at most one sketch per minute
//! and memory stays bounded for long retentions.
//!
//! A rollup is kept decoded while its minute can still receive windows; two
//! minutes after the newest window seen, once no window reached it for a
//! while, it is *sealed*: encoded once into a
//! window of its own (partition −1, 60 s long, sent as history to
//! WebSocket clients for minutes whose fine windows are gone) and its
//! decoded sketches are dropped. A late window for a sealed minute reopens it
//! (decoded and merged), and it is sealed again once idle.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use shared::{Sketch, SketchKind, SketchParams};

use super::{ClosedWindow, PublishedWindow, SharedWindow};

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

/// One minute of one kind, all partitions.
#[derive(Debug, Clone)]
enum Rollup {
    /// Still receiving windows.
    Open(Box<Sketch>),
    /// Encoded for good.
    Sealed(SharedWindow),
}

impl Rollup {
    fn merge_into(&self, acc: &mut Sketch) {
        match self {
            // Same kind and parameters by construction.
            Rollup::Open(s) => {
                let _ = acc.merge(s);
            }
            Rollup::Sealed(w) => {
                let _ = acc.merge_encoded(&w.sketch);
            }
        }
    }
}

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

/// Closed windows kept for `retention_ms`.
#[derive(Debug)]
pub struct WindowStore {
    kinds: Vec<SketchKind>,
    params: SketchParams,
    retention_ms: i64,
    fine_retention_ms: i64,
    fine: VecDeque<SharedWindow>,
    rollups: BTreeMap<i64, Vec<Option<Rollup>>>,
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

fn sealed(kind: SketchKind, minute: i64, sketch: &Sketch) -> SharedWindow {
    Arc::new(PublishedWindow::new(ClosedWindow {
        partition: ALL_PARTITIONS,
        window_start_ms: minute,
        window_ms: ROLLUP_MS as u64,
        kind,
        count: sketch.count(),
        sketch: sketch.encode(),
        first_offset: -1,
        last_offset: -1,
    }))
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
    pub fn add(&mut self, window: SharedWindow, now_ms: i64) {
        let minute = window.window_start_ms - window.window_start_ms.rem_euclid(ROLLUP_MS);
        if let Some(slot) = self.kinds.iter().position(|&k| k == window.kind) {
            let n = self.kinds.len();
            let rollup = self.rollups.entry(minute).or_insert_with(|| vec![None; n]);
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
        for (&minute, rollup) in self.rollups.range_mut(..seal_before) {
            let last = self.touched.get(&minute).copied().unwrap_or(0);
            if self.adds - last < SEAL_IDLE_ADDS {
                continue;
            }
            for (slot, r) in rollup.iter_mut().enumerate() {
                if let Some(Rollup::Open(acc)) = r {
                    *r = Some(Rollup::Sealed(sealed(self.kinds[slot], minute, acc)));
                }
            }
        }
    }

    /// The rollup of `kind` for `minute`, decoded.
    fn rollup(&self, slot: usize, minute: i64) -> Option<Sketch> {
        match self.rollups.get(&minute)?.get(slot)?.as_ref()? {
            Rollup::Open(s) => Some(Sketch::clone(s)),
            Rollup::Sealed(w) => Sketch::decode_kind(w.kind, &w.sketch).ok(),
        }
    }

    fn merge_rollup(&self, acc: &mut Sketch, slot: usize, minute: i64) {
        if let Some(r) = self
            .rollups
            .get(&minute)
            .and_then(|r| r.get(slot))
            .and_then(Option::as_ref)
        {
            r.merge_into(acc);
        }
    }

    /// Every rollup of `kind`, detached from the store so the merging can
    /// happen after the store's (and the partitions') locks are released.
    pub fn rollups_snapshot(&self, kind: SketchKind) -> Option<RollupsSnapshot> {
        let slot = self.kinds.iter().position(|&k| k == kind)?;
        Some(RollupsSnapshot {
            empty: Sketch::new(kind, &self.params).ok()?,
            parts: self
                .rollups
                .values()
                .filter_map(|r| r.get(slot).cloned().flatten())
                .collect(),
        })
    }

    /// Every retained window of `kind` merged (all partitions).
    pub fn merged_all(&self, kind: SketchKind) -> Option<Sketch> {
        Some(self.rollups_snapshot(kind)?.merge())
    }

    /// Windows of `kind` starting in `[from_ms, to_ms)`, merged. Minutes
    /// older than the fine retention count whole when they start in the range.
    pub fn merged_range(&self, kind: SketchKind, from_ms: i64, to_ms: i64) -> Option<Sketch> {
        let slot = self.kinds.iter().position(|&k| k == kind)?;
        let mut acc = Sketch::new(kind, &self.params).ok()?;
        let mut partial = Vec::new();
        for &start in self.rollups.range(..to_ms).map(|(s, _)| s) {
            let whole = start >= from_ms && start + ROLLUP_MS <= to_ms;
            let rollup_only = start < self.fine_cutoff && (from_ms..to_ms).contains(&start);
            if whole || rollup_only {
                self.merge_rollup(&mut acc, slot, start);
            } else if start + ROLLUP_MS > from_ms {
                partial.push(start);
            }
        }
        for w in &self.fine {
            let rollup = w.window_start_ms - w.window_start_ms.rem_euclid(ROLLUP_MS);
            if w.kind == kind && partial.contains(&rollup) && (from_ms..to_ms).contains(&w.window_start_ms) {
                let _ = acc.merge_encoded(&w.sketch);
            }
        }
        Some(acc)
    }

    /// Windows of `kind` in `[from_ms, to_ms)` merged per `step_ms` bucket:
    /// `(bucket start, sketch)` for every bucket that holds values (minutes
    /// older than the fine retention contribute their rollups).
    pub fn series(&self, kind: SketchKind, from_ms: i64, to_ms: i64, step_ms: i64) -> Vec<(i64, Sketch)> {
        let step = step_ms.max(1);
        let mut buckets: BTreeMap<i64, Sketch> = BTreeMap::new();
        let mut add = |start: i64, s: Sketch| {
            let bucket = from_ms + (start - from_ms) / step * step;
            match buckets.get_mut(&bucket) {
                Some(acc) => {
                    let _ = acc.merge(&s);
                }
                None => {
                    buckets.insert(bucket, s);
                }
            }
        };
        if let Some(slot) = self.kinds.iter().position(|&k| k == kind) {
            let old_end = self.fine_cutoff.min(to_ms);
            for &minute in self.rollups.range(from_ms..old_end.max(from_ms)).map(|(m, _)| m) {
                if let Some(s) = self.rollup(slot, minute) {
                    add(minute, s);
                }
            }
        }
        for w in self
            .fine
            .iter()
            .filter(|w| w.kind == kind && (from_ms..to_ms).contains(&w.window_start_ms))
        {
            if let Ok(s) = Sketch::decode_kind(kind, &w.sketch) {
                add(w.window_start_ms, s);
            }
        }
        buckets.into_iter().collect()
    }

    /// The history from `from_ms`, oldest first: rollup windows (partition
    /// −1, 60 s) for minutes whose fine windows are gone, then the fine windows.
    pub fn windows_since(&self, from_ms: i64) -> Vec<SharedWindow> {
        let mut out = Vec::new();
        for (&minute, rollup) in self.rollups.range(from_ms..) {
            if minute >= self.fine_cutoff {
                break;
            }
            for (slot, r) in rollup.iter().enumerate() {
                match r {
                    Some(Rollup::Sealed(w)) => out.push(w.clone()),
                    Some(Rollup::Open(s)) => out.push(sealed(self.kinds[slot], minute, s)),
                    None => {}
                }
            }
        }
        out.extend(self.fine.iter().filter(|w| w.window_start_ms >= from_ms).cloned());
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
    use crate::window::{ClosedWindow, PublishedWindow};

    fn window(partition: i32, start: i64, values: &[f64]) -> SharedWindow {
        let mut s = Sketch::with_defaults(SketchKind::QuantileFlow);
        s.insert_slice(values).expect("valid");
        Arc::new(PublishedWindow::new(ClosedWindow {
            partition,
            window_start_ms: start,
            window_ms: 1000,
            kind: SketchKind::QuantileFlow,
            sketch: s.encode(),
            count: s.count(),
            first_offset: 0,
            last_offset: 0,
        }))
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
        let all = store.merged_all(SketchKind::QuantileFlow).expect("kind kept");
        assert_eq!(all.count(), 180);
        let range = store
            .merged_range(
                SketchKind::QuantileFlow,
                7 * ROLLUP_MS + 30_000,
                9 * ROLLUP_MS + 10_000,
            )
            .expect("kind kept");
        assert_eq!(
            range.count(),
            100,
            "30 s of the first minute, all of the second, 10 s of the third"
        );
        store.evict(now + 3_600_000 - 2 * ROLLUP_MS);
        assert_eq!(
            store.merged_all(SketchKind::QuantileFlow).map(|s| s.count()),
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
        let merged = store.merged_all(SketchKind::QuantileFlow).expect("kind kept");
        assert_eq!(merged.count(), 1200);
        assert_eq!(merged.quantile(0.5).ok(), all.quantile(0.5).ok());
        // History: one sealed rollup per old minute, then the fine windows.
        let history = store.windows_since(i64::MIN);
        let rollups: Vec<_> = history.iter().filter(|w| w.partition == ALL_PARTITIONS).collect();
        assert_eq!(rollups.len(), 8);
        assert!(rollups.iter().all(|w| w.window_ms == 60_000 && w.count == 120));
        assert_eq!(history.len(), 8 + 240);
        let total: u64 = history.iter().map(|w| w.count).sum();
        assert_eq!(total, 1200, "every value once in the history");
        // Old ranges answer at minute resolution, from the rollups.
        let old = store
            .merged_range(SketchKind::QuantileFlow, 60_000, 180_000)
            .expect("kind kept");
        assert_eq!(old.count(), 240);
        let series = store.series(SketchKind::QuantileFlow, 0, now, 60_000);
        assert_eq!(series.len(), 10);
        assert!(series.iter().all(|(_, s)| s.count() == 120));
        // A late window for a sealed minute is merged in.
        store.add(window(0, 5_000, &[1e6]), now);
        assert_eq!(
            store.merged_all(SketchKind::QuantileFlow).map(|s| s.count()),
            Some(1201)
        );
    }
}
