//! [`Namespaces`]: a sandbox's user and network namespaces, held open by the kernel.
//!
//! A rootless kernel reaches into a sandbox's network only through these: to load the
//! namespace's nftables rules (`net/tool.rs` enters them in a forked `nft`) and to start
//! a [`super::Dialer`] there. They are opened once, at spawn, while init waits for its
//! "go": once init has made itself undumpable, a rootless kernel may no longer open
//! `/proc/PID/ns/*`.

use std::{io, os::fd::OwnedFd};

/// A sandbox's user and network namespaces (`/proc/PID/ns/{user,net}`).
#[derive(Debug)]
pub struct Namespaces {
    user: OwnedFd,
    net: OwnedFd,
}

impl Namespaces {
    /// Those of process `pid` (a sandbox's init, before it runs on).
    pub fn of(pid: i32) -> io::Result<Self> {
        let open = |kind: &str| {
            let path = format!("/proc/{pid}/ns/{kind}");
            std::fs::File::open(&path)
                .map(OwnedFd::from)
                .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
        };
        Ok(Self {
            user: open("user")?,
            net: open("net")?,
        })
    }

    /// Another handle on the same namespaces.
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            user: self.user.try_clone()?,
            net: self.net.try_clone()?,
        })
    }

    /// The user namespace.
    pub fn user(&self) -> &OwnedFd {
        &self.user
    }

    /// The network namespace.
    pub fn net(&self) -> &OwnedFd {
        &self.net
    }
}
