//! `GET /ws`: the stream of sketch snapshots (protocol in `shared::protocol`).
//!
//! Per connection: `Hello` at once; the client's first frame within one
//! second may be a `Subscribe` (else it gets every kind and partition); then
//! the retained history in batches, then live windows as they close and a
//! `Stats` message every second.
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

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use shared::protocol::{
    ClientMessage, Hello, KindInfo, PartitionStats, ServerMessage, StatsSnapshot, PROTOCOL_VERSION,
};
use shared::SketchKind;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::ingest::{now_ms, Pipeline};
use crate::stats::RejectSource;
use crate::window::SharedWindow;

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
#[derive(Debug, Clone, Default)]
struct Filter {
    kinds: Option<Vec<SketchKind>>,
    partitions: Option<Vec<i32>>,
    history_from_ms: Option<i64>,
}

impl Filter {
    fn wants(&self, w: &SharedWindow) -> bool {
        self.kinds.as_ref().is_none_or(|k| k.contains(&w.kind))
            && self.partitions.as_ref().is_none_or(|p| p.contains(&w.partition))
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
        partitions: pipeline
            .positions
            .lock()
            .map(|p| p.keys().copied().collect())
            .unwrap_or_default(),
        window_ms: c.window_ms,
        unit: "ms".into(),
        retention_ms: c.retention_ms,
        server_time_ms: now_ms(),
    })
}

/// The counters as a protocol message.
pub fn stats(pipeline: &Pipeline) -> StatsSnapshot {
    let s = &pipeline.stats;
    let recent = s.recent_throughput();
    let partitions: Vec<PartitionStats> = pipeline
        .positions
        .lock()
        .map(|p| {
            let n = p.len().max(1) as f64;
            p.iter()
                .map(|(&partition, pos)| PartitionStats {
                    partition,
                    offset: pos.offset_or_none(),
                    lag: pos.lag(),
                    msg_s: recent / n,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut by_reason = Vec::new();
    for (name, source) in [("csv", RejectSource::Csv), ("payload", RejectSource::Payload)] {
        by_reason.extend(
            s.rejected(source)
                .into_iter()
                .map(|(r, n)| (format!("{name}.{}", r.name()), n)),
        );
    }
    StatsSnapshot {
        server_time_ms: now_ms(),
        messages_processed: s.messages.load(Relaxed),
        produced: s.produced.load(Relaxed),
        runtime_s: s.runtime_s(),
        throughput_msg_s: s.throughput(),
        recent_throughput_msg_s: recent,
        current: pipeline.current(),
        rejected_csv: s.rejected_total(RejectSource::Csv),
        rejected_payload: s.rejected_total(RejectSource::Payload),
        rejected_by_reason: by_reason,
        partitions,
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

/// Sends the retained history matching `filter`; returns the keys sent.
async fn send_history(
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
    pipeline: &Pipeline,
    filter: &Filter,
) -> Result<HashSet<(i32, SketchKind, i64)>, axum::Error> {
    let windows: Vec<SharedWindow> = pipeline
        .store
        .lock()
        .map(|s| {
            s.windows_since(filter.history_from_ms.unwrap_or(i64::MIN))
                .into_iter()
                .filter(|w| filter.wants(w))
                .collect()
        })
        .unwrap_or_default();
    let sent = windows
        .iter()
        .map(|w| (w.partition, w.kind, w.window_start_ms))
        .collect();
    let mut chunks = windows.chunks(HISTORY_BATCH).peekable();
    if chunks.peek().is_none() {
        sink.send(binary(&ServerMessage::History {
            windows: Vec::new(),
            done: true,
        }))
        .await?;
    }
    while let Some(chunk) = chunks.next() {
        let done = chunks.peek().is_none();
        let msg = ServerMessage::History {
            windows: chunk.iter().map(|w| w.window.clone()).collect(),
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
        Some(Ok(Message::Binary(bytes))) => Some(match ClientMessage::decode(&bytes) {
            Ok(ClientMessage::Subscribe {
                protocol_version,
                kinds,
                partitions,
                history_from_ms,
            }) => {
                if protocol_version != PROTOCOL_VERSION {
                    Incoming::WrongVersion(protocol_version)
                } else {
                    Incoming::Subscribe(Filter {
                        kinds,
                        partitions,
                        history_from_ms,
                    })
                }
            }
            Err(e) => Incoming::Malformed(e.to_string()),
        }),
        Some(Ok(Message::Text(_))) => Some(Incoming::Malformed(
            "text frames are not part of the protocol; send binary".into(),
        )),
        // Pings are answered by the library.
        Some(Ok(_)) => None,
    }
}

async fn serve_client(socket: WebSocket, state: WsState) {
    state.clients.fetch_add(1, Relaxed);
    metrics::gauge!("mss_ws_clients").increment(1.0);
    run_client(socket, &state).await;
    state.clients.fetch_sub(1, Relaxed);
    metrics::gauge!("mss_ws_clients").decrement(1.0);
}

async fn run_client(socket: WebSocket, state: &WsState) {
    let pipeline = &state.pipeline;
    let (mut sink, mut stream) = socket.split();
    // Subscribe to live windows before reading the history, so nothing falls in between.
    let mut live = pipeline.windows.subscribe();
    if sink.send(binary(&hello(pipeline))).await.is_err() {
        return;
    }
    let mut filter = Filter::default();
    let mut malformed = 0u32;
    // No first frame within a second: the client gets everything.
    if let Ok(frame) = tokio::time::timeout(Duration::from_secs(1), stream.next()).await {
        match parse(frame) {
            Some(Incoming::Subscribe(f)) => filter = f,
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
    let Ok(mut sent) = send_history(&mut sink, pipeline, &filter).await else {
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
                    if !filter.wants(&w) || sent.remove(&(w.partition, w.kind, w.window_start_ms)) {
                        continue;
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
                    live = pipeline.windows.subscribe();
                    let reason = format!("fell {missed} windows behind");
                    if sink.send(binary(&ServerMessage::Resync { reason })).await.is_err() {
                        return;
                    }
                    match send_history(&mut sink, pipeline, &filter).await {
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
                        filter = f;
                        live = pipeline.windows.subscribe();
                        match send_history(&mut sink, pipeline, &filter).await {
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
