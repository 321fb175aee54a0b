//! Tools: what a Blueprint's events call, and the checks before each call.
//!
//! This module owns the catalogue of tools ([`ToolRegistry`]: id, description,
//! argument schema, permission), the runner that checks and dispatches a call
//! ([`Tools`]), and the pure tools: `math.*` ([`math`]) and `ui.*` on a per-app
//! component-state map ([`UiState`]). Tools that reach outside (`storage.*`, `fs.*`,
//! `system.*`, `app.*`, `http.*`) go through the [`ToolHost`] trait, which the HTTP
//! layer implements over the kernel; [`RecordingHost`] is an in-memory fake for tests.
//!
//! # Permissions
//!
//! Each namespace but `ui` and `math` needs a permission the calling app's Blueprint
//! declares (`fs` → `filesystem`, `storage` → `storage`, `http` → `network`,
//! `system` → `system`, `app` → `apps`), checked before anything else; `http.*` may
//! only reach the hosts the app is allowed. The Blueprint parser applies the same
//! rule to `on_event` bindings, so a refused call at run time means the caller passed
//! a context that differs from the app's Blueprint.

mod call;
mod host;
pub mod math;
mod recording;
mod registry;
mod ui;

pub use call::{CallContext, ToolError, Tools};
pub use host::{
    DirEntry, Found, HostError, HttpMethod, HttpRequest, HttpResponse, LogLevel, ToolHost,
};
pub use math::MathError;
pub use recording::{HostCall, RecordingHost};
pub use registry::{ToolRegistry, ToolSpec, namespace_permission};
pub use ui::{ComponentState, UiChange, UiState, primary_prop};

#[cfg(test)]
mod tests;
