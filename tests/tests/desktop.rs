//! The desktop in a real browser: `agentos up` (kernel + services + built UI), then
//! `ui/e2e/desktop.e2e.mjs` drives Debian's Chromium through playwright-core and
//! checks the menu bar, the dock and the io_uring status that `/health` reports,
//! then signs in through the login URL and uses the desktop as a person would: the
//! launcher, the calculator, snapping, Alt+Tab, the Terminal on a real sandboxed
//! shell, minimise and restore from the dock, the task manager killing the shell's
//! process, the file manager making and renaming a folder, the keyboard alone (Tab
//! through a Blueprint that frames a page of another origin, F6 and Alt+Tab from
//! inside it), and signing out from the system menu by keyboard. A screenshot of
//! each step is kept in `<target>/tmp/desktop-e2e/`. Then both daemons restart on
//! the same data, and a second run restores the saved workspace and finds the
//! windows where they were.

use std::{path::Path, process::Command};

use agentos_e2e::{Up, may_skip, workspace_root};

#[test]
fn the_desktop_shows_the_kernels_io_uring_status() {
    let root = workspace_root();
    let dist = root.join("ui/dist");
    if !dist.join("index.html").exists()
        && may_skip("ui/dist is not built: run `cargo xtask build`")
    {
        return;
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() && may_skip("no Chromium: run `cargo xtask setup`") {
        return;
    }
    if !root.join("ui/node_modules/playwright-core").exists()
        && may_skip("no ui/node_modules: run `cargo xtask setup`")
    {
        return;
    }
    let mut up = Up::start(&dist);
    let shot = up.dir.path().join("desktop.png");
    // One screenshot per step, kept after the run under the target directory.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("desktop-e2e");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).expect("create the screenshot directory");
    let state = up.dir.path().join("e2e-state.json");
    let run = |up: &Up, phase: &str| {
        let out = Command::new("node")
            .arg(root.join("ui/e2e/desktop.e2e.mjs"))
            .env("AGENTOS_URL", &up.url)
            .env("AGENTOS_LOGIN_URL", &up.login_url)
            .env("E2E_SCREENSHOT", &shot)
            .env("E2E_SHOTS_DIR", &shots)
            .env("E2E_STATE", &state)
            .env("E2E_PHASE", phase)
            .env("CHROMIUM", &chromium)
            .output()
            .expect("run node");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(
            out.status.success(),
            "the browser test ({phase:?}) failed: {}",
            out.status
        );
        assert!(
            stdout
                .lines()
                .any(|l| l.trim().ends_with("passed, 0 failed")),
            "{stdout}"
        );
    };
    run(&up, "");
    assert!(
        std::fs::metadata(&shot)
            .map(|m| m.len() > 10_000)
            .unwrap_or(false),
        "no screenshot was taken"
    );
    // Both daemons stop and start again on the same data; the saved workspace comes back.
    up.restart(&dist);
    run(&up, "restore");
}
