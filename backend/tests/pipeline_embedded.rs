//! `mss serve` with the embedded broker (librdkafka's mock cluster): a CSV
//! with bad rows goes through produce → broker → consumer group → windows,
//! and the final summary counts every good row once and every bad row by reason.

mod common;

use std::process::Stdio;

use common::*;

#[test]
fn serve_with_the_embedded_broker_counts_every_row_once() {
    let dir = std::env::temp_dir().join(format!("mss-embedded-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let csv = dir.join("events.csv");
    let (values, bad) = write_csv(&csv, 30_000, 7);
    let out = mss()
        .args(["serve", "--csv"])
        .arg(&csv)
        .args([
            "--report",
            "--report-every",
            "60",
            "--exit-when-done",
            "--window",
            "200ms",
            "--listen",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::null())
        .output()
        .expect("mss serve runs");
    assert!(out.status.success(), "mss serve failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("final summary: "))
        .expect("a final summary line");
    let s: serde_json::Value = serde_json::from_str(line).expect("summary JSON");
    assert_eq!(s["messages_processed"], values.len());
    assert_eq!(s["data_points"], values.len());
    assert_eq!(s["produced"], values.len());
    assert_eq!(s["rejected"]["payload"], 0);
    let total_bad: u64 = bad.iter().map(|b| b.1).sum();
    assert_eq!(s["rejected"]["csv"], total_bad);
    for (reason, n) in bad {
        assert_eq!(s["rejected_by_reason"]["csv"][reason], n, "{reason}");
    }
    assert_quantiles_within_alpha(&s, &values);
    let partitions = s["partitions"].as_array().expect("partitions");
    assert_eq!(partitions.len(), 4);
    let consumed: i64 = partitions
        .iter()
        .map(|p| p["offset"].as_i64().expect("offset") + 1)
        .sum();
    assert_eq!(consumed, values.len() as i64, "offsets cover every record");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn summary_and_health_endpoints_answer_and_bad_parameters_get_a_400() {
    let port = free_port();
    let _serve = Proc(
        mss()
            .args([
                "serve",
                "--synthetic",
                "--rows",
                "3000",
                "--window",
                "200ms",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["--embed-origins", "'self',https://wiki.example.com"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mss serve starts"),
    );
    wait_for_port(port, std::time::Duration::from_secs(30));
    assert_eq!(http_get(port, "/healthz").map(|r| r.0), Some(200));
    let s = wait_summary(port, std::time::Duration::from_secs(60), "3000 rows", |s| {
        s["messages_processed"] == 3000
    });
    assert_eq!(s["sketch"], "quantileflow");
    assert!(s["current"]["block_id"]
        .as_str()
        .is_some_and(|b| b.starts_with("blk_")));
    assert_eq!(http_get(port, "/readyz").map(|r| r.0), Some(200));
    for kind in ["datadog", "momentsketch", "hdrhistogram"] {
        let other = summary(port, &format!("?sketch={kind}&q=0.5,0.999")).expect("summary");
        assert_eq!(other["sketch"], kind);
        assert_eq!(other["data_points"], 3000, "{kind}");
        assert!(other["quantiles"]["0.999"].as_f64().is_some(), "{kind}: {other}");
    }
    for (query, param) in [
        ("?sketch=tdigest", "sketch"),
        ("?q=1.5", "q"),
        ("?q=abc", "q"),
        ("?bogus=1", "bogus"),
    ] {
        let (status, body) = http_get(port, &format!("/api/summary{query}")).expect("answer");
        assert_eq!(status, 400, "{query}");
        let err: serde_json::Value = serde_json::from_str(&body).expect("JSON error");
        assert_eq!(err["param"], param, "{query}: {body}");
    }
}
