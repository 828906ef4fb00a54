//! `mss view`: serving only. Reads the sketch log from the start of the
//! retention, keeps the history, and serves HTTP/WebSocket exactly like
//! `mss serve`; follows the log as ingest processes (`mss consume`, `mss
//! serve`) publish. A view started late or restarted shows the full
//! retained history.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::args::{MonitorArgs, ServiceArgs};
use crate::ingest::Pipeline;
use crate::record::RejectReason;
use crate::serve;
use crate::sketch_log::reader::CutAssembler;
use crate::sketch_log::{SketchReader, SketchRecord};
use crate::stats::RejectSource;

/// `mss view` flags.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// Kafka (`--brokers` required) and the source topic whose windows to
    /// show; sketch kinds and parameters (must match the ingest
    /// processes'), retention and the sketch-log topic; web server.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// SLOs and alerts.
    #[command(flatten)]
    pub monitor: MonitorArgs,
    /// The OTLP source topic whose windows are shown beside `--topic`'s
    /// (where `mss serve --otlp-listen` writes what it receives).
    #[arg(long, env = "MSS_OTLP_TOPIC", default_value = crate::otlp::DEFAULT_TOPIC)]
    pub otlp_topic: String,
}

/// Runs `mss view` until Ctrl-C or SIGTERM.
pub fn run(args: ViewArgs) -> anyhow::Result<()> {
    let (monitor, otlp_topic) = (args.monitor, args.otlp_topic);
    let args = args.service;
    let brokers = args
        .kafka
        .brokers
        .clone()
        .context("mss view needs --brokers (the Kafka holding the sketch log)")?;
    let mut config = args.ingest.config(&args.kafka.topic)?;
    // A view holds whatever the ingest processes published (they enforce --max-series).
    config.max_series = None;
    config.otlp_topic = Some(otlp_topic.clone()).filter(|t| *t != args.kafka.topic);
    let mut topic_names = vec![args.kafka.topic.clone()];
    topic_names.extend(config.otlp_topic.clone());
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let retention_ms = i64::try_from(config.retention_ms).unwrap_or(i64::MAX);
        let pipeline = Pipeline::new(config)?;
        let legacy_series = pipeline.legacy_series()?;
        let shutdown = CancellationToken::new();
        let server = args.http.spawn_server(pipeline.clone(), &shutdown).await?;
        monitor.start(&pipeline, format!("http://{}", args.http.listen), &shutdown)?;

        let topic = &args.ingest.sketch_topic;
        let Some(reader) =
            open_waiting(&pipeline, &brokers, topic, retention_ms, &args.kafka.librdkafka).await?
        else {
            shutdown.cancel();
            let _ = server.await;
            return Ok(());
        };
        let source_topics: Vec<&str> = topic_names.iter().map(String::as_str).collect();
        let started = Instant::now();
        let mut positions = BTreeMap::new();
        let mut assembler = CutAssembler::default();
        let mut windows = 0usize;
        let mut sample = tokio::time::interval(Duration::from_secs(1));
        if reader.caught_up(&positions) {
            pipeline.set_ready(true);
        }
        loop {
            tokio::select! {
                () = serve::shutdown_signal() => break,
                _ = sample.tick() => {
                    pipeline.stats.sample();
                    pipeline.evict(pipeline.now_ms());
                }
                next = reader.next(&source_topics, &legacy_series) => match next {
                    Ok((partition, offset, chunk)) => {
                        if positions.insert(partition, offset + 1).is_some_and(|next| offset < next) {
                            tracing::info!(
                                partition,
                                offset,
                                "the sketch log started over (its topic was recreated): its cuts count afresh"
                            );
                            assembler.restart();
                        }
                        match chunk {
                            SketchRecord::Ours(Ok(chunk)) => {
                                let cut = assembler.push(chunk);
                                pipeline.stats.sketch_log.record(assembler.counts());
                                if let Some(cut) = cut {
                                    // Windows older than the retention (a broker may
                                    // start us a little early) are not history any more.
                                    windows += pipeline.restore_cut(cut, pipeline.now_ms() - retention_ms);
                                }
                            }
                            SketchRecord::Ours(Err(e)) => {
                                tracing::warn!(partition, offset, "sketch-log record skipped: {e}");
                                pipeline.stats.reject(RejectSource::Payload, RejectReason::Malformed);
                            }
                            SketchRecord::OtherSource(source) => pipeline.ignore_source(&source),
                        }
                        if !pipeline.is_ready() && reader.caught_up(&positions) {
                            pipeline.set_ready(true);
                            tracing::info!(
                                windows,
                                "history rebuilt from the sketch log in {:.2} s",
                                started.elapsed().as_secs_f64()
                            );
                        }
                    }
                    Err(e) => tracing::warn!("{e:#}"),
                },
            }
        }
        tracing::info!("shutting down");
        shutdown.cancel();
        let _ = server.await;
        Ok(())
    })
}

/// Opens the sketch log through [`crate::broker::with_backoff`]: a view may
/// start before the broker, or before any ingest process has created the
/// topic; `/readyz` says what is awaited. `None` on Ctrl-C while waiting.
async fn open_waiting(
    pipeline: &Pipeline,
    brokers: &str,
    topic: &str,
    retention_ms: i64,
    librdkafka: &[(String, String)],
) -> anyhow::Result<Option<SketchReader>> {
    let trying = format!("opening the sketch log {topic} at {brokers}");
    let attempt = || SketchReader::open(brokers, topic, pipeline.now_ms() - retention_ms, librdkafka);
    let waiting = |reason: Option<String>| pipeline.set_waiting(reason);
    Ok(crate::broker::with_backoff(&trying, attempt, &waiting, serve::shutdown_signal()).await)
}
