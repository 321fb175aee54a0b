//! PLACEHOLDER for the Blueprint format, until the domain branch (`services-domain`)
//! is merged: that branch's `blueprint` module replaces this file whole.
//!
//! The edge uses exactly one function of it, [`parse`]`(&str) -> Result<_, E:
//! Display>`, through `registry::check_blueprint`, and reads the app's id, name,
//! category and version from the JSON itself. To keep the edge's tests meaningful
//! on both sides of the merge, this placeholder checks the same essentials the real
//! parser does: `spec` "1.x", a lowercase `app.id`, non-empty `app.name`,
//! `app.version` and `ui.title`, and at least one component in `ui.components`.

use serde_json::Value;

/// A parsed Blueprint (here: its JSON, checked for the essentials).
#[derive(Clone, Debug, PartialEq)]
pub struct Blueprint(pub Value);

/// Why a text is not a Blueprint: the JSON path and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

/// Parses a Blueprint from its JSON text.
pub fn parse(text: &str) -> Result<Blueprint, ParseError> {
    let value: Value = serde_json::from_str(text)?;
    let invalid = |path: &str, reason: &str| ParseError::Invalid {
        path: path.into(),
        reason: reason.into(),
    };
    let text_at = |path: &str, v: &Value| match v.as_str() {
        Some(s) if !s.trim().is_empty() => Ok(s.to_owned()),
        _ => Err(invalid(path, "must be a non-empty string")),
    };
    if !value.is_object() {
        return Err(invalid("$", "a Blueprint is a JSON object"));
    }
    let spec = text_at("spec", &value["spec"])?;
    if !spec.starts_with("1.") {
        return Err(invalid("spec", "unsupported spec version (this reads 1.x)"));
    }
    let id = text_at("app.id", &value["app"]["id"])?;
    let id_ok = id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    if !id_ok {
        return Err(invalid(
            "app.id",
            "1 to 64 lowercase letters, digits, '-', '_' or '.'",
        ));
    }
    text_at("app.name", &value["app"]["name"])?;
    text_at("app.version", &value["app"]["version"])?;
    text_at("ui.title", &value["ui"]["title"])?;
    match value["ui"]["components"].as_array() {
        Some(c) if !c.is_empty() => Ok(Blueprint(value)),
        _ => Err(invalid("ui.components", "must have at least one component")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_the_essentials() {
        let ok = r#"{"spec":"1.0","app":{"id":"calc","name":"Calc","version":"1.0.0"},
                     "ui":{"title":"Calc","components":[{"type":"text","id":"t","props":{"text":"0"}}]}}"#;
        assert!(parse(ok).is_ok());
        assert!(parse("[]").is_err());
        assert!(parse("{").is_err());
        let e = parse(&ok.replace("\"calc\"", "\"Calc!\"")).unwrap_err();
        assert!(e.to_string().starts_with("app.id: "), "{e}");
        let e = parse(&ok.replace("\"1.0\"", "\"2.0\"")).unwrap_err();
        assert!(e.to_string().starts_with("spec: "), "{e}");
        let e =
            parse(&ok.replace(r#"{"type":"text","id":"t","props":{"text":"0"}}"#, "")).unwrap_err();
        assert!(e.to_string().starts_with("ui.components: "), "{e}");
    }
}
