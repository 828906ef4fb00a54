//! A rebalance storm: while a one-minute replay runs, an `mss consume`
//! process joins or one leaves (SIGTERM) every 2 s, beside one member that
//! stays. Every revocation goes through the revoke coordinator (cut,
//! sketch-log acknowledgement, synchronous commit before the partitions are
//! released); the view over the sketch log then counts every good row
//! exactly once, every member still claims exactly-once (no release timed
//! out), and every member told to leave exits 0.
//!
//! The broker is librdkafka's mock cluster (a Kafka-protocol broker with a
//! complete group coordinator), hosted by this test process on a loopback
//! port that the `mss` processes connect to. Not Tansu: Tansu 0.6 keeps a
//! group's leader when that member leaves during a rebalance, and the group
//! never forms again (librdkafka's `debug=cgrp` log of the member that
//! stays: `JoinGroup response: … LeaderId <a member that left>`, then
//! `SyncGroup … Group rebalance in progress`, forever) — seen on the first
//! three runs of this test against Tansu.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use backend::broker::EmbeddedBroker;
use common::*;

/// Logging of every member: offset events (first record after each
/// assignment, offsets never delivered) are printed if the test fails.
const MEMBER_LOG: &str = "warn,backend=info,mss::offsets=debug";

/// A member with 200 ms windows committing every quarter window.
fn member(brokers: &str, port: u16) -> Proc {
    let session = format!("session.timeout.ms={SESSION_TIMEOUT_MS}");
    Proc(
        mss()
            .env("RUST_LOG", MEMBER_LOG)
            .args([
                "consume",
                "--brokers",
                brokers,
                "--group",
                "storm",
                "--window",
                "200ms",
            ])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--librdkafka", &session])
            .stdout(Stdio::null())
            .stderr(log_file(&format!("storm-member-{port}")))
            .spawn()
            .expect("member"),
    )
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

/// The member's claim must still be exactly-once: no release timed out or
/// failed before the sketch log held its cuts. (A commit the broker refused
/// mid-rebalance after the cuts were acknowledged is allowed: the next
/// owner skips those records; returned for the report.)
fn assert_committed_in_time(port: u16) -> u64 {
    // A member spawned 2 s ago on a loaded machine may not serve yet.
    wait_for_port(port, Duration::from_secs(30));
    let s = summary(port, "").expect("member summary");
    // Shown only if the test fails: how this member's records were skipped.
    eprintln!(
        "member {port}: processed {}, redelivered {}, ignored after revoke {}, \
         out of order {}, offsets skipped {}",
        s["messages_processed"],
        s["redelivered"],
        s["ignored_after_revoke"],
        s["out_of_order"],
        s["offsets_skipped"]
    );
    // The producer writes no transaction markers: every offset is a record,
    // delivered in order.
    if s["out_of_order"].as_u64() != Some(0) || s["offsets_skipped"].as_u64() != Some(0) {
        print_child_warnings(300);
        print_child_lines(400, |l| l.contains("mss::offsets"));
    }
    assert_eq!(s["out_of_order"].as_u64(), Some(0), "{s}");
    assert_eq!(s["offsets_skipped"].as_u64(), Some(0), "{s}");
    assert_eq!(s["revoke_timeouts"].as_u64(), Some(0), "{s}");
    assert_eq!(s["revoke_failures"].as_u64(), Some(0), "{s}");
    assert_eq!(s["delivery"].as_str(), Some("exactly-once"), "{s}");
    s["revoke_commit_failures"].as_u64().unwrap_or(0)
}

#[test]
fn members_joining_and_leaving_every_two_seconds_count_every_record_once() {
    let broker = EmbeddedBroker::start(&[
        ("latency-metrics".to_owned(), 4),
        ("latency-sketches".to_owned(), 4),
    ])
    .expect("the mock cluster starts");
    let brokers = broker.bootstrap().to_owned();
    let dir = temp_dir("storm");
    let csv = dir.join("events.csv");
    let (values, _) = write_csv(&csv, 60_000, 41);
    let good = values.len() as i64;

    let anchor_port = free_port();
    let session = format!("session.timeout.ms={SESSION_TIMEOUT_MS}");
    let _anchor = Proc(
        mss()
            .env("RUST_LOG", format!("{MEMBER_LOG},librdkafka=debug"))
            .args([
                "consume",
                "--brokers",
                &brokers,
                "--group",
                "storm",
                "--window",
                "200ms",
            ])
            .args(["--listen", &format!("127.0.0.1:{anchor_port}")])
            .args(["--librdkafka", &session, "--librdkafka", "debug=cgrp"])
            .stdout(Stdio::null())
            .stderr(log_file("storm-anchor"))
            .spawn()
            .expect("anchor"),
    );
    wait_ready(anchor_port);
    let view_port = free_port();
    let _view = spawn_view(&brokers, view_port);
    let producer = spawn_producer(&brokers, &csv, Some("1000"));

    // One event every 2 s for a minute: a join, or the oldest extra member
    // leaves; at most two extra members at a time.
    let mut extra: Vec<(Proc, u16)> = Vec::new();
    let mut leaving: Vec<(Proc, u16)> = Vec::new();
    let (mut joins, mut leaves, mut refused) = (0, 0, 0);
    let storm = Instant::now();
    let mut event = 0u32;
    while storm.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_secs(2));
        event += 1;
        if extra.len() < 2 && (!event.is_multiple_of(3) || extra.is_empty()) {
            let port = free_port();
            extra.push((member(&brokers, port), port));
            joins += 1;
        } else {
            let (p, port) = extra.remove(0);
            refused += assert_committed_in_time(port);
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
        refused += assert_committed_in_time(port);
        terminate(&p);
        wait_exit(p, port);
        std::thread::sleep(Duration::from_secs(1));
    }
    for (p, port) in leaving {
        wait_exit(p, port);
    }

    producer.finish();
    let counted = std::panic::catch_unwind(|| {
        wait_summary(
            view_port,
            Duration::from_secs(120),
            "the view to count every good row",
            |s| processed(s) >= good,
        )
    });
    let s = counted.unwrap_or_else(|failure| {
        eprintln!("the anchor's summary: {:?}", summary(anchor_port, ""));
        print_child_warnings(300);
        print_child_lines(400, |l| l.contains("mss::offsets"));
        std::panic::resume_unwind(failure)
    });
    assert_eq!(processed(&s), good, "nothing counted twice: {s}");
    // Late duplicates would arrive after the count was first reached.
    std::thread::sleep(Duration::from_secs(2));
    let settled = summary(view_port, "").expect("view summary");
    assert_eq!(processed(&settled), good, "still nothing counted twice");
    assert_eq!(settled["data_points"].as_i64(), Some(good));
    // No two owners counted the same records, and no cut was left half-written.
    assert_eq!(
        settled["sketch_log"]["overlapping_cuts"].as_u64(),
        Some(0),
        "{settled}"
    );
    assert_eq!(
        settled["sketch_log"]["gapped_cuts"].as_u64(),
        Some(0),
        "every offset is a good record, in some cut: {settled}"
    );
    assert_eq!(
        settled["sketch_log"]["incomplete_cuts"].as_u64(),
        Some(0),
        "{settled}"
    );
    assert_quantiles_within_alpha(&settled, &values);
    refused += assert_committed_in_time(anchor_port);
    eprintln!("storm: {refused} commits refused mid-rebalance after the cuts were published");
    std::fs::remove_dir_all(dir).ok();
}
