#![no_main]
//! `agentos_kernel::fuzz::capability`, under libFuzzer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| agentos_kernel::fuzz::capability(data));
