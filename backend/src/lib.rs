//! `mss`, the metrics streaming service, as a library (the binary in
//! `main.rs` only parses the command line).
//!
//! # Layout (in the order data flows)
//! - [`clock`]: wall-clock time, injected into the pipeline.
//! - [`source`]: rows from an HDFS CSV replay or the synthetic generator.
//! - [`record`]: the Kafka record format (JSON or bare number) and reject reasons.
//! - [`broker`]: the embedded mock cluster or an external Kafka; topic admin.
//! - [`produce`]: replays rows into the topic.
//! - [`ingest`]: consumer group, per-partition workers, the shared [`ingest::Pipeline`].
//! - [`series`]: the catalog of series (metric + tags) and their ids.
//! - [`window`]: per-partition event-time windows of sketches and the retained store
//!   (1 s fine windows, then 10 s and 1-minute rollups).
//! - [`sketch_log`]: closed windows made durable in Kafka (`latency-sketches`),
//!   read back for exactly-once resumption and by `mss view`.
//! - [`exact`]: the optional exact reference (`--exact`).
//! - [`slo`]: SLOs, burn rates and alerts (Alertmanager webhooks).
//! - [`poisoned_locks`]: every poisoned lock met, logged and counted.
//! - [`stats`]: counters; [`summary`]: the `/api/summary` document and the terminal report.
//! - [`serve`]: HTTP server (API, WebSocket, static dashboard, health).
//! - [`bench`]: speed measurements (`mss bench`); [`profile`]: `--profile-output`.
//! - [`commands`]: one module per `mss` subcommand.

pub mod bench;
pub mod broker;
pub mod clock;
pub mod commands;
pub mod exact;
pub mod ingest;
pub mod otlp;
pub mod poisoned_locks;
pub mod produce;
pub mod profile;
pub mod record;
pub mod series;
pub mod serve;
pub mod sketch_log;
pub mod slo;
pub mod source;
pub mod stats;
pub mod summary;
pub mod window;
