//! What more than one bench needs: a kernel daemon embedded in the bench
//! process ([`EmbeddedKernel`]), as `agentos-kernel` runs it, on a temporary data
//! directory; what the eBPF probe benches share ([`probes`]); and the raw io_uring
//! baselines ([`uring`]).

// Each bench compiles this module on its own and uses part of it.
#![allow(dead_code, reason = "each bench uses only some of these")]

pub mod probes;
pub mod uring;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use agentos_kernel::{KernelConfig, daemon};
use tokio::runtime::Runtime;

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
