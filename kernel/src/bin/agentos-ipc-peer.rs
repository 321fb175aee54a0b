//! `agentos-ipc-peer`: a managed process's side of the IPC tests
//! (`tests/it/ipc.rs`). It talks to the kernel on its own socket
//! (`$AGENTOS_KERNEL_SOCKET`), receives pipe ends and shared-memory segments as
//! fds there, and moves bytes through them itself.
//!
//! Every subcommand prints one line: `OK <detail>`, or `ERR <what failed>` (and
//! exits 1). Payloads are either hex (`HEX`) or a pattern of `LEN` bytes from
//! `SEED` (byte `i` is `(i * 31 + SEED) % 251`), which the reading side checks
//! byte by byte.
//!
//! * `pipe-write NAME HEX` / `pipe-write NAME LEN SEED`: open the write end, write.
//! * `pipe-read NAME LEN [SEED]`: open the read end, read `LEN` bytes (or to end of
//!   file); print them as hex, or check them against the pattern.
//! * `shm-put NAME LEN SEED`: attach writable, map, write the pattern at offset 8,
//!   then publish `LEN` in the first 8 bytes.
//! * `shm-get NAME`: attach read-only, map, wait for the length, check the pattern
//!   (seed in the 9th byte: the pattern's byte 0 is the seed itself).
//! * `shm-map-writable NAME`: attach read-only and try to map it writable.
//! * `mmap-put PATH OFFSET HEX`: map the VFS file writable, store the bytes at
//!   `OFFSET`, msync, munmap.
//! * `mmap-get PATH OFFSET LEN`: map it read-only, print `LEN` bytes at `OFFSET`.
//! * `mmap-map-writable PATH`: take a read-only descriptor of it and try to map
//!   it writable and shared.
//! * `ring-send NAME COUNT SIZE`: attach writable, take the producer's side of
//!   the ring in the segment (`agentos_client::ring`), send `COUNT` messages of
//!   `SIZE` pattern bytes (each stamped with its number in its first 8 bytes).
//! * `ring-recv NAME COUNT SIZE`: the consumer's side: receive and check them. If
//!   the ring fails, say how and prove the process is still up (a kernel call).
//! * `ring-scribble NAME GOOD head|len`: send `GOOD` messages, wait until they
//!   are received, then corrupt the ring as a hostile producer: a head sixteen
//!   rings ahead, or a record longer than the ring.
//! * `sock-serve PORT`: a TCP socket through the kernel (made in this process's
//!   network namespace), bound to `0.0.0.0:PORT`, listening (prints `LISTENING`);
//!   accept one connection, receive, answer `pong ` and what came, exit.
//! * `sock-connect ADDR HEX`: connect to `ADDR` through the kernel, send the
//!   bytes, print the reply, exit.
//!
//! The socket subcommands close nothing: the kernel releases a process's
//! descriptor table (and so its network namespace) when it reaps the exit.
//! * `sock-bind PORT`: bind a TCP socket to `127.0.0.1:PORT` through the kernel.
//! * `queue-send NAME HEX[,HEX…] [PRIO]`: send each message, waiting up to 2 s
//!   for room.
//! * `queue-recv NAME COUNT [sub]`: (subscribe, then) receive `COUNT` messages,
//!   waiting up to 20 s for each; print them as hex, comma-separated.
//! * `clip-copy MIME HEX`: copy one format to the clipboard (NAME is the MIME).
//! * `clip-next MIME AFTER`: wait for the first copy after sequence `AFTER`,
//!   print that format as hex.
//! * `fd-read PATH`: open PATH in its kernel descriptor table, seek the entry to
//!   2 and dup it (both through the kernel), take the dup as a real fd, read 4
//!   bytes from it, and ask the kernel for the first entry's offset (shared: 6).
//! * `create NAME SIZE`: create a pipe and a segment of `SIZE` bytes named `NAME`
//!   and a TCP socket in its kernel descriptor table (made in its network
//!   namespace), then exit without closing anything (the kernel must release all
//!   three when it reaps the exit).
//! * `pump-write NAME BYTES` / `pump-read NAME BYTES`: the pipe benchmark's
//!   writer and reader (see [`pump`]); `-` for stdout/stdin instead of a kernel
//!   pipe.
//! * `tcp-ping ADDR COUNT`: the NAT benchmark's client, `udp-ping ADDR COUNT` the
//!   UDP relay benchmark's, `tcp-pull ADDR BYTES` the relay's throughput benchmark's,
//!   and `tcp-echo PORT` the port-forward benchmark's server (see [`tcp_ping`]).

use std::{
    os::fd::OwnedFd,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use agentos_client::{
    Client, mapping::Mapping, pb, pb::syscall::Call, pb::syscall_result::Value, ring,
};

#[path = "ipc-peer/pump.rs"]
mod pump;
#[path = "ipc-peer/tcp_ping.rs"]
mod tcp_ping;

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    (0..len as u64)
        .map(|i| ((i * 31 + seed) % 251) as u8)
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad hex {s:?}"))
        })
        .collect()
}

/// The first byte where `got` departs from the pattern, if any.
fn mismatch(got: &[u8], seed: u64) -> Option<usize> {
    let want = pattern(got.len(), seed);
    got.iter().zip(&want).position(|(a, b)| a != b)
}

fn num<T: std::str::FromStr>(s: Option<&String>, what: &str) -> Result<T, String> {
    s.and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{what}: a number"))
}

/// How long a ring side waits for its peer per message.
const RING_WAIT: Duration = Duration::from_secs(30);

/// Puts message number `i` in the first 8 bytes of `msg` (if it has them).
fn stamp(msg: &mut [u8], i: u64) {
    if let Some(head) = msg.get_mut(..8) {
        head.copy_from_slice(&i.to_le_bytes());
    }
}

/// A socket call; a failure names the kernel's error code.
async fn sock(k: &mut Client, call: Call) -> Result<Value, String> {
    k.call(call)
        .await
        .map_err(|e| format!("{e} ({:?})", e.code()))
}

/// A new TCP socket in this process's network namespace (its table's number).
async fn socket(k: &mut Client) -> Result<u32, String> {
    let create = Call::Socket(pb::SocketCreate {
        r#type: pb::SocketType::Stream as i32,
        ipv6: false,
    });
    match sock(k, create).await? {
        Value::Count(n) => Ok(n as u32),
        other => Err(format!("not a descriptor: {other:?}")),
    }
}

async fn ticket(k: &mut Client, call: Call) -> Result<OwnedFd, String> {
    match k.call(call).await.map_err(|e| format!("{e}"))? {
        Value::FdTicket(t) => k.claim_fd(&t).await.map_err(|e| format!("claim: {e}")),
        other => Err(format!("not a ticket: {other:?}")),
    }
}

/// A call whose result is a count (an fd number, an offset).
async fn count(k: &mut Client, call: Call) -> Result<u32, String> {
    match k.call(call).await {
        Ok(Value::Count(n)) => Ok(n as u32),
        Ok(other) => Err(format!("not a count: {other:?}")),
        Err(e) => Err(format!("{e}")),
    }
}

async fn pipe_end(k: &mut Client, name: &str, end: pb::PipeEnd) -> Result<std::fs::File, String> {
    let fd = ticket(
        k,
        Call::PipeOpen(pb::PipeOpen {
            name: name.into(),
            end: end as i32,
        }),
    )
    .await?;
    Ok(std::fs::File::from(fd))
}

/// Attaches `name` (writable or not) and maps all of it (`map_writable` or not).
async fn segment(
    k: &mut Client,
    name: &str,
    writable: bool,
    map_writable: bool,
) -> Result<Mapping, String> {
    let size = match k
        .call(Call::ShmStats(pb::ShmStats { name: name.into() }))
        .await
        .map_err(|e| format!("{e}"))?
    {
        Value::Shm(s) => s.size as usize,
        other => return Err(format!("not shm stats: {other:?}")),
    };
    let fd = ticket(
        k,
        Call::ShmAttach(pb::ShmAttach {
            name: name.into(),
            writable,
        }),
    )
    .await?;
    Mapping::new(&fd, size, map_writable).map_err(|e| format!("mmap: {e}"))
}

async fn run(args: &[String]) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut k = Client::connect_env()
        .await
        .map_err(|e| format!("connect: {e}: {:?}", std::error::Error::source(&e)))?;
    let name = args.get(1).ok_or("a name")?.as_str();
    match args[0].as_str() {
        "pipe-write" => {
            let data = match args.get(3) {
                Some(seed) => pattern(num(args.get(2), "LEN")?, num(Some(seed), "SEED")?),
                None => unhex(args.get(2).ok_or("HEX")?)?,
            };
            let mut w = pipe_end(&mut k, name, pb::PipeEnd::Write).await?;
            w.write_all(&data).map_err(|e| format!("write: {e}"))?;
            Ok(format!("wrote {}", data.len()))
        }
        "pipe-read" => {
            let len: usize = num(args.get(2), "LEN")?;
            let r = pipe_end(&mut k, name, pb::PipeEnd::Read).await?;
            let mut got = Vec::with_capacity(len);
            r.take(len as u64)
                .read_to_end(&mut got)
                .map_err(|e| format!("read: {e}"))?;
            match args.get(3) {
                None => Ok(format!("read {} {}", got.len(), hex(&got))),
                Some(seed) => match mismatch(&got, num(Some(seed), "SEED")?) {
                    None => Ok(format!("read {} intact", got.len())),
                    Some(i) => Err(format!("byte {i} of {} differs", got.len())),
                },
            }
        }
        "shm-put" => {
            let (len, seed): (usize, u64) = (num(args.get(2), "LEN")?, num(args.get(3), "SEED")?);
            let map = segment(&mut k, name, true, true).await?;
            map.write(8, &pattern(len, seed))
                .map_err(|e| format!("{len} bytes: {e}"))?;
            // SAFETY: the first 8 bytes of a live, page-aligned mapping, only
            // touched atomically.
            let header = unsafe { &*map.as_ptr().as_ptr().cast::<AtomicU64>() };
            header.store(len as u64, Ordering::Release);
            Ok(format!("put {len}"))
        }
        "shm-get" => {
            let map = segment(&mut k, name, false, false).await?;
            let size = map.len();
            let deadline = Instant::now() + Duration::from_secs(30);
            // SAFETY: the header of a live, page-aligned mapping, read atomically.
            let header = unsafe { &*map.as_ptr().as_ptr().cast::<AtomicU64>() };
            let len = loop {
                match header.load(Ordering::Acquire) as usize {
                    0 if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    0 => return Err("nothing published within 30 s".into()),
                    n if n + 8 > size => return Err(format!("a length of {n}")),
                    n => break n,
                }
            };
            let mut got = vec![0; len];
            map.read_into(8, &mut got).map_err(|e| format!("{e}"))?;
            let seed = u64::from(got.first().copied().unwrap_or(0));
            match mismatch(&got, seed) {
                None => Ok(format!("got {len} intact")),
                Some(i) => Err(format!("byte {i} of {len} differs")),
            }
        }
        "queue-send" => {
            let priority: i32 = args.get(3).map_or(Ok(0), |p| num(Some(p), "PRIO"))?;
            let msgs = args.get(2).ok_or("HEX")?.split(',');
            let mut n = 0;
            for m in msgs {
                let send = pb::QueueSend {
                    name: name.into(),
                    data: unhex(m)?,
                    priority,
                    wait_ms: 2_000,
                };
                k.call(Call::QueueSend(send))
                    .await
                    .map_err(|e| format!("{e}"))?;
                n += 1;
            }
            Ok(format!("sent {n}"))
        }
        "queue-recv" => {
            let count: usize = num(args.get(2), "COUNT")?;
            if args.get(3).is_some_and(|a| a == "sub") {
                let sub = pb::QueueSubscribe { name: name.into() };
                k.call(Call::QueueSubscribe(sub))
                    .await
                    .map_err(|e| format!("{e}"))?;
            }
            let mut got = vec![];
            for _ in 0..count {
                let recv = pb::QueueReceive {
                    name: name.into(),
                    wait_ms: 20_000,
                };
                match k.call(Call::QueueReceive(recv)).await {
                    Ok(Value::QueueMessage(m)) => got.push(hex(&m.data)),
                    Ok(other) => return Err(format!("not a message: {other:?}")),
                    Err(e) => return Err(format!("{e}")),
                }
            }
            Ok(format!("received {}", got.join(",")))
        }
        "clip-copy" => {
            let copy = pb::ClipboardCopy {
                formats: vec![pb::ClipboardFormat {
                    mime: name.into(),
                    data: unhex(args.get(2).ok_or("HEX")?)?,
                }],
            };
            match k.call(Call::ClipboardCopy(copy)).await {
                Ok(Value::Count(seq)) => Ok(format!("copied {seq}")),
                Ok(other) => Err(format!("not a count: {other:?}")),
                Err(e) => Err(format!("{e}")),
            }
        }
        "clip-next" => {
            let next = pb::ClipboardSubscribe {
                after_seq: num(args.get(2), "AFTER")?,
                wait_ms: 20_000,
                mime: name.into(),
            };
            match k.call(Call::ClipboardSubscribe(next)).await {
                Ok(Value::ClipboardEntry(e)) => Ok(format!(
                    "pasted {} {}",
                    e.seq,
                    e.formats.first().map(|f| hex(&f.data)).unwrap_or_default()
                )),
                Ok(other) => Err(format!("not an entry: {other:?}")),
                Err(e) => Err(format!("{e}")),
            }
        }
        "fd-read" => {
            let n = count(
                &mut k,
                Call::FdOpen(pb::FdOpen {
                    path: name.into(),
                    access: pb::FdAccess::Read as i32,
                }),
            )
            .await?;
            let seek = |offset, whence| {
                Call::FdLseek(pb::FdLseek {
                    fd: n,
                    offset,
                    whence,
                })
            };
            count(&mut k, seek(2, libc::SEEK_SET)).await?;
            let m = count(&mut k, Call::FdDup(pb::FdDup { fd: n })).await?;
            let fd = ticket(&mut k, Call::FdHandOver(pb::FdHandOver { fd: m })).await?;
            let mut buf = [0u8; 4];
            std::fs::File::from(fd)
                .read_exact(&mut buf)
                .map_err(|e| format!("read: {e}"))?;
            let at = count(&mut k, seek(0, libc::SEEK_CUR)).await?;
            Ok(format!("fds {n} {m} read {} offset {at}", hex(&buf)))
        }
        "create" => {
            let size: u64 = num(args.get(2), "SIZE")?;
            for c in [
                Call::PipeCreate(pb::PipeCreate {
                    name: name.into(),
                    capacity: 0,
                }),
                Call::ShmCreate(pb::ShmCreate {
                    name: name.into(),
                    size,
                }),
            ] {
                k.call(c).await.map_err(|e| format!("{e}"))?;
            }
            socket(&mut k).await?;
            Ok(format!("created {name}"))
        }
        "mmap-put" => {
            let (at, data): (usize, _) = (
                num(args.get(2), "OFFSET")?,
                unhex(args.get(3).ok_or("HEX")?)?,
            );
            let map = k.map_file(name, true).await.map_err(|e| format!("{e}"))?;
            map.write(at, &data).map_err(|e| format!("write: {e}"))?;
            map.sync().map_err(|e| format!("msync: {e}"))?;
            drop(map);
            Ok(format!("mapped {name} wrote {} at {at}", data.len()))
        }
        "mmap-get" => {
            let (at, len): (usize, usize) = (num(args.get(2), "OFFSET")?, num(args.get(3), "LEN")?);
            let map = k.map_file(name, false).await.map_err(|e| format!("{e}"))?;
            let mut got = vec![0; len];
            map.read_into(at, &mut got)
                .map_err(|e| format!("read: {e}"))?;
            Ok(format!("mapped {name} of {} read {}", map.len(), hex(&got)))
        }
        "mmap-map-writable" => {
            let fd = k
                .open_mappable(name, false)
                .await
                .map_err(|e| format!("{e}"))?;
            match Mapping::new(&fd, 4096, true) {
                Ok(_) => Err("a read-only descriptor was mapped writable".into()),
                Err(e) => Ok(format!("refused mmap: {e}")),
            }
        }
        "ring-send" => {
            let (count, size): (u64, usize) =
                (num(args.get(2), "COUNT")?, num(args.get(3), "SIZE")?);
            let mut tx = ring::Producer::attach(segment(&mut k, name, true, true).await?)
                .map_err(|e| format!("{e}"))?;
            let mut msg = pattern(size, 0);
            for i in 0..count {
                stamp(&mut msg, i);
                tx.send(&msg, RING_WAIT)
                    .map_err(|e| format!("message {i}: {e}"))?;
            }
            Ok(format!("sent {count} wakes {}", tx.wakes()))
        }
        "ring-recv" => {
            let (count, size): (u64, usize) =
                (num(args.get(2), "COUNT")?, num(args.get(3), "SIZE")?);
            let mut rx = ring::Consumer::attach(segment(&mut k, name, true, true).await?)
                .map_err(|e| format!("{e}"))?;
            let (mut want, mut got) = (pattern(size, 0), Vec::new());
            for i in 0..count {
                if let Err(e) = rx.recv(&mut got, RING_WAIT) {
                    // The ring is lost, this process is not: it still talks to
                    // its kernel.
                    let stats = Call::ShmStats(pb::ShmStats { name: name.into() });
                    let alive = k
                        .call(stats)
                        .await
                        .map_err(|e| format!("after the ring: {e}"))?;
                    let Value::Shm(s) = alive else {
                        return Err("not shm stats".into());
                    };
                    return Err(format!(
                        "ring after {i} messages: {e}; still up (segment of {})",
                        s.size
                    ));
                }
                stamp(&mut want, i);
                if got != want {
                    return Err(format!("message {i} differs"));
                }
            }
            Ok(format!("received {count} intact wakes {}", rx.wakes()))
        }
        "ring-scribble" => {
            let (good, how): (u64, _) = (num(args.get(2), "GOOD")?, args.get(3).ok_or("head|len")?);
            let mut tx = ring::Producer::attach(segment(&mut k, name, true, true).await?)
                .map_err(|e| format!("{e}"))?;
            let mut msg = pattern(64, 0);
            for i in 0..good {
                stamp(&mut msg, i);
                tx.send(&msg, RING_WAIT)
                    .map_err(|e| format!("message {i}: {e}"))?;
            }
            // Once the consumer has them all, so that it is the corruption it meets.
            tx.drain(RING_WAIT).map_err(|e| format!("drain: {e}"))?;
            let (at, capacity) = (tx.position(), tx.capacity() as u64);
            let map = tx.into_mapping();
            let put =
                |offset: usize, bytes: &[u8]| map.write(offset, bytes).map_err(|e| format!("{e}"));
            match how.as_str() {
                // A head sixteen rings ahead.
                "head" => put(ring::HEAD_AT, &(at + 16 * capacity).to_le_bytes())?,
                // A record longer than the ring, published with a sound head.
                "len" => {
                    put(
                        ring::HEADER + (at % capacity) as usize,
                        &0x7fff_fff0u32.to_le_bytes(),
                    )?;
                    put(ring::HEAD_AT, &(at + 8).to_le_bytes())?;
                }
                other => return Err(format!("scribble {other}: head or len")),
            }
            Ok(format!("scribbled {how} after {good}"))
        }
        "sock-serve" => {
            // NAME is the port.
            let fd = socket(&mut k).await?;
            let bind = Call::Bind(pb::SocketBind {
                fd,
                addr: format!("0.0.0.0:{name}"),
            });
            sock(&mut k, bind).await?;
            sock(&mut k, Call::Listen(pb::SocketListen { fd, backlog: 0 })).await?;
            println!("LISTENING");
            let accept = Call::Accept(pb::SocketAccept {
                fd,
                wait_ms: 30_000,
            });
            let Value::SocketPeer(peer) = sock(&mut k, accept).await? else {
                return Err("not a peer".into());
            };
            let recv = Call::Recv(pb::SocketRecv {
                fd: peer.fd,
                max: 0,
                wait_ms: 10_000,
            });
            let Value::Data(got) = sock(&mut k, recv).await? else {
                return Err("not data".into());
            };
            let send = Call::Send(pb::SocketSend {
                fd: peer.fd,
                data: [b"pong ", &got[..]].concat(),
                wait_ms: 10_000,
            });
            sock(&mut k, send).await?;
            // Both descriptors go when the kernel reaps this process.
            Ok(format!("served {} {}", peer.addr, hex(&got)))
        }
        "sock-connect" => {
            // NAME is the address.
            let fd = socket(&mut k).await?;
            let connect = Call::Connect(pb::SocketConnect {
                fd,
                addr: name.into(),
                wait_ms: 10_000,
            });
            sock(&mut k, connect).await?;
            let data = unhex(args.get(2).ok_or("HEX")?)?;
            let send = Call::Send(pb::SocketSend {
                fd,
                data,
                wait_ms: 10_000,
            });
            sock(&mut k, send).await?;
            let recv = Call::Recv(pb::SocketRecv {
                fd,
                max: 0,
                wait_ms: 10_000,
            });
            let Value::Data(got) = sock(&mut k, recv).await? else {
                return Err("not data".into());
            };
            Ok(format!("reply {}", String::from_utf8_lossy(&got)))
        }
        "sock-bind" => {
            let fd = socket(&mut k).await?;
            let bind = Call::Bind(pb::SocketBind {
                fd,
                addr: format!("127.0.0.1:{name}"),
            });
            match sock(&mut k, bind).await? {
                Value::Count(port) => Ok(format!("bound {port}")),
                other => Err(format!("not a port: {other:?}")),
            }
        }
        "shm-map-writable" => match segment(&mut k, name, false, true).await {
            Ok(_) => Err("a read-only attach was mapped writable".into()),
            Err(e) => Ok(format!("refused {e}")),
        },
        other => Err(format!("unknown subcommand {other}")),
    }
}

#[tokio::main(flavor = "current_thread")]
pub(crate) async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        println!("ERR usage: agentos-ipc-peer SUBCOMMAND NAME [ARGS]");
        std::process::exit(2);
    }
    let done = match pump::command(&args).await {
        Some(done) => done,
        None => match tcp_ping::command(&args) {
            Some(done) => done,
            None => run(&args).await,
        },
    };
    match done {
        Ok(detail) => println!("OK {detail}"),
        Err(e) => {
            println!("ERR {e}");
            std::process::exit(1);
        }
    }
}
