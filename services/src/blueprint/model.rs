//! The Blueprint document: serde types for `.bp` files.
//!
//! Most types derive their serde impls. [`Component`] has its own, because its `props`
//! are typed by its `type`: when `type` comes first (as it does in every file we
//! write and nearly every generated one) the props deserialize straight into their
//! struct, keeping the JSON path for errors; when `props` comes first they are
//! buffered as a `serde_json::Value` and read once the type is known.
//!
//! A component whose `type` this version does not know is replaced by its `fallback`
//! (a component, or `"drop"` to leave it out), as Adaptive Cards does; without a
//! fallback it is an error.

use std::{collections::BTreeMap, fmt};

use schemars::JsonSchema;
use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor},
    ser::SerializeMap,
};
use serde_json::{Map, Value};

use super::props::{ComponentType, Props};

/// The spec version this parser writes and reads.
pub const SPEC_VERSION: &str = "1.0";

/// Prefix of the serde error message for an unknown component type without a fallback;
/// [`super::parse`] turns it back into [`super::ParseError::UnknownComponentType`].
pub(crate) const UNKNOWN_TYPE_PREFIX: &str = "unknown component type `";

/// Prefix of a serde error message that carries a path below the current one (props
/// read from a buffered value, where `serde_path_to_error` cannot see):
/// `"{NESTED_PATH_PREFIX}props.max: reason"`. [`super::parse`] moves it into the path.
pub(crate) const NESTED_PATH_PREFIX: &str = "at path ";

/// A whole `.bp` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Blueprint {
    /// The schema an editor should check this file against (ignored by the parser).
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The spec version, `"1.0"`; a newer minor version of the same major is read.
    pub spec: String,
    pub app: AppMeta,
    /// Service providers the app uses (`storage`, `filesystem`, ...), for the launcher's display.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    pub ui: UiSpec,
}

/// Who the app is and what it may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppMeta {
    /// Registry id: lowercase ASCII letters, digits, `-`, `_` and `.`, starting with a letter or digit.
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The app's own version, e.g. `1.0.0`.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What the app's tools may reach; `ui.*` and `math.*` need none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<Permission>,
    /// Hosts `http.*` may reach (`example.com`, `*.example.com`); needs `network`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

/// A permission an app declares; each guards one tool namespace.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// `fs.*`: files, under the app's grants.
    Filesystem,
    /// `storage.*`: the app's own key-value store.
    Storage,
    /// `http.*`: only to the hosts in `app.hosts`.
    Network,
    /// `system.*`: host information, time, the log.
    System,
    /// `app.*`: launching, closing and focusing apps.
    Apps,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Filesystem => "filesystem",
            Permission::Storage => "storage",
            Permission::Network => "network",
            Permission::System => "system",
            Permission::Apps => "apps",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the top-level components are laid out in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    #[default]
    Vertical,
    Horizontal,
    Grid,
}

/// The window's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UiSpec {
    pub title: String,
    #[serde(default)]
    pub layout: Layout,
    #[serde(deserialize_with = "deserialize_components")]
    pub components: Vec<Component>,
}

/// One node of the component tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Unique within the Blueprint; tools address components by it.
    pub id: String,
    /// The props; their variant is the component's type.
    pub props: Props,
    pub children: Vec<Component>,
    /// Event name (`click`, `change`, `submit`, ...) → the tool calls it runs, in order.
    pub on_event: BTreeMap<String, Binding>,
    /// What to show if this component cannot be rendered.
    pub fallback: Option<Fallback>,
}

impl Component {
    /// The component's type.
    pub fn component_type(&self) -> ComponentType {
        self.props.component_type()
    }

    /// This component and all below it, depth first.
    pub fn walk(&self) -> impl Iterator<Item = &Component> {
        let mut stack = vec![self];
        std::iter::from_fn(move || {
            let next = stack.pop()?;
            stack.extend(next.children.iter().rev());
            Some(next)
        })
    }
}

/// What replaces a component that cannot be rendered.
#[derive(Debug, Clone, PartialEq)]
pub enum Fallback {
    /// Leave it out.
    Drop,
    Component(Box<Component>),
}

/// The tool calls one event runs, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding(pub Vec<ToolCall>);

/// One tool call: the tool's id and its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    #[schemars(schema_with = "super::schema::tool_id_schema")]
    pub tool: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub args: Map<String, Value>,
}

impl Blueprint {
    /// Every component, depth first.
    pub fn components(&self) -> impl Iterator<Item = &Component> {
        self.ui.components.iter().flat_map(Component::walk)
    }

    /// The component with this id.
    pub fn component(&self, id: &str) -> Option<&Component> {
        self.components().find(|c| c.id == id)
    }
}

// ---- Serialize ----

impl Serialize for Component {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", self.component_type().as_str())?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("props", &self.props)?;
        if !self.children.is_empty() {
            m.serialize_entry("children", &self.children)?;
        }
        if !self.on_event.is_empty() {
            m.serialize_entry("on_event", &self.on_event)?;
        }
        if let Some(f) = &self.fallback {
            m.serialize_entry("fallback", f)?;
        }
        m.end()
    }
}

impl Serialize for Fallback {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Fallback::Drop => s.serialize_str("drop"),
            Fallback::Component(c) => c.serialize(s),
        }
    }
}

impl Serialize for Binding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] if one.args.is_empty() => s.serialize_str(&one.tool),
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }
}

// ---- Deserialize ----

/// A component as read: itself, or what its fallback left of it.
#[expect(
    clippy::large_enum_variant,
    reason = "lives only while one component is read, then is unwrapped"
)]
enum Node {
    Component(Component),
    Dropped,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    Type,
    Id,
    Props,
    Children,
    OnEvent,
    Fallback,
}

enum TypeName {
    Known(ComponentType),
    Unknown(String),
}

struct PropsSeed(ComponentType);

impl<'de> DeserializeSeed<'de> for PropsSeed {
    type Value = Props;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Props, D::Error> {
        self.0.deserialize_props(d)
    }
}

/// Reads `t`'s props from a buffered value; on error, the path inside the props and why.
pub(crate) fn read_props(t: ComponentType, v: Value) -> Result<Props, (String, String)> {
    let mut track = serde_path_to_error::Track::new();
    let tracked = serde_path_to_error::Deserializer::new(v, &mut track);
    t.deserialize_props(tracked).map_err(|e| {
        let inner = track.path().to_string();
        let inner = if inner == "." { String::new() } else { inner };
        (inner, e.to_string())
    })
}

struct Children(Vec<Component>);

impl<'de> Deserialize<'de> for Children {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_components(d).map(Children)
    }
}

/// Reads a component list, leaving out components dropped by their fallback.
pub(crate) fn deserialize_components<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<Component>, D::Error> {
    let nodes = Vec::<Node>::deserialize(d)?;
    Ok(nodes
        .into_iter()
        .filter_map(|n| match n {
            Node::Component(c) => Some(c),
            Node::Dropped => None,
        })
        .collect())
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a component object with `type`, `id` and `props`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut ty: Option<TypeName> = None;
        let mut id: Option<String> = None;
        let mut props: Option<Props> = None;
        let mut early_props: Option<Value> = None;
        let mut children: Option<Children> = None;
        let mut on_event: Option<BTreeMap<String, Binding>> = None;
        let mut fallback: Option<Fallback> = None;
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::Type => {
                    if ty.is_some() {
                        return Err(de::Error::duplicate_field("type"));
                    }
                    let name = map.next_value::<String>()?;
                    ty = Some(match ComponentType::from_name(&name) {
                        Some(t) => TypeName::Known(t),
                        None => TypeName::Unknown(name),
                    });
                }
                Field::Id => {
                    if id.is_some() {
                        return Err(de::Error::duplicate_field("id"));
                    }
                    id = Some(map.next_value()?);
                }
                Field::Props => {
                    if props.is_some() || early_props.is_some() {
                        return Err(de::Error::duplicate_field("props"));
                    }
                    match &ty {
                        Some(TypeName::Known(t)) => {
                            props = Some(map.next_value_seed(PropsSeed(*t))?)
                        }
                        Some(TypeName::Unknown(_)) => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                        None => early_props = Some(map.next_value()?),
                    }
                }
                Field::Children => {
                    if children.is_some() {
                        return Err(de::Error::duplicate_field("children"));
                    }
                    children = Some(map.next_value()?);
                }
                Field::OnEvent => {
                    if on_event.is_some() {
                        return Err(de::Error::duplicate_field("on_event"));
                    }
                    on_event = Some(map.next_value()?);
                }
                Field::Fallback => {
                    if fallback.is_some() {
                        return Err(de::Error::duplicate_field("fallback"));
                    }
                    fallback = Some(map.next_value()?);
                }
            }
        }
        let t = match ty {
            None => return Err(de::Error::missing_field("type")),
            Some(TypeName::Unknown(name)) => {
                return match fallback {
                    Some(Fallback::Drop) => Ok(Node::Dropped),
                    Some(Fallback::Component(c)) => Ok(Node::Component(*c)),
                    None => Err(de::Error::custom(format_args!(
                        "{UNKNOWN_TYPE_PREFIX}{name}` (and no `fallback`)"
                    ))),
                };
            }
            Some(TypeName::Known(t)) => t,
        };
        let props = match (props, early_props) {
            (Some(p), _) => p,
            (None, early) => {
                let v = early.unwrap_or_else(|| Value::Object(Map::new()));
                read_props(t, v).map_err(|(inner, e)| {
                    let inner = if inner.is_empty() {
                        inner
                    } else {
                        format!(".{inner}")
                    };
                    de::Error::custom(format_args!("{NESTED_PATH_PREFIX}props{inner}: {e}"))
                })?
            }
        };
        Ok(Node::Component(Component {
            id: id.ok_or_else(|| de::Error::missing_field("id"))?,
            props,
            children: children.map(|c| c.0).unwrap_or_default(),
            on_event: on_event.unwrap_or_default(),
            fallback,
        }))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(NodeVisitor)
    }
}

impl<'de> Deserialize<'de> for Component {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Node::deserialize(d)? {
            Node::Component(c) => Ok(c),
            Node::Dropped => Err(de::Error::custom(
                "the component's type is unknown and its fallback is `drop`",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Fallback {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fallback;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"drop\" or a component")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Fallback, E> {
                if v == "drop" {
                    Ok(Fallback::Drop)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Fallback, A::Error> {
                Ok(match NodeVisitor.visit_map(map)? {
                    Node::Component(c) => Fallback::Component(Box::new(c)),
                    Node::Dropped => Fallback::Drop,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Binding {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Binding;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tool id, a {\"tool\", \"args\"} object, or a list of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Binding, E> {
                Ok(Binding(vec![ToolCall {
                    tool: v.to_owned(),
                    args: Map::new(),
                }]))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Binding, A::Error> {
                let call = ToolCall::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Binding(vec![call]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Binding, A::Error> {
                let mut calls = Vec::new();
                while let Some(one) = seq.next_element::<Binding>()? {
                    calls.extend(one.0);
                }
                if calls.is_empty() {
                    return Err(de::Error::invalid_length(0, &"at least one tool call"));
                }
                Ok(Binding(calls))
            }
        }
        d.deserialize_any(V)
    }
}
