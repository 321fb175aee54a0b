//! `agentos up`: the kernel plus the HTTP server, until SIGINT or SIGTERM.
//!
//! Order: bind 127.0.0.1:PORT (a busy port fails before any kernel starts) →
//! open the users and keys of the data directory → attach to the kernel on the
//! data directory, starting one if none answers → print
//! `AgentOS is up: http://127.0.0.1:PORT/?token=LOGIN` (the only line on stdout;
//! the token logs the browser in once, as Jupyter's does) → serve → on a signal,
//! stop HTTP, end the running apps' processes, then stop the kernel if we started
//! it. A kernel found running is left running.

use std::{
    io::Write,
    net::Ipv4Addr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use agentos_services::{
    auth::Auth,
    http::{self, AppState, EdgeConfig, RateLimit, Ui},
    kernel,
    metrics::Metrics,
};
use anyhow::Context;
use tokio::{
    net::TcpListener,
    signal::unix::{Signal, SignalKind, signal},
};

/// How long open HTTP requests get to finish after a signal.
const HTTP_GRACE: Duration = Duration::from_secs(5);

/// How long our kernel gets to exit after SIGTERM before SIGKILL.
const KERNEL_GRACE: Duration = Duration::from_secs(10);

#[derive(clap::Args)]
pub struct Options {
    /// TCP port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// The built desktop (ui/dist). Without one, `/` says the UI is not built.
    #[arg(long, value_name = "DIR")]
    ui_dir: Option<PathBuf>,
    /// The kernel binary (default: $AGENTOS_KERNEL_BIN, else agentos-kernel next to this binary).
    #[arg(long, value_name = "PATH")]
    kernel_bin: Option<PathBuf>,
    /// The prebuilt apps: `blueprint/**/*.bp` and `native-proc/ID/manifest.json`
    /// (default: $AGENTOS_APPS_DIR, else ./apps when it exists).
    #[arg(long, value_name = "DIR")]
    apps_dir: Option<PathBuf>,
    /// Requests per client: BURST/RATE, a burst refilled at RATE per second.
    #[arg(long, value_name = "BURST/RATE", default_value_t = RateLimit::default())]
    rate_limit: RateLimit,
    /// Largest request body in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = http::BODY_LIMIT)]
    body_limit: usize,
    /// Longest a request may take, in seconds, before it is answered 408.
    #[arg(long, value_name = "SECS", default_value_t = http::REQUEST_TIMEOUT.as_secs())]
    request_timeout: u64,
}

pub async fn run(data_dir: &Path, opts: Options) -> anyhow::Result<()> {
    let data_dir = std::path::absolute(data_dir)
        .with_context(|| format!("resolving {}", data_dir.display()))?;
    // Handlers first: from here on a signal is ours to handle, not a silent death.
    let mut signals = Signals::install().context("installing the SIGINT/SIGTERM handlers")?;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, opts.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", opts.port))?;
    let addr = listener.local_addr().context("reading the bound address")?;

    let auth = Auth::open(&data_dir).context("opening the users and keys")?;
    let ui = Ui::detect(opts.ui_dir.as_deref());
    if let Ui::NotBuilt { reason } = &ui {
        tracing::warn!("no desktop to serve ({reason}); run `cargo xtask build`");
    }

    // Dropping the half-done attach (on a signal) stops a kernel it had started.
    let attached = tokio::select! {
        res = kernel::attach(&data_dir, opts.kernel_bin.as_deref()) => res.context("starting the kernel")?,
        name = signals.recv() => {
            tracing::info!("{name} while starting; stopping");
            return Ok(());
        }
    };
    let metrics = Arc::new(Metrics::default());
    let config = EdgeConfig {
        rate_limit: opts.rate_limit,
        body_limit: opts.body_limit,
        request_timeout: Duration::from_secs(opts.request_timeout.max(1)),
        apps_dir: opts
            .apps_dir
            .or_else(|| std::env::var_os("AGENTOS_APPS_DIR").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from("apps")).filter(|d| d.is_dir())),
        ..EdgeConfig::new(addr.port())
    };
    let login = auth.new_login_token();
    let link = attached.link.with_metrics(Arc::clone(&metrics));
    let state = AppState::new(link, auth, metrics, config);
    let apps = std::sync::Arc::clone(&state.apps);
    let denials = tokio::spawn(agentos_services::apps::denials::watch(
        std::sync::Arc::clone(&state.apps),
        std::sync::Arc::clone(&state.kernel),
    ));
    let app = http::router(state, &ui);

    // Where `agentos ps/apps/logs` find us.
    let url_file = data_dir.join(agentos_services::SERVICES_URL_FILE);
    let url = format!("http://{}:{}", addr.ip(), addr.port());
    std::fs::write(&url_file, format!("{url}\n"))
        .with_context(|| format!("writing {}", url_file.display()))?;
    let _url_file = RemoveIfOurs(url_file, format!("{url}\n"));

    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "AgentOS is up: http://{}:{}/?token={login}",
        addr.ip(),
        addr.port()
    )
    .and_then(|()| stdout.flush())
    .context("writing to stdout")?;
    drop(stdout);

    let shutdown = async move {
        let name = signals.recv().await;
        tracing::info!("{name}: shutting down");
    };
    http::serve(listener, app, shutdown, HTTP_GRACE)
        .await
        .context("serving HTTP")?;
    // Nothing refers to the apps' processes once we are gone: end them, also in a
    // kernel that keeps running.
    denials.abort();
    apps.shutdown().await;

    if let Some(child) = attached.child {
        let pid = child.pid();
        let status = child
            .stop(KERNEL_GRACE)
            .await
            .context("stopping the kernel")?;
        tracing::info!("agentos-kernel (pid {pid}) stopped: {status}");
    }
    Ok(())
}

/// Removes a file on drop if it still holds what we wrote (another `agentos up`
/// on the same data directory may have replaced it).
struct RemoveIfOurs(PathBuf, String);

impl Drop for RemoveIfOurs {
    fn drop(&mut self) {
        if std::fs::read_to_string(&self.0).is_ok_and(|c| c == self.1) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// SIGINT and SIGTERM, whichever comes first.
struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}
