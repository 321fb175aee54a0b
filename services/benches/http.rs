//! The HTTP edge beside a bare axum handler, in the same run (issue 10's targets):
//!
//! * `health`: `GET /health` through every layer (trace, metrics, host guard,
//!   identify + rate limit, timeout) vs a bare axum handler answering a small JSON
//!   body (target: ≥ 0.8× the bare handler's requests/s);
//! * `launch`: `POST /api/registry/apps/calc/launch` (a registry read through the
//!   kernel's filesystem, the app table, focus) vs the same bare handler.
//!
//! Both servers run in this process on one multi-thread runtime; a kernel is started
//! from the `agentos-kernel` binary beside `agentos` (skipped, and said, when it is
//! not built). Clients are a few keep-alive connections sending one request at a
//! time; each request's latency is kept for p50/p99, and the contenders alternate
//! round by round so drift hits both alike. The rate limit is raised out of the
//! way (its bucket is still charged on every request).
//!
//! `cargo bench` (or `cargo xtask bench`) runs it in full; `cargo test` runs a few
//! requests of each as a smoke test.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use agentos_services::{
    auth::Auth,
    http::{self, AppState, EdgeConfig, RateLimit, Ui},
    kernel::KernelLink,
    metrics::Metrics,
};
use axum::{Json, Router, routing::get};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

/// Concurrent keep-alive connections per contender.
const CONNECTIONS: usize = 4;
/// Rounds the contenders alternate in.
const ROUNDS: usize = 5;

struct KernelGuard(Child);

impl Drop for KernelGuard {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

fn start_kernel(data: &Path) -> Option<KernelGuard> {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_agentos")).with_file_name("agentos-kernel");
    if !bin.is_file() {
        println!(
            "(no {}: build it to include the kernel; `launch` is skipped and /health degraded)",
            bin.display()
        );
        return None;
    }
    let child = Command::new(bin)
        .arg("--data-dir")
        .arg(data)
        .arg("--no-ebpf")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn agentos-kernel");
    let guard = KernelGuard(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !data.join("kernel.sock").exists() {
        assert!(Instant::now() < deadline, "the kernel did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(guard)
}

/// One keep-alive HTTP/1.1 connection that sends a request and reads the answer.
struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Self {
        let s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Self {
            stream: BufReader::new(s),
        }
    }

    /// Sends `req` and returns the status, having read the whole body.
    async fn send(&mut self, req: &[u8]) -> u16 {
        self.stream.get_mut().write_all(req).await.expect("send");
        let mut line = String::new();
        self.stream.read_line(&mut line).await.expect("status line");
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l
                .split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.trim())
            {
                length = v.parse().expect("content-length");
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await.expect("body");
        status
    }
}

/// Sends `n` requests over [`CONNECTIONS`] connections; latencies and the wall time.
async fn load(
    addr: SocketAddr,
    req: Arc<Vec<u8>>,
    n: usize,
    want: u16,
) -> (Vec<Duration>, Duration) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let req = Arc::clone(&req);
            tokio::spawn(async move {
                let mut c = Conn::open(addr).await;
                let mut lat = Vec::with_capacity(n / CONNECTIONS);
                for _ in 0..n / CONNECTIONS {
                    let t = Instant::now();
                    let status = c.send(&req).await;
                    lat.push(t.elapsed());
                    assert_eq!(status, want, "{}", String::from_utf8_lossy(&req));
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    (all, started.elapsed())
}

struct Stats {
    requests: usize,
    wall: Duration,
    lat: Vec<Duration>,
}

impl Stats {
    fn new() -> Self {
        Self {
            requests: 0,
            wall: Duration::ZERO,
            lat: Vec::new(),
        }
    }
    fn add(&mut self, (lat, wall): (Vec<Duration>, Duration)) {
        self.requests += lat.len();
        self.wall += wall;
        self.lat.extend(lat);
    }
    fn rate(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64()
    }
    fn pct(&mut self, p: f64) -> Duration {
        self.lat.sort_unstable();
        let i = ((self.lat.len() as f64 * p) as usize).min(self.lat.len().saturating_sub(1));
        self.lat.get(i).copied().unwrap_or_default()
    }
    fn line(&mut self) -> String {
        format!(
            "{:>8.0} req/s  p50 {:>7.1?}  p99 {:>7.1?}",
            self.rate(),
            self.pct(0.50),
            self.pct(0.99)
        )
    }
}

fn request(method: &str, path: &str, addr: SocketAddr, token: &str) -> Arc<Vec<u8>> {
    Arc::new(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {token}\r\n\
             Content-Length: 0\r\n\r\n",
            addr.port()
        )
        .into_bytes(),
    )
}

/// Compares `ours` with the bare handler, alternating rounds.
async fn compare(
    name: &str,
    target: Option<f64>,
    ours: (SocketAddr, Arc<Vec<u8>>, u16),
    bare: (SocketAddr, Arc<Vec<u8>>),
    n: usize,
) {
    let (mut a, mut b) = (Stats::new(), Stats::new());
    for _ in 0..ROUNDS {
        b.add(load(bare.0, Arc::clone(&bare.1), n / ROUNDS, 200).await);
        a.add(load(ours.0, Arc::clone(&ours.1), n / ROUNDS, ours.2).await);
    }
    let ratio = a.rate() / b.rate();
    println!("http/{name:<7} agentos {}", a.line());
    println!("http/{name:<7} bare    {}", b.line());
    match target {
        // Debug builds under `cargo test` say nothing about the release target.
        Some(_) if cfg!(debug_assertions) => {
            println!(
                "http/{name:<7} ratio {ratio:.2}× the bare handler (a debug smoke run: no target)"
            )
        }
        Some(t) => println!(
            "http/{name:<7} ratio {ratio:.2}× the bare handler (target ≥ {t}×){}",
            if ratio >= t { "" } else { "  BELOW TARGET" }
        ),
        None => println!("http/{name:<7} ratio {ratio:.2}× the bare handler"),
    }
}

fn main() {
    // `cargo bench` passes --bench; under `cargo test` this is a smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 20_000 } else { 200 };
    let tmp = tempfile::Builder::new()
        .prefix("agentos-test-bench-http-")
        .tempdir()
        .expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let kernel = start_kernel(&data);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let bare_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let bare_addr = bare_listener.local_addr().expect("addr");
        let bare = Router::new().route(
            "/health",
            get(|| async { Json(serde_json::json!({"status": "ok", "version": "0.1.0"})) }),
        );
        tokio::spawn(async move { axum::serve(bare_listener, bare).await });

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let config = EdgeConfig {
            rate_limit: RateLimit {
                burst: u32::MAX,
                per_second: 1e9,
            },
            ..EdgeConfig::new(addr.port())
        };
        let metrics = Arc::new(Metrics::default());
        let link = KernelLink::new(agentos_client::socket_path(&data)).with_metrics(Arc::clone(&metrics));
        let auth = Auth::open(&data).expect("auth");
        let state = AppState::new(link, auth, metrics, config);
        let app = http::router(state, &Ui::detect(None));
        tokio::spawn(http::serve(listener, app, std::future::pending(), Duration::ZERO));
        let token = std::fs::read_to_string(data.join("api.token"))
            .expect("api.token")
            .trim()
            .to_owned();

        let bare_req = request("GET", "/health", bare_addr, "x");
        compare(
            "health",
            Some(0.8),
            (addr, request("GET", "/health", addr, &token), 200),
            (bare_addr, Arc::clone(&bare_req)),
            n,
        )
        .await;

        if kernel.is_some() {
            let bp = serde_json::json!({"blueprint": {
                "spec": "1.0",
                "app": {"id": "calc", "name": "Calculator", "version": "1.0.0"},
                "ui": {"title": "Calculator", "components": [{"type": "text", "id": "d", "props": {"text": "0"}}]}
            }})
            .to_string();
            let save = format!(
                "POST /api/registry/save HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{bp}",
                addr.port(),
                bp.len()
            );
            assert_eq!(Conn::open(addr).await.send(save.as_bytes()).await, 201);
            // Launches pile up in the app table; fewer of them keep focus's scan short.
            compare(
                "launch",
                None,
                (addr, request("POST", "/api/registry/apps/calc/launch", addr, &token), 201),
                (bare_addr, bare_req),
                n / 4,
            )
            .await;
        }
    });
    drop(kernel);
}
