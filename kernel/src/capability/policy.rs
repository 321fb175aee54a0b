//! [`Policy`]: the set of grants one app holds.
//!
//! A policy keeps its grants in manifest order (duplicates dropped), for display
//! and serialisation, and an index of them by kind, which [`Policy::check`] and
//! [`Policy::sandbox_grants`] read. A policy is immutable: a changed manifest makes
//! a new `Policy`, and the kernel then calls
//! [`PermissionCache::invalidate_process`](super::PermissionCache::invalidate_process).

use std::{collections::HashSet, fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use super::{
    channel::ChannelPattern,
    grant::{Capability, CapabilityError},
    net::{NetworkRule, PortRange, RuleAction},
    path::PathPattern,
};

/// The grants of one app. JSON: a list of [`Capability`] values.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Vec<Capability>", into = "Vec<Capability>")]
pub struct Policy {
    grants: Vec<Capability>,
    pub(super) index: Index,
}

/// The grants by kind.
#[derive(Debug, Clone, Default)]
pub(super) struct Index {
    pub read: Vec<PathPattern>,
    pub write: Vec<PathPattern>,
    pub create: Vec<PathPattern>,
    pub delete: Vec<PathPattern>,
    pub list: Vec<PathPattern>,
    pub spawn: bool,
    pub kill: bool,
    /// Allow and deny rules in manifest order.
    pub net: Vec<NetworkRule>,
    pub net_allow: Vec<NetworkRule>,
    pub net_deny: Vec<NetworkRule>,
    pub bind: Vec<PortRange>,
    pub system_info: bool,
    pub time: bool,
    pub send: Vec<ChannelPattern>,
    pub receive: Vec<ChannelPattern>,
}

impl Policy {
    /// A policy that grants nothing.
    pub fn deny_all() -> Self {
        Self::default()
    }

    /// A policy of `grants`; duplicates are dropped, the first one's place kept.
    pub fn new(grants: impl IntoIterator<Item = Capability>) -> Self {
        let mut seen = HashSet::new();
        let grants: Vec<Capability> = grants
            .into_iter()
            .filter(|g| seen.insert(g.clone()))
            .collect();
        let mut index = Index::default();
        for g in &grants {
            match g {
                Capability::ReadFile(p) => index.read.push(p.clone()),
                Capability::WriteFile(p) => index.write.push(p.clone()),
                Capability::CreateFile(p) => index.create.push(p.clone()),
                Capability::DeleteFile(p) => index.delete.push(p.clone()),
                Capability::ListDirectory(p) => index.list.push(p.clone()),
                Capability::SpawnProcess => index.spawn = true,
                Capability::KillProcess => index.kill = true,
                Capability::NetworkAccess(r) => {
                    index.net.push(r.clone());
                    match r.action {
                        RuleAction::Allow => index.net_allow.push(r.clone()),
                        RuleAction::Deny => index.net_deny.push(r.clone()),
                    }
                }
                Capability::BindPort(r) => index.bind.push(*r),
                Capability::SystemInfo => index.system_info = true,
                Capability::TimeAccess => index.time = true,
                Capability::SendMessage(c) => index.send.push(c.clone()),
                Capability::ReceiveMessage(c) => index.receive.push(c.clone()),
            }
        }
        Self { grants, index }
    }

    /// Parses CLI forms (`read:/home/app`, `spawn`, ...) into a policy; the first
    /// bad one is the error.
    pub fn parse_cli<I, S>(forms: I) -> Result<Self, CapabilityError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        forms
            .into_iter()
            .map(|s| Capability::from_str(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(Self::new)
    }

    /// This policy without the `revoked` grants, each of which it must hold exactly
    /// (`Err` names the first one it does not).
    pub fn without(&self, revoked: &[Capability]) -> Result<Self, Capability> {
        if let Some(missing) = revoked.iter().find(|r| !self.grants.contains(r)) {
            return Err(missing.clone());
        }
        Ok(Self::new(
            self.grants.iter().filter(|g| !revoked.contains(g)).cloned(),
        ))
    }

    /// The NetworkAccess rules, in manifest order (a private process's egress).
    pub fn network_rules(&self) -> &[super::NetworkRule] {
        &self.index.net
    }

    /// The grants, in manifest order.
    pub fn grants(&self) -> &[Capability] {
        &self.grants
    }

    pub fn len(&self) -> usize {
        self.grants.len()
    }

    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }
}

impl PartialEq for Policy {
    /// Two policies are equal when they hold the same grants, in any order.
    fn eq(&self, other: &Self) -> bool {
        self.grants.len() == other.grants.len()
            && self.grants.iter().all(|g| other.grants.contains(g))
    }
}

impl Eq for Policy {}

impl From<Vec<Capability>> for Policy {
    fn from(grants: Vec<Capability>) -> Self {
        Self::new(grants)
    }
}

impl From<Policy> for Vec<Capability> {
    fn from(p: Policy) -> Self {
        p.grants
    }
}

impl FromIterator<Capability> for Policy {
    fn from_iter<T: IntoIterator<Item = Capability>>(iter: T) -> Self {
        Self::new(iter)
    }
}

impl fmt::Display for Policy {
    /// The grants' CLI forms, space-separated; `(no grants)` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.grants.is_empty() {
            return f.write_str("(no grants)");
        }
        for (i, g) in self.grants.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{g}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn duplicates_are_dropped_in_order() {
        let p = Policy::parse_cli(["read:/a", "spawn", "read:/a/", "spawn", "time"]).unwrap();
        assert_eq!(p.to_string(), "read:/a spawn time");
        assert_eq!(p.len(), 3);
        assert_eq!(p.index.read.len(), 1);
    }

    #[test]
    fn network_rules_are_split_by_action() {
        let p = Policy::parse_cli(["net:allow:*", "net:deny:10.0.0.0/8", "net:allow:::1"]);
        assert!(p.is_err(), "unbracketed IPv6 is refused");
        let p = Policy::parse_cli(["net:allow:*", "net:deny:10.0.0.0/8"]).unwrap();
        assert_eq!(p.index.net.len(), 2);
        assert_eq!(p.index.net_allow.len(), 1);
        assert_eq!(p.index.net_deny.len(), 1);
    }

    #[test]
    fn parse_cli_reports_the_first_bad_form() {
        let err = Policy::parse_cli(["spawn", "read:rel", "bind:x"]).unwrap_err();
        assert!(err.to_string().contains("`rel`"), "{err}");
    }

    #[test]
    fn json_is_a_list_of_capabilities() {
        let p = Policy::parse_cli(["read:/home/app", "spawn"]).unwrap();
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v, json!([{"read_file": "/home/app"}, "spawn_process"]));
        let back: Policy = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
        assert!(back.index.spawn);
        assert_eq!(back.index.read.len(), 1);
    }

    #[test]
    fn equality_ignores_order() {
        let a = Policy::parse_cli(["spawn", "time"]).unwrap();
        let b = Policy::parse_cli(["time", "spawn"]).unwrap();
        let c = Policy::parse_cli(["time"]).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(Policy::deny_all().to_string(), "(no grants)");
        assert!(Policy::deny_all().is_empty());
    }
}
