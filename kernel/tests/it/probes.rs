//! The eBPF probes against the real daemon: a managed process's exec, file open, connect,
//! syscall counts and exit code are seen by the host kernel and attributed to it; the same
//! workload run on the host outside AgentOS leaves no trace; and nothing the probes load
//! outlives the daemon, whether it stops or is SIGKILLed.

use std::{
    collections::BTreeSet,
    net::TcpListener,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use agentos_proto::v1 as pb;
use pb::{process_input::Msg as In, process_output::Msg as Out};
use tokio_stream::StreamExt;

use crate::util::{Client, Daemon, require_root};

/// x86_64 `getppid`.
const NR_GETPPID: u32 = 110;
/// The port the managed process listens on and connects to, in its own network namespace.
const SANDBOX_PORT: u16 = 47_321;
const GETPPID_CALLS: &str = "1000";
/// `include/net/tcp_states.h`.
const TCP_ESTABLISHED: u32 = 1;
const TCP_SYN_SENT: u32 = 2;

fn probe_bin() -> PathBuf {
    crate::util::bin("agentos-probe", env!("CARGO_BIN_EXE_agentos-probe"))
}

/// A managed `agentos-probe ARGS`, which may read its own binary (and `readable`).
fn probe_spec(args: &[&str], readable: Option<&str>) -> pb::ProcessSpec {
    let bin = probe_bin();
    let bin = bin.to_str().unwrap();
    pb::ProcessSpec {
        argv: std::iter::once(bin)
            .chain(args.iter().copied())
            .map(Into::into)
            .collect(),
        read_paths: std::iter::once(bin)
            .chain(readable)
            .map(Into::into)
            .collect(),
        ..Default::default()
    }
}

/// Waits for a managed process to exit; its stdout and exit.
async fn finish(c: &mut Client, pid: u32) -> (String, pb::ExitInfo) {
    let input = tokio_stream::iter([pb::ProcessInput {
        msg: Some(In::Attach(pid)),
    }]);
    let mut out = c.process_io(input).await.unwrap().into_inner();
    let mut stdout = Vec::new();
    while let Some(m) = tokio::time::timeout(Duration::from_secs(30), out.next())
        .await
        .expect("the process exits within 30 s")
    {
        match m.unwrap().msg {
            Some(Out::Output(ch)) if ch.stream == pb::OutputStream::Stdout as i32 => {
                stdout.extend(ch.data)
            }
            Some(Out::Exit(x)) => return (String::from_utf8_lossy(&stdout).into(), x),
            _ => {}
        }
    }
    panic!("output ended without an exit");
}

/// A directory `agentos-test-probes-*` with a file the sandbox's user may read.
fn observed_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("agentos-test-probes-")
        .tempdir()
        .expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.path().join("observed.txt");
    std::fs::write(&file, "watched\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    (dir, file)
}

fn kind(ev: &pb::KernelEvent) -> pb::EventKind {
    pb::EventKind::try_from(ev.kind).expect("a known kind")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_process_is_seen_whole_and_a_host_process_not_at_all() {
    if !require_root("a_managed_process_is_seen_whole_and_a_host_process_not_at_all") {
        return;
    }
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let mut events = crate::util::watch_live_probes(&mut c).await;
    let (_dir, file) = observed_file();
    let file_str = file.to_str().unwrap();

    // Outside AgentOS, with the probes live: the same workload against a host loopback
    // listener the test holds (so the helper's own bind fails and its connect succeeds).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host_port = listener.local_addr().unwrap().port().to_string();
    let host = Command::new(probe_bin())
        .args(["observe", file_str, &host_port, GETPPID_CALLS, "3"])
        .output()
        .expect("run the probe on the host");
    assert_eq!(host.status.code(), Some(3));
    // The child's pid is gone with `output()`; the events are told apart by comm + ppid.
    let host_parent = std::process::id();

    // The managed process: in its own network namespace, loopback only.
    let spec = probe_spec(
        &[
            "observe",
            file_str,
            &SANDBOX_PORT.to_string(),
            GETPPID_CALLS,
            "3",
        ],
        file.parent().unwrap().to_str(),
    );
    let init = crate::util::spawn(&mut c, spec).await.pid;
    let (stdout, exit) = finish(&mut c, init).await;
    assert_eq!(exit.code, Some(3), "{stdout} {exit:?}");
    assert!(
        stdout.contains("open=ALLOWED") && stdout.contains("connect=ALLOWED"),
        "the workload did not run as planned: {stdout}"
    );

    // Gather until the program's exit (events arrive in order per CPU; allow a grace period
    // for the rest so nothing of the host run can hide behind it).
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, events.next()).await {
        let ev = ev.unwrap();
        let done = kind(&ev) == pb::EventKind::Exit && ev.comm == "agentos-probe";
        seen.push(ev);
        if done {
            break;
        }
    }
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(300), events.next()).await {
        seen.push(ev.unwrap());
    }

    let exec = seen
        .iter()
        .find(|ev| kind(ev) == pb::EventKind::Exec && ev.comm == "agentos-probe")
        .unwrap_or_else(|| panic!("no exec of the probe: {seen:#?}"));
    assert_eq!(exec.ppid, init, "the program is the sandbox init's child");
    let program = exec.pid;
    // The sandbox's init forked it, inside the cgroup.
    assert!(
        seen.iter()
            .any(|ev| kind(ev) == pb::EventKind::Fork && ev.pid == program && ev.ppid == init),
        "no fork of the program by init: {seen:#?}"
    );
    assert!(
        seen.iter().all(|ev| ev.ppid != host_parent),
        "the host run was recorded: {seen:#?}"
    );
    assert!(
        seen.iter().all(|ev| ev.cgroup_id == exec.cgroup_id),
        "an event from outside the process's cgroup: {seen:#?}"
    );
    let of_program = |k: pb::EventKind| {
        seen.iter()
            .filter(move |ev| kind(ev) == k && ev.pid == program)
    };
    let open = of_program(pb::EventKind::Open)
        .find(|ev| ev.path == file_str)
        .unwrap_or_else(|| panic!("no open of {file_str}: {seen:#?}"));
    assert!(open.result >= 0, "the open failed: {open:?}");
    assert_eq!(
        open.open_flags & libc::O_ACCMODE as u32,
        libc::O_RDONLY as u32
    );
    let connect = of_program(pb::EventKind::Connect)
        .find(|ev| ev.port == u32::from(SANDBOX_PORT))
        .unwrap_or_else(|| panic!("no connect to port {SANDBOX_PORT}: {seen:#?}"));
    assert_eq!(connect.address, "127.0.0.1");
    // The helper connects with a timeout, i.e. non-blocking: the syscall returns
    // EINPROGRESS and the handshake completes after (the helper said `connect=ALLOWED`).
    assert!(
        [0, -i64::from(libc::EINPROGRESS)].contains(&connect.result),
        "{connect:?}"
    );
    // Its TCP handshake, attributed by the socket's cgroup: the client socket went
    // SYN_SENT → ESTABLISHED towards the port.
    let established = seen
        .iter()
        .find(|ev| {
            kind(ev) == pb::EventKind::TcpState
                && ev.port == u32::from(SANDBOX_PORT)
                && ev.new_state == TCP_ESTABLISHED
        })
        .unwrap_or_else(|| panic!("no TCP state change to ESTABLISHED: {seen:#?}"));
    assert_eq!(established.old_state, TCP_SYN_SENT, "{established:?}");
    assert_eq!(established.address, "127.0.0.1");
    assert_eq!(established.source_address, "127.0.0.1");
    assert_ne!(established.source_port, 0);
    assert!(
        !seen
            .iter()
            .any(|ev| ev.port == u32::from(host_port.parse::<u16>().unwrap())),
        "the host run's connect was recorded"
    );
    let exit = of_program(pb::EventKind::Exit)
        .next()
        .unwrap_or_else(|| panic!("no exit of the probe: {seen:#?}"));
    assert_eq!(exit.exit_status >> 8, 3, "{exit:?}");

    // The kernel-side figures, attributed to this process's cgroup.
    let stats = c
        .probe_stats(pb::ProbeStatsRequest { pid: init })
        .await
        .expect("probe stats")
        .into_inner();
    assert_eq!(stats.cgroup_id, exec.cgroup_id);
    let getppid = stats
        .syscalls
        .iter()
        .find(|s| s.nr == NR_GETPPID)
        .unwrap_or_else(|| panic!("no getppid counted: {stats:?}"));
    assert!(getppid.count >= 1000, "{getppid:?}");
    assert_eq!(getppid.latency_log2.iter().sum::<u64>(), getppid.count);
    assert!(
        stats.on_cpu_ns > 0 && stats.context_switches > 0,
        "{stats:?}"
    );
    // What watching it cost, charged to it: at least an entry and an exit run per getppid,
    // timed by the host's BPF run-time statistics.
    assert!(
        stats.observe_runs >= 2 * getppid.count,
        "observe_runs {} for {} getppid calls",
        stats.observe_runs,
        getppid.count
    );
    assert!(stats.observe_cpu_ns > 0, "{stats:?}");
    eprintln!(
        "observation cost: {} runs, {} ns for {} getppid calls ({} ns on CPU)",
        stats.observe_runs, stats.observe_cpu_ns, getppid.count, stats.on_cpu_ns
    );

    // A host process is no managed process: nothing to ask about.
    let st = c
        .probe_stats(pb::ProbeStatsRequest {
            pid: std::process::id(),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::NotFound, "{st:?}");
    drop(listener);
}

/// The ids of the BPF programs and maps whose fds `pid` holds (`/proc/PID/fdinfo`).
fn bpf_objects_of(pid: u32) -> (BTreeSet<u32>, BTreeSet<u32>) {
    let (mut progs, mut maps) = (BTreeSet::new(), BTreeSet::new());
    let dir = Path::new("/proc").join(pid.to_string()).join("fdinfo");
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let Ok(info) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        for line in info.lines() {
            let mut parts = line.split(':');
            let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
                continue;
            };
            let Ok(id) = value.trim().parse::<u32>() else {
                continue;
            };
            match key {
                "prog_id" => drop(progs.insert(id)),
                "map_id" => drop(maps.insert(id)),
                _ => {}
            }
        }
    }
    (progs, maps)
}

/// BPF object ids with their names.
type Named = Vec<(u32, String)>;

/// The ids of every BPF program and map loaded on the host, with their names.
fn loaded() -> (Named, Named) {
    let progs = aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .map(|p| (p.id(), p.name_as_str().unwrap_or("").to_owned()))
        .collect();
    let maps = aya::maps::loaded_maps()
        .filter_map(Result::ok)
        .map(|m| (m.id(), m.name_as_str().unwrap_or("").to_owned()))
        .collect();
    (progs, maps)
}

/// Spawns a managed `sleep` (so the hot programs attach too) and returns the daemon's BPF
/// objects by id, checking each carries the `agentos` prefix.
async fn objects_while_busy(d: &Daemon) -> (BTreeSet<u32>, BTreeSet<u32>) {
    let mut c = d.client().await;
    let spec = pb::ProcessSpec {
        argv: vec!["/bin/sleep".into(), "30".into()],
        ..Default::default()
    };
    crate::util::spawn(&mut c, spec).await;
    let (progs, maps) = bpf_objects_of(d.pid());
    // 3 lifecycle + 5 hot programs.
    assert!(progs.len() >= 8, "the daemon holds programs {progs:?}");
    let (all_progs, all_maps) = loaded();
    for (id, name) in all_progs.iter().filter(|(id, _)| progs.contains(id)) {
        assert!(
            name.starts_with("agentos"),
            "program {id} is named {name:?}"
        );
    }
    // The kernel wall's connect, sendmsg and bind programs, attached to the daemon's cgroup,
    // are among them (and so are covered by the checks below that everything goes with the
    // daemon).
    let names: Vec<&str> = all_progs
        .iter()
        .filter(|(id, _)| progs.contains(id))
        .map(|(_, name)| name.as_str())
        .collect();
    for wall in [
        "agentos_conn4",
        "agentos_conn6",
        "agentos_send4",
        "agentos_send6",
        "agentos_bind4",
        "agentos_bind6",
    ] {
        assert!(names.contains(&wall), "no {wall} among {names:?}");
    }
    for (id, name) in all_maps.iter().filter(|(id, _)| maps.contains(id)) {
        assert!(name.starts_with("AGENTOS_"), "map {id} is named {name:?}");
    }
    (progs, maps)
}

fn assert_gone(progs: &BTreeSet<u32>, maps: &BTreeSet<u32>, when: &str) {
    // Freeing is asynchronous (RCU) after the last fd closes: allow a moment.
    for _ in 0..50 {
        let (all_progs, all_maps) = loaded();
        let left: Vec<_> = all_progs
            .iter()
            .filter(|(id, _)| progs.contains(id))
            .chain(all_maps.iter().filter(|(id, _)| maps.contains(id)))
            .collect();
        if left.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("BPF objects of the daemon survived {when}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_the_probes_load_outlives_the_daemon() {
    if !require_root("nothing_the_probes_load_outlives_the_daemon") {
        return;
    }
    let mut d = Daemon::start(&[]);
    let (progs, maps) = objects_while_busy(&d).await;
    assert!(!maps.is_empty());
    d.terminate();
    assert_gone(&progs, &maps, "a clean stop");

    let mut d = Daemon::start(&[]);
    let (progs, maps) = objects_while_busy(&d).await;
    d.kill9();
    assert_gone(&progs, &maps, "a SIGKILL");
    // A restart on the same data directory finds nothing to sweep and loads afresh.
    d.spawn();
    let mut c = d.client().await;
    let report = c.doctor(pb::DoctorRequest {}).await.unwrap().into_inner();
    assert!(
        report.subsystems["ebpf"].available,
        "{:?}",
        report.subsystems["ebpf"]
    );
}

/// The value of the series line starting with `prefix` in Prometheus text, 0 if absent.
fn series(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// `/metrics` shows the probes' run time and runs per program and each app's share, and all
/// three grow while a managed workload makes syscalls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_run_time_is_exported_and_grows_with_a_managed_workload() {
    if !require_root("probe_run_time_is_exported_and_grows_with_a_managed_workload") {
        return;
    }
    let addr = crate::util::free_loopback_addr();
    let d = Daemon::start(&["--metrics", &addr.to_string()]);
    let mut c = d.client().await;
    drop(crate::util::watch_live_probes(&mut c).await);
    crate::util::wait_for_tcp(addr).await;
    let probe = probe_bin();
    let spawn = |name: &str, script: String| pb::ProcessSpec {
        name: name.into(),
        argv: vec!["/bin/sh".into(), "-c".into(), script],
        read_paths: vec![probe.to_str().unwrap().to_owned()],
        ..Default::default()
    };
    // An idle app keeps the high-frequency programs on; attaching them began a sample of the
    // run-time statistics (`observe/probes/cost.rs`, 10 s), so the workload is timed.
    let idle = crate::util::spawn(&mut c, spawn("idle", "exec sleep 60".into())).await;
    let sys_out = "agentos_probe_runs_total{program=\"agentos_sys_out\"}";
    let sys_out_time = "agentos_probe_run_seconds_total{program=\"agentos_sys_out\"}";
    let before = crate::util::http_get(addr, "/metrics").await;
    assert!(
        before.contains("# TYPE agentos_probe_run_seconds_total counter")
            && before.contains("# TYPE agentos_app_observe_cpu_seconds_total counter"),
        "{before}"
    );
    let calls = 200_000u32;
    let worker = crate::util::spawn(
        &mut c,
        spawn(
            "worker",
            format!("{} getppid {calls}; exec sleep 60", probe.display()),
        ),
    )
    .await;
    let worker_cost = format!(
        "agentos_app_observe_cpu_seconds_total{{app=\"worker\",pid=\"{}\"}}",
        worker.pid
    );
    // The workload's syscalls each ran the exit program once: wait until they are counted.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let after = loop {
        let text = crate::util::http_get(addr, "/metrics").await;
        if series(&text, sys_out) - series(&before, sys_out) >= f64::from(calls)
            && series(&text, &worker_cost) > 0.0
        {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the figures did not grow by the workload's {calls} calls:\nbefore:\n{before}\nafter:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        series(&after, sys_out_time) > series(&before, sys_out_time),
        "run time did not grow"
    );
    // The idle app's share stays below the worker's: charged by runs, not spread evenly.
    let idle_cost = format!(
        "agentos_app_observe_cpu_seconds_total{{app=\"idle\",pid=\"{}\"}}",
        idle.pid
    );
    assert!(
        series(&after, &idle_cost) < series(&after, &worker_cost),
        "{after}"
    );
    crate::util::kill_tree(&mut c, worker.pid).await;
    crate::util::kill_tree(&mut c, idle.pid).await;
}

/// Two managed processes handing a byte back and forth (`agentos-probe pingpong-cpu`) are
/// counted switch by switch, from the scheduler's own accounts of them: each round trip
/// switches both out once and brings each on the CPU once, after a wait on the run queue
/// (the two are pinned to one CPU), and their on-CPU time matches their own count of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_ping_pong_is_counted_switch_by_switch() {
    if !require_root("a_managed_ping_pong_is_counted_switch_by_switch") {
        return;
    }
    const ROUND_TRIPS: u64 = 20_000;
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    drop(crate::util::watch_live_probes(&mut c).await);
    let spec = probe_spec(&["pingpong-cpu", &ROUND_TRIPS.to_string()], None);
    let pid = crate::util::spawn(&mut c, spec).await.pid;
    let (stdout, exit) = finish(&mut c, pid).await;
    assert_eq!(exit.code, Some(0), "{stdout} {exit:?}");
    let rally_ns = stdout
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|&ns| ns > 0)
        .unwrap_or_else(|| panic!("no CPU time: {stdout}"));
    let stats = c
        .probe_stats(pb::ProbeStatsRequest { pid })
        .await
        .expect("probe stats")
        .into_inner();
    assert!(
        stats.context_switches >= 2 * ROUND_TRIPS,
        "{} switches for {ROUND_TRIPS} round trips: {stats:?}",
        stats.context_switches
    );
    eprintln!(
        "on CPU {} ns for a rally of {rally_ns} ns; {} waits of {} ns on the run queue",
        stats.on_cpu_ns, stats.runq_count, stats.runq_ns
    );
    // The on-CPU time covers both ends' own count of their rally (their threads' CPU time)
    // and not much more: the rest is the process's start and the sandbox's init.
    assert!(
        stats.on_cpu_ns >= rally_ns * 9 / 10 && stats.on_cpu_ns <= 2 * rally_ns + 500_000_000,
        "{} ns on CPU for a rally of {rally_ns} ns: {stats:?}",
        stats.on_cpu_ns
    );
    assert!(
        stats.runq_count >= 2 * ROUND_TRIPS && stats.runq_ns > 0,
        "{} run-queue waits for {ROUND_TRIPS} round trips: {stats:?}",
        stats.runq_count
    );
}
