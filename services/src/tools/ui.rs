//! `ui.*`: the per-app component-state map the UI tools change.
//!
//! [`UiState`] starts from a Blueprint's props and holds, for each component id, its
//! current props as JSON. Every change is checked by reading the props back into the
//! component's typed struct, so the state can never hold what the Blueprint parser
//! would refuse (`ui.set` of a string into a slider's `value` fails; a number into an
//! input's `value` becomes its text). Changes are also queued as [`UiChange`]s, which
//! the WebSocket layer sends to the desktop and a session save can replay.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ToolError;
use crate::blueprint::{Blueprint, ComponentType, Props};

/// One component's current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentState {
    #[serde(rename = "type")]
    pub component_type: ComponentType,
    pub props: Map<String, Value>,
}

/// A prop that changed: what the desktop must redraw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UiChange {
    pub id: String,
    pub prop: String,
    pub value: Value,
}

/// The component-state map of one running app.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UiState {
    components: BTreeMap<String, ComponentState>,
    #[serde(skip)]
    changes: Vec<UiChange>,
}

/// The prop a tool reads or writes when the call names none.
pub fn primary_prop(t: ComponentType) -> &'static str {
    use ComponentType as T;
    match t {
        T::Text | T::Button | T::Badge => "text",
        T::Checkbox | T::Radio => "checked",
        T::List => "items",
        T::Tabs => "active",
        T::Modal => "open",
        T::Image | T::Video | T::Audio | T::Iframe => "src",
        T::Card => "title",
        T::AppShortcut => "app_id",
        _ => "value",
    }
}

impl UiState {
    /// The initial state of every component of `bp` (fallbacks are not included).
    pub fn from_blueprint(bp: &Blueprint) -> UiState {
        let components = bp
            .components()
            .map(|c| {
                let props = match serde_json::to_value(&c.props) {
                    Ok(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                let state = ComponentState {
                    component_type: c.component_type(),
                    props,
                };
                (c.id.clone(), state)
            })
            .collect();
        UiState {
            components,
            changes: Vec::new(),
        }
    }

    pub fn get(&self, id: &str) -> Option<&ComponentState> {
        self.components.get(id)
    }

    /// A prop's value (the primary prop when `prop` is `None`); `Null` if unset.
    pub fn prop(&self, id: &str, prop: Option<&str>) -> Result<Value, ToolError> {
        let c = self.component(id)?;
        let prop = prop.unwrap_or(primary_prop(c.component_type));
        Ok(c.props.get(prop).cloned().unwrap_or(Value::Null))
    }

    /// The changes made since the last call.
    pub fn take_changes(&mut self) -> Vec<UiChange> {
        std::mem::take(&mut self.changes)
    }

    fn component(&self, id: &str) -> Result<&ComponentState, ToolError> {
        self.components
            .get(id)
            .ok_or_else(|| ToolError::UnknownComponent { id: id.to_owned() })
    }

    /// Sets a prop, converting a number or boolean to text (or text to a number) when
    /// that is what the prop takes; refuses a value the component's props reject.
    pub fn set(&mut self, id: &str, prop: Option<&str>, value: Value) -> Result<Value, ToolError> {
        let c = self.component(id)?;
        let t = c.component_type;
        let prop = prop.unwrap_or(primary_prop(t)).to_owned();
        let mut first_error = None;
        for candidate in candidates(value) {
            let mut props = c.props.clone();
            if candidate.is_null() {
                props.remove(&prop);
            } else {
                props.insert(prop.clone(), candidate.clone());
            }
            match check(t, &props) {
                Ok(()) => {
                    self.components.get_mut(id).expect("looked up above").props = props;
                    self.changes.push(UiChange {
                        id: id.to_owned(),
                        prop,
                        value: candidate.clone(),
                    });
                    return Ok(candidate);
                }
                Err(reason) => {
                    first_error.get_or_insert(reason);
                }
            }
        }
        Err(ToolError::InvalidValue {
            id: id.to_owned(),
            prop,
            reason: first_error.unwrap_or_default(),
        })
    }

    /// Appends text to a string prop (the primary one when `prop` is `None`).
    pub fn append(&mut self, id: &str, text: &str) -> Result<Value, ToolError> {
        let current = self.prop(id, None)?;
        let mut s = match current {
            Value::Null => String::new(),
            Value::String(s) => s,
            other => other.to_string(),
        };
        s.push_str(text);
        self.set(id, None, Value::String(s))
    }

    /// Empties the primary prop: `""` for text, `[]` for a list, unset otherwise.
    pub fn clear(&mut self, id: &str) -> Result<Value, ToolError> {
        let c = self.component(id)?;
        let empty = match primary_prop(c.component_type) {
            "items" => Value::Array(Vec::new()),
            "text" | "value"
                if matches!(
                    c.component_type,
                    ComponentType::Input | ComponentType::Textarea | ComponentType::Text
                ) =>
            {
                Value::String(String::new())
            }
            _ => Value::Null,
        };
        self.set(id, None, empty)
    }

    /// Flips a boolean prop (`checked` when `prop` is `None`).
    pub fn toggle(&mut self, id: &str, prop: Option<&str>) -> Result<Value, ToolError> {
        let prop = prop.unwrap_or("checked");
        let now = self.prop(id, Some(prop))?.as_bool().unwrap_or(false);
        self.set(id, Some(prop), Value::Bool(!now))
    }

    pub fn add_item(&mut self, id: &str, item: &str) -> Result<Value, ToolError> {
        let mut items = self.items(id)?;
        items.push(Value::String(item.to_owned()));
        self.set(id, Some("items"), Value::Array(items))
    }

    /// Removes the item at `index`, or the first item equal to `item`.
    pub fn remove_item(
        &mut self,
        id: &str,
        index: Option<usize>,
        item: Option<&str>,
    ) -> Result<Value, ToolError> {
        let mut items = self.items(id)?;
        let at = match (index, item) {
            (Some(i), _) => Some(i).filter(|i| *i < items.len()),
            (None, Some(text)) => items.iter().position(|v| v.as_str() == Some(text)),
            (None, None) => None,
        };
        let Some(at) = at else {
            return Err(ToolError::InvalidValue {
                id: id.to_owned(),
                prop: "items".into(),
                reason: "no such item".into(),
            });
        };
        items.remove(at);
        self.set(id, Some("items"), Value::Array(items))
    }

    fn items(&self, id: &str) -> Result<Vec<Value>, ToolError> {
        match self.prop(id, Some("items"))? {
            Value::Array(a) => Ok(a),
            Value::Null if self.component(id)?.component_type == ComponentType::List => {
                Ok(Vec::new())
            }
            _ => Err(ToolError::InvalidValue {
                id: id.to_owned(),
                prop: "items".into(),
                reason: "the component has no list of items".into(),
            }),
        }
    }
}

/// The value as given, then converted to text, then to a number.
fn candidates(value: Value) -> Vec<Value> {
    let mut out = vec![value.clone()];
    match &value {
        Value::Number(n) => out.push(Value::String(n.to_string())),
        Value::Bool(b) => out.push(Value::String(b.to_string())),
        Value::String(s) => {
            if let Some(n) = s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
            {
                out.push(Value::Number(n));
            }
            if let Ok(b) = s.trim().parse::<bool>() {
                out.push(Value::Bool(b));
            }
        }
        _ => {}
    }
    out
}

/// Whether `props` are valid props of a `t`, as the Blueprint parser would read them.
fn check(t: ComponentType, props: &Map<String, Value>) -> Result<(), String> {
    let typed: Props = t
        .deserialize_props(Value::Object(props.clone()))
        .map_err(|e| e.to_string())?;
    // Children are not the state's business: count the tabs as the labels say.
    let children = match &typed {
        Props::Tabs(p) => p.labels.len(),
        _ => 0,
    };
    typed
        .check(children)
        .map_err(|v| format!("{}: {}", v.prop, v.reason))
}
