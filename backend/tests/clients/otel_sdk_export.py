#!/usr/bin/env python3
"""The OpenTelemetry Python SDK (opentelemetry-sdk with the OTLP/HTTP
protobuf exporter, from PyPI) records known values into two histograms —
explicit buckets and the base-2 exponential aggregation — and exports them
to mss's POST /v1/metrics, one export per interval (force_flush), with the
temporality asked for.

Usage: otel_sdk_export.py ENDPOINT TEMPORALITY(cumulative|delta) PREFIX INTERVALS PER_INTERVAL [gzip]
Prints one JSON line: {"values": [...], "bounds": [...], "scale": S}: the
values (ms) recorded into both histograms, the explicit bounds, and the
exponential aggregation's final (smallest) scale."""
import json
import random
import sys

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource

endpoint, temporality, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
intervals, per_interval = int(sys.argv[4]), int(sys.argv[5])
gzip = len(sys.argv) > 6 and sys.argv[6] == "gzip"

BOUNDS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
wanted = AggregationTemporality.DELTA if temporality == "delta" else AggregationTemporality.CUMULATIVE
exporter = OTLPMetricExporter(
    endpoint=endpoint,
    preferred_temporality={Histogram: wanted},
    compression=Compression.Gzip if gzip else Compression.NoCompression,
    timeout=30,
)
# Exports only when flushed (one per interval), never on a timer.
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
# A second reader with the same views: the exponential aggregation's final
# scale (the error bound of its buckets).
memory = InMemoryMetricReader()
explicit_name, exponential_name = f"{prefix}.explicit", f"{prefix}.exponential"
provider = MeterProvider(
    resource=Resource.create({"service.name": f"{prefix}-svc"}),
    metric_readers=[reader, memory],
    views=[
        View(instrument_name=explicit_name, aggregation=ExplicitBucketHistogramAggregation(boundaries=BOUNDS)),
        View(instrument_name=exponential_name, aggregation=ExponentialBucketHistogramAggregation(max_size=160)),
    ],
)
meter = provider.get_meter("mss-test")
explicit = meter.create_histogram(explicit_name, unit="ms")
exponential = meter.create_histogram(exponential_name, unit="ms")

rng = random.Random(7)
values = []
for interval in range(intervals):
    for i in range(per_interval):
        v = round(rng.lognormvariate(3.0, 1.0), 3)
        route = "/a" if i % 3 else "/b"
        explicit.record(v, {"route": route})
        exponential.record(v, {"route": route})
        values.append(v)
    if not provider.force_flush(timeout_millis=30_000):
        print(f"export of interval {interval} failed", file=sys.stderr)
        sys.exit(1)
scales = [
    dp.scale
    for rm in memory.get_metrics_data().resource_metrics
    for sm in rm.scope_metrics
    for metric in sm.metrics
    if metric.name == exponential_name
    for dp in metric.data.data_points
]
provider.shutdown()
print(json.dumps({"values": values, "bounds": BOUNDS, "scale": min(scales)}))
