//! `agentos-probe` tries one forbidden thing inside a sandbox (tests/it/sandbox.rs).
//!
//! It exists on Linux only: its subjects (sandboxes, fds handed over `SCM_RIGHTS` to managed
//! processes) are Linux's. On other hosts this binary only says so, so that the kernel
//! crate's every target builds there.

#[cfg(target_os = "linux")]
#[path = "../agentos-probe.rs"]
mod linux;

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("agentos-probe: a Linux-only test helper; this host is not Linux");
    std::process::exit(2);
}
