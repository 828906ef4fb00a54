//! SLO and alert definitions as written on the command line (`;`-separated
//! `key=value` fields, because filters use `,`) or in a TOML file:
//!
//! - `--slo 'name=checkout;metric=latency;filter=service:checkout,route:/pay;le=250;objective=99.9'`
//! - `--alert 'name=checkout-p99;metric=latency;filter=..;q=0.99;above=500;for=2m'`
//!   (optional `over=1m`: the range the quantile is read over)
//! - `--alert 'name=checkout-burn;slo=checkout;burn=14.4;short=5m;long=1h'` (optional `for`)
//! - `--slo-file slos.toml` with `[[slo]]` and `[[alert]]` tables of the same fields.

use std::collections::BTreeMap;

use shared::filter::Filter;
use shared::time_spec::parse_span_ms;

/// Why a definition was refused (named by field, so the user can fix it).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// A field is not `key=value`.
    #[error("{0:?} is not key=value")]
    NotKeyValue(String),
    /// A required field is missing.
    #[error("missing {0}=")]
    Missing(&'static str),
    /// A field's value is wrong.
    #[error("{field}: {message}")]
    Bad {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A field this definition does not know.
    #[error("unknown field {0:?}")]
    Unknown(String),
    /// Two definitions share a name.
    #[error("two definitions are named {0:?}")]
    Duplicate(String),
    /// A burn-rate alert names an SLO that is not defined.
    #[error("alert {alert:?} names slo {slo:?}, which is not defined (--slo)")]
    NoSuchSlo {
        /// The alert.
        alert: String,
        /// The SLO it names.
        slo: String,
    },
    /// The TOML file did not parse.
    #[error("{0}")]
    Toml(String),
}

fn bad(field: &str, message: impl Into<String>) -> SpecError {
    SpecError::Bad {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// An objective: "`le` or less for `objective` of the values of a series selection".
#[derive(Debug, Clone, PartialEq)]
pub struct SloSpec {
    /// Name (label `slo` on `/metrics`).
    pub name: String,
    /// Metric.
    pub metric: String,
    /// Series filter.
    pub filter: Filter,
    /// A value is good when ≤ this (in the metric's unit).
    pub le: f64,
    /// The target share of good values, 0–1 (written in percent).
    pub objective: f64,
}

/// What an alert watches.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertRule {
    /// A quantile of a selection above a value.
    Quantile {
        /// Metric.
        metric: String,
        /// Series filter.
        filter: Filter,
        /// The quantile, 0–1.
        q: f64,
        /// Fires when the quantile is above this.
        above: f64,
        /// The range the quantile is read over, ms.
        over_ms: i64,
    },
    /// An SLO burning its budget too fast over two windows at once.
    Burn {
        /// The SLO's name.
        slo: String,
        /// Fires when both windows burn faster than this.
        burn: f64,
        /// Short window, ms.
        short_ms: i64,
        /// Long window, ms.
        long_ms: i64,
    },
}

/// An alert: a rule that must hold for `for_ms` before it fires.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSpec {
    /// Name (`alertname` in webhooks).
    pub name: String,
    /// The rule.
    pub rule: AlertRule,
    /// How long the rule must hold before firing, ms.
    pub for_ms: i64,
}

/// Default range of a quantile alert.
pub const DEFAULT_ALERT_OVER_MS: i64 = 60_000;

/// `key=value;key=value` → fields (keys trimmed, values as written).
fn fields(text: &str) -> Result<BTreeMap<String, String>, SpecError> {
    let mut out = BTreeMap::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| SpecError::NotKeyValue(part.to_owned()))?;
        out.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(out)
}

/// The fields of one definition, each taken once; leftovers are errors.
struct Fields(BTreeMap<String, String>);

impl Fields {
    fn take(&mut self, key: &'static str) -> Result<String, SpecError> {
        self.0.remove(key).ok_or(SpecError::Missing(key))
    }

    fn number(&mut self, key: &'static str) -> Result<f64, SpecError> {
        let text = self.take(key)?;
        text.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| bad(key, format!("{text:?} is not a number")))
    }

    fn span(&mut self, key: &'static str, default: Option<i64>) -> Result<i64, SpecError> {
        match (self.0.remove(key), default) {
            (None, Some(d)) => Ok(d),
            (None, None) => Err(SpecError::Missing(key)),
            (Some(text), _) => parse_span_ms(&text)
                .ok_or_else(|| bad(key, format!("{text:?} is not a duration like 30s, 5m, 1h"))),
        }
    }

    fn name(&mut self) -> Result<String, SpecError> {
        let name = self.take("name")?;
        shared::series::validate_tag("name", &name).map_err(|e| bad("name", e.to_string()))?;
        Ok(name)
    }

    fn selection(&mut self) -> Result<(String, Filter), SpecError> {
        let metric = self.take("metric")?;
        shared::series::validate_metric(&metric).map_err(|e| bad("metric", e.to_string()))?;
        let filter = match self.0.remove("filter") {
            None => Filter::default(),
            Some(text) => Filter::parse(&text).map_err(|e| bad("filter", e.to_string()))?,
        };
        Ok((metric, filter))
    }

    fn done(self) -> Result<(), SpecError> {
        match self.0.into_keys().next() {
            Some(k) => Err(SpecError::Unknown(k)),
            None => Ok(()),
        }
    }
}

impl SloSpec {
    /// Parses `name=..;metric=..;filter=..;le=..;objective=..`.
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        Self::from_fields(Fields(fields(text)?))
    }

    fn from_fields(mut f: Fields) -> Result<Self, SpecError> {
        let name = f.name()?;
        let (metric, filter) = f.selection()?;
        let le = f.number("le")?;
        let objective = f.number("objective")?;
        if !(objective > 0.0 && objective < 100.0) {
            return Err(bad(
                "objective",
                format!("{objective} is not a percentage in (0, 100), like 99.9"),
            ));
        }
        f.done()?;
        Ok(SloSpec {
            name,
            metric,
            filter,
            le,
            // 99.9 / 100 is 0.9990000000000001 in f64: round to 12 decimals.
            objective: (objective / 100.0 * 1e12).round() / 1e12,
        })
    }
}

impl AlertSpec {
    /// Parses a quantile alert (`metric`, `q`, `above`) or a burn-rate alert
    /// (`slo`, `burn`, `short`, `long`); both take `name` and `for`.
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        Self::from_fields(Fields(fields(text)?))
    }

    fn from_fields(mut f: Fields) -> Result<Self, SpecError> {
        let name = f.name()?;
        let for_ms = f.span("for", Some(0))?;
        let rule = if f.0.contains_key("slo") {
            let slo = f.take("slo")?;
            let burn = f.number("burn")?;
            if burn <= 0.0 {
                return Err(bad("burn", "give a burn rate above 0, like 14.4"));
            }
            let (short_ms, long_ms) = (f.span("short", None)?, f.span("long", None)?);
            if short_ms <= 0 || long_ms < short_ms {
                return Err(bad(
                    "long",
                    "give short > 0 and long ≥ short, like short=5m;long=1h",
                ));
            }
            AlertRule::Burn {
                slo,
                burn,
                short_ms,
                long_ms,
            }
        } else {
            let (metric, filter) = f.selection()?;
            let q = f.number("q")?;
            if !(0.0..=1.0).contains(&q) {
                return Err(bad("q", format!("{q} is not a quantile in [0, 1] (write 0.99)")));
            }
            let above = f.number("above")?;
            let over_ms = f.span("over", Some(DEFAULT_ALERT_OVER_MS))?;
            AlertRule::Quantile {
                metric,
                filter,
                q,
                above,
                over_ms,
            }
        };
        f.done()?;
        Ok(AlertSpec { name, rule, for_ms })
    }
}

/// Every SLO and alert of a process, checked together (names unique, burn
/// alerts naming defined SLOs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Definitions {
    /// The SLOs.
    pub slos: Vec<SloSpec>,
    /// The alerts.
    pub alerts: Vec<AlertSpec>,
}

impl Definitions {
    /// Parses `--slo` and `--alert` texts plus an optional TOML file's text.
    pub fn parse(slos: &[String], alerts: &[String], toml_text: Option<&str>) -> Result<Self, SpecError> {
        let mut defs = Definitions::default();
        if let Some(text) = toml_text {
            defs = Self::from_toml(text)?;
        }
        for s in slos {
            defs.slos.push(SloSpec::parse(s)?);
        }
        for a in alerts {
            defs.alerts.push(AlertSpec::parse(a)?);
        }
        defs.check()?;
        Ok(defs)
    }

    fn from_toml(text: &str) -> Result<Self, SpecError> {
        #[derive(serde::Deserialize)]
        struct File {
            #[serde(default)]
            slo: Vec<BTreeMap<String, toml::Value>>,
            #[serde(default)]
            alert: Vec<BTreeMap<String, toml::Value>>,
        }
        let file: File = toml::from_str(text).map_err(|e| SpecError::Toml(e.to_string()))?;
        let as_fields = |table: BTreeMap<String, toml::Value>| {
            Fields(
                table
                    .into_iter()
                    .map(|(k, v)| {
                        let text = match v {
                            toml::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (k, text)
                    })
                    .collect(),
            )
        };
        Ok(Definitions {
            slos: file
                .slo
                .into_iter()
                .map(|t| SloSpec::from_fields(as_fields(t)))
                .collect::<Result<_, _>>()?,
            alerts: file
                .alert
                .into_iter()
                .map(|t| AlertSpec::from_fields(as_fields(t)))
                .collect::<Result<_, _>>()?,
        })
    }

    fn check(&self) -> Result<(), SpecError> {
        let mut seen = std::collections::HashSet::new();
        for name in self.slos.iter().map(|s| &s.name) {
            if !seen.insert(("slo", name)) {
                return Err(SpecError::Duplicate(name.clone()));
            }
        }
        for a in &self.alerts {
            if !seen.insert(("alert", &a.name)) {
                return Err(SpecError::Duplicate(a.name.clone()));
            }
            if let AlertRule::Burn { slo, .. } = &a.rule {
                if !self.slos.iter().any(|s| &s.name == slo) {
                    return Err(SpecError::NoSuchSlo {
                        alert: a.name.clone(),
                        slo: slo.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether there is nothing to evaluate.
    pub fn is_empty(&self) -> bool {
        self.slos.is_empty() && self.alerts.is_empty()
    }

    /// The SLO named `name`.
    pub fn slo(&self, name: &str) -> Option<&SloSpec> {
        self.slos.iter().find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slos_parse_with_filters_holding_commas() {
        let s = SloSpec::parse(
            "name=checkout;metric=latency;filter=service:checkout,route:/pay;le=250;objective=99.9",
        )
        .expect("slo");
        assert_eq!(s.filter.to_text(), "service:checkout,route:/pay");
        assert_eq!((s.le, s.objective), (250.0, 0.999));
        for (text, want) in [
            ("name=a;metric=latency;le=250", "missing objective="),
            (
                "name=a;metric=latency;le=fast;objective=99",
                "le: \"fast\" is not a number",
            ),
            (
                "name=a;metric=latency;le=1;objective=100",
                "objective: 100 is not a percentage",
            ),
            (
                "name=a;metric=latency;le=1;objective=99;colour=red",
                "unknown field \"colour\"",
            ),
            ("name=a;metric=latency;filter=:x;le=1;objective=99", "filter:"),
            ("name=a;metric;le=1", "\"metric\" is not key=value"),
        ] {
            let e = SloSpec::parse(text).expect_err(text).to_string();
            assert!(e.starts_with(want), "{text}: {e}");
        }
    }

    #[test]
    fn alerts_parse_both_rules_and_definitions_are_checked_together() {
        let q = AlertSpec::parse("name=p99;metric=latency;filter=op:read;q=0.99;above=500;for=2m")
            .expect("alert");
        assert_eq!(q.for_ms, 120_000);
        assert!(
            matches!(q.rule, AlertRule::Quantile { q, above, over_ms: 60_000, .. } if q == 0.99 && above == 500.0)
        );
        let b = AlertSpec::parse("name=burn;slo=checkout;burn=14.4;short=5m;long=1h").expect("alert");
        assert!(matches!(
            b.rule,
            AlertRule::Burn {
                short_ms: 300_000,
                long_ms: 3_600_000,
                ..
            }
        ));
        let slo = "name=checkout;metric=latency;le=250;objective=99.9".to_owned();
        let burn = "name=burn;slo=checkout;burn=14.4;short=5m;long=1h".to_owned();
        assert!(Definitions::parse(std::slice::from_ref(&slo), std::slice::from_ref(&burn), None).is_ok());
        assert!(matches!(
            Definitions::parse(&[], std::slice::from_ref(&burn), None),
            Err(SpecError::NoSuchSlo { .. })
        ));
        assert!(matches!(
            Definitions::parse(&[slo.clone(), slo], &[], None),
            Err(SpecError::Duplicate(_))
        ));
    }

    #[test]
    fn a_toml_file_holds_the_same_fields() {
        let text = r#"
            [[slo]]
            name = "checkout"
            metric = "latency"
            filter = "service:checkout"
            le = 250
            objective = 99.9

            [[alert]]
            name = "checkout-burn"
            slo = "checkout"
            burn = 14.4
            short = "5m"
            long = "1h"
        "#;
        let defs = Definitions::parse(&[], &[], Some(text)).expect("file");
        assert_eq!(defs.slos[0].objective, 0.999);
        assert_eq!(defs.alerts[0].name, "checkout-burn");
        assert!(matches!(
            Definitions::parse(&[], &[], Some("[[slo]\n")),
            Err(SpecError::Toml(_))
        ));
    }
}
