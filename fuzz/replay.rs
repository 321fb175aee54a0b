// The corpus replay of the proptest suites of `agentos_kernel::fuzz` and
// `agentos_services::fuzz`, `include!`d by both (the two crates share no library).

/// Runs `f` on every input of the committed corpus of `target`
/// (`fuzz/corpus/<target>/`); an empty corpus is a failure.
fn replay(target: &str, f: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        f(&std::fs::read(e.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n > 0, "no corpus in {}", dir.display());
}
