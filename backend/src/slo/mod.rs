//! SLOs ("99.9 % of checkout requests ≤ 250 ms"), their burn rates, and
//! alerts on quantiles or burn rates, evaluated once per tick on the merged
//! sketches of the `--sketch` kind where the whole data is (`mss serve`,
//! `mss view`; a `mss consume` process sees only its partitions).
//!
//! - [`spec`]: `--slo`/`--alert` texts and `--slo-file` TOML.
//! - [`evaluate`]: good shares and burn rates from the window store.
//! - [`alerts`]: the inactive → pending → firing → resolved machine.
//! - [`webhook`]: Alertmanager-format notifications, off the hot path.

pub mod alerts;
pub mod evaluate;
pub mod spec;
pub mod webhook;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use alerts::{AlertStatus, State, Tracker};
use evaluate::SloStatus;
use spec::Definitions;

use crate::ingest::{locked, Pipeline};

/// How often SLOs and alerts are evaluated.
pub const TICK: Duration = Duration::from_secs(1);

/// The SLOs and alerts of a process, and their latest evaluation.
#[derive(Debug)]
pub struct Monitor {
    defs: Definitions,
    trackers: Mutex<Vec<Tracker>>,
    slos: Mutex<Vec<SloStatus>>,
    notifier: Option<webhook::Notifier>,
    external_url: String,
}

impl Monitor {
    /// A monitor of `defs`; notifications go to `notifier` when set, with
    /// `external_url` (this server's address) in each.
    pub fn new(defs: Definitions, notifier: Option<webhook::Notifier>, external_url: String) -> Self {
        let trackers = defs
            .alerts
            .iter()
            .map(|a| Tracker::new(a.clone(), &defs))
            .collect();
        Self {
            defs,
            trackers: Mutex::new(trackers),
            slos: Mutex::new(Vec::new()),
            notifier,
            external_url,
        }
    }

    /// The definitions.
    pub fn definitions(&self) -> &Definitions {
        &self.defs
    }

    /// Evaluates every SLO and alert at `now`, updates `/metrics`, and
    /// queues a notification per firing or resolution.
    pub fn tick(&self, pipeline: &Pipeline, now: i64) {
        let mut slos = Vec::with_capacity(self.defs.slos.len());
        for slo in &self.defs.slos {
            match evaluate::slo_status(pipeline, slo, now) {
                Ok(s) => slos.push(s),
                Err(e) => tracing::warn!("SLO {} not evaluated: {e}", slo.name),
            }
        }
        export_slos(&slos);
        if let Some(mut last) = locked(&self.slos, &pipeline.stats, "SLO statuses") {
            *last = slos;
        }
        let Some(mut trackers) = locked(&self.trackers, &pipeline.stats, "alert states") else {
            return;
        };
        for t in trackers.iter_mut() {
            let (holds, value) = match t.read(pipeline, &self.defs, now) {
                Ok(read) => read,
                Err(e) => {
                    tracing::warn!("alert {} not evaluated: {e}", t.status().name);
                    continue;
                }
            };
            if let Some(transition) = t.step(holds, value, now) {
                let status = t.status();
                tracing::info!(
                    "alert {} {:?} (value {:?})",
                    status.name,
                    status.state,
                    status.value
                );
                if let Some(n) = &self.notifier {
                    n.notify(webhook::payload(status, transition, &self.external_url));
                }
            }
            let firing = f64::from(u8::from(t.status().state == State::Firing));
            metrics::gauge!("mss_alert_firing", "alert" => t.status().name.clone()).set(firing);
        }
    }

    /// The latest SLO statuses (`None`: the lock was poisoned, counted on
    /// `pipeline`'s stats).
    pub fn slos(&self, pipeline: &Pipeline) -> Option<Vec<SloStatus>> {
        locked(&self.slos, &pipeline.stats, "SLO statuses").map(|s| s.clone())
    }

    /// The alerts' states (`None`: the lock was poisoned, counted).
    pub fn alerts(&self, pipeline: &Pipeline) -> Option<Vec<AlertStatus>> {
        locked(&self.trackers, &pipeline.stats, "alert states")
            .map(|t| t.iter().map(|t| t.status().clone()).collect())
    }
}

fn export_slos(slos: &[SloStatus]) {
    for s in slos {
        for w in &s.windows {
            let labels = [("slo", s.name.clone()), ("window", w.window.clone())];
            if let Some(g) = w.good_ratio {
                metrics::gauge!("mss_slo_good_ratio", &labels).set(g);
            }
            if let Some(b) = w.burn_rate {
                metrics::gauge!("mss_slo_burn_rate", &labels).set(b);
            }
        }
    }
}

/// Evaluates `monitor` every [`TICK`] until `shutdown`.
pub async fn run(monitor: Arc<Monitor>, pipeline: Arc<Pipeline>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (m, p) = (monitor.clone(), pipeline.clone());
        let now = p.now_ms();
        // Merging is CPU work: off the async workers.
        if tokio::task::spawn_blocking(move || m.tick(&p, now))
            .await
            .is_err()
        {
            tracing::error!("SLO/alert evaluation panicked");
        }
    }
}
