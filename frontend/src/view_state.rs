//! Everything a view shows, as it is written in the URL:
//! `?sketch=..&q=..&from=..&to=..&refresh=..&theme=..&metric=..&filter=..&by=..&line=..&le=..`
//! (plus `panel=` on `/embed`). Parsing never fails: a bad or unknown parameter falls back to
//! its default and is reported as a [`Problem`] the page shows.

use shared::chart::Theme;
use shared::filter::{Filter, GroupBy};
use shared::time_spec::{parse_span_ms, parse_time};
use shared::SketchKind;

/// The panel an embed shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    /// Percentiles over time.
    Percentiles,
    /// Histogram of the range.
    Histogram,
    /// The stats panel.
    Stats,
}

impl Panel {
    /// Name in the URL.
    pub fn name(self) -> &'static str {
        match self {
            Panel::Percentiles => "percentiles",
            Panel::Histogram => "histogram",
            Panel::Stats => "stats",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Panel::Percentiles, Panel::Histogram, Panel::Stats]
            .into_iter()
            .find(|p| p.name() == s)
    }
}

/// A parameter that was not understood (the default was used instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The parameter.
    pub param: String,
    /// What was wrong.
    pub message: String,
}

/// The URL state of a view.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewState {
    /// Sketch kind; `None` = the server's default.
    pub sketch: Option<SketchKind>,
    /// Quantiles to draw, each in (0, 1], ascending.
    pub qs: Vec<f64>,
    /// Range start: epoch ms, `now` or `now-<n><unit>`.
    pub from: String,
    /// Range end, same forms.
    pub to: String,
    /// Redraw interval in ms while live.
    pub refresh_ms: i64,
    /// Colours.
    pub theme: Theme,
    /// Panel (embeds only).
    pub panel: Panel,
    /// Metric; `None` = the server's `--metric`.
    pub metric: Option<String>,
    /// The series filter (`service:checkout,!host:dn-3`; empty: all).
    pub filter: Filter,
    /// Group by one or two tag keys.
    pub by: Option<GroupBy>,
    /// The quantile drawn per group; `None` = the highest chosen.
    pub line: Option<f64>,
    /// Threshold line (`le=250`, in the metric's unit).
    pub le: Option<f64>,
    /// Overlay the same lines this much earlier, ms (`shift=1h`).
    pub shift_ms: Option<i64>,
}

/// Default quantiles.
pub const DEFAULT_QS: [f64; 3] = [0.5, 0.95, 0.99];
/// Default range start.
pub const DEFAULT_FROM: &str = "now-15m";
/// Default redraw interval.
pub const DEFAULT_REFRESH_MS: i64 = 1_000;
/// Fastest redraw interval accepted.
pub const MIN_REFRESH_MS: i64 = 250;
/// Most quantile lines.
pub const MAX_QS: usize = 8;

impl Default for ViewState {
    fn default() -> Self {
        Self {
            sketch: None,
            qs: DEFAULT_QS.to_vec(),
            from: DEFAULT_FROM.to_owned(),
            to: "now".to_owned(),
            refresh_ms: DEFAULT_REFRESH_MS,
            theme: Theme::Dark,
            panel: Panel::Percentiles,
            metric: None,
            filter: Filter::default(),
            by: None,
            line: None,
            le: None,
            shift_ms: None,
        }
    }
}

/// Parameters a view understands.
pub const PARAMS: [&str; 13] = [
    "sketch", "q", "from", "to", "refresh", "theme", "panel", "metric", "filter", "by", "line", "le", "shift",
];

/// Parses one quantile (a value above 1 is a percentage).
fn parse_quantile(text: &str) -> Result<f64, String> {
    parse_quantiles(text).and_then(|qs| match qs.as_slice() {
        [q] => Ok(*q),
        _ => Err("give one quantile".to_owned()),
    })
}

/// Parses `0.5,0.95,99.9` (a value above 1 is read as a percentage).
pub fn parse_quantiles(text: &str) -> Result<Vec<f64>, String> {
    let mut qs = Vec::new();
    for part in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let v: f64 = part.parse().map_err(|_| format!("{part:?} is not a number"))?;
        // 99.9 / 100 is 0.9990000000000001 in f64: round to 12 decimals.
        let q = if v > 1.0 {
            (v / 100.0 * 1e12).round() / 1e12
        } else {
            v
        };
        if !(q > 0.0 && q <= 1.0) {
            return Err(format!("{part:?} is not a quantile in (0, 1] or a percentage"));
        }
        qs.push(q);
    }
    if qs.is_empty() || qs.len() > MAX_QS {
        return Err(format!("give between 1 and {MAX_QS} quantiles"));
    }
    qs.sort_by(f64::total_cmp);
    qs.dedup();
    Ok(qs)
}

/// `P50`, `P99`, `P99.9`.
pub fn quantile_label(q: f64) -> String {
    let pct = (q * 100_000.0).round() / 1000.0;
    format!("P{pct}")
}

/// The `token` parameter of a query string (the server's `--auth-token`,
/// forwarded on the page's WebSocket and API requests).
pub fn token_of_query(query: &str) -> Option<String> {
    query
        .trim_start_matches('?')
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| percent_decode(v))
        .filter(|t| !t.is_empty())
}

/// `url` with `&token=..` (or `?token=..`) appended when there is a token.
pub fn with_token(url: &str, token: Option<&str>) -> String {
    match token {
        Some(t) => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}token={}", percent_encode(t))
        }
        None => url.to_owned(),
    }
}

/// Decodes `%XX` escapes and `+`.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let hex = |b: u8| char::from(b).to_digit(16);
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    // Two hex digits are at most 0xff.
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Escapes what a query value cannot hold as `%XX`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~,:".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn format_ms(ms: i64) -> String {
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

impl ViewState {
    /// Parses a query string (with or without the leading `?`).
    pub fn from_query(query: &str) -> (Self, Vec<Problem>) {
        let mut state = Self::default();
        let mut problems = Vec::new();
        let mut problem = |param: &str, message: String| {
            problems.push(Problem {
                param: param.to_owned(),
                message,
            })
        };
        for pair in query.trim_start_matches('?').split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (key, value) = (percent_decode(key), percent_decode(value));
            match key.as_str() {
                "sketch" => match value.parse::<SketchKind>() {
                    Ok(k) => state.sketch = Some(k),
                    Err(e) => problem("sketch", e.to_string()),
                },
                "q" => match parse_quantiles(&value) {
                    Ok(qs) => state.qs = qs,
                    Err(e) => problem("q", e),
                },
                "from" | "to" => {
                    if parse_time(&value, 0).is_some() {
                        if key == "from" {
                            state.from = value;
                        } else {
                            state.to = value;
                        }
                    } else {
                        problem(
                            &key,
                            format!("{value:?} is not epoch ms, now or now-<n>(ms|s|m|h|d)"),
                        );
                    }
                }
                "refresh" => match parse_span_ms(&value) {
                    Some(ms) if ms >= MIN_REFRESH_MS => state.refresh_ms = ms,
                    _ => problem(
                        "refresh",
                        format!("{value:?} is not an interval of at least {MIN_REFRESH_MS}ms (like 1s, 5s)"),
                    ),
                },
                "theme" => match value.parse::<Theme>() {
                    Ok(t) => state.theme = t,
                    Err(e) => problem("theme", e),
                },
                "panel" => match Panel::parse(&value) {
                    Some(p) => state.panel = p,
                    None => problem(
                        "panel",
                        format!("{value:?} is not percentiles, histogram or stats"),
                    ),
                },
                "metric" => match shared::series::validate_metric(&value) {
                    Ok(()) => state.metric = Some(value),
                    Err(e) => problem("metric", e.to_string()),
                },
                "filter" => match Filter::parse(&value) {
                    Ok(f) => state.filter = f,
                    Err(e) => problem("filter", e.to_string()),
                },
                "by" => match GroupBy::parse(&value) {
                    Ok(b) => state.by = Some(b),
                    Err(e) => problem("by", e.to_string()),
                },
                "line" => match parse_quantile(&value) {
                    Ok(q) => state.line = Some(q),
                    Err(e) => problem("line", e),
                },
                "shift" => match parse_span_ms(&value) {
                    Some(ms) if ms > 0 => state.shift_ms = Some(ms),
                    _ => problem("shift", format!("{value:?} is not a duration like 1h or 1d")),
                },
                "le" => match value.parse::<f64>() {
                    Ok(v) if v.is_finite() => state.le = Some(v),
                    _ => problem(
                        "le",
                        format!("{value:?} is not a number (a value in the metric's unit)"),
                    ),
                },
                // The server's `--auth-token`: a credential, not view state
                // (see [`token_of_query`]).
                "token" => {}
                other => problem(
                    other,
                    format!("unknown parameter {other:?}; allowed: {}", PARAMS.join(", ")),
                ),
            }
        }
        (state, problems)
    }

    /// The query string (without `?`) of this state; `panel` only when
    /// `with_panel`.
    pub fn to_query(&self, with_panel: bool) -> String {
        let mut parts = Vec::new();
        if let Some(k) = self.sketch {
            parts.push(format!("sketch={}", k.name()));
        }
        let qs: Vec<String> = self.qs.iter().map(|q| q.to_string()).collect();
        parts.push(format!("q={}", qs.join(",")));
        parts.push(format!("from={}", percent_encode(&self.from)));
        parts.push(format!("to={}", percent_encode(&self.to)));
        parts.push(format!("refresh={}", format_ms(self.refresh_ms)));
        parts.push(format!(
            "theme={}",
            match self.theme {
                Theme::Dark => "dark",
                Theme::Light => "light",
            }
        ));
        if with_panel {
            parts.push(format!("panel={}", self.panel.name()));
        }
        parts.extend(self.series_params());
        parts.join("&")
    }

    /// `metric`, `filter`, `by`, `line` and `le`, those that are set.
    fn series_params(&self) -> Vec<String> {
        let mut parts = Vec::new();
        if let Some(m) = &self.metric {
            parts.push(format!("metric={}", percent_encode(m)));
        }
        if !self.filter.is_empty() {
            parts.push(format!("filter={}", percent_encode(&self.filter.to_text())));
        }
        if let Some(b) = &self.by {
            parts.push(format!("by={}", percent_encode(&b.to_text())));
            if let Some(q) = self.line {
                parts.push(format!("line={q}"));
            }
        }
        if let Some(le) = self.le {
            parts.push(format!("le={le}"));
        }
        if let Some(ms) = self.shift_ms {
            parts.push(format!("shift={}", format_ms(ms)));
        }
        parts
    }

    /// `&metric=..&filter=..` of this view (empty when neither is set), for
    /// API calls that select series but do not group.
    pub fn selection_query(&self) -> String {
        let mut out = String::new();
        if let Some(m) = &self.metric {
            out.push_str(&format!("&metric={}", percent_encode(m)));
        }
        if !self.filter.is_empty() {
            out.push_str(&format!("&filter={}", percent_encode(&self.filter.to_text())));
        }
        out
    }

    /// The quantile drawn per group: `line`, else the highest chosen.
    pub fn line_q(&self) -> f64 {
        self.line
            .or_else(|| self.qs.last().copied())
            .unwrap_or(DEFAULT_QS[2])
    }

    /// The query of `/api/chart.svg` drawing this view with `kind` (no
    /// refresh or panel; grouped: the drawn quantile per group).
    pub fn chart_svg_query(&self, kind: SketchKind) -> String {
        let qs: Vec<String> = match self.by {
            Some(_) => vec![self.line_q().to_string()],
            None => self.qs.iter().map(|q| q.to_string()).collect(),
        };
        let mut parts = vec![
            format!("sketch={}", kind.name()),
            format!("q={}", qs.join(",")),
            format!("from={}", percent_encode(&self.from)),
            format!("to={}", percent_encode(&self.to)),
            format!(
                "theme={}",
                if self.theme == Theme::Light {
                    "light"
                } else {
                    "dark"
                }
            ),
        ];
        parts.extend(
            self.series_params()
                .into_iter()
                .filter(|p| !p.starts_with("line=") && !p.starts_with("shift=")),
        );
        parts.join("&")
    }

    /// `(from, to)` in Unix ms at `now`; a range that cannot be resolved
    /// falls back to the default.
    pub fn resolve(&self, now: i64) -> (i64, i64) {
        let to = parse_time(&self.to, now).unwrap_or(now);
        let from = parse_time(&self.from, now).unwrap_or(now - 15 * 60_000);
        (from.min(to), to)
    }

    /// Whether the range ends at `now` (follows live data).
    pub fn is_live(&self) -> bool {
        self.to.trim() == "now"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_round_trips() {
        let state = ViewState {
            sketch: Some(SketchKind::HdrHistogram),
            qs: vec![0.5, 0.999],
            from: "now-1h".into(),
            to: "1764072000000".into(),
            refresh_ms: 5_000,
            theme: Theme::Light,
            panel: Panel::Histogram,
            ..ViewState::default()
        };
        let query = state.to_query(true);
        assert_eq!(
            query,
            "sketch=hdrhistogram&q=0.5,0.999&from=now-1h&to=1764072000000&refresh=5s&theme=light&panel=histogram"
        );
        assert_eq!(ViewState::from_query(&format!("?{query}")), (state, vec![]));
    }

    #[test]
    fn series_selection_round_trips_through_the_url() {
        let state = ViewState {
            metric: Some("http.server.duration".into()),
            filter: Filter::parse("service:checkout,route:/api*,!host:dn-3").expect("filter"),
            by: Some(GroupBy::parse("route,host").expect("by")),
            line: Some(0.95),
            le: Some(250.0),
            shift_ms: Some(3_600_000),
            ..ViewState::default()
        };
        let query = state.to_query(false);
        assert!(
            query.ends_with(
                "&metric=http.server.duration&filter=service:checkout,route:%2Fapi%2A,%21host:dn-3&by=route,host&line=0.95&le=250&shift=1h"
            ),
            "{query}"
        );
        assert_eq!(ViewState::from_query(&query), (state.clone(), vec![]));
        assert_eq!(state.line_q(), 0.95);
        // The static chart draws the grouped quantile, with the selection.
        let svg = state.chart_svg_query(SketchKind::Datadog);
        assert!(svg.starts_with("sketch=datadog&q=0.95&from="), "{svg}");
        assert!(
            svg.contains("&by=route,host")
                && svg.contains("&le=250")
                && !svg.contains("line=")
                && !svg.contains("shift="),
            "{svg}"
        );
        // Bad selections fall back and are reported by name.
        let (fallback, problems) =
            ViewState::from_query("filter=:x&by=a,b,c&line=2,3&le=fast&metric=&shift=0s");
        assert_eq!(fallback, ViewState::default());
        let params: Vec<&str> = problems.iter().map(|p| p.param.as_str()).collect();
        assert_eq!(params, ["filter", "by", "line", "le", "metric", "shift"]);
    }

    #[test]
    fn a_token_is_a_credential_forwarded_not_a_view_parameter() {
        let (_, problems) = ViewState::from_query("?sketch=datadog&token=a%2Bb");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            token_of_query("?sketch=datadog&token=a%2Bb").as_deref(),
            Some("a+b")
        );
        assert_eq!(token_of_query("?token="), None);
        assert_eq!(with_token("/ws", Some("a+b")), "/ws?token=a%2Bb");
        assert_eq!(
            with_token("/api/exact?q=0.5", Some("t")),
            "/api/exact?q=0.5&token=t"
        );
        assert_eq!(with_token("/ws", None), "/ws");
    }

    #[test]
    fn bad_and_unknown_parameters_fall_back_and_are_reported() {
        let (state, problems) = ViewState::from_query(
            "sketch=tdigest&q=0.5,abc&from=yesterday&refresh=1ms&theme=pink&zoom=2&panel=x",
        );
        assert_eq!(state, ViewState::default());
        let params: Vec<&str> = problems.iter().map(|p| p.param.as_str()).collect();
        assert_eq!(
            params,
            ["sketch", "q", "from", "refresh", "theme", "zoom", "panel"]
        );
        assert!(problems[5].message.contains("unknown parameter"));
    }

    #[test]
    fn quantiles_accept_percentages_and_sort() {
        assert_eq!(parse_quantiles("99.9, 0.5,50"), Ok(vec![0.5, 0.999]));
        assert!(parse_quantiles("0").is_err());
        assert!(parse_quantiles("").is_err());
        assert_eq!(quantile_label(0.999), "P99.9");
        assert_eq!(quantile_label(0.5), "P50");
        assert_eq!(percent_decode("now%2D15m+x"), "now-15m x");
    }

    #[test]
    fn ranges_resolve_against_now() {
        let (state, _) = ViewState::from_query("from=now-5m");
        assert_eq!(state.resolve(1_000_000), (700_000, 1_000_000));
        assert!(state.is_live());
    }
}
