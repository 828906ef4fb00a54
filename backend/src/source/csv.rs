//! HDFS_v1 `Event_traces.csv` replay.
//!
//! Columns are found by header name; `BlockId` and `Latency` are used, and
//! `Label` (Success/Fail in HDFS_v1) when present becomes the tag `label`,
//! so failed and successful blocks are series side by side; a column named
//! `tag.KEY` (what `mss generate` writes: `tag.op`, `tag.datanode`) becomes
//! the tag `KEY`; every other column (`Type`, `Features` such as
//! `"[E5,E22,E5]"` quoted with commas, `TimeInterval`) is ignored. A tag
//! value that is not valid (empty, too long, control characters) is rejected
//! as `bad_tag`; a `tag.` column whose key is not a valid tag key is an
//! error at open. Rows with a wrong column count, a
//! missing field, or a latency that is not a finite, non-negative number are
//! yielded as [`BadRow`]s with their line number; reading never stops on them.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::{BadRow, Row, SourceItem};
use crate::record::{parse_latency, RejectReason};

/// Reads rows from an HDFS CSV file, optionally starting over at the end.
pub struct CsvSource {
    path: PathBuf,
    reader: csv::Reader<File>,
    columns: usize,
    block_id: usize,
    latency: usize,
    /// `(column, tag key)`: `Label` and the `tag.KEY` columns.
    tag_columns: Vec<(usize, String)>,
    record: csv::ByteRecord,
    repeat: bool,
}

impl CsvSource {
    /// Opens `path` and locates the `BlockId` and `Latency` columns.
    pub fn open(path: &Path, repeat: bool) -> anyhow::Result<Self> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let headers = reader
            .byte_headers()
            .with_context(|| format!("reading the header of {}", path.display()))?;
        let find = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
        };
        let (Some(block_id), Some(latency)) = (find("BlockId"), find("Latency")) else {
            bail!("{}: the header needs BlockId and Latency columns", path.display());
        };
        let mut tag_columns: Vec<(usize, String)> = find("Label")
            .map(|i| (i, "label".to_owned()))
            .into_iter()
            .collect();
        for (i, h) in headers.iter().enumerate() {
            let Some(key) = h.trim_ascii().strip_prefix(b"tag.") else {
                continue;
            };
            let key = String::from_utf8_lossy(key).into_owned();
            if shared::series::validate_tag(&key, "x").is_err() || tag_columns.iter().any(|(_, k)| *k == key)
            {
                bail!(
                    "{}: column tag.{key}: not a valid (or a repeated) tag key",
                    path.display()
                );
            }
            tag_columns.push((i, key));
        }
        if tag_columns.len() > shared::series::MAX_TAGS {
            bail!(
                "{}: more than {} tag columns",
                path.display(),
                shared::series::MAX_TAGS
            );
        }
        let columns = headers.len();
        Ok(Self {
            path: path.to_owned(),
            reader,
            columns,
            block_id,
            latency,
            tag_columns,
            record: csv::ByteRecord::new(),
            repeat,
        })
    }

    fn row(&self, line: u64) -> SourceItem {
        let bad = |reason, detail: &[u8]| BadRow {
            line,
            reason,
            detail: String::from_utf8_lossy(detail).chars().take(80).collect(),
        };
        if self.record.len() != self.columns {
            return Err(bad(RejectReason::WrongColumnCount, self.record.as_slice()));
        }
        let block_id = self.record.get(self.block_id).unwrap_or_default().trim_ascii();
        let latency = self.record.get(self.latency).unwrap_or_default();
        if block_id.is_empty() {
            return Err(bad(RejectReason::MissingField, b"BlockId is empty"));
        }
        let text = std::str::from_utf8(latency).map_err(|_| bad(RejectReason::NonNumeric, latency))?;
        let latency = parse_latency(text).map_err(|reason| bad(reason, text.as_bytes()))?;
        let mut tags = Vec::with_capacity(self.tag_columns.len());
        for (i, key) in &self.tag_columns {
            let raw = self.record.get(*i).unwrap_or_default().trim_ascii();
            let value = std::str::from_utf8(raw).map_err(|_| bad(RejectReason::BadTag, raw))?;
            shared::series::validate_tag(key, value).map_err(|_| bad(RejectReason::BadTag, raw))?;
            tags.push((key.clone(), value.to_owned()));
        }
        Ok(Row {
            block_id: String::from_utf8_lossy(block_id).into_owned(),
            latency,
            tags,
        })
    }
}

impl Iterator for CsvSource {
    type Item = SourceItem;

    fn next(&mut self) -> Option<SourceItem> {
        loop {
            match self.reader.read_byte_record(&mut self.record) {
                Ok(true) => {
                    let line = self.record.position().map_or(0, |p| p.line());
                    return Some(self.row(line));
                }
                Ok(false) if self.repeat => {
                    let again = Self::open(&self.path, true).ok()?;
                    let had_rows = self.record.position().is_some_and(|p| p.line() > 1);
                    *self = again;
                    if !had_rows {
                        return None;
                    }
                }
                Ok(false) => return None,
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    return Some(Err(BadRow {
                        line,
                        reason: RejectReason::Malformed,
                        detail: e.to_string(),
                    }));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_by_header_name_and_reports_bad_rows() {
        let dir = std::env::temp_dir().join(format!("mss-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("e.csv");
        std::fs::write(
            &path,
            "BlockId,Label,Type,Features,TimeInterval,Latency\n\
             blk_1,Normal,1,\"[E5,E22,E5]\",[0.0],131.0\n\
             blk_2,Normal,1,\"[E5]\",[0.0],abc\n\
             blk_3,Normal,1,\"[E5]\",[0.0],-4\n\
             blk_4,Normal,1,\"[E5]\",[0.0],NaN\n\
             ,Normal,1,\"[E5]\",[0.0],5\n\
             blk_6,Normal,1\n\
             blk_7,Anomaly,1,\"[E5,E7]\",\"[0.0, 1.0]\",2500.5\n",
        )
        .expect("write");
        let items: Vec<SourceItem> = CsvSource::open(&path, false).expect("open").collect();
        assert_eq!(items.len(), 7);
        assert_eq!(
            items[0],
            Ok(Row {
                block_id: "blk_1".into(),
                latency: 131.0,
                tags: vec![("label".into(), "Normal".into())],
            })
        );
        let reasons: Vec<_> = items
            .iter()
            .filter_map(|i| i.as_ref().err().map(|b| (b.line, b.reason)))
            .collect();
        assert_eq!(
            reasons,
            [
                (3, RejectReason::NonNumeric),
                (4, RejectReason::Negative),
                (5, RejectReason::NotFinite),
                (6, RejectReason::MissingField),
                (7, RejectReason::WrongColumnCount)
            ]
        );
        assert_eq!(
            items[6],
            Ok(Row {
                block_id: "blk_7".into(),
                latency: 2500.5,
                tags: vec![("label".into(), "Anomaly".into())],
            })
        );
        // `tag.KEY` columns are tags too; a bad value is `bad_tag`, a bad key an error at open.
        std::fs::write(
            &path,
            "BlockId,Latency,tag.op,tag.dn\nblk_1,5,read,dn-1\nblk_2,6,,dn-2\n",
        )
        .expect("write");
        let items: Vec<SourceItem> = CsvSource::open(&path, false).expect("open").collect();
        assert_eq!(
            items[0].as_ref().map(|r| r.tags.clone()),
            Ok(vec![("op".into(), "read".into()), ("dn".into(), "dn-1".into())])
        );
        assert_eq!(items[1].as_ref().map_err(|b| b.reason), Err(RejectReason::BadTag));
        std::fs::write(&path, "BlockId,Latency,tag.9x\nblk_1,5,a\n").expect("write");
        let err = CsvSource::open(&path, false).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("tag.9x")));
        // Without a Label column: no tags (the consumer's default series).
        std::fs::write(&path, "BlockId,Latency\nblk_1,5\n").expect("write");
        let items: Vec<SourceItem> = CsvSource::open(&path, false).expect("open").collect();
        assert_eq!(items[0].as_ref().map(|r| r.tags.len()), Ok(0));
        // A label that is not a valid tag value is refused, by reason.
        std::fs::write(&path, "BlockId,Label,Latency\nblk_1,,5\n").expect("write");
        let items: Vec<SourceItem> = CsvSource::open(&path, false).expect("open").collect();
        assert_eq!(
            items[0].as_ref().err().map(|b| b.reason),
            Some(RejectReason::BadTag)
        );
        std::fs::remove_dir_all(dir).ok();
    }
}
