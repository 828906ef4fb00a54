//! The member's periodic offset commits: synchronous commits on a blocking
//! thread, one in flight at a time, so the poll loop never waits for the
//! broker and every outcome is known.
//!
//! librdkafka reports the outcome of a manual *asynchronous* commit only to
//! a C-level `offset_commit_cb`, which rust-rdkafka does not set: its
//! `commit_callback` sees auto-commits only, and a refused async commit was
//! merely logged by librdkafka (`COMMITFAIL`). A synchronous commit returns
//! its outcome, so a refusal is counted (`commit_failures`,
//! `mss_commit_failures_total`) and logged, and `committed` in
//! `/api/summary` moves only once the broker holds the offset. A refused
//! commit loses nothing: the offsets are committed again on the next tick,
//! and a new owner reads the sketch log back in any case.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::FutureExt as _;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext};
use tokio::task::JoinHandle;

use super::{locked, Pipeline, SourcePartition};

/// One member's commits, one at a time, so a periodic commit that waited
/// for a thread never lands after a revocation's commit: a revocation's
/// commit holds the turn, and a periodic commit that gets it afterwards
/// drops the partitions no longer assigned and every offset at or below
/// what was already committed (the broker keeps the last commit it got,
/// not the highest).
#[derive(Clone, Default)]
pub(super) struct CommitOrder(Arc<Mutex<()>>);

impl CommitOrder {
    /// Commits synchronously in turn; `periodic`: only what still moves a
    /// partition of this member forward.
    pub(super) fn commit<C: ConsumerContext>(
        &self,
        consumer: &impl Consumer<C>,
        commits: &[(SourcePartition, i64)],
        pipeline: &Pipeline,
        periodic: bool,
    ) -> anyhow::Result<()> {
        let _turn =
            locked(&self.0, &pipeline.stats, "commit order").context("the commit-order lock is poisoned")?;
        if !periodic {
            return super::consumer::commit(consumer, commits, CommitMode::Sync, pipeline);
        }
        let assigned: Vec<SourcePartition> = pipeline.assigned().into_iter().map(|(p, _)| p).collect();
        let positions = pipeline.positions();
        let forward: Vec<(SourcePartition, i64)> = commits
            .iter()
            .copied()
            .filter(|(p, c)| {
                let done = positions.get(p).and_then(|x| x.committed);
                assigned.contains(p) && done.is_none_or(|done| done < *c)
            })
            .collect();
        super::consumer::commit(consumer, &forward, CommitMode::Sync, pipeline)
    }
}

/// How often a run of refused commits is logged (each is counted).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The commit in flight, if any, and the refusals not logged yet.
pub(super) struct PeriodicCommits {
    order: CommitOrder,
    in_flight: Option<JoinHandle<anyhow::Result<()>>>,
    unlogged: u64,
    last_logged: Option<Instant>,
}

impl PeriodicCommits {
    /// Periodic commits taking their turn in `order`.
    pub(super) fn new(order: CommitOrder) -> Self {
        Self {
            order,
            in_flight: None,
            unlogged: 0,
            last_logged: None,
        }
    }

    /// Whether the previous commit still waits for the broker; once it is
    /// done, its outcome is noted.
    pub(super) fn busy(&mut self, pipeline: &Pipeline) -> bool {
        let Some(handle) = self.in_flight.as_mut() else {
            return false;
        };
        match handle.now_or_never() {
            None => true,
            Some(outcome) => {
                self.in_flight = None;
                self.note(pipeline, outcome);
                false
            }
        }
    }

    /// Commits `commits` synchronously on a blocking thread (call only when
    /// not [`Self::busy`]); `committed` moves when the broker has them.
    pub(super) fn start<C, M>(
        &mut self,
        consumer: Arc<M>,
        commits: Vec<(SourcePartition, i64)>,
        pipeline: Arc<Pipeline>,
    ) where
        C: ConsumerContext,
        M: Consumer<C> + Send + Sync + 'static,
    {
        if commits.is_empty() {
            return;
        }
        let order = self.order.clone();
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            order.commit(consumer.as_ref(), &commits, &pipeline, true)
        }));
    }

    /// Waits for the commit in flight (before the final commit of a
    /// release, which must be the last one the broker gets) and notes it.
    pub(super) async fn finish(&mut self, pipeline: &Pipeline) {
        if let Some(handle) = self.in_flight.take() {
            self.note(pipeline, handle.await);
        }
        self.log_unlogged();
    }

    fn note(&mut self, pipeline: &Pipeline, outcome: Result<anyhow::Result<()>, tokio::task::JoinError>) {
        let error = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(e)) => format!("{e:#}"),
            Err(e) => format!("the commit thread failed: {e}"),
        };
        pipeline.stats.commit_failures.fetch_add(1, Relaxed);
        metrics::counter!("mss_commit_failures_total").increment(1);
        self.unlogged += 1;
        if self.last_logged.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
            tracing::warn!(
                refused = self.unlogged,
                "offset commit refused (committed again on the next tick; nothing is lost): {error}"
            );
            self.unlogged = 0;
            self.last_logged = Some(Instant::now());
        }
    }

    fn log_unlogged(&mut self) {
        if self.unlogged > 0 {
            tracing::warn!(
                refused = self.unlogged,
                "offset commits refused since the last warning"
            );
            self.unlogged = 0;
        }
    }
}
