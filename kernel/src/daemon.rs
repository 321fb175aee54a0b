//! The daemon: data directory, single-instance lock, listeners, shutdown.
//!
//! Start-up order: data directory (0700) → lock file (a second daemon on the same
//! directory stops here, naming the holder's pid) → token → host probes → VFS mounts
//! (sweeping temp files of interrupted writes) → the kernel's cgroup (removing one a
//! crash left) → eBPF probes → the Unix socket and the fd socket of shared-memory
//! streams (both 0600) and, if asked, loopback TCP.
//! SIGINT or SIGTERM (caught before anything is made, see
//! [`catch_stop_signals`]) stops the listeners, also when it comes during
//! start-up; on the way out the socket is removed, the probes detach and the
//! cgroup is removed.

use std::{
    fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::Path,
    sync::Arc,
    time::Duration,
};

use agentos_proto::v1::kernel_service_server::KernelServiceServer;
use anyhow::{Context, bail};
use nix::fcntl::{Flock, FlockArg};
use tokio::{net::UnixListener, sync::watch};
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{service::InterceptorLayer, transport::Server};

use agentos_client::connect::{FRAME, MAX_MESSAGE, WINDOW};

use crate::{
    backend::Backends,
    backend::Report,
    cgroup::CgroupManager,
    cgroup::KernelCgroup,
    cleanup::{Orchestrator, ResourceKind},
    config::{KernelConfig, MountSource, SandboxChoice},
    identity,
    observe::EventHub,
    process::{ProcessTable, SandboxBackend},
    rpc::KernelRpc,
    vfs::{
        MountFs, Vfs, VirtPath,
        local::{Journal, LocalFs, RingChoice},
        mem::{DEFAULT_CAPACITY, MemFs},
    },
    {kernel::Kernel, syscall::tasks::TASK_TTL},
};

/// How long open connections may finish after SIGINT/SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// How often finished async tasks past their TTL are dropped.
const REAP_EVERY: Duration = Duration::from_secs(30);

/// Holds the data directory's lock for the daemon's lifetime.
pub struct InstanceLock {
    _lock: Flock<fs::File>,
}

/// Takes `DIR/kernel.lock`, or says who holds it.
pub fn lock(config: &KernelConfig) -> anyhow::Result<InstanceLock> {
    let path = config.lock_path();
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    // Another kernel's start-up sweep may hold it (shared) for a moment while it
    // removes this data directory's old cgroups: retry for a second.
    let mut file = file;
    let mut tries = 0;
    let taken = loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Err((f, nix::errno::Errno::EWOULDBLOCK)) if tries < 20 => {
                tries += 1;
                file = f;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => break other,
        }
    };
    let mut lock = match taken {
        Ok(l) => l,
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            let holder = fs::read_to_string(&path).unwrap_or_default();
            bail!(
                "another agentos-kernel (pid {}) is already running on {}; stop it first or use another --data-dir",
                holder.trim(),
                config.data_dir.display()
            );
        }
        Err((_, e)) => return Err(e).with_context(|| format!("locking {}", path.display())),
    };
    lock.set_len(0)?;
    write!(&mut *lock, "{}", std::process::id())?;
    Ok(InstanceLock { _lock: lock })
}

/// Creates the data directory with mode 0700.
pub fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("chmod 0700 {}", dir.display()))?;
    Ok(())
}

/// Reads `DIR/kernel.token`, creating it (0600, 32 random bytes as hex) if missing.
pub fn ensure_token(config: &KernelConfig) -> anyhow::Result<Arc<str>> {
    let path = config.token_path();
    if let Ok(t) = fs::read_to_string(&path)
        && t.trim().len() >= 32
    {
        return Ok(Arc::from(t.trim()));
    }
    let bytes: [u8; 32] = crate::identity::secret().context("getrandom for the token")?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = path.with_extension("token.tmp");
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(token.as_bytes()).and_then(|()| f.sync_all()))
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(Arc::from(token))
}

/// Builds the mount table: `/` on `DIR/files`, `/tmp` in memory, then `--mount`s.
pub fn build_vfs(config: &KernelConfig, ring: &RingChoice) -> anyhow::Result<Vfs> {
    let journal = Journal::open(&config.journal_dir()).context("opening the write journal")?;
    let mut vfs = Vfs::new();
    let files = config.files_dir();
    fs::create_dir_all(&files).with_context(|| format!("creating {}", files.display()))?;
    let root = LocalFs::new(&files, ring, Some(journal.clone()))
        .with_context(|| format!("mounting {}", files.display()))?;
    vfs.mount(VirtPath::root(), MountFs::Local(root));
    vfs.mount(
        VirtPath::parse("/tmp", &VirtPath::root())?,
        MountFs::Mem(MemFs::new(DEFAULT_CAPACITY)),
    );
    for m in &config.mounts {
        let at = VirtPath::parse(&m.at, &VirtPath::root())
            .with_context(|| format!("mount point {}", m.at))?;
        let fs = match &m.source {
            MountSource::Memory => MountFs::Mem(MemFs::new(DEFAULT_CAPACITY)),
            MountSource::Host(dir) => MountFs::Local(
                LocalFs::new(dir, ring, Some(journal.clone()))
                    .with_context(|| format!("mounting {}", dir.display()))?,
            ),
        };
        vfs.mount(at, fs);
    }
    Ok(vfs)
}

/// Runs the daemon until `stop` completes: [`catch_stop_signals`]'s future.
pub async fn run(
    config: KernelConfig,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve(config, stop).await
}

/// Runs the daemon until `stop` completes (benchmarks embed it this way).
pub async fn serve(
    config: KernelConfig,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    prepare_data_dir(&config.data_dir)?;
    let _lock = lock(&config)?;
    let token = ensure_token(&config)?;
    let mut backends = Backends::detect(config.vfs_backend, Path::new("/sys/fs/cgroup"));
    let vfs = build_vfs(&config, &backends.ring)?;

    crate::cgroup::sweep_orphans_in(&backends.cgroups);
    let network = crate::net::Network::detect(&config.data_dir, &config.dns);
    // Nothing to sweep off Linux: no interface or nftables table is ever made there.
    if cfg!(target_os = "linux")
        && nix::unistd::geteuid().is_root()
        && let Err(e) = crate::net::sweep_orphans(&config.data_dir)
    {
        tracing::warn!("sweeping the network of kernels that died: {e}");
    }
    // Why an ordinary user's kernel got no cgroup, for the doctor.
    let mut no_cgroup_why = None;
    let cgroup = match backends.cgroups.v2_root() {
        Some(v2) => match KernelCgroup::create_in(&backends.cgroups, &config.data_dir) {
            Ok(cg) => Some(cg),
            // An ordinary user: a subtree delegated to it, if any.
            Err(e) if !nix::unistd::geteuid().is_root() => {
                match KernelCgroup::create_delegated(&backends.cgroups, &config.data_dir) {
                    Ok(cg) => Some(cg),
                    Err(d) => {
                        tracing::info!(
                            "no cgroup for the kernel: not at {} ({e}); {d}",
                            v2.display()
                        );
                        no_cgroup_why = Some(d.to_string());
                        None
                    }
                }
            }
            Err(e) => {
                tracing::warn!(
                    "cannot create the kernel's cgroup under {}: {e}",
                    v2.display()
                );
                None
            }
        },
        None => None,
    };
    if let (Some(cg), Some(r)) = (&cgroup, backends.reports.get_mut("cgroups")) {
        r.details
            .insert("kernel_cgroup".into(), cg.path().display().to_string());
        r.details
            .insert("delegated".into(), cg.is_delegated().to_string());
    }

    let events = EventHub::new();
    match (&cgroup, config.ebpf) {
        (_, false) => events.set_unavailable("disabled by --no-ebpf"),
        _ if !may_load_bpf() => events.set_unavailable(EBPF_NEEDS_PRIVILEGE),
        (None, true) => events.set_unavailable("no cgroup v2 directory to filter on"),
        (Some(cg), true) => events.start_probes(cg.path()),
    }
    network.set_shared(crate::net::shared_wall(&events.status()));
    backends.reports.insert("network".into(), network.report());

    let cgroups = match &cgroup {
        Some(kg) => CgroupManager::new(&backends.cgroups, kg),
        None if !nix::unistd::geteuid().is_root() => CgroupManager::Unavailable {
            reason: format!(
                "no cgroup delegated to uid {} ({}); sandboxes get rlimits instead: RLIMIT_AS \
                 for memory, RLIMIT_NPROC in their user namespace for pids, a nice value for CPU \
                 weight; no CPU maximum, freeze or per-group accounting (start the kernel in a \
                 delegated cgroup, e.g. `systemd-run --user --scope -p Delegate=yes agentos up`)",
                nix::unistd::geteuid(),
                no_cgroup_why.as_deref().unwrap_or("no cgroup v2 tree")
            ),
        },
        None => CgroupManager::Unavailable {
            reason: "no cgroup v2 directory for the kernel".into(),
        },
    };
    backends
        .reports
        .insert("cgroup_limits".into(), cgroups.report());
    let sandbox = choose_sandbox(config.sandbox);
    // Opt-in: the program runs as the account's first subordinate uid.
    let subordinate = if config.subordinate_ids {
        let ids = crate::sandbox::find_subordinate_ids()
            .map_err(|why| anyhow::anyhow!("--subordinate-ids: {why}"))?;
        if !sandbox.namespaced() {
            bail!(
                "--subordinate-ids needs a user namespace, and this kernel has none ({})",
                sandbox.name()
            );
        }
        Some(ids)
    } else {
        None
    };
    // Every host resource registers its undo; shutdown runs them newest first.
    let cleanup = Arc::new(Orchestrator::default());
    if let Some(cg) = cgroup {
        let name = cg.path().display().to_string();
        cleanup.register(ResourceKind::Cgroup, name, move || {
            drop(cg); // kills what is left inside, removes the v2 and v1 directories
            Ok(())
        });
    }
    {
        let net = Arc::clone(&network);
        cleanup.register(
            ResourceKind::Network,
            "bridges and nftables table",
            move || net.shutdown(),
        );
    }
    let mut report = sandbox_report(&sandbox);
    let processes = Arc::new(
        ProcessTable::new(cgroups, sandbox)
            .context("starting the spawner thread")?
            .with_data_dir(&config.data_dir)
            .with_cleanup(Arc::clone(&cleanup))
            .with_managed_cgroups(events.managed())
            .with_unconfined_allowed(config.allow_unconfined)
            .with_landlock_skipped_for_tests(config.test_skip_landlock)
            .with_plain_children_for_tests(config.test_plain_children)
            .with_subordinate_ids_if(subordinate)
            .with_network(network),
    );
    report.details.insert(
        "uid".into(),
        match (subordinate, nix::unistd::geteuid().is_root()) {
            (Some(ids), _) => format!("{} (the account's first subordinate uid)", ids.uid),
            (None, true) => format!("{} (nobody)", processes.sandbox_uid()),
            (None, false) => format!("{} (the kernel's own)", processes.sandbox_uid()),
        },
    );
    report.details.insert(
        "supervision".into(),
        crate::sandbox::supervision(config.test_plain_children).into(),
    );
    if config.test_skip_landlock {
        report.details.insert(
            "landlock".into(),
            "SKIPPED: --test-skip-landlock (tests only): sandboxes get no landlock ruleset".into(),
        );
    }
    backends.reports.insert("sandbox".into(), report);
    let kernel = Kernel::new(vfs, backends, events, Arc::clone(&processes));
    {
        let k = Arc::clone(&kernel);
        cleanup.register(ResourceKind::Probe, "eBPF probes", move || {
            k.events.stop();
            Ok(())
        });
    }
    serve_process_sockets(&kernel);
    crate::observe::feed_collector(&kernel.events, &kernel.collector);
    if let Some(addr) = config.metrics {
        let listener = crate::observe::serve::bind(addr).await?;
        tracing::info!("agentos-kernel metrics on http://{addr}/metrics");
        tokio::spawn(crate::observe::serve::serve(
            listener,
            Arc::downgrade(&kernel),
        ));
    }
    let round_robin = kernel.scheduler.start();
    let reaper = {
        let k = Arc::clone(&kernel);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REAP_EVERY);
            loop {
                tick.tick().await;
                k.tasks.reap_expired(TASK_TTL);
            }
        })
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let socket = config.socket_path();
    let listener = bind(&socket, &cleanup)?;
    let fds = bind(&config.fds_socket_path(), &cleanup)?;
    let broker = tokio::spawn(Arc::clone(&kernel.shm).serve(fds));
    {
        // Registered last, so undone first: processes go before the socket, the
        // probes and the cgroup they live in.
        let (k, p) = (Arc::clone(&kernel), Arc::clone(&processes));
        cleanup.register(
            ResourceKind::Task,
            "scheduler and managed processes",
            move || {
                k.scheduler.thaw_all();
                p.kill_all();
                Ok(())
            },
        );
    }

    let rpc = KernelRpc::new(Arc::clone(&kernel));
    let uds = serve_uds(rpc.clone(), listener, stop_rx.clone());
    let tcp = config
        .tcp
        .map(|addr| serve_tcp(rpc, addr, token, stop_rx.clone()));
    println!("agentos-kernel listening on {}", socket.display());
    if let Some(addr) = config.tcp {
        println!(
            "agentos-kernel listening on tcp://{addr} (bearer token in {})",
            config.token_path().display()
        );
    }

    let stopping_kernel = Arc::clone(&kernel);
    let signal = tokio::spawn(async move {
        stop.await;
        // Subscriptions end first, so that their clients hang up and the servers
        // can finish without waiting out the grace period.
        stopping_kernel.events.close_streams();
        let _ = stop_tx.send(true);
    });
    let servers = async {
        match tcp {
            Some(tcp) => tokio::try_join!(uds, tcp).map(drop),
            None => uds.await,
        }
    };
    // Open streams (WatchEvents, a client that never hangs up) must not keep the
    // daemon alive: after the grace period they are cut.
    let mut stopping = stop_rx.clone();
    let grace = async move {
        let _ = stopping.changed().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let res = tokio::select! {
        res = servers => res,
        () = grace => {
            tracing::warn!("connections still open {SHUTDOWN_GRACE:?} after the stop signal; closing them");
            Ok(())
        }
    };
    signal.abort();
    broker.abort();
    reaper.abort();
    round_robin.abort();
    // Managed processes die with the kernel (their trees killed, their cgroups
    // removed), then the probes detach, the socket goes, the kernel's cgroup last.
    let outcomes = cleanup.shutdown();
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    drop(kernel);
    drop(processes);
    tracing::info!(cleaned = outcomes.len(), failed, "agentos-kernel stopped");
    res
}

/// Binds a 0600 Unix socket at `path` and registers its removal. It is bound and
/// listening under a temporary name first, then renamed into place: a client that
/// sees the socket can connect (no window between bind and listen).
fn bind(path: &Path, cleanup: &Orchestrator) -> anyhow::Result<UnixListener> {
    let staging = path.with_extension("sock.new");
    let _ = fs::remove_file(&staging);
    let listener =
        UnixListener::bind(&staging).with_context(|| format!("binding {}", staging.display()))?;
    fs::set_permissions(&staging, fs::Permissions::from_mode(0o600))?;
    fs::rename(&staging, path).with_context(|| format!("renaming to {}", path.display()))?;
    let owned = path.to_owned();
    cleanup.register(
        ResourceKind::Socket,
        path.display().to_string(),
        move || fs::remove_file(&owned).map_err(|e| e.to_string()),
    );
    Ok(listener)
}

/// Serves each managed process's own kernel socket: every call on it is that
/// process's and is checked against its capabilities. The server stops when the
/// process exits, and the socket file goes with it. What the process created in
/// the IPC tables is released as soon as its exit is reaped.
fn serve_process_sockets(kernel: &Arc<Kernel>) {
    // What a process created goes when its exit is reaped, not when its socket's
    // server has finished shutting down (which may be later).
    let ipc = Arc::downgrade(kernel);
    kernel.processes.set_exit_hook(Arc::new(move |pid| {
        if let Some(kernel) = ipc.upgrade() {
            kernel.ipc.release(pid);
        }
    }));
    let weak = Arc::downgrade(kernel);
    let sandbox_uid = kernel.processes.sandbox_uid();
    kernel
        .processes
        .set_socket_hook(Box::new(move |process, mut socket| {
            let (Some(kernel), Some(listener)) = (weak.upgrade(), socket.listener.take()) else {
                return;
            };
            tokio::spawn(async move {
                let listener = match UnixListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(pid = process.pid, "serving the process socket: {e}");
                        return;
                    }
                };
                let pid = process.pid;
                let exited = async move {
                    let _ = process.wait(None).await;
                };
                // gRPC, and fd tickets (pipes, shared memory) on the same socket.
                let incoming = crate::ipc::handoff::incoming(
                    listener,
                    pid,
                    sandbox_uid,
                    Arc::clone(&kernel.shm),
                );
                let ipc = Arc::clone(&kernel);
                let served = Server::builder()
                    .layer(InterceptorLayer::new(identity::managed_interceptor(
                        pid,
                        sandbox_uid,
                    )))
                    .add_service(service(KernelRpc::new(kernel)))
                    .serve_with_incoming_shutdown(incoming, exited)
                    .await;
                if let Err(e) = served {
                    tracing::warn!(pid, "process socket: {e}");
                }
                // Released at the reap already; this catches what a call still in
                // flight when the process died created after that.
                ipc.ipc.release(pid);
                drop(socket);
            });
        }));
}

fn reflection() -> anyhow::Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
> {
    Ok(tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(agentos_proto::FILE_DESCRIPTOR_SET)
        .build_v1()?)
}

fn service(rpc: KernelRpc) -> KernelServiceServer<KernelRpc> {
    KernelServiceServer::new(rpc)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
}

async fn serve_uds(
    rpc: KernelRpc,
    listener: UnixListener,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    Server::builder()
        .initial_stream_window_size(WINDOW)
        .initial_connection_window_size(WINDOW)
        .max_frame_size(FRAME)
        .layer(InterceptorLayer::new(identity::uds_interceptor()))
        .add_service(service(rpc))
        .add_service(reflection()?)
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async move {
            let _ = stop.changed().await;
        })
        .await
        .context("serving the Unix socket")
}

async fn serve_tcp(
    rpc: KernelRpc,
    addr: std::net::SocketAddr,
    token: Arc<str>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() {
        bail!("--tcp {addr}: only loopback addresses are allowed");
    }
    Server::builder()
        .initial_stream_window_size(WINDOW)
        .initial_connection_window_size(WINDOW)
        .max_frame_size(FRAME)
        .layer(InterceptorLayer::new(identity::tcp_interceptor(token)))
        .add_service(service(rpc))
        .add_service(reflection()?)
        .serve_with_shutdown(addr, async move {
            let _ = stop.changed().await;
        })
        .await
        .with_context(|| format!("serving tcp://{addr}"))
}

/// Installs the SIGINT and SIGTERM handlers and returns the future that
/// completes when one arrives.
///
/// Call it first thing inside the runtime, before anything is made on the host:
/// from then on a signal is only recorded, never the default action that killed
/// the kernel half-way through start-up (leaving its cgroups behind). A signal
/// during start-up completes the future at once, and [`serve`] stops as soon as
/// it is up, removing what it made. Before this call nothing of the kernel's
/// exists on the host. (Blocking the signals instead, from the first line of
/// `main`, was tried: every thread, and so every sandbox the spawner clones,
/// inherits the mask, and a SIGTERM sent to a managed program no longer arrived.)
pub fn catch_stop_signals() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static>
{
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        }
    })
}

/// What the eBPF report says to an ordinary user.
#[cfg(target_os = "linux")]
const EBPF_NEEDS_PRIVILEGE: &str = "the probes need root or CAP_BPF and CAP_PERFMON, which this kernel lacks; \
     run it as root, or grant them with `sudo setcap cap_bpf,cap_perfmon+ep $(command -v agentos-kernel)`";

/// What the eBPF report says off Linux.
#[cfg(not(target_os = "linux"))]
const EBPF_NEEDS_PRIVILEGE: &str = "eBPF is Linux's; this host has none: userspace events only";

/// Whether this process may load and attach the probes: root, or CAP_BPF and
/// CAP_PERFMON in its effective set.
#[cfg(target_os = "linux")]
fn may_load_bpf() -> bool {
    use caps::{CapSet, Capability};
    let has = |c| caps::has_cap(None, CapSet::Effective, c).unwrap_or(false);
    nix::unistd::geteuid().is_root() || (has(Capability::CAP_BPF) && has(Capability::CAP_PERFMON))
}

/// Off Linux there are no probes to load, whatever the privilege.
#[cfg(not(target_os = "linux"))]
fn may_load_bpf() -> bool {
    false
}

/// The isolation ladder on a host that is not Linux: the portable rung, whatever was asked.
#[cfg(not(target_os = "linux"))]
fn choose_sandbox(_choice: SandboxChoice) -> SandboxBackend {
    SandboxBackend::Portable {
        reason: "this host is not Linux: no namespaces, landlock, seccomp or cgroups, so no \
                 isolation and no limits; programs run as plain child processes in a session \
                 and process group of their own, supervised by kqueue and waitpid, killed when \
                 the kernel stops but not if it is SIGKILLed (no PR_SET_PDEATHSIG here)"
            .into(),
    }
}

/// The isolation ladder: the strongest rung this host allows, or the forced one.
#[cfg(target_os = "linux")]
fn choose_sandbox(choice: SandboxChoice) -> SandboxBackend {
    let walls = |reason: String| match crate::sandbox::walls_probe() {
        Ok(()) => SandboxBackend::Walls { reason },
        Err(why) => SandboxBackend::Portable {
            reason: format!("{reason}; and no walls either: {why}"),
        },
    };
    match choice {
        SandboxChoice::Portable => SandboxBackend::Portable {
            reason: "forced by --sandbox portable".into(),
        },
        SandboxChoice::Walls => walls("forced by --sandbox walls".into()),
        SandboxChoice::Auto => {
            let probe = crate::sandbox::probe();
            match (probe.available, probe.rootless) {
                (true, false) => SandboxBackend::Full,
                (true, true) => SandboxBackend::Rootless,
                (false, _) => walls(probe.reason),
            }
        }
    }
}

fn sandbox_report(sandbox: &SandboxBackend) -> Report {
    const WALLS: &str = "landlock, capabilities, no_new_privs, seccomp";
    match sandbox {
        SandboxBackend::Full => Report::yes(
            "full",
            format!("user/pid/mount/net/uts/ipc/cgroup namespaces, pivot_root, {WALLS}"),
        ),
        SandboxBackend::Rootless => Report::yes(
            "rootless",
            format!(
                "user/pid/mount/net/uts/ipc/cgroup namespaces inside a user namespace an ordinary user may make (its own ids, or its subordinate ones), pivot_root, {WALLS}"
            ),
        ),
        SandboxBackend::Walls { reason } => Report::no(
            "walls",
            format!(
                "walls only: landlock, seccomp, no_new_privs, a private /tmp directory; no namespaces ({reason})"
            ),
        ),
        SandboxBackend::Portable { reason } => Report::no(
            "portable",
            format!(
                "no walls: plain child processes, capability checks only, refused unless --allow-unconfined ({reason})"
            ),
        ),
    }
}
