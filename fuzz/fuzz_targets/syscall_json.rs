#![no_main]
//! `agentos_services::fuzz::syscall_json`, under libFuzzer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| agentos_services::fuzz::syscall_json(data));
