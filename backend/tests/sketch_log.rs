//! Durable windows through Kafka (Tansu): ingest processes publish every
//! closed window to the sketch log, `mss view` serves the log. A crashed
//! ingest process loses nothing and counts nothing twice; two ingest
//! processes feed one view; a restarted view shows the same numbers.

mod common;

use std::time::Duration;

use common::*;
use shared::{Sketch, SketchKind};

/// `mss consume` with 200 ms windows committing every 3 s, so a crash leaves
/// published windows whose offsets were never committed.
fn consume(brokers: &str, group: &str, port: u16) -> Proc {
    let session = format!("session.timeout.ms={SESSION_TIMEOUT_MS}");
    spawn_consumer(
        brokers,
        group,
        port,
        &["--commit-interval", "3s", "--librdkafka", &session],
    )
}

fn processed(s: &serde_json::Value) -> i64 {
    s["messages_processed"].as_i64().unwrap_or(-1)
}

fn now_ms() -> i64 {
    backend::clock::now_ms()
}

#[test]
fn an_ingest_process_killed_mid_replay_loses_nothing_and_counts_nothing_twice() {
    let tansu = Tansu::start();
    let dir = temp_dir("log-kill");
    let csv = dir.join("events.csv");
    let (values, _) = write_csv(&csv, 40_000, 23);
    let good = values.len() as i64;
    let started_ms = now_ms();

    // Creates the topics (the sketch log with it) before the view opens the log.
    let port_a = free_port();
    let mut a = consume(&tansu.brokers, "kill-group", port_a);
    wait_ready(port_a);
    let port_view = free_port();
    let _view = spawn_view(&tansu.brokers, port_view);
    let producer = spawn_producer(&tansu.brokers, &csv, Some("10000"));
    wait_summary(port_a, Duration::from_secs(60), "A to count a part", |s| {
        processed(s) >= 8_000
    });
    a.0.kill().expect("SIGKILL the ingest process");
    let _ = a.0.wait();
    let killed_ms = now_ms();
    wait_out_session();

    let port_b = free_port();
    let _b = consume(&tansu.brokers, "kill-group", port_b);
    producer.finish();
    let s = wait_summary(
        port_view,
        Duration::from_secs(90),
        "the view to count every good row",
        |s| processed(s) >= good,
    );
    assert_eq!(processed(&s), good, "nothing counted twice");
    std::thread::sleep(Duration::from_millis(1_500));
    let again = summary(port_view, "").expect("summary");
    assert_eq!(processed(&again), good, "still nothing counted twice");
    assert_eq!(again["data_points"].as_i64(), Some(good));
    assert_quantiles_within_alpha(&again, &values);
    // The windows A published before it died are still in the history.
    let (status, body) = http_get(
        port_view,
        &format!("/api/quantiles?from={started_ms}&to={killed_ms}"),
    )
    .expect("quantiles");
    assert_eq!(status, 200, "{body}");
    let before: serde_json::Value = serde_json::from_str(&body).expect("json");
    // A counted ≥ 8,000 rows; all but its open windows (≤ 200 ms at 10,000 rows/s) were published.
    assert!(
        before["count"].as_i64().unwrap_or(0) >= 5_000,
        "history before the crash: {before}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn two_ingest_processes_feed_one_view_that_survives_a_restart() {
    let tansu = Tansu::start();
    let dir = temp_dir("log-two");
    let csv = dir.join("events.csv");
    let (values, _) = write_csv(&csv, 30_000, 29);
    let good = values.len() as i64;

    // The topic exists first, so both members get partitions at once.
    create_latency_topic(&tansu.brokers, &dir);
    let (port_a, port_b) = (free_port(), free_port());
    let _a = consume(&tansu.brokers, "two-group", port_a);
    let _b = consume(&tansu.brokers, "two-group", port_b);
    // Both members hold partitions, and the group has stopped churning,
    // before the replay starts (Tansu 0.6 can hand a partition to one member
    // while another still reads it during a rebalance).
    wait_for_a_settled_split(port_a, port_b, 4);
    let port_view = free_port();
    let mut first_view = spawn_view(&tansu.brokers, port_view);
    let producer = spawn_producer(&tansu.brokers, &csv, None);
    producer.finish();
    let s = wait_summary(
        port_view,
        Duration::from_secs(90),
        "the view to count every row",
        |s| processed(s) >= good,
    );
    std::thread::sleep(Duration::from_millis(1_000));
    let s_a = summary(port_a, "").expect("A");
    let s_b = summary(port_b, "").expect("B");
    assert!(
        processed(&s_a) > 0 && processed(&s_b) > 0,
        "both processes ingested"
    );
    assert_eq!(processed(&s_a) + processed(&s_b), good);
    let settled = summary(port_view, "").expect("view");
    assert_eq!(processed(&settled), good, "every row once: {s}");

    // The same numbers as one sketch of every value (DDSketch merges exactly).
    let mut one = Sketch::with_defaults(SketchKind::QuantileFlow);
    one.insert_slice(&values).expect("values");
    for q in ["0.5", "0.95", "0.99"] {
        let want = one.quantile(q.parse().expect("q")).expect("quantile");
        let got = settled["quantiles"][q].as_f64().expect("quantile");
        assert!(
            (got - want).abs() <= 1e-9 * want,
            "{q}: view {got} vs one process {want}"
        );
    }

    // Restart the view: it rebuilds the same history from the log.
    first_view.0.kill().expect("stop the view");
    let _ = first_view.0.wait();
    let port_again = free_port();
    let _second_view = spawn_view(&tansu.brokers, port_again);
    wait_ready(port_again);
    let restarted = summary(port_again, "").expect("restarted view");
    assert_eq!(processed(&restarted), good);
    assert_eq!(restarted["quantiles"], settled["quantiles"]);
    assert_eq!(restarted["data_points"], settled["data_points"]);
    std::fs::remove_dir_all(dir).ok();
}
