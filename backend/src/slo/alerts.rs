//! Alert states: inactive → pending (the rule holds) → firing (it held for
//! `for`) → resolved (it stopped holding), evaluated once per tick.

use std::collections::BTreeMap;

use serde::Serialize;
use shared::range::TimeRange;

use super::evaluate::{self, EvalError};
use super::spec::{AlertRule, AlertSpec, Definitions};
use crate::ingest::Pipeline;

/// Where an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// The rule does not hold.
    Inactive,
    /// The rule holds, not yet for `for`.
    Pending,
    /// The rule has held for `for`.
    Firing,
    /// It fired, and the rule no longer holds.
    Resolved,
}

/// A change worth a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Pending → firing.
    Fired,
    /// Firing → resolved.
    Resolved,
}

/// An alert now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertStatus {
    /// Name.
    pub name: String,
    /// State.
    pub state: State,
    /// When it entered this state (Unix ms; `None` while never active).
    pub since_ms: Option<i64>,
    /// When it last started firing (Unix ms).
    pub fired_at_ms: Option<i64>,
    /// The value the rule compared at the last tick (the quantile, or the
    /// lower of the two burn rates).
    pub value: Option<f64>,
    /// The threshold it is compared with.
    pub threshold: f64,
    /// `alertname`, `metric` and the filter's tags (Alertmanager labels).
    pub labels: BTreeMap<String, String>,
    /// What the rule says, for people.
    pub summary: String,
    /// When it fired, newest last (at most [`MAX_SPANS`]); `to_ms` is
    /// `None` while firing. The dashboard shades these on the chart.
    pub spans: Vec<Span>,
}

/// One firing period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    /// Started firing, Unix ms.
    pub from_ms: i64,
    /// Resolved, Unix ms (`None`: still firing).
    pub to_ms: Option<i64>,
}

/// Firing periods kept per alert.
pub const MAX_SPANS: usize = 50;

/// One alert's state between ticks.
#[derive(Debug, Clone)]
pub struct Tracker {
    spec: AlertSpec,
    status: AlertStatus,
}

impl Tracker {
    /// A tracker of `spec`, inactive.
    pub fn new(spec: AlertSpec, defs: &Definitions) -> Self {
        let (labels, summary, threshold) = describe(&spec, defs);
        Self {
            status: AlertStatus {
                name: spec.name.clone(),
                state: State::Inactive,
                since_ms: None,
                fired_at_ms: None,
                value: None,
                threshold,
                labels,
                summary,
                spans: Vec::new(),
            },
            spec,
        }
    }

    /// The current status.
    pub fn status(&self) -> &AlertStatus {
        &self.status
    }

    /// Moves the state given whether the rule `holds` at `now`.
    pub fn step(&mut self, holds: bool, value: Option<f64>, now: i64) -> Option<Transition> {
        let s = &mut self.status;
        s.value = value;
        let (next, transition) = match (s.state, holds) {
            (State::Inactive | State::Resolved, true) if self.spec.for_ms == 0 => {
                (State::Firing, Some(Transition::Fired))
            }
            (State::Inactive | State::Resolved, true) => (State::Pending, None),
            (State::Pending, true) if now - s.since_ms.unwrap_or(now) >= self.spec.for_ms => {
                (State::Firing, Some(Transition::Fired))
            }
            (State::Pending, false) => (State::Inactive, None),
            (State::Firing, false) => (State::Resolved, Some(Transition::Resolved)),
            (same, _) => (same, None),
        };
        if next != s.state {
            s.state = next;
            s.since_ms = Some(now);
        }
        match transition {
            Some(Transition::Fired) => {
                s.fired_at_ms = Some(now);
                if s.spans.len() == MAX_SPANS {
                    s.spans.remove(0);
                }
                s.spans.push(Span {
                    from_ms: now,
                    to_ms: None,
                });
            }
            Some(Transition::Resolved) => {
                if let Some(last) = s.spans.last_mut() {
                    last.to_ms = Some(now);
                }
            }
            None => {}
        }
        transition
    }

    /// Reads the rule at `now`: whether it holds, and its value.
    pub fn read(
        &self,
        pipeline: &Pipeline,
        defs: &Definitions,
        now: i64,
    ) -> Result<(bool, Option<f64>), EvalError> {
        let kind = pipeline.config.default_kind;
        let range = |span: i64| TimeRange::new(now.saturating_sub(span), now.saturating_add(1));
        match &self.spec.rule {
            AlertRule::Quantile {
                metric,
                filter,
                q,
                above,
                over_ms,
            } => {
                let sketch = evaluate::merged(pipeline, kind, metric, filter, range(*over_ms))?;
                let value = sketch.and_then(|s| s.quantile(*q).ok());
                Ok((value.is_some_and(|v| v > *above), value))
            }
            AlertRule::Burn {
                slo,
                burn,
                short_ms,
                long_ms,
            } => {
                let Some(spec) = defs.slo(slo) else {
                    return Ok((false, None));
                };
                let short = evaluate::window_status(pipeline, kind, spec, "short", range(*short_ms))?;
                let long = evaluate::window_status(pipeline, kind, spec, "long", range(*long_ms))?;
                let value = match (short.burn_rate, long.burn_rate) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    _ => None,
                };
                Ok((value.is_some_and(|v| v > *burn), value))
            }
        }
    }
}

/// Labels, summary and threshold of an alert.
fn describe(spec: &AlertSpec, defs: &Definitions) -> (BTreeMap<String, String>, String, f64) {
    let mut labels = BTreeMap::from([("alertname".to_owned(), spec.name.clone())]);
    let mut add_selection = |metric: &str, filter: &shared::filter::Filter| {
        labels.insert("metric".into(), metric.to_owned());
        for t in filter.terms().filter(|t| !t.negated && !t.prefix) {
            labels.insert(t.key.to_owned(), t.value.to_owned());
        }
    };
    match &spec.rule {
        AlertRule::Quantile {
            metric,
            filter,
            q,
            above,
            over_ms,
        } => {
            add_selection(metric, filter);
            let summary = format!(
                "P{} of {metric}{} over the last {} s above {above}",
                q * 100.0,
                if filter.is_empty() {
                    String::new()
                } else {
                    format!(" {{{}}}", filter.to_text())
                },
                over_ms / 1000
            );
            (labels, summary, *above)
        }
        AlertRule::Burn {
            slo,
            burn,
            short_ms,
            long_ms,
        } => {
            if let Some(s) = defs.slo(slo) {
                add_selection(&s.metric, &s.filter);
            }
            labels.insert("slo".into(), slo.clone());
            let summary = format!(
                "SLO {slo} burning faster than {burn}× over both {} s and {} s",
                short_ms / 1000,
                long_ms / 1000
            );
            (labels, summary, *burn)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(for_ms: i64) -> Tracker {
        let spec = AlertSpec::parse(&format!(
            "name=p99;metric=latency;q=0.99;above=500;for={for_ms}ms"
        ))
        .expect("spec");
        Tracker::new(spec, &Definitions::default())
    }

    #[test]
    fn states_go_pending_firing_resolved_and_notify_twice() {
        let mut t = tracker(2_000);
        assert_eq!(t.step(true, Some(600.0), 0), None);
        assert_eq!(t.status().state, State::Pending);
        assert_eq!(t.step(true, Some(600.0), 1_000), None, "not yet held for 2 s");
        assert_eq!(t.step(true, Some(650.0), 2_000), Some(Transition::Fired));
        assert_eq!(
            (t.status().state, t.status().since_ms),
            (State::Firing, Some(2_000))
        );
        assert_eq!(t.step(true, Some(650.0), 3_000), None, "firing once");
        assert_eq!(t.step(false, Some(100.0), 4_000), Some(Transition::Resolved));
        assert_eq!(t.status().state, State::Resolved);
        assert_eq!(t.status().fired_at_ms, Some(2_000));
        assert_eq!(
            t.status().spans,
            vec![Span {
                from_ms: 2_000,
                to_ms: Some(4_000)
            }]
        );
        // A blip shorter than `for` never fires.
        let mut t = tracker(2_000);
        t.step(true, Some(600.0), 0);
        t.step(false, Some(100.0), 1_000);
        assert_eq!(t.status().state, State::Inactive);
        // Without `for`, the first tick that holds fires.
        let mut t = tracker(0);
        assert_eq!(t.step(true, Some(600.0), 0), Some(Transition::Fired));
        assert_eq!(t.status().labels["alertname"], "p99");
    }
}
