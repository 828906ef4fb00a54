//! `mss bench series`: the memory many series take. Simulates `--history`
//! of event time (default: the whole retention, so the store holds its
//! steady state: fine windows for the fine retention, rollups for the rest)
//! for `--series` series at `--rate` values a second each, through the
//! real windows (cuts) into the real store of a pipeline, with no broker;
//! reports peak RSS and bytes per series-hour. With a broker, every cut is
//! also published to a sketch log there, as an ingest process does.

use std::time::Instant;

use serde::Serialize;
use shared::series::SeriesKey;
use shared::SketchKind;

use crate::bench::e2e::process_usage;
use std::sync::Arc;

use crate::clock::{now_ms, ManualClock};
use crate::ingest::{IngestConfig, Pipeline};
use crate::sketch_log::SketchPublisher;
use crate::source::synthetic::SyntheticSource;
use crate::window::{PartitionWindows, WindowConfig};

/// What `mss bench series` measured.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesReport {
    /// Series simulated.
    pub series: usize,
    /// Values per second per series.
    pub rate: u64,
    /// Simulated history, s.
    pub history_s: u64,
    /// Partitions the series are spread over.
    pub partitions: i32,
    /// Values inserted.
    pub values: u64,
    /// Window snapshots stored.
    pub windows: u64,
    /// Wall time, s.
    pub elapsed_s: f64,
    /// Peak RSS of the whole process, MB.
    pub peak_rss_mb: f64,
    /// RSS before the first value, MB.
    pub baseline_rss_mb: f64,
    /// (peak − baseline) / series / hours of history, bytes.
    pub bytes_per_series_hour: f64,
    /// (peak − baseline) / series, bytes: what one series costs at this rate and retention.
    pub bytes_per_series: f64,
    /// What each tier of the store holds at the end.
    pub store: crate::window::store::Footprint,
    /// Whether cuts were also published to a sketch log.
    pub sketch_log: bool,
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SeriesOptions {
    /// Series.
    pub series: usize,
    /// Values per second per series.
    pub rate: u64,
    /// Simulated event time, s.
    pub history_s: u64,
    /// Partitions the series are spread over.
    pub partitions: i32,
    /// Publish cuts to a sketch log on this broker.
    pub sketch_log_brokers: Option<String>,
}

/// Topic of the benchmark's sketch log.
const SKETCH_TOPIC: &str = "bench-series-sketches";

/// Runs the simulation.
pub fn run(options: &SeriesOptions) -> anyhow::Result<SeriesReport> {
    let SeriesOptions {
        series,
        rate,
        history_s,
        partitions,
        ..
    } = *options;
    let (_, baseline_rss_mb) = process_usage();
    // The simulated wall clock: an hour of event time takes minutes here,
    // and the store must age windows by the simulated time.
    let end = now_ms();
    let first = end - i64::try_from(history_s).unwrap_or(0) * 1000;
    let clock = Arc::new(ManualClock::at(first));
    let pipeline = Pipeline::with_clock(
        IngestConfig {
            kinds: SketchKind::ALL.to_vec(),
            max_series: None,
            ..IngestConfig::default()
        },
        clock.clone(),
    )?;
    if let Some(brokers) = &options.sketch_log_brokers {
        let runtime = tokio::runtime::Runtime::new()?;
        runtime.block_on(crate::broker::ensure_topic(
            brokers,
            SKETCH_TOPIC,
            partitions,
            true,
        ))?;
        let publisher = SketchPublisher::new(brokers, SKETCH_TOPIC, partitions, &[])?;
        if pipeline.sketch_log.set(publisher).is_err() {
            anyhow::bail!("the pipeline already has a sketch log");
        }
    }
    let ids: Vec<_> = (0..series)
        .map(|i| {
            let key = SeriesKey::new("latency", [("route", format!("/r{i}"))])?;
            pipeline.catalog.intern(&key).map_err(anyhow::Error::from)
        })
        .collect::<anyhow::Result<_>>()?;
    let mut windows: Vec<PartitionWindows> = (0..partitions)
        .map(|p| {
            PartitionWindows::new(
                0,
                p,
                WindowConfig::with_window(1000),
                &SketchKind::ALL,
                &Default::default(),
            )
        })
        .collect::<anyhow::Result<_>>()?;
    let mut source = SyntheticSource::new(None, 17).untagged();
    let started = Instant::now();
    let (mut values, mut offsets) = (0u64, vec![0i64; windows.len()]);
    for second in 0..history_s as i64 {
        let now = first + second * 1000;
        clock.set(now);
        for (i, &id) in ids.iter().enumerate() {
            let slot = i % windows.len();
            for k in 0..rate {
                let t = first + second * 1000 + (k * 1000 / rate.max(1)) as i64;
                offsets[slot] += 1;
                if let Some(cut) = windows[slot].insert(offsets[slot], id, source.latency(), t, now, "") {
                    pipeline.publish(cut);
                }
                values += 1;
            }
        }
    }
    for w in &mut windows {
        if let Some(cut) = w.cut() {
            pipeline.publish(cut);
        }
    }
    if let Some(log) = pipeline.sketch_log.get() {
        log.flush(std::time::Duration::from_secs(300))?;
    }
    clock.set(end);
    pipeline.evict(end);
    let store = pipeline.store_footprint();
    let elapsed_s = started.elapsed().as_secs_f64();
    let (_, peak_rss_mb) = process_usage();
    let stored = pipeline
        .stats
        .windows_closed
        .load(std::sync::atomic::Ordering::Relaxed);
    let bytes = (peak_rss_mb - baseline_rss_mb).max(0.0) * 1024.0 * 1024.0;
    let per_series = bytes / series.max(1) as f64;
    Ok(SeriesReport {
        series,
        rate,
        history_s,
        partitions,
        values,
        windows: stored,
        elapsed_s,
        peak_rss_mb,
        baseline_rss_mb,
        bytes_per_series_hour: per_series / (history_s as f64 / 3600.0).max(1e-9),
        bytes_per_series: per_series,
        store,
        sketch_log: options.sketch_log_brokers.is_some(),
    })
}
