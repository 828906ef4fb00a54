//! Publishing cuts to the sketch log.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use super::record::chunks_of;
use crate::broker::send_retrying;
use crate::ingest::SourcePartition;
use crate::series::SeriesCatalog;
use crate::window::Cut;

/// Per source partition, the `through_offset` of the last cut the broker acknowledged whole.
type Acked = Arc<Mutex<BTreeMap<SourcePartition, i64>>>;

/// Tracks deliveries: failures, and how far each partition is acknowledged.
#[derive(Default)]
struct Deliveries {
    failed: Arc<AtomicU64>,
    acked: Acked,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    /// `(source partition, through offset)` of the cut, when this record
    /// is its last chunk.
    type DeliveryOpaque = Box<Option<(SourcePartition, i64)>>;

    fn delivery(&self, result: &DeliveryResult<'_>, last_chunk: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                // Acknowledgements arrive in order per partition (one request
                // in flight): the last chunk acknowledged means the whole cut.
                if let Some((partition, through)) = *last_chunk {
                    match self.acked.lock() {
                        Ok(mut acked) => {
                            let e = acked.entry(partition).or_insert(through);
                            *e = (*e).max(through);
                        }
                        // The acknowledgement is lost: counted as a failed cut,
                        // so no release claims exactly-once for it.
                        Err(_) => {
                            self.failed.fetch_add(1, Relaxed);
                            tracing::error!(
                                "acknowledgement map lock poisoned: cut counted as not published"
                            );
                        }
                    }
                }
            }
            Err((e, _)) => {
                tracing::error!("a cut was not published to the sketch log: {e}");
                self.failed.fetch_add(1, Relaxed);
            }
        }
    }
}

/// One chunk on its way to the broker.
type ChunkRecord<'a> = BaseRecord<'a, String, Vec<u8>, Box<Option<(SourcePartition, i64)>>>;

/// `(metric, unit)` of the metrics of `series` whose unit is not ms.
fn units_of(series: &[shared::series::SeriesKey], catalog: &SeriesCatalog) -> Vec<(String, String)> {
    let mut units: Vec<(String, String)> = series
        .iter()
        .map(|k| (k.metric().to_owned(), catalog.unit_of(k.metric())))
        .filter(|(_, unit)| unit != crate::series::DEFAULT_UNIT)
        .collect();
    units.sort();
    units.dedup();
    units
}

/// Sends closed windows to the sketch log (asynchronously; see [`SketchPublisher::flush`]).
pub struct SketchPublisher {
    producer: ThreadedProducer<Deliveries>,
    topic: String,
    partitions: i32,
    failed: Arc<AtomicU64>,
    acked: Acked,
}

impl std::fmt::Debug for SketchPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SketchPublisher")
            .field("topic", &self.topic)
            .finish()
    }
}

impl SketchPublisher {
    /// A producer of windows to `topic` (which has `partitions` partitions),
    /// whatever their source topic.
    pub fn new(
        brokers: &str,
        topic: &str,
        partitions: i32,
        librdkafka: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let context = Deliveries::default();
        let (failed, acked) = (context.failed.clone(), context.acked.clone());
        let config = crate::broker::client_config(
            brokers,
            &[
                ("acks", "all"),
                // In-order acknowledgements per partition: "acknowledged through
                // offset N" then means every earlier window is in the log too.
                ("max.in.flight.requests.per.connection", "1"),
                ("linger.ms", "5"),
                ("compression.type", "none"),
            ],
            librdkafka,
        );
        let producer = config
            .create_with_context(context)
            .context("creating the sketch-log producer")?;
        Ok(Self {
            producer,
            topic: topic.to_owned(),
            partitions: partitions.max(1),
            failed,
            acked,
        })
    }

    /// Queues a cut for publishing (never blocks for long: a full queue
    /// is retried after a short wait). Series are written by name, looked
    /// up in `catalog`, and so is the cut's source topic.
    pub fn send_cut(&self, cut: &Cut, catalog: &SeriesCatalog) {
        let Some(source_topic) = catalog.topic(cut.topic) else {
            tracing::error!(
                topic = cut.topic,
                "a cut of an unknown source topic cannot be published"
            );
            self.failed.fetch_add(1, Relaxed);
            return;
        };
        let (chunks, unknown) = chunks_of(&source_topic, cut, |id| catalog.get(id).map(|k| (*k).clone()));
        if unknown > 0 {
            // Ids come from the catalog and are freed only long after their
            // last window: this is a bug, and publishing on would lose data.
            tracing::error!(unknown, "windows of unknown series: the cut cannot be published");
            self.failed.fetch_add(1, Relaxed);
            return;
        }
        for mut chunk in chunks {
            chunk.units = units_of(&chunk.series, catalog);
            let value = chunk.encode();
            let key = chunk.key();
            let source = SourcePartition {
                topic: cut.topic,
                partition: cut.partition,
            };
            let last = chunk.is_last_chunk().then_some((source, cut.through_offset));
            let record = BaseRecord::with_opaque_to(&self.topic, Box::new(last))
                .key(&key)
                .payload(&value)
                .partition(cut.partition.rem_euclid(self.partitions));
            self.send_record(record);
        }
    }

    fn send_record(&self, record: ChunkRecord<'_>) {
        // Never gives up: a cut that is not queued would be lost.
        if let Err(e) = send_retrying(&self.producer, record, Duration::from_millis(1), || false) {
            tracing::error!("a cut could not be queued for the sketch log: {e:?}");
            self.failed.fetch_add(1, Relaxed);
        }
    }

    /// The offset each source partition may be committed to without
    /// waiting: one past the last acknowledged cut, capped at `wanted`.
    /// Fails once any window was lost (see [`SketchPublisher::flush`]).
    pub fn committable(
        &self,
        wanted: &[(SourcePartition, i64)],
    ) -> anyhow::Result<Vec<(SourcePartition, i64)>> {
        let failed = self.failed.load(Relaxed);
        if failed > 0 {
            bail!("{failed} cuts were not published to the sketch log");
        }
        // A poisoned map cannot say what is acknowledged: committing nothing
        // would stall silently, so the consumer stops (a restart resumes
        // after the last published cut).
        let acked = self
            .acked
            .lock()
            .map_err(|_| anyhow::anyhow!("the sketch log's acknowledgement map is poisoned"))?
            .clone();
        Ok(wanted
            .iter()
            .filter_map(|&(p, c)| acked.get(&p).map(|&a| (p, c.min(a + 1))))
            .collect())
    }

    /// Waits until every queued window is acknowledged. An error means some
    /// window was lost: offsets must not be committed past it (the caller
    /// stops; a restart re-consumes from the last published window).
    pub fn flush(&self, timeout: Duration) -> anyhow::Result<()> {
        self.producer
            .flush(timeout)
            .context("the sketch log did not acknowledge every window in time")?;
        let failed = self.failed.load(Relaxed);
        if failed > 0 {
            bail!("{failed} cuts were not published to the sketch log");
        }
        Ok(())
    }
}
