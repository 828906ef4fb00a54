//! Insert loops for CPU-time measurement on a loaded machine, where
//! criterion's wall-clock times include time spent descheduled:
//!
//! ```sh
//! cargo build --release -p shared --example insert_cpu_time
//! perf stat -e task-clock target/release/examples/insert_cpu_time <peer> 1
//! perf stat -e task-clock target/release/examples/insert_cpu_time <peer> 21
//! ```
//!
//! (task-clock of 21 rounds − task-clock of 1 round) / (20 · 5M) is the CPU
//! time per insert, setup excluded. `<peer>`: `sketches-ddsketch`,
//! `ddsketch-insert`, `sketch-insert`, `insert-slice`. Same 5M HDFS-like
//! values as `benches/sketches.rs`.
#![allow(missing_docs)]

use shared::ddsketch::DDSketch;
use shared::{Sketch, SketchKind};
use std::hint::black_box;

fn rng(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed;
    move || {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 + 1e-17
    }
}

fn normal(u: &mut impl FnMut() -> f64) -> f64 {
    (-2.0 * u().ln()).sqrt() * (std::f64::consts::TAU * u()).cos()
}

/// The benches' HDFS-like mixture (seed 2).
fn hdfs_like(n: usize) -> Vec<f64> {
    let mut u = rng(2);
    (0..n)
        .map(|_| {
            if u() < 0.86 {
                (6000f64.ln() + 0.9 * normal(&mut u)).exp()
            } else {
                (50_000.0 + 1_600.0 * normal(&mut u)).abs()
            }
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let peer = args.get(1).map_or("ddsketch-insert", String::as_str);
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(1);
    let data = hdfs_like(5_000_000);
    let mut checksum = 0.0;
    for _ in 0..rounds {
        checksum += match peer {
            "sketches-ddsketch" => {
                let mut s =
                    sketches_ddsketch::DDSketch::new(sketches_ddsketch::Config::new(0.01, 2048, 1.0e-9));
                data.iter().for_each(|&v| s.add(v));
                black_box(&s).count() as f64
            }
            "ddsketch-insert" => {
                let mut s = DDSketch::default();
                for &v in &data {
                    let _ = s.insert(v);
                }
                black_box(&s).count()
            }
            "sketch-insert" => {
                let mut s = Sketch::with_defaults(SketchKind::QuantileFlow);
                for &v in &data {
                    let _ = s.insert(v);
                }
                black_box(&s).count() as f64
            }
            "insert-slice" => {
                let mut s = Sketch::with_defaults(SketchKind::QuantileFlow);
                let _ = s.insert_slice(&data);
                black_box(&s).count() as f64
            }
            other => {
                eprintln!("unknown peer {other}");
                std::process::exit(2);
            }
        };
    }
    println!("{peer}: {rounds} rounds, {checksum} values");
}
