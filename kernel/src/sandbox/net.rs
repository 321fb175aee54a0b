//! The network: mode `none` is a fresh network namespace with only `lo`, up.
//!
//! The clone creates the namespace (owned by the sandbox's user namespace, so its
//! init holds `CAP_NET_ADMIN` there); bringing `lo` up is one `SIOCSIFFLAGS`
//! ioctl, no netlink needed. The host's interfaces, including its loopback and
//! whatever listens on 127.0.0.1, are unreachable. The namespace dies with the
//! sandbox's last process: nothing is left on the host. `private` and `bridged`
//! add a veth to this namespace (`net/`); `shared` ([`super::NetworkMode::Host`])
//! makes no namespace at all, so nothing here runs, and the kernel wall's cgroup
//! programs hold its grants.

use super::sys;

/// `struct ifreq` with the flags member of its union (40 bytes on 64-bit Linux).
#[repr(C)]
struct IfReqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Child: sets `IFF_UP` on `lo`.
pub(crate) fn loopback_up() -> Result<(), i32> {
    // SAFETY: plain socket(2).
    let fd = sys::check(unsafe {
        libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
    })?;
    let mut req = IfReqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _pad: [0; 22],
    };
    req.name[..2].copy_from_slice(b"lo");
    // SAFETY: `req` is a valid ifreq for both ioctls.
    let r = unsafe {
        sys::check(libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req)).and_then(|_| {
            req.flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            sys::check(libc::ioctl(fd, libc::SIOCSIFFLAGS, &req))
        })
    };
    sys::close(fd);
    r.map(drop)
}
