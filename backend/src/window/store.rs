//! Retained closed windows: the fine windows (as published, for streaming
//! and exact ranges) plus one-minute rollups merged across partitions, so a
//! query over the whole retention merges at most one sketch per minute.

use std::collections::{BTreeMap, VecDeque};

use shared::{Sketch, SketchKind, SketchParams};

use super::SharedWindow;

/// Length of a rollup.
pub const ROLLUP_MS: i64 = 60_000;

/// Closed windows kept for `retention_ms`.
#[derive(Debug)]
pub struct WindowStore {
    kinds: Vec<SketchKind>,
    params: SketchParams,
    retention_ms: i64,
    fine: VecDeque<SharedWindow>,
    rollups: BTreeMap<i64, Vec<Option<Sketch>>>,
    /// Windows that could not be decoded or merged (never expected).
    pub merge_failures: u64,
}

impl WindowStore {
    /// An empty store for `kinds`, keeping windows for `retention_ms`.
    pub fn new(kinds: &[SketchKind], params: SketchParams, retention_ms: u64) -> Self {
        Self {
            kinds: kinds.to_vec(),
            params,
            retention_ms: i64::try_from(retention_ms).unwrap_or(i64::MAX),
            fine: VecDeque::new(),
            rollups: BTreeMap::new(),
            merge_failures: 0,
        }
    }

    /// Adds a closed window and drops what fell out of the retention.
    pub fn add(&mut self, window: SharedWindow, now_ms: i64) {
        if let Some(slot) = self.kinds.iter().position(|&k| k == window.kind) {
            let start = window.window_start_ms - window.window_start_ms.rem_euclid(ROLLUP_MS);
            let n = self.kinds.len();
            let rollup = self.rollups.entry(start).or_insert_with(|| vec![None; n]);
            match Sketch::decode_kind(window.kind, &window.sketch) {
                Ok(sketch) => match &mut rollup[slot] {
                    Some(acc) => {
                        if acc.merge(&sketch).is_err() {
                            self.merge_failures += 1;
                        }
                    }
                    empty => *empty = Some(sketch),
                },
                Err(_) => self.merge_failures += 1,
            }
        }
        self.fine.push_back(window);
        self.evict(now_ms);
    }

    /// Drops windows older than the retention.
    pub fn evict(&mut self, now_ms: i64) {
        let horizon = now_ms.saturating_sub(self.retention_ms);
        while self
            .fine
            .front()
            .is_some_and(|w| w.window_start_ms + (w.window_ms as i64) <= horizon)
        {
            self.fine.pop_front();
        }
        while self
            .rollups
            .first_key_value()
            .is_some_and(|(&start, _)| start + ROLLUP_MS <= horizon)
        {
            self.rollups.pop_first();
        }
    }

    /// Every retained window of `kind` merged (all partitions).
    pub fn merged_all(&self, kind: SketchKind) -> Option<Sketch> {
        let slot = self.kinds.iter().position(|&k| k == kind)?;
        let mut acc = Sketch::new(kind, &self.params).ok()?;
        for rollup in self.rollups.values() {
            if let Some(s) = &rollup[slot] {
                // Same kind and parameters by construction.
                let _ = acc.merge(s);
            }
        }
        Some(acc)
    }

    /// Windows of `kind` starting in `[from_ms, to_ms)`, merged.
    pub fn merged_range(&self, kind: SketchKind, from_ms: i64, to_ms: i64) -> Option<Sketch> {
        let slot = self.kinds.iter().position(|&k| k == kind)?;
        let mut acc = Sketch::new(kind, &self.params).ok()?;
        let mut partial = Vec::new();
        for (&start, rollup) in self.rollups.range(..to_ms) {
            if start >= from_ms && start + ROLLUP_MS <= to_ms {
                if let Some(s) = &rollup[slot] {
                    let _ = acc.merge(s);
                }
            } else if start + ROLLUP_MS > from_ms {
                partial.push(start);
            }
        }
        for w in &self.fine {
            let rollup = w.window_start_ms - w.window_start_ms.rem_euclid(ROLLUP_MS);
            if w.kind == kind && partial.contains(&rollup) && (from_ms..to_ms).contains(&w.window_start_ms) {
                if let Ok(s) = Sketch::decode_kind(kind, &w.sketch) {
                    let _ = acc.merge(&s);
                }
            }
        }
        Some(acc)
    }

    /// Windows of `kind` in `[from_ms, to_ms)` merged per `step_ms` bucket:
    /// `(bucket start, sketch)` for every bucket that holds values.
    pub fn series(&self, kind: SketchKind, from_ms: i64, to_ms: i64, step_ms: i64) -> Vec<(i64, Sketch)> {
        let step = step_ms.max(1);
        let mut buckets: BTreeMap<i64, Sketch> = BTreeMap::new();
        for w in self
            .fine
            .iter()
            .filter(|w| w.kind == kind && (from_ms..to_ms).contains(&w.window_start_ms))
        {
            let Ok(s) = Sketch::decode_kind(kind, &w.sketch) else {
                continue;
            };
            let bucket = from_ms + (w.window_start_ms - from_ms) / step * step;
            match buckets.get_mut(&bucket) {
                Some(acc) => {
                    let _ = acc.merge(&s);
                }
                None => {
                    buckets.insert(bucket, s);
                }
            }
        }
        buckets.into_iter().collect()
    }

    /// Retained windows starting at or after `from_ms`, oldest first.
    pub fn windows_since(&self, from_ms: i64) -> impl Iterator<Item = &SharedWindow> {
        self.fine.iter().filter(move |w| w.window_start_ms >= from_ms)
    }

    /// Number of retained fine windows.
    pub fn len(&self) -> usize {
        self.fine.len()
    }

    /// Whether nothing is retained.
    pub fn is_empty(&self) -> bool {
        self.fine.is_empty()
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
        let mut store = WindowStore::new(&[SketchKind::QuantileFlow], SketchParams::default(), 3_600_000);
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
}
