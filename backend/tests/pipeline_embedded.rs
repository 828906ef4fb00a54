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

/// The quantiles `/api/quantiles` answers, by key.
fn quantiles_of(doc: &serde_json::Value) -> Vec<f64> {
    ["0.5", "0.9", "0.99"]
        .iter()
        .map(|q| doc["quantiles"][q].as_f64().expect("a quantile"))
        .collect()
}

#[test]
fn csv_labels_are_series_and_group_by_and_filters_equal_sketches_of_the_same_values() {
    let dir = temp_dir("mss-embedded-series");
    let csv = dir.join("events.csv");
    let (values, _) = write_csv(&csv, 6_000, 11);
    let port = free_port();
    let _serve = Proc(
        mss()
            .args(["serve", "--csv"])
            .arg(&csv)
            .args([
                "--window",
                "200ms",
                "--grace",
                "0s",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mss serve starts"),
    );
    wait_for_port(port, std::time::Duration::from_secs(30));
    wait_summary(port, std::time::Duration::from_secs(60), "6000 rows", |s| {
        s["messages_processed"] == 6000
    });
    // Sketches built directly from each label's values.
    let direct = |label: Option<&str>| {
        let mut s = shared::Sketch::with_defaults(shared::SketchKind::QuantileFlow);
        for (i, v) in values.iter().enumerate() {
            if label.is_none_or(|l| l == label_of(i)) {
                s.insert(*v).expect("valid");
            }
        }
        s
    };
    let qs = [0.5, 0.9, 0.99];
    // Every window is closed once the idle partitions' grace has passed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let grouped = loop {
        let (status, body) = http_get(port, "/api/quantiles?by=label&q=0.5,0.9,0.99").expect("answer");
        assert_eq!(status, 200, "{body}");
        let doc: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let total: u64 = doc["groups"]
            .as_array()
            .map_or(0, |g| g.iter().map(|g| g["count"].as_u64().unwrap_or(0)).sum());
        if total == 6000 || std::time::Instant::now() > deadline {
            break doc;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(grouped["groups_total"], 2, "{grouped}");
    for g in grouped["groups"].as_array().expect("groups") {
        let label = g["tags"]["label"].as_str().expect("a label group");
        let want = direct(Some(label));
        assert_eq!(g["count"].as_u64(), Some(want.count()), "{label}");
        assert_eq!(
            quantiles_of(g),
            want.quantiles(&qs).expect("q"),
            "{label}: merged = one sketch of its values"
        );
    }
    let fail = summary(port, "?filter=label:Fail&q=0.5,0.9,0.99").expect("summary");
    let want = direct(Some("Fail"));
    assert_eq!(fail["data_points"].as_u64(), Some(want.count()));
    assert_eq!(quantiles_of(&fail), want.quantiles(&qs).expect("q"));
    let not_fail = summary(port, "?filter=!label:Fail&q=0.5,0.9,0.99").expect("summary");
    assert_eq!(
        not_fail["data_points"].as_u64(),
        Some(direct(Some("Success")).count())
    );
    let all = summary(port, "?q=0.5,0.9,0.99").expect("summary");
    assert_eq!(quantiles_of(&all), direct(None).quantiles(&qs).expect("q"));
    let (status, body) = http_get(port, "/api/metrics").expect("metrics");
    assert_eq!(status, 200);
    let metrics: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(metrics[0]["metric"], "latency", "{metrics}");
    assert_eq!(metrics[0]["series"], 2);
    assert_eq!(metrics[0]["tags"]["label"]["values"], 2);
    assert_eq!(metrics[0]["tags"]["label"]["top"][0][0], "Success");
    for (query, param) in [
        ("/api/summary?by=label", "by"),
        ("/api/quantiles?filter=label", "filter"),
        ("/api/quantiles?by=a,b,c", "by"),
        ("/api/series?metric=9bad", "metric"),
        ("/api/quantiles?by=label&limit=0", "limit"),
    ] {
        let (status, body) = http_get(port, query).expect("answer");
        assert_eq!(status, 400, "{query}: {body}");
        let err: serde_json::Value = serde_json::from_str(&body).expect("JSON error");
        assert_eq!(err["param"], param, "{query}: {body}");
    }
    // Series points per group, and a CSV with a group column.
    let (status, body) = http_get(port, "/api/series?by=label&step=1m").expect("series");
    assert_eq!(status, 200, "{body}");
    let series: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let counted: u64 = series["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| {
            g["points"]
                .as_array()
                .expect("points")
                .iter()
                .map(|p| p["count"].as_u64().unwrap_or(0))
        })
        .sum();
    assert_eq!(counted, 6000);
    let (_, csv_body) = http_get(port, "/api/series?by=label&step=1m&format=csv").expect("csv");
    assert!(csv_body.starts_with("group,t,count,"), "{csv_body}");
    assert!(
        csv_body.lines().any(|l| l.starts_with("label=Fail,")),
        "{csv_body}"
    );
    std::fs::remove_dir_all(dir).ok();
}
