//! OTLP data points as `mss` series: which points are distributions, their
//! series (metric name + tags), their stream identity, and their values.
//!
//! - Metric name → `metric`; the point's attributes plus the resource
//!   attributes named by `--otlp-resource-tags` → tags (non-string values
//!   written as text, empty values left out).
//! - A *stream* is the full identity, before any tag selection: every
//!   resource attribute, the scope's name and version, the metric name and
//!   kind, every point attribute. Its 64-bit FNV-1a hash keys the
//!   cumulative baselines ([`super::temporality`]).
//! - Units: time units become ms (`ns`, `us`, `ms`, `s`, `min`, `h`; an empty
//!   unit is taken as `ms`); any other unit of printable ASCII up to
//!   [`MAX_UNIT_LEN`] bytes (`By`, `1`, `{request}`) is kept as it is and
//!   shown; anything else is refused as `bad_unit`.
//! - Gauge, Sum and Summary points are refused as `unsupported_point`.

use super::proto::{self, AnyValue, KeyValue, MetricData, Value};
use crate::record::{ms_per_unit, RejectReason};

/// Default `--otlp-resource-tags`.
pub const DEFAULT_RESOURCE_TAGS: &str =
    "service.name,service.namespace,service.version,deployment.environment,host.name";

/// Which resource attributes become tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceTags {
    /// Every resource attribute (`*`).
    All,
    /// These keys only.
    Only(Vec<String>),
}

impl ResourceTags {
    /// Parses `--otlp-resource-tags`: `*`, or keys separated by commas.
    pub fn parse(text: &str) -> Self {
        if text.trim() == "*" {
            return ResourceTags::All;
        }
        ResourceTags::Only(
            text.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    fn keeps(&self, key: &str) -> bool {
        match self {
            ResourceTags::All => true,
            ResourceTags::Only(keys) => keys.iter().any(|k| k == key),
        }
    }
}

impl Default for ResourceTags {
    fn default() -> Self {
        Self::parse(DEFAULT_RESOURCE_TAGS)
    }
}

/// Aggregation temporality of a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporality {
    /// The point holds the values of its own interval.
    Delta,
    /// The point holds every value since `start_time_unix_nano`.
    Cumulative,
}

/// The buckets of one point, in the client's own units.
#[derive(Debug, Clone, PartialEq)]
pub enum Buckets<'a> {
    /// Explicit bounds: `counts.len() == bounds.len() + 1`.
    Explicit {
        /// Upper bounds, increasing, finite.
        bounds: &'a [f64],
        /// Counts per bucket.
        counts: &'a [u64],
    },
    /// Base-2 exponential buckets.
    Exponential {
        /// `base = 2^(2^−scale)`.
        scale: i32,
        /// Values in the zero bucket.
        zero_count: u64,
        /// First positive bucket index and the counts from it.
        positive: (i32, &'a [u64]),
        /// First negative bucket index and the counts from it.
        negative: (i32, &'a [u64]),
    },
}

/// One distribution point, ready for the window of its series.
#[derive(Debug, Clone, PartialEq)]
pub struct Point<'a> {
    /// Metric name.
    pub metric: &'a str,
    /// Tags (point attributes, then the selected resource attributes).
    pub tags: Vec<(String, String)>,
    /// Hash of the full stream identity.
    pub stream: u64,
    /// Milliseconds per unit of the client's values.
    pub ms_per_unit: f64,
    /// The unit its values are shown in (`ms` for time units).
    pub unit: &'a str,
    /// Delta or cumulative.
    pub temporality: Temporality,
    /// Start of the point's interval, Unix ns.
    pub start_ns: u64,
    /// End of the point's interval (the event time), Unix ns.
    pub time_ns: u64,
    /// Values in the point.
    pub count: u64,
    /// Smallest and largest value, when the client sent them.
    pub min_max: (Option<f64>, Option<f64>),
    /// The buckets.
    pub buckets: Buckets<'a>,
}

/// Every data point of a request: good distribution points, and the
/// refused ones with their reason.
pub fn points_of<'a>(
    request: &'a proto::ExportMetricsServiceRequest,
    resource_tags: &ResourceTags,
    mut each: impl FnMut(Result<Point<'a>, RejectReason>),
) {
    for rm in &request.resource_metrics {
        let resource: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| r.attributes.as_slice());
        let mut resource_hash = Fnv::new();
        hash_attributes(&mut resource_hash, resource);
        let kept: Vec<(String, String)> = resource
            .iter()
            .filter(|kv| resource_tags.keeps(&kv.key))
            .filter_map(tag_of)
            .collect();
        for sm in &rm.scope_metrics {
            let mut scope_hash = resource_hash.clone();
            if let Some(scope) = &sm.scope {
                scope_hash.write_field(scope.name.as_bytes());
                scope_hash.write_field(scope.version.as_bytes());
            }
            for metric in &sm.metrics {
                metric_points(metric, &scope_hash, &kept, &mut each);
            }
        }
    }
}

/// Data points of a request (for counting what a receiver refuses).
pub fn count_points(request: &proto::ExportMetricsServiceRequest) -> u64 {
    let mut n = 0;
    points_of(request, &ResourceTags::All, |_| n += 1);
    n
}

fn metric_points<'a>(
    metric: &'a proto::Metric,
    scope_hash: &Fnv,
    resource_tags: &[(String, String)],
    each: &mut impl FnMut(Result<Point<'a>, RejectReason>),
) {
    let unsupported = |n: usize, each: &mut dyn FnMut(Result<Point<'a>, RejectReason>)| {
        (0..n).for_each(|_| each(Err(RejectReason::UnsupportedPoint)));
    };
    let scale = unit_of(&metric.unit);
    let mut hash = scope_hash.clone();
    hash.write_field(metric.name.as_bytes());
    match &metric.data {
        None => {}
        Some(MetricData::Gauge(p) | MetricData::Sum(p) | MetricData::Summary(p)) => {
            unsupported(p.data_points.len(), each)
        }
        Some(MetricData::Histogram(h)) => {
            hash.write_field(b"histogram");
            for dp in &h.data_points {
                let of = |unit| PointOf::new(metric, h.aggregation_temporality, &hash, resource_tags, unit);
                each(scale.and_then(|unit| of(unit).explicit(dp)));
            }
        }
        Some(MetricData::ExponentialHistogram(h)) => {
            hash.write_field(b"exponential_histogram");
            for dp in &h.data_points {
                let of = |unit| PointOf::new(metric, h.aggregation_temporality, &hash, resource_tags, unit);
                each(scale.and_then(|unit| of(unit).exponential(dp)));
            }
        }
    }
}

fn temporality_of(value: i32) -> Result<Temporality, RejectReason> {
    match value {
        proto::TEMPORALITY_DELTA => Ok(Temporality::Delta),
        proto::TEMPORALITY_CUMULATIVE => Ok(Temporality::Cumulative),
        _ => Err(RejectReason::Malformed),
    }
}

/// What every point of one metric shares.
struct PointOf<'a, 'h> {
    metric: &'a proto::Metric,
    temporality: Result<Temporality, RejectReason>,
    hash: &'h Fnv,
    resource_tags: &'h [(String, String)],
    ms_per_unit: f64,
    unit: &'a str,
}

impl<'a, 'h> PointOf<'a, 'h> {
    fn new(
        metric: &'a proto::Metric,
        temporality: i32,
        hash: &'h Fnv,
        resource_tags: &'h [(String, String)],
        (ms_per_unit, unit): (f64, &'a str),
    ) -> Self {
        Self {
            metric,
            temporality: temporality_of(temporality),
            hash,
            resource_tags,
            ms_per_unit,
            unit,
        }
    }

    fn explicit(&self, dp: &'a proto::HistogramDataPoint) -> Result<Point<'a>, RejectReason> {
        let temporality = self.temporality?;
        check_explicit(dp)?;
        let buckets = Buckets::Explicit {
            bounds: &dp.explicit_bounds,
            counts: &dp.bucket_counts,
        };
        let times = (dp.start_time_unix_nano, dp.time_unix_nano);
        self.point(
            temporality,
            &dp.attributes,
            times,
            dp.count,
            (dp.min, dp.max),
            buckets,
        )
    }

    fn exponential(&self, dp: &'a proto::ExponentialHistogramDataPoint) -> Result<Point<'a>, RejectReason> {
        let temporality = self.temporality?;
        check_exponential(dp)?;
        let buckets = Buckets::Exponential {
            scale: dp.scale,
            zero_count: dp.zero_count,
            positive: side(&dp.positive),
            negative: side(&dp.negative),
        };
        let times = (dp.start_time_unix_nano, dp.time_unix_nano);
        self.point(
            temporality,
            &dp.attributes,
            times,
            dp.count,
            (dp.min, dp.max),
            buckets,
        )
    }

    /// A checked point: its stream hash (the metric's plus every
    /// attribute), tags and times.
    fn point(
        &self,
        temporality: Temporality,
        attributes: &[KeyValue],
        (start_ns, time_ns): (u64, u64),
        count: u64,
        (min, max): (Option<f64>, Option<f64>),
        buckets: Buckets<'a>,
    ) -> Result<Point<'a>, RejectReason> {
        let mut stream = self.hash.clone();
        hash_attributes(&mut stream, attributes);
        Ok(Point {
            metric: &self.metric.name,
            tags: tags_of(attributes, self.resource_tags),
            stream: stream.finish(),
            ms_per_unit: self.ms_per_unit,
            unit: self.unit,
            temporality,
            start_ns,
            time_ns,
            count,
            min_max: finite_min_max(min, max)?,
            buckets,
        })
    }
}

/// Checks an explicit-bounds point: finite increasing bounds, one more
/// count than bounds, counts adding up to `count`, finite `min`/`max`.
pub fn check_explicit(dp: &proto::HistogramDataPoint) -> Result<(), RejectReason> {
    let bounds = dp.explicit_bounds.as_slice();
    if bounds.iter().any(|b| !b.is_finite()) {
        return Err(RejectReason::NotFinite);
    }
    if bounds.windows(2).any(|w| w[0] >= w[1]) || dp.bucket_counts.len() != bounds.len() + 1 {
        return Err(RejectReason::BadBuckets);
    }
    finite_min_max(dp.min, dp.max)?;
    check_count(dp.count, [dp.bucket_counts.as_slice()], 0)
}

fn side(b: &Option<proto::Buckets>) -> (i32, &[u64]) {
    b.as_ref()
        .map_or((0, &[][..]), |b| (b.offset, b.bucket_counts.as_slice()))
}

/// Checks an exponential point: scale in −10..=20, bucket indices within
/// `i32`, counts adding up to `count`, finite `min`/`max`.
pub fn check_exponential(dp: &proto::ExponentialHistogramDataPoint) -> Result<(), RejectReason> {
    if !(-10..=20).contains(&dp.scale) {
        return Err(RejectReason::BadBuckets);
    }
    let (positive, negative) = (side(&dp.positive), side(&dp.negative));
    for (offset, counts) in [positive, negative] {
        if i64::from(offset) + counts.len() as i64 > i64::from(i32::MAX) {
            return Err(RejectReason::BadBuckets);
        }
    }
    finite_min_max(dp.min, dp.max)?;
    check_count(dp.count, [positive.1, negative.1], dp.zero_count)
}

/// Longest unit kept as it is (UCUM units are short: `By`, `1`, `{request}`).
pub const MAX_UNIT_LEN: usize = 32;

/// How a metric's values are read: `(factor to the shown unit, shown
/// unit)`. Time units become ms (an empty unit is taken as ms); any other
/// unit of printable ASCII up to [`MAX_UNIT_LEN`] bytes is kept (factor 1).
pub fn unit_of(unit: &str) -> Result<(f64, &str), RejectReason> {
    if unit.is_empty() {
        return Ok((1.0, crate::series::DEFAULT_UNIT));
    }
    if let Some(ms) = ms_per_unit(unit) {
        return Ok((ms, crate::series::DEFAULT_UNIT));
    }
    if unit.len() <= MAX_UNIT_LEN && unit.bytes().all(|b| b.is_ascii_graphic()) {
        Ok((1.0, unit))
    } else {
        Err(RejectReason::BadUnit)
    }
}

/// Checks a metric's name, unit and temporality (what every point shares).
pub fn check_metric(metric: &proto::Metric, temporality: i32) -> Result<(), RejectReason> {
    shared::series::validate_metric(&metric.name).map_err(|e| RejectReason::of_series(&e))?;
    unit_of(&metric.unit)?;
    temporality_of(temporality).map(|_| ())
}

/// The point's `count` must equal the sum of its buckets (no overflow).
fn check_count<const N: usize>(count: u64, parts: [&[u64]; N], extra: u64) -> Result<(), RejectReason> {
    let mut total = extra;
    for part in parts {
        for &c in part {
            total = total.checked_add(c).ok_or(RejectReason::BadBuckets)?;
        }
    }
    if total == count {
        Ok(())
    } else {
        Err(RejectReason::BadBuckets)
    }
}

fn finite_min_max(min: Option<f64>, max: Option<f64>) -> Result<(Option<f64>, Option<f64>), RejectReason> {
    if min.is_some_and(|v| !v.is_finite()) || max.is_some_and(|v| !v.is_finite()) {
        return Err(RejectReason::NotFinite);
    }
    Ok((min, max))
}

fn tags_of(attributes: &[KeyValue], resource_tags: &[(String, String)]) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = attributes.iter().filter_map(tag_of).collect();
    for (k, v) in resource_tags {
        if !tags.iter().any(|(key, _)| key == k) {
            tags.push((k.clone(), v.clone()));
        }
    }
    tags
}

/// An attribute as a tag; `None` for an empty value.
fn tag_of(kv: &KeyValue) -> Option<(String, String)> {
    let text = kv.value.as_ref().map(text_of).unwrap_or_default();
    (!text.is_empty()).then(|| (kv.key.clone(), text))
}

/// An attribute value as text (arrays and lists in a JSON-like form).
fn text_of(value: &AnyValue) -> String {
    match &value.value {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BytesValue(b)) => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(b)
        }
        Some(Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(text_of).collect();
            format!("[{}]", items.join(","))
        }
        Some(Value::KvlistValue(l)) => {
            let items: Vec<String> = l
                .values
                .iter()
                .map(|kv| {
                    format!(
                        "{}={}",
                        kv.key,
                        kv.value.as_ref().map(text_of).unwrap_or_default()
                    )
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
    }
}

/// Hashes attributes in key order (an exporter may send them in any order).
fn hash_attributes(hash: &mut Fnv, attributes: &[KeyValue]) {
    let mut sorted: Vec<(&str, String)> = attributes
        .iter()
        .map(|kv| {
            (
                kv.key.as_str(),
                kv.value.as_ref().map(text_of).unwrap_or_default(),
            )
        })
        .collect();
    sorted.sort();
    hash.write_field(&(sorted.len() as u64).to_le_bytes());
    for (k, v) in sorted {
        hash.write_field(k.as_bytes());
        hash.write_field(v.as_bytes());
    }
}

/// The Kafka key of a resource's records: the hash of its attributes, so
/// one stream always lands in one partition.
pub fn resource_key(resource: Option<&proto::Resource>) -> [u8; 8] {
    let mut hash = Fnv::new();
    hash_attributes(&mut hash, resource.map_or(&[], |r| r.attributes.as_slice()));
    hash.finish().to_be_bytes()
}

/// 64-bit FNV-1a: stable across builds and versions (the baselines it keys
/// outlive a process in the sketch log).
#[derive(Debug, Clone)]
pub struct Fnv(u64);

impl Fnv {
    /// The offset basis.
    pub fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    /// Feeds a length-prefixed field (so `"ab","c"` and `"a","bc"` differ).
    pub fn write_field(&mut self, bytes: &[u8]) {
        self.write(&(bytes.len() as u32).to_le_bytes());
        self.write(bytes);
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The hash.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv {
    fn default() -> Self {
        Self::new()
    }
}
