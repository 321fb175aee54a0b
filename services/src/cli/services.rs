//! Reaching a running `agentos up` from the command line: its URL from
//! `DATA_DIR/services.url`, the API token from `DATA_DIR/api.token`, and a small
//! HTTP/1.1 GET over a fresh loopback connection (the CLI needs no more than that,
//! so no HTTP client crate).

use std::path::Path;

use anyhow::{Context as _, bail};
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Exit code when no `agentos up` runs on the data directory.
pub const NOT_UP: u8 = 2;

/// A running `agentos up`.
pub struct Services {
    /// `127.0.0.1:PORT`
    host: String,
    token: String,
}

/// Why the services could not be asked.
pub enum Reach {
    /// Nothing runs on the data directory: say so, exit [`NOT_UP`].
    NotUp(String),
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Reach {
    fn from(e: anyhow::Error) -> Self {
        Self::Failed(e)
    }
}

impl Services {
    /// The `agentos up` serving `data_dir`, or why there is none.
    pub fn locate(command: &str, data_dir: &Path) -> Result<Self, Reach> {
        let not_up = || {
            Reach::NotUp(format!(
                "agentos {command}: AgentOS is not up on {} (start it with `agentos up --data-dir {0}`)",
                data_dir.display()
            ))
        };
        let url = std::fs::read_to_string(data_dir.join(agentos_services::SERVICES_URL_FILE))
            .map_err(|_| not_up())?;
        let host = url
            .trim()
            .strip_prefix("http://")
            .context("services.url does not hold an http:// URL")?
            .trim_end_matches('/')
            .to_owned();
        let token = std::fs::read_to_string(data_dir.join(agentos_services::auth::API_TOKEN_FILE))
            .context("reading the API token")?
            .trim()
            .to_owned();
        Ok(Self { host, token })
    }

    /// `GET path` as JSON; an error with the API's message on a non-2xx answer.
    pub async fn get(&self, path: &str) -> Result<Value, Reach> {
        let mut s = match TcpStream::connect(&self.host).await {
            Ok(s) => s,
            Err(e) => {
                return Err(Reach::NotUp(format!(
                    "AgentOS is not answering on {} ({e}); is `agentos up` running?",
                    self.host
                )));
            }
        };
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            self.host, self.token
        );
        s.write_all(req.as_bytes()).await.context("sending")?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)
            .await
            .context("reading the answer")?;
        let (status, body) = parse_response(&raw)?;
        let json: Value = serde_json::from_slice(&body)
            .with_context(|| format!("GET {path}: the answer ({status}) is not JSON"))?;
        if !(200..300).contains(&status) {
            let msg = json["error"]["message"].as_str().unwrap_or("(no message)");
            return Err(Reach::Failed(anyhow::anyhow!("{msg} (HTTP {status})")));
        }
        Ok(json)
    }
}

/// Prints why the services could not be asked (no `agentos up`: exit [`NOT_UP`]),
/// or passes the error on.
pub fn report(e: Reach) -> anyhow::Result<u8> {
    match e {
        Reach::NotUp(msg) => {
            eprintln!("{msg}");
            Ok(NOT_UP)
        }
        Reach::Failed(e) => Err(e),
    }
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Status and body of a raw HTTP/1.1 response (chunked or not).
fn parse_response(raw: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of the response head")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status in the response")?;
    let mut body = &raw[split + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return Ok((status, body.to_vec()));
    }
    let mut out = Vec::new();
    loop {
        let eol = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("a chunk without a size line")?;
        let size = std::str::from_utf8(&body[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .context("a bad chunk size")?;
        if size == 0 {
            return Ok((status, out));
        }
        let Some(chunk) = body.get(eol + 2..eol + 2 + size) else {
            bail!("a chunk longer than the body");
        };
        out.extend_from_slice(chunk);
        body = body.get(eol + 4 + size..).unwrap_or_default();
    }
}

/// Lays out rows under a header, columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  "));
            }
        }
        l.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_responses() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n[]";
        assert_eq!(parse_response(plain).unwrap(), (200, b"[]".to_vec()));
        let chunked =
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n3\r\n\":1\r\n1\r\n}\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked).unwrap(),
            (404, b"{\"a\":1}".to_vec())
        );
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn tables_pad_columns() {
        let t = table(
            &["ID", "NAME"],
            &[
                vec!["a1".into(), "Calculator".into()],
                vec!["a10".into(), "x".into()],
            ],
        );
        assert_eq!(t, "ID   NAME\na1   Calculator\na10  x\n");
    }
}
