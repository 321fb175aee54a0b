//! Running apps: one lifecycle for the three app types (Blueprint, native web,
//! native process), with parent/child relations, focus and window state.
//!
//! Plain Rust, no HTTP: the `http::apps` router calls in here. Every app belongs
//! to the user who launched it; another user's app is "not found" to the caller.
//!
//! * A **native process** app is spawned by the kernel (`CreateProcess`, sandboxed
//!   with its manifest's grants and limits) and killed, with its process tree, when
//!   the app closes.
//! * **Focus** goes to one app per user and raises it (z-order). For apps that own
//!   a process, it also reaches the kernel's scheduler (`set_focus`): the focused
//!   process becomes foreground, the one that lost focus background, and a
//!   minimised window's process minimised.
//! * **Closing** an app closes its children first (depth first).
//! * **Windows** are placed by the desktop, which knows the screen: a new app's window
//!   has no rect until the desktop reports one (`update_window`), a restored one keeps
//!   its saved rect. The server only keeps what it is told, and the z-order.
//!
//! The table lives in memory: apps run as long as `agentos up` does; sessions
//! (`crate::sessions`) are how a workspace outlives it.

pub mod access;
pub mod denials;
pub mod native;
pub mod process;
pub mod web;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use agentos_client::{CallError, pb};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;
use utoipa::ToSchema;

pub use denials::{Denial, GrantScope};
pub use native::NativeManifest;
pub use process::{Logs, ProcEvent, ProcessIo};

use crate::kernel::{KernelLink, LinkError};

/// How long a kernel call made for an app may take.
const KERNEL_TIMEOUT: Duration = Duration::from_secs(10);

/// The three kinds of app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    /// A JSON Blueprint, rendered by the desktop.
    Blueprint,
    /// A React module in `apps/native/<id>/`, loaded by the desktop.
    NativeWeb,
    /// A sandboxed process run by the kernel.
    NativeProcess,
}

/// A window's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WindowState {
    #[default]
    Normal,
    Minimised,
    Maximised,
}

/// Where a window is and how big, in CSS pixels of the desktop's viewport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

/// A window: where it is (once the desktop has placed it), its state, and `z`, which
/// orders windows (higher is in front).
///
/// The server invents no geometry: a new app's window has no `rect` until the desktop,
/// which knows the screen and cascades its windows, reports one. A saved session keeps
/// the rect it had, and a restored app gets it back as it was.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WindowWire", into = "WindowWire")]
pub struct Window {
    pub rect: Option<Rect>,
    pub state: WindowState,
    pub z: u64,
}

/// A window on the wire: the rect's four fields flat beside `state` and `z` (the shape
/// saved sessions have always had), all four or none (a window not placed yet).
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(
    description = "A window: `x`, `y`, `width` and `height` (CSS px) once the desktop has \
                   placed it, all four or none (a new app's window has none until the \
                   desktop reports where it put it); `state`; `z` orders windows (higher \
                   is in front)."
)]
struct WindowWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    y: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    height: Option<u32>,
    #[serde(default)]
    state: WindowState,
    #[serde(default)]
    z: u64,
}

/// Why a window's rect was refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "a window's x, y, width and height come together: give all four, or none for a window \
     the desktop has not placed yet"
)]
pub struct PartialRect;

impl TryFrom<WindowWire> for Window {
    type Error = PartialRect;

    fn try_from(w: WindowWire) -> Result<Self, PartialRect> {
        let rect = match (w.x, w.y, w.width, w.height) {
            (Some(x), Some(y), Some(width), Some(height)) => Some(Rect {
                x,
                y,
                width,
                height,
            }),
            (None, None, None, None) => None,
            _ => return Err(PartialRect),
        };
        Ok(Self {
            rect,
            state: w.state,
            z: w.z,
        })
    }
}

impl From<Window> for WindowWire {
    fn from(w: Window) -> Self {
        Self {
            x: w.rect.map(|r| r.x),
            y: w.rect.map(|r| r.y),
            width: w.rect.map(|r| r.width),
            height: w.rect.map(|r| r.height),
            state: w.state,
            z: w.z,
        }
    }
}

// The published schema of `Window` is its wire form's.
impl utoipa::PartialSchema for Window {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        WindowWire::schema()
    }
}

impl ToSchema for Window {
    fn name() -> std::borrow::Cow<'static, str> {
        "Window".into()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        WindowWire::schemas(schemas);
    }
}

/// A change to a window: only the fields given change. A window not placed yet takes
/// its first rect whole (`x`, `y`, `width` and `height` together).
#[derive(Clone, Copy, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowPatch {
    pub x: Option<i32>,
    pub y: Option<i32>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub state: Option<WindowState>,
}

impl WindowPatch {
    /// `rect` with this patch's fields: a placed window moves or resizes field by
    /// field; one not placed yet needs all four, or none.
    fn apply_to(&self, rect: Option<Rect>) -> Result<Option<Rect>, PartialRect> {
        match (rect, self.x, self.y, self.width, self.height) {
            (Some(r), x, y, width, height) => Ok(Some(Rect {
                x: x.unwrap_or(r.x),
                y: y.unwrap_or(r.y),
                width: width.unwrap_or(r.width),
                height: height.unwrap_or(r.height),
            })),
            (None, Some(x), Some(y), Some(width), Some(height)) => Ok(Some(Rect {
                x,
                y,
                width,
                height,
            })),
            (None, None, None, None, None) => Ok(None),
            (None, ..) => Err(PartialRect),
        }
    }
}

/// What to run: the definition of an app, resolved from the registry or given inline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AppSource {
    Blueprint {
        #[schema(value_type = Object)]
        blueprint: Value,
    },
    NativeWeb {
        id: String,
        /// Its `apps/native/<id>/manifest.json` (absent for one the desktop only knows).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        manifest: Option<Box<web::WebManifest>>,
    },
    NativeProcess {
        manifest: Box<NativeManifest>,
    },
}

impl AppSource {
    pub fn kind(&self) -> AppKind {
        match self {
            Self::Blueprint { .. } => AppKind::Blueprint,
            Self::NativeWeb { .. } => AppKind::NativeWeb,
            Self::NativeProcess { .. } => AppKind::NativeProcess,
        }
    }
}

/// A running app.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct App {
    /// This instance's id (`a1`, `a2`...).
    pub id: String,
    /// The app's own id (`app.id`, the manifest's `id`).
    pub app_id: String,
    pub name: String,
    pub kind: AppKind,
    /// The running app this one is a child of.
    #[serde(rename = "parent_id")]
    pub parent: Option<String>,
    pub children: Vec<String>,
    pub window: Window,
    pub focused: bool,
    /// The kernel pid of a native process app.
    pub pid: Option<u32>,
    pub started_unix_ms: u64,
    /// The definition it was launched from (kept for sessions).
    pub source: AppSource,
    #[serde(skip)]
    pub(crate) owner: String,
}

/// What happened to an app, for the WebSocket's `app_event` messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppEventKind {
    Launched,
    Focused,
    Window,
    Closed,
}

/// One change to one app, sent to its owner's WebSocket connections.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AppEvent {
    pub event: AppEventKind,
    /// The running app's id.
    pub app_id: String,
    /// The app after the change (absent once closed).
    pub data: Option<App>,
    #[serde(skip)]
    pub owner: String,
}

/// Events buffered per subscriber before a slow one starts missing some.
const EVENT_BUFFER: usize = 256;

/// Why an app operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("no running app {0:?}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    InvalidBlueprint(String),
    #[error(transparent)]
    Kernel(#[from] LinkError),
    #[error("the kernel refused to start {app}: {source}")]
    Spawn {
        app: String,
        #[source]
        source: LinkError,
    },
}

/// What a launch needs besides the definition.
#[derive(Clone, Debug, Default)]
pub struct LaunchOptions {
    pub parent: Option<String>,
    pub window: Option<Window>,
    /// A saved session's app coming back: it keeps the grants it was saved with and
    /// gets no default grants (those are for new apps).
    pub restored: bool,
}

#[derive(Default)]
struct Table {
    apps: BTreeMap<String, App>,
    /// The I/O of native-process apps, by app id.
    io: BTreeMap<String, Arc<ProcessIo>>,
    /// The last denials of each app, by app id.
    denials: BTreeMap<String, denials::Kept>,
    next_id: u64,
    next_z: u64,
}

/// The running apps of every user.
pub struct Apps {
    kernel: Arc<KernelLink>,
    table: Mutex<Table>,
    events: broadcast::Sender<AppEvent>,
    denials: broadcast::Sender<Denial>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Apps {
    pub fn new(kernel: Arc<KernelLink>) -> Self {
        Self {
            kernel,
            table: Mutex::new(Table::default()),
            events: broadcast::channel(EVENT_BUFFER).0,
            denials: broadcast::channel(EVENT_BUFFER).0,
        }
    }

    /// Every app event from now on (of all users: filter on `owner`).
    pub fn subscribe(&self) -> broadcast::Receiver<AppEvent> {
        self.events.subscribe()
    }

    fn emit(&self, event: AppEventKind, app: &App, closed: bool) {
        // No subscriber is not an error.
        let _ = self.events.send(AppEvent {
            event,
            app_id: app.id.clone(),
            data: (!closed).then(|| app.clone()),
            owner: app.owner.clone(),
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many apps run, of all users.
    pub fn count(&self) -> usize {
        self.lock().apps.len()
    }

    /// `owner`'s apps, in launch order.
    pub fn list(&self, owner: &str) -> Vec<App> {
        let t = self.lock();
        let mut apps: Vec<App> = t
            .apps
            .values()
            .filter(|a| a.owner == owner)
            .cloned()
            .collect();
        apps.sort_by_key(|a| id_number(&a.id));
        apps
    }

    /// One of `owner`'s apps.
    pub fn get(&self, owner: &str, id: &str) -> Result<App, AppError> {
        self.lock()
            .apps
            .get(id)
            .filter(|a| a.owner == owner)
            .cloned()
            .ok_or_else(|| AppError::NotFound(id.to_owned()))
    }

    /// Starts an app for `owner`; it gets focus.
    pub async fn launch(
        &self,
        owner: &str,
        source: AppSource,
        opts: LaunchOptions,
    ) -> Result<App, AppError> {
        if let Some(parent) = &opts.parent {
            self.get(owner, parent)?;
        }
        let (app_id, name) = match &source {
            AppSource::Blueprint { blueprint } => {
                let meta = crate::registry::check_blueprint(blueprint)
                    .map_err(AppError::InvalidBlueprint)?;
                (meta.id, meta.name)
            }
            AppSource::NativeWeb { id, manifest } => (
                id.clone(),
                manifest
                    .as_ref()
                    .map_or_else(|| id.clone(), |m| m.name.clone()),
            ),
            AppSource::NativeProcess { manifest } => (manifest.id.clone(), manifest.name.clone()),
        };
        let mut source = source;
        if let AppSource::NativeProcess { manifest } = &mut source
            && !opts.restored
        {
            self.add_default_grants(owner, manifest).await;
        }
        let io = match &source {
            AppSource::NativeProcess { manifest } => Some(self.spawn(manifest).await.map_err(
                |source| AppError::Spawn {
                    app: app_id.clone(),
                    source,
                },
            )?),
            _ => None,
        };
        let pid = io.as_ref().map(|io| io.pid);
        let app = {
            let mut t = self.lock();
            t.next_id += 1;
            let id = format!("a{}", t.next_id);
            let app = App {
                id: id.clone(),
                app_id,
                name,
                kind: source.kind(),
                parent: opts.parent.clone(),
                children: Vec::new(),
                window: opts.window.unwrap_or_default(),
                focused: false,
                pid,
                started_unix_ms: now_ms(),
                source,
                owner: owner.to_owned(),
            };
            if let Some(parent) = opts.parent.as_ref().and_then(|p| t.apps.get_mut(p)) {
                parent.children.push(id.clone());
            }
            if let Some(io) = io {
                t.io.insert(id.clone(), io);
            }
            t.apps.insert(id, app.clone());
            app
        };
        self.emit(AppEventKind::Launched, &app, false);
        self.focus(owner, &app.id).await
    }

    /// Gives `id` the focus of its owner's desktop and raises it.
    pub async fn focus(&self, owner: &str, id: &str) -> Result<App, AppError> {
        let (app, lost) = {
            let mut t = self.lock();
            if t.apps.get(id).is_none_or(|a| a.owner != owner) {
                return Err(AppError::NotFound(id.to_owned()));
            }
            t.next_z += 1;
            let z = t.next_z;
            let mut lost = Vec::new();
            for a in t.apps.values_mut().filter(|a| a.owner == owner) {
                if a.id == id {
                    a.focused = true;
                    a.window.z = z;
                    if a.window.state == WindowState::Minimised {
                        a.window.state = WindowState::Normal;
                    }
                } else if a.focused {
                    a.focused = false;
                    lost.extend(a.pid);
                }
            }
            (t.apps[id].clone(), lost)
        };
        self.emit(AppEventKind::Focused, &app, false);
        for pid in lost {
            self.set_focus(pid, pb::Visibility::Background).await;
        }
        if let Some(pid) = app.pid {
            self.set_focus(pid, pb::Visibility::Foreground).await;
        }
        Ok(app)
    }

    /// Moves, resizes, minimises or maximises a window.
    pub async fn update_window(
        &self,
        owner: &str,
        id: &str,
        patch: WindowPatch,
    ) -> Result<App, AppError> {
        if patch.width == Some(0) || patch.height == Some(0) {
            return Err(AppError::Invalid("width and height must be above 0".into()));
        }
        let app = {
            let mut t = self.lock();
            let a = t
                .apps
                .get_mut(id)
                .filter(|a| a.owner == owner)
                .ok_or_else(|| AppError::NotFound(id.to_owned()))?;
            let w = &mut a.window;
            w.rect = patch
                .apply_to(w.rect)
                .map_err(|e| AppError::Invalid(e.to_string()))?;
            w.state = patch.state.unwrap_or(w.state);
            if w.state == WindowState::Minimised {
                a.focused = false;
            }
            a.clone()
        };
        self.emit(AppEventKind::Window, &app, false);
        if let (Some(pid), Some(state)) = (app.pid, patch.state) {
            let v = match (state, app.focused) {
                (WindowState::Minimised, _) => pb::Visibility::Minimised,
                (_, true) => pb::Visibility::Foreground,
                (_, false) => pb::Visibility::Background,
            };
            self.set_focus(pid, v).await;
        }
        Ok(app)
    }

    /// Closes `id` and, first, its children; the closed ids, children first.
    pub async fn close(&self, owner: &str, id: &str) -> Result<Vec<String>, AppError> {
        let closed = {
            let mut t = self.lock();
            if t.apps.get(id).is_none_or(|a| a.owner != owner) {
                return Err(AppError::NotFound(id.to_owned()));
            }
            let mut order = Vec::new();
            collect_depth_first(&t.apps, id, &mut order);
            let closed: Vec<App> = order.iter().filter_map(|i| t.apps.remove(i)).collect();
            for i in &order {
                t.io.remove(i);
                t.denials.remove(i);
            }
            if let Some(parent) = closed
                .last()
                .and_then(|a| a.parent.clone())
                .and_then(|p| t.apps.get_mut(&p))
            {
                parent.children.retain(|c| c != id);
            }
            closed
        };
        for a in &closed {
            self.emit(AppEventKind::Closed, a, true);
        }
        for pid in closed.iter().filter_map(|a| a.pid) {
            self.kill(pid).await;
        }
        Ok(closed.into_iter().map(|a| a.id).collect())
    }

    /// Closes every app of every user (when the services stop).
    pub async fn shutdown(&self) {
        let closed: Vec<App> = {
            let mut t = self.lock();
            t.io.clear();
            t.denials.clear();
            std::mem::take(&mut t.apps).into_values().collect()
        };
        for pid in closed.iter().filter_map(|a| a.pid) {
            self.kill(pid).await;
        }
    }

    /// Closes every app of `owner` (their processes are killed, as at sign-out);
    /// the ids closed, each tree children first.
    pub async fn close_all(&self, owner: &str) -> Vec<String> {
        let roots: Vec<String> = self
            .list(owner)
            .into_iter()
            .filter(|a| a.parent.is_none())
            .map(|a| a.id)
            .collect();
        let mut closed = Vec::new();
        for id in roots {
            // Gone already (closed at the same moment by another request): nothing to do.
            if let Ok(ids) = self.close(owner, &id).await {
                closed.extend(ids);
            }
        }
        closed
    }

    /// The I/O of one of `owner`'s native-process apps.
    pub fn io(&self, owner: &str, id: &str) -> Result<Arc<ProcessIo>, AppError> {
        let t = self.lock();
        if t.apps.get(id).is_none_or(|a| a.owner != owner) {
            return Err(AppError::NotFound(id.to_owned()));
        }
        t.io.get(id).cloned().ok_or_else(|| {
            AppError::Invalid(format!(
                "{id} is not a native process app; it has no output"
            ))
        })
    }

    /// Adds `owner`'s default grants (their settings) to a new app's manifest, the
    /// sandbox request's capabilities, so the process is spawned with them and a
    /// saved session keeps them. Unreadable settings launch it without, said in the log.
    async fn add_default_grants(&self, owner: &str, manifest: &mut NativeManifest) {
        match crate::settings::load(&self.kernel, owner).await {
            Ok(settings) => {
                for g in settings.default_grants {
                    if !manifest.grants.contains(&g) {
                        manifest.grants.push(g);
                    }
                }
            }
            Err(e) => tracing::warn!(
                "launching {} without {owner}'s default grants: {e}",
                manifest.id
            ),
        }
    }

    /// Spawns a manifest's process and attaches to its I/O.
    async fn spawn(&self, manifest: &NativeManifest) -> Result<Arc<ProcessIo>, LinkError> {
        let mut spec = manifest.spec(24, 80);
        native::expose_cli(&mut spec);
        let info = self
            .kernel
            .call("CreateProcess", KERNEL_TIMEOUT, |mut c| async move {
                c.create_process(pb::SpawnProcess { spec: Some(spec) })
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(CallError::from)
            })
            .await?;
        let pid = info.pid;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tx.send(pb::ProcessInput {
            msg: Some(pb::process_input::Msg::Attach(pid)),
        })
        .await
        .expect("the receiver is alive");
        let output = self
            .kernel
            .call("ProcessIo", KERNEL_TIMEOUT, |mut c| async move {
                c.process_io(tokio_stream::wrappers::ReceiverStream::new(rx))
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(CallError::from)
            })
            .await;
        match output {
            Ok(output) => Ok(ProcessIo::start(pid, tx, output)),
            Err(e) => {
                self.kill(pid).await;
                Err(e)
            }
        }
    }

    async fn set_focus(&self, pid: u32, visibility: pb::Visibility) {
        let call = pb::syscall::Call::SetFocus(pb::SetFocus {
            pid,
            visibility: visibility as i32,
        });
        let r = self
            .kernel
            .call("set_focus", KERNEL_TIMEOUT, |mut c| async move {
                c.call(call).await.map(drop)
            })
            .await;
        // Focus is advice to the scheduler: a process that just exited has none to take.
        if let Err(e) = r {
            tracing::debug!("set_focus({pid}, {visibility:?}): {e}");
        }
    }

    async fn kill(&self, pid: u32) {
        let call = pb::syscall::Call::Kill(pb::KillProcess {
            pid,
            signal: 9,
            tree: true,
        });
        let r = self
            .kernel
            .call("kill", KERNEL_TIMEOUT, |mut c| async move {
                c.call(call).await.map(drop)
            })
            .await;
        if let Err(e) = r {
            tracing::debug!("kill({pid}): {e}");
        }
    }
}

fn collect_depth_first(apps: &BTreeMap<String, App>, id: &str, out: &mut Vec<String>) {
    if let Some(a) = apps.get(id) {
        for c in &a.children {
            collect_depth_first(apps, c, out);
        }
        out.push(id.to_owned());
    }
}

fn id_number(id: &str) -> u64 {
    id.trim_start_matches('a').parse().unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn apps() -> Apps {
        // No kernel answers here: only Blueprint apps, which need none.
        Apps::new(Arc::new(KernelLink::new("/nonexistent/kernel.sock".into())))
    }

    fn bp(id: &str) -> AppSource {
        AppSource::Blueprint {
            blueprint: json!({"spec": "1.0",
                "app": {"id": id, "name": id.to_uppercase(), "version": "1.0.0"},
                "ui": {"title": id, "components": [{"type": "text", "id": "t", "props": {"text": id}}]}}),
        }
    }

    #[test]
    fn a_window_is_flat_on_the_wire_with_all_of_its_rect_or_none() {
        // The shape saved sessions have: read and written back exactly.
        let saved =
            json!({"x": -3, "y": 20, "width": 640, "height": 480, "state": "minimised", "z": 7});
        let w: Window = serde_json::from_value(saved.clone()).unwrap();
        assert_eq!(
            w.rect,
            Some(Rect {
                x: -3,
                y: 20,
                width: 640,
                height: 480
            })
        );
        assert_eq!(serde_json::to_value(w).unwrap(), saved);
        // Not placed yet: no geometry at all, not a made-up one.
        assert_eq!(
            serde_json::to_value(Window::default()).unwrap(),
            json!({"state": "normal", "z": 0})
        );
        let unplaced: Window = serde_json::from_value(json!({"state": "normal"})).unwrap();
        assert_eq!(unplaced.rect, None);
        let err = serde_json::from_value::<Window>(json!({"x": 1, "y": 2})).unwrap_err();
        assert!(err.to_string().contains("come together"), "{err}");
    }

    #[tokio::test]
    async fn launch_focus_window_and_close_with_children() {
        let apps = apps();
        let a = apps
            .launch("u1", bp("notes"), LaunchOptions::default())
            .await
            .unwrap();
        assert_eq!(
            (a.id.as_str(), a.name.as_str(), a.focused),
            ("a1", "NOTES", true)
        );
        let child = apps
            .launch(
                "u1",
                bp("dialog"),
                LaunchOptions {
                    parent: Some(a.id.clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let grandchild = apps
            .launch(
                "u1",
                bp("picker"),
                LaunchOptions {
                    parent: Some(child.id.clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(!apps.get("u1", &a.id).unwrap().focused);
        let refocused = apps.focus("u1", &a.id).await.unwrap();
        assert!(refocused.focused);
        assert!(refocused.window.z > grandchild.window.z);

        // A new app has no geometry until the desktop places it, and then all of it.
        assert_eq!(a.window.rect, None);
        let part = WindowPatch {
            x: Some(5),
            width: Some(300),
            state: Some(WindowState::Maximised),
            ..Default::default()
        };
        assert!(matches!(
            apps.update_window("u1", &a.id, part).await,
            Err(AppError::Invalid(_))
        ));
        assert_eq!(apps.get("u1", &a.id).unwrap().window.rect, None);
        let placed = apps
            .update_window(
                "u1",
                &a.id,
                WindowPatch {
                    x: Some(40),
                    y: Some(50),
                    width: Some(600),
                    height: Some(400),
                    state: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            placed.window.rect,
            Some(Rect {
                x: 40,
                y: 50,
                width: 600,
                height: 400
            })
        );
        // Once placed, a window moves or resizes field by field.
        let w = apps.update_window("u1", &a.id, part).await.unwrap();
        assert_eq!(
            (w.window.rect, w.window.state),
            (
                Some(Rect {
                    x: 5,
                    y: 50,
                    width: 300,
                    height: 400
                }),
                WindowState::Maximised
            )
        );
        assert!(matches!(
            apps.update_window(
                "u1",
                &a.id,
                WindowPatch {
                    height: Some(0),
                    ..Default::default()
                }
            )
            .await,
            Err(AppError::Invalid(_))
        ));

        // Another user sees none of it.
        assert!(apps.list("u2").is_empty());
        assert!(matches!(
            apps.close("u2", &a.id).await,
            Err(AppError::NotFound(_))
        ));

        let closed = apps.close("u1", &a.id).await.unwrap();
        assert_eq!(closed, [grandchild.id, child.id, a.id]);
        assert_eq!(apps.count(), 0);
    }

    #[tokio::test]
    async fn an_invalid_blueprint_or_parent_is_refused() {
        let apps = apps();
        let bad = AppSource::Blueprint {
            blueprint: json!({"ui": {}}),
        };
        assert!(matches!(
            apps.launch("u1", bad, LaunchOptions::default()).await,
            Err(AppError::InvalidBlueprint(_))
        ));
        let orphan = LaunchOptions {
            parent: Some("a99".into()),
            ..Default::default()
        };
        assert!(matches!(
            apps.launch("u1", bp("x"), orphan).await,
            Err(AppError::NotFound(_))
        ));
    }
}
