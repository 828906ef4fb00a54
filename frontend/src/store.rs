//! The browser's copy of the closed windows: every partition's windows
//! merged per sketch kind and window start, with 1-minute aggregates so a
//! range of any length is a few dozen merges. Pure Rust (no browser APIs),
//! tested natively and in wasm.
//!
//! Dense HDR histograms (~140 KB decoded, ~2 KB on the wire) are kept as
//! their wire bytes and decoded when a range needs them; the other kinds are
//! kept decoded. Minute aggregates are always decoded.

use std::collections::{BTreeMap, HashMap, HashSet};

use shared::protocol::{SnapshotKey, WindowSnapshot};
use shared::range::{bucket_start, TimeRange};
use shared::{Sketch, SketchKind};

/// Length of the aggregates, ms.
pub const MINUTE_MS: i64 = 60_000;

/// Why a window was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// This snapshot (series, source, kind, start, first offset) was stored before.
    Duplicate,
    /// The sketch bytes did not decode, or had another kind or parameters.
    BadSketch(String),
}

/// One window start of one kind, all partitions merged.
#[derive(Debug, Clone)]
struct Slot {
    count: u64,
    sketch: SlotSketch,
}

#[derive(Debug, Clone)]
enum SlotSketch {
    Decoded(Box<Sketch>),
    /// Wire bytes of each partition's window (HDR).
    Encoded(Vec<Vec<u8>>),
}

/// Everything stored for one kind.
#[derive(Debug, Clone, Default)]
struct KindWindows {
    slots: BTreeMap<i64, Slot>,
    minutes: BTreeMap<i64, Sketch>,
}

/// Quantile lines of one kind at one step, cached per bucket start.
type LineCache = BTreeMap<i64, Vec<Option<f64>>>;
/// `(value, count)` mass points of one kind at one step, per bucket start.
type MassCache = BTreeMap<i64, Vec<(f64, f64)>>;

/// The closed windows the dashboard has received.
#[derive(Debug, Default)]
pub struct ClientStore {
    kinds: HashMap<SketchKind, KindWindows>,
    seen: HashSet<SnapshotKey>,
    /// `(kind, step, quantiles as bits)` → bucket start → values.
    lines: HashMap<(SketchKind, i64, Vec<u64>), LineCache>,
    /// `(kind, step)` → bucket start → mass points (heatmap columns).
    mass: HashMap<(SketchKind, i64), MassCache>,
    /// Windows refused because their sketch did not decode.
    pub bad_sketches: u64,
    /// Windows received twice (ignored).
    pub duplicates: u64,
}

/// Each bucket's value: a bucket the range covers whole from `cache` (or
/// computed by `compute(lo, hi)` over `[lo, hi)` and cached); a bucket the
/// range cuts computed over its part in the range, not cached (its value
/// depends on the range).
fn through_cache<V: Clone>(
    cache: &mut BTreeMap<i64, V>,
    starts: Vec<i64>,
    range: TimeRange,
    step: i64,
    mut compute: impl FnMut(i64, i64) -> V,
) -> Vec<(i64, V)> {
    starts
        .into_iter()
        .map(|b| {
            let end = b.saturating_add(step);
            if range.covers(b, step) {
                (b, cache.entry(b).or_insert_with(|| compute(b, end)).clone())
            } else {
                (b, compute(b.max(range.from), end.min(range.to)))
            }
        })
        .collect()
}

/// Drops the cached bucket holding a window that starts at `start` (when the
/// cache is of that window's kind).
fn forget_bucket<V>(cache: &mut BTreeMap<i64, V>, same_kind: bool, start: i64, step: i64) {
    if same_kind {
        cache.remove(&bucket_start(start, step));
    }
}

fn keeps_encoded(kind: SketchKind) -> bool {
    kind == SketchKind::HdrHistogram
}

fn merge_into(acc: &mut Option<Sketch>, sketch: &Sketch) {
    match acc {
        // Windows of one kind from one server share parameters; a mismatch
        // was refused at insert.
        Some(a) => {
            let _ = a.merge(sketch);
        }
        None => *acc = Some(sketch.clone()),
    }
}

impl Slot {
    fn merge_into(&self, acc: &mut Option<Sketch>) {
        match &self.sketch {
            SlotSketch::Decoded(s) => merge_into(acc, s),
            SlotSketch::Encoded(parts) => {
                for bytes in parts {
                    match acc {
                        // Buckets straight from the bytes: no histogram built.
                        Some(a) => {
                            let _ = a.merge_encoded(bytes);
                        }
                        None => *acc = Sketch::decode(bytes).ok(),
                    }
                }
            }
        }
    }
}

impl ClientStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every window (before a fresh history).
    pub fn clear(&mut self) {
        self.kinds.clear();
        self.seen.clear();
        self.lines.clear();
        self.mass.clear();
    }

    /// Adds one partition's closed window.
    pub fn insert(&mut self, window: &WindowSnapshot) -> Result<(), Refused> {
        if self.seen.contains(&window.snapshot_key()) {
            self.duplicates += 1;
            return Err(Refused::Duplicate);
        }
        let start = window.window_start_ms;
        let minute = bucket_start(start, MINUTE_MS);
        if keeps_encoded(window.kind) {
            // Checked and added to its minute straight from the bytes.
            if let Some(agg) = self
                .kinds
                .get_mut(&window.kind)
                .and_then(|k| k.minutes.get_mut(&minute))
            {
                if let Err(e) = agg.merge_encoded(&window.sketch) {
                    self.bad_sketches += 1;
                    return Err(Refused::BadSketch(e.to_string()));
                }
                self.keep(window, None);
                return Ok(());
            }
        }
        let sketch = match Sketch::decode(&window.sketch) {
            Ok(s) if s.kind() == window.kind => s,
            Ok(s) => {
                self.bad_sketches += 1;
                return Err(Refused::BadSketch(format!(
                    "{} bytes in a {} window",
                    s.kind(),
                    window.kind
                )));
            }
            Err(e) => {
                self.bad_sketches += 1;
                return Err(Refused::BadSketch(e.to_string()));
            }
        };
        let entry = self.kinds.entry(window.kind).or_default();
        if let Some(agg) = entry.minutes.get_mut(&minute) {
            if let Err(e) = agg.merge(&sketch) {
                self.bad_sketches += 1;
                return Err(Refused::BadSketch(e.to_string()));
            }
        } else {
            entry.minutes.insert(minute, sketch.clone());
        }
        self.keep(window, Some(sketch));
        Ok(())
    }

    /// Stores a checked window (already in its minute) in its slot;
    /// `decoded` is its sketch when it was decoded.
    fn keep(&mut self, window: &WindowSnapshot, decoded: Option<Sketch>) {
        let start = window.window_start_ms;
        let entry = self.kinds.entry(window.kind).or_default();
        match entry.slots.get_mut(&start) {
            Some(slot) => {
                slot.count += window.count;
                match (&mut slot.sketch, &decoded) {
                    // Same kind and parameters: checked against the minute.
                    (SlotSketch::Decoded(s), Some(d)) => {
                        let _ = s.merge(d);
                    }
                    // Only HDR windows come undecoded, and HDR slots keep bytes.
                    (SlotSketch::Decoded(_), None) => {}
                    (SlotSketch::Encoded(parts), _) => parts.push(window.sketch.clone()),
                }
            }
            None => {
                let stored = match decoded {
                    Some(d) if !keeps_encoded(window.kind) => SlotSketch::Decoded(Box::new(d)),
                    _ => SlotSketch::Encoded(vec![window.sketch.clone()]),
                };
                entry.slots.insert(
                    start,
                    Slot {
                        count: window.count,
                        sketch: stored,
                    },
                );
            }
        }
        self.seen.insert(window.snapshot_key());
        for ((kind, step, _), cache) in &mut self.lines {
            forget_bucket(cache, *kind == window.kind, start, *step);
        }
        for ((kind, step), cache) in &mut self.mass {
            forget_bucket(cache, *kind == window.kind, start, *step);
        }
    }

    /// Kinds with at least one window.
    pub fn kinds(&self) -> Vec<SketchKind> {
        let mut kinds: Vec<SketchKind> = self.kinds.keys().copied().collect();
        kinds.sort_by_key(|k| SketchKind::ALL.iter().position(|a| a == k));
        kinds
    }

    /// Values in the windows of `kind` starting in `[from, to)`.
    pub fn count_in(&self, kind: SketchKind, from: i64, to: i64) -> u64 {
        if from >= to {
            return 0;
        }
        self.kinds
            .get(&kind)
            .map_or(0, |k| k.slots.range(from..to).map(|(_, s)| s.count).sum())
    }

    /// Every window of `kind` starting in `[from, to)` (the range convention
    /// of [`shared::range`]), merged (whole minutes from the aggregates).
    /// `None` if there is none.
    pub fn merged(&self, kind: SketchKind, from: i64, to: i64) -> Option<Sketch> {
        let k = self.kinds.get(&kind)?;
        if from >= to {
            return None;
        }
        let mut acc = None;
        // Minutes wholly inside the range: starts in [lo, hi).
        let lo = bucket_start(from, MINUTE_MS);
        let lo = if lo < from { lo + MINUTE_MS } else { lo };
        let hi = bucket_start(to, MINUTE_MS);
        if lo < hi {
            for (_, s) in k.slots.range(from..lo) {
                s.merge_into(&mut acc);
            }
            for (_, m) in k.minutes.range(lo..hi) {
                merge_into(&mut acc, m);
            }
            for (_, s) in k.slots.range(hi..to) {
                s.merge_into(&mut acc);
            }
        } else {
            for (_, s) in k.slots.range(from..to) {
                s.merge_into(&mut acc);
            }
        }
        acc
    }

    /// Quantile lines of `kind`: one point per epoch-aligned `step` ms
    /// bucket holding a window that starts in `[from, to)`; point `b` merges
    /// the windows starting in `[b, b + step) ∩ [from, to)` — the same
    /// buckets `/api/series` gives for the same range. Whole buckets are
    /// cached until a window lands in them.
    pub fn lines(
        &mut self,
        kind: SketchKind,
        from: i64,
        to: i64,
        step: i64,
        qs: &[f64],
    ) -> Vec<(i64, Vec<Option<f64>>)> {
        let step = step.max(1);
        let starts = self.bucket_starts(kind, from, to, step);
        let cache_key = (kind, step, qs.iter().map(|q| q.to_bits()).collect::<Vec<_>>());
        let mut cache = self.lines.remove(&cache_key).unwrap_or_default();
        let range = TimeRange::new(from, to);
        let out = through_cache(&mut cache, starts, range, step, |lo, hi| {
            match self.merged(kind, lo, hi) {
                Some(s) => match s.quantiles(qs) {
                    Ok(v) => v.into_iter().map(Some).collect(),
                    Err(_) => vec![None; qs.len()],
                },
                None => vec![None; qs.len()],
            }
        });
        self.lines.insert(cache_key, cache);
        out
    }

    /// Starts of the `step` ms buckets that hold windows of `kind` starting in `[from, to)`.
    fn bucket_starts(&self, kind: SketchKind, from: i64, to: i64, step: i64) -> Vec<i64> {
        let Some(k) = self.kinds.get(&kind).filter(|_| from < to) else {
            return Vec::new();
        };
        let mut starts: Vec<i64> = k
            .slots
            .range(from..to)
            .map(|(s, _)| bucket_start(*s, step))
            .collect();
        starts.dedup();
        starts
    }

    /// `(bucket start, mass points of its merged windows)` per `step` ms
    /// bucket that holds windows starting in `[from, to)` (heatmap columns).
    /// Like [`Self::lines`], buckets are cut by the range and whole ones
    /// cached until a window lands in them, so a refresh only merges the
    /// newest column.
    pub fn bucket_mass_points(
        &mut self,
        kind: SketchKind,
        from: i64,
        to: i64,
        step: i64,
    ) -> Vec<(i64, Vec<(f64, f64)>)> {
        let step = step.max(1);
        let starts = self.bucket_starts(kind, from, to, step);
        let mut cache = self.mass.remove(&(kind, step)).unwrap_or_default();
        let range = TimeRange::new(from, to);
        let mut out = through_cache(&mut cache, starts, range, step, |lo, hi| {
            self.merged(kind, lo, hi)
                .map(|s| s.mass_points())
                .unwrap_or_default()
        });
        self.mass.insert((kind, step), cache);
        out.retain(|(_, points)| !points.is_empty());
        out
    }

    /// Drops windows (and aggregates) that start before `cutoff`.
    pub fn forget_before(&mut self, cutoff: i64) {
        for k in self.kinds.values_mut() {
            k.slots = k.slots.split_off(&cutoff);
            k.minutes = k.minutes.split_off(&(cutoff.div_euclid(MINUTE_MS) * MINUTE_MS));
        }
        self.seen.retain(|key| key.4 >= cutoff);
        for cache in self.lines.values_mut() {
            *cache = cache.split_off(&cutoff);
        }
        for cache in self.mass.values_mut() {
            *cache = cache.split_off(&cutoff);
        }
    }
}

/// A round step for about `points` buckets over `span_ms`, never finer than
/// the window length.
pub fn step_for(span_ms: i64, points: i64, window_ms: i64) -> i64 {
    const NICE: [i64; 16] = [
        1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000,
        3_600_000, 7_200_000, 21_600_000, 86_400_000,
    ];
    let want = span_ms / points.max(1);
    let nice = NICE.iter().copied().find(|&n| n >= want).unwrap_or(86_400_000);
    nice.max(window_ms)
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
            serde_json::from_str(include_str!("../../shared/tests/fixtures/range_cases.json"))
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
