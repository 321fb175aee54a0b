//! One gRPC client to the kernel, connected on first use and again after a failure.
//!
//! A tonic `Channel` is cheap to clone, so callers get a clone of the cached client.
//! The channel itself redials the socket (through the connector) after its
//! connection breaks, which is what picks up a restarted kernel. On top of that,
//! a call that fails at the transport level or times out drops the cached client,
//! so a wedged channel is replaced by a fresh one on the next call.

use std::{
    future::Future,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use agentos_client::{CallError, Client, ConnectError};
use agentos_proto::v1 as pb;
use tonic::Code;

use crate::metrics::Metrics;

/// Why the kernel could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot connect to the kernel: {source}")]
    Connect {
        socket: PathBuf,
        #[source]
        source: ConnectError,
    },
    #[error("kernel call `{call}` failed: {source}")]
    Rpc {
        call: &'static str,
        #[source]
        source: tonic::Status,
    },
    #[error("kernel call `{call}` failed: {source}")]
    Call {
        call: &'static str,
        #[source]
        source: CallError,
    },
    #[error("the kernel on {socket} did not answer `{call}` within {after:?}")]
    Timeout {
        socket: PathBuf,
        call: &'static str,
        after: Duration,
    },
}

/// A lazily connected client for the kernel on one socket.
pub struct KernelLink {
    socket: PathBuf,
    /// Where call latencies go (`agentos_kernel_call_duration_seconds`), if anywhere.
    metrics: Option<Arc<Metrics>>,
    // A std mutex: it is never held across an await (connecting happens outside it).
    client: Mutex<Option<Client>>,
}

impl KernelLink {
    /// A link to the kernel on `socket`; nothing is dialled until the first call.
    pub fn new(socket: PathBuf) -> Self {
        Self {
            socket,
            metrics: None,
            client: Mutex::new(None),
        }
    }

    /// Records the latency of every call made through [`call`](Self::call) in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The socket this link dials.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The cached client, or a newly connected one.
    pub async fn client(&self) -> Result<Client, LinkError> {
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let c = Client::connect_uds(&self.socket)
            .await
            .map_err(|source| LinkError::Connect {
                socket: self.socket.clone(),
                source,
            })?;
        *self.lock() = Some(c.clone());
        Ok(c)
    }

    /// Forgets the cached client, so the next call dials the socket again.
    pub fn reset(&self) {
        *self.lock() = None;
    }

    /// Asks the kernel for its doctor report, giving up after `timeout`.
    pub async fn doctor(&self, timeout: Duration) -> Result<pb::DoctorReport, LinkError> {
        self.call("Doctor", timeout, |mut c| async move {
            c.doctor(pb::DoctorRequest {})
                .await
                .map(tonic::Response::into_inner)
                .map_err(CallError::from)
        })
        .await
    }

    /// Asks the kernel for its Prometheus text, giving up after `timeout`.
    pub async fn metrics(&self, timeout: Duration) -> Result<String, LinkError> {
        self.call("Metrics", timeout, |mut c| async move {
            c.metrics(pb::MetricsRequest {})
                .await
                .map(|r| r.into_inner().text)
                .map_err(CallError::from)
        })
        .await
    }

    /// Runs `f` on a client, giving up after `timeout`, and records its latency.
    ///
    /// A transport failure or a timeout drops the cached client, so the next call
    /// dials again (a kernel that hangs may have been replaced by then).
    pub async fn call<T, F, Fut>(
        &self,
        name: &'static str,
        timeout: Duration,
        f: F,
    ) -> Result<T, LinkError>
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let started = Instant::now();
        let call = async {
            let c = self.client().await?;
            f(c).await.map_err(|source| {
                if let CallError::Rpc(st) = &source
                    && is_transport_failure(st)
                {
                    self.reset();
                }
                match source {
                    CallError::Rpc(source) => LinkError::Rpc { call: name, source },
                    source => LinkError::Call { call: name, source },
                }
            })
        };
        let result = match tokio::time::timeout(timeout, call).await {
            Ok(r) => r,
            Err(_) => {
                self.reset();
                Err(LinkError::Timeout {
                    socket: self.socket.clone(),
                    call: name,
                    after: timeout,
                })
            }
        };
        if let Some(m) = &self.metrics {
            m.kernel_calls.observe(&[("call", name)], started.elapsed());
        }
        result
    }

    fn cached(&self) -> Option<Client> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Client>> {
        // The guarded value is a cache: a poisoned one is still a valid Option.
        self.client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether a failed call means the connection, not the request, is broken.
///
/// tonic reports a refused or broken connection as `Unavailable` (and some transport
/// errors as `Unknown`); the kernel's own errors use the other codes.
fn is_transport_failure(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::Cancelled
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_kernel_is_a_connect_error_and_nothing_is_cached() {
        let dir = tempfile::tempdir().unwrap();
        let link = KernelLink::new(dir.path().join("kernel.sock"));
        let err = link.doctor(Duration::from_secs(2)).await.unwrap_err();
        assert!(matches!(err, LinkError::Connect { .. }), "{err:?}");
        assert!(err.to_string().contains("kernel.sock"), "{err}");
        assert!(link.cached().is_none());
    }
}
