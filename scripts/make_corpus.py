#!/usr/bin/env python3
"""Writes backend/tests/corpus/: hostile inputs for every entry point, one
file each, and expected.json with what must happen to each (checked by
backend/tests/corpus.rs). Run again after adding a case; the files are
committed so the suite never depends on this script."""
import gzip, json, os, struct, zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'backend', 'tests', 'corpus')
expected = {}


def put(entry, name, data, expect):
    os.makedirs(os.path.join(ROOT, entry), exist_ok=True)
    path = f'{entry}/{name}'
    with open(os.path.join(ROOT, path), 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    expected[path] = expect


HEADER = 'BlockId,Label,Type,Features,TimeInterval,Latency\n'
GOOD = 'blk_1,Normal,1,"[E5,E22]","[0.0]",12.5\n'

# CSV replays: good rows counted, each bad row rejected by reason, never a stop.
put('csv', 'bad_latencies.csv', HEADER + GOOD + ''.join(
    f'blk_x,Normal,1,"[E5]","[0.0]",{v}\n' for v in ['slow', 'NaN', 'inf', '-3', '1e400', '0x10', '']),
    {'good': 1, 'rejected': {'non_numeric': 2, 'not_finite': 3, 'negative': 1, 'missing_field': 1}})
put('csv', 'wrong_columns.csv', HEADER + GOOD + 'blk_2,Normal\n' + 'a,b,c,d,e,f,g,h\n' + GOOD,
    {'good': 2, 'rejected': {'wrong_column_count': 2}})
put('csv', 'no_header.csv', GOOD * 3, {'open_error': 'BlockId and Latency'})
put('csv', 'empty.csv', '', {'open_error': 'BlockId and Latency'})
put('csv', 'utf8_bom.csv', '\ufeff' + HEADER + GOOD, {'good': 1, 'rejected': {}})
put('csv', 'binary_garbage.csv', HEADER.encode() + bytes(range(256)) * 4 + b'\n' + GOOD.encode(),
    {'good': 1, 'rejected_total_at_least': 1})
put('csv', 'huge_field.csv', HEADER + 'blk_h,Normal,1,"' + 'E' * 300_000 + '","[0.0]",5\n' + GOOD,
    {'good': 2, 'rejected': {}})
put('csv', 'bad_tags.csv', 'BlockId,Latency,tag.route\nblk_1,5,/ok\nblk_2,5,bad\x01value\nblk_3,5,\n',
    {'good': 1, 'rejected': {'bad_tag': 2}})
put('csv', 'bad_tag_column.csv', 'BlockId,Latency,tag.no spaces\nblk_1,5,x\n', {'open_error': 'tag'})

# Kafka record values (any producer): accepted, or rejected by reason.
records = {
    'hdfs.json': (b'{"block_id":"blk_1","latency":12.5}', {'ok': 12.5}),
    'bare_number.txt': (b' 42.25 ', {'ok': 42.25}),
    'series.json': (b'{"metric":"http.server.duration","tags":{"route":"/pay"},"value":0.25,"unit":"s"}', {'ok': 250.0}),
    'latency_as_string.json': (b'{"block_id":"b","latency":"7.5"}', {'ok': 7.5}),
    'missing_latency.json': (b'{"block_id":"b"}', {'reject': 'missing_field'}),
    'nan.json': (b'{"block_id":"b","latency":"NaN"}', {'reject': 'not_finite'}),
    'negative.json': (b'{"block_id":"b","latency":-1}', {'reject': 'negative'}),
    'huge.json': (b'{"block_id":"b","latency":1e300}', {'reject': 'out_of_range'}),
    'not_json.txt': (b'hello', {'reject': 'malformed'}),
    'truncated.json': (b'{"block_id":"b","lat', {'reject': 'malformed'}),
    'empty.txt': (b'', {'reject': 'malformed'}),
    'invalid_utf8.bin': (b'{"block_id":"\xff\xfe","latency":1}', {'reject': 'malformed'}),
    'deep_nesting.json': (b'{"block_id":' + b'[' * 100_000 + b']' * 100_000 + b',"latency":1}', {'reject': 'malformed'}),
    'long_string.json': (b'{"block_id":"' + b'x' * 1_000_000 + b'","latency":1}', {'ok': 1.0}),
    'bad_metric.json': (b'{"metric":"has space","value":1}', {'reject': 'bad_metric'}),
    'bad_tag_value.json': (b'{"metric":"m","tags":{"k":""},"value":1}', {'reject': 'bad_tag'}),
    'tag_not_string.json': (b'{"metric":"m","tags":{"k":5},"value":1}', {'reject': 'bad_tag'}),
    'too_many_tags.json': (json.dumps({'metric': 'm', 'tags': {f'k{i}': 'v' for i in range(40)}, 'value': 1}).encode(),
                           {'reject': 'too_many_tags'}),
    'ten_thousand_tags.json': (json.dumps({'metric': 'm', 'tags': {f'k{i}': 'v' for i in range(10_000)}, 'value': 1}).encode(),
                               {'reject': 'too_many_tags'}),
    'bad_unit.json': (b'{"metric":"m","value":1,"unit":"parsecs"}', {'reject': 'bad_unit'}),
    'gzip_bytes.bin': (gzip.compress(b'{"block_id":"b","latency":1}', mtime=0), {'reject': 'malformed'}),
    'null_bytes.bin': (b'\x00' * 64, {'reject': 'malformed'}),
}
for name, (data, expect) in records.items():
    put('record', name, data, expect)
put('record', 'null_value', b'', {'reject': 'malformed', 'value_is_null': True})

# WebSocket frames from a client: accepted, or an error (the server counts
# three and closes 1003); another version is told, not misread.
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)

# A frame is the variant (0 = Subscribe), then the version, then the fields.
put('ws', 'valid_subscribe.bin', b'\x00' + varint(2) + b'\x00' * 5, {'version': 2, 'decode': 'ok'})
put('ws', 'empty.bin', b'', {'decode': 'error'})
put('ws', 'version_1.bin', b'\x00' + varint(1) + b'\x00\x00', {'version': 1, 'decode': 'error'})
put('ws', 'garbage.bin', bytes(range(7, 200)), {'decode': 'error'})
# A Subscribe whose `kinds` claims 2^62 entries: refused without allocating them.
put('ws', 'huge_vec_length.bin', b'\x00' + varint(2) + b'\x01' + varint(1 << 62) + b'\x00' * 8, {'version': 2, 'decode': 'error'})
# Its `metric` claims a 1 TiB string.
put('ws', 'huge_string_length.bin', b'\x00' + varint(2) + b'\x00\x00\x00\x01' + varint(1 << 40) + b'abc', {'version': 2, 'decode': 'error'})
put('ws', 'text_like.bin', b'{"subscribe":true}', {'decode': 'error'})

# Sketch bytes in every format: a clear error, never a panic, never an
# allocation sized by a length field.
put('sketch', 'native_bad_magic.bin', b'\x00\x01\x02\x03', {'native': 'error'})
put('sketch', 'native_truncated.bin', b'\x51\x01', {'native': 'error'})
put('sketch', 'native_huge_bin_count.bin', b'\x51\x01\x01' + b'\xff' * 32, {'native': 'error'})
put('sketch', 'empty.bin', b'', {'native': 'error', 'datadog': 'ok_or_error', 'hdr': 'error'})
# A protobuf field (1: mapping) whose length prefix says 2 GB.
put('sketch', 'datadog_2gb_length.bin', b'\x0a' + varint(2 << 30) + b'\x00' * 16, {'datadog': 'error'})
put('sketch', 'datadog_wrong_wire_type.bin', b'\x0d\x01\x02\x03\x04' * 4, {'datadog': 'error'})
put('sketch', 'datadog_huge_packed.bin', b'\x12' + varint(1 << 31) + b'\x0a\x00', {'datadog': 'error'})
# HDR V2: cookie, payload length, normalizing offset, digits, lowest, highest, ratio.
def hdr_v2(payload_len, digits, lowest, highest, payload=b''):
    return struct.pack('>iiiiqqd', 0x1c849303, payload_len, 0, digits, lowest, highest, 1.0) + payload
put('sketch', 'hdr_claims_2_40_buckets.bin', hdr_v2(1 << 30, 3, 1, (1 << 62), b'\x02' * 16), {'hdr': 'error'})
put('sketch', 'hdr_bad_digits.bin', hdr_v2(0, 9, 1, 1000), {'hdr': 'error'})
put('sketch', 'hdr_negative_payload.bin', hdr_v2(-5, 3, 1, 1000), {'hdr': 'error'})
put('sketch', 'hdr_lowest_above_highest.bin', hdr_v2(0, 3, 1000, 1), {'hdr': 'error'})
# A compressed V2 whose deflate stream inflates to 64 MiB of zeros (a bomb).
bomb = zlib.compress(hdr_v2(64 << 20, 3, 1, 3_600_000_000) + b'\x00' * (64 << 20), 9)
put('sketch', 'hdr_deflate_bomb.bin', struct.pack('>ii', 0x1c849304, len(bomb)) + bomb, {'hdr': 'error'})
put('sketch', 'hdr_compressed_truncated.bin', struct.pack('>ii', 0x1c849304, 1000) + b'\x78\x9c\x01', {'hdr': 'error'})

# Query strings: a 400 naming the parameter (never a 500, never a hang).
queries = {
    'q_percent.txt': ('/api/quantiles?q=99', 'q'),
    'q_nan.txt': ('/api/quantiles?q=NaN', 'q'),
    'q_too_many.txt': ('/api/quantiles?q=' + ','.join(['0.5'] * 40), 'q'),
    'from_words.txt': ('/api/quantiles?from=yesterday', 'from'),
    'from_after_to.txt': ('/api/quantiles?from=2000&to=1000', 'from'),
    'range_too_long.txt': ('/api/quantiles?from=0&to=99999999999999', 'from'),
    'sketch_unknown.txt': ('/api/quantiles?sketch=tdigest', 'sketch'),
    'unknown_param.txt': ('/api/quantiles?zoom=2', 'zoom'),
    'filter_no_key.txt': ('/api/quantiles?filter=:x', 'filter'),
    'filter_nul.txt': ('/api/quantiles?filter=k:%00', 'filter'),
    'filter_too_long.txt': ('/api/quantiles?filter=' + ','.join(f'k{i}:v' for i in range(3000)), 'filter'),
    'by_three_keys.txt': ('/api/quantiles?by=a,b,c', 'by'),
    'limit_zero.txt': ('/api/quantiles?by=a&limit=0', 'limit'),
    'metric_bad.txt': ('/api/quantiles?metric=has%20space', 'metric'),
    'step_zero.txt': ('/api/series?step=0', 'step'),
    'step_too_many_points.txt': ('/api/series?from=0&to=2000000000000&step=1ms', 'from'),
    'format_xml.txt': ('/api/series?format=xml', 'format'),
    'shift_past_retention.txt': ('/api/series?shift=30d', 'shift'),
    'le_nan.txt': ('/api/fraction?le=NaN', 'le'),
    'le_and_gt.txt': ('/api/fraction?le=1&gt=2', 'gt'),
    'width_huge.txt': ('/api/chart.svg?width=99999', 'width'),
    'tz_name.txt': ('/api/chart.svg?tz=Europe/Berlin', 'tz'),
    'theme_pink.txt': ('/api/chart.svg?theme=pink', 'theme'),
    'exact_grouped.txt': ('/api/exact?by=a', 'by'),
}
for name, (path, param) in queries.items():
    put('query', name, path, {'status': 400, 'param': param})

# OTLP bodies (POST /v1/metrics) and OTLP records in Kafka (`--format otlp`).
# `status` is the HTTP answer (with `rejected_data_points` in its partial
# success); `record` is what one Kafka record of the same request does:
# points counted, points rejected by reason (a body that is not a request:
# the record is `malformed`). JSON bodies go to Kafka as their protobuf.
def ld(field, data):
    return varint(field << 3 | 2) + varint(len(data)) + data

def fixed64(field, n):
    return varint(field << 3 | 1) + struct.pack('<Q', n)

def otlp_json(metric):
    body = {'resourceMetrics': [{'scopeMetrics': [{'metrics': [dict(metric)]}]}]}
    return json.dumps(body)

def hist(bounds, counts, count, name='http.server.duration', unit='ms'):
    return {'name': name, 'unit': unit, 'histogram': {'aggregationTemporality': 1, 'dataPoints': [
        {'count': str(count), 'bucketCounts': [str(c) for c in counts], 'explicitBounds': bounds}]}}

def otlp(name, data, status, rejected_points=0, record=None):
    expect = {'status': status}
    if status == 200:
        expect['rejected_data_points'] = rejected_points
    if record is not None:
        expect['record'] = record
    put('otlp', name, data, expect)

def rejected(reason, n=1):
    return {'points': 0, 'rejected': {reason: n}}

MALFORMED = {'points': 0, 'rejected': {'malformed': 1}}
otlp('good_histogram.json', otlp_json(hist([10, 100], [1, 2, 3], 6)), 200, 0, {'points': 1, 'rejected': {}})
otlp('bucket_count_mismatch.json', otlp_json(hist([10], [1, 2, 3], 6)), 200, 1, rejected('bad_buckets'))
otlp('counts_overflow_u64.json', otlp_json(hist([10], [2**64 - 1, 1], 0)), 200, 1, rejected('bad_buckets'))
otlp('count_not_sum_of_buckets.json', otlp_json(hist([10], [1, 2], 999)), 200, 1, rejected('bad_buckets'))
otlp('unsorted_bounds.json', otlp_json(hist([100, 10], [1, 2, 3], 6)), 200, 1, rejected('bad_buckets'))
otlp('bad_metric_name.json', otlp_json(hist([10], [1, 2], 3, name='has space')), 200, 1, rejected('bad_metric'))
otlp('bad_unit.json', otlp_json(hist([10], [1, 2], 3, unit='furlongs per fortnight')), 200, 1, rejected('bad_unit'))
otlp('gauge_only.json', otlp_json({'name': 'g', 'gauge': {'dataPoints': [{'asDouble': 1}, {'asDouble': 2}]}}),
     200, 2, rejected('unsupported_point', 2))
otlp('exponential_scale_huge.json', otlp_json({'name': 'e', 'unit': 'ms', 'exponentialHistogram': {
    'aggregationTemporality': 1, 'dataPoints': [{'count': '2', 'scale': 1000,
    'positive': {'offset': 0, 'bucketCounts': ['2']}}]}}), 200, 1, rejected('bad_buckets'))
otlp('exponential_offset_huge.json', otlp_json({'name': 'e', 'unit': 'ms', 'exponentialHistogram': {
    'aggregationTemporality': 1, 'dataPoints': [{'count': '2', 'scale': 0,
    'positive': {'offset': 2**31 - 1, 'bucketCounts': ['1', '1']}}]}}), 200, 1, rejected('bad_buckets'))
otlp('json_wrong_shape.json', '{"resourceMetrics": 5}', 400)
otlp('json_count_not_a_number.json', otlp_json(hist([10], [1, 2], 'abc')), 400)
# A malformed attribute value or two kinds of data in one metric fail the body (not dropped silently).
otlp('json_bad_attribute_value.json', json.dumps({'resourceMetrics': [{'resource': {'attributes': [
    {'key': 'k', 'value': {'intValue': 'abc'}}]}, 'scopeMetrics': []}]}), 400)
otlp('json_two_data_kinds.json', otlp_json(dict(hist([10], [1, 2], 3), gauge={'dataPoints': []})), 400)
otlp('json_garbage.json', b'\x00\xff{"resourceMetrics"', 400)
# Protobuf: the structure itself is hostile.
POINT = fixed64(4, 3) + ld(6, struct.pack('<QQ', 1, 2)) + ld(7, struct.pack('<d', 10.0))
METRIC = ld(1, b'h') + ld(3, b'ms') + ld(9, ld(1, POINT) + varint(2 << 3) + varint(1))
REQUEST = ld(1, ld(2, ld(2, METRIC)))
otlp('good_histogram.pb', REQUEST, 200, 0, {'points': 1, 'rejected': {}})
otlp('empty.pb', b'', 200, 0, {'points': 0, 'rejected': {}})
otlp('truncated.pb', REQUEST[:len(REQUEST) // 2], 400, record=MALFORMED)
# resource_metrics claims 2 GiB: refused without reserving it.
otlp('length_2gb.pb', b'\x0a' + varint(2 << 30) + b'\x00' * 16, 400, record=MALFORMED)
# A packed bucket_counts field claiming 2^40 bytes inside a real point.
otlp('packed_length_huge.pb', ld(1, ld(2, ld(2, ld(1, b'h') + ld(9, ld(1, b'\x32' + varint(1 << 40)))))),
     400, record=MALFORMED)
otlp('wrong_wire_type.pb', b'\x0d\x01\x02\x03\x04' * 4, 400, record=MALFORMED)
# A resource attribute whose value nests arrays 500 deep (past the decoder's recursion limit).
value = b''
for _ in range(500):
    value = ld(5, ld(1, value))
otlp('deep_nesting.pb', ld(1, ld(1, ld(1, ld(1, b'k') + ld(2, value)))), 400, record=MALFORMED)
# 64 MiB of zeros in 64 KiB of gzip: inflated only up to --otlp-max-body (413).
otlp('gzip_bomb.pb.gz', gzip.compress(b'\x00' * (64 << 20), 9, mtime=0), 413)

with open(os.path.join(ROOT, 'expected.json'), 'w') as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write('\n')
print(f'{len(expected)} cases in {ROOT}')
