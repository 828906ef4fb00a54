//! `POST /v1/metrics`: OTLP/HTTP in, Kafka records out.
//!
//! - Bodies: `application/x-protobuf` (an `ExportMetricsServiceRequest`) or
//!   `application/json` (OTLP's JSON mapping); `Content-Encoding: gzip`
//!   or none. Another content type or encoding: 415.
//! - Size: past `--otlp-max-body` (default 4 MiB) bytes on the wire or after
//!   inflating (counted while inflating, so a gzip bomb stops there): 413
//!   with a `google.rpc.Status`, counted in
//!   `mss_otlp_refused_requests_total{status="413"}` like every refusal.
//! - Undecodable body: 400 with a `google.rpc.Status` naming the error.
//! - Points the receiver refuses (Gauge, Sum, Summary: `unsupported_point`;
//!   a bad metric name `bad_metric`, a unit that is not printable ASCII of ≤ 32 bytes
//!   `bad_unit`, NaN or ±∞ bounds `not_finite`, buckets that do not add up
//!   or bounds out of order `bad_buckets`) are left out of what is written
//!   and counted in `partial_success` and `mss_otlp_refused_total{reason}`.
//! - The rest is written to `--otlp-topic` as protobuf requests of one
//!   resource each (split further so each record is ≤ [`MAX_RECORD_BYTES`]),
//!   keyed by the hash of the resource's attributes, so one stream always
//!   lands in one partition. 200 only once the broker acknowledged every
//!   record; a full producer queue or a failed delivery answers 503 with
//!   `Retry-After`, and the client retries.

use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prost::Message as _;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::points::{self, resource_key};
use super::proto::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse, Metric,
    MetricData, ResourceMetrics, ScopeMetrics, Status,
};
use crate::record::RejectReason;

/// Default `--otlp-max-body`: 4 MiB.
pub const DEFAULT_MAX_BODY: usize = 4 << 20;
/// Largest record written (under Kafka's default 1 MB `message.max.bytes`).
pub const MAX_RECORD_BYTES: usize = 900_000;
/// Seconds a client is asked to wait before retrying a 503.
const RETRY_AFTER_S: &str = "1";

/// What `POST /v1/metrics` needs.
#[derive(Clone)]
pub struct Receiver {
    producer: FutureProducer,
    topic: Arc<str>,
    max_body: usize,
    gate: Option<Arc<EmbeddedGate>>,
}

impl Receiver {
    /// A receiver writing to `topic` through `producer`.
    pub fn new(producer: FutureProducer, topic: &str, max_body: usize) -> Self {
        Self {
            producer,
            topic: topic.into(),
            max_body,
            gate: None,
        }
    }

    /// With the embedded broker: refuse (503) while the records written but
    /// not yet consumed by `pipeline` hold more than `limit` bytes in a
    /// partition (the mock cluster drops the oldest past a few MiB).
    pub fn with_embedded_gate(mut self, pipeline: Arc<crate::ingest::Pipeline>, limit: u64) -> Self {
        let topic = pipeline.catalog.topic_id(&self.topic);
        self.gate = Some(Arc::new(EmbeddedGate {
            topic,
            pipeline,
            limit,
            sent: Default::default(),
        }));
        self
    }

    /// The largest body accepted (compressed or not).
    pub fn max_body(&self) -> usize {
        self.max_body
    }
}

/// The body's encoding, from `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Protobuf,
    Json,
}

/// A refused request: status and message.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// The handler.
pub async fn export(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let kind = match body_kind(&headers) {
        Ok(k) => k,
        Err(r) => return refused(Body::Json, r),
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return refused(kind, unread_body(&rejection, receiver.max_body)),
    };
    match accept(&receiver, &headers, kind, &body).await {
        Ok(response) => encoded(kind, StatusCode::OK, &response, None),
        Err(r) => refused(kind, r),
    }
}

async fn accept(
    receiver: &Receiver,
    headers: &HeaderMap,
    kind: Body,
    body: &[u8],
) -> Result<ExportMetricsServiceResponse, Refusal> {
    let raw = inflate(headers, body, receiver.max_body)?;
    let mut request = decode(kind, &raw)?;
    let (refused, why) = strip_refused(&mut request);
    let records = split(request);
    produce(receiver, records).await?;
    metrics::counter!("mss_otlp_requests_total").increment(1);
    Ok(ExportMetricsServiceResponse {
        partial_success: (refused > 0).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: i64::try_from(refused).unwrap_or(i64::MAX),
            error_message: why,
        }),
    })
}

fn body_kind(headers: &HeaderMap) -> Result<Body, Refusal> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Body::Protobuf),
        "application/json" => Ok(Body::Json),
        _ => {
            metrics::counter!("mss_otlp_refused_requests_total", "status" => "415").increment(1);
            Err(Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Type {content_type:?}: send application/x-protobuf or application/json"),
            ))
        }
    }
}

/// Why the body could not be read: past `--otlp-max-body` on the wire
/// (413), or cut off by the client. Counted by status, like every refusal.
fn unread_body(rejection: &BytesRejection, max: usize) -> Refusal {
    let status = rejection.status();
    metrics::counter!("mss_otlp_refused_requests_total", "status" => status.as_str().to_owned()).increment(1);
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("body larger than --otlp-max-body ({max} bytes)")
    } else {
        format!("body could not be read: {}", rejection.body_text())
    };
    Refusal::new(status, message)
}

/// The body, inflated when gzip-encoded, never past `max` bytes.
fn inflate(headers: &HeaderMap, body: &[u8], max: usize) -> Result<Vec<u8>, Refusal> {
    let too_large = || {
        metrics::counter!("mss_otlp_refused_requests_total", "status" => "413").increment(1);
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body larger than --otlp-max-body ({max} bytes) once inflated"),
        )
    };
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => {
            if body.len() > max {
                return Err(too_large());
            }
            Ok(body.to_vec())
        }
        "gzip" => {
            let mut out = Vec::new();
            let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
            flate2::read::GzDecoder::new(body)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| bad_request(format!("gzip body: {e}")))?;
            if out.len() > max {
                return Err(too_large());
            }
            Ok(out)
        }
        other => {
            metrics::counter!("mss_otlp_refused_requests_total", "status" => "415").increment(1);
            Err(Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Encoding {other:?}: send gzip or no encoding"),
            ))
        }
    }
}

fn bad_request(message: String) -> Refusal {
    metrics::counter!("mss_otlp_refused_requests_total", "status" => "400").increment(1);
    Refusal::new(StatusCode::BAD_REQUEST, message)
}

fn decode(kind: Body, raw: &[u8]) -> Result<ExportMetricsServiceRequest, Refusal> {
    match kind {
        Body::Protobuf => super::decode_protobuf(raw).map_err(|e| bad_request(format!("protobuf body: {e}"))),
        Body::Json => super::decode_json(raw).map_err(|e| bad_request(format!("JSON body: {e}"))),
    }
}

/// Removes the points the receiver refuses; returns how many and why.
fn strip_refused(request: &mut ExportMetricsServiceRequest) -> (u64, String) {
    let mut refused: std::collections::BTreeMap<&'static str, u64> = Default::default();
    for rm in &mut request.resource_metrics {
        for sm in &mut rm.scope_metrics {
            for m in &mut sm.metrics {
                strip_points(m, &mut refused);
            }
            sm.metrics.retain(|m| point_count(m) > 0);
        }
    }
    let mut why = Vec::new();
    let mut total = 0;
    for (reason, n) in refused {
        metrics::counter!("mss_otlp_refused_total", "reason" => reason).increment(n);
        why.push(format!("{n} {reason}"));
        total += n;
    }
    let message = if why.is_empty() {
        String::new()
    } else {
        format!("data points refused: {} (mss reads histograms and exponential histograms whose unit is printable ASCII of at most 32 bytes; see the README)", why.join(", "))
    };
    (total, message)
}

/// Keeps a metric's good points, counting the others by reason.
fn strip_points(m: &mut Metric, refused: &mut std::collections::BTreeMap<&'static str, u64>) {
    let mut note = |r: RejectReason, n: u64| *refused.entry(r.name()).or_default() += n;
    let temporality = match &m.data {
        Some(MetricData::Histogram(h)) => h.aggregation_temporality,
        Some(MetricData::ExponentialHistogram(h)) => h.aggregation_temporality,
        _ => {
            note(RejectReason::UnsupportedPoint, point_count(m));
            m.data = None;
            return;
        }
    };
    if let Err(r) = points::check_metric(m, temporality) {
        note(r, point_count(m));
        m.data = None;
        return;
    }
    match &mut m.data {
        Some(MetricData::Histogram(h)) => h
            .data_points
            .retain(|dp| points::check_explicit(dp).map_err(|r| note(r, 1)).is_ok()),
        Some(MetricData::ExponentialHistogram(h)) => h
            .data_points
            .retain(|dp| points::check_exponential(dp).map_err(|r| note(r, 1)).is_ok()),
        _ => {}
    }
}

fn point_count(m: &Metric) -> u64 {
    match &m.data {
        Some(MetricData::Histogram(h)) => h.data_points.len() as u64,
        Some(MetricData::ExponentialHistogram(h)) => h.data_points.len() as u64,
        Some(MetricData::Gauge(p) | MetricData::Sum(p) | MetricData::Summary(p)) => {
            p.data_points.len() as u64
        }
        None => 0,
    }
}

/// `(key, value)` records: one resource each, split so each is at most
/// [`MAX_RECORD_BYTES`] (by metric, then by data point).
fn split(request: ExportMetricsServiceRequest) -> Vec<([u8; 8], Vec<u8>)> {
    let mut records = Vec::new();
    for rm in request.resource_metrics {
        let key = resource_key(rm.resource.as_ref());
        let shell = ResourceMetrics {
            resource: rm.resource.clone(),
            scope_metrics: Vec::new(),
        };
        let mut current = shell.clone();
        for sm in rm.scope_metrics {
            for metric in sm.metrics.into_iter().flat_map(split_metric) {
                let piece = ScopeMetrics {
                    scope: sm.scope.clone(),
                    metrics: vec![metric],
                };
                if !current.scope_metrics.is_empty()
                    && current.encoded_len() + piece.encoded_len() + 8 > MAX_RECORD_BYTES
                {
                    records.push((key, one(std::mem::replace(&mut current, shell.clone()))));
                }
                current.scope_metrics.push(piece);
            }
        }
        if !current.scope_metrics.is_empty() {
            records.push((key, one(current)));
        }
    }
    records
}

fn one(rm: ResourceMetrics) -> Vec<u8> {
    ExportMetricsServiceRequest {
        resource_metrics: vec![rm],
    }
    .encode_to_vec()
}

/// A metric as pieces of at most about [`MAX_RECORD_BYTES`] / 2.
fn split_metric(metric: Metric) -> Vec<Metric> {
    let limit = MAX_RECORD_BYTES / 2;
    if metric.encoded_len() <= limit {
        return vec![metric];
    }
    let with = |data: MetricData| Metric {
        name: metric.name.clone(),
        unit: metric.unit.clone(),
        data: Some(data),
    };
    match &metric.data {
        Some(MetricData::Histogram(h)) if h.data_points.len() > 1 => {
            let half = h.data_points.len() / 2;
            let (a, b) = h.data_points.split_at(half);
            let part = |points: &[_]| {
                let mut h = h.clone();
                h.data_points = points.to_vec();
                with(MetricData::Histogram(h))
            };
            [part(a), part(b)].into_iter().flat_map(split_metric).collect()
        }
        Some(MetricData::ExponentialHistogram(h)) if h.data_points.len() > 1 => {
            let half = h.data_points.len() / 2;
            let (a, b) = h.data_points.split_at(half);
            let part = |points: &[_]| {
                let mut h = h.clone();
                h.data_points = points.to_vec();
                with(MetricData::ExponentialHistogram(h))
            };
            [part(a), part(b)].into_iter().flat_map(split_metric).collect()
        }
        // One point (≤ 4 MiB body): written as it is.
        _ => vec![metric],
    }
}

/// Bytes per partition the embedded broker's consumer has not read yet,
/// counted from the receiver's own deliveries.
pub struct EmbeddedGate {
    /// The source topic the receiver writes (its id in the catalog).
    topic: shared::protocol::TopicId,
    pipeline: Arc<crate::ingest::Pipeline>,
    limit: u64,
    /// Per partition: `(offset, bytes)` of records not known to be consumed.
    sent: std::sync::Mutex<std::collections::BTreeMap<i32, std::collections::VecDeque<(i64, u64)>>>,
}

/// Default byte limit of [`EmbeddedGate`]: room beside the replayed rows
/// under the mock cluster's 5 MiB per partition.
pub const EMBEDDED_UNCONSUMED_BYTES: u64 = 2_500_000;

impl EmbeddedGate {
    /// Whether `bytes` more may be written now.
    fn admits(&self, bytes: u64) -> bool {
        // The newest offset each partition processed (fresher than the
        // positions, which are noted every few hundred ms).
        let consumed: std::collections::BTreeMap<i32, i64> = self
            .pipeline
            .assigned()
            .into_iter()
            .filter(|(p, _)| p.topic == self.topic)
            .filter_map(|(p, w)| {
                let w = crate::ingest::locked(&w, &self.pipeline.stats, "partition")?;
                Some((p.partition, w.last_offset()?))
            })
            .collect();
        let Ok(mut sent) = self.sent.lock() else {
            let poisoned = &self.pipeline.stats.lock_failures;
            poisoned.note("embedded gate", "request refused");
            return false;
        };
        let mut most = 0;
        for (p, queue) in sent.iter_mut() {
            let consumed = consumed.get(p).copied().unwrap_or(-1);
            while queue.front().is_some_and(|&(offset, _)| offset <= consumed) {
                queue.pop_front();
            }
            most = most.max(queue.iter().map(|(_, b)| b).sum::<u64>());
        }
        most == 0 || most + bytes <= self.limit
    }

    fn delivered(&self, partition: i32, offset: i64, bytes: u64) {
        match self.sent.lock() {
            Ok(mut sent) => sent.entry(partition).or_default().push_back((offset, bytes)),
            // `admits` refuses from now on: nothing is written unaccounted.
            Err(_) => self.pipeline.stats.lock_failures.note(
                "embedded gate",
                &format!("delivery of partition {partition} offset {offset} not noted"),
            ),
        }
    }
}

/// Writes every record and waits for the broker's acknowledgements.
async fn produce(receiver: &Receiver, records: Vec<([u8; 8], Vec<u8>)>) -> Result<(), Refusal> {
    let bytes: u64 = records.iter().map(|(_, v)| v.len() as u64).sum();
    if let Some(gate) = &receiver.gate {
        if !gate.admits(bytes) {
            return Err(unavailable(
                "the embedded broker holds too much unconsumed data; retry",
            ));
        }
    }
    let mut deliveries = Vec::with_capacity(records.len());
    for (key, value) in &records {
        let record = FutureRecord::to(&receiver.topic)
            .key(&key[..])
            .payload(value.as_slice());
        match receiver.producer.send_result(record) {
            Ok(delivery) => deliveries.push(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                return Err(unavailable("the producer queue is full; retry"));
            }
            Err((e, _)) => return Err(unavailable(&format!("cannot write to Kafka: {e}"))),
        }
    }
    for (delivery, (_, value)) in deliveries.into_iter().zip(&records) {
        match delivery.await {
            Ok(Ok(delivery)) => {
                if let Some(gate) = &receiver.gate {
                    gate.delivered(delivery.partition, delivery.offset, value.len() as u64);
                }
            }
            Ok(Err((e, _))) => return Err(unavailable(&format!("the broker did not acknowledge: {e}"))),
            Err(_) => return Err(unavailable("the producer was shut down")),
        }
    }
    metrics::counter!("mss_otlp_records_total").increment(records.len() as u64);
    Ok(())
}

fn unavailable(message: &str) -> Refusal {
    metrics::counter!("mss_otlp_refused_requests_total", "status" => "503").increment(1);
    tracing::warn!("POST /v1/metrics answered 503: {message}");
    Refusal::new(StatusCode::SERVICE_UNAVAILABLE, message)
}

fn refused(kind: Body, refusal: Refusal) -> Response {
    let retry = (refusal.status == StatusCode::SERVICE_UNAVAILABLE).then_some(RETRY_AFTER_S);
    let code = if refusal.status == StatusCode::SERVICE_UNAVAILABLE {
        14
    } else {
        3
    };
    let status = Status {
        code,
        message: refusal.message,
    };
    encoded(kind, refusal.status, &status, retry)
}

fn encoded<M: prost::Message + serde::Serialize>(
    kind: Body,
    status: StatusCode,
    message: &M,
    retry: Option<&'static str>,
) -> Response {
    let (content_type, body) = match kind {
        Body::Protobuf => ("application/x-protobuf", message.encode_to_vec()),
        Body::Json => (
            "application/json",
            serde_json::to_vec(message).unwrap_or_default(),
        ),
    };
    let mut response = (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
    if let Some(s) = retry {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static(s));
    }
    response
}

/// The producer of a receiver: acknowledged by every in-sync replica,
/// bounded queue, deliveries given up after 30 s (the client gets a 503).
pub fn producer(brokers: &str, overrides: &[(String, String)]) -> anyhow::Result<FutureProducer> {
    let config = crate::broker::client_config(
        brokers,
        &[
            ("acks", "all"),
            ("message.timeout.ms", "30000"),
            ("queue.buffering.max.kbytes", "65536"),
            ("linger.ms", "5"),
            ("message.max.bytes", "1000000"),
        ],
        overrides,
    );
    Ok(config.create()?)
}

/// How long shutdown waits for records in flight.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The receiver's routes: `POST /v1/metrics`, `/healthz`, `/metrics`.
/// Requests whose `Host` is not a loopback name or address are refused
/// when `listen` is loopback (DNS rebinding).
/// With `token`, `/v1/metrics` and `/metrics` need `Authorization: Bearer
/// <token>` (OTLP exporters send it from `OTEL_EXPORTER_OTLP_HEADERS`).
pub fn router(receiver: Receiver, listen: std::net::SocketAddr, token: Option<String>) -> axum::Router {
    use axum::routing::{get, post};
    crate::serve::metrics::handle();
    let max_body = receiver.max_body();
    let token: Option<Arc<str>> = token.map(Into::into);
    axum::Router::new()
        .route("/v1/metrics", post(export))
        .with_state(receiver)
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(|| async { crate::serve::metrics::handle().render() }))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let refusal = refusal_of(&req, listen, token.as_deref());
                async move {
                    match refusal {
                        None => next.run(req).await,
                        Some((status, why)) => {
                            metrics::counter!("mss_otlp_refused_requests_total", "status" => status.as_str().to_owned())
                                .increment(1);
                            (status, why).into_response()
                        }
                    }
                }
            },
        ))
}

/// Why a request may not reach the receiver: a foreign `Host` on a loopback
/// listener (DNS rebinding), or a missing token.
fn refusal_of(
    req: &axum::extract::Request,
    listen: std::net::SocketAddr,
    token: Option<&str>,
) -> Option<(StatusCode, &'static str)> {
    if listen.ip().is_loopback() && !host_is_local(req.headers()) {
        return Some((StatusCode::FORBIDDEN, "Host is not a loopback name"));
    }
    let open = req.uri().path() == "/healthz";
    let given = crate::serve::access::bearer_token(req.headers());
    let matches =
        |t: &str| given.is_some_and(|g| crate::serve::access::same_secret(g.as_bytes(), t.as_bytes()));
    match token {
        Some(t) if !open && !matches(t) => Some((
            StatusCode::UNAUTHORIZED,
            "Authorization: Bearer <--auth-token> required",
        )),
        _ => None,
    }
}

/// Whether `Host` names this machine (or is absent, as from a raw client).
fn host_is_local(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{IngestConfig, Pipeline};

    fn request(path: &str, host: &str, bearer: Option<&str>) -> axum::extract::Request {
        let mut builder = axum::http::Request::builder()
            .uri(path)
            .header(header::HOST, host);
        if let Some(token) = bearer {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        builder.body(axum::body::Body::empty()).expect("request")
    }

    #[test]
    fn with_a_token_only_the_same_bearer_token_reaches_export_and_metrics() {
        let listen: std::net::SocketAddr = "127.0.0.1:4318".parse().expect("addr");
        let status = |path: &str, bearer: Option<&str>| {
            refusal_of(&request(path, "127.0.0.1:4318", bearer), listen, Some("s3cret")).map(|r| r.0)
        };
        for path in ["/v1/metrics", "/metrics"] {
            assert_eq!(status(path, Some("s3cret")), None, "{path}");
            for wrong in [None, Some("s3creT"), Some("s3cre"), Some("s3cret!"), Some("")] {
                assert_eq!(
                    status(path, wrong),
                    Some(StatusCode::UNAUTHORIZED),
                    "{path} {wrong:?}"
                );
            }
        }
        assert_eq!(status("/healthz", None), None, "/healthz needs no token");
        let open = refusal_of(&request("/v1/metrics", "localhost:4318", None), listen, None);
        assert_eq!(open, None, "no token configured: none needed");
    }

    #[test]
    fn a_foreign_host_on_a_loopback_listener_is_refused_before_the_token() {
        let listen: std::net::SocketAddr = "127.0.0.1:4318".parse().expect("addr");
        let rebound = request("/v1/metrics", "rebind.example:4318", Some("s3cret"));
        let refusal = refusal_of(&rebound, listen, Some("s3cret")).map(|r| r.0);
        assert_eq!(refusal, Some(StatusCode::FORBIDDEN));
        let exposed: std::net::SocketAddr = "0.0.0.0:4318".parse().expect("addr");
        let remote = request("/v1/metrics", "collector.example:4318", Some("s3cret"));
        assert_eq!(
            refusal_of(&remote, exposed, Some("s3cret")),
            None,
            "not loopback: Host not checked"
        );
    }

    #[test]
    fn the_embedded_gate_counts_unconsumed_bytes_per_partition() {
        let config = IngestConfig {
            otlp_topic: Some("otlp_metrics".into()),
            ..IngestConfig::default()
        };
        let pipeline = Pipeline::new(config).expect("pipeline");
        let gate = EmbeddedGate {
            topic: pipeline.catalog.topic_id("otlp_metrics"),
            pipeline: pipeline.clone(),
            limit: 100,
            sent: Default::default(),
        };
        assert!(gate.admits(1_000), "nothing unconsumed: any size is admitted");
        gate.delivered(0, 5, 60);
        gate.delivered(0, 6, 60);
        gate.delivered(1, 0, 30);
        assert!(!gate.admits(10), "120 bytes wait in partition 0");
        // The main topic's partition 0 is another partition.
        pipeline
            .partition(0)
            .expect("partition")
            .lock()
            .expect("lock")
            .resume_after(9);
        assert!(!gate.admits(10), "the JSON topic's progress frees nothing");
        let otlp_partition = crate::ingest::SourcePartition {
            topic: 1,
            partition: 0,
        };
        let windows = pipeline.partition_of(otlp_partition).expect("partition");
        windows.lock().expect("lock").resume_after(5);
        assert!(gate.admits(40), "60 + 40 fits");
        assert!(!gate.admits(41));
        windows.lock().expect("lock").resume_after(6);
        assert!(gate.admits(70), "partition 1's 30 bytes + 70 fit");
        assert!(!gate.admits(71));
    }

    #[test]
    fn a_loopback_receiver_takes_loopback_hosts_and_ip_literals_only() {
        let host = |h: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_str(h).expect("header"));
            host_is_local(&headers)
        };
        assert!(host("127.0.0.1:4318") && host("localhost:4318") && host("[::1]:4318"));
        assert!(!host("rebind.example:4318") && !host("10.0.0.1:4318"));
        assert!(host_is_local(&HeaderMap::new()), "no Host: a raw client");
    }
}
