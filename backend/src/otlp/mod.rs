//! OpenTelemetry (OTLP) metrics: the messages ([`proto`]), data points as
//! series ([`points`]), cumulative points to deltas ([`temporality`]),
//! buckets to weighted values ([`values`]) and the receiver of
//! `POST /v1/metrics` ([`receiver`]).
//!
//! Both routes in meet in Kafka: the receiver writes protobuf
//! `ExportMetricsServiceRequest` records (one resource each) to
//! `--otlp-topic`, exactly as the Collector's Kafka exporter does, and the
//! consumer reads them with `--format otlp` (or `auto`).

pub mod points;
pub mod proto;
pub mod receiver;
pub mod temporality;
pub mod values;

use prost::Message as _;

/// Default `--otlp-topic` (the Collector's Kafka exporter's default).
pub const DEFAULT_TOPIC: &str = "otlp_metrics";

/// How the consumer reads record values (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RecordFormat {
    /// `mss`'s JSON records (series, HDFS, bare numbers).
    #[default]
    Json,
    /// Protobuf `ExportMetricsServiceRequest`.
    Otlp,
    /// A valid JSON record is one; anything else is read as OTLP protobuf.
    Auto,
}

/// Decodes a protobuf `ExportMetricsServiceRequest`.
pub fn decode_protobuf(bytes: &[u8]) -> Result<proto::ExportMetricsServiceRequest, prost::DecodeError> {
    proto::ExportMetricsServiceRequest::decode(bytes)
}

/// Decodes OTLP's JSON form of an `ExportMetricsServiceRequest`.
pub fn decode_json(bytes: &[u8]) -> Result<proto::ExportMetricsServiceRequest, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Encodes a request as protobuf.
pub fn encode_protobuf(request: &proto::ExportMetricsServiceRequest) -> Vec<u8> {
    request.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"resourceMetrics":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"checkout"}},
        {"key":"pid","value":{"intValue":"42"}}]},
      "scopeMetrics":[{"scope":{"name":"s","version":"1"},"metrics":[
        {"name":"http.server.duration","unit":"ms","histogram":{"aggregationTemporality":2,"dataPoints":[
          {"attributes":[{"key":"route","value":{"stringValue":"/a"}}],
           "startTimeUnixNano":"1000","timeUnixNano":"2000","count":"3","sum":30.5,
           "bucketCounts":["1","2",0],"explicitBounds":[10,20],"min":1,"max":25}]}},
        {"name":"g","gauge":{"dataPoints":[{"asDouble":1},{"asDouble":2}]}},
        {"name":"e","unit":"s","exponentialHistogram":{"aggregationTemporality":1,"dataPoints":[
          {"timeUnixNano":5,"count":"4","scale":1,"zeroCount":"1","positive":{"offset":-2,"bucketCounts":["3"]}}]}}
      ]}]}]}"#;

    #[test]
    fn otlp_json_decodes_to_the_same_message_as_its_protobuf() {
        let from_json = decode_json(JSON.as_bytes()).expect("json");
        let rm = &from_json.resource_metrics[0];
        let metrics = &rm.scope_metrics[0].metrics;
        assert_eq!(metrics.len(), 3);
        let Some(proto::MetricData::Histogram(h)) = &metrics[0].data else {
            panic!("histogram expected: {:?}", metrics[0].data)
        };
        assert_eq!(h.aggregation_temporality, proto::TEMPORALITY_CUMULATIVE);
        assert_eq!(h.data_points[0].bucket_counts, [1, 2, 0]);
        assert_eq!(h.data_points[0].start_time_unix_nano, 1000);
        assert_eq!(h.data_points[0].max, Some(25.0));
        assert!(matches!(&metrics[1].data, Some(proto::MetricData::Gauge(g)) if g.data_points.len() == 2));
        let Some(proto::MetricData::ExponentialHistogram(e)) = &metrics[2].data else {
            panic!("exponential histogram expected")
        };
        assert_eq!(e.data_points[0].positive.as_ref().map(|b| b.offset), Some(-2));
        let round_trip = decode_protobuf(&encode_protobuf(&from_json)).expect("protobuf");
        assert_eq!(round_trip, from_json);
    }

    #[test]
    fn points_carry_tags_units_and_refusals() {
        let request = decode_json(JSON.as_bytes()).expect("json");
        let mut good = Vec::new();
        let mut refused = Vec::new();
        points::points_of(&request, &points::ResourceTags::default(), |p| match p {
            Ok(p) => good.push(p),
            Err(r) => refused.push(r),
        });
        assert_eq!(refused, [crate::record::RejectReason::UnsupportedPoint; 2]);
        assert_eq!(good.len(), 2);
        assert_eq!(good[0].metric, "http.server.duration");
        assert_eq!(
            good[0].tags,
            [
                ("route".to_owned(), "/a".to_owned()),
                ("service.name".to_owned(), "checkout".to_owned())
            ]
        );
        assert_eq!(good[1].ms_per_unit, 1000.0);
        assert_ne!(good[0].stream, good[1].stream);
    }
}
