//! Fuzzing the service's own input parsers with proptest: Kafka record
//! values (arbitrary bytes and mutated valid records) through the
//! consumer's ingest path, CSV files of arbitrary content through the
//! replay, and the `--slo`/`--alert` and webhook URL parsers. Each answers
//! with a value or a counted rejection, never a panic. A few hundred cases
//! per target in the suite; `scripts/fuzz.sh` runs a million
//! (`MSS_FUZZ_CASES`).

use std::sync::atomic::Ordering::Relaxed;

use backend::ingest::{IngestConfig, Pipeline};
use backend::stats::RejectSource;
use proptest::prelude::*;

/// `MSS_FUZZ_CASES ÷ divisor` cases (at least `default`), `default` without it.
fn config(default: u32, divisor: u32) -> ProptestConfig {
    let cases = std::env::var("MSS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .map_or(default, |n| (n / divisor).max(default));
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const RECORDS: [&str; 4] = [
    r#"{"block_id":"blk_1","latency":12.5}"#,
    r#"{"metric":"http.server.duration","tags":{"route":"/pay","host":"h1"},"value":0.25,"unit":"s","ts_ms":1700000000000}"#,
    "42.5",
    r#"{"block_id":"blk_2","latency":"7","ts_ms":1}"#,
];

/// Every record is either counted or rejected by one reason.
fn ingest_accounts_for(
    pipeline: &Pipeline,
    windows: &std::sync::Mutex<backend::window::PartitionWindows>,
    offset: i64,
    value: &[u8],
) {
    let before = pipeline.stats.messages.load(Relaxed) + pipeline.stats.rejected_total(RejectSource::Payload);
    pipeline.ingest(
        windows,
        offset,
        Some(b"k".as_slice()),
        Some(value),
        Some(backend::clock::now_ms()),
    );
    let after = pipeline.stats.messages.load(Relaxed) + pipeline.stats.rejected_total(RejectSource::Payload);
    assert_eq!(after, before + 1, "{:?}", String::from_utf8_lossy(value));
}

proptest! {
    #![proptest_config(config(256, 1))]

    #[test]
    fn records_of_any_bytes_are_counted_or_rejected(values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..20)) {
        let pipeline = Pipeline::new(IngestConfig::default()).expect("config");
        let windows = pipeline.partition(0).expect("partition");
        for (i, v) in values.iter().enumerate() {
            ingest_accounts_for(&pipeline, &windows, i as i64, v);
        }
    }

    #[test]
    fn mutated_records_are_counted_or_rejected(
        which in 0..RECORDS.len(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..5),
    ) {
        let pipeline = Pipeline::new(IngestConfig::default()).expect("config");
        let windows = pipeline.partition(0).expect("partition");
        let mut b = RECORDS[which].as_bytes().to_vec();
        for (i, x) in &flips {
            let at = i.index(b.len());
            b[at] ^= x;
        }
        ingest_accounts_for(&pipeline, &windows, 0, &b);
    }

    #[test]
    fn definitions_and_urls_take_any_text(text in ".{0,200}") {
        let _ = backend::slo::spec::SloSpec::parse(&text);
        let _ = backend::slo::spec::AlertSpec::parse(&text);
        let _ = backend::slo::webhook::Target::parse(&text);
    }
}

proptest! {
    // A file per case (in the page cache: about 0.1 ms each in release).
    #![proptest_config(config(64, 1))]

    #[test]
    fn csv_files_of_any_content_replay_without_stopping(
        body in prop::collection::vec(any::<u8>(), 0..2000),
        header in prop::sample::select(vec!["BlockId,Latency\n", "BlockId,Label,Latency,tag.route\n", ""]),
    ) {
        let path = std::env::temp_dir().join(format!("mss-fuzz-{}-{:x}.csv", std::process::id(), body.len() ^ header.len() << 16));
        let mut content = header.as_bytes().to_vec();
        content.extend(&body);
        std::fs::write(&path, &content).expect("write");
        if let Ok(source) = backend::source::csv::CsvSource::open(&path, false) {
            // Every line comes out as a row or a reasoned rejection; the replay ends.
            let n = source.take(10_000).count();
            prop_assert!(n <= content.len() + 1);
        }
        let _ = std::fs::remove_file(&path);
    }
}

/// A valid OTLP request (explicit and exponential histograms, a gauge).
fn otlp_seed() -> Vec<u8> {
    let json = r#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"f"}}]},
      "scopeMetrics":[{"metrics":[
        {"name":"h","unit":"s","histogram":{"aggregationTemporality":2,"dataPoints":[
          {"attributes":[{"key":"route","value":{"stringValue":"/a"}}],"startTimeUnixNano":"1","timeUnixNano":"2000000",
           "count":"3","bucketCounts":["1","2","0"],"explicitBounds":[0.01,0.1],"min":0.001,"max":0.5}]}},
        {"name":"e","exponentialHistogram":{"aggregationTemporality":1,"dataPoints":[
          {"timeUnixNano":"3000000","count":"4","scale":3,"zeroCount":"1","positive":{"offset":-5,"bucketCounts":["2","1"]}}]}},
        {"name":"g","gauge":{"dataPoints":[{"asDouble":1}]}}]}]}]}"#;
    backend::otlp::encode_protobuf(&backend::otlp::decode_json(json.as_bytes()).expect("seed"))
}

fn otlp_pipeline() -> std::sync::Arc<Pipeline> {
    let config = IngestConfig {
        format: backend::otlp::RecordFormat::Otlp,
        ..IngestConfig::default()
    };
    Pipeline::new(config).expect("config")
}

proptest! {
    #![proptest_config(config(256, 1))]

    #[test]
    fn otlp_records_of_any_bytes_are_read_or_rejected(values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..400), 1..20)) {
        let pipeline = otlp_pipeline();
        let windows = pipeline.partition(0).expect("partition");
        for (offset, v) in values.iter().enumerate() {
            pipeline.ingest(&windows, offset as i64, None, Some(v), Some(backend::clock::now_ms()));
            let w = windows.lock().expect("lock");
            prop_assert_eq!(w.last_offset(), Some(offset as i64), "every record counts as processed");
        }
    }

    #[test]
    fn mutated_otlp_records_are_read_or_rejected(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>()) {
        let pipeline = otlp_pipeline();
        let windows = pipeline.partition(0).expect("partition");
        let mut bytes = otlp_seed();
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        pipeline.ingest(&windows, 0, None, Some(&bytes), Some(backend::clock::now_ms()));
        let w = windows.lock().expect("lock");
        prop_assert_eq!(w.last_offset(), Some(0));
    }

    #[test]
    fn otlp_json_of_any_text_decodes_or_errs(text in ".{0,300}", seed in any::<bool>()) {
        let body = if seed { format!(r#"{{"resourceMetrics":[{text}]}}"#) } else { text };
        let _ = backend::otlp::decode_json(body.as_bytes());
    }
}
