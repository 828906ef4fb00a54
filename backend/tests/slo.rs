//! Rank queries, SLOs and alerts on an in-process pipeline served on a
//! loopback port: `/api/fraction` equal to the exact share within its
//! bound, `/api/series?le=`, SLO good shares and burn rates on `/api/slos`
//! and `/metrics`, alert states through pending → firing → resolved, and
//! Alertmanager-format webhooks delivered to a real HTTP receiver, retried
//! after a failure.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use backend::clock::now_ms;
use backend::slo::alerts::State;
use backend::slo::spec::Definitions;
use backend::slo::{webhook, Monitor};
use common::served::{get, pipeline, publish_series, start};
use shared::series::SeriesKey;
use tokio_util::sync::CancellationToken;

/// 60 windows a second apart: route `/pay` values `1..=100` each window,
/// route `/cart` values `1000`, ending 5 s ago.
fn fill(p: &backend::ingest::Pipeline) -> (i64, Vec<f64>) {
    let key = |route: &str| SeriesKey::new("latency", [("route", route)]).expect("valid");
    let pay = p.catalog.intern(&key("/pay")).expect("room");
    let cart = p.catalog.intern(&key("/cart")).expect("room");
    let t0 = (now_ms() - 65_000) / 10_000 * 10_000;
    let pay_values: Vec<f64> = (1..=100).map(f64::from).collect();
    let mut all = Vec::new();
    for i in 0..60 {
        publish_series(p, pay, i as i32 % 2, t0 + i * 1000, &pay_values);
        publish_series(p, cart, 0, t0 + i * 1000, &[1000.0]);
        all.extend(&pay_values);
    }
    (t0, all)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fraction_equals_the_exact_share_within_the_bound_for_every_kind() {
    let p = pipeline();
    let (t0, pay) = fill(&p);
    let (port, _stop) = start(p.clone()).await;
    let range = format!("from={t0}&to={}", t0 + 60_000);
    for kind in ["quantileflow", "datadog", "hdrhistogram", "momentsketch"] {
        for le in [10.0, 50.0, 99.0, 250.0] {
            let (status, body) = get(
                port,
                &format!("/api/fraction?sketch={kind}&filter=route:/pay&le={le}&{range}"),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            let v = json(&body);
            assert_eq!(v["count"], 6000);
            assert_eq!(v["le"], le);
            let exact = pay.iter().filter(|&&x| x <= le).count() as f64 / pay.len() as f64;
            let fraction = v["fraction"].as_f64().expect("fraction");
            if kind == "momentsketch" {
                assert!(v["bound"].is_null() || le >= 100.0, "{body}");
                assert!(
                    (fraction - exact).abs() < 0.05,
                    "{kind} le={le}: {fraction} vs {exact}"
                );
            } else {
                let (lo, hi) = (
                    v["bound"][0].as_f64().expect("lo"),
                    v["bound"][1].as_f64().expect("hi"),
                );
                assert!(
                    lo <= exact && exact <= hi,
                    "{kind} le={le}: {exact} outside [{lo}, {hi}]"
                );
                assert!(lo <= fraction && fraction <= hi, "{body}");
            }
        }
    }
    // gt is the complement; the whole metric includes /cart (1000 ms).
    let (_, body) = get(port, &format!("/api/fraction?gt=500&{range}")).await;
    let v = json(&body);
    assert_eq!((v["count"].as_u64(), v["gt"].as_f64()), (Some(6060), Some(500.0)));
    assert!(
        (v["fraction"].as_f64().expect("fraction") - 60.0 / 6060.0).abs() < 1e-9,
        "{body}"
    );
    // Each series point gets its fraction.
    let (_, body) = get(
        port,
        &format!("/api/series?filter=route:/pay&le=50&step=10s&{range}"),
    )
    .await;
    let points = json(&body)["points"].as_array().expect("points").clone();
    assert_eq!(points.len(), 6);
    for pt in &points {
        let f = pt["fraction"].as_f64().expect("fraction");
        assert!((f - 0.5).abs() <= 0.02, "{pt}");
    }
    for (query, param) in [
        ("", "le"),
        ("le=fast", "le"),
        ("le=1&gt=2", "gt"),
        ("le=1&by=route", "by"),
        ("le=1&filter=:x", "filter"),
    ] {
        let (status, body) = get(port, &format!("/api/fraction?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(json(&body)["param"], param, "{query}: {body}");
    }
}

fn definitions(slos: &[&str], alerts: &[&str]) -> Definitions {
    let own = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    Definitions::parse(&own(slos), &own(alerts), None).expect("definitions")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slos_report_good_shares_and_burn_rates_on_the_api_and_metrics() {
    let p = pipeline();
    fill(&p);
    let defs = definitions(
        &[
            "name=pay;metric=latency;filter=route:/pay;le=90;objective=95",
            "name=all;metric=latency;le=500;objective=99.9",
        ],
        &[],
    );
    let monitor = Arc::new(Monitor::new(defs, None, "http://127.0.0.1".into()));
    p.monitor.set(monitor.clone()).expect("set once");
    monitor.tick(&p, now_ms());
    let (port, _stop) = start(p.clone()).await;
    let (status, body) = get(port, "/api/slos").await;
    assert_eq!(status, 200, "{body}");
    let slos = json(&body);
    let pay = &slos[0];
    assert_eq!(
        (pay["name"].as_str(), pay["objective"].as_f64()),
        (Some("pay"), Some(95.0))
    );
    let windows: Vec<&str> = pay["windows"]
        .as_array()
        .expect("windows")
        .iter()
        .map(|w| w["window"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(windows, ["5m", "1h", "retention"]);
    // 90 of every 100 /pay values are ≤ 90: 10 % bad against a 5 % budget.
    let good = pay["windows"][0]["good_ratio"].as_f64().expect("good");
    assert!((good - 0.9).abs() <= 0.02, "{body}");
    let burn = pay["windows"][0]["burn_rate"].as_f64().expect("burn");
    assert!((burn - (1.0 - good) / 0.05).abs() < 1e-9);
    assert!(
        pay["budget_left"].as_f64().expect("budget") < 0.0,
        "overspent: {body}"
    );
    assert_eq!(pay["pages"], false, "burn ≈ 2 is not a page");
    // 60 of 6060 values are 1000 ms: ~1 % bad against 0.1 %, burn ≈ 9.9.
    let all = &slos[1]["windows"][1];
    assert_eq!(all["count"], 6060);
    assert!(
        (all["burn_rate"].as_f64().expect("burn") - (60.0 / 6060.0) / 0.001).abs() < 0.5,
        "{all}"
    );
    let (_, metrics) = get(port, "/metrics").await;
    assert!(
        metrics.contains("mss_slo_good_ratio{slo=\"pay\",window=\"5m\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("mss_slo_burn_rate{slo=\"all\",window=\"retention\"}"));
}

/// An HTTP receiver on a free port recording each POST body; the first
/// `fail_first` requests answer 500.
async fn receiver(fail_first: usize) -> (u16, Arc<Mutex<Vec<serde_json::Value>>>) {
    use axum::routing::post;
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Mutex::new(0usize));
    let (g, s) = (got.clone(), seen.clone());
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: String| {
            let (g, s) = (g.clone(), s.clone());
            async move {
                let n = {
                    let mut s = s.lock().expect("count");
                    *s += 1;
                    *s
                };
                if n <= fail_first {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                g.lock().expect("bodies").push(json(&body));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, got)
}

async fn wait_for_bodies(got: &Arc<Mutex<Vec<serde_json::Value>>>, n: usize) -> Vec<serde_json::Value> {
    // Up to 30 s: the first notification waits out two failed attempts.
    for _ in 0..600 {
        let bodies = got.lock().expect("bodies").clone();
        if bodies.len() >= n {
            return bodies;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the receiver got {:?}", got.lock().expect("bodies"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_fire_after_for_resolve_and_reach_an_alertmanager_receiver_after_a_retry() {
    let p = pipeline();
    fill(&p);
    let (hook_port, got) = receiver(2).await;
    let shutdown = CancellationToken::new();
    let target = webhook::Target::parse(&format!("http://127.0.0.1:{hook_port}/hook")).expect("url");
    let notifier = webhook::Notifier::start(target, shutdown.clone());
    let defs = definitions(
        &["name=all;metric=latency;le=500;objective=99.9"],
        &[
            // /cart's P99 (1000 ms) over the data's last minute, held 2 s.
            "name=cart-p99;metric=latency;filter=route:/cart;q=0.99;above=500;for=2s;over=2m",
            "name=all-burn;slo=all;burn=5;short=5m;long=1h",
            "name=pay-p50;metric=latency;filter=route:/pay;q=0.5;above=500;over=2m",
        ],
    );
    let monitor = Monitor::new(defs, Some(notifier), "http://127.0.0.1:8080".into());
    let state = |name: &str| {
        monitor
            .alerts(&p)
            .expect("states")
            .into_iter()
            .find(|a| a.name == name)
            .expect("alert")
    };
    let now = now_ms();
    monitor.tick(&p, now);
    assert_eq!(state("cart-p99").state, State::Pending);
    assert_eq!(
        state("all-burn").state,
        State::Firing,
        "no for: fires at once (burn ≈ 9.9 > 5)"
    );
    assert_eq!(state("pay-p50").state, State::Inactive);
    monitor.tick(&p, now + 1_000);
    assert_eq!(state("cart-p99").state, State::Pending);
    monitor.tick(&p, now + 2_000);
    let cart = state("cart-p99");
    assert_eq!((cart.state, cart.since_ms), (State::Firing, Some(now + 2_000)));
    assert!((cart.value.expect("value") - 1000.0).abs() <= 10.0, "{cart:?}");
    // Far later the data is out of the 2-minute range: the rule stops holding.
    monitor.tick(&p, now + 10 * 60_000);
    assert_eq!(state("cart-p99").state, State::Resolved);
    // In order: burn fired, p99 fired, then (10 minutes on, no data in
    // either rule's range) p99 and burn resolved; the first after two
    // failed attempts.
    let bodies = wait_for_bodies(&got, 4).await;
    let order: Vec<(String, String)> = bodies
        .iter()
        .map(|b| {
            (
                b["groupLabels"]["alertname"].as_str().unwrap_or("").to_owned(),
                b["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let want = [
        ("all-burn", "firing"),
        ("cart-p99", "firing"),
        ("cart-p99", "resolved"),
        ("all-burn", "resolved"),
    ];
    assert_eq!(order, want.map(|(a, s)| (a.to_owned(), s.to_owned())));
    let fired = bodies
        .iter()
        .find(|b| b["groupLabels"]["alertname"] == "cart-p99" && b["status"] == "firing")
        .expect("cart-p99 firing");
    for field in [
        "version",
        "groupKey",
        "truncatedAlerts",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    ] {
        assert!(!fired[field].is_null(), "{field} in {fired}");
    }
    assert_eq!(fired["version"], "4");
    assert_eq!(fired["externalURL"], "http://127.0.0.1:8080");
    let alert = &fired["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "cart-p99");
    assert_eq!(alert["labels"]["metric"], "latency");
    assert_eq!(alert["labels"]["route"], "/cart");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert!(alert["startsAt"]
        .as_str()
        .is_some_and(|s| s.ends_with('Z') && s.contains('T')));
    let resolved = bodies
        .iter()
        .find(|b| b["groupLabels"]["alertname"] == "cart-p99" && b["status"] == "resolved")
        .expect("cart-p99 resolved");
    assert_eq!(resolved["alerts"][0]["startsAt"], alert["startsAt"]);
    assert_ne!(resolved["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert!(bodies.iter().any(|b| b["commonLabels"]["slo"] == "all"));
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_receiver_never_blocks_evaluation() {
    let p = pipeline();
    fill(&p);
    // A receiver that accepts connections and never answers: a sender on
    // the tick's path would wait out its 5 s attempt timeout on the first
    // notification.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead = silent.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn);
        }
    });
    let shutdown = CancellationToken::new();
    let target = webhook::Target::parse(&format!("http://127.0.0.1:{dead}/")).expect("url");
    let defs = definitions(
        &[],
        &["name=cart;metric=latency;filter=route:/cart;q=0.5;above=1;over=2m"],
    );
    let monitor = Monitor::new(
        defs,
        Some(webhook::Notifier::start(target, shutdown.clone())),
        String::new(),
    );
    let started = std::time::Instant::now();
    let now = now_ms();
    for i in 0..5 {
        // Fires, resolves, fires …: a notification queued each tick.
        monitor.tick(&p, now + i * 10 * 60_000 * (i % 2));
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "ticks waited for the receiver"
    );
    assert_eq!(monitor.alerts(&p).expect("states")[0].state, State::Firing);
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shifted_line_equals_the_series_of_the_earlier_range() {
    let p = pipeline();
    let key = SeriesKey::new("latency", [("route", "/pay")]).expect("valid");
    let pay = p.catalog.intern(&key).expect("room");
    let t0 = (now_ms() - 65_000) / 10_000 * 10_000;
    for i in 0..60 {
        // Slower as time goes on: the two halves differ.
        publish_series(
            &p,
            pay,
            0,
            t0 + i * 1000,
            &[10.0 + i as f64, 20.0 + 2.0 * i as f64],
        );
    }
    let (port, _stop) = start(p.clone()).await;
    let series = |query: String| async move {
        let (status, body) = get(port, &format!("/api/series?q=0.5,0.99&step=10s&{query}")).await;
        assert_eq!(status, 200, "{body}");
        json(&body)
    };
    let now = series(format!("from={}&to={}&shift=30s", t0 + 30_000, t0 + 60_000)).await;
    let before = series(format!("from={t0}&to={}", t0 + 30_000)).await;
    assert_eq!(now["shift"], 30_000);
    let shifted = now["shifted"].as_array().expect("shifted");
    let earlier = before["points"].as_array().expect("points");
    assert_eq!(shifted.len(), 3);
    assert_eq!(shifted.len(), earlier.len());
    for (s, e) in shifted.iter().zip(earlier) {
        assert_eq!(
            s["t"].as_i64(),
            e["t"].as_i64().map(|t| t + 30_000),
            "times carried forward"
        );
        assert_eq!((&s["count"], &s["quantiles"]), (&e["count"], &e["quantiles"]));
    }
    assert_ne!(
        now["points"][0]["quantiles"], shifted[0]["quantiles"],
        "the halves differ"
    );
    // Grouped: each group gets its own shifted line.
    let grouped = series(format!(
        "from={}&to={}&shift=30s&by=route",
        t0 + 30_000,
        t0 + 60_000
    ))
    .await;
    assert_eq!(grouped["groups"][0]["shifted"], now["shifted"]);
    for (query, param) in [
        ("shift=2h", "shift"),
        ("shift=soon", "shift"),
        ("shift=30s&format=csv", "shift"),
    ] {
        let (status, body) = get(port, &format!("/api/series?{query}&from=now-5m")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(json(&body)["param"], param);
    }
}
