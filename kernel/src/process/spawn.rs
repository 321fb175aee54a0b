//! Spawning: the checked request, then Creating → Initializing → Ready → Running.
//!
//! Initialising creates the cgroup (with its limits), then has the sandbox clone the
//! child, which waits until the parent has put it into the cgroup's v1 controller
//! nodes (the v2 node it joins at clone time). Any failure drops what exists so far:
//! the cgroup's Drop kills whatever is in it and removes it; fds close.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex, atomic::AtomicI32},
    time::SystemTime,
};

use agentos_proto::v1 as pb;
use tokio::sync::watch;

use super::{
    Process, ProcessError, ProcessState, ProcessTable, SandboxBackend, io,
    isolation::{self, Isolation, LimitsBy},
    output::Output,
    reap,
};
use crate::{
    capability::Policy,
    cgroup::{CpuMax, Limits},
    cleanup::ResourceKind,
    error::KernelError,
    net::{Attachment, NetMode, NetRequest},
    sandbox::{self, DEFAULT_TMP_SIZE, NetworkMode, SandboxSpec, StdioMode},
};

/// Longest argv / environment accepted, in entries.
const MAX_ARGS: usize = 4096;
/// cpu.max period used for percentage limits.
const CPU_PERIOD_US: u64 = 100_000;
/// The unprivileged host uid/gid sandboxes run as when the kernel runs as root.
const NOBODY: u32 = 65534;

/// A checked spawn request.
#[derive(Clone, Debug)]
pub struct ProcessRequest {
    pub name: String,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub linux_caps: Vec<crate::sandbox::Capability>,
    /// The capabilities: checked on every syscall through the process's kernel
    /// socket, and the source of its mounts and landlock rules.
    pub policy: Policy,
    pub limits: Limits,
    /// Rows and columns of a PTY, when one is wanted.
    pub tty: Option<(u16, u16)>,
    /// Bytes the private `/tmp` (and `/dev/shm`) may each hold.
    pub tmp_size: u64,
    /// Run even on the portable backend, which puts up no wall.
    pub allow_unconfined: bool,
    /// Its network mode and port forwards.
    pub net: NetRequest,
}

/// The smallest `/tmp` a sandbox may ask for.
const MIN_TMP_SIZE: u64 = 64 << 10;

fn invalid(msg: impl Into<String>) -> KernelError {
    KernelError::InvalidArgument(msg.into())
}

/// Converts wire limits (0 = unlimited).
pub fn limits_from_proto(l: &pb::ResourceLimits) -> Result<Limits, KernelError> {
    if l.cpu_weight > 10_000 {
        return Err(invalid(format!(
            "cpu_weight {} is outside 1..=10000",
            l.cpu_weight
        )));
    }
    Ok(Limits {
        memory_max: (l.memory_max_bytes > 0).then_some(l.memory_max_bytes),
        cpu_weight: (l.cpu_weight > 0).then_some(l.cpu_weight),
        cpu_max: (l.cpu_max_percent > 0).then(|| CpuMax {
            quota_us: u64::from(l.cpu_max_percent) * CPU_PERIOD_US / 100,
            period_us: CPU_PERIOD_US,
        }),
        pids_max: (l.pids_max > 0).then_some(l.pids_max),
    })
}

/// The wire form of limits (`tmp_size`: 0 when the process has no private `/tmp`).
pub fn limits_to_proto(l: &Limits, tmp_size: u64) -> pb::ResourceLimits {
    pb::ResourceLimits {
        memory_max_bytes: l.memory_max.unwrap_or(0),
        cpu_weight: l.cpu_weight.unwrap_or(0),
        cpu_max_percent: l
            .cpu_max
            .as_ref()
            .and_then(|c| c.quota_us.checked_mul(100).map(|q| q / c.period_us.max(1)))
            .map_or(0, |p| u32::try_from(p).unwrap_or(0)),
        pids_max: l.pids_max.unwrap_or(0),
        tmp_max_bytes: tmp_size,
    }
}

fn absolute(p: &str, what: &str) -> Result<PathBuf, KernelError> {
    if !p.starts_with('/') || p.contains('\0') || p.split('/').any(|c| c == "..") {
        return Err(invalid(format!(
            "{what} {p:?} must be an absolute path without '..' or NUL"
        )));
    }
    Ok(PathBuf::from(p))
}

impl TryFrom<pb::ProcessSpec> for ProcessRequest {
    type Error = KernelError;

    fn try_from(s: pb::ProcessSpec) -> Result<Self, KernelError> {
        let program = s
            .argv
            .first()
            .ok_or_else(|| invalid("argv is empty: argv[0] names the program"))?;
        // A bare name is looked up on the sandbox's PATH inside its view.
        if program.contains('/') || program.is_empty() {
            absolute(program, "the program")?;
        } else if program.contains('\0') {
            return Err(invalid(format!("program {program:?} contains a NUL byte")));
        }
        if s.argv.len() > MAX_ARGS || s.env.len() > MAX_ARGS {
            return Err(invalid(format!(
                "at most {MAX_ARGS} arguments and environment entries"
            )));
        }
        if let Some(a) = s.argv.iter().find(|a| a.contains('\0')) {
            return Err(invalid(format!("argument {a:?} contains a NUL byte")));
        }
        let name = if s.name.is_empty() {
            program.rsplit('/').next().unwrap_or(program).to_owned()
        } else {
            s.name.clone()
        };
        let cwd = if s.cwd.is_empty() {
            PathBuf::from("/tmp")
        } else {
            absolute(&s.cwd, "cwd")?
        };
        // Checked here for a clear message; they become capabilities below.
        for p in &s.read_paths {
            absolute(p, "read grant")?;
        }
        for p in &s.write_paths {
            absolute(p, "write grant")?;
        }
        let linux_caps = s
            .linux_caps
            .iter()
            .map(|c| {
                let name = c.to_ascii_uppercase();
                let name = if name.starts_with("CAP_") {
                    name
                } else {
                    format!("CAP_{name}")
                };
                name.parse::<crate::sandbox::Capability>()
                    .map_err(|_| invalid(format!("unknown capability {c:?}")))
            })
            .collect::<Result<_, _>>()?;
        let wire_limits = s.limits.unwrap_or_default();
        let limits = limits_from_proto(&wire_limits)?;
        let tmp_size = match wire_limits.tmp_max_bytes {
            0 => limits
                .memory_max
                .map_or(DEFAULT_TMP_SIZE, |m| m.min(DEFAULT_TMP_SIZE)),
            n if n < MIN_TMP_SIZE => {
                return Err(invalid(format!(
                    "tmp_max_bytes {n} is below the minimum of {MIN_TMP_SIZE}"
                )));
            }
            n => n,
        };
        // read/write grants are shorthand for the file capabilities they imply.
        let forms = s
            .capabilities
            .iter()
            .cloned()
            .chain(
                s.read_paths
                    .iter()
                    .flat_map(|p| [format!("read:{p}"), format!("list:{p}")]),
            )
            .chain(s.write_paths.iter().flat_map(|p| {
                [
                    format!("read:{p}"),
                    format!("list:{p}"),
                    format!("write:{p}"),
                    format!("create:{p}"),
                    format!("delete:{p}"),
                ]
            }));
        let policy = Policy::parse_cli(forms).map_err(|e| invalid(e.to_string()))?;
        let tty = s
            .tty
            .then(|| (s.rows.clamp(1, 1000) as u16, s.cols.clamp(1, 1000) as u16));
        let mode = pb::NetworkMode::try_from(s.network)
            .map_err(|_| invalid(format!("unknown network mode {}", s.network)))?;
        let mode = mode
            .as_str_name()
            .trim_start_matches("NETWORK_MODE_")
            .to_ascii_lowercase();
        let net = NetRequest::parse(&mode, &s.net_group, &s.publish).map_err(KernelError::from)?;
        let tty = tty.map(|(r, c)| {
            (
                if s.rows == 0 { 24 } else { r },
                if s.cols == 0 { 80 } else { c },
            )
        });
        Ok(Self {
            name,
            argv: s.argv,
            env: s.env.into_iter().collect(),
            cwd,
            linux_caps,
            policy,
            limits,
            tty,
            tmp_size,
            allow_unconfined: s.allow_unconfined,
            net,
        })
    }
}

/// The host uid/gid sandboxes run as: the kernel's own, or `nobody` when it is root.
pub fn host_ids() -> (u32, u32) {
    let (uid, gid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    if uid == 0 {
        (NOBODY, NOBODY)
    } else {
        (uid, gid)
    }
}

impl ProcessTable {
    /// Spawns a process; on any failure nothing of it remains.
    pub async fn spawn(self: &Arc<Self>, req: ProcessRequest) -> Result<Arc<Process>, KernelError> {
        // Creating: the request is checked (TryFrom); nothing exists yet.
        let mut state = ProcessState::Creating;
        if let SandboxBackend::Portable { reason } = &self.backend
            && !req.allow_unconfined
            && !self.allow_unconfined
        {
            return Err(ProcessError::Unconfined {
                reason: reason.to_string(),
            }
            .into());
        }
        // Subordinate ids need a user namespace to be mapped into.
        let (host_uid, host_gid, subordinate) = match self.ids {
            (_, _, true) if !self.backend.namespaced() => {
                let (u, g) = host_ids();
                (u, g, false)
            }
            ids => ids,
        };
        let stdio = match req.tty {
            Some((rows, cols)) => StdioMode::Pty { rows, cols },
            None => StdioMode::Pipes,
        };
        let mut spec = SandboxSpec::new(&req.argv[0], req.argv.clone(), host_uid, host_gid);
        spec.env = req.env.clone();
        spec.cwd = req.cwd.clone();
        // The walls come from the same grants the syscall checks use.
        let walls = req.policy.sandbox_grants();
        spec.read = walls.read.clone();
        spec.write = walls.write.clone();
        self.refuse_grants_over_data_dir(&spec)?;
        spec.keep_caps = req.linux_caps.clone();
        // Shared stays in the host's namespace; every other mode starts in one of its own.
        spec.network = match req.net.mode {
            NetMode::Shared => NetworkMode::Host,
            _ => NetworkMode::None,
        };
        spec.stdio = stdio;
        spec.tmp_size = req.tmp_size;
        spec.subordinate = subordinate;
        spec.skip_landlock_for_tests = self.skip_landlock_for_tests;
        spec.plain_child_for_tests = self.plain_children_for_tests;

        // A network beyond loopback needs a namespace to put it in, and the host's tools.
        let net = match (&req.net.mode, &self.net) {
            (NetMode::None, _) => None,
            (m, _) if !self.backend.namespaced() => {
                return Err(KernelError::FailedPrecondition(format!(
                    "network mode {m} needs a network namespace, and this kernel's sandbox ({}) has none",
                    self.backend.name()
                )));
            }
            (m, None) => {
                return Err(KernelError::Unsupported(format!(
                    "network mode {m}: this kernel was started without networking"
                )));
            }
            (_, Some(net)) => {
                net.check(&req.net.mode)?;
                Some(Arc::clone(net))
            }
        };
        // Rootless private and bridged: a namespace whose TCP the kernel carries
        // (`net/proxied.rs`), at the address of the process's place in its group if bridged.
        let proxied = net.as_ref().is_some_and(|n| n.proxies(&req.net.mode));
        let mut member = match (&net, &req.net.mode) {
            (Some(net), NetMode::Bridged { group }) if proxied => Some(net.join(group)?),
            _ => None,
        };
        if proxied {
            let address = member
                .as_ref()
                .map_or(sandbox::PROXY_ADDR, |m| m.address().octets());
            spec.network = NetworkMode::Proxied { address };
        }
        // Private and bridged sandboxes resolve names through the kernel's DNS relay.
        if matches!(req.net.mode, NetMode::Private | NetMode::Bridged { .. }) {
            spec.resolv_conf = net.as_ref().and_then(|n| n.resolv_conf());
        }
        // A published port is bound by the program inside: its BindPort grant must cover it.
        for f in &req.net.forwards {
            req.policy
                .check(&crate::capability::Access::Bind(f.port))
                .into_result()
                .map_err(|why| {
                    KernelError::PermissionDenied(format!(
                        "port forward {f} publishes port {} of the process: {why} (grant bind:{})",
                        f.port, f.port
                    ))
                })?;
        }
        let net_rules = req.policy.network_rules().to_vec();
        let net_req = req.net.clone();

        // Initializing: cgroup first, then the sandboxed child inside it.
        state = state
            .advance(ProcessState::Initializing)
            .map_err(ProcessError::from)?;
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cgroup_name = format!("p{n}");
        let socket = match self.run_dir() {
            Some(dir) => {
                let s = KernelSocket::bind(&dir, &cgroup_name)?;
                spec.read.push(s.path.clone());
                spec.env
                    .push((SOCKET_ENV.to_owned(), s.path.display().to_string()));
                Some(s)
            }
            None => None,
        };
        // What the cgroups cannot hold (no cgroup at all, or a delegated subtree
        // without some controller) falls back to rlimits: stated, never silent.
        let (held, fallback) = self.cgroups.split(&req.limits);
        let cgroup = match self.cgroups.create(&cgroup_name, &held) {
            Ok(cg) => Some(cg),
            Err(e) if self.cgroups.is_unavailable() => {
                tracing::debug!("no cgroup for {cgroup_name}: {e}");
                None
            }
            Err(source) => {
                return Err(ProcessError::CreateCgroup {
                    name: cgroup_name,
                    source,
                }
                .into());
            }
        };
        // Into the probes' filter before anything enters the cgroup, so its first exec is seen.
        let watched = cgroup
            .as_ref()
            .zip(self.managed.as_ref())
            .map(|(cg, managed)| managed.watch(cg.id()));
        // The kernel wall, from the same grants as the view and landlock (plus the process's
        // own kernel socket), before anything enters the cgroup. In shared mode it is the only
        // thing between the process and the host's network: no wall, no spawn.
        let shared = matches!(req.net.mode, NetMode::Shared);
        let walled = match &watched {
            Some(w) => {
                let extra: Vec<PathBuf> = socket.iter().map(|s| s.path.clone()).collect();
                let own_netns = self.backend.namespaced() && !shared;
                let mut rules = crate::observe::WallRules::from_grants(&walls, &extra, own_netns);
                if matches!(req.net.mode, NetMode::Private | NetMode::Bridged { .. }) {
                    rules.open_network();
                }
                if shared && rules.dropped > 0 {
                    return Err(KernelError::InvalidArgument(format!(
                        "network mode shared: the grants make {} more network rules than the \
                         kernel wall holds for one process; use fewer or wider net: and bind: \
                         grants",
                        rules.dropped
                    )));
                }
                // The walls that raise nothing themselves, so the probes report their refusals.
                let mut fences = 0;
                if !matches!(self.backend, SandboxBackend::Portable { .. }) {
                    fences |= agentos_ebpf_common::refusal::FENCE_SECCOMP;
                    if sandbox::landlock_abi().is_ok() && !self.skip_landlock_for_tests {
                        fences |= agentos_ebpf_common::refusal::FENCE_LANDLOCK;
                    }
                }
                w.fence(fences);
                w.wall(&rules)
            }
            None => Err("the process has no cgroup the eBPF probes watch".to_owned()),
        };
        if let (true, Err(why)) = (shared, walled) {
            return Err(KernelError::from(crate::net::NetError::Unavailable(
                format!("network mode shared: cannot wall the process's cgroup: {why}"),
            )));
        }
        let limits_by = match (&cgroup, &self.backend) {
            (Some(_), _) if fallback == Limits::default() => LimitsBy::Cgroup,
            (Some(_), _) => LimitsBy::CgroupAndRlimit,
            (None, SandboxBackend::Portable { .. }) => LimitsBy::Nothing,
            (None, _) => LimitsBy::Rlimit,
        };
        if matches!(limits_by, LimitsBy::Rlimit | LimitsBy::CgroupAndRlimit) {
            if fallback.cpu_max.is_some() {
                return Err(ProcessError::CpuMaxNeedsCgroup.into());
            }
            spec.rlimits = isolation::rlimits_for(&fallback);
        }
        let isolation = Isolation::new(&self.backend, limits_by);
        let backend = self.backend.clone();
        // The probes attribute the cgroup's events to the process from before it runs.
        let owner = watched.as_ref().map(|w| (w.owner_slot(), req.name.clone()));
        // The view is held for the probes' reader only: the round trip it takes (a wake-up
        // each way, ~0.2 ms here: `benches/spawn.rs`) is not paid when nothing reads.
        let view = watched.as_ref().is_some_and(|w| w.observed());
        let own_netns = req.net.mode != crate::net::NetMode::Shared;
        let (spawned, cgroup, attached, proxy, namespaces) = self
            .spawner
            .run(move || {
                let own = |pid: i32| {
                    if let Some((slot, name)) = &owner {
                        slot.own(pid as u32, name);
                    }
                };
                // Its view, held before the program runs, so a host path the view hides can
                // be told from one that exists nowhere from the program's first open on.
                let hold_root = |pid: i32| {
                    if let Some((slot, _)) = &owner {
                        slot.hold_root(pid as u32);
                    }
                };
                let mut spec = spec;
                spec.cgroup_v2 = cgroup.as_ref().and_then(|c| c.v2_dir());
                // Filled by `placed`, before the program runs; dropped (undone) if
                // the spawn fails after it.
                let mut attached: Result<Option<Attachment>, crate::net::NetError> = Ok(None);
                let mut proxy: Result<Option<crate::net::Proxied>, crate::net::NetError> = Ok(None);
                // Rootless, with a network namespace of its own: where its sockets are made.
                let mut namespaces = None;
                let res = match &backend {
                    SandboxBackend::Full | SandboxBackend::Rootless => {
                        let placed = |pid| {
                            own(pid);
                            if matches!(backend, SandboxBackend::Rootless) && own_netns {
                                namespaces = Some(sandbox::Namespaces::of(pid)?);
                            }
                            if let Some(cg) = &cgroup {
                                cg.add_pid(pid).map_err(std::io::Error::other)?;
                            }
                            match &net {
                                Some(net) if proxied => {
                                    // Proxied is rootless: its namespaces were just taken.
                                    let ns = namespaces
                                        .as_ref()
                                        .ok_or_else(|| std::io::Error::other("no namespaces"))?
                                        .try_clone()?;
                                    proxy = net
                                        .proxy(ns, &net_rules, &net_req.forwards, member.take())
                                        .map(Some);
                                    if let Err(e) = &proxy {
                                        return Err(std::io::Error::other(e.to_string()));
                                    }
                                }
                                Some(net) => {
                                    attached = net.attach(pid, n, &net_req, &net_rules);
                                    if let Err(e) = &attached {
                                        return Err(std::io::Error::other(e.to_string()));
                                    }
                                }
                                None => {}
                            }
                            Ok(())
                        };
                        if view {
                            sandbox::spawn_viewed(&spec, placed, hold_root)
                        } else {
                            sandbox::spawn(&spec, placed)
                        }
                    }
                    SandboxBackend::Walls { .. } => sandbox::spawn_walls(&spec, |pid| {
                        own(pid);
                        match &cgroup {
                            Some(cg) => cg.add_pid(pid).map_err(std::io::Error::other),
                            None => Ok(()),
                        }
                    }),
                    // No isolation here, but limits and accounting still apply when the
                    // host has cgroups: the child joins right after it starts (a child
                    // forked in that instant would escape: documented as weaker).
                    SandboxBackend::Portable { .. } => {
                        sandbox::spawn_portable(&spec).inspect(|s| {
                            if let Some(cg) = &cgroup
                                && let Err(e) = cg.add_pid(s.pid)
                            {
                                tracing::warn!(
                                    pid = s.pid,
                                    "portable process not placed in its cgroup: {e}"
                                );
                            }
                        })
                    }
                };
                drop(spec);
                (res, cgroup, attached, proxy, namespaces)
            })
            .await
            .ok_or(ProcessError::SpawnerStopped)?;
        // On error `cgroup` drops here: whatever entered it is killed, then it is removed.
        // A network that could not be made says why in its own terms.
        let attached = attached?;
        let mut proxy = proxy?;
        let mut spawned = spawned?;
        // Rootless private: the sockets init made in its namespace, served from now on.
        if let (Some(p), Some(net)) = (&mut proxy, &self.net) {
            let sockets = spawned.proxy.take().ok_or_else(|| {
                KernelError::Internal("a rootless private sandbox sent no sockets".into())
            })?;
            net.serve(p, sockets)?;
        }

        // Ready: exec'd, and in the table where the scheduler can see it.
        state = state
            .advance(ProcessState::Ready)
            .map_err(ProcessError::from)?;
        let sandbox::Spawned {
            pid,
            handle,
            stdin,
            stdout,
            stderr,
            pty,
            status,
            ..
        } = spawned;
        let (stdin, pty, pumps) =
            io::wire(stdin, stdout, stderr, pty).map_err(ProcessError::Stdio)?;
        // On the portable backend, which has no moment before the program runs, its
        // cgroup's events (a child's too) name it from now (the others did in `placed`).
        if let Some(w) = &watched
            && matches!(self.backend, SandboxBackend::Portable { .. })
        {
            w.own(pid as u32, &req.name);
        }
        let cgroup_id = watched.as_ref().map(crate::observe::Watched::id);
        let process = Arc::new(Process {
            pid: pid as u32,
            name: req.name,
            argv: req.argv,
            tty: req.tty.is_some(),
            // Only namespaced sandboxes have a private /tmp to size.
            tmp_size: if self.backend.namespaced() {
                req.tmp_size
            } else {
                0
            },
            started: SystemTime::now(),
            sandbox: self.backend.name(),
            isolation,
            state: watch::channel(state).0,
            exit: Mutex::new(None),
            limits: Mutex::new(req.limits),
            policy: Mutex::new(Arc::new(req.policy)),
            granted: Mutex::default(),
            isolated: self.backend.namespaced(),
            priority: AtomicI32::new(0),
            held: std::sync::atomic::AtomicBool::new(false),
            cgroup: Mutex::new(cgroup),
            cgroup_id,
            cgroup_name,
            watched: Mutex::new(watched),
            final_figures: Mutex::default(),
            handle: Mutex::new(Some(Arc::new(handle))),
            relayed: Mutex::new(status),
            stdin: tokio::sync::Mutex::new(stdin),
            pty: Mutex::new(pty),
            pumps: Mutex::default(),
            cleanup: Mutex::default(),
            output: Output::default(),
            net_mode: req.net.mode.clone(),
            net_address: match &proxy {
                Some(p) => Some(p.address()),
                None => attached.as_ref().map(|a| a.address),
            },
            net_address6: match &proxy {
                Some(p) => p.address6(),
                None => attached.as_ref().and_then(|a| a.address6),
            },
            net: Mutex::new(attached),
            proxy: Mutex::new(proxy),
            sockets: Mutex::new(match namespaces {
                Some(ns) => super::sockets::SocketHelper::Waiting(ns),
                None => super::sockets::SocketHelper::None,
            }),
        });
        self.insert(Arc::clone(&process));
        let weak = Arc::downgrade(&process);
        let handle = self.cleanup.register(
            ResourceKind::Process,
            format!("{} {}", process.cgroup_name(), process.name),
            move || match weak.upgrade() {
                Some(p) if !p.state().is_final() => p
                    .kill_tree()
                    .or_else(|_| p.signal(libc::SIGKILL))
                    .map_err(|e| e.to_string()),
                _ => Ok(()),
            },
        );
        *process.cleanup.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        if let (Some(s), Some(hook)) = (socket, self.socket_hook.get()) {
            hook(Arc::clone(&process), s);
        }
        io::start_pumps(&process, pumps);
        // Running: wired and reaped by its own task.
        process.set_state(ProcessState::Running);
        reap::start(
            Arc::clone(&process),
            Arc::clone(&self.cleanup),
            self.exit_hook.get().cloned(),
        );
        Ok(process)
    }
}

pub use agentos_client::SOCKET_ENV;

impl ProcessTable {
    /// Refuses a read or write grant that contains the kernel's data directory:
    /// the view would show the kernel's token and sockets, and the process's own
    /// socket could not be mounted inside a read-only grant. Refusing up front
    /// (rather than masking the directory inside the view) keeps the view exactly
    /// what was granted, and the caller can grant a directory beside it.
    fn refuse_grants_over_data_dir(&self, spec: &SandboxSpec<'_>) -> Result<(), ProcessError> {
        let Some(data_dir) = &self.data_dir else {
            return Ok(());
        };
        for grant in spec.read.iter().chain(&spec.write) {
            // An unresolvable grant is refused by the spec's own validation.
            let resolved = std::fs::canonicalize(grant).unwrap_or_else(|_| grant.clone());
            if data_dir.starts_with(&resolved) {
                return Err(ProcessError::GrantHoldsDataDir {
                    grant: grant.clone(),
                    data_dir: data_dir.clone(),
                });
            }
        }
        Ok(())
    }
}

/// A managed process's own kernel socket: `<data>/run/proc/<name>.sock`, bound
/// before the spawn (connections wait in the backlog until it is served) and
/// removed when dropped.
pub struct KernelSocket {
    pub path: PathBuf,
    pub listener: Option<std::os::unix::net::UnixListener>,
}

impl KernelSocket {
    fn bind(dir: &std::path::Path, name: &str) -> Result<Self, KernelError> {
        use std::os::unix::fs::PermissionsExt;
        let internal = |source| ProcessError::Socket {
            dir: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(internal)?;
        let path = dir.join(format!("{name}.sock"));
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).map_err(internal)?;
        // Reachable only through the sandbox's bind mount: the data dir is 0700.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))
            .map_err(internal)?;
        listener.set_nonblocking(true).map_err(internal)?;
        Ok(Self {
            path,
            listener: Some(listener),
        })
    }
}

impl Drop for KernelSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
