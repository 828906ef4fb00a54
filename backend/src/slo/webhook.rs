//! `--alert-webhook URL`: each firing and resolution POSTed as Prometheus
//! Alertmanager's webhook JSON (version 4), so receivers written for
//! Alertmanager work unchanged. Sent from a task of its own through a
//! bounded queue: a slow or dead receiver never blocks evaluation or
//! ingest; attempts are retried with backoff, and failures and drops are
//! counted (`mss_alert_webhook_failures_total`, `mss_alert_webhook_dropped_total`).

use std::time::{Duration, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::alerts::{AlertStatus, Transition};

/// Notifications waiting to be sent at most.
pub const QUEUE: usize = 256;
/// Attempts per notification.
pub const ATTEMPTS: u32 = 5;
/// First retry delay; doubles per attempt.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// How long one attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a webhook URL was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WebhookError {
    /// Not an `http://host:port/path` URL.
    #[error("{0:?} is not an http:// URL (https receivers need a local proxy)")]
    BadUrl(String),
}

/// Where notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port`.
    pub authority: String,
    /// Path and query.
    pub path: String,
}

impl Target {
    /// Parses `http://host[:port][/path]`.
    pub fn parse(url: &str) -> Result<Self, WebhookError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| WebhookError::BadUrl(url.to_owned()))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains(['@', ' ']) {
            return Err(WebhookError::BadUrl(url.to_owned()));
        }
        let authority = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Self {
            authority,
            path: path.to_owned(),
        })
    }
}

/// RFC 3339 UTC time of Unix ms.
pub fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

/// The Alertmanager webhook body (version 4) for one alert's transition.
pub fn payload(alert: &AlertStatus, transition: Transition, external_url: &str) -> Value {
    let status = match transition {
        Transition::Fired => "firing",
        Transition::Resolved => "resolved",
    };
    let starts = alert.fired_at_ms.unwrap_or(0);
    // Alertmanager's "no end yet".
    let ends = match transition {
        Transition::Fired => "0001-01-01T00:00:00Z".to_owned(),
        Transition::Resolved => rfc3339(alert.since_ms.unwrap_or(starts)),
    };
    let value = alert
        .value
        .map_or_else(|| "none".to_owned(), |v| format!("{v:.4}"));
    let annotations = json!({
        "summary": alert.summary,
        "value": value,
        "threshold": alert.threshold.to_string(),
    });
    let labels = json!(alert.labels);
    let group_labels = json!({ "alertname": alert.name });
    let fingerprint = format!("{:016x}", fnv1a(alert.name.as_bytes()));
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{}\"}}", alert.name),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "mss",
        "groupLabels": group_labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": rfc3339(starts),
            "endsAt": ends,
            "generatorURL": format!("{external_url}/api/alerts"),
            "fingerprint": fingerprint,
        }],
    })
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The sending side: queue a notification without waiting.
#[derive(Debug, Clone)]
pub struct Notifier {
    queue: mpsc::Sender<Value>,
}

impl Notifier {
    /// Starts the sender task for `target`; it stops with `shutdown`.
    pub fn start(target: Target, shutdown: CancellationToken) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(send_loop(target, rx, shutdown));
        Self { queue }
    }

    /// Queues `body`; a full queue drops it (counted and logged).
    pub fn notify(&self, body: Value) {
        if self.queue.try_send(body).is_err() {
            metrics::counter!("mss_alert_webhook_dropped_total").increment(1);
            tracing::warn!("alert webhook queue full ({QUEUE}): a notification was dropped");
        }
    }
}

async fn send_loop(target: Target, mut rx: mpsc::Receiver<Value>, shutdown: CancellationToken) {
    loop {
        let body = tokio::select! {
            _ = shutdown.cancelled() => return,
            b = rx.recv() => match b { Some(b) => b, None => return },
        };
        let bytes = Bytes::from(body.to_string());
        let mut delay = FIRST_BACKOFF;
        let mut sent = false;
        for attempt in 1..=ATTEMPTS {
            match tokio::time::timeout(ATTEMPT_TIMEOUT, post(&target, bytes.clone())).await {
                Ok(Ok(status)) if (200..300).contains(&status) => {
                    metrics::counter!("mss_alert_webhook_sent_total").increment(1);
                    sent = true;
                    break;
                }
                Ok(Ok(status)) => {
                    tracing::warn!("alert webhook answered {status} (attempt {attempt}/{ATTEMPTS})")
                }
                Ok(Err(e)) => tracing::warn!("alert webhook failed: {e} (attempt {attempt}/{ATTEMPTS})"),
                Err(_) => tracing::warn!("alert webhook timed out (attempt {attempt}/{ATTEMPTS})"),
            }
            metrics::counter!("mss_alert_webhook_failures_total").increment(1);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay *= 2;
        }
        if !sent {
            metrics::counter!("mss_alert_webhook_dropped_total").increment(1);
            tracing::error!("alert webhook: a notification was given up after {ATTEMPTS} attempts");
        }
    }
}

/// One HTTP/1.1 POST; the response status.
async fn post(target: &Target, body: Bytes) -> Result<u16, String> {
    let stream = tokio::net::TcpStream::connect(&target.authority)
        .await
        .map_err(|e| format!("connect {}: {e}", target.authority))?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let request = hyper::Request::post(target.path.as_str())
        .header(hyper::header::HOST, target.authority.as_str())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "mss")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    // Read the body so the connection closes cleanly.
    let _ = response.into_body().collect().await;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_to_a_host_port_and_path() {
        assert_eq!(
            Target::parse("http://127.0.0.1:9093/api/v2/alerts").expect("url"),
            Target {
                authority: "127.0.0.1:9093".into(),
                path: "/api/v2/alerts".into()
            }
        );
        assert_eq!(
            Target::parse("http://hooks.local").expect("url").authority,
            "hooks.local:80"
        );
        assert!(Target::parse("https://x").is_err());
        assert!(Target::parse("http://").is_err());
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
