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

/// Creates the topic (4 partitions) by replaying an empty CSV.
fn create_topic(brokers: &str, dir: &std::path::Path) {
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "BlockId,Label,Type,Features,TimeInterval,Latency\n").expect("write");
    produce(brokers, &empty, &[]);
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
    Proc(
        consume_command(brokers, group, port, "200ms")
            .spawn()
            .expect("mss consume starts"),
    )
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
        s["messages_processed"] == values.len() && s["rejected"]["payload"] == 5
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
    create_topic(&tansu.brokers, &dir);
    let (port_a, port_b) = (free_port(), free_port());
    let _a = consume(&tansu.brokers, "split-group", port_a);
    let _b = consume(&tansu.brokers, "split-group", port_b);
    wait_ready(port_a);
    wait_ready(port_b);
    std::thread::sleep(Duration::from_secs(2));
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

#[test]
fn a_consumer_killed_mid_stream_and_restarted_loses_nothing() {
    let tansu = Tansu::start();
    let dir = temp_dir("restart");
    let csv = dir.join("events.csv");
    let (values, _) = write_csv(&csv, 40_000, 17);
    let total = values.len() as i64;
    create_topic(&tansu.brokers, &dir);

    let port_a = free_port();
    let mut a = consume(&tansu.brokers, "restart-group", port_a);
    wait_ready(port_a);
    let producer = spawn_producer(&tansu.brokers, &csv, Some("10000"));
    let snapshot = wait_summary(port_a, Duration::from_secs(60), "A to consume a part", |s| {
        s["messages_processed"].as_i64().unwrap_or(0) >= 8_000
    });
    a.0.kill().expect("SIGKILL the consumer");
    let _ = a.0.wait();
    wait_out_session();
    let committed_at_snapshot: i64 = snapshot["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| p["committed"].as_i64().unwrap_or(-1).max(0))
        .sum();
    let a_counted = snapshot["messages_processed"].as_i64().unwrap_or(0);
    assert!(
        committed_at_snapshot > 0,
        "A committed closed windows before it died"
    );
    assert!(
        a_counted >= committed_at_snapshot,
        "A counted everything it committed"
    );

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
        resumed >= committed_at_snapshot,
        "B resumed at or after what A had committed"
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
    create_topic(&tansu.brokers, &dir);

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
