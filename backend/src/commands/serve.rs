//! `mss serve` (producer + consumer + web server in one process, the main
//! job) and `mss consume` (consumer + web server).
//!
//! Without `--brokers`, `serve` starts the embedded broker (librdkafka's mock
//! cluster; see [`crate::broker`]). With `--report` it prints the terminal
//! dashboard every few seconds and a final summary on exit. With
//! `--exit-when-done` it exits once the source is exhausted and every
//! produced record has been consumed (for headless runs and benchmarks).

use std::io::IsTerminal;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::args::{HttpArgs, IngestArgs, KafkaArgs, MonitorArgs, OtlpArgs, ServiceArgs, SourceArgs};
use crate::broker::{wait_for_topics, EmbeddedBroker};
use crate::ingest::consumer::{self, ConsumerConfig};
use crate::ingest::Pipeline;
use crate::produce::{replay, ProduceOptions};
use crate::stats::RejectSource;
use crate::{serve, summary};

use crate::broker::EMBEDDED_MAX_UNCONSUMED;

/// `--report` and `--report-every`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Print the terminal dashboard every few seconds and a final summary.
    #[arg(long)]
    pub report: bool,
    /// Seconds between reports.
    #[arg(long, default_value_t = 5.0)]
    pub report_every: f64,
}

impl ReportArgs {
    /// The report period, if reports are on.
    fn every(&self) -> Option<f64> {
        self.report.then_some(self.report_every)
    }
}

/// `mss serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Kafka, ingest and web server.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Rows to replay (optional).
    #[command(flatten)]
    pub source: SourceArgs,
    /// Terminal dashboard.
    #[command(flatten)]
    pub report: ReportArgs,
    /// SLOs and alerts.
    #[command(flatten)]
    pub monitor: MonitorArgs,
    /// OTLP/HTTP receiver.
    #[command(flatten)]
    pub otlp: OtlpArgs,
    /// Exit once the source is exhausted and everything produced is consumed.
    #[arg(long)]
    pub exit_when_done: bool,
    /// Write a per-stage timing report of the run to FILE at exit, and a
    /// flamegraph to FILE.flamegraph.svg.
    #[arg(long, value_name = "FILE")]
    pub profile_output: Option<std::path::PathBuf>,
}

/// `mss consume` flags.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Kafka, ingest and web server.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Terminal dashboard.
    #[command(flatten)]
    pub report: ReportArgs,
}

/// Runs `mss consume` until Ctrl-C or SIGTERM.
pub fn run_consume(args: ConsumeArgs) -> anyhow::Result<()> {
    let ServiceArgs { kafka, ingest, http } = args.service;
    let brokers = kafka
        .brokers
        .clone()
        .context("mss consume needs --brokers (only mss serve can embed a broker)")?;
    run_service(Service {
        brokers: Some(brokers),
        kafka,
        source: None,
        ingest,
        http,
        report: args.report.every(),
        exit_when_done: false,
        profile_output: None,
        monitor: MonitorArgs::default(),
        otlp: None,
    })
}

/// Runs `mss serve` until Ctrl-C or SIGTERM (or done, with `--exit-when-done`).
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let source = args.source.is_set().then_some(args.source);
    let ServiceArgs { kafka, ingest, http } = args.service;
    let otlp = args.otlp.otlp_listen.is_some().then_some(args.otlp);
    if let Some(o) = otlp.as_ref().filter(|o| o.otlp_topic == kafka.topic) {
        anyhow::bail!(
            "--otlp-topic {} is --topic too: the receiver needs its own topic (read as OTLP protobuf)",
            o.otlp_topic
        );
    }
    run_service(Service {
        brokers: kafka.brokers.clone(),
        kafka,
        source,
        ingest,
        http,
        report: args.report.every(),
        exit_when_done: args.exit_when_done,
        profile_output: args.profile_output,
        monitor: args.monitor,
        otlp,
    })
}

struct Service {
    brokers: Option<String>,
    kafka: KafkaArgs,
    source: Option<SourceArgs>,
    ingest: IngestArgs,
    http: HttpArgs,
    report: Option<f64>,
    exit_when_done: bool,
    profile_output: Option<std::path::PathBuf>,
    monitor: MonitorArgs,
    /// The OTLP receiver (serve with `--otlp-listen`).
    otlp: Option<OtlpArgs>,
}

fn run_service(service: Service) -> anyhow::Result<()> {
    let mut config = service.ingest.config(&service.kafka.topic)?;
    // What the receiver writes is consumed here too, in the same group.
    config.otlp_topic = service.otlp.as_ref().map(|o| o.otlp_topic.clone());
    let profile = service
        .profile_output
        .as_deref()
        .map(crate::profile::Profile::start);
    let result = run_service_inner(service, config);
    if let Some(profile) = profile {
        let (report, svg) = profile.finish()?;
        eprintln!("profile: {}", report.display());
        if let Some(svg) = svg {
            eprintln!("flamegraph: {}", svg.display());
        }
    }
    result
}

fn run_service_inner(service: Service, config: crate::ingest::IngestConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    let embedded = runtime.block_on(async move {
        let kafka = &service.kafka;
        let sketch_log = service.ingest.sketch_log(kafka.partitions);
        // The HTTP side first: /healthz answers and /readyz says what is
        // awaited while the broker cannot be reached.
        let pipeline = Pipeline::new(config)?;
        let shutdown = CancellationToken::new();
        let server = service.http.spawn_server(pipeline.clone(), &shutdown).await?;
        service
            .monitor
            .start(&pipeline, format!("http://{}", service.http.listen), &shutdown)?;
        let (embedded, brokers) = match &service.brokers {
            Some(b) => {
                let mut topics = source_topics(kafka, service.otlp.as_ref());
                // A recreated source topic restarts at offset 0: its old
                // windows would mark new records as already counted, so the
                // sketch log is recreated with it.
                topics.extend(sketch_log.iter().map(|log| (log.topic.clone(), log.partitions)));
                let waiting = |reason: Option<String>| pipeline.set_waiting(reason);
                wait_for_topics(b, &topics, kafka.recreate_topic, &waiting, crate::serve::shutdown_signal()).await?;
                (None, b.clone())
            }
            None => {
                let mut topics = source_topics(kafka, service.otlp.as_ref());
                if let Some(log) = &sketch_log {
                    topics.push((log.topic.clone(), log.partitions));
                }
                let broker = EmbeddedBroker::start(&topics)?;
                tracing::info!(
                    "embedded broker (librdkafka mock cluster) at {}",
                    broker.bootstrap()
                );
                let b = broker.bootstrap().to_owned();
                (Some(broker), b)
            }
        };
        let consumer = tokio::spawn(consumer::run(
            pipeline.clone(),
            ConsumerConfig {
                brokers: brokers.clone(),
                topic: kafka.topic.clone(),
                group: service.ingest.group.clone(),
                librdkafka: kafka.librdkafka.clone(),
                sketch_log: sketch_log.clone(),
                commit_interval: service.ingest.commit_interval,
                revoke_timeout: service.ingest.revoke_timeout,
                stall_restart: service.ingest.stall_restart,
            },
            shutdown.clone(),
        ));
        // Received OTLP records go to `--otlp-topic`, consumed above.
        let receiver = match &service.otlp {
            Some(otlp) => {
                let token = service.http.token()?;
                // The embedded broker keeps a few MiB per partition: written
                // bytes wait for the consumer (503 past the limit).
                let gate = embedded.as_ref().map(|_| pipeline.clone());
                otlp.spawn_receiver(&brokers, &otlp.otlp_topic, &kafka.librdkafka, token, gate, &shutdown)
                    .await?
            }
            None => None,
        };

        let producer = match &service.source {
            Some(source) => {
                let (rows, total_hint) = source.open()?;
                let options = ProduceOptions {
                    brokers: brokers.clone(),
                    topic: kafka.topic.clone(),
                    metric: service.ingest.metric.clone(),
                    rate: source.rate,
                    total_hint,
                    progress: service.report.is_none() && std::io::stderr().is_terminal(),
                    librdkafka: kafka.librdkafka.clone(),
                    // The embedded broker drops old data after a few MiB per
                    // partition: never let the producer run that far ahead.
                    max_unconsumed: embedded.as_ref().map(|_| EMBEDDED_MAX_UNCONSUMED),
                };
                let (stats, cancel) = (pipeline.stats.clone(), shutdown.clone());
                let ready = pipeline.clone();
                let wait_for_assignment = embedded.is_some();
                Some(tokio::task::spawn_blocking(move || {
                    // With the embedded broker, start once the group has its
                    // partitions, so consumption keeps pace from the start.
                    while wait_for_assignment && !ready.is_ready() && !cancel.is_cancelled() {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    let report = replay(rows, &options, &stats, &cancel);
                    if let Ok(r) = &report {
                        tracing::info!(
                            produced = r.produced,
                            rejected = r.rejected,
                            "source done in {:.2} s ({:.0} msg/s)",
                            r.elapsed.as_secs_f64(),
                            r.produced as f64 / r.elapsed.as_secs_f64().max(1e-9)
                        );
                    }
                    report
                }))
            }
            None => None,
        };

        let reporter = service.report.map(|every| {
            let (pipeline, stop) = (pipeline.clone(), shutdown.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs_f64(every.max(0.2)));
                tick.tick().await;
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        _ = tick.tick() => {
                            let p = pipeline.clone();
                            if let Ok(text) = tokio::task::spawn_blocking(move || {
                                {
                                    let ids = p.series_of_metric(&p.config.metric);
                                    summary::report(&summary::build(&p, p.config.default_kind, &default_qs(), &|id| ids.contains(&id)))
                                }
                            }).await {
                                println!("{text}");
                            }
                        }
                    }
                }
            })
        });

        let mut producer = producer;
        let done = async {
            if let Some(handle) = producer.as_mut() {
                match handle.await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::error!("producer failed: {e:#}"),
                    Err(e) => tracing::error!("producer task failed: {e}"),
                }
                if service.exit_when_done {
                    wait_consumed(&pipeline).await;
                    return;
                }
            }
            std::future::pending::<()>().await;
        };
        tokio::select! {
            () = serve::shutdown_signal() => tracing::info!("shutting down"),
            () = done => tracing::info!("source consumed; shutting down"),
        }
        shutdown.cancel();
        // A consumer that failed makes the process exit non-zero (after the
        // rest shut down), so a supervisor sees it.
        let consumer_failed = match consumer.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => {
                tracing::error!("consumer failed: {e:#}");
                Some(e.context("the consumer failed"))
            }
            Err(e) => {
                tracing::error!("consumer task failed: {e}");
                Some(anyhow::anyhow!("the consumer task failed: {e}"))
            }
        };
        if let Some(r) = reporter {
            let _ = r.await;
        }
        let _ = server.await;
        if let Some(r) = receiver {
            let _ = r.await;
        }
        if service.report.is_some() {
            let ids = pipeline.series_of_metric(&pipeline.config.metric);
            let doc = summary::build(&pipeline, pipeline.config.default_kind, &default_qs(), &|id| ids.contains(&id));
            println!("{}", summary::report(&doc));
            println!("final summary: {}", serde_json::to_string(&doc)?);
        }
        Ok::<_, anyhow::Error>((embedded, consumer_failed))
    });
    // Every client of the embedded broker (consumer, producer thread,
    // sketch-log publisher, tasks still holding the pipeline) goes with the
    // runtime — waiting for blocking tasks — before the broker stops, so a
    // Ctrl-C logs no "all brokers down".
    drop(runtime);
    let (embedded, consumer_failed) = embedded?;
    drop(embedded);
    consumer_failed.map_or(Ok(()), Err)
}

/// The source topics a service consumes, with the partitions they are
/// created with: `--topic`, and `--otlp-topic` when it receives OTLP.
fn source_topics(kafka: &KafkaArgs, otlp: Option<&OtlpArgs>) -> Vec<(String, i32)> {
    let mut topics = vec![(kafka.topic.clone(), kafka.partitions)];
    topics.extend(otlp.map(|o| (o.otlp_topic.clone(), kafka.partitions)));
    topics
}

/// Waits until every produced record has been consumed (good or rejected).
async fn wait_consumed(pipeline: &Pipeline) {
    let stats = &pipeline.stats;
    loop {
        let consumed = stats.messages.load(Relaxed) + stats.rejected_total(RejectSource::Payload);
        if consumed >= stats.produced.load(Relaxed) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn default_qs() -> Vec<(String, f64)> {
    [0.5, 0.95, 0.99].iter().map(|q| (q.to_string(), *q)).collect()
}
