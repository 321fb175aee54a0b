//! `cargo xtask build-ebpf`: builds the eBPF object (`kernel-ebpf/`, crate `agentos-ebpf`) that
//! `kernel/build.rs` embeds.
//!
//! The programs need what the stable toolchain lacks: a nightly toolchain with `rust-src`
//! (for `-Z build-std=core` on `bpfel-unknown-none`) and `bpf-linker`, built against the
//! nightly's own libLLVM (TOOLCHAIN.md, "Rust"). [`ensure_ebpf_toolchain`] installs whichever
//! is missing and is quick when all of it is there; `cargo xtask setup` calls it too.
//! [`run`] then builds `<target dir>/bpfel-unknown-none/release/agentos-ebpf` and prints
//! its path. Nothing here needs root.

use std::{
    env,
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, anyhow, bail};
use clap::Parser;

use crate::{exec, workspace_root};

/// The toolchain that builds the eBPF crate (the rest of the workspace stays on stable).
const NIGHTLY: &str = "nightly";
/// Little-endian BPF; the kernel loads nothing else on x86_64 and aarch64.
const BPF_TARGET: &str = "bpfel-unknown-none";
/// The eBPF crate; its binary (the object file) has the same name.
const EBPF_PACKAGE: &str = "agentos-ebpf";
const BPF_LINKER: &str = "bpf-linker";
/// `rustflags` for the eBPF build: `--btf` makes bpf-linker emit BTF, which lets
/// `bpftool prog dump` show source lines and gives the loader typed maps.
const EBPF_RUSTFLAGS: &[&str] = &["-Cdebuginfo=2", "-Clink-arg=--btf"];

#[derive(Debug, Parser)]
pub struct Options {
    /// Skip checking (and installing) nightly, rust-src and bpf-linker.
    #[arg(long)]
    pub skip_toolchain: bool,
}

/// Installs the toolchain if needed, builds the eBPF object and prints its path.
pub fn run(opts: Options) -> anyhow::Result<()> {
    let Options { skip_toolchain } = opts;
    if !skip_toolchain {
        ensure_ebpf_toolchain()?;
    }
    let object = build()?;
    println!("eBPF object: {}", object.display());
    Ok(())
}

/// `cargo +nightly SUBCOMMAND` of the eBPF package for the BPF target, with the
/// flags the object is built with (so `build` and `lint` share one build of `core`).
fn ebpf_cargo(root: &std::path::Path, subcommand: &str) -> Command {
    let mut cmd = nightly_cargo();
    cmd.current_dir(root)
        .args([
            subcommand,
            "--locked",
            "--package",
            EBPF_PACKAGE,
            "--release",
            "--target",
            BPF_TARGET,
        ])
        .args(["-Z", "build-std=core"]);
    cmd.env("CARGO_ENCODED_RUSTFLAGS", EBPF_RUSTFLAGS.join("\x1f"));
    cmd
}

/// Clippy (`-D warnings`) over the eBPF programs, which the workspace's clippy run
/// leaves out (they build only for the BPF target, with nightly).
pub fn lint() -> anyhow::Result<()> {
    exec(ebpf_cargo(&workspace_root(), "clippy").args(["--", "-D", "warnings"]))
}

/// Builds the eBPF object with the nightly toolchain and returns its path.
pub fn build() -> anyhow::Result<PathBuf> {
    let root = workspace_root();
    exec(&mut ebpf_cargo(&root, "build"))?;

    let object = target_dir(&root)
        .join(BPF_TARGET)
        .join("release")
        .join(EBPF_PACKAGE);
    if !object.is_file() {
        bail!(
            "the eBPF build succeeded but {} does not exist",
            object.display()
        );
    }
    Ok(object)
}

/// Makes sure the nightly toolchain, its `rust-src` and `bpf-linker` are installed.
///
/// Idempotent and quick when everything is there: it runs `rustc +nightly -vV`,
/// `rustup component list` and `bpf-linker --version` and installs only what is missing.
pub fn ensure_ebpf_toolchain() -> anyhow::Result<()> {
    let nightly = match nightly_info() {
        Ok(info) => info,
        Err(err) => {
            println!("nightly toolchain not usable ({err:#}); installing it");
            exec(Command::new("rustup").args([
                "toolchain",
                "install",
                NIGHTLY,
                "--profile",
                "minimal",
                "--component",
                "rust-src",
            ]))?;
            nightly_info()?
        }
    };

    let installed = output(Command::new("rustup").args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        NIGHTLY,
    ]))?;
    if !installed
        .lines()
        .any(|line| line.trim().starts_with("rust-src"))
    {
        exec(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            NIGHTLY,
        ]))?;
    }

    if bpf_linker_works() {
        return Ok(());
    }
    install_bpf_linker(&nightly)
}

/// What the bpf-linker build needs to know about the nightly toolchain.
struct NightlyInfo {
    /// The major LLVM version rustc was built with ("LLVM version: 22.1.4" → 22).
    llvm_major: u32,
    /// `<sysroot>/lib`, which holds rustc's shared libLLVM.
    lib_dir: PathBuf,
}

fn nightly_info() -> anyhow::Result<NightlyInfo> {
    let version = output(rustup_run(NIGHTLY, "rustc").arg("-vV"))?;
    let llvm = version
        .lines()
        .find_map(|line| line.strip_prefix("LLVM version: "))
        .ok_or_else(|| anyhow!("`rustc +{NIGHTLY} -vV` printed no LLVM version:\n{version}"))?;
    let llvm_major = llvm
        .split('.')
        .next()
        .and_then(|major| major.trim().parse().ok())
        .ok_or_else(|| anyhow!("cannot parse LLVM version {llvm:?}"))?;
    let sysroot = output(rustup_run(NIGHTLY, "rustc").args(["--print", "sysroot"]))?;
    Ok(NightlyInfo {
        llvm_major,
        lib_dir: PathBuf::from(sysroot.trim()).join("lib"),
    })
}

/// True if a `bpf-linker` on PATH runs. One built against a nightly that has since been
/// updated fails here (its rpath'd libLLVM is gone) and is rebuilt.
fn bpf_linker_works() -> bool {
    Command::new(BPF_LINKER)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// `cargo +nightly install bpf-linker --no-default-features --features llvm-NN`, linked
/// against the nightly's own libLLVM.
///
/// rustc ships libLLVM only as `libLLVM.so.<ver>-rust-<rustc ver>`, which the llvm-sys build
/// script cannot find, so a temporary directory gets a `libLLVM.so` symlink to it for `-L`,
/// and an rpath points the installed binary at the toolchain's `lib/`.
fn install_bpf_linker(nightly: &NightlyInfo) -> anyhow::Result<()> {
    let NightlyInfo {
        llvm_major,
        lib_dir,
    } = nightly;
    let libllvm = fs::read_dir(lib_dir)
        .with_context(|| format!("failed to list {}", lib_dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("libLLVM.so."))
        })
        .ok_or_else(|| anyhow!("no libLLVM.so.* in {}", lib_dir.display()))?;

    let link_dir = env::temp_dir().join(format!("agentos-bpf-linker-llvm-{}", std::process::id()));
    let _cleanup = RemoveDirOnDrop(link_dir.clone());
    fs::create_dir_all(&link_dir)
        .with_context(|| format!("failed to create {}", link_dir.display()))?;
    let symlink = link_dir.join("libLLVM.so");
    std::os::unix::fs::symlink(&libllvm, &symlink).with_context(|| {
        format!(
            "failed to symlink {} -> {}",
            symlink.display(),
            libllvm.display()
        )
    })?;

    let mut cmd = rustup_run(NIGHTLY, "cargo");
    cmd.args([
        "install",
        BPF_LINKER,
        "--locked",
        "--force",
        "--no-default-features",
    ])
    .arg("--features")
    .arg(format!("llvm-{llvm_major}"));
    for key in [
        "RUSTC",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTUP_TOOLCHAIN",
        "CARGO_ENCODED_RUSTFLAGS",
    ] {
        cmd.env_remove(key);
    }
    let mut rustflags = OsString::from("-L ");
    rustflags.push(&link_dir);
    rustflags.push(" -C link-arg=-Wl,-rpath,");
    rustflags.push(lib_dir);
    cmd.env("RUSTFLAGS", rustflags);
    exec(&mut cmd)?;

    if !bpf_linker_works() {
        bail!(
            "`{BPF_LINKER} --version` fails after installing it; is {} on PATH?",
            cargo_bin_dir().display()
        );
    }
    Ok(())
}

/// The nightly toolchain's `cargo` in the workspace root. When run as `cargo xtask`, the
/// outer (stable) cargo's settings are in the environment; they must not leak into the
/// nightly build (aya-build removes the same variables), and host RUSTFLAGS mean nothing to
/// the BPF target.
pub(crate) fn nightly_cargo() -> Command {
    let mut cmd = rustup_run(NIGHTLY, "cargo");
    cmd.current_dir(workspace_root());
    for key in [
        "RUSTC",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTUP_TOOLCHAIN",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(key);
    }
    cmd
}

/// `rustup run <toolchain> <program>`: unlike `cargo +nightly`, it works the same for
/// `rustc` and `cargo` and does not depend on the rustup proxy being first on PATH.
fn rustup_run(toolchain: &str, program: &str) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", toolchain, program]);
    cmd
}

/// Runs `cmd` (printing it first) and returns its stdout; fails with the whole command line.
fn output(cmd: &mut Command) -> anyhow::Result<String> {
    println!("+ {cmd:?}");
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("failed to run {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {:?}", out.status);
    }
    String::from_utf8(out.stdout).with_context(|| format!("{cmd:?} printed non-UTF-8 output"))
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to the workspace root, as cargo
/// resolves it when run there) or `<root>/target`.
fn target_dir(root: &Path) -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| root.join("target"), |dir| root.join(dir))
}

fn cargo_bin_dir() -> PathBuf {
    env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .unwrap_or_default()
        .join("bin")
}

/// Removes the temporary libLLVM symlink directory, also when the install fails.
struct RemoveDirOnDrop(PathBuf);

impl Drop for RemoveDirOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
