//! The WebSocket wire protocol between `mss` and the dashboard: versioned
//! messages, each one binary frame encoded with `postcard` (compact serde,
//! builds for wasm32), decoded by the browser with this same crate.
//!
//! Server → client, in order on each connection:
//! 1. [`ServerMessage::Hello`]: protocol version, kinds and their
//!    parameters, partitions, window length, unit, retention, default
//!    metric, whether `--exact` is on, server time;
//! 2. [`ServerMessage::History`] batches of the retained window snapshots,
//!    the last one with `done = true`; minutes whose fine windows the server
//!    no longer keeps come as one rollup window per series and kind
//!    (partition −1, all partitions merged, `window_ms` 60000);
//! 3. live [`ServerMessage::Window`]s as they are published, and a
//!    [`ServerMessage::Stats`] at least once per second.
//!
//! Before the first window (history or live) of a series or topic the
//! connection has not seen, a [`ServerMessage::Catalog`] defines its id.
//!
//! Client → server: [`ClientMessage::Subscribe`] (kinds, partitions, history
//! start, metric, filter). Its version is read before the rest of the frame
//! ([`ClientMessage::peek_version`]): a client that speaks another protocol
//! version is closed (1002) with a reason naming both versions.

use serde::{Deserialize, Serialize};

use crate::kind::SketchKind;
use crate::series::SeriesKey;
use crate::sketch::SketchParams;

/// Version of this protocol; bumped on any incompatible change.
///
/// v2: windows of named series (`series` id, defined by a
/// [`ServerMessage::Catalog`] before first use), a source of (topic,
/// partition), event-time snapshots stamped with `through_offset`, and
/// `Subscribe` with `metric` and `filter`.
pub const PROTOCOL_VERSION: u16 = 2;

/// Process-local id of a series on one connection's stream (defined by a
/// [`ServerMessage::Catalog`] before its first window). Never stored
/// durably: the sketch log carries the series itself.
pub type SeriesId = u32;

/// Process-local id of a source topic (defined by a catalog entry).
pub type TopicId = u16;

/// A snapshot of one window of one series, from one source (topic,
/// partition), of one sketch kind. Several snapshots of the same (series,
/// source, kind, start) may exist — records that arrived after the first
/// snapshot was published (late, within `--max-lateness`) — and readers
/// merge them: each holds different records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowSnapshot {
    /// The series (see the catalog).
    pub series: SeriesId,
    /// Source topic (see the catalog).
    pub topic: TopicId,
    /// Kafka partition of the source topic; −1 for rollups merged across partitions.
    pub partition: i32,
    /// Window start, Unix epoch ms (event time).
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
    /// Lowest Kafka offset of a record in this snapshot.
    pub first_offset: i64,
    /// Highest Kafka offset of a record in this snapshot.
    pub last_offset: i64,
    /// Every record of the partition at or below this offset is in a
    /// published snapshot (this one or an earlier one): the cut this
    /// snapshot was published in (exactly-once resumption).
    pub through_offset: i64,
}

/// What identifies one snapshot of a window: series, topic, partition,
/// kind, start and first offset. Later snapshots of a window (late records)
/// have other first offsets and are merged; a repeat of the same key is a
/// duplicate. The server's history/live overlap check and the browser's
/// duplicate check both use it.
pub type SnapshotKey = (SeriesId, TopicId, i32, SketchKind, i64, i64);

impl WindowSnapshot {
    /// This snapshot's [`SnapshotKey`].
    pub fn snapshot_key(&self) -> SnapshotKey {
        (
            self.series,
            self.topic,
            self.partition,
            self.kind,
            self.window_start_ms,
            self.first_offset,
        )
    }
}

/// A series as the catalog defines it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesDef {
    /// Its id on this stream.
    pub id: SeriesId,
    /// Metric name and tags.
    pub key: SeriesKey,
    /// Unit of its values (`ms` for latencies).
    pub unit: String,
}

/// A source topic as the catalog defines it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicDef {
    /// Its id on this stream.
    pub id: TopicId,
    /// Kafka topic name.
    pub topic: String,
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
    /// Metric shown when a client names none (`--metric`).
    pub default_metric: String,
    /// Whether the server keeps exact values (`--exact`, `/api/exact`).
    pub exact: bool,
    /// A window's first snapshot waits for the watermark to pass its end
    /// plus this (ms, `--grace`).
    pub grace_ms: u64,
    /// Records up to this far behind the watermark still land in their
    /// window (ms, `--max-lateness`).
    pub max_lateness_ms: u64,
}

/// Position of one partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionStats {
    /// Source topic of the partition.
    pub topic: String,
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
    /// Series currently known (all metrics).
    pub series: u64,
    /// Whether the server is ready (what `/readyz` says).
    pub ready: bool,
    /// Why not, or what is wrong while it still serves (broker down,
    /// windows of another source topic ignored, …); empty when all is well.
    pub problems: Vec<String>,
    /// Alert states (empty without `--alert`).
    pub alerts: Vec<AlertStatus>,
    /// SLO states (empty without `--slo`).
    pub slos: Vec<SloStatus>,
}

/// One alert's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertStatus {
    /// `name=` of the alert.
    pub name: String,
    /// `inactive`, `pending`, `firing` or `resolved`.
    pub state: String,
    /// When it entered this state, Unix epoch ms.
    pub since_ms: i64,
    /// The value last evaluated.
    pub value: Option<f64>,
}

/// One SLO's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloStatus {
    /// `name=` of the SLO.
    pub name: String,
    /// Objective as a share (0.999).
    pub objective: f64,
    /// Per window (`5m`, `1h`, `all`): share of good values.
    pub good_ratio: Vec<(String, f64)>,
    /// Per window: bad share ÷ (1 − objective).
    pub burn_rate: Vec<(String, f64)>,
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
    /// Series and topics, each sent once per connection before the first
    /// window that names it.
    Catalog {
        /// New series.
        series: Vec<SeriesDef>,
        /// New source topics.
        topics: Vec<TopicDef>,
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
        /// Only this metric (`None`: the server's `--metric`).
        metric: Option<String>,
        /// Only series matching this filter (`shared::filter` syntax).
        filter: Option<String>,
    },
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("malformed protocol frame: {0}")]
pub struct FrameError(pub String);

/// The frame bytes of `ServerMessage::Window(window)`, without cloning the
/// window (the server encodes each window once for all clients).
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

    /// The protocol version a `Subscribe` frame claims, read before the rest
    /// is decoded (every version's `Subscribe` starts with it), so a client
    /// of another version is told so instead of getting a decode error.
    pub fn peek_version(bytes: &[u8]) -> Option<u16> {
        match postcard::take_from_bytes::<(u32, u16)>(bytes) {
            Ok(((0, version), _)) => Some(version),
            _ => None,
        }
    }

    /// Decodes a binary frame.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        postcard::from_bytes(bytes).map_err(|e| FrameError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(series: SeriesId, sketch: Vec<u8>) -> WindowSnapshot {
        WindowSnapshot {
            series,
            topic: 1,
            partition: 2,
            window_start_ms: 1_764_072_000_000,
            window_ms: 1000,
            kind: SketchKind::HdrHistogram,
            count: 3,
            sketch,
            first_offset: 10,
            last_offset: 12,
            through_offset: 13,
        }
    }

    #[test]
    fn messages_round_trip_and_garbage_is_an_error() {
        let w = window(7, vec![1, 2, 3]);
        let key = SeriesKey::new("http.server.duration", [("route", "/pay")]).expect("valid");
        for m in [
            ServerMessage::Window(w.clone()),
            ServerMessage::History {
                windows: vec![w],
                done: true,
            },
            ServerMessage::Resync {
                reason: "slow".into(),
            },
            ServerMessage::Catalog {
                series: vec![SeriesDef {
                    id: 7,
                    key,
                    unit: "ms".into(),
                }],
                topics: vec![TopicDef {
                    id: 1,
                    topic: "latency-metrics".into(),
                }],
            },
        ] {
            assert_eq!(ServerMessage::decode(&m.encode()), Ok(m));
        }
        let s = ClientMessage::Subscribe {
            protocol_version: PROTOCOL_VERSION,
            kinds: Some(vec![SketchKind::QuantileFlow]),
            partitions: None,
            history_from_ms: Some(5),
            metric: Some("latency".into()),
            filter: Some("label:Fail".into()),
        };
        assert_eq!(ClientMessage::decode(&s.encode()), Ok(s.clone()));
        assert_eq!(ClientMessage::peek_version(&s.encode()), Some(PROTOCOL_VERSION));
        assert!(ClientMessage::decode(&[0xff, 0xff, 0xff]).is_err());
        let w = window(1, vec![9; 300]);
        assert_eq!(window_frame(&w), ServerMessage::Window(w.clone()).encode());
        assert!(ServerMessage::decode(&[]).is_err());
    }

    #[test]
    fn a_version_1_subscribe_is_recognised_before_decoding_the_rest() {
        // Protocol v1's Subscribe: variant 0, version 1, kinds, partitions,
        // history start — and no metric/filter fields.
        #[derive(Serialize)]
        enum V1 {
            Subscribe {
                protocol_version: u16,
                kinds: Option<Vec<SketchKind>>,
                partitions: Option<Vec<i32>>,
                history_from_ms: Option<i64>,
            },
        }
        let v1 = postcard::to_stdvec(&V1::Subscribe {
            protocol_version: 1,
            kinds: None,
            partitions: Some(vec![0]),
            history_from_ms: None,
        })
        .expect("encodes");
        assert!(ClientMessage::decode(&v1).is_err(), "v1 cannot be decoded as v2");
        assert_eq!(ClientMessage::peek_version(&v1), Some(1));
        assert_eq!(ClientMessage::peek_version(&[]), None);
        assert_eq!(ClientMessage::peek_version(&[5, 2]), None, "not a Subscribe");
    }
}
