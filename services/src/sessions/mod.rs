//! Saved workspaces per user: the running apps, their window geometry and state,
//! component state and chat history, to be restored later (even after both daemons
//! restart).
//!
//! Plain Rust, no HTTP. Persisted through the kernel's filesystem syscalls, whose
//! writes are atomic, so a crash mid-save leaves the previous save intact.
