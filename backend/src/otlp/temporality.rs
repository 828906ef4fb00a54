//! Cumulative points to deltas, per stream, and duplicate delta points.
//!
//! A partition keeps one [`StreamState`] per stream (the full identity of
//! [`super::points`]): for a cumulative stream the previous point's bucket
//! counts, for a delta stream the `(start, time)` of its recent points.
//! - Cumulative, same start, later time: the difference is inserted. A
//!   bucket that went down is a reset: the whole point is inserted.
//! - Cumulative, newer start (the sender restarted): the whole point.
//! - Cumulative, no baseline: the whole point when its interval is at most
//!   `fresh_ns` long (a stream that started recently), else it only becomes
//!   the baseline — its values may have been counted before the baseline
//!   was lost, and counting them twice is worse than missing one interval.
//! - Cumulative at or before the baseline's time, or with an older start;
//!   delta with a `(start, time)` seen recently: a duplicate, not inserted.
//!
//! The states changed since the previous cut are published with the cut in
//! the sketch log and read back on assignment, so a rebalance or a restart
//! neither loses nor double-counts a point.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::points::{Buckets, Point, Temporality};

/// Streams kept per partition; past it the oldest tenth is forgotten.
pub const MAX_STREAMS: usize = 100_000;
/// Recent `(start, time)` pairs kept per delta stream.
const RECENT: usize = 8;

/// Owned bucket counts (a point's, a baseline's, or a difference).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Counts {
    /// Explicit bounds and counts.
    Explicit {
        /// Upper bounds.
        bounds: Vec<f64>,
        /// Counts, one more than the bounds.
        counts: Vec<u64>,
    },
    /// Exponential buckets.
    Exponential {
        /// Scale.
        scale: i32,
        /// Zero bucket.
        zero: u64,
        /// Positive buckets: first index, counts.
        positive: (i32, Vec<u64>),
        /// Negative buckets: first index, counts.
        negative: (i32, Vec<u64>),
    },
}

impl Counts {
    /// The counts of a point's buckets.
    pub fn of(buckets: &Buckets<'_>) -> Self {
        match *buckets {
            Buckets::Explicit { bounds, counts } => Counts::Explicit {
                bounds: bounds.to_vec(),
                counts: counts.to_vec(),
            },
            Buckets::Exponential {
                scale,
                zero_count,
                positive,
                negative,
            } => Counts::Exponential {
                scale,
                zero: zero_count,
                positive: (positive.0, positive.1.to_vec()),
                negative: (negative.0, negative.1.to_vec()),
            },
        }
    }

    /// `self − earlier`, or `None` when a bucket went down or the layouts
    /// differ (a reset). Exponential counts are compared at the coarser
    /// scale (an SDK lowers the scale as its range grows).
    pub fn minus(&self, earlier: &Counts) -> Option<Counts> {
        match (self, earlier) {
            (
                Counts::Explicit { bounds, counts },
                Counts::Explicit {
                    bounds: b0,
                    counts: c0,
                },
            ) => {
                if bounds != b0 || counts.len() != c0.len() {
                    return None;
                }
                let diff = counts
                    .iter()
                    .zip(c0)
                    .map(|(a, b)| a.checked_sub(*b))
                    .collect::<Option<Vec<u64>>>()?;
                Some(Counts::Explicit {
                    bounds: bounds.clone(),
                    counts: diff,
                })
            }
            (
                Counts::Exponential {
                    scale,
                    zero,
                    positive,
                    negative,
                },
                Counts::Exponential {
                    scale: s0,
                    zero: z0,
                    positive: p0,
                    negative: n0,
                },
            ) => {
                let scale_to = (*scale).min(*s0);
                let (p, n) = (
                    downscale(positive, scale - scale_to),
                    downscale(negative, scale - scale_to),
                );
                let (p0, n0) = (downscale(p0, s0 - scale_to), downscale(n0, s0 - scale_to));
                Some(Counts::Exponential {
                    scale: scale_to,
                    zero: zero.checked_sub(*z0)?,
                    positive: subtract(&p, &p0)?,
                    negative: subtract(&n, &n0)?,
                })
            }
            _ => None,
        }
    }

    /// Values counted.
    pub fn total(&self) -> u64 {
        match self {
            Counts::Explicit { counts, .. } => counts.iter().sum(),
            Counts::Exponential {
                zero,
                positive,
                negative,
                ..
            } => zero + positive.1.iter().sum::<u64>() + negative.1.iter().sum::<u64>(),
        }
    }
}

/// Buckets `(offset, counts)` at a scale `by` steps coarser: index `i`
/// becomes `i >> by` (floor, also for negative indices).
fn downscale(buckets: &(i32, Vec<u64>), by: i32) -> (i32, Vec<u64>) {
    let (offset, counts) = buckets;
    if by <= 0 || counts.is_empty() {
        return (*offset, counts.clone());
    }
    let by = by.min(31) as u32;
    let first = offset >> by;
    let last = (offset + counts.len() as i32 - 1) >> by;
    let mut out = vec![0u64; (last - first + 1) as usize];
    for (i, &c) in counts.iter().enumerate() {
        let index = ((offset + i as i32) >> by) - first;
        out[index as usize] += c;
    }
    (first, out)
}

/// `a − b` bucket by bucket, `None` if any bucket of `b` exceeds `a`'s.
fn subtract(a: &(i32, Vec<u64>), b: &(i32, Vec<u64>)) -> Option<(i32, Vec<u64>)> {
    let (offset, counts) = a;
    let mut out = counts.clone();
    for (j, &c) in b.1.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let index = i64::from(b.0) + j as i64 - i64::from(*offset);
        let slot = usize::try_from(index).ok().and_then(|i| out.get_mut(i))?;
        *slot = slot.checked_sub(c)?;
    }
    Some((*offset, out))
}

/// What one stream remembers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    /// Start of the last point's interval, ns.
    pub start_ns: u64,
    /// End of the last point's interval, ns.
    pub time_ns: u64,
    /// Cumulative streams: the last point's counts.
    pub counts: Option<Counts>,
    /// Delta streams: recent `(start, time)` pairs.
    pub recent: Vec<(u64, u64)>,
}

/// What to do with a point.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Insert these counts.
    Insert(Counts),
    /// Seen already: insert nothing.
    Duplicate,
    /// A cumulative stream seen for the first time with an old start: it
    /// becomes the baseline, nothing is inserted.
    BaselineOnly,
}

/// The streams of one partition.
#[derive(Debug, Default)]
pub struct Baselines {
    streams: HashMap<u64, StreamState>,
    changed: BTreeSet<u64>,
}

impl Baselines {
    /// What to insert for `point`, updating its stream. `fresh_ns`: the
    /// longest interval of a first cumulative point that is inserted whole.
    pub fn observe(&mut self, point: &Point<'_>, fresh_ns: u64) -> Change {
        let change = match point.temporality {
            Temporality::Delta => self.observe_delta(point),
            Temporality::Cumulative => self.observe_cumulative(point, fresh_ns),
        };
        if change != Change::Duplicate {
            self.changed.insert(point.stream);
            if self.streams.len() > MAX_STREAMS {
                self.forget_oldest();
            }
        }
        change
    }

    fn observe_delta(&mut self, point: &Point<'_>) -> Change {
        let pair = (point.start_ns, point.time_ns);
        let state = self.streams.entry(point.stream).or_insert_with(|| StreamState {
            start_ns: pair.0,
            time_ns: pair.1,
            counts: None,
            recent: Vec::new(),
        });
        if state.recent.contains(&pair) {
            return Change::Duplicate;
        }
        if state.recent.len() == RECENT {
            state.recent.remove(0);
        }
        state.recent.push(pair);
        state.start_ns = pair.0;
        state.time_ns = state.time_ns.max(pair.1);
        Change::Insert(Counts::of(&point.buckets))
    }

    fn observe_cumulative(&mut self, point: &Point<'_>, fresh_ns: u64) -> Change {
        let counts = Counts::of(&point.buckets);
        let change = match self.streams.get(&point.stream) {
            None if point.time_ns.saturating_sub(point.start_ns) <= fresh_ns => {
                Change::Insert(counts.clone())
            }
            None => Change::BaselineOnly,
            Some(prev) if point.start_ns < prev.start_ns => return Change::Duplicate,
            Some(prev) if point.start_ns == prev.start_ns && point.time_ns <= prev.time_ns => {
                return Change::Duplicate
            }
            Some(prev) if point.start_ns == prev.start_ns => {
                let earlier = prev.counts.as_ref();
                Change::Insert(
                    earlier
                        .and_then(|e| counts.minus(e))
                        .unwrap_or_else(|| counts.clone()),
                )
            }
            // A newer start: the sender restarted, everything is new.
            Some(_) => Change::Insert(counts.clone()),
        };
        self.streams.insert(
            point.stream,
            StreamState {
                start_ns: point.start_ns,
                time_ns: point.time_ns,
                counts: Some(counts),
                recent: Vec::new(),
            },
        );
        change
    }

    fn forget_oldest(&mut self) {
        let mut times: Vec<u64> = self.streams.values().map(|s| s.time_ns).collect();
        let cut = times.len() / 10;
        let (_, &mut oldest_kept, _) = times.select_nth_unstable(cut);
        self.streams.retain(|_, s| s.time_ns >= oldest_kept);
        tracing::warn!(
            kept = self.streams.len(),
            "OTLP streams past {MAX_STREAMS} in a partition: the oldest tenth forgotten"
        );
    }

    /// The states changed since the last call (published with a cut).
    pub fn take_changed(&mut self) -> Vec<(u64, StreamState)> {
        std::mem::take(&mut self.changed)
            .into_iter()
            .filter_map(|id| self.streams.get(&id).map(|s| (id, s.clone())))
            .collect()
    }

    /// Takes states read back from the sketch log (later ones win).
    pub fn restore(&mut self, states: impl IntoIterator<Item = (u64, StreamState)>) {
        self.streams.extend(states);
    }

    /// Streams known.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether no stream is known.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }
}
