//! PLACEHOLDER for the Blueprint format, until the domain branch (`services-domain`)
//! is merged: that branch's `blueprint` module replaces this file whole.
//!
//! This edge code needs only the boundary: [`parse`] turns a `.bp` JSON text into a
//! [`Blueprint`] or a [`ParseError`], and [`Blueprint::app_id`] names the app. Here
//! it checks no more than that the text is a JSON object with a string `app.id`.

use serde_json::Value;

/// A parsed Blueprint (here: its JSON, checked for an `app.id`).
#[derive(Clone, Debug, PartialEq)]
pub struct Blueprint(pub Value);

/// Why a text is not a Blueprint.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

impl Blueprint {
    /// The app's id (`app.id`).
    pub fn app_id(&self) -> &str {
        self.0["app"]["id"].as_str().unwrap_or_default()
    }
}

/// Parses a Blueprint from its JSON text.
pub fn parse(text: &str) -> Result<Blueprint, ParseError> {
    from_value(serde_json::from_str(text)?)
}

/// Checks an already parsed JSON value.
pub fn from_value(value: Value) -> Result<Blueprint, ParseError> {
    let invalid = |path: &str, reason: &str| ParseError::Invalid {
        path: path.into(),
        reason: reason.into(),
    };
    if !value.is_object() {
        return Err(invalid("$", "a Blueprint is a JSON object"));
    }
    match value.get("app") {
        Some(Value::Object(app)) => match app.get("id") {
            Some(Value::String(id)) if !id.is_empty() => Ok(Blueprint(value)),
            _ => Err(invalid("$.app.id", "must be a non-empty string")),
        },
        _ => Err(invalid("$.app", "must be an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_an_object_with_an_app_id() {
        assert_eq!(parse(r#"{"app":{"id":"calc"}}"#).unwrap().app_id(), "calc");
        assert!(parse("[]").is_err());
        assert!(parse("{").is_err());
        let e = parse(r#"{"app":{"id":3}}"#).unwrap_err();
        assert_eq!(e.to_string(), "$.app.id: must be a non-empty string");
    }
}
