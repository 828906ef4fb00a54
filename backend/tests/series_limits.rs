//! `--max-series` under a flood of distinct tag values: the limit holds,
//! the rest is rejected as `series_limit` and counted, memory stays bounded,
//! and series are freed once their windows fall out of the retention.

use std::sync::atomic::Ordering::Relaxed;

use backend::clock::now_ms;
use backend::ingest::{IngestConfig, Pipeline};

/// Peak resident memory of this process, MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

#[test]
fn a_flood_of_distinct_tag_values_stays_within_max_series_and_is_counted() {
    const LIMIT: usize = 1_000;
    const FLOOD: usize = 100_000;
    let before = peak_rss_mb();
    let pipeline = Pipeline::new(IngestConfig {
        max_series: Some(LIMIT),
        ..IngestConfig::default()
    })
    .expect("valid config");
    let windows = pipeline.partition(0).expect("partition");
    let ts = now_ms() - 10_000;
    for i in 0..FLOOD {
        let value = format!(
            r#"{{"metric":"http.server.duration","tags":{{"request_id":"r-{i}"}},"value":{},"ts_ms":{}}}"#,
            1 + i % 100,
            ts + (i % 5) as i64
        );
        pipeline.ingest(&windows, i as i64, None, Some(value.as_bytes()), None);
    }
    // The default series holds one slot.
    assert_eq!(pipeline.catalog.len(), LIMIT, "the limit holds");
    let accepted = (LIMIT - 1) as u64;
    assert_eq!(pipeline.stats.messages.load(Relaxed), accepted);
    let rejected = pipeline.stats.rejected(backend::stats::RejectSource::Payload);
    assert_eq!(
        rejected,
        vec![(
            backend::record::RejectReason::SeriesLimit,
            (FLOOD - LIMIT + 1) as u64
        )]
    );
    assert!(
        pipeline.problems().iter().any(|p| p.contains("series limit")),
        "{:?}",
        pipeline.problems()
    );
    let grown = peak_rss_mb() - before;
    assert!(
        grown < 150.0,
        "a flood of {FLOOD} series grew the process by {grown:.0} MB"
    );
    // Published, then out of the retention: freed, and new series fit again.
    pipeline.close_partitions(&[backend::ingest::SourcePartition::main(0)]);
    pipeline.evict(now_ms() + 3 * 3_600_000);
    assert_eq!(
        pipeline.catalog.len(),
        1,
        "only the (never published) default series is left"
    );
    let windows = pipeline.partition(1).expect("partition");
    let value = format!(
        r#"{{"metric":"m","tags":{{"k":"new"}},"value":1,"ts_ms":{}}}"#,
        now_ms()
    );
    pipeline.ingest(&windows, 0, None, Some(value.as_bytes()), None);
    assert_eq!(pipeline.stats.messages.load(Relaxed), accepted + 1);
}
