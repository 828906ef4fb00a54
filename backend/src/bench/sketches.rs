//! `mss bench sketches`: insert, merge and quantile cost of the four kinds
//! and of `sketches-ddsketch` 0.4 (α = 0.01) measured in the same run, plus
//! encoded sizes. Each figure is the best of several rounds (least noise).
//! The criterion benchmark (`cargo bench -p shared --bench sketches`) gives
//! the same comparison with confidence intervals.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use serde::Serialize;
use shared::{Sketch, SketchKind};

use crate::source::synthetic::SyntheticSource;

/// The measured figures.
#[derive(Debug, Clone, Serialize)]
pub struct SketchBench {
    /// Values inserted per round.
    pub values: usize,
    /// Nanoseconds per inserted value.
    pub insert_ns: BTreeMap<String, f64>,
    /// Nanoseconds per merge of two one-second windows (5,000 HDFS-like values each).
    pub merge_ns: BTreeMap<String, f64>,
    /// Nanoseconds per P99 query of such a window.
    pub quantile_ns: BTreeMap<String, f64>,
    /// Native encoded bytes of such a window.
    pub encoded_bytes: BTreeMap<String, usize>,
    /// `quantileflow` inserts, ns per value: `DDSketch::insert`,
    /// `Sketch::insert` (what the pipeline calls) and `insert_slice`.
    pub quantileflow_insert_ns: BTreeMap<String, f64>,
    /// How many times faster each of those is than `sketches-ddsketch`'s
    /// `add` in the same run (peer ns / ours).
    pub insert_speedup_vs_sketches_ddsketch: BTreeMap<String, f64>,
}

const PEER: &str = "sketches-ddsketch";

fn best_ns_per(rounds: usize, per_round: usize, mut f: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64 / per_round as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// HDFS-like latencies.
pub fn hdfs_like(n: usize, seed: u64) -> Vec<f64> {
    let mut s = SyntheticSource::new(None, seed);
    (0..n).map(|_| s.latency()).collect()
}

/// Runs every measurement on `values` HDFS-like values.
pub fn run(values: usize) -> SketchBench {
    let data = hdfs_like(values, 42);
    let mut insert_ns = BTreeMap::new();
    for kind in SketchKind::ALL {
        let ns = insert_ns_per_value(
            &data,
            || Sketch::with_defaults(kind),
            |s, v| {
                let _ = s.insert(v);
            },
        );
        insert_ns.insert(kind.name().to_owned(), ns);
    }
    let ns = insert_ns_per_value(
        &data,
        || sketches_ddsketch::DDSketch::new(sketches_ddsketch::Config::new(0.01, 2048, 1.0e-9)),
        sketches_ddsketch::DDSketch::add,
    );
    insert_ns.insert(PEER.to_owned(), ns);
    let quantileflow_insert_ns = quantileflow_inserts(&data);
    let insert_speedup_vs_sketches_ddsketch = quantileflow_insert_ns
        .iter()
        .map(|(name, ours)| (name.clone(), ns / ours.max(1e-9)))
        .collect();

    let window = hdfs_like(10_000, 7);
    let (left, right) = window.split_at(5_000);
    let mut merge_ns = BTreeMap::new();
    let mut quantile_ns = BTreeMap::new();
    let mut encoded_bytes = BTreeMap::new();
    for kind in SketchKind::ALL {
        let mut a = Sketch::with_defaults(kind);
        let mut b = Sketch::with_defaults(kind);
        let _ = a.insert_slice(left);
        let _ = b.insert_slice(right);
        let reps = if kind == SketchKind::Datadog { 200 } else { 2_000 };
        let copies: Vec<Sketch> = (0..reps).map(|_| a.clone()).collect();
        let mut copies = Some(copies);
        let ns = best_ns_per(1, reps, || {
            if let Some(cs) = copies.as_mut() {
                for c in cs.iter_mut() {
                    let _ = c.merge(&b);
                }
            }
        });
        merge_ns.insert(kind.name().to_owned(), ns);
        let qreps = if kind == SketchKind::MomentSketch {
            50
        } else {
            2_000
        };
        quantile_ns.insert(
            kind.name().to_owned(),
            best_ns_per(3, qreps, || {
                for _ in 0..qreps {
                    let _ = black_box(a.quantile(0.99));
                }
            }),
        );
        encoded_bytes.insert(kind.name().to_owned(), a.encode().len());
    }
    let mut pa = sketches_ddsketch::DDSketch::new(sketches_ddsketch::Config::new(0.01, 2048, 1.0e-9));
    let mut pb = pa.clone();
    left.iter().for_each(|&v| pa.add(v));
    right.iter().for_each(|&v| pb.add(v));
    let mut copies: Vec<_> = (0..2_000).map(|_| pa.clone()).collect();
    merge_ns.insert(
        PEER.to_owned(),
        best_ns_per(1, 2_000, || {
            for c in copies.iter_mut() {
                let _ = c.merge(&pb);
            }
        }),
    );
    quantile_ns.insert(
        PEER.to_owned(),
        best_ns_per(3, 2_000, || {
            for _ in 0..2_000 {
                let _ = black_box(pa.quantile(0.99));
            }
        }),
    );
    SketchBench {
        values,
        insert_ns,
        merge_ns,
        quantile_ns,
        encoded_bytes,
        quantileflow_insert_ns,
        insert_speedup_vs_sketches_ddsketch,
    }
}

/// Best-of-5 ns per value of inserting every value of `data`, one at a
/// time, into a fresh sketch from `fresh`.
fn insert_ns_per_value<S>(data: &[f64], fresh: impl Fn() -> S, insert: impl Fn(&mut S, f64)) -> f64 {
    best_ns_per(5, data.len(), || {
        let mut s = fresh();
        for &v in data {
            insert(&mut s, v);
        }
        black_box(&s);
    })
}

/// ns per value of the three ways to insert into `quantileflow`.
fn quantileflow_inserts(data: &[f64]) -> BTreeMap<String, f64> {
    let fresh =
        || shared::ddsketch::DDSketch::new(0.01, 2048).unwrap_or_else(|_| unreachable!("valid parameters"));
    let direct = insert_ns_per_value(data, fresh, |s, v| {
        let _ = s.insert(v);
    });
    let via_enum = insert_ns_per_value(
        data,
        || Sketch::with_defaults(SketchKind::QuantileFlow),
        |s, v| {
            let _ = s.insert(v);
        },
    );
    let slice = best_ns_per(5, data.len(), || {
        let mut s = fresh();
        let _ = s.insert_slice(data);
        black_box(&s);
    });
    BTreeMap::from([
        ("DDSketch::insert".to_owned(), direct),
        ("Sketch::insert".to_owned(), via_enum),
        ("insert_slice".to_owned(), slice),
    ])
}

/// A table for people.
pub fn table(b: &SketchBench) -> String {
    let mut out = format!(
        "{:<20}{:>12}{:>12}{:>14}{:>10}\n",
        "sketch", "insert ns", "merge ns", "p99 query ns", "bytes"
    );
    for (name, ins) in &b.insert_ns {
        let cell = |m: &BTreeMap<String, f64>| m.get(name).map_or("-".to_owned(), |v| format!("{v:.1}"));
        let bytes = b
            .encoded_bytes
            .get(name)
            .map_or("-".to_owned(), |v| v.to_string());
        out.push_str(&format!(
            "{name:<20}{ins:>12.2}{:>12}{:>14}{bytes:>10}\n",
            cell(&b.merge_ns),
            cell(&b.quantile_ns)
        ));
    }
    if let (Some(ours), Some(peer)) = (b.insert_ns.get("quantileflow"), b.insert_ns.get(PEER)) {
        out.push_str(&format!(
            "quantileflow insert is {:.2}x faster than {PEER}\n",
            peer / ours
        ));
    }
    for (name, ns) in &b.quantileflow_insert_ns {
        let x = b
            .insert_speedup_vs_sketches_ddsketch
            .get(name)
            .copied()
            .unwrap_or(f64::NAN);
        out.push_str(&format!(
            "quantileflow {name}: {ns:.2} ns, {x:.2}x {PEER}'s add\n"
        ));
    }
    out
}
