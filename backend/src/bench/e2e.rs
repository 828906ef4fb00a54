//! `mss bench e2e`: synthetic HDFS-like rows replayed through a broker
//! (embedded mock cluster by default, or `--brokers`) into the real
//! pipeline — consumer group, 1 s windows of all four kinds — measuring
//! produce rate, consume rate, time until the last record is in a sketch,
//! produce → closed-window latency (every record), CPU time and peak RSS.
//!
//! The clock starts when the first row is handed to the producer, after the
//! consumer has joined its group (the join is reported on its own).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde::Serialize;
use shared::{SketchKind, SketchParams};
use tokio_util::sync::CancellationToken;

use crate::broker::{ensure_topic, EmbeddedBroker, EMBEDDED_MAX_UNCONSUMED};
use crate::clock::now_ms;
use crate::ingest::consumer::{self, ConsumerConfig};
use crate::ingest::{IngestConfig, LatencyProbe, Pipeline};
use crate::produce::{replay, ProduceOptions};
use crate::sketch_log::SketchLogConfig;
use crate::source::synthetic::SyntheticSource;

/// The Python seed's rate on the same data (msg/s), for the ratio.
pub const SEED_MSG_S: f64 = 1_244.65;

/// What to run.
#[derive(Debug, Clone)]
pub struct E2eOptions {
    /// Rows to replay.
    pub rows: u64,
    /// External bootstrap servers; `None` starts the embedded broker.
    pub brokers: Option<String>,
    /// Partitions of the (fresh) bench topic.
    pub partitions: i32,
    /// Window length, ms.
    pub window_ms: u64,
    /// Seed of the synthetic rows.
    pub seed: u64,
    /// Extra librdkafka properties.
    pub librdkafka: Vec<(String, String)>,
    /// Publish windows to a sketch log (`mss-bench-<ms>-sketches`).
    pub sketch_log: bool,
    /// Spread the rows over this many series (`route` = `/r0` …); 0: the
    /// default series (HDFS records, as before series existed).
    pub series: usize,
    /// Produce every row before the consumer starts, then time the consumer
    /// alone: its rate and CPU are then one consumer process's (latency is
    /// not measured: NaN, `null` in JSON).
    pub preload: bool,
}

/// The measurements (`--json` prints this).
#[derive(Debug, Clone, Serialize)]
pub struct E2eReport {
    /// Rows replayed.
    pub rows: u64,
    /// Series the rows were spread over (0: the default series).
    pub series: usize,
    /// `embedded` or `external`.
    pub broker: &'static str,
    /// Rows / time to produce and have them acknowledged.
    pub produce_msg_s: f64,
    /// Rows / time from the first to the last record consumed.
    pub consume_msg_s: f64,
    /// From the first row produced to the last record in a sketch, s.
    pub end_to_end_s: f64,
    /// Produce → visible in a closed window, median, ms.
    pub latency_p50_ms: f64,
    /// Same, 99th percentile, ms.
    pub latency_p99_ms: f64,
    /// Peak resident memory of the process, MB.
    pub peak_rss_mb: f64,
    /// CPU time (user + system) of the process during the run, s.
    pub cpu_s: f64,
    /// Consumer group join before the clock started, s.
    pub group_join_s: f64,
    /// Window length, ms.
    pub window_ms: u64,
    /// Partitions.
    pub partitions: i32,
    /// Whether windows were published to a sketch log.
    pub sketch_log: bool,
    /// The seed's rate on this data, msg/s.
    pub seed_msg_s: f64,
    /// `rows / end_to_end_s` over the seed's rate.
    pub speedup_vs_seed: f64,
    /// Whether the rows were produced before the consumer started (then
    /// the clock, `cpu_s` and the rates are the consumer's alone).
    pub preload: bool,
    /// Rows per CPU second of the process (`rows / cpu_s`); with
    /// `preload`, records per consumer CPU-second (records read between the
    /// first and the last one over the CPU spent meanwhile).
    pub records_per_cpu_s: f64,
}

/// `(user + system CPU seconds, peak RSS MB)` of this process (Linux `/proc`).
pub fn process_usage() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 (1-based), in clock ticks of 1/100 s on Linux.
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu, hwm_kb / 1024.0)
}

async fn wait_until(
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
) -> anyhow::Result<Instant> {
    let start = Instant::now();
    loop {
        if done() {
            return Ok(Instant::now());
        }
        if start.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

/// Runs the benchmark.
pub async fn run(options: &E2eOptions) -> anyhow::Result<E2eReport> {
    if options.preload && options.brokers.is_none() {
        bail!(
            "--preload needs --brokers: the embedded broker keeps only about 5 MiB per partition, \
             so rows produced before the consumer starts would be dropped"
        );
    }
    let stamp = now_ms();
    let topic = format!("mss-bench-{stamp}");
    let sketch_log = options.sketch_log.then(|| SketchLogConfig {
        topic: format!("{topic}-sketches"),
        partitions: options.partitions,
        lookback_ms: 3_600_000,
    });
    let (embedded, brokers) = match &options.brokers {
        Some(b) => {
            ensure_topic(b, &topic, options.partitions, false).await?;
            if let Some(log) = &sketch_log {
                ensure_topic(b, &log.topic, log.partitions, false).await?;
            }
            (None, b.clone())
        }
        None => {
            let mut topics = vec![(topic.clone(), options.partitions)];
            if let Some(log) = &sketch_log {
                topics.push((log.topic.clone(), log.partitions));
            }
            let broker = EmbeddedBroker::start(&topics)?;
            let b = broker.bootstrap().to_owned();
            (Some(broker), b)
        }
    };
    let pipeline = Pipeline::new(IngestConfig {
        kinds: SketchKind::ALL.to_vec(),
        default_kind: SketchKind::QuantileFlow,
        params: SketchParams::default(),
        window_ms: options.window_ms.max(1),
        retention_ms: 3_600_000,
        fine_retention_ms: crate::window::store::DEFAULT_FINE_RETENTION_MS,
        mid_retention_ms: crate::window::store::DEFAULT_MID_RETENTION_MS,
        exact: false,
        topic: topic.clone(),
        // Throughput, not the limit, is measured here.
        max_series: None,
        ..Default::default()
    })?;
    if !options.preload {
        // Produce → closed-window latency means nothing for rows produced
        // before the consumer started; its per-record note is bench
        // overhead that the consumer's own CPU figure leaves out.
        let _ = pipeline.latency_probe.set(LatencyProbe::default());
    }
    let shutdown = CancellationToken::new();
    let consumer_config = ConsumerConfig {
        brokers: brokers.clone(),
        topic: topic.clone(),
        group: format!("{topic}-group"),
        librdkafka: options.librdkafka.clone(),
        sketch_log,
        commit_interval: None,
        revoke_timeout: crate::ingest::revoke::DEFAULT_REVOKE_TIMEOUT,
        stall_restart: crate::ingest::stall::DEFAULT_STALL_RESTART,
    };
    let produce_options = ProduceOptions {
        brokers,
        topic,
        metric: crate::ingest::DEFAULT_METRIC.to_owned(),
        rate: None,
        total_hint: Some(options.rows),
        progress: false,
        librdkafka: options.librdkafka.clone(),
        max_unconsumed: embedded.as_ref().map(|_| EMBEDDED_MAX_UNCONSUMED),
    };
    let rows = options.rows;
    let produce = || {
        let (stats, cancel) = (pipeline.stats.clone(), shutdown.clone());
        let (source, options) = (synthetic_rows(options), produce_options.clone());
        tokio::task::spawn_blocking(move || replay(source, &options, &stats, &cancel))
    };
    // With `preload` every row is in the broker before the consumer starts.
    let preloaded = if options.preload {
        Some(produce().await.context("producer task")??)
    } else {
        None
    };
    let consumer_start = (process_usage().0, Instant::now());
    let consumer = tokio::spawn(consumer::run(pipeline.clone(), consumer_config, shutdown.clone()));
    wait_until("the consumer group's assignment", Duration::from_secs(60), || {
        pipeline.is_ready()
    })
    .await?;
    let group_join_s = consumer_start.1.elapsed().as_secs_f64();
    // Without it, the clock starts when the producer does, after the join.
    let ((cpu_before, t0), producing) = match preloaded {
        Some(_) => (consumer_start, None),
        None => ((process_usage().0, Instant::now()), Some(produce())),
    };
    let messages = |p: &Arc<Pipeline>| p.stats.messages.load(Relaxed);
    let first = wait_until("the first record", Duration::from_secs(60), || {
        messages(&pipeline) > 0
    })
    .await?;
    let (cpu_first, seen_first) = (process_usage().0, messages(&pipeline));
    let last = wait_until("every record in a sketch", Duration::from_secs(600), || {
        messages(&pipeline) >= rows
    })
    .await?;
    let cpu_last = process_usage().0;
    let produced = match producing {
        Some(task) => task.await.context("producer task")??,
        None => preloaded.context("no rows were produced")?,
    };
    if !options.preload {
        wait_until("every window closed", Duration::from_secs(30), || {
            pipeline.latency_probe.get().map_or(0, LatencyProbe::count)
                >= usize::try_from(rows).unwrap_or(usize::MAX)
        })
        .await?;
    }
    let (cpu_after, peak_rss_mb) = process_usage();
    shutdown.cancel();
    consumer.await.context("consumer task")??;

    let end_to_end_s = last.duration_since(t0).as_secs_f64();
    let probe = pipeline.latency_probe.get();
    let latency = |q: f64| probe.and_then(|p| p.quantile(q)).unwrap_or(f64::NAN);
    let report = E2eReport {
        rows,
        series: options.series,
        broker: if options.brokers.is_some() {
            "external"
        } else {
            "embedded"
        },
        produce_msg_s: produced.produced as f64 / produced.elapsed.as_secs_f64().max(1e-9),
        consume_msg_s: rows as f64 / last.duration_since(first).as_secs_f64().max(1e-9),
        end_to_end_s,
        latency_p50_ms: latency(0.5),
        latency_p99_ms: latency(0.99),
        peak_rss_mb,
        cpu_s: cpu_after - cpu_before,
        group_join_s,
        window_ms: options.window_ms,
        partitions: options.partitions,
        sketch_log: options.sketch_log,
        seed_msg_s: SEED_MSG_S,
        speedup_vs_seed: rows as f64 / end_to_end_s.max(1e-9) / SEED_MSG_S,
        preload: options.preload,
        // With every row already in the broker, the CPU between the first
        // and the last record is the consumer's (and, embedded, the broker's).
        records_per_cpu_s: if options.preload {
            rows.saturating_sub(seen_first) as f64 / (cpu_last - cpu_first).max(1e-9)
        } else {
            rows as f64 / (cpu_after - cpu_before).max(1e-9)
        },
    };
    // The sketch-log producer lives in the pipeline: drop it before its broker.
    drop(pipeline);
    drop(embedded);
    Ok(report)
}

/// The synthetic rows of `options`, spread over its series.
fn synthetic_rows(options: &E2eOptions) -> impl Iterator<Item = crate::source::SourceItem> + Send + 'static {
    let series = options.series;
    let source = SyntheticSource::new(Some(options.rows), options.seed).untagged();
    source.enumerate().map(move |(i, item)| {
        item.map(|mut row| {
            if series > 0 {
                row.tags = vec![("route".to_owned(), format!("/r{}", i % series))];
            }
            row
        })
    })
}

/// The report as a table for people.
pub fn table(r: &E2eReport) -> String {
    format!(
        "end-to-end: {rows} HDFS-like rows, {broker} broker, {p} partitions, {w} ms windows, all four kinds, sketch log {log}\n\
         | measurement | value |\n|---|---:|\n\
         | produce | {prod:.0} msg/s |\n\
         | consume | {cons:.0} msg/s |\n\
         | first row produced → last record in a sketch | {e2e:.3} s ({rate:.0} msg/s, {x:.0}× the seed's {seed} msg/s) |\n\
         | produce → visible in a closed window, p50 | {p50:.0} ms |\n\
         | same, p99 | {p99:.0} ms |\n\
         | CPU time (user + system) | {cpu:.2} s ({per_cpu:.0} records per CPU second{alone}) |\n\
         | peak RSS | {rss:.1} MB |\n\
         | group join (before the clock) | {join:.2} s |\n",
        rows = r.rows,
        broker = r.broker,
        log = if r.sketch_log { "on" } else { "off" },
        p = r.partitions,
        w = r.window_ms,
        prod = r.produce_msg_s,
        cons = r.consume_msg_s,
        e2e = r.end_to_end_s,
        rate = r.rows as f64 / r.end_to_end_s.max(1e-9),
        x = r.speedup_vs_seed,
        seed = r.seed_msg_s,
        p50 = r.latency_p50_ms,
        p99 = r.latency_p99_ms,
        cpu = r.cpu_s,
        per_cpu = r.records_per_cpu_s,
        alone = if r.preload { ", consumer alone: rows preloaded" } else { ", producer included" },
        rss = r.peak_rss_mb,
        join = r.group_join_s,
    )
}
