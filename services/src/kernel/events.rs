//! The kernel collector's events as JSON, one shape for `agentos events --json` and
//! the WebSocket's `kernel_event` messages: categories and severities by their
//! short names (`vfs`, `warn`).

use agentos_proto::v1 as pb;
use serde_json::{Value, json};

/// A wire enum's name without its prefix, lower case ("EVENT_CATEGORY_VFS" → "vfs").
fn short(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// The wire category a short name stands for.
pub fn category(name: &str) -> Option<pb::EventCategory> {
    pb::EventCategory::from_str_name(&format!("EVENT_CATEGORY_{}", name.to_ascii_uppercase()))
        .filter(|c| *c != pb::EventCategory::Unspecified)
}

/// One event as JSON.
pub fn to_json(e: &pb::CollectedEvent) -> Value {
    let category = pb::EventCategory::try_from(e.category).unwrap_or_default();
    let severity = pb::EventSeverity::try_from(e.severity).unwrap_or_default();
    json!({
        "seq": e.seq,
        "timestamp_ns": e.timestamp_ns,
        "category": short(category.as_str_name(), "EVENT_CATEGORY_"),
        "severity": short(severity.as_str_name(), "EVENT_SEVERITY_"),
        "name": e.name,
        "pid": e.pid,
        "app": e.app,
        "causality": e.causality,
        "value": e.value,
        "code": e.code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways() {
        assert_eq!(category("vfs"), Some(pb::EventCategory::Vfs));
        assert_eq!(category("EBPF"), Some(pb::EventCategory::Ebpf));
        assert_eq!(category("unspecified"), None);
        assert_eq!(category("nope"), None);
        let j = to_json(&pb::CollectedEvent {
            category: pb::EventCategory::Sandbox as i32,
            severity: pb::EventSeverity::Warn as i32,
            name: "denied".into(),
            ..Default::default()
        });
        assert_eq!(
            (j["category"].as_str(), j["severity"].as_str()),
            (Some("sandbox"), Some("warn"))
        );
    }
}
