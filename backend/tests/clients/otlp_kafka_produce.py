#!/usr/bin/env python3
"""Writes records the way the OpenTelemetry Collector's Kafka exporter
does (`encoding: otlp_proto`): protobuf ExportMetricsServiceRequest
messages built with the official proto definitions (opentelemetry-proto
from PyPI), one resource per record, keyed by resource — here with
kafka-python. Holds delta histograms, a cumulative stream exported three
times (the consumer must insert only the differences), an exponential
histogram, gauge points (refused as unsupported_point) and one record that
is not protobuf at all.

Usage: otlp_kafka_produce.py BROKERS TOPIC. Prints one JSON line:
{"values": N, "unsupported": G, "garbage": 1}."""
import json
import sys
import time

from kafka import KafkaProducer
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as m

brokers, topic = sys.argv[1], sys.argv[2]
now = time.time_ns()
start = now - 5_000_000_000
BOUNDS = [5.0, 10.0, 25.0, 50.0, 100.0]


def attrs(**kv):
    return [KeyValue(key=k.replace("_", "."), value=AnyValue(string_value=v)) for k, v in kv.items()]


def request(service, metrics):
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend(attrs(service_name=service))
    sm = rm.scope_metrics.add()
    sm.scope.name = "collector-test"
    sm.metrics.extend(metrics)
    return req


def histogram(name, temporality, points):
    metric = m.Metric(name=name, unit="ms")
    metric.histogram.aggregation_temporality = temporality
    for t, counts, route in points:
        dp = metric.histogram.data_points.add()
        dp.attributes.extend(attrs(route=route))
        dp.start_time_unix_nano = start
        dp.time_unix_nano = t
        dp.count = sum(counts)
        dp.explicit_bounds.extend(BOUNDS)
        dp.bucket_counts.extend(counts)
    return metric


DELTA, CUMULATIVE = m.AGGREGATION_TEMPORALITY_DELTA, m.AGGREGATION_TEMPORALITY_CUMULATIVE
records = []
values = 0
# Delta points of two services and routes.
for i, service in enumerate(["checkout", "cart"]):
    counts = [1 + i, 4, 10, 3, 1, 0]
    records.append(request(service, [histogram("rpc.duration", DELTA, [(now - 2_000_000_000, counts, "/pay")])]))
    values += sum(counts)
# One cumulative stream, exported three times: 10, then 25, then 40 values in all.
cumulative = [[2, 3, 5, 0, 0, 0], [4, 8, 10, 3, 0, 0], [6, 12, 15, 5, 2, 0]]
for k, counts in enumerate(cumulative):
    t = now - (3 - k) * 1_000_000_000
    records.append(request("checkout", [histogram("rpc.cumulative", CUMULATIVE, [(t, counts, "/pay")])]))
values += sum(cumulative[-1])
# An exponential histogram (scale 3, delta): zero bucket 1, positive 7.
exp = m.Metric(name="rpc.exponential", unit="ms")
exp.exponential_histogram.aggregation_temporality = DELTA
dp = exp.exponential_histogram.data_points.add()
dp.start_time_unix_nano, dp.time_unix_nano = start, now - 1_000_000_000
dp.scale, dp.zero_count = 3, 1
dp.positive.offset = 20
dp.positive.bucket_counts.extend([2, 0, 5])
dp.count = 8
values += 8
# Gauge points: not distributions.
gauge = m.Metric(name="queue.depth", unit="1")
for v in (3.0, 4.0, 5.0):
    gp = gauge.gauge.data_points.add()
    gp.time_unix_nano, gp.as_double = now, v
records.append(request("cart", [exp, gauge]))

producer = KafkaProducer(bootstrap_servers=brokers, acks="all", compression_type="gzip")
for req in records:
    key = req.resource_metrics[0].resource.attributes[0].value.string_value.encode()
    producer.send(topic, key=key, value=req.SerializeToString())
producer.send(topic, key=b"garbage", value=b"\xff\x00 not a protobuf message \x12\x99")
producer.flush()
producer.close()
print(json.dumps({"values": values, "unsupported": 3, "garbage": 1}))
