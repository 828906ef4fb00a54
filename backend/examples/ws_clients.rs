//! WebSocket load for the soak (`scripts/soak.sh`): `N` dashboard clients on
//! `ws://127.0.0.1:PORT/ws`, each subscribed to everything, reading every
//! frame and reconnecting when closed. Prints one JSON line every 30 s:
//! clients connected, frames and bytes received, closes, connect failures.
//!
//! `cargo run --release -p backend --example ws_clients -- PORT N`
#![allow(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use shared::protocol::{ClientMessage, PROTOCOL_VERSION};
use tokio_tungstenite::tungstenite::Message;

#[derive(Default)]
struct Counters {
    connected: AtomicU64,
    frames: AtomicU64,
    bytes: AtomicU64,
    closes: AtomicU64,
    connect_failures: AtomicU64,
}

async fn client(port: u16, counters: Arc<Counters>) {
    loop {
        match tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws")).await {
            Ok((mut ws, _)) => {
                counters.connected.fetch_add(1, Relaxed);
                let subscribe = ClientMessage::Subscribe {
                    protocol_version: PROTOCOL_VERSION,
                    kinds: None,
                    partitions: None,
                    history_from_ms: None,
                    metric: None,
                    filter: None,
                };
                let _ = ws.send(Message::Binary(subscribe.encode().into())).await;
                while let Some(Ok(m)) = ws.next().await {
                    counters.frames.fetch_add(1, Relaxed);
                    counters.bytes.fetch_add(m.len() as u64, Relaxed);
                }
                counters.connected.fetch_sub(1, Relaxed);
                counters.closes.fetch_add(1, Relaxed);
            }
            Err(_) => {
                counters.connect_failures.fetch_add(1, Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(8080);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let counters = Arc::new(Counters::default());
    for _ in 0..n {
        tokio::spawn(client(port, counters.clone()));
    }
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tick.tick().await;
        println!(
            "{{\"elapsed_s\":{},\"connected\":{},\"frames\":{},\"bytes\":{},\"closes\":{},\"connect_failures\":{}}}",
            started.elapsed().as_secs(),
            counters.connected.load(Relaxed),
            counters.frames.load(Relaxed),
            counters.bytes.load(Relaxed),
            counters.closes.load(Relaxed),
            counters.connect_failures.load(Relaxed),
        );
    }
}
