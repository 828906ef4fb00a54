//! Serving costs, in one run: `cargo bench -p backend --bench ws_fanout`
//!
//! 1. Bytes per second one WebSocket client receives at 1 s windows,
//!    4 partitions, every kind (and one kind only, as an embedded chart),
//!    at several ingest rates of HDFS-like latencies.
//! 2. Ingest throughput (records through `Pipeline::ingest`, 100 ms windows
//!    so fan-out is frequent) with no client, then with 100 connected
//!    clients of which 10 never read.
//! 3. The whole pipeline (embedded broker → consumer group → 1 s windows),
//!    575,061 HDFS-like rows, with no client and with 100 clients (10 never
//!    read): consume rate from the first record to the last.
//!
//! `-- clients`: the whole pipeline with 1,000 clients, half never reading,
//! against none, and the memory they add. `-- series`: bandwidth with 1,000
//! series.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use backend::ingest::{IngestConfig, Pipeline};
use backend::record::{encode, LatencyRecord};
use backend::source::synthetic::SyntheticSource;
use backend::window::{PartitionWindows, WindowConfig};
use futures::StreamExt;
use shared::protocol::{ClientMessage, ServerMessage, PROTOCOL_VERSION};
use shared::{SketchKind, SketchParams};

fn config(window_ms: u64) -> IngestConfig {
    IngestConfig {
        kinds: SketchKind::ALL.to_vec(),
        default_kind: SketchKind::QuantileFlow,
        params: SketchParams::default(),
        window_ms,
        retention_ms: 3_600_000,
        fine_retention_ms: 3_600_000,
        exact: false,
        ..Default::default()
    }
}

fn bandwidth() {
    println!("per-client bandwidth, 1 s windows, 4 partitions (frame bytes per second):");
    println!(
        "{:>10} {:>14} {:>14} {:>14}",
        "msg/s", "all kinds", "quantileflow", "stats only"
    );
    let p = Pipeline::new(config(1000)).expect("valid config");
    let stats_bytes = ServerMessage::Stats(backend::serve::ws::stats(&p)).encode().len();
    for rate in [1_245u64, 2_000, 10_000, 100_000] {
        let mut source = SyntheticSource::new(None, 9);
        let mut all = 0usize;
        let mut one = 0usize;
        for partition in 0..4 {
            let mut w = PartitionWindows::new(
                0,
                partition,
                WindowConfig::with_window(1000),
                &SketchKind::ALL,
                &SketchParams::default(),
            )
            .expect("valid");
            for i in 0..rate / 4 {
                let _ = w.insert(i as i64, p.default_series(), source.latency(), 0, 0, "blk");
            }
            for window in w.cut().map(|c| c.windows).unwrap_or_default() {
                let bytes = ServerMessage::Window(window.clone()).encode().len();
                all += bytes;
                if window.kind == SketchKind::QuantileFlow {
                    one += bytes;
                }
            }
        }
        println!(
            "{rate:>10} {:>14} {:>14} {:>14}",
            all + stats_bytes,
            one + stats_bytes,
            stats_bytes
        );
    }
}

async fn start(p: Arc<Pipeline>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let router = backend::serve::router(
        p,
        std::path::Path::new("/nonexistent"),
        tokio_util::sync::CancellationToken::new(),
    );
    tokio::spawn(backend::serve::run(listener, router, std::future::pending()));
    port
}

fn ingest_rate(p: &Pipeline, records: &[(i32, Vec<u8>)]) -> f64 {
    let partitions: Vec<_> = (0..4).map(|i| p.partition(i).expect("partition")).collect();
    let start = Instant::now();
    for (offset, (partition, payload)) in records.iter().enumerate() {
        p.ingest(
            &partitions[*partition as usize],
            offset as i64,
            None,
            Some(payload),
            None,
        );
    }
    records.len() as f64 / start.elapsed().as_secs_f64()
}

/// Spawns `n` WebSocket clients; every tenth never reads.
fn spawn_clients(
    runtime: &tokio::runtime::Runtime,
    port: u16,
    n: usize,
) -> Vec<tokio::task::JoinHandle<usize>> {
    spawn_clients_idle_every(runtime, port, n, 10)
}

/// Spawns `n` WebSocket clients; every `idle_every`-th never reads.
fn spawn_clients_idle_every(
    runtime: &tokio::runtime::Runtime,
    port: u16,
    n: usize,
    idle_every: usize,
) -> Vec<tokio::task::JoinHandle<usize>> {
    (0..n)
        .map(|i| {
            runtime.spawn(async move {
                let Ok((mut ws, _)) =
                    tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws")).await
                else {
                    return 0;
                };
                let sub = ClientMessage::Subscribe {
                    protocol_version: PROTOCOL_VERSION,
                    kinds: None,
                    partitions: None,
                    history_from_ms: None,
                    metric: None,
                    filter: None,
                };
                use futures::SinkExt;
                let _ = ws
                    .send(tokio_tungstenite::tungstenite::Message::Binary(
                        sub.encode().into(),
                    ))
                    .await;
                let mut bytes = 0usize;
                if i % idle_every == 0 {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                while let Some(Ok(m)) = ws.next().await {
                    bytes += m.len();
                }
                bytes
            })
        })
        .collect()
}

/// 575,061 rows through the embedded broker and consumer group; msg/s from
/// the first produced record until the last is in a window sketch.
fn pipeline_rate(clients: usize) -> f64 {
    pipeline_rate_with(clients, 10).0
}

/// `VmRSS` of this process, bytes.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// [`pipeline_rate`] with every `idle_every`-th client never reading; also
/// the RSS growth from before the clients connected to the end of the run.
fn pipeline_rate_with(clients: usize, idle_every: usize) -> (f64, u64) {
    use backend::broker::EmbeddedBroker;
    use backend::ingest::consumer::{self, ConsumerConfig};
    use backend::produce::{replay, ProduceOptions};
    let rows = 575_061u64;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let broker = EmbeddedBroker::start(&[("latency-metrics".to_owned(), 4)]).expect("broker");
    let pipeline = Pipeline::new(config(1000)).expect("valid config");
    let port = runtime.block_on(start(pipeline.clone()));
    let before = rss_bytes();
    let _clients = spawn_clients_idle_every(&runtime, port, clients, idle_every);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let consumer = runtime.spawn(consumer::run(
        pipeline.clone(),
        ConsumerConfig {
            brokers: broker.bootstrap().to_owned(),
            topic: "latency-metrics".into(),
            group: "bench".into(),
            librdkafka: Vec::new(),
            // Serving cost only: no sketch log here (`mss bench e2e` measures it).
            sketch_log: None,
            commit_interval: None,
            revoke_timeout: backend::ingest::revoke::DEFAULT_REVOKE_TIMEOUT,
            stall_restart: backend::ingest::stall::DEFAULT_STALL_RESTART,
        },
        shutdown.clone(),
    ));
    // Say what it waits for (an earlier run sat silent for 14 minutes), and
    // give up rather than hang.
    let (joining, mut noted) = (Instant::now(), Instant::now());
    while !pipeline.is_ready() {
        std::thread::sleep(Duration::from_millis(10));
        let waited = joining.elapsed();
        if noted.elapsed() > Duration::from_secs(5) {
            noted = Instant::now();
            eprintln!(
                "  … {clients} clients: not ready after {waited:.0?}: {:?}",
                pipeline.not_ready_reason()
            );
        }
        assert!(
            waited < Duration::from_secs(120),
            "the consumer group never got its partitions: {:?}",
            pipeline.not_ready_reason()
        );
    }
    let options = ProduceOptions {
        brokers: broker.bootstrap().to_owned(),
        topic: "latency-metrics".into(),
        metric: backend::ingest::DEFAULT_METRIC.to_owned(),
        rate: None,
        total_hint: None,
        progress: false,
        librdkafka: Vec::new(),
        max_unconsumed: Some(40_000),
    };
    let start = Instant::now();
    let stats = pipeline.stats.clone();
    let producer = std::thread::spawn(move || {
        replay(
            SyntheticSource::new(Some(rows), 5),
            &options,
            &stats,
            &tokio_util::sync::CancellationToken::new(),
        )
    });
    let mut shown = Instant::now();
    while pipeline.stats.messages.load(std::sync::atomic::Ordering::Relaxed) < rows {
        std::thread::sleep(Duration::from_millis(2));
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "{clients} clients: not every row counted in 10 minutes: {:?}",
            pipeline.not_ready_reason()
        );
        if shown.elapsed() > Duration::from_secs(5) {
            shown = Instant::now();
            eprintln!(
                "  … {clients} clients: {} of {rows} counted, {} produced",
                pipeline.stats.messages.load(std::sync::atomic::Ordering::Relaxed),
                pipeline.stats.produced.load(std::sync::atomic::Ordering::Relaxed)
            );
        }
    }
    let rate = rows as f64 / start.elapsed().as_secs_f64();
    let grown = rss_bytes().saturating_sub(before);
    let _ = producer.join();
    shutdown.cancel();
    let _ = runtime.block_on(consumer);
    runtime.shutdown_timeout(Duration::from_millis(100));
    drop(broker);
    (rate, grown)
}

/// Bytes a second one client receives with 1,000 series of 20 values/s
/// published live (1 s windows, all four kinds, 4 partitions), subscribed to
/// every series or to one (`filter=route:/r7`), over a real socket.
fn series_bandwidth() {
    const SERIES: usize = 1_000;
    const SECONDS: i64 = 10;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let p = Pipeline::new(IngestConfig {
        max_series: None,
        ..config(1000)
    })
    .expect("valid config");
    let ids: Vec<_> = (0..SERIES)
        .map(|i| {
            let key =
                shared::series::SeriesKey::new("latency", [("route", format!("/r{i}"))]).expect("valid");
            p.catalog.intern(&key).expect("no limit")
        })
        .collect();
    let port = runtime.block_on(start(p.clone()));
    let client = |filter: Option<&str>| {
        let filter = filter.map(str::to_owned);
        runtime.spawn(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws"))
                .await
                .expect("connects");
            let sub = ClientMessage::Subscribe {
                protocol_version: PROTOCOL_VERSION,
                kinds: None,
                partitions: None,
                history_from_ms: None,
                metric: None,
                filter,
            };
            use futures::SinkExt;
            ws.send(tokio_tungstenite::tungstenite::Message::Binary(
                sub.encode().into(),
            ))
            .await
            .expect("send");
            let mut bytes = 0usize;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(SECONDS as u64 + 3);
            while let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, ws.next()).await {
                bytes += m.len();
            }
            bytes
        })
    };
    let all = client(None);
    let one = client(Some("route:/r7"));
    std::thread::sleep(Duration::from_millis(1_500));
    let mut source = SyntheticSource::new(None, 21).untagged();
    let mut windows: Vec<PartitionWindows> = (0..4)
        .map(|partition| {
            PartitionWindows::new(
                0,
                partition,
                WindowConfig::with_window(1000),
                &SketchKind::ALL,
                &SketchParams::default(),
            )
            .expect("valid")
        })
        .collect();
    let start = backend::clock::now_ms();
    let mut offset = 0i64;
    for second in 0..SECONDS {
        for (i, &id) in ids.iter().enumerate() {
            for k in 0..20 {
                offset += 1;
                let t = start + second * 1000 + k * 50;
                let w = &mut windows[i % 4];
                if let Some(cut) = w.insert(offset, id, source.latency(), t, backend::clock::now_ms(), "") {
                    p.publish(cut);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1000));
    }
    for w in &mut windows {
        if let Some(cut) = w.cut() {
            p.publish(cut);
        }
    }
    let all = runtime.block_on(all).expect("client");
    let one = runtime.block_on(one).expect("client");
    println!("per-client bandwidth, {SERIES} series × 20 values/s, 1 s windows, 4 kinds, {SECONDS} s live:");
    println!(
        "  every series:        {:>12.0} bytes/s",
        all as f64 / SECONDS as f64
    );
    println!(
        "  one series (filter): {:>12.0} bytes/s",
        one as f64 / SECONDS as f64
    );
}

/// 1,000 connected clients, half never reading, against none: the whole
/// pipeline's rate (best of 3, alternating) and the memory they add.
fn thousand_clients() {
    let (mut none, mut thousand, mut grown) = (0.0f64, 0.0f64, 0u64);
    for _ in 0..3 {
        none = none.max(pipeline_rate_with(0, 2).0);
        let (rate, rss) = pipeline_rate_with(1000, 2);
        thousand = thousand.max(rate);
        grown = grown.max(rss);
    }
    println!("whole pipeline (embedded broker, 1 s windows), 575,061 rows, best of 3:");
    println!("  no clients:                        {none:>10.0} msg/s");
    println!(
        "  1,000 clients (500 never read):    {thousand:>10.0} msg/s  ({:+.1} %)",
        (thousand / none - 1.0) * 100.0
    );
    println!(
        "  RSS added by the clients (both ends, this process): {:.1} MB, {:.1} KB per client",
        grown as f64 / 1e6,
        grown as f64 / 1000.0 / 1e3
    );
}

fn main() {
    if std::env::args().any(|a| a == "series") {
        series_bandwidth();
        return;
    }
    if std::env::args().any(|a| a == "clients") {
        thousand_clients();
        return;
    }
    bandwidth();
    // Alternate, and keep the best of three of each (the first run warms up).
    let (mut none, mut hundred) = (0.0f64, 0.0f64);
    for _ in 0..3 {
        none = none.max(pipeline_rate(0));
        hundred = hundred.max(pipeline_rate(100));
    }
    println!("whole pipeline (embedded broker, 1 s windows), 575,061 rows, best of 3:");
    println!("  no clients:                  {none:>10.0} msg/s");
    println!(
        "  100 clients (10 never read): {hundred:>10.0} msg/s  ({:+.1} %)",
        (hundred / none - 1.0) * 100.0
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut source = SyntheticSource::new(None, 3);
    let records: Vec<(i32, Vec<u8>)> = (0..2_000_000)
        .map(|i| {
            let rec = LatencyRecord {
                block_id: format!("blk_{i}"),
                latency: source.latency(),
                ts_ms: 0,
            };
            (i % 4, encode(&rec))
        })
        .collect();
    let quiet = Pipeline::new(config(100)).expect("valid config");
    let alone = ingest_rate(&quiet, &records);
    let busy = Pipeline::new(config(100)).expect("valid config");
    let port = runtime.block_on(start(busy.clone()));
    let clients = spawn_clients(&runtime, port, 100);
    std::thread::sleep(Duration::from_secs(2));
    let with_clients = ingest_rate(&busy, &records);
    println!("ingest through Pipeline::ingest, 100 ms windows, 4 partitions, 4 kinds:");
    println!("  no clients:                 {alone:>12.0} msg/s");
    println!(
        "  100 clients (10 never read): {with_clients:>12.0} msg/s  ({:+.1} %)",
        (with_clients / alone - 1.0) * 100.0
    );
    println!(
        "  windows published: {}",
        busy.stats
            .windows_closed
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    drop(clients);
    runtime.shutdown_timeout(Duration::from_millis(100));
}
