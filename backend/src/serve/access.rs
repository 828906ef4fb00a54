//! Who may connect. Every web page a user visits can make their browser
//! talk to `127.0.0.1`, so the server checks, on every request:
//!
//! - **Host** (DNS rebinding: a hostile name resolving to 127.0.0.1 makes
//!   the API same-origin to that page): an IP literal, `localhost`, or a
//!   `--public-host` name. Listening on a non-loopback address with no
//!   `--public-host`, names cannot be checked and any Host is accepted
//!   (`mss` warns at start).
//! - **Origin on `/ws`** (browsers apply no CORS to WebSockets, so any page
//!   could read the stream): none (a non-browser client), the server's own
//!   origin, or one of `--embed-origins`.
//! - **A token** when `--auth-token` is set, on the data routes (`/api/*`,
//!   `/ws`, `/metrics`): `Authorization: Bearer T`, `?token=T` (browsers
//!   cannot set headers on a WebSocket, an iframe or an `<img>`), or the
//!   cookie `mss_token`, which a request carrying a good `?token=` sets.
//!   `/healthz`, `/readyz` and the dashboard's static files need none (they
//!   hold no data). The token is never logged.
//!
//! - **Read-only embed tokens** (`--embed-token T`, or `T=percentiles,histogram`
//!   scoped to panels): what an `/embed` page of those panels needs and
//!   nothing more — `/ws`, `/api/metrics`, `/api/slos`, `/api/alerts`, and
//!   `/api/chart.svg` when the percentiles panel is in scope. Every other
//!   data route answers 403 to them, so a wiki can embed a chart without
//!   the main token.
//!
//! A refused request gets 403 (401 for a missing or wrong token, with
//! `WWW-Authenticate: Bearer`) with a JSON `{"error"}`, and is counted by
//! reason (`mss_refused_total{reason}`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Name of the cookie carrying the token.
pub const TOKEN_COOKIE: &str = "mss_token";

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The Host header names a host this server does not answer for.
    Host,
    /// A browser page of another origin opened `/ws`.
    Origin,
    /// `--auth-token` is set and the request carried no valid token.
    Token,
    /// An embed token on a route outside its scope.
    EmbedScope,
}

impl Refusal {
    /// The label on `mss_refused_total`.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::Host => "host",
            Refusal::Origin => "origin",
            Refusal::Token => "token",
            Refusal::EmbedScope => "embed_scope",
        }
    }
}

/// Which Host names are accepted.
#[derive(Debug, Clone)]
enum Hosts {
    /// Any (non-loopback listener, no `--public-host`).
    Any,
    /// IP literals, `localhost`, and these names (lowercase).
    Named(Vec<String>),
}

/// The embed panels a token may be scoped to.
pub const EMBED_PANELS: [&str; 3] = ["percentiles", "histogram", "stats"];

/// A read-only token for embeds: `T` (every panel) or `T=percentiles,histogram`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedToken {
    token: String,
    /// Panels in scope (empty: all).
    panels: Vec<String>,
}

impl EmbedToken {
    /// Parses `T` or `T=panel,panel`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (token, panels) = match text.split_once('=') {
            Some((t, p)) => (t, p.split(',').map(|p| p.trim().to_owned()).collect::<Vec<_>>()),
            None => (text, Vec::new()),
        };
        if token.trim().is_empty() {
            return Err("an embed token is empty".into());
        }
        if let Some(bad) = panels.iter().find(|p| !EMBED_PANELS.contains(&p.as_str())) {
            return Err(format!("{bad:?} is not a panel ({})", EMBED_PANELS.join(", ")));
        }
        Ok(Self {
            token: token.trim().to_owned(),
            panels,
        })
    }

    /// Whether this token may read `path`.
    fn allows(&self, path: &str) -> bool {
        match path {
            "/ws" | "/api/metrics" | "/api/slos" | "/api/alerts" => true,
            "/api/chart.svg" => self.panels.is_empty() || self.panels.iter().any(|p| p == "percentiles"),
            _ => false,
        }
    }
}

/// What the token of a request grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant<'a> {
    /// No token required, or the main token.
    Full,
    /// An embed token.
    Embed(&'a EmbedToken),
    /// No valid token.
    Nothing,
}

/// The access rules of one server.
#[derive(Debug)]
pub struct AccessPolicy {
    hosts: Hosts,
    /// Origins besides the server's own that may open `/ws` (lowercase, no trailing `/`).
    ws_origins: Vec<String>,
    token: Option<String>,
    embed_tokens: Vec<EmbedToken>,
}

/// The host name of a Host header value (`[::1]:8080` → `::1`), lowercase.
fn host_name(value: &str) -> String {
    let v = value.trim();
    let name = if let Some(rest) = v.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        match v.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => v,
        }
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Equal without an early exit on the first differing byte.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `token` query parameter, percent-decoded.
fn query_token(query: Option<&str>) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query?)
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == "token").then_some(v))
}

fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(TOKEN_COOKIE)?.strip_prefix('='))
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Whether `path` serves data (needs the token when one is set).
fn is_data_route(path: &str) -> bool {
    path == "/ws" || path == "/metrics" || path.starts_with("/api/")
}

impl AccessPolicy {
    /// The rules for a server on `listen`: `public_hosts` are the names it
    /// is reached by besides loopback ones, `embed_origins` the
    /// `--embed-origins` list (`'self'` is the server's own origin), `token`
    /// the `--auth-token`.
    pub fn new(
        listen: SocketAddr,
        public_hosts: &[String],
        embed_origins: &[String],
        token: Option<String>,
    ) -> Self {
        let names: Vec<String> = public_hosts
            .iter()
            .map(|h| host_name(h))
            .filter(|h| !h.is_empty())
            .collect();
        let hosts = if listen.ip().is_loopback() || !names.is_empty() {
            Hosts::Named(names)
        } else {
            Hosts::Any
        };
        let ws_origins = embed_origins
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|o| !o.is_empty() && o != "'self'")
            .collect();
        Self {
            hosts,
            ws_origins,
            token: token.filter(|t| !t.is_empty()),
            embed_tokens: Vec::new(),
        }
    }

    /// The same rules plus read-only embed tokens (`--embed-token`).
    pub fn with_embed_tokens(mut self, tokens: Vec<EmbedToken>) -> Self {
        self.embed_tokens = tokens;
        self
    }

    /// Whether a token is required.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    fn host_ok(&self, headers: &HeaderMap) -> bool {
        let Hosts::Named(names) = &self.hosts else {
            return true;
        };
        // No Host header: not a browser (HTTP/1.1 browsers always send one).
        let Some(value) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
            return headers.get(header::HOST).is_none();
        };
        let name = host_name(value);
        name.parse::<IpAddr>().is_ok() || name == "localhost" || names.contains(&name)
    }

    fn origin_ok(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        let authority = origin.split_once("://").map(|(_, a)| a);
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        let same = matches!((authority, host), (Some(a), Some(h)) if a == h.to_ascii_lowercase());
        same || self.ws_origins.contains(&origin)
    }

    /// What the request's token grants, and the token when it came as
    /// `?token=` (the response sets it as the cookie).
    fn grant(&self, headers: &HeaderMap, query: Option<&str>) -> (Grant<'_>, Option<String>) {
        let Some(main) = &self.token else {
            return (Grant::Full, None);
        };
        let of = |t: &str| {
            if same_secret(t.as_bytes(), main.as_bytes()) {
                Grant::Full
            } else {
                self.embed_tokens
                    .iter()
                    .find(|e| same_secret(t.as_bytes(), e.token.as_bytes()))
                    .map_or(Grant::Nothing, Grant::Embed)
            }
        };
        for t in [bearer_token(headers), cookie_token(headers)]
            .into_iter()
            .flatten()
        {
            let g = of(t);
            if g != Grant::Nothing {
                return (g, None);
            }
        }
        match query_token(query) {
            Some(t) => match of(&t) {
                Grant::Nothing => (Grant::Nothing, None),
                g => (g, Some(t)),
            },
            None => (Grant::Nothing, None),
        }
    }

    /// Checks a request; `Ok(Some(token))` when it carried a good token in
    /// its query (the response sets it as the cookie).
    pub fn check(
        &self,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<Option<String>, Refusal> {
        if path == "/healthz" || path == "/readyz" {
            return Ok(None);
        }
        if !self.host_ok(headers) {
            return Err(Refusal::Host);
        }
        if path == "/ws" && !self.origin_ok(headers) {
            return Err(Refusal::Origin);
        }
        let (grant, from_query) = self.grant(headers, query);
        if !is_data_route(path) {
            // A page opened with a good `?token=` gets the cookie.
            return Ok(from_query);
        }
        match grant {
            Grant::Full => Ok(from_query),
            Grant::Embed(e) if e.allows(path) => Ok(from_query),
            Grant::Embed(_) => Err(Refusal::EmbedScope),
            Grant::Nothing => Err(Refusal::Token),
        }
    }

    fn refuse(&self, reason: Refusal) -> Response {
        metrics::counter!("mss_refused_total", "reason" => reason.name()).increment(1);
        let (status, error) = match reason {
            Refusal::Host => (
                StatusCode::FORBIDDEN,
                "this server does not answer for that Host (see --public-host)",
            ),
            Refusal::Origin => (
                StatusCode::FORBIDDEN,
                "WebSocket from another origin (see --embed-origins)",
            ),
            Refusal::Token => (StatusCode::UNAUTHORIZED, "a token is required (see --auth-token)"),
            Refusal::EmbedScope => (
                StatusCode::FORBIDDEN,
                "this token is read-only, for embeds of its panels (see --embed-token)",
            ),
        };
        let mut response = (status, Json(serde_json::json!({ "error": error }))).into_response();
        if reason == Refusal::Token {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The middleware: refuses what [`AccessPolicy::check`] refuses, and sets
/// the token cookie on a response to a request that carried `?token=`.
pub async fn enforce(State(policy): State<Arc<AccessPolicy>>, request: Request, next: Next) -> Response {
    let uri = request.uri();
    let checked = policy.check(uri.path(), uri.query(), request.headers());
    let set_cookie = match checked {
        Ok(token) => token,
        Err(reason) => {
            // The path only: a query may hold a token.
            tracing::warn!(reason = reason.name(), path = uri.path(), "request refused");
            return policy.refuse(reason);
        }
    };
    let mut response = next.run(request).await;
    if let Some(token) = set_cookie {
        let cookie = format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    fn loopback(token: Option<&str>) -> AccessPolicy {
        let embed = ["'self'".to_owned(), "https://wiki.example.com/".to_owned()];
        AccessPolicy::new(
            "127.0.0.1:8080".parse().expect("addr"),
            &["mss.example.com".to_owned()],
            &embed,
            token.map(str::to_owned),
        )
    }

    #[test]
    fn host_names_parse_with_ports_and_brackets() {
        assert_eq!(host_name("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_name("[::1]:8080"), "::1");
        assert_eq!(host_name("LocalHost."), "localhost");
        assert_eq!(host_name("evil.example:80"), "evil.example");
    }

    #[test]
    fn hosts_origins_and_tokens_are_checked_where_they_matter() {
        let p = loopback(None);
        let ok = |path: &str, h: &[(&'static str, &str)]| p.check(path, None, &headers(h));
        assert_eq!(ok("/api/summary", &[("host", "127.0.0.1:8080")]), Ok(None));
        assert_eq!(ok("/api/summary", &[("host", "localhost:8080")]), Ok(None));
        assert_eq!(ok("/api/summary", &[("host", "[::1]:8080")]), Ok(None));
        assert_eq!(ok("/api/summary", &[("host", "mss.example.com")]), Ok(None));
        assert_eq!(
            ok("/", &[("host", "rebind.attacker.example:8080")]),
            Err(Refusal::Host)
        );
        assert_eq!(ok("/healthz", &[("host", "rebind.attacker.example")]), Ok(None));
        let ws = |origin: &str| ok("/ws", &[("host", "127.0.0.1:8080"), ("origin", origin)]);
        assert_eq!(ws("http://127.0.0.1:8080"), Ok(None), "same origin");
        assert_eq!(ws("https://wiki.example.com"), Ok(None), "--embed-origins");
        assert_eq!(ws("https://evil.example"), Err(Refusal::Origin));
        assert_eq!(ws("null"), Err(Refusal::Origin));
        assert_eq!(
            ok("/ws", &[("host", "127.0.0.1:8080")]),
            Ok(None),
            "no Origin: not a browser"
        );
        // Anywhere but /ws, Origin is left to CORS.
        assert_eq!(
            ok(
                "/api/summary",
                &[("host", "127.0.0.1:8080"), ("origin", "https://evil.example")]
            ),
            Ok(None)
        );
        // A non-loopback listener without --public-host cannot check names.
        let open = AccessPolicy::new("0.0.0.0:8080".parse().expect("addr"), &[], &[], None);
        assert_eq!(
            open.check("/", None, &headers(&[("host", "anything.example")])),
            Ok(None)
        );
    }

    #[test]
    fn a_token_is_required_on_data_routes_only_in_any_of_its_three_forms() {
        let p = loopback(Some("s3cret"));
        let host = ("host", "127.0.0.1:8080");
        let check =
            |path: &str, query: Option<&str>, h: &[(&'static str, &str)]| p.check(path, query, &headers(h));
        assert_eq!(check("/api/summary", None, &[host]), Err(Refusal::Token));
        assert_eq!(check("/ws", None, &[host]), Err(Refusal::Token));
        assert_eq!(check("/metrics", None, &[host]), Err(Refusal::Token));
        assert_eq!(
            check("/api/summary", None, &[host, ("authorization", "Bearer s3cret")]),
            Ok(None)
        );
        assert_eq!(
            check("/api/summary", None, &[host, ("authorization", "Bearer wrong")]),
            Err(Refusal::Token)
        );
        assert_eq!(
            check("/api/summary", Some("q=0.5&token=s3cret"), &[host]),
            Ok(Some("s3cret".to_owned())),
            "query: set the cookie"
        );
        assert_eq!(
            check("/api/summary", Some("token=s3cre"), &[host]),
            Err(Refusal::Token)
        );
        assert_eq!(
            check("/api/summary", None, &[host, ("cookie", "a=b; mss_token=s3cret")]),
            Ok(None)
        );
        assert_eq!(check("/readyz", None, &[host]), Ok(None));
        assert_eq!(
            check("/", None, &[host]),
            Ok(None),
            "the static page holds no data"
        );
        assert_eq!(
            check("/embed", Some("panel=stats&token=s3cret"), &[host]),
            Ok(Some("s3cret".to_owned())),
            "the page sets the cookie"
        );
        assert_eq!(check("/embed", Some("token=wrong"), &[host]), Ok(None));
    }

    #[test]
    fn embed_tokens_read_what_embeds_need_and_nothing_else() {
        let p = loopback(Some("main")).with_embed_tokens(vec![
            EmbedToken::parse("wiki").expect("token"),
            EmbedToken::parse("stats-only=stats,histogram").expect("token"),
        ]);
        let host = ("host", "127.0.0.1:8080");
        let with =
            |path: &str, token: &str| p.check(path, Some(&format!("token={token}")), &headers(&[host]));
        for path in [
            "/ws",
            "/api/metrics",
            "/api/slos",
            "/api/alerts",
            "/api/chart.svg",
        ] {
            assert_eq!(with(path, "wiki"), Ok(Some("wiki".to_owned())), "{path}");
        }
        for path in [
            "/api/summary",
            "/api/quantiles",
            "/api/series",
            "/api/exact",
            "/api/fraction",
            "/metrics",
        ] {
            assert_eq!(with(path, "wiki"), Err(Refusal::EmbedScope), "{path}");
            assert_eq!(with(path, "main"), Ok(Some("main".to_owned())), "{path}");
        }
        // Scoped to panels without the percentiles chart: no chart.svg.
        assert_eq!(with("/api/chart.svg", "stats-only"), Err(Refusal::EmbedScope));
        assert_eq!(with("/ws", "stats-only"), Ok(Some("stats-only".to_owned())));
        // Its cookie carries the embed token, never the main one.
        let cookie = p.check(
            "/api/summary",
            None,
            &headers(&[host, ("cookie", "mss_token=wiki")]),
        );
        assert_eq!(cookie, Err(Refusal::EmbedScope));
        assert_eq!(with("/ws", "nope"), Err(Refusal::Token));
        assert!(EmbedToken::parse("t=charts").is_err());
        assert!(EmbedToken::parse("=stats").is_err());
    }
}
