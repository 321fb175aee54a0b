//! The errors of the network subsystem.

use std::io;

/// Why a network could not be set up or torn down.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Bad input (a mode, a group name, a port forward).
    #[error("{0}")]
    Invalid(String),
    /// The mode cannot work on this host or rung (says why).
    #[error("{0}")]
    Unavailable(String),
    /// A finite resource ran out (subnets, addresses, a host port taken).
    #[error("{0}")]
    Exhausted(String),
    /// A host tool could not be started.
    #[error("starting `{tool}`: {source}")]
    Spawn {
        tool: &'static str,
        #[source]
        source: io::Error,
    },
    /// A host tool ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Tool {
        command: String,
        status: String,
        stderr: String,
    },
    /// A netlink (rtnetlink) step on a link failed; `source` carries the kernel's errno.
    #[error("{step} link {link} over rtnetlink: {source}")]
    Netlink {
        step: &'static str,
        link: String,
        #[source]
        source: io::Error,
    },
    /// Any other host call.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

impl NetError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}
