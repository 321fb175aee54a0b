//! The HTTP edge: axum on a loopback listener.
//!
//! # Organization
//!
//! One router per resource, joined in `documented()`; the layers in [`layers`].
//!
//! | path | file | what |
//! |---|---|---|
//! | `GET /health` | `health.rs` | kernel connection and the doctor report (no login needed) |
//! | `GET /metrics` | `metrics.rs` | Prometheus text (no login needed) |
//! | `/api/auth/...` | `auth.rs` | log in and out, users |
//! | `/api/apps/...` | `apps.rs` | running apps: launch, focus, window, close |
//! | `/api/registry/...` | `registry.rs` | saved and built-in apps |
//! | `/api/sessions/...` | `sessions.rs` | saved workspaces |
//! | `/api/services/...` | `services.rs` | the tools: list, discover, execute (through [`UserHost`], `host.rs`) |
//! | `POST /api/generate-ui`, `GET /api/blueprint/schema.json` | `generate.rs` | UI generation, the Blueprint JSON Schema |
//! | `GET /api/stream` | `crate::ws` | the WebSocket |
//! | `GET /api/openapi.json` | `openapi.rs` | the OpenAPI 3 description of all of this |
//! | `/api/...` | `api.rs` | the JSON API; unknown paths are a JSON 404 |
//! | anything else | `ui.rs` | the built desktop (`ui/dist`), `index.html` for client-side routes |
//!
//! Errors become responses in one place, [`error`]; extractors whose rejections
//! use it are in [`extract`]. Handlers reach the kernel through the one
//! [`KernelLink`] in [`AppState`].
//!
//! # Shutdown
//!
//! [`serve`] stops accepting when its shutdown future resolves, lets open requests
//! finish for a grace period, then drops the connections that are left (a
//! long-lived stream must not keep `agentos` from stopping the kernel).

mod api;
mod apps;
mod auth;
pub mod error;
pub mod extract;
mod files;
mod generate;
pub mod health;
pub mod host;
pub mod layers;
mod metrics;
pub mod openapi;
mod process_control;
mod processes;
pub mod rate_limit;
mod registry;
pub(crate) mod services;
mod sessions;
mod settings;
pub mod ui;

use std::{future::Future, io, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, extract::DefaultBodyLimit, middleware};
use tokio::net::TcpListener;
use utoipa::OpenApi as _;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use error::ApiError;
pub use generate::{EVENT_BUFFER, check_prompt};
pub use host::UserHost;
pub use rate_limit::{RateLimit, RateLimiter};
pub use ui::Ui;

use crate::{
    apps::Apps,
    auth::Auth,
    generate::{CachedGenerator, Generator},
    kernel::KernelLink,
    metrics::Metrics,
    providers::Providers,
    registry::Registry,
    sessions::Sessions,
};

/// Generated Blueprints kept, by prompt.
pub const GENERATOR_CACHE: usize = 64;

/// Default largest request body.
pub const BODY_LIMIT: usize = 1 << 20;
/// Default longest time a request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The edge's settings, from `agentos up`'s flags.
#[derive(Clone, Debug)]
pub struct EdgeConfig {
    /// The port we listen on: the only one `Host` and `Origin` may name.
    pub port: u16,
    pub rate_limit: RateLimit,
    pub body_limit: usize,
    pub request_timeout: Duration,
    /// The prebuilt apps (`apps/`: `blueprint/**/*.bp`, `native-proc/<id>/manifest.json`).
    pub apps_dir: Option<std::path::PathBuf>,
}

impl EdgeConfig {
    /// The defaults, on `port`.
    pub fn new(port: u16) -> Self {
        Self {
            port,
            rate_limit: RateLimit::default(),
            body_limit: BODY_LIMIT,
            request_timeout: REQUEST_TIMEOUT,
            apps_dir: None,
        }
    }
}

/// What every handler can reach: one `Arc`, so the clone that each layer and
/// `State` extractor makes is one atomic increment (crates.io's `AppState(Arc<App>)`).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The handles behind [`AppState`].
pub struct Shared {
    pub kernel: Arc<KernelLink>,
    pub auth: Arc<Auth>,
    pub metrics: Arc<Metrics>,
    pub limiter: RateLimiter,
    pub config: EdgeConfig,
    pub apps: Arc<Apps>,
    pub registry: Arc<Registry>,
    pub sessions: Arc<Sessions>,
    /// What tools reach through [`UserHost`]: storage, files, system facts.
    pub providers: Arc<Providers>,
    /// The tool state (Blueprint, component state) of running apps that call tools.
    pub tool_apps: services::ToolApps,
    /// The UI generator of `POST /api/generate-ui` and the WebSocket, chosen at start.
    pub generator: Arc<CachedGenerator<Generator>>,
    pub health: health::HealthCache,
    /// The previous CPU sample of each process, for `GET /api/processes`.
    pub cpu_samples: processes::CpuSamples,
    /// The `Host`s and `Origin`s this server answers, from its port.
    pub allowed: layers::Allowed,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(kernel: KernelLink, auth: Auth, metrics: Arc<Metrics>, config: EdgeConfig) -> Self {
        let kernel = Arc::new(kernel);
        Self(Arc::new(Shared {
            apps: Arc::new(Apps::new(Arc::clone(&kernel))),
            registry: Arc::new(Registry::new(
                Arc::clone(&kernel),
                config.apps_dir.as_deref(),
            )),
            sessions: Arc::new(Sessions::new(Arc::clone(&kernel))),
            providers: Arc::new(Providers::new(Arc::clone(&kernel))),
            tool_apps: services::ToolApps::default(),
            generator: Arc::new(CachedGenerator::new(Generator::from_env(), GENERATOR_CACHE)),
            health: health::HealthCache::default(),
            cpu_samples: processes::CpuSamples::default(),
            kernel,
            auth: Arc::new(auth),
            metrics,
            limiter: RateLimiter::new(config.rate_limit),
            allowed: layers::Allowed::new(config.port),
            config,
        }))
    }
}

/// Every documented route, with its OpenAPI description.
pub(crate) fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::handler))
        .routes(routes!(metrics::handler))
        .nest("/api", api::router())
}

/// The whole application: `/health`, `/metrics`, `/api`, and the desktop's files,
/// behind the layers of [`layers`].
pub fn router(state: AppState, ui: &Ui) -> Router {
    let (routes, _) = documented().split_for_parts();
    let app = routes
        .route_layer(layers::TagRoute)
        .with_state(state.clone());
    let body_limit = DefaultBodyLimit::max(state.config.body_limit);
    // One `layer` call: axum wraps every route in each layer given, and each
    // wrapping costs a boxed clone of the route's service per request.
    ui.mount(app).layer(
        tower::ServiceBuilder::new()
            .layer(middleware::from_fn_with_state(state, layers::edge))
            .layer(body_limit),
    )
}

/// Serves `app` on `listener` until `shutdown` resolves, then for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = stop_rx.await;
    });
    let mut server = std::pin::pin!(server.into_future());
    tokio::select! {
        res = &mut server => return res,
        () = shutdown => {}
    }
    let _ = stop_tx.send(());
    match tokio::time::timeout(grace, server).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!("HTTP connections still open after {grace:?}; closing them");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    //! The router without a server (axum's `examples/testing`): `oneshot` requests
    //! through every layer, with no kernel behind it.

    use axum::{
        body::Body,
        http::{Request, StatusCode},
        routing::get,
    };
    use tower::ServiceExt as _;

    use super::*;

    const PORT: u16 = 8000;

    fn state(dir: &std::path::Path, config: EdgeConfig) -> AppState {
        let kernel = KernelLink::new(dir.join("no-kernel.sock"));
        let auth = Auth::open(dir).unwrap();
        AppState::new(kernel, auth, Arc::default(), config)
    }

    fn get_req(path: &str, token: Option<&str>) -> Request<Body> {
        let mut r = Request::get(path).header("host", format!("127.0.0.1:{PORT}"));
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        r.body(Body::empty()).unwrap()
    }

    async fn body_json(resp: axum::response::Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn api_token(dir: &std::path::Path) -> String {
        std::fs::read_to_string(dir.join(crate::auth::API_TOKEN_FILE))
            .unwrap()
            .trim()
            .to_owned()
    }

    #[tokio::test]
    async fn a_slow_request_is_answered_408() {
        let dir = tempfile::tempdir().unwrap();
        let config = EdgeConfig {
            request_timeout: Duration::from_millis(50),
            ..EdgeConfig::new(PORT)
        };
        let st = state(dir.path(), config);
        let app = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "never"
                }),
            )
            .layer(middleware::from_fn_with_state(st.clone(), layers::edge))
            .with_state(st);
        let resp = app.oneshot(get_req("/slow", None)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(body_json(resp).await["error"]["code"], "timeout");
    }

    #[tokio::test]
    async fn without_a_kernel_persistence_is_503_and_the_rest_still_answers() {
        let dir = tempfile::tempdir().unwrap();
        let st = state(dir.path(), EdgeConfig::new(PORT));
        let token = api_token(dir.path());
        let app = router(st, &Ui::detect(None));
        let resp = app
            .clone()
            .oneshot(get_req("/api/registry/apps", Some(&token)))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body_json(resp).await["error"]["code"], "kernel_unavailable");
        let resp = app
            .clone()
            .oneshot(get_req("/api/apps", Some(&token)))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(body_json(resp).await, serde_json::json!([]));
        let resp = app.oneshot(get_req("/health", None)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(body_json(resp).await["status"], "degraded");
    }
}
