//! `mss receive`: the receiving role. Serves `POST /v1/metrics` (OTLP/HTTP)
//! and writes what it accepts to `--otlp-topic`; it keeps no windows, so
//! many can run behind a load balancer, and any `mss consume --format otlp`
//! (or `serve`) group reads the topic.

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::args::{KafkaArgs, OtlpArgs};

/// `mss receive` flags.
#[derive(Debug, Args)]
pub struct ReceiveArgs {
    /// Kafka (`--topic` is not used: records go to `--otlp-topic`).
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// The receiver.
    #[command(flatten)]
    pub otlp: OtlpArgs,
    /// Token required on `/v1/metrics` and `/metrics` as `Authorization:
    /// Bearer`. Set it whenever `--otlp-listen` is not loopback.
    #[arg(long, env = "MSS_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
}

/// Runs `mss receive` until Ctrl-C or SIGTERM.
pub fn run(args: ReceiveArgs) -> anyhow::Result<()> {
    let brokers = args
        .kafka
        .brokers
        .clone()
        .context("mss receive needs --brokers")?;
    anyhow::ensure!(
        args.otlp.otlp_listen.is_some(),
        "mss receive needs --otlp-listen (e.g. 127.0.0.1:4318)"
    );
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        let topics = [(args.otlp.otlp_topic.clone(), args.kafka.partitions)];
        crate::broker::wait_for_topics(&brokers, &topics, false, &|_| {}, crate::serve::shutdown_signal())
            .await?;
        let server = args
            .otlp
            .spawn_receiver(
                &brokers,
                &args.otlp.otlp_topic,
                &args.kafka.librdkafka,
                args.auth_token.clone().filter(|t| !t.is_empty()),
                None,
                &shutdown,
            )
            .await?;
        crate::serve::shutdown_signal().await;
        tracing::info!("shutting down");
        shutdown.cancel();
        if let Some(server) = server {
            let _ = server.await;
        }
        Ok(())
    })
}
