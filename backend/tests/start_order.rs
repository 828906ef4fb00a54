//! Start order does not matter: every role opens its HTTP side first, then
//! waits with backoff for the broker and the topics it needs, and `/readyz`
//! says what it waits for; and a view over another source topic's sketch
//! log says so instead of showing zeros. Real processes, a real broker (Tansu).

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// Polls `/readyz` until `done` accepts (status, body) or 60 s pass.
fn wait_readyz(port: u16, what: &str, done: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let start = Instant::now();
    loop {
        if let Some((code, body)) = http_get(port, "/readyz") {
            if done(code, &body) {
                return (code, body);
            }
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_consumer_without_a_broker_serves_http_and_says_what_it_waits_for() {
    let port = free_port();
    let _consume = role(&["consume", "--brokers", "127.0.0.1:1"], port, "consume-nobroker");
    wait_for_port(port, Duration::from_secs(20));
    assert_eq!(http_get(port, "/healthz").map(|r| r.0), Some(200));
    let (code, body) = wait_readyz(port, "a 503 naming the broker", |code, body| {
        code == 503 && body.contains("127.0.0.1:1")
    });
    assert_eq!(code, 503, "{body}");
}

#[test]
fn a_view_started_before_any_ingest_process_waits_for_the_sketch_log_then_serves_it() {
    let tansu = Tansu::start();
    let view_port = free_port();
    let _view = role(&["view", "--brokers", &tansu.brokers], view_port, "view-first");
    wait_for_port(view_port, Duration::from_secs(20));
    let (_, body) = wait_readyz(view_port, "a 503 naming the sketch log", |code, body| {
        code == 503 && body.contains("waiting: opening the sketch log")
    });
    assert!(body.contains("latency-sketches"), "{body}");

    // An ingest process arrives and publishes: the view catches up.
    let dir = temp_dir("start-order");
    let csv = dir.join("events.csv");
    let (values, _) = write_csv(&csv, 2_000, 41);
    let ingest_port = free_port();
    let session = format!("session.timeout.ms={SESSION_TIMEOUT_MS}");
    let _consume = role(
        &["consume", "--brokers", &tansu.brokers, "--librdkafka", &session],
        ingest_port,
        "consume-late",
    );
    wait_ready(ingest_port);
    spawn_producer(&tansu.brokers, &csv, None).finish();
    wait_readyz(view_port, "the view ready once the log exists", |code, _| {
        code == 200
    });
    wait_counted(view_port, values.len(), "the view to count every row");
}

/// `mss <args> --listen 127.0.0.1:port` with its log in the test logs.
fn role(args: &[&str], port: u16, log: &str) -> Proc {
    Proc(
        mss()
            .args(args)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(log_file(&format!("{log}-{port}")))
            .spawn()
            .expect("mss starts"),
    )
}

#[test]
fn a_view_of_another_source_topic_says_so_instead_of_showing_zeros() {
    let tansu = Tansu::start();
    let b = tansu.brokers.as_str();
    let session = format!("session.timeout.ms={SESSION_TIMEOUT_MS}");
    let ingest_port = free_port();
    let _ingest = role(
        &[
            "consume",
            "--brokers",
            b,
            "--topic",
            "vt",
            "--librdkafka",
            &session,
        ],
        ingest_port,
        "consume-vt",
    );
    wait_ready(ingest_port);
    let dir = temp_dir("other-source");
    let csv = dir.join("events.csv");
    let (values, _) = write_csv(&csv, 1_000, 43);
    let mut produce = mss();
    produce
        .args([
            "produce",
            "--brokers",
            b,
            "--topic",
            "vt",
            "--partitions",
            "4",
            "--csv",
        ])
        .arg(&csv)
        .args(ONE_RECORD_PER_BATCH)
        .stdout(Stdio::null())
        .stderr(log_file("produce-vt"));
    assert!(produce.status().expect("mss produce runs").success());
    wait_counted(ingest_port, values.len(), "the ingest to count every row");

    // The default --topic: nothing of ours, and /readyz says why.
    let wrong_port = free_port();
    let _wrong = role(&["view", "--brokers", b], wrong_port, "view-wrong-topic");
    wait_for_port(wrong_port, Duration::from_secs(20));
    let (_, body) = wait_readyz(wrong_port, "a 503 naming the other topic", |code, body| {
        code == 503 && body.contains("other source topics")
    });
    assert!(
        body.contains("vt: ") && body.contains("--topic latency-metrics"),
        "{body}"
    );
    // The right --topic shows everything.
    let right_port = free_port();
    let _right = role(&["view", "--brokers", b, "--topic", "vt"], right_port, "view-vt");
    wait_for_port(right_port, Duration::from_secs(20));
    wait_counted(right_port, values.len(), "the vt view to count every row");
    assert_eq!(http_get(right_port, "/readyz").map(|r| r.0), Some(200));
}

/// Waits (up to 90 s) until the process on `port` counted exactly `rows` records.
fn wait_counted(port: u16, rows: usize, what: &str) {
    let good = rows as i64;
    wait_summary(port, Duration::from_secs(90), what, |s| {
        s["messages_processed"].as_i64() == Some(good)
    });
}
