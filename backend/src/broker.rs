//! The Kafka side of setup: the embedded broker for the zero-install demo,
//! and topic creation on a real broker.
//!
//! The embedded broker is librdkafka's in-process mock cluster: a real
//! Kafka-protocol broker inside this process, with consumer groups and
//! commits, listening on a loopback port (other processes on this host can
//! use it: `mss broker` hosts one for them). Its limits: it lives and dies
//! with the process (nothing is kept), every group join takes ~3 s, and it
//! keeps only a few MiB per partition, so it is for consuming while
//! producing (which is what `mss serve` does).

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::types::RDKafkaErrorCode;

/// Default source topic (`--topic`).
pub const DEFAULT_TOPIC: &str = "latency-metrics";

/// Record bytes the embedded broker (librdkafka's mock cluster, which drops
/// the oldest records past 5 MiB per partition) can be trusted to keep: 5 MiB
/// less room for batch headers.
pub const EMBEDDED_PARTITION_BYTES: u64 = 4_500_000;

/// A client of `brokers` with this client's own `settings`, then the user's
/// `--librdkafka` overrides (applied last, so they win).
pub fn client_config(
    brokers: &str,
    settings: &[(&str, &str)],
    overrides: &[(String, String)],
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    for (k, v) in settings {
        config.set(*k, *v);
    }
    for (k, v) in overrides {
        config.set(k, v);
    }
    config
}

/// A mock cluster running on its own thread (it cannot move between threads).
pub struct EmbeddedBroker {
    bootstrap: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedBroker {
    /// Starts a one-broker mock cluster with `topics` (name, partitions).
    pub fn start(topics: &[(String, i32)]) -> anyhow::Result<Self> {
        let (ready_tx, ready_rx) = mpsc::channel::<anyhow::Result<String>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let topics = topics.to_vec();
        let thread = std::thread::Builder::new()
            .name("embedded-kafka".into())
            .spawn(move || {
                let cluster = match MockCluster::new(1) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(anyhow!("starting the mock cluster: {e}")));
                        return;
                    }
                };
                for (topic, partitions) in &topics {
                    if let Err(e) = cluster.create_topic(topic, *partitions, 1) {
                        let _ = ready_tx.send(Err(anyhow!("creating topic {topic}: {e}")));
                        return;
                    }
                }
                let _ = ready_tx.send(Ok(cluster.bootstrap_servers()));
                // Keep the cluster alive until told to stop (or the owner is gone).
                let _ = stop_rx.recv();
            })
            .context("spawning the embedded broker thread")?;
        let bootstrap = ready_rx
            .recv()
            .map_err(|_| anyhow!("the embedded broker thread died"))??;
        Ok(Self {
            bootstrap,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// `bootstrap.servers` for clients of this process.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Produced-but-unconsumed records allowed with the embedded broker, which
/// keeps only a few MiB per partition (~100 bytes a record: ~1 MiB per
/// partition with 4 partitions).
pub const EMBEDDED_MAX_UNCONSUMED: u64 = 40_000;

/// Creates `topic` with `partitions` partitions (replication 1) unless it
/// exists; with `recreate`, deletes it first.
pub async fn ensure_topic(brokers: &str, topic: &str, partitions: i32, recreate: bool) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .context("creating the Kafka admin client")?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    // An existing topic needs no admin request (a broker may not serve
    // CreateTopics to this client, e.g. librdkafka's mock cluster or ACLs).
    if !recreate && topic_exists(brokers, topic).await {
        return Ok(());
    }
    if recreate {
        let results = admin
            .delete_topics(&[topic], &options)
            .await
            .context("deleting the topic")?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                Err((t, e)) => return Err(anyhow!("deleting topic {t}: {e}")),
            }
        }
        tracing::info!(topic, "deleted the topic (--recreate-topic)");
        // Deletion is asynchronous on the broker side.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for attempt in 0..20 {
        let results = admin
            .create_topics([&new], &options)
            .await
            .context("creating the topic")?;
        match results.into_iter().next() {
            Some(Ok(_)) => {
                tracing::info!(topic, partitions, "created the topic");
                return Ok(());
            }
            Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) if !recreate || attempt > 0 => return Ok(()),
            Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Some(Err((t, e))) => return Err(anyhow!("creating topic {t}: {e}")),
            None => return Ok(()),
        }
    }
    Ok(())
}

/// Whether the broker's metadata lists `topic` with partitions (`false`
/// when it cannot tell: creation is then attempted).
async fn topic_exists(brokers: &str, topic: &str) -> bool {
    let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        use rdkafka::consumer::Consumer as _;
        let client: rdkafka::consumer::BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .create()
            .ok()?;
        let metadata = client
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .ok()?;
        let found = metadata
            .topics()
            .iter()
            .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty());
        Some(found)
    })
    .await
    .ok()
    .flatten()
    .unwrap_or(false)
}

/// Longest wait between two attempts to reach the broker.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Runs `attempt` until it succeeds, waiting 0.5 s doubling to 30 s between
/// failures; before each attempt `waiting` gets `trying`, after a failure
/// the error (also logged), and `None` once done. `None` if `stop`
/// completes first (Ctrl-C). The one backoff loop of the roles' start.
pub async fn with_backoff<T, Fut>(
    trying: &str,
    mut attempt: impl FnMut() -> Fut,
    waiting: &(dyn Fn(Option<String>) + Send + Sync),
    stop: impl std::future::Future<Output = ()>,
) -> Option<T>
where
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    tokio::pin!(stop);
    let mut delay = Duration::from_millis(500);
    loop {
        waiting(Some(trying.to_owned()));
        let result = tokio::select! {
            r = attempt() => r,
            () = &mut stop => return None,
        };
        match result {
            Ok(v) => {
                waiting(None);
                return Some(v);
            }
            Err(e) => {
                let reason = format!("waiting: {trying}: {e:#}");
                tracing::warn!("{reason}; retrying in {:.1} s", delay.as_secs_f64());
                waiting(Some(reason));
            }
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = &mut stop => return None,
        }
        delay = (delay * 2).min(MAX_BACKOFF);
    }
}

/// [`ensure_topic`] for each of `topics`, through [`with_backoff`]; an
/// error if `stop` completes first.
pub async fn wait_for_topics(
    brokers: &str,
    topics: &[(String, i32)],
    recreate: bool,
    waiting: &(dyn Fn(Option<String>) + Send + Sync),
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(stop);
    for (topic, partitions) in topics {
        let trying = format!("connecting to the broker at {brokers} (topic {topic})");
        let attempt = || ensure_topic(brokers, topic, *partitions, recreate);
        if with_backoff(&trying, attempt, waiting, &mut stop).await.is_none() {
            anyhow::bail!("stopped while waiting for the broker at {brokers}");
        }
    }
    Ok(())
}

/// How [`send_retrying`] ended without queueing the record.
#[derive(Debug)]
pub enum SendError {
    /// `give_up` said so while the queue was full.
    GaveUp,
    /// The producer refused the record for another reason.
    Kafka(rdkafka::error::KafkaError),
}

/// Queues `record` on `producer`, waiting `wait` and retrying while
/// librdkafka's queue is full, until `give_up()` (checked after each wait).
/// The one queue-full loop of the producers (rows, sketch-log cuts).
pub fn send_retrying<'a, C, K, P>(
    producer: &rdkafka::producer::ThreadedProducer<C>,
    mut record: rdkafka::producer::BaseRecord<'a, K, P, C::DeliveryOpaque>,
    wait: Duration,
    give_up: impl Fn() -> bool,
) -> Result<(), SendError>
where
    C: rdkafka::producer::ProducerContext + 'static,
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                std::thread::sleep(wait);
                if give_up() {
                    return Err(SendError::GaveUp);
                }
            }
            Err((e, _)) => return Err(SendError::Kafka(e)),
        }
    }
}
