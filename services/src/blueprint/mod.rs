//! Blueprints: the `.bp` JSON format of declarative apps.
//!
//! This module owns the format: its serde types ([`Blueprint`], [`Component`] and the
//! typed [`Props`] of the 23 component types), the parser with errors that name the
//! JSON path ([`parse`], [`ParseError`]), the JSON Schema generated from those types
//! ([`schema_json`]), the incremental parser for specs streamed as a flat list of
//! components ([`StreamParser`]), and the repair step for generated specs
//! ([`repair`]). It is plain Rust over `serde_json`: no I/O, no HTTP types.
//!
//! # A Blueprint
//!
//! ```json
//! {"spec": "1.0",
//!  "app": {"id": "counter", "name": "Counter", "version": "1.0.0"},
//!  "ui": {"title": "Counter", "components": [
//!    {"type": "text", "id": "count", "props": {"text": "0"}},
//!    {"type": "button", "id": "inc", "props": {"text": "+1"},
//!     "on_event": {"click": {"tool": "math.evaluate", "args": {"expression": "{{count}} + 1"}}}}]}}
//! ```
//!
//! Tool ids in `on_event` are checked against [`crate::tools::ToolRegistry`], and a tool
//! whose namespace needs a permission (`fs.*` needs `filesystem`) is refused unless
//! `app.permissions` declares it. A component of an unknown `type` is replaced by its
//! `fallback` (as Adaptive Cards does) and is an error without one.

mod model;
mod parse;
mod props;
mod repair;
mod schema;
mod stream;

pub use model::{
    AppMeta, Binding, Blueprint, Component, Fallback, Layout, Permission, SPEC_VERSION, ToolCall,
    UiSpec,
};
pub use parse::{ParseError, from_value, parse, parse_with, validate};
pub use props::{
    Align, AppShortcutProps, AudioProps, BadgeProps, ButtonProps, ButtonVariant, CanvasProps,
    CardProps, CheckboxProps, ComponentType, ContainerProps, Direction, DividerProps, GridProps,
    IframeProps, ImageFit, ImageProps, InputKind, InputProps, ListProps, ModalProps, ProgressProps,
    PropViolation, Props, RadioProps, SelectOption, SelectProps, SliderProps, StyleValue,
    TabsProps, TextProps, TextVariant, TextareaProps, Tone, VideoProps,
};
pub use repair::{Repair, repair};
pub use schema::schema_json;
pub use stream::{
    FlatComponent, MAX_DEPTH, MAX_MESSAGE_BYTES, StreamError, StreamEvent, StreamParser, flatten,
    to_stream_text,
};

#[cfg(test)]
mod tests;
