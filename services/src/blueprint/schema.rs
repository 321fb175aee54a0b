//! The Blueprint JSON Schema, generated from the Rust types with `schemars`.
//!
//! Most types derive `JsonSchema`. [`Component`], [`Fallback`] and [`Binding`] have
//! hand-written serde impls, so their schemas are written here to match: a component
//! is one of the known types with that type's props, or an unknown type that carries
//! a `fallback`.

use std::{borrow::Cow, sync::OnceLock};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::Value;

use super::model::{Binding, Blueprint, Component, Fallback, SPEC_VERSION, ToolCall};
use super::props::ComponentType;
use crate::tools::ToolRegistry;

/// The JSON Schema of a `.bp` document (draft 2020-12), served at
/// `GET /api/blueprint/schema.json`.
pub fn schema_json() -> Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut schema = schemars::schema_for!(Blueprint);
            // A URN, not a URL: the schema is served by each AgentOS, not from one site.
            schema.insert("$id".into(), "urn:agentos:blueprint:1".into());
            schema.insert(
                "title".into(),
                format!("AgentOS Blueprint {SPEC_VERSION}").into(),
            );
            schema.to_value()
        })
        .clone()
}

impl JsonSchema for Component {
    fn schema_name() -> Cow<'static, str> {
        "Component".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let children = generator.subschema_for::<Vec<Component>>();
        let binding = generator.subschema_for::<Binding>();
        let fallback = generator.subschema_for::<Fallback>();
        let id = json_schema!({"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"});
        let mut variants: Vec<Schema> = ComponentType::ALL
            .iter()
            .map(|t| {
                let props = t.props_schema(generator);
                let mut properties = serde_json::Map::new();
                properties.insert("type".into(), serde_json::json!({"const": t.as_str()}));
                properties.insert("id".into(), id.clone().to_value());
                properties.insert("props".into(), props.to_value());
                if t.takes_children() {
                    properties.insert("children".into(), children.clone().to_value());
                }
                properties.insert(
                    "on_event".into(),
                    serde_json::json!({
                        "type": "object",
                        "description": "Event name → the tool calls it runs.",
                        "propertyNames": {"enum": t.events()},
                        "additionalProperties": binding.clone(),
                    }),
                );
                properties.insert("fallback".into(), fallback.clone().to_value());
                json_schema!({
                    "type": "object",
                    "properties": properties,
                    "required": ["type", "id", "props"],
                    "additionalProperties": false,
                })
            })
            .collect();
        let known: Vec<&str> = ComponentType::ALL.iter().map(|t| t.as_str()).collect();
        variants.push(json_schema!({
            "description": "A type this version does not know: it is replaced by its fallback.",
            "type": "object",
            "properties": {
                "type": {"type": "string", "not": {"enum": known}},
                "fallback": fallback,
            },
            "required": ["type", "fallback"],
        }));
        json_schema!({
            "description": "A component: `type` picks the shape of `props`.",
            "oneOf": variants,
        })
    }
}

impl JsonSchema for Fallback {
    fn schema_name() -> Cow<'static, str> {
        "Fallback".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let component = generator.subschema_for::<Component>();
        json_schema!({
            "description": "Shown instead when the component cannot be rendered: another component, or \"drop\" to leave it out.",
            "anyOf": [{"const": "drop"}, component],
        })
    }
}

/// A tool id: one of the built-in tools, as the parser checks.
pub(crate) fn tool_id_schema(_: &mut SchemaGenerator) -> Schema {
    let ids: Vec<&str> = ToolRegistry::builtin().iter().map(|t| t.id).collect();
    json_schema!({"type": "string", "description": "a tool id", "enum": ids})
}

impl JsonSchema for Binding {
    fn schema_name() -> Cow<'static, str> {
        "Binding".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let call = generator.subschema_for::<ToolCall>();
        let one = json_schema!({"anyOf": [tool_id_schema(generator), call]});
        json_schema!({
            "description": "The tool calls an event runs, in order: a tool id, a {tool, args} object, or a list of them.",
            "anyOf": [one, {"type": "array", "items": one, "minItems": 1}],
        })
    }
}
