//! Running apps: one lifecycle for the three app types (Blueprint, native web,
//! native process), with parent/child relations, focus and window state.
//!
//! Plain Rust, no HTTP: the `http::apps` router calls in here. Focus changes are
//! forwarded to the kernel's scheduler (`set_focus`) for apps that own a process.
