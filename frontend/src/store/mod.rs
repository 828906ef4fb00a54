//! The browser's copy of the closed windows it subscribed to: all of them
//! merged ([`ClientStore::total`]), and, when the view groups by tags, each
//! group merged too ([`ClientStore::group`]). Pure Rust (no browser APIs),
//! tested natively and in wasm.
//!
//! - [`windows`]: one merged view (per kind and window start, with minute
//!   aggregates and line/heatmap caches).

use std::collections::{BTreeMap, HashSet};

use shared::protocol::{SnapshotKey, WindowSnapshot};
use shared::{Sketch, SketchKind};

pub mod windows;

pub use windows::{step_for, SeriesWindows, MINUTE_MS};

/// Why a window was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// This snapshot (series, source, kind, start, first offset) was stored before.
    Duplicate,
    /// The sketch bytes did not decode, or had another kind or parameters.
    BadSketch(String),
}

/// A group's tag values, in the order of the group-by keys (`(key, value)`,
/// value empty when the series lacks the key), as `/api/quantiles?by=` has them.
pub type GroupKey = Vec<(String, String)>;

/// The closed windows the dashboard has received.
#[derive(Debug, Default)]
pub struct ClientStore {
    total: SeriesWindows,
    groups: BTreeMap<GroupKey, SeriesWindows>,
    seen: HashSet<SnapshotKey>,
    /// Windows refused because their sketch did not decode.
    pub bad_sketches: u64,
    /// Windows received twice (ignored).
    pub duplicates: u64,
}

impl ClientStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every window (before a fresh history).
    pub fn clear(&mut self) {
        self.total = SeriesWindows::default();
        self.groups.clear();
        self.seen.clear();
    }

    /// Adds one partition's closed window to the total.
    pub fn insert(&mut self, window: &WindowSnapshot) -> Result<(), Refused> {
        self.insert_in(window, None)
    }

    /// Adds one partition's closed window to the total and, when the view
    /// is grouped, to its series' `group`.
    pub fn insert_in(&mut self, window: &WindowSnapshot, group: Option<GroupKey>) -> Result<(), Refused> {
        if self.seen.contains(&window.snapshot_key()) {
            self.duplicates += 1;
            return Err(Refused::Duplicate);
        }
        let mut decoded: Option<Sketch> = None;
        if let Err(e) = self.total.add(window, &mut decoded) {
            self.bad_sketches += 1;
            return Err(e);
        }
        if let Some(key) = group {
            // The bytes passed the total's checks, so they pass these too.
            if let Err(e) = self.groups.entry(key).or_default().add(window, &mut decoded) {
                self.bad_sketches += 1;
                return Err(e);
            }
        }
        self.seen.insert(window.snapshot_key());
        Ok(())
    }

    /// Range merges that failed, in the total and every group (none
    /// expected: shown in the stats panel so that a bug is not silent).
    pub fn merge_failures(&self) -> u64 {
        self.total.merge_failures()
            + self
                .groups
                .values()
                .map(SeriesWindows::merge_failures)
                .sum::<u64>()
    }

    /// Every window received, merged.
    pub fn total(&self) -> &SeriesWindows {
        &self.total
    }

    /// Every window received, merged (for the cached line reads).
    pub fn total_mut(&mut self) -> &mut SeriesWindows {
        &mut self.total
    }

    /// The groups that received windows, in tag order.
    pub fn group_keys(&self) -> Vec<GroupKey> {
        self.groups.keys().cloned().collect()
    }

    /// One group's windows.
    pub fn group(&self, key: &GroupKey) -> Option<&SeriesWindows> {
        self.groups.get(key)
    }

    /// One group's windows (for the cached line reads).
    pub fn group_mut(&mut self, key: &GroupKey) -> Option<&mut SeriesWindows> {
        self.groups.get_mut(key)
    }

    /// Kinds with at least one window.
    pub fn kinds(&self) -> Vec<SketchKind> {
        self.total.kinds()
    }

    /// Values of the total in windows of `kind` starting in `[from, to)`.
    pub fn count_in(&self, kind: SketchKind, from: i64, to: i64) -> u64 {
        self.total.count_in(kind, from, to)
    }

    /// The total's windows of `kind` starting in `[from, to)`, merged.
    pub fn merged(&self, kind: SketchKind, from: i64, to: i64) -> Option<Sketch> {
        self.total.merged(kind, from, to)
    }

    /// The total's quantile lines (see [`SeriesWindows::lines`]).
    pub fn lines(
        &mut self,
        kind: SketchKind,
        from: i64,
        to: i64,
        step: i64,
        qs: &[f64],
    ) -> Vec<(i64, Vec<Option<f64>>)> {
        self.total.lines(kind, from, to, step, qs)
    }

    /// The total's heatmap columns (see [`SeriesWindows::bucket_mass_points`]).
    pub fn bucket_mass_points(
        &mut self,
        kind: SketchKind,
        from: i64,
        to: i64,
        step: i64,
    ) -> Vec<(i64, Vec<(f64, f64)>)> {
        self.total.bucket_mass_points(kind, from, to, step)
    }

    /// Drops windows (and aggregates) that start before `cutoff`.
    pub fn forget_before(&mut self, cutoff: i64) {
        self.total.forget_before(cutoff);
        for g in self.groups.values_mut() {
            g.forget_before(cutoff);
        }
        self.groups.retain(|_, g| !g.kinds_is_empty());
        self.seen.retain(|key| key.4 >= cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(partition: i32, start: i64, kind: SketchKind, values: &[f64]) -> WindowSnapshot {
        let mut s = Sketch::with_defaults(kind);
        s.insert_slice(values).expect("values");
        WindowSnapshot {
            series: 0,
            topic: 0,
            through_offset: 0,
            partition,
            window_start_ms: start,
            window_ms: 1000,
            kind,
            count: values.len() as u64,
            sketch: s.encode(),
            first_offset: 0,
            last_offset: values.len() as i64 - 1,
        }
    }

    fn values(seed: u64, n: usize) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                1.0 + (x >> 40) as f64 / 1000.0
            })
            .collect()
    }

    #[test]
    fn range_merge_equals_one_sketch_of_all_values_for_every_kind() {
        for kind in SketchKind::ALL {
            let mut store = ClientStore::new();
            let mut all = Sketch::with_defaults(kind);
            // 150 s of windows on two partitions: crosses minute boundaries.
            for sec in 0..150i64 {
                for p in 0..2 {
                    let v = values((sec * 2 + p) as u64, 20);
                    store
                        .insert(&window(p as i32, 1_000_000 + sec * 1000, kind, &v))
                        .expect("stored");
                    if (10..=140).contains(&sec) {
                        all.insert_slice(&v).expect("values");
                    }
                }
            }
            // Ranges ending just before a minute boundary, and backwards ones.
            assert_eq!(
                store.merged(kind, 1_000_000, 1_079_999).map(|s| s.count()),
                Some(80 * 40),
                "{kind}"
            );
            assert!(store.merged(kind, 1_050_000, 1_040_000).is_none());
            assert_eq!(store.count_in(kind, 1_050_000, 1_040_000), 0);
            // Half-open: [10 s, 141 s) holds the windows of seconds 10 … 140.
            let merged = store
                .merged(kind, 1_010_000, 1_141_000)
                .expect("windows in range");
            assert_eq!(merged.count(), all.count(), "{kind}");
            assert_eq!(store.count_in(kind, 1_010_000, 1_141_000), all.count(), "{kind}");
            assert_eq!(
                store.count_in(kind, 1_010_000, 1_140_000),
                all.count() - 40,
                "{kind}"
            );
            let qs = [0.5, 0.95, 0.99];
            let (a, b) = (merged.quantiles(&qs).expect("q"), all.quantiles(&qs).expect("q"));
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() <= 1e-6 * y.abs(), "{kind}: {a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn duplicates_and_bad_sketches_are_refused_and_counted() {
        let mut store = ClientStore::new();
        let w = window(0, 5_000, SketchKind::QuantileFlow, &[1.0, 2.0]);
        store.insert(&w).expect("first");
        assert_eq!(store.insert(&w), Err(Refused::Duplicate));
        let mut bad = window(1, 5_000, SketchKind::QuantileFlow, &[1.0]);
        bad.sketch = vec![0x51, 9, 9];
        assert!(matches!(store.insert(&bad), Err(Refused::BadSketch(_))));
        let mut wrong_kind = window(2, 5_000, SketchKind::Datadog, &[1.0]);
        wrong_kind.kind = SketchKind::QuantileFlow;
        assert!(matches!(store.insert(&wrong_kind), Err(Refused::BadSketch(_))));
        assert_eq!((store.duplicates, store.bad_sketches), (1, 2));
        assert_eq!(store.count_in(SketchKind::QuantileFlow, 0, 10_000), 2);
        // HDR windows joining a minute are checked straight from their bytes.
        let hdr = SketchKind::HdrHistogram;
        let mut first_bad = window(9, 5_000, hdr, &[1.0]);
        first_bad.sketch.truncate(4);
        assert!(matches!(store.insert(&first_bad), Err(Refused::BadSketch(_))));
        assert_eq!(
            store.kinds(),
            vec![SketchKind::QuantileFlow],
            "a refused window adds no kind"
        );
        store.insert(&window(0, 5_000, hdr, &[1.0])).expect("first HDR");
        let mut wrong = window(1, 6_000, SketchKind::QuantileFlow, &[1.0]);
        wrong.kind = hdr;
        assert!(matches!(store.insert(&wrong), Err(Refused::BadSketch(_))));
        let mut garbage = window(2, 7_000, hdr, &[1.0]);
        garbage.sketch.truncate(garbage.sketch.len() / 2);
        assert!(matches!(store.insert(&garbage), Err(Refused::BadSketch(_))));
        store.insert(&window(3, 8_000, hdr, &[2.0])).expect("good HDR");
        assert_eq!(store.bad_sketches, 5);
        assert_eq!(store.count_in(hdr, 0, 10_000), 2);
        assert_eq!(store.merged(hdr, 0, 10_000).map(|s| s.count()), Some(2));
    }

    #[test]
    fn heatmap_columns_are_cached_until_a_window_lands_in_them() {
        let mut store = ClientStore::new();
        let kind = SketchKind::QuantileFlow;
        for sec in 0..10 {
            store
                .insert(&window(0, sec * 1000, kind, &[10.0]))
                .expect("stored");
        }
        let count = |cols: &[(i64, Vec<(f64, f64)>)], i: usize| cols[i].1.iter().map(|p| p.1).sum::<f64>();
        let cols = store.bucket_mass_points(kind, 0, 9_999, 5_000);
        assert_eq!(cols.len(), 2);
        assert_eq!((count(&cols, 0), count(&cols, 1)), (5.0, 5.0));
        store
            .insert(&window(1, 1_000, kind, &[20.0, 30.0]))
            .expect("stored");
        let cols = store.bucket_mass_points(kind, 0, 9_999, 5_000);
        assert_eq!((count(&cols, 0), count(&cols, 1)), (7.0, 5.0));
        // A range cutting a bucket gets the part in the range (as /api/series
        // does), without disturbing the cached whole column.
        let cut = store.bucket_mass_points(kind, 2_000, 9_999, 5_000);
        assert_eq!(count(&cut, 0), 3.0);
        let cols = store.bucket_mass_points(kind, 0, 9_999, 5_000);
        assert_eq!(count(&cols, 0), 7.0);
    }

    #[test]
    fn lines_follow_new_windows_and_cut_at_step() {
        let mut store = ClientStore::new();
        let kind = SketchKind::QuantileFlow;
        for sec in 0..10 {
            store
                .insert(&window(0, sec * 1000, kind, &[f64::from(sec as i32 + 1) * 10.0]))
                .expect("stored");
        }
        let lines = store.lines(kind, 0, 9_999, 5_000, &[1.0]);
        assert_eq!(lines.len(), 2);
        assert!((lines[0].1[0].expect("value") - 50.0).abs() < 1.0);
        // A later partition's window in the first bucket changes its point.
        store.insert(&window(1, 2_000, kind, &[500.0])).expect("stored");
        let lines = store.lines(kind, 0, 9_999, 5_000, &[1.0]);
        assert!((lines[0].1[0].expect("value") - 500.0).abs() < 5.0, "{lines:?}");
        store.forget_before(5_000);
        assert_eq!(store.lines(kind, 0, 9_999, 5_000, &[1.0]).len(), 1);
    }

    #[test]
    fn groups_hold_their_series_and_the_total_holds_all() {
        let mut store = ClientStore::new();
        let kind = SketchKind::HdrHistogram;
        let key = |route: &str| vec![("route".to_owned(), route.to_owned())];
        for sec in 0..90i64 {
            let route = if sec % 3 == 0 { "/pay" } else { "/home" };
            let mut w = window(0, sec * 1000, kind, &[f64::from(sec as i32) + 1.0]);
            w.series = u32::from(route == "/pay");
            store.insert_in(&w, Some(key(route))).expect("stored");
            // A second kind goes to the same groups (decoded once).
            let mut q = window(0, sec * 1000, SketchKind::QuantileFlow, &[1.0]);
            q.series = w.series;
            store.insert_in(&q, Some(key(route))).expect("stored");
        }
        assert_eq!(store.group_keys(), vec![key("/home"), key("/pay")]);
        let pay = store.group(&key("/pay")).expect("group");
        let home = store.group(&key("/home")).expect("group");
        assert_eq!(
            (pay.count_in(kind, 0, 90_000), home.count_in(kind, 0, 90_000)),
            (30, 60)
        );
        assert_eq!(store.count_in(kind, 0, 90_000), 90);
        assert_eq!(pay.merged(kind, 0, 90_000).map(|s| s.count()), Some(30));
        assert_eq!(pay.first_start(kind), Some(0));
        store.forget_before(60_000);
        assert_eq!(
            store.group(&key("/pay")).map(|g| g.count_in(kind, 0, 90_000)),
            Some(10)
        );
        store.clear();
        assert!(store.group_keys().is_empty());
    }

    #[test]
    fn steps_are_round_and_never_below_the_window() {
        assert_eq!(step_for(300_000, 300, 1000), 1_000);
        assert_eq!(step_for(900_000, 300, 1000), 5_000);
        assert_eq!(step_for(3_600_000, 300, 1000), 15_000);
        assert_eq!(step_for(60_000, 300, 10_000), 10_000);
    }

    #[test]
    fn buckets_follow_the_shared_range_convention_like_the_server() {
        // The same vectors the server's store is tested with.
        let cases: serde_json::Value =
            serde_json::from_str(include_str!("../../../shared/tests/fixtures/range_cases.json"))
                .expect("fixture");
        let kind = SketchKind::QuantileFlow;
        let mut store = ClientStore::new();
        for start in cases["windows_ms"].as_array().expect("windows") {
            let start = start.as_i64().expect("ms");
            store.insert(&window(0, start, kind, &[1.0])).expect("stored");
        }
        for case in cases["cases"].as_array().expect("cases") {
            let n = |k: &str| case[k].as_i64().expect("number");
            let (from, to, step) = (n("from"), n("to"), n("step"));
            let got: Vec<(i64, i64)> = store
                .bucket_mass_points(kind, from, to, step)
                .into_iter()
                .map(|(t, points)| (t, points.iter().map(|p| p.1).sum::<f64>() as i64))
                .collect();
            let want: Vec<(i64, i64)> = case["points"]
                .as_array()
                .expect("points")
                .iter()
                .map(|p| (p[0].as_i64().expect("t"), p[1].as_i64().expect("count")))
                .collect();
            assert_eq!(got, want, "{case}");
            let lines = store.lines(kind, from, to, step, &[0.5]);
            assert_eq!(lines.len(), want.len(), "{case}");
        }
    }
}
