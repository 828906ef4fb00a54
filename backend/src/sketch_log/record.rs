//! The sketch log's record: one cut of one source partition (all its
//! windows' snapshots, every series and kind), split into chunks of at most
//! [`MAX_CHUNK_BYTES`] of sketches so each record stays far below Kafka's
//! default 1 MB limit.
//!
//! Value: the magic `MSS2` followed by a postcard [`LogCut`], then — in the
//! last chunk(s) of a cut with OTLP streams — the postcard list of the
//! stream states changed since the previous cut ([`LogCut::baselines`];
//! readers that predate it ignore the trailing bytes). The series are
//! carried by name (metric + sorted tags), never by a process-local id.
//! Records written before series existed (protocol v1 window frames) are
//! still read: each is a cut of one window of the reader's `--metric` with
//! no tags, `through_offset` = its last offset (a v1 partition had one open
//! window, so its last offset was a prefix boundary).

use serde::{Deserialize, Serialize};
use shared::protocol::{SeriesId, TopicId};
use shared::series::SeriesKey;
use shared::SketchKind;

use crate::otlp::temporality::StreamState;
use crate::window::{ClosedWindow, Cut};

/// First bytes of every current record value.
pub const MAGIC: &[u8; 4] = b"MSS2";
/// Sketch bytes per chunk before a new chunk starts.
pub const MAX_CHUNK_BYTES: usize = 512 * 1024;

/// One window snapshot in a [`LogCut`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogWindow {
    /// Index into [`LogCut::series`].
    pub series: u32,
    /// Window start, Unix epoch ms.
    pub window_start_ms: i64,
    /// Window length, ms.
    pub window_ms: u64,
    /// Sketch kind.
    pub kind: SketchKind,
    /// Values in the sketch.
    pub count: u64,
    /// `Sketch::encode` bytes.
    #[serde(with = "serde_bytes")]
    pub sketch: Vec<u8>,
    /// Lowest source offset in the snapshot.
    pub first_offset: i64,
    /// Highest source offset in the snapshot.
    pub last_offset: i64,
}

/// One chunk of one cut of one source partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogCut {
    /// Source topic.
    pub source_topic: String,
    /// Source partition.
    pub partition: i32,
    /// Every record of the partition at or below this offset is in this
    /// cut or an earlier one.
    pub through_offset: i64,
    /// This chunk's index.
    pub chunk: u32,
    /// Chunks in the cut: a reader trusts a cut only once it has them all.
    pub chunks: u32,
    /// The series the windows name.
    pub series: Vec<SeriesKey>,
    /// The snapshots.
    pub windows: Vec<LogWindow>,
    /// OTLP stream states changed since the previous cut (after the
    /// postcard body, so older readers skip them).
    #[serde(skip)]
    pub baselines: Vec<(u64, StreamState)>,
    /// `(metric, unit)` of the chunk's metrics whose unit is not ms (after
    /// the baselines, so older readers skip them).
    #[serde(skip)]
    pub units: Vec<(String, String)>,
}

/// Stream states per chunk, at most.
const BASELINES_PER_CHUNK: usize = 2048;

/// Why a sketch-log record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogDecodeError {
    /// Neither a current record nor a v1 window frame.
    #[error("not a sketch-log record: {0}")]
    Malformed(String),
    /// A window names a series index the record does not have.
    #[error("window names series {0} of {1}")]
    BadSeriesIndex(u32, usize),
}

impl LogCut {
    /// The record key: `{source topic}/{partition}/{through offset}/{chunk}`
    /// (unique per chunk, so compaction keeps every cut).
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.source_topic, self.partition, self.through_offset, self.chunk
        )
    }

    /// The record value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        // Plain data into a Vec: cannot fail.
        if let Ok(body) = postcard::to_stdvec(self) {
            out.extend_from_slice(&body);
        }
        if !self.baselines.is_empty() || !self.units.is_empty() {
            if let Ok(tail) = postcard::to_stdvec(&self.baselines) {
                out.extend_from_slice(&tail);
            }
        }
        if !self.units.is_empty() {
            if let Ok(tail) = postcard::to_stdvec(&self.units) {
                out.extend_from_slice(&tail);
            }
        }
        out
    }

    /// Reads a record value; v1 window frames become a one-window cut of
    /// `legacy_series` on `legacy_topic`.
    pub fn decode(
        bytes: &[u8],
        legacy_topic: &str,
        legacy_series: &SeriesKey,
    ) -> Result<Self, LogDecodeError> {
        let malformed = |e: postcard::Error| LogDecodeError::Malformed(e.to_string());
        let cut: LogCut = match bytes.strip_prefix(MAGIC.as_slice()) {
            Some(body) => {
                let (mut cut, tail): (LogCut, _) = postcard::take_from_bytes(body).map_err(malformed)?;
                if !tail.is_empty() {
                    let (baselines, units) = postcard::take_from_bytes(tail).map_err(malformed)?;
                    cut.baselines = baselines;
                    if !units.is_empty() {
                        cut.units = postcard::from_bytes(units).map_err(malformed)?;
                    }
                }
                cut
            }
            None => legacy::decode(bytes, legacy_topic, legacy_series)?,
        };
        if let Some(w) = cut.windows.iter().find(|w| w.series as usize >= cut.series.len()) {
            return Err(LogDecodeError::BadSeriesIndex(w.series, cut.series.len()));
        }
        Ok(cut)
    }

    /// Whether this chunk completes its cut.
    pub fn is_last_chunk(&self) -> bool {
        self.chunk + 1 >= self.chunks
    }
}

/// The chunks of `cut` of `source_topic`, with each series resolved by `key_of`
/// (windows whose series is unknown are dropped and counted in the result).
pub fn chunks_of(
    source_topic: &str,
    cut: &Cut,
    key_of: impl Fn(u32) -> Option<SeriesKey>,
) -> (Vec<LogCut>, usize) {
    let mut chunks: Vec<LogCut> = Vec::new();
    let mut unknown = 0;
    let mut bytes = usize::MAX;
    let new_chunk = |chunk: usize| LogCut {
        source_topic: source_topic.to_owned(),
        partition: cut.partition,
        through_offset: cut.through_offset,
        chunk: chunk as u32,
        chunks: 0,
        series: Vec::new(),
        windows: Vec::new(),
        baselines: Vec::new(),
        units: Vec::new(),
    };
    for w in &cut.windows {
        if bytes >= MAX_CHUNK_BYTES {
            chunks.push(new_chunk(chunks.len()));
            bytes = 0;
        }
        let Some(current) = chunks.last_mut() else { break };
        let Some(index) = series_index(current, w.series, &key_of) else {
            unknown += 1;
            continue;
        };
        bytes += w.sketch.len();
        current.windows.push(LogWindow::of(index, w));
    }
    if chunks.is_empty() {
        // A cut over rejected records only: still published, so commits move on.
        chunks.push(new_chunk(0));
    }
    for (i, part) in cut.baselines.chunks(BASELINES_PER_CHUNK).enumerate() {
        if i > 0 || chunks.last().is_some_and(|c| !c.baselines.is_empty()) {
            chunks.push(new_chunk(chunks.len()));
        }
        if let Some(last) = chunks.last_mut() {
            last.baselines = part.to_vec();
        }
    }
    let n = chunks.len() as u32;
    for c in &mut chunks {
        c.chunks = n;
    }
    (chunks, unknown)
}

/// The index of series `id` in `chunk`'s table, added if new.
fn series_index(chunk: &mut LogCut, id: u32, key_of: &impl Fn(u32) -> Option<SeriesKey>) -> Option<u32> {
    let key = key_of(id)?;
    if let Some(i) = chunk.series.iter().position(|s| *s == key) {
        return Some(i as u32);
    }
    chunk.series.push(key);
    Some((chunk.series.len() - 1) as u32)
}

impl LogWindow {
    /// `w` in a cut, its series at `series` in the cut's table.
    fn of(series: u32, w: &ClosedWindow) -> Self {
        Self {
            series,
            window_start_ms: w.window_start_ms,
            window_ms: w.window_ms,
            kind: w.kind,
            count: w.count,
            sketch: w.sketch.clone(),
            first_offset: w.first_offset,
            last_offset: w.last_offset,
        }
    }

    /// Back to a snapshot of this process's `series` and `topic` ids, from
    /// `partition`'s cut through `through_offset`.
    pub fn into_snapshot(
        self,
        series: SeriesId,
        topic: TopicId,
        partition: i32,
        through_offset: i64,
    ) -> ClosedWindow {
        ClosedWindow {
            series,
            topic,
            partition,
            window_start_ms: self.window_start_ms,
            window_ms: self.window_ms,
            kind: self.kind,
            count: self.count,
            sketch: self.sketch,
            first_offset: self.first_offset,
            last_offset: self.last_offset,
            through_offset,
        }
    }
}

/// Protocol v1's window frame, for reading logs written before series.
mod legacy {
    use serde::Deserialize;
    use shared::series::SeriesKey;
    use shared::SketchKind;

    use super::{LogCut, LogDecodeError, LogWindow};

    #[derive(Deserialize)]
    struct V1Window {
        partition: i32,
        window_start_ms: i64,
        window_ms: u64,
        kind: SketchKind,
        count: u64,
        #[serde(with = "serde_bytes")]
        sketch: Vec<u8>,
        first_offset: i64,
        last_offset: i64,
    }

    /// v1 `ServerMessage` variants up to `Window` (index 2).
    #[derive(Deserialize)]
    enum V1Message {
        Hello(serde::de::IgnoredAny),
        History(serde::de::IgnoredAny),
        Window(V1Window),
    }

    pub(super) fn decode(bytes: &[u8], topic: &str, series: &SeriesKey) -> Result<LogCut, LogDecodeError> {
        let w = match postcard::from_bytes::<V1Message>(bytes) {
            Ok(V1Message::Window(w)) => w,
            Ok(_) => {
                return Err(LogDecodeError::Malformed(
                    "a v1 frame that is not a window".into(),
                ))
            }
            Err(e) => return Err(LogDecodeError::Malformed(e.to_string())),
        };
        Ok(LogCut {
            source_topic: topic.to_owned(),
            partition: w.partition,
            through_offset: w.last_offset,
            chunk: 0,
            chunks: 1,
            baselines: Vec::new(),
            units: Vec::new(),
            series: vec![series.clone()],
            windows: vec![LogWindow {
                series: 0,
                window_start_ms: w.window_start_ms,
                window_ms: w.window_ms,
                kind: w.kind,
                count: w.count,
                sketch: w.sketch,
                first_offset: w.first_offset,
                last_offset: w.last_offset,
            }],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(series: u32, start: i64, sketch_len: usize) -> ClosedWindow {
        ClosedWindow {
            series,
            topic: 0,
            partition: 2,
            window_start_ms: start,
            window_ms: 1000,
            kind: SketchKind::QuantileFlow,
            count: 1,
            sketch: vec![7; sketch_len],
            first_offset: 5,
            last_offset: 9,
            through_offset: 10,
        }
    }

    fn key(route: &str) -> SeriesKey {
        SeriesKey::new("latency", [("route", route)]).expect("valid")
    }

    #[test]
    fn cuts_round_trip_by_series_name_and_split_into_bounded_chunks() {
        let cut = Cut {
            topic: 0,
            baselines: Vec::new(),
            partition: 2,
            through_offset: 10,
            windows: vec![window(1, 0, 100), window(2, 0, 100), window(1, 1000, 100)],
        };
        let names = |id: u32| Some(key(&format!("/r{id}")));
        let (chunks, unknown) = chunks_of("t", &cut, names);
        assert_eq!((chunks.len(), unknown), (1, 0));
        let back = LogCut::decode(&chunks[0].encode(), "t", &key("x")).expect("decodes");
        assert_eq!(back, chunks[0]);
        assert_eq!(back.series, [key("/r1"), key("/r2")]);
        assert_eq!(back.key(), "t/2/10/0");
        assert!(back.is_last_chunk());
        // Units ride after the (here empty) baselines.
        let mut with_units = chunks[0].clone();
        with_units.units = vec![("payload.size".into(), "By".into())];
        let back = LogCut::decode(&with_units.encode(), "t", &key("x")).expect("decodes");
        assert_eq!(back.units, with_units.units);
        assert!(back.baselines.is_empty());
        // Big sketches: several chunks, each under the limit plus one window.
        let big = Cut {
            topic: 0,
            baselines: Vec::new(),
            partition: 2,
            through_offset: 10,
            windows: (0..5).map(|i| window(1, i * 1000, 300 * 1024)).collect(),
        };
        let (chunks, _) = chunks_of("t", &big, names);
        assert_eq!(chunks.len(), 3);
        assert!(chunks
            .iter()
            .all(|c| c.chunks == 3 && c.encode().len() < 2 * MAX_CHUNK_BYTES));
        assert_eq!(chunks.iter().map(|c| c.windows.len()).sum::<usize>(), 5);
        // An empty cut is still one record.
        let empty = Cut {
            topic: 0,
            baselines: Vec::new(),
            partition: 2,
            through_offset: 11,
            windows: Vec::new(),
        };
        let (chunks, _) = chunks_of("t", &empty, names);
        assert_eq!((chunks.len(), chunks[0].windows.len()), (1, 0));
    }

    #[test]
    fn v1_window_frames_read_as_the_default_series_and_garbage_is_refused() {
        #[derive(serde::Serialize)]
        struct V1 {
            partition: i32,
            window_start_ms: i64,
            window_ms: u64,
            kind: SketchKind,
            count: u64,
            #[serde(with = "serde_bytes")]
            sketch: Vec<u8>,
            first_offset: i64,
            last_offset: i64,
        }
        #[derive(serde::Serialize)]
        enum Msg {
            _Hello(()),
            _History(()),
            Window(V1),
        }
        let frame = postcard::to_stdvec(&Msg::Window(V1 {
            partition: 3,
            window_start_ms: 60_000,
            window_ms: 1000,
            kind: SketchKind::Datadog,
            count: 4,
            sketch: vec![1, 2],
            first_offset: 40,
            last_offset: 44,
        }))
        .expect("encodes");
        let cut = LogCut::decode(&frame, "latency-metrics", &key("d")).expect("v1 frame");
        assert_eq!((cut.partition, cut.through_offset, cut.chunks), (3, 44, 1));
        assert_eq!(cut.series, [key("d")]);
        assert_eq!(cut.windows[0].count, 4);
        assert!(LogCut::decode(b"MSS2\xff\xff", "t", &key("d")).is_err());
        assert!(LogCut::decode(b"", "t", &key("d")).is_err());
        let mut bad = LogCut {
            source_topic: "t".into(),
            partition: 0,
            through_offset: 0,
            chunk: 0,
            chunks: 1,
            baselines: Vec::new(),
            units: Vec::new(),
            series: Vec::new(),
            windows: vec![LogWindow {
                series: 3,
                window_start_ms: 0,
                window_ms: 1,
                kind: SketchKind::Datadog,
                count: 0,
                sketch: Vec::new(),
                first_offset: 0,
                last_offset: 0,
            }],
        };
        assert_eq!(
            LogCut::decode(&bad.encode(), "t", &key("d")),
            Err(LogDecodeError::BadSeriesIndex(3, 0))
        );
        bad.windows.clear();
        assert!(LogCut::decode(&bad.encode(), "t", &key("d")).is_ok());
    }
}
