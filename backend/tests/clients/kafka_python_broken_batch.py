#!/usr/bin/env python3
"""Writes a batch no consumer can decode between good ones, with
kafka-python: GOOD records, then one gzip batch of BROKEN records whose
"compressed" bytes are not gzip (kafka-python's encoder is swapped for one
that returns garbage; the broker stores the batch as given), then GOOD more.
One partition, so the broken batch sits between the two good runs.

Usage: kafka_python_broken_batch.py BROKERS TOPIC GOOD BROKEN. Prints one
JSON line: {"values": [...], "broken": BROKEN}."""
import json
import sys

import kafka.record.default_records as records
from kafka import KafkaProducer

brokers, topic, good, broken = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
values = []


def send(compression, n, tag, keep):
    producer = KafkaProducer(bootstrap_servers=brokers, compression_type=compression,
                             linger_ms=50, batch_size=1 << 20)
    for i in range(n):
        latency = round(2.0 + (i * 53 % 900) * 1.25, 2)
        producer.send(topic, partition=0, value=json.dumps({"block_id": f"{tag}-{i}", "latency": latency}).encode())
        if keep:
            values.append(latency)
    producer.flush()
    producer.close()


send(None, good, "before", True)
real = records.gzip_encode
records.gzip_encode = lambda data: b"\x1f\x8b\x08\x00" + b"these bytes are not gzip" * 8
send("gzip", broken, "broken", False)
records.gzip_encode = real
send(None, good, "after", True)
print(json.dumps({"values": values, "broken": broken}))
