//! Fuzz targets of the kernel's boundaries, one function each, shared by the
//! proptest suites (`cargo test`, which also replays the committed corpus in
//! `fuzz/corpus/<target>/`) and the cargo-fuzz targets in `fuzz/` (`cargo xtask
//! fuzz`). Each takes arbitrary bytes and panics only when a property breaks:
//!
//! * [`vfs_path`]: path parsing and resolution. A parsed path is normal (absolute,
//!   no `.`, `..` or empty components, within the length limits) and parses to
//!   itself; its host path stays under its mount's root; reading, listing or
//!   stat-ing it never reaches a file outside the mount, whatever symlinks the
//!   mount holds (`up` → `../outside/secret`, `abs` → its absolute path, `out` →
//!   `../outside`).
//! * [`capability`]: the grant grammar (`read:/p`, `net:allow:127.0.0.1:80/tcp`,
//!   ...). A capability that parses prints back to a string that parses to it.
//! * [`grpc_request`]: request bytes as gRPC hands them over, decoded by prost
//!   into a `SyscallRequest` and executed by the kernel's dispatch as the
//!   kernel's owner (this process, [`Caller::local`]). Every call ends within
//!   its timeout with a value or a typed error, and nothing outside the mounts
//!   changes.
//!
//! No hang: each call runs under a deadline, and missing it panics.
//!
//! # What it leaves on the host
//!
//! The fixtures live in `$TMPDIR/agentos-fuzz-<pid>-{ro,rw}`; the process
//! removes them as it exits (`atexit`: a static is never dropped), and creating
//! one removes those of processes that are gone (killed, say, by libFuzzer). Spawning is never executed (a fuzzer could name any program): a spawn's
//! spec only goes through its `TryFrom` check.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
    time::Duration,
};

use agentos_proto::v1::{self as pb, syscall::Call};
use prost::Message;

use crate::{
    Kernel,
    backend::Backends,
    capability::Capability,
    cgroup::CgroupManager,
    config::VfsBackendChoice,
    identity::Caller,
    observe::EventHub,
    process::{ProcessRequest, ProcessTable, SandboxBackend},
    syscall::Progress,
    vfs::{
        MAX_NAME, MAX_PATH, MountFs, Vfs, VirtPath,
        local::LocalFs,
        mem::{DEFAULT_CAPACITY, MemFs},
    },
};

/// The content of the file outside the mount that no path may reach.
const SECRET: &[u8] = b"agentos-fuzz: outside the mount";
/// Where the fixture's host directory is mounted.
const MOUNT: &str = "/mnt";
/// Longest a single call may take (a syscall's own timeout is set well below).
const DEADLINE: Duration = Duration::from_secs(10);
/// The timeout every fuzzed syscall runs under.
const SYSCALL_TIMEOUT_MS: u32 = 1000;
const DIR_PREFIX: &str = "agentos-fuzz-";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    kernel: Arc<Kernel>,
    /// The host directory mounted at [`MOUNT`].
    root: PathBuf,
    /// The directory beside it that holds the secret.
    outside: PathBuf,
}

/// The fixture [`vfs_path`] only reads, so that nothing another target writes
/// (`grpc_request` may write a `/mnt/secret`) can look like an escape.
fn read_only_fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| Fixture::new("ro").expect("setting up the fuzz fixture"))
}

/// The fixture fuzzed requests may change.
fn writable_fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| Fixture::new("rw").expect("setting up the fuzz fixture"))
}

impl Fixture {
    fn new(name: &str) -> std::io::Result<Self> {
        sweep_dead_fixtures();
        static AT_EXIT: std::sync::Once = std::sync::Once::new();
        // SAFETY: `remove_own_fixtures` is an `extern "C" fn()` that does not unwind.
        AT_EXIT.call_once(|| unsafe {
            libc::atexit(remove_own_fixtures);
        });
        let dir = std::env::temp_dir().join(format!("{DIR_PREFIX}{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (root, outside) = (dir.join("root"), dir.join("outside"));
        std::fs::create_dir_all(root.join("sub"))?;
        std::fs::create_dir_all(&outside)?;
        let secret = outside.join("secret");
        std::fs::write(&secret, SECRET)?;
        std::fs::write(root.join("inside"), b"inside")?;
        std::os::unix::fs::symlink("../outside/secret", root.join("up"))?;
        std::os::unix::fs::symlink(&secret, root.join("abs"))?;
        std::os::unix::fs::symlink("../outside", root.join("out"))?;
        std::os::unix::fs::symlink("../../outside/secret", root.join("sub/up2"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let kernel = runtime.block_on(async {
            let backends = Backends::detect(VfsBackendChoice::Auto, Path::new("/sys/fs/cgroup"));
            let mut vfs = Vfs::new();
            vfs.mount(VirtPath::root(), MountFs::Mem(MemFs::new(DEFAULT_CAPACITY)));
            let at = VirtPath::parse(MOUNT, &VirtPath::root()).expect("a valid mount point");
            vfs.mount(
                at,
                MountFs::Local(LocalFs::new(&root, &backends.ring, None)?),
            );
            let events = EventHub::new();
            events.set_unavailable("fuzzing");
            // No cgroups and no walls, and unconfined programs refused: nothing
            // a fuzzed request names can run (spawns are not executed anyway).
            let processes = ProcessTable::new(
                CgroupManager::Unavailable {
                    reason: "fuzzing".into(),
                },
                SandboxBackend::Portable {
                    reason: "fuzzing".into(),
                },
            )?;
            std::io::Result::Ok(Kernel::new(vfs, backends, events, Arc::new(processes)))
        })?;
        Ok(Self {
            runtime,
            kernel,
            root,
            outside,
        })
    }

    /// Runs `f` to completion, panicking if it misses [`DEADLINE`].
    fn run<T>(&self, what: &str, f: impl Future<Output = T>) -> T {
        self.runtime
            .block_on(async { tokio::time::timeout(DEADLINE, f).await })
            .unwrap_or_else(|_| panic!("hang: {what} did not finish in {DEADLINE:?}"))
    }

    /// The outside directory holds exactly the secret, unchanged.
    fn assert_outside_untouched(&self, what: &str) {
        let names: Vec<_> = std::fs::read_dir(&self.outside)
            .expect("reading the outside directory")
            .map(|e| e.expect("an entry").file_name())
            .collect();
        assert_eq!(names, ["secret"], "{what} changed the outside directory");
        assert_eq!(
            std::fs::read(self.outside.join("secret")).expect("reading the secret"),
            SECRET,
            "{what} changed the secret"
        );
    }
}

/// Removes this process's fixtures as it exits (test harnesses and libFuzzer
/// leave through `exit`, which runs it).
extern "C" fn remove_own_fixtures() {
    let _ = std::panic::catch_unwind(|| sweep_fixtures(|pid| pid == std::process::id()));
}

/// Removes the fixtures of fuzzing processes that are gone.
fn sweep_dead_fixtures() {
    sweep_fixtures(|pid| !Path::new(&format!("/proc/{pid}")).exists());
}

fn sweep_fixtures(remove: impl Fn(u32) -> bool) {
    for e in std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .and_then(|rest| rest.split('-').next()?.parse::<u32>().ok())
        else {
            continue;
        };
        if remove(pid) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Path parsing and resolution; the input is `cwd\npath` (no newline: the path,
/// from `/`).
pub fn vfs_path(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (cwd, raw) = text.split_once('\n').unwrap_or(("/", &text));
    let cwd = VirtPath::parse(cwd, &VirtPath::root()).unwrap_or_else(|_| VirtPath::root());
    let Ok(path) = VirtPath::parse(raw, &cwd) else {
        // A relative path is joined to the working directory first; "" and "." drop out.
        let base = if raw.starts_with('/') {
            ""
        } else {
            cwd.as_str().trim_end_matches('/')
        };
        let joined: usize = base.len()
            + raw
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .map(|c| c.len() + 1)
                .sum::<usize>();
        assert!(
            raw.is_empty()
                || raw.len() > MAX_PATH
                || joined > MAX_PATH
                || raw.contains('\0')
                || raw.split('/').any(|c| c == ".." || c.len() > MAX_NAME),
            "{raw:?} was refused, but it is a valid path"
        );
        return;
    };
    let s = path.as_str();
    assert!(s.starts_with('/'), "{s:?} is not absolute");
    if s != "/" {
        assert!(
            s[1..]
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".." && c.len() <= MAX_NAME),
            "{s:?} is not normal"
        );
    }
    assert!(!raw.split('/').any(|c| c == ".."), "{raw:?} has `..`");
    assert!(
        VirtPath::parse(s, &VirtPath::root()).is_ok_and(|again| again == path),
        "{s:?} does not parse to itself"
    );
    let fx = read_only_fixture();
    let vfs = &fx.kernel.vfs;
    if let Some(host) = vfs.host_path(&path) {
        let root = std::fs::canonicalize(&fx.root).expect("the fixture's root");
        assert!(host.starts_with(&root), "{s:?} resolves to {host:?}");
    }
    fx.run("read", async {
        if let Ok(bytes) = vfs.read(&path, 0, 0).await {
            assert_ne!(bytes, SECRET, "{s:?} read the file outside the mount");
        }
    });
    fx.run("list", async {
        if let Ok(entries) = vfs.list(&path).await {
            assert!(
                !entries.iter().any(|e| e.name == "secret"),
                "{s:?} listed the directory outside the mount"
            );
        }
    });
    fx.run("stat", async {
        let _ = vfs.stat(&path).await;
    });
}

/// The capability grammar: whatever parses prints back to itself.
pub fn capability(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(cap) = text.parse::<Capability>() {
        let printed = cap.to_string();
        assert_eq!(
            printed.parse::<Capability>().as_ref(),
            Ok(&cap),
            "{text:?} parsed to {cap:?}, printed as {printed:?}"
        );
    }
}

/// Request bytes decoded as the gRPC edge does and executed by the dispatch.
pub fn grpc_request(data: &[u8]) {
    let Ok(mut req) = pb::SyscallRequest::decode(data) else {
        return; // a typed INVALID_ARGUMENT at the edge (proto's codec)
    };
    let fx = writable_fixture();
    let name = crate::syscall::name_of(&req);
    if let Some(Call::Spawn(spawn)) = req.syscall.as_ref().and_then(|s| s.call.as_ref()) {
        // Checked, never run (see the module docs).
        if let Some(spec) = spawn.spec.clone() {
            let _ = ProcessRequest::try_from(spec);
        }
        return;
    }
    req.timeout_ms = SYSCALL_TIMEOUT_MS;
    let outcome = fx.run(name, async {
        fx.kernel
            .execute(&Caller::local(), req, &Progress::default())
            .await
    });
    if let Err(e) = outcome {
        let wire = e.to_proto(name);
        assert!(
            !wire.message.is_empty(),
            "{name}: an error without a message"
        );
    }
    fx.assert_outside_untouched(name);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    include!("../../fuzz/replay.rs");

    #[test]
    fn vfs_path_corpus() {
        replay("vfs_path", vfs_path);
    }

    #[test]
    fn capability_corpus() {
        replay("capability", capability);
    }

    #[test]
    fn grpc_request_corpus() {
        replay("grpc_request", grpc_request);
    }

    /// Path-like text: the fixture's names, `.`, `..`, slashes, NUL and noise.
    fn path_text() -> impl Strategy<Value = String> {
        let part = prop_oneof![
            Just("up".to_owned()),
            Just("abs".to_owned()),
            Just("out".to_owned()),
            Just("sub".to_owned()),
            Just("up2".to_owned()),
            Just("inside".to_owned()),
            Just("mnt".to_owned()),
            Just("secret".to_owned()),
            Just("outside".to_owned()),
            Just(".".to_owned()),
            Just("..".to_owned()),
            Just("".to_owned()),
            Just("\0".to_owned()),
            "\\PC{0,8}",
        ];
        (any::<bool>(), proptest::collection::vec(part, 0..8)).prop_map(|(abs, parts)| {
            let joined = parts.join("/");
            if abs { format!("/{joined}") } else { joined }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn vfs_path_holds(cwd in path_text(), path in path_text()) {
            vfs_path(format!("{cwd}\n{path}").as_bytes());
        }

        #[test]
        fn capability_holds(
            kind in prop_oneof![
                proptest::sample::select(&[
                    "read", "write", "create", "delete", "list", "spawn", "kill", "net", "bind",
                    "sysinfo", "time", "send", "recv",
                ][..]).prop_map(str::to_owned),
                "[a-z_]{0,8}",
            ],
            arg in prop_oneof![
                Just(None),
                "/[a-z/.]{0,12}".prop_map(Some),
                "(allow|deny):(127\\.0\\.0\\.1|\\*|[a-z.*]{1,8}|::1|10\\.0\\.0\\.0/[0-9]{1,3}):[0-9*\\-]{0,11}(/tcp|/udp)?"
                    .prop_map(Some),
                "[0-9\\-]{0,12}".prop_map(Some),
                "[a-z.*]{0,12}".prop_map(Some),
                "\\PC{0,16}".prop_map(Some),
            ],
        ) {
            let text = match arg {
                Some(a) => format!("{kind}:{a}"),
                None => kind,
            };
            capability(text.as_bytes());
        }

        #[test]
        fn grpc_request_holds_on_mutated_requests(
            seed in 0usize..6,
            path in path_text(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        ) {
            let call = match seed {
                0 => Call::Read(pb::ReadFile { path, offset: 0, length: 0 }),
                1 => Call::Write(pb::WriteFile { path, data: b"x".to_vec(), append: false }),
                2 => Call::List(pb::ListDirectory { path }),
                3 => Call::Delete(pb::DeleteFile { path }),
                4 => Call::Move(pb::MoveFile { from: format!("{MOUNT}/inside"), to: path }),
                _ => Call::Copy(pb::CopyFile { from: path, to: format!("{MOUNT}/copy") }),
            };
            let mut bytes = pb::SyscallRequest {
                syscall: Some(pb::Syscall { call: Some(call) }),
                timeout_ms: 0,
            }
            .encode_to_vec();
            for (at, b) in flips {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] = b;
                }
            }
            grpc_request(&bytes);
        }

        #[test]
        fn grpc_request_holds_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            grpc_request(&bytes);
        }
    }
}
