//! The Python gRPC client the interop test drives: a venv holding `grpcio` from
//! PyPI, outside the clone (`~/.cache/agentos/grpcio-venv`), made once.
//!
//! The test (`kernel/tests/it/clients.rs`) calls the kernel with grpcio's generic
//! `unary_unary` on hand-built request bytes, so no stub generator is needed. It
//! finds the interpreter through [`PYTHON_ENV`], which `cargo xtask test` sets.

use std::{path::PathBuf, process::Command};

use anyhow::Context as _;

use crate::exec;

/// The variable naming the venv's interpreter for the test.
pub const PYTHON_ENV: &str = "AGENTOS_GRPCIO_PYTHON";

/// The venv's directory.
fn venv() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache/agentos/grpcio-venv"))
}

/// The venv's interpreter, once [`ensure`] has run.
pub fn python() -> anyhow::Result<PathBuf> {
    Ok(venv()?.join("bin/python"))
}

/// Makes the venv and installs grpcio unless `import grpc` already works in it.
pub fn ensure() -> anyhow::Result<()> {
    let py = python()?;
    let ready = Command::new(&py)
        .args(["-c", "import grpc"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ready {
        return Ok(());
    }
    let dir = venv()?;
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {parent:?}"))?;
    }
    exec(
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&dir),
    )?;
    exec(Command::new(&py).args([
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        "grpcio",
    ]))
}
