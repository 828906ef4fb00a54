#!/usr/bin/env python3
"""A second, independent Kafka client (kafka-python, pure Python) writing
the record shapes real producers write into a topic: every compression
codec Kafka defines, headers on every record, null keys, null values
(tombstones), an idempotent producer, and a transactional producer with a
committed and an aborted transaction (control records in the log).

Usage: kafka_python_produce.py BROKERS TOPIC. Prints one JSON line:
{"good": N, "null_values": M, "aborted": A, "transactions": bool, "values": [...]}."""
import json
import sys

from kafka import KafkaAdminClient, KafkaProducer

# Kafka API keys a transactional producer needs (InitProducerId, AddPartitionsToTxn, EndTxn).
TRANSACTION_APIS = (22, 24, 26)

brokers, topic = sys.argv[1], sys.argv[2]
good, null_values, aborted = [], 0, 0


def record(tag, i):
    latency = round(1.0 + (i * 37 % 1000) * 1.5, 2)
    return latency, json.dumps({"block_id": f"{tag}-{i}", "latency": latency}).encode()


def send_batch(producer, tag, n, with_nulls=True):
    global null_values
    for i in range(n):
        latency, value = record(tag, i)
        key = None if i % 2 == 0 else f"{tag}-{i}".encode()
        producer.send(topic, key=key, value=value, headers=[("source", b"kafka-python"), ("codec", tag.encode())])
        good.append(latency)
    if with_nulls:
        for i in range(2):
            producer.send(topic, key=f"tomb-{tag}-{i}".encode(), value=None)
            null_values += 1
    producer.flush()


for codec in [None, "gzip", "snappy", "lz4", "zstd"]:
    p = KafkaProducer(bootstrap_servers=brokers, compression_type=codec, linger_ms=20, batch_size=16384)
    send_batch(p, codec or "none", 50)
    p.close()

p = KafkaProducer(bootstrap_servers=brokers, enable_idempotence=True, acks="all")
send_batch(p, "idempotent", 50)
p.close()

admin = KafkaAdminClient(bootstrap_servers=brokers)
versions = {int(k) for k in admin.api_versions()}
admin.close()
transactions = all(api in versions for api in TRANSACTION_APIS)
if not transactions:
    print("the broker has no transactions (EndTxn): transactional records not produced", file=sys.stderr)
else:
    p = KafkaProducer(bootstrap_servers=brokers, transactional_id="mss-test-tx", enable_idempotence=True, acks="all")
    p.init_transactions()
    p.begin_transaction()
    send_batch(p, "committed", 20, with_nulls=False)
    p.commit_transaction()
    p.begin_transaction()
    for i in range(20):
        _, value = record("aborted", i)
        p.send(topic, value=value)
        aborted += 1
    p.flush()
    p.abort_transaction()
    p.close()

print(json.dumps({"good": len(good), "null_values": null_values, "aborted": aborted,
                  "transactions": transactions, "values": good}))
