//! Datadog's DDSketch protobuf (`ddsketch.proto` of DataDog/sketches-go), read
//! and written with the message types generated in `libdd-ddsketch`.
//!
//! Written like the Python library writes it: mapping `{gamma, indexOffset,
//! interpolation: NONE}` and both stores as contiguous bins. Read: contiguous
//! and sparse (`binCounts`) bins are summed, as the format specifies. The
//! format carries no min, max or sum; they are estimated from the buckets.

use libdd_ddsketch::pb;
use prost::Message;

use super::{CollapsingLowestStore, DDSketch, LogarithmicMapping, DEFAULT_BIN_LIMIT};
use crate::error::DecodeError;

/// Most buckets accepted from one protobuf store (bounds memory on bad input).
const MAX_PROTO_BINS: usize = 1 << 20;

impl DDSketch {
    /// The sketch as a Datadog protobuf message.
    pub fn to_proto(&self) -> pb::DdSketch {
        pb::DdSketch {
            mapping: Some(pb::IndexMapping {
                gamma: self.mapping.gamma(),
                index_offset: self.mapping.offset(),
                interpolation: pb::index_mapping::Interpolation::None.into(),
            }),
            positive_values: Some(store_to_proto(&self.positive)),
            negative_values: Some(store_to_proto(&self.negative)),
            zero_count: self.zero_count,
        }
    }

    /// The sketch as Datadog protobuf bytes (readable by `ddsketch`'s
    /// `DDSketchProto.from_proto`).
    pub fn to_proto_bytes(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// Reads Datadog protobuf bytes, e.g. from `DDSketchProto.to_proto(s).SerializeToString()`.
    pub fn from_proto_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let message = pb::DdSketch::decode(bytes).map_err(|e| DecodeError::Protobuf(e.to_string()))?;
        Self::from_proto(&message)
    }

    /// Reads a Datadog protobuf message. Only the logarithmic mapping
    /// (`interpolation: NONE`) is supported.
    pub fn from_proto(message: &pb::DdSketch) -> Result<Self, DecodeError> {
        let mapping = message
            .mapping
            .as_ref()
            .ok_or(DecodeError::Protobuf("mapping is missing".into()))?;
        if mapping.interpolation != i32::from(pb::index_mapping::Interpolation::None) {
            return Err(DecodeError::Protobuf(format!(
                "interpolation {} is not supported (only NONE, the logarithmic mapping)",
                mapping.interpolation
            )));
        }
        if !mapping.index_offset.is_finite() || mapping.index_offset.abs() > 1e9 {
            return Err(DecodeError::Protobuf("indexOffset out of range".into()));
        }
        let mapping = LogarithmicMapping::from_gamma_offset(mapping.gamma, mapping.index_offset)?;
        if !(message.zero_count.is_finite() && message.zero_count >= 0.0) {
            return Err(DecodeError::Protobuf(
                "zeroCount is negative or not finite".into(),
            ));
        }
        let positive = store_from_proto(message.positive_values.as_ref())?;
        let negative = store_from_proto(message.negative_values.as_ref())?;
        Ok(Self::from_parts(mapping, positive, negative, message.zero_count))
    }
}

fn store_to_proto(store: &CollapsingLowestStore) -> pb::Store {
    match store.key_range() {
        None => pb::Store::default(),
        Some((lo, hi)) => {
            let mut counts = vec![0.0; (hi - lo + 1) as usize];
            for (key, count) in store.iter() {
                counts[(key - lo) as usize] = count;
            }
            pb::Store {
                bin_counts: Default::default(),
                contiguous_bin_counts: counts,
                contiguous_bin_index_offset: lo,
            }
        }
    }
}

fn store_from_proto(store: Option<&pb::Store>) -> Result<CollapsingLowestStore, DecodeError> {
    let Some(store) = store else {
        return Ok(CollapsingLowestStore::new(DEFAULT_BIN_LIMIT));
    };
    if store.contiguous_bin_counts.len() > MAX_PROTO_BINS || store.bin_counts.len() > MAX_PROTO_BINS {
        return Err(DecodeError::Protobuf("too many bins".into()));
    }
    let offset = i64::from(store.contiguous_bin_index_offset);
    let mut bins = Vec::with_capacity(store.contiguous_bin_counts.len() + store.bin_counts.len());
    for (i, &count) in store.contiguous_bin_counts.iter().enumerate() {
        let key = i32::try_from(offset + i as i64)
            .map_err(|_| DecodeError::Protobuf("bin index out of range".into()))?;
        bins.push((key, count));
    }
    bins.extend(store.bin_counts.iter().map(|(&k, &c)| (k, c)));
    if bins.iter().any(|&(_, c)| !(c.is_finite() && c >= 0.0)) {
        return Err(DecodeError::Protobuf(
            "bin count is negative or not finite".into(),
        ));
    }
    // The Python reader keeps every bucket (unbounded store): never collapse here.
    let span = match (bins.iter().map(|b| b.0).min(), bins.iter().map(|b| b.0).max()) {
        (Some(lo), Some(hi)) => (i64::from(hi) - i64::from(lo) + 1) as usize,
        _ => 0,
    };
    if span > MAX_PROTO_BINS {
        return Err(DecodeError::Protobuf("bin indexes span too wide a range".into()));
    }
    Ok(CollapsingLowestStore::from_bins(
        DEFAULT_BIN_LIMIT.max(span),
        bins,
    ))
}
