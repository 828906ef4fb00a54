//! The process's series catalog: interns each (metric, sorted tags) once
//! and hands out compact [`SeriesId`]s that the windows, the store and the
//! WebSocket stream carry instead of the names.
//!
//! - Lookup by canonical bytes ([`shared::series::write_canonical`]), so a
//!   decoder that builds them in a reused buffer never allocates for a
//!   series already seen.
//! - `--max-series`: a record of a *new* series past the limit is refused
//!   ([`InternError::Limit`]); ingest counts it as `series_limit`. A view
//!   interns what ingest processes published without a limit.
//! - A series is freed once none of its windows can still be retained
//!   ([`SeriesCatalog::sweep`]); ids are never reused, so a stale id
//!   resolves to nothing rather than to another series.
//! - Source topics get ids the same way ([`TopicId`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

use shared::filter::Filter;
use shared::protocol::{SeriesDef, SeriesId, TopicId};
use shared::series::SeriesKey;

use crate::poisoned_locks::PoisonedLocks;

/// Unit of every value today (latencies).
pub const DEFAULT_UNIT: &str = "ms";

/// Why a series could not be interned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InternError {
    /// `--max-series` series exist already.
    #[error("series limit of {0} reached")]
    Limit(usize),
    /// The catalog's lock was poisoned by a panicking thread.
    #[error("series catalog lock poisoned")]
    Poisoned,
}

#[derive(Debug)]
struct Entry {
    key: Arc<SeriesKey>,
    /// Start of the newest window published for it (event time, ms).
    newest_ms: i64,
}

#[derive(Debug, Default)]
struct Inner {
    by_bytes: HashMap<Box<[u8]>, SeriesId>,
    by_id: HashMap<SeriesId, Entry>,
    next_id: SeriesId,
    topics: Vec<String>,
    /// Units of metrics whose values are not in ms (OTLP metrics of other units).
    units: HashMap<String, String>,
}

/// Most metrics with a unit other than ms.
const MAX_UNITS: usize = 100_000;

/// Every series and source topic this process knows.
#[derive(Debug)]
pub struct SeriesCatalog {
    inner: RwLock<Inner>,
    max_series: Option<usize>,
    /// Bumped whenever a series is freed: per-worker caches of ids check it.
    generation: AtomicU64,
    /// Poisoned locks met (each logged; the work it guarded skipped).
    poisoned: PoisonedLocks,
}

impl SeriesCatalog {
    /// An empty catalog holding at most `max_series` series (`None`: no limit).
    pub fn new(max_series: Option<usize>) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            max_series,
            generation: AtomicU64::new(0),
            poisoned: PoisonedLocks::default(),
        }
    }

    /// The catalog for reading, or `None` (logged, counted) when a
    /// panicking thread poisoned it.
    fn read(&self) -> Option<std::sync::RwLockReadGuard<'_, Inner>> {
        self.inner
            .read()
            .map_err(|_| self.poisoned("lookup skipped"))
            .ok()
    }

    /// The catalog for writing, or `None` (logged, counted) when poisoned;
    /// `skipped` says what was not done.
    fn write(&self, skipped: &str) -> Option<std::sync::RwLockWriteGuard<'_, Inner>> {
        self.inner.write().map_err(|_| self.poisoned(skipped)).ok()
    }

    /// Counts and logs a poisoned catalog lock.
    fn poisoned(&self, skipped: &str) {
        self.poisoned.note("series catalog", skipped);
    }

    /// Poisoned locks this catalog met.
    pub fn poisoned_locks(&self) -> u64 {
        self.poisoned.count()
    }

    /// Changes whenever a series was freed (cached ids may be stale).
    pub fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    /// The id of the series whose canonical bytes are `canonical`, interning
    /// it (built by `build`, called only for a new series) if needed.
    pub fn intern_with(
        &self,
        canonical: &[u8],
        build: impl FnOnce() -> SeriesKey,
    ) -> Result<SeriesId, InternError> {
        {
            let inner = self.read().ok_or(InternError::Poisoned)?;
            if let Some(&id) = inner.by_bytes.get(canonical) {
                return Ok(id);
            }
        }
        let mut inner = self.write("series not interned").ok_or(InternError::Poisoned)?;
        if let Some(&id) = inner.by_bytes.get(canonical) {
            return Ok(id);
        }
        if let Some(max) = self.max_series {
            if inner.by_id.len() >= max {
                return Err(InternError::Limit(max));
            }
        }
        let id = inner.next_id;
        inner.next_id = inner.next_id.wrapping_add(1);
        inner.by_bytes.insert(canonical.into(), id);
        inner.by_id.insert(
            id,
            Entry {
                key: Arc::new(build()),
                newest_ms: i64::MIN,
            },
        );
        Ok(id)
    }

    /// The id of `key`, interned if new.
    pub fn intern(&self, key: &SeriesKey) -> Result<SeriesId, InternError> {
        self.intern_with(&key.canonical(), || key.clone())
    }

    /// The series of `id`, if it is still known.
    pub fn get(&self, id: SeriesId) -> Option<Arc<SeriesKey>> {
        let inner = self.read()?;
        inner.by_id.get(&id).map(|e| e.key.clone())
    }

    /// Notes that a window of `id` starting at `start_ms` was published.
    pub fn touch(&self, ids: impl IntoIterator<Item = (SeriesId, i64)>) {
        let Some(mut inner) = self.write("windows not noted") else {
            return;
        };
        for (id, start) in ids {
            if let Some(e) = inner.by_id.get_mut(&id) {
                e.newest_ms = e.newest_ms.max(start);
            }
        }
    }

    /// Frees every series whose newest window started before `horizon_ms`
    /// (so none of its windows is retained any more); returns how many.
    pub fn sweep(&self, horizon_ms: i64) -> usize {
        let Some(mut inner) = self.write("nothing freed") else {
            return 0;
        };
        // A series interned but not yet published (newest_ms = MIN) is kept.
        let stale: Vec<SeriesId> = inner
            .by_id
            .iter()
            .filter(|(_, e)| e.newest_ms != i64::MIN && e.newest_ms < horizon_ms)
            .map(|(&id, _)| id)
            .collect();
        for id in &stale {
            if let Some(e) = inner.by_id.remove(id) {
                inner.by_bytes.remove(e.key.canonical().as_slice());
            }
        }
        if !stale.is_empty() {
            self.generation.fetch_add(1, Relaxed);
        }
        stale.len()
    }

    /// Series known now.
    pub fn len(&self) -> usize {
        self.read().map_or(0, |i| i.by_id.len())
    }

    /// Whether no series is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The limit (`--max-series`), if any.
    pub fn max_series(&self) -> Option<usize> {
        self.max_series
    }

    /// Ids of the series of `metric` that `filter` matches.
    pub fn matching(&self, metric: &str, filter: &Filter) -> Vec<(SeriesId, Arc<SeriesKey>)> {
        let Some(inner) = self.read() else {
            return Vec::new();
        };
        let mut out: Vec<(SeriesId, Arc<SeriesKey>)> = inner
            .by_id
            .iter()
            .filter(|(_, e)| e.key.metric() == metric && filter.matches(&e.key))
            .map(|(&id, e)| (id, e.key.clone()))
            .collect();
        out.sort_by_key(|(id, _)| *id);
        out
    }

    /// Every series with at least one published window, for `/api/metrics`
    /// (the default series of a process that only sees tagged records is
    /// not listed).
    pub fn published(&self) -> Vec<(SeriesId, Arc<SeriesKey>)> {
        let Some(inner) = self.read() else {
            return Vec::new();
        };
        inner
            .by_id
            .iter()
            .filter(|(_, e)| e.newest_ms != i64::MIN)
            .map(|(&id, e)| (id, e.key.clone()))
            .collect()
    }

    /// The catalog entry of `id` for the WebSocket stream.
    pub fn def(&self, id: SeriesId) -> Option<SeriesDef> {
        let key = SeriesKey::clone(&*self.get(id)?);
        Some(SeriesDef {
            id,
            unit: self.unit_of(key.metric()),
            key,
        })
    }

    /// The unit of `metric`'s values: `ms` unless an OTLP metric said otherwise.
    pub fn unit_of(&self, metric: &str) -> String {
        self.read()
            .and_then(|inner| inner.units.get(metric).cloned())
            .unwrap_or_else(|| DEFAULT_UNIT.to_owned())
    }

    /// Records `unit` as `metric`'s unit; `Err` with the unit it has when
    /// that is another (values of two units never share a sketch).
    pub fn claim_unit(&self, metric: &str, unit: &str) -> Result<(), String> {
        // Per OTLP point: the common case compares under the read lock, allocating nothing.
        if let Some(inner) = self.read() {
            match inner.units.get(metric) {
                Some(u) if u == unit => return Ok(()),
                Some(u) => return Err(u.clone()),
                None => {}
            }
        }
        let Some(mut inner) = self.write(&format!("unit of {metric} not recorded")) else {
            return Err(DEFAULT_UNIT.to_owned());
        };
        if let Some(u) = inner.units.get(metric) {
            return if u == unit { Ok(()) } else { Err(u.clone()) };
        }
        if inner.units.len() >= MAX_UNITS {
            tracing::error!(metric, unit, "too many metrics with their own unit: refused");
            return Err(DEFAULT_UNIT.to_owned());
        }
        inner.units.insert(metric.to_owned(), unit.to_owned());
        Ok(())
    }

    /// The id of source topic `topic`, assigned on first use.
    pub fn topic_id(&self, topic: &str) -> TopicId {
        if let Some(inner) = self.read() {
            if let Some(i) = inner.topics.iter().position(|t| t == topic) {
                return i as TopicId;
            }
        }
        let Some(mut inner) = self.write(&format!("topic {topic} given id 0")) else {
            return 0;
        };
        if let Some(i) = inner.topics.iter().position(|t| t == topic) {
            return i as TopicId;
        }
        inner.topics.push(topic.to_owned());
        (inner.topics.len() - 1) as TopicId
    }

    /// The name of topic `id`.
    pub fn topic(&self, id: TopicId) -> Option<String> {
        self.read()?.topics.get(usize::from(id)).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(metric: &str, route: &str) -> SeriesKey {
        SeriesKey::new(metric, [("route", route)]).expect("valid")
    }

    #[test]
    fn a_poisoned_catalog_is_counted_at_every_use_and_never_panics() {
        let catalog = Arc::new(SeriesCatalog::new(None));
        let id = catalog.intern(&key("http", "/a")).expect("interned");
        let holder = Arc::clone(&catalog);
        let panicked = std::thread::spawn(move || {
            let _guard = holder.inner.write().expect("first lock");
            panic!("a thread dies holding the catalog");
        })
        .join();
        assert!(panicked.is_err());
        assert_eq!(catalog.poisoned_locks(), 0);
        assert!(catalog.get(id).is_none());
        assert!(matches!(
            catalog.intern(&key("http", "/b")),
            Err(InternError::Poisoned)
        ));
        catalog.touch([(id, 1_000)]);
        assert_eq!(catalog.sweep(0), 0);
        assert_eq!(catalog.topic_id("other"), 0);
        assert!(catalog.claim_unit("m", "s").is_err());
        // get, intern (its read), touch, sweep, topic_id (read, then write), claim_unit (read, then write).
        assert_eq!(catalog.poisoned_locks(), 8);
    }

    #[test]
    fn interning_is_stable_limited_and_freed_when_stale() {
        let c = SeriesCatalog::new(Some(2));
        let a = c.intern(&key("m", "/a")).expect("first");
        assert_eq!(c.intern(&key("m", "/a")), Ok(a), "same series, same id");
        let b = c.intern(&key("m", "/b")).expect("second");
        assert_ne!(a, b);
        assert_eq!(c.intern(&key("m", "/c")), Err(InternError::Limit(2)));
        c.touch([(a, 1_000), (b, 5_000)]);
        let generation = c.generation();
        assert_eq!(c.sweep(2_000), 1, "a's newest window is older than the horizon");
        assert_ne!(c.generation(), generation);
        assert!(c.get(a).is_none());
        let d = c.intern(&key("m", "/c")).expect("room again");
        assert!(d != a && d != b, "ids are never reused");
        let f = Filter::parse("route:/c").expect("filter");
        assert_eq!(c.matching("m", &f).len(), 1);
        assert_eq!(c.matching("other", &Filter::default()).len(), 0);
        assert_eq!(c.topic_id("t1"), 0);
        assert_eq!(c.topic_id("t2"), 1);
        assert_eq!(c.topic_id("t1"), 0);
        assert_eq!(c.topic(1).as_deref(), Some("t2"));
    }
}
