//! Embeds the eBPF object built by `cargo xtask build-ebpf`, if there is one.
//!
//! The object needs nightly and bpf-linker, which the stable build must not depend on
//! (STYLE.md, "xtask"). So this script only looks for it: `$AGENTOS_EBPF_OBJ` (absolute, or
//! relative to the workspace root) or `<target dir>/bpfel-unknown-none/release/agentos-ebpf`.
//! If found, it is copied to `$OUT_DIR/agentos-ebpf.o` and `cfg(agentos_ebpf_embedded)` is set,
//! and `observe::ebpf` embeds it with `include_bytes_aligned!`; if not, the kernel builds
//! without it and its probes report "not built" at run time.

use std::{
    env, fs,
    path::{Path, PathBuf},
};

const OBJECT_ENV: &str = "AGENTOS_EBPF_OBJ";
const EMBEDDED_CFG: &str = "agentos_ebpf_embedded";
const EBPF_TARGET: &str = "bpfel-unknown-none";
const EBPF_BINARY: &str = "agentos-ebpf";
/// Cargo writes this file at the root of every target directory.
const CARGO_TARGET_DIR_TAG: &str = "CACHEDIR.TAG";

fn main() {
    println!("cargo::rustc-check-cfg=cfg({EMBEDDED_CFG})");
    println!("cargo::rerun-if-env-changed={OBJECT_ENV}");

    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let workspace_root = manifest_dir
        .parent()
        .expect("kernel/ sits in the workspace root");

    let (object, explicit) = match env::var_os(OBJECT_ENV).filter(|value| !value.is_empty()) {
        Some(path) => (workspace_root.join(path), true),
        None => {
            let ebpf_dir = target_dir(&out_dir, workspace_root).join(EBPF_TARGET);
            (ebpf_dir.join("release").join(EBPF_BINARY), false)
        }
    };

    let embedded = out_dir.join("agentos-ebpf.o");
    if object.is_file() {
        println!("cargo::rerun-if-changed={}", object.display());
        if let Err(err) = fs::copy(&object, &embedded) {
            panic!(
                "failed to copy {} to {}: {err}",
                object.display(),
                embedded.display()
            );
        }
        println!("cargo::rustc-cfg={EMBEDDED_CFG}");
        return;
    }
    if explicit {
        panic!("{OBJECT_ENV}={} does not exist", object.display());
    }
    // Rerun once the object appears. Watching a missing file would rerun this script, and so
    // rebuild the kernel, on every build; watching the eBPF target's directory (which only
    // the nightly eBPF build writes to) does not. Create it so there is something to watch.
    let watch = object
        .parent()
        .and_then(Path::parent)
        .expect("the object path has a target-triple directory");
    if fs::create_dir_all(watch).is_ok() {
        println!("cargo::rerun-if-changed={}", watch.display());
    }
    println!(
        "cargo::warning=eBPF object not found at {}; building the kernel without eBPF probes \
         (run `cargo xtask build-ebpf` to include them)",
        object.display()
    );
}

/// The target directory this build writes to: the nearest ancestor of `OUT_DIR` that holds
/// cargo's `CACHEDIR.TAG` (so `CARGO_TARGET_DIR` and `build.target-dir` are both respected), else
/// `$CARGO_TARGET_DIR`, else `<workspace root>/target`.
fn target_dir(out_dir: &Path, workspace_root: &Path) -> PathBuf {
    if let Some(dir) = out_dir
        .ancestors()
        .find(|dir| dir.join(CARGO_TARGET_DIR_TAG).is_file())
    {
        // With `--target <triple>`, `<target dir>/<triple>/` has a tag of its own.
        let triple = env::var_os("TARGET");
        return match dir.parent() {
            Some(parent) if triple.is_some() && dir.file_name() == triple.as_deref() => {
                parent.to_owned()
            }
            _ => dir.to_owned(),
        };
    }
    println!("cargo::rerun-if-env-changed=CARGO_TARGET_DIR");
    env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(
            || workspace_root.join("target"),
            |dir| workspace_root.join(dir),
        )
}
