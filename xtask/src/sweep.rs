//! Removes what earlier test runs left on the host: cgroups named `agentos-test-*`
//! (in the v2 tree and under every v1 controller). Only that prefix is touched; the
//! kernel sweeps its own `agentos-k-*` cgroups at start.

use std::{fs, path::Path};

const TEST_PREFIX: &str = "agentos-test-";
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

pub fn run() -> usize {
    let mut removed = 0;
    let Ok(roots) = fs::read_dir(CGROUP_ROOT) else {
        return 0;
    };
    let mut hierarchies = vec![Path::new(CGROUP_ROOT).to_owned()];
    hierarchies.extend(
        roots
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path()),
    );
    for h in hierarchies {
        for e in fs::read_dir(&h).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(TEST_PREFIX) && remove_cgroup(&e.path())
            {
                println!("sweep: removed leftover cgroup {}", e.path().display());
                removed += 1;
            }
        }
    }
    removed
}

/// Kills the processes of a cgroup tree and removes it, deepest first.
fn remove_cgroup(dir: &Path) -> bool {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup(&e.path());
        }
    }
    if fs::write(dir.join("cgroup.kill"), "1").is_err() {
        for pid in fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
        {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    for _ in 0..100 {
        if fs::remove_dir(dir).is_ok() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}
