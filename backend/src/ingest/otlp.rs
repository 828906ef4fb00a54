//! The consumer's OTLP path: one Kafka record holds an
//! `ExportMetricsServiceRequest` with many data points. Every point is
//! checked (time, series) first; then the partition advances once to the
//! record's newest event time (a cut, if due, is made before the record,
//! never between its points); then each point's delta (see
//! [`crate::otlp::temporality`]) goes into its window as weighted values.

use std::borrow::Cow;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;

use shared::protocol::SeriesId;

use super::Pipeline;
use crate::otlp::points::{self, Point};
use crate::otlp::temporality::Change;
use crate::otlp::{self, values};
use crate::profile::{self, Stage};
use crate::record::{RejectReason, SeriesRef, TagBuf};
use crate::stats::RejectSource;
use crate::window::PartitionWindows;

/// A point that passed the checks: its series and event time.
struct Accepted<'a> {
    series: SeriesId,
    event_ms: i64,
    point: Point<'a>,
}

impl Pipeline {
    /// Decodes and inserts one OTLP record of a partition at `offset`.
    pub(super) fn ingest_otlp(
        &self,
        windows: &Mutex<PartitionWindows>,
        offset: i64,
        payload: Option<&[u8]>,
        record_ms: Option<i64>,
    ) {
        let now = self.now_ms();
        let t = profile::start();
        let request = payload.map(otlp::decode_protobuf);
        profile::record(Stage::Decode, t);
        let Some(mut w) = self.windows_for_record(windows, offset) else {
            return;
        };
        let Some(Ok(request)) = request else {
            self.reject_payload(RejectReason::Malformed);
            w.skip(offset, now);
            return;
        };
        let mut accepted = Vec::new();
        points::points_of(&request, &self.config.otlp_resource_tags, |point| {
            match point.and_then(|p| self.accept_point(&mut w, p, record_ms.unwrap_or(now), now)) {
                Ok(a) => accepted.push(a),
                Err(reason) => self.reject_payload(reason),
            }
        });
        let cut = accepted
            .iter()
            .map(|a| a.event_ms)
            .max()
            .and_then(|e| w.advance(e));
        let fresh_ns = self.config.max_lateness_ms.saturating_mul(1_000_000);
        for a in accepted {
            self.insert_point(&mut w, offset, a, fresh_ns);
        }
        w.finish_record(offset, now);
        if let Some(cut) = cut {
            self.publish(cut);
        }
    }

    /// Checks a point's time and series.
    fn accept_point<'a>(
        &self,
        w: &mut PartitionWindows,
        point: Point<'a>,
        default_ms: i64,
        now: i64,
    ) -> Result<Accepted<'a>, RejectReason> {
        let event_ms = match point.time_ns {
            0 => default_ms,
            ns => i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX),
        };
        w.check_time(event_ms, now)?;
        let tags = TagBuf::from_pairs(
            point
                .tags
                .iter()
                .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str()))),
        );
        tags.check()?;
        let series = self.resolve(
            &mut w.series_cache,
            SeriesRef::Named {
                metric: Cow::Borrowed(point.metric),
                tags,
            },
        )?;
        if let Err(has) = self.catalog.claim_unit(point.metric, point.unit) {
            tracing::debug!(
                metric = point.metric,
                unit = point.unit,
                has,
                "a point in another unit than its metric's: refused"
            );
            return Err(RejectReason::BadUnit);
        }
        Ok(Accepted {
            series,
            event_ms,
            point,
        })
    }

    /// Inserts a point's delta (or nothing for a duplicate).
    fn insert_point(&self, w: &mut PartitionWindows, offset: i64, a: Accepted<'_>, fresh_ns: u64) {
        match w.baselines.observe(&a.point, fresh_ns) {
            Change::Insert(counts) => {
                let weighted = values::weighted(&counts, a.point.min_max, a.point.ms_per_unit);
                for &(reason, n) in &weighted.refused {
                    self.stats.reject_many(RejectSource::Payload, reason, n);
                }
                w.insert_weighted(offset, a.series, a.event_ms, &weighted.values);
                self.stats.messages.fetch_add(weighted.count(), Relaxed);
                self.stats.otlp_points.fetch_add(1, Relaxed);
            }
            Change::Duplicate => {
                self.stats.otlp_duplicates.fetch_add(1, Relaxed);
            }
            Change::BaselineOnly => {
                self.stats.otlp_baseline_only.fetch_add(1, Relaxed);
            }
        }
    }
}
