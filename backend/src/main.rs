//! `mss`: the command line of the metrics streaming service.

use clap::{Parser, Subcommand};

use backend::commands;

/// Latency percentiles from mergeable quantile sketches.
#[derive(Debug, Parser)]
#[command(name = "mss", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build, read and query sketches from files or stdin.
    #[command(subcommand)]
    Sketch(commands::sketch::SketchCommand),
    /// Producer + consumer + web server in one process (the main job).
    Serve(commands::serve::ServeArgs),
    /// Replay an HDFS CSV (or synthetic rows) into the Kafka topic.
    Produce(commands::produce::ProduceArgs),
    /// Join the consumer group and keep windowed sketches; serve the API.
    Consume(commands::serve::ConsumeArgs),
    /// Receive OTLP/HTTP metrics and write them to Kafka (no windows).
    Receive(commands::receive::ReceiveArgs),
    /// Serve the windows of the sketch log (many ingest processes, one view).
    View(commands::view::ViewArgs),
    /// Run the embedded broker (librdkafka's mock cluster) on a loopback port
    /// for several `mss` processes; prints its address; keeps nothing.
    Broker(commands::broker::BrokerArgs),
    /// Write a synthetic HDFS-like Event_traces.csv.
    Generate(commands::generate::GenerateArgs),
    /// Measure speed against peers in one run.
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Sketch(cmd) => commands::sketch::run(cmd),
        Command::Serve(args) => commands::serve::run(args),
        Command::Produce(args) => commands::produce::run(args),
        Command::Consume(args) => commands::serve::run_consume(args),
        Command::Generate(args) => commands::generate::run(args),
        Command::View(args) => commands::view::run(args),
        Command::Receive(args) => commands::receive::run(args),
        Command::Bench(cmd) => commands::bench::run(cmd),
        Command::Broker(args) => commands::broker::run(args),
    }
}
