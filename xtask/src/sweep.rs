//! Removes what earlier test runs left on the host: cgroups named `agentos-test-*`
//! (in the v2 tree and under every v1 controller), network namespaces named
//! `agentos-test-*` and the network tests' veths `agentost*`. Only those prefixes
//! are touched; the kernel sweeps its own `agentos-k-*` cgroups, and its bridges,
//! veths and nftables tables, at start.

use std::{fs, path::Path};

const TEST_PREFIX: &str = "agentos-test-";
/// The network tests' veths (interface names are at most 15 bytes).
const TEST_VETH_PREFIX: &str = "agentost";
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

pub fn run() -> usize {
    network() + cgroups()
}

/// The network tests' namespaces and veths (`ip` may be absent: nothing to do).
fn network() -> usize {
    let mut removed = 0;
    let ip = |args: &[&str]| {
        std::process::Command::new("ip")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    for ns in ip(&["netns", "list"]).unwrap_or_default().lines() {
        let name = ns.split_whitespace().next().unwrap_or_default();
        if name.starts_with(TEST_PREFIX) && ip(&["netns", "del", name]).is_some() {
            println!("sweep: removed leftover network namespace {name}");
            removed += 1;
        }
    }
    for line in ip(&["-o", "link", "show"]).unwrap_or_default().lines() {
        // `7: agentost01abcde@if2: <...>`
        let name = line.split(": ").nth(1).unwrap_or_default();
        let name = name.split('@').next().unwrap_or_default();
        if name.starts_with(TEST_VETH_PREFIX) && ip(&["link", "del", name]).is_some() {
            println!("sweep: removed leftover veth {name}");
            removed += 1;
        }
    }
    removed
}

fn cgroups() -> usize {
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
