//! `mss produce`: replay a CSV (or synthetic rows) into the topic.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::args::{KafkaArgs, SourceArgs};
use crate::produce::{replay, ProduceOptions};
use crate::stats::{RejectSource, Stats};

/// `mss produce` flags.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Kafka and topic.
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Rows to replay.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Metric of tagged rows (CSV `Label`, synthetic `op`/`datanode`).
    #[arg(long, env = "MSS_METRIC", default_value = crate::ingest::DEFAULT_METRIC)]
    pub metric: String,
}

/// Replays the source, then prints what was sent and refused.
pub fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let brokers = args
        .kafka
        .brokers
        .clone()
        .context("mss produce needs --brokers (only mss serve can embed a broker)")?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(crate::broker::ensure_topic(
        &brokers,
        &args.kafka.topic,
        args.kafka.partitions,
        args.kafka.recreate_topic,
    ))?;
    let (rows, total_hint) = args.source.open()?;
    let stats = Arc::new(Stats::default());
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    runtime.spawn(async move {
        crate::serve::shutdown_signal().await;
        on_signal.cancel();
    });
    let options = ProduceOptions {
        brokers,
        topic: args.kafka.topic.clone(),
        metric: args.metric.clone(),
        rate: args.source.rate,
        total_hint,
        progress: std::io::stderr().is_terminal(),
        librdkafka: args.kafka.librdkafka.clone(),
        max_unconsumed: None,
    };
    let report = replay(rows, &options, &stats, &cancel)?;
    let reasons: serde_json::Map<String, serde_json::Value> = stats
        .rejected(RejectSource::Csv)
        .into_iter()
        .map(|(r, n)| (r.name().to_owned(), n.into()))
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "produced": report.produced,
            "rejected": report.rejected,
            "rejected_by_reason": reasons,
            "failed": report.failed,
            "elapsed_s": report.elapsed.as_secs_f64(),
            "rate_msg_s": report.produced as f64 / report.elapsed.as_secs_f64().max(1e-9),
        })
    );
    Ok(())
}
