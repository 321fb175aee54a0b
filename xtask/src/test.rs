//! `cargo xtask test`: installs what is missing, then runs every suite:
//!
//! 1. formatting and clippy (`-D warnings`), and `cargo check` of the workspace for both
//!    macOS targets ([`crate::macos`]);
//! 2. the UI: typecheck, unit tests (vitest), production build;
//! 3. the eBPF object and its clippy (nightly, BPF target), then every Rust test (unit, integration, the browser
//!    end-to-end test in `tests/`, which drives Debian's Chromium against a real
//!    `agentos up`), with `CI` semantics: a privileged test that cannot run fails;
//! 4. as root, the rootless pass ([`crate::rootless`]): the sandbox, escape,
//!    capability, process and crash suites again as the ordinary user
//!    `agentos-test`, so both isolation modes are proven on every run;
//! 5. a one-minute soak of a real daemon ([`crate::soak`]).
//!
//! The fuzz targets' properties run in step 3: the proptest suites of
//! `agentos_kernel::fuzz` and `agentos_services::fuzz` replay the committed corpus
//! (`fuzz/corpus/`) and a few hundred generated cases each; `cargo xtask fuzz`
//! runs the cargo-fuzz targets for longer.
//!
//! Counts from every runner are added up into one closing line.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

use anyhow::{Context as _, bail};
use clap::Parser;

use crate::{build_ebpf, cargo, exec, npm, show};

#[derive(Parser)]
pub struct Options {
    /// Skip fmt and clippy.
    #[arg(long)]
    no_lint: bool,
    /// Skip the macOS `cargo check`.
    #[arg(long)]
    no_macos: bool,
    /// Passed to `cargo test` after `--` (e.g. a test name filter).
    #[arg(trailing_var_arg = true)]
    args: Vec<String>,
}

#[derive(Default)]
pub(crate) struct Tally {
    passed: u64,
    failed: u64,
}

impl Tally {
    /// Picks counts out of a runner's line: cargo's `test result: ok. 3 passed; 0 failed`,
    /// vitest's `Tests  28 passed (28)` / `Tests  1 failed | 27 passed (28)`, and the
    /// plain `N passed, M failed` of the browser test.
    fn scan(&mut self, line: &str) {
        let plain = strip_ansi(line);
        let l = plain.trim();
        let count = |word: &str| -> u64 {
            let toks: Vec<&str> = l
                .split(|c: char| c.is_whitespace() || c == ';' || c == ',' || c == '|')
                .filter(|t| !t.is_empty())
                .collect();
            toks.windows(2)
                .filter(|w| w[1] == word)
                .filter_map(|w| w[0].parse::<u64>().ok())
                .sum()
        };
        if l.starts_with("test result:") || l.starts_with("Tests ") {
            self.passed += count("passed");
            self.failed += count("failed");
        }
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs `cmd`, echoing its output and tallying test counts; fails if it fails.
pub(crate) fn run_counted(cmd: &mut Command, tally: &mut Tally) -> anyhow::Result<()> {
    println!("+ {}", show(cmd));
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", show(cmd)))?;
    let out = child.stdout.take().expect("piped");
    for line in BufReader::new(out).lines() {
        let line = line?;
        println!("{line}");
        tally.scan(&line);
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{} failed: {status}", show(cmd));
    }
    Ok(())
}

pub fn run(opts: Options) -> anyhow::Result<()> {
    crate::setup::run()?;
    crate::sweep::run();
    let mut tally = Tally::default();
    if !opts.no_lint {
        exec(cargo().args(["fmt", "--all", "--", "--check"]))?;
        exec(cargo().args([
            "clippy",
            "--locked",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    if !opts.no_macos {
        crate::macos::check()?;
    }
    exec(npm().args(["run", "typecheck"]))?;
    run_counted(npm().args(["test"]), &mut tally)?;
    exec(npm().args(["run", "build"]))?;
    build_ebpf::build()?;
    if !opts.no_lint {
        build_ebpf::lint()?;
    }
    exec(cargo().args(["build", "--locked", "--bins"]))?;
    // The ordinary user of the rootless pass; the root pass's delegation test
    // hands it a cgroup.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        crate::rootless::ensure_user()?;
    }
    // Tests that cannot run here append `test: why` to this file (under CI they
    // fail instead: `.ci/run` sets CI); the closing line counts and lists them.
    let skips = SkipLog::create()?;
    let result = run_counted(
        cargo()
            .args(["test", "--locked", "--all-targets", "--"])
            .args(&opts.args)
            .env(SKIP_LOG, &skips.0)
            .env(crate::grpcio::PYTHON_ENV, crate::grpcio::python()?),
        &mut tally,
    );
    crate::sweep::run();
    // The rootless pass and the one-minute soak run whole suites: not when a
    // filter picked some tests.
    let result = match (result, opts.args.is_empty()) {
        (Ok(()), true) => crate::rootless::run(&mut tally),
        (r, _) => r,
    };
    let result = match (result, opts.args.is_empty()) {
        (Ok(()), true) => crate::soak::soak(1.0),
        (r, _) => r,
    };
    crate::sweep::run();
    let skipped = skips.read()?;
    for s in &skipped {
        println!("skipped: {s}");
    }
    println!(
        "all suites: {} passed, {} failed, {} skipped",
        tally.passed,
        tally.failed,
        skipped.len()
    );
    result
}

/// The variable naming the file tests append their skips to (kernel/tests/it/util.rs
/// `skip`, tests/src/lib.rs `may_skip`). A file rather than output: libtest shows a
/// passing test's output only with `--nocapture`, so a printed skip would be lost.
pub(crate) const SKIP_LOG: &str = "AGENTOS_TEST_SKIPS";

/// The skip file of one run; removed on drop.
struct SkipLog(std::path::PathBuf);

impl SkipLog {
    fn create() -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("agentos-test-skips-{}", std::process::id()));
        std::fs::write(&path, "").with_context(|| format!("creating {}", path.display()))?;
        Ok(Self(path))
    }

    /// One entry per line, `test: why`.
    fn read(&self) -> anyhow::Result<Vec<String>> {
        let text = std::fs::read_to_string(&self.0)
            .with_context(|| format!("reading {}", self.0.display()))?;
        Ok(parse_skips(&text))
    }
}

impl Drop for SkipLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn parse_skips(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_every_runner() {
        let mut t = Tally::default();
        t.scan("test result: ok. 21 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.41s");
        t.scan("test result: FAILED. 3 passed; 2 failed; 0 ignored");
        t.scan("      Tests  1 failed | 27 passed (28)");
        t.scan("\u{1b}[2m      Tests \u{1b}[22m 28 passed (28)");
        t.scan("running 5 tests");
        assert_eq!((t.passed, t.failed), (79, 3));
    }

    #[test]
    fn skips_are_one_per_line() {
        assert_eq!(
            parse_skips("a: needs root\n\nb: no eBPF\n"),
            vec!["a: needs root".to_string(), "b: no eBPF".into()]
        );
        assert!(parse_skips("").is_empty());
    }
}
