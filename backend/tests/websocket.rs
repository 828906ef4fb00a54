//! `GET /ws` over real sockets (server on port 0, tokio-tungstenite client):
//! hello → history → live, subscribe filters, malformed/oversized/wrong-version
//! frames, a slow client next to a fast one, 100 concurrent clients.

mod common;

use common::served::{get, pipeline, publish, publish_series, start};
use std::time::Duration;

use backend::clock::now_ms;
use backend::ingest::{IngestConfig, Pipeline};
use futures::{SinkExt, StreamExt};
use shared::protocol::{ClientMessage, SeriesId, ServerMessage, WindowSnapshot, PROTOCOL_VERSION};
use shared::{Sketch, SketchKind};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(port: u16) -> Client {
    tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws"))
        .await
        .expect("connects")
        .0
}

/// A v2 `Subscribe` to `kinds` and `partitions` of the default metric.
fn subscribe_message(kinds: Option<Vec<SketchKind>>, partitions: Option<Vec<i32>>) -> ClientMessage {
    ClientMessage::Subscribe {
        protocol_version: PROTOCOL_VERSION,
        kinds,
        partitions,
        history_from_ms: None,
        metric: None,
        filter: None,
    }
}

async fn subscribe(c: &mut Client, kinds: Option<Vec<SketchKind>>, partitions: Option<Vec<i32>>) {
    let m = subscribe_message(kinds, partitions);
    c.send(Message::Binary(m.encode().into())).await.expect("send");
}

/// Next protocol message (skipping Stats and Catalog), with a timeout.
async fn next(c: &mut Client) -> ServerMessage {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), c.next())
            .await
            .expect("a frame in time");
        match frame.expect("stream open").expect("frame ok") {
            Message::Binary(b) => match ServerMessage::decode(&b).expect("decodes with shared") {
                ServerMessage::Stats(_) | ServerMessage::Catalog { .. } => continue,
                m => return m,
            },
            Message::Close(f) => panic!("closed: {f:?}"),
            _ => continue,
        }
    }
}

/// Reads Hello then the whole history.
async fn hello_and_history(c: &mut Client) -> Vec<WindowSnapshot> {
    assert!(
        matches!(next(c).await, ServerMessage::Hello(h) if h.protocol_version == PROTOCOL_VERSION && h.kinds.len() == 4)
    );
    let mut windows = Vec::new();
    loop {
        match next(c).await {
            ServerMessage::History { windows: w, done } => {
                windows.extend(w);
                if done {
                    return windows;
                }
            }
            other => panic!("expected history, got {other:?}"),
        }
    }
}

/// Equal, except that MomentSketch sums merged in another order may differ
/// in the last bits, so its quantiles agree to 1e-6 relative.
fn assert_same(kind: SketchKind, a: f64, b: f64) {
    if kind == SketchKind::MomentSketch {
        assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{kind}: {a} vs {b}");
    } else {
        assert_eq!(a, b, "{kind}");
    }
}

fn merge(kind: SketchKind, windows: &[WindowSnapshot]) -> Sketch {
    let mut acc = Sketch::with_defaults(kind);
    for w in windows.iter().filter(|w| w.kind == kind) {
        acc.merge(&Sketch::decode_kind(kind, &w.sketch).expect("decodes"))
            .expect("merges");
    }
    acc
}

#[tokio::test]
async fn hello_history_live_merge_to_the_server_quantiles() {
    let p = pipeline();
    let t0 = now_ms() - 60_000;
    for i in 0..10 {
        publish(
            &p,
            i % 4,
            t0 + i64::from(i) * 1000,
            &[f64::from(i) * 10.0 + 1.0, 5000.0, 70.0 + f64::from(i)],
        );
    }
    let (port, _stop) = start(p.clone()).await;
    let mut c = connect(port).await;
    subscribe(&mut c, None, None).await;
    let mut windows = hello_and_history(&mut c).await;
    assert_eq!(windows.len(), 40, "10 windows × 4 kinds");
    publish(&p, 1, t0 + 20_000, &[123.0, 456.0]);
    for _ in 0..4 {
        match next(&mut c).await {
            ServerMessage::Window(w) => windows.push(w),
            other => panic!("expected a live window, got {other:?}"),
        }
    }
    for kind in SketchKind::ALL {
        let ours = merge(kind, &windows);
        let server = p.merged_all(kind, &|_| true).expect("kind enabled");
        assert_eq!(ours.count(), 32);
        let a = ours.quantiles(&[0.5, 0.9, 0.99]).expect("ours");
        let b = server.quantiles(&[0.5, 0.9, 0.99]).expect("server");
        for (x, y) in a.iter().zip(&b) {
            assert_same(kind, *x, *y);
        }
    }
}

#[tokio::test]
async fn subscribe_filters_kinds_and_partitions() {
    let p = pipeline();
    let t0 = now_ms() - 30_000;
    for i in 0..8 {
        publish(&p, i % 4, t0 + i64::from(i) * 1000, &[1.0, 2.0]);
    }
    let (port, _stop) = start(p.clone()).await;
    let mut c = connect(port).await;
    subscribe(&mut c, Some(vec![SketchKind::HdrHistogram]), Some(vec![2])).await;
    let history = hello_and_history(&mut c).await;
    assert_eq!(history.len(), 2);
    assert!(history
        .iter()
        .all(|w| w.kind == SketchKind::HdrHistogram && w.partition == 2));
    publish(&p, 3, t0 + 10_000, &[9.0]);
    publish(&p, 2, t0 + 11_000, &[9.0]);
    match next(&mut c).await {
        ServerMessage::Window(w) => assert_eq!((w.partition, w.kind), (2, SketchKind::HdrHistogram)),
        other => panic!("expected a window, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_oversized_and_wrong_version_frames_are_handled_and_the_server_stays_up() {
    let p = pipeline();
    let (port, _stop) = start(p.clone()).await;
    // Malformed: an Error message, the connection stays usable.
    let mut c = connect(port).await;
    c.send(Message::Binary(vec![0xff, 0x00, 0x13].into()))
        .await
        .expect("send");
    assert!(matches!(next(&mut c).await, ServerMessage::Hello(_)));
    assert!(matches!(next(&mut c).await, ServerMessage::Error { .. }));
    assert!(matches!(
        next(&mut c).await,
        ServerMessage::History { done: true, .. }
    ));
    subscribe(&mut c, None, None).await;
    assert!(matches!(
        next(&mut c).await,
        ServerMessage::History { done: true, .. }
    ));
    // Oversized: the connection is closed.
    let mut big = connect(port).await;
    let _ = big.send(Message::Binary(vec![0u8; 64 * 1024].into())).await;
    let mut closed = false;
    while let Ok(Some(frame)) = tokio::time::timeout(Duration::from_secs(5), big.next()).await {
        if matches!(frame, Err(_) | Ok(Message::Close(_))) {
            closed = true;
            break;
        }
    }
    assert!(closed, "an oversized frame closes the connection");
    // Wrong version: closed with a reason naming both versions.
    let mut old = connect(port).await;
    let m = ClientMessage::Subscribe {
        protocol_version: 99,
        kinds: None,
        partitions: None,
        history_from_ms: None,
        metric: None,
        filter: None,
    };
    old.send(Message::Binary(m.encode().into())).await.expect("send");
    let mut reason = None;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(5), old.next()).await {
        if let Message::Close(Some(f)) = frame {
            reason = Some(f.reason.to_string());
            break;
        }
    }
    let reason = reason.expect("a close frame");
    assert!(
        reason.contains("99") && reason.contains(&PROTOCOL_VERSION.to_string()),
        "{reason}"
    );
    // The server still serves new clients.
    let mut again = connect(port).await;
    subscribe(&mut again, None, None).await;
    assert!(hello_and_history(&mut again).await.is_empty());
}

#[tokio::test]
async fn a_slow_client_does_not_stall_ingest_or_a_fast_client() {
    let p = pipeline();
    let (port, _stop) = start(p.clone()).await;
    // The slow client connects and then never reads.
    let _slow = connect(port).await;
    let mut fast = connect(port).await;
    subscribe(&mut fast, Some(vec![SketchKind::QuantileFlow]), None).await;
    assert!(hello_and_history(&mut fast).await.is_empty());
    let values: Vec<f64> = (1..=300).map(f64::from).collect();
    let t0 = now_ms() - 3_000_000;
    let publisher = {
        let p = p.clone();
        tokio::task::spawn_blocking(move || {
            let start = std::time::Instant::now();
            for i in 0..2_000 {
                publish(&p, i % 4, t0 + i64::from(i) * 1000, &values);
            }
            start.elapsed()
        })
    };
    let mut received = 0;
    while received < 2_000 {
        match next(&mut fast).await {
            ServerMessage::Window(w) => {
                assert_eq!(w.kind, SketchKind::QuantileFlow);
                received += 1;
            }
            ServerMessage::Resync { .. } | ServerMessage::History { .. } => {
                panic!("the fast client should never fall behind")
            }
            _ => {}
        }
    }
    let elapsed = publisher.await.expect("publisher");
    assert!(
        elapsed < Duration::from_secs(30),
        "publishing never waits for clients ({elapsed:?})"
    );
}

#[tokio::test]
async fn a_hundred_clients_get_hello_and_history() {
    let p = pipeline();
    let t0 = now_ms() - 10_000;
    for i in 0..5 {
        publish(&p, i, t0 + i64::from(i) * 1000, &[1.0, 2.0, 3.0]);
    }
    let (port, _stop) = start(p.clone()).await;
    let clients = (0..100).map(|_| {
        tokio::spawn(async move {
            let mut c = connect(port).await;
            subscribe(&mut c, None, None).await;
            hello_and_history(&mut c).await.len()
        })
    });
    for c in futures::future::join_all(clients).await {
        assert_eq!(c.expect("client task"), 20);
    }
}

#[tokio::test]
async fn shutdown_sends_close_frames() {
    let p = pipeline();
    let (port, stop) = start(p.clone()).await;
    let mut c = connect(port).await;
    subscribe(&mut c, None, None).await;
    hello_and_history(&mut c).await;
    stop.cancel();
    let mut code = None;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(5), c.next()).await {
        if let Message::Close(Some(f)) = frame {
            code = Some(u16::from(f.code));
            break;
        }
    }
    assert_eq!(code, Some(1001));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_history_merged_in_the_client_equals_api_quantiles() {
    let p = pipeline();
    let t0 = now_ms() - 120_000;
    for i in 0..60 {
        publish(
            &p,
            i % 4,
            t0 + i64::from(i) * 1000,
            &[f64::from(i * 37 % 101) + 1.0, 900.0 + f64::from(i), 15.5],
        );
    }
    let (port, _stop) = start(p.clone()).await;
    let mut c = connect(port).await;
    subscribe(&mut c, None, None).await;
    let history = hello_and_history(&mut c).await;
    for kind in SketchKind::ALL {
        let ours = merge(kind, &history).quantiles(&[0.5, 0.99]).expect("non-empty");
        let (status, body) = get(
            port,
            &format!(
                "/api/quantiles?sketch={}&q=0.5,0.99&from=now-1h&to=now",
                kind.name()
            ),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["count"], 180, "{kind}");
        assert_same(kind, v["quantiles"]["0.5"].as_f64().expect("p50"), ours[0]);
        assert_same(kind, v["quantiles"]["0.99"].as_f64().expect("p99"), ours[1]);
    }
    // A sub-range: the first 10 seconds only.
    let (_, body) = get(port, &format!("/api/quantiles?from={}&to={}", t0, t0 + 10_000)).await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["count"], 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_in_json_and_csv_and_bad_parameters_get_400s() {
    let p = pipeline();
    let t0 = (now_ms() - 120_000) / 10_000 * 10_000;
    for i in 0..40 {
        publish(&p, i % 2, t0 + i64::from(i) * 1000, &[f64::from(i) + 1.0]);
    }
    let (port, _stop) = start(p.clone()).await;
    let (status, body) = get(
        port,
        &format!("/api/series?q=0.5&from={t0}&to={}&step=10s", t0 + 40_000),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let points = v["points"].as_array().expect("points");
    assert_eq!(points.len(), 4);
    assert!(points.iter().all(|pt| pt["count"] == 10));
    let (status, csv) = get(
        port,
        &format!(
            "/api/series?q=0.5,0.99&from={t0}&to={}&step=10000&format=csv",
            t0 + 40_000
        ),
    )
    .await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "t,count,q0.5,q0.99");
    assert_eq!(lines.len(), 5);
    assert!(lines[1].starts_with(&format!("{t0},10,")));
    for (query, param) in [
        ("/api/quantiles?from=now&to=now-1h", "from"),
        ("/api/quantiles?from=yesterday", "from"),
        ("/api/quantiles?to=now-3x", "to"),
        ("/api/quantiles?from=0", "from"),
        ("/api/quantiles?q=-0.1", "q"),
        ("/api/quantiles?sketch=tdigest", "sketch"),
        ("/api/quantiles?colour=red", "colour"),
        ("/api/series?step=1ms&from=now-30d", "step"),
        ("/api/series?format=xml", "format"),
    ] {
        let (status, body) = get(port, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        let err: serde_json::Value = serde_json::from_str(&body).expect("JSON error");
        assert_eq!(err["param"], param, "{query}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_svg_is_valid_svg_with_the_requested_series() {
    let p = pipeline();
    let t0 = now_ms() - 60_000;
    for i in 0..50 {
        publish(
            &p,
            i % 4,
            t0 + i64::from(i) * 1000,
            &[100.0 + f64::from(i), 2000.0, 50.0],
        );
    }
    let (port, _stop) = start(p.clone()).await;
    let (status, svg) = get(
        port,
        "/api/chart.svg?sketch=hdrhistogram&q=0.5,0.99&from=now-5m&theme=dark&width=640&height=240",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        svg.trim_start().starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
        "an SVG document"
    );
    assert!(svg.contains("width=\"640\"") && svg.contains("height=\"240\""));
    let texts: Vec<&str> = svg
        .split("<text")
        .skip(1)
        .filter_map(|t| t.split_once('>'))
        .map(|(_, rest)| rest.split('<').next().unwrap_or("").trim())
        .collect();
    assert!(
        texts.contains(&"P50") && texts.contains(&"P99"),
        "a legend entry per quantile: {texts:?}"
    );
    assert!(
        texts.contains(&"latency · hdrhistogram percentiles"),
        "the title: {texts:?}"
    );
    assert!(svg.matches("<polyline").count() >= 2, "one line per quantile");
    // Times read as UTC clock times (or in `tz`), values in their unit, and
    // `le` draws a labelled threshold line.
    let labels = |svg: &str| -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| t.split_once('>'))
            .map(|(_, rest)| rest.split('<').next().unwrap_or("").trim().to_owned())
            .collect()
    };
    let clock =
        |l: &String| l.len() == 5 && l.as_bytes()[2] == b':' && l.replace(':', "").parse::<u32>().is_ok();
    let window = format!("sketch=hdrhistogram&from={t0}&to={}", t0 + 300_000);
    let (_, utc) = get(port, &format!("/api/chart.svg?{window}&le=250")).await;
    let (_, plus_one) = get(port, &format!("/api/chart.svg?{window}&tz=%2B01:00")).await;
    let (utc, plus_one) = (labels(&utc), labels(&plus_one));
    let utc_times: Vec<&String> = utc.iter().filter(|l| clock(l)).collect();
    let local_times: Vec<&String> = plus_one.iter().filter(|l| clock(l)).collect();
    assert!(utc_times.len() >= 4, "clock-time ticks: {utc:?}");
    let hour = |l: &str| l[..2].parse::<u32>().unwrap_or(99);
    for (u, l) in utc_times.iter().zip(&local_times) {
        assert_eq!((hour(u) + 1) % 24, hour(l), "{u} UTC is {l} at +01:00");
        assert_eq!(u[3..], l[3..]);
    }
    assert!(utc.contains(&"time (UTC)".to_owned()), "{utc:?}");
    assert!(plus_one.contains(&"time (UTC+01:00)".to_owned()), "{plus_one:?}");
    assert!(
        utc.iter().any(|l| l.ends_with(" s")),
        "2,000 ms reads in seconds: {utc:?}"
    );
    assert!(utc.iter().any(|l| l.ends_with(" ms")), "{utc:?}");
    assert!(
        utc.contains(&"≤ 250 ms".to_owned()),
        "the threshold's legend: {utc:?}"
    );
    for (query, param) in [
        ("?tz=CET", "tz"),
        ("?le=fast", "le"),
        ("?theme=pink", "theme"),
        ("?width=0", "width"),
        ("?height=99999", "height"),
        ("?q=2", "q"),
    ] {
        let (status, body) = get(port, &format!("/api/chart.svg{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert!(
            body.contains(&format!("\"param\":\"{param}\"")),
            "{query}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_dashboard_has_an_spa_fallback_and_a_hint_when_not_built() {
    let dir = std::env::temp_dir().join(format!("mss-static-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("index.html"), "<!doctype html><title>dash</title>APP").expect("write");
    std::fs::write(dir.join("app.js"), "console.log(1)").expect("write");
    let built = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let router = backend::serve::router(pipeline(), &dir, CancellationToken::new());
        tokio::spawn(backend::serve::run(listener, router, std::future::pending()));
        port
    };
    assert_eq!(get(built, "/app.js").await, (200, "console.log(1)".to_owned()));
    let (status, body) = get(built, "/embed?panel=percentiles&sketch=datadog").await;
    assert_eq!(status, 200);
    assert!(body.contains("APP"), "deep links load the app: {body}");
    let (port, _stop) = start(pipeline()).await;
    let (status, body) = get(port, "/").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("trunk build --release"),
        "says how to build the dashboard: {body}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// Reads frames until `n` windows arrived; returns them with the catalog
/// messages seen before each window's first use.
async fn windows_with_catalog(
    c: &mut Client,
    n: usize,
    defined: &mut std::collections::HashSet<SeriesId>,
) -> (Vec<WindowSnapshot>, Vec<ServerMessage>) {
    let (mut windows, mut catalogs) = (Vec::new(), Vec::new());
    while windows.len() < n {
        let frame = tokio::time::timeout(Duration::from_secs(10), c.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("frame");
        let Message::Binary(b) = frame else { continue };
        match ServerMessage::decode(&b).expect("decodes") {
            ServerMessage::Catalog { series, topics } => {
                defined.extend(series.iter().map(|d| d.id));
                catalogs.push(ServerMessage::Catalog { series, topics });
            }
            ServerMessage::History { windows: w, .. } => {
                assert!(
                    w.iter().all(|w| defined.contains(&w.series)),
                    "defined before use"
                );
                windows.extend(w);
            }
            ServerMessage::Window(w) => {
                assert!(defined.contains(&w.series), "defined before use");
                windows.push(w);
            }
            _ => {}
        }
    }
    (windows, catalogs)
}

#[tokio::test]
async fn a_client_subscribed_to_one_series_gets_only_its_windows_defined_by_the_catalog_first() {
    let p = pipeline();
    let key = |route: &str| shared::series::SeriesKey::new("latency", [("route", route)]).expect("valid");
    let pay = p.catalog.intern(&key("/pay")).expect("room");
    let cart = p.catalog.intern(&key("/cart")).expect("room");
    let t0 = now_ms() - 60_000;
    for i in 0..5 {
        publish_series(&p, pay, 0, t0 + i * 1000, &[1.0, 2.0]);
        publish_series(&p, cart, 0, t0 + i * 1000, &[500.0]);
    }
    let (port, _stop) = start(p.clone()).await;
    let mut c = connect(port).await;
    let m = ClientMessage::Subscribe {
        protocol_version: PROTOCOL_VERSION,
        kinds: Some(vec![SketchKind::QuantileFlow]),
        partitions: None,
        history_from_ms: None,
        metric: None,
        filter: Some("route:/pa*".into()),
    };
    c.send(Message::Binary(m.encode().into())).await.expect("send");
    let mut defined = std::collections::HashSet::new();
    let (history, catalogs) = windows_with_catalog(&mut c, 5, &mut defined).await;
    assert!(history.iter().all(|w| w.series == pay), "only /pay");
    let ServerMessage::Catalog { series, topics } = &catalogs[0] else {
        panic!("a catalog first");
    };
    assert_eq!(series.len(), 1, "only the series this client gets");
    assert_eq!(series[0].key, key("/pay"));
    assert_eq!(topics[0].topic, "latency-metrics");
    // Live: /cart's windows never reach this client; /pay's do, without a second definition.
    publish_series(&p, cart, 1, t0 + 10_000, &[7.0]);
    publish_series(&p, pay, 1, t0 + 10_000, &[8.0]);
    let (live, more) = windows_with_catalog(&mut c, 1, &mut defined).await;
    assert_eq!((live[0].series, live[0].partition), (pay, 1));
    assert!(more.is_empty(), "already defined: {more:?}");
}

#[tokio::test]
async fn a_version_1_client_is_closed_1002_naming_both_versions() {
    #[derive(serde::Serialize)]
    enum V1 {
        Subscribe {
            protocol_version: u16,
            kinds: Option<Vec<SketchKind>>,
            partitions: Option<Vec<i32>>,
            history_from_ms: Option<i64>,
        },
    }
    let (port, _stop) = start(pipeline()).await;
    let mut old = connect(port).await;
    let frame = postcard::to_stdvec(&V1::Subscribe {
        protocol_version: 1,
        kinds: None,
        partitions: None,
        history_from_ms: None,
    })
    .expect("encodes");
    old.send(Message::Binary(frame.into())).await.expect("send");
    let mut close = None;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(5), old.next()).await {
        if let Message::Close(Some(f)) = frame {
            close = Some((u16::from(f.code), f.reason.to_string()));
            break;
        }
    }
    let (code, reason) = close.expect("a close frame");
    assert_eq!(code, 1002, "{reason}");
    assert!(
        reason.contains('1') && reason.contains(&PROTOCOL_VERSION.to_string()),
        "{reason}"
    );
}

/// The next frame that is not Stats, Catalog or History: a Window, a
/// Resync, or the close frame (`None` for a close without a frame).
async fn next_event(c: &mut Client) -> Result<ServerMessage, Option<(u16, String)>> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), c.next())
            .await
            .expect("a frame in time");
        match frame {
            Some(Ok(Message::Binary(b))) => match ServerMessage::decode(&b).expect("decodes") {
                ServerMessage::Stats(_) | ServerMessage::Catalog { .. } | ServerMessage::History { .. } => {}
                m => return Ok(m),
            },
            Some(Ok(Message::Close(f))) => return Err(f.map(|f| (u16::from(f.code), f.reason.to_string()))),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Err(None),
        }
    }
}

#[tokio::test]
async fn a_client_that_overflows_its_queue_is_resynced_and_then_closed_too_slow() {
    // A queue of 8 windows; the test runtime has one thread, so while the
    // test publishes without awaiting, the connection's task cannot read:
    // each burst of 40 windows overflows its queue, every time.
    let p = Pipeline::new(IngestConfig {
        fine_retention_ms: 3_600_000,
        live_queue: 8,
        ..Default::default()
    })
    .expect("valid config");
    let (port, _stop) = start(p.clone()).await;
    let mut c = connect(port).await;
    subscribe(&mut c, None, None).await;
    assert!(hello_and_history(&mut c).await.is_empty());
    let t0 = now_ms() - 600_000;
    let mut resyncs = 0;
    for burst in 0..=backend::serve::ws::MAX_RESYNCS_PER_MINUTE as i64 {
        for i in 0..10 {
            // 10 cuts × 4 kinds = 40 windows.
            publish(&p, 0, t0 + (burst * 10 + i) * 1000, &[1.0, 2.0]);
        }
        match next_event(&mut c).await {
            Ok(ServerMessage::Resync { reason }) => {
                assert!(reason.contains("behind"), "{reason}");
                resyncs += 1;
            }
            Ok(other) => panic!("burst {burst}: expected a resync, got {other:?}"),
            Err(Some((code, reason))) => {
                assert_eq!(
                    resyncs,
                    backend::serve::ws::MAX_RESYNCS_PER_MINUTE,
                    "closed after the allowed resyncs"
                );
                assert_eq!(code, 1008);
                assert!(reason.contains("too slow"), "{reason}");
                return;
            }
            Err(None) => panic!("closed without a close frame"),
        }
    }
    panic!("never closed as too slow after {resyncs} resyncs");
}

/// Sends `frames` after the history and returns the close (code, reason).
async fn close_after(port: u16, frames: Vec<Vec<u8>>) -> (u16, String) {
    let mut c = connect(port).await;
    subscribe(&mut c, None, None).await;
    assert!(hello_and_history(&mut c).await.is_empty());
    for f in frames {
        // The server may close before the last ones arrive.
        let _ = c.send(Message::Binary(f.into())).await;
    }
    loop {
        match next_event(&mut c).await {
            Ok(ServerMessage::Error { .. }) => {}
            Ok(other) => panic!("expected errors then a close, got {other:?}"),
            Err(close) => return close.expect("a close frame"),
        }
    }
}

#[tokio::test]
async fn the_third_malformed_frame_closes_1003_and_a_flood_of_frames_closes_1008() {
    let p = pipeline();
    let (port, _stop) = start(p.clone()).await;
    let garbage = vec![0xff, 0x00, 0x13];
    let (code, reason) = close_after(port, vec![garbage.clone(); 3]).await;
    assert_eq!((code, reason.as_str()), (1003, "too many malformed frames"));
    // Five times the per-second limit of well-formed frames: more than the
    // limit lands in one second even if the server reads them slowly.
    let ping = subscribe_message(None, None).encode();
    let n = backend::serve::ws::MAX_CLIENT_FRAMES_PER_S as usize * 5;
    let (code, reason) = close_after(port, vec![ping; n]).await;
    assert_eq!(
        (code, reason.as_str()),
        (1008, "too many client frames per second")
    );
}
