//! Synthetic HDFS-like rows.
//!
//! The real HDFS_v1 data (575,061 blocks) has P50/P95/P99 of about
//! 7,261 / 50,529 / 53,654 ms: most blocks finish in seconds, a heavy cluster
//! takes ~50 s. The generator mixes a lognormal (86 %, median 6 s, σ = 0.9)
//! with a normal around 50 s (14 %, σ = 1.6 s), which reproduces those
//! percentiles within ~1 %. Seeded, so runs are repeatable.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::{Row, SourceItem};

/// Rows in the real HDFS_v1 trace.
pub const HDFS_ROWS: u64 = 575_061;

/// Deterministic HDFS-like rows.
pub struct SyntheticSource {
    state: u64,
    tag_state: u64,
    produced: u64,
    rows: Option<u64>,
    tagged: bool,
}

impl SyntheticSource {
    /// `rows` rows (`None`: endless) from `seed`, tagged with `op` and
    /// `datanode`.
    pub fn new(rows: Option<u64>, seed: u64) -> Self {
        Self {
            state: seed ^ 0x5eed_1a7e_9c1e_0001,
            tag_state: seed ^ 0x7a95_0000_0000_0001,
            produced: 0,
            rows,
            tagged: true,
        }
    }

    /// The same rows without tags (all in the consumer's default series).
    pub fn untagged(mut self) -> Self {
        self.tagged = false;
        self
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        // 53 random bits → (0, 1).
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// One latency in ms, rounded to 0.01 ms.
    pub fn latency(&mut self) -> f64 {
        self.latency_and_component().0
    }

    /// A latency and whether it came from the slow (~50 s) component.
    fn latency_and_component(&mut self) -> (f64, bool) {
        let slow = self.unit() >= 0.86;
        let v = if slow {
            (50_000.0 + 1_600.0 * self.normal()).abs()
        } else {
            (6000f64.ln() + 0.9 * self.normal()).exp()
        };
        ((v * 100.0).round() / 100.0, slow)
    }

    /// The series of a row: `op` = replicate for the slow component, else
    /// read (2/3) or write; `datanode` = dn-1 … dn-8. Drawn from a second
    /// generator, so the latencies (and their percentiles) are the same
    /// with or without tags.
    fn tags(&mut self, slow: bool) -> Vec<(String, String)> {
        self.tag_state = self
            .tag_state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let bits = self.tag_state >> 33;
        let op = if slow {
            "replicate"
        } else if bits % 3 == 2 {
            "write"
        } else {
            "read"
        };
        vec![
            ("datanode".to_owned(), format!("dn-{}", (bits >> 4) % 8 + 1)),
            ("op".to_owned(), op.to_owned()),
        ]
    }

    fn block_id(&mut self) -> String {
        // Real ids are `blk_` and a signed 64-bit number.
        format!("blk_{}", self.next_u64() as i64)
    }
}

impl Iterator for SyntheticSource {
    type Item = SourceItem;

    fn next(&mut self) -> Option<SourceItem> {
        if self.rows.is_some_and(|n| self.produced >= n) {
            return None;
        }
        self.produced += 1;
        let (latency, slow) = self.latency_and_component();
        let tags = if self.tagged { self.tags(slow) } else { Vec::new() };
        Some(Ok(Row {
            block_id: self.block_id(),
            latency,
            tags,
        }))
    }
}

/// Writes `rows` synthetic rows as an HDFS `Event_traces.csv`, plus the
/// columns `tag.op` and `tag.datanode` (see [`crate::source::csv`]), so a
/// replay of the file has the series `--synthetic` has.
pub fn write_csv(path: &Path, rows: u64, seed: u64) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    writeln!(
        out,
        "BlockId,Label,Type,Features,TimeInterval,Latency,tag.op,tag.datanode"
    )?;
    let mut source = SyntheticSource::new(Some(rows), seed);
    let mut i = 0u64;
    while let Some(Ok(row)) = source.next() {
        let anomaly = row.latency > 45_000.0 && i.is_multiple_of(7);
        let label = if anomaly { "Anomaly" } else { "Normal" };
        let events = if anomaly {
            "[E5,E22,E5,E11,E9]"
        } else {
            "[E5,E22,E5,E5,E11,E9,E11,E9,E26,E26]"
        };
        let tag = |key: &str| {
            row.tags
                .iter()
                .find(|(k, _)| k == key)
                .map_or("", |(_, v)| v.as_str())
        };
        writeln!(
            out,
            "{},{label},{},\"{events}\",\"[0.0, 1.0]\",{},{},{}",
            row.block_id,
            i % 3,
            row.latency,
            tag("op"),
            tag("datanode")
        )?;
        i += 1;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_look_like_hdfs() {
        let mut v: Vec<f64> = SyntheticSource::new(Some(100_000), 1)
            .map(|r| r.expect("good").latency)
            .collect();
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[(p * (v.len() - 1) as f64) as usize];
        for (p, want) in [(0.5, 7260.81), (0.95, 50529.42), (0.99, 53654.09)] {
            assert!(
                (q(p) / want - 1.0).abs() < 0.05,
                "P{}: {} vs {want}",
                p * 100.0,
                q(p)
            );
        }
    }
}
