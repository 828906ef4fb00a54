//! Reading the sketch log back: the highest `through_offset` of a complete
//! cut per source partition (for exactly-once resumption), and the stream
//! of cuts a view serves.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use shared::series::SeriesKey;

pub use super::assembler::CutAssembler;
use super::record::{LogCut, LogDecodeError};

/// Decodes one sketch-log record (`legacy_series`: the series of v1 records).
pub fn decode(
    payload: Option<&[u8]>,
    legacy_topic: &str,
    legacy_series: &SeriesKey,
) -> Result<LogCut, LogDecodeError> {
    LogCut::decode(payload.unwrap_or_default(), legacy_topic, legacy_series)
}

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

/// Where to read a partition's published cuts back from.
#[derive(Debug, Clone, Copy)]
pub struct ReadBack<'a> {
    /// Bootstrap servers.
    pub brokers: &'a str,
    /// The sketch-log topic.
    pub topic: &'a str,
    /// The source topic whose cuts count.
    pub source_topic: &'a str,
    /// How far back to read, ms (`--sketch-lookback`).
    pub lookback_ms: i64,
    /// Extra librdkafka properties.
    pub librdkafka: &'a [(String, String)],
    /// The series of records written before series existed.
    pub legacy_series: &'a SeriesKey,
}

/// The highest `through_offset` of a complete cut, per source partition,
/// among the cuts published in the last `lookback_ms` (blocking; reads
/// each sketch-log partition in `ends` up to its high watermark there, and
/// creates no client at all when every one is empty).
pub fn last_published_offsets(
    read: &ReadBack<'_>,
    source_partitions: &[i32],
    ends: &BTreeMap<i32, i64>,
) -> anyhow::Result<BTreeMap<i32, Published>> {
    let ReadBack {
        brokers,
        topic,
        source_topic,
        lookback_ms,
        librdkafka,
        legacy_series,
    } = *read;
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
    let since = crate::clock::now_ms() - lookback_ms;
    let tpl = start_offsets(&consumer, topic, &sketch_partitions_needed, since, &ends)?;
    let mut positions = first_offsets(&tpl);
    consumer.assign(&tpl).context("assigning the sketch log")?;
    let mut assembler = CutAssembler::default();
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
                let chunk = match decode(m.payload(), source_topic, legacy_series) {
                    Ok(c) if source_partitions.contains(&c.partition) => c,
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::warn!(partition = m.partition(), offset = m.offset(), "sketch log: {e}");
                        continue;
                    }
                };
                if let Some(cut) = assembler.push(chunk) {
                    let (p, through) = (cut[0].partition, cut[0].through_offset);
                    let e = found.entry(p).or_insert_with(|| Published {
                        through,
                        baselines: Vec::new(),
                    });
                    e.through = e.through.max(through);
                    // In log order: a later state of a stream wins.
                    e.baselines.extend(cut.into_iter().flat_map(|c| c.baselines));
                }
            }
            Some(Err(e)) => tracing::warn!("reading the sketch log: {e}"),
            None if reached => break,
            None => {}
        }
    }
    Ok(found)
}

/// What the sketch log holds for one source partition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Published {
    /// Highest `through_offset` of a complete cut.
    pub through: i64,
    /// OTLP stream states of the complete cuts, oldest first.
    pub baselines: Vec<(u64, crate::otlp::temporality::StreamState)>,
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

    /// The next record: `(sketch partition, offset, what it holds)`, of
    /// one of `source_topics` (the first is that of legacy v1 records) or
    /// of another.
    pub async fn next(
        &self,
        source_topics: &[&str],
        legacy_series: &SeriesKey,
    ) -> anyhow::Result<(i32, i64, SketchRecord)> {
        let m = self.consumer.recv().await.context("reading the sketch log")?;
        let ours = source_topics.iter().find(|t| super::is_from(m.key(), t));
        let record = if let Some(source_topic) = ours {
            SketchRecord::Ours(decode(m.payload(), source_topic, legacy_series))
        } else {
            let topic = super::source_of(m.key()).unwrap_or("(a key that is not a sketch-log key)");
            SketchRecord::OtherSource(topic.to_owned())
        };
        Ok((m.partition(), m.offset(), record))
    }
}

/// A sketch-log record as a reader sees it.
#[derive(Debug)]
pub enum SketchRecord {
    /// A chunk of a cut of the source topic asked for (or why it does not decode).
    Ours(Result<LogCut, LogDecodeError>),
    /// A record of another source topic (named), ignored.
    OtherSource(String),
}
