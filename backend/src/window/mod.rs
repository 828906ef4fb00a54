//! Processing-time windows of sketches, per partition.
//!
//! Every good record goes into the open window of its partition, once per
//! enabled sketch kind. Windows are aligned to the wall clock (start =
//! `now − now mod window`), so windows of different partitions line up and
//! can be merged. A window closes when a record arrives after its end, when
//! the ticker finds it expired, on partition revocation, or at shutdown; it
//! is then encoded into one [`ClosedWindow`] per kind. The offsets a closed
//! window covers are what the consumer commits: a record's offset is
//! committed only once its window has closed and been published.

pub mod store;

use std::sync::Arc;

use shared::{Sketch, SketchKind, SketchParams};

use crate::profile::{self, Stage};

/// One closed window of one partition and one sketch kind: the unit the
/// serving layer stores and streams (the wire protocol's type).
pub use shared::protocol::WindowSnapshot as ClosedWindow;

/// The window being filled.
#[derive(Debug)]
struct OpenWindow {
    start_ms: i64,
    first_offset: i64,
    last_offset: i64,
    count: u64,
}

/// The windows of one partition.
#[derive(Debug)]
pub struct PartitionWindows {
    /// Kafka partition.
    partition: i32,
    /// Window length.
    window_ms: u64,
    /// One sketch per enabled kind, reused across windows.
    sketches: Vec<Sketch>,
    /// The window being filled, if any record arrived since the last close.
    open: Option<OpenWindow>,
    /// Next offset to commit: one past the last offset of the last closed window.
    commit_offset: Option<i64>,
    /// Highest offset seen.
    last_offset: Option<i64>,
    /// Good records inserted.
    pub messages: u64,
    /// Set when the partition is revoked: later records are ignored.
    pub revoked: bool,
    /// Latest block id and latency, with the time they arrived.
    pub current: Option<(String, f64, i64)>,
}

impl PartitionWindows {
    /// Windows of `window_ms` for `partition`, one sketch per kind.
    pub fn new(
        partition: i32,
        window_ms: u64,
        kinds: &[SketchKind],
        params: &SketchParams,
    ) -> anyhow::Result<Self> {
        let sketches = kinds
            .iter()
            .map(|&k| Sketch::new(k, params))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            partition,
            window_ms: window_ms.max(1),
            sketches,
            open: None,
            commit_offset: None,
            last_offset: None,
            messages: 0,
            revoked: false,
            current: None,
        })
    }

    /// Start of the window `now_ms` falls in.
    pub fn window_start(&self, now_ms: i64) -> i64 {
        let w = self.window_ms as i64;
        now_ms - now_ms.rem_euclid(w)
    }

    /// Inserts a good record at `offset`; returns the previous window if it
    /// had to close first.
    #[inline]
    pub fn insert(
        &mut self,
        offset: i64,
        block_id: &str,
        latency: f64,
        now_ms: i64,
    ) -> Option<Vec<ClosedWindow>> {
        let closed = self.advance(offset, now_ms);
        // Latencies are validated (finite, ≥ 0, bounded) before they get here.
        if profile::enabled() {
            for s in &mut self.sketches {
                let t = profile::start();
                let _ = s.insert(latency);
                profile::record(Stage::Insert(s.kind()), t);
            }
        } else {
            for s in &mut self.sketches {
                let _ = s.insert(latency);
            }
        }
        if let Some(open) = &mut self.open {
            open.count += 1;
        }
        self.messages += 1;
        match &mut self.current {
            Some((id, v, t)) => {
                id.clear();
                id.push_str(block_id);
                *v = latency;
                *t = now_ms;
            }
            None => self.current = Some((block_id.to_owned(), latency, now_ms)),
        }
        closed
    }

    /// Accounts for a record that was rejected (its offset still counts as
    /// processed); returns the previous window if it had to close first.
    pub fn skip(&mut self, offset: i64, now_ms: i64) -> Option<Vec<ClosedWindow>> {
        self.advance(offset, now_ms)
    }

    fn advance(&mut self, offset: i64, now_ms: i64) -> Option<Vec<ClosedWindow>> {
        let start = self.window_start(now_ms);
        let closed = match &self.open {
            Some(open) if open.start_ms != start => self.close(),
            _ => None,
        };
        let open = self.open.get_or_insert(OpenWindow {
            start_ms: start,
            first_offset: offset,
            last_offset: offset,
            count: 0,
        });
        open.first_offset = open.first_offset.min(offset);
        open.last_offset = open.last_offset.max(offset);
        self.last_offset = Some(self.last_offset.map_or(offset, |l| l.max(offset)));
        closed
    }

    /// Closes the open window if its end has passed.
    pub fn close_expired(&mut self, now_ms: i64) -> Option<Vec<ClosedWindow>> {
        match &self.open {
            Some(open) if open.start_ms + self.window_ms as i64 <= now_ms => self.close(),
            _ => None,
        }
    }

    /// Closes the open window now (revocation, shutdown).
    pub fn close(&mut self) -> Option<Vec<ClosedWindow>> {
        let open = self.open.take()?;
        let t = profile::start();
        self.commit_offset = Some(open.last_offset + 1);
        let windows = self
            .sketches
            .iter_mut()
            .map(|s| {
                let w = ClosedWindow {
                    partition: self.partition,
                    window_start_ms: open.start_ms,
                    window_ms: self.window_ms,
                    kind: s.kind(),
                    sketch: s.encode(),
                    count: s.count(),
                    first_offset: open.first_offset,
                    last_offset: open.last_offset,
                };
                s.reset();
                w
            })
            .collect();
        profile::record(Stage::WindowClose, t);
        Some(windows)
    }

    /// Offset to commit (one past the last record of a closed window).
    pub fn commit_offset(&self) -> Option<i64> {
        self.commit_offset
    }

    /// Highest offset seen.
    pub fn last_offset(&self) -> Option<i64> {
        self.last_offset
    }

    /// Starts after `offset`: records at or below it were already counted
    /// by this process (the partition was revoked and assigned back).
    pub fn resume_after(&mut self, offset: i64) {
        self.last_offset = Some(offset);
    }

    /// Whether a record at `offset` was already counted here.
    pub fn already_counted(&self, offset: i64) -> bool {
        self.last_offset.is_some_and(|last| offset <= last)
    }

    /// The open window's sketch of `kind`, if it holds values.
    pub fn open_sketch(&self, kind: SketchKind) -> Option<&Sketch> {
        self.open.as_ref()?;
        self.sketches.iter().find(|s| s.kind() == kind && !s.is_empty())
    }

    /// Kafka partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }
}

/// A closed window with its WebSocket frame, encoded once when published
/// and shared by the store and every subscriber.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedWindow {
    /// The window.
    pub window: ClosedWindow,
    /// `ServerMessage::Window(window)` as frame bytes.
    pub frame: bytes::Bytes,
}

impl PublishedWindow {
    /// Encodes the frame of `window`.
    pub fn new(window: ClosedWindow) -> Self {
        let frame = shared::protocol::window_frame(&window).into();
        Self { window, frame }
    }
}

impl std::ops::Deref for PublishedWindow {
    type Target = ClosedWindow;

    fn deref(&self) -> &ClosedWindow {
        &self.window
    }
}

/// A published window shared between the store and every subscriber.
pub type SharedWindow = Arc<PublishedWindow>;

#[cfg(test)]
mod tests {
    use super::*;

    fn windows() -> PartitionWindows {
        PartitionWindows::new(3, 1000, &SketchKind::ALL, &SketchParams::default()).expect("valid")
    }

    #[test]
    fn a_window_closes_when_a_later_record_arrives_and_covers_its_offsets() {
        let mut w = windows();
        assert!(w.insert(10, "b", 5.0, 1_000).is_none());
        assert!(w.skip(11, 1_500).is_none());
        assert!(w.insert(12, "b", 7.0, 1_999).is_none());
        assert_eq!(
            w.commit_offset(),
            None,
            "nothing committed while the window is open"
        );
        let closed = w.insert(13, "c", 9.0, 2_000).expect("window [1000, 2000) closes");
        assert_eq!(closed.len(), 4);
        for c in &closed {
            assert_eq!((c.partition, c.window_start_ms, c.count), (3, 1_000, 2));
            assert_eq!((c.first_offset, c.last_offset), (10, 12));
            let s = Sketch::decode_kind(c.kind, &c.sketch).expect("decodes");
            assert_eq!(s.count(), 2);
        }
        assert_eq!(w.commit_offset(), Some(13));
        assert!(w.close_expired(2_500).is_none());
        let last = w.close_expired(3_000).expect("expired");
        assert_eq!(last[0].count, 1);
        assert_eq!(w.commit_offset(), Some(14));
        assert_eq!(w.messages, 3);
    }

    #[test]
    fn a_partition_assigned_back_recognises_records_it_already_counted() {
        let mut w = windows();
        w.resume_after(41);
        assert!(w.already_counted(40));
        assert!(w.already_counted(41));
        assert!(!w.already_counted(42));
        w.insert(42, "b", 1.0, 5_000);
        assert!(w.already_counted(42));
    }
}
