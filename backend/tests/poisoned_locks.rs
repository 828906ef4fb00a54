//! A thread that panics while holding a lock poisons it. What the lock
//! guarded is then skipped, never silently: the record is rejected (so the
//! replay's accounting still adds up), the poisoned lock is counted in the
//! page's problems and in `mss_poisoned_locks_total` on `/metrics`.

mod common;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use backend::clock::now_ms;
use backend::ingest::Pipeline;
use backend::record::RejectReason;
use backend::stats::RejectSource;

/// Poisons `lock` by panicking on another thread while holding it.
fn poison<T: Send + 'static>(lock: &Arc<Mutex<T>>) {
    let held = Arc::clone(lock);
    let died = std::thread::spawn(move || {
        let _guard = held.lock().expect("first lock");
        panic!("a worker dies holding the lock");
    })
    .join();
    assert!(died.is_err(), "the thread panicked");
    assert!(lock.is_poisoned());
}

fn record(value: f64) -> Vec<u8> {
    format!(
        r#"{{"metric":"http.server.duration","value":{value},"ts_ms":{}}}"#,
        now_ms()
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_meeting_a_poisoned_partition_lock_is_rejected_and_the_lock_counted() {
    let pipeline: Arc<Pipeline> = common::served::pipeline();
    let healthy = pipeline.partition(0).expect("partition 0");
    let poisoned = pipeline.partition(1).expect("partition 1");
    pipeline.ingest(&healthy, 0, None, Some(&record(5.0)), None);
    assert_eq!(pipeline.poisoned_locks(), 0);

    poison(&poisoned);
    pipeline.ingest(&poisoned, 0, None, Some(&record(7.0)), None);
    pipeline.ingest(&poisoned, 1, None, Some(&record(8.0)), None);
    pipeline.ingest(&healthy, 1, None, Some(&record(6.0)), None);

    assert_eq!(
        pipeline.stats.messages.load(Relaxed),
        2,
        "the healthy partition still counts"
    );
    assert_eq!(
        pipeline.stats.rejected(RejectSource::Payload),
        vec![(RejectReason::Malformed, 2)],
        "every record of the poisoned partition is accounted for"
    );
    assert_eq!(pipeline.poisoned_locks(), 2);
    let problems = pipeline.problems();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("2 operations skipped on a poisoned lock")),
        "{problems:?}"
    );

    let (port, stop) = common::served::start(Arc::clone(&pipeline)).await;
    let (status, body) = common::served::get(port, "/metrics").await;
    assert_eq!(status, 200);
    let line = body
        .lines()
        .find(|l| l.starts_with("mss_poisoned_locks_total"))
        .unwrap_or_else(|| panic!("no mss_poisoned_locks_total in:\n{body}"));
    assert!(line.ends_with(" 2"), "{line}");
    stop.cancel();
}
