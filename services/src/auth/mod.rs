//! Who is calling: users, passwords, session tokens and the local API token.
//!
//! Plain Rust, no HTTP: the `http` layers and the `http::auth` router call in here.
