//! `agentos run`: run a program in a sandbox of the kernel on the data directory.
//!
//! Defaults: no network (`--net none`: loopback only), no capabilities, read-only system directories, a private
//! /tmp, nothing else of the host. Output streams back as it comes, stdin and Ctrl+C
//! are forwarded, and `agentos run` exits with the program's code (128 + N when
//! killed by signal N). An OOM kill or a hit pids limit is said plainly on stderr,
//! and so is any isolation short of full (`isolation: rootless — limits by rlimit
//! (no delegated cgroup)`); where the kernel can put up no wall at all, the program
//! runs only with `--allow-unconfined`.

use std::{
    io::{IsTerminal, Write},
    os::fd::{AsFd, AsRawFd},
    path::Path,
};

use agentos_client::Client;
use agentos_proto::v1::{self as pb, process_input::Msg as In, process_output::Msg as Out};
use anyhow::{Context as _, bail};
use tokio::{io::AsyncReadExt, sync::mpsc};
use tokio_stream::StreamExt;

/// Exit code when no kernel answers.
pub const NO_KERNEL: u8 = 2;

/// What `agentos COMMAND` says when no kernel answers on the data directory.
pub fn no_kernel(command: &str, data_dir: &Path) -> String {
    format!(
        "agentos {command}: no kernel is running on {} (start one with `agentos up --data-dir {0}`)",
        data_dir.display()
    )
}

#[derive(clap::Args)]
pub struct Options {
    /// Memory limit, e.g. 64M, 1G (bytes without a suffix).
    #[arg(long, value_parser = parse_size)]
    memory: Option<u64>,
    /// Size of the private /tmp (and /dev/shm), e.g. 16M (default 256M, or --memory when lower).
    #[arg(long, value_parser = parse_size)]
    tmp_size: Option<u64>,
    /// Most processes (and threads) the program may have.
    #[arg(long)]
    pids: Option<u64>,
    /// CPU weight, 1..=10000 (100 is the default share).
    #[arg(long)]
    cpu_weight: Option<u32>,
    /// CPU ceiling in percent of one core.
    #[arg(long)]
    cpu_max: Option<u32>,
    /// Grant read access to a host path (repeatable).
    #[arg(long = "read", value_name = "PATH")]
    read: Vec<String>,
    /// Grant read-write access to a host path (repeatable).
    #[arg(long = "write", value_name = "PATH")]
    write: Vec<String>,
    /// Network mode: `none` (loopback only), `private` (NAT, egress by `net:` grants;
    /// under a kernel run as an ordinary user, outgoing TCP, UDP and DNS, and forwards in,
    /// carried by the kernel), `bridged` (with --net-group: the group's processes reach
    /// each other) or `shared`.
    #[arg(long, default_value = "none", value_parser = ["none", "private", "shared", "bridged"])]
    net: String,
    /// The group of a `--net bridged` process.
    #[arg(long, value_name = "GROUP", default_value = "")]
    net_group: String,
    /// Forward a port of the host's loopback into the process (repeatable),
    /// `[127.0.0.1:]HOST_PORT:PORT[/tcp|/udp]` or `[::1]:HOST_PORT:PORT[/tcp|/udp]`,
    /// e.g. `127.0.0.1:8080:80`, `[::1]:8080:80`.
    #[arg(long = "publish", value_name = "FORWARD")]
    publish: Vec<String>,
    /// Keep a Linux capability inside the sandbox (repeatable), e.g. NET_BIND_SERVICE.
    #[arg(long = "cap", value_name = "CAP")]
    caps: Vec<String>,
    /// Grant an AgentOS capability for the program's own kernel socket (repeatable),
    /// e.g. `time`, `sysinfo`, `spawn`, `read:/srv/data` (see `agentos-kernel`'s `capability` module).
    #[arg(long = "grant", value_name = "CAPABILITY")]
    grants: Vec<String>,
    /// Environment for the program, KEY=VALUE (repeatable). Nothing else is passed.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Working directory inside the sandbox (default /tmp).
    #[arg(long)]
    cwd: Option<String>,
    /// Run in a pseudo-terminal.
    #[arg(long)]
    tty: bool,
    /// Run even if the kernel can put up no wall at all (its portable backend).
    #[arg(long)]
    allow_unconfined: bool,
    /// The program and its arguments.
    #[arg(last = true, required = true, value_name = "PROGRAM [ARG]...")]
    command: Vec<String>,
}

/// Parses `64M`, `1G`, `512k`, `1000`.
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let mult = match s[i..].to_ascii_lowercase().as_str() {
                "k" | "kb" | "kib" => 1 << 10,
                "m" | "mb" | "mib" => 1 << 20,
                "g" | "gb" | "gib" => 1 << 30,
                other => return Err(format!("unknown size suffix {other:?} (use K, M or G)")),
            };
            (&s[..i], mult)
        }
        None => (s, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a size"))?;
    n.checked_mul(mult)
        .filter(|b| *b > 0)
        .ok_or_else(|| format!("{s:?} is out of range"))
}

/// Parses `KEY=VALUE` (the value may hold `=`; the key may not be empty).
fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

/// A relative path with a slash is made absolute against the caller's directory; an
/// absolute path stays as given; a bare name goes to the kernel as it is, which looks
/// it up on the sandbox's own PATH inside the sandbox's view (as bubblewrap's
/// `execvp` does), never on the caller's.
fn resolve_program(name: &str) -> anyhow::Result<String> {
    if name.contains('/') && !name.starts_with('/') {
        let abs = std::env::current_dir()?.join(name);
        return Ok(abs.to_string_lossy().into_owned());
    }
    Ok(name.to_owned())
}

fn spec(opts: &Options) -> anyhow::Result<pb::ProcessSpec> {
    let Some(network) = agentos_services::apps::native::network_mode(&opts.net) else {
        bail!("--net {}: not a network mode", opts.net); // clap allows only the four
    };
    let mut argv = opts.command.clone();
    argv[0] = resolve_program(&argv[0])?;
    let env = opts.env.iter().cloned().collect();
    let absolute = |p: &String| -> anyhow::Result<String> {
        Ok(std::fs::canonicalize(p)
            .with_context(|| format!("grant {p}"))?
            .to_string_lossy()
            .into_owned())
    };
    let (rows, cols) = if opts.tty {
        window_size().unwrap_or((24, 80))
    } else {
        (0, 0)
    };
    Ok(pb::ProcessSpec {
        argv,
        env,
        cwd: opts.cwd.clone().unwrap_or_default(),
        read_paths: opts
            .read
            .iter()
            .map(absolute)
            .collect::<anyhow::Result<_>>()?,
        write_paths: opts
            .write
            .iter()
            .map(absolute)
            .collect::<anyhow::Result<_>>()?,
        linux_caps: opts.caps.clone(),
        network: network as i32,
        net_group: opts.net_group.clone(),
        publish: opts.publish.clone(),
        limits: Some(pb::ResourceLimits {
            memory_max_bytes: opts.memory.unwrap_or(0),
            cpu_weight: opts.cpu_weight.unwrap_or(0),
            cpu_max_percent: opts.cpu_max.unwrap_or(0),
            pids_max: opts.pids.unwrap_or(0),
            tmp_max_bytes: opts.tmp_size.unwrap_or(0),
        }),
        tty: opts.tty,
        rows: u32::from(rows),
        cols: u32::from(cols),
        name: String::new(),
        capabilities: opts.grants.clone(),
        allow_unconfined: opts.allow_unconfined,
    })
}

/// The local terminal's size, from stdout.
fn window_size() -> Option<(u16, u16)> {
    let mut ws = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into a live local.
    let rc = unsafe {
        nix::libc::ioctl(
            std::io::stdout().as_raw_fd(),
            nix::libc::TIOCGWINSZ,
            &mut ws,
        )
    };
    (rc == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Puts the local terminal in raw mode until dropped.
struct RawMode(Option<nix::sys::termios::Termios>);

impl RawMode {
    fn enter() -> Self {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Self(None);
        }
        let Ok(saved) = nix::sys::termios::tcgetattr(stdin.as_fd()) else {
            return Self(None);
        };
        let mut raw = saved.clone();
        nix::sys::termios::cfmakeraw(&mut raw);
        let _ =
            nix::sys::termios::tcsetattr(stdin.as_fd(), nix::sys::termios::SetArg::TCSANOW, &raw);
        Self(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin().as_fd(),
                nix::sys::termios::SetArg::TCSANOW,
                saved,
            );
        }
    }
}

pub async fn run(data_dir: &Path, opts: Options) -> anyhow::Result<u8> {
    let spec = spec(&opts)?;
    let socket = agentos_client::socket_path(data_dir);
    let Ok(mut client) = Client::connect_uds(&socket).await else {
        eprintln!("{}", no_kernel("run", data_dir));
        return Ok(NO_KERNEL);
    };
    let info = client
        .create_process(pb::SpawnProcess { spec: Some(spec) })
        .await
        .map_err(|st| anyhow::anyhow!("{}", st.message()))?
        .into_inner();
    // Anything short of every namespace and a cgroup is said, every time.
    if let Some(iso) = &info.isolation
        && iso.summary != "full"
    {
        eprintln!("isolation: {}", iso.summary);
    }
    // Where it is on the network, when it has an address there (private, bridged).
    if let Some(net) = network_line(&info) {
        eprintln!("network: {net}");
    }

    let (tx, rx) = mpsc::channel(16);
    tx.send(pb::ProcessInput {
        msg: Some(In::Attach(info.pid)),
    })
    .await?;
    let mut output = client
        .process_io(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map_err(|st| anyhow::anyhow!("{}", st.message()))?
        .into_inner();
    let _raw = opts.tty.then(RawMode::enter);
    forward_input(tx, opts.tty);

    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    while let Some(msg) = output.next().await {
        match msg.map_err(|st| anyhow::anyhow!("{}", st.message()))?.msg {
            Some(Out::Output(c)) => {
                if c.stream == pb::OutputStream::Stderr as i32 {
                    stderr.write_all(&c.data)?;
                    stderr.flush()?;
                } else {
                    stdout.write_all(&c.data)?;
                    stdout.flush()?;
                }
            }
            Some(Out::Exit(e)) => {
                drop(_raw);
                if e.oom_killed || e.pids_limit_hit || e.signal.is_some() {
                    eprintln!("{}", e.description);
                }
                let code = e.code.unwrap_or_else(|| 128 + e.signal.unwrap_or(0));
                return Ok(code.clamp(0, 255) as u8);
            }
            None => {}
        }
    }
    bail!("the kernel closed the stream before the process exited")
}

/// Forwards stdin, Ctrl+C / SIGTERM / SIGHUP and (with a tty) window resizes.
fn forward_input(tx: mpsc::Sender<pb::ProcessInput>, tty: bool) {
    let stdin_tx = tx.clone();
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 16 << 10];
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = stdin_tx
                        .send(pb::ProcessInput {
                            msg: Some(In::CloseStdin(true)),
                        })
                        .await;
                    return;
                }
                Ok(n) => {
                    if stdin_tx
                        .send(pb::ProcessInput {
                            msg: Some(In::Stdin(buf[..n].to_vec())),
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term), Ok(mut hup), Ok(mut winch)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
            signal(SignalKind::window_change()),
        ) else {
            return;
        };
        loop {
            let msg = tokio::select! {
                _ = int.recv() => In::Signal(nix::libc::SIGINT),
                _ = term.recv() => In::Signal(nix::libc::SIGTERM),
                _ = hup.recv() => In::Signal(nix::libc::SIGHUP),
                _ = winch.recv() => match (tty, window_size()) {
                    (true, Some((rows, cols))) => In::Resize(pb::WindowSize { rows: rows.into(), cols: cols.into() }),
                    _ => continue,
                },
            };
            if tx.send(pb::ProcessInput { msg: Some(msg) }).await.is_err() {
                return;
            }
        }
    });
}

/// What `agentos run` says of the process's network: its addresses, and for rootless
/// `private` (a kernel run as an ordinary user) what the kernel carries for it.
fn network_line(info: &pb::ProcessInfo) -> Option<String> {
    let summary = agentos_services::kernel::network_summary(info)?;
    let rootless = info
        .isolation
        .as_ref()
        .is_some_and(|i| i.level == "rootless");
    let carried = [
        pb::NetworkMode::Private as i32,
        pb::NetworkMode::Bridged as i32,
    ];
    Some(if rootless && carried.contains(&info.network) {
        format!(
            "{summary} (rootless: the kernel carries its outgoing TCP, UDP and DNS, and forwards in)"
        )
    } else {
        summary
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_what_rootless_private_carries() {
        let info = |level: &str| pb::ProcessInfo {
            network: pb::NetworkMode::Private as i32,
            net_address: "10.213.0.2".into(),
            isolation: Some(pb::Isolation {
                level: level.into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            network_line(&info("rootless")).as_deref(),
            Some(
                "private 10.213.0.2 (rootless: the kernel carries its outgoing TCP, UDP and \
                 DNS, and forwards in)"
            )
        );
        assert_eq!(
            network_line(&info("full")).as_deref(),
            Some("private 10.213.0.2")
        );
        let none = pb::ProcessInfo {
            isolation: info("rootless").isolation,
            ..Default::default()
        };
        assert_eq!(network_line(&none), None);
    }

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("M").is_err());
    }

    #[test]
    fn resolves_programs_through_path() {
        assert_eq!(resolve_program("/bin/true").unwrap(), "/bin/true");
        // The kernel looks a bare name up on the sandbox's PATH, not this one.
        assert_eq!(resolve_program("python3").unwrap(), "python3");
    }
}
