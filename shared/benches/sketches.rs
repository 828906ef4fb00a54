//! Sketch operations against their peers, in one run (ratios are what count).
//!
//! `cargo bench -p shared --bench sketches`
//!
//! Peers used directly: `sketches-ddsketch` 0.4 (α = 0.01), `libdd-ddsketch`
//! (our `datadog` kind wraps it), `hdrhistogram` (our `hdrhistogram` kind
//! wraps it). Data: 1M lognormal values and 1M HDFS-like values, seeded.
//!
//! `cargo bench -p shared --bench sketches -- hot_insert` is the DDSketch
//! insert comparison alone: 5M HDFS-like values through `sketches-ddsketch`'s
//! `add`, our `DDSketch::insert`, the `Sketch` enum's `insert` (the call the
//! pipeline makes) and `insert_slice`, in one run; plus the cost of building
//! a sketch (decoding builds one per window).
//!
//! `cargo bench -p shared --bench sketches -- merge_encoded_3600` is the
//! browser's range query natively: 3,600 encoded one-second windows of 160
//! HDFS-like values (an hour), folded from their bytes with
//! `Sketch::merge_encoded` into one accumulator, then P50/P95/P99; `batch/…`
//! does the same through `BatchMerge` (what the dashboard's range merges use).
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use shared::ddsketch::{DDSketch, LogarithmicMapping};
use shared::{BatchMerge, Sketch, SketchKind};

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

/// 1M lognormal(8, 1.2) values.
fn lognormal(n: usize) -> Vec<f64> {
    let mut u = rng(1);
    (0..n).map(|_| (8.0 + 1.2 * normal(&mut u)).exp()).collect()
}

/// 1M HDFS-like values (the `mss generate` mixture).
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

fn insert(c: &mut Criterion) {
    for (name, data) in [
        ("lognormal", lognormal(1_000_000)),
        ("hdfs_like", hdfs_like(1_000_000)),
    ] {
        let mut g = c.benchmark_group(format!("insert_1M_{name}"));
        g.throughput(Throughput::Elements(data.len() as u64));
        g.sample_size(10);
        for kind in SketchKind::ALL {
            g.bench_function(BenchmarkId::new("ours", kind.name()), |b| {
                b.iter_batched_ref(
                    || Sketch::with_defaults(kind),
                    |s| {
                        for &v in &data {
                            let _ = s.insert(v);
                        }
                    },
                    BatchSize::LargeInput,
                )
            });
        }
        g.bench_function(BenchmarkId::new("ours_slice", "quantileflow"), |b| {
            b.iter_batched_ref(
                || Sketch::with_defaults(SketchKind::QuantileFlow),
                |s| s.insert_slice(&data),
                BatchSize::LargeInput,
            )
        });
        g.bench_function(BenchmarkId::new("peer", "sketches-ddsketch"), |b| {
            b.iter_batched_ref(
                || sketches_ddsketch::DDSketch::new(sketches_ddsketch::Config::new(0.01, 2048, 1.0e-9)),
                |s| {
                    for &v in &data {
                        s.add(v);
                    }
                },
                BatchSize::LargeInput,
            )
        });
        g.bench_function(BenchmarkId::new("peer", "libdd-ddsketch"), |b| {
            b.iter_batched_ref(
                libdd_ddsketch::DDSketch::default,
                |s| {
                    for &v in &data {
                        let _ = s.add(v);
                    }
                },
                BatchSize::LargeInput,
            )
        });
        g.bench_function(BenchmarkId::new("peer", "hdrhistogram"), |b| {
            b.iter_batched_ref(
                || hdrhistogram::Histogram::<u64>::new(3).expect("valid"),
                |h| {
                    for &v in &data {
                        let _ = h.record((v * 1000.0).round() as u64);
                    }
                },
                BatchSize::LargeInput,
            )
        });
        g.finish();
    }
}

/// The DDSketch insert paths against `sketches-ddsketch` (α = 0.01, 2048
/// bins each), same 5M values, same run.
fn hot_insert(c: &mut Criterion) {
    let data = hdfs_like(5_000_000);
    let mut g = c.benchmark_group("hot_insert_5M_hdfs_like");
    g.throughput(Throughput::Elements(data.len() as u64));
    g.sample_size(10);
    g.bench_function("sketches-ddsketch_add", |b| {
        b.iter_batched_ref(
            || sketches_ddsketch::DDSketch::new(sketches_ddsketch::Config::new(0.01, 2048, 1.0e-9)),
            |s| data.iter().for_each(|&v| s.add(v)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("quantileflow_DDSketch_insert", |b| {
        b.iter_batched_ref(
            DDSketch::default,
            |s| {
                for &v in &data {
                    let _ = s.insert(v);
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("quantileflow_Sketch_insert", |b| {
        b.iter_batched_ref(
            || Sketch::with_defaults(SketchKind::QuantileFlow),
            |s| {
                for &v in &data {
                    let _ = s.insert(v);
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("quantileflow_insert_slice", |b| {
        b.iter_batched_ref(
            || Sketch::with_defaults(SketchKind::QuantileFlow),
            |s| s.insert_slice(&data),
            BatchSize::LargeInput,
        )
    });
    g.finish();
    let mut g = c.benchmark_group("hot_insert_construct");
    g.bench_function("DDSketch_default", |b| b.iter(DDSketch::default));
    g.bench_function("LogarithmicMapping_new", |b| {
        b.iter(|| LogarithmicMapping::new(std::hint::black_box(0.01), 0.0))
    });
    g.finish();
}

/// Two 1 s windows of one partition at HDFS pace (~5k values each).
fn windows(kind: SketchKind) -> (Sketch, Sketch) {
    let data = hdfs_like(10_000);
    let mut a = Sketch::with_defaults(kind);
    let mut b = Sketch::with_defaults(kind);
    a.insert_slice(&data[..5_000]).expect("valid");
    b.insert_slice(&data[5_000..]).expect("valid");
    (a, b)
}

fn merge_quantile_codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("window_ops_hdfs_like");
    for kind in SketchKind::ALL {
        let (a, b) = windows(kind);
        g.bench_function(BenchmarkId::new("merge", kind.name()), |bench| {
            bench.iter_batched_ref(|| a.clone(), |x| x.merge(&b), BatchSize::SmallInput)
        });
        g.bench_function(BenchmarkId::new("quantile_p99", kind.name()), |bench| {
            bench.iter(|| a.quantile(0.99))
        });
        let bytes = a.encode();
        g.bench_function(BenchmarkId::new("encode", kind.name()), |bench| {
            bench.iter(|| a.encode())
        });
        g.bench_function(BenchmarkId::new("decode", kind.name()), |bench| {
            bench.iter(|| Sketch::decode(&bytes))
        });
        println!("encoded_bytes/{}: {}", kind.name(), bytes.len());
    }
    let data = hdfs_like(10_000);
    let mut pa = sketches_ddsketch::DDSketch::new(sketches_ddsketch::Config::new(0.01, 2048, 1.0e-9));
    let mut pb = pa.clone();
    data[..5_000].iter().for_each(|&v| pa.add(v));
    data[5_000..].iter().for_each(|&v| pb.add(v));
    g.bench_function(BenchmarkId::new("merge", "peer-sketches-ddsketch"), |bench| {
        bench.iter_batched_ref(|| pa.clone(), |x| x.merge(&pb), BatchSize::SmallInput)
    });
    g.bench_function(
        BenchmarkId::new("quantile_p99", "peer-sketches-ddsketch"),
        |bench| bench.iter(|| pa.quantile(0.99)),
    );
    g.finish();
}

/// Windows per `merge_encoded_3600` run (an hour of one-second windows).
const WINDOWS: usize = 3_600;
/// Values per window, as the `/bench` page uses.
const VALUES_PER_WINDOW: usize = 160;

fn merge_encoded_3600(c: &mut Criterion) {
    let data = hdfs_like(WINDOWS * VALUES_PER_WINDOW);
    let mut g = c.benchmark_group("merge_encoded_3600");
    g.sample_size(10);
    g.throughput(Throughput::Elements(WINDOWS as u64));
    for kind in SketchKind::ALL {
        let windows: Vec<Vec<u8>> = data
            .chunks(VALUES_PER_WINDOW)
            .map(|values| {
                let mut s = Sketch::with_defaults(kind);
                s.insert_slice(values).expect("valid");
                s.encode()
            })
            .collect();
        let bytes: usize = windows.iter().map(Vec::len).sum();
        println!("merge_encoded_3600/{}: {} bytes in all", kind.name(), bytes);
        g.bench_function(BenchmarkId::from_parameter(kind.name()), |b| {
            b.iter(|| {
                let mut acc = Sketch::with_defaults(kind);
                for w in &windows {
                    acc.merge_encoded(w).expect("valid");
                }
                acc.quantiles(&[0.5, 0.95, 0.99]).expect("not empty")
            })
        });
        g.bench_function(BenchmarkId::new("batch", kind.name()), |b| {
            b.iter(|| {
                let mut acc = BatchMerge::new(Sketch::with_defaults(kind));
                for w in &windows {
                    acc.merge_encoded(w).expect("valid");
                }
                let acc = acc.finish().expect("flushes");
                acc.quantiles(&[0.5, 0.95, 0.99]).expect("not empty")
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    hot_insert,
    insert,
    merge_quantile_codec,
    merge_encoded_3600
);
criterion_main!(benches);
