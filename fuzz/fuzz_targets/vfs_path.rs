#![no_main]
//! `agentos_kernel::fuzz::vfs_path`, under libFuzzer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| agentos_kernel::fuzz::vfs_path(data));
