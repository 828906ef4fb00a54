//! The sketch log: every closed window, durably in a Kafka topic (default
//! `latency-sketches`), so a restart loses no history and many ingest
//! processes feed one view.
//!
//! # Record format
//! - partition: the source partition (the sketch topic has as many
//!   partitions as the source topic), so one source partition's windows
//!   are in one ordered log;
//! - key: `{source topic}/{source partition}/{kind}/{window start ms}/{first offset}`
//!   — unique per window, so compaction (where the broker supports it) keeps
//!   every window and drops only exact re-publications; readers keep only
//!   the windows of their source topic (one sketch log can serve several);
//! - value: the WebSocket frame of the window
//!   (`shared::protocol::ServerMessage::Window`, postcard), which a view can
//!   stream to browsers as it is.
//!
//! # Exactly-once counting
//! The published windows are the source of truth for what was counted:
//! 1. offsets are committed only after every window published so far has been
//!    acknowledged by the broker ([`SketchPublisher::flush`] before each commit);
//! 2. when a partition is assigned, the owner reads that partition's recent
//!    windows back ([`last_published_offsets`]) and skips every record at or
//!    below the highest offset already in a published window.
//!
//! So a record in a published window is never counted again (even if its
//! offset was not committed before a crash), and a record not yet in a
//! published window is not committed, so it is consumed again after a crash
//! (the crashed process's open window is simply re-consumed). Chosen over
//! Kafka transactions because it needs no transactional broker support (Tansu
//! and the embedded mock cluster lack it) and keeps the hot path free of
//! transaction coordination; the cost is reading back the recent windows of a
//! partition on assignment (`--sketch-lookback`, default 1 h).

pub mod publisher;
pub mod reader;

pub use publisher::SketchPublisher;
pub use reader::{last_published_offsets, SketchReader};

/// Default topic of the sketch log.
pub const DEFAULT_TOPIC: &str = "latency-sketches";

/// The record key of a window of `source_topic`.
pub fn key(source_topic: &str, window: &shared::protocol::WindowSnapshot) -> String {
    format!(
        "{source_topic}/{}/{}/{}/{}",
        window.partition,
        window.kind.name(),
        window.window_start_ms,
        window.first_offset
    )
}

/// Whether a record key belongs to `source_topic`.
pub fn is_from(key: Option<&[u8]>, source_topic: &str) -> bool {
    key.and_then(|k| k.strip_prefix(source_topic.as_bytes()))
        .is_some_and(|rest| rest.first() == Some(&b'/'))
}

/// Where the sketch log lives.
#[derive(Debug, Clone)]
pub struct SketchLogConfig {
    /// Topic (`--sketch-topic`).
    pub topic: String,
    /// Its partitions (as many as the source topic).
    pub partitions: i32,
    /// How far back a new partition owner reads the log for already-counted
    /// offsets, ms (`--sketch-lookback`).
    pub lookback_ms: i64,
}
