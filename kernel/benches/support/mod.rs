//! What more than one bench needs: a kernel daemon embedded in the bench
//! process ([`EmbeddedKernel`]), as `agentos-kernel` runs it, on a temporary data
//! directory; the output of a managed process ([`managed_output`]); what the eBPF
//! probe benches share ([`probes`]); and the raw io_uring baselines ([`uring`]).

// Each bench compiles this module on its own and uses part of it.
#![allow(dead_code, reason = "each bench uses only some of these")]

pub mod probes;
pub mod uring;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use agentos_client::{Client, pb};
use agentos_kernel::{KernelConfig, daemon};
use tokio::runtime::Runtime;
use tokio_stream::StreamExt;

/// A kernel serving on `DIR/data/kernel.sock` from its own multi-thread runtime.
/// Dropping it stops the kernel and waits for its shutdown, which kills its
/// managed processes and removes its cgroups: a bench, like a test, leaves
/// nothing on the host.
pub struct EmbeddedKernel {
    pub runtime: Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    kernel: Option<tokio::task::JoinHandle<()>>,
    pub dir: tempfile::TempDir,
}

impl Drop for EmbeddedKernel {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(kernel) = self.kernel.take() {
            let _ = self.runtime.block_on(kernel);
        }
    }
}

impl EmbeddedKernel {
    /// Starts the kernel (no eBPF probes: they are not what is measured) and
    /// waits for its socket.
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::Builder::new()
            .prefix("agentos-bench-")
            .tempdir()
            .expect("temporary directory");
        let mut config = KernelConfig::new(dir.path().join("data"));
        config.ebpf = false;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let kernel = runtime.spawn(async move {
            let stopped = async move {
                let _ = stopped.await;
            };
            if let Err(e) = daemon::serve(config, stopped).await {
                panic!("kernel failed: {e:#}");
            }
        });
        let k = Self {
            runtime,
            stop: Some(stop),
            kernel: Some(kernel),
            dir,
        };
        for _ in 0..500 {
            if k.socket().exists() {
                return k;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the kernel did not start");
    }

    /// A current-thread runtime for the bench's side, and a client of this kernel on it.
    pub fn client(&self) -> (Runtime, Client) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let user = rt
            .block_on(Client::connect_uds(&self.socket()))
            .expect("connect");
        (rt, user)
    }

    /// The kernel's Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("data/kernel.sock")
    }

    /// The host directory behind the VFS root.
    pub fn files(&self) -> PathBuf {
        self.dir.path().join("data/files")
    }

    /// The temporary directory everything is under.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The stdout of managed process `pid`, once it exited successfully.
pub async fn managed_output(user: &mut Client, pid: u32) -> String {
    use pb::{process_input::Msg as In, process_output::Msg as Out};
    let attach = tokio_stream::iter([pb::ProcessInput {
        msg: Some(In::Attach(pid)),
    }]);
    let mut stream = user.process_io(attach).await.expect("attach").into_inner();
    let mut out = Vec::new();
    while let Some(m) = stream.next().await {
        match m.expect("output").msg {
            Some(Out::Output(ch)) if ch.stream == pb::OutputStream::Stdout as i32 => {
                out.extend(ch.data)
            }
            Some(Out::Exit(x)) => {
                let out = String::from_utf8_lossy(&out).trim().to_owned();
                assert_eq!(x.code, Some(0), "process {pid}: {x:?}; {out}");
                return out;
            }
            _ => {}
        }
    }
    panic!("process {pid}'s output ended without an exit")
}
