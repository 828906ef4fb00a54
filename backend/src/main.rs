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
    /// Run the service: web server and dashboard.
    Serve(commands::serve::ServeArgs),
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
    }
}
