//! Tools: what a Blueprint's events call.
//!
//! This module owns the catalogue of tools ([`ToolRegistry`]) with each tool's id,
//! description, argument schema and the permission it needs.

mod registry;

pub use registry::{ToolRegistry, ToolSpec, namespace_permission};
