//! `mss broker`: librdkafka's mock cluster (the embedded broker of `mss
//! serve`) in a process of its own on a loopback port, so several `mss`
//! processes (`produce`, `consume`, `view`) can be tried together without
//! installing Kafka. Nothing is kept when it stops, and it keeps only a few
//! MiB per partition (see [`crate::broker`]).

use anyhow::{anyhow, Context};
use clap::Args;

use crate::broker::EmbeddedBroker;

/// `mss broker` flags.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// A topic to create, as NAME:PARTITIONS (repeatable).
    #[arg(
        long = "topic",
        value_name = "NAME:PARTITIONS",
        value_parser = parse_topic,
        default_values = ["latency-metrics:4", "latency-sketches:4"]
    )]
    pub topics: Vec<(String, i32)>,
}

/// Parses `NAME:PARTITIONS` (1 to 1,000 partitions).
fn parse_topic(text: &str) -> Result<(String, i32), String> {
    let (name, partitions) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("expected NAME:PARTITIONS, got {text:?}"))?;
    if name.is_empty() {
        return Err(format!("empty topic name in {text:?}"));
    }
    match partitions.parse::<i32>() {
        Ok(n) if (1..=1000).contains(&n) => Ok((name.to_owned(), n)),
        _ => Err(format!("partitions must be 1 to 1000, got {partitions:?}")),
    }
}

/// Starts the cluster, prints its bootstrap address (`127.0.0.1:PORT`, the
/// port chosen by the system) as the first line on stdout, and serves until
/// Ctrl-C or SIGTERM.
pub fn run(args: BrokerArgs) -> anyhow::Result<()> {
    let broker = EmbeddedBroker::start(&args.topics)?;
    println!("{}", broker.bootstrap());
    use std::io::Write;
    std::io::stdout()
        .flush()
        .context("writing the bootstrap address")?;
    let topics: Vec<String> = args.topics.iter().map(|(t, p)| format!("{t}:{p}")).collect();
    tracing::info!(
        bootstrap = broker.bootstrap(),
        topics = topics.join(","),
        "mock broker serving (nothing is kept after it stops)"
    );
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow!("starting the runtime: {e}"))?
        .block_on(crate::serve::shutdown_signal());
    tracing::info!("mock broker stopping");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_topic;

    #[test]
    fn topics_are_name_colon_partitions() {
        assert_eq!(parse_topic("a.b:3"), Ok(("a.b".to_owned(), 3)));
        assert!(parse_topic("nocolon").is_err());
        assert!(parse_topic(":3").is_err());
        assert!(parse_topic("t:0").is_err());
        assert!(parse_topic("t:x").is_err());
        assert!(parse_topic("t:100000").is_err());
    }
}
