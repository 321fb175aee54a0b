//! Who may touch a file: for one path of a user's files, which of the user's
//! running apps may read or write it, and by what — worked out from what each
//! app was launched with, the same declarations the checks enforce:
//!
//! * a Blueprint app, or a native web app, with the `filesystem` permission: its
//!   `fs.*` tools reach all of the user's files, read and write;
//! * a native process: its kernel grants (`read:P`, `write:P`, `create:P`,
//!   `delete:P`) whose path `P` covers the file's path in the kernel's filesystem
//!   (`/.agentos/users/<user>/files/...`); a pattern's trailing `/*` or `/**`
//!   covers everything below it.
//!
//! The file manager shows it beside each path.

use serde::Serialize;
use utoipa::ToSchema;

use super::{App, AppSource};
use crate::{blueprint::Permission, registry::user_dir};

/// One running app's access to a path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct PathAccess {
    /// The running app's instance id.
    pub id: String,
    pub app_id: String,
    pub name: String,
    pub read: bool,
    pub write: bool,
    /// What gives it: `permission filesystem`, or the grants that match.
    pub via: Vec<String>,
}

/// Whether the grant path pattern `pattern` covers `path`.
fn covers(pattern: &str, path: &str) -> bool {
    let base = pattern
        .trim_end_matches("/**")
        .trim_end_matches("/*")
        .trim_end_matches('/');
    base.is_empty() || path == base || path.starts_with(&format!("{base}/"))
}

/// The access of each of `apps` (one user's) to the user's file `path` (relative
/// to the user's files, with or without a leading `/`); apps with none are left out.
pub fn file_access(apps: &[App], user: &str, path: &str) -> Vec<PathAccess> {
    let rel = path.trim_matches('/');
    let root = user_dir(user, "files");
    let kernel_path = if rel.is_empty() {
        root
    } else {
        format!("{root}/{rel}")
    };
    let mut out = Vec::new();
    for app in apps {
        let mut a = PathAccess {
            id: app.id.clone(),
            app_id: app.app_id.clone(),
            name: app.name.clone(),
            read: false,
            write: false,
            via: Vec::new(),
        };
        let declared: Vec<Permission> = match &app.source {
            AppSource::Blueprint { blueprint } => {
                serde_json::from_value(blueprint["app"]["permissions"].clone()).unwrap_or_default()
            }
            AppSource::NativeWeb {
                manifest: Some(m), ..
            } => m.permissions.clone(),
            AppSource::NativeWeb { .. } => Vec::new(),
            AppSource::NativeProcess { manifest } => {
                for g in &manifest.grants {
                    let Some((kind, pattern)) = g.split_once(':') else {
                        continue;
                    };
                    if !covers(pattern, &kernel_path) {
                        continue;
                    }
                    match kind {
                        "read" => a.read = true,
                        "write" | "create" | "delete" => a.write = true,
                        _ => continue,
                    }
                    a.via.push(g.clone());
                }
                Vec::new()
            }
        };
        if declared.contains(&Permission::Filesystem) {
            a.read = true;
            a.write = true;
            a.via.push("permission filesystem".into());
        }
        if a.read || a.write {
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::apps::{AppKind, Window, native::NativeManifest};

    fn app(id: &str, source: AppSource) -> App {
        App {
            id: id.into(),
            app_id: id.into(),
            name: id.into(),
            kind: AppKind::Blueprint,
            parent: None,
            children: Vec::new(),
            window: Window::default(),
            focused: false,
            pid: None,
            started_unix_ms: 0,
            source,
            owner: "u1".into(),
        }
    }

    #[test]
    fn permissions_and_covering_grants_give_access() {
        let bp = |perms: serde_json::Value| AppSource::Blueprint {
            blueprint: json!({"app": {"id": "x", "permissions": perms}}),
        };
        let proc = |grants: &[&str]| {
            let m: NativeManifest = serde_json::from_value(json!({
                "id": "p", "name": "P", "argv": ["/bin/true"], "grants": grants
            }))
            .unwrap();
            AppSource::NativeProcess {
                manifest: Box::new(m),
            }
        };
        let root = user_dir("u1", "files");
        let apps = [
            app("notes", bp(json!(["filesystem"]))),
            app("calc", bp(json!([]))),
            app("reader", proc(&[&format!("read:{root}/docs/*"), "time"])),
            app("other", proc(&[&format!("write:{root}/music")])),
        ];
        let got = file_access(&apps, "u1", "/docs/a.txt");
        let summary: Vec<_> = got
            .iter()
            .map(|a| (a.id.as_str(), a.read, a.write))
            .collect();
        assert_eq!(summary, [("notes", true, true), ("reader", true, false)]);
        assert_eq!(got[1].via, [format!("read:{root}/docs/*")]);
        assert!(covers("/a/b", "/a/b") && covers("/a/**", "/a/b/c") && !covers("/a/b", "/a/bc"));
        // Another user's files are not this user's grants' business.
        assert!(file_access(&apps[2..], "u2", "/docs/a.txt").is_empty());
    }
}
