#!/usr/bin/env python3
"""Writes what a transactional producer and its transaction coordinator
leave in a Kafka log, through the Produce API itself: transactional record
batches (a producer id from InitProducerId, sequence numbers), each
transaction closed by a COMMIT control batch (the marker a broker writes
on EndTxn), so every partition *ends* with a control record.

Needed because no broker that runs here writes markers (Tansu 0.6 has no
EndTxn; librdkafka's mock cluster's EndTxn writes none), while Tansu does
store and serve a control batch it is given. Standard library plus
kafka-python's record-batch builder (its CRC32C and varints).

Usage: kafka_python_control_records.py HOST:PORT TOPIC PARTITIONS TRANSACTIONS
Prints one JSON line: {"good": N, "markers": M, "values": [...]}."""
import json
import socket
import struct
import sys
import time

from kafka.record.default_records import DefaultRecordBatchBuilder

CONTROL_BIT = 0x20
RECORDS_PER_TRANSACTION = 3


class ControlBatchBuilder(DefaultRecordBatchBuilder):
    """A batch with the control attribute set (only brokers write these)."""

    def _get_attributes(self, include_compression_type=True):
        return super()._get_attributes(include_compression_type) | CONTROL_BIT


def string16(s):
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class Connection:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.correlation = 0

    def call(self, api_key, version, body, flexible=False):
        self.correlation += 1
        header = struct.pack(">hhi", api_key, version, self.correlation) + string16("mss-test")
        if flexible:
            header += b"\x00"  # no tagged fields
        message = header + body
        self.sock.sendall(struct.pack(">i", len(message)) + message)
        size = struct.unpack(">i", self.read(4))[0]
        response = self.read(size)
        if struct.unpack(">i", response[:4])[0] != self.correlation:
            raise RuntimeError("correlation id mismatch")
        return response[4:]

    def read(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError("the broker closed the connection")
            out += chunk
        return out


def init_producer_id(conn):
    """InitProducerId v4 (flexible), no transactional id: (producer id, epoch)."""
    body = b"\x00" + struct.pack(">iqh", 60_000, -1, -1) + b"\x00"
    r = conn.call(22, 4, body, flexible=True)
    _throttle, error, pid, epoch = struct.unpack(">ihqh", r[1:17])
    if error != 0:
        raise RuntimeError(f"InitProducerId failed: error {error}")
    return pid, epoch


def produce(conn, topic, partition, batch):
    """Produce v3 (acks all) of one batch; returns the base offset."""
    body = string16(None) + struct.pack(">hi", -1, 10_000) + struct.pack(">i", 1) + string16(topic)
    body += struct.pack(">iii", 1, partition, len(batch)) + batch
    r = conn.call(0, 3, body)
    i = 4
    i += 2 + struct.unpack(">h", r[i : i + 2])[0]
    i += 4
    _partition, error, base = struct.unpack(">ihq", r[i : i + 14])
    if error != 0:
        raise RuntimeError(f"Produce to {topic}/{partition} failed: error {error}")
    return base


def transaction_batch(pid, epoch, sequence, block, values):
    b = DefaultRecordBatchBuilder(2, 0, True, pid, epoch, sequence, 1 << 20)
    ts = int(time.time() * 1000)
    for i, v in enumerate(values):
        value = json.dumps({"block_id": f"{block}-{i}", "latency": v}).encode()
        b.append(i, ts, None, value, [("source", b"transactional")])
    return bytes(b.build())


def commit_marker(pid, epoch):
    b = ControlBatchBuilder(2, 0, True, pid, epoch, -1, 1 << 20)
    key = struct.pack(">hh", 0, 1)  # version 0, type COMMIT
    value = struct.pack(">hi", 0, 0)  # version 0, coordinator epoch
    b.append(0, int(time.time() * 1000), key, value, [])
    return bytes(b.build())


def main():
    address, topic = sys.argv[1], sys.argv[2]
    partitions, transactions = int(sys.argv[3]), int(sys.argv[4])
    host, port = address.rsplit(":", 1)
    conn = Connection(host, int(port))
    pid, epoch = init_producer_id(conn)
    values, markers = [], 0
    for p in range(partitions):
        sequence = 0
        for t in range(transactions):
            batch = [round(1.0 + ((p * 97 + t * 13 + i * 7) % 500) * 0.75, 2) for i in range(RECORDS_PER_TRANSACTION)]
            produce(conn, topic, p, transaction_batch(pid, epoch, sequence, f"tx-{p}-{t}", batch))
            sequence += len(batch)
            values.extend(batch)
            produce(conn, topic, p, commit_marker(pid, epoch))
            markers += 1
    print(json.dumps({"good": len(values), "markers": markers, "values": values}))


if __name__ == "__main__":
    main()
