//! [`UserHost`]: the tools' [`ToolHost`] for one caller, over the handles in
//! [`AppState`].
//!
//! A thin adapter. `storage.*`, `fs.*` and `system.*` go to [`crate::providers`]
//! with the caller's user id (which comes from the session, never from the app);
//! [`ProviderError`] becomes [`HostError`] variant for variant. `app.*` goes to
//! `state.apps` with the caller as owner: `app.launch` starts a registry app as a
//! child of the calling app instance; `app.close` and `app.focus` take an instance
//! id (`a3`) or an app id (every running instance of it, the newest for focus).
//!
//! `http.*` makes the request itself, after the tool runner has checked the URL's
//! host against the app's `hosts`. Whatever a Blueprint declares, it never reaches
//! this machine or its network: every address the host resolves to must be a
//! public one ([`is_public`]), the connection goes to exactly those addresses (no
//! second lookup a rebinding DNS server could change), and neither proxies nor
//! redirects are followed. Responses are cut off at [`HTTP_MAX_BODY`].

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use serde_json::Value;

use super::AppState;
use crate::{
    apps::{AppError, LaunchOptions},
    providers::ProviderError,
    registry::RegistryError,
    tools::{DirEntry, HostError, HttpMethod, HttpRequest, HttpResponse, LogLevel, ToolHost},
};

/// Largest response body `http.*` reads.
pub const HTTP_MAX_BODY: usize = 1 << 20;
/// How long an `http.*` request may take, all in.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the name lookup and the connection may take.
const HTTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The outside world of one caller's tools.
#[derive(Clone)]
pub struct UserHost {
    state: AppState,
    user: String,
    /// The running app instance that calls (`a3`), the parent of what it launches.
    instance: Option<String>,
}

impl UserHost {
    pub fn new(state: AppState, user: impl Into<String>, instance: Option<String>) -> Self {
        Self {
            state,
            user: user.into(),
            instance,
        }
    }

    /// The caller's running instances that `target` names: the instance with that
    /// id, else every instance of the app with that id (in launch order).
    fn instances(&self, target: &str) -> Result<Vec<String>, HostError> {
        let apps = self.state.apps.list(&self.user);
        if apps.iter().any(|a| a.id == target) {
            return Ok(vec![target.to_owned()]);
        }
        let ids: Vec<String> = apps
            .into_iter()
            .filter(|a| a.app_id == target)
            .map(|a| a.id)
            .collect();
        if ids.is_empty() {
            Err(HostError::NotFound {
                what: format!("running app {target:?}"),
            })
        } else {
            Ok(ids)
        }
    }
}

impl From<ProviderError> for HostError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::NotFound { what } => Self::NotFound { what },
            ProviderError::Denied { reason } => Self::Denied { reason },
            ProviderError::QuotaExceeded { what } => Self::QuotaExceeded { what },
            ProviderError::Unavailable { reason } => Self::Unavailable { reason },
        }
    }
}

impl From<AppError> for HostError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound(id) => Self::NotFound {
                what: format!("running app {id:?}"),
            },
            AppError::Invalid(reason) | AppError::InvalidBlueprint(reason) => {
                Self::Denied { reason }
            }
            AppError::Spawn { source, .. } | AppError::Kernel(source) => {
                ProviderError::from(source).into()
            }
        }
    }
}

impl From<RegistryError> for HostError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::NotFound(_) => Self::NotFound {
                what: e.to_string(),
            },
            RegistryError::BuiltIn(_) | RegistryError::Invalid(_) => Self::Denied {
                reason: e.to_string(),
            },
            RegistryError::Corrupt { .. } => Self::Unavailable {
                reason: e.to_string(),
            },
            RegistryError::Kernel(source) => ProviderError::from(source).into(),
        }
    }
}

impl ToolHost for UserHost {
    async fn storage_get(&self, app: &str, key: &str) -> Result<Option<Value>, HostError> {
        Ok(self
            .state
            .providers
            .storage_get(&self.user, app, key)
            .await?)
    }

    async fn storage_set(&self, app: &str, key: &str, value: Value) -> Result<(), HostError> {
        Ok(self
            .state
            .providers
            .storage_set(&self.user, app, key, value)
            .await?)
    }

    async fn storage_delete(&self, app: &str, key: &str) -> Result<bool, HostError> {
        Ok(self
            .state
            .providers
            .storage_delete(&self.user, app, key)
            .await?)
    }

    async fn storage_list(&self, app: &str, prefix: &str) -> Result<Vec<String>, HostError> {
        Ok(self
            .state
            .providers
            .storage_list(&self.user, app, prefix)
            .await?)
    }

    async fn fs_read(&self, _app: &str, path: &str) -> Result<String, HostError> {
        Ok(self.state.providers.fs_read(&self.user, path).await?)
    }

    async fn fs_write(&self, _app: &str, path: &str, content: &[u8]) -> Result<(), HostError> {
        Ok(self
            .state
            .providers
            .fs_write(&self.user, path, content)
            .await?)
    }

    async fn fs_list(&self, _app: &str, path: &str) -> Result<Vec<DirEntry>, HostError> {
        Ok(self.state.providers.fs_list(&self.user, path).await?)
    }

    async fn fs_search(
        &self,
        _app: &str,
        path: &str,
        query: &str,
        max_depth: usize,
        limit: usize,
    ) -> Result<Value, HostError> {
        let found = self
            .state
            .providers
            .fs_search(&self.user, path, query, max_depth, limit)
            .await?;
        Ok(serde_json::to_value(found).expect("search results serialize"))
    }

    async fn fs_delete(&self, _app: &str, path: &str) -> Result<(), HostError> {
        Ok(self.state.providers.fs_delete(&self.user, path).await?)
    }

    async fn fs_mkdir(&self, _app: &str, path: &str) -> Result<(), HostError> {
        Ok(self.state.providers.fs_mkdir(&self.user, path).await?)
    }

    async fn fs_move(&self, _app: &str, from: &str, to: &str) -> Result<(), HostError> {
        Ok(self.state.providers.fs_move(&self.user, from, to).await?)
    }

    async fn fs_copy(&self, _app: &str, from: &str, to: &str) -> Result<(), HostError> {
        Ok(self.state.providers.fs_copy(&self.user, from, to).await?)
    }

    async fn fs_stat(&self, _app: &str, path: &str) -> Result<Value, HostError> {
        let info = self.state.providers.fs_stat(&self.user, path).await?;
        Ok(serde_json::to_value(info).expect("a FileInfo serializes"))
    }

    async fn system_info(&self) -> Result<Value, HostError> {
        Ok(self.state.providers.system_info().await?)
    }

    async fn now_unix_ms(&self) -> Result<i64, HostError> {
        Ok(self.state.providers.now_unix_ms())
    }

    async fn system_log(&self, app: &str, level: LogLevel, message: &str) -> Result<(), HostError> {
        let level = match level {
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Error => tracing::Level::ERROR,
        };
        self.state
            .providers
            .system_log(&self.user, app, level, message);
        Ok(())
    }

    async fn app_launch(&self, _app: &str, target: &str) -> Result<String, HostError> {
        let entry = self.state.registry.get(&self.user, target).await?;
        let opts = LaunchOptions {
            parent: self.instance.clone(),
            ..Default::default()
        };
        let app = self
            .state
            .apps
            .launch(&self.user, entry.source, opts)
            .await?;
        Ok(app.id)
    }

    async fn app_close(&self, _app: &str, target: &str) -> Result<(), HostError> {
        for id in self.instances(target)? {
            match self.state.apps.close(&self.user, &id).await {
                // Closed already, as a child of one closed before it.
                Ok(_) | Err(AppError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn app_focus(&self, _app: &str, target: &str) -> Result<(), HostError> {
        let newest = self
            .instances(target)?
            .pop()
            .expect("instances is never empty");
        self.state.apps.focus(&self.user, &newest).await?;
        Ok(())
    }

    async fn http(&self, _app: &str, request: HttpRequest) -> Result<HttpResponse, HostError> {
        fetch(request).await
    }
}

/// Makes an `http.*` request to a public address (see the module docs).
pub async fn fetch(request: HttpRequest) -> Result<HttpResponse, HostError> {
    let url = url::Url::parse(&request.url).map_err(|e| HostError::Denied {
        reason: format!("{:?} is not a URL: {e}", request.url),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(HostError::Denied {
            reason: format!("{} is not an http(s) URL", request.url),
        });
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let (domain, addrs) = match url.host() {
        Some(url::Host::Ipv4(ip)) => (None, vec![SocketAddr::new(ip.into(), port)]),
        Some(url::Host::Ipv6(ip)) => (None, vec![SocketAddr::new(ip.into(), port)]),
        Some(url::Host::Domain(d)) => {
            let lookup = tokio::net::lookup_host((d, port));
            let addrs = tokio::time::timeout(HTTP_CONNECT_TIMEOUT, lookup)
                .await
                .map_err(|_| HostError::Unavailable {
                    reason: format!("looking up {d} took over {HTTP_CONNECT_TIMEOUT:?}"),
                })?
                .map_err(|e| HostError::Unavailable {
                    reason: format!("cannot look up {d}: {e}"),
                })?
                .collect::<Vec<_>>();
            (Some(d.to_owned()), addrs)
        }
        None => {
            return Err(HostError::Denied {
                reason: format!("{} names no host", request.url),
            });
        }
    };
    if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(HostError::Denied {
            reason: format!(
                "{} is {}, a loopback, private or reserved address; apps may only reach public hosts",
                url.host_str().unwrap_or_default(),
                bad.ip()
            ),
        });
    }
    if addrs.is_empty() {
        return Err(HostError::Unavailable {
            reason: format!("{} has no address", url.host_str().unwrap_or_default()),
        });
    }
    let mut client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(HTTP_CONNECT_TIMEOUT)
        .timeout(HTTP_TIMEOUT)
        .user_agent(concat!("AgentOS/", env!("CARGO_PKG_VERSION")));
    if let Some(d) = &domain {
        client = client.resolve_to_addrs(d, &addrs);
    }
    let client = client.build().map_err(|e| HostError::Unavailable {
        reason: format!("cannot make an HTTP client: {e}"),
    })?;
    let mut req = match request.method {
        HttpMethod::Get => client.get(url),
        HttpMethod::Post => client.post(url),
    };
    if let Some(ct) = &request.content_type {
        req = req.header(reqwest::header::CONTENT_TYPE, ct);
    }
    if let Some(body) = request.body {
        req = req.body(body);
    }
    let unreachable = |e: reqwest::Error| HostError::Unavailable {
        reason: error_chain(&e),
    };
    let mut resp = req.send().await.map_err(unreachable)?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > HTTP_MAX_BODY {
            return Err(HostError::QuotaExceeded {
                what: format!("the response is over {HTTP_MAX_BODY} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HttpResponse {
        status,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The error and its causes, joined with ": " (reqwest's own text is generic).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Whether `ip` is a public unicast address: not loopback, private, link-local,
/// shared (CGNAT), multicast, documentation, benchmarking or otherwise reserved.
/// An IPv4 address inside IPv6 (mapped, compatible, NAT64) is judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        // Shared address space (RFC 6598), carrier-grade NAT.
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments (RFC 6890).
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking (RFC 2544).
        || (a == 198 && (18..20).contains(&b))
        // Reserved (240.0.0.0/4).
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96).
    if s[..6] == [0; 6] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local (fc00::/7) and link-local (fe80::/10).
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        // Site-local, deprecated (fec0::/10).
        || (s[0] & 0xffc0) == 0xfec0
        // Documentation (2001:db8::/32).
        || (s[0] == 0x2001 && s[1] == 0x0db8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn requests_to_this_machine_are_refused_before_connecting() {
        for url in [
            "http://127.0.0.1:9/",
            "http://[::1]:9/",
            "http://localhost:9/x",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            let r = fetch(HttpRequest {
                method: HttpMethod::Get,
                url: url.into(),
                content_type: None,
                body: None,
            })
            .await;
            assert!(matches!(r, Err(HostError::Denied { .. })), "{url}: {r:?}");
        }
    }
}
