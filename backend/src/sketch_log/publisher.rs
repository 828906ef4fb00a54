//! Publishing closed windows to the sketch log.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use crate::window::ClosedWindow;

/// Counts failed deliveries (a window the broker never acknowledged).
#[derive(Default)]
struct Deliveries {
    failed: Arc<AtomicU64>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if let Err((e, _)) = result {
            tracing::error!("a window was not published to the sketch log: {e}");
            self.failed.fetch_add(1, Relaxed);
        }
    }
}

/// Sends closed windows to the sketch log (asynchronously; see [`SketchPublisher::flush`]).
pub struct SketchPublisher {
    producer: ThreadedProducer<Deliveries>,
    topic: String,
    source_topic: String,
    partitions: i32,
    failed: Arc<AtomicU64>,
    /// Windows handed to the producer.
    pub sent: AtomicU64,
}

impl std::fmt::Debug for SketchPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SketchPublisher")
            .field("topic", &self.topic)
            .finish()
    }
}

impl SketchPublisher {
    /// A producer of `source_topic`'s windows to `topic` (which has `partitions` partitions).
    pub fn new(
        brokers: &str,
        topic: &str,
        source_topic: &str,
        partitions: i32,
        librdkafka: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let context = Deliveries::default();
        let failed = context.failed.clone();
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("compression.type", "none");
        for (k, v) in librdkafka {
            config.set(k, v);
        }
        let producer = config
            .create_with_context(context)
            .context("creating the sketch-log producer")?;
        Ok(Self {
            producer,
            topic: topic.to_owned(),
            source_topic: source_topic.to_owned(),
            partitions: partitions.max(1),
            failed,
            sent: AtomicU64::new(0),
        })
    }

    /// Queues windows for publishing (never blocks for long: a full queue
    /// is retried after a short wait).
    pub fn send(&self, windows: &[ClosedWindow]) {
        for w in windows {
            let key = super::key(&self.source_topic, w);
            let value = shared::protocol::window_frame(w);
            let mut record = BaseRecord::to(&self.topic)
                .key(&key)
                .payload(&value)
                .partition(w.partition.rem_euclid(self.partitions));
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err((e, _)) => {
                        tracing::error!("a window could not be queued for the sketch log: {e}");
                        self.failed.fetch_add(1, Relaxed);
                        break;
                    }
                }
            }
            self.sent.fetch_add(1, Relaxed);
        }
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
            bail!("{failed} windows were not published to the sketch log");
        }
        Ok(())
    }
}
