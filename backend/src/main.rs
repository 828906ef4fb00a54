//! `mss`, the metrics streaming service command line.
//!
//! # Layout
//! - [`commands::sketch`]: `mss sketch quantiles|encode`, the sketch crate on files.

use clap::{Parser, Subcommand};

mod commands;

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Sketch(cmd) => commands::sketch::run(cmd),
    }
}
