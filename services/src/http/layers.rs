//! The middleware every request passes. [`edge`] is one layer that takes these
//! steps in order (one layer rather than four: each `from_fn` layer boxes a future
//! and clones the state, and `/health` must stay close to a bare handler):
//!
//! 1. Metrics: the request-duration histogram, labelled by the route that matched
//!    ([`TagRoute`] copies axum's `MatchedPath` into the response), never the raw
//!    path, so ids in paths cannot blow up the label set.
//! 2. The guard ([`Allowed`]): DNS rebinding and CSRF. The `Host` must be this
//!    server's loopback address and port (`127.0.0.1:PORT` or `localhost:PORT`); a
//!    browser's `Origin`, when sent, must be that same origin, and
//!    `Sec-Fetch-Site: cross-site` is refused. Both are 403. No CORS headers are ever sent, so a browser keeps other
//!    origins from reading any answer (same-origin by default).
//! 3. Identify: the credential (the session cookie, or `Authorization: Bearer`
//!    with the API token or a session token) becomes a [`Caller`] in the request's
//!    extensions; then the caller's token bucket (or its address's) is charged, 429
//!    with `Retry-After` when empty. A `GET /?token=…` with the one-time login token
//!    is answered here: the session cookie is set and the browser sent on to `/`.
//! 4. Timeout: a request that takes longer than the limit is answered 408.
//!
//! Around all of it: the request's causality id (`x-agentos-causality`, the
//! caller's when it sent a decimal `u64`, else a fresh one) scopes every kernel
//! call made while answering (`agentos_client::causality`), names the request's
//! tracing span, and comes back in the response's `x-agentos-causality` header.
//!
//! The `/api` tree adds [`require_caller`] (401 without a credential) to all but
//! its login routes. Body limits are axum's `DefaultBodyLimit`, enforced by the
//! [`Json`](super::extract::Json) extractor (413 `payload_too_large`).

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use agentos_client::causality::{self, CAUSALITY_HEADER};
use axum::{
    extract::{ConnectInfo, MatchedPath, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};

use super::{ApiError, AppState};
use crate::auth::Caller;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "agentos_session";

/// The route a response came from (a cheap clone of axum's `MatchedPath`).
#[derive(Clone, Debug)]
struct RouteLabel(MatchedPath);

/// Copies the matched route into the response, for the metrics of [`edge`]: a
/// route layer (it runs after routing, where axum has set `MatchedPath`). A plain
/// tower layer rather than `from_fn`, which would box a future and clone the
/// route's service on every request.
#[derive(Clone, Copy, Debug, Default)]
pub struct TagRoute;

impl<S> tower::Layer<S> for TagRoute {
    type Service = TagRouteService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TagRouteService(inner)
    }
}

/// The service of [`TagRoute`].
#[derive(Clone, Debug)]
pub struct TagRouteService<S>(S);

impl<S> tower::Service<Request> for TagRouteService<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TaggedFuture<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        TaggedFuture {
            route: req.extensions().get::<MatchedPath>().cloned(),
            inner: self.0.call(req),
        }
    }
}

pin_project_lite::pin_project! {
    /// The route's response, with its [`RouteLabel`] put in.
    pub struct TaggedFuture<F> {
        route: Option<MatchedPath>,
        #[pin]
        inner: F,
    }
}

impl<F, E> std::future::Future for TaggedFuture<F>
where
    F: std::future::Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let mut resp = std::task::ready!(this.inner.poll(cx))?;
        if let Some(route) = this.route.take() {
            resp.extensions_mut().insert(RouteLabel(route));
        }
        std::task::Poll::Ready(Ok(resp))
    }
}

/// Every step of the module docs, around the rest of the stack.
pub async fn edge(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let started = Instant::now();
    // One causality id per request (the caller's, if it sent a valid one): every
    // kernel call made while answering carries it, and the response names it.
    let causality = req
        .headers()
        .get(CAUSALITY_HEADER)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .filter(|id| *id != 0)
        .unwrap_or_else(causality::new_id);
    let span = tracing::info_span!("request", %method, causality);
    let mut resp = causality::with_causality(
        causality,
        tracing::Instrument::instrument(
            async {
                match state.allowed.check(req.headers()) {
                    Ok(()) => admit(&state, req, next).await,
                    Err(e) => e.into_response(),
                }
            },
            span.clone(),
        ),
    )
    .await;
    resp.headers_mut()
        .insert(CAUSALITY_HEADER, HeaderValue::from(causality));
    // Unrouted paths (the desktop's files, 404s) share one label.
    let route = resp
        .extensions()
        .get::<RouteLabel>()
        .map_or("unmatched", |r| r.0.as_str());
    let status = resp.status();
    let took = started.elapsed();
    state.metrics.http.observe(
        &[
            ("method", method.as_str()),
            ("route", route),
            ("status", status.as_str()),
        ],
        took,
    );
    // The request's log line, in its span (so with its causality id): what
    // tower-http's TraceLayer would say, without a second span and body wrapper.
    if status.is_server_error() {
        tracing::error!(parent: &span, route, status = status.as_u16(), ?took, "response");
    } else {
        tracing::debug!(parent: &span, route, status = status.as_u16(), ?took, "response");
    }
    resp
}

/// The `Host`s and `Origin`s of this server, made once from its port.
#[derive(Clone, Debug)]
pub struct Allowed {
    port: u16,
    hosts: [String; 2],
    origins: [String; 2],
}

impl Allowed {
    pub fn new(port: u16) -> Self {
        let hosts = [format!("127.0.0.1:{port}"), format!("localhost:{port}")];
        let origins = hosts.clone().map(|h| format!("http://{h}"));
        Self {
            port,
            hosts,
            origins,
        }
    }

    /// The guard's check: 403 for a foreign `Host` or `Origin`.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        if !self.hosts.iter().any(|a| a.eq_ignore_ascii_case(host)) {
            return Err(ApiError::client(
                StatusCode::FORBIDDEN,
                "forbidden_host",
                format!(
                    "Host {host:?} is not this server; use http://127.0.0.1:{}/",
                    self.port
                ),
            ));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("(not text)");
            if !self.origins.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
                return Err(ApiError::client(
                    StatusCode::FORBIDDEN,
                    "forbidden_origin",
                    format!("requests from {origin} are refused"),
                ));
            }
        }
        if headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
        {
            return Err(ApiError::client(
                StatusCode::FORBIDDEN,
                "forbidden_origin",
                "cross-site requests are refused",
            ));
        }
        Ok(())
    }
}

/// The credential a request carries: a bearer token, else the session cookie.
pub fn credential(headers: &HeaderMap) -> Option<&str> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return auth.strip_prefix("Bearer ").map(str::trim);
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
}

/// The `Set-Cookie` value for a session token.
pub fn session_cookie(token: &str) -> HeaderValue {
    let max_age = crate::auth::SESSION_TTL.as_secs();
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}"
    ))
    .expect("a hex token makes a valid header")
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("agentos_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// Finds the caller, charges its token bucket, answers login links, and runs the
/// rest under the timeout.
async fn admit(state: &AppState, mut req: Request, next: Next) -> Response {
    let caller = credential(req.headers()).and_then(|c| state.auth.identify(c));
    // A user's bucket is named by its id (`u…`), an address's by `ip:…`.
    let by_address;
    let client: &str = match &caller {
        Some(c) => &c.user_id,
        None => {
            by_address = match req.extensions().get::<ConnectInfo<SocketAddr>>() {
                Some(ConnectInfo(addr)) => format!("ip:{}", addr.ip()),
                None => "ip:unknown".to_owned(),
            };
            &by_address
        }
    };
    if let Err(retry_after) = state.limiter.check(client, Instant::now()) {
        return ApiError::RateLimited { retry_after }.into_response();
    }
    if req.method() == axum::http::Method::GET
        && req.uri().path() == "/"
        && let Some(token) = login_token(req.uri().query())
    {
        let browser = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
        return login_link(state, &token, browser);
    }
    if let Some(caller) = caller {
        req.extensions_mut().insert(caller);
    }
    let limit: Duration = state.config.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::client(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!("the request took longer than {limit:?}"),
        )
        .into_response(),
    }
}

/// The `token` of a `?token=…` query.
fn login_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .map(str::to_owned)
}

/// `GET /?token=LOGIN`: a session cookie and a redirect to `/`, or 401. A browser
/// that opens a spent link (a reload, a second tab) is sent to `/` without a cookie
/// instead, where the desktop explains and offers the password form; scripts get
/// the JSON 401.
fn login_link(state: &AppState, token: &str, browser: bool) -> Response {
    match state.auth.exchange_login_token(token) {
        Some((_, session)) => {
            let mut resp = Redirect::to("/").into_response();
            resp.headers_mut()
                .insert(header::SET_COOKIE, session_cookie(&session));
            resp
        }
        None if browser => Redirect::to("/").into_response(),
        None => ApiError::unauthenticated(
            "this login link is not valid (it works once); use the one `agentos up` printed last, or log in",
        )
        .into_response(),
    }
}

/// 401 unless [`edge`] found a caller.
pub async fn require_caller(req: Request, next: Next) -> Response {
    if req.extensions().get::<Caller>().is_none() {
        return ApiError::unauthenticated(
            "log in first: open the URL `agentos up` printed, or send `Authorization: Bearer` with DATA_DIR/api.token",
        )
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn only_this_servers_host_and_origin_pass() {
        let allowed = Allowed::new(8000);
        let ok = |pairs: &[(&'static str, &str)]| allowed.check(&headers(pairs));
        assert!(ok(&[("host", "127.0.0.1:8000")]).is_ok());
        assert!(
            ok(&[
                ("host", "localhost:8000"),
                ("origin", "http://localhost:8000")
            ])
            .is_ok()
        );
        assert!(
            ok(&[
                ("host", "127.0.0.1:8000"),
                ("origin", "http://127.0.0.1:8000")
            ])
            .is_ok()
        );
        for (pairs, code) in [
            (vec![("host", "evil.example:8000")], "forbidden_host"),
            (vec![("host", "127.0.0.1:8001")], "forbidden_host"),
            (vec![], "forbidden_host"),
            (
                vec![
                    ("host", "127.0.0.1:8000"),
                    ("origin", "http://evil.example"),
                ],
                "forbidden_origin",
            ),
            (
                vec![("host", "127.0.0.1:8000"), ("origin", "null")],
                "forbidden_origin",
            ),
            (
                vec![("host", "127.0.0.1:8000"), ("sec-fetch-site", "cross-site")],
                "forbidden_origin",
            ),
        ] {
            let e = ok(&pairs).unwrap_err();
            assert_eq!(e.code(), code, "{pairs:?}");
            assert_eq!(e.status(), StatusCode::FORBIDDEN);
        }
    }

    #[test]
    fn credentials_come_from_bearer_or_cookie() {
        assert_eq!(
            credential(&headers(&[("authorization", "Bearer abc")])),
            Some("abc")
        );
        assert_eq!(
            credential(&headers(&[("cookie", "a=1; agentos_session=tok; b=2")])),
            Some("tok")
        );
        assert_eq!(
            credential(&headers(&[("cookie", "agentos_sessionx=tok")])),
            None
        );
        assert_eq!(
            credential(&headers(&[("authorization", "Basic xyz")])),
            None
        );
        assert_eq!(credential(&headers(&[])), None);
    }

    #[test]
    fn the_cookie_is_http_only_and_strict() {
        let c = session_cookie("t0k");
        let c = c.to_str().unwrap();
        assert!(c.starts_with("agentos_session=t0k;"), "{c}");
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict"),
            "{c}"
        );
        assert_eq!(login_token(Some("a=1&token=xyz")), Some("xyz".into()));
        assert_eq!(login_token(Some("a=1")), None);
    }
}
