//! The incremental parser: a Blueprint streamed as a flat list of components.
//!
//! A generator streams a Blueprint the way google/A2UI streams a surface: not one
//! nested document, but a sequence of small JSON objects, each complete on its own,
//! with children named by id. Each message is one of
//!
//! ```json
//! {"spec": "1.0"}
//! {"app": {"id": "timer", "name": "Timer", "version": "1.0.0"}}
//! {"ui": {"title": "Timer", "layout": "vertical", "root": ["display", "row"]}}
//! {"component": {"type": "container", "id": "row", "props": {}, "children": ["start", "stop"]}}
//! {"component": {"type": "button", "id": "start", "props": {"text": "Start"}}}
//! ```
//!
//! (a bare component object, with `type`, is read as a `component` message). Messages may
//! be split across chunks anywhere, one per line or not; text between messages (an
//! LLM's prose, a code fence) is skipped. As soon as a component is complete,
//! [`StreamParser::push`] returns it, listing the children that have not arrived yet
//! so a renderer can show placeholders; when one arrives later its event names the
//! parent that was waiting for it. A bad message is reported and skipped; the stream
//! goes on. [`StreamParser::finish`] assembles the tree and validates it as a whole.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{
    AppMeta, Binding, Blueprint, Component, Layout, SPEC_VERSION, UiSpec, read_props,
};
use super::parse::{ParseError, validate};
use super::props::{ComponentType, Props};
use super::repair::{Repair, repair_component};
use crate::tools::ToolRegistry;

/// The largest message accepted; a stream that opens a brace and never closes it
/// cannot make the parser hold more than this.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// The deepest component tree a stream may build. Nested documents are bounded by
/// serde_json's recursion limit; a flat stream could describe a chain of any depth,
/// and the tree is walked recursively.
pub const MAX_DEPTH: usize = 64;

/// A component as streamed: its children are ids.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlatComponent {
    pub id: String,
    #[serde(rename = "type")]
    pub component_type: ComponentType,
    pub props: Props,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub on_event: BTreeMap<String, Binding>,
}

/// What one pushed chunk completed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StreamEvent {
    App {
        app: AppMeta,
    },
    Surface {
        title: String,
        layout: Layout,
        root: Vec<String>,
    },
    /// A component arrived. `placeholders` are its children not here yet; `parent` is
    /// the component that was showing a placeholder for it, if any.
    Component {
        component: FlatComponent,
        placeholders: Vec<String>,
        parent: Option<String>,
    },
    /// A message was rejected and skipped.
    Error {
        error: StreamError,
    },
}

/// A rejected message: which one (counting from 0) and why.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("message {message}: {reason}")]
pub struct StreamError {
    pub message: usize,
    /// The JSON path inside the message, e.g. `component.props.max`.
    pub path: String,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlat {
    #[serde(rename = "type")]
    component_type: String,
    id: String,
    #[serde(default)]
    props: Option<Value>,
    #[serde(default)]
    children: Vec<String>,
    #[serde(default)]
    on_event: BTreeMap<String, Binding>,
    #[serde(default)]
    fallback: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSurface {
    title: String,
    #[serde(default)]
    layout: Layout,
    #[serde(default)]
    root: Option<Vec<String>>,
}

/// Reads a streamed Blueprint message by message; see the module docs.
#[derive(Debug)]
pub struct StreamParser {
    buf: String,
    /// Bytes of `buf` already scanned.
    scanned: usize,
    /// Where the current message starts in `buf`, while one is open.
    start: Option<usize>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    messages: usize,
    spec: Option<String>,
    app: Option<AppMeta>,
    surface: Option<RawSurface>,
    /// Components in arrival order, and where each is in that order.
    components: Vec<FlatComponent>,
    index: HashMap<String, usize>,
    /// Child id → the parent that declared it first.
    parent_of: HashMap<String, String>,
    /// `Some` when lenient: the repairs made so far.
    repairs: Option<Vec<Repair>>,
}

impl Default for StreamParser {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamParser {
    pub fn new() -> Self {
        StreamParser {
            buf: String::new(),
            scanned: 0,
            start: None,
            depth: 0,
            in_string: false,
            escaped: false,
            messages: 0,
            spec: None,
            app: None,
            surface: None,
            components: Vec::new(),
            index: HashMap::new(),
            parent_of: HashMap::new(),
            repairs: None,
        }
    }

    /// A parser for generated streams: before a component is read, its unknown fields
    /// and props are dropped and a missing id is filled, as [`super::repair`] does for
    /// whole documents; [`StreamParser::repairs`] lists what was changed.
    pub fn lenient() -> Self {
        StreamParser {
            repairs: Some(Vec::new()),
            ..Self::new()
        }
    }

    /// What a [`StreamParser::lenient`] parser repaired so far (empty for a strict one).
    pub fn repairs(&self) -> &[Repair] {
        self.repairs.as_deref().unwrap_or_default()
    }

    /// Feeds the next chunk; returns what it completed.
    pub fn push(&mut self, chunk: &str) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        self.buf.push_str(chunk);
        let mut i = self.scanned;
        let bytes = self.buf.as_bytes();
        let mut done: Vec<(usize, usize)> = Vec::new();
        while i < bytes.len() {
            let b = bytes[i];
            match self.start {
                None => {
                    if b == b'{' {
                        self.start = Some(i);
                        self.depth = 1;
                    }
                }
                Some(start) => {
                    if self.in_string {
                        if self.escaped {
                            self.escaped = false;
                        } else if b == b'\\' {
                            self.escaped = true;
                        } else if b == b'"' {
                            self.in_string = false;
                        }
                    } else {
                        match b {
                            b'"' => self.in_string = true,
                            b'{' | b'[' => self.depth += 1,
                            b'}' | b']' => {
                                self.depth -= 1;
                                if self.depth == 0 {
                                    done.push((start, i + 1));
                                    self.start = None;
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            i += 1;
        }
        for (from, to) in done {
            let text = self.buf[from..to].to_owned();
            self.message(&text, &mut events);
        }
        // Keep only the open message, if any.
        match self.start {
            None => {
                self.buf.clear();
                self.scanned = 0;
            }
            Some(start) if self.buf.len() - start > MAX_MESSAGE_BYTES => {
                events.push(self.error(
                    String::new(),
                    format!("a message is longer than {MAX_MESSAGE_BYTES} bytes; skipped"),
                ));
                self.buf.clear();
                self.scanned = 0;
                self.start = None;
                self.in_string = false;
                self.escaped = false;
                self.depth = 0;
            }
            Some(start) => {
                self.buf.drain(..start);
                self.start = Some(0);
                self.scanned = self.buf.len();
            }
        }
        events
    }

    fn error(&mut self, path: String, reason: String) -> StreamEvent {
        let message = self.messages;
        self.messages += 1;
        StreamEvent::Error {
            error: StreamError {
                message,
                path,
                reason,
            },
        }
    }

    fn message(&mut self, text: &str, events: &mut Vec<StreamEvent>) {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let ev = self.error(String::new(), format!("not valid JSON: {e}"));
                events.push(ev);
                return;
            }
        };
        let Value::Object(mut map) = value else {
            unreachable!("a message starts with '{{'")
        };
        let result = if map.len() == 1 && map.contains_key("spec") {
            match map.remove("spec") {
                Some(Value::String(s)) => {
                    self.spec = Some(s);
                    Ok(None)
                }
                _ => Err((
                    "spec".to_owned(),
                    "must be a string like \"1.0\"".to_owned(),
                )),
            }
        } else if map.len() == 1 && map.contains_key("app") {
            let v = map.remove("app").unwrap_or_default();
            read::<AppMeta>(v, "app").map(|app| {
                self.app = Some(app.clone());
                Some(StreamEvent::App { app })
            })
        } else if map.len() == 1 && map.contains_key("ui") {
            let v = map.remove("ui").unwrap_or_default();
            read::<RawSurface>(v, "ui").map(|s| {
                let event = StreamEvent::Surface {
                    title: s.title.clone(),
                    layout: s.layout,
                    root: s.root.clone().unwrap_or_default(),
                };
                self.surface = Some(s);
                Some(event)
            })
        } else if map.len() == 1 && map.contains_key("component") {
            let v = map.remove("component").unwrap_or_default();
            self.component(v, "component").map(Some)
        } else if map.contains_key("type") {
            self.component(Value::Object(map), "").map(Some)
        } else {
            Err((
                String::new(),
                "expected one of {\"spec\"}, {\"app\"}, {\"ui\"}, {\"component\"} or a component with `type`"
                    .to_owned(),
            ))
        };
        match result {
            Ok(Some(ev)) => {
                self.messages += 1;
                events.push(ev);
            }
            Ok(None) => self.messages += 1,
            Err((path, reason)) => {
                let ev = self.error(path, reason);
                events.push(ev);
            }
        }
    }

    fn component(&mut self, mut v: Value, at: &str) -> Result<StreamEvent, (String, String)> {
        if let Some(repairs) = &mut self.repairs {
            let taken = self.index.keys().cloned().collect();
            let path = format!(
                "messages[{}]{}",
                self.messages,
                if at.is_empty() {
                    String::new()
                } else {
                    format!(".{at}")
                }
            );
            repairs.extend(repair_component(&mut v, &path, taken));
        }
        let raw: RawFlat = read(v, at)?;
        let Some(t) = ComponentType::from_name(&raw.component_type) else {
            return match raw.fallback {
                Some(Value::String(s)) if s == "drop" => Err((
                    join(at, "type"),
                    format!(
                        "unknown component type {:?}, dropped by its fallback",
                        raw.component_type
                    ),
                )),
                Some(fb @ Value::Object(_)) => self.component(fb, &join(at, "fallback")),
                _ => Err((
                    join(at, "type"),
                    format!(
                        "unknown component type {:?} and no `fallback`",
                        raw.component_type
                    ),
                )),
            };
        };
        let props_at = join(at, "props");
        let props = read_props(
            t,
            raw.props
                .unwrap_or_else(|| Value::Object(Default::default())),
        )
        .map_err(|(inner, e)| (join(&props_at, &inner), e))?;
        if let Err(v) = props.check(raw.children.len()) {
            return Err((join(&props_at, v.prop), v.reason));
        }
        if self.index.contains_key(&raw.id) {
            return Err((
                join(at, "id"),
                format!("component id {:?} arrived twice", raw.id),
            ));
        }
        let placeholders: Vec<String> = raw
            .children
            .iter()
            .filter(|c| !self.index.contains_key(*c))
            .cloned()
            .collect();
        for c in &raw.children {
            self.parent_of
                .entry(c.clone())
                .or_insert_with(|| raw.id.clone());
        }
        let parent = self.parent_of.get(&raw.id).cloned();
        let component = FlatComponent {
            id: raw.id,
            component_type: t,
            props,
            children: raw.children,
            on_event: raw.on_event,
        };
        self.index
            .insert(component.id.clone(), self.components.len());
        self.components.push(component.clone());
        Ok(StreamEvent::Component {
            component,
            placeholders,
            parent,
        })
    }

    /// Ends the stream: assembles the tree from the root ids (or, without a `ui` message,
    /// from the components no other names as a child, in arrival order) and validates it.
    pub fn finish(mut self, tools: &ToolRegistry) -> Result<Blueprint, ParseError> {
        let app = self.app.take().ok_or_else(|| ParseError::InvalidField {
            path: "app".into(),
            reason: "the stream never sent an `app` message".into(),
        })?;
        let (title, layout, root) = match self.surface.take() {
            Some(s) => (s.title, s.layout, s.root),
            None => (app.name.clone(), Layout::default(), None),
        };
        let root = root.unwrap_or_else(|| {
            self.components
                .iter()
                .filter(|c| !self.parent_of.contains_key(&c.id))
                .map(|c| c.id.clone())
                .collect()
        });
        let mut slots: Vec<Option<FlatComponent>> = std::mem::take(&mut self.components)
            .into_iter()
            .map(Some)
            .collect();
        let mut components = Vec::with_capacity(root.len());
        for (i, id) in root.iter().enumerate() {
            let path = format!("ui.root[{i}]");
            components.push(self.build(id, &mut slots, &path, 1)?);
        }
        if let Some(left) = slots.iter().flatten().next() {
            return Err(ParseError::InvalidField {
                path: format!("component {:?}", left.id),
                reason: "is not reachable from the root".into(),
            });
        }
        let bp = Blueprint {
            schema: None,
            spec: self.spec.take().unwrap_or_else(|| SPEC_VERSION.to_owned()),
            app,
            services: Vec::new(),
            ui: UiSpec {
                title,
                layout,
                components,
            },
        };
        validate(&bp, tools)?;
        Ok(bp)
    }

    fn build(
        &self,
        id: &str,
        slots: &mut [Option<FlatComponent>],
        path: &str,
        depth: usize,
    ) -> Result<Component, ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError::InvalidField {
                path: path.to_owned(),
                reason: format!("components are nested more than {MAX_DEPTH} deep"),
            });
        }
        let Some(&i) = self.index.get(id) else {
            return Err(ParseError::InvalidField {
                path: path.to_owned(),
                reason: format!("component {id:?} never arrived"),
            });
        };
        let Some(flat) = slots[i].take() else {
            return Err(ParseError::InvalidField {
                path: path.to_owned(),
                reason: format!("component {id:?} appears twice in the tree"),
            });
        };
        let mut children = Vec::with_capacity(flat.children.len());
        for (n, c) in flat.children.iter().enumerate() {
            let at = format!("component {id:?}.children[{n}]");
            children.push(self.build(c, slots, &at, depth + 1)?);
        }
        Ok(Component {
            id: flat.id,
            props: flat.props,
            children,
            on_event: flat.on_event,
            fallback: None,
        })
    }
}

/// The components of `bp` in streaming form, each parent before its children.
/// Fallbacks are not part of the streamed form and are left out.
pub fn flatten(bp: &Blueprint) -> Vec<FlatComponent> {
    fn add(c: &Component, out: &mut Vec<FlatComponent>) {
        out.push(FlatComponent {
            id: c.id.clone(),
            component_type: c.component_type(),
            props: c.props.clone(),
            children: c.children.iter().map(|k| k.id.clone()).collect(),
            on_event: c.on_event.clone(),
        });
        for k in &c.children {
            add(k, out);
        }
    }
    let mut out = Vec::new();
    for c in &bp.ui.components {
        add(c, &mut out);
    }
    out
}

/// `bp` as the messages of a stream, one JSON object per line (see the module docs).
pub fn to_stream_text(bp: &Blueprint) -> String {
    let root: Vec<&str> = bp.ui.components.iter().map(|c| c.id.as_str()).collect();
    let mut lines = vec![
        serde_json::json!({"spec": bp.spec}),
        serde_json::json!({"app": bp.app}),
        serde_json::json!({"ui": {"title": bp.ui.title, "layout": bp.ui.layout, "root": root}}),
    ];
    lines.extend(
        flatten(bp)
            .into_iter()
            .map(|c| serde_json::json!({"component": c})),
    );
    let mut out = String::new();
    for l in lines {
        out.push_str(&l.to_string());
        out.push('\n');
    }
    out
}

fn join(a: &str, b: &str) -> String {
    if b.is_empty() {
        a.to_owned()
    } else if a.is_empty() {
        b.to_owned()
    } else {
        format!("{a}.{b}")
    }
}

fn read<T: serde::de::DeserializeOwned>(v: Value, at: &str) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = e.path().to_string();
        let path = if inner == "." {
            at.to_owned()
        } else {
            join(at, &inner)
        };
        (path, e.into_inner().to_string())
    })
}
