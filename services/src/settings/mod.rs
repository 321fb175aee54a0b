//! Per-user settings: appearance, restore-at-login, the kernel scheduler's policy,
//! default grants for new apps, the LLM endpoint. Plain Rust, no HTTP.
//!
//! One JSON file per user in the kernel's filesystem,
//! `/.agentos/users/<user>/settings.json`, replaced atomically by the kernel's
//! whole-file write (temp file, fsync, rename), so a crash mid-save leaves the
//! previous settings. A missing file reads as the defaults. Saving the scheduler
//! part also sets the kernel's policy (`set_policy`), the one scheduler of the
//! machine, so the last user to save decides it.
//!
//! Who acts on them: `default_grants` are added to the kernel grants of each native
//! process the user launches (not to one a saved session restores, which keeps its
//! own), in [`crate::apps::Apps::launch`]; `llm` is the generator
//! `POST /api/generate-ui` uses for the user ([`crate::http`]'s generate route),
//! with the rule generator as the fallback.

use std::time::Duration;

use agentos_client::pb;
use agentos_proto::focus_boost::{DEFAULT as FOCUS_BOOST, RANGE as FOCUS_BOOST_RANGE};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    generate::LlmConfig,
    kernel::{KernelLink, LinkError},
    registry::STATE_ROOT,
};

const KERNEL_TIMEOUT: Duration = Duration::from_secs(5);
/// Most default grants a user may keep.
pub const MAX_GRANTS: usize = 64;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    #[default]
    Dark,
    Light,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Wallpaper {
    #[default]
    Aurora,
    Dusk,
    Forest,
    Graphite,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Appearance {
    pub theme: Theme,
    /// `#rrggbb`.
    pub accent: String,
    pub wallpaper: Wallpaper,
}

impl Default for Appearance {
    fn default() -> Self {
        Self {
            theme: Theme::Dark,
            accent: "#8ab4ff".into(),
            wallpaper: Wallpaper::Aurora,
        }
    }
}

/// The kernel scheduler's policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// cgroup CPU weights, the focused app's multiplied (the focus boost).
    #[default]
    Fair,
    /// Weights from each process's priority, plus the focus boost.
    Priority,
    /// One quantum each, the waiting ones frozen.
    RoundRobin,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Scheduler {
    pub policy: Policy,
    /// Freeze a minimised app's process (cgroup freezer) until it is shown again.
    pub freeze_minimised: bool,
    /// The focused app's CPU weight multiplier, 1 (none) ..= 16 (the kernel's range).
    #[schema(minimum = 1, maximum = 16)]
    pub focus_boost: u32,
}

impl Default for Scheduler {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            freeze_minimised: false,
            focus_boost: FOCUS_BOOST,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Llm {
    /// An OpenAI-compatible chat-completions URL (`http(s)://…`); none = the rule generator.
    pub url: Option<String>,
    pub model: Option<String>,
}

/// One user's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub appearance: Appearance,
    /// Restore the last saved session at login.
    pub restore_on_login: bool,
    pub scheduler: Scheduler,
    /// Grants given to new apps (`time`, `read:/srv`…).
    pub default_grants: Vec<String>,
    pub llm: Llm,
}

/// Why settings could not be read or saved.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Invalid(String),
    #[error("the settings of {user} are damaged: {reason}")]
    Corrupt { user: String, reason: String },
    #[error(transparent)]
    Kernel(#[from] LinkError),
}

impl Settings {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let bad = |m: String| Err(SettingsError::Invalid(m));
        let a = &self.appearance.accent;
        if !(a.len() == 7 && a.starts_with('#') && a[1..].chars().all(|c| c.is_ascii_hexdigit())) {
            return bad(format!("appearance.accent {a:?} is not #rrggbb"));
        }
        let boost = self.scheduler.focus_boost;
        if !FOCUS_BOOST_RANGE.contains(&boost) {
            return bad(format!(
                "scheduler.focus_boost {boost} is outside {}..={}",
                FOCUS_BOOST_RANGE.start(),
                FOCUS_BOOST_RANGE.end()
            ));
        }
        if self.default_grants.len() > MAX_GRANTS {
            return bad(format!("at most {MAX_GRANTS} default grants"));
        }
        for g in &self.default_grants {
            let ok = !g.is_empty()
                && g.len() <= 256
                && !g.chars().any(char::is_whitespace)
                && g.split_once(':')
                    .is_none_or(|(k, v)| !k.is_empty() && !v.is_empty());
            if !ok {
                return bad(format!("default grant {g:?} is not `kind` or `kind:value`"));
            }
        }
        if let Some(url) = &self.llm.url {
            let ok = (url.starts_with("http://") || url.starts_with("https://"))
                && url.len() <= 2048
                && url.split("://").nth(1).is_some_and(|h| !h.is_empty());
            if !ok {
                return bad(format!("llm.url {url:?} is not an http(s) URL"));
            }
        }
        Ok(())
    }
}

/// The file of `user`'s settings in the kernel's filesystem.
fn path(user: &str) -> String {
    format!("{STATE_ROOT}/{user}/settings.json")
}

/// `user`'s settings; the defaults until they save some.
pub async fn load(kernel: &KernelLink, user: &str) -> Result<Settings, SettingsError> {
    match kernel.read_file(&path(user)).await? {
        None => Ok(Settings::default()),
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| SettingsError::Corrupt {
            user: user.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// The LLM endpoint in `user`'s settings, if they set one. Settings that cannot be
/// read leave the process's generator in charge (said in the log).
pub async fn llm_config(kernel: &KernelLink, user: &str) -> Option<LlmConfig> {
    match load(kernel, user).await {
        Ok(s) => s
            .llm
            .url
            .map(|url| LlmConfig::for_user(&url, s.llm.model.as_deref())),
        Err(e) => {
            tracing::warn!("generating for {user} without their LLM settings: {e}");
            None
        }
    }
}

/// Checks and saves `user`'s settings atomically, then sets the kernel's scheduler.
pub async fn save(
    kernel: &KernelLink,
    user: &str,
    settings: &Settings,
) -> Result<(), SettingsError> {
    settings.validate()?;
    let bytes = serde_json::to_vec_pretty(settings).expect("settings serialize");
    kernel.write_file(&path(user), bytes).await?;
    let policy = match settings.scheduler.policy {
        Policy::Fair => pb::SchedPolicy::Fair,
        Policy::Priority => pb::SchedPolicy::Priority,
        Policy::RoundRobin => pb::SchedPolicy::RoundRobin,
    };
    let call = pb::syscall::Call::SetPolicy(pb::SetPolicy {
        policy: policy as i32,
        freeze_minimised: settings.scheduler.freeze_minimised,
        focus_boost: settings.scheduler.focus_boost,
    });
    kernel
        .call("set_policy", KERNEL_TIMEOUT, |mut c| async move {
            c.call(call).await.map(drop)
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn defaults_fill_in_and_bad_values_are_named() {
        let s: Settings =
            serde_json::from_value(json!({"appearance": {"theme": "light"}})).unwrap();
        assert_eq!(s.appearance.theme, Theme::Light);
        assert_eq!(s.appearance.accent, "#8ab4ff");
        assert_eq!(s.scheduler.focus_boost, 4, "the kernel's default boost");
        assert!(s.validate().is_ok());
        assert!(serde_json::from_value::<Settings>(json!({"colour": 1})).is_err());
        for (bad, what) in [
            (json!({"appearance": {"accent": "red"}}), "accent"),
            (json!({"default_grants": ["read: /x"]}), "default grant"),
            (json!({"default_grants": [":x"]}), "default grant"),
            (json!({"llm": {"url": "file:///etc/passwd"}}), "llm.url"),
            (json!({"scheduler": {"focus_boost": 0}}), "focus_boost"),
            (json!({"scheduler": {"focus_boost": 17}}), "focus_boost"),
        ] {
            let s: Settings = serde_json::from_value(bad).unwrap();
            let e = s.validate().unwrap_err().to_string();
            assert!(e.contains(what), "{e}");
        }
    }
}
