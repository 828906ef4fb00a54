//! The `/api/summary` document and the terminal report built from it.
//!
//! ```json
//! {"sketch":"quantileflow","messages_processed":N,"data_points":N,"runtime_s":F,
//!  "throughput_msg_s":F,"recent_throughput_msg_s":F,"mean":F,
//!  "current":{"block_id":"blk_..","latency":F},"quantiles":{"0.5":F,"0.95":F,"0.99":F},
//!  "rejected":{"csv":N,"payload":N},"rejected_by_reason":{"csv":{..},"payload":{..}},
//!  "produced":N,"windows_closed":N,
//!  "partitions":[{"partition":0,"offset":N,"lag":N,"committed":N,"start_offset":N}],
//!  "assigned":[{"topic":"latency-metrics","partition":0}]}
//! ```
//! `quantiles` merges every partition and every retained window (plus the
//! open ones) of the chosen sketch; never an average of percentiles.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use serde::Serialize;
use shared::SketchKind;

use crate::ingest::Pipeline;
use crate::stats::RejectSource;

/// Latest record seen.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Current {
    /// Block id.
    pub block_id: String,
    /// Latency (ms).
    pub latency: f64,
}

/// Rejected totals.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rejected {
    /// CSV rows refused by this process's producer.
    pub csv: u64,
    /// Kafka payloads refused by this process's consumer.
    pub payload: u64,
}

/// One partition's position.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PartitionSummary {
    /// Source topic.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
    /// Highest offset consumed (−1 before the first record).
    pub offset: i64,
    /// Records in the partition not consumed yet (from the high watermark).
    pub lag: i64,
    /// Next offset this process committed (−1 if none yet); an async commit
    /// counts once sent, and the broker may not hold it yet.
    pub committed: i64,
    /// First offset this process consumed here: where it resumed (−1 if none).
    pub start_offset: i64,
}

/// A partition this process holds in its consumer group right now.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AssignedPartition {
    /// Source topic.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
}

/// The summary document.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Sketch kind the quantiles come from.
    pub sketch: SketchKind,
    /// Good records inserted by this process.
    pub messages_processed: u64,
    /// Values in the merged sketch (retained windows).
    pub data_points: u64,
    /// Seconds since the process started.
    pub runtime_s: f64,
    /// Messages per second since start.
    pub throughput_msg_s: f64,
    /// Messages per second over the last ~10 s.
    pub recent_throughput_msg_s: f64,
    /// Mean latency of the merged sketch.
    pub mean: Option<f64>,
    /// Latest record.
    pub current: Option<Current>,
    /// Requested quantiles (keys as written in the request).
    pub quantiles: BTreeMap<String, Option<f64>>,
    /// Rejected totals.
    pub rejected: Rejected,
    /// Rejected counts by source and reason.
    pub rejected_by_reason: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    /// Records produced by this process.
    pub produced: u64,
    /// Windows closed so far (all kinds).
    pub windows_closed: u64,
    /// Records delivered again after a rebalance and skipped (already counted).
    pub redelivered: u64,
    /// Records taken after their partition was revoked here and not
    /// inserted (the next owner consumes them from the committed offset).
    pub ignored_after_revoke: u64,
    /// Records that arrived after a newer record of their partition (never
    /// expected; not counted).
    pub out_of_order: u64,
    /// Offsets never delivered between two records of a partition
    /// (transaction markers, compaction, retention, or a jumped fetch).
    pub offsets_skipped: u64,
    /// OTLP: points inserted, repeats not inserted, first cumulative points
    /// kept as baselines only.
    pub otlp: OtlpSummary,
    /// The counting guarantee claimed: `exactly-once` (sketch log, every
    /// revocation committed in time) or `at-least-once`; absent where the
    /// process consumes nothing itself (a view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<&'static str>,
    /// Revocations released uncommitted past `--revoke-timeout`.
    pub revoke_timeouts: u64,
    /// Revocations whose release failed before the sketch log acknowledged
    /// the cuts.
    pub revoke_failures: u64,
    /// Revocations whose cuts are in the sketch log but whose commit failed
    /// (nothing counted twice: the next owner skips them).
    pub revoke_commit_failures: u64,
    /// Times the consumer rejoined the group because a partition stalled
    /// behind a member that is gone (`--stall-restart`).
    pub consumer_restarts: u64,
    /// Apparent stalls whose gap held only control records (transaction
    /// markers): not acted on.
    pub stall_marker_gaps: u64,
    /// What a view's sketch-log reader ignored or flagged: incomplete
    /// cuts, duplicate chunks, stale cuts, overlapping cuts (records two
    /// owners counted), malformed chunks. Zero outside `mss view`.
    pub sketch_log: crate::sketch_log::assembler::AssemblyCounts,
    /// Positions of the partitions this process has consumed.
    pub partitions: Vec<PartitionSummary>,
    /// The partitions assigned to this process now (empty between a revoke
    /// and the next assignment, and in `mss view`).
    pub assigned: Vec<AssignedPartition>,
    /// Why the quantiles are missing, if they are (e.g. solver failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantile_error: Option<String>,
}

/// The map `key → estimate` of `sketch` for the `(key, q)` pairs `qs`
/// (`None` per key when there is no sketch, it is empty, or it cannot
/// answer — then with the reason). The one quantile map of every answer.
pub fn quantile_map(
    qs: &[(String, f64)],
    sketch: Option<&shared::Sketch>,
) -> (BTreeMap<String, Option<f64>>, Option<String>) {
    let mut map: BTreeMap<String, Option<f64>> = qs.iter().map(|(k, _)| (k.clone(), None)).collect();
    let Some(s) = sketch.filter(|s| !s.is_empty()) else {
        return (map, None);
    };
    let values: Vec<f64> = qs.iter().map(|(_, q)| *q).collect();
    match s.quantiles(&values) {
        Ok(v) => {
            for ((k, _), v) in qs.iter().zip(v) {
                map.insert(k.clone(), Some(v));
            }
            (map, None)
        }
        Err(e) => (map, Some(e.to_string())),
    }
}

/// Builds the summary for `kind` and quantiles `qs` (`(key, q)` pairs).
///
/// `wanted` selects the series of `quantiles`, `data_points`, `mean` and
/// `current`; the counters are process-wide.
pub fn build(
    pipeline: &Pipeline,
    kind: SketchKind,
    qs: &[(String, f64)],
    wanted: crate::window::store::SeriesFilter<'_>,
) -> Summary {
    let stats = &pipeline.stats;
    let merged = pipeline.merged_all(kind, wanted);
    let (quantiles, quantile_error) = quantile_map(qs, merged.as_ref());
    let rejected_by_reason = stats
        .rejected_by_source()
        .into_iter()
        .map(|(name, reasons)| (name, reasons.into_iter().map(|(r, n)| (r.name(), n)).collect()))
        .collect();
    let partitions = pipeline
        .positions()
        .iter()
        .map(|(&source, pos)| PartitionSummary {
            topic: pipeline.topic_name(source.topic),
            partition: source.partition,
            offset: pos.offset_or_none(),
            lag: pos.lag(),
            committed: pos.committed.unwrap_or(-1),
            start_offset: pos.start.unwrap_or(-1),
        })
        .collect();
    Summary {
        sketch: kind,
        messages_processed: stats.messages.load(Relaxed),
        data_points: merged.as_ref().map_or(0, |s| s.count()),
        runtime_s: stats.runtime_s(),
        throughput_msg_s: stats.throughput(),
        recent_throughput_msg_s: stats.recent_throughput(),
        mean: merged.as_ref().and_then(|s| s.mean()),
        current: pipeline
            .current(wanted)
            .map(|(block_id, latency)| Current { block_id, latency }),
        quantiles,
        rejected: Rejected {
            csv: stats.rejected_total(RejectSource::Csv),
            payload: stats.rejected_total(RejectSource::Payload),
        },
        rejected_by_reason,
        produced: stats.produced.load(Relaxed),
        windows_closed: stats.windows_closed.load(Relaxed),
        redelivered: stats.redelivered.load(Relaxed),
        ignored_after_revoke: stats.ignored_after_revoke.load(Relaxed),
        out_of_order: stats.out_of_order.load(Relaxed),
        offsets_skipped: stats.offsets_skipped.load(Relaxed),
        otlp: OtlpSummary {
            points: stats.otlp_points.load(Relaxed),
            duplicates: stats.otlp_duplicates.load(Relaxed),
            baseline_only: stats.otlp_baseline_only.load(Relaxed),
        },
        delivery: pipeline.delivery(),
        revoke_timeouts: stats.revoke_timeouts.load(Relaxed),
        revoke_failures: stats.revoke_failures.load(Relaxed),
        revoke_commit_failures: stats.revoke_commit_failures.load(Relaxed),
        consumer_restarts: stats.consumer_restarts.load(Relaxed),
        stall_marker_gaps: stats.stall_marker_gaps.load(Relaxed),
        sketch_log: stats.sketch_log.get(),
        partitions,
        assigned: pipeline
            .assigned()
            .into_iter()
            .map(|(source, _)| AssignedPartition {
                topic: pipeline.topic_name(source.topic),
                partition: source.partition,
            })
            .collect(),
        quantile_error,
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2} ms"))
}

/// The seed's terminal dashboard, as text.
pub fn report(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "==== mss latency dashboard ({}) ====", s.sketch);
    match &s.current {
        Some(c) => {
            let _ = writeln!(
                out,
                "current block       {}  latency {:.2} ms",
                c.block_id, c.latency
            );
        }
        None => {
            let _ = writeln!(out, "current block       -");
        }
    }
    let _ = writeln!(out, "messages processed  {}", s.messages_processed);
    let _ = writeln!(out, "data points         {}", s.data_points);
    let _ = writeln!(out, "runtime             {:.1} s", s.runtime_s);
    let _ = writeln!(
        out,
        "throughput          {:.0} msg/s overall, {:.0} msg/s recent",
        s.throughput_msg_s, s.recent_throughput_msg_s
    );
    let _ = writeln!(out, "mean                {}", ms(s.mean));
    for (q, v) in &s.quantiles {
        let pct = q.parse::<f64>().map_or(q.clone(), |q| format!("P{}", q * 100.0));
        let _ = writeln!(out, "{pct:<20}{}", ms(*v));
    }
    if let Some(e) = &s.quantile_error {
        let _ = writeln!(out, "quantiles           unavailable: {e}");
    }
    for p in &s.partitions {
        let _ = writeln!(
            out,
            "partition {:<9} offset {} lag {} committed {}",
            p.partition, p.offset, p.lag, p.committed
        );
    }
    let _ = writeln!(
        out,
        "rejected            csv {} payload {}",
        s.rejected.csv, s.rejected.payload
    );
    for (source, reasons) in &s.rejected_by_reason {
        for (reason, n) in reasons {
            let _ = writeln!(out, "  {source}.{reason:<24}{n}");
        }
    }
    out
}

/// The OTLP counters of the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OtlpSummary {
    /// Data points inserted.
    pub points: u64,
    /// Points already counted (repeated exports, cumulative repeats).
    pub duplicates: u64,
    /// First cumulative points of a stream with an old start: baseline only.
    pub baseline_only: u64,
}
