//! `GET /metrics`: Prometheus text, like `/health` open to any local caller that
//! passes the host guard (a scraper has no cookie). It holds the services' own
//! series and, merged below them, the kernel's (syscall and VFS latency, process
//! creations and exits, per-app CPU, memory and pids, event drops and sampling
//! rates): one scrape for the whole system. Per-app series name the app and its
//! pid, never what the app holds.

use std::time::Duration;

use axum::{extract::State, http::header, response::IntoResponse};

use super::AppState;

/// How long a scrape waits for the kernel's part.
const KERNEL_TIMEOUT: Duration = Duration::from_secs(1);

/// Prometheus text exposition of the services' and the kernel's metrics.
#[utoipa::path(get, path = "/metrics", tag = "system", security(()),
    responses((status = 200, description = "Prometheus text exposition (version 0.0.4): the services' series, `agentos_kernel_up`, and the kernel's series when it answers", content_type = "text/plain")))]
pub(super) async fn handler(State(state): State<AppState>) -> impl IntoResponse {
    let mut text = state.metrics.render(state.apps.count());
    let kernel = state.kernel.metrics(KERNEL_TIMEOUT).await;
    crate::metrics::append_kernel(&mut text, kernel.as_deref().map_err(ToString::to_string));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
