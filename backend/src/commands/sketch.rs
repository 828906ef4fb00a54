//! `mss sketch quantiles` and `mss sketch encode`: the sketch crate on files.
//!
//! Input formats (`--format`):
//! - `values`: one number per line. Blank lines are ignored; lines that are
//!   not a finite number, or that the sketch refuses (a negative value for
//!   `datadog`/`hdrhistogram`), are counted in `rejected` and reported on
//!   stderr with their line number. Nothing is dropped silently.
//! - `datadog-proto`: a DDSketch protobuf (binary, or base64 text) made
//!   elsewhere; `--sketch` says whose key convention to read it with.
//! - `hdr-v2`: HdrHistogram V2, plain or compressed, binary or base64 text.
//! - `native`: this crate's own encoding (binary or base64 text).

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};
use shared::{Sketch, SketchKind, SketchParams};

/// How many rejected lines are reported one by one on stderr.
const REPORTED_REJECTS: usize = 20;

/// `mss sketch ...`
#[derive(Debug, Subcommand)]
pub enum SketchCommand {
    /// Print count, min, max, rejected lines and quantiles as one JSON object.
    Quantiles(QuantilesArgs),
    /// Write the sketch of the input in a wire format to stdout.
    Encode(EncodeArgs),
}

/// Sketch parameters shared by both subcommands.
#[derive(Debug, Args)]
pub struct ParamArgs {
    /// Sketch kind: quantileflow, datadog, momentsketch, hdrhistogram.
    #[arg(long, default_value = "quantileflow")]
    sketch: SketchKind,
    /// quantileflow relative accuracy α.
    #[arg(long, default_value_t = shared::ddsketch::DEFAULT_RELATIVE_ACCURACY)]
    alpha: f64,
    /// quantileflow bucket limit per sign.
    #[arg(long, default_value_t = shared::ddsketch::DEFAULT_BIN_LIMIT)]
    bin_limit: usize,
    /// momentsketch number of moments k.
    #[arg(long, default_value_t = shared::moments::DEFAULT_MOMENTS)]
    moments: usize,
    /// momentsketch: compress values with asinh before summing.
    #[arg(long)]
    compressed: bool,
    /// hdrhistogram significant digits.
    #[arg(long, default_value_t = shared::hdr::DEFAULT_SIGNIFICANT_DIGITS)]
    hdr_digits: u8,
    /// hdrhistogram scale (values are recorded as round(value × scale)).
    #[arg(long, default_value_t = shared::hdr::DEFAULT_SCALE)]
    hdr_scale: f64,
}

impl ParamArgs {
    fn params(&self) -> SketchParams {
        SketchParams {
            relative_accuracy: self.alpha,
            bin_limit: self.bin_limit,
            moments: self.moments,
            compressed: self.compressed,
            significant_digits: self.hdr_digits,
            hdr_scale: self.hdr_scale,
        }
    }
}

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// One number per line.
    Values,
    /// Datadog DDSketch protobuf.
    DatadogProto,
    /// HdrHistogram V2.
    HdrV2,
    /// Native encoding of this project.
    Native,
}

/// Output formats of `encode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Native encoding (binary).
    Native,
    /// Datadog DDSketch protobuf (binary).
    DatadogProto,
    /// HdrHistogram V2, compressed, base64 text (like Python's `encode()`).
    HdrV2,
}

/// `mss sketch quantiles`
#[derive(Debug, Args)]
pub struct QuantilesArgs {
    #[command(flatten)]
    params: ParamArgs,
    /// Input file, or `-` for stdin.
    #[arg(long, default_value = "-")]
    input: PathBuf,
    /// Input format.
    #[arg(long, value_enum, default_value = "values")]
    format: InputFormat,
    /// Comma-separated quantiles in [0, 1].
    #[arg(long, default_value = "0.5,0.95,0.99")]
    q: String,
}

/// `mss sketch encode`
#[derive(Debug, Args)]
pub struct EncodeArgs {
    #[command(flatten)]
    params: ParamArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "native")]
    format: OutputFormat,
    /// Input file of values (one per line), or `-` for stdin.
    #[arg(long, default_value = "-")]
    input: PathBuf,
    /// Write binary formats as base64 text.
    #[arg(long)]
    base64: bool,
}

/// Runs a `mss sketch` subcommand.
pub fn run(cmd: SketchCommand) -> anyhow::Result<()> {
    match cmd {
        SketchCommand::Quantiles(args) => quantiles(args),
        SketchCommand::Encode(args) => encode(args),
    }
}

fn read_input(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut buf).context("reading stdin")?;
    } else {
        buf = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    }
    Ok(buf)
}

/// Parses `0.5,0.95,0.99`, keeping each one's text for the JSON keys.
fn parse_quantiles(text: &str) -> anyhow::Result<Vec<(String, f64)>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let q: f64 = s.parse().with_context(|| format!("--q: {s:?} is not a number"))?;
            if !(0.0..=1.0).contains(&q) {
                bail!("--q: {s} is outside [0, 1] (write 0.99, not 99)");
            }
            Ok((q.to_string(), q))
        })
        .collect()
}

/// Lines that did not become a value, by line number.
struct Rejects {
    count: u64,
}

impl Rejects {
    fn report(&mut self, line: usize, text: &str, why: &str) {
        self.count += 1;
        if self.count as usize <= REPORTED_REJECTS {
            eprintln!("line {line}: rejected {text:?}: {why}");
        }
    }
}

/// Builds a sketch of the values in `input`, one per line.
fn sketch_values(params: &ParamArgs, input: &[u8]) -> anyhow::Result<(Sketch, u64)> {
    let mut sketch = Sketch::new(params.sketch, &params.params())?;
    let text = String::from_utf8_lossy(input);
    let mut rejects = Rejects { count: 0 };
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        match trimmed.parse::<f64>() {
            Ok(v) => {
                if let Err(e) = sketch.insert(v) {
                    rejects.report(i + 1, trimmed, &e.to_string());
                }
            }
            Err(_) => rejects.report(i + 1, trimmed, "not a number"),
        }
    }
    if rejects.count as usize > REPORTED_REJECTS {
        eprintln!("... {} rejected lines in all", rejects.count);
    }
    Ok((sketch, rejects.count))
}

/// Binary bytes as given, or decoded from base64 text when they are text.
fn binary_or_base64(input: &[u8], looks_binary: impl Fn(&[u8]) -> bool) -> anyhow::Result<Vec<u8>> {
    if looks_binary(input) {
        return Ok(input.to_vec());
    }
    match std::str::from_utf8(input) {
        Ok(text) => Ok(shared::text::from_base64(text)?),
        Err(_) => Ok(input.to_vec()),
    }
}

fn read_sketch(params: &ParamArgs, format: InputFormat, input: &[u8]) -> anyhow::Result<(Sketch, u64)> {
    let kind = params.sketch;
    Ok(match format {
        InputFormat::Values => sketch_values(params, input)?,
        InputFormat::DatadogProto => {
            let bytes = binary_or_base64(input, |b| Sketch::from_datadog_proto(kind, b).is_ok())?;
            (
                Sketch::from_datadog_proto(kind, &bytes).context("reading datadog-proto input")?,
                0,
            )
        }
        InputFormat::HdrV2 => {
            if kind != SketchKind::HdrHistogram {
                bail!("--format hdr-v2 holds an HDR histogram: use --sketch hdrhistogram");
            }
            let bytes = binary_or_base64(input, |b| b.starts_with(&[0x1c, 0x84, 0x93]))?;
            (Sketch::from_hdr_v2(&bytes).context("reading hdr-v2 input")?, 0)
        }
        InputFormat::Native => {
            let bytes = binary_or_base64(input, |b| b.first() == Some(&shared::codec::MAGIC))?;
            (
                Sketch::decode_kind(kind, &bytes).context("reading native input")?,
                0,
            )
        }
    })
}

fn quantiles(args: QuantilesArgs) -> anyhow::Result<()> {
    let qs = parse_quantiles(&args.q)?;
    let input = read_input(&args.input)?;
    let (sketch, rejected) = read_sketch(&args.params, args.format, &input)?;
    let values: Vec<f64> = qs.iter().map(|(_, q)| *q).collect();
    let mut out = Map::new();
    out.insert("sketch".into(), json!(sketch.kind().name()));
    out.insert("count".into(), json!(sketch.count()));
    out.insert("min".into(), json!(sketch.min()));
    out.insert("max".into(), json!(sketch.max()));
    out.insert("mean".into(), json!(sketch.mean()));
    out.insert("rejected".into(), json!(rejected));
    let mut quantiles = Map::new();
    if sketch.is_empty() {
        qs.iter().for_each(|(k, _)| {
            quantiles.insert(k.clone(), Value::Null);
        });
    } else {
        let (estimates, report) = sketch.quantiles_with_report(&values)?;
        for ((k, _), v) in qs.iter().zip(estimates) {
            quantiles.insert(k.clone(), json!(v));
        }
        if let Some(report) = report {
            out.insert("solver".into(), serde_json::to_value(report)?);
        }
    }
    out.insert("quantiles".into(), Value::Object(quantiles));
    println!("{}", Value::Object(out));
    Ok(())
}

fn encode(args: EncodeArgs) -> anyhow::Result<()> {
    let input = read_input(&args.input)?;
    let (sketch, _) = sketch_values(&args.params, &input)?;
    let bytes = match args.format {
        OutputFormat::Native => sketch.encode(),
        OutputFormat::DatadogProto => sketch.to_datadog_proto()?,
        OutputFormat::HdrV2 => {
            let text = shared::text::to_base64(&sketch.to_hdr_v2(true)?);
            println!("{text}");
            return Ok(());
        }
    };
    let mut stdout = std::io::stdout().lock();
    if args.base64 {
        writeln!(stdout, "{}", shared::text::to_base64(&bytes))?;
    } else {
        stdout.write_all(&bytes)?;
    }
    stdout.flush()?;
    Ok(())
}
