//! Connecting to a kernel: over its Unix socket (identity from the connection's
//! peer credentials), or over loopback TCP with the bearer token from its data
//! directory.

use std::{
    net::SocketAddr,
    ops::{Deref, DerefMut},
    path::{Path, PathBuf},
};

use agentos_proto::v1::kernel_service_client::KernelServiceClient;
use hyper_util::rt::TokioIo;
use tonic::{
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint, Uri},
};

use crate::paths;

/// Largest message a client accepts (a 16 MiB read plus framing).
pub const MAX_MESSAGE: usize = 32 << 20;
/// HTTP/2 flow-control window, per stream and per connection. The 64 KiB default
/// stalls bulk transfers (a 1 MiB chunk waits for many WINDOW_UPDATE round trips).
pub const WINDOW: u32 = 8 << 20;
/// Largest HTTP/2 frame we accept: fewer, larger frames for 1 MiB chunks (the
/// default is 16 KiB; the protocol's maximum is 16 MiB - 1).
pub const FRAME: u32 = 1 << 20;

/// The generated client with every RPC, behind the bearer-token interceptor.
pub type RawClient = KernelServiceClient<InterceptedService<Channel, Auth>>;

/// Adds `authorization: Bearer <token>` to every request on a TCP connection;
/// does nothing on a Unix socket (the kernel knows the caller from the socket).
#[derive(Clone, Debug, Default)]
pub struct Auth(Option<MetadataValue<Ascii>>);

impl Interceptor for Auth {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        if let Some(id) = crate::causality::current() {
            let v = MetadataValue::from(id);
            req.metadata_mut()
                .insert(crate::causality::CAUSALITY_HEADER, v);
        }
        Ok(req)
    }
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no kernel answers on {target}: {source}")]
    Transport {
        target: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("reading the kernel's token {}: {source}", path.display())]
    Token {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the token is not a valid header value")]
    BadToken,
}

/// A connected kernel. Derefs to [`RawClient`] for every RPC; [`Client::call`] and
/// its helpers (in [`crate::call`]) fold the error layers into one [`crate::CallError`].
#[derive(Clone)]
pub struct Client {
    raw: RawClient,
    /// The fd-handoff socket beside the kernel socket (Unix-socket connections only).
    fds: Option<PathBuf>,
    /// Whether `fds` is a managed process's own socket, where a ticket is preceded
    /// by [`paths::FD_MAGIC`].
    fds_magic: bool,
}

impl Client {
    /// Connects to the kernel listening on the Unix socket `socket`.
    pub async fn connect_uds(socket: &Path) -> Result<Self, ConnectError> {
        let channel = uds_channel(socket).await?;
        let mut client = Self::new(channel, Auth::default());
        client.fds = Some(paths::fds_socket_beside(socket));
        Ok(client)
    }

    /// Connects to a kernel's TCP listener with its bearer `token`.
    pub async fn connect_tcp(addr: SocketAddr, token: &str) -> Result<Self, ConnectError> {
        let value = format!("Bearer {}", token.trim())
            .parse()
            .map_err(|_| ConnectError::BadToken)?;
        let channel = endpoint(&format!("http://{addr}"))
            .connect()
            .await
            .map_err(|source| ConnectError::Transport {
                target: format!("tcp://{addr}"),
                source,
            })?;
        Ok(Self::new(channel, Auth(Some(value))))
    }

    /// Connects over TCP with the token kept in `data_dir` (readable by its owner only).
    pub async fn connect_tcp_with_data_dir(
        addr: SocketAddr,
        data_dir: &Path,
    ) -> Result<Self, ConnectError> {
        let path = paths::token_path(data_dir);
        let token = std::fs::read_to_string(&path)
            .map_err(|source| ConnectError::Token { path, source })?;
        Self::connect_tcp(addr, &token).await
    }

    /// Connects to `$AGENTOS_KERNEL_SOCKET` (a managed process's own socket, where
    /// every call is checked against its capabilities), else to the default data
    /// directory's kernel.
    pub async fn connect_env() -> Result<Self, ConnectError> {
        match std::env::var_os(paths::SOCKET_ENV) {
            Some(own) => Self::connect_process(Path::new(&own)).await,
            None => Self::connect_uds(&paths::socket_from_env()).await,
        }
    }

    /// Connects to a managed process's own kernel socket `socket`; fds (pipe ends,
    /// shared memory) are redeemed on that same socket.
    pub async fn connect_process(socket: &Path) -> Result<Self, ConnectError> {
        let mut client = Self::connect_uds(socket).await?;
        client.fds = Some(socket.to_owned());
        client.fds_magic = true;
        Ok(client)
    }

    fn new(channel: Channel, auth: Auth) -> Self {
        Self {
            raw: KernelServiceClient::with_interceptor(channel, auth)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            fds: None,
            fds_magic: false,
        }
    }

    /// Where this kernel hands out shared-memory fds, when connected by Unix socket.
    pub fn fds_socket(&self) -> Option<&Path> {
        self.fds.as_deref()
    }

    /// What a ticket is preceded by on [`Client::fds_socket`].
    pub fn fds_prefix(&self) -> &'static [u8] {
        if self.fds_magic { paths::FD_MAGIC } else { b"" }
    }

    /// The generated client.
    pub fn raw(&mut self) -> &mut RawClient {
        &mut self.raw
    }
}

impl Deref for Client {
    type Target = RawClient;

    fn deref(&self) -> &RawClient {
        &self.raw
    }
}

impl DerefMut for Client {
    fn deref_mut(&mut self) -> &mut RawClient {
        &mut self.raw
    }
}

/// A channel to the kernel listening on the Unix socket `socket`, with no client
/// on it (tests use it to send what the generated client never would).
pub async fn uds_channel(socket: &Path) -> Result<Channel, ConnectError> {
    let path = socket.to_owned();
    // The URI is required by the API but unused: the connector dials the socket.
    endpoint("http://agentos.kernel")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                tokio::net::UnixStream::connect(path)
                    .await
                    .map(TokioIo::new)
            }
        }))
        .await
        .map_err(|source| ConnectError::Transport {
            target: socket.display().to_string(),
            source,
        })
}

fn endpoint(uri: &str) -> Endpoint {
    Endpoint::from_shared(uri.to_owned())
        .expect("a static http:// URI")
        .initial_stream_window_size(WINDOW)
        .initial_connection_window_size(WINDOW)
        .max_frame_size(FRAME)
}
