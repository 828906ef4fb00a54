//! Per-stage timing of a real run, for `--profile-output FILE`: how many
//! times each stage ran, total and per-hit time, and its share of the
//! measured time, plus a flamegraph SVG of the whole process (`pprof`,
//! sampling at 999 Hz) written beside the report.
//!
//! Off by default: every probe is one relaxed atomic load until
//! [`enable`] is called. When on, each probe reads the clock twice, so the
//! report measures an instrumented run (a few tens of ns per hit).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use shared::SketchKind;

/// A stage of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Decoding a Kafka payload into a record.
    Decode,
    /// Inserting one value into one kind's sketch.
    Insert(SketchKind),
    /// Closing a window: encoding its sketches.
    WindowClose,
    /// Publishing closed windows: frame encoding, store, broadcast.
    Publish,
    /// Sending one frame to one WebSocket client.
    WsSend,
}

const STAGES: usize = 8;

impl Stage {
    fn index(self) -> usize {
        match self {
            Stage::Decode => 0,
            Stage::Insert(SketchKind::QuantileFlow) => 1,
            Stage::Insert(SketchKind::Datadog) => 2,
            Stage::Insert(SketchKind::MomentSketch) => 3,
            Stage::Insert(SketchKind::HdrHistogram) => 4,
            Stage::WindowClose => 5,
            Stage::Publish => 6,
            Stage::WsSend => 7,
        }
    }

    fn all() -> [Stage; STAGES] {
        [
            Stage::Decode,
            Stage::Insert(SketchKind::QuantileFlow),
            Stage::Insert(SketchKind::Datadog),
            Stage::Insert(SketchKind::MomentSketch),
            Stage::Insert(SketchKind::HdrHistogram),
            Stage::WindowClose,
            Stage::Publish,
            Stage::WsSend,
        ]
    }

    fn name(self) -> String {
        match self {
            Stage::Decode => "decode payload".into(),
            Stage::Insert(k) => format!("insert {k}"),
            Stage::WindowClose => "window close (encode sketches)".into(),
            Stage::Publish => "publish (frame, store, broadcast)".into(),
            Stage::WsSend => "websocket send".into(),
        }
    }
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static HITS: [AtomicU64; STAGES] = [const { AtomicU64::new(0) }; STAGES];
static NANOS: [AtomicU64; STAGES] = [const { AtomicU64::new(0) }; STAGES];

/// Turns the probes on (for the rest of the process).
pub fn enable() {
    ENABLED.store(true, Relaxed);
}

/// Whether the probes are on (one relaxed load; lets a hot loop check once).
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Relaxed)
}

/// The start of a timed stage, or `None` when profiling is off.
#[inline]
pub fn start() -> Option<Instant> {
    enabled().then(Instant::now)
}

/// Ends a stage begun with [`start`].
#[inline]
pub fn record(stage: Stage, started: Option<Instant>) {
    record_many(stage, started, 1);
}

/// Like [`record`] for a batch of `hits` items handled together (a window's
/// values inserted at once): the time is shared, the hits are counted.
pub fn record_many(stage: Stage, started: Option<Instant>, hits: u64) {
    if let Some(t) = started {
        let i = stage.index();
        HITS[i].fetch_add(hits, Relaxed);
        NANOS[i].fetch_add(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }
}

/// The per-stage table, `%` of the stages' total and of `wall` (cores × wall
/// would exceed 100 % on several threads, so both are shown).
pub fn report(wall: Duration) -> String {
    let rows: Vec<(Stage, u64, u64)> = Stage::all()
        .into_iter()
        .map(|s| (s, HITS[s.index()].load(Relaxed), NANOS[s.index()].load(Relaxed)))
        .collect();
    let total: u64 = rows.iter().map(|r| r.2).sum();
    let wall_ns = wall.as_nanos().max(1) as f64;
    let mut out = String::new();
    let _ = writeln!(out, "per-stage profile ({:.3} s wall)", wall.as_secs_f64());
    let _ = writeln!(
        out,
        "| stage | hits | total ms | ns/hit | % of stages | % of wall |\n|---|---:|---:|---:|---:|---:|"
    );
    for (stage, hits, nanos) in rows {
        let per_hit = if hits == 0 {
            0.0
        } else {
            nanos as f64 / hits as f64
        };
        let _ = writeln!(
            out,
            "| {} | {hits} | {:.1} | {per_hit:.1} | {:.1} | {:.1} |",
            stage.name(),
            nanos as f64 / 1e6,
            nanos as f64 * 100.0 / total.max(1) as f64,
            nanos as f64 * 100.0 / wall_ns,
        );
    }
    out
}

/// Where the flamegraph of report `path` goes: `<path>.flamegraph.svg`.
pub fn flamegraph_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".flamegraph.svg");
    PathBuf::from(p)
}

/// A running profile: stage probes on, CPU sampling started.
pub struct Profile {
    output: PathBuf,
    started: Instant,
    sampler: Option<pprof::ProfilerGuard<'static>>,
}

impl Profile {
    /// Starts profiling; the report goes to `output` when [`Profile::finish`] is called.
    pub fn start(output: &Path) -> Self {
        enable();
        let sampler = pprof::ProfilerGuardBuilder::default()
            .frequency(999)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .map_err(|e| tracing::warn!("CPU sampling unavailable, stage table only: {e}"))
            .ok();
        Self {
            output: output.to_owned(),
            started: Instant::now(),
            sampler,
        }
    }

    /// Writes the stage report and the flamegraph; returns their paths.
    pub fn finish(self) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
        use anyhow::Context as _;
        let text = report(self.started.elapsed());
        std::fs::write(&self.output, &text).with_context(|| format!("writing {}", self.output.display()))?;
        let mut svg_path = None;
        if let Some(sampler) = self.sampler {
            let path = flamegraph_path(&self.output);
            let report = sampler.report().build().context("building the CPU profile")?;
            let file = std::fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?;
            report.flamegraph(file).context("drawing the flamegraph")?;
            svg_path = Some(path);
        }
        Ok((self.output, svg_path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_count_hits_and_time_once_enabled() {
        let before = HITS[Stage::WsSend.index()].load(Relaxed);
        enable();
        let t = start();
        std::thread::sleep(Duration::from_millis(2));
        record(Stage::WsSend, t);
        assert_eq!(HITS[Stage::WsSend.index()].load(Relaxed), before + 1);
        let table = report(Duration::from_millis(10));
        assert!(table.contains("| websocket send |"), "{table}");
        assert_eq!(
            flamegraph_path(Path::new("/tmp/run.txt")),
            PathBuf::from("/tmp/run.txt.flamegraph.svg")
        );
    }
}
