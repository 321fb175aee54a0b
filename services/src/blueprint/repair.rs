//! Repairs generated Blueprints, or rejects them.
//!
//! A generator (a template or an LLM) may write props the schema does not have, leave
//! out ids, or forget the spec version. [`repair`] fixes only what cannot change what
//! the app does: it drops unknown fields and props, fills missing ids, the spec
//! version and the app's version, and says what it did. Anything else (an unknown
//! tool, a missing permission, a bad prop value) is left for the strict parser to
//! reject, because guessing there would change the app's behaviour.

use std::{
    collections::{HashMap, HashSet},
    sync::OnceLock,
};

use serde_json::{Map, Value};

use super::model::{Blueprint, SPEC_VERSION};
use super::parse::{ParseError, from_value};
use super::props::ComponentType;
use crate::tools::ToolRegistry;

/// One change [`repair`] made, with the JSON path where it made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    FilledSpec,
    FilledAppVersion,
    FilledId { path: String, id: String },
    DroppedField { path: String },
}

const TOP_FIELDS: &[&str] = &["$schema", "spec", "app", "services", "ui"];
const APP_FIELDS: &[&str] = &[
    "id",
    "name",
    "icon",
    "category",
    "version",
    "description",
    "permissions",
    "hosts",
];
const UI_FIELDS: &[&str] = &["title", "layout", "components"];
const COMPONENT_FIELDS: &[&str] = &["type", "id", "props", "children", "on_event", "fallback"];

/// The prop names of each component type, read from the published schema.
fn known_props(t: ComponentType) -> &'static HashSet<String> {
    static PROPS: OnceLock<HashMap<ComponentType, HashSet<String>>> = OnceLock::new();
    let all = PROPS.get_or_init(|| {
        let schema = super::schema_json();
        ComponentType::ALL
            .iter()
            .map(|t| {
                let names = schema["$defs"][t.props_schema_name()]["properties"]
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                (*t, names)
            })
            .collect()
    });
    &all[&t]
}

/// Repairs `value` (see the module docs) and parses it strictly; the changes made are
/// returned beside the Blueprint.
pub fn repair(
    mut value: Value,
    tools: &ToolRegistry,
) -> Result<(Blueprint, Vec<Repair>), ParseError> {
    let mut repairs = Vec::new();
    if let Value::Object(top) = &mut value {
        drop_unknown(top, TOP_FIELDS, "", &mut repairs);
        if !top.contains_key("spec") {
            top.insert("spec".into(), SPEC_VERSION.into());
            repairs.push(Repair::FilledSpec);
        }
        if let Some(Value::Object(app)) = top.get_mut("app") {
            drop_unknown(app, APP_FIELDS, "app", &mut repairs);
            if !app.contains_key("version") {
                app.insert("version".into(), "1.0.0".into());
                repairs.push(Repair::FilledAppVersion);
            }
        }
        if let Some(Value::Object(ui)) = top.get_mut("ui") {
            drop_unknown(ui, UI_FIELDS, "ui", &mut repairs);
            if let Some(Value::Array(list)) = ui.get_mut("components") {
                let mut ids = HashSet::new();
                collect_ids(list, &mut ids);
                let mut fixer = Fixer {
                    ids,
                    repairs: &mut repairs,
                };
                fixer.list(list, "ui.components");
            }
        }
    }
    let bp = from_value(value, tools)?;
    Ok((bp, repairs))
}

/// Repairs one component (and what it nests) in place, as [`repair`] does; `taken` are
/// the ids a filled id must not reuse. Used by the lenient stream parser.
pub(crate) fn repair_component(c: &mut Value, path: &str, taken: HashSet<String>) -> Vec<Repair> {
    let mut ids = taken;
    collect_ids(std::slice::from_ref(c), &mut ids);
    let mut repairs = Vec::new();
    Fixer {
        ids,
        repairs: &mut repairs,
    }
    .component(c, path);
    repairs
}

fn drop_unknown(map: &mut Map<String, Value>, known: &[&str], path: &str, out: &mut Vec<Repair>) {
    map.retain(|k, _| {
        let keep = known.contains(&k.as_str());
        if !keep {
            out.push(Repair::DroppedField {
                path: join(path, k),
            });
        }
        keep
    });
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn collect_ids(list: &[Value], ids: &mut HashSet<String>) {
    for c in list {
        if let Some(id) = c.get("id").and_then(Value::as_str) {
            ids.insert(id.to_owned());
        }
        if let Some(Value::Array(children)) = c.get("children") {
            collect_ids(children, ids);
        }
        if let Some(f @ Value::Object(_)) = c.get("fallback") {
            collect_ids(std::slice::from_ref(f), ids);
        }
    }
}

struct Fixer<'a> {
    ids: HashSet<String>,
    repairs: &'a mut Vec<Repair>,
}

impl Fixer<'_> {
    fn list(&mut self, list: &mut [Value], path: &str) {
        for (i, c) in list.iter_mut().enumerate() {
            self.component(c, &format!("{path}[{i}]"));
        }
    }

    fn component(&mut self, c: &mut Value, path: &str) {
        let Value::Object(map) = c else { return };
        drop_unknown(map, COMPONENT_FIELDS, path, self.repairs);
        let ty = map
            .get("type")
            .and_then(Value::as_str)
            .and_then(ComponentType::from_name);
        if let Some(t) = ty {
            if let Some(Value::Object(props)) = map.get_mut("props") {
                let known = known_props(t);
                let at = format!("{path}.props");
                props.retain(|k, _| {
                    let keep = known.contains(k);
                    if !keep {
                        self.repairs
                            .push(Repair::DroppedField { path: join(&at, k) });
                    }
                    keep
                });
            }
            if let Some(Value::Object(on_event)) = map.get_mut("on_event") {
                let at = format!("{path}.on_event");
                on_event.retain(|event, _| {
                    // A binding to an event the component never fires would never run.
                    let keep = t.events().contains(&event.as_str());
                    if !keep {
                        self.repairs.push(Repair::DroppedField {
                            path: join(&at, event),
                        });
                    }
                    keep
                });
            }
            let has_id = map
                .get("id")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty());
            if !has_id {
                let id = self.fresh_id(t.as_str());
                map.insert("id".into(), id.clone().into());
                self.repairs.push(Repair::FilledId {
                    path: format!("{path}.id"),
                    id,
                });
            }
        }
        if let Some(Value::Array(children)) = map.get_mut("children") {
            self.list(children, &format!("{path}.children"));
        }
        if let Some(f @ Value::Object(_)) = map.get_mut("fallback") {
            self.component(f, &format!("{path}.fallback"));
        }
    }

    fn fresh_id(&mut self, stem: &str) -> String {
        let id = (1..)
            .map(|n| format!("{stem}-{n}"))
            .find(|id| !self.ids.contains(id))
            .expect("an unbounded range has a free id");
        self.ids.insert(id.clone());
        id
    }
}
