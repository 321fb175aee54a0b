//! Saved workspaces per user: the running apps (their definitions, window geometry
//! and state, focus, parent links), each app's component state and the chat
//! history, restored later, even after both daemons restart.
//!
//! Plain Rust, no HTTP. A session is one JSON file in the kernel's filesystem,
//! `/.agentos/users/<user id>/sessions/<session id>.json`, replaced atomically by
//! the kernel's write (temp file, fsync, rename), so a crash mid-save leaves the
//! previous save readable. Restoring relaunches every app, native processes with
//! the same manifest (grants and limits), and gives focus back to the app that had it.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{
    apps::{App, AppError, AppSource, Apps, LaunchOptions, Window},
    kernel::{KernelLink, LinkError},
    registry::{user_dir, valid_id},
};

/// The id `save-default` saves under.
pub const DEFAULT_ID: &str = "default";

/// One app of a saved session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SavedApp {
    /// The instance id it had when saved (parents refer to it).
    pub id: String,
    pub app_id: String,
    pub name: String,
    #[serde(rename = "parent_id")]
    pub parent: Option<String>,
    pub window: Window,
    pub focused: bool,
    pub source: AppSource,
    /// The app's component state, as the desktop sent it.
    #[schema(value_type = Object)]
    pub state: Option<Value>,
}

/// A saved workspace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    pub id: String,
    pub name: String,
    pub saved_unix_ms: u64,
    pub apps: Vec<SavedApp>,
    /// The chat history, as the desktop sent it.
    #[schema(value_type = Vec<Object>)]
    pub chat: Vec<Value>,
}

/// A session without its content, for listings.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct SessionSummary {
    pub id: String,
    pub name: String,
    pub saved_unix_ms: u64,
    pub apps: usize,
}

impl Session {
    pub fn summary(&self) -> SessionSummary {
        SessionSummary {
            id: self.id.clone(),
            name: self.name.clone(),
            saved_unix_ms: self.saved_unix_ms,
            apps: self.apps.len(),
        }
    }
}

/// What the desktop adds to a save: a name, per-app state and the chat.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveRequest {
    pub name: Option<String>,
    /// Component state by running app id.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub state: BTreeMap<String, Value>,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub chat: Vec<Value>,
}

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no session {0:?}")]
    NotFound(String),
    #[error("the session file {path} is damaged: {message}")]
    Corrupt { path: String, message: String },
    #[error(transparent)]
    Kernel(#[from] LinkError),
    #[error(transparent)]
    App(#[from] AppError),
}

/// Saved sessions, stored through the kernel.
pub struct Sessions {
    kernel: Arc<KernelLink>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Sessions {
    pub fn new(kernel: Arc<KernelLink>) -> Self {
        Self { kernel }
    }

    fn path(user: &str, id: &str) -> String {
        format!("{}/{id}.json", user_dir(user, "sessions"))
    }

    /// Saves `user`'s running apps as session `id` (a new id when `None`).
    pub async fn save(
        &self,
        user: &str,
        id: Option<&str>,
        running: Vec<App>,
        mut req: SaveRequest,
    ) -> Result<Session, SessionError> {
        let id = id.map_or_else(
            || format!("s{}", crate::auth::token::random_hex(6)),
            str::to_owned,
        );
        let apps = running
            .into_iter()
            .map(|a| SavedApp {
                state: req.state.remove(&a.id),
                id: a.id,
                app_id: a.app_id,
                name: a.name,
                parent: a.parent,
                window: a.window,
                focused: a.focused,
                source: a.source,
            })
            .collect();
        let session = Session {
            name: req.name.unwrap_or_else(|| id.clone()),
            id,
            saved_unix_ms: now_ms(),
            apps,
            chat: req.chat,
        };
        let json = serde_json::to_vec_pretty(&session).expect("a session serializes");
        self.kernel
            .write_file(&Self::path(user, &session.id), json)
            .await?;
        Ok(session)
    }

    /// Saves `user`'s running apps as the last session ([`DEFAULT_ID`], what sign-out
    /// saves and "Restore workspace" brings back), unless nothing is running: then the
    /// last session is kept as it was and `None` comes back. A user who signs out with
    /// every window closed expects the workspace they last worked in to come back, not
    /// an empty desk that restoring would then pick as the newest save.
    pub async fn save_last(
        &self,
        user: &str,
        running: Vec<App>,
        req: SaveRequest,
    ) -> Result<Option<Session>, SessionError> {
        if running.is_empty() {
            return Ok(None);
        }
        self.save(user, Some(DEFAULT_ID), running, req)
            .await
            .map(Some)
    }

    /// One session.
    pub async fn get(&self, user: &str, id: &str) -> Result<Session, SessionError> {
        if !valid_id(id) {
            return Err(SessionError::NotFound(id.to_owned()));
        }
        let path = Self::path(user, id);
        let bytes = self
            .kernel
            .read_file(&path)
            .await?
            .ok_or_else(|| SessionError::NotFound(id.to_owned()))?;
        serde_json::from_slice(&bytes).map_err(|e| SessionError::Corrupt {
            path,
            message: e.to_string(),
        })
    }

    /// The user's sessions, newest first.
    pub async fn list(&self, user: &str) -> Result<Vec<SessionSummary>, SessionError> {
        let mut out = Vec::new();
        for name in self.kernel.list_files(&user_dir(user, "sessions")).await? {
            let Some(id) = name.strip_suffix(".json") else {
                continue;
            };
            match self.get(user, id).await {
                Ok(s) => out.push(s.summary()),
                Err(e) => tracing::warn!("sessions: {e}"),
            }
        }
        out.sort_by_key(|s| std::cmp::Reverse(s.saved_unix_ms));
        Ok(out)
    }

    /// Deletes a session.
    pub async fn delete(&self, user: &str, id: &str) -> Result<(), SessionError> {
        if valid_id(id) && self.kernel.delete_file(&Self::path(user, id)).await? {
            Ok(())
        } else {
            Err(SessionError::NotFound(id.to_owned()))
        }
    }

    /// Replaces the user's running apps with the session's; the apps now running.
    ///
    /// Parents are launched before their children; the app that had focus gets it.
    pub async fn restore(
        &self,
        apps: &Apps,
        user: &str,
        id: &str,
    ) -> Result<(Session, Vec<App>), SessionError> {
        let session = self.get(user, id).await?;
        apps.close_all(user).await;
        let mut new_ids: BTreeMap<String, String> = BTreeMap::new();
        let mut pending: Vec<&SavedApp> = session.apps.iter().collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut rest = Vec::new();
            for saved in pending {
                let parent = match &saved.parent {
                    None => None,
                    Some(p) if new_ids.contains_key(p) => Some(new_ids[p].clone()),
                    // A parent that is not in the session: restore as a top-level app.
                    Some(p) if !session.apps.iter().any(|a| &a.id == p) => None,
                    Some(_) => {
                        rest.push(saved);
                        continue;
                    }
                };
                let app = apps
                    .launch(
                        user,
                        saved.source.clone(),
                        LaunchOptions {
                            parent,
                            window: Some(saved.window),
                            restored: true,
                        },
                    )
                    .await?;
                new_ids.insert(saved.id.clone(), app.id);
            }
            if rest.len() == before {
                break; // A parent cycle in a hand-edited file; leave those out.
            }
            pending = rest;
        }
        if let Some(focused) = session.apps.iter().find(|a| a.focused)
            && let Some(id) = new_ids.get(&focused.id)
        {
            apps.focus(user, id).await?;
        }
        // Windows keep their saved state (a minimised one stays minimised).
        for saved in &session.apps {
            if let Some(id) = new_ids.get(&saved.id) {
                let patch = crate::apps::WindowPatch {
                    state: Some(saved.window.state),
                    ..Default::default()
                };
                apps.update_window(user, id, patch).await?;
            }
        }
        Ok((session, apps.list(user)))
    }
}
