//! The WebSocket wire protocol between `mss` and the dashboard: versioned
//! messages, each one binary frame encoded with `postcard` (compact serde,
//! builds for wasm32), decoded by the browser with this same crate.
//!
//! Server → client, in order on each connection:
//! 1. [`ServerMessage::Hello`]: protocol version, kinds and their
//!    parameters, partitions, window length, unit, retention, server time;
//! 2. [`ServerMessage::History`] batches of the retained closed windows,
//!    the last one with `done = true`; minutes whose fine windows the server
//!    no longer keeps come as one rollup window per kind (partition −1, all
//!    partitions merged, `window_ms` 60000);
//! 3. live [`ServerMessage::Window`]s as they close, and a
//!    [`ServerMessage::Stats`] at least once per second.
//!
//! Client → server: [`ClientMessage::Subscribe`] (kinds, partitions, history
//! start). A client that speaks another protocol version is closed with a
//! reason naming both versions.

use serde::{Deserialize, Serialize};

use crate::kind::SketchKind;
use crate::sketch::SketchParams;

/// Version of this protocol; bumped on any incompatible change.
pub const PROTOCOL_VERSION: u16 = 1;

/// One closed window of one partition and one sketch kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowSnapshot {
    /// Kafka partition.
    pub partition: i32,
    /// Window start, Unix epoch ms.
    pub window_start_ms: i64,
    /// Window length in ms.
    pub window_ms: u64,
    /// Sketch kind.
    pub kind: SketchKind,
    /// Values in the sketch.
    pub count: u64,
    /// `Sketch::encode` bytes.
    #[serde(with = "serde_bytes")]
    pub sketch: Vec<u8>,
    /// First Kafka offset the window covers.
    pub first_offset: i64,
    /// Last Kafka offset the window covers.
    pub last_offset: i64,
}

/// A sketch kind as the server runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindInfo {
    /// The kind.
    pub kind: SketchKind,
    /// Its accuracy promise, for people.
    pub guarantee: String,
}

/// First message on every connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the server.
    pub protocol_version: u16,
    /// Enabled kinds.
    pub kinds: Vec<KindInfo>,
    /// The kind shown by default.
    pub default_kind: SketchKind,
    /// Parameters of the kinds (α, k, significant digits, scale).
    pub params: SketchParams,
    /// Partitions this server consumes.
    pub partitions: Vec<i32>,
    /// Window length in ms.
    pub window_ms: u64,
    /// Unit of the values.
    pub unit: String,
    /// How long windows are retained, in ms.
    pub retention_ms: u64,
    /// Server clock, Unix epoch ms.
    pub server_time_ms: i64,
}

/// Position of one partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionStats {
    /// Partition.
    pub partition: i32,
    /// Highest offset consumed.
    pub offset: i64,
    /// Records not consumed yet.
    pub lag: i64,
    /// Messages per second over the last ~10 s (all partitions share the
    /// rate when the server cannot tell them apart).
    pub msg_s: f64,
}

/// The `/api/summary` counters, pushed at least once per second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// Server clock, Unix epoch ms.
    pub server_time_ms: i64,
    /// Good records inserted.
    pub messages_processed: u64,
    /// Records produced by the server (replay mode).
    pub produced: u64,
    /// Seconds since start.
    pub runtime_s: f64,
    /// Messages per second since start.
    pub throughput_msg_s: f64,
    /// Messages per second over the last ~10 s.
    pub recent_throughput_msg_s: f64,
    /// Latest block id and latency.
    pub current: Option<(String, f64)>,
    /// Rejected CSV rows.
    pub rejected_csv: u64,
    /// Rejected Kafka payloads.
    pub rejected_payload: u64,
    /// Rejected counts by `source.reason`.
    pub rejected_by_reason: Vec<(String, u64)>,
    /// Partition positions.
    pub partitions: Vec<PartitionStats>,
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMessage {
    /// Connection parameters (first message).
    Hello(Hello),
    /// Retained windows; `done` marks the last batch of the history.
    History {
        /// Windows, oldest first.
        windows: Vec<WindowSnapshot>,
        /// True on the last history batch.
        done: bool,
    },
    /// A window that just closed.
    Window(WindowSnapshot),
    /// Counters.
    Stats(StatsSnapshot),
    /// The client fell behind; a fresh history follows.
    Resync {
        /// Why.
        reason: String,
    },
    /// The client sent something wrong; the connection stays open.
    Error {
        /// What was wrong.
        message: String,
    },
}

/// Client → server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMessage {
    /// What to receive. `None` means everything.
    Subscribe {
        /// The client's [`PROTOCOL_VERSION`].
        protocol_version: u16,
        /// Kinds to receive.
        kinds: Option<Vec<SketchKind>>,
        /// Partitions to receive.
        partitions: Option<Vec<i32>>,
        /// Send retained windows starting at or after this time (Unix ms).
        history_from_ms: Option<i64>,
    },
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("malformed protocol frame: {0}")]
pub struct FrameError(pub String);

/// The frame bytes of `ServerMessage::Window(window)`, without cloning the
/// window (the server encodes each closed window once for all clients).
pub fn window_frame(window: &WindowSnapshot) -> Vec<u8> {
    // Same variant index as `ServerMessage::Window` (2), borrowed payload.
    #[derive(Serialize)]
    enum Borrowed<'a> {
        _Hello(()),
        _History(()),
        Window(&'a WindowSnapshot),
    }
    postcard::to_stdvec(&Borrowed::Window(window)).unwrap_or_default()
}

impl ServerMessage {
    /// Binary frame bytes.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain data into a Vec cannot fail.
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Decodes a binary frame.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        postcard::from_bytes(bytes).map_err(|e| FrameError(e.to_string()))
    }
}

impl ClientMessage {
    /// Binary frame bytes.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Decodes a binary frame.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        postcard::from_bytes(bytes).map_err(|e| FrameError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_is_an_error() {
        let w = WindowSnapshot {
            partition: 2,
            window_start_ms: 1_764_072_000_000,
            window_ms: 1000,
            kind: SketchKind::HdrHistogram,
            count: 3,
            sketch: vec![1, 2, 3],
            first_offset: 10,
            last_offset: 12,
        };
        for m in [
            ServerMessage::Window(w.clone()),
            ServerMessage::History {
                windows: vec![w],
                done: true,
            },
            ServerMessage::Resync {
                reason: "slow".into(),
            },
        ] {
            assert_eq!(ServerMessage::decode(&m.encode()), Ok(m));
        }
        let s = ClientMessage::Subscribe {
            protocol_version: PROTOCOL_VERSION,
            kinds: Some(vec![SketchKind::QuantileFlow]),
            partitions: None,
            history_from_ms: Some(5),
        };
        assert_eq!(ClientMessage::decode(&s.encode()), Ok(s));
        assert!(ClientMessage::decode(&[0xff, 0xff, 0xff]).is_err());
        let w = WindowSnapshot {
            partition: 1,
            window_start_ms: 7,
            window_ms: 1000,
            kind: SketchKind::Datadog,
            count: 1,
            sketch: vec![9; 300],
            first_offset: 0,
            last_offset: 0,
        };
        assert_eq!(window_frame(&w), ServerMessage::Window(w.clone()).encode());
        assert!(ServerMessage::decode(&[]).is_err());
    }
}
