//! `mss bench`: speed figures from one process.

use clap::{Args, Subcommand};

use crate::bench::{e2e, series, sketches, view};

/// `mss bench ...`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Insert/merge/quantile cost and encoded size of every kind and its peers.
    Sketches(SketchesArgs),
    /// Rows through a broker into the pipeline: rates, end-to-end time,
    /// produce → closed-window latency, CPU time, peak RSS.
    E2e(E2eArgs),
    /// Publish hours of windows to a sketch log and time a view rebuilding them.
    View(ViewArgs),
    /// The memory many series take (peak RSS, bytes per series-hour).
    Series(SeriesArgs),
}

/// `mss bench series` flags.
#[derive(Debug, Args)]
pub struct SeriesArgs {
    /// Series to simulate.
    #[arg(long, default_value_t = 1_000)]
    pub series: usize,
    /// Values per second per series.
    #[arg(long, default_value_t = 20)]
    pub rate: u64,
    /// Event time to simulate (default: the 1 h retention, the steady state).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub history: std::time::Duration,
    /// Partitions the series are spread over.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Also publish every cut to a sketch log on this broker (topic
    /// `bench-series-sketches`, recreated), as an ingest process does.
    #[arg(long, value_name = "HOST:PORT")]
    pub sketch_log_brokers: Option<String>,
    /// Print JSON instead of a line.
    #[arg(long)]
    pub json: bool,
}

/// `mss bench view` flags.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// Kafka bootstrap servers (default: the embedded broker, which keeps
    /// only ~5 MiB per partition: use a real broker for an hour of history).
    #[arg(long)]
    pub brokers: Option<String>,
    /// History to publish, e.g. `1h`.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub history: std::time::Duration,
    /// Partitions.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// No broker: put the windows straight into the view's store (the
    /// memory of a long history, e.g. `--history 24h`).
    #[arg(long)]
    pub direct: bool,
    /// Extra librdkafka property, `key=value` (repeatable).
    #[arg(long = "librdkafka", value_name = "KEY=VALUE", value_parser = crate::commands::args::parse_key_value)]
    pub librdkafka: Vec<(String, String)>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `mss bench e2e` flags.
#[derive(Debug, Args)]
pub struct E2eArgs {
    /// Synthetic HDFS-like rows to replay.
    #[arg(long, default_value_t = crate::source::synthetic::HDFS_ROWS)]
    pub rows: u64,
    /// Spread the rows over this many series (series records tagged
    /// `route`); 0: HDFS records of the default series.
    #[arg(long, default_value_t = 0)]
    pub series: usize,
    /// Kafka bootstrap servers (default: the embedded broker). A fresh topic
    /// `mss-bench-<ms>` is created for each run.
    #[arg(long)]
    pub brokers: Option<String>,
    /// Partitions of the bench topic.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Window length.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub window: std::time::Duration,
    /// Seed of the synthetic rows.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Extra librdkafka property, `key=value` (repeatable).
    #[arg(long = "librdkafka", value_name = "KEY=VALUE", value_parser = crate::commands::args::parse_key_value)]
    pub librdkafka: Vec<(String, String)>,
    /// Do not publish windows to a sketch log (to measure its cost).
    #[arg(long)]
    pub no_sketch_log: bool,
    /// Produce every row before the consumer starts, then time and count
    /// CPU for the consumer alone (records per consumer CPU-second). Needs
    /// `--brokers` (the embedded broker keeps only ~5 MiB per partition).
    #[arg(long)]
    pub preload: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write a per-stage timing report to FILE and a flamegraph to FILE.flamegraph.svg.
    #[arg(long, value_name = "FILE")]
    pub profile_output: Option<std::path::PathBuf>,
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
        BenchCommand::View(args) => {
            let runtime = tokio::runtime::Runtime::new()?;
            let r = runtime.block_on(view::run(
                args.brokers,
                args.history.as_secs().max(1),
                args.partitions.max(1),
                args.direct,
                &args.librdkafka,
            ))?;
            if args.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "view rebuild: {} s of history, {} partitions, {} broker\n\
                     | measurement | value |\n|---|---:|\n\
                     | windows | {} ({:.1} MB of frames) |\n\
                     | publish (acknowledged) | {:.2} s |\n\
                     | rebuild: read, decode, store | {:.2} s ({:.0} windows/s) |\n\
                     | values counted | {} |\n\
                     | peak RSS | {:.1} MB |",
                    r.history_s,
                    r.partitions,
                    r.broker,
                    r.windows,
                    r.bytes as f64 / 1e6,
                    r.publish_s,
                    r.rebuild_s,
                    r.windows as f64 / r.rebuild_s.max(1e-9),
                    r.values,
                    r.peak_rss_mb
                );
            }
        }
        BenchCommand::Series(args) => {
            let r = series::run(&series::SeriesOptions {
                series: args.series.max(1),
                rate: args.rate.max(1),
                history_s: args.history.as_secs().max(1),
                partitions: args.partitions.max(1),
                sketch_log_brokers: args.sketch_log_brokers,
            })?;
            if args.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "{} series × {} values/s × {} s: peak RSS {:.1} MB ({:.1} MB before), {:.0} bytes per series \
                     ({:.0} per series-hour), {} windows, {:.1} s",
                    r.series,
                    r.rate,
                    r.history_s,
                    r.peak_rss_mb,
                    r.baseline_rss_mb,
                    r.bytes_per_series,
                    r.bytes_per_series_hour,
                    r.windows,
                    r.elapsed_s
                );
                let s = &r.store;
                println!(
                    "store: fine {} windows / {} sketch bytes, 10 s {} parts / {} bytes, minute {} parts / {} bytes",
                    s.fine.units,
                    s.fine.sketch_bytes,
                    s.mid.units,
                    s.mid.sketch_bytes,
                    s.minutes.units,
                    s.minutes.sketch_bytes
                );
            }
        }
        BenchCommand::E2e(args) => {
            let options = e2e::E2eOptions {
                rows: args.rows.max(1),
                brokers: args.brokers,
                partitions: args.partitions.max(1),
                window_ms: u64::try_from(args.window.as_millis()).unwrap_or(1000).max(1),
                seed: args.seed,
                librdkafka: args.librdkafka,
                sketch_log: !args.no_sketch_log,
                series: args.series,
                preload: args.preload,
            };
            let profile = args.profile_output.as_deref().map(crate::profile::Profile::start);
            let runtime = tokio::runtime::Runtime::new()?;
            let report = runtime.block_on(e2e::run(&options))?;
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", e2e::table(&report));
            }
            if let Some(profile) = profile {
                let (path, svg) = profile.finish()?;
                eprintln!("profile: {}", path.display());
                if let Some(svg) = svg {
                    eprintln!("flamegraph: {}", svg.display());
                }
            }
        }
    }
    Ok(())
}
