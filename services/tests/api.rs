//! The HTTP edge of `agentos up` from outside: login, the host and origin guard,
//! rate limits, bad input, users, metrics and the OpenAPI description, against the
//! real `agentos` and `agentos-kernel` binaries (see `support/`).

#[allow(dead_code, reason = "each test crate uses a part of the helpers")]
mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;

fn start(test: &str, args: &[&str]) -> (tempfile::TempDir, Up) {
    let tmp = tempdir(test);
    let data = tmp.path().join("data");
    let up = Up::start("up", tmp.path(), &data, args);
    (tmp, up)
}

/// The `agentos_session` cookie a response sets, as `name=value`.
fn session_cookie(r: &Response) -> String {
    let set = r
        .header("set-cookie")
        .unwrap_or_else(|| panic!("no Set-Cookie: {r:?}"));
    set.split(';').next().unwrap().trim().to_owned()
}

#[test]
fn the_login_url_gives_an_http_only_strict_cookie_once() {
    let (_tmp, up) = start("api-login-url", &[]);
    let r = up.get(&format!("/?token={}", up.login_token));
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some("/"));
    let set = r.header("set-cookie").expect("a cookie").to_owned();
    assert!(set.contains("httponly"), "{set}");
    assert!(set.contains("samesite=strict"), "{set}");
    let cookie = session_cookie(&r);
    assert!(cookie.starts_with("agentos_session="), "{cookie}");

    // Response headers are lower-cased by the client; the cookie value is hex and dots.
    let who = up
        .req("GET", "/api/auth/whoami")
        .header("Cookie", &cookie)
        .send();
    assert_eq!(who.status, 200, "{who:?}");
    assert_eq!(who.json()["owner"], true, "{}", who.text());

    let again = up.get(&format!("/?token={}", up.login_token));
    assert_eq!(again.status, 401, "the link works once: {again:?}");
    assert_eq!(again.code(), "unauthenticated");
    // A browser opening the spent link (a reload) lands on the desktop's sign-in
    // screen instead of a JSON error, still without a cookie.
    let page = up
        .req("GET", &format!("/?token={}", up.login_token))
        .header("Accept", "text/html,application/xhtml+xml")
        .send();
    assert_eq!(page.status, 303, "{page:?}");
    assert_eq!(page.header("location"), Some("/"));
    assert!(page.header("set-cookie").is_none(), "{page:?}");
}

#[test]
fn a_page_may_exchange_the_login_token_itself_once() {
    let (_tmp, up) = start("api-exchange", &[]);
    let bad = up
        .req("POST", "/api/auth/exchange")
        .json(&json!({"token": "0".repeat(48)}))
        .send();
    assert_eq!(
        (bad.status, bad.code()),
        (401, "invalid_credentials".into())
    );
    let r = up
        .req("POST", "/api/auth/exchange")
        .json(&json!({"token": up.login_token}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["user"]["owner"], true);
    let cookie = session_cookie(&r);
    let who = up
        .req("GET", "/api/auth/whoami")
        .header("Cookie", &cookie)
        .send();
    assert_eq!(who.status, 200, "{who:?}");
    let link = up.get(&format!("/?token={}", up.login_token));
    assert_eq!(link.status, 401, "the token is spent: {link:?}");
}

#[test]
fn the_api_needs_a_cookie_or_a_bearer_token_but_health_does_not() {
    let (_tmp, up) = start("api-needs-login", &[]);
    let r = up.req("GET", "/api/auth/whoami").send();
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.code(), "unauthenticated");
    let r = up
        .req("GET", "/api/auth/whoami")
        .header("Cookie", "agentos_session=v1.u00.0.99999999999.00")
        .send();
    assert_eq!(r.status, 401, "a forged cookie: {r:?}");
    let r = up
        .req("GET", "/api/auth/whoami")
        .bearer("not-the-token")
        .send();
    assert_eq!(r.status, 401, "{r:?}");
    let r = up.api("GET", "/api/auth/whoami").send();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["owner"], true);
    assert_eq!(up.get("/health").status, 200);
    for secret in ["api.token", "auth/users.json", "auth/key"] {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(up.data_dir.join(secret))
                .unwrap_or_else(|e| panic!("{secret}: {e}"))
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{secret}");
    }
}

#[test]
fn a_foreign_host_or_origin_is_refused() {
    let (_tmp, up) = start("api-guard", &[]);
    let port = up.port;
    for (req, code) in [
        (
            up.api("GET", "/api/auth/whoami")
                .header("Host", &format!("evil.example:{port}")),
            "forbidden_host",
        ),
        (
            up.req("GET", "/health").header("Host", "127.0.0.1:1"),
            "forbidden_host",
        ),
        (
            up.api("GET", "/api/auth/whoami").without("Host"),
            "forbidden_host",
        ),
        (
            up.api("POST", "/api/auth/logout")
                .header("Origin", "http://evil.example"),
            "forbidden_origin",
        ),
        (
            up.api("GET", "/api/stream")
                .header("Origin", &format!("http://127.0.0.1.evil.example:{port}")),
            "forbidden_origin",
        ),
    ] {
        let r = req.send();
        assert_eq!(r.status, 403, "{r:?}");
        assert_eq!(r.code(), code, "{}", r.text());
    }
    // The same origin passes, and no CORS header invites others in.
    let r = up
        .api("GET", "/api/auth/whoami")
        .header("Origin", &format!("http://localhost:{port}"))
        .header("Host", &format!("localhost:{port}"))
        .send();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("access-control-allow-origin").is_none(), "{r:?}");
}

#[test]
fn the_rate_limit_answers_429_with_retry_after_then_recovers() {
    let (_tmp, up) = start("api-rate-limit", &["--rate-limit", "5/2"]);
    // Anonymous requests share the address's bucket: 5 at once, 2 more a second.
    let mut limited = None;
    for _ in 0..30 {
        let r = up.get("/health");
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status, 200, "{r:?}");
    }
    let r = limited.expect("no 429 within 30 requests at a limit of 5/2");
    assert_eq!(r.code(), "rate_limited");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=5).contains(&retry), "Retry-After: {retry}");
    // Another client (the owner's token) has its own bucket.
    assert_eq!(up.api("GET", "/api/auth/whoami").send().status, 200);
    // The bucket refills.
    assert!(
        eventually(Duration::from_secs(retry + 5), || up.get("/health").status
            == 200),
        "never recovered from 429"
    );
}

#[test]
fn bad_input_is_a_4xx_with_a_stable_code() {
    let (_tmp, up) = start("api-bad-input", &["--body-limit", "1024"]);
    let login = || up.req("POST", "/api/auth/login");
    for (req, status, code) in [
        (
            login().body("application/json", b"{\"username\":"),
            400,
            "malformed_json",
        ),
        (
            login().json(&json!({"username": 5, "password": "x"})),
            422,
            "invalid_body",
        ),
        (login().json(&json!({"username": "a"})), 422, "invalid_body"),
        (login().json(&json!([1, 2])), 422, "invalid_body"),
        (
            login().body("text/plain", b"{\"username\":\"a\",\"password\":\"b\"}"),
            415,
            "unsupported_media_type",
        ),
        (
            login().json(&json!({"username": "a", "password": "x".repeat(4096)})),
            413,
            "payload_too_large",
        ),
        (
            login().json(&json!({"username": "nobody", "password": "whatever1"})),
            401,
            "invalid_credentials",
        ),
        (up.api("GET", "/api/no/such/thing"), 404, "not_found"),
        (
            up.api("POST", "/api/auth/register")
                .json(&json!({"username": "Not Valid", "password": "long enough"})),
            400,
            "invalid_argument",
        ),
    ] {
        let r = req.send();
        assert_eq!(r.status, status, "{r:?} {}", r.text());
        assert_eq!(r.code(), code, "{}", r.text());
        assert!(!r.json()["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[test]
fn users_register_log_in_out_and_change_passwords() {
    let (_tmp, up) = start("api-users", &[]);
    let register = |name: &str| {
        up.api("POST", "/api/auth/register")
            .json(&json!({"username": name, "password": "correct horse"}))
            .send()
    };
    let r = register("alice");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["username"], "alice");
    assert_eq!(r.json()["owner"], false);
    assert_eq!(register("alice").code(), "already_exists");

    let login = |password: &str| {
        up.req("POST", "/api/auth/login")
            .json(&json!({"username": "alice", "password": password}))
            .send()
    };
    assert_eq!(login("wrong password").code(), "invalid_credentials");
    let r = login("correct horse");
    assert_eq!(r.status, 200, "{}", r.text());
    let cookie = session_cookie(&r);
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let as_alice = |method: &str, path: &str| up.req(method, path).header("Cookie", &cookie);

    let who = as_alice("GET", "/api/auth/whoami").send();
    assert_eq!(who.json()["username"], "alice", "{}", who.text());
    // The bearer form of the same session works too.
    let who = up.req("GET", "/api/auth/whoami").bearer(&token).send();
    assert_eq!(who.json()["username"], "alice");
    // Only the owner registers users.
    let r = as_alice("POST", "/api/auth/register")
        .json(&json!({"username": "mallory", "password": "long enough"}))
        .send();
    assert_eq!((r.status, r.code()), (403, "forbidden".into()));

    let r = as_alice("POST", "/api/auth/password")
        .json(&json!({"old_password": "correct horse", "new_password": "battery staple"}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let new_cookie = session_cookie(&r);
    assert_eq!(
        as_alice("GET", "/api/auth/whoami").send().status,
        401,
        "a password change ends the old sessions"
    );
    assert_eq!(login("correct horse").code(), "invalid_credentials");
    assert_eq!(login("battery staple").status, 200);

    let r = up
        .req("POST", "/api/auth/logout")
        .header("Cookie", &new_cookie)
        .send();
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.header("set-cookie").unwrap().contains("max-age=0"));
    let r = up
        .req("GET", "/api/auth/whoami")
        .header("Cookie", &new_cookie)
        .send();
    assert_eq!(r.status, 401, "logged out: {r:?}");
}

#[test]
fn metrics_count_requests_by_route_and_kernel_calls() {
    let (_tmp, up) = start("api-metrics", &[]);
    assert_eq!(up.get("/health").status, 200);
    assert_eq!(up.api("GET", "/api/auth/whoami").send().status, 200);
    let m = up.get("/metrics");
    assert_eq!(m.status, 200, "{m:?}");
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    let text = m.text();
    for want in [
        r#"agentos_http_request_duration_seconds_count{method="GET",route="/health",status="200"}"#,
        r#"agentos_http_request_duration_seconds_count{method="GET",route="/api/auth/whoami",status="200"}"#,
        r#"agentos_kernel_call_duration_seconds_count{call="Doctor"}"#,
        "agentos_active_apps ",
        "agentos_ws_connections ",
        // The kernel's series, merged in.
        "agentos_kernel_up 1",
        "# TYPE agentos_process_spawned_total counter",
        "# TYPE agentos_syscall_latency_seconds histogram",
        // What watching costs: per eBPF program, and per app.
        "# TYPE agentos_probe_run_seconds_total counter",
        "# TYPE agentos_probe_runs_total counter",
        "# TYPE agentos_app_observe_cpu_seconds_total counter",
    ] {
        assert!(text.contains(want), "{want} missing in:\n{text}");
    }
}

#[test]
fn the_openapi_description_is_served_and_matches_the_snapshot() {
    let (_tmp, up) = start("api-openapi", &[]);
    assert_eq!(up.get("/api/openapi.json").status, 401);
    let r = up.api("GET", "/api/openapi.json").send();
    assert_eq!(r.status, 200, "{r:?}");
    let served: Value = r.json();
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"))
            .expect("services/openapi.json"),
    )
    .expect("the snapshot is JSON");
    assert_eq!(served, committed);
    assert!(served["paths"]["/api/auth/login"]["post"].is_object());
}
