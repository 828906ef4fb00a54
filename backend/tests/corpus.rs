//! The committed corpus of hostile inputs (`backend/tests/corpus/`, made by
//! `scripts/make_corpus.py`): every file run through its entry point —
//! CSV replay, Kafka record decoding, WebSocket client frames, sketch bytes
//! in every format, API query strings — and checked against
//! `expected.json`. Nothing panics, and no decode reserves memory sized by
//! a length field it was handed: the process's peak virtual size
//! (`VmPeak`, which counts reservations whether or not they are touched)
//! may grow by at most [`MAX_GROWTH`] over the whole corpus, while its
//! cases claim 2 GiB protobuf fields, 2^40 HDR buckets and 2^62-element
//! vectors.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use backend::source::csv::CsvSource;
use serde_json::Value;
use shared::protocol::ClientMessage;
use shared::{Sketch, SketchKind};

/// How much the peak virtual size may grow over the corpus (thread stacks
/// and allocator arenas account for some).
const MAX_GROWTH: u64 = 512 << 20;

/// `VmPeak` of this process, bytes.
fn vm_peak() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux)");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmPeak:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("VmPeak")
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("corpus")
}

fn expected() -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(corpus().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("expected.json parses")
}

fn read(case: &str) -> Vec<u8> {
    std::fs::read(corpus().join(case)).unwrap_or_else(|e| panic!("{case}: {e}"))
}

#[test]
fn every_corpus_file_has_an_expectation_and_every_expectation_a_file() {
    let want = expected();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(corpus()).expect("corpus dir").flatten() {
        if entry.path().is_dir() {
            for f in std::fs::read_dir(entry.path()).expect("entry dir").flatten() {
                let name = format!(
                    "{}/{}",
                    entry.file_name().to_string_lossy(),
                    f.file_name().to_string_lossy()
                );
                files.push(name);
            }
        }
    }
    files.sort();
    let listed: Vec<String> = want.keys().cloned().collect();
    assert_eq!(files, listed);
}

fn csv_case(case: &str, want: &Value) {
    let path = corpus().join(case);
    let source = CsvSource::open(&path, false);
    if let Some(message) = want["open_error"].as_str() {
        let err = source.err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(
            err.contains(message),
            "{case}: open error {err:?} should name {message:?}"
        );
        return;
    }
    let source = source.unwrap_or_else(|e| panic!("{case}: {e:#}"));
    let (mut good, mut rejected) = (0u64, BTreeMap::<String, u64>::new());
    {
        for item in source {
            match item {
                Ok(_) => good += 1,
                Err(bad) => *rejected.entry(bad.reason.name().to_owned()).or_default() += 1,
            }
        }
    }
    assert_eq!(good, want["good"].as_u64().expect("good"), "{case}: {rejected:?}");
    if let Some(reasons) = want["rejected"].as_object() {
        let reasons: BTreeMap<String, u64> = reasons
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
            .collect();
        assert_eq!(rejected, reasons, "{case}");
    }
    if let Some(n) = want["rejected_total_at_least"].as_u64() {
        assert!(rejected.values().sum::<u64>() >= n, "{case}: {rejected:?}");
    }
}

/// A Kafka record through the consumer's own path (`Pipeline::ingest`):
/// counted as a message with its value, or rejected by reason.
fn record_case(case: &str, want: &Value) {
    use backend::stats::RejectSource;
    use std::sync::atomic::Ordering::Relaxed;
    let bytes = read(case);
    let value = (!want["value_is_null"].as_bool().unwrap_or(false)).then_some(bytes.as_slice());
    let pipeline = backend::ingest::Pipeline::new(backend::ingest::IngestConfig::default()).expect("config");
    let windows = pipeline.partition(0).expect("partition");
    // The Kafka timestamp: now, so no record is late or future.
    pipeline.ingest(
        &windows,
        0,
        Some(b"key".as_slice()),
        value,
        Some(backend::clock::now_ms()),
    );
    let rejected: Vec<&str> = pipeline
        .stats
        .rejected(RejectSource::Payload)
        .into_iter()
        .map(|(r, _)| r.name())
        .collect();
    match (want["ok"].as_f64(), want["reject"].as_str()) {
        (Some(v), _) => {
            assert_eq!(
                pipeline.stats.messages.load(Relaxed),
                1,
                "{case}: rejected {rejected:?}"
            );
            assert_eq!(
                backend::record::decode(Some(b"key".as_slice()), value).map(|d| d.latency),
                Ok(v),
                "{case}"
            );
        }
        (None, Some(reason)) => {
            assert_eq!(pipeline.stats.messages.load(Relaxed), 0, "{case}");
            assert_eq!(rejected, [reason], "{case}");
        }
        _ => panic!("{case}: expectation needs ok or reject"),
    }
}

fn ws_case(case: &str, want: &Value) {
    let bytes = read(case);
    if let Some(v) = want["version"].as_u64() {
        assert_eq!(
            ClientMessage::peek_version(&bytes).map(u64::from),
            Some(v),
            "{case}"
        );
    }
    let decoded = ClientMessage::decode(&bytes);
    assert_eq!(decoded.is_err(), want["decode"] == "error", "{case}: {decoded:?}");
}

fn sketch_case(case: &str, want: &Value) {
    let bytes = read(case);
    let check = |format: &str, result: Result<Sketch, String>| match want[format].as_str() {
        Some("error") => assert!(result.is_err(), "{case} as {format}: decoded"),
        Some("ok_or_error") | None => {
            if let Ok(s) = result {
                let _ = s.quantiles(&[0.5, 0.99]);
            }
        }
        Some(other) => panic!("{case}: unknown expectation {other}"),
    };
    let native = Sketch::decode(&bytes).map_err(|e| e.to_string());
    check("native", native);
    for kind in [SketchKind::QuantileFlow, SketchKind::Datadog] {
        let dd = Sketch::from_datadog_proto(kind, &bytes).map_err(|e| e.to_string());
        check("datadog", dd);
    }
    let hdr = Sketch::from_hdr_v2(&bytes).map_err(|e| e.to_string());
    check("hdr", hdr);
    // Merged from the bytes into a sketch of each kind: refused or merged, never a panic.
    for kind in SketchKind::ALL {
        let mut s = Sketch::with_defaults(kind);
        let _ = s.merge_encoded(&bytes);
    }
}

#[test]
fn byte_inputs_get_their_expected_outcome_without_panics_or_huge_allocations() {
    let before = vm_peak();
    for (case, want) in expected() {
        match case.split('/').next() {
            Some("csv") => csv_case(&case, &want),
            Some("record") => record_case(&case, &want),
            Some("ws") => ws_case(&case, &want),
            Some("sketch") => sketch_case(&case, &want),
            Some("query") => {}
            other => panic!("{case}: unknown entry point {other:?}"),
        }
        let grown = vm_peak().saturating_sub(before);
        assert!(
            grown <= MAX_GROWTH,
            "{case}: the peak virtual size grew by {grown} bytes"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_strings_get_a_400_naming_the_parameter() {
    let (port, _stop) = common::served::start(common::served::pipeline()).await;
    for (case, want) in expected().into_iter().filter(|(c, _)| c.starts_with("query/")) {
        let path = String::from_utf8(read(&case)).expect("utf-8");
        let (status, body) = common::served::get(port, path.trim()).await;
        assert_eq!(
            u64::from(status),
            want["status"].as_u64().expect("status"),
            "{case}: {body}"
        );
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{case}: {e}: {body}"));
        assert_eq!(v["param"], want["param"], "{case}: {body}");
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{case}: {body}"
        );
    }
}
