//! The part of OTLP's metrics protocol `mss` reads, as prost messages that
//! also deserialize from OTLP's JSON mapping (lowerCamelCase names, 64-bit
//! integers as strings or numbers, enums as integers).
//!
//! Field numbers are those of `opentelemetry-proto` (`collector/metrics/v1`,
//! `metrics/v1`, `common/v1`, `resource/v1`). Fields `mss` has no use for
//! (exemplars, flags, schema URLs, descriptions) are skipped by both
//! decoders. Gauge, Sum and Summary points are decoded only far enough to
//! be counted: they are refused as `unsupported_point`.

use serde::{Deserialize, Deserializer};

/// `ExportMetricsServiceRequest`: what an exporter sends and what the
/// receiver writes to Kafka, one resource per record.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExportMetricsServiceRequest {
    /// Metrics grouped by the resource that produced them.
    #[prost(message, repeated, tag = "1")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

/// `ExportMetricsServiceResponse`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportMetricsServiceResponse {
    /// Set when some data points were refused.
    #[prost(message, optional, tag = "1")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial_success: Option<ExportMetricsPartialSuccess>,
}

/// `ExportMetricsPartialSuccess`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportMetricsPartialSuccess {
    /// Data points refused by the receiver.
    #[prost(int64, tag = "1")]
    #[serde(serialize_with = "ser_i64_string")]
    pub rejected_data_points: i64,
    /// Why, for a human.
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `google.rpc.Status`, the body of an OTLP error response.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
pub struct Status {
    /// gRPC status code (3: invalid argument, 8: resource exhausted).
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// What was wrong.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// `ResourceMetrics`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceMetrics {
    /// The producing entity (its attributes, e.g. `service.name`).
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// Metrics grouped by instrumentation scope.
    #[prost(message, repeated, tag = "2")]
    pub scope_metrics: Vec<ScopeMetrics>,
}

/// `Resource`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Resource {
    /// Resource attributes.
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

/// `ScopeMetrics`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScopeMetrics {
    /// The instrumentation scope (library) that recorded the metrics.
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// The metrics.
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
}

/// `InstrumentationScope`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InstrumentationScope {
    /// Scope name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Scope version.
    #[prost(string, tag = "2")]
    pub version: String,
}

/// `Metric`: a name, a unit and one kind of data.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(try_from = "MetricFields")]
pub struct Metric {
    /// Metric name (`metric` of the series).
    #[prost(string, tag = "1")]
    pub name: String,
    /// UCUM unit (`ms`, `s`, `By`, …).
    #[prost(string, tag = "3")]
    pub unit: String,
    /// The data: only histograms are distributions.
    #[prost(oneof = "MetricData", tags = "5, 7, 9, 10, 11")]
    pub data: Option<MetricData>,
}

/// `Metric` as OTLP/JSON spells it: each kind of data its own field. A
/// malformed data field fails the whole body (a flattened `Option` would
/// have dropped it silently, as a metric with no points).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct MetricFields {
    name: String,
    unit: String,
    gauge: Option<CountedPoints>,
    sum: Option<CountedPoints>,
    histogram: Option<Histogram>,
    exponential_histogram: Option<ExponentialHistogram>,
    summary: Option<CountedPoints>,
}

impl TryFrom<MetricFields> for Metric {
    type Error = String;

    fn try_from(f: MetricFields) -> Result<Self, String> {
        let data = at_most_one(
            [
                f.gauge.map(MetricData::Gauge),
                f.sum.map(MetricData::Sum),
                f.histogram.map(MetricData::Histogram),
                f.exponential_histogram.map(MetricData::ExponentialHistogram),
                f.summary.map(MetricData::Summary),
            ],
            "metric data (gauge, sum, histogram, exponentialHistogram, summary)",
        )?;
        Ok(Metric {
            name: f.name,
            unit: f.unit,
            data,
        })
    }
}

/// The one `Some` of a JSON oneof's fields; an error naming `what` when
/// several are set.
fn at_most_one<T>(options: impl IntoIterator<Item = Option<T>>, what: &str) -> Result<Option<T>, String> {
    let mut set = options.into_iter().flatten();
    let first = set.next();
    match set.next() {
        Some(_) => Err(format!("more than one {what} set")),
        None => Ok(first),
    }
}

/// `Metric.data`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum MetricData {
    /// A gauge (not a distribution).
    #[prost(message, tag = "5")]
    Gauge(CountedPoints),
    /// A sum (not a distribution).
    #[prost(message, tag = "7")]
    Sum(CountedPoints),
    /// Explicit-bucket histogram.
    #[prost(message, tag = "9")]
    Histogram(Histogram),
    /// Base-2 exponential histogram.
    #[prost(message, tag = "10")]
    ExponentialHistogram(ExponentialHistogram),
    /// Client-side quantiles (cannot be merged).
    #[prost(message, tag = "11")]
    Summary(CountedPoints),
}

/// Data points of a kind `mss` does not read, decoded only to count them.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CountedPoints {
    /// The points, contents skipped.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<Opaque>,
}

/// A message whose fields are skipped.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
pub struct Opaque {}

/// `AggregationTemporality::AGGREGATION_TEMPORALITY_DELTA`.
pub const TEMPORALITY_DELTA: i32 = 1;
/// `AggregationTemporality::AGGREGATION_TEMPORALITY_CUMULATIVE`.
pub const TEMPORALITY_CUMULATIVE: i32 = 2;

/// `Histogram` (explicit bounds).
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Histogram {
    /// The points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<HistogramDataPoint>,
    /// 1 delta, 2 cumulative.
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
}

/// `HistogramDataPoint`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HistogramDataPoint {
    /// Point attributes (tags).
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    /// Start of the aggregation interval.
    #[prost(fixed64, tag = "2")]
    #[serde(deserialize_with = "de_u64")]
    pub start_time_unix_nano: u64,
    /// End of the aggregation interval: the event time.
    #[prost(fixed64, tag = "3")]
    #[serde(deserialize_with = "de_u64")]
    pub time_unix_nano: u64,
    /// Values in the point (must equal the sum of `bucket_counts`).
    #[prost(fixed64, tag = "4")]
    #[serde(deserialize_with = "de_u64")]
    pub count: u64,
    /// Sum of the values, when known.
    #[prost(double, optional, tag = "5")]
    #[serde(deserialize_with = "de_opt_f64")]
    pub sum: Option<f64>,
    /// Counts per bucket: one more than `explicit_bounds`.
    #[prost(fixed64, repeated, tag = "6")]
    #[serde(deserialize_with = "de_u64_vec")]
    pub bucket_counts: Vec<u64>,
    /// Upper bounds (inclusive) of every bucket but the last, increasing.
    #[prost(double, repeated, tag = "7")]
    #[serde(deserialize_with = "de_f64_vec")]
    pub explicit_bounds: Vec<f64>,
    /// Smallest value, when known.
    #[prost(double, optional, tag = "11")]
    #[serde(deserialize_with = "de_opt_f64")]
    pub min: Option<f64>,
    /// Largest value, when known.
    #[prost(double, optional, tag = "12")]
    #[serde(deserialize_with = "de_opt_f64")]
    pub max: Option<f64>,
}

/// `ExponentialHistogram`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExponentialHistogram {
    /// The points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<ExponentialHistogramDataPoint>,
    /// 1 delta, 2 cumulative.
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
}

/// `ExponentialHistogramDataPoint`: bucket `i` of scale `s` holds
/// `(base^i, base^(i+1)]` with `base = 2^(2^−s)`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExponentialHistogramDataPoint {
    /// Point attributes (tags).
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
    /// Start of the aggregation interval.
    #[prost(fixed64, tag = "2")]
    #[serde(deserialize_with = "de_u64")]
    pub start_time_unix_nano: u64,
    /// End of the aggregation interval: the event time.
    #[prost(fixed64, tag = "3")]
    #[serde(deserialize_with = "de_u64")]
    pub time_unix_nano: u64,
    /// Values in the point.
    #[prost(fixed64, tag = "4")]
    #[serde(deserialize_with = "de_u64")]
    pub count: u64,
    /// Sum of the values, when known.
    #[prost(double, optional, tag = "5")]
    #[serde(deserialize_with = "de_opt_f64")]
    pub sum: Option<f64>,
    /// Resolution: `base = 2^(2^−scale)`.
    #[prost(sint32, tag = "6")]
    pub scale: i32,
    /// Values within `zero_threshold` of zero.
    #[prost(fixed64, tag = "7")]
    #[serde(deserialize_with = "de_u64")]
    pub zero_count: u64,
    /// Buckets of positive values.
    #[prost(message, optional, tag = "8")]
    pub positive: Option<Buckets>,
    /// Buckets of negative values (by magnitude).
    #[prost(message, optional, tag = "9")]
    pub negative: Option<Buckets>,
    /// Smallest value, when known.
    #[prost(double, optional, tag = "12")]
    #[serde(deserialize_with = "de_opt_f64")]
    pub min: Option<f64>,
    /// Largest value, when known.
    #[prost(double, optional, tag = "13")]
    #[serde(deserialize_with = "de_opt_f64")]
    pub max: Option<f64>,
    /// Width of the zero bucket.
    #[prost(double, tag = "14")]
    #[serde(deserialize_with = "de_f64")]
    pub zero_threshold: f64,
}

/// `ExponentialHistogramDataPoint.Buckets`: counts of consecutive buckets
/// starting at index `offset`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Buckets {
    /// Index of the first bucket.
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    /// Counts of buckets `offset`, `offset + 1`, ….
    #[prost(uint64, repeated, tag = "2")]
    #[serde(deserialize_with = "de_u64_vec")]
    pub bucket_counts: Vec<u64>,
}

/// `KeyValue`: an attribute.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyValue {
    /// Attribute name.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Attribute value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// `AnyValue`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(try_from = "AnyValueFields")]
pub struct AnyValue {
    /// One of the value kinds (none: an empty value).
    #[prost(oneof = "Value", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<Value>,
}

/// `AnyValue` as OTLP/JSON spells it (a malformed value fails the body,
/// as for [`MetricFields`]).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct AnyValueFields {
    string_value: Option<String>,
    bool_value: Option<bool>,
    #[serde(deserialize_with = "de_opt_i64")]
    int_value: Option<i64>,
    #[serde(deserialize_with = "de_opt_f64")]
    double_value: Option<f64>,
    array_value: Option<ArrayValue>,
    kvlist_value: Option<KeyValueList>,
    #[serde(deserialize_with = "de_opt_base64")]
    bytes_value: Option<Vec<u8>>,
}

impl TryFrom<AnyValueFields> for AnyValue {
    type Error = String;

    fn try_from(f: AnyValueFields) -> Result<Self, String> {
        let value = at_most_one(
            [
                f.string_value.map(Value::StringValue),
                f.bool_value.map(Value::BoolValue),
                f.int_value.map(Value::IntValue),
                f.double_value.map(Value::DoubleValue),
                f.array_value.map(Value::ArrayValue),
                f.kvlist_value.map(Value::KvlistValue),
                f.bytes_value.map(Value::BytesValue),
            ],
            "attribute value kind",
        )?;
        Ok(AnyValue { value })
    }
}

/// `AnyValue.value`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Value {
    /// A string.
    #[prost(string, tag = "1")]
    StringValue(String),
    /// A boolean.
    #[prost(bool, tag = "2")]
    BoolValue(bool),
    /// An integer.
    #[prost(int64, tag = "3")]
    IntValue(i64),
    /// A double.
    #[prost(double, tag = "4")]
    DoubleValue(f64),
    /// A list of values.
    #[prost(message, tag = "5")]
    ArrayValue(ArrayValue),
    /// A list of key-value pairs.
    #[prost(message, tag = "6")]
    KvlistValue(KeyValueList),
    /// Bytes (base64 in JSON).
    #[prost(bytes, tag = "7")]
    BytesValue(Vec<u8>),
}

/// `ArrayValue`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArrayValue {
    /// The values.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

/// `KeyValueList`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyValueList {
    /// The pairs.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

/// A JSON number or a string holding one (proto3 JSON writes 64-bit
/// integers as strings; doubles may be `"NaN"`, `"Infinity"`, `"-Infinity"`).
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText<T> {
    Number(T),
    Text(String),
}

fn parse_text<T: std::str::FromStr, E: serde::de::Error>(text: &str) -> Result<T, E> {
    text.trim().parse().map_err(|_| {
        E::custom(format_args!(
            "not a number: {:?}",
            text.chars().take(32).collect::<String>()
        ))
    })
}

fn de_number<'de, D: Deserializer<'de>, T: std::str::FromStr + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    match NumberOrText::<T>::deserialize(d)? {
        NumberOrText::Number(n) => Ok(n),
        NumberOrText::Text(t) => parse_text(&t),
    }
}

fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    de_number(d)
}

fn de_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    de_number(d)
}

fn de_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    de_number(d)
}

fn de_opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    de_f64(d).map(Some)
}

fn de_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    de_i64(d).map(Some)
}

fn de_opt_base64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    de_base64(d).map(Some)
}

fn de_u64_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    let items = Vec::<NumberOrText<u64>>::deserialize(d)?;
    items
        .into_iter()
        .map(|n| match n {
            NumberOrText::Number(n) => Ok(n),
            NumberOrText::Text(t) => parse_text(&t),
        })
        .collect()
}

fn de_f64_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let items = Vec::<NumberOrText<f64>>::deserialize(d)?;
    items
        .into_iter()
        .map(|n| match n {
            NumberOrText::Number(n) => Ok(n),
            NumberOrText::Text(t) => parse_text(&t),
        })
        .collect()
}

fn de_base64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    use base64::Engine as _;
    let text = String::deserialize(d)?;
    base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(serde::de::Error::custom)
}

fn ser_i64_string<S: serde::Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}
