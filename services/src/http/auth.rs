//! `/api/auth/...`: log in and out, who am I, register a user, change a password.
//!
//! A login (by password, or by spending the one-time login token) answers with the
//! session cookie *and* the token in the body, for clients that prefer
//! `Authorization: Bearer`. Hashing a password takes tens of milliseconds by design,
//! so it runs on a blocking thread.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, AppState,
    extract::Json,
    layers::{clear_cookie, session_cookie},
};
use crate::auth::{Auth, AuthError, Caller, UserInfo};

/// Routes that need no caller: they are how a caller gets a session.
pub(super) fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(exchange))
}

/// Routes for a logged-in caller.
pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(logout))
        .routes(routes!(whoami))
        .routes(routes!(register))
        .routes(routes!(change_password))
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials => Self::client(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                e.to_string(),
            ),
            AuthError::UsernameTaken(_) => Self::conflict(e.to_string()),
            AuthError::BadUsername(_) | AuthError::WeakPassword | AuthError::NotASession => {
                Self::invalid(e.to_string())
            }
            AuthError::NotOwner => Self::forbidden(e.to_string()),
            AuthError::File(_) | AuthError::Corrupt { .. } | AuthError::Hash(_) => {
                Self::internal("auth", e)
            }
        }
    }
}

/// A username and password.
#[derive(Deserialize, ToSchema)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// The one-time token from the login URL.
#[derive(Deserialize, ToSchema)]
pub struct Exchange {
    pub token: String,
}

/// A new session: the user, and its token (also set as the `agentos_session` cookie).
#[derive(Serialize, ToSchema)]
pub struct Session {
    pub user: UserInfo,
    pub token: String,
}

/// The caller's old password (left out when it has none yet) and the new one.
#[derive(Deserialize, ToSchema)]
pub struct PasswordChange {
    pub old_password: Option<String>,
    pub new_password: String,
}

fn with_cookie(status: StatusCode, auth: &Auth, caller: &Caller, token: String) -> Response {
    let user = auth
        .whoami(caller)
        .expect("a caller just issued a token exists");
    let cookie = session_cookie(&token);
    let mut resp = (status, Json(Session { user, token })).into_response();
    resp.headers_mut().insert(header::SET_COOKIE, cookie);
    resp
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal("auth task", e))?
        .map_err(ApiError::from)
}

/// Logs in with a username and password.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = Credentials,
    responses((status = 200, body = Session), (status = 401, body = super::openapi::ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    Json(c): Json<Credentials>,
) -> Result<Response, ApiError> {
    let auth = Arc::clone(&state.auth);
    let (caller, token) = blocking(move || auth.login(&c.username, &c.password)).await?;
    Ok(with_cookie(StatusCode::OK, &state.auth, &caller, token))
}

/// Spends the one-time login token that `agentos up` printed.
#[utoipa::path(post, path = "/auth/exchange", tag = "auth", request_body = Exchange,
    responses((status = 200, body = Session), (status = 401, body = super::openapi::ErrorBody)))]
async fn exchange(
    State(state): State<AppState>,
    Json(e): Json<Exchange>,
) -> Result<Response, ApiError> {
    let (caller, token) = state.auth.exchange_login_token(&e.token).ok_or_else(|| {
        ApiError::client(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "this login token is not valid (it works once)",
        )
    })?;
    Ok(with_cookie(StatusCode::OK, &state.auth, &caller, token))
}

/// Ends every session of the caller's user and clears the cookie.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204), (status = 400, body = super::openapi::ErrorBody)))]
async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    state.auth.logout(&caller)?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, clear_cookie());
    Ok(resp)
}

/// The caller's user.
#[utoipa::path(get, path = "/auth/whoami", tag = "auth",
    responses((status = 200, body = UserInfo), (status = 401, body = super::openapi::ErrorBody)))]
async fn whoami(State(state): State<AppState>, caller: Caller) -> Result<Json<UserInfo>, ApiError> {
    state
        .auth
        .whoami(&caller)
        .map(Json)
        .ok_or_else(|| ApiError::unauthenticated("this user no longer exists"))
}

/// Makes a user (the owner only).
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = Credentials,
    responses((status = 201, body = UserInfo), (status = 403, body = super::openapi::ErrorBody),
        (status = 409, body = super::openapi::ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    caller: Caller,
    Json(c): Json<Credentials>,
) -> Result<(StatusCode, Json<UserInfo>), ApiError> {
    let auth = Arc::clone(&state.auth);
    let user = blocking(move || auth.register(&caller, &c.username, &c.password)).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Sets the caller's password; other sessions end, this one gets a new token.
#[utoipa::path(post, path = "/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 200, body = Session), (status = 401, body = super::openapi::ErrorBody)))]
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Json(p): Json<PasswordChange>,
) -> Result<Response, ApiError> {
    let auth = Arc::clone(&state.auth);
    let c = caller.clone();
    let token =
        blocking(move || auth.change_password(&c, p.old_password.as_deref(), &p.new_password))
            .await?;
    Ok(with_cookie(StatusCode::OK, &state.auth, &caller, token))
}
