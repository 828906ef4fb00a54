//! One merged view of closed windows (all series, or one group): every
//! partition's windows merged per sketch kind and window start, with
//! 1-minute aggregates so a range of any length is a few dozen merges.
//!
//! Dense HDR histograms (~140 KB decoded, ~2 KB on the wire) are kept as
//! their wire bytes and decoded when a range needs them; the other kinds are
//! kept decoded. Minute aggregates are always decoded.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use shared::protocol::WindowSnapshot;
use shared::range::{bucket_start, TimeRange};
use shared::{BatchMerge, Sketch, SketchKind};

use super::Refused;

/// Length of the aggregates, ms.
pub const MINUTE_MS: i64 = 60_000;

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

/// The windows of one view (all series, or one group), merged.
#[derive(Debug, Default)]
pub struct SeriesWindows {
    kinds: HashMap<SketchKind, KindWindows>,
    /// `(kind, step, quantiles as bits)` → bucket start → values.
    lines: HashMap<(SketchKind, i64, Vec<u64>), LineCache>,
    /// `(kind, step)` → bucket start → mass points (heatmap columns).
    mass: HashMap<(SketchKind, i64), MassCache>,
    /// Merges that failed: into a range (see `RangeMerge`) or into a slot.
    /// (Atomic only so the store stays `Sync`, as a `StoredValue` needs.)
    merge_failures: AtomicU64,
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

/// One range's windows being merged. Windows of one kind from one server
/// share parameters and were checked at insert, so a merge that fails here
/// is a bug: it is counted ([`SeriesWindows::merge_failures`]), not skipped
/// silently.
#[derive(Default)]
struct RangeMerge {
    acc: Option<BatchMerge>,
    failures: u64,
}

impl RangeMerge {
    fn add_sketch(&mut self, sketch: &Sketch) {
        match &mut self.acc {
            Some(a) => self.failures += u64::from(a.merge(sketch).is_err()),
            None => self.acc = Some(BatchMerge::new(sketch.clone())),
        }
    }

    /// Counts straight from the bytes, summed by index: no histogram built
    /// per window.
    fn add_bytes(&mut self, bytes: &[u8]) {
        match &mut self.acc {
            Some(a) => self.failures += u64::from(a.merge_encoded(bytes).is_err()),
            None => match Sketch::decode(bytes) {
                Ok(first) => self.acc = Some(BatchMerge::new(first)),
                Err(_) => self.failures += 1,
            },
        }
    }

    /// The merged sketch (if any window was merged) and the failures.
    fn finish(self) -> (Option<Sketch>, u64) {
        match self.acc.map(BatchMerge::finish) {
            Some(Ok(sketch)) => (Some(sketch), self.failures),
            Some(Err(_)) => (None, self.failures + 1),
            None => (None, self.failures),
        }
    }
}

/// The window's sketch, refused when it does not decode or is of another kind.
fn decode_checked(window: &WindowSnapshot) -> Result<Sketch, Refused> {
    match Sketch::decode(&window.sketch) {
        Ok(s) if s.kind() == window.kind => Ok(s),
        Ok(s) => Err(Refused::BadSketch(format!(
            "{} bytes in a {} window",
            s.kind(),
            window.kind
        ))),
        Err(e) => Err(Refused::BadSketch(e.to_string())),
    }
}

impl Slot {
    fn merge_into(&self, acc: &mut RangeMerge) {
        match &self.sketch {
            SlotSketch::Decoded(s) => acc.add_sketch(s),
            SlotSketch::Encoded(parts) => parts.iter().for_each(|bytes| acc.add_bytes(bytes)),
        }
    }
}

impl SeriesWindows {
    /// Adds one checked-for-duplicates window. `decoded` is its sketch once
    /// someone decoded it (shared between the views a window goes to); an
    /// HDR window joining an existing minute is merged from its bytes.
    pub fn add(&mut self, window: &WindowSnapshot, decoded: &mut Option<Sketch>) -> Result<(), Refused> {
        let minute = bucket_start(window.window_start_ms, MINUTE_MS);
        if keeps_encoded(window.kind) && decoded.is_none() {
            // Checked and added to its minute straight from the bytes.
            if let Some(agg) = self
                .kinds
                .get_mut(&window.kind)
                .and_then(|k| k.minutes.get_mut(&minute))
            {
                agg.merge_encoded(&window.sketch)
                    .map_err(|e| Refused::BadSketch(e.to_string()))?;
                self.keep(window, None);
                return Ok(());
            }
        }
        let sketch = match decoded {
            Some(s) => s.clone(),
            None => {
                let s = decode_checked(window)?;
                *decoded = Some(s.clone());
                s
            }
        };
        let entry = self.kinds.entry(window.kind).or_default();
        if let Some(agg) = entry.minutes.get_mut(&minute) {
            agg.merge(&sketch)
                .map_err(|e| Refused::BadSketch(e.to_string()))?;
        } else {
            entry.minutes.insert(minute, sketch.clone());
        }
        self.keep(window, Some(sketch));
        Ok(())
    }

    /// Whether no window is kept.
    pub fn kinds_is_empty(&self) -> bool {
        self.kinds
            .values()
            .all(|k| k.slots.is_empty() && k.minutes.is_empty())
    }

    /// Start of the oldest window of `kind`.
    pub fn first_start(&self, kind: SketchKind) -> Option<i64> {
        self.kinds.get(&kind).and_then(|k| k.slots.keys().next().copied())
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
                        if s.merge(d).is_err() {
                            self.merge_failures.fetch_add(1, Relaxed);
                        }
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
        let mut acc = RangeMerge::default();
        // Minutes wholly inside the range: starts in [lo, hi).
        let lo = bucket_start(from, MINUTE_MS);
        let lo = if lo < from { lo + MINUTE_MS } else { lo };
        let hi = bucket_start(to, MINUTE_MS);
        if lo < hi {
            for (_, s) in k.slots.range(from..lo) {
                s.merge_into(&mut acc);
            }
            for (_, m) in k.minutes.range(lo..hi) {
                acc.add_sketch(m);
            }
            for (_, s) in k.slots.range(hi..to) {
                s.merge_into(&mut acc);
            }
        } else {
            for (_, s) in k.slots.range(from..to) {
                s.merge_into(&mut acc);
            }
        }
        let (merged, failures) = acc.finish();
        self.merge_failures.fetch_add(failures, Relaxed);
        merged
    }

    /// Windows or aggregates that failed to merge into a range so far
    /// (none expected: everything stored was checked at insert).
    pub fn merge_failures(&self) -> u64 {
        self.merge_failures.load(Relaxed)
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

    fn sketch(kind: SketchKind, values: &[f64]) -> Sketch {
        let mut s = Sketch::with_defaults(kind);
        s.insert_slice(values).expect("valid values");
        s
    }

    #[test]
    fn a_range_merge_counts_what_it_could_not_merge() {
        let mut range = RangeMerge::default();
        range.add_bytes(b"not a sketch");
        range.add_bytes(&sketch(SketchKind::HdrHistogram, &[3.0, 4.0]).encode());
        range.add_sketch(&sketch(SketchKind::QuantileFlow, &[5.0]));
        range.add_bytes(&sketch(SketchKind::HdrHistogram, &[6.0]).encode());
        let (merged, failures) = range.finish();
        assert_eq!(failures, 2, "the garbage and the other kind");
        assert_eq!(merged.map(|s| s.count()), Some(3));
    }
}
