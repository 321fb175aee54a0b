//! The kernel's Prometheus endpoint (`--metrics 127.0.0.1:PORT`, path `/metrics`):
//! a minimal HTTP/1.1 responder on a loopback TCP listener, one request per
//! connection, no request body read. Nothing is left on the host.

use std::{net::SocketAddr, sync::Weak};

use anyhow::{Context as _, bail};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

use crate::kernel::Kernel;

/// The largest request head read.
const MAX_HEAD: usize = 8 << 10;

/// Binds `addr` (loopback only).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    if !addr.ip().is_loopback() {
        bail!("--metrics {addr}: only loopback addresses are allowed");
    }
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("--metrics: binding {addr}"))
}

/// Answers `GET /metrics` until the kernel is gone.
pub async fn serve(listener: TcpListener, kernel: Weak<Kernel>) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let kernel = kernel.clone();
        tokio::spawn(async move {
            let mut head = vec![0u8; MAX_HEAD];
            let mut n = 0;
            while n < head.len() && !head[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut head[n..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(m) => n += m,
                }
            }
            let line = String::from_utf8_lossy(&head[..n]);
            let path = line.split_whitespace().nth(1).unwrap_or("");
            let (status, body) = match (kernel.upgrade(), path) {
                (Some(k), "/metrics") => ("200 OK", k.prometheus()),
                (None, _) => ("503 Service Unavailable", "the kernel stopped\n".into()),
                _ => ("404 Not Found", "only /metrics is served here\n".into()),
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(resp.as_bytes()).await;
        });
    }
}
