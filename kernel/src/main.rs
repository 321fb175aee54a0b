//! `agentos-kernel`: runs the kernel daemon, or prints the doctor report.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use agentos_kernel::{
    KernelConfig,
    config::{MountSpec, SandboxChoice, VfsBackendChoice, default_data_dir},
    daemon, doctor,
};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "agentos-kernel", version, about = "The AgentOS kernel daemon")]
struct Cli {
    /// Data directory (default: $AGENTOS_DATA_DIR, $XDG_DATA_HOME/agentos or ~/.local/share/agentos).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Also listen on this loopback TCP address (requires the bearer token in DIR/kernel.token).
    #[arg(long)]
    tcp: Option<SocketAddr>,
    /// Extra mounts: VPATH=HOSTDIR or VPATH=mem (repeatable).
    #[arg(long = "mount", value_name = "VPATH=SRC")]
    mounts: Vec<MountSpec>,
    /// LocalFS backend.
    #[arg(long, value_enum, default_value_t)]
    vfs_backend: VfsBackendChoice,
    /// How managed processes are isolated.
    #[arg(long, value_enum, default_value_t)]
    sandbox: SandboxChoice,
    /// Run programs even when the sandbox backend puts up no wall (portable).
    #[arg(long)]
    allow_unconfined: bool,
    /// Rootless: run sandboxed programs as the account's first subordinate uid and
    /// gid (/etc/subuid, /etc/subgid, via newuidmap) instead of the user's own.
    #[arg(long)]
    subordinate_ids: bool,
    /// Do not load the eBPF probes.
    #[arg(long)]
    no_ebpf: bool,
    /// TESTS ONLY: sandboxes get no landlock ruleset (their other walls stay), so a test
    /// can show the LSM wall holding on its own. Never use it otherwise.
    #[arg(long, hide = true)]
    test_skip_landlock: bool,
    /// TESTS ONLY: portable processes are supervised as on macOS (waitpid, kill before
    /// the reap), so Linux's suite runs that code. Never use it otherwise.
    #[arg(long, hide = true)]
    test_plain_children: bool,
    /// Log lines as text (human) or one JSON object per line (json).
    #[arg(long, global = true, value_enum, default_value_t)]
    log_format: agentos_client::logging::LogFormat,
    /// Serve Prometheus metrics on this loopback address (path /metrics).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Upstream resolver of the DNS relay that private and bridged processes resolve
    /// through: IP or IP:PORT (repeatable; default: the host's /etc/resolv.conf).
    #[arg(long = "dns", value_name = "ADDR", value_parser = agentos_kernel::net::parse_resolver)]
    dns: Vec<SocketAddr>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Which backend each subsystem got, and why.
    Doctor {
        /// One JSON object keyed by subsystem.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    agentos_client::logging::init(cli.log_format);
    let data_dir = cli.data_dir.clone().unwrap_or_else(default_data_dir);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("agentos-kernel: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Some(Command::Doctor { json }) => {
                let (report, source) = doctor::report(&data_dir).await;
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&doctor::to_json(&report))?
                    );
                } else {
                    print!("{}", doctor::to_text(&report, &source));
                }
                Ok(())
            }
            None => {
                // First, before anything is made on the host: a SIGTERM from here on
                // stops the kernel cleanly.
                let stop = daemon::catch_stop_signals()?;
                let mut config = KernelConfig::new(data_dir);
                config.tcp = cli.tcp;
                config.mounts = cli.mounts;
                config.vfs_backend = cli.vfs_backend;
                config.sandbox = cli.sandbox;
                config.allow_unconfined = cli.allow_unconfined;
                config.subordinate_ids = cli.subordinate_ids;
                config.ebpf = !cli.no_ebpf;
                config.metrics = cli.metrics;
                config.test_skip_landlock = cli.test_skip_landlock;
                config.test_plain_children = cli.test_plain_children;
                config.dns = cli.dns;
                daemon::run(config, stop).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agentos-kernel: {e:#}");
            ExitCode::FAILURE
        }
    }
}
