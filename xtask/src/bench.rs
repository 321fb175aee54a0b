//! `cargo xtask bench`: the criterion benchmarks, each beside its raw baseline in the
//! same run (see `kernel/benches/`). Extra arguments go to criterion (e.g. a filter).

use clap::Parser;

use crate::{cargo, exec};

#[derive(Parser)]
pub struct Options {
    /// Passed to criterion, e.g. a benchmark name filter.
    #[arg(trailing_var_arg = true)]
    args: Vec<String>,
}

pub fn run(opts: Options) -> anyhow::Result<()> {
    crate::setup::run()?;
    crate::build_ebpf::build()?;
    exec(
        cargo()
            .args([
                "bench",
                "--locked",
                "-p",
                "agentos-kernel",
                "--bench",
                "syscalls",
                "--",
            ])
            .args(&opts.args),
    )
}
