//! The consumer-group member: one worker task per assigned partition.
//!
//! Assignment: before `assign`, the rebalance callback splits each new
//! partition's queue off the consumer (once per consumer; see
//! [`super::partition_queues`]), so its records never reach the shared
//! queue; after it, the callback pauses the new partitions, reads back what
//! the sketch log already holds for them, and records them; the main loop
//! lends each one's queue to a new worker and resumes fetching, so each
//! partition's records arrive in order through one queue. A revocation
//! stops the partitions' workers before their windows are closed.
//!
//! Revocation: before the partitions are released, their open windows are
//! closed and published and their offsets committed synchronously, so the
//! next owner starts exactly after them. That work runs on the revoke
//! coordinator's thread ([`super::revoke`]); the callback waits for it at
//! most `--revoke-timeout`, so a slow broker never blocks the poll loop past
//! `max.poll.interval.ms`. A release that times out or fails is counted
//! (`revoke_timeouts`, `revoke_failures`) and the process then reports
//! at-least-once (`delivery` in `/api/summary`) — unless only the commit
//! failed after the sketch log acknowledged the cuts
//! (`revoke_commit_failures`): the next owner reads them back and skips.
//!
//! Offsets: auto-commit is off. A record's offset is committed only after the
//! cut holding it has been published — with the sketch log,
//! acknowledged by the broker (the ticker commits every quarter window or
//! `--commit-interval`; revocation and shutdown commit synchronously). So a
//! crash loses no record: the next member resumes at the first record that
//! was not in a closed window. Records of windows published but not yet
//! committed when the process died are consumed again and skipped: the new
//! owner reads the sketch log back first (exactly-once; see
//! [`crate::sketch_log`]). Without the sketch log they are counted again
//! (at-least-once).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use futures::{FutureExt, StreamExt};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::partition_queues::{PartitionQueues, WorkerStop};
use super::revoke::{Release, ReleaseError, RevokeCoordinator, RevokeOutcome};
use super::stall::{StallTracker, Stalled, TopicPartition};
use super::stall_probe::{Look, INCONCLUSIVE_LOOKS};
use super::unreadable::{is_unreadable, UnreadableSkipper};
use super::{Pipeline, SourcePartition};
use crate::sketch_log::reader::{sketch_partitions_of, ReadBack};
use crate::sketch_log::{last_published_offsets, SketchLogConfig, SketchPublisher};
use crate::window::PartitionWindows;

/// Where and how to consume.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Bootstrap servers.
    pub brokers: String,
    /// Topic of latency records (the pipeline's OTLP topic, if it has
    /// one, is consumed too, in the same group).
    pub topic: String,
    /// Consumer group id.
    pub group: String,
    /// Extra librdkafka properties (`key=value`), applied last.
    pub librdkafka: Vec<(String, String)>,
    /// Publish closed windows to the sketch log and resume exactly after the
    /// published ones (`None`: commit-only, at-least-once).
    pub sketch_log: Option<SketchLogConfig>,
    /// Least time between two commits (`None`: every quarter window).
    pub commit_interval: Option<Duration>,
    /// Longest a revoke callback waits for its release (cut, sketch-log
    /// acknowledgement, commit); below `max.poll.interval.ms`.
    pub revoke_timeout: Duration,
    /// How long records may wait in a partition no live member consumes
    /// (its committed offset standing still) before this member leaves and
    /// joins the group again (see [`super::stall`]).
    pub stall_restart: Duration,
}

/// Rebalance hooks: stop the workers and release (through the coordinator)
/// on revoke; split the partitions' queues before assign, announce the
/// partitions after.
struct IngestContext {
    pipeline: Arc<Pipeline>,
    config: ConsumerConfig,
    assigned: mpsc::UnboundedSender<Result<Vec<SourcePartition>, String>>,
    revoker: RevokeCoordinator,
    /// The member's partition queues (see [`super::partition_queues`]).
    queues: Arc<PartitionQueues<Queue>>,
    /// Reaches the consumer (to split queues) once it exists.
    release: Arc<MemberRelease>,
}

/// A partition's own queue.
type Queue = rdkafka::consumer::stream_consumer::StreamPartitionQueue<IngestContext>;

/// A revocation's steps against this member: cut the pipeline's windows,
/// flush its sketch log, commit through the consumer.
struct MemberRelease {
    pipeline: Arc<Pipeline>,
    /// Set once the consumer exists (it owns the context that owns us).
    consumer: std::sync::OnceLock<std::sync::Weak<Member>>,
}

impl Release for MemberRelease {
    fn close(&self, partitions: &[SourcePartition]) -> Vec<(SourcePartition, i64)> {
        self.pipeline.close_partitions(partitions)
    }

    fn flush(&self, timeout: Duration) -> anyhow::Result<()> {
        flush_sketch_log(&self.pipeline, timeout)
    }

    fn commit(&self, commits: &[(SourcePartition, i64)]) -> anyhow::Result<()> {
        let consumer = self
            .consumer
            .get()
            .and_then(std::sync::Weak::upgrade)
            .context("the consumer is gone")?;
        commit(consumer.as_ref(), commits, CommitMode::Sync, &self.pipeline)
    }
}

/// Every source topic the member subscribes to: `--topic`, then the
/// pipeline's OTLP topic.
fn source_topics(pipeline: &Pipeline, config: &ConsumerConfig) -> Vec<String> {
    let mut topics = vec![config.topic.clone()];
    topics.extend(
        pipeline
            .config
            .otlp_topic
            .iter()
            .filter(|t| **t != config.topic)
            .cloned(),
    );
    topics
}

/// Closes the windows of `partitions`, waits until the sketch log holds them
/// (the next owner reads it back) and commits their offsets synchronously,
/// so the next owner starts exactly after them. Revocation and shutdown.
fn release<C: ConsumerContext>(
    consumer: &impl Consumer<C>,
    pipeline: &Pipeline,
    partitions: &[SourcePartition],
) -> Result<usize, ReleaseError> {
    let commits = pipeline.close_partitions(partitions);
    flush_sketch_log(pipeline, Duration::from_secs(30))
        .context("publishing the last windows to the sketch log")
        .map_err(ReleaseError::Unpublished)?;
    commit(consumer, &commits, CommitMode::Sync, pipeline)
        .context("committing")
        .map_err(ReleaseError::Uncommitted)?;
    Ok(commits.len())
}

/// Whether a failed release lost the exactly-once claim: anything but a
/// commit refused after the sketch log acknowledged the cuts (the next
/// owner reads them back and skips their records).
fn loses_exactly_once(pipeline: &Pipeline, e: &ReleaseError) -> bool {
    !(matches!(e, ReleaseError::Uncommitted(_)) && pipeline.sketch_log.get().is_some())
}

/// Waits at most `timeout` until the sketch log acknowledged every window
/// published so far.
fn flush_sketch_log(pipeline: &Pipeline, timeout: Duration) -> anyhow::Result<()> {
    match pipeline.sketch_log.get() {
        Some(log) => log.flush(timeout),
        None => Ok(()),
    }
}

impl ClientContext for IngestContext {}

impl ConsumerContext for IngestContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.prepare_queues(tpl);
        }
        if let Rebalance::Revoke(tpl) = rebalance {
            let revoked = partitions_of(tpl, &self.pipeline, &self.config);
            // Their workers take no more records (none of a later assignment).
            self.queues.stop(&revoked);
            // Only what is still ours: the shutdown path releases every
            // partition itself before the consumer closes (and revokes).
            let held: Vec<SourcePartition> = self.pipeline.assigned().into_iter().map(|(p, _)| p).collect();
            let partitions: Vec<SourcePartition> = revoked.into_iter().filter(|p| held.contains(p)).collect();
            self.pipeline.set_ready(false);
            if partitions.is_empty() {
                return;
            }
            let started = std::time::Instant::now();
            let outcome = self.revoker.release(partitions.clone());
            note_revoke(&self.pipeline, &partitions, outcome, started.elapsed());
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let partitions = partitions_of(tpl, &self.pipeline, &self.config);
            tracing::info!(?partitions, "partitions assigned");
            // Nothing is fetched until each partition's worker reads its
            // queue (split before `assign`; the main loop resumes them).
            if let Err(e) = consumer.pause(tpl) {
                tracing::warn!("pausing the new partitions: {e}");
            }
            if let Some(log) = &self.config.sketch_log {
                if let Err(e) = self.read_back(consumer, log, &partitions) {
                    let _ = self
                        .assigned
                        .send(Err(format!("reading back the sketch log: {e:#}")));
                    return;
                }
            }
            for &p in &partitions {
                // Creating the windows here lets the main loop route any record
                // that arrives before the queue is split.
                if let Err(e) = self.pipeline.partition_of(p) {
                    tracing::error!("partition {p}: {e}");
                }
            }
            self.pipeline.set_ready(!partitions.is_empty());
            let _ = self.assigned.send(Ok(partitions));
        }
    }
}

impl IngestContext {
    /// Splits the queues of the partitions about to be assigned, before
    /// `assign` starts fetching them (see [`super::partition_queues`]).
    fn prepare_queues(&self, tpl: &TopicPartitionList) {
        let Some(member) = self.release.consumer.get().and_then(std::sync::Weak::upgrade) else {
            tracing::warn!("the consumer is not set up yet: partition queues are split after the assignment");
            return;
        };
        let partitions = partitions_of(tpl, &self.pipeline, &self.config);
        self.queues.prepare(&partitions, |p| {
            member.split_partition_queue(&self.pipeline.topic_name(p.topic), p.partition)
        });
    }

    /// Reads back, per source topic, how far the sketch log already holds
    /// the assigned partitions (and their OTLP baselines), so their records
    /// are never counted twice.
    fn read_back(
        &self,
        consumer: &BaseConsumer<Self>,
        log: &SketchLogConfig,
        partitions: &[SourcePartition],
    ) -> anyhow::Result<()> {
        // High watermarks through this client: a fresh log needs no reader.
        let numbers: Vec<i32> = partitions.iter().map(|p| p.partition).collect();
        let ends = sketch_partitions_of(&numbers, log.partitions)
            .into_iter()
            .map(|sp| {
                consumer
                    .fetch_watermarks(&log.topic, sp, Duration::from_secs(10))
                    .map(|(_, high)| (sp, high))
            })
            .collect::<Result<BTreeMap<i32, i64>, _>>()?;
        let legacy_series = self.pipeline.legacy_series()?;
        let mut topics: Vec<shared::protocol::TopicId> = partitions.iter().map(|p| p.topic).collect();
        topics.dedup();
        for topic in topics {
            let source_topic = self.pipeline.topic_name(topic);
            let of_topic: Vec<i32> = partitions
                .iter()
                .filter(|p| p.topic == topic)
                .map(|p| p.partition)
                .collect();
            let read = ReadBack {
                brokers: &self.config.brokers,
                topic: &log.topic,
                source_topic: &source_topic,
                lookback_ms: log.lookback_ms,
                librdkafka: &self.config.librdkafka,
                legacy_series: &legacy_series,
            };
            for (partition, found) in last_published_offsets(&read, &of_topic, &ends)? {
                tracing::info!(
                    topic = %source_topic,
                    partition,
                    offset = found.through,
                    otlp_streams = found.baselines.len(),
                    "already in the sketch log through this offset"
                );
                let p = SourcePartition { topic, partition };
                self.pipeline.skip_through(p, found.through);
                self.pipeline.restore_baselines(p, found.baselines);
            }
        }
        Ok(())
    }
}

/// Counts and logs how a revocation's release ended (see [`super::revoke`]).
fn note_revoke(pipeline: &Pipeline, partitions: &[SourcePartition], outcome: RevokeOutcome, took: Duration) {
    match outcome {
        RevokeOutcome::Committed(n) => tracing::info!(
            ?partitions,
            ms = took.as_millis() as u64,
            "partitions revoked; committed {n} offsets"
        ),
        RevokeOutcome::Failed(ReleaseError::Uncommitted(e)) if pipeline.sketch_log.get().is_some() => {
            pipeline.stats.revoke_commit_failures.fetch_add(1, Relaxed);
            metrics::counter!("mss_revoke_uncommitted_total", "reason" => "commit_refused").increment(1);
            tracing::warn!(
                ?partitions,
                "partitions revoked with their cuts in the sketch log but uncommitted \
                         (the next owner skips them): {e:#}"
            );
        }
        RevokeOutcome::Failed(e) => {
            pipeline.stats.revoke_failures.fetch_add(1, Relaxed);
            metrics::counter!("mss_revoke_uncommitted_total", "reason" => "failed").increment(1);
            tracing::error!(?partitions, "partitions revoked uncommitted: {e}");
        }
        RevokeOutcome::TimedOut(t) => {
            pipeline.stats.revoke_timeouts.fetch_add(1, Relaxed);
            metrics::counter!("mss_revoke_uncommitted_total", "reason" => "timeout").increment(1);
            tracing::error!(
                ?partitions,
                "partitions released uncommitted: the release took longer than --revoke-timeout {}; \
                         the next owner may count their last windows again (at-least-once from now on)",
                humantime::format_duration(t)
            );
        }
    }
}

/// The partitions of our source topics in a rebalance's list.
fn partitions_of(
    tpl: &TopicPartitionList,
    pipeline: &Pipeline,
    config: &ConsumerConfig,
) -> Vec<SourcePartition> {
    let topics = source_topics(pipeline, config);
    let mut out: Vec<SourcePartition> = tpl
        .elements()
        .iter()
        .filter(|e| topics.iter().any(|t| t == e.topic()))
        .map(|e| SourcePartition {
            topic: pipeline.catalog.topic_id(e.topic()),
            partition: e.partition(),
        })
        .collect();
    out.sort_unstable();
    out
}

fn commit<C: ConsumerContext>(
    consumer: &impl Consumer<C>,
    commits: &[(SourcePartition, i64)],
    mode: CommitMode,
    pipeline: &Pipeline,
) -> anyhow::Result<()> {
    if commits.is_empty() {
        return Ok(());
    }
    let mut tpl = TopicPartitionList::new();
    for &(p, offset) in commits {
        tpl.add_partition_offset(&pipeline.topic_name(p.topic), p.partition, Offset::Offset(offset))?;
    }
    consumer.commit(&tpl, mode)?;
    for &(p, offset) in commits {
        pipeline.update_position(p, |pos| pos.committed = Some(offset));
    }
    Ok(())
}

type Member = StreamConsumer<IngestContext>;

/// Why a member's consume loop ended.
enum MemberExit {
    /// `shutdown` was cancelled.
    Shutdown,
    /// A partition stalled behind a member that is gone: join again.
    Restart(Stalled),
}

/// Joins the group and consumes until `shutdown` is cancelled; then closes
/// every window, commits synchronously and leaves the group. When a
/// partition this member does not hold stalls (see [`super::stall`]), the
/// member releases what it holds, leaves and joins again as a new member.
pub async fn run(
    pipeline: Arc<Pipeline>,
    config: ConsumerConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if let Some(log) = &config.sketch_log {
        let publisher =
            SketchPublisher::new(&config.brokers, &log.topic, log.partitions, &config.librdkafka)?;
        if pipeline.sketch_log.set(publisher).is_err() {
            anyhow::bail!("the pipeline already has a sketch log");
        }
    }
    super::revoke::check_timeout(config.revoke_timeout, &config.librdkafka)?;
    pipeline.mark_consuming();
    loop {
        match run_member(&pipeline, &config, &shutdown).await? {
            MemberExit::Shutdown => return Ok(()),
            MemberExit::Restart(stalled) => {
                pipeline.stats.consumer_restarts.fetch_add(1, Relaxed);
                metrics::counter!("mss_consumer_restarts_total").increment(1);
                tracing::warn!(
                    topic = %stalled.partition.0,
                    partition = stalled.partition.1,
                    committed = stalled.committed,
                    high_watermark = stalled.high_watermark,
                    "records wait in a partition whose committed offset has not moved for {} \
                     (its owner is gone but still in the group): leaving and joining the group again",
                    humantime::format_duration(Duration::from_secs(stalled.for_how_long.as_secs()))
                );
            }
        }
    }
}

/// One membership: creates the consumer, joins, consumes until shutdown or
/// a stall, then releases every partition and leaves.
async fn run_member(
    pipeline: &Arc<Pipeline>,
    config: &ConsumerConfig,
    shutdown: &CancellationToken,
) -> anyhow::Result<MemberExit> {
    let (assigned_tx, mut assigned_rx) = mpsc::unbounded_channel();
    let member_release = Arc::new(MemberRelease {
        pipeline: pipeline.clone(),
        consumer: std::sync::OnceLock::new(),
    });
    let queues: Arc<PartitionQueues<Queue>> = Arc::default();
    let context = IngestContext {
        pipeline: pipeline.clone(),
        config: config.clone(),
        assigned: assigned_tx,
        revoker: RevokeCoordinator::start(member_release.clone(), config.revoke_timeout)
            .context("starting the revoke coordinator")?,
        queues: queues.clone(),
        release: member_release.clone(),
    };
    let client = crate::broker::client_config(
        &config.brokers,
        &[
            ("group.id", config.group.as_str()),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("enable.partition.eof", "false"),
            ("session.timeout.ms", "10000"),
            ("queued.min.messages", "200000"),
            ("fetch.wait.max.ms", "50"),
        ],
        &config.librdkafka,
    );
    let consumer: Arc<Member> = Arc::new(
        client
            .create_with_context(context)
            .context("creating the Kafka consumer")?,
    );
    let _ = member_release.consumer.set(Arc::downgrade(&consumer));
    let topics = source_topics(pipeline, config);
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&names)
        .with_context(|| format!("subscribing to {}", topics.join(", ")))?;
    tracing::info!(group = %config.group, topics = %topics.join(", "), "joined consumer group");

    let mut workers: Vec<(SourcePartition, WorkerStop, tokio::task::JoinHandle<Queue>)> = Vec::new();
    let mut shared_queue_noted = false;
    let quarter = Duration::from_millis((pipeline.config.window_ms / 4).clamp(10, 1000));
    let mut ticker = tokio::time::interval(quarter);
    let mut last_commit = std::time::Instant::now();
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The pollers hold the consumer during their broker calls: they stop
    // (and are awaited) before it is dropped, so no client outlives the
    // member (the embedded broker stops right after).
    let pollers_stop = shutdown.child_token();
    let watermarks = spawn_watermark_poller(consumer.clone(), pipeline.clone(), config, pollers_stop.clone());
    let (stalled_tx, mut stalled_rx) = mpsc::channel(1);
    let watchdog = spawn_stall_watchdog(
        consumer.clone(),
        pipeline.clone(),
        StallWatch {
            topics,
            after: config.stall_restart,
            probe: crate::broker::client_config(&config.brokers, &[], &config.librdkafka),
        },
        stalled_tx,
        pollers_stop.clone(),
    );

    let exit = loop {
        tokio::select! {
            () = shutdown.cancelled() => break MemberExit::Shutdown,
            Some(stalled) = stalled_rx.recv() => break MemberExit::Restart(stalled),
            message = consumer.recv() => match message {
                // Records of a partition whose queue is not split (never
                // expected: each is split before its assignment).
                Ok(m) => {
                    let p = SourcePartition { topic: pipeline.catalog.topic_id(m.topic()), partition: m.partition() };
                    if !std::mem::replace(&mut shared_queue_noted, true) {
                        tracing::warn!(partition = %p, offset = m.offset(), "a record on the consumer's shared queue (its partition queue was not split in time)");
                    }
                    if let Ok(windows) = pipeline.partition_of(p) {
                        let format = pipeline.format_of(p.topic);
                        pipeline.ingest_as(format, &windows, m.offset(), m.key(), m.payload(), m.timestamp().to_millis());
                        note_offset(pipeline, p, m.offset());
                    }
                }
                Err(e) => tracing::warn!("consumer error: {e}"),
            },
            Some(assigned) = assigned_rx.recv() => {
                let partitions = assigned.map_err(|e| anyhow::anyhow!(e))?;
                // The earlier assignment's workers end (their windows were
                // revoked, fresh ones are made); their queues are lent again.
                end_workers(&mut workers, &queues).await;
                for p in partitions {
                    let Ok(windows) = pipeline.partition_of(p) else { continue };
                    let stop = WorkerStop::child_of(shutdown);
                    let split = |p: SourcePartition| consumer.split_partition_queue(&pipeline.topic_name(p.topic), p.partition);
                    let Some(queue) = queues.lend(p, stop.clone(), split) else {
                        tracing::warn!("cannot split the queue of partition {p}");
                        continue;
                    };
                    let skipper = UnreadableSkipper::new(Arc::downgrade(&consumer), pipeline.topic_name(p.topic), p);
                    let reader = PartitionReader::new(pipeline.clone(), windows, p, skipper);
                    let handle = tokio::spawn(partition_worker(queue, reader, stop.clone()));
                    workers.push((p, stop, handle));
                }
                let mut resume = TopicPartitionList::new();
                for (p, _, _) in &workers {
                    resume.add_partition(&pipeline.topic_name(p.topic), p.partition);
                }
                if let Err(e) = consumer.resume(&resume) {
                    tracing::error!("resuming the assigned partitions: {e}");
                }
            }
            _ = ticker.tick() => {
                let commits = pipeline.close_expired();
                pipeline.stats.sample();
                if config.commit_interval.is_some_and(|every| last_commit.elapsed() < every) {
                    continue;
                }
                last_commit = std::time::Instant::now();
                // Offsets only move past windows the sketch log acknowledged
                // (no waiting: what is not acknowledged yet is committed next
                // time); if it lost one, stop — a restart resumes after the
                // last published window.
                let commits = match pipeline.sketch_log.get() {
                    Some(log) => log.committable(&commits).context("publishing windows to the sketch log")?,
                    None => commits,
                };
                let changed: Vec<(SourcePartition, i64)> = {
                    let positions = pipeline.positions();
                    commits.into_iter().filter(|(p, c)| positions.get(p).and_then(|x| x.committed) != Some(*c)).collect()
                };
                if let Err(e) = commit(consumer.as_ref(), &changed, CommitMode::Async, pipeline) {
                    tracing::warn!("commit failed: {e}");
                }
            }
        }
    };

    end_workers(&mut workers, &queues).await;
    let partitions: Vec<SourcePartition> = pipeline.assigned().into_iter().map(|(p, _)| p).collect();
    let started = std::time::Instant::now();
    let (outcome, failed) = match release(consumer.as_ref(), pipeline, &partitions) {
        Ok(n) => (RevokeOutcome::Committed(n), None),
        Err(e) => {
            let failed = loses_exactly_once(pipeline, &e).then(|| format!("the final release failed: {e}"));
            (RevokeOutcome::Failed(e), failed)
        }
    };
    note_revoke(pipeline, &partitions, outcome, started.elapsed());
    tracing::info!(
        redelivered = pipeline.stats.redelivered.load(Relaxed),
        ignored_after_revoke = pipeline.stats.ignored_after_revoke.load(Relaxed),
        out_of_order = pipeline.stats.out_of_order.load(Relaxed),
        offsets_skipped = pipeline.stats.offsets_skipped.load(Relaxed),
        "left the group's partitions"
    );
    pipeline.set_ready(false);
    pollers_stop.cancel();
    let _ = watermarks.await;
    let _ = watchdog.await;
    // The idle queues hold the consumer.
    queues.clear();
    drop(consumer);
    match failed {
        Some(reason) => Err(anyhow::anyhow!(reason)),
        None => Ok(exit),
    }
}

/// Stops the workers, waits for them and takes their queues back.
async fn end_workers(
    workers: &mut Vec<(SourcePartition, WorkerStop, tokio::task::JoinHandle<Queue>)>,
    queues: &PartitionQueues<Queue>,
) {
    for (p, stop, handle) in workers.drain(..) {
        stop.token().cancel();
        match handle.await {
            Ok(queue) => queues.give_back(p, queue),
            // Its queue went with it; the next assignment splits a new one.
            Err(e) => tracing::error!("partition {p}: its worker failed: {e}"),
        }
    }
}

/// How often a member looks for stalled partitions.
const STALL_CHECK_EVERY: Duration = Duration::from_secs(5);

/// The committed offset and high watermark of every source partition this
/// member does not hold (blocking broker calls).
fn partitions_not_held(
    consumer: &Member,
    topics: &[String],
    held: &[(String, i32)],
) -> rdkafka::error::KafkaResult<Vec<(TopicPartition, i64, i64)>> {
    let timeout = Duration::from_secs(2);
    let mut out = Vec::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
        let mut tpl = TopicPartitionList::new();
        for p in metadata.topics().iter().flat_map(|t| t.partitions()) {
            if !held.iter().any(|(t, n)| t == topic && *n == p.id()) {
                tpl.add_partition(topic, p.id());
            }
        }
        if tpl.count() == 0 {
            continue;
        }
        for e in consumer.committed_offsets(tpl, timeout)?.elements() {
            let committed = match e.offset() {
                Offset::Offset(o) => o,
                _ => -1,
            };
            let (_, high) = consumer.fetch_watermarks(topic, e.partition(), timeout)?;
            out.push(((topic.clone(), e.partition()), committed, high));
        }
    }
    Ok(out)
}

/// What the stall watchdog watches and how.
struct StallWatch {
    /// The source topics.
    topics: Vec<String>,
    /// `--stall-restart`.
    after: Duration,
    /// Client settings for the probe of a stalled partition (it never
    /// joins a group).
    probe: rdkafka::config::ClientConfig,
}

/// Every [`STALL_CHECK_EVERY`]: the partitions this member does not hold;
/// sends the first one stalled for `watch.after` with records waiting (see
/// [`super::stall`]). A broker outage starts the clocks over (an outage is
/// not a stall).
fn spawn_stall_watchdog(
    consumer: Arc<Member>,
    pipeline: Arc<Pipeline>,
    watch: StallWatch,
    stalled: mpsc::Sender<Stalled>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let StallWatch { topics, after, probe } = watch;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(STALL_CHECK_EVERY);
        let mut tracker = StallTracker::new(after);
        let mut last_error: Option<String> = None;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let held: Vec<TopicPartition> = pipeline
                .assigned()
                .into_iter()
                .map(|(p, _)| (pipeline.topic_name(p.topic), p.partition))
                .collect();
            for p in &held {
                tracker.held(p);
            }
            let (consumer, topics) = (consumer.clone(), topics.clone());
            let look = tokio::task::spawn_blocking(move || partitions_not_held(&consumer, &topics, &held))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            let partitions = match look {
                Ok(partitions) => partitions,
                Err(e) => {
                    if last_error.as_deref() != Some(e.as_str()) {
                        tracing::debug!("cannot look for stalled partitions: {e}");
                        last_error = Some(e);
                    }
                    // An outage is not a stall; a single slow answer is
                    // just a missed look.
                    if pipeline.broker_down() {
                        tracker.reset();
                    }
                    continue;
                }
            };
            last_error = None;
            let now = std::time::Instant::now();
            // Every partition is observed (each clock kept current), then
            // the stalled ones looked into.
            let found: Vec<Stalled> = partitions
                .into_iter()
                .filter_map(|(p, committed, high)| tracker.observe(now, p, committed, high))
                .collect();
            for found in found {
                if stall_stands(&probe, &found, &mut tracker, &pipeline, &stop).await {
                    let _ = stalled.send(found).await;
                    return;
                }
            }
        }
    })
}

/// Whether a stall stands after a look into its partition (see
/// [`super::stall_probe`]): records waiting → yes; only markers → marked
/// quiet and counted; newer records → the next tick looks again;
/// inconclusive → yes only after [`INCONCLUSIVE_LOOKS`] such looks in a row.
async fn stall_stands(
    probe: &rdkafka::config::ClientConfig,
    found: &Stalled,
    tracker: &mut StallTracker,
    pipeline: &Pipeline,
    stop: &CancellationToken,
) -> bool {
    match super::stall_probe::look(probe, found, stop).await {
        Look::RecordsWait => true,
        Look::OnlyMarkers => {
            tracker.quiet(found);
            pipeline.stats.stall_marker_gaps.fetch_add(1, Relaxed);
            metrics::counter!("mss_stall_marker_gaps_total").increment(1);
            false
        }
        Look::NewerRecords => false,
        Look::Inconclusive(_) => tracker.inconclusive(found) >= INCONCLUSIVE_LOOKS,
    }
}

fn note_offset(pipeline: &Pipeline, partition: SourcePartition, offset: i64) {
    pipeline.update_position(partition, |pos| {
        pos.offset = Some(pos.offset.map_or(offset, |o| o.max(offset)));
        pos.start.get_or_insert(offset);
    });
    pipeline.clear_read_error(partition);
}

/// Reads `queue` into the partition's windows until `stop`; gives the
/// queue back.
async fn partition_worker(queue: Queue, mut reader: PartitionReader, stop: WorkerStop) -> Queue {
    read_until_stopped(&queue, &mut reader, &stop).await;
    reader.note();
    queue
}

async fn read_until_stopped(queue: &Queue, reader: &mut PartitionReader, stop: &WorkerStop) {
    // Built once, not per record: one stream (a waker slot per record
    // costs a lock), one cancellation future and one timer (a fresh sleep
    // per record reads the clock and registers a timer entry).
    let mut messages = queue.stream();
    let stopped = stop.token().cancelled();
    tokio::pin!(stopped);
    let mut idle = tokio::time::interval(Duration::from_millis(200));
    idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Records already fetched are taken without a select (whose
        // cancellation check is a lock) per record; a revocation's stop
        // (an atomic) is read before each.
        let mut taken = 0;
        while taken < BURST {
            if stop.stopped() {
                return;
            }
            match messages.next().now_or_never() {
                Some(Some(message)) => {
                    if let Some(unreadable) = reader.take(message) {
                        reader.skip_unreadable(&unreadable).await;
                    }
                }
                Some(None) => return,
                None => break,
            }
            taken += 1;
        }
        if taken == BURST {
            // More may be waiting: check the stop, let the runtime's other
            // tasks run, then take the next burst.
            if stop.token().is_cancelled() {
                return;
            }
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            biased;
            () = &mut stopped => return,
            message = messages.next() => match message {
                Some(message) => {
                    if let Some(unreadable) = reader.take(message) {
                        reader.skip_unreadable(&unreadable).await;
                    }
                }
                None => return,
            },
            _ = idle.tick(), if reader.has_unnoted() => reader.note(),
        }
    }
}

/// Records taken without waiting before the worker checks its stop token
/// and yields to the runtime.
const BURST: u32 = 256;

/// One partition's records into its windows, and its offsets noted (the
/// very first at once, as it is where this process resumed; then every
/// 1,024 records or 100 ms, whichever comes first; what is left at the
/// worker's next 200 ms idle tick).
struct PartitionReader {
    pipeline: Arc<Pipeline>,
    windows: Arc<Mutex<PartitionWindows>>,
    partition: SourcePartition,
    format: crate::otlp::RecordFormat,
    since_note: u32,
    noted_at: std::time::Instant,
    last_offset: Option<i64>,
    skipper: UnreadableSkipper<Member>,
}

impl PartitionReader {
    fn new(
        pipeline: Arc<Pipeline>,
        windows: Arc<Mutex<PartitionWindows>>,
        partition: SourcePartition,
        skipper: UnreadableSkipper<Member>,
    ) -> Self {
        Self {
            format: pipeline.format_of(partition.topic),
            pipeline,
            windows,
            partition,
            since_note: u32::MAX - 1,
            noted_at: std::time::Instant::now(),
            last_offset: None,
            skipper,
        }
    }

    /// Takes a record into the windows, or notes an error; gives back an
    /// error that says the batch cannot be decoded, for
    /// [`Self::skip_unreadable`] (kept out of this per-record call, which
    /// never waits).
    fn take(
        &mut self,
        message: rdkafka::error::KafkaResult<rdkafka::message::BorrowedMessage<'_>>,
    ) -> Option<rdkafka::error::KafkaError> {
        let m = match message {
            Ok(m) => m,
            Err(e) => {
                self.pipeline.note_read_error(self.partition, &e.to_string());
                return is_unreadable(&e).then_some(e);
            }
        };
        let (offset, time) = (m.offset(), m.timestamp().to_millis());
        self.pipeline
            .ingest_as(self.format, &self.windows, offset, m.key(), m.payload(), time);
        self.last_offset = Some(offset);
        self.since_note = self.since_note.saturating_add(1);
        let due = self.since_note >= 1024
            || (self.since_note.is_multiple_of(64) && self.noted_at.elapsed() >= Duration::from_millis(100));
        if due {
            self.note();
        }
        None
    }

    fn has_unnoted(&self) -> bool {
        self.since_note > 0 && self.last_offset.is_some()
    }

    /// Skips the first unread offset of a batch that cannot be decoded
    /// (see [`super::unreadable`]).
    async fn skip_unreadable(&mut self, error: &rdkafka::error::KafkaError) {
        match self.skipper.skip(&self.windows, &self.pipeline, error).await {
            Ok(offset) => {
                self.last_offset = Some(self.last_offset.map_or(offset, |o| o.max(offset)));
                self.since_note = self.since_note.saturating_add(1);
            }
            Err(e) => tracing::warn!(
                partition = %self.partition,
                "an unreadable batch could not be skipped (tried again at its next error): {e}"
            ),
        }
    }

    fn note(&mut self) {
        if let Some(o) = self.last_offset {
            note_offset(&self.pipeline, self.partition, o);
        }
        self.since_note = 0;
        self.noted_at = std::time::Instant::now();
    }
}

/// Every second: high watermarks of the assigned partitions (for lag).
/// How long the broker must fail to answer before it counts as down.
const BROKER_DOWN_AFTER: Duration = Duration::from_secs(2);

/// Polls the high watermarks of the assigned partitions and whether the
/// broker answers, every second: `mss_broker_up` (1/0) on `/metrics`, and
/// while it does not answer, `/readyz` 503 with the reason.
fn spawn_watermark_poller(
    consumer: Arc<Member>,
    pipeline: Arc<Pipeline>,
    config: &ConsumerConfig,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let (topic, brokers) = (config.topic.clone(), config.brokers.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut health = BrokerHealth::default();
        metrics::gauge!("mss_broker_up").set(1.0);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let partitions: Vec<(SourcePartition, String)> = pipeline
                .assigned()
                .into_iter()
                .map(|(p, _)| (p, pipeline.topic_name(p.topic)))
                .collect();
            let (consumer, topic) = (consumer.clone(), topic.clone());
            let (marks, probe) = tokio::task::spawn_blocking(move || {
                let probe = consumer
                    .fetch_metadata(Some(&topic), Duration::from_millis(1500))
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                let marks: Vec<(SourcePartition, i64)> = partitions
                    .into_iter()
                    .filter(|_| probe.is_ok())
                    .filter_map(|(p, name)| {
                        consumer
                            .fetch_watermarks(&name, p.partition, Duration::from_millis(500))
                            .ok()
                            .map(|(_, high)| (p, high))
                    })
                    .collect();
                (marks, probe)
            })
            .await
            .unwrap_or_else(|e| (Vec::new(), Err(format!("the probe task failed: {e}"))));
            for (p, high) in marks {
                pipeline.update_position(p, |pos| pos.high_watermark = Some(high));
            }
            note_broker_health(&pipeline, &brokers, probe, &mut health);
        }
    })
}

/// The broker's health as the probes saw it.
#[derive(Debug, Default)]
struct BrokerHealth {
    /// First failed probe of the current outage.
    down_since: Option<std::time::Instant>,
    /// Whether the outage was reported (logged, gauge 0, not ready).
    reported: bool,
}

/// Marks the broker down after [`BROKER_DOWN_AFTER`] of failed probes
/// (logged once per outage), up at the first answer.
fn note_broker_health(
    pipeline: &Pipeline,
    brokers: &str,
    probe: Result<(), String>,
    health: &mut BrokerHealth,
) {
    match probe {
        Ok(()) => {
            if std::mem::take(&mut health.reported) {
                tracing::info!(brokers, "the broker answers again");
            }
            health.down_since = None;
            metrics::gauge!("mss_broker_up").set(1.0);
            pipeline.set_outage(None);
        }
        Err(e) => {
            let since = *health.down_since.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() < BROKER_DOWN_AFTER {
                return;
            }
            if !std::mem::replace(&mut health.reported, true) {
                tracing::warn!(brokers, "the broker does not answer: {e}");
            }
            metrics::gauge!("mss_broker_up").set(0.0);
            let secs = since.elapsed().as_secs();
            pipeline.set_outage(Some(format!(
                "the broker at {brokers} does not answer (for {secs} s): {e}"
            )));
        }
    }
}
