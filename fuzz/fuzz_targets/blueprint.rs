#![no_main]
//! `agentos_services::fuzz::blueprint`, under libFuzzer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| agentos_services::fuzz::blueprint(data));
