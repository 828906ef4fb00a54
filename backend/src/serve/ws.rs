//! `GET /ws`: the stream of sketch snapshots (protocol in `shared::protocol`).
//!
//! Per connection: `Hello` at once; the client's first frame within one
//! second may be a `Subscribe` (else it gets every kind and partition of the
//! default metric); then the retained history in batches, then live windows
//! as they are published and a `Stats` message every second. A `Catalog`
//! defines each series and topic id before the first window naming it; a
//! client subscribed to some series never receives the others' bytes.
//!
//! Backpressure: ingest publishes into a bounded broadcast channel and never
//! waits for clients. A client that falls more than the channel's capacity
//! behind is resynced: it gets `Resync` and a fresh history. A client that
//! needs a resync more than [`MAX_RESYNCS_PER_MINUTE`] times a minute is
//! closed with code 1008 and the reason "too slow". Client frames are at most
//! [`MAX_CLIENT_FRAME`] bytes (larger ones close the connection) and at most
//! [`MAX_CLIENT_FRAMES_PER_S`] per second; a malformed frame gets an `Error`
//! message, the third one closes the connection. A client speaking another
//! protocol version is closed (1002) with a reason naming both versions. On
//! shutdown every client gets a close frame (1001).
//!
//! [`run_client`] is generic over the sink and stream of messages, so the
//! per-connection logic runs (and is tested) over channels as well as a socket.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use shared::filter::Filter as SeriesFilter;
use shared::protocol::{
    ClientMessage, Hello, KindInfo, PartitionStats, SeriesId, ServerMessage, SnapshotKey, StatsSnapshot,
    TopicDef, TopicId, PROTOCOL_VERSION,
};
use shared::SketchKind;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::ingest::Pipeline;
use crate::stats::RejectSource;
use crate::window::{ClosedWindow, StoredWindow};

/// Largest client frame accepted.
pub const MAX_CLIENT_FRAME: usize = 4096;
/// Client frames allowed per second.
pub const MAX_CLIENT_FRAMES_PER_S: u32 = 20;
/// Resyncs allowed per minute before a client is closed as too slow.
pub const MAX_RESYNCS_PER_MINUTE: usize = 3;
/// Windows per history message.
const HISTORY_BATCH: usize = 256;

/// Shared state of the WebSocket endpoint.
#[derive(Debug, Clone)]
pub struct WsState {
    /// The pipeline whose windows are streamed.
    pub pipeline: Arc<Pipeline>,
    /// Cancelled on shutdown: every connection sends a close frame.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Open connections.
    pub clients: Arc<AtomicUsize>,
    /// The `Stats` frame, built once a second for every client (started by
    /// the first connection).
    pub stats: Arc<std::sync::OnceLock<watch::Receiver<bytes::Bytes>>>,
}

impl WsState {
    /// State for `pipeline`'s stream; `shutdown` closes every connection.
    pub fn new(pipeline: Arc<Pipeline>, shutdown: tokio_util::sync::CancellationToken) -> Self {
        Self {
            pipeline,
            shutdown,
            clients: Arc::new(AtomicUsize::new(0)),
            stats: Arc::default(),
        }
    }

    /// The shared stats frames: one snapshot a second, however many clients.
    fn stats_frames(&self) -> watch::Receiver<bytes::Bytes> {
        self.stats
            .get_or_init(|| {
                let (tx, rx) = watch::channel(bytes::Bytes::new());
                let (pipeline, shutdown) = (self.pipeline.clone(), self.shutdown.clone());
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_secs(1));
                    loop {
                        tokio::select! {
                            () = shutdown.cancelled() => break,
                            _ = tick.tick() => {}
                        }
                        let p = pipeline.clone();
                        let Ok(snapshot) = tokio::task::spawn_blocking(move || stats(&p)).await else {
                            continue;
                        };
                        let _ = tx.send(ServerMessage::Stats(snapshot).encode().into());
                    }
                });
                rx
            })
            .clone()
    }
}

/// What one client receives.
#[derive(Debug, Clone)]
struct Filter {
    kinds: Option<Vec<SketchKind>>,
    partitions: Option<Vec<i32>>,
    history_from_ms: Option<i64>,
    metric: String,
    series: SeriesFilter,
    /// Whether each series seen so far matches (series never change).
    matches: HashMap<SeriesId, bool>,
}

impl Filter {
    /// Everything of `metric`.
    fn of_metric(metric: &str) -> Self {
        Self {
            kinds: None,
            partitions: None,
            history_from_ms: None,
            metric: metric.to_owned(),
            series: SeriesFilter::default(),
            matches: HashMap::new(),
        }
    }

    fn wants(&mut self, w: &ClosedWindow, pipeline: &Pipeline) -> bool {
        if !self.kinds.as_ref().is_none_or(|k| k.contains(&w.kind))
            || !self.partitions.as_ref().is_none_or(|p| p.contains(&w.partition))
        {
            return false;
        }
        let (metric, series) = (&self.metric, &self.series);
        *self.matches.entry(w.series).or_insert_with(|| {
            pipeline
                .catalog
                .get(w.series)
                .is_some_and(|key| key.metric() == metric && series.matches(&key))
        })
    }
}

/// The series and topics this connection has defined.
#[derive(Debug, Default)]
struct Known {
    series: HashSet<SeriesId>,
    topics: HashSet<TopicId>,
}

impl Known {
    /// The catalog message defining what `windows` name and the client has
    /// not seen yet (`None` when nothing is new).
    fn catalog_for<'a>(
        &mut self,
        windows: impl IntoIterator<Item = &'a ClosedWindow>,
        pipeline: &Pipeline,
    ) -> Option<ServerMessage> {
        let (mut series, mut topics) = (Vec::new(), Vec::new());
        for w in windows {
            if self.series.insert(w.series) {
                match pipeline.catalog.def(w.series) {
                    Some(def) => series.push(def),
                    None => tracing::warn!(series = w.series, "a window of a freed series"),
                }
            }
            if w.topic != crate::window::store::ALL_TOPICS && self.topics.insert(w.topic) {
                let topic = pipeline.catalog.topic(w.topic).unwrap_or_default();
                topics.push(TopicDef { id: w.topic, topic });
            }
        }
        (!series.is_empty() || !topics.is_empty()).then_some(ServerMessage::Catalog { series, topics })
    }
}

/// Upgrades `GET /ws`.
pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<WsState>) -> Response {
    ws.max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| serve_client(socket, state))
}

fn hello(pipeline: &Pipeline) -> ServerMessage {
    let c = &pipeline.config;
    ServerMessage::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        kinds: c
            .kinds
            .iter()
            .map(|&kind| KindInfo {
                kind,
                guarantee: c.params.guarantee(kind),
            })
            .collect(),
        default_kind: c.default_kind,
        params: c.params,
        partitions: {
            let mut numbers: Vec<i32> = pipeline.positions().keys().map(|p| p.partition).collect();
            numbers.sort_unstable();
            numbers.dedup();
            numbers
        },
        window_ms: c.window_ms,
        unit: pipeline.catalog.unit_of(&c.metric),
        retention_ms: c.retention_ms,
        server_time_ms: pipeline.now_ms(),
        default_metric: c.metric.clone(),
        exact: pipeline.exact.is_some(),
        grace_ms: c.grace_ms,
        max_lateness_ms: c.max_lateness_ms,
    })
}

/// The counters as a protocol message.
pub fn stats(pipeline: &Pipeline) -> StatsSnapshot {
    let s = &pipeline.stats;
    let recent = s.recent_throughput();
    let positions = pipeline.positions();
    let n = positions.len().max(1) as f64;
    let partitions: Vec<PartitionStats> = positions
        .iter()
        .map(|(&source, pos)| PartitionStats {
            topic: pipeline.topic_name(source.topic),
            partition: source.partition,
            offset: pos.offset_or_none(),
            lag: pos.lag(),
            msg_s: recent / n,
        })
        .collect();
    let by_reason: Vec<(String, u64)> = s
        .rejected_by_source()
        .into_iter()
        .flat_map(|(name, reasons)| {
            reasons
                .into_iter()
                .map(move |(r, n)| (format!("{name}.{}", r.name()), n))
        })
        .collect();
    StatsSnapshot {
        server_time_ms: pipeline.now_ms(),
        messages_processed: s.messages.load(Relaxed),
        produced: s.produced.load(Relaxed),
        runtime_s: s.runtime_s(),
        throughput_msg_s: s.throughput(),
        recent_throughput_msg_s: recent,
        current: pipeline.current(&|_| true),
        rejected_csv: s.rejected_total(RejectSource::Csv),
        rejected_payload: s.rejected_total(RejectSource::Payload),
        rejected_by_reason: by_reason,
        partitions,
        series: pipeline.catalog.len() as u64,
        ready: pipeline.is_ready(),
        problems: pipeline.problems(),
        alerts: Vec::new(),
        slos: Vec::new(),
    }
}

fn binary(m: &ServerMessage) -> Message {
    Message::Binary(m.encode().into())
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// The close frame for a client speaking protocol version `v`.
fn wrong_version(v: u16) -> Message {
    close(
        1002,
        &format!("protocol version {v} not supported; server speaks {PROTOCOL_VERSION}"),
    )
}

/// Sends the retained history matching `filter` (with the catalog entries
/// it needs first); returns the snapshots sent.
async fn send_history<S: ClientSink>(
    sink: &mut S,
    pipeline: &Pipeline,
    filter: &mut Filter,
    known: &mut Known,
) -> Result<HashSet<SnapshotKey>, axum::Error> {
    let all: Vec<StoredWindow> = pipeline
        .history_since(filter.history_from_ms.unwrap_or(i64::MIN), &|_| true)
        .unwrap_or_default();
    let windows: Vec<StoredWindow> = all.into_iter().filter(|w| filter.wants(w, pipeline)).collect();
    let sent = windows.iter().map(|w| w.snapshot_key()).collect();
    let mut chunks = windows.chunks(HISTORY_BATCH).peekable();
    if chunks.peek().is_none() {
        sink.send(binary(&ServerMessage::History {
            windows: Vec::new(),
            done: true,
        }))
        .await?;
    }
    while let Some(chunk) = chunks.next() {
        if let Some(defs) = known.catalog_for(chunk.iter().map(|w| &**w), pipeline) {
            sink.send(binary(&defs)).await?;
        }
        let done = chunks.peek().is_none();
        let msg = ServerMessage::History {
            windows: chunk.iter().map(|w| ClosedWindow::clone(w)).collect(),
            done,
        };
        sink.send(binary(&msg)).await?;
    }
    Ok(sent)
}

enum Incoming {
    Subscribe(Filter),
    Malformed(String),
    Closed,
    TooFast,
    WrongVersion(u16),
}

fn parse(frame: Option<Result<Message, axum::Error>>) -> Option<Incoming> {
    match frame {
        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => Some(Incoming::Closed),
        Some(Ok(Message::Binary(bytes))) => Some(parse_binary(&bytes)),
        Some(Ok(Message::Text(_))) => Some(Incoming::Malformed(
            "text frames are not part of the protocol; send binary".into(),
        )),
        // Pings are answered by the library.
        Some(Ok(_)) => None,
    }
}

fn parse_binary(bytes: &[u8]) -> Incoming {
    // The version first: another version's Subscribe may not decode as ours.
    match ClientMessage::peek_version(bytes) {
        Some(v) if v != PROTOCOL_VERSION => return Incoming::WrongVersion(v),
        _ => {}
    }
    match ClientMessage::decode(bytes) {
        Ok(ClientMessage::Subscribe {
            protocol_version: _,
            kinds,
            partitions,
            history_from_ms,
            metric,
            filter,
        }) => {
            let series = match SeriesFilter::parse(filter.as_deref().unwrap_or("")) {
                Ok(f) => f,
                Err(e) => return Incoming::Malformed(format!("filter: {e}")),
            };
            if let Some(m) = &metric {
                if let Err(e) = shared::series::validate_metric(m) {
                    return Incoming::Malformed(format!("metric: {e}"));
                }
            }
            Incoming::Subscribe(Filter {
                kinds,
                partitions,
                history_from_ms,
                metric: metric.unwrap_or_default(),
                series,
                matches: HashMap::new(),
            })
        }
        Err(e) => Incoming::Malformed(e.to_string()),
    }
}

/// A subscription that named no metric gets the server's `--metric`.
fn with_default_metric(mut f: Filter, default: &str) -> Filter {
    if f.metric.is_empty() {
        default.clone_into(&mut f.metric);
    }
    f
}

async fn serve_client(socket: WebSocket, state: WsState) {
    state.clients.fetch_add(1, Relaxed);
    metrics::gauge!("mss_ws_clients").increment(1.0);
    let (sink, stream) = socket.split();
    run_client(sink, stream, &state).await;
    state.clients.fetch_sub(1, Relaxed);
    metrics::gauge!("mss_ws_clients").decrement(1.0);
}

/// Where a connection's frames go (a socket's sink, or a channel in tests).
pub trait ClientSink: futures::Sink<Message, Error = axum::Error> + Unpin + Send {}
impl<T: futures::Sink<Message, Error = axum::Error> + Unpin + Send> ClientSink for T {}

/// Where a connection's frames come from.
pub trait ClientStream: futures::Stream<Item = Result<Message, axum::Error>> + Unpin + Send {}
impl<T: futures::Stream<Item = Result<Message, axum::Error>> + Unpin + Send> ClientStream for T {}

/// One connection's whole life, over any sink and stream of WebSocket
/// messages (the per-connection logic is tested without a socket).
pub async fn run_client(mut sink: impl ClientSink, mut stream: impl ClientStream, state: &WsState) {
    let pipeline = &state.pipeline;
    // Subscribe to live windows before reading the history, so nothing falls in between.
    let mut live = pipeline.subscribe();
    if sink.send(binary(&hello(pipeline))).await.is_err() {
        return;
    }
    let default_metric = pipeline.config.metric.clone();
    let mut filter = Filter::of_metric(&default_metric);
    let mut known = Known::default();
    let mut malformed = 0u32;
    // No first frame within a second: the client gets everything.
    if let Ok(frame) = tokio::time::timeout(Duration::from_secs(1), stream.next()).await {
        match parse(frame) {
            Some(Incoming::Subscribe(f)) => filter = with_default_metric(f, &default_metric),
            Some(Incoming::WrongVersion(v)) => {
                let _ = sink.send(wrong_version(v)).await;
                return;
            }
            Some(Incoming::Malformed(e)) => {
                malformed += 1;
                let _ = sink.send(binary(&ServerMessage::Error { message: e })).await;
            }
            Some(Incoming::Closed) => return,
            Some(Incoming::TooFast) | None => {}
        }
    }
    let Ok(mut sent) = send_history(&mut sink, pipeline, &mut filter, &mut known).await else {
        return;
    };
    let mut stats = state.stats_frames();
    // The latest snapshot goes out at once, then every new one.
    stats.mark_changed();
    let mut resyncs: Vec<Instant> = Vec::new();
    let mut frames_this_second = (Instant::now(), 0u32);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => {
                let _ = sink.send(close(1001, "server shutting down")).await;
                return;
            }
            received = live.recv() => match received {
                Ok(w) => {
                    if !filter.wants(&w, pipeline) || sent.remove(&w.snapshot_key()) {
                        continue;
                    }
                    if let Some(defs) = known.catalog_for([&*w.window], pipeline) {
                        if sink.send(binary(&defs)).await.is_err() {
                            return;
                        }
                    }
                    let t = crate::profile::start();
                    let sent = sink.send(Message::Binary(w.frame.clone())).await;
                    crate::profile::record(crate::profile::Stage::WsSend, t);
                    if sent.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    metrics::counter!("mss_ws_resyncs_total").increment(1);
                    metrics::counter!("mss_ws_dropped_windows_total").increment(missed);
                    let now = Instant::now();
                    resyncs.retain(|t| now.duration_since(*t) < Duration::from_secs(60));
                    resyncs.push(now);
                    if resyncs.len() > MAX_RESYNCS_PER_MINUTE {
                        let _ = sink.send(close(1008, "too slow: fell behind the live stream repeatedly")).await;
                        return;
                    }
                    live = pipeline.subscribe();
                    let reason = format!("fell {missed} windows behind");
                    if sink.send(binary(&ServerMessage::Resync { reason })).await.is_err() {
                        return;
                    }
                    match send_history(&mut sink, pipeline, &mut filter, &mut known).await {
                        Ok(s) => sent = s,
                        Err(_) => return,
                    }
                }
                Err(RecvError::Closed) => {
                    let _ = sink.send(close(1001, "server shutting down")).await;
                    return;
                }
            },
            frame = stream.next() => {
                let now = Instant::now();
                if now.duration_since(frames_this_second.0) >= Duration::from_secs(1) {
                    frames_this_second = (now, 0);
                }
                frames_this_second.1 += 1;
                let incoming = if frames_this_second.1 > MAX_CLIENT_FRAMES_PER_S { Some(Incoming::TooFast) } else { parse(frame) };
                match incoming {
                    Some(Incoming::Closed) => return,
                    Some(Incoming::TooFast) => {
                        let _ = sink.send(close(1008, "too many client frames per second")).await;
                        return;
                    }
                    Some(Incoming::WrongVersion(v)) => {
                        let _ = sink.send(wrong_version(v)).await;
                        return;
                    }
                    Some(Incoming::Malformed(e)) => {
                        malformed += 1;
                        if malformed >= 3 {
                            let _ = sink.send(close(1003, "too many malformed frames")).await;
                            return;
                        }
                        if sink.send(binary(&ServerMessage::Error { message: e })).await.is_err() {
                            return;
                        }
                    }
                    Some(Incoming::Subscribe(f)) => {
                        filter = with_default_metric(f, &default_metric);
                        live = pipeline.subscribe();
                        match send_history(&mut sink, pipeline, &mut filter, &mut known).await {
                            Ok(s) => sent = s,
                            Err(_) => return,
                        }
                    }
                    None => {}
                }
            }
            Ok(()) = stats.changed() => {
                let frame = stats.borrow_and_update().clone();
                if frame.is_empty() {
                    continue;
                }
                if sink.send(Message::Binary(frame)).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::channel::mpsc;

    use super::*;
    use crate::ingest::IngestConfig;

    /// The next message the connection sent, decoded (`Err`: a close frame's code).
    async fn next(from_server: &mut mpsc::UnboundedReceiver<Message>) -> Result<ServerMessage, u16> {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), from_server.next())
                .await
                .expect("a message in time")
                .expect("the connection sends a close frame before it ends");
            match m {
                Message::Binary(b) => match ServerMessage::decode(&b).expect("decodes") {
                    ServerMessage::Stats(_) | ServerMessage::Catalog { .. } => {}
                    m => return Ok(m),
                },
                Message::Close(f) => return Err(f.map_or(0, |f| f.code)),
                _ => {}
            }
        }
    }

    #[tokio::test]
    async fn a_connection_runs_over_channels_without_a_socket() {
        let pipeline = Pipeline::new(IngestConfig::default()).expect("pipeline");
        let state = WsState::new(pipeline, tokio_util::sync::CancellationToken::new());
        let (to_client, mut from_server) = mpsc::unbounded::<Message>();
        let (to_server, from_client) = mpsc::unbounded::<Result<Message, axum::Error>>();
        let sink = to_client.sink_map_err(axum::Error::new);
        let connection = tokio::spawn(async move { run_client(sink, from_client, &state).await });
        assert!(
            matches!(next(&mut from_server).await, Ok(ServerMessage::Hello(h)) if h.protocol_version == PROTOCOL_VERSION)
        );
        let garbage = || Ok(Message::Binary(vec![0xff, 0x00].into()));
        to_server.unbounded_send(garbage()).expect("open");
        assert!(matches!(
            next(&mut from_server).await,
            Ok(ServerMessage::Error { .. })
        ));
        assert!(matches!(
            next(&mut from_server).await,
            Ok(ServerMessage::History { done: true, .. })
        ));
        to_server.unbounded_send(garbage()).expect("open");
        assert!(matches!(
            next(&mut from_server).await,
            Ok(ServerMessage::Error { .. })
        ));
        to_server.unbounded_send(garbage()).expect("open");
        assert_eq!(
            next(&mut from_server).await.err(),
            Some(1003),
            "the third malformed frame"
        );
        connection.await.expect("the connection ends cleanly");
    }
}
