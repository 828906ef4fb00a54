//! Putting cuts back together from their chunks, as read from the sketch
//! log, and deciding which complete cuts count.
//!
//! Cuts of one source partition are written in offset order by the
//! partition's owner, so the `through_offset` of the cuts that count grows.
//! The assembler keeps that rule against what a real log can hold:
//! - a chunk written twice (a producer retry after a lost acknowledgement)
//!   is kept once (`duplicate_chunks`);
//! - chunks of two cuts interleaved (a former owner still publishing while
//!   the new one starts) are assembled apart, not dropped together;
//! - a cut left incomplete (its writer died mid-cut) is dropped once a
//!   later cut of the partition completes (`incomplete_cuts`): its records
//!   were consumed again by the next owner and are in that later cut;
//! - a complete cut at or below a `through_offset` already counted adds
//!   nothing new (a copy, or a former owner's late cut) and is skipped
//!   (`stale_cuts`);
//! - a counted cut holding a record at or below the previous cut's
//!   `through_offset` means two owners counted the same records (an owner
//!   that lost the group without knowing): it is counted, and so is the
//!   overlap (`overlapping_cuts`), so the double count is never silent;
//! - a counted cut whose first record is past the previous cut's
//!   `through_offset` + 1 leaves offsets that no cut holds (`gapped_cuts`,
//!   each gap logged under `RUST_LOG=mss::offsets=debug`): records the
//!   consumer rejected, transaction markers — or records nobody counted.

use std::collections::BTreeMap;

use super::record::LogCut;

/// Incomplete cuts kept per source partition before the oldest is dropped
/// (bounds memory against a log full of abandoned cuts).
const MAX_PENDING_CUTS: usize = 64;

/// What the assembler ignored or flagged so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct AssemblyCounts {
    /// Cuts dropped because some chunk never arrived.
    pub incomplete_cuts: u64,
    /// Chunks read a second time and ignored.
    pub duplicate_chunks: u64,
    /// Complete cuts skipped: their `through_offset` was already counted.
    pub stale_cuts: u64,
    /// Counted cuts that repeat records of an earlier cut.
    pub overlapping_cuts: u64,
    /// Chunks whose index is not below their cut's chunk count.
    pub malformed_chunks: u64,
    /// Counted cuts whose first record is past the previous cut's
    /// `through_offset` + 1 (offsets no cut holds).
    pub gapped_cuts: u64,
}

/// One cut being assembled: its chunks by index.
type Pending = BTreeMap<u32, LogCut>;

/// Cut identity within a source partition: `(through_offset, chunks)`.
type CutId = (i64, u32);

/// The assembly state of one source partition.
#[derive(Debug, Default)]
struct PartitionCuts {
    pending: BTreeMap<CutId, Pending>,
    /// `through_offset` of the last cut handed out.
    counted_through: Option<i64>,
}

impl PartitionCuts {
    /// Records the complete `cut` (chunks of one cut, in order): drops the
    /// incomplete cuts it supersedes and flags an overlap with the previous cut.
    fn complete(&mut self, cut: &[LogCut], counts: &mut AssemblyCounts) {
        let Some(first) = cut.first() else { return };
        let through = first.through_offset;
        while let Some(entry) = self.pending.first_entry().filter(|e| e.key().0 < through) {
            let (id, _) = entry.remove_entry();
            counts.incomplete_cuts += 1;
            tracing::warn!(
                topic = %first.source_topic,
                partition = first.partition,
                through = id.0,
                "an incomplete cut in the sketch log (its writer stopped mid-cut): ignored"
            );
        }
        let lowest = cut.iter().flat_map(|c| &c.windows).map(|w| w.first_offset).min();
        if let (Some(previous), Some(lowest)) = (self.counted_through, lowest) {
            if lowest <= previous {
                counts.overlapping_cuts += 1;
                tracing::error!(
                    topic = %first.source_topic,
                    partition = first.partition,
                    previous,
                    lowest,
                    through,
                    "a sketch-log cut repeats records of the previous cut: two owners counted them"
                );
            } else if lowest > previous + 1 {
                counts.gapped_cuts += 1;
                tracing::debug!(
                    target: crate::ingest::OFFSETS,
                    topic = %first.source_topic,
                    partition = first.partition,
                    from = previous + 1,
                    to = lowest - 1,
                    "offsets in no sketch-log cut (rejected records, markers, or uncounted)"
                );
            }
        }
        self.counted_through = Some(through);
    }

    /// Drops the oldest unfinished cuts past [`MAX_PENDING_CUTS`].
    fn bound_pending(&mut self, counts: &mut AssemblyCounts) {
        while self.pending.len() > MAX_PENDING_CUTS && self.pending.pop_first().is_some() {
            counts.incomplete_cuts += 1;
        }
    }
}

/// Warns about a chunk the assembler does not use.
fn warn_ignored(chunk: &LogCut, message: &str) {
    tracing::warn!(
        topic = %chunk.source_topic,
        partition = chunk.partition,
        through = chunk.through_offset,
        chunk = chunk.chunk,
        chunks = chunk.chunks,
        "{message}"
    );
}

/// Collects the chunks of each source partition's cuts and hands out each
/// complete cut once, in the rules of the module documentation.
#[derive(Debug, Default)]
pub struct CutAssembler {
    partitions: BTreeMap<(String, i32), PartitionCuts>,
    counts: AssemblyCounts,
}

impl CutAssembler {
    /// Adds a chunk; returns the chunks of its cut (in order) once complete
    /// and worth counting.
    pub fn push(&mut self, chunk: LogCut) -> Option<Vec<LogCut>> {
        if chunk.chunk >= chunk.chunks {
            self.counts.malformed_chunks += 1;
            warn_ignored(
                &chunk,
                "a sketch-log chunk with an index past its cut's chunk count: ignored",
            );
            return None;
        }
        let state = self
            .partitions
            .entry((chunk.source_topic.clone(), chunk.partition))
            .or_default();
        if state.counted_through.is_some_and(|t| chunk.through_offset <= t) {
            if chunk.is_last_chunk() {
                self.counts.stale_cuts += 1;
                warn_ignored(
                    &chunk,
                    "a sketch-log cut at or below what is already counted: skipped",
                );
            }
            return None;
        }
        let id = (chunk.through_offset, chunk.chunks);
        let pending = state.pending.entry(id).or_default();
        if pending.contains_key(&chunk.chunk) {
            self.counts.duplicate_chunks += 1;
            return None;
        }
        pending.insert(chunk.chunk, chunk);
        if pending.len() < id.1 as usize {
            state.bound_pending(&mut self.counts);
            return None;
        }
        let cut: Vec<LogCut> = state.pending.remove(&id)?.into_values().collect();
        state.complete(&cut, &mut self.counts);
        Some(cut)
    }

    /// Forgets every partition's pending chunks and counted position,
    /// keeping the counts: the sketch log started over (its topic was
    /// recreated with a recreated source topic, whose offsets restart at
    /// 0), so what it holds now is new whatever its offsets.
    pub fn restart(&mut self) {
        let pending: usize = self.partitions.values().map(|p| p.pending.len()).sum();
        self.counts.incomplete_cuts += pending as u64;
        self.partitions.clear();
    }

    /// Everything ignored or flagged so far.
    pub fn counts(&self) -> AssemblyCounts {
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch_log::record::LogWindow;
    use shared::SketchKind;

    fn chunk(partition: i32, through: i64, chunk: u32, chunks: u32) -> LogCut {
        LogCut {
            source_topic: "t".into(),
            partition,
            through_offset: through,
            chunk,
            chunks,
            baselines: Vec::new(),
            units: Vec::new(),
            series: Vec::new(),
            windows: Vec::new(),
        }
    }

    fn with_records(mut c: LogCut, first: i64, last: i64) -> LogCut {
        c.windows.push(LogWindow {
            series: 0,
            window_start_ms: 0,
            window_ms: 1000,
            kind: SketchKind::QuantileFlow,
            count: (last - first + 1) as u64,
            sketch: Vec::new(),
            first_offset: first,
            last_offset: last,
        });
        c
    }

    #[test]
    fn only_complete_cuts_come_out_and_an_abandoned_one_is_dropped() {
        let mut a = CutAssembler::default();
        assert_eq!(a.push(chunk(0, 10, 0, 1)).map(|c| c.len()), Some(1));
        assert!(a.push(chunk(0, 20, 0, 2)).is_none(), "waits for chunk 1");
        assert!(a.push(chunk(1, 5, 0, 1)).is_some(), "partitions are apart");
        // The writer died after chunk 0 of cut 20; the next owner's cut 15 follows.
        assert_eq!(a.push(chunk(0, 15, 0, 1)).map(|c| c[0].through_offset), Some(15));
        assert!(a.push(chunk(0, 30, 1, 2)).is_none(), "a cut without its start");
        assert!(a.push(chunk(0, 40, 0, 2)).is_none());
        assert_eq!(a.push(chunk(0, 40, 1, 2)).map(|c| c.len()), Some(2));
        assert_eq!(
            a.counts().incomplete_cuts,
            2,
            "cut 20 and the headless cut 30, once 40 completed"
        );
    }

    #[test]
    fn a_chunk_written_twice_does_not_lose_or_repeat_its_cut() {
        let mut a = CutAssembler::default();
        assert!(a.push(chunk(0, 10, 0, 3)).is_none());
        assert!(a.push(chunk(0, 10, 1, 3)).is_none());
        assert!(a.push(chunk(0, 10, 1, 3)).is_none(), "a producer retry's copy");
        let cut = a.push(chunk(0, 10, 2, 3)).expect("complete");
        assert_eq!(cut.iter().map(|c| c.chunk).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(a.push(chunk(0, 10, 2, 3)).is_none(), "a copy of the last chunk");
        assert!(a.push(chunk(0, 10, 0, 1)).is_none(), "a copy of a counted cut");
        let counts = a.counts();
        assert_eq!((counts.duplicate_chunks, counts.stale_cuts), (1, 2));
    }

    #[test]
    fn interleaved_cuts_are_assembled_apart_and_a_repeat_is_flagged() {
        let mut a = CutAssembler::default();
        // A former owner's cut (through 20) and the new owner's (through 30,
        // from offset 15) interleave.
        assert!(a.push(with_records(chunk(0, 20, 0, 2), 11, 18)).is_none());
        assert!(a.push(with_records(chunk(0, 30, 0, 2), 15, 25)).is_none());
        assert!(a.push(with_records(chunk(0, 20, 1, 2), 19, 20)).is_some());
        assert!(a.push(with_records(chunk(0, 30, 1, 2), 26, 30)).is_some());
        let counts = a.counts();
        assert_eq!((counts.incomplete_cuts, counts.overlapping_cuts), (0, 1));
    }

    #[test]
    fn a_cut_starting_past_the_next_offset_is_flagged_as_gapped() {
        let mut a = CutAssembler::default();
        assert!(a.push(with_records(chunk(0, 20, 0, 1), 0, 20)).is_some());
        assert!(a.push(with_records(chunk(0, 30, 0, 1), 21, 30)).is_some());
        assert_eq!(a.counts().gapped_cuts, 0, "contiguous");
        assert!(a.push(with_records(chunk(0, 40, 0, 1), 35, 40)).is_some());
        assert_eq!(a.counts().gapped_cuts, 1, "31..=34 in no cut");
    }

    #[test]
    fn after_a_restart_of_the_log_low_offsets_count_again() {
        let mut a = CutAssembler::default();
        assert!(a.push(chunk(0, 5_000, 0, 1)).is_some());
        assert!(a.push(chunk(0, 6_000, 0, 2)).is_none(), "left pending");
        assert!(
            a.push(with_records(chunk(0, 40, 0, 1), 0, 40)).is_none(),
            "stale before"
        );
        a.restart();
        let cut = a.push(with_records(chunk(0, 40, 0, 1), 0, 40));
        assert!(cut.is_some(), "new after the restart");
        let counts = a.counts();
        assert_eq!(
            (counts.stale_cuts, counts.incomplete_cuts, counts.overlapping_cuts),
            (1, 1, 0)
        );
    }

    #[test]
    fn a_chunk_index_past_the_count_is_refused_and_pending_cuts_are_bounded() {
        let mut a = CutAssembler::default();
        assert!(a.push(chunk(0, 10, 5, 2)).is_none());
        assert_eq!(a.counts().malformed_chunks, 1);
        for through in 0..(MAX_PENDING_CUTS as i64 + 10) {
            assert!(a.push(chunk(0, through, 0, u32::MAX)).is_none());
        }
        assert_eq!(a.counts().incomplete_cuts, 10);
    }
}
