//! Identity comes from the connection: other uids are refused on the Unix socket,
//! and TCP needs the bearer token.

use std::{
    os::unix::{fs::PermissionsExt, process::CommandExt},
    process::Command,
};

use agentos_proto::v1::{self as pb, kernel_service_client::KernelServiceClient};
use tonic::{Code, Request, transport::Endpoint};

use crate::util::{Daemon, require_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_uid_is_refused_even_when_it_can_reach_the_socket() {
    if !require_root("another_uid_is_refused") {
        return;
    }
    let d = Daemon::start(&[]);
    // Open the door on purpose: the peer-credential check must still refuse.
    for p in [d.dir.path().to_owned(), d.data_dir()] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(d.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = Command::new(crate::util::kernel_bin())
        .args(["doctor", "--data-dir"])
        .arg(d.data_dir())
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("uid 65534 may not use this kernel"),
        "stdout: {text}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Root (the daemon's own uid here) is served.
    let mut c = d.client().await;
    c.doctor(pb::DoctorRequest {}).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_requires_the_bearer_token() {
    let sock = crate::util::free_loopback_addr();
    let addr = sock.to_string();
    let d = Daemon::start(&["--tcp", &addr]);
    crate::util::wait_for_tcp(sock).await;
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c = KernelServiceClient::new(channel);
    let st = c.doctor(pb::DoctorRequest {}).await.unwrap_err();
    assert_eq!(st.code(), Code::Unauthenticated);
    let mut wrong = Request::new(pb::DoctorRequest {});
    wrong
        .metadata_mut()
        .insert("authorization", "Bearer 0000".parse().unwrap());
    assert_eq!(
        c.doctor(wrong).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let token = std::fs::read_to_string(d.data_dir().join("kernel.token")).unwrap();
    let mut right = Request::new(pb::DoctorRequest {});
    right.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token.trim()).parse().unwrap(),
    );
    let report = c.doctor(right).await.unwrap().into_inner();
    assert!(report.subsystems.contains_key("io_uring"));
    // The client crate reads the token from the data directory and sends it.
    let mut typed = agentos_client::Client::connect_tcp_with_data_dir(sock, &d.data_dir())
        .await
        .unwrap();
    assert!(typed.exists("/").await.unwrap());
    let mut bad = agentos_client::Client::connect_tcp(sock, "0000")
        .await
        .unwrap();
    match bad.exists("/").await.unwrap_err() {
        agentos_client::CallError::Rpc(st) => assert_eq!(st.code(), Code::Unauthenticated),
        other => panic!("a wrong token must fail the RPC, got {other:?}"),
    }
    // Non-loopback addresses are refused outright.
    let out = Command::new(crate::util::kernel_bin())
        .args(["--tcp", "0.0.0.0:0", "--data-dir"])
        .arg(d.dir.path().join("other"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only loopback"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_reflection_lists_the_kernel_service() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let d = Daemon::start(&[]);
    let channel = {
        let socket = d.socket();
        Endpoint::from_static("http://agentos.kernel")
            .connect_with_connector(tower::service_fn(move |_| {
                let s = socket.clone();
                async move {
                    tokio::net::UnixStream::connect(s)
                        .await
                        .map(hyper_util::rt::TokioIo::new)
                }
            }))
            .await
            .unwrap()
    };
    let mut r = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut resp = r
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    let msg = resp.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = msg.message_response else {
        panic!("{msg:?}")
    };
    assert!(
        list.service
            .iter()
            .any(|s| s.name == "agentos.kernel.v1.KernelService"),
        "{list:?}"
    );
}
