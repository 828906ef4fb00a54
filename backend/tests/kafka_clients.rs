//! Records from a second, independent Kafka client: kafka-python (pure
//! Python, installed by `scripts/setup.sh test`) writes into Tansu with
//! every compression codec Kafka defines (none, gzip, snappy, lz4, zstd),
//! headers on every record, null keys, null values and an idempotent
//! producer (`tests/clients/kafka_python_produce.py`). `mss consume` must
//! count every record exactly once and each null value as `malformed`,
//! and no partition may stall on a batch it cannot read. (Tansu 0.6 has no
//! transactions — no EndTxn — so transactional producers' control records
//! cannot be produced here; the script says so and skips them.)

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn every_codec_headers_null_keys_and_values_from_kafka_python_are_counted_once() {
    let tansu = Tansu::start();
    let topic = "py-codecs";
    tansu.create_topic(topic, 2);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/kafka_python_produce.py");
    let out = Command::new("python3")
        .arg(script)
        .args([&tansu.brokers, topic])
        .stderr(log_file("kafka-python"))
        .output()
        .expect("python3 runs (kafka-python: bash scripts/setup.sh test)");
    assert!(
        out.status.success(),
        "kafka-python produced (see the kafka-python log)"
    );
    let produced: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    let values: Vec<f64> = produced["values"]
        .as_array()
        .expect("values")
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .collect();
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
        |s| s["messages_processed"] == values.len() && s["rejected"]["payload"] == 12,
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
