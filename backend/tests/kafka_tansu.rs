//! The pipeline against a separate Kafka-protocol broker process (Tansu):
//! replay with bad rows and garbage payloads, a consumer group of two
//! processes, and a consumer killed mid-stream and restarted.
//! Tansu quirks (see ../shared/ENVIRONMENT.md): its high watermark is wrong,
//! so these tests count messages and never read lag; every test uses its
//! own group id; and a fetch from the middle of a batch skips the rest of
//! it, so producers write one record per batch (`ONE_RECORD_PER_BATCH`).

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use rdkafka::config::ClientConfig;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

fn produce(brokers: &str, csv: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let out = mss()
        .args(["produce", "--brokers", brokers, "--partitions", "4", "--csv"])
        .arg(csv)
        .args(ONE_RECORD_PER_BATCH)
        .args(extra)
        .stderr(Stdio::null())
        .output()
        .expect("mss produce runs");
    assert!(out.status.success(), "mss produce failed");
    serde_json::from_slice(&out.stdout).expect("produce prints one JSON object")
}

/// `mss consume` in `group`, serving on `port`, with `window`-long windows.
fn consume_command(brokers: &str, group: &str, port: u16, window: &str) -> std::process::Command {
    let mut c = mss();
    c.args([
        "consume",
        "--brokers",
        brokers,
        "--group",
        group,
        "--window",
        window,
    ])
    .args([
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--librdkafka",
        &format!("session.timeout.ms={SESSION_TIMEOUT_MS}"),
    ])
    .stdout(Stdio::null())
    .stderr(log_file(&format!("consume-{group}-{port}")));
    c
}

fn consume(brokers: &str, group: &str, port: u16) -> Proc {
    let session = format!("session.timeout.ms={SESSION_TIMEOUT_MS}");
    spawn_consumer(brokers, group, port, &["--librdkafka", &session])
}

#[test]
fn replay_counts_every_good_row_once_and_every_bad_input_by_reason() {
    let tansu = Tansu::start();
    let dir = temp_dir("replay");
    let csv = dir.join("events.csv");
    let (values, bad) = write_csv(&csv, 20_000, 11);
    let produced = produce(&tansu.brokers, &csv, &[]);
    assert_eq!(produced["produced"], values.len());
    for (reason, n) in &bad {
        assert_eq!(produced["rejected_by_reason"][reason], *n, "{reason}");
    }
    // Garbage payloads from another producer.
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &tansu.brokers)
        .create()
        .expect("producer");
    let garbage: [&[u8]; 5] = [
        b"hello",
        b"{\"latency\":",
        b"-3",
        br#"{"latency":"NaN"}"#,
        b"\xff\xfe",
    ];
    for g in garbage {
        producer
            .send(BaseRecord::<[u8], [u8]>::to("latency-metrics").payload(g))
            .expect("queued");
    }
    producer.flush(Duration::from_secs(10)).expect("flushed");

    let port = free_port();
    let _consumer = consume(&tansu.brokers, "replay-group", port);
    let s = wait_summary(port, Duration::from_secs(90), "every record", |s| {
        s["messages_processed"] == values.len()
            && s["data_points"] == values.len()
            && s["rejected"]["payload"] == 5
    });
    assert_eq!(s["rejected_by_reason"]["payload"]["malformed"], 3);
    assert_eq!(s["rejected_by_reason"]["payload"]["negative"], 1);
    assert_eq!(s["rejected_by_reason"]["payload"]["not_finite"], 1);
    assert_quantiles_within_alpha(&s, &values);
    std::thread::sleep(Duration::from_millis(600));
    let again = summary(port, "").expect("summary");
    assert_eq!(
        again["messages_processed"],
        values.len(),
        "no record counted twice"
    );
    assert_eq!(again["data_points"], values.len());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn two_consumers_in_one_group_split_the_partitions_and_count_every_row_once() {
    let tansu = Tansu::start();
    let dir = temp_dir("group");
    let csv = dir.join("events.csv");
    let (values, _) = write_csv(&csv, 20_000, 13);
    // Create the topic first so both members get partitions at once.
    create_latency_topic(&tansu.brokers, &dir);
    let (port_a, port_b) = (free_port(), free_port());
    let _a = consume(&tansu.brokers, "split-group", port_a);
    let _b = consume(&tansu.brokers, "split-group", port_b);
    wait_for_a_settled_split(port_a, port_b, 4);
    produce(&tansu.brokers, &csv, &[]);
    let start = std::time::Instant::now();
    let (a, b) = loop {
        let (a, b) = (summary(port_a, ""), summary(port_b, ""));
        if let (Some(a), Some(b)) = (a, b) {
            let total =
                a["messages_processed"].as_u64().unwrap_or(0) + b["messages_processed"].as_u64().unwrap_or(0);
            if total >= values.len() as u64 {
                break (a, b);
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the group did not consume everything: {:?} / {:?}",
            summary(port_a, ""),
            summary(port_b, "")
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let (na, nb) = (
        a["messages_processed"].as_u64().unwrap_or(0),
        b["messages_processed"].as_u64().unwrap_or(0),
    );
    assert_eq!(
        na + nb,
        values.len() as u64,
        "every row exactly once across the group"
    );
    assert!(na > 0 && nb > 0, "both members consumed: {na} and {nb}");
    std::fs::remove_dir_all(dir).ok();
}

/// The sum of `group`'s committed offsets over `partitions` partitions of
/// `latency-metrics`, as the broker answers them (an offset fetch: no join).
fn group_committed(brokers: &str, group: &str, partitions: i32) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .expect("offset-fetch client");
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition("latency-metrics", p);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(30))
        .expect("committed offsets");
    committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            rdkafka::Offset::Offset(o) => o,
            _ => 0,
        })
        .sum()
}

#[test]
fn a_consumer_killed_mid_stream_and_restarted_loses_nothing() {
    let tansu = Tansu::start();
    let dir = temp_dir("restart");
    let csv = dir.join("events.csv");
    let (values, _) = write_csv(&csv, 40_000, 17);
    let total = values.len() as i64;
    create_latency_topic(&tansu.brokers, &dir);

    let port_a = free_port();
    let mut a = consume(&tansu.brokers, "restart-group", port_a);
    wait_ready(port_a);
    let producer = spawn_producer(&tansu.brokers, &csv, Some("10000"));
    // A part consumed and some of it committed (the first cut waits for the
    // watermark to pass a window's end plus --grace).
    wait_summary(
        port_a,
        Duration::from_secs(60),
        "A to consume and commit a part",
        |s| {
            let committed: i64 = s["partitions"].as_array().map_or(0, |p| {
                p.iter()
                    .map(|p| p["committed"].as_i64().unwrap_or(-1).max(0))
                    .sum()
            });
            s["messages_processed"].as_i64().unwrap_or(0) >= 8_000 && committed > 0
        },
    );
    // The broker has some of A's commits (A reports a commit when it sends it).
    let start = std::time::Instant::now();
    while group_committed(&tansu.brokers, "restart-group", 4) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the broker never held a commit of A"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    a.0.kill().expect("SIGKILL the consumer");
    let _ = a.0.wait();
    wait_out_session();
    // What the broker holds, not what A reported: A's `committed` moves when
    // it sends an async commit, and the kill can land before the broker has
    // it (seen once: B then resumed below A's figure).
    let committed_at_kill = group_committed(&tansu.brokers, "restart-group", 4);
    assert!(committed_at_kill > 0, "A committed closed windows before it died");

    let port_b = free_port();
    let _b = consume(&tansu.brokers, "restart-group", port_b);
    producer.finish();
    // B resumes at the committed offsets and must consume everything after them.
    let s = wait_summary(port_b, Duration::from_secs(90), "B to reach the end", |s| {
        let parts = s["partitions"].as_array().cloned().unwrap_or_default();
        let resumed: i64 = parts
            .iter()
            .map(|p| p["start_offset"].as_i64().unwrap_or(-1))
            .sum();
        parts.len() == 4
            && parts
                .iter()
                .all(|p| p["start_offset"].as_i64().unwrap_or(-1) >= 0)
            && s["messages_processed"].as_i64().unwrap_or(0)
                + s["redelivered"].as_i64().unwrap_or(0)
                + resumed
                == total
    });
    let resumed: i64 = s["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| p["start_offset"].as_i64().unwrap_or(0))
        .sum();
    assert!(
        resumed >= committed_at_kill,
        "B resumed at or after what the broker holds as A's commits"
    );
    std::thread::sleep(Duration::from_millis(600));
    let again = summary(port_b, "").expect("summary");
    // Records A published but had not committed are read again and skipped
    // (`redelivered`): they are already in A's windows in the sketch log.
    assert_eq!(
        again["messages_processed"].as_i64().unwrap_or(0)
            + again["redelivered"].as_i64().unwrap_or(0)
            + resumed,
        total,
        "nothing lost, nothing counted twice by B"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn sigterm_commits_every_consumed_offset_so_a_restart_counts_nothing_twice() {
    let tansu = Tansu::start();
    let dir = temp_dir("sigterm");
    let csv = dir.join("events.csv");
    let (values, _) = write_csv(&csv, 30_000, 19);
    create_latency_topic(&tansu.brokers, &dir);

    let port_a = free_port();
    let a = consume_command(&tansu.brokers, "sigterm-group", port_a, "10s")
        .args(["--report", "--report-every", "600"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("consumer starts");
    wait_ready(port_a);
    let producer = spawn_producer(&tansu.brokers, &csv, Some("10000"));
    wait_summary(port_a, Duration::from_secs(60), "A to consume a part", |s| {
        s["messages_processed"].as_i64().unwrap_or(0) >= 5_000
    });
    // The 10 s window is still open: only a graceful shutdown can commit it.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &a.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = a.wait_with_output().expect("consumer exits");
    assert!(out.status.success(), "graceful exit");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("final summary: "))
        .expect("final summary");
    let final_a: serde_json::Value = serde_json::from_str(line).expect("json");
    let counted_a = final_a["messages_processed"].as_i64().expect("count");
    assert!(counted_a >= 5_000);

    let port_b = free_port();
    let _b = consume(&tansu.brokers, "sigterm-group", port_b);
    producer.finish();
    let total = values.len() as i64;
    wait_summary(port_b, Duration::from_secs(90), "B to consume the rest", |s| {
        s["messages_processed"].as_i64().unwrap_or(0) + counted_a >= total
    });
    std::thread::sleep(Duration::from_millis(600));
    let b = summary(port_b, "").expect("summary");
    assert_eq!(
        b["messages_processed"].as_i64().unwrap_or(0) + counted_a,
        total,
        "every row exactly once across the restart"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// What the consumer should find: values per (metric, route) and of the default series.
#[derive(Default)]
struct Expected {
    pay: Vec<f64>,
    cart: Vec<f64>,
    db: Vec<f64>,
    default: Vec<f64>,
}

/// Produces series records of two metrics, HDFS records and bare numbers
/// with interleaved event times (offsets of one partition jump between
/// windows), plus late, future and badly named records.
fn produce_mixed(brokers: &str, n: usize) -> Expected {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("batch.num.messages", "1")
        .create()
        .expect("producer");
    let base = now_ms() - 5 * 60_000;
    let mut want = Expected::default();
    let send = |key: &str, value: String| {
        let mut record = BaseRecord::<str, str>::to("latency-metrics")
            .key(key)
            .payload(&value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    };
    for i in 0..n {
        // Event times jump back and forth across seven 1 s windows.
        let ts = base + ((i * 3) % 7) as i64 * 1000 + (i % 1000) as i64;
        let v = 1.0 + (i % 997) as f64 * 1.5;
        let key = format!("k{}", i % 13);
        match i % 5 {
            0 => {
                want.pay.push(v);
                send(
                    &key,
                    format!(
                        r#"{{"metric":"http.server.duration","tags":{{"service":"checkout","route":"/pay"}},"value":{v},"ts_ms":{ts}}}"#
                    ),
                );
            }
            1 => {
                want.cart.push(v / 1000.0 * 1000.0);
                send(
                    &key,
                    format!(
                        r#"{{"metric":"http.server.duration","tags":{{"route":"/cart","service":"checkout"}},"value":{},"unit":"s","ts_ms":{ts}}}"#,
                        v / 1000.0
                    ),
                );
            }
            2 => {
                want.db.push(v);
                send(
                    &key,
                    format!(r#"{{"metric":"db.query","value":{v},"ts_ms":{ts}}}"#),
                );
            }
            3 => {
                want.default.push(v);
                send(
                    &key,
                    format!(r#"{{"block_id":"blk_{i}","latency":{v},"ts_ms":{ts}}}"#),
                );
            }
            _ => {
                want.default.push(v);
                send(&key, format!("{v}"));
            }
        }
    }
    // Two of each kind of refusal, after the good records (so the watermark is set).
    for i in 0..2 {
        let key = format!("k{i}");
        send(
            &key,
            format!(r#"{{"metric":"m","value":1,"ts_ms":{}}}"#, now_ms() - 40 * 60_000),
        );
        send(
            &key,
            format!(r#"{{"metric":"m","value":1,"ts_ms":{}}}"#, now_ms() + 10 * 60_000),
        );
        send(
            &key,
            format!(r#"{{"metric":"9bad","value":1,"ts_ms":{}}}"#, now_ms()),
        );
        send(
            &key,
            r#"{"metric":"m","tags":{"bad key":"x"},"value":1}"#.to_string(),
        );
    }
    producer.flush(Duration::from_secs(30)).expect("flushed");
    want
}

fn direct(values: &[f64]) -> shared::Sketch {
    let mut s = shared::Sketch::with_defaults(shared::SketchKind::QuantileFlow);
    s.insert_slice(values).expect("valid");
    s
}

#[test]
fn records_of_several_metrics_and_tags_land_in_their_series_and_refusals_are_counted_by_reason() {
    let tansu = Tansu::start();
    let dir = temp_dir("series");
    create_latency_topic(&tansu.brokers, &dir);
    let want = produce_mixed(&tansu.brokers, 5_000);
    let port = free_port();
    let _consumer = consume(&tansu.brokers, "series-group", port);
    let good = 5_000;
    let s = wait_summary(port, Duration::from_secs(90), "every record", |s| {
        s["messages_processed"] == good && s["rejected"]["payload"] == 8
    });
    for (reason, n) in [("late", 2), ("future", 2), ("bad_metric", 2), ("bad_tag", 2)] {
        assert_eq!(s["rejected_by_reason"]["payload"][reason], n, "{reason}: {s}");
    }
    // The HDFS records and bare numbers are the default series (metric latency).
    assert_eq!(s["data_points"], want.default.len());
    let qs = [0.5, 0.9, 0.99];
    let get = |query: &str| {
        let (status, body) = http_get(port, query).expect("answer");
        assert_eq!(status, 200, "{query}: {body}");
        serde_json::from_str::<serde_json::Value>(&body).expect("JSON")
    };
    let quantiles = |doc: &serde_json::Value| -> Vec<f64> {
        ["0.5", "0.9", "0.99"]
            .iter()
            .map(|q| doc["quantiles"][q].as_f64().expect("q"))
            .collect()
    };
    // Windows close once the idle partitions' grace passed: wait for all of them.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let by_route = loop {
        let doc = get("/api/quantiles?metric=http.server.duration&by=route&q=0.5,0.9,0.99");
        let total: u64 = doc["groups"]
            .as_array()
            .map_or(0, |g| g.iter().map(|g| g["count"].as_u64().unwrap_or(0)).sum());
        if total as usize == want.pay.len() + want.cart.len() || std::time::Instant::now() > deadline {
            break doc;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(by_route["groups_total"], 2, "{by_route}");
    for g in by_route["groups"].as_array().expect("groups") {
        let values = match g["tags"]["route"].as_str() {
            Some("/pay") => &want.pay,
            Some("/cart") => &want.cart,
            other => panic!("unexpected group {other:?}"),
        };
        assert_eq!(g["count"].as_u64(), Some(values.len() as u64));
        assert_eq!(quantiles(g), direct(values).quantiles(&qs).expect("q"), "{g}");
    }
    let pay =
        get("/api/quantiles?metric=http.server.duration&filter=route:/pay,service:check*&q=0.5,0.9,0.99");
    assert_eq!(quantiles(&pay), direct(&want.pay).quantiles(&qs).expect("q"));
    let db = get("/api/quantiles?metric=db.query&q=0.5,0.9,0.99");
    assert_eq!(db["count"].as_u64(), Some(want.db.len() as u64));
    assert_eq!(quantiles(&db), direct(&want.db).quantiles(&qs).expect("q"));
    let default = get("/api/quantiles?q=0.5,0.9,0.99");
    assert_eq!(
        quantiles(&default),
        direct(&want.default).quantiles(&qs).expect("q")
    );
    let metrics = get("/api/metrics");
    let names: Vec<&str> = metrics
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|m| m["metric"].as_str())
        .collect();
    assert_eq!(
        names,
        ["db.query", "http.server.duration", "latency"],
        "{metrics}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_consumer_started_after_a_gap_fills_the_gap_in_event_time() {
    let tansu = Tansu::start();
    let dir = temp_dir("gap");
    create_latency_topic(&tansu.brokers, &dir);
    // 30 s of records stamped 90 … 60 s ago, produced while no consumer runs.
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &tansu.brokers)
        .set("batch.num.messages", "1")
        .create()
        .expect("producer");
    let first = (now_ms() - 90_000) / 1000 * 1000;
    let mut per_second = std::collections::BTreeMap::new();
    for i in 0..3_000i64 {
        let ts = first + i * 10;
        *per_second.entry(ts / 1000 * 1000).or_insert(0u64) += 1;
        let value = format!(
            r#"{{"block_id":"blk_{i}","latency":{},"ts_ms":{ts}}}"#,
            1 + i % 50
        );
        let key = format!("k{}", i % 7);
        producer
            .send(
                BaseRecord::<str, str>::to("latency-metrics")
                    .key(&key)
                    .payload(&value),
            )
            .expect("queued");
    }
    producer.flush(Duration::from_secs(30)).expect("flushed");
    let port = free_port();
    let _consumer = consume(&tansu.brokers, "gap-group", port);
    wait_summary(port, Duration::from_secs(90), "every record", |s| {
        s["messages_processed"] == 3000
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let points = loop {
        let (status, body) = http_get(port, "/api/series?from=now-5m&step=1s").expect("series");
        assert_eq!(status, 200, "{body}");
        let doc: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let points: Vec<(i64, u64)> = doc["points"]
            .as_array()
            .expect("points")
            .iter()
            .map(|p| (p["t"].as_i64().expect("t"), p["count"].as_u64().expect("count")))
            .collect();
        if points.iter().map(|p| p.1).sum::<u64>() == 3000 || std::time::Instant::now() > deadline {
            break points;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let want: Vec<(i64, u64)> = per_second.into_iter().collect();
    assert_eq!(
        points, want,
        "each second of the gap holds its own records, none is 'now'"
    );
    std::fs::remove_dir_all(dir).ok();
}
