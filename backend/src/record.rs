//! The Kafka record: what `mss produce` writes and `mss consume` reads.
//!
//! Three value formats, one decoder ([`decode`]):
//! - the series record
//!   `{"metric":"http.server.duration","tags":{"service":"checkout"},"value":12.5,"ts_ms":1764072000000}`
//!   (`unit` optional, default `ms`; time units `ns`, `us`, `ms`, `s`,
//!   `min`, `h` are converted to ms; `block_id` optional, shown as the
//!   "current block");
//! - the HDFS record `{"block_id":"blk_-1608999687919862906","latency":131.0,"ts_ms":1764072000000}`;
//! - a bare number (`131.0`).
//!
//! The last two belong to the consumer's default series (`--metric` with
//! the `--tag`s); the block id then comes from the key when the value has
//! none. Keys are otherwise only used for partitioning.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use shared::series::{SeriesError, MAX_TAGS};

/// One latency measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyRecord {
    /// HDFS block id (`blk_...`).
    pub block_id: String,
    /// Latency in milliseconds: finite and ≥ 0.
    pub latency: f64,
    /// Produce time, Unix epoch milliseconds.
    #[serde(default)]
    pub ts_ms: i64,
}

/// Largest latency accepted (every sketch kind can hold it, HDR included).
pub const MAX_LATENCY: f64 = 1e12;

/// Why a value was refused, as counted in the stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// A required field (BlockId, Latency) is missing or empty.
    MissingField,
    /// The latency is not a number.
    NonNumeric,
    /// The latency is NaN or infinite.
    NotFinite,
    /// The latency is negative.
    Negative,
    /// The latency is above [`MAX_LATENCY`].
    OutOfRange,
    /// The CSV row has a different number of columns than the header.
    WrongColumnCount,
    /// The Kafka payload is neither the JSON record nor a bare number.
    Malformed,
    /// The metric name breaks the naming rules.
    BadMetric,
    /// A tag key or value breaks the naming rules (or is not a string).
    BadTag,
    /// More than 16 tags.
    TooManyTags,
    /// A new series past `--max-series`.
    SeriesLimit,
    /// Event time older than the watermark minus `--max-lateness`.
    Late,
    /// Event time more than a minute ahead of the wall clock.
    Future,
    /// A `unit` that is not a time unit.
    BadUnit,
    /// An OTLP Gauge, Sum or Summary point (not a distribution).
    UnsupportedPoint,
    /// OTLP buckets that do not add up to the point's count, bounds out of
    /// order, or a scale out of range.
    BadBuckets,
    /// An offset of a batch the consumer cannot decode (a corrupt or
    /// undecompressable batch): skipped so the partition goes on.
    Unreadable,
}

impl RejectReason {
    /// Every reason, for stable output order.
    pub const ALL: [RejectReason; 17] = [
        RejectReason::MissingField,
        RejectReason::NonNumeric,
        RejectReason::NotFinite,
        RejectReason::Negative,
        RejectReason::OutOfRange,
        RejectReason::WrongColumnCount,
        RejectReason::Malformed,
        RejectReason::BadMetric,
        RejectReason::BadTag,
        RejectReason::TooManyTags,
        RejectReason::SeriesLimit,
        RejectReason::Late,
        RejectReason::Future,
        RejectReason::BadUnit,
        RejectReason::UnsupportedPoint,
        RejectReason::BadBuckets,
        RejectReason::Unreadable,
    ];

    /// Snake-case name used in JSON and metrics.
    pub fn name(self) -> &'static str {
        match self {
            RejectReason::MissingField => "missing_field",
            RejectReason::NonNumeric => "non_numeric",
            RejectReason::NotFinite => "not_finite",
            RejectReason::Negative => "negative",
            RejectReason::OutOfRange => "out_of_range",
            RejectReason::WrongColumnCount => "wrong_column_count",
            RejectReason::Malformed => "malformed",
            RejectReason::BadMetric => "bad_metric",
            RejectReason::BadTag => "bad_tag",
            RejectReason::TooManyTags => "too_many_tags",
            RejectReason::SeriesLimit => "series_limit",
            RejectReason::Late => "late",
            RejectReason::Future => "future",
            RejectReason::BadUnit => "bad_unit",
            RejectReason::UnsupportedPoint => "unsupported_point",
            RejectReason::BadBuckets => "bad_buckets",
            RejectReason::Unreadable => "unreadable",
        }
    }

    /// The reason for a series naming error.
    pub fn of_series(e: &SeriesError) -> Self {
        match e {
            SeriesError::BadMetric(_) => RejectReason::BadMetric,
            SeriesError::BadTag(_) => RejectReason::BadTag,
            SeriesError::TooManyTags(_) => RejectReason::TooManyTags,
        }
    }

    /// Index into per-reason counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Checks a parsed latency.
pub fn validate_latency(latency: f64) -> Result<f64, RejectReason> {
    if !latency.is_finite() {
        Err(RejectReason::NotFinite)
    } else if latency < 0.0 {
        Err(RejectReason::Negative)
    } else if latency > MAX_LATENCY {
        Err(RejectReason::OutOfRange)
    } else {
        Ok(latency)
    }
}

/// Parses a latency field's text.
pub fn parse_latency(text: &str) -> Result<f64, RejectReason> {
    let text = text.trim();
    if text.is_empty() {
        return Err(RejectReason::MissingField);
    }
    let v: f64 = text.parse().map_err(|_| RejectReason::NonNumeric)?;
    validate_latency(v)
}

/// Up to [`MAX_TAGS`] tags of a record, borrowed from its bytes where no
/// JSON escape forces a copy: decoding a record allocates nothing for the
/// tags. More tags, or a value that is not a string, are remembered as such
/// (rejected as `too_many_tags` / `bad_tag` by the caller).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TagBuf<'a> {
    tags: [(Cow<'a, str>, Cow<'a, str>); MAX_TAGS],
    len: usize,
    /// Tags seen in all (may exceed [`MAX_TAGS`]).
    seen: usize,
    /// A tag value was not a string.
    not_string: bool,
}

impl<'a> TagBuf<'a> {
    /// The tags kept, in record order.
    pub fn as_slice(&self) -> &[(Cow<'a, str>, Cow<'a, str>)] {
        &self.tags[..self.len]
    }

    /// Sorts the tags by key (the series' canonical order).
    pub fn sort(&mut self) {
        self.tags[..self.len].sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }

    /// Checks count and kinds; the names are checked by the caller.
    pub fn check(&self) -> Result<(), RejectReason> {
        if self.seen > MAX_TAGS {
            Err(RejectReason::TooManyTags)
        } else if self.not_string {
            Err(RejectReason::BadTag)
        } else {
            Ok(())
        }
    }

    /// Tags from pairs (e.g. an OTLP point's attributes).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>) -> Self {
        let mut buf = TagBuf::default();
        for (k, v) in pairs {
            buf.push(k, Some(v));
        }
        buf
    }

    fn push(&mut self, key: Cow<'a, str>, value: Option<Cow<'a, str>>) {
        self.seen += 1;
        match value {
            None => self.not_string = true,
            Some(v) if self.len < MAX_TAGS => {
                self.tags[self.len] = (key, v);
                self.len += 1;
            }
            Some(_) => {}
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for TagBuf<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = TagBuf<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of string tags")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut buf = TagBuf::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let value = map.next_value::<TagValue<'de>>()?;
                    buf.push(key, value.0);
                }
                Ok(buf)
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// A tag value: a string, or anything else (remembered as not a string).
struct TagValue<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for TagValue<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Any<'a> {
            Str(#[serde(borrow)] Cow<'a, str>),
            Other(serde::de::IgnoredAny),
        }
        Ok(match Any::deserialize(d)? {
            Any::Str(s) => TagValue(Some(s)),
            Any::Other(_) => TagValue(None),
        })
    }
}

/// Which series a record belongs to.
// `Named` is large (16 borrowed tags) on purpose: boxing it would allocate
// for every record.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesRef<'a> {
    /// An HDFS record or a bare number: the consumer's `--metric`/`--tag`.
    Default,
    /// A series record's own metric and tags (not validated yet).
    Named {
        /// Metric name.
        metric: Cow<'a, str>,
        /// Tags in record order.
        tags: TagBuf<'a>,
    },
}

/// The parts of a payload the consumer needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<'a> {
    /// The record's series.
    pub series: SeriesRef<'a>,
    /// Block id from the JSON, or from the key for bare numbers ("" if none).
    pub block_id: Cow<'a, str>,
    /// Validated value, in ms.
    pub latency: f64,
    /// Event time if the record carries one.
    pub ts_ms: Option<i64>,
}

#[derive(Deserialize)]
struct Borrowed<'a> {
    #[serde(borrow, default)]
    block_id: Option<Cow<'a, str>>,
    #[serde(default)]
    latency: Option<serde_json::Value>,
    #[serde(borrow, default)]
    metric: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tags: Option<TagBuf<'a>>,
    #[serde(default)]
    value: Option<serde_json::Value>,
    #[serde(borrow, default)]
    unit: Option<Cow<'a, str>>,
    #[serde(default)]
    ts_ms: Option<i64>,
}

/// Milliseconds per unit of a time unit name (`None`: not a time unit).
pub fn ms_per_unit(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1e-6,
        "us" | "\u{b5}s" => 1e-3,
        "ms" => 1.0,
        "s" => 1_000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return None,
    })
}

/// A JSON value that should be a number (strings like "12.5" or "NaN" are
/// parsed, then validated).
fn number(value: Option<serde_json::Value>) -> Result<f64, RejectReason> {
    match value {
        None | Some(serde_json::Value::Null) => Err(RejectReason::MissingField),
        Some(serde_json::Value::Number(n)) => n.as_f64().ok_or(RejectReason::NonNumeric),
        Some(serde_json::Value::String(s)) => s.trim().parse().map_err(|_| RejectReason::NonNumeric),
        Some(_) => Err(RejectReason::NonNumeric),
    }
}

/// Whether `s` is a JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_json_number(s: &[u8]) -> bool {
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while s.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    if s.get(i) == Some(&b'-') {
        i += 1;
    }
    match s.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == s.len()
}

/// The record exactly as `encode` writes it —
/// `{"block_id":"…","latency":N,"ts_ms":N}`, no escapes, no spaces — read
/// without a JSON parser. `None` for anything else (the general decoder
/// then decides), so both paths agree on every input this one accepts.
fn decode_canonical(text: &str) -> Option<Decoded<'_>> {
    let rest = text.strip_prefix("{\"block_id\":\"")?;
    let end = rest.find('"')?;
    let (block_id, rest) = rest.split_at(end);
    if block_id.bytes().any(|b| b == b'\\' || b < 0x20) {
        return None;
    }
    let rest = rest.strip_prefix("\",\"latency\":")?;
    let end = rest.find(',')?;
    let (latency, rest) = rest.split_at(end);
    if !is_json_number(latency.as_bytes()) {
        return None;
    }
    let ts = rest.strip_prefix(",\"ts_ms\":")?.strip_suffix('}')?;
    if !is_json_number(ts.as_bytes()) {
        return None;
    }
    Some(Decoded {
        series: SeriesRef::Default,
        block_id: Cow::Borrowed(block_id),
        latency: latency.parse().ok()?,
        // Not an i64 (fraction, exponent, overflow): the general decoder decides.
        ts_ms: Some(ts.parse().ok()?),
    })
}

/// A JSON string's text up to its closing quote when it holds no escape or
/// control character (else `None`: the JSON parser decides), and the rest
/// after the quote.
fn plain_string(s: &str) -> Option<(&str, &str)> {
    let end = s.find('"')?;
    let (text, rest) = s.split_at(end);
    if text.bytes().any(|b| b == b'\\' || b < 0x20) {
        return None;
    }
    Some((text, &rest[1..]))
}

/// The tags object of a canonical series record, after its `{`.
fn canonical_tags(mut rest: &str) -> Option<(TagBuf<'_>, &str)> {
    let mut tags = TagBuf::default();
    if let Some(after) = rest.strip_prefix('}') {
        return Some((tags, after));
    }
    loop {
        let (key, after) = plain_string(rest.strip_prefix('"')?)?;
        let (value, after) = plain_string(after.strip_prefix(":\"")?)?;
        tags.push(Cow::Borrowed(key), Some(Cow::Borrowed(value)));
        match after.strip_prefix(',') {
            Some(next) => rest = next,
            None => return Some((tags, after.strip_prefix('}')?)),
        }
    }
}

/// The series record exactly as [`encode_series_into`] writes it —
/// `{"metric":"…","tags":{"k":"v",…},"value":N,"ts_ms":N[,"block_id":"…"]}`,
/// no escapes, no spaces — read without a JSON parser (the block id is
/// `key_id` when the record has none, as in the general decoder). `None`
/// for anything else (the general decoder then decides), so both paths
/// agree on every input this one accepts.
fn decode_canonical_series<'a>(text: &'a str, key_id: &'a str) -> Option<Decoded<'a>> {
    let (metric, rest) = plain_string(text.strip_prefix("{\"metric\":\"")?)?;
    let (tags, rest) = canonical_tags(rest.strip_prefix(",\"tags\":{")?)?;
    let rest = rest.strip_prefix(",\"value\":")?;
    let (value, rest) = rest.split_at(rest.find(',')?);
    let rest = rest.strip_prefix(",\"ts_ms\":")?;
    let (ts, block_id) = match rest.find(',') {
        None => (rest.strip_suffix('}')?, key_id),
        Some(i) => {
            let (ts, tail) = rest.split_at(i);
            let (id, tail) = plain_string(tail.strip_prefix(",\"block_id\":\"")?)?;
            if tail != "}" {
                return None;
            }
            (ts, id)
        }
    };
    if !is_json_number(value.as_bytes()) || !is_json_number(ts.as_bytes()) {
        return None;
    }
    Some(Decoded {
        series: SeriesRef::Named {
            metric: Cow::Borrowed(metric),
            tags,
        },
        block_id: Cow::Borrowed(block_id),
        latency: value.parse().ok()?,
        // Not an i64 (fraction, exponent, overflow): the general decoder decides.
        ts_ms: Some(ts.parse().ok()?),
    })
}

/// Decodes a record value (series record, HDFS record or bare number)
/// with its key.
pub fn decode<'a>(key: Option<&'a [u8]>, value: Option<&'a [u8]>) -> Result<Decoded<'a>, RejectReason> {
    let value = value.ok_or(RejectReason::Malformed)?;
    let text = std::str::from_utf8(value).map_err(|_| RejectReason::Malformed)?;
    let key_id = key.and_then(|k| std::str::from_utf8(k).ok()).unwrap_or("");
    if let Some(d) = decode_canonical(text).or_else(|| decode_canonical_series(text, key_id)) {
        if let SeriesRef::Named { tags, .. } = &d.series {
            tags.check()?;
        }
        return Ok(Decoded {
            latency: validate_latency(d.latency)?,
            ..d
        });
    }
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        let rec: Borrowed<'a> = serde_json::from_str(text).map_err(|_| RejectReason::Malformed)?;
        let block_id = rec.block_id.unwrap_or(Cow::Borrowed(key_id));
        let Some(metric) = rec.metric else {
            return Ok(Decoded {
                series: SeriesRef::Default,
                block_id,
                latency: validate_latency(number(rec.latency)?)?,
                ts_ms: rec.ts_ms,
            });
        };
        let scale = match rec.unit.as_deref() {
            None => 1.0,
            Some(u) => ms_per_unit(u).ok_or(RejectReason::BadUnit)?,
        };
        let tags = rec.tags.unwrap_or_default();
        tags.check()?;
        Ok(Decoded {
            series: SeriesRef::Named { metric, tags },
            block_id,
            latency: validate_latency(number(rec.value)? * scale)?,
            ts_ms: rec.ts_ms,
        })
    } else {
        let latency = trimmed
            .trim()
            .parse::<f64>()
            .map_err(|_| RejectReason::Malformed)?;
        Ok(Decoded {
            series: SeriesRef::Default,
            block_id: Cow::Borrowed(key_id),
            latency: validate_latency(latency)?,
            ts_ms: None,
        })
    }
}

/// Encodes a record value.
pub fn encode(record: &LatencyRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    encode_into(record, &mut out);
    out
}

/// Appends a record value to `out` (the producer reuses one buffer).
pub fn encode_into(record: &LatencyRecord, out: &mut Vec<u8>) {
    // Serializing a struct of a string, a finite f64 and an i64 into a Vec cannot fail.
    let _ = serde_json::to_writer(out, record);
}

/// A series record to encode (`mss produce` of tagged rows).
#[derive(Debug, Clone, Copy)]
pub struct SeriesRecord<'a> {
    /// Metric name.
    pub metric: &'a str,
    /// Tags (any order).
    pub tags: &'a [(String, String)],
    /// Value in ms.
    pub value: f64,
    /// Event time, Unix epoch ms.
    pub ts_ms: i64,
    /// HDFS block id (the "current block" display), if any.
    pub block_id: Option<&'a str>,
}

/// Appends a series record value to `out`:
/// `{"metric":..,"tags":{..},"value":..,"ts_ms":..[,"block_id":..]}`.
pub fn encode_series_into(record: &SeriesRecord<'_>, out: &mut Vec<u8>) {
    // Strings and finite numbers into a Vec: serde_json cannot fail here.
    out.extend_from_slice(b"{\"metric\":");
    let _ = serde_json::to_writer(&mut *out, record.metric);
    out.extend_from_slice(b",\"tags\":{");
    for (i, (k, v)) in record.tags.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = serde_json::to_writer(&mut *out, k);
        out.push(b':');
        let _ = serde_json::to_writer(&mut *out, v);
    }
    out.extend_from_slice(b"},\"value\":");
    let _ = serde_json::to_writer(&mut *out, &record.value);
    out.extend_from_slice(b",\"ts_ms\":");
    let _ = serde_json::to_writer(&mut *out, &record.ts_ms);
    if let Some(id) = record.block_id {
        out.extend_from_slice(b",\"block_id\":");
        let _ = serde_json::to_writer(&mut *out, id);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The general (serde) path alone, to compare the fast path with.
    fn decode_general<'a>(value: &'a str) -> Result<Decoded<'a>, RejectReason> {
        let rec: Borrowed<'a> = serde_json::from_str(value).map_err(|_| RejectReason::Malformed)?;
        let latency = match rec.latency {
            Some(serde_json::Value::Number(n)) => n.as_f64().ok_or(RejectReason::NonNumeric)?,
            _ => return Err(RejectReason::NonNumeric),
        };
        Ok(Decoded {
            series: SeriesRef::Default,
            block_id: rec.block_id.unwrap_or_default(),
            latency: validate_latency(latency)?,
            ts_ms: rec.ts_ms,
        })
    }

    #[test]
    fn the_canonical_fast_path_agrees_with_the_json_parser() {
        let mut state = 0x1234_5678_u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state
        };
        for i in 0..20_000u64 {
            let bits = next();
            let latency = match i % 4 {
                0 => (bits >> 11) as f64 / (1u64 << 53) as f64 * 1e5,
                1 => ((bits >> 20) % 100_000) as f64 / 100.0,
                // Log-uniform over 1e-9 … 1e12 ms, every digit count and exponent form.
                2 => 10f64.powf((bits >> 11) as f64 / (1u64 << 53) as f64 * 21.0 - 9.0),
                _ => (bits % 1000) as f64 * 1e-7,
            };
            let rec = LatencyRecord {
                block_id: format!("blk_{}", bits as i64),
                latency,
                ts_ms: (bits >> 1) as i64 * if i % 2 == 0 { 1 } else { -1 },
            };
            let bytes = encode(&rec);
            let text = std::str::from_utf8(&bytes).expect("utf-8");
            let fast = decode_canonical(text).expect("our own encoding takes the fast path");
            let general = decode_general(text).expect("valid record");
            assert_eq!(
                (&fast.block_id, fast.ts_ms),
                (&general.block_id, general.ts_ms),
                "{text}"
            );
            // Both read back exactly what was written (serde_json with `float_roundtrip`).
            assert_eq!(fast.latency.to_bits(), rec.latency.to_bits(), "{text}");
            assert_eq!(fast.latency.to_bits(), general.latency.to_bits(), "{text}");
        }
        // Anything else is left to the JSON parser.
        for other in [
            r#"{"latency":1.5,"block_id":"blk","ts_ms":1}"#,
            r#"{"block_id":"b\"x","latency":1.5,"ts_ms":1}"#,
            r#"{"block_id":"b","latency":01.5,"ts_ms":1}"#,
            r#"{"block_id":"b","latency":1.,"ts_ms":1}"#,
            r#"{"block_id":"b","latency":+1,"ts_ms":1}"#,
            r#"{"block_id":"b","latency":1.5,"ts_ms":1.5}"#,
            r#"{"block_id":"b","latency":1.5,"ts_ms":99999999999999999999}"#,
            r#"{"block_id":"b","latency":"1.5","ts_ms":1}"#,
            r#"{"block_id":"b", "latency":1.5,"ts_ms":1}"#,
        ] {
            assert_eq!(decode_canonical(other), None, "{other}");
        }
        assert!(
            is_json_number(b"-0.5e+10")
                && is_json_number(b"0")
                && !is_json_number(b"-")
                && !is_json_number(b"1e")
        );
    }

    #[test]
    fn json_and_bare_numbers_decode() {
        let rec = LatencyRecord {
            block_id: "blk_1".into(),
            latency: 131.5,
            ts_ms: 42,
        };
        let bytes = encode(&rec);
        let d = decode(Some(b"blk_1"), Some(&bytes)).expect("valid");
        assert_eq!((&*d.block_id, d.latency, d.ts_ms), ("blk_1", 131.5, Some(42)));
        assert_eq!(d.series, SeriesRef::Default);
        let d = decode(Some(b"blk_2"), Some(b" 7.25 ")).expect("bare number");
        assert_eq!((&*d.block_id, d.latency), ("blk_2", 7.25));
        assert_eq!(d.series, SeriesRef::Default);
    }

    /// The general (serde) path alone for series records.
    fn decode_general_series<'a>(value: &'a str, key_id: &'a str) -> Option<Decoded<'a>> {
        let rec: Borrowed<'a> = serde_json::from_str(value).ok()?;
        Some(Decoded {
            series: SeriesRef::Named {
                metric: rec.metric?,
                tags: rec.tags.unwrap_or_default(),
            },
            block_id: rec.block_id.unwrap_or(Cow::Borrowed(key_id)),
            latency: number(rec.value).ok()?,
            ts_ms: rec.ts_ms,
        })
    }

    #[test]
    fn the_canonical_series_fast_path_agrees_with_the_json_parser() {
        let mut state = 0x9e37_79b9_u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> 11
        };
        for i in 0..5_000u64 {
            let tags: Vec<(String, String)> = (0..next() % 5)
                .map(|t| (format!("k{t}"), format!("v/{}", next() % 100)))
                .collect();
            let value = (next() % 1_000_000) as f64 / 7.0;
            let block = format!("blk_{}", next());
            let record = SeriesRecord {
                metric: "http.server.duration",
                tags: &tags,
                value,
                ts_ms: 1_764_072_000_000 + (next() % 100_000) as i64,
                block_id: (i % 2 == 0).then_some(block.as_str()),
            };
            let mut bytes = Vec::new();
            encode_series_into(&record, &mut bytes);
            let text = std::str::from_utf8(&bytes).expect("utf-8");
            let fast = decode_canonical_series(text, "key").expect("our own encoding takes the fast path");
            assert_eq!(Some(fast), decode_general_series(text, "key"), "{text}");
        }
        for other in [
            r#"{"metric":"m","tags":{},"value":1,"ts_ms":1,"unit":"s"}"#,
            r#"{"metric":"m","tags":{"a":"b\"c"},"value":1,"ts_ms":1}"#,
            r#"{"metric":"m","tags":{"a":1},"value":1,"ts_ms":1}"#,
            r#"{"metric":"m","tags":{},"value":"1","ts_ms":1}"#,
            r#"{"metric":"m","tags":{},"value":1,"ts_ms":1,"block_id":"b"} "#,
            r#"{"metric":"m", "tags":{},"value":1,"ts_ms":1}"#,
        ] {
            assert_eq!(decode_canonical_series(other, ""), None, "{other}");
        }
        // Through `decode`: 17 tags on the fast path are still refused.
        let many: Vec<(String, String)> = (0..17).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        let mut bytes = Vec::new();
        encode_series_into(
            &SeriesRecord {
                metric: "m",
                tags: &many,
                value: 1.0,
                ts_ms: 1,
                block_id: None,
            },
            &mut bytes,
        );
        assert_eq!(decode(None, Some(&bytes)).err(), Some(RejectReason::TooManyTags));
    }

    #[test]
    fn series_records_decode_with_their_metric_tags_and_unit() {
        let tags = vec![
            ("service".to_owned(), "checkout".to_owned()),
            ("route".to_owned(), "/pay\"x".to_owned()),
        ];
        let mut bytes = Vec::new();
        encode_series_into(
            &SeriesRecord {
                metric: "http.server.duration",
                tags: &tags,
                value: 12.5,
                ts_ms: 1_764_072_000_000,
                block_id: None,
            },
            &mut bytes,
        );
        let d = decode(Some(b"any key"), Some(&bytes)).expect("valid");
        let SeriesRef::Named { metric, mut tags } = d.series else {
            panic!("a named series: {bytes:?}");
        };
        assert_eq!(metric, "http.server.duration");
        tags.sort();
        let got: Vec<(&str, &str)> = tags.as_slice().iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(got, [("route", "/pay\"x"), ("service", "checkout")]);
        assert_eq!((d.latency, d.ts_ms), (12.5, Some(1_764_072_000_000)));
        let d = decode(None, Some(br#"{"metric":"m","value":1.5,"unit":"s"}"#)).expect("seconds");
        assert_eq!(d.latency, 1_500.0, "converted to ms");
        let cases: [(&[u8], RejectReason); 5] = [
            (
                br#"{"metric":"m","value":1,"unit":"bytes"}"#,
                RejectReason::BadUnit,
            ),
            (
                br#"{"metric":"m","tags":{"a":1},"value":1}"#,
                RejectReason::BadTag,
            ),
            (br#"{"metric":"m","value":-1}"#, RejectReason::Negative),
            (br#"{"metric":"m"}"#, RejectReason::MissingField),
            (br#"{"metric":"m","tags":[1],"value":1}"#, RejectReason::Malformed),
        ];
        for (payload, reason) in cases {
            assert_eq!(decode(None, Some(payload)).err(), Some(reason), "{payload:?}");
        }
        let many: Vec<String> = (0..17).map(|i| format!("\"k{i}\":\"v\"")).collect();
        let payload = format!(r#"{{"metric":"m","tags":{{{}}},"value":1}}"#, many.join(","));
        assert_eq!(
            decode(None, Some(payload.as_bytes())).err(),
            Some(RejectReason::TooManyTags)
        );
    }

    #[test]
    fn garbage_is_rejected_with_a_reason() {
        let cases: [(&[u8], RejectReason); 8] = [
            (b"\xff\xfe", RejectReason::Malformed),
            (b"{not json", RejectReason::Malformed),
            (b"hello", RejectReason::Malformed),
            (br#"{"block_id":"b"}"#, RejectReason::MissingField),
            (br#"{"latency":"abc"}"#, RejectReason::NonNumeric),
            (br#"{"latency":"NaN"}"#, RejectReason::NotFinite),
            (br#"{"latency":-1}"#, RejectReason::Negative),
            (b"1e300", RejectReason::OutOfRange),
        ];
        for (payload, reason) in cases {
            assert_eq!(decode(None, Some(payload)).err(), Some(reason), "{payload:?}");
        }
        assert_eq!(decode(None, None).err(), Some(RejectReason::Malformed));
    }
}
