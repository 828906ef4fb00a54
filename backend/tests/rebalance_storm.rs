//! A rebalance storm against Tansu: while a one-minute replay runs, an
//! `mss consume` joins or one leaves (SIGTERM) every 2 s, beside one member
//! that stays. Every revocation goes through the revoke coordinator (cut,
//! sketch-log acknowledgement, synchronous commit before the partitions are
//! released); the view over the sketch log then counts every good row
//! exactly once, and every member still claims exactly-once (no release
//! timed out) and exits 0 when told to leave.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// A member with 200 ms windows committing every quarter window.
fn member(brokers: &str, port: u16) -> Proc {
    let session = format!("session.timeout.ms={SESSION_TIMEOUT_MS}");
    spawn_consumer(brokers, "storm", port, &["--librdkafka", &session])
}

fn view(brokers: &str, port: u16) -> Proc {
    let p = Proc(
        mss()
            .args(["view", "--brokers", brokers])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(log_file(&format!("storm-view-{port}")))
            .spawn()
            .expect("mss view starts"),
    );
    wait_for_port(port, Duration::from_secs(20));
    p
}

fn processed(s: &serde_json::Value) -> i64 {
    s["messages_processed"].as_i64().unwrap_or(-1)
}

/// Asks a member to leave the group the way a supervisor would.
fn terminate(p: &Proc) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &p.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Waits for a member told to leave; it must exit 0 (final commit done).
fn wait_exit(mut p: Proc, port: u16) {
    let start = Instant::now();
    loop {
        if let Some(status) = p.0.try_wait().expect("try_wait") {
            assert!(status.success(), "member on port {port} left with {status}");
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "member on port {port} did not leave within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The member's claim must still be exactly-once: no release timed out.
fn assert_committed_in_time(port: u16) {
    let s = summary(port, "").expect("member summary");
    assert_eq!(s["revoke_timeouts"].as_u64(), Some(0), "{s}");
    assert_eq!(s["revoke_failures"].as_u64(), Some(0), "{s}");
    assert_eq!(s["delivery"].as_str(), Some("exactly-once"), "{s}");
}

#[test]
fn members_joining_and_leaving_every_two_seconds_count_every_record_once() {
    let tansu = Tansu::start();
    let dir = temp_dir("storm");
    let csv = dir.join("events.csv");
    let (values, _) = write_csv(&csv, 60_000, 41);
    let good = values.len() as i64;

    let anchor_port = free_port();
    let _anchor = member(&tansu.brokers, anchor_port);
    wait_ready(anchor_port);
    let view_port = free_port();
    let _view = view(&tansu.brokers, view_port);
    let producer = spawn_producer(&tansu.brokers, &csv, Some("1000"));

    // One event every 2 s for a minute: a join, or the oldest extra member
    // leaves; at most two extra members at a time.
    let mut extra: Vec<(Proc, u16)> = Vec::new();
    let mut leaving: Vec<(Proc, u16)> = Vec::new();
    let (mut joins, mut leaves) = (0, 0);
    let storm = Instant::now();
    let mut event = 0u32;
    while storm.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_secs(2));
        event += 1;
        if extra.len() < 2 && (event % 3 != 0 || extra.is_empty()) {
            let port = free_port();
            extra.push((member(&tansu.brokers, port), port));
            joins += 1;
        } else {
            let (p, port) = extra.remove(0);
            assert_committed_in_time(port);
            terminate(&p);
            leaving.push((p, port));
            leaves += 1;
        }
    }
    eprintln!("storm: {joins} joins, {leaves} leaves in {:?}", storm.elapsed());
    assert!(joins >= 12 && leaves >= 10, "{joins} joins, {leaves} leaves");
    // The rest leave one at a time (Tansu 0.6 can wedge a group when two
    // members leave ~100 ms apart).
    for (p, port) in extra.drain(..) {
        assert_committed_in_time(port);
        terminate(&p);
        wait_exit(p, port);
        std::thread::sleep(Duration::from_secs(1));
    }
    for (p, port) in leaving {
        wait_exit(p, port);
    }

    producer.finish();
    let s = wait_summary(
        view_port,
        Duration::from_secs(120),
        "the view to count every good row",
        |s| processed(s) >= good,
    );
    assert_eq!(processed(&s), good, "nothing counted twice: {s}");
    // Late duplicates would arrive after the count was first reached.
    std::thread::sleep(Duration::from_secs(2));
    let settled = summary(view_port, "").expect("view summary");
    assert_eq!(processed(&settled), good, "still nothing counted twice");
    assert_eq!(settled["data_points"].as_i64(), Some(good));
    assert_quantiles_within_alpha(&settled, &values);
    assert_committed_in_time(anchor_port);
    std::fs::remove_dir_all(dir).ok();
}
