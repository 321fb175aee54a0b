//! Text → [`Blueprint`], in two passes: serde for the shape, then a walk for the rules.
//!
//! The first pass runs plain `serde_json`, which is fast; only when it fails is the text
//! read again through `serde_path_to_error` to learn the JSON path of the fault, so a
//! good Blueprint pays nothing for error paths. The second pass ([`validate`]) checks
//! what the types cannot say: the spec version, unique ids, rules across props, tool
//! ids known to the [`ToolRegistry`], and that each tool's permission is declared.

use std::collections::HashMap;

use serde_json::Value;

use super::model::{Blueprint, Component, NESTED_PATH_PREFIX, SPEC_VERSION, UNKNOWN_TYPE_PREFIX};
use super::props::ComponentType;
use crate::tools::ToolRegistry;

/// Why a Blueprint was rejected. Every variant names the JSON path of the fault, written
/// as in JavaScript (`ui.components[2].children[0].props.max`); the empty path is the
/// document itself.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// The text is not JSON (or is cut short).
    #[error(
        "{}: not valid JSON (line {line}, column {column}): {reason}",
        show(path)
    )]
    Json {
        path: String,
        line: usize,
        column: usize,
        reason: String,
    },
    /// JSON, but not a Blueprint: a missing or unknown field, a wrong type. `line` is
    /// 0 when the Blueprint was read from a value, not from text.
    #[error("{}: {reason}{}", show(path), position(*line, *column))]
    Shape {
        path: String,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error(
        "spec: version {found:?} is not supported (this parser reads {SPEC_VERSION} and later 1.x)"
    )]
    UnsupportedSpec { found: String },
    #[error(
        "{path}: unknown component type {found:?} and no `fallback` (known types: {})",
        known_types()
    )]
    UnknownComponentType { path: String, found: String },
    #[error("{path}: a {component_type} fires no {event:?} event (it fires: {})", events_of(*component_type))]
    UnknownEvent {
        path: String,
        event: String,
        component_type: ComponentType,
    },
    #[error("{path}: unknown tool {tool:?}")]
    UnknownTool { path: String, tool: String },
    #[error(
        "{path}: tool {tool:?} needs the {permission:?} permission, which `app.permissions` does not declare"
    )]
    PermissionRequired {
        path: String,
        tool: String,
        permission: String,
    },
    #[error("{path}: {reason}")]
    InvalidProp { path: String, reason: String },
    #[error("{path}: component id {id:?} is already used at {first}")]
    DuplicateId {
        path: String,
        id: String,
        first: String,
    },
    #[error("{path}: a {component_type} holds no children")]
    ChildrenNotAllowed {
        path: String,
        component_type: ComponentType,
    },
    /// Any other rule on a field (`app.id`'s characters, a non-empty title, ...).
    #[error("{path}: {reason}")]
    InvalidField { path: String, reason: String },
}

fn show(path: &str) -> &str {
    if path.is_empty() {
        "the document"
    } else {
        path
    }
}

/// ` (line 3, column 7)`, or nothing for errors found in a value rather than in text.
fn position(line: usize, column: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" (line {line}, column {column})")
    }
}

fn events_of(t: ComponentType) -> String {
    if t.events().is_empty() {
        "none".to_owned()
    } else {
        t.events().join(", ")
    }
}

fn known_types() -> String {
    let names: Vec<&str> = ComponentType::ALL.iter().map(|t| t.as_str()).collect();
    names.join(", ")
}

impl ParseError {
    /// The JSON path of the fault (empty for the whole document).
    pub fn path(&self) -> &str {
        match self {
            ParseError::Json { path, .. }
            | ParseError::Shape { path, .. }
            | ParseError::UnknownComponentType { path, .. }
            | ParseError::UnknownEvent { path, .. }
            | ParseError::UnknownTool { path, .. }
            | ParseError::PermissionRequired { path, .. }
            | ParseError::InvalidProp { path, .. }
            | ParseError::DuplicateId { path, .. }
            | ParseError::ChildrenNotAllowed { path, .. }
            | ParseError::InvalidField { path, .. } => path,
            ParseError::UnsupportedSpec { .. } => "spec",
        }
    }

    /// A stable code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::Json { .. } => "invalid_json",
            ParseError::Shape { .. } => "invalid_blueprint",
            ParseError::UnsupportedSpec { .. } => "unsupported_spec",
            ParseError::UnknownComponentType { .. } => "unknown_component_type",
            ParseError::UnknownEvent { .. } => "unknown_event",
            ParseError::UnknownTool { .. } => "unknown_tool",
            ParseError::PermissionRequired { .. } => "permission_required",
            ParseError::InvalidProp { .. } => "invalid_prop",
            ParseError::DuplicateId { .. } => "duplicate_id",
            ParseError::ChildrenNotAllowed { .. } => "children_not_allowed",
            ParseError::InvalidField { .. } => "invalid_field",
        }
    }
}

/// Parses and validates a `.bp` document against the built-in tools.
pub fn parse(text: &str) -> Result<Blueprint, ParseError> {
    parse_with(text, ToolRegistry::builtin())
}

/// Parses and validates a `.bp` document against `tools`.
pub fn parse_with(text: &str, tools: &ToolRegistry) -> Result<Blueprint, ParseError> {
    // Editors on some systems save UTF-8 with a byte-order mark; JSON does not allow one.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let bp = match serde_json::from_str::<Blueprint>(text) {
        Ok(bp) => bp,
        Err(fast) => return Err(locate(text, fast)),
    };
    validate(&bp, tools)?;
    Ok(bp)
}

/// Validates a JSON value as a Blueprint (used after [`super::repair`]).
pub fn from_value(value: Value, tools: &ToolRegistry) -> Result<Blueprint, ParseError> {
    let bp: Blueprint = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = path_string(e.path());
        shape_or_type(path, e.into_inner().to_string(), 0, 0)
    })?;
    validate(&bp, tools)?;
    Ok(bp)
}

/// Reads `text` again with path tracking to say where `fast` happened.
fn locate(text: &str, fast: serde_json::Error) -> ParseError {
    let de = &mut serde_json::Deserializer::from_str(text);
    let err = match serde_path_to_error::deserialize::<_, Blueprint>(&mut *de) {
        Err(e) => e,
        // Only trailing characters are left to complain about.
        Ok(_) => return json_error(String::new(), de.end().err().unwrap_or(fast)),
    };
    let path = path_string(err.path());
    json_error(path, err.into_inner())
}

fn path_string(path: &serde_path_to_error::Path) -> String {
    let p = path.to_string();
    if p == "." { String::new() } else { p }
}

fn json_error(path: String, e: serde_json::Error) -> ParseError {
    let (line, column) = (e.line(), e.column());
    let full = e.to_string();
    let suffix = format!(" at line {line} column {column}");
    let reason = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            ParseError::Json {
                path,
                line,
                column,
                reason,
            }
        }
        _ => shape_or_type(path, reason, line, column),
    }
}

fn shape_or_type(mut path: String, mut reason: String, line: usize, column: usize) -> ParseError {
    if let Some((inner, rest)) = reason
        .strip_prefix(NESTED_PATH_PREFIX)
        .and_then(|r| r.split_once(": "))
    {
        path = if path.is_empty() {
            inner.to_owned()
        } else {
            format!("{path}.{inner}")
        };
        reason = rest.to_owned();
    }
    if let Some(rest) = reason.strip_prefix(UNKNOWN_TYPE_PREFIX) {
        let found = rest.split('`').next().unwrap_or_default().to_owned();
        return ParseError::UnknownComponentType { path, found };
    }
    ParseError::Shape {
        path,
        line,
        column,
        reason,
    }
}

/// Checks the rules serde cannot: see the module docs.
pub fn validate(bp: &Blueprint, tools: &ToolRegistry) -> Result<(), ParseError> {
    check_spec(&bp.spec)?;
    let app = &bp.app;
    check_id("app.id", &app.id, true)?;
    non_empty("app.name", &app.name)?;
    non_empty("app.version", &app.version)?;
    if !app.hosts.is_empty() && !app.permissions.contains(&super::Permission::Network) {
        return Err(ParseError::InvalidField {
            path: "app.hosts".into(),
            reason: "hosts are only reachable with the \"network\" permission".into(),
        });
    }
    for (i, h) in app.hosts.iter().enumerate() {
        let bare = h.strip_prefix("*.").unwrap_or(h);
        if bare.is_empty() || bare.contains(['/', ':', '*', ' ', '@']) {
            return Err(ParseError::InvalidField {
                path: format!("app.hosts[{i}]"),
                reason: format!(
                    "{h:?} is not a host name (write `example.com` or `*.example.com`)"
                ),
            });
        }
    }
    non_empty("ui.title", &bp.ui.title)?;
    if bp.ui.components.is_empty() {
        return Err(ParseError::InvalidField {
            path: "ui.components".into(),
            reason: "must have at least one component".into(),
        });
    }
    let mut walk = Walk {
        tools,
        bp,
        seen: HashMap::new(),
    };
    let mut path = String::from("ui.components");
    walk.list(&mut path, &bp.ui.components)
}

fn check_spec(spec: &str) -> Result<(), ParseError> {
    let unsupported = || ParseError::UnsupportedSpec {
        found: spec.to_owned(),
    };
    let (major, minor) = spec.split_once('.').ok_or_else(unsupported)?;
    if major != "1" || minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
        return Err(unsupported());
    }
    Ok(())
}

fn non_empty(path: &str, v: &str) -> Result<(), ParseError> {
    if v.trim().is_empty() {
        return Err(ParseError::InvalidField {
            path: path.into(),
            reason: "must not be empty".into(),
        });
    }
    Ok(())
}

/// App ids are lowercase (they name registry files); component ids may use capitals.
fn check_id(path: &str, id: &str, lowercase: bool) -> Result<(), ParseError> {
    let ok_char = |c: char| {
        c.is_ascii_digit()
            || c.is_ascii_lowercase()
            || (!lowercase && c.is_ascii_uppercase())
            || matches!(c, '-' | '_' | '.')
    };
    let first_ok = id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !id.chars().all(ok_char) || id.len() > 64 {
        let letters = if lowercase {
            "lowercase letters"
        } else {
            "letters"
        };
        return Err(ParseError::InvalidField {
            path: path.into(),
            reason: format!(
                "{id:?} is not an id: 1 to 64 {letters}, digits, '-', '_' or '.', starting with a letter or digit"
            ),
        });
    }
    Ok(())
}

struct Walk<'a> {
    tools: &'a ToolRegistry,
    bp: &'a Blueprint,
    /// Ids seen so far, with the path where each was first seen.
    seen: HashMap<&'a str, String>,
}

impl<'a> Walk<'a> {
    fn list(&mut self, path: &mut String, list: &'a [Component]) -> Result<(), ParseError> {
        let base = path.len();
        for (i, c) in list.iter().enumerate() {
            use std::fmt::Write;
            let _ = write!(path, "[{i}]");
            self.component(path, c, true)?;
            path.truncate(base);
        }
        Ok(())
    }

    fn component(
        &mut self,
        path: &mut String,
        c: &'a Component,
        register: bool,
    ) -> Result<(), ParseError> {
        let base = path.len();
        path.push_str(".id");
        check_id(path, &c.id, false)?;
        path.truncate(base);
        if register {
            if let Some(first) = self.seen.get(c.id.as_str()) {
                return Err(ParseError::DuplicateId {
                    path: path.clone(),
                    id: c.id.clone(),
                    first: first.clone(),
                });
            }
            self.seen.insert(&c.id, path.clone());
        }
        if let Err(v) = c.props.check(c.children.len()) {
            return Err(ParseError::InvalidProp {
                path: format!("{path}.props.{}", v.prop),
                reason: v.reason,
            });
        }
        for (event, binding) in &c.on_event {
            if !c.component_type().events().contains(&event.as_str()) {
                return Err(ParseError::UnknownEvent {
                    path: format!("{path}.on_event.{event}"),
                    event: event.clone(),
                    component_type: c.component_type(),
                });
            }
            for (i, call) in binding.0.iter().enumerate() {
                let at = || {
                    if binding.0.len() == 1 {
                        format!("{path}.on_event.{event}")
                    } else {
                        format!("{path}.on_event.{event}[{i}]")
                    }
                };
                let Some(spec) = self.tools.get(&call.tool) else {
                    return Err(ParseError::UnknownTool {
                        path: at(),
                        tool: call.tool.clone(),
                    });
                };
                if let Some(p) = spec.permission
                    && !self.bp.app.permissions.contains(&p)
                {
                    return Err(ParseError::PermissionRequired {
                        path: at(),
                        tool: call.tool.clone(),
                        permission: p.as_str().to_owned(),
                    });
                }
            }
        }
        if !c.children.is_empty() {
            if !c.component_type().takes_children() {
                return Err(ParseError::ChildrenNotAllowed {
                    path: format!("{path}.children"),
                    component_type: c.component_type(),
                });
            }
            path.push_str(".children");
            self.list(path, &c.children)?;
            path.truncate(base);
        }
        if let Some(fb) = &c.fallback
            && let super::Fallback::Component(f) = fb
        {
            // A fallback stands in for its component, so it may reuse the same id;
            // its own children still need ids of their own.
            path.push_str(".fallback");
            self.component(path, f, f.id != c.id)?;
            path.truncate(base);
        }
        Ok(())
    }
}
