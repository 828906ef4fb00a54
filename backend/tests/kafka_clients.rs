//! Records from a second, independent Kafka client: kafka-python (pure
//! Python, installed by `scripts/setup.sh test`) writes into Tansu with
//! every compression codec Kafka defines (none, gzip, snappy, lz4, zstd),
//! headers on every record, null keys, null values and an idempotent
//! producer (`tests/clients/kafka_python_produce.py`). `mss consume` must
//! count every record exactly once and each null value as `malformed`,
//! and no partition may stall on a batch it cannot read
//! (`tests/clients/kafka_python_broken_batch.py` writes one).
//!
//! Transactional producers' logs: Tansu 0.6 has no transactions (no
//! EndTxn), so no producer here can make the broker write its markers; but
//! Tansu stores and serves a control batch it is given, so
//! `tests/clients/kafka_python_control_records.py` writes what a transactional
//! producer and its coordinator leave in a log (transactional batches from
//! a producer id, each transaction closed by a COMMIT control record)
//! through the Produce API. Every partition then ends with a marker, whose
//! offset no consumer is ever handed.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Runs the kafka-python client `script` (in `tests/clients/`) with `args`;
/// gives back the one JSON line it prints and its `values`.
fn run_client(script: &str, args: &[&str]) -> (serde_json::Value, Vec<f64>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let out = Command::new("python3")
        .arg(path)
        .args(args)
        .stderr(log_file(script))
        .output()
        .expect("python3 runs (kafka-python: bash scripts/setup.sh test)");
    assert!(out.status.success(), "{script} failed (see its log)");
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    let values = printed["values"]
        .as_array()
        .expect("values")
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .collect();
    (printed, values)
}

#[test]
fn every_codec_headers_null_keys_and_values_from_kafka_python_are_counted_once() {
    let tansu = Tansu::start();
    let topic = "py-codecs";
    tansu.create_topic(topic, 2);
    let (produced, values) = run_client("kafka_python_produce.py", &[&tansu.brokers, topic]);
    // 5 codecs and the idempotent producer, 50 records each, 2 null values each.
    assert_eq!(values.len(), 300);
    assert_eq!(produced["null_values"], 12);

    let port = free_port();
    let _consumer = spawn_consumer(
        &tansu.brokers,
        "py-codecs",
        port,
        &["--topic", topic, "--partitions", "2"],
    );
    let s = wait_summary(
        port,
        Duration::from_secs(90),
        "every record of every codec",
        |s| {
            s["messages_processed"] == values.len()
                && s["data_points"] == values.len()
                && s["rejected"]["payload"] == 12
        },
    );
    assert_eq!(
        s["rejected_by_reason"]["payload"]["malformed"], 12,
        "null values are malformed"
    );
    assert_quantiles_within_alpha(&s, &values);
    std::thread::sleep(Duration::from_millis(600));
    let again = summary(port, "").expect("summary");
    assert_eq!(
        again["messages_processed"],
        values.len(),
        "no record counted twice"
    );
}

/// A batch that cannot be decompressed (kafka-python writing gzip whose
/// bytes are not gzip) between good records: librdkafka reports it and
/// fetches it again forever, so without the skip the partition stalled on
/// it. Its offsets are skipped and counted (`unreadable`, and
/// `offsets_skipped` for the rest of the batch when Tansu's next fetch
/// starts at the following batch), and every good record after it counts.
#[test]
fn a_batch_that_cannot_be_decompressed_is_skipped_counted_and_the_partition_goes_on() {
    const GOOD: usize = 40;
    const BROKEN: u64 = 25;
    let tansu = Tansu::start();
    let topic = "py-broken";
    tansu.create_topic(topic, 1);
    let (good, broken) = (GOOD.to_string(), BROKEN.to_string());
    let (_, values) = run_client(
        "kafka_python_broken_batch.py",
        &[&tansu.brokers, topic, &good, &broken],
    );
    assert_eq!(values.len(), 2 * GOOD);

    let port = free_port();
    let _consumer = spawn_consumer(
        &tansu.brokers,
        "py-broken",
        port,
        &["--topic", topic, "--partitions", "1"],
    );
    let s = wait_summary(
        port,
        Duration::from_secs(90),
        "every good record before and after the broken batch",
        |s| s["messages_processed"] == values.len() && s["data_points"] == values.len(),
    );
    let unreadable = s["rejected_by_reason"]["payload"]["unreadable"]
        .as_u64()
        .unwrap_or(0);
    let skipped = s["offsets_skipped"].as_u64().unwrap_or(0);
    assert!(unreadable >= 1, "the broken batch was counted: {s}");
    assert_eq!(
        unreadable + skipped,
        BROKEN,
        "every offset of the broken batch accounted for: {s}"
    );
    assert_quantiles_within_alpha(&s, &values);
    let (_, metrics) = http_get(port, "/metrics").expect("metrics");
    assert!(
        metrics.lines().any(|l| l.starts_with("mss_rejected_total")
            && l.contains("reason=\"unreadable\"")
            && l.ends_with(&format!(" {unreadable}"))),
        "{metrics}"
    );
}

/// Writes `transactions` committed transactions of 3 records into each
/// partition of `topic`; returns the values.
fn write_transactions(brokers: &str, topic: &str, partitions: u32, transactions: u32) -> Vec<f64> {
    let (partitions_arg, transactions_arg) = (partitions.to_string(), transactions.to_string());
    let (written, values) = run_client(
        "kafka_python_control_records.py",
        &[brokers, topic, &partitions_arg, &transactions_arg],
    );
    assert_eq!(written["markers"], partitions * transactions);
    values
}

/// Control records are never counted and never stall anyone: a member
/// counts every transactional record once; a second member then watching
/// partitions whose commit stays one short of the high watermark (the
/// trailing marker) looks into them, finds only markers, and does not
/// restart (it did, every `--stall-restart`, before the look existed).
#[test]
fn transaction_markers_are_skipped_and_a_partition_ending_in_one_is_not_a_stall() {
    let tansu = Tansu::start();
    let topic = "py-transactions";
    tansu.create_topic(topic, 2);
    let values = write_transactions(&tansu.brokers, topic, 2, 4);
    assert_eq!(values.len(), 24);
    let member = |port: u16| {
        spawn_consumer(
            &tansu.brokers,
            "py-tx",
            port,
            &["--topic", topic, "--partitions", "2", "--stall-restart", "3s"],
        )
    };
    let first_port = free_port();
    let _first = member(first_port);
    let s = wait_summary(
        first_port,
        Duration::from_secs(90),
        "every transactional record",
        |s| s["messages_processed"] == values.len() && s["data_points"] == values.len(),
    );
    assert_eq!(s["rejected"]["payload"], 0, "{s}");
    assert_quantiles_within_alpha(&s, &values);

    let second_port = free_port();
    let _second = member(second_port);
    wait_summary(
        second_port,
        Duration::from_secs(90),
        "a partition for the second member",
        |s| s["partitions"].as_array().is_some_and(|p| !p.is_empty()),
    );
    // Each member now watches the other's partition, whose commit stands
    // one short of the watermark: both look, and neither restarts.
    let start = Instant::now();
    let looked = |port| summary(port, "").is_some_and(|s| s["stall_marker_gaps"].as_u64() >= Some(1));
    while !(looked(first_port) && looked(second_port)) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "both members looked into the other's partition"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    for port in [first_port, second_port] {
        let s = summary(port, "").expect("summary");
        assert_eq!(s["consumer_restarts"], 0, "no restart over a marker: {s}");
    }
    let first = summary(first_port, "").expect("summary");
    assert_eq!(first["messages_processed"], values.len(), "nothing counted twice");
}
