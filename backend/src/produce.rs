//! Replays rows into the topic: key = block id, value = the JSON record.
//!
//! Bad rows are counted per reason (the first ten logged with their line
//! number) and skipped; the replay never aborts on them. `rate` caps the
//! send rate (messages per second); a progress bar shows rows, rate and ETA
//! when stderr is a terminal.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use tokio_util::sync::CancellationToken;

use crate::broker::{send_retrying, SendError};
use crate::clock::now_ms;
use crate::record::{self, LatencyRecord, SeriesRecord};
use crate::source::SourceItem;
use crate::stats::{RejectSource, Stats};

/// Bad rows logged one by one.
const LOGGED_BAD_ROWS: u64 = 10;

/// How to produce.
#[derive(Debug, Clone)]
pub struct ProduceOptions {
    /// Bootstrap servers.
    pub brokers: String,
    /// Target topic.
    pub topic: String,
    /// Metric of tagged rows (`--metric`); untagged rows are written as HDFS
    /// records, which the consumer puts in its own default series.
    pub metric: String,
    /// Messages per second at most (`None`: as fast as possible).
    pub rate: Option<f64>,
    /// Rows expected, for the progress bar's ETA.
    pub total_hint: Option<u64>,
    /// Show a progress bar.
    pub progress: bool,
    /// Extra librdkafka properties.
    pub librdkafka: Vec<(String, String)>,
    /// Pause while more than this many produced records are not yet
    /// consumed (by `stats.messages` + rejected payloads). Needed with the
    /// embedded broker, which keeps only a few MiB per partition.
    pub max_unconsumed: Option<u64>,
}

/// What a replay did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProduceReport {
    /// Records handed to Kafka and acknowledged.
    pub produced: u64,
    /// Rows refused.
    pub rejected: u64,
    /// Records whose delivery failed.
    pub failed: u64,
    /// Wall time.
    pub elapsed: Duration,
}

struct DeliveryCounter {
    stats: Arc<Stats>,
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.stats.produced.fetch_add(1, Relaxed);
            }
            Err((e, _)) => {
                self.stats.produce_errors.fetch_add(1, Relaxed);
                tracing::warn!("delivery failed: {e}");
            }
        }
    }
}

/// Sends every good row of `rows`; blocks until all are acknowledged.
pub fn replay(
    rows: impl Iterator<Item = SourceItem>,
    options: &ProduceOptions,
    stats: &Arc<Stats>,
    cancel: &CancellationToken,
) -> anyhow::Result<ProduceReport> {
    let config = crate::broker::client_config(
        &options.brokers,
        &[
            ("linger.ms", "5"),
            ("batch.num.messages", "10000"),
            ("queue.buffering.max.messages", "500000"),
            ("queue.buffering.max.kbytes", "262144"),
            ("acks", "all"),
        ],
        &options.librdkafka,
    );
    let producer: ThreadedProducer<DeliveryCounter> = config
        .create_with_context(DeliveryCounter { stats: stats.clone() })
        .context("creating the Kafka producer")?;
    let bar = progress_bar(options);
    let start = Instant::now();
    let (produced_before, errors_before) = (stats.produced.load(Relaxed), stats.produce_errors.load(Relaxed));
    let mut sent = 0u64;
    let mut rejected = 0u64;
    let mut value = Vec::with_capacity(128);
    let mut key = String::with_capacity(32);
    for item in rows {
        if cancel.is_cancelled() {
            break;
        }
        let row = match item {
            Ok(row) => row,
            Err(bad) => {
                rejected += 1;
                stats.reject(RejectSource::Csv, bad.reason);
                if rejected <= LOGGED_BAD_ROWS {
                    tracing::warn!(
                        line = bad.line,
                        reason = bad.reason.name(),
                        "bad row skipped: {}",
                        bad.detail
                    );
                }
                continue;
            }
        };
        value.clear();
        if row.tags.is_empty() {
            let rec = LatencyRecord {
                block_id: row.block_id,
                latency: row.latency,
                ts_ms: now_ms(),
            };
            record::encode_into(&rec, &mut value);
            key.clear();
            key.push_str(&rec.block_id);
        } else {
            record::encode_series_into(
                &SeriesRecord {
                    metric: &options.metric,
                    tags: &row.tags,
                    value: row.latency,
                    ts_ms: now_ms(),
                    block_id: Some(&row.block_id),
                },
                &mut value,
            );
            key.clear();
            key.push_str(&row.block_id);
        }
        let record = BaseRecord::to(&options.topic).key(key.as_bytes()).payload(&value);
        match send_retrying(&producer, record, Duration::from_millis(2), || {
            cancel.is_cancelled()
        }) {
            Ok(()) | Err(SendError::GaveUp) => {}
            Err(SendError::Kafka(e)) => {
                stats.produce_errors.fetch_add(1, Relaxed);
                tracing::warn!("send failed: {e}");
            }
        }
        sent += 1;
        if sent.is_multiple_of(4096) {
            bar.set_position(sent);
        }
        if let Some(limit) = options.max_unconsumed {
            while sent.saturating_sub(consumed(stats)) > limit && !cancel.is_cancelled() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        if let Some(rate) = options.rate.filter(|r| *r > 0.0) {
            let due = Duration::from_secs_f64(sent as f64 / rate);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    bar.set_position(sent);
    flush_while_progressing(&producer, FLUSH_STALL)?;
    bar.finish_and_clear();
    Ok(ProduceReport {
        produced: stats.produced.load(Relaxed) - produced_before,
        rejected,
        failed: stats.produce_errors.load(Relaxed) - errors_before,
        elapsed: start.elapsed(),
    })
}

/// How long the final flush waits without a single acknowledgement.
const FLUSH_STALL: Duration = Duration::from_secs(60);

/// Waits until every queued record is acknowledged, however long that
/// takes while acknowledgements keep coming (a slow or loaded broker);
/// fails only after `stall` without any.
fn flush_while_progressing<C: rdkafka::producer::ProducerContext + 'static>(
    producer: &ThreadedProducer<C>,
    stall: Duration,
) -> anyhow::Result<()> {
    let mut pending = producer.in_flight_count();
    let mut progressed = Instant::now();
    loop {
        if producer.flush(Duration::from_secs(1)).is_ok() {
            return Ok(());
        }
        let now_pending = producer.in_flight_count();
        if now_pending < pending {
            (pending, progressed) = (now_pending, Instant::now());
        } else if progressed.elapsed() >= stall {
            anyhow::bail!(
                "flushing the producer: {now_pending} records not acknowledged, none for {stall:?}"
            );
        }
    }
}

/// Records consumed by this process, good or rejected.
fn consumed(stats: &Stats) -> u64 {
    stats.messages.load(Relaxed) + stats.rejected_total(RejectSource::Payload)
}

fn progress_bar(options: &ProduceOptions) -> ProgressBar {
    if !options.progress {
        return ProgressBar::hidden();
    }
    match options.total_hint {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {per_sec}  ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {pos} rows  {per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    }
}
