//! `mss generate`, `mss bench sketches` and `mss bench e2e` as a user runs them.

mod common;

use common::mss;

#[test]
fn generate_writes_an_hdfs_shaped_csv_that_the_replay_reads_cleanly() {
    let dir = std::env::temp_dir().join(format!("mss-generate-{}", std::process::id()));
    let path = dir.join("HDFS_v1/preprocessed/Event_traces.csv");
    let out = mss()
        .args(["generate", "--rows", "5000", "--out"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(out.status.success());
    let text = std::fs::read_to_string(&path).expect("written");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("BlockId,Label,Type,Features,TimeInterval,Latency,tag.op,tag.datanode")
    );
    assert_eq!(lines.count(), 5000);
    let rows: Vec<_> = backend::source::csv::CsvSource::open(&path, false)
        .expect("opens")
        .collect();
    assert_eq!(rows.len(), 5000);
    assert!(rows.iter().all(|r| r
        .as_ref()
        .is_ok_and(|r| r.block_id.starts_with("blk_") && r.latency >= 0.0)));
    // Several series, as `--synthetic` has: label × op × datanode.
    let series: std::collections::BTreeSet<Vec<(String, String)>> =
        rows.into_iter().filter_map(Result::ok).map(|r| r.tags).collect();
    assert!(series.len() >= 24, "{} series", series.len());
    let keys: std::collections::BTreeSet<&str> = series.iter().flatten().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["datanode", "label", "op"].into());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bench_sketches_json_has_every_kind_and_the_peer() {
    let out = mss()
        .args(["bench", "sketches", "--values", "2000", "--json"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for kind in [
        "quantileflow",
        "datadog",
        "momentsketch",
        "hdrhistogram",
        "sketches-ddsketch",
    ] {
        assert!(
            v["insert_ns"][kind].as_f64().is_some_and(|x| x > 0.0),
            "insert_ns.{kind}: {v}"
        );
        assert!(
            v["merge_ns"][kind].as_f64().is_some_and(|x| x > 0.0),
            "merge_ns.{kind}"
        );
    }
    for kind in ["quantileflow", "datadog", "momentsketch", "hdrhistogram"] {
        assert!(
            v["encoded_bytes"][kind].as_u64().is_some_and(|x| x > 0),
            "encoded_bytes.{kind}"
        );
    }
    for insert in ["DDSketch::insert", "Sketch::insert", "insert_slice"] {
        let ours = v["quantileflow_insert_ns"][insert].as_f64().expect("measured");
        let ratio = v["insert_speedup_vs_sketches_ddsketch"][insert]
            .as_f64()
            .expect("ratio");
        let peer = v["insert_ns"]["sketches-ddsketch"].as_f64().expect("peer");
        assert!(
            (ratio - peer / ours).abs() < 1e-9 * ratio.max(1.0),
            "{insert}: {v}"
        );
    }
}

#[test]
fn bench_e2e_reports_every_field_and_profiles_every_stage() {
    let dir = std::env::temp_dir().join(format!("mss-bench-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let profile = dir.join("profile.md");
    let out = mss()
        .args([
            "bench",
            "e2e",
            "--rows",
            "3000",
            "--partitions",
            "2",
            "--json",
            "--profile-output",
        ])
        .arg(&profile)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["rows"], 3000);
    assert_eq!(doc["broker"], "embedded");
    for field in [
        "produce_msg_s",
        "consume_msg_s",
        "end_to_end_s",
        "latency_p50_ms",
        "latency_p99_ms",
        "peak_rss_mb",
        "records_per_cpu_s",
    ] {
        let v = doc[field].as_f64().unwrap_or(-1.0);
        assert!(v > 0.0, "{field} = {v}");
    }
    assert!(doc["latency_p50_ms"].as_f64() <= doc["latency_p99_ms"].as_f64());
    // Every record went through decode and each kind's insert exactly once.
    let table = std::fs::read_to_string(&profile).expect("report written");
    for stage in [
        "decode payload",
        "insert quantileflow",
        "insert datadog",
        "insert momentsketch",
        "insert hdrhistogram",
    ] {
        assert!(
            table.contains(&format!("| {stage} | 3000 |")),
            "{stage}:\n{table}"
        );
    }
    let svg = std::fs::read_to_string(dir.join("profile.md.flamegraph.svg")).expect("flamegraph written");
    assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "not an SVG");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bench_view_reads_back_every_published_window() {
    let out = mss()
        .args(["bench", "view", "--history", "20s", "--partitions", "2", "--json"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    // 20 one-second windows × 2 partitions × 4 kinds, 160 values each.
    assert_eq!(doc["windows"], 160);
    assert_eq!(doc["values"], 20 * 2 * 160);
    assert!(doc["rebuild_s"].as_f64().unwrap_or(-1.0) > 0.0);
}

#[test]
fn bench_view_refuses_a_history_the_embedded_broker_would_drop() {
    let out = mss()
        .args(["bench", "view", "--history", "1h", "--partitions", "1", "--json"])
        .output()
        .expect("runs");
    assert!(!out.status.success(), "an hour cannot fit 5 MiB per partition");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("do not fit the embedded broker") && stderr.contains("--brokers"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no report for a refused run");
}

#[test]
fn bench_e2e_preload_on_the_embedded_broker_is_refused_naming_brokers() {
    let out = mss()
        .args(["bench", "e2e", "--rows", "1000", "--preload"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--preload needs --brokers"), "{stderr}");
}
