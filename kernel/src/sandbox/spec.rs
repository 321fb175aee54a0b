//! What to run and what it may see: [`SandboxSpec`], and its validation into the
//! facts the spawn plan is built from.
//!
//! Validation happens once, in the parent, before anything is created on the host:
//! argv ([`super::argv`]) and environment ([`super::env`]) checks, grants resolved
//! to canonical host paths, the program and working directory checked to lie inside
//! the sandbox's view, host ids never root. Nothing here touches the host except
//! `stat`/`realpath` of the granted paths.

use std::{
    ffi::CString,
    os::{
        fd::BorrowedFd,
        unix::ffi::{OsStrExt, OsStringExt},
    },
    path::{Component, Path, PathBuf},
};

use super::{
    argv::{self, ArgvError, MAX_ARG_BYTES},
    env::{self, EnvError},
    rlimit::Rlimits,
};

/// Host directories bound read-only into every sandbox, when they exist.
pub const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
];
/// The private tmpfs.
pub const TMP_DIR: &str = "/tmp";
/// Paths the sandbox builds itself; grants may not lie below them.
pub const RESERVED_DIRS: &[&str] = &["/proc", "/dev"];
/// Most read and write grants together.
pub const MAX_GRANTS: usize = 256;

/// The network a sandbox gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetworkMode {
    /// A fresh network namespace with only loopback, up. The host's interfaces and
    /// its loopback listeners are unreachable.
    #[default]
    None,
    /// The host's network namespace (network mode `shared`): no namespace is made, and what
    /// its grants allow is enforced by the kernel wall's cgroup connect, sendmsg and bind
    /// programs (`observe/probes/wall.rs`), never by the namespace.
    Host,
    /// Rootless `private` (and `bridged`): a namespace of its own whose non-local TCP
    /// init's nftables rules redirect to a listener it hands the kernel, which carries
    /// what the grants allow ([`super::net`]); `address` is the sandbox's own
    /// (`lo:agentos`), [`PROXY_ADDR`] for `private`, the member's for `bridged`.
    Proxied { address: [u8; 4] },
}

/// Rootless `private` ([`NetworkMode::Proxied`]): the sandbox's address for traffic
/// that leaves it (`lo:agentos`, /32), the source of the program's outgoing connections.
pub const PROXY_ADDR: [u8; 4] = [10, 213, 0, 2];
/// Rootless `private`: the sandbox's IPv6 address for traffic that leaves it (on `lo`,
/// /128), when the host has IPv6: `fd61:6765:6e74::2`.
pub const PROXY_ADDR6: [u8; 16] = [
    0xfd, 0x61, 0x67, 0x65, 0x6e, 0x74, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
];
/// Rootless `private`: the port on the sandbox's `127.0.0.1` where init listens for
/// the kernel; below 1024, so the program (no `CAP_NET_BIND_SERVICE`) never takes it.
pub const PROXY_PORT: u16 = 1023;
/// Rootless `private`: the port of init's transparent UDP socket on `127.0.0.1`, where the
/// namespace's rules hand the program's outgoing UDP (`net/udp_egress.rs`); below 1024 too.
pub const PROXY_UDP_PORT: u16 = 1022;
/// Rootless `private`: the packet mark its outgoing UDP is given, and the routing table
/// that mark selects (one `local` route over `lo`, so marked datagrams come back in
/// through `lo` to the transparent socket).
pub const PROXY_UDP_MARK: u32 = 0xa9d5;
pub const PROXY_UDP_TABLE: u32 = 213;

/// How the program's stdin, stdout and stderr are connected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StdioMode {
    /// Three pipes: the caller gets the write end of stdin and the read ends of
    /// stdout and stderr.
    #[default]
    Pipes,
    /// A pseudo-terminal of the given size; the caller gets the master, the program
    /// gets the slave as stdin, stdout, stderr and controlling terminal.
    Pty { rows: u16, cols: u16 },
}

/// Everything needed to start one sandboxed program.
#[derive(Debug, Clone)]
pub struct SandboxSpec<'fd> {
    /// The program: an absolute path inside the sandbox's view, taken as given, or a
    /// bare name, looked up on the sandbox's own `PATH` ([`resolve_program`]).
    pub program: PathBuf,
    /// argv, `argv[0]` included; see [`super::validate_argv`].
    pub argv: Vec<String>,
    /// The complete environment (the daemon's is never inherited); sanitised by
    /// [`super::sanitize_env`].
    pub env: Vec<(String, String)>,
    /// Working directory inside the view.
    pub cwd: PathBuf,
    /// Host paths visible read-only, at their canonical path.
    pub read: Vec<PathBuf>,
    /// Host paths visible read-write, at their canonical path.
    pub write: Vec<PathBuf>,
    /// Capabilities the program keeps (in its own user namespace); default none.
    pub keep_caps: Vec<super::Capability>,
    pub network: NetworkMode,
    pub stdio: StdioMode,
    /// The sandbox's host name (its own UTS namespace).
    pub hostname: String,
    /// The unprivileged host uid the program runs as; never 0.
    pub host_uid: u32,
    /// The unprivileged host gid the program runs as; never 0.
    pub host_gid: u32,
    /// A cgroup v2 directory to start the sandbox in (`CLONE_INTO_CGROUP`).
    pub cgroup_v2: Option<BorrowedFd<'fd>>,
    /// Bytes each of the private `/tmp` and `/dev/shm` may hold.
    pub tmp_size: u64,
    /// Limits applied by rlimit (when no cgroup holds them); see [`super::Rlimits`].
    pub rlimits: Rlimits,
    /// Rootless: the host ids are the account's subordinate ones, mapped through
    /// `newuidmap`/`newgidmap` (see `subid.rs`) rather than the user's own.
    pub subordinate: bool,
    /// TESTS ONLY: no landlock ruleset, so a test can show the walls behind it hold.
    pub skip_landlock_for_tests: bool,
    /// TESTS ONLY: the portable spawn supervises the child as macOS does (waitpid,
    /// kill before the reap) rather than by its pidfd; see [`super::ProcessHandle`].
    pub plain_child_for_tests: bool,
    /// A host file bound read-only over the view's `/etc/resolv.conf` (network modes
    /// private and bridged: the resolver their NAT reaches); `None` keeps the host's.
    pub resolv_conf: Option<PathBuf>,
}

/// The default cap of the sandbox's `/tmp` (and `/dev/shm`).
pub const DEFAULT_TMP_SIZE: u64 = 256 << 20;

impl<'fd> SandboxSpec<'fd> {
    /// A spec with the defaults: no grants, no capabilities, no network, pipes,
    /// working directory `/`, host name `agentos`, empty environment.
    pub fn new(
        program: impl Into<PathBuf>,
        argv: Vec<String>,
        host_uid: u32,
        host_gid: u32,
    ) -> Self {
        Self {
            program: program.into(),
            argv,
            env: Vec::new(),
            cwd: PathBuf::from("/"),
            read: Vec::new(),
            write: Vec::new(),
            keep_caps: Vec::new(),
            network: NetworkMode::None,
            stdio: StdioMode::Pipes,
            hostname: "agentos".into(),
            host_uid,
            host_gid,
            cgroup_v2: None,
            tmp_size: DEFAULT_TMP_SIZE,
            rlimits: Rlimits::default(),
            subordinate: false,
            skip_landlock_for_tests: false,
            plain_child_for_tests: false,
            resolv_conf: None,
        }
    }
}

/// Why a spec was refused before anything was created.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error(transparent)]
    Argv(#[from] ArgvError),
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error("argv and environment together are {bytes} bytes, more than {MAX_ARG_BYTES}")]
    ArgsTooBig { bytes: usize },
    #[error("{what} {path:?} must be an absolute path without `..` or NUL bytes")]
    BadPath { what: &'static str, path: PathBuf },
    #[error("{what} {path:?} is outside the sandbox's view (system directories, /tmp, grants)")]
    OutsideView { what: &'static str, path: PathBuf },
    #[error(
        "program {name:?} is not an executable file in any directory of the sandbox's PATH {path:?} that the sandbox sees"
    )]
    ProgramNotFound { name: String, path: String },
    #[error("grant {path:?}: {source}")]
    GrantUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("grant {path:?} (resolved to {resolved:?}) may not be `/` or lie under /proc or /dev")]
    GrantReserved { path: PathBuf, resolved: PathBuf },
    #[error("{count} grants, more than {MAX_GRANTS}")]
    TooManyGrants { count: usize },
    #[error("host uid and gid must be unprivileged (got uid {uid}, gid {gid})")]
    RootIds { uid: u32, gid: u32 },
    #[error(
        "a rootless daemon (uid {own_uid}) can only map its own uid and gid into a sandbox, not uid {uid}, gid {gid}"
    )]
    NotOwnIds {
        uid: u32,
        gid: u32,
        own_uid: u32,
        own_gid: u32,
    },
    #[error("hostname {0:?} must be 1-64 characters of A-Z, a-z, 0-9, '-' and '.'")]
    Hostname(String),
}

/// A granted host path, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    /// Canonical host path; also where it appears in the sandbox.
    pub path: PathBuf,
    pub write: bool,
    pub is_dir: bool,
}

/// A spec that passed validation, with everything converted for `execve`.
#[derive(Debug)]
pub(crate) struct Checked {
    pub program: CString,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    pub dropped_env: Vec<String>,
    pub cwd: CString,
    /// Sorted so that a path comes after every path above it.
    pub grants: Vec<Grant>,
    pub keep_caps: u64,
    pub hostname: CString,
}

/// A path as a C string if it is absolute, has no `..`, and no NUL.
fn clean_abs(what: &'static str, p: &Path) -> Result<CString, SpecError> {
    let bad = || SpecError::BadPath {
        what,
        path: p.to_owned(),
    };
    if !p.is_absolute() || p.components().any(|c| c == Component::ParentDir) {
        return Err(bad());
    }
    CString::new(p.as_os_str().as_bytes()).map_err(|_| bad())
}

/// Whether `p` (absolute, lexical) lies inside the sandbox's view.
pub(crate) fn in_view(p: &Path, grants: &[Grant]) -> bool {
    p == Path::new("/")
        || SYSTEM_DIRS.iter().any(|d| p.starts_with(d))
        || p.starts_with(TMP_DIR)
        || grants.iter().any(|g| p.starts_with(&g.path))
}

/// `PATH` inside a sandbox whose environment sets none.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The program to exec: an absolute (or otherwise slashed) `program` as given; a bare
/// name searched, as bubblewrap's `execvp` does, on the sandbox's `PATH` (from `env`,
/// else [`DEFAULT_PATH`]), among the directories `visible` says the sandbox sees at
/// the host's path. The caller's own `PATH` plays no part.
pub(crate) fn resolve_program(
    program: &Path,
    env: &[(String, String)],
    visible: impl Fn(&Path) -> bool,
) -> Result<PathBuf, SpecError> {
    let bytes = program.as_os_str().as_bytes();
    if bytes.is_empty() || bytes.contains(&b'/') || program == Path::new("..") {
        return Ok(program.to_owned());
    }
    let path = env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map_or(DEFAULT_PATH, |(_, v)| v.as_str());
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    path.split(':')
        .map(Path::new)
        // The sandbox's /tmp is its own, not the host's: nothing there to find.
        .filter(|d| d.is_absolute() && !d.starts_with(TMP_DIR))
        .map(|d| d.join(program))
        .find(|p| visible(p) && executable(p))
        .ok_or_else(|| SpecError::ProgramNotFound {
            name: program.to_string_lossy().into_owned(),
            path: path.to_owned(),
        })
}

/// Resolves the read and write grants: canonical, deduplicated (write wins), sorted
/// parents first.
pub(crate) fn resolve_grants(read: &[PathBuf], write: &[PathBuf]) -> Result<Vec<Grant>, SpecError> {
    let count = read.len() + write.len();
    if count > MAX_GRANTS {
        return Err(SpecError::TooManyGrants { count });
    }
    let mut out: Vec<Grant> = Vec::with_capacity(count);
    for (p, write) in read
        .iter()
        .map(|p| (p, false))
        .chain(write.iter().map(|p| (p, true)))
    {
        clean_abs("grant", p)?;
        let resolved = std::fs::canonicalize(p).map_err(|source| SpecError::GrantUnreadable {
            path: p.clone(),
            source,
        })?;
        let meta = std::fs::metadata(&resolved).map_err(|source| SpecError::GrantUnreadable {
            path: p.clone(),
            source,
        })?;
        if resolved == Path::new("/") || RESERVED_DIRS.iter().any(|d| resolved.starts_with(d)) {
            return Err(SpecError::GrantReserved {
                path: p.clone(),
                resolved,
            });
        }
        // canonicalize's output is absolute and `..`-free; NUL cannot occur in it.
        clean_abs("grant", &resolved)?;
        match out.iter_mut().find(|g| g.path == resolved) {
            Some(g) => g.write |= write,
            None => out.push(Grant {
                path: resolved,
                write,
                is_dir: meta.is_dir(),
            }),
        }
    }
    out.sort_by(|a, b| {
        let depth = |p: &Path| p.components().count();
        depth(&a.path)
            .cmp(&depth(&b.path))
            .then_with(|| a.path.cmp(&b.path))
    });
    Ok(out)
}

fn check_hostname(h: &str) -> Result<CString, SpecError> {
    let ok = !h.is_empty()
        && h.len() <= 64
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !ok {
        return Err(SpecError::Hostname(h.to_owned()));
    }
    Ok(CString::new(h).expect("checked for ASCII above"))
}

/// Bit mask of the capabilities to keep.
pub(crate) fn caps_mask(keep: &[super::Capability]) -> u64 {
    keep.iter().fold(0, |m, c| m | c.bitmask())
}

/// Validates `spec` into what the plan needs.
pub(crate) fn check(spec: &SandboxSpec<'_>) -> Result<Checked, SpecError> {
    if spec.host_uid == 0 || spec.host_gid == 0 {
        return Err(SpecError::RootIds {
            uid: spec.host_uid,
            gid: spec.host_gid,
        });
    }
    // SAFETY: geteuid/getegid have no preconditions.
    let (own_uid, own_gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if own_uid != 0 && !spec.subordinate && (spec.host_uid, spec.host_gid) != (own_uid, own_gid) {
        return Err(SpecError::NotOwnIds {
            uid: spec.host_uid,
            gid: spec.host_gid,
            own_uid,
            own_gid,
        });
    }
    let arg_bytes = argv::validate_argv(&spec.argv)?;
    let env = env::sanitize_env(&spec.env)?;
    let bytes = arg_bytes + env.arg_bytes();
    if bytes > MAX_ARG_BYTES {
        return Err(SpecError::ArgsTooBig { bytes });
    }
    let grants = resolve_grants(&spec.read, &spec.write)?;
    let resolved = resolve_program(&spec.program, &spec.env, |p| in_view(p, &grants))?;
    let program = clean_abs("program", &resolved)?;
    if !in_view(&resolved, &grants) {
        return Err(SpecError::OutsideView {
            what: "program",
            path: resolved,
        });
    }
    let cwd = clean_abs("working directory", &spec.cwd)?;
    if !in_view(&spec.cwd, &grants) {
        return Err(SpecError::OutsideView {
            what: "working directory",
            path: spec.cwd.clone(),
        });
    }
    Ok(Checked {
        program,
        argv: argv::to_cstrings(&spec.argv)?,
        env: env.to_cstrings(),
        dropped_env: env.dropped,
        cwd,
        grants,
        keep_caps: caps_mask(&spec.keep_caps),
        hostname: check_hostname(&spec.hostname)?,
    })
}

/// `path` as a C string (for paths that come from validated grants or constants).
pub(crate) fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().to_owned().into_vec()).expect("validated paths have no NUL")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(program: &str) -> SandboxSpec<'static> {
        SandboxSpec::new(program, vec![program.into()], 1000, 1000)
    }

    #[test]
    fn grants_are_canonical_sorted_and_write_wins() {
        let d = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(d.path()).unwrap();
        std::fs::create_dir_all(base.join("a/b")).unwrap();
        std::fs::write(base.join("a/f"), b"x").unwrap();
        std::os::unix::fs::symlink(base.join("a"), base.join("link")).unwrap();
        let g = resolve_grants(
            &[base.join("a/b"), base.join("link"), base.join("a/f")],
            &[base.join("a")],
        )
        .unwrap();
        assert_eq!(
            g,
            vec![
                Grant {
                    path: base.join("a"),
                    write: true,
                    is_dir: true
                },
                Grant {
                    path: base.join("a/b"),
                    write: false,
                    is_dir: true
                },
                Grant {
                    path: base.join("a/f"),
                    write: false,
                    is_dir: false
                },
            ]
        );
    }

    #[test]
    fn bad_grants_are_refused() {
        assert!(matches!(
            resolve_grants(&["relative".into()], &[]),
            Err(SpecError::BadPath { .. })
        ));
        assert!(matches!(
            resolve_grants(&["/usr/../etc".into()], &[]),
            Err(SpecError::BadPath { .. })
        ));
        assert!(matches!(
            resolve_grants(&["/definitely/not/here".into()], &[]),
            Err(SpecError::GrantUnreadable { .. })
        ));
        for reserved in ["/", "/proc/self", "/dev/null"] {
            assert!(
                matches!(
                    resolve_grants(&[], &[reserved.into()]),
                    Err(SpecError::GrantReserved { .. })
                ),
                "{reserved}"
            );
        }
        let many = vec![PathBuf::from("/usr"); MAX_GRANTS + 1];
        assert!(matches!(
            resolve_grants(&many, &[]),
            Err(SpecError::TooManyGrants { .. })
        ));
    }

    #[test]
    fn program_and_cwd_must_be_in_view() {
        assert!(check(&spec("/usr/bin/true")).is_ok());
        assert!(check(&spec("/bin/true")).is_ok());
        assert!(matches!(
            check(&spec("./true")),
            Err(SpecError::BadPath {
                what: "program",
                ..
            })
        ));
        assert!(matches!(
            check(&spec("/root/tool")),
            Err(SpecError::OutsideView {
                what: "program",
                ..
            })
        ));
        let mut s = spec("/usr/bin/true");
        s.cwd = "/home".into();
        assert!(matches!(
            check(&s),
            Err(SpecError::OutsideView {
                what: "working directory",
                ..
            })
        ));
        s.cwd = "/tmp/work".into();
        assert!(check(&s).is_ok());
        // A grant brings its path (and only its path) into view.
        let g = [Grant {
            path: "/srv/app".into(),
            write: true,
            is_dir: true,
        }];
        assert!(in_view(Path::new("/srv/app/bin/tool"), &g));
        assert!(!in_view(Path::new("/srv/application"), &g));
        assert!(!in_view(Path::new("/srv"), &g));
    }

    #[test]
    fn a_bare_name_is_found_on_the_sandboxs_path_in_its_view() {
        let dir = tempfile::Builder::new()
            .prefix("agentos-test-path-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let tool = dir.path().join("agentos-tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let path = format!("{}:/usr/bin", dir.path().display());
        let env = [("PATH".to_owned(), path.clone())];
        let everywhere = |_: &Path| true;
        // The sandbox's PATH decides, not the caller's.
        assert_eq!(
            resolve_program(Path::new("agentos-tool"), &env, everywhere).unwrap(),
            tool
        );
        assert_eq!(
            resolve_program(Path::new("sh"), &[], everywhere).unwrap(),
            Path::new("/usr/bin/sh")
        );
        // A directory the sandbox does not see is skipped.
        assert!(matches!(
            resolve_program(Path::new("agentos-tool"), &env, |p| p.starts_with("/usr")),
            Err(SpecError::ProgramNotFound { .. })
        ));
        assert!(matches!(
            resolve_program(Path::new("agentos-tool"), &[], everywhere),
            Err(SpecError::ProgramNotFound { .. })
        ));
        // An absolute path stays as given, found or not.
        assert_eq!(
            resolve_program(Path::new("/root/tool"), &env, everywhere).unwrap(),
            Path::new("/root/tool")
        );
        // Through check: a bare name becomes the path in the view.
        let mut s = spec("true");
        s.argv = vec!["true".into()];
        let c = check(&s).unwrap();
        assert!(
            c.program.to_bytes().ends_with(b"/bin/true"),
            "{:?}",
            c.program
        );
    }

    #[test]
    fn ids_hostname_and_env_are_checked() {
        let mut s = spec("/usr/bin/true");
        s.host_uid = 0;
        assert!(matches!(check(&s), Err(SpecError::RootIds { .. })));
        let mut s = spec("/usr/bin/true");
        for bad in ["", "a b", "x;y", &"h".repeat(65)] {
            s.hostname = bad.into();
            assert!(matches!(check(&s), Err(SpecError::Hostname(_))), "{bad:?}");
        }
        s.hostname = "app-1.agentos".into();
        s.env = vec![("LD_PRELOAD".into(), "x".into()), ("A".into(), "b".into())];
        let c = check(&s).unwrap();
        assert_eq!(c.dropped_env, ["LD_PRELOAD"]);
        assert_eq!(c.env.len(), 1);
        s.env.push(("A".into(), "again".into()));
        assert!(matches!(check(&s), Err(SpecError::Env(_))));
    }

    #[test]
    fn caps_mask_has_one_bit_per_capability() {
        use caps::Capability::*;
        assert_eq!(caps_mask(&[]), 0);
        assert_eq!(
            caps_mask(&[CAP_CHOWN, CAP_NET_BIND_SERVICE]),
            (1 << 0) | (1 << 10)
        );
    }
}
