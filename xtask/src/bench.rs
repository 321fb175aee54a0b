//! `cargo xtask bench`: every criterion benchmark of the kernel, each beside its raw
//! baseline in the same run (every `[[bench]]` of `kernel/Cargo.toml`, by `--bench '*'`: the
//! eBPF probes' five are `probes_syscall`, `probes_sched`, `probes_wall`, `probes_ring` and
//! `probes_unpack`), the `spawn` bench a second time
//! as the ordinary user `agentos-test` (the rootless rung, beside bubblewrap run by
//! that user), then the services' HTTP edge beside a bare axum handler
//! (`services/benches/http.rs`, which starts the release `agentos-kernel` the kernel
//! benchmarks built), and last the desktop in Chromium (`ui/e2e/bench.mjs` on the
//! production build: first paint, interactive desktop, launcher open, launcher to a
//! rendered calculator, a 10,000-item list's longest scroll frame, each beside its
//! baseline page). Installs Debian's bubblewrap first, the baseline of `spawn`.
//! Extra arguments go to criterion (e.g. a filter).

use clap::Parser;

use crate::{cargo, exec, npm};

/// The `bwrap --unshare-all` baseline of `kernel/benches/spawn.rs`.
const BWRAP: (&str, &str) = ("/usr/bin/bwrap", "bubblewrap");

#[derive(Parser)]
pub struct Options {
    /// Passed to criterion, e.g. a benchmark name filter.
    #[arg(trailing_var_arg = true)]
    args: Vec<String>,
}

pub fn run(opts: Options) -> anyhow::Result<()> {
    crate::setup::run()?;
    crate::setup::ensure_apt(&[BWRAP])?;
    crate::build_ebpf::build()?;
    // `--bench '*'`: every bench target and nothing else, so criterion's arguments
    // never reach the libtest harness of the library or the binaries.
    exec(
        cargo()
            .args([
                "bench",
                "--locked",
                "-p",
                "agentos-kernel",
                "--bench",
                "*",
                "--",
            ])
            .args(&opts.args),
    )?;
    // The rootless rung, beside bubblewrap run by the same ordinary user.
    crate::rootless::bench(&opts.args)?;
    exec(cargo().args([
        "bench",
        "--locked",
        "-p",
        "agentos-services",
        "--bench",
        "http",
    ]))?;
    exec(npm().args(["run", "build"]))?;
    exec(npm().args(["run", "bench"]))
}
