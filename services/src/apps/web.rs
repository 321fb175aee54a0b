//! Native web apps: `apps/native/<id>/manifest.json`, React modules the desktop
//! loads (lazily, by `entry`) into a window, seeded into the registry beside the
//! Blueprints and the native processes.
//!
//! A manifest names the app (id, name, icon, category, version), its module
//! (`entry`, a file in the app's directory, or `builtin:<id>` for a module the
//! desktop ships) and the permissions its tools run under (`filesystem`,
//! `storage`, ...), checked by the tool runner as a Blueprint's are.

use std::path::Path;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::native::{ManifestError, check_id, load_manifests};
use crate::blueprint::Permission;

/// What a native web app declares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebManifest {
    pub id: String,
    pub name: String,
    /// What it does, one line: the App Store shows it, the launcher searches it.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub icon: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    /// The module: a relative path in the app's directory (`index.tsx`), or
    /// `builtin:<id>` for one of the desktop's own.
    pub entry: String,
    /// What its tools may reach (as a Blueprint's `app.permissions`).
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub permissions: Vec<Permission>,
}

impl WebManifest {
    /// Checks what serde cannot: a usable id, an entry that stays in its directory.
    pub fn validate(&self, path: &str) -> Result<(), ManifestError> {
        check_id(&self.id, path)?;
        let e = self.entry.strip_prefix("builtin:").unwrap_or(&self.entry);
        let escapes = e.starts_with('/') || e.split('/').any(|c| c == ".." || c.is_empty());
        if escapes {
            return Err(ManifestError::Invalid {
                path: path.to_owned(),
                reason: format!(
                    "entry {:?} must be a file in the app's directory or builtin:<id>",
                    self.entry
                ),
            });
        }
        Ok(())
    }
}

/// Reads every `DIR/<id>/manifest.json`; a bad one is reported, never fatal.
pub fn load_all(dir: &Path) -> (Vec<WebManifest>, Vec<ManifestError>) {
    load_manifests(dir, WebManifest::validate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_good_manifests_and_reports_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let write = |id: &str, text: &str| {
            std::fs::create_dir_all(dir.path().join(id)).unwrap();
            std::fs::write(dir.path().join(id).join("manifest.json"), text).unwrap();
        };
        write(
            "files",
            r#"{"id": "files", "name": "Files", "entry": "builtin:files", "permissions": ["filesystem"]}"#,
        );
        write("up", r#"{"id": "up", "name": "Up", "entry": "../x.tsx"}"#);
        write(
            "perm",
            r#"{"id": "perm", "name": "P", "entry": "a.tsx", "permissions": ["root"]}"#,
        );
        let (ok, bad) = load_all(dir.path());
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].permissions, [Permission::Filesystem]);
        assert_eq!(bad.len(), 2, "{bad:?}");
    }
}
