//! What the CLI tests share: the built binaries and a kernel on a
//! temporary data directory that is stopped when the test ends, even by a panic.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

/// A binary of this workspace, next to `agentos` in the target directory.
pub fn bin(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_agentos")).with_file_name(name);
    assert!(
        p.exists(),
        "{} is not built: run `cargo build --bins`",
        p.display()
    );
    p
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An empty `agentos-test-*` directory, for commands that must find no kernel there.
pub fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("agentos-test-")
        .tempdir()
        .unwrap()
}

/// A kernel on a temporary data directory; SIGTERMed on drop.
pub struct Kernel {
    child: Child,
    pub dir: tempfile::TempDir,
}

impl Kernel {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A kernel started with extra `args` (e.g. `--sandbox walls`).
    pub fn start_with(args: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("agentos-test-")
            .tempdir()
            .unwrap();
        let child = Command::new(bin("agentos-kernel"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let k = Self { child, dir };
        let t = Instant::now();
        while !k.data().join("kernel.sock").exists() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "kernel did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        k
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `agentos SUBCOMMAND --data-dir DATA ARGS...` with `stdin`, to completion (and
    /// without `$AGENTOS_KERNEL_SOCKET`, which would win over `--data-dir`).
    pub fn agentos(&self, subcommand: &str, args: &[&str], stdin: &[u8]) -> Output {
        let mut c = Command::new(bin("agentos"))
            .arg(subcommand)
            .arg("--data-dir")
            .arg(self.data())
            .args(args)
            .env_remove("AGENTOS_KERNEL_SOCKET")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin).unwrap();
        c.wait_with_output().unwrap()
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The global and unique-local IPv6 addresses `iface` holds, from the text of a
/// `/proc/net/if_inet6` (`fd616765… 03 40 00 80 eth0`: the address in 32 hex digits,
/// then the index, prefix length, scope and flags); link-local ones left out.
#[allow(
    dead_code,
    reason = "used by the run and ps tests; the other crates sharing this module do not"
)]
pub fn if_inet6(text: &str, iface: &str) -> Vec<std::net::Ipv6Addr> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 6 && f[5] == iface).then_some(f[0])
        })
        .filter_map(|hex| u128::from_str_radix(hex, 16).ok())
        .map(std::net::Ipv6Addr::from)
        .filter(|a| !a.is_unicast_link_local())
        .collect()
}
