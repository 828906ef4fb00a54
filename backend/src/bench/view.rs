//! `mss bench view`: how fast a view rebuilds its history from the sketch
//! log. Publishes `history` worth of 1-second windows (every partition, all
//! four kinds, 160 HDFS-like values each) to a fresh sketch-log topic, then
//! times a new view reading them back until it has caught up. With
//! `--direct` the windows go straight into the view's store (no broker): the
//! memory a long history takes, without a broker holding it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use shared::{Sketch, SketchKind, SketchParams};

use crate::bench::e2e::process_usage;
use crate::broker::{ensure_topic, EmbeddedBroker};
use crate::clock::now_ms;
use crate::ingest::{IngestConfig, Pipeline};
use crate::sketch_log::reader::CutAssembler;
use crate::sketch_log::{SketchPublisher, SketchReader};
use crate::source::synthetic::SyntheticSource;
use crate::window::{ClosedWindow, Cut, PublishedWindow, SharedWindow};

/// Values per window.
pub const VALUES_PER_WINDOW: usize = 160;
/// Bytes a sketch-log record takes besides its frame (key, headers, batch).
const RECORD_OVERHEAD_BYTES: u64 = 100;

/// What was measured (`--json` prints this).
#[derive(Debug, Clone, Serialize)]
pub struct ViewReport {
    /// `embedded`, `external`, or `none` (`--direct`).
    pub broker: &'static str,
    /// History published, s.
    pub history_s: u64,
    /// Partitions.
    pub partitions: i32,
    /// Windows published and read back.
    pub windows: u64,
    /// Bytes of window frames published.
    pub bytes: u64,
    /// Time to publish them (acknowledged), s.
    pub publish_s: f64,
    /// Time for a new view to read, decode and store them all, s.
    pub rebuild_s: f64,
    /// Values the view counted (default kind).
    pub values: u64,
    /// Peak RSS of the process, MB.
    pub peak_rss_mb: f64,
}

/// Runs the benchmark.
pub async fn run(
    brokers: Option<String>,
    history_s: u64,
    partitions: i32,
    direct: bool,
    librdkafka: &[(String, String)],
) -> anyhow::Result<ViewReport> {
    let stamp = now_ms();
    let source_topic = format!("mss-bench-view-{stamp}");
    let topic = format!("{source_topic}-sketches");
    let params = SketchParams::default();
    let pipeline = Pipeline::new(IngestConfig {
        kinds: SketchKind::ALL.to_vec(),
        default_kind: SketchKind::QuantileFlow,
        params,
        window_ms: 1000,
        retention_ms: (history_s + 60) * 1000,
        fine_retention_ms: crate::window::store::DEFAULT_FINE_RETENTION_MS,
        mid_retention_ms: crate::window::store::DEFAULT_MID_RETENTION_MS,
        exact: false,
        topic: source_topic.clone(),
        ..Default::default()
    })?;
    let series = pipeline.default_series();
    let legacy_series = pipeline.legacy_series()?;
    let (embedded, publisher) = if direct {
        (None, None)
    } else {
        let (embedded, bootstrap) = match &brokers {
            Some(b) => {
                ensure_topic(b, &topic, partitions, false).await?;
                (None, b.clone())
            }
            None => {
                let broker = EmbeddedBroker::start(&[(topic.clone(), partitions)])?;
                let b = broker.bootstrap().to_owned();
                (Some(broker), b)
            }
        };
        let publisher = SketchPublisher::new(&bootstrap, &topic, partitions, librdkafka)?;
        (embedded, Some((publisher, bootstrap)))
    };
    let mut source = SyntheticSource::new(None, 7);
    let first_second = stamp / 1000 - i64::try_from(history_s).unwrap_or(0);
    let (mut windows, mut bytes) = (0u64, 0u64);
    let mut offsets = vec![0i64; usize::try_from(partitions.max(1)).unwrap_or(1)];
    let mut partition_bytes = vec![0u64; offsets.len()];
    let publish_start = Instant::now();
    for second in first_second..stamp / 1000 {
        for p in 0..partitions {
            let values: Vec<f64> = (0..VALUES_PER_WINDOW).map(|_| source.latency()).collect();
            let slot = usize::try_from(p).unwrap_or(0);
            let first = offsets[slot];
            offsets[slot] += VALUES_PER_WINDOW as i64;
            let batch: Vec<SharedWindow> = SketchKind::ALL
                .into_iter()
                .map(|kind| {
                    let mut s = Sketch::new(kind, &params).unwrap_or_else(|_| Sketch::with_defaults(kind));
                    let _ = s.insert_slice(&values);
                    Arc::new(PublishedWindow::new(ClosedWindow {
                        series,
                        topic: 0,
                        partition: p,
                        window_start_ms: second * 1000,
                        window_ms: 1000,
                        kind,
                        count: s.count(),
                        sketch: s.encode(),
                        first_offset: first,
                        last_offset: first + VALUES_PER_WINDOW as i64 - 1,
                        through_offset: first + VALUES_PER_WINDOW as i64 - 1,
                    }))
                })
                .collect();
            windows += batch.len() as u64;
            bytes += batch.iter().map(|w| w.frame.len() as u64).sum::<u64>();
            if embedded.is_some() {
                let slot_bytes = &mut partition_bytes[slot];
                *slot_bytes += batch
                    .iter()
                    .map(|w| w.frame.len() as u64 + RECORD_OVERHEAD_BYTES)
                    .sum::<u64>();
                if *slot_bytes > crate::broker::EMBEDDED_PARTITION_BYTES {
                    anyhow::bail!(
                        "{history_s} s of history do not fit the embedded broker, which keeps about 5 MiB per \
                         partition (it would drop the oldest windows): use --brokers with a Kafka broker, \
                         --direct, or a shorter --history (at most about {} s here)",
                        second - first_second
                    );
                }
            }
            match &publisher {
                Some((publisher, _)) => {
                    let cut = Cut {
                        topic: 0,
                        baselines: Vec::new(),
                        partition: p,
                        through_offset: first + VALUES_PER_WINDOW as i64 - 1,
                        windows: batch.iter().map(|w| ClosedWindow::clone(&w.window)).collect(),
                    };
                    publisher.send_cut(&cut, &pipeline.catalog);
                }
                None => batch.into_iter().for_each(|w| pipeline.restore(w)),
            }
        }
    }
    let Some((publisher, bootstrap)) = publisher else {
        // Direct: the store was filled as the windows were made.
        let (_, peak_rss_mb) = process_usage();
        return Ok(ViewReport {
            broker: "none",
            history_s,
            partitions,
            windows,
            bytes,
            publish_s: 0.0,
            rebuild_s: publish_start.elapsed().as_secs_f64(),
            values: pipeline.stats.messages.load(std::sync::atomic::Ordering::Relaxed),
            peak_rss_mb,
        });
    };
    publisher.flush(Duration::from_secs(120))?;
    let publish_s = publish_start.elapsed().as_secs_f64();

    let rebuild_start = Instant::now();
    let reader = SketchReader::open(&bootstrap, &topic, first_second * 1000 - 60_000, librdkafka).await?;
    let mut positions = std::collections::BTreeMap::new();
    let mut read = 0u64;
    let mut assembler = CutAssembler::default();
    while !reader.caught_up(&positions) || read < windows {
        let next = tokio::time::timeout(
            Duration::from_secs(30),
            reader.next(&[&source_topic], &legacy_series),
        )
        .await;
        let Ok(next) = next else {
            anyhow::bail!("the view read {read} of {windows} windows, then nothing for 30 s");
        };
        let (partition, offset, chunk) = next?;
        positions.insert(partition, offset + 1);
        if let crate::sketch_log::SketchRecord::Ours(Ok(chunk)) = chunk {
            if let Some(cut) = assembler.push(chunk) {
                read += pipeline.restore_cut(cut, i64::MIN) as u64;
            }
        }
    }
    let rebuild_s = rebuild_start.elapsed().as_secs_f64();
    let (_, peak_rss_mb) = process_usage();
    let values = pipeline.stats.messages.load(std::sync::atomic::Ordering::Relaxed);
    drop(reader);
    drop(publisher);
    drop(embedded);
    Ok(ViewReport {
        broker: if brokers.is_some() { "external" } else { "embedded" },
        history_s,
        partitions,
        windows,
        bytes,
        publish_s,
        rebuild_s,
        values,
        peak_rss_mb,
    })
}
