//! Looks into a partition past its committed offset: does a record wait
//! there, or only control records?
//!
//! A transactional producer's log ends each transaction with a control
//! record (the broker's COMMIT or ABORT marker). It takes an offset but is
//! never handed to the application, so a consumer that is fully caught up
//! commits the offset *of* the marker and the high watermark stays one
//! past it: committed < high watermark for good. Before the stall watchdog
//! restarts a member over such a gap, it reads the partition from the
//! committed offset with a consumer of its own (no group, nothing
//! committed): the end of the partition reached with no record delivered
//! means nothing waits.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use super::stall::Stalled;

/// How long a probe may read before it gives up (and the stall stands).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `stalled` stands: records (not only control records) wait past
/// its commit. Runs [`records_wait`] off the runtime; a look that cannot
/// tell says yes (the stall stands), logged.
pub async fn stall_stands(probe: &ClientConfig, stalled: &Stalled) -> bool {
    let (probe, s) = (probe.clone(), stalled.clone());
    let look = tokio::task::spawn_blocking(move || {
        records_wait(&probe, &s.partition.0, s.partition.1, s.committed, PROBE_TIMEOUT)
    })
    .await
    .map_err(anyhow::Error::from)
    .and_then(|r| r);
    let (topic, partition) = (&stalled.partition.0, stalled.partition.1);
    match look {
        Ok(true) => true,
        Ok(false) => {
            tracing::info!(
                %topic,
                partition,
                committed = stalled.committed,
                high_watermark = stalled.high_watermark,
                "only control records (transaction markers) past the committed offset: not a stall"
            );
            false
        }
        Err(e) => {
            tracing::warn!(%topic, partition, "cannot look into a stalled partition ({e:#}); treating it as stalled");
            true
        }
    }
}

/// Whether a record (not a control record) waits in `topic`/`partition` at
/// or after `committed` (`-1`: never committed, read from the start).
/// `client` is the member's client configuration without its group
/// settings; blocking, at most `timeout`.
pub fn records_wait(
    client: &ClientConfig,
    topic: &str,
    partition: i32,
    committed: i64,
    timeout: Duration,
) -> anyhow::Result<bool> {
    let consumer: BaseConsumer = client
        .clone()
        // librdkafka assigns only in a consumer with a group; this one never
        // joins it (no subscribe) and never commits.
        .set("group.id", "mss-stall-probe")
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create()
        .context("creating the stall probe's consumer")?;
    let from = if committed < 0 {
        Offset::Beginning
    } else {
        Offset::Offset(committed)
    };
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, from)
        .context("the probe's partition")?;
    consumer.assign(&tpl).context("assigning the probe's partition")?;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(anyhow!("no record and no end of partition within {timeout:?}"));
        }
        match consumer.poll(left) {
            Some(Ok(_)) => return Ok(true),
            Some(Err(KafkaError::PartitionEOF(p))) if p == partition => return Ok(false),
            Some(Err(e)) => return Err(anyhow!("reading the partition: {e}")),
            None => {}
        }
    }
}
