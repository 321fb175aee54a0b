//! The daemon's configuration and the layout of its data directory.
//!
//! ```text
//! DIR/               0700
//!   kernel.sock      0600  the Unix socket (whoever can connect can run syscalls)
//!   kernel.token     0600  bearer token for the optional loopback TCP listener
//!   kernel.lock            flock held while a daemon runs on DIR
//!   files/                 the default LocalFS mount at /
//!   run/journal/           in-flight atomic replaces (see vfs::local::journal)
//!   run/resolv.conf        the /etc/resolv.conf of private and bridged sandboxes (net::dns)
//! ```

use std::{net::SocketAddr, path::PathBuf, str::FromStr};

// Where a kernel listens is shared with its clients, so the two always meet.
pub use agentos_client::paths::{default_data_dir, fds_socket_path, socket_path};

/// Where one mount comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountSource {
    /// A host directory (LocalFS).
    Host(PathBuf),
    /// Memory (MemFS).
    Memory,
}

/// `VPATH=HOSTDIR` or `VPATH=mem`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountSpec {
    pub at: String,
    pub source: MountSource,
}

impl FromStr for MountSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (at, src) = s
            .split_once('=')
            .ok_or_else(|| format!("mount {s:?}: expected VPATH=HOSTDIR or VPATH=mem"))?;
        if !at.starts_with('/') {
            return Err(format!("mount {s:?}: the virtual path must be absolute"));
        }
        let source = if src == "mem" {
            MountSource::Memory
        } else {
            MountSource::Host(PathBuf::from(src))
        };
        Ok(Self {
            at: at.to_owned(),
            source,
        })
    }
}

/// Which LocalFS backend to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum VfsBackendChoice {
    /// io_uring + openat2 when the host has them, else the portable backend.
    #[default]
    Auto,
    /// Force the portable std::fs backend (for tests and comparison).
    Portable,
}

/// How managed processes are isolated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SandboxChoice {
    /// The strongest rung the host allows: full (root), rootless (a user namespace
    /// of the caller's own ids), walls only, else portable.
    #[default]
    Auto,
    /// Force walls only: landlock, seccomp and no_new_privs, no namespaces.
    Walls,
    /// Force the portable backend: plain child processes, capability checks only.
    Portable,
}

/// Everything the daemon needs to start.
#[derive(Clone, Debug)]
pub struct KernelConfig {
    pub data_dir: PathBuf,
    pub tcp: Option<SocketAddr>,
    pub mounts: Vec<MountSpec>,
    pub vfs_backend: VfsBackendChoice,
    pub sandbox: SandboxChoice,
    /// Let programs run with no wall at all on the portable backend.
    pub allow_unconfined: bool,
    /// Rootless: run sandboxes as the account's subordinate ids (newuidmap).
    pub subordinate_ids: bool,
    /// Load the eBPF probes when the host allows it.
    pub ebpf: bool,
    /// Serve Prometheus text on this loopback address, path `/metrics`.
    pub metrics: Option<SocketAddr>,
    /// TESTS ONLY: spawn sandboxes without their landlock ruleset, so a test can show the
    /// walls behind it (the LSM wall) hold on their own. Said out loud by `doctor`.
    pub test_skip_landlock: bool,
    /// TESTS ONLY: portable processes are supervised as on macOS (`waitpid`, `kill`
    /// before the reap), a pidfd only watching for the exit. Said by `doctor`.
    pub test_plain_children: bool,
    /// Upstream resolvers of the DNS relay of private and bridged sandboxes (empty: the
    /// host's `/etc/resolv.conf`).
    pub dns: Vec<SocketAddr>,
}

impl KernelConfig {
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            tcp: None,
            mounts: Vec::new(),
            vfs_backend: VfsBackendChoice::Auto,
            sandbox: SandboxChoice::Auto,
            allow_unconfined: false,
            subordinate_ids: false,
            ebpf: true,
            metrics: None,
            test_skip_landlock: false,
            test_plain_children: false,
            dns: Vec::new(),
        }
    }

    pub fn socket_path(&self) -> PathBuf {
        socket_path(&self.data_dir)
    }

    /// Where shared-memory fds are handed out (see [`crate::shm`]).
    pub fn fds_socket_path(&self) -> PathBuf {
        fds_socket_path(&self.data_dir)
    }

    pub fn token_path(&self) -> PathBuf {
        agentos_client::token_path(&self.data_dir)
    }

    pub fn lock_path(&self) -> PathBuf {
        self.data_dir.join("kernel.lock")
    }

    pub fn journal_dir(&self) -> PathBuf {
        self.data_dir.join("run").join("journal")
    }

    pub fn files_dir(&self) -> PathBuf {
        self.data_dir.join("files")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mount_specs() {
        assert_eq!(
            "/tmp=mem".parse::<MountSpec>().unwrap(),
            MountSpec {
                at: "/tmp".into(),
                source: MountSource::Memory
            }
        );
        assert_eq!(
            "/data=/srv/x".parse::<MountSpec>().unwrap().source,
            MountSource::Host("/srv/x".into())
        );
        assert!("data=/x".parse::<MountSpec>().is_err());
        assert!("/data".parse::<MountSpec>().is_err());
    }
}
