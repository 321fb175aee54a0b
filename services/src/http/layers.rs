//! The middleware every request passes, outermost first:
//!
//! 1. [`track`]: the request-duration histogram, labelled by the route that matched
//!    ([`tag_route`] copies axum's `MatchedPath` into the response), never the raw
//!    path, so ids in paths cannot blow up the label set.
//! 2. [`guard`]: DNS rebinding and CSRF. The `Host` must be this server's loopback
//!    address and port (`127.0.0.1:PORT` or `localhost:PORT`); a browser's `Origin`,
//!    when sent, must be that same origin, and `Sec-Fetch-Site: cross-site` is
//!    refused. Both are 403. No CORS headers are ever sent, so a browser keeps other
//!    origins from reading any answer (same-origin by default).
//! 3. [`identify`]: the credential (the session cookie, or `Authorization: Bearer`
//!    with the API token or a session token) becomes a [`Caller`] in the request's
//!    extensions; then the caller's token bucket (or its address's) is charged, 429
//!    with `Retry-After` when empty. A `GET /?token=…` with the one-time login token
//!    is answered here: the session cookie is set and the browser sent on to `/`.
//! 4. [`timeout`]: a request that takes longer than the limit is answered 408.
//!
//! The `/api` tree adds [`require_caller`] (401 without a credential) to all but
//! its login routes. Body limits are axum's `DefaultBodyLimit`, enforced by the
//! [`Json`](super::extract::Json) extractor (413 `payload_too_large`).

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

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

/// The label of the route a response came from.
#[derive(Clone, Debug)]
struct RouteLabel(String);

/// Copies the matched route into the response, for [`track`].
pub async fn tag_route(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let mut resp = next.run(req).await;
    if let Some(route) = route {
        resp.extensions_mut().insert(RouteLabel(route));
    }
    resp
}

/// Records the request's duration by method, matched route and status.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    let route = resp.extensions().get::<RouteLabel>().map_or_else(
        // Unrouted paths (the desktop's files, 404s) share one label.
        || "unmatched".to_owned(),
        |r| r.0.clone(),
    );
    state.metrics.http.observe(
        vec![
            ("method", method),
            ("route", route),
            ("status", resp.status().as_u16().to_string()),
        ],
        started.elapsed(),
    );
    resp
}

/// Refuses foreign `Host`s and `Origin`s (403).
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match check_host_origin(req.headers(), state.config.port) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// The check behind [`guard`], for `port`.
pub fn check_host_origin(headers: &HeaderMap, port: u16) -> Result<(), ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let allowed = [format!("127.0.0.1:{port}"), format!("localhost:{port}")];
    if !allowed.iter().any(|a| a.eq_ignore_ascii_case(host)) {
        return Err(ApiError::client(
            StatusCode::FORBIDDEN,
            "forbidden_host",
            format!("Host {host:?} is not this server; use http://127.0.0.1:{port}/"),
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("(not text)");
        let same = allowed
            .iter()
            .any(|a| origin.eq_ignore_ascii_case(&format!("http://{a}")));
        if !same {
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

/// Finds the caller, charges its token bucket, and answers login links.
pub async fn identify(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let caller = credential(req.headers()).and_then(|c| state.auth.identify(c));
    let client = match &caller {
        Some(c) => format!("user:{}", c.user_id),
        None => match req.extensions().get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(addr)) => format!("ip:{}", addr.ip()),
            None => "ip:unknown".to_owned(),
        },
    };
    if let Err(retry_after) = state.limiter.check(&client, Instant::now()) {
        return ApiError::RateLimited { retry_after }.into_response();
    }
    if req.uri().path() == "/"
        && let Some(token) = login_token(req.uri().query())
    {
        return login_link(&state, &token);
    }
    if let Some(caller) = caller {
        req.extensions_mut().insert(caller);
    }
    next.run(req).await
}

/// The `token` of a `?token=…` query.
fn login_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .map(str::to_owned)
}

/// `GET /?token=LOGIN`: a session cookie and a redirect to `/`, or 401.
fn login_link(state: &AppState, token: &str) -> Response {
    match state.auth.exchange_login_token(token) {
        Some((_, session)) => {
            let mut resp = Redirect::to("/").into_response();
            resp.headers_mut()
                .insert(header::SET_COOKIE, session_cookie(&session));
            resp
        }
        None => ApiError::unauthenticated(
            "this login link is not valid (it works once); use the one `agentos up` printed last, or log in",
        )
        .into_response(),
    }
}

/// 401 unless [`identify`] found a caller.
pub async fn require_caller(req: Request, next: Next) -> Response {
    if req.extensions().get::<Caller>().is_none() {
        return ApiError::unauthenticated(
            "log in first: open the URL `agentos up` printed, or send `Authorization: Bearer` with DATA_DIR/api.token",
        )
        .into_response();
    }
    next.run(req).await
}

/// Answers 408 when the rest of the stack takes longer than the configured limit.
pub async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
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
        let ok = |pairs: &[(&'static str, &str)]| check_host_origin(&headers(pairs), 8000);
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
