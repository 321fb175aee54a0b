//! Connecting to a kernel: over its Unix socket, or over TCP with the bearer token.

use std::path::{Path, PathBuf};

use agentos_proto::v1::kernel_service_client::KernelServiceClient;
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

/// Largest message a client accepts (a 16 MiB read plus framing).
pub const MAX_MESSAGE: usize = 32 << 20;
/// HTTP/2 flow-control window, per stream and per connection. The 64 KiB default
/// stalls bulk transfers (a 1 MiB chunk waits for many WINDOW_UPDATE round trips).
pub const WINDOW: u32 = 8 << 20;
/// Largest HTTP/2 frame we accept: fewer, larger frames for 1 MiB chunks (the
/// default is 16 KiB; the protocol's maximum is 16 MiB - 1).
pub const FRAME: u32 = 1 << 20;

/// Connects to the kernel listening on `socket`.
pub async fn connect_uds(
    socket: &Path,
) -> Result<KernelServiceClient<Channel>, tonic::transport::Error> {
    let socket: PathBuf = socket.to_owned();
    // The URI is required by the API but unused: the connector dials the socket.
    let channel = Endpoint::from_static("http://agentos.kernel")
        .initial_stream_window_size(WINDOW)
        .initial_connection_window_size(WINDOW)
        .max_frame_size(FRAME)
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                tokio::net::UnixStream::connect(socket)
                    .await
                    .map(TokioIo::new)
            }
        }))
        .await?;
    Ok(client(channel))
}

/// Wraps a channel with the kernel's message limits.
pub fn client(channel: Channel) -> KernelServiceClient<Channel> {
    KernelServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
}
