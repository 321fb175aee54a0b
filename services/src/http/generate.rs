//! `POST /api/generate-ui` (a prompt in, a validated Blueprint out) and
//! `GET /api/blueprint/schema.json` (the Blueprint JSON Schema).
//!
//! Generation goes through the one [`crate::generate::CachedGenerator`] in
//! [`AppState`], the same the WebSocket's `generate_ui` streams from; here the
//! events are collected and only the result is answered. The schema needs a login
//! like every `/api` call (it is no secret, but the rule is simpler without
//! exceptions; the desktop fetches it with its cookie).

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiError, AppState, extract::Json, openapi::ErrorBody};
use crate::{
    auth::Caller,
    blueprint::{self, Blueprint},
    generate::{self, GenEvent},
    settings,
};

/// Longest prompt, in bytes.
pub const MAX_PROMPT: usize = 16 << 10;
/// Events buffered between the generator and whoever reads them.
pub const EVENT_BUFFER: usize = 64;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(generate_ui))
        .routes(routes!(blueprint_schema))
}

/// What to generate.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// What the app should be, e.g. "a calculator".
    pub prompt: String,
}

/// A generated app.
#[derive(Serialize, ToSchema)]
pub struct Generated {
    /// The Blueprint, validated against the schema and the built-in tools.
    #[schema(value_type = Object)]
    pub blueprint: Blueprint,
    /// What the generator said it was doing, in order.
    pub thoughts: Vec<String>,
    /// `rules` or `llm (<model>)`.
    pub generator: String,
    /// Set when the user's own LLM endpoint (their settings) was not used: why, and
    /// that the generator named in `generator` answered instead.
    pub fallback: Option<String>,
}

/// Checks a prompt from a client: not blank, not huge.
pub fn check_prompt(prompt: &str) -> Result<&str, ApiError> {
    let p = prompt.trim();
    if p.is_empty() {
        return Err(ApiError::invalid("the prompt is empty"));
    }
    if p.len() > MAX_PROMPT {
        return Err(ApiError::invalid(format!(
            "the prompt is over {MAX_PROMPT} bytes"
        )));
    }
    Ok(p)
}

/// Generates an app from a prompt: with the LLM endpoint in the caller's settings
/// when they set one (falling back, and saying so in `fallback`, when it cannot be
/// reached or refuses), else the process's generator (the rules, or the LLM the
/// environment configures).
#[utoipa::path(post, path = "/generate-ui", tag = "generate", request_body = GenerateRequest,
    responses((status = 200, body = Generated),
        (status = 400, description = "`invalid_argument`: an empty prompt", body = ErrorBody),
        (status = 422, description = "`not_understood`: no template matches the prompt", body = ErrorBody),
        (status = 502, description = "`llm_http_error`, `llm_unreachable`, `llm_protocol_error`, `invalid_blueprint`: the model failed", body = ErrorBody)))]
async fn generate_ui(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<GenerateRequest>,
) -> Result<Json<Generated>, ApiError> {
    let prompt = check_prompt(&req.prompt)?;
    let user_llm = settings::llm_config(&state.kernel, &caller.user_id).await;
    let (tx, mut rx) = mpsc::channel(EVENT_BUFFER);
    let generator = &*state.generator;
    let name = state.generator.inner().describe();
    let run = async move {
        let r = generate::generate_for(user_llm, generator, name, prompt, &tx).await;
        drop(tx);
        r
    };
    let collect = async {
        let mut thoughts = Vec::new();
        while let Some(e) = rx.recv().await {
            if let GenEvent::Thought { text } = e {
                thoughts.push(text);
            }
        }
        thoughts
    };
    let (result, thoughts) = tokio::join!(run, collect);
    let produced = result?;
    Ok(Json(Generated {
        blueprint: Blueprint::clone(&produced.blueprint),
        thoughts,
        generator: produced.generator,
        fallback: produced.fell_back,
    }))
}

/// The Blueprint JSON Schema (draft 2020-12), generated from the parser's types.
#[utoipa::path(get, path = "/blueprint/schema.json", tag = "generate",
    responses((status = 200, description = "A JSON Schema", content_type = "application/schema+json", body = Object)))]
async fn blueprint_schema() -> Response {
    static TEXT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        serde_json::to_string_pretty(&blueprint::schema_json()).expect("the schema serializes")
    });
    (
        [(header::CONTENT_TYPE, "application/schema+json")],
        TEXT.as_str(),
    )
        .into_response()
}
