//! The app registry: saved app definitions per user (Blueprints and native
//! manifests), with categories, versions and search.
//!
//! Plain Rust, no HTTP. Entries persist as JSON files through the kernel's
//! filesystem syscalls, whose writes are atomic (temp file, fsync, rename).
