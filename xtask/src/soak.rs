//! `cargo xtask soak [--minutes N]`: loads a real daemon for N minutes (default
//! 10) and fails if its resident set, fds, threads or cgroups grow. The soak is
//! the ignored integration test `soak::soak` (`kernel/tests/it/soak.rs`, which
//! says how growth is judged); `cargo xtask test` runs it for one minute.

use clap::Parser;

use crate::{cargo, exec};

/// The variable the test reads its length from.
const MINUTES_ENV: &str = "AGENTOS_SOAK_MINUTES";

#[derive(Parser)]
pub struct Options {
    /// How long the load runs.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
}

pub fn run(opts: Options) -> anyhow::Result<()> {
    soak(opts.minutes)
}

/// Runs the soak test for `minutes`, printing its samples.
pub fn soak(minutes: f64) -> anyhow::Result<()> {
    exec(
        cargo()
            .args([
                "test",
                "--locked",
                "-p",
                "agentos-kernel",
                "--test",
                "it",
                "--",
                "--ignored",
                "--exact",
                "soak::soak",
                "--nocapture",
            ])
            .env(MINUTES_ENV, minutes.to_string()),
    )
}
