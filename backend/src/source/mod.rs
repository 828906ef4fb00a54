//! Where latency rows come from: an HDFS `Event_traces.csv` replay or a
//! synthetic generator with the same shape.

pub mod csv;
pub mod synthetic;

use crate::record::RejectReason;

/// One good row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// HDFS block id.
    pub block_id: String,
    /// Latency in milliseconds (validated).
    pub latency: f64,
    /// Tags of the row's series (the CSV's `Label`, the synthetic `op` and
    /// `datanode`); empty: the consumer's default series.
    pub tags: Vec<(String, String)>,
}

/// A row that could not be used.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRow {
    /// 1-based line number in the file (0 for generated rows).
    pub line: u64,
    /// Why it was refused.
    pub reason: RejectReason,
    /// What was found, for the log.
    pub detail: String,
}

/// A row or the reason it was refused.
pub type SourceItem = Result<Row, BadRow>;
