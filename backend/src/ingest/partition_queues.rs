//! Each partition's own queue, split off the consumer once and lent to the
//! partition's worker for each assignment.
//!
//! librdkafka routes a partition's fetched records to the consumer's shared
//! queue when fetching starts, unless the application took the partition's
//! queue before (the take is sticky for the consumer's life). Taking it after
//! `assign` — even with the partition paused at once — lost 1,208 records
//! of one partition in a new member's first assignment: they arrived after
//! newer ones and were dropped (`rebalance_storm.rs`, found with the
//! `out_of_order` and `offsets_skipped` counters), most likely through the
//! shared queue. So a partition's queue is
//! split in the rebalance callback *before* `assign`, and kept: a second
//! split would make a second handle of the same queue, and dropping the
//! first would turn off the wake-ups of the second.
//!
//! A revocation stops the partition's worker before the release (it takes no
//! record of a later assignment into windows that are being closed); the
//! worker gives the queue back when it ends.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

use super::SourcePartition;

/// How a partition's worker is told to stop taking records: `taken_no_more`
/// is read before every record (an atomic load), `token` wakes a worker
/// waiting for one.
#[derive(Debug, Clone, Default)]
pub struct WorkerStop {
    taken_no_more: Arc<AtomicBool>,
    token: CancellationToken,
}

impl WorkerStop {
    /// A stop that also fires when `parent` is cancelled.
    pub fn child_of(parent: &CancellationToken) -> Self {
        Self {
            taken_no_more: Arc::default(),
            token: parent.child_token(),
        }
    }

    /// Tells the worker to take no more records.
    pub fn stop(&self) {
        self.taken_no_more.store(true, Ordering::Release);
        self.token.cancel();
    }

    /// Whether [`Self::stop`] was called (one atomic load: read before
    /// every record; the token alone is cancelled at shutdown, and is a
    /// lock to read).
    pub fn stopped(&self) -> bool {
        self.taken_no_more.load(Ordering::Acquire)
    }

    /// Resolves once the worker is told to stop (or its parent is cancelled).
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}

/// The partition queues of one consumer (`Q`: its partition-queue type).
#[derive(Debug)]
pub struct PartitionQueues<Q> {
    /// Queues split and not lent to a worker.
    idle: Mutex<BTreeMap<SourcePartition, Q>>,
    /// The stop of each running worker.
    running: Mutex<BTreeMap<SourcePartition, WorkerStop>>,
}

impl<Q> Default for PartitionQueues<Q> {
    fn default() -> Self {
        Self {
            idle: Mutex::new(BTreeMap::new()),
            running: Mutex::new(BTreeMap::new()),
        }
    }
}

/// Locks `m`; a poisoned map (a panic while it was held) is logged and used
/// as it is: its entries are whole (each change is one insert or remove).
fn lock<'a, T>(m: &'a Mutex<T>, what: &str) -> MutexGuard<'a, T> {
    m.lock().unwrap_or_else(|poisoned| {
        tracing::error!("{what} lock poisoned; going on with its entries");
        poisoned.into_inner()
    })
}

impl<Q> PartitionQueues<Q> {
    /// Splits (with `split`) the queues of `partitions` that have none yet.
    /// Called in the rebalance callback before `assign`; a queue lent to a
    /// worker still running (its partition revoked and assigned back) is
    /// not split again.
    pub fn prepare(&self, partitions: &[SourcePartition], split: impl Fn(SourcePartition) -> Option<Q>) {
        let mut idle = lock(&self.idle, "partition queues");
        let running = lock(&self.running, "partition workers");
        for &p in partitions {
            if idle.contains_key(&p) || running.contains_key(&p) {
                continue;
            }
            match split(p) {
                Some(q) => {
                    idle.insert(p, q);
                }
                None => tracing::warn!("cannot split the queue of partition {p} before its assignment"),
            }
        }
    }

    /// Lends `p`'s queue to a new worker stopped by `stop` (splitting one now
    /// if none was prepared); `None` if no queue can be had.
    pub fn lend(
        &self,
        p: SourcePartition,
        stop: WorkerStop,
        split: impl Fn(SourcePartition) -> Option<Q>,
    ) -> Option<Q> {
        let queue = lock(&self.idle, "partition queues").remove(&p).or_else(|| {
            tracing::warn!("partition {p}: its queue was not split before the assignment; splitting it now");
            split(p)
        })?;
        lock(&self.running, "partition workers").insert(p, stop);
        Some(queue)
    }

    /// A worker's queue back (the worker ended).
    pub fn give_back(&self, p: SourcePartition, queue: Q) {
        lock(&self.running, "partition workers").remove(&p);
        lock(&self.idle, "partition queues").insert(p, queue);
    }

    /// Tells the workers of `partitions` to take no more records.
    pub fn stop(&self, partitions: &[SourcePartition]) {
        let running = lock(&self.running, "partition workers");
        for p in partitions {
            if let Some(stop) = running.get(p) {
                stop.stop();
            }
        }
    }

    /// Drops every idle queue (each holds the consumer: before it goes).
    pub fn clear(&self) {
        lock(&self.idle, "partition queues").clear();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn p(n: i32) -> SourcePartition {
        SourcePartition::main(n)
    }

    #[test]
    fn a_queue_is_split_once_and_lent_again_after_it_comes_back() {
        let queues = PartitionQueues::<i32>::default();
        let splits = Cell::new(0);
        let split = |p: SourcePartition| {
            splits.set(splits.get() + 1);
            Some(p.partition * 10)
        };
        queues.prepare(&[p(0), p(1)], split);
        assert_eq!(splits.get(), 2);
        let stop = WorkerStop::default();
        assert_eq!(queues.lend(p(0), stop.clone(), split), Some(0));
        // Revoked and assigned back while its worker runs: not split again.
        queues.prepare(&[p(0)], split);
        assert_eq!(splits.get(), 2);
        queues.stop(&[p(0)]);
        assert!(stop.stopped() && stop.token().is_cancelled());
        queues.give_back(p(0), 0);
        assert_eq!(queues.lend(p(0), WorkerStop::default(), split), Some(0));
        assert_eq!(splits.get(), 2, "the same queue, lent again");
        assert_eq!(
            queues.lend(p(2), WorkerStop::default(), split),
            Some(20),
            "not prepared: split now"
        );
        assert_eq!(splits.get(), 3);
    }

    #[test]
    fn stopping_a_partition_leaves_the_other_workers_alone() {
        let queues = PartitionQueues::<i32>::default();
        let (a, b) = (WorkerStop::default(), WorkerStop::default());
        queues.lend(p(0), a.clone(), |_| Some(0));
        queues.lend(p(1), b.clone(), |_| Some(1));
        queues.stop(&[p(1)]);
        assert!(!a.stopped());
        assert!(b.stopped());
    }
}
