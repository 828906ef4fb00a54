//! Series identity: a metric name plus a sorted, validated tag set.
//!
//! # Rules
//! - Metric names and tag keys match `[A-Za-z_][A-Za-z0-9_.\-/]*`; a metric
//!   is at most [`MAX_METRIC_LEN`] bytes, a tag key at most
//!   [`MAX_TAG_KEY_LEN`] bytes.
//! - A tag value is 1 to [`MAX_TAG_VALUE_LEN`] bytes of UTF-8 without control
//!   characters (below `0x20`, and `0x7f`). The empty value is rejected:
//!   group-by uses `""` for "the series lacks the key".
//! - At most [`MAX_TAGS`] tags, each key once.
//!
//! Violations are reported by [`SeriesError`], whose [`SeriesError::reason`]
//! is `bad_metric`, `bad_tag` or `too_many_tags`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::filter::escape_value;

/// Longest metric name, in bytes.
pub const MAX_METRIC_LEN: usize = 128;
/// Longest tag key, in bytes.
pub const MAX_TAG_KEY_LEN: usize = 64;
/// Longest tag value, in bytes of UTF-8.
pub const MAX_TAG_VALUE_LEN: usize = 128;
/// Most tags on one series.
pub const MAX_TAGS: usize = 16;

/// How many characters of an offending name an error keeps for display.
const DISPLAY_CHARS: usize = 64;

/// Why a metric name or tag was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesError {
    /// The metric name breaks the naming rule. Holds the name, truncated to
    /// 64 characters (with `…` appended when cut).
    #[error(
        "bad metric name {0:?}: a metric is 1 to 128 bytes of letters, digits, \
         '_', '.', '-' or '/', starting with a letter or '_'"
    )]
    BadMetric(String),
    /// A tag key or value breaks the rules, or a key appears twice. Holds
    /// `key=value` (or just the key when the key is at fault), truncated to
    /// 64 characters (with `…` appended when cut).
    #[error(
        "bad tag {0:?}: a tag key is 1 to 64 bytes of letters, digits, '_', '.', \
         '-' or '/', starting with a letter or '_', and appears once; a value is \
         1 to 128 bytes of UTF-8 without control characters"
    )]
    BadTag(String),
    /// More than [`MAX_TAGS`] tags. Holds the number of tags, exact when the
    /// iterator reports an exact size, else a lower bound (at least 17).
    #[error("too many tags: {0} (at most 16)")]
    TooManyTags(usize),
}

impl SeriesError {
    /// A stable, machine-readable reason: `bad_metric`, `bad_tag` or
    /// `too_many_tags`.
    pub fn reason(&self) -> &'static str {
        match self {
            SeriesError::BadMetric(_) => "bad_metric",
            SeriesError::BadTag(_) => "bad_tag",
            SeriesError::TooManyTags(_) => "too_many_tags",
        }
    }
}

/// `text` cut to [`DISPLAY_CHARS`] characters, with `…` appended when cut.
pub(crate) fn truncate_for_display(text: &str) -> String {
    match text.char_indices().nth(DISPLAY_CHARS) {
        None => text.to_owned(),
        Some((cut, _)) => {
            let mut short = text[..cut].to_owned();
            short.push('…');
            short
        }
    }
}

/// `key=value` cut to [`DISPLAY_CHARS`] characters (with `…` appended when
/// cut), without formatting the whole (possibly huge) value first.
fn truncate_pair(key: &str, value: &str) -> String {
    let mut chars = key.chars().chain(std::iter::once('=')).chain(value.chars());
    let mut pair: String = chars.by_ref().take(DISPLAY_CHARS).collect();
    if chars.next().is_some() {
        pair.push('…');
    }
    pair
}

/// Whether `name` matches `[A-Za-z_][A-Za-z0-9_.\-/]*` and is 1 to `max`
/// bytes long.
fn is_name(name: &str, max: usize) -> bool {
    let bytes = name.as_bytes();
    match bytes.first() {
        Some(first) if bytes.len() <= max && (first.is_ascii_alphabetic() || *first == b'_') => bytes[1..]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/')),
        _ => false,
    }
}

/// Whether `value` is a valid tag value: 1 to [`MAX_TAG_VALUE_LEN`] bytes,
/// no control characters.
fn is_tag_value(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_TAG_VALUE_LEN && !value.bytes().any(|b| b < 0x20 || b == 0x7f)
}

/// Checks a metric name: `[A-Za-z_][A-Za-z0-9_.\-/]*`, at most
/// [`MAX_METRIC_LEN`] bytes.
pub fn validate_metric(name: &str) -> Result<(), SeriesError> {
    if is_name(name, MAX_METRIC_LEN) {
        Ok(())
    } else {
        Err(SeriesError::BadMetric(truncate_for_display(name)))
    }
}

/// Checks a tag key: `[A-Za-z_][A-Za-z0-9_.\-/]*`, at most
/// [`MAX_TAG_KEY_LEN`] bytes. A bad key is [`SeriesError::BadTag`].
pub fn validate_tag_key(key: &str) -> Result<(), SeriesError> {
    if is_name(key, MAX_TAG_KEY_LEN) {
        Ok(())
    } else {
        Err(SeriesError::BadTag(truncate_for_display(key)))
    }
}

/// Checks a tag: the key as [`validate_tag_key`], the value 1 to
/// [`MAX_TAG_VALUE_LEN`] bytes of UTF-8 without control characters.
pub fn validate_tag(key: &str, value: &str) -> Result<(), SeriesError> {
    validate_tag_key(key)?;
    if is_tag_value(value) {
        Ok(())
    } else {
        Err(SeriesError::BadTag(truncate_pair(key, value)))
    }
}

/// Appends the canonical bytes of a series to `out` (which it does not
/// clear): the metric, then each tag key and each tag value, every one of
/// them followed by a `0x00` byte. `sorted_tags` must be sorted by key with
/// unique keys (as [`SeriesKey::tags`] is) for the bytes to be canonical.
///
/// Valid names and values never contain `0x00`, so the encoding is
/// injective. Meant for building an interning/lookup key in a reused buffer
/// without allocating a [`SeriesKey`].
pub fn write_canonical(metric: &str, sorted_tags: &[(&str, &str)], out: &mut Vec<u8>) {
    write_canonical_iter(metric, sorted_tags.iter().copied(), out);
}

fn write_canonical_iter<'a>(metric: &str, tags: impl Iterator<Item = (&'a str, &'a str)>, out: &mut Vec<u8>) {
    out.extend_from_slice(metric.as_bytes());
    out.push(0);
    for (key, value) in tags {
        out.extend_from_slice(key.as_bytes());
        out.push(0);
        out.extend_from_slice(value.as_bytes());
        out.push(0);
    }
}

/// The identity of a series: a metric name and its tags, sorted by key with
/// unique keys, all validated. Immutable once built.
///
/// Serializes as `{ metric: String, tags: Vec<(String, String)> }`;
/// deserializing validates (and sorts), so decoding untrusted bytes cannot
/// produce an invalid key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RawSeriesKey", into = "RawSeriesKey")]
pub struct SeriesKey {
    metric: String,
    tags: Vec<(String, String)>,
}

/// The unvalidated wire form of a [`SeriesKey`].
#[derive(Serialize, Deserialize)]
struct RawSeriesKey {
    metric: String,
    tags: Vec<(String, String)>,
}

impl From<SeriesKey> for RawSeriesKey {
    fn from(key: SeriesKey) -> Self {
        RawSeriesKey {
            metric: key.metric,
            tags: key.tags,
        }
    }
}

impl TryFrom<RawSeriesKey> for SeriesKey {
    type Error = SeriesError;

    fn try_from(raw: RawSeriesKey) -> Result<Self, SeriesError> {
        SeriesKey::new(raw.metric, raw.tags)
    }
}

impl SeriesKey {
    /// Builds a validated key: checks the metric, then the tag count (at most
    /// [`MAX_TAGS`]; the iterator is not consumed past the 17th tag), then
    /// every tag, sorts the tags by key and rejects a duplicate key as
    /// [`SeriesError::BadTag`].
    pub fn new<K: Into<String>, V: Into<String>>(
        metric: impl Into<String>,
        tags: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, SeriesError> {
        let metric = metric.into();
        validate_metric(&metric)?;
        let mut iter = tags.into_iter();
        let hinted = iter.size_hint().0;
        if hinted > MAX_TAGS {
            return Err(SeriesError::TooManyTags(hinted));
        }
        let mut tags: Vec<(String, String)> = Vec::with_capacity(hinted);
        for (key, value) in iter.by_ref() {
            if tags.len() == MAX_TAGS {
                let more = iter.size_hint().0;
                return Err(SeriesError::TooManyTags(MAX_TAGS + 1 + more));
            }
            tags.push((key.into(), value.into()));
        }
        for (key, value) in &tags {
            validate_tag(key, value)?;
        }
        tags.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if let Some(pair) = tags.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(SeriesError::BadTag(truncate_for_display(&pair[0].0)));
        }
        Ok(SeriesKey { metric, tags })
    }

    /// The metric name.
    pub fn metric(&self) -> &str {
        &self.metric
    }

    /// The tags, sorted by key, keys unique.
    pub fn tags(&self) -> &[(String, String)] {
        &self.tags
    }

    /// The value of tag `key`, if the series has it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.tags[i].1.as_str())
    }

    /// A copy with tag `key` set to `value`, added or replacing the existing
    /// value (e.g. to apply default tags). Fails if the tag is invalid or it
    /// would make more than [`MAX_TAGS`] tags.
    pub fn with_tag(&self, key: impl Into<String>, value: impl Into<String>) -> Result<Self, SeriesError> {
        let (key, value) = (key.into(), value.into());
        validate_tag(&key, &value)?;
        let mut tags = self.tags.clone();
        match tags.binary_search_by(|(k, _)| k.as_str().cmp(&key)) {
            Ok(i) => tags[i].1 = value,
            Err(i) => {
                if tags.len() == MAX_TAGS {
                    return Err(SeriesError::TooManyTags(MAX_TAGS + 1));
                }
                tags.insert(i, (key, value));
            }
        }
        Ok(SeriesKey {
            metric: self.metric.clone(),
            tags,
        })
    }

    /// The display form `metric{k=v,k2=v2}` (just `metric` without tags).
    /// Values are escaped with [`escape_value`] (`,` `:` `*` `!` `\` get a
    /// `\`), so the form is unambiguous; keys never need escaping.
    pub fn display(&self) -> String {
        self.to_string()
    }

    /// The canonical bytes of this key, as [`write_canonical`] writes them.
    pub fn canonical(&self) -> Vec<u8> {
        let len = self.metric.len()
            + 1
            + self
                .tags
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum::<usize>();
        let mut out = Vec::with_capacity(len);
        write_canonical_iter(
            &self.metric,
            self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &mut out,
        );
        out
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.metric)?;
        if self.tags.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, (key, value)) in self.tags.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{key}={}", escape_value(value))?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(metric: &str, tags: &[(&str, &str)]) -> SeriesKey {
        SeriesKey::new(metric, tags.iter().copied()).unwrap()
    }

    #[test]
    fn metric_names_accepted_and_rejected() {
        let max = "m".repeat(MAX_METRIC_LEN);
        for good in [
            "a",
            "_",
            "http.server.duration",
            "api/latency-ms",
            "A_9.-/",
            max.as_str(),
        ] {
            assert_eq!(validate_metric(good), Ok(()), "{good}");
        }
        let long = "m".repeat(MAX_METRIC_LEN + 1);
        for bad in [
            "",
            "9lives",
            ".x",
            "-x",
            "/x",
            "a b",
            "a{b}",
            "a\0b",
            "é",
            "a=b",
            long.as_str(),
        ] {
            let err = validate_metric(bad).unwrap_err();
            assert_eq!(err.reason(), "bad_metric", "{bad}");
        }
    }

    #[test]
    fn tag_keys_and_values_accepted_and_rejected() {
        let max_key = "k".repeat(MAX_TAG_KEY_LEN);
        let max_value = "é".repeat(MAX_TAG_VALUE_LEN / 2);
        assert_eq!(validate_tag(&max_key, &max_value), Ok(()));
        for (k, v) in [
            ("route", "/a,b:c*d!e\\f"),
            ("host", " spaced value "),
            ("emoji", "🦀"),
            ("x", "{}=\""),
        ] {
            assert_eq!(validate_tag(k, v), Ok(()), "{k}={v}");
        }
        let long_key = "k".repeat(MAX_TAG_KEY_LEN + 1);
        let long_value = "v".repeat(MAX_TAG_VALUE_LEN + 1);
        for (k, v) in [
            ("", "v"),
            ("1k", "v"),
            ("a:b", "v"),
            ("a=b", "v"),
            (long_key.as_str(), "v"),
            ("k", ""),
            ("k", "a\nb"),
            ("k", "a\tb"),
            ("k", "\u{7f}"),
            ("k", "\0"),
            ("k", long_value.as_str()),
        ] {
            let err = validate_tag(k, v).unwrap_err();
            assert_eq!(err.reason(), "bad_tag", "{k:?}={v:?}");
        }
        assert_eq!(validate_tag_key("ok"), Ok(()));
        assert_eq!(
            validate_tag_key("not ok"),
            Err(SeriesError::BadTag("not ok".into()))
        );
    }

    #[test]
    fn error_payloads_are_truncated_for_display() {
        let long = "x".repeat(1000);
        let err = validate_metric(&format!("9{long}")).unwrap_err();
        let SeriesError::BadMetric(shown) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(shown.chars().count(), DISPLAY_CHARS + 1);
        assert!(shown.starts_with("9xxx") && shown.ends_with('…'));

        let err = validate_tag("k", &format!("\n{long}")).unwrap_err();
        let SeriesError::BadTag(shown) = &err else {
            panic!("{err:?}")
        };
        assert!(shown.starts_with("k=\nxx") && shown.ends_with('…'));
        assert_eq!(shown.chars().count(), DISPLAY_CHARS + 1);

        // Multi-byte characters are cut on a character boundary.
        let err = validate_tag("k", &"é".repeat(200)).unwrap_err();
        assert_eq!(err, SeriesError::BadTag(format!("k={}…", "é".repeat(62))));

        assert_eq!(truncate_for_display("short"), "short");
        assert_eq!(truncate_pair("k", "v"), "k=v");
        let msg = err.to_string();
        assert!(msg.contains("bad tag") && msg.contains("128 bytes"), "{msg}");
    }

    #[test]
    fn reasons_and_messages() {
        assert_eq!(SeriesError::BadMetric("x".into()).reason(), "bad_metric");
        assert_eq!(SeriesError::BadTag("x".into()).reason(), "bad_tag");
        assert_eq!(SeriesError::TooManyTags(17).reason(), "too_many_tags");
        assert_eq!(
            SeriesError::TooManyTags(20).to_string(),
            "too many tags: 20 (at most 16)"
        );
        let msg = SeriesError::BadMetric("9".into()).to_string();
        assert!(msg.starts_with("bad metric name \"9\": "), "{msg}");
    }

    #[test]
    fn new_sorts_tags_and_looks_them_up() {
        let k = key("req", &[("zone", "eu"), ("app", "web"), ("host", "h1")]);
        assert_eq!(k.metric(), "req");
        let keys: Vec<&str> = k.tags().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["app", "host", "zone"]);
        assert_eq!(k.tag("app"), Some("web"));
        assert_eq!(k.tag("host"), Some("h1"));
        assert_eq!(k.tag("zone"), Some("eu"));
        assert_eq!(k.tag("missing"), None);
        assert_eq!(k.tag(""), None);
        // Tag order given does not matter.
        assert_eq!(k, key("req", &[("host", "h1"), ("zone", "eu"), ("app", "web")]));
        let bare = SeriesKey::new("req", Vec::<(String, String)>::new()).unwrap();
        assert!(bare.tags().is_empty());
        assert_eq!(bare.tag("app"), None);
    }

    #[test]
    fn new_rejects_by_reason() {
        let err = SeriesKey::new("9", [("a", "b")]).unwrap_err();
        assert_eq!(err, SeriesError::BadMetric("9".into()));
        let err = SeriesKey::new("m", [("a", "1"), ("b", "2"), ("a", "3")]).unwrap_err();
        assert_eq!(err, SeriesError::BadTag("a".into()));
        let err = SeriesKey::new("m", [("a", "")]).unwrap_err();
        assert_eq!(err, SeriesError::BadTag("a=".into()));
        let err = SeriesKey::new("m", [("a b", "1")]).unwrap_err();
        assert_eq!(err, SeriesError::BadTag("a b".into()));
    }

    #[test]
    fn tag_count_limit() {
        let tags: Vec<(String, String)> = (0..MAX_TAGS)
            .map(|i| (format!("k{i:02}"), "v".to_owned()))
            .collect();
        let ok = SeriesKey::new("m", tags.clone()).unwrap();
        assert_eq!(ok.tags().len(), MAX_TAGS);

        let mut more = tags.clone();
        more.push(("k99".into(), "v".into()));
        more.push(("k98".into(), "v".into()));
        assert_eq!(SeriesKey::new("m", more), Err(SeriesError::TooManyTags(18)));

        // The count is checked before the tags are validated.
        let mut bad_and_many = tags;
        bad_and_many.push(("bad key".into(), "".into()));
        assert_eq!(
            SeriesKey::new("m", bad_and_many).unwrap_err().reason(),
            "too_many_tags"
        );

        // A huge lazy iterator without a size hint is not collected whole:
        // consumption stops at the 17th tag.
        let mut pulled = 0usize;
        let endless = std::iter::from_fn(|| {
            pulled += 1;
            Some(("k".to_owned(), "v".to_owned()))
        });
        assert_eq!(
            SeriesKey::new("m", endless),
            Err(SeriesError::TooManyTags(MAX_TAGS + 1))
        );
        assert_eq!(pulled, MAX_TAGS + 1);

        // An exact size hint is reported (and nothing is converted).
        let huge = (0..1_000_000u32).map(|i| (i.to_string(), "v"));
        assert_eq!(
            SeriesKey::new("m", huge),
            Err(SeriesError::TooManyTags(1_000_000))
        );
    }

    #[test]
    fn with_tag_adds_and_replaces() {
        let k = key("m", &[("b", "2")]);
        let added = k.with_tag("a", "1").unwrap();
        assert_eq!(added, key("m", &[("a", "1"), ("b", "2")]));
        let replaced = added.with_tag("b", "3").unwrap();
        assert_eq!(replaced, key("m", &[("a", "1"), ("b", "3")]));
        let last = replaced.with_tag("c", "x").unwrap();
        assert_eq!(last.tag("c"), Some("x"));
        assert_eq!(k.tags().len(), 1, "the original is unchanged");
        assert_eq!(k.with_tag("b", "").unwrap_err().reason(), "bad_tag");
        assert_eq!(k.with_tag("9", "x").unwrap_err().reason(), "bad_tag");

        let full = SeriesKey::new("m", (0..MAX_TAGS).map(|i| (format!("k{i:02}"), "v"))).unwrap();
        assert_eq!(
            full.with_tag("zz", "v"),
            Err(SeriesError::TooManyTags(MAX_TAGS + 1))
        );
        // Replacing on a full key is fine.
        assert_eq!(full.with_tag("k03", "w").unwrap().tag("k03"), Some("w"));
    }

    #[test]
    fn display_escapes_values() {
        assert_eq!(key("up", &[]).display(), "up");
        assert_eq!(
            key("req", &[("route", "/a"), ("host", "h1")]).to_string(),
            "req{host=h1,route=/a}"
        );
        assert_eq!(
            key("req", &[("v", "a,b:c*d!e\\f"), ("w", "x}=y{")]).display(),
            "req{v=a\\,b\\:c\\*d\\!e\\\\f,w=x}=y{}"
        );
        // A comma inside a value cannot be confused with a tag separator.
        assert_ne!(
            key("m", &[("a", "1,b=2")]).display(),
            key("m", &[("a", "1"), ("b", "2")]).display()
        );
    }

    #[test]
    fn canonical_bytes() {
        let k = key("m", &[("b", "2"), ("a", "1")]);
        assert_eq!(k.canonical(), b"m\0a\x001\0b\x002\0");
        let mut buf = b"junk".to_vec();
        buf.clear();
        write_canonical("m", &[("a", "1"), ("b", "2")], &mut buf);
        assert_eq!(buf, k.canonical());
        assert_eq!(key("m", &[]).canonical(), b"m\0");

        // Moving bytes between metric, keys and values changes the encoding.
        let a = key("ab", &[("c", "d")]).canonical();
        let b = key("a", &[("bc", "d")]).canonical();
        let c = key("a", &[("b", "cd")]).canonical();
        let d = key("abc", &[]).canonical();
        assert!(a != b && a != c && b != c && a != d && b != d && c != d);
        assert_eq!(k.canonical().capacity(), k.canonical().len());
    }

    #[test]
    fn postcard_round_trip() {
        let k = key(
            "http.requests",
            &[("route", "/a,b"), ("code", "200"), ("name", "é 🦀")],
        );
        let bytes = postcard::to_allocvec(&k).unwrap();
        let back: SeriesKey = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, k);
        let bare = key("m", &[]);
        let back: SeriesKey = postcard::from_bytes(&postcard::to_allocvec(&bare).unwrap()).unwrap();
        assert_eq!(back, bare);
    }

    #[test]
    fn decoding_validates() {
        let raw = |metric: &str, tags: &[(&str, &str)]| {
            postcard::to_allocvec(&RawSeriesKey {
                metric: metric.into(),
                tags: tags
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            })
            .unwrap()
        };
        for bytes in [
            raw("9bad", &[]),
            raw("", &[]),
            raw("m", &[("k", "")]),
            raw("m", &[("k", "a\0b")]),
            raw("m", &[("k", "1"), ("k", "2")]),
        ] {
            assert!(postcard::from_bytes::<SeriesKey>(&bytes).is_err());
        }
        let many: Vec<(String, String)> = (0..17).map(|i| (format!("k{i}"), "v".into())).collect();
        let bytes = postcard::to_allocvec(&RawSeriesKey {
            metric: "m".into(),
            tags: many,
        })
        .unwrap();
        assert!(postcard::from_bytes::<SeriesKey>(&bytes).is_err());

        // Unsorted but otherwise valid input is accepted and sorted.
        let back: SeriesKey = postcard::from_bytes(&raw("m", &[("b", "2"), ("a", "1")])).unwrap();
        assert_eq!(back, key("m", &[("a", "1"), ("b", "2")]));

        // JSON uses the same validation.
        let err = serde_json::from_str::<SeriesKey>(r#"{"metric":"9","tags":[]}"#).unwrap_err();
        assert!(err.to_string().contains("bad metric name"), "{err}");
    }

    #[test]
    fn ordering_is_metric_then_tags() {
        let mut keys = [
            key("b", &[]),
            key("a", &[("x", "2")]),
            key("a", &[("x", "1")]),
            key("a", &[]),
        ];
        keys.sort();
        let shown: Vec<String> = keys.iter().map(SeriesKey::display).collect();
        assert_eq!(shown, ["a", "a{x=1}", "a{x=2}", "b"]);
    }
}
