//! Helpers for the end-to-end tests: finding the built binaries and running
//! `agentos up` under a guard that stops it (and so its kernel) even on panic.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the root")
        .to_owned()
}

/// A binary built by `cargo build --bins` (`target/debug/<name>`), next to the test's
/// own `deps/` directory.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/debug/deps/<test>");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --bins` (cargo xtask test does)",
        path.display()
    );
    path
}

/// Whether a missing prerequisite may skip the test (never under CI).
pub fn may_skip(what: &str) -> bool {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} (CI must not skip)"
    );
    eprintln!("SKIPPED: {what}");
    // Counted by `cargo xtask test` (see kernel/tests/it/util.rs `skip`).
    if let Some(path) = std::env::var_os("AGENTOS_TEST_SKIPS") {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(format!("e2e: {}\n", what.replace('\n', " ")).as_bytes()))
            .unwrap_or_else(|e| panic!("recording the skip in {path:?}: {e}"));
    }
    true
}

/// A running `agentos up`; SIGTERMed (then SIGKILLed) on drop.
pub struct Up {
    child: Child,
    /// The base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The one-time login URL `agentos up` printed (`{url}/?token=...`); opening it
    /// sets the session cookie that `/api` calls need.
    pub login_url: String,
    pub dir: tempfile::TempDir,
}

impl Up {
    /// Starts `agentos up --port 0` on a fresh data directory and reads its URL.
    pub fn start(ui_dir: &std::path::Path) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("agentos-test-e2e-")
            .tempdir()
            .expect("tempdir");
        let (child, login_url) = Self::spawn(ui_dir, dir.path());
        Self {
            child,
            url: base_url(&login_url),
            login_url,
            dir,
        }
    }

    /// Stops this `agentos up` (and so its kernel), then starts both again on the
    /// same data directory, as after a reboot: a new port and login URL.
    pub fn restart(&mut self, ui_dir: &std::path::Path) {
        self.stop();
        let (child, login_url) = Self::spawn(ui_dir, self.dir.path());
        self.child = child;
        self.url = base_url(&login_url);
        self.login_url = login_url;
    }

    /// `agentos up --port 0` on `dir/data`; the child and its login URL.
    fn spawn(ui_dir: &std::path::Path, dir: &std::path::Path) -> (Child, String) {
        let mut child = Command::new(binary("agentos"))
            .arg("up")
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--port", "0", "--ui-dir"])
            .arg(ui_dir)
            // The workspace's prebuilt apps: the calculator, the sandboxed shell...
            .arg("--apps-dir")
            .arg(workspace_root().join("apps"))
            .env("AGENTOS_KERNEL_BIN", binary("agentos-kernel"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn agentos up");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("read the URL line");
        let login_url = line
            .trim()
            .strip_prefix("AgentOS is up: ")
            .unwrap_or_else(|| panic!("unexpected first line from agentos up: {line:?}"))
            .to_owned();
        (child, login_url)
    }

    /// SIGTERM, then SIGKILL after 15 s.
    fn stop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        for _ in 0..750 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `http://127.0.0.1:PORT` of a login URL.
fn base_url(login_url: &str) -> String {
    login_url
        .split('?')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned()
}

impl Drop for Up {
    fn drop(&mut self) {
        self.stop();
    }
}
