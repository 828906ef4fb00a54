//! `mss generate` and `mss bench sketches` as a user runs them.

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
        Some("BlockId,Label,Type,Features,TimeInterval,Latency")
    );
    assert_eq!(lines.count(), 5000);
    let rows: Vec<_> = backend::source::csv::CsvSource::open(&path, false)
        .expect("opens")
        .collect();
    assert_eq!(rows.len(), 5000);
    assert!(rows.iter().all(|r| r
        .as_ref()
        .is_ok_and(|r| r.block_id.starts_with("blk_") && r.latency >= 0.0)));
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
}
