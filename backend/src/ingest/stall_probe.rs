//! Looks into a partition past its committed offset: does a record wait
//! there, or only control records?
//!
//! A transactional producer's log ends each transaction with a control
//! record (the broker's COMMIT or ABORT marker). It takes an offset but is
//! never handed to the application, so a consumer that is fully caught up
//! commits the offset *of* the marker and the high watermark stays one
//! past it: committed < high watermark for good. Before the stall watchdog
//! restarts a member over such a gap, it reads the partition from the
//! committed offset with a consumer of its own (no group join, nothing
//! committed): the end of the partition reached with no record delivered
//! means nothing waits.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::stall::Stalled;

/// How long a probe may read before it gives up (the look is inconclusive).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Inconclusive looks in a row after which a stall stands anyway (a probe
/// that can never read must not disable the restart).
pub const INCONCLUSIVE_LOOKS: u32 = 3;

/// What a look into a stalled partition found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Look {
    /// A record below the high watermark of the stall waits: it stands.
    RecordsWait,
    /// Only control records (transaction markers) between the commit and
    /// the high watermark: not a stall.
    OnlyMarkers,
    /// The first record found was written after the stall was seen (at or
    /// past its high watermark): the next look decides.
    NewerRecords,
    /// The probe could not tell (error, timeout or shutdown).
    Inconclusive(String),
}

/// Looks into `stalled`'s partition off the runtime ([`records_wait`]);
/// logs what it found.
pub async fn look(probe: &ClientConfig, stalled: &Stalled, stop: &CancellationToken) -> Look {
    let (probe, s, stop) = (probe.clone(), stalled.clone(), stop.clone());
    let found = tokio::task::spawn_blocking(move || records_wait(&probe, &s, PROBE_TIMEOUT, &stop))
        .await
        .map_err(anyhow::Error::from)
        .and_then(|r| r);
    let (topic, partition) = (&stalled.partition.0, stalled.partition.1);
    match found {
        Ok(Look::OnlyMarkers) => {
            tracing::info!(
                %topic,
                partition,
                committed = stalled.committed,
                high_watermark = stalled.high_watermark,
                "only control records (transaction markers) past the committed offset: not a stall"
            );
            Look::OnlyMarkers
        }
        Ok(look) => look,
        Err(e) => {
            tracing::warn!(%topic, partition, "cannot look into a stalled partition: {e:#}");
            Look::Inconclusive(format!("{e:#}"))
        }
    }
}

/// Whether a record (not a control record) waits in `stalled`'s partition
/// at or after its committed offset (`-1`: never committed, read from the
/// start) and below its high watermark ([`Look::RecordsWait`]), only
/// control records do ([`Look::OnlyMarkers`]), or the first record found is
/// newer than the stall ([`Look::NewerRecords`]). `client` is the member's
/// client configuration; blocking, reading for at most `timeout`, in slices
/// so `stop` ends it promptly.
pub fn records_wait(
    client: &ClientConfig,
    stalled: &Stalled,
    timeout: Duration,
    stop: &CancellationToken,
) -> anyhow::Result<Look> {
    let (topic, partition) = (&stalled.partition.0, stalled.partition.1);
    let consumer: BaseConsumer = client
        .clone()
        // librdkafka assigns only in a consumer with a group; this one never
        // joins it (no subscribe) and never commits.
        .set("group.id", "mss-stall-probe")
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // A commit below the log's start reads from its start, as the
        // member would (`latest` would jump to the end and see nothing).
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .create()
        .context("creating the stall probe's consumer")?;
    let from = if stalled.committed < 0 {
        Offset::Beginning
    } else {
        Offset::Offset(stalled.committed)
    };
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, from)
        .context("the probe's partition")?;
    consumer.assign(&tpl).context("assigning the probe's partition")?;
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    while !stop.is_cancelled() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let why = last_error.map_or_else(|| "no answer".to_owned(), |e: KafkaError| e.to_string());
            return Err(anyhow!(
                "no record and no end of partition within {timeout:?} ({why})"
            ));
        }
        match consumer.poll(left.min(Duration::from_millis(100))) {
            Some(Ok(m)) if m.offset() < stalled.high_watermark => return Ok(Look::RecordsWait),
            Some(Ok(_)) => return Ok(Look::NewerRecords),
            Some(Err(KafkaError::PartitionEOF(p))) if p == partition => return Ok(Look::OnlyMarkers),
            // Transport errors and the like pass; the deadline bounds them.
            Some(Err(e)) => last_error = Some(e),
            None => {}
        }
    }
    Err(anyhow!("stopped"))
}
