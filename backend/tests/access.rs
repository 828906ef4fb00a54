//! Who may connect, against a real `mss serve` (embedded broker) over real
//! sockets: Host checks (DNS rebinding), Origin on `/ws`, and `--auth-token`
//! in each of its forms (and from `--auth-token-file`); refusals counted on
//! `/metrics`, logged without any token.

mod common;

use std::time::Duration;

use common::{free_port, http_get_with, mss, wait_for_port, Proc};
use futures::StreamExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Error as WsError;

const TOKEN: &str = "s3cret-token";
/// A read-only embed token (`--embed-token`, every panel).
const EMBED_TOKEN: &str = "wiki-embed";

fn status(port: u16, path: &str, headers: &[(&str, &str)]) -> u16 {
    http_get_with(port, path, headers).map_or(0, |r| r.0)
}

/// The HTTP status of a WebSocket handshake from `origin` (101 when it opened).
async fn ws_status(port: u16, query: &str, origin: Option<&str>) -> u16 {
    let mut request = format!("ws://127.0.0.1:{port}/ws{query}")
        .into_client_request()
        .expect("request");
    if let Some(o) = origin {
        request
            .headers_mut()
            .insert("Origin", HeaderValue::from_str(o).expect("origin"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut ws, response)) => {
            // An opened stream starts with the server's Hello.
            let first = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
            assert!(matches!(first, Ok(Some(Ok(_)))), "a frame after the handshake");
            response.status().as_u16()
        }
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("handshake failed without an HTTP answer: {e}"),
    }
}

#[test]
fn hosts_origins_and_tokens_are_enforced_and_refusals_counted() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _serve = Proc(
        mss()
            .args([
                "serve",
                "--synthetic",
                "--rate",
                "50",
                "--no-sketch-log",
                "--listen",
                &listen,
            ])
            .args(["--static-dir", "/nonexistent", "--auth-token", TOKEN])
            .args(["--embed-origins", "'self',https://wiki.example.com"])
            .args(["--embed-token", EMBED_TOKEN])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("mss serve starts"),
    );
    wait_for_port(port, Duration::from_secs(60));
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];

    // Health checks need nothing, from any Host.
    assert_eq!(
        status(port, "/healthz", &[("Host", "rebind.attacker.example")]),
        200
    );
    // A DNS-rebinding page's Host is refused even with the token.
    let rebind = [("Host", "rebind.attacker.example:8080"), auth[0]];
    assert_eq!(status(port, "/api/summary", &rebind), 403);
    assert_eq!(status(port, "/", &[("Host", "rebind.attacker.example")]), 403);
    // Loopback names and IP literals are fine; data needs the token.
    let (code, head) = http_get_with(port, "/api/summary", &[("Host", &listen)]).expect("answers");
    assert_eq!(code, 401);
    assert!(
        head.to_ascii_lowercase().contains("www-authenticate: bearer"),
        "{head}"
    );
    assert_eq!(status(port, "/api/summary", &auth), 200);
    assert_eq!(
        status(port, "/api/summary", &[("Authorization", "Bearer wrong")]),
        401
    );
    let (code, head) = http_get_with(port, &format!("/api/summary?token={TOKEN}"), &[]).expect("answers");
    assert_eq!(code, 200);
    assert!(
        head.contains(&format!("mss_token={TOKEN}")),
        "the query token sets the cookie: {head}"
    );
    let cookie = format!("mss_token={TOKEN}");
    assert_eq!(status(port, "/api/metrics", &[("Cookie", &cookie)]), 200);
    assert_eq!(status(port, "/metrics", &[]), 401);
    // The dashboard's files hold no data.
    assert_eq!(status(port, "/", &[("Host", &listen)]), 200);
    // The embed token reads what an embed needs, and nothing else.
    let embed = |path: &str| {
        status(
            port,
            &format!(
                "{path}{}token={EMBED_TOKEN}",
                if path.contains('?') { '&' } else { '?' }
            ),
            &[],
        )
    };
    assert_eq!(embed("/api/chart.svg?from=now-5m"), 200);
    assert_eq!(embed("/api/metrics"), 200);
    assert_eq!(embed("/api/slos"), 200);
    assert_eq!(embed("/api/summary"), 403);
    assert_eq!(embed("/api/quantiles"), 403);
    assert_eq!(embed("/metrics"), 403);
    let (_, head) = http_get_with(port, &format!("/embed?token={EMBED_TOKEN}"), &[]).expect("answers");
    assert!(
        head.contains(&format!("mss_token={EMBED_TOKEN}")) && !head.contains(TOKEN),
        "the embed page's cookie is the embed token: {head}"
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let token = format!("?token={TOKEN}");
        assert_eq!(ws_status(port, &token, Some("https://evil.example")).await, 403);
        assert_eq!(ws_status(port, &token, Some("null")).await, 403);
        assert_eq!(
            ws_status(port, "", Some(&format!("http://127.0.0.1:{port}"))).await,
            401
        );
        assert_eq!(
            ws_status(port, &token, Some(&format!("http://127.0.0.1:{port}"))).await,
            101
        );
        assert_eq!(
            ws_status(port, &token, Some("https://wiki.example.com")).await,
            101
        );
        assert_eq!(
            ws_status(port, &token, None).await,
            101,
            "no Origin: not a browser"
        );
        let embed = format!("?token={EMBED_TOKEN}");
        assert_eq!(
            ws_status(port, &embed, Some("https://wiki.example.com")).await,
            101,
            "an embed streams"
        );
    });

    let (_, metrics) = common::http_get(port, &format!("/metrics?token={TOKEN}")).expect("metrics");
    let count = |reason: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with("mss_refused_total") && l.contains(&format!("reason=\"{reason}\"")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    assert_eq!(count("host"), Some(2), "{metrics}");
    assert_eq!(count("origin"), Some(2));
    assert_eq!(
        count("embed_scope"),
        Some(3),
        "summary, quantiles, /metrics with the embed token"
    );
    assert_eq!(
        count("token"),
        Some(4),
        "summary ×2, /metrics, the token-less WebSocket"
    );
}

/// `--auth-token-file`: the token is its first line; the other start-up
/// refusals name the flag; and no token — right, wrong or embed — reaches
/// the log, even at `debug` where every refusal is logged with its path.
#[test]
fn a_token_file_is_read_bad_token_flags_stop_the_start_and_no_token_is_logged() {
    let dir = common::temp_dir("token-file");
    let file = dir.join("token");
    std::fs::write(&file, format!("{TOKEN}\nignored second line\n")).expect("token file");
    let empty = dir.join("empty");
    std::fs::write(&empty, "\n").expect("empty file");
    let refused = |extra: &[&str], flag: &str| {
        let err = dir.join("refused.log");
        let mut proc = Proc(
            mss()
                .args([
                    "serve",
                    "--synthetic",
                    "--no-sketch-log",
                    "--listen",
                    "127.0.0.1:0",
                ])
                .args(extra)
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(&err).expect("stderr file"))
                .spawn()
                .expect("mss runs"),
        );
        let status = common::wait_exit_within(&mut proc, Duration::from_secs(30));
        let stderr = std::fs::read_to_string(&err).unwrap_or_default();
        assert!(!status.success(), "{extra:?} started");
        assert!(stderr.contains(flag), "{extra:?}: {stderr}");
    };
    refused(
        &["--auth-token-file", empty.to_str().expect("path")],
        "--auth-token-file",
    );
    refused(&["--auth-token-file", "/nonexistent/token"], "--auth-token-file");
    refused(&["--embed-token", EMBED_TOKEN], "--embed-token");

    let port = free_port();
    let log_path = dir.join("serve.log");
    let mut serve = Proc(
        mss()
            .args(["serve", "--synthetic", "--rate", "50", "--no-sketch-log"])
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--static-dir",
                "/nonexistent",
            ])
            .args(["--auth-token-file", file.to_str().expect("path")])
            .args(["--embed-token", EMBED_TOKEN])
            .env("RUST_LOG", "debug")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log_path).expect("log"))
            .spawn()
            .expect("mss serve starts"),
    );
    wait_for_port(port, Duration::from_secs(60));
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        status(port, "/api/summary", &[("Authorization", bearer.as_str())]),
        200
    );
    assert_eq!(status(port, "/api/summary", &[]), 401);
    assert_eq!(status(port, &format!("/api/summary?token={TOKEN}"), &[]), 200);
    const GUESS: &str = "guessed-token-0xfeed";
    assert_eq!(status(port, &format!("/api/summary?token={GUESS}"), &[]), 401);
    assert_eq!(
        status(port, &format!("/api/summary?token={EMBED_TOKEN}"), &[]),
        403
    );
    let cookie = format!("mss_token={GUESS}");
    assert_eq!(status(port, "/api/metrics", &[("Cookie", cookie.as_str())]), 401);
    common::send_signal(&serve, "TERM");
    common::wait_exit_within(&mut serve, Duration::from_secs(30));
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(
        log.contains("/api/summary"),
        "refusals are logged with their path: {log}"
    );
    for secret in [TOKEN, GUESS, EMBED_TOKEN] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}
