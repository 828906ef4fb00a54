//! The committed corpus of hostile inputs (`backend/tests/corpus/`, made by
//! `scripts/make_corpus.py`): every file run through its entry point —
//! CSV replay, Kafka record decoding, WebSocket client frames, sketch bytes
//! in every format, API query strings, OTLP bodies (`POST /v1/metrics`) and
//! OTLP records in Kafka — and checked against
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

/// Held by the test that measures `VmPeak` and by the tests that start
/// servers and broker threads (their stacks and allocator arenas would count
/// against the measured one).
static PEAK_MEASURED: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

/// What `case` does as one Kafka record of `--format otlp` (a JSON body is
/// sent as its protobuf, as the receiver writes it): points counted or
/// rejected by reason, and the record always processed.
fn otlp_record_case(case: &str, want: &Value) {
    use backend::stats::RejectSource;
    use std::sync::atomic::Ordering::Relaxed;
    let Some(record) = want.get("record") else {
        return;
    };
    let raw = read(case);
    let bytes = if case.ends_with(".json") {
        backend::otlp::encode_protobuf(&backend::otlp::decode_json(&raw).expect("a JSON request"))
    } else {
        raw
    };
    let pipeline = backend::ingest::Pipeline::new(backend::ingest::IngestConfig {
        format: backend::otlp::RecordFormat::Otlp,
        ..Default::default()
    })
    .expect("config");
    let windows = pipeline.partition(0).expect("partition");
    pipeline.ingest(&windows, 0, None, Some(&bytes), Some(backend::clock::now_ms()));
    assert_eq!(
        windows.lock().expect("lock").last_offset(),
        Some(0),
        "{case}: processed"
    );
    let points = pipeline.stats.otlp_points.load(Relaxed);
    assert_eq!(Some(points), record["points"].as_u64(), "{case}: points");
    let rejected: BTreeMap<String, u64> = pipeline
        .stats
        .rejected(RejectSource::Payload)
        .into_iter()
        .map(|(r, n)| (r.name().to_owned(), n))
        .collect();
    let want_rejected: BTreeMap<String, u64> =
        serde_json::from_value(record["rejected"].clone()).expect("rejected map");
    assert_eq!(rejected, want_rejected, "{case}: rejected");
}

#[test]
fn byte_inputs_get_their_expected_outcome_without_panics_or_huge_allocations() {
    let _alone = PEAK_MEASURED.blocking_lock();
    let before = vm_peak();
    for (case, want) in expected() {
        match case.split('/').next() {
            Some("csv") => csv_case(&case, &want),
            Some("record") => record_case(&case, &want),
            Some("ws") => ws_case(&case, &want),
            Some("sketch") => sketch_case(&case, &want),
            Some("otlp") => otlp_record_case(&case, &want),
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
    let _alone = PEAK_MEASURED.lock().await;
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

/// `POST /v1/metrics` with `body` (its type and encoding from the file
/// name) → (status, body).
fn post_otlp(port: u16, case: &str, body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let (content_type, encoding) = match case {
        c if c.ends_with(".pb.gz") => ("application/x-protobuf", "Content-Encoding: gzip\r\n"),
        c if c.ends_with(".pb") => ("application/x-protobuf", ""),
        _ => ("application/json", ""),
    };
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let head = format!(
        "POST /v1/metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n\
         {encoding}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read answer");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{case}: no status in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Every OTLP body of the corpus gets its expected answer from the receiver
/// (writing to the in-process mock cluster): 200 with the refused points
/// counted in `partialSuccess`, 400 for a body that is not a request, 413
/// for one that inflates past `--otlp-max-body`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_bodies_get_their_expected_answer() {
    use backend::otlp::receiver;
    let _alone = PEAK_MEASURED.lock().await;
    let broker = backend::broker::EmbeddedBroker::start(&[("otlp".to_owned(), 2)]).expect("mock cluster");
    let producer = receiver::producer(broker.bootstrap(), &[]).expect("producer");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = receiver::router(
        receiver::Receiver::new(producer, "otlp", receiver::DEFAULT_MAX_BODY),
        addr,
        None,
    );
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    for (case, want) in expected().into_iter().filter(|(c, _)| c.starts_with("otlp/")) {
        let body = read(&case);
        let (status, answer) = tokio::task::spawn_blocking({
            let case = case.clone();
            move || post_otlp(addr.port(), &case, &body)
        })
        .await
        .expect("request task");
        assert_eq!(
            Some(u64::from(status)),
            want["status"].as_u64(),
            "{case}: {answer}"
        );
        if status == 200 && case.ends_with(".json") {
            let v: Value = serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{case}: {e}: {answer}"));
            let refused = &v["partialSuccess"]["rejectedDataPoints"];
            let refused = refused
                .as_u64()
                .or_else(|| refused.as_str().and_then(|s| s.parse().ok()));
            assert_eq!(
                refused.unwrap_or(0),
                want["rejected_data_points"]
                    .as_u64()
                    .expect("rejected_data_points"),
                "{case}: {answer}"
            );
        } else {
            assert!(!answer.is_empty() || status == 200, "{case}: a refusal says why");
        }
    }
    server.abort();
}
