//! Compiles the `.proto` files with protox (pure Rust, so no `protoc` install) and
//! generates prost messages plus tonic clients and servers.
//!
//! The kernel's files also become the encoded descriptor set that gRPC reflection
//! serves; the benchmark-only echo service is generated but not reflected.

use std::{env, path::PathBuf};

const KERNEL: &[&str] = &[
    "proto/agentos/kernel/v1/kernel.proto",
    "proto/agentos/kernel/v1/syscall.proto",
];
const BENCH: &[&str] = &["proto/agentos/bench/v1/echo.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for f in KERNEL.iter().chain(BENCH) {
        println!("cargo:rerun-if-changed={f}");
    }
    let kernel = protox::compile(KERNEL, ["proto"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(
        out.join("agentos_descriptor.bin"),
        prost::Message::encode_to_vec(&kernel),
    )?;
    tonic_prost_build::configure()
        // The process spec is large; boxing it keeps every other syscall small.
        .boxed(".agentos.kernel.v1.Syscall.call.spawn")
        // A request that does not decode is the caller's fault (INVALID_ARGUMENT).
        .codec_path("crate::codec::Codec")
        .compile_fds(kernel)?;
    tonic_prost_build::configure().compile_fds(protox::compile(BENCH, ["proto"])?)?;
    Ok(())
}
