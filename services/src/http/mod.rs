//! The HTTP edge: axum on a loopback listener.
//!
//! # Organization
//!
//! | path | file | what |
//! |---|---|---|
//! | `GET /health` | `health.rs` | kernel connection and the doctor report, for the desktop's status bar |
//! | `/api/...` | `api.rs` | the JSON API; unknown paths are a JSON 404 |
//! | anything else | `ui.rs` | the built desktop (`ui/dist`), `index.html` for client-side routes |
//!
//! Errors become responses in one place, [`error`]. Handlers reach the kernel
//! through the one [`KernelLink`] in [`AppState`].
//!
//! # Shutdown
//!
//! [`serve`] stops accepting when its shutdown future resolves, lets open requests
//! finish for a grace period, then drops the connections that are left (a
//! long-lived stream must not keep `agentos` from stopping the kernel).

mod api;
pub mod error;
pub mod health;
pub mod ui;

use std::{future::Future, io, sync::Arc, time::Duration};

use axum::{Router, routing::get};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use ui::Ui;

use crate::kernel::KernelLink;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub kernel: Arc<KernelLink>,
}

/// The whole application: `/health`, `/api`, and the desktop's files.
pub fn router(state: AppState, ui: &Ui) -> Router {
    let app = Router::new()
        .route("/health", get(health::handler))
        .nest("/api", api::router())
        .with_state(state);
    ui.mount(app).layer(TraceLayer::new_for_http())
}

/// Serves `app` on `listener` until `shutdown` resolves, then for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
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
