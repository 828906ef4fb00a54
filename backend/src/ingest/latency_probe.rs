//! Produce → visible latency, for `mss bench e2e`: each record's Kafka
//! timestamp (set by the producer) is remembered with the window it landed
//! in; when that window closes and is published, every record in it gets
//! `publish time − produce time`. Off unless the bench installs it
//! (`Pipeline::latency_probe`).

use std::collections::HashMap;
use std::sync::Mutex;

/// Pending and finished latencies.
#[derive(Debug, Default)]
pub struct LatencyProbe {
    /// `(partition, window start)` → produce times of the records in it.
    open: Mutex<HashMap<(i32, i64), Vec<i64>>>,
    /// Latencies of records whose window was published, ms.
    done: Mutex<Vec<f64>>,
}

impl LatencyProbe {
    /// A record produced at `produced_ms` landed in `partition`'s window starting at `window_start_ms`.
    pub fn landed(&self, partition: i32, window_start_ms: i64, produced_ms: i64) {
        if let Ok(mut open) = self.open.lock() {
            open.entry((partition, window_start_ms))
                .or_default()
                .push(produced_ms);
        }
    }

    /// That window was published at `now_ms`.
    pub fn closed(&self, partition: i32, window_start_ms: i64, now_ms: i64) {
        let produced = self
            .open
            .lock()
            .ok()
            .and_then(|mut open| open.remove(&(partition, window_start_ms)))
            .unwrap_or_default();
        if let Ok(mut done) = self.done.lock() {
            // Millisecond differences are far below 2^53.
            done.extend(produced.into_iter().map(|p| (now_ms - p) as f64));
        }
    }

    /// Records whose latency is known.
    pub fn count(&self) -> usize {
        self.done.lock().map_or(0, |d| d.len())
    }

    /// Latency at quantile `q` (lower rank), ms.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let mut done = self.done.lock().ok()?.clone();
        done.sort_by(f64::total_cmp);
        let rank = (q * done.len().saturating_sub(1) as f64).floor() as usize;
        done.get(rank).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_publish_time_minus_produce_time() {
        let probe = LatencyProbe::default();
        for produced in [100, 200, 300] {
            probe.landed(0, 1_000, produced);
        }
        probe.landed(1, 1_000, 900);
        probe.closed(0, 1_000, 1_100);
        assert_eq!(probe.count(), 3, "partition 1's window is still open");
        assert_eq!(probe.quantile(0.0), Some(800.0));
        assert_eq!(probe.quantile(1.0), Some(1_000.0));
        probe.closed(1, 1_000, 1_150);
        assert_eq!((probe.count(), probe.quantile(0.0)), (4, Some(250.0)));
    }
}
