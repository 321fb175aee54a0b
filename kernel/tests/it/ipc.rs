//! IPC between real managed processes: `agentos-ipc-peer` runs in the sandbox,
//! receives pipe ends and shared-memory segments as fds on its own kernel socket,
//! and moves bytes through them; the other side checks every byte.

use std::time::Duration;

use agentos_client::Client;
use agentos_proto::v1::{self as pb, syscall::Call, syscall_result::Value};
use tonic::Code;

use crate::util::{Daemon, call, collect, error_of, fd_count, process_socket, require_root};

pub(crate) fn peer_bin() -> std::path::PathBuf {
    crate::util::bin("agentos-ipc-peer", env!("CARGO_BIN_EXE_agentos-ipc-peer"))
}

/// The isolation rung the tests run on: the strongest (namespaces, as root). A
/// root kernel's walls-only and portable programs run as nobody with no mount to
/// carry their socket, and cannot traverse the 0700 data directory to it (as in
/// `capabilities.rs`), so they cannot be IPC peers there.
const FULL: &[&str] = &[];

/// A kernel on the full sandbox and a user client; `None` (a recorded skip)
/// without root.
pub(crate) async fn kernel(test: &str) -> Option<(Daemon, Client)> {
    if !require_root(test) {
        return None;
    }
    let d = Daemon::start(FULL);
    let user = d.client().await;
    Some((d, user))
}

/// Starts the peer with `args` and the channel grants `caps`.
pub(crate) async fn peer(user: &mut Client, args: &[&str], caps: &[&str]) -> u32 {
    let bin = peer_bin().display().to_string();
    let spec = pb::ProcessSpec {
        argv: [&[bin.as_str()][..], args]
            .concat()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        read_paths: vec![bin],
        capabilities: caps.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    crate::util::spawn(user, spec).await.pid
}

/// The peer's one line of output, once it exited.
pub(crate) async fn line_of(user: &mut Client, pid: u32) -> String {
    let (out, err, _) = collect(user, pid).await;
    let line = out.trim().to_owned();
    assert!(!line.is_empty(), "no output; stderr: {err}");
    line
}

fn pipe_end(name: &str, end: pb::PipeEnd) -> Call {
    Call::PipeOpen(pb::PipeOpen {
        name: name.into(),
        end: end as i32,
    })
}

async fn pipe_stats(c: &mut Client, name: &str) -> Result<pb::PipeInfo, tonic::Status> {
    match call(c, Call::PipeStats(pb::PipeStats { name: name.into() })).await? {
        Value::Pipe(p) => Ok(p),
        other => panic!("not pipe stats: {other:?}"),
    }
}

async fn shm_stats(c: &mut Client, name: &str) -> Result<pb::ShmInfo, tonic::Status> {
    match call(c, Call::ShmStats(pb::ShmStats { name: name.into() })).await? {
        Value::Shm(s) => Ok(s),
        other => panic!("not shm stats: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_exchange_bytes_through_a_kernel_pipe() {
    let Some((d, mut user)) = kernel("two_processes_exchange_bytes_through_a_kernel_pipe").await
    else {
        return;
    };
    let created = call(
        &mut user,
        Call::PipeCreate(pb::PipeCreate {
            name: "ipc.p".into(),
            capacity: 64 << 10,
        }),
    )
    .await
    .unwrap();
    assert!(
        matches!(created, Value::Pipe(ref p) if p.capacity == 64 << 10),
        "{created:?}"
    );

    // Process to process: 256 KiB through a 64 KiB pipe, so the writer blocks
    // until the reader drains it; the reader checks every byte.
    let n = (256 << 10).to_string();
    let reader = peer(&mut user, &["pipe-read", "ipc.p", &n, "7"], &["recv:ipc.p"]).await;
    let writer = peer(
        &mut user,
        &["pipe-write", "ipc.p", &n, "7"],
        &["send:ipc.p"],
    )
    .await;
    assert_eq!(line_of(&mut user, writer).await, format!("OK wrote {n}"));
    assert_eq!(
        line_of(&mut user, reader).await,
        format!("OK read {n} intact")
    );
    let s = pipe_stats(&mut user, "ipc.p").await.unwrap();
    assert_eq!(s.handed_out, 2);
    assert_eq!(
        (s.kernel_bytes_written, s.kernel_bytes_read, s.buffered),
        (0, 0, 0),
        "the bytes went process to process"
    );

    // Process to kernel, and kernel to process.
    let w = peer(
        &mut user,
        &["pipe-write", "ipc.p", "68656c6c6f"],
        &["send:ipc.p"],
    )
    .await;
    assert_eq!(line_of(&mut user, w).await, "OK wrote 5");
    let got = call(
        &mut user,
        Call::PipeRead(pb::PipeRead {
            name: "ipc.p".into(),
            max: 0,
        }),
    )
    .await
    .unwrap();
    assert_eq!(got, Value::Data(b"hello".to_vec()));
    call(
        &mut user,
        Call::PipeWrite(pb::PipeWrite {
            name: "ipc.p".into(),
            data: b"from kernel".to_vec(),
        }),
    )
    .await
    .unwrap();
    let r = peer(&mut user, &["pipe-read", "ipc.p", "11"], &["recv:ipc.p"]).await;
    assert_eq!(
        line_of(&mut user, r).await,
        "OK read 11 66726f6d206b65726e656c"
    );

    // Grants: a reader may not take the write end.
    let bad = peer(&mut user, &["pipe-write", "ipc.p", "00"], &["recv:ipc.p"]).await;
    let line = line_of(&mut user, bad).await;
    assert!(
        line.starts_with("ERR") && line.contains("SendMessage"),
        "{line}"
    );

    // A ticket is good only for whom it was offered: one the user got is refused
    // on a process's socket.
    let holder = peer(&mut user, &["pipe-read", "ipc.p", "1"], &["recv:ipc.p"]).await;
    let Value::FdTicket(t) = call(&mut user, pipe_end("ipc.p", pb::PipeEnd::Write))
        .await
        .unwrap()
    else {
        panic!("no ticket");
    };
    let sock = process_socket(&d).await;
    let other = Client::connect_process(&sock).await.unwrap();
    let e = other.claim_fd(&t).await.unwrap_err();
    assert!(e.to_string().contains("another user or process"), "{e}");
    // Unblock the holder and let it go.
    call(
        &mut user,
        Call::PipeWrite(pb::PipeWrite {
            name: "ipc.p".into(),
            data: b"!".to_vec(),
        }),
    )
    .await
    .unwrap();
    assert_eq!(line_of(&mut user, holder).await, "OK read 1 21");

    // Destroyed: gone by name.
    call(
        &mut user,
        Call::PipeDestroy(pb::PipeDestroy {
            name: "ipc.p".into(),
        }),
    )
    .await
    .unwrap();
    let st = pipe_stats(&mut user, "ipc.p").await.unwrap_err();
    assert_eq!(st.code(), Code::NotFound, "{st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_exchange_bytes_through_one_shared_mapping() {
    let Some((_d, mut user)) =
        kernel("two_processes_exchange_bytes_through_one_shared_mapping").await
    else {
        return;
    };
    let created = call(
        &mut user,
        Call::ShmCreate(pb::ShmCreate {
            name: "ipc.s".into(),
            size: 64 << 10,
        }),
    )
    .await
    .unwrap();
    let Value::Shm(info) = created else {
        panic!("{created:?}")
    };
    let sealed = libc::F_SEAL_GROW | libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL;
    assert_eq!(info.seals & sealed, sealed, "sealed to its size");

    // The reader maps it read-only and waits; the writer maps it writable and
    // publishes 50 000 bytes; the reader checks them in its own mapping.
    let reader = peer(&mut user, &["shm-get", "ipc.s"], &["recv:ipc.s"]).await;
    let writer = peer(
        &mut user,
        &["shm-put", "ipc.s", "50000", "9"],
        &["send:ipc.s", "recv:ipc.s"],
    )
    .await;
    assert_eq!(line_of(&mut user, writer).await, "OK put 50000");
    assert_eq!(line_of(&mut user, reader).await, "OK got 50000 intact");
    // The kernel's own mapping is the same memory.
    let head = call(
        &mut user,
        Call::ShmRead(pb::ShmRead {
            name: "ipc.s".into(),
            offset: 0,
            length: 10,
        }),
    )
    .await
    .unwrap();
    let mut want = 50_000u64.to_ne_bytes().to_vec();
    want.extend([9, 40]);
    assert_eq!(head, Value::Data(want));

    // A read-only grant gives a read-only mapping, and no writable attach.
    let ro = peer(&mut user, &["shm-map-writable", "ipc.s"], &["recv:ipc.s"]).await;
    let line = line_of(&mut user, ro).await;
    assert!(
        line.starts_with("OK refused mmap") && line.contains("ermission denied"),
        "{line}"
    );
    let rw = peer(&mut user, &["shm-put", "ipc.s", "1", "1"], &["recv:ipc.s"]).await;
    let line = line_of(&mut user, rw).await;
    assert!(
        line.starts_with("ERR") && line.contains("SendMessage"),
        "{line}"
    );

    call(
        &mut user,
        Call::ShmDestroy(pb::ShmDestroy {
            name: "ipc.s".into(),
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        shm_stats(&mut user, "ipc.s").await.unwrap_err().code(),
        Code::NotFound
    );
}

/// The daemon's fds that are AgentOS memfds or pipes.
fn ipc_fds(daemon: u32) -> usize {
    std::fs::read_dir(format!("/proc/{daemon}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|t| {
            let t = t.to_string_lossy();
            t.starts_with("/memfd:agentos-shm") || t.starts_with("pipe:")
        })
        .count()
}

/// How long after `wait` returns the daemon may take to show a reaped process's
/// objects gone: the release runs before the exit is published, so this only
/// covers the socket server's connection closing and `/proc` reads racing it.
const RELEASED: Duration = Duration::from_millis(500);

/// Polls until the daemon holds at most `fds` descriptors and `ipc` of them are
/// AgentOS pipes or memfds, for at most [`RELEASED`]; the counts seen last.
async fn settle(daemon: u32, fds: usize, ipc: usize) -> (usize, usize) {
    let deadline = tokio::time::Instant::now() + RELEASED;
    loop {
        let seen = (fd_count(daemon), ipc_fds(daemon));
        if (seen.0 <= fds && seen.1 <= ipc) || tokio::time::Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits for `pid` through the kernel, then asserts that within [`RELEASED`] the
/// daemon is back to `fds` descriptors, `ipc` of them pipes or memfds.
async fn assert_released_at_wait(
    user: &mut Client,
    daemon: u32,
    pid: u32,
    (fds, ipc): (usize, usize),
) {
    let Value::Process(info) = call(
        user,
        Call::Wait(pb::WaitProcess {
            pid,
            timeout_ms: 5000,
        }),
    )
    .await
    .unwrap() else {
        panic!("wait answered no process")
    };
    assert_eq!(info.state, pb::ProcessState::Exited as i32);
    let seen = settle(daemon, fds, ipc).await;
    assert!(
        seen.0 <= fds && seen.1 <= ipc,
        "{RELEASED:?} after wait returned for process {pid}, the daemon holds {} fds ({fds} \
         before) and {} pipes or memfds ({ipc} before)",
        seen.0,
        seen.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_process_created_goes_when_its_exit_is_reaped() {
    let Some((d, mut user)) = kernel("what_a_process_created_goes_when_its_exit_is_reaped").await
    else {
        return;
    };
    // Warm up (the first spawn opens fds the daemon keeps).
    let warm = peer(
        &mut user,
        &["create", "ipc.warm", "4096"],
        &["send:ipc.warm", "recv:ipc.warm"],
    )
    .await;
    assert_eq!(line_of(&mut user, warm).await, "OK created ipc.warm");
    // The baseline: what the daemon holds once the warm-up's exit has settled
    // (the wait for an impossible zero runs the whole window).
    let baseline = settle(d.pid(), 0, 0).await;
    for i in 0..3 {
        let name = format!("ipc.own.{i}");
        // A pipe (two fds), a memfd and a socket in its namespace, none closed.
        let p = peer(
            &mut user,
            &["create", &name, "65536"],
            &["send:ipc.own.*", "recv:ipc.own.*"],
        )
        .await;
        assert_eq!(line_of(&mut user, p).await, format!("OK created {name}"));
        assert_released_at_wait(&mut user, d.pid(), p, baseline).await;
        for st in [
            pipe_stats(&mut user, &name).await,
            shm_stats(&mut user, &name)
                .await
                .map(|_| pb::PipeInfo::default()),
        ] {
            assert_eq!(st.unwrap_err().code(), Code::NotFound, "{name}");
        }
    }
    // Killed in the middle of a kernel call (a 30 s accept on a listening
    // socket in its table): that call still holds the process's socket server
    // open, and must not hold the release back.
    let p = peer(&mut user, &["sock-serve", "7300"], &["bind:7300"]).await;
    crate::net::wait_for_line(&mut user, p, "LISTENING").await;
    crate::util::kill_tree(&mut user, p).await;
    assert_released_at_wait(&mut user, d.pid(), p, baseline).await;

    // The user's own objects stay until destroyed.
    call(
        &mut user,
        Call::PipeCreate(pb::PipeCreate {
            name: "ipc.u".into(),
            capacity: 0,
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        ipc_fds(d.pid()),
        baseline.1 + 4,
        "two ends, each with the kernel's own description"
    );
    call(
        &mut user,
        Call::PipeDestroy(pb::PipeDestroy {
            name: "ipc.u".into(),
        }),
    )
    .await
    .unwrap();
    assert_eq!(ipc_fds(d.pid()), baseline.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ipc_arguments_are_typed_errors() {
    let d = Daemon::start(FULL);
    let mut user = d.client().await;
    for (c, code) in [
        (
            Call::PipeCreate(pb::PipeCreate {
                name: "a/b".into(),
                capacity: 0,
            }),
            Code::InvalidArgument,
        ),
        (
            Call::PipeCreate(pb::PipeCreate {
                name: "big".into(),
                capacity: 64 << 20,
            }),
            Code::InvalidArgument,
        ),
        (pipe_end("nope", pb::PipeEnd::Read), Code::NotFound),
        (
            Call::ShmCreate(pb::ShmCreate {
                name: "huge".into(),
                size: 1 << 40,
            }),
            Code::InvalidArgument,
        ),
        (
            Call::ShmRead(pb::ShmRead {
                name: "nope".into(),
                offset: 0,
                length: 1,
            }),
            Code::NotFound,
        ),
    ] {
        let st = call(&mut user, c).await.unwrap_err();
        assert_eq!(st.code(), code, "{:?}", error_of(&st));
    }
    call(
        &mut user,
        Call::PipeCreate(pb::PipeCreate {
            name: "p".into(),
            capacity: 0,
        }),
    )
    .await
    .unwrap();
    let st = call(&mut user, pipe_end("p", pb::PipeEnd::Unspecified))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
}

fn queue_create(name: &str, kind: pb::QueueKind, capacity: u32) -> Call {
    Call::QueueCreate(pb::QueueCreate {
        name: name.into(),
        kind: kind as i32,
        capacity,
    })
}

async fn queue_stats(c: &mut Client, name: &str) -> pb::QueueInfo {
    match call(c, Call::QueueStats(pb::QueueStats { name: name.into() }))
        .await
        .unwrap()
    {
        Value::Queue(q) => q,
        other => panic!("not queue stats: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_exchange_messages_through_kernel_queues() {
    let Some((_d, mut user)) =
        kernel("two_processes_exchange_messages_through_kernel_queues").await
    else {
        return;
    };
    let (send, recv) = (&["send:ipc.q.*"][..], &["recv:ipc.q.*"][..]);

    // FIFO with a blocking receive: the receiver starts first and waits.
    call(&mut user, queue_create("ipc.q.f", pb::QueueKind::Fifo, 4))
        .await
        .unwrap();
    let r = peer(&mut user, &["queue-recv", "ipc.q.f", "3"], recv).await;
    let s = peer(
        &mut user,
        &["queue-send", "ipc.q.f", "01,0202,030303"],
        send,
    )
    .await;
    assert_eq!(line_of(&mut user, s).await, "OK sent 3");
    assert_eq!(line_of(&mut user, r).await, "OK received 01,0202,030303");

    // Priority: sent low then high by two processes, received high first.
    call(
        &mut user,
        queue_create("ipc.q.p", pb::QueueKind::Priority, 0),
    )
    .await
    .unwrap();
    let lo = peer(&mut user, &["queue-send", "ipc.q.p", "6c6f", "1"], send).await;
    assert_eq!(line_of(&mut user, lo).await, "OK sent 1");
    let hi = peer(&mut user, &["queue-send", "ipc.q.p", "6869", "9"], send).await;
    assert_eq!(line_of(&mut user, hi).await, "OK sent 1");
    let r = peer(&mut user, &["queue-recv", "ipc.q.p", "2"], recv).await;
    assert_eq!(line_of(&mut user, r).await, "OK received 6869,6c6f");

    // Pub/sub: two subscribers each get every message published after they joined.
    call(
        &mut user,
        queue_create("ipc.q.ps", pb::QueueKind::Pubsub, 0),
    )
    .await
    .unwrap();
    let a = peer(&mut user, &["queue-recv", "ipc.q.ps", "2", "sub"], recv).await;
    let b = peer(&mut user, &["queue-recv", "ipc.q.ps", "2", "sub"], recv).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while queue_stats(&mut user, "ipc.q.ps").await.subscribers < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "subscribers never came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let p = peer(&mut user, &["queue-send", "ipc.q.ps", "aa,bb"], send).await;
    assert_eq!(line_of(&mut user, p).await, "OK sent 2");
    assert_eq!(line_of(&mut user, a).await, "OK received aa,bb");
    assert_eq!(line_of(&mut user, b).await, "OK received aa,bb");
    // Their subscriptions went with them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while queue_stats(&mut user, "ipc.q.ps").await.subscribers > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "subscriptions outlived their processes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Backpressure on a full queue: refused at once, typed; a receiver without
    // the grant is refused.
    for _ in 0..4 {
        call(
            &mut user,
            Call::QueueSend(pb::QueueSend {
                name: "ipc.q.f".into(),
                data: vec![1],
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    }
    let full = peer(&mut user, &["queue-send", "ipc.q.f", "09"], send).await;
    let line = line_of(&mut user, full).await;
    assert!(
        line.starts_with("ERR") && line.contains("is full"),
        "{line}"
    );
    let st = call(
        &mut user,
        Call::QueueSend(pb::QueueSend {
            name: "ipc.q.f".into(),
            data: vec![1],
            ..Default::default()
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(st.code(), Code::ResourceExhausted);
    let denied = peer(&mut user, &["queue-recv", "ipc.q.f", "1"], send).await;
    let line = line_of(&mut user, denied).await;
    assert!(
        line.starts_with("ERR") && line.contains("ReceiveMessage"),
        "{line}"
    );
    assert_eq!(queue_stats(&mut user, "ipc.q.f").await.length, 4);
    // Larger than the stated maximum: refused clearly.
    let st = call(
        &mut user,
        Call::QueueSend(pb::QueueSend {
            name: "ipc.q.f".into(),
            data: vec![0; (64 << 10) + 1],
            ..Default::default()
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    assert!(error_of(&st).message.contains("at most 65536"), "{st:?}");
    // An empty queue's receive waits for the given time, then DEADLINE_EXCEEDED.
    let st = call(
        &mut user,
        Call::QueueReceive(pb::QueueReceive {
            name: "ipc.q.p".into(),
            wait_ms: 50,
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(st.code(), Code::DeadlineExceeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_the_users_clipboard() {
    let Some((_d, mut user)) = kernel("two_processes_share_the_users_clipboard").await else {
        return;
    };
    let (copy, paste) = (&["send:clipboard"][..], &["recv:clipboard"][..]);
    // A subscriber waits for the next copy; another process copies.
    let waiter = peer(&mut user, &["clip-next", "text/plain", "0"], paste).await;
    let copier = peer(&mut user, &["clip-copy", "text/plain", "6869"], copy).await;
    assert_eq!(line_of(&mut user, copier).await, "OK copied 1");
    assert_eq!(line_of(&mut user, waiter).await, "OK pasted 1 6869");
    // The user sees it with its formats; a second copy pushes it into history.
    call(
        &mut user,
        Call::ClipboardCopy(pb::ClipboardCopy {
            formats: vec![
                pb::ClipboardFormat {
                    mime: "text/plain".into(),
                    data: b"two".to_vec(),
                },
                pb::ClipboardFormat {
                    mime: "text/html".into(),
                    data: b"<i>two</i>".to_vec(),
                },
            ],
        }),
    )
    .await
    .unwrap();
    let html = peer(&mut user, &["clip-next", "text/html", "1"], paste).await;
    assert_eq!(
        line_of(&mut user, html).await,
        "OK pasted 2 3c693e74776f3c2f693e"
    );
    let Value::ClipboardHistory(h) = call(
        &mut user,
        Call::ClipboardHistory(pb::ClipboardHistory { limit: 0 }),
    )
    .await
    .unwrap() else {
        panic!("no history")
    };
    let seqs: Vec<_> = h.entries.iter().map(|e| (e.seq, e.source_pid)).collect();
    assert_eq!(seqs, [(2, 0), (1, copier)]);
    // Grants: a paste-only process may not copy.
    let denied = peer(&mut user, &["clip-copy", "text/plain", "00"], paste).await;
    let line = line_of(&mut user, denied).await;
    assert!(
        line.starts_with("ERR") && line.contains("SendMessage"),
        "{line}"
    );
    let st = call(
        &mut user,
        Call::ClipboardPaste(pb::ClipboardPaste {
            mime: "image/png".into(),
            back: 0,
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(st.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processes_kernel_fds_are_real_and_share_their_offset() {
    let Some((d, mut user)) =
        kernel("a_processes_kernel_fds_are_real_and_share_their_offset").await
    else {
        return;
    };
    call(
        &mut user,
        Call::Mkdir(pb::MakeDirectory {
            path: "/pub".into(),
            parents: false,
        }),
    )
    .await
    .unwrap();
    call(&mut user, crate::util::write("/pub/note", b"0123456789"))
        .await
        .unwrap();
    call(&mut user, crate::util::write("/secret", b"private"))
        .await
        .unwrap();
    let bin = peer_bin().display().to_string();
    let spec = |path: &str| pb::ProcessSpec {
        argv: vec![bin.clone(), "fd-read".into(), path.into()],
        read_paths: vec![bin.clone(), d.files().join("pub").display().to_string()],
        ..Default::default()
    };
    let p = crate::util::spawn(&mut user, spec("/pub/note")).await.pid;
    // Opened at 3, dup'ed to 4; the dup, sought to 2 by the kernel, reads "2345"
    // in the process, and the kernel then finds the first entry at 6.
    assert_eq!(
        line_of(&mut user, p).await,
        "OK fds 3 4 read 32333435 offset 6"
    );
    // Opening is checked like a read of the path.
    let p = crate::util::spawn(&mut user, spec("/secret")).await.pid;
    let line = line_of(&mut user, p).await;
    assert!(
        line.starts_with("ERR") && line.contains("ReadFile"),
        "{line}"
    );

    // The user's own table: dup2, fcntl, close.
    let open = call(
        &mut user,
        Call::FdOpen(pb::FdOpen {
            path: "/pub/note".into(),
            access: pb::FdAccess::Read as i32,
        }),
    )
    .await
    .unwrap();
    let Value::Count(n) = open else {
        panic!("{open:?}")
    };
    let n = n as u32;
    let dup2 = Call::FdDup2(pb::FdDup2 { fd: n, new_fd: 10 });
    assert_eq!(call(&mut user, dup2).await.unwrap(), Value::Count(10));
    let set = Call::FdFcntl(pb::FdFcntl {
        fd: 10,
        set_flags: Some(libc::O_NONBLOCK),
    });
    let Value::Count(flags) = call(&mut user, set).await.unwrap() else {
        panic!("no flags")
    };
    assert_ne!(flags as i32 & libc::O_NONBLOCK, 0);
    call(&mut user, Call::FdClose(pb::FdClose { fd: 10 }))
        .await
        .unwrap();
    let st = call(&mut user, Call::FdClose(pb::FdClose { fd: 10 }))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    // /tmp is in memory: no fd to give.
    call(&mut user, crate::util::write("/tmp/m", b"m"))
        .await
        .unwrap();
    let st = call(
        &mut user,
        Call::FdOpen(pb::FdOpen {
            path: "/tmp/m".into(),
            access: pb::FdAccess::Read as i32,
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(st.code(), Code::Unimplemented, "{:?}", error_of(&st));
}
