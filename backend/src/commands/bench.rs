//! `mss bench`: speed figures from one process.

use clap::{Args, Subcommand};

use crate::bench::sketches;

/// `mss bench ...`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Insert/merge/quantile cost and encoded size of every kind and its peers.
    Sketches(SketchesArgs),
}

/// `mss bench sketches` flags.
#[derive(Debug, Args)]
pub struct SketchesArgs {
    /// Values inserted per round.
    #[arg(long, default_value_t = 1_000_000)]
    pub values: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs a benchmark.
pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Sketches(args) => {
            let b = sketches::run(args.values.max(1000));
            if args.json {
                println!("{}", serde_json::to_string(&b)?);
            } else {
                print!("{}", sketches::table(&b));
            }
        }
    }
    Ok(())
}
