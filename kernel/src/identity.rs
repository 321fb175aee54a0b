//! Who is calling: taken from the connection, never from the request body.
//!
//! On the Unix socket the caller is the peer's `SO_PEERCRED` (uid, gid, pid), which
//! tonic hands over as `UdsConnectInfo`. Only the daemon's own uid and root may call;
//! any other uid is refused with PERMISSION_DENIED (the socket's 0600 mode and the
//! directory's 0700 already keep them out; this is the second wall). On TCP the caller
//! must present `authorization: Bearer <DIR/kernel.token>`. [`secret`] makes that
//! token's bytes, and those of shared-memory tickets.

use std::sync::Arc;

use tonic::{
    Request, Status,
    transport::server::{TcpConnectInfo, UdsConnectInfo},
};

/// An authenticated caller, stored in each request's extensions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    /// The peer process (Unix socket only).
    pub pid: Option<i32>,
    /// Set when the call came in on a managed process's own kernel socket: the
    /// process (by its kernel pid) whose capabilities every syscall is checked against.
    pub managed: Option<u32>,
    /// The request chain this call belongs to (`x-agentos-causality`; 0: none).
    pub causality: u64,
}

impl Caller {
    /// The key of this caller's per-caller state (working directory, environment,
    /// completion queue): its process, or "tcp" for token holders.
    pub fn key(&self) -> String {
        match (self.managed, self.pid) {
            (Some(m), _) => Self::managed_key(m),
            (None, Some(pid)) => format!("pid:{pid}"),
            (None, None) => format!("tcp:{}", self.uid),
        }
    }

    /// The [`Caller::key`] of managed process `pid`'s calls.
    pub fn managed_key(pid: u32) -> String {
        format!("managed:{pid}")
    }

    /// The caller used by in-process tests and benchmarks.
    pub fn local() -> Self {
        Self {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            pid: Some(std::process::id() as i32),
            managed: None,
            causality: 0,
        }
    }
}

pub use agentos_client::causality::CAUSALITY_HEADER;

/// The caller of a request that passed an interceptor, with the request's
/// causality id.
pub fn caller_of<T>(req: &Request<T>) -> Result<Caller, Status> {
    let mut caller = req
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no caller identity on this connection"))?;
    if let Some(v) = req.metadata().get(CAUSALITY_HEADER) {
        caller.causality = v
            .to_str()
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                Status::invalid_argument(format!("{CAUSALITY_HEADER} must be a decimal u64"))
            })?;
    }
    Ok(caller)
}

/// The peer's credentials, from the Unix socket connection.
fn peer_cred(req: &Request<()>) -> Result<tokio::net::unix::UCred, Status> {
    req.extensions()
        .get::<UdsConnectInfo>()
        .and_then(|i| i.peer_cred)
        .ok_or_else(|| Status::unauthenticated("peer credentials unavailable"))
}

/// Interceptor for the Unix socket: admits the daemon's uid and root.
pub fn uds_interceptor() -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
    let me = nix::unistd::geteuid().as_raw();
    move |mut req: Request<()>| {
        let cred = peer_cred(&req)?;
        if cred.uid() != me && cred.uid() != 0 {
            return Err(Status::permission_denied(format!(
                "uid {} may not use this kernel (it serves uid {me})",
                cred.uid()
            )));
        }
        let caller = Caller {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
            managed: None,
            causality: 0,
        };
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}

/// Interceptor for a managed process's own socket: every call on it is that
/// process's, whatever the peer claims; only its sandbox uid may connect.
pub fn managed_interceptor(
    process: u32,
    sandbox_uid: u32,
) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |mut req: Request<()>| {
        let cred = peer_cred(&req)?;
        if cred.uid() != sandbox_uid && cred.uid() != 0 {
            return Err(Status::permission_denied(format!(
                "uid {} is not process {process}'s sandbox",
                cred.uid()
            )));
        }
        req.extensions_mut().insert(Caller {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
            managed: Some(process),
            causality: 0,
        });
        Ok(req)
    }
}

/// Interceptor for the TCP listener: requires the bearer token.
pub fn tcp_interceptor(
    token: Arc<str>,
) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
    let me = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    move |mut req: Request<()>| {
        if req.extensions().get::<TcpConnectInfo>().is_none() {
            return Err(Status::unauthenticated("not a TCP connection"));
        }
        let presented = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("missing `authorization: Bearer <token>`"))?;
        if !constant_time_eq(presented.as_bytes(), token.as_bytes()) {
            return Err(Status::unauthenticated("wrong token"));
        }
        req.extensions_mut().insert(Caller {
            uid: me,
            gid,
            pid: None,
            managed: None,
            causality: 0,
        });
        Ok(req)
    }
}

/// `N` bytes from the host's CSPRNG (getrandom), for tokens and tickets.
pub fn secret<const N: usize>() -> std::io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    let mut filled = 0;
    while filled < N {
        // SAFETY: writes at most `N - filled` bytes into the rest of `bytes`.
        #[cfg(target_os = "linux")]
        let n = unsafe { libc::getrandom(bytes[filled..].as_mut_ptr().cast(), N - filled, 0) };
        // macOS has getentropy(2) instead: at most 256 bytes a call, all or nothing.
        #[cfg(not(target_os = "linux"))]
        let n = {
            let len = (N - filled).min(256);
            // SAFETY: writes `len` bytes into the rest of `bytes`.
            match unsafe { libc::getentropy(bytes[filled..].as_mut_ptr().cast(), len) } {
                0 => len as isize,
                _ => -1,
            }
        };
        match usize::try_from(n) {
            Ok(n) => filled += n,
            Err(_) if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {
            }
            Err(_) => return Err(std::io::Error::last_os_error()),
        }
    }
    Ok(bytes)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_fresh_each_time() {
        let (a, b) = (secret::<32>().unwrap(), secret::<32>().unwrap());
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn tcp_interceptor_refuses_missing_and_wrong_tokens() {
        let f = tcp_interceptor(Arc::from("secret"));
        let mut req = Request::new(());
        req.extensions_mut().insert(TcpConnectInfo {
            local_addr: None,
            remote_addr: None,
        });
        assert_eq!(f(req).unwrap_err().code(), tonic::Code::Unauthenticated);
        let mut req = Request::new(());
        req.extensions_mut().insert(TcpConnectInfo {
            local_addr: None,
            remote_addr: None,
        });
        req.metadata_mut()
            .insert("authorization", "Bearer nope".parse().unwrap());
        assert_eq!(f(req).unwrap_err().code(), tonic::Code::Unauthenticated);
        let mut req = Request::new(());
        req.extensions_mut().insert(TcpConnectInfo {
            local_addr: None,
            remote_addr: None,
        });
        req.metadata_mut()
            .insert("authorization", "Bearer secret".parse().unwrap());
        assert!(f(req).unwrap().extensions().get::<Caller>().is_some());
    }
}
