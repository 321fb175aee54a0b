//! Off Linux there is no rtnetlink: the same functions as `rtnl.rs`, each refusing.
//! Nothing calls them there, since no mode that needs a link is ever given
//! (`portable.rs`), but the bridge and veth logic above them stays one piece of code.

use std::net::Ipv4Addr;

use super::{NetError, links::VethPair};

fn unavailable() -> NetError {
    NetError::Unavailable("links, addresses and routes need Linux's rtnetlink".into())
}

pub(crate) fn create_bridge(_: &str, _: &str, _: Ipv4Addr, _: u8) -> Result<(), NetError> {
    Err(unavailable())
}

pub(crate) fn create_veth(_: &VethPair<'_>) -> Result<(), NetError> {
    Err(unavailable())
}

pub(crate) fn configure_peer(
    _: i32,
    _: &str,
    _: Ipv4Addr,
    _: u8,
    _: Ipv4Addr,
) -> Result<(), NetError> {
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
