//! The sketch log: every cut of every source partition, durably in a Kafka
//! topic (default `latency-sketches`), so a restart loses no history and
//! many ingest processes feed one view.
//!
//! # Record format ([`record`])
//! - partition: the source partition (the sketch topic has as many
//!   partitions as the source topic), so one source partition's cuts are in
//!   one ordered log;
//! - key: `{source topic}/{source partition}/{through offset}/{chunk}` —
//!   unique per chunk, so compaction (where the broker supports it) keeps
//!   every cut; readers keep only the cuts of their source topic (one
//!   sketch log can serve several);
//! - value: `MSS2` + a postcard [`record::LogCut`]: the snapshots of every
//!   open window of the partition at the cut, with their series by name
//!   (metric + sorted tags), split into chunks of ≤ 512 KiB of sketches.
//!
//! # Exactly-once counting
//! A cut covers an offset prefix (see [`crate::window`]): after it, every
//! record of the partition at or below its `through_offset` is in a
//! published snapshot, and none above it is. So:
//! 1. offsets are committed only up to `through_offset + 1` of the last cut
//!    whose every chunk the broker acknowledged (in order: one request in
//!    flight per partition);
//! 2. when a partition is assigned, the owner reads that partition's recent
//!    cuts back ([`last_published_offsets`]) and skips every record at or
//!    below the highest `through_offset` of a *complete* cut (all chunks
//!    present); a view likewise serves only complete cuts, each once
//!    ([`assembler::CutAssembler`], which also tells what it ignored).
//!
//! A crash between two cuts loses nothing: the records after the last cut
//! are in no published snapshot and are consumed again by the next owner. A
//! crash in the middle of a cut (some chunks published) leaves an
//! incomplete cut that both the next owner and every view ignore: its
//! records are consumed again and published in a later cut. This is the
//! interleaving that a per-window rule ("skip every offset ≤ the highest
//! published last offset") gets wrong: offsets 100→W1, 101→W2, 102→W1, W1
//! published alone, crash → 101 lost; here W1 and W2 are in one cut.
//!
//! Chosen over Kafka transactions because it needs no transactional broker
//! support (Tansu and the embedded mock cluster lack it) and keeps the hot
//! path free of transaction coordination; the cost is reading back the
//! recent cuts of a partition on assignment (`--sketch-lookback`, default 1 h).

pub mod assembler;
pub mod publisher;
pub mod reader;
pub mod record;

pub use publisher::SketchPublisher;
pub use reader::{last_published_offsets, SketchReader, SketchRecord};

/// Default topic of the sketch log.
pub const DEFAULT_TOPIC: &str = "latency-sketches";

/// Whether a record key belongs to `source_topic`.
pub fn is_from(key: Option<&[u8]>, source_topic: &str) -> bool {
    key.and_then(|k| k.strip_prefix(source_topic.as_bytes()))
        .is_some_and(|rest| rest.first() == Some(&b'/'))
}

/// The source topic a sketch-log key names (`{topic}/{partition}/…`), or
/// `None` for a key that is not one of ours.
pub fn source_of(key: Option<&[u8]>) -> Option<&str> {
    let key = std::str::from_utf8(key?).ok()?;
    key.split_once('/')
        .map(|(topic, _)| topic)
        .filter(|t| !t.is_empty())
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
