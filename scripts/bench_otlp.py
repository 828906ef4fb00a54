#!/usr/bin/env python3
"""OTLP ingest throughput: data points per second through POST /v1/metrics
-> Kafka (the embedded broker) -> windows, against a running
`mss serve --otlp-listen`.

Usage: bench_otlp.py OTLP_PORT API_PORT [REQUESTS] [POINTS_PER_REQUEST] [THREADS]

Each request is a pre-encoded protobuf ExportMetricsServiceRequest (built
with the official opentelemetry-proto definitions) of one resource with
POINTS delta histogram points (16 explicit buckets, 100 values each) of
distinct streams (route=/r0.. /rN, 50 series), new timestamps per request.
Prints one JSON line: requests, points, values, seconds from the first
request to the last point in the windows, points/s and values/s, and the
client's own CPU seconds (if the client is the bottleneck it shows here),
and how many 503s were retried."""
import http.client
import json
import os
import sys
import threading
import time
import urllib.request

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as m

otlp_port, api_port = int(sys.argv[1]), int(sys.argv[2])
requests = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
per = int(sys.argv[4]) if len(sys.argv) > 4 else 200
threads = int(sys.argv[5]) if len(sys.argv) > 5 else 4
BOUNDS = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987]
COUNTS = [1, 2, 4, 8, 12, 16, 14, 12, 10, 8, 5, 4, 2, 1, 1, 0]  # 100 values


def body(k):
    now = time.time_ns()
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="bench")))
    metric = rm.scope_metrics.add().metrics.add()
    metric.name, metric.unit = "bench.duration", "ms"
    metric.histogram.aggregation_temporality = m.AGGREGATION_TEMPORALITY_DELTA
    for i in range(per):
        dp = metric.histogram.data_points.add()
        dp.attributes.append(KeyValue(key="route", value=AnyValue(string_value=f"/r{i % 50}")))
        dp.attributes.append(KeyValue(key="shard", value=AnyValue(string_value=str(i))))
        dp.start_time_unix_nano = now - 1_000_000_000
        dp.time_unix_nano = now + k  # distinct per request: never a duplicate
        dp.count = 100
        dp.explicit_bounds.extend(BOUNDS)
        dp.bucket_counts.extend(COUNTS)
    return req.SerializeToString()


def points_in_windows():
    with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/api/summary") as r:
        return json.load(r)["otlp"]["points"]


bodies = [body(k) for k in range(requests)]
before = points_in_windows()
next_request = iter(range(requests))
lock = threading.Lock()
failures = []
retries = []


def worker():
    conn = http.client.HTTPConnection("127.0.0.1", otlp_port, timeout=60)
    while True:
        with lock:
            k = next(next_request, None)
        if k is None:
            return
        while True:
            conn.request("POST", "/v1/metrics", bodies[k], {"Content-Type": "application/x-protobuf"})
            r = conn.getresponse()
            r.read()
            if r.status != 503:
                break
            # Backpressure (the embedded broker's unconsumed-bytes gate, a
            # full producer queue): retry as an OTLP exporter does, sooner.
            retries.append(1)
            time.sleep(0.02)
        if r.status != 200:
            failures.append(r.status)


cpu0, t0 = time.process_time(), time.perf_counter()
pool = [threading.Thread(target=worker) for _ in range(threads)]
for t in pool:
    t.start()
for t in pool:
    t.join()
posted = time.perf_counter() - t0
want = before + requests * per
while points_in_windows() < want:
    time.sleep(0.01)
elapsed = time.perf_counter() - t0
points = requests * per
print(json.dumps({
    "requests": requests, "points": points, "values": points * 100, "failures": len(failures), "retries_503": len(retries),
    "seconds": round(elapsed, 3), "posting_seconds": round(posted, 3),
    "points_per_s": round(points / elapsed), "values_per_s": round(points * 100 / elapsed),
    "client_cpu_s": round(time.process_time() - cpu0, 3),
}))
