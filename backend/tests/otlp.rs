//! OTLP ingest with real clients:
//! - the OpenTelemetry Python SDK (explicit buckets and the exponential
//!   aggregation, cumulative and delta, several exports, gzip) into
//!   `mss serve --otlp-listen`: counts equal exactly, quantiles within the
//!   documented bound of the exact quantiles of the recorded values;
//! - records written the way the Collector's Kafka exporter writes them
//!   (official proto definitions, kafka-python) into Tansu, read by
//!   `mss consume --format otlp`;
//! - bad bodies get their documented status and counter, and the receiver
//!   keeps serving.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// `mss serve` (embedded broker) with the OTLP receiver: (process, API port, OTLP port).
fn serve_with_otlp(name: &str) -> (Proc, u16, u16) {
    let (port, otlp) = (free_port(), free_port());
    let proc = Proc(
        mss()
            .args([
                "serve",
                "--window",
                "200ms",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["--otlp-listen", &format!("127.0.0.1:{otlp}")])
            .stdout(Stdio::null())
            .stderr(log_file(name))
            .spawn()
            .expect("mss serve starts"),
    );
    wait_ready(port);
    wait_for_port(otlp, Duration::from_secs(30));
    (proc, port, otlp)
}

fn get_json(port: u16, path: &str) -> serde_json::Value {
    let (status, body) = http_get(port, path).expect("answer");
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

/// Polls `/api/quantiles?{query}` until its count is `count`.
fn wait_count(port: u16, query: &str, count: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let doc = get_json(port, &format!("/api/quantiles?{query}"));
        if doc["count"].as_u64() == Some(count) {
            return doc;
        }
        assert!(Instant::now() < deadline, "count never reached {count}: {doc}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A JSON array of numbers.
fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("an array")
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .collect()
}

/// The exact rank-⌊q(n−1)⌋ value.
fn exact(sorted: &[f64], q: f64) -> f64 {
    sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
}

/// Runs the SDK script; returns its JSON line.
fn sdk_export(
    otlp: u16,
    temporality: &str,
    prefix: &str,
    intervals: u32,
    per: u32,
    gzip: bool,
) -> serde_json::Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/otel_sdk_export.py");
    let endpoint = format!("http://127.0.0.1:{otlp}/v1/metrics");
    let mut c = Command::new("python3");
    c.arg(script).args([
        &endpoint,
        temporality,
        prefix,
        &intervals.to_string(),
        &per.to_string(),
    ]);
    if gzip {
        c.arg("gzip");
    }
    let out = c
        .stderr(log_file(&format!("sdk-{prefix}")))
        .output()
        .expect("python3 runs (opentelemetry-sdk: bash scripts/setup.sh test)");
    assert!(
        out.status.success(),
        "the SDK exported every interval (see its log)"
    );
    serde_json::from_slice(&out.stdout).expect("one JSON line")
}

const QS: [f64; 4] = [0.5, 0.9, 0.95, 0.99];
const ALPHA: f64 = 0.01;

/// Explicit buckets: the estimate lies in the client bucket of the exact
/// value (its bounds widened by the sketch's α).
fn assert_within_buckets(doc: &serde_json::Value, values: &[f64], bounds: &[f64]) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let max = sorted[sorted.len() - 1];
    for q in QS {
        let x = exact(&sorted, q);
        let i = bounds.iter().position(|&b| x <= b).unwrap_or(bounds.len());
        let lo = if i == 0 { sorted[0] } else { bounds[i - 1] };
        let hi = bounds.get(i).copied().unwrap_or(max);
        let est = doc["quantiles"][q.to_string()].as_f64().expect("quantile");
        assert!(
            est >= lo * (1.0 - ALPHA) && est <= hi * (1.0 + ALPHA),
            "q{q}: {est} outside the client bucket ({lo}, {hi}] of the exact {x}"
        );
    }
}

/// Exponential buckets: within the bucket's relative width plus α.
fn assert_within_relative(doc: &serde_json::Value, values: &[f64], scale: i32) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let base = (-f64::from(scale)).exp2().exp2();
    let bound = (base - 1.0) + 2.0 * ALPHA;
    for q in QS {
        let x = exact(&sorted, q);
        let est = doc["quantiles"][q.to_string()].as_f64().expect("quantile");
        assert!(
            (est - x).abs() <= bound * x,
            "q{q}: {est} vs exact {x} (scale {scale}: bound {bound:.4})"
        );
    }
}

#[test]
fn the_python_sdk_cumulative_and_delta_explicit_and_exponential_counts_exactly_once() {
    let (_serve, port, otlp) = serve_with_otlp("serve-otlp-sdk");
    for (temporality, prefix, intervals, per, gzip) in [
        ("cumulative", "cum", 4, 500, true),
        ("delta", "del", 3, 400, false),
    ] {
        let sent = sdk_export(otlp, temporality, prefix, intervals, per, gzip);
        let values = floats(&sent["values"]);
        let n = u64::from(intervals * per);
        assert_eq!(values.len() as u64, n);
        let bounds = floats(&sent["bounds"]);
        let qs = "q=0.5,0.9,0.95,0.99";
        let doc = wait_count(port, &format!("metric={prefix}.explicit&{qs}"), n);
        assert_within_buckets(&doc, &values, &bounds);
        let scale = sent["scale"].as_i64().expect("scale") as i32;
        let doc = wait_count(port, &format!("metric={prefix}.exponential&{qs}"), n);
        assert_within_relative(&doc, &values, scale);
        // Point attributes and the resource's service.name are tags.
        let by = get_json(
            port,
            &format!("/api/quantiles?metric={prefix}.explicit&by=route,service.name&{qs}"),
        );
        let groups = by["groups"].as_array().expect("groups");
        assert_eq!(groups.len(), 2, "{by}");
        let b = values
            .iter()
            .enumerate()
            .filter(|(i, _)| (i % per as usize).is_multiple_of(3))
            .count() as u64;
        for g in groups {
            assert_eq!(g["tags"]["service.name"], format!("{prefix}-svc"), "{g}");
            let want = if g["tags"]["route"] == "/b" { b } else { n - b };
            assert_eq!(g["count"].as_u64(), Some(want), "{g}");
        }
    }
    // Nothing counted twice once everything settled (a cumulative export
    // counted whole would show here).
    std::thread::sleep(Duration::from_millis(800));
    let doc = get_json(port, "/api/quantiles?metric=cum.explicit&q=0.5");
    assert_eq!(doc["count"].as_u64(), Some(2000));
    // The receiver wrote to --otlp-topic (default otlp_metrics), which this
    // process consumes beside its own --topic, in one group.
    let summary = get_json(port, "/api/summary");
    let partitions = summary["partitions"].as_array().expect("partitions");
    let of = |topic: &str| {
        partitions
            .iter()
            .filter(|p| p["topic"] == topic)
            .collect::<Vec<_>>()
    };
    assert!(
        !of("latency-metrics").is_empty(),
        "the --topic partitions are assigned too: {summary}"
    );
    let written: i64 = of("otlp_metrics")
        .iter()
        .map(|p| p["offset"].as_i64().unwrap_or(-1) + 1)
        .sum();
    assert!(written > 0, "OTLP records were read from otlp_metrics: {summary}");
    assert!(
        of("latency-metrics").iter().all(|p| p["offset"] == -1),
        "nothing went to --topic: {summary}"
    );
}

/// A raw HTTP/1.1 POST: (status, headers, body).
fn post(port: u16, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write head");
    // The server may answer (413) before reading a large body.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    (status, head, raw[split + 4..].to_vec())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

fn json_request(metric: &str, point: &str) -> String {
    format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"bad-bodies"}}}}]}},
        "scopeMetrics":[{{"metrics":[{{"name":"{metric}","unit":"ms","histogram":{{"aggregationTemporality":1,"dataPoints":[{point}]}}}}]}}]}}]}}"#
    )
}

fn good_point(count_a: u64) -> String {
    let now = now_ms() as u64 * 1_000_000;
    format!(
        r#"{{"startTimeUnixNano":"{}","timeUnixNano":"{now}","count":"{}","bucketCounts":["{count_a}","1"],"explicitBounds":[10]}}"#,
        now - 1_000_000_000,
        count_a + 1
    )
}

/// The sum of `metric{label="value"}` on the receiver's `/metrics`.
fn counter(port: u16, metric: &str, label: &str, value: &str) -> u64 {
    let (_, text) = http_get(port, "/metrics").expect("metrics");
    let wanted = format!("{label}=\"{value}\"");
    text.lines()
        .filter(|l| l.starts_with(metric) && l.contains(&wanted))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn refused_total(port: u16, reason: &str) -> u64 {
    counter(port, "mss_otlp_refused_total", "reason", reason)
}

fn refused_requests(port: u16, status: &str) -> u64 {
    counter(port, "mss_otlp_refused_requests_total", "status", status)
}

#[test]
fn bad_bodies_get_their_status_and_a_counter_and_the_receiver_keeps_serving() {
    let (_serve, port, otlp) = serve_with_otlp("serve-otlp-bad");
    let json = [("Content-Type", "application/json")];
    let proto = [("Content-Type", "application/x-protobuf")];
    let good = json_request("bad.bodies", &good_point(4));
    let (status, _, body) = post(otlp, "/v1/metrics", &json, good.as_bytes());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    // Truncated protobuf: 400 with a google.rpc.Status.
    let bytes = backend::otlp::encode_protobuf(&backend::otlp::decode_json(good.as_bytes()).expect("json"));
    let (status, _, _) = post(otlp, "/v1/metrics", &proto, &bytes[..bytes.len() / 2]);
    assert_eq!(status, 400, "truncated protobuf");
    // A page on another name (DNS rebinding) cannot write: 403.
    let mut s = TcpStream::connect(("127.0.0.1", otlp)).expect("connect");
    let body = good.as_bytes();
    let head = format!(
        "POST /v1/metrics HTTP/1.1\r\nHost: rebind.example:{otlp}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|()| s.write_all(body))
        .expect("write");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    // Another content type: 415.
    let (status, _, _) = post(
        otlp,
        "/v1/metrics",
        &[("Content-Type", "text/plain")],
        good.as_bytes(),
    );
    assert_eq!(status, 415);
    // A gzip bomb: 64 MiB of zeros in ~64 KiB, refused while inflating.
    let bomb = gzip(&vec![0u8; 64 << 20]);
    assert!(
        bomb.len() < 200_000,
        "the bomb is small on the wire: {}",
        bomb.len()
    );
    let (status, _, _) = post(
        otlp,
        "/v1/metrics",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "gzip"),
        ],
        &bomb,
    );
    assert_eq!(status, 413, "gzip bomb");
    // One byte past --otlp-max-body (4 MiB) on the wire: 413 with a
    // google.rpc.Status, counted like every refused request. (The server has
    // read every byte when it refuses, so its close cannot reset the answer.)
    let refused_413 = refused_requests(otlp, "413");
    let (status, head, answer) = post(otlp, "/v1/metrics", &json, &vec![b' '; (4 << 20) + 1]);
    assert_eq!(status, 413, "{head}");
    let answer: serde_json::Value = serde_json::from_slice(&answer).expect("a JSON google.rpc.Status");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("--otlp-max-body")),
        "{answer}"
    );
    assert_eq!(
        refused_requests(otlp, "413"),
        refused_413 + 1,
        "the wire 413 is counted"
    );
    // NaN bounds and counts that do not add up: 200 with partial_success.
    let now = now_ms() as u64 * 1_000_000;
    let nan = format!(
        r#"{{"timeUnixNano":"{now}","count":"2","bucketCounts":["1","1"],"explicitBounds":["NaN"]}}"#
    );
    let wrong =
        format!(r#"{{"timeUnixNano":"{now}","count":"7","bucketCounts":["1","1"],"explicitBounds":[5]}}"#);
    let body = json_request("bad.bodies", &format!("{nan},{wrong}"));
    let (status, _, answer) = post(otlp, "/v1/metrics", &json, body.as_bytes());
    assert_eq!(status, 200);
    let answer: serde_json::Value = serde_json::from_slice(&answer).expect("JSON response");
    assert_eq!(answer["partialSuccess"]["rejectedDataPoints"], "2", "{answer}");
    assert_eq!(refused_total(otlp, "not_finite"), 1);
    assert_eq!(refused_total(otlp, "bad_buckets"), 1);
    // 10,000 attributes: accepted by the receiver, refused by the consumer
    // as too_many_tags (a series has at most 16 tags).
    let attrs: Vec<String> = (0..10_000)
        .map(|i| format!(r#"{{"key":"k{i}","value":{{"stringValue":"v"}}}}"#))
        .collect();
    let many = good_point(2).replacen('{', &format!(r#"{{"attributes":[{}],"#, attrs.join(",")), 1);
    let (status, _, _) = post(
        otlp,
        "/v1/metrics",
        &json,
        json_request("bad.bodies", &many).as_bytes(),
    );
    assert_eq!(status, 200);
    // Still serving: the first request again (as protobuf: a repeated
    // export, counted once) and a new point land; the counts add up.
    let (status, _, _) = post(otlp, "/v1/metrics", &proto, &bytes);
    assert_eq!(status, 200);
    let later = json_request("bad.bodies", &good_point(9));
    let (status, _, _) = post(otlp, "/v1/metrics", &json, later.as_bytes());
    assert_eq!(status, 200);
    wait_count(port, "metric=bad.bodies&q=0.5", 5 + 10);
    let s = summary(port, "").expect("summary");
    assert_eq!(s["otlp"]["duplicates"], 1, "the repeated export: {s}");
    wait_rejected(port, "too_many_tags", 1);
}

#[test]
fn collector_style_records_in_kafka_are_read_by_consume_format_otlp() {
    let tansu = Tansu::start();
    let topic = "otlp_metrics";
    tansu.create_topic(topic, 2);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/otlp_kafka_produce.py");
    let out = Command::new("python3")
        .arg(script)
        .args([&tansu.brokers, topic])
        .stderr(log_file("otlp-kafka-produce"))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "records written (see the otlp-kafka-produce log)"
    );
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    let port = free_port();
    let _consumer = spawn_consumer(
        &tansu.brokers,
        "otlp-collector",
        port,
        &["--topic", topic, "--partitions", "2", "--format", "otlp"],
    );
    let values = sent["values"].as_u64().expect("values");
    let s = wait_summary(port, Duration::from_secs(90), "every OTLP value", |s| {
        s["messages_processed"] == values && s["rejected_by_reason"]["payload"]["malformed"] == 1
    });
    assert_eq!(
        s["rejected_by_reason"]["payload"]["unsupported_point"], sent["unsupported"],
        "{s}"
    );
    // Only the differences of the cumulative exports (10 + 15 + 15).
    wait_count(port, "metric=rpc.cumulative&q=0.5", 40);
    wait_count(port, "metric=rpc.exponential&q=0.5", 8);
    let by = get_json(port, "/api/quantiles?metric=rpc.duration&by=service.name&q=0.5");
    assert_eq!(by["groups_total"], 2, "{by}");
}

/// One cumulative point of stream `route=/pay` of service `restart`, as protobuf.
fn cumulative_record(start_ns: u64, time_ns: u64, counts: &[u64]) -> Vec<u8> {
    use backend::otlp::proto::*;
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        }),
    };
    let point = HistogramDataPoint {
        attributes: vec![kv("route", "/pay")],
        start_time_unix_nano: start_ns,
        time_unix_nano: time_ns,
        count: counts.iter().sum(),
        bucket_counts: counts.to_vec(),
        explicit_bounds: vec![10.0, 100.0],
        ..Default::default()
    };
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "restart")],
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: None,
                metrics: vec![Metric {
                    name: "rpc.restart".into(),
                    unit: "ms".into(),
                    data: Some(MetricData::Histogram(Histogram {
                        data_points: vec![point],
                        aggregation_temporality: TEMPORALITY_CUMULATIVE,
                    })),
                }],
            }],
        }],
    };
    backend::otlp::encode_protobuf(&request)
}

#[test]
fn cumulative_baselines_survive_a_restart_through_the_sketch_log() {
    let tansu = Tansu::start();
    let args = ["--topic", "otlp-restart", "--partitions", "1", "--format", "otlp"];
    restart_keeps_the_baseline(&tansu, "otlp-restart", &|port| {
        spawn_consumer(&tansu.brokers, "otlp-restart", port, &args)
    });
}

/// The same through `mss serve --otlp-listen`, which consumes its
/// `--otlp-topic` beside its `--topic` in one group: the OTLP topic's
/// partition is read back by (topic, partition).
#[test]
fn a_serve_reading_two_topics_reads_the_otlp_topics_baselines_back() {
    let tansu = Tansu::start();
    let spawn = |port: u16| {
        Proc(
            mss()
                .args(["serve", "--brokers", &tansu.brokers, "--group", "serve-restart"])
                .args(["--window", "200ms", "--listen", &format!("127.0.0.1:{port}")])
                .args(["--topic", "json-restart", "--partitions", "1"])
                .args(["--otlp-topic", "otlp-serve-restart"])
                .args(["--otlp-listen", &format!("127.0.0.1:{}", free_port())])
                .stdout(Stdio::null())
                .stderr(log_file(&format!("serve-restart-{port}")))
                .spawn()
                .expect("mss serve starts"),
        )
    };
    restart_keeps_the_baseline(&tansu, "otlp-serve-restart", &spawn);
}

/// Two cumulative points, a graceful stop, a third point, a new owner:
/// only the third point's difference is counted.
fn restart_keeps_the_baseline(tansu: &Tansu, topic: &str, spawn: &dyn Fn(u16) -> Proc) {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let producer: ThreadedProducer<DefaultProducerContext> = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", &tansu.brokers)
        .set("batch.num.messages", "1")
        .create()
        .expect("producer");
    let send = |value: Vec<u8>| {
        producer
            .send(
                BaseRecord::<[u8], [u8]>::to(topic)
                    .key(&b"restart"[..])
                    .payload(&value),
            )
            .expect("queued");
        producer.flush(Duration::from_secs(10)).expect("flushed");
    };
    let start = (now_ms() as u64 - 5_000) * 1_000_000;
    let at = |s: u64| start + s * 1_000_000_000;
    let port_a = free_port();
    let a = spawn(port_a);
    wait_ready(port_a);
    send(cumulative_record(start, at(1), &[2, 3, 5]));
    send(cumulative_record(start, at(2), &[5, 10, 10]));
    wait_count(port_a, "metric=rpc.restart&q=0.5", 25);
    // A graceful stop publishes the last cut (with the stream's baseline)
    // and commits.
    let status = Command::new("kill")
        .args(["-TERM", &a.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut a = a;
    assert!(a.0.wait().expect("exits").success(), "graceful exit");
    send(cumulative_record(start, at(3), &[8, 15, 17]));
    wait_out_session();
    let port_b = free_port();
    let _b = spawn(port_b);
    wait_ready(port_b);
    // The new owner read the baseline back: only the difference (40 − 25).
    let doc = wait_count(port_b, "metric=rpc.restart&q=0.5", 15);
    std::thread::sleep(Duration::from_millis(800));
    let again = get_json(port_b, "/api/quantiles?metric=rpc.restart&q=0.5");
    assert_eq!(again["count"], doc["count"], "nothing counted twice");
}

#[test]
fn the_receiving_role_writes_to_the_otlp_topic_and_a_consumer_group_reads_it() {
    let tansu = Tansu::start();
    let otlp = free_port();
    let _receive = Proc(
        mss()
            .args(["receive", "--brokers", &tansu.brokers, "--partitions", "2"])
            .args(["--otlp-listen", &format!("127.0.0.1:{otlp}")])
            .stdout(Stdio::null())
            .stderr(log_file("receive"))
            .spawn()
            .expect("mss receive starts"),
    );
    wait_for_port(otlp, Duration::from_secs(60));
    let sent = sdk_export(otlp, "cumulative", "recv", 3, 200, false);
    assert_eq!(sent["values"].as_array().map(Vec::len), Some(600));
    let port = free_port();
    let _consumer = spawn_consumer(
        &tansu.brokers,
        "otlp-receive",
        port,
        &["--topic", "otlp_metrics", "--partitions", "2", "--format", "otlp"],
    );
    wait_ready(port);
    wait_count(port, "metric=recv.explicit&q=0.5", 600);
    wait_count(port, "metric=recv.exponential&q=0.5", 600);
}

#[test]
fn other_units_are_kept_and_shown_and_never_mixed_with_another() {
    let (_serve, port, otlp) = serve_with_otlp("serve-otlp-units");
    let json = [("Content-Type", "application/json")];
    let request = |unit: &str, point: &str| {
        json_request("payload.size", point).replace(r#""unit":"ms""#, &format!(r#""unit":"{unit}""#))
    };
    // Bytes stay bytes: 3 values in (0, 10] By, 1 above.
    let now = now_ms() as u64 * 1_000_000;
    let bytes = format!(
        r#"{{"timeUnixNano":"{now}","count":"4","bucketCounts":["3","1"],"explicitBounds":[10],"min":2,"max":40}}"#
    );
    let (status, _, _) = post(otlp, "/v1/metrics", &json, request("By", &bytes).as_bytes());
    assert_eq!(status, 200);
    let doc = wait_count(port, "metric=payload.size&q=0.5,1", 4);
    let max = doc["quantiles"]["1"].as_f64().expect("max");
    assert!((10.0..=40.0).contains(&max), "in bytes, not scaled to ms: {doc}");
    let metrics = get_json(port, "/api/metrics");
    let entry = metrics
        .as_array()
        .and_then(|m| m.iter().find(|m| m["metric"] == "payload.size"))
        .cloned()
        .expect("listed");
    assert_eq!(entry["unit"], "By", "{metrics}");
    let (status, svg) = http_get(port, "/api/chart.svg?metric=payload.size&from=now-5m").expect("svg");
    assert_eq!(status, 200);
    assert!(svg.contains(" By"), "the chart's values are in By");
    // The same metric in ms is refused (values of two units never share a
    // sketch); a unit that is not printable ASCII is refused at once.
    let (status, _, _) = post(
        otlp,
        "/v1/metrics",
        &json,
        request("ms", &good_point(2)).as_bytes(),
    );
    assert_eq!(status, 200);
    wait_rejected(port, "bad_unit", 1);
    let (status, _, answer) = post(
        otlp,
        "/v1/metrics",
        &json,
        request("my unit", &good_point(2)).as_bytes(),
    );
    assert_eq!(status, 200);
    let answer: serde_json::Value = serde_json::from_slice(&answer).expect("JSON response");
    assert_eq!(answer["partialSuccess"]["rejectedDataPoints"], "1", "{answer}");
    let doc = get_json(port, "/api/quantiles?metric=payload.size&q=0.5");
    assert_eq!(doc["count"].as_u64(), Some(4), "nothing mixed in: {doc}");
}

/// Waits (up to 30 s, polling) until the consumer counted `n` records
/// rejected for `reason`.
fn wait_rejected(port: u16, reason: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = get_json(port, "/api/summary");
        if s["rejected_by_reason"]["payload"][reason] == n {
            return;
        }
        assert!(Instant::now() < deadline, "{reason} never counted {n}: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
