//! Capabilities: what an app may do, checked before every syscall, and the
//! OS-level walls derived from the same grants.
//!
//! This module owns the grant vocabulary ([`Capability`] and its path, network and
//! channel patterns), an app's [`Policy`] with [`Policy::check`] of one [`Access`],
//! the [`PermissionCache`] in front of the checks, and [`Policy::sandbox_grants`],
//! which turns the same grants into the lists the sandbox builds its bind mounts
//! and landlock rules from. It is pure logic: the one host facility it uses is the
//! monotonic clock (for cache TTLs); it changes nothing on the host and leaves
//! nothing behind, so it is the same on every backend (the portable backend's
//! "capability checks only" are these checks).
//!
//! # Organization
//!
//! * `path`: [`PathPattern`], component-wise path matching.
//! * `net`: [`NetworkRule`], [`HostPattern`], [`PortRange`], [`Protocol`].
//! * `channel`: [`ChannelPattern`] for message channels.
//! * `grant`: [`Capability`], its JSON and CLI forms, [`CapabilityError`].
//! * `access`: [`Access`] (what a syscall wants) and [`Decision`].
//! * `policy`: [`Policy`], one app's grants.
//! * `check`: [`Policy::check`].
//! * `cache`: [`PermissionCache`], bounded, with TTL and per-process invalidation;
//!   `key`: its keys and their hash; `clock`: [`Clock`]s for its TTLs.
//! * `walls`: [`SandboxGrants`], the walls for the sandbox.
//!
//! # Which capability each access needs
//!
//! | [`Access`]                     | allowed when                                                        |
//! |--------------------------------|---------------------------------------------------------------------|
//! | `Read(path)`                   | a `ReadFile` pattern covers `path`                                  |
//! | `Write(path)`                  | a `WriteFile` pattern covers `path`                                 |
//! | `Create(path)`                 | a `CreateFile` pattern covers `path`                                |
//! | `Delete(path)`                 | a `DeleteFile` pattern covers `path`                                |
//! | `List(path)`                   | a `ListDirectory` pattern covers `path`                             |
//! | `Spawn`                        | `SpawnProcess`                                                      |
//! | `Kill { target_owned: true }`  | `KillProcess`                                                       |
//! | `Kill { target_owned: false }` | never: no grant lets an app kill processes it does not own          |
//! | `Connect { addr, port, proto }`| a `NetworkAccess` allow rule matches and no deny rule does          |
//! | `Bind(port)`                   | a `BindPort` range contains `port` (0, an ephemeral port, included) |
//! | `SystemInfo`                   | `SystemInfo`                                                        |
//! | `Time`                         | `TimeAccess`                                                        |
//! | `Send(channel)`                | a `SendMessage` pattern covers `channel`                            |
//! | `Receive(channel)`             | a `ReceiveMessage` pattern covers `channel`                         |
//!
//! Each access needs exactly one kind of grant: `WriteFile` does not imply
//! `ReadFile` or `CreateFile`. A path that is relative, contains `..` or a NUL byte
//! is refused whatever the grants; `//`, `.` and a trailing `/` are normalised away.
//! A channel name that is not valid is refused likewise.
//!
//! # Example
//!
//! ```
//! use agentos_kernel::capability::{Access, CacheConfig, PermissionCache, Policy};
//!
//! let policy = Policy::parse_cli(["read:/home/app", "net:allow:127.0.0.1:8080/tcp"])?;
//! assert!(policy.check(&Access::Read("/home/app/notes.txt".into())).is_allowed());
//! let denied = policy.check(&Access::Write("/etc/passwd".into()));
//! assert_eq!(denied.into_result(), Err("no WriteFile grant covers /etc/passwd".to_owned()));
//!
//! let cache = PermissionCache::new(CacheConfig::default());
//! let pid = 4242;
//! assert!(cache.check(pid, &policy, &Access::Read("/home/app".into())).is_allowed());
//! // After storing a changed policy for `pid`:
//! cache.invalidate_process(pid);
//!
//! let walls = policy.sandbox_grants();
//! assert_eq!(walls.read, [std::path::PathBuf::from("/home/app")]);
//! # Ok::<(), agentos_kernel::capability::CapabilityError>(())
//! ```

mod access;
mod cache;
mod channel;
mod check;
mod clock;
mod grant;
mod key;
mod net;
mod path;
mod policy;
mod walls;

pub use access::{Access, Decision};
pub use cache::{CacheConfig, CacheStats, GENERATION_SLOTS, PermissionCache, Pid};
pub use channel::{ChannelPattern, ChannelPatternError, MAX_CHANNEL_LEN, is_valid_channel};
pub use clock::{Clock, CoarseClock, ManualClock, MonotonicClock};
pub use grant::{Capability, CapabilityError};
pub use net::{
    Cidr, Host, HostPattern, HostPatternError, NetworkRule, NetworkRuleError, PortRange,
    PortRangeError, Protocol, ProtocolMatch, RuleAction,
};
pub use path::{BadPath, MAX_PATH_LEN, PathPattern, PathPatternError, PathScope};
pub use policy::Policy;
pub use walls::{NetworkWall, SandboxGrants};
