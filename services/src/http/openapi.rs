//! The OpenAPI 3 description, generated from the handlers (utoipa's
//! `#[utoipa::path]` on each, mounted with `utoipa_axum::routes!`, so a route and
//! its description are one entry and cannot drift) and served at
//! `GET /api/openapi.json`.
//!
//! `services/openapi.json` is a committed snapshot; a unit test fails when the
//! generated description differs. After an intended API change, regenerate it:
//! `AGENTOS_UPDATE_OPENAPI=1 cargo test -p agentos-services openapi`.

use std::sync::LazyLock;

use serde::Serialize;
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::layers::SESSION_COOKIE;

/// Every error's body.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// A stable machine-readable `code` and a message for people.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// One of: malformed_json, invalid_body, unsupported_media_type, payload_too_large,
    /// invalid_argument, invalid_path, invalid_query, invalid_blueprint,
    /// unauthenticated, invalid_credentials, forbidden, forbidden_host,
    /// forbidden_origin, not_found, already_exists, timeout, rate_limited, internal,
    /// unimplemented, kernel_unavailable; from tools: unknown_tool, permission_denied,
    /// invalid_args, host_not_allowed, unknown_component, invalid_value,
    /// division_by_zero, math_error, denied, quota_exceeded, unavailable; from UI
    /// generation: not_understood, llm_http_error, llm_unreachable, llm_protocol_error.
    pub code: String,
    pub message: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "AgentOS services",
        description = "The HTTP API of `agentos up`, on 127.0.0.1 only. Every `/api` call needs \
                       the session cookie or `Authorization: Bearer` (DATA_DIR/api.token or a \
                       session token); every error is `{\"error\": {\"code\", \"message\"}}`."
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Security),
    security(("session_cookie" = []), ("bearer" = []))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let c = api.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))),
        );
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The description, as served.
pub static JSON: LazyLock<String> = LazyLock::new(|| {
    super::documented()
        .into_openapi()
        .to_pretty_json()
        .expect("the OpenAPI description serializes")
});

/// `GET /api/openapi.json`.
pub(super) async fn handler() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        JSON.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

    #[test]
    fn openapi_matches_the_committed_snapshot() {
        let now = format!("{}\n", JSON.as_str());
        if std::env::var_os("AGENTOS_UPDATE_OPENAPI").is_some() {
            std::fs::write(SNAPSHOT, &now).unwrap();
        }
        let committed = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
        assert!(
            committed == now,
            "{SNAPSHOT} is out of date; regenerate it with \
             `AGENTOS_UPDATE_OPENAPI=1 cargo test -p agentos-services openapi` and review the diff"
        );
    }

    #[test]
    fn openapi_is_a_3_x_document_describing_every_endpoint() {
        let doc: Value = serde_json::from_str(&JSON).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
        let paths = doc["paths"].as_object().unwrap();
        // Issue 10's endpoints, by the names it gives them.
        for (path, method) in [
            ("/health", "get"),
            ("/metrics", "get"),
            ("/api/auth/login", "post"),
            ("/api/auth/exchange", "post"),
            ("/api/auth/logout", "post"),
            ("/api/auth/whoami", "get"),
            ("/api/auth/register", "post"),
            ("/api/auth/password", "post"),
            ("/api/apps", "get"),
            ("/api/apps", "post"),
            ("/api/apps/{id}/focus", "post"),
            ("/api/apps/{id}/window", "post"),
            ("/api/apps/{id}", "delete"),
            ("/api/apps/{id}/logs", "get"),
            ("/api/apps/{id}/grants", "post"),
            ("/api/apps/{id}/denials", "get"),
            ("/api/registry/save", "post"),
            ("/api/registry/apps", "get"),
            ("/api/registry/apps/{id}", "get"),
            ("/api/registry/apps/{id}", "delete"),
            ("/api/registry/apps/{id}/launch", "post"),
            ("/api/sessions/save", "post"),
            ("/api/sessions/save-default", "post"),
            ("/api/sessions", "get"),
            ("/api/sessions/{id}", "get"),
            ("/api/sessions/{id}", "delete"),
            ("/api/sessions/{id}/restore", "post"),
            ("/api/stream", "get"),
            ("/api/services", "get"),
            ("/api/services/discover", "post"),
            ("/api/services/execute", "post"),
            ("/api/generate-ui", "post"),
            ("/api/processes", "get"),
            ("/api/apps/{id}/process/kill", "post"),
            ("/api/apps/{id}/process/freeze", "post"),
            ("/api/apps/{id}/process/priority", "post"),
            ("/api/files/access", "get"),
            ("/api/settings", "get"),
            ("/api/settings", "put"),
            ("/api/blueprint/schema.json", "get"),
        ] {
            assert!(
                paths.get(path).and_then(|p| p.get(method)).is_some(),
                "{method} {path} is not described"
            );
        }
        for (path, ops) in paths {
            for (method, op) in ops.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                assert!(!responses.is_empty(), "{method} {path} has no responses");
                // Every schema reference resolves.
                for r in refs(op) {
                    let name = r.trim_start_matches("#/components/schemas/");
                    assert!(
                        doc["components"]["schemas"].get(name).is_some(),
                        "{method} {path}: {r} is not defined"
                    );
                }
            }
        }
    }

    fn refs(v: &Value) -> Vec<String> {
        match v {
            Value::Object(m) => m
                .iter()
                .flat_map(|(k, v)| match (k.as_str(), v) {
                    ("$ref", Value::String(s)) => vec![s.clone()],
                    _ => refs(v),
                })
                .collect(),
            Value::Array(a) => a.iter().flat_map(refs).collect(),
            _ => Vec::new(),
        }
    }
}
