//! Native-process apps: `apps/native-proc/<id>/manifest.json`, turned into the
//! kernel's `ProcessSpec` (argv, grants, limits, tty).

use std::{collections::BTreeMap, path::Path};

use agentos_client::pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The manifest file inside each app's directory.
pub const MANIFEST: &str = "manifest.json";

/// What a native process app declares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NativeManifest {
    pub id: String,
    pub name: String,
    /// What it does, one line: the App Store shows it, the launcher searches it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    /// The program and its arguments; the program is an absolute path.
    pub argv: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// AgentOS capabilities for the process's own kernel socket (`time`, `read:/srv`...).
    #[serde(default)]
    pub grants: Vec<String>,
    /// Host paths the sandbox sees read-only, and read-write.
    #[serde(default)]
    pub read_paths: Vec<String>,
    #[serde(default)]
    pub write_paths: Vec<String>,
    #[serde(default)]
    pub limits: Limits,
    /// Run in a pseudo-terminal.
    #[serde(default)]
    pub tty: bool,
    /// Its network: loopback only unless it says otherwise.
    #[serde(default)]
    pub net: Net,
}

/// A manifest's network: `{"mode": "bridged", "group": "web", "publish": ["127.0.0.1:8080:80"]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Net {
    /// `none` (default), `private`, `shared` or `bridged`.
    #[serde(default)]
    pub mode: Option<String>,
    /// The group of a bridged process (its members reach each other).
    #[serde(default)]
    pub group: String,
    /// Port forwards from the host's loopback, `[127.0.0.1:]HOST_PORT:PORT[/tcp|/udp]`.
    #[serde(default)]
    pub publish: Vec<String>,
}

/// The wire network mode named `none`, `private`, `shared` or `bridged`.
pub fn network_mode(name: &str) -> Option<pb::NetworkMode> {
    pb::NetworkMode::from_str_name(&format!("NETWORK_MODE_{}", name.to_ascii_uppercase()))
}

/// Resource limits; 0 means the kernel's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default)]
    pub memory_max_bytes: u64,
    #[serde(default)]
    pub cpu_weight: u32,
    #[serde(default)]
    pub cpu_max_percent: u32,
    #[serde(default)]
    pub pids_max: u64,
}

/// Why a manifest is not usable.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

impl NativeManifest {
    /// Checks what serde cannot: a usable id and an absolute program.
    pub fn validate(&self, path: &str) -> Result<(), ManifestError> {
        check_id(&self.id, path)?;
        let invalid = |reason: String| ManifestError::Invalid {
            path: path.to_owned(),
            reason,
        };
        if let Some(m) = &self.net.mode
            && network_mode(m).is_none()
        {
            return Err(invalid(format!(
                "net.mode {m:?} is not one of none, private, shared, bridged"
            )));
        }
        match self.argv.first() {
            Some(p) if p.starts_with('/') => Ok(()),
            Some(p) => Err(invalid(format!("argv[0] {p:?} must be an absolute path"))),
            None => Err(invalid("argv is empty".into())),
        }
    }

    /// The kernel's spawn request for this app.
    pub fn spec(&self, rows: u32, cols: u32) -> pb::ProcessSpec {
        pb::ProcessSpec {
            argv: self.argv.clone(),
            env: self.env.clone().into_iter().collect(),
            cwd: String::new(),
            read_paths: self.read_paths.clone(),
            write_paths: self.write_paths.clone(),
            linux_caps: Vec::new(),
            network: self
                .net
                .mode
                .as_deref()
                .and_then(network_mode)
                .unwrap_or(pb::NetworkMode::None) as i32,
            net_group: self.net.group.clone(),
            publish: self.net.publish.clone(),
            limits: Some(pb::ResourceLimits {
                memory_max_bytes: self.limits.memory_max_bytes,
                cpu_weight: self.limits.cpu_weight,
                cpu_max_percent: self.limits.cpu_max_percent,
                pids_max: self.limits.pids_max,
                tmp_max_bytes: 0,
            }),
            tty: self.tty,
            rows: if self.tty { rows } else { 0 },
            cols: if self.tty { cols } else { 0 },
            name: format!("agentos-app-{}", self.id),
            capabilities: self.grants.clone(),
            // An app never runs without a wall on its own say-so: only a kernel
            // started with --allow-unconfined runs apps on the portable backend.
            allow_unconfined: false,
        }
    }
}

/// The `PATH` a process gets when its manifest sets none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Puts this `agentos` binary (read-only, the file alone) in the process's view and
/// its directory first on its `PATH`, so a program or a person in a terminal can
/// call the kernel as the app (`agentos call read --json '{"path": "/x"}'`): the
/// calls go to the process's own kernel socket (`AGENTOS_KERNEL_SOCKET`) and are
/// checked against its grants. It widens nothing: the process could bring its own
/// client for that socket.
pub fn expose_cli(spec: &mut pb::ProcessSpec) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let (Some(file), Some(dir)) = (exe.to_str(), exe.parent().and_then(Path::to_str)) else {
        return;
    };
    spec.read_paths.push(file.to_owned());
    let path = spec
        .env
        .get("PATH")
        .map_or(DEFAULT_PATH.to_owned(), Clone::clone);
    spec.env.insert("PATH".into(), format!("{dir}:{path}"));
}

/// A manifest's `id` must be usable as an app id (and a file name).
pub fn check_id(id: &str, path: &str) -> Result<(), ManifestError> {
    if crate::registry::valid_id(id) {
        Ok(())
    } else {
        Err(ManifestError::Invalid {
            path: path.to_owned(),
            reason: format!("id {id:?} is not a valid app id"),
        })
    }
}

/// Reads every `DIR/<id>/manifest.json`; a bad one is reported, never fatal.
pub fn load_all(dir: &Path) -> (Vec<NativeManifest>, Vec<ManifestError>) {
    load_manifests(dir, NativeManifest::validate)
}

/// Reads every `DIR/<id>/manifest.json` as an `M`, checked by `validate`; a bad
/// one is reported, never fatal. Shared by native processes and native web apps.
pub fn load_manifests<M: serde::de::DeserializeOwned>(
    dir: &Path,
    validate: impl Fn(&M, &str) -> Result<(), ManifestError>,
) -> (Vec<M>, Vec<ManifestError>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (ok, bad);
    };
    let mut paths: Vec<_> = entries
        .flatten()
        .map(|e| e.path().join(MANIFEST))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    for p in paths {
        let shown = p.display().to_string();
        let m = std::fs::read(&p)
            .map_err(|source| ManifestError::Read {
                path: shown.clone(),
                source,
            })
            .and_then(|b| {
                serde_json::from_slice::<M>(&b).map_err(|source| ManifestError::Json {
                    path: shown.clone(),
                    source,
                })
            })
            .and_then(|m| validate(&m, &shown).map(|()| m));
        match m {
            Ok(m) => ok.push(m),
            Err(e) => bad.push(e),
        }
    }
    (ok, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_good_manifests_and_reports_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let write = |id: &str, text: &str| {
            std::fs::create_dir_all(dir.path().join(id)).unwrap();
            std::fs::write(dir.path().join(id).join(MANIFEST), text).unwrap();
        };
        write(
            "echo",
            r#"{"id":"echo","name":"Echo","argv":["/bin/cat"],"grants":["time"],"limits":{"pids_max":8}}"#,
        );
        write("broken", "{");
        write("relative", r#"{"id":"relative","name":"R","argv":["cat"]}"#);
        let (ok, bad) = load_all(dir.path());
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].id, "echo");
        assert_eq!(bad.len(), 2, "{bad:?}");
        let spec = ok[0].spec(24, 80);
        assert_eq!(spec.argv, ["/bin/cat"]);
        assert_eq!(spec.capabilities, ["time"]);
        assert_eq!(spec.limits.unwrap().pids_max, 8);
        assert_eq!(spec.rows, 0, "no tty, no size");
        assert_eq!(
            spec.network,
            pb::NetworkMode::None as i32,
            "loopback by default"
        );
    }

    #[test]
    fn a_manifest_names_its_network() {
        let m: NativeManifest = serde_json::from_str(
            r#"{"id":"web","name":"Web","argv":["/bin/cat"],
                "net":{"mode":"bridged","group":"shop","publish":["127.0.0.1:8080:80"]}}"#,
        )
        .unwrap();
        m.validate("web").unwrap();
        let spec = m.spec(0, 0);
        assert_eq!(spec.network, pb::NetworkMode::Bridged as i32);
        assert_eq!(spec.net_group, "shop");
        assert_eq!(spec.publish, ["127.0.0.1:8080:80"]);
        let shared: NativeManifest = serde_json::from_str(
            r#"{"id":"web","name":"Web","argv":["/bin/cat"],"net":{"mode":"shared"}}"#,
        )
        .unwrap();
        shared.validate("web").unwrap();
        assert_eq!(shared.spec(0, 0).network, pb::NetworkMode::Shared as i32);
        let bad: NativeManifest = serde_json::from_str(
            r#"{"id":"web","name":"Web","argv":["/bin/cat"],"net":{"mode":"wifi"}}"#,
        )
        .unwrap();
        assert!(bad.validate("web").is_err());
    }
}
