//! Test support shared by the unit and integration tests: skips that are never
//! quiet. Not part of the kernel's API.

/// The file `cargo xtask test` names for skips (one `test: why` line each).
const SKIP_LOG: &str = "AGENTOS_TEST_SKIPS";

/// Records that a test cannot run here. Under CI (root, eBPF, cgroups) that is a
/// failure; elsewhere it is printed and appended to the file named by
/// `AGENTOS_TEST_SKIPS`, which `cargo xtask test` counts in its closing line.
pub fn skip(test: &str, why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} cannot run ({why}), and CI must run it: failing instead of skipping"
    );
    eprintln!("SKIPPED {test}: {why}");
    if let Some(path) = std::env::var_os(SKIP_LOG) {
        use std::io::Write;
        let line = format!("{test}: {}\n", why.replace('\n', " "));
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .unwrap_or_else(|e| panic!("recording the skip in {path:?}: {e}"));
    }
}
