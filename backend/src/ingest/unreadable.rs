//! Batches the consumer cannot decode: a corrupt batch, or one compressed
//! with bytes its codec cannot inflate. librdkafka reports such a batch as
//! an error on the partition and fetches it again, forever: the partition
//! would stall on it. Instead its first unread offset is skipped: counted as
//! rejected (`unreadable`), logged at WARN, noted as processed (so the next
//! cut covers it and commits move past it), and the partition is sought to
//! the offset after it. A broker that answers a fetch from the middle of a
//! batch with the next batch (Tansu) skips the rest at once, counted as
//! `offsets_skipped`; Apache Kafka answers with the same batch while the
//! offset is inside it, so there a broken batch of N records should be
//! skipped one offset at a time (N rejections; untested here).
//!
//! The seek waits for librdkafka to apply it, which also discards the
//! errors and records fetched before it, so an error that arrives after the
//! seek is about the new position, never a stale copy of the old one.

use std::sync::{Mutex, Weak};
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::{Pipeline, SourcePartition};
use crate::record::RejectReason;
use crate::window::PartitionWindows;

/// How long a seek or an offset lookup may take.
const BROKER_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `error` says a fetched batch cannot be decoded (as opposed to a
/// broker or network error, which the next fetch may not repeat).
pub fn is_unreadable(error: &KafkaError) -> bool {
    matches!(
        error,
        KafkaError::MessageConsumption(
            RDKafkaErrorCode::BadCompression
                | RDKafkaErrorCode::BadMessage
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::UnsupportedCompressionType
        )
    )
}

/// Why an unreadable offset could not be skipped (the partition then keeps
/// reporting its read error, and the next error tries again).
#[derive(Debug, thiserror::Error)]
pub enum SkipError {
    /// The consumer is gone (the member is shutting down).
    #[error("the consumer is closed")]
    ConsumerClosed,
    /// No offset is known for the partition: nothing was read or committed,
    /// and the broker did not answer for its first offset.
    #[error("the partition's position is unknown: {0}")]
    PositionUnknown(String),
    /// librdkafka refused the seek.
    #[error("seeking past offset {offset}: {error}")]
    Seek {
        /// The offset that was to be skipped.
        offset: i64,
        /// librdkafka's error.
        error: KafkaError,
    },
    /// The blocking broker call panicked or was cancelled.
    #[error("the broker call did not finish: {0}")]
    Task(String),
}

/// Skips one unreadable partition: seeks past its first unread offset.
pub struct UnreadableSkipper<C> {
    consumer: Weak<C>,
    topic: String,
    partition: SourcePartition,
}

impl<C> UnreadableSkipper<C> {
    /// A skipper for `partition` of `topic`, holding the consumer weakly (it
    /// never keeps a closing member alive).
    pub fn new(consumer: Weak<C>, topic: String, partition: SourcePartition) -> Self {
        Self {
            consumer,
            topic,
            partition,
        }
    }
}

impl<C: ConsumerSeek + Send + Sync + 'static> UnreadableSkipper<C> {
    /// Skips the partition's first unread offset (after `windows`' last
    /// processed one, else its committed or first offset): seeks past it,
    /// then counts it and notes it processed. Returns the skipped offset.
    pub async fn skip(
        &self,
        windows: &Mutex<PartitionWindows>,
        pipeline: &Pipeline,
        error: &KafkaError,
    ) -> Result<i64, SkipError> {
        let last = super::locked(windows, &pipeline.stats, "partition").and_then(|w| w.last_offset());
        let consumer = self.consumer.upgrade().ok_or(SkipError::ConsumerClosed)?;
        let (topic, partition) = (self.topic.clone(), self.partition.partition);
        let offset = tokio::task::spawn_blocking(move || {
            let offset = match last {
                Some(last) => last + 1,
                None => consumer.first_unread(&topic, partition)?,
            };
            consumer.seek_past(&topic, partition, offset)?;
            Ok::<_, SkipError>(offset)
        })
        .await
        .map_err(|e| SkipError::Task(e.to_string()))??;
        let Some(mut w) = super::locked(windows, &pipeline.stats, "partition") else {
            return Ok(offset);
        };
        if w.already_counted(offset) {
            // A record at this offset was taken meanwhile: nothing to skip.
            return Ok(offset);
        }
        w.skip(offset, pipeline.now_ms());
        drop(w);
        pipeline
            .stats
            .reject(crate::stats::RejectSource::Payload, RejectReason::Unreadable);
        tracing::warn!(
            partition = %self.partition,
            offset,
            "an unreadable batch: offset skipped and counted as `unreadable` ({error})"
        );
        Ok(offset)
    }
}

/// The broker calls a skip needs, on the consumer (a trait so that tests
/// can count them without a broker).
pub trait ConsumerSeek {
    /// The offset the partition's reading starts at when nothing was read:
    /// the group's committed offset, else the first offset the broker holds
    /// (`auto.offset.reset` is `earliest`).
    fn first_unread(&self, topic: &str, partition: i32) -> Result<i64, SkipError>;
    /// Moves the partition's fetch position past `skipped` (to the next
    /// offset), waiting until librdkafka applied it.
    fn seek_past(&self, topic: &str, partition: i32, skipped: i64) -> Result<(), SkipError>;
}

impl<X: rdkafka::consumer::ConsumerContext + 'static> ConsumerSeek for rdkafka::consumer::StreamConsumer<X> {
    fn first_unread(&self, topic: &str, partition: i32) -> Result<i64, SkipError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, partition);
        let committed = self
            .committed_offsets(tpl, BROKER_CALL_TIMEOUT)
            .ok()
            .and_then(|c| match c.find_partition(topic, partition)?.offset() {
                Offset::Offset(o) if o >= 0 => Some(o),
                _ => None,
            });
        if let Some(o) = committed {
            return Ok(o);
        }
        self.fetch_watermarks(topic, partition, BROKER_CALL_TIMEOUT)
            .map(|(low, _)| low)
            .map_err(|e| SkipError::PositionUnknown(e.to_string()))
    }

    fn seek_past(&self, topic: &str, partition: i32, skipped: i64) -> Result<(), SkipError> {
        self.seek(topic, partition, Offset::Offset(skipped + 1), BROKER_CALL_TIMEOUT)
            .map_err(|error| SkipError::Seek {
                offset: skipped,
                error,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A consumer that records its seeks.
    #[derive(Default)]
    struct Seeks {
        to: Mutex<Vec<i64>>,
    }

    impl ConsumerSeek for Seeks {
        fn first_unread(&self, _: &str, _: i32) -> Result<i64, SkipError> {
            Ok(100)
        }
        fn seek_past(&self, _: &str, _: i32, skipped: i64) -> Result<(), SkipError> {
            self.to.lock().expect("seeks").push(skipped + 1);
            Ok(())
        }
    }

    fn bad() -> KafkaError {
        KafkaError::MessageConsumption(RDKafkaErrorCode::BadCompression)
    }

    #[tokio::test]
    async fn the_first_unread_offset_is_skipped_counted_and_noted_processed() {
        let pipeline = Pipeline::new(super::super::IngestConfig::default()).expect("config");
        let windows = pipeline.partition(0).expect("partition");
        let consumer = std::sync::Arc::new(Seeks::default());
        let p = SourcePartition {
            topic: 0,
            partition: 0,
        };
        let skipper = UnreadableSkipper::new(std::sync::Arc::downgrade(&consumer), "t".into(), p);
        // Nothing read yet: the committed (or first) offset is skipped.
        assert_eq!(
            skipper.skip(&windows, &pipeline, &bad()).await.expect("skip"),
            100
        );
        // Then one offset at a time, after the last one processed.
        assert_eq!(
            skipper.skip(&windows, &pipeline, &bad()).await.expect("skip"),
            101
        );
        assert_eq!(*consumer.to.lock().expect("seeks"), [101, 102]);
        assert_eq!(windows.lock().expect("windows").last_offset(), Some(101));
        let unreadable = pipeline
            .stats
            .rejected_count(crate::stats::RejectSource::Payload, RejectReason::Unreadable);
        assert_eq!(unreadable, 2);
        drop(consumer);
        assert!(matches!(
            skipper.skip(&windows, &pipeline, &bad()).await,
            Err(SkipError::ConsumerClosed)
        ));
    }

    #[test]
    fn only_decode_errors_are_unreadable() {
        let unreadable = |code| is_unreadable(&KafkaError::MessageConsumption(code));
        assert!(unreadable(RDKafkaErrorCode::BadCompression));
        assert!(unreadable(RDKafkaErrorCode::BadMessage));
        assert!(unreadable(RDKafkaErrorCode::InvalidMessage));
        assert!(!unreadable(RDKafkaErrorCode::BrokerTransportFailure));
        assert!(!unreadable(RDKafkaErrorCode::UnknownTopicOrPartition));
        assert!(!unreadable(RDKafkaErrorCode::OffsetOutOfRange));
        assert!(!is_unreadable(&KafkaError::Canceled));
    }
}
