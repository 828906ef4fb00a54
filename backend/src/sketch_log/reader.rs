//! Reading the sketch log back: the highest offset already published per
//! source partition (for exactly-once resumption), and the stream of
//! windows a view serves.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use shared::protocol::ServerMessage;

use crate::window::{ClosedWindow, PublishedWindow, SharedWindow};

fn reader_config(brokers: &str, librdkafka: &[(String, String)]) -> ClientConfig {
    crate::broker::client_config(
        brokers,
        &[
            // Partitions are assigned by hand: the group is never joined or committed.
            ("group.id", "mss-sketch-log-reader"),
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "false"),
            ("auto.offset.reset", "earliest"),
        ],
        librdkafka,
    )
}

/// Decodes one sketch-log record (`None` for anything that is not a window frame).
pub fn decode(payload: Option<&[u8]>) -> Option<ClosedWindow> {
    match ServerMessage::decode(payload?) {
        Ok(ServerMessage::Window(w)) => Some(w),
        _ => None,
    }
}

/// Decodes one sketch-log record and keeps its bytes as the window's
/// WebSocket frame (the record value *is* that frame: nothing to re-encode).
pub fn decode_published(payload: Option<&[u8]>) -> Option<SharedWindow> {
    let bytes = payload?;
    let window = decode(Some(bytes))?;
    Some(Arc::new(PublishedWindow {
        window,
        frame: bytes::Bytes::copy_from_slice(bytes),
    }))
}

/// Where to start reading `partitions` of `topic`: the first record at or
/// after `since_ms`. A partition for which the broker finds none although it
/// holds records is read from the beginning (some brokers, like librdkafka's
/// mock cluster, answer every timestamp lookup with "none"; readers drop
/// windows older than they need), an empty one from offset 0 (a concrete
/// offset: `End` would be resolved only when fetching starts, skipping
/// windows published in between).
fn start_offsets(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: &[i32],
    since_ms: i64,
    ends: &BTreeMap<i32, i64>,
) -> anyhow::Result<TopicPartitionList> {
    let mut wanted = TopicPartitionList::new();
    for &p in partitions {
        wanted.add_partition_offset(topic, p, Offset::Offset(since_ms.max(0)))?;
    }
    let mut tpl = TopicPartitionList::new();
    let found = match consumer.offsets_for_times(wanted, Duration::from_secs(10)) {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!("{topic}: offsets by time unavailable ({e}); reading from the beginning");
            for &p in partitions {
                tpl.add_partition_offset(topic, p, Offset::Beginning)?;
            }
            return Ok(tpl);
        }
    };
    for e in found.elements() {
        // A partition with no record that recent answers End (or an invalid offset).
        let offset = match e.offset() {
            Offset::Offset(o) if o >= 0 => Offset::Offset(o),
            _ if ends.get(&e.partition()).copied().unwrap_or(0) > 0 => Offset::Beginning,
            _ => Offset::Offset(0),
        };
        tpl.add_partition_offset(topic, e.partition(), offset)?;
    }
    Ok(tpl)
}

/// The first offset [`start_offsets`] chose per partition (`Beginning`: 0).
fn first_offsets(tpl: &TopicPartitionList) -> BTreeMap<i32, i64> {
    tpl.elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => (e.partition(), o),
            _ => (e.partition(), 0),
        })
        .collect()
}

/// The sketch-log partitions holding `source_partitions`' windows.
pub fn sketch_partitions_of(source_partitions: &[i32], sketch_partitions: i32) -> Vec<i32> {
    let mut needed: Vec<i32> = source_partitions
        .iter()
        .map(|p| p.rem_euclid(sketch_partitions.max(1)))
        .collect();
    needed.sort_unstable();
    needed.dedup();
    needed
}

/// The highest source offset in a published window, per source partition,
/// among the windows published in the last `lookback_ms` (blocking; reads
/// each sketch-log partition in `ends` up to its high watermark there, and
/// creates no client at all when every one is empty).
pub fn last_published_offsets(
    brokers: &str,
    topic: &str,
    source_topic: &str,
    source_partitions: &[i32],
    ends: &BTreeMap<i32, i64>,
    lookback_ms: i64,
    librdkafka: &[(String, String)],
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let mut found = BTreeMap::new();
    if source_partitions.is_empty() || ends.values().all(|&end| end == 0) {
        // Nothing was ever published there.
        return Ok(found);
    }
    let consumer: BaseConsumer = reader_config(brokers, librdkafka)
        .create()
        .context("creating the sketch-log reader")?;
    let sketch_partitions_needed: Vec<i32> = ends.keys().copied().collect();
    let ends = ends.clone();
    let since = crate::ingest::now_ms() - lookback_ms;
    let tpl = start_offsets(&consumer, topic, &sketch_partitions_needed, since, &ends)?;
    let mut positions = first_offsets(&tpl);
    consumer.assign(&tpl).context("assigning the sketch log")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if Instant::now() > deadline {
            anyhow::bail!("timed out reading back the sketch log {topic} ({positions:?} of {ends:?})");
        }
        let reached = positions
            .iter()
            .all(|(p, &pos)| pos >= ends.get(p).copied().unwrap_or(0));
        // Some brokers (Tansu) report the high watermark as the start of
        // the last batch + 1: past it, read on until the partition is idle.
        let wait = if reached { 300 } else { 1_000 };
        match consumer.poll(Duration::from_millis(wait)) {
            Some(Ok(m)) => {
                positions.insert(m.partition(), m.offset() + 1);
                if !super::is_from(m.key(), source_topic) {
                    continue;
                }
                if let Some(w) = decode(m.payload()) {
                    if source_partitions.contains(&w.partition) {
                        let e = found.entry(w.partition).or_insert(w.last_offset);
                        *e = (*e).max(w.last_offset);
                    }
                }
            }
            Some(Err(e)) => tracing::warn!("reading the sketch log: {e}"),
            None if reached => break,
            None => {}
        }
    }
    Ok(found)
}

/// A view's subscription to the whole sketch log.
pub struct SketchReader {
    consumer: StreamConsumer,
    starts: BTreeMap<i32, i64>,
    ends: BTreeMap<i32, i64>,
}

impl SketchReader {
    /// Reads every partition of `topic` from the first window published
    /// at or after `since_ms`.
    pub async fn open(
        brokers: &str,
        topic: &str,
        since_ms: i64,
        librdkafka: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let (brokers, topic, librdkafka) = (brokers.to_owned(), topic.to_owned(), librdkafka.to_vec());
        tokio::task::spawn_blocking(move || {
            let probe: BaseConsumer = reader_config(&brokers, &librdkafka).create()?;
            let metadata = probe
                .fetch_metadata(Some(&topic), Duration::from_secs(10))
                .with_context(|| format!("metadata of {topic}"))?;
            let partitions: Vec<i32> = metadata
                .topics()
                .iter()
                .filter(|t| t.name() == topic)
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            if partitions.is_empty() {
                anyhow::bail!("topic {topic} has no partitions (does it exist?)");
            }
            let mut ends = BTreeMap::new();
            for &p in &partitions {
                let (_, high) = probe.fetch_watermarks(&topic, p, Duration::from_secs(10))?;
                ends.insert(p, high);
            }
            let tpl = start_offsets(&probe, &topic, &partitions, since_ms, &ends)?;
            let starts = first_offsets(&tpl);
            let consumer: StreamConsumer = reader_config(&brokers, &librdkafka).create()?;
            consumer.assign(&tpl).context("assigning the sketch log")?;
            Ok(Self {
                consumer,
                starts,
                ends,
            })
        })
        .await
        .context("sketch-log reader task")?
    }

    /// Whether reading has reached, in every partition, the high watermark
    /// the log had when the reader opened (`positions`: next offset per partition).
    pub fn caught_up(&self, positions: &BTreeMap<i32, i64>) -> bool {
        self.ends.iter().all(|(p, &end)| {
            let start = self.starts.get(p).copied().unwrap_or(0);
            start >= end || positions.get(p).is_some_and(|&pos| pos >= end)
        })
    }

    /// The next record: `(sketch partition, offset, window)`; the window is
    /// `None` for records of other source topics and `Some(None)` for
    /// records of this one that do not decode.
    pub async fn next(&self, source_topic: &str) -> anyhow::Result<(i32, i64, Option<Option<SharedWindow>>)> {
        let m = self.consumer.recv().await.context("reading the sketch log")?;
        let window = super::is_from(m.key(), source_topic).then(|| decode_published(m.payload()));
        Ok((m.partition(), m.offset(), window))
    }
}
