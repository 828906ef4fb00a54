//! `mss generate`: a synthetic HDFS-like `Event_traces.csv`.

use std::path::PathBuf;

use clap::Args;

use crate::source::synthetic::{write_csv, HDFS_ROWS};

/// `mss generate` flags.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Rows to write.
    #[arg(long, default_value_t = HDFS_ROWS)]
    pub rows: u64,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Writes the file.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    write_csv(&args.out, args.rows, args.seed)?;
    eprintln!("wrote {} rows to {}", args.rows, args.out.display());
    Ok(())
}
