//! The app registry: what a user can launch, with categories, versions and search.
//!
//! Plain Rust, no HTTP. Two sources, one list:
//!
//! * **Built-in** apps, read once at start from the apps directory
//!   (`apps/blueprint/**/*.bp`, `apps/native-proc/<id>/manifest.json`); a file that
//!   does not parse is logged and listed in [`Registry::problems`], never fatal.
//!   Built-ins cannot be deleted.
//! * **Saved** apps, per user, as JSON files in the kernel's filesystem under
//!   `/.agentos/users/<user id>/registry/<app id>.json`, written atomically by the
//!   kernel. A saved app with a built-in's id shadows it for that user.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{
    apps::{AppSource, NativeManifest, native, web},
    kernel::{KernelLink, LinkError},
};

/// Where the services keep their files in the kernel's filesystem.
pub const STATE_ROOT: &str = "/.agentos/users";

/// A user's directory of `what` (`registry`, `sessions`) in the kernel's filesystem.
pub fn user_dir(user_id: &str, what: &str) -> String {
    format!("{STATE_ROOT}/{user_id}/{what}")
}

/// Whether `id` may name an app or a session: 1 to 64 of `A-Za-z0-9._-`, not
/// starting with a dot (it becomes a file name).
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// What the registry and the launcher need to know of a Blueprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlueprintMeta {
    pub id: String,
    pub name: String,
    pub category: String,
    pub version: String,
}

/// Validates a Blueprint with the Blueprint parser and reads its `app` object;
/// the parser's message (JSON path and reason) when it is not valid.
///
/// The one place the edge calls into `crate::blueprint`, and only its
/// `parse(&str)`, so the domain module can replace the placeholder unchanged.
pub fn check_blueprint(blueprint: &Value) -> Result<BlueprintMeta, String> {
    crate::blueprint::parse(&blueprint.to_string())
        .map_err(|e| format!("invalid Blueprint: {e}"))?;
    let text = |k: &str, default: &str| {
        blueprint["app"][k]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or(default)
            .to_owned()
    };
    let id = text("id", "");
    if !valid_id(&id) {
        return Err(format!(
            "invalid Blueprint: app.id {id:?} is not a valid app id"
        ));
    }
    Ok(BlueprintMeta {
        name: text("name", &id),
        category: text("category", "other"),
        version: text("version", "1.0.0"),
        id,
    })
}

/// One launchable app.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Entry {
    pub id: String,
    pub name: String,
    pub category: String,
    pub version: String,
    /// Shipped with AgentOS (cannot be deleted) rather than saved by the user.
    pub builtin: bool,
    pub source: AppSource,
}

/// An entry without its definition, for listings.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Summary {
    pub id: String,
    pub name: String,
    pub category: String,
    pub version: String,
    pub builtin: bool,
    pub kind: crate::apps::AppKind,
    /// The icon its Blueprint (`app.icon`) or web manifest names; absent when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// What its Blueprint (`app.description`) or web manifest says it does, which the App Store shows
    /// and the launcher searches; absent when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Entry {
    pub fn summary(&self) -> Summary {
        let description = match &self.source {
            AppSource::Blueprint { blueprint } => blueprint["app"]["description"].as_str(),
            AppSource::NativeWeb {
                manifest: Some(m), ..
            } => m.description.as_deref(),
            AppSource::NativeProcess { manifest } => manifest.description.as_deref(),
            AppSource::NativeWeb { .. } => None,
        }
        .filter(|d| !d.trim().is_empty())
        .map(str::to_owned);
        let icon = match &self.source {
            AppSource::Blueprint { blueprint } => {
                blueprint["app"]["icon"].as_str().map(str::to_owned)
            }
            AppSource::NativeWeb {
                manifest: Some(m), ..
            } => m.icon.clone(),
            AppSource::NativeWeb { .. } | AppSource::NativeProcess { .. } => None,
        };
        Summary {
            id: self.id.clone(),
            name: self.name.clone(),
            category: self.category.clone(),
            version: self.version.clone(),
            builtin: self.builtin,
            kind: self.source.kind(),
            icon: icon.filter(|i| !i.is_empty()),
            description,
        }
    }

    /// An entry from a Blueprint's JSON (its `app` object names it).
    pub fn from_blueprint(blueprint: Value, builtin: bool) -> Result<Self, RegistryError> {
        let meta = check_blueprint(&blueprint).map_err(RegistryError::Invalid)?;
        Ok(Self {
            id: meta.id,
            name: meta.name,
            category: meta.category,
            version: meta.version,
            builtin,
            source: AppSource::Blueprint { blueprint },
        })
    }

    fn from_web_manifest(m: web::WebManifest) -> Self {
        Self {
            id: m.id.clone(),
            name: m.name.clone(),
            category: m.category.clone().unwrap_or_else(|| "system".into()),
            version: m.version.clone().unwrap_or_else(|| "1.0.0".into()),
            builtin: true,
            source: AppSource::NativeWeb {
                id: m.id.clone(),
                manifest: Some(Box::new(m)),
            },
        }
    }

    fn from_manifest(m: NativeManifest) -> Self {
        Self {
            id: m.id.clone(),
            name: m.name.clone(),
            category: m.category.clone().unwrap_or_else(|| "system".into()),
            version: m.version.clone().unwrap_or_else(|| "1.0.0".into()),
            builtin: true,
            source: AppSource::NativeProcess {
                manifest: Box::new(m),
            },
        }
    }
}

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("no app {0:?} in the registry")]
    NotFound(String),
    #[error("{0} is built in and cannot be deleted")]
    BuiltIn(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the registry file {path} is damaged: {message}")]
    Corrupt { path: String, message: String },
    #[error(transparent)]
    Kernel(#[from] LinkError),
}

/// A filter for [`Registry::list`].
#[derive(Clone, Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
pub struct Filter {
    /// Only apps of this category.
    pub category: Option<String>,
    /// Only apps whose id, name or category contains this (case-insensitive).
    pub search: Option<String>,
}

/// Built-in and saved apps.
pub struct Registry {
    kernel: Arc<KernelLink>,
    builtin: Vec<Entry>,
    problems: Vec<String>,
}

impl Registry {
    /// The registry with the built-ins of `apps_dir` (none when `None`).
    pub fn new(kernel: Arc<KernelLink>, apps_dir: Option<&Path>) -> Self {
        let (builtin, problems) = apps_dir.map(load_builtin).unwrap_or_default();
        for p in &problems {
            tracing::warn!("registry: skipped {p}");
        }
        Self {
            kernel,
            builtin,
            problems,
        }
    }

    /// Files of the apps directory that could not be loaded, and why.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// Saves (or replaces) a user's app.
    pub async fn save(&self, user: &str, mut entry: Entry) -> Result<Entry, RegistryError> {
        entry.builtin = false;
        let path = format!("{}/{}.json", user_dir(user, "registry"), entry.id);
        let json = serde_json::to_vec_pretty(&entry).expect("an entry serializes");
        self.kernel.write_file(&path, json).await?;
        Ok(entry)
    }

    /// One app: the user's saved one, else the built-in.
    pub async fn get(&self, user: &str, id: &str) -> Result<Entry, RegistryError> {
        if !valid_id(id) {
            return Err(RegistryError::NotFound(id.to_owned()));
        }
        let path = format!("{}/{id}.json", user_dir(user, "registry"));
        if let Some(bytes) = self.kernel.read_file(&path).await? {
            return serde_json::from_slice(&bytes).map_err(|e| RegistryError::Corrupt {
                path,
                message: e.to_string(),
            });
        }
        self.builtin
            .iter()
            .find(|e| e.id == id)
            .cloned()
            .ok_or_else(|| RegistryError::NotFound(id.to_owned()))
    }

    /// The user's apps and the built-ins, by id, filtered.
    pub async fn list(&self, user: &str, filter: &Filter) -> Result<Vec<Summary>, RegistryError> {
        let mut all: Vec<Summary> = Vec::new();
        for name in self.kernel.list_files(&user_dir(user, "registry")).await? {
            let Some(id) = name.strip_suffix(".json") else {
                continue;
            };
            match self.get(user, id).await {
                Ok(e) => all.push(e.summary()),
                Err(e) => tracing::warn!("registry: {e}"),
            }
        }
        for b in &self.builtin {
            if !all.iter().any(|s| s.id == b.id) {
                all.push(b.summary());
            }
        }
        let search = filter.search.as_deref().map(str::to_lowercase);
        all.retain(|s| {
            filter
                .category
                .as_deref()
                .is_none_or(|c| s.category.eq_ignore_ascii_case(c))
                && search.as_deref().is_none_or(|q| {
                    [&s.id, &s.name, &s.category]
                        .iter()
                        .any(|f| f.to_lowercase().contains(q))
                })
        });
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    /// Deletes a user's saved app.
    pub async fn delete(&self, user: &str, id: &str) -> Result<(), RegistryError> {
        if valid_id(id) {
            let path = format!("{}/{id}.json", user_dir(user, "registry"));
            if self.kernel.delete_file(&path).await? {
                return Ok(());
            }
        }
        if self.builtin.iter().any(|e| e.id == id) {
            return Err(RegistryError::BuiltIn(id.to_owned()));
        }
        Err(RegistryError::NotFound(id.to_owned()))
    }
}

/// Reads the apps directory: Blueprints under `blueprint/`, native processes under
/// `native-proc/`, native web apps under `native/`.
fn load_builtin(dir: &Path) -> (Vec<Entry>, Vec<String>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    let mut bps = Vec::new();
    find_bp(&dir.join("blueprint"), &mut bps);
    bps.sort();
    for p in bps {
        let parsed = std::fs::read_to_string(&p)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
            .and_then(|v| Entry::from_blueprint(v, true).map_err(|e| e.to_string()));
        match parsed {
            Ok(e) => entries.push(e),
            Err(e) => problems.push(format!("{}: {e}", p.display())),
        }
    }
    let (manifests, bad) = native::load_all(&dir.join("native-proc"));
    entries.extend(manifests.into_iter().map(Entry::from_manifest));
    problems.extend(bad.iter().map(ToString::to_string));
    let (manifests, bad) = web::load_all(&dir.join("native"));
    entries.extend(manifests.into_iter().map(Entry::from_web_manifest));
    problems.extend(bad.iter().map(ToString::to_string));
    // One id, one app: a second app with a taken id would be shadowed, never launched.
    let mut seen = std::collections::HashSet::new();
    entries.retain(|e| {
        let first = seen.insert(e.id.clone());
        if !first {
            problems.push(format!(
                "{}: two built-in apps have the id {:?}; the second (a {:?} app) is left out",
                dir.display(),
                e.id,
                e.source.kind()
            ));
        }
        first
    });
    (entries, problems)
}

fn find_bp(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            find_bp(&p, out);
        } else if p.extension().is_some_and(|x| x == "bp") {
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_are_safe_file_names() {
        for ok in ["calc", "my-app_2", "a.b", "X"] {
            assert!(valid_id(ok), "{ok}");
        }
        for bad in ["", ".hidden", "a/b", "..", "a b", &"x".repeat(65)] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    fn bp(app: Value) -> Value {
        json!({"spec": "1.0", "app": app,
               "ui": {"title": "T", "components": [{"type": "text", "id": "t", "props": {"text": "x"}}]}})
    }

    #[test]
    fn entries_take_their_names_from_the_blueprint() {
        let e = Entry::from_blueprint(
            bp(json!({"id": "calc", "name": "Calculator", "category": "utilities", "version": "1.0.0"})),
            false,
        )
        .unwrap();
        assert_eq!(
            (
                e.id.as_str(),
                e.name.as_str(),
                e.category.as_str(),
                e.version.as_str()
            ),
            ("calc", "Calculator", "utilities", "1.0.0")
        );
        let bad = Entry::from_blueprint(
            bp(json!({"id": "../x", "name": "X", "version": "1"})),
            false,
        );
        assert!(matches!(bad, Err(RegistryError::Invalid(m)) if m.contains("app.id")));
        assert!(Entry::from_blueprint(bp(json!({})), false).is_err());
    }

    #[test]
    fn built_ins_load_and_bad_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("blueprint/tools");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(
            sub.join("calc.bp"),
            bp(json!({"id": "calc", "name": "Calc", "version": "1.0.0"})).to_string(),
        )
        .unwrap();
        std::fs::write(sub.join("bad.bp"), "{").unwrap();
        // A native web app that takes the Blueprint's id.
        std::fs::create_dir_all(dir.path().join("native/calc")).unwrap();
        std::fs::write(
            dir.path().join("native/calc/manifest.json"),
            r#"{"id": "calc", "name": "Calc", "entry": "builtin:calc"}"#,
        )
        .unwrap();
        let (entries, problems) = load_builtin(dir.path());
        assert_eq!(entries.len(), 1);
        assert!(entries[0].builtin);
        assert!(matches!(entries[0].source, AppSource::Blueprint { .. }));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("bad.bp"), "{problems:?}");
        assert!(problems[1].contains("\"calc\""), "{problems:?}");
    }

    #[test]
    fn the_system_apps_are_listed_from_their_manifests_in_apps_native() {
        let apps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../apps");
        let (entries, problems) = load_builtin(&apps);
        assert_eq!(problems, Vec::<String>::new());
        for id in [
            "files",
            "sysinfo",
            "terminal",
            "taskmanager",
            "monitor",
            "settings",
            "appstore",
        ] {
            let e = entries
                .iter()
                .find(|e| e.id == id)
                .unwrap_or_else(|| panic!("{id} is not in the registry"));
            let AppSource::NativeWeb {
                manifest: Some(m), ..
            } = &e.source
            else {
                panic!("{id} is not a native web app: {:?}", e.source)
            };
            assert_eq!(e.category, "system", "{id}");
            assert!(e.summary().icon.is_some(), "{id} lists its icon");
            assert!(
                e.summary().description.is_some_and(|d| !d.is_empty()),
                "{id} says what it does"
            );
            assert!(
                m.entry == format!("builtin:{id}") || m.entry == "index.tsx",
                "{id}: {}",
                m.entry
            );
        }
        // The native-process apps say what they do too.
        for id in ["shell", "python"] {
            let e = entries
                .iter()
                .find(|e| e.id == id)
                .unwrap_or_else(|| panic!("{id} is not in the registry"));
            assert!(matches!(e.source, AppSource::NativeProcess { .. }), "{id}");
            assert!(
                e.summary().description.is_some_and(|d| !d.is_empty()),
                "{id} says what it does"
            );
        }
    }
}
