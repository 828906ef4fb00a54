//! Flag groups shared by several subcommands. Every flag a deployment sets
//! also reads an `MSS_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use shared::{SketchKind, SketchParams};

use crate::ingest::IngestConfig;
use crate::source::csv::CsvSource;
use crate::source::synthetic::{SyntheticSource, HDFS_ROWS};
use crate::source::SourceItem;

/// Which Kafka and which topic.
#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers (host:port,...). `mss serve` without it starts
    /// an embedded broker (librdkafka's mock cluster).
    #[arg(long, env = "MSS_BROKERS")]
    pub brokers: Option<String>,
    /// Topic of latency records.
    #[arg(long, env = "MSS_TOPIC", default_value = crate::broker::DEFAULT_TOPIC)]
    pub topic: String,
    /// Partitions of the topic when it is created.
    #[arg(long, env = "MSS_PARTITIONS", default_value_t = 4)]
    pub partitions: i32,
    /// Delete the topic first (like the seed's step 4).
    #[arg(long)]
    pub recreate_topic: bool,
    /// Extra librdkafka property for every client, `key=value` (repeatable).
    #[arg(long = "librdkafka", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub librdkafka: Vec<(String, String)>,
}

pub(crate) fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected key=value, got {s:?}"))
}

/// Where rows come from.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// HDFS `Event_traces.csv` to replay.
    #[arg(long, env = "MSS_CSV", conflicts_with = "synthetic")]
    pub csv: Option<PathBuf>,
    /// Replay synthetic HDFS-like rows instead of a file.
    #[arg(long)]
    pub synthetic: bool,
    /// Rows of the synthetic source.
    #[arg(long, default_value_t = HDFS_ROWS)]
    pub rows: u64,
    /// Seed of the synthetic source.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Messages per second at most (default: unlimited).
    #[arg(long, env = "MSS_RATE")]
    pub rate: Option<f64>,
    /// Start over at the end of the source (forever).
    #[arg(long = "loop")]
    pub repeat: bool,
}

impl SourceArgs {
    /// Whether a source was given.
    pub fn is_set(&self) -> bool {
        self.csv.is_some() || self.synthetic
    }

    /// The rows, and how many to expect (for the progress bar).
    pub fn open(&self) -> anyhow::Result<(Box<dyn Iterator<Item = SourceItem> + Send>, Option<u64>)> {
        if let Some(path) = &self.csv {
            let source = CsvSource::open(path, self.repeat)?;
            let rows = if self.repeat {
                None
            } else {
                count_lines(path).ok().map(|n| n.saturating_sub(1))
            };
            return Ok((Box::new(source), rows));
        }
        if self.synthetic {
            let rows = (!self.repeat).then_some(self.rows);
            return Ok((Box::new(SyntheticSource::new(rows, self.seed)), rows));
        }
        bail!("give --csv PATH or --synthetic")
    }
}

fn count_lines(path: &std::path::Path) -> std::io::Result<u64> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut lines = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(lines);
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

/// Consumer group and window sketches.
#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// Consumer group id.
    #[arg(long, env = "MSS_GROUP", default_value = "latency-monitor-group")]
    pub group: String,
    /// Sketch kinds every record goes into (comma-separated).
    #[arg(
        long,
        env = "MSS_SKETCHES",
        value_delimiter = ',',
        default_value = "quantileflow,datadog,momentsketch,hdrhistogram"
    )]
    pub sketches: Vec<SketchKind>,
    /// The kind shown by default (reports, `/api/summary` without `sketch=`).
    #[arg(long, env = "MSS_SKETCH", default_value = "quantileflow")]
    pub sketch: SketchKind,
    /// Window length (processing time), e.g. `1s`, `500ms`.
    #[arg(long, env = "MSS_WINDOW", default_value = "1s", value_parser = humantime::parse_duration)]
    pub window: Duration,
    /// How long closed windows are kept, e.g. `1h`.
    #[arg(long, env = "MSS_RETENTION", default_value = "1h", value_parser = humantime::parse_duration)]
    pub retention: Duration,
    /// How long fine windows (`--window` long, per partition) are kept
    /// before only rollups (merged across partitions) answer, e.g. `3m`;
    /// bounds memory (see the README's retention tiers).
    #[arg(long, env = "MSS_FINE_RETENTION", default_value = "3m", value_parser = humantime::parse_duration)]
    pub fine_retention: Duration,
    /// How long 10 s rollups are kept before only 1-minute rollups answer,
    /// e.g. `15m` (at least `--fine-retention`).
    #[arg(long, env = "MSS_MID_RETENTION", default_value = "15m", value_parser = humantime::parse_duration)]
    pub mid_retention: Duration,
    /// quantileflow relative accuracy α.
    #[arg(long, default_value_t = shared::ddsketch::DEFAULT_RELATIVE_ACCURACY)]
    pub alpha: f64,
    /// momentsketch number of moments k.
    #[arg(long, default_value_t = shared::moments::DEFAULT_MOMENTS)]
    pub moments: usize,
    /// hdrhistogram significant digits.
    #[arg(long, default_value_t = shared::hdr::DEFAULT_SIGNIFICANT_DIGITS)]
    pub hdr_digits: u8,
    /// Topic of the sketch log: every closed window, durable, for `mss view`
    /// and exactly-once restarts.
    #[arg(long, env = "MSS_SKETCH_TOPIC", default_value = crate::sketch_log::DEFAULT_TOPIC)]
    pub sketch_topic: String,
    /// Do not publish windows to the sketch log (offsets are then committed
    /// after windows close: at-least-once across crashes).
    #[arg(long)]
    pub no_sketch_log: bool,
    /// How far back a new partition owner reads the sketch log for
    /// already-counted offsets (must cover the time between commits).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub sketch_lookback: Duration,
    /// Least time between offset commits, e.g. `5s` (default: a quarter
    /// window). Fewer commits, same guarantees: with the sketch log a restart
    /// still resumes exactly after the last published window.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub commit_interval: Option<Duration>,
    /// Longest a partition revocation waits for its release (cut, sketch-log
    /// acknowledgement, synchronous commit) before the partitions are let
    /// go uncommitted (counted; at-least-once from then on). Must be below
    /// `max.poll.interval.ms` (librdkafka's default 300 s).
    #[arg(long, env = "MSS_REVOKE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub revoke_timeout: Duration,
    /// How long records may wait in a partition whose committed offset does
    /// not move while this member does not hold it, before the member leaves
    /// and joins the group again (an owner that is gone but still in the
    /// group, e.g. Tansu 0.6 after a broker freeze).
    #[arg(long, env = "MSS_STALL_RESTART", default_value = "60s", value_parser = humantime::parse_duration)]
    pub stall_restart: Duration,
    /// Also keep every value as an exact reference (16 bytes a value, trimmed
    /// to the retention): `/api/exact` and the dashboard's compare view.
    #[arg(long)]
    pub exact: bool,
    /// Metric of HDFS records, bare numbers and CSV rows, and of queries
    /// that name none.
    #[arg(long, env = "MSS_METRIC", default_value = crate::ingest::DEFAULT_METRIC)]
    pub metric: String,
    /// Tag of HDFS records, bare numbers and CSV rows, `key=value`
    /// (repeatable; none by default).
    #[arg(long = "tag", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// Most series an ingest process keeps; a record of a new series past
    /// it is rejected as `series_limit`.
    #[arg(long, env = "MSS_MAX_SERIES", default_value_t = crate::ingest::DEFAULT_MAX_SERIES)]
    pub max_series: usize,
    /// Wait past a window's end (in event time) before its first snapshot.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub grace: Duration,
    /// Records this far behind a partition's watermark still land in their
    /// window; older ones are rejected as `late`.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub max_lateness: Duration,
    /// How record values are read: `json` (mss's records), `otlp` (protobuf
    /// `ExportMetricsServiceRequest`, as the Collector's Kafka exporter
    /// writes) or `auto` (a valid JSON record is one, else OTLP).
    #[arg(long, env = "MSS_FORMAT", value_enum, default_value = "json")]
    pub format: crate::otlp::RecordFormat,
    /// Resource attributes of OTLP points that become tags (comma-separated,
    /// or `*` for all); point attributes always do.
    #[arg(long, env = "MSS_OTLP_RESOURCE_TAGS", default_value = crate::otlp::points::DEFAULT_RESOURCE_TAGS)]
    pub otlp_resource_tags: String,
}

/// Parses `key=value`.
fn parse_tag(text: &str) -> Result<(String, String), String> {
    let (k, v) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not key=value"))?;
    shared::series::validate_tag(k, v).map_err(|e| e.to_string())?;
    Ok((k.to_owned(), v.to_owned()))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl IngestArgs {
    /// The sketch log of a source topic with `partitions` partitions (`None` with `--no-sketch-log`).
    pub fn sketch_log(&self, partitions: i32) -> Option<crate::sketch_log::SketchLogConfig> {
        (!self.no_sketch_log).then(|| crate::sketch_log::SketchLogConfig {
            topic: self.sketch_topic.clone(),
            partitions: partitions.max(1),
            lookback_ms: i64::try_from(self.sketch_lookback.as_millis()).unwrap_or(i64::MAX),
        })
    }

    /// The ingest configuration of source topic `topic`, validated.
    pub fn config(&self, topic: &str) -> anyhow::Result<IngestConfig> {
        let mut kinds = self.sketches.clone();
        kinds.sort();
        kinds.dedup();
        if kinds.is_empty() {
            bail!("--sketches needs at least one kind");
        }
        if !kinds.contains(&self.sketch) {
            bail!("--sketch {} is not in --sketches", self.sketch);
        }
        let params = SketchParams {
            relative_accuracy: self.alpha,
            moments: self.moments,
            significant_digits: self.hdr_digits,
            ..SketchParams::default()
        };
        for &k in &kinds {
            shared::Sketch::new(k, &params).with_context(|| format!("parameters of {k}"))?;
        }
        let window_ms = u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX);
        if window_ms == 0 {
            bail!("--window must be at least 1ms");
        }
        shared::series::validate_metric(&self.metric).context("--metric")?;
        Ok(IngestConfig {
            kinds,
            default_kind: self.sketch,
            params,
            window_ms,
            grace_ms: millis(self.grace),
            max_lateness_ms: millis(self.max_lateness),
            retention_ms: millis(self.retention),
            fine_retention_ms: millis(self.fine_retention),
            mid_retention_ms: millis(self.mid_retention),
            exact: self.exact,
            topic: topic.to_owned(),
            otlp_topic: None,
            metric: self.metric.clone(),
            tags: self.tags.clone(),
            max_series: Some(self.max_series),
            live_queue: crate::ingest::DEFAULT_LIVE_QUEUE,
            format: self.format,
            otlp_resource_tags: crate::otlp::points::ResourceTags::parse(&self.otlp_resource_tags),
        })
    }
}

/// The web server.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, env = "MSS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory of the built dashboard.
    #[arg(long, env = "MSS_STATIC_DIR", default_value = "frontend/dist")]
    pub static_dir: PathBuf,
    /// Origins allowed to embed the dashboard in an iframe (CSP
    /// frame-ancestors), comma-separated, e.g. `'self',https://wiki.example.com`.
    #[arg(
        long,
        env = "MSS_EMBED_ORIGINS",
        value_delimiter = ',',
        default_value = "'self'"
    )]
    pub embed_origins: Vec<String>,
    /// Host names this server is reached by besides loopback ones and IP
    /// literals (comma-separated), e.g. `mss.example.com`: other names in
    /// a request's Host are refused (DNS rebinding).
    #[arg(long, env = "MSS_PUBLIC_HOST", value_delimiter = ',')]
    pub public_host: Vec<String>,
    /// Token required on `/api/*`, `/ws` and `/metrics` (Bearer header,
    /// `?token=` or the `mss_token` cookie). Set it whenever `--listen` is
    /// not loopback.
    #[arg(long, env = "MSS_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// File holding the token (its first line), instead of `--auth-token`.
    #[arg(long, env = "MSS_AUTH_TOKEN_FILE", conflicts_with = "auth_token")]
    pub auth_token_file: Option<PathBuf>,
    /// A read-only token for embeds: `T` (every panel) or
    /// `T=percentiles,histogram`; it opens `/ws`, `/api/metrics`,
    /// `/api/slos`, `/api/alerts` and, with the percentiles panel,
    /// `/api/chart.svg` — nothing else (repeatable; needs `--auth-token`).
    #[arg(long = "embed-token", value_name = "TOKEN[=PANELS]", hide_env_values = true)]
    pub embed_tokens: Vec<String>,
}

impl HttpArgs {
    /// `--auth-token`, or the first line of `--auth-token-file`.
    pub fn token(&self) -> anyhow::Result<Option<String>> {
        match &self.auth_token_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading --auth-token-file {}", path.display()))?;
                let token = text.lines().next().unwrap_or_default().trim().to_owned();
                anyhow::ensure!(!token.is_empty(), "--auth-token-file {} is empty", path.display());
                Ok(Some(token))
            }
            None => Ok(self.auth_token.clone().filter(|t| !t.is_empty())),
        }
    }

    /// Binds `--listen` and serves the pipeline's HTTP API, WebSocket and
    /// dashboard until `shutdown` is cancelled.
    pub async fn spawn_server(
        &self,
        pipeline: std::sync::Arc<crate::ingest::Pipeline>,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .with_context(|| format!("listening on {}", self.listen))?;
        tracing::info!("serving on http://{}", listener.local_addr()?);
        let token = self.token()?;
        let embed_tokens = self
            .embed_tokens
            .iter()
            .map(|t| {
                crate::serve::access::EmbedToken::parse(t).map_err(|e| anyhow::anyhow!("--embed-token: {e}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(
            embed_tokens.is_empty() || token.is_some(),
            "--embed-token needs --auth-token (without it every route is open anyway)"
        );
        let policy = std::sync::Arc::new(
            crate::serve::access::AccessPolicy::new(
                self.listen,
                &self.public_host,
                &self.embed_origins,
                token,
            )
            .with_embed_tokens(embed_tokens),
        );
        if !self.listen.ip().is_loopback() && !policy.has_token() {
            tracing::warn!(
                listen = %self.listen,
                "listening beyond loopback without --auth-token: anyone who can reach this port reads the metrics"
            );
        }
        let router = crate::serve::with_embed_policy(
            crate::serve::router(pipeline, &self.static_dir, shutdown.clone()),
            &self.embed_origins,
        )?
        .layer(axum::middleware::from_fn_with_state(
            policy,
            crate::serve::access::enforce,
        ));
        Ok(tokio::spawn(crate::serve::run(
            listener,
            router,
            shutdown.clone().cancelled_owned(),
        )))
    }
}

/// What every long-running command (`serve`, `consume`, `view`) takes:
/// Kafka, ingest and the web server.
#[derive(Debug, Clone, Args)]
pub struct ServiceArgs {
    /// Kafka and topic.
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Consumer group and sketches.
    #[command(flatten)]
    pub ingest: IngestArgs,
    /// Web server.
    #[command(flatten)]
    pub http: HttpArgs,
}

/// The OTLP/HTTP receiver (`mss serve`, `mss receive`).
#[derive(Debug, Clone, Args)]
pub struct OtlpArgs {
    /// Serve `POST /v1/metrics` (OTLP/HTTP) on this address, e.g.
    /// `127.0.0.1:4318` (off by default).
    #[arg(long, env = "MSS_OTLP_LISTEN")]
    pub otlp_listen: Option<SocketAddr>,
    /// Topic the receiver writes OTLP records to.
    #[arg(long, env = "MSS_OTLP_TOPIC", default_value = crate::otlp::DEFAULT_TOPIC)]
    pub otlp_topic: String,
    /// Largest request body, in bytes, on the wire and once inflated.
    #[arg(long, env = "MSS_OTLP_MAX_BODY", default_value_t = crate::otlp::receiver::DEFAULT_MAX_BODY)]
    pub otlp_max_body: usize,
}

impl OtlpArgs {
    /// Binds `--otlp-listen` (when set) and serves `POST /v1/metrics`,
    /// writing to `topic` on `brokers`, until `shutdown` is cancelled.
    pub async fn spawn_receiver(
        &self,
        brokers: &str,
        topic: &str,
        librdkafka: &[(String, String)],
        token: Option<String>,
        embedded: Option<std::sync::Arc<crate::ingest::Pipeline>>,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> anyhow::Result<Option<tokio::task::JoinHandle<std::io::Result<()>>>> {
        let Some(listen) = self.otlp_listen else {
            return Ok(None);
        };
        let producer = crate::otlp::receiver::producer(brokers, librdkafka)?;
        let mut receiver = crate::otlp::receiver::Receiver::new(producer, topic, self.otlp_max_body);
        if let Some(pipeline) = embedded {
            receiver =
                receiver.with_embedded_gate(pipeline, crate::otlp::receiver::EMBEDDED_UNCONSUMED_BYTES);
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on --otlp-listen {listen}"))?;
        tracing::info!(
            topic,
            "receiving OTLP/HTTP metrics on http://{}/v1/metrics",
            listener.local_addr()?
        );
        if !listen.ip().is_loopback() && token.is_none() {
            tracing::warn!(%listen, "receiving OTLP beyond loopback without --auth-token: anyone who can reach this port can write metrics");
        }
        let router = crate::otlp::receiver::router(receiver, listen, token);
        Ok(Some(tokio::spawn(crate::serve::run(
            listener,
            router,
            shutdown.clone().cancelled_owned(),
        ))))
    }
}

/// SLOs and alerts (`mss serve`, `mss view`: the roles that see every partition).
#[derive(Debug, Clone, Default, Args)]
pub struct MonitorArgs {
    /// An SLO: `name=..;metric=..;filter=..;le=..;objective=..` (objective
    /// in percent; repeatable).
    #[arg(long = "slo", value_name = "SPEC")]
    pub slos: Vec<String>,
    /// A TOML file of `[[slo]]` and `[[alert]]` tables with the same fields.
    #[arg(long, env = "MSS_SLO_FILE")]
    pub slo_file: Option<PathBuf>,
    /// An alert: `name=..;metric=..;filter=..;q=..;above=..;for=..` or
    /// `name=..;slo=..;burn=..;short=..;long=..` (repeatable).
    #[arg(long = "alert", value_name = "SPEC")]
    pub alerts: Vec<String>,
    /// POST each firing and resolution here as Alertmanager webhook JSON
    /// (version 4), e.g. `http://127.0.0.1:9093/api/v1/alerts`-style receivers.
    #[arg(long, env = "MSS_ALERT_WEBHOOK")]
    pub alert_webhook: Option<String>,
}

impl MonitorArgs {
    /// The checked definitions (an error names the bad field).
    pub fn definitions(&self) -> anyhow::Result<crate::slo::spec::Definitions> {
        let file = match &self.slo_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading --slo-file {}", path.display()))?,
            ),
            None => None,
        };
        crate::slo::spec::Definitions::parse(&self.slos, &self.alerts, file.as_deref())
            .context("--slo/--alert/--slo-file")
    }

    /// Starts the monitor on `pipeline` when anything is defined: its tick
    /// task and, with `--alert-webhook`, the sender; `external_url` is this
    /// server's address (in each notification).
    pub fn start(
        &self,
        pipeline: &std::sync::Arc<crate::ingest::Pipeline>,
        external_url: String,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> anyhow::Result<()> {
        let defs = self.definitions()?;
        if defs.is_empty() {
            anyhow::ensure!(
                self.alert_webhook.is_none(),
                "--alert-webhook needs an --alert (or [[alert]] in --slo-file)"
            );
            return Ok(());
        }
        let notifier = match &self.alert_webhook {
            Some(url) => Some(crate::slo::webhook::Notifier::start(
                crate::slo::webhook::Target::parse(url).context("--alert-webhook")?,
                shutdown.clone(),
            )),
            None => None,
        };
        tracing::info!(
            slos = defs.slos.len(),
            alerts = defs.alerts.len(),
            "evaluating SLOs and alerts every second"
        );
        let monitor = std::sync::Arc::new(crate::slo::Monitor::new(defs, notifier, external_url));
        let _ = pipeline.monitor.set(monitor.clone());
        tokio::spawn(crate::slo::run(monitor, pipeline.clone(), shutdown.clone()));
        Ok(())
    }
}
