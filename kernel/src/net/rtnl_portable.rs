//! Off Linux there is no rtnetlink: the same functions as `rtnl.rs`, each refusing.
//! Nothing calls them there, since no mode that needs a link is ever given
//! (`portable.rs`), but the bridge and veth logic above them stays one piece of code.

use std::net::IpAddr;

use super::{NetError, links::VethPair};

fn unavailable() -> NetError {
    NetError::Unavailable("links, addresses and routes need Linux's rtnetlink".into())
}

/// An address and its prefix length on a link.
pub(crate) type Net = (IpAddr, u8);

pub(crate) fn create_bridge(_: &str, _: &str, _: &[Net]) -> Result<(), NetError> {
    Err(unavailable())
}

pub(crate) fn create_veth(_: &VethPair<'_>) -> Result<(), NetError> {
    Err(unavailable())
}

pub(crate) fn configure_peer(_: i32, _: &str, _: &[Net], _: &[IpAddr]) -> Result<(), NetError> {
    Err(unavailable())
}

pub(crate) fn delete_link(_: &str) -> Result<(), NetError> {
    Err(unavailable())
}

pub(crate) fn links() -> Result<Vec<(String, Option<String>)>, NetError> {
    Err(unavailable())
}

pub(crate) fn no_such_link(_: &NetError) -> bool {
    false
}
