//! Series filters (`filter=`) and group-by (`by=`), one parser for the HTTP
//! API, the dashboard URL and the browser.
//!
//! # Filter syntax
//! - Comma separated `key:value` terms, all of which must match (AND). The
//!   empty text is the empty filter, which matches everything.
//! - A value ending in an unescaped `*` is a prefix match (`route:/api/*`);
//!   `key:*` matches any series that has the key.
//! - A leading `!` excludes: `!key:value` or `!key:prefix*`.
//! - Inside a value, `,` `:` `*` `!` and `\` are escaped with `\`
//!   (`route:/a\,b` matches `/a,b`, `route:x\*` matches the literal `x*`).
//!   An unescaped `:`, `!`, or `*` before the end of the value is an error,
//!   as is `\` followed by any other character or ending the text.
//! - Keys follow the tag-key rule of [`crate::series`]. Values are taken as
//!   written (whitespace is not trimmed) and may not be empty (write `key:*`
//!   for "has the key").
//! - Empty terms (`a:b,,c:d`, a leading or trailing comma) are errors.
//! - At most [`MAX_TERMS`] terms and [`MAX_FILTER_LEN`] bytes of text.
//!
//! A positive term does not match a series that lacks its key; a negated
//! term does (there is nothing to exclude).
//!
//! Positions in errors are byte offsets into the filter text.

use std::fmt;
use std::str::FromStr;

use crate::series::{truncate_for_display, validate_tag_key, SeriesKey};

/// Most terms in one filter.
pub const MAX_TERMS: usize = 32;
/// Longest filter text, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Most keys in one group-by.
pub const MAX_GROUP_KEYS: usize = 2;

/// The characters that a `\` escapes inside a filter value.
const ESCAPED: [char; 5] = [',', ':', '*', '!', '\\'];

/// Why a filter text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The text is longer than [`MAX_FILTER_LEN`] bytes.
    #[error("filter is {0} bytes long (at most 4096)")]
    TooLong(usize),
    /// The text has more than [`MAX_TERMS`] terms.
    #[error("filter has more than 32 terms")]
    TooManyTerms,
    /// A term is empty: two commas in a row, or a leading or trailing comma.
    #[error(
        "empty filter term at byte {position} (two commas in a row, or a leading \
         or trailing comma)"
    )]
    EmptyTerm {
        /// Byte offset where the empty term starts.
        position: usize,
    },
    /// A term has no `:` between key and value. Holds the term (truncated).
    #[error("filter term {0:?} has no ':' between key and value (write key:value)")]
    MissingColon(String),
    /// A key breaks the tag-key rule. Holds the key (truncated).
    #[error(
        "bad filter key {0:?}: a key is 1 to 64 bytes of letters, digits, '_', \
         '.', '-' or '/', starting with a letter or '_'"
    )]
    BadKey(String),
    /// A term's value is empty. Holds the key.
    #[error(
        "filter term for key {0:?} has an empty value (write {0}:* to match any \
         series with the key)"
    )]
    EmptyValue(String),
    /// An unescaped `:` inside a value.
    #[error("unescaped ':' at byte {position} inside a filter value (write \\: for a literal ':')")]
    SecondColon {
        /// Byte offset of the `:`.
        position: usize,
    },
    /// An unescaped `*` that does not end the value.
    #[error(
        "unescaped '*' at byte {position} before the end of a filter value (a '*' \
         only at the end means prefix; write \\* for a literal '*')"
    )]
    UnescapedStar {
        /// Byte offset of the `*`.
        position: usize,
    },
    /// An unescaped `!` inside a value.
    #[error(
        "unescaped '!' at byte {position} inside a filter value ('!' negates only \
         at the start of a term, as in !key:value; write \\! for a literal '!')"
    )]
    UnescapedBang {
        /// Byte offset of the `!`.
        position: usize,
    },
    /// A `\` followed by a character it does not escape.
    #[error(
        "bad escape '\\{found}' at byte {position} in a filter value (only \\, \\: \
         \\* \\! and \\\\ are escapes)"
    )]
    BadEscape {
        /// Byte offset of the `\`.
        position: usize,
        /// The character after the `\`.
        found: char,
    },
    /// A control character (NUL, newline, …) in a value: no tag value holds
    /// one, so the term could never match.
    #[error("control character {found:?} at byte {position} in a filter value (tag values never hold one)")]
    ControlCharacter {
        /// Byte offset of the character.
        position: usize,
        /// The character.
        found: char,
    },
    /// A `\` at the very end of the text, escaping nothing.
    #[error("dangling '\\' at byte {position} at the end of the filter (write \\\\ for a literal '\\')")]
    DanglingEscape {
        /// Byte offset of the `\`.
        position: usize,
    },
}

impl FilterError {
    /// A stable, machine-readable reason, e.g. `bad_key` or `empty_term`.
    pub fn reason(&self) -> &'static str {
        match self {
            FilterError::TooLong(_) => "too_long",
            FilterError::TooManyTerms => "too_many_terms",
            FilterError::EmptyTerm { .. } => "empty_term",
            FilterError::MissingColon(_) => "missing_colon",
            FilterError::BadKey(_) => "bad_key",
            FilterError::EmptyValue(_) => "empty_value",
            FilterError::SecondColon { .. } => "second_colon",
            FilterError::UnescapedStar { .. } => "unescaped_star",
            FilterError::UnescapedBang { .. } => "unescaped_bang",
            FilterError::BadEscape { .. } => "bad_escape",
            FilterError::DanglingEscape { .. } => "dangling_escape",
            FilterError::ControlCharacter { .. } => "control_character",
        }
    }
}

/// One `[!]key:value[*]` term.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    key: String,
    value: String,
    prefix: bool,
    negated: bool,
}

impl Term {
    fn matches_value(&self, value: Option<&str>) -> bool {
        let hit = match value {
            None => false,
            Some(v) if self.prefix => v.starts_with(self.value.as_str()),
            Some(v) => v == self.value,
        };
        hit != self.negated
    }

    fn write_text(&self, out: &mut String) {
        if self.negated {
            out.push('!');
        }
        out.push_str(&self.key);
        out.push(':');
        push_escaped(&self.value, out);
        if self.prefix {
            out.push('*');
        }
    }

    fn text_len(&self) -> usize {
        usize::from(self.negated)
            + self.key.len()
            + 1
            + self.value.len()
            + self.value.chars().filter(|c| ESCAPED.contains(c)).count()
            + usize::from(self.prefix)
    }
}

/// A parsed `filter=`: the AND of its terms. The default is the empty
/// filter, which matches every series.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    terms: Vec<Term>,
}

/// A read-only view of one filter term, e.g. for a UI chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermView<'a> {
    /// The tag key.
    pub key: &'a str,
    /// The value, unescaped (without the prefix `*`).
    pub value: &'a str,
    /// Whether the value is a prefix (the term ended in `*`).
    pub prefix: bool,
    /// Whether the term excludes (it started with `!`).
    pub negated: bool,
}

/// Escapes a filter value: puts a `\` before each `,` `:` `*` `!` and `\`.
/// Used by [`Filter::to_text`] and [`SeriesKey::display`].
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    push_escaped(value, &mut out);
    out
}

fn push_escaped(value: &str, out: &mut String) {
    for c in value.chars() {
        if ESCAPED.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Parses the term starting at byte `start` of `text`. Returns the term and
/// the byte offset after its comma, or `None` if it ended the text.
fn parse_term(text: &str, start: usize) -> Result<(Term, Option<usize>), FilterError> {
    let rest = &text[start..];
    if rest.is_empty() || rest.starts_with(',') {
        return Err(FilterError::EmptyTerm { position: start });
    }
    let negated = rest.starts_with('!');
    let key_start = start + usize::from(negated);
    let key_end = text[key_start..]
        .find([':', ','])
        .map_or(text.len(), |i| key_start + i);
    if !text[key_end..].starts_with(':') {
        return Err(FilterError::MissingColon(truncate_for_display(
            &text[start..key_end],
        )));
    }
    let key = &text[key_start..key_end];
    if validate_tag_key(key).is_err() {
        return Err(FilterError::BadKey(truncate_for_display(key)));
    }

    let value_start = key_end + 1;
    let mut value = String::new();
    let mut prefix = false;
    let mut next = None;
    let mut chars = text[value_start..].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let position = value_start + i;
        match c {
            ',' => {
                next = Some(position + 1);
                break;
            }
            ':' => return Err(FilterError::SecondColon { position }),
            '!' => return Err(FilterError::UnescapedBang { position }),
            '*' => match chars.peek() {
                None | Some((_, ',')) => prefix = true,
                Some(_) => return Err(FilterError::UnescapedStar { position }),
            },
            '\\' => match chars.next() {
                None => return Err(FilterError::DanglingEscape { position }),
                Some((_, e)) if ESCAPED.contains(&e) => value.push(e),
                Some((_, found)) => return Err(FilterError::BadEscape { position, found }),
            },
            c if c.is_control() => return Err(FilterError::ControlCharacter { position, found: c }),
            c => value.push(c),
        }
    }
    if value.is_empty() && !prefix {
        return Err(FilterError::EmptyValue(key.to_owned()));
    }
    let term = Term {
        key: key.to_owned(),
        value,
        prefix,
        negated,
    };
    Ok((term, next))
}

impl Filter {
    /// Parses a filter text (see the [module docs](self) for the syntax).
    /// The empty text is the empty filter.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        if text.len() > MAX_FILTER_LEN {
            return Err(FilterError::TooLong(text.len()));
        }
        let mut terms = Vec::new();
        if text.is_empty() {
            return Ok(Filter { terms });
        }
        let mut start = 0;
        loop {
            if terms.len() == MAX_TERMS {
                return Err(FilterError::TooManyTerms);
            }
            let (term, next) = parse_term(text, start)?;
            terms.push(term);
            match next {
                Some(next) => start = next,
                None => return Ok(Filter { terms }),
            }
        }
    }

    /// Whether the filter has no terms (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether `series` passes every term.
    pub fn matches(&self, series: &SeriesKey) -> bool {
        self.matches_tags(|key| series.tag(key))
    }

    /// Whether a series passes every term, given its tag lookup (`None` for
    /// a key the series lacks), for callers that do not hold a
    /// [`SeriesKey`].
    pub fn matches_tags<'a>(&self, tag: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.terms.iter().all(|t| t.matches_value(tag(&t.key)))
    }

    /// The canonical text, which [`Filter::parse`] turns back into an equal
    /// filter: terms in order, values escaped with [`escape_value`].
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.terms.iter().map(|t| t.text_len() + 1).sum());
        for (i, term) in self.terms.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            term.write_text(&mut out);
        }
        out
    }

    /// The terms in order, read-only (e.g. for UI chips).
    pub fn terms(&self) -> impl Iterator<Item = TermView<'_>> {
        self.terms.iter().map(|t| TermView {
            key: &t.key,
            value: &t.value,
            prefix: t.prefix,
            negated: t.negated,
        })
    }

    /// Each term's own text (`service:checkout`, `!host:dn-3`), as
    /// [`Filter::to_text`] writes it.
    pub fn term_texts(&self) -> Vec<String> {
        self.terms
            .iter()
            .map(|t| {
                let mut out = String::with_capacity(t.text_len());
                t.write_text(&mut out);
                out
            })
            .collect()
    }

    /// A copy without the term at `index` (e.g. when a UI removes a chip);
    /// an index past the end changes nothing.
    pub fn without_term(&self, index: usize) -> Filter {
        let mut terms = self.terms.clone();
        if index < terms.len() {
            terms.remove(index);
        }
        Filter { terms }
    }

    /// A copy with one more term at the end (e.g. when a UI adds a chip).
    /// `value` is unescaped. Fails as [`Filter::parse`] would on the
    /// resulting text: a bad key, an empty non-prefix value, more than
    /// [`MAX_TERMS`] terms, or text longer than [`MAX_FILTER_LEN`].
    pub fn with_term(
        &self,
        key: &str,
        value: &str,
        prefix: bool,
        negated: bool,
    ) -> Result<Filter, FilterError> {
        if validate_tag_key(key).is_err() {
            return Err(FilterError::BadKey(truncate_for_display(key)));
        }
        if value.is_empty() && !prefix {
            return Err(FilterError::EmptyValue(key.to_owned()));
        }
        if let Some((position, found)) = value.char_indices().find(|(_, c)| c.is_control()) {
            return Err(FilterError::ControlCharacter { position, found });
        }
        if self.terms.len() >= MAX_TERMS {
            return Err(FilterError::TooManyTerms);
        }
        let term = Term {
            key: key.to_owned(),
            value: value.to_owned(),
            prefix,
            negated,
        };
        let len: usize = self
            .terms
            .iter()
            .chain(std::iter::once(&term))
            .map(|t| t.text_len() + 1)
            .sum::<usize>()
            - 1;
        if len > MAX_FILTER_LEN {
            return Err(FilterError::TooLong(len));
        }
        let mut terms = self.terms.clone();
        terms.push(term);
        Ok(Filter { terms })
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, FilterError> {
        Filter::parse(text)
    }
}

/// Why a group-by text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupByError {
    /// The text is empty (callers treat a missing `by=` as no grouping).
    #[error("empty group-by: give 1 or 2 tag keys separated by ','")]
    Empty,
    /// More than [`MAX_GROUP_KEYS`] keys. Holds how many were given.
    #[error("group-by has {0} keys (at most 2)")]
    TooManyKeys(usize),
    /// A key breaks the tag-key rule (or is empty). Holds the key
    /// (truncated).
    #[error(
        "bad group-by key {0:?}: a key is 1 to 64 bytes of letters, digits, '_', \
         '.', '-' or '/', starting with a letter or '_'"
    )]
    BadKey(String),
    /// The same key is given twice.
    #[error("group-by key {0:?} is given twice")]
    Duplicate(String),
}

/// A parsed `by=key[,key]`: one or two distinct tag keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupBy {
    keys: Vec<String>,
}

impl GroupBy {
    /// Parses `key` or `key1,key2`. The empty text is
    /// [`GroupByError::Empty`]; no trimming is done.
    pub fn parse(text: &str) -> Result<GroupBy, GroupByError> {
        if text.is_empty() {
            return Err(GroupByError::Empty);
        }
        let count = text.split(',').count();
        if count > MAX_GROUP_KEYS {
            return Err(GroupByError::TooManyKeys(count));
        }
        let mut keys: Vec<String> = Vec::with_capacity(count);
        for key in text.split(',') {
            if validate_tag_key(key).is_err() {
                return Err(GroupByError::BadKey(truncate_for_display(key)));
            }
            if keys.iter().any(|k| k == key) {
                return Err(GroupByError::Duplicate(key.to_owned()));
            }
            keys.push(key.to_owned());
        }
        Ok(GroupBy { keys })
    }

    /// The group keys, in the order given.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The canonical text (`key` or `key1,key2`), which [`GroupBy::parse`]
    /// turns back into an equal group-by (for a non-default value).
    pub fn to_text(&self) -> String {
        self.keys.join(",")
    }

    /// The group of a series: `(key, value)` per group key, in the order of
    /// [`GroupBy::keys`]; a series without the key groups under `""`.
    pub fn group_of(&self, series: &SeriesKey) -> Vec<(String, String)> {
        self.group_of_tags(|key| series.tag(key))
    }

    /// As [`GroupBy::group_of`], given a tag lookup instead of a
    /// [`SeriesKey`].
    pub fn group_of_tags<'a>(&self, tag: impl Fn(&str) -> Option<&'a str>) -> Vec<(String, String)> {
        self.keys
            .iter()
            .map(|key| (key.clone(), tag(key).unwrap_or("").to_owned()))
            .collect()
    }
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl FromStr for GroupBy {
    type Err = GroupByError;

    fn from_str(text: &str) -> Result<Self, GroupByError> {
        GroupBy::parse(text)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn series(metric: &str, tags: &[(&str, &str)]) -> SeriesKey {
        SeriesKey::new(metric, tags.iter().copied()).unwrap()
    }

    /// `(key, value, prefix, negated)` of every term.
    fn parts(f: &Filter) -> Vec<(String, String, bool, bool)> {
        f.terms()
            .map(|t| (t.key.to_owned(), t.value.to_owned(), t.prefix, t.negated))
            .collect()
    }

    /// `(key, value, prefix, negated)` of one expected term.
    type Want<'a> = (&'a str, &'a str, bool, bool);

    fn term(key: &str, value: &str, prefix: bool, negated: bool) -> (String, String, bool, bool) {
        (key.to_owned(), value.to_owned(), prefix, negated)
    }

    #[test]
    fn parse_successes() {
        let cases: &[(&str, &[Want])] = &[
            ("", &[]),
            ("a:b", &[("a", "b", false, false)]),
            (
                "host:h1,route:/api",
                &[("host", "h1", false, false), ("route", "/api", false, false)],
            ),
            ("route:/api/*", &[("route", "/api/", true, false)]),
            ("route:*", &[("route", "", true, false)]),
            ("!route:/health", &[("route", "/health", false, true)]),
            ("!route:/int*", &[("route", "/int", true, true)]),
            ("!route:*", &[("route", "", true, true)]),
            ("route:/a\\,b", &[("route", "/a,b", false, false)]),
            ("route:x\\*", &[("route", "x*", false, false)]),
            ("route:x\\**", &[("route", "x*", true, false)]),
            ("route:x\\\\*", &[("route", "x\\", true, false)]),
            ("k:a\\:b", &[("k", "a:b", false, false)]),
            ("k:\\!x", &[("k", "!x", false, false)]),
            ("k:\\\\", &[("k", "\\", false, false)]),
            ("k: spaced ", &[("k", " spaced ", false, false)]),
            ("k:é🦀", &[("k", "é🦀", false, false)]),
            ("k:{}=\"'", &[("k", "{}=\"'", false, false)]),
            (
                "a.b/c-d_e:1,_x:*,!y:2*",
                &[
                    ("a.b/c-d_e", "1", false, false),
                    ("_x", "", true, false),
                    ("y", "2", true, true),
                ],
            ),
            // Repeated keys are allowed (AND).
            ("a:1,a:2", &[("a", "1", false, false), ("a", "2", false, false)]),
        ];
        for (text, want) in cases {
            let f = Filter::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            let want: Vec<_> = want.iter().map(|(k, v, p, n)| term(k, v, *p, *n)).collect();
            assert_eq!(parts(&f), want, "{text:?}");
            assert_eq!(f.is_empty(), want.is_empty());
        }
    }

    #[test]
    fn parse_failures() {
        use FilterError::*;
        let long_key = "k".repeat(65);
        let long_key_term = format!("{long_key}:v");
        let cases: Vec<(&str, FilterError)> = vec![
            (",", EmptyTerm { position: 0 }),
            (",a:b", EmptyTerm { position: 0 }),
            ("a:b,", EmptyTerm { position: 4 }),
            ("a:b,,c:d", EmptyTerm { position: 4 }),
            ("a", MissingColon("a".into())),
            ("a:b,c", MissingColon("c".into())),
            ("abc,d:e", MissingColon("abc".into())),
            ("!", MissingColon("!".into())),
            ("!a", MissingColon("!a".into())),
            (":v", BadKey("".into())),
            ("!:v", BadKey("".into())),
            ("!!a:v", BadKey("!a".into())),
            (" a:b", BadKey(" a".into())),
            ("a :b", BadKey("a ".into())),
            ("9a:b", BadKey("9a".into())),
            ("a\\:b", BadKey("a\\".into())),
            ("a*:b", BadKey("a*".into())),
            (&long_key_term, BadKey(format!("{}…", "k".repeat(64)))),
            ("a:", EmptyValue("a".into())),
            (
                "a:b\u{0}",
                ControlCharacter {
                    position: 3,
                    found: '\u{0}',
                },
            ),
            ("a:,b:c", EmptyValue("a".into())),
            ("!a:", EmptyValue("a".into())),
            ("a:b:c", SecondColon { position: 3 }),
            ("a::", SecondColon { position: 2 }),
            ("a:b*c", UnescapedStar { position: 3 }),
            ("a:**", UnescapedStar { position: 2 }),
            ("a:*b", UnescapedStar { position: 2 }),
            ("a:b!", UnescapedBang { position: 3 }),
            ("a:!b", UnescapedBang { position: 2 }),
            ("a:b\\", DanglingEscape { position: 3 }),
            (
                "a:b\\n",
                BadEscape {
                    position: 3,
                    found: 'n',
                },
            ),
            (
                "a:\\ ",
                BadEscape {
                    position: 2,
                    found: ' ',
                },
            ),
            (
                "a:é\\é",
                BadEscape {
                    position: 4,
                    found: 'é',
                },
            ),
            (
                "a:\\x*",
                BadEscape {
                    position: 2,
                    found: 'x',
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Filter::parse(text), Err(want), "{text:?}");
        }
    }

    #[test]
    fn limits() {
        let terms: Vec<String> = (0..MAX_TERMS).map(|i| format!("k{i}:v")).collect();
        let ok = terms.join(",");
        assert_eq!(Filter::parse(&ok).unwrap().terms().count(), MAX_TERMS);
        let too_many = format!("{ok},x:y");
        assert_eq!(Filter::parse(&too_many), Err(FilterError::TooManyTerms));

        let at_limit = format!("k:{}", "v".repeat(MAX_FILTER_LEN - 2));
        assert!(Filter::parse(&at_limit).is_ok());
        let over = format!("k:{}", "v".repeat(MAX_FILTER_LEN - 1));
        assert_eq!(
            Filter::parse(&over),
            Err(FilterError::TooLong(MAX_FILTER_LEN + 1))
        );
        // The length check comes first, even for garbage.
        assert_eq!(
            Filter::parse(&",".repeat(10_000)),
            Err(FilterError::TooLong(10_000))
        );
    }

    #[test]
    fn error_messages_name_the_problem() {
        let msg = |text: &str| Filter::parse(text).unwrap_err().to_string();
        assert_eq!(
            msg("a:b\\n"),
            "bad escape '\\n' at byte 3 in a filter value (only \\, \\: \\* \\! and \\\\ are escapes)"
        );
        assert!(msg("a:b:c").contains("unescaped ':' at byte 3"));
        assert!(msg("abc").contains("\"abc\" has no ':'"));
        assert!(msg("a:").contains("write a:* to match any"));
        assert!(msg("a:b,,c:d").contains("empty filter term at byte 4"));
        assert!(msg("a:b\\").contains("dangling '\\' at byte 3"));
        assert!(msg("9:x").contains("bad filter key \"9\""));
        assert_eq!(Filter::parse("a:b:c").unwrap_err().reason(), "second_colon");
        assert_eq!(Filter::parse(",").unwrap_err().reason(), "empty_term");
        // Long offending text is truncated.
        let long = format!("{}:v", "x y".repeat(100));
        let FilterError::BadKey(shown) = Filter::parse(&long).unwrap_err() else {
            panic!("expected BadKey")
        };
        assert!(shown.ends_with('…') && shown.chars().count() == 65, "{shown}");
    }

    #[test]
    fn escape_value_and_to_text() {
        assert_eq!(escape_value("plain /a b"), "plain /a b");
        assert_eq!(escape_value("a,b:c*d!e\\f"), "a\\,b\\:c\\*d\\!e\\\\f");
        assert_eq!(escape_value(""), "");
        let f = Filter::default()
            .with_term("route", "a,b:c*d!e\\f", false, false)
            .unwrap()
            .with_term("host", "x*", true, true)
            .unwrap()
            .with_term("any", "", true, false)
            .unwrap();
        let text = f.to_text();
        assert_eq!(text, "route:a\\,b\\:c\\*d\\!e\\\\f,!host:x\\**,any:*");
        assert_eq!(f.to_string(), text);
        assert_eq!(Filter::parse(&text).unwrap(), f);
        assert_eq!(text.parse::<Filter>().unwrap(), f);
        assert_eq!(Filter::default().to_text(), "");
        assert_eq!(
            parts(&f),
            [
                term("route", "a,b:c*d!e\\f", false, false),
                term("host", "x*", true, true),
                term("any", "", true, false),
            ]
        );
    }

    #[test]
    fn tricky_values_round_trip() {
        for value in [
            "a,b:c*d!e\\f",
            "*",
            "**",
            "\\",
            "\\\\*",
            ",",
            ":",
            "!",
            "!*",
            " ",
            "é🦀,",
            "x}=y{",
            "\\,\\:",
        ] {
            for (prefix, negated) in [(false, false), (true, false), (false, true), (true, true)] {
                let f = Filter::default().with_term("k", value, prefix, negated).unwrap();
                let text = f.to_text();
                assert_eq!(Filter::parse(&text).as_ref(), Ok(&f), "{text:?}");
                let view = f.terms().next().unwrap();
                assert_eq!(
                    view,
                    TermView {
                        key: "k",
                        value,
                        prefix,
                        negated
                    }
                );
            }
        }
    }

    #[test]
    fn prefix_versus_literal_star() {
        let prefix = Filter::parse("route:x*").unwrap();
        let literal = Filter::parse("route:x\\*").unwrap();
        let x_star = series("m", &[("route", "x*")]);
        let xyz = series("m", &[("route", "xyz")]);
        let x = series("m", &[("route", "x")]);
        assert!(prefix.matches(&x_star) && prefix.matches(&xyz) && prefix.matches(&x));
        assert!(literal.matches(&x_star));
        assert!(!literal.matches(&xyz) && !literal.matches(&x));
        assert!(!prefix.matches(&series("m", &[("route", "yx")])));
    }

    #[test]
    fn missing_keys_and_negation() {
        let lacks = series("m", &[("other", "1")]);
        for (text, want) in [
            ("route:/a", false),
            ("route:*", false),
            ("!route:/a", true),
            ("!route:*", true),
            ("!route:/a*", true),
            ("other:1,!route:/a", true),
            ("other:2,!route:/a", false),
        ] {
            assert_eq!(Filter::parse(text).unwrap().matches(&lacks), want, "{text}");
        }
        let has = series("m", &[("route", "/api/users"), ("code", "500")]);
        for (text, want) in [
            ("", true),
            ("route:/api/users", true),
            ("route:/api/*", true),
            ("route:/api", false),
            ("route:*", true),
            ("!route:*", false),
            ("!route:/api/*", false),
            ("!route:/health", true),
            ("!route:/health*", true),
            ("route:/api/*,code:500", true),
            ("route:/api/*,code:5*", true),
            ("route:/api/*,!code:5*", false),
            ("route:/api/*,code:200", false),
            ("route:/API/*", false),
            ("code:500 ", false),
        ] {
            assert_eq!(Filter::parse(text).unwrap().matches(&has), want, "{text}");
        }
    }

    #[test]
    fn matches_tags_without_a_series_key() {
        let f = Filter::parse("app:web,!zone:us*").unwrap();
        let tags = [("app", "web"), ("zone", "eu-1")];
        let lookup = |key: &str| tags.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        assert!(f.matches_tags(lookup));
        assert!(!f.matches_tags(|key| (key == "app").then_some("api")));
        assert!(f.matches_tags(|key| (key == "app").then_some("web")));
        assert!(Filter::default().matches_tags(|_| None));
    }

    #[test]
    fn with_term_validates() {
        let f = Filter::default();
        assert_eq!(
            f.with_term("9", "v", false, false),
            Err(FilterError::BadKey("9".into()))
        );
        assert_eq!(
            f.with_term("k", "", false, true),
            Err(FilterError::EmptyValue("k".into()))
        );
        let mut full = Filter::default();
        for i in 0..MAX_TERMS {
            full = full.with_term(&format!("k{i}"), "v", false, false).unwrap();
        }
        assert_eq!(
            full.with_term("x", "y", false, false),
            Err(FilterError::TooManyTerms)
        );
        // The escaped length counts: 2048 commas escape to 4096 bytes.
        let commas = ",".repeat(2048);
        assert!(matches!(
            f.with_term("k", &commas, false, false),
            Err(FilterError::TooLong(4098))
        ));
        let fits = ",".repeat(2047);
        let one = f.with_term("k", &fits, false, false).unwrap();
        assert_eq!(one.to_text().len(), MAX_FILTER_LEN);
        assert_eq!(Filter::parse(&one.to_text()).unwrap(), one);
        assert_eq!(
            one.with_term("a", "b", false, false),
            Err(FilterError::TooLong(MAX_FILTER_LEN + 4))
        );
        assert!(f.is_empty() && !one.is_empty());
    }

    /// A small deterministic LCG (no proptest on wasm).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len())]
        }
    }

    const CHARS: &[char] = &[
        'a', 'b', 'Z', '0', '_', '.', '-', '/', ' ', ',', ':', '*', '!', '\\', 'é', '🦀', '=', '{', '}',
    ];

    #[test]
    fn pseudo_random_escape_round_trip() {
        let mut rng = Lcg(0x5eed);
        let keys = ["a", "route", "host.name", "_x", "k/v-1"];
        for _ in 0..2_000 {
            let mut f = Filter::default();
            for _ in 0..rng.below(6) {
                let value: String = (0..rng.below(8)).map(|_| rng.pick(CHARS)).collect();
                let prefix = value.is_empty() || rng.below(2) == 0;
                let negated = rng.below(3) == 0;
                f = f.with_term(rng.pick(&keys), &value, prefix, negated).unwrap();
            }
            let text = f.to_text();
            assert_eq!(Filter::parse(&text).as_ref(), Ok(&f), "{text:?}");
            // escape_value is what to_text uses for each value.
            for t in f.terms() {
                assert!(text.contains(&escape_value(t.value)));
            }
        }
    }

    #[test]
    fn pseudo_random_text_parses_to_a_fixed_point() {
        let mut rng = Lcg(42);
        let mut parsed = 0;
        for _ in 0..20_000 {
            let len = rng.below(12);
            let text: String = (0..len)
                .map(|_| match rng.below(4) {
                    0 => rng.pick(&['a', 'k']),
                    _ => rng.pick(CHARS),
                })
                .collect();
            // Never panics; when it parses, the canonical text parses back
            // to the same filter and is its own canonical text.
            if let Ok(f) = Filter::parse(&text) {
                parsed += usize::from(!f.is_empty());
                let canon = f.to_text();
                let again = Filter::parse(&canon).unwrap();
                assert_eq!(again, f, "{text:?} -> {canon:?}");
                assert_eq!(again.to_text(), canon);
            }
        }
        assert!(
            parsed > 50,
            "only {parsed} random texts parsed to a non-empty filter"
        );
    }

    #[test]
    fn group_by_parse() {
        assert_eq!(GroupBy::parse("host").unwrap().keys(), ["host"]);
        let two = GroupBy::parse("route,host").unwrap();
        assert_eq!(two.keys(), ["route", "host"]);
        assert_eq!(two.to_text(), "route,host");
        assert_eq!(two.to_string().parse::<GroupBy>().unwrap(), two);
        for (text, want) in [
            ("", GroupByError::Empty),
            ("a,b,c", GroupByError::TooManyKeys(3)),
            (",,,", GroupByError::TooManyKeys(4)),
            ("a,a", GroupByError::Duplicate("a".into())),
            ("a,", GroupByError::BadKey("".into())),
            (",a", GroupByError::BadKey("".into())),
            (",", GroupByError::BadKey("".into())),
            ("a, b", GroupByError::BadKey(" b".into())),
            ("9", GroupByError::BadKey("9".into())),
            ("a:b", GroupByError::BadKey("a:b".into())),
        ] {
            assert_eq!(GroupBy::parse(text), Err(want), "{text:?}");
        }
        assert_eq!(
            GroupBy::parse("a,b,c").unwrap_err().to_string(),
            "group-by has 3 keys (at most 2)"
        );
        assert!(GroupBy::default().keys().is_empty());
    }

    #[test]
    fn group_by_missing_key_is_empty_string() {
        let by = GroupBy::parse("route,host").unwrap();
        let s = series("m", &[("host", "h1"), ("zone", "eu")]);
        assert_eq!(
            by.group_of(&s),
            [
                ("route".to_owned(), String::new()),
                ("host".to_owned(), "h1".to_owned())
            ]
        );
        let full = series("m", &[("host", "h2"), ("route", "/a")]);
        assert_eq!(
            by.group_of(&full),
            [
                ("route".to_owned(), "/a".to_owned()),
                ("host".to_owned(), "h2".to_owned())
            ]
        );
        assert_eq!(
            by.group_of_tags(|k| (k == "host").then_some("h3")),
            [
                ("route".to_owned(), String::new()),
                ("host".to_owned(), "h3".to_owned())
            ]
        );
        assert!(GroupBy::default().group_of(&s).is_empty());
    }

    #[test]
    fn chips_are_the_terms_and_removing_one_keeps_the_others() {
        let f = Filter::parse("service:checkout,!host:dn-3,route:/api*").expect("filter");
        assert_eq!(f.term_texts(), ["service:checkout", "!host:dn-3", "route:/api*"]);
        let g = f.without_term(1);
        assert_eq!(g.to_text(), "service:checkout,route:/api*");
        assert_eq!(f.without_term(9), f);
        assert!(matches!(
            f.with_term("k", "a\tb", false, false),
            Err(FilterError::ControlCharacter {
                position: 1,
                found: '\t'
            })
        ));
    }
}
