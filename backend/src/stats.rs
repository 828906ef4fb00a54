//! Counters of the pipeline, cheap enough for the per-message path.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

use crate::record::RejectReason;

/// Where a rejected item came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectSource {
    /// A CSV row (`mss produce`, or `mss serve` with `--csv`).
    Csv,
    /// A Kafka payload (`mss consume`, `mss serve`).
    Payload,
}

/// Process-wide counters.
#[derive(Debug)]
pub struct Stats {
    /// When the process started.
    pub started: Instant,
    /// Good records inserted into the window sketches.
    pub messages: AtomicU64,
    /// Records this process produced (serve with a source, produce).
    pub produced: AtomicU64,
    /// Records whose delivery failed.
    pub produce_errors: AtomicU64,
    /// Windows closed (all partitions, all kinds).
    pub windows_closed: AtomicU64,
    /// Records delivered again after a rebalance and skipped (already counted).
    pub redelivered: AtomicU64,
    /// Records taken after their partition was revoked here and not
    /// inserted (the next owner consumes them from the committed offset).
    pub ignored_after_revoke: AtomicU64,
    /// Records that arrived after a newer record of their partition (never
    /// expected; not counted; logged at the 1st, 2nd, 4th …).
    pub out_of_order: AtomicU64,
    /// Offsets never delivered between two records of a partition
    /// (transaction markers, compaction, retention, or a jumped fetch).
    pub offsets_skipped: AtomicU64,
    /// Windows that could not be stored (a poisoned store lock).
    pub store_failures: AtomicU64,
    /// Operations skipped because a lock was poisoned (each also logged).
    pub lock_failures: crate::poisoned_locks::PoisonedLocks,
    /// Revocations whose release did not finish within `--revoke-timeout`
    /// (released uncommitted: at-least-once from then on).
    pub revoke_timeouts: AtomicU64,
    /// Revocations whose release failed before the sketch log acknowledged
    /// the cuts (not committed; at-least-once from then on).
    pub revoke_failures: AtomicU64,
    /// Revocations whose cuts the sketch log acknowledged but whose commit
    /// failed (the next owner reads the cuts back: nothing counted twice).
    pub revoke_commit_failures: AtomicU64,
    /// Times the consumer left and joined the group again because a
    /// partition stalled behind a member that is gone.
    pub consumer_restarts: AtomicU64,
    /// Stalls not acted on: the gap past the commit held only control
    /// records (transaction markers).
    pub stall_marker_gaps: AtomicU64,
    /// OTLP data points inserted (each holds many values).
    pub otlp_points: AtomicU64,
    /// OTLP points already counted (a repeated export or cumulative point).
    pub otlp_duplicates: AtomicU64,
    /// First cumulative points of a stream with an old start: kept as the
    /// baseline only (see `otlp::temporality`).
    pub otlp_baseline_only: AtomicU64,
    /// What a view's sketch-log reader ignored or flagged.
    pub sketch_log: SketchLogCounts,
    /// Rejected CSV rows by reason.
    rejected_csv: [AtomicU64; RejectReason::ALL.len()],
    /// Rejected payloads by reason.
    rejected_payload: [AtomicU64; RejectReason::ALL.len()],
    /// `(seconds since start, messages)` samples for the recent rate.
    samples: Mutex<Vec<(f64, u64)>>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            messages: AtomicU64::new(0),
            produced: AtomicU64::new(0),
            produce_errors: AtomicU64::new(0),
            windows_closed: AtomicU64::new(0),
            redelivered: AtomicU64::new(0),
            ignored_after_revoke: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
            offsets_skipped: AtomicU64::new(0),
            store_failures: AtomicU64::new(0),
            lock_failures: Default::default(),
            revoke_timeouts: AtomicU64::new(0),
            revoke_failures: AtomicU64::new(0),
            revoke_commit_failures: AtomicU64::new(0),
            consumer_restarts: AtomicU64::new(0),
            stall_marker_gaps: AtomicU64::new(0),
            otlp_points: AtomicU64::new(0),
            otlp_duplicates: AtomicU64::new(0),
            otlp_baseline_only: AtomicU64::new(0),
            sketch_log: SketchLogCounts::default(),
            rejected_csv: Default::default(),
            rejected_payload: Default::default(),
            samples: Mutex::new(Vec::new()),
        }
    }
}

impl Stats {
    /// Counts one rejected item.
    pub fn reject(&self, source: RejectSource, reason: RejectReason) {
        self.reject_many(source, reason, 1);
    }

    /// Counts `n` rejected items (the values of an OTLP bucket).
    pub fn reject_many(&self, source: RejectSource, reason: RejectReason, n: u64) {
        self.table(source)[reason.index()].fetch_add(n, Relaxed);
        metrics::counter!("mss_rejected_total", "source" => match source {
            RejectSource::Csv => "csv",
            RejectSource::Payload => "payload",
        }, "reason" => reason.name())
        .increment(n);
    }

    fn table(&self, source: RejectSource) -> &[AtomicU64; RejectReason::ALL.len()] {
        match source {
            RejectSource::Csv => &self.rejected_csv,
            RejectSource::Payload => &self.rejected_payload,
        }
    }

    /// Rejected count of `source` for one reason.
    pub fn rejected_count(&self, source: RejectSource, reason: RejectReason) -> u64 {
        self.table(source)[reason.index()].load(Relaxed)
    }

    /// Every source's non-zero rejections by reason, with the source's name
    /// (`csv`, `payload`): the one list `/api/summary` and the stats frame show.
    pub fn rejected_by_source(&self) -> [(&'static str, Vec<(RejectReason, u64)>); 2] {
        [
            ("csv", self.rejected(RejectSource::Csv)),
            ("payload", self.rejected(RejectSource::Payload)),
        ]
    }

    /// Rejected count of `source` by reason (non-zero only).
    pub fn rejected(&self, source: RejectSource) -> Vec<(RejectReason, u64)> {
        let table = self.table(source);
        RejectReason::ALL
            .iter()
            .map(|&r| (r, table[r.index()].load(Relaxed)))
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    /// Total rejected of `source`.
    pub fn rejected_total(&self, source: RejectSource) -> u64 {
        // No allocation: the producer's flow control reads this per record.
        self.table(source).iter().map(|n| n.load(Relaxed)).sum()
    }

    /// Seconds since start.
    pub fn runtime_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Messages per second since start.
    pub fn throughput(&self) -> f64 {
        let t = self.runtime_s();
        if t > 0.0 {
            self.messages.load(Relaxed) as f64 / t
        } else {
            0.0
        }
    }

    /// Records a sample for [`Self::recent_throughput`] (called once a second).
    pub fn sample(&self) {
        let now = self.runtime_s();
        let messages = self.messages.load(Relaxed);
        match self.samples.lock() {
            Ok(mut samples) => {
                samples.push((now, messages));
                let keep_from = samples.len().saturating_sub(11);
                samples.drain(..keep_from);
            }
            Err(_) => self.lock_failures.note("throughput samples", "sample skipped"),
        }
    }

    /// Messages per second over the last ~10 s.
    pub fn recent_throughput(&self) -> f64 {
        let Ok(samples) = self.samples.lock() else {
            self.lock_failures
                .note("throughput samples", "throughput shown as 0");
            return 0.0;
        };
        match (samples.first(), samples.last()) {
            (Some(&(t0, m0)), Some(&(t1, m1))) if t1 > t0 => (m1 - m0) as f64 / (t1 - t0),
            _ => 0.0,
        }
    }
}

/// What a view's sketch-log reader ignored or flagged (see
/// [`crate::sketch_log::assembler`]); also on `/metrics` as
/// `mss_sketch_log_cuts_total{outcome}`.
#[derive(Debug, Default)]
pub struct SketchLogCounts {
    incomplete_cuts: AtomicU64,
    duplicate_chunks: AtomicU64,
    stale_cuts: AtomicU64,
    overlapping_cuts: AtomicU64,
    malformed_chunks: AtomicU64,
    gapped_cuts: AtomicU64,
}

impl SketchLogCounts {
    /// Takes the assembler's running totals.
    pub fn record(&self, counts: crate::sketch_log::assembler::AssemblyCounts) {
        let fields = [
            (&self.incomplete_cuts, counts.incomplete_cuts, "incomplete"),
            (&self.duplicate_chunks, counts.duplicate_chunks, "duplicate_chunk"),
            (&self.stale_cuts, counts.stale_cuts, "stale"),
            (&self.overlapping_cuts, counts.overlapping_cuts, "overlapping"),
            (&self.malformed_chunks, counts.malformed_chunks, "malformed_chunk"),
            (&self.gapped_cuts, counts.gapped_cuts, "gapped"),
        ];
        for (field, value, outcome) in fields {
            if field.swap(value, Relaxed) != value {
                metrics::counter!("mss_sketch_log_cuts_total", "outcome" => outcome).absolute(value);
            }
        }
    }

    /// The totals, as the assembler counted them.
    pub fn get(&self) -> crate::sketch_log::assembler::AssemblyCounts {
        crate::sketch_log::assembler::AssemblyCounts {
            incomplete_cuts: self.incomplete_cuts.load(Relaxed),
            duplicate_chunks: self.duplicate_chunks.load(Relaxed),
            stale_cuts: self.stale_cuts.load(Relaxed),
            overlapping_cuts: self.overlapping_cuts.load(Relaxed),
            malformed_chunks: self.malformed_chunks.load(Relaxed),
            gapped_cuts: self.gapped_cuts.load(Relaxed),
        }
    }
}
