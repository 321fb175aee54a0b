//! The typed props of each component type, and the checks serde cannot express.
//!
//! Every props struct denies unknown fields, so a typo (`txt` for `text`) is an error
//! that names the field rather than a prop the renderer silently ignores. Fields
//! common to every component (`aria_label`, `visible`, `style`) are added by
//! [`props!`], so each struct lists only what is its own. Checks across fields (a
//! slider's `min < max`, a select's `value` among its options) are in
//! [`Props::check`], which reports the prop's name and the reason.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A CSS-like style value: a length in pixels or a keyword/colour string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StyleValue {
    Number(f64),
    Text(String),
}

/// Declares a props struct with the fields every component shares. An `Option` field
/// may be left out of the JSON, and is left out of it when `None`.
macro_rules! props {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        props!(@field [$(#[$m])* $name] [] $($body)*
            /// Read by screen readers; defaults to the visible text.
            pub aria_label: Option<String>,
            /// Hidden components keep their state (`ui.show` brings them back).
            pub visible: Option<bool>,
            /// Inline style overrides, e.g. `{"width": 120, "color": "#333"}`.
            pub style: Option<BTreeMap<String, StyleValue>>,
        );
    };
    (@field $head:tt [$($done:tt)*]
        $(#[$fm:meta])* pub $field:ident: Option<$t:ty>, $($rest:tt)*) => {
        props!(@field $head [$($done)*
            $(#[$fm])*
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub $field: Option<$t>,
        ] $($rest)*);
    };
    (@field $head:tt [$($done:tt)*] $(#[$fm:meta])* pub $field:ident: $t:ty, $($rest:tt)*) => {
        props!(@field $head [$($done)* $(#[$fm])* pub $field: $t,] $($rest)*);
    };
    (@field [$(#[$m:meta])* $name:ident] [$($done:tt)*]) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($done)*
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ButtonVariant {
    Primary,
    Secondary,
    Danger,
    Ghost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    Text,
    Number,
    Password,
    Email,
    Search,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TextVariant {
    Body,
    H1,
    H2,
    H3,
    Caption,
    Code,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Align {
    Start,
    Center,
    End,
    Stretch,
    SpaceBetween,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Row,
    Column,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    Neutral,
    Info,
    Success,
    Warning,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImageFit {
    Contain,
    Cover,
    Fill,
    None,
}

props! {
    /// A push button; its `click` event is the usual binding.
    pub struct ButtonProps {
        pub text: String,
        pub variant: Option<ButtonVariant>,
        pub icon: Option<String>,
        pub disabled: Option<bool>,
    }
}

props! {
    /// A one-line text field; `change` fires on edit, `submit` on Enter.
    pub struct InputProps {
        pub value: Option<String>,
        pub placeholder: Option<String>,
        pub label: Option<String>,
        pub input_type: Option<InputKind>,
        pub max_length: Option<u32>,
        pub readonly: Option<bool>,
        pub disabled: Option<bool>,
    }
}

props! {
    /// Static or tool-updated text (`ui.set` changes `text`).
    pub struct TextProps {
        pub text: String,
        pub variant: Option<TextVariant>,
        pub align: Option<Align>,
    }
}

props! {
    /// A labelled check box; `change` fires with the new `checked`.
    pub struct CheckboxProps {
        pub label: Option<String>,
        pub checked: Option<bool>,
        pub disabled: Option<bool>,
    }
}

props! {
    /// One choice of a radio group; buttons with the same `group` exclude each other.
    pub struct RadioProps {
        pub label: String,
        pub group: String,
        pub value: String,
        pub checked: Option<bool>,
        pub disabled: Option<bool>,
    }
}

props! {
    /// A range input: `min < max`, `step > 0`, `min <= value <= max`.
    pub struct SliderProps {
        pub min: Option<f64>,
        pub max: Option<f64>,
        pub step: Option<f64>,
        pub value: Option<f64>,
        pub label: Option<String>,
        pub disabled: Option<bool>,
    }
}

props! {
    /// A flex box for its children.
    pub struct ContainerProps {
        pub direction: Option<Direction>,
        pub gap: Option<f64>,
        pub padding: Option<f64>,
        pub align: Option<Align>,
        pub justify: Option<Align>,
        pub wrap: Option<bool>,
    }
}

props! {
    /// A grid of `columns` (1 to 24) columns for its children.
    pub struct GridProps {
        pub columns: u32,
        pub gap: Option<f64>,
    }
}

props! {
    /// A list of text items (`ui.add_item` / `ui.remove_item` change them).
    pub struct ListProps {
        pub items: Option<Vec<String>>,
        pub ordered: Option<bool>,
        pub empty_text: Option<String>,
        pub checkable: Option<bool>,
    }
}

/// One option of a `select`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectOption {
    pub value: String,
    pub label: String,
}

props! {
    /// A drop-down: at least one option, values unique, `value` among them.
    pub struct SelectProps {
        pub options: Vec<SelectOption>,
        pub value: Option<String>,
        pub label: Option<String>,
        pub placeholder: Option<String>,
        pub disabled: Option<bool>,
    }
}

props! {
    /// A multi-line text field.
    pub struct TextareaProps {
        pub value: Option<String>,
        pub placeholder: Option<String>,
        pub label: Option<String>,
        pub rows: Option<u32>,
        pub readonly: Option<bool>,
        pub disabled: Option<bool>,
    }
}

props! {
    /// An image; `alt` is required (say `""` for a decorative one).
    pub struct ImageProps {
        pub src: String,
        pub alt: String,
        pub width: Option<f64>,
        pub height: Option<f64>,
        pub fit: Option<ImageFit>,
    }
}

props! {
    /// A video player.
    pub struct VideoProps {
        pub src: String,
        pub poster: Option<String>,
        pub controls: Option<bool>,
        pub autoplay: Option<bool>,
        pub muted: Option<bool>,
        #[serde(rename = "loop")]
        pub looped: Option<bool>,
    }
}

props! {
    /// An audio player.
    pub struct AudioProps {
        pub src: String,
        pub controls: Option<bool>,
        pub autoplay: Option<bool>,
        #[serde(rename = "loop")]
        pub looped: Option<bool>,
    }
}

props! {
    /// A drawing surface of `width` x `height` pixels (1 to 8192 each).
    pub struct CanvasProps {
        pub width: u32,
        pub height: u32,
        pub background: Option<String>,
    }
}

props! {
    /// A short status label.
    pub struct BadgeProps {
        pub text: String,
        pub tone: Option<Tone>,
    }
}

props! {
    /// A titled panel for its children.
    pub struct CardProps {
        pub title: Option<String>,
        pub subtitle: Option<String>,
        pub elevation: Option<u8>,
    }
}

props! {
    /// A rule between components.
    pub struct DividerProps {
        pub direction: Option<Direction>,
    }
}

props! {
    /// A dialog over the app's window, shown by `ui.show` or `open`.
    pub struct ModalProps {
        pub title: String,
        pub open: Option<bool>,
        pub dismissible: Option<bool>,
    }
}

props! {
    /// Tabs: one label per child, in order; `active` is an index.
    pub struct TabsProps {
        pub labels: Vec<String>,
        pub active: Option<u32>,
    }
}

props! {
    /// An icon that launches another app by its registry id.
    pub struct AppShortcutProps {
        pub app_id: String,
        pub label: String,
        pub icon: Option<String>,
        pub description: Option<String>,
    }
}

props! {
    /// An embedded page: `src` must be `http(s)://`, `title` names it for screen readers.
    pub struct IframeProps {
        pub src: String,
        pub title: String,
        pub height: Option<f64>,
    }
}

props! {
    /// A progress bar: `0 <= value <= max`, `max > 0` (100 when absent). While
    /// `running`, the page adds `step` (1) to its value every `interval_ms` (1000,
    /// at least 50) and fires `tick`; at `max` it stops and fires `complete` — the
    /// clock of a timer. `ui.set` with `prop: "running"` starts and stops it.
    pub struct ProgressProps {
        pub value: Option<f64>,
        pub max: Option<f64>,
        pub label: Option<String>,
        pub indeterminate: Option<bool>,
        pub running: Option<bool>,
        pub interval_ms: Option<u32>,
        pub step: Option<f64>,
    }
}

/// Declares the component types: the enum of names, the enum of typed props, and the
/// dispatch between them, from one list so the three cannot disagree.
macro_rules! components {
    ($( $variant:ident => $name:literal, $props:ident, children: $children:literal, events: [$($event:literal),*]; )*) => {
        /// The name of a component type, as written in `type`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ComponentType { $($variant,)* }

        /// A component's props, typed by its component type.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum Props { $($variant($props),)* }

        impl ComponentType {
            /// Every type, in the order of the spec.
            pub const ALL: &[ComponentType] = &[$(ComponentType::$variant,)*];

            /// The name as written in a Blueprint.
            pub fn as_str(self) -> &'static str {
                match self { $(ComponentType::$variant => $name,)* }
            }

            /// Parses a name as written in a Blueprint.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(ComponentType::$variant),)* _ => None }
            }

            /// The events components of this type fire, for `on_event`.
            pub fn events(self) -> &'static [&'static str] {
                match self { $(ComponentType::$variant => &[$($event),*],)* }
            }

            /// Whether components of this type hold children.
            pub fn takes_children(self) -> bool {
                match self { $(ComponentType::$variant => $children,)* }
            }

            /// The name of this type's props definition in the JSON Schema.
            pub(crate) fn props_schema_name(self) -> &'static str {
                match self { $(ComponentType::$variant => stringify!($props),)* }
            }

            /// Deserializes this type's props from a serde source.
            pub(crate) fn deserialize_props<'de, D: serde::Deserializer<'de>>(
                self,
                de: D,
            ) -> Result<Props, D::Error> {
                match self {
                    $(ComponentType::$variant => $props::deserialize(de).map(Props::$variant),)*
                }
            }

            /// Adds this type's props schema to `generator`; returns the `$ref` schema.
            pub(crate) fn props_schema(self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                match self { $(ComponentType::$variant => generator.subschema_for::<$props>(),)* }
            }
        }

        impl Props {
            /// The component type these props belong to.
            pub fn component_type(&self) -> ComponentType {
                match self { $(Props::$variant(_) => ComponentType::$variant,)* }
            }
        }
    };
}

components! {
    Button => "button", ButtonProps, children: false, events: ["click"];
    Input => "input", InputProps, children: false, events: ["change", "submit", "focus", "blur"];
    Text => "text", TextProps, children: false, events: ["click"];
    Checkbox => "checkbox", CheckboxProps, children: false, events: ["change"];
    Radio => "radio", RadioProps, children: false, events: ["change"];
    Slider => "slider", SliderProps, children: false, events: ["change"];
    Container => "container", ContainerProps, children: true, events: ["click"];
    Grid => "grid", GridProps, children: true, events: [];
    List => "list", ListProps, children: false, events: ["change", "select"];
    Select => "select", SelectProps, children: false, events: ["change"];
    Textarea => "textarea", TextareaProps, children: false, events: ["change", "focus", "blur"];
    Image => "image", ImageProps, children: false, events: ["click", "load", "error"];
    Video => "video", VideoProps, children: false, events: ["play", "pause", "ended"];
    Audio => "audio", AudioProps, children: false, events: ["play", "pause", "ended"];
    Canvas => "canvas", CanvasProps, children: false, events: ["click"];
    Badge => "badge", BadgeProps, children: false, events: ["click"];
    Card => "card", CardProps, children: true, events: ["click"];
    Divider => "divider", DividerProps, children: false, events: [];
    Modal => "modal", ModalProps, children: true, events: ["open", "close"];
    Tabs => "tabs", TabsProps, children: true, events: ["change"];
    AppShortcut => "app_shortcut", AppShortcutProps, children: false, events: ["click"];
    Iframe => "iframe", IframeProps, children: false, events: ["load"];
    Progress => "progress", ProgressProps, children: false, events: ["tick", "complete"];
}

impl std::fmt::Display for ComponentType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A prop that breaks a rule serde cannot express: which prop, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropViolation {
    /// The prop's name, e.g. `max`.
    pub prop: &'static str,
    pub reason: String,
}

fn violation(prop: &'static str, reason: impl Into<String>) -> Result<(), PropViolation> {
    Err(PropViolation {
        prop,
        reason: reason.into(),
    })
}

fn non_negative(prop: &'static str, v: Option<f64>) -> Result<(), PropViolation> {
    match v {
        Some(x) if x < 0.0 => violation(prop, format!("must be at least 0, got {x}")),
        _ => Ok(()),
    }
}

fn web_url(prop: &'static str, src: &str) -> Result<(), PropViolation> {
    if src.starts_with("https://") || src.starts_with("http://") {
        Ok(())
    } else {
        violation(
            prop,
            format!("must be an http:// or https:// URL, got {src:?}"),
        )
    }
}

impl Props {
    /// Checks the rules across fields; `children` is how many children the component has.
    pub fn check(&self, children: usize) -> Result<(), PropViolation> {
        match self {
            Props::Slider(p) => {
                let (min, max) = (p.min.unwrap_or(0.0), p.max.unwrap_or(100.0));
                if min >= max {
                    return violation(
                        "max",
                        format!("must be greater than min ({min}), got {max}"),
                    );
                }
                if let Some(step) = p.step
                    && step <= 0.0
                {
                    return violation("step", format!("must be greater than 0, got {step}"));
                }
                match p.value {
                    Some(v) if v < min || v > max => {
                        violation("value", format!("must be between {min} and {max}, got {v}"))
                    }
                    _ => Ok(()),
                }
            }
            Props::Progress(p) => {
                let max = p.max.unwrap_or(100.0);
                if max <= 0.0 {
                    return violation("max", format!("must be greater than 0, got {max}"));
                }
                if let Some(ms) = p.interval_ms
                    && ms < 50
                {
                    return violation("interval_ms", format!("must be at least 50, got {ms}"));
                }
                if let Some(step) = p.step
                    && step <= 0.0
                {
                    return violation("step", format!("must be greater than 0, got {step}"));
                }
                match p.value {
                    Some(v) if !(0.0..=max).contains(&v) => {
                        violation("value", format!("must be between 0 and {max}, got {v}"))
                    }
                    _ => Ok(()),
                }
            }
            Props::Grid(p) if !(1..=24).contains(&p.columns) => violation(
                "columns",
                format!("must be between 1 and 24, got {}", p.columns),
            ),
            Props::Grid(p) => non_negative("gap", p.gap),
            Props::Container(p) => {
                non_negative("gap", p.gap)?;
                non_negative("padding", p.padding)
            }
            Props::Select(p) => {
                if p.options.is_empty() {
                    return violation("options", "must have at least one option");
                }
                for (i, o) in p.options.iter().enumerate() {
                    if p.options[..i].iter().any(|e| e.value == o.value) {
                        return violation("options", format!("value {:?} appears twice", o.value));
                    }
                }
                match &p.value {
                    Some(v) if !p.options.iter().any(|o| &o.value == v) => {
                        violation("value", format!("{v:?} is not one of the options"))
                    }
                    _ => Ok(()),
                }
            }
            Props::Textarea(p) if p.rows == Some(0) => violation("rows", "must be at least 1"),
            Props::Canvas(p) => {
                for (prop, v) in [("width", p.width), ("height", p.height)] {
                    if !(1..=8192).contains(&v) {
                        return violation(prop, format!("must be between 1 and 8192, got {v}"));
                    }
                }
                Ok(())
            }
            Props::Image(p) => {
                if p.src.is_empty() {
                    return violation("src", "must not be empty");
                }
                non_negative("width", p.width)?;
                non_negative("height", p.height)
            }
            Props::Video(p) if p.src.is_empty() => violation("src", "must not be empty"),
            Props::Audio(p) if p.src.is_empty() => violation("src", "must not be empty"),
            Props::Iframe(p) => {
                web_url("src", &p.src)?;
                if p.title.trim().is_empty() {
                    return violation("title", "must name the page for screen readers");
                }
                non_negative("height", p.height)
            }
            Props::Tabs(p) => {
                if p.labels.len() != children {
                    return violation(
                        "labels",
                        format!(
                            "has {} labels for {children} children (one label per tab)",
                            p.labels.len()
                        ),
                    );
                }
                match p.active {
                    Some(a) if a as usize >= children => violation(
                        "active",
                        format!("is tab {a}, but there are only {children} tabs"),
                    ),
                    _ => Ok(()),
                }
            }
            Props::AppShortcut(p) if p.app_id.is_empty() => {
                violation("app_id", "must not be empty")
            }
            Props::Radio(p) if p.group.is_empty() => violation("group", "must not be empty"),
            _ => Ok(()),
        }
    }
}
