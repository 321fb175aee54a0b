//! The shared-memory ring (`agentos_client::ring`) between two managed
//! processes: bytes cross through the segment, not the daemon (its own CPU and
//! RSS, from `/proc/PID/stat`, barely move while 256 MiB go by), and a hostile
//! peer that corrupts the ring gets its honest peer a typed error, not a crash.

use agentos_client::{Client, mapping::Mapping, ring};
use agentos_proto::v1::{self as pb, syscall::Call, syscall_result::Value};

use crate::{
    ipc::{kernel, line_of, peer},
    util::{call, collect},
};

/// A segment of `size` bytes named `name` holding a fresh ring, made by the user.
async fn ring_segment(user: &mut Client, name: &str, size: u64) {
    let create = Call::ShmCreate(pb::ShmCreate {
        name: name.into(),
        size,
    });
    call(user, create).await.unwrap();
    let attach = Call::ShmAttach(pb::ShmAttach {
        name: name.into(),
        writable: true,
    });
    let Value::FdTicket(t) = call(user, attach).await.unwrap() else {
        panic!("no ticket")
    };
    let fd = user.claim_fd(&t).await.unwrap();
    let map = Mapping::new(&fd, size as usize, true).unwrap();
    ring::init(&map).unwrap();
}

/// (utime + stime in clock ticks, RSS in bytes) of `pid`, from `/proc/PID/stat`.
fn cpu_and_rss(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command (which may hold spaces), from field 3 on.
    let f: Vec<u64> = stat[stat.rfind(')').unwrap() + 2..]
        .split(' ')
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    (f[11] + f[12], f[21] * page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_stream_through_the_ring_without_the_daemon_carrying_it() {
    let Some((d, mut user)) =
        kernel("two_processes_stream_through_the_ring_without_the_daemon_carrying_it").await
    else {
        return;
    };
    // A 1 MiB ring; 4096 messages of 64 KiB: 256 MiB through it.
    let (count, size) = ("4096", "65536");
    ring_segment(&mut user, "ring.big", (1 << 20) + ring::HEADER as u64).await;
    let grants = ["send:ring.big", "recv:ring.big"];
    let (cpu0, rss0) = cpu_and_rss(d.pid());
    let rx = peer(&mut user, &["ring-recv", "ring.big", count, size], &grants).await;
    let tx = peer(&mut user, &["ring-send", "ring.big", count, size], &grants).await;
    let sent = line_of(&mut user, tx).await;
    let received = line_of(&mut user, rx).await;
    let (cpu1, rss1) = cpu_and_rss(d.pid());
    assert!(sent.starts_with("OK sent 4096"), "{sent}");
    assert!(
        received.starts_with("OK received 4096 intact"),
        "{received}"
    );
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    eprintln!(
        "daemon during 256 MiB through the ring: CPU {} ms (utime+stime), RSS {} -> {} KiB; \
         {sent}; {received}",
        (cpu1 - cpu0) * 1000 / hz,
        rss0 >> 10,
        rss1 >> 10
    );
    // Carrying 256 MiB would take the daemon at least a copy of each chunk;
    // its resident memory grows by far less than the ring itself.
    assert!(
        rss1.saturating_sub(rss0) < 16 << 20,
        "daemon RSS {rss0} -> {rss1}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_corrupting_the_ring_gets_the_other_side_a_typed_error_not_a_crash() {
    let Some((_d, mut user)) =
        kernel("a_peer_corrupting_the_ring_gets_the_other_side_a_typed_error_not_a_crash").await
    else {
        return;
    };
    for how in ["head", "len"] {
        let name = format!("ring.bad-{how}");
        ring_segment(&mut user, &name, 4096 + ring::HEADER as u64).await;
        let grants = [format!("send:{name}"), format!("recv:{name}")];
        let grants: Vec<&str> = grants.iter().map(String::as_str).collect();
        let rx = peer(&mut user, &["ring-recv", &name, "10", "64"], &grants).await;
        let bad = peer(&mut user, &["ring-scribble", &name, "3", how], &grants).await;
        assert_eq!(
            line_of(&mut user, bad).await,
            format!("OK scribbled {how} after 3")
        );
        let (out, err, exit) = collect(&mut user, rx).await;
        let line = out.trim();
        assert!(
            line.starts_with("ERR ring after 3 messages: the peer corrupted the ring")
                && line.ends_with(&format!("still up (segment of {})", 4096 + ring::HEADER)),
            "{how}: {line} {err}"
        );
        // It ended by itself, with its error, not by a signal.
        assert_eq!((exit.code, exit.signal), (Some(1), None), "{how}: {exit:?}");
    }
}
