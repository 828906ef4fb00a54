//! The Kafka record: what `mss produce` writes and `mss consume` reads.
//!
//! Key: the block id (UTF-8). Value: a JSON object
//! `{"block_id":"blk_-1608999687919862906","latency":131.0,"ts_ms":1764072000000}`
//! where `latency` is in milliseconds and `ts_ms` is the produce time (Unix
//! epoch ms). The consumer also accepts a bare number (`131.0`) as the value,
//! for other producers; the block id then comes from the key.

use serde::{Deserialize, Serialize};

/// One latency measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyRecord {
    /// HDFS block id (`blk_...`).
    pub block_id: String,
    /// Latency in milliseconds: finite and ≥ 0.
    pub latency: f64,
    /// Produce time, Unix epoch milliseconds.
    #[serde(default)]
    pub ts_ms: i64,
}

/// Largest latency accepted (every sketch kind can hold it, HDR included).
pub const MAX_LATENCY: f64 = 1e12;

/// Why a value was refused, as counted in the stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// A required field (BlockId, Latency) is missing or empty.
    MissingField,
    /// The latency is not a number.
    NonNumeric,
    /// The latency is NaN or infinite.
    NotFinite,
    /// The latency is negative.
    Negative,
    /// The latency is above [`MAX_LATENCY`].
    OutOfRange,
    /// The CSV row has a different number of columns than the header.
    WrongColumnCount,
    /// The Kafka payload is neither the JSON record nor a bare number.
    Malformed,
}

impl RejectReason {
    /// Every reason, for stable output order.
    pub const ALL: [RejectReason; 7] = [
        RejectReason::MissingField,
        RejectReason::NonNumeric,
        RejectReason::NotFinite,
        RejectReason::Negative,
        RejectReason::OutOfRange,
        RejectReason::WrongColumnCount,
        RejectReason::Malformed,
    ];

    /// Snake-case name used in JSON and metrics.
    pub fn name(self) -> &'static str {
        match self {
            RejectReason::MissingField => "missing_field",
            RejectReason::NonNumeric => "non_numeric",
            RejectReason::NotFinite => "not_finite",
            RejectReason::Negative => "negative",
            RejectReason::OutOfRange => "out_of_range",
            RejectReason::WrongColumnCount => "wrong_column_count",
            RejectReason::Malformed => "malformed",
        }
    }

    /// Index into per-reason counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Checks a parsed latency.
pub fn validate_latency(latency: f64) -> Result<f64, RejectReason> {
    if !latency.is_finite() {
        Err(RejectReason::NotFinite)
    } else if latency < 0.0 {
        Err(RejectReason::Negative)
    } else if latency > MAX_LATENCY {
        Err(RejectReason::OutOfRange)
    } else {
        Ok(latency)
    }
}

/// Parses a latency field's text.
pub fn parse_latency(text: &str) -> Result<f64, RejectReason> {
    let text = text.trim();
    if text.is_empty() {
        return Err(RejectReason::MissingField);
    }
    let v: f64 = text.parse().map_err(|_| RejectReason::NonNumeric)?;
    validate_latency(v)
}

/// The parts of a payload the consumer needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decoded<'a> {
    /// Block id from the JSON, or from the key for bare numbers.
    pub block_id: &'a str,
    /// Validated latency.
    pub latency: f64,
    /// Produce time if the record carries one.
    pub ts_ms: Option<i64>,
}

#[derive(Deserialize)]
struct Borrowed<'a> {
    #[serde(borrow, default)]
    block_id: Option<&'a str>,
    #[serde(default)]
    latency: Option<serde_json::Value>,
    #[serde(default)]
    ts_ms: Option<i64>,
}

/// Whether `s` is a JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_json_number(s: &[u8]) -> bool {
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while s.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    if s.get(i) == Some(&b'-') {
        i += 1;
    }
    match s.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == s.len()
}

/// The record exactly as `encode` writes it —
/// `{"block_id":"…","latency":N,"ts_ms":N}`, no escapes, no spaces — read
/// without a JSON parser. `None` for anything else (the general decoder
/// then decides), so both paths agree on every input this one accepts.
fn decode_canonical(text: &str) -> Option<Decoded<'_>> {
    let rest = text.strip_prefix("{\"block_id\":\"")?;
    let end = rest.find('"')?;
    let (block_id, rest) = rest.split_at(end);
    if block_id.bytes().any(|b| b == b'\\' || b < 0x20) {
        return None;
    }
    let rest = rest.strip_prefix("\",\"latency\":")?;
    let end = rest.find(',')?;
    let (latency, rest) = rest.split_at(end);
    if !is_json_number(latency.as_bytes()) {
        return None;
    }
    let ts = rest.strip_prefix(",\"ts_ms\":")?.strip_suffix('}')?;
    if !is_json_number(ts.as_bytes()) {
        return None;
    }
    Some(Decoded {
        block_id,
        latency: latency.parse().ok()?,
        // Not an i64 (fraction, exponent, overflow): the general decoder decides.
        ts_ms: Some(ts.parse().ok()?),
    })
}

/// Decodes a record value (JSON record or bare number) with its key.
pub fn decode<'a>(key: Option<&'a [u8]>, value: Option<&'a [u8]>) -> Result<Decoded<'a>, RejectReason> {
    let value = value.ok_or(RejectReason::Malformed)?;
    let text = std::str::from_utf8(value).map_err(|_| RejectReason::Malformed)?;
    if let Some(d) = decode_canonical(text) {
        return Ok(Decoded {
            latency: validate_latency(d.latency)?,
            ..d
        });
    }
    let key_id = key.and_then(|k| std::str::from_utf8(k).ok()).unwrap_or("");
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        let rec: Borrowed<'a> = serde_json::from_str(text).map_err(|_| RejectReason::Malformed)?;
        let latency = match rec.latency {
            None | Some(serde_json::Value::Null) => return Err(RejectReason::MissingField),
            Some(serde_json::Value::Number(n)) => n.as_f64().ok_or(RejectReason::NonNumeric)?,
            // "NaN", "inf", "12.5" as strings: parse, then validate.
            Some(serde_json::Value::String(s)) => s.trim().parse().map_err(|_| RejectReason::NonNumeric)?,
            Some(_) => return Err(RejectReason::NonNumeric),
        };
        Ok(Decoded {
            block_id: rec.block_id.unwrap_or(key_id),
            latency: validate_latency(latency)?,
            ts_ms: rec.ts_ms,
        })
    } else {
        let latency = trimmed
            .trim()
            .parse::<f64>()
            .map_err(|_| RejectReason::Malformed)?;
        Ok(Decoded {
            block_id: key_id,
            latency: validate_latency(latency)?,
            ts_ms: None,
        })
    }
}

/// Encodes a record value.
pub fn encode(record: &LatencyRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    encode_into(record, &mut out);
    out
}

/// Appends a record value to `out` (the producer reuses one buffer).
pub fn encode_into(record: &LatencyRecord, out: &mut Vec<u8>) {
    // Serializing a struct of a string, a finite f64 and an i64 into a Vec cannot fail.
    let _ = serde_json::to_writer(out, record);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The general (serde) path alone, to compare the fast path with.
    fn decode_general<'a>(value: &'a str) -> Result<Decoded<'a>, RejectReason> {
        let rec: Borrowed<'a> = serde_json::from_str(value).map_err(|_| RejectReason::Malformed)?;
        let latency = match rec.latency {
            Some(serde_json::Value::Number(n)) => n.as_f64().ok_or(RejectReason::NonNumeric)?,
            _ => return Err(RejectReason::NonNumeric),
        };
        Ok(Decoded {
            block_id: rec.block_id.unwrap_or(""),
            latency: validate_latency(latency)?,
            ts_ms: rec.ts_ms,
        })
    }

    #[test]
    fn the_canonical_fast_path_agrees_with_the_json_parser() {
        let mut state = 0x1234_5678_u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state
        };
        for i in 0..20_000u64 {
            let bits = next();
            let latency = match i % 4 {
                0 => (bits >> 11) as f64 / (1u64 << 53) as f64 * 1e5,
                1 => ((bits >> 20) % 100_000) as f64 / 100.0,
                // Log-uniform over 1e-9 … 1e12 ms, every digit count and exponent form.
                2 => 10f64.powf((bits >> 11) as f64 / (1u64 << 53) as f64 * 21.0 - 9.0),
                _ => (bits % 1000) as f64 * 1e-7,
            };
            let rec = LatencyRecord {
                block_id: format!("blk_{}", bits as i64),
                latency,
                ts_ms: (bits >> 1) as i64 * if i % 2 == 0 { 1 } else { -1 },
            };
            let bytes = encode(&rec);
            let text = std::str::from_utf8(&bytes).expect("utf-8");
            let fast = decode_canonical(text).expect("our own encoding takes the fast path");
            let general = decode_general(text).expect("valid record");
            assert_eq!(
                (fast.block_id, fast.ts_ms),
                (general.block_id, general.ts_ms),
                "{text}"
            );
            // Both read back exactly what was written (serde_json with `float_roundtrip`).
            assert_eq!(fast.latency.to_bits(), rec.latency.to_bits(), "{text}");
            assert_eq!(fast.latency.to_bits(), general.latency.to_bits(), "{text}");
        }
        // Anything else is left to the JSON parser.
        for other in [
            r#"{"latency":1.5,"block_id":"blk","ts_ms":1}"#,
            r#"{"block_id":"b\"x","latency":1.5,"ts_ms":1}"#,
            r#"{"block_id":"b","latency":01.5,"ts_ms":1}"#,
            r#"{"block_id":"b","latency":1.,"ts_ms":1}"#,
            r#"{"block_id":"b","latency":+1,"ts_ms":1}"#,
            r#"{"block_id":"b","latency":1.5,"ts_ms":1.5}"#,
            r#"{"block_id":"b","latency":1.5,"ts_ms":99999999999999999999}"#,
            r#"{"block_id":"b","latency":"1.5","ts_ms":1}"#,
            r#"{"block_id":"b", "latency":1.5,"ts_ms":1}"#,
        ] {
            assert_eq!(decode_canonical(other), None, "{other}");
        }
        assert!(
            is_json_number(b"-0.5e+10")
                && is_json_number(b"0")
                && !is_json_number(b"-")
                && !is_json_number(b"1e")
        );
    }

    #[test]
    fn json_and_bare_numbers_decode() {
        let rec = LatencyRecord {
            block_id: "blk_1".into(),
            latency: 131.5,
            ts_ms: 42,
        };
        let bytes = encode(&rec);
        let d = decode(Some(b"blk_1"), Some(&bytes)).expect("valid");
        assert_eq!((d.block_id, d.latency, d.ts_ms), ("blk_1", 131.5, Some(42)));
        let d = decode(Some(b"blk_2"), Some(b" 7.25 ")).expect("bare number");
        assert_eq!((d.block_id, d.latency), ("blk_2", 7.25));
    }

    #[test]
    fn garbage_is_rejected_with_a_reason() {
        let cases: [(&[u8], RejectReason); 8] = [
            (b"\xff\xfe", RejectReason::Malformed),
            (b"{not json", RejectReason::Malformed),
            (b"hello", RejectReason::Malformed),
            (br#"{"block_id":"b"}"#, RejectReason::MissingField),
            (br#"{"latency":"abc"}"#, RejectReason::NonNumeric),
            (br#"{"latency":"NaN"}"#, RejectReason::NotFinite),
            (br#"{"latency":-1}"#, RejectReason::Negative),
            (b"1e300", RejectReason::OutOfRange),
        ];
        for (payload, reason) in cases {
            assert_eq!(decode(None, Some(payload)).err(), Some(reason), "{payload:?}");
        }
        assert_eq!(decode(None, None).err(), Some(RejectReason::Malformed));
    }
}
